"""BufferPool and PoolStats: alignment, tiers, exact statistics, bad releases, threads."""

import dataclasses
import random
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpose.memory import (
    Arena,
    BufferPool,
    PoolStats,
    RingBuffer,
    aligned_empty,
    default_pool,
    is_aligned,
)

DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.float16, np.int32, np.uint32,
          np.float32, np.int64, np.uint64, np.float64, np.complex64, np.complex128,
          np.dtype("<M8[ns]"), np.dtype([("x", "<f4"), ("y", "<i2")])]
ALIGNMENTS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


def stats_dict(pool):
    return dataclasses.asdict(pool.stats())


# -- alignment and the arrays handed out -------------------------------------------------------
@pytest.mark.parametrize("alignment", ALIGNMENTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_acquired_arrays_are_aligned_contiguous_and_writable(alignment, dtype):
    pool = BufferPool(alignment=alignment, small_limit=64, large_limit=4096)
    held = []
    for shape in [(), 0, 1, 3, (7, 5), (2, 0, 3), (33, 17), (600,), (3, 700), (64, 64, 3)]:
        a = pool.acquire(shape, dtype)
        want = np.empty(shape, dtype)
        assert a.shape == want.shape and a.dtype == want.dtype
        assert a.flags.c_contiguous and a.flags.writeable
        assert is_aligned(a, alignment), (shape, a.__array_interface__["data"][0] % alignment)
        held.append(a)
    for a in held:  # released, then served again: still aligned
        pool.release(a)
    for a in held:
        b = pool.acquire(a.shape, dtype)
        assert is_aligned(b, alignment)


def test_large_buffers_start_on_a_page():
    pool = BufferPool(large_limit=1 << 16)
    a = pool.acquire(1 << 16, np.uint8)
    assert is_aligned(a, 4096)


def test_zero_fills():
    pool = BufferPool()
    a = pool.acquire((10, 10), np.float64)
    a.fill(7)
    pool.release(a)
    b = pool.acquire((10, 10), np.float64, zero=True)
    assert not np.may_share_memory(a, b) or b.sum() == 0
    np.testing.assert_array_equal(b, 0)


def test_distinct_buffers_never_overlap():
    pool = BufferPool()
    arrs = [pool.acquire(n, np.uint8) for n in (0, 1, 100, 5000, 1 << 20, 100, 1)]
    for i, a in enumerate(arrs):
        for b in arrs[i + 1:]:
            assert not np.may_share_memory(a, b)


def test_released_buffer_is_reused_and_views_are_fresh():
    pool = BufferPool()
    a = pool.acquire((4, 4))
    addr = a.__array_interface__["data"][0]
    pool.release(a)
    b = pool.acquire((2, 8))  # same byte size: the same buffer, a new array object
    assert b is not a and b.__array_interface__["data"][0] == addr and b.shape == (2, 8)


# -- tiers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("small, large, cases", [
    (1024, 1 << 20, {0: "small", 1023: "small", 1024: "medium", (1 << 20) - 1: "medium",
                     1 << 20: "large", (1 << 20) + 1: "large"}),
    (100, 1000, {99: "small", 100: "medium", 999: "medium", 1000: "large"}),
    (64, 64, {63: "small", 64: "large"}),
    (0, 50, {0: "medium", 49: "medium", 50: "large"}),
])
def test_tier_boundaries_are_exact(small, large, cases):
    pool = BufferPool(small_limit=small, large_limit=large, max_bytes=1 << 30)
    for n, want in cases.items():
        assert pool.tier(n) == want, n
        before = stats_dict(pool)
        pool.release(pool.acquire(n, np.uint8))
        after = stats_dict(pool)
        for t in ("small", "medium", "large"):
            assert after[f"{t}_count"] - before[f"{t}_count"] == (t == want), (n, t)


def test_small_tier_serves_exact_sizes_only():
    pool = BufferPool(small_limit=100, large_limit=1000)
    pool.release(pool.acquire(10, np.uint8))
    pool.acquire(9, np.uint8)  # a 10-byte buffer fits within 2x, but small buffers match exactly
    s = pool.stats()
    assert (s.hits, s.misses, s.small_count) == (0, 2, 1)
    pool.acquire(10, np.uint8)
    assert pool.stats().hits == 1


def test_never_more_than_twice_the_request():
    pool = BufferPool(small_limit=100, large_limit=1000)
    for size in (500, 2000):
        pool.release(pool.acquire(size, np.uint8))
    pool.acquire(249, np.uint8)  # 500 > 2 * 249: not served
    pool.acquire(999, np.uint8)  # 2000 > 2 * 999, and a different tier
    assert pool.stats().hits == 0
    a = pool.acquire(250, np.uint8)  # 500 == 2 * 250: served
    b = pool.acquire(1000, np.uint8)  # 2000 == 2 * 1000: served
    assert pool.stats().hits == 2 and a.nbytes == 250 and b.nbytes == 1000


def test_best_fit_takes_the_smallest_fitting_buffer():
    pool = BufferPool(small_limit=10, large_limit=1 << 20)
    arrs = [pool.acquire(n, np.uint8) for n in (700, 400, 500, 300)]
    for a in arrs:
        pool.release(a)
    b = pool.acquire(350, np.uint8)
    assert pool.stats().reserved_bytes == 1900 + 400
    base = {a.__array_interface__["data"][0]: a.nbytes for a in arrs}
    assert base[b.__array_interface__["data"][0]] == 400


# -- exact statistics --------------------------------------------------------------------------
def test_scripted_statistics():
    pool = BufferPool(max_bytes=2600, small_limit=100, large_limit=1000)
    assert pool.stats() == PoolStats(0, 0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    a = pool.acquire(10, np.uint8)  # miss, small
    b = pool.acquire((5, 25), np.float32)  # miss, 500 B, medium
    c = pool.acquire(2000, np.uint8)  # miss, large
    s = pool.stats()
    assert (s.hits, s.misses, s.requested_bytes, s.reserved_bytes) == (0, 3, 2510, 2510)
    assert (s.in_use_bytes, s.idle_bytes, s.peak_bytes, s.in_use_count) == (2510, 0, 2510, 3)
    for x in (a, b, c):
        pool.release(x)
    s = pool.stats()
    assert (s.in_use_bytes, s.idle_bytes, s.in_use_count) == (0, 2510, 0)
    assert (s.small_count, s.medium_count, s.large_count) == (1, 1, 1)

    d = pool.acquire(300, np.uint8)  # hit: the 500 B buffer (<= 2 x 300)
    s = pool.stats()
    assert (s.hits, s.misses, s.bytes_saved) == (1, 3, 300)
    assert (s.requested_bytes, s.reserved_bytes) == (2810, 3010)
    assert (s.in_use_bytes, s.idle_bytes, s.medium_count) == (500, 2010, 0)
    assert s.hit_rate == 0.25

    e = pool.acquire(9, np.uint8)  # miss: small buffers are matched exactly
    f = pool.acquire(999, np.uint8)  # miss: no medium buffer idle
    g = pool.acquire(1000, np.uint8)  # hit: the 2000 B buffer, exactly 2x
    s = pool.stats()
    assert (s.hits, s.misses, s.bytes_saved) == (2, 5, 1300)
    assert (s.requested_bytes, s.reserved_bytes) == (2810 + 9 + 999 + 1000, 3010 + 9 + 999 + 2000)
    assert (s.in_use_bytes, s.idle_bytes) == (500 + 9 + 999 + 2000, 10)
    assert s.peak_bytes == 2510 + 9 + 999  # the most ever held: after f, before g's hit
    assert (s.small_count, s.medium_count, s.large_count, s.in_use_count) == (1, 0, 0, 4)

    # releasing d, e, f (idle 10 + 500 + 9 + 999 = 1518) then g (2000): 3518 > 2600, so the
    # oldest go first: the 10 B (released first of all), then 500, 9 and 999 B, leaving 2000.
    for x in (d, e, f, g):
        pool.release(x)
    s = pool.stats()
    assert (s.evictions, s.idle_bytes) == (4, 2000)
    assert (s.small_count, s.medium_count, s.large_count) == (0, 0, 1)
    assert s.peak_bytes == 3518

    pool.clear()
    s = pool.stats()
    assert (s.idle_bytes, s.small_count, s.medium_count, s.large_count) == (0, 0, 0, 0)
    assert (s.hits, s.misses, s.evictions, s.peak_bytes) == (2, 5, 4, 3518)
    h = pool.acquire(1000, np.uint8)  # the cleared buffer is gone: a miss
    assert pool.stats().misses == 6 and pool.stats().in_use_bytes == 1000
    pool.release(h)


def test_clear_zeroes_idle_figures_and_keeps_in_use():
    pool = BufferPool()
    kept = pool.acquire((100, 100))
    for n in (10, 5000, 2 << 20):
        pool.release(pool.acquire(n, np.uint8))
    assert pool.stats().idle_bytes > 0
    pool.clear()
    s = pool.stats()
    assert (s.idle_bytes, s.small_count, s.medium_count, s.large_count) == (0, 0, 0, 0)
    assert s.in_use_bytes == kept.nbytes and s.in_use_count == 1
    pool.release(kept)  # still releasable after clear()
    s = pool.stats()
    assert (s.in_use_bytes, s.idle_bytes, s.medium_count) == (0, kept.nbytes, 1)
    pool.clear()
    pool.clear()
    assert pool.stats().idle_bytes == 0


def test_buffer_bigger_than_max_bytes_is_evicted_on_release():
    pool = BufferPool(max_bytes=1000)
    pool.release(pool.acquire(1001, np.uint8))
    s = pool.stats()
    assert (s.evictions, s.idle_bytes, s.large_count + s.medium_count) == (1, 0, 0)
    pool0 = BufferPool(max_bytes=0)
    pool0.release(pool0.acquire(0, np.uint8))  # a 0-byte buffer fits max_bytes=0
    assert pool0.stats().evictions == 0 and pool0.stats().small_count == 1


class Model:
    """The pool's documented behaviour, written independently: a list of idle buffers."""

    def __init__(self, max_bytes, small, large):
        self.max_bytes, self.small, self.large = max_bytes, small, large
        self.idle = []  # (release seq, size), oldest first
        self.seq = 0
        self.c = dict.fromkeys(["hits", "misses", "evictions", "requested_bytes",
                                "reserved_bytes", "bytes_saved", "peak_bytes"], 0)
        self.in_use = []

    def tier(self, n):
        return "small" if n < self.small else "large" if n >= self.large else "medium"

    def acquire(self, n):
        t = self.tier(n)
        fits = [(size, -seq, i) for i, (seq, size) in enumerate(self.idle)
                if self.tier(size) == t and (size == n if t == "small" else n <= size <= 2 * n)]
        c = self.c
        if fits:
            size, _, i = min(fits)
            del self.idle[i]
            c["hits"] += 1
            c["bytes_saved"] += n
        else:
            size = n
            c["misses"] += 1
            held = sum(self.in_use) + sum(s for _, s in self.idle) + n
            c["peak_bytes"] = max(c["peak_bytes"], held)
        c["requested_bytes"] += n
        c["reserved_bytes"] += size
        self.in_use.append(size)
        return size

    def release(self, size):
        self.in_use.remove(size)
        self.seq += 1
        self.idle.append((self.seq, size))
        while sum(s for _, s in self.idle) > self.max_bytes:
            self.idle.pop(0)
            self.c["evictions"] += 1

    def stats(self):
        d = dict(self.c)
        total = d["hits"] + d["misses"]
        d["hit_rate"] = d["hits"] / total if total else 0.0
        d["in_use_bytes"] = sum(self.in_use)
        d["idle_bytes"] = sum(s for _, s in self.idle)
        d["in_use_count"] = len(self.in_use)
        for t in ("small", "medium", "large"):
            d[f"{t}_count"] = sum(self.tier(s) == t for _, s in self.idle)
        return d


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.sampled_from(
    [0, 1, 7, 8, 63, 64, 65, 100, 127, 128, 200, 255, 256, 300, 511, 512, 1000])), max_size=80),
    max_bytes=st.sampled_from([0, 300, 1000, 5000]))
def test_statistics_match_a_model(ops, max_bytes):
    pool = BufferPool(max_bytes=max_bytes, small_limit=64, large_limit=256, alignment=16)
    model = Model(max_bytes, 64, 256)
    held = []
    for is_acquire, n in ops:
        if is_acquire or not held:
            arr = pool.acquire(n, np.uint8)
            size = model.acquire(n)
            held.append((arr, size))
        else:
            arr, size = held.pop(n % len(held))
            pool.release(arr)
            model.release(size)
        assert stats_dict(pool) == model.stats()


# -- bad releases ------------------------------------------------------------------------------
def test_bad_releases_raise_and_change_nothing():
    pool = BufferPool()
    a = pool.acquire((8, 8))
    b = pool.acquire(3000, np.uint8)
    pool.release(b)
    before = stats_dict(pool)
    bad = {
        "foreign": np.zeros((8, 8), np.float32),
        "view": a[1:],
        "whole view": a[:],
        "reshaped": a.reshape(-1),
        "transposed": a.T,
        "released": b,
    }
    for what, x in bad.items():
        with pytest.raises(ValueError, match="arr:"):
            pool.release(x)
        assert stats_dict(pool) == before, what
    with pytest.raises(TypeError, match="arr:"):
        pool.release([1, 2])
    assert stats_dict(pool) == before
    pool.release(a)  # the real one still works, once
    with pytest.raises(ValueError, match="released twice"):
        pool.release(a)
    other = BufferPool()
    c = other.acquire(4)
    with pytest.raises(ValueError, match="not an array handed out"):
        pool.release(c)
    other.release(c)


def test_stale_reference_is_refused_after_reuse():
    pool = BufferPool()
    a = pool.acquire(16)
    pool.release(a)
    b = pool.acquire(16)  # the same buffer, a new array
    with pytest.raises(ValueError, match="stale"):
        pool.release(a)
    pool.release(b)


def test_borrow_releases_on_exit_and_on_error():
    pool = BufferPool()
    with pool.borrow((3, 3), np.float64) as x:
        assert x.shape == (3, 3) and pool.stats().in_use_count == 1
    assert pool.stats().in_use_count == 0
    with pytest.raises(RuntimeError), pool.borrow(5) as y:
        y[:] = 1
        raise RuntimeError
    s = pool.stats()
    assert (s.in_use_count, s.hits, s.misses) == (0, 0, 2)


@pytest.mark.parametrize("kwargs, exc", [
    (dict(max_bytes=-1), ValueError), (dict(max_bytes=1.5), TypeError),
    (dict(small_limit=-1), ValueError), (dict(large_limit=10, small_limit=20), ValueError),
    (dict(alignment=48), ValueError), (dict(alignment=0), ValueError),
    (dict(alignment=True), TypeError),
])
def test_bad_construction(kwargs, exc):
    with pytest.raises(exc, match=next(iter(kwargs)) if exc is TypeError else None):
        BufferPool(**kwargs)


@pytest.mark.parametrize("shape, dtype, exc, word", [
    ((-1, 2), np.float32, ValueError, "shape"), ((2.5,), np.float32, TypeError, "shape"),
    ("ab", np.float32, TypeError, "shape"), (None, np.float32, TypeError, "shape"),
    ((2,), object, TypeError, "dtype"), ((2,), "nonsense", TypeError, "dtype"),
])
def test_bad_requests_change_nothing(shape, dtype, exc, word):
    pool = BufferPool()
    before = stats_dict(pool)
    with pytest.raises(exc, match=word):
        pool.acquire(shape, dtype)
    assert stats_dict(pool) == before


@pytest.mark.parametrize("shape", [(2.0, 3), (True, 3), 2.0, True, (np.float64(2), 3)])
def test_other_spellings_of_a_cached_shape_are_still_refused(shape):
    """(2.0, 3) == (2, 3) and hashes alike: the request cache must not let it through once the
    int spelling has been seen (every pool, the arena and aligned_empty share the cache)."""
    refused = "^shape: expected an int or a tuple of ints"

    def shows_no_other_exception(info):  # not raised while handling the cache miss
        return info.value.__context__ is None or info.value.__suppress_context__

    pool = BufferPool()
    pool.release(pool.acquire((2, 3)))
    pool.release(pool.acquire(2))
    before = stats_dict(pool)
    with pytest.raises(TypeError, match=refused) as info:
        pool.acquire(shape)
    assert shows_no_other_exception(info)
    assert stats_dict(pool) == before
    arena = Arena(1024)
    arena.alloc((2, 3))
    arena.alloc(2)
    with pytest.raises(TypeError, match=refused) as info:
        arena.alloc(shape)
    assert shows_no_other_exception(info)
    assert arena.used == 64 + 2 * 4  # the second allocation starts 64-aligned
    pool.release(pool.acquire((np.int64(2), 3)))  # NumPy ints are ints: validated, accepted
    aligned_empty((2, 3))
    aligned_empty(2)
    with pytest.raises(TypeError, match=refused) as info:
        aligned_empty(shape)
    assert shows_no_other_exception(info)


def test_list_shapes_and_dtype_spellings():
    pool = BufferPool()
    for dt in (np.float32, "float32", "f4", np.dtype("float32")):
        pool.release(pool.acquire([4, 4], dt))
    s = pool.stats()
    assert (s.hits, s.misses) == (3, 1)


def test_default_pool_is_one_pool():
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(default_pool())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p is default_pool() for p in seen) and isinstance(default_pool(), BufferPool)


def test_many_distinct_sizes_do_not_accumulate():
    pool = BufferPool(max_bytes=1 << 16, small_limit=16, large_limit=1 << 20)
    for n in range(16, 20000, 7):
        pool.release(pool.acquire(n, np.uint8))
    assert len(pool._idle) < 64 + 2 * pool.stats().medium_count + 10


# -- threads -----------------------------------------------------------------------------------
def test_threads_never_share_a_buffer():
    """8 threads x 100k random acquire/release pairs; every holder writes and checks its own
    pattern, so a buffer handed to two threads at once shows up as a corrupted pattern."""
    pool = BufferPool(max_bytes=1 << 16, small_limit=32, large_limit=512)
    n_threads, pairs = 8, 100_000
    sizes = [1, 8, 31, 32, 33, 100, 200, 256, 511, 512, 600, 1000]
    errors, acquired, requested = [], [0] * n_threads, [0] * n_threads
    start = threading.Barrier(n_threads)

    def worker(k):
        rnd = random.Random(k)
        held = []
        acq, rel = pool.acquire, pool.release
        done = 0
        start.wait()
        try:
            while done < pairs:
                if len(held) < 4 and (not held or rnd.random() < 0.5):
                    n = sizes[rnd.randrange(len(sizes))]
                    a = acq(n, np.uint8)
                    tag = (k * 37 + done) % 251 + 1
                    a.fill(tag)
                    held.append((a, tag))
                    acquired[k] += 1
                    requested[k] += n
                else:
                    a, tag = held.pop(rnd.randrange(len(held)))
                    if a.size and not (a[0] == tag and a[-1] == tag and (a == tag).all()):
                        errors.append((k, done))
                    rel(a)
                    done += 1
            for a, _ in held:
                rel(a)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # switch threads often, so holders really interleave
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    s = pool.stats()
    assert s.in_use_bytes == 0 and s.in_use_count == 0
    assert s.hits + s.misses == sum(acquired)
    assert s.requested_bytes == sum(requested)
    assert s.idle_bytes <= pool.max_bytes
    assert s.reserved_bytes >= s.requested_bytes


# -- issue 13: absurd arguments are ValueErrors naming the argument ----------------------------
@pytest.mark.parametrize("call, match", [
    (lambda: BufferPool().acquire((2**40, 2**40)), r"^shape: \(1099511627776, 1099511627776\) "
                                                   r"is larger than NumPy's largest array"),
    (lambda: BufferPool().acquire((0, 2**63)), r"^shape: \(0, 9223372036854775808\) is larger"),
    (lambda: BufferPool().acquire((1,) * 65), r"^shape: 65 dimensions, NumPy allows at most 64"),
    (lambda: Arena(64).alloc((1,) * 65), r"^shape: 65 dimensions"),
    (lambda: aligned_empty((2**62, 4)), r"^shape: \(4611686018427387904, 4\) is larger"),
    (lambda: aligned_empty(1, alignment=2**62), r"^alignment: expected a power of two up to "
                                                r"1073741824 \(1 GiB\), got 4611686018427387904"),
    (lambda: Arena(16, alignment=2**31), r"^alignment: expected a power of two up to"),
    (lambda: BufferPool(alignment=2**40), r"^alignment: expected a power of two up to"),
    (lambda: RingBuffer(2**62, (4,)), r"^capacity, item_shape: the buffer \(capacity, "
                                      r"\*item_shape\): \(4611686018427387904, 4\) is larger"),
    (lambda: RingBuffer(2, (1,) * 64), r"^capacity, item_shape: .*65 dimensions"),
])
def test_absurd_sizes_and_alignments_are_refused_before_allocating(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_is_aligned_takes_any_power_of_two():
    a = aligned_empty(16, np.uint8, alignment=1 << 30)  # the largest allocating alignment
    assert is_aligned(a, 1 << 30) and not is_aligned(a[1:], 2**62)


@pytest.mark.parametrize("dtype", [">f4", ">i8", ">c16", "<f4"])
def test_big_endian_dtypes_everywhere(dtype):
    # issue 13: byte-swapped dtypes are served as asked and hold their values
    values = np.arange(-3, 3).astype(dtype)
    pool = BufferPool()
    a = pool.acquire(6, dtype, zero=True)
    assert a.dtype == np.dtype(dtype) and not a.any()
    a[:] = values
    assert a.tolist() == values.tolist() and a.tobytes() == values.tobytes()
    pool.release(a)
    with pool.borrow(6, dtype) as b:  # the same buffer again
        assert b.dtype == np.dtype(dtype) and b.tolist() == values.tolist()
    arena = Arena(256)
    c = arena.alloc((2, 3), dtype)
    c[:] = values.reshape(2, 3)
    assert c.dtype == np.dtype(dtype) and c.ravel().tolist() == values.tolist()
    d = aligned_empty((2, 3), dtype, alignment=128)
    d[:] = values.reshape(2, 3)
    assert is_aligned(d, 128) and d.dtype == np.dtype(dtype)
    assert d.sum() == values.sum()
