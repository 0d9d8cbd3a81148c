"""Filtered search on wordnet-minilm: recall@10 against exact filtered ground truth (numpy)
and QPS, for every vecpress index type and for faiss and hnswlib, in one process.

Filters: random subsets and "clustered" subsets (the base vectors nearest to one random
base vector) passing 50%, 10%, 1% and 0.1% of the ids. Each system answers all queries in
one batch call (hnswlib: its filter callable); systems run interleaved, best of `--repeats`.

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=python python benchmarks/filter_bench.py \
        --out benchmarks/results/filter-wordnet
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import vecpress as vp
from vecpress.datasets import load_npy_dir

FRACTIONS = (0.5, 0.1, 0.01, 0.001)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth)]))


def filtered_truth(base: np.ndarray, q: np.ndarray, allow: np.ndarray, k: int) -> np.ndarray:
    rows = np.sort(allow)
    out = np.empty((len(q), k), np.int64)
    for s in range(0, len(q), 100):  # exact, in numpy
        sc = q[s:s + 100] @ base[rows].T
        out[s:s + 100] = rows[np.argsort(-sc, axis=1, kind="stable")[:, :k]]
    return out


def vecpress_systems(dim: int) -> dict:
    return {
        "vecpress Flat (exact)": vp.FlatIndex(dim),
        "vecpress Matryoshka 128->384 pca, rerank 100":
            vp.MatryoshkaIndex(dim, dims=(128, dim), rerank=100, rotation="pca"),
        "vecpress Binary (float query), rerank 100":
            vp.BinaryIndex(dim, rerank=100, query="float"),
        "vecpress PQ96x4 fast-scan, rerank 100": vp.PQIndex(dim, M=96, nbits=4, rerank=100),
        "vecpress RQ 16x8 bits, rerank 100": vp.RQIndex(dim, M=16, nbits=8, rerank=100),
        "vecpress IVF256 PQ96x4, nprobe 128, rerank 100":
            vp.IVFIndex(dim, 256, vp.ProductQuantizer(dim, 96, 4), nprobe=128, rerank=100),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "wordnet-minilm"))
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--hnsw-queries", type=int, default=200,
                    help="queries for hnswlib (its Python filter callable is slow)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated system name fragments to skip")
    ap.add_argument("--out", default="benchmarks/results/filter-wordnet")
    args = ap.parse_args()
    skip = [s for s in args.skip.split(",") if s]
    k = 10
    ds = load_npy_dir(Path(args.data), args.queries)
    base, q = ds.base, ds.queries.astype(np.float32)
    n, dim = base.shape
    vp.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    nearest = np.argsort(-(base @ base[rng.integers(n)]))
    filters = []
    for f in FRACTIONS:
        m = max(k, int(round(f * n)))
        filters.append((f"random {f:.1%}", rng.choice(n, m, replace=False).astype(np.int64)))
        filters.append((f"clustered {f:.1%}", nearest[:m].astype(np.int64)))

    systems = {}  # name -> (search(allow) -> ids, build seconds)
    for name, index in vecpress_systems(dim).items():
        if any(s in name for s in skip):
            continue
        t0 = time.perf_counter()
        if not index.is_trained:
            index.train(base[::2] if "RQ" not in name else base[:20000])
        index.add(base)
        built = time.perf_counter() - t0
        systems[name] = ((lambda idx: lambda allow, qq: idx.search(qq, k, filter=allow)[1])(index),
                         built)
        print(f"built {name} in {built:.1f} s", flush=True)

    import faiss  # noqa: E402  (peers are optional)
    faiss.omp_set_num_threads(args.threads)
    t0 = time.perf_counter()
    fflat = faiss.IndexFlatIP(dim)
    fflat.add(base)
    systems["faiss IndexFlatIP + IDSelectorBatch"] = (
        lambda allow, qq: fflat.search(qq, k, params=faiss.SearchParameters(
            sel=faiss.IDSelectorBatch(allow)))[1], time.perf_counter() - t0)
    t0 = time.perf_counter()
    fivf = faiss.index_factory(dim, "IVF256,PQ96x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)
    fivf.train(base[::2])
    fivf.add(base)

    def faiss_ivf(allow, qq):
        bits = np.zeros((n + 7) // 8, np.uint8)
        np.bitwise_or.at(bits, allow >> 3, (1 << (allow & 7)).astype(np.uint8))
        sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        p = faiss.IndexRefineSearchParameters(
            k_factor=10, base_index_params=faiss.SearchParametersIVF(sel=sel, nprobe=128))
        return fivf.search(qq, k, params=p)[1]
    systems["faiss IVF256,PQ96x4fs,RFlat nprobe 128 k_factor 10 + IDSelectorBitmap"] = (
        faiss_ivf, time.perf_counter() - t0)
    print("built faiss", flush=True)

    if not any("hnsw" in s for s in skip):
        import hnswlib
        t0 = time.perf_counter()
        h = hnswlib.Index("ip", dim)
        h.init_index(n, M=16, ef_construction=200, random_seed=1)
        h.set_num_threads(args.threads)
        h.add_items(base, np.arange(n))
        h.set_ef(128)
        hb = time.perf_counter() - t0

        def hnsw(allow, qq):
            ok = np.zeros(n, bool)
            ok[allow] = True
            return h.knn_query(qq[: args.hnsw_queries], k, filter=lambda i: bool(ok[i]))[0]
        systems["hnswlib M16 efC200 ef128 + filter callable"] = (hnsw, hb)
        print(f"built hnswlib in {hb:.1f} s", flush=True)

    rows = []
    for label, allow in filters:
        truth = filtered_truth(base, q, allow, k)
        for name, (search, built) in systems.items():
            best, ids = float("inf"), None
            # hnswlib calls a Python filter per visited node: one round (minutes at 1%)
            for _ in range(1 if name.startswith("hnswlib") else args.repeats):
                t0 = time.perf_counter()
                ids = np.asarray(search(allow, q))
                best = min(best, time.perf_counter() - t0)
            nq = len(ids)
            rows.append({"filter": label, "passing": int(len(allow)), "system": name,
                         "recall@10": round(recall(ids, truth[:nq]), 4),
                         "qps": round(nq / best, 1), "queries": nq,
                         "only_passing": bool(np.isin(ids[ids >= 0], allow).all()),
                         "full_k": bool((ids >= 0).all()), "build_s": round(built, 1)})
            print(f"{label:16s} {name:70s} R@10 {rows[-1]['recall@10']:.3f} "
                  f"{rows[-1]['qps']:9.1f} qps", flush=True)
        # unfiltered reference for each system
    unfiltered = {}
    truth = filtered_truth(base, q, np.arange(n), k)
    for name, (search, _) in systems.items():
        if name.startswith("vecpress") or name.startswith("faiss"):
            ids = np.asarray(search(np.arange(n, dtype=np.int64), q))
            unfiltered[name] = round(recall(ids, truth[:len(ids)]), 4)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"dataset": f"wordnet-minilm {n} x {dim}", "queries": len(q), "k": k,
            "threads": args.threads, "machine": platform.processor() or platform.machine(),
            "load_avg_at_end": os.getloadavg(), "repeats": args.repeats,
            "unfiltered_recall_at_10": unfiltered, "vecpress": vp.__version__}
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["# Filtered search, wordnet-minilm", "",
             f"{len(q)} queries (hnswlib: the first {args.hnsw_queries}, one round), k=10, "
             f"{args.threads} threads, best of {args.repeats}; load average at the end "
             f"{os.getloadavg()[0]:.1f}. "
             "Recall against exact filtered ground truth computed with numpy.", "",
             "Unfiltered recall@10: " + ", ".join(f"{k_}: {v}" for k_, v in unfiltered.items()),
             "", "| filter | system | recall@10 | QPS | only passing ids | k results |",
             "|---|---|--:|--:|:-:|:-:|"]
    for r in rows:
        lines.append(f"| {r['filter']} | {r['system']} | {r['recall@10']:.3f} | {r['qps']:,.0f} "
                     f"| {'yes' if r['only_passing'] else 'NO'} | "
                     f"{'yes' if r['full_k'] else 'no'} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
