"""Inverted-file index over any quantizer: coarse k-means lists, codes of the residuals
to the list centroid, a scan of the probed lists only, and an optional rerank store."""
from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from .. import _core
from .._arrays import GrowableArray
from .._progress import Progress
from .._validate import check_choice, check_count, check_float, check_int, file_array, file_finite
from ..errors import FormatError, ParameterError
from ..quantizers.base import Quantizer
from ..quantizers.binary import BinaryQuantizer
from ..quantizers.nibbles import pack_nibbles, pair_tables, unpack_nibbles
from ..quantizers.pq import ProductQuantizer
from ..quantizers.rabitq import RaBitQuantizer
from ..quantizers.rotations import PCARotation
from ..quantizers.rq import ResidualQuantizer
from ..quantizers.state import quantizer_from_state, quantizer_state
from ..stores import STORES
from .base import SearchParams, register, trains
from .coarse import (
    BALANCE_CANDIDATES,
    COARSE_KINDS,
    FlatCoarse,
    TwoLevelCoarse,
    balanced_centroids,
    coarse_for,
    penalized_choice,
)
from .coded import CodedIndex, fastscan_rescore, refuse_retraining

_ADD_CHUNK = 65_536  # rows encoded per step of add() (progress bar, bounded temporaries)
# Rows added since the scan layout was grouped are scanned as a second, small layout until
# they number more than max(_DELTA_MIN, n / _DELTA_FRACTION); then everything is regrouped.
_DELTA_MIN, _DELTA_FRACTION = 4096, 16
# soar: the second list is chosen among a row's nearest centroids, in chunks of rows
_SPILL_CANDIDATES, _SPILL_CHUNK = 16, 2048
# soar: candidates kept per candidate wanted (repeats included)
_SOAR_CANDIDATES = 2.0


def default_nlist(n_train: int) -> int:
    """4 * sqrt(n) lists, with at least 39 training vectors per list (k-means' floor)."""
    return int(max(1, min(4 * math.sqrt(n_train), n_train // 39)))


@register
class IVFIndex(CodedIndex):
    """Inverted file: vectors are assigned to the nearest of ``nlist`` k-means centroids and
    stored as codes of any quantizer; a search scans only the ``nprobe`` lists whose
    centroids score best against the query, then optionally reranks exactly.

    Parameters
    ----------
    dim : int
    nlist : number of lists, or None to choose 4 * sqrt(n) from the training size.
    quantizer : any codec of the quantizer protocol (untrained), e.g.
        ``ProductQuantizer(dim, 48, 8)``, ``ProductQuantizer(dim, 96, 4)``,
        ``ResidualQuantizer(dim, 16)``, ``BinaryQuantizer(dim)``, ``RaBitQuantizer(dim)``
        (1-bit RaBitQ codes of each vector's offset from its list centroid, scanned in
        fast-scan blocks with their per-vector corrections; ex_bits must be 0). Default:
        PQ with dim / 8 sub-quantizers of 8 bits.
    metric : "ip" | "l2" | "cosine"
    by_residual : encode x - centroid instead of x. Default: True for residual
        quantizers and RaBitQ (which requires it) only. Measured on wordnet-minilm
        (IVF256, every list probed, rerank 100): PQ96x4 0.992 direct vs 0.980 on
        residuals (IP; L2 0.991 vs 0.976), PQ48x8
        0.993 vs 0.987, RQ16x8 0.924 vs 0.934. PQ's per-subspace codebooks fit the data
        better than the residuals' mixture of every list's offsets; binary sign bits
        carry no scale to add to the centroid's score.
    nprobe : lists scanned per query (default: nlist / 16, at least 1); per call too.
    rescore : 4-bit PQ with "ip"/"cosine" scans the lists with fast-scan (7-bit quantized
        tables, 32 codes per shuffle); this many candidates per query are rescored with the
        float tables. Default: none (0) when ``rerank`` follows, whose exact scores make
        the float tables' pass redundant (measured: same recall, 2x the QPS on
        wordnet-minilm), else 2 * the candidates wanted.
    rerank : candidates rescored exactly from the store (0 = return code scores).
    soar : spilled assignment (SOAR, Sun et al. 2023), 0 = off. Each vector is also
        stored in a second list, the one minimising ||x - c'||^2 + soar * <r, x - c'>^2 /
        ||r||^2 for its residual r to its own list's centroid c: a list whose residual is
        nearly orthogonal to r, so a query that misses the first list tends to find the
        vector in the second. Fewer lists reach the same recall: measured on the 1M
        scale set (IVF4096, top-10 in the probed lists 0.96), 78k vectors scanned per
        query against 108k without, and 161 lists probed against 441; it pays at a
        million vectors (benchmarks/results/scale-1m-soar), not at 117k (wordnet-minilm:
        slower at equal recall, since a row found twice doubles the candidates the scan
        keeps). Costs a second copy of the codes in the scan's layout; codecs that encode
        x itself only (``by_residual=False``: PQ, binary). 1.0 is the paper's setting.
    store : "float32", "float16" or "int8": how the vectors for reranking are kept
        (only with rerank > 0). ``vecpress.load(path, mmap=True)`` leaves it on disk.
    coarse : "auto" | "flat" | "two-level": how the centroids are trained and a vector
        finds its list. "flat": k-means and an exact nearest centroid; "two-level":
        hierarchical k-means (about sqrt(nlist) groups, then lists inside each group) and
        the nearest centroid among its 4 nearest groups' centroids, which makes training
        and adding at nlist = 65,536 affordable (1M vectors: 8 s and 153 s). Queries score
        every centroid either way (one GEMM; approximate probing was measured and lost,
        see vecpress.indexes.coarse). "auto": two-level from nlist 16,384 on.
    balanced : lists of about equal size. After k-means, a vector picks among its 8
        nearest centroids the one with the least squared distance plus that list's
        penalty, penalties learned on the training sample so each list holds about
        n / nlist of it (the centroids then move to their rows' means). Even lists bound
        the cost of probing a dense region (latency tails) and balance shards; a vector
        outside its nearest list is found less often. Measured on wordnet-minilm (IVF256,
        benchmarks/results/wordnet-minilm-ivf-r7): sum of squared list sizes 1.10x its
        floor -> 1.01x; recall at nprobe 102 unchanged (0.955); QPS within run noise.
    prefix : the Matryoshka funnel. Vectors and queries are rotated onto their principal
        axes (PCA, learned in train); the lists, centroids and codes use the first
        ``prefix`` rotated dimensions only, and the rerank store holds the whole rotated
        vectors, so candidates are rescored at full dimension (the rotation keeps inner
        products and distances). The quantizer's dim must be ``prefix``. Default: none
        (every dimension, no rotation).
    niter, seed : coarse k-means settings.
    threads : int, optional (0/None = all cores).

    Scores: IP (and cosine) codes score <q, c> + <q, r> for the residual r; L2 codes score
    ||q - c||^2 - 2 <q, r> + (||r||^2 + 2 <c, r>), the last term stored per vector.
    """

    def __init__(self, dim: int, nlist: int | None = None, quantizer: Quantizer | None = None,
                 metric: str = "ip", *, by_residual: bool | None = None,
                 nprobe: int | None = None, rerank: int = 0, rescore: int | None = None,
                 store: str = "float32", soar: float = 0.0, coarse: str = "auto",
                 balanced: bool = False, prefix: int | None = None,
                 niter: int = 10, seed: int = 1234, threads: int | None = None) -> None:
        super().__init__(dim, metric, threads, rerank)
        self.nlist = None if nlist is None else check_int(nlist, "nlist", 1, 1 << 22)
        self.prefix = None if prefix is None else check_int(prefix, "prefix", 1, self.dim)
        self._code_dim = self.prefix or self.dim  # what lists, centroids and codes see
        if self.prefix is not None:
            self._rotation = PCARotation()
        if quantizer is None:
            d = self._code_dim
            m = next(m for m in (d // 8, 8, 4, 2, 1) if m and d % m == 0)
            quantizer = ProductQuantizer(d, m, 8, threads=self.threads)
        if not isinstance(quantizer, Quantizer):
            raise ParameterError("quantizer must be a vecpress quantizer (ProductQuantizer, "
                                 f"ResidualQuantizer, BinaryQuantizer, ...), got {quantizer!r}")
        if quantizer.dim != self._code_dim:
            what = f"prefix {self.prefix}" if self.prefix else f"dim {self.dim}"
            raise ParameterError(f"the quantizer has dim {quantizer.dim}; it codes the index's "
                                 f"{what}")
        self.quantizer = quantizer
        self._rabitq = isinstance(quantizer, RaBitQuantizer)
        if self._rabitq and quantizer.ex_bits:
            raise ParameterError("IVFIndex scans 1-bit RaBitQ codes: use "
                                 "RaBitQuantizer(dim, ex_bits=0) (extended codes run in "
                                 "RaBitQIndex)")
        if by_residual is None:
            by_residual = isinstance(quantizer, (ResidualQuantizer, RaBitQuantizer))
        if self._rabitq and not by_residual:
            raise ParameterError("RaBitQ codes in an inverted file are centred on their list's "
                                 "centroid: by_residual must be True")
        self.by_residual = bool(by_residual)
        self.soar = check_float(soar, "soar", 0.0, 1e3)
        if self.soar and self.by_residual:
            raise ParameterError("soar stores each vector in a second list with the same "
                                 "code, so the codes must not depend on the list: use "
                                 "by_residual=False (PQ, binary) or soar=0")
        self.nprobe = None if nprobe is None else check_int(nprobe, "nprobe", 1)
        self.rescore = None if rescore is None else check_int(rescore, "rescore", 0, 1 << 20)
        self.store = check_choice(store, "store", tuple(STORES))
        self.coarse = check_choice(coarse, "coarse", COARSE_KINDS)
        self._coarse: FlatCoarse | TwoLevelCoarse | None = None  # made by train()
        self.balanced = bool(balanced)
        self._penalty: np.ndarray | None = None  # (nlist,) float32 when balanced
        self.niter = check_int(niter, "niter", 1, 1000)
        self.seed = check_int(seed, "seed", 0, 2**63 - 1)
        if self.rerank:
            self._store = STORES[self.store](self.dim)
        self.centroids: np.ndarray | None = None
        self._paired = quantizer.ksub == 16  # two 4-bit codes per byte, paired tables
        # 4-bit PQ on IP scores: lists in fast-scan blocks (L2's per-row term does not fit
        # the quantized sums, so L2 keeps the byte-table scan)
        self._fastscan = (isinstance(quantizer, ProductQuantizer) and quantizer.nbits == 4
                          and self.metric != "l2")
        self._init_codes((quantizer.code_size + 1) // 2 if self._paired else quantizer.code_size)
        self._lists = GrowableArray((), np.int32)
        self._spill = GrowableArray((), np.int32)  # soar's second list per row
        self._row_term = GrowableArray((), np.float32)  # L2 only
        # The scan's layout (see _grouped) covers rows [0, _built); rows added since are
        # scanned from a small second layout until they pass _DELTA_LIMIT, and removals remap
        # the layout's rows, so a write does not make the next search regroup everything.
        self._layout: tuple | None = None
        self._built = 0
        self._delta: tuple | None = None  # (first row, last row + 1, layout)
        self._build_lock = threading.Lock()  # one search regroups; the others wait for it

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        del state["_build_lock"]  # locks do not pickle
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._build_lock = threading.Lock()

    # ---- training -------------------------------------------------------------
    def _trained_lists(self) -> bool:
        return self.centroids is not None and self.quantizer.is_trained and (
            self.store != "int8" or self._store is None or self._store.lo is not None)

    @trains
    def train(self, vectors: Any) -> IVFIndex:
        """Learn the coarse centroids on sample vectors (n, dim), then the quantizer on the
        (residual) vectors and, for an int8 store, its per-dimension range. Only on an empty
        index: when it holds vectors this raises :class:`vecpress.IndexNotEmptyError`."""
        refuse_retraining(self)
        x = self._training_sample(vectors)
        if self.prefix is not None:  # rotated as the stored vectors and queries will be
            x = self._rotation.fit(x).apply(x)
        full, x = x, self._coded(x)
        nlist = self.nlist or default_nlist(x.shape[0])
        if x.shape[0] < nlist:
            raise ParameterError(f"training needs at least nlist = {nlist} vectors, got "
                                 f"{x.shape[0]}")
        self._coarse = coarse_for(self.coarse, nlist)
        self.centroids = self._coarse.train(x, nlist, self.niter, self.seed, self.threads)
        if self.balanced:
            self.centroids, self._penalty = balanced_centroids(self._coarse, self.centroids, x,
                                                          self.threads)
        self.nlist = nlist
        lists = self._assign(x)
        if self._rabitq:  # the lists centre the codes: the quantizer's own centroid is 0
            self.quantizer.set_centroid(np.zeros(self._code_dim, np.float32))
        else:
            self.quantizer.train(self._residuals(x, lists))
        if self._store is not None and self.store == "int8":
            self._store.train(full)
        return self

    @property
    def is_trained(self) -> bool:
        return self._trained_lists() and (self._rotation is None or self._rotation.matrix
                                          is not None)

    def _coded(self, x: np.ndarray) -> np.ndarray:
        """The dimensions of prepared rows x (n, dim) the lists and codes use: the first
        ``prefix`` rotated ones with the funnel, else x itself."""
        return x if self.prefix is None else np.ascontiguousarray(x[:, :self.prefix])

    # ---- adding ---------------------------------------------------------------
    def _encode_rows(self, x: np.ndarray) -> tuple:
        # Encoded in chunks (bounded temporaries, a progress bar on large adds) and appended
        # only once every chunk is encoded, so a failure leaves the index as it was.
        bar = Progress(math.ceil(x.shape[0] / _ADD_CHUNK), None, "IVF add", "chunk")
        parts = []
        try:
            for s in range(0, x.shape[0], _ADD_CHUNK):
                parts.append(self._encode_chunk(x[s:s + _ADD_CHUNK]))
                bar()
        finally:
            bar.close()
        return tuple(np.concatenate(p) for p in zip(*parts))

    def _append_rows(self, encoded: tuple) -> None:
        codes, lists, spill, terms = encoded
        self._append_codes(codes)
        self._lists.append(lists)
        if self.soar:
            self._spill.append(spill)
        if self.metric == "l2":
            self._row_term.append(terms)

    def _encode_chunk(self, x: np.ndarray) -> tuple:
        """(codes in the stored byte layout, list numbers int32, soar's second lists int32,
        L2 term float32) of rows x (prepared: rotated with the funnel)."""
        x = self._coded(x)
        lists = self._assign(x)
        spill = self._spill_lists(x, lists) if self.soar else np.zeros(0, np.int32)
        r = self._residuals(x, lists)
        codes = self.quantizer.encode(r)
        term = np.zeros(len(x), np.float32)
        if self._rabitq and self.metric == "l2":
            # RaBitQ estimates only <r, q>: |q - x|^2 = |q - c|^2 + (|r|^2 + 2 <r, c>) - 2 <r, q>
            term = np.einsum("ij,ij->i", r, r) + 2.0 * np.einsum("ij,ij->i", r,
                                                                 self.centroids[lists])
        elif self.metric == "l2":
            rec = self.quantizer.decode(codes)
            term = np.einsum("ij,ij->i", rec, rec)
            if self.by_residual:
                term += 2.0 * np.einsum("ij,ij->i", rec, self.centroids[lists])
        return (pack_nibbles(codes) if self._paired else codes, lists.astype(np.int32), spill,
                term.astype(np.float32))

    def _spill_lists(self, x: np.ndarray, lists: np.ndarray) -> np.ndarray:
        """soar's second list (int32) of each row of x, among its _SPILL_CANDIDATES
        nearest centroids other than its own: argmin ||x - c'||^2 + soar <r, x - c'>^2 /
        ||r||^2, r = x - c_own. One list only when nlist is 1."""
        t = min(_SPILL_CANDIDATES, self.nlist)
        if t < 2:
            return np.full(len(x), -1, np.int32)
        out = np.empty(len(x), np.int32)
        for s in range(0, len(x), _SPILL_CHUNK):
            xs = x[s:s + _SPILL_CHUNK]
            d2, near = self._coarse.nearest(self.centroids, xs, t, self.threads)
            r = xs - self.centroids[lists[s:s + _SPILL_CHUNK]]
            rr = np.maximum(np.einsum("ij,ij->i", r, r), 1e-30)
            # <r, x - c'> = <r, x> - <r, c'>
            rc = np.einsum("id,itd->it", r, self.centroids[near])
            proj = np.einsum("ij,ij->i", r, xs)[:, None] - rc
            loss = d2 + self.soar * proj * proj / rr[:, None]
            loss[near == lists[s:s + _SPILL_CHUNK, None]] = np.inf  # not its own list
            out[s:s + _SPILL_CHUNK] = near[np.arange(len(xs)), np.argmin(loss, axis=1)]
        return out

    def _assign(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The list (int64 (n,)) each row of x (n, dim) float32 joins: its nearest centroid
        (among the nearest groups' centroids with a two-level coarse quantizer)."""
        t = self.threads if threads is None else threads
        if self._penalty is None:
            return self._coarse.nearest(self.centroids, x, 1, t)[1][:, 0]
        d, near = self._coarse.nearest(self.centroids, x, BALANCE_CANDIDATES, t)
        return penalized_choice(d, near, self._penalty)

    def _residuals(self, x: np.ndarray, lists: np.ndarray) -> np.ndarray:
        if not self.by_residual:
            return x
        return np.ascontiguousarray(x - self.centroids[lists], dtype=np.float32)

    def _codes_changed(self) -> None:
        self._delta = None  # appended rows: the delta layout is regrouped on the next search

    def _keep_rows(self, keep: np.ndarray) -> None:
        super()._keep_rows(keep)
        self._lists.keep(keep)
        if self.soar:
            self._spill.keep(keep)
        if self.metric == "l2":
            self._row_term.keep(keep)
        if self._layout is not None:
            # rows shift down past each removed one; the removed become -1 (skipped) slots
            remap = np.cumsum(keep, dtype=np.int64) - 1
            remap[~keep] = -1
            codes, rows, offsets, term = self._layout
            rows = np.where(rows >= 0, remap[np.maximum(rows, 0)], -1)
            self._layout = (codes, rows, offsets, term)
            self._built = int(keep[:self._built].sum())

    # ---- search -----------------------------------------------------------------
    def search(self, queries: Any, k: int, *, rerank: int | None = None,
               nprobe: int | None = None, threads: int | None = None,
               filter: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`vecpress.Index.search`; ``nprobe`` lists are scanned per query. With a
        filter, each query keeps probing lists (in centroid order, past nprobe) until the
        lists it scanned hold as many passing vectors as nprobe lists would on average."""
        return self._search(queries, k, self._search_params(rerank=rerank, threads=threads,
                                                            nprobe=nprobe), filter)

    def _search_params(self, rerank=None, threads=None, nprobe=None, **_):
        p = super()._search_params(rerank=rerank, threads=threads)
        default = self.nprobe or max(1, (self.nlist or 16) // 16)
        n = default if nprobe is None else check_count(nprobe, "nprobe", 1)
        return SearchParams(rerank=p.rerank, threads=p.threads, nprobe=min(n, self.nlist))

    def _layouts(self) -> list[tuple]:
        """The layouts a search scans: the main one and, when rows were added since it was
        built, one over those rows (regrouped into the main one once they are many)."""
        n = len(self._codes)
        with self._build_lock:
            if self._layout is None or n - self._built > max(_DELTA_MIN, n // _DELTA_FRACTION):
                self._layout, self._built, self._delta = self._grouped(np.arange(n)), n, None
            if self._built == n:
                return [self._layout]
            if self._delta is None or self._delta[:2] != (self._built, n):
                self._delta = (self._built, n, self._grouped(np.arange(self._built, n)))
            return [self._layout, self._delta[2]]

    def _grouped(self, subset: np.ndarray) -> tuple:
        """The scan's layout of rows ``subset`` (int64, increasing): codes grouped by list as
        (codes, rows, offsets, term), or for fast-scan (packed, rows, block_offsets, None)
        with each list padded to whole 32-vector blocks (rows -1 there)."""
        lists = self._lists.data[subset]
        if self.soar:  # each row in its own list and in its second one
            spill = self._spill.data[subset]
            subset = np.concatenate([subset, subset[spill >= 0]])
            lists = np.concatenate([lists, spill[spill >= 0]])
        rows = subset[np.argsort(lists, kind="stable")].astype(np.int64)
        sizes = np.bincount(lists, minlength=self.nlist)
        if self._fastscan or self._rabitq:
            blocks = (sizes + 31) // 32
            boff = np.zeros(self.nlist + 1, np.int64)
            np.cumsum(blocks, out=boff[1:])
            # position of each grouped row inside its list's padded run
            start = np.repeat(boff[:-1] * 32 - np.concatenate([[0], np.cumsum(sizes)[:-1]]),
                              sizes)
            pos = np.arange(len(rows)) + start
            prow = np.full(int(boff[-1]) * 32, -1, np.int64)
            prow[pos] = rows
            if self._rabitq:
                return (self._rabitq_blocks(rows, pos, len(prow)), prow, boff, None)
            codes = np.zeros((len(prow), self.quantizer.M), np.uint8)
            codes[pos] = unpack_nibbles(self._codes.data[rows], self.quantizer.code_size)
            return (_core.pq4_pack(codes), prow, boff, None)
        offsets = np.zeros(self.nlist + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        term = self._row_term.data[rows] if self.metric == "l2" else None
        return (np.ascontiguousarray(self._codes.data[rows]), rows, offsets, term)

    def _rabitq_blocks(self, rows: np.ndarray, pos: np.ndarray, padded: int) -> np.ndarray:
        """RaBitQ fast-scan blocks of rows at padded positions pos: each row's f_add slot
        holds the scan's per-vector term (0 for IP; |r|^2 + 2 <r, c> for L2, see
        ivf_rabitq_search), padding rows are zero."""
        codes = np.zeros((padded, self.quantizer.code_size), np.uint8)
        codes[pos] = self._codes.data[rows]
        term = self._row_term.data[rows] if self.metric == "l2" else 0.0
        f_add = self.quantizer.D // 8
        codes[pos, f_add:f_add + 4] = np.asarray(
            np.broadcast_to(term, len(rows)), np.float32).view(np.uint8).reshape(-1, 4)
        return _core.rabitq_fastscan_pack(codes, 0)

    @property
    def codes(self) -> np.ndarray:
        """Codes (n, code_size) uint8 in row order, one sub-code per byte."""
        c = self._codes.data
        return unpack_nibbles(c, self.quantizer.code_size) if self._paired else c

    def _byte_tables(self, q: np.ndarray) -> np.ndarray:
        """IP tables (nq, code bytes, 256) of the codes' byte layout."""
        qz = self.quantizer
        if isinstance(qz, ProductQuantizer):
            t = qz._tables(q, "ip")
        elif isinstance(qz, BinaryQuantizer):
            t = qz.compute_tables(q, "ip")
        else:  # residual quantizers: tables padded to 256 entries unless paired
            t = qz._tables(q, 1.0, 16 if self._paired else 256)
        return pair_tables(t) if self._paired else t

    def _scan(self, q, n_candidates: int, params: SearchParams):
        be, t = self._backend, params.threads
        q = self._coded(q)  # the rerank that follows scores the whole query
        l2 = self.metric == "l2"
        coarse_metric = _core.METRICS["l2" if l2 else "ip"]
        if params.filter is None:
            cs, probes = self._coarse.probes(be, self.centroids, q, coarse_metric,
                                             params.nprobe, t)
        else:
            cs, probes = self._filtered_probes(q, coarse_metric, params, n_candidates)
        tables, bias, largest = self._scan_tables(q, cs, l2)
        wanted = n_candidates
        if self.soar:  # a row found in both its lists comes back twice: room for repeats
            n_candidates = math.ceil(_SOAR_CANDIDATES * wanted)
        rescore = fastscan_rescore(self.rescore, params, n_candidates)
        parts = []
        if self._rabitq:  # one rotated query for every list: the codes carry the centring
            qrot = self.quantizer.rotate(q)
            for packed, rows, boff, _ in self._layouts():
                parts.append(be.ivf_rabitq_search(qrot, -2.0 if l2 else 1.0, packed, rows, boff,
                                                  len(self._codes), probes, bias, largest,
                                                  n_candidates, t, allow=params.allow))
        else:
            for codes, rows, offsets, term in self._layouts():
                if self._fastscan:
                    parts.append(be.ivf_fastscan_search(tables, codes, rows, offsets,
                                                        self._codes.data, probes, bias, True,
                                                        n_candidates, rescore, t,
                                                        allow=params.allow))
                else:
                    parts.append(be.ivf_adc_search_u8(tables, codes, rows, offsets,
                                                      len(self._codes), probes, bias, term,
                                                      largest, n_candidates, t,
                                                      allow=params.allow))
        if len(parts) == 1 and not self.soar:
            return parts[0]
        scores = np.concatenate([p[0] for p in parts], axis=1)
        rows = np.concatenate([p[1] for p in parts], axis=1)
        if self.soar:
            scores, rows = _drop_repeats(scores, rows, largest)
        order = np.argsort(-scores if largest else scores, axis=1, kind="stable")[:, :wanted]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)

    def _scan_tables(self, q, cs, l2: bool):
        """(tables, per-probe bias or None, largest) for the scan kernels."""
        if self._rabitq:  # the kernel builds its tables from the rotated query
            return None, np.ascontiguousarray(cs, dtype=np.float32), not l2
        if self._fastscan:
            bias = np.ascontiguousarray(cs) if self.by_residual else None
            return self.quantizer._tables(q, "ip"), bias, True
        tables = self._byte_tables(q)
        if l2:
            tables = tables * np.float32(-2.0)
            bias = cs if self.by_residual else np.broadcast_to(
                np.einsum("ij,ij->i", q, q)[:, None], cs.shape).astype(np.float32)
        else:
            bias = cs if self.by_residual else None
        bias = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32)
        return tables, bias, not l2

    def _filtered_probes(self, q, coarse_metric: int, params: SearchParams, wanted: int):
        """Probes (nq, p) int64 (-1 = none) and centroid scores for a filtered search: the
        lists holding passing rows, best centroid first, each query taking at least nprobe
        of them and more until they hold as many passing rows as nprobe lists do on average,
        and at least ``wanted`` (the candidates the search keeps) or all of them: a filter
        that few rows near the query pass does not starve it of candidates, and k results
        come back whenever k rows pass."""
        f = params.filter
        per_list = np.bincount(self._lists.data[f.rows], minlength=self.nlist)
        if self.soar:
            spill = self._spill.data[f.rows]
            per_list += np.bincount(spill[spill >= 0], minlength=self.nlist)
        live = per_list > 0
        n_live = int(live.sum())
        # every live list ranked: one GEMM and a sort (a top-n_live heap costs more). CPU
        # only: Index.search refuses a filter on a GPU backend.
        scores = _core.pairwise_scores(self.centroids, q, q.shape[1], coarse_metric,
                                       params.threads)
        larger = coarse_metric == _core.METRICS["ip"]
        scores[:, ~live] = -np.inf if larger else np.inf
        probes = np.argsort(-scores if larger else scores, axis=1, kind="stable")[:, :n_live]
        cs = np.take_along_axis(scores, probes, 1)
        want = max(1.0, f.count * params.nprobe / self.nlist, min(wanted, f.count))
        covered = np.cumsum(per_list[np.maximum(probes, 0)] * (probes >= 0), axis=1)
        # lists a query takes: up to and including the first that reaches `want`
        take = np.maximum((covered < want).sum(axis=1) + 1, min(params.nprobe, n_live))
        width = int(take.max())
        probes = np.where(np.arange(width)[None, :] < take[:, None], probes[:, :width], -1)
        return np.ascontiguousarray(cs[:, :width]), np.ascontiguousarray(probes)

    # ---- reporting ----------------------------------------------------------------
    def bytes_per_vector(self) -> float:
        """Bytes of RAM per vector: codes, list number, the grouped copy of the codes and
        its row map (built for search), ids, the L2 term, and the rerank store unless it
        is memory-mapped (see :meth:`memory_report`)."""
        return float(sum(v for k, v in self.memory_report().items()
                         if k not in ("store_on_disk", "store_read_per_query")))

    def memory_report(self) -> dict:
        """Bytes per vector by part: "codes" (row order + grouped copy), "ids", "lists"
        (list number + row map), "l2_term", "store_in_ram", "store_on_disk", and
        "store_read_per_query" (bytes the rerank reads per query at the default depth)."""
        code = self._codes.row_shape[0]
        mapped = self._store is not None and self._store.mapped
        store = self._store.bytes_per_vector if self._store is not None else 0.0
        # the scan's grouped copy: RaBitQ blocks hold sign bits + f_add, f_mul per vector;
        # soar stores a spilled row twice in it
        grouped = self.quantizer.D // 8 + 8 if self._rabitq else code
        copies = 1.0
        if self.soar and len(self._spill):
            copies += float((self._spill.data >= 0).mean())
        return {"codes": float(code + grouped * copies), "ids": 8.0,
                "lists": 4.0 + 8.0 * copies + (4.0 if self.soar else 0.0),
                "l2_term": 4.0 if self.metric == "l2" else 0.0,
                "store_in_ram": 0.0 if mapped else store,
                "store_on_disk": store,
                "store_read_per_query": float(self.rerank * store)}

    # ---- persistence ----------------------------------------------------------------
    def _state(self):
        qp, qa = quantizer_state(self.quantizer)
        arrays = {**self._code_arrays(), **qa, "lists": self._lists.data}
        if self.soar:
            arrays["spill"] = self._spill.data
        if self._coarse is not None:
            arrays.update(self._coarse.state())
        if self._penalty is not None:
            arrays["list_penalty"] = self._penalty
        if self.centroids is not None:
            arrays["centroids"] = self.centroids
        if self._rotation is not None and self._rotation.matrix is not None:
            arrays["rotation"], arrays["energy"] = self._rotation.matrix, self._rotation.energy
        if self.metric == "l2":
            arrays["l2_term"] = self._row_term.data
        arrays.update(self._layout_state())
        return ({"nlist": self.nlist, "by_residual": self.by_residual, "nprobe": self.nprobe,
                 "rescore": self.rescore, "soar": self.soar,
                 "coarse": self._coarse.kind if self._coarse is not None else self.coarse,
                 "balanced": self.balanced, "prefix": self.prefix,
                 "rerank": self.rerank, "store": self.store, "niter": self.niter,
                 "seed": self.seed, "threads": self.threads, "quantizer": qp}, arrays)

    @classmethod
    def _from_state(cls, params, arrays):
        q = quantizer_from_state(params["quantizer"], arrays, params.get("threads", 0))
        obj = cls(params["dim"], params["nlist"], q, params["metric"],
                  by_residual=params["by_residual"], nprobe=params["nprobe"],
                  rescore=params.get("rescore"), soar=params.get("soar", 0.0),
                  coarse=params.get("coarse", "flat"), balanced=params.get("balanced", False),
                  prefix=params.get("prefix"),
                  rerank=params["rerank"], store=params["store"], niter=params["niter"],
                  seed=params["seed"], threads=params.get("threads", 0))
        if obj.prefix is not None and "rotation" in arrays:
            obj._rotation = PCARotation.from_file(arrays, obj.dim)
        if "centroids" in arrays:
            c = file_array(arrays, "centroids", np.float32, (obj.nlist, obj._code_dim))
            obj.centroids = np.ascontiguousarray(file_finite(c, "centroids"))
            obj._coarse = coarse_for(obj.coarse, obj.nlist)
            obj._coarse.load(arrays, obj.centroids)
            if obj.balanced:
                pen = file_finite(file_array(arrays, "list_penalty", np.float32, (obj.nlist,)),
                                  "list_penalty")
                if (pen < 0).any():
                    raise FormatError("array 'list_penalty' must hold penalties >= 0")
                obj._penalty = np.ascontiguousarray(pen)
        cs, width = obj.quantizer.code_size, obj._codes.row_shape[0]
        masks = np.full(width, 0xFF if obj._paired else min(obj.quantizer.ksub - 1, 0xFF), np.uint8)
        if obj._paired and cs % 2:
            masks[-1] = 0x0F  # an odd code count pads a zero nibble
        obj._load_codes(arrays, "the quantizer", masks)
        n = len(obj._codes)
        if obj._rabitq and n:
            f = file_finite(obj.quantizer.factors(obj._codes.data), "codes (RaBitQ factors)")
            if not ((f[:, 1] >= 0).all() and (f[:, 3] >= 0).all()):
                raise FormatError("array 'codes' holds negative RaBitQ f_mul or f_err factors")
        lists = file_array(arrays, "lists", np.int32, (n,))
        if lists.size and (lists.min() < 0 or lists.max() >= (obj.nlist or 0)):
            raise FormatError("array 'lists' must hold list numbers below nlist")
        obj._lists = GrowableArray.from_array(lists)
        if obj.soar:
            spill = file_array(arrays, "spill", np.int32, (n,))
            if spill.size and (spill.min() < -1 or spill.max() >= obj.nlist):
                raise FormatError("array 'spill' must hold list numbers below nlist, or -1")
            obj._spill = GrowableArray.from_array(spill)
        if obj.metric == "l2":
            term = file_finite(file_array(arrays, "l2_term", np.float32, (n,)), "l2_term")
            obj._row_term = GrowableArray.from_array(term)
        if "layout_rows" in arrays:
            obj._layout, obj._built = obj._layout_from(arrays, n), n
        return obj  # load() restores the store

    def _layout_state(self) -> dict:
        """The scan's layout of every row, saved so that opening the file does not regroup
        the lists (seconds at a million vectors), and with load(mmap=True) the grouped
        codes stay in the file's pages, read as the scan touches them."""
        n = len(self._codes)
        if not n or self.centroids is None:
            return {}
        with self._build_lock:
            if self._layout is not None and self._built == n:
                lay = self._layout
            else:
                lay = self._grouped(np.arange(n))
        codes, rows, offsets, term = lay
        out = {"layout_codes": codes, "layout_rows": rows, "layout_offsets": offsets}
        if term is not None:
            out["layout_term"] = term
        return out

    def _layout_from(self, arrays: dict, n: int) -> tuple:
        """A saved layout, checked against the index; FormatError if it does not fit."""
        offsets = file_array(arrays, "layout_offsets", np.int64, (self.nlist + 1,))
        if offsets[0] != 0 or (np.diff(offsets) < 0).any():
            raise FormatError("array 'layout_offsets' must rise from 0")
        blocks = self._fastscan or self._rabitq
        slots = int(offsets[-1]) * (32 if blocks else 1)
        rows = file_array(arrays, "layout_rows", np.int64, (slots,))
        if rows.size and (rows.min() < -1 or rows.max() >= n):
            raise FormatError("array 'layout_rows' must hold row numbers below n, or -1")
        term = None
        if self._rabitq:
            codes = file_array(arrays, "layout_codes", np.uint8,
                               (int(offsets[-1]), _core.rabitq_fs_block_bytes(self.quantizer.D)))
        elif self._fastscan:
            codes = file_array(arrays, "layout_codes", np.uint8,
                               (int(offsets[-1]) * _core.fastscan_block_bytes(self.quantizer.M),))
        else:
            codes = file_array(arrays, "layout_codes", np.uint8,
                               (slots, self._codes.row_shape[0]))
            if self.metric == "l2":
                term = file_finite(file_array(arrays, "layout_term", np.float32, (slots,)),
                                   "layout_term")
        return (codes, rows, offsets, term)


def _drop_repeats(scores: np.ndarray, rows: np.ndarray, largest: bool) -> tuple:
    """(scores, rows) (nq, c) with each row's repeats (soar: a row scanned in both its
    lists, with the same code and so the same score) turned into padding (-1, worst)."""
    order = np.argsort(rows, axis=1, kind="stable")
    by_row = np.take_along_axis(rows, order, 1)
    repeat = np.zeros(rows.shape, bool)
    np.put_along_axis(repeat, order[:, 1:], (by_row[:, 1:] == by_row[:, :-1]) & (by_row[:, 1:] >= 0),
                      1)
    rows = np.where(repeat, -1, rows)
    return np.where(rows >= 0, scores, -np.inf if largest else np.inf).astype(np.float32), rows

