"""``BatchExecutor``: one ``map`` over a thread pool or a Dask cluster."""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from wasmpose._checks import choice, integer
from wasmpose.cpu import serial_kernels
from wasmpose.memory import BufferPool, default_pool
from wasmpose.parallel._map import MapRun, run_map
from wasmpose.parallel._threads import (
    add_note,
    check_batch_results,
    check_callable,
    check_items,
    progress_bar,
    workers_arg,
)

__all__ = ["BatchExecutor"]

_BACKENDS = ("threads", "dask")
_WHAT = "BatchExecutor.map"
_WHAT_BATCHES = "BatchExecutor.map_batches"


# Set while this thread runs a task of a BatchExecutor (a pool worker or a Dask task): a map
# called from there runs inline, as the outer map already occupies the workers (waiting for
# tasks queued behind the caller's own would deadlock).
_inside = threading.local()


def _in_task() -> bool:
    return getattr(_inside, "depth", 0) > 0


class _Task:
    """``with _Task():`` marks the current thread as running an executor's task."""

    __slots__ = ()

    def __enter__(self) -> None:
        _inside.depth = getattr(_inside, "depth", 0) + 1

    def __exit__(self, *exc_info) -> None:
        _inside.depth -= 1


class _Failure:
    """What a Dask task returns instead of raising: Dask runs tasks under ``except
    Exception``, so a ``SystemExit`` or ``KeyboardInterrupt`` escaping a task kills its thread
    and the task never finishes (the map hung); the client re-raises ``exc`` itself. An
    exception that does not survive pickling (a worker process) travels as a ``RuntimeError``
    carrying its type, message and notes."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self):
        exc = self.exc
        try:
            _pickler().loads(_pickler().dumps(exc))
        except Exception:  # noqa: BLE001 - any failure: send a faithful description instead
            stand_in = RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc} "
                                    f"(the exception could not be pickled back from the "
                                    f"worker)")
            for note in getattr(exc, "__notes__", ()):
                add_note(stand_in, note)
            exc = stand_in
        return (_Failure, (exc,))


def _pickler():
    try:
        import cloudpickle  # what Dask sends exceptions with (pickles classes by value)
    except ImportError:  # pragma: no cover - distributed depends on cloudpickle
        return pickle
    return cloudpickle


def _run_batch(fn: Callable, items: list, start: int) -> list | _Failure:
    """Map ``fn`` over one batch (a Dask task); a failure gets the same note as on threads."""
    out = []
    with serial_kernels(), _Task():
        for j, x in enumerate(items):
            try:
                out.append(fn(x))
            except BaseException as exc:  # noqa: BLE001 - re-raised by the client
                add_note(exc, f"{_WHAT}: raised by item {start + j}")
                return _Failure(exc)
    return out


def _stack_and_call(fn: Callable, items: list, pool: BufferPool | None) -> list:
    """``fn`` on the items stacked into one pooled ``(len(items), ...)`` array; one result per
    item, none of them sharing memory with the pooled buffer (released on return)."""
    pool = pool if pool is not None else default_pool()  # a Dask worker's own default pool
    first = items[0]
    with pool.borrow((len(items), *first.shape), first.dtype) as batch:
        for j, x in enumerate(items):
            batch[j] = x
        out = fn(batch)
        check_batch_results(out, len(items), "fn", "items")
        if isinstance(out, np.ndarray) and not out.dtype.hasobject:
            out = out.copy() if np.may_share_memory(out, batch) else out
            return list(out)
        values = list(out)
        if len(values) != len(items):  # len() and iteration disagree
            raise ValueError(f"fn: returned a sequence whose len() is {len(out)} but that "
                             f"yields {len(values)} results, for a batch of {len(items)} "
                             f"items")
        memo: dict = {}
        return [_detach(r, batch, memo) for r in values]


class _NotRebuildable(TypeError):
    """A result's container holds views of the batch and cannot be rebuilt with copies."""


_ATOMS = (type(None), bool, int, float, complex, str, bytes)


def _detach(x: Any, batch: np.ndarray, memo: dict) -> Any:
    """``x`` with every array inside it that shares memory with ``batch`` replaced by a copy.

    Arrays are looked for in tuples (named tuples included), lists, dicts and dataclass
    instances, nested to any depth; a container that holds such an array is rebuilt (the
    user's own object is never modified), one that does not is returned as it is. Other
    objects are not looked into.
    """
    if isinstance(x, np.ndarray):
        return x.copy() if np.may_share_memory(x, batch) else x
    if isinstance(x, _ATOMS) or isinstance(x, np.generic):
        return x
    key = id(x)
    if key in memo:
        return memo[key]
    memo[key] = x  # a container inside itself is left as it is
    try:
        new = _detach_container(x, batch, memo)
    except (RecursionError, _NotRebuildable):
        raise
    except Exception as exc:  # noqa: BLE001 - a container type that cannot be rebuilt
        raise _NotRebuildable(f"fn: returned a {type(x).__name__} holding views of the pooled "
                              f"batch that cannot be rebuilt with copies "
                              f"({type(exc).__name__}: {exc}); copy those arrays in fn") from exc
    memo[key] = new
    return new


def _detach_container(x: Any, batch: np.ndarray, memo: dict) -> Any:
    new = x
    if isinstance(x, (tuple, list)):
        items = [_detach(v, batch, memo) for v in x]
        if any(a is not b for a, b in zip(items, x, strict=True)):
            new = _rebuild_sequence(x, items)
    elif isinstance(x, dict):
        pairs = [(k, _detach(v, batch, memo)) for k, v in x.items()]
        if any(v is not x[k] for k, v in pairs):
            new = dict(pairs) if type(x) is dict else _rebuild_mapping(x, pairs)
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        changed = {}
        for f in dataclasses.fields(x):
            v = getattr(x, f.name)
            d = _detach(v, batch, memo)
            if d is not v:
                changed[f.name] = d
        if changed:
            new = copy.copy(x)
            for name, v in changed.items():
                object.__setattr__(new, name, v)  # frozen dataclasses too
    return new


def _rebuild_sequence(x, items: list):
    t = type(x)
    if t is tuple or t is list:
        return t(items)
    if isinstance(x, tuple) and hasattr(t, "_make"):  # a named tuple
        return t._make(items)
    new = copy.copy(x)  # a list or tuple subclass: a shallow copy with the new items
    if isinstance(new, list):
        new[:] = items
        return new
    return t(items)


def _rebuild_mapping(x: dict, pairs: list):
    new = copy.copy(x)  # a dict subclass (OrderedDict, defaultdict, ...): keeps its type
    for k, v in pairs:
        dict.__setitem__(new, k, v)
    return new


def _batch_task(fn: Callable, items: list, start: int) -> list | _Failure:
    """One batch of ``map_batches`` as a Dask task."""
    with serial_kernels(), _Task():
        try:
            return _stack_and_call(fn, items, None)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the client
            add_note(exc, f"{_WHAT_BATCHES}: raised by {_batch_label(start, len(items))}")
            return _Failure(exc)


def _read_items(items: Iterable) -> list:
    """``list(items)``; an exception raised by the iterable gets the note it gets on threads."""
    out: list = []
    try:
        for x in items:
            out.append(x)
    except BaseException as exc:
        add_note(exc, f"{_WHAT}: raised while iterating the items (at index {len(out)})")
        raise
    return out


def _as_task(target: Callable[[], None]) -> None:
    """Run a map's worker loop in a pool thread, marked as inside a task."""
    with _Task():
        target()


def _batch_label(start: int, size: int) -> str:
    return f"the batch of items {start}..{start + size - 1}"


def _check_batch_items(items: list) -> list:
    """The items as arrays of one shape and dtype (that of the first)."""
    arrays = [np.asarray(x) for x in items]
    if arrays:
        shape, dtype = arrays[0].shape, arrays[0].dtype
        if dtype.hasobject:
            raise TypeError(f"items: expected numeric arrays, got dtype {dtype} at index 0")
        for i, a in enumerate(arrays):
            # the byte order may differ ('>f4' beside '<f4'): stacking keeps the values
            if a.shape != shape or not np.can_cast(a.dtype, dtype, casting="equiv"):
                raise ValueError(f"items: expected arrays of one shape and dtype to stack, got "
                                 f"{a.shape} {a.dtype} at index {i} after {shape} {dtype} at "
                                 f"index 0")
    return arrays


def _import_distributed():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise ImportError(
            "backend='dask' needs dask and distributed, which are not installed: "
            "pip install 'wasmpose[dask]'"
        ) from exc
    return dask, distributed


class BatchExecutor:
    """``map`` a function over items on a thread pool or a Dask cluster, with one behaviour.

    Parameters
    ----------
    backend : {"threads", "dask"}, default "threads"
        ``"threads"``: a thread pool in this process (wasmpose's kernels release the GIL).
        ``"dask"``: tasks on a Dask ``distributed`` cluster (``pip install 'wasmpose[dask]'``).
    workers : int from 1 to 1024, optional
        Threads (``"threads"``) or Dask workers of the local cluster (``"dask"`` without
        ``client``). Default: :func:`set_thread_count`'s value, else the usable cores.
    client : distributed.Client, optional
        ``"dask"`` only: run on this client's cluster (it is not closed by the executor).
        Without it, a ``LocalCluster`` is started and closed with the executor.
    processes : bool, default False
        ``"dask"`` without ``client``: workers in separate processes (started with ``spawn``,
        never ``fork``: a forked child of a process that ran an OpenMP region can abort) instead
        of threads of this process.
    pool : wasmpose.memory.BufferPool, optional
        Where :meth:`map_batches` takes its stacked batch buffers on ``"threads"``. Default:
        :func:`wasmpose.memory.default_pool`. Dask workers use their own process's default pool.

    Notes
    -----
    Results, their order and errors are the same on every backend: ``map`` returns the results
    in input order; if items fail, the exception of the first failing item in input order is
    raised, itself (``SystemExit`` and ``KeyboardInterrupt`` too), with a note naming its
    index, and no new batch is started. A ``map`` or ``map_batches`` called from inside a task
    (``fn`` calling the executor again) runs inline in that task instead of waiting for workers
    that the outer map occupies; on Dask, an executor captured by ``fn`` arrives as a stand-in
    that runs its maps inline. Workers run the
    serial variants of wasmpose's kernels. With ``"dask"``, ``fn`` and the items travel to the
    workers by pickle (cloudpickle for functions), so they must be picklable when the workers
    are processes or remote.

    Examples
    --------
    >>> with BatchExecutor(workers=2) as ex:
    ...     ex.map(abs, [-3, 1, -2], batch_size=2)
    [3, 1, 2]
    """

    def __init__(self, *, backend: str = "threads", workers: int | None = None, client=None,
                 processes: bool = False, pool: BufferPool | None = None) -> None:
        backend = choice(backend, "backend", _BACKENDS)
        if pool is not None and not isinstance(pool, BufferPool):
            raise TypeError(f"pool: expected a wasmpose.memory.BufferPool or None, got "
                            f"{type(pool).__name__}")
        self.backend = backend
        self.pool = pool if pool is not None else default_pool()
        self._lock = threading.Lock()
        self._closed = False
        self._inline = False  # a copy sent to a Dask worker: every map runs inline
        self._pool: ThreadPoolExecutor | None = None
        self._client = self._cluster = None
        if backend == "threads":
            if client is not None:
                raise ValueError("client: only used by backend='dask', got a client with "
                                 "backend='threads'")
            self.workers = workers_arg(workers)
            return
        dask, distributed = _import_distributed()
        if client is not None:
            if not isinstance(client, distributed.Client):
                raise TypeError(f"client: expected a distributed.Client, got "
                                f"{type(client).__name__}")
            if workers is not None:
                raise ValueError(f"workers: the client's cluster decides, expected None with a "
                                 f"client, got {workers!r}")
            self._client = client
            self.workers = max(1, sum(client.nthreads().values()))
            return
        self.workers = workers_arg(workers)
        config = {}
        if dask.config.get("distributed.worker.multiprocessing-method", "spawn") == "fork":
            config["distributed.worker.multiprocessing-method"] = "spawn"
        with dask.config.set(config):
            if processes:
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.CRITICAL)
            else:
                self._cluster = distributed.LocalCluster(
                    n_workers=1, threads_per_worker=self.workers, processes=False,
                    dashboard_address=None, silence_logs=logging.CRITICAL)
        self._client = distributed.Client(self._cluster, set_as_default=False)

    @property
    def client(self):
        """The ``distributed.Client`` of the ``"dask"`` backend (``None`` for threads)."""
        return self._client

    def map(self, fn: Callable[[Any], Any], items: Iterable, *, batch_size: int | None = None,
            progress: bool = False) -> list:
        """``[fn(x) for x in items]``, computed in parallel; results in input order.

        Parameters
        ----------
        fn : callable
            Called once per item, from several threads (or processes) at once.
        items : iterable
            Any iterable (read into a list first for ``"dask"``).
        batch_size : int >= 1, optional
            Items per task. Default: sized by time on threads (as :func:`parallel_map`), a
            quarter of the items per worker on Dask (fewer, larger tasks: each costs a round
            trip to the scheduler).
        progress : bool, default False
            Show a tqdm progress bar (needs ``tqdm``).

        Returns
        -------
        list

        Raises
        ------
        Exception
            The exception of the first failing item in input order, with a note naming its
            index.
        """
        check_callable(fn, "fn")
        check_items(items)
        batch_size = integer(batch_size, "batch_size", minimum=1, allow_none=True)
        if self._closed:
            raise RuntimeError("map: the executor is closed")
        if self._inline or _in_task():
            return self._run_inline(MapRun(fn, items, workers=1, chunk_size=batch_size,
                                           ordered=True, return_exceptions=False,
                                           progress=progress, what=_WHAT))
        if self.backend == "dask":
            items = _read_items(items)
            k = batch_size or max(1, -(-len(items) // (4 * self.workers)))
            args = [(fn, items[s:s + k], s) for s in range(0, len(items), k)]
            parts = self._submit_dask(_run_batch, args, progress, _WHAT,
                                      [len(a[1]) for a in args], "item")
            return [r for part in parts for r in part]
        return self._run_threads(MapRun(fn, items, workers=self.workers, chunk_size=batch_size,
                                        ordered=True, return_exceptions=False, progress=progress,
                                        what=_WHAT))

    def map_batches(self, fn: Callable[[np.ndarray], Any], items: Iterable, *,
                    batch_size: int = 32, progress: bool = False) -> list:
        """``fn`` over stacked batches of array items; one result per item, in input order.

        The items (arrays of one shape ``S`` and dtype, e.g. frames) are grouped ``batch_size``
        at a time, in order, and each group is copied into one ``(b, *S)`` array taken from the
        buffer pool (``pool``), the shape a model's batched input has; ``fn(batch)`` returns
        ``b`` results (an array with ``b`` rows, or a sequence of ``b`` results) and the buffer
        goes back to the pool, so a stream of batches reuses the same few buffers instead of
        allocating one per batch. Results never share memory with a pooled buffer: any array
        that does (``fn`` returned its input, or a view of it) is copied first, also inside
        tuples, named tuples, lists, dicts and dataclass instances, nested (the container is
        rebuilt, the user's object never modified); other objects are not looked into.

        Parameters
        ----------
        fn : callable
            ``fn(batch: ndarray (b, *S)) -> (b, ...)`` array or sequence of ``b`` results, with
            ``b <= batch_size`` (the last batch may be smaller). Called from several threads
            (or processes) at once; it must not keep ``batch`` after returning.
        items : iterable of arrays
            Array-likes of one shape and dtype (read into a list first).
        batch_size : int >= 1, default 32
        progress : bool, default False
            Show a tqdm progress bar over the batches (needs ``tqdm``).

        Returns
        -------
        list
            ``len(items)`` results: the rows of each batch's result.

        Raises
        ------
        TypeError, ValueError
            Items of different shapes or dtypes (``items``, naming the index), or a result of
            the wrong length or type (``fn``), before or instead of any further batch.
        Exception
            The exception of the first failing batch in input order, with a note naming its
            items.

        Examples
        --------
        >>> frames = [np.full((2, 3), i, np.uint8) for i in range(5)]
        >>> with BatchExecutor(workers=2) as ex:   # fn sees (2, 2, 3), (2, 2, 3), (1, 2, 3)
        ...     sums = ex.map_batches(lambda b: b.sum(axis=(1, 2)), frames, batch_size=2)
        >>> [int(s) for s in sums]
        [0, 6, 12, 18, 24]
        """
        check_callable(fn, "fn")
        check_items(items)
        batch_size = integer(batch_size, "batch_size", minimum=1)
        if self._closed:
            raise RuntimeError("map_batches: the executor is closed")
        arrays = _check_batch_items(list(items))
        starts = range(0, len(arrays), batch_size)
        groups = [(s, arrays[s:s + batch_size]) for s in starts]
        inline = self._inline or _in_task()
        if self.backend == "dask" and not inline:
            parts = self._submit_dask(_batch_task, [(fn, g, s) for s, g in groups], progress,
                                      _WHAT_BATCHES, [1] * len(groups), "batch")
        else:
            pool = self.pool
            run = MapRun(lambda g: _stack_and_call(fn, g[1], pool), groups,
                         workers=self.workers, chunk_size=1, ordered=True,
                         return_exceptions=False, progress=progress, what=_WHAT_BATCHES,
                         label=lambda k: _batch_label(k * batch_size, len(groups[k][1])),
                         unit="batch")
            parts = self._run_inline(run) if inline else self._run_threads(run)
        return [r for part in parts for r in part]

    def _run_threads(self, run: MapRun) -> list:
        with self._lock:
            if self._closed:  # closed by another thread since map() checked
                raise RuntimeError("map: the executor is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers,
                                                thread_name_prefix="wasmpose-executor")
            pool = self._pool
        return run_map(run, lambda target: pool.submit(_as_task, target),
                       lambda fut: fut.result())

    @staticmethod
    def _run_inline(run: MapRun) -> list:
        """A map called from inside a task of an executor: run in the calling thread."""
        try:
            run.run_inline()
        finally:
            if run.bar is not None:
                run.bar.close()
        return run.results()

    def _submit_dask(self, task: Callable, args: list, progress: bool, what: str,
                     steps: list[int], unit: str) -> list:
        """Run ``task(*a)`` for each ``a`` of ``args`` on the cluster; the results in order,
        or the first failure in order (the tasks after it cancelled). The progress bar
        advances ``steps[i]`` ``unit``s when task ``i`` is done."""
        bar = progress_bar(progress, sum(steps), what, unit)
        try:
            client = self._client
            futures = [client.submit(task, *a, pure=False) for a in args]
            out: list = []
            for i, fut in enumerate(futures):
                try:
                    part = fut.result()
                    if isinstance(part, _Failure):
                        raise part.exc
                    out.append(part)
                except BaseException:
                    client.cancel(futures[i + 1:])
                    raise
                if bar is not None:
                    bar.update(steps[i])
            return out
        finally:
            if bar is not None:
                bar.close()

    def close(self) -> None:
        """Shut the thread pool down, or close the local Dask cluster this executor started."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            # from inside one of its own tasks the pool cannot wait for itself: its threads
            # end when the running map returns
            pool.shutdown(wait=not _in_task())
        if self._cluster is not None:
            self._client.close()
            self._cluster.close()
            self._client = self._cluster = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __reduce__(self):
        # fn captured the executor and goes to a Dask worker: there it runs its maps inline
        return (_inline_executor, (self.backend, self.workers))

    def __repr__(self) -> str:
        return f"BatchExecutor(backend={self.backend!r}, workers={self.workers})"


def _inline_executor(backend: str, workers: int) -> BatchExecutor:
    """The copy of a pickled :class:`BatchExecutor`: its maps run in the calling thread."""
    ex = BatchExecutor.__new__(BatchExecutor)
    ex.backend, ex.workers, ex.pool = backend, workers, default_pool()
    ex._lock = threading.Lock()
    ex._closed, ex._inline = False, True
    ex._pool = ex._client = ex._cluster = None
    return ex
