"""vecpress.distributed on one machine: encoding throughput of Ray Data workers against the
single-process encoder, and the sharded index's search (QPS, recall) against the
single-process IVFIndex with the same trained model, nprobe and rerank (the fan-out cost).

    PYTHONPATH=python OMP_WAIT_POLICY=PASSIVE python benchmarks/distributed_bench.py \\
        --dataset /work/scale1m --out benchmarks/results/distributed-1m

The dataset is a folder with base.npy (n, dim) float32, queries.npy and gt_ids.npy (exact
top-100). Writes results.json and results.md to --out. Every figure is the median of
--repeats timed runs; the machine's load average is recorded at each step, since other
work on a shared machine slows both sides.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import time
from pathlib import Path

import numpy as np

import vecpress as vp
from vecpress import _core


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def recall_at(ids: np.ndarray, gt: np.ndarray, k: int = 10) -> float:
    return float(np.mean([np.intersect1d(a[:k], b[:k]).size / k for a, b in zip(ids, gt)]))


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def copy_index(index):
    return pickle.loads(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", default="/work/scale1m")
    ap.add_argument("--out", default="benchmarks/results/distributed-1m")
    ap.add_argument("--label", default="1M scale set (synthetic scale-up of real wordnet-minilm "
                                       "embeddings)")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--M", type=int, default=96)
    ap.add_argument("--nbits", type=int, default=4)
    ap.add_argument("--rerank", type=int, default=100)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2, help="shard actors")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--train", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="use the first N base vectors (0: all)")
    ap.add_argument("--coarse-nlist", type=int, nargs="*", default=[1024, 16384, 65536],
                    help="also time coarse quantization (1,000 queries, nprobe 256) at these nlist")
    args = ap.parse_args()

    import ray

    from vecpress.distributed import ShardedIVFIndex, encode

    t_start = time.perf_counter()
    data = Path(args.dataset)
    base = np.load(data / "base.npy", mmap_mode="r")
    base_path = str(data / "base.npy")
    if args.limit:
        base = base[:args.limit]
        base_path = [np.ascontiguousarray(base)]
    n, dim = base.shape
    queries = np.load(data / "queries.npy")[:args.queries].astype(np.float32)
    gt = np.load(data / "gt_ids.npy")[:args.queries]
    steps: dict[str, dict] = {}
    results: dict = {
        "label": args.label, "dataset": str(data), "n": int(n), "dim": int(dim),
        "queries": len(queries), "k": 10,
        "config": {"nlist": args.nlist, "M": args.M, "nbits": args.nbits, "rerank": args.rerank,
                   "store": "float32", "shards": args.shards, "shard_workers": args.workers,
                   "train": args.train, "repeats": args.repeats},
        "machine": {**vp.info(), "cpus": os.cpu_count(), "ray": ray.__version__,
                    "numpy": np.__version__, "python": platform.python_version(),
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
        "load_at_start": load(), "steps": steps,
    }
    print(f"n={n} dim={dim} load {load()}", flush=True)

    rng = np.random.default_rng(0)
    sample = np.asarray(base[np.sort(rng.choice(n, min(args.train, n), replace=False))])
    t = time.perf_counter()
    trained = vp.IVFIndex(dim, nlist=args.nlist, rerank=args.rerank,
                          quantizer=vp.ProductQuantizer(dim, args.M, args.nbits))
    trained.train(sample)
    steps["train"] = {"seconds": round(time.perf_counter() - t, 2), "load": load()}
    print("train", steps["train"], flush=True)

    # ---- encoding: single process (IVFIndex.add, 1 and 2 threads) ------------------------
    single = None
    for threads in (1, 2):
        ix = copy_index(trained)
        vp.set_num_threads(threads)
        x = np.ascontiguousarray(base)
        t = time.perf_counter()
        ix.add(x)
        dt = time.perf_counter() - t
        del x
        steps[f"single_add_{threads}t"] = {"seconds": round(dt, 2), "vectors_per_s": round(n / dt),
                                           "threads": threads, "load": load()}
        print(f"single add {threads}t", steps[f"single_add_{threads}t"], flush=True)
        single = ix
    vp.set_num_threads(None)

    # ---- the router's coarse quantization at larger nlist (random centroids: the cost only
    # depends on nlist x dim), for docs/scale.md ------------------------------------------
    coarse = []
    crng = np.random.default_rng(1)
    for nlist in args.coarse_nlist:
        cent = crng.standard_normal((nlist, dim)).astype(np.float32)
        metric = _core.METRICS["ip"]
        _core.flat_search(cent, queries[:50], dim, metric, 256, 2)
        dt, _ = timed(lambda cent=cent: _core.flat_search(cent, queries, dim, metric, 256, 2),
                      args.repeats)
        coarse.append({"nlist": nlist, "qps": round(len(queries) / dt), "threads": 2,
                       "load": load()})
        print("coarse", coarse[-1], flush=True)
    results["coarse_quantization"] = coarse

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False

    # ---- encoding: Ray Data workers (1 thread each), read from the .npy file -----------
    for workers in (1, 2):
        ds, _ = encode(trained, base_path, num_workers=workers, threads_per_worker=1)
        t = time.perf_counter()
        rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None, batch_format="numpy"))
        dt = time.perf_counter() - t
        assert rows == n
        steps[f"ray_encode_{workers}w"] = {"seconds": round(dt, 2), "vectors_per_s": round(n / dt),
                                           "workers": workers, "load": load()}
        print(f"ray encode {workers}w", steps[f"ray_encode_{workers}w"], flush=True)

    # ---- sharded build (encode with 2 workers, route to the shard actors) -----------------
    t = time.perf_counter()
    sharded = ShardedIVFIndex.build(trained, base_path, num_shards=args.shards,
                                    num_workers=args.workers, encode_workers=2, threads=1)
    dt = time.perf_counter() - t
    steps["sharded_build"] = {"seconds": round(dt, 2), "vectors_per_s": round(n / dt),
                              "shard_sizes": sharded.shard_sizes().tolist(), "load": load()}
    print("sharded build", steps["sharded_build"], flush=True)

    # ---- search ---------------------------------------------------------------------------
    rows = []
    for nprobe in args.nprobe:
        row: dict = {"nprobe": nprobe, "rerank": args.rerank}
        single.search(queries[:50], 10, nprobe=nprobe)  # warm-up (groups the lists)
        sharded.search(queries[:50], 10, nprobe=nprobe)
        variants = (("single", single, {"threads": 2}), ("single1t", single, {"threads": 1}),
                    ("sharded", sharded, {}),
                    ("sharded_rerank_on_shards", sharded, {"rerank_where": "shards"}))
        for name, ix, kw in variants:
            dt, (s, i) = timed(lambda ix=ix, kw=kw: ix.search(queries, 10, nprobe=nprobe, **kw),
                               args.repeats)
            row[f"{name}_qps"] = round(len(queries) / dt)
            row[f"{name}_recall10"] = round(recall_at(i, gt), 4)
            # one query per call: the fan-out's per-call cost dominates
            lat = []
            for q in queries[:100]:
                t = time.perf_counter()
                ix.search(q, 10, nprobe=nprobe, **kw)
                lat.append(time.perf_counter() - t)
            row[f"{name}_p50_ms_b1"] = round(1000 * float(np.median(lat)), 3)
            row[name] = (s, i)
        (s1, i1), (s2, i2) = row.pop("single"), row.pop("sharded")
        (s3, i3), (s4, i4) = row.pop("single1t"), row.pop("sharded_rerank_on_shards")
        row["same_ids"] = bool(np.array_equal(i1, i2) and np.array_equal(i1, i3)
                               and np.array_equal(i1, i4))
        row["same_scores"] = bool(np.array_equal(s1, s2) and np.array_equal(s1, s3)
                                  and np.array_equal(s1, s4))
        row["queries_with_different_ids"] = int(((i1 != i2) | (i1 != i4)).any(axis=1).sum())
        row["load"] = load()
        rows.append(row)
        print(row, flush=True)
    results["search"] = rows
    l2s = sharded.list_to_shard
    sharded.close()
    ray.shutdown()
    results["breakdown"] = breakdown(trained, single, base, queries, l2s, args)
    results["wall_s"] = round(time.perf_counter() - t_start, 1)
    results["load_at_end"] = load()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(markdown(results))
    print(f"wrote {out}/results.json and results.md")


def breakdown(trained, single, base, queries, l2s, args) -> list[dict]:
    """Where the fan-out's time goes, without Ray: one thread, in this process, the same
    shards (a ShardServer holding all of them) against the single index."""
    from vecpress.distributed import coarse_probes, encode_rows
    from vecpress.distributed._encode import append_encoded
    from vecpress.distributed._shard import ShardServer, packed_in_batch

    vp.set_num_threads(1)
    shards = int(l2s.max()) + 1
    srv = ShardServer(1)
    srv.create(list(range(shards)), pickle.dumps(trained, protocol=pickle.HIGHEST_PROTOCOL))
    for start in range(0, base.shape[0], 65_536):
        enc = encode_rows(trained, base[start:start + 65_536])
        owner = l2s[enc["list"]]
        for s in range(shards):
            m = owner == s
            ids = np.flatnonzero(m).astype(np.int64) + start
            append_encoded(srv.shards[s], ids, {key: v[m] for key, v in enc.items()})
    out = []
    metric = _core.METRICS["ip"]
    for nprobe in args.nprobe:
        probes = coarse_probes(trained, queries, nprobe)
        routes = {s: np.flatnonzero((l2s[probes] == s).any(axis=1)) for s in range(shards)}
        packed = packed_in_batch(len(queries))
        r = args.rerank
        srv.search(queries, packed, routes, r, nprobe, False, 1, None)  # groups the lists
        row = {"nprobe": nprobe, "rerank": r, "threads": 1, "shards": shards,
               "mean_shards_per_query": round(float(np.mean(
                   [np.unique(l2s[p]).size for p in probes])), 2)}
        row["single_search_s"], _ = timed(
            lambda: single.search(queries, 10, nprobe=nprobe, threads=1), args.repeats)
        row["single_candidates_s"], _ = timed(
            lambda: single.search(queries, r, nprobe=nprobe, rerank=0, threads=1), args.repeats)
        row["shards_candidates_s"], _ = timed(
            lambda: srv.search(queries, packed, routes, r, nprobe, False, 1, None), args.repeats)
        row["coarse_s"], _ = timed(lambda: _core.flat_search(
            trained.centroids, queries, trained.dim, metric, nprobe, 1), args.repeats)
        row = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        row["load"] = load()
        out.append(row)
        print("breakdown", row, flush=True)
    vp.set_num_threads(None)
    return out


def markdown(r: dict) -> str:
    c, m, st = r["config"], r["machine"], r["steps"]
    lines = [
        f"# vecpress.distributed: {r['label']}",
        "",
        f"{r['n']:,} base vectors x {r['dim']} dims, {r['queries']:,} queries, k=10, metric ip. "
        f"IVF{c['nlist']},PQ{c['M']}x{c['nbits']} (fast-scan), float32 rerank store, "
        f"rerank {c['rerank']}; the model trained once on {c['train']:,} vectors "
        f"({st['train']['seconds']} s). {c['shards']} shards on {c['shard_workers']} Ray actors "
        "(1 kernel thread each), all on this one machine.",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} hardware threads, SIMD {m['simd_level']}, vecpress "
        f"{m['vecpress']}, Ray {m['ray']}, numpy {m['numpy']}, Python {m['python']}, "
        f"OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}. Load average (1/5/15 min) at start "
        f"{r['load_at_start']}, at end {r['load_at_end']} (the machine is shared: other work "
        f"ran meanwhile). Wall time {r['wall_s']} s. Median of {c['repeats']} runs.",
        "",
        "## Encoding throughput",
        "",
        "| encoder | seconds | vectors/s | load (1 min) |",
        "|---|--:|--:|--:|",
    ]
    names = {"single_add_1t": "single process, IVFIndex.add, 1 thread",
             "single_add_2t": "single process, IVFIndex.add, 2 threads",
             "ray_encode_1w": "Ray Data, 1 worker (1 thread), codes consumed on the driver",
             "ray_encode_2w": "Ray Data, 2 workers (1 thread each), codes consumed on the driver",
             "sharded_build": f"ShardedIVFIndex.build: 2 Ray Data workers + routing into "
                              f"{c['shards']} shards"}
    for key, name in names.items():
        s = st[key]
        lines.append(f"| {name} | {s['seconds']} | {s['vectors_per_s']:,} | {s['load'][0]} |")
    lines += [
        "",
        "IVFIndex.add stores the codes and the float32 vectors in its own process; the Ray Data "
        "rows carry the codes, list numbers, ids and the float32 vectors (for the shards' rerank "
        "stores) through the object store to the driver.",
        "",
        "## Search: sharded against single process (same model, nprobe, rerank)",
        "",
        "| nprobe | rerank | index | QPS (b1000) | p50 ms (b1) | R@10 |",
        "|--:|--:|---|--:|--:|--:|",
    ]
    names = {"single": "single process, 2 threads", "single1t": "single process, 1 thread",
             "sharded": "sharded, rerank after the merge (default)",
             "sharded_rerank_on_shards": "sharded, rerank on each shard (one round trip)"}
    for row in r["search"]:
        for key, name in names.items():
            lines.append(f"| {row['nprobe']} | {row['rerank']} | {name} | {row[key + '_qps']:,} "
                         f"| {row[key + '_p50_ms_b1']} | {row[key + '_recall10']} |")
    lines += ["", "| nprobe | same ids (all four) | same scores (all four) | load (1 min) |",
              "|--:|---|---|--:|"]
    for row in r["search"]:
        lines.append(f"| {row['nprobe']} | {row['same_ids']} | {row['same_scores']} "
                     f"| {row['load'][0]} |")
    lines += [
        "",
        "b1000: one call with 1,000 queries; b1: one query per call (100 calls), the median "
        "latency. Sharded: the router coarse-quantizes, sends each query to the shards owning "
        f"its probed lists, each shard scans and returns its best {c['rerank']} candidates by "
        "code score; by default the router merges them and asks the shards holding the global "
        f"best {c['rerank']} for their exact scores (a second round trip); with rerank on the "
        "shards each shard scores its own candidates exactly in the first. R@10: neighbour "
        "recall against exact search (gt_ids.npy).",
        "",
    ]
    if r.get("breakdown"):
        lines += [
            "## Where the fan-out's time goes (one thread, no Ray)", "",
            f"Seconds for the {r['queries']:,} queries, in one process on one thread: the single index's "
            "search (k=10 with rerank), its scan for the rerank candidates alone (k=rerank, no "
            "rerank), and the shards' scans for their candidates (every shard the queries reach, "
            "one after the other: the same scan work, split), and one coarse search:", "",
            "| nprobe | shards reached per query | single search | single candidates | "
            "shards' candidates (sum) | coarse search |", "|--:|--:|--:|--:|--:|--:|"]
        lines += [f"| {b['nprobe']} | {b['mean_shards_per_query']} | {b['single_search_s']} "
                  f"| {b['single_candidates_s']} | {b['shards_candidates_s']} | {b['coarse_s']} |"
                  for b in r["breakdown"]]
        lines.append("")
    if r.get("coarse_quantization"):
        lines += ["## Coarse quantization (the router's step, and each shard's)", "",
                  "1,000 queries against nlist random centroids, top 256, 2 threads:", "",
                  "| nlist | QPS | load (1 min) |", "|--:|--:|--:|"]
        lines += [f"| {c['nlist']:,} | {c['qps']:,} | {c['load'][0]} |"
                  for c in r["coarse_quantization"]]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
