"""Merging per-shard candidates into one result (pure NumPy, no Ray).

Every ordering here is "best score first, then the lower id", the order the kernels use
(they break ties by the lower row, which is the lower id when ids grow with insertion
order, as they do by default).
"""
from __future__ import annotations

import numpy as np


def order_best(scores: np.ndarray, ids: np.ndarray, keep: int, larger: bool,
               ties: str = "id") -> np.ndarray:
    """Column order (nq, keep) int64 of the ``keep`` best entries of each row.

    scores : float32 (nq, m); ids : int64 (nq, m), -1 = no entry (sorted last whatever
    its score). larger : whether larger scores are better. ties : "id" (the lower id
    first) or "order" (the earlier column first).
    """
    key = np.where(ids >= 0, -scores.astype(np.float64) if larger else scores, np.inf)
    second = ids if ties == "id" else np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
    order = np.lexsort((second, key), axis=-1)
    return order[:, :keep]


def take_best(keep: int, larger: bool, scores: np.ndarray, ids: np.ndarray,
              *others: np.ndarray | None, ties: str = "id") -> tuple[np.ndarray, ...]:
    """The ``keep`` best columns of (scores, ids, *others), each (nq, m) -> (nq, keep);
    rows with fewer than ``keep`` columns are padded (id -1, score +-inf, others +-inf).
    ties: see :func:`order_best`."""
    nq, m = ids.shape
    if m < keep:
        worst = np.float32(-np.inf if larger else np.inf)
        pad_s = np.full((nq, keep - m), worst, np.float32)
        scores = np.concatenate([scores, pad_s], 1)
        ids = np.concatenate([ids, np.full((nq, keep - m), -1, np.int64)], 1)
        others = tuple(None if o is None else np.concatenate(
            [o, np.full((nq, keep - m), np.inf if o.dtype.kind == "f" else -1, o.dtype)], 1)
            for o in others)
    order = order_best(scores, ids, keep, larger, ties)
    out = [np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)]
    out += [None if o is None else np.take_along_axis(o, order, 1) for o in others]
    return tuple(out)


def merge_results(code_scores: np.ndarray, ids: np.ndarray, exact: np.ndarray | None,
                  k: int, candidates: int, code_larger: bool, exact_larger: bool,
                  exact_ties: str = "id") -> tuple[np.ndarray, np.ndarray]:
    """The single-process search pipeline over the union of the shards' candidates.

    code_scores : float32 (nq, m), the code (scan) scores of each shard's best candidates
    ids : int64 (nq, m), -1 = none
    exact : float32 (nq, m) exact scores of the same candidates, or None (no rerank)
    k : results wanted per query (after the index-size cap)
    candidates : how many the single-process scan keeps (max(rerank, k), capped)

    Returns (scores (nq, k) float32, ids (nq, k) int64), padded with -1 / +-inf: the global
    top ``candidates`` by code score, then (with ``exact``) the top k of those by exact
    score; without ``exact`` the top k by code score. ``exact_ties`` orders equal exact
    scores as the index's rerank store does: "id" (the float32 store's kernel: the lower
    row) or "order" (the float16/int8 stores: the better code score, then the lower id).
    """
    if exact is None:
        s, i = take_best(k, code_larger, code_scores, ids)
        worst = np.float32(-np.inf if code_larger else np.inf)
        return np.where(i >= 0, s, worst).astype(np.float32), i
    _, cand_ids, cand_exact = take_best(candidates, code_larger, code_scores, ids, exact)
    s, i = take_best(k, exact_larger, cand_exact, cand_ids, ties=exact_ties)
    worst = np.float32(-np.inf if exact_larger else np.inf)
    return np.where(i >= 0, s, worst).astype(np.float32), i
