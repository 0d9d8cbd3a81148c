// Runtime CPU dispatch: which instruction-set level the kernels use.
#pragma once
#include <string>
#include <vector>

namespace vecpress {

enum class SimdLevel : int { Scalar = 0, AVX2 = 1, AVX512 = 2, NEON = 3 };

const char* simd_level_name(SimdLevel level);
SimdLevel simd_level_from_name(const std::string& name);  // throws Error

// Best level both compiled in and supported by this CPU (and its OS).
SimdLevel detected_level();
// The level kernels use now; starts at detected_level() or $VECPRESS_SIMD.
SimdLevel current_level();
// Refuses (throws Error) a level that is not compiled in or not supported.
void set_level(SimdLevel level);
// Levels this binary can run on this CPU, Scalar first.
std::vector<SimdLevel> available_levels();

}  // namespace vecpress
