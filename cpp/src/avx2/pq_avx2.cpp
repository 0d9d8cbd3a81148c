// AVX2 nearest centroid for small sub-spaces (PQ encode, k-means assignment
// at small d). Centroids come transposed (dsub, ksub), so each dimension is a
// broadcast of x_j against 8 centroids per register; 32 centroids are scored
// per pass with the row's dsub values kept hot. No FMA: the build turns off
// floating-point contraction for this file so every distance is bit-identical
// to the scalar reference (codes then match exactly across levels).
#include <immintrin.h>

#include <limits>

#include "dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

inline __m256 sq_diff(__m256 x, const float* c) {
  __m256 t = _mm256_sub_ps(x, _mm256_loadu_ps(c));
  return _mm256_mul_ps(t, t);
}

void nearest_avx2(const float* x, int64_t n, int64_t ldx, const float* cT, int64_t dsub,
                  int64_t ksub, idx_t* assign, float* dist) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * ldx;
    __m256 bestv = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    __m256i besti = _mm256_setzero_si256();
    int64_t c0 = 0;
    for (; c0 + 32 <= ksub; c0 += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t j = 0; j < dsub; ++j) {
        const __m256 xj = _mm256_set1_ps(xi[j]);
        const float* row = cT + j * ksub + c0;
        a0 = _mm256_add_ps(a0, sq_diff(xj, row));
        a1 = _mm256_add_ps(a1, sq_diff(xj, row + 8));
        a2 = _mm256_add_ps(a2, sq_diff(xj, row + 16));
        a3 = _mm256_add_ps(a3, sq_diff(xj, row + 24));
      }
      __m256i idx = _mm256_add_epi32(lane, _mm256_set1_epi32(int(c0)));
      // Blocks are visited in index order and only a strictly smaller value
      // replaces a lane's best, so each lane keeps its first minimum.
      for (__m256 a : {a0, a1, a2, a3}) {
        __m256 lt = _mm256_cmp_ps(a, bestv, _CMP_LT_OQ);
        bestv = _mm256_blendv_ps(bestv, a, lt);
        besti = _mm256_blendv_epi8(besti, idx, _mm256_castps_si256(lt));
        idx = _mm256_add_epi32(idx, eight);
      }
    }
    for (; c0 + 8 <= ksub; c0 += 8) {
      __m256 a0 = _mm256_setzero_ps();
      for (int64_t j = 0; j < dsub; ++j)
        a0 = _mm256_add_ps(a0, sq_diff(_mm256_set1_ps(xi[j]), cT + j * ksub + c0));
      __m256i idx = _mm256_add_epi32(lane, _mm256_set1_epi32(int(c0)));
      __m256 lt = _mm256_cmp_ps(a0, bestv, _CMP_LT_OQ);
      bestv = _mm256_blendv_ps(bestv, a0, lt);
      besti = _mm256_blendv_epi8(besti, idx, _mm256_castps_si256(lt));
    }
    alignas(32) float bv[8];
    alignas(32) int32_t bi[8];
    _mm256_store_ps(bv, bestv);
    _mm256_store_si256(reinterpret_cast<__m256i*>(bi), besti);
    float best = std::numeric_limits<float>::infinity();
    int64_t b = 0;
    for (int l = 0; l < 8; ++l)
      if (bv[l] < best || (bv[l] == best && bi[l] < b)) {
        best = bv[l];
        b = bi[l];
      }
    for (; c0 < ksub; ++c0) {  // tail: same per-centroid order as the reference
      float a = 0.0f;
      for (int64_t j = 0; j < dsub; ++j) {
        float t = xi[j] - cT[j * ksub + c0];
        a += t * t;
      }
      if (a < best) {
        best = a;
        b = c0;
      }
    }
    assign[i] = b;
    if (dist) dist[i] = best;
  }
}

}  // namespace

const PqFns pq_avx2 = {nearest_avx2};

}  // namespace detail
}  // namespace vecpress
