// PRIVATE: the k-selection every CUDA search kernel shares.
//
// BlockSelect keeps the k best (score, id) pairs seen by one thread block in
// shared memory: a sorted list [0, k) and a buffer [k, cap) of newcomers. A
// candidate enters the buffer only if it beats the current k-th best, so after
// the first few rounds almost every score is rejected with one compare; when
// the buffer could overflow in the next round, list + buffer are bitonic-sorted
// together and the best k become the new list. Ties go to the lower id, and
// empty slots (id -1) lose to everything, so results equal the CPU TopK's.
//
// Use: every thread of a kSelectThreads-wide block calls offer() the same
// number of times (one candidate or none per call), then finish() and write().
// Ids are int32 inside a block; callers check n < 2^31.
#pragma once
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {
namespace cuda {
namespace detail {

constexpr int kSelectThreads = 256;

__device__ __forceinline__ bool better(bool largest, float a, int ia, float b, int ib) {
  if (ib < 0) return ia >= 0;
  if (ia < 0) return false;
  if (a == b) return ia < ib;
  return largest ? a > b : a < b;
}

// Shared-memory footprint, host and device side.
__host__ __device__ inline int select_capacity(int k) {
  int c = 1;
  while (c < k + kSelectThreads) c <<= 1;
  return c;
}
__host__ __device__ inline size_t select_shared_bytes(int k) {
  return size_t(select_capacity(k)) * (sizeof(float) + sizeof(int)) + sizeof(int);
}

class BlockSelect {
 public:
  // smem: select_shared_bytes(k) bytes, 4-byte aligned.
  __device__ BlockSelect(void* smem, int k, bool largest)
      : k_(k), cap_(select_capacity(k)), largest_(largest), nbuf_(0) {
    key_ = static_cast<float*>(smem);
    id_ = reinterpret_cast<int*>(key_ + cap_);
    count_ = id_ + cap_;
    for (int i = threadIdx.x; i < cap_; i += blockDim.x) {
      key_[i] = 0.0f;
      id_[i] = -1;
    }
    if (threadIdx.x == 0) *count_ = 0;
    __syncthreads();
  }

  __device__ void offer(bool have, float score, int id) {
    bool take = have && better(largest_, score, id, key_[k_ - 1], id_[k_ - 1]);
    if (take) {
      int pos = k_ + atomicAdd(count_, 1);
      key_[pos] = score;
      id_[pos] = id;
    }
    // Block-uniform count, so every thread takes the same branch below.
    nbuf_ += __syncthreads_count(take);
    if (nbuf_ > cap_ - k_ - int(blockDim.x)) flush();
  }

  __device__ void finish() {
    if (nbuf_ > 0) flush();
  }

  // Writes the k kept entries best first; empty slots become (worst, -1).
  // Exactly one of vals (float scores) / ivals (integer distances) is non-null.
  __device__ void write(float* vals, int32_t* ivals, idx_t* ids) const {
    const float worst = largest_ ? -FLT_MAX : INFINITY;
    for (int i = threadIdx.x; i < k_; i += blockDim.x) {
      int j = id_[i];
      ids[i] = j;
      if (vals) vals[i] = j < 0 ? worst : key_[i];
      if (ivals) ivals[i] = j < 0 ? INT32_MAX : int32_t(key_[i]);
    }
  }

  // Read access to the sorted list after finish() (and before the next offer).
  __device__ float score(int i) const { return key_[i]; }
  __device__ int id(int i) const { return id_[i]; }

 private:
  __device__ void flush() {
    for (int i = k_ + nbuf_ + threadIdx.x; i < cap_; i += blockDim.x) id_[i] = -1;
    __syncthreads();
    sort();
    if (threadIdx.x == 0) *count_ = 0;
    nbuf_ = 0;
    __syncthreads();
  }

  // Bitonic sort of all cap_ slots, best first.
  __device__ void sort() {
    for (int size = 2; size <= cap_; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int i = threadIdx.x; i < cap_ / 2; i += blockDim.x) {
          int lo = 2 * i - (i & (stride - 1));
          int hi = lo + stride;
          float a = key_[lo], b = key_[hi];
          int ia = id_[lo], ib = id_[hi];
          bool best_first = (lo & size) == 0;
          bool swap = best_first ? better(largest_, b, ib, a, ia) : better(largest_, a, ia, b, ib);
          if (swap) {
            key_[lo] = b;
            key_[hi] = a;
            id_[lo] = ib;
            id_[hi] = ia;
          }
        }
        __syncthreads();
      }
    }
  }

  float* key_;
  int* id_;
  int* count_;
  int k_, cap_;
  bool largest_;
  int nbuf_;  // buffered newcomers, identical in every thread
};

// How a scan over n rows per query is split into (query, chunk) blocks: a
// single chunk when there are enough queries to fill the GPU, otherwise chunks
// of at least max(4096, 8k) rows whose partial top-k lists are merged after.
struct ChunkPlan {
  int64_t nchunks;
  int64_t chunk;
};
ChunkPlan plan_chunks(int64_t nrows, int64_t n, int k);

// Top-k of each row of scores (nrows, ld) over columns [0, n). With ids_in
// (nrows, ld) the id of column j is ids_in[row, j] and entries < 0 are skipped
// (this is also how partial lists from a chunked scan are merged); without,
// it is j. Outputs (nrows, k): out_vals or out_ivals (int32 distances), ids.
void select_rows(const float* scores, int64_t ld, const idx_t* ids_in, int64_t nrows, int64_t n,
                 int k, bool largest, float* out_vals, int32_t* out_ivals, idx_t* out_ids,
                 cudaStream_t stream);

// Checks shared by every top-k entry point.
void check_topk_args(int64_t n, int k);

}  // namespace detail
}  // namespace cuda
}  // namespace vecpress
