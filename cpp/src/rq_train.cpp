// Greedy RQ training, as faiss's ResidualQuantizer::train does it: for each
// stage, k-means on residuals of the training set's current beam entries, then
// extend every training vector's beam by that stage (the beam step of the
// encoder, on tables), so the next stage learns what beam search leaves over.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "dispatch.hpp"
#include "progressive_kmeans.hpp"
#include "rq_dispatch.hpp"
#include "vecpress/kmeans.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/rq.hpp"

namespace vecpress {

namespace {

constexpr int64_t kBlock = 64;

// Residuals of the sampled (vector, beam entry) pairs: x_i - sum_{s<m} C_s[code_s].
void sample_residuals(const float* x, int64_t d, const float* codebooks, int64_t K, int m,
                      const uint8_t* codes, int cur, const std::vector<int64_t>& pairs,
                      float* out, int nthreads) {
  int64_t ns = int64_t(pairs.size());
  parallel_for((ns + 255) / 256, nthreads, [&](int64_t blk) {
    for (int64_t s = blk * 256; s < std::min(ns, (blk + 1) * 256); ++s) {
      int64_t p = pairs[s], i = p / cur;
      const uint8_t* c = codes + p * m;
      float* o = out + s * d;
      std::memcpy(o, x + i * d, sizeof(float) * d);
      for (int st = 0; st < m; ++st) {
        const float* w = codebooks + (st * K + c[st]) * d;
        for (int64_t j = 0; j < d; ++j) o[j] -= w[j];
      }
    }
  });
}

}  // namespace

void rq_train(const float* x, int64_t n, int64_t d, int64_t M, int64_t K,
              const RQTrainParams& p, float* codebooks) {
  VP_CHECK(M > 0 && d > 0, "RQ needs M > 0 stages and d > 0");
  VP_CHECK(K >= 2 && K <= 256 && (K & (K - 1)) == 0, "K must be a power of two in [2, 256]");
  VP_CHECK(p.beam >= 1, "beam width must be at least 1");
  VP_CHECK(n >= K, "RQ training needs at least K = 2^nbits training vectors");
  const detail::DotFns& df = detail::dot_fns();
  const detail::RqFns& rf = detail::rq_fns();
  std::vector<float> cross(std::max<int64_t>(1, rq_cross_size(M, K)));
  std::vector<float> xnorm(n);
  for (int64_t i = 0; i < n; ++i) xnorm[i] = df.dot(x + i * d, x + i * d, d);

  // Beam state of every training vector: codes (n, cur, m), objective (n, cur).
  int cur = 1;
  std::vector<uint8_t> codes, ncodes;
  std::vector<float> obj(n, 0.0f), nobj;
  std::mt19937_64 rng(p.seed);
  const int64_t cap = p.max_points_per_centroid > 0 ? K * p.max_points_per_centroid : INT64_MAX;

  for (int m = 0; m < M; ++m) {
    // 1. k-means on (a seeded sample of) the current residuals.
    int64_t npairs = n * cur, ns = std::min(npairs, cap);
    std::vector<int64_t> pairs(npairs);
    std::iota(pairs.begin(), pairs.end(), 0);
    if (ns < npairs) {
      for (int64_t s = 0; s < ns; ++s) {
        std::uniform_int_distribution<int64_t> u(s, npairs - 1);
        std::swap(pairs[s], pairs[u(rng)]);
      }
      pairs.resize(ns);
      std::sort(pairs.begin(), pairs.end());
    }
    std::vector<float> res(ns * d);
    sample_residuals(x, d, codebooks, K, m, codes.data(), cur, pairs, res.data(), p.nthreads);
    float* cm = codebooks + int64_t(m) * K * d;
    uint64_t seed = p.seed + 7919 * uint64_t(m + 1);
    if (p.progressive_dim_steps > 1) {
      detail::kmeans_progressive_dim(res.data(), ns, d, K, p.niter, p.progressive_dim_steps, seed,
                                     p.nthreads, cm);
    } else {
      KMeansParams kp;
      kp.niter = p.niter;
      kp.seed = seed;
      kp.max_points_per_centroid = 0;  // already sampled
      kp.nthreads = p.nthreads;
      kmeans_train(res.data(), ns, d, K, kp, cm);
    }
    res = std::vector<float>();

    // 2. cross-products of the new stage with the earlier ones.
    parallel_for(m, p.nthreads, [&](int64_t i) {
      float* out = cross.data() + detail::rq_pair(i, m) * K * K;
      df.ip_block(codebooks + i * K * d, d, K, cm, d, K, d, out, K);
      for (int64_t e = 0; e < K * K; ++e) out[e] *= 2.0f;
    });
    std::vector<float> cnorm(K);
    for (int64_t k = 0; k < K; ++k) cnorm[k] = df.dot(cm + k * d, cm + k * d, d);

    // 3. extend every training vector's beam by stage m.
    std::vector<float> packed(df.packed_size(K, d));
    df.pack(cm, d, K, d, packed.data());
    int nb = int(std::min<int64_t>(int64_t(cur) * K, p.beam));
    ncodes.assign(n * nb * (m + 1), 0);
    nobj.assign(n * nb, 0.0f);
    parallel_for((n + kBlock - 1) / kBlock, p.nthreads, [&](int64_t blk) {
      int64_t i0 = blk * kBlock, nbk = std::min(kBlock, n - i0);
      std::vector<float> xc(nbk * K), t(K), buf(K), hv(nb);
      std::vector<idx_t> hi(nb);
      std::vector<const float*> rows(M);
      detail::BeamScratch s{buf.data(), hv.data(), hi.data(), rows.data()};
      df.ip_packed(x + i0 * d, d, nbk, packed.data(), K, d, xc.data(), K);
      for (int64_t r = 0; r < nbk; ++r) {
        int64_t i = i0 + r;
        for (int64_t k = 0; k < K; ++k) t[k] = cnorm[k] - 2.0f * xc[r * K + k];
        detail::rq_extend_beam(rf, cross.data(), K, m, t.data(), cur, codes.data() + i * cur * m,
                               obj.data() + i * cur, nb, ncodes.data() + i * nb * (m + 1),
                               nobj.data() + i * nb, s);
      }
    });
    codes.swap(ncodes);
    obj.swap(nobj);
    cur = nb;
    if (p.progress) {
      double total = 0;
      for (int64_t i = 0; i < n; ++i) total += std::max(0.0f, obj[i * cur] + xnorm[i]);
      p.progress(p.progress_ctx, m, float(total / double(n)));
    }
  }
}

}  // namespace vecpress
