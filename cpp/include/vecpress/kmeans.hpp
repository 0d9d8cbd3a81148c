// k-means (Lloyd) shared by PQ, RQ and IVF training.
#pragma once
#include <cstdint>

#include "vecpress/types.hpp"

namespace vecpress {

struct KMeansParams {
  int niter = 25;
  uint64_t seed = 1234;
  // Train on at most k * max_points_per_centroid rows (a seeded random
  // subsample), as faiss does: more points barely move the centroids.
  int64_t max_points_per_centroid = 256;
  bool kmeanspp = false;  // k-means++ seeding instead of k distinct random rows
  int nthreads = 0;
  // Start Lloyd from the centroids passed in (k, d) instead of seeding; used to
  // refine a previous solution (progressive-dimension k-means).
  bool warm_start = false;
};

// x (n, d) float32 row-major; centroids out (k, d). Requires n >= k.
// centroids is read as the starting point when params.warm_start is set.
// Empty clusters are repaired by splitting the largest cluster (faiss's rule).
// Returns the final mean squared distance of the training rows to their centroid.
float kmeans_train(const float* x, int64_t n, int64_t d, int64_t k, const KMeansParams& params,
                   float* centroids);

// Nearest centroid (squared L2) of each row: assign (n,) int64, dist (n,) (may be null).
void kmeans_assign(const float* x, int64_t n, int64_t d, const float* centroids, int64_t k,
                   idx_t* assign, float* dist, int nthreads);

}  // namespace vecpress
