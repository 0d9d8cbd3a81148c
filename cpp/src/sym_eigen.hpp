// PRIVATE: eigen-decomposition of a small dense symmetric matrix (the d x d
// covariance behind PCA), without a LAPACK dependency.
#pragma once
#include <cstdint>
#include <vector>

namespace vecpress {
namespace detail {

// A (n, n) row-major symmetric, destroyed. On return w (n,) holds the
// eigenvalues and row i of V (n, n) the unit eigenvector of w[i] (unsorted).
// Householder reduction to tridiagonal form, then implicit symmetric QR steps
// with Wilkinson shifts: O(n^3), about 0.1 s at n = 384.
void sym_eigen(std::vector<double>& A, int64_t n, std::vector<double>& V, std::vector<double>& w);

}  // namespace detail
}  // namespace vecpress
