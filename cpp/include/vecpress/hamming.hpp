// Binary codes: packed sign bits, Hamming scans with hardware popcount, and
// the tables for asymmetric (float query vs binary code) scoring.
//
// Code layout: (n, nbytes) uint8, nbytes = 8 * ceil(d / 64). Dimension i is bit
// (i % 8) of byte (i / 8) (LSB first, numpy.packbits(bitorder="little")).
// Padding bits are 0 in every code, so they never add to a distance.
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

inline int64_t binary_code_bytes(int64_t d) { return 8 * ((d + 63) / 64); }

// Bit i of row r is 1 iff x[r, i] > thresholds[i] (thresholds may be null: 0).
// x (n, x_stride) float32, first d dims; codes (n, binary_code_bytes(d)).
void binarize(const float* x, int64_t n, int64_t x_stride, int64_t d, const float* thresholds,
              uint8_t* codes, int nthreads);

// Hamming distances (nq, n) int32 between query codes and base codes.
void hamming_distances(const uint8_t* qcodes, int64_t nq, const uint8_t* codes, int64_t n,
                       int64_t nbytes, int32_t* out, int nthreads);

// k smallest Hamming distances per query: out_dist (nq, k) int32, ids (nq, k)
// row numbers (ties by lower id; padded with -1 and INT32_MAX when k > n).
void hamming_search(const uint8_t* qcodes, int64_t nq, const uint8_t* codes, int64_t n,
                    int64_t nbytes, int k, int32_t* out_dist, idx_t* out_ids, int nthreads,
                    const uint64_t* allow = nullptr);

// Asymmetric tables: tables (nq, nbytes, 256) float32 with
// tables[q, b, v] = sum_i q[8b + i] * (bit i of v ? +1 : -1) over valid dims,
// so sum_b tables[q, b, code[b]] = <q, decoded code in {-1,+1}^d>.
// Scan them with adc_search_u8 (M = nbytes, larger is better).
void binary_asym_tables(const float* q, int64_t nq, int64_t q_stride, int64_t d, float* tables,
                        int nthreads);

}  // namespace vecpress
