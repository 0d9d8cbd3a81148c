// CUDA encoders for product and residual quantizers (same semantics as the
// CPU pq/rq kernels). Device pointers, enqueue only, throw vecpress::Error.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {
namespace cuda {

// Nearest centroid by squared L2 in each sub-space (ties: lower index).
// x (n, x_stride) float32, first M * dsub columns; centroids (M, ksub, dsub),
// ksub <= 256; codes (n, M) uint8.
void pq_encode(const float* x, int64_t n, int64_t x_stride, const float* centroids, int64_t M,
               int64_t ksub, int64_t dsub, uint8_t* codes, cudaStream_t stream);

// Residual quantization by beam search. x (n, x_stride) float32, first d
// columns; codebooks (M, ksub, d), ksub <= 256; codes (n, M) uint8.
// Stage m extends each of the (at most) `beam` partial encodings kept so far
// (one empty one at the start) by every codeword of codebook m and keeps the
// `beam` candidates with the smallest ||x - sum of chosen codewords||^2; ties go
// to the lower candidate index (beam * ksub + codeword). The result is the
// lowest-error encoding after the last stage. beam <= kMaxBeam.
constexpr int kMaxBeam = 32;
void rq_encode_beam(const float* x, int64_t n, int64_t x_stride, const float* codebooks,
                    int64_t M, int64_t ksub, int64_t d, int beam, uint8_t* codes,
                    cudaStream_t stream);

}  // namespace cuda
}  // namespace vecpress
