// Portable Hamming block (no popcnt instruction assumed): the reference that
// the AVX2 (hardware popcount) variant is tested against.
#include "dispatch.hpp"
#include "popcount.hpp"

namespace vecpress {
namespace detail {
namespace {

void hamming_block_ref(const uint64_t* q, int64_t nq, const uint64_t* x, int64_t nx,
                       int64_t nwords, int32_t* out, int64_t ldo) {
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      int s = 0;
      for (int64_t w = 0; w < nwords; ++w) s += popcount64_portable(q[i * nwords + w] ^ x[j * nwords + w]);
      out[i * ldo + j] = s;
    }
}

}  // namespace

const HammingFns hamming_scalar = {hamming_block_ref};

}  // namespace detail
}  // namespace vecpress
