"""wasmpose.parallel: thread counts and parallel_map."""

import os
import subprocess
import sys
import threading
import time

import numba
import numpy as np
import pytest

from wasmpose import opt_level
from wasmpose.cpu import get_kernel
from wasmpose.image import grayscale
from wasmpose.parallel import (
    BatchExecutor,
    Pipeline,
    optimal_thread_count,
    parallel_map,
    set_thread_count,
)


def test_optimal_thread_count_respects_affinity():
    assert optimal_thread_count() == len(os.sched_getaffinity(0))
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
            "from wasmpose.parallel import optimal_thread_count as f; print(f())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert r.stdout.strip() == "1"


def test_set_thread_count_sets_default_workers_and_numba():
    threads_seen = set()

    def record(_):
        threads_seen.add(threading.get_ident())
        time.sleep(0.002)

    previous = set_thread_count(1)
    try:
        assert numba.get_num_threads() == 1
        parallel_map(record, range(20))
        assert threads_seen == {threading.get_ident()}  # one worker: the calling thread
        set_thread_count(3)
        assert numba.get_num_threads() == min(3, numba.config.NUMBA_NUM_THREADS)
        threads_seen.clear()
        parallel_map(record, range(60))
        assert 1 < len(threads_seen) <= 3
    finally:
        assert set_thread_count(None) == 3
    assert numba.get_num_threads() == min(optimal_thread_count(), numba.config.NUMBA_NUM_THREADS)
    assert previous == optimal_thread_count()


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (2.0, TypeError),
                                      (True, TypeError), ("2", TypeError)])
def test_set_thread_count_rejects(bad, exc):
    with pytest.raises(exc, match="^n: expected an int >= 1 or None"):
        set_thread_count(bad)


def _jitter(x):
    time.sleep(((x * 7919) % 5) * 2e-4)
    return x * x


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
def test_order(workers):
    items = list(range(200))
    assert parallel_map(_jitter, items, workers=workers) == [x * x for x in items]


def test_unordered_returns_completion_order():
    def f(x):
        if x == 0:
            time.sleep(0.3)
        return x

    out = parallel_map(f, range(50), workers=2, ordered=False)
    assert sorted(out) == list(range(50))
    assert out[-1] == 0  # the slow item finished last


def test_return_exceptions_keeps_positions():
    out = parallel_map(lambda x: 10 // x, [5, 0, 2, 0, 1], workers=3, return_exceptions=True)
    assert out[0] == 2 and out[2] == 5 and out[4] == 10
    for i in (1, 3):
        assert isinstance(out[i], ZeroDivisionError)
        assert out[i].__notes__ == [f"parallel_map: raised by item {i}"]


def test_failure_reraises_the_items_own_exception_with_its_index():
    raised = []

    def f(x):
        if x == 37:
            exc = KeyError("item 37")
            raised.append(exc)
            raise exc
        return x

    with pytest.raises(KeyError) as info:
        parallel_map(f, range(100), workers=4)
    assert info.value is raised[0]
    assert "parallel_map: raised by item 37" in info.value.__notes__


def test_failure_is_the_first_in_input_order_and_stops_scheduling():
    calls = []

    def f(x):
        calls.append(x)
        if x in (30, 31):
            time.sleep(0.05 if x == 30 else 0.0)  # 31 fails first in time
            raise ValueError(x)
        time.sleep(0.001)
        return x

    with pytest.raises(ValueError) as info:
        parallel_map(f, range(1000), workers=4, chunk_size=1)
    assert info.value.args == (30,)
    assert len(calls) < 100  # nothing claimed after the failure


def test_unbalanced_work_finishes_near_the_ideal_time():
    """A few items 100x slower, all at the start: static chunks would give one worker all of
    them. Sleeping items keep the timing independent of how busy the cores are."""
    fast, slow, workers = 0.002, 0.2, 4
    items = [slow] * 4 + [fast] * 200  # total 1.2 s of work: ideal 0.3 s on 4 workers
    ideal = sum(items) / workers
    t0 = time.perf_counter()
    parallel_map(time.sleep, items, workers=workers)
    elapsed = time.perf_counter() - t0
    static = 4 * slow + (len(items) // workers - 4) * fast  # the first contiguous quarter
    assert elapsed < ideal + 0.5 * (static - ideal), (elapsed, ideal, static)


def test_chunk_size_claims_consecutive_items():
    owner = {}

    def f(x):
        owner[x] = threading.get_ident()
        time.sleep(0.001)
        return x

    assert parallel_map(f, range(40), workers=2, chunk_size=10) == list(range(40))
    for start in range(0, 40, 10):
        assert len({owner[x] for x in range(start, start + 10)}) == 1
    assert len(set(owner.values())) == 2


@pytest.mark.parametrize("items", [[], (), range(0), iter([]), (x for x in [])])
def test_empty_input(items):
    assert parallel_map(lambda x: 1 / 0, items) == []


def test_generator_is_consumed_lazily():
    pulled = []

    def gen():
        for i in range(10**9):
            pulled.append(i)
            yield i

    with pytest.raises(RuntimeError):
        parallel_map(lambda x: (_ for _ in ()).throw(RuntimeError("stop")) if x == 50 else x,
                     gen(), workers=2)
    assert len(pulled) < 10_000
    assert parallel_map(str, (i for i in range(100)), workers=3) == [str(i) for i in range(100)]


def test_failing_iterable_is_raised():
    def gen():
        yield 1
        yield 2
        raise OSError("camera unplugged")

    with pytest.raises(OSError, match="camera unplugged") as info:
        parallel_map(lambda x: x, gen(), workers=2)
    assert "parallel_map: raised while iterating the items (at index 2)" in info.value.__notes__


def test_workers_run_serial_kernels_and_kernels_are_correct(rng):
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(16)]
    with opt_level("simd"):
        expected = [grayscale(f) for f in frames]
    kernel = get_kernel("grayscale")
    with opt_level("parallel"):
        variants = parallel_map(lambda _: kernel.variant_name(), range(16), workers=8,
                                chunk_size=1)
        assert set(variants) == {"numba-serial"}
        assert kernel.variant_name() in ("numba-parallel", "numba-serial")  # caller unchanged
        for _ in range(3):
            out = parallel_map(grayscale, frames, workers=8, chunk_size=1)
            assert all(np.array_equal(a, b) for a, b in zip(out, expected, strict=True))


def test_no_thread_left_behind():
    before = threading.active_count()
    parallel_map(_jitter, range(100), workers=6)
    with pytest.raises(ZeroDivisionError):
        parallel_map(lambda x: 1 // (x - 50), range(100), workers=6)
    assert threading.active_count() == before


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    assert parallel_map(abs, range(-5, 5), progress=True) == [abs(x) for x in range(-5, 5)]
    err = capsys.readouterr().err
    assert "parallel_map" in err and "10/10" in err


def test_progress_without_tqdm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="progress=True needs tqdm.*pip install"):
        parallel_map(abs, [1], progress=True)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(fn=3), TypeError, "^fn: expected a callable, got int"),
    (dict(items=5), TypeError, "^items: expected an iterable, got int"),
    (dict(items="abc"), TypeError, "^items: expected an iterable, got str"),
    (dict(workers=0), ValueError, "^workers: expected an int >= 1 or None, got 0"),
    (dict(workers=1.5), TypeError, "^workers: expected an int >= 1 or None, got float"),
    (dict(chunk_size=0), ValueError, "^chunk_size: expected an int >= 1 or None, got 0"),
])
def test_argument_errors(kwargs, exc, match):
    args = dict(fn=abs, items=[1, 2])
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        parallel_map(args.pop("fn"), args.pop("items"), **args)


@pytest.mark.parametrize("call", [
    lambda: parallel_map(abs, (x for x in range(3)), workers=10**6),
    lambda: Pipeline(abs, workers=2000),
    lambda: Pipeline(abs, abs, workers=[1, 1025]),
    lambda: BatchExecutor(workers=1025),
    lambda: set_thread_count(5000),
])
def test_absurd_worker_counts_are_refused_before_any_thread_starts(call):
    # a generator has no length: workers=10**6 started threads until none could start
    before = threading.active_count()
    with pytest.raises(ValueError, match=r"workers|n: expected at most 1024"):
        call()
    assert threading.active_count() == before


async def _coro_fn(x):
    return x


class _AsyncCall:
    async def __call__(self, x):
        return x


@pytest.mark.parametrize("fn", [_coro_fn, _AsyncCall()])
def test_async_functions_are_refused_instead_of_returning_coroutines(fn):
    # parallel_map(async_fn, ...) returned coroutine objects that nothing awaited
    from wasmpose.parallel import DynamicBatcher

    for call in (lambda: parallel_map(fn, [1, 2]), lambda: Pipeline(fn),
                 lambda: BatchExecutor(workers=1).map(fn, [1]),
                 lambda: DynamicBatcher(fn)):
        with pytest.raises(TypeError, match=r"expected a plain callable, got the async "
                                            r"function"):
            call()


def test_items_longer_than_maxsize_are_consumed_lazily():
    # len(range(10**20)) raises OverflowError; the map reads it as a generator
    def stop_at_5(x):
        if x == 5:
            raise StopIteration("enough")  # any exception stops the map at item 5
        return x

    with pytest.raises(StopIteration) as info:
        parallel_map(stop_at_5, range(10**20), workers=2, chunk_size=1)
    assert info.value.__notes__ == ["parallel_map: raised by item 5"]
    assert parallel_map(abs, range(-3, 10**20)[:3], workers=2) == [3, 2, 1]
