"""Residual quantization: beam encoding vs faiss on the same codebooks, decode
and tables vs numpy, SIMD levels vs scalar, RQIndex contract, and the
wordnet-minilm quality figures against faiss."""

import numpy as np
import pytest

import vecpress
from conftest import SHARED
from vecpress import _core
from vecpress.quantizers.rq import ResidualQuantizer


def clustered(rng, n, d, nclusters=40):
    # structured data so that the beam actually matters
    centers = rng.standard_normal((nclusters, d)).astype(np.float32) * 2
    return (centers[rng.integers(0, nclusters, n)]
            + rng.standard_normal((n, d)).astype(np.float32)).astype(np.float32)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    x = clustered(rng, 6000, 48)
    return x[:4000], x[4000:]


def faiss_rq_from(cb, beam):
    faiss = pytest.importorskip("faiss")
    M, K, d = cb.shape
    rq = faiss.ResidualQuantizer(d, M, K.bit_length() - 1)
    rq.max_beam_size = beam
    faiss.copy_array_to_vector(np.ascontiguousarray(cb).ravel(), rq.codebooks)
    rq.is_trained = True
    return rq


@pytest.mark.parametrize("nbits", [4, 6, 8])
@pytest.mark.parametrize("beam", [1, 4, 8])
def test_beam_error_at_most_faiss_same_codebooks(small, nbits, beam):
    train, x = small
    M = 5
    q = ResidualQuantizer(train.shape[1], M, nbits, beam=beam, niter=8,
                          progressive_dim_steps=0).train(train)
    codes, err, rn = q.encode_with_stats(x)
    rec = q.decode(codes)
    ours = ((x - rec) ** 2).sum(1)
    frq = faiss_rq_from(q.codebooks, beam)
    theirs = ((x - frq.decode(frq.compute_codes(x))) ** 2).sum(1)
    assert ours.mean() <= theirs.mean() * (1 + 1e-5) + 1e-6
    # same search on the same tables: per-vector errors agree except near-ties
    assert np.mean(ours <= theirs * (1 + 1e-4) + 1e-5) > 0.995
    # the errors and norms the encoder reports are those of the decoded vectors
    np.testing.assert_allclose(err, ours, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(rn, (rec ** 2).sum(1), rtol=1e-3, atol=1e-3)


def test_wider_beam_never_worse_on_average(small):
    train, x = small
    q = ResidualQuantizer(48, 6, 6, beam=1, niter=8, progressive_dim_steps=0).train(train)
    errs = []
    for beam in (1, 2, 8, 32):
        q.beam = beam
        errs.append(q.encode_with_stats(x)[1].mean())
    assert errs[0] > errs[-1]
    assert all(b <= a * (1 + 1e-6) for a, b in zip(errs, errs[1:]))


def test_decode_and_tables_match_numpy(small):
    train, x = small
    q = ResidualQuantizer(48, 4, 5, beam=4, niter=5).train(train)
    rng = np.random.default_rng(3)
    codes = rng.integers(0, q.ksub, (300, q.M)).astype(np.uint8)
    cb = q.codebooks.astype(np.float64)
    ref = sum(cb[m][codes[:, m]] for m in range(q.M))
    np.testing.assert_allclose(q.decode(codes), ref, rtol=1e-5, atol=1e-5)
    qs = x[:17]
    t = q.compute_tables(qs)
    assert t.shape == (17, q.M, q.ksub) and t.dtype == np.float32
    np.testing.assert_allclose(t, np.einsum("qd,mkd->qmk", qs, cb), rtol=1e-4, atol=1e-4)
    # padded to 256 for the 8-bit scan: inner product with decoded codes
    t256 = q.compute_tables(qs, ksub_stride=256)
    assert (t256[:, :, q.ksub:] == 0).all()
    s = _core.adc_scan_u8(t256, codes)
    np.testing.assert_allclose(s, qs.astype(np.float64) @ ref.T, rtol=1e-4, atol=1e-3)


def test_cross_products_match_numpy(small):
    train, _ = small
    q = ResidualQuantizer(48, 4, 4, niter=3).train(train)
    cr = _core.rq_cross_products(q.codebooks)
    cb = q.codebooks.astype(np.float64)
    for j in range(1, 4):
        for i in range(j):
            np.testing.assert_allclose(cr[j * (j - 1) // 2 + i], 2 * cb[i] @ cb[j].T,
                                       rtol=1e-4, atol=1e-4)


def test_simd_levels_match_scalar(small, simd_level):
    train, x = small
    q = ResidualQuantizer(48, 6, 8, beam=8, niter=5, progressive_dim_steps=0, threads=1)
    vecpress.set_simd_level("scalar")
    q.train(train)
    ref_codes, ref_err, _ = q.encode_with_stats(x)
    vecpress.set_simd_level(simd_level)
    q._cross = None  # recompute the tables at this level
    codes, err, _ = q.encode_with_stats(x)
    # table sums are exact at every level; the GEMM under the tables may differ
    # in the last bits, which can only flip exact near-ties
    assert (codes == ref_codes).all(axis=1).mean() > 0.995
    np.testing.assert_allclose(err, ref_err, rtol=1e-4, atol=1e-4)


def test_training_is_deterministic_and_threads_agree(small):
    train, x = small
    a = ResidualQuantizer(48, 3, 6, beam=4, niter=5, seed=11, threads=1).train(train)
    b = ResidualQuantizer(48, 3, 6, beam=4, niter=5, seed=11, threads=2).train(train)
    np.testing.assert_array_equal(a.codebooks, b.codebooks)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    c = ResidualQuantizer(48, 3, 6, beam=4, niter=5, seed=12).train(train)
    assert not np.array_equal(a.codebooks, c.codebooks)


def test_progress_bar_and_callback_errors(small):
    train, _ = small
    seen = []
    _core.rq_train(train, 3, 4, 2, 3, 256, 1, lambda s, mse: seen.append((s, mse)), 0, 1)
    assert [s for s, _ in seen] == [0, 1, 2]
    assert seen[0][1] > seen[1][1] > seen[2][1] > 0  # each stage lowers the error

    def boom(stage, mse):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _core.rq_train(train, 3, 4, 2, 3, 256, 1, boom, 0, 1)


def check_training_contract(q, train, x):
    """Untrained use, too few training rows and a wrong dimension raise clear errors."""
    with pytest.raises(vecpress.NotTrainedError):
        q.encode(x)
    with pytest.raises(ValueError, match="at least"):
        q.train(train[:10])
    q.train(train)
    with pytest.raises(vecpress.DimensionError):
        q.encode(x[:, :10])


def test_bad_inputs(small):
    train, x = small
    with pytest.raises(ValueError, match="nbits"):
        ResidualQuantizer(48, 4, nbits=9)
    with pytest.raises(ValueError, match="beam"):
        ResidualQuantizer(48, 4, beam=0)
    q = ResidualQuantizer(48, 2, 4, niter=2)
    check_training_contract(q, train, x)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        q.decode(np.full((2, 2), 16, np.uint8))
    with pytest.raises(vecpress.ShapeError):
        q.decode(np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match="cross"):
        _core.rq_encode(x, q.codebooks, 4, np.zeros(3, np.float32))


@pytest.mark.parametrize("nbits", [6, 4])  # 4: two stages per byte, paired tables
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_index_contract_and_adc_scores(small, metric, groups, nbits, tmp_path):
    train, x = small
    base, qs = x[:1500], x[1500:1530]
    idx = vecpress.RQIndex(48, metric, M=6 // groups, nbits=nbits, beam=4, rerank=0,
                           groups=groups)
    assert idx.bytes_per_vector() == (6 if nbits == 6 else 3) + (metric == "l2")
    with pytest.raises(vecpress.NotTrainedError):
        idx.add(base)
    idx.train(train, progress=False)
    ids = idx.add(base, ids=np.arange(1500) + 10)
    s, got = idx.search(qs, 10)
    # ADC scores equal the metric on the reconstructions (norm quantized for l2)
    xb, qq = base, qs
    if metric == "cosine":
        xb = base / np.linalg.norm(base, axis=1, keepdims=True)
        qq = qs / np.linalg.norm(qs, axis=1, keepdims=True)
    rec = idx.quantizer.decode(idx.quantizer.encode(xb)).astype(np.float64)
    if metric == "l2":
        exact = ((qq[:, None, :] - rec[None]) ** 2).sum(-1)
        step = (idx._norm_range[1] - idx._norm_range[0]) / 256
        tol = step + 1e-3 * np.abs(exact).max()
    else:
        exact = qq @ rec.T
        tol = 1e-3
    np.testing.assert_allclose(s, np.take_along_axis(exact, got - 10, 1), atol=tol)
    # and the ADC ranking is the ranking of those scores
    best = exact.min(1) if metric == "l2" else exact.max(1)
    np.testing.assert_allclose(s[:, 0], best, atol=2 * tol)
    idx.remove(ids[:500])
    assert len(idx) == 1000
    _, got2 = idx.search(qs, 5)
    assert (got2 >= 510).all()
    p = tmp_path / "rq.vp"
    idx.save(p)
    back = vecpress.load(p)
    assert isinstance(back, vecpress.RQIndex) and len(back) == 1000 and back.groups == groups
    s3, got3 = back.search(qs, 5)
    np.testing.assert_array_equal(got3, got2)
    ids_new = back.add(base[:3])
    assert ids_new.tolist() == [1510, 1511, 1512]


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_index_4bit_pairs_and_earlier_files(small, metric, tmp_path):
    from vecpress.io import write_arrays

    train, x = small
    idx = vecpress.RQIndex(48, metric, M=5, nbits=4, beam=4).train(train, progress=False)
    idx.add(x[:700])
    assert idx._codes.data.shape == (700, 3 + (metric == "l2"))
    np.testing.assert_array_equal(idx.codes, idx.quantizer.encode(x[:700]))
    want = idx.search(x[700:720], 5)
    # a file written with one 4-bit stage per byte (the earlier layout) still loads
    params, arrays = idx._state()
    params = {"dim": 48, "metric": metric, "next_id": 700, **params}
    old = idx.codes
    if metric == "l2":
        old = np.concatenate([old, idx._codes.data[:, -1:]], axis=1)
    write_arrays(tmp_path / "old.vp", "RQIndex", params,
                 {"ids": idx._ids.data, **arrays, "codes": old})
    back = vecpress.load(tmp_path / "old.vp")
    np.testing.assert_array_equal(back._codes.data, idx._codes.data)
    np.testing.assert_array_equal(back.search(x[700:720], 5)[1], want[1])


def test_index_rerank_is_exact_on_candidates(small):
    train, x = small
    base, qs = x[:1500], x[1500:1550]
    idx = vecpress.RQIndex(48, "l2", M=4, nbits=6, beam=4, rerank=50)
    idx.train(train, progress=False).add(base)
    s, ids = idx.search(qs, 5)
    exact = ((qs[:, None, :] - base[None]) ** 2).sum(-1)
    np.testing.assert_allclose(s, np.take_along_axis(exact, ids, 1), rtol=1e-4, atol=1e-3)
    true = np.argsort(exact, 1)[:, :5]
    rec_rr = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ids, true)])
    _, ids0 = idx.search(qs, 5, rerank=0)
    rec_0 = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ids0, true)])
    assert rec_rr >= rec_0 and rec_rr > 0.8


# ---- group residual quantization ------------------------------------------
def test_group_rq_is_one_rq_per_slice(small):
    train, x = small
    G, M, kw = 3, 2, dict(nbits=5, beam=4, niter=4, seed=21)
    g = vecpress.GroupResidualQuantizer(48, G, M, **kw).train(train, progress=False)
    codes, err, rn = g.encode_with_stats(x)
    assert codes.shape == (len(x), G * M) and g.codebooks.shape == (G, M, 32, 16)
    parts = []
    for i in range(G):
        sl = slice(16 * i, 16 * (i + 1))
        one = ResidualQuantizer(16, M, **(kw | {"seed": 21 + i})).train(train[:, sl])
        np.testing.assert_array_equal(one.codebooks, g.codebooks[i])
        np.testing.assert_array_equal(one.encode(x[:, sl]), codes[:, i * M:(i + 1) * M])
        parts.append(g.codebooks[i][np.arange(M), codes[:, i * M:(i + 1) * M]].sum(1))
    ref = np.concatenate(parts, axis=1)  # numpy decode: codewords summed per group
    np.testing.assert_allclose(g.decode(codes), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(err, ((x - ref) ** 2).sum(1), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(rn, (ref ** 2).sum(1), rtol=1e-3, atol=1e-3)
    t = g.compute_tables(x[:7], scale=1.0, ksub_stride=256)
    adc = np.take_along_axis(t, np.broadcast_to(codes[None, :50], (7, 50, G * M)).transpose(0, 2, 1)
                             .astype(np.int64), 2).sum(1)
    np.testing.assert_allclose(adc, x[:7].astype(np.float64) @ ref[:50].T, rtol=1e-4, atol=1e-3)


def test_group_rq_one_group_is_plain_rq(small):
    train, x = small
    g = vecpress.GroupResidualQuantizer(48, 1, 3, nbits=5, niter=4).train(train)
    r = ResidualQuantizer(48, 3, nbits=5, niter=4).train(train)
    np.testing.assert_array_equal(g.codebooks[0], r.codebooks)
    np.testing.assert_array_equal(g.encode(x), r.encode(x))


def test_group_rq_bad_inputs(small):
    train, x = small
    with pytest.raises(ValueError, match="divide"):
        vecpress.GroupResidualQuantizer(48, 5, 2)
    with pytest.raises(ValueError, match="groups"):
        vecpress.RQIndex(48, "ip", M=2, groups=0)
    g = vecpress.GroupResidualQuantizer(48, 2, 2, nbits=4, niter=2)
    check_training_contract(g, train, x)
    with pytest.raises(vecpress.ShapeError):
        g.decode(np.zeros((2, 2), np.uint8))


# ---- real data: wordnet-minilm against faiss -------------------------------

NTRAIN, NBASE, NQ = 20000, 50000, 1000


def recall10(ids, gt):
    return float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(ids, gt)]))


@pytest.fixture(scope="module")
def wordnet_rq():
    faiss = pytest.importorskip("faiss")
    path = SHARED / "wordnet-minilm"
    if not (path / "base.npy").exists():
        pytest.skip(f"{path} is absent (shared data not available)")
    x = np.load(path / "base.npy").astype(np.float32)
    queries = np.load(path / "queries.npy").astype(np.float32)[:NQ]
    rng = np.random.default_rng(2024)
    train = x[rng.choice(len(x), NTRAIN, replace=False)]
    base = x[:NBASE]
    _, gt = _core.flat_search(base, queries, x.shape[1], 0, 10)
    d = x.shape[1]
    out = {"gt": gt}

    idx = vecpress.RQIndex(d, "ip", M=8, nbits=8, beam=8)
    idx.train(train, progress=False)
    idx.add(base)
    out["ours_mse"] = float(((base - idx.quantizer.decode(idx.codes)) ** 2).sum(1).mean())
    out["ours_recall"] = recall10(idx.search(queries, 10)[1], gt)

    findex = faiss.IndexResidualQuantizer(d, 8, 8, faiss.METRIC_INNER_PRODUCT)
    findex.rq.max_beam_size = 8
    findex.train(train)
    findex.add(base)
    fcodes = faiss.vector_to_array(findex.codes).reshape(len(base), -1)
    out["faiss_mse"] = float(((base - findex.rq.decode(fcodes)) ** 2).sum(1).mean())
    # Same codes, scored by tables instead of decompressing every code (same
    # inner products up to rounding; the default search takes minutes).
    findex.rq.search_type = faiss.AdditiveQuantizer.ST_LUT_nonorm
    out["faiss_recall"] = recall10(findex.search(queries, 10)[1], gt)

    fpq = faiss.IndexPQ(d, 8, 8, faiss.METRIC_INNER_PRODUCT)
    fpq.train(train)
    fpq.add(base)
    out["pq_mse"] = float(((base - fpq.pq.decode(fpq.pq.compute_codes(base))) ** 2).sum(1).mean())
    out["pq_recall"] = recall10(fpq.search(queries, 10)[1], gt)
    print("\nwordnet-minilm RQ8x8 beam 8 (50k base, 1k queries):", out | {"gt": None})
    return out


@pytest.mark.shared_data
def test_wordnet_rq_mse_within_2pct_of_faiss(wordnet_rq):
    assert wordnet_rq["ours_mse"] <= 1.02 * wordnet_rq["faiss_mse"]


@pytest.mark.shared_data
def test_wordnet_rq_recall_matches_faiss(wordnet_rq):
    assert wordnet_rq["ours_recall"] >= wordnet_rq["faiss_recall"] - 0.01


@pytest.mark.shared_data
def test_wordnet_rq_beats_pq_at_8_bytes(wordnet_rq):
    assert wordnet_rq["ours_mse"] < wordnet_rq["pq_mse"]
    assert wordnet_rq["ours_recall"] > wordnet_rq["pq_recall"]
