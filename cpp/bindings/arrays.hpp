// Checked views of numpy arrays for the binding layer. Nothing is converted
// silently: a wrong dtype, layout or shape raises with a message that says what
// to do (the Python layer converts where conversion is policy).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>

#include "errors.hpp"
#include "vecpress/types.hpp"

namespace vecpress {
namespace bind {

namespace py = pybind11;

template <class T> const char* dtype_name();
template <> inline const char* dtype_name<float>() { return "float32"; }
template <> inline const char* dtype_name<uint8_t>() { return "uint8"; }
template <> inline const char* dtype_name<int64_t>() { return "int64"; }
template <> inline const char* dtype_name<int32_t>() { return "int32"; }
template <> inline const char* dtype_name<uint64_t>() { return "uint64"; }

// dtype T by value: an array that went through pickle (Ray, multiprocessing) carries an
// equal dtype that is not numpy's cached instance, so an identity test refused it.
template <class T>
bool has_dtype(const py::array& a) {
  return py::isinstance<py::array_t<T>>(a);
}

template <class T>
struct Matrix {
  const T* ptr;
  int64_t rows;
  int64_t cols;
};

// A 2-D, C-contiguous array of exactly dtype T; cols checked when expect_cols >= 0.
template <class T>
Matrix<T> matrix(const py::array& a, const char* name, int64_t expect_cols = -1) {
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())) + "; convert with .astype(np." +
                         dtype_name<T>() + ")");
  if (a.ndim() != 2)
    throw shape_error(std::string(name) + " must be a 2-D array, got " +
                          std::to_string(a.ndim()) + " dimensions");
  if (!(a.flags() & py::array::c_style))
    throw shape_error(std::string(name) +
                          " must be C-contiguous; pass np.ascontiguousarray(" + name + ")");
  if (expect_cols >= 0 && a.shape(1) != expect_cols)
    throw shape_error(std::string(name) + " must have " + std::to_string(expect_cols) +
                          " columns, got " + std::to_string(a.shape(1)));
  return {static_cast<const T*>(a.data()), int64_t(a.shape(0)), int64_t(a.shape(1))};
}

// A 1-D contiguous array of dtype T (length checked when expect_len >= 0).
template <class T>
std::pair<const T*, int64_t> vector(const py::array& a, const char* name, int64_t expect_len = -1) {
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())));
  if (a.ndim() != 1 || !(a.flags() & py::array::c_style))
    throw shape_error(std::string(name) + " must be a contiguous 1-D array");
  if (expect_len >= 0 && a.shape(0) != expect_len)
    throw shape_error(std::string(name) + " must have length " + std::to_string(expect_len) +
                          ", got " + std::to_string(a.shape(0)));
  return {static_cast<const T*>(a.data()), int64_t(a.shape(0))};
}

// A search's optional row filter over n rows: None, or a 1-D uint64 ndarray of at least
// ceil(n / 64) words, bit r of word r >> 6 set for each row r that may be returned. Only an
// ndarray is taken: a converted temporary would not outlive this call.
inline const uint64_t* row_filter(const py::object& allow, int64_t n) {
  if (allow.is_none()) return nullptr;
  if (!py::isinstance<py::array>(allow))
    throw py::type_error("allow must be None or a uint64 numpy array (a bitmap over rows)");
  auto A = vector<uint64_t>(py::reinterpret_borrow<py::array>(allow), "allow");
  if (A.second < (n + 63) / 64)
    throw shape_error("allow must hold at least ceil(n / 64) = " + std::to_string((n + 63) / 64) +
                      " words for " + std::to_string(n) + " rows, got " + std::to_string(A.second));
  return A.first;
}

struct Tensor3 {
  const float* ptr;
  int64_t d0, d1, d2;
};

// A 3-D, C-contiguous float32 array (codebooks, ADC tables). `layout` names the
// axes in messages, e.g. "(M, ksub, dsub)"; shape[1] / shape[2] are checked
// when expect1 / expect2 are >= 0.
inline Tensor3 f32_tensor3(const py::array& a, const char* name, const std::string& layout,
                           int64_t expect1 = -1, int64_t expect2 = -1) {
  if (!has_dtype<float>(a))
    throw py::type_error(std::string(name) + " must have dtype float32, got " +
                         std::string(py::str(a.dtype())) + "; convert with .astype(np.float32)");
  if (a.ndim() != 3 || !(a.flags() & py::array::c_style) ||
      (expect1 >= 0 && a.shape(1) != expect1) || (expect2 >= 0 && a.shape(2) != expect2))
    throw shape_error(std::string(name) + " must be a C-contiguous " + layout + " float32 array");
  return {static_cast<const float*>(a.data()), int64_t(a.shape(0)), int64_t(a.shape(1)),
          int64_t(a.shape(2))};
}

template <class T>
py::array_t<T> empty(std::initializer_list<int64_t> shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  return py::array_t<T>(s);
}

// Outputs of a top-k kernel: scores/distances (nq, k) of type T and ids (nq, k) int64,
// allocated with the GIL held; the raw pointers are what the kernel writes.
template <class T = float>
struct TopKOut {
  py::array_t<T> vals;
  py::array_t<int64_t> ids;
  T* vp;
  int64_t* ip;
  TopKOut(int64_t nq, int k) : vals(empty<T>({nq, k})), ids(empty<int64_t>({nq, k})) {
    vp = vals.mutable_data();
    ip = ids.mutable_data();
  }
  std::pair<py::array, py::array> result() const { return {vals, ids}; }
};

inline Metric metric_from(int m) {
  if (m < 0 || m > 2) throw py::value_error("metric must be 0 (ip), 1 (l2) or 2 (cosine)");
  return Metric(m);
}

inline void check_k(int k) {
  if (k < 0) throw py::value_error("k must be non-negative");
}

}  // namespace bind
}  // namespace vecpress
