"""Load test of the reference HTTP service (``vecpress serve``, issue 13).

Builds (once, cached) a saved index over a real embedding set, starts ``python -m
vecpress.cli serve`` on it in a subprocess, and drives it for ``--duration`` seconds with
``--clients`` concurrent clients (threads, each with its own keep-alive httpx connection):
a ``--write-fraction`` of the operations are writes (each client alternates: add one vector
under a fresh id, then remove the id it added last), the rest are 1-query searches (k=10)
with real queries. Reports QPS, p50/p90/p99 latency per operation, the error count, the
recall@k of the served searches against the dataset's exact ground truth (the added vectors
are random unit vectors, far from every real query, so they never enter a top 10), the load
average and the CPU time of server and clients, and writes JSON + Markdown under ``--out``.

    PYTHONPATH=python OMP_WAIT_POLICY=PASSIVE python benchmarks/load_test.py \\
        --dataset ../shared/data/wordnet-minilm --duration 60 --clients 16

Everything runs on this machine: clients and server share its cores, so the QPS measured
is what the machine does with both, not the server alone (the CPU split is reported).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "data" / "wordnet-minilm"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "service-load"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET,
                   help="folder with base.npy, queries.npy (float16 or float32) and gt_ids.npy")
    p.add_argument("--index", type=Path, default=None,
                   help="saved index to serve (built from --dataset when absent; default: a "
                        "file named after the configuration in the temp folder)")
    p.add_argument("--kind", choices=("ivf", "pq", "flat"), default="ivf",
                   help="index built when --index is absent: IVF-PQ (default), PQ, exact")
    p.add_argument("--nlist", type=int, default=256)
    p.add_argument("--M", type=int, default=96, help="PQ sub-quantizers")
    p.add_argument("--nbits", type=int, default=4)
    p.add_argument("--nprobe", type=int, default=128)
    p.add_argument("--rerank", type=int, default=100)
    p.add_argument("--train-size", type=int, default=50_000)
    p.add_argument("--mmap", action="store_true", help="serve with --mmap")
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--write-fraction", type=float, default=0.10)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--search-threads", type=int, default=1,
                   help="threads= per search (1: the requests are the parallelism; 0: the "
                        "index's setting)")
    p.add_argument("--encoding", choices=("json", "b64"), default="json",
                   help="how vectors travel: JSON lists of floats or base64 float32")
    p.add_argument("--in-process", action="store_true",
                   help="drive the index in this process instead of the service (same clients "
                        "and mix, no HTTP): the library's share of the service's figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--name", default="load_test", help="basename of the result files")
    return p.parse_args(argv)


# ---- the index -------------------------------------------------------------------------------
def describe(args: argparse.Namespace) -> tuple[str, str]:
    """(file stem, constructor call) of the index --kind and its flags configure."""
    if args.kind == "ivf":
        return (f"ivf{args.nlist}-pq{args.M}x{args.nbits}-rr{args.rerank}-np{args.nprobe}",
                f"IVFIndex(dim, nlist={args.nlist}, ProductQuantizer(dim, M={args.M}, "
                f"nbits={args.nbits}), 'ip', nprobe={args.nprobe}, rerank={args.rerank})")
    if args.kind == "pq":
        return (f"pq{args.M}x{args.nbits}-rr{args.rerank}",
                f"PQIndex(dim, 'ip', M={args.M}, nbits={args.nbits}, rerank={args.rerank})")
    return "flat", "FlatIndex(dim, 'ip')"


def build_index(args: argparse.Namespace) -> Path:
    """The saved index over --dataset (built and saved once, then reused)."""
    import vecpress as vp

    stem, _ = describe(args)
    path = args.index or Path(tempfile.gettempdir()) / "vecpress-bench" / (
        f"{args.dataset.name}-{stem}.vp")
    if path.exists():
        return path
    base = np.load(args.dataset / "base.npy").astype(np.float32)
    rng = np.random.default_rng(args.seed)
    sample = base[rng.choice(len(base), min(args.train_size, len(base)), replace=False)]
    dim = base.shape[1]
    if args.kind == "ivf":
        index = vp.IVFIndex(dim, args.nlist, vp.ProductQuantizer(dim, args.M, args.nbits),
                            "ip", nprobe=args.nprobe, rerank=args.rerank)
    elif args.kind == "pq":
        index = vp.PQIndex(dim, "ip", M=args.M, nbits=args.nbits, rerank=args.rerank)
    else:
        index = vp.FlatIndex(dim, "ip")
    t0 = time.perf_counter()
    if not index.is_trained:
        index.train(sample)
    index.add(base)
    index.save(path)
    print(f"built {path} ({len(index)} vectors) in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return path


# ---- the server ------------------------------------------------------------------------------
class Server:
    """``python -m vecpress.cli serve PATH --port 0`` in a subprocess (stderr drained)."""

    def __init__(self, path: Path, mmap: bool) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "python"), os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, "-m", "vecpress.cli", "serve", str(path), "--port", "0",
               "--no-access-log"] + (["--mmap"] if mmap else [])
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
        self.log: list[str] = []
        started = threading.Event()

        def drain() -> None:
            for line in self.proc.stderr:
                self.log.append(line)
                if "Uvicorn running on" in line:
                    started.set()

        threading.Thread(target=drain, daemon=True).start()
        t0 = time.perf_counter()
        if not started.wait(300):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        self.start_s = time.perf_counter() - t0
        port = re.search(r"Uvicorn running on http://[^ ]+:(\d+)", "".join(self.log)).group(1)
        self.url = f"http://127.0.0.1:{port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> dict[str, float]:
        if self.proc.poll() is not None:  # say why, instead of failing to parse its status
            raise RuntimeError(f"the server exited with status {self.proc.returncode}:\n"
                               + "".join(self.log[-40:]))
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) / 1024
                for k in ("VmRSS", "RssAnon", "RssFile")}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- the clients -----------------------------------------------------------------------------
def own_rss_mb() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) / 1024
            for k in ("VmRSS", "RssAnon", "RssFile")}


def encode(x: np.ndarray, key: str, encoding: str) -> dict:
    if encoding == "b64":
        return {f"{key}_b64": base64.b64encode(np.ascontiguousarray(x, "<f4").tobytes()).decode()}
    return {key: x.tolist()}


class HttpTarget:
    """The service: each client session is one keep-alive httpx connection."""

    def __init__(self, url: str, encoding: str) -> None:
        self.url, self.encoding = url, encoding

    @contextlib.contextmanager
    def session(self) -> Iterator:
        import httpx

        with httpx.Client(base_url=self.url, timeout=60) as c:
            def call(op: str, payload: dict) -> dict:
                body = {}
                for key, value in payload.items():
                    body.update(encode(value, key, self.encoding)
                                if isinstance(value, np.ndarray) else {key: value})
                r = c.post(f"/{op}", json=body)
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code} {r.text[:200]}")
                return r.json()
            yield call


class LocalTarget:
    """The index itself in this process (--in-process): the same operations without HTTP,
    to tell the service's costs from the library's."""

    def __init__(self, index) -> None:
        self.index = index

    @contextlib.contextmanager
    def session(self) -> Iterator:
        index = self.index

        def call(op: str, payload: dict) -> dict:
            if op == "search":
                q = payload.pop("queries")
                _, ids = index.search(q, payload.pop("k"), **payload)
                return {"ids": ids.tolist()}
            if op == "add":
                return {"ids": index.add(payload["vectors"], payload["ids"]).tolist()}
            return {"removed": index.remove(payload["ids"])}
        yield call


class Client(threading.Thread):
    """One client: its own session (connection), random stream and id range."""

    def __init__(self, i: int, target, queries: np.ndarray, args: argparse.Namespace,
                 measure_from: float, stop_at: float) -> None:
        super().__init__(daemon=True)
        self.i, self.target, self.queries, self.args = i, target, queries, args
        self.measure_from, self.stop_at = measure_from, stop_at
        self.rng = np.random.default_rng([args.seed, i])
        self.lat: dict[str, list[float]] = {"search": [], "add": [], "remove": []}
        self.errors: list[str] = []
        self.searched: list[tuple[int, list[int]]] = []  # (query row, returned ids)
        self.pending: list[int] = []  # ids added and not yet removed
        self.next_id = 10**12 + i * 10**9  # far above the dataset's ids, disjoint per client
        self.write_is_add = True

    def run(self) -> None:
        extra = {"threads": self.args.search_threads} if self.args.search_threads else {}
        dim = self.queries.shape[1]
        with self.target.session() as call:
            while (now := time.perf_counter()) < self.stop_at:
                measured = now >= self.measure_from
                if self.rng.random() < self.args.write_fraction:
                    if self.write_is_add or not self.pending:
                        v = self.rng.standard_normal((1, dim)).astype(np.float32)
                        v /= np.linalg.norm(v)
                        op, want = "add", {"ids": [self.next_id]}
                        payload = {"vectors": v, **want}
                    else:
                        op, payload = "remove", {"ids": [self.pending[0]]}
                        want = {"removed": 1}
                else:
                    row = int(self.rng.integers(len(self.queries)))
                    op, want = "search", None
                    payload = {"queries": self.queries[row:row + 1], "k": self.args.k, **extra}
                t0 = time.perf_counter()
                try:
                    got, ok, detail = call(op, payload), True, ""
                except Exception as e:  # an HTTP error, a reset connection, a library error
                    got, ok, detail = None, False, f"{type(e).__name__}: {e}"
                dt = time.perf_counter() - t0
                if ok and want is not None and got != want:
                    ok, detail = False, f"answered {got}, expected {want}"
                if not ok:
                    self.errors.append(f"{op}: {detail}")
                elif op == "add":
                    self.pending.append(self.next_id)
                    self.next_id += 1
                    self.write_is_add = False
                elif op == "remove":
                    self.pending.pop(0)
                    self.write_is_add = True
                elif measured:
                    self.searched.append((row, got["ids"][0]))
                if measured:
                    self.lat[op].append(dt)

    def cleanup(self) -> int:
        """Remove what this client added and did not remove; returns how many."""
        if self.pending:
            with self.target.session() as call:
                try:
                    call("remove", {"ids": list(self.pending)})
                except Exception as e:
                    self.errors.append(f"cleanup remove: {type(e).__name__}: {e}")
        return len(self.pending)


def percentiles(lat: list[float]) -> dict:
    if not lat:
        return {"count": 0}
    a = np.asarray(lat) * 1e3
    return {"count": len(a), "p50_ms": float(np.percentile(a, 50)),
            "p90_ms": float(np.percentile(a, 90)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max()), "mean_ms": float(a.mean())}


def profile_in_process(path: Path, queries: np.ndarray, args: argparse.Namespace,
                       rounds: int = 5) -> dict:
    """Median milliseconds of single operations on the index in this process, no HTTP: a
    search, an add of one vector, the first search after it, a remove of one id and the
    first search after that (what the service's writes cost the index itself)."""
    import vecpress as vp

    index = vp.load(path, mmap=args.mmap)
    extra = {"threads": args.search_threads} if args.search_threads else {}
    rng = np.random.default_rng(args.seed)
    t: dict[str, list[float]] = {k: [] for k in ("search", "add", "search_after_add", "remove",
                                                 "search_after_remove")}

    def timed(key: str, fn, *a, **kw) -> None:
        t0 = time.perf_counter()
        fn(*a, **kw)
        t[key].append(1e3 * (time.perf_counter() - t0))

    index.search(queries[:1], args.k, **extra)
    for i in range(rounds):
        for j in range(10):
            timed("search", index.search, queries[10 * i + j:10 * i + j + 1], args.k, **extra)
        v = rng.standard_normal((1, queries.shape[1])).astype(np.float32)
        timed("add", index.add, v / np.linalg.norm(v), [10**15 + i])
        timed("search_after_add", index.search, queries[i:i + 1], args.k, **extra)
        timed("remove", index.remove, [10**15 + i])
        timed("search_after_remove", index.search, queries[i:i + 1], args.k, **extra)
    return {f"{k}_ms": float(np.median(v)) for k, v in t.items()}


# ---- the run ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import httpx

    import vecpress as vp

    path = build_index(args)
    queries = np.load(args.dataset / "queries.npy").astype(np.float32)
    gt = np.load(args.dataset / "gt_ids.npy")[:, :args.k].astype(np.int64)
    in_process = profile_in_process(path, queries, args)
    load_before = os.getloadavg()
    server = None if args.in_process else Server(path, args.mmap)
    if server is None:
        index = vp.load(path, mmap=args.mmap)
        target = LocalTarget(index)

        def stats() -> dict:
            return {"class": type(index).__name__, "n": len(index), "dim": index.dim,
                    "responses": {}}
    else:
        target = HttpTarget(server.url, args.encoding)

        def stats() -> dict:
            return httpx.get(f"{server.url}/stats", timeout=60).json()

    def server_cpu() -> float:
        return server.cpu_seconds() if server else 0.0

    def server_rss() -> dict:
        return server.rss_mb() if server else own_rss_mb()

    try:
        stats0 = stats()
        rss0 = server_rss()
        cpu0, ccpu0 = server_cpu(), sum(os.times()[:2])
        measure_from = time.perf_counter() + args.warmup
        stop_at = measure_from + args.duration
        clients = [Client(i, target, queries, args, measure_from, stop_at)
                   for i in range(args.clients)]
        for c in clients:
            c.start()
        time.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_at_measure = (server_cpu(), sum(os.times()[:2]))
        for c in clients:
            c.join()
        cpu_end = (server_cpu(), sum(os.times()[:2]))
        load_after = os.getloadavg()
        rss1 = server_rss()
        cleaned = sum(c.cleanup() for c in clients)
        stats1 = stats()
    finally:
        if server is not None:
            server.stop()

    lat = {op: [x for c in clients for x in c.lat[op]] for op in ("search", "add", "remove")}
    errors = [e for c in clients for e in c.errors]
    searched = [s for c in clients for s in c.searched]
    rows = np.array([r for r, _ in searched], np.int64)
    got = np.array([ids for _, ids in searched], np.int64)
    recall = float(np.mean([np.isin(g, t).sum() / args.k for g, t in zip(got, gt[rows])])) \
        if len(rows) else float("nan")
    total_ops = sum(len(v) for v in lat.values())
    result = {
        "config": {
            "dataset": str(args.dataset.name), "index_file": str(path),
            "index": stats0["class"] if args.index else describe(args)[1],
            "n": stats0["n"], "dim": stats0["dim"], "mmap": args.mmap,
            "clients": args.clients, "duration_s": args.duration, "warmup_s": args.warmup,
            "write_fraction": args.write_fraction, "k": args.k,
            "search_threads": args.search_threads,
            "encoding": "in-process (no HTTP)" if args.in_process else args.encoding,
            "in_process": args.in_process,
        },
        "throughput": {
            "ops_per_s": total_ops / args.duration,
            "search_qps": len(lat["search"]) / args.duration,
            "writes_per_s": (len(lat["add"]) + len(lat["remove"])) / args.duration,
        },
        "latency": {op: percentiles(v) for op, v in lat.items()},
        "errors": {"count": len(errors), "first": errors[:10]},
        "recall_at_k": recall,
        "in_process_ms": in_process,
        "consistency": {
            "n_before": stats0["n"], "n_after_cleanup": stats1["n"],
            "left_added_then_removed_in_cleanup": cleaned,
            "server_5xx": {s: n for s, n in stats1["responses"].items() if s.startswith("5")},
        },
        "machine": {
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "vecpress": vp.__version__,
            "simd": vp.simd_level(), "load_avg_before": load_before,
            "load_avg_after": load_after,
            "server_cpu_s_measured": cpu_end[0] - cpu_at_measure[0],
            "clients_cpu_s_measured": cpu_end[1] - cpu_at_measure[1],
            "server_cpu_s_total": cpu_end[0] - cpu0, "clients_cpu_s_total": cpu_end[1] - ccpu0,
            "server_start_s": server.start_s if server else None, "server_rss_mb_start": rss0,
            "server_rss_mb_end": rss1,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        },
        "git": _git_head(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))
    return result


def _git_head() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no", "python", "cpp"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" (+ uncommitted library changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def markdown(r: dict) -> str:
    c, m, t = r["config"], r["machine"], r["throughput"]
    local = c.get("in_process", False)
    who = ("threads calling the index in one process, no HTTP" if local else
           "threads, one keep-alive connection each")
    lines = [
        f"# vecpress {'in-process' if local else 'serve'}: load test on {c['dataset']}",
        "",
        f"{c['index']} over {c['n']:,} x {c['dim']} vectors"
        f"{' (memory-mapped)' if c['mmap'] else ''}; "
        f"{c['clients']} concurrent clients ({who}) for "
        f"{c['duration_s']:.0f} s after {c['warmup_s']:.0f} s of warm-up; "
        f"{100 * (1 - c['write_fraction']):.0f}% searches (1 query, k={c['k']}, real queries, "
        f"threads={c['search_threads']} per search"
        f"{'' if local else ', ' + c['encoding'] + ' vectors'}) / "
        f"{100 * c['write_fraction']:.0f}% writes (each client alternates: add one vector "
        "under a fresh id, remove the id it added).",
        "",
        "| operation | count | per s | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for op, p in r["latency"].items():
        if p["count"]:
            lines.append(f"| {op} | {p['count']:,} | {p['count'] / c['duration_s']:,.1f} | "
                         f"{p['p50_ms']:.2f} | {p['p90_ms']:.2f} | {p['p99_ms']:.2f} | "
                         f"{p['max_ms']:.1f} |")
    cons = r["consistency"]
    lines += [
        "",
        f"- **Throughput:** {t['ops_per_s']:,.0f} operations/s ({t['search_qps']:,.0f} "
        f"searches/s, {t['writes_per_s']:,.0f} writes/s).",
        f"- **Errors:** {r['errors']['count']} over the whole run, warm-up and clean-up included "
        f"(non-200 answers, wrong add/remove answers, connection failures); server 5xx: "
        f"{cons['server_5xx'] or 'none'}.",
        f"- **Recall@{c['k']}** of the served searches against exact ground truth: "
        f"{r['recall_at_k']:.4f}.",
        f"- **Consistency:** {cons['n_before']:,} vectors before, {cons['n_after_cleanup']:,} "
        f"after removing the {cons['left_added_then_removed_in_cleanup']} still added at "
        "the end.",
        f"- **Machine:** {m['cpus']} CPUs"
        f"{' (clients and index in one process)' if local else ' shared by the server and the clients'} "
        f"({m['platform']}, Python {m['python']}, vecpress {m['vecpress']}, SIMD {m['simd']}, "
        f"OMP_WAIT_POLICY={m['omp_wait_policy'] or 'unset'}); CPU seconds over the measured "
        f"window: server {m['server_cpu_s_measured']:.1f}, clients "
        f"{m['clients_cpu_s_measured']:.1f} (of {m['cpus'] * c['duration_s']:.0f} available); "
        f"load average {m['load_avg_before'][0]:.2f} before, {m['load_avg_after'][0]:.2f} "
        f"after; server RSS {m['server_rss_mb_start']['VmRSS']:.0f} MB at start, "
        f"{m['server_rss_mb_end']['VmRSS']:.0f} MB at the end.",
        f"- **Code:** {r['git']}.",
    ]
    ip = r["in_process_ms"]
    lines += ["", "The same operations in one process, no HTTP, one at a time (median ms): "
              f"search {ip['search_ms']:.2f}, add one vector {ip['add_ms']:.1f}, first search "
              f"after it {ip['search_after_add_ms']:.1f}, remove one id {ip['remove_ms']:.1f}, "
              f"first search after it {ip['search_after_remove_ms']:.1f}."]
    if r["errors"]["first"]:
        lines += ["", "First errors:", ""] + [f"- `{e}`" for e in r["errors"]["first"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
