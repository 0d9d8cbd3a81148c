// Row-wise top-k over dense score matrices (and the merge of partial lists),
// one (row, chunk) per block, on the shared BlockSelect.
#include <algorithm>

#include "detail/check.cuh"
#include "detail/select.cuh"
#include "vecpress/cuda/search.hpp"

namespace vecpress {
namespace cuda {
namespace detail {
namespace {

// grid (nrows, nchunks); block kSelectThreads; output (nrows, nchunks, k).
__global__ void select_rows_kernel(const float* __restrict__ scores, int64_t ld,
                                   const idx_t* __restrict__ ids_in, int64_t n, int64_t chunk,
                                   int k, bool largest, float* out_vals, int32_t* out_ivals,
                                   idx_t* out_ids) {
  extern __shared__ int4 smem[];
  BlockSelect sel(smem, k, largest);
  const int64_t row = blockIdx.x;
  const int64_t begin = int64_t(blockIdx.y) * chunk;
  const int64_t end = min(n, begin + chunk);
  const float* s = scores + row * ld;
  const idx_t* ids = ids_in ? ids_in + row * ld : nullptr;
  for (int64_t base = begin; base < end; base += blockDim.x) {
    int64_t j = base + threadIdx.x;
    bool have = j < end;
    float v = 0.0f;
    int id = -1;
    if (have) {
      v = s[j];
      id = ids ? int(ids[j]) : int(j);
      have = id >= 0;
    }
    sel.offer(have, v, id);
  }
  sel.finish();
  const int64_t o = (row * gridDim.y + blockIdx.y) * k;
  sel.write(out_vals ? out_vals + o : nullptr, out_ivals ? out_ivals + o : nullptr, out_ids + o);
}

}  // namespace

ChunkPlan plan_chunks(int64_t nrows, int64_t n, int k) {
  const int64_t target_blocks = 4 * int64_t(current_sm_count());
  const int64_t min_chunk = std::max<int64_t>(4096, 8 * int64_t(k));
  int64_t nchunks = 1;
  if (nrows < target_blocks) {
    nchunks = std::min(ceil_div(target_blocks, std::max<int64_t>(1, nrows)),
                       std::max<int64_t>(1, n / min_chunk));
    nchunks = std::min<int64_t>(nchunks, 65535);  // grid.y limit
  }
  return {nchunks, std::max<int64_t>(1, ceil_div(n, nchunks))};
}

void check_topk_args(int64_t n, int k) {
  VP_CHECK(k >= 0, "k must be non-negative");
  VP_CHECK(k <= kMaxK, "k must be at most " + std::to_string(kMaxK) + " on the GPU");
  VP_CHECK(n < int64_t(INT32_MAX), "the GPU kernels index at most 2^31 - 1 rows");
}

void select_rows(const float* scores, int64_t ld, const idx_t* ids_in, int64_t nrows, int64_t n,
                 int k, bool largest, float* out_vals, int32_t* out_ivals, idx_t* out_ids,
                 cudaStream_t stream) {
  if (nrows == 0 || k == 0) return;
  const size_t shm = select_shared_bytes(k);
  ChunkPlan plan = plan_chunks(nrows, n, k);
  if (plan.nchunks == 1) {
    select_rows_kernel<<<dim3(unsigned(nrows), 1), kSelectThreads, shm, stream>>>(
        scores, ld, ids_in, n, plan.chunk, k, largest, out_vals, out_ivals, out_ids);
    check_launch("select_rows_kernel");
    return;
  }
  const int64_t nparts = plan.nchunks * k;
  Scratch<float> pv(size_t(nrows * nparts), stream);
  Scratch<idx_t> pi(size_t(nrows * nparts), stream);
  select_rows_kernel<<<dim3(unsigned(nrows), unsigned(plan.nchunks)), kSelectThreads, shm, stream>>>(
      scores, ld, ids_in, n, plan.chunk, k, largest, pv.get(), nullptr, pi.get());
  check_launch("select_rows_kernel");
  select_rows(pv.get(), nparts, pi.get(), nrows, nparts, k, largest, out_vals, out_ivals, out_ids,
              stream);
}

}  // namespace detail

void topk_select(const float* scores, int64_t nq, int64_t n, int k, bool largest,
                 float* out_vals, idx_t* out_ids, cudaStream_t stream) {
  VP_CHECK(nq >= 0 && n >= 0, "negative sizes");
  detail::check_topk_args(n, k);
  detail::select_rows(scores, n, nullptr, nq, n, k, largest, out_vals, nullptr, out_ids, stream);
}

}  // namespace cuda
}  // namespace vecpress
