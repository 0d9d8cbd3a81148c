// Shared scalar types, the metric enum and the kernel error type.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace vecpress {

using idx_t = int64_t;

// IP and Cosine are larger-is-better; L2 (squared distance) is smaller-is-better.
// Cosine is computed by the kernels over the dimensions they read, so a
// prefix of a vector is renormalized on the fly (Matryoshka with cosine).
enum class Metric : int { IP = 0, L2 = 1, Cosine = 2 };

inline bool metric_larger_is_better(Metric m) { return m != Metric::L2; }

// Every kernel precondition failure throws this; the binding maps it to ValueError.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

#define VP_CHECK(cond, msg)                                        \
  do {                                                             \
    if (!(cond)) throw ::vecpress::Error(std::string(msg));        \
  } while (0)

}  // namespace vecpress
