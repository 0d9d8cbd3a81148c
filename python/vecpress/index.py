"""The index base class: ids, validation, removal and persistence.

Subclasses hold their vectors or codes and implement a few hooks; the base
class owns the user-facing contract shared by every index:

- ``add(vectors, ids=None)`` appends float vectors (n, dim); ids are int64,
  generated sequentially when omitted.
- ``search(queries, k)`` returns ``(scores, ids)``, both (nq, k): similarities
  (larger is better) for "ip" and "cosine", squared distances (smaller is
  better) for "l2". When fewer than k vectors exist, rows are padded with id -1
  and score -inf ("ip"/"cosine") or +inf ("l2").
- ``remove(ids)`` deletes vectors; removed ids never come back.
- ``save(path)`` / :func:`vecpress.load`.

Subclass hooks (all arrays are validated float32/int64 by the base class):

- ``_add_rows(x)``: append n rows (x is (n, dim), already normalised for cosine
  when ``_normalize_cosine`` is True).
- ``_search_rows(q, k) -> (scores, rows)``: top-k over stored rows; rows are
  internal row numbers (int64, -1 padded).
- ``_keep_rows(keep)``: keep the rows where the bool mask is True, in order.
- ``_state() -> (params, arrays)`` and ``_from_state(params, arrays)``: what
  save/load store besides ids (params must be JSON-able).
- ``_stored_rows()``: number of stored rows (checked against ids on load).
- ``_check_ready()``: raise NotTrainedError if training is required first.

``search`` passes extra keyword options (e.g. ``candidates=``) to
``_search_rows``.
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._validate import as_f32_matrix, as_ids, check_k, check_metric, check_threads
from .errors import DuplicateIdError, NotTrainedError, UnknownIdError
from .io import read_arrays, write_arrays

METRIC_CODES = {"ip": 0, "l2": 1, "cosine": 2}
_REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: make an Index subclass loadable by :func:`vecpress.load`."""
    _REGISTRY[cls.__name__] = cls
    return cls


class GrowableArray:
    """Row-appendable array with amortised O(1) appends (capacity doubling)."""

    def __init__(self, row_shape: tuple, dtype):
        self._buf = np.empty((0, *row_shape), dtype=dtype)
        self._n = 0

    @classmethod
    def from_array(cls, a: np.ndarray) -> "GrowableArray":
        g = cls(a.shape[1:], a.dtype)
        g._buf, g._n = np.ascontiguousarray(a), a.shape[0]
        return g

    def __len__(self) -> int:
        return self._n

    @property
    def data(self) -> np.ndarray:
        """C-contiguous view of the stored rows."""
        return self._buf[: self._n]

    def append(self, rows: np.ndarray) -> None:
        need = self._n + rows.shape[0]
        if need > self._buf.shape[0]:
            cap = max(need, 2 * self._buf.shape[0], 1024)
            buf = np.empty((cap, *self._buf.shape[1:]), dtype=self._buf.dtype)
            buf[: self._n] = self._buf[: self._n]
            self._buf = buf
        self._buf[self._n:need] = rows
        self._n = need

    def keep(self, mask: np.ndarray) -> None:
        kept = self.data[mask]
        self._buf, self._n = np.ascontiguousarray(kept), kept.shape[0]


class Index:
    """Base class of all vecpress indexes (see the module docstring)."""

    _normalize_cosine = True  # cosine: store and query unit vectors, score with IP

    def __init__(self, dim: int, metric: str = "ip", threads: int | None = None):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.metric = check_metric(metric)
        self.threads = check_threads(threads)
        self._ids = GrowableArray((), np.int64)
        self._next_id = 0
        self._gpu = None  # device copies of the payload while on_gpu (see to_gpu)
        self._on_gpu = False

    # ---- public API -------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """The stored ids, int64 (n,), in storage order (read-only copy)."""
        return self._ids.data.copy()

    @property
    def is_trained(self) -> bool:
        return True

    def add(self, vectors, ids=None) -> np.ndarray:
        """Add vectors.

        Parameters
        ----------
        vectors : array (n, dim), float32 (float16/float64 are converted)
        ids : array (n,), int64, optional
            Unique non-negative ids; default: consecutive integers after the
            largest id ever added.

        Returns
        -------
        ids : int64 array (n,)
        """
        self._check_ready()
        x = as_f32_matrix(vectors, "vectors", self.dim)
        n = x.shape[0]
        if ids is None:
            new_ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        else:
            new_ids = as_ids(ids, n)
            if len(self) and np.isin(new_ids, self._ids.data).any():
                dup = new_ids[np.isin(new_ids, self._ids.data)]
                raise DuplicateIdError(
                    f"{dup.size} id(s) are already in the index (e.g. {dup[:5].tolist()}); "
                    "remove them first or choose new ids")
        x = self._prepare(x)
        self._add_rows(x)
        self._ids.append(new_ids)
        self._gpu = None  # re-uploaded by the next GPU search
        self._next_id = max(self._next_id, int(new_ids.max()) + 1)
        return new_ids

    def search(self, queries, k: int, **options):
        """Find the k best stored vectors for each query.

        Parameters
        ----------
        queries : array (nq, dim) or (dim,), float32 (float16/float64 converted)
        k : int >= 1; when k > len(index) the result is padded with id -1.
        **options : per-call search settings of the index type (see its docstring).

        Returns
        -------
        scores : float32 array (nq, k)
            Similarities for "ip"/"cosine" (larger is better), squared L2
            distances for "l2" (smaller is better); padding is -inf / +inf.
        ids : int64 array (nq, k), best first.
        """
        self._check_ready()
        k = check_k(k)
        if self._on_gpu:
            return self._search_gpu(queries, k, **options)
        q = self._prepare(as_f32_matrix(queries, "queries", self.dim))
        nq = q.shape[0]
        if len(self) == 0:
            return self._pad(np.empty((nq, 0), np.float32), np.empty((nq, 0), np.int64), k)
        kk = min(k, len(self))
        scores, rows = self._search_rows(q, kk, **options)
        ids = np.where(rows >= 0, self._ids.data[np.maximum(rows, 0)], -1)
        return self._pad(scores.astype(np.float32, copy=False), ids, k)

    def remove(self, ids) -> int:
        """Remove vectors by id. Unknown ids raise :class:`UnknownIdError`.

        Returns the number of vectors removed.
        """
        ids = as_ids(ids)
        if ids.size == 0:
            return 0
        present = np.isin(ids, self._ids.data)
        if not present.all():
            missing = ids[~present]
            raise UnknownIdError(f"{missing.size} id(s) are not in the index "
                                 f"(e.g. {missing[:5].tolist()}); nothing was removed")
        keep = ~np.isin(self._ids.data, ids)
        self._keep_rows(keep)
        self._ids.keep(keep)
        self._gpu = None
        return int(ids.size)

    def save(self, path) -> None:
        """Write the index to one file (atomic: temp file + rename)."""
        params, arrays = self._state()
        params = {"dim": self.dim, "metric": self.metric, "next_id": self._next_id, **params}
        write_arrays(path, type(self).__name__, params, {"ids": self._ids.data, **arrays})

    # ---- GPU --------------------------------------------------------------
    @property
    def on_gpu(self) -> bool:
        """True after :meth:`to_gpu`: searches run on the CUDA device."""
        return self._on_gpu

    def to_gpu(self) -> "Index":
        """Move the index payload to the CUDA device; later searches run there.

        Queries may be NumPy (results come back as NumPy) or CuPy arrays
        (results stay on the device as CuPy arrays). add/remove keep working
        on the host copy; the device copy is refreshed by the next search.
        Raises :class:`GPUUnavailableError` when vecpress was built without
        CUDA or no device is present, and NotImplementedError for index types
        without a GPU search path.
        """
        from . import gpu

        gpu.require()
        if type(self)._gpu_search_rows is Index._gpu_search_rows:
            raise NotImplementedError(f"{type(self).__name__} has no GPU search path yet")
        self._on_gpu = True
        self._gpu = None
        return self

    def to_cpu(self) -> "Index":
        """Search on the CPU again and free the device copy."""
        self._on_gpu, self._gpu = False, None
        return self

    def _search_gpu(self, queries, k, **options):
        from . import gpu

        if self._gpu is None:
            self._gpu = {"ids": gpu.to_device(self._ids.data),
                         **{name: gpu.to_device(a) for name, a in self._gpu_payload().items()}}
        on_device = hasattr(queries, "__cuda_array_interface__")
        if on_device:
            cp = gpu._cupy()
            if cp is None:
                raise TypeError("queries on the device need CuPy (pip install 'vecpress[cuda]'); "
                                "or pass NumPy queries")
            q = cp.ascontiguousarray(cp.asarray(queries), dtype=cp.float32)
            if q.ndim == 1:
                q = q.reshape(1, -1)
            if q.ndim != 2 or q.shape[1] != self.dim:
                from .errors import DimensionError
                raise DimensionError(f"queries must have shape (nq, {self.dim}), got {q.shape}")
            q = self._prepare_device(q, cp)
            xp = cp
        else:
            q = self._prepare(as_f32_matrix(queries, "queries", self.dim))
            xp = np
        nq = q.shape[0]
        kk = min(k, len(self))
        if kk == 0:
            return self._pad(np.empty((nq, 0), np.float32), np.empty((nq, 0), np.int64), k)
        scores, rows = self._gpu_search_rows(q, kk, **options)
        dev_ids = self._gpu["ids"] if on_device else self._ids.data
        ids = xp.where(rows >= 0, xp.asarray(dev_ids)[xp.maximum(rows, 0)], -1)
        worst = np.inf if self.metric == "l2" else -np.inf
        scores = xp.where(rows >= 0, scores, worst).astype(xp.float32)
        if kk < k:
            pad_s = xp.full((nq, k - kk), worst, dtype=xp.float32)
            pad_i = xp.full((nq, k - kk), -1, dtype=xp.int64)
            scores, ids = xp.concatenate([scores, pad_s], 1), xp.concatenate([ids, pad_i], 1)
        return scores, ids

    def _prepare_device(self, q, cp):
        """Device (CuPy) version of :meth:`_prepare`: cosine normalisation + transform."""
        if self.metric == "cosine" and self._normalize_cosine:
            q = q / cp.maximum(cp.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        rot = getattr(self, "_rot", None)
        if rot is not None:
            if "rotation" not in self._gpu:
                self._gpu["rotation"] = cp.asarray(rot.matrix)
            q = q @ self._gpu["rotation"]
        return cp.ascontiguousarray(q, dtype=cp.float32)

    def _gpu_payload(self) -> dict:
        """Hook: host arrays to copy to the device (name -> array)."""
        return {}

    def _gpu_search_rows(self, q, k, **options):  # pragma: no cover - hook
        """Hook: like _search_rows on the device copies in self._gpu; q is NumPy or CuPy."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, metric={self.metric!r}, n={len(self)})"

    # ---- helpers for subclasses -------------------------------------------
    @property
    def _metric_code(self) -> int:
        # cosine on unit vectors is IP; subclasses that keep raw vectors override.
        if self.metric == "cosine" and self._normalize_cosine:
            return METRIC_CODES["ip"]
        return METRIC_CODES[self.metric]

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        if self.metric == "cosine" and self._normalize_cosine:
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            if (norms == 0).any():
                raise ValueError("cosine similarity is undefined for zero vectors; "
                                 f"row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is all zeros")
            x = x / norms
        return self._transform(x)

    def _transform(self, x: np.ndarray) -> np.ndarray:
        """Hook: a learned rotation etc. applied to stored vectors and queries."""
        return x

    def _pad(self, scores, ids, k):
        nq, have = ids.shape
        if have == k:
            return scores, ids
        fill = np.inf if self.metric == "l2" else -np.inf
        s = np.full((nq, k), fill, dtype=np.float32)
        i = np.full((nq, k), -1, dtype=np.int64)
        s[:, :have], i[:, :have] = scores, ids
        return s, i

    def _fix_padding(self, scores, rows):
        """Kernels pad with the metric's worst float; present it as +-inf."""
        scores = scores.copy()
        scores[rows < 0] = np.inf if self.metric == "l2" else -np.inf
        return scores, rows

    def _check_ready(self) -> None:
        if not self.is_trained:
            raise NotTrainedError(f"{type(self).__name__} must be trained first: call "
                                  "index.train(sample_vectors)")

    # ---- hooks ------------------------------------------------------------
    def _add_rows(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _search_rows(self, q, k, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def _keep_rows(self, keep):  # pragma: no cover - abstract
        raise NotImplementedError

    def _stored_rows(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _from_state(cls, params, arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _restore_base(cls, obj: "Index", params: dict, arrays: dict) -> "Index":
        obj._ids = GrowableArray.from_array(np.asarray(arrays["ids"], dtype=np.int64))
        obj._next_id = int(params["next_id"])
        return obj


class CodedIndex(Index):
    """An index of per-vector uint8 codes (binary, PQ, RQ) that, when built
    with rerank > 0, also keeps the float vectors to rescore candidates exactly.

    Subclasses call ``_init_codes(code_cols, keep_vectors)`` in __init__,
    ``_append_codes(codes, x)`` in _add_rows, ``_rescore(q, rows, k)`` after
    their code scan, and ``_load_codes(arrays, what)`` in _from_state.
    """

    def _init_codes(self, code_cols: int, keep_vectors: bool) -> None:
        self._codes = GrowableArray((code_cols,), np.uint8)
        self._x = GrowableArray((self.dim,), np.float32) if keep_vectors else None

    def _append_codes(self, codes: np.ndarray, x: np.ndarray) -> None:
        self._codes.append(codes)
        if self._x is not None:
            self._x.append(x)

    def _check_rerank(self, rerank: int) -> None:
        if rerank and self._x is None:
            raise ValueError("this index keeps no float vectors (built with rerank=0); "
                             "it cannot rescore candidates")

    def _rescore(self, q, rows, k):
        """Exact scores of candidate rows (nq, c) with the stored vectors -> top k."""
        s, rows = _core.rerank_exact(self._x.data, q, self.dim, self._metric_code, rows, k,
                                     self.threads)
        return self._fix_padding(s, rows)

    def _keep_rows(self, keep):
        self._codes.keep(keep)
        if self._x is not None:
            self._x.keep(keep)

    def _stored_rows(self):
        return len(self._codes)

    def _code_arrays(self) -> dict:
        arrays = {"codes": self._codes.data}
        if self._x is not None:
            arrays["vectors"] = self._x.data
        return arrays

    def _load_codes(self, arrays, what: str) -> "CodedIndex":
        codes = np.asarray(arrays["codes"])
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != self._codes.data.shape[1]:
            raise ValueError(f"codes array does not match {what}")
        self._codes = GrowableArray.from_array(codes)
        if self._x is not None:
            x = np.asarray(arrays["vectors"])
            if x.dtype != np.float32 or x.shape != (codes.shape[0], self.dim):
                raise ValueError("vectors array does not match codes")
            self._x = GrowableArray.from_array(x)
        return self


def load(path, mmap: bool = False) -> Index:
    """Load an index saved with ``Index.save``.

    Raises :class:`vecpress.FormatError` for truncated, corrupted or foreign
    files and :class:`vecpress.VersionError` for other format versions.
    mmap=True maps large arrays read-only instead of reading them.
    """
    from .errors import FormatError

    kind, params, arrays = read_arrays(path, mmap=mmap)
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise FormatError(f"{path} holds an index of unknown class {kind!r}; "
                          "it may need a newer vecpress")
    if "ids" not in arrays:
        raise FormatError(f"{path} is missing its ids array")
    try:
        obj = cls._from_state(params, arrays)
        obj = Index._restore_base(obj, params, arrays)
    except (KeyError, ValueError, TypeError) as e:
        raise FormatError(f"{path} has inconsistent contents: {e}") from None
    if len(obj._ids) != obj._stored_rows():
        raise FormatError(f"{path} is inconsistent: {len(obj._ids)} ids for {obj._stored_rows()} rows")
    return obj
