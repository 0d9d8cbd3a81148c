// Bindings for the RaBitQ kernels. Pattern: check views and allocate outputs
// with the GIL held, release it around the kernel, return numpy arrays.
#include <pybind11/stl.h>

#include <cmath>

#include "arrays.hpp"
#include "vecpress/rabitq.hpp"

namespace vecpress {
namespace bind {
namespace {

// The padded dimension D of codes (n, D / 8 + 16) uint8.
int64_t code_dim(const Matrix<uint8_t>& C) {
  int64_t bits = C.cols - 4 * kRabitqFactors;
  if (bits <= 0 || bits % 8 != 0)
    throw shape_error("RaBitQ codes must have D / 8 + 16 columns with D a multiple of 64, got " +
                      std::to_string(C.cols));
  return bits * 8;
}

// The padded dimension D of extended-code rows (n, rabitq_ex_row_bytes(D, ex_bits)) uint8
// (ex_bits = 0: the 1-bit codes).
int64_t ex_code_dim(const Matrix<uint8_t>& C, int ex_bits) {
  if (ex_bits < 0 || ex_bits > 8) throw py::value_error("ex_bits must be in [0, 8]");
  if (ex_bits == 0) return code_dim(C);
  int64_t bits = C.cols - 4 * kRabitqFactors - 8;
  if (bits <= 0 || (8 * bits) % (1 + ex_bits) != 0 || (8 * bits / (1 + ex_bits)) % 64 != 0)
    throw shape_error("RaBitQ codes with ex_bits = " + std::to_string(ex_bits) +
                      " must have (1 + ex_bits) D / 8 + 24 columns with D a multiple of 64, got " +
                      std::to_string(C.cols));
  return 8 * bits / (1 + ex_bits);
}

// Query bit planes (nq, qb * D / 64) uint64.
Matrix<uint64_t> planes(const py::array& a, int qb, int64_t D) {
  if (qb < 1 || qb > 8) throw py::value_error("qb must be in [1, 8]");
  return matrix<uint64_t>(a, "qplanes", qb * D / 64);
}

Matrix<float> consts(const py::array& a, int64_t nq) {
  auto Q = matrix<float>(a, "qconsts", kRabitqQueryConsts);
  if (Q.rows != nq) throw shape_error("qconsts must have one row per query");
  return Q;
}

// Checks that packed is the fast-scan layout (nblocks, rabitq_fs_block_bytes(D)) of n codes
// of dimension D (from the codes); returns D. (That it was built from those very codes is
// the caller's contract: the layout is a cache of them.)
int64_t packed_dim(const Matrix<uint8_t>& P, int64_t n, int64_t D) {
  if (P.cols != rabitq_fs_block_bytes(D))
    throw shape_error("packed must have rabitq_fs_block_bytes(D) = " +
                      std::to_string(rabitq_fs_block_bytes(D)) + " columns for the codes' D = " +
                      std::to_string(D) + ", got " + std::to_string(P.cols));
  if (n < 0 || P.rows != fastscan_nblocks(n))
    throw shape_error("packed must have ceil(n / 32) rows for n = " + std::to_string(n) +
                      ", got " + std::to_string(P.rows));
  return D;
}

// Estimates (nq, n) and their bounds (nq, n) float32, filled by run(out, bound) without the GIL.
template <class Run>
std::pair<py::array_t<float>, py::array_t<float>> scores_and_bounds(int64_t nq, int64_t n,
                                                                     Run&& run) {
  auto out = empty<float>({nq, n});
  auto bound = empty<float>({nq, n});
  float* op = out.mutable_data();
  float* bp = bound.mutable_data();
  {
    py::gil_scoped_release nogil;
    run(op, bp);
  }
  return {out, bound};
}

}  // namespace

void bind_rabitq(py::module_& m) {
  m.def("rabitq_padded_dim", &rabitq_padded_dim, py::arg("d"));
  m.def("rabitq_code_bytes", &rabitq_code_bytes, py::arg("D"));

  m.def("rabitq_rotate",
        [](py::array x, int64_t D, py::array signs, bool inverse, int nthreads) {
          auto X = matrix<float>(x, "x");
          if (D <= 0 || D % 64 != 0 || X.cols > D)
            throw py::value_error("D must be a positive multiple of 64 and >= x.shape[1]");
          auto S = matrix<float>(signs, "signs", D);
          if (S.rows < 1) throw py::value_error("signs must hold at least one round");
          if (X.cols == 0) throw py::value_error("x must have at least one column");
          auto out = empty<float>({X.rows, D});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rabitq_rotate(X.ptr, X.rows, X.cols, X.cols, D, S.ptr, int(S.rows), inverse, op,
                          nthreads);
          }
          return out;
        },
        py::arg("x"), py::arg("D"), py::arg("signs"), py::arg("inverse") = false,
        py::arg("nthreads") = 0);

  m.def("rabitq_ip_bin",
        [](py::array qplanes, int qb, py::array codes, int nthreads) {
          auto C = matrix<uint8_t>(codes, "codes");
          int64_t D = code_dim(C);
          auto Q = planes(qplanes, qb, D);
          auto out = empty<int32_t>({Q.rows, C.rows});
          int32_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rabitq_ip_bin(Q.ptr, Q.rows, qb, C.ptr, C.rows, D, op, nthreads);
          }
          return out;
        },
        py::arg("qplanes"), py::arg("qb"), py::arg("codes"), py::arg("nthreads") = 0);

  m.def("rabitq_scores",
        [](py::array qplanes, int qb, py::array qconsts, py::array codes, int nthreads) {
          auto C = matrix<uint8_t>(codes, "codes");
          int64_t D = code_dim(C);
          auto Q = planes(qplanes, qb, D);
          auto K = consts(qconsts, Q.rows);
          return scores_and_bounds(Q.rows, C.rows, [&](float* op, float* bp) {
            rabitq_scores(Q.ptr, Q.rows, qb, K.ptr, C.ptr, C.rows, D, op, bp, nthreads);
          });
        },
        py::arg("qplanes"), py::arg("qb"), py::arg("qconsts"), py::arg("codes"),
        py::arg("nthreads") = 0);

  m.def("rabitq_search",
        [](py::array qplanes, int qb, py::array qconsts, py::array codes, bool largest, int k,
           int nthreads, py::object allow) {
          auto C = matrix<uint8_t>(codes, "codes");
          int64_t D = code_dim(C);
          auto Q = planes(qplanes, qb, D);
          auto K = consts(qconsts, Q.rows);
          check_k(k);
          const uint64_t* ap = row_filter(allow, C.rows);
          TopKOut<> out(Q.rows, k);
          {
            py::gil_scoped_release nogil;
            rabitq_search(Q.ptr, Q.rows, qb, K.ptr, C.ptr, C.rows, D, largest, k, out.vp, out.ip,
                          nthreads, ap);
          }
          return out.result();
        },
        py::arg("qplanes"), py::arg("qb"), py::arg("qconsts"), py::arg("codes"),
        py::arg("largest"), py::arg("k"), py::arg("nthreads") = 0, py::arg("allow") = py::none());

  m.def("rabitq_fs_block_bytes", &rabitq_fs_block_bytes, py::arg("D"));

  m.def("rabitq_fastscan_pack",
        [](py::array codes, int ex_bits) {
          auto C = matrix<uint8_t>(codes, "codes");
          int64_t D = ex_code_dim(C, ex_bits);
          auto out = empty<uint8_t>({fastscan_nblocks(C.rows), rabitq_fs_block_bytes(D)});
          uint8_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rabitq_fastscan_pack(C.ptr, C.rows, D, C.cols, op);
          }
          return out;
        },
        py::arg("codes"), py::arg("ex_bits") = 0);

  m.def("rabitq_ex_row_bytes", &rabitq_ex_row_bytes, py::arg("D"), py::arg("ex_bits"));

  m.def("rabitq_ex_quantize",
        [](py::array xrot, int ex_bits, int nthreads) {
          auto X = matrix<float>(xrot, "xrot");
          if (X.cols <= 0 || X.cols % 64 != 0)
            throw shape_error("xrot must have D columns, a positive multiple of 64");
          if (ex_bits < 1 || ex_bits > 8) throw py::value_error("ex_bits must be in [1, 8]");
          auto out = empty<uint8_t>({X.rows, X.cols});
          uint8_t* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rabitq_ex_quantize(X.ptr, X.rows, X.cols, ex_bits, op, nthreads);
          }
          return out;
        },
        py::arg("xrot"), py::arg("ex_bits"), py::arg("nthreads") = 0);

  m.def("rabitq_ex_scores",
        [](py::array qrot, py::array qconsts, py::array codes, int ex_bits, int nthreads) {
          auto C = matrix<uint8_t>(codes, "codes");
          if (ex_bits < 1) throw py::value_error("ex_bits must be in [1, 8]");
          int64_t D = ex_code_dim(C, ex_bits);
          auto Q = matrix<float>(qrot, "qrot", D);
          auto K = consts(qconsts, Q.rows);
          return scores_and_bounds(Q.rows, C.rows, [&](float* op, float* bp) {
            rabitq_ex_scores(Q.ptr, K.ptr, Q.rows, C.ptr, C.rows, D, ex_bits, op, bp, nthreads);
          });
        },
        py::arg("qrot"), py::arg("qconsts"), py::arg("codes"), py::arg("ex_bits"),
        py::arg("nthreads") = 0);

  m.def("rabitq_ex_search",
        [](py::array qrot, py::array qconsts, py::array codes, py::array packed, int ex_bits,
           float err_ratio, bool largest, int k, int nthreads, py::object allow) {
          auto C = matrix<uint8_t>(codes, "codes");
          auto P = matrix<uint8_t>(packed, "packed");
          if (ex_bits < 1) throw py::value_error("ex_bits must be in [1, 8]");
          int64_t n = C.rows, D = packed_dim(P, n, ex_code_dim(C, ex_bits));
          auto Q = matrix<float>(qrot, "qrot", D);
          auto K = consts(qconsts, Q.rows);
          check_k(k);
          if (!(err_ratio >= 0 && std::isfinite(err_ratio)))
            throw py::value_error("err_ratio must be finite and non-negative");
          const uint64_t* ap = row_filter(allow, n);
          TopKOut<> out(Q.rows, k);
          auto stats = empty<int64_t>({Q.rows});
          int64_t* sp = stats.mutable_data();
          {
            py::gil_scoped_release nogil;
            rabitq_ex_search(Q.ptr, K.ptr, Q.rows, C.ptr, P.ptr, n, D, ex_bits, err_ratio, largest, k,
                             out.vp, out.ip, sp, nthreads, ap);
          }
          auto r = out.result();
          return py::make_tuple(r.first, r.second, stats);
        },
        py::arg("qrot"), py::arg("qconsts"), py::arg("codes"), py::arg("packed"),
        py::arg("ex_bits"), py::arg("err_ratio"), py::arg("largest"),
        py::arg("k"), py::arg("nthreads") = 0, py::arg("allow") = py::none());

  m.def("rabitq_fastscan_tables",
        [](py::array qrot) {
          auto Q = matrix<float>(qrot, "qrot");
          if (Q.cols <= 0 || Q.cols % 64 != 0)
            throw shape_error("qrot must have D columns, a positive multiple of 64");
          auto out = empty<float>({Q.rows, Q.cols / 4, int64_t(16)});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rabitq_fastscan_tables(Q.ptr, Q.rows, Q.cols, op);
          }
          return out;
        },
        py::arg("qrot"));

  m.def("rabitq_fastscan_scores",
        [](py::array qrot, py::array qconsts, py::array codes, py::array packed, bool exact,
           int nthreads) {
          auto C = matrix<uint8_t>(codes, "codes");
          auto P = matrix<uint8_t>(packed, "packed");
          int64_t n = C.rows, D = packed_dim(P, n, code_dim(C));
          auto Q = matrix<float>(qrot, "qrot", D);
          auto K = consts(qconsts, Q.rows);
          auto out = empty<float>({Q.rows, n});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rabitq_fastscan_scores(Q.ptr, K.ptr, Q.rows, C.ptr, P.ptr, n, D, exact, op, nthreads);
          }
          return out;
        },
        py::arg("qrot"), py::arg("qconsts"), py::arg("codes"), py::arg("packed"),
        py::arg("exact") = false, py::arg("nthreads") = 0);

  m.def("rabitq_fastscan_search",
        [](py::array qrot, py::array qconsts, py::array codes, py::array packed, bool largest,
           int k, int rescore, int nthreads, py::object allow) {
          auto C = matrix<uint8_t>(codes, "codes");
          auto P = matrix<uint8_t>(packed, "packed");
          int64_t n = C.rows, D = packed_dim(P, n, code_dim(C));
          auto Q = matrix<float>(qrot, "qrot", D);
          auto K = consts(qconsts, Q.rows);
          check_k(k);
          if (rescore < 0) throw py::value_error("rescore must be non-negative");
          const uint64_t* ap = row_filter(allow, n);
          TopKOut<> out(Q.rows, k);
          {
            py::gil_scoped_release nogil;
            rabitq_fastscan_search(Q.ptr, K.ptr, Q.rows, C.ptr, P.ptr, n, D, largest, k, rescore, out.vp,
                                   out.ip, nthreads, ap);
          }
          return out.result();
        },
        py::arg("qrot"), py::arg("qconsts"), py::arg("codes"), py::arg("packed"), py::arg("largest"),
        py::arg("k"), py::arg("rescore"), py::arg("nthreads") = 0, py::arg("allow") = py::none());
}

}  // namespace bind
}  // namespace vecpress
