// Binary quantization and blocked Hamming top-k. The task split mirrors
// flat.cpp: query blocks x base slices, with a merge only for small batches.
#include "vecpress/hamming.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "blocked_topk.hpp"
#include "dispatch.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kQueryBlock = 64;
constexpr int64_t kBaseBlock = 256;

void check_nbytes(int64_t nbytes) {
  VP_CHECK(nbytes > 0 && nbytes % 8 == 0,
           "binary codes must be a positive multiple of 8 bytes wide (see binary_code_bytes)");
}

void search_range(const detail::HammingFns& f, const uint64_t* q, int64_t nqb, const uint64_t* x,
                  int64_t x0, int64_t x1, int64_t nw, int k, int32_t* vals, idx_t* ids,
                  const uint64_t* allow) {
  std::vector<int32_t> buf(kQueryBlock * kBaseBlock);
  std::vector<TopK<int32_t, Smaller>> heaps;
  heaps.reserve(nqb);
  for (int64_t i = 0; i < nqb; ++i) heaps.emplace_back(vals + i * k, ids + i * k, k, allow);
  for (int64_t j0 = x0; j0 < x1; j0 += kBaseBlock) {
    int64_t nxb = std::min(kBaseBlock, x1 - j0);
    f.hamming_block(q, nqb, x + j0 * nw, nxb, nw, buf.data(), kBaseBlock);
    for (int64_t i = 0; i < nqb; ++i) detail::push_block(heaps[i], buf.data() + i * kBaseBlock, nxb, j0);
  }
  for (auto& h : heaps) h.finalize();
}

}  // namespace

void binarize(const float* x, int64_t n, int64_t x_stride, int64_t d, const float* thresholds,
              uint8_t* codes, int nthreads) {
  VP_CHECK(d > 0 && d <= x_stride, "binarize: d must be in [1, row length]");
  int64_t nbytes = binary_code_bytes(d);
  int64_t per_task = 1024;
  parallel_for((n + per_task - 1) / per_task, nthreads, [&](int64_t t) {
    for (int64_t r = t * per_task; r < std::min(n, (t + 1) * per_task); ++r) {
      const float* xr = x + r * x_stride;
      uint8_t* c = codes + r * nbytes;
      std::memset(c, 0, nbytes);
      for (int64_t i = 0; i < d; ++i) {
        float th = thresholds ? thresholds[i] : 0.0f;
        if (xr[i] > th) c[i >> 3] |= uint8_t(1u << (i & 7));
      }
    }
  });
}

void hamming_distances(const uint8_t* qcodes, int64_t nq, const uint8_t* codes, int64_t n,
                       int64_t nbytes, int32_t* out, int nthreads) {
  check_nbytes(nbytes);
  const detail::HammingFns& f = detail::hamming_fns();
  int64_t nw = nbytes / 8;
  auto q = reinterpret_cast<const uint64_t*>(qcodes);
  auto x = reinterpret_cast<const uint64_t*>(codes);
  parallel_for((nq + 3) / 4, nthreads, [&](int64_t t) {
    int64_t i0 = t * 4, nqb = std::min<int64_t>(4, nq - i0);
    f.hamming_block(q + i0 * nw, nqb, x, n, nw, out + i0 * n, n);
  });
}

void hamming_search(const uint8_t* qcodes, int64_t nq, const uint8_t* codes, int64_t n,
                    int64_t nbytes, int k, int32_t* out_dist, idx_t* out_ids, int nthreads,
                    const uint64_t* allow) {
  check_nbytes(nbytes);
  VP_CHECK(k >= 0, "k must be non-negative");
  if (nq == 0 || k == 0) return;
  const detail::HammingFns& f = detail::hamming_fns();
  int64_t nw = nbytes / 8;
  auto q = reinterpret_cast<const uint64_t*>(qcodes);
  auto x = reinterpret_cast<const uint64_t*>(codes);
  detail::blocked_topk<int32_t, Smaller>(
      nq, n, kQueryBlock, 4 * kBaseBlock, k, out_dist, out_ids, nthreads,
      [&](int64_t q0, int64_t nqb, int64_t x0, int64_t x1, int32_t* v, idx_t* id) {
        search_range(f, q + q0 * nw, nqb, x, x0, x1, nw, k, v, id, allow);
      });
}

void binary_asym_tables(const float* q, int64_t nq, int64_t q_stride, int64_t d, float* tables,
                        int nthreads) {
  VP_CHECK(d > 0 && d <= q_stride, "binary_asym_tables: d must be in [1, row length]");
  int64_t nbytes = binary_code_bytes(d);
  parallel_for(nq, nthreads, [&](int64_t i) {
    const float* qi = q + i * q_stride;
    float* t = tables + i * nbytes * 256;
    for (int64_t b = 0; b < nbytes; ++b) {
      float w[8];
      float total = 0;
      for (int bit = 0; bit < 8; ++bit) {
        int64_t dim = b * 8 + bit;
        w[bit] = dim < d ? qi[dim] : 0.0f;
        total += w[bit];
      }
      // table[v] = sum over set bits of +w, unset of -w = 2 * sum_set(w) - total;
      // built incrementally: v with its lowest set bit cleared is already done.
      float* tb = t + b * 256;
      float partial[256];
      partial[0] = 0.0f;
      for (int v = 1; v < 256; ++v) partial[v] = partial[v & (v - 1)] + w[__builtin_ctz(v)];
      for (int v = 0; v < 256; ++v) tb[v] = 2.0f * partial[v] - total;
    }
  });
}

}  // namespace vecpress
