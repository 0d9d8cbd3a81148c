// RaBitQ kernels: the structured random rotation, and the scan that turns the
// integer AND + popcount part into estimated scores with each code's factors
// and keeps the top k. The float correction lives here, outside the per-level
// tables, so every SIMD level returns the same floats given the same integers.
#include "vecpress/rabitq.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "blocked_topk.hpp"
#include "rabitq_dispatch.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace {

constexpr int64_t kQueryBlock = 32;
constexpr int64_t kBaseBlock = 256;

void check_dim(int64_t D) {
  VP_CHECK(D > 0 && D % 64 == 0, "RaBitQ: the padded dimension must be a positive multiple of 64");
}

// Unnormalised in-place Walsh-Hadamard transform of a[0:L], L a power of two.
void fwht(float* a, int64_t L) {
  for (int64_t h = 1; h < L; h *= 2)
    for (int64_t i = 0; i < L; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        float x = a[j], y = a[j + h];
        a[j] = x + y;
        a[j + h] = x - y;
      }
}

// The butterfly (a_i, a_{i+D/2}) -> (a_i + a_{i+D/2}, a_i - a_{i+D/2}) / sqrt2 (its own inverse).
void kac(float* a, int64_t D) {
  const int64_t h = D / 2;
  const float s = float(1.0 / std::sqrt(2.0));
  for (int64_t i = 0; i < h; ++i) {
    float x = a[i], y = a[i + h];
    a[i] = (x + y) * s;
    a[i + h] = (x - y) * s;
  }
}

// Rotates one row in place; every step is orthogonal and symmetric, so the inverse is the
// same steps in reverse order.
void rotate_row(float* a, int64_t D, int64_t L, const float* signs, int rounds, bool inverse) {
  const float norm = float(1.0 / std::sqrt(double(L)));
  auto window = [&](int r) { return a + ((r & 1) ? D - L : 0); };
  auto hadamard = [&](int r) {
    float* w = window(r);
    fwht(w, L);
    for (int64_t i = 0; i < L; ++i) w[i] *= norm;
  };
  auto flip = [&](int r) {
    for (int64_t i = 0; i < D; ++i) a[i] *= signs[r * D + i];
  };
  if (!inverse) {
    for (int r = 0; r < rounds; ++r) {
      flip(r);
      hadamard(r);
      if (L < D) kac(a, D);
    }
  } else {
    for (int r = rounds - 1; r >= 0; --r) {
      if (L < D) kac(a, D);
      hadamard(r);
      flip(r);
    }
  }
}

// Estimated scores of the nx codes at rows x0.. for nqb queries, given their ip_bin values.
void correct(const int32_t* ip, int64_t ldi, int64_t nqb, const float* qc, const uint8_t* codes,
             int64_t cb, int64_t D, int64_t x0, int64_t nx, float* out, int64_t ldo, float* bound) {
  for (int64_t j = 0; j < nx; ++j) {
    float f[kRabitqFactors];
    std::memcpy(f, codes + (x0 + j) * cb + D / 8, sizeof f);
    for (int64_t i = 0; i < nqb; ++i) {
      const float* c = qc + i * kRabitqQueryConsts;
      float v = float(ip[i * ldi + j]);
      out[i * ldo + j] = f[0] + c[0] + c[1] * (f[1] * (c[2] * v + c[3]) + c[4] * f[2]);
      if (bound) bound[i * ldo + j] = std::fabs(c[1]) * (c[5] * f[3] + c[6] * f[1]);
    }
  }
}

template <class Cmp>
void search_range(const detail::RabitqFns& f, const uint64_t* q, int64_t nqb, int qb,
                  const float* qc, const uint8_t* codes, int64_t cb, int64_t D, int64_t x0,
                  int64_t x1, int k, float* vals, idx_t* ids, const uint64_t* allow) {
  const int64_t nw = D / 64;
  std::vector<int32_t> ibuf(nqb * kBaseBlock);
  std::vector<float> fbuf(nqb * kBaseBlock);
  std::vector<TopK<float, Cmp>> heaps;
  heaps.reserve(nqb);
  for (int64_t i = 0; i < nqb; ++i) heaps.emplace_back(vals + i * k, ids + i * k, k, allow);
  auto x = reinterpret_cast<const uint64_t*>(codes);
  for (int64_t j0 = x0; j0 < x1; j0 += kBaseBlock) {
    int64_t nxb = std::min(kBaseBlock, x1 - j0);
    f.ip_block(q, nqb, qb, x + j0 * (cb / 8), nxb, cb / 8, nw, ibuf.data(), kBaseBlock);
    correct(ibuf.data(), kBaseBlock, nqb, qc, codes, cb, D, j0, nxb, fbuf.data(), kBaseBlock,
            nullptr);
    for (int64_t i = 0; i < nqb; ++i)
      detail::push_block(heaps[i], fbuf.data() + i * kBaseBlock, nxb, j0);
  }
  for (auto& h : heaps) h.finalize();
}

}  // namespace

void rabitq_rotate(const float* x, int64_t n, int64_t ldx, int64_t d, int64_t D,
                   const float* signs, int rounds, bool inverse, float* out, int nthreads) {
  check_dim(D);
  VP_CHECK(d > 0 && d <= ldx && d <= D, "rabitq_rotate: need 0 < d <= min(row length, D)");
  VP_CHECK(rounds >= 1, "rabitq_rotate: rounds must be >= 1");
  int64_t L = 1;
  while (2 * L <= D) L *= 2;
  const int64_t per_task = 256;
  parallel_for((n + per_task - 1) / per_task, nthreads, [&](int64_t t) {
    for (int64_t r = t * per_task; r < std::min(n, (t + 1) * per_task); ++r) {
      float* a = out + r * D;
      std::memcpy(a, x + r * ldx, d * sizeof(float));
      std::fill(a + d, a + D, 0.0f);
      rotate_row(a, D, L, signs, rounds, inverse);
    }
  });
}

void rabitq_ip_bin(const uint64_t* qplanes, int64_t nq, int qb, const uint8_t* codes, int64_t n,
                   int64_t D, int32_t* out, int nthreads) {
  check_dim(D);
  VP_CHECK(qb >= 1 && qb <= 8, "RaBitQ: query bits must be in [1, 8]");
  const auto& f = detail::rabitq_fns();
  const int64_t cb = rabitq_code_bytes(D), nw = D / 64;
  auto x = reinterpret_cast<const uint64_t*>(codes);
  parallel_for(nq, nthreads, [&](int64_t i) {
    f.ip_block(qplanes + i * qb * nw, 1, qb, x, n, cb / 8, nw, out + i * n, n);
  });
}

void rabitq_scores(const uint64_t* qplanes, int64_t nq, int qb, const float* qc,
                   const uint8_t* codes, int64_t n, int64_t D, float* out, float* bound,
                   int nthreads) {
  check_dim(D);
  VP_CHECK(qb >= 1 && qb <= 8, "RaBitQ: query bits must be in [1, 8]");
  const auto& f = detail::rabitq_fns();
  const int64_t cb = rabitq_code_bytes(D), nw = D / 64;
  auto x = reinterpret_cast<const uint64_t*>(codes);
  parallel_for(nq, nthreads, [&](int64_t i) {
    std::vector<int32_t> ip(n);
    f.ip_block(qplanes + i * qb * nw, 1, qb, x, n, cb / 8, nw, ip.data(), n);
    correct(ip.data(), n, 1, qc + i * kRabitqQueryConsts, codes, cb, D, 0, n, out + i * n, n,
            bound ? bound + i * n : nullptr);
  });
}

void rabitq_search(const uint64_t* qplanes, int64_t nq, int qb, const float* qc,
                   const uint8_t* codes, int64_t n, int64_t D, bool largest, int k,
                   float* out_vals, idx_t* out_ids, int nthreads, const uint64_t* allow) {
  check_dim(D);
  VP_CHECK(qb >= 1 && qb <= 8, "RaBitQ: query bits must be in [1, 8]");
  VP_CHECK(k >= 0, "k must be non-negative");
  if (nq == 0 || k == 0) return;
  const auto& f = detail::rabitq_fns();
  const int64_t cb = rabitq_code_bytes(D), nw = D / 64;
  auto run = [&](auto cmp) {
    using Cmp = decltype(cmp);
    detail::blocked_topk<float, Cmp>(
        nq, n, kQueryBlock, 4 * kBaseBlock, k, out_vals, out_ids, nthreads,
        [&](int64_t q0, int64_t nqb, int64_t x0, int64_t x1, float* v, idx_t* id) {
          search_range<Cmp>(f, qplanes + q0 * qb * nw, nqb, qb, qc + q0 * kRabitqQueryConsts,
                            codes, cb, D, x0, x1, k, v, id, allow);
        });
  };
  if (largest) run(Larger{}); else run(Smaller{});
}

}  // namespace vecpress
