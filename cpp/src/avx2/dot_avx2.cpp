// AVX2/FMA inner products: single dot products, and the packed-panel GEMM
// micro-kernel behind ip_block. Only this file is compiled with -mavx2 -mfma.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

float dot_one_avx2(const float* a, const float* b, int64_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= d; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

float l2sq_avx2(const float* a, const float* b, int64_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(t0, t0, s0);
    s1 = _mm256_fmadd_ps(t1, t1, s1);
  }
  for (; i + 8 <= d; i += 8) {
    __m256 t = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(t, t, s0);
  }
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < d; ++i) {
    float t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

// ip_block is an outer-product GEMM micro-kernel (the BLIS/OpenBLAS shape):
// the base rows are packed into panels of 16 (panel[k][0:16] = x_{j..j+15}[k]),
// and a tile of 6 queries x 16 rows keeps 12 accumulators in YMM registers.
// Each k step is 2 panel loads + 6 broadcasts feeding 12 FMAs, so the loop is
// bound by FMA throughput and needs no horizontal sums.
constexpr int kPanel = 16;
constexpr int kRows = 6;

void pack_panels(const float* x, int64_t ldx, int64_t nx, int64_t d, float* dst) {
  for (int64_t j0 = 0; j0 < nx; j0 += kPanel) {
    int64_t w = std::min<int64_t>(kPanel, nx - j0);
    float* p = dst + j0 * d;
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t j = 0; j < w; ++j) p[k * kPanel + j] = x[(j0 + j) * ldx + k];
      for (int64_t j = w; j < kPanel; ++j) p[k * kPanel + j] = 0.0f;
    }
  }
}

template <int R>
inline void tile(const float* q, int64_t ldq, const float* panel, int64_t d, float* out,
                 int64_t ldo, int64_t w) {
  // Every loop over r is unrolled so lo/hi stay in registers (a dynamically
  // indexed r would force them to the stack).
  __m256 lo[R], hi[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < d; ++k) {
    __m256 p0 = _mm256_loadu_ps(panel + k * kPanel);
    __m256 p1 = _mm256_loadu_ps(panel + k * kPanel + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m256 b = _mm256_broadcast_ss(q + r * ldq + k);
      lo[r] = _mm256_fmadd_ps(b, p0, lo[r]);
      hi[r] = _mm256_fmadd_ps(b, p1, hi[r]);
    }
  }
  if (w == kPanel) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(out + r * ldo, lo[r]);
      _mm256_storeu_ps(out + r * ldo + 8, hi[r]);
    }
  } else {
    alignas(32) float tmp[kPanel];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      _mm256_store_ps(tmp, lo[r]);
      _mm256_store_ps(tmp + 8, hi[r]);
      for (int64_t j = 0; j < w; ++j) out[r * ldo + j] = tmp[j];
    }
  }
}

int64_t packed_size_avx2(int64_t nx, int64_t d) { return (nx + kPanel - 1) / kPanel * kPanel * d; }

void ip_packed_avx2(const float* q, int64_t ldq, int64_t nq, const float* packed, int64_t nx,
                    int64_t d, float* out, int64_t ldo) {
  int64_t npanels = (nx + kPanel - 1) / kPanel;
  for (int64_t pj = 0; pj < npanels; ++pj) {
    const float* panel = packed + pj * kPanel * d;
    int64_t j0 = pj * kPanel, w = std::min<int64_t>(kPanel, nx - j0);
    int64_t i = 0;
    for (; i + kRows <= nq; i += kRows) tile<kRows>(q + i * ldq, ldq, panel, d, out + i * ldo + j0, ldo, w);
    switch (nq - i) {
      case 5: tile<5>(q + i * ldq, ldq, panel, d, out + i * ldo + j0, ldo, w); break;
      case 4: tile<4>(q + i * ldq, ldq, panel, d, out + i * ldo + j0, ldo, w); break;
      case 3: tile<3>(q + i * ldq, ldq, panel, d, out + i * ldo + j0, ldo, w); break;
      case 2: tile<2>(q + i * ldq, ldq, panel, d, out + i * ldo + j0, ldo, w); break;
      case 1: tile<1>(q + i * ldq, ldq, panel, d, out + i * ldo + j0, ldo, w); break;
      default: break;
    }
  }
}

void ip_block_avx2(const float* q, int64_t ldq, int64_t nq, const float* x, int64_t ldx,
                   int64_t nx, int64_t d, float* out, int64_t ldo) {
  thread_local std::vector<float> packed;
  packed.resize(packed_size_avx2(nx, d));
  pack_panels(x, ldx, nx, d, packed.data());
  ip_packed_avx2(q, ldq, nq, packed.data(), nx, d, out, ldo);
}

}  // namespace

const DotFns dot_avx2 = {ip_block_avx2, dot_one_avx2, l2sq_avx2, packed_size_avx2,
                         pack_panels, ip_packed_avx2};

}  // namespace detail
}  // namespace vecpress
