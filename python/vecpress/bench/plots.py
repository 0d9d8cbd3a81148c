"""ann-benchmarks style plots (matplotlib, PNG): recall@10 vs QPS (Pareto
frontier per method group, log QPS axis) and recall@10 vs bytes per vector."""
from __future__ import annotations

from pathlib import Path

_MARKERS = "os^Dv<>phX*P8d"
_LINESTYLE = {"vecpress": "-", "faiss": "--", "hnswlib": ":"}


def _mpl():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'vecpress[bench]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def pareto(points):
    """Points (qps, recall) not beaten on both axes, sorted by recall (the frontier)."""
    best, out = -1.0, []
    for qps, rec in sorted(points, key=lambda p: (-p[0], -p[1])):
        if rec > best:
            out.append((qps, rec))
            best = rec
    return sorted(out, key=lambda p: p[1])


def _groups(records, metric):
    groups: dict[str, list] = {}
    for r in records:
        if r["status"] == "ok" and r.get(metric) is not None:
            groups.setdefault(r["config"]["group"], []).append(r)
    return groups


_KIND_ORDER = ["exact", "cascade raw", "cascade pca", "binary", "binary+rerank", "pq 8-bit",
               "pq 8-bit+rerank", "pq 4-bit", "pq 4-bit+rerank", "rq", "rq+rerank", "ivfpq",
               "hnsw"]
_COLORS = ["#000000", "#1f77b4", "#17becf", "#ff7f0e", "#d62728", "#2ca02c", "#98df8a",
           "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#7f7f7f", "#bcbd22"]


def _kind(group: str) -> str:
    """What a group computes, without the library: 'faiss PQ 4-bit fast-scan' and
    'vecpress PQ 4-bit' are both 'pq 4-bit', so they share a colour."""
    g = group.lower().replace(" fast-scan", "")
    for word in ("vecpress", "faiss", "hnswlib"):
        g = g.replace(word, " ")
    g = " ".join(g.split())
    return g or "hnsw"


def _styles(groups):
    """Colour by kind (vecpress and its counterpart share it); filled markers and
    solid lines for vecpress, hollow markers for faiss (dashed) and hnswlib (dotted)."""
    kinds = sorted({_kind(g) for g in groups},
                   key=lambda k: (_KIND_ORDER.index(k) if k in _KIND_ORDER else 99, k))
    out = {}
    for g in groups:
        lib = groups[g][0]["config"]["adapter"].split(".")[0]
        ki = kinds.index(_kind(g))
        color = _COLORS[ki % len(_COLORS)]
        out[g] = {"color": color, "marker": _MARKERS[ki % len(_MARKERS)],
                  "linestyle": _LINESTYLE.get(lib, "-."),
                  "facecolor": color if lib == "vecpress" else "none",
                  "order": (ki, lib != "vecpress", g)}
    return out


def _ordered(groups, styles):
    return sorted(groups.items(), key=lambda kv: styles[kv[0]]["order"])


def _title(records, what):
    r = next(r for r in records if r["status"] == "ok")
    ds = r["dataset"]
    return (f"{ds['name']}: {ds['n']:,} x {ds['dim']}, {ds['queries']:,} queries, "
            f"k={r['k']}, {r['threads']} threads: {what}")


def plot_recall_qps(records, path: Path, metric: str = "recall@10") -> Path:
    """Two panels: QPS in batches and QPS one query at a time, against recall."""
    plt = _mpl()
    from matplotlib.ticker import NullFormatter

    groups = _groups(records, metric)
    styles = _styles(groups)
    batch = next(r["batch"] for r in records if r["status"] == "ok")
    fig, axes = plt.subplots(1, 2, figsize=(16, 6.5), sharey=True)
    for ax, key, name in ((axes[0], "qps_batch", f"batch of {batch}"),
                          (axes[1], "qps_batch1", "batch of 1")):
        for g, rs in _ordered(groups, styles):
            st = styles[g]
            pts = [(r[key], r[metric]) for r in rs]
            ax.scatter(*zip(*pts), edgecolors=st["color"], facecolors=st["facecolor"],
                       marker=st["marker"], alpha=0.35, s=22)
            front = pareto(pts)
            ax.plot(*zip(*front), color=st["color"], marker=st["marker"],
                    markerfacecolor=st["facecolor"], linestyle=st["linestyle"], label=g,
                    markersize=7, linewidth=1.6)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short ranges
        ax.set_xlabel(f"queries per second ({name}, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(name)
    axes[0].set_ylabel(metric)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.81, 0.5), fontsize=8.5,
               frameon=False)
    fig.suptitle(_title(records, f"{metric} vs QPS (Pareto frontier per method; filled/solid "
                                 "vecpress, hollow/dashed faiss, hollow/dotted hnswlib)"), fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.81, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_recall_bytes(records, path: Path, metric: str = "recall@10") -> Path:
    """Recall against bytes kept per vector (log scale); a config's search
    settings stack vertically, joined by a thin line."""
    plt = _mpl()
    from matplotlib.ticker import NullFormatter

    groups = _groups(records, metric)
    styles = _styles(groups)
    fig, ax = plt.subplots(figsize=(11, 6.5))
    for g, rs in _ordered(groups, styles):
        st = styles[g]
        ax.scatter([r["bytes_per_vector"] for r in rs], [r[metric] for r in rs],
                   edgecolors=st["color"], facecolors=st["facecolor"], marker=st["marker"],
                   s=45, linewidths=1.4, label=g, zorder=3)
        by_cfg: dict[str, list] = {}
        for r in rs:
            by_cfg.setdefault(r["config"]["name"], []).append(r)
        for same in by_cfg.values():
            if len(same) > 1:
                ax.plot([same[0]["bytes_per_vector"]] * 2,
                        [min(r[metric] for r in same), max(r[metric] for r in same)],
                        color=st["color"], linewidth=1, alpha=0.6)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bytes per vector (codes + float copy for rerank + graph links; log scale)")
    ax.set_ylabel(metric)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8.5, frameon=False)
    ax.set_title(_title(records, f"{metric} vs memory"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
