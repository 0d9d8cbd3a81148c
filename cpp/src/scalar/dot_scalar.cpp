// Portable reference kernels for inner products and squared L2. They are the
// oracle the SIMD variants are tested against.
#include "dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

float dot_ref(const float* a, const float* b, int64_t d) {
  // Four partial sums: a little ILP without changing the algorithm.
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < d; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

float l2sq_ref(const float* a, const float* b, int64_t d) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= d; i += 4) {
    float t0 = a[i] - b[i], t1 = a[i + 1] - b[i + 1], t2 = a[i + 2] - b[i + 2],
          t3 = a[i + 3] - b[i + 3];
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  for (; i < d; ++i) {
    float t = a[i] - b[i];
    s0 += t * t;
  }
  return (s0 + s1) + (s2 + s3);
}

void ip_block_ref(const float* q, int64_t ldq, int64_t nq, const float* x, int64_t ldx,
                  int64_t nx, int64_t d, float* out, int64_t ldo) {
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nx; ++j) out[i * ldo + j] = dot_ref(q + i * ldq, x + j * ldx, d);
}

// The scalar "packed" layout is the rows themselves, contiguous.
int64_t packed_size_ref(int64_t nx, int64_t d) { return nx * d; }

void pack_ref(const float* x, int64_t ldx, int64_t nx, int64_t d, float* dst) {
  for (int64_t j = 0; j < nx; ++j)
    for (int64_t k = 0; k < d; ++k) dst[j * d + k] = x[j * ldx + k];
}

void ip_packed_ref(const float* q, int64_t ldq, int64_t nq, const float* packed, int64_t nx,
                   int64_t d, float* out, int64_t ldo) {
  ip_block_ref(q, ldq, nq, packed, d, nx, d, out, ldo);
}

}  // namespace

const DotFns dot_scalar = {ip_block_ref, dot_ref, l2sq_ref, packed_size_ref, pack_ref,
                           ip_packed_ref};

}  // namespace detail
}  // namespace vecpress
