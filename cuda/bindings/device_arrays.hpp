// Device arrays for the _cuda binding layer.
//
// Inputs are any object exposing __cuda_array_interface__ (CuPy, Numba,
// PyTorch, or our own DeviceArray): checked views, nothing converted. Outputs
// are DeviceArray objects, allocated in stream order on the compute stream;
// the Python layer (vecpress/gpu.py) wraps them as CuPy arrays or copies
// them to NumPy. Streams are passed as integer handles, CUDA's own
// convention: 0 is the legacy default stream.
#pragma once
#include <cuda_runtime_api.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vecpress/cuda/runtime.hpp"

namespace vecpress {
namespace bind_cuda {

namespace py = pybind11;

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw cuda::CudaError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

inline cudaStream_t as_stream(uintptr_t handle) { return reinterpret_cast<cudaStream_t>(handle); }

// 0 and 1 both name the legacy default stream.
inline uintptr_t normalize_stream(uintptr_t handle) { return handle == 0 ? 1 : handle; }

template <class T> const char* typestr();
template <> inline const char* typestr<float>() { return "<f4"; }
template <> inline const char* typestr<uint8_t>() { return "|u1"; }
template <> inline const char* typestr<int64_t>() { return "<i8"; }
template <> inline const char* typestr<int32_t>() { return "<i4"; }
template <class T> const char* dtype_name();
template <> inline const char* dtype_name<float>() { return "float32"; }
template <> inline const char* dtype_name<uint8_t>() { return "uint8"; }
template <> inline const char* dtype_name<int64_t>() { return "int64"; }
template <> inline const char* dtype_name<int32_t>() { return "int32"; }

// An owned, C-contiguous device buffer with a shape and a dtype.
class DeviceArray {
 public:
  DeviceArray(std::vector<int64_t> shape, std::string typestr, size_t itemsize, uintptr_t stream)
      : shape_(std::move(shape)), typestr_(std::move(typestr)), itemsize_(itemsize),
        stream_(stream) {
    size_t count = 1;
    for (int64_t s : shape_) count *= size_t(s);
    nbytes_ = count * itemsize_;
    if (nbytes_) check(cudaMallocAsync(&ptr_, nbytes_, as_stream(stream_)), "cudaMallocAsync");
  }
  ~DeviceArray() {
    // cudaFree waits for the device: the array may still be read by work on
    // any stream (a consumer's), and its producer stream may already be gone.
    // Only dropping a result pays this; searches themselves never wait.
    if (ptr_) cudaFree(ptr_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void* ptr() const { return ptr_; }
  size_t nbytes() const { return nbytes_; }
  size_t itemsize() const { return itemsize_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  const std::string& typestr() const { return typestr_; }
  uintptr_t stream() const { return stream_; }

 private:
  void* ptr_ = nullptr;
  std::vector<int64_t> shape_;
  std::string typestr_;
  size_t itemsize_;
  size_t nbytes_ = 0;
  uintptr_t stream_;
};

template <class T>
py::object new_device_array(std::vector<int64_t> shape, uintptr_t stream) {
  return py::cast(new DeviceArray(std::move(shape), typestr<T>(), sizeof(T), stream),
                  py::return_value_policy::take_ownership);
}

template <class T>
struct DevView {
  T* ptr;
  std::vector<int64_t> shape;
  int64_t rows() const { return shape[0]; }
  int64_t cols() const { return shape.size() > 1 ? shape[1] : 1; }
};

// Orders `stream` after the producer stream an input declares (CAI v3
// "stream"), with an event: no host synchronisation.
inline void wait_for_producer(const py::dict& cai, uintptr_t stream) {
  if (!cai.contains("stream") || cai["stream"].is_none()) return;
  uintptr_t producer = cai["stream"].cast<uintptr_t>();
  if (normalize_stream(producer) == normalize_stream(stream)) return;
  cudaEvent_t ev;
  check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check(cudaEventRecord(ev, as_stream(producer)), "cudaEventRecord");
  check(cudaStreamWaitEvent(as_stream(stream), ev, 0), "cudaStreamWaitEvent");
  check(cudaEventDestroy(ev), "cudaEventDestroy");
}

// A C-contiguous device array of exactly dtype T and `ndim` dimensions on the
// current device; expect[i] >= 0 pins dimension i.
template <class T>
DevView<T> dev_view(py::handle obj, const std::string& name, size_t ndim, uintptr_t stream,
                    std::vector<int64_t> expect = {}) {
  if (!py::hasattr(obj, "__cuda_array_interface__"))
    throw py::type_error(name + " must be a device array (CuPy, or any object with "
                                "__cuda_array_interface__); copy NumPy arrays with "
                                "vecpress.gpu.to_device() or call the vecpress.gpu functions");
  py::dict cai = obj.attr("__cuda_array_interface__");
  std::string ts = cai["typestr"].cast<std::string>();
  if (ts != typestr<T>())
    throw py::type_error(name + " must have dtype " + dtype_name<T>() + " (typestr '" +
                         typestr<T>() + "'), got '" + ts + "'; convert with .astype(" +
                         dtype_name<T>() + ")");
  std::vector<int64_t> shape;
  for (auto s : cai["shape"].cast<py::tuple>()) shape.push_back(s.cast<int64_t>());
  if (shape.size() != ndim)
    throw py::value_error(name + " must be a " + std::to_string(ndim) + "-D array, got " +
                          std::to_string(shape.size()) + " dimensions");
  for (size_t i = 0; i < expect.size() && i < ndim; ++i)
    if (expect[i] >= 0 && shape[i] != expect[i])
      throw py::value_error(name + " must have size " + std::to_string(expect[i]) +
                            " along axis " + std::to_string(i) + ", got " +
                            std::to_string(shape[i]));
  if (cai.contains("mask") && !cai["mask"].is_none())
    throw py::value_error(name + ": masked device arrays are not supported");
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  if (cai.contains("strides") && !cai["strides"].is_none() && count > 0) {
    auto strides = cai["strides"].cast<py::tuple>();
    int64_t expected = int64_t(sizeof(T));
    for (size_t i = ndim; i-- > 0;) {
      if (shape[i] > 1 && strides[i].cast<int64_t>() != expected)
        throw py::value_error(name + " must be C-contiguous; pass cupy.ascontiguousarray(" +
                              name + ")");
      expected *= shape[i];
    }
  }
  auto data = cai["data"].cast<py::tuple>();
  auto ptr = reinterpret_cast<T*>(data[0].cast<uintptr_t>());
  if (count > 0) {
    cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
      cudaGetLastError();
      throw py::value_error(name + ": its __cuda_array_interface__ pointer is not CUDA memory");
    }
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
      throw py::value_error(name + " is host memory; pass a device array");
    int dev = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    if (attr.device != dev)
      throw py::value_error(name + " lives on device " + std::to_string(attr.device) +
                            " but the current device is " + std::to_string(dev) +
                            "; run inside `with cupy.cuda.Device(" +
                            std::to_string(attr.device) + "):`");
  }
  wait_for_producer(cai, stream);
  return {ptr, shape};
}

}  // namespace bind_cuda
}  // namespace vecpress
