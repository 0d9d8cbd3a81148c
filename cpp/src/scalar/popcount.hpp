// PRIVATE: the portable popcount the scalar reference kernels share (no popcnt
// instruction assumed, so the reference runs on any x86-64).
#pragma once
#include <cstdint>

namespace vecpress {
namespace detail {

inline int popcount64_portable(uint64_t v) {
  v = v - ((v >> 1) & 0x5555555555555555ULL);
  v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
  v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return int((v * 0x0101010101010101ULL) >> 56);
}

}  // namespace detail
}  // namespace vecpress
