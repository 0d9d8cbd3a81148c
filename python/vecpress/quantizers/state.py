"""Saving a quantizer inside an index file: its settings as JSON-able params and its
trained model as arrays, and back (used by indexes that hold any codec)."""
from __future__ import annotations

import numpy as np

from ..errors import FormatError
from .base import Quantizer
from .binary import BinaryQuantizer
from .group_rq import GroupResidualQuantizer
from .pq import ProductQuantizer
from .rabitq import RaBitQuantizer
from .rq import ResidualQuantizer


def quantizer_state(q: Quantizer) -> tuple[dict, dict]:
    """(params, arrays) describing q; arrays hold "q_codebooks" once trained."""
    if isinstance(q, ProductQuantizer):
        params = {"kind": "pq", "M": q.M, "nbits": q.nbits, "niter": q.niter, "seed": q.seed}
    elif isinstance(q, GroupResidualQuantizer):
        params = {"kind": "group_rq", "groups": q.groups, "M": q.M, "nbits": q.nbits,
                  "beam": q.beam}
    elif isinstance(q, ResidualQuantizer):
        params = {"kind": "rq", "M": q.M, "nbits": q.nbits, "beam": q.beam}
    elif isinstance(q, BinaryQuantizer):
        params = {"kind": "binary", "bits": q.bits, "threshold": q.threshold}
    elif isinstance(q, RaBitQuantizer):  # the rotation is a function of the seed
        params = {"kind": "rabitq", "metric": q.metric, "ex_bits": q.ex_bits, "qb": q.qb,
                  "seed": q.seed, "epsilon": q.epsilon}
    else:
        raise FormatError(f"cannot save a {type(q).__name__} inside an index")
    arrays = {"q_codebooks": np.asarray(q.codebooks)} if q.is_trained else {}
    return {"dim": q.dim, **params}, arrays


def quantizer_from_state(params: dict, arrays: dict, threads: int = 0) -> Quantizer:
    """The quantizer saved by :func:`quantizer_state` (trained if its arrays are there)."""
    kind, dim = params.get("kind"), params.get("dim")
    if kind == "pq":
        q: Quantizer = ProductQuantizer(dim, params["M"], params["nbits"], niter=params["niter"],
                                        seed=params["seed"], threads=threads)
    elif kind == "rq":
        q = ResidualQuantizer(dim, params["M"], params["nbits"], beam=params["beam"],
                              threads=threads)
    elif kind == "group_rq":
        q = GroupResidualQuantizer(dim, params["groups"], params["M"], params["nbits"],
                                   beam=params["beam"], threads=threads)
    elif kind == "binary":
        q = BinaryQuantizer(dim, params["bits"], params["threshold"], threads)
    elif kind == "rabitq":
        q = RaBitQuantizer(dim, params["metric"], params["ex_bits"], params["qb"],
                           params["seed"], params["epsilon"], threads)
    else:
        raise FormatError(f"unknown quantizer kind {kind!r}")
    cb = arrays.get("q_codebooks")
    if cb is not None:
        if isinstance(q, BinaryQuantizer):
            if q.threshold != "zero":
                q.set_thresholds(np.asarray(cb))
        elif isinstance(q, RaBitQuantizer):
            q.set_centroid(np.asarray(cb))
        else:
            q.set_codebooks(np.asarray(cb))
    return q
