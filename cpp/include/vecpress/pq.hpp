// Product quantization (Jegou et al.): a d-dim vector is cut into M
// sub-vectors of dsub = d / M dims, each replaced by the index of its nearest
// centroid among ksub = 2^nbits (nbits in {4, 8}) learned by k-means.
//
// Layouts (row-major, C order):
//   x          (n, d)              float32 vectors
//   centroids  (M, ksub, dsub)     float32, sub-quantizer m at centroids + m * ksub * dsub
//   codes      (n, M)              uint8, one code per byte (also for 4-bit codes: this is the
//                                  unpacked layout; the fast-scan packed layout is in fastscan.hpp)
#pragma once
#include <cstdint>

#include "vecpress/kmeans.hpp"
#include "vecpress/types.hpp"

namespace vecpress {

// Trains the M sub-quantizers independently (k-means on each sub-space, in
// parallel over sub-spaces; params.nthreads is the total thread budget).
// Requires d % M == 0, nbits in {4, 8} and n >= 2^nbits.
void pq_train(const float* x, int64_t n, int64_t d, int64_t M, int nbits,
              const KMeansParams& params, float* centroids);

// Nearest centroid (squared L2, lowest index on ties) per sub-space.
void pq_encode(const float* x, int64_t n, int64_t d, int64_t M, int64_t ksub,
               const float* centroids, uint8_t* codes, int nthreads);

// Reconstruction x_hat (n, d) = concatenation of the coded centroids.
void pq_decode(const uint8_t* codes, int64_t n, int64_t d, int64_t M, int64_t ksub,
               const float* centroids, float* x, int nthreads);

// Asymmetric distance tables for a batch of queries q (nq, d):
//   tables (nq, M, ksub) float32;
//   ip:  tables[i, m, c] = <q_i[m*dsub:(m+1)*dsub], centroids[m, c]>
//   l2:  tables[i, m, c] = ||q_i[m*dsub:(m+1)*dsub] - centroids[m, c]||^2
// so a code's score is the sum over m of its M entries.
void adc_table_ip(const float* q, int64_t nq, int64_t d, int64_t M, int64_t ksub,
                  const float* centroids, float* tables, int nthreads);
void adc_table_l2(const float* q, int64_t nq, int64_t d, int64_t M, int64_t ksub,
                  const float* centroids, float* tables, int nthreads);

}  // namespace vecpress
