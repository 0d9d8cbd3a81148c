#include "vecpress/topk.hpp"

#include "vecpress/parallel.hpp"

namespace vecpress {

void topk_select(const float* scores, int64_t nq, int64_t n, int k, bool largest,
                 float* out_vals, idx_t* out_ids, int nthreads) {
  VP_CHECK(k >= 0, "k must be non-negative");
  parallel_for(nq, nthreads, [&](int64_t i) {
    const float* row = scores + i * n;
    if (largest) {
      TopK<float, Larger> h(out_vals + i * k, out_ids + i * k, k);
      for (int64_t j = 0; j < n; ++j) h.push(row[j], j);
      h.finalize();
    } else {
      TopK<float, Smaller> h(out_vals + i * k, out_ids + i * k, k);
      for (int64_t j = 0; j < n; ++j) h.push(row[j], j);
      h.finalize();
    }
  });
}

}  // namespace vecpress
