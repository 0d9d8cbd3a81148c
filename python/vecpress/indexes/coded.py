"""Indexes of per-vector uint8 codes (binary, PQ, RQ) with an optional rerank store."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import GrowableArray
from .._validate import check_count, file_array, file_code_bits
from ..errors import FormatError, IndexNotEmptyError, ParameterError
from ..stores import Float32Store
from .base import Index, SearchParams


def refuse_retraining(index: Index) -> None:
    """train() on an index that holds vectors raises: their codes (or rotated copies) were
    made with the current model and would silently stop matching a new one."""
    if len(index):
        raise IndexNotEmptyError(
            f"this {type(index).__name__} already holds {len(index)} vectors encoded with its "
            "current model; training a new one would silently invalidate them. Build a new "
            "index and train it, or remove every vector first (index.remove(index.ids)), then "
            "add the vectors again")


def fastscan_rescore(rescore: int | None, params: SearchParams, n_candidates: int) -> int:
    """Candidates of a 4-bit fast-scan rescored with the float tables: ``rescore`` when the
    index sets it, else none (0) when an exact rerank follows (its scores make that pass
    redundant: same recall, twice the QPS on wordnet-minilm), else 2 x the candidates."""
    if rescore is not None:
        return rescore
    return 0 if params.rerank else 2 * n_candidates


class CodedIndex(Index):
    """An index of codes (n, code_cols) uint8 produced by a quantizer. Built with
    ``rerank > 0`` it also keeps the float vectors in a :class:`vecpress.stores.VectorStore`
    and rescores that many candidates exactly (per call: ``search(..., rerank=c)``).

    Subclasses set ``self.quantizer`` and call ``_init_codes(code_cols)`` in __init__,
    append with ``_append_codes(codes)`` in ``_append_rows`` and scan ``self._arrays_on(be)
    ["codes"]`` in ``_scan``.
    """

    def __init__(self, dim: int, metric: str, threads: int | None, rerank: int) -> None:
        super().__init__(dim, metric, threads)
        self.rerank = check_count(rerank, "rerank")
        self._store = Float32Store(self.dim) if self.rerank else None

    # ---- codes (siblings with one code row per vector, as the quantizer encodes it) ----
    def bytes_per_vector(self) -> float:
        """Bytes stored per vector: the code plus the float copy kept for reranking, if any."""
        return float(self.code_bytes + self._store_bytes())

    @property
    def code_bytes(self) -> int:
        """Bytes of code per vector (what the scan reads)."""
        return self.quantizer.code_size

    @property
    def codes(self) -> np.ndarray:
        """Codes (n, code_bytes) uint8 in storage order (layout: the quantizer's docs)."""
        return self._codes.data

    def _encode_rows(self, x: np.ndarray) -> np.ndarray:
        return self.quantizer._encode(x)

    def _append_rows(self, codes: np.ndarray) -> None:
        self._append_codes(codes)

    def _init_codes(self, code_cols: int) -> None:
        self._codes = GrowableArray((code_cols,), np.uint8)

    def _append_codes(self, codes: np.ndarray) -> None:
        self._codes.append(codes)
        self._codes_changed()

    def _codes_changed(self) -> None:
        """Hook: drop layouts derived from the codes (e.g. fast-scan blocks)."""

    # ---- pipeline hooks -------------------------------------------------------
    def _search_params(self, rerank: Any = None, threads: Any = None, **_: Any) -> SearchParams:
        depth = self.rerank if rerank is None else check_count(rerank, "rerank")
        if depth and self._store is None:
            raise ParameterError(f"this {type(self).__name__} keeps no float vectors (built with "
                                 "rerank=0), so it cannot rerank candidates; build it with "
                                 "rerank > 0 or search with rerank=0")
        return SearchParams(rerank=depth, threads=self._threads(threads))

    def _rerank_depth(self, params: SearchParams) -> int:
        return params.rerank

    def _larger_is_better(self, params: SearchParams) -> bool:
        if params.rerank:
            return self.metric != "l2"
        return self._code_scores_larger()

    def _code_scores_larger(self) -> bool:
        """Whether the code scan's scores (no rerank) are larger-is-better."""
        return self.metric != "l2"

    def _payload(self) -> dict:
        return {"codes": self._codes.data}

    def _keep_rows(self, keep: np.ndarray) -> None:
        self._codes.keep(keep)
        self._codes_changed()

    def _stored_rows(self) -> int:
        return len(self._codes)

    def _store_bytes(self) -> float:
        return self._store.bytes_per_vector if self._store is not None else 0.0

    def _code_arrays(self) -> dict:
        return {"codes": self._codes.data}

    def _load_codes(self, arrays: dict, what: str, masks: np.ndarray | None = None) -> CodedIndex:
        """Adopt the saved "codes" (n, code_cols) uint8, column j using only the bits of
        masks[j] (what the model decodes; None: every byte value decodes); FormatError
        otherwise."""
        want = self._codes.row_shape[0]
        try:
            codes = file_array(arrays, "codes", np.uint8, (None, want))
        except FormatError as e:
            raise FormatError(f"{e} (for the index's {what})") from None
        if masks is not None:
            codes = file_code_bits(codes, masks)
        self._codes = GrowableArray.from_array(codes)
        return self
