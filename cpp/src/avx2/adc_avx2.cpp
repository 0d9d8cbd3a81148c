// AVX2 ADC scans.
//
// 8-bit codes: the tables of 8 queries are interleaved (M, 256, 8), so one
// 32-byte load fetches the entry of code c for all 8 queries and a code byte is
// read once per 8 queries. Sub-quantizers are walked two at a time over a
// block of codes: the two 8 KiB tables in use stay in L1 while the block's
// partial sums (8 floats per code) are updated in place.
//
// 4-bit fast-scan: the 32-byte code register for a pair of sub-quantizers is
// split into low/high nibbles (vectors 0-15 / 16-31); a shuffle against the
// LUT register [lut_2p | lut_2p+1] performs 32 lookups. Byte results are
// summed as uint16 with the even/odd trick: acc_a += r (as uint16) holds
// even + 256 * odd, acc_b += r >> 8 holds odd, so even = acc_a - (acc_b << 8)
// modulo 2^16, exact because the quantizer bounds every sum below 2^16.
// Entries are at most 127, so two pairs' lookups are first added in uint8.
#include <immintrin.h>

#include "dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

void scan_u8_q8_avx2(const float* itab, int64_t M, const uint8_t* codes, int64_t nx, float* out) {
  for (int64_t j = 0; j < nx; ++j) _mm256_storeu_ps(out + 8 * j, _mm256_setzero_ps());
  int64_t m = 0;
  for (; m + 2 <= M; m += 2) {
    const float* t0 = itab + m * 2048;
    const float* t1 = t0 + 2048;
    const uint8_t* c = codes + m;
    int64_t j = 0;
    for (; j + 2 <= nx; j += 2) {
      const uint8_t* ca = c + j * M;
      const uint8_t* cb = ca + M;
      __m256 va = _mm256_add_ps(_mm256_loadu_ps(t0 + 8 * ca[0]), _mm256_loadu_ps(t1 + 8 * ca[1]));
      __m256 vb = _mm256_add_ps(_mm256_loadu_ps(t0 + 8 * cb[0]), _mm256_loadu_ps(t1 + 8 * cb[1]));
      _mm256_storeu_ps(out + 8 * j, _mm256_add_ps(_mm256_loadu_ps(out + 8 * j), va));
      _mm256_storeu_ps(out + 8 * j + 8, _mm256_add_ps(_mm256_loadu_ps(out + 8 * j + 8), vb));
    }
    for (; j < nx; ++j) {
      const uint8_t* ca = c + j * M;
      __m256 va = _mm256_add_ps(_mm256_loadu_ps(t0 + 8 * ca[0]), _mm256_loadu_ps(t1 + 8 * ca[1]));
      _mm256_storeu_ps(out + 8 * j, _mm256_add_ps(_mm256_loadu_ps(out + 8 * j), va));
    }
  }
  if (m < M) {
    const float* t0 = itab + m * 2048;
    for (int64_t j = 0; j < nx; ++j) {
      __m256 va = _mm256_loadu_ps(t0 + 8 * codes[j * M + m]);
      _mm256_storeu_ps(out + 8 * j, _mm256_add_ps(_mm256_loadu_ps(out + 8 * j), va));
    }
  }
}

// Combines the four even/odd accumulators of one query into the 32 sums in
// vector order: lo = vectors 0-15, hi = vectors 16-31.
inline void finish_sums(__m256i a0, __m256i a1, __m256i a2, __m256i a3, __m256i& lo, __m256i& hi) {
  auto combine = [](__m256i a, __m256i b) {
    __m256i even = _mm256_sub_epi16(a, _mm256_slli_epi16(b, 8));
    // low lane: sub-quantizers 2p, high lane: 2p+1 -> add the lanes.
    __m128i e = _mm_add_epi16(_mm256_castsi256_si128(even), _mm256_extracti128_si256(even, 1));
    __m128i o = _mm_add_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
    return _mm256_set_m128i(_mm_unpackhi_epi16(e, o), _mm_unpacklo_epi16(e, o));
  };
  lo = combine(a0, a1);
  hi = combine(a2, a3);
}

// Four uint16 accumulators of one query: even/odd bytes of the low-nibble
// (vectors 0-15) and high-nibble (vectors 16-31) lookups.
struct Acc4 {
  __m256i e0, o0, e1, o1;
};

inline void widen(Acc4& a, __m256i r0, __m256i r1) {
  a.e0 = _mm256_add_epi16(a.e0, r0);
  a.o0 = _mm256_add_epi16(a.o0, _mm256_srli_epi16(r0, 8));
  a.e1 = _mm256_add_epi16(a.e1, r1);
  a.o1 = _mm256_add_epi16(a.o1, _mm256_srli_epi16(r1, 8));
}

inline __m256i lut_at(const uint8_t* lut, int64_t p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut + 32 * p));
}

// Scores and candidate mask of one query from its accumulators.
inline void finish_query(const Acc4& a, uint16_t thr, uint16_t* scores, uint32_t* mask) {
  __m256i s0, s1;
  finish_sums(a.e0, a.o0, a.e1, a.o1, s0, s1);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(scores), s0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(scores + 16), s1);
  const __m256i t = _mm256_set1_epi16(short(thr));
  // unsigned s <= t  <=>  min(s, t) == s
  __m256i le0 = _mm256_cmpeq_epi16(_mm256_min_epu16(s0, t), s0);
  __m256i le1 = _mm256_cmpeq_epi16(_mm256_min_epu16(s1, t), s1);
  // packs interleaves lanes: [le0.lo, le1.lo, le0.hi, le1.hi] -> reorder to vector order.
  __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(le0, le1), 0xD8);
  *mask = uint32_t(_mm256_movemask_epi8(packed));
}

// NQ (1 or 2) queries per pass share each code load and nibble split; with
// two, the 8 accumulators plus temporaries fit the 16 YMM registers. Plain
// named variables (no arrays) keep GCC from spilling them.
template <int NQ>
void fastscan_queries(const uint8_t* block, int64_t Mp, const uint8_t* const* luts,
                      const uint16_t* thr, uint16_t* scores, uint32_t* mask) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i z = _mm256_setzero_si256();
  Acc4 a{z, z, z, z}, b{z, z, z, z};
  const uint8_t* la = luts[0];
  const uint8_t* lb = luts[NQ > 1 ? 1 : 0];
  const int64_t npairs = Mp / 2;
  int64_t p = 0;
  // Two pairs per step: LUT entries are <= 127, so their lookups add in uint8
  // before widening (saves a third of the widening work).
  for (; p + 2 <= npairs; p += 2) {
    __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * p));
    __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * p + 32));
    __m256i lo0 = _mm256_and_si256(c0, m4), hi0 = _mm256_and_si256(_mm256_srli_epi16(c0, 4), m4);
    __m256i lo1 = _mm256_and_si256(c1, m4), hi1 = _mm256_and_si256(_mm256_srli_epi16(c1, 4), m4);
    {
      __m256i L0 = lut_at(la, p), L1 = lut_at(la, p + 1);
      widen(a, _mm256_add_epi8(_mm256_shuffle_epi8(L0, lo0), _mm256_shuffle_epi8(L1, lo1)),
            _mm256_add_epi8(_mm256_shuffle_epi8(L0, hi0), _mm256_shuffle_epi8(L1, hi1)));
    }
    if (NQ > 1) {
      __m256i L0 = lut_at(lb, p), L1 = lut_at(lb, p + 1);
      widen(b, _mm256_add_epi8(_mm256_shuffle_epi8(L0, lo0), _mm256_shuffle_epi8(L1, lo1)),
            _mm256_add_epi8(_mm256_shuffle_epi8(L0, hi0), _mm256_shuffle_epi8(L1, hi1)));
    }
  }
  if (p < npairs) {
    __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * p));
    __m256i lo = _mm256_and_si256(c, m4), hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), m4);
    __m256i L = lut_at(la, p);
    widen(a, _mm256_shuffle_epi8(L, lo), _mm256_shuffle_epi8(L, hi));
    if (NQ > 1) {
      L = lut_at(lb, p);
      widen(b, _mm256_shuffle_epi8(L, lo), _mm256_shuffle_epi8(L, hi));
    }
  }
  finish_query(a, thr[0], scores, mask);
  if (NQ > 1) finish_query(b, thr[1], scores + 32, mask + 1);
}

void fastscan_block_avx2(const uint8_t* block, int64_t Mp, const uint8_t* const* luts,
                         int64_t nq, const uint16_t* thr, uint16_t* scores, uint32_t* mask) {
  int64_t i = 0;
  // Two queries per pass share each code load and nibble split (8 accumulators
  // plus temporaries fit the 16 YMM registers).
  for (; i + 2 <= nq; i += 2)
    fastscan_queries<2>(block, Mp, luts + i, thr + i, scores + 32 * i, mask + i);
  if (i < nq) fastscan_queries<1>(block, Mp, luts + i, thr + i, scores + 32 * i, mask + i);
}

}  // namespace

const AdcFns adc_avx2 = {scan_u8_q8_avx2, fastscan_block_avx2};

}  // namespace detail
}  // namespace vecpress
