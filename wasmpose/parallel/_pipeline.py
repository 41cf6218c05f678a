"""``Pipeline``: stages in their own threads, joined by bounded queues."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from wasmpose._checks import integer
from wasmpose.cpu import serial_kernels
from wasmpose.parallel._threads import add_note, check_callable, check_items, check_workers

__all__ = ["Pipeline"]

_END = object()  # end of the stream, passed down the stages in order
_CLOSED = object()  # returned by a closed channel: stop at once


class Channel:
    """A bounded FIFO between threads that can be closed to wake and stop everyone.

    ``put`` blocks while full and returns False once closed; ``get`` blocks while empty and
    returns ``_CLOSED`` once closed (items still inside are dropped: closing means abort).
    """

    __slots__ = ("_items", "_capacity", "_closed", "_not_empty", "_not_full")

    def __init__(self, capacity: int) -> None:
        self._items: collections.deque = collections.deque()
        self._capacity = capacity
        self._closed = False
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)

    def put(self, item: Any) -> bool:
        with self._not_full:
            while len(self._items) >= self._capacity and not self._closed:
                self._not_full.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._not_empty.notify()
            return True

    def get(self) -> Any:
        with self._not_empty:
            while not self._items and not self._closed:
                self._not_empty.wait()
            if self._closed:
                return _CLOSED
            item = self._items.popleft()
            self._not_full.notify()
            return item

    def close(self) -> None:
        with self._not_empty:
            self._closed = True
            self._items.clear()
            self._not_empty.notify_all()
            self._not_full.notify_all()


def _stage_name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _flagged(items: Iterable, run: _Run):
    """The items, with ``run.in_next`` true while the source waits in ``iter()``/``next()``."""
    run.in_next = True
    try:
        source = iter(items)
    finally:
        run.in_next = False
    while True:
        run.in_next = True
        try:
            item = next(source)
        except StopIteration:
            return
        finally:
            run.in_next = False
        yield item


class _Run:
    """One execution of a pipeline: its channels, its threads and its first error."""

    def __init__(self, stages: Sequence[Callable], workers: Sequence[int], queue_size: int,
                 items: Iterable) -> None:
        self.stages = stages
        self.workers = workers
        self.items = items
        self.channels = [Channel(queue_size) for _ in range(len(stages) + 1)]
        # With several workers in a stage, results can overtake each other and the consumer
        # reorders them; tokens bound the items in flight so the reorder buffer stays bounded.
        self.reorder = any(w > 1 for w in workers)
        limit = (len(stages) + 1) * queue_size + sum(workers)
        self.tokens = Channel(limit) if self.reorder else None
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.remaining = list(workers)  # workers per stage that have not seen the end yet
        # The source thread is inside next(items): a camera or a socket can block there for
        # good, so closing the pipeline does not wait for it (it stops at the next item).
        self.in_next = False
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        specs = [(self._feed, (), "wasmpose-pipeline-source")]
        for i, w in enumerate(self.workers):
            specs += [(self._stage, (i,), f"wasmpose-pipeline-stage{i}-{k}") for k in range(w)]
        for target, args, name in specs:
            t = threading.Thread(target=target, args=args, name=name, daemon=True)
            self.threads.append(t)
            t.start()

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
        self.abort()

    def abort(self) -> None:
        for ch in self.channels:
            ch.close()
        if self.tokens is not None:
            self.tokens.close()

    def shutdown(self) -> None:
        self.abort()
        me = threading.current_thread()
        for t in self.threads:
            if t is me:
                continue
            if t is self.threads[0]:  # the source: not joined while it waits in next(items)
                while t.is_alive() and not self.in_next:
                    t.join(0.05)
                continue
            t.join()

    def _feed(self) -> None:
        out, tokens = self.channels[0], self.tokens
        seq = 0
        try:
            for item in _flagged(self.items, self):
                if tokens is not None and not tokens.put(None):
                    return
                if not out.put((seq, item)):
                    return
                seq += 1
        except BaseException as exc:
            add_note(exc, f"Pipeline: raised while iterating the items (at index {seq})")
            self.fail(exc)
            return
        out.put(_END)

    def _stage(self, i: int) -> None:
        fn, inq, outq = self.stages[i], self.channels[i], self.channels[i + 1]
        with serial_kernels():
            while True:
                msg = inq.get()
                if msg is _CLOSED:
                    return
                if msg is _END:
                    inq.put(_END)  # for the other workers of this stage
                    with self.lock:
                        self.remaining[i] -= 1
                        last = self.remaining[i] == 0
                    if last:
                        outq.put(_END)
                    return
                seq, x = msg
                try:
                    y = fn(x)
                except BaseException as exc:
                    add_note(exc, f"Pipeline: raised by stage {i} ({_stage_name(fn)}) "
                                  f"on item {seq}")
                    self.fail(exc)
                    return
                if not outq.put((seq, y)):
                    return

    def results(self) -> Iterator[Any]:
        source, tokens = self.channels[-1], self.tokens
        pending: dict[int, Any] = {}
        expected = 0
        while True:
            msg = source.get()
            if msg is _CLOSED or msg is _END:
                break
            seq, y = msg
            if tokens is None:
                yield y
                continue
            pending[seq] = y
            while expected in pending:
                value = pending.pop(expected)
                expected += 1
                tokens.get()
                yield value
        self.shutdown()
        if self.error is not None:
            exc, self.error = self.error, None
            raise exc


class Pipeline:
    """Stages in their own threads, joined by bounded queues; results in input order.

    Each stage is a callable taking one item and returning one item. ``run(items)`` starts a
    thread that reads ``items``, one thread per stage worker, and yields the last stage's
    results. The queues between stages hold at most ``queue_size`` items, so a slow stage stops
    the ones before it (backpressure) and memory stays bounded. Stage threads run the serial
    variants of wasmpose's kernels (the stages themselves are the parallelism).

    Parameters
    ----------
    *stages : callable
        ``stage(item) -> item``, run in order.
    queue_size : int >= 1, default 8
        Capacity of each queue between stages.
    workers : int from 1 to 1024, or a sequence of them, default 1
        Threads per stage: one count for every stage, or one count per stage. Results keep the
        input order whatever the counts; a stage with several workers must be thread-safe.

    Notes
    -----
    An exception in any stage (or raised by ``items``) stops every stage and is raised from the
    iterator, with a note naming the stage and the item index. Closing the iterator early
    (``close()``, ``break`` out of a ``for`` loop that drops it, or garbage collection) stops and
    joins every thread; a stage that is running finishes its current item first. The thread
    reading ``items`` is not waited for while it waits in ``next(items)`` (a camera or a socket
    can block there for good): it stops at its next item.

    Examples
    --------
    >>> p = Pipeline(lambda x: x + 1, lambda x: x * 10, queue_size=2)
    >>> list(p.run(range(5)))
    [10, 20, 30, 40, 50]
    """

    def __init__(self, *stages: Callable[[Any], Any], queue_size: int = 8,
                 workers: int | Sequence[int] = 1) -> None:
        if not stages:
            raise ValueError("stages: expected at least one callable, got none")
        for i, fn in enumerate(stages):
            check_callable(fn, f"stages[{i}]")
        self.stages = tuple(stages)
        self.queue_size = integer(queue_size, "queue_size", minimum=1)
        if isinstance(workers, Sequence) and not isinstance(workers, (str, bytes)):
            if len(workers) != len(stages):
                raise ValueError(f"workers: expected an int or {len(stages)} ints (one per "
                                 f"stage), got {len(workers)}")
            self.workers = tuple(check_workers(w, f"workers[{i}]")
                                 for i, w in enumerate(workers))
        else:
            self.workers = (check_workers(workers, "workers"),) * len(stages)

    def run(self, items: Iterable) -> Iterator[Any]:
        """Start the stages on ``items``; an iterator over the results, in input order.

        Threads start on the first ``next()``. The iterator is single-use; call ``run`` again
        for another stream.
        """
        return self._iterate(check_items(items))

    def _iterate(self, items: Iterable) -> Iterator[Any]:
        run = _Run(self.stages, self.workers, self.queue_size, items)
        try:
            run.start()
            yield from run.results()
        finally:
            run.shutdown()

    def __repr__(self) -> str:
        names = ", ".join(_stage_name(fn) for fn in self.stages)
        return f"Pipeline({names}, queue_size={self.queue_size}, workers={self.workers})"
