// The _core extension: one module, one bind_* function per kernel family.
#include <pybind11/pybind11.h>

#include "errors.hpp"
#include "vecpress/types.hpp"

namespace py = pybind11;

namespace vecpress {
namespace bind {
void bind_runtime(py::module_& m);
void bind_search(py::module_& m);
void bind_kmeans(py::module_& m);
void bind_pq(py::module_& m);
void bind_rq(py::module_& m);
void bind_linalg(py::module_& m);
void bind_ivf(py::module_& m);
void bind_rabitq(py::module_& m);
}  // namespace bind
}  // namespace vecpress

PYBIND11_MODULE(_core, m) {
  m.doc() = "vecpress native kernels (C++). Use the vecpress package, not this module.";
  vecpress::bind::register_error_translator();
  // The metric codes every kernel takes, exported once for both extensions.
  py::dict metrics;
  metrics["ip"] = int(vecpress::Metric::IP);
  metrics["l2"] = int(vecpress::Metric::L2);
  metrics["cosine"] = int(vecpress::Metric::Cosine);
  m.attr("METRICS") = metrics;
  vecpress::bind::bind_runtime(m);
  vecpress::bind::bind_search(m);
  vecpress::bind::bind_kmeans(m);
  vecpress::bind::bind_pq(m);
  vecpress::bind::bind_rq(m);
  vecpress::bind::bind_linalg(m);
  vecpress::bind::bind_ivf(m);
  vecpress::bind::bind_rabitq(m);
}
