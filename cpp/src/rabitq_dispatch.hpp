// PRIVATE: the RaBitQ scan family (one table per SIMD level).
#pragma once
#include <cstdint>

#include "dispatch.hpp"

namespace vecpress {
namespace detail {

struct RabitqFns {
  // out[i * ldo + j] = sum_p 2^p popcount(x_j AND q_{i,p}) over nwords 64-bit words:
  // q (nq, qb, nwords) bit planes, x (nx rows, stride xstride words, first nwords read).
  // Integer: every level returns exactly the same values.
  void (*ip_block)(const uint64_t* q, int64_t nq, int qb, const uint64_t* x, int64_t nx,
                   int64_t xstride, int64_t nwords, int32_t* out, int64_t ldo);
  // Fast-scan first stage, one 32-vector block for nq queries: from the block's uint16 sums
  // sc (nq, 32) and factors fadd[32], fmul[32], with c (nq, 4) = [c0, c1, c2, thr] per query,
  //   est[i * 32 + v] = fma(fmul[v], fma(c2, float(sc[i * 32 + v]), c1), fadd[v] + c0)
  // (explicit fused multiply-adds: every level returns the same floats), and mask[i] bit v
  // set when est is not strictly worse than thr (largest: est >= thr, else est <= thr).
  void (*fs_correct)(const uint16_t* sc, int64_t nq, const float* fadd, const float* fmul,
                     const float* c, bool largest, float* est, uint32_t* mask);
  // <u, q> of one extended-code row: u_t = (sign bit t << ex_bits) | sum_p (plane_p bit t << p)
  // (sign (D / 8) bytes, planes (ex_bits, D / 8) bytes, rabitq.hpp's layout), q (D) float32.
  // 32 lane sums a_j, lane j over dims t = j mod 32 in order with fused multiply-adds, then
  // l_j = (a_j + a_{8+j}) + (a_{16+j} + a_{24+j}) and ((l0 + l1) + (l2 + l3)) + ((l4 + l5) +
  // (l6 + l7)): every level returns the same float. D is a multiple of 64.
  float (*ex_ip)(const uint8_t* sign, const uint8_t* planes, int ex_bits, const float* q,
                 int64_t D);
};

extern const RabitqFns rabitq_scalar;
#ifdef VECPRESS_HAVE_AVX2
extern const RabitqFns rabitq_avx2;
#endif

inline const RabitqFns& rabitq_fns() {
#ifdef VECPRESS_HAVE_AVX2
  return pick(rabitq_scalar, &rabitq_avx2);
#else
  return pick<RabitqFns>(rabitq_scalar, nullptr);
#endif
}

}  // namespace detail
}  // namespace vecpress
