// Progressive-dimension k-means: PCA of the sample (sym_eigen on the d x d
// covariance), then warm-started k-means on growing prefixes of the axes.
#include "progressive_kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <vector>

#include "dispatch.hpp"
#include "sym_eigen.hpp"
#include "vecpress/kmeans.hpp"
#include "vecpress/parallel.hpp"

namespace vecpress {
namespace detail {

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
  sym_eigen(A, d, V, w);
  std::vector<int64_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return w[a] > w[b]; });
  std::vector<float> P(d * d);  // rows = principal axes
  for (int64_t r = 0; r < d; ++r)
    for (int64_t j = 0; j < d; ++j) P[r * d + j] = float(V[order[r] * d + j]);
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
    KMeansParams kp;
    kp.niter = niter;
    kp.seed = seed;
    kp.max_points_per_centroid = 0;  // the caller sampled
    kp.nthreads = nthreads;
    // Later steps start from the previous centroids, padded with zeros.
    kp.warm_start = dprev > 0;
    for (int64_t j = 0; j < k && dprev > 0; ++j)
      std::memcpy(&cn[j * di], &c[j * dprev], sizeof(float) * dprev);
    kmeans_train(sub.data(), n, di, k, kp, cn.data());
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
