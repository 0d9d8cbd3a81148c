"""Compact rerank stores: float16 (2 bytes per dimension) and int8 (1 byte per dimension,
per-dimension scalar quantization between the training minimum and maximum)."""
from __future__ import annotations

import numpy as np

from .._arrays import GrowableArray
from .._validate import file_array, file_finite
from ..errors import FormatError, NotTrainedError, ParameterError
from .base import VectorStore


def _exact_topk(q: np.ndarray, cand: np.ndarray, vecs: np.ndarray, metric: int, k: int,
                larger: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of candidate rows: vecs (nq, c, d) float32 gathered for rows cand (nq, c)."""
    from .. import _core

    if metric == _core.METRICS["l2"]:
        diff = vecs - q[:, None, :]
        s = np.einsum("qcd,qcd->qc", diff, diff)
    else:
        s = np.einsum("qcd,qd->qc", vecs, q)
        if metric == _core.METRICS["cosine"]:
            s = s / np.maximum(np.linalg.norm(vecs, axis=2) * np.linalg.norm(q, axis=1)[:, None],
                               1e-30)
    s = s.astype(np.float32)
    s[cand < 0] = -np.inf if larger else np.inf
    order = np.argsort(-s if larger else s, axis=1, kind="stable")[:, :k]
    rows = np.take_along_axis(cand, order, 1)
    scores = np.take_along_axis(s, order, 1)
    rows[~np.isfinite(scores)] = -1
    return scores, rows


class _CompactStore(VectorStore):
    """Rows of an encoded dtype; decoded to float32 for the candidates only."""

    dtype: type = np.float16
    name = "?"

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self._rows = GrowableArray((self.dim,), self.dtype)

    def __len__(self) -> int:
        return len(self._rows)

    def keep(self, mask: np.ndarray) -> None:
        self._rows.keep(mask)

    def _decode(self, rows: np.ndarray) -> np.ndarray:
        return rows.astype(np.float32)

    def vectors(self, rows):
        return np.ascontiguousarray(self._decode(self._rows.data[rows]), dtype=np.float32)

    def rerank(self, backend, q, rows, k, metric, threads):
        from .. import _core

        safe = np.maximum(rows, 0)
        vecs = self._decode(self._rows.data[safe])
        return _exact_topk(q, rows, vecs, metric, k, metric != _core.METRICS["l2"])

    @property
    def bytes_per_vector(self) -> float:
        return float(self.dim * np.dtype(self.dtype).itemsize)


class Float16Store(_CompactStore):
    """float16 rows: 2 * dim bytes per vector (embeddings lose ~1e-3 relative precision)."""

    dtype, name = np.float16, "float16"

    def check(self, x: np.ndarray) -> None:
        if np.abs(x).max(initial=0) > 65504:
            raise ParameterError("values beyond float16's range (65504); use store='float32'")

    def append(self, x: np.ndarray) -> None:
        self._rows.append(x.astype(np.float16))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"store_f16": self._rows.data}

    @classmethod
    def from_arrays(cls, dim: int, arrays: dict, unit: bool = False) -> Float16Store:
        a = file_finite(file_array(arrays, "store_f16", np.float16, (None, dim)), "store_f16")
        s = cls(dim)
        s._rows = GrowableArray.from_array(a)
        return s


class Int8Store(_CompactStore):
    """uint8 rows: dim bytes per vector; dimension j is quantized to 256 levels between
    lo[j] and hi[j], fitted by ``train`` (values outside are clipped)."""

    dtype, name = np.uint8, "int8"

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.lo: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def train(self, x: np.ndarray) -> None:
        lo, hi = x.min(axis=0), x.max(axis=0)
        self.lo = lo.astype(np.float32)
        self.scale = np.maximum((hi - lo) / 255.0, 1e-12).astype(np.float32)

    def check(self, x: np.ndarray) -> None:
        if self.lo is None:
            raise NotTrainedError("the int8 store is not trained: its index's train() fits it")

    def append(self, x: np.ndarray) -> None:
        q = np.rint((x - self.lo) / self.scale)
        self._rows.append(np.clip(q, 0, 255).astype(np.uint8))

    def _decode(self, rows: np.ndarray) -> np.ndarray:
        return rows.astype(np.float32) * self.scale + self.lo

    def arrays(self) -> dict[str, np.ndarray]:
        if self.lo is None:  # untrained (and so empty)
            return {"store_u8": self._rows.data}
        return {"store_u8": self._rows.data, "store_lo": self.lo, "store_scale": self.scale}

    @classmethod
    def from_arrays(cls, dim: int, arrays: dict, unit: bool = False) -> Int8Store:
        s = cls(dim)
        s._rows = GrowableArray.from_array(file_array(arrays, "store_u8", np.uint8, (None, dim)))
        if "store_lo" not in arrays and not len(s):
            return s  # saved before training
        s.lo = file_finite(file_array(arrays, "store_lo", np.float32, (dim,)), "store_lo")
        s.scale = file_finite(file_array(arrays, "store_scale", np.float32, (dim,)), "store_scale")
        if not (s.scale > 0).all():
            raise FormatError("array 'store_scale' must be > 0")
        return s
