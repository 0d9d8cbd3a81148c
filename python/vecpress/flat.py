"""Exact (brute-force) search."""
from __future__ import annotations

import numpy as np

from . import _core
from .index import GrowableArray, Index, register


@register
class FlatIndex(Index):
    """Exact search over float32 vectors (4 * dim bytes per vector).

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine" (cosine stores unit vectors and scores with IP)
    threads : int, optional; 0/None = all cores (see vecpress.set_num_threads).
    """

    def __init__(self, dim: int, metric: str = "ip", threads: int | None = None):
        super().__init__(dim, metric, threads)
        self._x = GrowableArray((self.dim,), np.float32)

    @property
    def vectors(self) -> np.ndarray:
        """Stored vectors (n, dim) float32 (unit-normalised for cosine)."""
        return self._x.data

    def bytes_per_vector(self) -> float:
        return 4.0 * self.dim

    def _add_rows(self, x):
        self._x.append(x)

    def _search_rows(self, q, k):
        s, rows = _core.flat_search(self._x.data, q, self.dim, self._metric_code, k, self.threads)
        return self._fix_padding(s, rows)

    def _gpu_payload(self):
        return {"vectors": self._x.data}

    def _gpu_search_rows(self, q, k):
        from . import gpu

        return gpu.flat_search(self._gpu["vectors"], q, k, self._metric_code, d=self.dim)

    def _keep_rows(self, keep):
        self._x.keep(keep)

    def _stored_rows(self):
        return len(self._x)

    def _state(self):
        return {"threads": self.threads}, {"vectors": self._x.data}

    @classmethod
    def _from_state(cls, params, arrays):
        return cls(params["dim"], params["metric"], params.get("threads", 0))._load_vectors(arrays)

    def _load_vectors(self, arrays):
        x = np.asarray(arrays["vectors"], dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError("vectors array does not match dim")
        self._x = GrowableArray.from_array(x)
        return self
