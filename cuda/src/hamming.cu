// Binary codes on the GPU: sign-bit packing with warp ballots, and a fused
// Hamming scan + top-k (one block per (query, chunk of rows); the query code
// lives in shared memory; each thread scores kItems rows before offering them,
// so several row loads are in flight per thread).
#include <cstdint>
#include <string>

#include "detail/check.cuh"
#include "detail/select.cuh"
#include "vecpress/cuda/search.hpp"

namespace vecpress {
namespace cuda {
namespace detail {
namespace {

constexpr int kItems = 4;

// One warp per (row, 64-bit word): lane i decides dims 64w + i and 64w + 32 + i;
// the two ballots are the word's low and high halves (bit i = dim 64w + i,
// i.e. LSB first in little-endian bytes, as cpp/include/vecpress/hamming.hpp).
__global__ void binarize_kernel(const float* __restrict__ x, int64_t n, int64_t ld, int64_t d,
                                const float* __restrict__ thresholds, int64_t nwords,
                                uint64_t* __restrict__ codes) {
  const int lane = threadIdx.x & 31;
  const int64_t gw = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (gw >= n * nwords) return;  // whole warp
  const int64_t row = gw / nwords, w = gw % nwords;
  const float* xr = x + row * ld;
  const int64_t t0 = w * 64 + lane, t1 = t0 + 32;
  const bool b0 = t0 < d && xr[t0] > (thresholds ? thresholds[t0] : 0.0f);
  const bool b1 = t1 < d && xr[t1] > (thresholds ? thresholds[t1] : 0.0f);
  const unsigned lo = __ballot_sync(0xffffffffu, b0);
  const unsigned hi = __ballot_sync(0xffffffffu, b1);
  if (lane == 0) codes[gw] = (uint64_t(hi) << 32) | lo;
}

// grid (nq, nchunks), kSelectThreads threads; output (nq, nchunks, k).
__global__ void hamming_scan_kernel(const uint64_t* __restrict__ q, const uint64_t* __restrict__ x,
                                    int64_t n, int nwords, int64_t chunk, int k,
                                    float* out_vals, int32_t* out_ivals, idx_t* out_ids) {
  extern __shared__ int4 smem[];
  uint64_t* qs = reinterpret_cast<uint64_t*>(smem);
  for (int w = threadIdx.x; w < nwords; w += blockDim.x) qs[w] = q[int64_t(blockIdx.x) * nwords + w];
  BlockSelect sel(qs + nwords, k, /*largest=*/false);  // its constructor syncs the block
  const int64_t begin = int64_t(blockIdx.y) * chunk;
  const int64_t end = min(n, begin + chunk);
  for (int64_t base = begin; base < end; base += kItems * blockDim.x) {
    int dist[kItems];
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int64_t j = base + it * blockDim.x + threadIdx.x;
      int s = 0;
      if (j < end) {
        const uint64_t* xj = x + j * nwords;
        for (int w = 0; w < nwords; ++w) s += __popcll(qs[w] ^ xj[w]);
      }
      dist[it] = s;
    }
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int64_t j = base + it * blockDim.x + threadIdx.x;
      sel.offer(j < end, float(dist[it]), int(j));
    }
  }
  sel.finish();
  const int64_t o = (int64_t(blockIdx.x) * gridDim.y + blockIdx.y) * k;
  sel.write(out_vals ? out_vals + o : nullptr, out_ivals ? out_ivals + o : nullptr, out_ids + o);
}

bool aligned8(const void* p) { return reinterpret_cast<uintptr_t>(p) % 8 == 0; }

}  // namespace
}  // namespace detail

void binarize(const float* x, int64_t n, int64_t x_stride, int64_t d, const float* thresholds,
              uint8_t* codes, cudaStream_t stream) {
  using namespace detail;
  VP_CHECK(n >= 0, "negative sizes");
  VP_CHECK(d > 0 && d <= x_stride, "binarize: d must be in [1, row length]");
  VP_CHECK(aligned8(codes), "binary codes must be 8-byte aligned on the GPU");
  const int64_t nwords = (d + 63) / 64;
  if (n == 0) return;
  binarize_kernel<<<unsigned(ceil_div(n * nwords, 8)), 256, 0, stream>>>(
      x, n, x_stride, d, thresholds, nwords, reinterpret_cast<uint64_t*>(codes));
  check_launch("binarize_kernel");
}

void hamming_search(const uint8_t* qcodes, int64_t nq, const uint8_t* codes, int64_t n,
                    int64_t nbytes, int k, int32_t* out_dist, idx_t* out_ids,
                    cudaStream_t stream) {
  using namespace detail;
  VP_CHECK(nbytes > 0 && nbytes % 8 == 0,
           "binary codes must be a positive multiple of 8 bytes wide (see binary_code_bytes)");
  VP_CHECK(aligned8(qcodes) && aligned8(codes),
           "binary codes must start on an 8-byte boundary on the GPU (copy the slice)");
  VP_CHECK(nq >= 0 && n >= 0, "negative sizes");
  check_topk_args(n, k);
  if (nq == 0 || k == 0) return;
  const int nwords = int(nbytes / 8);
  const size_t shm = size_t(nwords) * 8 + select_shared_bytes(k);
  reserve_shared(reinterpret_cast<const void*>(&hamming_scan_kernel), shm, "hamming_search");
  auto q = reinterpret_cast<const uint64_t*>(qcodes);
  auto x = reinterpret_cast<const uint64_t*>(codes);
  ChunkPlan plan = plan_chunks(nq, n, k);
  if (plan.nchunks == 1) {
    hamming_scan_kernel<<<dim3(unsigned(nq), 1), kSelectThreads, shm, stream>>>(
        q, x, n, nwords, plan.chunk, k, nullptr, out_dist, out_ids);
    check_launch("hamming_scan_kernel");
    return;
  }
  const int64_t nparts = plan.nchunks * k;
  Scratch<float> pv(size_t(nq * nparts), stream);
  Scratch<idx_t> pi(size_t(nq * nparts), stream);
  hamming_scan_kernel<<<dim3(unsigned(nq), unsigned(plan.nchunks)), kSelectThreads, shm, stream>>>(
      q, x, n, nwords, plan.chunk, k, pv.get(), nullptr, pi.get());
  check_launch("hamming_scan_kernel");
  select_rows(pv.get(), nparts, pi.get(), nq, nparts, k, false, nullptr, out_dist, out_ids, stream);
}

}  // namespace cuda
}  // namespace vecpress
