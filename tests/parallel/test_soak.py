"""wasmpose.parallel.DynamicBatcher under load with faults, and AdaptiveBatcher convergence."""

import collections
import concurrent.futures as cf
import random
import threading
import time

import numpy as np
import pytest

from wasmpose.parallel import (
    AdaptiveBatcher,
    BatchProcessingError,
    BatchTimeoutError,
    DynamicBatcher,
    QueueFullError,
)


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escaped any thread (a double resolution would land here)."""
    errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


@pytest.mark.slow
def test_soak_with_faults(thread_errors):
    producers, per_producer = 16, 10_000
    local = threading.local()

    def process(items):
        r = getattr(local, "rng", None) or random.Random(threading.get_ident())
        local.rng = r
        u = r.random()
        if u < 0.03:
            raise RuntimeError("injected failure")
        if u < 0.04:
            return items[:-1]  # wrong length
        if u < 0.06:
            time.sleep(0.06)  # slower than the timeout
        return [2 * x for x in items]

    before = set(threading.enumerate())
    b = DynamicBatcher(process, max_batch_size=32, max_wait_ms=1, max_queue_size=2000,
                       timeout_ms=50, workers=2)
    accepted = [[] for _ in range(producers)]
    rejected = [0] * producers
    resolutions = collections.Counter()
    lock = threading.Lock()

    def on_done(f):
        with lock:
            resolutions[id(f)] += 1

    def produce(p):
        for i in range(per_producer):
            item = p * per_producer + i
            try:
                f = b.submit(item)
            except QueueFullError:
                rejected[p] += 1
                time.sleep(0.0005)
                continue
            f.add_done_callback(on_done)
            accepted[p].append((item, f))

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a producer is stuck"
    futures = [f for acc in accepted for _, f in acc]
    done, not_done = cf.wait(futures, timeout=30)
    assert not not_done, f"{len(not_done)} accepted requests never resolved"
    b.close()
    elapsed = time.monotonic() - t0

    outcomes = collections.Counter()
    for acc in accepted:
        for item, f in acc:
            exc = f.exception()
            if exc is None:
                assert f.result() == 2 * item
                outcomes["completed"] += 1
            elif isinstance(exc, BatchTimeoutError):
                outcomes["timed_out"] += 1
            else:
                assert isinstance(exc, BatchProcessingError), exc
                assert isinstance(exc.__cause__, (RuntimeError, ValueError))
                outcomes["processing"] += 1
    s = b.stats()
    assert s.submitted == len(futures) == producers * per_producer - sum(rejected)
    assert s.submitted == s.completed + s.failed
    assert s.completed == outcomes["completed"]
    assert s.failed == outcomes["timed_out"] + outcomes["processing"]
    assert s.timed_out == outcomes["timed_out"]
    assert s.rejected == sum(rejected)
    assert s.queue_size == 0
    # every fault happened, and most requests still succeeded
    assert outcomes["timed_out"] > 0 and outcomes["processing"] > 0
    assert outcomes["completed"] > s.submitted // 2
    assert len(resolutions) == len(futures) and set(resolutions.values()) == {1}
    assert not thread_errors
    time.sleep(0.05)
    assert set(threading.enumerate()) <= before  # no thread left behind
    print(f"soak: {elapsed:.1f} s, {s}")


@pytest.mark.slow
def test_adaptive_batcher_settles_under_the_target_near_the_best_throughput():
    """Batches cost a + b * size; requests arrive at a steady rate. Small batches waste the
    fixed cost a, large ones keep their first request waiting for the batch to fill: the p95
    latency of a batch size s is about 0.95 s / rate + a + b s."""
    a, b_ms, rate, target = 4e-3, 1e-4, 1000.0, 50.0

    def process(items):
        time.sleep(a + b_ms * len(items))
        return items

    def p95_model(s):
        return 0.95 * s / rate + a + b_ms * s

    def throughput(s):  # requests per second of processing time
        return s / (a + b_ms * s)

    best = max(s for s in range(1, 257) if p95_model(s) <= target / 1e3)
    sizes, done_at = [], {}

    def record(i):
        return lambda f: done_at.__setitem__(i, time.monotonic())

    with AdaptiveBatcher(process, target_latency_ms=target, max_batch_size=256,
                         history=100) as batcher:
        t0 = time.monotonic()
        futures, submitted_at = [], []
        for i in range(4000):  # 4 s at 1000 requests/s
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            submitted_at.append(time.monotonic())
            futures.append(batcher.submit(i))
            futures[-1].add_done_callback(record(i))
            if i % 100 == 0:
                sizes.append(batcher.current_batch_size)
        cf.wait(futures, timeout=30)
    assert [f.result() for f in futures] == list(range(4000))
    s_final = int(np.median(sizes[len(sizes) // 2:]))
    p95 = np.percentile([done_at[i] - submitted_at[i] for i in range(3000, 4000)], 95)
    print(f"adaptive: best {best}, p95 {p95 * 1e3:.1f} ms, sizes {sizes}")
    # The controller owns the batch size; the measured latency also holds the machine's
    # scheduling noise (seen: 95 ms p95 while another process compiled on both cores), so the
    # settled size is judged with the cost model, and the measured p95 only loosely. The model
    # is itself approximate at the boundary (seen: settled at 44, model 50.2 ms, measured
    # p95 49.8 ms), hence 5% on the model: an overshoot to 47 or beyond still fails.
    assert p95_model(s_final) <= 1.05 * target / 1e3, (s_final, sizes)
    assert throughput(s_final) >= 0.8 * throughput(best), (s_final, best, sizes)
    assert p95 <= 4 * target / 1e3, (p95, sizes)
