"""``DynamicBatcher`` and ``AdaptiveBatcher``: single requests grouped into batches."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import numpy as np

from wasmpose._checks import integer
from wasmpose.cpu import serial_kernels
from wasmpose.errors import BatchProcessingError, BatchTimeoutError, QueueFullError
from wasmpose.parallel._future import LightFuture
from wasmpose.parallel._threads import check_batch_results, check_callable, check_workers

__all__ = ["BatchStats", "DynamicBatcher", "AdaptiveBatcher"]

_LATENCY_WINDOW = 10_000  # latencies kept for the percentiles of stats()
_monotonic = time.monotonic
# The longest single wait on a condition. Python refuses timeouts above threading.TIMEOUT_MAX
# (OverflowError: the worker died and its requests never resolved, issue 13); a longer wait
# (max_wait_ms or timeout_ms up to 1e300) is waited in steps, each one re-checking the queue.
_MAX_STEP = 3600.0
_log = logging.getLogger("wasmpose.parallel")


@dataclasses.dataclass(frozen=True)
class BatchStats:
    """A snapshot of a batcher's counters (from :meth:`DynamicBatcher.stats`).

    Attributes
    ----------
    submitted : int
        Requests accepted. Once all are resolved, ``submitted == completed + failed``.
    completed : int
        Requests answered with a result.
    failed : int
        Requests answered with an exception: a failed batch, a timeout, or a cancellation
        (a future cancelled while queued, or ``close(drain=False)``).
    timed_out : int
        Of ``failed``, the requests failed with ``BatchTimeoutError``.
    rejected : int
        Requests refused with ``QueueFullError`` (never accepted, not in ``submitted``).
    batches : int
        Calls of ``process_batch``.
    mean_batch_size : float
        Requests per batch (0.0 before the first batch).
    queue_size : int
        Requests waiting for a batch now.
    latency_p50_ms, latency_p95_ms, latency_p99_ms : float
        Percentiles of the time from ``submit`` to the result, in milliseconds, over the last
        10,000 completed requests (NaN before the first).

    Examples
    --------
    >>> with DynamicBatcher(lambda xs: [x * 2 for x in xs], max_wait_ms=1) as b:
    ...     b.submit(21).result(timeout=10)
    42
    >>> s = b.stats()
    >>> s.submitted, s.completed, s.failed, s.batches
    (1, 1, 0, 1)
    """

    submitted: int
    completed: int
    failed: int
    timed_out: int
    rejected: int
    batches: int
    mean_batch_size: float
    queue_size: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float


class _Request(LightFuture):
    """One request: its item and submit time, and the future of its result (the request is
    that future, so no reference cycle ties a request to it). Cancelling it while it is
    queued frees its slot at once."""

    def __init__(self, batcher: DynamicBatcher, item: Any, t: float) -> None:
        super().__init__()
        self.batcher = batcher
        self.item = item
        self.t = t
        self.resolved = False  # or claimed for resolution; guarded by the batcher lock
        self.queued = False  # in the batcher's queue; guarded by the batcher lock

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        self.batcher._cancelled(self)
        return True

    def result(self, timeout: float | None = None) -> Any:
        if timeout is None and not self.done():
            self.batcher._refuse_wait_in_worker("result")
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if timeout is None and not self.done():
            self.batcher._refuse_wait_in_worker("exception")
        return super().exception(timeout)


def _milliseconds(x, name: str, *, allow_zero: bool) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name}: expected a number of milliseconds, got {type(x).__name__}")
    try:
        v = float(x)
    except OverflowError:  # a Fraction or Decimal beyond the float range
        v = math.inf if x > 0 else -math.inf
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {want}, got {x!r}")
    return v


class DynamicBatcher:
    """Group single requests into batches for a batch function, like Triton's dynamic batcher.

    ``submit(item)`` queues one request and returns a :class:`concurrent.futures.Future` of its
    result; ``await submit_async(item)`` does the same under asyncio. Worker threads take
    batches from the queue and call ``process_batch(items) -> results`` (same length, same
    order). A batch is dispatched as soon as the queue holds ``max_batch_size`` requests (that
    many are taken), or ``preferred_batch_size`` if set (that many are taken), or
    ``max_wait_ms`` after its oldest request arrived (everything queued is taken, up to
    ``max_batch_size``). Workers run the serial variants of wasmpose's kernels.

    Parameters
    ----------
    process_batch : callable
        ``process_batch(list) -> sequence`` of the same length.
    max_batch_size : int >= 1, default 32
    preferred_batch_size : int, optional
        Between 1 and ``max_batch_size``.
    max_wait_ms : float >= 0, default 50
        The longest a request waits for its batch to fill. Any finite value (a wait longer
        than ``threading.TIMEOUT_MAX`` is waited in steps).
    max_queue_size : int >= 1, default 1000
        Requests that may wait; beyond, ``submit`` raises ``QueueFullError`` at once.
    timeout_ms : float > 0, optional
        A request not answered this long after ``submit`` fails with ``BatchTimeoutError``
        (a result that arrives later is dropped).
    workers : int from 1 to 1024, default 1
        Threads calling ``process_batch`` (concurrently, if more than one).

    Notes
    -----
    An exception raised by ``process_batch``, or a result of the wrong length, fails every
    request of that batch, and only those, with ``BatchProcessingError`` whose ``__cause__``
    is the original exception (a ``ValueError`` for a wrong length, or a ``len()`` that
    disagrees with iteration). Workers never die: a failure of the batcher's own code fails
    the batch being run in the same way. A request whose future is cancelled while queued frees
    its place in the queue at once (and counts as failed). Every accepted request is resolved
    exactly once. ``close(drain=True)`` (also on leaving a ``with`` block) stops
    accepting requests, processes everything queued at once and joins the threads;
    ``close(drain=False)`` cancels the queued requests instead. Close a batcher you created:
    its threads live until then. All methods are thread-safe.

    Examples
    --------
    >>> with DynamicBatcher(lambda xs: [x * 2 for x in xs], max_wait_ms=5) as b:
    ...     futures = [b.submit(i) for i in range(5)]
    ...     [f.result() for f in futures]
    [0, 2, 4, 6, 8]
    """

    def __init__(self, process_batch: Callable[[list], Sequence], *, max_batch_size: int = 32,
                 preferred_batch_size: int | None = None, max_wait_ms: float = 50,
                 max_queue_size: int = 1000, timeout_ms: float | None = None,
                 workers: int = 1) -> None:
        self._fn = check_callable(process_batch, "process_batch")
        self._max_batch_size = integer(max_batch_size, "max_batch_size", minimum=1)
        self._preferred: int | None = None
        if preferred_batch_size is not None:
            self._preferred = self._check_preferred(preferred_batch_size, self._max_batch_size)
        self._max_wait = _milliseconds(max_wait_ms, "max_wait_ms", allow_zero=True) / 1e3
        self._max_queue_size = integer(max_queue_size, "max_queue_size", minimum=1)
        self._timeout: float | None = None
        if timeout_ms is not None:
            self._timeout = _milliseconds(timeout_ms, "timeout_ms", allow_zero=False) / 1e3
        n_workers = check_workers(workers, "workers")

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # workers wait here for a batch
        self._timer_cond = threading.Condition(self._lock)  # the timeout thread waits here
        self._queue: collections.deque[_Request] = collections.deque()
        self._dead = 0  # requests of _queue already resolved (cancelled, timed out)
        self._deadlines: collections.deque[_Request] = collections.deque()  # in submit order
        self._idle = 0  # workers waiting on _cond
        self._closing = False
        self._closed = False
        self._submitted = self._completed = self._failed = 0
        self._timed_out = self._rejected = self._batches = self._batched = 0
        self._latencies: collections.deque[float] = collections.deque(maxlen=_LATENCY_WINDOW)

        self._threads = [
            threading.Thread(target=self._work, name=f"wasmpose-batcher-{k}", daemon=True)
            for k in range(n_workers)
        ]
        self._timer = None
        if self._timeout is not None:
            self._timer = threading.Thread(target=self._expire, name="wasmpose-batcher-timeout",
                                           daemon=True)
        for t in self._threads + ([self._timer] if self._timer else []):
            t.start()

    # -- configuration -------------------------------------------------------------------------
    @staticmethod
    def _check_preferred(n, max_batch_size: int) -> int:
        n = integer(n, "preferred_batch_size", minimum=1, allow_none=True)
        if n > max_batch_size:
            raise ValueError(f"preferred_batch_size: expected at most max_batch_size "
                             f"({max_batch_size}), got {n}")
        return n

    @property
    def max_batch_size(self) -> int:
        return self._max_batch_size

    @property
    def preferred_batch_size(self) -> int | None:
        return self._preferred

    @property
    def max_wait_ms(self) -> float:
        return self._max_wait * 1e3

    @property
    def timeout_ms(self) -> float | None:
        return None if self._timeout is None else self._timeout * 1e3

    @property
    def queue_size(self) -> int:
        """Requests waiting for a batch now (the figure ``stats().queue_size`` reports)."""
        return len(self._queue) - self._dead

    @property
    def closed(self) -> bool:
        return self._closing

    def set_max_batch_size(self, n: int) -> None:
        """Change ``max_batch_size`` (a ``preferred_batch_size`` above it is lowered to it)."""
        n = integer(n, "n", minimum=1)
        with self._lock:
            self._max_batch_size = n
            if self._preferred is not None and self._preferred > n:
                self._preferred = n
            self._cond.notify_all()

    def set_preferred_batch_size(self, n: int | None) -> None:
        """Change ``preferred_batch_size`` (``None`` removes it)."""
        with self._lock:
            self._preferred = None if n is None else self._check_preferred(
                n, self._max_batch_size)
            self._cond.notify_all()

    def set_max_wait_ms(self, ms: float) -> None:
        """Change ``max_wait_ms``; requests already waiting follow the new limit."""
        wait = _milliseconds(ms, "ms", allow_zero=True) / 1e3
        with self._lock:
            self._max_wait = wait
            self._cond.notify_all()

    # -- requests ------------------------------------------------------------------------------
    def submit(self, item: Any) -> Future:
        """Queue one request; a future of its result.

        Raises
        ------
        QueueFullError
            The queue holds ``max_queue_size`` requests (the request is counted as rejected).
        RuntimeError
            The batcher is closed.
        """
        req = _Request(self, item, _monotonic())
        with self._lock:
            if self._closing:
                raise RuntimeError("submit: the batcher is closed")
            q = self._queue
            if self._dead * 2 > len(q):  # cancelled ones are dropped while workers wait
                self._compact()
            if len(q) - self._dead >= self._max_queue_size:
                self._rejected += 1
                raise QueueFullError(f"the batcher's queue is full ({len(q) - self._dead} "
                                     f"requests, max_queue_size={self._max_queue_size})")
            req.queued = True
            q.append(req)
            self._submitted += 1
            if self._idle:
                n = len(q)
                if n == 1 or n >= (self._preferred or self._dispatch_size()):
                    self._cond.notify()
            if self._timeout is not None:
                self._deadlines.append(req)
                if len(self._deadlines) == 1:
                    self._timer_cond.notify()
        return req

    async def submit_async(self, item: Any) -> Any:
        """Queue one request and wait for its result without blocking the event loop.

        Raises what :meth:`submit` raises, and what the request fails with.

        Examples
        --------
        >>> import asyncio
        >>> async def main():
        ...     with DynamicBatcher(lambda xs: [-x for x in xs], max_wait_ms=1) as b:
        ...         return await asyncio.gather(*(b.submit_async(i) for i in range(3)))
        >>> asyncio.run(main())
        [0, -1, -2]
        """
        return await asyncio.wrap_future(self.submit(item))

    # -- workers -------------------------------------------------------------------------------
    def _dispatch_size(self) -> int:
        return self._max_batch_size

    def _take_batch(self) -> tuple[list[_Request], int, list[_Request]] | None:
        """Wait for the next batch (called with the lock held); ``None`` once closed and empty.

        Returns the batch, the requests left queued, and the requests found past their deadline
        (already counted as timed out; the caller fails them once the lock is released).
        """
        q = self._queue
        timeout = self._timeout
        while True:
            if self._dead:
                self._compact()
            n = len(q)
            if n:
                size = self._dispatch_size()
                pref = self._preferred
                if n >= size:
                    k = size
                elif pref is not None and n >= pref:
                    k = pref
                else:
                    left = q[0].t + self._max_wait - _monotonic()
                    if left > 0 and not self._closing:
                        self._idle += 1
                        self._cond.wait(min(left, _MAX_STEP))
                        self._idle -= 1
                        continue
                    k = n
                batch, expired = [], []
                now = _monotonic()
                for _ in range(k):
                    r = q.popleft()
                    r.queued = False
                    if r.resolved:
                        continue
                    if timeout is not None and now - r.t >= timeout:
                        r.resolved = True
                        expired.append(r)
                    elif r.set_running_or_notify_cancel():
                        batch.append(r)
                    else:  # cancelled by its owner while queued
                        r.resolved = True
                        self._failed += 1
                self._failed += len(expired)
                self._timed_out += len(expired)
                if q and self._idle:
                    self._cond.notify()
                if batch or expired:
                    return batch, len(q), expired
                continue
            if self._closing:
                return None
            self._idle += 1
            self._cond.wait()
            self._idle -= 1

    def _compact(self) -> None:
        """Drop the resolved requests from the queue (lock held)."""
        q = self._queue
        alive = [r for r in q if not r.resolved]
        for r in q:
            if r.resolved:
                r.queued = False
        q.clear()
        q.extend(alive)
        self._dead = 0
        dl = self._deadlines
        if dl:  # the timeout thread drops resolved ones only from the head
            live = [r for r in dl if not r.resolved]
            dl.clear()
            dl.extend(live)

    def _refuse_wait_in_worker(self, what: str) -> None:
        """RuntimeError if the calling thread is one of this batcher's workers: waiting there,
        without a timeout, for a request of the same batcher can deadlock (the request may need
        the very worker that waits)."""
        if threading.current_thread() in self._threads:
            raise RuntimeError(f"{what}: waiting without a timeout, from inside process_batch, "
                               f"for a request of the same batcher would deadlock; pass a "
                               f"timeout or use another batcher")

    def _cancelled(self, r: _Request) -> None:
        """``r``'s future was cancelled by its owner: free its slot, count it as failed."""
        with self._lock:
            if r.resolved:
                return
            r.resolved = True
            self._failed += 1
            if r.queued:
                self._dead += 1

    def _work(self) -> None:
        """A worker thread. It never dies while the batcher is open: a failure of its own
        (rather than of ``process_batch``) fails the batch it was running and it goes on."""
        with serial_kernels():
            while True:
                taken = None
                try:
                    with self._lock:
                        taken = self._take_batch()
                    if taken is None:
                        return
                    self._run(*taken)
                except BaseException as exc:  # noqa: BLE001 - a worker must never die
                    _log.exception("wasmpose DynamicBatcher: worker error")
                    if taken is not None:
                        self._rescue(taken[0] + taken[2], exc)
                    else:
                        time.sleep(0.01)  # not a busy loop if the error repeats

    def _rescue(self, requests: list[_Request], cause: BaseException) -> None:
        """Fail every request of ``requests`` whose future is still pending."""
        with self._lock:
            for r in requests:
                if not r.resolved:
                    r.resolved = True
                    self._failed += 1
        for r in requests:
            if not r.done():
                err = BatchProcessingError(f"the batcher failed on this request: "
                                           f"{type(cause).__name__}: {cause}")
                err.__cause__ = cause
                _settle(r.set_exception, err)

    def _run(self, batch: list[_Request], backlog: int, expired: list[_Request]) -> None:
        self._fail_timed_out(expired)
        if not batch:
            return
        items = [r.item for r in batch]
        try:
            out = self._fn(items)
            check_batch_results(out, len(items), "process_batch", "requests")
            values = list(out)
            if len(values) != len(items):  # len() and iteration disagree
                raise ValueError(f"process_batch: returned a sequence whose len() is "
                                 f"{len(out)} but that yields {len(values)} results, for a "
                                 f"batch of {len(items)} requests")
        except BaseException as exc:  # noqa: BLE001 - every failure fails the batch, only it
            self._fail_batch(batch, exc)
            return
        now = _monotonic()
        timeout = self._timeout
        resolved, results, expired = [], [], []
        with self._lock:
            for r, v in zip(batch, values, strict=True):
                if r.resolved:
                    continue
                r.resolved = True
                if timeout is not None and now - r.t >= timeout:
                    expired.append(r)  # the timeout thread has not got to it yet
                else:
                    resolved.append(r)
                    results.append(v)
            self._completed += len(resolved)
            self._failed += len(expired)
            self._timed_out += len(expired)
            self._batches += 1
            self._batched += len(batch)
            self._latencies.extend(now - r.t for r in resolved)
            try:
                self._observe(len(batch), backlog, resolved, now)
            except Exception:  # noqa: BLE001 - the requests are answered all the same
                _log.exception("wasmpose DynamicBatcher: _observe failed")
        for r, v in zip(resolved, results, strict=True):
            _settle(r.set_result, v)
        self._fail_timed_out(expired)

    def _fail_batch(self, batch: list[_Request], cause: BaseException) -> None:
        with self._lock:
            failing = [r for r in batch if not r.resolved]
            for r in failing:
                r.resolved = True
            self._failed += len(failing)
            self._batches += 1
            self._batched += len(batch)
        msg = (f"process_batch failed on a batch of {len(batch)} requests: "
               f"{type(cause).__name__}: {cause}")
        for r in failing:
            err = BatchProcessingError(msg)
            err.__cause__ = cause
            _settle(r.set_exception, err)

    def _observe(self, size: int, backlog: int, completed: list[_Request], now: float) -> None:
        """Called (lock held) after each batch that completed; the adaptive batcher learns here.

        ``backlog`` is how many requests were still queued when the batch was taken.
        """

    def _fail_timed_out(self, requests: list[_Request]) -> None:
        """Fail ``requests`` (already counted as timed out) with ``BatchTimeoutError``."""
        if not requests:
            return
        msg = f"request not answered within timeout_ms={self._timeout * 1e3:g}"
        for r in requests:
            _settle(r.set_exception, BatchTimeoutError(msg))

    def _expire(self) -> None:
        """The timeout thread: fails requests whose deadline passed, in submit order. It never
        dies while the batcher is open."""
        while True:
            try:
                self._expire_loop()
                return
            except BaseException:  # noqa: BLE001 - the timeout thread must never die
                _log.exception("wasmpose DynamicBatcher: timeout thread error")
                time.sleep(0.01)

    def _expire_loop(self) -> None:
        dl, timeout = self._deadlines, self._timeout
        while True:
            with self._lock:
                expired = []
                while not expired:
                    while dl and dl[0].resolved:
                        dl.popleft()
                    if not dl:
                        if self._closed:
                            return
                        self._timer_cond.wait()
                        continue
                    left = dl[0].t + timeout - _monotonic()
                    if left > 0:
                        self._timer_cond.wait(min(left, _MAX_STEP))
                        continue
                    now = _monotonic()
                    while dl and (dl[0].resolved or dl[0].t + timeout <= now):
                        r = dl.popleft()
                        if not r.resolved:
                            r.resolved = True
                            expired.append(r)
                            if r.queued:  # its slot is free now
                                self._dead += 1
                self._failed += len(expired)
                self._timed_out += len(expired)
                if self._dead:
                    self._compact()
            self._fail_timed_out(expired)

    # -- statistics and shutdown ---------------------------------------------------------------
    def stats(self) -> BatchStats:
        """Counters and latency percentiles now (see :class:`BatchStats`)."""
        with self._lock:
            lat = np.fromiter(self._latencies, np.float64, len(self._latencies))
            counts = (self._submitted, self._completed, self._failed, self._timed_out,
                      self._rejected, self._batches)
            mean = self._batched / self._batches if self._batches else 0.0
            queued = len(self._queue) - self._dead
        if lat.size:
            p50, p95, p99 = (float(v) * 1e3 for v in np.percentile(lat, [50, 95, 99]))
        else:
            p50 = p95 = p99 = math.nan
        return BatchStats(*counts, mean_batch_size=mean, queue_size=queued,
                          latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99)

    def close(self, drain: bool = True) -> None:
        """Stop accepting requests, resolve every accepted one and join the threads.

        Parameters
        ----------
        drain : bool, default True
            Process the queued requests (at once, without waiting for ``max_wait_ms``). If
            false, cancel them (their futures are cancelled; they count as failed). Batches
            already running finish either way. Closing twice is harmless.
        """
        cancelled = []
        with self._lock:
            self._closing = True
            if not drain:
                for r in self._queue:
                    r.queued = False
                    if not r.resolved:
                        r.resolved = True
                        cancelled.append(r)
                self._failed += len(cancelled)
                self._queue.clear()
                self._dead = 0
            self._cond.notify_all()
        for r in cancelled:
            LightFuture.cancel(r)
        me = threading.current_thread()
        for t in self._threads:
            if t is not me:
                t.join()
        with self._lock:
            self._closed = True
            self._timer_cond.notify_all()
            # Nothing is left once the workers have returned, unless close() runs in a worker
            # (from process_batch): that worker drains the rest when it returns.
            stranded = ([] if me in self._threads
                        else [r for r in self._queue if not r.resolved])
            if stranded:
                self._queue.clear()
                self._dead = 0
        if stranded:  # a safety net: workers never die while open
            self._rescue(stranded, RuntimeError("the batcher's workers stopped"))
        if self._timer is not None and self._timer is not me:
            self._timer.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close(drain=True)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(max_batch_size={self._max_batch_size}, "
                f"preferred_batch_size={self._preferred}, max_wait_ms={self.max_wait_ms:g}, "
                f"queue_size={self.queue_size}, closed={self._closing})")


class AdaptiveBatcher(DynamicBatcher):
    """A :class:`DynamicBatcher` that picks its batch size to meet a latency target.

    The batch size (``current_batch_size``, between ``min_batch_size`` and ``max_batch_size``)
    is the size at which a batch is dispatched. Once ``history`` requests have completed since
    the last change, the batcher looks at their p95 latency (submit to result):

    - if the queue already held another full batch when most batches were taken (checked from
      the fourth batch on), the batcher is short of capacity and bigger batches raise it: the
      size doubles;
    - if it held a quarter of a batch or more, a backlog is draining: the size stays;
    - if p95 is above the target, the size is scaled by ``0.85 * target / p95`` (at most
      halved);
    - if p95 is below 0.75 times the target and the batches fill up (the size is what limits
      them), it grows by the same ratio (at most 1.5x);
    - otherwise it stays. Latencies of requests queued before a change are not looked at.

    Bigger batches make the fixed per-batch cost cheaper per request, so this settles near the
    largest size whose p95 latency stays under the target: the best throughput within it.

    Parameters
    ----------
    process_batch : callable
        As for :class:`DynamicBatcher`.
    target_latency_ms : float > 0
        The p95 latency to stay under.
    min_batch_size, max_batch_size : int >= 1, default 1 and 256
        The range of the batch size.
    history : int >= 1, default 100
        Completed requests looked at per decision.
    initial_batch_size : int, optional
        Where to start (default ``min_batch_size``).
    max_wait_ms : float, optional
        Default ``target_latency_ms``: a batch that does not fill in time still goes out.
    **kwargs
        ``max_queue_size``, ``timeout_ms``, ``workers``: as for :class:`DynamicBatcher`.

    Examples
    --------
    >>> with AdaptiveBatcher(lambda xs: xs, target_latency_ms=20) as b:
    ...     b.submit(3).result(), b.current_batch_size
    (3, 1)
    """

    _GROW_BELOW = 0.75  # grow while p95 < 0.75 target, shrink above the target

    def __init__(self, process_batch: Callable[[list], Sequence], *, target_latency_ms: float,
                 min_batch_size: int = 1, max_batch_size: int = 256, history: int = 100,
                 initial_batch_size: int | None = None, max_wait_ms: float | None = None,
                 **kwargs: Any) -> None:
        self._target = _milliseconds(target_latency_ms, "target_latency_ms",
                                     allow_zero=False) / 1e3
        lo = integer(min_batch_size, "min_batch_size", minimum=1)
        hi = integer(max_batch_size, "max_batch_size", minimum=1)
        if lo > hi:
            raise ValueError(f"min_batch_size: expected at most max_batch_size ({hi}), got {lo}")
        start = lo if initial_batch_size is None else integer(initial_batch_size,
                                                               "initial_batch_size", minimum=1)
        if not lo <= start <= hi:
            raise ValueError(f"initial_batch_size: expected a size in [{lo}, {hi}], got {start}")
        self._min_batch_size = lo
        self._current = start
        self._history = integer(history, "history", minimum=1)
        if self._history > _LATENCY_WINDOW * 100:
            raise ValueError(f"history: expected at most {_LATENCY_WINDOW * 100} requests (the "
                             f"latencies kept between decisions), got {self._history}")
        self._window: list[float] = []
        self._changed_at = 0.0
        self._window_batches: list[tuple[int, int]] = []
        if "preferred_batch_size" in kwargs:
            raise TypeError("preferred_batch_size: not used by AdaptiveBatcher (it chooses the "
                            "batch size itself)")
        super().__init__(process_batch, max_batch_size=hi,
                         max_wait_ms=target_latency_ms if max_wait_ms is None else max_wait_ms,
                         **kwargs)

    @property
    def current_batch_size(self) -> int:
        """The batch size in use now."""
        return self._current

    @property
    def target_latency_ms(self) -> float:
        return self._target * 1e3

    def set_max_batch_size(self, n: int) -> None:
        """Change the upper bound of the batch size (the current size is clamped to it)."""
        n = integer(n, "n", minimum=1)
        if n < self._min_batch_size:
            raise ValueError(f"n: expected at least min_batch_size ({self._min_batch_size}), "
                             f"got {n}")
        with self._lock:
            self._max_batch_size = n
            self._current = min(self._current, n)
            self._cond.notify_all()

    def _dispatch_size(self) -> int:
        return self._current

    def _observe(self, size: int, backlog: int, completed: list[_Request], now: float) -> None:
        since = self._changed_at  # requests queued before the last change tell nothing new
        self._window.extend(now - r.t for r in completed if r.t >= since)
        batches = self._window_batches
        batches.append((size, backlog))
        s = self._current
        nb = len(batches)
        if nb >= 4 and sum(b >= s for _, b in batches) * 2 > nb:
            new = 2 * s  # short of capacity: bigger batches amortise the per-batch cost
        elif len(self._window) < self._history:
            return
        elif sum(b >= max(1, s // 4) for _, b in batches) * 2 > nb:
            new = s  # a backlog is draining: latency is queueing, not the batch size
        else:
            target = self._target
            p95 = float(np.percentile(self._window, 95))
            full = sum(n >= s for n, _ in batches) * 2 > nb
            aim = 0.85 * target
            if p95 > target:
                new = min(s - 1, int(s * max(0.5, aim / p95)))
            elif p95 < self._GROW_BELOW * target and full:
                new = max(s + 1, int(s * min(1.5, aim / max(p95, 1e-9))))
            else:
                new = s  # within the band, or batches do not fill: the size is not the limit
        new = min(max(new, self._min_batch_size), self._max_batch_size)
        self._window.clear()
        self._window_batches.clear()
        if new != s:
            self._current = new
            self._changed_at = now
            self._cond.notify_all()


def _settle(set_outcome: Callable, value: Any) -> None:
    """``future.set_result(value)`` or ``set_exception(value)``, ignoring a future that is
    already done (its owner set or cancelled it meanwhile): a worker never dies of it."""
    try:
        set_outcome(value)
    except InvalidStateError:
        pass
