"""Binary quantization: 1 bit per dimension, Hamming (or asymmetric) scan,
exact rescoring of the candidates ("oversampling")."""
from __future__ import annotations

import numpy as np

from . import _core
from ._validate import as_f32_matrix, check_positive_int
from .index import CodedIndex, register
from .rotation import PCARotation

_THRESHOLDS = ("zero", "mean", "median")


@register
class BinaryIndex(CodedIndex):
    """Binary codes of (a prefix of) each vector, scanned with hardware
    popcount, with exact float rescoring of the best candidates.

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine" (used by the exact rescoring)
    bits : number of leading dimensions turned into bits (default: all). With
        rotation="pca" a prefix keeps most of the signal (binary Matryoshka funnel).
    threshold : "zero" (sign bit), "mean" or "median" (per-dimension value
        learned by ``train``; helps when dimensions are not centred).
    rotation : None or "pca" (see MatryoshkaIndex).
    rerank : candidates re-scored with the float vectors (default 100); 0
        returns the code-space ranking and keeps no float vectors.
    query : "binary" (Hamming distance between codes) or "float" (asymmetric:
        the float query against the +-1 code, which ranks better at the same
        code size).
    threads : int, optional (0/None = all cores).

    Scores: with rerank > 0, exact metric scores. With rerank=0, Hamming
    distances (query="binary", smaller is better) or asymmetric inner products
    with the +-1 codes (query="float", larger is better).
    ``search(queries, k, rerank=None)`` overrides rerank per call (must be <=
    the stored setting's need for float vectors: 0 only if built with 0).
    """

    def __init__(self, dim: int, metric: str = "ip", bits: int | None = None,
                 threshold: str = "zero", rotation: str | None = None, rerank: int = 100,
                 query: str = "binary", threads: int | None = None):
        super().__init__(dim, metric, threads)
        self.bits = self.dim if bits is None else check_positive_int(bits, "bits")
        if self.bits > self.dim:
            raise ValueError(f"bits={self.bits} exceeds dim={self.dim}")
        if threshold not in _THRESHOLDS:
            raise ValueError(f"threshold must be one of {_THRESHOLDS}, got {threshold!r}")
        if rotation not in (None, "pca"):
            raise ValueError(f"rotation must be None or 'pca', got {rotation!r}")
        if query not in ("binary", "float"):
            raise ValueError(f"query must be 'binary' or 'float', got {query!r}")
        if isinstance(rerank, bool) or not isinstance(rerank, (int, np.integer)) or rerank < 0:
            raise ValueError(f"rerank must be a non-negative integer, got {rerank!r}")
        self.threshold, self.rotation, self.rerank, self.query = threshold, rotation, int(rerank), query
        self._rot = PCARotation() if rotation == "pca" else None
        self._thresholds = None  # learned by train() for "mean"/"median"
        self._nbytes = int(_core.binary_code_bytes(self.bits))
        self._init_codes(self._nbytes, keep_vectors=bool(self.rerank))

    @property
    def is_trained(self) -> bool:
        rot_ok = self._rot is None or self._rot.is_trained
        thr_ok = self.threshold == "zero" or self._thresholds is not None
        return rot_ok and thr_ok

    def train(self, vectors) -> "BinaryIndex":
        """Fit the rotation and/or per-dimension thresholds on samples (n, dim)."""
        x = as_f32_matrix(vectors, "training vectors", self.dim)
        if self.metric == "cosine":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
        if self._rot is not None:
            self._rot.fit(x)
            x = self._rot.apply(x)
        if self.threshold == "mean":
            self._thresholds = np.ascontiguousarray(x[:, : self.bits].mean(axis=0), dtype=np.float32)
        elif self.threshold == "median":
            self._thresholds = np.ascontiguousarray(np.median(x[:, : self.bits], axis=0), dtype=np.float32)
        return self

    def bytes_per_vector(self) -> float:
        """Bytes stored per vector: the code plus the float copy used for rescoring."""
        return float(self._nbytes + (4 * self.dim if self._x is not None else 0))

    @property
    def code_bytes(self) -> int:
        """Bytes of binary code per vector (what the scan reads)."""
        return self._nbytes

    @property
    def codes(self) -> np.ndarray:
        """Binary codes (n, code_bytes) uint8, bit i of dim j at byte j//8, LSB first."""
        return self._codes.data

    def encode(self, vectors) -> np.ndarray:
        """Binary codes (n, code_bytes) uint8 of float vectors (n, dim)."""
        self._check_ready()
        return self._encode(self._prepare(as_f32_matrix(vectors, "vectors", self.dim)))

    def _encode(self, x):
        return _core.binarize(x, self.bits, self._thresholds, self.threads)

    def _transform(self, x):
        return self._rot.apply(x) if self._rot is not None else x

    def _add_rows(self, x):
        self._append_codes(self._encode(x), x)

    def _search_rows(self, q, k, rerank=None):
        rerank = self.rerank if rerank is None else int(rerank)
        self._check_rerank(rerank)
        n = len(self._codes)
        c = min(max(rerank, k), n) if rerank else k
        if self.query == "float":
            tables = _core.binary_asym_tables(q, self.bits, self.threads)
            s, rows = _core.adc_search_u8(tables, self._codes.data, True, c, self.threads)
        else:
            qc = self._encode(q)
            d, rows = _core.hamming_search(qc, self._codes.data, c, self.threads)
            s = d.astype(np.float32)
        if not rerank:
            return s, rows
        return self._rescore(q, rows, k)

    def _state(self):
        arrays = self._code_arrays()
        if self._rot is not None and self._rot.is_trained:
            arrays["rotation"] = self._rot.matrix
            arrays["energy"] = np.asarray(self._rot.energy, dtype=np.float64)
        if self._thresholds is not None:
            arrays["thresholds"] = self._thresholds
        return ({"bits": self.bits, "threshold": self.threshold, "rotation": self.rotation,
                 "rerank": self.rerank, "query": self.query, "threads": self.threads}, arrays)

    @classmethod
    def _from_state(cls, params, arrays):
        obj = cls(params["dim"], params["metric"], params["bits"], params["threshold"],
                  params["rotation"], params["rerank"], params["query"], params.get("threads", 0))
        if obj._rot is not None and "rotation" in arrays:
            obj._rot = PCARotation(np.asarray(arrays["rotation"]), np.asarray(arrays["energy"]))
        if "thresholds" in arrays:
            obj._thresholds = np.ascontiguousarray(arrays["thresholds"], dtype=np.float32)
        return obj._load_codes(arrays, "bits")
