// CPU feature detection (cpuid + xgetbv) and the process-wide dispatch level.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "vecpress/simd.hpp"
#include "vecpress/types.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define VP_X86 1
#endif

namespace vecpress {
namespace {

#ifdef VP_X86
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}

bool cpu_has_avx2() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  bool osxsave = c & (1u << 27), fma = c & (1u << 12), popcnt = c & (1u << 23),
       f16c = c & (1u << 29);
  if (!(osxsave && fma && popcnt && f16c)) return false;
  // The OS must save the YMM state, or AVX instructions fault.
  if ((xgetbv0() & 0x6) != 0x6) return false;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  return b & (1u << 5);
}
#endif

bool compiled(SimdLevel l) {
  switch (l) {
    case SimdLevel::Scalar: return true;
#ifdef VECPRESS_HAVE_AVX2
    case SimdLevel::AVX2: return true;
#endif
    default: return false;
  }
}

bool supported(SimdLevel l) {
  switch (l) {
    case SimdLevel::Scalar: return true;
#ifdef VP_X86
    case SimdLevel::AVX2: return cpu_has_avx2();
#endif
    default: return false;
  }
}

SimdLevel initial_level() {
  SimdLevel best = detected_level();
  if (const char* env = std::getenv("VECPRESS_SIMD")) {
    if (*env) {
      try {
        SimdLevel want = simd_level_from_name(env);
        if (compiled(want) && supported(want) && int(want) <= int(best)) return want;
      } catch (const Error&) {
      }
    }
  }
  return best;
}

std::atomic<int>& level_slot() {
  static std::atomic<int> slot{int(initial_level())};
  return slot;
}

}  // namespace

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Scalar: return "scalar";
    case SimdLevel::AVX2: return "avx2";
    case SimdLevel::AVX512: return "avx512";
    case SimdLevel::NEON: return "neon";
  }
  return "unknown";
}

SimdLevel simd_level_from_name(const std::string& name) {
  for (SimdLevel l : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512, SimdLevel::NEON})
    if (name == simd_level_name(l)) return l;
  throw Error("unknown SIMD level '" + name + "': use one of scalar, avx2, avx512, neon");
}

SimdLevel detected_level() {
  SimdLevel best = SimdLevel::Scalar;
  for (SimdLevel l : {SimdLevel::AVX2, SimdLevel::AVX512})
    if (compiled(l) && supported(l)) best = l;
  return best;
}

SimdLevel current_level() { return SimdLevel(level_slot().load(std::memory_order_relaxed)); }

void set_level(SimdLevel level) {
  if (!compiled(level))
    throw Error(std::string("SIMD level '") + simd_level_name(level) +
                "' is not compiled into this build of vecpress; see vecpress.available_simd_levels()");
  if (!supported(level))
    throw Error(std::string("this CPU does not support SIMD level '") + simd_level_name(level) +
                "'; see vecpress.available_simd_levels()");
  level_slot().store(int(level));
}

std::vector<SimdLevel> available_levels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512, SimdLevel::NEON})
    if (compiled(l) && supported(l)) out.push_back(l);
  return out;
}

}  // namespace vecpress
