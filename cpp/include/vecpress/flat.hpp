// Exact (brute-force) search over float vectors, optionally on a prefix of the
// dimensions, and exact re-scoring of candidate lists.
//
// Layouts (all row-major, C order):
//   x    (n, x_stride)  float32 base vectors; only the first d columns are read,
//                       so a Matryoshka prefix is a view of the stored rows.
//   q    (nq, q_stride) float32 queries; the first d columns are read.
//   out  (nq, k)        scores (IP/Cosine: larger is better) or squared L2
//                       distances, best first; ids (nq, k) int64 row numbers,
//                       padded with -1 (and the metric's worst value) when k > n.
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

void flat_search(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                 int64_t q_stride, int64_t d, Metric metric, int k, float* out_scores,
                 idx_t* out_ids, int nthreads, const uint64_t* allow = nullptr);

// Re-scores candidate rows cand (nq, nc) (entries < 0 are skipped) with the
// first d dimensions and keeps the best k per query.
void rerank_exact(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                  int64_t q_stride, int64_t d, Metric metric, const idx_t* cand, int64_t nc,
                  int k, float* out_scores, idx_t* out_ids, int nthreads);

// Full score matrix out (nq, n) on the first d dims. With Metric::IP it is the
// matrix product q[:, :d] @ x[:, :d]^T (rotations apply through it).
void pairwise_scores(const float* x, int64_t n, int64_t x_stride, const float* q, int64_t nq,
                     int64_t q_stride, int64_t d, Metric metric, float* out, int nthreads);

}  // namespace vecpress
