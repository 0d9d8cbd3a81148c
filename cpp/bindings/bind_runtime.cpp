#include <pybind11/stl.h>

#include "arrays.hpp"
#include "vecpress/parallel.hpp"
#include "vecpress/simd.hpp"

namespace vecpress {
namespace bind {

void bind_runtime(py::module_& m) {
  m.attr("VERSION") = VECPRESS_VERSION;
#ifdef VECPRESS_HAVE_AVX2
  m.attr("HAS_AVX2_BUILD") = true;
#else
  m.attr("HAS_AVX2_BUILD") = false;
#endif
  m.attr("HAS_CUDA_BUILD") = bool(VECPRESS_HAVE_CUDA_BUILD);
  m.def("simd_level", [] { return std::string(simd_level_name(current_level())); });
  m.def("detected_simd_level", [] { return std::string(simd_level_name(detected_level())); });
  m.def("set_simd_level", [](const std::string& name) { set_level(simd_level_from_name(name)); });
  m.def("available_simd_levels", [] {
    std::vector<std::string> out;
    for (SimdLevel l : available_levels()) out.emplace_back(simd_level_name(l));
    return out;
  });
  m.def("hardware_threads", &hardware_threads);
  m.def("default_threads", &default_threads);
  m.def("set_default_threads", &set_default_threads);
  m.def("parallel_raise_test", [](int64_t ntasks, int64_t bad, int nthreads) {
    // Lets tests check that a worker's exception reaches Python, with the GIL released.
    py::gil_scoped_release nogil;
    parallel_for(ntasks, nthreads, [&](int64_t t) {
      if (t == bad) throw Error("task " + std::to_string(t) + " failed");
    });
  });
}

}  // namespace bind
}  // namespace vecpress
