"""Constants and argument helpers shared by the modules of :mod:`wasmpose.quant`.

Array arguments go through :func:`array`: NumPy subclasses are viewed as plain arrays, as
``np.asarray`` does (an ``np.matrix`` keeps its 2-D shape, the result is a plain ndarray), masked
arrays are refused (their mask would be silently ignored), and byte-swapped arrays (``'>f4'`` on
a little-endian machine) are converted to the native byte order before the dtype check.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from wasmpose import _checks

F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I8 = np.dtype(np.int8)
U8 = np.dtype(np.uint8)
FLOATS = (F16, F32, F64)
LITTLE = sys.byteorder == "little"

# dtype -> (full range, storage dtype, zero point of the symmetric scheme)
DTYPES = {
    "int8": (-128, 127, I8, 0),
    "uint8": (0, 255, U8, 128),
    "int4": (-8, 7, I8, 0),
    "uint4": (0, 15, U8, 8),
}
PACKED = ("int4", "uint4")  # stored two a byte by QuantizedTensor

_MAX_INTP = np.iinfo(np.intp).max


def refuse_masked(x, name):
    """``TypeError`` for a masked array: every function here would ignore its mask."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name}: expected a numpy array, got a masked array (its mask would be "
                        f"ignored: pass x.filled(value) or x.compressed())")


def array(x, name, dtypes, **kwargs):
    """``x`` as a plain, native-byte-order ndarray of one of ``dtypes`` (``_checks.as_array``)."""
    refuse_masked(x, name)
    if isinstance(x, np.ndarray):
        if type(x) is not np.ndarray:
            x = np.asarray(x)  # np.matrix and other subclasses: the plain array beneath
        if not x.dtype.isnative:
            x = x.astype(x.dtype.newbyteorder("="))
    return _checks.as_array(x, name, dtypes, **kwargs)


def float32(x, name):
    """``x`` (float16, float32 or float64) as float32."""
    x = array(x, name, FLOATS)
    return x if x.dtype == F32 else x.astype(F32)


def bool_arg(v, name):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(v).__name__}")
    return bool(v)


def describe(v):
    """``repr(v)``, except for ints too long to print (Python refuses above 4300 digits)."""
    if isinstance(v, (numbers.Integral, np.integer)) and abs(int(v)) >= 10**20:
        digits = int(abs(int(v)).bit_length() * math.log10(2)) + 1
        return f"an int of about {digits} digits"
    return repr(v)


def real_in(x, name, lo, hi, *, lo_open=True):
    """``x`` as a float in ``(lo, hi]`` (``[lo, hi]`` when not ``lo_open``).

    Ints too large for a float are out of range (a ``ValueError``, not an ``OverflowError``).
    """
    want = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
    try:
        v = _checks.real_scalar(x, name, allow_inf=False)
    except (OverflowError, _checks.FloatRangeError):
        raise ValueError(f"{name}: expected a value in {want}, got {describe(x)}") from None
    if not ((lo < v) if lo_open else (lo <= v)) or v > hi:
        raise ValueError(f"{name}: expected a value in {want}, got {v}")
    return v


def norm_axis(axis, ndim, name="axis"):
    """``axis`` in ``[-ndim, ndim)`` as a non-negative int."""
    a = _checks.integer(axis, name)
    if ndim == 0:
        raise ValueError(f"{name}: expected None for a 0-D array (it has no axis), got {axis}")
    if not -ndim <= a < ndim:
        raise ValueError(f"{name}: expected a value in [{-ndim}, {ndim - 1}], got "
                         f"{describe(axis)}")
    return a % ndim


def split3(shape, axis):
    """(outer, C, inner) of ``shape`` around ``axis``."""
    return (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))


def contig(x):
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def nan_error(name, x):
    n = int(np.count_nonzero(np.isnan(x)))
    return ValueError(f"{name}: expected no NaN values, got {n} NaN of {x.size}")


def shape_arg(shape, name, itemsize=1):
    """``shape`` (an int or a sequence of ints) as a tuple of non-negative ints.

    The shape must fit an array of ``itemsize``-byte items: at most 64 dimensions and
    ``prod(shape) * itemsize`` within ``intp`` (NumPy cannot make larger arrays).
    """
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(_checks.integer(s, name) for s in shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple of ints, got {type(shape).__name__}") \
            from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: expected non-negative sizes, got {_short(dims)}")
    if len(dims) > 64:
        raise ValueError(f"{name}: expected at most 64 dimensions (NumPy's limit), "
                         f"got {len(dims)}")
    if math.prod(dims) * itemsize > _MAX_INTP:
        raise ValueError(f"{name}: expected at most {_MAX_INTP} bytes of {itemsize}-byte "
                         f"items (NumPy's largest array), got shape {_short(dims)}")
    return dims


def _short(dims):
    r = ", ".join(describe(d) for d in dims) + ("," if len(dims) == 1 else "")
    return f"({r})" if len(r) <= 200 else f"({r[:200]}...)"
