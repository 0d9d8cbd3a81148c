// Inverted-file scan over 8-bit ADC codes: each query scans only the lists it
// probes, scoring every code there with its (M, 256) table plus a per-probe
// offset (the query-to-centroid term of residual codes) and, optionally, a
// per-row term (L2 on residuals: ||r||^2 + 2 <c, r> of the stored code).
//
// Layouts: tables (nq, M, 256) float32; codes (n, M) uint8 grouped by list,
// list l at positions [offsets[l], offsets[l + 1]); rows (n,) int64, the row
// number of each grouped position (what the output reports, and the tie-break);
// probes (nq, nprobe) int64 list numbers, -1 = none; probe_bias (nq, nprobe)
// float32; row_bias (n,) float32 by grouped position, or null.
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

// Top-k per query, best first (largest: IP-like scores; else smallest), padded
// with row -1. Scores of one code are summed in the order of adc_search_u8's
// one-query path, so with zero offsets a list scan gives the flat scan's scores.
// rows: the row (< n_rows, or -1 for a skipped slot) of each grouped code; a row may
// appear in several lists (SOAR). allow, when given, holds ceil(n_rows / 64) words.
void ivf_adc_search_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes,
                       const idx_t* rows, int64_t n_rows, const int64_t* offsets, int64_t nlist,
                       const int64_t* probes, const float* probe_bias, int64_t nprobe,
                       const float* row_bias, bool largest, int k, float* out_scores,
                       idx_t* out_rows, int nthreads, const uint64_t* allow = nullptr);

}  // namespace vecpress

namespace vecpress {

// Inverted-file fast-scan over 4-bit codes (fastscan.hpp layout). Each list's
// codes are packed on their own, padded to whole 32-vector blocks, and the
// lists' blocks are concatenated: list l owns blocks [block_offsets[l],
// block_offsets[l + 1]); rows (nblocks * 32,) int64 maps a packed position to
// its row (-1 for padding); row_codes (n_rows, ceil(M / 2)) uint8 holds the same codes in
// row order, two per byte (code 2j in the low nibble of byte j), for the rescoring. A row
// >= n_rows met in a probed list raises (rows are checked as the scan reads them, not all
// up front: a one-query search reads a fraction of them).
// Per query the quantized sums of the probed lists,
// shifted by the list's probe_bias in LUT units, select `rescore` candidates,
// rescored exactly as probe_bias + sum_m tables[m, code_m] and reduced to the
// best k rows (nq, k), best first, padded with -1. tables (nq, M, 16) float32.
// With zero biases and rescore >= n this returns fastscan_search's result.
// rescore = 0 skips the float rescoring: the best k by quantized sum come back,
// scored sign * (sum / scale + offset) + bias (for an exact rerank to refine).
void ivf_fastscan_search(const float* tables, int64_t nq, int64_t M, const uint8_t* packed,
                         const idx_t* rows, const int64_t* block_offsets, int64_t nlist,
                         const uint8_t* row_codes, int64_t n_rows, const int64_t* probes,
                         const float* probe_bias, int64_t nprobe, bool largest, int k,
                         int rescore, float* out_scores, idx_t* out_rows, int nthreads,
                         const uint64_t* allow = nullptr);

}  // namespace vecpress
