"""Float32 vectors in RAM (or memory-mapped read-only after ``load(mmap=True)``)."""
from __future__ import annotations

import numpy as np

from .._arrays import GrowableArray
from ..errors import FormatError
from .base import VectorStore


class Float32Store(VectorStore):
    """Float32 rows (n, dim): 4 * dim bytes per vector; saved as the "vectors" array."""

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self._rows = GrowableArray((self.dim,), np.float32)

    @classmethod
    def from_arrays(cls, dim: int, arrays: dict) -> Float32Store:
        """The store saved by :meth:`arrays` (a memory map stays one until the first append)."""
        x = arrays.get("vectors")
        if x is None:
            raise FormatError("the file has no 'vectors' array")
        x = np.asarray(x)
        if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != dim:
            raise FormatError(f"the vectors array must be float32 (n, {dim}), "
                              f"got {x.dtype} {x.shape}")
        store = cls(dim)
        store._rows = GrowableArray.from_array(x)
        return store

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def data(self) -> np.ndarray:
        """The stored vectors (n, dim) float32 (a view, not a copy)."""
        return self._rows.data

    def append(self, x: np.ndarray) -> None:
        self._rows.append(x)

    def keep(self, mask: np.ndarray) -> None:
        self._rows.keep(mask)

    def rerank(self, backend, q, rows, k, metric, threads):
        return backend.rerank_exact(self._rows.data, q, self.dim, metric, rows, k, threads)

    @property
    def bytes_per_vector(self) -> float:
        return 4.0 * self.dim

    def arrays(self) -> dict[str, np.ndarray]:
        return {"vectors": self._rows.data}
