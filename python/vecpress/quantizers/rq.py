"""Residual quantizer: M stages of 2^nbits codewords, codes found by beam search.

A vector x is approximated by ``sum_m codebooks[m, codes[m]]``; stage m
quantizes what stages 0..m-1 left over. Usable on its own (train / encode /
decode / compute_tables) and inside :class:`vecpress.RQIndex`.

Layouts: codebooks (M, K, dim) float32 with K = 2**nbits; codes (n, M) uint8,
one integer per stage (not bit-packed); tables (nq, M, K) float32.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._progress import Progress
from .._validate import MAX_DIM, as_codes, check_int, check_threads
from ..errors import ParameterError, ShapeError
from .base import (
    CodebookQuantizer,
    check_decoded_norms,
    check_table_metric,
    checked_codebooks,
    warn_small_training,
)


def rq_progress(total: int, enabled: bool | None) -> Progress:
    """The tqdm bar of RQ training: one step per stage, showing the stage's MSE."""
    return Progress(total, enabled, "RQ training", "stage", postfix="mse")


class ResidualQuantizer(CodebookQuantizer):
    """Residual quantizer trained stage by stage with beam-search re-encoding.

    Parameters
    ----------
    dim : int
        Vector dimension.
    M : int
        Number of stages (bytes per code).
    nbits : int in [4, 8]
        Bits per stage; ksub = 2**nbits codewords per stage.
    beam : int >= 1
        Beam width of the encoder (and of the training-set re-encoding).
    niter : int
        k-means iterations per stage, per progressive step (faiss's
        ResidualQuantizer also runs 10: the steps warm-start each other).
    max_points_per_centroid : int
        k-means trains stage m on at most ksub * this residuals (seeded sample).
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
        self.dim = check_int(dim, "dim", 1, MAX_DIM)
        self.M = check_int(M, "M", 1, 255)
        self.nbits = check_int(nbits, "nbits", 4, 8)
        # The beam holds beam * ksub candidates per vector and stage: bounded so a typo
        # cannot ask for gigabytes.
        self.beam = check_int(beam, "beam", 1, 1024)
        self.niter = check_int(niter, "niter", 1, 10_000)
        self.max_points_per_centroid = check_int(max_points_per_centroid,
                                                 "max_points_per_centroid", 1, 1 << 20)
        self.seed = check_int(seed, "seed", 0, 2**63 - 1)
        self.progressive_dim_steps = check_int(progressive_dim_steps, "progressive_dim_steps", 0, 64)
        self.threads = check_threads(threads)
        self._codebooks: np.ndarray | None = None
        self._cross: np.ndarray | None = None

    @property
    def ksub(self) -> int:
        """Codewords per stage (2**nbits)."""
        return 1 << self.nbits


    @classmethod
    def from_codebooks(cls, codebooks: Any, beam: int = 8,
                       threads: int | None = None) -> ResidualQuantizer:
        """A trained quantizer from existing codebooks (M, ksub, dim) float32, ksub = 2**nbits."""
        cb = np.asarray(codebooks)
        if cb.ndim != 3:
            raise ShapeError(f"codebooks must have shape (M, ksub, dim), got {cb.shape}")
        ksub = cb.shape[1]
        if ksub < 16 or ksub > 256 or ksub & (ksub - 1):
            raise ParameterError(f"codebooks must have ksub = 2**nbits codewords, nbits in 4..8; "
                                 f"got ksub={ksub}")
        rq = cls(cb.shape[2], cb.shape[0], ksub.bit_length() - 1, beam=beam, threads=threads)
        return rq.set_codebooks(cb)

    def set_codebooks(self, codebooks: Any) -> ResidualQuantizer:
        """Import codebooks (M, ksub, dim) float32 (finite)."""
        cb = checked_codebooks(codebooks, (self.M, self.ksub, self.dim))
        self._codebooks, self._cross = check_decoded_norms(cb, additive=True), None
        return self

    def train(self, vectors: Any, progress: bool | None = None) -> ResidualQuantizer:
        """Learn the codebooks from training vectors (n, dim), n >= 2**nbits.

        progress: True always shows a tqdm bar, False never, None (default)
        shows it once training has taken more than a couple of seconds.
        """
        x = self._training_vectors(vectors, self.ksub)
        warn_small_training(x.shape[0], self.ksub, "ResidualQuantizer.train")
        bar = rq_progress(self.M, progress)
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
        self._codebooks, self._cross = cb, None

    @property
    def code_size(self) -> int:
        """Code bytes per vector (one per stage)."""
        return self.M

    def encode(self, vectors: Any) -> np.ndarray:
        """Codes (n, M) uint8 of vectors (n, dim) by beam search of width ``beam``."""
        return self.encode_with_stats(vectors)[0]

    def encode_with_stats(self, vectors: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes plus what the encoder tracked at no extra cost.

        Returns
        -------
        codes : uint8 (n, M)
        errors : float32 (n,), ||x - decode(code)||^2
        norms : float32 (n,), ||decode(code)||^2
        """
        self._check_trained()
        return self._encode_with_stats(self._vectors(vectors))

    def _encode_with_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _core.rq_encode(x, self._codebooks, self.beam, self._cross_products(), self.threads)

    def decode(self, codes: Any) -> np.ndarray:
        """Reconstructions (n, dim) float32 = sum over stages of the selected codewords."""
        self._check_trained()
        return _core.rq_decode(as_codes(codes, self.M, below=self.ksub), self._codebooks,
                               self.threads)

    def compute_tables(self, queries: Any, metric: str = "ip", *, scale: float | None = None,
                       ksub_stride: int | None = None) -> np.ndarray:
        """ADC tables (nq, M, ksub_stride) float32: scale * <q, codebooks[m, k]>.

        The inner product of q with a decoded code is the sum over m of
        tables[q, m, codes[m]]. metric "ip" uses scale 1; "l2" uses scale -2,
        the code-dependent part of ``||q - x||^2 = ||q||^2 - 2 <q, x> + ||x||^2``
        (the caller adds the norms; :class:`vecpress.RQIndex` stores ||x||^2 as a
        quantized byte). ``scale`` overrides either. ksub_stride (default ksub)
        pads each stage's row with zeros, e.g. to 256 for the 8-bit scan kernel.
        """
        metric = check_table_metric(metric)
        self._check_trained()
        q = self._queries(queries)
        scale = (1.0 if metric == "ip" else -2.0) if scale is None else float(scale)
        if not np.isfinite(scale):
            raise ParameterError(f"scale must be finite, got {scale}")
        stride = self.ksub if ksub_stride is None else check_int(ksub_stride, "ksub_stride",
                                                                self.ksub, 256)
        return self._tables(q, scale, stride)

    def _tables(self, q: np.ndarray, scale: float, stride: int) -> np.ndarray:
        # q: validated (nq, dim) float32; the index pipeline calls this directly.
        return _core.rq_compute_tables(q, self._codebooks, scale, stride, self.threads)

    def _cross_products(self) -> np.ndarray | None:
        # Cached: (M(M-1)/2, K, K) floats (7 MB at M=8, 130 MB at M=32, K=256).
        if self._cross is None and self.M > 1:
            self._cross = _core.rq_cross_products(self._codebooks, self.threads)
        return self._cross

    def __repr__(self) -> str:
        return (f"ResidualQuantizer(dim={self.dim}, M={self.M}, nbits={self.nbits}, "
                f"beam={self.beam}, trained={self.is_trained})")
