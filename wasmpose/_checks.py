"""Input validation shared by the public functions.

Public functions validate in Python and hand Numba kernels only C-contiguous arrays of the
expected dtype and rank, so the kernels cannot read or write out of bounds.
Every message names the argument, what was expected and what was given.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np


def _dtype_names(dtypes: Iterable[np.dtype]) -> str:
    names = [np.dtype(d).name for d in dtypes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def as_array(x, name: str, dtypes: tuple, *, min_ndim: int = 0, max_ndim: int | None = None,
             ndim_text: str | None = None) -> np.ndarray:
    """``x`` as an ndarray of one of ``dtypes`` with a rank in ``[min_ndim, max_ndim]``.

    Array-likes are converted with ``np.asarray``; the dtype is never silently changed, except
    that a byte-swapped array of an accepted dtype (``'>f4'`` on a little-endian machine) is
    converted to native byte order (same values), a misaligned array is copied to aligned
    memory, and ndarray subclasses (``np.matrix``) are viewed as plain arrays.
    """
    if type(x) is not np.ndarray and isinstance(x, np.ndarray):
        x = np.asarray(x)  # subclasses (np.matrix stays 2-D when reshaped): the plain array
    if not isinstance(x, np.ndarray):
        if x is None or isinstance(x, (str, bytes, dict)):
            raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except Exception as exc:  # noqa: BLE001
            raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}") from exc
    if x.dtype not in dtypes:
        native = x.dtype.newbyteorder("=")
        if x.dtype.isnative or native not in dtypes:
            raise TypeError(f"{name}: expected dtype {_dtype_names(dtypes)}, got {x.dtype}")
        x = x.astype(native)  # byte-swapped ('>f4' on a little-endian host): same values, native
    if not x.flags.aligned:
        x = x.copy()  # misaligned views (e.g. of a byte buffer at an odd offset): kernels want
        # aligned memory, and Numba compiles a separate specialisation for unaligned arrays
    if x.ndim < min_ndim or (max_ndim is not None and x.ndim > max_ndim):
        want = ndim_text or (f"{min_ndim}-D" if max_ndim == min_ndim else
                             f"at least {min_ndim}-D" if max_ndim is None else
                             f"{min_ndim}-D to {max_ndim}-D")
        raise ValueError(f"{name}: expected a {want} array, got shape {x.shape}")
    return x


def check_out(out, name: str, shape: tuple, dtype) -> np.ndarray:
    """Validate an ``out=`` argument: an ndarray of exactly ``shape`` and ``dtype``, writable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or None, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype).name}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: expected a writable array, got a read-only one")
    return out


def output_buffer(out, name: str, shape: tuple, dtype, inputs=()) -> tuple[np.ndarray, bool]:
    """A C-contiguous buffer to compute into, and whether it must be copied into ``out`` after.

    With ``out=None`` a new array is allocated. A C-contiguous ``out`` that does not overlap any
    of ``inputs`` is written directly; otherwise the kernel writes a temporary that is copied.
    """
    if out is None:
        return np.empty(shape, dtype), False
    check_out(out, name, shape, dtype)
    if out.flags.c_contiguous and not any(np.may_share_memory(out, a) for a in inputs):
        return out, False
    return np.empty(shape, dtype), True


class FloatRangeError(ValueError):
    """An int (or fraction) beyond the float range where a real number was expected; callers
    with a narrower range of their own catch it to phrase their message."""


def real_scalar(x, name: str, *, allow_nan: bool = False, allow_inf: bool = True) -> float:
    """``x`` as a Python float; bools, complex numbers and arrays are rejected.

    Integers beyond the float range (``10**400``) raise ``ValueError`` rather than Python's
    ``OverflowError``: they have no float value to compute with.
    """
    real = (numbers.Real, np.integer, np.floating)
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, real):
        if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iuf":
            x = x.item()
        else:
            raise TypeError(f"{name}: expected a real number, got {type(x).__name__}")
    try:
        v = float(x)
    except OverflowError:
        raise FloatRangeError(f"{name}: expected a number within the float range (|x| < 1.8e308), "
                         f"got one of about 2**{int(x).bit_length()}") from None
    if math.isnan(v) and not allow_nan:
        raise ValueError(f"{name}: expected a number, got nan")
    if math.isinf(v) and not allow_inf:
        raise ValueError(f"{name}: expected a finite number, got {v}")
    return v


def integer(x, name: str, *, minimum: int | None = None, odd: bool = False,
            allow_none: bool = False) -> int | None:
    """``x`` as a Python int (``None`` passes through when ``allow_none``).

    Bools and floats are rejected (``TypeError``); values below ``minimum``, or even values
    when ``odd``, raise ``ValueError``. The message reads e.g.
    ``"window: expected an odd int >= 1, got 4"``.
    """
    if x is None and allow_none:
        return None
    what = "an odd int" if odd else "an int"
    if minimum is not None:
        what += f" >= {minimum}"
    if allow_none:
        what += " or None"
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected {what}, got {type(x).__name__}")
    v = int(x)
    if (minimum is not None and v < minimum) or (odd and v % 2 == 0):
        raise ValueError(f"{name}: expected {what}, got {v}")
    return v


def choice(x, name: str, options: tuple[str, ...]) -> str:
    """``x`` as one of the strings ``options`` (case-insensitive)."""
    if not isinstance(x, str):
        raise TypeError(f"{name}: expected one of {options}, got {type(x).__name__}")
    v = x.lower()
    if v not in options:
        raise ValueError(f"{name}: expected one of {options}, got {x!r}")
    return v


# ---------------------------------------------------------------------------------------------
# Poses and per-pose values (keypoints and tracking)
# ---------------------------------------------------------------------------------------------
COORDS = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64))
"""The dtypes accepted for coordinates, areas, scores and sigmas (computed in float64)."""


def points(x, name: str, ndim_text: str, ndim: int, last: tuple | None = None) -> np.ndarray:
    """``x`` as a float64 array of rank ``ndim`` whose last axis is one of ``last``."""
    x = as_array(x, name, COORDS, min_ndim=ndim, max_ndim=ndim, ndim_text=ndim_text)
    if last is not None and x.shape[-1] not in last:
        want = " or ".join(str(c) for c in last)
        raise ValueError(f"{name}: expected {want} values per keypoint in the last axis "
                         f"{ndim_text}, got shape {x.shape}")
    return x.astype(np.float64, copy=False)


def per_item(x, name: str, n: int, what: str, *, allow_inf: bool = True) -> np.ndarray:
    """``x`` as a float64 ``(n,)`` array of non-negative values (NaN rejected)."""
    x = as_array(x, name, COORDS, min_ndim=1, max_ndim=1, ndim_text="1-D")
    if x.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values (one per {what}), got shape {x.shape}")
    x = x.astype(np.float64, copy=False)
    bad = ~(x >= 0) if allow_inf else ~((x >= 0) & np.isfinite(x))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "non-negative" if allow_inf else "finite non-negative"
        raise ValueError(f"{name}: expected {need} values, got {x[i]} at index {i}")
    return x


def oks_variances(sigmas, k: int | None = None) -> np.ndarray:
    """pycocotools' ``vars = (sigmas * 2) ** 2`` of checked OKS ``sigmas`` (for ``k``
    keypoints, when given): C-contiguous float64 ``(K,)``."""
    s = as_array(sigmas, "sigmas", COORDS, min_ndim=1, max_ndim=1, ndim_text="1-D")
    if k is not None and s.shape[0] != k:
        raise ValueError(f"sigmas: expected {k} values (one per keypoint of the poses), "
                         f"got shape {s.shape}")
    s = s.astype(np.float64, copy=False)
    if s.shape[0] == 0:
        raise ValueError("sigmas: expected at least one keypoint, got shape (0,)")
    if not (np.isfinite(s) & (s > 0)).all():
        raise ValueError(f"sigmas: expected positive finite values, got {s}")
    with np.errstate(over="ignore", under="ignore"):
        var = np.ascontiguousarray((s * 2) ** 2)
    if not (np.isfinite(var) & (var > 0)).all():  # sigmas beyond ~1e153 or below ~1e-162
        raise ValueError(f"sigmas: expected values whose (2 * sigma)**2 is a positive finite "
                         f"float64, got {s}")
    return var
