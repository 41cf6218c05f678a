"""Strategies and the property shared by the fuzz tests.

The property of every public function: for any arguments, either a correct result or a
``TypeError``/``ValueError``; never another exception, never a crash, never an allocation the
inputs do not justify (the fuzz package runs under an address-space cap, see ``conftest.py``).
"Correct" is checked where an oracle is cheap: the kernels' results at a compiled optimisation
level must equal the NumPy reference's (``OptLevel.NONE``), and both levels must refuse the
same arguments with the same exception type.

Profiles: ``WASMPOSE_FUZZ=short`` (default: a few seconds per function, the whole folder in
about a minute) or ``WASMPOSE_FUZZ=long`` (which also selects the ``slow``-marked long tests).
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from wasmpose.cpu import OptLevel, opt_level

PROFILE = os.environ.get("WASMPOSE_FUZZ", "short").strip().lower()
LONG = PROFILE == "long"
# Bytes a call may map beyond the process's size when the fuzz package starts (conftest.py).
# Measured: the whole short profile grew the address space by at most ~300 MiB (Numba compiling
# the few new specialisations, TBB's threads, hypothesis' own data); 1 GiB leaves room for that
# and still catches the defects issue 13 found (1.15 GiB of find_peaks scratch, 16 GiB for an
# unused Gaussian), which a cap makes a MemoryError instead of an OOM kill.
CAP_BYTES = 1 << 30
# Inputs or outputs whose logical size exceeds this may fail with MemoryError: the caller asked
# for more than fits under the cap (huge broadcast views are the usual way to draw them).
BIG_BYTES = CAP_BYTES // 4

# Under CI=true the short profile is derandomised: the same examples every run, so that CI's
# verdict does not depend on the draw (a defect found by a random run is kept as a regression
# test); the long profile, and local runs, explore new examples each time.
_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=list(HealthCheck), derandomize=_CI and not LONG)


def fuzz_settings(short: int = 150, long: int = 5000):
    """Hypothesis settings of a fuzz test: ``short`` examples by default, ``long`` with
    ``WASMPOSE_FUZZ=long``."""
    return settings(max_examples=long if LONG else short, **_COMMON)


# --- numbers --------------------------------------------------------------------------------
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 2.0, 3.0, 255.0, 255.5, 256.0, -1e-45, 1e-308,
                  5e-324, 1e154, 1e300, -1e300, 1e308, 3.4028235e38, 3.5e38, math.nan, math.inf,
                  -math.inf]
ABSURD = [10**400, -10**400, 2**63, 2**64, -2**63 - 1, 10**30, 2**31 + 1, 2**53 + 1, True, False,
          None, "1", b"1", "abc", 1j, 2 + 0j, np.float16(2), np.int8(-3), np.uint64(2**64 - 1),
          np.float64(math.nan), np.array(2.0), np.array([1.0]), np.array([[1.0]]),
          Fraction(1, 3), Fraction(10**400, 3), Decimal("1.5"), [], (), {}, object()]


def numbers(*likely) -> st.SearchStrategy:
    """Any scalar a caller might pass: ``likely`` values and ordinary floats half of the time,
    then special floats, absurd objects, big ints and any float."""
    parts = [st.sampled_from(SPECIAL_FLOATS), st.sampled_from(ABSURD),
             st.integers(-2**70, 2**70), st.floats()]
    ordinary = st.floats(-300, 300, allow_nan=False)
    if likely:
        return st.one_of(st.sampled_from(likely), ordinary, st.sampled_from(likely), ordinary,
                         *parts)
    return st.one_of(ordinary, ordinary, ordinary, *parts)


def ints(*likely) -> st.SearchStrategy:
    """Mostly small ints (``likely`` first), sometimes absurd ones or other objects."""
    return st.one_of(st.sampled_from(likely or (0, 1, 3)), st.integers(-3, 40),
                     st.sampled_from([2**31 + 1, 2**63, 10**30, -2**63, 10**400]),
                     st.sampled_from(ABSURD), st.floats(-5, 50))


def names(*valid) -> st.SearchStrategy:
    """One of the valid option strings (any case), or something else."""
    ok = st.sampled_from(valid)
    upper = st.sampled_from([v.upper() if isinstance(v, str) else v for v in valid])
    return st.one_of(ok, ok, ok, ok, upper,
                     st.sampled_from(["", "none", "x" * 100, None, 0, 1.5, b"abc", ["a"]]),
                     st.text(max_size=6))


# --- arrays ---------------------------------------------------------------------------------
FLOATS = tuple(np.dtype(t) for t in ("f2", "f4", "f8"))
INTS = tuple(np.dtype(t) for t in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"))
ODD = tuple(np.dtype(t) for t in ("?", "c8", "c16", "M8[s]", "m8[s]", "U3", "S3", "O", "V4"))
ALL_DTYPES = FLOATS + INTS + ODD
LAYOUTS = ("c", "c", "c", "fortran", "reversed", "strided", "swapped", "misaligned", "readonly",
           "huge", "list", "scalar-0d", "matrix")


def _elements(dtype: np.dtype):
    if dtype.kind == "f":
        width = {2: 16, 4: 32, 8: 64}[dtype.itemsize]
        return st.one_of(st.sampled_from([x for x in SPECIAL_FLOATS
                                          if width == 64 or abs(x) < 6e4 or not math.isfinite(x)]),
                         st.floats(width=width, allow_subnormal=width != 16),
                         st.floats(-2, 2, width=width))
    return None


def _huge_shape(shape, draw):
    """``shape`` with one axis blown up so the array declares > BIG_BYTES (a broadcast view)."""
    if not shape:
        return shape
    ax = draw(st.integers(0, len(shape) - 1))
    big = list(shape)
    # far beyond the cap, so a copy fails at once instead of spending seconds on a big array
    big[ax] = draw(st.sampled_from([2**31 + 1, 2**36]))
    return tuple(max(s, 1) if i != ax else s for i, s in enumerate(big))


class Drawn:
    """An array argument and whether its logical size is beyond what the cap holds."""

    __slots__ = ("value", "big")

    def __init__(self, value, big=False):
        self.value, self.big = value, big

    def __repr__(self):
        v = self.value
        if isinstance(v, np.ndarray):
            with np.printoptions(threshold=50, precision=17):
                return (f"Drawn({type(v).__name__} {v.dtype.str} shape={v.shape} "
                        f"strides={v.strides} aligned={v.flags.aligned} big={self.big}: {v!r})")
        return f"Drawn({v!r})"


@st.composite
def arrays(draw, dtypes=ALL_DTYPES, *, shape=None, min_dims=0, max_dims=4, max_side=5,
           layouts=LAYOUTS, odd=0.05):
    """A :class:`Drawn` array: one of ``dtypes`` (sometimes any dtype, with probability
    ``odd``), in one of ``layouts`` (byte-swapped, misaligned, strided, read-only, huge
    broadcast views, nested lists, 0-d, ``np.matrix``)."""
    dtypes = tuple(np.dtype(d) for d in dtypes)
    if draw(st.sampled_from([False] * round(1 / odd - 1) + [True])):
        dtypes = ALL_DTYPES
    dtype = draw(st.sampled_from(dtypes))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0,
                                      max_side=max_side)) if max_dims else ()
    elif isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    native = dtype.newbyteorder("=") if dtype.byteorder not in "|=" else dtype
    if native.kind in "OV":
        base = np.empty(shape, native)
        if native.kind == "O":
            base.fill(draw(st.sampled_from([None, 1.0, "x"])))
    else:
        base = draw(hnp.arrays(native, shape, elements=_elements(native)))
    layout = draw(st.sampled_from(layouts))
    return _apply_layout(base, layout, draw)


def _apply_layout(a, layout, draw):
    if layout == "fortran":
        return Drawn(np.asfortranarray(a))
    if layout == "reversed" and a.ndim:
        return Drawn(np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])[
            (slice(None, None, -1),) * a.ndim])
    if layout == "strided" and a.ndim:
        big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
        sl = tuple(slice(None, None, 2) for _ in a.shape)
        big[sl] = a
        return Drawn(big[sl])
    if layout == "swapped" and a.dtype.byteorder != "|" and a.dtype.kind not in "OV":
        return Drawn(a.astype(a.dtype.newbyteorder()))
    if layout == "misaligned" and a.dtype.itemsize > 1 and a.dtype.kind != "O":
        raw = np.zeros(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
        raw[...] = a
        return Drawn(raw)
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return Drawn(a)
    if layout == "huge" and a.ndim:
        shape = _huge_shape(a.shape, draw)
        src = a.reshape(-1)[:1] if a.size else np.zeros(1, a.dtype)
        view = np.broadcast_to(src.reshape((1,) * a.ndim), shape)
        return Drawn(view, big=True)
    if layout == "list" and a.dtype.kind in "biuf" and a.size <= 64:
        return Drawn(a.tolist())
    if layout == "matrix" and a.ndim == 2 and a.dtype.kind in "biuf":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return Drawn(np.asmatrix(a))
    if layout == "scalar-0d":
        return Drawn(a.reshape(-1)[:1].reshape(()) if a.size else np.zeros((), a.dtype))
    return Drawn(a)


def mostly(good, bad, one_in=5):
    """``good`` most of the time, ``bad`` one time in ``one_in``: keeps the share of drawn
    arguments that reach the kernels high when each of several arguments may be hostile."""
    return st.integers(1, one_in).flatmap(lambda i: bad if i == 1 else good)


# --- crafted files --------------------------------------------------------------------------
def mutated(raw: bytes) -> st.SearchStrategy:
    """``raw`` (a valid file's bytes) unchanged, truncated, with a few bytes overwritten, with
    its first 16 bytes kept and the rest random, or random bytes."""
    n = len(raw)
    edits = st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, 255)), min_size=1,
                     max_size=8)
    return st.one_of(st.just(raw), st.integers(0, n).map(lambda k: raw[:k]),
                     edits.map(lambda e: _edit(raw, e)), st.binary(max_size=256),
                     st.binary(max_size=64).map(lambda b: raw[:16] + b))


def _edit(raw, edits):
    b = bytearray(raw)
    for i, v in edits:
        if i < len(b):
            b[i] = v
    return bytes(b)


# --- the property ---------------------------------------------------------------------------
def event(name: str) -> None:
    """Count an outcome in hypothesis' statistics (only possible in the test's own thread)."""
    try:
        _event(name)
    except InvalidArgument:
        pass


ALLOWED = (TypeError, ValueError)
COMPILED = (OptLevel.SERIAL, OptLevel.PARALLEL, OptLevel.FULL)


def _snapshot(r):
    return copy.deepcopy(r) if not isinstance(r, np.ndarray) else r.copy()


def outcome(call, *, big=False, snapshot=False):
    """``("ok", result)`` or ``("error", exc)`` for TypeError/ValueError (and for MemoryError
    when the inputs or outputs are ``big``); any other exception propagates (a failure).
    ``snapshot``: return a copy of the result (kept intact by later calls)."""
    try:
        result = call()
        result = "ok", _snapshot(result) if snapshot else result
        event("result")
        return result
    except ALLOWED as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        event(f"{type(exc).__name__}: {str(exc)[:40]}")
        return "error", exc
    except MemoryError as exc:
        if big:
            event("MemoryError (big inputs)")
            return "error", exc
        raise AssertionError(f"MemoryError on small inputs: {exc}") from exc


def check(call, *, big=False, level=None, rtol=1e-5, atol=0.0, names=None):
    """The property for a kernel: ``call()`` at ``OptLevel.NONE`` and at the compiled
    ``level`` either both raise the same allowed exception type or both return equal results
    (floats within ``rtol``/``atol``, NaN where NaN). ``names``: the function's argument
    names; a TypeError/ValueError must then name one of them."""
    with opt_level(OptLevel.NONE):
        ref = outcome(call, big=big, snapshot=True)
    if names is not None and ref[0] == "error" and not isinstance(ref[1], MemoryError):
        assert any(n in str(ref[1]) for n in names), f"the message names no argument: {ref[1]!r}"
    if level is None:
        return ref
    with opt_level(level):
        got = outcome(call, big=big, snapshot=True)
    if ref[0] == "error" or got[0] == "error":
        if isinstance(ref[1], MemoryError) or isinstance(got[1], MemoryError):
            return ref
        assert ref[0] == got[0] and type(ref[1]) is type(got[1]), (ref, got)
        return ref
    assert_same(got[1], ref[1], rtol=rtol, atol=atol)
    return ref


def assert_same(a, b, *, rtol=1e-5, atol=0.0, path="result"):
    """Recursive equality of results (tuples, lists, dicts, arrays, scalars)."""
    if isinstance(b, (tuple, list)):
        assert isinstance(a, type(b)) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, rtol=rtol, atol=atol, path=f"{path}[{i}]")
        return
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys(), path
        for k in b:
            assert_same(a[k], b[k], rtol=rtol, atol=atol, path=f"{path}[{k!r}]")
        return
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (path, a.shape, b.shape, a.dtype,
                                                           b.dtype)
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=path)
        else:
            np.testing.assert_array_equal(a, b, err_msg=path)
        return
    if isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol,
                                                                 abs_tol=atol), (path, a, b)
        return
    assert a == b, (path, a, b)


def level_strategy():
    return st.sampled_from(COMPILED)
