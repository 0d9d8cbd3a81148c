// RaBitQ fast-scan: the 1-bit codes' sign bits read as 4-bit sub-codes (4 dimensions per
// group) and scanned with the PQ 4-bit fast-scan block kernel against the float query's
// per-group tables quantized to uint8; each block's sums become estimates with the
// vectors' own factors at once (RabitqFns::fs_correct), the best `rescore` per query are
// kept, and those are re-scored with the float tables (layout and formulas in rabitq.hpp).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "blocked_topk.hpp"
#include "dispatch.hpp"
#include "rabitq_dispatch.hpp"
#include "rabitq_fastscan.hpp"
#include "reservoir.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/rabitq.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kQueryBlock = 8;  // 8 queries' LUTs (8 * M * 16 bytes) stay in L1

void check_dim(int64_t D) {
  VP_CHECK(D > 0 && D % 64 == 0, "RaBitQ: the padded dimension must be a positive multiple of 64");
}

// Byte and nibble shift of (vector i of its block, group m) in a block (fastscan.hpp layout).
inline int64_t nibble_byte(int64_t i, int64_t m) { return (m / 2) * 32 + (m & 1) * 16 + (i & 15); }
inline int nibble_shift(int64_t i) { return i < 16 ? 0 : 4; }

using detail::Layout;
using detail::Queries;
using detail::prepare;

// The first stage over blocks [b0, b1) for nqb queries: fn(b, nv, est (nqb, 32), mask (nqb))
// per block, with thr (nqb) the current thresholds the masks are computed against.
template <class Fn>
void first_stage(const detail::RabitqFns& rf, const detail::AdcFns& af, const Layout& lay,
                 const uint8_t* luts, const float* cst, int64_t nqb, const uint8_t* packed,
                 int64_t n, int64_t b0, int64_t b1, bool largest, const float* thr, Fn&& fn) {
  const int64_t Mp = fastscan_mpad(lay.M);
  std::vector<uint16_t> thr16(nqb, 0xFFFF), sc(nqb * 32);
  std::vector<uint32_t> mask16(nqb), mask(nqb);
  std::vector<float> c(nqb * 4), est(nqb * 32);
  for (int64_t i = 0; i < nqb; ++i) std::memcpy(&c[4 * i], cst + 3 * i, 3 * sizeof(float));
  const auto lp = detail::lut_pointers(luts, nqb, Mp);
  for (int64_t b = b0; b < b1; ++b) {
    af.fastscan_block(lay.block(packed, b), Mp, lp.data(), nqb, thr16.data(), sc.data(),
                      mask16.data());
    for (int64_t i = 0; i < nqb; ++i) c[4 * i + 3] = thr[i];
    rf.fs_correct(sc.data(), nqb, lay.fadd(packed, b), lay.fmul(packed, b), c.data(), largest,
                  est.data(), mask.data());
    fn(b, std::min<int64_t>(32, n - b * 32), est.data(), mask.data());
  }
}

template <class Cmp>
void search_range(const detail::RabitqFns& rf, const detail::AdcFns& af, const Layout& lay,
                  const Queries& p, const float* qc, int64_t q0, int64_t nqb,
                  const uint8_t* codes, const uint8_t* packed, int64_t n, int64_t b0, int64_t b1, int k, int rescore,
                  float* vals, idx_t* ids, const uint64_t* allow) {
  const int64_t M = lay.M, Mp = fastscan_mpad(M);
  std::vector<detail::Reservoir<float, Cmp>> res;
  res.reserve(nqb);
  for (int64_t i = 0; i < nqb; ++i) res.emplace_back(rescore, allow);
  std::vector<float> thr(nqb, Cmp::template worst<float>());
  const bool largest = std::is_same<Cmp, Larger>::value;
  first_stage(rf, af, lay, p.luts.data() + q0 * Mp * 16, p.cst.data() + q0 * 3, nqb, packed, n,
              b0, b1, largest, thr.data(),
              [&](int64_t b, int64_t nv, const float* est, const uint32_t* mask) {
                const idx_t id0 = b * 32;
                const uint32_t valid = nv >= 32 ? ~uint32_t(0) : (uint32_t(1) << nv) - 1;
                for (int64_t i = 0; i < nqb; ++i) {
                  uint32_t bits = mask[i] & valid;
                  if (!bits) continue;
                  auto& r = res[i];
                  while (bits) {
                    int v = __builtin_ctz(bits);
                    bits &= bits - 1;
                    r.push(est[i * 32 + v], id0 + v);
                  }
                  thr[i] = r.threshold();
                }
              });
  // Second stage: the float-query estimate of the kept candidates.
  for (int64_t i = 0; i < nqb; ++i) {
    const float* T = p.tables.data() + (q0 + i) * M * 16;
    const float* c = qc + (q0 + i) * kRabitqQueryConsts;
    TopK<float, Cmp> h(vals + i * k, ids + i * k, k);
    const int count = res[i].finish();
    // the candidates' rows are scattered over the codes: fetch them all first, so the
    // misses overlap instead of each stalling its own estimate
    for (int r = 0; r < count; ++r) lay.prefetch(codes, res[i].id(r));
    for (int r = 0; r < count; ++r) h.push(lay.exact(codes, res[i].id(r), T, c), res[i].id(r));
    h.finalize();
  }
}

// ---- extended codes ----------------------------------------------------------------------

struct ExRow {
  int64_t D, ex, ld, planes, fex;
  ExRow(int64_t d, int e)
      : D(d), ex(e), ld(rabitq_ex_row_bytes(d, e)), planes(rabitq_code_bytes(d)),
        fex(rabitq_code_bytes(d) + e * d / 8) {}
  // The (1 + ex)-bit estimate of row v for query (q (D), qc, sumq) and (bound) its error bound.
  float estimate(const detail::RabitqFns& rf, const uint8_t* codes, int64_t v, const float* q,
                 const float* qc, float sumq, float* bound = nullptr) const {
    const uint8_t* row = codes + v * ld;
    const float ip = rf.ex_ip(row, row + planes, int(ex), q, D);
    float fadd, f[2];
    std::memcpy(&fadd, row + D / 8, 4);
    std::memcpy(f, row + fex, 8);
    const float cb = float(1 << ex) - 0.5f;
    if (bound) *bound = std::fabs(qc[1]) * (qc[5] * f[1]);
    return fadd + qc[0] + qc[1] * (f[0] * (ip - cb * sumq));
  }
};

std::vector<float> query_sums(const float* qrot, int64_t nq, int64_t D) {
  std::vector<float> s(nq);
  for (int64_t i = 0; i < nq; ++i) {
    double t = 0;
    for (int64_t j = 0; j < D; ++j) t += qrot[i * D + j];
    s[i] = float(t);
  }
  return s;
}

// The extended search over blocks [b0, b1) for nqb queries. The first stage's correction
// constant c1 is shifted by K = |s| (eps0 |q'| err_ratio + lut_err / 2) so that its
// "estimate" is each vector's optimistic 1-bit score est1 +- f_mul K >= est1 +- (its bound
// |s| (eps0 |q'| f_err + f_mul lut_err / 2)), f_err <= err_ratio f_mul; the block's mask
// (against the current k-th best extended estimate) is then exactly the vectors that
// cannot be ruled out. Their rows are prefetched and estimated one block later, so the
// misses overlap the next block's scan; before estimating, each is checked again against
// the threshold as it stands then.
template <class Cmp>
void ex_search_range(const detail::RabitqFns& rf, const detail::AdcFns& af, const Layout& lay,
                     const ExRow& ex, const Queries& p, const float* qrot, const float* qc,
                     const float* sumq, float err_ratio, int64_t q0, int64_t nqb,
                     const uint8_t* codes, const uint8_t* packed, int64_t n, int64_t b0,
                     int64_t b1, int k, float* vals, idx_t* ids, int64_t* stats,
                     const uint64_t* allow) {
  const int64_t Mp = fastscan_mpad(lay.M);
  const bool largest = std::is_same<Cmp, Larger>::value;
  std::vector<TopK<float, Cmp>> heaps;
  heaps.reserve(nqb);
  for (int64_t i = 0; i < nqb; ++i) heaps.emplace_back(vals + i * k, ids + i * k, k);
  std::vector<float> cst(p.cst.begin() + q0 * 3, p.cst.begin() + (q0 + nqb) * 3), thr(nqb);
  for (int64_t i = 0; i < nqb; ++i) {
    const float* c = qc + (q0 + i) * kRabitqQueryConsts;
    const float K = std::fabs(c[1]) * (c[5] * err_ratio + 0.5f * p.lut_err[q0 + i]);
    cst[3 * i + 1] += largest ? K : -K;
    thr[i] = Cmp::template worst<float>();
  }
  struct Cand {
    int32_t i;
    float opt;
    idx_t row;
  };
  std::vector<Cand> pending, next;
  auto estimate = [&](const std::vector<Cand>& cands) {
    for (const Cand& c : cands) {
      auto& h = heaps[c.i];
      if (Cmp::worse(c.opt, h.threshold())) continue;
      const int64_t qi = q0 + c.i;
      h.push(ex.estimate(rf, codes, c.row, qrot + qi * lay.D, qc + qi * kRabitqQueryConsts,
                         sumq[qi]),
             c.row);
      if (stats) ++stats[c.i];
    }
    for (int64_t i = 0; i < nqb; ++i) thr[i] = heaps[i].threshold();
  };
  first_stage(rf, af, lay, p.luts.data() + q0 * Mp * 16, cst.data(), nqb, packed, n, b0, b1,
              largest, thr.data(),
              [&](int64_t b, int64_t nv, const float* est, const uint32_t* mask) {
                const idx_t id0 = b * 32;
                const uint32_t valid = nv >= 32 ? ~uint32_t(0) : (uint32_t(1) << nv) - 1;
                next.clear();
                uint32_t any = 0;
                for (int64_t i = 0; i < nqb; ++i) {
                  uint32_t bits = mask[i] & valid;
                  while (bits) {
                    const int v = __builtin_ctz(bits);
                    bits &= bits - 1;
                    if (!row_allowed(allow, id0 + v)) continue;
                    next.push_back({int32_t(i), est[i * 32 + v], id0 + v});
                    any |= uint32_t(1) << v;
                  }
                }
                while (any) {
                  const int v = __builtin_ctz(any);
                  any &= any - 1;
                  const uint8_t* row = codes + (id0 + v) * ex.ld;
                  for (int64_t o = 0; o < ex.ld; o += 64) __builtin_prefetch(row + o);
                  __builtin_prefetch(row + ex.ld - 1);
                }
                estimate(pending);
                pending.swap(next);
              });
  estimate(pending);
  for (auto& h : heaps) h.finalize();
}

}  // namespace

void rabitq_fastscan_pack(const uint8_t* codes, int64_t n, int64_t D, int64_t ld,
                          uint8_t* packed) {
  check_dim(D);
  VP_CHECK(ld >= rabitq_code_bytes(D), "rabitq_fastscan_pack: rows shorter than the 1-bit code");
  const Layout lay(D);
  const int64_t cb = ld;
  std::memset(packed, 0, size_t(fastscan_nblocks(n) * lay.stride));
  for (int64_t v = 0; v < n; ++v) {
    const uint8_t* row = codes + v * cb;
    uint8_t* block = packed + (v / 32) * lay.stride;
    const int64_t i = v % 32;
    for (int64_t byte = 0; byte < D / 8; ++byte) {
      block[nibble_byte(i, 2 * byte)] |= uint8_t((row[byte] & 15) << nibble_shift(i));
      block[nibble_byte(i, 2 * byte + 1)] |= uint8_t((row[byte] >> 4) << nibble_shift(i));
    }
    std::memcpy(block + lay.bb + 4 * i, row + D / 8, 4);             // f_add
    std::memcpy(block + lay.bb + 128 + 4 * i, row + D / 8 + 4, 4);   // f_mul
  }
}

void rabitq_fastscan_tables(const float* qrot, int64_t nq, int64_t D, float* tables) {
  check_dim(D);
  const int64_t M = D / 4;
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t m = 0; m < M; ++m) {
      const float* q = qrot + i * D + 4 * m;
      float* t = tables + (i * M + m) * 16;
      for (int c = 0; c < 16; ++c) {
        float s = 0;
        for (int j = 0; j < 4; ++j) s += (c >> j & 1) ? q[j] : -q[j];
        t[c] = s;
      }
    }
}

void rabitq_fastscan_scores(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                            const uint8_t* packed, int64_t n, int64_t D, bool exact, float* out, int nthreads) {
  check_dim(D);
  if (nq == 0 || n == 0) return;
  const Layout lay(D);
  const Queries p = prepare(qrot, qc, nq, D, nthreads);
  const auto& rf = detail::rabitq_fns();
  const auto& af = detail::adc_fns();
  const int64_t Mp = fastscan_mpad(lay.M);
  const int64_t nqb = (nq + kQueryBlock - 1) / kQueryBlock;
  parallel_for(nqb, nthreads, [&](int64_t t) {
    const int64_t q0 = t * kQueryBlock, nqi = std::min(kQueryBlock, nq - q0);
    if (exact) {
      for (int64_t i = q0; i < q0 + nqi; ++i)
        for (int64_t v = 0; v < n; ++v)
          out[i * n + v] = lay.exact(codes, v, p.tables.data() + i * lay.M * 16,
                                     qc + i * kRabitqQueryConsts);
      return;
    }
    std::vector<float> thr(nqi, -std::numeric_limits<float>::infinity());
    first_stage(rf, af, lay, p.luts.data() + q0 * Mp * 16, p.cst.data() + q0 * 3, nqi, packed,
                n, 0, fastscan_nblocks(n), true, thr.data(),
                [&](int64_t b, int64_t nv, const float* est, const uint32_t*) {
                  for (int64_t i = 0; i < nqi; ++i)
                    std::memcpy(out + (q0 + i) * n + b * 32, est + i * 32, nv * sizeof(float));
                });
  });
}

void rabitq_fastscan_search(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                            const uint8_t* packed, int64_t n, int64_t D, bool largest, int k, int rescore,
                            float* out_vals, idx_t* out_ids, int nthreads,
                            const uint64_t* allow) {
  check_dim(D);
  VP_CHECK(k >= 0, "k must be non-negative");
  if (nq == 0 || k == 0) return;
  rescore = int(std::max<int64_t>(k, std::min<int64_t>(rescore, std::max<int64_t>(n, 1))));
  const Layout lay(D);
  const Queries p = prepare(qrot, qc, nq, D, nthreads);
  const auto& rf = detail::rabitq_fns();
  const auto& af = detail::adc_fns();
  auto run = [&](auto cmp) {
    using Cmp = decltype(cmp);
    detail::blocked_topk<float, Cmp>(
        nq, fastscan_nblocks(n), kQueryBlock, 64, k, out_vals, out_ids, nthreads,
        [&](int64_t q0, int64_t nqb, int64_t b0, int64_t b1, float* v, idx_t* id) {
          search_range<Cmp>(rf, af, lay, p, qc, q0, nqb, codes, packed, n, b0, b1, k, rescore, v, id,
                            allow);
        });
  };
  if (largest) run(Larger{}); else run(Smaller{});
}

}  // namespace vecpress

namespace vecpress {

void rabitq_ex_scores(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                      int64_t n, int64_t D, int ex_bits, float* out, float* bound, int nthreads) {
  check_dim(D);
  VP_CHECK(ex_bits >= 1 && ex_bits <= 8, "RaBitQ: ex_bits must be in [1, 8]");
  const ExRow ex(D, ex_bits);
  const auto& rf = detail::rabitq_fns();
  const std::vector<float> sumq = query_sums(qrot, nq, D);
  parallel_for(nq, nthreads, [&](int64_t i) {
    for (int64_t v = 0; v < n; ++v)
      out[i * n + v] = ex.estimate(rf, codes, v, qrot + i * D, qc + i * kRabitqQueryConsts,
                                   sumq[i], bound ? bound + i * n + v : nullptr);
  });
}

void rabitq_ex_search(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                      const uint8_t* packed, int64_t n, int64_t D, int ex_bits,
                      float err_ratio, bool largest, int k, float* out_vals, idx_t* out_ids,
                      int64_t* stats, int nthreads, const uint64_t* allow) {
  check_dim(D);
  VP_CHECK(ex_bits >= 1 && ex_bits <= 8, "RaBitQ: ex_bits must be in [1, 8]");
  VP_CHECK(k >= 0, "k must be non-negative");
  if (stats) std::fill(stats, stats + nq, int64_t(0));
  if (nq == 0 || k == 0) return;
  const Layout lay(D);
  const ExRow ex(D, ex_bits);
  const Queries p = prepare(qrot, qc, nq, D, nthreads);
  const std::vector<float> sumq = query_sums(qrot, nq, D);
  const auto& rf = detail::rabitq_fns();
  const auto& af = detail::adc_fns();
  // per-task counts, summed per query after (slices of one query run in different tasks)
  const int64_t nblocks = fastscan_nblocks(n);
  std::vector<std::atomic<int64_t>> counts(stats ? nq : 0);
  auto run = [&](auto cmp) {
    using Cmp = decltype(cmp);
    detail::blocked_topk<float, Cmp>(
        nq, nblocks, kQueryBlock, 64, k, out_vals, out_ids, nthreads,
        [&](int64_t q0, int64_t nqb, int64_t b0, int64_t b1, float* v, idx_t* id) {
          std::vector<int64_t> c(nqb, 0);
          ex_search_range<Cmp>(rf, af, lay, ex, p, qrot, qc, sumq.data(), err_ratio, q0, nqb, codes,
                               packed, n, b0, b1, k, v, id, stats ? c.data() : nullptr, allow);
          if (stats)
            for (int64_t i = 0; i < nqb; ++i) counts[q0 + i] += c[i];
        });
  };
  if (largest) run(Larger{}); else run(Smaller{});
  if (stats)
    for (int64_t i = 0; i < nq; ++i) stats[i] = counts[i].load();
}

}  // namespace vecpress
