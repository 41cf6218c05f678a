"""RingBuffer: order, wrap-around, copies, dtype casting, bad input, threads."""

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmpose.memory import RingBuffer


@given(capacity=st.integers(1, 9), pushes=st.integers(0, 30), n=st.none() | st.integers(0, 12))
def test_latest_matches_a_list(capacity, pushes, n):
    rb = RingBuffer(capacity, (2, 3), np.float64)
    items = [np.full((2, 3), i, np.float64) + np.arange(6).reshape(2, 3) for i in range(pushes)]
    for it in items:
        rb.push(it)
    assert len(rb) == min(pushes, capacity)
    kept = items[-capacity:] if items else []
    want = kept if n is None else kept[len(kept) - min(n, len(kept)):]
    got = rb.latest(n)
    assert got.shape == (len(want), 2, 3) and got.dtype == np.float64
    np.testing.assert_array_equal(got, np.array(want).reshape(-1, 2, 3))


def test_latest_is_a_copy_and_push_copies():
    rb = RingBuffer(2, (3,))
    x = np.ones(3, np.float32)
    rb.push(x)
    x[:] = 7
    got = rb.latest()
    got[:] = 5
    np.testing.assert_array_equal(rb.latest(), [[1, 1, 1]])


def test_clear_and_scalar_items():
    rb = RingBuffer(4, (), np.int64)
    for i in range(6):
        rb.push(i)
    np.testing.assert_array_equal(rb.latest(), [2, 3, 4, 5])
    rb.clear()
    assert len(rb) == 0 and rb.latest().shape == (0,)
    rb.push(9)
    np.testing.assert_array_equal(rb.latest(), [9])


@pytest.mark.parametrize("args, exc, word", [
    ((0, (2,)), ValueError, "capacity"),
    ((2.5, (2,)), TypeError, "capacity"),
    ((True, (2,)), TypeError, "capacity"),
    ((2, (-1,)), ValueError, "item_shape"),
    ((2, "ab"), TypeError, "item_shape"),
    ((2, (2,), object), TypeError, "dtype"),
])
def test_bad_construction(args, exc, word):
    with pytest.raises(exc, match=word):
        RingBuffer(*args)


def test_bad_push_and_latest():
    rb = RingBuffer(2, (2,), np.int32)
    with pytest.raises(ValueError, match="x: expected shape"):
        rb.push(np.zeros(3))
    with pytest.raises(TypeError, match="x: expected values castable"):
        rb.push(np.zeros(2, np.float64))
    with pytest.raises(ValueError, match="n:"):
        rb.latest(-1)
    with pytest.raises(TypeError, match="n:"):
        rb.latest(1.5)
    assert len(rb) == 0  # failed pushes store nothing


def test_push_casts_other_spellings_of_the_dtype_by_value():
    """Items of the buffer's own dtype skip the cast check; every other dtype still goes
    through it and is stored by value (byte order, a narrower kind, Python scalars)."""
    rb = RingBuffer(4, (3,), np.float64)
    rb.push(np.array([1.5, -2.0, 3.0], ">f8"))
    rb.push(np.array([1, 2, 3], np.int16))
    rb.push(np.array([0.25, 0.5, 0.75], np.float32))
    rb.push([7, 8, 9])
    np.testing.assert_array_equal(
        rb.latest(), [[1.5, -2.0, 3.0], [1, 2, 3], [0.25, 0.5, 0.75], [7, 8, 9]])
    with pytest.raises(TypeError, match="x: expected values castable to float64"):
        rb.push(np.array([1j, 2, 3]))
    assert len(rb) == 4


def test_threads_push_whole_items():
    rb = RingBuffer(64, (16,), np.int64)

    def work(k):
        for _ in range(2000):
            rb.push(np.full(16, k))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    got = rb.latest()
    assert got.shape == (64, 16)
    assert (got == got[:, :1]).all()  # no torn items


@pytest.mark.parametrize("dtype, value, problem", [
    (np.int8, 300, "the value 300 does not fit the buffer's dtype int8"),  # stored 44
    (np.int8, -129, "the value -129 does not fit"),
    (np.uint8, -1, "the value -1 does not fit the buffer's dtype uint8"),
    (np.int64, np.uint64(2**63), "the value 9223372036854775808 does not fit"),
    (np.int8, 2**70, "the value 1180591620717411303424 does not fit"),
    (np.float32, 1e300, "the value 1e\\+300 overflows the buffer's dtype float32"),  # stored inf
    (np.float16, np.float32(7e4), "the value 70000.0 overflows the buffer's dtype float16"),
    (np.dtype("U3"), "abcd", "the value 'abcd' does not fit"),
])
def test_push_refuses_values_the_cast_would_change(dtype, value, problem):
    # issue 13: RingBuffer(2, (), np.int8).push(300) stored 44, float32 push(1e300) stored inf
    rb = RingBuffer(2, (), dtype)
    with pytest.raises(ValueError, match="x: " + problem):
        rb.push(value)
    assert len(rb) == 0
    if np.asarray(value).dtype.hasobject:
        return
    rb = RingBuffer(2, (3,), dtype)
    good = np.zeros((), dtype).item()
    with pytest.raises(ValueError, match=r"at index \(1,\)"):
        rb.push(np.array([good, value, good], dtype=np.asarray(value).dtype))
    assert len(rb) == 0


def test_push_keeps_values_that_survive_the_cast():
    rb = RingBuffer(8, (), np.int8)
    for v in (127, -128, np.int64(5), np.uint64(7), True):
        rb.push(v)
    assert rb.latest().tolist() == [127, -128, 5, 7, 1]
    rb = RingBuffer(8, (), np.uint8)
    rb.push(255)
    rb.push(np.int16(3))
    assert rb.latest().tolist() == [255, 3]
    rb = RingBuffer(8, (), np.float32)
    for v in (np.inf, -np.inf, np.nan, 0.1, 3e38, np.float64(-3.4028234e38)):
        rb.push(v)  # infinities and NaN stay what they were; precision is rounded
    got = rb.latest()
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2])
    assert got[3] == np.float32(0.1) and got[4] == np.float32(3e38)
    assert np.isfinite(got[5])


@pytest.mark.parametrize("buffer_dtype", ["<f4", ">f4", "<i4", ">i4"])
def test_big_endian_items_and_buffers(buffer_dtype):
    # issue 13: byte-swapped items and buffers store and return the same values
    rb = RingBuffer(3, (2,), buffer_dtype)
    for i in range(4):
        rb.push(np.array([i, -i], ">" + buffer_dtype[1:]))
        rb.push(np.array([10 * i, 1], "<" + buffer_dtype[1:]))
    got = rb.latest()
    assert got.dtype == np.dtype(buffer_dtype)
    assert got.tolist() == [[20, 1], [3, -3], [30, 1]]
    with pytest.raises(ValueError, match="x: the value"):
        RingBuffer(1, (), ">i1" if "i" in buffer_dtype else ">f2").push(
            np.array(1e6, ">" + buffer_dtype[1:]))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_narrowing_floats_refuse_exactly_what_rounds_to_infinity(dtype):
    big = np.finfo(dtype).max
    ulp = float(big) - float(np.nextafter(big, dtype(0)))
    rb = RingBuffer(4, (), dtype)
    below = np.nextafter(float(big) + ulp / 2, 0.0)  # the largest float64 that rounds to max
    rb.push(below)
    rb.push(-below)
    assert rb.latest().tolist() == [float(big), -float(big)]
    for v in (float(big) + ulp / 2, -(float(big) + ulp / 2)):
        with pytest.raises(ValueError, match="overflows"):
            rb.push(v)
    with np.errstate(over="ignore"):  # what was refused would have become infinity
        assert np.isposinf(np.float64(float(big) + ulp / 2).astype(dtype))
    assert len(rb) == 2
