"""Learned orthogonal rotations. A rotation preserves inner products and L2
distances, so full-dimension scores are unchanged, but it can move most of the
vectors' energy into the leading dimensions: then a prefix of a rotated
vector is a good low-dimensional proxy (Matryoshka-style truncation for
encoders never trained with a Matryoshka loss).
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._validate import as_f32_matrix
from .errors import NotTrainedError


def rotate(x: np.ndarray, matrix_t: np.ndarray) -> np.ndarray:
    """x (n, d) float32 @ matrix -> (n, d_out) float32, matrix given transposed
    as matrix_t (d_out, d) float32 C-contiguous.

    Runs on vecpress's GEMM kernel, not numpy's: OpenBLAS threads keep spinning
    after a call and slowed the search kernel that follows by ~15%.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    return _core.pairwise_scores(matrix_t, x, x.shape[1], 0)


class MatrixRotation:
    """Base of the learned rotations: ``matrix`` (d, d) float32 applied as x @ matrix."""

    matrix: np.ndarray | None = None

    @property
    def is_trained(self) -> bool:
        return self.matrix is not None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Rotate x (n, d) float32 -> (n, d) float32."""
        if self.matrix is None:
            raise NotTrainedError("the rotation is not fitted: call fit(training_vectors) first")
        if getattr(self, "_mt_of", None) is not self.matrix:  # cache the transpose
            self._mt, self._mt_of = np.ascontiguousarray(self.matrix.T), self.matrix
        return rotate(x, self._mt)


class PCARotation(MatrixRotation):
    """Rotation onto the principal axes of the (uncentred) second moment.

    Uncentred on purpose: centring would change inner products, and the goal
    is energy compaction of the vectors as they are scored.

    Attributes
    ----------
    matrix : float32 (d, d); rotate with ``x @ matrix``; columns sorted by energy.
    energy : float64 (d,), the second moment along each column (descending).
    """

    def __init__(self, matrix: np.ndarray | None = None, energy: np.ndarray | None = None):
        self.matrix = None if matrix is None else np.ascontiguousarray(matrix, dtype=np.float32)
        self.energy = energy

    def fit(self, x, max_samples: int = 200_000, seed: int = 0) -> "PCARotation":
        """Fit on training vectors x (n, d) float32 (a seeded subsample of max_samples rows)."""
        x = as_f32_matrix(x, "training vectors")
        if x.shape[0] > max_samples:
            rng = np.random.default_rng(seed)
            x = x[np.sort(rng.choice(x.shape[0], max_samples, replace=False))]
        cov = (x.T.astype(np.float64) @ x.astype(np.float64)) / x.shape[0]
        w, v = np.linalg.eigh(cov)
        order = np.argsort(w)[::-1]
        self.energy = w[order]
        self.matrix = np.ascontiguousarray(v[:, order], dtype=np.float32)
        return self

    def explained_energy(self) -> np.ndarray:
        """Cumulative fraction of energy in the first 1..d rotated dimensions."""
        c = np.cumsum(self.energy)
        return c / c[-1]
