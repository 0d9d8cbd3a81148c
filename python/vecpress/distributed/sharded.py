"""ShardedIVFIndex: an inverted-file index split by lists over Ray actors.

Every shard is an ordinary :class:`vecpress.IVFIndex` made from the same trained model
(coarse centroids, quantizer) that holds only the vectors of the inverted lists it owns,
with their rerank store. A shard's own coarse search over all ``nlist`` centroids probes
the same lists the single-process index would (same centroids, query and nprobe); the
lists it does not own are empty there. The router coarse-quantizes each query once and
sends it only to the shards owning at least one of its probed lists; each shard returns
its best candidates by code score with their exact scores (one round trip), and the
router merges them the way the single-process pipeline does: the global top
``max(rerank, k)`` by code score, then the top k of those by exact score.
"""
from __future__ import annotations

import heapq
import json
import os
import pickle
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from .._validate import as_f32_matrix, as_ids, check_int, check_k, check_magnitude, check_threads
from .._version import __version__
from ..backends import CPU
from ..errors import (
    DuplicateIdError,
    FormatError,
    ParameterError,
    UnknownIdError,
    VecpressError,
)
from ..filters import as_selector
from ..indexes.base import MAX_PADDED_RESULT, load
from ..indexes.ivf import IVFIndex
from ._encode import DEFAULT_CHUNK, encode, sources_of
from ._merge import merge_results, take_best
from ._shard import ShardServer, file_sha256, model_digest, packed_in_batch

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "vecpress-sharded-ivf"
MANIFEST_VERSION = 1
_MAX_SHARDS = 1 << 16
_DEFAULT_ACTOR_OPTIONS = {"num_cpus": 0, "max_concurrency": 4, "scheduling_strategy": "SPREAD"}


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the build reads and encodes with Ray Data)
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ImportError("vecpress.distributed needs Ray: pip install 'vecpress[ray]'") from None
    return ray


def _vecpress_cause(e: BaseException) -> VecpressError | None:
    """The vecpress error a Ray task or Ray Data worker raised, from the wrappers around it."""
    seen = 0
    while e is not None and seen < 8:
        # Ray's wrappers subclass the error's own class; the original is vecpress's
        if isinstance(e, VecpressError) and type(e).__module__.startswith("vecpress."):
            return e
        e = getattr(e, "cause", None) or e.__cause__
        seen += 1
    return None


def _get(refs: Any) -> Any:
    """ray.get, re-raising a vecpress error raised inside an actor as itself."""
    ray = _ray()
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as e:
        cause = _vecpress_cause(e)
        if cause is not None:
            raise cause from None
        raise


def coarse_probes(index: IVFIndex, queries: Any, nprobe: int, threads: int | None = None
                  ) -> np.ndarray:
    """The inverted lists a search of ``index`` probes for each query.

    queries : (nq, dim) float32 (raw: normalised here for cosine, as search does)
    nprobe : lists per query (capped at nlist)

    Returns int64 (nq, min(nprobe, nlist)) list numbers, best centroid first: the lists
    ``index.search(queries, k, nprobe=nprobe)`` scans (without a filter).
    """
    q = index._coded(check_magnitude(index.transform(queries), "queries"))
    nprobe = min(check_int(nprobe, "nprobe", 1), index.nlist)
    metric = _core.METRICS["l2" if index.metric == "l2" else "ip"]
    t = index.threads if threads is None else check_threads(threads)
    _, probes = index._coarse.probes(CPU, index.centroids, q, metric, nprobe, t)
    return probes


def assign_lists(index: IVFIndex, vectors: Any, threads: int | None = None) -> np.ndarray:
    """The inverted list (int32 (n,)) ``index.add`` puts each vector (n, dim) in."""
    x = check_magnitude(index.transform(vectors))
    t = index.threads if threads is None else check_threads(threads)
    lists = index._assign(index._coded(x), t)
    return lists.astype(np.int32)


def balance_lists(list_sizes: Any, num_shards: int) -> np.ndarray:
    """Assign inverted lists to shards so that the shards hold about as many vectors each:
    the largest list first, each to the shard holding the fewest so far (ties: the lower
    shard; every list counts one more than its size, so empty lists spread too).

    list_sizes : (nlist,) vector counts. Returns int32 (nlist,): the shard of each list.
    """
    sizes = np.asarray(list_sizes, np.int64)
    num_shards = check_int(num_shards, "num_shards", 1, _MAX_SHARDS)
    if num_shards > sizes.size:
        raise ParameterError(f"num_shards={num_shards} is more than the {sizes.size} inverted "
                             "lists: a shard would own no list")
    loads = [(0, s) for s in range(num_shards)]
    out = np.empty(sizes.size, np.int32)
    for lst in np.argsort(-sizes, kind="stable"):
        load_, s = heapq.heappop(loads)
        out[lst] = s
        heapq.heappush(loads, (load_ + int(sizes[lst]) + 1, s))
    return out


def _spread(weights: Sequence[int], bins: int) -> list[list[int]]:
    """Items (by weight, largest first) to ``bins`` bins, each to the lightest bin."""
    heap = [(0, b) for b in range(bins)]
    out: list[list[int]] = [[] for _ in range(bins)]
    for item in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        load_, b = heapq.heappop(heap)
        out[b].append(item)
        heapq.heappush(heap, (load_ + weights[item] + 1, b))
    return [sorted(b) for b in out]


def _sample_rows(data: Any, dim: int, n: int) -> np.ndarray | None:
    """Up to n rows spread over the inputs (for estimating list sizes), or None."""
    ray = _ray()
    if isinstance(data, ray.data.Dataset):
        batch = data.take_batch(n, batch_format="numpy")["vector"]
        return np.stack(batch) if batch.dtype == object else batch
    sources = sources_of(data, dim)
    total = sum(s.n for s in sources)
    parts = []
    for s in sources:
        m = max(1, round(n * s.n / total))
        idx = np.linspace(0, s.n - 1, min(m, s.n)).astype(np.int64)
        if s.path is not None:
            parts.append(np.asarray(np.load(s.path, mmap_mode="r")[idx]))
        else:
            parts.append(ray.get(s.ref)[idx])
    return np.concatenate(parts)


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ShardedIVFIndex:
    """An IVFIndex split by inverted lists over Ray actors (see the module docstring).

    Make one with :meth:`build` (from a trained, empty IVFIndex and the collection) or
    :meth:`open` (a directory written by :meth:`save`). Ray must be initialised
    (``ray.init()``; on a cluster ``RAY_ADDRESS`` names it) or starts locally.

    Searches return what ``IVFIndex.search`` returns on one machine with the same
    nprobe and rerank (see ``docs/scale.md`` for the cases that can differ: 4-bit
    fast-scan lists and filtered searches). add/remove route to the owning shards;
    every shard keeps the single-machine index's concurrency guarantee, and the router
    runs its own adds/removes one at a time.
    """

    def __init__(self, template: IVFIndex, list_to_shard: np.ndarray, actors: list,
                 actor_shards: list[list[int]], sizes: dict[int, int], next_id: int) -> None:
        self._template = template
        self._list_to_shard = np.asarray(list_to_shard, np.int32)
        self.num_shards = int(self._list_to_shard.max()) + 1 if self._list_to_shard.size else 0
        self._actors = actors
        self._actor_shards = actor_shards
        self._actor_of_shard = np.empty(self.num_shards, np.int64)
        for a, shards in enumerate(actor_shards):
            self._actor_of_shard[shards] = a
        self._sizes = dict(sizes)
        self._next_id = int(next_id)
        self._write_lock = threading.Lock()
        self._digest = model_digest(template)

    # ---- construction --------------------------------------------------------------
    @staticmethod
    def _start_actors(num_workers: int, threads: int | None, actor_options: dict | None):
        ray = _ray()
        opts = {**_DEFAULT_ACTOR_OPTIONS, **(actor_options or {})}
        cls = ray.remote(ShardServer)
        return [cls.options(**opts).remote(threads) for _ in range(num_workers)]

    @classmethod
    def build(cls, index: IVFIndex, data: Any, *, ids: Any = None, num_shards: int,
              num_workers: int | None = None, encode_workers: int = 1,
              encode_threads: int = 1, chunk_rows: int = DEFAULT_CHUNK,
              list_to_shard: Any = None, threads: int | None = None,
              actor_options: dict | None = None) -> ShardedIVFIndex:
        """Encode ``data`` with Ray Data and load it into ``num_shards`` shards.

        Parameters
        ----------
        index : a trained, empty IVFIndex: the model every shard shares (train it once
            on a sample on the driver). It is not changed.
        data : vectors (n, dim), a .npy path, an iterable of arrays / .npy paths, or a
            ``ray.data.Dataset`` with "vector" and "id" columns (see
            :func:`vecpress.distributed.encode`).
        ids : int64 (n,), default 0..n-1 in input order.
        num_shards : shards (each owns a set of inverted lists), 1..nlist.
        num_workers : shard actors (default num_shards); with fewer, an actor holds
            several shards.
        encode_workers, encode_threads : Ray Data encoding workers and threads each.
        chunk_rows : rows per encoding task.
        list_to_shard : int (nlist,) shard of each list; default: balanced by list sizes
            estimated from up to 65,536 rows spread over the data.
        threads : kernel threads of each shard actor (default: all cores; with several
            actors per node, give each about cores / actors).
        actor_options : ``ray.remote`` options of the shard actors (default: num_cpus 0,
            max_concurrency 4, SPREAD scheduling); e.g. {"memory": ...} on a cluster.
        """
        ray = _ray()
        if not isinstance(index, IVFIndex):
            raise ParameterError(f"index must be a trained vecpress.IVFIndex, got {index!r}")
        index._check_ready()
        if len(index):
            raise ParameterError(f"index holds {len(index)} vectors; pass the trained, empty "
                                 "IVFIndex (the vectors come from data)")
        if index.soar:
            raise ParameterError("a sharded index owns each list on one shard, and soar "
                                 "stores a vector in two lists: pass an IVFIndex with soar=0")
        template = _template_of(index)
        nlist = template.nlist
        num_shards = check_int(num_shards, "num_shards", 1, _MAX_SHARDS)
        if num_shards > nlist:
            raise ParameterError(f"num_shards={num_shards} is more than nlist={nlist}: a shard "
                                 "would own no list")
        workers = num_shards if num_workers is None else check_int(num_workers, "num_workers", 1)
        workers = min(workers, num_shards)
        if list_to_shard is None:
            sample = _sample_rows(data, template.dim, 65_536)
            sizes = np.bincount(assign_lists(template, sample), minlength=nlist)
            l2s = balance_lists(sizes, num_shards)
        else:
            l2s = _check_list_map(np.asarray(list_to_shard), nlist, num_shards, ParameterError)
        actor_shards = [list(range(a, num_shards, workers)) for a in range(workers)]
        actors = cls._start_actors(workers, threads, actor_options)
        try:
            tref = ray.put(pickle.dumps(template))
            _get([a.create.remote(sh, tref) for a, sh in zip(actors, actor_shards)])
            actor_of = np.empty(num_shards, np.int64)
            for a, sh in enumerate(actor_shards):
                actor_of[sh] = a
            ds, _ = encode(template, data, ids=ids, num_workers=encode_workers,
                           threads_per_worker=encode_threads, chunk_rows=chunk_rows)
            check_ids = not (ids is None and not isinstance(data, ray.data.Dataset))
            seen: list[np.ndarray] = []
            pending: list = []
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                batch = batch
                shard = l2s[batch["list"]]
                if check_ids:
                    seen.append(np.asarray(batch["id"], np.int64))
                order = np.argsort(shard, kind="stable")
                bounds = np.searchsorted(shard[order], np.arange(num_shards + 1))
                for s in range(num_shards):
                    rows = order[bounds[s]:bounds[s + 1]]
                    if rows.size == 0:
                        continue
                    part = {key: np.ascontiguousarray(v[rows]) for key, v in batch.items()
                            if key != "id"}
                    pending.append(actors[actor_of[s]].ingest.remote(
                        s, np.ascontiguousarray(batch["id"][rows], np.int64), part))
                if len(pending) > 4 * workers:  # bound what waits in the object store
                    done, pending = ray.wait(pending, num_returns=len(pending) - 2 * workers)
                    _get(done)
            _get(pending)
            if seen:
                all_ids = np.concatenate(seen)
                if np.unique(all_ids).size != all_ids.size:
                    raise DuplicateIdError("the collection's ids are not unique")
            sizes_by_shard: dict[int, int] = {}
            for d in _get([a.sizes.remote() for a in actors]):
                sizes_by_shard.update({int(s): int(n) for s, n in d.items()})
            next_id = 0
            if check_ids:
                next_id = int(all_ids.max()) + 1 if seen and all_ids.size else 0
            else:
                next_id = sum(sizes_by_shard.values())
        except BaseException as e:
            for a in actors:
                ray.kill(a)
            cause = _vecpress_cause(e)
            if cause is not None and cause is not e:
                raise cause from None  # e.g. raised in a Ray Data encoder
            raise
        return cls(template, l2s, actors, actor_shards, sizes_by_shard, next_id)

    @classmethod
    def open(cls, directory: str | os.PathLike, *, num_workers: int | None = None,
             mmap: bool = True, verify: bool = True, threads: int | None = None,
             actor_options: dict | None = None) -> ShardedIVFIndex:
        """Reopen a directory written by :meth:`save` on ``num_workers`` actors (default:
        one per shard; fewer: several shards per actor, balanced by vector counts).

        mmap : leave each shard's rerank store (and codes) memory-mapped from its file.
        threads, actor_options : as for :meth:`build`.
        verify : check every file's sha256 against the manifest (in the actors, in
            parallel). A missing, corrupted or foreign file raises
            :class:`vecpress.FormatError`.
        """
        ray = _ray()
        d = Path(directory)
        m = _read_manifest(d)
        template_path = d / m["trained"]["file"]
        _check_file(template_path, m["trained"]["sha256"] if verify else None)
        template = load(template_path)
        if not isinstance(template, IVFIndex) or len(template) != 1 or not template.is_trained:
            raise FormatError(f"{template_path} is not a trained IVFIndex with one placeholder "
                              "vector")
        template.remove(template.ids)  # see save(): the placeholder keeps the file loadable
        if model_digest(template) != m["model_sha256"]:
            raise FormatError(f"{template_path} does not hold the model the manifest names")
        l2s = _check_list_map(np.asarray(m["list_to_shard"]), template.nlist, m["num_shards"],
                              FormatError)
        shards = m["shards"]
        for e in shards:
            if not (d / e["file"]).is_file():
                raise FormatError(f"shard file {d / e['file']} is missing")
        workers = len(shards) if num_workers is None else check_int(num_workers, "num_workers", 1)
        workers = min(workers, len(shards))
        actor_shards = _spread([int(e["vectors"]) for e in shards], workers)
        actors = cls._start_actors(workers, threads, actor_options)
        try:
            refs = []
            for a, sh in zip(actors, actor_shards):
                for s in sh:
                    e = shards[s]
                    owned = np.flatnonzero(l2s == s).tolist()
                    refs.append(a.open.remote(s, str(d / e["file"]),
                                              e["sha256"] if verify else None,
                                              m["model_sha256"], owned, mmap))
            counts = _get(refs)
        except BaseException:
            for a in actors:
                ray.kill(a)
            raise
        order = [s for sh in actor_shards for s in sh]
        sizes = {s: int(n) for s, n in zip(order, counts)}
        for s, n in sizes.items():
            if n != int(shards[s]["vectors"]):
                for a in actors:
                    ray.kill(a)
                raise FormatError(f"shard {s} holds {n} vectors, the manifest says "
                                  f"{shards[s]['vectors']}")
        return cls(template, l2s, actors, actor_shards, sizes, int(m["next_id"]))

    # ---- properties ------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(self._sizes.values())

    @property
    def dim(self) -> int:
        return self._template.dim

    @property
    def metric(self) -> str:
        return self._template.metric

    @property
    def nlist(self) -> int:
        return int(self._template.nlist)

    @property
    def num_workers(self) -> int:
        return len(self._actors)

    @property
    def list_to_shard(self) -> np.ndarray:
        """int32 (nlist,): the shard owning each inverted list (a copy)."""
        return self._list_to_shard.copy()

    def shard_info(self) -> dict[int, dict[str, Any]]:
        """{shard: {"vectors": n, "store_mapped": bool, "worker": actor number}}, asked
        of the actors."""
        out = {}
        for a, d in enumerate(_get([actor.info.remote() for actor in self._actors])):
            out.update({int(s): {**v, "worker": a} for s, v in d.items()})
        return dict(sorted(out.items()))

    def shard_sizes(self) -> np.ndarray:
        """int64 (num_shards,): vectors per shard."""
        return np.array([self._sizes.get(s, 0) for s in range(self.num_shards)], np.int64)

    def __repr__(self) -> str:
        return (f"ShardedIVFIndex(dim={self.dim}, metric={self.metric!r}, n={len(self)}, "
                f"nlist={self.nlist}, shards={self.num_shards}, workers={self.num_workers})")

    def close(self) -> None:
        """Stop the shard actors (the index cannot be used afterwards)."""
        ray = _ray()
        for a in self._actors:
            ray.kill(a)
        self._actors = []

    def __enter__(self) -> ShardedIVFIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- search ------------------------------------------------------------------------
    def search(self, queries: Any, k: int, *, nprobe: int | None = None,
               rerank: int | None = None, threads: int | None = None,
               filter: Any = None, rerank_where: str = "merged"
               ) -> tuple[np.ndarray, np.ndarray]:
        """The k best vectors for each query, as ``IVFIndex.search`` on one machine.

        Parameters
        ----------
        queries : (nq, dim) or (dim,) float32 (float16/float64 converted)
        k : int >= 1 (past len(index) the result is padded with id -1)
        nprobe : lists scanned per query (default: the index's setting)
        rerank : candidates rescored exactly (default: the index's setting; 0 = none);
            the rescoring runs on the shards that hold the candidates
        threads : kernel threads per shard for this call
        filter : allowed ids (int64 array) or a :class:`vecpress.IdSelector`; sent to
            every shard (a filtered search is not routed by probed lists)
        rerank_where : "merged" (default): the router merges the shards' candidates by code
            score, then asks the shards holding the global top ``rerank`` for their exact
            scores (two round trips; as much exact scoring as one machine does).
            "shards": each shard scores its own top ``rerank`` exactly in the same round
            trip (one round trip, but up to num_shards times the exact scoring). Both
            return the same ids and scores.

        Returns
        -------
        scores : float32 (nq, k), ids : int64 (nq, k), best first (ties: lower id).
        """
        if not self._actors:
            raise ParameterError("this ShardedIVFIndex is closed")
        t = self._template
        if rerank_where not in ("merged", "shards"):
            raise ParameterError(f"rerank_where must be 'merged' or 'shards', got {rerank_where!r}")
        q = as_f32_matrix(queries, "queries", t.dim)
        k = check_k(k)
        params = t._search_params(rerank=rerank, threads=threads, nprobe=nprobe)
        shard_threads = None if threads is None else check_threads(threads)
        selector = as_selector(filter)
        n = len(self)
        nq = q.shape[0]
        if k > n and nq * k > MAX_PADDED_RESULT:
            raise ParameterError(f"k={k} is larger than the index ({n} vectors) and the result "
                                 f"would be padded to {nq} x {k} entries (at most "
                                 f"{MAX_PADDED_RESULT} are padded): pass k <= len(index)")
        kk = min(k, n)
        depth = params.rerank
        cand = min(max(depth, kk), n) if depth else kk
        exact_larger = t.metric != "l2"
        code_larger = t._code_scores_larger()
        larger = exact_larger if depth else code_larger
        if kk == 0 or nq == 0:
            return _pad(np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64), k, larger)
        if selector is None:
            probes = coarse_probes(t, q, params.nprobe)
            hit = np.zeros((self.num_shards, nq), bool)
            shard_of = self._list_to_shard[probes]
            for s in range(self.num_shards):
                hit[s] = (shard_of == s).any(axis=1)
            spec = None
        else:
            hit = np.ones((self.num_shards, nq), bool)
            spec = (selector.allow, selector.deny)
        packed = packed_in_batch(nq)
        one_trip = bool(depth) and rerank_where == "shards"
        calls = []
        for a, shards in enumerate(self._actor_shards):
            shards = [s for s in shards if self._sizes.get(s, 0) and hit[s].any()]
            if not shards:
                continue
            rows = np.flatnonzero(hit[shards].any(axis=0))
            pos = np.full(nq, -1, np.int64)
            pos[rows] = np.arange(rows.size)
            routes = {s: pos[np.flatnonzero(hit[s])] for s in shards}
            calls.append((rows, self._actors[a].search.remote(
                np.ascontiguousarray(q[rows]), packed[rows], routes, cand, params.nprobe,
                one_trip, shard_threads, spec)))
        results = _get([ref for _, ref in calls])
        width = sum(r[1].shape[1] for r in results)
        code = np.full((nq, width), -np.inf if code_larger else np.inf, np.float32)
        ids = np.full((nq, width), -1, np.int64)
        shard = np.full((nq, width), -1, np.int32)
        exact = np.full((nq, width), np.nan, np.float32) if one_trip else None
        col = 0
        for (rows, _), (s_, i_, h_, e_) in zip(calls, results):
            w = i_.shape[1]
            code[rows, col:col + w], ids[rows, col:col + w] = s_, i_
            shard[rows, col:col + w] = h_
            if one_trip:
                exact[rows, col:col + w] = e_
            col += w
        # equal exact scores: the float32 store's kernel puts the lower row first, the
        # compact stores keep the candidates' order (by code score, then row)
        ties = "id" if t.store == "float32" else "order"
        if not depth or one_trip:
            scores, out_ids = merge_results(code, ids, exact, kk, cand, code_larger, exact_larger,
                                            ties)
            return _pad(scores, out_ids, k, larger)
        # the global best `cand` by code score, then their exact scores from their shards
        _, cand_ids, cand_shard = take_best(cand, code_larger, code, ids, shard)
        exact = self._score(q, cand_ids, cand_shard, exact_larger)
        cand_ids = np.where(np.isfinite(exact), cand_ids, -1)  # removed meanwhile: none
        scores, out_ids = take_best(kk, exact_larger, exact, cand_ids, ties=ties)
        worst = np.float32(-np.inf if exact_larger else np.inf)
        return _pad(np.where(out_ids >= 0, scores, worst).astype(np.float32), out_ids, k, larger)

    def _score(self, q: np.ndarray, ids: np.ndarray, shard: np.ndarray, larger: bool
               ) -> np.ndarray:
        """Exact scores (nq, c) float32 of candidate ids (nq, c) from the shards holding them
        (shard (nq, c), -1 = none), one call per actor; none -> -inf / +inf."""
        nq, c = ids.shape
        out = np.full((nq, c), -np.inf if larger else np.inf, np.float32)
        calls = []
        for a, shards in enumerate(self._actor_shards):
            parts, where = {}, {}
            mine = np.isin(shard, shards)
            rows_a = np.flatnonzero(mine.any(axis=1))
            if rows_a.size == 0:
                continue
            for s in shards:
                mask = shard[rows_a] == s
                rows = np.flatnonzero(mask.any(axis=1))
                if rows.size == 0:
                    continue
                # this shard's candidates first in each row, the rest cut off
                order = np.argsort(~mask[rows], axis=1, kind="stable")
                width = int(mask[rows].sum(axis=1).max())
                order = order[:, :width]
                sub = np.take_along_axis(ids[rows_a[rows]], order, 1)
                sub = np.where(np.take_along_axis(mask[rows], order, 1), sub, -1)
                parts[s] = (rows, sub)
                where[s] = (rows_a[rows], order)
            calls.append((where, self._actors[a].score.remote(np.ascontiguousarray(q[rows_a]),
                                                              parts)))
        for (where, _), got in zip(calls, _get([ref for _, ref in calls])):
            for s, (rows, order) in where.items():
                valid = np.take_along_axis(shard[rows], order, 1) == s
                block = out[rows]
                np.put_along_axis(block, order, np.where(valid, got[s], np.take_along_axis(
                    block, order, 1)), 1)
                out[rows] = block
        return out

    # ---- writes --------------------------------------------------------------------------
    def add(self, vectors: Any, ids: Any = None) -> np.ndarray:
        """Add vectors (n, dim) float32 with ids (n,) int64 (default: after the largest id
        ever added); each goes to the shard owning its inverted list. Duplicate ids raise
        :class:`vecpress.DuplicateIdError` before anything changes; if a shard refuses
        its part, the parts other shards took are removed again. Returns the ids."""
        ray = _ray()
        if not self._actors:
            raise ParameterError("this ShardedIVFIndex is closed")
        x = as_f32_matrix(vectors, "vectors", self.dim)
        n = x.shape[0]
        with self._write_lock:
            if ids is None:
                new_ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
            else:
                new_ids = as_ids(ids, n)
                if np.unique(new_ids).size != n:
                    raise DuplicateIdError("ids repeat within the batch")
                clash = self._contains(new_ids)
                if clash.any():
                    dup = new_ids[clash]
                    raise DuplicateIdError(
                        f"{dup.size} id(s) are already in the index (e.g. {dup[:5].tolist()}); "
                        "remove them first or choose new ids")
            shard = self._list_to_shard[assign_lists(self._template, x)]
            refs = {}
            for s in np.unique(shard).tolist():
                rows = np.flatnonzero(shard == s)
                refs[s] = self._actors[self._actor_of_shard[s]].add.remote(
                    s, np.ascontiguousarray(x[rows]), new_ids[rows])
            done: dict[int, int] = {}
            error: BaseException | None = None
            for s, ref in refs.items():
                try:
                    done[s] = _get(ref)
                except BaseException as e:  # noqa: BLE001 - re-raised after the rollback
                    error = error or e
            if error is not None:
                undo = [self._actors[self._actor_of_shard[s]].remove.remote(new_ids)
                        for s in done]
                ray.get(undo)
                raise error
            self._sizes.update(done)
            if n:
                self._next_id = max(self._next_id, int(new_ids.max()) + 1)
        return new_ids

    def remove(self, ids: Any) -> int:
        """Remove vectors by id from the shards holding them. Unknown ids raise
        :class:`vecpress.UnknownIdError` and nothing is removed. Returns the count."""
        if not self._actors:
            raise ParameterError("this ShardedIVFIndex is closed")
        ids = np.unique(as_ids(ids))
        if ids.size == 0:
            return 0
        with self._write_lock:
            found = self._contains(ids)
            if not found.all():
                absent = ids[~found]
                raise UnknownIdError(f"{absent.size} id(s) are not in the index "
                                     f"(e.g. {absent[:5].tolist()}); nothing was changed")
            for d in _get([a.remove.remote(ids) for a in self._actors]):
                self._sizes.update({int(s): int(n) for s, n in d.items()})
        return int(ids.size)

    def _contains(self, ids: np.ndarray) -> np.ndarray:
        found = np.zeros(ids.shape, bool)
        for f in _get([a.contains.remote(ids) for a in self._actors]):
            found |= f
        return found

    # ---- persistence -----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write the index to a directory: ``trained-*.vp`` (the shared model),
        one ``shard-NNNNN-*.vp`` per shard (an IVFIndex file each, written by the actor
        holding it: the directory must be reachable from every node) and
        ``manifest.json`` (sha256 of each file, the list -> shard map, vector counts).

        The manifest is written last, atomically: a save that dies leaves the previous
        manifest and its files; files of earlier saves are removed afterwards."""
        if not self._actors:
            raise ParameterError("this ShardedIVFIndex is closed")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        with self._write_lock:
            trained = f"trained-{tag}.vp"
            # The model is saved with one placeholder vector (its first centroid), removed
            # again by open(): vecpress.load refuses an *empty* L2 IVFIndex file (file_finite
            # of the (0,) l2_term array), so an empty template would not reopen.
            placeholder = _template_of(self._template)
            placeholder.add(self._template.centroids[:1], ids=np.zeros(1, np.int64))
            placeholder.save(d / trained)
            refs = [a.save.remote(str(d), {s: f"shard-{s:05d}-{tag}.vp" for s in sh})
                    for a, sh in zip(self._actors, self._actor_shards)]
            entries: dict[int, dict] = {}
            for part in _get(refs):
                entries.update({int(s): e for s, e in part.items()})
            manifest = {
                "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                "library": f"vecpress {__version__}", "index": "IVFIndex",
                "dim": self.dim, "metric": self.metric, "nlist": self.nlist,
                "num_shards": self.num_shards, "next_id": self._next_id,
                "vectors": len(self), "model_sha256": self._digest,
                "trained": {"file": trained, "sha256": file_sha256(d / trained)},
                "list_to_shard": self._list_to_shard.tolist(),
                "shards": [{"shard": s, **entries[s]} for s in range(self.num_shards)],
            }
            _write_json_atomic(d / MANIFEST, manifest)
        keep = {trained, MANIFEST} | {e["file"] for e in manifest["shards"]}
        for p in d.glob("*.vp"):
            if p.name not in keep and (p.name.startswith("shard-") or
                                       p.name.startswith("trained-")):
                p.unlink(missing_ok=True)


# ---- helpers ------------------------------------------------------------------------------
def _template_of(index: IVFIndex) -> IVFIndex:
    """A private copy of a trained, empty IVFIndex (the shards' common starting point)."""
    return pickle.loads(pickle.dumps(index))


def _pad(scores: np.ndarray, ids: np.ndarray, k: int, larger: bool):
    nq, have = ids.shape
    if have < k:
        worst = np.float32(-np.inf if larger else np.inf)
        scores = np.concatenate([scores, np.full((nq, k - have), worst, np.float32)], 1)
        ids = np.concatenate([ids, np.full((nq, k - have), -1, np.int64)], 1)
    return scores.astype(np.float32, copy=False), ids


def _check_list_map(m: np.ndarray, nlist: int, num_shards: int, error: type) -> np.ndarray:
    if m.shape != (nlist,) or m.dtype.kind not in "iu":
        raise error(f"list_to_shard must be {nlist} integers (one shard per list), got "
                    f"shape {m.shape} dtype {m.dtype}")
    if m.size and (m.min() < 0 or m.max() >= num_shards):
        raise error(f"list_to_shard must hold shard numbers in 0..{num_shards - 1}")
    missing = np.setdiff1d(np.arange(num_shards), m)
    if missing.size:
        raise error(f"shards {missing[:5].tolist()} own no list in list_to_shard")
    return m.astype(np.int32)


def _check_file(path: Path, sha256: str | None) -> None:
    if not path.is_file():
        raise FormatError(f"{path} is missing")
    if sha256 is not None and file_sha256(path) != sha256:
        raise FormatError(f"{path}: sha256 does not match the manifest (corrupted or replaced)")


def _read_manifest(d: Path) -> dict:
    path = d / MANIFEST
    if not path.is_file():
        raise FormatError(f"{d} holds no {MANIFEST}: not a saved ShardedIVFIndex")
    try:
        m = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise FormatError(f"{path} is not a vecpress sharded-index manifest")
    if m.get("version") != MANIFEST_VERSION:
        raise FormatError(f"{path} has manifest version {m.get('version')!r}; this vecpress "
                          f"reads version {MANIFEST_VERSION}")
    want = {"num_shards": int, "next_id": int, "model_sha256": str, "trained": dict,
            "list_to_shard": list, "shards": list}
    for key, typ in want.items():
        if not isinstance(m.get(key), typ) or isinstance(m.get(key), bool):
            raise FormatError(f"{path}: field {key!r} is missing or not a {typ.__name__}")
    n = m["num_shards"]
    if not 1 <= n <= _MAX_SHARDS or len(m["shards"]) != n:
        raise FormatError(f"{path}: num_shards={n} but {len(m['shards'])} shard entries")
    if m["next_id"] < 0:
        raise FormatError(f"{path}: next_id must be non-negative")
    for i, e in enumerate([m["trained"], *m["shards"]]):
        if not isinstance(e, dict) or not isinstance(e.get("file"), str) or \
                not isinstance(e.get("sha256"), str):
            raise FormatError(f"{path}: file entry {i} lacks 'file' or 'sha256'")
        name = e["file"]
        if Path(name).name != name or name.startswith("."):
            raise FormatError(f"{path}: file entry {name!r} must be a plain file name")
    for s, e in enumerate(m["shards"]):
        if e.get("shard") != s or not isinstance(e.get("vectors"), int) or e["vectors"] < 0:
            raise FormatError(f"{path}: shard entry {s} is malformed")
    return m
