"""Coarse quantizers of an inverted file: the centroids, which list a vector joins, and
which lists a query probes. Two siblings share one protocol:

- :class:`FlatCoarse` scores every centroid per query (one GEMM and a deep top-k):
  the cheapest while nlist is a few thousand.
- :class:`TwoLevelCoarse` groups the centroids under about sqrt(nlist) top-level
  centroids, trained hierarchically (k-means on the data, then k-means inside each
  group), and assigns a vector among the centroids of its nearest groups: flat k-means
  over tens of thousands of lists, and a flat scan of them per added vector, cost too
  much (1M vectors, nlist 65,536: 8 s to train, 153 s to assign; flat k-means would take
  on the order of an hour here).

Queries probe exactly (every centroid scored) with both. Probing only the best groups'
centroids was measured and lost: at nlist 16,384, nprobe 256 (1M scale set), ranking
4 / 8 / 16 / 32 candidates per probe found 0.80 / 0.88 / 0.95 / 0.99 of the exact lists
at 0.8x / 1.3x / 2.4x / 3.8x the flat scan's time per query (batch 1000), and a PCA-prefix
first pass fared no better: scoring centroids is one GEMM, and gathering candidates to
rescore them cost more than it saved (benchmarks/coarse_bench.py, the closing note of
issue 11).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _core
from .._validate import file_array, file_finite
from ..errors import FormatError

COARSE_KINDS = ("auto", "flat", "two-level")
# "auto" groups the centroids from this nlist on (measured, see TwoLevelCoarse)
TWO_LEVEL_FROM = 16_384


def coarse_for(kind: str, nlist: int) -> FlatCoarse | TwoLevelCoarse:
    """The coarse quantizer of ``kind`` ("auto" picks by nlist), untrained."""
    if kind == "two-level" or (kind == "auto" and nlist >= TWO_LEVEL_FROM):
        return TwoLevelCoarse()
    return FlatCoarse()


class FlatCoarse:
    """Every centroid scored per query."""

    kind = "flat"

    def train(self, x: np.ndarray, nlist: int, niter: int, seed: int, threads: int) -> np.ndarray:
        """Centroids (nlist, dim) float32 of the sample x (n, dim) float32."""
        centroids, _ = _core.kmeans_train(x, nlist, niter, seed, 256, False, threads)
        return centroids

    def nearest(self, centroids: np.ndarray, x: np.ndarray, k: int, threads: int) -> tuple:
        """(squared L2 distances, list numbers) (n, k) of the k centroids nearest each row."""
        if k == 1:
            lists, dist = _core.kmeans_assign(x, centroids, threads)
            return dist[:, None], lists[:, None]
        return _core.flat_search(centroids, x, x.shape[1], _core.METRICS["l2"], k, threads)

    def probes(self, be, centroids: np.ndarray, q: np.ndarray, metric: int, nprobe: int,
               threads: int) -> tuple:
        """(scores float32, lists int64) (nq, nprobe), best first."""
        return be.flat_search(centroids, q, q.shape[1], metric, nprobe, threads)

    def state(self) -> dict:
        return {}

    def load(self, arrays: dict, centroids: np.ndarray) -> None:
        pass


class TwoLevelCoarse(FlatCoarse):
    """Centroids in groups under top-level centroids. A vector joins the nearest of the
    centroids in its ``_ASSIGN_GROUPS`` nearest groups (approximate: the exact nearest when
    it lies in those groups, measured in benchmarks/coarse_bench.py); queries probe as
    :class:`FlatCoarse` does."""

    kind = "two-level"

    def __init__(self) -> None:
        self.top: np.ndarray | None = None        # (groups, dim) float32
        self.offsets: np.ndarray | None = None    # (groups + 1,) int64: group g holds
        # centroids [offsets[g], offsets[g + 1])

    def train(self, x: np.ndarray, nlist: int, niter: int, seed: int, threads: int) -> np.ndarray:
        """Top-level k-means (about sqrt(nlist) groups), then each group's rows clustered
        into lists in proportion to its size: centroids (nlist, dim) float32, grouped."""
        n = x.shape[0]
        groups = max(1, min(round(math.sqrt(nlist)), n // 39))
        self.top, _ = _core.kmeans_train(x, groups, niter, seed, 256, False, threads)
        member, _ = _core.kmeans_assign(x, self.top, threads)
        sizes = np.bincount(member, minlength=groups)
        share = _apportion(sizes, nlist)
        order = np.argsort(member, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)])
        parts = []
        for g in range(groups):
            if share[g] == 0:
                continue
            rows = x[order[starts[g]:starts[g + 1]]]
            c, _ = _core.kmeans_train(np.ascontiguousarray(rows), int(share[g]), niter,
                                      seed + g + 1, 256, False, threads)
            parts.append(c)
        self.offsets = np.concatenate([[0], np.cumsum(share)]).astype(np.int64)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def _candidates(self, q: np.ndarray, metric: int, wanted: int, threads: int) -> np.ndarray:
        """Centroid numbers (nq, width) int64 of the best-scoring groups holding at least
        ``wanted`` centroids per query (-1 pads)."""
        groups = len(self.top)
        sizes = np.diff(self.offsets)
        take = min(groups, max(1, math.ceil(wanted * groups / self.offsets[-1])))
        while take < groups and np.sort(sizes)[:take].sum() < wanted:
            take += 1  # enough even when the smallest groups rank first
        _, best = _core.flat_search(self.top, q, q.shape[1], metric, take, threads)
        col = np.arange(int(sizes.max()))
        table = np.where(col[None, :] < sizes[:, None], self.offsets[:-1, None] + col, -1)
        return table[np.maximum(best, 0)].reshape(len(q), -1)

    def nearest(self, centroids: np.ndarray, x: np.ndarray, k: int, threads: int) -> tuple:
        l2 = _core.METRICS["l2"]
        cand = self._candidates(x, l2, max(k, _ASSIGN_GROUPS * self.offsets[-1] // len(self.top)),
                                threads)
        return _core.rerank_exact(centroids, x, x.shape[1], l2, cand, k, threads)

    def state(self) -> dict:
        return {"coarse_top": self.top, "coarse_offsets": self.offsets}

    def load(self, arrays: dict, centroids: np.ndarray) -> None:
        """Adopt a saved top level; FormatError unless it groups every centroid."""
        offsets = file_array(arrays, "coarse_offsets", np.int64, (None,))
        groups = len(offsets) - 1
        if groups < 1 or offsets[0] != 0 or offsets[-1] != len(centroids) or (
                np.diff(offsets) < 0).any():
            raise FormatError("array 'coarse_offsets' must rise from 0 to nlist")
        top = file_array(arrays, "coarse_top", np.float32, (groups, centroids.shape[1]))
        self.top = np.ascontiguousarray(file_finite(top, "coarse_top"))
        self.offsets = np.ascontiguousarray(offsets)


# a vector's candidate lists: the centroids of this many nearest groups
_ASSIGN_GROUPS = 4


def _apportion(sizes: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to sizes summing to total, each at most its size (largest
    remainder; a group never gets more lists than rows)."""
    exact = sizes * (total / sizes.sum())
    share = np.minimum(np.floor(exact).astype(np.int64), sizes)
    short = total - int(share.sum())
    order = np.argsort(-(exact - share), kind="stable")
    while short > 0:  # ends: total <= sizes.sum(), so some group has room
        for g in order:
            if short and share[g] < sizes[g]:
                share[g] += 1
                short -= 1
    return share


def balanced_centroids(coarse: FlatCoarse | TwoLevelCoarse, centroids: np.ndarray,
                       x: np.ndarray, threads: int, rounds: int = 3, steps: int = 40) -> tuple:
    """Balanced assignment: (centroids, penalty) with penalty (nlist,) float32 >= 0 added to
    a list's squared distance when a vector picks among its ``BALANCE_CANDIDATES`` nearest
    centroids, so that crowded lists turn vectors away to their next-nearest one.

    Each round takes every sample row's nearest centroids, raises the penalty of lists
    holding more than n / nlist rows and lowers it for the others (subgradient steps on the
    size constraints' dual, in units of the median gap between a row's nearest and second-
    nearest centroid), then moves each centroid to the mean of the rows it holds."""
    n, nlist, dim = x.shape[0], centroids.shape[0], x.shape[1]
    target = n / nlist
    penalty = np.zeros(nlist, np.float32)
    centroids = centroids.copy()
    t = min(BALANCE_CANDIDATES, nlist)
    if t < 2:
        return centroids, penalty
    for _ in range(rounds):
        d, near = coarse.nearest(centroids, x, t, threads)
        gap = float(np.median(d[:, 1] - d[:, 0])) or 1e-6
        for s in range(steps):
            choice = penalized_choice(d, near, penalty)
            sizes = np.bincount(choice, minlength=nlist)
            step = gap / (1 + s) ** 0.5
            penalty = np.maximum(0.0, penalty + step * (sizes / target - 1)).astype(np.float32)
        order = np.argsort(choice, kind="stable")
        sums = np.zeros((nlist, dim), np.float64)
        for s in range(0, n, 65_536):  # row chunks: bounded temporaries
            part = order[s:s + 65_536]
            lab = choice[part]  # sorted
            first = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
            sums[lab[first]] += np.add.reduceat(x[part], first, axis=0)
        held = sizes > 0
        centroids[held] = (sums[held] / sizes[held, None]).astype(np.float32)
    return np.ascontiguousarray(centroids), penalty


def penalized_choice(d: np.ndarray, near: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """The list (n,) each row picks among its candidates near (n, t) int64 (-1 pads) at
    squared distances d (n, t): the least d plus the list's penalty (nlist,) float32."""
    cost = d + np.where(near >= 0, penalty[np.maximum(near, 0)], np.inf)
    return near[np.arange(len(near)), np.argmin(cost, axis=1)]


# balanced assignment: a vector chooses among this many nearest centroids
BALANCE_CANDIDATES = 8
