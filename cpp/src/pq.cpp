// Product quantizer: training (k-means per sub-space), encoding (nearest
// centroid per sub-space, on the small-d kernel), decoding and the ADC tables.
#include "vecpress/pq.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "dispatch.hpp"
#include "vecpress/parallel.hpp"

namespace vecpress {
namespace {

constexpr int64_t kRowBlock = 1024;

void check_shape(int64_t d, int64_t M, int64_t ksub) {
  VP_CHECK(M > 0 && d > 0, "PQ needs d > 0 and M > 0");
  VP_CHECK(d % M == 0, "PQ needs d divisible by M (d = " + std::to_string(d) +
                           ", M = " + std::to_string(M) + ")");
  VP_CHECK(ksub == 16 || ksub == 256, "PQ supports ksub = 16 (4-bit) or 256 (8-bit)");
}

// centroids (M, ksub, dsub) -> cT (M, dsub, ksub): the small-d kernel reads a
// dimension of all centroids contiguously.
std::vector<float> transpose_centroids(const float* centroids, int64_t M, int64_t ksub,
                                       int64_t dsub) {
  std::vector<float> cT(M * ksub * dsub);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < ksub; ++c)
      for (int64_t j = 0; j < dsub; ++j)
        cT[(m * dsub + j) * ksub + c] = centroids[(m * ksub + c) * dsub + j];
  return cT;
}

}  // namespace

void pq_train(const float* x, int64_t n, int64_t d, int64_t M, int nbits,
              const KMeansParams& params, float* centroids) {
  VP_CHECK(nbits == 4 || nbits == 8, "PQ supports nbits = 4 or 8");
  const int64_t ksub = int64_t(1) << nbits;
  check_shape(d, M, ksub);
  VP_CHECK(n >= ksub, "PQ training needs at least 2^nbits = " + std::to_string(ksub) +
                          " vectors, got " + std::to_string(n));
  const int64_t dsub = d / M;
  int nthreads = params.nthreads > 0 ? params.nthreads : default_threads();
  // Sub-spaces are independent: one k-means per thread scales better than
  // splitting each small-d assignment step across threads.
  int outer = int(std::min<int64_t>(nthreads, M));
  int inner = std::max(1, nthreads / outer);
  parallel_for(M, outer, [&](int64_t m) {
    std::vector<float> sub(n * dsub);
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(&sub[i * dsub], x + i * d + m * dsub, sizeof(float) * dsub);
    KMeansParams p = params;
    p.nthreads = inner;
    kmeans_train(sub.data(), n, dsub, ksub, p, centroids + m * ksub * dsub);
  });
}

void pq_encode(const float* x, int64_t n, int64_t d, int64_t M, int64_t ksub,
               const float* centroids, uint8_t* codes, int nthreads) {
  check_shape(d, M, ksub);
  const int64_t dsub = d / M;
  const auto& fns = detail::pq_fns();
  std::vector<float> cT = transpose_centroids(centroids, M, ksub, dsub);
  parallel_for((n + kRowBlock - 1) / kRowBlock, nthreads, [&](int64_t b) {
    int64_t i0 = b * kRowBlock, nb = std::min(kRowBlock, n - i0);
    std::vector<idx_t> a(nb);
    for (int64_t m = 0; m < M; ++m) {
      fns.nearest(x + i0 * d + m * dsub, nb, d, cT.data() + m * dsub * ksub, dsub, ksub,
                  a.data(), nullptr);
      for (int64_t i = 0; i < nb; ++i) codes[(i0 + i) * M + m] = uint8_t(a[i]);
    }
  });
}

void pq_decode(const uint8_t* codes, int64_t n, int64_t d, int64_t M, int64_t ksub,
               const float* centroids, float* x, int nthreads) {
  check_shape(d, M, ksub);
  const int64_t dsub = d / M;
  parallel_for((n + kRowBlock - 1) / kRowBlock, nthreads, [&](int64_t b) {
    int64_t i1 = std::min(n, (b + 1) * kRowBlock);
    for (int64_t i = b * kRowBlock; i < i1; ++i)
      for (int64_t m = 0; m < M; ++m) {
        int64_t c = codes[i * M + m];
        VP_CHECK(c < ksub, "code " + std::to_string(c) + " out of range for ksub = " +
                               std::to_string(ksub));
        std::memcpy(x + i * d + m * dsub, centroids + (m * ksub + c) * dsub,
                    sizeof(float) * dsub);
      }
  });
}

namespace {

// Loops run over centroids innermost (transposed centroids), which the
// compiler vectorizes at baseline flags; tables are not a hot path next to
// the scans they feed.
template <bool kL2>
void adc_tables(const float* q, int64_t nq, int64_t d, int64_t M, int64_t ksub,
                const float* centroids, float* tables, int nthreads) {
  check_shape(d, M, ksub);
  const int64_t dsub = d / M;
  std::vector<float> cT = transpose_centroids(centroids, M, ksub, dsub);
  parallel_for((nq + 63) / 64, nthreads, [&](int64_t b) {
    int64_t i1 = std::min(nq, (b + 1) * 64);
    for (int64_t i = b * 64; i < i1; ++i)
      for (int64_t m = 0; m < M; ++m) {
        float* out = tables + (i * M + m) * ksub;
        const float* qm = q + i * d + m * dsub;
        const float* c = cT.data() + m * dsub * ksub;
        for (int64_t t = 0; t < ksub; ++t) out[t] = 0.0f;
        for (int64_t j = 0; j < dsub; ++j) {
          const float qj = qm[j];
          const float* row = c + j * ksub;
          if (kL2) {
            for (int64_t t = 0; t < ksub; ++t) {
              float diff = qj - row[t];
              out[t] += diff * diff;
            }
          } else {
            for (int64_t t = 0; t < ksub; ++t) out[t] += qj * row[t];
          }
        }
      }
  });
}

}  // namespace

void adc_table_ip(const float* q, int64_t nq, int64_t d, int64_t M, int64_t ksub,
                  const float* centroids, float* tables, int nthreads) {
  adc_tables<false>(q, nq, d, M, ksub, centroids, tables, nthreads);
}

void adc_table_l2(const float* q, int64_t nq, int64_t d, int64_t M, int64_t ksub,
                  const float* centroids, float* tables, int nthreads) {
  adc_tables<true>(q, nq, d, M, ksub, centroids, tables, nthreads);
}

}  // namespace vecpress
