"""Product-quantization index: 8-bit codes scanned with ADC tables, or 4-bit
codes scanned with fast-scan (quantized LUTs + exact re-scoring), optional
learned rotation and optional exact reranking with the float vectors."""
from __future__ import annotations

import numpy as np

from . import _core
from ._nibbles import pack_nibbles, unpack_nibbles, upgrade_unpaired
from ._validate import as_f32_matrix, check_positive_int
from .index import CodedIndex, register
from .opq import PQRotation
from .quantizers import ProductQuantizer


def _check_count(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    return int(v)


@register
class PQIndex(CodedIndex):
    """Vectors stored as product-quantization codes: M bytes (8-bit) or M / 2 bytes (4-bit).

    Parameters
    ----------
    dim : int, divisible by M
    metric : "ip" | "l2" | "cosine" (cosine stores unit vectors, scores with IP)
    M : sub-quantizers (default 8)
    nbits : 8 (ADC over byte codes) or 4 (fast-scan over packed nibbles)
    rotation : None, "pca" or "opq": learned orthogonal rotation before PQ
        (scores are unchanged by it; it lowers quantization error)
    rerank : 0 (return ADC scores) or the number of candidates re-scored
        exactly with the float vectors, which the index then keeps (4 * dim
        bytes per vector; memory-mapped when loaded with mmap=True)
    rescore : 4-bit only: candidates per query taken from the quantized
        fast-scan sums and re-scored with the float ADC tables (default 2 * k;
        on wordnet-minilm 96x4, 20 and 40 give the same recall@10)
    niter, seed : k-means settings of the codebook training
    threads : int, optional; 0/None = all cores

    ``train(vectors)`` must be called before ``add``. ``search(queries, k, rerank=None)``
    overrides rerank per call. Scores: exact metric scores when reranking,
    otherwise ADC estimates (inner products, or squared L2 distances for "l2").
    """

    def __init__(self, dim: int, metric: str = "ip", M: int = 8, nbits: int = 8,
                 rotation: str | None = None, rerank: int = 0, rescore: int | None = None,
                 niter: int = 25, seed: int = 1234, threads: int | None = None):
        super().__init__(dim, metric, threads)
        self.pq = ProductQuantizer(self.dim, M, nbits, niter=niter, seed=seed, threads=self.threads)
        if rotation not in (None, "pca", "opq"):
            raise ValueError(f"rotation must be None, 'pca' or 'opq', got {rotation!r}")
        self.rotation = rotation
        self.rerank = _check_count(rerank, "rerank")
        self.rescore = None if rescore is None else check_positive_int(rescore, "rescore")
        self._rot = (PQRotation(rotation, self.pq.M, self.pq.nbits, seed=seed, threads=self.threads)
                     if rotation else None)
        # 4-bit codes are kept two per byte (rows of ceil(M / 2) bytes), so memory
        # and files hold M / 2 bytes per vector, plus the fast-scan layout built
        # from them lazily at the first search after add/remove.
        self._init_codes(self._row_bytes, keep_vectors=bool(self.rerank))
        self._packed = None

    @property
    def M(self) -> int:
        return self.pq.M

    @property
    def nbits(self) -> int:
        return self.pq.nbits

    @property
    def is_trained(self) -> bool:
        return self.pq.is_trained and (self._rot is None or self._rot.is_trained)

    @property
    def _row_bytes(self) -> int:
        return self.M if self.nbits == 8 else (self.M + 1) // 2

    @property
    def codes(self) -> np.ndarray:
        """Stored codes (n, M) uint8, one code per byte (4-bit codes are unpacked: a copy)."""
        if self.nbits == 8:
            return self._codes.data
        return unpack_nibbles(self._codes.data, self.M)

    def bytes_per_vector(self) -> float:
        """Bytes stored per vector: the code (two 4-bit codes per byte) plus any float copy
        for reranking; 4-bit search also builds a fast-scan copy of the codes."""
        return float(self._row_bytes + (4 * self.dim if self._x is not None else 0))

    def train(self, vectors) -> "PQIndex":
        """Learn the rotation (if any) and the codebooks from samples (n, dim), n >= 2**nbits."""
        x = as_f32_matrix(vectors, "training vectors", self.dim)
        if x.shape[0] < self.pq.ksub:
            raise ValueError(f"training needs at least {self.pq.ksub} vectors for nbits={self.nbits}, "
                             f"got {x.shape[0]}")
        if self.metric == "cosine":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
        if self._rot is not None:
            x = self._rot.fit(x).apply(x)
        self.pq.train(x)
        return self

    def encode(self, vectors) -> np.ndarray:
        """Codes (n, M) uint8 of float vectors (n, dim), as add() would store them."""
        self._check_ready()
        return self.pq.encode(self._prepare(as_f32_matrix(vectors, "vectors", self.dim)))

    # ---- hooks ------------------------------------------------------------
    def _transform(self, x):
        return self._rot.apply(x) if self._rot is not None else x

    def _add_rows(self, x):
        codes = self.pq.encode(x)
        self._append_codes(codes if self.nbits == 8 else pack_nibbles(codes), x)
        self._packed = None

    def _search_rows(self, q, k, rerank=None):
        rerank = self.rerank if rerank is None else _check_count(rerank, "rerank")
        self._check_rerank(rerank)
        n = len(self._codes)
        c = min(max(rerank, k), n) if rerank else k
        l2 = self.metric == "l2"
        tables = self.pq.compute_tables(q, "l2" if l2 else "ip")
        if self.nbits == 8:
            s, rows = _core.adc_search_u8(tables, self._codes.data, not l2, c, self.threads)
        else:
            if self._packed is None:
                self._packed = self.pq.pack4(self.codes)
            rescore = self.rescore if self.rescore is not None else 2 * c
            s, rows = _core.fastscan_search(tables, self._packed, n, not l2, c, rescore,
                                            self.threads)
        if rerank:
            return self._rescore(q, rows, k)
        return self._fix_padding(s, rows)

    def _keep_rows(self, keep):
        super()._keep_rows(keep)
        self._packed = None

    def _state(self):
        arrays = self._code_arrays()
        if self.pq.is_trained:
            arrays["centroids"] = self.pq.centroids
        if self._rot is not None and self._rot.is_trained:
            arrays["rotation"] = self._rot.matrix
        return ({"M": self.M, "nbits": self.nbits, "rotation": self.rotation, "rerank": self.rerank,
                 "rescore": self.rescore, "niter": self.pq.niter, "seed": self.pq.seed,
                 "threads": self.threads}, arrays)

    @classmethod
    def _from_state(cls, params, arrays):
        obj = cls(params["dim"], params["metric"], params["M"], params["nbits"], params["rotation"],
                  params["rerank"], params["rescore"], params["niter"], params["seed"],
                  params.get("threads", 0))
        if "centroids" in arrays:
            obj.pq.set_centroids(np.asarray(arrays["centroids"]))
        if obj._rot is not None and "rotation" in arrays:
            r = np.asarray(arrays["rotation"], dtype=np.float32)
            if r.shape != (obj.dim, obj.dim):
                raise ValueError("rotation array does not match dim")
            obj._rot.matrix = np.ascontiguousarray(r)
        if obj.nbits == 4:
            arrays = upgrade_unpaired(arrays, obj.M)
        return obj._load_codes(arrays, "M and nbits")
