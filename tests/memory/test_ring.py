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
