"""vecpress: compressed vector search over C++ (and CUDA) kernels.

Indexes share one contract: ``add(vectors, ids=None)``, ``search(queries, k)
-> (scores, ids)``, ``remove(ids)``, ``len(index)``, ``save(path)`` and
:func:`vecpress.load`.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from . import _core
from .binary import BinaryIndex
from .errors import (DimensionError, DTypeError, DuplicateIdError, EmptyInputError, FormatError,
                     GPUUnavailableError, NonFiniteError, NotTrainedError, ShapeError,
                     UnknownIdError, VecpressError, VersionError)
from .flat import FlatIndex
from .index import Index, load
from .matryoshka import MatryoshkaIndex, prefix_recall_curve
from .metrics import ndcg_at_k, recall_at_k
from .opq import PQRotation
from .pq_index import PQIndex
from .quantizers import ProductQuantizer
from .rotation import PCARotation
from .group_rq import GroupResidualQuantizer
from .rq import ResidualQuantizer
from .rq_index import RQIndex
from .runtime import (available_simd_levels, get_num_threads, info, set_num_threads,
                      set_simd_level, simd_level)

try:
    __version__ = _version("vecpress")
except PackageNotFoundError:  # running from a source tree
    __version__ = _core.VERSION

__all__ = [
    "BinaryIndex", "FlatIndex", "GroupResidualQuantizer", "Index", "MatryoshkaIndex",
    "PCARotation", "PQIndex", "PQRotation", "ProductQuantizer", "RQIndex", "ResidualQuantizer",
    "load", "prefix_recall_curve", "recall_at_k", "ndcg_at_k",
    "available_simd_levels", "get_num_threads", "info", "set_num_threads", "set_simd_level",
    "simd_level",
    "VecpressError", "DTypeError", "ShapeError", "DimensionError", "EmptyInputError",
    "NonFiniteError", "DuplicateIdError", "UnknownIdError", "NotTrainedError", "FormatError",
    "VersionError", "GPUUnavailableError",
]
