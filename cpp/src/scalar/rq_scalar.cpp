// Reference RQ kernels (baseline flags): the oracle for the SIMD variants.
#include "rq_dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

void sum_rows_ref(float base, const float* a, const float* const* rows, int nrows, int64_t K,
                  float* out) {
  for (int64_t k = 0; k < K; ++k) out[k] = base + a[k];
  for (int r = 0; r < nrows; ++r) {
    const float* row = rows[r];
    for (int64_t k = 0; k < K; ++k) out[k] += row[k];
  }
}

}  // namespace

const RqFns rq_scalar = {sum_rows_ref};

}  // namespace detail
}  // namespace vecpress
