"""Learned orthogonal rotations applied before scanning or quantizing.

A rotation preserves inner products and L2 distances, so full-dimension scores
are unchanged, while it can move most of the vectors' energy into the leading
dimensions (a prefix then ranks well: Matryoshka-style truncation for encoders
never trained with a Matryoshka loss) or balance it across PQ sub-spaces.

- :class:`PCARotation`: principal axes of the uncentred second moment, sorted
  by energy (Matryoshka and binary prefixes).
- :class:`PQRotation` "pca": the same axes with the eigenvalues allocated to the
  M sub-spaces so each gets a similar share (Ge et al., OPQ, non-parametric
  init); "opq": alternates PQ training on the rotated sample with the
  orthogonal Procrustes update R = U V^T, U S V^T = svd(X^T Y), where Y is the
  PQ reconstruction of X R (Ge et al. 2013; faiss OPQMatrix).

Both fit with vecpress's own kernels (a float32 GEMM accumulated in float64 and
a single-threaded symmetric eigensolver), not numpy's BLAS: OpenBLAS threads
oversubscribed the cores under load (a 768 x 768 ``eigh`` took 0.35-13 s
against 0.17 s single-threaded) and kept spinning into the next search.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import (
    MAX_COUNT,
    MAX_DIM,
    as_f32_matrix,
    check_choice,
    check_int,
    check_magnitude,
    check_threads,
    file_array,
    file_finite,
    file_rotation,
)
from ..backends.cpu import CPU
from ..errors import NotTrainedError

_COV_CHUNK = 8192  # rows per float32 GEMM block; blocks are summed in float64


def second_moment(x: np.ndarray) -> np.ndarray:
    """Uncentred second moment X^T X / n (d, d) float64 of x (n, d) float32."""
    d = x.shape[1]
    acc = np.zeros((d, d), np.float64)
    for s in range(0, x.shape[0], _COV_CHUNK):
        xt = np.ascontiguousarray(x[s:s + _COV_CHUNK].T)  # (d, rows)
        acc += _core.pairwise_scores(xt, xt, xt.shape[1], 0)
    return acc / x.shape[0]


def principal_axes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (d,) float64, descending, and eigenvectors as columns (d, d) float64
    of the second moment of x (n, d)."""
    w, v = _core.sym_eigen(second_moment(x))
    return w, v


def _training_rows(x: Any) -> np.ndarray:
    """Training vectors (n, d) float32, finite and of norms whose products fit float32."""
    return check_magnitude(as_f32_matrix(x, "training vectors"), "training vectors")


def sample_rows(x: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """At most max_rows rows of x, a seeded sample kept in order."""
    if x.shape[0] <= max_rows:
        return x
    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(x.shape[0], max_rows, replace=False))]


class MatrixRotation:
    """Base of the learned rotations: ``matrix`` (d, d) float32 applied as x @ matrix."""

    matrix: np.ndarray | None = None

    @property
    def is_trained(self) -> bool:
        return self.matrix is not None

    @property
    def matrix_t(self) -> np.ndarray:
        """The transpose (d, d) float32 C-contiguous, as the GEMM kernel takes it (cached)."""
        if self.matrix is None:
            raise NotTrainedError("the rotation is not fitted: call fit(training_vectors) first")
        if getattr(self, "_mt_of", None) is not self.matrix:
            self._mt, self._mt_of = np.ascontiguousarray(self.matrix.T), self.matrix
        return self._mt

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Rotate x (n, d) float32 -> (n, d) float32."""
        return CPU.rotate(x, self.matrix_t)


class PCARotation(MatrixRotation):
    """Rotation onto the principal axes of the (uncentred) second moment.

    Uncentred on purpose: centring would change inner products, and the goal
    is energy compaction of the vectors as they are scored.

    Attributes
    ----------
    matrix : float32 (d, d); rotate with ``x @ matrix``; columns sorted by energy.
    energy : float64 (d,), the second moment along each column (descending).
    """

    def __init__(self, matrix: np.ndarray | None = None, energy: np.ndarray | None = None) -> None:
        self.matrix = None if matrix is None else np.ascontiguousarray(matrix, dtype=np.float32)
        self.energy = energy

    @classmethod
    def from_file(cls, arrays: dict, dim: int) -> PCARotation:
        """The rotation a saved index holds ("rotation" and "energy" arrays), checked:
        FormatError if either is missing, misshapen, not finite or not orthogonal."""
        energy = file_finite(file_array(arrays, "energy", np.float64, (dim,)), "energy")
        return cls(file_rotation(arrays, dim), np.array(energy))

    def fit(self, x: Any, max_samples: int = 200_000, seed: int = 0) -> PCARotation:
        """Fit on training vectors x (n, d) float32 (a seeded subsample of max_samples rows)."""
        x = sample_rows(_training_rows(x), max_samples, seed)
        self.energy, v = principal_axes(x)
        self.matrix = np.ascontiguousarray(v, dtype=np.float32)
        return self

    def explained_energy(self) -> np.ndarray:
        """Cumulative fraction of energy in the first 1..d rotated dimensions."""
        c = np.cumsum(self.energy)
        return c / c[-1]


def balanced_pca(x: np.ndarray, M: int) -> np.ndarray:
    """Rotation (d, d) float64: PCA axes, columns allocated to M sub-spaces of d // M dims.

    Eigenvectors are taken in decreasing eigenvalue order and each goes to the
    non-full sub-space with the smallest product of its eigenvalues so far
    (sum of logs), which balances the sub-spaces' variance.
    """
    d = x.shape[1]
    dsub = d // M
    w, v = principal_axes(x)
    w = np.maximum(w, 1e-12)
    # Scale so every eigenvalue is >= 1 (log >= 0): an empty sub-space then has
    # the smallest product, so the M largest eigenvalues go to distinct sub-spaces.
    logw = np.log(w / w[-1])
    buckets: list[list[int]] = [[] for _ in range(M)]
    logprod = np.zeros(M)
    for j in range(d):
        open_ = [m for m in range(M) if len(buckets[m]) < dsub]
        m = min(open_, key=lambda b: logprod[b])
        buckets[m].append(j)
        logprod[m] += logw[j]
    return v[:, [j for b in buckets for j in b]]


class PQRotation(MatrixRotation):
    """A learned orthogonal (d, d) rotation applied as ``x @ matrix`` before PQ.

    Parameters
    ----------
    kind : "pca" or "opq"
    M, nbits : the product quantizer the rotation is fitted for
    opq_iters : alternating iterations for "opq" (default 4)
    opq_pq_iters : k-means iterations of each inner PQ fit (default 5)
    max_samples : training rows used (seeded subsample; default 20,000)
    """

    def __init__(self, kind: str, M: int, nbits: int = 8, opq_iters: int = 4,
                 opq_pq_iters: int = 5, max_samples: int = 20_000, seed: int = 1234,
                 threads: int = 0, matrix: np.ndarray | None = None) -> None:
        self.kind = check_choice(kind, "rotation", ("pca", "opq"))
        self.M, self.nbits = check_int(M, "M", 1, MAX_DIM), check_int(nbits, "nbits", 4, 8)
        self.opq_iters = check_int(opq_iters, "opq_iters", 0, 1000)
        self.opq_pq_iters = check_int(opq_pq_iters, "opq_pq_iters", 1, 1000)
        self.max_samples = check_int(max_samples, "max_samples", 1, MAX_COUNT)
        self.seed, self.threads = check_int(seed, "seed", 0, 2**63 - 1 - 1000), check_threads(threads)
        self.matrix = None if matrix is None else np.ascontiguousarray(matrix, dtype=np.float32)

    def fit(self, x: Any) -> PQRotation:
        """Fit on training vectors x (n, d) float32."""
        x = sample_rows(_training_rows(x), self.max_samples, self.seed)
        r = balanced_pca(x, self.M)
        if self.kind == "opq":
            x64 = x.astype(np.float64)
            for it in range(self.opq_iters):
                xr = np.ascontiguousarray(x64 @ r, dtype=np.float32)
                c = _core.pq_train(xr, self.M, self.nbits, self.opq_pq_iters, self.seed + it, 256,
                                   False, self.threads)
                y = _core.pq_decode(_core.pq_encode(xr, c, self.threads), c, self.threads)
                u, _, vt = np.linalg.svd(x64.T @ y.astype(np.float64))
                r = u @ vt
        self.matrix = np.ascontiguousarray(r, dtype=np.float32)
        return self
