// PRIVATE: pieces of exact search shared by flat.cu and matryoshka.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {
namespace cuda {
namespace detail {

// Per-row term the metric needs: squared norm (L2) or inverse norm (Cosine),
// as the CPU kernels compute it (a zero vector gets inverse norm 0).
__host__ __device__ inline float norm_term(Metric m, float sq) {
  if (m == Metric::Cosine) return sq > 0.0f ? 1.0f / sqrtf(sq) : 0.0f;
  return sq;
}

// Raw inner product -> the metric's score (same formula as cpp/src/flat.cpp).
__device__ inline float finish_score(Metric m, float ip, float qn, float xn) {
  if (m == Metric::L2) return fmaxf(0.0f, qn + xn - 2.0f * ip);
  if (m == Metric::Cosine) return ip * qn * xn;
  return ip;
}

// out[r] = norm_term(metric, ||x[r, :d]||^2) for r < n (x rows ld apart).
void row_norms(const float* x, int64_t n, int64_t ld, int64_t d, Metric metric, float* out,
               cudaStream_t stream);

void check_flat_args(int64_t n, int64_t x_stride, int64_t nq, int64_t q_stride, int64_t d, int k);

}  // namespace detail
}  // namespace cuda
}  // namespace vecpress
