"""Speed ratios between the ``impl`` rows of one asv suite, measured in one process.

    PYTHONPATH=. python -m benchmarks.ratios benchmark_keypoints.OksNms --where poses=100
    PYTHONPATH=. python -m benchmarks.ratios benchmark_quant.TopK --rounds 7

asv's ``--quick`` takes one sample, too few for ratios, and a full ``asv run`` times the rows
minutes apart on a shared machine. This takes the suite's own ``setup`` (same data, same calls)
and times each ``impl`` with :func:`wasmpose.tools.timing.measure`, the implementations alternating
within each round so that a busy neighbour slows all of them alike; the figures kept per
``impl`` are its best round and the median of its rounds. Rows a suite skips (a missing peer, a
case it does not time) are left out. Prints the time per call and ``x wasmpose``: the row's time
over wasmpose's (above 1: wasmpose is faster), of the best rounds and of the medians, and the
load average before and after.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import statistics

from wasmpose.tools.timing import load_average, measure


def _suite(name: str):
    module, cls = name.rsplit(".", 1)
    return getattr(importlib.import_module(f"benchmarks.{module}"), cls)


def _case(suite, method, params):
    """Set up ``suite`` for ``params``; return (call, teardown) or None when it skips."""
    b = suite()
    try:
        b.setup(*params)
    except NotImplementedError:
        return None
    fn = getattr(b, method)
    teardown = getattr(b, "teardown", lambda *a: None)
    return (lambda: fn(*params)), (lambda: teardown(*params))


def ratios(suite_name: str, method: str | None = None, where: dict | None = None,
           rounds: int = 5, min_time: float = 0.01, *, median: bool = False) -> list[tuple]:
    """``[(case, impl, seconds per call), ...]`` for every case of the suite (see module doc):
    the best round, or with ``median`` ``(case, impl, best, median)``."""
    suite = _suite(suite_name)
    method = method or next(m for m in dir(suite) if m.startswith("time_"))
    names = list(suite.param_names)
    values = [[v for v in vs if str(v) == (where or {}).get(n, str(v))]
              for n, vs in zip(names, suite.params, strict=True)]
    i = names.index("impl")
    impls = values.pop(i)
    rows = []
    for rest in itertools.product(*values):
        times: dict = {}
        for _ in range(rounds):
            for impl in impls:
                params = (*rest[:i], impl, *rest[i:])
                case = _case(suite, method, params)
                if case is None:
                    continue
                call, teardown = case
                try:
                    t = measure(call, min_time=min_time, repeats=3).best
                finally:
                    teardown()
                times.setdefault(impl, []).append(t)
        label = ", ".join(f"{n}={v}" for n, v in zip(names[:i] + names[i + 1:], rest,
                                                     strict=True))
        rows += [(label, impl, min(ts), statistics.median(ts)) if median
                 else (label, impl, min(ts)) for impl, ts in times.items()]
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", help="module.Class, e.g. benchmark_keypoints.OksNms")
    ap.add_argument("--method", help="the time_ method (default: the suite's first)")
    ap.add_argument("--where", nargs="*", default=[], metavar="PARAM=VALUE",
                    help="only these values of the other parameters")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    where = dict(w.split("=", 1) for w in a.where)
    print(f"load average {load_average()}")
    rows = ratios(a.suite, a.method, where, a.rounds, median=True)
    base = {label: (t, m) for label, impl, t, m in rows if impl == "wasmpose"}
    print(f"{'case':40s} {'impl':16s} {'best':>12s}    {'median':>12s}    "
          "x wasmpose (best, median)")
    for label, impl, t, m in rows:
        ratio = (f"{t / base[label][0]:8.2f}x {m / base[label][1]:8.2f}x" if label in base
                 else "")
        print(f"{label:40s} {impl:16s} {t * 1e3:12.4f} ms {m * 1e3:12.4f} ms {ratio}",
              flush=True)
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
