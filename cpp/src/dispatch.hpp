// PRIVATE: per-family function tables, one per SIMD level. A public entry
// point resolves its table once per call (never per vector) and runs its whole
// blocked loop with those pointers.
#pragma once
#include <cstdint>

#include "vecpress/simd.hpp"

namespace vecpress {
namespace detail {

struct DotFns {
  // out[i * ldo + j] = <q_i[0:d], x_j[0:d]>, i < nq, j < nx (row-major inputs).
  void (*ip_block)(const float* q, int64_t ldq, int64_t nq, const float* x, int64_t ldx,
                   int64_t nx, int64_t d, float* out, int64_t ldo);
  float (*dot)(const float* a, const float* b, int64_t d);
  float (*l2sq)(const float* a, const float* b, int64_t d);
};

struct HammingFns {
  // out[i * ldo + j] = popcount(q_i XOR x_j) over nwords 64-bit words.
  void (*hamming_block)(const uint64_t* q, int64_t nq, const uint64_t* x, int64_t nx,
                        int64_t nwords, int32_t* out, int64_t ldo);
};

extern const DotFns dot_scalar;
extern const HammingFns hamming_scalar;
#ifdef VECPRESS_HAVE_AVX2
extern const DotFns dot_avx2;
extern const HammingFns hamming_avx2;
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

}  // namespace detail
}  // namespace vecpress
