"""Fuzzing wasmpose.memory. The defects this suite found there (fixed on main by the memory
helper) are kept as regression cases at the end (``KNOWN``)."""

import io
import json
import math
import os
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz._fuzz import (
    BIG_BYTES,
    Drawn,
    arrays,
    fuzz_settings,
    ints,
    mutated,
    numbers,
    outcome,
)
from wasmpose.memory import (
    Arena,
    ArenaFullError,
    BufferPool,
    RingBuffer,
    aligned_empty,
    is_aligned,
    load_weights,
)

DTYPES = st.one_of(st.sampled_from([np.float32, np.uint8, "f8", ">f4", np.int16, "c8", "?"]),
                   st.sampled_from([None, "x", object, "O", "U3", "V0", 3, np.matrix]))
SHAPES = st.one_of(st.lists(ints(2, 3, 0), max_size=3).map(tuple), ints(4, 0),
                   st.sampled_from([(2**31 + 1, 2**31 + 1), (2**40,), (-1,), (2.5,), "3", None]))


def _big(shape, dtype):
    """Whether ``shape`` x ``dtype`` asks for more than the cap holds (or is not a shape)."""
    try:
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        n = math.prod(int(d) for d in dims)
        return n * np.dtype(dtype).itemsize > BIG_BYTES
    except Exception:  # noqa: BLE001 - not a shape or dtype: nothing big is asked for
        return False


@fuzz_settings()
@given(shape=SHAPES, dtype=DTYPES,
       alignment=ints(64, 1, 16, 4096, 3))
def test_aligned_empty(shape, dtype, alignment):
    kind, a = outcome(lambda: aligned_empty(shape, dtype, alignment), big=_big(shape, dtype))
    if kind == "ok":
        assert is_aligned(a, alignment)
    outcome(lambda: is_aligned(shape, alignment))


@fuzz_settings()
@given(opts=st.fixed_dictionaries({}, optional={
    "max_bytes": ints(1 << 20, 0, 10**30), "small_limit": ints(1024, 0, 1),
    "large_limit": ints(1 << 20, 0, 10**30), "alignment": ints(64, 1, 3, 4096)}),
    requests=st.lists(st.tuples(SHAPES, DTYPES, st.booleans()), min_size=1, max_size=4))
def test_buffer_pool(opts, requests):
    kind, pool = outcome(lambda: BufferPool(**opts))
    if kind == "error":
        return
    for shape, dtype, zero in requests:
        kind, a = outcome(lambda: pool.acquire(shape, dtype, zero=zero),  # noqa: B023
                          big=_big(shape, dtype))
        if kind == "ok":
            if zero:
                assert not np.any(a)
            pool.release(a)
            outcome(lambda: pool.release(a))  # noqa: B023 - a second release is refused
        outcome(lambda: pool.release(np.zeros(3)))
    pool.stats()
    pool.clear()


@fuzz_settings()
@given(nbytes=ints(1024, 0, 64, 10**30), alignment=ints(64, 1, 3, 4096),
       requests=st.lists(st.tuples(SHAPES, DTYPES), min_size=1, max_size=4))
def test_arena(nbytes, alignment, requests):
    kind, arena = outcome(lambda: Arena(nbytes, alignment=alignment),
                          big=isinstance(nbytes, int) and nbytes > BIG_BYTES)
    if kind == "error":
        return
    for shape, dtype in requests:
        try:
            arena.alloc(shape, dtype)
        except (TypeError, ValueError):
            pass
        except ArenaFullError:  # a MemoryError: the documented refusal of a full arena
            pass
    arena.reset()


def _representable(value, dtype):
    """Whether ``value`` survives a cast to ``dtype`` unchanged (the RingBuffer contract)."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        return True  # refused anyway
    with np.errstate(all="ignore"):
        cast = a.astype(dtype, copy=False)
        if np.dtype(dtype).kind == "f":  # rounding is fine, overflow to inf is not
            return bool(np.all(np.isfinite(cast) | ~np.isfinite(a)))
        back = cast.astype(a.dtype)
    return bool(np.all((back == a) | (np.isnan(back) & np.isnan(a))))


@fuzz_settings()
@given(capacity=ints(3, 1, 0, 2**40), item_shape=st.sampled_from([(), (2,), (2, 2), 3, "x"]),
       dtype=st.sampled_from([np.float32, np.int8, np.uint8, np.float64, "O"]), data=st.data())
def test_ring_buffer(capacity, item_shape, dtype, data):
    kind, ring = outcome(lambda: RingBuffer(capacity, item_shape, dtype),
                         big=isinstance(capacity, int) and capacity > 2**20)
    if kind == "error":
        return
    for _ in range(data.draw(st.integers(1, 5))):
        drawn = data.draw(st.one_of(numbers(1.0, 3).map(Drawn), arrays(
            ("f4", "f8", "i1", "i8", ">f4"), shape=st.sampled_from([(), (2,), (2, 2)]))))
        x = drawn.value
        kind, _ = outcome(lambda: ring.push(x), big=drawn.big)  # noqa: B023
        if kind == "ok" and not drawn.big:
            # a value the dtype cannot hold must be refused, never stored as another one
            assert _representable(x, dtype), (x, dtype, ring.latest(1)[0])
            got = ring.latest(1)[0]
            np.testing.assert_array_equal(got, np.broadcast_to(np.asarray(x, dtype), got.shape))
        outcome(lambda: ring.latest(data.draw(st.one_of(st.none(), ints(1, 0, 10**30)))))


# --- crafted weight files -------------------------------------------------------------------
def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz(compressed, **arrays_):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays_)
    return buf.getvalue()


def _safetensors(**arrays_):
    names = {"<f4": "F32", "<f8": "F64", "|u1": "U8", "<i8": "I64"}
    header, blobs, off = {}, [], 0
    for k, a in arrays_.items():
        b = a.tobytes()
        header[k] = {"dtype": names[a.dtype.str], "shape": list(a.shape),
                     "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def _npy_header(header: dict) -> bytes:
    h = repr(header).encode()
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


SAMPLE = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(3, dtype=np.uint8)}
VALID = {
    ".npy": _npy(SAMPLE["w"]),
    ".npz": _npz(False, **SAMPLE),
    ".safetensors": _safetensors(**SAMPLE),
}
VALID_Z = _npz(True, **SAMPLE)


@fuzz_settings()
@given(data=st.data(), suffix=st.sampled_from([".npy", ".npz", ".npz-deflated", ".safetensors",
                                               ".NPY", ".pt"]),
       mmap=st.booleans())
def test_load_weights_crafted_files(data, suffix, mmap):
    key = suffix.lower().replace("-deflated", "")
    raw = VALID_Z if suffix == ".npz-deflated" else VALID.get(key, b"")
    content = data.draw(mutated(raw))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "weights" + suffix.replace("-deflated", ""))
        with open(path, "wb") as f:
            f.write(content)
        kind, got = outcome(lambda: load_weights(path, mmap=mmap))
        if kind == "ok":
            assert isinstance(got, dict) and all(isinstance(v, np.ndarray) for v in got.values())
            if content == raw and key != ".pt":
                want = {"weights": SAMPLE["w"]} if key == ".npy" else SAMPLE
                assert got.keys() == want.keys()
                for k in want:
                    np.testing.assert_array_equal(got[k], want[k])
            del got  # the memory map closes before the directory goes


# --- defects this suite found (fixed on main by the memory helper): regression cases ---------
def _load(name, content):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(content)
        try:
            load_weights(path)
        except ValueError as exc:
            assert path in str(exc), f"the message does not name the file: {exc}"
            return
        raise AssertionError("loaded")


def _ring_stores(dtype, value):
    ring = RingBuffer(2, (), dtype)
    try:
        ring.push(value)
    except (TypeError, ValueError):
        return
    stored = ring.latest(1)[0].item()
    assert stored == value, f"pushed {value!r}, stored {stored!r}"


def _refused(call):
    """``call`` must raise TypeError/ValueError (an absurd argument), not try the allocation."""
    try:
        call()
    except (TypeError, ValueError):
        return
    except MemoryError as exc:
        raise AssertionError(f"tried the allocation: {exc}") from exc
    raise AssertionError("accepted")


KNOWN = {
    "npy shape (0, 2**63): message names the file": lambda: _load("w.npy", _npy_header(
        {"descr": "<f4", "fortran_order": False, "shape": (0, 2**63)})),
    "npy 65 dims: message names the file": lambda: _load("w.npy", _npy_header(
        {"descr": "<f4", "fortran_order": False, "shape": (1,) * 65}) + b"\0" * 4),
    "npy |V0: message names the file": lambda: _load("w.npy", _npy_header(
        {"descr": "|V0", "fortran_order": False, "shape": (3,)})),
    "safetensors shape [0, 2**64]: message names the file": lambda: _load(
        "w.safetensors", (lambda h: struct.pack("<Q", len(h)) + h)(json.dumps(
            {"a": {"dtype": "F32", "shape": [0, 2**64], "data_offsets": [0, 0]}}).encode())),
    "RingBuffer int8 push(300) stores 44": lambda: _ring_stores(np.int8, 300),
    "Arena(0, alignment=2**63) allocates 8 EiB": lambda: _refused(
        lambda: Arena(0, alignment=2**63)),
    "aligned_empty(1, alignment=2**40) allocates 1 TiB": lambda: _refused(
        lambda: aligned_empty(1, np.uint8, 2**40)),
    "RingBuffer float32 push(1e300) stores inf": lambda: _ring_stores(np.float32, 1e300),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_found_memory_defects_stay_fixed(name):
    with np.errstate(all="ignore"):
        KNOWN[name]()
