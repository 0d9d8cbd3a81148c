// Hamming block with the hardware popcnt instruction (this file gets
// -mpopcnt). Each base code is loaded once into registers and XORed against
// four queries, so the scan is compute-bound on popcnt, not on loads; the
// common code widths are unrolled at compile time.
#include <nmmintrin.h>

#include "dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

template <int W>
void block_fixed(const uint64_t* q, int64_t nq, const uint64_t* x, int64_t nx, int32_t* out,
                 int64_t ldo) {
  int64_t i = 0;
  for (; i + 4 <= nq; i += 4) {
    const uint64_t* q0 = q + i * W;
    for (int64_t j = 0; j < nx; ++j) {
      uint64_t xv[W];
      for (int w = 0; w < W; ++w) xv[w] = x[j * W + w];
      int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int w = 0; w < W; ++w) {
        s0 += _mm_popcnt_u64(xv[w] ^ q0[w]);
        s1 += _mm_popcnt_u64(xv[w] ^ q0[W + w]);
        s2 += _mm_popcnt_u64(xv[w] ^ q0[2 * W + w]);
        s3 += _mm_popcnt_u64(xv[w] ^ q0[3 * W + w]);
      }
      out[(i + 0) * ldo + j] = int32_t(s0);
      out[(i + 1) * ldo + j] = int32_t(s1);
      out[(i + 2) * ldo + j] = int32_t(s2);
      out[(i + 3) * ldo + j] = int32_t(s3);
    }
  }
  for (; i < nq; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      int64_t s = 0;
      for (int w = 0; w < W; ++w) s += _mm_popcnt_u64(x[j * W + w] ^ q[i * W + w]);
      out[i * ldo + j] = int32_t(s);
    }
}

void block_any(const uint64_t* q, int64_t nq, const uint64_t* x, int64_t nx, int64_t nwords,
               int32_t* out, int64_t ldo) {
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      int64_t s = 0;
      for (int64_t w = 0; w < nwords; ++w) s += _mm_popcnt_u64(x[j * nwords + w] ^ q[i * nwords + w]);
      out[i * ldo + j] = int32_t(s);
    }
}

void hamming_block_avx2(const uint64_t* q, int64_t nq, const uint64_t* x, int64_t nx,
                        int64_t nwords, int32_t* out, int64_t ldo) {
  switch (nwords) {
    case 1: return block_fixed<1>(q, nq, x, nx, out, ldo);
    case 2: return block_fixed<2>(q, nq, x, nx, out, ldo);
    case 4: return block_fixed<4>(q, nq, x, nx, out, ldo);
    case 6: return block_fixed<6>(q, nq, x, nx, out, ldo);
    case 8: return block_fixed<8>(q, nq, x, nx, out, ldo);
    case 12: return block_fixed<12>(q, nq, x, nx, out, ldo);
    case 16: return block_fixed<16>(q, nq, x, nx, out, ldo);
    default: return block_any(q, nq, x, nx, nwords, out, ldo);
  }
}

}  // namespace

const HammingFns hamming_avx2 = {hamming_block_avx2};

}  // namespace detail
}  // namespace vecpress
