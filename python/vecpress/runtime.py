"""Runtime settings: SIMD level and thread count, and build facts."""
from __future__ import annotations

import platform

from . import _core


def simd_level() -> str:
    """The SIMD level the kernels use now ("scalar", "avx2", ...)."""
    return _core.simd_level()


def available_simd_levels() -> list[str]:
    """Levels compiled into this build and supported by this CPU, scalar first."""
    return list(_core.available_simd_levels())


def set_simd_level(level: str) -> None:
    """Force a SIMD level (e.g. "scalar" to compare against the reference kernels).

    Raises ValueError for a level this build or CPU cannot run. The environment
    variable VECPRESS_SIMD sets the level at import time.
    """
    if level not in available_simd_levels():
        raise ValueError(f"SIMD level {level!r} is not available here; "
                         f"choose one of {available_simd_levels()}")
    _core.set_simd_level(level)


def set_num_threads(n: int | None) -> None:
    """Threads used by kernels when an index's ``threads`` is 0 (None/0 = all cores)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"n must be a non-negative integer or None, got {n!r}")
    _core.set_default_threads(n or 0)


def get_num_threads() -> int:
    return int(_core.default_threads())


def info() -> dict:
    """Build and machine facts (for bug reports and benchmark records)."""
    from ._version import __version__

    try:
        from . import gpu
        gpu_ok = bool(gpu.is_available())
    except ImportError:
        gpu_ok = False

    return {
        "vecpress": __version__,
        "simd_level": simd_level(),
        "available_simd_levels": available_simd_levels(),
        "avx2_build": bool(_core.HAS_AVX2_BUILD),
        "cuda_build": bool(_core.HAS_CUDA_BUILD),
        "gpu_available": gpu_ok,
        "threads": get_num_threads(),
        "hardware_threads": int(_core.hardware_threads()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo where available)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
