"""Exceptions raised by vecpress. Each says what went wrong and what to do.

All derive from :class:`VecpressError` and from the built-in exception a user
would catch anyway (``ValueError``, ``TypeError``, ``KeyError``...), so
``except ValueError`` keeps working. The compiled modules raise these classes
too: their checks are mapped at import (see ``cpp/bindings/errors.hpp``).
"""


class VecpressError(Exception):
    """Base class of every vecpress error."""


class DTypeError(VecpressError, TypeError):
    """An array has a dtype vecpress does not accept (e.g. integers for vectors)."""


class ShapeError(VecpressError, ValueError):
    """An array has the wrong number of dimensions or rows."""


class DimensionError(ShapeError):
    """Vectors do not have the index's dimension."""


class EmptyInputError(VecpressError, ValueError):
    """An operation got zero vectors where at least one is needed."""


class NonFiniteError(VecpressError, ValueError):
    """Input contains NaN or infinity."""


class DuplicateIdError(VecpressError, ValueError):
    """An id being added is already in the index (or repeated in the batch)."""


class UnknownIdError(VecpressError, KeyError):
    """An id given to remove() is not in the index."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0]) if self.args else ""


class ParameterError(VecpressError, ValueError):
    """A parameter has a value vecpress does not accept (k < 1, a negative rerank depth,
    an unknown metric, M not dividing dim, ...)."""


class ParameterTypeError(ParameterError, TypeError):
    """A parameter has the wrong type (k=1.5, rerank="x", threads=2.5)."""


class KernelError(VecpressError, ValueError):
    """A compiled kernel refused its arguments. The Python layer checks inputs first, so
    this points at a bug in vecpress or at a direct call into ``vecpress._core``."""


class NotTrainedError(VecpressError, RuntimeError):
    """The index or quantizer must be trained before this call."""


class IndexNotEmptyError(VecpressError, RuntimeError):
    """``train()`` was called on an index that already holds vectors: their codes were made
    with the current model, so a new one would silently invalidate them. Build a new index
    (or remove every vector first) and add the vectors again."""


class FormatError(VecpressError, ValueError):
    """A file is not a valid vecpress index (truncated, corrupted or foreign)."""


class VersionError(FormatError):
    """A file was written by an incompatible version of the vecpress format."""


class GPUUnavailableError(VecpressError, RuntimeError):
    """A GPU was asked for but vecpress was built without CUDA or no device is present."""


class DeviceError(VecpressError, RuntimeError):
    """A CUDA call failed on the device (``vecpress._cuda.CudaError`` derives from it)."""


class SmallTrainingSetWarning(UserWarning):
    """Training got fewer vectors than k-means needs for codebooks that generalise
    (about 39 per centroid, faiss's threshold). Shown once per call site."""
