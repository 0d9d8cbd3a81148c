#include "arrays.hpp"
#include "vecpress/kmeans.hpp"

namespace vecpress {
namespace bind {

void bind_kmeans(py::module_& m) {
  m.def("kmeans_train",
        [](py::array x, int64_t k, int niter, uint64_t seed, int64_t max_points_per_centroid,
           bool kmeanspp, int nthreads) {
          auto X = matrix<float>(x, "x");
          if (k <= 0) throw py::value_error("k must be positive");
          if (X.rows < k)
            throw py::value_error("k-means needs at least k = " + std::to_string(k) +
                                  " training vectors, got " + std::to_string(X.rows));
          auto c = empty<float>({k, X.cols});
          float* cp = c.mutable_data();
          KMeansParams p{niter, seed, max_points_per_centroid, kmeanspp, nthreads};
          float mse;
          {
            py::gil_scoped_release nogil;
            mse = kmeans_train(X.ptr, X.rows, X.cols, k, p, cp);
          }
          return std::make_pair(c, mse);
        },
        py::arg("x"), py::arg("k"), py::arg("niter") = 25, py::arg("seed") = 1234,
        py::arg("max_points_per_centroid") = 256, py::arg("kmeanspp") = false,
        py::arg("nthreads") = 0);

  m.def("kmeans_assign",
        [](py::array x, py::array centroids, int nthreads) {
          auto C = matrix<float>(centroids, "centroids");
          auto X = matrix<float>(x, "x", C.cols);
          auto a = empty<int64_t>({X.rows});
          auto dd = empty<float>({X.rows});
          int64_t* ap = a.mutable_data();
          float* dp = dd.mutable_data();
          {
            py::gil_scoped_release nogil;
            kmeans_assign(X.ptr, X.rows, X.cols, C.ptr, C.rows, ap, dp, nthreads);
          }
          return std::make_pair(a, dd);
        },
        py::arg("x"), py::arg("centroids"), py::arg("nthreads") = 0);
}

}  // namespace bind
}  // namespace vecpress
