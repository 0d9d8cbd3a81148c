// Bindings for residual quantization: train, beam encode, decode, cross
// products, ADC tables and norm codes. Same pattern as the other families:
// check and allocate with the GIL held, release it around the kernel.
#include <pybind11/functional.h>

#include "arrays.hpp"
#include "vecpress/rq.hpp"

namespace vecpress {
namespace bind {

namespace {

struct Codebooks {
  const float* ptr;
  int64_t M, K, d;
};

Codebooks codebooks_view(const py::array& a) {
  Tensor3 t = f32_tensor3(a, "codebooks", "(M, K, d)");
  int64_t K = t.d1;
  if (K < 2 || K > 256 || (K & (K - 1)))
    throw py::value_error("codebooks must have K = 2^nbits codewords per stage, nbits in 1..8; got K = " +
                          std::to_string(K));
  if (t.d0 < 1 || t.d2 < 1) throw py::value_error("codebooks must be non-empty");
  return {t.ptr, t.d0, K, t.d2};
}

void check_beam(int beam) {
  if (beam < 1) throw py::value_error("beam must be >= 1 (1 is greedy encoding)");
}

struct Progress {
  py::function fn;
};

void call_progress(void* ctx, int stage, float mse) {
  py::gil_scoped_acquire gil;
  static_cast<Progress*>(ctx)->fn(stage, mse);  // a raised error propagates as error_already_set
}

}  // namespace

void bind_rq(py::module_& m) {
  m.def("rq_train",
        [](py::array x, int64_t M, int nbits, int beam, int niter, int64_t max_points_per_centroid,
           uint64_t seed, py::object progress, int nthreads, int progressive_dim_steps) {
          auto X = matrix<float>(x, "x");
          if (M < 1) throw py::value_error("M must be >= 1");
          if (nbits < 1 || nbits > 8) throw py::value_error("nbits must be in 1..8");
          check_beam(beam);
          int64_t K = int64_t(1) << nbits;
          if (X.rows < K)
            throw py::value_error("RQ training needs at least 2^nbits = " + std::to_string(K) +
                                  " vectors, got " + std::to_string(X.rows));
          auto cb = py::array_t<float>(std::vector<py::ssize_t>{M, K, X.cols});
          float* cp = cb.mutable_data();
          RQTrainParams p;
          p.beam = beam;
          p.niter = niter;
          p.max_points_per_centroid = max_points_per_centroid;
          p.seed = seed;
          p.nthreads = nthreads;
          p.progressive_dim_steps = progressive_dim_steps;
          Progress prog;
          if (!progress.is_none()) {
            prog.fn = progress.cast<py::function>();
            p.progress = call_progress;
            p.progress_ctx = &prog;
          }
          {
            py::gil_scoped_release nogil;
            rq_train(X.ptr, X.rows, X.cols, M, K, p, cp);
          }
          return cb;
        },
        py::arg("x"), py::arg("M"), py::arg("nbits"), py::arg("beam") = 8, py::arg("niter") = 10,
        py::arg("max_points_per_centroid") = 256, py::arg("seed") = 1234,
        py::arg("progress") = py::none(), py::arg("nthreads") = 0,
        py::arg("progressive_dim_steps") = 10);

  m.def("rq_cross_products",
        [](py::array codebooks, int nthreads) {
          auto C = codebooks_view(codebooks);
          auto out = py::array_t<float>(
              std::vector<py::ssize_t>{C.M * (C.M - 1) / 2, C.K, C.K});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rq_cross_products(C.ptr, C.M, C.K, C.d, op, nthreads);
          }
          return out;
        },
        py::arg("codebooks"), py::arg("nthreads") = 0);

  m.def("rq_encode",
        [](py::array x, py::array codebooks, int beam, py::object cross, int nthreads) {
          auto C = codebooks_view(codebooks);
          auto X = matrix<float>(x, "x", C.d);
          check_beam(beam);
          const float* xp = nullptr;
          if (!cross.is_none()) {
            py::array ca = cross.cast<py::array>();
            if (!has_dtype<float>(ca) || !(ca.flags() & py::array::c_style) ||
                ca.size() != rq_cross_size(C.M, C.K))
              throw py::value_error("cross must be the C-contiguous float32 (M(M-1)/2, K, K) array "
                                    "returned by rq_cross_products for these codebooks");
            xp = static_cast<const float*>(ca.data());
          }
          auto codes = empty<uint8_t>({X.rows, C.M});
          auto err = empty<float>({X.rows});
          auto rn = empty<float>({X.rows});
          uint8_t* cp = codes.mutable_data();
          float* ep = err.mutable_data();
          float* rp = rn.mutable_data();
          {
            py::gil_scoped_release nogil;
            rq_encode_beam(X.ptr, X.rows, X.cols, C.ptr, C.M, C.K, xp, beam, cp, ep, rp, nthreads);
          }
          return py::make_tuple(codes, err, rn);
        },
        py::arg("x"), py::arg("codebooks"), py::arg("beam") = 8, py::arg("cross") = py::none(),
        py::arg("nthreads") = 0,
        "Beam-search codes (n, M) uint8, squared errors (n,) and reconstruction squared norms (n,).");

  m.def("rq_decode",
        [](py::array codes, py::array codebooks, int nthreads) {
          auto C = codebooks_view(codebooks);
          auto K = matrix<uint8_t>(codes, "codes", C.M);
          auto out = empty<float>({K.rows, C.d});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rq_decode(K.ptr, K.rows, C.ptr, C.M, C.K, C.d, op, nthreads);
          }
          return out;
        },
        py::arg("codes"), py::arg("codebooks"), py::arg("nthreads") = 0);

  m.def("rq_compute_tables",
        [](py::array q, py::array codebooks, float scale, int64_t ksub_stride, int nthreads) {
          auto C = codebooks_view(codebooks);
          auto Q = matrix<float>(q, "queries", C.d);
          if (ksub_stride <= 0) ksub_stride = C.K;
          if (ksub_stride < C.K) throw py::value_error("ksub_stride must be >= K");
          auto out = py::array_t<float>(std::vector<py::ssize_t>{Q.rows, C.M, ksub_stride});
          float* op = out.mutable_data();
          {
            py::gil_scoped_release nogil;
            rq_compute_tables(Q.ptr, Q.rows, C.ptr, C.M, C.K, C.d, scale, ksub_stride, op, nthreads);
          }
          return out;
        },
        py::arg("q"), py::arg("codebooks"), py::arg("scale") = 1.0f, py::arg("ksub_stride") = 0,
        py::arg("nthreads") = 0);

  m.def("rq_encode_norms",
        [](py::array v, float vmin, float vmax, int bits) {
          auto V = vector<float>(v, "norms");
          if (bits < 1 || bits > 8) throw py::value_error("norm bits must be in 1..8");
          auto out = empty<uint8_t>({V.second});
          uint8_t* op = out.mutable_data();
          rq_encode_norms(V.first, V.second, vmin, vmax, bits, op);
          return out;
        },
        py::arg("norms"), py::arg("vmin"), py::arg("vmax"), py::arg("bits"));
}

}  // namespace bind
}  // namespace vecpress
