// The _cuda extension: device discovery, the DeviceArray buffer type and the
// CUDA kernels. Importing it needs no driver; device_count() is 0 without one.
#include <pybind11/stl.h>

#include "device_arrays.hpp"
#include "errors.hpp"
#include "vecpress/cuda/runtime.hpp"

namespace vecpress {
namespace bind_cuda {

void bind_kernels(py::module_& m);
void bind_rabitq(py::module_& m);

namespace {

py::object host_to_device(const py::array& a, uintptr_t stream) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error("the array must be C-contiguous; pass np.ascontiguousarray(a)");
  std::string ts;  // dtypes by value: an unpickled array's dtype is equal, not identical
  if (py::isinstance<py::array_t<float>>(a)) ts = typestr<float>();
  else if (py::isinstance<py::array_t<uint8_t>>(a)) ts = typestr<uint8_t>();
  else if (py::isinstance<py::array_t<int64_t>>(a)) ts = typestr<int64_t>();
  else if (py::isinstance<py::array_t<int32_t>>(a)) ts = typestr<int32_t>();
  else
    throw py::type_error("DeviceArray holds float32, uint8, int32 or int64, got " +
                         std::string(py::str(a.dtype())));
  std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
  auto* d = new DeviceArray(shape, ts, size_t(a.itemsize()), stream);
  py::object owner = py::cast(d, py::return_value_policy::take_ownership);
  if (d->nbytes()) {
    const void* src = a.data();
    py::gil_scoped_release nogil;
    // From pageable memory the call returns once the source has been staged.
    check(cudaMemcpyAsync(d->ptr(), src, d->nbytes(), cudaMemcpyHostToDevice, as_stream(stream)),
          "cudaMemcpyAsync");
  }
  return owner;
}

py::array device_to_host(const DeviceArray& d) {
  std::vector<py::ssize_t> shape(d.shape().begin(), d.shape().end());
  py::array out(py::dtype(d.typestr()), shape);
  if (d.nbytes()) {
    void* dst = out.mutable_data();
    py::gil_scoped_release nogil;
    check(cudaMemcpyAsync(dst, d.ptr(), d.nbytes(), cudaMemcpyDeviceToHost, as_stream(d.stream())),
          "cudaMemcpyAsync");
    check(cudaStreamSynchronize(as_stream(d.stream())), "cudaStreamSynchronize");
  }
  return out;
}

py::dict cuda_array_interface(const DeviceArray& d) {
  py::dict cai;
  py::tuple shape(d.shape().size());
  for (size_t i = 0; i < d.shape().size(); ++i) shape[i] = py::int_(d.shape()[i]);
  cai["shape"] = shape;
  cai["typestr"] = d.typestr();
  cai["data"] = py::make_tuple(reinterpret_cast<uintptr_t>(d.ptr()), false);
  cai["strides"] = py::none();
  cai["version"] = 3;
  cai["stream"] = normalize_stream(d.stream());
  return cai;
}

}  // namespace
}  // namespace bind_cuda
}  // namespace vecpress

PYBIND11_MODULE(_cuda, m) {
  using namespace vecpress::bind_cuda;
  namespace vc = vecpress::cuda;
  m.doc() = "vecpress CUDA kernels. Use vecpress.gpu, not this module.";
  vecpress::bind::register_error_translator();  // DTypeError/ShapeError/ParameterError/KernelError
  // Registered last so it is tried first (it derives from vecpress::Error).
  py::register_exception<vc::CudaError>(
      m, "CudaError", py::module_::import("vecpress.errors").attr("DeviceError").ptr());

  m.def("device_count", &vc::device_count, "Number of CUDA devices (0 without a driver).");
  m.def("device_status", &vc::device_status,
        "Why there is no device (the CUDA runtime's message), or '' when there is one.");
  m.def("device_info", [](int device) {
    vc::DeviceInfo i = vc::device_info(device);
    py::dict d;
    d["name"] = i.name;
    d["compute_capability"] = py::make_tuple(i.major, i.minor);
    d["sm_count"] = i.sm_count;
    d["total_memory"] = i.total_memory;
    d["memory_bandwidth_gbs"] = i.memory_bandwidth;
    d["max_shared_per_block"] = i.max_shared_per_block;
    return d;
  }, py::arg("device") = 0);
  m.def("synchronize", [](uintptr_t stream) {
    py::gil_scoped_release nogil;
    check(cudaStreamSynchronize(as_stream(stream)), "cudaStreamSynchronize");
  }, py::arg("stream") = 0);

  py::class_<DeviceArray>(m, "DeviceArray",
                          "An owned C-contiguous device buffer exposing __cuda_array_interface__.")
      .def_static("from_host", &host_to_device, py::arg("array"), py::arg("stream") = 0,
                  "Copies a C-contiguous NumPy array (float32, uint8, int32, int64) to the device.")
      .def("to_host", &device_to_host, "Copies to a new NumPy array (waits for the stream).")
      .def_property_readonly("shape", [](const DeviceArray& d) {
        py::tuple t(d.shape().size());
        for (size_t i = 0; i < d.shape().size(); ++i) t[i] = py::int_(d.shape()[i]);
        return t;
      })
      .def_property_readonly("dtype", [](const DeviceArray& d) { return py::dtype(d.typestr()); })
      .def_property_readonly("nbytes", &DeviceArray::nbytes)
      .def_property_readonly("ptr", [](const DeviceArray& d) { return reinterpret_cast<uintptr_t>(d.ptr()); })
      .def_property_readonly("stream", &DeviceArray::stream)
      .def_property_readonly("__cuda_array_interface__", &cuda_array_interface)
      .def("__repr__", [](const DeviceArray& d) {
        std::string s = "DeviceArray(shape=(";
        for (size_t i = 0; i < d.shape().size(); ++i) s += (i ? ", " : "") + std::to_string(d.shape()[i]);
        if (d.shape().size() == 1) s += ",";
        return s + "), dtype=" + std::string(py::str(py::dtype(d.typestr()))) + ")";
      });

  bind_kernels(m);
  bind_rabitq(m);
}
