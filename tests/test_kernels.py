"""Every kernel against a numpy reference, at every SIMD level, on random and real data."""
import numpy as np
import pytest

import reference as ref
import vecpress
from vecpress import _core

METRICS = {"ip": 0, "l2": 1, "cosine": 2}


def data(rng, n=777, nq=37, d=100):
    # d=100 exercises tails of every SIMD width; n not a multiple of any block.
    return rng.standard_normal((n, d), dtype=np.float32), rng.standard_normal((nq, d), dtype=np.float32)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
@pytest.mark.parametrize("d", [100, 37, 8])
def test_flat_search_matches_numpy(rng, simd_level, metric, d):
    x, q = data(rng)
    s, ids = _core.flat_search(x, q, d, METRICS[metric], 10)
    rs = ref.scores(x, q, metric, d)
    es, eids = ref.topk(rs, 10, metric != "l2")
    np.testing.assert_allclose(s, es, rtol=1e-4, atol=1e-3)
    # ids may differ only where scores are (numerically) tied
    got = np.take_along_axis(rs, ids, 1)
    np.testing.assert_allclose(got, es, rtol=1e-4, atol=1e-3)


def test_flat_search_real_sample_exact_ids(sample, simd_level):
    s, ids = _core.flat_search(sample.base, sample.queries, 384, 0, 10)
    es, eids = ref.topk(ref.scores(sample.base, sample.queries, "ip"), 10)
    assert (ids == eids).mean() > 0.999
    np.testing.assert_allclose(s, es, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nq", [1, 3, 130, 300])
def test_flat_search_batch_sizes_and_slicing(rng, nq):
    # small batches slice the base across threads and merge; large ones do not
    x = rng.standard_normal((5000, 64), dtype=np.float32)
    q = rng.standard_normal((nq, 64), dtype=np.float32)
    for threads in (1, 2, 3):
        s, ids = _core.flat_search(x, q, 64, 0, 7, threads)
        es, eids = ref.topk(ref.scores(x, q, "ip"), 7)
        np.testing.assert_array_equal(ids, eids)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_pairwise_scores_match_numpy(rng, simd_level, metric):
    # 1,100 base rows span two packed column chunks; 50 queries two row blocks
    x = rng.standard_normal((1100, 40), dtype=np.float32)
    q = rng.standard_normal((50, 40), dtype=np.float32)
    s = _core.pairwise_scores(x, q, 33, METRICS[metric])
    np.testing.assert_allclose(s, ref.scores(x, q, metric, 33), rtol=1e-4, atol=1e-3)


def test_rotation_apply_is_the_matrix_product(rng):
    x = rng.standard_normal((300, 24), dtype=np.float32)
    rot = vecpress.PCARotation().fit(x)
    np.testing.assert_allclose(rot.apply(x[:70]), x[:70] @ rot.matrix, rtol=1e-4, atol=1e-4)
    with pytest.raises(vecpress.NotTrainedError):
        vecpress.PCARotation().apply(x)


@pytest.mark.parametrize("nq", [2, 40])  # per-query blocks, and packed query panels
def test_ties_broken_by_lower_id(simd_level, nq):
    x = np.ones((250, 16), np.float32)
    q = np.ones((nq, 16), np.float32)
    for metric in (0, 1):
        s, ids = _core.flat_search(x, q, 16, metric, 5)
        np.testing.assert_array_equal(ids, [[0, 1, 2, 3, 4]] * nq)
    d, hids = _core.hamming_search(np.zeros((1, 8), np.uint8), np.zeros((20, 8), np.uint8), 4)
    np.testing.assert_array_equal(hids, [[0, 1, 2, 3]])


@pytest.mark.parametrize("nq", [1, 20])
def test_k_larger_than_n_pads(nq):
    x = np.eye(3, 8, dtype=np.float32)
    s, ids = _core.flat_search(x, np.repeat(x[:1], nq, 0), 8, 0, 5)
    assert (ids[:, :3] == [0, 1, 2]).all() and (ids[:, 3:] == -1).all()


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_rerank_exact(rng, simd_level, metric):
    x, q = data(rng)
    cand = np.stack([rng.choice(x.shape[0], 50, replace=False) for _ in range(q.shape[0])]).astype(np.int64)
    cand[0, :5] = -1  # skipped entries
    s, ids = _core.rerank_exact(x, q, 100, METRICS[metric], cand, 10)
    rs = ref.scores(x, q, metric)
    for i in range(q.shape[0]):
        c = cand[i][cand[i] >= 0]
        order = np.argsort(-rs[i, c] if metric != "l2" else rs[i, c], kind="stable")[:10]
        np.testing.assert_allclose(s[i], rs[i, c[order]], rtol=1e-4, atol=1e-3)


def test_rerank_rejects_out_of_range_candidate(rng):
    x, q = data(rng)
    cand = np.full((q.shape[0], 3), x.shape[0], np.int64)
    with pytest.raises(ValueError, match="out of range"):
        _core.rerank_exact(x, q, 100, 0, cand, 2)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_matryoshka_cascade_matches_numpy(rng, simd_level, metric):
    x, q = data(rng, d=96)
    s, ids = _core.matryoshka_search(x, q, METRICS[metric], [16, 48, 96], [60, 30], 10)
    for i in range(q.shape[0]):
        s0 = ref.scores(x, q[i:i + 1], metric, 16)[0]
        larger = metric != "l2"
        c = np.argsort(-s0 if larger else s0, kind="stable")[:60]
        s1 = ref.scores(x[c], q[i:i + 1], metric, 48)[0]
        c = c[np.argsort(-s1 if larger else s1, kind="stable")[:30]]
        s2 = ref.scores(x[c], q[i:i + 1], metric, 96)[0]
        c = c[np.argsort(-s2 if larger else s2, kind="stable")[:10]]
        np.testing.assert_allclose(s[i], ref.scores(x[c], q[i:i + 1], metric)[0], rtol=1e-4, atol=1e-3)


def test_matryoshka_full_prefix_equals_exact(sample):
    a = _core.matryoshka_search(sample.base, sample.queries, 0, [384], [], 10)
    b = _core.flat_search(sample.base, sample.queries, 384, 0, 10)
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("d", [384, 100, 64, 7])
def test_binarize_matches_numpy(rng, simd_level, d):
    x = rng.standard_normal((300, 384), dtype=np.float32)
    t = rng.standard_normal(d).astype(np.float32) * 0.1
    np.testing.assert_array_equal(_core.binarize(x, d), ref.binarize(x, d))
    np.testing.assert_array_equal(_core.binarize(x, d, t), ref.binarize(x, d, t))


@pytest.mark.parametrize("nbytes", [8, 16, 48, 40, 128])
def test_hamming_matches_numpy_popcount(rng, simd_level, nbytes):
    a = rng.integers(0, 256, (23, nbytes), dtype=np.uint8)
    b = rng.integers(0, 256, (301, nbytes), dtype=np.uint8)
    expect = ref.popcount_distances(a, b)
    np.testing.assert_array_equal(_core.hamming_distances(a, b), expect)
    d, ids = _core.hamming_search(a, b, 9)
    ed, eids = ref.topk(expect, 9, largest=False)
    np.testing.assert_array_equal(d, ed)
    np.testing.assert_array_equal(ids, eids)


def test_hamming_real_sample_vs_numpy_and_faiss(sample, simd_level):
    codes = _core.binarize(sample.base, 384)
    qc = _core.binarize(sample.queries, 384)
    dist = _core.hamming_distances(qc, codes)
    np.testing.assert_array_equal(dist, ref.popcount_distances(qc, codes))
    faiss = pytest.importorskip("faiss")
    fi = faiss.IndexBinaryFlat(384)
    fi.add(codes)
    fd, fids = fi.search(qc, 20)
    d, ids = _core.hamming_search(qc, codes, 20)
    np.testing.assert_array_equal(d, fd)
    np.testing.assert_array_equal(np.take_along_axis(dist, fids, 1), fd)


def test_hamming_rejects_bad_width(rng):
    with pytest.raises(ValueError, match="multiple of 8"):
        _core.hamming_distances(np.zeros((1, 6), np.uint8), np.zeros((3, 6), np.uint8))
    with pytest.raises(ValueError, match="columns"):
        _core.hamming_search(np.zeros((1, 16), np.uint8), np.zeros((3, 8), np.uint8), 1)


def test_binary_asym_tables_score_pm1_decoding(rng):
    d = 100
    q = rng.standard_normal((5, d), dtype=np.float32)
    x = rng.standard_normal((50, d), dtype=np.float32)
    codes = _core.binarize(x, d)
    tables = _core.binary_asym_tables(q, d)
    assert tables.shape == (5, codes.shape[1], 256)
    got = _core.adc_scan_u8(tables, codes)
    pm1 = np.where(x > 0, 1.0, -1.0)
    np.testing.assert_allclose(got, q.astype(np.float64) @ pm1.T, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("M", [1, 7, 48])
def test_adc_u8_matches_numpy(rng, M):
    tables = rng.standard_normal((9, M, 256), dtype=np.float32)
    codes = rng.integers(0, 256, (1000, M), dtype=np.uint8)
    expect = tables[np.arange(9)[:, None, None], np.arange(M)[None, None, :], codes[None, :, :]].sum(2)
    np.testing.assert_allclose(_core.adc_scan_u8(tables, codes), expect, rtol=1e-5, atol=1e-4)
    for largest in (True, False):
        s, ids = _core.adc_search_u8(tables, codes, largest, 12)
        es, _ = ref.topk(expect, 12, largest)
        np.testing.assert_allclose(s, es, rtol=1e-5, atol=1e-4)


def test_topk_select(rng):
    s = rng.standard_normal((7, 500), dtype=np.float32)
    for largest in (True, False):
        v, ids = _core.topk_select(s, 20, largest)
        ev, eids = ref.topk(s, 20, largest)
        np.testing.assert_array_equal(ids, eids)


@pytest.mark.parametrize("k", [32, 300, 700])
def test_topk_select_deep_k_and_ties(rng, k):
    # k >= 32 selects by buffering (reservoir.hpp): the same ids as a full sort, ties
    # (quantized scores) by the lower id, k > n padded with (worst, -1)
    s = rng.integers(0, 50, (5, 600)).astype(np.float32)
    for largest in (True, False):
        v, ids = _core.topk_select(s, k, largest)
        order = np.lexsort((np.broadcast_to(np.arange(600), s.shape), -s if largest else s))
        kk = min(k, 600)
        np.testing.assert_array_equal(ids[:, :kk], order[:, :kk])
        np.testing.assert_array_equal(v[:, :kk], np.take_along_axis(s, order[:, :kk], 1))
        assert (ids[:, kk:] == -1).all()


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("nq", [1, 300])
def test_flat_search_deep_k_matches_sort(rng, simd_level, metric, nq):
    # an inverted file's probes: hundreds of a few thousand centroids (buffered selection)
    x = rng.standard_normal((3000, 48), dtype=np.float32)
    q = rng.standard_normal((nq, 48), dtype=np.float32)
    rs = ref.scores(x, q, metric, 48)
    for k in (40, 384):
        s, ids = _core.flat_search(x, q, 48, METRICS[metric], k, 2)
        es, eids = ref.topk(rs, k, metric != "l2")
        np.testing.assert_allclose(s, es, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(np.take_along_axis(rs, ids, 1), es, rtol=1e-4, atol=1e-3)
        assert (np.sort(ids, 1)[:, 1:] != np.sort(ids, 1)[:, :-1]).all()  # no id twice
    allow = np.zeros(3008, bool)  # whole 64-bit words
    allow[:3000:3] = True
    bits = np.packbits(allow, bitorder="little").view(np.uint64)
    allow = allow[:3000]
    s, ids = _core.flat_search(x, q, 48, METRICS[metric], 384, 2, bits)
    es, eids = ref.topk(np.where(allow, rs, -np.inf if metric != "l2" else np.inf), 384,
                        metric != "l2")
    np.testing.assert_allclose(s, es, rtol=1e-4, atol=1e-3)
    assert allow[ids].all()


def test_kmeans_matches_faiss_objective(sample):
    faiss = pytest.importorskip("faiss")
    x = np.ascontiguousarray(sample.base[:, :16])
    cen, mse = _core.kmeans_train(x, 64, 20, 7)
    km = faiss.Kmeans(16, 64, niter=20, seed=7)
    km.train(x)
    faiss_mse = km.obj[-1] / x.shape[0]
    assert mse <= faiss_mse * 1.03
    a, dist = _core.kmeans_assign(x, cen)
    np.testing.assert_allclose(dist.mean(), ref.scores(cen, x, "l2").min(1).mean(), rtol=1e-3)


def test_kmeans_needs_enough_points(rng):
    with pytest.raises(ValueError, match="at least k"):
        _core.kmeans_train(rng.standard_normal((5, 4), dtype=np.float32), 10)


def test_kernel_argument_checks():
    x = np.zeros((4, 8), np.float32)
    with pytest.raises(TypeError, match="float32"):
        _core.flat_search(x.astype(np.float64), x, 8, 0, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.flat_search(np.asfortranarray(np.zeros((4, 8), np.float32)), x, 8, 0, 1)
    with pytest.raises(ValueError, match="prefix length"):
        _core.flat_search(x, x, 9, 0, 1)
    with pytest.raises(ValueError, match="metric"):
        _core.flat_search(x, x, 8, 5, 1)
    with pytest.raises(ValueError, match="increase"):
        _core.matryoshka_search(x, x, 0, [8, 4], [2], 1)
