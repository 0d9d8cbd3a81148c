"""Time to open a saved index with ``vecpress.load(path, mmap=True)`` versus ``mmap=False``,
and the resident memory after opening (issue 13).

Each measurement runs in a fresh Python process (so neither the allocator nor the page
tables remember an earlier open): it imports vecpress, reads its RSS from
``/proc/self/status``, opens the file, reads the RSS again, then times the first search
(1 query: the pages a mapped index has not touched yet are read here) and 100 more.
Modes alternate, ``--repeats`` times each, and medians are reported. "warm" runs find the
file in the page cache; "cold" runs first ask the kernel to drop the file's cached pages
(``posix_fadvise(DONTNEED)``: no root needed, honoured for clean pages nobody maps).

    PYTHONPATH=python python benchmarks/open_time.py --index /tmp/vecpress-bench/....vp \\
        --dataset ../shared/data/wordnet-minilm

RSS is split into RssAnon (private memory: arrays read into RAM) and RssFile (pages of
mapped files, which the kernel can drop and re-read at will).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "service-load"


def rss_mb() -> dict[str, float]:
    """This process's VmRSS, RssAnon and RssFile in MB (/proc/self/status)."""
    status = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) / 1024
            for k in ("VmRSS", "RssAnon", "RssFile")}


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def child(path: str, mmap: bool, queries_path: str | None) -> dict:
    """One measurement, in this (fresh) process."""
    import vecpress as vp

    q = (np.load(queries_path)[:101].astype(np.float32) if queries_path
         else np.random.default_rng(0).standard_normal((101, 384), dtype=np.float32))
    before = rss_mb()
    t0 = time.perf_counter()
    index = vp.load(path, mmap=mmap)
    open_s = time.perf_counter() - t0
    after = rss_mb()
    t0 = time.perf_counter()
    index.search(q[:1], 10)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(1, 101):
        index.search(q[i:i + 1], 10)
    next100_s = time.perf_counter() - t0
    return {"open_s": open_s, "first_search_s": first_s, "next_100_searches_s": next100_s,
            "rss_before_mb": before, "rss_after_open_mb": after, "rss_after_search_mb": rss_mb(),
            "n": len(index), "class": type(index).__name__}


def measure(path: Path, mmap: bool, cold: bool, queries: Path | None) -> dict:
    if cold:
        drop_cache(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "python"),
                                                        os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, __file__, "--child", str(path)] + (["--mmap"] if mmap else []) + (
        ["--queries", str(queries)] if queries else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, help="a saved index file")
    p.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" /
                   "wordnet-minilm", help="queries.npy of this folder are searched")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--mmap", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--queries", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.mmap, args.queries)))
        return {}
    if args.index is None:
        p.error("--index is required (benchmarks/load_test.py builds and names one)")
    queries = args.dataset / "queries.npy"
    queries = queries if queries.exists() else None
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeats):
        for cold in (False, True):
            for mmap in (False, True):
                key = f"{'mmap' if mmap else 'read'}-{'cold' if cold else 'warm'}"
                runs.setdefault(key, []).append(measure(args.index, mmap, cold, queries))

    def med(rs: list[dict], *keys: str) -> float:
        vals = []
        for r in rs:
            v = r
            for k in keys:
                v = v[k]
            vals.append(v)
        return float(np.median(vals))

    summary = {}
    for key, rs in runs.items():
        summary[key] = {
            "open_s": med(rs, "open_s"), "first_search_ms": 1e3 * med(rs, "first_search_s"),
            "next_100_searches_ms": 1e3 * med(rs, "next_100_searches_s"),
            **{f"{when}_{k}_mb": med(rs, f"rss_{when}_mb", k)
               for when in ("before", "after_open", "after_search")
               for k in ("VmRSS", "RssAnon", "RssFile")},
        }
    import vecpress as vp

    result = {"index_file": str(args.index), "file_mb": args.index.stat().st_size / 2**20,
              "class": runs["read-warm"][0]["class"], "n": runs["read-warm"][0]["n"],
              "repeats": args.repeats, "summary": summary, "runs": runs,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "vecpress": vp.__version__,
                          "load_avg": os.getloadavg()}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "open_time.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (args.out / "open_time.md").write_text(md)
    print(md)
    return result


def markdown(r: dict) -> str:
    lines = [
        "# Opening a saved index: mmap=True vs mmap=False",
        "",
        f"{r['class']} with {r['n']:,} vectors, file {r['file_mb']:.1f} MB ({r['index_file']}). "
        f"Each row: median of {r['repeats']} fresh processes; RSS grows from the process "
        "with vecpress imported (`before`) to after `vecpress.load` (`open`) and after 101 "
        "one-query searches (`search`). Cold: the file's cached pages dropped first "
        "(posix_fadvise DONTNEED).",
        "",
        "| mode | open s | first search ms | next 100 searches ms | RSS +open MB | "
        "anon +open MB | file +open MB | RSS +search MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key, s in sorted(r["summary"].items()):
        lines.append(
            f"| {key} | {s['open_s']:.3f} | {s['first_search_ms']:.1f} | "
            f"{s['next_100_searches_ms']:.1f} | "
            f"{s['after_open_VmRSS_mb'] - s['before_VmRSS_mb']:.1f} | "
            f"{s['after_open_RssAnon_mb'] - s['before_RssAnon_mb']:.1f} | "
            f"{s['after_open_RssFile_mb'] - s['before_RssFile_mb']:.1f} | "
            f"{s['after_search_VmRSS_mb'] - s['before_VmRSS_mb']:.1f} |")
    m = r["machine"]
    lines += ["", f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, "
                  f"vecpress {m['vecpress']}, load average {m['load_avg'][0]:.2f} at the end."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
