// RaBitQ integer scan with the hardware popcnt instruction (this file gets the
// AVX2 flags, which include popcnt). Each base code is loaded once into
// registers and ANDed with every plane of every query of the block, so the scan
// is bound by popcnt throughput, not loads; common code widths are unrolled.
// Also the fast-scan first stage's per-block correction (uint16 sums -> estimates with
// each vector's factors, and the threshold mask), 8 vectors per instruction.
#include <immintrin.h>

#include <cstring>

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

// <u, q> of an extended-code row, 32 dimensions per step: each plane's 4 bytes are spread
// to one byte per dimension (shuffle), the bit isolated (AND with 1 << (t mod 8), compare),
// weighted 2^p and OR-ed into u8 codes; the sign plane joins them (ex < 8) or is added as
// int32 (ex = 8, 2^8 does not fit a byte); 8 dimensions at a time are widened to int32,
// converted to float (exact) and fused-multiply-added into four accumulators (the scalar
// reference's 32 lanes, in its order, so the same float).
template <int EX>
float ex_ip_fixed(const uint8_t* sign, const uint8_t* planes, const float* q, int64_t D) {
  const int64_t nb = D / 8;
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 1, 2, 4, 8, 16, 32,
                                       64, (char)128, 1, 2, 4, 8, 16, 32, 64, (char)128, 1, 2,
                                       4, 8, 16, 32, 64, (char)128);
  auto bits_of = [&](const uint8_t* p) {  // 0xFF where the bit of the dimension is set
    int32_t w;
    std::memcpy(&w, p, 4);
    __m256i x = _mm256_shuffle_epi8(_mm256_set1_epi32(w), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(x, bit), bit);
  };
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (int64_t c = 0; c < nb; c += 4) {
    const __m256i s = bits_of(sign + c);
    __m256i u = EX < 8 ? _mm256_and_si256(s, _mm256_set1_epi8(char(1 << (EX & 7))))
                       : _mm256_setzero_si256();
    for (int p = 0; p < EX; ++p)
      u = _mm256_or_si256(u, _mm256_and_si256(bits_of(planes + p * nb + c),
                                              _mm256_set1_epi8(char(1 << p))));
    const __m128i half[2] = {_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1)};
    const __m128i shalf[2] = {_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)};
    for (int g = 0; g < 4; ++g) {
      const __m128i h = g & 1 ? _mm_srli_si128(half[g / 2], 8) : half[g / 2];
      __m256i v = _mm256_cvtepu8_epi32(h);
      if (EX == 8) {
        const __m128i sh = g & 1 ? _mm_srli_si128(shalf[g / 2], 8) : shalf[g / 2];
        v = _mm256_or_si256(v, _mm256_and_si256(_mm256_cvtepi8_epi32(sh),
                                                _mm256_set1_epi32(256)));
      }
      acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_loadu_ps(q + 8 * c + 8 * g), acc[g]);
    }
  }
  const __m256 l8 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  alignas(32) float l[8];
  _mm256_store_ps(l, l8);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

float ex_ip_avx2(const uint8_t* sign, const uint8_t* planes, int ex_bits, const float* q,
                 int64_t D) {
  switch (ex_bits) {
    case 1: return ex_ip_fixed<1>(sign, planes, q, D);
    case 2: return ex_ip_fixed<2>(sign, planes, q, D);
    case 3: return ex_ip_fixed<3>(sign, planes, q, D);
    case 4: return ex_ip_fixed<4>(sign, planes, q, D);
    case 5: return ex_ip_fixed<5>(sign, planes, q, D);
    case 6: return ex_ip_fixed<6>(sign, planes, q, D);
    case 7: return ex_ip_fixed<7>(sign, planes, q, D);
    default: return ex_ip_fixed<8>(sign, planes, q, D);
  }
}

}  // namespace

const RabitqFns rabitq_avx2 = {ip_block_avx2, fs_correct_avx2, ex_ip_avx2};

}  // namespace detail
}  // namespace vecpress
