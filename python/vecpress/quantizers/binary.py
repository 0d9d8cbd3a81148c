"""Binary quantizer: one bit per dimension (of a prefix), scanned with popcount or
with asymmetric per-byte tables.

Layouts: codes (n, code_size) uint8, bit i of the code at byte i // 8, least
significant bit first, rows padded with zero bits to 64-bit words; tables
(nq, code_size, 256) float32, entry [j, b] = sum over the 8 bits of byte value b
of +-q[8j + bit] (the float query against the +-1 code).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import MAX_DIM, as_codes, check_choice, check_int, check_threads
from ..errors import ParameterError
from .base import Quantizer, check_table_metric, read_only

THRESHOLDS = ("zero", "mean", "median")


class BinaryQuantizer(Quantizer):
    """Sign bits of the first ``bits`` dimensions against per-dimension thresholds.

    Parameters
    ----------
    dim : int
    bits : leading dimensions turned into bits (default: all)
    threshold : "zero" (sign bit), "mean" or "median" (per-dimension value learned
        by ``train``; helps when dimensions are not centred)
    threads : int, optional; 0/None = all cores
    """

    def __init__(self, dim: int, bits: int | None = None, threshold: str = "zero",
                 threads: int | None = None) -> None:
        self.dim = check_int(dim, "dim", 1, MAX_DIM)
        self.bits = self.dim if bits is None else check_int(bits, "bits", 1, self.dim)
        self.threshold = check_choice(threshold, "threshold", THRESHOLDS)
        self.threads = check_threads(threads)
        self.thresholds: np.ndarray | None = None  # (bits,) float32 once trained

    @property
    def code_size(self) -> int:
        return int(_core.binary_code_bytes(self.bits))

    @property
    def ksub(self) -> int:
        return 256  # a table entry per byte value

    @property
    def is_trained(self) -> bool:
        return self.threshold == "zero" or self.thresholds is not None

    @property
    def codebooks(self) -> np.ndarray:
        """The thresholds (bits,) float32 (zeros for threshold="zero"), read-only."""
        self._check_trained()
        return read_only(np.zeros(self.bits, np.float32) if self.thresholds is None
                         else self.thresholds)

    def train(self, x: Any) -> BinaryQuantizer:
        """Learn the per-dimension thresholds ("mean"/"median") from x (n, dim)."""
        x = self._training_vectors(x, 1)[:, : self.bits]
        if self.threshold == "mean":
            self.thresholds = np.ascontiguousarray(x.mean(axis=0), dtype=np.float32)
        elif self.threshold == "median":
            self.thresholds = np.ascontiguousarray(np.median(x, axis=0), dtype=np.float32)
        return self

    def set_thresholds(self, thresholds: np.ndarray) -> BinaryQuantizer:
        t = np.ascontiguousarray(thresholds, dtype=np.float32)
        if t.shape != (self.bits,) or not np.isfinite(t).all():
            raise ParameterError(f"thresholds must be finite, shape ({self.bits},)")
        self.thresholds = t
        return self

    def encode(self, x: Any) -> np.ndarray:
        """Codes (n, code_size) uint8: bit i set where x[:, i] > threshold[i]."""
        self._check_trained()
        return self._encode(self._vectors(x))

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return _core.binarize(x, self.bits, self.thresholds, self.threads)

    def decode(self, codes: Any) -> np.ndarray:
        """+-1 vectors (n, dim) float32 of codes: +1 where the bit is set, -1 where not,
        0 past ``bits`` (the vector the asymmetric tables score against)."""
        self._check_trained()
        c = as_codes(codes, self.code_size)
        bits = np.unpackbits(c, axis=1, bitorder="little")[:, : self.bits]
        out = np.zeros((c.shape[0], self.dim), np.float32)
        out[:, : self.bits] = 2.0 * bits - 1.0
        return out

    def compute_tables(self, q: Any, metric: str = "ip") -> np.ndarray:
        """Tables (nq, code_size, 256) float32: the sum over a code's bytes is <q, decode(code)>."""
        check_table_metric(metric, ("ip",))
        self._check_trained()
        return _core.binary_asym_tables(self._queries(q), self.bits, self.threads)
