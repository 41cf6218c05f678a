"""wasmpose.parallel.DynamicBatcher: dispatch rules, errors, setters, close, asyncio."""

import asyncio
import concurrent.futures as cf
import gc
import math
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[2]
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
        assert b.queue_size == 1  # the slot is free at once: the batch is not full yet
        f2, f3 = b.submit(2), b.submit(3)
        assert (f0.result(WAIT), f2.result(WAIT), f3.result(WAIT)) == (0, 2, 3)
    assert rec.batches == [[0, 2, 3]]
    s = b.stats()
    assert (s.submitted, s.completed, s.failed) == (4, 3, 1)


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


# -- issue 13: absurd waits, lying results, cancelled slots; a worker never dies ---------------
def _threads_alive(b):
    return all(t.is_alive() for t in b._threads) and (b._timer is None or b._timer.is_alive())


@pytest.mark.parametrize("kwargs, setter", [
    ({"max_wait_ms": 1e13}, None),
    ({"max_wait_ms": 1.0}, 1e300),
    ({"max_wait_ms": 1e300, "timeout_ms": 1e13}, None),
    ({"max_wait_ms": 1e13, "timeout_ms": 1e300}, 1e13),
])
def test_absurdly_long_waits_never_kill_a_thread(kwargs, setter):
    # issue 13: the worker died of OverflowError (a Condition.wait beyond TIMEOUT_MAX); the
    # accepted requests never resolved and close(drain=True) returned with them pending
    rec = Recorder()
    b = DynamicBatcher(rec, max_batch_size=3, **kwargs)
    try:
        if setter is not None:
            b.set_max_wait_ms(setter)
        first = b.submit(1)
        time.sleep(0.2)  # the worker is waiting for the batch to fill, the timer for a deadline
        assert _threads_alive(b) and not first.done()
        full = [b.submit(i) for i in (2, 3)]  # the batch fills: dispatched at once
        assert [f.result(WAIT) for f in [first, *full]] == [1, 2, 3]
        last = b.submit(4)
        time.sleep(0.1)
        assert _threads_alive(b) and not last.done()
    finally:
        b.close(drain=True)
    assert last.result(0) == 4  # drained, not left pending
    assert rec.batches == [[1, 2, 3], [4]]
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.queue_size) == (4, 4, 0, 0)


class Liar:
    """A result whose len() disagrees with its iteration."""

    def __init__(self, n, yields):
        self.n, self.yields = n, yields

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(range(self.yields))


@pytest.mark.parametrize("yields", [1, 5])
def test_result_whose_len_disagrees_with_its_iteration_fails_only_its_batch(yields):
    # issue 13: zip(strict=True) raised outside the handler and the worker died
    calls = []

    def process(items):
        calls.append(list(items))
        return Liar(len(items), yields) if len(calls) == 1 else [-x for x in items]

    with DynamicBatcher(process, max_batch_size=3, max_wait_ms=1) as b:
        bad = [b.submit(i) for i in range(3)]
        for f in bad:
            with pytest.raises(BatchProcessingError) as info:
                f.result(WAIT)
            assert isinstance(info.value.__cause__, ValueError)
            assert "whose len() is 3 but that yields" in str(info.value.__cause__)
        assert b.submit(7).result(WAIT) == -7  # the worker lives on
    s = b.stats()
    assert (s.submitted, s.completed, s.failed) == (4, 1, 3)


def test_cancelled_queued_requests_free_their_slots_at_once():
    # issue 13: QueueFullError with only cancelled requests queued; stats() showed them
    # queued, not failed
    b = DynamicBatcher(lambda xs: xs, max_batch_size=10, max_wait_ms=60_000, max_queue_size=3)
    try:
        futures = [b.submit(i) for i in range(3)]
        with pytest.raises(QueueFullError):
            b.submit(99)
        assert all(f.cancel() for f in futures)
        assert not futures[0].cancel() or futures[0].cancelled()  # cancelling again: no-op
        s = b.stats()
        assert (s.submitted, s.failed, s.rejected, s.queue_size) == (3, 3, 1, 0)
        assert b.queue_size == 0
        again = [b.submit(i) for i in (10, 11, 12)]  # the three slots are free
        with pytest.raises(QueueFullError):
            b.submit(13)
        assert b.stats().queue_size == 3
    finally:
        b.close(drain=True)
    assert [f.result(0) for f in again] == [10, 11, 12]
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.rejected) == (6, 3, 3, 2)


def test_timed_out_queued_requests_free_their_slots():
    b = DynamicBatcher(lambda xs: xs, max_batch_size=10, max_wait_ms=60_000, max_queue_size=2,
                       timeout_ms=50)
    try:
        old = [b.submit(i) for i in range(2)]
        for f in old:
            with pytest.raises(BatchTimeoutError):
                f.result(WAIT)
        assert b.stats().queue_size == 0
        new = [b.submit(i) for i in (5, 6)]
    finally:
        b.close(drain=True)
    assert [f.result(0) for f in new] == [5, 6]


def test_asyncio_cancellation_frees_the_slot():
    async def main(b):
        task = asyncio.ensure_future(b.submit_async(1))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return b.stats()

    with DynamicBatcher(lambda xs: xs, max_wait_ms=60_000, max_queue_size=1) as b:
        s = asyncio.run(main(b))
        assert (s.queue_size, s.failed) == (0, 1)
        b.set_max_wait_ms(0)
        assert b.submit(2).result(WAIT) == 2  # the one slot is free


def test_cancellation_races_with_dispatch():
    """Owners cancel while workers dispatch: every request is resolved exactly once and
    counted once."""
    with DynamicBatcher(lambda xs: xs, max_batch_size=8, max_wait_ms=0.2, workers=3,
                        max_queue_size=100_000) as b:
        futures = []

        def produce(k):
            for i in range(2000):
                f = b.submit(i)
                futures.append(f)
                if (i + k) % 3 == 0:
                    f.cancel()

        threads = [threading.Thread(target=produce, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(f.done() for f in futures)
    s = b.stats()
    cancelled = sum(f.cancelled() for f in futures)
    assert s.submitted == len(futures) == 6000
    assert s.completed == sum(not f.cancelled() for f in futures)
    assert s.failed == cancelled and s.queue_size == 0


def test_an_error_of_the_batcher_itself_fails_the_batch_and_the_worker_lives_on():
    class Broken(DynamicBatcher):
        calls = 0

        def _observe(self, size, backlog, completed, now):
            type(self).calls += 1
            raise RuntimeError("a bug in a subclass")

    with Broken(lambda xs: [x + 1 for x in xs], max_batch_size=2, max_wait_ms=1) as b:
        assert [b.submit(i).result(WAIT) for i in range(3)] == [1, 2, 3]
    assert Broken.calls == 3

    class Worse(DynamicBatcher):
        def _run(self, batch, backlog, expired):
            if batch and batch[0].item == "boom":
                raise RuntimeError("a bug before any result")
            super()._run(batch, backlog, expired)

    with Worse(lambda xs: xs, max_batch_size=1, max_wait_ms=1) as b:
        with pytest.raises(BatchProcessingError, match="a bug before any result"):
            b.submit("boom").result(WAIT)
        assert b.submit("ok").result(WAIT) == "ok"
    s = b.stats()
    assert (s.submitted, s.completed, s.failed) == (2, 1, 1)


INNER_WAIT = """
import concurrent.futures as cf
from wasmpose.parallel import DynamicBatcher

def process(items):
    if items == ["outer"]:
        f = b.submit("inner")
        for call in (f.result, f.exception):
            try:
                call()
            except RuntimeError as exc:
                print(exc)
        try:
            f.result(timeout=0.01)  # with a timeout the wait is allowed
        except cf.TimeoutError:
            print("timeout allowed")
    return items

with DynamicBatcher(process, max_batch_size=1, max_wait_ms=0) as b:
    print(b.submit("outer").result(10))
"""


def test_waiting_for_a_request_from_inside_process_batch_is_refused():
    """With one worker, process_batch waiting for a request of the same batcher waits for
    itself: a RuntimeError instead of a deadlock. In a subprocess with a timeout, so that a
    regression fails instead of hanging."""
    out = subprocess.run([sys.executable, "-c", INNER_WAIT], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("result: waiting without a timeout, from inside process_batch")
    assert lines[1].startswith("exception: waiting without a timeout")
    assert lines[2:] == ["timeout allowed", "outer"]


@pytest.mark.parametrize("kwargs, match", [
    ({"workers": 1025}, r"^workers: expected at most 1024 workers \(threads\), got 1025"),
    ({"workers": 10**9}, r"^workers: expected at most 1024"),
])
def test_absurd_worker_counts_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DynamicBatcher(lambda xs: xs, **kwargs)


def test_adaptive_history_is_bounded():
    from wasmpose.parallel import AdaptiveBatcher

    with pytest.raises(ValueError, match=r"^history: expected at most 1000000 requests"):
        AdaptiveBatcher(lambda xs: xs, target_latency_ms=10, history=10**12)


@pytest.mark.parametrize("drain", [True, False])
def test_close_racing_with_producers_resolves_every_accepted_request(drain):
    b = DynamicBatcher(lambda xs: [x * 2 for x in xs], max_batch_size=4, max_wait_ms=0.5,
                       workers=2, max_queue_size=100_000)
    accepted = []
    start = threading.Event()

    def produce():
        start.wait()
        for i in range(3000):
            try:
                accepted.append((i, b.submit(i)))
            except RuntimeError:  # closed
                return

    threads = [threading.Thread(target=produce) for _ in range(3)]
    for t in threads:
        t.start()
    start.set()
    time.sleep(0.01)
    b.close(drain=drain)
    for t in threads:
        t.join(WAIT)
    for i, f in accepted:
        if drain:
            assert f.result(0) == 2 * i  # done at once: close() drained it
        else:
            assert f.done() and (f.cancelled() or f.result(0) == 2 * i)
    s = b.stats()
    assert s.submitted == len(accepted) == s.completed + s.failed
    assert s.queue_size == 0


def test_close_never_returns_with_accepted_requests_pending():
    """The safety net behind "workers never die": if every worker is gone, close() fails the
    requests still queued instead of returning with them pending."""

    class Dead(DynamicBatcher):
        def _work(self):  # a worker that died at once
            return

    b = Dead(lambda xs: xs, max_wait_ms=0)
    futures = [b.submit(i) for i in range(3)]
    b.close(drain=True)
    for f in futures:
        with pytest.raises(BatchProcessingError, match="the batcher's workers stopped"):
            f.result(0)
    s = b.stats()
    assert (s.submitted, s.completed, s.failed, s.queue_size) == (3, 0, 3, 0)


@pytest.mark.parametrize("timeout_ms", [None, 1e9])
def test_submitting_and_cancelling_while_the_worker_waits_keeps_the_queue_small(timeout_ms):
    with DynamicBatcher(lambda xs: xs, max_batch_size=1000, max_wait_ms=60_000,
                        max_queue_size=10, timeout_ms=timeout_ms) as b:
        keep = b.submit(-1)  # alive at the head of the deadlines while the rest is cancelled
        for i in range(5000):
            assert b.submit(i).cancel()
        assert len(b._queue) <= 3 and b.queue_size == 1
        assert len(b._deadlines) <= 3
        b.set_max_wait_ms(0)
        assert keep.result(WAIT) == -1
        s = b.stats()
        assert (s.submitted, s.failed, s.rejected) == (5001, 5000, 0)


@pytest.mark.parametrize("value", [10**400, Fraction(10**400, 3)])
def test_waits_beyond_the_float_range_are_value_errors(value):
    """Found by tests/fuzz: float(Fraction(10**400, 3)) raised OverflowError."""
    for key in ("max_wait_ms", "timeout_ms"):
        with pytest.raises(ValueError, match=key):
            DynamicBatcher(lambda xs: xs, **{key: value})
    with DynamicBatcher(lambda xs: xs) as b, pytest.raises(ValueError, match="^ms: "):
        b.set_max_wait_ms(value)  # the setter's argument is called ms
