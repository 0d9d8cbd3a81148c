"""The CPU backend: the compiled ``vecpress._core`` kernels (they release the GIL)."""
from __future__ import annotations

import numpy as np

from .. import _core
from .base import Backend


class CpuBackend(Backend):
    name = "cpu"

    def rotate(self, x, matrix_t):
        """x (n, d) @ matrix with our GEMM, not numpy's: OpenBLAS threads kept spinning
        after a call and slowed the search kernel that followed by ~15%."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return _core.pairwise_scores(matrix_t, x, x.shape[1], 0)

    def flat_search(self, x, q, d, metric, k, threads, allow=None):
        return _core.flat_search(x, q, d, metric, k, threads, allow)

    def matryoshka_search(self, x, q, metric, dims, candidates, k, threads, allow=None):
        return _core.matryoshka_search(x, q, metric, dims, candidates, k, threads, allow)

    def rerank_exact(self, x, q, d, metric, candidates, k, threads):
        return _core.rerank_exact(x, q, d, metric, candidates, k, threads)

    def adc_search_u8(self, tables, codes, largest, k, threads, allow=None):
        return _core.adc_search_u8(tables, codes, largest, k, threads, allow)

    def fastscan_search(self, tables, packed, n, largest, k, rescore, threads, allow=None):
        return _core.fastscan_search(tables, packed, n, largest, k, rescore, threads, allow)

    def hamming_search(self, qcodes, codes, k, threads, allow=None):
        return _core.hamming_search(qcodes, codes, k, threads, allow)

    def binarize(self, x, d, thresholds, threads):
        return _core.binarize(x, d, thresholds, threads)

    def binary_asym_tables(self, q, d, threads):
        return _core.binary_asym_tables(q, d, threads)

    def ivf_adc_search_u8(self, tables, codes, rows, offsets, n, probes, probe_bias, row_bias,
                          largest, k, threads, allow=None):
        return _core.ivf_adc_search_u8(tables, codes, rows, offsets, n, probes, probe_bias,
                                       row_bias, largest, k, threads, allow)

    def ivf_fastscan_search(self, tables, packed, rows, block_offsets, row_codes, probes,
                            probe_bias, largest, k, rescore, threads, allow=None):
        return _core.ivf_fastscan_search(tables, packed, rows, block_offsets, row_codes, probes,
                                         probe_bias, largest, k, rescore, threads, allow)

    def ivf_rabitq_search(self, qrot, qscale, packed, rows, block_offsets, n, probes, probe_bias,
                          largest, k, threads, allow=None):
        return _core.ivf_rabitq_search(qrot, qscale, packed, rows, block_offsets, n, probes,
                                       probe_bias, largest, k, threads, allow)

    def rabitq_search(self, qplanes, qb, qconsts, codes, largest, k, threads, allow=None):
        return _core.rabitq_search(qplanes, qb, qconsts, codes, largest, k, threads, allow)


CPU = CpuBackend()
