// Symmetric eigensolver (Golub & Van Loan, sections 8.3.1-8.3.2). Every update
// walks rows of row-major arrays: the eigenvectors are kept as rows of V, so a
// rotation of two eigenvector columns is a rotation of two contiguous rows.
#include "sym_eigen.hpp"

#include <algorithm>
#include <cmath>

namespace vecpress {
namespace detail {
namespace {

// Householder tridiagonalisation A = Q T Q^T. Fills a (diagonal), b (off-
// diagonal, b[i] = T[i][i+1]) and Qt = Q^T (n, n).
void tridiagonalize(std::vector<double>& A, int64_t n, std::vector<double>& a,
                    std::vector<double>& b, std::vector<double>& Qt) {
  Qt.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) Qt[i * n + i] = 1.0;
  std::vector<double> v(n), p(n), w(n);
  for (int64_t k = 0; k + 2 < n; ++k) {
    int64_t m = n - k - 1;  // size of the trailing block A[k+1:, k+1:]
    double norm2 = 0;
    for (int64_t i = 0; i < m; ++i) norm2 += A[(k + 1 + i) * n + k] * A[(k + 1 + i) * n + k];
    double x0 = A[(k + 1) * n + k];
    double alpha = x0 >= 0 ? -std::sqrt(norm2) : std::sqrt(norm2);
    double vnorm2 = norm2 - x0 * x0 + (x0 - alpha) * (x0 - alpha);
    if (vnorm2 <= 1e-300) continue;  // column already reduced
    double inv = 1.0 / std::sqrt(vnorm2);
    for (int64_t i = 0; i < m; ++i) v[i] = A[(k + 1 + i) * n + k] * inv;
    v[0] = (x0 - alpha) * inv;
    // H = I - 2 v v^T on the trailing block: A22 -= 2 (v w^T + w v^T),
    // p = A22 v, w = p - (v^T p) v.
    for (int64_t i = 0; i < m; ++i) {
      const double* row = &A[(k + 1 + i) * n + k + 1];
      double s = 0;
      for (int64_t j = 0; j < m; ++j) s += row[j] * v[j];
      p[i] = s;
    }
    double K = 0;
    for (int64_t i = 0; i < m; ++i) K += v[i] * p[i];
    for (int64_t i = 0; i < m; ++i) w[i] = p[i] - K * v[i];
    for (int64_t i = 0; i < m; ++i) {
      double* row = &A[(k + 1 + i) * n + k + 1];
      double vi = 2 * v[i], wi = 2 * w[i];
      for (int64_t j = 0; j < m; ++j) row[j] -= vi * w[j] + wi * v[j];
    }
    for (int64_t i = 1; i < m; ++i) A[(k + 1 + i) * n + k] = A[k * n + k + 1 + i] = 0.0;
    A[(k + 1) * n + k] = A[k * n + k + 1] = alpha;
    // Qt <- H Qt (rows k+1..n-1): Qt = H_{n-3} ... H_0 = Q^T.
    std::fill(p.begin(), p.end(), 0.0);
    for (int64_t i = 0; i < m; ++i) {
      const double* row = &Qt[(k + 1 + i) * n];
      for (int64_t j = 0; j < n; ++j) p[j] += v[i] * row[j];
    }
    for (int64_t i = 0; i < m; ++i) {
      double* row = &Qt[(k + 1 + i) * n];
      double vi = 2 * v[i];
      for (int64_t j = 0; j < n; ++j) row[j] -= vi * p[j];
    }
  }
  a.resize(n);
  b.assign(n > 1 ? n - 1 : 0, 0.0);
  for (int64_t i = 0; i < n; ++i) a[i] = A[i * n + i];
  for (int64_t i = 0; i + 1 < n; ++i) b[i] = A[i * n + i + 1];
}

// One implicit QR step with Wilkinson shift on the unreduced block [l, h];
// rotations are applied to rows of Zt.
void qr_step(std::vector<double>& a, std::vector<double>& b, int64_t l, int64_t h,
             std::vector<double>& Zt, int64_t n) {
  double d = 0.5 * (a[h - 1] - a[h]), bb = b[h - 1] * b[h - 1];
  double mu = a[h] - bb / (d + std::copysign(std::sqrt(d * d + bb), d));
  double x = a[l] - mu, z = b[l];
  for (int64_t k = l; k < h; ++k) {
    double r = std::hypot(x, z);
    double c = r > 0 ? x / r : 1.0, s = r > 0 ? -z / r : 0.0;
    if (k > l) b[k - 1] = r;  // the bulge T[k-1][k+1] is zeroed into T[k-1][k]
    double a1 = a[k], a2 = a[k + 1], bk = b[k];
    a[k] = c * c * a1 - 2 * c * s * bk + s * s * a2;
    a[k + 1] = s * s * a1 + 2 * c * s * bk + c * c * a2;
    b[k] = c * s * (a1 - a2) + (c * c - s * s) * bk;
    if (k + 1 < h) {
      z = -s * b[k + 1];  // new bulge T[k][k+2]
      b[k + 1] *= c;
      x = b[k];
    }
    double* r0 = &Zt[k * n];
    double* r1 = &Zt[(k + 1) * n];
    for (int64_t j = 0; j < n; ++j) {
      double u = r0[j], t = r1[j];
      r0[j] = c * u - s * t;
      r1[j] = s * u + c * t;
    }
  }
}

}  // namespace

void sym_eigen(std::vector<double>& A, int64_t n, std::vector<double>& V, std::vector<double>& w) {
  std::vector<double> b;
  tridiagonalize(A, n, w, b, V);
  const double eps = 2.220446049250313e-16;
  auto negligible = [&](int64_t i) { return std::fabs(b[i]) <= eps * (std::fabs(w[i]) + std::fabs(w[i + 1])); };
  int64_t h = n - 1, budget = 64 * n + 64;
  while (h > 0 && budget-- > 0) {
    if (negligible(h - 1)) {
      b[h - 1] = 0.0;
      --h;
      continue;
    }
    int64_t l = h - 1;
    while (l > 0 && !negligible(l - 1)) --l;
    if (l > 0) b[l - 1] = 0.0;
    qr_step(w, b, l, h, V, n);
  }
}

}  // namespace detail
}  // namespace vecpress
