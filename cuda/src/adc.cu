// Asymmetric distance computation on the GPU: per-(query, sub-space) tables,
// and a fused 8-bit ADC scan + top-k in which one block holds one query's
// (M, 256) tables in shared memory and scores a chunk of codes. Each code is
// summed into two partial sums (even / odd sub-spaces) added at the end, the
// order cpp/src/adc.cpp uses, so scores match the CPU bit for bit.
#include <cstdint>

#include "detail/check.cuh"
#include "detail/select.cuh"
#include "vecpress/cuda/search.hpp"

namespace vecpress {
namespace cuda {
namespace detail {
namespace {

constexpr int kItems = 4;

// grid (nq, M), 256 threads, dsub floats of shared memory.
__global__ void adc_table_kernel(const float* __restrict__ q, int64_t M, int64_t ksub,
                                 int64_t dsub, const float* __restrict__ centroids, bool l2,
                                 float* __restrict__ tables) {
  extern __shared__ float qs[];
  const int64_t i = blockIdx.x, m = blockIdx.y;
  for (int64_t t = threadIdx.x; t < dsub; t += blockDim.x) qs[t] = q[(i * M + m) * dsub + t];
  __syncthreads();
  for (int64_t c = threadIdx.x; c < ksub; c += blockDim.x) {
    const float* cc = centroids + (m * ksub + c) * dsub;
    float s = 0.0f;
    for (int64_t t = 0; t < dsub; ++t) {
      if (l2) {
        const float diff = qs[t] - cc[t];
        s = fmaf(diff, diff, s);
      } else {
        s = fmaf(qs[t], cc[t], s);
      }
    }
    tables[(i * M + m) * ksub + c] = s;
  }
}

__device__ __forceinline__ float adc_score(const float* T, const uint8_t* code, int M, bool words) {
  float a = 0.0f, b = 0.0f;
  if (words) {
    const uint32_t* cw = reinterpret_cast<const uint32_t*>(code);
    for (int w = 0; w < M / 4; ++w) {
      const uint32_t v = cw[w];
      const float* t = T + 4 * w * 256;
      a += t[v & 255u];
      b += t[256 + ((v >> 8) & 255u)];
      a += t[512 + ((v >> 16) & 255u)];
      b += t[768 + (v >> 24)];
    }
  } else {
    int m = 0;
    for (; m + 2 <= M; m += 2) {
      a += T[m * 256 + code[m]];
      b += T[(m + 1) * 256 + code[m + 1]];
    }
    if (m < M) a += T[m * 256 + code[m]];
  }
  return a + b;
}

// grid (nq, nchunks), kSelectThreads threads; output (nq, nchunks, k).
__global__ void adc_scan_kernel(const float* __restrict__ tables, int M,
                                const uint8_t* __restrict__ codes, int64_t n, int64_t chunk,
                                bool words, bool largest, int k, float* out_vals, idx_t* out_ids) {
  extern __shared__ int4 smem[];
  float* T = reinterpret_cast<float*>(smem);
  const float* tq = tables + int64_t(blockIdx.x) * M * 256;
  for (int e = threadIdx.x; e < M * 256; e += blockDim.x) T[e] = tq[e];
  BlockSelect sel(T + M * 256, k, largest);  // its constructor syncs the block
  const int64_t begin = int64_t(blockIdx.y) * chunk;
  const int64_t end = min(n, begin + chunk);
  for (int64_t base = begin; base < end; base += kItems * blockDim.x) {
    float sc[kItems];
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int64_t j = base + it * blockDim.x + threadIdx.x;
      sc[it] = j < end ? adc_score(T, codes + j * M, M, words) : 0.0f;
    }
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int64_t j = base + it * blockDim.x + threadIdx.x;
      sel.offer(j < end, sc[it], int(j));
    }
  }
  sel.finish();
  const int64_t o = (int64_t(blockIdx.x) * gridDim.y + blockIdx.y) * k;
  sel.write(out_vals + o, nullptr, out_ids + o);
}

void adc_table(const float* q, int64_t nq, const float* centroids, int64_t M, int64_t ksub,
               int64_t dsub, bool l2, float* tables, cudaStream_t stream) {
  VP_CHECK(nq >= 0, "negative sizes");
  VP_CHECK(M > 0 && ksub > 0 && dsub > 0, "M, ksub and dsub must be positive");
  VP_CHECK(M <= 65535, "the GPU table builder supports at most 65535 sub-spaces");
  if (nq == 0) return;
  const size_t shm = size_t(dsub) * sizeof(float);
  reserve_shared(reinterpret_cast<const void*>(&adc_table_kernel), shm, "adc_table");
  adc_table_kernel<<<dim3(unsigned(nq), unsigned(M)), 256, shm, stream>>>(q, M, ksub, dsub,
                                                                         centroids, l2, tables);
  check_launch("adc_table_kernel");
}

}  // namespace
}  // namespace detail

void adc_table_ip(const float* q, int64_t nq, const float* centroids, int64_t M, int64_t ksub,
                  int64_t dsub, float* tables, cudaStream_t stream) {
  detail::adc_table(q, nq, centroids, M, ksub, dsub, false, tables, stream);
}

void adc_table_l2(const float* q, int64_t nq, const float* centroids, int64_t M, int64_t ksub,
                  int64_t dsub, float* tables, cudaStream_t stream) {
  detail::adc_table(q, nq, centroids, M, ksub, dsub, true, tables, stream);
}

void adc_search_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                   bool largest, int k, float* out_scores, idx_t* out_ids, cudaStream_t stream) {
  using namespace detail;
  VP_CHECK(M > 0, "M must be positive");
  VP_CHECK(nq >= 0 && n >= 0, "negative sizes");
  check_topk_args(n, k);
  if (nq == 0 || k == 0) return;
  const size_t shm = size_t(M) * 256 * sizeof(float) + select_shared_bytes(k);
  reserve_shared(reinterpret_cast<const void*>(&adc_scan_kernel), shm,
                 "adc_search_u8 (one query's (M, 256) tables)");
  // 32-bit code loads when every row starts on a 4-byte boundary.
  const bool words = M % 4 == 0 && reinterpret_cast<uintptr_t>(codes) % 4 == 0;
  ChunkPlan plan = plan_chunks(nq, n, k);
  if (plan.nchunks == 1) {
    adc_scan_kernel<<<dim3(unsigned(nq), 1), kSelectThreads, shm, stream>>>(
        tables, int(M), codes, n, plan.chunk, words, largest, k, out_scores, out_ids);
    check_launch("adc_scan_kernel");
    return;
  }
  const int64_t nparts = plan.nchunks * k;
  Scratch<float> pv(size_t(nq * nparts), stream);
  Scratch<idx_t> pi(size_t(nq * nparts), stream);
  adc_scan_kernel<<<dim3(unsigned(nq), unsigned(plan.nchunks)), kSelectThreads, shm, stream>>>(
      tables, int(M), codes, n, plan.chunk, words, largest, k, pv.get(), pi.get());
  check_launch("adc_scan_kernel");
  select_rows(pv.get(), nparts, pi.get(), nq, nparts, k, largest, out_scores, nullptr, out_ids,
              stream);
}

}  // namespace cuda
}  // namespace vecpress
