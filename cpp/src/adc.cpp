// ADC scan over 8-bit codes. Tasks are (block of 8 queries x code slice).
// The 8 queries' tables are interleaved (M, 256, 8) so that the scan kernel
// reads each code byte once for the 8 queries and fetches the 8 entries with
// one load (see avx2/adc_avx2.cpp); codes are scanned in blocks small enough
// for L1 and the block's scores go through each query's top-k heap. A block
// holding a single query uses a one-query loop with the same summation order.
#include "vecpress/adc.hpp"

#include <algorithm>
#include <vector>

#include "blocked_topk.hpp"
#include "dispatch.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kQ = 8;            // queries per interleaved pass (one YMM of floats)
constexpr int64_t kCodeBlock = 128;  // codes per kernel call: 128 * 8 floats of partial sums

// tables (nqb, M, 256) with nqb <= 8 -> itab (M, 256, 8); missing queries are 0.
void interleave(const float* tables, int64_t nqb, int64_t M, float* itab) {
  std::fill(itab, itab + M * 256 * kQ, 0.0f);
  for (int64_t q = 0; q < nqb; ++q)
    for (int64_t mc = 0; mc < M * 256; ++mc) itab[mc * kQ + q] = tables[q * M * 256 + mc];
}

// One query alone (batch of 1, or the last query of a batch): the interleaved
// kernel would waste 7 of its 8 lanes. Scores 4 codes at a time in plain C++
// with the kernels' summation order, acc = acc + (t_m + t_m+1), so a query's
// scores are bit-identical whichever path its batch takes.
void scan_u8_q1(const float* T, int64_t M, const uint8_t* codes, int64_t nx, float* out) {
  int64_t j = 0;
  for (; j + 4 <= nx; j += 4) {
    const uint8_t* c0 = codes + j * M;
    const uint8_t* c1 = c0 + M;
    const uint8_t* c2 = c1 + M;
    const uint8_t* c3 = c2 + M;
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) {
      const float* t0 = T + m * 256;
      const float* t1 = t0 + 256;
      a0 = a0 + (t0[c0[m]] + t1[c0[m + 1]]);
      a1 = a1 + (t0[c1[m]] + t1[c1[m + 1]]);
      a2 = a2 + (t0[c2[m]] + t1[c2[m + 1]]);
      a3 = a3 + (t0[c3[m]] + t1[c3[m + 1]]);
    }
    if (m < M) {
      const float* t0 = T + m * 256;
      a0 = a0 + t0[c0[m]];
      a1 = a1 + t0[c1[m]];
      a2 = a2 + t0[c2[m]];
      a3 = a3 + t0[c3[m]];
    }
    out[(j + 0) * kQ] = a0;
    out[(j + 1) * kQ] = a1;
    out[(j + 2) * kQ] = a2;
    out[(j + 3) * kQ] = a3;
  }
  for (; j < nx; ++j) {
    const uint8_t* c = codes + j * M;
    float a = 0;
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) a = a + (T[m * 256 + c[m]] + T[(m + 1) * 256 + c[m + 1]]);
    if (m < M) a = a + T[m * 256 + c[m]];
    out[j * kQ] = a;
  }
}

// Scores of a block of codes for nqb <= 8 queries into buf (nx, 8).
inline void scan_codes(const detail::AdcFns& fns, const float* tables, const float* itab,
                       int64_t nqb, int64_t M, const uint8_t* codes, int64_t nx, float* buf) {
  if (nqb == 1)
    scan_u8_q1(tables, M, codes, nx, buf);
  else
    fns.scan_u8_q8(itab, M, codes, nx, buf);
}

template <class Cmp>
void search_range(const detail::AdcFns& fns, const float* tables, int64_t nqb, int64_t M,
                  const uint8_t* codes, int64_t x0, int64_t x1, int k, float* vals, idx_t* ids,
                  const uint64_t* allow) {
  std::vector<float> itab(nqb > 1 ? M * 256 * kQ : 0), buf(kCodeBlock * kQ);
  if (nqb > 1) interleave(tables, nqb, M, itab.data());
  std::vector<TopK<float, Cmp>> heaps;
  heaps.reserve(nqb);
  for (int64_t i = 0; i < nqb; ++i) heaps.emplace_back(vals + i * k, ids + i * k, k, allow);
  for (int64_t j0 = x0; j0 < x1; j0 += kCodeBlock) {
    int64_t nxb = std::min(kCodeBlock, x1 - j0);
    scan_codes(fns, tables, itab.data(), nqb, M, codes + j0 * M, nxb, buf.data());
    for (int64_t q = 0; q < nqb; ++q) {
      auto& h = heaps[q];
      float thr = h.threshold();
      for (int64_t j = 0; j < nxb; ++j) {
        float s = buf[j * kQ + q];
        // strictly worse than the threshold: reject; ties go through push() for id order
        if (h.full() && Cmp::better(thr, idx_t(-1), s, idx_t(-1))) continue;
        h.push(s, j0 + j);
        thr = h.threshold();
      }
    }
  }
  for (auto& h : heaps) h.finalize();
}

template <class Cmp>
void search_impl(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                 int k, float* out_scores, idx_t* out_ids, int nthreads, const uint64_t* allow) {
  const auto& fns = detail::adc_fns();
  detail::blocked_topk<float, Cmp>(
      nq, n, kQ, 4 * kCodeBlock, k, out_scores, out_ids, nthreads,
      [&](int64_t q0, int64_t nqb, int64_t x0, int64_t x1, float* v, idx_t* id) {
        search_range<Cmp>(fns, tables + q0 * M * 256, nqb, M, codes, x0, x1, k, v, id, allow);
      });
}

}  // namespace

void adc_scan_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                 float* out, int nthreads) {
  VP_CHECK(M > 0, "M must be positive");
  const auto& fns = detail::adc_fns();
  const int64_t nqb = (nq + kQ - 1) / kQ;
  constexpr int64_t kSlice = 64 * kCodeBlock;
  const int64_t nslices = std::max<int64_t>(1, (n + kSlice - 1) / kSlice);
  parallel_for(nqb * nslices, nthreads, [&](int64_t t) {
    int64_t b = t / nslices, s = t % nslices;
    int64_t q0 = b * kQ, nqi = std::min(kQ, nq - q0);
    int64_t x0 = s * kSlice, x1 = std::min(n, x0 + kSlice);
    std::vector<float> itab(nqi > 1 ? M * 256 * kQ : 0), buf(kCodeBlock * kQ);
    if (nqi > 1) interleave(tables + q0 * M * 256, nqi, M, itab.data());
    for (int64_t j0 = x0; j0 < x1; j0 += kCodeBlock) {
      int64_t nxb = std::min(kCodeBlock, x1 - j0);
      scan_codes(fns, tables + q0 * M * 256, itab.data(), nqi, M, codes + j0 * M, nxb, buf.data());
      for (int64_t q = 0; q < nqi; ++q)
        for (int64_t j = 0; j < nxb; ++j) out[(q0 + q) * n + j0 + j] = buf[j * kQ + q];
    }
  });
}

void adc_search_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                   bool largest, int k, float* out_scores, idx_t* out_ids, int nthreads,
                   const uint64_t* allow) {
  VP_CHECK(M > 0, "M must be positive");
  VP_CHECK(k >= 0, "k must be non-negative");
  if (nq == 0 || k == 0) return;
  if (largest)
    search_impl<Larger>(tables, nq, M, codes, n, k, out_scores, out_ids, nthreads, allow);
  else
    search_impl<Smaller>(tables, nq, M, codes, n, k, out_scores, out_ids, nthreads, allow);
}

}  // namespace vecpress
