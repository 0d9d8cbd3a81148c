// Portable reference for the small-dimension nearest-centroid kernel (PQ
// encode, k-means assignment when d is small). The loop runs over centroids
// innermost so the compiler vectorizes it at baseline flags; each centroid's
// distance is still summed in dimension order, as the SIMD variants do.
#include <limits>
#include <vector>

#include "dispatch.hpp"

namespace vecpress {
namespace detail {
namespace {

void nearest_ref(const float* x, int64_t n, int64_t ldx, const float* cT, int64_t dsub,
                 int64_t ksub, idx_t* assign, float* dist) {
  std::vector<float> acc(ksub);
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * ldx;
    for (int64_t c = 0; c < ksub; ++c) acc[c] = 0.0f;
    for (int64_t j = 0; j < dsub; ++j) {
      const float xj = xi[j];
      const float* row = cT + j * ksub;
      for (int64_t c = 0; c < ksub; ++c) {
        float t = xj - row[c];
        acc[c] += t * t;
      }
    }
    float best = std::numeric_limits<float>::infinity();
    idx_t bi = 0;
    for (int64_t c = 0; c < ksub; ++c)
      if (acc[c] < best) {
        best = acc[c];
        bi = c;
      }
    assign[i] = bi;
    if (dist) dist[i] = best;
  }
}

}  // namespace

const PqFns pq_scalar = {nearest_ref};

}  // namespace detail
}  // namespace vecpress
