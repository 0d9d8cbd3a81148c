// Small dense linear algebra the Python layer needs without a BLAS/LAPACK
// dependency (and without BLAS's thread pool: PCA fits ran 2-75x slower under
// load when OpenBLAS oversubscribed the cores).
#pragma once
#include <cstdint>

namespace vecpress {

// Eigen-decomposition of a symmetric matrix a (n, n) row-major float64 (read
// only the lower triangle is not assumed: a must be symmetric). Writes the
// eigenvalues in descending order to w (n,) and the matching unit eigenvectors
// as the COLUMNS of v (n, n) row-major (numpy's eigh layout, sorted). O(n^3),
// single-threaded, deterministic: about 0.1 s at n = 384.
void sym_eigen_sorted(const double* a, int64_t n, double* w, double* v);

}  // namespace vecpress
