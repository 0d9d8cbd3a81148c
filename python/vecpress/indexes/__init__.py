"""Index types over one search pipeline (:class:`Index`): exact, Matryoshka cascade,
and coded (binary, PQ, RQ) with an optional rerank store."""
from .base import Index, SearchParams, load
from .binary import BinaryIndex
from .coded import CodedIndex
from .flat import FlatIndex
from .ivf import IVFIndex
from .matryoshka import MatryoshkaIndex, prefix_recall_curve
from .pq import PQIndex
from .rabitq import RaBitQIndex
from .rq import RQIndex

__all__ = ["Index", "SearchParams", "load", "BinaryIndex", "CodedIndex", "FlatIndex", "IVFIndex",
           "MatryoshkaIndex", "prefix_recall_curve", "PQIndex", "RQIndex"]
__all__ += ["RaBitQIndex"]
