"""Encoding a collection in parallel with Ray Data, from one trained IVFIndex.

The trained (empty) index is broadcast once with ``ray.put``; each Ray Data worker encodes
row ranges with the same code path as ``IVFIndex.add`` (cosine normalisation, coarse
assignment, residual codes, L2 term), so the codes do not depend on which worker, batch
or thread count made them.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import as_f32_matrix, as_ids, check_int, check_magnitude
from ..backends import CPU
from ..errors import DimensionError, ParameterError, ShapeError
from ..indexes.ivf import IVFIndex

DEFAULT_CHUNK = 65_536  # rows per encoding task (IVFIndex.add encodes in the same chunks)


def encode_rows(index: IVFIndex, vectors: Any) -> dict[str, np.ndarray]:
    """Encode rows exactly as ``index.add`` would, without adding them.

    Parameters
    ----------
    index : a trained IVFIndex (its model is read, the index is not changed)
    vectors : (m, dim) float32 (float16/float64 converted)

    Returns
    -------
    dict with "list" int32 (m,), "code" uint8 (m, code bytes) in the index's stored layout,
    "term" float32 (m,) (the L2 row term; zeros for "ip"/"cosine"), and "vector" float32
    (m, dim) (normalised for cosine: what the rerank store keeps) when the index keeps a
    rerank store.
    """
    index._check_ready()
    x = as_f32_matrix(vectors, "vectors", index.dim)
    x = check_magnitude(index._prepare(x, CPU))
    store = index._store
    if store is not None:
        store.check(x)
    codes, lists, _, terms = index._encode_chunk(x)  # add()'s encoder, no progress bar
    out = {"list": lists, "code": codes, "term": terms}
    if store is not None:
        out["vector"] = x
    return out


def append_encoded(index: IVFIndex, ids: np.ndarray, enc: dict[str, np.ndarray]) -> None:
    """Append rows made by :func:`encode_rows` to ``index`` (under its write lock), as
    ``index.add(vectors, ids)`` would have, without encoding them again. The caller
    guarantees the ids are new (the sharded build checks them once, globally).

    This is the exclusive half of ``Index.add`` (``_append_rows`` and the base's bookkeeping):
    the one place vecpress.distributed reaches into an index's storage; a public
    ``IVFIndex.add_encoded`` would replace it.
    """
    with index._lock.write():
        index._append_rows((enc["code"], enc["list"].astype(np.int32, copy=False),
                            np.zeros(0, np.int32),  # no soar: a sharded index refuses it
                            enc["term"].astype(np.float32, copy=False)))
        if index._store is not None:
            index._store.append(enc["vector"])
        index._ids.append(ids)
        index._device = None
        if ids.size:
            index._next_id = max(index._next_id, int(ids.max()) + 1)
        index._version += 1


# ---- sources --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    """One input: an array in the object store (ref) or a .npy file (path); n rows."""

    n: int
    ref: Any = None
    path: str | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        import ray

        if self.path is not None:
            return np.asarray(np.load(self.path, mmap_mode="r")[start:stop])
        return ray.get(self.ref)[start:stop]


def _npy_rows(path: str, dim: int) -> int:
    try:
        a = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise ParameterError(f"cannot read {path} as a .npy array: {e}") from None
    if a.ndim != 2:
        raise ShapeError(f"{path} holds an array of shape {a.shape}; vectors must be (n, dim)")
    if a.shape[1] != dim:
        raise DimensionError(f"{path} holds {a.shape[1]}-d vectors, the index has dim {dim}")
    return int(a.shape[0])


def sources_of(data: Any, dim: int) -> list[_Source]:
    """The inputs of a build: an array (n, dim), a .npy path, or an iterable of arrays
    and/or .npy paths (concatenated in order). Arrays are put in the Ray object store."""
    import ray

    items: Iterable[Any] = [data] if isinstance(data, (np.ndarray, str, os.PathLike)) else data
    out = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            path = str(Path(item))
            out.append(_Source(_npy_rows(path, dim), path=path))
        else:
            a = np.asarray(item)
            if a.dtype.kind != "f":
                as_f32_matrix(a, "vectors", dim)  # raises the usual DTypeError
            if a.ndim != 2 or a.shape[1] != dim:
                raise DimensionError(f"vectors must have shape (n, {dim}), got {a.shape}")
            out.append(_Source(int(a.shape[0]), ref=ray.put(np.ascontiguousarray(a))))
    if not out:
        raise ParameterError("no vectors to encode: data is an empty iterable")
    return out


def _ranges(sources: list[_Source], chunk: int) -> Iterator[dict]:
    offset = 0
    for i, s in enumerate(sources):
        for start in range(0, s.n, chunk):
            yield {"src": i, "start": start, "stop": min(start + chunk, s.n),
                   "row0": offset + start}
        offset += s.n


class _RangeEncoder:
    """Ray Data UDF (one per worker): encodes row ranges of the sources."""

    def __init__(self, boxed: list, threads: int) -> None:
        import ray

        from ..runtime import set_num_threads

        set_num_threads(threads)
        index_ref, self.sources, ids_ref = boxed
        self.index = pickle.loads(ray.get(index_ref))
        self.ids = None if ids_ref is None else ray.get(ids_ref)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        parts = []
        for src, start, stop, row0 in zip(batch["src"], batch["start"], batch["stop"],
                                          batch["row0"]):
            enc = encode_rows(self.index, self.sources[int(src)].read(int(start), int(stop)))
            rows = np.arange(int(row0), int(row0) + int(stop) - int(start), dtype=np.int64)
            enc["id"] = rows if self.ids is None else self.ids[rows]
            parts.append(enc)
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


class _DatasetEncoder:
    """Ray Data UDF for a user's Dataset with "vector" and "id" columns."""

    def __init__(self, boxed: list, threads: int) -> None:
        import ray

        from ..runtime import set_num_threads

        set_num_threads(threads)
        self.index = pickle.loads(ray.get(boxed[0]))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = batch
        enc = encode_rows(self.index, np.stack(batch["vector"]) if batch["vector"].dtype == object
                          else batch["vector"])
        enc["id"] = as_ids(batch["id"])
        return enc


def encode(index: IVFIndex, data: Any, *, ids: Any = None, num_workers: int = 1,
           threads_per_worker: int = 1, chunk_rows: int = DEFAULT_CHUNK) -> tuple[Any, int | None]:
    """A Ray Dataset of the encoded collection, in input order (lazy: nothing runs until
    it is consumed).

    Parameters
    ----------
    index : a trained IVFIndex (only its model is used; broadcast once with ``ray.put``)
    data : an array (n, dim), a .npy path, an iterable of arrays / .npy paths (taken in
        order), or a ``ray.data.Dataset`` with a "vector" column (dim floats per row) and an
        "id" column (int64). Paths must be readable by every Ray worker.
    ids : int64 (n,) ids of the rows (default 0..n-1 in input order); not with a Dataset.
    num_workers : Ray Data encoding workers (an actor pool of this size)
    threads_per_worker : CPUs each worker reserves and kernel threads it uses
    chunk_rows : rows per encoding task

    Returns
    -------
    (dataset, n): batches hold "id" int64 (m,), "list" int32 (m,), "code" uint8 (m, bytes),
    "term" float32 (m,) and, with a rerank store, "vector" float32 (m, dim); n is the row
    count (None for a Dataset input).
    """
    import ray
    import ray.data

    num_workers = check_int(num_workers, "num_workers", 1, 1 << 16)
    threads_per_worker = check_int(threads_per_worker, "threads_per_worker", 1, 4096)
    chunk_rows = check_int(chunk_rows, "chunk_rows", 1, 1 << 24)
    index._check_ready()
    boxed_index = ray.put(pickle.dumps(index))
    if isinstance(data, ray.data.Dataset):
        if ids is not None:
            raise ParameterError("with a ray.data.Dataset, ids come from its 'id' column; "
                                 "leave ids= out")
        ds = data.map_batches(_DatasetEncoder, fn_constructor_args=([boxed_index],
                                                                    threads_per_worker),
                              batch_size=chunk_rows, batch_format="numpy",
                              compute=ray.data.ActorPoolStrategy(size=num_workers),
                              num_cpus=threads_per_worker)
        _configure(ds)
        return ds, None
    sources = sources_of(data, index.dim)
    n = sum(s.n for s in sources)
    ids_ref = None
    if ids is not None:
        ids = as_ids(ids, n)
        if np.unique(ids).size != n:
            from ..errors import DuplicateIdError

            raise DuplicateIdError("ids must be unique")
        ids_ref = ray.put(ids)
    ranges = list(_ranges(sources, chunk_rows))
    ds = ray.data.from_items(ranges, override_num_blocks=len(ranges))
    ds = ds.map_batches(_RangeEncoder, fn_constructor_args=([boxed_index, sources, ids_ref],
                                                            threads_per_worker),
                        batch_size=1, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=min(num_workers, len(ranges))),
                        num_cpus=threads_per_worker)
    _configure(ds)
    return ds, n


def _configure(ds: Any) -> None:
    """Rows in input order (each shard gets its rows in that order), and a vecpress error
    raised by an encoder (bad vectors, repeated ids) surfaces as itself, not as Ray Data's
    UserCodeException."""
    ds.context.execution_options.preserve_order = True
    if hasattr(ds.context, "raise_original_map_exception"):
        ds.context.raise_original_map_exception = True
