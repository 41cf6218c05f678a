"""Fuzzing wasmpose.parallel's arguments. The defects this suite found there (fixed on main by
the parallel helper) are kept as regression cases at the end (``KNOWN``).

Every call that starts threads is bounded: futures are awaited with a timeout, so a hang is a
failure, not a stuck run."""

import concurrent.futures
import contextlib
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.fuzz._fuzz import fuzz_settings, ints, numbers, outcome
from wasmpose.parallel import (
    AdaptiveBatcher,
    BatchExecutor,
    DynamicBatcher,
    Pipeline,
    optimal_thread_count,
    parallel_map,
    set_thread_count,
)

WAIT = 10.0  # seconds any result may take before the test calls it a hang
ITEMS = st.one_of(st.lists(st.integers(-5, 5), max_size=12), st.sampled_from(
    [None, 5, "abc", range(7), iter(range(3)), (i for i in range(4)), {1: 2}]))
FNS = st.sampled_from([lambda x: x * 2, lambda x: 1 / x, str, None, 3, np.negative])


def _threads():
    return {t.ident for t in threading.enumerate()}


@contextlib.contextmanager
def no_thread_dies():
    """Fail if a thread dies of an exception within the block (a dead worker leaves accepted
    requests unresolved)."""
    died, previous = [], threading.excepthook
    threading.excepthook = lambda args: died.append((args.thread.name, args.exc_value))
    try:
        yield
    finally:
        threading.excepthook = previous
    assert not died, f"a thread died: {died}"


@fuzz_settings(short=40, long=500)
@given(fn=FNS, items=ITEMS, opts=st.fixed_dictionaries({}, optional={
    "workers": st.one_of(st.none(), ints(2, 1, 0, 2**40)),
    "chunk_size": st.one_of(st.none(), ints(1, 3, 0, 2**40)),
    "ordered": st.sampled_from([True, False, 1, "no"]),
    "return_exceptions": st.booleans(), "progress": st.sampled_from([False, None, 0])}))
def test_parallel_map(fn, items, opts):
    before = _threads()
    try:
        kind, out = outcome(lambda: parallel_map(fn, items, **opts))
    except ZeroDivisionError:
        return  # fn's own exception, re-raised as documented (return_exceptions=False)
    if kind == "ok":
        assert isinstance(out, list)
    assert _threads() <= before | _threads()  # no check possible on pool reuse; must not hang


@fuzz_settings(short=25, long=300)
@given(stages=st.lists(FNS, max_size=3), items=ITEMS,
       queue_size=ints(8, 1, 0, 2**40), workers=st.one_of(ints(1, 2, 0), st.lists(ints(1),
                                                                                max_size=3)))
def test_pipeline(stages, items, queue_size, workers):
    kind, p = outcome(lambda: Pipeline(*stages, queue_size=queue_size, workers=workers))
    if kind == "error":
        return
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(lambda: outcome(lambda: list(p.run(items))))
        try:
            fut.result(WAIT)
        except ZeroDivisionError:
            pass  # a stage's own exception, re-raised as documented


MS = st.one_of(numbers(1.0, 5.0, 0.0), st.none())


@fuzz_settings(short=25, long=300)
@given(opts=st.fixed_dictionaries({}, optional={
    "max_batch_size": ints(4, 1, 0, 2**40), "preferred_batch_size": st.one_of(st.none(),
                                                                               ints(2, 0)),
    "max_wait_ms": MS, "max_queue_size": ints(100, 1, 0), "timeout_ms": MS,
    "workers": ints(1, 2, 0)}),
    items=st.lists(st.integers(), max_size=6),
    adaptive=st.booleans(), target=numbers(50.0, 1.0))
def test_batchers(opts, items, adaptive, target):
    # long waits are legitimate (a batch waits max_wait_ms to fill) but would only slow the
    # search down; absurd ones (1e13 ms) are the KNOWN cases below
    for k in ("max_wait_ms", "timeout_ms"):
        v = opts.get(k)
        assume(not isinstance(v, (int, float)) or isinstance(v, bool) or not v == v
               or abs(v) <= 100)
    if adaptive:
        opts.pop("preferred_batch_size", None)
        make = lambda: AdaptiveBatcher(lambda xs: [x + 1 for x in xs],  # noqa: E731
                                       target_latency_ms=target, **opts)
    else:
        make = lambda: DynamicBatcher(lambda xs: [x + 1 for x in xs], **opts)  # noqa: E731
    with no_thread_dies():
        _run_batcher(make, items)


def _run_batcher(make, items):
    kind, b = outcome(make)
    if kind == "error":
        return
    try:
        futs = []
        for x in items:
            try:
                futs.append((x, b.submit(x)))
            except Exception as exc:  # noqa: BLE001 - QueueFullError is the documented refusal
                assert type(exc).__name__ == "QueueFullError", exc
        for x, f in futs:
            try:
                assert f.result(WAIT) == x + 1
            except Exception as exc:  # noqa: BLE001 - a timeout_ms expiry is documented
                assert type(exc).__name__ == "BatchTimeoutError", exc
    finally:
        b.close(drain=False)


@fuzz_settings(short=20, long=200)
@given(opts=st.fixed_dictionaries({}, optional={
    "backend": st.sampled_from(["threads", "THREADS", "mpi", None, 3]),
    "workers": st.one_of(st.none(), ints(2, 1, 0, 2**40)), "processes": st.booleans(),
    "client": st.sampled_from([None, "x"])}), items=st.lists(st.integers(0, 9), max_size=9),
    batch_size=st.one_of(st.none(), ints(2, 1, 0, 2**40)))
def test_batch_executor(opts, items, batch_size):
    if opts.get("backend") == "threads":
        opts.pop("client", None)
    kind, ex = outcome(lambda: BatchExecutor(**opts))
    if kind == "error":
        return
    try:
        kind, out = outcome(lambda: ex.map(lambda x: x + 1, items, batch_size=batch_size))
        if kind == "ok":
            assert out == [x + 1 for x in items]
        arrays = [np.full(3, x, np.float32) for x in items]
        kind, out = outcome(lambda: ex.map_batches(lambda b: b * 2, arrays,
                                                   batch_size=batch_size or 1))
        if kind == "ok" and out:
            np.testing.assert_array_equal(np.concatenate([np.atleast_2d(o) for o in out]),
                                          2 * np.array(arrays))
    finally:
        ex.close()


@fuzz_settings(short=30, long=300)
@given(n=st.one_of(st.none(), ints(1, 2, 0, -1, 2**40)))
def test_set_thread_count(n):
    before = set_thread_count(None)
    try:
        outcome(lambda: set_thread_count(n))
        assert optimal_thread_count() >= 1
    finally:
        set_thread_count(before)


# --- defects this suite found (fixed on main by the parallel helper): regression cases -------
def _batcher_drains(**opts):
    """One request below max_batch_size, then close(drain=True): it must be resolved, and no
    thread may die."""
    with no_thread_dies():
        b = DynamicBatcher(lambda xs: xs, max_batch_size=2, **opts)
        f = b.submit(1)
        time.sleep(0.2)
        b.close(drain=True)
        assert f.done() and f.result(0) == 1


def _bounded_in_subprocess(snippet: str, ok: str):
    """Run ``snippet`` (which sets ``out``) in a subprocess under a 1 GiB address-space cap and
    10 s: it must print ``ok`` or refuse with TypeError/ValueError (printing ``refused``)."""
    code = ("from tests.helpers import address_space_cap\n"
            "from wasmpose.parallel import DynamicBatcher, Pipeline\n"
            "with address_space_cap(1 << 30):\n"
            "    try:\n"
            + "".join(f"        {line}\n" for line in snippet.splitlines()) +
            "    except (TypeError, ValueError):\n"
            "        out = 'refused'\n"
            "print(out)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert r.returncode == 0 and r.stdout.strip() in (ok, "refused"), r.stderr[-300:]


def _pipeline_with_absurd_workers():
    """Pipeline(workers=2**40) was accepted, then run() built a list of 2**40 thread specs: a
    MemoryError after ~11 s under a 1 GiB cap (an exhausted machine without one)."""
    _bounded_in_subprocess("out = list(Pipeline(lambda x: x, workers=2**40).run(range(3)))",
                           "[0, 1, 2]")


def _batcher_with_absurd_workers():
    """DynamicBatcher(workers=2**31 + 1) made a Thread object per worker in __init__ (the fuzz
    run hung there)."""
    _bounded_in_subprocess("b = DynamicBatcher(lambda xs: xs, workers=2**31 + 1)\n"
                           "out = b.submit(1).result(5)\n"
                           "b.close()", "1")


KNOWN = {
    "DynamicBatcher(workers=2**31 + 1): a thread per worker, no bound":
        _batcher_with_absurd_workers,
    "Pipeline(workers=2**40).run(): a thread spec per worker, no bound":
        _pipeline_with_absurd_workers,
    "DynamicBatcher(max_wait_ms=1e13): the worker dies, close(drain=True) leaves it pending":
        lambda: _batcher_drains(max_wait_ms=1e13),
    "DynamicBatcher(max_wait_ms=1e300): the worker dies": lambda: _batcher_drains(
        max_wait_ms=1e300),
    "DynamicBatcher(timeout_ms=1e13): the timeout thread dies (OverflowError)":
        lambda: _batcher_drains(timeout_ms=1e13),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_found_parallel_defects_stay_fixed(name):
    KNOWN[name]()
