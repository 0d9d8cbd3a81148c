"""Row-appendable arrays: the storage under ids, codes and vector stores."""
from __future__ import annotations

import numpy as np

_IN_PLACE_DROPS = 256  # keep() closes up at most this many removed rows in place


class GrowableArray:
    """Rows of a fixed shape and dtype with amortised O(1) appends (capacity doubling).

    ``data`` is a C-contiguous view of the stored rows; it may be a read-only
    memory map after loading with ``mmap=True`` (the first append copies it).
    """

    def __init__(self, row_shape: tuple, dtype) -> None:
        self._buf = np.empty((0, *row_shape), dtype=dtype)
        self._n = 0

    @classmethod
    def from_array(cls, a: np.ndarray) -> GrowableArray:
        g = cls(a.shape[1:], a.dtype)
        g._buf, g._n = np.ascontiguousarray(a), a.shape[0]
        return g

    def __len__(self) -> int:
        return self._n

    @property
    def data(self) -> np.ndarray:
        """C-contiguous view of the stored rows, shape (n, *row_shape)."""
        return self._buf[: self._n]

    @property
    def row_shape(self) -> tuple:
        return self._buf.shape[1:]

    def append(self, rows: np.ndarray) -> None:
        need = self._n + rows.shape[0]
        if need > self._buf.shape[0]:
            cap = max(need, 2 * self._buf.shape[0], 1024)
            buf = np.empty((cap, *self._buf.shape[1:]), dtype=self._buf.dtype)
            buf[: self._n] = self._buf[: self._n]
            self._buf = buf
        self._buf[self._n:need] = rows
        self._n = need

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where the bool mask (n,) is True, in order.

        A few removed rows are closed up in place (each run of kept rows moves down once),
        so removing one vector does not copy every row; many, or a read-only memory map,
        make a compacted copy."""
        drop = np.flatnonzero(~mask)
        if drop.size == 0:
            return
        if drop.size > _IN_PLACE_DROPS or not self._buf.flags.writeable:
            kept = self.data[mask]
            self._buf, self._n = np.ascontiguousarray(kept), kept.shape[0]
            return
        write = int(drop[0])
        for a, b in zip(drop.tolist(), drop[1:].tolist() + [self._n]):
            run = b - a - 1  # kept rows a+1 .. b-1
            if run:
                self._buf[write:write + run] = self._buf[a + 1:b]
            write += run
        self._n = write
