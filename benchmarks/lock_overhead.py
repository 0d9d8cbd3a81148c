"""What the thread-safety lock costs a search: batch-1 searches on small indexes with the
index's readers-writer lock against the same index with the lock replaced by a no-op,
interleaved rounds in one process, and 4 threads searching at once with the lock (they
must still run in parallel).

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=python python benchmarks/lock_overhead.py
"""
from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time

import numpy as np

import vecpress as vp


class _NoLock:
    def read(self):
        return contextlib.nullcontext()

    def write(self):
        return contextlib.nullcontext()


def per_call_us(index, q, calls: int) -> float:
    t0 = time.perf_counter()
    for i in range(calls):
        index.search(q[i % len(q)], 10)
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2_000, 64)).astype(np.float32)
    q = rng.standard_normal((256, 64)).astype(np.float32)
    rows = []
    for name, index in [("FlatIndex 2,000 x 64", vp.FlatIndex(64, threads=1)),
                        ("PQIndex 2,000 x 64, M=16", vp.PQIndex(64, M=16, nbits=8, threads=1))]:
        if not index.is_trained:
            index.train(x)
        index.add(x)
        lock = index._lock
        with_lock, without = [], []
        for _ in range(7):  # interleaved rounds
            index._lock = lock
            with_lock.append(per_call_us(index, q, 2000))
            index._lock = _NoLock()
            without.append(per_call_us(index, q, 2000))
        index._lock = lock
        a, b = statistics.median(with_lock), statistics.median(without)
        rows.append((name, a, b))
        print(f"{name}: {a:.1f} us per batch-1 search with the lock, {b:.1f} us without "
              f"({a - b:+.1f} us, {100 * (a - b) / b:+.1f}%)")
    # parallel searches still overlap: 4 threads x 20 batch searches on a bigger index
    big = vp.FlatIndex(384, threads=1)
    big.add(rng.standard_normal((100_000, 384)).astype(np.float32))
    qq = rng.standard_normal((64, 384)).astype(np.float32)
    t0 = time.perf_counter()
    for _ in range(8):
        big.search(qq, 10)
    serial = time.perf_counter() - t0
    threads = [threading.Thread(target=lambda: [big.search(qq, 10) for _ in range(2)])
               for _ in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parallel = time.perf_counter() - t0
    print(f"8 searches of 64 queries (100k x 384, 1 kernel thread each): serial {serial:.2f} s, "
          f"4 threads {parallel:.2f} s ({serial / parallel:.2f}x on {os.cpu_count()} cores); "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
