"""``PoseTracker.update`` before and after a change, in one process, rounds alternating.

    git show <commit>:wasmpose/tracking.py > /tmp/old_tracking.py   # the version to compare
    PYTHONPATH=. python -m benchmarks.tracker_ratios /tmp/old_tracking.py --rounds 7

The old module is loaded from its file (it must not register kernels under names the current
package registers; ``wasmpose/tracking.py`` up to commit 04f506d does not). Each round runs
200 updates of each version on the data and with the priming of the asv suite
``benchmark_tracking.PoseTrackerUpdate`` (people walking, 10, 100 and 300 a frame, raw and
1-euro smoothed) and keeps the median update; printed are the best and the median round of each
version, their ratio (of the medians) and the load average before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

from wasmpose.tools.timing import load_average
from wasmpose.tracking import PoseTracker

from .common import walking_people


def _round(cls, people, smooth, n=200):
    frames, areas = walking_people(people, 200)
    scores = [1.0] * people
    tracker = cls(smoothing=dict(min_cutoff=1.0, beta=0.01) if smooth else None)
    for i in range(16):  # as PoseTrackerUpdate.setup: live tracks with full histories
        tracker.update(frames[i], scores, areas)
    times = []
    for j in range(16, 16 + n):
        i = j % 398
        frame = frames[i if i < 200 else 398 - i]
        t0 = time.perf_counter()
        tracker.update(frame, scores, areas)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="path of the old wasmpose/tracking.py")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    spec = importlib.util.spec_from_file_location("old_tracking", args.old)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    print("load average", load_average())
    for people in (10, 100, 300):
        for smooth in (False, True):
            before, after = [], []
            for _ in range(args.rounds):
                before.append(_round(old.PoseTracker, people, smooth))
                after.append(_round(PoseTracker, people, smooth))
            b, a = statistics.median(before), statistics.median(after)
            print(f"{people:4d} people {'smoothed' if smooth else 'raw':8s}  before "
                  f"{min(before):7.3f} ms (median {b:7.3f})  after {min(after):6.3f} ms "
                  f"(median {a:6.3f})  {b / a:5.1f}x")
    print("load average", load_average())


if __name__ == "__main__":
    main()
