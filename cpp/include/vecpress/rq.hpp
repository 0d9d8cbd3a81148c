// Residual quantization (RQ): M stages, stage m quantizes what stages 0..m-1
// left over, so a vector is approximated by sum_m C_m[code_m]. Codes are found
// by beam search over the stages; the beam step works on look-up tables
// (codeword norms, query-codeword products and codebook cross-products), so a
// step costs K additions per beam entry and prior stage instead of a
// K x d distance computation:
//   ||x - sum_m c_m||^2 = ||x||^2 + sum_m (||c_m||^2 - 2<x, c_m>)
//                                 + 2 sum_{i<j} <c_i, c_j>.
//
// Layouts (row-major, C order):
//   codebooks (M, K, d) float32, K = 2^nbits, nbits in [1, 8]
//   codes     (n, M)    uint8, one integer code per stage (not bit-packed)
//   cross     (M(M-1)/2, K, K) float32: pair p(i, j) = j(j-1)/2 + i for i < j
//             holds cross[p][a][b] = 2 <C_i[a], C_j[b]> (already doubled)
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

inline int64_t rq_cross_size(int64_t M, int64_t K) { return M * (M - 1) / 2 * K * K; }

// The doubled cross-products of all stage pairs (layout above).
void rq_cross_products(const float* codebooks, int64_t M, int64_t K, int64_t d, float* cross,
                       int nthreads);

// Beam-search encoding with beam width `beam` (>= 1). cross may be null (it is
// then computed here; pass a cached one to encode many small batches).
// codes out (n, M). err out (n,) (may be null): ||x - decode(code)||^2 as
// tracked by the tables. rnorm out (n,) (may be null): ||decode(code)||^2.
void rq_encode_beam(const float* x, int64_t n, int64_t d, const float* codebooks, int64_t M,
                    int64_t K, const float* cross, int beam, uint8_t* codes, float* err,
                    float* rnorm, int nthreads);

// out (n, d) = sum_m codebooks[m, codes[i, m]].
void rq_decode(const uint8_t* codes, int64_t n, const float* codebooks, int64_t M, int64_t K,
               int64_t d, float* out, int nthreads);

// ADC tables (nq, M, ksub_stride) = scale * <q, C_m[k]>; entries k >= K are 0
// (ksub_stride >= K, 256 to scan with adc_search_u8 whatever nbits is).
void rq_compute_tables(const float* q, int64_t nq, const float* codebooks, int64_t M, int64_t K,
                       int64_t d, float scale, int64_t ksub_stride, float* tables, int nthreads);

struct RQTrainParams {
  int beam = 8;             // beam width used to re-encode the training set between stages
  int niter = 10;           // k-means iterations per stage (per step when progressive; faiss: 10)
  int64_t max_points_per_centroid = 256;  // k-means sample per stage: K * this residuals
  // k-means of each stage on progressively more principal axes (faiss's
  // default, better codebooks; costs about 2x plain k-means); <= 1: plain.
  int progressive_dim_steps = 10;
  uint64_t seed = 1234;
  int nthreads = 0;
  // Called after each stage with (stage, mean squared error of the training
  // set after that stage); may be null. Runs on the calling thread.
  void (*progress)(void* ctx, int stage, float mse) = nullptr;
  void* progress_ctx = nullptr;
};

// Greedy stage-by-stage training (faiss ResidualQuantizer's scheme): stage m's
// codebook is k-means over the residuals of the current beam entries of the
// training vectors (a seeded sample), then every training vector's beam is
// extended by stage m before the next stage. codebooks out (M, K, d).
void rq_train(const float* x, int64_t n, int64_t d, int64_t M, int64_t K,
              const RQTrainParams& params, float* codebooks);

// Uniform scalar quantization of reconstruction norms (faiss's qint8 norms):
// code = clamp(floor((v - vmin) / (vmax - vmin) * L), 0, L - 1), L = 2^bits,
// decoded as vmin + (code + 0.5) * (vmax - vmin) / L.
void rq_encode_norms(const float* v, int64_t n, float vmin, float vmax, int bits, uint8_t* out);

}  // namespace vecpress
