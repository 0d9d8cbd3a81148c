// Bindings for product quantization: training, encode/decode, ADC tables,
// 4-bit fast-scan packing and search. Same pattern as bind_search.cpp.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "vecpress/fastscan.hpp"
#include "vecpress/pq.hpp"

namespace vecpress {
namespace bind {
namespace {

struct Centroids {
  const float* ptr;
  int64_t M, ksub, dsub;
};

// centroids: C-contiguous float32 (M, ksub, dsub) with ksub 16 or 256.
Centroids centroids_view(const py::array& c) {
  Tensor3 t = f32_tensor3(c, "centroids", "(M, ksub, dsub)");
  if (t.d1 != 16 && t.d1 != 256)
    throw py::value_error("centroids.shape[1] (ksub) must be 16 (4-bit) or 256 (8-bit), got " +
                          std::to_string(t.d1));
  if (t.d0 == 0 || t.d2 == 0) throw py::value_error("centroids must have M > 0 and dsub > 0");
  return {t.ptr, t.d0, t.d1, t.d2};
}

// tables: C-contiguous float32 (nq, M, ksub); returns nq.
int64_t tables_view(const py::array& t, int64_t M, int64_t ksub, const float** ptr) {
  Tensor3 v = f32_tensor3(t, "tables",
                          "(nq, " + std::to_string(M) + ", " + std::to_string(ksub) +
                              ") (from adc_table_ip/l2)",
                          M, ksub);
  *ptr = v.ptr;
  return v.d0;
}

const uint8_t* packed_view(const py::array& p, int64_t n, int64_t M) {
  if (!has_dtype<uint8_t>(p) || p.ndim() != 1 || !(p.flags() & py::array::c_style))
    throw py::value_error("packed codes must be a contiguous 1-D uint8 array (from pq4_pack)");
  if (n < 0 || M <= 0) throw py::value_error("n must be >= 0 and M > 0");
  int64_t want = fastscan_nblocks(n) * fastscan_block_bytes(M);
  if (p.shape(0) != want)
    throw py::value_error("packed codes for n = " + std::to_string(n) + ", M = " +
                          std::to_string(M) + " must have " + std::to_string(want) +
                          " bytes, got " + std::to_string(p.shape(0)));
  return static_cast<const uint8_t*>(p.data());
}

void check_codes_range(const Matrix<uint8_t>& C, int64_t ksub) {
  if (ksub == 256) return;
  for (int64_t i = 0; i < C.rows * C.cols; ++i)
    if (C.ptr[i] >= ksub)
      throw py::value_error("codes must be < " + std::to_string(ksub) + " for " +
                            std::to_string(ksub) + " centroids per sub-quantizer, found " +
                            std::to_string(int(C.ptr[i])));
}

}  // namespace

void bind_pq(py::module_& m) {
  m.def("fastscan_block_bytes", &fastscan_block_bytes, py::arg("M"),
        "Bytes of one packed 32-vector fast-scan block of M 4-bit codes.");
  m.def("pq_train",
        [](py::array x, int64_t M, int nbits, int niter, uint64_t seed,
           int64_t max_points_per_centroid, bool kmeanspp, int nthreads) {
          auto X = matrix<float>(x, "x");
          if (nbits != 4 && nbits != 8) throw py::value_error("nbits must be 4 or 8");
          if (M <= 0 || X.cols % M != 0)
            throw py::value_error("M must be a positive divisor of d = " + std::to_string(X.cols));
          int64_t ksub = int64_t(1) << nbits;
          if (X.rows < ksub)
            throw py::value_error("PQ training needs at least " + std::to_string(ksub) +
                                  " vectors, got " + std::to_string(X.rows));
          auto c = py::array_t<float>(std::vector<py::ssize_t>{M, ksub, X.cols / M});
          float* cp = c.mutable_data();
          KMeansParams p{niter, seed, max_points_per_centroid, kmeanspp, nthreads};
          {
            py::gil_scoped_release nogil;
            pq_train(X.ptr, X.rows, X.cols, M, nbits, p, cp);
          }
          return c;
        },
        py::arg("x"), py::arg("M"), py::arg("nbits"), py::arg("niter") = 25,
        py::arg("seed") = 1234, py::arg("max_points_per_centroid") = 256,
        py::arg("kmeanspp") = false, py::arg("nthreads") = 0);

  m.def("pq_encode",
        [](py::array x, py::array centroids, int nthreads) {
          auto C = centroids_view(centroids);
          auto X = matrix<float>(x, "x", C.M * C.dsub);
          auto codes = empty<uint8_t>({X.rows, C.M});
          uint8_t* op = codes.mutable_data();
          {
            py::gil_scoped_release nogil;
            pq_encode(X.ptr, X.rows, X.cols, C.M, C.ksub, C.ptr, op, nthreads);
          }
          return codes;
        },
        py::arg("x"), py::arg("centroids"), py::arg("nthreads") = 0);

  m.def("pq_decode",
        [](py::array codes, py::array centroids, int nthreads) {
          auto C = centroids_view(centroids);
          auto K = matrix<uint8_t>(codes, "codes", C.M);
          check_codes_range(K, C.ksub);
          auto x = empty<float>({K.rows, C.M * C.dsub});
          float* xp = x.mutable_data();
          {
            py::gil_scoped_release nogil;
            pq_decode(K.ptr, K.rows, C.M * C.dsub, C.M, C.ksub, C.ptr, xp, nthreads);
          }
          return x;
        },
        py::arg("codes"), py::arg("centroids"), py::arg("nthreads") = 0);

  auto tables = [&m](const char* name, auto fn) {
    m.def(name,
          [fn](py::array q, py::array centroids, int nthreads) {
            auto C = centroids_view(centroids);
            auto Q = matrix<float>(q, "q", C.M * C.dsub);
            auto t = py::array_t<float>(std::vector<py::ssize_t>{Q.rows, C.M, C.ksub});
            float* tp = t.mutable_data();
            {
              py::gil_scoped_release nogil;
              fn(Q.ptr, Q.rows, Q.cols, C.M, C.ksub, C.ptr, tp, nthreads);
            }
            return t;
          },
          py::arg("q"), py::arg("centroids"), py::arg("nthreads") = 0);
  };
  tables("adc_table_ip", &adc_table_ip);
  tables("adc_table_l2", &adc_table_l2);

  m.def("pq4_pack",
        [](py::array codes) {
          auto K = matrix<uint8_t>(codes, "codes");
          if (K.cols == 0) throw py::value_error("codes must have M > 0 columns");
          check_codes_range(K, 16);
          auto out = empty<uint8_t>({fastscan_nblocks(K.rows) * fastscan_block_bytes(K.cols)});
          uint8_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            pq4_pack(K.ptr, K.rows, K.cols, op);
          }
          return out;
        },
        py::arg("codes"));

  m.def("pq4_unpack",
        [](py::array packed, int64_t n, int64_t M) {
          const uint8_t* pp = packed_view(packed, n, M);
          auto out = empty<uint8_t>({n, M});
          uint8_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            pq4_unpack(pp, n, M, op);
          }
          return out;
        },
        py::arg("packed"), py::arg("n"), py::arg("M"));

  m.def("fastscan_quantize_luts",
        [](py::array tables, bool largest) {
          if (tables.ndim() != 3) throw py::value_error("tables must be (nq, M, 16)");
          const float* tp;
          int64_t M = tables.shape(1);
          int64_t nq = tables_view(tables, M, 16, &tp);
          auto out = empty<uint8_t>({nq, fastscan_mpad(M), 16});
          uint8_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            fastscan_quantize_luts(tp, nq, M, largest, op);
          }
          return out;
        },
        py::arg("tables"), py::arg("largest"));

  m.def("fastscan_scores",
        [](py::array luts, py::array packed, int64_t n, int64_t M, int nthreads) {
          if (!has_dtype<uint8_t>(luts) || luts.ndim() != 3 ||
              luts.shape(1) != fastscan_mpad(M) || luts.shape(2) != 16 ||
              !(luts.flags() & py::array::c_style))
            throw py::value_error("luts must be a C-contiguous (nq, Mp, 16) uint8 array from "
                                  "fastscan_quantize_luts");
          const uint8_t* lp = static_cast<const uint8_t*>(luts.data());
          const int64_t nq = luts.shape(0);
          const uint8_t* pp = packed_view(packed, n, M);
          auto out = empty<uint16_t>({nq, n});
          uint16_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            fastscan_scores(lp, nq, M, pp, n, op, nthreads);
          }
          return out;
        },
        py::arg("luts"), py::arg("packed"), py::arg("n"), py::arg("M"), py::arg("nthreads") = 0);

  m.def("fastscan_search",
        [](py::array tables, py::array packed, int64_t n, bool largest, int k, int rescore,
           int nthreads, py::object allow) -> std::pair<py::array, py::array> {
          if (tables.ndim() != 3) throw py::value_error("tables must be (nq, M, 16)");
          int64_t M = tables.shape(1);
          const float* tp;
          int64_t nq = tables_view(tables, M, 16, &tp);
          const uint8_t* pp = packed_view(packed, n, M);
          check_k(k);
          if (rescore < 0) throw py::value_error("rescore must be non-negative");
          const uint64_t* ap = row_filter(allow, n);
          auto s = empty<float>({nq, k});
          auto ids = empty<int64_t>({nq, k});
          float* sp = s.mutable_data();
          int64_t* ip = ids.mutable_data();
          {
            py::gil_scoped_release nogil;
            fastscan_search(tp, nq, M, pp, n, largest, k, rescore, sp, ip, nthreads, ap);
          }
          return {s, ids};
        },
        py::arg("tables"), py::arg("packed"), py::arg("n"), py::arg("largest"), py::arg("k"),
        py::arg("rescore") = 0, py::arg("nthreads") = 0, py::arg("allow") = py::none());
}

}  // namespace bind
}  // namespace vecpress
