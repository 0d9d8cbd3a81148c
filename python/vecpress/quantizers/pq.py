"""Product quantizer: M sub-quantizers of ksub = 2**nbits centroids each.

Layouts (numpy, C order):
    codebooks  (M, ksub, dsub) float32, dsub = dim // M
    codes      (n, M) uint8, one code per byte (also for nbits=4; use
               :meth:`ProductQuantizer.pack4` for the fast-scan layout)
    tables     (nq, M, ksub) float32; a code's score is the sum of its M entries
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import MAX_DIM, as_codes, check_choice, check_int, check_threads
from ..errors import ParameterError, ShapeError
from .base import (
    CodebookQuantizer,
    check_decoded_norms,
    check_table_metric,
    checked_codebooks,
    warn_small_training,
)


class ProductQuantizer(CodebookQuantizer):
    """M sub-quantizers of 2**nbits centroids each (nbits in {4, 8}).

    Parameters
    ----------
    dim : int, divisible by M
    M : number of sub-quantizers (bytes per code vector, unpacked)
    nbits : 4 or 8
    niter : k-means iterations per sub-space (default 25, as faiss)
    seed : k-means seed (deterministic training)
    max_points_per_centroid : training rows used per centroid (seeded subsample; faiss: 256)
    threads : int, optional; 0/None = all cores

    Example
    -------
    >>> pq = ProductQuantizer(384, M=48, nbits=8).train(sample)   # doctest: +SKIP
    >>> codes = pq.encode(x)                      # (n, 48) uint8
    >>> tables = pq.compute_tables(q, "ip")       # (nq, 48, 256) float32
    """

    def __init__(self, dim: int, M: int, nbits: int = 8, niter: int = 25, seed: int = 1234,
                 max_points_per_centroid: int = 256, threads: int | None = None) -> None:
        self.dim = check_int(dim, "dim", 1, MAX_DIM)
        self.M = check_int(M, "M", 1, self.dim)
        if self.dim % self.M:
            raise ParameterError(f"dim={self.dim} must be divisible by M={self.M} "
                                 f"(choose M among the divisors of {self.dim})")
        self.nbits = check_choice(check_int(nbits, "nbits"), "nbits", (4, 8))
        self.niter = check_int(niter, "niter", 1, 10_000)
        self.seed = check_int(seed, "seed", 0, 2**63 - 1)
        self.max_points_per_centroid = check_int(max_points_per_centroid,
                                                 "max_points_per_centroid", 1, 1 << 20)
        self.threads = check_threads(threads)
        self._codebooks: np.ndarray | None = None

    @property
    def ksub(self) -> int:
        return 1 << self.nbits

    @property
    def dsub(self) -> int:
        return self.dim // self.M

    @property
    def code_size(self) -> int:
        """Bytes per unpacked code: M (4-bit codes take a byte each here)."""
        return self.M


    # ---- codebooks --------------------------------------------------------
    def train(self, x: Any) -> ProductQuantizer:
        """Learn the codebooks from x (n, dim) float32 with n >= 2**nbits (k-means per sub-space)."""
        x = self._training_vectors(x, self.ksub)
        warn_small_training(x.shape[0], self.ksub, "ProductQuantizer.train")
        self._codebooks = _core.pq_train(x, self.M, self.nbits, self.niter, self.seed,
                                         self.max_points_per_centroid, False, self.threads)
        return self

    def set_codebooks(self, codebooks: Any) -> ProductQuantizer:
        """Import codebooks (M, ksub, dsub) float32, e.g. faiss's ``pq.centroids`` reshaped."""
        cb = checked_codebooks(codebooks, (self.M, self.ksub, self.dsub))
        self._codebooks = check_decoded_norms(cb, additive=False)
        return self

    @classmethod
    def from_codebooks(cls, codebooks: Any, threads: int | None = None) -> ProductQuantizer:
        """A trained quantizer from codebooks (M, ksub, dsub), ksub 16 or 256."""
        c = np.asarray(codebooks)
        if c.ndim != 3 or c.shape[1] not in (16, 256):
            raise ShapeError(f"codebooks must be (M, ksub, dsub) with ksub 16 or 256, got {c.shape}")
        pq = cls(c.shape[0] * c.shape[2], c.shape[0], 4 if c.shape[1] == 16 else 8, threads=threads)
        return pq.set_codebooks(c)

    # ---- codes ------------------------------------------------------------
    def encode(self, x: Any) -> np.ndarray:
        """Codes (n, M) uint8: the nearest centroid (squared L2, lowest index on ties) per sub-space."""
        self._check_trained()
        return self._encode(self._vectors(x))

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return _core.pq_encode(x, self._codebooks, self.threads)

    def decode(self, codes: Any) -> np.ndarray:
        """Reconstructions (n, dim) float32 from codes (n, M) uint8."""
        self._check_trained()
        return _core.pq_decode(as_codes(codes, self.M, below=self.ksub), self._codebooks,
                               self.threads)

    def compute_tables(self, q: Any, metric: str = "ip") -> np.ndarray:
        """ADC tables (nq, M, ksub) float32 for queries q (nq, dim).

        metric "ip": inner products of each query sub-vector with each centroid
        (score = sum, larger is better); "l2": squared distances (smaller is better).
        """
        metric = check_table_metric(metric)
        self._check_trained()
        return self._tables(self._queries(q), metric)

    def _tables(self, q: np.ndarray, metric: str) -> np.ndarray:
        # q: validated (nq, dim) float32; the index pipeline calls this directly.
        kernel = _core.adc_table_ip if metric == "ip" else _core.adc_table_l2
        return kernel(q, self._codebooks, self.threads)

    def pack4(self, codes: Any) -> np.ndarray:
        """4-bit codes (n, M) -> fast-scan packed bytes (ceil(n/32) * 16 * Mp,) uint8."""
        if self.nbits != 4:
            raise ParameterError("pack4 needs a 4-bit quantizer (nbits=4)")
        return _core.pq4_pack(as_codes(codes, self.M, below=16))

    def __repr__(self) -> str:
        return (f"ProductQuantizer(dim={self.dim}, M={self.M}, nbits={self.nbits}, "
                f"trained={self.is_trained})")
