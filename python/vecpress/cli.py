"""The ``vecpress`` command line."""
from __future__ import annotations

import argparse
import json
import sys
import time


def _time_search(index, queries, k, repeats=3):
    index.search(queries[: min(10, len(queries))], k)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, ids = index.search(queries, k)
        best = min(best, time.perf_counter() - t0)
    return ids, queries.shape[0] / best


def demo_indexes(dim: int):
    """The index configurations the demo compares (name, index)."""
    from .indexes import BinaryIndex, FlatIndex, IVFIndex, MatryoshkaIndex, RaBitQIndex
    from .quantizers import ProductQuantizer

    return [
        ("exact (FlatIndex)", FlatIndex(dim, "ip")),
        ("matryoshka 128->384, raw", MatryoshkaIndex(dim, "ip", dims=(128, dim), rerank=100)),
        ("matryoshka 128->384, pca", MatryoshkaIndex(dim, "ip", dims=(128, dim), rerank=100,
                                                      rotation="pca")),
        ("binary 384 bits + rerank 100", BinaryIndex(dim, "ip", rerank=100)),
        ("binary asym 384 bits + rerank 100", BinaryIndex(dim, "ip", rerank=100, query="float")),
        ("binary 128 pca bits + rerank 100", BinaryIndex(dim, "ip", bits=128, rotation="pca",
                                                         query="float", rerank=100)),
        # RaBitQ: sign bits of a randomly rotated vector plus per-vector corrections, scored
        # with an unbiased estimator (fast-scan); 4 bits per dimension needs no rerank
        ("RaBitQ 1 bit/dim + rerank 100", RaBitQIndex(dim, "ip", rerank=100)),
        ("RaBitQ 4 bits/dim, no rerank", RaBitQIndex(dim, "ip", ex_bits=3, rerank=0)),
        # the index to use at scale: only the probed lists are scanned, and the rerank
        # store stays in the file (memory-mapped) instead of RAM
        ("IVF16 PQ 4-bit + rerank 100 (store mmap)",
         IVFIndex(dim, 16, ProductQuantizer(dim, dim // 4, 4), "ip", nprobe=12, rerank=100)),
    ]


def run_demo(k: int = 10, threads: int | None = None, out=None) -> list[dict]:
    """Build the demo indexes over the bundled sample and report recall@k vs
    exact search, queries/second and bytes per vector."""
    from . import runtime
    from .datasets import load_sample
    from .metrics import recall_at_k

    out = sys.stdout if out is None else out
    if threads:
        runtime.set_num_threads(threads)
    ds = load_sample()
    gt = ds.ensure_ground_truth(k)
    print(f"vecpress demo: {ds.name}: {ds.base.shape[0]} base x {ds.dim}-d, "
          f"{ds.queries.shape[0]} queries, k={k}, SIMD {runtime.simd_level()}, "
          f"{runtime.get_num_threads()} threads", file=out)
    rows = []
    for name, index in demo_indexes(ds.dim):
        t0 = time.perf_counter()
        if not index.is_trained:
            index.train(ds.base)
        index.add(ds.base)
        build = time.perf_counter() - t0
        if "mmap" in name:
            index = _reopen_mapped(index)
        ids, qps = _time_search(index, ds.queries, k)
        disk = getattr(index, "memory_report", lambda: {})().get("store_on_disk", 0.0)
        rows.append({"index": name, f"recall@{k}": recall_at_k(ids, gt, k), "qps": qps,
                     "bytes_per_vector": index.bytes_per_vector(), "disk_bytes_per_vector": disk,
                     "scanned_bytes_per_vector": (None if hasattr(index, "nlist") else
                                                  getattr(index, "code_bytes", 4 * ds.dim)),
                     "build_s": build})
    w = max(len(r["index"]) for r in rows)
    print(f"\n{'index':<{w}}  recall@{k}      QPS  bytes/vec  disk B/vec  scanned B/vec  "
          "build s", file=out)
    for r in rows:
        scanned = r["scanned_bytes_per_vector"]
        print(f"{r['index']:<{w}}  {r[f'recall@{k}']:>9.3f}  {r['qps']:>7.0f}  "
              f"{r['bytes_per_vector']:>9.0f}  {r['disk_bytes_per_vector']:>10.0f}  "
              f"{'lists' if scanned is None else f'{scanned:.0f}':>13}  {r['build_s']:>7.2f}",
              file=out)
    print("\nrecall is against exact search on the same sample; 'scanned' is what the first "
          "stage reads per vector ('lists': only the probed inverted lists); bytes/vec is RAM, 'disk' a "
          "memory-mapped rerank store.", file=out)
    return rows


def _reopen_mapped(index):
    """The index saved and loaded back with mmap=True (its rerank store stays on disk)."""
    import os
    import tempfile

    from .indexes import load

    fd, path = tempfile.mkstemp(suffix=".vp")
    os.close(fd)
    index.save(path)
    mapped = load(path, mmap=True)
    os.unlink(path)  # the map keeps the data readable until the index is dropped
    return mapped


def _cmd_info(args) -> int:
    from . import runtime
    from .errors import FormatError
    from .io import read_header

    if args.file is None:
        print(json.dumps(runtime.info(), indent=2))
        return 0
    try:
        header, _, size = read_header(args.file)
    except FormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    params = header.get("params", {})
    rows = next((e["shape"][0] for e in header["arrays"] if e["name"] == "ids"), None)
    print(f"{args.file}: {header['class']} written by {header.get('library', '?')}")
    print(f"  vectors: {rows}  size: {size} bytes")
    for key, value in params.items():
        print(f"  {key}: {value}")
    for e in header["arrays"]:
        print(f"  array {e['name']}: {e['dtype']} {tuple(e['shape'])}")
    return 0


def _cmd_serve(args) -> int:
    try:
        from .serve import serve
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("fastapi", "uvicorn", "starlette", "pydantic"):
            print(f"error: vecpress serve needs {e.name}, which is not installed: "
                  'pip install "vecpress[serve]"', file=sys.stderr)
            return 2
        raise
    try:
        import uvicorn  # noqa: F401  (serve imports it only when it starts)
    except ModuleNotFoundError:
        print('error: vecpress serve needs uvicorn, which is not installed: '
              'pip install "vecpress[serve]"', file=sys.stderr)
        return 2
    from .errors import FormatError

    try:
        serve(args.file, host=args.host, port=args.port, mmap=args.mmap,
              save_path=args.save_path, log_level=args.log_level,
              access_log=not args.no_access_log)
    except (FormatError, OSError) as e:  # a missing or invalid index file
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vecpress", description="Compressed vector search.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("demo", help="build exact, Matryoshka and binary indexes on the bundled "
                                    "sample and print recall / QPS / bytes per vector")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p = sub.add_parser("info", help="describe an index file, or this build when no file is given")
    p.add_argument("file", nargs="?")
    p = sub.add_parser("prefix-curve", help="recall vs Matryoshka prefix length for a dataset "
                                            "directory (base.npy, queries.npy)")
    p.add_argument("path", help="directory with base.npy and queries.npy")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--rerank", type=int, default=100,
                   help="candidates rescored on the full vectors (default 100)")
    p.add_argument("--queries", type=int, default=1000)
    p = sub.add_parser("serve", help="serve an index file over HTTP (FastAPI + uvicorn; "
                                     "see docs/service.md)")
    p.add_argument("file", help="an index saved with Index.save")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    p.add_argument("--mmap", action="store_true",
                   help="open the file memory-mapped (load(path, mmap=True))")
    p.add_argument("--save-path", default=None,
                   help="where POST /save writes (default: the index file itself)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--no-access-log", action="store_true", help="no line per request")
    p = sub.add_parser("bench", help="recall / QPS / latency / memory against faiss and hnswlib "
                                     "(see benchmarks/README.md)")
    from .bench.cli import add_arguments, run_from_args
    add_arguments(p)
    args = parser.parse_args(argv)
    if args.cmd == "bench":
        return run_from_args(args)
    if args.cmd == "demo":
        run_demo(args.k, args.threads)
        return 0
    if args.cmd == "info":
        return _cmd_info(args)
    if args.cmd == "serve":
        return _cmd_serve(args)
    if args.cmd == "prefix-curve":
        from .datasets import load_npy_dir
        from .indexes import prefix_recall_curve

        ds = load_npy_dir(args.path, args.queries)
        prefix_recall_curve(ds.base, ds.queries, args.k, args.rerank,
                            ground_truth=ds.gt_ids)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
