"""Matryoshka-truncated cascade search and the prefix-recall diagnostic."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._validate import as_f32_matrix, check_choice, check_count, check_int, check_k
from ..errors import ParameterError
from ..metrics import recall_at_k
from ..quantizers.rotations import PCARotation
from .base import SearchParams, register, trains
from .coded import refuse_retraining
from .flat import FlatIndex


def _check_stages(dims: Any, rerank: Any, dim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Stage prefix lengths (strictly increasing, <= dim) and the candidates kept after
    each stage but the last (an int means the same count after every such stage)."""
    if isinstance(dims, (int, np.integer)) or dims is None:
        raise ParameterError(f"dims must be a sequence of prefix lengths, got {dims!r}")
    dims = tuple(check_int(d, "each stage dimension", 1, dim) for d in dims)
    if not dims or any(b <= a for a, b in zip(dims, dims[1:])):
        raise ParameterError(f"dims must be strictly increasing prefix lengths <= dim={dim}, "
                             f"got {dims}")
    if isinstance(rerank, (int, np.integer)) and not isinstance(rerank, bool):
        rerank = (rerank,) * (len(dims) - 1)
    rerank = tuple(check_count(c, "each rerank count", 1) for c in rerank)
    if len(rerank) != len(dims) - 1:
        raise ParameterError(f"need one rerank count per stage but the last: {len(dims) - 1} "
                             f"for dims={dims}, got {rerank}")
    return dims, rerank


@register
class MatryoshkaIndex(FlatIndex):
    """Cascade search on prefixes of stored vectors (adaptive retrieval).

    Stage 0 scores every vector on its first ``dims[0]`` dimensions and keeps
    ``rerank[0]`` candidates; stage s rescores those on ``dims[s]`` dimensions;
    the last stage keeps k. Vectors are stored once (4 * dim bytes each) and
    each stage reads a prefix of each row in place.

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine"; with cosine each prefix is renormalised.
    dims : increasing prefix lengths, e.g. (128, 384). Default (min(128, dim), dim).
        A last stage below dim never looks past it (a warning says so).
    rerank : candidates kept after each stage but the last (default 100 each; an
        int applies to every stage).
    rotation : None or "pca". Encoders not trained with a Matryoshka loss
        spread energy over all dimensions, so raw prefixes rank poorly; "pca"
        learns an orthogonal rotation (``train``) that puts the most energy
        first. Full-dimension scores are unchanged by it.
    threads : int, optional (0/None = all cores).

    ``search(queries, k, *, rerank=None, dims=None, threads=None)`` overrides the
    stages per call.
    """

    _gpu_kernels = ("matryoshka_search",)

    def __init__(self, dim: int, metric: str = "ip", dims: Sequence[int] | None = None,
                 rerank: int | Sequence[int] | None = None, rotation: str | None = None,
                 threads: int | None = None) -> None:
        super().__init__(dim, metric, threads)  # FlatIndex: stores the vectors once
        if dims is None:
            dims = (min(128, self.dim), self.dim) if self.dim > 128 else (self.dim,)
        if rerank is None:
            rerank = 100
        self.dims, self.rerank = _check_stages(dims, rerank, self.dim)
        if self.dims[-1] < self.dim:
            warnings.warn(f"MatryoshkaIndex: the last stage scores {self.dims[-1]} of {self.dim} "
                          f"dimensions, so results never look past dimension {self.dims[-1]}; "
                          f"end dims with {self.dim} to rank on full vectors",
                          UserWarning, stacklevel=2)
        self.rotation = check_choice(rotation, "rotation", (None, "pca"))
        self._rotation = PCARotation() if rotation == "pca" else None

    @property
    def is_trained(self) -> bool:
        return self._rotation is None or self._rotation.is_trained

    @trains
    def train(self, vectors: Any) -> MatryoshkaIndex:
        """Fit the rotation on sample vectors (n, dim); a no-op without rotation.

        With rotation="pca", only on an empty index: the stored vectors are kept rotated
        by the current rotation, so when the index holds vectors this raises
        :class:`vecpress.IndexNotEmptyError` and changes nothing; build a new index, or
        remove every vector first, and add the vectors again.
        """
        if self._rotation is not None:
            refuse_retraining(self)
            self._rotation.fit(self._training_sample(vectors))
        return self

    @property
    def code_bytes(self) -> int:
        """Bytes per vector the first stage reads (its prefix)."""
        return 4 * self.dims[0]

    def search(self, queries: Any, k: int, *, rerank: int | Sequence[int] | None = None,
               dims: Sequence[int] | None = None, threads: int | None = None,
               filter: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`vecpress.Index.search`; ``dims`` and ``rerank`` (candidates kept after
        each stage but the last) override the index's stages for this call."""
        return self._search(queries, k, self._search_params(rerank=rerank, threads=threads,
                                                            dims=dims), filter)

    def _search_params(self, rerank=None, threads=None, dims=None, **_):
        if dims is None and rerank is None:
            stages, counts = self.dims, self.rerank
        else:
            stages = self.dims if dims is None else dims
            default = self.rerank[0] if self.rerank else 100
            counts = rerank if rerank is not None else (
                self.rerank if dims is None else default)
            stages, counts = _check_stages(stages, counts, self.dim)
        return SearchParams(rerank=counts, threads=self._threads(threads), dims=stages)

    def _scan(self, q, n_candidates: int, params: SearchParams):
        n = len(self)
        counts = [min(max(c, n_candidates), n) for c in params.rerank]
        x = self._arrays_on(self._backend)["vectors"]
        # cosine: the kernel renormalises each prefix of the stored unit vectors
        return self._backend.matryoshka_search(x, q, _core.METRICS[self.metric],
                                               list(params.dims), counts, n_candidates,
                                               params.threads, allow=params.allow)

    def _scores_exact(self, params: SearchParams) -> bool:
        return params.dims[-1] == self.dim  # the last stage scores every dimension

    def _state(self):
        arrays = {}
        if self._rotation is not None and self._rotation.is_trained:
            arrays["rotation"] = self._rotation.matrix
            arrays["energy"] = np.asarray(self._rotation.energy, dtype=np.float64)
        # "candidates" is the file format's name for the per-stage rerank counts.
        return ({"dims": list(self.dims), "candidates": list(self.rerank),
                 "rotation": self.rotation, "threads": self.threads}, arrays)

    @classmethod
    def _from_state(cls, params, arrays):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # said once, when it was built
            obj = cls(params["dim"], params["metric"], params["dims"], params["candidates"],
                      params["rotation"], params.get("threads", 0))
        if obj._rotation is not None and "rotation" in arrays:
            obj._rotation = PCARotation.from_file(arrays, obj.dim)
        return obj


def prefix_recall_curve(base, queries, k: int = 10, rerank: int = 100, dims=None,
                        metric: str = "ip", rotation_sample: int = 50_000, ground_truth=None,
                        threads: int | None = None, verbose: bool = True) -> dict:
    """Recall@k of a two-stage cascade (prefix d -> full dim, ``rerank``
    candidates rescored) for each prefix length d, with and without a PCA rotation, so a
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
            cands = () if d == dim else (max(rerank, k),)
            ids = idx.search(queries, k, dims=stages, rerank=cands)[1]
            out["raw" if rot is None else "pca"].append(recall_at_k(ids, gt, k))
    if verbose:
        print(f"recall@{k} of prefix d -> full {dim} (rerank {rerank} candidates)")
        print(f"{'prefix':>8} {'raw':>8} {'pca':>8}")
        for d, r, p in zip(out["dims"], out["raw"], out["pca"]):
            print(f"{d:>8} {r:>8.3f} {p:>8.3f}")
    return out

