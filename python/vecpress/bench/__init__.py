"""Benchmark harness: vecpress indexes against faiss and hnswlib on real
embeddings, in one process, interleaved; JSON lines, Markdown and plots.

    python -m vecpress.bench --dataset ../shared/data/wordnet-minilm --grid default

Modules: configs (grid files), adapters (one per index type), data (datasets,
cached ground truth, qrels), timing, runner, report, plots.
"""
from .configs import builtin_grids, grid_dir, load_grid, validate_grid
from .data import ground_truth, load_qrels, open_dataset
from .runner import recalls, run_benchmark

__all__ = ["builtin_grids", "grid_dir", "load_grid", "validate_grid", "ground_truth",
           "load_qrels", "open_dataset", "recalls", "run_benchmark"]
