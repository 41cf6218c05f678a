"""Aligned allocation, and the shape/dtype checks shared by the pool and the arena."""

from __future__ import annotations

import ctypes
import math
import numbers

import numpy as np

from wasmpose._checks import integer

_U8 = np.dtype(np.uint8)
_addressof = ctypes.addressof
_c_char = ctypes.c_char

# (shape, dtype) as the caller spelled them -> (shape tuple, np.dtype, nbytes), read by request():
# a repeated request costs one dict lookup instead of a validation. Only validated requests are
# stored; the cache is bounded. Every spelling of one request maps to the same result tuple
# (interned in _RESULTS), so callers may compare results by identity (the pool's templates).
_SPECS: dict = {}
_RESULTS: dict = {}
_SPECS_MAX = 4096
_MAX_DIMS = 64  # NumPy's NPY_MAXDIMS
_MAX_INTP = np.iinfo(np.intp).max
MAX_ALIGNMENT = 1 << 30  # allocations are over-allocated by alignment - 1 bytes


def size_problem(dims: tuple, itemsize: int) -> str | None:
    """Why NumPy cannot make an array of ``dims`` with items of ``itemsize`` bytes (more than
    64 dimensions, or a byte count past ``intp``; NumPy checks the non-zero sizes even beside a
    0), or ``None``."""
    if len(dims) > _MAX_DIMS:
        return f"{len(dims)} dimensions, NumPy allows at most {_MAX_DIMS}"
    nbytes = max(itemsize, 1)
    for d in dims:
        if d > _MAX_INTP or (d and nbytes * d > _MAX_INTP):
            return f"{dims} is larger than NumPy's largest array ({_MAX_INTP} bytes)"
        nbytes *= d or 1
    return None


def check_alignment(alignment, name: str = "alignment", *, allocating: bool = True) -> int:
    """``alignment`` as an int: a power of two >= 1, at most :data:`MAX_ALIGNMENT` (1 GiB)
    where it is used to allocate (each allocation is ``alignment - 1`` bytes larger)."""
    if type(alignment) is not int:  # exact ints (the usual case) skip the slow ABC check
        alignment = integer(alignment, name)  # TypeError for bools, floats, ...
    if alignment < 1 or alignment & (alignment - 1):
        raise ValueError(f"{name}: expected a power of two, got {alignment}")
    if allocating and alignment > MAX_ALIGNMENT:
        raise ValueError(f"{name}: expected a power of two up to {MAX_ALIGNMENT} (1 GiB), got "
                         f"{alignment}")
    return alignment


def check_shape(shape, name: str = "shape") -> tuple:
    """``shape`` (an int or a sequence of ints, all >= 0) as a tuple of ints."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, (bool, np.bool_)):
        dims = (int(shape),)
    else:
        try:
            dims = tuple(shape)
        except TypeError:
            raise TypeError(f"{name}: expected an int or a tuple of ints, got "
                            f"{type(shape).__name__}") from None
        if any(isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral)
               for d in dims):
            raise TypeError(f"{name}: expected an int or a tuple of ints, got {shape!r}")
        dims = tuple(int(d) for d in dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: expected non-negative sizes, got {dims}")
    return dims


def check_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``dtype`` as a NumPy dtype that holds no Python objects."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name}: expected a numpy dtype, got {dtype!r}") from exc
    if dt.hasobject:
        raise TypeError(f"{name}: expected a dtype without Python objects, got {dt}")
    return dt


def request(shape, dtype) -> tuple[tuple, np.dtype, int]:
    """``(shape tuple, dtype, nbytes)`` of a request, validated: one dict lookup when the same
    request was seen before (the pool's, the arena's and ``aligned_empty``'s hot path).

    ``(2.0, 3) == (2, 3)`` and ``True == 1``, with equal hashes, so a hit counts only for an
    ``int`` or a tuple of exact ``int``; every other spelling (NumPy ints included) is
    validated in full by :func:`spec`.
    """
    try:
        hit = _SPECS[shape, dtype]
        if type(shape) is not int:
            for d in shape:
                if type(d) is not int:
                    raise KeyError  # another spelling of a cached request
        return hit
    except (KeyError, TypeError):  # not seen, unhashable (a list), or another spelling
        pass
    return spec(shape, dtype)


def spec(shape, dtype) -> tuple[tuple, np.dtype, int]:
    """``(shape tuple, dtype, nbytes)`` of a request, validated, and stored for
    :func:`request` (the cache is bounded)."""
    dims = check_shape(shape)
    dt = check_dtype(dtype)
    problem = size_problem(dims, dt.itemsize)
    if problem is not None:
        raise ValueError(f"shape: {problem}")
    result = (dims, dt, math.prod(dims) * dt.itemsize)
    if len(_SPECS) >= _SPECS_MAX:
        _SPECS.clear()
        _RESULTS.clear()
    result = _RESULTS.setdefault(result, result)
    try:
        _SPECS[shape, dtype] = result
    except TypeError:  # unhashable spelling (a list): not cached
        pass
    return result


def address(arr: np.ndarray) -> int:
    """The data pointer of ``arr``.

    Through ctypes for a writable C-contiguous array of at least one byte (a few times
    cheaper), else through ``__array_interface__``, which builds a whole dict.
    """
    try:
        return _addressof(_c_char.from_buffer(arr))
    except (TypeError, ValueError, BufferError):  # read-only, not C-contiguous, or empty
        return arr.__array_interface__["data"][0]


def aligned_bytes(nbytes: int, alignment: int, shape=None, dtype=_U8) -> np.ndarray:
    """An array of ``nbytes`` bytes whose first byte is at a multiple of ``alignment``: 1-D
    uint8 by default, or of ``shape`` and ``dtype`` (which must make ``nbytes``).

    The array is a view into an allocation ``alignment - 1`` bytes larger.
    """
    raw = np.empty(nbytes + alignment - 1, _U8)
    # not raw[skip:skip + nbytes]: NumPy moves the pointer of an empty slice to the start
    return np.ndarray((nbytes,) if shape is None else shape, dtype, raw,
                      -address(raw) % alignment)


def aligned_empty(shape, dtype=np.float32, alignment=64) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts at a multiple of ``alignment``.

    Parameters
    ----------
    shape : int or tuple of int
    dtype : data-type, default float32
    alignment : int, default 64
        A power of two, in bytes (64 is a cache line and an AVX-512 register).

    Returns
    -------
    ndarray, shape ``shape``
        Writable, C-contiguous, ``is_aligned(result, alignment)``; it owns no memory of its own
        (its ``base`` is the over-allocated byte buffer).

    Examples
    --------
    >>> a = aligned_empty((3, 5), np.float64, alignment=256)
    >>> a.shape, a.dtype, is_aligned(a, 256), a.flags.c_contiguous
    ((3, 5), dtype('float64'), True, True)
    """
    dims, dt, nbytes = request(shape, dtype)
    return aligned_bytes(nbytes, check_alignment(alignment), dims, dt)


def is_aligned(arr, alignment=64) -> bool:
    """Whether the data pointer of ``arr`` is a multiple of ``alignment``.

    Only the address of the first element is checked (not contiguity or strides).

    Parameters
    ----------
    arr : ndarray, any shape and dtype
        Only its data pointer is looked at.
    alignment : int, default 64
        A power of two, in bytes.

    Examples
    --------
    >>> a = aligned_empty(100, np.uint8, alignment=64)
    >>> is_aligned(a, 64), is_aligned(a[1:], 64), is_aligned(a[1:], 1)
    (True, False, True)
    """
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"arr: expected a numpy array, got {type(arr).__name__}")
    return address(arr) % check_alignment(alignment, allocating=False) == 0
