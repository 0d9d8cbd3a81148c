"""Product-quantization index: 8-bit codes scanned with ADC tables, or 4-bit
codes scanned with fast-scan (quantized LUTs + exact re-scoring), optional
learned rotation and optional exact reranking with the float vectors."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import (
    check_choice,
    check_int,
    check_magnitude,
    file_array,
    file_rotation,
)
from ..quantizers.nibbles import pack_nibbles, unpack_nibbles, upgrade_unpaired
from ..quantizers.pq import ProductQuantizer
from ..quantizers.rotations import PQRotation
from .base import SearchParams, register, trains
from .coded import CodedIndex, fastscan_rescore, refuse_retraining


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
        fast-scan sums and re-scored with the float ADC tables. Default: none (0)
        when rerank follows (its exact scores make the float tables' pass redundant),
        else 2 * k (on wordnet-minilm 96x4, 20 and 40 give the same recall@10)
    niter, seed : k-means settings of the codebook training
    threads : int, optional; 0/None = all cores

    ``train(vectors)`` must be called before ``add``. ``search(queries, k, rerank=None)``
    overrides rerank per call. Scores: exact metric scores when reranking,
    otherwise ADC estimates (inner products, or squared L2 distances for "l2").
    """

    def __init__(self, dim: int, metric: str = "ip", M: int = 8, nbits: int = 8,
                 rotation: str | None = None, rerank: int = 0, rescore: int | None = None,
                 niter: int = 25, seed: int = 1234, threads: int | None = None) -> None:
        super().__init__(dim, metric, threads, rerank)
        self.quantizer = ProductQuantizer(self.dim, M, nbits, niter=niter, seed=seed,
                                          threads=self.threads)
        self.rotation = check_choice(rotation, "rotation", (None, "pca", "opq"))
        self.rescore = None if rescore is None else check_int(rescore, "rescore", 0, 1 << 20)
        self._rotation = (PQRotation(rotation, self.M, self.nbits, seed=seed, threads=self.threads)
                          if rotation else None)
        # 4-bit codes are kept two per byte (rows of ceil(M / 2) bytes), so memory
        # and files hold M / 2 bytes per vector, plus the fast-scan layout built
        # from them lazily at the first search after add/remove.
        self._init_codes(self.code_bytes)
        self._packed: np.ndarray | None = None

    M = property(lambda self: self.quantizer.M, doc="Sub-quantizers.")
    nbits = property(lambda self: self.quantizer.nbits, doc="Bits per sub-code (4 or 8).")

    @property
    def is_trained(self) -> bool:
        return self.quantizer.is_trained and (self._rotation is None or self._rotation.is_trained)

    @property
    def code_bytes(self) -> int:
        """Bytes of code per vector: M at 8 bits, ceil(M / 2) at 4 bits."""
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
        return float(self.code_bytes + self._store_bytes())

    @trains
    def train(self, vectors: Any) -> PQIndex:
        """Learn the rotation (if any) and the codebooks from samples (n, dim), n >= 2**nbits.

        Only on an empty index: when it holds vectors (their codes belong to the current
        codebooks) this raises :class:`vecpress.IndexNotEmptyError` and changes nothing;
        build a new index, or remove every vector first, and add the vectors again.
        """
        refuse_retraining(self)
        x = self._training_sample(vectors)
        self.quantizer._training_vectors(x, self.quantizer.ksub)  # enough rows, before the rotation
        if self._rotation is not None:
            x = self._rotation.fit(x).apply(x)
        self.quantizer.train(x)
        return self

    def encode(self, vectors: Any) -> np.ndarray:
        """Codes (n, M) uint8 of float vectors (n, dim), as add() would store them."""
        return self.quantizer._encode(check_magnitude(self.transform(vectors)))  # as add() does

    # ---- hooks ------------------------------------------------------------
    def _encode_rows(self, x):
        codes = self.quantizer._encode(x)
        return codes if self.nbits == 8 else pack_nibbles(codes)

    def _codes_changed(self) -> None:
        self._packed = None

    def _scan(self, q, n_candidates: int, params: SearchParams):
        be, t = self._backend, params.threads
        largest = self.metric != "l2"
        tables = self.quantizer._tables(q, "ip" if largest else "l2")
        codes = self._arrays_on(be)["codes"]
        if self.nbits == 8:
            return be.adc_search_u8(tables, codes, largest, n_candidates, t, allow=params.allow)
        packed = self._packed
        if packed is None:
            packed = self._packed = self.quantizer.pack4(self.codes)
        rescore = fastscan_rescore(self.rescore, params, n_candidates)
        return be.fastscan_search(tables, packed, len(self._codes), largest, n_candidates,
                                  rescore, t, allow=params.allow)

    def _state(self):
        arrays = self._code_arrays()
        if self.quantizer.is_trained:
            arrays["centroids"] = self.quantizer.codebooks  # the file format's name
        if self._rotation is not None and self._rotation.is_trained:
            arrays["rotation"] = self._rotation.matrix
        return ({"M": self.M, "nbits": self.nbits, "rotation": self.rotation, "rerank": self.rerank,
                 "rescore": self.rescore, "niter": self.quantizer.niter,
                 "seed": self.quantizer.seed, "threads": self.threads}, arrays)

    @classmethod
    def _from_state(cls, params, arrays):
        obj = cls(params["dim"], params["metric"], params["M"], params["nbits"], params["rotation"],
                  params["rerank"], params["rescore"], params["niter"], params["seed"],
                  params.get("threads", 0))
        q = obj.quantizer
        if "centroids" in arrays:
            q.set_codebooks(file_array(arrays, "centroids", np.float32, (q.M, q.ksub, q.dsub)))
        if obj._rotation is not None and "rotation" in arrays:
            obj._rotation.matrix = file_rotation(arrays, obj.dim)
        masks = np.full(obj.code_bytes, 0xFF, np.uint8)
        if obj.nbits == 4:
            arrays = upgrade_unpaired(arrays, obj.M)
            masks[-1] = 0xFF if obj.M % 2 == 0 else 0x0F  # an odd M pads a zero nibble
        return obj._load_codes(arrays, "M and nbits", masks)
