// RaBitQ (Gao & Long, SIGMOD 2024): a random rotation, one sign bit per
// dimension plus per-vector correction factors, and an unbiased estimator of
// inner products / squared distances scanned with AND + popcount against a
// query quantized to qb bits.
//
// Rotation: D = rabitq_padded_dim(d) (a multiple of 64). Each of `rounds` rounds
// multiplies by random signs (signs[r] (D,) of +-1), applies the orthonormal
// Walsh-Hadamard transform to a power-of-two window of L = 2^floor(log2 D)
// coordinates (the first L on even rounds, the last L on odd ones) and, when
// L < D, one Kac butterfly (x_i, x_{i+D/2}) -> ((x_i + x_{i+D/2}), (x_i - x_{i+D/2})) / sqrt2
// that mixes the two windows. Every step is orthogonal, so the whole is.
//
// Code layout: a row of rabitq_code_bytes(D) = D / 8 + 16 bytes: the sign bits
// (bit i at byte i / 8, LSB first, 1 where the rotated residual is > 0), then
// 4 float32 factors [f_add, f_mul, f_pop, f_err] (see rabitq_search).
#pragma once
#include <cstdint>

#include "vecpress/fastscan.hpp"
#include "vecpress/types.hpp"

namespace vecpress {

constexpr int kRabitqFactors = 4;

inline int64_t rabitq_padded_dim(int64_t d) { return (d + 63) / 64 * 64; }
inline int64_t rabitq_code_bytes(int64_t D) { return D / 8 + 4 * kRabitqFactors; }

// out (n, D) = rotation of x (n, ldx; first d columns read, zero-padded to D).
// inverse=true applies the transpose (then pass d = D to get the full row back).
void rabitq_rotate(const float* x, int64_t n, int64_t ldx, int64_t d, int64_t D,
                   const float* signs, int rounds, bool inverse, float* out, int nthreads);

// Integer part of the estimator: out[i * n + j] = sum_p 2^p popcount(bits_j AND plane_{i,p}),
// i.e. <b_j, u_i> for the query's qb-bit integer vector u_i given as bit planes
// qplanes (nq, qb, D / 64) uint64 (plane p holds bit p of every u_i[t]).
void rabitq_ip_bin(const uint64_t* qplanes, int64_t nq, int qb, const uint8_t* codes, int64_t n,
                   int64_t D, int32_t* out, int nthreads);

// Estimated scores (nq, n) float32 and their error bounds (nq, n) (may be null):
//   est   = f_add + qc[0] + qc[1] * (f_mul * (qc[2] * ip + qc[3]) + qc[4] * f_pop)
//   bound = |qc[1]| * (qc[5] * f_err + qc[6] * f_mul)
// with ip = rabitq_ip_bin and the factors read from each code row; the second bound term
// covers the query's rounding to qb bits. qc (nq, kRabitqQueryConsts) float32 holds the
// per-query constants (qc[7] unused; see the Python layer).
constexpr int kRabitqQueryConsts = 8;
void rabitq_scores(const uint64_t* qplanes, int64_t nq, int qb, const float* qc,
                   const uint8_t* codes, int64_t n, int64_t D, float* out, float* bound,
                   int nthreads);

// Top-k by estimated score (the k largest when largest, else the k smallest), best first,
// padded with id -1; ids are rows. allow: optional bitmap over rows (see topk.hpp).
void rabitq_search(const uint64_t* qplanes, int64_t nq, int qb, const float* qc,
                   const uint8_t* codes, int64_t n, int64_t D, bool largest, int k,
                   float* out_vals, idx_t* out_ids, int nthreads, const uint64_t* allow = nullptr);

// ---- fast-scan (the PQ 4-bit fast-scan machinery over the sign bits) -------------------
//
// Each group of 4 rotated dimensions (group m = dims 4m..4m+3, bit j = dim 4m + j) is one
// 4-bit sub-code, M = D / 4 groups, packed in fastscan.hpp's block layout; each 32-vector
// block is followed by the block's f_add[32] and f_mul[32] float32 (0 for padding vectors):
//   packed (nblocks, rabitq_fs_block_bytes(D)) uint8, nblocks = fastscan_nblocks(n).
// A float query's table T (M, 16): T[m][c] = sum_j (2 bit_j(c) - 1) q'[4m + j], so that
// S = sum_m T[m][code_m] = <2b - 1, q'> and the estimate is
//   est = f_add + qc[0] + qc[1] * (f_mul / 2) * S        (qc as in rabitq_search)
// (the float-query estimator: no query rounding). The scan quantizes T to uint8 LUTs
// (fastscan_quantize_luts), sums them per 32-vector block with the PQ fast-scan block
// kernel, turns a block's uint16 sums into estimates with each vector's f_add / f_mul at
// once (vectorised), keeps the `rescore` best per query in a heap, and re-scores those with
// the float tables (the exact float-query estimate) to return the best k.
inline int64_t rabitq_fs_block_bytes(int64_t D) { return fastscan_block_bytes(D / 4) + 2 * 32 * 4; }

// codes (n, rabitq_code_bytes(D)) -> packed (nblocks * rabitq_fs_block_bytes(D)) uint8.
void rabitq_fastscan_pack(const uint8_t* codes, int64_t n, int64_t D, uint8_t* packed);

// Float tables (nq, D / 4, 16) of rotated queries qrot (nq, D).
void rabitq_fastscan_tables(const float* qrot, int64_t nq, int64_t D, float* tables);

// Estimates (nq, n) of every vector of codes (n, rabitq_code_bytes(D)) and their packed
// layout: exact=false gives the scan's first stage (quantized LUT sums corrected per vector),
// exact=true the float-query estimate it re-scores with (read from codes).
void rabitq_fastscan_scores(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                            const uint8_t* packed, int64_t n, int64_t D, bool exact, float* out, int nthreads);

// Top-k (nq, k) by the float-query estimate among the `rescore` (raised to k, capped at n)
// best first-stage estimates per query (per base slice when the base is split across
// threads), best first, padded with id -1; ids are rows. allow: optional row bitmap.
// codes: the rows packed was built from (the second stage reads them).
void rabitq_fastscan_search(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                            const uint8_t* packed, int64_t n, int64_t D, bool largest, int k, int rescore,
                            float* out_vals, idx_t* out_ids, int nthreads,
                            const uint64_t* allow = nullptr);

}  // namespace vecpress
