// AVX2 RQ kernels. sum_rows keeps 32 outputs in four YMM accumulators while it
// walks the rows, so each output is written once instead of once per row.
// Plain adds in the reference order: results equal the scalar kernel's.
#include <immintrin.h>

#include "rq_dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

void sum_rows_avx2(float base, const float* a, const float* const* rows, int nrows, int64_t K,
                   float* out) {
  const __m256 vb = _mm256_set1_ps(base);
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    __m256 s0 = _mm256_add_ps(vb, _mm256_loadu_ps(a + k));
    __m256 s1 = _mm256_add_ps(vb, _mm256_loadu_ps(a + k + 8));
    __m256 s2 = _mm256_add_ps(vb, _mm256_loadu_ps(a + k + 16));
    __m256 s3 = _mm256_add_ps(vb, _mm256_loadu_ps(a + k + 24));
    for (int r = 0; r < nrows; ++r) {
      const float* row = rows[r] + k;
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(row));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(row + 8));
      s2 = _mm256_add_ps(s2, _mm256_loadu_ps(row + 16));
      s3 = _mm256_add_ps(s3, _mm256_loadu_ps(row + 24));
    }
    _mm256_storeu_ps(out + k, s0);
    _mm256_storeu_ps(out + k + 8, s1);
    _mm256_storeu_ps(out + k + 16, s2);
    _mm256_storeu_ps(out + k + 24, s3);
  }
  for (; k + 8 <= K; k += 8) {
    __m256 s = _mm256_add_ps(vb, _mm256_loadu_ps(a + k));
    for (int r = 0; r < nrows; ++r) s = _mm256_add_ps(s, _mm256_loadu_ps(rows[r] + k));
    _mm256_storeu_ps(out + k, s);
  }
  for (; k < K; ++k) {
    float s = base + a[k];
    for (int r = 0; r < nrows; ++r) s += rows[r][k];
    out[k] = s;
  }
}

}  // namespace

const RqFns rq_avx2 = {sum_rows_avx2};

}  // namespace detail
}  // namespace vecpress
