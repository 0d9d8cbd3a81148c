"""Residual quantizer: M stages of 2^nbits codewords, codes found by beam search.

A vector x is approximated by ``sum_m codebooks[m, codes[m]]``; stage m
quantizes what stages 0..m-1 left over. Usable on its own (train / encode /
decode / compute_tables) and inside :class:`vecpress.RQIndex`.

Layouts: codebooks (M, K, dim) float32 with K = 2**nbits; codes (n, M) uint8,
one integer per stage (not bit-packed); tables (nq, M, K) float32.
"""
from __future__ import annotations

import time

import numpy as np

from . import _core
from ._validate import as_f32_matrix, check_positive_int
from .errors import NotTrainedError, ShapeError

_PROGRESS_AFTER_S = 2.0  # show a progress bar once training has run this long


def _check_int_range(v, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
    return int(v)


def _check_train_rows(x: np.ndarray, K: int) -> None:
    if x.shape[0] < K:
        raise ValueError(f"training needs at least 2**nbits = {K} vectors, "
                         f"got {x.shape[0]}; pass more vectors or lower nbits")


class _Progress:
    """tqdm bar over the stages that appears only when training is slow."""

    def __init__(self, total: int, enabled: bool | None):
        self.total, self.enabled, self.bar = total, enabled, None
        self.t0 = time.perf_counter()

    def __call__(self, stage: int, mse: float) -> None:
        if self.enabled is False:
            return
        if self.bar is None and (self.enabled or time.perf_counter() - self.t0 > _PROGRESS_AFTER_S):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc="RQ training", unit="stage", leave=False)
            self.bar.update(stage)  # stages finished before the bar appeared
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(mse=f"{mse:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ResidualQuantizer:
    """Residual quantizer trained stage by stage with beam-search re-encoding.

    Parameters
    ----------
    dim : int
        Vector dimension.
    M : int
        Number of stages (bytes per code).
    nbits : int in [4, 8]
        Bits per stage; K = 2**nbits codewords per stage.
    beam : int >= 1
        Beam width of the encoder (and of the training-set re-encoding).
    niter : int
        k-means iterations per stage, per progressive step (faiss's
        ResidualQuantizer also runs 10: the steps warm-start each other).
    max_points_per_centroid : int
        k-means trains stage m on at most K * this residuals (seeded sample).
    seed : int
        Seed of the k-means sampling and initialisation (training is deterministic).
    progressive_dim_steps : int
        Each stage's k-means runs on growing prefixes of the residuals' principal
        axes in this many steps (faiss's default scheme: better codebooks for
        about twice the training time); 0 or 1 runs plain k-means.
    threads : int, optional
        Threads used by the kernels (0/None = all cores).
    """

    def __init__(self, dim: int, M: int, nbits: int = 8, beam: int = 8, niter: int = 10,
                 max_points_per_centroid: int = 256, seed: int = 1234,
                 progressive_dim_steps: int = 10, threads: int | None = None):
        self.dim = check_positive_int(dim, "dim")
        self.M = _check_int_range(M, "M", 1, 255)
        self.nbits = _check_int_range(nbits, "nbits", 4, 8)
        self.beam = check_positive_int(beam, "beam")
        self.niter = check_positive_int(niter, "niter")
        self.max_points_per_centroid = check_positive_int(max_points_per_centroid,
                                                          "max_points_per_centroid")
        self.seed = _check_int_range(seed, "seed", 0, 2**63 - 1)
        self.progressive_dim_steps = _check_int_range(progressive_dim_steps,
                                                      "progressive_dim_steps", 0, 64)
        self.threads = 0 if threads is None else _check_int_range(threads, "threads", 0, 4096)
        self._codebooks: np.ndarray | None = None
        self._cross: np.ndarray | None = None

    @property
    def K(self) -> int:
        """Codewords per stage (2**nbits)."""
        return 1 << self.nbits

    @property
    def is_trained(self) -> bool:
        return self._codebooks is not None

    @property
    def codebooks(self) -> np.ndarray:
        """Codebooks (M, K, dim) float32 (read-only view)."""
        self._check_trained()
        v = self._codebooks.view()
        v.flags.writeable = False
        return v

    @classmethod
    def from_codebooks(cls, codebooks, beam: int = 8, threads: int | None = None):
        """A trained quantizer from existing codebooks (M, K, dim) float32, K = 2**nbits."""
        cb = np.asarray(codebooks)
        if cb.ndim != 3:
            raise ShapeError(f"codebooks must have shape (M, K, dim), got {cb.shape}")
        K = cb.shape[1]
        if K < 16 or K > 256 or K & (K - 1):
            raise ValueError(f"codebooks must have K = 2**nbits codewords, nbits in 4..8; got K={K}")
        rq = cls(cb.shape[2], cb.shape[0], K.bit_length() - 1, beam=beam, threads=threads)
        rq._set_codebooks(np.ascontiguousarray(cb, dtype=np.float32))
        return rq

    def train(self, vectors, progress: bool | None = None) -> "ResidualQuantizer":
        """Learn the codebooks from training vectors (n, dim), n >= 2**nbits.

        progress: True always shows a tqdm bar, False never, None (default)
        shows it once training has taken more than a couple of seconds.
        """
        x = as_f32_matrix(vectors, "training vectors", self.dim)
        _check_train_rows(x, self.K)
        bar = _Progress(self.M, progress)
        try:
            self._train_stages(x, bar)
        finally:
            bar.close()
        return self

    def _train_stages(self, x: np.ndarray, callback) -> None:
        # callback(stage, mse) runs after each stage (it may raise to abort).
        cb = _core.rq_train(x, self.M, self.nbits, self.beam, self.niter,
                            self.max_points_per_centroid, self.seed, callback, self.threads,
                            self.progressive_dim_steps)
        self._set_codebooks(cb)

    @property
    def code_size(self) -> int:
        """Code bytes per vector (one per stage)."""
        return self.M

    def encode(self, vectors) -> np.ndarray:
        """Codes (n, M) uint8 of vectors (n, dim) by beam search of width ``beam``."""
        return self.encode_with_stats(vectors)[0]

    def encode_with_stats(self, vectors):
        """Codes plus what the encoder tracked at no extra cost.

        Returns
        -------
        codes : uint8 (n, M)
        errors : float32 (n,), ||x - decode(code)||^2
        norms : float32 (n,), ||decode(code)||^2
        """
        self._check_trained()
        x = as_f32_matrix(vectors, "vectors", self.dim)
        return _core.rq_encode(x, self._codebooks, self.beam, self._cross_products(), self.threads)

    def decode(self, codes) -> np.ndarray:
        """Reconstructions (n, dim) float32 = sum over stages of the selected codewords."""
        self._check_trained()
        c = np.asarray(codes)
        if c.dtype != np.uint8:
            if not np.issubdtype(c.dtype, np.integer):
                raise TypeError(f"codes must be integers (uint8), got dtype {c.dtype}")
            if c.size and (c.min() < 0 or c.max() >= self.K):
                raise ValueError(f"codes must be in [0, {self.K}) for nbits={self.nbits}")
            c = c.astype(np.uint8)
        if c.ndim == 1:
            c = c.reshape(1, -1)
        if c.ndim != 2 or c.shape[1] != self.M:
            raise ShapeError(f"codes must have shape (n, M={self.M}), got {c.shape}")
        if c.size and int(c.max()) >= self.K:
            raise ValueError(f"codes must be in [0, {self.K}) for nbits={self.nbits}")
        return _core.rq_decode(np.ascontiguousarray(c), self._codebooks, self.threads)

    def compute_tables(self, queries, scale: float = 1.0, ksub_stride: int | None = None):
        """ADC tables (nq, M, ksub_stride) float32: scale * <q, codebooks[m, k]>.

        The inner product of q with a decoded code is the sum over m of
        tables[q, m, codes[m]]. ksub_stride (default K) pads each stage's row
        with zeros, e.g. to 256 for the 8-bit scan kernel.
        """
        self._check_trained()
        q = as_f32_matrix(queries, "queries", self.dim)
        return _core.rq_compute_tables(q, self._codebooks, float(scale),
                                       self.K if ksub_stride is None else int(ksub_stride),
                                       self.threads)

    def _set_codebooks(self, cb: np.ndarray) -> None:
        self._codebooks, self._cross = cb, None

    def _cross_products(self):
        # Cached: (M(M-1)/2, K, K) floats (7 MB at M=8, 130 MB at M=32, K=256).
        if self._cross is None and self.M > 1:
            self._cross = _core.rq_cross_products(self._codebooks, self.threads)
        return self._cross

    def _check_trained(self) -> None:
        if self._codebooks is None:
            raise NotTrainedError("the ResidualQuantizer must be trained first: call "
                                  ".train(sample_vectors) or use ResidualQuantizer.from_codebooks")

    def __repr__(self) -> str:
        return (f"ResidualQuantizer(dim={self.dim}, M={self.M}, nbits={self.nbits}, "
                f"beam={self.beam}, trained={self.is_trained})")
