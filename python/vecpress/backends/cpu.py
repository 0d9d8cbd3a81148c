"""The CPU backend: the compiled ``vecpress._core`` kernels (they release the GIL)."""
from __future__ import annotations

from .. import _core
from ..quantizers.rotations import rotate
from .base import Backend


class CpuBackend(Backend):
    name = "cpu"

    def rotate(self, x, matrix_t):
        return rotate(x, matrix_t)

    def flat_search(self, x, q, d, metric, k, threads):
        return _core.flat_search(x, q, d, metric, k, threads)

    def matryoshka_search(self, x, q, metric, dims, candidates, k, threads):
        return _core.matryoshka_search(x, q, metric, dims, candidates, k, threads)

    def rerank_exact(self, x, q, d, metric, candidates, k, threads):
        return _core.rerank_exact(x, q, d, metric, candidates, k, threads)

    def adc_search_u8(self, tables, codes, largest, k, threads):
        return _core.adc_search_u8(tables, codes, largest, k, threads)

    def fastscan_search(self, tables, packed, n, largest, k, rescore, threads):
        return _core.fastscan_search(tables, packed, n, largest, k, rescore, threads)

    def hamming_search(self, qcodes, codes, k, threads):
        return _core.hamming_search(qcodes, codes, k, threads)

    def binarize(self, x, d, thresholds, threads):
        return _core.binarize(x, d, thresholds, threads)

    def binary_asym_tables(self, q, d, threads):
        return _core.binary_asym_tables(q, d, threads)


CPU = CpuBackend()
