"""The inverted-file index: exact against the flat scan of the same codec when every list
is probed, recall on the real sample, add/remove/save/load/mmap round trips, stores."""
import numpy as np
import pytest

import vecpress as vp
from vecpress.io import read_arrays, write_arrays
from vecpress.metrics import recall_at_k


def saved_arrays(path):
    """(kind, params, writable copies of the arrays) of the index file at path."""
    kind, params, arrays = read_arrays(path)
    return kind, params, {k: np.array(v) for k, v in arrays.items()}


def assert_refused(path, kind, params, arrays, match=None):
    """A file with these (checksummed, crafted) arrays is refused with a FormatError."""
    write_arrays(path, kind, params, arrays)
    with pytest.raises(vp.FormatError, match=match):
        vp.load(path)


def codecs(dim):
    return {
        "pq8": lambda: vp.ProductQuantizer(dim, 16, 8, niter=5),
        "pq4": lambda: vp.ProductQuantizer(dim, 32, 4, niter=5),
        "rq": lambda: vp.ResidualQuantizer(dim, 4, 8, beam=2),
        "rq4": lambda: vp.ResidualQuantizer(dim, 5, 4, beam=2),
        "binary": lambda: vp.BinaryQuantizer(dim),
    }


@pytest.fixture(scope="module")
def data(sample):
    return np.ascontiguousarray(sample.base[:3000, :64]), np.ascontiguousarray(sample.queries[:40, :64])


@pytest.mark.parametrize("soar", [0.0, 1.0])
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("codec", ["pq8", "pq4", "rq", "binary"])
def test_all_lists_probed_equals_flat_scan_of_the_same_codes(data, codec, metric, soar):
    """by_residual=False, nprobe=nlist: the same codes scanned by list give the flat
    ADC scan's scores and ids exactly (with soar too: a row scanned in both its lists
    comes back once)."""
    x, q = data
    if codec == "binary" and metric == "l2":
        pytest.skip("binary codes score inner products only")
    ivf = vp.IVFIndex(64, 16, codecs(64)[codec](), metric, by_residual=False, soar=soar)
    ivf.train(x)
    codes = ivf.quantizer.encode(x)
    rec = ivf.quantizer.decode(codes)
    ivf.add(x)
    s, ids = ivf.search(q, 10, nprobe=16)
    ref = q @ rec.T if metric == "ip" else ((q[:, None, :] - rec[None]) ** 2).sum(-1)
    order = np.argsort(-ref if metric == "ip" else ref, axis=1, kind="stable")[:, :10]
    np.testing.assert_allclose(s, np.take_along_axis(ref, order, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(ref, ids, 1), s, rtol=1e-4, atol=1e-4)
    if codec == "pq8" and metric == "ip":  # bit-identical with the flat PQ index
        flat = vp.PQIndex(64, "ip", M=16, nbits=8)
        flat.quantizer.set_codebooks(ivf.quantizer.codebooks)
        flat.add(x)
        fs, fids = flat.search(q, 10)
        np.testing.assert_array_equal(fids, ids)
        np.testing.assert_array_equal(fs, s)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
@pytest.mark.parametrize("codec", ["pq8", "pq4", "rq4"])
def test_residual_scores_are_exact_for_the_reconstruction(data, codec, metric):
    """With residual codes the score is the metric against centroid + decoded residual."""
    x, q = data
    ivf = vp.IVFIndex(64, 8, codecs(64)[codec](), metric, by_residual=True)
    ivf.train(x)
    ivf.add(x[:500])
    s, ids = ivf.search(q, 5, nprobe=8)
    xp, qp = ivf.transform(x[:500]), ivf.transform(q)
    import vecpress._core as core
    lists, _ = core.kmeans_assign(xp, ivf.centroids)
    rec = ivf.centroids[lists] + ivf.quantizer.decode(ivf.quantizer.encode(xp - ivf.centroids[lists]))
    ref = qp @ rec.T if metric != "l2" else ((qp[:, None, :] - rec[None]) ** 2).sum(-1)
    np.testing.assert_allclose(s, np.take_along_axis(ref, ids, 1), rtol=1e-3, atol=1e-3)


def test_recall_on_real_sample_with_rerank(sample):
    gt = sample.ensure_ground_truth(10)
    ivf = vp.IVFIndex(384, 32, vp.ProductQuantizer(384, 48, 8, niter=5), rerank=100)
    ivf.train(sample.base)
    ivf.add(sample.base)
    low = recall_at_k(ivf.search(sample.queries, 10, nprobe=2)[1], gt, 10)
    high = recall_at_k(ivf.search(sample.queries, 10, nprobe=32)[1], gt, 10)
    assert high >= 0.97 and low < high
    assert recall_at_k(ivf.search(sample.queries, 10, nprobe=32, rerank=0)[1], gt, 10) >= 0.6


def _built(x, store):
    ivf = vp.IVFIndex(64, 8, codecs(64)["pq8"](), "l2", rerank=30, store=store)
    ivf.train(x)
    ids = ivf.add(x[:2000], np.arange(2000) * 2 + 1)
    assert ivf.remove(ids[:100]) == 100
    ivf.add(x[2000:])  # auto ids after the largest
    return ivf, ids[:100]


@pytest.mark.parametrize("store", ["float32", "float16", "int8"])
def test_add_remove_save_load_mmap(data, store, tmp_path):
    x, q = data
    ivf, removed = _built(x, store)
    s, i = ivf.search(q, 10, nprobe=4)
    assert not np.isin(i, removed).any() and len(ivf) == len(x) - 100
    ivf.save(tmp_path / "ivf.vp")
    for mmap in (False, True):
        back = vp.load(tmp_path / "ivf.vp", mmap=mmap)
        assert isinstance(back, vp.IVFIndex) and len(back) == len(ivf)
        s2, i2 = back.search(q, 10, nprobe=4)
        np.testing.assert_array_equal(i2, i)
        np.testing.assert_allclose(s2, s, rtol=1e-6)
        assert back.memory_report()["store_in_ram"] == (0.0 if mmap else ivf._store.bytes_per_vector)
        back.add(x[:5])  # a mapped store is copied on first write
        assert len(back) == len(ivf) + 5
    if store != "float32":  # compact stores rerank nearly as the float32 one
        ref, _ = _built(x, "float32")
        ri = ref.search(q, 10, nprobe=4)[1]
        assert np.mean([np.isin(a, b).mean() for a, b in zip(ri, i)]) > 0.9


def test_bad_input(data):
    x, q = data
    with pytest.raises(vp.ParameterError):
        vp.IVFIndex(64, 0)
    with pytest.raises(vp.ParameterError):
        vp.IVFIndex(64, 8, vp.ProductQuantizer(32, 8, 8))
    with pytest.raises(vp.ParameterError):
        vp.IVFIndex(64, 8, "pq")
    with pytest.raises(vp.ParameterError):
        vp.IVFIndex(64, 8, store="float8")
    ivf = vp.IVFIndex(64, 8, codecs(64)["pq8"]())
    with pytest.raises(vp.NotTrainedError):
        ivf.add(x)
    with pytest.raises(vp.ParameterError):
        vp.IVFIndex(64, 4000).train(x)
    ivf.train(x)
    ivf.add(x[:100])
    with pytest.raises(vp.IndexNotEmptyError):
        ivf.train(x)  # would silently invalidate the stored codes
    with pytest.raises(vp.ParameterError):
        ivf.search(q, 5, nprobe=0)
    with pytest.raises(vp.ParameterTypeError):
        ivf.search(q, 5, nprobe=1.5)
    with pytest.raises(vp.ParameterError):
        ivf.search(q, 5, rerank=10)  # built without a store
    with pytest.raises(vp.DimensionError):
        ivf.search(q[:, :32], 5)
    assert ivf.search(q, 5, nprobe=10**6)[1].shape == (40, 5)  # capped at nlist


def test_default_nlist_and_nprobe(sample):
    ivf = vp.IVFIndex(384)
    ivf.train(sample.base)
    assert ivf.nlist == min(int(4 * np.sqrt(len(sample.base))), len(sample.base) // 39)
    ivf.add(sample.base)
    assert ivf.search(sample.queries[:3], 5)[1].shape == (3, 5)


def test_fastscan_lists_equal_the_flat_fastscan(data):
    """4-bit PQ on IP scans lists in fast-scan blocks: probing every list with every code
    rescored gives the flat fast-scan index's result exactly."""
    x, q = data
    ivf = vp.IVFIndex(64, 16, vp.ProductQuantizer(64, 32, 4, niter=5), "ip", by_residual=False,
                      rescore=len(x))
    ivf.train(x)
    ivf.add(x)
    flat = vp.PQIndex(64, "ip", M=32, nbits=4, rescore=len(x))
    flat.quantizer.set_codebooks(ivf.quantizer.codebooks)
    flat.add(x)
    s, ids = ivf.search(q, 10, nprobe=16)
    fs, fids = flat.search(q, 10)
    np.testing.assert_array_equal(ids, fids)
    np.testing.assert_array_equal(s, fs)
    # fewer lists, with residuals: the scores are still the exact table sums plus <q, c>
    res = vp.IVFIndex(64, 16, vp.ProductQuantizer(64, 32, 4, niter=5), "ip", rescore=64,
                      by_residual=True)
    res.train(x)
    res.add(x)
    s, ids = res.search(q, 10, nprobe=4)
    lists, _ = vp._core.kmeans_assign(x, res.centroids)
    rec = res.centroids[lists] + res.quantizer.decode(res.quantizer.encode(x - res.centroids[lists]))
    np.testing.assert_allclose(s, np.take_along_axis(q @ rec.T, ids, 1), rtol=1e-4, atol=1e-4)


def test_fastscan_without_rescoring_ranks_by_the_quantized_sums(data):
    """rescore=0 (the default when an exact rerank follows): the rows are the k best by
    quantized table sum, as the flat kernel computes them, and the scores are those sums
    mapped back to float, within the LUT quantization's error of the exact table sums."""
    x, q = data
    ivf = vp.IVFIndex(64, 16, vp.ProductQuantizer(64, 32, 4, niter=5), "ip", by_residual=False,
                      rescore=0)
    ivf.train(x)
    ivf.add(x)
    s, ids = ivf.search(q, 10, nprobe=16)
    tables = ivf.quantizer._tables(q, "ip")
    luts = vp._core.fastscan_quantize_luts(tables, True)
    codes = ivf.codes
    sums = vp._core.fastscan_scores(luts, vp._core.pq4_pack(codes), len(x), 32).astype(np.int64)
    rows = np.searchsorted(ivf._ids.data, ids)  # ids were given in row order
    kth = np.sort(sums, axis=1)[:, 9]
    got = np.take_along_axis(sums, rows, 1)
    assert (got <= kth[:, None]).all()  # every returned row is among the 10 smallest sums
    assert (np.diff(got, axis=1) >= 0).all()  # best first
    exact = np.take_along_axis(q @ ivf.quantizer.decode(codes).T, rows, 1)
    span = (tables.max(axis=2) - tables.min(axis=2)).max(axis=1)
    np.testing.assert_allclose(s, exact, atol=float(span.max()) / 127 * 32)
    # and with the exact rerank on top the result is the exact top-k of those candidates
    rr = vp.IVFIndex(64, 16, vp.ProductQuantizer(64, 32, 4, niter=5), "ip", by_residual=False,
                     rerank=50)
    rr.train(x)
    rr.add(x)
    s2, ids2 = rr.search(q, 10, nprobe=16)
    np.testing.assert_allclose(s2, np.take_along_axis(q @ x.T, np.searchsorted(rr._ids.data, ids2), 1),
                               rtol=1e-5, atol=1e-5)


def test_untrained_int8_store_saves_and_loads(tmp_path):
    ivf = vp.IVFIndex(64, 8, codecs(64)["pq8"](), rerank=10, store="int8")
    ivf.save(tmp_path / "empty.vp")
    back = vp.load(tmp_path / "empty.vp")
    assert len(back) == 0 and not back.is_trained


def test_float16_store_refuses_values_past_its_range(data):
    x, q = data
    ivf = vp.IVFIndex(64, 8, codecs(64)["pq8"](), "l2", rerank=10, store="float16")
    ivf.train(x)
    with pytest.raises(vp.ParameterError, match="float16"):
        ivf.add(x[:10] * 1e7)
    assert len(ivf) == 0  # nothing of the refused add was kept


@pytest.mark.parametrize("codec", ["pq4", "rabitq"])
def test_reranked_fastscan_results_do_not_depend_on_the_layout(data, codec, tmp_path):
    """With a rerank the fast-scan candidates are the best by quantized score, ties by the
    lower row, whatever order the lists are scanned in: an index scanning a delta layout
    and its reloaded, regrouped copy return the same ids and scores."""
    x, q = data
    # 4 sub-quantizers: coarse sums, many ties at the candidates' boundary
    quantizer = (vp.ProductQuantizer(x.shape[1], 4, 4) if codec == "pq4"
                 else vp.RaBitQuantizer(x.shape[1]))
    index = vp.IVFIndex(x.shape[1], 16, quantizer, "ip", nprobe=4, rerank=12)
    index.train(x)
    index.add(x[:1500])
    index.search(q, 10)
    index.add(x[1500:2500])
    index.remove(np.arange(0, 2500, 5))
    s, i = index.search(q, 10)
    index.save(tmp_path / "w.vp")
    s2, i2 = vp.load(tmp_path / "w.vp").search(q, 10)
    np.testing.assert_array_equal(i, i2)
    np.testing.assert_array_equal(s, s2)


@pytest.mark.parametrize("codec", ["pq8", "pq4"])
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_writes_between_searches_match_a_regrouped_index(data, codec, metric, tmp_path):
    """Adds after a search are scanned as a second layout and removes remap the grouped
    rows instead of regrouping; the results equal those of an index regrouped from scratch
    (its saved and reloaded copy) on 8-bit codes, and hold the same ids on fast-scan."""
    x, q = data
    quantizer = (vp.ProductQuantizer(x.shape[1], 8, 8) if codec == "pq8"
                 else vp.ProductQuantizer(x.shape[1], 16, 4))
    index = vp.IVFIndex(x.shape[1], 16, quantizer, metric, nprobe=16)
    index.train(x)
    index.add(x[:1500])
    index.search(q, 10)  # groups the first 1,500 rows
    index.add(x[1500:1700])  # scanned as the delta layout
    index.remove(np.arange(0, 1700, 7))  # remapped, not regrouped
    index.add(x[1700:1750])
    s, i = index.search(q, 10)
    assert not np.isin(i, np.arange(0, 1700, 7)).any()
    index.save(tmp_path / "w.vp")
    fresh = vp.load(tmp_path / "w.vp")
    s2, i2 = fresh.search(q, 10)
    if codec == "pq8":
        np.testing.assert_array_equal(i, i2)
        np.testing.assert_allclose(s, s2, rtol=1e-5, atol=1e-5)
    else:
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i, i2)]) > 0.97
    # every vector added after the first grouping is found as its own best match
    _, own = index.search(x[1701:1750:7], 1)
    assert (own[:, 0] == np.arange(1701, 1750, 7)).mean() > 0.8


# ---- RaBitQ codes in the inverted file -------------------------------------------------

def _rabitq_reference(ivf, q):
    """numpy RaBitQ estimates (nq, n) of every stored row, by the IVF formula: the codes
    encode r = x - c_l, the query is rotated uncentred, the probe's bias carries <q, c_l>
    ("ip") or |q - c_l|^2 ("l2")."""
    qz = ivf.quantizer
    codes = ivf._codes.data
    signs = 2.0 * np.unpackbits(codes[:, : qz.D // 8], axis=1, bitorder="little") - 1.0
    s = ivf.quantizer.rotate(q).astype(np.float64) @ signs.T  # <2b - 1, P q>
    f_mul = qz.factors(codes)[:, 1].astype(np.float64)
    c = ivf.centroids[ivf._lists.data].astype(np.float64)
    if ivf.metric == "l2":
        bias = ((q[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
        return bias + ivf._row_term.data[None] - 2.0 * (f_mul / 2) * s
    return q.astype(np.float64) @ c.T + (f_mul / 2) * s


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_rabitq_lists_give_the_rabitq_estimates(data, metric, simd_level):
    """Every list probed, no rerank: the scores are RaBitQ's estimates (within the 8-bit
    LUTs' rounding) and the rows their best k; every SIMD level returns the same rows."""
    from test_pq import at_level

    x, q = data
    ivf = vp.IVFIndex(64, 16, vp.RaBitQuantizer(64), metric)
    ivf.train(x)
    ivf.add(x)
    s, ids = ivf.search(q, 10, nprobe=16)
    ref = _rabitq_reference(ivf, q)
    rows = np.searchsorted(ivf._ids.data, ids)
    got_ref = np.take_along_axis(ref, rows, 1)
    tol = 0.02 * float(np.abs(ref).max())
    np.testing.assert_allclose(s, got_ref, atol=tol)
    best = np.sort(ref, axis=1)[:, ::-1] if metric == "ip" else np.sort(ref, axis=1)
    # the k-th returned estimate is within the rounding of the true k-th best estimate
    np.testing.assert_allclose(got_ref[:, -1], best[:, 9], atol=2 * tol)
    s2, ids2 = at_level("scalar", lambda: ivf.search(q, 10, nprobe=16))
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_allclose(s2, s, rtol=1e-5, atol=1e-6)  # the rotation's float sums


def test_rabitq_lists_recall_on_real_sample(sample):
    gt = sample.ensure_ground_truth(10)
    ivf = vp.IVFIndex(384, 64, vp.RaBitQuantizer(384), "ip", rerank=100)
    ivf.train(sample.base)
    ivf.add(sample.base)
    ids = ivf.search(sample.queries, 10, nprobe=64)[1]
    assert recall_at_k(ids, gt, 10) >= 0.97  # every list: the rerank's candidates suffice
    ids = ivf.search(sample.queries, 10, nprobe=16)[1]
    assert recall_at_k(ids, gt, 10) >= 0.85
    bare = ivf.search(sample.queries, 10, nprobe=64, rerank=0)[1]
    assert recall_at_k(bare, gt, 10) >= 0.6  # 1 bit per dimension, estimates alone


def written_then_reloaded(make, x, q, nprobe, path):
    """An index from make() after writes between searches (add, search, add, remove every
    7th), checked against a fresh index of the surviving rows and against its reloaded
    copies (mmap and not): (index, ids of a search at nprobe)."""
    ivf = make()
    ivf.train(x)
    ivf.add(x[:2000])
    ivf.search(q, 5, nprobe=nprobe)  # group the lists, then write (a delta layout)
    ivf.add(x[2000:])
    removed = np.arange(0, 3000, 7)
    ivf.remove(removed)
    _, i = ivf.search(q, 10, nprobe=nprobe)
    assert not np.isin(i, removed).any() and all(len(set(r[r >= 0])) == (r >= 0).sum() for r in i)
    fresh = make()
    fresh.train(x)
    keep = np.setdiff1d(np.arange(3000), removed)
    fresh.add(x[keep], ids=keep)
    np.testing.assert_array_equal(fresh.search(q, 10, nprobe=nprobe)[1], i)
    ivf.save(path)
    for mmap in (False, True):
        back = vp.load(path, mmap=mmap)
        assert type(back.quantizer) is type(ivf.quantizer) and back.soar == ivf.soar
        np.testing.assert_array_equal(back.search(q, 10, nprobe=nprobe)[1], i)
    return ivf, i


def test_rabitq_lists_add_remove_save_load_filter(data, tmp_path):
    x, q = data
    ivf, _ = written_then_reloaded(lambda: vp.IVFIndex(64, 8, vp.RaBitQuantizer(64), "l2",
                                                       rerank=20), x, q, 4, tmp_path / "r.vp")
    allow = np.arange(1, 3000, 3)
    _, fi = ivf.search(q, 10, nprobe=8, filter=allow)
    assert np.isin(fi[fi >= 0], allow).all()
    rep = ivf.memory_report()
    assert rep["codes"] == 64 // 8 + 16 + 64 // 8 + 8  # row codes + the scan's blocks


def test_rabitq_lists_bad_input(data, tmp_path):
    x, _ = data
    with pytest.raises(vp.ParameterError, match="ex_bits"):
        vp.IVFIndex(64, 8, vp.RaBitQuantizer(64, ex_bits=2))
    with pytest.raises(vp.ParameterError, match="by_residual"):
        vp.IVFIndex(64, 8, vp.RaBitQuantizer(64), by_residual=False)
    ivf = vp.IVFIndex(64, 8, vp.RaBitQuantizer(64))
    ivf.train(x)
    ivf.add(x[:200])
    ivf.save(tmp_path / "r.vp")
    kind, params, arrays = saved_arrays(tmp_path / "r.vp")
    for at, value in ((4, np.nan), (4, -1.0), (12, np.inf)):  # f_mul NaN / < 0, f_err inf
        codes = arrays["codes"].copy()
        codes[3, 64 // 8 + at: 64 // 8 + at + 4] = np.frombuffer(np.float32(value).tobytes(),
                                                                np.uint8)
        # checksums valid, factors nonsense
        assert_refused(tmp_path / "bad.vp", kind, params, {**arrays, "codes": codes})


@pytest.mark.parametrize("codec", ["pq4", "rabitq", "pq8"])
def test_list_scans_refuse_row_numbers_past_the_index(data, codec):
    """The scans check the rows they read (not every row up front, which cost a one-query
    search as much as its scan): a row map pointing past the index raises KernelError."""
    x, q = data
    qz = {"pq4": lambda: vp.ProductQuantizer(64, 16, 4), "rabitq": lambda: vp.RaBitQuantizer(64),
          "pq8": lambda: vp.ProductQuantizer(64, 16, 8)}[codec]()
    ivf = vp.IVFIndex(64, 4, qz, nprobe=4)
    ivf.train(x)
    ivf.add(x[:500])
    ivf.search(q[:1], 5)
    packed, rows, boff, _ = ivf._layouts()[0]
    bad = np.where(rows >= 0, rows + 10**6, rows)
    probes = np.tile(np.arange(4), (2, 1))
    with pytest.raises(vp.KernelError, match="row number"):
        if codec == "pq4":
            vp._core.ivf_fastscan_search(ivf.quantizer._tables(q[:2], "ip"), packed, bad, boff,
                                         ivf._codes.data, probes, None, True, 5, 0, 1)
        elif codec == "rabitq":
            vp._core.ivf_rabitq_search(ivf.quantizer.rotate(q[:2]), 1.0, packed, bad, boff, 500,
                                       probes, None, True, 5, 1)
        else:
            vp._core.ivf_adc_search_u8(ivf._byte_tables(q[:2]), packed, bad, boff, 500, probes,
                                       None, None, True, 5, 1)


def test_soar_second_list_minimises_the_spill_loss(data):
    """With nlist <= 16 every centroid is a candidate: the second list is the numpy
    argmin of ||x - c'||^2 + soar <r, x - c'>^2 / ||r||^2 over the other lists."""
    x, _ = data
    ivf = vp.IVFIndex(64, 16, codecs(64)["pq8"](), "ip", soar=1.5)
    ivf.train(x)
    ivf.add(x)
    c = ivf.centroids
    own = ivf._lists.data
    r = x - c[own]
    diff = x[:, None, :] - c[None]
    loss = (diff ** 2).sum(-1) + 1.5 * np.einsum("id,ijd->ij", r, diff) ** 2 / (r * r).sum(1,
                                                                                        keepdims=True)
    loss[np.arange(len(x)), own] = np.inf
    spill = ivf._spill.data
    assert (spill != own).all() and (spill >= 0).all()
    chosen = loss[np.arange(len(x)), spill]
    np.testing.assert_allclose(chosen, loss.min(1), rtol=1e-4, atol=1e-4)


def test_soar_raises_recall_at_equal_nprobe(sample):
    x, q = sample.base, sample.queries[:200]
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    recall = {}
    for soar in (0.0, 1.0):
        ivf = vp.IVFIndex(384, 64, vp.ProductQuantizer(384, 48, 4, niter=5), "ip", rerank=50,
                          soar=soar)
        ivf.train(x)
        ivf.add(x)
        _, ids = ivf.search(q, 10, nprobe=4)
        assert all(len(set(row)) == 10 for row in ids)  # no row twice
        recall[soar] = recall_at_k(ids, truth, 10)
    assert recall[1.0] > recall[0.0] + 0.03, recall


@pytest.mark.parametrize("codec", ["pq8", "pq4"])
def test_soar_add_remove_save_load_filter(data, codec, tmp_path):
    x, q = data
    ivf, i = written_then_reloaded(lambda: vp.IVFIndex(64, 8, codecs(64)[codec](), "ip",
                                                       rerank=20, soar=1.0), x, q, 2,
                                   tmp_path / "s.vp")
    assert (i >= 0).all()  # 10 distinct rows each: repeats are dropped
    allow = np.arange(1, 3000, 3)
    _, fi = ivf.search(q, 10, nprobe=1, filter=allow)
    assert np.isin(fi, allow).all() and all(len(set(r)) == 10 for r in fi)
    rep = ivf.memory_report()
    assert rep["lists"] == 4.0 + 8.0 * 2 + 4.0  # every row spilled: two row-map entries


def test_soar_bad_input(data, tmp_path):
    x, _ = data
    with pytest.raises(vp.ParameterError, match="by_residual"):
        vp.IVFIndex(64, 8, codecs(64)["rq"](), soar=1.0)  # residual codes depend on the list
    with pytest.raises(vp.ParameterError, match="by_residual"):
        vp.IVFIndex(64, 8, vp.RaBitQuantizer(64), soar=1.0)
    for bad in (-1.0, float("nan"), 1e9):
        with pytest.raises(vp.ParameterError):
            vp.IVFIndex(64, 8, codecs(64)["pq8"](), soar=bad)
    with pytest.raises(vp.ParameterTypeError):
        vp.IVFIndex(64, 8, codecs(64)["pq8"](), soar="1")
    ivf = vp.IVFIndex(64, 8, codecs(64)["pq8"](), soar=1.0)
    ivf.train(x)
    ivf.add(x[:200])
    ivf.save(tmp_path / "s.vp")
    kind, params, arrays = saved_arrays(tmp_path / "s.vp")
    for value in (8, -2):
        spill = arrays["spill"].copy()
        spill[5] = value
        assert_refused(tmp_path / "bad.vp", kind, params, {**arrays, "spill": spill}, "spill")
    assert_refused(tmp_path / "bad.vp", kind, params,
                   {k: v for k, v in arrays.items() if k != "spill"})


def test_two_level_coarse_groups_every_centroid(data):
    from vecpress.indexes.coarse import TwoLevelCoarse, _apportion

    share = _apportion(np.array([50, 3, 0, 900, 47]), 97)
    assert share.sum() == 97 and (share <= [50, 3, 0, 900, 47]).all()
    x, _ = data
    tl = TwoLevelCoarse()
    cen = tl.train(x, 100, 5, 7, 2)
    assert cen.shape == (100, 64) and tl.offsets[0] == 0 and tl.offsets[-1] == 100
    assert len(tl.top) == 10 and (np.diff(tl.offsets) >= 1).all()
    # assignment: the nearest of the nearest groups' centroids, nearly always the nearest
    _, near = tl.nearest(cen, x, 1, 2)
    exact = np.argmin(((x[:, None, :] - cen[None]) ** 2).sum(-1), axis=1)
    assert (near[:, 0] == exact).mean() > 0.97


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_two_level_coarse_index(data, metric, tmp_path):
    x, q = data
    ivf = vp.IVFIndex(64, 64, codecs(64)["pq8"](), metric, coarse="two-level", by_residual=False,
                      rerank=20)
    ivf.train(x)
    ivf.add(x)
    assert ivf._coarse.kind == "two-level"
    flat = vp.IVFIndex(64, 64, codecs(64)["pq8"](), metric, coarse="flat", by_residual=False,
                       rerank=20)
    flat.train(x)
    assert flat._coarse.kind == "flat"
    # every list probed: the flat scan of the same codes, as with a flat coarse quantizer
    s, ids = ivf.search(q, 10, nprobe=64)
    ref = q @ x.T if metric == "ip" else ((q[:, None, :] - x[None]) ** 2).sum(-1)
    np.testing.assert_allclose(s, np.take_along_axis(ref, ids, 1), rtol=1e-4, atol=1e-4)
    # vectors join their nearest centroid among their nearest groups': nearly always the
    # nearest of all
    exact = np.argmin(((x[:, None, :] - ivf.centroids[None]) ** 2).sum(-1), axis=1)
    assert (ivf._lists.data == exact).mean() > 0.97
    ivf.save(tmp_path / "t.vp")
    for mmap in (False, True):
        back = vp.load(tmp_path / "t.vp", mmap=mmap)
        assert back._coarse.kind == "two-level"
        np.testing.assert_array_equal(back.search(q, 10, nprobe=8)[1], ivf.search(q, 10, nprobe=8)[1])


def test_two_level_coarse_bad_input(data, tmp_path):
    x, _ = data
    with pytest.raises(vp.ParameterError, match="coarse"):
        vp.IVFIndex(64, 8, coarse="tree")
    ivf = vp.IVFIndex(64, 16, codecs(64)["pq8"](), coarse="two-level")
    ivf.train(x)
    ivf.add(x[:300])
    ivf.save(tmp_path / "t.vp")
    kind, params, arrays = saved_arrays(tmp_path / "t.vp")
    bad_offsets = arrays["coarse_offsets"].copy()
    bad_offsets[1], bad_offsets[2] = bad_offsets[2], bad_offsets[1]  # not rising
    top_nan = arrays["coarse_top"].copy()
    top_nan[0, 0] = np.nan
    for name, value in (("coarse_offsets", bad_offsets), ("coarse_offsets", bad_offsets[:-1]),
                        ("coarse_top", top_nan), ("coarse_top", arrays["coarse_top"][:-1])):
        assert_refused(tmp_path / "bad.vp", kind, params, {**arrays, name: value})
    assert_refused(tmp_path / "bad.vp", kind, params,
                   {k: v for k, v in arrays.items() if k != "coarse_top"})


@pytest.mark.parametrize("coarse", ["flat", "two-level"])
def test_balanced_lists_are_even_and_persist(sample, coarse, tmp_path):
    x, q = sample.base, sample.queries[:50]
    sizes = {}
    for balanced in (False, True):
        ivf = vp.IVFIndex(384, 64, vp.ProductQuantizer(384, 48, 4, niter=5), "ip", rerank=20,
                          balanced=balanced, coarse=coarse)
        ivf.train(x)
        ivf.add(x)
        sizes[balanced] = np.bincount(ivf._lists.data, minlength=64)
    target = len(x) / 64
    assert sizes[True].max() < 1.35 * target < sizes[False].max(), (sizes[True].max(),
                                                                     sizes[False].max())
    # the expected rows scanned per probe, sum(size^2) / n, near its floor n / nlist
    ideal = len(x) ** 2 / 64
    assert (sizes[True].astype(float) ** 2).sum() < 1.02 * ideal < (sizes[False].astype(float) ** 2).sum()
    ivf.save(tmp_path / "b.vp")
    back = vp.load(tmp_path / "b.vp")
    np.testing.assert_array_equal(back._assign(x[:500]), ivf._assign(x[:500]))  # penalties kept
    np.testing.assert_array_equal(back.search(q, 10, nprobe=8)[1], ivf.search(q, 10, nprobe=8)[1])
    kind, params, arrays = saved_arrays(tmp_path / "b.vp")
    for value in (-1.0, np.nan):
        pen = arrays["list_penalty"].copy()
        pen[3] = value
        assert_refused(tmp_path / "bad.vp", kind, params, {**arrays, "list_penalty": pen})


@pytest.mark.parametrize("codec,metric", [("pq4", "ip"), ("pq8", "l2"), ("rabitq", "ip")])
def test_saved_layout_opens_without_regrouping(data, codec, metric, tmp_path):
    """The scan's grouped lists are saved: a reopened index (mmap or not) searches them as
    saved, and crafted layouts are refused."""
    x, q = data
    quant = vp.RaBitQuantizer(64) if codec == "rabitq" else codecs(64)[codec]()
    ivf = vp.IVFIndex(64, 8, quant, metric, rerank=10)
    ivf.train(x)
    ivf.add(x[:2000])
    ivf.search(q, 5, nprobe=2)
    ivf.add(x[2000:])  # a delta layout: saving regroups everything
    ivf.remove(np.arange(0, 3000, 11))
    want = ivf.search(q, 10, nprobe=3)
    ivf.save(tmp_path / "l.vp")
    for mmap in (False, True):
        back = vp.load(tmp_path / "l.vp", mmap=mmap)
        assert back._layout is not None and back._built == len(back)
        got = back.search(q, 10, nprobe=3)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    kind, params, arrays = saved_arrays(tmp_path / "l.vp")
    rows_bad = arrays["layout_rows"].copy()
    rows_bad[np.flatnonzero(rows_bad >= 0)[0]] = len(ivf)
    offs_bad = arrays["layout_offsets"].copy()
    offs_bad[1], offs_bad[2] = offs_bad[2], offs_bad[1]
    for name, value in (("layout_rows", rows_bad), ("layout_rows", arrays["layout_rows"][:-32]),
                        ("layout_offsets", offs_bad), ("layout_codes", arrays["layout_codes"][:-1])):
        assert_refused(tmp_path / "bad.vp", kind, params, {**arrays, name: value}, "layout")
    # files without a saved layout (older ones) regroup on first search
    write_arrays(tmp_path / "old.vp", kind, params,
                 {k: v for k, v in arrays.items() if not k.startswith("layout_")})
    old = vp.load(tmp_path / "old.vp")
    assert old._layout is None
    np.testing.assert_array_equal(old.search(q, 10, nprobe=3)[1], want[1])


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_matryoshka_funnel_codes_a_rotated_prefix_and_reranks_in_full(data, metric, tmp_path):
    """prefix=24 of 64: lists and codes on the first 24 PCA-rotated dimensions, rerank on
    all 64 (the rotation keeps scores): scores are the exact ones of the original vectors,
    and probing every list with a rerank as deep as the index is exact search."""
    x, q = data
    ivf = vp.IVFIndex(64, 8, vp.ProductQuantizer(24, 12, 4, niter=5), metric, prefix=24,
                      rerank=40)
    ivf.train(x)
    ivf.add(x)
    assert ivf.centroids.shape == (8, 24)
    xs, qs = x, q
    if metric == "cosine":
        xs = x / np.linalg.norm(x, axis=1, keepdims=True)
        qs = q / np.linalg.norm(q, axis=1, keepdims=True)
    ref = qs @ xs.T if metric != "l2" else ((qs[:, None, :] - xs[None]) ** 2).sum(-1)
    s, ids = ivf.search(q, 10, nprobe=4)
    np.testing.assert_allclose(s, np.take_along_axis(ref, ids, 1), rtol=1e-4, atol=1e-4)
    s, ids = ivf.search(q, 10, nprobe=8, rerank=len(x))
    order = np.argsort(-ref if metric != "l2" else ref, axis=1, kind="stable")[:, :10]
    assert (ids == order).mean() > 0.99
    # half the lists on a 24-dim prefix of this hard 64-dim slice (a plain IVF with 16
    # sub-quantizers gets 0.66 here)
    r_funnel = recall_at_k(ivf.search(q, 10, nprobe=4)[1], order, 10)
    assert r_funnel > 0.45, r_funnel
    ivf.save(tmp_path / "f.vp")
    for mmap in (False, True):
        back = vp.load(tmp_path / "f.vp", mmap=mmap)
        assert back.prefix == 24
        np.testing.assert_array_equal(back.search(q, 10, nprobe=4)[1], ivf.search(q, 10, nprobe=4)[1])


def test_matryoshka_funnel_bad_input(data, tmp_path):
    x, _ = data
    with pytest.raises(vp.ParameterError, match="prefix"):
        vp.IVFIndex(64, 8, vp.ProductQuantizer(64, 8, 8), prefix=32)  # codes the prefix
    for bad in (0, 65):
        with pytest.raises(vp.ParameterError):
            vp.IVFIndex(64, 8, prefix=bad)
    ivf = vp.IVFIndex(64, 8, vp.ProductQuantizer(32, 8, 8, niter=5), prefix=32)
    assert not ivf.is_trained
    ivf.train(x)
    ivf.add(x[:300])
    ivf.save(tmp_path / "f.vp")
    kind, params, arrays = saved_arrays(tmp_path / "f.vp")
    skew = arrays["rotation"].copy()
    skew[0, 0] += 0.5  # not orthogonal
    for bad in ({**arrays, "rotation": skew},
                {k: v for k, v in arrays.items() if k != "rotation"}):
        assert_refused(tmp_path / "bad.vp", kind, params, bad)
