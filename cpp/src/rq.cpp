// RQ encoding (beam search on tables), decoding, cross-products and ADC tables.
// Encoding works on blocks of vectors: one GEMM gives every <x, C_m[k]> of the
// block, then each vector runs its M beam steps on tables only.
#include "vecpress/rq.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "dispatch.hpp"
#include "rq_dispatch.hpp"
#include "vecpress/parallel.hpp"

namespace vecpress {

namespace {

constexpr int64_t kEncodeBlock = 64;  // vectors per task: their rows stay in L2 during the GEMM

void check_shape(int64_t d, int64_t M, int64_t K) {
  VP_CHECK(d > 0, "d must be positive");
  VP_CHECK(M > 0, "M (number of stages) must be positive");
  VP_CHECK(K >= 2 && K <= 256 && (K & (K - 1)) == 0,
           "K (codewords per stage) must be a power of two in [2, 256] (nbits 1..8)");
}

std::vector<float> codeword_norms(const float* codebooks, int64_t MK, int64_t d) {
  const detail::DotFns& f = detail::dot_fns();
  std::vector<float> nrm(MK);
  for (int64_t j = 0; j < MK; ++j) nrm[j] = f.dot(codebooks + j * d, codebooks + j * d, d);
  return nrm;
}

}  // namespace

void rq_cross_products(const float* codebooks, int64_t M, int64_t K, int64_t d, float* cross,
                       int nthreads) {
  check_shape(d, M, K);
  const detail::DotFns& f = detail::dot_fns();
  int64_t npairs = M * (M - 1) / 2;
  parallel_for(npairs, nthreads, [&](int64_t p) {
    // invert p = j(j-1)/2 + i
    int64_t j = 1;
    while ((j + 1) * j / 2 <= p) ++j;
    int64_t i = p - detail::rq_pair(0, j);
    float* out = cross + p * K * K;
    f.ip_block(codebooks + i * K * d, d, K, codebooks + j * K * d, d, K, d, out, K);
    for (int64_t e = 0; e < K * K; ++e) out[e] *= 2.0f;
  });
}

void rq_encode_beam(const float* x, int64_t n, int64_t d, const float* codebooks, int64_t M,
                    int64_t K, const float* cross, int beam, uint8_t* codes, float* err,
                    float* rnorm, int nthreads) {
  check_shape(d, M, K);
  VP_CHECK(beam >= 1, "beam width must be at least 1");
  if (n == 0) return;
  std::vector<float> own_cross;
  if (!cross && M > 1) {
    own_cross.resize(rq_cross_size(M, K));
    rq_cross_products(codebooks, M, K, d, own_cross.data(), nthreads);
    cross = own_cross.data();
  }
  const detail::DotFns& df = detail::dot_fns();
  const detail::RqFns& rf = detail::rq_fns();
  const int64_t MK = M * K;
  const std::vector<float> cnorm = codeword_norms(codebooks, MK, d);
  std::vector<float> packed(df.packed_size(MK, d));  // laid out once, shared by every block
  df.pack(codebooks, d, MK, d, packed.data());
  const int B = beam;  // each step keeps min(cur * K, B) entries
  int64_t nblocks = (n + kEncodeBlock - 1) / kEncodeBlock;
  parallel_for(nblocks, nthreads, [&](int64_t blk) {
    int64_t i0 = blk * kEncodeBlock, nb = std::min(kEncodeBlock, n - i0);
    std::vector<float> xc(nb * MK), t(K), buf(K), hv(B), o0(B), o1(B);
    std::vector<idx_t> hi(B);
    std::vector<uint8_t> c0(int64_t(B) * M), c1(int64_t(B) * M);
    std::vector<const float*> rows(M);
    detail::BeamScratch s{buf.data(), hv.data(), hi.data(), rows.data()};
    df.ip_packed(x + i0 * d, d, nb, packed.data(), MK, d, xc.data(), MK);
    for (int64_t r = 0; r < nb; ++r) {
      const float* xr = xc.data() + r * MK;
      int cur = 1;
      o0[0] = 0.0f;
      for (int m = 0; m < M; ++m) {
        for (int64_t k = 0; k < K; ++k) t[k] = cnorm[m * K + k] - 2.0f * xr[m * K + k];
        int nbm = int(std::min<int64_t>(int64_t(cur) * K, B));
        detail::rq_extend_beam(rf, cross, K, m, t.data(), cur, c0.data(), o0.data(), nbm,
                               c1.data(), o1.data(), s);
        c0.swap(c1);
        o0.swap(o1);
        cur = nbm;
      }
      uint8_t* out = codes + (i0 + r) * M;
      std::memcpy(out, c0.data(), size_t(M));
      if (err || rnorm) {
        const float* xi = x + (i0 + r) * d;
        if (err) err[i0 + r] = std::max(0.0f, o0[0] + df.dot(xi, xi, d));
        if (rnorm) {
          float ip = 0;
          for (int m = 0; m < M; ++m) ip += xr[m * K + out[m]];
          rnorm[i0 + r] = std::max(0.0f, o0[0] + 2.0f * ip);
        }
      }
    }
  });
}

void rq_decode(const uint8_t* codes, int64_t n, const float* codebooks, int64_t M, int64_t K,
               int64_t d, float* out, int nthreads) {
  check_shape(d, M, K);
  constexpr int64_t kBlock = 256;
  parallel_for((n + kBlock - 1) / kBlock, nthreads, [&](int64_t blk) {
    for (int64_t i = blk * kBlock; i < std::min(n, (blk + 1) * kBlock); ++i) {
      float* o = out + i * d;
      const uint8_t* c = codes + i * M;
      VP_CHECK(c[0] < K, "code out of range for this codebook size");
      const float* w0 = codebooks + int64_t(c[0]) * d;
      for (int64_t j = 0; j < d; ++j) o[j] = w0[j];
      for (int64_t m = 1; m < M; ++m) {
        VP_CHECK(c[m] < K, "code out of range for this codebook size");
        const float* w = codebooks + (m * K + c[m]) * d;
        for (int64_t j = 0; j < d; ++j) o[j] += w[j];
      }
    }
  });
}

void rq_compute_tables(const float* q, int64_t nq, const float* codebooks, int64_t M, int64_t K,
                       int64_t d, float scale, int64_t ksub_stride, float* tables,
                       int nthreads) {
  check_shape(d, M, K);
  VP_CHECK(ksub_stride >= K, "table stride must be at least K");
  const detail::DotFns& f = detail::dot_fns();
  constexpr int64_t kQBlock = 32;
  const int64_t MK = M * K;
  std::vector<float> packed(f.packed_size(MK, d));
  f.pack(codebooks, d, MK, d, packed.data());
  parallel_for((nq + kQBlock - 1) / kQBlock, nthreads, [&](int64_t blk) {
    int64_t q0 = blk * kQBlock, nqb = std::min(kQBlock, nq - q0);
    std::vector<float> tmp(nqb * MK);
    f.ip_packed(q + q0 * d, d, nqb, packed.data(), MK, d, tmp.data(), MK);
    for (int64_t i = 0; i < nqb; ++i)
      for (int64_t m = 0; m < M; ++m) {
        float* o = tables + ((q0 + i) * M + m) * ksub_stride;
        const float* s = tmp.data() + i * MK + m * K;
        for (int64_t k = 0; k < K; ++k) o[k] = scale * s[k];
        for (int64_t k = K; k < ksub_stride; ++k) o[k] = 0.0f;
      }
  });
}

void rq_encode_norms(const float* v, int64_t n, float vmin, float vmax, int bits, uint8_t* out) {
  VP_CHECK(bits >= 1 && bits <= 8, "norm bits must be in [1, 8]");
  const int L = 1 << bits;
  const float span = vmax > vmin ? vmax - vmin : 1.0f;
  for (int64_t i = 0; i < n; ++i) {
    float c = std::floor((v[i] - vmin) / span * float(L));
    out[i] = uint8_t(std::min<float>(float(L - 1), std::max(0.0f, c)));
  }
}

}  // namespace vecpress
