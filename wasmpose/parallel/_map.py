"""``parallel_map``: a map over threads with dynamic (self-scheduled) chunks."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from wasmpose._checks import integer
from wasmpose.cpu import serial_kernels
from wasmpose.parallel._threads import (
    add_note,
    check_callable,
    check_items,
    progress_bar,
    workers_arg,
)

__all__ = ["parallel_map"]


class MapRun:
    """The shared state of one map: workers claim chunks of items until none are left.

    Chunks are claimed in input order from one shared cursor (dynamic scheduling: a worker that
    finishes early simply claims more, so slow items never leave other workers idle while work
    remains). Without a fixed ``chunk_size`` each worker sizes its chunks by time: its first
    chunk is one item, later ones hold about ``CHUNK_SECONDS`` of work at the worker's measured
    time per item (so cheap items amortise the claim, expensive ones go one at a time), never
    more than a half of the remaining items per worker (so the end stays balanced).

    On a failure no new chunk is claimed and items after the failing one are skipped; chunks in
    flight finish their earlier items. Because chunks are claimed in order, every item before
    the failing one has then run, so :meth:`results` raises the failure of the lowest index:
    the one a sequential loop would have raised.
    """

    CHUNK_SECONDS = 2e-4

    def __init__(self, fn: Callable, items: Iterable, *, workers: int, chunk_size: int | None,
                 ordered: bool, return_exceptions: bool, progress: bool, what: str,
                 label: Callable[[int], str] = "item {}".format, unit: str = "item") -> None:
        self.fn = fn
        self.label = label  # names item i in the note a failure gets
        try:
            self.total: int | None = len(items)  # type: ignore[arg-type]
        except (TypeError, OverflowError):  # no length, or past sys.maxsize: range(10**20)
            self.total = None
        self.source = iter(items)
        self.workers = workers
        self.chunk_size = chunk_size
        self.ordered = ordered
        self.return_exceptions = return_exceptions
        self.bar = progress_bar(progress, self.total, what, unit)  # ImportError before any work
        self.what = what
        self.lock = threading.Lock()
        self.cursor = 0  # index of the next unclaimed item
        self.exhausted = False
        self.fail_index: int | None = None
        self.failure: BaseException | None = None
        self.chunks: dict[int, list] = {}
        self.unordered: list = []

    # -- scheduling ----------------------------------------------------------------------------
    def _claim(self, k: int) -> tuple[int, list] | None:
        with self.lock:
            if self.exhausted or self.fail_index is not None:
                return None
            if self.total is not None and self.chunk_size is None:
                k = min(k, max(1, (self.total - self.cursor) // (2 * self.workers)))
            start = self.cursor
            batch: list = []
            try:
                batch.extend(itertools.islice(self.source, k))
            except BaseException as exc:  # the iterable failed: run the items before, raise it
                index = start + len(batch)
                add_note(exc, f"{self.what}: raised while iterating the items (at index {index})")
                self._fail_locked(index, exc)
                self.exhausted = True
            if not batch:
                self.exhausted = True
                return None
            self.cursor += len(batch)
            return start, batch

    def _fail_locked(self, index: int, exc: BaseException) -> None:
        if self.fail_index is None or index < self.fail_index:
            self.fail_index, self.failure = index, exc

    def worker(self) -> None:
        """Claim and run chunks until none are left; kernels run their serial variants."""
        with serial_kernels():
            self.run_inline()

    def run_inline(self) -> None:
        """Claim and run chunks in the calling thread, as it is (no serial mode)."""
        fn, keep, fixed = self.fn, self.return_exceptions, self.chunk_size
        k = fixed or 1
        while (claim := self._claim(k)) is not None:
            start, batch = claim
            t0 = time.perf_counter()
            out = []
            for j, x in enumerate(batch):
                fail = self.fail_index
                if fail is not None and fail < start + j:
                    break
                try:
                    out.append(fn(x))
                except BaseException as exc:
                    add_note(exc, f"{self.what}: raised by {self.label(start + j)}")
                    if keep and isinstance(exc, Exception):
                        out.append(exc)
                        continue
                    with self.lock:
                        self._fail_locked(start + j, exc)
                    break
            if fixed is None:
                per_item = (time.perf_counter() - t0) / len(batch)
                k = max(1, min(int(self.CHUNK_SECONDS / max(per_item, 1e-9)), 4096))
            with self.lock:
                if self.ordered:
                    self.chunks[start] = out
                else:
                    self.unordered.extend(out)
                if self.bar is not None:
                    self.bar.update(len(out))

    def stop(self) -> None:
        """Claim nothing more (used when the caller is interrupted)."""
        with self.lock:
            self.exhausted = True

    # -- results -------------------------------------------------------------------------------
    def results(self) -> list:
        """The results (raising the first failure, if any), once every worker has returned."""
        if self.failure is not None:
            exc, self.failure = self.failure, None
            try:
                raise exc
            finally:
                del exc
        if not self.ordered:
            return self.unordered
        out: list = []
        for start in sorted(self.chunks):
            out.extend(self.chunks[start])
        return out


def run_map(run: MapRun, start_worker: Callable[[Callable[[], None]], Any],
            join: Callable[[Any], None]) -> list:
    """Run ``run`` on ``workers`` helpers while the calling thread waits; return its results.

    ``start_worker(target)`` starts a helper running ``target`` and returns a handle that
    ``join(handle)`` waits for (threads for ``parallel_map``, pool tasks for ``BatchExecutor``).
    The caller does not work itself: with glibc, large outputs (a kernel's output frame) that
    are kept, as a map keeps them, page-fault on every call in the main thread, while worker
    threads reuse their arena's memory; a grayscale loop over 64 1080p frames ran 1.5-1.6x
    faster in a worker thread (docs/parallel.md has the command).
    """
    helpers = run.workers
    if run.total is not None:
        chunks = run.total if run.chunk_size is None else -(-run.total // run.chunk_size)
        helpers = min(helpers, chunks)
    handles = []
    try:
        for _ in range(max(0, helpers)):
            handles.append(start_worker(run.worker))
        for h in handles:
            join(h)
    finally:
        run.stop()  # if the caller was interrupted, helpers finish their chunk and return
        for h in handles:
            join(h)
        if run.bar is not None:
            run.bar.close()
    return run.results()


def _start_thread(target: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=target, name="wasmpose-parallel_map", daemon=True)
    t.start()
    return t


def parallel_map(fn: Callable[[Any], Any], items: Iterable, *, workers: int | None = None,
                 chunk_size: int | None = None, ordered: bool = True,
                 return_exceptions: bool = False, progress: bool = False) -> list:
    """Apply ``fn`` to every item on several threads and return the results as a list.

    Workers claim chunks of items from a shared cursor as they become free (dynamic scheduling),
    so a few slow items do not hold the others back. wasmpose's kernels release the GIL, so
    threads run them truly in parallel; inside the workers they run their serial variants
    (:func:`wasmpose.cpu.serial_kernels`), so parallel regions are never nested.

    Parameters
    ----------
    fn : callable
        Called as ``fn(item)`` from several threads at once: it must be thread-safe.
    items : iterable
        Any iterable, including generators (consumed lazily, one chunk at a time, under a lock).
    workers : int from 1 to 1024, optional
        Worker threads; the calling thread waits for them. Default: :func:`set_thread_count`'s
        value, else :func:`optimal_thread_count`. With ``workers=1`` the items are mapped in the
        calling thread, whose kernels keep their normal (possibly parallel) variants.
    chunk_size : int >= 1, optional
        Items claimed at a time. Default: sized by time, per worker: one item at first, then
        about 0.2 ms of work at the measured time per item (one item at a time when items take
        longer), never more than half of the remaining items per worker.
    ordered : bool, default True
        Return the results in input order; if false, in the order they completed.
    return_exceptions : bool, default False
        Put the exception an item raised in its place in the results instead of raising it.
    progress : bool, default False
        Show a tqdm progress bar (needs ``tqdm``: ``ImportError`` if it is missing).

    Returns
    -------
    list
        One result per item.

    Raises
    ------
    Exception
        Unless ``return_exceptions``, the exception of the first failing item in input order,
        itself (not wrapped), with a note (PEP 678) naming its index. No chunk is claimed after
        a failure (chunks already running finish the items before it). An exception raised by
        ``items`` itself is raised likewise.

    Examples
    --------
    >>> parallel_map(lambda x: x * x, range(6), workers=2)
    [0, 1, 4, 9, 16, 25]
    >>> parallel_map(lambda x: 1 // x, [1, 0, 2], return_exceptions=True)
    [1, ZeroDivisionError('integer division or modulo by zero'), 0]
    """
    check_callable(fn, "fn")
    check_items(items)
    n_workers = workers_arg(workers)
    if chunk_size is not None:
        chunk_size = integer(chunk_size, "chunk_size", minimum=1, allow_none=True)
    run = MapRun(fn, items, workers=n_workers, chunk_size=chunk_size, ordered=bool(ordered),
                 return_exceptions=bool(return_exceptions), progress=progress,
                 what="parallel_map")
    if n_workers == 1:
        try:
            run.run_inline()
        finally:
            if run.bar is not None:
                run.bar.close()
        return run.results()
    return run_map(run, _start_thread, threading.Thread.join)
