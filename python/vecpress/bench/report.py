"""Outputs of a run: JSON lines, a Markdown table, and the plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .runner import MSE_ROWS


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def write_jsonl(records: list[dict], path: Path) -> None:
    with open(path, "w") as f:
        for rec in records:
            f.write(json.dumps(rec, default=_json_default) + "\n")


def read_jsonl(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _fmt(v, spec):
    return "" if v is None else format(v, spec)


def _ratio(num, den) -> str:
    """num / den as "1.23x", or "" when either is missing or zero (nothing to compare)."""
    return f"{num / den:.2f}x" if num and den else ""


def markdown(records: list[dict], wall_s: float | None = None) -> str:
    """A Markdown report: setup line, one table row per run, skipped configs."""
    ok = [r for r in records if r["status"] == "ok"]
    other = [r for r in records if r["status"] != "ok"]
    any_rec = records[0]
    ds, m = any_rec["dataset"], any_rec["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    lines = [
        f"# vecpress benchmark: {ds['name']}",
        "",
        f"{ds['n']:,} base vectors x {ds['dim']} dims, {ds['queries']:,} queries "
        f"(metric {ds['metric']}), k={any_rec['k']}; throughput in batches of "
        f"{any_rec['batch']}, latency over the first {ds['latency_queries']} queries searched one "
        f"at a time (fewer for slow indexes: {ds.get('latency_budget_s')} s budget per run and "
        "round, at least 20 queries); "
        f"median of {any_rec['repeats']} interleaved rounds; {any_rec['threads']} threads.",
        "",
        f"Machine: {m['cpu']}, {m['hardware_threads']} hardware threads, SIMD {m['simd_level']}, "
        f"vecpress {m['vecpress']}, {libs}, Python {m['python']}; memory copy bandwidth "
        f"{_fmt(m.get('memory_bandwidth_GBps'), '.1f')} GB/s; load average at start "
        f"{_fmt((m.get('load_avg_1_5_15') or [None])[0], '.1f')}, OMP_WAIT_POLICY="
        f"{m.get('omp_wait_policy') or 'unset'}."
        + (f" Wall time {wall_s:.0f} s." if wall_s is not None else ""),
        "",
    ]
    has_ndcg = any("ndcg@10" in r for r in ok)
    has_mse = any(r.get("mse") is not None for r in ok)
    cols = ["run", "group", "R@1", "R@10", "R@100"] + (["nDCG@10"] if has_ndcg else []) + \
        [f"QPS b{any_rec['batch']}", "QPS b1", "p50 ms", "p99 ms", "B/vec", "total MB",
         "train s", "add s"] + (["MSE"] if has_mse else [])
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" if i < 2 else "--:" for i in range(len(cols))) + "|")
    for r in ok:
        row = [r["label"], r["config"]["group"], _fmt(r.get("recall@1"), ".3f"),
               _fmt(r.get("recall@10"), ".3f"), _fmt(r.get("recall@100"), ".3f")]
        if has_ndcg:
            row.append(_fmt(r.get("ndcg@10"), ".4f"))
        row += [_fmt(r["qps_batch"], ",.0f"), _fmt(r["qps_batch1"], ",.0f"),
                _fmt(r["latency_p50_ms"], ".3f"), _fmt(r["latency_p99_ms"], ".3f"),
                _fmt(r["bytes_per_vector"], ",.0f"), _fmt(r["total_bytes"] / 1e6, ",.1f"),
                _fmt(r["train_s"], ".1f"), _fmt(r["add_s"], ".1f")]
        if has_mse:
            row.append(_fmt(r.get("mse"), ".4f"))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "R@k: neighbour recall against exact search; R@100 comes from a k=100 search "
              "with the same settings (so at least 100 candidates are reranked). B/vec: bytes kept "
              "per vector (codes + float copy for reranking + HNSW level-0 links); total MB: "
              "serialised index size (with codebooks, ids, graph)."]
    if has_mse:
        lines.append(f"MSE: mean squared L2 error of the stored codes of the first {MSE_ROWS:,} "
                     "base vectors, or all when fewer (PQ and RQ).")
    if has_ndcg:
        lines.append("nDCG@10: against the dataset's relevance judgements (qrels.tsv).")
    pairs = ratio_rows(ok)
    if pairs:
        lines += ["", "## vecpress vs its counterpart (same process, interleaved rounds)", "",
                  "| run | vs | R@10 | R@10 vs | QPS ratio batch | QPS ratio b1 | p50 ratio "
                  "| train ratio | add ratio |",
                  "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
        for a, b in pairs:
            lines.append(f"| {a['label']} | {b['label']} | {a['recall@10']:.3f} | "
                         f"{b['recall@10']:.3f} | {a['qps_batch'] / b['qps_batch']:.2f}x | "
                         f"{a['qps_batch1'] / b['qps_batch1']:.2f}x | "
                         f"{a['latency_p50_ms'] / b['latency_p50_ms']:.2f}x | "
                         f"{_ratio(b.get('train_s'), a.get('train_s'))} | "
                         f"{_ratio(b.get('add_s'), a.get('add_s'))} |")
        lines += ["", "QPS ratio > 1: vecpress is faster; p50 ratio < 1: vecpress answers a single "
                  "query sooner; train and add ratios (the counterpart's seconds over vecpress's) "
                  "> 1: vecpress trains / encodes faster (empty where nothing is trained)."]
    if other:
        lines += ["", "Not run:", ""]
        lines += [f"- {r['config']['name']} ({r['status']}): {r['reason']}" for r in other]
    return "\n".join(lines) + "\n"


def ratio_rows(ok: list[dict]) -> list[tuple[dict, dict]]:
    """(record, counterpart) pairs for configs that name a counterpart ("vs"):
    the same search setting when the counterpart has it, else its only setting."""
    by_name: dict[str, list] = {}
    for r in ok:
        by_name.setdefault(r["config"]["name"], []).append(r)
    out = []
    for r in ok:
        others = by_name.get(r["config"].get("vs") or "", [])
        match = [o for o in others if o["search"] == r["search"]]
        if not match and len(others) == 1:
            match = others
        if match:
            out.append((r, match[0]))
    return out


def write_outputs(records: list[dict], out_dir: Path, wall_s: float | None = None,
                  plots: bool = True) -> dict:
    """results.jsonl, results.md and (with matplotlib) recall_qps.png, recall_bytes.png,
    and ndcg_qps.png when the dataset has relevance judgements."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"jsonl": out_dir / "results.jsonl", "markdown": out_dir / "results.md"}
    write_jsonl(records, paths["jsonl"])
    paths["markdown"].write_text(markdown(records, wall_s))
    if plots and any(r["status"] == "ok" for r in records):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            import sys
            print("plots skipped: matplotlib is not installed (pip install 'vecpress[bench]')",
                  file=sys.stderr)
            return paths
        from .plots import plot_recall_bytes, plot_recall_qps
        paths["recall_qps"] = plot_recall_qps(records, out_dir / "recall_qps.png")
        paths["recall_bytes"] = plot_recall_bytes(records, out_dir / "recall_bytes.png")
        if any("ndcg@10" in r for r in records):
            paths["ndcg_qps"] = plot_recall_qps(records, out_dir / "ndcg_qps.png", "ndcg@10")
    return paths
