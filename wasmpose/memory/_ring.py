"""A fixed-capacity history of equally shaped arrays."""

from __future__ import annotations

import threading

import numpy as np

from wasmpose._checks import integer
from wasmpose.memory._aligned import check_dtype, check_shape


class RingBuffer:
    """The last ``capacity`` items of shape ``item_shape``, stored in one preallocated array.

    ``push`` copies an item in (casting safely to ``dtype``) and overwrites the oldest one when
    full; ``latest(n)`` returns a copy of the newest ``n`` items, oldest first. Thread-safe.

    Parameters
    ----------
    capacity : int
        How many items are kept (>= 1).
    item_shape : tuple of int, optional
        Shape of one item (default ``()``: scalars); the buffer has shape
        ``(capacity, *item_shape)``.
    dtype : dtype, optional
        Element type (default float32); items are cast to it safely.

    Examples
    --------
    >>> rb = RingBuffer(3, (2,))
    >>> for i in range(5):
    ...     rb.push([i, -i])
    >>> len(rb)
    3
    >>> rb.latest(2)
    array([[ 3., -3.],
           [ 4., -4.]], dtype=float32)
    """

    __slots__ = ("_buf", "_capacity", "_count", "_head", "_item_shape", "_lock")

    def __init__(self, capacity, item_shape=(), dtype=np.float32):
        self._capacity = integer(capacity, "capacity", minimum=1)
        shape = check_shape(item_shape, "item_shape")
        dt = check_dtype(dtype)
        self._item_shape = shape
        self._buf = np.zeros((self._capacity, *shape), dt)
        self._head = 0  # index the next push writes
        self._count = 0
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """How many items the buffer keeps."""
        return self._capacity

    @property
    def item_shape(self) -> tuple:
        """The shape of one item."""
        return self._item_shape

    @property
    def dtype(self) -> np.dtype:
        """The element type of the stored items."""
        return self._buf.dtype

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (f"RingBuffer(capacity={self._capacity}, item_shape={self._item_shape}, "
                f"dtype={self._buf.dtype.name}, len={self._count})")

    def push(self, x) -> None:
        """Append ``x`` (shape ``item_shape``), dropping the oldest item when full."""
        arr = np.asarray(x)
        if arr.shape != self._item_shape:
            raise ValueError(f"x: expected shape {self._item_shape}, got {arr.shape}")
        dt = self._buf.dtype
        # the same dtype (the usual case) needs no can_cast, which costs a third of a push
        if arr.dtype is not dt and not np.can_cast(arr.dtype, dt, casting="same_kind"):
            raise TypeError(f"x: expected values castable to {dt}, got {arr.dtype}")
        with self._lock:
            self._buf[self._head] = arr
            self._head = (self._head + 1) % self._capacity
            if self._count < self._capacity:
                self._count += 1

    def latest(self, n=None) -> np.ndarray:
        """A copy of the newest ``n`` items (all when ``None``), oldest first."""
        if n is not None:
            n = integer(n, "n", minimum=0)
        with self._lock:
            count = self._count
            n = count if n is None else min(n, count)
            idx = (self._head - n + np.arange(n)) % self._capacity
            return self._buf[idx]  # fancy indexing copies

    def clear(self) -> None:
        """Forget every item (the storage is kept)."""
        with self._lock:
            self._head = 0
            self._count = 0
