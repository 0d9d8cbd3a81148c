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
  // finish(), then the kept entries ordered best first (by key: one integer compare).
  int finish_sorted() {
    const int kept = finish();
    std::sort(buf_.begin(), buf_.begin() + kept,
              [](const Entry& a, const Entry& b) { return a.key < b.key; });
    return kept;
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

  // Keeps the k smallest keys, the k-th at buf_[k - 1]. Deep buffers select by a
  // histogram of the keys' varying high bits, then nth_element within the boundary bin
  // only: nth_element over the whole buffer mispredicts a branch per compare, and it
  // was most of a 384-of-4,096 selection (flat_search's probes for an inverted file).
  void shrink() {
    auto less = [](const Entry& a, const Entry& b) { return a.key < b.key; };
    size_t lo_count = 0, hi_end = n_;
    if (n_ >= kHistogramFrom) {
      uint64_t lo = ~uint64_t(0), hi = 0;
      for (size_t i = 0; i < n_; ++i) {
        lo = std::min(lo, buf_[i].key);
        hi = std::max(hi, buf_[i].key);
      }
      int shift = 0;
      while (((hi - lo) >> shift) >= kBins) ++shift;
      uint32_t count[kBins] = {};
      for (size_t i = 0; i < n_; ++i) ++count[(buf_[i].key - lo) >> shift];
      size_t b = 0, before = 0;
      while (before + count[b] < size_t(k_)) before += count[b++];
      // entries of bins below b first, then bin b's (branch-free two-way split)
      // (an entry outside a region is written to the spare last slot)
      scratch_.resize(buf_.size() + 1);
      const size_t spare = buf_.size();
      size_t below = 0, at = before;
      for (size_t i = 0; i < n_; ++i) {
        const size_t bin = (buf_[i].key - lo) >> shift;
        scratch_[bin < b ? below : spare] = buf_[i];
        scratch_[bin == b ? at : spare] = buf_[i];
        below += bin < b;
        at += bin == b;
      }
      scratch_.pop_back();
      buf_.swap(scratch_);
      lo_count = before;
      hi_end = at;
    }
    std::nth_element(buf_.begin() + lo_count, buf_.begin() + (k_ - 1), buf_.begin() + hi_end, less);
    n_ = size_t(k_);
    thr_ = buf_[k_ - 1].key;  // the k-th best
    bounded_ = true;
  }

  static constexpr size_t kHistogramFrom = 256, kBins = 256;

  int k_;
  const uint64_t* allow_;
  std::vector<Entry> buf_, scratch_;
  size_t n_ = 0;
  uint64_t thr_ = 0;
  bool bounded_ = false;
};

// TopK's interface (caller-owned vals[k], ids[k], sorted best first with (worst, -1)
// padding by finalize()) over a Reservoir, for deep k: selecting hundreds of a few
// thousand (an inverted file's probes), a heap's O(log k) pushes with unpredictable
// branches cost several times the scores' GEMM (measured in flat_search: k=384 of 4,096
// centroids for 1,000 queries, 328 ms against 86 ms at k=10). Ties: the lower id.
template <class T, class Cmp>
class BufferedTopK {
 public:
  using value_type = T;
  using cmp = Cmp;
  BufferedTopK(T* vals, idx_t* ids, int k, const uint64_t* allow = nullptr)
      : v_(vals), id_(ids), k_(k), r_(k, allow) {}
  bool full() const { return r_.bounded(); }
  T threshold() const { return r_.threshold(); }
  void push(T val, idx_t id) { r_.push(val, id); }
  void finalize() {
    const int kept = r_.finish_sorted();
    for (int i = 0; i < k_; ++i) {
      v_[i] = i < kept ? r_.value(i) : Cmp::template worst<T>();
      id_[i] = i < kept ? r_.id(i) : -1;
    }
  }

 private:
  T* v_;
  idx_t* id_;
  int k_;
  Reservoir<T, Cmp> r_;
};

// From this k on, selections use BufferedTopK rather than a heap.
constexpr int kBufferedFromK = 32;

// Calls fn(static_cast<H*>(nullptr)) with H the selection for k: BufferedTopK<T, Cmp> for
// deep k, else TopK<T, Cmp>. The one place a kernel's selection is picked by k; the
// pointer only carries the type (fn reads it with std::remove_pointer_t<decltype(p)>).
template <class T, class Cmp, class Fn>
inline void with_selection(int k, Fn&& fn) {
  if (k >= kBufferedFromK)
    fn(static_cast<BufferedTopK<T, Cmp>*>(nullptr));
  else
    fn(static_cast<TopK<T, Cmp>*>(nullptr));
}

}  // namespace detail
}  // namespace vecpress
