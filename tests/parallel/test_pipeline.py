"""wasmpose.parallel.Pipeline: order, backpressure, errors, early close."""

import gc
import threading
import time

import numpy as np
import pytest

from wasmpose import opt_level
from wasmpose.cpu import get_kernel
from wasmpose.image import grayscale, threshold
from wasmpose.parallel import Pipeline


def _pipeline_threads():
    return [t for t in threading.enumerate() if t.name.startswith("wasmpose-pipeline")]


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    before = threading.active_count()
    yield
    gc.collect()
    assert not _pipeline_threads()
    assert threading.active_count() == before


def _jitter(scale):
    def stage(x):
        time.sleep(((x * 7919) % 7) * scale)
        return x
    return stage


@pytest.mark.parametrize("workers", [1, 3, (2, 1, 4)])
def test_results_in_input_order(workers):
    p = Pipeline(_jitter(3e-4), lambda x: x * 3, _jitter(2e-4), queue_size=2, workers=workers)
    assert list(p.run(range(150))) == [3 * x for x in range(150)]
    assert list(p.run([])) == []
    assert list(p.run(iter([5]))) == [15]  # a pipeline runs again


def test_stages_run_in_their_own_threads_with_serial_kernels(rng):
    seen = {}
    kernel = get_kernel("grayscale")

    def record(name):
        def stage(x):
            seen.setdefault(name, set()).add((threading.current_thread().name,
                                              kernel.variant_name()))
            return x
        return stage

    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(20)]
    with opt_level("parallel"):
        p = Pipeline(record("a"), grayscale, record("b"), lambda g: threshold(g, 127))
        out = list(p.run(frames))
    with opt_level("simd"):
        expected = [threshold(grayscale(f), 127) for f in frames]
    assert all(np.array_equal(a, b) for a, b in zip(out, expected, strict=True))
    assert {v for _, v in seen["a"] | seen["b"]} == {"numba-serial"}
    assert {n for n, _ in seen["a"]} == {"wasmpose-pipeline-stage0-0"}
    assert {n for n, _ in seen["b"]} == {"wasmpose-pipeline-stage2-0"}


@pytest.mark.parametrize("workers", [1, 2])
def test_slow_last_stage_blocks_the_first(workers):
    pulled = []

    def source():
        for i in range(10_000):
            pulled.append(i)
            yield i

    queue_size, n_stages = 2, 3
    p = Pipeline(lambda x: x, lambda x: x, _jitter(1e-3), queue_size=queue_size,
                 workers=workers)
    it = p.run(source())
    assert next(it) == 0
    time.sleep(0.3)  # the consumer stops: everything upstream must stop too
    # items in queues + one in the hands of each worker + the consumer's + the source's
    bound = (n_stages + 1) * queue_size + n_stages * workers + 2
    assert len(pulled) <= bound, (len(pulled), bound)
    assert next(it) == 1
    it.close()


@pytest.mark.parametrize("stage", [0, 1, 2])
@pytest.mark.parametrize("workers", [1, 2])
def test_an_exception_in_any_stage_stops_all_and_is_raised(stage, workers):
    raised = []
    calls = [0, 0, 0]

    def make(i):
        def fn(x):
            calls[i] += 1
            if i == stage and x == 20:
                exc = ValueError(f"stage {i}")
                raised.append(exc)
                raise exc
            time.sleep(1e-4)
            return x
        fn.__qualname__ = f"fn{i}"
        return fn

    p = Pipeline(make(0), make(1), make(2), queue_size=2, workers=workers)
    got = []
    with pytest.raises(ValueError) as info:
        for y in p.run(range(10_000)):
            got.append(y)
    assert info.value is raised[0]
    assert info.value.__notes__ == [f"Pipeline: raised by stage {stage} (fn{stage}) on item 20"]
    assert got == list(range(len(got))) and len(got) <= 20
    assert calls[0] < 100  # the first stage stopped
    assert not _pipeline_threads()


def test_an_exception_from_the_items_is_raised():
    def source():
        yield from range(5)
        raise OSError("stream lost")

    with pytest.raises(OSError, match="stream lost") as info:
        list(Pipeline(lambda x: x).run(source()))
    assert info.value.__notes__ == ["Pipeline: raised while iterating the items (at index 5)"]


def test_closing_early_stops_every_thread():
    before = threading.active_count()
    p = Pipeline(lambda x: x, _jitter(1e-4), lambda x: x, workers=(1, 3, 1))
    it = p.run(iter(range(10**9)))
    assert next(it) == 0
    assert threading.active_count() == before + 1 + 5  # the source and 5 stage workers
    it.close()
    assert threading.active_count() == before

    # breaking out of a for loop and dropping the iterator does the same
    for y in p.run(range(10**9)):
        if y == 3:
            break
    gc.collect()
    assert threading.active_count() == before


def test_iterator_not_started_starts_no_thread():
    before = threading.active_count()
    it = Pipeline(lambda x: x).run(range(10))
    assert threading.active_count() == before
    del it


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((), {}, ValueError, "^stages: expected at least one callable, got none"),
    ((abs, 3), {}, TypeError, r"^stages\[1\]: expected a callable, got int"),
    ((abs,), dict(queue_size=0), ValueError, "^queue_size: expected an int >= 1, got 0"),
    ((abs,), dict(workers=0), ValueError, "^workers: expected an int >= 1, got 0"),
    ((abs, abs), dict(workers=(1,)), ValueError, "^workers: expected an int or 2 ints"),
    ((abs, abs), dict(workers=(1, 0)), ValueError, r"^workers\[1\]: expected an int >= 1"),
])
def test_argument_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Pipeline(*args, **kwargs)


def test_run_rejects_non_iterables():
    with pytest.raises(TypeError, match="^items: expected an iterable, got int"):
        Pipeline(abs).run(3)


def test_closing_does_not_wait_for_a_source_blocked_in_next():
    """A camera or socket source can block in next() for good: closing the pipeline returns
    at once, and the source thread stops at its next item."""
    release = threading.Event()

    def camera():
        yield 1
        release.wait(30)  # a frame that does not come
        yield 2

    it = Pipeline(lambda x: x * 10).run(camera())
    assert next(it) == 10
    time.sleep(0.05)  # the source is now blocked in next()
    t0 = time.monotonic()
    it.close()
    assert time.monotonic() - t0 < 2
    release.set()
    deadline = time.monotonic() + 10
    while any(t.name == "wasmpose-pipeline-source" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the source thread did not stop"
        time.sleep(0.01)
