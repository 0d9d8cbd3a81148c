// Lloyd iterations; the assignment step is an exact L2 top-1 search of the
// rows against the centroids: the blocked GEMM kernel for large d, the
// small-d nearest-centroid kernel (shared with PQ encoding) for small d.
#include "vecpress/kmeans.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "dispatch.hpp"
#include "vecpress/parallel.hpp"

namespace vecpress {

// Up to this many dimensions the assignment step uses the small-d kernel.
constexpr int64_t kSmallDim = 32;

namespace {

constexpr int64_t kAssignRows = 256;  // rows scored per GEMM call (their scores stay in L2)

// Lowest index of the minimum of v[0:n] (n > 0). Lane-wise minima first, so
// the compiler vectorises the pass, then the first position holding it.
inline int64_t argmin(const float* v, int64_t n) {
  constexpr int L = 8;
  float lane[L];
  for (int l = 0; l < L; ++l) lane[l] = v[0];
  int64_t j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) lane[l] = v[j + l] < lane[l] ? v[j + l] : lane[l];
  float m = lane[0];
  for (int l = 1; l < L; ++l) m = lane[l] < m ? lane[l] : m;
  for (; j < n; ++j) m = v[j] < m ? v[j] : m;
  int64_t i = 0;
  while (v[i] != m) ++i;
  return i;
}

// Large d: ||x - c||^2 = ||x||^2 + (||c||^2 - 2<x, c>); a GEMM block gives the
// inner products of kAssignRows rows with every centroid, then one argmin per
// row. No heap: top-1 over a few hundred centroids is a vector min.
void assign_gemm(const float* x, int64_t n, int64_t d, const float* centroids, int64_t k,
                 idx_t* assign, float* dist, int nthreads) {
  const detail::DotFns& f = detail::dot_fns();
  std::vector<float> cn(k), packed(f.packed_size(k, d));
  for (int64_t c = 0; c < k; ++c) cn[c] = f.dot(centroids + c * d, centroids + c * d, d);
  f.pack(centroids, d, k, d, packed.data());  // once per call, not per row block
  parallel_for((n + kAssignRows - 1) / kAssignRows, nthreads, [&](int64_t b) {
    int64_t i0 = b * kAssignRows, nr = std::min(kAssignRows, n - i0);
    thread_local std::vector<float> ip;  // reused: a fresh 256 KB block per task costs page faults
    ip.resize(nr * k);
    f.ip_packed(x + i0 * d, d, nr, packed.data(), k, d, ip.data(), k);
    for (int64_t r = 0; r < nr; ++r) {
      float* row = ip.data() + r * k;
      for (int64_t c = 0; c < k; ++c) row[c] = cn[c] - 2.0f * row[c];
      int64_t best = argmin(row, k);
      assign[i0 + r] = best;
      if (dist) {
        const float* xi = x + (i0 + r) * d;
        dist[i0 + r] = std::max(0.0f, f.dot(xi, xi, d) + row[best]);
      }
    }
  });
}

}  // namespace

void kmeans_assign(const float* x, int64_t n, int64_t d, const float* centroids, int64_t k,
                   idx_t* assign, float* dist, int nthreads) {
  VP_CHECK(d > 0 && k > 0, "k-means assignment needs d > 0 and k > 0");
  if (d <= kSmallDim) {
    // Small d (PQ sub-spaces): a GEMM has too little depth to pay off; score
    // the transposed centroids directly, 8-32 per register pass.
    std::vector<float> cT(d * k);
    for (int64_t c = 0; c < k; ++c)
      for (int64_t j = 0; j < d; ++j) cT[j * k + c] = centroids[c * d + j];
    const auto& fns = detail::pq_fns();
    constexpr int64_t kRows = 2048;
    parallel_for((n + kRows - 1) / kRows, nthreads, [&](int64_t b) {
      int64_t i0 = b * kRows, nb = std::min(kRows, n - i0);
      fns.nearest(x + i0 * d, nb, d, cT.data(), d, k, assign + i0, dist ? dist + i0 : nullptr);
    });
    return;
  }
  assign_gemm(x, n, d, centroids, k, assign, dist, nthreads);
}

namespace {

void seed_random(const float* x, int64_t n, int64_t d, int64_t k, std::mt19937_64& rng,
                 float* c) {
  // k distinct rows: a partial Fisher-Yates shuffle of the row numbers.
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<int64_t> u(i, n - 1);
    std::swap(perm[i], perm[u(rng)]);
    std::memcpy(c + i * d, x + perm[i] * d, sizeof(float) * d);
  }
}

void seed_kmeanspp(const float* x, int64_t n, int64_t d, int64_t k, std::mt19937_64& rng,
                   float* c, int nthreads) {
  std::uniform_int_distribution<int64_t> u(0, n - 1);
  std::memcpy(c, x + u(rng) * d, sizeof(float) * d);
  std::vector<float> best(n), dist(n);
  std::vector<idx_t> a(n);
  kmeans_assign(x, n, d, c, 1, a.data(), best.data(), nthreads);
  for (int64_t i = 1; i < k; ++i) {
    double total = 0;
    for (int64_t j = 0; j < n; ++j) total += best[j];
    std::uniform_real_distribution<double> ur(0.0, total);
    double r = ur(rng), acc = 0;
    int64_t pick = n - 1;
    for (int64_t j = 0; j < n; ++j) {
      acc += best[j];
      if (acc >= r) { pick = j; break; }
    }
    std::memcpy(c + i * d, x + pick * d, sizeof(float) * d);
    kmeans_assign(x, n, d, c + i * d, 1, a.data(), dist.data(), nthreads);
    for (int64_t j = 0; j < n; ++j) best[j] = std::min(best[j], dist[j]);
  }
}

}  // namespace

namespace {

// Centroid step: each centroid becomes the mean of its rows. Rows are summed in
// fixed chunks (partial sums per chunk, added in chunk order), so the threads
// stream x once and the result does not depend on the thread count. Empty
// clusters take a copy of the largest cluster's centroid, the two nudged apart
// symmetrically and its count split, so both get points next time (faiss's rule).
void kmeans_update(const float* x, int64_t n, int64_t d, int64_t k, const idx_t* assign,
                   int nthreads, float* centroids) {
  std::vector<int64_t> counts(k, 0);
  for (int64_t i = 0; i < n; ++i) counts[assign[i]]++;
  constexpr int64_t kChunk = 16384;
  int64_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> sums(nchunks * k * d, 0.0);
  parallel_for(nchunks, nthreads, [&](int64_t b) {
    double* part = sums.data() + b * k * d;
    for (int64_t i = b * kChunk; i < std::min(n, (b + 1) * kChunk); ++i) {
      double* s = part + assign[i] * d;
      const float* xi = x + i * d;
      for (int64_t j = 0; j < d; ++j) s[j] += xi[j];
    }
  });
  for (int64_t b = 1; b < nchunks; ++b)
    for (int64_t e = 0; e < k * d; ++e) sums[e] += sums[b * k * d + e];
  for (int64_t c = 0; c < k; ++c)
    if (counts[c] > 0)
      for (int64_t j = 0; j < d; ++j) centroids[c * d + j] = float(sums[c * d + j] / double(counts[c]));
  for (int64_t c = 0; c < k; ++c) {
    if (counts[c] != 0) continue;
    int64_t big = int64_t(std::max_element(counts.begin(), counts.end()) - counts.begin());
    constexpr float eps = 1.0f / 1024.0f;
    for (int64_t j = 0; j < d; ++j) {
      float v = centroids[big * d + j];
      float s = (j % 2 == 0) ? 1.0f : -1.0f;
      centroids[c * d + j] = v * (1 + s * eps);
      centroids[big * d + j] = v * (1 - s * eps);
    }
    counts[c] = counts[big] / 2;
    counts[big] -= counts[c];
  }
}
}  // namespace

float kmeans_train(const float* x_in, int64_t n_in, int64_t d, int64_t k,
                   const KMeansParams& p, float* centroids) {
  VP_CHECK(d > 0 && k > 0, "k-means needs d > 0 and k > 0");
  VP_CHECK(n_in >= k, "k-means needs at least as many training vectors as centroids (n >= k)");
  std::mt19937_64 rng(p.seed);
  // Seeded subsample when the training set is much larger than needed.
  std::vector<float> sub;
  const float* x = x_in;
  int64_t n = n_in;
  if (p.max_points_per_centroid > 0 && n_in > k * p.max_points_per_centroid) {
    n = k * p.max_points_per_centroid;
    std::vector<int64_t> perm(n_in);
    std::iota(perm.begin(), perm.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
      std::uniform_int_distribution<int64_t> u(i, n_in - 1);
      std::swap(perm[i], perm[u(rng)]);
    }
    std::sort(perm.begin(), perm.begin() + n);  // sequential reads
    sub.resize(n * d);
    for (int64_t i = 0; i < n; ++i) std::memcpy(&sub[i * d], x_in + perm[i] * d, sizeof(float) * d);
    x = sub.data();
  }
  if (p.warm_start) {
    // the caller's centroids are the starting point
  } else if (p.kmeanspp) {
    seed_kmeanspp(x, n, d, k, rng, centroids, p.nthreads);
  } else {
    seed_random(x, n, d, k, rng, centroids);
  }

  std::vector<idx_t> assign(n);
  std::vector<float> dist(n);
  float mse = 0;
  for (int it = 0; it < std::max(1, p.niter); ++it) {
    kmeans_assign(x, n, d, centroids, k, assign.data(), dist.data(), p.nthreads);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += dist[i];
    mse = float(total / double(n));
    kmeans_update(x, n, d, k, assign.data(), p.nthreads, centroids);
  }
  return mse;
}

}  // namespace vecpress
