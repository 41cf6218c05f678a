"""A small wall-clock timer shared by the command line's ``demo`` and ``bench``."""

from __future__ import annotations

import time
from collections.abc import Callable


def measure(fn: Callable[[], object], *, min_time: float = 0.02, repeat: int = 5) -> float:
    """Seconds per call of ``fn``: the median of ``repeat`` runs, each long enough to be timed.

    ``fn`` is called once first (compilation, caches), then in loops of ``number`` calls where
    ``number`` is chosen so one loop lasts at least ``min_time`` seconds.
    """
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time or number >= 1 << 20:
            break
        number *= 2 if elapsed <= 0 else max(2, min(10, int(min_time / elapsed) + 1))
    runs = [elapsed / number]
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number)
    runs.sort()
    return runs[len(runs) // 2]
