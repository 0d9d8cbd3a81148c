// Progressive-dimension k-means. The PCA is a cyclic Jacobi eigensolver on the
// d x d covariance (no LAPACK dependency; a few sweeps at d = 384 take well
// under a second, small next to the clustering itself).
#include "progressive_kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <vector>

#include "dispatch.hpp"
#include "vecpress/kmeans.hpp"
#include "vecpress/parallel.hpp"

namespace vecpress {
namespace detail {
namespace {

// Eigenvectors of symmetric A (n x n, destroyed) as columns of V, eigenvalues in w.
void jacobi_eigen(std::vector<double>& A, int64_t n, std::vector<double>& V,
                  std::vector<double>& w) {
  V.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) V[i * n + i] = 1.0;
  double total = 0;
  for (double v : A) total += v * v;
  for (int sweep = 0; sweep < 12; ++sweep) {
    double off = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off += A[p * n + q] * A[p * n + q];
    if (off <= 1e-20 * total) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        double apq = A[p * n + q];
        if (std::fabs(apq) < 1e-300) continue;
        double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t r = 0; r < n; ++r) {  // columns p, q
          double akp = A[r * n + p], akq = A[r * n + q];
          A[r * n + p] = c * akp - s * akq;
          A[r * n + q] = s * akp + c * akq;
        }
        double* rp = &A[p * n];
        double* rq = &A[q * n];
        for (int64_t r = 0; r < n; ++r) {  // rows p, q
          double apk = rp[r], aqk = rq[r];
          rp[r] = c * apk - s * aqk;
          rq[r] = s * apk + c * aqk;
        }
        for (int64_t r = 0; r < n; ++r) {
          double vkp = V[r * n + p], vkq = V[r * n + q];
          V[r * n + p] = c * vkp - s * vkq;
          V[r * n + q] = s * vkp + c * vkq;
        }
      }
  }
  w.resize(n);
  for (int64_t i = 0; i < n; ++i) w[i] = A[i * n + i];
}

// Lloyd iterations from the given centroids (k, d); empty clusters take half of
// the largest cluster (its centroid nudged apart), as kmeans_train does.
void lloyd(const float* x, int64_t n, int64_t d, int64_t k, int niter, int nthreads, float* c) {
  std::vector<idx_t> assign(n);
  std::vector<float> dist(n);
  std::vector<double> sums(k * d);
  std::vector<int64_t> counts(k);
  for (int it = 0; it < niter; ++it) {
    kmeans_assign(x, n, d, c, k, assign.data(), dist.data(), nthreads);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
      counts[assign[i]]++;
      double* s = &sums[assign[i] * d];
      const float* xi = x + i * d;
      for (int64_t j = 0; j < d; ++j) s[j] += xi[j];
    }
    for (int64_t j = 0; j < k; ++j)
      if (counts[j])
        for (int64_t t = 0; t < d; ++t) c[j * d + t] = float(sums[j * d + t] / double(counts[j]));
    for (int64_t j = 0; j < k; ++j) {
      if (counts[j]) continue;
      int64_t big = int64_t(std::max_element(counts.begin(), counts.end()) - counts.begin());
      constexpr float eps = 1.0f / 1024.0f;
      for (int64_t t = 0; t < d; ++t) {
        float v = c[big * d + t], sg = (t % 2 == 0) ? 1.0f : -1.0f;
        c[j * d + t] = v * (1 + sg * eps);
        c[big * d + t] = v * (1 - sg * eps);
      }
      counts[j] = counts[big] / 2;
      counts[big] -= counts[j];
    }
  }
}

}  // namespace

void kmeans_progressive_dim(const float* x, int64_t n, int64_t d, int64_t k, int niter,
                            int steps, uint64_t seed, int nthreads, float* centroids) {
  const DotFns& f = dot_fns();
  // 1. centre, covariance, principal axes (descending variance).
  std::vector<double> mu(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mu[j] += x[i * d + j];
  for (auto& v : mu) v /= double(n);
  // Covariance in chunks of rows: each chunk, transposed (d, rows), is one GEMM.
  constexpr int64_t kChunk = 1024;
  std::vector<double> covsum(d * d, 0.0);
  std::mutex mu_lock;
  parallel_for((n + kChunk - 1) / kChunk, nthreads, [&](int64_t b) {
    int64_t i0 = b * kChunk, nr = std::min(kChunk, n - i0);
    std::vector<float> t(d * nr), part(d * d);
    for (int64_t i = 0; i < nr; ++i)
      for (int64_t j = 0; j < d; ++j) t[j * nr + i] = float(x[(i0 + i) * d + j] - mu[j]);
    f.ip_block(t.data(), nr, d, t.data(), nr, d, nr, part.data(), d);
    std::lock_guard<std::mutex> lock(mu_lock);
    for (int64_t e = 0; e < d * d; ++e) covsum[e] += part[e];
  });
  std::vector<double> A(d * d), V, w;
  for (int64_t i = 0; i < d * d; ++i) A[i] = covsum[i] / double(n);
  jacobi_eigen(A, d, V, w);
  std::vector<int64_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return w[a] > w[b]; });
  std::vector<float> P(d * d);  // rows = principal axes
  for (int64_t r = 0; r < d; ++r)
    for (int64_t j = 0; j < d; ++j) P[r * d + j] = float(V[j * d + order[r]]);
  // 2. rotated sample y (n, d) = (x - mu) P^T.
  std::vector<float> xc(n * d), y(n * d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) xc[i * d + j] = float(x[i * d + j] - mu[j]);
  constexpr int64_t kRows = 256;
  parallel_for((n + kRows - 1) / kRows, nthreads, [&](int64_t b) {
    int64_t i0 = b * kRows, nr = std::min(kRows, n - i0);
    f.ip_block(xc.data() + i0 * d, d, nr, P.data(), d, d, d, y.data() + i0 * d, d);
  });
  xc = std::vector<float>();
  // 3. cluster on growing prefixes of the axes.
  std::vector<float> c, sub;
  int64_t dprev = 0;
  for (int s = 0; s < steps; ++s) {
    int64_t di = std::min<int64_t>(d, std::max<int64_t>(1, int64_t(std::pow(double(d), (1.0 + s) / steps))));
    if (di <= dprev && s < steps - 1) continue;
    sub.resize(n * di);
    for (int64_t i = 0; i < n; ++i) std::memcpy(&sub[i * di], &y[i * d], sizeof(float) * di);
    std::vector<float> cn(k * di, 0.0f);
    if (dprev == 0) {
      KMeansParams kp;
      kp.niter = niter;
      kp.seed = seed;
      kp.max_points_per_centroid = 0;
      kp.nthreads = nthreads;
      kmeans_train(sub.data(), n, di, k, kp, cn.data());
    } else {
      for (int64_t j = 0; j < k; ++j) std::memcpy(&cn[j * di], &c[j * dprev], sizeof(float) * dprev);
      lloyd(sub.data(), n, di, k, niter, nthreads, cn.data());
    }
    c.swap(cn);
    dprev = di;
  }
  // 4. back to the input space: centroid = c P + mu.
  for (int64_t j = 0; j < k; ++j)
    for (int64_t t = 0; t < d; ++t) {
      double v = mu[t];
      for (int64_t r = 0; r < dprev; ++r) v += double(c[j * dprev + r]) * P[r * d + t];
      centroids[j * d + t] = float(v);
    }
}

}  // namespace detail
}  // namespace vecpress
