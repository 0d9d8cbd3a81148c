"""Search timing: throughput in batches and per-query latency at batch 1.

One call times one index once; the harness calls these in rounds over all
indexes (interleaved) and keeps the median of each figure over the rounds.
"""
from __future__ import annotations

import time

import numpy as np


def best_time(fn, repeats: int, warmup: bool = False) -> float:
    """Fastest of ``repeats`` timed calls of fn() in seconds (one untimed call first if warmup)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_batches(search, queries: np.ndarray, batch: int) -> float:
    """Seconds to answer all queries in consecutive batches of ``batch`` rows."""
    t0 = time.perf_counter()
    for s in range(0, queries.shape[0], batch):
        search(queries[s:s + batch])
    return time.perf_counter() - t0


def time_single(search, queries: np.ndarray, budget_s: float | None = None,
                min_queries: int = 20) -> np.ndarray:
    """Latency (seconds) of each query searched alone, in order.

    With ``budget_s``, stops once that much time has gone and at least
    ``min_queries`` were timed, so a slow exact scan does not take the run's
    whole time while a fast index still gets every query; returns (m,) float64.
    """
    out = np.empty(queries.shape[0])
    spent = 0.0
    for i in range(queries.shape[0]):
        q = queries[i:i + 1]
        t0 = time.perf_counter()
        search(q)
        out[i] = time.perf_counter() - t0
        spent += out[i]
        if budget_s is not None and spent > budget_s and i + 1 >= min_queries:
            return out[:i + 1]
    return out


def latency_summary(lat: np.ndarray) -> dict:
    """p50/p99 in milliseconds and the batch-1 throughput of one round."""
    return {"p50_ms": float(np.percentile(lat, 50) * 1e3),
            "p99_ms": float(np.percentile(lat, 99) * 1e3),
            "qps": float(lat.size / lat.sum()), "n": int(lat.size)}


def memory_bandwidth(mib: int = 128, repeats: int = 3) -> float:
    """Bytes per second (read + written) of a numpy copy of a ``mib`` MiB array, best of
    ``repeats``: the machine's yardstick for the bytes an index scans per second."""
    a = np.ones(mib * 2**20 // 8)
    b = np.empty_like(a)
    return 2 * a.nbytes / best_time(lambda: np.copyto(b, a), repeats, warmup=True)


def median(values) -> float:
    """Median of a sequence of numbers, as a float."""
    return float(np.median(np.asarray(values, dtype=np.float64)))
