#include "arrays.hpp"
#include "vecpress/fastscan.hpp"
#include "vecpress/ivf.hpp"
#include "vecpress/rabitq.hpp"

namespace vecpress {
namespace bind {

namespace {

// Offsets (nlist + 1,) of the lists in an array of `total` entries: 0 first, total last,
// non-decreasing. Returns (the offsets, nlist).
std::pair<const int64_t*, int64_t> list_offsets(const py::array& a, const char* name,
                                                int64_t total) {
  auto O = vector<int64_t>(a, name);
  if (O.second < 2) throw shape_error(std::string(name) + " must have nlist + 1 >= 2 entries");
  const int64_t nlist = O.second - 1;
  if (O.first[0] != 0 || O.first[nlist] != total)
    throw py::value_error(std::string(name) + " must start at 0 and end at " + std::to_string(total));
  for (int64_t l = 0; l < nlist; ++l)
    if (O.first[l + 1] < O.first[l]) throw py::value_error(std::string(name) + " must be non-decreasing");
  return {O.first, nlist};
}

// probes (nq, nprobe) with one row per query; probe_bias None or float32 of the same shape.
const float* probe_biases(const Matrix<int64_t>& P, const py::object& probe_bias, int64_t nq) {
  if (P.rows != nq) throw shape_error("probes must have one row per query");
  if (probe_bias.is_none()) return nullptr;
  auto B = matrix<float>(probe_bias.cast<py::array>(), "probe_bias", P.cols);
  if (B.rows != P.rows) throw shape_error("probe_bias must have the shape of probes");
  return B.ptr;
}

}  // namespace

void bind_ivf(py::module_& m) {
  m.def(
      "ivf_adc_search_u8",
      [](py::array tables, py::array codes, py::array rows, py::array offsets, int64_t n,
         py::array probes, py::object probe_bias, py::object row_bias, bool largest, int k,
         int nthreads, py::object allow) {
        auto C = matrix<uint8_t>(codes, "codes");
        auto T = f32_tensor3(tables, "tables", "(nq, M, 256)", C.cols, 256);
        auto R = vector<int64_t>(rows, "rows", C.rows);
        const auto [offs, nlist] = list_offsets(offsets, "offsets", C.rows);
        auto P = matrix<int64_t>(probes, "probes");
        const float* pb = probe_biases(P, probe_bias, T.d0);
        const float* rb = nullptr;
        if (!row_bias.is_none()) rb = vector<float>(row_bias.cast<py::array>(), "row_bias", C.rows).first;
        check_k(k);
        if (n < 0) throw py::value_error("n must be non-negative");
        const uint64_t* ap = row_filter(allow, n);  // a bit per row, not per grouped code
        TopKOut<> out(T.d0, k);
        {
          py::gil_scoped_release nogil;
          // rows are checked as the scan reads them
          ivf_adc_search_u8(T.ptr, T.d0, C.cols, C.ptr, R.first, n, offs, nlist, P.ptr, pb,
                            P.cols, rb, largest, k, out.vp, out.ip, nthreads, ap);
        }
        return out.result();
      },
      py::arg("tables"), py::arg("codes"), py::arg("rows"), py::arg("offsets"), py::arg("n"),
      py::arg("probes"), py::arg("probe_bias"), py::arg("row_bias"), py::arg("largest"),
      py::arg("k"), py::arg("nthreads") = 0, py::arg("allow") = py::none(),
      "Top-k rows (nq, k) over the probed lists of grouped codes; see vecpress/ivf.hpp.");

  m.def(
      "ivf_fastscan_search",
      [](py::array tables, py::array packed, py::array rows, py::array block_offsets,
         py::array row_codes, py::array probes, py::object probe_bias, bool largest, int k,
         int rescore, int nthreads, py::object allow) {
        auto T = f32_tensor3(tables, "tables", "(nq, M, 16)", -1, 16);
        const int64_t M = T.d1;
        auto R = vector<int64_t>(rows, "rows");
        if (R.second % 32) throw shape_error("rows must cover whole 32-vector blocks");
        const int64_t nblocks = R.second / 32;
        auto Pk = vector<uint8_t>(packed, "packed", nblocks * fastscan_block_bytes(M));
        const auto [offs, nlist] = list_offsets(block_offsets, "block_offsets", nblocks);
        auto RC = matrix<uint8_t>(row_codes, "row_codes", (M + 1) / 2);
        auto P = matrix<int64_t>(probes, "probes");
        const float* pb = probe_biases(P, probe_bias, T.d0);
        check_k(k);
        if (rescore < 0) throw py::value_error("rescore must be non-negative");
        const uint64_t* ap = row_filter(allow, RC.rows);
        TopKOut<> out(T.d0, k);
        {
          py::gil_scoped_release nogil;
          // rows are checked as the scan reads them (a one-query search reads a fraction)
          ivf_fastscan_search(T.ptr, T.d0, M, Pk.first, R.first, offs, nlist, RC.ptr, RC.rows,
                              P.ptr, pb,
                              P.cols, largest, k, rescore, out.vp, out.ip, nthreads, ap);
        }
        return out.result();
      },
      py::arg("tables"), py::arg("packed"), py::arg("rows"), py::arg("block_offsets"),
      py::arg("row_codes"), py::arg("probes"), py::arg("probe_bias"), py::arg("largest"),
      py::arg("k"), py::arg("rescore"), py::arg("nthreads") = 0, py::arg("allow") = py::none(),
      "Top-k rows (nq, k) over the probed lists of 4-bit fast-scan blocks; see vecpress/ivf.hpp.");

  m.def(
      "ivf_rabitq_search",
      [](py::array qrot, float qscale, py::array packed, py::array rows, py::array block_offsets,
         int64_t n, py::array probes, py::object probe_bias, bool largest, int k, int nthreads,
         py::object allow) {
        auto Q = matrix<float>(qrot, "qrot");
        if (Q.cols <= 0 || Q.cols % 64 != 0)
          throw shape_error("qrot must have D columns, a positive multiple of 64");
        auto R = vector<int64_t>(rows, "rows");
        if (R.second % 32) throw shape_error("rows must cover whole 32-vector blocks");
        const int64_t nblocks = R.second / 32;
        auto Pk = matrix<uint8_t>(packed, "packed", rabitq_fs_block_bytes(Q.cols));
        if (Pk.rows != nblocks) throw shape_error("packed must have one row per 32-vector block");
        const auto [offs, nlist] = list_offsets(block_offsets, "block_offsets", nblocks);
        if (n < 0) throw py::value_error("n must be non-negative");
        auto P = matrix<int64_t>(probes, "probes");
        const float* pb = probe_biases(P, probe_bias, Q.rows);
        check_k(k);
        const uint64_t* ap = row_filter(allow, n);
        TopKOut<> out(Q.rows, k);
        {
          py::gil_scoped_release nogil;
          // rows are checked as the scan reads them (a one-query search reads a fraction)
          ivf_rabitq_search(Q.ptr, Q.rows, Q.cols, qscale, Pk.ptr, R.first, n, offs, nlist,
                            P.ptr, pb, P.cols, largest, k, out.vp, out.ip, nthreads, ap);
        }
        return out.result();
      },
      py::arg("qrot"), py::arg("qscale"), py::arg("packed"), py::arg("rows"),
      py::arg("block_offsets"), py::arg("n"), py::arg("probes"), py::arg("probe_bias"),
      py::arg("largest"), py::arg("k"), py::arg("nthreads") = 0, py::arg("allow") = py::none(),
      "Top-k rows (nq, k) by RaBitQ estimate over the probed lists; see vecpress/rabitq.hpp.");
}

}  // namespace bind
}  // namespace vecpress
