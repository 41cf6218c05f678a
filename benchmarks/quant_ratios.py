"""Measure the speed ratios of ``wasmpose.quant`` against PyTorch for docs/quantization.md.

    PYTHONPATH=. python -m benchmarks.quant_ratios [--rounds 3] [--reps 30]

Each (case, implementation) runs in its own fresh process, several rounds alternating between
implementations; the figure kept is the best time of all calls (on a shared 2-core machine the
medians mostly measure the other processes: a preempted OpenMP worker costs a time slice).
Separate processes matter: PyTorch and Numba each keep an OpenMP thread pool whose idle threads
spin for a while after a parallel region, and on a 2-core machine the other library's spinning
threads slowed the next call (torch's 1M quantize went from 0.05 ms to 5 ms after a Numba
parallel call in one process).
The cases are the asv suites of ``benchmark_quant.py`` (their ``setup``) and the timing is
:func:`wasmpose.tools.timing.measure` with one call a sample; this script only adds the process per
measurement and the ratio table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

# case: (suite of benchmark_quant, its attribute holding the timed callable, implementations)
CASES = {
    "quantize": ("QuantizePerTensor", "fn", ["wasmpose", "torch"]),
    "quantize_channel": ("QuantizePerChannel", "fn", ["wasmpose", "torch"]),
    "dequantize": ("Dequantize", "fn", ["wasmpose", "torch"]),
    "dequantize_channel": ("DequantizePerChannel", "fn", ["wasmpose", "torch"]),
    "calibrate": ("CalibrateMinMax", "fn", ["wasmpose", "torch"]),
    "calibrate_channel": ("CalibrateMinMaxPerChannel", "fn", ["wasmpose", "torch"]),
    "pack": ("Int4Packing", "pack", ["wasmpose", "numpy"]),
    "unpack": ("Int4Packing", "unpack", ["wasmpose", "numpy"]),
}
SIZES = ["1M", "16M"]


def one(case, impl, size, reps):
    """(best, median) seconds of single calls of ``case``, set up by its asv suite."""
    from benchmarks import benchmark_quant as bq
    from wasmpose.tools.timing import measure

    suite_name, attr, _ = CASES[case]
    suite = getattr(bq, suite_name)()
    suite.setup(impl, size)  # calls the function once: compilation is never timed
    t = measure(getattr(suite, attr), min_time=0, repeats=reps)  # min_time=0: one call a sample
    return t.best, t.median


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
        impls = CASES[case][2]
        for size in SIZES:
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
