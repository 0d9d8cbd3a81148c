"""RaBitQ 1-bit against sign-bit BinaryIndex and faiss IndexRaBitQ on wordnet-minilm
(issue 12): recall@10 and QPS, every system searched in each of several interleaved rounds
in one process (best round's QPS reported), k=10, 2 threads.

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=python python benchmarks/rabitq_bench.py \
        --data ../shared/data/wordnet-minilm --out benchmarks/results/rabitq-wordnet
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import vecpress


def recall(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(ids, gt)]))


def build_systems(base: np.ndarray, threads: int, with_faiss: bool) -> dict:
    d = base.shape[1]
    systems = {}
    for rerank in (100, 0):
        idx = vecpress.RaBitQIndex(d, "ip", qb=4, rerank=rerank, threads=threads)
        idx.train(base)
        idx.add(base)
        systems[f"RaBitQIndex(qb=4, rerank={rerank})"] = (idx.search, idx.code_bytes)
    for query in ("float", "binary"):
        idx = vecpress.BinaryIndex(d, "ip", rerank=100, query=query, threads=threads)
        idx.train(base)
        idx.add(base)
        systems[f"BinaryIndex(query={query}, rerank=100)"] = (idx.search, idx.code_bytes)
    if with_faiss:
        import faiss

        faiss.omp_set_num_threads(threads)
        rot = faiss.RandomRotationMatrix(d, d)
        rot.init(1234)
        for rerank in (100, 0):
            rq = faiss.IndexRaBitQ(d, faiss.METRIC_INNER_PRODUCT)  # 1 bit per dimension
            rq.qb = 4
            inner = faiss.IndexPreTransform(rot, rq)
            index = faiss.IndexRefineFlat(inner) if rerank else inner
            if rerank:
                index.k_factor = rerank / 10
            index.train(base)
            index.add(base)

            def search(q, k, index=index):
                return index.search(q, k)

            systems[f"faiss RR+IndexRaBitQ(qb=4{', RefineFlat 100' if rerank else ''})"] = (
                search, rq.code_size)
    return systems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "wordnet-minilm"))
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--out", default=None, help="folder for results.json")
    a = ap.parse_args()
    data = Path(a.data)
    base = np.load(data / "base.npy").astype(np.float32)
    queries = np.load(data / "queries.npy")[: a.queries].astype(np.float32)
    gt = np.load(data / "gt_ids.npy")[: a.queries, :10]
    vecpress.set_num_threads(a.threads)
    t0 = time.perf_counter()
    systems = build_systems(base, a.threads, not a.no_faiss)
    print(f"built {len(systems)} systems in {time.perf_counter() - t0:.1f} s")
    best: dict[str, float] = {}
    rec: dict[str, float] = {}
    for r in range(a.rounds):
        for name, (search, _) in systems.items():
            t = time.perf_counter()
            _, ids = search(queries, 10)
            dt = time.perf_counter() - t
            best[name] = max(best.get(name, 0.0), len(queries) / dt)
            rec[name] = recall(np.asarray(ids), gt, 10)
        print(f"round {r + 1}/{a.rounds} done; load average {os.getloadavg()[0]:.2f}")
    rows = [{"system": n, "recall@10": round(rec[n], 4), "qps": round(best[n], 1),
             "code_bytes": int(systems[n][1])} for n in systems]
    for row in rows:
        print(f"{row['system']:<52} recall@10 {row['recall@10']:.4f}  QPS {row['qps']:>9.1f}  "
              f"code bytes {row['code_bytes']}")
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"dataset": data.name, "n": int(base.shape[0]), "queries": len(queries), "k": 10,
                "threads": a.threads, "rounds": a.rounds, "qps": "best of the interleaved rounds",
                "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "load_average_after": round(os.getloadavg()[0], 2),
                "vecpress": vecpress.__version__, "simd": vecpress.simd_level()}
        (out / "results.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
