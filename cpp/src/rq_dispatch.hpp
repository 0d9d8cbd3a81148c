// PRIVATE: the RQ kernel family (one table per SIMD level) and the beam step
// shared by encoding and training.
#pragma once
#include <cstdint>

#include "dispatch.hpp"
#include "vecpress/types.hpp"

namespace vecpress {
namespace detail {

struct RqFns {
  // out[k] = ((base + a[k]) + rows[0][k]) + ... + rows[nrows - 1][k], k < K,
  // summed in exactly this order by every level (so all levels agree bit for
  // bit and beam search makes the same choices whatever the level).
  void (*sum_rows)(float base, const float* a, const float* const* rows, int nrows, int64_t K,
                   float* out);
};

extern const RqFns rq_scalar;
#ifdef VECPRESS_HAVE_AVX2
extern const RqFns rq_avx2;
#endif

inline const RqFns& rq_fns() {
#ifdef VECPRESS_HAVE_AVX2
  return pick(rq_scalar, &rq_avx2);
#else
  return pick<RqFns>(rq_scalar, nullptr);
#endif
}

inline int64_t rq_pair(int64_t i, int64_t j) { return j * (j - 1) / 2 + i; }  // i < j

// Scratch of one beam step; sized for beam width `beam`, K, M.
struct BeamScratch {
  float* buf;          // (K)
  float* heap_vals;    // (beam)
  idx_t* heap_ids;     // (beam)
  const float** rows;  // (M)
};

// Extends one vector's beam by stage m.
//   t        (K)         ||C_m[k]||^2 - 2 <x, C_m[k]>
//   codes    (cur, m)    the beam's codes for stages < m; obj (cur) their
//                        objective ||x - r||^2 - ||x||^2
//   ncodes   (nb, m + 1) out, best first; nobj (nb) out
// Candidates are kept by objective, ties by lower (entry, code) index.
void rq_extend_beam(const RqFns& f, const float* cross, int64_t K, int m, const float* t,
                    int cur, const uint8_t* codes, const float* obj, int nb, uint8_t* ncodes,
                    float* nobj, const BeamScratch& s);

}  // namespace detail
}  // namespace vecpress
