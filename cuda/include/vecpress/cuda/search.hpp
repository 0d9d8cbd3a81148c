// CUDA versions of the search kernels in cpp/include/vecpress/{topk,flat,
// matryoshka,hamming,adc}.hpp: same names, same layouts, same results (top-k
// best first, ties by the lower id, padded with id -1 and the metric's worst
// value when k > n). Every pointer is device memory; every function only
// enqueues work on `stream` (no host synchronisation, no host copies), and
// throws vecpress::Error on bad arguments or a CUDA error at launch.
//
// Limits: k <= kMaxK; n < 2^31 rows.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {
namespace cuda {

constexpr int kMaxK = 2048;

// Top-k of each row of a dense score matrix. scores (nq, n) float32;
// out (nq, k), largest=true keeps the biggest.
void topk_select(const float* scores, int64_t nq, int64_t n, int k, bool largest,
                 float* out_vals, idx_t* out_ids, cudaStream_t stream);

// Exact search on the first d columns. x (n, x_stride), q (nq, q_stride)
// float32; out_scores/out_ids (nq, k). IP/Cosine: larger is better; L2:
// squared distance, smaller is better.
void flat_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                 int64_t q_stride, int64_t d, Metric metric, int k, float* out_scores,
                 idx_t* out_ids, cudaStream_t stream);

// Cascade: prefix scan on dims[0] keeping cands[0], reranks on dims[1..]
// (dims and cands are HOST arrays of nstages and nstages - 1 entries).
void matryoshka_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                       int64_t q_stride, Metric metric, const int64_t* dims,
                       const int64_t* cands, int nstages, int k, float* out_scores,
                       idx_t* out_ids, cudaStream_t stream);

// Sign bits, LSB first: codes (n, 8 * ceil(d / 64)) uint8; bit i of row r is
// x[r, i] > thresholds[i] (thresholds may be null: 0). Padding bits are 0.
void binarize(const float* x, int64_t n, int64_t x_stride, int64_t d, const float* thresholds,
              uint8_t* codes, cudaStream_t stream);

// k smallest Hamming distances: qcodes (nq, nbytes), codes (n, nbytes) uint8,
// nbytes a multiple of 8 and both pointers 8-byte aligned;
// out_dist (nq, k) int32 (padding INT32_MAX), out_ids (nq, k).
void hamming_search(const uint8_t* qcodes, int64_t nq, const uint8_t* codes, int64_t n,
                    int64_t nbytes, int k, int32_t* out_dist, idx_t* out_ids,
                    cudaStream_t stream);

// ADC tables for a product quantizer. q (nq, M * dsub) float32;
// centroids (M, ksub, dsub); tables (nq, M, ksub):
//   ip: tables[i, m, c] = <q_m, centroids[m, c]>,  l2: ||q_m - centroids[m, c]||^2
// where q_m = q[i, m * dsub : (m + 1) * dsub].
void adc_table_ip(const float* q, int64_t nq, const float* centroids, int64_t M, int64_t ksub,
                  int64_t dsub, float* tables, cudaStream_t stream);
void adc_table_l2(const float* q, int64_t nq, const float* centroids, int64_t M, int64_t ksub,
                  int64_t dsub, float* tables, cudaStream_t stream);

// Top-k of sum_m tables[i, m, codes[j, m]]: tables (nq, M, 256) float32 (one
// query's tables are held in shared memory), codes (n, M) uint8.
void adc_search_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                   bool largest, int k, float* out_scores, idx_t* out_ids, cudaStream_t stream);

}  // namespace cuda
}  // namespace vecpress
