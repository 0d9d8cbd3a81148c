"""Learned orthogonal rotations before product quantization.

Both preserve inner products and L2 distances, so a rotated index scores the
same as an unrotated one up to quantization error, and exact reranking on the
(rotated) float vectors stays exact.

- "pca": principal axes of the uncentred second moment, with the eigenvalues
  allocated to the M sub-spaces so each gets a similar share of the variance
  (Ge et al., OPQ, non-parametric init): plain PCA order would put all the
  energy in the first sub-quantizers.
- "opq": starts from that and alternates PQ training on the rotated sample
  with the orthogonal Procrustes update R = U V^T, U S V^T = svd(X^T Y), where
  Y is the PQ reconstruction of X R (Ge et al. 2013; faiss OPQMatrix).
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._validate import as_f32_matrix
from .rotation import MatrixRotation


def balanced_pca(x: np.ndarray, M: int) -> np.ndarray:
    """Rotation (d, d) float64: PCA axes, columns allocated to M sub-spaces of d // M dims.

    Eigenvectors are taken in decreasing eigenvalue order and each goes to the
    non-full sub-space with the smallest product of its eigenvalues so far
    (sum of logs), which balances the sub-spaces' variance.
    """
    d = x.shape[1]
    dsub = d // M
    cov = (x.T.astype(np.float64) @ x.astype(np.float64)) / x.shape[0]
    w, v = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1]
    w = np.maximum(w[order], 1e-12)
    v = v[:, order]
    # Scale so every eigenvalue is >= 1 (log >= 0): an empty sub-space then has
    # the smallest product, so the M largest eigenvalues go to distinct sub-spaces.
    logw = np.log(w / w[-1])
    buckets = [[] for _ in range(M)]
    logprod = np.zeros(M)
    for j in range(d):
        open_ = [m for m in range(M) if len(buckets[m]) < dsub]
        m = min(open_, key=lambda b: logprod[b])
        buckets[m].append(j)
        logprod[m] += logw[j]
    return v[:, [j for b in buckets for j in b]]


class PQRotation(MatrixRotation):
    """A learned orthogonal (d, d) rotation applied as ``x @ matrix`` before PQ.

    Parameters
    ----------
    kind : "pca" or "opq"
    M, nbits : the product quantizer the rotation is fitted for
    opq_iters : alternating iterations for "opq" (default 4)
    opq_pq_iters : k-means iterations of each inner PQ fit (default 5)
    max_samples : training rows used (seeded subsample; default 20,000)
    """

    def __init__(self, kind: str, M: int, nbits: int = 8, opq_iters: int = 4,
                 opq_pq_iters: int = 5, max_samples: int = 20_000, seed: int = 1234,
                 threads: int = 0, matrix: np.ndarray | None = None):
        if kind not in ("pca", "opq"):
            raise ValueError(f"rotation must be None, 'pca' or 'opq', got {kind!r}")
        self.kind, self.M, self.nbits = kind, int(M), int(nbits)
        self.opq_iters, self.opq_pq_iters = int(opq_iters), int(opq_pq_iters)
        self.max_samples, self.seed, self.threads = int(max_samples), int(seed), int(threads)
        self.matrix = None if matrix is None else np.ascontiguousarray(matrix, dtype=np.float32)

    def fit(self, x) -> "PQRotation":
        """Fit on training vectors x (n, d) float32."""
        x = as_f32_matrix(x, "training vectors")
        if x.shape[0] > self.max_samples:
            rng = np.random.default_rng(self.seed)
            x = x[np.sort(rng.choice(x.shape[0], self.max_samples, replace=False))]
        r = balanced_pca(x, self.M)
        if self.kind == "opq":
            x64 = x.astype(np.float64)
            for it in range(self.opq_iters):
                xr = np.ascontiguousarray(x64 @ r, dtype=np.float32)
                c = _core.pq_train(xr, self.M, self.nbits, self.opq_pq_iters, self.seed + it, 256,
                                   False, self.threads)
                y = _core.pq_decode(_core.pq_encode(xr, c, self.threads), c, self.threads)
                u, _, vt = np.linalg.svd(x64.T @ y.astype(np.float64))
                r = u @ vt
        self.matrix = np.ascontiguousarray(r, dtype=np.float32)
        return self
