"""A bump allocator over one preallocated buffer."""

from __future__ import annotations

import numpy as np

from wasmpose._checks import integer
from wasmpose.errors import ArenaFullError
from wasmpose.memory._aligned import aligned_bytes, check_alignment, request

__all__ = ["Arena"]

_ndarray = np.ndarray


class _Scope:
    """Context manager of :meth:`Arena.scope`: rewinds the arena to where it was on entry."""

    __slots__ = ("_arena", "_mark")

    def __init__(self, arena):
        self._arena = arena
        self._mark = 0

    def __enter__(self):
        self._mark = self._arena._used
        return self._arena

    def __exit__(self, *exc):
        self._arena._used = self._mark
        return False


class Arena:
    """A bump allocator: arrays carved one after the other out of a single aligned buffer.

    ``alloc`` costs no system allocation: it returns a view at the next aligned offset.
    ``reset()`` (or leaving a ``scope()``) makes the space reusable at once; arrays allocated
    before must not be used afterwards, as new allocations overwrite them. Typical use is one
    arena per thread for a frame's temporaries, reset after each frame.

    Parameters
    ----------
    nbytes : int
        Capacity in bytes (allocated once, up front).
    alignment : int, default 64
        A power of two: every allocation starts at a multiple of it.

    Attributes
    ----------
    capacity : int
        ``nbytes``.
    used : int
        Bytes taken now, alignment padding included.
    high_water : int
        The highest ``used`` ever.

    Notes
    -----
    Not thread-safe: give each thread its own arena.

    Examples
    --------
    >>> arena = Arena(1 << 20)
    >>> with arena.scope():
    ...     a = arena.alloc((480, 640), np.uint8)
    ...     b = arena.alloc(10, np.float64)
    ...     arena.used
    307280
    >>> arena.used, arena.high_water
    (0, 307280)
    """

    __slots__ = ("_alignment", "_buf", "_capacity", "_high", "_mask", "_used")

    def __init__(self, nbytes, *, alignment=64):
        self._capacity = integer(nbytes, "nbytes", minimum=0)
        self._alignment = check_alignment(alignment)
        self._mask = self._alignment - 1
        self._buf = aligned_bytes(self._capacity, self._alignment)
        self._used = 0
        self._high = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def used(self) -> int:
        return self._used

    @property
    def high_water(self) -> int:
        return self._high

    @property
    def alignment(self) -> int:
        return self._alignment

    def __repr__(self) -> str:
        return (f"Arena(capacity={self._capacity}, alignment={self._alignment}, "
                f"used={self._used}, high_water={self._high})")

    def alloc(self, shape, dtype=np.float32) -> np.ndarray:
        """An uninitialised, C-contiguous, aligned array of ``shape`` and ``dtype``.

        Parameters
        ----------
        shape : int or tuple of int
        dtype : data-type, default float32

        Returns
        -------
        ndarray, shape ``shape``
            A writable view into the arena, valid until the next ``reset()`` (or the end of
            the enclosing ``scope()``).

        Raises
        ------
        ArenaFullError
            Not enough room left (nothing is allocated).

        Examples
        --------
        >>> arena = Arena(256)
        >>> arena.alloc((2, 2), np.int64).shape
        (2, 2)
        >>> arena.alloc(300, np.uint8)
        Traceback (most recent call last):
        ...
        wasmpose.errors.ArenaFullError: Arena: cannot allocate 300 bytes at offset 64 of 256
        """
        dims, dt, nbytes = request(shape, dtype)
        start = (self._used + self._mask) & ~self._mask
        end = start + nbytes
        if end > self._capacity:
            raise ArenaFullError(f"Arena: cannot allocate {nbytes} bytes at offset {start} of "
                                 f"{self._capacity}")
        self._used = end
        if end > self._high:
            self._high = end
        return _ndarray(dims, dt, self._buf, start)

    def reset(self) -> None:
        """Free every allocation at once (``used`` back to 0; ``high_water`` is kept)."""
        self._used = 0

    def scope(self):
        """Context manager: on exit, free what was allocated inside it (scopes nest).

        Examples
        --------
        >>> arena = Arena(1024)
        >>> keep = arena.alloc(16, np.uint8)
        >>> with arena.scope():
        ...     tmp = arena.alloc(100, np.uint8)
        >>> arena.used
        16
        """
        return _Scope(self)
