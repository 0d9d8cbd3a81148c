"""RaBitQ 1-bit (fast-scan and popcount scans) and extended codes (4 and 5 bits per
dimension, no rerank) against sign-bit BinaryIndex, our PQ 4-bit fast-scan at the same code
bytes, and faiss IndexRaBitQ / IndexRaBitQFastScan (1, 4 and 5 bits per dimension) on
wordnet-minilm (issue 12): recall@10 and QPS, every system searched in each of several
interleaved rounds in one process (best round's QPS reported), k=10, 2 threads.
ex_per_query: for extended codes, the mean number of vectors per query whose extended bits
were read (the rest were ruled out by their 1-bit bound).

code_bytes: bytes per vector of the stored code (what files hold); scan_bytes: bytes per
vector the scan's first pass reads (its layout: fast-scan blocks with RaBitQ's f_add and
f_mul, or the code rows); memory_bytes: the index's code memory per vector, the fast-scan
copy included (float vectors kept for rerank, 1,536 B at d = 384, not counted).

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
    """name -> (search(q, k), code_bytes, scan_bytes, memory_bytes)."""
    d = base.shape[1]
    systems = {}
    for scan in ("fastscan", "popcount"):
        for rerank in (100, 0):
            idx = vecpress.RaBitQIndex(d, "ip", qb=4, rerank=rerank, scan=scan, threads=threads)
            idx.train(base)
            idx.add(base)
            cb = idx.code_bytes
            if scan == "fastscan":
                idx.search(base[:1], 1)  # builds the fast-scan layout
                fs = idx._packed[0].nbytes / len(base)
                sysb = (cb, fs, cb + fs)
            else:
                sysb = (cb, cb, cb)
            name = f"RaBitQIndex(scan={scan}{', qb=4' if scan == 'popcount' else ''}, " \
                   f"rerank={rerank})"
            systems[name] = (idx.search, *sysb)
    for ex_bits in (3, 4):  # 4 and 5 bits per dimension, no rerank
        idx = vecpress.RaBitQIndex(d, "ip", ex_bits=ex_bits, rerank=0, threads=threads)
        idx.train(base)
        idx.add(base)
        idx.search(base[:1], 1)
        fs = idx._packed[0].nbytes / len(base)
        systems[f"RaBitQIndex(ex_bits={ex_bits}: {1 + ex_bits} bits/dim, rerank=0)"] = (
            idx.search, idx.code_bytes, fs, idx.code_bytes + fs, idx)
    for query in ("float", "binary"):
        idx = vecpress.BinaryIndex(d, "ip", rerank=100, query=query, threads=threads)
        idx.train(base)
        idx.add(base)
        systems[f"BinaryIndex(query={query}, rerank=100)"] = (idx.search, idx.code_bytes,
                                                              idx.code_bytes, idx.code_bytes)
    # our PQ 4-bit fast-scan at RaBitQ's code bytes (M = 128: 64 B) and at its sign bits
    # alone (M = 96: 48 B)
    rq_bytes = vecpress.RaBitQIndex(d, "ip").code_bytes
    for M in (2 * rq_bytes, d // 4):
        for rerank in (100, 0):
            idx = vecpress.PQIndex(d, "ip", M=M, nbits=4, rerank=rerank, threads=threads)
            idx.train(base)
            idx.add(base)
            idx.search(base[:1], 1)
            fs = idx._packed.nbytes / len(base)
            systems[f"PQIndex(M={M}, nbits=4 fast-scan, rerank={rerank})"] = (
                idx.search, idx.code_bytes, fs, idx.code_bytes + fs)
    if with_faiss:
        import faiss

        faiss.omp_set_num_threads(threads)
        rot = faiss.RandomRotationMatrix(d, d)
        rot.init(1234)
        for kind in ("IndexRaBitQ", "IndexRaBitQFastScan"):
            for rerank in (100, 0):
                rq = getattr(faiss, kind)(d, faiss.METRIC_INNER_PRODUCT)  # 1 bit per dimension
                rq.qb = 4
                inner = faiss.IndexPreTransform(rot, rq)
                index = faiss.IndexRefineFlat(inner) if rerank else inner
                if rerank:
                    index.k_factor = rerank / 10
                index.train(base)
                index.add(base)

                def search(q, k, index=index):
                    return index.search(q, k)

                refine = ", RefineFlat 100" if rerank else ""
                systems[f"faiss RR+{kind}(qb=4{refine})"] = (search, rq.code_size, rq.code_size,
                                                             rq.code_size)
        # extended codes: nb_bits = 1 + ex_bits bits per dimension, no rerank; qb=8 is the
        # query precision closest to ours (our extended stage uses the float query)
        for nb_bits in (4, 5):
            for qb in (4, 8):
                for kind in ("IndexRaBitQ", "IndexRaBitQFastScan"):
                    if kind == "IndexRaBitQ":
                        rq = faiss.IndexRaBitQ(d, faiss.METRIC_INNER_PRODUCT, nb_bits)
                    else:
                        rq = faiss.IndexRaBitQFastScan(d, faiss.METRIC_INNER_PRODUCT, 32, nb_bits)
                    rq.qb = qb
                    index = faiss.IndexPreTransform(rot, rq)
                    index.train(base)
                    index.add(base)

                    def search(q, k, index=index):
                        return index.search(q, k)

                    systems[f"faiss RR+{kind}(nb_bits={nb_bits}, qb={qb})"] = (
                        search, rq.code_size, rq.code_size, rq.code_size)
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
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    systems = build_systems(base, a.threads, not a.no_faiss)
    print(f"built {len(systems)} systems in {time.perf_counter() - t0:.1f} s")
    best: dict[str, float] = {}
    rec: dict[str, float] = {}
    for r in range(a.rounds):
        for name, (search, *_) in systems.items():  # the same order every round
            t = time.perf_counter()
            _, ids = search(queries, 10)
            dt = time.perf_counter() - t
            best[name] = max(best.get(name, 0.0), len(queries) / dt)
            rec[name] = recall(np.asarray(ids), gt, 10)
        print(f"round {r + 1}/{a.rounds} done; load average {os.getloadavg()[0]:.2f}")
    rows = [{"system": n, "recall@10": round(rec[n], 4), "qps": round(best[n], 1),
             "code_bytes": int(systems[n][1]), "scan_bytes": round(float(systems[n][2]), 1),
             "memory_bytes": round(float(systems[n][3]), 1)} for n in systems]
    for row in rows:
        extra = systems[row["system"]][4:]
        if extra:
            row["ex_per_query"] = round(float(extra[0].last_ex_counts.mean()), 1)
    for row in rows:
        print(f"{row['system']:<60} recall@10 {row['recall@10']:.4f}  QPS {row['qps']:>9.1f}  "
              f"code {row['code_bytes']} B, scan {row['scan_bytes']} B, "
              f"memory {row['memory_bytes']} B")
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"dataset": data.name, "n": int(base.shape[0]), "queries": len(queries), "k": 10,
                "threads": a.threads, "rounds": a.rounds, "qps": "best of the interleaved rounds",
                "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "load_average_before": round(load_before, 2),
                "load_average_after": round(os.getloadavg()[0], 2),
                "vecpress": vecpress.__version__, "simd": vecpress.simd_level()}
        (out / "results.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
