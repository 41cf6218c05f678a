"""aligned_empty, is_aligned and Arena; image kernels writing into pool and arena buffers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import layouts
from wasmpose.errors import ArenaFullError
from wasmpose.image import grayscale, normalize, threshold, to_tensor
from wasmpose.memory import Arena, BufferPool, aligned_empty, is_aligned

DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.float16, np.int32, np.uint32,
          np.float32, np.int64, np.uint64, np.float64, np.complex64, np.complex128,
          np.dtype("<M8[ns]"), np.dtype([("x", "<f4"), ("y", "<i2")])]
ALIGNMENTS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
SHAPES = [(), 0, 1, 3, (7, 5), (2, 0, 3), (33, 17), (3, 700), (64, 64, 3)]


def addr(a):
    return a.__array_interface__["data"][0]


# -- aligned_empty / is_aligned ----------------------------------------------------------------
@pytest.mark.parametrize("alignment", ALIGNMENTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_aligned_empty(alignment, dtype):
    for shape in SHAPES:
        a = aligned_empty(shape, dtype, alignment)
        want = np.empty(shape, dtype)
        assert a.shape == want.shape and a.dtype == want.dtype
        assert a.flags.c_contiguous and a.flags.writeable
        assert addr(a) % alignment == 0 and is_aligned(a, alignment)
        a[...] = np.zeros((), dtype)  # every byte is writable


@given(n=st.integers(0, 5000), log2=st.integers(0, 12))
def test_aligned_empty_any_size(n, log2):
    a = aligned_empty(n, np.uint8, 1 << log2)
    assert a.shape == (n,) and addr(a) % (1 << log2) == 0
    a[:] = 1


def test_is_aligned_checks_the_pointer():
    a = aligned_empty(4096, np.uint8, 4096)
    for k in range(1, 64):
        assert is_aligned(a[k:], 1)
        assert is_aligned(a[k:], 64) == (k % 64 == 0)
        assert is_aligned(a[k:], 16) == (k % 16 == 0)
    assert is_aligned(a[::-1], 1)
    with pytest.raises(TypeError, match="arr"):
        is_aligned([1, 2])
    with pytest.raises(ValueError, match="alignment"):
        is_aligned(a, 24)


@pytest.mark.parametrize("shape", [(), (0,), (1,), (5, 7), (3, 0, 2)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64, np.dtype([("x", "<f4"), ("y", "<i2")])],
                         ids=str)
def test_is_aligned_reads_the_pointer_of_every_layout(shape, dtype):
    """Writable C-contiguous arrays are read through ctypes, the rest through
    ``__array_interface__``: both must give the data pointer."""
    base = aligned_empty(shape, dtype, 4096)
    views = [base, *layouts(base).values(), base[..., 1:]] if base.ndim else [base]
    for v in views:
        for k in range(7):
            assert is_aligned(v, 1 << k) == (addr(v) % (1 << k) == 0)
    assert is_aligned(base, 4096)


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(shape=(-1,)), ValueError, "shape"), (dict(shape=(2.0,)), TypeError, "shape"),
    (dict(shape=(2,), dtype=object), TypeError, "dtype"),
    (dict(shape=(2,), alignment=3), ValueError, "alignment"),
    (dict(shape=(2,), alignment=0), ValueError, "alignment"),
    (dict(shape=(2,), alignment=2.0), TypeError, "alignment"),
])
def test_aligned_empty_bad_input(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        aligned_empty(**kwargs)


# -- Arena ------------------------------------------------------------------------------------
@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_arena_aligns_every_allocation(alignment):
    arena = Arena(4 << 20, alignment=alignment)
    arrays = []
    for dtype in DTYPES:
        for shape in SHAPES:
            a = arena.alloc(shape, dtype)
            assert a.shape == np.empty(shape, dtype).shape and a.dtype == np.dtype(dtype)
            assert a.flags.c_contiguous and a.flags.writeable
            assert addr(a) % alignment == 0
            arrays.append(a)
    sized = [a for a in arrays if a.nbytes]
    for i, a in enumerate(sized):  # allocations never overlap
        for b in sized[i + 1:i + 4]:
            assert not np.may_share_memory(a, b)


def test_arena_accounting_reset_and_high_water():
    arena = Arena(1000, alignment=64)
    assert (arena.capacity, arena.used, arena.high_water) == (1000, 0, 0)
    a = arena.alloc(10, np.uint8)
    assert arena.used == 10
    b = arena.alloc(3, np.float64)  # starts at 64
    assert arena.used == 64 + 24 and addr(b) - addr(a) == 64
    arena.alloc(0, np.uint8)  # an empty allocation still aligns the cursor
    assert arena.used == 128
    arena.reset()
    assert (arena.used, arena.high_water) == (0, 128)
    c = arena.alloc(10, np.uint8)
    assert addr(c) == addr(a)  # the space is reused at once
    big = arena.alloc(900, np.uint8)
    assert arena.used == 964 and arena.high_water == 964
    del big


def test_arena_full():
    arena = Arena(256, alignment=64)
    arena.alloc(200, np.uint8)
    with pytest.raises(ArenaFullError, match="cannot allocate 100 bytes"):
        arena.alloc(100, np.uint8)
    assert arena.used == 200  # a failed allocation takes nothing
    with pytest.raises(MemoryError):
        arena.alloc(57, np.uint8)  # 256 - 200 = 56 bytes left but the next start is 256
    arena.alloc(0, np.uint8)  # fits exactly at the end
    arena.reset()
    arena.alloc(256, np.uint8)  # exactly the capacity
    with pytest.raises(ArenaFullError):
        arena.alloc(1, np.uint8)
    empty = Arena(0)
    assert empty.alloc((0, 5)).shape == (0, 5)
    with pytest.raises(ArenaFullError):
        empty.alloc(1)


def test_arena_scope_nests():
    arena = Arena(4096)
    keep = arena.alloc(100, np.uint8)
    with arena.scope() as same:
        assert same is arena
        arena.alloc(500, np.uint8)
        mark = arena.used
        with arena.scope():
            arena.alloc(1000, np.uint8)
        assert arena.used == mark
    assert arena.used == 100 and arena.high_water == 128 + 512 + 1000
    with pytest.raises(RuntimeError), arena.scope():
        arena.alloc(64, np.uint8)
        raise RuntimeError
    assert arena.used == 100
    keep[:] = 1


@pytest.mark.parametrize("args, kwargs, exc, word", [
    ((-1,), {}, ValueError, "nbytes"), ((1.5,), {}, TypeError, "nbytes"),
    ((64,), dict(alignment=100), ValueError, "alignment"),
])
def test_arena_bad_construction(args, kwargs, exc, word):
    with pytest.raises(exc, match=word):
        Arena(*args, **kwargs)


def test_arena_bad_alloc_changes_nothing():
    arena = Arena(1024)
    arena.alloc(10, np.uint8)
    for shape, dtype in [((-1,), np.uint8), ((2,), object), ("x", np.uint8)]:
        with pytest.raises((TypeError, ValueError)):
            arena.alloc(shape, dtype)
    assert arena.used == 10


# -- kernels write into pool and arena buffers ---------------------------------------------------
@pytest.mark.parametrize("source", ["pool", "arena"])
def test_image_kernels_accept_pool_and_arena_out(source, rng):
    img = rng.integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
    x = rng.random((37, 53), dtype=np.float32)
    pool, arena = BufferPool(), Arena(1 << 20)

    def buf(shape, dtype):
        return pool.acquire(shape, dtype) if source == "pool" else arena.alloc(shape, dtype)

    cases = [
        (lambda out: grayscale(img, out=out), (2, 37, 53), np.uint8),
        (lambda out: threshold(x, 0.5, 1.0, out=out), (37, 53), np.float32),
        (lambda out: normalize(x, out=out), (37, 53), np.float32),
        (lambda out: to_tensor(img, out=out), (2, 3, 37, 53), np.float32),
        (lambda out: to_tensor(img[0], layout="nhwc", out=out), (1, 37, 53, 3), np.float32),
    ]
    for fn, shape, dtype in cases:
        out = buf(shape, dtype)
        got = fn(out)
        assert got is out
        np.testing.assert_array_equal(out, fn(None))
        if source == "pool":
            pool.release(out)
