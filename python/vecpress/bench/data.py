"""Datasets for the harness: the bundled sample, ``.npy`` directories (as in
../shared/data) and ann-benchmarks HDF5 files, with cached ground truth and
optional relevance judgements (qrels) for nDCG.

Loading itself reuses :mod:`vecpress.datasets` and :func:`vecpress.ingest.read_hdf5`;
this module adds what only benchmarks need: opening a dataset from one
command-line argument, a ground-truth cache and qrels.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..datasets import Dataset, load_npy_dir, load_sample

GT_K = 100  # ground-truth depth: recall@100 needs the exact top-100


def open_dataset(spec: str, max_queries: int | None = None) -> Dataset:
    """A dataset from a command-line argument.

    spec : "sample" (the bundled 5,000-vector sample), a directory with
        base.npy / queries.npy [/ gt_ids.npy, qrels.tsv], or an ann-benchmarks
        ``.hdf5`` / ``.h5`` file (train / test / neighbors, attribute "distance").
    max_queries : keep only the first queries (and their ground truth).
    """
    if spec == "sample":
        ds = load_sample()
        if max_queries is not None:
            ds.queries = ds.queries[:max_queries]
        return ds
    path = Path(spec)
    if path.is_dir():
        ds = load_npy_dir(path, max_queries)
        qrels = load_qrels(path)
        if qrels is not None:
            ds.extra.update(qrels)
        return ds
    if path.suffix in (".hdf5", ".h5") and path.is_file():
        return load_hdf5(path, max_queries)
    raise FileNotFoundError(
        f"dataset {spec!r} not found: pass 'sample', a directory with base.npy and queries.npy, "
        "or an ann-benchmarks .hdf5 file")


def load_hdf5(path, max_queries: int | None = None) -> Dataset:
    """An ann-benchmarks HDF5 file as a Dataset.

    "angular" (cosine) data is normalised to unit length and searched with
    inner product, which ranks identically, so every library sees the same
    problem; "euclidean" stays "l2".
    """
    from ..ingest import read_hdf5

    d = read_hdf5(path)
    base, queries, gt, metric = d["train"], d["test"], d["neighbors"], d["metric"]
    if metric == "cosine":
        base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
        metric = "ip"
    if metric not in ("ip", "l2"):
        raise ValueError(f"{path}: distance {metric!r} is not supported by the benchmark "
                         "(use angular, euclidean or dot data)")
    if max_queries is not None:
        queries = queries[:max_queries]
        gt = None if gt is None else gt[:max_queries]
    return Dataset(Path(path).stem, np.ascontiguousarray(base, dtype=np.float32),
                   np.ascontiguousarray(queries, dtype=np.float32), metric, gt,
                   {"path": str(path)})


def cache_dir() -> Path:
    """Where computed ground truth is kept: $VECPRESS_CACHE or ~/.cache/vecpress."""
    return Path(os.environ.get("VECPRESS_CACHE", Path.home() / ".cache" / "vecpress"))


def _fingerprint(ds: Dataset, k: int) -> str:
    h = hashlib.sha256()
    h.update(f"{ds.base.shape}{ds.queries.shape}{ds.metric}{k}".encode())
    h.update(np.ascontiguousarray(ds.base, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(ds.queries, dtype=np.float32).tobytes())
    return h.hexdigest()[:24]


def ground_truth(ds: Dataset, k: int = GT_K, cache: Path | None = None,
                 threads: int | None = None) -> np.ndarray:
    """Exact top-k row ids (nq, k) int64 for the dataset's queries.

    Uses the dataset's own ground truth when it is deep enough; otherwise
    computes it with exact search (:meth:`Dataset.ensure_ground_truth`) and
    keeps it in ``cache`` (default :func:`cache_dir`) under a hash of the
    vectors, so the next run (or a run on a query subset of the same data) does
    not pay for it again.
    """
    k = min(k, ds.base.shape[0])
    if ds.gt_ids is not None and ds.gt_ids.shape[1] >= k:
        return ds.gt_ids
    cache = cache_dir() if cache is None else Path(cache)
    path = cache / f"gt-{ds.name}-{_fingerprint(ds, k)}.npy"
    if path.exists():
        gt = np.load(path)
        if gt.shape == (ds.queries.shape[0], k):
            ds.gt_ids = gt
            return gt
    gt = ds.ensure_ground_truth(k, threads)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, gt)
        os.replace(tmp, path)
    except OSError:  # a read-only home is no reason to fail a benchmark
        pass
    return gt


def load_qrels(path) -> dict | None:
    """Relevance judgements of a dataset directory, or None when it has none.

    Two layouts are read:

    - BEIR (scifact-minilm): ``qrels.tsv`` with header ``query-id corpus-id
      score`` in the corpus's string ids, mapped to rows with ``query_ids.txt``
      and ``doc_ids.txt`` (line i = row i).
    - row numbers (wordnet-minilm): header ``query_index doc_index``, relevance 1.

    Returns {"qrels": {query_row: {doc_key: gain}}, "doc_keys": array or None}
    where a result row r is judged as ``doc_keys[r]`` (or r itself when None).
    """
    path = Path(path)
    f = path / "qrels.tsv"
    if not f.exists():
        return None
    lines = f.read_text().splitlines()
    header = lines[0].split("\t")
    qrels: dict = {}
    if header[:2] == ["query_index", "doc_index"]:
        for line in lines[1:]:
            if line:
                q, d = line.split("\t")[:2]
                qrels.setdefault(int(q), {})[int(d)] = 1
        return {"qrels": qrels, "doc_keys": None}
    if (path / "query_ids.txt").exists() and (path / "doc_ids.txt").exists():
        qpos = {q: i for i, q in enumerate((path / "query_ids.txt").read_text().split("\n")) if q}
        doc_keys = np.array([d for d in (path / "doc_ids.txt").read_text().split("\n") if d],
                            dtype=object)
        for line in lines[1:]:
            if line:
                q, d, s = line.split("\t")[:3]
                if q in qpos:
                    qrels.setdefault(qpos[q], {})[d] = int(s)
        return {"qrels": qrels, "doc_keys": doc_keys}
    raise ValueError(f"{f}: unknown qrels layout (header {header}); expected "
                     "'query_index doc_index' or BEIR 'query-id corpus-id score' with "
                     "query_ids.txt and doc_ids.txt beside it")
