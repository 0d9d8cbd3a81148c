"""Exact (brute-force) search."""
from __future__ import annotations

import numpy as np

from ..stores import Float32Store
from .base import Index, SearchParams, register


@register
class FlatIndex(Index):
    """Exact search over float32 vectors (4 * dim bytes per vector).

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine" (cosine stores unit vectors and scores with IP)
    threads : int, optional; 0/None = all cores (see vecpress.set_num_threads).

    ``search(queries, k, threads=None)``; scores are exact.
    """

    _gpu_kernels = ("flat_search",)

    def __init__(self, dim: int, metric: str = "ip", threads: int | None = None) -> None:
        super().__init__(dim, metric, threads)
        self._store = Float32Store(self.dim)

    @property
    def vectors(self) -> np.ndarray:
        """Stored vectors (n, dim) float32 (unit-normalised for cosine, rotated if trained so)."""
        return self._store.data

    def bytes_per_vector(self) -> float:
        return self._store.bytes_per_vector

    def _payload(self) -> dict:
        return {"vectors": self._store.data}

    def _scan(self, q, n_candidates: int, params: SearchParams):
        x = self._arrays_on(self._backend)["vectors"]
        return self._backend.flat_search(x, q, self.dim, self._kernel_metric, n_candidates,
                                         params.threads, allow=params.allow)

    # Scoring the passing rows only beats scanning them all with the filter while fewer
    # than half pass (a gather of the passing rows costs less than the skipped scores).
    exact_filter_fraction = 0.5

    def _scores_exact(self, params: SearchParams) -> bool:
        return True

    def _state(self):
        return {"threads": self.threads}, {}

    @classmethod
    def _from_state(cls, params, arrays):
        return cls(params["dim"], params["metric"], params.get("threads", 0))
