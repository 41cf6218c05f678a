"""Thread counts and the small helpers every part of :mod:`wasmpose.parallel` shares."""

from __future__ import annotations

import inspect
import os
import sys
import threading
from collections.abc import Iterable

from wasmpose._checks import integer

__all__ = ["optimal_thread_count", "set_thread_count"]

_default_workers: int | None = None  # set by set_thread_count; None: optimal_thread_count()
_lock = threading.Lock()
# The most threads one map, pipeline stage or batcher may start: every worker is an OS thread
# with its own stack, and an absurd count (workers=10**6 over a generator) used to start
# threads until the process could start no more.
MAX_WORKERS = 1024


def optimal_thread_count() -> int:
    """The number of cores this process may run on (its CPU affinity mask), at least 1.

    On Linux this respects ``taskset``, cgroup cpusets and ``os.sched_setaffinity``; elsewhere it
    is ``os.process_cpu_count()`` (Python 3.13) or ``os.cpu_count()``.

    Returns
    -------
    int

    Examples
    --------
    >>> optimal_thread_count() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        count = getattr(os, "process_cpu_count", os.cpu_count)()
        return max(1, count or 1)


def set_thread_count(n: int | None) -> int:
    """Set the default worker count of :mod:`wasmpose.parallel` and Numba's thread count.

    Parameters
    ----------
    n : int from 1 to 1024, or None
        The number of workers that ``parallel_map``, ``Pipeline`` stages (none: they take
        ``workers``), ``BatchExecutor`` and the like use when not told otherwise. ``None``
        restores the default, :func:`optimal_thread_count`.

    Returns
    -------
    int
        The previous default worker count.

    Notes
    -----
    Numba's thread count (the threads one parallel kernel uses) is set to ``min(n,
    NUMBA_NUM_THREADS)``: Numba cannot start more threads than it was configured with at
    start-up. Numba keeps this count per thread: it is set for the calling thread, the one that
    normally runs parallel kernels; threads started later begin with ``NUMBA_NUM_THREADS``.
    This loads Numba's threading layer if no parallel kernel has run yet.

    Examples
    --------
    >>> previous = set_thread_count(1)
    >>> default_workers()
    1
    >>> _ = set_thread_count(None)
    """
    global _default_workers
    if n is not None:
        n = check_workers(n, "n", allow_none=True)
    with _lock:
        previous = default_workers()
        _default_workers = n
    import numba

    from wasmpose import cpu

    if cpu.threading_layer() != "unavailable":
        numba.set_num_threads(min(n or optimal_thread_count(), numba.config.NUMBA_NUM_THREADS))
    return previous


def default_workers() -> int:
    """The worker count used when ``workers=None``: as set by :func:`set_thread_count`."""
    n = _default_workers
    return n if n is not None else optimal_thread_count()


def workers_arg(workers) -> int:
    """The ``workers=`` argument resolved: ``None`` is :func:`default_workers`."""
    if workers is None:
        return default_workers()
    return check_workers(workers, "workers", allow_none=True)


def check_workers(n, name: str, *, allow_none: bool = False) -> int:
    """A worker count: an int from 1 to :data:`MAX_WORKERS`."""
    n = integer(n, name, minimum=1, allow_none=allow_none)
    if n > MAX_WORKERS:
        raise ValueError(f"{name}: expected at most {MAX_WORKERS} workers (threads), got {n}")
    return n


def check_callable(fn, name: str):
    """``fn`` if it is a plain callable; an ``async def`` function would return coroutines
    that nothing awaits (silently wrong results), so it is a TypeError too."""
    if not callable(fn):
        raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
        raise TypeError(f"{name}: expected a plain callable, got the async function "
                        f"{getattr(fn, '__qualname__', fn)!r} (its coroutines would never be "
                        f"awaited); wrap it, e.g. lambda x: asyncio.run(f(x))")
    return fn


def check_items(items):
    """``items`` if it is an iterable of items (a string or bytes is refused), else TypeError."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(f"items: expected an iterable, got {type(items).__name__}")
    return items


def check_batch_results(out, expected: int, fn: str, unit: str) -> None:
    """TypeError (no length) or ValueError (another length) unless a batch function's result
    ``out`` holds ``expected`` results, naming ``fn`` and the batch's ``unit`` ("requests",
    "items")."""
    try:
        n = len(out)
    except TypeError:
        raise TypeError(f"{fn}: returned {type(out).__name__}, expected a sequence of "
                        f"{expected} results") from None
    if n != expected:
        raise ValueError(f"{fn}: returned {n} results for a batch of {expected} {unit}")


def add_note(exc: BaseException, note: str) -> None:
    """Attach ``note`` to ``exc`` (PEP 678; on Python 3.10 only stored in ``__notes__``)."""
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # pragma: no cover - Python 3.10
        notes = getattr(exc, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
            try:
                exc.__notes__ = notes
            except Exception:  # noqa: BLE001 - exceptions that refuse attributes keep no note
                return
        notes.append(note)


def progress_bar(progress: bool, total: int | None, desc: str, unit: str = "item"):
    """A tqdm bar counting ``unit``s when ``progress`` is true, else ``None``; ``ImportError``
    if tqdm is missing."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError(
            "progress=True needs tqdm, which is not installed: "
            "pip install tqdm (or pip install 'wasmpose[progress]')"
        ) from exc
    return tqdm(total=total, desc=desc, unit=unit)
