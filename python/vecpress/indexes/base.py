"""The index base class: ids, validation, the search pipeline, removal, persistence.

Every index shares one contract:

- ``add(vectors, ids=None)`` appends float vectors (n, dim); ids are int64,
  generated sequentially when omitted.
- ``search(queries, k, *, rerank=None, threads=None, filter=None)`` returns ``(scores, ids)``,
  both (nq, k): similarities (larger is better) for "ip" and "cosine", squared
  distances (smaller is better) for "l2". When fewer than k vectors exist,
  rows are padded with id -1 and score -inf (larger-is-better scores) or +inf.
  Per-call parameters are validated once, have the same names on every index
  type and never change the index.
- ``remove(ids)`` deletes vectors; removed ids never come back.
- ``save(path)`` / :func:`vecpress.load`.
- ``filter=`` (allowed ids, or a :class:`vecpress.IdSelector`) restricts a search to the
  ids that pass; it returns k results whenever at least k ids pass.

Threads: every index is safe to share. Any number of threads may search (and save) at
once, and run in parallel (the kernels release the GIL), while other threads add, remove
or train; writes run one at a time (an add encodes beside searches and holds the exclusive
lock only to append). Each search sees the index as it was before or after
each whole add/remove, never part of one: an id is returned only by searches that start
after its ``add`` returned, and never by a search that starts after its ``remove``
returned. Auto ids never collide, whatever the number of adding threads.

The search pipeline runs strictly downward, once per call::

    search -> _search_params (validate) -> _prepare (cosine, rotation) -> _scan (subclass:
    codes or vectors -> backend kernel) -> [store.rerank -> backend kernel] -> _finish
    (ids, padding)

Subclass hooks (arrays arrive validated, float32, normalised and rotated):

- ``_encode_rows(x) -> encoded`` (from the trained model only; runs beside searches) and
  ``_append_rows(encoded)`` (under the exclusive lock); the base appends the vector store
  and ids (all an index without codes needs: the defaults do nothing).
- ``_scan(q, n_candidates, params) -> (scores, rows)``: the n_candidates best stored
  rows (int64, -1 padded) with the kernel's scores.
- ``_keep_rows(keep)``: keep the rows where the bool mask is True, in order.
- ``_payload()``: the host arrays ``_scan`` reads (copied once to a GPU backend).
- ``_state() -> (params, arrays)`` and ``_from_state(params, arrays)``: what save/load
  store besides ids and the vector store (params must be JSON-able).
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import _core
from .._arrays import GrowableArray
from .._rwlock import RWLock
from .._validate import (
    MAX_DIM,
    as_f32_matrix,
    as_ids,
    check_count,
    check_int,
    check_k,
    check_magnitude,
    check_metric,
    check_threads,
    file_ids,
)
from ..backends import CPU, Backend
from ..errors import DuplicateIdError, FormatError, NotTrainedError, ParameterError, UnknownIdError
from ..filters import IdSelector, RowFilter, as_selector, filter_ids
from ..io import read_arrays, write_arrays
from ..stores import VectorStore

_REGISTRY: dict[str, type] = {}
# search() pads results past len(index) up to k; beyond this many entries (nq * k, 768 MB of
# scores and ids) a k larger than the index is refused instead of allocated.
MAX_PADDED_RESULT = 1 << 26


def register(cls: type) -> type:
    """Class decorator: make an Index subclass loadable by :func:`vecpress.load`."""
    _REGISTRY[cls.__name__] = cls
    return cls


@dataclass(frozen=True)
class SearchParams:
    """Per-call search parameters, validated once by ``Index._search_params``.

    rerank : candidates rescored exactly with the float vectors (0 = none); for
        :class:`vecpress.MatryoshkaIndex`, one count per stage but the last.
    threads : kernel threads (0 = the index's setting, then all cores).
    dims : Matryoshka stages (prefix lengths), None elsewhere.
    nprobe : inverted lists scanned per query (:class:`vecpress.IVFIndex`), None elsewhere.
    filter : the call's filter compiled against the index (set inside the search), or None.
        Scans pass ``filter.bits`` to their kernels as ``allow``.
    """

    rerank: int | tuple[int, ...] = 0
    threads: int = 0
    dims: tuple[int, ...] | None = None
    nprobe: int | None = None
    filter: RowFilter | None = None

    @property
    def allow(self) -> np.ndarray | None:
        """The kernels' ``allow`` bitmap (uint64), or None without a filter."""
        return None if self.filter is None else self.filter.bits


def _exclusive(method, changes_model: bool):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock.write():
            result = method(self, *args, **kwargs)
            self._version += 1
            self._model_version += changes_model
            return result
    return locked


def writes(method):
    """Run an Index method that changes the index under its exclusive lock."""
    return _exclusive(method, False)


def trains(method):
    """As :func:`writes`, for a method that changes the trained model (an add encoding
    beside it encodes again)."""
    return _exclusive(method, True)


class Index:
    """Base class of all vecpress indexes (see the module docstring)."""

    _normalize_cosine = True  # cosine: store and query unit vectors, score with IP
    _gpu_kernels: tuple[str, ...] = ()  # backend kernels the search needs; () = CPU only
    # A filtered search of 32 or more queries scores the passing rows exactly (gathered from
    # the vector store) when at most this fraction of the rows pass; above it, the scan skips
    # the rows that do not pass. Smaller batches pay the gather for fewer queries, so the
    # limit shrinks with the batch, down to 1% for one query. Measured on wordnet-minilm
    # (benchmarks/results/filter-wordnet, 1,000 queries): with 10% passing, the filtered scans
    # of PQ/binary/RQ codes ran 900-3,700 QPS and the exact plan (Flat) 6,600-9,200; with 50%,
    # the exact plan fell to 560-760, below the scans: the break-even is near 25%. For IVF256
    # (nprobe 128) at 10%, the exact plan ran 1.5-4x faster than its filtered scan, whose
    # recall on a clustered filter was 0.93-0.945.
    exact_filter_fraction = 0.2

    def __init__(self, dim: int, metric: str = "ip", threads: int | None = None) -> None:
        self.dim = check_int(dim, "dim", 1, MAX_DIM)
        self.metric = check_metric(metric)
        self.threads = check_threads(threads)
        self._ids = GrowableArray((), np.int64)
        self._next_id = 0
        self._store: VectorStore | None = None  # float vectors: scanned (flat) or for rerank
        self._rotation = None  # a fitted MatrixRotation applied to vectors and queries
        self._backend: Backend = CPU
        self._device: dict | None = None  # payload copies on a resident (GPU) backend
        self._lock = RWLock()  # shared: searches and saves; exclusive: add/remove/train
        self._version = 0  # bumped by every write: compiled filters and caches key on it
        self._model_version = 0  # bumped by train(): adds encoded before it encode again
        self._id_order: tuple | None = None  # (version, sorted ids, their rows)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_lock"]  # locks do not pickle (e.g. to send an index to a worker)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = RWLock()

    # ---- public API -------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """The stored ids, int64 (n,), in storage order (a copy)."""
        with self._lock.read():
            return self._ids.data.copy()

    @property
    def is_trained(self) -> bool:
        return True

    def add(self, vectors: Any, ids: Any = None) -> np.ndarray:
        """Add vectors (atomically: a search sees all of them or none; thread-safe).

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
        given = None if ids is None else as_ids(ids, n)
        while True:
            # Encoding reads only the trained model, so it runs beside searches (shared
            # lock); the exclusive part only appends. A train() in between (possible only
            # while the index is empty) makes it encode again.
            with self._lock.read():
                self._check_ready()
                prepared = check_magnitude(self._prepare(x, CPU))
                if self._store is not None:
                    self._store.check(prepared)
                encoded = self._encode_rows(prepared)
                model = self._model_version
            with self._lock.write():
                if model != self._model_version:
                    continue
                new_ids = self._new_ids(given, n)
                # the subclass appends first: a failure leaves the index as it was
                self._append_rows(encoded)
                if self._store is not None:
                    self._store.append(prepared)
                self._ids.append(new_ids)
                self._device = None  # re-uploaded by the next GPU search
                self._next_id = max(self._next_id, int(new_ids.max()) + 1)
                self._version += 1
                return new_ids

    def _new_ids(self, given: np.ndarray | None, n: int) -> np.ndarray:
        """The ids of n rows being added: the given ones (checked against the index) or the
        next n auto ids. Call with the exclusive lock held."""
        if given is None:
            if self._next_id > np.iinfo(np.int64).max - n:
                raise ParameterError("auto ids would pass 2**63 - 1; pass explicit ids")
            return np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        clash = np.isin(given, self._ids.data) if len(self) else None
        if clash is not None and clash.any():
            dup = given[clash]
            raise DuplicateIdError(
                f"{dup.size} id(s) are already in the index (e.g. {dup[:5].tolist()}); "
                "remove them first or choose new ids")
        return given

    def transform(self, vectors: Any) -> np.ndarray:
        """Vectors (n, dim) float32 as the index stores and scores them: unit norm for
        "cosine", then the learned rotation (if any). Needs a trained index."""
        self._check_ready()
        x = as_f32_matrix(vectors, "vectors", self.dim)
        with self._lock.read():
            return self._prepare(x, CPU)

    def search(self, queries: Any, k: int, *, rerank: int | None = None,
               threads: int | None = None, filter: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Find the k best stored vectors for each query (thread-safe; see the module
        docstring for what concurrent searches and writes see).

        Parameters
        ----------
        queries : array (nq, dim) or (dim,), float32 (float16/float64 converted)
        k : int >= 1; when k > len(index) the result is padded with id -1.
        rerank : candidates rescored exactly with the stored float vectors for this
            call (default: the index's setting; 0 = return the code scores).
        threads : kernel threads for this call (default: the index's setting).
        filter : int64 array of the ids that may be returned, or a
            :class:`vecpress.IdSelector` (allow and/or deny list, compiled once and
            reused). Rows that do not pass are skipped inside the scan; when at most
            ``exact_filter_fraction`` of the rows pass and the index keeps its float
            vectors, exactly the passing rows are scored instead. At least k results
            come back whenever k ids pass; ids not in the index are ignored.

        Returns
        -------
        scores : float32 array (nq, k)
            Similarities for "ip"/"cosine" (larger is better), squared L2
            distances for "l2" (smaller is better); padding is -inf / +inf.
        ids : int64 array (nq, k), best first.
        """
        return self._search(queries, k, self._search_params(rerank=rerank, threads=threads),
                            filter)

    def score(self, queries: Any, ids: Any) -> np.ndarray:
        """Exact scores of given stored vectors, from the float vectors the index keeps
        (FlatIndex, MatryoshkaIndex, or any index built with rerank > 0).

        Parameters
        ----------
        queries : array (nq, dim) float32
        ids : int64 array (nq, c): the ids to score for each query (-1 = none)

        Returns
        -------
        scores : float32 array (nq, c), aligned with ``ids``: similarities for "ip"/"cosine",
            squared L2 distances for "l2"; -1 entries get -inf / +inf.
        """
        if self._store is None:
            raise ParameterError(f"this {type(self).__name__} keeps no float vectors (built "
                                 "with rerank=0), so it cannot score ids exactly")
        q = as_f32_matrix(queries, "queries", self.dim)
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[0] != q.shape[0]:
            raise ParameterError(f"ids must have shape (nq, c) = ({q.shape[0]}, c), got "
                                 f"{ids.shape}")
        flat = filter_ids(ids, "ids")
        with self._lock.read():
            self._check_ready()
            q = check_magnitude(self._prepare(q, CPU), "queries")
            rows = np.full(flat.shape, -1, np.int64)
            rows[flat != -1] = self._rows_of(flat[flat != -1])
            rows = rows.reshape(ids.shape)
            c = rows.shape[1]
            if c == 0:
                return np.zeros(rows.shape, np.float32)
            s, r = self._store.rerank(CPU, q, rows, c, self._kernel_metric, self._threads(None))
        # the kernel returns the same rows best first: put each score back in its place
        worst = np.float32(-np.inf if self.metric != "l2" else np.inf)
        s = np.where(r >= 0, s, worst)
        src = np.argsort(r, axis=1, kind="stable")
        dst = np.argsort(rows, axis=1, kind="stable")
        out = np.empty_like(s)
        np.put_along_axis(out, dst, np.take_along_axis(s, src, 1), 1)
        return np.where(rows >= 0, out, worst).astype(np.float32)

    @writes
    def remove(self, ids: Any) -> int:
        """Remove vectors by id (atomically; thread-safe). Unknown ids raise
        :class:`UnknownIdError` and nothing is removed. Returns the number removed."""
        ids = np.unique(as_ids(ids))
        if ids.size == 0:
            return 0
        rows = self._rows_of(ids)  # raises UnknownIdError before anything changes
        keep = np.ones(len(self), bool)
        keep[rows] = False
        self._keep_rows(keep)
        if self._store is not None:
            self._store.keep(keep)
        self._ids.keep(keep)
        self._device = None
        return int(ids.size)

    def save(self, path: Any) -> None:
        """Write the index to one file (atomic: temp file + rename). Searches go on while
        it saves; writes wait, so the file holds one whole state of the index."""
        with self._lock.read():
            params, arrays = self._state()
            if self._store is not None:
                arrays = {**arrays, **self._store.arrays()}
            params = {"dim": self.dim, "metric": self.metric, "next_id": self._next_id, **params}
            write_arrays(path, type(self).__name__, params, {"ids": self._ids.data, **arrays})

    # ---- GPU --------------------------------------------------------------
    @property
    def on_gpu(self) -> bool:
        """True after :meth:`to_gpu`: searches run on the CUDA device."""
        return self._backend.name == "cuda"

    def to_gpu(self) -> Index:
        """Search on the CUDA device from now on (the payload is copied there once).

        Queries may be NumPy (results come back as NumPy) or CuPy arrays
        (results stay on the device as CuPy arrays). add/remove keep working
        on the host copy; the device copy is refreshed by the next search.
        Raises :class:`GPUUnavailableError` when vecpress was built without
        CUDA or no device is present, and NotImplementedError for index types
        without a GPU search path.
        """
        from .. import backends

        be = backends.get("cuda")
        if not self._gpu_kernels or not all(be.supports(k) for k in self._gpu_kernels):
            raise NotImplementedError(f"{type(self).__name__} has no GPU search path yet")
        with self._lock.write():
            self._backend, self._device = be, None
        return self

    def to_cpu(self) -> Index:
        """Search on the CPU again and free the device copy."""
        with self._lock.write():
            self._backend, self._device = CPU, None
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, metric={self.metric!r}, n={len(self)})"

    # ---- the search pipeline ------------------------------------------------
    def _search_params(self, rerank: Any = None, threads: Any = None, **_: Any) -> SearchParams:
        """Validate per-call parameters once (defaults from the index's settings)."""
        if rerank is not None:
            check_count(rerank, "rerank")
            if rerank:
                raise ParameterError(f"{type(self).__name__} scores exactly; rerank does not "
                                     "apply (leave it out)")
        return SearchParams(rerank=0, threads=self._threads(threads))

    def _threads(self, threads: Any) -> int:
        return self.threads if threads is None else check_threads(threads)

    def _search(self, queries: Any, k: Any, params: SearchParams, filter: Any = None):
        selector = as_selector(filter)
        with self._lock.read():
            return self._search_locked(queries, k, params, selector)

    def _search_locked(self, queries: Any, k: Any, params: SearchParams,
                       selector: IdSelector | None):
        self._check_ready()
        k = check_k(k)
        be = self._backend
        q = check_magnitude(self._prepare(be.queries(queries, self.dim), be), "queries")
        n = len(self)
        if selector is not None:
            if be.resident:
                raise ParameterError("filtered search runs on the CPU: call index.to_cpu() "
                                     "first, or search without filter")
            params = replace(params, filter=selector.compile(self))
            n = params.filter.count  # the rows a result may hold
        kk = min(k, n)  # what the kernels get; only the padding below depends on k itself
        if k > n and q.shape[0] * k > MAX_PADDED_RESULT:
            raise ParameterError(
                f"k={k} is larger than the index ({n} vectors) and the result would be padded "
                f"to {q.shape[0]} x {k} entries (at most {MAX_PADDED_RESULT} are padded): "
                f"pass k <= len(index)")
        if kk == 0:
            rows = np.full((q.shape[0], 0), -1, np.int64)
            return self._finish(be, np.empty(rows.shape, np.float32), rows, k, params)
        if params.filter is not None and self._filter_exactly(params, len(self), q.shape[0]):
            rows = params.filter.rows
            scores, sub = be.flat_search(self._store.vectors(rows), q, self.dim,
                                         self._kernel_metric, kk, params.threads)
            return self._finish(be, scores, np.where(sub >= 0, rows[np.maximum(sub, 0)], -1), k,
                                params)
        depth = self._rerank_depth(params)
        c = min(max(depth, kk), n) if depth else kk
        scores, rows = self._scan(q, c, params)
        if depth:
            scores, rows = self._store.rerank(be, q, rows, kk, self._kernel_metric, params.threads)
        return self._finish(be, scores, rows, k, params)

    def _finish(self, be: Backend, scores, rows, k: int, params: SearchParams):
        """Rows -> ids, the kernel's padding -> +-inf, and pad to k columns: once."""
        xp = be.array_module(rows)
        ids = self._arrays_on(be)["ids"]
        if xp is not np:
            ids = xp.asarray(ids)
        found = rows >= 0
        out_ids = xp.where(found, ids[xp.maximum(rows, 0)], -1)
        worst = -np.inf if self._larger_is_better(params) else np.inf
        out_scores = xp.where(found, scores, worst).astype(xp.float32)
        nq, have = rows.shape
        if have < k:
            out_scores = xp.concatenate([out_scores, xp.full((nq, k - have), worst, xp.float32)], 1)
            out_ids = xp.concatenate([out_ids, xp.full((nq, k - have), -1, xp.int64)], 1)
        return out_scores, out_ids.astype(xp.int64, copy=False)

    def _arrays_on(self, be: Backend) -> dict:
        """The scan's arrays and the ids as the backend reads them (cached on a GPU)."""
        if not be.resident:
            return {**self._payload(), "ids": self._ids.data}
        if self._device is None:
            host = {**self._payload(), "ids": self._ids.data}
            self._device = {name: be.upload(a) for name, a in host.items()}
        return self._device

    def _prepare(self, x, be: Backend):
        """Cosine normalisation and the learned rotation, for stored vectors and queries."""
        if self.metric == "cosine" and self._normalize_cosine:
            x = be.unit_rows(x)
        if self._rotation is not None:
            x = be.rotate(x, self._rotation.matrix_t)
        return x

    @property
    def _kernel_metric(self) -> int:
        # cosine on unit vectors is IP; subclasses that keep raw vectors override.
        if self.metric == "cosine" and self._normalize_cosine:
            return _core.METRICS["ip"]
        return _core.METRICS[self.metric]

    def _larger_is_better(self, params: SearchParams) -> bool:
        return self.metric != "l2"

    def _filter_exactly(self, params: SearchParams, n: int, nq: int) -> bool:
        """The filtered-search plan: score the passing rows exactly (True) or scan with the
        filter (False). Exact needs the float vectors and results already scored exactly
        (reranked); it wins when few rows pass (see ``exact_filter_fraction``)."""
        fraction = max(0.01, self.exact_filter_fraction * min(1.0, nq / 32))
        return (self._store is not None and self._scores_exact(params)
                and params.filter.count <= fraction * n)

    def _scores_exact(self, params: SearchParams) -> bool:
        """Whether this call's results carry exact full-dimension scores (reranked)."""
        return self._rerank_depth(params) > 0

    def _rows_of(self, ids: np.ndarray, missing: str = "raise") -> np.ndarray:
        """Rows (int64) of ids (int64 (m,)). Unknown ids raise UnknownIdError, or are
        dropped with missing="skip". Call with the lock held."""
        cache = self._id_order
        if cache is None or cache[0] != self._version:
            order = np.argsort(self._ids.data, kind="stable")
            cache = self._id_order = (self._version, self._ids.data[order], order)
        _, sorted_ids, order = cache
        if sorted_ids.size == 0:
            found = np.zeros(ids.shape, bool)
            pos = np.zeros(ids.shape, np.int64)
        else:
            pos = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
            found = sorted_ids[pos] == ids
        if not found.all():
            if missing == "skip":
                return order[pos[found]]
            absent = ids[~found]
            raise UnknownIdError(f"{absent.size} id(s) are not in the index "
                                 f"(e.g. {absent[:5].tolist()}); nothing was changed")
        return order[pos]

    def _rerank_depth(self, params: SearchParams) -> int:
        """Candidates the base reranks through the vector store (0 = none)."""
        return 0

    def _check_ready(self) -> None:
        if not self.is_trained:
            raise NotTrainedError(f"{type(self).__name__} must be trained first: call "
                                  "index.train(sample_vectors)")

    def _training_sample(self, vectors: Any) -> np.ndarray:
        """Training vectors (n, dim) float32, unit-normalised for cosine (not rotated)."""
        x = as_f32_matrix(vectors, "training vectors", self.dim)
        return CPU.unit_rows(x) if self.metric == "cosine" else x

    # ---- hooks ------------------------------------------------------------
    def _encode_rows(self, x: np.ndarray) -> Any:
        """What ``_append_rows`` appends for rows x (prepared float32), computed from the
        trained model only: add() calls it under the shared lock, beside searches."""
        return None

    def _append_rows(self, encoded: Any) -> None:
        """Append what ``_encode_rows`` returned (the vector store and ids are appended by
        the base). Runs under the exclusive lock."""

    def _scan(self, q, n_candidates: int, params: SearchParams):  # pragma: no cover
        raise NotImplementedError

    def _keep_rows(self, keep: np.ndarray) -> None:
        """Filter the subclass's rows (the store and ids are filtered by the base)."""

    def _payload(self) -> dict:
        return {}

    def _stored_rows(self) -> int:
        return len(self._store) if self._store is not None else len(self._ids)

    def _state(self) -> tuple[dict, dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _from_state(cls, params: dict, arrays: dict) -> Index:  # pragma: no cover
        raise NotImplementedError


def load(path: Any, mmap: bool = False) -> Index:
    """Load an index saved with ``Index.save``.

    Raises :class:`vecpress.FormatError` for truncated, corrupted or foreign
    files and :class:`vecpress.VersionError` for other format versions.
    mmap=True maps large arrays read-only instead of reading them.

    Nothing behind a valid checksum is trusted: every parameter is checked with the
    constructor's bounds, every array's dtype, shape and values against the model
    (finite floats, orthogonal rotations, codes the model decodes, unique non-negative
    ids below next_id), and a file holding vectors must hold the model they were
    encoded with. Each failure is a FormatError naming the field.
    """
    kind, params, arrays = read_arrays(path, mmap=mmap)
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise FormatError(f"{path} holds an index of unknown class {kind!r}; "
                          "it may need a newer vecpress")
    try:
        ids, next_id = file_ids(arrays, params.get("next_id"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. a numpy overflow: a bad file, not a warning
            obj = cls._from_state(params, arrays)
            if obj._store is not None:
                unit = obj.metric == "cosine" and obj._normalize_cosine
                obj._store = type(obj._store).from_arrays(obj.dim, arrays, unit=unit)
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None
    except KeyError as e:
        raise FormatError(f"{path} lacks the field {e} of a {kind}") from None
    except (ValueError, TypeError, Warning) as e:
        raise FormatError(f"{path} has an invalid field: {e}") from None
    rows = {len(ids), obj._stored_rows()} | ({len(obj._store)} if obj._store is not None else set())
    if len(rows) != 1:
        raise FormatError(f"{path} is inconsistent: {len(ids)} ids for {obj._stored_rows()} rows"
                          + (f" and {len(obj._store)} vectors" if obj._store is not None else ""))
    if len(ids) and not obj.is_trained:
        raise FormatError(f"{path} holds {len(ids)} vectors but not the trained model they were "
                          "encoded with (an array of the model is missing)")
    obj._ids, obj._next_id = GrowableArray.from_array(ids), next_id
    return obj
