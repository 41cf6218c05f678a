"""Parallel execution: parallel map, staged pipelines, dynamic and adaptive batching, Dask.

wasmpose's compiled kernels release the GIL, so threads give real speed-ups. Every worker
thread started here runs the *serial* variants of wasmpose's kernels
(:func:`wasmpose.cpu.serial_kernels`): the parallelism comes from the workers, and Numba's
parallel regions are never nested inside them.

- :func:`parallel_map`: a map with dynamic scheduling over threads.
- :class:`Pipeline`: stages in their own threads joined by bounded queues.
- :class:`DynamicBatcher`, :class:`AdaptiveBatcher`: single requests grouped into batches.
- :class:`BatchExecutor`: one ``map`` over a thread pool or a Dask cluster.
- :func:`optimal_thread_count`, :func:`set_thread_count`: how many workers.

The errors raised here are defined in :mod:`wasmpose.errors` and re-exported.
"""

from __future__ import annotations

from wasmpose.errors import (
    BatchProcessingError,
    BatchTimeoutError,
    QueueFullError,
    WasmposeError,
)
from wasmpose.parallel._batcher import AdaptiveBatcher, BatchStats, DynamicBatcher
from wasmpose.parallel._executor import BatchExecutor
from wasmpose.parallel._map import parallel_map
from wasmpose.parallel._pipeline import Pipeline
from wasmpose.parallel._threads import optimal_thread_count, set_thread_count

__all__ = [
    "optimal_thread_count",
    "set_thread_count",
    "parallel_map",
    "Pipeline",
    "DynamicBatcher",
    "AdaptiveBatcher",
    "BatchStats",
    "BatchExecutor",
    "WasmposeError",
    "QueueFullError",
    "BatchTimeoutError",
    "BatchProcessingError",
]
