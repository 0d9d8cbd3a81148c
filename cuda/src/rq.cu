// Residual-quantizer beam-search encoding, one block per vector.
//
// Shared memory holds the residuals x - (sum of chosen codewords) of the
// current beams and of the next ones, their partial codes, and the squared
// errors of every (beam, codeword) candidate of the current stage. One warp
// scores one codeword against all beams at once (lanes stride the dimensions,
// so codebook reads are coalesced and each codeword is read once per stage);
// the shared BlockSelect keeps the `beam` lowest errors, ties by the lower
// candidate index beam * ksub + codeword. No peer library has this encoder on
// the GPU (faiss's GPU code only accelerates RQ training).
#include <string>

#include "detail/check.cuh"
#include "detail/select.cuh"
#include "vecpress/cuda/encode.hpp"

namespace vecpress {
namespace cuda {
namespace detail {
namespace {

struct RqLayout {
  size_t res, cand, codes, select, total;  // byte offsets and total size
};

__host__ __device__ inline RqLayout rq_layout(int beam, int64_t M, int64_t ksub, int64_t d) {
  RqLayout l;
  l.res = 0;                                                   // float (2, beam, d)
  l.cand = l.res + size_t(2) * beam * d * sizeof(float);       // float (beam * ksub)
  l.codes = l.cand + size_t(beam) * ksub * sizeof(float);      // uint8 (2, beam, M)
  l.select = (l.codes + size_t(2) * beam * M + 15) / 16 * 16;  // BlockSelect(beam)
  l.total = l.select + select_shared_bytes(beam);
  return l;
}

// grid n, kSelectThreads threads; codebooks (M, ksub, d); codes (n, M).
__global__ void __launch_bounds__(kSelectThreads)
rq_encode_kernel(const float* __restrict__ x, int64_t ldx, const float* __restrict__ codebooks,
                 int M, int ksub, int d, int beam, uint8_t* __restrict__ codes) {
  extern __shared__ int4 smem[];
  char* base = reinterpret_cast<char*>(smem);
  const RqLayout L = rq_layout(beam, M, ksub, d);
  float* res_cur = reinterpret_cast<float*>(base + L.res);
  float* res_next = res_cur + beam * d;
  float* cand = reinterpret_cast<float*>(base + L.cand);
  uint8_t* code_cur = reinterpret_cast<uint8_t*>(base + L.codes);
  uint8_t* code_next = code_cur + beam * M;
  void* select_mem = base + L.select;

  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  const float* xr = x + int64_t(blockIdx.x) * ldx;
  for (int t = threadIdx.x; t < d; t += blockDim.x) res_cur[t] = xr[t];
  int nbeam = 1;  // one empty encoding: its residual is x itself
  __syncthreads();

  for (int m = 0; m < M; ++m) {
    const float* cbm = codebooks + int64_t(m) * ksub * d;
    // cand[b * ksub + c] = ||res_b - codeword_c||^2
    for (int c = warp; c < ksub; c += nwarps) {
      const float* cw = cbm + int64_t(c) * d;
      float acc[kMaxBeam];
#pragma unroll
      for (int b = 0; b < kMaxBeam; ++b) acc[b] = 0.0f;
      for (int t = lane; t < d; t += 32) {
        const float v = cw[t];
#pragma unroll
        for (int b = 0; b < kMaxBeam; ++b) {
          if (b < nbeam) {
            const float diff = res_cur[b * d + t] - v;
            acc[b] = fmaf(diff, diff, acc[b]);
          }
        }
      }
#pragma unroll
      for (int b = 0; b < kMaxBeam; ++b) {
        if (b < nbeam) {  // block-uniform, so every lane joins the shuffles
          float s = acc[b];
          for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
          if (lane == 0) cand[b * ksub + c] = s;
        }
      }
    }
    __syncthreads();

    BlockSelect sel(select_mem, beam, /*largest=*/false);
    const int ncand = nbeam * ksub;
    for (int i0 = 0; i0 < ncand; i0 += blockDim.x) {
      const int i = i0 + threadIdx.x;
      sel.offer(i < ncand, i < ncand ? cand[i] : 0.0f, i);
    }
    sel.finish();

    // Kept candidates, best first, become the next beams.
    const int nnext = min(beam, ncand);
    for (int e = threadIdx.x; e < nnext * d; e += blockDim.x) {
      const int b = e / d, t = e % d;
      const int id = sel.id(b), src = id / ksub, c = id % ksub;
      res_next[b * d + t] = res_cur[src * d + t] - cbm[int64_t(c) * d + t];
    }
    for (int e = threadIdx.x; e < nnext * M; e += blockDim.x) {
      const int b = e / M, mm = e % M;
      const int id = sel.id(b), src = id / ksub, c = id % ksub;
      code_next[b * M + mm] = mm < m ? code_cur[src * M + mm] : (mm == m ? uint8_t(c) : uint8_t(0));
    }
    __syncthreads();
    float* rt = res_cur;
    res_cur = res_next;
    res_next = rt;
    uint8_t* ct = code_cur;
    code_cur = code_next;
    code_next = ct;
    nbeam = nnext;
  }
  // Beam 0 has the lowest error (the selection is sorted).
  for (int mm = threadIdx.x; mm < M; mm += blockDim.x) codes[int64_t(blockIdx.x) * M + mm] = code_cur[mm];
}

}  // namespace
}  // namespace detail

void rq_encode_beam(const float* x, int64_t n, int64_t x_stride, const float* codebooks,
                    int64_t M, int64_t ksub, int64_t d, int beam, uint8_t* codes,
                    cudaStream_t stream) {
  using namespace detail;
  VP_CHECK(n >= 0, "negative sizes");
  VP_CHECK(M > 0 && d > 0, "M and d must be positive");
  VP_CHECK(ksub >= 1 && ksub <= 256, "8-bit RQ codes need 1 <= ksub <= 256");
  VP_CHECK(d <= x_stride, "d exceeds the vectors' dimension");
  VP_CHECK(beam >= 1 && beam <= kMaxBeam,
           "the GPU beam width must be in [1, " + std::to_string(kMaxBeam) + "]");
  VP_CHECK(n < int64_t(INT32_MAX), "the GPU encoder handles at most 2^31 - 1 vectors per call");
  VP_CHECK(M <= 4096 && d <= (int64_t(1) << 20), "M or d too large for the GPU encoder");
  if (n == 0) return;
  const RqLayout L = rq_layout(beam, M, ksub, d);
  reserve_shared(reinterpret_cast<const void*>(&rq_encode_kernel), L.total,
                 "rq_encode_beam (2 * beam * d residuals + beam * ksub errors)");
  rq_encode_kernel<<<unsigned(n), kSelectThreads, L.total, stream>>>(
      x, x_stride, codebooks, int(M), int(ksub), int(d), beam, codes);
  check_launch("rq_encode_kernel");
}

}  // namespace cuda
}  // namespace vecpress
