"""The index contract: add/search/remove, ids, validation and recall on the real sample."""
import numpy as np
import pytest

import vecpress as vp
from vecpress.metrics import recall_at_k


def make(kind, dim=384, metric="ip"):
    if kind == "flat":
        return vp.FlatIndex(dim, metric)
    if kind == "matryoshka":
        return vp.MatryoshkaIndex(dim, metric, dims=(dim // 3, dim), rerank=(50,))
    if kind == "matryoshka_pca":
        return vp.MatryoshkaIndex(dim, metric, dims=(dim // 3, dim), rerank=(50,), rotation="pca")
    if kind == "binary":
        return vp.BinaryIndex(dim, metric, rerank=50)
    if kind == "binary_asym_pca":
        return vp.BinaryIndex(dim, metric, bits=dim // 2, rotation="pca", threshold="median",
                              query="float", rerank=100)
    raise ValueError(kind)


KINDS = ["flat", "matryoshka", "matryoshka_pca", "binary", "binary_asym_pca"]


def built(kind, sample, metric="ip"):
    idx = make(kind, metric=metric)
    if not idx.is_trained:
        idx.train(sample.base)
    idx.add(sample.base)
    return idx


@pytest.mark.parametrize("kind,min_recall", [("flat", 1.0), ("matryoshka", 0.72),
                                             ("matryoshka_pca", 0.95), ("binary", 0.80),
                                             ("binary_asym_pca", 0.9)])
def test_recall_on_real_sample(sample, kind, min_recall):
    gt = sample.ensure_ground_truth(10)
    idx = built(kind, sample)
    scores, ids = idx.search(sample.queries, 10)
    assert scores.dtype == np.float32 and ids.dtype == np.int64 and ids.shape == (200, 10)
    assert recall_at_k(ids, gt, 10) >= min_recall
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("kind", KINDS)
def test_metrics_agree_with_numpy(sample, kind, metric):
    rng = np.random.default_rng(0)
    base = sample.base * rng.uniform(0.5, 2.0, (sample.base.shape[0], 1)).astype(np.float32)
    q = sample.queries[:50]
    idx = make(kind, metric=metric)
    if not idx.is_trained:
        idx.train(base)
    idx.add(base)
    s, ids = idx.search(q, 5)
    import reference as ref
    full = ref.scores(base, q, metric)
    np.testing.assert_allclose(s, np.take_along_axis(full, ids, 1), rtol=1e-3, atol=1e-3)
    if kind == "flat":
        _, eids = ref.topk(full, 5, metric != "l2")
        assert (ids == eids).mean() > 0.99


@pytest.mark.parametrize("kind", KINDS)
def test_ids_and_remove(sample, kind):
    idx = make(kind)
    if not idx.is_trained:
        idx.train(sample.base)
    user_ids = np.arange(5000, dtype=np.int64) * 7 + 3
    idx.add(sample.base, user_ids)
    assert len(idx) == 5000
    s, ids = idx.search(sample.base[:20], 1)
    np.testing.assert_array_equal(ids[:, 0], user_ids[:20])  # each vector finds itself
    removed = user_ids[:10]
    assert idx.remove(removed) == 10
    assert len(idx) == 4990
    _, ids = idx.search(sample.base[:10], 50)
    assert not np.isin(ids, removed).any()
    with pytest.raises(vp.UnknownIdError, match="not in the index"):
        idx.remove([removed[0]])
    with pytest.raises(vp.DuplicateIdError):
        idx.add(sample.base[:1], [user_ids[100]])
    new = idx.add(sample.base[:2])  # auto ids continue after the largest id ever used
    assert new.tolist() == [user_ids.max() + 1, user_ids.max() + 2]


@pytest.mark.parametrize("kind", KINDS)
def test_k_greater_than_len_pads(sample, kind):
    idx = make(kind)
    if not idx.is_trained:
        idx.train(sample.base)
    s, ids = idx.search(sample.queries[:2], 3)  # empty index
    assert (ids == -1).all() and np.isneginf(s).all()
    idx.add(sample.base[:4])
    s, ids = idx.search(sample.queries[:2], 10)
    assert (ids[:, :4] >= 0).all() and (ids[:, 4:] == -1).all()
    assert np.isneginf(s[:, 4:]).all()


def test_l2_padding_is_inf(sample):
    idx = vp.FlatIndex(384, "l2")
    idx.add(sample.base[:2])
    s, ids = idx.search(sample.queries[:1], 4)
    assert np.isposinf(s[0, 2:]).all() and (ids[0, 2:] == -1).all()


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input(sample, kind):
    idx = make(kind)
    if not idx.is_trained:
        with pytest.raises(vp.NotTrainedError, match="train"):
            idx.add(sample.base[:3])
        idx.train(sample.base)
    idx.add(sample.base[:100])
    with pytest.raises(vp.DimensionError, match="dimension 383"):
        idx.search(sample.queries[:, :383], 1)
    with pytest.raises(vp.DTypeError, match="floating point"):
        idx.add(sample.base[:2].astype(np.int32))
    bad = sample.queries[:3].copy()
    bad[1, 5] = np.nan
    with pytest.raises(vp.NonFiniteError, match="row 1"):
        idx.search(bad, 1)
    bad[1, 5] = np.inf
    with pytest.raises(vp.NonFiniteError):
        idx.add(bad)
    with pytest.raises(vp.EmptyInputError):
        idx.add(np.empty((0, 384), np.float32))
    with pytest.raises(ValueError, match="k must be >= 1"):
        idx.search(sample.queries[:1], 0)
    with pytest.raises(TypeError, match="k must be an integer"):
        idx.search(sample.queries[:1], 2.5)
    with pytest.raises(vp.ShapeError, match="one id per vector"):
        idx.add(sample.base[:3], [1, 2])
    with pytest.raises(vp.DuplicateIdError, match="duplicates"):
        idx.add(sample.base[:2], [10**9, 10**9])
    with pytest.raises(ValueError, match=">= 0"):
        idx.add(sample.base[:1], [-5])
    with pytest.raises(vp.DTypeError):
        idx.remove([1.5])
    assert len(idx) == 100  # nothing was added by the failed calls


def test_dtype_conversion_is_explicit(sample):
    idx = vp.FlatIndex(384)
    idx.add(sample.base[:10].astype(np.float16))
    idx.add(sample.base[10:20].astype(np.float64))
    _, ids = idx.search(sample.base[:3].astype(np.float64)[:, ::1], 1)
    assert ids[:, 0].tolist() == [0, 1, 2]
    # non-contiguous input is accepted (copied), one vector may be 1-D
    _, ids = idx.search(np.asfortranarray(sample.base[:2]), 1)
    assert ids[:, 0].tolist() == [0, 1]
    assert idx.search(sample.base[5], 1)[1].tolist() == [[5]]


def test_constructor_checks():
    with pytest.raises(ValueError, match="metric"):
        vp.FlatIndex(8, "hamming")
    with pytest.raises(ValueError, match="dim"):
        vp.FlatIndex(0)
    with pytest.raises(ValueError, match="increasing"):
        vp.MatryoshkaIndex(64, dims=(32, 16), rerank=(10,))
    with pytest.raises(ValueError, match="rerank count"):
        vp.MatryoshkaIndex(64, dims=(16, 64), rerank=())
    with pytest.raises(ValueError, match="bits"):
        vp.BinaryIndex(64, bits=65)
    with pytest.raises(ValueError, match="threshold"):
        vp.BinaryIndex(64, threshold="max")
    with pytest.raises(ValueError, match="cosine"):
        idx = vp.FlatIndex(4, "cosine")
        idx.add(np.zeros((1, 4), np.float32))


def test_matryoshka_per_call_stages_and_rotation_preserves_scores(sample):
    raw = vp.MatryoshkaIndex(384, dims=(384,))
    rot = vp.MatryoshkaIndex(384, dims=(384,), rotation="pca").train(sample.base)
    raw.add(sample.base)
    rot.add(sample.base)
    s1, i1 = raw.search(sample.queries, 10)
    s2, i2 = rot.search(sample.queries, 10)
    np.testing.assert_allclose(s1, s2, atol=1e-4)  # rotation preserves inner products
    _, i3 = rot.search(sample.queries, 10, dims=(64, 384), rerank=(200,))
    assert recall_at_k(i3, i1, 10) > 0.95


def test_binary_no_rerank_returns_hamming(sample):
    idx = vp.BinaryIndex(384, rerank=0)
    idx.add(sample.base)
    d, ids = idx.search(sample.queries[:5], 10)
    import reference as ref
    codes, qc = ref.binarize(sample.base, 384), ref.binarize(sample.queries[:5], 384)
    np.testing.assert_array_equal(d, np.take_along_axis(ref.popcount_distances(qc, codes), ids, 1))
    assert idx.bytes_per_vector() == 48
    with pytest.raises(ValueError, match="no float vectors"):
        idx.search(sample.queries[:1], 1, rerank=10)


def test_asymmetric_beats_symmetric(sample):
    gt = sample.ensure_ground_truth(10)
    r = {}
    for query in ("binary", "float"):
        idx = vp.BinaryIndex(384, rerank=0, query=query)
        idx.add(sample.base)
        r[query] = recall_at_k(idx.search(sample.queries, 10)[1], gt, 10)
    assert r["float"] > r["binary"] + 0.05


def test_prefix_recall_curve(sample, capsys):
    out = vp.prefix_recall_curve(sample.base, sample.queries[:100], dims=[32, 128, 384])
    assert out["dims"] == [32, 128, 384]
    assert out["raw"][-1] == pytest.approx(1.0) and out["pca"][-1] == pytest.approx(1.0)
    assert out["pca"][0] > out["raw"][0]  # rotation helps short prefixes
    assert "prefix" in capsys.readouterr().out


def test_recall_at_k_hand_made():
    found = np.array([[1, 2, 3], [4, 5, -1]])
    true = np.array([[3, 2, 9], [7, 8, 9]])
    assert recall_at_k(found, true, 3) == pytest.approx(2 / 6)
    assert recall_at_k(found, true, 1) == 0.0


def test_to_gpu_without_device_is_clear(sample):
    from vecpress import gpu
    if gpu.is_available():
        pytest.skip("a GPU is available here; tests/test_gpu.py covers the GPU path")
    idx = vp.FlatIndex(384)
    idx.add(sample.base[:10])
    with pytest.raises(vp.GPUUnavailableError, match="CUDA|device"):
        idx.to_gpu()
    assert not idx.on_gpu and idx.search(sample.queries[:1], 1)[1].shape == (1, 1)
