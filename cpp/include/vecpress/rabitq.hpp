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

// codes (n rows of ld >= rabitq_code_bytes(D) bytes, the 1-bit code first) ->
// packed (nblocks * rabitq_fs_block_bytes(D)) uint8.
void rabitq_fastscan_pack(const uint8_t* codes, int64_t n, int64_t D, int64_t ld,
                          uint8_t* packed);

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

// ---- inverted file ----------------------------------------------------------------------
//
// The first stage above over the probed lists of an inverted file: list l owns blocks
// [block_offsets[l], block_offsets[l + 1]) of packed (rabitq_fastscan_pack of its rows, each
// list padded to whole blocks; rows (nblocks * 32,) maps a packed position to its row, -1
// for padding or a removed row; a row >= n_rows met in a probed list raises). Each vector
// is scored
//   est = probe_bias[q, p] + f_add + qscale * (f_mul / 2) * S,   S = <2b - 1, qrot>
// (S through the quantized LUTs, as the fast-scan first stage), i.e. the codes encode
// r = x - c_l and qrot = P q: with probe_bias = <q, c_l>, f_add = 0 and qscale = 1 this
// estimates <q, x>; with probe_bias = |q - c_l|^2, f_add = |r|^2 + 2 <r, c_l> and
// qscale = -2 it estimates |q - x|^2. Top-k (nq, k) rows by est, best first (the k
// largest when largest), padded with -1. probes (nq, nprobe) int64 (-1 = none),
// probe_bias (nq, nprobe) float32 (may be null). allow: optional row bitmap.
void ivf_rabitq_search(const float* qrot, int64_t nq, int64_t D, float qscale,
                       const uint8_t* packed, const idx_t* rows, int64_t n_rows,
                       const int64_t* block_offsets,
                       int64_t nlist, const int64_t* probes, const float* probe_bias,
                       int64_t nprobe, bool largest, int k, float* out_vals, idx_t* out_rows,
                       int nthreads, const uint64_t* allow = nullptr);

// ---- extended codes (Gao et al., SIGMOD 2025): 1 + ex_bits bits per dimension -----------
//
// Row layout, rabitq_ex_row_bytes(D, ex_bits) bytes: the 1-bit code (rabitq_code_bytes(D):
// sign bits + [f_add, f_mul, f_pop, f_err]), then ex_bits bit planes of D / 8 bytes (plane p
// holds bit p of every dimension's ex code e_t, bit t at byte t / 8, LSB first), then 2
// float32 [f_ex, f_err_ex]. A dimension's total code is u_t = (b_t << ex_bits) | e_t and
// its quantized value y_t = u_t - (2^ex_bits - 1/2) (odd multiples of 1/2, symmetric about
// 0; the sign bit is the 1-bit code's). The estimate of <r, q'> is f_ex <y, q'> with
// f_ex = |r|^2 / <r', y>, so
//   est   = f_add + qc[0] + qc[1] * f_ex * (<u, q'> - (2^ex_bits - 1/2) sum_t q'_t)
//   bound = |qc[1]| * qc[5] * f_err_ex
// (qc the float query's constants, as in rabitq_fastscan_search).
inline int64_t rabitq_ex_row_bytes(int64_t D, int ex_bits) {
  return rabitq_code_bytes(D) + (ex_bits > 0 ? ex_bits * D / 8 + 8 : 0);
}

// The extended code of each rotated residual xrot (n, D): per row, the rescale t maximizing
// the cosine between y(t) and x, where y_t = sign(x_t) (min(floor(t |x_t| / |x|), 2^ex - 1)
// + 1/2) (every breakpoint of t in a range is visited in increasing order); codes (n, D)
// uint8 receive e_t (for x_t <= 0 the magnitude code is stored complemented,
// 2^ex - 1 - m_t, so that u_t - (2^ex - 1/2) = -(m_t + 1/2)).
void rabitq_ex_quantize(const float* xrot, int64_t n, int64_t D, int ex_bits, uint8_t* codes,
                        int nthreads);

// Estimates (nq, n) and bounds (nq, n) (may be null) of every row of codes (ex rows).
void rabitq_ex_scores(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                      int64_t n, int64_t D, int ex_bits, float* out, float* bound, int nthreads);

// Top-k (nq, k) by the (1 + ex_bits)-bit estimate. The 1-bit fast-scan first stage (packed
// from the rows' 1-bit codes) bounds each vector's score: a vector whose 1-bit estimate,
// widened by its error bound |qc[1]| (qc[5] f_err + f_mul / 2 * lut_err) (lut_err covering
// the LUTs' 8-bit rounding), cannot reach the current k-th best extended estimate is ruled
// out; the extended bits are read only for the others. err_ratio >= max f_err / f_mul over
// the rows (the bound is taken as f_mul |qc[1]| (qc[5] err_ratio + lut_err / 2), so that the
// fast-scan block correction applies it to all 32 vectors at once). stats (nq) (may be
// null): how many vectors each query estimated with the extended bits.
void rabitq_ex_search(const float* qrot, const float* qc, int64_t nq, const uint8_t* codes,
                      const uint8_t* packed, int64_t n, int64_t D, int ex_bits,
                      float err_ratio, bool largest, int k, float* out_vals, idx_t* out_ids,
                      int64_t* stats, int nthreads, const uint64_t* allow = nullptr);

}  // namespace vecpress
