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
    FormatError,
    NonFiniteError,
    ParameterError,
    ParameterTypeError,
    ShapeError,
)

_CONVERTIBLE = (np.float16, np.float64)
METRICS = ("ip", "l2", "cosine")

# Vectors (and decoded codes) scored with "ip"/"l2" must have an L2 norm of at most MAX_NORM:
# then |<q, x>| <= 2**124 and ||q - x||^2 <= 2**126, and every partial sum of a kernel fits
# float32 (max ~2**128). Cosine vectors are normalised in float64 first and need no bound.
MAX_NORM = 2.0 ** 62
MAX_DIM = 1 << 20        # vector dimensions
MAX_COUNT = 2**31 - 1    # rerank depths and candidate counts (the kernels take C ints)


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


def check_magnitude(x: Any, name: str = "vectors") -> Any:
    """Rows of x (n, d) (NumPy or CuPy) must have L2 norm <= MAX_NORM, so that their inner
    products and squared distances fit float32; ParameterError otherwise. Cheap when the
    largest |value| already bounds every norm (the usual case)."""
    if x.size == 0 or max(float(x.max()), -float(x.min())) * x.shape[1] ** 0.5 <= MAX_NORM:
        return x  # (no temporary the size of x)
    norms = ((x.astype("float64") ** 2).sum(axis=1)) ** 0.5
    if float(norms.max()) > MAX_NORM:
        row = int((norms > MAX_NORM).argmax())
        raise ParameterError(
            f"{name} have L2 norm up to {float(norms.max()):.3g} (row {row}); past "
            f"{MAX_NORM:.3g} their inner products and squared distances overflow float32. "
            "Rescale them (e.g. divide by the largest norm) or use metric='cosine'")
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


def check_float(v: Any, name: str, lo: float, hi: float) -> float:
    """A finite real parameter (bool is not one) in [lo, hi]; ParameterTypeError /
    ParameterError otherwise."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ParameterTypeError(f"{name} must be a number, got {type(v).__name__} {v!r}")
    v = float(v)
    if not (lo <= v <= hi):  # also refuses NaN
        raise ParameterError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def check_k(k: Any) -> int:
    """k must be a positive integer (the search caps it at the index size)."""
    return check_int(k, "k", 1)


def check_count(v: Any, name: str, lo: int = 0) -> int:
    """A rerank depth or candidate count: an integer in [lo, MAX_COUNT]."""
    return check_int(v, name, lo, MAX_COUNT)


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


# ---- loaded files: each check raises FormatError naming the array or field -------------------

_CHUNK = 1 << 22  # elements per chunk of a whole-array check (bounded temporaries)


def _row_chunks(a: np.ndarray):
    step = max(1, _CHUNK // max(1, int(np.prod(a.shape[1:]))))
    for s in range(0, a.shape[0], step):
        yield s, a[s:s + step]


def file_array(arrays: dict, name: str, dtype: Any, shape: tuple) -> np.ndarray:
    """arrays[name], which must have exactly ``dtype`` and ``shape`` (None: any length)."""
    if name not in arrays:
        raise FormatError(f"the file has no {name!r} array")
    a = arrays[name]
    if (a.dtype != np.dtype(dtype) or a.ndim != len(shape)
            or any(w is not None and s != w for s, w in zip(a.shape, shape))):
        want = "(" + ", ".join("n" if w is None else str(w) for w in shape) + ")"
        raise FormatError(f"array {name!r} must be {np.dtype(dtype).name} {want}, "
                          f"got {a.dtype} {a.shape}")
    return a


def file_finite(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` when every value is finite, else FormatError naming the array."""
    rows = a.reshape(len(a), -1) if a.ndim and a.size else a.reshape(a.size)[:, None]
    for s, part in _row_chunks(rows):
        if not np.isfinite(part).all():
            raise FormatError(f"array {name!r} holds NaN or infinity (near row {s})")
    return a


def file_vectors(x: np.ndarray, name: str, unit: bool) -> np.ndarray:
    """Stored float vectors (n, d): finite, and unit norm (``unit``, cosine) or of norm at
    most MAX_NORM (so that their scores fit float32)."""
    for s, part in _row_chunks(x):
        norms = np.sqrt(np.einsum("ij,ij->i", part, part, dtype=np.float64))
        ok = np.abs(norms - 1.0) <= 1e-3 if unit else norms <= MAX_NORM  # NaN fails both
        if not ok.all():
            row = s + int(np.flatnonzero(~ok)[0])
            if not np.isfinite(x[row]).all():
                raise FormatError(f"array {name!r} holds NaN or infinity (row {row})")
            want = "unit vectors (metric 'cosine')" if unit else f"vectors of norm <= {MAX_NORM:.3g}"
            raise FormatError(f"array {name!r} must hold {want}; row {row} has norm "
                              f"{norms[row - s]:.6g}")
    return x


def file_rotation(arrays: dict, dim: int, name: str = "rotation") -> np.ndarray:
    """A learned rotation (dim, dim) float32: finite and orthogonal (R^T R = I within 1e-3),
    so that it preserves every score."""
    from . import _core

    r = file_finite(file_array(arrays, name, np.float32, (dim, dim)), name)
    rt = np.ascontiguousarray(r.T)
    gram = _core.pairwise_scores(rt, rt, dim, 0)  # (dim, dim): column dot products
    err = float(np.abs(gram - np.eye(dim, dtype=gram.dtype)).max())
    if not err <= 1e-3:
        raise FormatError(f"array {name!r} is not an orthogonal matrix (|R^T R - I| = {err:.3g})")
    return np.ascontiguousarray(r)


def file_code_bits(codes: np.ndarray, masks: np.ndarray, name: str = "codes") -> np.ndarray:
    """Codes (n, c) uint8 whose column j only uses the bits of masks[j] (e.g. (1 << nbits) - 1
    for an nbits code, 0x0F for a padding nibble): codes the model can decode."""
    if codes.size:
        used = np.zeros(codes.shape[1], np.uint8)
        for _, part in _row_chunks(codes):
            used |= np.bitwise_or.reduce(part, axis=0)
        bad = np.flatnonzero(used & ~masks)
        if bad.size:
            j = int(bad[0])
            raise FormatError(f"array {name!r} column {j} holds values outside the model's "
                              f"codes (allowed bits {int(masks[j]):#04x}, seen {int(used[j]):#04x})")
    return codes


def file_ids(arrays: dict, next_id: Any) -> tuple[np.ndarray, int]:
    """The ids (n,) int64 (non-negative, unique) and the next auto id, which must be greater
    than every id and at most 2**63 (the int64 ids then run out: add() says so)."""
    ids = file_array(arrays, "ids", np.int64, (None,))
    try:
        next_id = check_int(next_id, "next_id", 0, 2**63)
    except ParameterError as e:
        raise FormatError(f"params.{e}") from None
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0:
            raise FormatError(f"array 'ids' holds a negative id ({lo})")
        if not (np.diff(ids) > 0).all() and np.unique(ids).size != ids.size:
            raise FormatError("array 'ids' holds duplicate ids")
        if next_id <= hi:
            raise FormatError(f"params.next_id ({next_id}) must be greater than every id "
                              f"(largest: {hi}); auto ids would repeat")
    return ids, next_id


def user_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel, for the function calling this, that names the first
    frame outside vecpress: the user's line, however deep the library's calls go."""
    import os
    import sys

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
