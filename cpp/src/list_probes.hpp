// PRIVATE: an inverted-file scan's probes regrouped by list, so each list is read once
// for all the queries that probe it (the scans that share it: ivf.cpp, ivf_rabitq.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "vecpress/parallel.hpp"
#include "vecpress/types.hpp"

namespace vecpress {
namespace detail {

// The probes p in [p0, p1) regrouped by list: entries [start[l], start[l + 1]) name
// the (query, probe) pairs that probe list l, queries in increasing order.
struct ListProbes {
  std::vector<int64_t> start, query, probe;
  ListProbes(const int64_t* probes, int64_t nq, int64_t nprobe, int64_t nlist, int64_t p0,
             int64_t p1)
      : start(nlist + 1, 0) {
    for (int64_t q = 0; q < nq; ++q)
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t l = probes[q * nprobe + p];
        if (l < 0) continue;
        VP_CHECK(l < nlist, "inverted-file scan: probe list out of range");
        ++start[l + 1];
      }
    for (int64_t l = 0; l < nlist; ++l) start[l + 1] += start[l];
    query.resize(start[nlist]);
    probe.resize(start[nlist]);
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t q = 0; q < nq; ++q)
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t l = probes[q * nprobe + p];
        if (l < 0) continue;
        query[fill[l]] = q;
        probe[fill[l]++] = p;
      }
  }
};

// Every query's best `first` probes, then the rest: scanned in this order, each query's
// threshold is tight before the bulk of its lists (lists are visited in list order, not
// in each query's probe order, so a loose threshold would let many candidates through).
inline int64_t first_pass_probes(int64_t nprobe) { return nprobe / 8 > 1 ? nprobe / 8 : 1; }

// Lists cut into one contiguous range per task, balanced by blocks x probing queries:
// task t scans lists [cut[t], cut[t + 1]). block_offsets (nlist + 1) as the scans take it.
// A task gets at least kMinTaskWork block scans (about a millisecond): a thread costs
// ~20 us to start and each task's candidates start without a threshold, so a single
// query's probes (a few thousand blocks) ran at 0.6x the speed on two threads as on one.
constexpr int64_t kMinTaskWork = 8192;

inline std::vector<int64_t> list_task_cuts(const int64_t* block_offsets, int64_t nlist,
                                           const ListProbes* passes, int npasses, int nthreads) {
  std::vector<int64_t> work(nlist + 1, 0);
  for (int64_t l = 0; l < nlist; ++l) {
    int64_t probing = 0;
    for (int i = 0; i < npasses; ++i) probing += passes[i].start[l + 1] - passes[i].start[l];
    work[l + 1] = work[l] + (block_offsets[l + 1] - block_offsets[l]) * probing;
  }
  const int64_t ntasks = std::max<int64_t>(
      1, std::min<int64_t>(nthreads > 0 ? nthreads : default_threads(),
                           work[nlist] / kMinTaskWork + 1));
  std::vector<int64_t> cut(ntasks + 1, nlist);
  cut[0] = 0;
  for (int64_t t = 1, l = 0; t < ntasks; ++t) {
    while (l < nlist && work[l] * ntasks < work[nlist] * t) ++l;
    cut[t] = l;
  }
  return cut;
}

}  // namespace detail
}  // namespace vecpress
