#include "vecpress/topk.hpp"

#include <type_traits>

#include "reservoir.hpp"
#include "vecpress/parallel.hpp"

namespace vecpress {
namespace {

template <class Cmp>
void select_row(const float* row, int64_t n, int k, float* vals, idx_t* ids) {
  detail::with_selection<float, Cmp>(k, [&](auto* sel) {
    std::remove_pointer_t<decltype(sel)> h(vals, ids, k);
    for (int64_t j = 0; j < n; ++j) h.push(row[j], j);
    h.finalize();
  });
}

}  // namespace

void topk_select(const float* scores, int64_t nq, int64_t n, int k, bool largest,
                 float* out_vals, idx_t* out_ids, int nthreads) {
  VP_CHECK(k >= 0, "k must be non-negative");
  parallel_for(nq, nthreads, [&](int64_t i) {
    if (largest)
      select_row<Larger>(scores + i * n, n, k, out_vals + i * k, out_ids + i * k);
    else
      select_row<Smaller>(scores + i * n, n, k, out_vals + i * k, out_ids + i * k);
  });
}

}  // namespace vecpress
