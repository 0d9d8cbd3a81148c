"""Input checks at the API boundary, shared by every index and quantizer.

Conversions are explicit policy: float64 and float16 vectors are converted to
float32 (the kernels' type), non-contiguous arrays are copied; anything else
that is not floating point is rejected. Every check raises a
:class:`vecpress.VecpressError` subclass whose message says what to do.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import (
    DimensionError,
    DTypeError,
    DuplicateIdError,
    EmptyInputError,
    NonFiniteError,
    ParameterError,
    ParameterTypeError,
    ShapeError,
)

_CONVERTIBLE = (np.float16, np.float64)
METRICS = ("ip", "l2", "cosine")


def as_f32_matrix(x: Any, name: str = "vectors", dim: int | None = None, *,
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


def check_int(v: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer parameter (bool is not one) in [lo, hi]; ParameterTypeError /
    ParameterError otherwise."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ParameterTypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        if hi is None:
            raise ParameterError(f"{name} must be >= {lo}, got {v}")
        raise ParameterError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def check_k(k: Any) -> int:
    """k must be a positive integer."""
    return check_int(k, "k", 1)


def check_positive_int(v: Any, name: str) -> int:
    return check_int(v, name, 1)


def check_count(v: Any, name: str) -> int:
    """A non-negative integer (a rerank depth, a candidate count)."""
    return check_int(v, name, 0)


def check_choice(v: Any, name: str, choices: tuple) -> Any:
    """One of ``choices`` (compared by equality), else ParameterError listing them."""
    if v not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}; got {v!r}")
    return v


def check_metric(metric: Any) -> str:
    if not isinstance(metric, str):
        raise ParameterTypeError(f"metric must be a string ('ip', 'l2' or 'cosine'), got {metric!r}")
    return check_choice(metric.lower(), "metric", METRICS)


def check_threads(threads: Any) -> int:
    """None or a non-negative integer (0 = all cores)."""
    if threads is None:
        return 0
    return check_int(threads, "threads (0 = all cores)", 0, 4096)


def as_ids(ids: Any, n: int | None = None, name: str = "ids") -> np.ndarray:
    """Return ids as a 1-D int64 array of non-negative, unique values."""
    ids = np.asarray(ids)
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if ids.ndim != 1:
        raise ShapeError(f"{name} must be 1-D, got shape {ids.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise DTypeError(f"{name} must be integers (int64), got dtype {ids.dtype}")
    if ids.dtype == np.uint64 and ids.size and ids.max() > np.iinfo(np.int64).max:
        raise ParameterError(f"{name} must fit in int64")
    ids = ids.astype(np.int64, copy=False)
    if n is not None and ids.shape[0] != n:
        raise ShapeError(f"got {ids.shape[0]} {name} for {n} vectors; pass one id per vector")
    if ids.size and ids.min() < 0:
        raise ParameterError(f"{name} must be >= 0 (-1 marks 'no result' in search output)")
    if ids.size != np.unique(ids).size:
        raise DuplicateIdError(f"{name} contain duplicates; each id must be unique")
    return np.ascontiguousarray(ids)


def as_codes(codes: Any, width: int, name: str = "codes", below: int = 256) -> np.ndarray:
    """Codes (n, width) uint8, each < ``below``; a 1-D array is one code."""
    c = np.asarray(codes)
    if c.dtype != np.uint8:  # what encode() returns; a wider type would be silently truncated
        raise DTypeError(f"{name} must have dtype uint8 (as encode() returns them), got "
                         f"{c.dtype}; check the range and convert with .astype(np.uint8)")
    if c.ndim == 1:
        c = c.reshape(1, -1)
    if c.ndim != 2 or c.shape[1] != width:
        raise ShapeError(f"{name} must have shape (n, {width}), got {c.shape}")
    if below < 256 and c.size and int(c.max()) >= below:
        raise ParameterError(f"{name} must be in [0, {below}), got {int(c.max())}")
    return np.ascontiguousarray(c)


def check_finite_array(a: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(a).all():
        raise NonFiniteError(f"{name} contain NaN or infinity")
    return a
