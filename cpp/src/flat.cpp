// Blocked exact search. Work is split into tasks of (query block x base
// slice): a query block is scored against base blocks that stay in L2, and
// per-query heaps reject most scores, eight queries per compare. When there are fewer
// query blocks than threads (small batches) the base is sliced too and the
// per-slice top-k lists are merged, so batch-1 search still uses every core.
#include "vecpress/flat.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "blocked_topk.hpp"
#include "reservoir.hpp"
#include "dispatch.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

#if defined(__GNUC__)
#define VP_PREFETCH(p) __builtin_prefetch(p)
#else
#define VP_PREFETCH(p) ((void)0)
#endif

namespace vecpress {
namespace {

constexpr int64_t kQueryBlock = 256;    // queries scored together (packed once per task)
constexpr int64_t kBaseBlock = 96;      // base rows per inner block (144 KB at d=384, in L2)
constexpr int64_t kPackedQueries = 16;  // query blocks this large are packed (one full panel)

// Turns raw inner products of a (nqb, nxb) block into the metric's scores.
// qn / xn hold squared norms of the prefix (L2) or inverse norms (Cosine).
inline float finish(Metric m, float ip, float qn, float xn) {
  switch (m) {
    case Metric::IP: return ip;
    case Metric::L2: return std::max(0.0f, qn + xn - 2.0f * ip);
    case Metric::Cosine: return ip * qn * xn;
  }
  return ip;
}

inline float norm_term(Metric m, float sq) {
  if (m == Metric::Cosine) return sq > 0 ? 1.0f / std::sqrt(sq) : 0.0f;
  return sq;
}

// Blocks of at least kPackedQueries queries are packed once per task and the
// base rows read in place, scores coming out base-major (buf[j][i]): packing
// 64 base rows for every 128-query block had been a fifth of the scan. Smaller
// blocks would mostly pad a 16-query panel; they are bound by reading the base,
// and packing it was a copy as costly as the scoring (batch 1 ran at half
// speed), so they take dot products straight from the rows, query-major.
template <class H, class Cmp = typename H::cmp>
void search_range(const detail::DotFns& f, const float* x, int64_t x0, int64_t x1,
                  int64_t x_stride, const float* q, int64_t nqb, int64_t q_stride, int64_t d,
                  Metric metric, int k, float* vals, idx_t* ids, const uint64_t* allow) {
  const bool by_base = nqb >= kPackedQueries;
  const int64_t ldo = by_base ? (nqb + 7) / 8 * 8 : kBaseBlock;
  std::vector<float> qpack(by_base ? f.packed_size(nqb, d) : 0);
  if (by_base) f.pack(q, q_stride, nqb, d, qpack.data());
  std::vector<float> buf((by_base ? kBaseBlock : nqb) * ldo, 0.0f);  // padding stays 0
  std::vector<float> qn(nqb), xn(kBaseBlock);
  for (int64_t i = 0; i < nqb; ++i)
    qn[i] = norm_term(metric, f.dot(q + i * q_stride, q + i * q_stride, d));
  std::vector<H> heaps;
  heaps.reserve(nqb);
  for (int64_t i = 0; i < nqb; ++i) heaps.emplace_back(vals + i * k, ids + i * k, k, allow);
  std::vector<float> thr(ldo, Cmp::template best<float>());
  for (int64_t i = 0; i < nqb; ++i) thr[i] = heaps[i].threshold();
  for (int64_t j0 = x0; j0 < x1; j0 += kBaseBlock) {
    int64_t nxb = std::min(kBaseBlock, x1 - j0);
    const float* xb = x + j0 * x_stride;
    if (metric != Metric::IP)
      for (int64_t j = 0; j < nxb; ++j)
        xn[j] = norm_term(metric, f.dot(xb + j * x_stride, xb + j * x_stride, d));
    if (by_base) {
      f.ip_packed(xb, x_stride, nxb, qpack.data(), nqb, d, buf.data(), ldo);
      for (int64_t j = 0; j < nxb; ++j) {
        float* row = buf.data() + j * ldo;
        if (metric != Metric::IP)
          for (int64_t i = 0; i < nqb; ++i) row[i] = finish(metric, row[i], qn[i], xn[j]);
        detail::push_across(heaps.data(), thr.data(), row, ldo, j0 + j);
      }
    } else {
      for (int64_t j = 0; j < nxb; ++j)
        for (int64_t i = 0; i < nqb; ++i)
          buf[i * ldo + j] = f.dot(q + i * q_stride, xb + j * x_stride, d);
      for (int64_t i = 0; i < nqb; ++i) {
        float* row = buf.data() + i * ldo;
        if (metric != Metric::IP)
          for (int64_t j = 0; j < nxb; ++j) row[j] = finish(metric, row[j], qn[i], xn[j]);
        detail::push_block(heaps[i], row, nxb, j0);
      }
    }
  }
  for (auto& h : heaps) h.finalize();
}

template <class Cmp>
void flat_search_impl(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                      int64_t q_stride, int64_t d, Metric metric, int k, float* out_scores,
                      idx_t* out_ids, int nthreads, const uint64_t* allow) {
  const detail::DotFns& f = detail::dot_fns();
  detail::blocked_topk<float, Cmp>(
      nq, n, kQueryBlock, 4 * kBaseBlock, k, out_scores, out_ids, nthreads,
      [&](int64_t q0, int64_t nqb, int64_t x0, int64_t x1, float* v, idx_t* id) {
        // deep k (an inverted file's probes) buffers its candidates (reservoir.hpp)
        detail::with_selection<float, Cmp>(k, [&](auto* sel) {
          using H = std::remove_pointer_t<decltype(sel)>;
          search_range<H>(f, x, x0, x1, x_stride, q + q0 * q_stride, nqb, q_stride, d, metric, k,
                          v, id, allow);
        });
      });
}

void check_common(int64_t n, int64_t x_stride, int64_t nq, int64_t q_stride, int64_t d, int k) {
  VP_CHECK(n >= 0 && nq >= 0, "negative sizes");
  VP_CHECK(d > 0, "the number of dimensions to score must be positive");
  VP_CHECK(d <= x_stride, "prefix length exceeds the base vectors' dimension");
  VP_CHECK(d <= q_stride, "prefix length exceeds the queries' dimension");
  VP_CHECK(k >= 0, "k must be non-negative");
}

}  // namespace

void flat_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                 int64_t q_stride, int64_t d, Metric metric, int k, float* out_scores,
                 idx_t* out_ids, int nthreads, const uint64_t* allow) {
  check_common(n, x_stride, nq, q_stride, d, k);
  if (nq == 0 || k == 0) return;
  if (metric_larger_is_better(metric))
    flat_search_impl<Larger>(x, n, x_stride, q, nq, q_stride, d, metric, k, out_scores, out_ids,
                             nthreads, allow);
  else
    flat_search_impl<Smaller>(x, n, x_stride, q, nq, q_stride, d, metric, k, out_scores, out_ids,
                              nthreads, allow);
}

// H: TopK, or BufferedTopK for deep k (detail::with_selection).
template <class H, class Cmp = typename H::cmp>
static void rerank_impl(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                        int64_t q_stride, int64_t d, Metric metric, const idx_t* cand,
                        int64_t nc, int k, float* out_scores, idx_t* out_ids, int nthreads) {
  const detail::DotFns& f = detail::dot_fns();
  int64_t per_task = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, nc));
  int64_t ntasks = (nq + per_task - 1) / per_task;
  parallel_for(ntasks, nthreads, [&](int64_t t) {
    for (int64_t i = t * per_task; i < std::min(nq, (t + 1) * per_task); ++i) {
      const float* qi = q + i * q_stride;
      float qn = metric == Metric::Cosine ? norm_term(metric, f.dot(qi, qi, d)) : 0.0f;
      H h(out_scores + i * k, out_ids + i * k, k);
      for (int64_t c = 0; c < nc; ++c) {
        idx_t j = cand[i * nc + c];
        if (j < 0) continue;
        VP_CHECK(j < n, "candidate id out of range");
        // Candidates are random rows: fetch the next one while this one is scored.
        if (c + 1 < nc && cand[i * nc + c + 1] >= 0 && cand[i * nc + c + 1] < n) {
          const char* nx = reinterpret_cast<const char*>(x + cand[i * nc + c + 1] * x_stride);
          for (int64_t o = 0; o < d * int64_t(sizeof(float)); o += 64) VP_PREFETCH(nx + o);
        }
        const float* xj = x + j * x_stride;
        float s;
        if (metric == Metric::L2) {
          s = f.l2sq(qi, xj, d);
        } else {
          s = f.dot(qi, xj, d);
          if (metric == Metric::Cosine) s *= qn * norm_term(metric, f.dot(xj, xj, d));
        }
        h.push(s, j);
      }
      h.finalize();
    }
  });
}

void rerank_exact(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                  int64_t q_stride, int64_t d, Metric metric, const idx_t* cand, int64_t nc,
                  int k, float* out_scores, idx_t* out_ids, int nthreads) {
  check_common(n, x_stride, nq, q_stride, d, k);
  VP_CHECK(nc >= 0, "negative candidate count");
  if (nq == 0 || k == 0) return;
  auto run = [&](auto* sel) {
    rerank_impl<std::remove_pointer_t<decltype(sel)>>(x, n, x_stride, q, nq, q_stride, d, metric,
                                                       cand, nc, k, out_scores, out_ids, nthreads);
  };
  // deep k (a two-level coarse quantizer's candidate centroids) buffers (reservoir.hpp)
  if (metric_larger_is_better(metric))
    detail::with_selection<float, Larger>(k, run);
  else
    detail::with_selection<float, Smaller>(k, run);
}

void pairwise_scores(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                     int64_t q_stride, int64_t d, Metric metric, float* out, int nthreads) {
  check_common(n, x_stride, nq, q_stride, d, 0);
  const detail::DotFns& f = detail::dot_fns();
  // x is packed once per column chunk and shared by every row block of q (this
  // is also the matrix product behind rotations: out = q @ x^T).
  constexpr int64_t kCols = 1024, kRows = 48;
  std::vector<float> qn(nq);
  if (metric != Metric::IP)
    parallel_for(nq, nthreads, [&](int64_t i) {
      qn[i] = norm_term(metric, f.dot(q + i * q_stride, q + i * q_stride, d));
    });
  std::vector<float> packed, xn;
  for (int64_t c0 = 0; c0 < n; c0 += kCols) {
    int64_t nc = std::min(kCols, n - c0);
    packed.resize(f.packed_size(nc, d));
    f.pack(x + c0 * x_stride, x_stride, nc, d, packed.data());
    xn.assign(nc, 0.0f);
    if (metric != Metric::IP)
      for (int64_t j = 0; j < nc; ++j)
        xn[j] = norm_term(metric, f.dot(x + (c0 + j) * x_stride, x + (c0 + j) * x_stride, d));
    parallel_for((nq + kRows - 1) / kRows, nthreads, [&](int64_t b) {
      int64_t i0 = b * kRows, nr = std::min(kRows, nq - i0);
      float* o = out + i0 * n + c0;
      f.ip_packed(q + i0 * q_stride, q_stride, nr, packed.data(), nc, d, o, n);
      if (metric != Metric::IP)
        for (int64_t i = 0; i < nr; ++i)
          for (int64_t j = 0; j < nc; ++j) o[i * n + j] = finish(metric, o[i * n + j], qn[i0 + i], xn[j]);
    });
  }
}

}  // namespace vecpress
