"""wasmpose.parallel.DynamicBatcher: dispatch rules, errors, setters, close, asyncio."""

import asyncio
import concurrent.futures as cf
import gc
import math
import threading
import time

import numpy as np
import pytest

from wasmpose import opt_level
from wasmpose.cpu import get_kernel
from wasmpose.image import grayscale
from wasmpose.parallel import (
    BatchProcessingError,
    BatchStats,
    BatchTimeoutError,
    DynamicBatcher,
    QueueFullError,
)

WAIT = 10.0  # seconds any single result may take before a test calls it a deadlock


def _batcher_threads():
    return [t for t in threading.enumerate() if t.name.startswith("wasmpose-batcher")]


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    yield
    gc.collect()
    assert not _batcher_threads()


class Recorder:
    """A process_batch that records its batches (and when they started)."""

    def __init__(self, fn=lambda x: x, delay=0.0):
        self.batches, self.times, self.fn, self.delay = [], [], fn, delay
        self.lock = threading.Lock()

    def __call__(self, items):
        with self.lock:
            self.batches.append(list(items))
            self.times.append(time.monotonic())
        if self.delay:
            time.sleep(self.delay)
        return [self.fn(x) for x in items]


def blocking_process():
    """A process_batch that blocks until ``gate`` is set; ``started`` is set once it runs."""
    gate, started = threading.Event(), threading.Event()

    def process(items):
        started.set()
        gate.wait(WAIT)
        return items

    return process, gate, started


def test_batch_dispatches_at_max_batch_size():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch_size=8, max_wait_ms=60_000) as b:
        futures = [b.submit(i) for i in range(8)]
        assert [f.result(WAIT) for f in futures] == list(range(8))
        assert rec.batches == [list(range(8))]
        futures = [b.submit(i) for i in range(20)]  # 2 full batches now, 4 left waiting
        for f in futures[:16]:
            f.result(WAIT)
        assert [len(x) for x in rec.batches] == [8, 8, 8]
        assert b.queue_size == 4
        b.set_max_wait_ms(0)
        assert [f.result(WAIT) for f in futures] == list(range(20))
        assert rec.batches[-1] == [16, 17, 18, 19]


def test_batch_dispatches_at_preferred_batch_size():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch_size=32, preferred_batch_size=4, max_wait_ms=60_000) as b:
        futures = [b.submit(i) for i in range(4)]
        assert [f.result(WAIT) for f in futures] == list(range(4))
        assert rec.batches == [[0, 1, 2, 3]]
        b.submit(9)
        time.sleep(0.05)
        assert b.queue_size == 1  # fewer than preferred: it waits
    assert rec.batches[-1] == [9]  # close drained it


def test_batch_dispatches_max_wait_after_its_first_request():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch_size=32, max_wait_ms=400) as b:
        t0 = time.monotonic()
        f1 = b.submit(1)
        time.sleep(0.2)
        t1 = time.monotonic()
        f2 = b.submit(2)
        assert (f1.result(WAIT), f2.result(WAIT)) == (1, 2)
    assert rec.batches == [[1, 2]]
    waited = rec.times[0] - t0
    # Not before max_wait after the first request; before max_wait after the second. The upper
    # bound is taken from when the second request was really submitted (it was a fixed 80 ms
    # of slack): how late a sleeping thread wakes depends on the machine's load. The 200 ms gap
    # leaves 200 ms of such slack on each side (the second request must still join the batch).
    assert 0.399 <= waited < (t1 - t0) + 0.4, (waited, t1 - t0)


def test_max_wait_zero_dispatches_at_once():
    rec = Recorder()
    with DynamicBatcher(rec, max_wait_ms=0) as b:
        assert b.submit(5).result(WAIT) == 5


def test_queue_full_raises_at_once_and_counts_rejected():
    process, gate, started = blocking_process()
    b = DynamicBatcher(process, max_batch_size=1, max_wait_ms=0, max_queue_size=3)
    try:
        first = b.submit(0)
        assert started.wait(WAIT)  # taken by the worker: the queue is empty again
        queued = [b.submit(i) for i in (1, 2, 3)]
        t0 = time.monotonic()
        with pytest.raises(QueueFullError, match="queue is full"):
            b.submit(4)
        assert time.monotonic() - t0 < 1.0  # at once, not after a wait
        s = b.stats()
        assert (s.submitted, s.rejected, s.queue_size) == (4, 1, 3)
    finally:
        gate.set()
        b.close()
    assert [f.result(WAIT) for f in [first, *queued]] == [0, 1, 2, 3]
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.rejected) == (4, 4, 0, 1)


def test_timeout_while_processing_and_while_queued():
    process, gate, _ = blocking_process()
    with DynamicBatcher(process, max_batch_size=1, max_wait_ms=0, timeout_ms=50) as b:
        running = b.submit("a")
        queued = b.submit("b")
        for f in (running, queued):
            with pytest.raises(BatchTimeoutError, match="within timeout_ms=50"):
                f.result(WAIT)
        # "b" timed out while queued: it no longer counts as waiting
        assert b.queue_size == b.stats().queue_size == 0
        gate.set()
        assert b.submit("c").result(WAIT) == "c"
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.timed_out) == (3, 1, 2, 2)
    assert isinstance(running.exception(), TimeoutError)  # BatchTimeoutError is a TimeoutError


def test_exception_in_process_batch_fails_exactly_that_batch():
    boom = RuntimeError("model crashed")

    def process(items):
        if "bad" in items:
            raise boom
        return [x.upper() for x in items]

    items = ["a", "b", "bad", "c", "d", "e"]
    with DynamicBatcher(process, max_batch_size=2, max_wait_ms=60_000) as b:
        futures = [b.submit(x) for x in items]
        cf.wait(futures, WAIT)
    assert [f.result() for f in futures[:2]] == ["A", "B"]
    assert [f.result() for f in futures[4:]] == ["D", "E"]
    for f in futures[2:4]:
        exc = f.exception()
        assert isinstance(exc, BatchProcessingError)
        assert exc.__cause__ is boom
        assert "model crashed" in str(exc)
    assert futures[2].exception() is not futures[3].exception()  # one exception per request
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.batches) == (6, 4, 2, 3)


@pytest.mark.parametrize("result, cause, match", [
    (lambda items: items[:-1], ValueError, "returned 2 results for a batch of 3"),
    (lambda items: items + [0], ValueError, "returned 4 results for a batch of 3"),
    (lambda items: None, TypeError, "returned NoneType, expected a sequence of 3"),
    (lambda items: iter(items), TypeError, "returned list_iterator"),
])
def test_wrong_results_fail_the_batch(result, cause, match):
    with DynamicBatcher(result, max_batch_size=3, max_wait_ms=60_000) as b:
        futures = [b.submit(i) for i in range(3)]
        cf.wait(futures, WAIT)
        for f in futures:
            exc = f.exception()
            assert isinstance(exc, BatchProcessingError)
            assert isinstance(exc.__cause__, cause)
            assert match in str(exc.__cause__)
        b.set_max_wait_ms(0)
        assert isinstance(b.submit(7).exception(WAIT), BatchProcessingError)  # worker survived


def test_numpy_results_are_split_per_request():
    with DynamicBatcher(lambda xs: np.asarray(xs) * 2, max_batch_size=4, max_wait_ms=5) as b:
        futures = [b.submit(i) for i in range(4)]
        assert [int(f.result(WAIT)) for f in futures] == [0, 2, 4, 6]


def test_runtime_setters():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch_size=4, max_wait_ms=60_000) as b:
        for f in [b.submit(i) for i in range(4)]:
            f.result(WAIT)
        b.set_max_batch_size(2)
        assert b.max_batch_size == 2
        for f in [b.submit(i) for i in range(4)]:
            f.result(WAIT)
        assert [len(x) for x in rec.batches] == [4, 2, 2]
        f = b.submit(0)
        time.sleep(0.05)
        assert not f.done()
        b.set_max_wait_ms(1)  # the waiting request follows the new limit
        assert f.result(WAIT) == 0 and b.max_wait_ms == 1
        b.set_preferred_batch_size(2)
        b.set_max_batch_size(1)
        assert b.preferred_batch_size == 1
        with pytest.raises(ValueError, match="^n: expected an int >= 1, got 0"):
            b.set_max_batch_size(0)
        with pytest.raises(ValueError, match="^ms: expected a finite number >= 0"):
            b.set_max_wait_ms(-1)
        with pytest.raises(ValueError, match="^preferred_batch_size: expected at most"):
            b.set_preferred_batch_size(2)


def test_setters_are_safe_while_producers_run():
    stop = threading.Event()
    with DynamicBatcher(lambda xs: xs, max_batch_size=8, max_wait_ms=1, workers=2,
                        max_queue_size=10_000) as b:
        def churn():
            k = 0
            while not stop.is_set():
                k += 1
                b.set_max_batch_size(1 + k % 16)
                b.set_max_wait_ms(k % 3)
        t = threading.Thread(target=churn)
        t.start()
        try:
            futures = [b.submit(i) for i in range(5000)]
            assert [f.result(WAIT) for f in futures] == list(range(5000))
        finally:
            stop.set()
            t.join()


def test_close_drains_at_once():
    rec = Recorder()
    b = DynamicBatcher(rec, max_batch_size=4, max_wait_ms=60_000)
    futures = [b.submit(i) for i in range(10)]
    t0 = time.monotonic()
    b.close()
    assert time.monotonic() - t0 < WAIT
    assert [f.result(0) for f in futures] == list(range(10))
    assert sorted(len(x) for x in rec.batches) == [2, 4, 4]
    with pytest.raises(RuntimeError, match="closed"):
        b.submit(1)
    b.close()  # twice is harmless
    assert b.closed


def test_close_without_drain_cancels_queued_requests():
    process, gate, started = blocking_process()
    b = DynamicBatcher(process, max_batch_size=1, max_wait_ms=0)
    running = b.submit(0)
    assert started.wait(WAIT)
    queued = [b.submit(i) for i in range(1, 5)]
    threading.Timer(0.1, gate.set).start()
    b.close(drain=False)
    assert running.result(0) == 0  # the running batch finished
    assert all(f.cancelled() for f in queued)
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.queue_size) == (5, 1, 4, 0)


def test_a_cancelled_request_is_not_processed():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch_size=3, max_wait_ms=60_000) as b:
        f0, f1 = b.submit(0), b.submit(1)
        assert f1.cancel()
        f2 = b.submit(2)
        assert (f0.result(WAIT), f2.result(WAIT)) == (0, 2)
    assert rec.batches == [[0, 2]]
    s = b.stats()
    assert (s.submitted, s.completed, s.failed) == (3, 2, 1)


def test_submit_async():
    async def main(b):
        ok = await asyncio.gather(*(b.submit_async(i) for i in range(100)))
        with pytest.raises(BatchProcessingError) as info:
            await b.submit_async(-1)
        return ok, info.value

    def process(items):
        if -1 in items:
            raise ValueError("negative")
        return [x + 1 for x in items]

    with DynamicBatcher(process, max_batch_size=16, max_wait_ms=2) as b:
        ok, exc = asyncio.run(main(b))
    assert ok == list(range(1, 101))
    assert isinstance(exc.__cause__, ValueError)


def test_submit_async_queue_full():
    async def main(b):
        with pytest.raises(QueueFullError):
            await asyncio.gather(*(b.submit_async(i) for i in range(10)))

    process, gate, _ = blocking_process()
    with DynamicBatcher(process, max_batch_size=1, max_wait_ms=0,
                        max_queue_size=2) as b:
        asyncio.run(main(b))
        gate.set()
    assert b.stats().rejected >= 1


def test_stats():
    with DynamicBatcher(lambda xs: xs, max_batch_size=5, max_wait_ms=1) as b:
        s = b.stats()
        assert isinstance(s, BatchStats) and math.isnan(s.latency_p50_ms)
        assert s.mean_batch_size == 0.0
        for f in [b.submit(i) for i in range(50)]:
            f.result(WAIT)
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.rejected) == (50, 50, 0, 0)
    assert s.batches >= 10 and s.mean_batch_size == 50 / s.batches
    assert 0 <= s.latency_p50_ms <= s.latency_p95_ms <= s.latency_p99_ms < WAIT * 1e3


def test_workers_run_serial_kernels(rng):
    kernel = get_kernel("grayscale")
    frames = [rng.integers(0, 256, (64, 80, 3), dtype=np.uint8) for _ in range(32)]
    with opt_level("parallel"):
        with DynamicBatcher(lambda xs: [(kernel.variant_name(), grayscale(x)) for x in xs],
                            max_batch_size=4, max_wait_ms=1, workers=4) as b:
            out = [f.result(WAIT) for f in [b.submit(x) for x in frames]]
    with opt_level("serial"):
        assert all(np.array_equal(g, grayscale(x)) for (_, g), x in zip(out, frames, strict=True))
    assert {v for v, _ in out} == {"numba-serial"}


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(process_batch=None), TypeError, "^process_batch: expected a callable"),
    (dict(max_batch_size=0), ValueError, "^max_batch_size: expected an int >= 1, got 0"),
    (dict(preferred_batch_size=64), ValueError, "^preferred_batch_size: expected at most"),
    (dict(max_wait_ms=-1), ValueError, "^max_wait_ms: expected a finite number >= 0"),
    (dict(max_wait_ms=float("nan")), ValueError, "^max_wait_ms: expected a finite number"),
    (dict(max_wait_ms="5"), TypeError, "^max_wait_ms: expected a number of milliseconds"),
    (dict(max_queue_size=0), ValueError, "^max_queue_size: expected an int >= 1"),
    (dict(timeout_ms=0), ValueError, "^timeout_ms: expected a finite number > 0, got 0"),
    (dict(workers=0), ValueError, "^workers: expected an int >= 1, got 0"),
])
def test_argument_errors(kwargs, exc, match):
    args = dict(process_batch=lambda xs: xs)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        DynamicBatcher(args.pop("process_batch"), **args)
