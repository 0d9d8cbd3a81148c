// The beam step shared by RQ encoding and training: every (beam entry, code)
// candidate's objective is the entry's objective plus table sums, and the nb
// best survive. A heap rejects most candidates with one compare.
#include <algorithm>
#include <cstring>

#include "blocked_topk.hpp"
#include "rq_dispatch.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace detail {

void rq_extend_beam(const RqFns& f, const float* cross, int64_t K, int m, const float* t,
                    int cur, const uint8_t* codes, const float* obj, int nb, uint8_t* ncodes,
                    float* nobj, const BeamScratch& s) {
  TopK<float, Smaller> heap(s.heap_vals, s.heap_ids, nb);
  // Stage m's cross-product tables with stages 0..m-1 are contiguous.
  const float* cm = cross + rq_pair(0, m) * K * K;
  for (int b = 0; b < cur; ++b) {
    const uint8_t* cb = codes + int64_t(b) * m;
    for (int i = 0; i < m; ++i) s.rows[i] = cm + (int64_t(i) * K + cb[i]) * K;
    f.sum_rows(obj[b], t, s.rows, m, K, s.buf);
    push_block(heap, s.buf, K, idx_t(b) * K);
  }
  heap.finalize();
  for (int j = 0; j < nb; ++j) {
    idx_t id = s.heap_ids[j];
    int64_t b = id / K, k = id % K;
    if (m) std::memcpy(ncodes + int64_t(j) * (m + 1), codes + b * m, size_t(m));
    ncodes[int64_t(j) * (m + 1) + m] = uint8_t(k);
    nobj[j] = s.heap_vals[j];
  }
}

}  // namespace detail
}  // namespace vecpress
