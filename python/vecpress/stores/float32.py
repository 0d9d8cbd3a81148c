"""Float32 vectors in RAM (or memory-mapped read-only after ``load(mmap=True)``)."""
from __future__ import annotations

import numpy as np

from .._arrays import GrowableArray
from .._validate import file_array, file_vectors
from .base import VectorStore


class Float32Store(VectorStore):
    """Float32 rows (n, dim): 4 * dim bytes per vector; saved as the "vectors" array."""

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self._rows = GrowableArray((self.dim,), np.float32)

    @classmethod
    def from_arrays(cls, dim: int, arrays: dict, unit: bool = False) -> Float32Store:
        """The store saved by :meth:`arrays` (a memory map stays one until the first append),
        checked: float32 (n, dim), finite, and unit rows when ``unit`` (cosine) or rows of
        norm <= ``MAX_NORM`` otherwise; FormatError if not."""
        x = file_vectors(file_array(arrays, "vectors", np.float32, (None, dim)), "vectors", unit)
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

    def vectors(self, rows):
        return np.ascontiguousarray(self._rows.data[rows])

    def rerank(self, backend, q, rows, k, metric, threads):
        return backend.rerank_exact(self._rows.data, q, self.dim, metric, rows, k, threads)

    @property
    def bytes_per_vector(self) -> float:
        return 4.0 * self.dim

    def arrays(self) -> dict[str, np.ndarray]:
        return {"vectors": self._rows.data}
