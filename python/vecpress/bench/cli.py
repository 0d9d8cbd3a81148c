"""Command line of the harness: ``vecpress bench`` and ``python -m vecpress.bench``."""
from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="sample",
                   help="'sample' (bundled), a directory with base.npy/queries.npy[/gt_ids.npy, "
                        "qrels.tsv], or an ann-benchmarks .hdf5 file (default: sample)")
    from .configs import builtin_grids

    p.add_argument("--grid", default="default",
                   help=f"built-in grid ({', '.join(builtin_grids()) or 'none found'}; the JSON "
                        "files of benchmarks/configs) or a JSON file of configs (default: default)")
    p.add_argument("--only", nargs="+", metavar="SUBSTR",
                   help="run only configs whose name contains one of these")
    p.add_argument("--out", help="output directory (results.jsonl, results.md, PNG plots); "
                                 "default: benchmarks/results/<dataset name>")
    p.add_argument("--queries", type=int, default=1000, help="queries used (default 1000)")
    p.add_argument("--latency-queries", type=int, default=200,
                   help="queries searched one at a time for latency (default 200)")
    p.add_argument("--latency-budget", type=float, default=1.5,
                   help="seconds per run and round for the single-query loop, at least 20 "
                        "queries (default 1.5; 0 = time all --latency-queries)")
    p.add_argument("--batch", type=int, default=1000, help="queries per batch (default 1000)")
    p.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds (default 3)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--train-size", type=int, default=25_000,
                   help="training sample rows when a config does not say (default 25000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--omp-passive", action="store_true",
                   help="set OMP_WAIT_POLICY=PASSIVE for faiss's OpenMP threads: on a machine "
                        "shared with other jobs, spin-waiting OpenMP barriers make faiss many "
                        "times slower than its code is (vecpress's threads block instead)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--list", action="store_true",
                   help="print the grid (after 'extends', 'exclude' and --only) as JSON and exit")


def run_from_args(args) -> int:
    import os
    from pathlib import Path

    if args.omp_passive:
        if "faiss" in sys.modules and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
            print("warning: faiss is already loaded, --omp-passive has no effect; set "
                  "OMP_WAIT_POLICY=PASSIVE in the environment instead", file=sys.stderr)
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # read when libgomp starts (faiss import)

    from .configs import load_grid
    from .data import open_dataset
    from .runner import run_benchmark

    try:
        grid = load_grid(args.grid, args.only)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        print(json.dumps(grid, indent=2))
        return 0
    try:
        ds = open_dataset(args.dataset, args.queries)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("benchmarks") / "results" / ds.name
    records = run_benchmark(ds, grid, out, k=args.k, batch=args.batch,
                            latency_queries=args.latency_queries,
                            latency_budget_s=args.latency_budget or None, repeats=args.repeats,
                            threads=args.threads, train_size=args.train_size, seed=args.seed,
                            progress=not args.no_progress, plots=not args.no_plots)
    print((out / "results.md").read_text())
    print(f"wrote {out}/results.jsonl, results.md" + ("" if args.no_plots else
                                                     ", recall_qps.png, recall_bytes.png"))
    return 0 if any(r["status"] == "ok" for r in records) else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vecpress.bench",
                                description="Recall / QPS / latency / memory of vecpress "
                                            "indexes against faiss and hnswlib.")
    add_arguments(p)
    return run_from_args(p.parse_args(argv))
