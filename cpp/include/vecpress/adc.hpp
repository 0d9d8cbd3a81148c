// Asymmetric distance computation (ADC) over 8-bit codes: a query is a
// (M, 256) table and a code's score is the sum of M table entries.
// Used by PQ (8-bit codes) and by asymmetric binary search (a byte of bits is a
// "sub-quantizer" with 256 codewords).
//
// Layouts: tables (nq, M, 256) float32; codes (n, M) uint8.
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

// Full score matrix out (nq, n) = sum_m tables[q, m, codes[j, m]].
void adc_scan_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                 float* out, int nthreads);

// Top-k of the same scores; largest=true keeps the biggest (IP), false the
// smallest (L2). Outputs (nq, k), best first, padded with id -1.
void adc_search_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                   bool largest, int k, float* out_scores, idx_t* out_ids, int nthreads,
                   const uint64_t* allow = nullptr);

}  // namespace vecpress
