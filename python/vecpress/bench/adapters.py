"""One small adapter per index type, so the harness treats vecpress, faiss and
hnswlib alike: train (timed apart), add, search with per-call settings,
storage figures.

An adapter whose library is missing (or, for vecpress PQ/RQ, that does not
take the config's parameters) raises :class:`Unavailable` from its
constructor; the harness records the config as skipped with that message
instead of failing the run.

Bytes per vector is what the index keeps per stored vector: codes plus the
float copy that reranking reads, plus graph links for HNSW (level 0). The
serialised size of the whole index (codebooks, ids, graph) is measured apart
as ``total_bytes``. ``code_bytes`` is what one query reads per vector in a full
scan (None for graphs and inverted lists, which do not read every vector), and
``reconstruction_mse`` the error of the stored codes (None for indexes without
codes to decode).
"""
from __future__ import annotations

import inspect
import os
import tempfile

import numpy as np


def _mse(x: np.ndarray, rec: np.ndarray) -> float:
    """Mean over rows of the squared L2 distance between x and its reconstruction."""
    return float(((x - rec) ** 2).sum(axis=1).mean())


def saved_size(save, suffix: str) -> int:
    """Bytes of the file that save(path) writes (a temporary file, removed after)."""
    fd, path = tempfile.mkstemp(suffix=suffix)
    os.close(fd)
    try:
        save(path)
        return os.path.getsize(path)
    finally:
        os.unlink(path)


class Unavailable(Exception):
    """The adapter cannot run here (library missing, or parameters a vecpress class does not
    take); the message says why."""


def _import_faiss():
    try:
        import faiss
    except ImportError:
        raise Unavailable("faiss is not installed (pip install faiss-cpu)") from None
    return faiss


def _import_hnswlib():
    try:
        import hnswlib
    except ImportError:
        raise Unavailable("hnswlib is not installed (pip install hnswlib)") from None
    return hnswlib


def library_versions() -> dict:
    """Versions of the libraries the benchmark can compare (None when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("faiss-cpu", "hnswlib", "usearch", "scann", "numpy", "matplotlib"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    if out["faiss-cpu"] is None:  # a conda or source build of faiss
        try:
            import faiss
            out["faiss-cpu"] = getattr(faiss, "__version__", "unknown")
        except ImportError:
            pass
    return out


class Adapter:
    """Base adapter. Subclasses set ``library`` and implement the hooks."""

    library = "?"
    needs_training = False

    def __init__(self, dim: int, metric: str, threads: int, **params):
        if metric not in ("ip", "l2"):
            raise ValueError(f"metric must be 'ip' or 'l2', got {metric!r}")
        self.dim, self.metric, self.threads, self.params = dim, metric, threads, params
        self.n = 0

    def train(self, x: np.ndarray) -> None:
        """Learn codebooks / rotations / coarse centroids (a no-op by default)."""

    def add(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def search(self, q: np.ndarray, k: int, **settings) -> np.ndarray:
        """Ids (nq, k) int64 of the k best base rows; settings are the config's search dict."""
        raise NotImplementedError

    def bytes_per_vector(self) -> float:
        raise NotImplementedError

    def total_bytes(self) -> int:
        """Serialised size of the whole index (bytes)."""
        raise NotImplementedError

    def code_bytes(self) -> float | None:
        """Bytes per vector one query reads in a full scan of the stored codes (the float
        copy for reranking is read only for candidates); None for indexes that do not
        scan every vector (graphs, inverted lists)."""
        return None

    def reconstruction_mse(self, x: np.ndarray) -> float | None:
        """Mean squared L2 error of the stored codes of x, the first len(x) vectors added,
        against x; None for an index without codes to decode."""
        return None


# ---------------------------------------------------------------- vecpress --
class VecpressAdapter(Adapter):
    library = "vecpress"

    def make(self):
        raise NotImplementedError

    def __init__(self, dim, metric, threads, **params):
        super().__init__(dim, metric, threads, **params)
        self.index = self.make()
        self.needs_training = not self.index.is_trained

    def train(self, x):
        if hasattr(self.index, "train") and not self.index.is_trained:
            # the harness shows its own progress: no bar of the index's (RQ) across its lines
            takes_progress = "progress" in inspect.signature(self.index.train).parameters
            quiet = {"progress": False} if takes_progress else {}
            self.index.train(x, **quiet)

    def add(self, x):
        self.index.add(x)
        self.n = len(self.index)

    def search(self, q, k, **settings):
        return self.index.search(q, k, **settings)[1]

    def bytes_per_vector(self):
        return float(self.index.bytes_per_vector())

    def total_bytes(self):
        return saved_size(self.index.save, ".vp")

    def code_bytes(self):
        first_stage = getattr(self.index, "code_bytes", None)  # Matryoshka: its prefix
        if first_stage is not None:
            return float(first_stage)
        return self.bytes_per_vector() - (4 * self.dim if getattr(self.index, "rerank", 0) else 0)


class VpFlat(VecpressAdapter):
    def make(self):
        import vecpress as vp
        return vp.FlatIndex(self.dim, self.metric, threads=self.threads)


class VpMatryoshka(VecpressAdapter):
    """params: prefix (two stages: prefix -> dim), or any MatryoshkaIndex keyword (dims,
    rotation: None | "pca", ...). search settings: rerank (an int: candidates of the
    prefix scan rescored on all dims)."""

    def make(self):
        import vecpress as vp
        p = dict(self.params)
        if "prefix" in p:
            prefix = p.pop("prefix")
            if not 0 < prefix < self.dim:
                raise ValueError(f"prefix={prefix} must be below the dataset's dim={self.dim}")
            p["dims"] = (prefix, self.dim)
        return vp.MatryoshkaIndex(self.dim, self.metric, threads=self.threads, **p)


class VpBinary(VecpressAdapter):
    """params: bits, threshold, rotation, rerank, query. search settings: rerank."""

    def make(self):
        import vecpress as vp
        return vp.BinaryIndex(self.dim, self.metric, threads=self.threads, **self.params)


class VpRaBitQ(VecpressAdapter):
    """vecpress.RaBitQIndex. params: ex_bits, qb, rerank, scan, rescore, seed. search
    settings: rerank (a count, or "bound")."""

    def make(self):
        import vecpress as vp
        return vp.RaBitQIndex(self.dim, self.metric, threads=self.threads, **self.params)

    def code_bytes(self):
        return float(self.index.code_bytes)


class _VpCoded(VecpressAdapter):
    """PQIndex / RQIndex: parameters the class does not take mark the config
    unavailable (recorded as skipped with the reason) rather than failed."""

    cls_name = ""

    def make(self):
        import vecpress as vp
        try:
            return getattr(vp, self.cls_name)(self.dim, metric=self.metric, threads=self.threads,
                                              **self.params)
        except TypeError as e:
            raise Unavailable(f"vecpress.{self.cls_name} does not take these parameters "
                              f"{self.params}: {e}") from None

    def reconstruction_mse(self, x):
        return _mse(self.index.transform(x), self.index.quantizer.decode(self.index.codes[:len(x)]))


class VpPQ(_VpCoded):
    """vecpress.PQIndex(dim, M, nbits, metric, rotation, rerank)."""
    cls_name = "PQIndex"


class VpRQ(_VpCoded):
    """vecpress.RQIndex(dim, M, nbits, metric, beam, rerank, groups)."""
    cls_name = "RQIndex"


class VpIVF(VecpressAdapter):
    """vecpress.IVFIndex. params: nlist, codec ("pq" default, "rq", "binary", "rabitq"), M, nbits,
    beam (rq), rerank, store ("float32"/"float16"/"int8"), rescore, soar, balanced, coarse,
    prefix (the funnel: the codec codes that many rotated dims), mmap (true: save and
    reopen with load(mmap=True) so the rerank store stays on disk). search settings:
    nprobe, rerank. bytes_per_vector counts RAM only (codes, lists, ids, an in-RAM store)."""

    def make(self):
        import vecpress as vp
        p = dict(self.params)
        self.mmap = bool(p.pop("mmap", False))
        codec, M, nbits = p.pop("codec", "pq"), p.pop("M", self.dim // 8), p.pop("nbits", 8)
        beam = p.pop("beam", 4)
        d = p.get("prefix") or self.dim  # the funnel codes the rotated prefix
        q = {"pq": lambda: vp.ProductQuantizer(d, M, nbits, threads=self.threads),
             "rq": lambda: vp.ResidualQuantizer(d, M, nbits, beam=beam, threads=self.threads),
             "binary": lambda: vp.BinaryQuantizer(d, threads=self.threads),
             "rabitq": lambda: vp.RaBitQuantizer(d, threads=self.threads)}[codec]()
        return vp.IVFIndex(self.dim, quantizer=q, metric=self.metric, threads=self.threads, **p)

    def add(self, x):
        super().add(x)
        if self.mmap:  # the rerank store stays in the file; codes and lists are read in
            import vecpress as vp
            fd, self._path = tempfile.mkstemp(suffix=".vp")
            os.close(fd)
            self.index.save(self._path)
            self.index = vp.load(self._path, mmap=True)

    def code_bytes(self):
        return None  # reads only the probed lists


# ------------------------------------------------------------------- faiss --
class FaissAdapter(Adapter):
    library = "faiss"
    codec = None  # the faiss index whose codes reconstruction_mse decodes (PQ, RQ)

    def __init__(self, dim, metric, threads, **params):
        super().__init__(dim, metric, threads, **params)
        self.faiss = _import_faiss()
        self.faiss.omp_set_num_threads(threads)
        self.fmetric = (self.faiss.METRIC_INNER_PRODUCT if metric == "ip"
                        else self.faiss.METRIC_L2)
        self.index = self.make()
        self.needs_training = not self.index.is_trained

    def make(self):
        raise NotImplementedError

    def train(self, x):
        if not self.index.is_trained:
            self.index.train(x)

    def add(self, x):
        self.index.add(x)
        self.n = self.index.ntotal

    def search(self, q, k, **settings):
        params = self.search_params(k, **settings)
        if params is None:
            return self.index.search(q, k)[1]
        return self.index.search(q, k, params=params)[1]

    def search_params(self, k, **settings):
        if settings:
            raise ValueError(f"{type(self).__name__} takes no search settings, got {settings}")
        return None

    def total_bytes(self):
        return int(self.faiss.serialize_index(self.index).nbytes)

    def reconstruction_mse(self, x):
        if self.codec is None:
            return None
        return _mse(x, self.codec.reconstruct_n(0, len(x)))


class FaissFlat(FaissAdapter):
    def make(self):
        return self.faiss.IndexFlat(self.dim, self.fmetric)

    def bytes_per_vector(self):
        return 4.0 * self.dim

    code_bytes = bytes_per_vector


class FaissPQ(FaissAdapter):
    """IndexPQ (nbits=8) or IndexPQFastScan (fastscan=true, nbits=4); rerank>0
    wraps it in IndexRefineFlat (rerank candidates re-scored on float vectors).

    params: M, nbits, fastscan, rerank. search settings: rerank.
    """

    def make(self):
        f, p = self.faiss, self.params
        M, nbits = p.get("M", 48), p.get("nbits", 8)
        if p.get("fastscan"):
            if nbits != 4:
                raise ValueError("faiss fast-scan PQ needs nbits=4")
            base = f.IndexPQFastScan(self.dim, M, 4, self.fmetric)
        else:
            base = f.IndexPQ(self.dim, M, nbits, self.fmetric)
        self.pq_bytes = M * nbits / 8
        self.base = self.codec = base
        if p.get("rerank"):
            idx = f.IndexRefineFlat(base)
            idx.own_fields = False  # self.base keeps the Python reference alive
            return idx
        return base

    def search_params(self, k, rerank=None):
        rerank = self.params.get("rerank", 0) if rerank is None else rerank
        if not self.params.get("rerank"):
            if rerank:
                raise ValueError("this config keeps no float vectors; set rerank in params")
            return None
        return self.faiss.IndexRefineSearchParameters(k_factor=max(1.0, rerank / k))

    def bytes_per_vector(self):
        return self.pq_bytes + (4 * self.dim if self.params.get("rerank") else 0)

    def code_bytes(self):
        return self.pq_bytes


class FaissRaBitQ(FaissAdapter):
    """A random rotation + IndexRaBitQ (or IndexRaBitQFastScan with fastscan=true), as faiss
    ships it (the rotation is a separate pre-transform); rerank>0 wraps it in
    IndexRefineFlat. params: nb_bits (1 + extended bits), qb (query bits), fastscan, rerank.
    search settings: rerank."""

    def make(self):
        f, p = self.faiss, self.params
        nb = int(p.get("nb_bits", 1))
        if p.get("fastscan"):
            self.codec = f.IndexRaBitQFastScan(self.dim, self.fmetric, 32, nb)
        else:
            self.codec = f.IndexRaBitQ(self.dim, self.fmetric, nb)
        self.codec.qb = int(p.get("qb", 4))
        self.rot = f.RandomRotationMatrix(self.dim, self.dim)
        self.base = f.IndexPreTransform(self.rot, self.codec)
        if p.get("rerank"):
            idx = f.IndexRefineFlat(self.base)
            idx.own_fields = False  # self.base keeps the Python reference alive
            return idx
        return self.base

    def search_params(self, k, rerank=None):
        rerank = self.params.get("rerank", 0) if rerank is None else rerank
        if not self.params.get("rerank"):
            return None
        return self.faiss.IndexRefineSearchParameters(k_factor=max(1.0, rerank / k))

    def bytes_per_vector(self):
        return self.codec.code_size + (4 * self.dim if self.params.get("rerank") else 0)

    def code_bytes(self):
        return float(self.codec.code_size)

    def reconstruction_mse(self, x):
        return None


class FaissRQ(FaissAdapter):
    """IndexResidualQuantizer. params: M, nbits, beam (max_beam_size), train_type
    ("progressive": faiss's default progressive-dimension k-means per stage, which
    vecpress.RQIndex also uses; "default": plain k-means per stage, about 2x faster
    to train and a few points lower in recall), beam_lut (true: faiss's use_beam_LUT
    encoder, faster to encode, same codes), search_type ("lut", the default: look-up
    tables as vecpress; "decompress": faiss's own default, which decodes every code
    for every query, ~M*d flops per pair, about a thousand times slower)."""

    _TRAIN_TYPES = {"default": "Train_default", "progressive": "Train_progressive_dim"}

    def make(self):
        p = self.params
        aq = self.faiss.AdditiveQuantizer
        st = p.get("search_type", "lut")
        if st not in ("lut", "decompress"):
            raise ValueError(f"search_type must be 'lut' or 'decompress', got {st!r}")
        # Look-up tables (ADC), as vecpress: L2 then needs each vector's norm, stored as a
        # float (4 more bytes per vector).
        search_type = aq.ST_decompress if st == "decompress" else \
            aq.ST_LUT_nonorm if self.metric == "ip" else aq.ST_norm_float
        self.rq_bytes = p.get("M", 8) * p.get("nbits", 8) / 8 + \
            (4 if search_type == aq.ST_norm_float else 0)
        idx = self.faiss.IndexResidualQuantizer(self.dim, p.get("M", 8), p.get("nbits", 8),
                                                self.fmetric, search_type)
        idx.rq.max_beam_size = p.get("beam", 8)
        idx.rq.use_beam_LUT = int(bool(p.get("beam_lut", False)))
        tt = p.get("train_type", "progressive")
        if tt not in self._TRAIN_TYPES:
            raise ValueError(f"train_type must be one of {sorted(self._TRAIN_TYPES)}, got {tt!r}")
        idx.rq.train_type = getattr(self.faiss.ResidualQuantizer, self._TRAIN_TYPES[tt])
        self.codec = idx
        return idx

    def bytes_per_vector(self):
        return self.rq_bytes  # codes, plus the float norm stored for L2 table search

    code_bytes = bytes_per_vector


class FaissIVFPQ(FaissAdapter):
    """IndexIVFPQ. params: nlist, M, nbits. search settings: nprobe."""

    def make(self):
        p = self.params
        self.quantizer = self.faiss.IndexFlat(self.dim, self.fmetric)
        idx = self.faiss.IndexIVFPQ(self.quantizer, self.dim, p.get("nlist", 1024),
                                    p.get("M", 48), p.get("nbits", 8), self.fmetric)
        idx.cp.min_points_per_centroid = 5  # small datasets in smoke runs
        return idx

    def search_params(self, k, nprobe=None):
        if nprobe is None:
            return None
        return self.faiss.SearchParametersIVF(nprobe=int(nprobe))

    def bytes_per_vector(self):
        # codes + the 8-byte id each inverted list stores
        return self.params.get("M", 48) * self.params.get("nbits", 8) / 8 + 8


class FaissIVFRefine(FaissAdapter):
    """index_factory "IVF{nlist},PQ{M}x4fs,RFlat" (fast-scan lists + flat refine), or any
    factory string given as params.factory (e.g. "RR384,IVF256,RaBitQfs,RFlat": a random
    rotation, RaBitQ fast-scan lists, refine). search settings: nprobe, k_factor."""

    def make(self):
        p = self.params
        spec = p.get("factory") or f"IVF{p.get('nlist', 1024)},PQ{p.get('M', 48)}x4fs,RFlat"
        self.spec = spec
        return self.faiss.index_factory(self.dim, spec, self.fmetric)

    def search_params(self, k, nprobe=None, k_factor=None):
        f = self.faiss
        ivf = f.SearchParametersIVF(nprobe=int(nprobe or 1))
        if self.spec.split(",")[0].startswith(("RR", "PCA", "OPQ")):  # a pre-transform first
            ivf = f.SearchParametersPreTransform(index_params=ivf)
        if "RFlat" not in self.spec:
            return ivf
        return f.IndexRefineSearchParameters(k_factor=float(k_factor or 1), base_index_params=ivf)

    def bytes_per_vector(self):
        # the lists' codes + the 8-byte id per list entry, + the float refine copy
        code = self.faiss.extract_index_ivf(self.index).code_size
        return code + 8 + (4 * self.dim if "RFlat" in self.spec else 0)


class FaissHNSW(FaissAdapter):
    """IndexHNSWFlat. params: M, efConstruction. search settings: efSearch."""

    def make(self):
        idx = self.faiss.IndexHNSWFlat(self.dim, self.params.get("M", 32), self.fmetric)
        idx.hnsw.efConstruction = self.params.get("efConstruction", 100)
        return idx

    def search_params(self, k, efSearch=None):
        if efSearch is None:
            return None
        return self.faiss.SearchParametersHNSW(efSearch=int(efSearch))

    def bytes_per_vector(self):
        return 4.0 * self.dim + 2 * self.params.get("M", 32) * 4  # vector + level-0 links


class FaissBinary(FaissAdapter):
    """IndexBinaryFlat over sign bits (as vecpress.BinaryIndex with threshold "zero"),
    then, for rerank > 0, exact numpy rescoring of the candidates on the float
    vectors. params: rerank (0 = keep no float vectors). search settings: rerank."""

    def make(self):
        return self.faiss.IndexBinaryFlat(self.dim)

    def _bits(self, x):
        return np.packbits(x > 0, axis=1, bitorder="little")

    def train(self, x):
        pass

    def add(self, x):
        self.index.add(self._bits(x))
        self.x = x if self.params.get("rerank") else None
        self.n = self.index.ntotal

    def search(self, q, k, rerank=None):
        rerank = self.params.get("rerank", 0) if rerank is None else rerank
        if rerank and self.x is None:
            raise ValueError("this config keeps no float vectors; set rerank in params")
        c = min(max(rerank, k), self.n) if rerank else k
        _, cand = self.index.search(self._bits(q), c)
        if not rerank:
            return cand
        out = np.empty((q.shape[0], k), dtype=np.int64)
        for s in range(0, q.shape[0], 256):  # bounded memory: (256, c, d) floats at a time
            cb = cand[s:s + 256]
            v = self.x[np.maximum(cb, 0)]
            if self.metric == "ip":
                score = -np.einsum("qcd,qd->qc", v, q[s:s + 256])
            else:
                score = ((v - q[s:s + 256, None, :]) ** 2).sum(-1)
            score[cb < 0] = np.inf
            order = np.argsort(score, axis=1, kind="stable")[:, :k]
            out[s:s + 256] = np.take_along_axis(cb, order, axis=1)
        return out

    def bytes_per_vector(self):
        return self.dim / 8 + (4 * self.dim if self.params.get("rerank") else 0)

    def code_bytes(self):
        return self.dim / 8

    def total_bytes(self):
        extra = self.x.nbytes if self.x is not None else 0
        return int(self.faiss.serialize_index_binary(self.index).nbytes) + extra


# ----------------------------------------------------------------- hnswlib --
class HnswlibHNSW(Adapter):
    """hnswlib.Index. params: M, efConstruction. search settings: ef."""

    library = "hnswlib"

    def __init__(self, dim, metric, threads, **params):
        super().__init__(dim, metric, threads, **params)
        self.hnswlib = _import_hnswlib()
        self.index = None

    def add(self, x):
        self.index = self.hnswlib.Index(space=self.metric, dim=self.dim)
        self.index.init_index(max_elements=x.shape[0], M=self.params.get("M", 16),
                              ef_construction=self.params.get("efConstruction", 100),
                              random_seed=100)
        self.index.add_items(x, np.arange(x.shape[0]), num_threads=self.threads)
        self.n = x.shape[0]

    def search(self, q, k, ef=None):
        self.index.set_ef(max(int(ef if ef is not None else 10), k))
        # hnswlib searches one thread per query; batch 1 gets one thread anyway
        labels, _ = self.index.knn_query(q, k=k, num_threads=self.threads)
        return labels.astype(np.int64)

    def bytes_per_vector(self):
        # vector + level-0 links (2M int32 + a count) + the 8-byte label
        return 4.0 * self.dim + 2 * self.params.get("M", 16) * 4 + 4 + 8

    def total_bytes(self):
        return saved_size(self.index.save_index, ".hnsw")


# ----------------------------------------------------------------- usearch --
class USearchHNSW(Adapter):
    """usearch.index.Index (HNSW). params: M (connectivity), efConstruction (expansion_add),
    dtype ("f32", "f16", "i8": how it stores vectors). search settings: ef."""

    library = "usearch"

    def __init__(self, dim, metric, threads, **params):
        super().__init__(dim, metric, threads, **params)
        try:
            from usearch.index import Index
        except ImportError:
            raise Unavailable("usearch is not installed (pip install usearch)") from None
        self.index = Index(ndim=dim, metric="ip" if metric == "ip" else "l2sq",
                           dtype=params.get("dtype", "f32"),
                           connectivity=params.get("M", 16),
                           expansion_add=params.get("efConstruction", 128))

    def add(self, x):
        self.index.add(np.arange(x.shape[0], dtype=np.uint64), x, threads=self.threads)
        self.n = x.shape[0]

    def search(self, q, k, ef=None):
        self.index.expansion_search = max(int(ef if ef is not None else 64), k)
        m = self.index.search(q, k, threads=self.threads)
        # one query gives Matches (only the found keys), a batch BatchMatches (k per row)
        found = np.asarray(m.keys).astype(np.int64).reshape(len(q), -1)
        counts = np.asarray(getattr(m, "counts", [found.shape[1]])).reshape(-1)
        keys = np.full((len(q), k), -1, np.int64)
        keys[:, :found.shape[1]] = found
        keys[np.arange(k)[None, :] >= counts[:, None]] = -1
        return keys

    def bytes_per_vector(self):
        # stored vector + level-0 links (2M uint32) + the 8-byte key: its memory_usage counts
        # reserved capacity too
        per_dim = {"f32": 4, "f16": 2, "i8": 1}.get(self.params.get("dtype", "f32"), 4)
        return per_dim * self.dim + 2 * self.params.get("M", 16) * 4 + 8

    def total_bytes(self):
        return saved_size(lambda path: self.index.save(path), ".usearch")


# ------------------------------------------------------------------- scann --
class ScannTreeAH(Adapter):
    """ScaNN: k-means tree + anisotropic hashing (2 dims per 4-bit code) + exact reorder.
    params: leaves, reorder, train_size. search settings: leaves_to_search, reorder."""

    library = "scann"
    needs_training = False  # ScaNN trains inside build()

    def __init__(self, dim, metric, threads, **params):
        super().__init__(dim, metric, threads, **params)
        try:
            from scann.scann_ops.py import scann_ops_pybind
        except ImportError:
            raise Unavailable("scann is not installed (pip install scann)") from None
        self.ops = scann_ops_pybind
        self.searcher = None

    def add(self, x):
        p = self.params
        leaves = int(p.get("leaves", 4 * int(np.sqrt(x.shape[0]))))
        distance = "dot_product" if self.metric == "ip" else "squared_l2"
        self.searcher = (self.ops.builder(x, 10, distance)
                         .tree(num_leaves=leaves, num_leaves_to_search=max(1, leaves // 10),
                               training_sample_size=min(x.shape[0], int(p.get("train_size",
                                                                              250_000))))
                         .score_ah(2, anisotropic_quantization_threshold=0.2)
                         .reorder(int(p.get("reorder", 100))).build())
        self.searcher.set_num_threads(self.threads)
        self.n, self._leaves = x.shape[0], leaves

    def search(self, q, k, leaves_to_search=None, reorder=None):
        ids, _ = self.searcher.search_batched_parallel(
            q, final_num_neighbors=k, leaves_to_search=int(leaves_to_search or self._leaves // 10),
            pre_reorder_num_neighbors=int(reorder or self.params.get("reorder", 100)))
        return np.asarray(ids).astype(np.int64)

    def bytes_per_vector(self):
        # float32 rows for the reorder + 4-bit AH codes (dim / 2 codes of 4 bits) + datapoint
        # ids in the tree (an estimate from the layout: ScaNN reports no memory figure)
        return 4.0 * self.dim + self.dim / 4 + 4

    def total_bytes(self):
        with tempfile.TemporaryDirectory() as d:
            self.searcher.serialize(d)
            return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


ADAPTERS: dict[str, type] = {
    "vecpress.flat": VpFlat,
    "vecpress.matryoshka": VpMatryoshka,
    "vecpress.binary": VpBinary,
    "vecpress.pq": VpPQ,
    "vecpress.rq": VpRQ,
    "vecpress.ivf": VpIVF,
    "vecpress.rabitq": VpRaBitQ,
    "faiss.flat": FaissFlat,
    "faiss.pq": FaissPQ,
    "faiss.rq": FaissRQ,
    "faiss.ivfpq": FaissIVFPQ,
    "faiss.ivf_refine": FaissIVFRefine,
    "faiss.hnsw": FaissHNSW,
    "faiss.binary": FaissBinary,
    "faiss.rabitq": FaissRaBitQ,
    "hnswlib.hnsw": HnswlibHNSW,
    "usearch.hnsw": USearchHNSW,
    "scann.tree_ah": ScannTreeAH,
}
