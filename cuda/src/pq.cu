// Product-quantizer encoding: one block per (256 rows, sub-space). The
// sub-space's centroids and the rows' sub-vectors (transposed, so a warp's
// reads hit distinct banks) sit in shared memory; each thread scans every
// centroid for its row and keeps the first minimum (ties: lower index).
#include <cfloat>
#include <string>

#include "detail/check.cuh"
#include "vecpress/cuda/encode.hpp"

namespace vecpress {
namespace cuda {
namespace detail {
namespace {

constexpr int kRows = 256;  // rows per block = threads per block

// grid (ceil(n / 256), M); shared: ksub * dsub + dsub * 256 floats.
__global__ void pq_encode_kernel(const float* __restrict__ x, int64_t n, int64_t ldx,
                                 const float* __restrict__ centroids, int64_t M, int64_t ksub,
                                 int64_t dsub, uint8_t* __restrict__ codes) {
  extern __shared__ float sm[];
  float* cs = sm;                 // (ksub, dsub)
  float* xs = sm + ksub * dsub;   // (dsub, kRows): xs[t * kRows + row]
  const int64_t m = blockIdx.y;
  for (int64_t e = threadIdx.x; e < ksub * dsub; e += blockDim.x) cs[e] = centroids[m * ksub * dsub + e];
  const int64_t i = int64_t(blockIdx.x) * kRows + threadIdx.x;
  if (i < n)
    for (int64_t t = 0; t < dsub; ++t) xs[t * kRows + threadIdx.x] = x[i * ldx + m * dsub + t];
  __syncthreads();
  if (i >= n) return;
  float best = INFINITY;
  int best_c = 0;
  for (int c = 0; c < int(ksub); ++c) {
    const float* cc = cs + c * dsub;
    float s = 0.0f;
    for (int64_t t = 0; t < dsub; ++t) {
      const float diff = xs[t * kRows + threadIdx.x] - cc[t];
      s = fmaf(diff, diff, s);
    }
    if (s < best) {
      best = s;
      best_c = c;
    }
  }
  codes[i * M + m] = uint8_t(best_c);
}

}  // namespace
}  // namespace detail

void pq_encode(const float* x, int64_t n, int64_t x_stride, const float* centroids, int64_t M,
               int64_t ksub, int64_t dsub, uint8_t* codes, cudaStream_t stream) {
  using namespace detail;
  VP_CHECK(n >= 0, "negative sizes");
  VP_CHECK(M > 0 && dsub > 0, "M and dsub must be positive");
  VP_CHECK(ksub >= 1 && ksub <= 256, "8-bit PQ codes need 1 <= ksub <= 256");
  VP_CHECK(M * dsub <= x_stride, "M * dsub exceeds the vectors' dimension");
  VP_CHECK(M <= 65535, "the GPU encoder supports at most 65535 sub-spaces");
  if (n == 0) return;
  const size_t shm = size_t(ksub * dsub + dsub * kRows) * sizeof(float);
  reserve_shared(reinterpret_cast<const void*>(&pq_encode_kernel), shm,
                 "pq_encode (one sub-space's centroids + 256 sub-vectors)");
  dim3 grid(unsigned(ceil_div(n, kRows)), unsigned(M));
  pq_encode_kernel<<<grid, kRows, shm, stream>>>(x, n, x_stride, centroids, M, ksub, dsub, codes);
  check_launch("pq_encode_kernel");
}

}  // namespace cuda
}  // namespace vecpress
