#include <pybind11/stl.h>

#include "arrays.hpp"
#include "vecpress/linalg.hpp"

namespace vecpress {
namespace bind {

void bind_linalg(py::module_& m) {
  m.def(
      "sym_eigen",
      [](py::array a) {
        if (!has_dtype<double>(a))
          throw py::type_error("a must have dtype float64");
        if (a.ndim() != 2 || a.shape(0) != a.shape(1) || a.shape(0) < 1 ||
            !(a.flags() & py::array::c_style))
          throw py::value_error("a must be a C-contiguous square (n, n) float64 array, n >= 1");
        const int64_t n = a.shape(0);
        py::array_t<double> w(n), v(std::vector<py::ssize_t>{n, n});
        const double* ap = static_cast<const double*>(a.data());
        double* wp = w.mutable_data();
        double* vp = v.mutable_data();
        {
          py::gil_scoped_release nogil;
          sym_eigen_sorted(ap, n, wp, vp);
        }
        return std::make_pair(w, v);
      },
      py::arg("a"),
      "Eigenvalues (n,) descending and eigenvectors as columns (n, n) of a symmetric "
      "(n, n) float64 matrix.");
}

}  // namespace bind
}  // namespace vecpress
