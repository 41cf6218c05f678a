"""Measure the speed ratios of ``wasmpose.quant`` against PyTorch for docs/quantization.md.

    PYTHONPATH=. python -m benchmarks.quant_ratios [--rounds 3] [--reps 30]

Each (case, implementation) runs in its own fresh process, several rounds alternating between
implementations; the figure kept is the best time of all calls (on a shared 2-core machine the
medians mostly measure the other processes: a preempted OpenMP worker costs a time slice).
Separate processes matter: PyTorch and Numba each keep an OpenMP thread pool whose idle threads
spin for a while after a parallel region, and on a 2-core machine the other library's spinning
threads slowed the next call (torch's 1M quantize went from 0.05 ms to 5 ms after a Numba
parallel call in one process).
The asv suite (``benchmark_quant.py``) times the same cases.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    # case: implementations, sizes
    "quantize": (["wasmpose", "torch"], ["1M", "16M"]),
    "quantize_channel": (["wasmpose", "torch"], ["1M", "16M"]),
    "dequantize": (["wasmpose", "torch"], ["1M", "16M"]),
    "calibrate": (["wasmpose", "torch"], ["1M", "16M"]),
    "pack": (["wasmpose", "numpy"], ["1M", "16M"]),
    "unpack": (["wasmpose", "numpy"], ["1M", "16M"]),
}


def _fn(case, impl, size):
    from benchmarks import benchmark_quant as bq

    suite = {"quantize": bq.QuantizePerTensor, "quantize_channel": bq.QuantizePerChannel,
             "dequantize": bq.Dequantize, "calibrate": bq.CalibrateMinMax,
             "pack": bq.Int4Packing, "unpack": bq.Int4Packing}[case]()
    suite.setup(impl, size)
    if case in ("pack", "unpack"):
        return getattr(suite, case)
    return suite.fn


def one(case, impl, size, reps):
    fn = _fn(case, impl, size)
    for _ in range(3):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--one", nargs=3, metavar=("CASE", "IMPL", "SIZE"))
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    a = ap.parse_args(argv)
    if a.one:
        print(*one(*a.one, a.reps))
        return
    for case in a.cases:
        impls, sizes = CASES[case]
        for size in sizes:
            best = {}
            for _ in range(a.rounds):
                for impl in impls:
                    out = subprocess.run([sys.executable, "-m", "benchmarks.quant_ratios", "--one",
                                          case, impl, size, "--reps", str(a.reps)],
                                         capture_output=True, text=True, check=True)
                    t = float(out.stdout.strip().splitlines()[-1].split()[0])
                    best[impl] = min(best.get(impl, t), t)
            base = best[impls[1]]
            ms = "  ".join(f"{k} {v * 1e3:.3f} ms" for k, v in best.items())
            print(f"{case:18s}{size:>4s}  {ms}  ratio {base / best['wasmpose']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
