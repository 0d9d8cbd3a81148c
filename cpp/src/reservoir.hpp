// PRIVATE: top-k selection of int32 keys (smaller is better) by buffering.
// Candidates are appended to a buffer of 2k; when it fills, nth_element keeps the
// k best and their worst becomes the threshold a later candidate must strictly
// beat. A push costs O(1) amortised where a heap pays O(log k) with unpredictable
// branches: scans that meet candidates in no particular order (the inverted-file
// scan visits lists, not each query's probes, in turn) push often, and the heap
// dominated their time. Keys are selected as uint64 (key, slot) pairs, so the
// selection compares plain integers; ties go to the earlier candidate.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "vecpress/types.hpp"

namespace vecpress {
namespace detail {

class KeyReservoir {
 public:
  explicit KeyReservoir(int k)
      : k_(std::max(k, 0)), keys_(size_t(2 * std::max(k, 1))), ids_(keys_.size()),
        scratch_(size_t(std::max(k, 1))) {}

  // True once a threshold exists: only keys strictly below threshold() enter.
  bool bounded() const { return bounded_; }
  int32_t threshold() const { return thr_; }

  inline void push(int32_t key, idx_t id) {
    if (k_ == 0 || (bounded_ && key >= thr_)) return;
    keys_[n_] = pack(key, n_);
    ids_[n_] = id;
    if (++n_ == keys_.size()) shrink();
  }

  // Keeps the k best and returns how many are held; key(i) / id(i) read them
  // (in no particular order).
  int finish() {
    if (n_ > size_t(k_)) shrink();
    return int(n_);
  }
  int32_t key(int i) const { return unpack(keys_[i]); }
  idx_t id(int i) const { return ids_[i]; }

 private:
  // Order-preserving: the key with its sign bit flipped, above the slot number.
  static uint64_t pack(int32_t key, size_t slot) {
    return (uint64_t(uint32_t(key) ^ 0x80000000u) << 32) | uint64_t(slot);
  }
  static int32_t unpack(uint64_t p) { return int32_t(uint32_t(p >> 32) ^ 0x80000000u); }

  void shrink() {
    std::nth_element(keys_.begin(), keys_.begin() + (k_ - 1), keys_.begin() + n_);
    for (int i = 0; i < k_; ++i) {
      scratch_[i] = ids_[keys_[i] & 0xFFFFFFFFu];
      keys_[i] = (keys_[i] & ~uint64_t(0xFFFFFFFFu)) | uint64_t(i);
    }
    std::copy(scratch_.begin(), scratch_.begin() + k_, ids_.begin());
    n_ = size_t(k_);
    thr_ = unpack(*std::max_element(keys_.begin(), keys_.begin() + k_));
    bounded_ = true;
  }

  int k_;
  std::vector<uint64_t> keys_;
  std::vector<idx_t> ids_, scratch_;
  size_t n_ = 0;
  int32_t thr_ = 0;
  bool bounded_ = false;
};

}  // namespace detail
}  // namespace vecpress
