"""The harness: build every config of a grid, measure quality once, then time
all (config, search setting) pairs in interleaved rounds and keep medians.

Interleaving (round r times every pair once, in a rotated order) means a burst
of load from another process on a shared machine hits all methods alike, so
ratios between our indexes and faiss/hnswlib stay honest.
"""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..datasets import Dataset
from ..metrics import ndcg_at_k, recall_at_k
from .adapters import ADAPTERS, Unavailable, library_versions
from .data import GT_K, ground_truth
from .timing import latency_summary, median, memory_bandwidth, time_batches, time_single

RECALL_KS = (1, 10, 100)
MSE_ROWS = 10_000  # base rows whose reconstruction error is measured


def recalls(ids: np.ndarray, gt: np.ndarray, ks=RECALL_KS) -> dict:
    """recall@k for each k that both arrays are deep enough for (others omitted)."""
    depth = min(ids.shape[1], gt.shape[1])
    return {f"recall@{k}": recall_at_k(ids, gt, k) for k in ks if k <= depth}


def ndcg10(ids: np.ndarray, rel: dict) -> float:
    """nDCG@10 of result rows (nq, >=10) against {"qrels", "doc_keys"} (see data.load_qrels)."""
    keys = rel["doc_keys"]
    # padding (-1) keeps its rank but never matches a judged document
    ranked = [[(None if r < 0 else keys[r] if keys is not None else int(r)) for r in row[:10]]
              for row in ids]
    return ndcg_at_k(ranked, rel["qrels"], 10)


def machine_info(threads: int) -> dict:
    """vecpress.info() (CPU, SIMD level, threads), library versions, memory bandwidth
    (numpy copy), and how busy the machine was (load average at the start, OpenMP
    wait policy)."""
    import os

    import vecpress as vp

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {**vp.info(), "bench_threads": threads, "libraries": library_versions(),
            "memory_bandwidth_GBps": memory_bandwidth() / 1e9, "load_avg_1_5_15": load,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}


class _Log:
    def __init__(self, progress: bool):
        self.progress = progress

    def __call__(self, msg: str) -> None:
        if self.progress:
            from tqdm import tqdm
            tqdm.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr)

    def bar(self, it, **kw):
        if not self.progress:
            return it
        from tqdm import tqdm
        return tqdm(it, file=sys.stderr, dynamic_ncols=True, **kw)


def run_benchmark(ds: Dataset, grid: list[dict], out_dir=None, *, k: int = 10,
                  batch: int = 1000, latency_queries: int = 200,
                  latency_budget_s: float | None = 1.5, repeats: int = 3,
                  threads: int | None = None, train_size: int = 25_000, seed: int = 0,
                  progress: bool = True, cache=None, plots: bool = True) -> list[dict]:
    """Run a validated grid (see :mod:`vecpress.bench.configs`) over a dataset.

    Parameters
    ----------
    ds : Dataset (float32 base (n, d) and queries (nq, d); metric "ip" or "l2").
    grid : list of config dicts from :func:`vecpress.bench.configs.load_grid`.
    out_dir : where results.jsonl, results.md and the PNG plots go (None: nowhere).
    k : neighbours per query in the timed searches; recall@1/@10 come from it,
        recall@100 from a separate k=100 search.
    batch : queries per call in the throughput measurement (all queries when fewer).
    latency_queries : first queries searched one at a time (latency p50/p99, batch-1 QPS).
    latency_budget_s : per run and round, stop the single-query loop after this
        many seconds (at least 20 queries): a slow exact scan then costs about this
        much, while fast indexes still time all ``latency_queries``. None: no limit.
    repeats : interleaved timing rounds; each figure is the median over rounds.
    threads : threads for every library (default: vecpress's default, all cores).
    train_size : random base rows used for training when a config does not say; the
        rows depend on (seed, size) only (:func:`training_sample`).

    Returns the records (also written as JSON lines), one per (config, search
    setting), plus one per config that was skipped or failed (``status``). Besides
    recall, QPS, latency and seconds to train / add, a record derives ``add_vps``
    (vectors added, i.e. encoded, per second), ``code_bytes`` and ``scan_GBps``
    (code bytes read per second by batch queries in a full scan; None for graphs
    and IVF; compare with ``machine.memory_bandwidth_GBps``) and ``mse`` (error of
    the stored codes of the first ``MSE_ROWS`` base vectors; None without codes).
    """
    import vecpress as vp

    log = _Log(progress)
    threads = int(threads or vp.get_num_threads())
    vp.set_num_threads(threads)
    t_start = time.perf_counter()
    gt = ground_truth(ds, GT_K, cache, threads)
    rel = ds.extra.get("qrels") and {"qrels": ds.extra["qrels"], "doc_keys": ds.extra["doc_keys"]}
    n, nq = ds.base.shape[0], ds.queries.shape[0]
    deep = min(max(RECALL_KS), n, gt.shape[1])
    lat_q = ds.queries[:min(latency_queries, nq)]
    machine = machine_info(threads)
    if machine["load_avg_1_5_15"] and machine["load_avg_1_5_15"][0] > machine["hardware_threads"]:
        log(f"note: load average {machine['load_avg_1_5_15'][0]:.1f} on "
            f"{machine['hardware_threads']} hardware threads: timings will be noisy"
            + ("" if machine["omp_wait_policy"] else
               "; faiss's spinning OpenMP threads suffer most (see --omp-passive)"))
    dataset = {"name": ds.name, "n": n, "dim": ds.dim, "queries": nq, "metric": ds.metric,
               "latency_queries": lat_q.shape[0], "latency_budget_s": latency_budget_s,
               "path": ds.extra.get("path"),
               "has_qrels": bool(rel)}
    common = {"dataset": dataset, "k": k, "batch": min(batch, nq), "repeats": repeats,
              "threads": threads, "machine": machine}
    records, runs = [], []

    # ---- build every index, then measure quality once per search setting ----
    for cfg in log.bar(grid, desc="build", unit="index"):
        head = {**common, "config": {key: cfg.get(key) for key in
                                     ("name", "adapter", "group", "params", "vs")}}
        try:
            try:
                adapter = ADAPTERS[cfg["adapter"]](ds.dim, ds.metric, threads, **cfg["params"])
            except Unavailable as e:
                log(f"skip {cfg['name']}: {e}")
                records.append({**head, "status": "skipped", "reason": str(e)})
                continue
            t_train = 0.0
            if adapter.needs_training:
                sample = training_sample(ds.base, cfg["train_size"] or train_size, seed)
                t0 = time.perf_counter()
                adapter.train(sample)
                t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            adapter.add(ds.base)
            t_add = time.perf_counter() - t0
            storage = {"bytes_per_vector": adapter.bytes_per_vector(),
                       "total_bytes": adapter.total_bytes(), "code_bytes": adapter.code_bytes(),
                       "mse": adapter.reconstruction_mse(ds.base[:MSE_ROWS])}
            for setting in cfg["search"]:
                ids = adapter.search(ds.queries, k, **setting)
                ids_deep = adapter.search(ds.queries, deep, **setting) if deep > k else ids
                quality = {**recalls(ids[:, :min(k, 10)], gt, [x for x in RECALL_KS if x <= k]),
                           **recalls(ids_deep, gt, [x for x in RECALL_KS if x > k])}
                if rel:
                    quality["ndcg@10"] = ndcg10(ids if k >= 10 else ids_deep, rel)
                rec = {**head, "search": setting, "status": "ok",
                       "label": _label(cfg["name"], setting),
                       "train_s": t_train, "add_s": t_add, "build_s": t_train + t_add,
                       "add_vps": n / t_add if t_add > 0 else None,
                       **storage, **quality}
                runs.append((rec, adapter, setting))
        except Exception as e:  # one broken config must not lose a long run
            log(f"error {cfg['name']}: {type(e).__name__}: {e}")
            records.append({**head, "status": "error", "reason": f"{type(e).__name__}: {e}"})

    # ---- timing: interleaved rounds over every (config, setting) ----
    times = [{"batch_s": [], "p50_ms": [], "p99_ms": [], "qps1": [], "n1": []} for _ in runs]
    for _rec, adapter, setting in runs:  # warm-up (first-touch pages, thread pools)
        adapter.search(ds.queries[:min(nq, 16)], k, **setting)
    total = repeats * len(runs)
    bar = log.bar(range(total), desc="timing", unit="run") if total else []
    it = iter(bar)
    for r in range(repeats):
        offset = (r * len(runs)) // max(repeats, 1)
        for j in range(len(runs)):
            i = (j + offset) % len(runs)
            rec, adapter, setting = runs[i]
            search = _searcher(adapter, k, setting)
            times[i]["batch_s"].append(time_batches(search, ds.queries, batch))
            lat = latency_summary(time_single(search, lat_q, latency_budget_s))
            times[i]["n1"].append(lat["n"])
            times[i]["p50_ms"].append(lat["p50_ms"])
            times[i]["p99_ms"].append(lat["p99_ms"])
            times[i]["qps1"].append(lat["qps"])
            next(it, None)
    if hasattr(bar, "close"):
        bar.close()
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for (rec, _, _), t in zip(runs, times):
        qps = nq / median(t["batch_s"])
        rec.update({"qps_batch": qps, "qps_batch1": median(t["qps1"]),
                    "scan_GBps": rec["code_bytes"] * n * qps / 1e9 if rec["code_bytes"] else None,
                    "latency_p50_ms": median(t["p50_ms"]), "latency_p99_ms": median(t["p99_ms"]),
                    "latency_queries_timed": min(t["n1"]),
                    "rounds": t, "timestamp": stamp})
        records.append(rec)
    records.sort(key=lambda rc: [c["name"] for c in grid].index(rc["config"]["name"]))
    wall = time.perf_counter() - t_start
    log(f"benchmark done in {wall:.0f} s: {len(runs)} runs, "
        f"{sum(rc['status'] == 'skipped' for rc in records)} configs skipped, "
        f"{sum(rc['status'] == 'error' for rc in records)} failed")
    if out_dir is not None:
        from .report import write_outputs
        write_outputs(records, Path(out_dir), wall_s=wall, plots=plots)
    return records


def training_sample(base: np.ndarray, m: int, seed: int) -> np.ndarray:
    """The m base rows a config trains on (all rows when m >= n), drawn from (seed, m)
    alone: configs of one size train on the same rows, so a vecpress index and its
    counterpart learn from the same data, whatever else the grid holds."""
    n = base.shape[0]
    if m >= n:
        return base
    return base[np.sort(np.random.default_rng([seed, m]).choice(n, m, replace=False))]


def _label(name: str, setting: dict) -> str:
    if not setting:
        return name
    return name + " " + ",".join(f"{k}={v}" for k, v in setting.items())


def _searcher(adapter, k, setting):
    def search(q):
        return adapter.search(q, k, **setting)
    return search
