"""CUDA kernels against the CPU kernels (vecpress._core) on the same data.

Where the arithmetic allows, data are small integers stored as float32, so
sums are exact in any order and GPU and CPU must agree bit for bit, ties
(by lower id) included. Float data are compared with tolerances.

Every test but the first needs a CUDA build and a device and is skipped
without them; the first checks the no-GPU path and runs only where there is
no usable GPU.
"""

import numpy as np
import pytest

import vecpress as vp
import vecpress.gpu as gpu
from vecpress import _core

pytestmark = pytest.mark.gpu

requires_gpu = pytest.mark.skipif(
    not gpu.is_available(), reason=f"no usable GPU: {gpu.unavailable_reason()}"
)

METRICS = {"ip": 0, "l2": 1, "cosine": 2}


def test_no_gpu_raises_clear_error():
    if gpu.is_available():
        pytest.skip("a GPU is available; this checks the no-GPU path")
    assert gpu.is_available() is False
    assert gpu.device_count() == 0
    reason = gpu.unavailable_reason()
    if gpu._cuda is None:
        assert "built without CUDA" in reason
    else:
        # Built with CUDA but no driver/device: the extension loads and says so.
        assert gpu._cuda.device_count() == 0
        assert "no CUDA device" in reason
        assert gpu._cuda.device_status() != ""
        # A runtime failure is a Python exception, not a crash.
        with pytest.raises(gpu._cuda.CudaError, match="CUDA error"):
            gpu._cuda.DeviceArray.from_host(np.zeros((2, 3), np.float32))
    with pytest.raises(gpu.GPUUnavailableError, match="CUDA") as info:
        gpu.hamming_search(np.zeros((1, 8), np.uint8), np.zeros((4, 8), np.uint8), 1)
    assert str(info.value) == reason
    with pytest.raises(gpu.GPUUnavailableError):
        gpu.to_device(np.zeros(4, np.float32))


def int_floats(rng, shape, lo=-3, hi=4):
    return rng.integers(lo, hi, size=shape).astype(np.float32)


@requires_gpu
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("n,k", [(5000, 1), (5000, 10), (20000, 300), (30000, 2048), (5, 8)])
@pytest.mark.parametrize("nq", [3, 600])
def test_topk_select_matches_cpu(nq, n, k, largest):
    rng = np.random.default_rng(1)
    scores = int_floats(rng, (nq, n), 0, 20)  # many ties: order by lower id
    v, ids = gpu.topk_select(scores, k, largest)
    cv, cids = _core.topk_select(scores, k, largest)
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(v, cv)


@requires_gpu
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("nq", [1, 600])
def test_flat_search_exact_matches_cpu(metric, nq):
    rng = np.random.default_rng(2)
    x = int_floats(rng, (20000, 50))
    q = int_floats(rng, (nq, 50))
    d, k = 40, 10
    s, ids = gpu.flat_search(x, q, d, metric, k)
    cs, cids = _core.flat_search(x, q, d, METRICS[metric], k)
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(s, cs)


@requires_gpu
def test_flat_search_cosine_float_data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5000, 64)).astype(np.float32)
    q = rng.standard_normal((50, 64)).astype(np.float32)
    s, ids = gpu.flat_search(x, q, 48, "cosine", 20)
    cs, cids = _core.flat_search(x, q, 48, 2, 20)
    np.testing.assert_allclose(s, cs, rtol=1e-5, atol=1e-6)
    assert (ids == cids).mean() > 0.99


@requires_gpu
def test_flat_search_pads_when_k_exceeds_n():
    rng = np.random.default_rng(4)
    x = int_floats(rng, (5, 8))
    q = int_floats(rng, (3, 8))
    for metric in ("ip", "l2"):
        s, ids = gpu.flat_search(x, q, None, metric, 8)
        cs, cids = _core.flat_search(x, q, 8, METRICS[metric], 8)
        np.testing.assert_array_equal(ids, cids)
        np.testing.assert_array_equal(s, cs)
        assert (ids[:, 5:] == -1).all()


@requires_gpu
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_matryoshka_matches_cpu(metric):
    rng = np.random.default_rng(5)
    x = int_floats(rng, (20000, 48))
    q = int_floats(rng, (40, 48))
    dims, cands, k = [16, 32, 48], [200, 50], 10
    s, ids = gpu.matryoshka_search(x, q, metric, dims, cands, k)
    cs, cids = _core.matryoshka_search(x, q, METRICS[metric], dims, cands, k)
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(s, cs)


@requires_gpu
@pytest.mark.parametrize("d", [64, 100, 384])
@pytest.mark.parametrize("with_thresholds", [False, True])
def test_binarize_matches_cpu(d, with_thresholds):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1000, d + 3)).astype(np.float32)
    th = rng.standard_normal(d).astype(np.float32) * 0.1 if with_thresholds else None
    codes = gpu.binarize(x, d, th)
    np.testing.assert_array_equal(codes, _core.binarize(x, d, th))


@requires_gpu
@pytest.mark.parametrize("nq", [1, 600])
@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("nbytes", [8, 48])
def test_hamming_search_matches_cpu(nq, k, nbytes):
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=(30000, nbytes), dtype=np.uint8)
    qcodes = rng.integers(0, 256, size=(nq, nbytes), dtype=np.uint8)
    dist, ids = gpu.hamming_search(qcodes, codes, k)
    cdist, cids = _core.hamming_search(qcodes, codes, k)
    assert dist.dtype == np.int32
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(dist, cdist)


@requires_gpu
def test_hamming_search_pads_when_k_exceeds_n():
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, size=(3, 8), dtype=np.uint8)
    dist, ids = gpu.hamming_search(codes[:2], codes, 5)
    cdist, cids = _core.hamming_search(codes[:2], codes, 5)
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(dist, cdist)


@requires_gpu
@pytest.mark.parametrize("M", [8, 7, 32])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("nq", [1, 600])
def test_adc_search_u8_matches_cpu(M, largest, nq):
    rng = np.random.default_rng(9)
    tables = int_floats(rng, (nq, M, 256), 0, 16)
    codes = rng.integers(0, 256, size=(20000, M), dtype=np.uint8)
    s, ids = gpu.adc_search_u8(tables, codes, largest, 10)
    cs, cids = _core.adc_search_u8(tables, codes, largest, 10)
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(s, cs)


@requires_gpu
def test_adc_search_u8_float_tables_match_cpu_scores():
    rng = np.random.default_rng(10)
    tables = rng.standard_normal((20, 16, 256)).astype(np.float32)
    codes = rng.integers(0, 256, size=(10000, 16), dtype=np.uint8)
    s, ids = gpu.adc_search_u8(tables, codes, True, 10)
    cs, cids = _core.adc_search_u8(tables, codes, True, 10)
    np.testing.assert_allclose(s, cs, rtol=1e-5, atol=1e-5)
    assert (ids == cids).mean() > 0.99


def adc_tables_ref(q, centroids, l2):
    M, ksub, dsub = centroids.shape
    qs = q.astype(np.float64).reshape(len(q), M, 1, dsub)
    c = centroids.astype(np.float64)[None]
    return ((qs - c) ** 2).sum(-1) if l2 else (qs * c).sum(-1)


@requires_gpu
@pytest.mark.parametrize("l2", [False, True])
def test_adc_tables_match_reference(l2):
    rng = np.random.default_rng(11)
    centroids = rng.standard_normal((8, 256, 12)).astype(np.float32)
    q = rng.standard_normal((30, 96)).astype(np.float32)
    t = (gpu.adc_table_l2 if l2 else gpu.adc_table_ip)(q, centroids)
    cpu = getattr(_core, "adc_table_l2" if l2 else "adc_table_ip", None)
    ref = adc_tables_ref(q, centroids, l2)
    np.testing.assert_allclose(t, ref, rtol=1e-4, atol=1e-4)
    assert t.shape == (30, 8, 256)
    if cpu is not None:
        np.testing.assert_allclose(t, cpu(q, centroids), rtol=1e-5, atol=1e-5)


@requires_gpu
def test_pq_search_equals_tables_then_scan():
    rng = np.random.default_rng(12)
    centroids = rng.standard_normal((8, 256, 4)).astype(np.float32)
    q = rng.standard_normal((25, 32)).astype(np.float32)
    codes = rng.integers(0, 256, size=(5000, 8), dtype=np.uint8)
    s, ids = gpu.pq_search(q, centroids, codes, 10, "l2")
    cs, cids = _core.adc_search_u8(gpu.adc_table_l2(q, centroids), codes, False, 10)
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(s, cs)


@requires_gpu
@pytest.mark.parametrize("dsub,ksub", [(4, 256), (16, 256), (8, 16)])
def test_pq_encode_matches_cpu_assignment(dsub, ksub):
    rng = np.random.default_rng(13)
    M = 8
    centroids = rng.standard_normal((M, ksub, dsub)).astype(np.float32)
    x = rng.standard_normal((4000, M * dsub)).astype(np.float32)
    codes = gpu.pq_encode(x, centroids)
    assert codes.shape == (4000, M) and codes.dtype == np.uint8
    # The CPU nearest-centroid kernel, one sub-space at a time.
    for m in range(M):
        sub = np.ascontiguousarray(x[:, m * dsub:(m + 1) * dsub])
        assign, dist = _core.kmeans_assign(sub, np.ascontiguousarray(centroids[m]))
        got = codes[:, m].astype(np.int64)
        # Near-ties may resolve differently in float32; the chosen distance may not.
        gd = ((sub - centroids[m][got]) ** 2).sum(1)
        np.testing.assert_allclose(gd, dist, rtol=1e-4, atol=1e-5)
        assert (got == assign).mean() > 0.999


def rq_beam_ref(x, codebooks, beam):
    """The beam search of vecpress/cuda/encode.hpp in float64 NumPy."""
    M, ksub, d = codebooks.shape
    cb = codebooks.astype(np.float64)
    out = np.zeros((len(x), M), np.uint8)
    for i, row in enumerate(x.astype(np.float64)):
        res = row[None, :]
        codes = np.zeros((1, 0), np.int64)
        for m in range(M):
            err = ((res[:, None, :] - cb[m][None]) ** 2).sum(-1).ravel()  # (nbeam * ksub,)
            order = np.lexsort((np.arange(err.size), err))[:beam]
            b, c = order // ksub, order % ksub
            res = res[b] - cb[m][c]
            codes = np.concatenate([codes[b], c[:, None]], axis=1)
        out[i] = codes[0]
    return out


def rq_error(x, codebooks, codes):
    rec = sum(codebooks[m].astype(np.float64)[codes[:, m]] for m in range(codebooks.shape[0]))
    return ((x.astype(np.float64) - rec) ** 2).sum(1)


@requires_gpu
@pytest.mark.parametrize("beam", [1, 4, 16])
def test_rq_encode_beam_matches_reference(beam):
    rng = np.random.default_rng(14)
    M, ksub, d = 4, 64, 24
    codebooks = (rng.standard_normal((M, ksub, d)) * (0.5 ** np.arange(M))[:, None, None]).astype(np.float32)
    x = rng.standard_normal((300, d)).astype(np.float32)
    codes = gpu.rq_encode_beam(x, codebooks, beam)
    assert codes.shape == (300, M) and codes.dtype == np.uint8
    cpu = getattr(_core, "rq_encode_beam", None)
    ref = cpu(x, codebooks, beam) if cpu is not None else rq_beam_ref(x, codebooks, beam)
    e_gpu, e_ref = rq_error(x, codebooks, codes), rq_error(x, codebooks, ref)
    # Float32 vs float64 sums can swap near-tied beams; the errors must agree.
    np.testing.assert_allclose(e_gpu, e_ref, rtol=1e-3, atol=1e-5)
    assert (codes == ref).all(axis=1).mean() > 0.97


@requires_gpu
def test_rq_wider_beam_never_worse_on_average():
    rng = np.random.default_rng(15)
    codebooks = rng.standard_normal((6, 32, 16)).astype(np.float32)
    x = rng.standard_normal((500, 16)).astype(np.float32)
    e1 = rq_error(x, codebooks, gpu.rq_encode_beam(x, codebooks, 1)).mean()
    e8 = rq_error(x, codebooks, gpu.rq_encode_beam(x, codebooks, 8)).mean()
    assert e8 < e1


@requires_gpu
def test_device_array_round_trip_and_interface():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    d = gpu._cuda.DeviceArray.from_host(a)
    cai = d.__cuda_array_interface__
    assert cai["shape"] == (4, 6) and cai["typestr"] == "<f4" and cai["version"] == 3
    np.testing.assert_array_equal(d.to_host(), a)
    # A DeviceArray is accepted where device arrays are, and results stay on the device.
    s, ids = gpu.flat_search(d, d, None, "l2", 2)
    assert isinstance(s, gpu._cuda.DeviceArray)
    np.testing.assert_array_equal(ids.to_host()[:, 0], np.arange(4))


@requires_gpu
def test_bad_inputs_raise_specific_errors():
    x = gpu.to_device(np.zeros((10, 8), np.float32))
    with pytest.raises(TypeError, match="uint8"):
        gpu.hamming_search(np.zeros((1, 8), np.int32), np.zeros((4, 8), np.uint8), 1)
    with pytest.raises(TypeError, match="float32"):
        gpu._cuda.flat_search(gpu._cuda.DeviceArray.from_host(np.zeros((3, 4), np.int64)),
                              x, 4, 0, 1)
    with pytest.raises(ValueError, match="k must be at most"):
        gpu.flat_search(x, x, None, "ip", 5000)
    with pytest.raises(ValueError, match="multiple of 8 bytes"):
        gpu.hamming_search(np.zeros((1, 4), np.uint8), np.zeros((4, 4), np.uint8), 1)
    with pytest.raises(ValueError, match="beam width"):
        gpu.rq_encode_beam(np.zeros((2, 4), np.float32), np.zeros((2, 16, 4), np.float32), 64)
    with pytest.raises(ValueError, match="metric"):
        gpu.flat_search(x, x, None, "hamming", 1)


@requires_gpu
def test_cupy_in_cupy_out():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(16)
    codes = rng.integers(0, 256, size=(5000, 16), dtype=np.uint8)
    q = rng.integers(0, 256, size=(7, 16), dtype=np.uint8)
    dist, ids = gpu.hamming_search(cp.asarray(q), cp.asarray(codes), 5)
    assert isinstance(dist, cp.ndarray) and isinstance(ids, cp.ndarray)
    cdist, cids = _core.hamming_search(q, codes, 5)
    np.testing.assert_array_equal(cp.asnumpy(ids), cids)
    np.testing.assert_array_equal(cp.asnumpy(dist), cdist)
    # Device-resident base, NumPy queries: NumPy results.
    dev_codes = gpu.to_device(codes)
    d2, i2 = gpu.hamming_search(q, dev_codes, 5)
    assert isinstance(i2, np.ndarray)
    np.testing.assert_array_equal(i2, cids)
    # A non-default CuPy stream is followed.
    with cp.cuda.Stream(non_blocking=True):
        x = cp.asarray(rng.standard_normal((3000, 32)).astype(np.float32))
        s, i = gpu.flat_search(x, x[:4], None, "l2", 1)
        assert (cp.asnumpy(i)[:, 0] == np.arange(4)).all()


# ---- index-level GPU path (Index.to_gpu) -------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: vp.FlatIndex(384, "ip"),
    lambda: vp.FlatIndex(384, "l2"),
    lambda: vp.MatryoshkaIndex(384, "cosine", dims=(128, 384), rerank=(100,)),
])
def test_index_to_gpu_matches_cpu(sample, make):
    if not gpu.is_available():
        pytest.skip("no CUDA build or no device")
    cpu_idx, gpu_idx = make(), make()
    for idx in (cpu_idx, gpu_idx):
        idx.add(sample.base, np.arange(5000, dtype=np.int64) * 3)
    gpu_idx.to_gpu()
    s1, i1 = cpu_idx.search(sample.queries, 10)
    s2, i2 = gpu_idx.search(sample.queries, 10)
    assert isinstance(i2, np.ndarray)
    assert (i1 == i2).mean() > 0.99
    np.testing.assert_allclose(s1, s2, rtol=1e-4, atol=1e-4)
    gpu_idx.remove(i1[:, 0])  # mutation refreshes the device copy
    assert not np.isin(gpu_idx.search(sample.queries, 10)[1], i1[:, 0]).any()
