"""RaBitQ: the rotation, the estimator (unbiased, bounded), the kernels at every SIMD level,
and RaBitQIndex's search / filter / save / load / error contract."""
import numpy as np
import pytest

import vecpress
from vecpress import _core
from vecpress.errors import (
    DimensionError,
    DTypeError,
    FormatError,
    IndexNotEmptyError,
    NonFiniteError,
    NotTrainedError,
    ParameterError,
    ParameterTypeError,
)
from vecpress.io import read_arrays, write_arrays
from vecpress.quantizers.rabitq import RaBitQuantizer, bound_confidence


def test_rotation_is_orthogonal_and_inverts(rng):
    for d in (64, 200, 384, 512):  # powers of two and not (the Kac butterfly)
        q = RaBitQuantizer(d, seed=3)
        x = rng.standard_normal((50, d)).astype(np.float32)
        y = q.rotate(x)
        assert y.shape == (50, q.D) and q.D % 64 == 0
        np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-5)
        np.testing.assert_allclose(y @ y.T, x @ x.T, rtol=1e-4, atol=1e-3)  # preserves IPs
        np.testing.assert_allclose(q.rotate(y, inverse=True)[:, :d], x, atol=1e-5)


def test_estimator_is_unbiased(rng):
    """Mean signed error over 100,000 independent (query, vector) pairs within 3 standard
    errors of zero: pair i is query i with vector i (the diagonal of 100 x 100 blocks)."""
    d, n, blk = 200, 100_000, 100
    x = rng.standard_normal((n, d)).astype(np.float32) + 0.2
    q = rng.standard_normal((n, d)).astype(np.float32) + 0.2
    qz = RaBitQuantizer(d, "ip", seed=11).train(x[:10_000])
    codes = qz.encode(x)
    planes, qc = qz.query_codes(q)
    est = np.empty(n, np.float64)
    for s in range(0, n, blk):
        e, _ = _core.rabitq_scores(planes[s:s + blk], qz.qb, qc[s:s + blk], codes[s:s + blk], 1)
        est[s:s + blk] = np.diag(e)
    err = est - np.einsum("ij,ij->i", q.astype(np.float64), x.astype(np.float64))
    se = err.std() / np.sqrt(n)
    assert abs(err.mean()) < 3 * se, (err.mean(), se)
    true_scale = np.abs(np.einsum("ij,ij->i", q, x)).mean()
    assert err.std() < true_scale  # and informative: errors smaller than the scores


def _bound_coverage(base, queries, metric):
    qz = RaBitQuantizer(base.shape[1], metric).train(base)
    est, bound = qz.estimate(queries, qz.encode(base))
    x, q = base.astype(np.float64), queries.astype(np.float64)
    ip = q @ x.T
    true = ip if metric == "ip" else (q * q).sum(1)[:, None] + (x * x).sum(1)[None] - 2 * ip
    return float((np.abs(est - true) <= bound).mean())


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_bound_holds_at_stated_confidence(sample, metric):
    cover = _bound_coverage(sample.base, sample.queries, metric)
    assert cover >= bound_confidence(1.9), cover


def test_bound_holds_on_wordnet(wordnet):
    cover = _bound_coverage(wordnet.base[:40_000], wordnet.queries[:50], "ip")
    assert cover >= bound_confidence(1.9), cover


def test_encode_decode_round_trip(sample):
    qz = RaBitQuantizer(sample.dim, "l2").train(sample.base)
    x = sample.base[:500]
    codes = qz.encode(x)
    assert codes.shape == (500, qz.code_size) and codes.dtype == np.uint8
    dec = qz.decode(codes)
    assert dec.shape == x.shape and dec.dtype == np.float32
    # decoding keeps the sign code: encoding the reconstruction gives the same bits
    np.testing.assert_array_equal(qz.encode(dec)[:, : qz.D // 8], codes[:, : qz.D // 8])
    # the reconstruction is the estimator's vector: |r| / a along ō, at cosine a to r
    r, rh = x - qz.centroid, dec - qz.centroid
    cos = np.einsum("ij,ij->i", r, rh) / np.linalg.norm(r, axis=1) / np.linalg.norm(rh, axis=1)
    assert cos.min() > 0.7  # a is about 0.8 for every vector (the paper's concentration)
    np.testing.assert_allclose(np.einsum("ij,ij->i", r, rh), np.einsum("ij,ij->i", r, r),
                               rtol=1e-3)  # <r, |r| ō / a> = |r|^2


def test_compute_tables_match_the_sign_code(sample):
    qz = RaBitQuantizer(sample.dim, "ip").train(sample.base)
    codes = qz.encode(sample.base[:100])
    t = qz.compute_tables(sample.queries[:3], "ip")
    sums = t[:, np.arange(qz.code_size), codes].sum(-1)  # (3, 100)
    qp = qz.rotate(sample.queries[:3] - qz.centroid)
    sign = 2.0 * np.unpackbits(codes[:, : qz.D // 8], axis=1, bitorder="little") - 1
    np.testing.assert_allclose(sums, qp @ sign.T, rtol=1e-4, atol=1e-4)
    with pytest.raises(ParameterError):
        qz.compute_tables(sample.queries[:3], "l2")


def test_every_simd_level_equals_scalar(sample, simd_level):
    qz = RaBitQuantizer(sample.dim, "l2", qb=4).train(sample.base)
    codes = qz.encode(sample.base[:3000])
    planes, qc = qz.query_codes(sample.queries[:40])
    vecpress.set_simd_level("scalar")
    ref_ip = _core.rabitq_ip_bin(planes, qz.qb, codes, 2)
    ref_est, ref_bound = _core.rabitq_scores(planes, qz.qb, qc, codes, 2)
    ref_top = _core.rabitq_search(planes, qz.qb, qc, codes, False, 10, 2)
    vecpress.set_simd_level(simd_level)
    np.testing.assert_array_equal(_core.rabitq_ip_bin(planes, qz.qb, codes, 2), ref_ip)
    est, bound = _core.rabitq_scores(planes, qz.qb, qc, codes, 2)
    np.testing.assert_array_equal(est, ref_est)  # same integers, same float code
    np.testing.assert_array_equal(bound, ref_bound)
    top = _core.rabitq_search(planes, qz.qb, qc, codes, False, 10, 2)
    np.testing.assert_array_equal(top[1], ref_top[1])
    np.testing.assert_array_equal(top[0], ref_top[0])
    # the scan's top 10 are the 10 smallest estimates
    np.testing.assert_array_equal(np.sort(top[0], 1), np.sort(est, 1)[:, :10])


def test_ip_bin_is_popcount_of_planes(rng):
    D, qb = 128, 3
    codes = np.zeros((20, D // 8 + 16), np.uint8)
    codes[:, : D // 8] = rng.integers(0, 256, (20, D // 8))
    u = rng.integers(0, 1 << qb, (5, D))
    planes = np.stack([np.packbits((u >> p) & 1, axis=1, bitorder="little") for p in range(qb)], 1)
    planes = np.ascontiguousarray(planes.reshape(5, -1)).view(np.uint64)
    bits = np.unpackbits(codes[:, : D // 8], axis=1, bitorder="little")
    np.testing.assert_array_equal(_core.rabitq_ip_bin(planes, qb, codes, 1), u @ bits.T)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_index_recall_and_estimates(sample, metric):
    idx = vecpress.RaBitQIndex(sample.dim, metric)
    idx.train(sample.base)
    idx.add(sample.base)
    flat = vecpress.FlatIndex(sample.dim, metric)
    flat.add(sample.base)
    exact, gt = flat.search(sample.queries, 10)
    s, ids = idx.search(sample.queries, 10)
    assert vecpress.recall_at_k(ids, gt, 10) >= 0.97
    np.testing.assert_allclose(s[ids == gt], exact[ids == gt], rtol=1e-4, atol=1e-4)
    s0, ids0 = idx.search(sample.queries, 10, rerank=0)
    assert vecpress.recall_at_k(ids0, gt, 10) >= 0.55
    est, bound = idx.estimate(sample.queries[:5])
    assert est.shape == (5, len(idx)) and (bound > 0).all()
    rows = ids0[:5, 0]  # ids are rows here (sequential ids)
    np.testing.assert_allclose(est[np.arange(5), rows], s0[:5, 0], rtol=1e-5)


def test_filter_and_remove(sample):
    idx = vecpress.RaBitQIndex(sample.dim, rerank=50)
    idx.train(sample.base)
    idx.add(sample.base)
    allowed = np.arange(0, len(sample.base), 7)
    for rr in (0, 50):
        _, ids = idx.search(sample.queries[:20], 10, rerank=rr, filter=allowed)
        assert np.isin(ids, allowed).all() and (ids >= 0).all()
    idx.remove(np.arange(100))
    _, ids = idx.search(sample.queries[:20], 10)
    assert (ids >= 100).all() and len(idx) == len(sample.base) - 100


def test_save_load_and_bad_files(sample, tmp_path):
    idx = vecpress.RaBitQIndex(sample.dim, "l2", qb=5, rerank=0, seed=7)
    idx.train(sample.base)
    idx.add(sample.base[:1000])
    idx.save(tmp_path / "r.vp")
    back = vecpress.load(tmp_path / "r.vp")
    assert (back.qb, back.seed, back.metric, back.rerank) == (5, 7, "l2", 0)
    a, b = idx.search(sample.queries, 5), back.search(sample.queries, 5)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    kind, params, arrays = read_arrays(tmp_path / "r.vp")
    arrays = {k: np.array(v) for k, v in arrays.items()}

    def broken(**change):
        p = tmp_path / "bad.vp"
        write_arrays(p, kind, params, {**arrays, **change})
        with pytest.raises(FormatError):
            vecpress.load(p)

    signs = arrays["signs"].copy()
    signs[0, 0] *= -1
    broken(signs=signs)
    broken(centroid=np.full(sample.dim, np.nan, np.float32))
    broken(centroid=arrays["centroid"][:-1])
    codes = arrays["codes"].copy()
    codes[3, -4:] = np.frombuffer(np.float32(np.nan).tobytes(), np.uint8)
    broken(codes=codes)
    broken(codes=arrays["codes"][:, :-1])
    broken(codes=arrays["codes"].astype(np.int32))


def test_bad_input(sample):
    with pytest.raises(ParameterError):
        vecpress.RaBitQIndex(sample.dim, qb=9)
    with pytest.raises(ParameterError):
        vecpress.RaBitQIndex(sample.dim, qb=0)
    with pytest.raises(ParameterTypeError):
        vecpress.RaBitQIndex(sample.dim, qb="4")
    with pytest.raises(ParameterError):
        vecpress.RaBitQIndex(sample.dim, ex_bits=9)
    with pytest.raises(ParameterError):
        vecpress.RaBitQIndex(sample.dim, ex_bits=-1)
    with pytest.raises(ParameterTypeError):
        vecpress.RaBitQIndex(sample.dim, ex_bits=2.0)
    with pytest.raises(ParameterError):  # the popcount scan reads 1-bit codes only
        vecpress.RaBitQIndex(sample.dim, ex_bits=3, scan="popcount")
    with pytest.raises(ParameterError):
        vecpress.RaBitQIndex(sample.dim, epsilon=-1.0)
    with pytest.raises(ParameterError):
        vecpress.RaBitQIndex(sample.dim, metric="hamming")
    idx = vecpress.RaBitQIndex(sample.dim, rerank=0)
    with pytest.raises(NotTrainedError):
        idx.add(sample.base[:10])
    with pytest.raises(DTypeError):
        idx.train(sample.base.astype(np.int32))
    bad = sample.base[:100].copy()
    bad[5, 3] = np.nan
    with pytest.raises(NonFiniteError):
        idx.train(bad)
    idx.train(sample.base)
    with pytest.raises(DimensionError):
        idx.add(sample.base[:10, :-1])
    idx.add(sample.base[:10])
    with pytest.raises(NonFiniteError):
        idx.search(bad, 3)
    with pytest.raises(ParameterError):
        idx.search(sample.queries, 3, rerank=10)  # keeps no float vectors
    with pytest.raises(IndexNotEmptyError):
        idx.train(sample.base)
    qz = RaBitQuantizer(sample.dim)
    with pytest.raises(NotTrainedError):
        qz.encode(sample.base[:3])
    qz.train(sample.base)
    with pytest.raises(DTypeError):
        qz.decode(np.zeros((2, qz.code_size), np.int32))
    with pytest.raises(vecpress.ShapeError):
        qz.decode(np.zeros((2, qz.code_size + 1), np.uint8))


# ---- fast-scan scan -----------------------------------------------------------------------

def _fastscan_setup(sample, metric, n=3000, nq=40):
    qz = RaBitQuantizer(sample.dim, metric).train(sample.base)
    codes = qz.encode(sample.base[:n])
    qp, qc = qz.float_query(sample.queries[:nq])
    return qz, codes, qz.pack_fastscan(codes), qp, qc


def _reference_float_estimate(qz, codes, qp, qc):
    """f_add + q_add + s (f_mul / 2) <2b - 1, q'> in float64, from the row codes."""
    sign = 2.0 * np.unpackbits(codes[:, : qz.D // 8], axis=1, bitorder="little") - 1.0
    f = qz.factors(codes).astype(np.float64)
    S = qp.astype(np.float64) @ sign.T
    return f[None, :, 0] + qc[:, :1] + qc[:, 1:2] * (f[None, :, 1] / 2) * S, S


def test_fastscan_tables_and_layout(sample, rng):
    qz, codes, packed, qp, qc = _fastscan_setup(sample, "ip", n=100, nq=3)
    T = _core.rabitq_fastscan_tables(qp)
    M = qz.D // 4
    assert T.shape == (3, M, 16)
    groups = qp.reshape(3, M, 4)
    signs = 2.0 * ((np.arange(16)[:, None] >> np.arange(4)) & 1) - 1  # (16, 4)
    np.testing.assert_allclose(T, groups @ signs.T, rtol=1e-5, atol=1e-5)
    # the layout: 4-bit sub-code m of vector v is bits 4m..4m+3 of its sign code
    assert packed.shape == (4, _core.rabitq_fs_block_bytes(qz.D))  # ceil(100 / 32) blocks
    bb = 16 * M
    nib = np.stack([codes[:, : qz.D // 8] & 15, codes[:, : qz.D // 8] >> 4], 2).reshape(100, M)
    blocks = packed[:, :bb].reshape(4, M // 2, 2, 16)  # (block, pair, sub, byte)
    for v in (0, 5, 17, 31, 32, 70, 99):
        b, i = divmod(v, 32)
        got = (blocks[b, :, :, i % 16] >> (0 if i < 16 else 4)) & 15  # (pair, sub)
        np.testing.assert_array_equal(got.reshape(M), nib[v])
    fac = packed[:, bb:].copy().view(np.float32).reshape(4, 2, 32)  # (block, f_add|f_mul, 32)
    f = qz.factors(codes)
    np.testing.assert_array_equal(fac[:, 0].reshape(-1)[:100], f[:, 0])
    np.testing.assert_array_equal(fac[:, 1].reshape(-1)[:100], f[:, 1])
    assert (fac[3, :, 100 - 96:] == 0).all() and (packed[3, :bb] >> 4 == 0).all()  # padding


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_fastscan_estimates_within_quantization_tolerance(sample, metric):
    qz, codes, packed, qp, qc = _fastscan_setup(sample, metric)
    ref, _ = _reference_float_estimate(qz, codes, qp, qc)
    exact = _core.rabitq_fastscan_scores(qp, qc, codes, packed, True, 2)
    np.testing.assert_allclose(exact, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    first = _core.rabitq_fastscan_scores(qp, qc, codes, packed, False, 2)
    # each of the M LUT entries is rounded by at most 1 / (2a), a = 127 / span, span the
    # widest group's table range (2 sum |q'| over its 4 dimensions); S moves by M / (2a)
    M = qz.D // 4
    span = 2 * np.abs(qp.astype(np.float64)).reshape(len(qp), M, 4).sum(-1).max(1)
    tol_s = M * span / (2 * 127)
    f_mul = qz.factors(codes)[:, 1].astype(np.float64)
    tol = np.abs(qc[:, 1:2]) * (f_mul[None] / 2) * tol_s[:, None]
    err = np.abs(first - ref)
    assert (err <= tol * 1.001 + 1e-4).all()
    assert err.mean() < 0.1 * tol.mean()  # rounding errors mostly cancel


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_fastscan_search_matches_the_float_estimator(sample, metric):
    qz, codes, packed, qp, qc = _fastscan_setup(sample, metric)
    largest = metric == "ip"
    ref, _ = _reference_float_estimate(qz, codes, qp, qc)
    order = np.argsort(-ref if largest else ref, axis=1, kind="stable")[:, :10]
    # every vector re-scored: the exact top 10 of the float-query estimate
    s, ids = _core.rabitq_fastscan_search(qp, qc, codes, packed, largest, 10, len(codes), 2)
    np.testing.assert_array_equal(ids, order)
    exact = _core.rabitq_fastscan_scores(qp, qc, codes, packed, True, 2)
    np.testing.assert_array_equal(s, np.take_along_axis(exact, ids, 1))
    # the default (re-score only k): the quantized first stage loses a few near-ties
    s, ids = _core.rabitq_fastscan_search(qp, qc, codes, packed, largest, 10, 10, 2)
    np.testing.assert_array_equal(s, np.take_along_axis(exact, ids, 1))
    assert (np.diff(s, axis=1) <= 0).all() if largest else (np.diff(s, axis=1) >= 0).all()
    assert vecpress.recall_at_k(ids, order, 10) >= 0.95
    # a restricted heap: rows outside the allow bitmap never come back
    allow_rows = np.arange(0, len(codes), 3)
    bits = np.zeros((len(codes) + 63) // 64 * 64, bool)
    bits[allow_rows] = True
    allow = np.packbits(bits, bitorder="little").view(np.uint64)
    _, fids = _core.rabitq_fastscan_search(qp, qc, codes, packed, largest, 10, len(codes), 2,
                                           allow)
    sub = ref[:, allow_rows]
    want = allow_rows[np.argsort(-sub if largest else sub, axis=1, kind="stable")[:, :10]]
    np.testing.assert_array_equal(fids, want)


def test_fastscan_every_simd_level_equals_scalar(sample, simd_level):
    qz, codes, packed, qp, qc = _fastscan_setup(sample, "l2", n=3001)  # a partial last block
    vecpress.set_simd_level("scalar")
    ref_first = _core.rabitq_fastscan_scores(qp, qc, codes, packed, False, 2)
    ref_top = _core.rabitq_fastscan_search(qp, qc, codes, packed, False, 10, 20, 2)
    vecpress.set_simd_level(simd_level)
    # integer LUT sums and explicit FMAs: the same floats at every level
    np.testing.assert_array_equal(_core.rabitq_fastscan_scores(qp, qc, codes, packed, False, 2),
                                  ref_first)
    top = _core.rabitq_fastscan_search(qp, qc, codes, packed, False, 10, 20, 2)
    np.testing.assert_array_equal(top[1], ref_top[1])
    np.testing.assert_array_equal(top[0], ref_top[0])


def test_fastscan_results_do_not_depend_on_threads_or_batching(sample):
    qz, codes, packed, qp, qc = _fastscan_setup(sample, "ip", n=5000, nq=20)
    a = _core.rabitq_fastscan_search(qp, qc, codes, packed, True, 10, len(codes), 1)
    b = _core.rabitq_fastscan_search(qp, qc, codes, packed, True, 10, len(codes), 2)
    c = _core.rabitq_fastscan_search(qp[:1], qc[:1], codes, packed, True, 10, len(codes), 2)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[1][:1], c[1])  # a batch of one splits the base
    np.testing.assert_array_equal(a[0][:1], c[0])


def test_fastscan_kernel_bad_input(sample):
    qz, codes, packed, qp, qc = _fastscan_setup(sample, "ip", n=100, nq=2)
    with pytest.raises(vecpress.ShapeError):
        _core.rabitq_fastscan_search(qp, qc, codes[:64], packed, True, 5, 5)  # 2 blocks, 64 rows
    with pytest.raises(vecpress.ShapeError):
        _core.rabitq_fastscan_search(qp, qc, codes, packed[:, :-1], True, 5, 5)
    with pytest.raises(vecpress.ShapeError):
        _core.rabitq_fastscan_search(qp[:, :-64], qc, codes, packed, True, 5, 5)
    with pytest.raises(ValueError):
        _core.rabitq_fastscan_search(qp, qc, codes, packed, True, 5, -1)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_index_fastscan_and_popcount_scans(sample, metric):
    flat = vecpress.FlatIndex(sample.dim, metric)
    flat.add(sample.base)
    _, gt = flat.search(sample.queries, 10)
    idx = vecpress.RaBitQIndex(sample.dim, metric)
    assert idx.scan == "fastscan" and idx.rescore is None
    idx.train(sample.base)
    idx.add(sample.base)
    got = {}
    for scan in ("fastscan", "popcount"):
        idx.scan = scan
        got[scan] = (vecpress.recall_at_k(idx.search(sample.queries, 10)[1], gt, 10),
                     vecpress.recall_at_k(idx.search(sample.queries, 10, rerank=0)[1], gt, 10))
    # measured 0.9945 / 0.6815 (fastscan) and 0.9935 / 0.670 (popcount, qb=4): the float
    # query is the better estimator
    assert got["fastscan"][0] >= 0.98 and got["fastscan"][1] >= 0.64
    assert got["fastscan"][1] >= got["popcount"][1] - 0.01
    idx.scan = "fastscan"
    idx.rescore = 200  # more first-stage candidates: never worse here
    assert vecpress.recall_at_k(idx.search(sample.queries, 10, rerank=0)[1], gt, 10) >= \
        got["fastscan"][1] - 0.005
    with pytest.raises(ParameterError):
        idx.scan = "simd"
    with pytest.raises(ParameterError):
        vecpress.RaBitQIndex(sample.dim, rescore=0)


def test_index_fastscan_layout_follows_writes(sample):
    """The fast-scan copy is rebuilt after add and remove: results equal a fresh index's."""
    whole = vecpress.RaBitQIndex(sample.dim, rerank=0)
    whole.train(sample.base)
    whole.add(sample.base[:3000])
    parts = vecpress.RaBitQIndex(sample.dim, rerank=0)
    parts.train(sample.base)
    parts.add(sample.base[:1000])
    parts.search(sample.queries[:5], 10)  # builds the layout of 1000 rows
    parts.add(sample.base[1000:3000])
    a, b = whole.search(sample.queries, 10), parts.search(sample.queries, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    parts.remove(np.arange(500))
    _, ids = parts.search(sample.queries, 10)
    assert (ids >= 500).all()
    est, _ = parts.estimate(sample.queries[:3])
    assert est.shape == (3, 2500)


def test_save_load_keeps_the_scan(sample, tmp_path):
    for scan, rescore in (("popcount", None), ("fastscan", 40)):
        idx = vecpress.RaBitQIndex(sample.dim, "ip", rerank=0, scan=scan, rescore=rescore)
        idx.train(sample.base)
        idx.add(sample.base[:1000])
        idx.save(tmp_path / "s.vp")
        back = vecpress.load(tmp_path / "s.vp")
        assert (back.scan, back.rescore) == (scan, rescore)
        a, b = idx.search(sample.queries, 5), back.search(sample.queries, 5)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], b[0])


# ---- extended codes (1 + ex_bits bits per dimension) -------------------------------------

def test_ex_estimator_is_unbiased(rng):
    """Mean signed error of the (1 + ex_bits)-bit estimate over 100,000 random pairs within
    3 standard errors of zero: 20,000 vectors, each paired with 5 independent queries (the
    error given the vector is the queries' orthogonal component: independent across them)."""
    d, n, blk = 128, 100_000, 100
    x = rng.standard_normal((n // 5, d)).astype(np.float32) + 0.2
    q = rng.standard_normal((n, d)).astype(np.float32) + 0.2
    qz = RaBitQuantizer(d, "ip", ex_bits=2, seed=11).train(x[:10_000])
    codes = np.repeat(qz.encode(x), 5, axis=0)
    x = np.repeat(x, 5, axis=0)
    qp, qc = qz.float_query(q)
    # est = f_add + q_add + s f_ex (<u, q'> - (2^ex - 1/2) sum q'), pair by pair
    f, fx = qz.factors(codes).astype(np.float64), qz.ex_factors(codes).astype(np.float64)
    u = qz.total_codes(codes).astype(np.float32)
    uq = np.einsum("ij,ij->i", u, qp, dtype=np.float64)
    est = f[:, 0] + qc[:, 0] + qc[:, 1] * fx[:, 0] * (uq - 3.5 * qp.sum(1, dtype=np.float64))
    e, _ = _core.rabitq_ex_scores(qp[:blk], qc[:blk], codes[:blk], 2, 1)  # the kernel's
    np.testing.assert_allclose(np.diag(e), est[:blk], rtol=1e-4, atol=1e-4)
    err = est - np.einsum("ij,ij->i", q.astype(np.float64), x.astype(np.float64))
    se = err.std() / np.sqrt(n)
    assert abs(err.mean()) < 3 * se, (err.mean(), se)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_ex_error_decreases_with_bits_and_bound_holds(sample, metric):
    base, queries = sample.base[:2000], sample.queries[:40]
    x, q = base.astype(np.float64), queries.astype(np.float64)
    ip = q @ x.T
    true = ip if metric == "ip" else (q * q).sum(1)[:, None] + (x * x).sum(1)[None] - 2 * ip
    sd = []
    for ex in range(0, 6):
        qz = RaBitQuantizer(sample.dim, metric, ex_bits=ex).train(sample.base)
        codes = qz.encode(base)
        assert codes.shape[1] == qz.code_size == (1 + ex) * qz.D // 8 + 16 + (8 if ex else 0)
        if ex:
            est, bound = qz.estimate(queries, codes)
        else:  # the float-query 1-bit estimate (the extended search's first stage)
            qp, qc = qz.float_query(queries)
            est = _core.rabitq_fastscan_scores(qp, qc, codes, qz.pack_fastscan(codes), True, 2)
            bound = np.abs(qc[:, 1:2]) * qc[:, 5:6] * qz.factors(codes)[None, :, 3]
        err = est - true
        sd.append(err.std())
        # the error is close to Gaussian with the bound's scale: coverage about the stated
        # P(|N(0, 1)| <= eps0) (0.9426), measured 0.943-0.945 on wordnet-minilm
        assert (np.abs(err) <= bound).mean() >= bound_confidence(1.9) - 0.01
    # each extra bit about halves the error (the paper: a_ex 0.8 -> 0.94 -> 0.98 -> ...)
    assert all(b < 0.65 * a for a, b in zip(sd, sd[1:])), sd


def test_ex_encode_decode_and_tables(sample):
    qz = RaBitQuantizer(sample.dim, "ip", ex_bits=3).train(sample.base)
    x = sample.base[:300]
    codes = qz.encode(x)
    u = qz.total_codes(codes)
    assert u.shape == (300, qz.D) and u.max() <= 15
    # the sign bit of the total code is the 1-bit code's
    np.testing.assert_array_equal(u >> 3, np.unpackbits(codes[:, : qz.D // 8], axis=1,
                                                        bitorder="little"))
    dec = qz.decode(codes)
    r, rh = x - qz.centroid, dec - qz.centroid
    np.testing.assert_allclose(np.einsum("ij,ij->i", r, rh), np.einsum("ij,ij->i", r, r),
                               rtol=1e-3)  # <r, f_ex y> = |r|^2
    cos = np.einsum("ij,ij->i", r, rh) / np.linalg.norm(r, axis=1) / np.linalg.norm(rh, axis=1)
    assert cos.min() > 0.98  # a_ex about 0.99 at 4 bits per dimension
    # the reconstruction lies on the code grid: encoding it gives back the same codes
    assert (qz.total_codes(qz.encode(dec)) == u).all(axis=1).mean() >= 0.99
    # tables: per-byte sums are <u, q'>
    t = qz.compute_tables(sample.queries[:3], "ip")
    sums = t[:, np.arange(qz.code_size), codes].sum(-1)
    qp = qz.rotate(sample.queries[:3] - qz.centroid)
    np.testing.assert_allclose(sums, qp @ u.T.astype(np.float32), rtol=1e-4, atol=1e-3)
    with pytest.raises(ParameterError):
        RaBitQuantizer(sample.dim, "ip").ex_factors(codes)


def test_ex_kernels_every_simd_level_equals_scalar(sample, simd_level):
    for ex in (1, 3, 8):
        qz = RaBitQuantizer(sample.dim, "l2", ex_bits=ex).train(sample.base)
        codes = qz.encode(sample.base[:300] if ex == 8 else sample.base[:1500])
        qp, qc = qz.float_query(sample.queries[:20])
        packed = qz.pack_fastscan(codes)
        vecpress.set_simd_level("scalar")
        ref = _core.rabitq_ex_scores(qp, qc, codes, ex, 2)
        ref_top = _core.rabitq_ex_search(qp, qc, codes, packed, ex, 0.5, False, 10, 2)
        vecpress.set_simd_level(simd_level)
        got = _core.rabitq_ex_scores(qp, qc, codes, ex, 2)
        np.testing.assert_array_equal(got[0], ref[0])  # same integers, same float order
        np.testing.assert_array_equal(got[1], ref[1])
        top = _core.rabitq_ex_search(qp, qc, codes, packed, ex, 0.5, False, 10, 2)
        np.testing.assert_array_equal(top[1], ref_top[1])
        np.testing.assert_array_equal(top[0], ref_top[0])
        # the search returns the extended estimates of the rows it names
        np.testing.assert_array_equal(np.take_along_axis(got[0], top[1], 1), top[0])


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_ex_index_search_and_filter(sample, metric):
    flat = vecpress.FlatIndex(sample.dim, metric)
    flat.add(sample.base)
    queries = sample.queries[:100]
    _, gt = flat.search(queries, 10)
    recalls = []
    for ex in (0, 2, 4):
        idx = vecpress.RaBitQIndex(sample.dim, metric, ex_bits=ex, rerank=0)
        idx.train(sample.base)
        idx.add(sample.base)
        s, ids = idx.search(queries, 10)
        recalls.append(vecpress.recall_at_k(ids, gt, 10))
        if not ex:
            continue
        # the bound-pruned scan finds (almost always) the top 10 by the extended estimate
        est, _ = idx.estimate(queries)
        top = np.argsort(est if metric == "l2" else -est, axis=1, kind="stable")[:, :10]
        assert vecpress.recall_at_k(ids, top, 10) >= 0.99
        np.testing.assert_allclose(s, np.take_along_axis(est, ids, 1), rtol=1e-6)
        # and reads the extended bits of a small fraction of the vectors
        assert idx.last_ex_counts.shape == (len(queries),)
        assert 10 <= idx.last_ex_counts.mean() < 0.3 * len(idx)
        allowed = np.arange(0, len(sample.base), 7)
        s_f, ids_f = idx.search(queries[:20], 10, filter=allowed)
        assert np.isin(ids_f, allowed).all() and (ids_f >= 0).all()
        sub = est[:20, allowed]
        top_f = allowed[np.argsort(sub if metric == "l2" else -sub, axis=1)[:, :10]]
        assert vecpress.recall_at_k(ids_f, top_f, 10) >= 0.99
    assert recalls[0] < recalls[1] < recalls[2], recalls
    assert recalls[2] >= 0.95, recalls
    # with rerank: exact scores of the candidates
    idx = vecpress.RaBitQIndex(sample.dim, metric, ex_bits=2, rerank=40)
    idx.train(sample.base)
    idx.add(sample.base)
    _, ids = idx.search(queries, 10)
    assert vecpress.recall_at_k(ids, gt, 10) >= 0.99
    idx.remove(np.arange(100))
    _, ids = idx.search(sample.queries[:20], 10)
    assert (ids >= 100).all()


def test_ex_save_load_and_bad_files(sample, tmp_path):
    idx = vecpress.RaBitQIndex(sample.dim, "l2", ex_bits=3, rerank=0, seed=5)
    idx.train(sample.base)
    idx.add(sample.base[:1000])
    idx.save(tmp_path / "r.vp")
    back = vecpress.load(tmp_path / "r.vp")
    assert (back.ex_bits, back.seed, back.code_bytes) == (3, 5, idx.code_bytes)
    a, b = idx.search(sample.queries, 5), back.search(sample.queries, 5)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    kind, params, arrays = read_arrays(tmp_path / "r.vp")
    arrays = {k: np.array(v) for k, v in arrays.items()}

    def broken(params=params, **change):
        p = tmp_path / "bad.vp"
        write_arrays(p, kind, params, {**arrays, **change})
        with pytest.raises(FormatError):
            vecpress.load(p)

    codes = arrays["codes"].copy()
    codes[3, -4:] = np.frombuffer(np.float32(np.nan).tobytes(), np.uint8)  # f_err_ex
    broken(codes=codes)
    codes = arrays["codes"].copy()
    codes[4, -8:-4] = np.frombuffer(np.float32(-1.0).tobytes(), np.uint8)  # f_ex < 0
    broken(codes=codes)
    broken(codes=arrays["codes"][:, :-8])  # 1-bit-sized or truncated rows
    broken(codes=arrays["codes"][:, : idx.quantizer.D // 8 + 16])
    broken(params={**params, "ex_bits": 2})  # rows of another width
    broken(params={**params, "ex_bits": 9})
    broken(params={**params, "scan": "popcount"})


def test_ex_kernel_bad_input(sample):
    qz = RaBitQuantizer(sample.dim, "ip", ex_bits=2).train(sample.base)
    codes = qz.encode(sample.base[:100])
    qp, qc = qz.float_query(sample.queries[:3])
    packed = qz.pack_fastscan(codes)
    with pytest.raises(ValueError):
        _core.rabitq_ex_scores(qp, qc, codes, 0)
    with pytest.raises(ValueError):
        _core.rabitq_ex_scores(qp, qc, codes, 3)  # codes of another width
    with pytest.raises(ValueError):
        _core.rabitq_ex_scores(qp[:, :-64], qc, codes, 2)
    with pytest.raises(ValueError):
        _core.rabitq_ex_search(qp, qc, codes, packed[:-1], 2, 0.5, True, 5)
    with pytest.raises(ValueError):
        _core.rabitq_ex_search(qp, qc, codes, packed, 2, float("nan"), True, 5)
    with pytest.raises(ValueError):
        _core.rabitq_ex_search(qp, qc, codes, packed, 2, 0.5, True, -1)
    with pytest.raises(ValueError):
        _core.rabitq_ex_quantize(qp[:, :100], 2)
    with pytest.raises(ValueError):
        _core.rabitq_ex_quantize(qp, 9)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_ex_bound_driven_rerank(sample, metric):
    flat = vecpress.FlatIndex(sample.dim, metric)
    flat.add(sample.base)
    queries = sample.queries[:50]
    exact, gt = flat.search(queries, 10)
    idx = vecpress.RaBitQIndex(sample.dim, metric, ex_bits=2, rerank=100)
    idx.train(sample.base)
    idx.add(sample.base)
    s, ids = idx.search(queries, 10, rerank="bound")
    n = idx.last_reranked
    assert n.shape == (50,) and (n >= 10).all() and n.mean() < 100  # fewer than a fixed 100
    assert vecpress.recall_at_k(ids, gt, 10) >= 0.98
    np.testing.assert_allclose(s[ids == gt], exact[ids == gt], rtol=1e-4, atol=1e-4)
    # exactly the overlapping candidates: the reranked set is those whose interval reaches
    # the 10th best pessimistic estimate (over every vector)
    est, bound = idx.estimate(queries)
    sgn = 1.0 if metric == "ip" else -1.0
    lo, hi = sgn * est - bound, sgn * est + bound
    kth = -np.sort(-lo, axis=1)[:, 9]
    overlap = (hi >= kth[:, None]).sum(1)
    assert np.abs(n - overlap).max() <= 2  # (vectors the 1-bit bound pruned, and ties)
    allowed = np.arange(0, len(sample.base), 3)
    _, ids_f = idx.search(queries[:10], 10, rerank="bound", filter=allowed)
    assert np.isin(ids_f, allowed).all() and (ids_f >= 0).all()
    with pytest.raises(ParameterError):
        idx.search(queries, 10, rerank="all")
    one_bit = vecpress.RaBitQIndex(sample.dim, metric, rerank=10)
    one_bit.train(sample.base)
    one_bit.add(sample.base[:100])
    with pytest.raises(ParameterError):
        one_bit.search(queries, 10, rerank="bound")
    no_store = vecpress.RaBitQIndex(sample.dim, metric, ex_bits=1, rerank=0)
    no_store.train(sample.base)
    no_store.add(sample.base[:100])
    with pytest.raises(ParameterError):
        no_store.search(queries, 10, rerank="bound")
