// PRIVATE: progressive-dimension k-means (faiss ProgressiveDimClustering), used
// by RQ training: rotate the sample onto its principal axes, cluster on the
// first d_s = d^((s+1)/steps) axes, warm-start each step from the previous
// centroids padded with zeros, and rotate the centroids back. Clustering the
// high-variance directions first lands in a better optimum than plain k-means
// in the full space (it is what makes faiss's RQ codebooks generalise).
#pragma once
#include <cstdint>

namespace vecpress {
namespace detail {

// x (n, d) float32; centroids out (k, d). niter Lloyd iterations per step.
void kmeans_progressive_dim(const float* x, int64_t n, int64_t d, int64_t k, int niter,
                            int steps, uint64_t seed, int nthreads, float* centroids);

}  // namespace detail
}  // namespace vecpress
