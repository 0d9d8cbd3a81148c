"""RQIndex: residual-quantized codes scanned with ADC tables, optional exact rerank."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import MAX_NORM, check_int, file_array
from ..errors import FormatError
from ..quantizers.group_rq import GroupResidualQuantizer
from ..quantizers.nibbles import pack_nibbles, pair_tables, unpack_nibbles, upgrade_unpaired
from ..quantizers.rq import ResidualQuantizer
from .base import SearchParams, register, trains
from .coded import CodedIndex, refuse_retraining


@register
class RQIndex(CodedIndex):
    """Residual quantization index (M bytes of code per vector at nbits=8).

    Search scores every code with look-up tables: the inner product of a query
    with a reconstruction is the sum over stages of ``<q, codebooks[m, code_m]>``
    (one table entry per stage, no decoding). For "l2" the reconstruction's
    squared norm is stored per vector, scalar-quantized to ``norm_bits`` bits
    between the min and max seen in training (like faiss's qint8 norms), kept
    as one extra code byte whose table holds the dequantized values, so
    ``||q - r||^2 = ||q||^2 - 2 <q, r> + ||r||^2`` is one more lookup.
    "cosine" stores and queries unit vectors and scores with inner products.

    Parameters
    ----------
    dim : int
    metric : "ip" | "l2" | "cosine"
    M : int, stages (bytes per code)
    nbits : int in [4, 8], bits per stage; codes take a byte each, except at
        nbits=4 where two stages share a byte and are scanned with one lookup
        in a 256-entry table of their summed values
    beam : int, beam width of the encoder
    norm_bits : int in [1, 8], bits of the quantized norm ("l2" only; one byte per vector)
    rerank : int, candidates re-scored exactly with stored float vectors
        (0 = keep no float vectors and return ADC scores)
    threads : int, optional (0/None = all cores)
    groups : int dividing dim (default 1): group residual quantization, an
        independent M-stage RQ on each of ``groups`` slices of dim / groups
        dimensions (:class:`vecpress.GroupResidualQuantizer`); codes then take
        groups * M bytes, cheaper to train and encode than one RQ of that size.

    ``search(queries, k, rerank=None)`` overrides rerank per call.
    """

    def __init__(self, dim: int, metric: str = "ip", M: int = 8, nbits: int = 8, beam: int = 8,
                 norm_bits: int = 8, rerank: int = 0, threads: int | None = None,
                 groups: int = 1) -> None:
        super().__init__(dim, metric, threads, rerank)
        self.quantizer: ResidualQuantizer | GroupResidualQuantizer
        if check_int(groups, "groups", 1, self.dim) == 1:
            self.quantizer = ResidualQuantizer(self.dim, M, nbits, beam=beam, threads=self.threads)
        else:
            self.quantizer = GroupResidualQuantizer(self.dim, groups, M, nbits, beam=beam,
                                                    threads=self.threads)
        self.norm_bits = check_int(norm_bits, "norm_bits", 1, 8)
        self._norm_range: tuple[float, float] | None = None
        self._init_codes(self._code_cols)

    M = property(lambda self: self.quantizer.M, doc="Stages (per group).")
    nbits = property(lambda self: self.quantizer.nbits, doc="Bits per stage.")
    beam = property(lambda self: self.quantizer.beam, doc="Encoder beam width.")
    groups = property(lambda self: getattr(self.quantizer, "groups", 1),
                      doc="Dimension groups (1: plain RQ).")

    @property
    def _paired(self) -> bool:
        return self.nbits == 4

    @property
    def code_bytes(self) -> int:
        """Bytes of stage codes per vector (two 4-bit stages share a byte)."""
        cs = self.quantizer.code_size
        return (cs + 1) // 2 if self._paired else cs

    @property
    def _code_cols(self) -> int:
        return self.code_bytes + (1 if self.metric == "l2" else 0)

    @property
    def is_trained(self) -> bool:
        return self.quantizer.is_trained and (self.metric != "l2" or self._norm_range is not None)

    @trains
    def train(self, vectors: Any, progress: bool | None = None) -> RQIndex:
        """Learn the codebooks (and, for "l2", the norm range) from vectors (n, dim).

        Only on an empty index: when it holds vectors (their codes belong to the current
        codebooks) this raises :class:`vecpress.IndexNotEmptyError` and changes nothing;
        build a new index, or remove every vector first, and add the vectors again.
        """
        refuse_retraining(self)
        x = self._training_sample(vectors)
        self.quantizer.train(x, progress=progress)
        if self.metric == "l2":
            _, _, rn = self.quantizer._encode_with_stats(x)
            self._norm_range = (float(rn.min()), float(rn.max()))
        return self

    def bytes_per_vector(self) -> float:
        """Bytes stored per vector: codes (+ norm byte) (+ float copy for rerank)."""
        return float(self._code_cols + self._store_bytes())

    @property
    def codes(self) -> np.ndarray:
        """Codes (n, groups * M) uint8, one stage per byte (the norm byte, if any, is not
        included; at nbits=4 an unpacked copy of the stored pairs)."""
        c = self._codes.data[:, : self.code_bytes]
        return unpack_nibbles(c, self.quantizer.code_size) if self._paired else c

    def _norm_table(self) -> np.ndarray:
        vmin, vmax = self._norm_range
        L = 1 << self.norm_bits
        t = np.zeros(256, np.float32)
        t[:L] = vmin + (np.arange(L) + 0.5) * ((vmax - vmin) / L)
        return t

    def _encode_rows(self, x):
        codes, _, rn = self.quantizer._encode_with_stats(x)
        if self._paired:
            codes = pack_nibbles(codes)
        if self.metric == "l2":
            vmin, vmax = self._norm_range
            nc = _core.rq_encode_norms(rn, vmin, vmax, self.norm_bits)
            codes = np.concatenate([codes, nc[:, None]], axis=1)
        return codes

    def _tables(self, q):
        t = self.quantizer._tables(q, -2.0 if self.metric == "l2" else 1.0,
                                   self.quantizer.ksub if self._paired else 256)
        if self._paired:
            t = pair_tables(t)
        if self.metric != "l2":
            return t
        nt = np.broadcast_to(self._norm_table(), (q.shape[0], 1, 256)).copy()
        nt[:, 0, : 1 << self.norm_bits] += np.einsum("ij,ij->i", q, q)[:, None]
        return np.ascontiguousarray(np.concatenate([t, nt], axis=1))

    def _scan(self, q, n_candidates: int, params: SearchParams):
        codes = self._arrays_on(self._backend)["codes"]
        return self._backend.adc_search_u8(self._tables(q), codes, self.metric != "l2",
                                           n_candidates, params.threads, allow=params.allow)

    def _state(self):
        arrays = self._code_arrays()
        if self.quantizer.is_trained:
            arrays["codebooks"] = self.quantizer.codebooks
        params = {"M": self.M, "nbits": self.nbits, "beam": self.beam, "groups": self.groups,
                  "norm_bits": self.norm_bits, "rerank": self.rerank, "threads": self.threads,
                  "norm_range": list(self._norm_range) if self._norm_range else None}
        return params, arrays

    @classmethod
    def _from_state(cls, params, arrays):
        obj = cls(params["dim"], params["metric"], params["M"], params["nbits"], params["beam"],
                  params["norm_bits"], params["rerank"], params.get("threads", 0),
                  params.get("groups", 1))
        q = obj.quantizer
        if "codebooks" in arrays:
            shape = ((q.M, q.ksub, q.dim) if obj.groups == 1
                     else (q.groups, q.M, q.ksub, q.group_dim))
            q.set_codebooks(file_array(arrays, "codebooks", np.float32, shape))
        if params.get("norm_range") is not None:
            obj._norm_range = _norm_range(params["norm_range"])
        masks = np.full(obj._code_cols, (1 << obj.nbits) - 1, np.uint8)
        if obj._paired:
            arrays = upgrade_unpaired(arrays, q.code_size, obj._code_cols - obj.code_bytes)
            masks[: obj.code_bytes] = 0xFF
            if q.code_size % 2:
                masks[obj.code_bytes - 1] = 0x0F  # an odd stage count pads a zero nibble
        if obj.metric == "l2":
            masks[-1] = (1 << obj.norm_bits) - 1  # the quantized norm
        return obj._load_codes(arrays, "groups, M, nbits and metric", masks)


def _norm_range(v) -> tuple[float, float]:
    """The saved range of squared reconstruction norms: 0 <= min <= max <= MAX_NORM**2."""
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in v)
            or not 0 <= v[0] <= v[1] <= MAX_NORM ** 2):
        raise FormatError(f"params.norm_range must be [min, max] with 0 <= min <= max <= "
                          f"{MAX_NORM ** 2:.3g}, got {str(v)[:80]}")
    return float(v[0]), float(v[1])
