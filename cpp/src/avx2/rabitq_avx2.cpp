// RaBitQ integer scan with the hardware popcnt instruction (this file gets the
// AVX2 flags, which include popcnt). Each base code is loaded once into
// registers and ANDed with every plane of every query of the block, so the scan
// is bound by popcnt throughput, not loads; common code widths are unrolled.
// Also the fast-scan first stage's per-block correction (uint16 sums -> estimates with
// each vector's factors, and the threshold mask), 8 vectors per instruction.
#include <immintrin.h>

#include "rabitq_dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

template <int W>
void block_fixed(const uint64_t* q, int64_t nq, int qb, const uint64_t* x, int64_t nx,
                 int64_t xstride, int32_t* out, int64_t ldo) {
  for (int64_t j = 0; j < nx; ++j) {
    uint64_t xv[W];
    for (int w = 0; w < W; ++w) xv[w] = x[j * xstride + w];
    for (int64_t i = 0; i < nq; ++i) {
      const uint64_t* planes = q + i * qb * W;
      int64_t s = 0;
      for (int p = 0; p < qb; ++p) {
        int64_t c = 0;
        for (int w = 0; w < W; ++w) c += _mm_popcnt_u64(xv[w] & planes[p * W + w]);
        s += c << p;
      }
      out[i * ldo + j] = int32_t(s);
    }
  }
}

void block_any(const uint64_t* q, int64_t nq, int qb, const uint64_t* x, int64_t nx,
               int64_t xstride, int64_t nwords, int32_t* out, int64_t ldo) {
  for (int64_t j = 0; j < nx; ++j)
    for (int64_t i = 0; i < nq; ++i) {
      int64_t s = 0;
      for (int p = 0; p < qb; ++p) {
        const uint64_t* plane = q + (i * qb + p) * nwords;
        int64_t c = 0;
        for (int64_t w = 0; w < nwords; ++w) c += _mm_popcnt_u64(plane[w] & x[j * xstride + w]);
        s += c << p;
      }
      out[i * ldo + j] = int32_t(s);
    }
}

void ip_block_avx2(const uint64_t* q, int64_t nq, int qb, const uint64_t* x, int64_t nx,
                   int64_t xstride, int64_t nwords, int32_t* out, int64_t ldo) {
  switch (nwords) {
    case 1: return block_fixed<1>(q, nq, qb, x, nx, xstride, out, ldo);
    case 2: return block_fixed<2>(q, nq, qb, x, nx, xstride, out, ldo);
    case 4: return block_fixed<4>(q, nq, qb, x, nx, xstride, out, ldo);
    case 6: return block_fixed<6>(q, nq, qb, x, nx, xstride, out, ldo);
    case 8: return block_fixed<8>(q, nq, qb, x, nx, xstride, out, ldo);
    case 12: return block_fixed<12>(q, nq, qb, x, nx, xstride, out, ldo);
    case 16: return block_fixed<16>(q, nq, qb, x, nx, xstride, out, ldo);
    default: return block_any(q, nq, qb, x, nx, xstride, nwords, out, ldo);
  }
}

// Fast-scan first stage: 8 vectors per step, uint16 -> float (exact), two FMAs, a compare.
void fs_correct_avx2(const uint16_t* sc, int64_t nq, const float* fadd, const float* fmul,
                     const float* c, bool largest, float* est, uint32_t* mask) {
  for (int64_t i = 0; i < nq; ++i) {
    const float* ci = c + 4 * i;
    const __m256 c0 = _mm256_set1_ps(ci[0]), c1 = _mm256_set1_ps(ci[1]);
    const __m256 c2 = _mm256_set1_ps(ci[2]), thr = _mm256_set1_ps(ci[3]);
    uint32_t bits = 0;
    for (int v = 0; v < 32; v += 8) {
      __m128i s16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + i * 32 + v));
      __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(s16));
      __m256 t = _mm256_fmadd_ps(c2, q, c1);
      __m256 base = _mm256_add_ps(_mm256_loadu_ps(fadd + v), c0);
      __m256 e = _mm256_fmadd_ps(_mm256_loadu_ps(fmul + v), t, base);
      _mm256_storeu_ps(est + i * 32 + v, e);
      __m256 ok = largest ? _mm256_cmp_ps(e, thr, _CMP_GE_OQ) : _mm256_cmp_ps(e, thr, _CMP_LE_OQ);
      bits |= uint32_t(_mm256_movemask_ps(ok)) << v;
    }
    mask[i] = bits;
  }
}

}  // namespace

const RabitqFns rabitq_avx2 = {ip_block_avx2, fs_correct_avx2};

}  // namespace detail
}  // namespace vecpress
