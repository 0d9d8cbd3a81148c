// Portable reference kernels for ADC scans: 8-bit codes against 8 interleaved
// query tables, and one 4-bit fast-scan block against quantized LUTs. They fix
// the summation order the SIMD variants reproduce exactly.
#include "dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

void scan_u8_q8_ref(const float* itab, int64_t M, const uint8_t* codes, int64_t nx, float* out) {
  for (int64_t j = 0; j < nx; ++j) {
    const uint8_t* c = codes + j * M;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) {
      const float* t0 = itab + (m * 256 + c[m]) * 8;
      const float* t1 = itab + ((m + 1) * 256 + c[m + 1]) * 8;
      for (int q = 0; q < 8; ++q) acc[q] = acc[q] + (t0[q] + t1[q]);
    }
    if (m < M) {
      const float* t0 = itab + (m * 256 + c[m]) * 8;
      for (int q = 0; q < 8; ++q) acc[q] = acc[q] + t0[q];
    }
    for (int q = 0; q < 8; ++q) out[j * 8 + q] = acc[q];
  }
}

void fastscan_block_ref(const uint8_t* block, int64_t Mp, const uint8_t* const* luts, int64_t nq,
                        const uint16_t* thr, uint16_t* scores, uint32_t* mask) {
  for (int64_t i = 0; i < nq; ++i) {
    const uint8_t* lut = luts[i];
    uint32_t bits = 0;
    for (int v = 0; v < 32; ++v) {
      const int byte = v & 15, shift = v < 16 ? 0 : 4;
      uint32_t s = 0;
      for (int64_t p = 0; p < Mp / 2; ++p) {
        const uint8_t* b = block + p * 32;
        s += lut[(2 * p) * 16 + ((b[byte] >> shift) & 15)];
        s += lut[(2 * p + 1) * 16 + ((b[16 + byte] >> shift) & 15)];
      }
      scores[i * 32 + v] = uint16_t(s);
      if (uint16_t(s) <= thr[i]) bits |= uint32_t(1) << v;
    }
    mask[i] = bits;
  }
}

}  // namespace

const AdcFns adc_scalar = {scan_u8_q8_ref, fastscan_block_ref};

}  // namespace detail
}  // namespace vecpress
