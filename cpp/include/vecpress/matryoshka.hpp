// Matryoshka-truncated cascade search (adaptive retrieval, Kusupati et al.):
// stage 0 scans every row on its first dims[0] dimensions and keeps
// cands[0] candidates; stage s re-scores the survivors of stage s-1 on the
// first dims[s] dimensions and keeps cands[s]; the last stage keeps k.
// Rows are read in place (x_stride apart); nothing is copied.
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

// dims (nstages,) strictly increasing, dims[last] <= x_stride;
// cands (nstages - 1,) candidate counts kept after each stage but the last.
void matryoshka_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                       int64_t q_stride, Metric metric, const int64_t* dims,
                       const int64_t* cands, int nstages, int k, float* out_scores,
                       idx_t* out_ids, int nthreads, const uint64_t* allow = nullptr);

}  // namespace vecpress
