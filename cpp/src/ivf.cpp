// Inverted-file ADC scan: one task per query (the lists differ per query, so
// the batched multi-query layout of adc.cpp does not apply). A list is scored
// four codes at a time into a small buffer, then pushed through the query's heap.
#include "vecpress/ivf.hpp"

#include <algorithm>
#include <vector>

#include <cmath>
#include <type_traits>

#include "dispatch.hpp"
#include "list_probes.hpp"
#include "reservoir.hpp"
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
                int64_t n_rows, const int64_t* offsets, int64_t nlist, const int64_t* probes,
                const float* pbias, int64_t nprobe, const float* row_bias, int k, float* ov,
                idx_t* oi, const uint64_t* allow) {
  TopK<float, Cmp> heap(ov, oi, k, allow);
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
        if (rows[s + j] < 0) continue;  // a removed row (the caller remaps instead of regrouping)
        VP_CHECK(rows[s + j] < n_rows, "ivf_adc_search_u8: rows holds a row number >= n");
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
                       const idx_t* rows, int64_t n_rows, const int64_t* offsets, int64_t nlist,
                       const int64_t* probes, const float* probe_bias, int64_t nprobe,
                       const float* row_bias, bool largest, int k, float* out_scores,
                       idx_t* out_rows, int nthreads, const uint64_t* allow) {
  VP_CHECK(k >= 0 && M > 0 && nlist > 0 && nprobe >= 0, "ivf_adc_search_u8: bad sizes");
  parallel_for(nq, nthreads, [&](int64_t q) {
    const float* T = tables + q * M * 256;
    const int64_t* pr = probes + q * nprobe;
    const float* pb = probe_bias ? probe_bias + q * nprobe : nullptr;
    float* ov = out_scores + q * k;
    idx_t* oi = out_rows + q * k;
    if (largest)
      scan_query<Larger>(T, M, codes, rows, n_rows, offsets, nlist, pr, pb, nprobe, row_bias, k, ov, oi,
                         allow);
    else
      scan_query<Smaller>(T, M, codes, rows, n_rows, offsets, nlist, pr, pb, nprobe, row_bias, k, ov, oi,
                          allow);
  });
}

namespace {

constexpr int64_t kFsQueries = 8;  // queries scanned together per block (fast-scan kernel)

// Candidates of one task (a range of lists) for every query: the `rescore` best
// (quantized sum + bias shift, packed position << 16 | probe) per query.
struct TaskCandidates {
  std::vector<detail::Reservoir<int32_t, Smaller>> best;
  TaskCandidates(int64_t nq, int rescore) : best(nq, detail::Reservoir<int32_t, Smaller>(rescore)) {}
};

// Scans lists [l0, l1): each block is read once for up to 8 of the queries probing
// its list, with those queries' LUTs gathered side by side.
void scan_lists(const detail::AdcFns& fns, const uint8_t* luts, const int32_t* shifts,
                int64_t M, const uint8_t* packed, const idx_t* rows, int64_t n_rows,
                const int64_t* boff, const detail::ListProbes& lp, int64_t nprobe, int64_t l0, int64_t l1,
                const uint64_t* allow, TaskCandidates& tc) {
  const int64_t Mp = fastscan_mpad(M), bb = fastscan_block_bytes(M);
  const uint8_t* group_luts[kFsQueries];  // the group's LUTs, read in place
  uint16_t thr[kFsQueries], sc[kFsQueries * 32];
  uint32_t mask[kFsQueries];
  int64_t gq[kFsQueries], gp[kFsQueries];
  int32_t gs[kFsQueries];
  for (int64_t l = l0; l < l1; ++l) {
    for (int64_t e0 = lp.start[l]; e0 < lp.start[l + 1]; e0 += kFsQueries) {
      const int64_t g = std::min(kFsQueries, lp.start[l + 1] - e0);
      for (int64_t i = 0; i < g; ++i) {
        gq[i] = lp.query[e0 + i];
        gp[i] = lp.probe[e0 + i];
        gs[i] = shifts[gq[i] * nprobe + gp[i]];
        group_luts[i] = luts + gq[i] * Mp * 16;
      }
      for (int64_t b = boff[l]; b < boff[l + 1]; ++b) {
        // The block's mask: sum + shift <= the query's threshold (a tie may still win
        // on its row; the reservoir decides).
        for (int64_t i = 0; i < g; ++i) {
          const auto& h = tc.best[gq[i]];
          const int64_t t = h.bounded() ? int64_t(h.threshold()) - gs[i] : 0xFFFF;
          thr[i] = uint16_t(std::max<int64_t>(0, std::min<int64_t>(t, 0xFFFF)));
        }
        fns.fastscan_block(packed + b * bb, Mp, group_luts, g, thr, sc, mask);
        for (int64_t i = 0; i < g; ++i) {
          auto& h = tc.best[gq[i]];
          uint32_t bits = mask[i];
          while (bits) {
            const int v = __builtin_ctz(bits);
            bits &= bits - 1;
            const idx_t pos = b * 32 + v;
            if (rows[pos] < 0) continue;  // padding, a removed row
            VP_CHECK(rows[pos] < n_rows, "ivf_fastscan_search: rows holds a row number >= n");
            if (!row_allowed(allow, rows[pos])) continue;
            // the probe index rides along for its bias; ties go to the lower row
            h.push(int32_t(sc[i * 32 + v]) + gs[i], (pos << 16) | gp[i], uint32_t(rows[pos]));
          }
        }
      }
    }
  }
}

// Exact rescoring of one query's candidates from every task: probe bias + the float
// table sum over the row-order codes (two per byte), summed in code order.
template <class Cmp>
void rescore_query(const float* T, int64_t M, const idx_t* rows, const uint8_t* row_codes,
                   const float* pbias, std::vector<TaskCandidates>& tasks, int64_t q,
                   int k, float* ov, idx_t* oi) {
  TopK<float, Cmp> best(ov, oi, k);
  const int64_t Mb = (M + 1) / 2;
  for (auto& tc : tasks) {
    auto& res = tc.best[q];
    const int count = res.finish();
    for (int r = 0; r < count; ++r) {
      const idx_t id = res.id(r);
      const idx_t row = rows[id >> 16];
      const uint8_t* c = row_codes + row * Mb;
      float s = 0;
      for (int64_t m = 0; m < M; ++m) s += T[m * 16 + ((c[m >> 1] >> ((m & 1) * 4)) & 15)];
      best.push(pbias ? s + pbias[id & 0xFFFF] : s, row);
    }
  }
  best.finalize();
}

// Without rescoring: the best k quantized keys of every task, mapped back to scores
// (fastscan_dequantize); the ranking is the quantized one.
template <class Cmp>
void merge_query_keys(float inv_scale, float offset, const idx_t* rows,
                      std::vector<TaskCandidates>& tasks, int64_t q, int k, float* ov,
                      idx_t* oi) {
  const bool largest = std::is_same<Cmp, Larger>::value;
  TopK<float, Cmp> best(ov, oi, k);
  for (auto& tc : tasks) {
    auto& res = tc.best[q];
    const int count = res.finish();
    for (int r = 0; r < count; ++r)
      best.push(fastscan_dequantize(res.value(r), inv_scale, offset, largest),
                rows[res.id(r) >> 16]);
  }
  best.finalize();
}

}  // namespace

void ivf_fastscan_search(const float* tables, int64_t nq, int64_t M, const uint8_t* packed,
                         const idx_t* rows, const int64_t* block_offsets, int64_t nlist,
                         const uint8_t* row_codes, int64_t n_rows, const int64_t* probes,
                         const float* probe_bias, int64_t nprobe, bool largest, int k,
                         int rescore, float* out_scores, idx_t* out_rows, int nthreads,
                         const uint64_t* allow) {
  VP_CHECK(M > 0 && nlist > 0 && k >= 0 && nprobe >= 0, "ivf_fastscan_search: bad sizes");
  VP_CHECK(nprobe < (1 << 16), "ivf_fastscan_search: nprobe must be < 65536");
  if (nq == 0 || k == 0) return;
  const bool rescoring = rescore > 0;
  rescore = std::max(k, rescore);
  const int64_t Mp = fastscan_mpad(M);
  const auto& fns = detail::adc_fns();
  // LUTs and, per (query, probe), the bias in LUT units: sign * a * bias (fastscan.hpp).
  std::vector<uint8_t> luts(nq * Mp * 16);
  std::vector<float> scales(nq), offsets(nq);
  std::vector<int32_t> shifts(nq * nprobe, 0);
  const float sign = largest ? -1.0f : 1.0f;
  parallel_for(nq, nthreads, [&](int64_t q) {
    fastscan_quantize_luts(tables + q * M * 16, 1, M, largest, luts.data() + q * Mp * 16,
                           &scales[q], &offsets[q]);
    if (probe_bias)
      for (int64_t p = 0; p < nprobe; ++p)
        shifts[q * nprobe + p] = int32_t(std::lrint(sign * scales[q] * probe_bias[q * nprobe + p]));
  });
  // Two passes: every query's best probes first (list_probes.hpp).
  const int64_t first = detail::first_pass_probes(nprobe);
  const detail::ListProbes passes[2] = {detail::ListProbes(probes, nq, nprobe, nlist, 0, first),
                                        detail::ListProbes(probes, nq, nprobe, nlist, first, nprobe)};
  const std::vector<int64_t> cut = detail::list_task_cuts(block_offsets, nlist, passes, 2, nthreads);
  const int64_t ntasks = int64_t(cut.size()) - 1;
  std::vector<TaskCandidates> tasks;
  tasks.reserve(ntasks);
  for (int64_t t = 0; t < ntasks; ++t) tasks.emplace_back(nq, rescore);
  parallel_for(ntasks, nthreads, [&](int64_t t) {
    for (const auto& lp : passes)
      scan_lists(fns, luts.data(), shifts.data(), M, packed, rows, n_rows, block_offsets, lp, nprobe,
                 cut[t], cut[t + 1], allow, tasks[t]);
  });
  if (!rescoring) {
    parallel_for(nq, nthreads, [&](int64_t q) {
      const float inv = scales[q] > 0 ? 1.0f / scales[q] : 0.0f;
      if (largest)
        merge_query_keys<Larger>(inv, offsets[q], rows, tasks, q, k, out_scores + q * k,
                                 out_rows + q * k);
      else
        merge_query_keys<Smaller>(inv, offsets[q], rows, tasks, q, k, out_scores + q * k,
                                  out_rows + q * k);
    });
    return;
  }
  parallel_for(nq, nthreads, [&](int64_t q) {
    const float* T = tables + q * M * 16;
    const float* pb = probe_bias ? probe_bias + q * nprobe : nullptr;
    if (largest)
      rescore_query<Larger>(T, M, rows, row_codes, pb, tasks, q, k, out_scores + q * k,
                            out_rows + q * k);
    else
      rescore_query<Smaller>(T, M, rows, row_codes, pb, tasks, q, k, out_scores + q * k,
                             out_rows + q * k);
  });
}

}  // namespace vecpress
