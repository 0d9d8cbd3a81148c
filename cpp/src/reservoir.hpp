// PRIVATE: top-k selection by buffering. Candidates are appended to a buffer of
// 2k; when it fills, nth_element keeps the k best and their worst becomes the
// threshold a later candidate must strictly beat. A push costs O(1) amortised
// where a heap pays O(log k) with unpredictable branches: scans that meet
// candidates in no particular order (the inverted-file scan visits lists, not
// queries' probes, in turn) push often, and the heap dominated their time.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "vecpress/topk.hpp"

namespace vecpress {
namespace detail {

template <class T, class Cmp>
class Reservoir {
 public:
  struct Entry {
    T val;
    idx_t id;
  };

  explicit Reservoir(int k) : k_(k), buf_(size_t(2 * std::max(k, 1))) {}

  // True once a threshold exists: only values strictly better than threshold() enter.
  bool bounded() const { return bounded_; }
  T threshold() const { return thr_; }

  inline void push(T val, idx_t id) {
    if (k_ <= 0) return;
    if (bounded_ && !Cmp::worse(thr_, val)) return;  // ties with the threshold lose
    buf_[n_++] = Entry{val, id};
    if (n_ == buf_.size()) shrink();
  }

  // Keeps the k best (ties broken by id), in no particular order; returns them.
  const Entry* finish(int* count) {
    if (n_ > size_t(k_)) shrink();
    *count = int(n_);
    return buf_.data();
  }

 private:
  void shrink() {
    auto better = [](const Entry& a, const Entry& b) {
      return Cmp::better(a.val, a.id, b.val, b.id);
    };
    std::nth_element(buf_.begin(), buf_.begin() + (k_ - 1), buf_.begin() + n_, better);
    n_ = size_t(k_);
    thr_ = buf_[k_ - 1].val;
    bounded_ = k_ > 0;
  }

  int k_;
  std::vector<Entry> buf_;
  size_t n_ = 0;
  T thr_ = Cmp::template worst<T>();
  bool bounded_ = false;
};

}  // namespace detail
}  // namespace vecpress
