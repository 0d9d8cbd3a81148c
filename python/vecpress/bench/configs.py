"""Grids of index configurations, stored as JSON data files.

A grid file holds either a list of config dicts, or an object::

    {"description": "what the grid measures",      # optional, for readers
     "extends": "default",                        # optional: start from another grid
     "exclude": ["faiss-ivf1024-pq48"],           # optional: drop these inherited names
     "configs": [ ...config dicts... ]}           # appended after the inherited ones

``extends`` names a built-in grid or a file path relative to the extending file;
``exclude`` must name configs of the extended grid. A config dict::

    {"name": "faiss-hnsw-M32",          # unique; names the run in records and tables
     "adapter": "faiss.hnsw",           # a key of vecpress.bench.adapters.ADAPTERS
     "group": "faiss HNSW",             # curve/marker set in the plots (default: adapter)
     "params": {"M": 32, "efConstruction": 100},     # build parameters
     "search": [{"efSearch": 16}, {"efSearch": 64}], # one run per entry (default [{}])
     "train_size": 50000,               # optional: training sample size for this config
     "vs": "hnswlib-M32"}               # optional: counterpart in the speed-ratio table

Each (config, search entry) pair gives one record. Built-in grids are the
``*.json`` files of ``benchmarks/configs/`` in the source tree, named by their
stem ("default", "smoke", "scifact", "core", "pq", "rq", ...); the build
installs the same files into the package as ``vecpress/bench/grids/``, so an
installed wheel finds them too (see :func:`grid_dir`).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from .adapters import ADAPTERS

_KEYS = {"name", "adapter", "group", "params", "search", "train_size", "vs"}
_FILE_KEYS = {"description", "extends", "exclude", "configs"}
_HERE = Path(__file__).resolve().parent  # .../vecpress/bench
# An installed wheel: CMakeLists.txt installs benchmarks/configs/*.json here.
_INSTALLED = _HERE / "grids"
# A source tree run with PYTHONPATH=python: python/vecpress/bench -> repository root.
_SOURCE = _HERE.parent.parent.parent / "benchmarks" / "configs"


def grid_dir() -> Path | None:
    """The folder of the built-in grid files: ``vecpress/bench/grids`` in an installed
    package, else ``benchmarks/configs`` of the source tree this module lives in; None
    when neither exists (grid files given by path still work)."""
    return next((path for path in (_INSTALLED, _SOURCE) if path.is_dir()), None)


def builtin_grids() -> dict[str, Path]:
    """Built-in grid names (file stems) and their files, sorted by name."""
    folder = grid_dir()
    return {p.stem: p for p in sorted(folder.glob("*.json"))} if folder else {}


def validate_grid(grid: list) -> list[dict]:
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


def _resolve(spec: str, base: Path | None = None) -> Path:
    """The file of a built-in grid name, else of a path (relative to ``base`` if given)."""
    grids = builtin_grids()
    if spec in grids:
        return grids[spec]
    path = Path(spec) if base is None else base / spec
    if not path.is_file():
        raise FileNotFoundError(f"grid {spec!r} is neither a built-in grid "
                                f"({', '.join(grids) or 'none found'}) nor a JSON file")
    return path


def _read_grid_file(path, seen: tuple = ()) -> list[dict]:
    """The config dicts of a grid file (list or object form, see the module docstring),
    with ``extends`` and ``exclude`` applied; not yet validated."""
    path = Path(path).resolve()
    if path in seen:
        raise ValueError(f"grid {path} extends itself: "
                         + " -> ".join(p.name for p in (*seen, path)))
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if isinstance(data, list):
        return data
    if not isinstance(data, dict) or set(data) - _FILE_KEYS:
        raise ValueError(f"{path}: a grid file holds a list of configs or an object with the "
                         f"keys {sorted(_FILE_KEYS)}")
    grid: list = []
    exclude = data.get("exclude", [])
    if "extends" in data:
        grid = _read_grid_file(_resolve(data["extends"], path.parent), (*seen, path))
        missing = set(exclude) - {c.get("name") for c in grid if isinstance(c, dict)}
        if missing:
            raise ValueError(f"{path}: 'exclude' names {sorted(missing)}, which "
                             f"{data['extends']!r} does not have")
        grid = [c for c in grid if not (isinstance(c, dict) and c.get("name") in exclude)]
    elif exclude:
        raise ValueError(f"{path}: 'exclude' needs 'extends'")
    configs = data.get("configs", [])
    if not isinstance(configs, list):
        raise ValueError(f"{path}: 'configs' must be a list of config dicts")
    return grid + configs


def load_grid(spec: str, only: list[str] | None = None) -> list[dict]:
    """A validated grid: a built-in grid by name (see :func:`builtin_grids`) or a JSON
    file path.

    only : keep configs whose name contains one of these substrings.
    """
    grid = validate_grid(_read_grid_file(_resolve(spec)))
    names = {c["name"] for c in grid}
    for c in grid:
        if c["vs"] is not None and c["vs"] not in names:
            raise ValueError(f"config {c['name']!r}: 'vs' names {c['vs']!r}, which is not in the grid")
    if only:
        grid = [c for c in grid if any(s in c["name"] for s in only)]
        if not grid:
            raise ValueError(f"no config name contains any of {only}")
    return grid
