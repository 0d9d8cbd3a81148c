"""Arrays that crossed a process boundary, with the dtype objects the kernels accept.

NumPy arrays rebuilt by pickle (Ray's object store, actor arguments and results) carry
dtype objects equal to, but not the same as, NumPy's builtin ones (``np.dtype("<f4")``),
and the compiled kernels compare dtypes by identity (``py::dtype::of<T>().is(...)`` in
``cpp/bindings/arrays.hpp``), so they refuse such arrays. Every array vecpress.distributed
receives goes through :func:`canon` (a view, no copy), and every index it unpickles through
:func:`canon_object`. (Both are no-ops once the kernels compare dtypes by value.)

Indexes travel as :func:`dumps` bytes: pickled with every lock replaced by a fresh one, so
shipping an index does not depend on each class dropping its locks in ``__getstate__``.
"""
from __future__ import annotations

import io
import pickle
import threading
from typing import Any

import numpy as np

from .._rwlock import RWLock


def canon(x: Any) -> Any:
    """x with every ndarray (also inside dicts, lists, tuples) viewed with NumPy's builtin
    dtype object of its type (no copy)."""
    if isinstance(x, np.ndarray):
        if x.dtype.fields is None and x.dtype.kind in "biufc":
            d = np.dtype(x.dtype.str)
            return x if x.dtype is d else x.view(d)
        return x
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(canon(v) for v in x)
    return x


def canon_object(obj: Any, _seen: set | None = None) -> Any:
    """Apply :func:`canon` to every array held by a vecpress object graph (an unpickled
    index: its centroids, codebooks, stored rows...), in place; returns obj."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or not type(obj).__module__.startswith("vecpress."):
        return obj
    seen.add(id(obj))
    state = getattr(obj, "__dict__", None)
    if state is None:
        return obj
    for name, value in list(state.items()):
        if isinstance(value, (np.ndarray, dict, list, tuple)):
            value = canon(value)
            for item in (value.values() if isinstance(value, dict) else
                         value if isinstance(value, (list, tuple)) else ()):
                canon_object(item, seen)
            state[name] = value
        else:
            canon_object(value, seen)
    return obj


_LOCK_TYPES = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


class _FreshLocks(pickle.Pickler):
    """Pickles locks as new, unlocked locks (indexes hold a readers-writer lock and may
    hold others; none of their state is meant to travel)."""

    def reducer_override(self, obj: Any) -> Any:
        factory = _LOCK_TYPES.get(type(obj))
        if factory is not None:
            return factory, ()
        if isinstance(obj, RWLock):
            return RWLock, ()
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        return NotImplemented


def dumps(obj: Any) -> bytes:
    """obj (e.g. an index) pickled with fresh locks; read back with :func:`loads`."""
    buf = io.BytesIO()
    _FreshLocks(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def loads(data: bytes) -> Any:
    """The object :func:`dumps` wrote, its arrays with NumPy's builtin dtypes."""
    return canon_object(pickle.loads(data))
