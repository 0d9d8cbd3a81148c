"""Time one index's batch search with whichever vecpress is on PYTHONPATH, so two versions
(for instance before and after a refactor) can be compared in alternating processes on the
same machine: run it for both trees in turn, several rounds, and compare the medians.

    for r in 1 2 3 4 5 6; do
      PYTHONPATH=../old/python python benchmarks/ab_search.py pq4r old
      PYTHONPATH=python        python benchmarks/ab_search.py pq4r new
    done

Prints "<kind> <label> <median QPS> <best QPS>" over 7 timed searches of 1,000 wordnet-minilm
queries (k=10, 2 threads). Uses only the API both versions share.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import vecpress as vp

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wordnet-minilm"
KINDS = {
    "bin": lambda: vp.BinaryIndex(384, "ip", rerank=0, threads=2),
    "binr": lambda: vp.BinaryIndex(384, "ip", rerank=100, threads=2),
    "pq4": lambda: vp.PQIndex(384, "ip", M=96, nbits=4, threads=2),
    "pq4r": lambda: vp.PQIndex(384, "ip", M=96, nbits=4, rerank=100, threads=2),
    "flat": lambda: vp.FlatIndex(384, "ip", threads=2),
}


def main(kind: str, label: str) -> None:
    x = np.load(DATA / "base.npy").astype(np.float32)
    q = np.load(DATA / "queries.npy")[:1000].astype(np.float32)
    idx = KINDS[kind]()
    if not idx.is_trained:
        idx.train(x[np.random.default_rng(0).choice(len(x), 50_000, replace=False)])
    idx.add(x)
    idx.search(q[:16], 10)  # warm-up
    times = []
    for _ in range(7):
        t = time.perf_counter()
        idx.search(q, 10)
        times.append(time.perf_counter() - t)
    print(kind, label, round(len(q) / float(np.median(times))), round(len(q) / min(times)))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: ab_search.py {{{'|'.join(KINDS)}}} LABEL")
    main(sys.argv[1], sys.argv[2])
