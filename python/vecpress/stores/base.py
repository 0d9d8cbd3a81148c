"""The interface every vector store implements."""
from __future__ import annotations

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

    @property
    @abstractmethod
    def bytes_per_vector(self) -> float:
        """Bytes of RAM per stored vector."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """What save() writes (name -> array)."""
