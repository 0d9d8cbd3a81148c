// PRIVATE: the task split every scan kernel shares. Work is cut into
// (query block x base slice) tasks. Query blocks alone are used when there are
// enough of them to keep the threads busy; otherwise (small batches, batch 1)
// the base is sliced too and each slice's top-k lists are merged at the end.
#pragma once
#include <algorithm>
#include <cstring>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <cstdint>
#include <vector>

#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace detail {

// Pushes a block of scores row[0:n] (ids id0 + j) into a heap. Once the heap
// is full most scores are strictly worse than its threshold: groups of 16 are
// tested with one branch on a count the compiler vectorises, and only groups
// holding a contender (or a tie, which push() orders by id) go one by one.
// H: TopK or BufferedTopK (reservoir.hpp).
template <class H, class T = typename H::value_type>
inline void push_block(H& h, const T* row, int64_t n, idx_t id0) {
  using Cmp = typename H::cmp;
  constexpr int64_t kGroup = 16;
  T thr = h.threshold();
  int64_t j = 0;
  while (j < n) {
    int64_t end = std::min(n, j + kGroup);
    if (h.full() && end - j == kGroup) {
      int live = 0;
      for (int64_t l = 0; l < kGroup; ++l) live += !Cmp::worse(row[j + l], thr);
      if (live == 0) {
        j = end;
        continue;
      }
    }
    for (; j < end; ++j) {
      if (h.full() && Cmp::worse(row[j], thr)) continue;
      h.push(row[j], id0 + j);
      thr = h.threshold();
    }
  }
}

// True when some of row[0:8] is not strictly worse than its threshold thr[0:8].
template <class Cmp>
inline bool any_live8(const float* row, const float* thr) {
#if defined(__GNUC__)
  // Two 4-lane compares (GCC/Clang vector extensions: SSE, NEON or scalar code
  // as the target has); written out because the plain loop was not vectorised.
  typedef float v4 __attribute__((vector_size(16)));
  v4 r0, r1, t0, t1;
  std::memcpy(&r0, row, 16);
  std::memcpy(&r1, row + 4, 16);
  std::memcpy(&t0, thr, 16);
  std::memcpy(&t1, thr + 4, 16);
  auto dead = Cmp::worse_lanes(r0, t0) & Cmp::worse_lanes(r1, t1);
#if defined(__SSE__)
  return _mm_movemask_ps(reinterpret_cast<__m128>(dead)) != 0xF;
#else
  return !(dead[0] & dead[1] & dead[2] & dead[3]);
#endif
#else
  for (int l = 0; l < 8; ++l)
    if (!Cmp::worse(row[l], thr[l])) return true;
  return false;
#endif
}

// Offers one base row's scores row[0:nq_padded], one per query, to the
// queries' heaps (id for all). thr[i] mirrors heaps[i].threshold(); nq_padded
// is a multiple of 8 whose padding lanes hold thr = Cmp::best(), which no
// score reaches. Eight queries are tested with one branch (any_live8): scores
// come base-major from a GEMM with packed queries.
template <class H, class T = typename H::value_type>
inline void push_across(H* heaps, T* thr, const T* row, int64_t nq_padded, idx_t id) {
  using Cmp = typename H::cmp;
  for (int64_t i0 = 0; i0 < nq_padded; i0 += 8) {
    if (!any_live8<Cmp>(row + i0, thr + i0)) continue;
    for (int64_t i = i0; i < i0 + 8; ++i) {
      if (Cmp::worse(row[i], thr[i])) continue;
      heaps[i].push(row[i], id);
      thr[i] = heaps[i].threshold();
    }
  }
}

// range(q0, nqb, x0, x1, vals, ids) must write the sorted top-k (nqb, k) of
// queries [q0, q0 + nqb) over base rows [x0, x1) into vals/ids.
template <class T, class Cmp, class Range>
void blocked_topk(int64_t nq, int64_t n, int64_t qblock, int64_t min_slice, int k, T* out_vals,
                  idx_t* out_ids, int nthreads, const Range& range) {
  if (nq == 0 || k == 0) return;
  if (nthreads <= 0) nthreads = default_threads();
  int64_t nqblocks = (nq + qblock - 1) / qblock;
  int64_t nslices = 1;
  if (nqblocks < 2 * int64_t(nthreads)) {
    nslices = std::max<int64_t>(1, (2 * nthreads + nqblocks - 1) / nqblocks);
    nslices = std::min<int64_t>(nslices, std::max<int64_t>(1, n / std::max<int64_t>(1, min_slice)));
  }
  if (nslices == 1) {
    parallel_for(nqblocks, nthreads, [&](int64_t t) {
      int64_t q0 = t * qblock, nqb = std::min(qblock, nq - q0);
      range(q0, nqb, int64_t(0), n, out_vals + q0 * k, out_ids + q0 * k);
    });
    return;
  }
  int64_t slice = (n + nslices - 1) / nslices;
  // Partial lists laid out (nq, nslices, k) so a query's lists merge together.
  std::vector<T> pv(nq * nslices * k);
  std::vector<idx_t> pi(nq * nslices * k);
  parallel_for(nqblocks * nslices, nthreads, [&](int64_t t) {
    int64_t b = t / nslices, s = t % nslices;
    int64_t q0 = b * qblock, nqb = std::min(qblock, nq - q0);
    int64_t x0 = std::min(n, s * slice), x1 = std::min(n, x0 + slice);
    std::vector<T> v(nqb * k);
    std::vector<idx_t> id(nqb * k);
    range(q0, nqb, x0, x1, v.data(), id.data());
    for (int64_t i = 0; i < nqb; ++i) {
      std::copy(v.begin() + i * k, v.begin() + (i + 1) * k, pv.begin() + ((q0 + i) * nslices + s) * k);
      std::copy(id.begin() + i * k, id.begin() + (i + 1) * k, pi.begin() + ((q0 + i) * nslices + s) * k);
    }
  });
  topk_merge<T, Cmp>(pv.data(), pi.data(), nq, int(nslices), k, out_vals, out_ids);
}

}  // namespace detail
}  // namespace vecpress
