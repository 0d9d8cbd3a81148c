// Top-k selection shared by every search kernel.
//
// A TopK keeps the k best (score, id) pairs seen so far in a binary heap whose
// root is the worst kept entry, so a candidate is rejected with one compare.
// "Better" is decided by Cmp: Larger (IP scores) or Smaller (L2, Hamming).
// Ties are broken by the lower id, so results are deterministic.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "vecpress/types.hpp"

namespace vecpress {

struct Larger {
  template <class T> static bool better(T a, idx_t ia, T b, idx_t ib) {
    return a > b || (a == b && ia < ib);
  }
  // a loses to b whatever the ids (strictly worse value)
  template <class T> static bool worse(T a, T b) { return a < b; }
  template <class V> static auto worse_lanes(V a, V b) { return a < b; }  // SIMD vectors
  template <class T> static T worst() { return std::numeric_limits<T>::lowest(); }
  template <class T> static T best() {
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::max();
  }
};
struct Smaller {
  template <class T> static bool better(T a, idx_t ia, T b, idx_t ib) {
    return a < b || (a == b && ia < ib);
  }
  template <class T> static bool worse(T a, T b) { return a > b; }
  template <class V> static auto worse_lanes(V a, V b) { return a > b; }
  template <class T> static T best() {
    return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::lowest();
  }
  template <class T> static T worst() {
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::max();
  }
};

// Filtered search: bit r of allow[r >> 6] is set for each row r a search may return
// (a bitmap over rows built by the caller); allow == nullptr lets every row through.
inline bool row_allowed(const uint64_t* allow, idx_t row) {
  return allow == nullptr || (row >= 0 && ((allow[row >> 6] >> (row & 63)) & 1u));
}

// Heap over caller-owned arrays vals[k], ids[k]; empty slots hold (worst, -1).
// With an allow bitmap (ids are rows), rows it does not hold are never kept: the
// heap fills with passing rows only, so a filter needs no longer list to post-filter.
template <class T, class Cmp>
class TopK {
 public:
  using value_type = T;
  using cmp = Cmp;
  TopK(T* vals, idx_t* ids, int k, const uint64_t* allow = nullptr)
      : v_(vals), id_(ids), k_(k), n_(0), allow_(allow) {}

  // Threshold a candidate must beat to enter (valid once full).
  T threshold() const { return n_ < k_ ? Cmp::template worst<T>() : v_[0]; }
  bool full() const { return n_ == k_; }

  // Fast reject without tie handling, then exact insertion.
  inline void push(T val, idx_t id) {
    if (k_ == 0 || (allow_ && !row_allowed(allow_, id))) return;
    if (n_ < k_) {
      int i = n_++;
      // sift up: parent is "better" than worse child -> swap until heap property holds
      while (i > 0) {
        int p = (i - 1) >> 1;
        if (!Cmp::better(v_[p], id_[p], val, id)) break;
        v_[i] = v_[p];
        id_[i] = id_[p];
        i = p;
      }
      v_[i] = val;
      id_[i] = id;
      return;
    }
    if (!Cmp::better(val, id, v_[0], id_[0])) return;
    sift_down_root(val, id);
  }

  // Sorts best-first into the arrays and pads unused slots with (worst, -1).
  void finalize() {
    int n = n_;
    std::vector<std::pair<T, idx_t>> tmp(n);
    for (int i = 0; i < n; ++i) tmp[i] = {v_[i], id_[i]};
    std::sort(tmp.begin(), tmp.end(), [](const auto& a, const auto& b) {
      return Cmp::better(a.first, a.second, b.first, b.second);
    });
    for (int i = 0; i < n; ++i) {
      v_[i] = tmp[i].first;
      id_[i] = tmp[i].second;
    }
    for (int i = n; i < k_; ++i) {
      v_[i] = Cmp::template worst<T>();
      id_[i] = -1;
    }
  }

  int size() const { return n_; }

 private:
  void sift_down_root(T val, idx_t id) {
    int i = 0;
    for (;;) {
      int l = 2 * i + 1;
      if (l >= n_) break;
      int r = l + 1;
      // pick the worse child (the one that should be nearer the root)
      int c = l;
      if (r < n_ && Cmp::better(v_[l], id_[l], v_[r], id_[r])) c = r;
      if (Cmp::better(val, id, v_[c], id_[c])) {
        // the worse child is worse than val: it moves up towards the root
        v_[i] = v_[c];
        id_[i] = id_[c];
        i = c;
      } else {
        break;
      }
    }
    v_[i] = val;
    id_[i] = id;
  }

  T* v_;
  idx_t* id_;
  int k_;
  int n_;
  const uint64_t* allow_;
};

// Select the k best of each row of a dense (nq, n) score matrix.
// largest=true for IP-like scores. Outputs (nq, k), padded with id -1.
void topk_select(const float* scores, int64_t nq, int64_t n, int k, bool largest,
                 float* out_vals, idx_t* out_ids, int nthreads);

// Merge nparts partial sorted-or-unsorted top-k lists per query into one:
// in (nq, nparts, k) -> out (nq, k). Entries with id -1 are ignored.
template <class T, class Cmp>
void topk_merge(const T* vals, const idx_t* ids, int64_t nq, int nparts, int k, T* out_vals,
                idx_t* out_ids) {
  for (int64_t q = 0; q < nq; ++q) {
    TopK<T, Cmp> heap(out_vals + q * k, out_ids + q * k, k);
    const T* v = vals + q * nparts * k;
    const idx_t* id = ids + q * nparts * k;
    for (int64_t j = 0; j < (int64_t)nparts * k; ++j)
      if (id[j] >= 0) heap.push(v[j], id[j]);
    heap.finalize();
  }
}

}  // namespace vecpress
