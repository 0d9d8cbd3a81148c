"""RaBitQ (Gao & Long, SIGMOD 2024): one sign bit per dimension of a randomly rotated,
centred vector, plus per-vector factors that make an unbiased estimator of inner products
and squared distances with a probabilistic error bound.

Notation (per stored vector o_r and query q_r, centroid c, rotation P, D the dimension
padded to a multiple of 64):

- r = o_r - c, o = r / |r|, o' = P o; the code is b = [o' > 0] in {0, 1}^D and the
  quantized unit vector ō = (2b - 1) / sqrt(D); a = <ō, o'> = sum |o'| / sqrt(D).
- q' = P (q_r - c). The estimator <r, q_r - c> ~ |r| <ō, q'> / a is unbiased over the
  random rotation, and |error| <= |r| |q'| sqrt(1 - a^2) / a * eps0 / sqrt(D - 1) (plus a
  term for the query's rounding, eps0 |r| Delta / (2 a), both doubled for "l2") with
  probability about P(|N(0, 1)| <= eps0) or more (0.943 for the default eps0 = 1.9; the
  paper's analysis; the error is close to Gaussian with that scale times sqrt(1 - <o, q>^2)).
- The query is quantized to qb bits with randomized rounding (unbiased; the random offsets
  hash the seed, the query and the dimension, so a query's code does not depend on its batch):
  q'_t ~ v_l + Delta u_t, u_t in [0, 2^qb - 1], and <b, u> = sum_p 2^p popcount(b AND plane_p)
  is the only per-pair work (the kernel's integer part).

Scores: "ip" estimates <o_r, q_r> = <r, q_r - c> + <r, c> + <c, q_r>; "l2" estimates
|o_r - q_r|^2 = |r|^2 + |q_r - c|^2 - 2 <r, q_r - c>.

Codes (n, D / 8 + 16) uint8: the D sign bits (bit t at byte t // 8, least significant
first), then 4 float32 factors [f_add, f_mul, f_pop, f_err]:
f_add = <r, c> ("ip") or |r|^2 ("l2"), f_mul = 2 |r| / (a sqrt(D)),
f_pop = f_mul (popcount(b) - D / 2), f_err = |r| sqrt(1 - a^2) / (a sqrt(D - 1)).
Because f_add depends on the metric, the quantizer is built for one metric.

Extended codes (Gao et al., SIGMOD 2025), ex_bits = B in 1..8: each dimension gets 1 + B
bits, the total code u_t = (b_t << B) | e_t and the quantized value y_t = u_t - (2^B - 1/2)
(an odd multiple of 1/2; its sign is the 1-bit code's). The magnitudes |y_t| - 1/2 =
min(floor(t |o'_t|), 2^B - 1) for the per-vector rescale t that maximizes the cosine
a_ex = <y, o'> / |y| (every breakpoint of t in a range visited, cpp/src/rabitq_ex.cpp).
The estimator <r, q'> ~ f_ex <y, q'>, f_ex = |r|^2 / <r', y> = |r| / (a_ex |y|), is the
1-bit one with ō = y / |y| (unbiased for the same reason: the error is the query's
component orthogonal to o, whose inner product with ō has mean zero over the rotation),
and its bound has the same form with a_ex: f_err_ex = |r| sqrt(1 - a_ex^2) / (a_ex
sqrt(D - 1)). a_ex is about 0.8 (B = 0), 0.94 (1), 0.98 (2), 0.995 (3), 0.9987 (4)
(the paper's table), so the error shrinks by about 2x per extra bit. Codes (n, (1 + B) D /
8 + 24): the 1-bit code above, then B bit planes of D / 8 bytes (plane p holds bit p of
every e_t, the sign bits' layout), then 2 float32 [f_ex, f_err_ex].

Rotation: ``rounds`` rounds of random sign flips, a Walsh-Hadamard transform of a
power-of-two window and, when D is not a power of two, a butterfly between the halves
(see cpp/include/vecpress/rabitq.hpp): O(D log D) per vector, seeded, stored.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from .._validate import MAX_DIM, as_codes, as_f32_matrix, check_choice, check_int, check_threads
from ..errors import ParameterError, ParameterTypeError
from .base import Quantizer, check_table_metric, read_only

N_FACTORS = 4
ROUNDS = 4


def _check_epsilon(epsilon: Any) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise ParameterTypeError(f"epsilon must be a number, got {type(epsilon).__name__}")
    if not (0.0 < float(epsilon) <= 20.0):
        raise ParameterError(f"epsilon must be in (0, 20], got {epsilon}")
    return float(epsilon)


def random_signs(seed: int, rounds: int, D: int) -> np.ndarray:
    """The rotation's sign flips (rounds, D) float32 of +-1, a function of the seed alone."""
    rng = np.random.default_rng([seed, 0x5AB17])
    return np.where(rng.integers(0, 2, (rounds, D)) == 1, 1.0, -1.0).astype(np.float32)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64 arrays (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def bound_confidence(epsilon: float) -> float:
    """The stated confidence of the error bound for eps0 = epsilon: P(|N(0, 1)| <= eps0)."""
    return math.erf(epsilon / math.sqrt(2.0))


class RaBitQuantizer(Quantizer):
    """RaBitQ codes: 1 sign bit per (padded) dimension + 4 float32 factors per vector, and
    with ex_bits > 0 an extended code of ex_bits more bits per dimension + 2 factors.

    Parameters
    ----------
    dim : int
    metric : "ip" or "l2": what the codes' factors estimate (cosine: "ip" on unit vectors)
    ex_bits : extra bits per dimension, 0..8 (extended RaBitQ: 1 + ex_bits per dimension)
    qb : bits of the quantized query of the popcount scan, 1..8 (default 4); the extended
        estimate (:meth:`estimate` with ex_bits > 0) uses the float query
    seed : the rotation's and the query rounding's seed
    epsilon : eps0 of the error bound (default 1.9)
    threads : int, optional; 0/None = all cores
    """

    def __init__(self, dim: int, metric: str = "l2", ex_bits: int = 0, qb: int = 4,
                 seed: int = 0, epsilon: float = 1.9, threads: int | None = None) -> None:
        self.dim = check_int(dim, "dim", 1, MAX_DIM)
        self.metric = check_choice(metric, "metric", ("ip", "l2"))
        self.ex_bits = check_int(ex_bits, "ex_bits", 0, 8)
        self.qb = check_int(qb, "qb", 1, 8)
        self.seed = check_int(seed, "seed", 0, 2**63 - 1)
        self.epsilon = _check_epsilon(epsilon)
        self.threads = check_threads(threads)
        self.D = int(_core.rabitq_padded_dim(self.dim))
        self.signs = random_signs(self.seed, ROUNDS, self.D)
        self.centroid: np.ndarray | None = None  # (dim,) float32 once trained

    # ---- protocol -----------------------------------------------------------------
    @property
    def code_size(self) -> int:
        return int(_core.rabitq_ex_row_bytes(self.D, self.ex_bits))

    @property
    def ksub(self) -> int:
        return 256  # compute_tables: an entry per byte value

    @property
    def is_trained(self) -> bool:
        return self.centroid is not None

    @property
    def codebooks(self) -> np.ndarray:
        """The centroid (dim,) float32 the codes are centred on (read-only)."""
        self._check_trained()
        return read_only(self.centroid)

    def train(self, x: Any) -> RaBitQuantizer:
        """Centre on the mean of the sample x (n, dim)."""
        x = self._training_vectors(x, 1)
        self.centroid = np.ascontiguousarray(x.mean(axis=0, dtype=np.float64), dtype=np.float32)
        return self

    def set_centroid(self, centroid: Any) -> RaBitQuantizer:
        """Centre on a given centroid (dim,) (e.g. an inverted list's)."""
        c = as_f32_matrix(centroid, "centroid", self.dim)
        if c.shape[0] != 1:
            raise ParameterError(f"centroid must have shape ({self.dim},), got {c.shape}")
        self.centroid = np.ascontiguousarray(c[0])
        return self

    def rotate(self, x: np.ndarray, inverse: bool = False) -> np.ndarray:
        """The rotation P applied to rows x (n, <= D) float32 (zero-padded) -> (n, D) float32."""
        return _core.rabitq_rotate(np.ascontiguousarray(x, dtype=np.float32), self.D, self.signs,
                                   inverse, self.threads)

    def encode(self, x: Any) -> np.ndarray:
        """Codes (n, code_size) uint8 of vectors (n, dim) (layout in the module docstring)."""
        self._check_trained()
        return self._encode(self._vectors(x))

    def _encode(self, x: np.ndarray) -> np.ndarray:
        if not self.ex_bits:
            return self._encode_chunk(x)
        out = np.empty((x.shape[0], self.code_size), np.uint8)
        for s in range(0, x.shape[0], 8192):  # bounded temporaries (float64 (rows, D) arrays)
            out[s:s + 8192] = self._encode_chunk(x[s:s + 8192])
        return out

    def _encode_chunk(self, x: np.ndarray) -> np.ndarray:
        D, B = self.D, self.ex_bits
        r = x - self.centroid
        rr = self.rotate(r)
        bits = np.packbits(rr > 0, axis=1, bitorder="little")
        norm = np.sqrt(np.einsum("ij,ij->i", r, r, dtype=np.float64))
        l1 = np.abs(rr).sum(axis=1, dtype=np.float64)
        zero = norm == 0
        a = np.where(zero, 1.0, l1 / (math.sqrt(D) * np.where(zero, 1.0, norm)))
        a = np.clip(a, 1e-6, 1.0)
        popc = np.unpackbits(bits, axis=1).sum(axis=1, dtype=np.int64)
        f = np.empty((x.shape[0], N_FACTORS), np.float64)
        if self.metric == "l2":
            f[:, 0] = norm * norm
        else:
            f[:, 0] = r.astype(np.float64) @ self.centroid.astype(np.float64)
        f[:, 1] = 2.0 * norm / (a * math.sqrt(D))
        f[:, 2] = f[:, 1] * (popc - D / 2)
        f[:, 3] = norm * np.sqrt(np.maximum(1.0 - a * a, 0.0)) / (a * math.sqrt(D - 1))
        out = np.empty((x.shape[0], self.code_size), np.uint8)
        out[:, : D // 8] = bits
        out[:, D // 8: D // 8 + 4 * N_FACTORS] = f.astype(np.float32).view(np.uint8)
        if B:
            e = _core.rabitq_ex_quantize(rr, B, self.threads)
            y = ((rr > 0).astype(np.int32) << B | e).astype(np.float64) - ((1 << B) - 0.5)
            ry = np.einsum("ij,ij->i", rr.astype(np.float64), y)
            yn = np.sqrt(np.einsum("ij,ij->i", y, y))
            ok = (norm > 0) & (ry > 0)
            a_ex = np.where(ok, ry / np.where(ok, norm * yn, 1.0), 1.0)
            a_ex = np.clip(a_ex, 1e-6, 1.0)
            fx = np.empty((x.shape[0], 2), np.float64)
            fx[:, 0] = np.where(ok, norm * norm / np.where(ok, ry, 1.0), 0.0)
            fx[:, 1] = norm * np.sqrt(np.maximum(1.0 - a_ex * a_ex, 0.0)) / (a_ex * math.sqrt(D - 1))
            o = self._ex_offset
            for p in range(B):
                out[:, o + p * (D // 8): o + (p + 1) * (D // 8)] = np.packbits(
                    (e >> p) & 1, axis=1, bitorder="little")
            out[:, o + B * (D // 8):] = fx.astype(np.float32).view(np.uint8)
        return out

    @property
    def _ex_offset(self) -> int:
        """Byte offset of the extended code's bit planes in a row."""
        return int(_core.rabitq_code_bytes(self.D))

    def ex_factors(self, codes: Any) -> np.ndarray:
        """The extended factors (n, 2) float32 [f_ex, f_err_ex] of codes (ex_bits > 0)."""
        if not self.ex_bits:
            raise ParameterError("ex_factors: this quantizer has no extended code (ex_bits=0)")
        c = as_codes(codes, self.code_size)
        return np.ascontiguousarray(c[:, self.code_size - 8:]).view(np.float32)

    def total_codes(self, codes: Any) -> np.ndarray:
        """Each dimension's total code u (n, D) uint16 in [0, 2^(1 + ex_bits)): the sign bit
        above the ex_bits extended bits (the quantized value is u - (2^ex_bits - 1/2))."""
        c = as_codes(codes, self.code_size)
        D, B = self.D, self.ex_bits
        u = np.unpackbits(c[:, : D // 8], axis=1, bitorder="little").astype(np.uint16) << B
        o = self._ex_offset
        for p in range(B):
            u |= np.unpackbits(c[:, o + p * (D // 8): o + (p + 1) * (D // 8)], axis=1,
                               bitorder="little").astype(np.uint16) << p
        return u

    def factors(self, codes: Any) -> np.ndarray:
        """The 1-bit code's factors (n, 4) float32 [f_add, f_mul, f_pop, f_err] of codes."""
        c = as_codes(codes, self.code_size)
        return np.ascontiguousarray(c[:, self.D // 8: self.D // 8 + 4 * N_FACTORS]).view(np.float32)

    def decode(self, codes: Any) -> np.ndarray:
        """Reconstructions (n, dim) float32: c + P^T (|r| / a) ō (1-bit) or c + P^T f_ex y
        (extended), the vector whose inner products with any (centred) query are the
        estimator's."""
        self._check_trained()
        c = as_codes(codes, self.code_size)
        D = self.D
        if self.ex_bits:
            y = self.total_codes(c).astype(np.float32) - np.float32((1 << self.ex_bits) - 0.5)
            r = self.rotate(y * self.ex_factors(c)[:, :1], inverse=True)[:, : self.dim]
            return (r + self.centroid).astype(np.float32)
        sign = 2.0 * np.unpackbits(c[:, : D // 8], axis=1, bitorder="little").astype(np.float32) - 1
        scale = self.factors(c)[:, 1] / 2.0  # f_mul / 2 = |r| / (a sqrt(D))
        r = self.rotate(sign * scale[:, None], inverse=True)[:, : self.dim]
        return (r + self.centroid).astype(np.float32)

    def compute_tables(self, q: Any, metric: str = "l2") -> np.ndarray:
        """Tables (nq, code_size, 256) float32 of the float query's <2b - 1, q'> per code byte
        (zero on the factor bytes). RaBitQ scores are not sums of per-byte tables: a code's
        score is f_add + q_add + s (f_mul / 2) times that sum (see :meth:`estimate`).
        With ex_bits > 0 the tables sum to <u, q'> instead (sign bytes weighted 2^ex_bits,
        plane p's bytes 2^p; zero on the factor bytes): the score is f_add + q_add + s f_ex
        (<u, q'> - (2^ex_bits - 1/2) sum(q'))."""
        check_table_metric(metric, (self.metric,))
        self._check_trained()
        qr = self.rotate(self._queries(q) - self.centroid)
        out = np.zeros((qr.shape[0], self.code_size, 256), np.float32)
        if not self.ex_bits:
            out[:, : self.D // 8] = _core.binary_asym_tables(qr, self.D, self.threads)
            return out
        D, B, o = self.D, self.ex_bits, self._ex_offset
        byte_bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1,
                                  bitorder="little").astype(np.float32)  # (256, 8)
        t = qr.reshape(qr.shape[0], D // 8, 8) @ byte_bits.T  # (nq, D / 8, 256): sum of set q'
        out[:, : D // 8] = t * float(1 << B)
        for p in range(B):
            out[:, o + p * (D // 8): o + (p + 1) * (D // 8)] = t * float(1 << p)
        return out

    # ---- the estimator ---------------------------------------------------------------
    def query_codes(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kernels' view of queries q (nq, dim) float32 (validated by the caller):
        bit planes (nq, qb * D / 64) uint64 of the randomly rounded qb-bit query and the
        per-query constants (nq, 8) float32 [q_add, s, Delta, -Delta sum(u) / 2, v_l,
        eps0 |q'|, eps0 Delta sqrt(D) / 4, 0] (see cpp/include/vecpress/rabitq.hpp)."""
        D, qb = self.D, self.qb
        qp, qc = self.float_query(q)
        lo = qp.min(axis=1)
        span = qp.max(axis=1) - lo
        levels = (1 << qb) - 1
        delta = np.where(span > 0, span / levels, 1.0).astype(np.float32)
        u = np.floor((qp - lo[:, None]) / delta[:, None] + self._dither(q))
        u = np.clip(u, 0, levels).astype(np.uint8)
        planes = np.empty((qp.shape[0], qb, D // 8), np.uint8)
        for p in range(qb):
            planes[:, p] = np.packbits((u >> p) & 1, axis=1, bitorder="little")
        qc = qc.astype(np.float64)
        qc[:, 2] = delta
        qc[:, 3] = -delta * u.sum(axis=1, dtype=np.float64) / 2.0
        qc[:, 4] = lo
        # rounding error of <ō, q'>: sum_t ō_t xi_t, var(xi_t) <= Delta^2 / 4, so its std is at
        # most Delta / 2, times |r| / a = f_mul sqrt(D) / 2 for the estimate
        qc[:, 6] = self.epsilon * delta * math.sqrt(D) / 4.0
        return (np.ascontiguousarray(planes.reshape(qp.shape[0], -1)).view(np.uint64),
                qc.astype(np.float32))

    def float_query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The float query's view for the fast-scan kernels (qb = 0: no rounding) of queries
        q (nq, dim) float32 (validated by the caller): the rotated centred queries q' (nq, D)
        float32 and constants (nq, 8) float32 [q_add, s, 0, 0, 0, eps0 |q'|, 0, 0] (the
        layout of :meth:`query_codes`; the estimate is f_add + q_add + s (f_mul / 2)
        <2b - 1, q'>)."""
        qr = q - self.centroid
        qp = self.rotate(qr)
        qc = np.zeros((qp.shape[0], 8), np.float64)
        if self.metric == "l2":
            qc[:, 0] = np.einsum("ij,ij->i", qr, qr, dtype=np.float64)
            qc[:, 1] = -2.0
        else:
            qc[:, 0] = q.astype(np.float64) @ self.centroid.astype(np.float64)
            qc[:, 1] = 1.0
        qc[:, 5] = self.epsilon * np.sqrt(np.einsum("ij,ij->i", qp, qp, dtype=np.float64))
        return qp, qc.astype(np.float32)

    def pack_fastscan(self, codes: Any) -> np.ndarray:
        """The fast-scan layout (ceil(n / 32), block bytes) uint8 of codes (n, code_size): the
        sign bits as D / 4 four-bit sub-codes in 32-vector blocks, each followed by its
        vectors' f_add and f_mul (see cpp/include/vecpress/rabitq.hpp)."""
        return _core.rabitq_fastscan_pack(as_codes(codes, self.code_size), self.ex_bits)

    def _dither(self, q: np.ndarray) -> np.ndarray:
        """Uniform [0, 1) offsets (nq, D) float32 of the randomized rounding: a table fixed by
        the seed, shifted modulo 1 by an offset hashed from the query's own float bits
        (Cranley-Patterson rotation), so each offset is uniform and a query is rounded the same
        way in any batch (results do not depend on batching)."""
        if getattr(self, "_dither_table", None) is None:
            rng = np.random.default_rng([self.seed, 0xD17])
            self._dither_table = rng.random(self.D, dtype=np.float32)
        bits = q.view(np.uint32).astype(np.uint64)
        mult = _splitmix(np.arange(q.shape[1], dtype=np.uint64)) | np.uint64(1)
        key = _splitmix((bits * mult).sum(axis=1, dtype=np.uint64))  # wraps mod 2^64: a hash
        shift = (key >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
        d = self._dither_table[None, :] + shift[:, None]
        return d - (d >= 1.0)

    def estimate(self, q: Any, codes: Any) -> tuple[np.ndarray, np.ndarray]:
        """Estimated scores (nq, n) float32 (inner products for "ip", squared distances for
        "l2") of queries q (nq, dim) against codes (n, code_size), and their error bounds
        (nq, n) float32 (the true score lies within +-bound with about
        :func:`bound_confidence` (epsilon) probability or more)."""
        self._check_trained()
        if self.ex_bits:  # the extended estimate is the float query's
            qp, qc = self.float_query(self._queries(q))
            return _core.rabitq_ex_scores(qp, qc, as_codes(codes, self.code_size), self.ex_bits,
                                          self.threads)
        planes, qc = self.query_codes(self._queries(q))
        return _core.rabitq_scores(planes, self.qb, qc, as_codes(codes, self.code_size),
                                   self.threads)
