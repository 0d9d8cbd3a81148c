// Kernel bindings. Pattern (as cpp/bindings): check the device views and
// allocate the output DeviceArrays with the GIL held, release it while the
// kernel is enqueued on `stream`, return. Nothing waits for the GPU here.
#include <pybind11/stl.h>

#include "device_arrays.hpp"
#include "vecpress/cuda/encode.hpp"
#include "vecpress/cuda/search.hpp"
#include "vecpress/hamming.hpp"

namespace vecpress {
namespace bind_cuda {

namespace {

template <class T>
T* out_ptr(const py::object& o) {
  return static_cast<T*>(o.cast<DeviceArray&>().ptr());
}

Metric metric_from(int m) {
  if (m < 0 || m > 2) throw py::value_error("metric must be 0 (ip), 1 (l2) or 2 (cosine)");
  return Metric(m);
}

void check_k(int k) {
  if (k < 0) throw py::value_error("k must be non-negative");
}

}  // namespace

void bind_kernels(py::module_& m) {
  namespace vc = vecpress::cuda;

  m.def("topk_select",
        [](py::object scores, int k, bool largest, uintptr_t stream) {
          auto S = dev_view<float>(scores, "scores", 2, stream);
          check_k(k);
          auto v = new_device_array<float>({S.rows(), k}, stream);
          auto ids = new_device_array<int64_t>({S.rows(), k}, stream);
          float* vp = out_ptr<float>(v);
          int64_t* ip = out_ptr<int64_t>(ids);
          {
            py::gil_scoped_release nogil;
            vc::topk_select(S.ptr, S.rows(), S.cols(), k, largest, vp, ip, as_stream(stream));
          }
          return py::make_tuple(v, ids);
        },
        py::arg("scores"), py::arg("k"), py::arg("largest"), py::arg("stream") = 0);

  m.def("flat_search",
        [](py::object x, py::object q, int64_t d, int metric, int k, uintptr_t stream) {
          auto X = dev_view<float>(x, "x", 2, stream);
          auto Q = dev_view<float>(q, "q", 2, stream);
          check_k(k);
          Metric mt = metric_from(metric);
          auto s = new_device_array<float>({Q.rows(), k}, stream);
          auto ids = new_device_array<int64_t>({Q.rows(), k}, stream);
          float* sp = out_ptr<float>(s);
          int64_t* ip = out_ptr<int64_t>(ids);
          {
            py::gil_scoped_release nogil;
            vc::flat_search(X.ptr, X.rows(), X.cols(), Q.ptr, Q.rows(), Q.cols(), d, mt, k, sp, ip,
                            as_stream(stream));
          }
          return py::make_tuple(s, ids);
        },
        py::arg("x"), py::arg("q"), py::arg("d"), py::arg("metric"), py::arg("k"),
        py::arg("stream") = 0);

  m.def("matryoshka_search",
        [](py::object x, py::object q, int metric, std::vector<int64_t> dims,
           std::vector<int64_t> cands, int k, uintptr_t stream) {
          auto X = dev_view<float>(x, "x", 2, stream);
          auto Q = dev_view<float>(q, "q", 2, stream);
          check_k(k);
          Metric mt = metric_from(metric);
          if (dims.empty() || cands.size() + 1 != dims.size())
            throw py::value_error("need len(candidates) == len(dims) - 1 >= 0");
          auto s = new_device_array<float>({Q.rows(), k}, stream);
          auto ids = new_device_array<int64_t>({Q.rows(), k}, stream);
          float* sp = out_ptr<float>(s);
          int64_t* ip = out_ptr<int64_t>(ids);
          {
            py::gil_scoped_release nogil;
            vc::matryoshka_search(X.ptr, X.rows(), X.cols(), Q.ptr, Q.rows(), Q.cols(), mt,
                                  dims.data(), cands.data(), int(dims.size()), k, sp, ip,
                                  as_stream(stream));
          }
          return py::make_tuple(s, ids);
        },
        py::arg("x"), py::arg("q"), py::arg("metric"), py::arg("dims"), py::arg("candidates"),
        py::arg("k"), py::arg("stream") = 0);

  m.def("binarize",
        [](py::object x, int64_t d, py::object thresholds, uintptr_t stream) {
          auto X = dev_view<float>(x, "x", 2, stream);
          if (d <= 0 || d > X.cols()) throw py::value_error("d must be in [1, x.shape[1]]");
          const float* tp = nullptr;
          if (!thresholds.is_none()) tp = dev_view<float>(thresholds, "thresholds", 1, stream, {d}).ptr;
          auto codes = new_device_array<uint8_t>({X.rows(), binary_code_bytes(d)}, stream);
          uint8_t* cp = out_ptr<uint8_t>(codes);
          {
            py::gil_scoped_release nogil;
            vc::binarize(X.ptr, X.rows(), X.cols(), d, tp, cp, as_stream(stream));
          }
          return codes;
        },
        py::arg("x"), py::arg("d"), py::arg("thresholds") = py::none(), py::arg("stream") = 0);

  m.def("hamming_search",
        [](py::object qcodes, py::object codes, int k, uintptr_t stream) {
          auto C = dev_view<uint8_t>(codes, "codes", 2, stream);
          auto Q = dev_view<uint8_t>(qcodes, "query codes", 2, stream, {-1, C.cols()});
          check_k(k);
          auto dist = new_device_array<int32_t>({Q.rows(), k}, stream);
          auto ids = new_device_array<int64_t>({Q.rows(), k}, stream);
          int32_t* dp = out_ptr<int32_t>(dist);
          int64_t* ip = out_ptr<int64_t>(ids);
          {
            py::gil_scoped_release nogil;
            vc::hamming_search(Q.ptr, Q.rows(), C.ptr, C.rows(), C.cols(), k, dp, ip,
                               as_stream(stream));
          }
          return py::make_tuple(dist, ids);
        },
        py::arg("qcodes"), py::arg("codes"), py::arg("k"), py::arg("stream") = 0);

  m.def("pq_encode",
        [](py::object x, py::object centroids, uintptr_t stream) {
          auto C = dev_view<float>(centroids, "centroids", 3, stream);
          const int64_t M = C.shape[0], ksub = C.shape[1], dsub = C.shape[2];
          auto X = dev_view<float>(x, "x", 2, stream, {-1, M * dsub});
          auto codes = new_device_array<uint8_t>({X.rows(), M}, stream);
          uint8_t* cp = out_ptr<uint8_t>(codes);
          {
            py::gil_scoped_release nogil;
            vc::pq_encode(X.ptr, X.rows(), X.cols(), C.ptr, M, ksub, dsub, cp, as_stream(stream));
          }
          return codes;
        },
        py::arg("x"), py::arg("centroids"), py::arg("stream") = 0);

  m.def("rq_encode_beam",
        [](py::object x, py::object codebooks, int beam, uintptr_t stream) {
          auto C = dev_view<float>(codebooks, "codebooks", 3, stream);
          const int64_t M = C.shape[0], ksub = C.shape[1], d = C.shape[2];
          auto X = dev_view<float>(x, "x", 2, stream, {-1, d});
          auto codes = new_device_array<uint8_t>({X.rows(), M}, stream);
          uint8_t* cp = out_ptr<uint8_t>(codes);
          {
            py::gil_scoped_release nogil;
            vc::rq_encode_beam(X.ptr, X.rows(), X.cols(), C.ptr, M, ksub, d, beam, cp,
                               as_stream(stream));
          }
          return codes;
        },
        py::arg("x"), py::arg("codebooks"), py::arg("beam"), py::arg("stream") = 0);

  auto adc_table = [](bool l2) {
    return [l2](py::object q, py::object centroids, uintptr_t stream) {
      auto C = dev_view<float>(centroids, "centroids", 3, stream);
      const int64_t M = C.shape[0], ksub = C.shape[1], dsub = C.shape[2];
      auto Q = dev_view<float>(q, "q", 2, stream, {-1, M * dsub});
      auto t = new_device_array<float>({Q.rows(), M, ksub}, stream);
      float* tp = out_ptr<float>(t);
      {
        py::gil_scoped_release nogil;
        if (l2)
          vc::adc_table_l2(Q.ptr, Q.rows(), C.ptr, M, ksub, dsub, tp, as_stream(stream));
        else
          vc::adc_table_ip(Q.ptr, Q.rows(), C.ptr, M, ksub, dsub, tp, as_stream(stream));
      }
      return t;
    };
  };
  m.def("adc_table_ip", adc_table(false), py::arg("q"), py::arg("centroids"),
        py::arg("stream") = 0);
  m.def("adc_table_l2", adc_table(true), py::arg("q"), py::arg("centroids"),
        py::arg("stream") = 0);

  m.def("adc_search_u8",
        [](py::object tables, py::object codes, bool largest, int k, uintptr_t stream) {
          auto C = dev_view<uint8_t>(codes, "codes", 2, stream);
          auto T = dev_view<float>(tables, "tables", 3, stream, {-1, C.cols(), 256});
          check_k(k);
          auto s = new_device_array<float>({T.rows(), k}, stream);
          auto ids = new_device_array<int64_t>({T.rows(), k}, stream);
          float* sp = out_ptr<float>(s);
          int64_t* ip = out_ptr<int64_t>(ids);
          {
            py::gil_scoped_release nogil;
            vc::adc_search_u8(T.ptr, T.rows(), C.cols(), C.ptr, C.rows(), largest, k, sp, ip,
                              as_stream(stream));
          }
          return py::make_tuple(s, ids);
        },
        py::arg("tables"), py::arg("codes"), py::arg("largest"), py::arg("k"),
        py::arg("stream") = 0);
}

}  // namespace bind_cuda
}  // namespace vecpress
