"""The one timer of wasmpose's tooling: ``python -m wasmpose bench``, the demo and the asv suite.

:func:`measure` times a callable; :func:`gc_paused`, :func:`load_average`, :func:`ratio`,
:func:`fmt_ms` and :func:`versions` are what the reports around it need, defined once so that
every report counts, rounds and describes its machine the same way.

Timing method of :func:`measure`: the callable is called once untimed (Numba compilation or
cache load, first touch of memory), then a loop count is chosen so that one sample takes at
least ``min_time`` (20 ms by default), then ``repeats`` samples are taken with
``time.perf_counter`` and the garbage collector off. The time reported per call is the median
of the fastest half of the samples: robust against interference from other processes, less
optimistic than the minimum.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Timing", "measure", "gc_paused", "load_average", "ratio", "fmt_ms", "versions"]

MIN_TIME, REPEATS = 0.020, 7  # measure()'s defaults: samples of >= 20 ms, 7 of them


@dataclasses.dataclass(frozen=True)
class Timing:
    """Result of :func:`measure`, all times in seconds per call.

    Attributes
    ----------
    estimate : float
        Median of the fastest half of the samples (the figure reported).
    best : float
        Fastest sample.
    median : float
        Median of all samples.
    loops : int
        Calls per sample.
    samples : int
        Number of samples.
    """

    estimate: float
    best: float
    median: float
    loops: int
    samples: int


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The garbage collector off inside the block (as every timing of wasmpose takes it).

    Examples
    --------
    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _loop_time(fn: Callable[[], Any], loops: int) -> float:
    with gc_paused():
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        return time.perf_counter() - t0


def measure(fn: Callable[[], Any], *, min_time: float = MIN_TIME,
            repeats: int = REPEATS) -> Timing:
    """Time ``fn()``: warm up once, calibrate the loop count, take ``repeats`` samples.

    Parameters
    ----------
    fn : callable
        Called without arguments; its result is discarded.
    min_time : float, default 0.02
        Minimum duration of one sample in seconds; the loop count is raised until a sample
        takes at least this long.
    repeats : int, default 7
        Number of samples (at least 1).

    Returns
    -------
    Timing
        Seconds per call.

    Examples
    --------
    >>> t = measure(lambda: sum(range(100)), min_time=0.001, repeats=3)
    >>> 0 < t.best <= t.estimate
    True
    """
    fn()  # warm-up: compilation or cache load, first touch of memory; never timed
    loops = 1
    while True:
        t = _loop_time(fn, loops)
        if t >= min_time or loops >= 1 << 24:
            break
        # aim 20% past min_time; at least double, at most x100 per step
        want = math.ceil(loops * min_time * 1.2 / t) if t > 0 else loops * 100
        loops = min(max(want, 2 * loops), 100 * loops)
    per_call = [t / loops]
    for _ in range(max(1, int(repeats)) - 1):
        per_call.append(_loop_time(fn, loops) / loops)
    per_call.sort()
    fastest_half = per_call[: (len(per_call) + 1) // 2]
    return Timing(estimate=statistics.median(fastest_half), best=per_call[0],
                  median=statistics.median(per_call), loops=loops, samples=len(per_call))


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the OS has them (busy machines: noisy).

    Examples
    --------
    >>> la = load_average()
    >>> la is None or len(la) == 3
    True
    """
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, or ``None`` when either is missing or ``den`` is not positive.

    Examples
    --------
    >>> ratio(3.0, 1.5), ratio(None, 1.0), ratio(1.0, 0.0)
    (2.0, None, None)
    """
    if num is None or den is None or den <= 0:
        return None
    return num / den


def fmt_ms(ms: float | None) -> str:
    """Milliseconds for a table: 4 decimals below 1 ms, 3 below 100 ms, 1 above; ``-``
    for a missing figure.

    Examples
    --------
    >>> [fmt_ms(v) for v in (0.01234, 5.0, 123.456, None)]
    ['0.0123', '5.000', '123.5', '-']
    """
    if ms is None:
        return "-"
    return f"{ms:.4f}" if ms < 1 else f"{ms:.3f}" if ms < 100 else f"{ms:.1f}"


_DISTRIBUTIONS = ("ai-edge-litert", "pycocotools", "scikit-image")


def versions() -> dict:
    """Versions of wasmpose, Python, NumPy, Numba, llvmlite, the installed optional packages
    the commands use (ai-edge-litert, pycocotools, scikit-image), and of the peers already
    imported in this process with their thread counts (``opencv``, ``opencv_threads``,
    ``torch``, ``torch_threads``). Nothing is imported to find out.

    Examples
    --------
    >>> v = versions()
    >>> sorted(k for k in v if k in ("wasmpose", "numpy", "numba"))
    ['numba', 'numpy', 'wasmpose']
    """
    from importlib.metadata import PackageNotFoundError, version

    import llvmlite
    import numba
    import numpy as np

    from wasmpose._version import __version__

    v = {
        "wasmpose": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
    }
    for name in _DISTRIBUTIONS:
        try:
            v[name] = version(name)
        except PackageNotFoundError:
            pass
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        v["opencv"] = cv2.__version__
        v["opencv_threads"] = cv2.getNumThreads()
    torch = sys.modules.get("torch")
    if torch is not None:
        v["torch"] = torch.__version__
        v["torch_threads"] = torch.get_num_threads()
    return v
