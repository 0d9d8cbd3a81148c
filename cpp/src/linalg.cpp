// Public entry of the symmetric eigensolver: copy, solve, sort descending.
#include "vecpress/linalg.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

#include "sym_eigen.hpp"
#include "vecpress/types.hpp"

namespace vecpress {

void sym_eigen_sorted(const double* a, int64_t n, double* w, double* v) {
  VP_CHECK(n >= 1, "sym_eigen: the matrix must be at least 1 x 1");
  std::vector<double> A(a, a + n * n), V, ws;
  detail::sym_eigen(A, n, V, ws);  // row i of V is the eigenvector of ws[i]
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t i, int64_t j) { return ws[i] > ws[j]; });
  for (int64_t c = 0; c < n; ++c) {
    w[c] = ws[order[c]];
    const double* src = V.data() + order[c] * n;
    for (int64_t r = 0; r < n; ++r) v[r * n + c] = src[r];
  }
}

}  // namespace vecpress
