"""vecpress: compressed vector search over C++ (and CUDA) kernels.

Indexes share one contract: ``add(vectors, ids=None)``, ``search(queries, k, *,
rerank=None, threads=None, filter=None) -> (scores, ids)``, ``remove(ids)``,
``len(index)``, ``save(path)`` and :func:`vecpress.load`; ``filter=`` (ids or an
:class:`IdSelector`) restricts a search, and every index is thread-safe (see
``vecpress.indexes.base``). Quantizers share another: ``train``, ``encode``, ``decode``,
``compute_tables``. Every error derives from :class:`VecpressError`.
"""
from . import _core  # noqa: F401  (the compiled kernels: fail early if they are missing)
from ._version import __version__
from .errors import (
                     DeviceError,
                     DimensionError,
                     DTypeError,
                     DuplicateIdError,
                     EmptyInputError,
                     FormatError,
                     GPUUnavailableError,
                     IndexNotEmptyError,
                     KernelError,
                     NonFiniteError,
                     NotTrainedError,
                     ParameterError,
                     ParameterTypeError,
                     ShapeError,
                     SmallTrainingSetWarning,
                     UnknownIdError,
                     VecpressError,
                     VersionError,
)
from .filters import IdSelector
from .indexes import (
                     BinaryIndex,
                     FlatIndex,
                     Index,
                     IVFIndex,
                     MatryoshkaIndex,
                     PQIndex,
                     RaBitQIndex,
                     RQIndex,
                     load,
                     prefix_recall_curve,
)
from .metrics import ndcg_at_k, recall_at_k
from .quantizers import (
                     BinaryQuantizer,
                     GroupResidualQuantizer,
                     PCARotation,
                     PQRotation,
                     ProductQuantizer,
                     Quantizer,
                     RaBitQuantizer,
                     ResidualQuantizer,
)
from .runtime import available_simd_levels, get_num_threads, info, set_num_threads, set_simd_level, simd_level

__all__ = [
    "__version__",
    "BinaryIndex", "FlatIndex", "Index", "IVFIndex", "MatryoshkaIndex", "PQIndex", "RQIndex", "load",
    "prefix_recall_curve", "IdSelector",
    "RaBitQIndex", "RaBitQuantizer",
    "Quantizer", "BinaryQuantizer", "GroupResidualQuantizer", "ProductQuantizer",
    "ResidualQuantizer", "PCARotation", "PQRotation",
    "recall_at_k", "ndcg_at_k",
    "available_simd_levels", "get_num_threads", "info", "set_num_threads", "set_simd_level",
    "simd_level",
    "VecpressError", "DTypeError", "ShapeError", "DimensionError", "EmptyInputError",
    "NonFiniteError", "DuplicateIdError", "UnknownIdError", "NotTrainedError", "FormatError",
    "VersionError", "GPUUnavailableError", "ParameterError", "ParameterTypeError",
    "KernelError", "DeviceError", "SmallTrainingSetWarning", "IndexNotEmptyError",
]
