"""Datasets: the bundled sample and directories laid out like ../shared/data
(base.npy, queries.npy, gt_ids.npy)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_PATH = Path(__file__).with_name("data") / "wordnet_minilm_sample.npz"


@dataclass
class Dataset:
    """Base and query vectors (float32) with optional exact ground truth.

    gt_ids : (nq, >=k) int64 row numbers of the exact neighbours, best first,
        or None (then compute it with :meth:`ensure_ground_truth`).
    """

    name: str
    base: np.ndarray
    queries: np.ndarray
    metric: str = "ip"
    gt_ids: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.base.shape[1])

    def ensure_ground_truth(self, k: int = 100, threads: int | None = None) -> np.ndarray:
        """Exact top-k with :class:`FlatIndex` when the dataset has none (or too few columns)."""
        if self.gt_ids is None or self.gt_ids.shape[1] < k:
            from .indexes import FlatIndex

            idx = FlatIndex(self.dim, self.metric, threads)
            idx.add(self.base)
            self.gt_ids = idx.search(self.queries, min(k, self.base.shape[0]))[1]
        return self.gt_ids


def load_sample() -> Dataset:
    """The bundled real sample: 5,000 WordNet synsets + 200 lemma queries (MiniLM, 384-d)."""
    with np.load(SAMPLE_PATH) as z:
        return Dataset("wordnet-minilm-sample", z["base"].astype(np.float32),
                       z["queries"].astype(np.float32), "ip", None,
                       {"doc_ids": z["doc_ids"], "query_text": z["query_text"]})


def load_npy_dir(path, max_queries: int | None = None) -> Dataset:
    """A directory with base.npy, queries.npy and optionally gt_ids.npy (as in ../shared/data).

    float16 files are cast to float32. The metric is inner product.
    """
    path = Path(path)
    for f in ("base.npy", "queries.npy"):
        if not (path / f).exists():
            raise FileNotFoundError(f"{path} has no {f}; expected base.npy, queries.npy "
                                    "(and optionally gt_ids.npy)")
    base = np.load(path / "base.npy").astype(np.float32)
    queries = np.load(path / "queries.npy").astype(np.float32)
    gt = np.load(path / "gt_ids.npy").astype(np.int64) if (path / "gt_ids.npy").exists() else None
    if max_queries is not None:
        queries = queries[:max_queries]
        gt = None if gt is None else gt[:max_queries]
    return Dataset(path.name, base, queries, "ip", gt, {"path": str(path)})
