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

import numpy as np

from ._validate import as_f32_matrix, check_positive_int
from .errors import ShapeError
from .rq import ResidualQuantizer, _check_int_range, _check_train_rows, _Progress


class GroupResidualQuantizer:
    """G residual quantizers of M stages each, on dimension groups of dim / G.

    Parameters
    ----------
    dim : int, divisible by groups
    groups : int >= 1 (1 is a plain :class:`ResidualQuantizer`)
    M : int, stages per group (the code has groups * M bytes)
    nbits, beam, niter, max_points_per_centroid, seed, progressive_dim_steps, threads :
        as :class:`ResidualQuantizer`; group g is seeded with seed + g.

    Layouts: codebooks (groups, M, K, dim / groups) float32; codes
    (n, groups * M) uint8 with group g in columns [g * M, (g + 1) * M);
    tables (nq, groups * M, K).
    """

    def __init__(self, dim: int, groups: int, M: int, nbits: int = 8, beam: int = 8,
                 niter: int = 10, max_points_per_centroid: int = 256, seed: int = 1234,
                 progressive_dim_steps: int = 10, threads: int | None = None):
        self.dim = check_positive_int(dim, "dim")
        self.groups = _check_int_range(groups, "groups", 1, self.dim)
        if self.dim % self.groups:
            raise ValueError(f"groups must divide dim: dim={self.dim}, groups={self.groups}; "
                             f"pick a divisor of {self.dim}")
        self.group_dim = self.dim // self.groups
        seed = _check_int_range(seed, "seed", 0, 2**63 - 1 - self.groups)
        self.quantizers = [
            ResidualQuantizer(self.group_dim, M, nbits, beam=beam, niter=niter,
                              max_points_per_centroid=max_points_per_centroid, seed=seed + g,
                              progressive_dim_steps=progressive_dim_steps, threads=threads)
            for g in range(self.groups)]

    # The settings every group shares.
    M = property(lambda self: self.quantizers[0].M, doc="Stages per group.")
    nbits = property(lambda self: self.quantizers[0].nbits, doc="Bits per stage.")
    K = property(lambda self: self.quantizers[0].K, doc="Codewords per stage (2**nbits).")
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
        """Codebooks (groups, M, K, dim / groups) float32 (a copy)."""
        return np.stack([q.codebooks for q in self.quantizers])

    @property
    def _codebooks(self) -> np.ndarray | None:
        return self.codebooks if self.is_trained else None

    def _set_codebooks(self, cb: np.ndarray) -> None:
        want = (self.groups, self.M, self.K, self.group_dim)
        if cb.shape != want:
            raise ShapeError(f"group codebooks must have shape {want}, got {cb.shape}")
        for q, c in zip(self.quantizers, cb):
            q._set_codebooks(np.ascontiguousarray(c, dtype=np.float32))

    def _slices(self, x: np.ndarray):
        for g, q in enumerate(self.quantizers):
            yield q, np.ascontiguousarray(x[:, g * self.group_dim:(g + 1) * self.group_dim])

    def train(self, vectors, progress: bool | None = None) -> "GroupResidualQuantizer":
        """Train each group's quantizer on its slice of vectors (n, dim), n >= 2**nbits.

        One progress bar counts the groups' stages (see :meth:`ResidualQuantizer.train`).
        """
        x = as_f32_matrix(vectors, "training vectors", self.dim)
        _check_train_rows(x, self.K)
        bar = _Progress(self.code_size, progress)
        try:
            for g, (q, xg) in enumerate(self._slices(x)):
                q._train_stages(xg, lambda s, mse, off=g * self.M: bar(off + s, mse))
        finally:
            bar.close()
        return self

    def encode(self, vectors) -> np.ndarray:
        """Codes (n, groups * M) uint8 of vectors (n, dim)."""
        return self.encode_with_stats(vectors)[0]

    def encode_with_stats(self, vectors):
        """Codes (n, groups * M) uint8, errors ||x - decode||^2 and norms ||decode||^2,
        both float32 (n,) summed over the groups."""
        x = as_f32_matrix(vectors, "vectors", self.dim)
        parts = [q.encode_with_stats(xg) for q, xg in self._slices(x)]
        codes = np.concatenate([p[0] for p in parts], axis=1)
        return codes, sum(p[1] for p in parts), sum(p[2] for p in parts)

    def decode(self, codes) -> np.ndarray:
        """Reconstructions (n, dim) float32 from codes (n, groups * M)."""
        c = np.asarray(codes)
        if c.ndim == 1:
            c = c.reshape(1, -1)
        if c.ndim != 2 or c.shape[1] != self.code_size:
            raise ShapeError(f"codes must have shape (n, groups * M = {self.code_size}), "
                             f"got {c.shape}")
        M = self.M
        return np.concatenate([q.decode(c[:, g * M:(g + 1) * M])
                               for g, q in enumerate(self.quantizers)], axis=1)

    def compute_tables(self, queries, scale: float = 1.0, ksub_stride: int | None = None):
        """ADC tables (nq, groups * M, ksub_stride) float32: rows of group g score
        the query's slice g, so their sum over a code is scale * <q, decode(code)>."""
        q = as_f32_matrix(queries, "queries", self.dim)
        return np.concatenate([rq.compute_tables(qg, scale, ksub_stride)
                               for rq, qg in self._slices(q)], axis=1)

    def __repr__(self) -> str:
        return (f"GroupResidualQuantizer(dim={self.dim}, groups={self.groups}, M={self.M}, "
                f"nbits={self.nbits}, beam={self.beam}, trained={self.is_trained})")
