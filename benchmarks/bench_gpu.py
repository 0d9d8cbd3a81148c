"""GPU kernel benchmark: Hamming scan, 8-bit ADC scan and RQ beam encoding on
1M vectors, against the card's peak memory bandwidth and our CPU kernels.

    PYTHONPATH=python python3 benchmarks/bench_gpu.py [--n 1000000] [--out gpu.json]

Data are synthetic and seeded (uniform codes, Gaussian vectors): scan speed
does not depend on the values, and RQ encode cost depends only on the shapes.
Inputs are uploaded once and stay on the device; a GPU timing covers the
kernels only (launch to stream synchronisation). CPU timings use the same
inputs through vecpress._core with all cores.

Reported per scan:
- gpu_ms, cpu_ms: best of --repeat runs for the whole batch of nq queries;
- scan_gbs: code bytes read by the kernels (nq * n * bytes per code, since each
  query block streams its chunk of codes) / gpu time. Once the codes fit in L2
  (50 MB on H100) this can exceed DRAM bandwidth for nq > 1;
- unique_gbs: code bytes once (n * bytes per code) / gpu time: the DRAM figure,
  meaningful against peak_gbs at nq = 1;
- speedup: cpu_ms / gpu_ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import vecpress.gpu as gpu
from vecpress import _core, runtime


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up (and keeps the first call's allocations out of the timing)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        del out
    return best


def gpu_call(fn):
    """Runs a _cuda call and waits for it; the outputs are kept until timed."""
    def run():
        out = fn()
        gpu._cuda.synchronize(0)
        return out
    return run


def bench_hamming(n, nbits, nqs, k, repeat, cpu_max_q, rng):
    nbytes = _core.binary_code_bytes(nbits)
    codes = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    dcodes = gpu._cuda.DeviceArray.from_host(codes)
    rows = []
    for nq in nqs:
        q = rng.integers(0, 256, size=(nq, nbytes), dtype=np.uint8)
        dq = gpu._cuda.DeviceArray.from_host(q)
        t_gpu = best_time(gpu_call(lambda: gpu._cuda.hamming_search(dq, dcodes, k)), repeat)
        gd, gi = gpu._cuda.hamming_search(dq, dcodes, k)
        ncpu = min(nq, cpu_max_q)
        t_cpu = best_time(lambda: _core.hamming_search(q[:ncpu], codes, k), max(1, repeat // 2))
        cd, ci = _core.hamming_search(q[:ncpu], codes, k)
        assert np.array_equal(gd.to_host()[:ncpu], cd), "GPU and CPU Hamming distances differ"
        rows.append(scan_row("hamming", nq, n, nbytes, t_gpu, t_cpu * nq / ncpu, ncpu))
    return rows


def bench_adc(n, M, nqs, k, repeat, cpu_max_q, rng):
    codes = rng.integers(0, 256, size=(n, M), dtype=np.uint8)
    dcodes = gpu._cuda.DeviceArray.from_host(codes)
    rows = []
    for nq in nqs:
        tables = rng.standard_normal((nq, M, 256)).astype(np.float32)
        dt = gpu._cuda.DeviceArray.from_host(tables)
        t_gpu = best_time(gpu_call(lambda: gpu._cuda.adc_search_u8(dt, dcodes, False, k)), repeat)
        gs, gi = gpu._cuda.adc_search_u8(dt, dcodes, False, k)
        ncpu = min(nq, cpu_max_q)
        t_cpu = best_time(lambda: _core.adc_search_u8(tables[:ncpu], codes, False, k), max(1, repeat // 2))
        cs, ci = _core.adc_search_u8(tables[:ncpu], codes, False, k)
        np.testing.assert_allclose(gs.to_host()[:ncpu], cs, rtol=1e-5, atol=1e-5)
        rows.append(scan_row(f"adc_u8_M{M}", nq, n, M, t_gpu, t_cpu * nq / ncpu, ncpu))
    return rows


def scan_row(kernel, nq, n, code_bytes, t_gpu, t_cpu, ncpu):
    return {
        "kernel": kernel,
        "n": n,
        "nq": nq,
        "code_bytes": code_bytes,
        "gpu_ms": 1e3 * t_gpu,
        "cpu_ms": 1e3 * t_cpu,
        "cpu_queries_timed": ncpu,
        "scan_gbs": nq * n * code_bytes / t_gpu / 1e9,
        "unique_gbs": n * code_bytes / t_gpu / 1e9,
        "speedup": t_cpu / t_gpu,
    }


def bench_rq(n, d, M, ksub, beams, repeat, cpu_rows, rng):
    codebooks = (rng.standard_normal((M, ksub, d)) * (0.7 ** np.arange(M))[:, None, None]).astype(np.float32)
    x = rng.standard_normal((n, d)).astype(np.float32)
    dx = gpu._cuda.DeviceArray.from_host(x)
    dcb = gpu._cuda.DeviceArray.from_host(codebooks)
    cpu_rq = getattr(_core, "rq_encode_beam", None)
    rows = []
    for beam in beams:
        t_gpu = best_time(gpu_call(lambda: gpu._cuda.rq_encode_beam(dx, dcb, beam)), max(1, repeat // 2))
        row = {
            "kernel": f"rq_encode_beam_M{M}x{ksub}_d{d}",
            "n": n,
            "beam": beam,
            "gpu_ms": 1e3 * t_gpu,
            "gpu_vectors_per_s": n / t_gpu,
            "input_gbs": n * d * 4 / t_gpu / 1e9,
        }
        if cpu_rq is not None:
            sub = x[:cpu_rows]
            t_cpu = best_time(lambda: cpu_rq(sub, codebooks, beam), 1) * n / len(sub)
            row.update(cpu_ms_extrapolated=1e3 * t_cpu, cpu_rows_timed=len(sub), speedup=t_cpu / t_gpu)
        else:
            row["cpu"] = "vecpress._core.rq_encode_beam not in this build"
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--nq", type=int, nargs="+", default=[1, 16, 256])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--bits", type=int, default=384, help="Hamming code length (dims)")
    ap.add_argument("--M", type=int, default=32, help="ADC sub-quantizers (bytes per code)")
    ap.add_argument("--rq", default="8,256,384", help="RQ M,ksub,d")
    ap.add_argument("--beams", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cpu-max-queries", type=int, default=64,
                    help="CPU scans time at most this many queries and scale linearly")
    ap.add_argument("--cpu-rq-rows", type=int, default=20000)
    ap.add_argument("--out", help="write the JSON report here too")
    args = ap.parse_args()

    if not gpu.is_available():
        print(f"bench_gpu: {gpu.unavailable_reason()}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(0)
    info = gpu.device_info(0)
    report = {
        "device": info,
        "peak_gbs": info["memory_bandwidth_gbs"],
        "cpu": runtime.cpu_model(),
        "cpu_threads": _core.default_threads(),
        "simd": _core.simd_level(),
        "results": [],
    }
    report["results"] += bench_hamming(args.n, args.bits, args.nq, args.k, args.repeat,
                                       args.cpu_max_queries, rng)
    report["results"] += bench_adc(args.n, args.M, args.nq, args.k, args.repeat,
                                   args.cpu_max_queries, rng)
    M, ksub, d = (int(v) for v in args.rq.split(","))
    report["results"] += bench_rq(args.n, d, M, ksub, args.beams, args.repeat, args.cpu_rq_rows, rng)

    peak = report["peak_gbs"]
    print(f"# {info['name']} (peak {peak:.0f} GB/s, {info['sm_count']} SMs) vs {report['cpu']} "
          f"({report['cpu_threads']} threads, {report['simd']})")
    for r in report["results"]:
        if "scan_gbs" in r:
            print(f"{r['kernel']:>14} nq={r['nq']:<4} gpu {r['gpu_ms']:9.3f} ms  cpu {r['cpu_ms']:10.1f} ms  "
                  f"x{r['speedup']:7.1f}  scan {r['scan_gbs']:8.1f} GB/s  "
                  f"unique {r['unique_gbs']:7.1f} GB/s ({100 * r['unique_gbs'] / peak:.0f}% of peak)")
        else:
            extra = f"x{r['speedup']:.1f} vs CPU" if "speedup" in r else r["cpu"]
            print(f"{r['kernel']:>14} beam={r['beam']:<3} gpu {r['gpu_ms']:9.1f} ms  "
                  f"{r['gpu_vectors_per_s'] / 1e6:.2f} M vec/s  {extra}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
