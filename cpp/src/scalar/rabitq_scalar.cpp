// Portable RaBitQ integer scan (no popcnt instruction assumed): the reference
// the AVX2 variant is tested against.
#include <cmath>

#include "rabitq_dispatch.hpp"
#include "popcount.hpp"

namespace vecpress {
namespace detail {
namespace {

void ip_block_ref(const uint64_t* q, int64_t nq, int qb, const uint64_t* x, int64_t nx,
                  int64_t xstride, int64_t nwords, int32_t* out, int64_t ldo) {
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      int32_t s = 0;
      for (int p = 0; p < qb; ++p) {
        const uint64_t* plane = q + (i * qb + p) * nwords;
        int c = 0;
        for (int64_t w = 0; w < nwords; ++w) c += popcount64_portable(plane[w] & x[j * xstride + w]);
        s += c << p;
      }
      out[i * ldo + j] = s;
    }
}

void fs_correct_ref(const uint16_t* sc, int64_t nq, const float* fadd, const float* fmul,
                    const float* c, bool largest, float* est, uint32_t* mask) {
  for (int64_t i = 0; i < nq; ++i) {
    const float* ci = c + 4 * i;
    uint32_t bits = 0;
    for (int v = 0; v < 32; ++v) {
      float t = std::fma(ci[2], float(sc[i * 32 + v]), ci[1]);
      float e = std::fma(fmul[v], t, fadd[v] + ci[0]);
      est[i * 32 + v] = e;
      if (largest ? e >= ci[3] : e <= ci[3]) bits |= uint32_t(1) << v;
    }
    mask[i] = bits;
  }
}

float ex_ip_ref(const uint8_t* sign, const uint8_t* planes, int ex_bits, const float* q,
                int64_t D) {
  const int64_t nb = D / 8;
  float acc[32] = {};
  for (int64_t t = 0; t < D; ++t) {
    const int64_t c = t / 8, j = t % 8;
    int32_t u = ((sign[c] >> j) & 1) << ex_bits;
    for (int p = 0; p < ex_bits; ++p) u |= ((planes[p * nb + c] >> j) & 1) << p;
    acc[t % 32] = std::fma(float(u), q[t], acc[t % 32]);
  }
  float l[8];
  for (int j = 0; j < 8; ++j) l[j] = (acc[j] + acc[8 + j]) + (acc[16 + j] + acc[24 + j]);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

}  // namespace

const RabitqFns rabitq_scalar = {ip_block_ref, fs_correct_ref, ex_ip_ref};

}  // namespace detail
}  // namespace vecpress
