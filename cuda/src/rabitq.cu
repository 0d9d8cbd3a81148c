// RaBitQ 1-bit popcount scan on the GPU, fused with the top-k: one block per
// (query, chunk of rows), as hamming_search. The query's qb bit planes and its 8
// constants live in shared memory; each thread scores kItems rows (AND + popcount
// per plane, then the per-vector factor correction) before offering them to the
// block's BlockSelect; partial lists of a chunked scan are merged by select_rows.
//
// The correction is written with __fadd_rn / __fmul_rn, which nvcc never contracts
// into FMAs, in the order cpp/src/rabitq.cpp (correct()) evaluates it; the CPU
// file is built without FMA contraction available (baseline x86-64), so both
// round after every operation and return the same floats.
#include <cstdint>
#include <string>

#include "detail/check.cuh"
#include "detail/select.cuh"
#include "vecpress/cuda/rabitq.hpp"
#include "vecpress/cuda/search.hpp"

namespace vecpress {
namespace cuda {
namespace detail {
namespace {

constexpr int kItems = 4;

// est = f_add + qc[0] + qc[1] * (f_mul * (qc[2] * ip + qc[3]) + qc[4] * f_pop), left to
// right as C++ parses the CPU expression: ((f_add + c0) + c1 * ((f_mul * ((c2 * v) + c3))
// + (c4 * f_pop))).
__device__ __forceinline__ float rabitq_estimate(int ip, const float* c, const float* f) {
  const float v = __int2float_rn(ip);
  const float inner = __fadd_rn(__fmul_rn(c[2], v), c[3]);
  const float t = __fadd_rn(__fmul_rn(f[1], inner), __fmul_rn(c[4], f[2]));
  return __fadd_rn(__fadd_rn(f[0], c[0]), __fmul_rn(c[1], t));
}

// grid (nq, nchunks), kSelectThreads threads; output (nq, nchunks, k).
// q: (nq, qb, nw) uint64; x: rows of `ld` uint64 words (the sign bits are words
// [0, nw), the 4 float factors the next 2 words).
__global__ void rabitq_scan_kernel(const uint64_t* __restrict__ q, int qb, int nw,
                                   const float* __restrict__ qc, const uint64_t* __restrict__ x,
                                   int64_t ld, int64_t n, int64_t chunk, bool largest, int k,
                                   float* out_vals, idx_t* out_ids) {
  extern __shared__ int4 smem[];
  uint64_t* qs = reinterpret_cast<uint64_t*>(smem);
  const int qwords = qb * nw;
  float* cs = reinterpret_cast<float*>(qs + qwords);
  const uint64_t* qi = q + int64_t(blockIdx.x) * qwords;
  for (int w = threadIdx.x; w < qwords; w += blockDim.x) qs[w] = qi[w];
  for (int e = threadIdx.x; e < kRabitqQueryConsts; e += blockDim.x)
    cs[e] = qc[int64_t(blockIdx.x) * kRabitqQueryConsts + e];
  BlockSelect sel(cs + kRabitqQueryConsts, k, largest);  // its constructor syncs the block
  const int64_t begin = int64_t(blockIdx.y) * chunk;
  const int64_t end = min(n, begin + chunk);
  for (int64_t base = begin; base < end; base += kItems * blockDim.x) {
    float sc[kItems];
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int64_t j = base + it * blockDim.x + threadIdx.x;
      float s = 0.0f;
      if (j < end) {
        const uint64_t* xj = x + j * ld;
        int ip = 0;
        for (int p = 0; p < qb; ++p) {
          const uint64_t* plane = qs + p * nw;
          int cnt = 0;
          for (int w = 0; w < nw; ++w) cnt += __popcll(xj[w] & plane[w]);
          ip += cnt << p;
        }
        const float* f = reinterpret_cast<const float*>(xj + nw);  // [f_add, f_mul, f_pop, f_err]
        float fv[3] = {f[0], f[1], f[2]};
        s = rabitq_estimate(ip, cs, fv);
      }
      sc[it] = s;
    }
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int64_t j = base + it * blockDim.x + threadIdx.x;
      sel.offer(j < end, sc[it], int(j));
    }
  }
  sel.finish();
  const int64_t o = (int64_t(blockIdx.x) * gridDim.y + blockIdx.y) * k;
  sel.write(out_vals + o, nullptr, out_ids + o);
}

bool aligned8(const void* p) { return reinterpret_cast<uintptr_t>(p) % 8 == 0; }

}  // namespace
}  // namespace detail

void rabitq_search(const uint64_t* qplanes, int64_t nq, int qb, const float* qc,
                   const uint8_t* codes, int64_t n, int64_t D, bool largest, int k,
                   float* out_vals, idx_t* out_ids, cudaStream_t stream) {
  using namespace detail;
  VP_CHECK(D > 0 && D % 64 == 0, "RaBitQ: the padded dimension must be a positive multiple of 64");
  VP_CHECK(qb >= 1 && qb <= 8, "RaBitQ: query bits must be in [1, 8]");
  VP_CHECK(nq >= 0 && n >= 0, "negative sizes");
  VP_CHECK(aligned8(qplanes) && aligned8(codes),
           "RaBitQ query planes and codes must start on an 8-byte boundary on the GPU "
           "(copy the slice)");
  check_topk_args(n, k);
  if (nq == 0 || k == 0) return;
  const int nw = int(D / 64);
  const int64_t ld = rabitq_code_bytes(D) / 8;  // D / 8 + 16 bytes: a whole number of words
  const size_t shm = size_t(qb) * nw * 8 + kRabitqQueryConsts * sizeof(float) +
                     select_shared_bytes(k);
  reserve_shared(reinterpret_cast<const void*>(&rabitq_scan_kernel), shm, "rabitq_search");
  auto x = reinterpret_cast<const uint64_t*>(codes);
  ChunkPlan plan = plan_chunks(nq, n, k);
  if (plan.nchunks == 1) {
    rabitq_scan_kernel<<<dim3(unsigned(nq), 1), kSelectThreads, shm, stream>>>(
        qplanes, qb, nw, qc, x, ld, n, plan.chunk, largest, k, out_vals, out_ids);
    check_launch("rabitq_scan_kernel");
    return;
  }
  const int64_t nparts = plan.nchunks * k;
  Scratch<float> pv(size_t(nq * nparts), stream);
  Scratch<idx_t> pi(size_t(nq * nparts), stream);
  rabitq_scan_kernel<<<dim3(unsigned(nq), unsigned(plan.nchunks)), kSelectThreads, shm, stream>>>(
      qplanes, qb, nw, qc, x, ld, n, plan.chunk, largest, k, pv.get(), pi.get());
  check_launch("rabitq_scan_kernel");
  select_rows(pv.get(), nparts, pi.get(), nq, nparts, k, largest, out_vals, nullptr, out_ids,
              stream);
}

}  // namespace cuda
}  // namespace vecpress
