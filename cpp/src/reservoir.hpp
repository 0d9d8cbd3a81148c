// PRIVATE: top-k selection by buffering, for scans that offer many candidates.
// Candidates are appended to a buffer of 2k; when it fills, nth_element keeps the
// k best and their worst becomes the threshold a later candidate must beat. A push
// costs O(1) amortised where a heap pays O(log k) with unpredictable branches:
// scans whose thresholds tighten slowly (the inverted-file scans visit lists, not
// each query's probes, in turn; the fast-scan first stages keep hundreds of
// candidates) push often, and a heap dominated their time.
//
// Order: by value, ties by the lower `tie` (the row: quantized sums tie often), as
// one uint64 (order key of the value, tie), so the kept set is the k best (value,
// tie) pairs whatever order the candidates come in (an index scanned as one layout
// or as a main and a delta layout keeps the same candidates).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "vecpress/topk.hpp"
#include "vecpress/types.hpp"

namespace vecpress {
namespace detail {

// T is int32_t or float; Cmp is Larger or Smaller (topk.hpp).
template <class T, class Cmp>
class Reservoir {
  static_assert(std::is_same<T, int32_t>::value || std::is_same<T, float>::value,
                "Reservoir holds int32 or float values");

 public:
  explicit Reservoir(int k, const uint64_t* allow = nullptr)
      : k_(std::max(k, 0)), allow_(allow), buf_(size_t(2 * std::max(k, 1))) {}

  // True once a threshold exists: only (value, tie) pairs better than threshold_key() enter.
  bool bounded() const { return bounded_; }
  // The worst kept value (the threshold's value; Cmp's worst before bounded()).
  T threshold() const { return bounded_ ? unorder(uint32_t(thr_ >> 32)) : Cmp::template worst<T>(); }

  // tie: the row (ties by the lower); id: what the caller reads back (the row, or a
  // packed position); allow filters on id.
  inline void push(T val, idx_t id, uint32_t tie) {
    const uint64_t key = (uint64_t(order(val)) << 32) | tie;
    if (k_ == 0 || (bounded_ && key >= thr_) || !row_allowed(allow_, id)) return;
    buf_[n_++] = Entry{key, id};
    if (n_ == buf_.size()) shrink();
  }
  inline void push(T val, idx_t id) { push(val, id, uint32_t(id)); }

  // Keeps the k best and returns how many are held; value(i) / id(i) read them (in no
  // particular order).
  int finish() {
    if (n_ > size_t(k_)) shrink();
    return int(n_);
  }
  T value(int i) const { return unorder(uint32_t(buf_[i].key >> 32)); }
  idx_t id(int i) const { return buf_[i].id; }

 private:
  struct Entry {
    uint64_t key;
    idx_t id;
  };
  static constexpr bool kLarger = std::is_same<Cmp, Larger>::value;
  // uint32 in the order "better first": the value's bits made monotonic, inverted for Larger.
  static uint32_t order(T v) {
    uint32_t u;
    if constexpr (std::is_same<T, float>::value) {
      std::memcpy(&u, &v, 4);
      u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    } else {
      u = uint32_t(v) ^ 0x80000000u;
    }
    return kLarger ? ~u : u;
  }
  static T unorder(uint32_t u) {
    if (kLarger) u = ~u;
    if constexpr (std::is_same<T, float>::value) {
      u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
      float v;
      std::memcpy(&v, &u, 4);
      return v;
    } else {
      return int32_t(u ^ 0x80000000u);
    }
  }

  void shrink() {
    std::nth_element(buf_.begin(), buf_.begin() + (k_ - 1), buf_.begin() + n_,
                     [](const Entry& a, const Entry& b) { return a.key < b.key; });
    n_ = size_t(k_);
    thr_ = buf_[k_ - 1].key;  // nth_element puts the k-th best there
    bounded_ = true;
  }

  int k_;
  const uint64_t* allow_;
  std::vector<Entry> buf_;
  size_t n_ = 0;
  uint64_t thr_ = 0;
  bool bounded_ = false;
};

}  // namespace detail
}  // namespace vecpress
