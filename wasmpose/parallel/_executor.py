"""``BatchExecutor``: one ``map`` over a thread pool or a Dask cluster."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wasmpose._checks import choice, integer
from wasmpose.cpu import serial_kernels
from wasmpose.parallel._map import MapRun, run_map
from wasmpose.parallel._threads import (
    add_note,
    check_callable,
    check_items,
    progress_bar,
    workers_arg,
)

__all__ = ["BatchExecutor"]

_BACKENDS = ("threads", "dask")
_WHAT = "BatchExecutor.map"


def _run_batch(fn: Callable, items: list, start: int) -> list:
    """Map ``fn`` over one batch (a Dask task); a failure gets the same note as on threads."""
    out = []
    with serial_kernels():
        for j, x in enumerate(items):
            try:
                out.append(fn(x))
            except BaseException as exc:
                add_note(exc, f"{_WHAT}: raised by item {start + j}")
                raise
    return out


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
    workers : int >= 1, optional
        Threads (``"threads"``) or Dask workers of the local cluster (``"dask"`` without
        ``client``). Default: :func:`set_thread_count`'s value, else the usable cores.
    client : distributed.Client, optional
        ``"dask"`` only: run on this client's cluster (it is not closed by the executor).
        Without it, a ``LocalCluster`` is started and closed with the executor.
    processes : bool, default False
        ``"dask"`` without ``client``: workers in separate processes (started with ``spawn``,
        never ``fork``: a forked child of a process that ran an OpenMP region can abort) instead
        of threads of this process.

    Notes
    -----
    Results, their order and errors are the same on every backend: ``map`` returns the results
    in input order; if items fail, the exception of the first failing item in input order is
    raised, itself, with a note naming its index, and no new batch is started. Workers run the
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
                 processes: bool = False) -> None:
        backend = choice(backend, "backend", _BACKENDS)
        self.backend = backend
        self._lock = threading.Lock()
        self._closed = False
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
        if self.backend == "dask":
            return self._map_dask(fn, list(items), batch_size, progress)
        run = MapRun(fn, items, workers=self.workers, chunk_size=batch_size, ordered=True,
                     return_exceptions=False, progress=progress, what=_WHAT)
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers,
                                                thread_name_prefix="wasmpose-executor")
        pool = self._pool
        return run_map(run, lambda target: pool.submit(target), lambda fut: fut.result())

    def _map_dask(self, fn: Callable, items: list, batch_size: int | None, progress: bool):
        n = len(items)
        bar = progress_bar(progress, n, _WHAT)
        try:
            if n == 0:
                return []
            k = batch_size or max(1, -(-n // (4 * self.workers)))
            client = self._client
            futures = [client.submit(_run_batch, fn, items[s:s + k], s, pure=False)
                       for s in range(0, n, k)]
            out: list = []
            for i, fut in enumerate(futures):
                try:
                    part = fut.result()
                except BaseException:
                    client.cancel(futures[i + 1:])
                    raise
                out.extend(part)
                if bar is not None:
                    bar.update(len(part))
            return out
        finally:
            if bar is not None:
                bar.close()

    def close(self) -> None:
        """Shut the thread pool down, or close the local Dask cluster this executor started."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._cluster is not None:
            self._client.close()
            self._cluster.close()
            self._client = self._cluster = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BatchExecutor(backend={self.backend!r}, workers={self.workers})"
