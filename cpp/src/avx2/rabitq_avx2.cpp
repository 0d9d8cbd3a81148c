// RaBitQ integer scan with the hardware popcnt instruction (this file gets the
// AVX2 flags, which include popcnt). Each base code is loaded once into
// registers and ANDed with every plane of every query of the block, so the scan
// is bound by popcnt throughput, not loads; common code widths are unrolled.
#include <nmmintrin.h>

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

}  // namespace

const RabitqFns rabitq_avx2 = {ip_block_avx2};

}  // namespace detail
}  // namespace vecpress
