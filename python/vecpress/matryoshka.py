"""Matryoshka-truncated cascade search and the prefix-recall diagnostic."""
from __future__ import annotations

import numpy as np

from . import _core
from ._validate import as_f32_matrix, check_k, check_positive_int
from .flat import FlatIndex
from .index import METRIC_CODES, register
from .metrics import recall_at_k
from .rotation import PCARotation


def _check_stages(dims, candidates, dim):
    dims = [check_positive_int(d, "each stage dimension") for d in dims]
    if not dims or any(b <= a for a, b in zip(dims, dims[1:])) or dims[-1] > dim:
        raise ValueError(f"dims must be strictly increasing prefix lengths <= dim={dim}, got {dims}")
    candidates = [check_positive_int(c, "each candidate count") for c in candidates]
    if len(candidates) != len(dims) - 1:
        raise ValueError(f"need one candidate count per stage but the last: {len(dims) - 1} "
                         f"for dims={dims}, got {candidates}")
    return dims, candidates


@register
class MatryoshkaIndex(FlatIndex):
    """Cascade search on prefixes of stored vectors (adaptive retrieval).

    Stage 0 scores every vector on its first ``dims[0]`` dimensions and keeps
    ``candidates[0]``; stage s re-scores those on ``dims[s]`` dimensions; the
    last stage keeps k. Vectors are stored once (4 * dim bytes each) and each
    stage reads a prefix of each row in place.

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine"; with cosine each prefix is renormalised.
    dims : increasing prefix lengths, e.g. (128, 384). Default (min(128, dim), dim).
    candidates : candidates kept after each stage but the last (default 100 each).
    rotation : None or "pca". Encoders not trained with a Matryoshka loss
        spread energy over all dimensions, so raw prefixes rank poorly; "pca"
        learns an orthogonal rotation (``train``) that puts the most energy
        first. Full-dimension scores are unchanged by it.
    threads : int, optional (0/None = all cores).

    ``search(queries, k, dims=None, candidates=None)`` overrides the stages per call.
    """

    def __init__(self, dim: int, metric: str = "ip", dims=None, candidates=None,
                 rotation: str | None = None, threads: int | None = None):
        super().__init__(dim, metric, threads)  # FlatIndex: stores the vectors once
        if dims is None:
            dims = (min(128, self.dim), self.dim) if self.dim > 128 else (self.dim,)
        if candidates is None:
            candidates = (100,) * (len(dims) - 1)
        self.dims, self.candidates = _check_stages(dims, candidates, self.dim)
        if rotation not in (None, "pca"):
            raise ValueError(f"rotation must be None or 'pca', got {rotation!r}")
        self.rotation = rotation
        self._rot = PCARotation() if rotation == "pca" else None

    @property
    def is_trained(self) -> bool:
        return self._rot is None or self._rot.is_trained

    def train(self, vectors) -> "MatryoshkaIndex":
        """Fit the rotation on sample vectors (n, dim); a no-op without rotation."""
        if self._rot is not None:
            x = as_f32_matrix(vectors, "training vectors", self.dim)
            if self.metric == "cosine":
                x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
            self._rot.fit(x)
        return self

    @property
    def code_bytes(self) -> int:
        """Bytes per vector the first stage reads (its prefix)."""
        return 4 * self.dims[0]

    def _transform(self, x):
        return self._rot.apply(x) if self._rot is not None else x

    def _search_rows(self, q, k, dims=None, candidates=None):
        dims, cands = _check_stages(self.dims if dims is None else dims,
                                    self.candidates if candidates is None else candidates, self.dim)
        n = len(self._x)
        cands = [min(max(c, k), n) for c in cands]
        metric = METRIC_CODES[self.metric]  # cosine: the kernel renormalises each prefix
        s, rows = _core.matryoshka_search(self._x.data, q, metric, dims, cands, k, self.threads)
        return self._fix_padding(s, rows)

    def _gpu_search_rows(self, q, k, dims=None, candidates=None):
        from . import gpu

        dims, cands = _check_stages(self.dims if dims is None else dims,
                                    self.candidates if candidates is None else candidates, self.dim)
        cands = [min(max(c, k), len(self)) for c in cands]
        return gpu.matryoshka_search(self._gpu["vectors"], q, k, dims, cands, METRIC_CODES[self.metric])

    def _state(self):
        arrays = {"vectors": self._x.data}
        if self._rot is not None and self._rot.is_trained:
            arrays["rotation"] = self._rot.matrix
            arrays["energy"] = np.asarray(self._rot.energy, dtype=np.float64)
        return ({"dims": self.dims, "candidates": self.candidates, "rotation": self.rotation,
                 "threads": self.threads}, arrays)

    @classmethod
    def _from_state(cls, params, arrays):
        obj = cls(params["dim"], params["metric"], params["dims"], params["candidates"],
                  params["rotation"], params.get("threads", 0))
        if obj._rot is not None and "rotation" in arrays:
            obj._rot = PCARotation(np.asarray(arrays["rotation"]), np.asarray(arrays["energy"]))
        return obj._load_vectors(arrays)


def prefix_recall_curve(base, queries, k: int = 10, candidates: int = 100, dims=None,
                        metric: str = "ip", rotation_sample: int = 50_000, ground_truth=None,
                        threads: int | None = None, verbose: bool = True) -> dict:
    """Recall@k of a two-stage cascade (prefix d -> full dim, ``candidates``
    reranked) for each prefix length d, with and without a PCA rotation, so a
    user can choose the prefix for their own data.

    Parameters
    ----------
    base : (n, dim) float array; queries : (nq, dim) float array.
    dims : prefix lengths to try (default: 16, 32, 64, ... up to dim).
    ground_truth : optional (nq, >=k) int array of exact neighbours (row
        numbers); computed with exact search when omitted.

    Returns
    -------
    dict with keys "dims", "raw", "pca" (lists of recall@k) and, when verbose,
    prints a table.
    """
    base = as_f32_matrix(base, "base")
    queries = as_f32_matrix(queries, "queries", base.shape[1])
    k = check_k(k)
    dim = base.shape[1]
    if dims is None:
        dims, d = [], 16
        while d < dim:
            dims.append(d)
            d *= 2
        dims.append(dim)
    flat = MatryoshkaIndex(dim, metric, dims=(dim,), threads=threads)
    flat.add(base)
    gt = flat.search(queries, k)[1] if ground_truth is None else np.asarray(ground_truth)[:, :k]
    rng = np.random.default_rng(0)
    sample = base[rng.choice(base.shape[0], min(rotation_sample, base.shape[0]), replace=False)]
    out = {"dims": list(dims), "raw": [], "pca": []}
    for rot in (None, "pca"):
        idx = MatryoshkaIndex(dim, metric, dims=(dim,), rotation=rot, threads=threads)
        idx.train(sample).add(base)
        for d in dims:
            stages = (d,) if d == dim else (d, dim)
            cands = () if d == dim else (max(candidates, k),)
            ids = idx.search(queries, k, dims=stages, candidates=cands)[1]
            out["raw" if rot is None else "pca"].append(recall_at_k(ids, gt, k))
    if verbose:
        print(f"recall@{k} of prefix d -> full {dim} (rerank {candidates} candidates)")
        print(f"{'prefix':>8} {'raw':>8} {'pca':>8}")
        for d, r, p in zip(out["dims"], out["raw"], out["pca"]):
            print(f"{d:>8} {r:>8.3f} {p:>8.3f}")
    return out

