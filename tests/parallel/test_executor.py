"""wasmpose.parallel.BatchExecutor: the same results, order and errors on threads and Dask."""

import collections
import dataclasses
import functools
import math
import pickle
import subprocess
import sys
import threading
import typing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpose import opt_level
from wasmpose.cpu import get_kernel, threading_layer
from wasmpose.image import grayscale
from wasmpose.memory import BufferPool, default_pool
from wasmpose.parallel import BatchExecutor

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [3, -1, 4, -1, 5, -9, 2, 6]


def _square_or_fail(x):
    if x in (13, 40):
        raise ValueError(f"bad item {x}")
    return x * x


def _rows(batch):
    """One (row sum, batch length) per item: what map_batches saw."""
    return [(int(r.sum()), len(batch)) for r in batch]


def _same(batch):
    return batch  # the pooled buffer itself: map_batches must copy it


def _short(batch):
    return batch[:-1]


def _fail_on_13(batch):
    if (batch == 13).any():
        raise ValueError("bad batch")
    return batch * 2


def _frames(n, shape=(4, 5), dtype=np.uint8):
    return [np.full(shape, i, dtype) for i in range(n)]


def _variant(_):
    return get_kernel("grayscale").variant_name()


def _run_both_ways(ex):
    """Everything a backend must do identically; returns what it produced."""
    out = {"plain": ex.map(_square_or_fail, range(12))}
    for bs in (1, 5, 100):
        out[f"batch{bs}"] = ex.map(_square_or_fail, range(12), batch_size=bs)
    out["generator"] = ex.map(abs, (x for x in ITEMS))
    out["empty"] = ex.map(abs, [])
    for bs in (None, 1, 7):
        with pytest.raises(ValueError) as info:
            ex.map(_square_or_fail, range(60), batch_size=bs)
        out[f"error{bs}"] = (type(info.value), info.value.args, info.value.__notes__)
    for bs in (1, 3, 32):
        out[f"rows{bs}"] = ex.map_batches(_rows, _frames(10), batch_size=bs)
    same = ex.map_batches(_same, _frames(7), batch_size=3)
    out["same"] = [(r.shape, r.dtype, int(r[0, 0])) for r in same]
    out["empty_batches"] = ex.map_batches(_rows, [], batch_size=4)
    for fn, bs in ((_short, 4), (_fail_on_13, 5), (_fail_on_13, 1)):
        with pytest.raises(ValueError) as info:
            ex.map_batches(fn, _frames(20), batch_size=bs)
        out[f"batch_error_{fn.__name__}{bs}"] = (info.value.args, info.value.__notes__)
    return out


@pytest.fixture(scope="module")
def expected():
    with BatchExecutor(workers=3) as ex:
        return _run_both_ways(ex)


def test_threads_backend(expected):
    assert expected["plain"] == [x * x for x in range(12)]
    assert all(expected[f"batch{bs}"] == expected["plain"] for bs in (1, 5, 100))
    assert expected["generator"] == [abs(x) for x in ITEMS]
    assert expected["empty"] == []
    # the first failing item in input order, itself, with its index
    assert expected["error1"] == (ValueError, ("bad item 13",),
                                  ["BatchExecutor.map: raised by item 13"])
    assert expected["errorNone"] == expected["error1"] == expected["error7"]
    for bs in (1, 3, 32):
        assert expected[f"rows{bs}"] == [(20 * i, min(bs, 10 - bs * (i // bs)))
                                         for i in range(10)]
    assert expected["same"] == [((4, 5), np.uint8, i) for i in range(7)]
    assert expected["empty_batches"] == []
    assert expected["batch_error__short4"] == (
        ("fn: returned 3 results for a batch of 4 items",),
        ["BatchExecutor.map_batches: raised by the batch of items 0..3"])
    assert expected["batch_error__fail_on_135"] == (
        ("bad batch",), ["BatchExecutor.map_batches: raised by the batch of items 10..14"])
    assert expected["batch_error__fail_on_131"] == (
        ("bad batch",), ["BatchExecutor.map_batches: raised by the batch of items 13..13"])


def test_map_batches_takes_its_buffers_from_the_pool_and_never_aliases_them():
    pool = BufferPool()
    frames = [np.arange(60, dtype=np.float32).reshape(3, 4, 5) + i for i in range(40)]
    with BatchExecutor(workers=2, pool=pool) as ex:
        assert ex.pool is pool
        got = ex.map_batches(_same, frames, batch_size=8)  # 5 batches of (8, 3, 4, 5)
        st = pool.stats()
        assert st.hits + st.misses == 5 and st.misses <= 2 and st.in_use_bytes == 0
        assert st.idle_bytes == st.misses * 8 * 60 * 4
        with pool.borrow((8, 3, 4, 5)) as buf:  # the same buffers, overwritten
            buf[:] = -1
            assert all(not np.shares_memory(g, buf) for g in got)
        assert all(np.array_equal(g, f) for g, f in zip(got, frames, strict=True))
        # a result array whose rows are views of the batch is copied too
        doubled = ex.map_batches(lambda b: b[:, 0], frames[:3], batch_size=3)
        assert [d.tolist() for d in doubled] == [f[0].tolist() for f in frames[:3]]
    with BatchExecutor(workers=1) as ex:
        assert ex.pool is default_pool()


def test_map_batches_argument_errors():
    with BatchExecutor(workers=2) as ex:
        with pytest.raises(ValueError, match=r"^items: expected arrays of one shape and dtype "
                                             r"to stack, got \(4, 6\) uint8 at index 2"):
            ex.map_batches(_rows, _frames(2) + [np.zeros((4, 6), np.uint8)])
        with pytest.raises(ValueError, match=r"^items: .* got \(4, 5\) float32 at index 1"):
            ex.map_batches(_rows, [np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.float32)])
        with pytest.raises(TypeError, match="^items: expected numeric arrays"):
            ex.map_batches(_rows, [np.array([None])])
        with pytest.raises(ValueError, match="^batch_size: expected an int >= 1, got 0"):
            ex.map_batches(_rows, _frames(2), batch_size=0)
        with pytest.raises(TypeError, match="^fn: returned int, expected a sequence of 2 results"):
            ex.map_batches(lambda b: 3, _frames(2))
    with pytest.raises(TypeError, match="^pool: expected a wasmpose.memory.BufferPool"):
        BatchExecutor(pool=object())


def test_threads_backend_workers_run_serial_kernels_from_8_threads(rng):
    frames = [rng.integers(0, 256, (360, 480, 3), dtype=np.uint8) for _ in range(24)]
    with opt_level("simd"):
        want = [grayscale(f) for f in frames]
    before = threading.active_count()
    with opt_level("parallel"), BatchExecutor(workers=8) as ex:
        assert set(ex.map(_variant, range(32), batch_size=1)) == {"numba-serial"}
        for _ in range(3):
            got = ex.map(grayscale, frames, batch_size=1)
            assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert threading.active_count() == before  # the pool is shut down with the executor


def test_progress(capsys):
    pytest.importorskip("tqdm")
    with BatchExecutor(workers=2) as ex:
        assert ex.map(abs, range(-3, 3), progress=True) == [3, 2, 1, 0, 1, 2]
    assert "6/6" in capsys.readouterr().err
    with BatchExecutor(workers=2) as ex:  # map_batches counts batches
        assert len(ex.map_batches(_rows, _frames(5), batch_size=2, progress=True)) == 5
    err = capsys.readouterr().err
    assert "3/3" in err and "batch" in err


def test_argument_errors(monkeypatch):
    with pytest.raises(ValueError, match="^backend: expected one of"):
        BatchExecutor(backend="ray")
    with pytest.raises(TypeError, match="^backend: expected one of .*, got NoneType"):
        BatchExecutor(backend=None)
    with BatchExecutor(backend="Threads", workers=1) as ex:  # case-insensitive, as choice()
        assert ex.backend == "threads"
    with pytest.raises(ValueError, match="^client: only used by backend='dask'"):
        BatchExecutor(client=object())
    with pytest.raises(ValueError, match="^workers: expected an int >= 1 or None, got 0"):
        BatchExecutor(workers=0)
    with BatchExecutor(workers=2) as ex:
        with pytest.raises(TypeError, match="^fn: expected a callable"):
            ex.map(None, [1])
        with pytest.raises(ValueError, match="^batch_size: expected an int >= 1 or None"):
            ex.map(abs, [1], batch_size=0)
    with pytest.raises(RuntimeError, match="closed"):
        ex.map(abs, [1])
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'wasmpose\[dask\]'"):
        BatchExecutor(backend="dask")


# ---------------------------------------------------------------------------------------------
# Dask: a real LocalCluster, in this process and with 2 worker processes
# ---------------------------------------------------------------------------------------------
def test_dask_local_cluster_in_process(expected):
    pytest.importorskip("distributed")
    with BatchExecutor(backend="dask", workers=2) as ex:
        cluster = ex._cluster
        assert _run_both_ways(ex) == expected
        assert set(ex.map(_variant, range(8), batch_size=1)) == {"numba-serial"}
    assert cluster.status.name == "closed"  # started and closed with the executor


def test_dask_with_a_users_client(expected):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            with BatchExecutor(backend="dask", client=client) as ex:
                assert ex.workers == 2
                assert _run_both_ways(ex) == expected
            assert client.status == "running"  # the user's client is left open
            with pytest.raises(ValueError, match="^workers: the client's cluster decides"):
                BatchExecutor(backend="dask", client=client, workers=2)
    with pytest.raises(TypeError, match="^client: expected a distributed.Client"):
        BatchExecutor(backend="dask", client=object())


def _in_daemon_thread(call, timeout):
    """What ``call()`` raised (or its result), from a daemon thread joined with a timeout:
    a call that hangs fails the test instead of hanging it (or the interpreter's exit)."""
    box = []

    def run():
        try:
            box.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert box, f"the call did not return within {timeout} s"
    return box[0]


def test_dask_two_worker_processes_after_a_parallel_kernel_ran(rng):
    """GNU OpenMP aborts in a fork()ed child of a process that ran a parallel region: worker
    processes must be spawned, even when the Dask configuration asks for fork."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    frames = [rng.integers(0, 256, (256, 320, 3), dtype=np.uint8) for _ in range(6)]
    with opt_level("parallel"):
        grayscale(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))  # a parallel region
    assert threading_layer() != "unavailable"
    with opt_level("simd"):
        want = [grayscale(f) for f in frames]
    gray_bgr = functools.partial(grayscale, order="bgr")
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        with BatchExecutor(backend="dask", workers=2, processes=True) as ex:
            workers = ex.client.scheduler_info()["workers"]
            assert len(workers) == 2
            # spawned, not forked: the workers did not inherit this process's modules
            assert not any(ex.client.run(lambda: "pytest" in __import__("sys").modules)
                           .values())
            got = ex.map(grayscale, frames, batch_size=1)
            assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
            assert ex.map(gray_bgr, frames[:2])[0].shape == frames[0].shape[:2]
            assert ex.map(math.sqrt, [1, 4, 9]) == [1.0, 2.0, 3.0]
            with pytest.raises(ValueError, match="math domain error") as info:
                ex.map(math.sqrt, [1, 4, -1, 9, -4], batch_size=2)
            assert info.value.__notes__ == ["BatchExecutor.map: raised by item 2"]
            # a SystemExit in a worker process neither kills it nor hangs the map (issue 13)
            exits = lambda x: sys.exit(3) if x == 2 else x  # noqa: E731 - pickled by value
            raised = _in_daemon_thread(lambda: ex.map(exits, range(4), batch_size=1), 60)
            assert type(raised) is SystemExit  # a regression fails after 60 s, never hangs
            assert raised.__notes__ == ["BatchExecutor.map: raised by item 2"]
            assert ex.map(abs, [-1, -2]) == [1, 2]
    with BatchExecutor(workers=2) as ex, pytest.raises(ValueError) as info2:
        ex.map(math.sqrt, [1, 4, -1, 9, -4], batch_size=2)
    assert (info2.value.args, info2.value.__notes__) == (info.value.args, info.value.__notes__)


# ---------------------------------------------------------------------------------------------
# issue 13: containers of views, nested maps, BaseExceptions, byte order
# ---------------------------------------------------------------------------------------------
class Row(typing.NamedTuple):
    row: np.ndarray
    index: int


@dataclasses.dataclass(frozen=True)
class Out:
    row: np.ndarray
    extra: dict


class Rows(list):
    pass


def _containers(batch):
    """One result per item, each holding views of the pooled batch inside containers."""
    return [
        {"tuple": (row, i), "list": [row, [row[:1]]], "named": Row(row, i),
         "data": Out(row, {"r": row}), "sub": Rows([row]),
         "ordered": collections.OrderedDict(r=row), "own": np.array(row)}
        for i, row in enumerate(batch)
    ]


def _check_containers(got, n):
    assert len(got) == n
    for i, r in enumerate(got):
        want = np.full(3, i)
        for value in (r["tuple"][0], r["list"][0], r["named"].row, r["data"].row,
                      r["data"].extra["r"], r["sub"][0], r["ordered"]["r"], r["own"]):
            assert value.tolist() == want.tolist(), (i, r)
        assert r["list"][1][0].tolist() == [i]
        assert type(r["named"]) is Row and r["named"].index == i % 4
        assert type(r["data"]) is Out and type(r["sub"]) is Rows
        assert type(r["ordered"]) is collections.OrderedDict
        assert r["tuple"][1] == i % 4


@pytest.mark.parametrize("backend", ["threads", "dask"])
def test_map_batches_copies_views_inside_containers(backend):
    # issue 13: lambda b: [(row, i) for i, row in enumerate(b)] gave rows [3,4,5,3,4,5]: the
    # views inside the tuples were not copied before the pooled buffer was reused
    if backend == "dask":
        pytest.importorskip("distributed")
    items = [np.full(3, i) for i in range(6)]
    with BatchExecutor(backend=backend, workers=2) as ex:
        got = ex.map_batches(lambda b: [(row, i) for i, row in enumerate(b)], items,
                             batch_size=3)
        assert [(r.tolist(), i) for r, i in got] == [([k] * 3, k % 3) for k in range(6)]
        _check_containers(ex.map_batches(_containers, [np.full(3, i) for i in range(13)],
                                         batch_size=4), 13)


def test_map_batches_leaves_results_without_views_untouched():
    keep = np.arange(3)
    marker = {"k": keep}
    with BatchExecutor(workers=1) as ex:
        got = ex.map_batches(lambda b: [marker] * len(b), [np.zeros(2)] * 3, batch_size=3)
    assert all(g is marker and g["k"] is keep for g in got)
    loop = []
    loop.append(loop)  # a container inside itself is not a problem
    with BatchExecutor(workers=1) as ex:
        assert ex.map_batches(lambda b: [loop] * len(b), [np.zeros(2)], batch_size=1) == [loop]


class Liar:
    """A result whose len() disagrees with its iteration."""

    def __len__(self):
        return 3

    def __iter__(self):
        return iter([1, 2])


def test_map_batches_result_whose_len_disagrees_with_its_iteration():
    with BatchExecutor(workers=2) as ex:
        with pytest.raises(ValueError, match=r"^fn: returned a sequence whose len\(\) is 3 but "
                                             r"that yields 2 results"):
            ex.map_batches(lambda b: Liar(), _frames(3), batch_size=3)


def test_map_batches_items_of_either_byte_order():
    items = [(np.arange(4) + i).astype(">f4") for i in range(3)] + [np.arange(4, dtype="<f4")]
    assert items[0].dtype.str == ">f4"
    with BatchExecutor(workers=2) as ex:
        got = ex.map_batches(lambda b: b * 2, items, batch_size=2)
    assert [g.tolist() for g in got] == [(2 * (np.arange(4) + i)).tolist() for i in
                                         (0, 1, 2, 0)]


NESTED = """
import sys
import numpy as np
from wasmpose.parallel import BatchExecutor
kind, workers = sys.argv[1], int(sys.argv[2])
with BatchExecutor(backend=kind, workers=workers) as ex:
    print(ex.map(lambda x: sum(ex.map(abs, range(-x, 1))), range(6), batch_size=1))
    inner = lambda x: ex.map_batches(lambda b: b * x, [np.ones(2)] * 3, batch_size=2)
    print(ex.map(lambda x: [r.tolist() for r in inner(x)], range(3), batch_size=1))
    def closes(x):
        ex.close()  # from inside its own task: must not wait for itself
        return x
    print(ex.map(closes, range(2), batch_size=1) if kind == "threads" else "[0, 1]")
print("done")
"""


@pytest.mark.parametrize("backend, workers", [("threads", 1), ("threads", 2), ("dask", 2)])
def test_nested_map_runs_inline_instead_of_deadlocking(backend, workers):
    # issue 13: BatchExecutor.map called from inside its own fn deadlocked so hard the
    # interpreter could not exit; in a subprocess, so that a regression cannot hang the tests
    if backend == "dask":
        pytest.importorskip("distributed")
    out = subprocess.run([sys.executable, "-c", NESTED, backend, str(workers)],
                         capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[:4] == [
        "[0, 1, 3, 6, 10, 15]",
        "[[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], "
        "[[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]]",
        "[0, 1]", "done"]


BASE_EXCEPTIONS = """
import sys
from wasmpose.parallel import BatchExecutor

def fail(x):
    if x == 5:
        raise {exc}
    return x

with BatchExecutor(backend=sys.argv[1], workers=2) as ex:
    for batch_size in (1, 3):
        try:
            ex.map(fail, range(9), batch_size=batch_size)
        except BaseException as e:
            print(type(e).__name__, e.args, e.__notes__)
    print(ex.map(abs, [-1, 2]))  # the executor still works
"""


@pytest.mark.parametrize("exc", ["SystemExit(3)", "KeyboardInterrupt()", "GeneratorExit()"])
@pytest.mark.parametrize("backend", ["threads", "dask"])
def test_base_exceptions_are_raised_the_same_on_both_backends(backend, exc):
    # issue 13: on Dask, fn raising SystemExit hung (> 45 s) and the note was lost
    if backend == "dask":
        pytest.importorskip("distributed")
    out = subprocess.run([sys.executable, "-c", BASE_EXCEPTIONS.format(exc=exc), backend],
                         capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    name = exc.split("(")[0]
    args = "(3,)" if name == "SystemExit" else "()"
    line = f"{name} {args} ['BatchExecutor.map: raised by item 5']"
    assert out.stdout.splitlines() == [line, line, "[1, 2]"]


def test_exceptions_that_cannot_be_pickled_back_keep_their_description():
    from wasmpose.parallel._executor import _Failure

    class NeedsTwo(Exception):
        def __init__(self, a, b):
            super().__init__(a)

    err = NeedsTwo("bad", 2)
    err.add_note("BatchExecutor.map: raised by item 7")
    back = pickle.loads(pickle.dumps(_Failure(err))).exc
    assert type(back) is RuntimeError and "NeedsTwo: bad" in str(back)
    assert back.__notes__ == ["BatchExecutor.map: raised by item 7"]
    fine = pickle.loads(pickle.dumps(_Failure(SystemExit(4)))).exc
    assert type(fine) is SystemExit and fine.args == (4,)


def test_map_after_close_from_another_thread_is_refused():
    ex = BatchExecutor(workers=2)
    ex.close()
    with pytest.raises(RuntimeError, match="closed"):
        ex._run_threads(None)  # the check under the lock, after map's own
    with pytest.raises(RuntimeError, match="closed"):
        ex.map_batches(_rows, _frames(2))


def _failing_items():
    yield 1
    yield 2
    raise KeyError("the source broke")


@pytest.mark.parametrize("backend", ["threads", "dask"])
def test_a_failing_iterable_gets_the_same_note_on_both_backends(backend):
    if backend == "dask":
        pytest.importorskip("distributed")
    with BatchExecutor(backend=backend, workers=2) as ex:
        with pytest.raises(KeyError) as info:
            ex.map(abs, _failing_items(), batch_size=1)
    assert info.value.__notes__ == [
        "BatchExecutor.map: raised while iterating the items (at index 2)"]


def test_map_batches_object_array_of_views_is_detached():
    def objects(batch):
        out = np.empty(len(batch), object)
        for i, row in enumerate(batch):
            out[i] = row
        return out

    with BatchExecutor(workers=2) as ex:
        got = ex.map_batches(objects, [np.full(2, i) for i in range(6)], batch_size=3)
    assert [g.tolist() for g in got] == [[i, i] for i in range(6)]


class Pair(tuple):
    """A tuple subclass whose constructor takes two arguments: it cannot be rebuilt."""

    def __new__(cls, a, b):
        return super().__new__(cls, (a, b))


@dataclasses.dataclass(slots=True)
class Slotted:
    row: np.ndarray


def test_map_batches_containers_that_cannot_be_rebuilt_are_a_clear_error():
    with BatchExecutor(workers=1) as ex:
        got = ex.map_batches(lambda b: [Slotted(r) for r in b], _frames(3), batch_size=3)
        assert [int(g.row[0, 0]) for g in got] == [0, 1, 2]
        with pytest.raises(TypeError, match=r"^fn: returned a Pair holding views of the pooled "
                                            r"batch that cannot be rebuilt"):
            ex.map_batches(lambda b: [Pair(r, 1) for r in b], _frames(2), batch_size=2)
        with pytest.raises(TypeError, match=r"^fn: returned a Pair") as info:  # nested: once
            ex.map_batches(lambda b: [[{"p": Pair(r, 1)}] for r in b], _frames(2), batch_size=2)
        assert str(info.value).count("fn:") == 1


# a result shape: nested containers whose leaves are "row" (the batch row), "slice" (a view of
# part of it), "int" (the row index) or "own" (an array that is not a view)
_LEAF = st.sampled_from(["row", "slice", "int", "own"])
_SHAPE = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    inner.map(lambda x: Out(x, {"k": x}))), max_leaves=8)


def _build(shape, row, i):
    if isinstance(shape, str):
        return {"row": row, "slice": row[1:], "int": i, "own": np.array(row)}[shape]
    if isinstance(shape, Out):
        return Out(_build(shape.row, row, i), {"k": _build(shape.extra["k"], row, i)})
    if isinstance(shape, dict):
        return {k: _build(v, row, i) for k, v in shape.items()}
    return type(shape)(_build(v, row, i) for v in shape)


def _plain(x):
    """``x`` with arrays as lists: comparable with ==."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Out):
        return ("Out", _plain(x.row), _plain(x.extra))
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


@settings(max_examples=40, deadline=None)
@given(shape=_SHAPE, batch_size=st.integers(1, 4))
def test_map_batches_results_never_view_the_pool_whatever_their_nesting(shape, batch_size):
    items = [np.full(3, k, np.int64) for k in range(7)]
    with BatchExecutor(workers=2) as ex:
        got = ex.map_batches(lambda b: [_build(shape, r, i) for i, r in enumerate(b)], items,
                             batch_size=batch_size)
    want = [_build(shape, items[k], k % batch_size) for k in range(7)]
    assert [_plain(g) for g in got] == [_plain(w) for w in want]
