"""Recall and retrieval quality on the real datasets in ../shared/data (skipped when absent)."""
from pathlib import Path

import numpy as np
import pytest

import vecpress as vp
from vecpress.metrics import ndcg_at_k, recall_at_k


def random_sample(x, n, seed=0):
    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(x.shape[0], n, replace=False))]


def test_binary_sign_rerank_100(wordnet):
    idx = vp.BinaryIndex(384, "ip", rerank=100)
    idx.add(wordnet.base)
    r = recall_at_k(idx.search(wordnet.queries, 10)[1], wordnet.gt_ids, 10)
    assert r >= 0.93, r  # faiss BinaryFlat + numpy rerank: 0.935


@pytest.mark.parametrize("rotation,threshold", [("pca", 0.97), (None, 0.88)])
def test_matryoshka_128_to_384(wordnet, rotation, threshold):
    idx = vp.MatryoshkaIndex(384, "ip", dims=(128, 384), rerank=(100,), rotation=rotation)
    idx.train(random_sample(wordnet.base, 50_000))
    idx.add(wordnet.base)
    r = recall_at_k(idx.search(wordnet.queries, 10)[1], wordnet.gt_ids, 10)
    assert r >= threshold, r


def test_exact_matches_ground_truth(wordnet):
    idx = vp.FlatIndex(384)
    idx.add(wordnet.base)
    assert recall_at_k(idx.search(wordnet.queries, 100)[1], wordnet.gt_ids, 100) > 0.999


def load_qrels(path: Path, query_ids, doc_ids):
    qpos = {q: i for i, q in enumerate(query_ids)}
    qrels = {}
    for line in path.read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        if q in qpos:
            qrels.setdefault(qpos[q], {})[d] = int(s)
    return qrels


def test_scifact_exact_ndcg_reproduces_mteb(scifact):
    root = Path(scifact.extra["path"])
    doc_ids = root.joinpath("doc_ids.txt").read_text().split("\n")[: scifact.base.shape[0]]
    query_ids = root.joinpath("query_ids.txt").read_text().split("\n")[: scifact.queries.shape[0]]
    qrels = load_qrels(root / "qrels.tsv", query_ids, doc_ids)
    idx = vp.FlatIndex(384, "ip")
    idx.add(scifact.base)
    _, ids = idx.search(scifact.queries, 10)
    ndcg = ndcg_at_k([[doc_ids[j] for j in row] for row in ids], qrels, 10)
    assert round(ndcg, 3) == 0.645, ndcg  # published MTEB figure 0.6451
