// Inverted-file ADC scan: one task per query (the lists differ per query, so
// the batched multi-query layout of adc.cpp does not apply). A list is scored
// four codes at a time into a small buffer, then pushed through the query's heap.
#include "vecpress/ivf.hpp"

#include <algorithm>
#include <vector>

#include <cmath>
#include <type_traits>

#include "dispatch.hpp"
#include "vecpress/fastscan.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kBlock = 256;  // codes scored per buffer fill

// Scores of nx codes with one query's tables T (M, 256), the summation order of
// adc.cpp's scan_u8_q1: acc = acc + (t_m + t_m+1).
void score_block(const float* T, int64_t M, const uint8_t* codes, int64_t nx, float* out) {
  for (int64_t j = 0; j < nx; ++j) {
    const uint8_t* c = codes + j * M;
    float a = 0;
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) a = a + (T[m * 256 + c[m]] + T[(m + 1) * 256 + c[m + 1]]);
    if (m < M) a = a + T[m * 256 + c[m]];
    out[j] = a;
  }
}

template <class Cmp>
void scan_query(const float* T, int64_t M, const uint8_t* codes, const idx_t* rows,
                const int64_t* offsets, int64_t nlist, const int64_t* probes,
                const float* pbias, int64_t nprobe, const float* row_bias, int k, float* ov,
                idx_t* oi) {
  TopK<float, Cmp> heap(ov, oi, k);
  float buf[kBlock];
  for (int64_t p = 0; p < nprobe; ++p) {
    const int64_t l = probes[p];
    if (l < 0) continue;
    VP_CHECK(l < nlist, "ivf_adc_search_u8: probe list out of range");
    const float bias = pbias ? pbias[p] : 0.0f;
    for (int64_t s = offsets[l]; s < offsets[l + 1]; s += kBlock) {
      const int64_t nx = std::min(kBlock, offsets[l + 1] - s);
      score_block(T, M, codes + s * M, nx, buf);
      for (int64_t j = 0; j < nx; ++j) {
        float v = buf[j] + bias;
        if (row_bias) v += row_bias[s + j];
        heap.push(v, rows[s + j]);
      }
    }
  }
  heap.finalize();
}

}  // namespace

void ivf_adc_search_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes,
                       const idx_t* rows, const int64_t* offsets, int64_t nlist,
                       const int64_t* probes, const float* probe_bias, int64_t nprobe,
                       const float* row_bias, bool largest, int k, float* out_scores,
                       idx_t* out_rows, int nthreads) {
  VP_CHECK(k >= 0 && M > 0 && nlist > 0 && nprobe >= 0, "ivf_adc_search_u8: bad sizes");
  parallel_for(nq, nthreads, [&](int64_t q) {
    const float* T = tables + q * M * 256;
    const int64_t* pr = probes + q * nprobe;
    const float* pb = probe_bias ? probe_bias + q * nprobe : nullptr;
    float* ov = out_scores + q * k;
    idx_t* oi = out_rows + q * k;
    if (largest)
      scan_query<Larger>(T, M, codes, rows, offsets, nlist, pr, pb, nprobe, row_bias, k, ov, oi);
    else
      scan_query<Smaller>(T, M, codes, rows, offsets, nlist, pr, pb, nprobe, row_bias, k, ov, oi);
  });
}

namespace {

// One query: quantized sums of the probed lists' blocks through a heap of
// `rescore` candidates keyed by sum + bias (both in LUT units, smaller is
// better), then the exact float rescoring of those candidates.
template <class Cmp>
void fastscan_query(const detail::AdcFns& fns, const float* T, const uint8_t* lut, float scale,
                    int64_t M, const uint8_t* packed, const idx_t* rows, const int64_t* boff,
                    int64_t nlist, const uint8_t* row_codes, const int64_t* probes,
                    const float* pbias, int64_t nprobe, int k, int rescore,
                    std::vector<int32_t>& hv, std::vector<idx_t>& hi, float* ov, idx_t* oi) {
  const int64_t Mp = fastscan_mpad(M), bb = fastscan_block_bytes(M);
  const float sign = std::is_same<Cmp, Larger>::value ? -1.0f : 1.0f;
  TopK<int32_t, Smaller> cand(hv.data(), hi.data(), rescore);
  uint16_t sc[32];
  uint32_t mask;
  for (int64_t p = 0; p < nprobe; ++p) {
    const int64_t l = probes[p];
    if (l < 0) continue;
    VP_CHECK(l < nlist, "ivf_fastscan_search: probe list out of range");
    const int32_t shift = pbias ? int32_t(std::lrint(sign * scale * pbias[p])) : 0;
    for (int64_t b = boff[l]; b < boff[l + 1]; ++b) {
      // A vector enters only if sum + shift <= the heap's worst key.
      int64_t t = cand.full() ? int64_t(cand.threshold()) - shift : 0xFFFF;
      if (t < 0) break;  // nothing left in this list can enter (blocks do not sort, but
                         // every sum is >= 0, so no later block of it can either)
      const uint16_t thr = uint16_t(std::min<int64_t>(t, 0xFFFF));
      fns.fastscan_block(packed + b * bb, Mp, lut, 1, &thr, sc, &mask);
      while (mask) {
        const int v = __builtin_ctz(mask);
        mask &= mask - 1;
        const idx_t pos = b * 32 + v;
        if (rows[pos] < 0) continue;  // padding of the list's last block
        const int32_t key = int32_t(sc[v]) + shift;
        if (cand.full() && key > cand.threshold()) continue;
        cand.push(key, (pos << 16) | p);  // the probe index rides along for its bias
      }
    }
  }
  TopK<float, Cmp> best(ov, oi, k);
  const int64_t Mb = (M + 1) / 2;
  for (int r = 0; r < cand.size(); ++r) {
    const idx_t row = rows[hi[r] >> 16];
    const int64_t p = hi[r] & 0xFFFF;
    // the row-order copy: two codes per byte, contiguous (cheaper than the packed block)
    const uint8_t* c = row_codes + row * Mb;
    float s = 0;
    for (int64_t m = 0; m < M; ++m) s += T[m * 16 + ((c[m >> 1] >> ((m & 1) * 4)) & 15)];
    best.push(pbias ? s + pbias[p] : s, row);
  }
  best.finalize();
}

}  // namespace

void ivf_fastscan_search(const float* tables, int64_t nq, int64_t M, const uint8_t* packed,
                         const idx_t* rows, const int64_t* block_offsets, int64_t nlist,
                         const uint8_t* row_codes, const int64_t* probes,
                         const float* probe_bias, int64_t nprobe, bool largest, int k,
                         int rescore, float* out_scores, idx_t* out_rows, int nthreads) {
  VP_CHECK(M > 0 && nlist > 0 && k >= 0 && nprobe >= 0, "ivf_fastscan_search: bad sizes");
  VP_CHECK(nprobe < (1 << 16), "ivf_fastscan_search: nprobe must be < 65536");
  if (nq == 0 || k == 0) return;
  rescore = std::max(k, rescore);
  const int64_t Mp = fastscan_mpad(M);
  const auto& fns = detail::adc_fns();
  parallel_for(nq, nthreads, [&](int64_t q) {
    std::vector<uint8_t> lut(Mp * 16);
    float scale = 0;
    fastscan_quantize_luts(tables + q * M * 16, 1, M, largest, lut.data(), &scale);
    std::vector<int32_t> hv(rescore);
    std::vector<idx_t> hi(rescore);
    const int64_t* pr = probes + q * nprobe;
    const float* pb = probe_bias ? probe_bias + q * nprobe : nullptr;
    if (largest)
      fastscan_query<Larger>(fns, tables + q * M * 16, lut.data(), scale, M, packed, rows,
                             block_offsets, nlist, row_codes, pr, pb, nprobe, k, rescore, hv, hi,
                             out_scores + q * k, out_rows + q * k);
    else
      fastscan_query<Smaller>(fns, tables + q * M * 16, lut.data(), scale, M, packed, rows,
                              block_offsets, nlist, row_codes, pr, pb, nprobe, k, rescore, hv, hi,
                              out_scores + q * k, out_rows + q * k);
  });
}

}  // namespace vecpress

