"""Issue-4 benchmark: residual quantization vs faiss on wordnet-minilm, in one
process, ours and faiss interleaved, best of several repeats.

    PYTHONPATH=python python3 benchmarks/bench_rq.py [--threads 2] [--quick]

Prints (and writes as JSON with --json PATH):
- training time on the same 20,000-vector sample, RQ M=8 nbits=8 beam 8
  (ours vs faiss.ResidualQuantizer, default training), and the MSE of each;
- encode throughput at beam 8 on the same codebooks (faiss's), ours vs
  faiss.ResidualQuantizer (default, and with use_beam_LUT=1), with MSE;
- search QPS and recall@10 of RQIndex (ADC tables) vs IndexResidualQuantizer
  (default search: decompress every code), 1,000 queries, k=10;
- M=16 and M=32 recall@10 with and without exact rerank of 100 candidates, and
  group RQ (2 x 8 and 4 x 8 stages) at the same code sizes.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import vecpress as vp
from vecpress import _core
from vecpress.bench.timing import best_time
from vecpress.metrics import recall_at_k

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wordnet-minilm"


def faiss_rq(faiss, d, M, cb=None, beam=8, lut=0):
    rq = faiss.ResidualQuantizer(d, M, 8)
    rq.max_beam_size = beam
    rq.use_beam_LUT = lut
    if cb is not None:
        faiss.copy_array_to_vector(np.ascontiguousarray(cb).ravel(), rq.codebooks)
        rq.is_trained = True
        if lut:
            rq.compute_codebook_tables()
    return rq


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ntrain", type=int, default=20000)
    ap.add_argument("--nbase", type=int, default=0, help="base rows (0 = all)")
    ap.add_argument("--nencode", type=int, default=10000)
    ap.add_argument("--quick", action="store_true", help="skip training faiss (use our codebooks)")
    ap.add_argument("--skip-search", action="store_true",
                    help="skip the search comparison (faiss's default search takes minutes)")
    ap.add_argument("--skip-large", action="store_true", help="skip the M=16/32 figures")
    ap.add_argument("--large", default="1x16,2x8,1x32,4x8",
                    help="GxM configs of the larger-code section (G groups of M stages)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    import faiss

    faiss.omp_set_num_threads(a.threads)
    vp.set_num_threads(a.threads)
    data = Path(a.data)
    x = np.load(data / "base.npy").astype(np.float32)
    if a.nbase:
        x = x[: a.nbase]
    q = np.load(data / "queries.npy").astype(np.float32)[:1000]
    d = x.shape[1]
    rng = np.random.default_rng(2024)
    train = x[rng.choice(len(x), a.ntrain, replace=False)]
    _, gt = _core.flat_search(x, q, d, 0, 10)
    res = {"threads": a.threads, "simd": vp.simd_level(), "n": len(x), "nq": len(q)}

    # --- training (once each: minutes) ---
    ours = vp.ResidualQuantizer(d, 8, 8, beam=8, threads=a.threads)
    t0 = time.perf_counter()
    ours.train(train, progress=False)
    res["train_s_ours"] = time.perf_counter() - t0
    ev = x[: a.nencode]
    res["train_mse_ours"] = float(ours.encode_with_stats(ev)[1].mean())
    print(f"train ours {res['train_s_ours']:.1f}s mse {res['train_mse_ours']:.4f}", flush=True)
    if not a.quick:
        frq = faiss_rq(faiss, d, 8)
        t0 = time.perf_counter()
        frq.train(train)
        res["train_s_faiss"] = time.perf_counter() - t0
        fcb = faiss.vector_to_array(frq.codebooks).reshape(8, 256, d)
        res["train_mse_faiss"] = float(((ev - frq.decode(frq.compute_codes(ev))) ** 2).sum(1).mean())
        res["train_time_ratio_ours_over_faiss"] = res["train_s_ours"] / res["train_s_faiss"]
        print(f"train faiss {res['train_s_faiss']:.1f}s mse {res['train_mse_faiss']:.4f}", flush=True)
    else:
        fcb = ours.codebooks

    # --- encoding on the same codebooks, interleaved ---
    same = vp.ResidualQuantizer.from_codebooks(fcb, beam=8, threads=a.threads)
    same.encode(ev[:100])  # builds the cached cross-product tables
    f0, f1 = faiss_rq(faiss, d, 8, fcb, 8, 0), faiss_rq(faiss, d, 8, fcb, 8, 1)
    t_o, t_f0, t_f1 = [], [], []
    for _ in range(a.repeats):
        t_o.append(best_time(lambda: same.encode(ev), 1))
        t_f0.append(best_time(lambda: f0.compute_codes(ev), 1))
        t_f1.append(best_time(lambda: f1.compute_codes(ev), 1))
    mse_o = float(((ev - same.decode(same.encode(ev))) ** 2).sum(1).mean())
    mse_f = float(((ev - f0.decode(f0.compute_codes(ev))) ** 2).sum(1).mean())
    res.update(encode_vps_ours=len(ev) / min(t_o), encode_vps_faiss=len(ev) / min(t_f0),
               encode_vps_faiss_lut=len(ev) / min(t_f1), encode_mse_ours=mse_o,
               encode_mse_faiss=mse_f)
    res["encode_ratio"] = res["encode_vps_ours"] / res["encode_vps_faiss"]
    res["encode_ratio_vs_faiss_lut"] = res["encode_vps_ours"] / res["encode_vps_faiss_lut"]
    print(f"encode beam 8: ours {res['encode_vps_ours']:.0f}/s faiss {res['encode_vps_faiss']:.0f}/s "
          f"(LUT {res['encode_vps_faiss_lut']:.0f}/s) ratio {res['encode_ratio']:.2f}x; "
          f"mse ours {mse_o:.4f} faiss {mse_f:.4f}", flush=True)

    # --- search: ADC vs IndexResidualQuantizer default (decompress) ---
    if not a.skip_search:
        idx = vp.RQIndex(d, "ip", M=8, nbits=8, beam=8, threads=a.threads)
        idx.rq = same
        idx.add(x)
        fidx = faiss.IndexResidualQuantizer(d, 8, 8, faiss.METRIC_INNER_PRODUCT)
        faiss.copy_array_to_vector(np.ascontiguousarray(fcb).ravel(), fidx.rq.codebooks)
        fidx.rq.max_beam_size = 8
        fidx.rq.is_trained = True
        fidx.is_trained = True
        fidx.add(x)
        fq = q[:100]  # faiss decompresses every code per query: keep its batch small
        t_o, t_f = [], []
        for _ in range(a.repeats):
            t_o.append(best_time(lambda: idx.search(q, 10), 1))
            t_f.append(best_time(lambda: fidx.search(fq, 10), 1))
        res["search_qps_ours"] = len(q) / min(t_o)
        res["search_qps_faiss"] = len(fq) / min(t_f)
        res["search_ratio"] = res["search_qps_ours"] / res["search_qps_faiss"]
        res["recall10_ours"] = recall_at_k(idx.search(q, 10)[1], gt, 10)
        res["recall10_faiss"] = recall_at_k(fidx.search(q, 10)[1], gt, 10)
        print(f"search: ours {res['search_qps_ours']:.0f} QPS faiss {res['search_qps_faiss']:.1f} QPS "
              f"ratio {res['search_ratio']:.0f}x; recall@10 ours {res['recall10_ours']:.3f} "
              f"faiss {res['recall10_faiss']:.3f}", flush=True)

    # --- larger codes, with and without rerank (ours only): one RQ of M stages,
    # and group RQ (G groups of 8 stages) at the same code sizes ---
    if not a.skip_large:
        for G, M in (map(int, c.split("x")) for c in a.large.split(",")):
            ix = vp.RQIndex(d, "ip", M=M, nbits=8, beam=8, rerank=100, threads=a.threads,
                            groups=G)
            t0 = time.perf_counter()
            ix.train(train, progress=False)
            tt = time.perf_counter() - t0
            t0 = time.perf_counter()
            ix.add(x)
            te = time.perf_counter() - t0
            r0 = recall_at_k(ix.search(q, 10, rerank=0)[1], gt, 10)
            r1 = recall_at_k(ix.search(q, 10)[1], gt, 10)
            qps0 = len(q) / best_time(lambda: ix.search(q, 10, rerank=0), a.repeats)
            qps1 = len(q) / best_time(lambda: ix.search(q, 10), a.repeats)
            name = f"M{M}" if G == 1 else f"G{G}xM{M}"
            res[name] = dict(code_bytes=G * M, train_s=tt, encode_vps=len(x) / te, recall10=r0,
                             recall10_rerank100=r1, qps=qps0, qps_rerank100=qps1)
            print(f"{name} ({G * M} B): train {tt:.0f}s encode {len(x) / te:.0f}/s recall@10 "
                  f"{r0:.3f} (rerank 100: {r1:.3f}), QPS {qps0:.0f} / {qps1:.0f}", flush=True)
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
