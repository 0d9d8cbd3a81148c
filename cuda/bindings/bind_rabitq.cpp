// Binding of the CUDA RaBitQ popcount scan (pattern of bind_kernels.cpp: check the
// device views and allocate outputs with the GIL held, release it while the kernel
// is enqueued on `stream`, return; nothing waits for the GPU here).
//
// The query bit planes come as bytes: DeviceArray (and so vecpress.gpu's host
// copies) holds no uint64, so vecpress.gpu.rabitq_search passes the uint64 planes
// (nq, qb * D / 64) viewed as uint8 (nq, qb * D / 8); the kernel reads them as words.
#include <pybind11/stl.h>

#include <string>

#include "device_arrays.hpp"
#include "errors.hpp"
#include "vecpress/cuda/rabitq.hpp"
#include "vecpress/rabitq.hpp"

namespace vecpress {
namespace bind_cuda {

namespace {

// The padded dimension D of codes (n, D / 8 + 16) uint8 (as cpp/bindings/bind_rabitq.cpp).
int64_t rabitq_code_dim(int64_t cols) {
  int64_t bits = cols - 4 * kRabitqFactors;
  if (bits <= 0 || bits % 8 != 0)
    throw bind::shape_error("RaBitQ codes must have D / 8 + 16 columns with D a multiple of 64, "
                            "got " + std::to_string(cols));
  return bits * 8;
}

}  // namespace

void bind_rabitq(py::module_& m) {
  namespace vc = vecpress::cuda;

  m.def("rabitq_search",
        [](py::object qplanes, int qb, py::object qconsts, py::object codes, bool largest, int k,
           uintptr_t stream) {
          if (qb < 1 || qb > 8) throw py::value_error("qb must be in [1, 8]");
          if (k < 0) throw py::value_error("k must be non-negative");
          auto C = dev_view<uint8_t>(codes, "codes", 2, stream);
          const int64_t D = rabitq_code_dim(C.cols());
          auto Q = dev_view<uint8_t>(qplanes, "qplanes (as bytes)", 2, stream,
                                     {-1, int64_t(qb) * D / 8});
          auto K = dev_view<float>(qconsts, "qconsts", 2, stream,
                                   {Q.rows(), int64_t(kRabitqQueryConsts)});
          auto v = new_device_array<float>({Q.rows(), k}, stream);
          auto ids = new_device_array<int64_t>({Q.rows(), k}, stream);
          float* vp = static_cast<float*>(v.cast<DeviceArray&>().ptr());
          int64_t* ip = static_cast<int64_t*>(ids.cast<DeviceArray&>().ptr());
          {
            py::gil_scoped_release nogil;
            vc::rabitq_search(reinterpret_cast<const uint64_t*>(Q.ptr), Q.rows(), qb, K.ptr, C.ptr,
                              C.rows(), D, largest, k, vp, ip, as_stream(stream));
          }
          return py::make_tuple(v, ids);
        },
        py::arg("qplanes"), py::arg("qb"), py::arg("qconsts"), py::arg("codes"),
        py::arg("largest"), py::arg("k"), py::arg("stream") = 0,
        "Top-k (values (nq, k) float32, ids (nq, k) int64) of the RaBitQ estimates of codes "
        "(n, D / 8 + 16) uint8 for queries given as qb bit planes (nq, qb * D / 8) uint8 "
        "(the uint64 planes' bytes) and constants qconsts (nq, 8) float32 (see "
        "vecpress/cuda/rabitq.hpp).");
}

}  // namespace bind_cuda
}  // namespace vecpress
