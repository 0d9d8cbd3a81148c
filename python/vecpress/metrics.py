"""Retrieval quality measures shared by tests, the demo and the benchmark harness."""
from __future__ import annotations

import numpy as np


def recall_at_k(found_ids, true_ids, k: int) -> float:
    """Neighbour recall: mean over queries of |found[:k] & true[:k]| / k.

    found_ids, true_ids : (nq, >= k) integer arrays; -1 entries never match.
    """
    found = np.asarray(found_ids)[:, :k]
    true = np.asarray(true_ids)[:, :k]
    if found.shape[0] != true.shape[0]:
        raise ValueError(f"found has {found.shape[0]} rows, ground truth {true.shape[0]}")
    if found.shape[1] < k or true.shape[1] < k:
        raise ValueError(f"need at least k={k} columns in both arrays")
    hits = 0
    for f, t in zip(found, true):
        hits += np.intersect1d(f[f >= 0], t[t >= 0]).size
    return hits / (k * found.shape[0])


def ndcg_at_k(ranked_doc_ids, qrels: dict, k: int = 10) -> float:
    """Mean nDCG@k as in BEIR/MTEB (pytrec_eval's ndcg_cut with graded gains).

    ranked_doc_ids : list (one per query) of ranked document ids (any hashable).
    qrels : {query_index: {doc_id: relevance}}, keyed by position in ranked_doc_ids.
        Queries without judgements are skipped, as pytrec_eval does.
    """
    total, count = 0.0, 0
    for qi, docs in enumerate(ranked_doc_ids):
        rel = qrels.get(qi)
        if not rel:
            continue
        dcg = sum(rel.get(d, 0) / np.log2(r + 2) for r, d in enumerate(list(docs)[:k]))
        ideal = sorted(rel.values(), reverse=True)[:k]
        idcg = sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
        total += dcg / idcg if idcg > 0 else 0.0
        count += 1
    return total / max(count, 1)
