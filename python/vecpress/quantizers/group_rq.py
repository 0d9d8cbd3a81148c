"""Group residual quantizer: the dimensions split into G contiguous groups, an
independent residual quantizer in each (as in group-residual VQ audio codecs).

A code is the G groups' RQ codes side by side, (n, G * M) uint8. Because the
groups cover disjoint dimensions, inner products, squared errors and squared
reconstruction norms are sums over the groups, so the ADC scan of
:class:`vecpress.RQIndex` works unchanged on G * M table rows. Against one RQ
with G * M stages it trades a little accuracy for training and encoding cost:
the beam search and the codebook cross-products grow with the square of the
stages, and each group works in dim / G dimensions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import MAX_DIM, as_codes, check_int
from ..errors import ParameterError
from .base import (
    Quantizer,
    check_decoded_norms,
    check_table_metric,
    checked_codebooks,
    warn_small_training,
)
from .rq import ResidualQuantizer, rq_progress


class GroupResidualQuantizer(Quantizer):
    """G residual quantizers of M stages each, on dimension groups of dim / G.

    Parameters
    ----------
    dim : int, divisible by groups
    groups : int >= 1 (1 is a plain :class:`ResidualQuantizer`)
    M : int, stages per group (the code has groups * M bytes)
    nbits, beam, niter, max_points_per_centroid, seed, progressive_dim_steps, threads :
        as :class:`ResidualQuantizer`; group g is seeded with seed + g.

    Layouts: codebooks (groups, M, ksub, dim / groups) float32; codes
    (n, groups * M) uint8 with group g in columns [g * M, (g + 1) * M);
    tables (nq, groups * M, ksub).
    """

    def __init__(self, dim: int, groups: int, M: int, nbits: int = 8, beam: int = 8,
                 niter: int = 10, max_points_per_centroid: int = 256, seed: int = 1234,
                 progressive_dim_steps: int = 10, threads: int | None = None) -> None:
        self.dim = check_int(dim, "dim", 1, MAX_DIM)
        self.groups = check_int(groups, "groups", 1, self.dim)
        if self.dim % self.groups:
            raise ParameterError(f"groups must divide dim: dim={self.dim}, groups={self.groups}; "
                             f"pick a divisor of {self.dim}")
        self.group_dim = self.dim // self.groups
        seed = check_int(seed, "seed", 0, 2**63 - 1 - self.groups)
        self.quantizers = [
            ResidualQuantizer(self.group_dim, M, nbits, beam=beam, niter=niter,
                              max_points_per_centroid=max_points_per_centroid, seed=seed + g,
                              progressive_dim_steps=progressive_dim_steps, threads=threads)
            for g in range(self.groups)]

    # The settings every group shares.
    M = property(lambda self: self.quantizers[0].M, doc="Stages per group.")
    nbits = property(lambda self: self.quantizers[0].nbits, doc="Bits per stage.")
    ksub = property(lambda self: self.quantizers[0].ksub, doc="Codewords per stage (2**nbits).")
    beam = property(lambda self: self.quantizers[0].beam, doc="Encoder beam width.")
    threads = property(lambda self: self.quantizers[0].threads, doc="Kernel threads (0 = all).")

    @property
    def code_size(self) -> int:
        """Code bytes per vector: groups * M."""
        return self.groups * self.M

    @property
    def is_trained(self) -> bool:
        return all(q.is_trained for q in self.quantizers)

    @property
    def codebooks(self) -> np.ndarray:
        """Codebooks (groups, M, ksub, dim / groups) float32 (a read-only copy)."""
        self._check_trained()
        cb = np.stack([q.codebooks for q in self.quantizers])
        cb.flags.writeable = False
        return cb

    def set_codebooks(self, codebooks: Any) -> GroupResidualQuantizer:
        """Import codebooks (groups, M, ksub, dim / groups) float32 (finite)."""
        cb = checked_codebooks(codebooks, (self.groups, self.M, self.ksub, self.group_dim))
        # all groups' stages add up (disjoint slices, summed scores): one bound over them
        check_decoded_norms(cb.reshape(1, -1, self.ksub, self.group_dim), additive=True)
        for q, c in zip(self.quantizers, cb):
            q.set_codebooks(c)
        return self

    def _slices(self, x: np.ndarray):  # -> (quantizer, contiguous slice) per group
        for g, q in enumerate(self.quantizers):
            yield q, np.ascontiguousarray(x[:, g * self.group_dim:(g + 1) * self.group_dim])

    def train(self, vectors: Any, progress: bool | None = None) -> GroupResidualQuantizer:
        """Train each group's quantizer on its slice of vectors (n, dim), n >= 2**nbits.

        One progress bar counts the groups' stages (see :meth:`ResidualQuantizer.train`).
        """
        x = self._training_vectors(vectors, self.ksub)
        warn_small_training(x.shape[0], self.ksub, "GroupResidualQuantizer.train")
        bar = rq_progress(self.code_size, progress)
        try:
            for g, (q, xg) in enumerate(self._slices(x)):
                q._train_stages(xg, lambda s, mse, off=g * self.M: bar(off + s, mse))
        finally:
            bar.close()
        return self

    def encode(self, vectors: Any) -> np.ndarray:
        """Codes (n, groups * M) uint8 of vectors (n, dim)."""
        return self.encode_with_stats(vectors)[0]

    def encode_with_stats(self, vectors: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes (n, groups * M) uint8, errors ||x - decode||^2 and norms ||decode||^2,
        both float32 (n,) summed over the groups."""
        self._check_trained()
        return self._encode_with_stats(self._vectors(vectors))

    def _encode_with_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = [q._encode_with_stats(xg) for q, xg in self._slices(x)]
        codes = np.concatenate([p[0] for p in parts], axis=1)
        return codes, sum(p[1] for p in parts), sum(p[2] for p in parts)

    def decode(self, codes: Any) -> np.ndarray:
        """Reconstructions (n, dim) float32 from codes (n, groups * M)."""
        self._check_trained()
        c = as_codes(codes, self.code_size, below=self.ksub)
        M = self.M
        return np.concatenate([q.decode(c[:, g * M:(g + 1) * M])
                               for g, q in enumerate(self.quantizers)], axis=1)

    def compute_tables(self, queries: Any, metric: str = "ip", *, scale: float | None = None,
                       ksub_stride: int | None = None) -> np.ndarray:
        """ADC tables (nq, groups * M, ksub_stride) float32: rows of group g score
        the query's slice g, so their sum over a code is scale * <q, decode(code)>
        (metric and scale as :meth:`ResidualQuantizer.compute_tables`)."""
        metric = check_table_metric(metric)
        self._check_trained()
        scale = (1.0 if metric == "ip" else -2.0) if scale is None else float(scale)
        if not np.isfinite(scale):
            raise ParameterError(f"scale must be finite, got {scale}")
        stride = self.ksub if ksub_stride is None else check_int(ksub_stride, "ksub_stride",
                                                                self.ksub, 256)
        return self._tables(self._queries(queries), scale, stride)

    def _tables(self, q: np.ndarray, scale: float, stride: int) -> np.ndarray:
        return np.concatenate([rq._tables(qg, scale, stride) for rq, qg in self._slices(q)],
                              axis=1)

    def __repr__(self) -> str:
        return (f"GroupResidualQuantizer(dim={self.dim}, groups={self.groups}, M={self.M}, "
                f"nbits={self.nbits}, beam={self.beam}, trained={self.is_trained})")
