"""NVIDIA GPU versions of the vecpress kernels (optional).

The CUDA kernels live in a second extension, ``vecpress._cuda``, built only when
CMake finds a CUDA compiler. This module imports it if it can; nothing else in
vecpress does, so the CPU package works unchanged without it.

Arrays
------
Every function accepts NumPy arrays (copied to the device for the call) or
device arrays: CuPy arrays, or any object exposing ``__cuda_array_interface__``
(these stay on the device; they must already have the exact dtype and be
C-contiguous). Results come back as the type of the *leading* argument (the
queries, or the vectors being encoded):

- NumPy in -> NumPy out (the call waits for the GPU);
- CuPy in -> CuPy out, computed on CuPy's current stream, no copy, no wait;
- another ``__cuda_array_interface__`` object in -> :class:`vecpress._cuda.DeviceArray`
  (itself a ``__cuda_array_interface__`` object, so torch/numba can wrap it).

CuPy is optional (``pip install vecpress[cuda]`` installs ``cupy-cuda13x``);
without it NumPy in/out still works, and :func:`to_device` returns a
``DeviceArray``.

Signatures
----------
Each kernel takes the same arguments in the same order as its CPU twin in
``vecpress._core`` (``flat_search(x, q, d, metric, k)``, ``adc_search_u8(tables,
codes, largest, k)``, ...), with the CPU's trailing ``nthreads`` replaced by the
keyword ``stream``; ``vecpress.backends`` builds the indexes' CUDA backend on
them, so one search pipeline serves both devices (``Index.to_gpu()``).

Metrics are ``"ip"``, ``"l2"`` (squared distance) or ``"cosine"`` (or the
integers 0, 1, 2 the kernels use). Ids are int64 row numbers, -1 for padding.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .errors import DTypeError, GPUUnavailableError, ParameterError

try:
    from . import _cuda
except ImportError as _exc:  # not built with CUDA (or the extension cannot load)
    _cuda = None
    _IMPORT_ERROR = str(_exc)
else:
    _IMPORT_ERROR = ""

__all__ = [
    "GPUUnavailableError",
    "adc_search_u8",
    "adc_table_ip",
    "adc_table_l2",
    "binarize",
    "device_count",
    "device_info",
    "flat_search",
    "hamming_search",
    "is_available",
    "matryoshka_search",
    "pq_encode",
    "pq_search",
    "rabitq_search",
    "require",
    "rq_encode_beam",
    "to_device",
    "to_host",
    "topk_select",
    "unavailable_reason",
]

_METRICS = _core.METRICS  # the codes the kernels take, exported once by the compiled module


def device_count() -> int:
    """Number of CUDA devices vecpress can use (0 when not built or no driver)."""
    return _cuda.device_count() if _cuda is not None else 0


def unavailable_reason() -> str | None:
    """Why the GPU cannot be used, or None when it can."""
    if _cuda is None:
        return (
            "vecpress was built without CUDA support (the vecpress._cuda extension is missing: "
            f"{_IMPORT_ERROR}); rebuild with a CUDA toolkit (nvcc) on PATH, "
            "e.g. pip install vecpress -Ccmake.define.VECPRESS_CUDA=ON"
        )
    if _cuda.device_count() == 0:
        return f"no CUDA device is available ({_cuda.device_status()})"
    return None


def is_available() -> bool:
    """True when the CUDA extension is built and at least one device is visible."""
    return _cuda is not None and _cuda.device_count() > 0


def require() -> None:
    """Raise :class:`GPUUnavailableError` naming the cause unless a GPU can be used."""
    reason = unavailable_reason()
    if reason is not None:
        raise GPUUnavailableError(reason)


def device_info(device: int = 0) -> dict:
    """Name, compute capability, SM count, memory and peak bandwidth (GB/s) of a device."""
    require()
    return _cuda.device_info(device)


def _cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _is_device(a) -> bool:
    return hasattr(a, "__cuda_array_interface__")


def _is_cupy(a) -> bool:
    cp = _cupy()
    return cp is not None and isinstance(a, cp.ndarray)


def _stream_for(lead, stream) -> int:
    """The stream a call runs on: the caller's, else CuPy's current one for CuPy input."""
    if stream is not None:
        return int(stream)
    if _is_cupy(lead):
        return int(_cupy().cuda.get_current_stream().ptr)
    return 0


def _host_array(a, name: str, dtype) -> np.ndarray:
    arr = np.asarray(a)
    if dtype == np.float32:
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise DTypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        return np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype != dtype:
        raise DTypeError(
            f"{name} must have dtype {np.dtype(dtype).name}, got {arr.dtype}; "
            f"convert with .astype(np.{np.dtype(dtype).name})"
        )
    return np.ascontiguousarray(arr)


def _arg(a, name: str, dtype, stream: int):
    """A device array for the kernel: device inputs as they are, NumPy copied over."""
    if _is_device(a):
        return a
    return _cuda.DeviceArray.from_host(_host_array(a, name, dtype), stream)


def _wrap(out, lead):
    """Returns a kernel output as the leading argument's array type."""
    if not _is_device(lead):
        return out.to_host()
    if _is_cupy(lead):
        cp = _cupy()
        mem = cp.cuda.UnownedMemory(out.ptr, out.nbytes, out)
        return cp.ndarray(out.shape, dtype=out.dtype, memptr=cp.cuda.MemoryPointer(mem, 0))
    return out


def _metric(metric) -> int:
    if isinstance(metric, str):
        try:
            return _METRICS[metric.lower()]
        except KeyError:
            raise ParameterError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}") from None
    m = int(metric)
    if m not in _METRICS.values():
        raise ParameterError("metric must be 'ip', 'l2' or 'cosine' (0, 1, 2)")
    return m


def to_device(a, dtype=None):
    """Copies a host array to the current device and keeps it there.

    Returns a CuPy array when CuPy is installed, else a ``DeviceArray``; device
    arrays are returned unchanged. Use it to make an index's payload resident.
    """
    require()
    if _is_device(a):
        return a
    arr = np.ascontiguousarray(a if dtype is None else np.asarray(a, dtype=dtype))
    dev = _cuda.DeviceArray.from_host(arr, 0)
    # A one-time move: wait for the copy so any stream may read the array.
    _cuda.synchronize(0)
    cp = _cupy()
    if cp is None:
        return dev
    mem = cp.cuda.UnownedMemory(dev.ptr, dev.nbytes, dev)
    return cp.ndarray(dev.shape, dtype=dev.dtype, memptr=cp.cuda.MemoryPointer(mem, 0))


def to_host(a) -> np.ndarray:
    """A NumPy copy of a device array (or the array itself if it is already on the host)."""
    if _is_cupy(a):
        return _cupy().asnumpy(a)
    if _cuda is not None and isinstance(a, _cuda.DeviceArray):
        return a.to_host()
    if _is_device(a):
        raise DTypeError("copy this device array to the host with its own library (e.g. .cpu())")
    return np.asarray(a)


def topk_select(scores, k: int, largest: bool, *, stream=None):
    """Top-k of each row of scores (nq, n) float32 -> (values (nq, k), ids (nq, k))."""
    require()
    s = _stream_for(scores, stream)
    v, ids = _cuda.topk_select(_arg(scores, "scores", np.float32, s), int(k), bool(largest), s)
    return _wrap(v, scores), _wrap(ids, scores)


def flat_search(x, q, d: int | None, metric, k: int, *, stream=None):
    """Exact top-k of queries q (nq, >= d) against rows x (n, >= d) on their first d dims
    (d=None: all of q's columns).

    Returns (scores (nq, k) float32, ids (nq, k) int64); IP/cosine larger is
    better, L2 is the squared distance (smaller is better).
    """
    require()
    s = _stream_for(q, stream)
    xd = _arg(x, "x", np.float32, s)
    qd = _arg(q, "q", np.float32, s)
    if d is None:
        d = qd.shape[1]
    sc, ids = _cuda.flat_search(xd, qd, int(d), _metric(metric), int(k), s)
    return _wrap(sc, q), _wrap(ids, q)


def matryoshka_search(x, q, metric, dims, candidates, k: int, *, stream=None):
    """Prefix scan on dims[0] keeping candidates[0], reranks on dims[1:], top k."""
    require()
    s = _stream_for(q, stream)
    sc, ids = _cuda.matryoshka_search(
        _arg(x, "x", np.float32, s),
        _arg(q, "q", np.float32, s),
        _metric(metric),
        [int(v) for v in dims],
        [int(v) for v in candidates],
        int(k),
        s,
    )
    return _wrap(sc, q), _wrap(ids, q)


def binarize(x, d: int | None, thresholds=None, *, stream=None):
    """Sign bits of the first d dims (x > thresholds, default 0), LSB first:
    codes (n, 8 * ceil(d / 64)) uint8, the layout of vecpress._core.binarize."""
    require()
    s = _stream_for(x, stream)
    xd = _arg(x, "x", np.float32, s)
    if d is None:
        d = xd.shape[1]
    th = None if thresholds is None else _arg(thresholds, "thresholds", np.float32, s)
    return _wrap(_cuda.binarize(xd, int(d), th, s), x)


def hamming_search(qcodes, codes, k: int, *, stream=None):
    """k smallest Hamming distances: (dist (nq, k) int32, ids (nq, k) int64)."""
    require()
    s = _stream_for(qcodes, stream)
    dist, ids = _cuda.hamming_search(
        _arg(qcodes, "qcodes", np.uint8, s), _arg(codes, "codes", np.uint8, s), int(k), s
    )
    return _wrap(dist, qcodes), _wrap(ids, qcodes)


def pq_encode(x, centroids, *, stream=None):
    """PQ codes (n, M) uint8 of x (n, M * dsub) with centroids (M, ksub, dsub)."""
    require()
    s = _stream_for(x, stream)
    codes = _cuda.pq_encode(
        _arg(x, "x", np.float32, s), _arg(centroids, "centroids", np.float32, s), s
    )
    return _wrap(codes, x)


def rq_encode_beam(x, codebooks, beam: int, *, stream=None):
    """Residual-quantizer codes (n, M) uint8 of x (n, d), codebooks (M, ksub, d),
    by beam search of width `beam` (see vecpress/cuda/encode.hpp)."""
    require()
    s = _stream_for(x, stream)
    codes = _cuda.rq_encode_beam(
        _arg(x, "x", np.float32, s), _arg(codebooks, "codebooks", np.float32, s), int(beam), s
    )
    return _wrap(codes, x)


def adc_table_ip(q, centroids, *, stream=None):
    """Tables (nq, M, ksub): <q_m, centroids[m, c]> for q (nq, M * dsub)."""
    require()
    s = _stream_for(q, stream)
    t = _cuda.adc_table_ip(_arg(q, "q", np.float32, s), _arg(centroids, "centroids", np.float32, s), s)
    return _wrap(t, q)


def adc_table_l2(q, centroids, *, stream=None):
    """Tables (nq, M, ksub): ||q_m - centroids[m, c]||^2 for q (nq, M * dsub)."""
    require()
    s = _stream_for(q, stream)
    t = _cuda.adc_table_l2(_arg(q, "q", np.float32, s), _arg(centroids, "centroids", np.float32, s), s)
    return _wrap(t, q)


def adc_search_u8(tables, codes, largest: bool, k: int, *, stream=None):
    """Top-k of sum_m tables[i, m, codes[j, m]]: tables (nq, M, 256), codes (n, M) uint8."""
    require()
    s = _stream_for(tables, stream)
    sc, ids = _cuda.adc_search_u8(
        _arg(tables, "tables", np.float32, s), _arg(codes, "codes", np.uint8, s),
        bool(largest), int(k), s,
    )
    return _wrap(sc, tables), _wrap(ids, tables)


def pq_search(q, centroids, codes, k: int, metric="l2", *, stream=None):
    """PQ search without host round-trips: tables built and scanned on the device.

    q (nq, M * dsub), centroids (M, 256, dsub), codes (n, M) uint8; metric
    "l2" (smaller is better) or "ip". Returns (scores, ids) like adc_search_u8.
    """
    require()
    m = _metric(metric)
    if m == 2:
        raise ParameterError("pq_search scores 'l2' or 'ip'; normalize the queries for cosine")
    s = _stream_for(q, stream)
    qd = _arg(q, "q", np.float32, s)
    cd = _arg(centroids, "centroids", np.float32, s)
    tables = (_cuda.adc_table_l2 if m == 1 else _cuda.adc_table_ip)(qd, cd, s)
    sc, ids = _cuda.adc_search_u8(tables, _arg(codes, "codes", np.uint8, s), m != 1, int(k), s)
    return _wrap(sc, q), _wrap(ids, q)


def _planes_arg(qplanes, stream: int):
    """RaBitQ query bit planes (nq, W) uint64 as the kernel's bytes (nq, 8 W) uint8 (the
    device buffers hold no uint64): a view of device arrays, a copy of host ones."""
    if _is_cupy(qplanes):
        if qplanes.dtype == np.uint64:
            qplanes = _cupy().ascontiguousarray(qplanes).view(np.uint8)
        return qplanes
    if _is_device(qplanes):
        return qplanes  # another library's array: must already be the (nq, 8 W) uint8 bytes
    arr = np.asarray(qplanes)
    if arr.dtype == np.uint64:
        arr = np.ascontiguousarray(arr).view(np.uint8)
    return _cuda.DeviceArray.from_host(_host_array(arr, "qplanes", np.uint8), stream)


def rabitq_search(qplanes, qb: int, qconsts, codes, largest: bool, k: int, *, stream=None):
    """RaBitQ AND + popcount scan, top-k: the CPU ``vecpress._core.rabitq_search``'s
    arguments (without ``nthreads``/``allow``: no row filter on the GPU).

    qplanes (nq, qb * D / 64) uint64 query bit planes (or their bytes, (nq, qb * D / 8)
    uint8), qconsts (nq, 8) float32, codes (n, D / 8 + 16) uint8 (see
    :meth:`vecpress.quantizers.rabitq.RaBitQuantizer.query_codes`). Returns (estimates
    (nq, k) float32, rows (nq, k) int64), the largest estimates first when ``largest``,
    the smallest otherwise; the same floats as the CPU kernel.
    """
    require()
    s = _stream_for(qplanes, stream)
    sc, ids = _cuda.rabitq_search(
        _planes_arg(qplanes, s), int(qb), _arg(qconsts, "qconsts", np.float32, s),
        _arg(codes, "codes", np.uint8, s), bool(largest), int(k), s,
    )
    return _wrap(sc, qplanes), _wrap(ids, qplanes)
