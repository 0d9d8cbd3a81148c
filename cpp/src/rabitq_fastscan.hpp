// PRIVATE: the RaBitQ fast-scan pieces the flat scan (rabitq_fastscan.cpp) and the
// inverted-file scan (ivf_rabitq.cpp) share: the packed block layout, and the per-query
// tables, LUTs and correction constants of the first stage.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vecpress/fastscan.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/rabitq.hpp"

namespace vecpress {
namespace detail {

struct Layout {
  int64_t D, M, bb, stride;
  explicit Layout(int64_t d)
      : D(d), M(d / 4), bb(fastscan_block_bytes(d / 4)), stride(rabitq_fs_block_bytes(d)) {}
  const uint8_t* block(const uint8_t* packed, int64_t b) const { return packed + b * stride; }
  const float* fadd(const uint8_t* packed, int64_t b) const {
    return reinterpret_cast<const float*>(block(packed, b) + bb);
  }
  const float* fmul(const uint8_t* packed, int64_t b) const { return fadd(packed, b) + 32; }
  // The float-query estimate of row v of codes (n, rabitq_code_bytes(D)):
  // f_add + qc[0] + qc[1] * (f_mul / 2) * S, S = sum_m T[m][code_m] summed as four partial
  // sums (groups m mod 4) added at the end ((s0 + s1) + (s2 + s3)): four short dependency
  // chains instead of one of D / 4 adds. It reads the row (one or two cache lines), not
  // the packed block, whose nibbles of one vector are spread over the whole block.
  float exact(const uint8_t* codes, int64_t v, const float* T, const float* qc) const {
    const uint8_t* row = codes + v * rabitq_code_bytes(D);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t byte = 0; byte < D / 8; byte += 2) {  // D / 8 is a multiple of 8
      const float* t = T + 32 * byte;
      s0 += t[row[byte] & 15];
      s1 += t[16 + (row[byte] >> 4)];
      s2 += t[32 + (row[byte + 1] & 15)];
      s3 += t[48 + (row[byte + 1] >> 4)];
    }
    float f[2];
    std::memcpy(f, row + D / 8, sizeof f);
    return f[0] + qc[0] + qc[1] * (0.5f * f[1] * ((s0 + s1) + (s2 + s3)));
  }
  // Prefetches row v (its sign bits and factors) ahead of exact().
  void prefetch(const uint8_t* codes, int64_t v) const {
    const uint8_t* row = codes + v * rabitq_code_bytes(D);
    __builtin_prefetch(row);
    __builtin_prefetch(row + rabitq_code_bytes(D) - 1);
  }
};

// Per-query state of the first stage: the float tables, the uint8 LUTs and the
// correction constants [c0, c1, c2] (rabitq_dispatch.hpp) that turn a LUT sum into an
// estimate. fastscan_quantize_luts (largest=true) maps a table sum S to the quantized sum
// Q ~ a (-S - L), L = sum_m min_c(-T[m][c]), so S ~ -Q / a - L and
//   est = f_add + q_add + s (f_mul / 2) S = (f_add + q_add) + f_mul (-s L / 2 + (-s / (2a)) Q).
struct Queries {
  std::vector<float> tables, cst;
  std::vector<uint8_t> luts;
  // |S - S_lut| <= lut_err in table-sum units with near certainty: each of the M entries is
  // rounded to the LUT's grid 1 / a, independent errors of sd 1 / (a sqrt 12) per entry, so
  // 2 sqrt(M) / a is about 7 standard deviations of their sum
  std::vector<float> lut_err;
};

inline Queries prepare(const float* qrot, const float* qc, int64_t nq, int64_t D, int nthreads) {
  const int64_t M = D / 4, Mp = fastscan_mpad(M);
  Queries p;
  p.tables.resize(nq * M * 16);
  p.luts.resize(nq * Mp * 16);
  p.cst.resize(nq * 3);
  p.lut_err.resize(nq);
  parallel_for((nq + 63) / 64, nthreads, [&](int64_t t) {
    const int64_t q0 = t * 64, nqi = std::min<int64_t>(64, nq - q0);
    float* T = p.tables.data() + q0 * M * 16;
    rabitq_fastscan_tables(qrot + q0 * D, nqi, D, T);
    std::vector<float> scales(nqi), offsets(nqi);
    fastscan_quantize_luts(T, nqi, M, true, p.luts.data() + q0 * Mp * 16, scales.data(),
                           offsets.data());
    for (int64_t i = 0; i < nqi; ++i) {
      const float L = offsets[i];
      const float s = qc[(q0 + i) * kRabitqQueryConsts + 1], a = scales[i];
      float* c = p.cst.data() + (q0 + i) * 3;
      c[0] = qc[(q0 + i) * kRabitqQueryConsts];
      c[1] = -s * L / 2;
      c[2] = a > 0 ? -s / (2 * a) : 0.0f;
      p.lut_err[q0 + i] = a > 0 ? float(2.0 * std::sqrt(double(M)) / a) : 0.0f;
    }
  });
  return p;
}

}  // namespace detail
}  // namespace vecpress
