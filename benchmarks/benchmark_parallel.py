"""Benchmarks of :mod:`wasmpose.parallel`: parallel map, batching, pipelines, executors.

The issue's targets are ratios measured in one call (``track_*``), so they compare two timings
taken seconds apart on the same (shared, noisy) machine:

``ParallelMap.track_speedup``
    parallel_map of the serial grayscale kernel over 64 distinct 1920x1080 frames vs the
    sequential loop; target >= 1.7 on 2 cores (``output="new"``; with ``out=`` buffers the
    loop is bound by memory bandwidth, see docs/parallel.md).
``DynamicBatcherThroughput.track_requests_per_second``
    no-op ``process_batch``, ``max_batch_size=32``, 4 producer threads; target >= 50,000
    (``DynamicBatcherSteady``: the same with at most 1,000 requests in flight).
``DynamicBatcherLatency.track_p99_over_max_wait_ms``
    p99 latency minus ``max_wait_ms`` under light load; target <= 2 ms.
``PipelineThreeStages.track_time_over_slowest_stage``
    a 3-stage pipeline over 200 frames vs its slowest stage alone; target <= 1.15.
``ExecutorTaskOverhead.track_per_task_us``
    per-task cost of ``BatchExecutor`` on threads and on an in-process Dask ``LocalCluster``.

``ExecutorMap`` times real work through ``BatchExecutor.map`` (grayscale of 64 VGA frames in
batches of 8) on both backends beside a plain loop; ``AdaptiveBatcherRun`` puts 2000 requests
through a model stand-in with ``AdaptiveBatcher`` and with fixed-size ``DynamicBatcher`` objects
(time, mean batch size and p95 latency from ``stats()``); ``ThreadCount`` times
``optimal_thread_count`` and ``set_thread_count``.
"""

from __future__ import annotations

import collections
import functools
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from wasmpose import opt_level
from wasmpose.cpu import serial_kernels
from wasmpose.image import grayscale, otsu_threshold, threshold
from wasmpose.parallel import (
    AdaptiveBatcher,
    BatchExecutor,
    DynamicBatcher,
    Pipeline,
    optimal_thread_count,
    parallel_map,
    set_thread_count,
)

from . import common


@functools.cache
def _frames_1080p() -> list:
    """64 distinct 1920x1080 RGB frames (views of one fixed-seed batch)."""
    return list(common.rgb_batch(64, 1080, 1920))


@functools.cache
def _frames_vga() -> list:
    return list(common.rgb_batch(64, 480, 640))


def _best(fn, repeat=3) -> float:
    """The shortest of ``repeat`` timed calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class _Suite:
    """What every suite here shares: each sample is one whole run (``number = 1``), at least 3
    and at most 10 samples within 20 s."""

    repeat = (3, 10, 20.0)
    number = 1
    timeout = 300


_OUTS: dict = {}


class ParallelMap(_Suite):
    """Grayscale of 64 distinct 1080p frames: a sequential loop of the serial kernel,
    ``parallel_map`` (workers run the serial kernel), and a plain ``ThreadPoolExecutor``.

    ``output="new"`` calls ``grayscale(frame)`` (a new 2 MB output per frame, as most code
    does); ``output="out"`` writes into one preallocated output per frame (``out=``).
    """

    params = [["sequential", "parallel_map", "thread_pool"], ["new", "out"]]
    param_names = ["impl", "output"]

    def setup(self, impl, output):
        frames = _frames_1080p()
        if output == "out":
            if "gray" not in _OUTS:
                _OUTS["gray"] = [grayscale(f) for f in frames]
            outs = _OUTS["gray"]
            self.fn = lambda i: grayscale(frames[i], out=outs[i])
        else:
            self.fn = lambda i: grayscale(frames[i])
        with opt_level("serial"):
            self.fn(0)  # compile or load: never timed
        self.pool = ThreadPoolExecutor(optimal_thread_count())

    def teardown(self, impl, output):
        self.pool.shutdown()

    def _serial(self, i):
        with serial_kernels():
            return self.fn(i)

    def _run(self, impl):
        idx = range(64)
        if impl == "sequential":
            with opt_level("serial"):
                return [self.fn(i) for i in idx]
        if impl == "parallel_map":
            return parallel_map(self.fn, idx)
        return list(self.pool.map(self._serial, idx))

    def time_grayscale_64_frames(self, impl, output):
        self._run(impl)

    def track_speedup(self, impl, output):
        """Sequential time / this implementation's time (best of 5 each, same call)."""
        return _best(lambda: self._run("sequential"), 5) / _best(lambda: self._run(impl), 5)

    track_speedup.unit = "x"


def _noop(items):
    return items


def _produce(batcher, n_producers, per_producer, window=None):
    """Producer threads submitting ``per_producer`` requests each and waiting for the results;
    each keeps at most ``window`` in flight (waits for its oldest first), all if ``None``."""
    window = window or per_producer

    def produce():
        pending = collections.deque()
        for i in range(per_producer):
            if len(pending) >= window:
                pending.popleft().result()
            pending.append(batcher.submit(i))
        for f in pending:
            f.result()

    threads = [threading.Thread(target=produce) for _ in range(n_producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class DynamicBatcherThroughput(_Suite):
    """Requests through a no-op ``process_batch`` (``max_batch_size=32``) from producer
    threads that submit their share and then wait for every result."""

    params = [[1, 4]]
    param_names = ["producers"]
    requests = 40_000

    def _once(self, producers) -> float:
        with DynamicBatcher(_noop, max_batch_size=32, max_wait_ms=1,
                            max_queue_size=self.requests) as b:
            t0 = time.perf_counter()
            _produce(b, producers, self.requests // producers)
            return time.perf_counter() - t0

    def time_40k_requests(self, producers):
        self._once(producers)

    def track_requests_per_second(self, producers):
        return self.requests / min(self._once(producers) for _ in range(3))

    track_requests_per_second.unit = "requests/s"

    def track_overhead_us_per_request(self, producers):
        """Wall time per request at saturation: submit, batching, resolution and result()."""
        return min(self._once(producers) for _ in range(3)) / self.requests * 1e6

    track_overhead_us_per_request.unit = "us"


class DynamicBatcherSteady(DynamicBatcherThroughput):
    """As ``DynamicBatcherThroughput``, but each producer keeps at most ``1000 // producers``
    requests in flight: the load a batcher with the default ``max_queue_size=1000`` serves
    without refusing any (the other suite holds all 40,000 in flight at once)."""

    def _once(self, producers) -> float:
        with DynamicBatcher(_noop, max_batch_size=32, max_wait_ms=1) as b:
            t0 = time.perf_counter()
            _produce(b, producers, self.requests // producers, 1000 // producers)
            return time.perf_counter() - t0


class DynamicBatcherLatency(_Suite):
    """Light load: one request every millisecond, no-op ``process_batch``."""

    params = [[2, 5, 20]]
    param_names = ["max_wait_ms"]
    repeat = 1
    requests = 400

    def track_p99_over_max_wait_ms(self, max_wait_ms):
        with DynamicBatcher(_noop, max_batch_size=32, max_wait_ms=max_wait_ms) as b:
            t0 = time.perf_counter()
            futures = []
            for i in range(self.requests):
                delay = t0 + i * 1e-3 - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(b.submit(i))
            for f in futures:
                f.result()
            return b.stats().latency_p99_ms - max_wait_ms

    track_p99_over_max_wait_ms.unit = "ms"


def _infer(x):
    """A stand-in for a model call that releases the GIL (ONNX Runtime, a torch forward)."""
    time.sleep(0.005)
    return x


_PIPELINES = {
    # decode -> preprocess -> "infer" (5 ms, the slowest stage) on 640x480 frames
    "infer": ((grayscale, lambda g: threshold(g, 127), _infer), _frames_vga),
    # three CPU kernels on 1080p frames: grayscale (the slowest) -> Otsu -> threshold
    "kernels": ((grayscale, lambda g: (g, otsu_threshold(g)), lambda gt: threshold(*gt)),
                _frames_1080p),
}


class PipelineThreeStages(_Suite):
    """A 3-stage ``Pipeline`` over 200 frames, and each of its stages alone."""

    params = [["infer", "kernels"]]
    param_names = ["pipeline"]
    n_frames = 200

    def setup(self, pipeline):
        stages, frames = _PIPELINES[pipeline]
        self.stages = stages
        self.frames = list(itertools.islice(itertools.cycle(frames()), self.n_frames))
        self.pipeline = Pipeline(*stages, queue_size=8)
        list(self.pipeline.run(self.frames[:2]))  # compile or load: never timed
        # the input of each stage, precomputed for the stage-alone timings
        self.inputs = [self.frames]
        with serial_kernels():
            for fn in stages[:-1]:
                self.inputs.append([fn(x) for x in self.inputs[-1]])

    def _pipeline(self):
        for _ in self.pipeline.run(self.frames):
            pass

    def _slowest_stage(self):
        with serial_kernels():
            return max(_best(lambda fn=fn, xs=xs: [fn(x) for x in xs], 1)
                       for fn, xs in zip(self.stages, self.inputs, strict=True))

    def time_pipeline(self, pipeline):
        self._pipeline()

    def track_time_over_slowest_stage(self, pipeline):
        slowest = min(self._slowest_stage() for _ in range(3))
        return _best(self._pipeline) / slowest

    track_time_over_slowest_stage.unit = "x"


_EXECUTORS: dict = {}


def _executor(backend):
    if backend not in _EXECUTORS:
        if backend == "dask":
            common.require_peer("distributed")
        _EXECUTORS[backend] = BatchExecutor(backend=backend, workers=2)
    return _EXECUTORS[backend]


def _identity(x):
    return x


class ExecutorTaskOverhead(_Suite):
    """``BatchExecutor.map`` of a no-op over 200 items, one item per task."""

    params = [["threads", "dask"]]
    param_names = ["backend"]
    tasks = 200

    def setup(self, backend):
        self.ex = _executor(backend)
        self.ex.map(_identity, range(4), batch_size=1)

    def time_200_tasks(self, backend):
        self.ex.map(_identity, range(self.tasks), batch_size=1)

    def track_per_task_us(self, backend):
        return _best(lambda: self.time_200_tasks(backend)) / self.tasks * 1e6

    track_per_task_us.unit = "us"


def _batch_mean(batch):
    """A cheap per-batch step, so that the batch's assembly is what is timed."""
    return batch[:, ::16, ::16].mean(axis=(1, 2, 3))


class ExecutorMapBatches(_Suite):
    """64 distinct 1080p frames in batches of 8 (50 MB each) through a cheap batch function on
    2 threads: ``BatchExecutor.map_batches`` stacks each batch into a buffer from the pool;
    the references stack with ``np.stack`` and ``torch.stack`` (``default_collate``'s way) into
    new memory each batch."""

    params = [["map_batches", "np.stack", "torch.stack"]]
    param_names = ["impl"]

    def setup(self, impl):
        self.frames = _frames_1080p()
        self.ex = _executor("threads")
        if impl == "torch.stack":
            torch = common.require_peer("torch")
            tensors = [torch.from_numpy(f) for f in self.frames]
            self.groups = [tensors[s:s + 8] for s in range(0, 64, 8)]
            self.stack = lambda g: _batch_mean(torch.stack(g).numpy())
        else:
            self.groups = [self.frames[s:s + 8] for s in range(0, 64, 8)]
            self.stack = lambda g: _batch_mean(np.stack(g))
        self._run(impl)

    def _run(self, impl):
        if impl == "map_batches":
            return self.ex.map_batches(_batch_mean, self.frames, batch_size=8)
        return self.ex.map(self.stack, self.groups, batch_size=1)

    def time_64_frames_in_batches_of_8(self, impl):
        self._run(impl)


class ExecutorMap(_Suite):
    """Grayscale of 64 640x480 frames: ``BatchExecutor.map`` in batches of 8 on threads and
    on Dask (in-process ``LocalCluster``), beside a sequential loop of the serial kernel."""

    params = [["sequential", "threads", "dask"]]
    param_names = ["impl"]

    def setup(self, impl):
        frames = _frames_vga()
        with opt_level("serial"):
            grayscale(frames[0])  # compile or load: never timed
        if impl == "sequential":
            def run():
                with opt_level("serial"):
                    return [grayscale(f) for f in frames]
        else:
            ex = _executor(impl)
            ex.map(grayscale, frames[:2])

            def run():
                return ex.map(grayscale, frames, batch_size=8)
        self.run = run

    def time_grayscale_64_frames(self, impl):
        self.run()


def _model(items):
    """A stand-in for a batched model call: 1 ms + 0.05 ms per item, GIL released."""
    time.sleep(0.001 + 0.00005 * len(items))
    return items


_BATCHERS = {
    "adaptive": lambda: AdaptiveBatcher(_model, target_latency_ms=50, max_queue_size=4000),
    "dynamic-8": lambda: DynamicBatcher(_model, max_batch_size=8, max_wait_ms=5,
                                        max_queue_size=4000),
    "dynamic-64": lambda: DynamicBatcher(_model, max_batch_size=64, max_wait_ms=5,
                                         max_queue_size=4000),
}


class AdaptiveBatcherRun(_Suite):
    """2000 requests from 4 producer threads through a batched model stand-in (1 ms + 0.05 ms
    per item): ``AdaptiveBatcher`` (p95 target 50 ms, starting at batch size 1) beside
    ``DynamicBatcher`` at fixed sizes 8 and 64."""

    params = [list(_BATCHERS)]
    param_names = ["impl"]
    requests = 2000

    def _stats(self, impl):
        with _BATCHERS[impl]() as b:
            _produce(b, 4, self.requests // 4)
        return b.stats()

    def time_2000_requests(self, impl):
        self._stats(impl)

    def track_p95_latency_ms(self, impl):
        return self._stats(impl).latency_p95_ms

    track_p95_latency_ms.unit = "ms"

    def track_mean_batch_size(self, impl):
        return self._stats(impl).mean_batch_size

    track_mean_batch_size.unit = "requests"


class ThreadCount:
    """``optimal_thread_count()`` (the affinity mask, read each call) and
    ``set_thread_count(n)`` with a restore."""

    params = [["optimal_thread_count", "set_thread_count"]]
    param_names = ["call"]

    def setup(self, call):
        n = optimal_thread_count()
        self.fn = (optimal_thread_count if call == "optimal_thread_count"
                   else lambda: set_thread_count(set_thread_count(n)))

    def time_call(self, call):
        self.fn()
