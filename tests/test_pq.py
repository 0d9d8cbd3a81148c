"""Product quantization: codes and ADC distances against faiss on the same
codebooks, kernels against numpy references at every SIMD level, the PQIndex
contract, and recall on wordnet-minilm against faiss measured in the same test."""
import numpy as np
import pytest

import reference as ref
import vecpress
from vecpress import NotTrainedError, PQIndex, ProductQuantizer, _core
from vecpress.quantizers.rotations import PQRotation, balanced_pca


def gaussian(rng, n, d):
    return rng.standard_normal((n, d), dtype=np.float32)


@pytest.fixture(scope="module")
def trained():
    """Random data and our trained codebooks for (M, nbits) in {(8, 8), (16, 4), (7, 4)}."""
    rng = np.random.default_rng(7)
    x, q = gaussian(rng, 3000, 112), gaussian(rng, 45, 112)
    books = {(M, nb): _core.pq_train(x, M, nb, 10, 3) for M, nb in [(8, 8), (16, 4), (7, 4)]}
    return x, q, books


def faiss_pq(centroids):
    faiss = pytest.importorskip("faiss")
    M, ksub, dsub = centroids.shape
    pq = faiss.ProductQuantizer(M * dsub, M, int(np.log2(ksub)))
    faiss.copy_array_to_vector(centroids.ravel(), pq.centroids)
    return pq


def unpack_faiss_codes(fc, M, nbits):
    if nbits == 8:
        return fc
    # faiss packs 4-bit codes as a bit stream: code m in byte m // 2, low nibble first.
    return np.stack([(fc[:, m // 2] >> (4 * (m % 2))) & 15 for m in range(M)], 1).astype(np.uint8)


def adc_reference(tables, codes):
    """(nq, n) float64 sums of table entries."""
    M = codes.shape[1]
    return sum(tables[:, m, codes[:, m]].astype(np.float64) for m in range(M))


# ---- agreement with faiss on the same codebooks ----------------------------------------------

@pytest.mark.parametrize("key", [(8, 8), (16, 4), (7, 4)])
def test_codes_identical_to_faiss(trained, key, simd_level):
    x, _, books = trained
    c = books[key]
    pq = faiss_pq(c)
    ours = _core.pq_encode(x, c)
    theirs = unpack_faiss_codes(pq.compute_codes(x), key[0], key[1])
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("key", [(8, 8), (16, 4), (7, 4)])
def test_tables_match_faiss(trained, key):
    _, q, books = trained
    c = books[key]
    pq = faiss_pq(c)
    import faiss
    M, ksub = key[0], 1 << key[1]
    for ours, theirs in ((_core.adc_table_l2, pq.compute_distance_tables),
                         (_core.adc_table_ip, pq.compute_inner_prod_tables)):
        t = np.empty((len(q), M, ksub), np.float32)
        theirs(len(q), faiss.swig_ptr(q), faiss.swig_ptr(t))
        np.testing.assert_allclose(ours(q, c), t, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", [(8, 8), (16, 4)])
def test_adc_search_matches_faiss_indexpq(trained, key):
    faiss = pytest.importorskip("faiss")
    x, q, books = trained
    c = books[key]
    M, nbits = key
    index = faiss.IndexPQ(x.shape[1], M, nbits)
    faiss.copy_array_to_vector(c.ravel(), index.pq.centroids)
    index.is_trained = True
    index.add(x)
    fd, fi = index.search(q, 10)
    codes = _core.pq_encode(x, c)
    tables = _core.adc_table_l2(q, c)
    if nbits == 8:
        d, i = _core.adc_search_u8(tables, codes, False, 10)
    else:  # fast-scan with every vector re-scored is exact ADC
        d, i = _core.fastscan_search(tables, _core.pq4_pack(codes), len(x), False, 10, len(x))
    np.testing.assert_allclose(d, fd, rtol=1e-5, atol=1e-4)
    # ids may differ only between (numerically) tied distances
    full = adc_reference(tables, codes)
    np.testing.assert_allclose(np.take_along_axis(full, i, 1), fd, rtol=1e-5, atol=1e-4)
    assert (i == fi).mean() > 0.99


@pytest.mark.parametrize("key", [(8, 8), (16, 4)])
def test_decode_matches_numpy_and_faiss(trained, key):
    x, _, books = trained
    c = books[key]
    codes = _core.pq_encode(x[:500], c)
    dec = _core.pq_decode(codes, c)
    np.testing.assert_array_equal(dec, np.concatenate([c[m][codes[:, m]] for m in range(key[0])], 1))
    pq = faiss_pq(c)
    np.testing.assert_allclose(dec, pq.decode(pq.compute_codes(x[:500])), rtol=0, atol=0)


# ---- kernels against numpy, and every SIMD level against scalar -------------------------------

def at_level(level, fn):
    before = vecpress.simd_level()
    vecpress.set_simd_level(level)
    try:
        return fn()
    finally:
        vecpress.set_simd_level(before)


@pytest.mark.parametrize("M", [1, 7, 16])
@pytest.mark.parametrize("nq", [1, 5, 8, 19])
def test_adc_scan_u8_matches_numpy_and_scalar(rng, simd_level, M, nq):
    n = 1000 + 37  # not a multiple of any block size
    tables = rng.standard_normal((nq, M, 256), dtype=np.float32)
    codes = rng.integers(0, 256, (n, M), dtype=np.uint8)
    s = _core.adc_scan_u8(tables, codes)
    np.testing.assert_allclose(s, adc_reference(tables, codes), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(s, at_level("scalar", lambda: _core.adc_scan_u8(tables, codes)))
    for largest in (True, False):
        for threads in (1, 2, 3):
            v, i = _core.adc_search_u8(tables, codes, largest, 10, threads)
            ev, ei = ref.topk(s.astype(np.float64), 10, largest)  # ties by lower id
            np.testing.assert_array_equal(i, ei)
            np.testing.assert_array_equal(v, ev.astype(np.float32))


@pytest.mark.parametrize("M", [5, 48])
def test_adc_scores_do_not_depend_on_batch(rng, simd_level, M):
    # a query alone takes the one-query path, in a batch the 8-query kernel: same bits
    tables = rng.standard_normal((9, M, 256), dtype=np.float32)
    codes = rng.integers(0, 256, (531, M), dtype=np.uint8)
    batch = _core.adc_scan_u8(tables, codes)
    for i in (0, 3, 8):
        np.testing.assert_array_equal(_core.adc_scan_u8(tables[i:i + 1], codes)[0], batch[i])
        v, ids = _core.adc_search_u8(tables[i:i + 1], codes, True, 5)
        vb, idb = _core.adc_search_u8(tables, codes, True, 5)
        np.testing.assert_array_equal(ids[0], idb[i])
        np.testing.assert_array_equal(v[0], vb[i])


def test_adc_search_u8_k_larger_than_n(rng):
    tables = rng.standard_normal((3, 4, 256), dtype=np.float32)
    codes = rng.integers(0, 256, (5, 4), dtype=np.uint8)
    v, i = _core.adc_search_u8(tables, codes, True, 8)
    assert (i[:, 5:] == -1).all() and sorted(i[0, :5]) == list(range(5))


@pytest.mark.parametrize("dsub,ksub", [(8, 256), (4, 16), (3, 16), (12, 256)])
def test_encode_levels_identical(rng, simd_level, dsub, ksub):
    M = 5
    x = gaussian(rng, 700, M * dsub)
    c = gaussian(rng, M * ksub, dsub).reshape(M, ksub, dsub)
    codes = _core.pq_encode(x, c)
    np.testing.assert_array_equal(codes, at_level("scalar", lambda: _core.pq_encode(x, c)))
    d = ((x.reshape(-1, M, 1, dsub) - c[None]) ** 2).sum(-1)  # (n, M, ksub)
    best = np.take_along_axis(d, codes[:, :, None].astype(np.int64), 2)[:, :, 0]
    np.testing.assert_allclose(best, d.min(2), rtol=1e-5, atol=1e-6)


def test_kmeans_small_d_levels_identical(rng, simd_level):
    x = gaussian(rng, 3000, 8)
    c, mse = _core.kmeans_train(x, 64, 8, 5)
    c0, mse0 = at_level("scalar", lambda: _core.kmeans_train(x, 64, 8, 5))
    np.testing.assert_array_equal(c, c0)
    a, d = _core.kmeans_assign(x, c)
    np.testing.assert_array_equal(a, ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1))


def quantize_luts_reference(tables, largest):
    """numpy float32 replica of fastscan_quantize_luts: (nq, Mp, 16) uint8."""
    nq, M, _ = tables.shape
    Mp = M + (M % 2)
    qmax = np.float32(min(127, 65535 // Mp))
    t = (-tables if largest else tables).astype(np.float32)
    lo = t.min(2, keepdims=True)
    span = (t.max(2) - t.min(2)).max(1)
    a = np.where(span > 0, qmax / np.where(span > 0, span, 1), 0).astype(np.float32)
    v = np.rint((t - lo) * a[:, None, None])
    out = np.zeros((nq, Mp, 16), np.uint8)
    out[:, :M] = np.clip(v, 0, qmax).astype(np.uint8)
    return out


@pytest.mark.parametrize("M", [1, 7, 16, 96])
def test_fastscan_matches_numpy_and_scalar(rng, simd_level, M):
    n, nq, k, rescore = 32 * 20 + 13, 11, 10, 25
    tables = rng.standard_normal((nq, M, 16), dtype=np.float32)
    codes = rng.integers(0, 16, (n, M), dtype=np.uint8)
    packed = _core.pq4_pack(codes)
    np.testing.assert_array_equal(_core.pq4_unpack(packed, n, M), codes)
    for largest in (True, False):
        luts = _core.fastscan_quantize_luts(tables, largest)
        np.testing.assert_array_equal(luts, quantize_luts_reference(tables, largest))
        qs = _core.fastscan_scores(luts, packed, n, M)
        np.testing.assert_array_equal(qs, adc_reference(luts.astype(np.float32)[:, :M], codes))
        np.testing.assert_array_equal(
            qs, at_level("scalar", lambda: _core.fastscan_scores(luts, packed, n, M)))
        v, i = _core.fastscan_search(tables, packed, n, largest, k, rescore, 1)
        # reference: the `rescore` best quantized sums (ties by id), re-scored exactly
        _, cand = ref.topk(qs.astype(np.int64), rescore, largest=False)
        exact = np.take_along_axis(adc_reference(tables, codes), cand, 1)
        order = np.lexsort((cand, -exact if largest else exact), axis=1)[:, :k]
        np.testing.assert_array_equal(i, np.take_along_axis(cand, order, 1))
        np.testing.assert_allclose(v, np.take_along_axis(exact, order, 1), rtol=1e-5, atol=1e-4)
        vs, is_ = at_level("scalar", lambda: _core.fastscan_search(tables, packed, n, largest, k,
                                                                   rescore, 1))
        np.testing.assert_array_equal(i, is_)
        np.testing.assert_array_equal(v, vs)


def test_fastscan_without_rescoring_returns_the_quantized_ranking(rng):
    """rescore=0 (the index's default when an exact rerank follows): the k best quantized
    sums (ties by id), scored as those sums mapped back to float: within the LUTs' rounding
    of the exact table sums."""
    n, M, k = 32 * 20 + 13, 12, 10
    tables = rng.standard_normal((7, M, 16), dtype=np.float32)
    codes = rng.integers(0, 16, (n, M), dtype=np.uint8)
    packed = _core.pq4_pack(codes)
    exact = adc_reference(tables, codes)
    for largest in (True, False):
        qs = _core.fastscan_scores(_core.fastscan_quantize_luts(tables, largest), packed, n, M)
        _, want = ref.topk(qs.astype(np.int64), k, largest=False)
        for threads in (1, 2):
            v, i = _core.fastscan_search(tables, packed, n, largest, k, 0, threads)
            np.testing.assert_array_equal(np.sort(i, 1), np.sort(want, 1))
            span = (tables.max(axis=2) - tables.min(axis=2)).max(axis=1)
            np.testing.assert_allclose(v, np.take_along_axis(exact, i, 1),
                                       atol=float(span.max()) * M / 127)


def test_fastscan_full_rescore_is_exact_adc(rng):
    n, M = 500, 12
    tables = rng.standard_normal((6, M, 16), dtype=np.float32)
    codes = rng.integers(0, 16, (n, M), dtype=np.uint8)
    packed = _core.pq4_pack(codes)
    for threads in (1, 2):
        v, i = _core.fastscan_search(tables, packed, n, True, 7, n, threads)
        _, ei = ref.topk(adc_reference(tables, codes), 7, True)
        np.testing.assert_array_equal(i, ei)


def test_fastscan_sliced_small_batches_exact(rng):
    # one or two queries: the base is split across threads (64-block slices) and merged
    n, M = 32 * 64 * 3 + 5, 8
    tables = rng.standard_normal((2, M, 16), dtype=np.float32)
    codes = rng.integers(0, 16, (n, M), dtype=np.uint8)
    packed = _core.pq4_pack(codes)
    _, ei = ref.topk(adc_reference(tables, codes), 10, False)
    for nq in (1, 2):
        for threads in (1, 3):
            v, i = _core.fastscan_search(tables[:nq], packed, n, False, 10, 10**9, threads)
            np.testing.assert_array_equal(i, ei[:nq])


def test_fastscan_bad_inputs():
    codes = np.full((40, 4), 16, np.uint8)
    with pytest.raises(ValueError, match="< 16"):
        _core.pq4_pack(codes)
    with pytest.raises(ValueError, match="bytes"):
        _core.fastscan_search(np.zeros((1, 4, 16), np.float32), np.zeros(10, np.uint8), 40, True, 5)


# ---- Python API ------------------------------------------------------------------------------

def test_product_quantizer_standalone(rng):
    x = gaussian(rng, 2000, 32)
    pq = ProductQuantizer(32, M=4, nbits=8, niter=5)
    with pytest.raises(NotTrainedError, match="train"):
        pq.encode(x)
    pq.train(x)
    codes = pq.encode(x)
    assert codes.shape == (2000, 4) and codes.dtype == np.uint8
    rec = pq.decode(codes)
    assert rec.shape == x.shape and rec.dtype == np.float32
    assert ((x - rec) ** 2).sum(1).mean() < 0.7 * (x ** 2).sum(1).mean()
    t = pq.compute_tables(x[:3], "l2")
    assert t.shape == (3, 4, 256)
    np.testing.assert_allclose(adc_reference(t, codes[:3])[np.arange(3), np.arange(3)],
                               ((x[:3] - rec[:3]) ** 2).sum(1), rtol=1e-4)
    pq2 = ProductQuantizer.from_codebooks(pq.codebooks)
    np.testing.assert_array_equal(pq2.encode(x), codes)
    with pytest.raises(ValueError, match="divisible"):
        ProductQuantizer(30, M=4)
    with pytest.raises(ValueError, match="nbits"):
        ProductQuantizer(32, M=4, nbits=6)
    with pytest.raises(vecpress.ShapeError, match="shape"):
        pq.set_codebooks(np.zeros((4, 16, 8), np.float32))
    with pytest.raises(ValueError, match="at least 256"):
        ProductQuantizer(32, 4).train(x[:100])


@pytest.mark.parametrize("nbits,M", [(8, 8), (4, 16)])
@pytest.mark.parametrize("rotation", [None, "pca"])
def test_pq_index_contract_and_roundtrip(rng, tmp_path, nbits, M, rotation):
    x = gaussian(rng, 1500, 32)
    q = gaussian(rng, 20, 32)
    idx = PQIndex(32, "l2", M=M, nbits=nbits, rotation=rotation, rerank=50, niter=5)
    with pytest.raises(NotTrainedError, match="train"):
        idx.add(x)
    idx.train(x).add(x, ids=np.arange(1500) + 1000)
    s, i = idx.search(q, 5)
    assert i.shape == (20, 5) and (i >= 1000).all()
    # with rerank the scores are exact squared distances of the returned ids
    np.testing.assert_allclose(s, ((q[:, None] - x[i - 1000]) ** 2).sum(-1), rtol=1e-4, atol=1e-4)
    s0, i0 = idx.search(q, 5, rerank=0)
    assert (np.diff(s0, axis=1) >= 0).all()
    idx.save(tmp_path / "pq.vp")
    for mmap in (False, True):
        back = vecpress.load(tmp_path / "pq.vp", mmap=mmap)
        assert isinstance(back, PQIndex) and back.M == M and back.nbits == nbits
        np.testing.assert_array_equal(back.codes, idx.codes)
        np.testing.assert_array_equal(back.quantizer.codebooks, idx.quantizer.codebooks)
        for rr in (None, 0):
            b = back.search(q, 5, rerank=rr)
            a = idx.search(q, 5, rerank=rr)
            np.testing.assert_array_equal(b[1], a[1])
            np.testing.assert_array_equal(b[0], a[0])
    assert idx.remove(np.arange(1000, 1100)) == 100
    assert len(idx) == 1400 and not np.isin(idx.search(q, 10)[1], np.arange(1000, 1100)).any()


@pytest.mark.parametrize("M", [16, 15])
def test_pq4_index_keeps_two_codes_per_byte(rng, tmp_path, M):
    from vecpress.io import write_arrays

    x, q = gaussian(rng, 900, 2 * M), gaussian(rng, 10, 2 * M)
    idx = PQIndex(2 * M, "ip", M=M, nbits=4, niter=3).train(x)
    idx.add(x)
    assert idx._codes.data.shape == (900, (M + 1) // 2)
    assert idx.bytes_per_vector() == (M + 1) // 2
    np.testing.assert_array_equal(idx.codes, idx.encode(x))
    want = idx.search(q, 5)
    # a file written with one 4-bit code per byte (the earlier layout) still loads
    params, arrays = idx._state()
    params = {"dim": idx.dim, "metric": idx.metric, "next_id": len(idx), **params}
    write_arrays(tmp_path / "old.vp", "PQIndex", params,
                 {"ids": idx._ids.data, **arrays, "codes": idx.codes})
    idx.save(tmp_path / "new.vp")
    assert (tmp_path / "new.vp").stat().st_size < (tmp_path / "old.vp").stat().st_size - 800 * M // 2
    for name in ("old.vp", "new.vp"):
        back = vecpress.load(tmp_path / name)
        np.testing.assert_array_equal(back.codes, idx.codes)
        np.testing.assert_array_equal(back.search(q, 5)[1], want[1])


def test_pq_index_bad_params():
    with pytest.raises(ValueError, match="divisible"):
        PQIndex(30, M=8)
    with pytest.raises(ValueError, match="rotation"):
        PQIndex(32, M=8, rotation="random")
    with pytest.raises(ValueError, match="rerank"):
        PQIndex(32, M=8, rerank=-1)
    idx = PQIndex(32, M=8, niter=2).train(np.random.default_rng(0).standard_normal((300, 32)))
    idx.add(np.random.default_rng(1).standard_normal((50, 32)))
    with pytest.raises(ValueError, match="rerank"):
        idx.search(np.zeros((1, 32), np.float32) + 1, 3, rerank=10)


def test_rotations_are_orthogonal_and_balance_pca(rng):
    # correlated data whose variance sits in a few directions
    basis, _ = np.linalg.qr(rng.standard_normal((32, 32)))
    x = (gaussian(rng, 4000, 32) * np.geomspace(3, 0.05, 32).astype(np.float32)) @ basis.T
    x = x.astype(np.float32)
    for kind in ("pca", "opq"):
        r = PQRotation(kind, 4, 8, opq_iters=3, opq_pq_iters=4).fit(x).matrix
        np.testing.assert_allclose(r.T @ r, np.eye(32), atol=1e-4)
    # balanced allocation: each sub-space gets one of the 4 largest eigenvalues
    r = balanced_pca(x, 4)
    w = np.linalg.eigvalsh(x.T.astype(np.float64) @ x / len(x))[::-1]
    energy = ((x @ r) ** 2).mean(0).reshape(4, 8)
    top = [int(np.argmin(np.abs(energy - wj).min(1) / wj)) for wj in w[:4]]
    assert sorted(top) == [0, 1, 2, 3]


# ---- recall on wordnet-minilm, against faiss in the same test ---------------------------------

def recall10(ids, gt):
    return float(np.mean([len(set(ids[i, :10]) & set(gt[i, :10])) / 10 for i in range(len(ids))]))


@pytest.fixture(scope="module")
def wordnet_pq(wordnet):
    faiss = pytest.importorskip("faiss")
    base, queries, gt = wordnet.base, wordnet.queries[:1000], wordnet.gt_ids[:1000]
    rng = np.random.default_rng(0)
    sample = np.ascontiguousarray(base[np.sort(rng.choice(len(base), 50_000, replace=False))])
    return faiss, base, queries, gt, sample


def built(fidx, ours, sample, base):
    """A faiss index and ours, each trained on sample and filled with base."""
    for idx in (fidx, ours):
        idx.train(sample)
        idx.add(base)
    return fidx, ours


@pytest.fixture(scope="module")
def pq48x8(wordnet_pq):
    faiss, base, queries, gt, sample = wordnet_pq
    return built(faiss.IndexPQ(384, 48, 8), PQIndex(384, "l2", M=48, nbits=8), sample, base)


def test_wordnet_pq48x8_recall_vs_faiss(wordnet_pq, pq48x8):
    _, base, queries, gt, _ = wordnet_pq
    fidx, ours = pq48x8
    r_faiss = recall10(fidx.search(queries, 10)[1], gt)
    r_ours = recall10(ours.search(queries, 10)[1], gt)
    print(f"PQ48x8 recall@10: ours {r_ours:.4f} faiss {r_faiss:.4f}")
    assert r_ours >= r_faiss - 0.01


def test_wordnet_pq48x8_rerank100(wordnet_pq, pq48x8):
    _, base, queries, gt, _ = wordnet_pq
    _, ours = pq48x8
    rr = PQIndex(384, "l2", M=48, nbits=8, rerank=100)
    rr.quantizer.set_codebooks(ours.quantizer.codebooks)  # same trained codebooks
    rr.add(base)
    r = recall10(rr.search(queries, 10)[1], gt)
    print(f"PQ48x8 + rerank 100 recall@10: {r:.4f}")
    assert r >= 0.99


def test_wordnet_fastscan96x4_recall_vs_faiss(wordnet_pq):
    faiss, base, queries, gt, sample = wordnet_pq
    fidx, ours = built(faiss.IndexPQFastScan(384, 96, 4), PQIndex(384, "l2", M=96, nbits=4),
                       sample, base)
    r_faiss = recall10(fidx.search(queries, 10)[1], gt)
    r_ours = recall10(ours.search(queries, 10)[1], gt)
    print(f"PQ96x4 fast-scan recall@10: ours {r_ours:.4f} faiss {r_faiss:.4f}")
    assert r_ours >= r_faiss - 0.01
