"""The quantizer protocol: what every codec offers, alone or inside an index.

A quantizer maps float vectors (n, dim) to uint8 codes (n, code_size) and
scores codes against queries with look-up tables, without decoding:

- ``train(x)``: learn the codebooks from sample vectors (n, dim) float32.
- ``encode(x)``: codes (n, code_size) uint8, one sub-code per byte.
- ``decode(codes)``: reconstructions (n, dim) float32.
- ``compute_tables(q, metric)``: tables (nq, code_size, ksub) float32 such that
  the score of a code is the sum over j of ``tables[i, j, codes[j]]``.
- ``code_size`` (bytes per code), ``ksub`` (entries per sub-code's table, the
  codebook size), ``codebooks`` (the learned model, read-only), ``is_trained``.

Indexes (and the inverted file) hold a quantizer and call only these, so a new
codec plugs in without touching the others.
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .._validate import MAX_NORM, as_f32_matrix, check_choice, check_magnitude, user_stacklevel
from ..errors import (
    DTypeError,
    NonFiniteError,
    NotTrainedError,
    ParameterError,
    ShapeError,
    SmallTrainingSetWarning,
)


class Quantizer(ABC):
    """Base class of the codecs (see the module docstring for the protocol)."""

    dim: int

    @property
    @abstractmethod
    def code_size(self) -> int:
        """Bytes per code returned by :meth:`encode` (one sub-code per byte)."""

    @property
    @abstractmethod
    def ksub(self) -> int:
        """Codebook size: table entries per sub-code."""

    @property
    @abstractmethod
    def is_trained(self) -> bool: ...

    @property
    @abstractmethod
    def codebooks(self) -> np.ndarray:
        """The learned codebooks (read-only view)."""

    @abstractmethod
    def train(self, x: Any) -> Quantizer:
        """Learn the codebooks from sample vectors (n, dim); returns self."""

    @abstractmethod
    def encode(self, x: Any) -> np.ndarray:
        """Codes (n, code_size) uint8 of vectors (n, dim)."""

    @abstractmethod
    def decode(self, codes: Any) -> np.ndarray:
        """Reconstructions (n, dim) float32 of codes (n, code_size) uint8."""

    @abstractmethod
    def compute_tables(self, q: Any, metric: str = "ip") -> np.ndarray:
        """Tables (nq, code_size, ksub) float32 scoring codes against queries (nq, dim)."""

    # ---- shared checks ------------------------------------------------------
    def _check_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError(f"the {type(self).__name__} is not trained: call "
                                  ".train(sample_vectors) first (or load trained codebooks)")

    def _training_vectors(self, x: Any, min_rows: int) -> np.ndarray:
        """Training data (n, dim) float32 with n >= min_rows; warns once when far fewer
        rows than k-means wants (about 39 per centroid, as faiss warns)."""
        x = check_magnitude(as_f32_matrix(x, "training vectors", self.dim), "training vectors")
        if x.shape[0] < min_rows:
            raise ParameterError(f"training needs at least {min_rows} vectors (one per codeword), "
                                 f"got {x.shape[0]}; pass more vectors or lower nbits")
        return x

    def _vectors(self, x: Any) -> np.ndarray:
        return check_magnitude(as_f32_matrix(x, "vectors", self.dim))

    def _queries(self, q: Any) -> np.ndarray:
        return check_magnitude(as_f32_matrix(q, "queries", self.dim), "queries")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dim={self.dim}, code_size={self.code_size}, "
                f"ksub={self.ksub}, trained={self.is_trained})")


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of a (callers may look at a model's arrays, not change them)."""
    v = a.view()
    v.flags.writeable = False
    return v


class CodebookQuantizer(Quantizer):
    """A quantizer whose whole model is one codebook array, ``_codebooks`` (None until
    trained): PQ and RQ."""

    _codebooks: np.ndarray | None = None

    @property
    def is_trained(self) -> bool:
        return self._codebooks is not None

    @property
    def codebooks(self) -> np.ndarray:
        """The codebooks (read-only view); the layout is the subclass's."""
        self._check_trained()
        return read_only(self._codebooks)


def check_table_metric(metric: Any, allowed: tuple = ("ip", "l2")) -> str:
    """The metric of compute_tables: "ip" (scores, larger is better) or "l2"."""
    return check_choice(metric, "metric", allowed)


def checked_codebooks(codebooks: Any, want: tuple) -> np.ndarray:
    """Codebooks of exactly shape ``want``, floating point and finite, as C-contiguous float32."""
    cb = np.asarray(codebooks)
    if cb.dtype.kind != "f":
        raise DTypeError(f"codebooks must be floating point, got dtype {cb.dtype}")
    if cb.shape != want:
        raise ShapeError(f"codebooks must have shape {want}, got {cb.shape}")
    if not np.isfinite(cb).all():
        raise NonFiniteError("codebooks contain NaN or infinity")
    return np.ascontiguousarray(cb, dtype=np.float32)


def check_decoded_norms(codebooks: np.ndarray, additive: bool) -> np.ndarray:
    """Codebooks (..., M, ksub, d) whose decoded vectors have norm <= MAX_NORM (their scores
    then fit float32): the bound is sqrt(sum_m max_k |c_mk|^2) for disjoint sub-spaces
    (PQ) and sum_m max_k |c_mk| for stages that add up (RQ); ParameterError otherwise."""
    norms = np.sqrt(np.einsum("...d,...d->...", codebooks, codebooks, dtype=np.float64))
    worst = norms.max(axis=-1)  # (..., M)
    bound = worst.sum(axis=-1) if additive else np.sqrt((worst ** 2).sum(axis=-1))
    if not (bound <= MAX_NORM).all():
        raise ParameterError(f"codebooks decode to vectors of norm up to {float(bound.max()):.3g}; "
                             f"scores past norm {MAX_NORM:.3g} overflow float32: rescale the data")
    return codebooks


def warn_small_training(n: int, ksub: int, what: str) -> None:
    """Warn when k-means gets fewer than 39 points per centroid (faiss's threshold):
    the codebooks then fit the sample, not the data."""
    need = 39 * ksub
    if n < need:
        warnings.warn(f"{what}: {n} training vectors for {ksub} centroids per codebook; k-means "
                      f"wants at least {need} (39 per centroid) for codebooks that generalise",
                      SmallTrainingSetWarning, stacklevel=user_stacklevel())
