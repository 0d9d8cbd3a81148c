// ADC scan over 8-bit codes. Tasks are (query block x code slice); inside a
// task, a block of codes small enough for L1 is scored against every query of
// the block before moving on, so code bytes are fetched from memory once per
// query block rather than once per query. Four codes are scored together and
// each code is summed into two partial sums, to keep several independent
// table loads in flight.
#include "vecpress/adc.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "blocked_topk.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kQueryBlock = 16;
constexpr int64_t kCodeBlock = 256;

// out[j] = sum_m T[m][codes[j][m]] for j < nx.
inline void scan_block(const float* T, int64_t M, const uint8_t* codes, int64_t nx, float* out) {
  int64_t j = 0;
  for (; j + 4 <= nx; j += 4) {
    const uint8_t* c0 = codes + j * M;
    const uint8_t* c1 = c0 + M;
    const uint8_t* c2 = c1 + M;
    const uint8_t* c3 = c2 + M;
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) {
      const float* t0 = T + m * 256;
      const float* t1 = t0 + 256;
      a0 += t0[c0[m]];
      a1 += t0[c1[m]];
      a2 += t0[c2[m]];
      a3 += t0[c3[m]];
      b0 += t1[c0[m + 1]];
      b1 += t1[c1[m + 1]];
      b2 += t1[c2[m + 1]];
      b3 += t1[c3[m + 1]];
    }
    if (m < M) {
      const float* t0 = T + m * 256;
      a0 += t0[c0[m]];
      a1 += t0[c1[m]];
      a2 += t0[c2[m]];
      a3 += t0[c3[m]];
    }
    out[j] = a0 + b0;
    out[j + 1] = a1 + b1;
    out[j + 2] = a2 + b2;
    out[j + 3] = a3 + b3;
  }
  for (; j < nx; ++j) {
    const uint8_t* c = codes + j * M;
    float a = 0;
    for (int64_t m = 0; m < M; ++m) a += T[m * 256 + c[m]];
    out[j] = a;
  }
}

template <class Cmp>
void search_range(const float* tables, int64_t nqb, int64_t M, const uint8_t* codes, int64_t x0,
                  int64_t x1, int k, float* vals, idx_t* ids) {
  std::vector<float> buf(kCodeBlock);
  std::vector<TopK<float, Cmp>> heaps;
  heaps.reserve(nqb);
  for (int64_t i = 0; i < nqb; ++i) heaps.emplace_back(vals + i * k, ids + i * k, k);
  for (int64_t j0 = x0; j0 < x1; j0 += kCodeBlock) {
    int64_t nxb = std::min(kCodeBlock, x1 - j0);
    for (int64_t i = 0; i < nqb; ++i) {
      scan_block(tables + i * M * 256, M, codes + j0 * M, nxb, buf.data());
      detail::push_block(heaps[i], buf.data(), nxb, j0);
    }
  }
  for (auto& h : heaps) h.finalize();
}

template <class Cmp>
void search_impl(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                 int k, float* out_scores, idx_t* out_ids, int nthreads) {
  detail::blocked_topk<float, Cmp>(
      nq, n, kQueryBlock, 4 * kCodeBlock, k, out_scores, out_ids, nthreads,
      [&](int64_t q0, int64_t nqb, int64_t x0, int64_t x1, float* v, idx_t* id) {
        search_range<Cmp>(tables + q0 * M * 256, nqb, M, codes, x0, x1, k, v, id);
      });
}

}  // namespace

void adc_scan_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                 float* out, int nthreads) {
  VP_CHECK(M > 0, "M must be positive");
  parallel_for(nq, nthreads, [&](int64_t i) {
    for (int64_t j0 = 0; j0 < n; j0 += kCodeBlock)
      scan_block(tables + i * M * 256, M, codes + j0 * M, std::min(kCodeBlock, n - j0), out + i * n + j0);
  });
}

void adc_search_u8(const float* tables, int64_t nq, int64_t M, const uint8_t* codes, int64_t n,
                   bool largest, int k, float* out_scores, idx_t* out_ids, int nthreads) {
  VP_CHECK(M > 0, "M must be positive");
  VP_CHECK(k >= 0, "k must be non-negative");
  if (nq == 0 || k == 0) return;
  if (largest)
    search_impl<Larger>(tables, nq, M, codes, n, k, out_scores, out_ids, nthreads);
  else
    search_impl<Smaller>(tables, nq, M, codes, n, k, out_scores, out_ids, nthreads);
}

}  // namespace vecpress
