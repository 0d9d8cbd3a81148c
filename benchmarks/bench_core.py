"""Issue-2 benchmark: our exact, Matryoshka-cascade and Hamming scans vs faiss
on wordnet-minilm, in one process, interleaved, best of several repeats.

    python benchmarks/bench_core.py [--data ../shared/data/wordnet-minilm] [--threads 2]

Prints QPS and ratios (ours / faiss): exact vs IndexFlatIP, cascade 128->384
(100 candidates, raw and PCA-rotated) vs IndexFlatIP, Hamming top-10 over
384-bit codes vs IndexBinaryFlat; batch of 1,000 queries, k=10.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import vecpress as vp
from vecpress import _core
from vecpress.bench.timing import best_time
from vecpress.datasets import load_npy_dir
from vecpress.metrics import recall_at_k

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wordnet-minilm"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    vp.set_num_threads(args.threads)
    ds = load_npy_dir(args.data, args.queries)
    x, q, gt, k, nq = ds.base, ds.queries, ds.gt_ids, 10, ds.queries.shape[0]

    fflat = faiss.IndexFlatIP(ds.dim)
    fflat.add(x)
    ours = vp.FlatIndex(ds.dim)
    ours.add(x)
    raw = vp.MatryoshkaIndex(ds.dim, dims=(128, ds.dim), candidates=(100,))
    raw.add(x)
    rng = np.random.default_rng(0)
    rot = vp.MatryoshkaIndex(ds.dim, dims=(128, ds.dim), candidates=(100,), rotation="pca")
    rot.train(x[rng.choice(x.shape[0], 50_000, replace=False)]).add(x)
    codes, qcodes = _core.binarize(x, ds.dim), _core.binarize(q, ds.dim)
    fbin = faiss.IndexBinaryFlat(ds.dim)
    fbin.add(codes)

    cases = {
        "faiss IndexFlatIP": lambda: fflat.search(q, k),
        "vecpress exact": lambda: ours.search(q, k),
        "vecpress cascade 128->384 raw": lambda: raw.search(q, k),
        "vecpress cascade 128->384 pca": lambda: rot.search(q, k),
        "faiss IndexBinaryFlat": lambda: fbin.search(qcodes, k),
        "vecpress hamming_search": lambda: _core.hamming_search(qcodes, codes, k, args.threads),
    }
    # interleave: each round times every case once, so drift hits all alike
    times = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            times[name].append(best_time(fn, 1, warmup=True))
    best = {name: min(t) for name, t in times.items()}
    qps = {name: nq / t for name, t in best.items()}
    recalls = {
        "vecpress exact": recall_at_k(ours.search(q, k)[1], gt, k),
        "vecpress cascade 128->384 raw": recall_at_k(raw.search(q, k)[1], gt, k),
        "vecpress cascade 128->384 pca": recall_at_k(rot.search(q, k)[1], gt, k),
    }
    ratios = {
        "exact / faiss Flat": qps["vecpress exact"] / qps["faiss IndexFlatIP"],
        "cascade raw / faiss Flat": qps["vecpress cascade 128->384 raw"] / qps["faiss IndexFlatIP"],
        "cascade pca / faiss Flat": qps["vecpress cascade 128->384 pca"] / qps["faiss IndexFlatIP"],
        "hamming / faiss BinaryFlat": qps["vecpress hamming_search"] / qps["faiss IndexBinaryFlat"],
    }
    print(f"{ds.name}: {x.shape[0]} x {ds.dim}, {nq} queries, k={k}, {args.threads} threads, "
          f"SIMD {vp.simd_level()}, best of {args.repeats}")
    for name, v in qps.items():
        extra = f"  recall@10 {recalls[name]:.3f}" if name in recalls else ""
        print(f"  {name:<32} {v:>9.0f} QPS{extra}")
    for name, r in ratios.items():
        print(f"  {name:<32} {r:>9.2f}x")
    result = {"dataset": ds.name, "threads": args.threads, "queries": nq, "qps": qps,
              "recall@10": recalls, "ratios": ratios, "machine": vp.info(),
              "faiss": faiss.__version__}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
