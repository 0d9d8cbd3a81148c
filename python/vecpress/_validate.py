"""Input checks at the API boundary. Conversions are explicit policy:
float64 and float16 vectors are converted to float32 (the kernels' type);
anything else that is not floating point is rejected.
"""
from __future__ import annotations

import numbers

import numpy as np

from .errors import (DimensionError, DTypeError, DuplicateIdError, EmptyInputError,
                     NonFiniteError, ShapeError)

_CONVERTIBLE = (np.float16, np.float64)


def as_f32_matrix(x, name: str = "vectors", dim: int | None = None, *,
                  allow_empty: bool = False, check_finite: bool = True) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 array of shape (n, d).

    A 1-D array is taken as a single vector. float16/float64 are converted;
    integer, bool, complex and object arrays raise :class:`DTypeError`.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise ShapeError(f"{name} could not be read as an array: {e}") from None
    if x.dtype != np.float32:
        if x.dtype.type in _CONVERTIBLE:
            x = x.astype(np.float32)
        else:
            raise DTypeError(
                f"{name} must be floating point (float32, or float16/float64 which are converted); "
                f"got dtype {x.dtype}. Convert with .astype(np.float32).")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise ShapeError(f"{name} must be a 2-D array of shape (n, d), got shape {x.shape}")
    if x.shape[0] == 0 and not allow_empty:
        raise EmptyInputError(f"{name} is empty (shape {x.shape}); pass at least one vector")
    if dim is not None and x.shape[1] != dim:
        raise DimensionError(
            f"{name} have dimension {x.shape[1]}, but the index has dimension {dim}")
    if x.shape[1] == 0:
        raise ShapeError(f"{name} have zero dimensions")
    x = np.ascontiguousarray(x)
    if check_finite and x.size and not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise NonFiniteError(
            f"{name} contain NaN or infinity in {bad.size} row(s) (first: row {bad[0]}); "
            "clean or drop those rows before indexing or searching")
    return x


def check_k(k) -> int:
    """k must be a positive integer."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


def check_positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def as_ids(ids, n: int | None = None, name: str = "ids") -> np.ndarray:
    """Return ids as a 1-D int64 array of non-negative, unique values."""
    ids = np.asarray(ids)
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if ids.ndim != 1:
        raise ShapeError(f"{name} must be 1-D, got shape {ids.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise DTypeError(f"{name} must be integers (int64), got dtype {ids.dtype}")
    ids = ids.astype(np.int64, copy=False)
    if n is not None and ids.shape[0] != n:
        raise ShapeError(f"got {ids.shape[0]} {name} for {n} vectors; pass one id per vector")
    if ids.size and ids.min() < 0:
        raise ValueError(f"{name} must be >= 0 (-1 marks 'no result' in search output)")
    if ids.size != np.unique(ids).size:
        raise DuplicateIdError(f"{name} contain duplicates; each id must be unique")
    return np.ascontiguousarray(ids)


def check_metric(metric: str) -> str:
    m = str(metric).lower()
    if m not in ("ip", "l2", "cosine"):
        raise ValueError(f"metric must be 'ip', 'l2' or 'cosine', got {metric!r}")
    return m


def check_threads(threads) -> int:
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 0:
        raise ValueError(f"threads must be a non-negative integer (0 = all cores), got {threads!r}")
    return int(threads)
