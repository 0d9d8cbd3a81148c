// CUDA version of the RaBitQ popcount scan in cpp/include/vecpress/rabitq.hpp: same
// name, same layouts, same results (top-k best first, ties by the lower id, padded
// with id -1 and the worst value when k > n). Pointers are device memory; the
// function only enqueues work on `stream` and throws vecpress::Error on bad
// arguments or a CUDA error at launch. No row filter (`allow`) on the GPU.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "vecpress/rabitq.hpp"
#include "vecpress/types.hpp"

namespace vecpress {
namespace cuda {

// qplanes (nq, qb, D / 64) uint64 (plane p: bit p of the query's qb-bit integers u_i),
// qc (nq, kRabitqQueryConsts) float32, codes (n, rabitq_code_bytes(D)) uint8 (sign bits,
// then [f_add, f_mul, f_pop, f_err] float32); qplanes and codes 8-byte aligned.
// Score of row j for query i, with ip = sum_p 2^p popcount(bits_j AND plane_{i,p}):
//   est = f_add + qc[0] + qc[1] * (f_mul * (qc[2] * ip + qc[3]) + qc[4] * f_pop)
// evaluated in this order with one rounding per operation (no FMA contraction), as the
// CPU kernel computes it, so the estimates are the CPU's floats bit for bit.
// out_vals / out_ids (nq, k): the k largest estimates when largest, else the k smallest.
// Limits: 1 <= qb <= 8, k <= kMaxK, n < 2^31.
void rabitq_search(const uint64_t* qplanes, int64_t nq, int qb, const float* qc,
                   const uint8_t* codes, int64_t n, int64_t D, bool largest, int k,
                   float* out_vals, idx_t* out_ids, cudaStream_t stream);

}  // namespace cuda
}  // namespace vecpress
