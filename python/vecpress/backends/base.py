"""The backend interface. Metric codes are ``vecpress._core.METRICS`` values."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_f32_matrix
from ..errors import ParameterError


class Backend:
    """Kernels an index pipeline calls. Subclasses implement the ones their device has;
    :meth:`supports` says which (``Index.to_gpu`` checks it before switching)."""

    name = "?"
    resident = False  # True: index payloads are copied to the device once and cached

    KERNELS = ("flat_search", "matryoshka_search", "rerank_exact", "adc_search_u8",
               "fastscan_search", "hamming_search", "binarize", "binary_asym_tables",
               "ivf_adc_search_u8", "ivf_fastscan_search",
               "rabitq_search")

    def supports(self, kernel: str) -> bool:
        return getattr(type(self), kernel, None) is not getattr(Backend, kernel, None)

    # ---- arrays -----------------------------------------------------------
    def queries(self, queries: Any, dim: int) -> Any:
        """Queries as a C-contiguous float32 (nq, dim) array of this backend."""
        return as_f32_matrix(queries, "queries", dim)

    def upload(self, a: np.ndarray) -> Any:
        """A host array as this backend reads it (the array itself on the CPU)."""
        return a

    def array_module(self, a: Any) -> Any:
        """numpy, or cupy for CuPy arrays: the module to post-process results with."""
        return np

    def unit_rows(self, x: Any) -> Any:
        """Rows scaled to unit L2 norm (cosine); zero rows raise ParameterError."""
        return unit_rows(x)

    def rotate(self, x: Any, matrix_t: np.ndarray) -> Any:
        """x (n, d) @ matrix, with the matrix given transposed (d_out, d) float32."""
        raise NotImplementedError

    # ---- kernels (see vecpress._core for layouts) ---------------------------
    # Search kernels take allow: None, or a uint64 bitmap over rows (vecpress.filters); rows
    # whose bit is clear are never returned.
    def flat_search(self, x, q, d: int, metric: int, k: int, threads: int, allow=None):
        raise NotImplementedError

    def matryoshka_search(self, x, q, metric: int, dims, candidates, k: int, threads: int, allow=None):
        raise NotImplementedError

    def rerank_exact(self, x, q, d: int, metric: int, candidates, k: int, threads: int):
        raise NotImplementedError

    def adc_search_u8(self, tables, codes, largest: bool, k: int, threads: int, allow=None):
        raise NotImplementedError

    def fastscan_search(self, tables, packed, n: int, largest: bool, k: int, rescore: int,
                        threads: int, allow=None):
        raise NotImplementedError

    def hamming_search(self, qcodes, codes, k: int, threads: int, allow=None):
        raise NotImplementedError

    def binarize(self, x, d: int, thresholds, threads: int):
        raise NotImplementedError

    def binary_asym_tables(self, q, d: int, threads: int):
        raise NotImplementedError

    def ivf_adc_search_u8(self, tables, codes, rows, offsets, n: int, probes, probe_bias,
                          row_bias, largest: bool, k: int, threads: int, allow=None):
        raise NotImplementedError

    def ivf_fastscan_search(self, tables, packed, rows, block_offsets, row_codes, probes,
                            probe_bias, largest: bool, k: int, rescore: int, threads: int,
                            allow=None):
        raise NotImplementedError

    def ivf_rabitq_search(self, qrot, qscale: float, packed, rows, block_offsets, n: int,
                          probes, probe_bias, largest: bool, k: int, threads: int, allow=None):
        raise NotImplementedError

    def rabitq_search(self, qplanes, qb: int, qconsts, codes, largest: bool, k: int,
                      threads: int, allow=None):
        raise NotImplementedError


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of x (n, d) float32 scaled to unit norm, computed in float64 so that no finite
    float32 input overflows; a zero row raises ParameterError (cosine is undefined)."""
    x64 = x.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x64, x64))[:, None]
    if (norms == 0).any():
        row = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise ParameterError("cosine similarity is undefined for zero vectors; "
                             f"row {row} is all zeros: drop it or use metric='ip'/'l2'")
    return np.ascontiguousarray(x64 / norms, dtype=np.float32)
