// Inverted-file ADC scan: one task per query (the lists differ per query, so
// the batched multi-query layout of adc.cpp does not apply). A list is scored
// four codes at a time into a small buffer, then pushed through the query's heap.
#include "vecpress/ivf.hpp"

#include <algorithm>
#include <vector>

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

}  // namespace vecpress
