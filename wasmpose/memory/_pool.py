"""A thread-safe pool of aligned buffers with exact statistics."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from wasmpose._checks import integer
from wasmpose.memory._aligned import _SPECS, aligned_bytes, check_alignment, spec

_SMALL, _MEDIUM, _LARGE = 0, 1, 2
_PAGE = 4096
_ndarray = np.ndarray

__all__ = ["BufferPool", "PoolStats", "default_pool"]


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a :class:`BufferPool`'s counters, all exact when it was taken.

    Sizes are in bytes. A buffer's *reserved* size is the size it was allocated with, which is
    at least the request it serves and at most twice it (alignment padding is not counted).

    Attributes
    ----------
    hits, misses : int
        Acquires served by an idle buffer, and acquires that allocated a new one.
    hit_rate : float
        ``hits / (hits + misses)``, 0 before the first acquire.
    evictions : int
        Idle buffers freed because the idle bytes exceeded ``max_bytes`` (``clear()`` is not
        counted).
    requested_bytes, reserved_bytes : int
        Lifetime totals over every acquire: the bytes asked for, and the reserved sizes of the
        buffers that served them.
    in_use_bytes, idle_bytes : int
        Reserved bytes of the buffers handed out now, and of the idle ones kept for reuse.
    peak_bytes : int
        The highest ``in_use_bytes + idle_bytes`` ever (the most memory the pool held).
    bytes_saved : int
        Requested bytes of the hits: allocations that did not happen.
    small_count, medium_count, large_count : int
        Idle buffers per tier, by their reserved size.
    in_use_count : int
        Buffers handed out and not yet released.

    Examples
    --------
    >>> pool = BufferPool()
    >>> a = pool.acquire((256, 256))
    >>> pool.release(a)
    >>> b = pool.acquire((256, 256))
    >>> s = pool.stats()
    >>> s.hits, s.misses, s.in_use_bytes, s.bytes_saved
    (1, 1, 262144, 262144)
    """

    hits: int
    misses: int
    hit_rate: float
    evictions: int
    requested_bytes: int
    reserved_bytes: int
    in_use_bytes: int
    idle_bytes: int
    peak_bytes: int
    bytes_saved: int
    small_count: int
    medium_count: int
    large_count: int
    in_use_count: int = 0


class _Borrow:
    """Context manager of :meth:`BufferPool.borrow`."""

    __slots__ = ("_arr", "_pool")

    def __init__(self, pool, arr):
        self._pool = pool
        self._arr = arr

    def __enter__(self):
        return self._arr

    def __exit__(self, *exc):
        self._pool.release(self._arr)
        return False


class BufferPool:
    """A thread-safe pool of aligned, reusable buffers in three size tiers.

    ``acquire`` hands out a C-contiguous, writable array whose data starts at a multiple of
    ``alignment``; ``release`` gives it back for reuse. A request of ``n`` bytes is served by an
    idle buffer of ``n`` to ``2 n`` bytes (never bigger) or by a new buffer of exactly ``n``
    bytes. The tier of a request and of a buffer is set by its size in bytes:

    - small (below ``small_limit``): served by an idle buffer of exactly the same size;
    - medium (``small_limit`` to ``large_limit``): the smallest idle buffer of the tier that
      fits within twice the request;
    - large (from ``large_limit`` up): as medium, and buffers start on a page boundary.

    Idle buffers whose total exceeds ``max_bytes`` are freed oldest first (by release time).
    Every acquire and release is counted; :meth:`stats` returns exact figures.

    Parameters
    ----------
    max_bytes : int, default 256 MiB
        Most idle bytes kept. Buffers in use are not limited.
    small_limit, large_limit : int, default 1 KiB and 1 MiB
        Tier boundaries in bytes, ``small_limit <= large_limit``.
    alignment : int, default 64
        A power of two, in bytes.

    Notes
    -----
    An array handed out must be released as the very object ``acquire`` returned; releasing
    a view of it, an array from elsewhere or the same array twice raises ``ValueError`` and
    changes nothing. Do not use an array after releasing it: the pool hands its memory out
    again. An array that is never released stays counted as in use.

    Examples
    --------
    >>> pool = BufferPool()
    >>> a = pool.acquire((480, 640), np.float32)
    >>> pool.release(a)
    >>> with pool.borrow((480, 640)) as b:   # served by the buffer just released
    ...     b.fill(0)
    >>> s = pool.stats()
    >>> s.hits, s.misses, s.in_use_bytes, s.idle_bytes, s.medium_count
    (1, 1, 0, 1228800, 0)
    >>> s.large_count
    1
    """

    __slots__ = (
        "_alignment", "_bufs", "_clock", "_evictions", "_fit_extra", "_held", "_hits", "_idle",
        "_idle_bytes", "_large_limit", "_lock", "_max_bytes", "_miss_bytes", "_misses", "_order",
        "_peak", "_saved", "_sizes", "_small_limit",
    )

    def __init__(self, *, max_bytes=256 << 20, small_limit=1 << 10, large_limit=1 << 20,
                 alignment=64):
        self._max_bytes = integer(max_bytes, "max_bytes", minimum=0)
        self._small_limit = integer(small_limit, "small_limit", minimum=0)
        self._large_limit = integer(large_limit, "large_limit", minimum=0)
        if self._large_limit < self._small_limit:
            raise ValueError(f"large_limit: expected >= small_limit ({self._small_limit}), "
                             f"got {self._large_limit}")
        self._alignment = check_alignment(alignment)
        self._lock = threading.Lock()
        # reserved size -> entries of the idle buffers of that size, oldest released first (a
        # size is in exactly one tier, so one dict serves all three)
        self._idle: dict = {}
        # per tier: the sorted sizes that have idle buffers (best-fit search of medium/large)
        self._sizes: tuple[list, list, list] = ([], [], [])
        # Every buffer the pool holds has an entry, the list
        #   [byte buffer, request, template, array, size, release stamp]:
        # the request tuple (from request(); one per distinct request) of its last use and an
        # ndarray of that shape and dtype over the buffer, whose views are handed out while the
        # same request repeats (a view costs a fraction of a new ndarray); the array handed out
        # now (None while idle); the buffer's size in bytes; and the stamp of its last release.
        # Arrays over the buffer, views included, have the byte buffer's base as their base
        # (NumPy collapses view chains to the owner), so id(owner) -> entry finds the entry of
        # an array on release without a dict insertion per acquire (an insert and a delete per
        # cycle keep a dict rebuilding itself: that was a third of the pair's cost).
        self._bufs: dict = {}
        # The eviction order, built when needed (_evict): (stamp, entry) of the buffers idle
        # then, oldest first. Releases only stamp their entry, so a release costs no insertion;
        # an item is stale once its entry is handed out or released again (a newer stamp), and
        # the buffers released since the build are newer than every item.
        self._order: deque = deque()
        self._clock = itertools.count()
        # counters; requested/reserved/in-use bytes are derived from them in stats()
        self._hits = self._misses = self._evictions = 0
        self._saved = 0  # requested bytes of hits
        self._fit_extra = 0  # reserved minus requested bytes of best-fit hits
        self._miss_bytes = 0  # requested (= reserved) bytes of misses
        self._held = 0  # bytes of every buffer the pool holds, in use or idle
        self._idle_bytes = self._peak = 0

    # -- configuration ------------------------------------------------------------------------
    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def small_limit(self) -> int:
        return self._small_limit

    @property
    def large_limit(self) -> int:
        return self._large_limit

    @property
    def alignment(self) -> int:
        return self._alignment

    def tier(self, nbytes) -> str:
        """The tier (``"small"``, ``"medium"`` or ``"large"``) of a size in bytes."""
        return ("small", "medium", "large")[self._tier_of(integer(nbytes, "nbytes", minimum=0))]

    def _tier_of(self, nbytes: int) -> int:
        if nbytes < self._small_limit:
            return _SMALL
        return _LARGE if nbytes >= self._large_limit else _MEDIUM

    def __repr__(self) -> str:
        s = self.stats()
        return (f"BufferPool(max_bytes={self._max_bytes}, small_limit={self._small_limit}, "
                f"large_limit={self._large_limit}, alignment={self._alignment}; "
                f"in use {s.in_use_count} buffers / {s.in_use_bytes} B, idle {s.idle_bytes} B)")

    # -- acquire / release --------------------------------------------------------------------
    def acquire(self, shape, dtype=np.float32, *, zero=False) -> np.ndarray:
        """A C-contiguous, writable, aligned array of ``shape`` and ``dtype`` from the pool.

        Parameters
        ----------
        shape : int or tuple of int
        dtype : data-type, default float32
        zero : bool, default False
            Fill with zeros (otherwise the content is whatever the buffer held).

        Returns
        -------
        ndarray, shape ``shape``
            Give it back with :meth:`release` (or use :meth:`borrow`).

        Examples
        --------
        >>> pool = BufferPool()
        >>> a = pool.acquire((2, 3), np.int32, zero=True)
        >>> a
        array([[0, 0, 0],
               [0, 0, 0]], dtype=int32)
        >>> pool.release(a)
        """
        # The hot path (an idle buffer of the exact size that last served the same request) is
        # kept lean: one dict lookup for the request (request()'s cache, inlined), one lock,
        # three counters, and a view of the buffer's typed template instead of a new ndarray
        # (a few times cheaper). The rest is derived in stats().
        try:
            req = _SPECS[shape, dtype]
            if type(shape) is not int:
                for d in shape:
                    if type(d) is not int:  # another spelling (2.0, True, np.int64) of it
                        req = None
                        break
        except (KeyError, TypeError):  # not seen, or unhashable (a list)
            req = None
        if req is None:  # validated outside the handler: its errors come without context
            req = spec(shape, dtype)
        nbytes = req[2]
        lock = self._lock
        lock.acquire()
        try:
            bucket = self._idle.get(nbytes)
            if bucket:
                entry = bucket.pop()
                self._hits += 1
                self._saved += nbytes
                self._idle_bytes -= nbytes
            else:
                entry = self._acquire_slow(nbytes)
            if entry[1] is not req:  # one result tuple per distinct request (see spec())
                entry[1] = req
                entry[2] = _ndarray(req[0], req[1], entry[0])
            arr = entry[3] = entry[2].view()
        finally:
            lock.release()
        if zero:
            entry[0][:nbytes] = 0
        return arr

    def _acquire_slow(self, nbytes: int) -> list:
        """No idle buffer of the exact size: the best fit within 2x, or a new one (lock held).

        Returns the buffer's entry (see ``__init__``).
        """
        tier = self._tier_of(nbytes)
        if tier != _SMALL:
            sizes = self._sizes[tier]
            idle = self._idle
            limit = 2 * nbytes
            for i in range(bisect.bisect_left(sizes, nbytes), len(sizes)):
                size = sizes[i]
                if size > limit:
                    break
                bucket = idle[size]
                if bucket:
                    entry = bucket.pop()
                    self._hits += 1
                    self._saved += nbytes
                    self._idle_bytes -= size
                    self._fit_extra += size - nbytes
                    return entry
        if len(self._idle) > 64 + 2 * len(self._bufs):  # more lists than buffers held
            self._prune()
        buf = aligned_bytes(nbytes, self._alignment if tier != _LARGE
                            else max(self._alignment, _PAGE))
        entry = self._bufs[id(buf.base)] = [buf, None, None, None, nbytes, 0]
        self._misses += 1
        self._miss_bytes += nbytes
        self._held += nbytes
        if self._held > self._peak:
            self._peak = self._held
        return entry

    def _prune(self) -> None:
        """Forget the idle lists that are empty (lock held).

        Emptied lists are kept on the hot path (dropping and re-creating them would cost more
        than the whole acquire); this bounds how many accumulate.
        """
        for size in [size for size, bucket in self._idle.items() if not bucket]:
            del self._idle[size]
        for sizes in self._sizes:
            sizes[:] = [size for size in sizes if size in self._idle]

    def release(self, arr) -> None:
        """Give back an array that :meth:`acquire` returned; it must not be used afterwards.

        Raises
        ------
        ValueError
            ``arr`` was not handed out by this pool (a foreign array, a view of a pooled array)
            or was already released. Nothing changes.
        TypeError
            ``arr`` is not an ndarray.
        """
        lock = self._lock
        lock.acquire()
        try:
            try:
                entry = self._bufs.get(id(arr.base))
            except AttributeError:  # not an array
                entry = None
            if entry is None or entry[3] is not arr:
                self._release_refused(arr)
            entry[3] = None
            entry[5] = next(self._clock)
            size = entry[4]
            bucket = self._idle.get(size)
            if bucket is None:
                self._new_size(size)
                bucket = self._idle[size]
            bucket.append(entry)
            self._idle_bytes += size
            if self._idle_bytes > self._max_bytes:
                self._evict()
        finally:
            lock.release()

    def _new_size(self, size: int) -> None:
        """Start the (empty) idle list of ``size`` bytes (lock held)."""
        self._idle[size] = []
        tier = self._tier_of(size)
        if tier != _SMALL:
            bisect.insort(self._sizes[tier], size)

    def _evict(self) -> None:
        """Free the oldest idle buffers until the idle bytes fit ``max_bytes`` (lock held)."""
        order = self._order
        while self._idle_bytes > self._max_bytes:
            if not order:  # every idle buffer, oldest first
                order.extend(sorted((entry[5], entry) for bucket in self._idle.values()
                                    for entry in bucket))
            stamp, entry = order.popleft()
            if entry[5] != stamp or entry[3] is not None:
                continue  # released again since, or in use
            size = entry[4]
            # a size's list is in release order too, so the globally oldest is its first
            del self._idle[size][0]
            del self._bufs[id(entry[0].base)]
            self._idle_bytes -= size
            self._held -= size
            self._evictions += 1

    def _release_refused(self, arr) -> None:
        """Raise the error of a release of ``arr`` that is refused (lock held; nothing is
        changed)."""
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"arr: expected an array returned by acquire(), got "
                            f"{type(arr).__name__}")
        entries = list(self._bufs.values())
        for entry in entries:
            if entry[3] is not None and np.may_share_memory(arr, entry[0]):
                raise ValueError("arr: a view of (or a stale reference to) an array from this "
                                 "pool; release the very array acquire() returned, once")
        for entry in entries:
            if entry[3] is None and np.may_share_memory(arr, entry[0]):
                raise ValueError("arr: its buffer is already back in the pool (released "
                                 "twice?)")
        raise ValueError("arr: not an array handed out by this pool")

    def borrow(self, shape, dtype=np.float32):
        """Context manager: :meth:`acquire` on entry, :meth:`release` on exit.

        Examples
        --------
        >>> pool = BufferPool()
        >>> with pool.borrow(1024, np.uint8) as buf:
        ...     buf[:] = 7
        >>> pool.stats().in_use_bytes
        0
        """
        return _Borrow(self, self.acquire(shape, dtype))

    def clear(self) -> None:
        """Free every idle buffer (buffers in use are unaffected and can still be released)."""
        with self._lock:
            for bucket in self._idle.values():
                for entry in bucket:
                    del self._bufs[id(entry[0].base)]
            self._idle.clear()
            for sizes in self._sizes:
                sizes.clear()
            self._order.clear()
            self._held -= self._idle_bytes
            self._idle_bytes = 0

    def stats(self) -> PoolStats:
        """The pool's counters now (see :class:`PoolStats`)."""
        with self._lock:
            counts = [0, 0, 0]
            for size, bucket in self._idle.items():
                counts[self._tier_of(size)] += len(bucket)
            hits, misses = self._hits, self._misses
            return PoolStats(
                hits=hits, misses=misses,
                hit_rate=hits / (hits + misses) if hits + misses else 0.0,
                evictions=self._evictions,
                requested_bytes=self._saved + self._miss_bytes,
                reserved_bytes=self._saved + self._fit_extra + self._miss_bytes,
                in_use_bytes=self._held - self._idle_bytes,
                idle_bytes=self._idle_bytes, peak_bytes=self._peak, bytes_saved=self._saved,
                small_count=counts[0], medium_count=counts[1], large_count=counts[2],
                in_use_count=len(self._bufs) - sum(counts))


_DEFAULT: list = []
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> BufferPool:
    """The process-wide :class:`BufferPool` (default settings), created on first use.

    Examples
    --------
    >>> default_pool() is default_pool()
    True
    """
    if not _DEFAULT:
        with _DEFAULT_LOCK:
            if not _DEFAULT:
                _DEFAULT.append(BufferPool())
    return _DEFAULT[0]

