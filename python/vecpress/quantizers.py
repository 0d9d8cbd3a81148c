"""Product quantizer as a value object: codebooks plus train / encode / decode /
compute_tables over the C++ kernels, usable alone in your own pipeline.

Layouts (numpy, C order):
    centroids  (M, ksub, dsub) float32, ksub = 2**nbits, dsub = dim // M
    codes      (n, M) uint8, one code per byte (also for nbits=4; use
               :meth:`ProductQuantizer.pack4` for the fast-scan layout)
    tables     (nq, M, ksub) float32; a code's score is the sum of its M entries
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._validate import as_f32_matrix, check_positive_int, check_threads
from .errors import DTypeError, NotTrainedError, ShapeError


class ProductQuantizer:
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
                 max_points_per_centroid: int = 256, threads: int | None = None):
        self.dim = check_positive_int(dim, "dim")
        self.M = check_positive_int(M, "M")
        if self.dim % self.M:
            raise ValueError(f"dim={self.dim} must be divisible by M={self.M} "
                             f"(choose M among the divisors of {self.dim})")
        if nbits not in (4, 8):
            raise ValueError(f"nbits must be 4 or 8, got {nbits!r}")
        self.nbits = int(nbits)
        self.niter = check_positive_int(niter, "niter")
        self.seed = int(seed)
        self.max_points_per_centroid = check_positive_int(max_points_per_centroid,
                                                          "max_points_per_centroid")
        self.threads = check_threads(threads)
        self.centroids: np.ndarray | None = None

    @property
    def ksub(self) -> int:
        return 1 << self.nbits

    @property
    def dsub(self) -> int:
        return self.dim // self.M

    @property
    def is_trained(self) -> bool:
        return self.centroids is not None

    def __repr__(self) -> str:
        return (f"ProductQuantizer(dim={self.dim}, M={self.M}, nbits={self.nbits}, "
                f"trained={self.is_trained})")

    # ---- codebooks --------------------------------------------------------
    def train(self, x) -> "ProductQuantizer":
        """Learn the codebooks from x (n, dim) float32 with n >= 2**nbits (k-means per sub-space)."""
        x = as_f32_matrix(x, "training vectors", self.dim)
        if x.shape[0] < self.ksub:
            raise ValueError(f"PQ training needs at least {self.ksub} vectors for nbits={self.nbits}, "
                             f"got {x.shape[0]}")
        self.centroids = _core.pq_train(x, self.M, self.nbits, self.niter, self.seed,
                                        self.max_points_per_centroid, False, self.threads)
        return self

    def set_centroids(self, centroids) -> "ProductQuantizer":
        """Import codebooks (M, ksub, dsub) float32, e.g. faiss's ``pq.centroids`` reshaped."""
        c = np.asarray(centroids)
        if c.dtype.kind != "f":
            raise DTypeError(f"centroids must be floating point, got dtype {c.dtype}")
        want = (self.M, self.ksub, self.dsub)
        if c.shape != want:
            raise ShapeError(f"centroids must have shape (M, ksub, dsub) = {want}, got {c.shape}")
        if not np.isfinite(c).all():
            raise ValueError("centroids contain NaN or infinity")
        self.centroids = np.ascontiguousarray(c, dtype=np.float32)
        return self

    @classmethod
    def from_centroids(cls, centroids, threads: int | None = None) -> "ProductQuantizer":
        """A trained quantizer from codebooks (M, ksub, dsub), ksub 16 or 256."""
        c = np.asarray(centroids)
        if c.ndim != 3 or c.shape[1] not in (16, 256):
            raise ShapeError(f"centroids must be (M, ksub, dsub) with ksub 16 or 256, got {c.shape}")
        pq = cls(c.shape[0] * c.shape[2], c.shape[0], 4 if c.shape[1] == 16 else 8, threads=threads)
        return pq.set_centroids(c)

    def export_centroids(self) -> np.ndarray:
        """A copy of the codebooks (M, ksub, dsub) float32."""
        return self._c().copy()

    # ---- codes ------------------------------------------------------------
    def encode(self, x) -> np.ndarray:
        """Codes (n, M) uint8: the nearest centroid (squared L2, lowest index on ties) per sub-space."""
        return _core.pq_encode(as_f32_matrix(x, "vectors", self.dim), self._c(), self.threads)

    def decode(self, codes) -> np.ndarray:
        """Reconstructions (n, dim) float32 from codes (n, M) uint8."""
        return _core.pq_decode(self._codes(codes), self._c(), self.threads)

    def compute_tables(self, q, metric: str = "ip") -> np.ndarray:
        """ADC tables (nq, M, ksub) float32 for queries q (nq, dim).

        metric "ip": inner products of each query sub-vector with each centroid
        (score = sum, larger is better); "l2": squared distances (smaller is better).
        """
        q = as_f32_matrix(q, "queries", self.dim)
        if metric == "ip":
            return _core.adc_table_ip(q, self._c(), self.threads)
        if metric == "l2":
            return _core.adc_table_l2(q, self._c(), self.threads)
        raise ValueError(f"metric must be 'ip' or 'l2', got {metric!r}")

    def pack4(self, codes) -> np.ndarray:
        """4-bit codes (n, M) -> fast-scan packed bytes (ceil(n/32) * 16 * Mp,) uint8."""
        if self.nbits != 4:
            raise ValueError("pack4 needs a 4-bit quantizer (nbits=4)")
        return _core.pq4_pack(self._codes(codes))

    # ---- helpers ----------------------------------------------------------
    def _c(self) -> np.ndarray:
        if self.centroids is None:
            raise NotTrainedError("the product quantizer is not trained: call train(vectors) "
                                  "or set_centroids(centroids) first")
        return self.centroids

    def _codes(self, codes) -> np.ndarray:
        c = np.asarray(codes)
        if c.dtype != np.uint8:
            raise DTypeError(f"codes must have dtype uint8, got {c.dtype}")
        if c.ndim != 2 or c.shape[1] != self.M:
            raise ShapeError(f"codes must have shape (n, M={self.M}), got {c.shape}")
        if self.nbits == 4 and c.size and c.max() >= 16:
            raise ValueError("4-bit codes must be < 16")
        return np.ascontiguousarray(c)
