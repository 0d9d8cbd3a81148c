"""The CUDA backend: ``vecpress.gpu``'s kernels with the CPU backend's signatures.

Payloads are uploaded once (``resident``) and cached by the index until the
next add/remove. NumPy queries give NumPy results; CuPy queries stay on the
device and give CuPy results.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import gpu
from .._validate import as_f32_matrix
from ..errors import DimensionError, ParameterError, ParameterTypeError
from .base import Backend
from .cpu import CPU


def _no_filter(allow) -> None:
    # the CUDA kernels have no row filter yet; Index.search refuses a filter on the GPU first
    if allow is not None:
        raise ParameterError("filtered search runs on the CPU: call index.to_cpu() first")


class CudaBackend(Backend):
    """Kernels it lacks (rerank_exact, fastscan, ...) are reported by :meth:`supports`;
    NumPy queries are rotated on the host by the CPU backend."""
    name = "cuda"
    resident = True

    def __init__(self) -> None:
        gpu.require()

    def queries(self, queries: Any, dim: int) -> Any:
        if not hasattr(queries, "__cuda_array_interface__"):
            return as_f32_matrix(queries, "queries", dim)
        cp = gpu._cupy()
        if cp is None:
            raise ParameterTypeError("queries on the device need CuPy (pip install "
                                     "'vecpress[cuda]'); or pass NumPy queries")
        q = cp.ascontiguousarray(cp.asarray(queries), dtype=cp.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.ndim != 2 or q.shape[1] != dim:
            raise DimensionError(f"queries must have shape (nq, {dim}), got {q.shape}")
        return q

    def upload(self, a: np.ndarray) -> Any:
        return gpu.to_device(a)

    def array_module(self, a: Any) -> Any:
        return gpu._cupy() if gpu._is_cupy(a) else np

    def unit_rows(self, x: Any) -> Any:
        if not gpu._is_cupy(x):
            return super().unit_rows(x)
        cp = gpu._cupy()
        norms = cp.linalg.norm(x.astype(cp.float64), axis=1, keepdims=True)
        if bool((norms == 0).any()):
            raise ParameterError("cosine similarity is undefined for zero vectors")
        return cp.ascontiguousarray(x / norms, dtype=cp.float32)

    def rotate(self, x: Any, matrix_t: np.ndarray) -> Any:
        if not gpu._is_cupy(x):
            return CPU.rotate(x, matrix_t)
        cp = gpu._cupy()
        return cp.ascontiguousarray(x @ cp.asarray(matrix_t).T, dtype=cp.float32)

    def flat_search(self, x, q, d, metric, k, threads, allow=None):
        _no_filter(allow)
        return gpu.flat_search(x, q, d, metric, k)

    def matryoshka_search(self, x, q, metric, dims, candidates, k, threads, allow=None):
        _no_filter(allow)
        return gpu.matryoshka_search(x, q, metric, dims, candidates, k)

    def adc_search_u8(self, tables, codes, largest, k, threads, allow=None):
        _no_filter(allow)
        return gpu.adc_search_u8(tables, codes, largest, k)

    def hamming_search(self, qcodes, codes, k, threads, allow=None):
        _no_filter(allow)
        return gpu.hamming_search(qcodes, codes, k)

    def binarize(self, x, d, thresholds, threads):
        return gpu.binarize(x, d, thresholds)

    def rabitq_search(self, qplanes, qb, qconsts, codes, largest, k, threads, allow=None):
        _no_filter(allow)
        return gpu.rabitq_search(qplanes, qb, qconsts, codes, largest, k)
