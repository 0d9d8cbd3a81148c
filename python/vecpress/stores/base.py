"""The interface every vector store implements."""
from __future__ import annotations

import mmap
from abc import ABC, abstractmethod

import numpy as np


class VectorStore(ABC):
    """Rows of float vectors (n, dim), appended and filtered together with the index's ids.

    Every method takes and returns NumPy arrays; the arithmetic runs in the
    kernels of the backend passed in (``vecpress.backends``).
    """

    dim: int

    @abstractmethod
    def __len__(self) -> int: ...

    def check(self, x: np.ndarray) -> None:
        """Raise (a VecpressError) if rows x cannot be stored; the index calls it before it
        changes anything, so a refused add leaves the index as it was."""
        return None  # float32 stores any finite row the index accepts

    @abstractmethod
    def append(self, x: np.ndarray) -> None:
        """Append rows x (n, dim) float32 (already normalised/rotated by the index)."""

    @abstractmethod
    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where the bool mask (n,) is True, in order."""

    @abstractmethod
    def rerank(self, backend, q: np.ndarray, rows: np.ndarray, k: int, metric: int,
               threads: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores of candidate rows (nq, c) int64 (-1 = none) for queries q (nq, dim):
        the best k as (scores (nq, k) float32, rows (nq, k) int64), best first."""

    @abstractmethod
    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The rows (m,) int64 as float32 vectors (m, dim), C-contiguous (decoded)."""

    @property
    @abstractmethod
    def bytes_per_vector(self) -> float:
        """Bytes of RAM per stored vector."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """What save() writes (name -> array)."""

    @classmethod
    @abstractmethod
    def from_arrays(cls, dim: int, arrays: dict, unit: bool = False) -> VectorStore:
        """The store that :meth:`arrays` saved (memory maps stay maps until written)."""

    @property
    def mapped(self) -> bool:
        """True while the rows are a memory map of the index file (not in RAM)."""
        a = self._rows.data
        while a is not None:  # a view of a view of ... the file's map
            if isinstance(a, (np.memmap, mmap.mmap)):
                return True
            a = getattr(a, "base", None)
        return False
