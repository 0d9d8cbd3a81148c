// Maps the binding's and the kernels' C++ exceptions to vecpress's Python error
// classes, so every error a user sees derives from vecpress.VecpressError and
// from the matching builtin (checks in both extensions use these):
//   py::type_error  (a wrong dtype)                  -> vecpress.errors.DTypeError
//   bind::shape_error (wrong ndim, layout, columns)  -> vecpress.errors.ShapeError
//   py::value_error (any other bad argument)         -> vecpress.errors.ParameterError
//   vecpress::Error (a kernel precondition)          -> vecpress.errors.KernelError
#pragma once
#include <pybind11/pybind11.h>

#include "vecpress/types.hpp"

namespace vecpress {
namespace bind {

namespace py = pybind11;

// A wrong shape, layout or column count of an array argument.
class shape_error : public py::value_error {
 public:
  using py::value_error::value_error;
};

inline void register_error_translator() {
  py::module_ errors = py::module_::import("vecpress.errors");
  // Kept for the life of the process, like the classes themselves.
  static PyObject* dtype_error = py::object(errors.attr("DTypeError")).release().ptr();
  static PyObject* shape_error_cls = py::object(errors.attr("ShapeError")).release().ptr();
  static PyObject* parameter_error = py::object(errors.attr("ParameterError")).release().ptr();
  static PyObject* kernel_error = py::object(errors.attr("KernelError")).release().ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const shape_error& e) {
      PyErr_SetString(shape_error_cls, e.what());
    } catch (const py::type_error& e) {
      PyErr_SetString(dtype_error, e.what());
    } catch (const py::value_error& e) {
      PyErr_SetString(parameter_error, e.what());
    } catch (const vecpress::Error& e) {
      PyErr_SetString(kernel_error, e.what());
    }
  });
}

}  // namespace bind
}  // namespace vecpress
