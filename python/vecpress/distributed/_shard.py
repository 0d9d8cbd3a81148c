"""The shard server: one Ray actor holding one or more shards, each an ordinary IVFIndex
with the shared trained model and only the vectors of the inverted lists it owns."""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .._rwlock import RWLock
from ..errors import FormatError, UnknownIdError
from ..filters import IdSelector
from ..indexes.base import load
from ..indexes.ivf import IVFIndex
from ._encode import append_encoded
from ._merge import take_best


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def model_digest(index: IVFIndex) -> str:
    """sha256 of what must be shared by every shard: the trained model (coarse centroids,
    quantizer codebooks, int8 store range) and the settings that change its codes."""
    h = hashlib.sha256()
    params, arrays = index._state()
    fixed = {key: params[key] for key in ("nlist", "by_residual", "store", "quantizer")}
    h.update(repr(sorted(fixed.items())).encode())
    h.update(f"{index.dim}/{index.metric}".encode())
    for name in ("centroids", "q_codebooks"):
        if name in arrays:
            h.update(name.encode())
            h.update(np.ascontiguousarray(arrays[name]).tobytes())
    for name in ("lo", "hi", "scale", "offset"):
        a = getattr(index._store, name, None)
        if isinstance(a, np.ndarray):
            h.update(name.encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# The coarse kernel (cpp/src/flat.cpp: kQueryBlock, kPackedQueries) scores queries in blocks
# of 256 and packs a block only when it holds at least 16 queries; packed and unpacked blocks
# sum in different orders, so a query's centroid scores (the IVF scan's bias) can differ in
# the last bit with the size of its block. A shard therefore searches each routed query in a
# block of the kind the single-process call would have put it in.
QUERY_BLOCK, PACKED_MIN = 256, 16


def packed_in_batch(nq: int) -> np.ndarray:
    """bool (nq,): whether query i of a batch of nq lands in a packed block of the coarse
    kernel (its block of QUERY_BLOCK holds at least PACKED_MIN queries)."""
    i = np.arange(nq)
    block = np.minimum(QUERY_BLOCK, nq - i // QUERY_BLOCK * QUERY_BLOCK)
    return block >= PACKED_MIN


def search_calls(packed: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """How to search queries (flags from :func:`packed_in_batch`) so that each lands in a
    block of the same kind: [(rows to pass, how many leading rows are real)]. Packed queries
    go in one call whose last block is topped up to PACKED_MIN with copies of its last
    query; unpacked ones in calls of fewer than PACKED_MIN."""
    p, u = np.flatnonzero(packed), np.flatnonzero(~packed)
    calls = []
    if p.size:
        tail = p.size % QUERY_BLOCK
        pad = PACKED_MIN - tail if 0 < tail < PACKED_MIN else 0
        calls.append((np.concatenate([p, np.full(pad, p[-1])]), p.size))
    for s in range(0, u.size, PACKED_MIN - 1):
        part = u[s:s + PACKED_MIN - 1]
        calls.append((part, part.size))
    return calls


class ShardServer:
    """State of one shard actor (wrapped with ``ray.remote`` by ShardedIVFIndex).

    Each shard has a readers-writer lock of its own around the index's: a search and the
    exact scoring of its candidates see the same state of the shard.
    """

    def __init__(self, threads: int | None = None) -> None:
        from ..runtime import set_num_threads

        if threads:
            set_num_threads(threads)
        self.shards: dict[int, IVFIndex] = {}
        self.locks: dict[int, RWLock] = {}

    # ---- building ------------------------------------------------------------------
    def create(self, shard_ids: list[int], template: bytes) -> None:
        """Start empty shards, each a copy of the trained, empty index (unpickled)."""
        for s in shard_ids:
            self.shards[s] = pickle.loads(template)
            self.locks[s] = RWLock()

    def ingest(self, shard: int, ids: np.ndarray, enc: dict[str, np.ndarray]) -> int:
        ids, enc = ids, enc
        with self.locks[shard].write():
            append_encoded(self.shards[shard], ids, enc)
        return len(ids)

    def open(self, shard: int, path: str, sha256: str | None, digest: str,
             owned_lists: list[int], mmap: bool = True) -> int:
        """Load one shard file; FormatError if its checksum, model or lists do not match
        the manifest."""
        if sha256 is not None:
            got = file_sha256(path)
            if got != sha256:
                raise FormatError(f"{path}: sha256 {got} does not match the manifest's {sha256} "
                                  "(the shard file is corrupted or was replaced)")
        index = load(path, mmap=mmap)
        if not isinstance(index, IVFIndex):
            raise FormatError(f"{path} holds a {type(index).__name__}, not an IVFIndex shard")
        if model_digest(index) != digest:
            raise FormatError(f"{path} was not built from the same trained model as the other "
                              "shards (its centroids/codebooks differ from the manifest's)")
        held = np.unique(index._lists.data)
        stray = np.setdiff1d(held, np.asarray(owned_lists, np.int64))
        if stray.size:
            raise FormatError(f"{path} holds vectors of lists {stray[:5].tolist()} that the "
                              "manifest assigns to other shards")
        self.shards[shard] = index
        self.locks[shard] = RWLock()
        return len(index)

    # ---- writes ----------------------------------------------------------------------
    def add(self, shard: int, vectors: np.ndarray, ids: np.ndarray) -> int:
        vectors, ids = vectors, ids
        with self.locks[shard].write():
            self.shards[shard].add(vectors, ids)
            return len(self.shards[shard])

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """bool (m,): which of ids some shard of this actor holds."""
        ids = ids
        found = np.zeros(ids.shape, bool)
        for s, index in self.shards.items():
            with self.locks[s].read():
                found |= np.isin(ids, index.ids)
        return found

    def remove(self, ids: np.ndarray) -> dict[int, int]:
        """Remove the ids this actor's shards hold (others are ignored); {shard: size}."""
        ids = ids
        out = {}
        for s, index in self.shards.items():
            with self.locks[s].write():
                present = ids[np.isin(ids, index.ids)]
                if present.size:
                    index.remove(present)
                out[s] = len(index)
        return out

    # ---- reading -----------------------------------------------------------------------
    def sizes(self) -> dict[int, int]:
        return {s: len(index) for s, index in self.shards.items()}

    def save(self, directory: str, names: dict[int, str]) -> dict[int, dict]:
        out = {}
        for s, name in names.items():
            path = Path(directory) / name
            with self.locks[s].read():
                self.shards[s].save(path)
                out[s] = {"file": name, "sha256": file_sha256(path),
                          "bytes": path.stat().st_size, "vectors": len(self.shards[s])}
        return out

    def search(self, queries: np.ndarray, packed: np.ndarray, routes: dict[int, np.ndarray],
               candidates: int, nprobe: int, exact: bool, threads: int | None,
               filter_spec: tuple | None) -> tuple:
        """The best ``candidates`` of this actor's shards for each query, by code score.

        queries : float32 (nq, dim), the queries routed to this actor
        packed : bool (nq,), :func:`packed_in_batch` of each query in the caller's batch
        routes : {shard: int64 indices into queries} (the queries whose probed lists the
            shard owns)
        exact : also return the exact scores of the candidates (``Index.score``)
        filter_spec : None or (allow ids | None, deny ids | None)

        Returns (code scores (nq, c) float32, ids (nq, c) int64 (-1 = none), the shard of
        each candidate (nq, c) int32, exact scores (nq, c) float32 or None), best code score
        first, ties by the lower id.
        """
        queries, packed, routes = queries, packed, routes
        filter_spec = filter_spec
        selector = None if filter_spec is None else IdSelector(*filter_spec)
        nq = queries.shape[0]
        parts: list[tuple] = []
        larger = True
        for s, rows in routes.items():
            index = self.shards[s]
            larger = index._code_scores_larger()
            with self.locks[s].read():
                c = min(candidates, len(index))
                if c == 0 or len(rows) == 0:
                    continue
                sc = np.empty((rows.size, c), np.float32)
                ids = np.empty((rows.size, c), np.int64)
                for pick, real in search_calls(packed[rows]):
                    s_, i_ = index.search(queries[rows[pick]], c, rerank=0, nprobe=nprobe,
                                          threads=threads, filter=selector)
                    sc[pick[:real]], ids[pick[:real]] = s_[:real], i_[:real]
                ex = index.score(queries[rows], ids) if exact else None
            full = [np.full((nq, c), -np.inf if larger else np.inf, np.float32),
                    np.full((nq, c), -1, np.int64), np.full((nq, c), s, np.int32),
                    np.full((nq, c), np.nan, np.float32) if exact else None]
            full[0][rows], full[1][rows] = sc, ids
            if exact:
                full[3][rows] = ex
            parts.append(full)
        if not parts:
            empty = np.zeros((nq, 0), np.float32)
            return (empty, np.zeros((nq, 0), np.int64), np.zeros((nq, 0), np.int32),
                    empty if exact else None)
        cols = [np.concatenate([p[j] for p in parts], 1) if parts[0][j] is not None else None
                for j in range(4)]
        keep = min(candidates, cols[1].shape[1])
        return take_best(keep, larger, cols[0], cols[1], cols[2], cols[3])

    def score(self, queries: np.ndarray, parts: dict[int, tuple[np.ndarray, np.ndarray]]
              ) -> dict[int, np.ndarray]:
        """Exact scores of candidates: parts {shard: (rows int64 (m,) into queries, ids
        int64 (m, c), -1 = none)} -> {shard: float32 (m, c)}. An id removed since the
        search that found it scores as none (-inf / +inf)."""
        queries, parts = queries, parts
        out = {}
        for s, (rows, ids) in parts.items():
            index = self.shards[s]
            with self.locks[s].read():
                try:
                    out[s] = index.score(queries[rows], ids)
                except UnknownIdError:
                    gone = (ids >= 0) & ~np.isin(ids, index.ids)
                    out[s] = index.score(queries[rows], np.where(gone, -1, ids))
        return out

    def info(self) -> dict[int, dict[str, Any]]:
        """{shard: {"vectors": n, "store_mapped": whether its rerank store is a memory map
        of its file}}."""
        return {s: {"vectors": len(ix),
                    "store_mapped": bool(ix._store is not None and ix._store.mapped)}
                for s, ix in self.shards.items()}
