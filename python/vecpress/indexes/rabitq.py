"""RaBitQ index: 1 sign bit per rotated, centred dimension plus 4 factors per vector,
scanned with the 4-bit fast-scan kernel against the float query (default) or with
AND + popcount against a qb-bit query; exact rescoring of the best candidates (see
:mod:`vecpress.quantizers.rabitq` for the estimator)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import (
    as_f32_matrix,
    check_choice,
    check_int,
    check_magnitude,
    file_array,
    file_finite,
)
from ..backends import CPU
from ..errors import FormatError
from ..quantizers.rabitq import ROUNDS, RaBitQuantizer, random_signs
from .base import SearchParams, register, trains
from .coded import CodedIndex, refuse_retraining


@register
class RaBitQIndex(CodedIndex):
    """RaBitQ codes (Gao & Long 2024) of every vector, centred on the training mean, with
    exact float rescoring of the best candidates.

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine"
    ex_bits : extra bits per dimension (extended RaBitQ); only 0 is implemented
    qb : bits of the randomly rounded query of the popcount scan (1..8, default 4)
    rerank : candidates re-scored with the float vectors (default 100); 0 returns the
        estimated scores and keeps no float vectors.
    scan : "fastscan" (default): each group of 4 rotated dimensions is a 4-bit sub-code
        scanned with the PQ fast-scan kernel against the float query's tables quantized to
        8 bits, corrected per vector with its factors, and the best ``rescore`` re-scored
        with the float query's exact estimate; "popcount": AND + popcount against the
        qb-bit query (the paper's scan). Settable on a built index.
    rescore : first-stage fast-scan candidates re-scored with the float query per query
        (default: as many as the search needs, rerank or k). The first stage's 8-bit
        tables add an error far below the estimator's own: on wordnet-minilm, keeping 1x
        or 2x as many gives the same recall@10 (0.9934 with rerank 100, 0.7263 without),
        and each extra candidate costs about 0.45 us per query. Ignored by the popcount
        scan.
    seed : the rotation's (and the query rounding's) seed
    epsilon : eps0 of the estimator's error bound (:meth:`estimate`)
    threads : int, optional (0/None = all cores)

    Scores: with rerank > 0, exact metric scores; with rerank=0, RaBitQ's unbiased
    estimates of the inner product ("ip", "cosine") or squared distance ("l2"): from the
    float query (fastscan) or the qb-bit query (popcount).
    Bytes per vector: ceil(dim / 64) * 8 of sign bits + 16 of factors (+ 4 * dim for
    the float copy when rerank > 0); the fast-scan scan also builds, at its first search
    after add/remove, a copy of the sign bits in its block layout with f_add and f_mul
    (ceil(dim / 64) * 8 + 8 bytes per vector).
    """

    def __init__(self, dim: int, metric: str = "ip", ex_bits: int = 0, qb: int = 4,
                 rerank: int = 100, seed: int = 0, epsilon: float = 1.9,
                 threads: int | None = None, scan: str = "fastscan",
                 rescore: int | None = None) -> None:
        super().__init__(dim, metric, threads, rerank)
        self.quantizer = RaBitQuantizer(self.dim, "l2" if self.metric == "l2" else "ip",
                                        ex_bits, qb, seed, epsilon, self.threads)
        self.scan = scan
        self.rescore = rescore
        self._init_codes(self.quantizer.code_size)
        self._packed: np.ndarray | None = None

    @property
    def scan(self) -> str:
        """The code scan: "fastscan" or "popcount"."""
        return self._scan_kind

    @scan.setter
    def scan(self, value: str) -> None:
        self._scan_kind = check_choice(value, "scan", ("fastscan", "popcount"))

    @property
    def rescore(self) -> int | None:
        """Fast-scan first-stage candidates per query (None: the default)."""
        return self._rescore

    @rescore.setter
    def rescore(self, value: int | None) -> None:
        self._rescore = None if value is None else check_int(value, "rescore", 1, 1 << 20)

    ex_bits = property(lambda self: self.quantizer.ex_bits, doc="Extra bits per dimension.")
    qb = property(lambda self: self.quantizer.qb, doc="Bits of the quantized query.")
    seed = property(lambda self: self.quantizer.seed, doc="The rotation's seed.")
    epsilon = property(lambda self: self.quantizer.epsilon, doc="eps0 of the error bound.")

    @property
    def is_trained(self) -> bool:
        return self.quantizer.is_trained

    @trains
    def train(self, vectors: Any) -> RaBitQIndex:
        """Learn the centroid (the mean of the sample (n, dim)). Only on an empty index: when
        it holds vectors (encoded against the current centroid) this raises
        :class:`vecpress.IndexNotEmptyError` and changes nothing."""
        refuse_retraining(self)
        self.quantizer.train(self._training_sample(vectors))
        return self

    def bytes_per_vector(self) -> float:
        """Bytes stored per vector: the code (bits + factors) plus the float copy, if kept."""
        return float(self.code_bytes + self._store_bytes())

    @property
    def code_bytes(self) -> int:
        """Bytes of code per vector (sign bits and factors: what the scan reads)."""
        return self.quantizer.code_size

    @property
    def codes(self) -> np.ndarray:
        """Codes (n, code_bytes) uint8 (layout in :mod:`vecpress.quantizers.rabitq`)."""
        return self._codes.data

    def encode(self, vectors: Any) -> np.ndarray:
        """Codes (n, code_bytes) uint8 of float vectors (n, dim), as add() stores them."""
        return self.quantizer._encode(self.transform(vectors))

    def estimate(self, queries: Any, ids: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """RaBitQ's estimated scores (nq, n) float32 of every stored vector (storage order,
        see ``ids``) and their error bounds (nq, n): the exact score lies within
        +-bound with probability about ``bound_confidence(epsilon)`` or more. The estimate
        is the one the index's scan returns with rerank=0: the float query's for
        scan="fastscan", the qb-bit query's for scan="popcount"."""
        self._check_ready()
        q = check_magnitude(self._prepare(as_f32_matrix(queries, "queries", self.dim), CPU),
                            "queries")
        with self._lock.read():
            if self._scan_kind == "popcount":
                planes, qc = self.quantizer.query_codes(q)
                return _core.rabitq_scores(planes, self.qb, qc, self._codes.data, self.threads)
            codes = self._codes.data
            qp, qc = self.quantizer.float_query(q)
            est = _core.rabitq_fastscan_scores(qp, qc, codes, self._packed_codes(), True,
                                               self.threads)
            f_err = self.quantizer.factors(codes)[:, 3]
            bound = (np.abs(qc[:, 1:2]) * (qc[:, 5:6] * f_err[None, :])).astype(np.float32)
            return est, bound

    def _encode_rows(self, x):
        return self.quantizer._encode(x)

    def _append_rows(self, codes):
        self._append_codes(codes)

    def _codes_changed(self) -> None:
        self._packed = None

    def _scan(self, q, n_candidates: int, params: SearchParams):
        q = np.ascontiguousarray(q, dtype=np.float32)
        largest = self.metric != "l2"
        if self._scan_kind == "popcount":
            planes, qc = self.quantizer.query_codes(q)
            return _core.rabitq_search(planes, self.qb, qc, self._codes.data, largest,
                                       n_candidates, params.threads, params.allow)
        qp, qc = self.quantizer.float_query(q)
        rescore = self._rescore if self._rescore is not None else n_candidates
        return _core.rabitq_fastscan_search(qp, qc, self._codes.data, self._packed_codes(),
                                            largest, n_candidates, rescore, params.threads,
                                            params.allow)

    def _packed_codes(self) -> np.ndarray:
        """The fast-scan layout of the stored codes, built at the first search after a
        change (under the read lock: concurrent searches may both build it; either copy is
        the same)."""
        packed = self._packed
        if packed is None:
            packed = self._packed = self.quantizer.pack_fastscan(self._codes.data)
        return packed

    def _state(self):
        arrays = self._code_arrays()
        arrays["signs"] = self.quantizer.signs
        if self.quantizer.centroid is not None:
            arrays["centroid"] = self.quantizer.centroid
        return ({"ex_bits": self.ex_bits, "qb": self.qb, "rerank": self.rerank,
                 "seed": self.seed, "epsilon": self.epsilon, "threads": self.threads,
                 "scan": self.scan, "rescore": self.rescore}, arrays)

    @classmethod
    def _from_state(cls, params, arrays):
        obj = cls(params["dim"], params["metric"], params["ex_bits"], params["qb"],
                  params["rerank"], params["seed"], params["epsilon"], params.get("threads", 0),
                  params.get("scan", "fastscan"), params.get("rescore"))
        qz = obj.quantizer
        signs = file_array(arrays, "signs", np.float32, (ROUNDS, qz.D))
        if not np.array_equal(signs, random_signs(qz.seed, ROUNDS, qz.D)):
            raise FormatError("array 'signs' is not the rotation of the saved seed")
        if "centroid" in arrays:
            c = file_finite(file_array(arrays, "centroid", np.float32, (obj.dim,)), "centroid")
            qz.centroid = np.ascontiguousarray(c)
        obj._load_codes(arrays, "RaBitQ codes")
        f = qz.factors(obj._codes.data) if len(obj._codes) else np.zeros((0, 4), np.float32)
        file_finite(f, "codes (factors)")
        if f.size and not ((f[:, 1] >= 0).all() and (f[:, 3] >= 0).all()):
            raise FormatError("array 'codes' holds negative f_mul or f_err factors")
        return obj
