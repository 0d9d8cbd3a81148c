"""Kernel backends: one interface, identical signatures on CPU and CUDA.

An index holds one backend and its search pipeline calls only the backend's
methods, so the same pipeline serves both devices; ``Index.to_gpu()`` swaps
:data:`CPU` for the CUDA backend. Argument order follows the compiled
``vecpress._core`` functions; the trailing ``threads`` is ignored on CUDA
(the stream is CuPy's current one for CuPy queries).
"""
from __future__ import annotations

from .base import Backend
from .cpu import CPU

__all__ = ["Backend", "CPU", "get"]


def get(name: str) -> Backend:
    """The backend called ``name``: "cpu", or "cuda", which raises
    :class:`vecpress.GPUUnavailableError` naming the cause when vecpress was built
    without CUDA or no device is present."""
    if name == "cpu":
        return CPU
    if name == "cuda":
        from .cuda import CudaBackend

        return CudaBackend()
    from ..errors import ParameterError

    raise ParameterError(f"backend must be 'cpu' or 'cuda', got {name!r}")
