// 4-bit fast-scan: packing, LUT quantization, and the two-stage search
// (quantized uint16 sums over packed blocks -> `rescore` candidates per query
// -> exact float re-scoring from the unquantized tables).
#include "vecpress/fastscan.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "blocked_topk.hpp"
#include "dispatch.hpp"
#include "reservoir.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kQueryBlock = 8;  // 8 queries' LUTs (8 * Mp * 16 bytes) stay in L1
// Largest quantized entry: 7 bits, so the kernels may add two lookups in uint8.
constexpr int64_t kLutMax = 127;

// Byte and nibble shift of (vector i of its block, sub-quantizer m) in a block.
inline int64_t nibble_byte(int64_t i, int64_t m) { return (m / 2) * 32 + (m & 1) * 16 + (i & 15); }
inline int nibble_shift(int64_t i) { return i < 16 ? 0 : 4; }


}  // namespace

void pq4_pack(const uint8_t* codes, int64_t n, int64_t M, uint8_t* packed) {
  VP_CHECK(M > 0, "M must be positive");
  const int64_t bb = fastscan_block_bytes(M);
  std::memset(packed, 0, size_t(fastscan_nblocks(n) * bb));
  for (int64_t v = 0; v < n; ++v) {
    uint8_t* block = packed + (v / 32) * bb;
    int64_t i = v % 32;
    for (int64_t m = 0; m < M; ++m) {
      uint8_t c = codes[v * M + m];
      VP_CHECK(c < 16, "4-bit codes must be < 16, got " + std::to_string(int(c)));
      block[nibble_byte(i, m)] |= uint8_t(c << nibble_shift(i));
    }
  }
}

void pq4_unpack(const uint8_t* packed, int64_t n, int64_t M, uint8_t* codes) {
  VP_CHECK(M > 0, "M must be positive");
  for (int64_t v = 0; v < n; ++v)
    for (int64_t m = 0; m < M; ++m) codes[v * M + m] = fastscan_code(packed, M, v, m);
}

void fastscan_quantize_luts(const float* tables, int64_t nq, int64_t M, bool largest,
                            uint8_t* luts, float* scales, float* offsets) {
  const int64_t Mp = fastscan_mpad(M);
  const float qmax = float(std::min<int64_t>(kLutMax, 65535 / Mp));
  std::memset(luts, 0, size_t(nq * Mp * 16));
  const float sign = largest ? -1.0f : 1.0f;  // quantized: smaller is better
  for (int64_t i = 0; i < nq; ++i) {
    const float* t = tables + i * M * 16;
    std::vector<float> lo(M);
    float span = 0;
    for (int64_t m = 0; m < M; ++m) {
      float mn = sign * t[m * 16], mx = mn;
      for (int c = 1; c < 16; ++c) {
        float v = sign * t[m * 16 + c];
        mn = std::min(mn, v);
        mx = std::max(mx, v);
      }
      lo[m] = mn;
      span = std::max(span, mx - mn);
    }
    const float a = span > 0 ? qmax / span : 0.0f;
    if (scales) scales[i] = a;
    if (offsets) {
      float sum = 0;
      for (int64_t m = 0; m < M; ++m) sum += lo[m];
      offsets[i] = sum;
    }
    for (int64_t m = 0; m < M; ++m)
      for (int c = 0; c < 16; ++c) {
        float v = std::nearbyint((sign * t[m * 16 + c] - lo[m]) * a);
        luts[(i * Mp + m) * 16 + c] = uint8_t(std::min(qmax, std::max(0.0f, v)));
      }
  }
}

void fastscan_scores(const uint8_t* luts, int64_t nq, int64_t M, const uint8_t* packed,
                     int64_t n, uint16_t* out, int nthreads) {
  const auto& fns = detail::adc_fns();
  const int64_t Mp = fastscan_mpad(M), bb = fastscan_block_bytes(M);
  const int64_t nb = fastscan_nblocks(n);
  const int64_t nqb = (nq + kQueryBlock - 1) / kQueryBlock;
  parallel_for(nqb, nthreads, [&](int64_t t) {
    int64_t q0 = t * kQueryBlock, nqi = std::min(kQueryBlock, nq - q0);
    std::vector<uint16_t> thr(nqi, 0), sc(nqi * 32);
    std::vector<uint32_t> mask(nqi);
    const auto lp = detail::lut_pointers(luts + q0 * Mp * 16, nqi, Mp);
    for (int64_t b = 0; b < nb; ++b) {
      fns.fastscan_block(packed + b * bb, Mp, lp.data(), nqi, thr.data(), sc.data(), mask.data());
      int64_t nv = std::min<int64_t>(32, n - b * 32);
      for (int64_t q = 0; q < nqi; ++q)
        std::memcpy(out + (q0 + q) * n + b * 32, &sc[q * 32], sizeof(uint16_t) * nv);
    }
  });
}

namespace {

// Per query: what maps its quantized sums back to scores (fastscan_dequantize; rescore = 0
// returns those).
struct LutScale {
  float inv_scale, offset;
};

template <class Cmp>
void fastscan_range(const detail::AdcFns& fns, const float* tables, const uint8_t* luts,
                    const LutScale* ls, int64_t nqb, int64_t M, const uint8_t* packed, int64_t n,
                    int64_t b0, int64_t b1, int k, int rescore, float* vals, idx_t* ids,
                    const uint64_t* allow) {
  const int64_t Mp = fastscan_mpad(M), bb = fastscan_block_bytes(M);
  const bool rescoring = rescore > 0;
  if (!rescoring) rescore = k;
  // Stage 1: the `rescore` best quantized sums per query (smaller is better, ties by the
  // lower id), buffered (reservoir.hpp).
  std::vector<detail::Reservoir<int32_t, Smaller>> best(nqb,
                                                        detail::Reservoir<int32_t, Smaller>(rescore, allow));
  std::vector<uint16_t> thr(nqb, 0xFFFF), sc(nqb * 32);
  std::vector<uint32_t> mask(nqb);
  const auto lp = detail::lut_pointers(luts, nqb, Mp);
  for (int64_t b = b0; b < b1; ++b) {
    fns.fastscan_block(packed + b * bb, Mp, lp.data(), nqb, thr.data(), sc.data(), mask.data());
    const int64_t id0 = b * 32;
    for (int64_t q = 0; q < nqb; ++q) {
      uint32_t bits = mask[q];
      if (!bits) continue;
      auto& h = best[q];
      while (bits) {
        int v = __builtin_ctz(bits);
        bits &= bits - 1;
        if (id0 + v >= n) break;  // padding vectors of the last block
        h.push(int32_t(sc[q * 32 + v]), id0 + v);
      }
      thr[q] = h.bounded() ? uint16_t(h.threshold()) : uint16_t(0xFFFF);
    }
  }
  // Stage 2: exact re-scoring with the float tables, summed in sub-quantizer order, or
  // (rescore = 0) the quantized sums mapped back to scores.
  const bool largest = std::is_same<Cmp, Larger>::value;
  for (int64_t q = 0; q < nqb; ++q) {
    const float* t = tables + q * M * 16;
    TopK<float, Cmp> h(vals + q * k, ids + q * k, k);
    const int count = best[q].finish();
    for (int r = 0; r < count; ++r) {
      const idx_t id = best[q].id(r);
      if (!rescoring) {
        h.push(fastscan_dequantize(best[q].value(r), ls[q].inv_scale, ls[q].offset, largest), id);
        continue;
      }
      float s = 0;
      for (int64_t m = 0; m < M; ++m) s += t[m * 16 + fastscan_code(packed, M, id, m)];
      h.push(s, id);
    }
    h.finalize();
  }
}

template <class Cmp>
void fastscan_search_impl(const float* tables, const uint8_t* luts, const LutScale* ls, int64_t nq,
                          int64_t M, const uint8_t* packed, int64_t n, int k, int rescore,
                          float* out_scores, idx_t* out_ids, int nthreads, const uint64_t* allow) {
  const auto& fns = detail::adc_fns();
  const int64_t Mp = fastscan_mpad(M);
  // The task split works in units of 32-vector blocks.
  detail::blocked_topk<float, Cmp>(
      nq, fastscan_nblocks(n), kQueryBlock, 64, k, out_scores, out_ids, nthreads,
      [&](int64_t q0, int64_t nqb, int64_t b0, int64_t b1, float* v, idx_t* id) {
        fastscan_range<Cmp>(fns, tables + q0 * M * 16, luts + q0 * Mp * 16, ls + q0, nqb, M,
                            packed, n, b0, b1, k, rescore, v, id, allow);
      });
}

}  // namespace

void fastscan_search(const float* tables, int64_t nq, int64_t M, const uint8_t* packed, int64_t n,
                     bool largest, int k, int rescore, float* out_scores, idx_t* out_ids,
                     int nthreads, const uint64_t* allow) {
  VP_CHECK(M > 0, "M must be positive");
  VP_CHECK(k >= 0, "k must be non-negative");
  if (nq == 0 || k == 0) return;
  // At least k candidates; more than n cannot be kept (and would only cost memory).
  // rescore = 0: no float re-scoring (an exact rerank follows).
  if (rescore > 0) rescore = int(std::max<int64_t>(k, std::min<int64_t>(rescore, n)));
  const int64_t Mp = fastscan_mpad(M);
  std::vector<uint8_t> luts(nq * Mp * 16);
  std::vector<float> scales(nq), offsets(nq);
  std::vector<LutScale> ls(nq);
  parallel_for((nq + 63) / 64, nthreads, [&](int64_t b) {
    int64_t q0 = b * 64, nqi = std::min<int64_t>(64, nq - q0);
    fastscan_quantize_luts(tables + q0 * M * 16, nqi, M, largest, luts.data() + q0 * Mp * 16,
                           scales.data() + q0, offsets.data() + q0);
    for (int64_t q = q0; q < q0 + nqi; ++q)
      ls[q] = {scales[q] > 0 ? 1.0f / scales[q] : 0.0f, offsets[q]};
  });
  if (largest)
    fastscan_search_impl<Larger>(tables, luts.data(), ls.data(), nq, M, packed, n, k, rescore,
                                 out_scores, out_ids, nthreads, allow);
  else
    fastscan_search_impl<Smaller>(tables, luts.data(), ls.data(), nq, M, packed, n, k, rescore,
                                  out_scores, out_ids, nthreads, allow);
}

}  // namespace vecpress
