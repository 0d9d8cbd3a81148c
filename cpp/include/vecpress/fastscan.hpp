// 4-bit PQ "fast-scan" (Andre et al.; faiss's IndexPQFastScan): codes are
// packed so that one 32-byte load holds two sub-quantizers' nibbles for 32
// vectors, and the query's distance table, quantized to 8 bits, fits in
// registers where a byte shuffle (pshufb) performs 32 lookups at once.
//
// Packed layout (our own, in the spirit of faiss's fast_scan layout):
//   packed  (nblocks, Mp / 2, 32) uint8, nblocks = ceil(n / 32), Mp = M rounded up to even.
//   Block b holds vectors v_i = 32 b + i (i < 32); for the pair p of sub-quantizers
//   (2p, 2p+1), its 32 bytes are
//     byte i      (i < 16): low nibble code[v_i][2p],   high nibble code[v_{i+16}][2p]
//     byte 16 + i (i < 16): low nibble code[v_i][2p+1], high nibble code[v_{i+16}][2p+1]
//   so the low 128-bit lane serves sub-quantizer 2p and the high lane 2p+1, matching a
//   LUT register [lut_2p | lut_2p+1]. Padding vectors (n..32*nblocks) and the padding
//   sub-quantizer (odd M) have code 0.
//   Quantized LUTs: (nq, Mp, 16) uint8.
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

inline int64_t fastscan_nblocks(int64_t n) { return (n + 31) / 32; }
inline int64_t fastscan_mpad(int64_t M) { return (M + 1) / 2 * 2; }
// Bytes of one packed block (32 vectors).
inline int64_t fastscan_block_bytes(int64_t M) { return 16 * fastscan_mpad(M); }

// The 4-bit code of sub-quantizer m of vector v in a packed array (layout above).
inline uint8_t fastscan_code(const uint8_t* packed, int64_t M, int64_t v, int64_t m) {
  const uint8_t* block = packed + (v / 32) * fastscan_block_bytes(M);
  const int64_t i = v % 32;
  return (block[(m / 2) * 32 + (m & 1) * 16 + (i & 15)] >> (i < 16 ? 0 : 4)) & 15;
}

// codes (n, M) uint8 with values < 16 -> packed (nblocks * block_bytes) uint8.
void pq4_pack(const uint8_t* codes, int64_t n, int64_t M, uint8_t* packed);
// Inverse of pq4_pack: packed -> codes (n, M).
void pq4_unpack(const uint8_t* packed, int64_t n, int64_t M, uint8_t* codes);

// Quantizes float tables (nq, M, 16) to uint8 LUTs (nq, Mp, 16) such that a
// smaller quantized sum is better for both metrics: per sub-quantizer the
// entries are shifted by their best value (min for L2, max for IP, negated)
// and all are scaled by one factor per query so that the largest span maps to
// qmax = min(127, 65535 / Mp): entries use 7 of their 8 bits so two lookups
// can be added in uint8 before widening, and the uint16 sums cannot overflow.
// The candidates are re-scored exactly, so the lost bit costs little recall.
// scales (nq,), when not null, receives each query's factor a: a float table sum S
// relates to the quantized sum Q by sign * S = Q / a + sum_m lo_m (sign -1 for largest),
// so an offset b added to S moves Q by sign * a * b. offsets (nq,), when not null,
// receives sum_m lo_m (lo_m = min_c sign * T[m][c], summed in m order).
void fastscan_quantize_luts(const float* tables, int64_t nq, int64_t M, bool largest,
                            uint8_t* luts, float* scales = nullptr, float* offsets = nullptr);

// The float score a quantized sum stands for: sign * (Q / a + offset), with a and offset
// from fastscan_quantize_luts (inv_scale = 1 / a, 0 when a is 0).
inline float fastscan_dequantize(int32_t q, float inv_scale, float offset, bool largest) {
  return (largest ? -1.0f : 1.0f) * (float(q) * inv_scale + offset);
}

// Quantized sums (nq, n) uint16 of every vector: for tests and inspection.
void fastscan_scores(const uint8_t* luts, int64_t nq, int64_t M, const uint8_t* packed,
                     int64_t n, uint16_t* out, int nthreads);

// Top-k search: keeps the `rescore` best vectors by quantized sum per query
// (ties by lower id), re-scores them exactly with the float tables (nq, M, 16),
// and returns the best k (nq, k), best first, padded with id -1. rescore is
// raised to k when smaller. largest=true for IP tables, false for L2.
// When the base is split across threads (small query batches) each slice keeps
// its own `rescore` candidates. rescore = 0 skips the float re-scoring: the best k by
// quantized sum come back, scored sign * (sum / scale + offset) (for an exact rerank).
void fastscan_search(const float* tables, int64_t nq, int64_t M, const uint8_t* packed, int64_t n,
                     bool largest, int k, int rescore, float* out_scores, idx_t* out_ids,
                     int nthreads, const uint64_t* allow = nullptr);

}  // namespace vecpress
