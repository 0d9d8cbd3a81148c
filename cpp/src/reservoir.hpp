// PRIVATE: top-k selection by buffering, for scans that offer many candidates.
// Candidates are appended to a buffer of 2k; when it fills, nth_element keeps the
// k best and their worst becomes the threshold a later candidate must strictly
// beat. A push costs O(1) amortised where a heap pays O(log k) with unpredictable
// branches: scans whose thresholds tighten slowly (the inverted-file scans visit
// lists, not each query's probes, in turn; the fast-scan first stages keep
// hundreds of candidates) push often, and a heap dominated their time. Values
// are selected as uint64 (order key, slot) pairs, so the selection compares plain
// integers; ties with the threshold lose, ties inside a buffer go to the earlier.
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
      : k_(std::max(k, 0)), allow_(allow), keys_(size_t(2 * std::max(k, 1))),
        ids_(keys_.size()), scratch_(size_t(std::max(k, 1))) {}

  // True once a threshold exists: only values strictly better than threshold() enter.
  bool bounded() const { return bounded_; }
  T threshold() const { return bounded_ ? thr_ : Cmp::template worst<T>(); }

  inline void push(T val, idx_t id) {
    if (k_ == 0 || (bounded_ && !Cmp::worse(thr_, val)) || !row_allowed(allow_, id)) return;
    keys_[n_] = (uint64_t(order(val)) << 32) | uint64_t(n_);
    ids_[n_] = id;
    if (++n_ == keys_.size()) shrink();
  }

  // Keeps the k best and returns how many are held; value(i) / id(i) read them (in no
  // particular order).
  int finish() {
    if (n_ > size_t(k_)) shrink();
    return int(n_);
  }
  T value(int i) const { return unorder(uint32_t(keys_[i] >> 32)); }
  idx_t id(int i) const { return ids_[i]; }

 private:
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
    std::nth_element(keys_.begin(), keys_.begin() + (k_ - 1), keys_.begin() + n_);
    uint64_t worst = 0;
    for (int i = 0; i < k_; ++i) {
      scratch_[i] = ids_[keys_[i] & 0xFFFFFFFFu];
      keys_[i] = (keys_[i] & ~uint64_t(0xFFFFFFFFu)) | uint64_t(i);
      worst = std::max(worst, keys_[i]);
    }
    for (int i = 0; i < k_; ++i) ids_[i] = scratch_[i];
    n_ = size_t(k_);
    thr_ = unorder(uint32_t(worst >> 32));
    bounded_ = true;
  }

  int k_;
  const uint64_t* allow_;
  std::vector<uint64_t> keys_;
  std::vector<idx_t> ids_, scratch_;
  size_t n_ = 0;
  T thr_ = T(0);
  bool bounded_ = false;
};

}  // namespace detail
}  // namespace vecpress
