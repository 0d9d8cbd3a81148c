"""Grids of index configurations.

A grid is a list of dicts (a JSON file holds the same list)::

    {"name": "faiss-hnsw-M32",          # unique; names the run in records and tables
     "adapter": "faiss.hnsw",           # a key of vecpress.bench.adapters.ADAPTERS
     "group": "faiss HNSW",             # curve/marker set in the plots (default: adapter)
     "params": {"M": 32, "efConstruction": 100},     # build parameters
     "search": [{"efSearch": 16}, {"efSearch": 64}], # one run per entry (default [{}])
     "train_size": 50000,               # optional: training sample size for this config
     "vs": "hnswlib-M32"}               # optional: counterpart in the speed-ratio table

Each (config, search entry) pair gives one record. Built-in grids: "default"
(the main comparison, sized for wordnet-minilm on 2 cores within 15 minutes),
"smoke" (seconds, for tests and a first try) and "scifact" (every method at
one or two operating points, for nDCG@10 on a small corpus).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from .adapters import ADAPTERS

_KEYS = {"name", "adapter", "group", "params", "search", "train_size", "vs"}


def _sweep(key, values):
    return [{key: v} for v in values]


DEFAULT_GRID = [
    # --- vecpress ----------------------------------------------------------
    {"name": "vp-flat", "adapter": "vecpress.flat", "group": "vecpress exact",
     "vs": "faiss-flat"},
    {"name": "vp-mat128-raw", "adapter": "vecpress.matryoshka", "group": "vecpress cascade raw",
     "params": {"prefix": 128}, "search": _sweep("candidates", [100, 200, 400])},
    {"name": "vp-mat128-pca", "adapter": "vecpress.matryoshka", "group": "vecpress cascade pca",
     "params": {"prefix": 128, "rotation": "pca"},
     "search": _sweep("candidates", [25, 50, 100])},
    {"name": "vp-binary", "adapter": "vecpress.binary", "group": "vecpress binary",
     "params": {"rerank": 0}, "vs": "faiss-binary"},
    {"name": "vp-binary-rerank", "adapter": "vecpress.binary", "group": "vecpress binary+rerank",
     "params": {"rerank": 400}, "search": _sweep("rerank", [50, 100, 200, 400]),
     "vs": "faiss-binary-rerank"},
    {"name": "vp-pq48x8", "adapter": "vecpress.pq", "group": "vecpress PQ 8-bit",
     "params": {"M": 48, "nbits": 8}, "vs": "faiss-pq48x8"},
    {"name": "vp-pq48x8-rerank100", "adapter": "vecpress.pq", "group": "vecpress PQ 8-bit+rerank",
     "params": {"M": 48, "nbits": 8, "rerank": 100}, "vs": "faiss-pq48x8-refine"},
    {"name": "vp-pq96x4", "adapter": "vecpress.pq", "group": "vecpress PQ 4-bit",
     "params": {"M": 96, "nbits": 4}, "vs": "faiss-pq96x4fs"},
    {"name": "vp-pq96x4-rerank100", "adapter": "vecpress.pq", "group": "vecpress PQ 4-bit+rerank",
     "params": {"M": 96, "nbits": 4, "rerank": 100}, "vs": "faiss-pq96x4fs-refine"},
    {"name": "vp-rq8x8", "adapter": "vecpress.rq", "group": "vecpress RQ",
     "params": {"M": 8, "nbits": 8, "beam": 8}, "train_size": 10000, "vs": "faiss-rq8x8"},
    {"name": "vp-rq16x8-rerank", "adapter": "vecpress.rq", "group": "vecpress RQ+rerank",
     "params": {"M": 16, "nbits": 8, "beam": 8, "rerank": 100}, "train_size": 10000,
     "search": _sweep("rerank", [25, 50, 100])},
    {"name": "vp-grq2x8-rerank", "adapter": "vecpress.rq", "group": "vecpress group RQ+rerank",
     "params": {"M": 8, "groups": 2, "nbits": 8, "beam": 8, "rerank": 100},
     "train_size": 10000, "search": _sweep("rerank", [25, 50, 100])},
    # --- faiss -------------------------------------------------------------
    {"name": "faiss-flat", "adapter": "faiss.flat", "group": "faiss exact"},
    {"name": "faiss-pq48x8", "adapter": "faiss.pq", "group": "faiss PQ 8-bit",
     "params": {"M": 48, "nbits": 8}},
    {"name": "faiss-pq48x8-refine", "adapter": "faiss.pq", "group": "faiss PQ 8-bit+rerank",
     "params": {"M": 48, "nbits": 8, "rerank": 100}, "search": _sweep("rerank", [100])},
    {"name": "faiss-pq96x4fs", "adapter": "faiss.pq", "group": "faiss PQ 4-bit fast-scan",
     "params": {"M": 96, "nbits": 4, "fastscan": True}},
    {"name": "faiss-pq96x4fs-refine", "adapter": "faiss.pq",
     "group": "faiss PQ 4-bit fast-scan+rerank",
     "params": {"M": 96, "nbits": 4, "fastscan": True, "rerank": 100},
     "search": _sweep("rerank", [100])},
    {"name": "faiss-rq8x8", "adapter": "faiss.rq", "group": "faiss RQ",
     "params": {"M": 8, "nbits": 8, "beam": 8}, "train_size": 10000},
    {"name": "faiss-ivf1024-pq48", "adapter": "faiss.ivfpq", "group": "faiss IVFPQ",
     "params": {"nlist": 1024, "M": 48, "nbits": 8}, "train_size": 50000,
     "search": _sweep("nprobe", [4, 8, 16, 32, 64])},
    {"name": "faiss-binary", "adapter": "faiss.binary", "group": "faiss binary",
     "params": {"rerank": 0}},
    {"name": "faiss-binary-rerank", "adapter": "faiss.binary", "group": "faiss binary+rerank",
     "params": {"rerank": 400}, "search": _sweep("rerank", [50, 100, 200, 400])},
    {"name": "faiss-hnsw-M32", "adapter": "faiss.hnsw", "group": "faiss HNSW",
     "params": {"M": 32, "efConstruction": 80},
     "search": _sweep("efSearch", [16, 32, 64, 128, 256])},
    # --- hnswlib -----------------------------------------------------------
    {"name": "hnswlib-M16", "adapter": "hnswlib.hnsw", "group": "hnswlib",
     "params": {"M": 16, "efConstruction": 80}, "search": _sweep("ef", [16, 32, 64, 128, 256])},
]

# Seconds on the bundled sample: small codebooks and graphs, one or two points each.
SMOKE_GRID = [
    {"name": "vp-flat", "adapter": "vecpress.flat", "group": "vecpress exact",
     "vs": "faiss-flat"},
    {"name": "vp-mat64-raw", "adapter": "vecpress.matryoshka", "group": "vecpress cascade raw",
     "params": {"prefix": 64}, "search": _sweep("candidates", [50])},
    {"name": "vp-mat64-pca", "adapter": "vecpress.matryoshka", "group": "vecpress cascade pca",
     "params": {"prefix": 64, "rotation": "pca"}, "search": _sweep("candidates", [20, 50])},
    {"name": "vp-binary-rerank", "adapter": "vecpress.binary", "group": "vecpress binary+rerank",
     "params": {"rerank": 50}, "vs": "faiss-binary-rerank"},
    {"name": "vp-pq32x4", "adapter": "vecpress.pq", "group": "vecpress PQ 4-bit",
     "params": {"M": 32, "nbits": 4}},
    {"name": "vp-rq2x8", "adapter": "vecpress.rq", "group": "vecpress RQ",
     "params": {"M": 2, "nbits": 8, "beam": 2}, "train_size": 2000},
    {"name": "faiss-flat", "adapter": "faiss.flat", "group": "faiss exact"},
    {"name": "faiss-pq16x6", "adapter": "faiss.pq", "group": "faiss PQ",
     "params": {"M": 16, "nbits": 6}},
    {"name": "faiss-pq32x4fs-refine", "adapter": "faiss.pq",
     "group": "faiss PQ 4-bit fast-scan+rerank",
     "params": {"M": 32, "nbits": 4, "fastscan": True, "rerank": 50}},
    {"name": "faiss-ivf16-pq16x4", "adapter": "faiss.ivfpq", "group": "faiss IVFPQ",
     "params": {"nlist": 16, "M": 16, "nbits": 4}, "search": _sweep("nprobe", [4])},
    {"name": "faiss-binary-rerank", "adapter": "faiss.binary", "group": "faiss binary+rerank",
     "params": {"rerank": 50}},
    {"name": "faiss-hnsw-M8", "adapter": "faiss.hnsw", "group": "faiss HNSW",
     "params": {"M": 8, "efConstruction": 32}, "search": _sweep("efSearch", [16, 64])},
    {"name": "hnswlib-M8", "adapter": "hnswlib.hnsw", "group": "hnswlib",
     "params": {"M": 8, "efConstruction": 32}, "search": _sweep("ef", [16, 64])},
]

# scifact: 5k documents; the default grid with a coarse quantizer sized for it.
# Reports nDCG@10 against the BEIR judgements next to recall.
SCIFACT_GRID = [c for c in DEFAULT_GRID if c["adapter"] != "faiss.ivfpq"] + [
    {"name": "faiss-ivf64-pq48", "adapter": "faiss.ivfpq", "group": "faiss IVFPQ",
     "params": {"nlist": 64, "M": 48, "nbits": 8}, "search": _sweep("nprobe", [1, 2, 4, 8, 16])},
]

GRIDS = {"default": DEFAULT_GRID, "smoke": SMOKE_GRID, "scifact": SCIFACT_GRID}


def validate_grid(grid) -> list[dict]:
    """Check a grid and fill defaults; raises ValueError naming the bad entry."""
    if not isinstance(grid, list) or not grid:
        raise ValueError("a grid must be a non-empty list of config dicts")
    out, names = [], set()
    for i, cfg in enumerate(grid):
        if not isinstance(cfg, dict):
            raise ValueError(f"grid entry {i} is not a dict: {cfg!r}")
        unknown = set(cfg) - _KEYS
        if unknown:
            raise ValueError(f"grid entry {i} ({cfg.get('name')}) has unknown keys "
                             f"{sorted(unknown)}; allowed: {sorted(_KEYS)}")
        if "name" not in cfg or "adapter" not in cfg:
            raise ValueError(f"grid entry {i} needs 'name' and 'adapter'")
        if cfg["adapter"] not in ADAPTERS:
            raise ValueError(f"grid entry {cfg['name']!r}: unknown adapter {cfg['adapter']!r}; "
                             f"choose one of {sorted(ADAPTERS)}")
        if cfg["name"] in names:
            raise ValueError(f"grid has two entries named {cfg['name']!r}")
        names.add(cfg["name"])
        search = cfg.get("search", [{}])
        if not isinstance(search, list) or not search or \
                not all(isinstance(s, dict) for s in search):
            raise ValueError(f"grid entry {cfg['name']!r}: 'search' must be a non-empty list "
                             "of dicts of search settings")
        if not isinstance(cfg.get("params", {}), dict):
            raise ValueError(f"grid entry {cfg['name']!r}: 'params' must be a dict")
        out.append({"name": cfg["name"], "adapter": cfg["adapter"],
                    "group": cfg.get("group", cfg["adapter"]),
                    "params": copy.deepcopy(cfg.get("params", {})),
                    "search": copy.deepcopy(search),
                    "train_size": cfg.get("train_size"), "vs": cfg.get("vs")})
    return out


def load_grid(spec: str, only: list[str] | None = None) -> list[dict]:
    """A built-in grid by name ("default", "smoke", "scifact") or a JSON file path.

    only : keep configs whose name contains one of these substrings.
    """
    if spec in GRIDS:
        grid = GRIDS[spec]
    else:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"grid {spec!r} is neither a built-in grid "
                                    f"({', '.join(GRIDS)}) nor a JSON file")
        try:
            grid = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
    grid = validate_grid(grid)
    names = {c["name"] for c in grid}
    for c in grid:
        if c["vs"] is not None and c["vs"] not in names:
            raise ValueError(f"config {c['name']!r}: 'vs' names {c['vs']!r}, which is not in the grid")
    if only:
        grid = [c for c in grid if any(s in c["name"] for s in only)]
        if not grid:
            raise ValueError(f"no config name contains any of {only}")
    return grid
