// Inverted-file RaBitQ scan: each list's 1-bit codes in RaBitQ fast-scan blocks (sign bits
// as 4-bit sub-codes, each 32-vector block followed by its f_add and f_mul), scanned with
// the PQ fast-scan block kernel against one LUT per query and corrected per block with the
// vectors' factors and the probe's bias (rabitq.hpp). Lists are visited in list order, each
// read once for up to 8 of the queries probing it, as in ivf.cpp's fast-scan scan.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "dispatch.hpp"
#include "list_probes.hpp"
#include "rabitq_dispatch.hpp"
#include "rabitq_fastscan.hpp"
#include "reservoir.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/rabitq.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kGroup = 8;  // queries scanned together per block

template <class Cmp>
using Candidates = std::vector<detail::Reservoir<float, Cmp>>;  // one per query

// Lists [l0, l1) of one pass for every query probing them.
template <class Cmp>
void scan_lists(const detail::RabitqFns& rf, const detail::AdcFns& af, const detail::Layout& lay,
                const detail::Queries& p, const idx_t* rows, int64_t n_rows,
                const uint8_t* packed,
                const int64_t* boff, const detail::ListProbes& lp, const float* probe_bias,
                int64_t nprobe, int64_t l0, int64_t l1, Candidates<Cmp>& best) {
  const int64_t Mp = fastscan_mpad(lay.M);
  const bool largest = std::is_same<Cmp, Larger>::value;
  const uint8_t* luts[kGroup];  // the group's LUTs, read in place
  std::vector<float> c(kGroup * 4), est(kGroup * 32);
  uint16_t thr16[kGroup], sc[kGroup * 32];
  uint32_t mask16[kGroup], mask[kGroup];
  int64_t gq[kGroup];
  std::fill(thr16, thr16 + kGroup, uint16_t(0xFFFF));  // the float threshold decides
  for (int64_t l = l0; l < l1; ++l) {
    for (int64_t e0 = lp.start[l]; e0 < lp.start[l + 1]; e0 += kGroup) {
      const int64_t g = std::min(kGroup, lp.start[l + 1] - e0);
      for (int64_t i = 0; i < g; ++i) {
        const int64_t q = gq[i] = lp.query[e0 + i];
        luts[i] = p.luts.data() + q * Mp * 16;
        c[4 * i] = probe_bias ? probe_bias[q * nprobe + lp.probe[e0 + i]] : 0.0f;
        c[4 * i + 1] = p.cst[3 * q + 1];
        c[4 * i + 2] = p.cst[3 * q + 2];
      }
      for (int64_t b = boff[l]; b < boff[l + 1]; ++b) {
        for (int64_t i = 0; i < g; ++i) c[4 * i + 3] = best[gq[i]].threshold();
        af.fastscan_block(lay.block(packed, b), Mp, luts, g, thr16, sc, mask16);
        rf.fs_correct(sc, g, lay.fadd(packed, b), lay.fmul(packed, b), c.data(), largest,
                      est.data(), mask);
        for (int64_t i = 0; i < g; ++i) {
          uint32_t bits = mask[i];
          while (bits) {
            const int v = __builtin_ctz(bits);
            bits &= bits - 1;
            const idx_t row = rows[b * 32 + v];
            if (row < 0) continue;  // padding, a removed row
            VP_CHECK(row < n_rows, "ivf_rabitq_search: rows holds a row number >= n");
            best[gq[i]].push(est[i * 32 + v], row);
          }
        }
      }
    }
  }
}

template <class Cmp>
void search(const float* qrot, int64_t nq, int64_t D, float qscale, const uint8_t* packed,
            const idx_t* rows, int64_t n_rows, const int64_t* boff, int64_t nlist, const int64_t* probes,
            const float* probe_bias, int64_t nprobe, int k, float* out_vals, idx_t* out_rows,
            int nthreads, const uint64_t* allow) {
  const auto& rf = detail::rabitq_fns();
  const auto& af = detail::adc_fns();
  const detail::Layout lay(D);
  // the float query's constants: no per-query offset (the probe's bias carries it), scale s
  std::vector<float> qc(nq * kRabitqQueryConsts, 0.0f);
  for (int64_t q = 0; q < nq; ++q) qc[q * kRabitqQueryConsts + 1] = qscale;
  const detail::Queries p = detail::prepare(qrot, qc.data(), nq, D, nthreads);
  const int64_t first = detail::first_pass_probes(nprobe);
  const detail::ListProbes passes[2] = {detail::ListProbes(probes, nq, nprobe, nlist, 0, first),
                                        detail::ListProbes(probes, nq, nprobe, nlist, first, nprobe)};
  const std::vector<int64_t> cut = detail::list_task_cuts(boff, nlist, passes, 2, nthreads);
  const int64_t ntasks = int64_t(cut.size()) - 1;
  std::vector<Candidates<Cmp>> tasks(ntasks);
  for (auto& t : tasks) t.assign(nq, detail::Reservoir<float, Cmp>(k, allow));
  parallel_for(ntasks, nthreads, [&](int64_t t) {
    for (const auto& lp : passes)
      scan_lists<Cmp>(rf, af, lay, p, rows, n_rows, packed, boff, lp, probe_bias, nprobe, cut[t],
                      cut[t + 1], tasks[t]);
  });
  parallel_for(nq, nthreads, [&](int64_t q) {
    TopK<float, Cmp> h(out_vals + q * k, out_rows + q * k, k);
    for (auto& t : tasks) {
      const int count = t[q].finish();
      for (int r = 0; r < count; ++r) h.push(t[q].value(r), t[q].id(r));
    }
    h.finalize();
  });
}

}  // namespace

void ivf_rabitq_search(const float* qrot, int64_t nq, int64_t D, float qscale,
                       const uint8_t* packed, const idx_t* rows, int64_t n_rows,
                       const int64_t* block_offsets, int64_t nlist, const int64_t* probes,
                       const float* probe_bias, int64_t nprobe, bool largest, int k,
                       float* out_vals, idx_t* out_rows, int nthreads, const uint64_t* allow) {
  VP_CHECK(D > 0 && D % 64 == 0, "ivf_rabitq_search: D must be a positive multiple of 64");
  VP_CHECK(nlist > 0 && k >= 0 && nprobe >= 0, "ivf_rabitq_search: bad sizes");
  if (nq == 0 || k == 0) return;
  if (largest)
    search<Larger>(qrot, nq, D, qscale, packed, rows, n_rows, block_offsets, nlist, probes,
                   probe_bias, nprobe, k, out_vals, out_rows, nthreads, allow);
  else
    search<Smaller>(qrot, nq, D, qscale, packed, rows, n_rows, block_offsets, nlist, probes,
                    probe_bias, nprobe, k, out_vals, out_rows, nthreads, allow);
}

}  // namespace vecpress
