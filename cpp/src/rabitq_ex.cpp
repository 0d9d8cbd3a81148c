// Extended RaBitQ codes (Gao et al., SIGMOD 2025): the per-vector rescale search that picks
// each dimension's (1 + ex_bits)-bit code (layout and estimator in rabitq.hpp).
//
// For a unit vector with magnitudes o_t = |x_t| / |x| and a rescale t > 0, the magnitude
// codes are m_t(t) = min(floor(t o_t), 2^ex - 1) and the quantized vector's cosine to x is
//   cos(t) = sum_t (m_t + 1/2) o_t / sqrt(sum_t (m_t + 1/2)^2).
// cos changes only where some t o_t crosses an integer, so the best t is one of those
// breakpoints: they are visited in increasing order (a min-heap of each dimension's next
// breakpoint) between t_lo and t_hi, updating the numerator and the squared norm by the one
// dimension that steps, and the best is kept. t_hi = (2^ex - 1 + 10) / max_t o_t lets the
// largest coordinates saturate (clipping them can pay when the others are refined);
// t_lo = f (2^ex - 1) / max o_t with f = 2, 1.2, 0.9, 0.8 for ex = 1, 2, 3, >= 4 starts
// below every optimum measured (on wordnet-minilm's rotated residuals and on Gaussian
// vectors the best t max o_t / (2^ex - 1) was >= 2.56, 1.48, 1.10, 1.01, 0.94 for ex = 1,
// 2, 3, 4, >= 5; below it the code leaves most of its levels unused), and skips the many
// breakpoints where every coordinate is still coarse.
#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "vecpress/parallel.hpp"
#include "vecpress/rabitq.hpp"

namespace vecpress {
namespace {

// The best rescale t of the magnitudes o (D,) (unit norm), by breakpoint enumeration.
double best_rescale(const std::vector<double>& o, int ex_bits, std::vector<int>& m) {
  const int64_t D = int64_t(o.size());
  const int top = (1 << ex_bits) - 1;
  const double omax = *std::max_element(o.begin(), o.end());
  if (!(omax > 0)) return 0.0;
  const double f = ex_bits == 1 ? 2.0 : ex_bits == 2 ? 1.2 : ex_bits == 3 ? 0.9 : 0.8;
  const double t_hi = (top + 10.0) / omax, t_lo = f * top / omax;
  double num = 0, den = 0;
  using Step = std::pair<double, int64_t>;
  std::vector<Step> init;
  init.reserve(D);
  for (int64_t i = 0; i < D; ++i) {
    m[i] = std::min(top, int(t_lo * o[i]));
    num += (m[i] + 0.5) * o[i];
    den += (m[i] + 0.5) * (m[i] + 0.5);
    if (m[i] < top && o[i] > 0) init.emplace_back((m[i] + 1) / o[i], i);
  }
  std::priority_queue<Step, std::vector<Step>, std::greater<Step>> next(std::greater<Step>(),
                                                                        std::move(init));
  double best = num / std::sqrt(den), best_t = t_lo;
  while (!next.empty()) {
    const auto [t, i] = next.top();
    if (t > t_hi) break;
    next.pop();
    const int mi = ++m[i];
    num += o[i];
    den += 2.0 * mi;  // (m + 1/2)^2 - (m - 1/2)^2 = 2m
    const double c = num / std::sqrt(den);
    if (c > best) {
      best = c;
      best_t = t;
    }
    if (mi < top) next.emplace((mi + 1) / o[i], i);
  }
  return best_t;
}

}  // namespace

void rabitq_ex_quantize(const float* xrot, int64_t n, int64_t D, int ex_bits, uint8_t* codes,
                        int nthreads) {
  VP_CHECK(D > 0 && D % 64 == 0, "RaBitQ: the padded dimension must be a positive multiple of 64");
  VP_CHECK(ex_bits >= 1 && ex_bits <= 8, "RaBitQ: ex_bits must be in [1, 8]");
  const int top = (1 << ex_bits) - 1;
  const int64_t per_task = 64;
  parallel_for((n + per_task - 1) / per_task, nthreads, [&](int64_t task) {
    std::vector<double> o(D);
    std::vector<int> m(D);
    for (int64_t r = task * per_task; r < std::min(n, (task + 1) * per_task); ++r) {
      const float* x = xrot + r * D;
      double nrm = 0;
      for (int64_t i = 0; i < D; ++i) nrm += double(x[i]) * x[i];
      nrm = std::sqrt(nrm);
      for (int64_t i = 0; i < D; ++i) o[i] = nrm > 0 ? std::fabs(double(x[i])) / nrm : 0.0;
      const double t = best_rescale(o, ex_bits, m);
      uint8_t* out = codes + r * D;
      for (int64_t i = 0; i < D; ++i) {
        // the code of the chosen t, recomputed as the enumeration reached it (t is the
        // breakpoint at which dimension i's last step happened, hence the small slack)
        int mi = std::min(top, int(t * o[i] * (1 + 1e-12) + 1e-12));
        out[i] = uint8_t(x[i] > 0 ? mi : top - mi);
      }
    }
  });
}

}  // namespace vecpress
