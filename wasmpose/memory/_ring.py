"""A fixed-capacity history of equally shaped arrays."""

from __future__ import annotations

import threading

import numpy as np

from wasmpose._checks import integer
from wasmpose.memory._aligned import check_dtype, check_shape, size_problem


class RingBuffer:
    """The last ``capacity`` items of shape ``item_shape``, stored in one preallocated array.

    ``push`` copies an item in (casting safely to ``dtype``) and overwrites the oldest one when
    full; ``latest(n)`` returns a copy of the newest ``n`` items, oldest first. Thread-safe.

    Casting is safe by value: an item of another dtype of the same kind (a wider integer, a
    float64 into float32, any byte order) is accepted when every value survives it, and
    refused otherwise: an integer out of range (``300`` into int8) or a finite float that would
    become infinite (``1e300`` into float32) raises ``ValueError``, a cast across kinds (float
    into an integer buffer, complex into float) raises ``TypeError``; nothing is stored. Floats
    narrowed to ``dtype`` are rounded (precision is not a value error), NaN and infinities are
    kept.

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
        problem = size_problem((self._capacity, *shape), dt.itemsize)
        if problem is not None:  # (capacity, *item_shape): the buffer NumPy would refuse
            raise ValueError(f"capacity, item_shape: the buffer (capacity, *item_shape): "
                             f"{problem}")
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
        if arr.dtype is not dt:
            arr = _cast(arr, dt)
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


# (source dtype, buffer dtype) -> how a push checks its values: "safe" (nothing to check),
# ("int", lo, hi), ("float", overflow threshold), "other" (compare after a round trip), or the
# TypeError message of a cast across kinds. Bounded like the allocation cache.
_PLANS: dict = {}


def _plan(src: np.dtype, dt: np.dtype):
    key = (src, dt)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    if src == dt or np.can_cast(src, dt, casting="safe"):
        plan = "safe"
    elif src.kind in "iu" and dt.kind in "iu":  # int64 into uint8: by value, as signed ones
        info = np.iinfo(dt)
        plan = ("int", int(info.min), int(info.max))
    elif not np.can_cast(src, dt, casting="same_kind"):
        plan = f"x: expected values castable to {dt}, got {src}"
    elif dt.kind == "f" and src.kind in "iuf":
        # values from max + half an ulp up round to infinity (round half to even: max has an
        # odd significand); below they round to a finite value, which is no value error
        big = np.finfo(dt).max
        ulp = float(big) - float(np.nextafter(big, dt.type(0)))  # the ulp of max's binade
        plan = ("float", float(big) + ulp / 2)
    else:  # complex, strings, times
        plan = "other"
    if len(_PLANS) >= 1024:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _cast(arr: np.ndarray, dt: np.dtype) -> np.ndarray:
    """``arr``, to be stored as ``dt``, if every value survives the cast (see
    :class:`RingBuffer`); the cast itself happens in the store."""
    src = arr.dtype
    plan = _plan(src, dt)
    if plan == "safe":
        return arr
    if isinstance(plan, str) and plan != "other":
        if src.hasobject and arr.ndim == 0 and isinstance(arr[()], int) and dt.kind in "iu":
            raise ValueError(f"x: the value {arr[()]} does not fit the buffer's dtype {dt}")
        raise TypeError(plan)
    if not arr.size:
        return arr
    if plan == "other":
        with np.errstate(all="ignore"):
            out = arr.astype(dt)
            bad = (np.isinf(out) & np.isfinite(arr) if dt.kind == "c"
                   else out.astype(src) != arr)
        problem = "overflows" if dt.kind == "c" else "does not fit"
    elif plan[0] == "int":  # NumPy >= 2 compares with out-of-range Python ints exactly
        lo, hi = plan[1], plan[2]
        if arr.min() >= lo and arr.max() <= hi:
            return arr
        bad = (arr < lo) | (arr > hi)
        problem = "does not fit"
    else:  # a narrower float: only overflow to infinity loses a value
        if np.abs(arr).max() < plan[1]:  # one reduction (NaN: False, checked below)
            return arr
        bad = (np.abs(arr) >= plan[1]) & np.isfinite(arr)
        problem = "overflows"
    if np.any(bad):
        where = tuple(int(i[0]) for i in np.nonzero(np.atleast_1d(bad)))
        value = (arr[where] if arr.ndim else arr[()]).item()
        at = f" at index {where}" if arr.ndim else ""
        raise ValueError(f"x: the value {value!r}{at} {problem} the buffer's dtype {dt}")
    return arr
