// Matryoshka cascade: a prefix scan (flat_search on dims[0]) then reranks of
// the survivors on longer prefixes. A rerank scores each candidate with one
// warp (coalesced reads of a scattered row) and selects with the shared row
// selection, using the candidate lists as ids. Everything stays on the stream.
#include <memory>
#include <string>

#include "detail/check.cuh"
#include "detail/flat.cuh"
#include "detail/select.cuh"
#include "vecpress/cuda/search.hpp"

namespace vecpress {
namespace cuda {
namespace detail {
namespace {

// grid nq, 256 threads (8 warps); scores (nq, nc) for candidates cand (nq, nc)
// on the first d dims; ids < 0 are skipped by the selection that follows, so
// their score is left as 0. Ids come from our own prefix scan (always < n).
__global__ void rerank_scores_kernel(const float* __restrict__ x, int64_t ldx,
                                     const float* __restrict__ q, int64_t ldq, int64_t d,
                                     int metric, const idx_t* __restrict__ cand, int64_t nc,
                                     float* __restrict__ scores) {
  __shared__ float q_inv_norm;
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  const float* qi = q + int64_t(blockIdx.x) * ldq;
  if (metric == int(Metric::Cosine) && warp == 0) {
    float s = 0.0f;
    for (int64_t t = lane; t < d; t += 32) s = fmaf(qi[t], qi[t], s);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) q_inv_norm = norm_term(Metric::Cosine, s);
  }
  __syncthreads();
  const idx_t* ci = cand + int64_t(blockIdx.x) * nc;
  float* si = scores + int64_t(blockIdx.x) * nc;
  for (int64_t c = warp; c < nc; c += nwarps) {
    const idx_t j = ci[c];
    if (j < 0) {
      if (lane == 0) si[c] = 0.0f;
      continue;
    }
    const float* xj = x + j * ldx;
    float a = 0.0f, b = 0.0f;  // IP/Cosine: <q, x>, ||x||^2; L2: ||q - x||^2 in a
    for (int64_t t = lane; t < d; t += 32) {
      const float xv = xj[t], qv = qi[t];
      if (metric == int(Metric::L2)) {
        const float diff = qv - xv;
        a = fmaf(diff, diff, a);
      } else {
        a = fmaf(qv, xv, a);
        b = fmaf(xv, xv, b);
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      a += __shfl_xor_sync(0xffffffffu, a, o);
      b += __shfl_xor_sync(0xffffffffu, b, o);
    }
    if (lane == 0) {
      if (metric == int(Metric::Cosine)) a *= q_inv_norm * norm_term(Metric::Cosine, b);
      si[c] = a;
    }
  }
}

}  // namespace
}  // namespace detail

void matryoshka_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                       int64_t q_stride, Metric metric, const int64_t* dims,
                       const int64_t* cands, int nstages, int k, float* out_scores,
                       idx_t* out_ids, cudaStream_t stream) {
  using namespace detail;
  VP_CHECK(nstages >= 1, "a cascade needs at least one stage");
  for (int s = 0; s < nstages; ++s) {
    VP_CHECK(dims[s] > 0 && dims[s] <= x_stride, "stage dimension out of range");
    if (s > 0) VP_CHECK(dims[s] > dims[s - 1], "stage dimensions must increase");
    if (s < nstages - 1) {
      VP_CHECK(cands[s] >= k, "each stage must keep at least k candidates");
      VP_CHECK(cands[s] <= kMaxK,
               "the GPU keeps at most " + std::to_string(kMaxK) + " candidates per stage");
    }
  }
  check_flat_args(n, x_stride, nq, q_stride, dims[nstages - 1], k);
  if (nstages == 1) {
    flat_search(x, n, x_stride, q, nq, q_stride, dims[0], metric, k, out_scores, out_ids, stream);
    return;
  }
  if (nq == 0 || k == 0) return;
  int64_t nc = cands[0];
  auto ids = std::make_unique<Scratch<idx_t>>(size_t(nq * nc), stream);
  {
    Scratch<float> sv(size_t(nq * nc), stream);
    flat_search(x, n, x_stride, q, nq, q_stride, dims[0], metric, int(nc), sv.get(), ids->get(),
                stream);
  }
  const bool largest = metric_larger_is_better(metric);
  for (int s = 1; s < nstages; ++s) {
    Scratch<float> scores(size_t(nq * nc), stream);
    rerank_scores_kernel<<<unsigned(nq), 256, 0, stream>>>(x, x_stride, q, q_stride, dims[s],
                                                           int(metric), ids->get(), nc,
                                                           scores.get());
    check_launch("rerank_scores_kernel");
    if (s == nstages - 1) {
      select_rows(scores.get(), nc, ids->get(), nq, nc, k, largest, out_scores, nullptr, out_ids,
                  stream);
    } else {
      const int64_t keep = cands[s];
      auto kept = std::make_unique<Scratch<idx_t>>(size_t(nq * keep), stream);
      Scratch<float> kept_scores(size_t(nq * keep), stream);
      select_rows(scores.get(), nc, ids->get(), nq, nc, int(keep), largest, kept_scores.get(),
                  nullptr, kept->get(), stream);
      ids = std::move(kept);
      nc = keep;
    }
  }
}

}  // namespace cuda
}  // namespace vecpress
