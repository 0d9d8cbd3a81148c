"""The redesigned layer's contracts: one quantizer protocol, one search pipeline over a
backend, errors from the compiled modules as vecpress classes, PCA on our own kernels."""
import threading

import numpy as np
import pytest

import vecpress as vp
from vecpress import _core
from vecpress.backends import CPU, Backend
from vecpress.quantizers.rotations import PCARotation, second_moment


def test_sym_eigen_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 64))
    cov = a.T @ a / 300
    w, v = _core.sym_eigen(np.ascontiguousarray(cov))
    ref = np.linalg.eigvalsh(cov)[::-1]
    np.testing.assert_allclose(w, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, cov, atol=1e-10)  # eigenvectors as columns
    np.testing.assert_allclose(v.T @ v, np.eye(64), atol=1e-10)


def test_pca_rotation_matches_numpy(sample):
    x = sample.base[:3000]
    np.testing.assert_allclose(second_moment(x), x.T.astype(np.float64) @ x / len(x),
                               rtol=1e-5, atol=1e-7)
    rot = PCARotation().fit(x)
    w = np.linalg.eigvalsh(x.T.astype(np.float64) @ x / len(x))[::-1]
    np.testing.assert_allclose(rot.energy, w, rtol=1e-4, atol=1e-7)
    m = rot.matrix.astype(np.float64)
    np.testing.assert_allclose(m.T @ m, np.eye(x.shape[1]), atol=1e-5)


@pytest.mark.parametrize("q", [
    vp.ProductQuantizer(64, 8, 8), vp.ProductQuantizer(64, 16, 4),
    vp.ResidualQuantizer(64, 3, 8, beam=2), vp.GroupResidualQuantizer(64, 2, 2, 6, beam=2),
    vp.BinaryQuantizer(64), vp.BinaryQuantizer(64, bits=40, threshold="median"),
], ids=["pq8", "pq4", "rq", "grq", "binary", "binary40-median"])
def test_quantizer_protocol(sample, q):
    """Every codec: train/encode/decode/compute_tables, and a code's table sum is the inner
    product of the query with the code's reconstruction."""
    x, qs = sample.base[:3000, :64], sample.queries[:5, :64]
    assert isinstance(q, vp.Quantizer)
    assert q.is_trained == (getattr(q, "threshold", None) == "zero")  # sign bits need no training
    q.train(x)
    codes = q.encode(x[:50])
    assert codes.dtype == np.uint8 and codes.shape == (50, q.code_size)
    rec = q.decode(codes)
    assert rec.shape == (50, 64) and rec.dtype == np.float32
    t = q.compute_tables(qs, "ip")
    assert t.shape == (5, q.code_size, q.ksub) and t.dtype == np.float32
    summed = np.take_along_axis(t[:, None, :, :], codes[None, :, :, None].astype(np.intp),
                                axis=3)[..., 0].sum(-1)
    np.testing.assert_allclose(summed, qs @ rec.T, rtol=1e-4, atol=1e-4)
    assert q.codebooks.flags.writeable is False


def test_small_training_set_warns_with_the_number_needed(sample):
    with pytest.warns(vp.SmallTrainingSetWarning, match="at least 9984"):
        vp.ProductQuantizer(384, 48, 8, niter=2).train(sample.base[:1000])


def test_matryoshka_last_stage_below_dim_warns():
    with pytest.warns(UserWarning, match="never look past dimension 384"):
        vp.MatryoshkaIndex(768, dims=(128, 384))


def test_binding_errors_are_vecpress_errors():
    x = np.zeros((4, 8), np.float32)
    with pytest.raises(vp.DTypeError) as e:
        _core.flat_search(x.astype(np.float64), x, 8, 0, 1)
    assert isinstance(e.value, TypeError)
    with pytest.raises(vp.ShapeError):
        _core.flat_search(np.asfortranarray(np.ones((4, 8), np.float32)), x, 8, 0, 1)
    with pytest.raises(vp.ParameterError):
        _core.flat_search(x, x, 8, 7, 1)
    with pytest.raises(vp.KernelError) as e:
        _core.parallel_raise_test(8, 3, 2)
    assert isinstance(e.value, ValueError) and "task 3 failed" in str(e.value)


def test_cpu_backend_has_every_kernel_and_cuda_needs_a_device():
    assert all(CPU.supports(k) for k in Backend.KERNELS)
    import vecpress.backends as backends
    import vecpress.gpu

    assert backends.get("cpu") is CPU
    with pytest.raises(vp.ParameterError):
        backends.get("tpu")
    if not vecpress.gpu.is_available():
        with pytest.raises(vp.GPUUnavailableError):
            backends.get("cuda")
        with pytest.raises(vp.GPUUnavailableError):
            vp.FlatIndex(8).to_gpu()


def test_per_call_parameters_from_two_threads(sample):
    """Two threads searching with different rerank depths each get what they asked for,
    and the index's own setting is unchanged."""
    idx = vp.BinaryIndex(384, rerank=100)
    idx.add(sample.base)
    q = sample.queries[:50]
    want = {d: idx.search(q, 10, rerank=d)[1] for d in (10, 200)}
    assert not np.array_equal(want[10], want[200])
    errors = []

    def run(depth):
        for _ in range(20):
            if not np.array_equal(idx.search(q, 10, rerank=depth, threads=1)[1], want[depth]):
                errors.append(depth)

    threads = [threading.Thread(target=run, args=(d,)) for d in (10, 200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and idx.rerank == 100


def test_transform_is_what_the_index_stores(sample):
    idx = vp.PQIndex(384, "cosine", M=48, rotation="pca", niter=2)
    idx.train(sample.base)
    t = idx.transform(sample.base[:5])
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(idx.quantizer.encode(t), idx.encode(sample.base[:5]))
