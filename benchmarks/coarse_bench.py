"""The inverted file's coarse step at large nlist: a flat scan of every centroid against the
two-level coarse quantizer (vecpress.indexes.coarse), on the same centroids.

For each nlist the two-level quantizer is trained on a sample (its centroids are the index's
lists) and every base vector is assigned to a list as IVFIndex.add does. Then, per nprobe:

- time per query of the coarse step, batch 1000 and batch 1 (median of interleaved rounds);
- coarse recall@10: the share of each query's 10 true neighbours whose list is probed;
- overlap: the share of the exact top-nprobe lists that the two-level search finds.

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=python python benchmarks/coarse_bench.py \\
        --dataset ../shared/data/wordnet-minilm --nlist 1024 4096 16384 --out DIR
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vecpress import _core
from vecpress.backends import CPU
from vecpress.datasets import load_npy_dir
from vecpress.indexes.coarse import TwoLevelCoarse


def timed(fn, rounds: int) -> float:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return float(np.median(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--nlist", type=int, nargs="+", default=[4096, 16384, 65536])
    p.add_argument("--probe-fractions", type=float, nargs="+", default=[1 / 64, 1 / 16, 1 / 8])
    p.add_argument("--train", type=int, default=400_000, help="training sample rows")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--batch1", type=int, default=100, help="queries timed one at a time")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ds = load_npy_dir(a.dataset, max_queries=a.queries)
    x, q = ds.base, np.ascontiguousarray(ds.queries, dtype=np.float32)
    gt = ds.gt_ids[:, :10]
    metric = _core.METRICS["l2" if ds.metric == "l2" else "ip"]
    rng = np.random.default_rng(0)
    sample = np.ascontiguousarray(
        x[np.sort(rng.choice(len(x), min(a.train, len(x)), replace=False))], dtype=np.float32)
    rows = []
    for nlist in a.nlist:
        tl = TwoLevelCoarse()
        t0 = time.perf_counter()
        cen = tl.train(sample, nlist, 10, 1234, a.threads)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lists = np.concatenate([
            tl.nearest(cen, np.ascontiguousarray(x[s:s + 65536], dtype=np.float32), 1,
                       a.threads)[1][:, 0] for s in range(0, len(x), 65536)])
        assign_s = time.perf_counter() - t0
        gl = lists[gt]  # (nq, 10) list of each true neighbour
        for frac in a.probe_fractions:
            nprobe = max(1, round(nlist * frac))

            def flat(qq=q, n=nprobe):
                return CPU.flat_search(cen, qq, qq.shape[1], metric, n, a.threads)

            def two(qq=q, n=nprobe):
                return tl.probes(CPU, cen, qq, metric, n, a.threads)

            def flat1(n=nprobe):
                for i in range(a.batch1):
                    flat(q[i:i + 1], n)

            def two1(n=nprobe):
                for i in range(a.batch1):
                    two(q[i:i + 1], n)

            fb, tb, f1, t1 = [], [], [], []
            for _ in range(a.rounds):  # interleaved
                fb.append(timed(flat, 1))
                tb.append(timed(two, 1))
                f1.append(timed(flat1, 1))
                t1.append(timed(two1, 1))
            _, fp = flat()
            _, tp = two()
            rec = {}
            for name, pr in (("flat", fp), ("two-level", tp)):
                hit = (gl[:, :, None] == pr[:, None, :]).any(2)
                rec[name] = float(hit.mean())
            overlap = float(np.mean([len(np.intersect1d(a_, b_)) / nprobe
                                     for a_, b_ in zip(fp, tp)]))
            row = {"nlist": nlist, "nprobe": nprobe, "train_s": round(train_s, 1),
                   "assign_s": round(assign_s, 1),
                   "flat_us_b1000": 1e6 * float(np.median(fb)) / len(q),
                   "two_us_b1000": 1e6 * float(np.median(tb)) / len(q),
                   "flat_us_b1": 1e6 * float(np.median(f1)) / a.batch1,
                   "two_us_b1": 1e6 * float(np.median(t1)) / a.batch1,
                   "coarse_recall10_flat": rec["flat"], "coarse_recall10_two": rec["two-level"],
                   "overlap": overlap}
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = [f"# Coarse step: flat scan vs two-level, {Path(a.dataset).name}", "",
             f"{len(x):,} base vectors, {len(q):,} queries, {a.threads} threads; two-level "
             f"trained on {len(sample):,} rows; times are per query, median of {a.rounds} "
             "interleaved rounds. Coarse recall@10: share of the true top-10 whose list is "
             "probed. Overlap: share of the exact top-nprobe lists the two-level search finds.",
             "", "| nlist | nprobe | train s | assign s | flat µs b1000 | two-level µs b1000 | "
             "flat µs b1 | two-level µs b1 | coarse R@10 flat | coarse R@10 two-level | overlap |",
             "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(f"| {r['nlist']:,} | {r['nprobe']:,} | {r['train_s']} | {r['assign_s']} | "
                     f"{r['flat_us_b1000']:.1f} | {r['two_us_b1000']:.1f} | {r['flat_us_b1']:.1f} | "
                     f"{r['two_us_b1']:.1f} | {r['coarse_recall10_flat']:.4f} | "
                     f"{r['coarse_recall10_two']:.4f} | {r['overlap']:.3f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
