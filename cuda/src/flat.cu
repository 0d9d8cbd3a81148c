// Exact search: a tiled score kernel (64 queries x 64 rows per block, the
// inner products accumulated in registers, the metric applied in the epilogue)
// writes a batch of score rows, and the shared row selection keeps the top k.
// Queries are batched so the score matrix stays within kScoreBudget floats.
#include <algorithm>

#include "detail/check.cuh"
#include "detail/flat.cuh"
#include "detail/select.cuh"
#include "vecpress/cuda/search.hpp"

namespace vecpress {
namespace cuda {
namespace detail {

__global__ void row_norms_kernel(const float* __restrict__ x, int64_t n, int64_t ld, int64_t d,
                                 int metric, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= n) return;
  const float* xr = x + row * ld;
  float s = 0.0f;
  for (int64_t t = lane; t < d; t += 32) s = fmaf(xr[t], xr[t], s);
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) out[row] = norm_term(Metric(metric), s);
}

void row_norms(const float* x, int64_t n, int64_t ld, int64_t d, Metric metric, float* out,
               cudaStream_t stream) {
  if (n == 0) return;
  row_norms_kernel<<<unsigned(ceil_div(n, 8)), 256, 0, stream>>>(x, n, ld, d, int(metric), out);
  check_launch("row_norms_kernel");
}

void check_flat_args(int64_t n, int64_t x_stride, int64_t nq, int64_t q_stride, int64_t d, int k) {
  VP_CHECK(n >= 0 && nq >= 0, "negative sizes");
  VP_CHECK(d > 0, "the number of dimensions to score must be positive");
  VP_CHECK(d <= x_stride, "prefix length exceeds the base vectors' dimension");
  VP_CHECK(d <= q_stride, "prefix length exceeds the queries' dimension");
  check_topk_args(n, k);
}

namespace {

constexpr int kTile = 64;     // queries and base rows per block
constexpr int kTileK = 16;    // dimensions per shared-memory step
constexpr int64_t kScoreBudget = int64_t(64) << 20;  // floats in one batch's score matrix

// grid (ceil(n / 64), ceil(nqb / 64)), 256 threads; out (nqb, n).
// Thread (ty, tx) owns rows ty + 16r and columns tx + 16c (r, c < 4), so the
// shared-memory reads of a warp are broadcasts or consecutive.
__global__ void __launch_bounds__(256)
score_tile_kernel(const float* __restrict__ q, int64_t ldq, int64_t nqb,
                  const float* __restrict__ x, int64_t ldx, int64_t n, int64_t d, int metric,
                  const float* __restrict__ qn, const float* __restrict__ xn,
                  float* __restrict__ out) {
  __shared__ float qs[kTileK][kTile + 1];
  __shared__ float xs[kTileK][kTile + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t i0 = int64_t(blockIdx.y) * kTile, j0 = int64_t(blockIdx.x) * kTile;
  float acc[4][4] = {};
  for (int64_t t0 = 0; t0 < d; t0 += kTileK) {
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int e = threadIdx.x + 256 * l;
      const int r = e / kTileK, c = e % kTileK;
      const int64_t t = t0 + c;
      qs[c][r] = (i0 + r < nqb && t < d) ? q[(i0 + r) * ldq + t] : 0.0f;
      xs[c][r] = (j0 + r < n && t < d) ? x[(j0 + r) * ldx + t] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kTileK; ++c) {
      float a[4], b[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        a[r] = qs[c][ty + 16 * r];
        b[r] = xs[c][tx + 16 * r];
      }
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int s = 0; s < 4; ++s) acc[r][s] = fmaf(a[r], b[s], acc[r][s]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int64_t i = i0 + ty + 16 * r;
    if (i >= nqb) continue;
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      const int64_t j = j0 + tx + 16 * s;
      if (j >= n) continue;
      float v = acc[r][s];
      if (metric != int(Metric::IP)) v = finish_score(Metric(metric), v, qn[i], xn[j]);
      out[i * n + j] = v;
    }
  }
}

}  // namespace
}  // namespace detail

void flat_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                 int64_t q_stride, int64_t d, Metric metric, int k, float* out_scores,
                 idx_t* out_ids, cudaStream_t stream) {
  using namespace detail;
  check_flat_args(n, x_stride, nq, q_stride, d, k);
  if (nq == 0 || k == 0) return;
  Scratch<float> qn(metric == Metric::IP ? 0 : size_t(nq), stream);
  Scratch<float> xn(metric == Metric::IP ? 0 : size_t(n), stream);
  if (metric != Metric::IP) {
    row_norms(q, nq, q_stride, d, metric, qn.get(), stream);
    row_norms(x, n, x_stride, d, metric, xn.get(), stream);
  }
  const int64_t batch = std::min({nq, std::max<int64_t>(1, kScoreBudget / std::max<int64_t>(1, n)),
                                  int64_t(65535) * kTile});
  Scratch<float> scores(size_t(batch * n), stream);
  for (int64_t q0 = 0; q0 < nq; q0 += batch) {
    const int64_t nqb = std::min(batch, nq - q0);
    if (n > 0) {
      dim3 grid(unsigned(ceil_div(n, kTile)), unsigned(ceil_div(nqb, kTile)));
      score_tile_kernel<<<grid, 256, 0, stream>>>(q + q0 * q_stride, q_stride, nqb, x, x_stride, n,
                                                  d, int(metric), qn.get() ? qn.get() + q0 : nullptr,
                                                  xn.get(), scores.get());
      check_launch("score_tile_kernel");
    }
    select_rows(scores.get(), n, nullptr, nqb, n, k, metric_larger_is_better(metric),
                out_scores + q0 * k, nullptr, out_ids + q0 * k, stream);
  }
}

}  // namespace cuda
}  // namespace vecpress
