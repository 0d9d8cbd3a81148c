// Cascade = one prefix scan + successive in-place reranks with longer prefixes.
#include "vecpress/matryoshka.hpp"

#include <vector>

#include "vecpress/flat.hpp"

namespace vecpress {

void matryoshka_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                       int64_t q_stride, Metric metric, const int64_t* dims,
                       const int64_t* cands, int nstages, int k, float* out_scores,
                       idx_t* out_ids, int nthreads, const uint64_t* allow) {
  VP_CHECK(nstages >= 1, "a cascade needs at least one stage");
  for (int s = 0; s < nstages; ++s) {
    VP_CHECK(dims[s] > 0 && dims[s] <= x_stride, "stage dimension out of range");
    if (s > 0) VP_CHECK(dims[s] > dims[s - 1], "stage dimensions must increase");
    if (s < nstages - 1) VP_CHECK(cands[s] >= k, "each stage must keep at least k candidates");
  }
  if (nstages == 1) {
    flat_search(x, n, x_stride, q, nq, q_stride, dims[0], metric, k, out_scores, out_ids, nthreads,
                allow);
    return;
  }
  int64_t nc = cands[0];
  std::vector<float> sv(nq * nc);
  std::vector<idx_t> ids(nq * nc);
  flat_search(x, n, x_stride, q, nq, q_stride, dims[0], metric, int(nc), sv.data(), ids.data(),
              nthreads, allow);
  for (int s = 1; s < nstages; ++s) {
    int64_t keep = s == nstages - 1 ? k : cands[s];
    if (s == nstages - 1) {
      rerank_exact(x, n, x_stride, q, nq, q_stride, dims[s], metric, ids.data(), nc, int(keep),
                   out_scores, out_ids, nthreads);
    } else {
      std::vector<float> sv2(nq * keep);
      std::vector<idx_t> ids2(nq * keep);
      rerank_exact(x, n, x_stride, q, nq, q_stride, dims[s], metric, ids.data(), nc, int(keep),
                   sv2.data(), ids2.data(), nthreads);
      ids.swap(ids2);
      nc = keep;
    }
  }
}

}  // namespace vecpress
