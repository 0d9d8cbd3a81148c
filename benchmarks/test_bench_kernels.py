"""Kernel micro-benchmarks (pytest-benchmark), each paired with its faiss (or
numpy) equivalent in the same session and on the same arrays, so the group
table reads as a ratio. Run from the repository root (see benchmarks/README.md):

    PYTHONPATH=python python -m pytest benchmarks/test_bench_kernels.py --benchmark-only

Data: the first 50,000 rows of ../shared/data/wordnet-minilm (real MiniLM
embeddings) when present, else the bundled 5,000-row sample; 1,000 queries
(200 for the sample), k=10, VECPRESS_BENCH_THREADS threads (default: all
cores) for both libraries.
Before timing, each pair is checked to compute the same thing (same ids or
near-identical recall), so a fast wrong kernel cannot pass for a fast one.
"""
import os
from pathlib import Path

import numpy as np
import pytest

import vecpress as vp
from vecpress import _core
from vecpress.datasets import load_npy_dir, load_sample
from vecpress.metrics import recall_at_k

faiss = pytest.importorskip("faiss")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wordnet-minilm"
THREADS = int(os.environ.get("VECPRESS_BENCH_THREADS", "0")) or vp.get_num_threads()
# 1,000 queries, the harness's batch: faiss 1.15 takes its BLAS path for exact
# search only on large enough batches (100 queries ran at a tenth of its 1,000-query rate)
K, NQ, N = 10, 1000, 50_000
IP = 0  # metric code of inner product in _core


@pytest.fixture(scope="module")
def data():
    faiss.omp_set_num_threads(THREADS)
    vp.set_num_threads(THREADS)
    if (SHARED / "base.npy").exists():
        ds = load_npy_dir(SHARED, NQ)
        x = np.ascontiguousarray(ds.base[:N])
    else:
        ds = load_sample()
        x = ds.base
    q = np.ascontiguousarray(ds.queries[:NQ])
    return x, q


# ---- exact scan ------------------------------------------------------------
@pytest.fixture(scope="module")
def faiss_flat(data):
    x, _ = data
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    return index


@pytest.mark.benchmark(group="exact scan (flat_search vs IndexFlatIP)")
def test_flat_search_vecpress(benchmark, data, faiss_flat):
    x, q = data
    ids = benchmark(_core.flat_search, x, q, x.shape[1], IP, K, THREADS)[1]
    assert recall_at_k(ids, faiss_flat.search(q, K)[1], K) > 0.999


@pytest.mark.benchmark(group="exact scan (flat_search vs IndexFlatIP)")
def test_flat_search_faiss(benchmark, data, faiss_flat):
    benchmark(faiss_flat.search, data[1], K)


# ---- truncated (Matryoshka prefix) scan --------------------------------------
PREFIX = 128


@pytest.fixture(scope="module")
def faiss_prefix(data):
    x, _ = data
    index = faiss.IndexFlatIP(PREFIX)  # faiss needs a contiguous copy of the prefixes
    index.add(np.ascontiguousarray(x[:, :PREFIX]))
    return index


@pytest.mark.benchmark(group="prefix scan 128 of 384 (matryoshka_search vs IndexFlatIP(128))")
def test_prefix_scan_vecpress(benchmark, data, faiss_prefix):
    x, q = data
    ids = benchmark(_core.matryoshka_search, x, q, IP, [PREFIX], [], K, THREADS)[1]
    want = faiss_prefix.search(np.ascontiguousarray(q[:, :PREFIX]), K)[1]
    assert recall_at_k(ids, want, K) > 0.999


@pytest.mark.benchmark(group="prefix scan 128 of 384 (matryoshka_search vs IndexFlatIP(128))")
def test_prefix_scan_faiss(benchmark, data, faiss_prefix):
    qp = np.ascontiguousarray(data[1][:, :PREFIX])
    benchmark(faiss_prefix.search, qp, K)


@pytest.mark.benchmark(group="cascade 128->384, 100 candidates (vs IndexFlatIP full scan)")
def test_cascade_vecpress(benchmark, data, faiss_flat):
    x, q = data
    ids = benchmark(_core.matryoshka_search, x, q, IP, [PREFIX, x.shape[1]], [100], K, THREADS)[1]
    assert recall_at_k(ids, faiss_flat.search(q, K)[1], K) > 0.5  # raw prefixes: lossy


@pytest.mark.benchmark(group="cascade 128->384, 100 candidates (vs IndexFlatIP full scan)")
def test_cascade_faiss_full_scan(benchmark, data, faiss_flat):
    benchmark(faiss_flat.search, data[1], K)


# ---- Hamming scan ------------------------------------------------------------
@pytest.fixture(scope="module")
def codes(data):
    x, q = data
    return _core.binarize(x, x.shape[1]), _core.binarize(q, x.shape[1])


@pytest.fixture(scope="module")
def faiss_binary(data, codes):
    index = faiss.IndexBinaryFlat(data[0].shape[1])
    index.add(codes[0])
    return index


@pytest.mark.benchmark(group="Hamming top-10, 384 bits (hamming_search vs IndexBinaryFlat)")
def test_hamming_vecpress(benchmark, codes, faiss_binary):
    xb, qb = codes
    d, _ = benchmark(_core.hamming_search, qb, xb, K, THREADS)
    want, _ = faiss_binary.search(qb, K)
    assert np.array_equal(d, want)  # same distances (ids may differ among ties)


@pytest.mark.benchmark(group="Hamming top-10, 384 bits (hamming_search vs IndexBinaryFlat)")
def test_hamming_faiss(benchmark, codes, faiss_binary):
    benchmark(faiss_binary.search, codes[1], K)


# ---- binary encoding -----------------------------------------------------------
@pytest.mark.benchmark(group="sign binarize 50k x 384 (binarize vs numpy packbits)")
def test_binarize_vecpress(benchmark, data):
    x = data[0]
    out = benchmark(_core.binarize, x, x.shape[1], None, THREADS)
    assert np.array_equal(out, np.packbits(x > 0, axis=1, bitorder="little"))


@pytest.mark.benchmark(group="sign binarize 50k x 384 (binarize vs numpy packbits)")
def test_binarize_numpy(benchmark, data):
    # faiss has no batched float->sign-bit encoder in Python; numpy is the baseline
    benchmark(lambda x: np.packbits(x > 0, axis=1, bitorder="little"), data[0])


# ---- ADC scan over 8-bit PQ codes ------------------------------------------------
M = 48


@pytest.fixture(scope="module")
def pq(data):
    """faiss IndexPQ (M=48, 8 bits, IP), its codes, and IP lookup tables (nq, M, 256)
    computed from its codebooks, so both sides scan identical codes and tables."""
    x, q = data
    d = x.shape[1]
    index = faiss.IndexPQ(d, M, 8, faiss.METRIC_INNER_PRODUCT)
    index.pq.cp.niter = 10
    index.train(x[:: max(1, x.shape[0] // 20_000)])
    index.add(x)
    codes = faiss.vector_to_array(index.codes).reshape(x.shape[0], M)
    cent = faiss.vector_to_array(index.pq.centroids).reshape(M, 256, d // M)
    tables = np.ascontiguousarray(
        np.einsum("qmd,mkd->qmk", q.reshape(q.shape[0], M, d // M), cent), dtype=np.float32)
    return index, codes, tables


@pytest.mark.benchmark(group="ADC scan, PQ 48x8 (adc_search_u8 vs IndexPQ.search)")
def test_adc_u8_vecpress(benchmark, data, pq):
    index, codes, tables = pq
    s, ids = benchmark(_core.adc_search_u8, tables, codes, True, K, THREADS)
    want_s, want = index.search(data[1], K)
    assert recall_at_k(ids, want, K) > 0.98  # float summation order may swap near-ties
    np.testing.assert_allclose(s, want_s, rtol=1e-4, atol=1e-4)


@pytest.mark.benchmark(group="ADC scan, PQ 48x8 (adc_search_u8 vs IndexPQ.search)")
def test_adc_u8_faiss(benchmark, data, pq):
    # includes faiss's table computation (~nq*M*256*dsub flops, small next to the scan)
    benchmark(pq[0].search, data[1], K)


# ---- k-means -------------------------------------------------------------------------
KM_N, KM_K, KM_ITER = 20_000, 256, 10


@pytest.mark.benchmark(group="k-means 20k x 384 -> 256, 10 iterations (kmeans_train vs faiss.Kmeans)")
def test_kmeans_vecpress(benchmark, data):
    x = np.ascontiguousarray(data[0][:KM_N])
    _, err = benchmark.pedantic(_core.kmeans_train, (x, KM_K, KM_ITER, 1234, 256, False, THREADS),
                                rounds=3, iterations=1)
    km = faiss.Kmeans(x.shape[1], KM_K, niter=KM_ITER, seed=1234, max_points_per_centroid=256)
    km.train(x)
    _, dist = km.index.search(x, 1)
    assert err <= 1.05 * float(dist.mean())  # same quality objective as faiss (MSE)


@pytest.mark.benchmark(group="k-means 20k x 384 -> 256, 10 iterations (kmeans_train vs faiss.Kmeans)")
def test_kmeans_faiss(benchmark, data):
    x = np.ascontiguousarray(data[0][:KM_N])

    def train():
        faiss.Kmeans(x.shape[1], KM_K, niter=KM_ITER, seed=1234, max_points_per_centroid=256).train(x)
    benchmark.pedantic(train, rounds=3, iterations=1)
