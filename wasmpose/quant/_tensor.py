"""``QuantizedTensor``: quantised integers with their parameters, and its ``.npz`` file format.

A file is an uncompressed ``.npz`` (as ``np.savez`` writes it) of plain arrays: the fields of
``_FIELDS`` and a SHA-256 digest of them. :meth:`QuantizedTensor.load` never unpickles and never
trusts a header: each member's ``.npy`` header is read and checked (dtype, rank, and a size that
matches the member's bytes) before anything is allocated, and the data are read in chunks, so a
crafted file cannot make it allocate more than the file holds.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import tokenize
import warnings
import zipfile
import zlib

import numpy as np

from wasmpose.quant._calibrate import calibrate
from wasmpose.quant._common import DTYPES, F32, FLOATS, PACKED, U8, array, float32, shape_arg
from wasmpose.quant._params import QuantParams, channel_axis, check_params
from wasmpose.quant._quantize import dequantize, pack_int4, quantize, unpack_int4

_FORMAT = "wasmpose.quant.QuantizedTensor/1"
_FIELDS = ("format", "data", "scale", "zero_point", "dtype", "axis", "reduce_range", "shape",
           "float_dtype")
# what save() writes for each stored array: dtype kind, item sizes, ranks (None: any)
_LAYOUT = {
    "format": ("U", None, (0,)),
    "data": ("iu", (1,), None),
    "scale": ("f", (4,), (0, 1)),
    "zero_point": ("i", (4,), (0, 1)),
    "dtype": ("U", None, (0,)),
    "axis": ("i", (8,), (1,)),
    "reduce_range": ("b", (1,), (0,)),
    "shape": ("i", (8,), (1,)),
    "float_dtype": ("U", None, (0,)),
    "sha256": ("u", (1,), (1,)),
}
_MAX_TEXT = 4 * 64  # bytes of the string fields (64 characters)
_DEFLATE_MAX_RATIO = 1032  # deflate cannot expand one byte into more than ~1032 bytes
_CHUNK = 1 << 20
_MAX_INTP = np.iinfo(np.intp).max


def _digest(arrays):
    h = hashlib.sha256()
    for name in _FIELDS:
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype.str).encode())
        h.update(repr(a.shape).encode())
        h.update(a)  # its buffer: the bytes of a.tobytes() without copying them
    return np.frombuffer(h.digest(), np.uint8)


class _Bad(Exception):
    """A problem with the file's structure (turned into a ``ValueError`` naming the file)."""


def _header(f, name):
    """``(shape, fortran_order, dtype)`` of the .npy header at the start of ``f``: NumPy's parser
    (``ast.literal_eval``, never code), its failures turned into ``_Bad``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # of crafted header text
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(f)
            if version == (2, 0):
                return np.lib.format.read_array_header_2_0(f)
    except (ValueError, TypeError, SyntaxError, tokenize.TokenError, RecursionError,
            MemoryError) as exc:  # MemoryError: the parser's stack, on a <= 64 KiB header
        raise _Bad(f"array {name!r} has a malformed .npy header ({type(exc).__name__}: "
                   f"{str(exc)[:200]})") from None
    raise _Bad(f"array {name!r} has .npy version {version}, expected 1.0 or 2.0")


def _member(zf, name):
    """The array ``name`` of the open archive ``zf``, its header checked before any allocation."""
    try:
        info = zf.getinfo(name + ".npy")
    except KeyError:
        raise _Bad(f"no array {name!r}") from None
    if info.flag_bits & 0x1:
        raise _Bad(f"array {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _Bad(f"array {name!r} is compressed with method {info.compress_type}, "
                   f"expected none (stored) or deflate")
    if (info.compress_type == zipfile.ZIP_DEFLATED
            and info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024):
        raise _Bad(f"array {name!r} declares {info.file_size} bytes, more than deflate makes "
                   f"of {info.compress_size}")
    with zf.open(info) as f:
        shape, fortran, dtype = _header(f, name)
        kinds, sizes, ranks = _LAYOUT[name]
        if (dtype.hasobject or dtype.kind not in kinds or dtype.subdtype is not None
                or (sizes is not None and dtype.itemsize not in sizes)
                or (dtype.kind == "U" and not 0 < dtype.itemsize <= _MAX_TEXT)):
            raise _Bad(f"array {name!r} has dtype {dtype.str!r}, not the one save() writes")
        if (ranks is not None and len(shape) not in ranks) or any(d < 0 for d in shape):
            raise _Bad(f"array {name!r} has shape {shape!r}, not one save() writes")
        if len(shape) > 64:
            raise _Bad(f"array {name!r} has {len(shape)} dimensions, NumPy allows at most 64")
        if math.prod(d for d in shape if d) * dtype.itemsize > _MAX_INTP:
            raise _Bad(f"array {name!r} has shape {shape} of {dtype.str}, larger than NumPy's "
                       f"largest array")
        nbytes = math.prod(shape) * dtype.itemsize
        if f.tell() + nbytes != info.file_size:
            raise _Bad(f"array {name!r} declares shape {shape} of {dtype.str} ({nbytes} bytes) "
                       f"in a member of {info.file_size - f.tell()} data bytes")
        buf = bytearray()
        while len(buf) < nbytes:  # never more than the member really holds
            chunk = f.read(min(_CHUNK, nbytes - len(buf)))
            if not chunk:
                raise _Bad(f"array {name!r} is truncated")
            buf += chunk
    a = np.frombuffer(buf, dtype, math.prod(shape)).reshape(shape, order="F" if fortran else "C")
    return a


def _source(path, op):
    """``(path, name for messages)``: a path (str, bytes or os.PathLike, as a str) or a binary
    file object with ``op`` ("read" or "write") and ``seek``; anything else is a TypeError (an
    int would be taken for a file descriptor by ``open``)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fsdecode(path)
        return path, path
    if hasattr(path, op) and hasattr(path, "seek"):
        return path, str(getattr(path, "name", "the file object"))
    raise TypeError(f"path: expected a path or a binary file object, got {type(path).__name__}")


def _read(path):
    """The arrays of a QuantizedTensor file (the digest checked), in native byte order."""
    with zipfile.ZipFile(path) as zf:
        missing = [k for k in (*_FIELDS, "sha256") if k + ".npy" not in zf.namelist()]
        if missing:
            raise _Bad(f"missing arrays {missing}")
        arrays = {k: _member(zf, k) for k in (*_FIELDS, "sha256")}
    if str(arrays["format"]) != _FORMAT:
        raise _Bad(f"unknown format {str(arrays['format'])[:80]!r}")
    digest = arrays.pop("sha256")
    if digest.size != 32 or not np.array_equal(digest, _digest(arrays)):
        raise _Bad("content does not match its SHA-256 digest (altered file)")
    return {k: a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))
            for k, a in arrays.items()}


class QuantizedTensor:
    """A quantised array: the integers (4-bit ones packed two a byte), the parameters, the shape.

    Parameters
    ----------
    data : ndarray
        int8/uint8 values of shape ``shape`` for 8-bit dtypes; packed uint8 bytes,
        shape (ceil(prod(shape) / 2),), for 4-bit dtypes (see :func:`pack_int4`).
    params : QuantParams
    shape : tuple of int
        Shape of the original (and dequantised) array.
    float_dtype : str, default "float32"
        Dtype of the original array (for :attr:`compression_ratio`).

    Attributes
    ----------
    nbytes : int
        Bytes of ``data`` plus the parameters.
    compression_ratio : float
        Bytes of the original float array / :attr:`nbytes`.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.linspace(-1, 1, 1000, dtype=np.float32)
    >>> qt = QuantizedTensor.from_float(w, dtype="int4")
    >>> qt.data.nbytes, round(qt.compression_ratio, 2)
    (500, 7.87)
    >>> float(np.abs(qt.dequantize() - w).max()) < 0.07
    True
    """

    __slots__ = ("data", "params", "shape", "float_dtype")

    def __init__(self, data, params, shape, *, float_dtype="float32"):
        p = check_params(params)
        shape = shape_arg(shape, "shape")
        try:
            fd = np.dtype(float_dtype)
        except (TypeError, ValueError):
            fd = None
        if fd is not None and fd.kind == "f":
            fd = fd.newbyteorder("=")  # '>f4' is float32 too
        if fd is None or fd not in FLOATS:
            raise ValueError(f"float_dtype: expected float16, float32 or float64, got "
                             f"{float_dtype!r}")
        n = math.prod(shape)
        if p.dtype in PACKED:
            data = array(data, "data", (U8,), min_ndim=1, max_ndim=1)
            if data.size != (n + 1) // 2:
                raise ValueError(f"data: expected {(n + 1) // 2} packed bytes for shape {shape}, "
                                 f"got {data.size}")
        else:
            data = array(data, "data", (DTYPES[p.dtype][2],))
            if data.shape != shape:
                raise ValueError(f"data: expected shape {shape}, got {data.shape}")
        if p.axis is not None:
            channel_axis(p, shape, "shape")
        self.data = data
        self.params = p
        self.shape = shape
        self.float_dtype = fd.name

    @classmethod
    def from_float(cls, x, *, dtype="int8", scheme="affine", axis=None, method="minmax",
                   **calibrate_options):
        """Calibrate (see :func:`calibrate`, which takes ``calibrate_options``) and quantise."""
        x = array(x, "x", FLOATS)
        x32 = float32(x, "x")  # converted once for both calls
        params = calibrate(x32, dtype=dtype, scheme=scheme, axis=axis, method=method,
                           **calibrate_options)
        q = quantize(x32, params)
        data = pack_int4(q) if params.dtype in PACKED else q
        return cls(data, params, x.shape, float_dtype=x.dtype.name)

    def unpacked(self):
        """The quantised integers, unpacked, shape :attr:`shape` (int8 or uint8)."""
        if self.params.dtype in PACKED:
            return unpack_int4(self.data, self.shape, self.params.dtype)
        return self.data

    def dequantize(self):
        """The float32 approximation of the original array, shape :attr:`shape`."""
        return dequantize(self.unpacked(), self.params)

    @property
    def dtype(self) -> str:
        return self.params.dtype

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes) + self.params.nbytes

    @property
    def compression_ratio(self) -> float:
        return math.prod(self.shape) * np.dtype(self.float_dtype).itemsize / self.nbytes

    def __repr__(self):
        kind = "per-channel" if self.params.per_channel else "per-tensor"
        return (f"QuantizedTensor(shape={self.shape}, dtype={self.params.dtype!r}, {kind}, "
                f"nbytes={self.nbytes})")

    def _arrays(self):
        p = self.params
        return {
            "format": np.array(_FORMAT),
            "data": np.asarray(self.data, order="C"),  # keeps 0-d (ascontiguousarray does not)
            "scale": np.asarray(p.scale, F32),
            "zero_point": np.asarray(p.zero_point, np.int32),
            "dtype": np.array(p.dtype),
            "axis": np.array([] if p.axis is None else [p.axis], np.int64),
            "reduce_range": np.array(p.reduce_range),
            "shape": np.array(self.shape, np.int64),
            "float_dtype": np.array(self.float_dtype),
        }

    def save(self, path):
        """Write to ``path`` (a path or a binary file object) as an uncompressed ``.npz``.

        The file holds plain arrays only (no pickled objects) and a SHA-256 digest of them, so
        that :meth:`load` detects truncated or altered files. ``path`` is a str, bytes or
        ``os.PathLike`` path, or an object with ``write`` and ``seek`` (an int is refused with a
        ``TypeError``: ``open`` would take it for a file descriptor).
        """
        _source(path, "write")
        arrays = self._arrays()
        arrays["sha256"] = _digest(arrays)
        if hasattr(path, "write"):
            np.savez(path, **arrays)
            return
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save` (a path or a binary file object); never unpickles.

        Every header is checked before anything is allocated: a crafted or damaged file is a
        ``ValueError``, never a large allocation.

        Raises
        ------
        ValueError
            The file is missing, truncated, not a ``.npz`` (e.g. a plain ``.npy``), not of
            this format, or its content does not match its digest. The message names the file.
        TypeError
            ``path`` is neither a path nor a binary file object with ``read`` and ``seek``.
        """
        path, where = _source(path, "read")
        try:
            arrays = _read(path)
        except _Bad as exc:
            raise ValueError(f"path: {where!s} is not a QuantizedTensor file ({exc})") from None
        except ValueError as exc:  # a malformed .npy header
            raise ValueError(f"path: {where!s} is not a QuantizedTensor file ({exc})") from exc
        except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
                struct.error, UnicodeDecodeError, NotImplementedError, OverflowError) as exc:
            # what zipfile and zlib raise on damaged archives (io.UnsupportedOperation is an
            # OSError)
            raise ValueError(f"path: {where!s} is not a readable .npz file "
                             f"({type(exc).__name__}: {exc})") from exc
        try:
            axis = arrays["axis"]
            params = QuantParams(arrays["scale"], arrays["zero_point"], str(arrays["dtype"]),
                                 int(axis[0]) if axis.size else None,
                                 bool(arrays["reduce_range"]))
            return cls(arrays["data"], params, tuple(int(s) for s in arrays["shape"]),
                       float_dtype=str(arrays["float_dtype"]))
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"path: {where!s} holds an invalid QuantizedTensor ({exc})") from exc
