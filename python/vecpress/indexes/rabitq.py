"""RaBitQ index: 1 sign bit per rotated, centred dimension plus 4 factors per vector,
scanned with the 4-bit fast-scan kernel against the float query (default) or with
AND + popcount against a qb-bit query; extended codes (1 + ex_bits bits per dimension)
read only for the vectors the 1-bit bound cannot rule out; exact rescoring of the best
candidates (see :mod:`vecpress.quantizers.rabitq` for the estimators)."""
from __future__ import annotations

from dataclasses import replace
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
from ..errors import FormatError, ParameterError
from ..quantizers.rabitq import ROUNDS, RaBitQuantizer, random_signs
from .base import SearchParams, register, trains
from .coded import CodedIndex, refuse_retraining

_BOUND = -1  # SearchParams.rerank of search(..., rerank="bound")


@register
class RaBitQIndex(CodedIndex):
    """RaBitQ codes (Gao & Long 2024) of every vector, centred on the training mean, with
    exact float rescoring of the best candidates.

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine"
    ex_bits : extra bits per dimension (extended RaBitQ, 0..8; default 0): each vector
        also stores a (1 + ex_bits)-bit code per dimension. The search scans the 1-bit
        codes with the fast-scan kernel and computes the extended estimate (float query)
        only for the vectors whose 1-bit estimate, widened by its error bound (``epsilon``),
        could still beat the current n-th best extended estimate (n = rerank or k); the
        count per query of the last search is :attr:`last_ex_counts`. Needs
        scan="fastscan"; ``rescore`` does not apply.
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
        ``search(..., rerank="bound")`` (extended codes with a float copy): rerank exactly
        the candidates whose bound interval [estimate - bound, estimate + bound] overlaps
        the k-th best lower (for "l2": upper) bound, i.e. every candidate the extended
        estimate cannot rule out; the count per query of the last such search is
        :attr:`last_reranked`.
    seed : the rotation's (and the query rounding's) seed
    epsilon : eps0 of the estimator's error bound (:meth:`estimate`)
    threads : int, optional (0/None = all cores)

    Scores: with rerank > 0, exact metric scores; with rerank=0, RaBitQ's unbiased
    estimates of the inner product ("ip", "cosine") or squared distance ("l2"): from the
    float query (fastscan, and the extended codes) or the qb-bit query (popcount).
    Bytes per vector: ceil(dim / 64) * 8 of sign bits + 16 of factors, + ex_bits *
    ceil(dim / 64) * 8 + 8 with extended codes (+ 4 * dim for the float copy when
    rerank > 0); the fast-scan scan also builds, at its first search
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
        self._packed: tuple[np.ndarray, float] | None = None
        self.last_ex_counts: np.ndarray | None = None
        self.last_reranked: np.ndarray | None = None

    @property
    def scan(self) -> str:
        """The code scan: "fastscan" or "popcount"."""
        return self._scan_kind

    @scan.setter
    def scan(self, value: str) -> None:
        value = check_choice(value, "scan", ("fastscan", "popcount"))
        if value == "popcount" and self.quantizer.ex_bits:
            raise ParameterError("scan='popcount' reads 1-bit codes only: extended codes "
                                 "(ex_bits > 0) need scan='fastscan'")
        self._scan_kind = value

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
            if self.ex_bits:
                qp, qc = self.quantizer.float_query(q)
                return _core.rabitq_ex_scores(qp, qc, self._codes.data, self.ex_bits,
                                              self.threads)
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

    def _search_params(self, rerank: Any = None, threads: Any = None, **kw: Any):
        if isinstance(rerank, str):
            if rerank != "bound":
                raise ParameterError(f"rerank must be a count or 'bound', got {rerank!r}")
            if not self.ex_bits:
                raise ParameterError("rerank='bound' needs extended codes (ex_bits > 0)")
            if self._store is None:
                raise ParameterError("rerank='bound' needs the float vectors: build the index "
                                     "with rerank > 0")
            return replace(super()._search_params(0, threads, **kw), rerank=_BOUND)
        return super()._search_params(rerank, threads, **kw)

    def _rerank_depth(self, params: SearchParams) -> int:
        return 0 if params.rerank == _BOUND else params.rerank

    def _codes_changed(self) -> None:
        self._packed = None

    @property
    def _gpu_kernels(self) -> tuple[str, ...]:
        """The backend kernels a GPU search needs: the popcount scan of 1-bit codes (and the
        exact rerank when the index keeps float vectors); () for the fast-scan and extended
        scans, which run on the CPU only."""
        if self._scan_kind != "popcount" or self.ex_bits:
            return ()
        return ("rabitq_search",) + (("rerank_exact",) if self._store is not None else ())

    def to_gpu(self) -> RaBitQIndex:
        """Search on the CUDA device from now on (see :meth:`Index.to_gpu`). Only the
        popcount scan of 1-bit codes runs there (``scan="popcount"``, ``ex_bits=0``), and
        only without float vectors to rerank (``rerank=0``) until the CUDA backend has an
        exact rerank."""
        try:
            return super().to_gpu()
        except NotImplementedError:
            if self._scan_kind != "popcount" or self.ex_bits:
                raise NotImplementedError(
                    "RaBitQIndex searches on the GPU with scan='popcount' and 1-bit codes "
                    f"(ex_bits=0) only; this index has scan={self._scan_kind!r}, "
                    f"ex_bits={self.ex_bits}") from None
            raise NotImplementedError(
                "RaBitQIndex on the GPU scans without rerank: the CUDA backend has no exact "
                "rerank yet (build the index with rerank=0)") from None

    def _scan_device(self, be, q, n_candidates: int, params: SearchParams):
        """The popcount scan on a resident (GPU) backend: the query's bit planes and
        constants are built on the host (as for the CPU scan), the codes stay on the
        device. CuPy queries give CuPy results."""
        if self._scan_kind != "popcount" or self.ex_bits:
            raise ParameterError("on the GPU RaBitQIndex scans with scan='popcount' (1-bit "
                                 "codes) only: set index.scan = 'popcount' or call "
                                 "index.to_cpu()")
        xp = be.array_module(q)
        qh = np.ascontiguousarray(q if xp is np else xp.asnumpy(q), dtype=np.float32)
        planes, qc = self.quantizer.query_codes(qh)
        if xp is not np:
            planes, qc = xp.asarray(planes), xp.asarray(qc)
        codes = self._arrays_on(be)["codes"]
        return be.rabitq_search(planes, self.qb, qc, codes, self.metric != "l2", n_candidates,
                                params.threads, params.allow)

    def _scan(self, q, n_candidates: int, params: SearchParams):
        if self._backend.resident:
            return self._scan_device(self._backend, q, n_candidates, params)
        q = np.ascontiguousarray(q, dtype=np.float32)
        largest = self.metric != "l2"
        if self._scan_kind == "popcount":
            planes, qc = self.quantizer.query_codes(q)
            return _core.rabitq_search(planes, self.qb, qc, self._codes.data, largest,
                                       n_candidates, params.threads, params.allow)
        qp, qc = self.quantizer.float_query(q)
        if self.ex_bits:
            packed, err_ratio = self._packed_state()
            if params.rerank == _BOUND:
                return self._bound_rerank(q, qp, qc, largest, n_candidates, params)
            vals, rows, counts = _core.rabitq_ex_search(
                qp, qc, self._codes.data, packed, self.ex_bits, err_ratio, largest,
                n_candidates, params.threads, params.allow)
            self.last_ex_counts = counts
            return vals, rows
        rescore = self._rescore if self._rescore is not None else n_candidates
        return _core.rabitq_fastscan_search(qp, qc, self._codes.data, self._packed_codes(),
                                            largest, n_candidates, rescore, params.threads,
                                            params.allow)

    def _bound_rerank(self, q, qp, qc, largest: bool, k: int, params: SearchParams):
        """Exact top k among the candidates whose extended-estimate interval overlaps the
        k-th best pessimistic score. Candidates come from the extended search's best c by
        estimate; c grows (x4) for a query until no vector outside them can overlap: the
        c-th estimate widened by the largest bound stays short of the k-th pessimistic
        score (or the list is exhausted)."""
        packed, err_ratio = self._packed_state()
        f_err_ex = self.quantizer.ex_factors(self._codes.data)[:, 1]
        b_max = float(f_err_ex.max()) if len(f_err_ex) else 0.0
        scale = (np.abs(qc[:, 1]) * qc[:, 5]).astype(np.float64)
        nq, n = q.shape[0], len(self._codes)
        out_s = np.empty((nq, k), np.float32)
        out_r = np.full((nq, k), -1, np.int64)
        reranked = np.zeros(nq, np.int64)
        ex_counts = np.zeros(nq, np.int64)
        todo, c = np.arange(nq), min(max(4 * k, 32), n)
        sgn = 1.0 if largest else -1.0
        while todo.size:
            v, r, cnt = _core.rabitq_ex_search(qp[todo], qc[todo], self._codes.data, packed,
                                               self.ex_bits, err_ratio, largest, c,
                                               params.threads, params.allow)
            ex_counts[todo] = cnt
            live = r >= 0
            b = scale[todo, None] * np.where(live, f_err_ex[np.maximum(r, 0)], 0.0)
            # in "larger is better" units: pessimistic sgn v - b, optimistic sgn v + b
            lo = np.where(live, sgn * v - b, -np.inf)
            hi = np.where(live, sgn * v + b, -np.inf)
            kth = -np.sort(-lo, axis=1)[:, min(k, c) - 1]
            keep = live & (hi >= kth[:, None])
            last = np.where(live[:, -1], sgn * v[:, -1], -np.inf)
            done = (c >= n) | ~live[:, -1] | (last + scale[todo] * b_max < kth)
            if done.any():
                sel = todo[done]
                cand = np.where(keep[done], r[done], -1)
                s, rr = self._store.rerank(CPU, q[sel], cand, k, self._kernel_metric,
                                           params.threads)
                out_s[sel], out_r[sel] = s, rr
                reranked[sel] = keep[done].sum(axis=1)
            todo, c = todo[~done], min(4 * c, n)
        self.last_reranked = reranked
        self.last_ex_counts = ex_counts
        return out_s, out_r

    def _packed_codes(self) -> np.ndarray:
        """The fast-scan layout of the stored codes, built at the first search after a
        change (under the read lock: concurrent searches may both build it; either copy is
        the same)."""
        return self._packed_state()[0]

    def _packed_state(self) -> tuple[np.ndarray, float]:
        """The fast-scan layout and the largest f_err / f_mul over the stored codes (the
        extended search bounds each vector's 1-bit error by f_mul times that ratio)."""
        state = self._packed
        if state is None:
            codes = self._codes.data
            f = self.quantizer.factors(codes).astype(np.float64)
            live = f[:, 1] > 0
            ratio = float((f[live, 3] / f[live, 1]).max()) * (1 + 1e-6) if live.any() else 0.0
            state = (self.quantizer.pack_fastscan(codes), ratio)
            self._packed = state
        return state

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
        if qz.ex_bits and len(obj._codes):
            fx = file_finite(qz.ex_factors(obj._codes.data), "codes (extended factors)")
            if not ((fx[:, 0] >= 0).all() and (fx[:, 1] >= 0).all()):
                raise FormatError("array 'codes' holds negative f_ex or f_err_ex factors")
        return obj
