"""Filtered search: which ids a search may return.

``index.search(queries, k, filter=...)`` takes an int64 array of allowed ids or an
:class:`IdSelector` (allow-list, deny-list or both). Only ids that pass are returned, and
never fewer than k when at least k pass. The filter is applied inside the scan: the
kernels get a bitmap over the index's rows and keep only rows that pass; when few rows
pass, the index scores exactly those rows instead (see ``Index.search``).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ParameterError, ParameterTypeError


@dataclass(frozen=True)
class RowFilter:
    """A filter compiled against one state of one index.

    bits : uint64 (ceil(n / 64),), bit r of word r >> 6 set when row r passes
        (what the kernels take as ``allow``).
    rows : int64 (count,), the passing rows in increasing order.
    """

    bits: np.ndarray
    rows: np.ndarray

    @property
    def count(self) -> int:
        return int(self.rows.size)


def filter_ids(ids: Any, name: str) -> np.ndarray:
    """ids (any shape, integer dtype) as an int64 array (m,), flattened in order (repeats are
    harmless: a filter only marks rows)."""
    a = np.asarray(ids)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise ParameterTypeError(f"{name} must be an array of integer ids (int64), got "
                                 f"dtype {a.dtype}; e.g. np.asarray(ids, dtype=np.int64)")
    return a.astype(np.int64, copy=False).ravel()


def rows_bitmap(mask: np.ndarray) -> np.ndarray:
    """A bool mask (n,) as the kernels' uint64 bitmap (ceil(n / 64),)."""
    words = (mask.size + 63) // 64
    packed = np.zeros(words * 8, np.uint8)
    packed[: (mask.size + 7) // 8] = np.packbits(mask, bitorder="little")
    return packed.view("<u8").astype(np.uint64, copy=False)


class IdSelector:
    """The ids a filtered search may return: ``allow`` (only these), ``deny`` (all but
    these) or both (allowed and not denied). Ids absent from the index are ignored, so one
    selector stays valid while ids come and go.

    Build it once and reuse it: it compiles to a bitmap over an index's rows the first
    time it meets that index, and recompiles only after the index changes (add/remove).
    Safe to share between threads.

    Parameters
    ----------
    allow : int array (m,), optional: the ids that may be returned.
    deny : int array (m,), optional: ids that must not be returned.
    """

    def __init__(self, allow: Any = None, deny: Any = None) -> None:
        if allow is None and deny is None:
            raise ParameterError("IdSelector needs allow=ids, deny=ids or both")
        self.allow = None if allow is None else filter_ids(allow, "filter allow")
        self.deny = None if deny is None else filter_ids(deny, "filter deny")
        self._lock = threading.Lock()
        self._cache: tuple | None = None  # (weakref to the index, its version, RowFilter)

    def __repr__(self) -> str:
        parts = [f"{name}={a.size} ids" for name, a in (("allow", self.allow),
                                                       ("deny", self.deny)) if a is not None]
        return f"IdSelector({', '.join(parts)})"

    def compile(self, index: Any) -> RowFilter:
        """The :class:`RowFilter` of this selector over ``index``'s current rows (cached).
        The index calls it with its lock held, so its rows cannot change meanwhile."""
        version = index._version
        with self._lock:
            c = self._cache
            if c is not None and c[0]() is index and c[1] == version:
                return c[2]
        ids = index._ids.data
        if self.allow is not None:
            mask = np.zeros(ids.size, bool)
            mask[index._rows_of(self.allow, missing="skip")] = True
        else:
            mask = np.ones(ids.size, bool)
        if self.deny is not None:
            mask[index._rows_of(self.deny, missing="skip")] = False
        compiled = RowFilter(rows_bitmap(mask), np.flatnonzero(mask).astype(np.int64))
        with self._lock:
            self._cache = (weakref.ref(index), version, compiled)
        return compiled


def as_selector(filter: Any) -> IdSelector | None:
    """A search's ``filter`` argument: None, an :class:`IdSelector` or allowed ids."""
    if filter is None or isinstance(filter, IdSelector):
        return filter
    if isinstance(filter, (str, bytes, dict)):
        raise ParameterTypeError("filter must be an int64 array of allowed ids or a "
                                 f"vecpress.IdSelector, got {type(filter).__name__}")
    return IdSelector(allow=filter)
