// PRIVATE: per-family function tables, one per SIMD level. A public entry
// point resolves its table once per call (never per vector) and runs its whole
// blocked loop with those pointers.
#pragma once
#include <cstdint>
#include <vector>

#include "vecpress/simd.hpp"
#include "vecpress/types.hpp"

namespace vecpress {
namespace detail {

struct DotFns {
  // out[i * ldo + j] = <q_i[0:d], x_j[0:d]>, i < nq, j < nx (row-major inputs).
  void (*ip_block)(const float* q, int64_t ldq, int64_t nq, const float* x, int64_t ldx,
                   int64_t nx, int64_t d, float* out, int64_t ldo);
  float (*dot)(const float* a, const float* b, int64_t d);
  float (*l2sq)(const float* a, const float* b, int64_t d);
  // ip_block in two halves, so rows scored many times are laid out once:
  // pack(x, ldx, nx, d, dst) writes packed_size(nx, d) floats, and
  // ip_packed(q, ldq, nq, packed, nx, d, out, ldo) then gives ip_block's out.
  int64_t (*packed_size)(int64_t nx, int64_t d);
  void (*pack)(const float* x, int64_t ldx, int64_t nx, int64_t d, float* dst);
  void (*ip_packed)(const float* q, int64_t ldq, int64_t nq, const float* packed, int64_t nx,
                    int64_t d, float* out, int64_t ldo);
};

struct HammingFns {
  // out[i * ldo + j] = popcount(q_i XOR x_j) over nwords 64-bit words.
  void (*hamming_block)(const uint64_t* q, int64_t nq, const uint64_t* x, int64_t nx,
                        int64_t nwords, int32_t* out, int64_t ldo);
};

// Small-dimension nearest centroid (PQ encode, k-means assignment for small d).
struct PqFns {
  // For rows i < n of x (stride ldx, first dsub floats read): the nearest of ksub centroids
  // given transposed as cT (dsub, ksub). assign[i] (lowest index on ties), dist[i] (may be null).
  // Distances are sum_j (x_j - c_j)^2 accumulated in dimension order, no FMA, so every level
  // computes bit-identical values.
  void (*nearest)(const float* x, int64_t n, int64_t ldx, const float* cT, int64_t dsub,
                  int64_t ksub, idx_t* assign, float* dist);
};

struct AdcFns {
  // 8 queries at once over 8-bit codes. itab (M, 256, 8): itab[m][c][q] = table of query q.
  // out (nx, 8): out[j][q] = ((0 + (t0 + t1)) + (t2 + t3)) + ... over m in pairs (last alone
  // when M is odd), t_m = itab[m][codes[j * M + m]][q]; the same order at every level.
  void (*scan_u8_q8)(const float* itab, int64_t M, const uint8_t* codes, int64_t nx, float* out);
  // One fast-scan block (32 vectors, fastscan.hpp layout, Mp even) against nq quantized LUTs
  // luts[i] (Mp, 16) each: scores (nq, 32) uint16 sums; mask[i] bit v set when
  // scores[i][v] <= thr[i]. Pointers, so the inverted-file scans read each query's LUT in
  // place instead of copying the LUTs of the queries that probe a list side by side.
  void (*fastscan_block)(const uint8_t* block, int64_t Mp, const uint8_t* const* luts,
                         int64_t nq, const uint16_t* thr, uint16_t* scores, uint32_t* mask);
};

// Pointers to nq LUTs stored one after another (nq, Mp, 16), for fastscan_block.
inline std::vector<const uint8_t*> lut_pointers(const uint8_t* luts, int64_t nq, int64_t Mp) {
  std::vector<const uint8_t*> p(size_t(nq > 0 ? nq : 0));
  for (int64_t i = 0; i < nq; ++i) p[size_t(i)] = luts + i * Mp * 16;
  return p;
}

extern const DotFns dot_scalar;
extern const HammingFns hamming_scalar;
extern const PqFns pq_scalar;
extern const AdcFns adc_scalar;
#ifdef VECPRESS_HAVE_AVX2
extern const DotFns dot_avx2;
extern const HammingFns hamming_avx2;
extern const PqFns pq_avx2;
extern const AdcFns adc_avx2;
#endif

// Fallback chain AVX512 -> AVX2 -> Scalar: a family may leave out a level.
template <class Fns>
const Fns& pick(const Fns& scalar, const Fns* avx2) {
  SimdLevel l = current_level();
  if ((l == SimdLevel::AVX2 || l == SimdLevel::AVX512) && avx2) return *avx2;
  return scalar;
}

inline const DotFns& dot_fns() {
#ifdef VECPRESS_HAVE_AVX2
  return pick(dot_scalar, &dot_avx2);
#else
  return pick<DotFns>(dot_scalar, nullptr);
#endif
}

inline const HammingFns& hamming_fns() {
#ifdef VECPRESS_HAVE_AVX2
  return pick(hamming_scalar, &hamming_avx2);
#else
  return pick<HammingFns>(hamming_scalar, nullptr);
#endif
}

inline const PqFns& pq_fns() {
#ifdef VECPRESS_HAVE_AVX2
  return pick(pq_scalar, &pq_avx2);
#else
  return pick<PqFns>(pq_scalar, nullptr);
#endif
}

inline const AdcFns& adc_fns() {
#ifdef VECPRESS_HAVE_AVX2
  return pick(adc_scalar, &adc_avx2);
#else
  return pick<AdcFns>(adc_scalar, nullptr);
#endif
}

}  // namespace detail
}  // namespace vecpress
