"""The CUDA RaBitQ popcount scan (vecpress.gpu.rabitq_search) against the CPU kernel
(vecpress._core.rabitq_search), and RaBitQIndex.to_gpu().

The integer part (AND + popcount over the query's bit planes) is checked bit for bit
through codes whose factors make the estimate equal the integer itself; real codes
compare the float estimates. The GPU tests skip without a CUDA build and a device; the
tests above them run anywhere: the CUDA extension exposes the kernel when it is built,
and the CPU kernel evaluates the correction in the order the CUDA kernel mirrors.
"""

import numpy as np
import pytest

import vecpress as vp
import vecpress.gpu as gpu
from vecpress import _core
from vecpress.backends import CPU, Backend
from vecpress.backends.cuda import CudaBackend
from vecpress.errors import DTypeError, KernelError, ParameterError, ShapeError
from vecpress.quantizers.rabitq import RaBitQuantizer

pytestmark = pytest.mark.gpu

requires_gpu = pytest.mark.skipif(
    not gpu.is_available(), reason=f"no usable GPU: {gpu.unavailable_reason()}"
)


# ---- anywhere ------------------------------------------------------------------------------

def test_cuda_extension_exposes_rabitq_search():
    if gpu._cuda is None:
        pytest.skip(f"the CUDA extension is not built: {gpu.unavailable_reason()}")
    assert callable(gpu._cuda.rabitq_search)
    assert "rabitq_search" in gpu.__all__
    # Argument checks run before any device call, so they answer without a GPU too.
    with pytest.raises(ParameterError, match="qb"):
        gpu._cuda.rabitq_search(None, 0, None, None, True, 1)
    with pytest.raises(ParameterError, match="non-negative"):
        gpu._cuda.rabitq_search(None, 4, None, None, True, -1)
    with pytest.raises(DTypeError, match="device array"):
        gpu._cuda.rabitq_search(np.zeros((1, 32), np.uint8), 4, np.zeros((1, 8), np.float32),
                                np.zeros((3, 24), np.uint8), True, 1)


def test_backends_declare_rabitq_search():
    assert "rabitq_search" in Backend.KERNELS
    assert CPU.supports("rabitq_search")
    assert CudaBackend.rabitq_search is not Backend.rabitq_search  # supports() without a device


def test_gpu_wrapper_without_device_raises_clear_error():
    if gpu.is_available():
        pytest.skip("a GPU is available; this checks the no-GPU path")
    with pytest.raises(gpu.GPUUnavailableError, match="CUDA"):
        gpu.rabitq_search(np.zeros((1, 4), np.uint64), 4, np.zeros((1, 8), np.float32),
                          np.zeros((2, 24), np.uint8), True, 1)


def test_cpu_correction_order_is_what_the_cuda_kernel_mirrors(rng):
    """The CUDA kernel evaluates f_add + c0 + c1 * (f_mul * (c2 * ip + c3) + c4 * f_pop)
    with one float32 rounding per operation, left to right (no FMA). The CPU scores must be
    exactly that, or the two devices would not agree bit for bit."""
    d = 200
    x = rng.standard_normal((3000, d)).astype(np.float32) + 0.1
    q = rng.standard_normal((7, d)).astype(np.float32)
    for metric in ("ip", "l2"):
        qz = RaBitQuantizer(d, metric, seed=5).train(x)
        codes = qz.encode(x)
        planes, qc = qz.query_codes(q)
        est, _ = _core.rabitq_scores(planes, qz.qb, qc, codes, 1)
        ip = _core.rabitq_ip_bin(planes, qz.qb, codes, 1).astype(np.float32)
        f = qz.factors(codes).astype(np.float32)
        c = [qc[:, i:i + 1] for i in range(5)]
        inner = c[2] * ip + c[3]
        t = f[None, :, 1] * inner + c[4] * f[None, :, 2]
        want = (f[None, :, 0] + c[0]) + c[1] * t
        np.testing.assert_array_equal(est, want)


def test_rabitq_index_gpu_kernels():
    assert vp.RaBitQIndex(64, scan="popcount", rerank=0)._gpu_kernels == ("rabitq_search",)
    assert vp.RaBitQIndex(64, scan="popcount")._gpu_kernels == ("rabitq_search", "rerank_exact")
    assert vp.RaBitQIndex(64)._gpu_kernels == ()  # fast-scan: CPU only
    assert vp.RaBitQIndex(64, ex_bits=3, rerank=0)._gpu_kernels == ()


def test_rabitq_index_to_gpu_without_device(rng):
    if gpu.is_available():
        pytest.skip("a GPU is available; this checks the no-GPU path")
    idx = vp.RaBitQIndex(32, scan="popcount", rerank=0)
    idx.train(rng.standard_normal((100, 32)).astype(np.float32))
    idx.add(rng.standard_normal((100, 32)).astype(np.float32))
    with pytest.raises(vp.GPUUnavailableError):
        idx.to_gpu()
    assert not idx.on_gpu and idx.search(rng.standard_normal((2, 32)), 3)[1].shape == (2, 3)


# ---- on a device ---------------------------------------------------------------------------

def integer_problem(rng, nq, n, D, qb):
    """Random sign bits and query planes; factors [0, 1, 0, 0] and constants
    [0, 1, 1, 0, 0, ...] make every estimate the integer <b, u> itself (exact in float32,
    so ties are frequent and ordered by the lower row)."""
    cb = _core.rabitq_code_bytes(D)
    codes = np.zeros((n, cb), np.uint8)
    codes[:, : D // 8] = rng.integers(0, 256, size=(n, D // 8), dtype=np.uint8)
    codes[:, D // 8:] = np.array([0, 1, 0, 0], np.float32).view(np.uint8)
    planes = rng.integers(0, 256, size=(nq, qb * D // 8), dtype=np.uint8).view(np.uint64)
    qc = np.zeros((nq, 8), np.float32)
    qc[:, 1] = qc[:, 2] = 1
    return planes, qc, codes


@requires_gpu
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("nq,n,k", [(1, 20000, 10), (3, 5000, 300), (300, 3000, 10),
                                    (2, 5, 8), (4, 0, 3)])
@pytest.mark.parametrize("D,qb", [(64, 1), (384, 4), (128, 8)])
def test_integer_part_matches_cpu_bit_for_bit(rng, nq, n, k, D, qb, largest):
    planes, qc, codes = integer_problem(rng, nq, n, D, qb)
    v, ids = gpu.rabitq_search(planes, qb, qc, codes, largest, k)
    cv, cids = _core.rabitq_search(planes, qb, qc, codes, largest, k)
    np.testing.assert_array_equal(ids, cids)
    np.testing.assert_array_equal(v, cv)
    if n:  # the estimate is the integer part itself
        ip = _core.rabitq_ip_bin(planes, qb, codes, 1).astype(np.float32)
        tv, tids = _core.topk_select(ip, k, largest)
        np.testing.assert_array_equal(ids, tids)
        np.testing.assert_array_equal(v, tv)


@requires_gpu
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("nq", [1, 200])
def test_real_codes_match_cpu(rng, metric, nq):
    d = 200
    x = rng.standard_normal((30000, d)).astype(np.float32) + 0.1
    q = rng.standard_normal((nq, d)).astype(np.float32)
    qz = RaBitQuantizer(d, metric, seed=7).train(x[:5000])
    codes = qz.encode(x)
    planes, qc = qz.query_codes(q)
    largest = metric == "ip"
    v, ids = gpu.rabitq_search(planes, qz.qb, qc, codes, largest, 50)
    cv, cids = _core.rabitq_search(planes, qz.qb, qc, codes, largest, 50)
    np.testing.assert_allclose(v, cv, rtol=1e-6, atol=1e-5)
    assert (ids == cids).mean() > 0.99  # near-ties could swap if the floats differed
    # The uint8 view of the planes is accepted as it is.
    v2, ids2 = gpu.rabitq_search(planes.view(np.uint8), qz.qb, qc, codes, largest, 50)
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_array_equal(v2, v)


@requires_gpu
def test_device_arrays_and_errors(rng):
    cp = pytest.importorskip("cupy")
    D, qb = 192, 4
    planes, qc, codes = integer_problem(rng, 5, 4000, D, qb)
    v, ids = gpu.rabitq_search(cp.asarray(planes), qb, cp.asarray(qc), gpu.to_device(codes),
                               True, 7)
    assert isinstance(ids, cp.ndarray) and isinstance(v, cp.ndarray)
    cv, cids = _core.rabitq_search(planes, qb, qc, codes, True, 7)
    np.testing.assert_array_equal(cp.asnumpy(ids), cids)
    np.testing.assert_array_equal(cp.asnumpy(v), cv)
    with pytest.raises(ShapeError, match="D / 8 \\+ 16"):
        gpu.rabitq_search(planes, qb, qc, codes[:, :-1], True, 7)
    with pytest.raises(ParameterError, match="axis 1"):
        gpu.rabitq_search(planes, qb + 1, qc, codes, True, 7)
    with pytest.raises(ParameterError, match="axis 0"):
        gpu.rabitq_search(planes, qb, qc[:-1], codes, True, 7)
    with pytest.raises(KernelError, match="at most"):
        gpu.rabitq_search(planes, qb, qc, codes, True, 5000)
    # Codes that do not start on an 8-byte boundary are refused, not misread.
    buf = cp.zeros(codes.size + 1, cp.uint8)
    shifted = buf[1:].reshape(codes.shape)
    with pytest.raises(KernelError, match="8-byte"):
        gpu.rabitq_search(cp.asarray(planes), qb, cp.asarray(qc), shifted, True, 7)


@requires_gpu
@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_index_to_gpu_matches_cpu(sample, metric):
    cpu_idx, gpu_idx = (vp.RaBitQIndex(sample.dim, metric, scan="popcount", rerank=0)
                        for _ in range(2))
    ids = np.arange(len(sample.base), dtype=np.int64) * 3
    for idx in (cpu_idx, gpu_idx):
        idx.train(sample.base)
        idx.add(sample.base, ids)
    gpu_idx.to_gpu()
    assert gpu_idx.on_gpu
    s1, i1 = cpu_idx.search(sample.queries, 10)
    s2, i2 = gpu_idx.search(sample.queries, 10)
    assert isinstance(i2, np.ndarray)
    assert (i1 == i2).mean() > 0.99
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)
    gpu_idx.remove(i1[:, 0])  # mutation refreshes the device copy
    assert not np.isin(gpu_idx.search(sample.queries, 10)[1], i1[:, 0]).any()
    with pytest.raises(ParameterError, match="CPU"):
        gpu_idx.search(sample.queries, 10, filter=ids[:100])
    gpu_idx.scan = "fastscan"  # settable on the device; the search says what runs there
    with pytest.raises(ParameterError, match="popcount"):
        gpu_idx.search(sample.queries, 10)
    gpu_idx.to_cpu()
    assert gpu_idx.search(sample.queries, 10)[1].shape == i1.shape


@requires_gpu
def test_index_to_gpu_refuses_what_runs_on_the_cpu_only():
    with pytest.raises(NotImplementedError, match="popcount"):
        vp.RaBitQIndex(64, rerank=0).to_gpu()
    with pytest.raises(NotImplementedError, match="popcount"):
        vp.RaBitQIndex(64, ex_bits=2, rerank=0).to_gpu()
    if not CudaBackend().supports("rerank_exact"):
        with pytest.raises(NotImplementedError, match="rerank"):
            vp.RaBitQIndex(64, scan="popcount").to_gpu()
