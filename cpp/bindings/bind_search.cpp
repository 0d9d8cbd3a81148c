// Bindings for exact, Matryoshka, binary and 8-bit ADC kernels. Pattern:
// check views and allocate outputs with the GIL held, release it around the
// kernel, return numpy arrays.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "vecpress/adc.hpp"
#include "vecpress/flat.hpp"
#include "vecpress/hamming.hpp"
#include "vecpress/matryoshka.hpp"
#include "vecpress/topk.hpp"

namespace vecpress {
namespace bind {

using Result = std::pair<py::array, py::array>;

void bind_search(py::module_& m) {
  m.def("flat_search",
        [](py::array x, py::array q, int64_t d, int metric, int k, int nthreads,
           py::object allow) -> Result {
          auto X = matrix<float>(x, "x");
          auto Q = matrix<float>(q, "q");
          check_k(k);
          const uint64_t* ap = row_filter(allow, X.rows);
          TopKOut<> out(Q.rows, k);
          {
            py::gil_scoped_release nogil;
            flat_search(X.ptr, X.rows, X.cols, Q.ptr, Q.rows, Q.cols, d, metric_from(metric), k,
                        out.vp, out.ip, nthreads, ap);
          }
          return out.result();
        },
        py::arg("x"), py::arg("q"), py::arg("d"), py::arg("metric"), py::arg("k"),
        py::arg("nthreads") = 0, py::arg("allow") = py::none());

  m.def("rerank_exact",
        [](py::array x, py::array q, int64_t d, int metric, py::array cand, int k,
           int nthreads) -> Result {
          auto X = matrix<float>(x, "x");
          auto Q = matrix<float>(q, "q");
          auto C = matrix<int64_t>(cand, "candidates");
          if (C.rows != Q.rows) throw py::value_error("candidates must have one row per query");
          check_k(k);
          TopKOut<> out(Q.rows, k);
          {
            py::gil_scoped_release nogil;
            rerank_exact(X.ptr, X.rows, X.cols, Q.ptr, Q.rows, Q.cols, d, metric_from(metric),
                         C.ptr, C.cols, k, out.vp, out.ip, nthreads);
          }
          return out.result();
        },
        py::arg("x"), py::arg("q"), py::arg("d"), py::arg("metric"), py::arg("candidates"),
        py::arg("k"), py::arg("nthreads") = 0);

  m.def("pairwise_scores",
        [](py::array x, py::array q, int64_t d, int metric, int nthreads) {
          auto X = matrix<float>(x, "x");
          auto Q = matrix<float>(q, "q");
          auto out = empty<float>({Q.rows, X.rows});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            pairwise_scores(X.ptr, X.rows, X.cols, Q.ptr, Q.rows, Q.cols, d, metric_from(metric),
                            op, nthreads);
          }
          return out;
        },
        py::arg("x"), py::arg("q"), py::arg("d"), py::arg("metric"), py::arg("nthreads") = 0);

  m.def("matryoshka_search",
        [](py::array x, py::array q, int metric, std::vector<int64_t> dims,
           std::vector<int64_t> cands, int k, int nthreads, py::object allow) -> Result {
          auto X = matrix<float>(x, "x");
          auto Q = matrix<float>(q, "q");
          check_k(k);
          if (dims.empty() || cands.size() + 1 != dims.size())
            throw py::value_error("need len(candidates) == len(dims) - 1 >= 0");
          const uint64_t* ap = row_filter(allow, X.rows);
          TopKOut<> out(Q.rows, k);
          {
            py::gil_scoped_release nogil;
            matryoshka_search(X.ptr, X.rows, X.cols, Q.ptr, Q.rows, Q.cols, metric_from(metric),
                              dims.data(), cands.data(), int(dims.size()), k, out.vp, out.ip, nthreads,
                              ap);
          }
          return out.result();
        },
        py::arg("x"), py::arg("q"), py::arg("metric"), py::arg("dims"), py::arg("candidates"),
        py::arg("k"), py::arg("nthreads") = 0, py::arg("allow") = py::none());

  m.def("binary_code_bytes", &binary_code_bytes, py::arg("d"));

  m.def("binarize",
        [](py::array x, int64_t d, py::object thresholds, int nthreads) {
          auto X = matrix<float>(x, "x");
          if (d <= 0 || d > X.cols) throw py::value_error("d must be in [1, x.shape[1]]");
          const float* tp = nullptr;
          py::array th;
          if (!thresholds.is_none()) {
            th = thresholds.cast<py::array>();
            tp = vector<float>(th, "thresholds", d).first;
          }
          auto codes = empty<uint8_t>({X.rows, binary_code_bytes(d)});
          uint8_t* cp = codes.mutable_data();
          {
            py::gil_scoped_release nogil;
            binarize(X.ptr, X.rows, X.cols, d, tp, cp, nthreads);
          }
          return codes;
        },
        py::arg("x"), py::arg("d"), py::arg("thresholds") = py::none(), py::arg("nthreads") = 0);

  m.def("hamming_distances",
        [](py::array qcodes, py::array codes, int nthreads) {
          auto C = matrix<uint8_t>(codes, "codes");
          auto Q = matrix<uint8_t>(qcodes, "query codes", C.cols);
          auto out = empty<int32_t>({Q.rows, C.rows});
          int32_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            hamming_distances(Q.ptr, Q.rows, C.ptr, C.rows, C.cols, op, nthreads);
          }
          return out;
        },
        py::arg("qcodes"), py::arg("codes"), py::arg("nthreads") = 0);

  m.def("hamming_search",
        [](py::array qcodes, py::array codes, int k, int nthreads, py::object allow) -> Result {
          auto C = matrix<uint8_t>(codes, "codes");
          auto Q = matrix<uint8_t>(qcodes, "query codes", C.cols);
          check_k(k);
          const uint64_t* ap = row_filter(allow, C.rows);
          TopKOut<int32_t> out(Q.rows, k);
          {
            py::gil_scoped_release nogil;
            hamming_search(Q.ptr, Q.rows, C.ptr, C.rows, C.cols, k, out.vp, out.ip, nthreads, ap);
          }
          return out.result();
        },
        py::arg("qcodes"), py::arg("codes"), py::arg("k"), py::arg("nthreads") = 0,
        py::arg("allow") = py::none());

  m.def("binary_asym_tables",
        [](py::array q, int64_t d, int nthreads) {
          auto Q = matrix<float>(q, "q");
          if (d <= 0 || d > Q.cols) throw py::value_error("d must be in [1, q.shape[1]]");
          int64_t nb = binary_code_bytes(d);
          py::array_t<float> t({py::ssize_t(Q.rows), py::ssize_t(nb), py::ssize_t(256)});
          float* tp = t.mutable_data();
          {
            py::gil_scoped_release nogil;
            binary_asym_tables(Q.ptr, Q.rows, Q.cols, d, tp, nthreads);
          }
          return t;
        },
        py::arg("q"), py::arg("d"), py::arg("nthreads") = 0);

  auto tables_view = [](const py::array& t, int64_t M) {
    Tensor3 v = f32_tensor3(t, "tables", "(nq, M = codes.shape[1], 256)", M, 256);
    return std::make_pair(v.ptr, v.d0);
  };

  m.def("adc_scan_u8",
        [tables_view](py::array tables, py::array codes, int nthreads) {
          auto C = matrix<uint8_t>(codes, "codes");
          auto T = tables_view(tables, C.cols);
          auto out = empty<float>({T.second, C.rows});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            adc_scan_u8(T.first, T.second, C.cols, C.ptr, C.rows, op, nthreads);
          }
          return out;
        },
        py::arg("tables"), py::arg("codes"), py::arg("nthreads") = 0);

  m.def("adc_search_u8",
        [tables_view](py::array tables, py::array codes, bool largest, int k,
                      int nthreads, py::object allow) -> Result {
          auto C = matrix<uint8_t>(codes, "codes");
          auto T = tables_view(tables, C.cols);
          check_k(k);
          const uint64_t* ap = row_filter(allow, C.rows);
          TopKOut<> out(T.second, k);
          {
            py::gil_scoped_release nogil;
            adc_search_u8(T.first, T.second, C.cols, C.ptr, C.rows, largest, k, out.vp, out.ip,
                          nthreads, ap);
          }
          return out.result();
        },
        py::arg("tables"), py::arg("codes"), py::arg("largest"), py::arg("k"),
        py::arg("nthreads") = 0, py::arg("allow") = py::none());

  m.def("topk_select",
        [](py::array scores, int k, bool largest, int nthreads) -> Result {
          auto S = matrix<float>(scores, "scores");
          check_k(k);
          TopKOut<> out(S.rows, k);
          {
            py::gil_scoped_release nogil;
            topk_select(S.ptr, S.rows, S.cols, k, largest, out.vp, out.ip, nthreads);
          }
          return out.result();
        },
        py::arg("scores"), py::arg("k"), py::arg("largest"), py::arg("nthreads") = 0);
}

}  // namespace bind
}  // namespace vecpress
