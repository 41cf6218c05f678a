"""Memory: aligned buffers, a buffer pool, an arena, fixed-size histories, zero-copy weights.

A real-time pipeline needs the same large buffers every frame. ``BufferPool`` keeps released
buffers for reuse (with exact statistics), ``Arena`` hands out a frame's temporaries from one
preallocated block, ``RingBuffer`` keeps the last items of a stream without allocating, and
``load_weights`` memory-maps ``.npy``/``.npz``/``.safetensors`` files without ever unpickling.
See ``docs/memory.md`` for when a pool helps and when ``np.empty`` is as good.
"""

from __future__ import annotations

from wasmpose.errors import ArenaFullError
from wasmpose.memory._aligned import aligned_empty, is_aligned
from wasmpose.memory._arena import Arena
from wasmpose.memory._pool import BufferPool, PoolStats, default_pool
from wasmpose.memory._ring import RingBuffer
from wasmpose.memory._weights import load_weights

__all__ = [
    "aligned_empty",
    "is_aligned",
    "BufferPool",
    "PoolStats",
    "default_pool",
    "Arena",
    "ArenaFullError",
    "RingBuffer",
    "load_weights",
]
