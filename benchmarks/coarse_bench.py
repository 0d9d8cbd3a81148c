"""The inverted file's coarse step at large nlist (vecpress.indexes.coarse): what training,
assigning and probing cost as nlist grows to 65,536.

For each nlist a two-level coarse quantizer is trained on a sample and every base vector is
assigned as IVFIndex.add does (among its 4 nearest groups' centroids). Reported:

- train and assign seconds, and the share of a 20,000-row sample assigned to its exact
  nearest centroid;
- per nprobe: the flat probing step's time per query, batch 1000 and batch 1 (median of
  interleaved rounds), and coarse recall@10 (the share of each query's 10 true neighbours
  whose list is probed).

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=python python benchmarks/coarse_bench.py \\
        --dataset DIR --nlist 4096 16384 65536 --out benchmarks/results/coarse-1m
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


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--nlist", type=int, nargs="+", default=[4096, 16384, 65536])
    p.add_argument("--probe-fractions", type=float, nargs="+", default=[1 / 256, 1 / 64, 1 / 16])
    p.add_argument("--train", type=int, default=400_000, help="training sample rows")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--batch1", type=int, default=100, help="queries timed one at a time")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ds = load_npy_dir(a.dataset, max_queries=a.queries)
    x, q = ds.base, np.ascontiguousarray(ds.queries, dtype=np.float32)
    metric = _core.METRICS["l2" if ds.metric == "l2" else "ip"]
    rng = np.random.default_rng(0)
    sample = np.ascontiguousarray(
        x[np.sort(rng.choice(len(x), min(a.train, len(x)), replace=False))], dtype=np.float32)
    check = np.ascontiguousarray(x[np.sort(rng.choice(len(x), min(20_000, len(x)),
                                                      replace=False))], dtype=np.float32)
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
        exact, _ = _core.kmeans_assign(check, cen, a.threads)
        agree = float((tl.nearest(cen, check, 1, a.threads)[1][:, 0] == exact).mean())
        gl = lists[ds.gt_ids[:, :10]]  # (nq, 10) list of each true neighbour
        for frac in a.probe_fractions:
            nprobe = max(1, round(nlist * frac))
            batch, single = [], []
            for _ in range(a.rounds):  # interleaved
                batch.append(timed(lambda n=nprobe: CPU.flat_search(cen, q, q.shape[1], metric,
                                                                    n, a.threads)))
                single.append(timed(lambda n=nprobe: [
                    CPU.flat_search(cen, q[i:i + 1], q.shape[1], metric, n, a.threads)
                    for i in range(a.batch1)]))
            _, probes = CPU.flat_search(cen, q, q.shape[1], metric, nprobe, a.threads)
            hit = (gl[:, :, None] == probes[:, None, :]).any(2)
            row = {"nlist": nlist, "nprobe": nprobe, "train_s": round(train_s, 1),
                   "assign_s": round(assign_s, 1), "assign_exact": round(agree, 4),
                   "probe_us_b1000": 1e6 * float(np.median(batch)) / len(q),
                   "probe_us_b1": 1e6 * float(np.median(single)) / a.batch1,
                   "coarse_recall10": float(hit.mean())}
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = [f"# Coarse step at large nlist, {Path(a.dataset).name}", "",
             f"{len(x):,} base vectors, {len(q):,} queries, {a.threads} threads; two-level "
             f"coarse quantizer trained on {len(sample):,} rows; probing scores every "
             f"centroid; times per query, median of {a.rounds} interleaved rounds. Assign "
             "exact: share of 20,000 rows given their exact nearest centroid. Coarse R@10: "
             "share of the true top-10 whose list is probed.", "",
             "| nlist | train s | assign s (all rows) | assign exact | nprobe | probe µs b1000 | "
             "probe µs b1 | coarse R@10 |", "|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(f"| {r['nlist']:,} | {r['train_s']} | {r['assign_s']} | "
                     f"{r['assign_exact']} | {r['nprobe']:,} | {r['probe_us_b1000']:.1f} | "
                     f"{r['probe_us_b1']:.1f} | {r['coarse_recall10']:.4f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
