"""Loading weights from .npy, .npz and .safetensors files: memory-mapped, never unpickled.

Every format is parsed here (the ``safetensors`` package is not needed). Headers are read with
``json`` and ``ast.literal_eval``, which cannot run code; dtypes holding Python objects are
refused, so nothing is ever unpickled. Every structural fact is checked against the file's
size before an array is made, and every problem is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import ast
import json
import math
import mmap as _mmap
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from wasmpose.memory._aligned import size_problem

__all__ = ["load_weights"]

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_LOCAL = b"PK\x03\x04"
_MAX_NPY_HEADER = 1 << 20
_MAX_ST_HEADER = 100_000_000  # the limit of the reference implementation

# safetensors dtype names -> NumPy (always little-endian in the format)
_ST_DTYPES = {
    "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "F16": "<f2",
    "U32": "<u4", "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8", "F64": "<f8",
    "C64": "<c8",
}
# valid safetensors dtypes that NumPy cannot represent
_ST_NO_NUMPY = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"}


class _Bad(Exception):
    """A problem with the file; turned into ``ValueError(f"{path}: {problem}")``."""


def load_weights(path, *, mmap=True):
    """Arrays stored in a ``.npy``, ``.npz`` or ``.safetensors`` file, by name.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its suffix (case-insensitive) selects the format.
    mmap : bool, default True
        Map the file into memory: arrays are read-only views of the file's pages, so loading
        costs no copy and only the pages used are ever read. Compressed (deflated) ``.npz``
        members are decompressed into read-only arrays: as a stream, whose ``.npy`` header is
        checked from its first bytes before the rest is inflated, and never past the size the
        archive declares (which must be one deflate can produce from the compressed size).
        With ``False`` the file is read into memory once and the arrays are writable views
        of that copy.

    Returns
    -------
    dict of str to ndarray
        Each array with the shape and dtype stored in the file.
        ``.npy``: one entry keyed by the file's stem. ``.npz``: one entry per member (the name
        without ``.npy``, as ``np.load``). ``.safetensors``: every tensor, in header order (the
        ``__metadata__`` entry is checked, not returned).

    Raises
    ------
    ValueError
        The suffix is not one of the three, or the file is truncated or malformed (bad magic or
        header, bad JSON, offsets past the end, overlapping tensors, unknown dtypes, shapes
        NumPy cannot make (more than 64 dimensions, sizes past ``intp``, 0-byte dtypes such
        as ``|V0``), ``.npz`` members compressed otherwise than by deflate, object arrays or
        pickled data, which are never loaded). The message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.savez(d / "model.npz", w=np.arange(6.0).reshape(2, 3), b=np.zeros(3))
    >>> weights = load_weights(d / "model.npz")
    >>> sorted(weights), weights["w"].flags.writeable
    (['b', 'w'], False)
    >>> weights["w"][1]
    array([3., 4., 5.])
    """
    p = Path(os.fspath(path))
    kind = p.suffix.lower()
    if kind not in (".npy", ".npz", ".safetensors"):
        raise ValueError(f"path: expected a .npy, .npz or .safetensors file, got {str(p)!r}")
    mode = os.stat(p).st_mode  # FileNotFoundError as open() would raise it
    if not stat.S_ISREG(mode):  # a FIFO would block open() forever, a device never end
        raise ValueError(f"{p}: not a regular file (a directory, FIFO, socket or device)")
    try:
        if kind == ".npz":
            return _load_npz(p, mmap)
        buf = _read(p, mmap)
        if kind == ".npy":
            return {p.stem: _npy_array(buf, 0, len(buf))}
        return _load_safetensors(buf)
    except _Bad as exc:
        raise ValueError(f"{p}: {exc}") from None


def _read(p: Path, mmap: bool):
    """The whole file: a read-only memory map, or a writable in-memory copy."""
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if not mmap:
            data = bytearray(size)
            view, pos = memoryview(data), 0
            while pos < size:  # readinto may return less than asked (pipes, network files)
                n = f.readinto(view[pos:])
                if not n:
                    raise _Bad("the file changed size while it was read")
                pos += n
            view.release()
            if f.read(1):
                raise _Bad("the file changed size while it was read")
            return data
        if size == 0:
            return b""
        return _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)


def _frombuffer(buf, dtype: np.dtype, shape: tuple, offset: int, order: str = "C"):
    count = math.prod(shape)
    if count == 0:
        arr = np.empty(shape, dtype)
        arr.flags.writeable = isinstance(buf, bytearray)
        return arr
    return np.frombuffer(buf, dtype, count, offset).reshape(shape, order=order)


# -- shapes and dtypes -----------------------------------------------------------------------
def _check_array(shape: tuple, dtype: np.dtype, fmt: str) -> None:
    """``_Bad`` unless NumPy can make an array of ``shape`` and ``dtype``: at most 64 dims,
    every size and the byte count within ``intp``, a dtype with a size (``|V0`` has none)."""
    if dtype.itemsize == 0:
        raise _Bad(f"malformed {fmt} header: dtype {dtype.str!r} has a size of 0 bytes")
    if dtype.subdtype is not None:
        raise _Bad(f"malformed {fmt} header: sub-array dtype {dtype.str!r} (NumPy writes "
                   f"its shape into the array's shape)")
    problem = size_problem(shape, dtype.itemsize)
    if problem is not None:
        raise _Bad(f"malformed {fmt} header: shape: {problem}")


# -- .npy ------------------------------------------------------------------------------------
def _npy_prelude(buf, start: int, end: int) -> tuple[int, int, int]:
    """``(major version, header start, header length)`` of the .npy data at ``buf[start:end]``;
    ``buf`` needs only its first 12 bytes (10 for version 1)."""
    if end - start < 10 or len(buf) - start < 10:
        raise _Bad(f"truncated: {end - start} bytes cannot hold a .npy header")
    if bytes(buf[start:start + 6]) != _NPY_MAGIC:
        raise _Bad("not a .npy array (bad magic number); pickles and other formats are never "
                   "loaded")
    major, minor = buf[start + 6], buf[start + 7]
    if (major, minor) not in ((1, 0), (2, 0), (3, 0)):
        raise _Bad(f"unsupported .npy format version {major}.{minor}")
    if major == 1:
        (hlen,) = struct.unpack_from("<H", buf, start + 8)
        return major, start + 10, hlen
    if end - start < 12 or len(buf) - start < 12:
        raise _Bad("truncated .npy header")
    (hlen,) = struct.unpack_from("<I", buf, start + 8)
    if hlen > _MAX_NPY_HEADER:
        raise _Bad(f".npy header of {hlen} bytes is larger than {_MAX_NPY_HEADER}")
    return major, start + 12, hlen


def _npy_header(buf, start: int, end: int) -> tuple[np.dtype, tuple, bool, int]:
    """``(dtype, shape, fortran_order, data offset)`` of the .npy data at ``buf[start:end]``,
    checked against its size ``end - start``; ``buf`` needs to hold only the header."""
    major, hstart, hlen = _npy_prelude(buf, start, end)
    if hstart + hlen > end:
        raise _Bad(f"truncated: the .npy header needs {hlen} bytes, {end - hstart} are left")
    try:
        text = bytes(buf[hstart:hstart + hlen]).decode("utf-8" if major == 3 else "latin1")
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError,
            TypeError) as exc:
        raise _Bad(f"malformed .npy header ({type(exc).__name__})") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _Bad("malformed .npy header: expected a dict with keys 'descr', "
                   "'fortran_order' and 'shape'")
    shape, fortran = header["shape"], header["fortran_order"]
    if (not isinstance(shape, tuple)
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise _Bad(f"malformed .npy header: bad shape {_short(shape)}")
    if not isinstance(fortran, bool):
        raise _Bad(f"malformed .npy header: bad fortran_order {_short(fortran)}")
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except Exception as exc:  # noqa: BLE001 - any failure means an unreadable descr
        raise _Bad(f"unknown dtype {_short(header['descr'])} in .npy header "
                   f"({_short(exc)})") from None
    if dtype.hasobject:
        raise _Bad(f"object arrays (dtype {dtype}) need pickle, which is never used")
    _check_array(shape, dtype, ".npy")
    data = hstart + hlen
    nbytes = math.prod(shape) * dtype.itemsize
    if data + nbytes > end:
        raise _Bad(f"truncated: the array needs {nbytes} bytes of data, {end - data} are left")
    if data + nbytes < end:
        raise _Bad(f"{end - data - nbytes} unexpected bytes after the array data")
    return dtype, shape, fortran, data


def _short(x, limit: int = 200) -> str:
    """``repr(x)`` cut to ``limit`` characters (crafted headers can hold huge values)."""
    r = repr(x) if not isinstance(x, BaseException) else str(x)
    return r if len(r) <= limit else r[:limit] + "..."


def _npy_array(buf, start: int, end: int) -> np.ndarray:
    """The array of the .npy data in ``buf[start:end]``, as a view of ``buf``."""
    dtype, shape, fortran, data = _npy_header(buf, start, end)
    return _frombuffer(buf, dtype, shape, data, "F" if fortran else "C")


# -- .npz ------------------------------------------------------------------------------------
_DEFLATE_MAX_RATIO = 1032  # deflate cannot expand one byte into more than ~1032 bytes
_CHUNK = 1 << 20


def _load_npz(p: Path, mmap: bool) -> dict:
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise ValueError(f"{p}: not a valid .npz (zip) archive ({exc})") from None
    with zf:
        buf = _read(p, mmap)
        out = {}
        for info in zf.infolist():
            name = info.filename
            where = f"{p} (member {name!r})"
            try:
                if not name.endswith(".npy"):
                    raise _Bad("not a .npy array; .npz files hold only .npy members")
                key = name[:-4]
                if key in out:
                    raise _Bad("a second member of the same name")
                if info.flag_bits & 0x1:
                    raise _Bad("encrypted members are not supported")
                if info.compress_type == zipfile.ZIP_STORED:
                    start = _member_data(buf, info)
                    out[key] = _npy_array(buf, start, start + info.file_size)
                elif info.compress_type == zipfile.ZIP_DEFLATED:
                    out[key] = _inflate_member(zf, info, len(buf), writable=not mmap)
                else:
                    raise _Bad(f"compression method {info.compress_type} is not supported "
                               f"(NumPy writes stored or deflated members)")
            except _Bad as exc:
                raise ValueError(f"{where}: {exc}") from None
        return out


def _inflate_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int,
                    writable: bool) -> np.ndarray:
    """A deflated member's array, read as a stream: its header is checked from the first bytes,
    before anything else is inflated, and no more than the declared size is ever inflated (or
    allocated, which deflate's largest ratio bounds by the archive's size)."""
    size = info.file_size
    if info.compress_size > archive_size:
        raise _Bad(f"corrupt archive: the member claims {info.compress_size} compressed "
                   f"bytes, the file has {archive_size}")
    if size > _DEFLATE_MAX_RATIO * info.compress_size + 64:
        raise _Bad(f"corrupt archive: {info.compress_size} deflated bytes cannot hold the "
                   f"{size} bytes the member declares")
    try:
        with zf.open(info) as f:
            head = f.read(min(size, 12))
            _, hstart, hlen = _npy_prelude(head, 0, size)
            if hstart + hlen > size:
                raise _Bad(f"truncated: the .npy header needs {hlen} bytes, "
                           f"{size - hstart} are left")
            head += f.read(hstart + hlen - len(head))
            dtype, shape, fortran, data = _npy_header(head, 0, size)
            raw = np.empty(size - data, np.uint8)
            view = memoryview(raw)
            pos = 0
            while pos < raw.size:
                chunk = f.read(min(_CHUNK, raw.size - pos))
                if not chunk:
                    raise _Bad(f"truncated: the member declares {size} bytes, its data ends "
                               f"after {data + pos}")
                view[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
            f.read(1)  # at the end: the CRC is checked
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError) as exc:
        raise _Bad(f"cannot decompress ({exc})") from None
    arr = raw.view(dtype).reshape(shape, order="F" if fortran else "C") if raw.size else \
        np.empty(shape, dtype, order="F" if fortran else "C")
    arr.flags.writeable = writable
    return arr


def _member_data(buf, info: zipfile.ZipInfo) -> int:
    """Offset of a stored member's data in the archive (after its local header)."""
    at = info.header_offset
    if at + 30 > len(buf) or bytes(buf[at:at + 4]) != _ZIP_LOCAL:
        raise _Bad("truncated or corrupt archive: no local header where the directory says")
    name_len, extra_len = struct.unpack_from("<HH", buf, at + 26)
    start = at + 30 + name_len + extra_len
    if info.compress_size != info.file_size:
        raise _Bad("corrupt archive: a stored member's sizes differ")
    if start + info.file_size > len(buf):
        raise _Bad(f"truncated: the member needs {info.file_size} bytes at offset {start}, "
                   f"the file has {len(buf)}")
    return start


# -- .safetensors ----------------------------------------------------------------------------
def _unique_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise _Bad(f"the header names {k!r} twice")
        d[k] = v
    return d


def _load_safetensors(buf) -> dict:
    size = len(buf)
    if size < 8:
        raise _Bad(f"truncated: {size} bytes cannot hold a safetensors header length")
    (hlen,) = struct.unpack_from("<Q", buf, 0)
    if hlen > size - 8:
        raise _Bad(f"truncated: the header length is {hlen} bytes, {size - 8} follow it")
    if hlen > _MAX_ST_HEADER:
        raise _Bad(f"header of {hlen} bytes is larger than {_MAX_ST_HEADER}")
    try:
        header = json.loads(bytes(buf[8:8 + hlen]).decode("utf-8"),
                            object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Bad(f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _Bad(f"the header is not a JSON object but {type(header).__name__}")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(
            isinstance(v, str) for v in meta.values())):
        raise _Bad("__metadata__ must map strings to strings")
    base = 8 + hlen
    data_len = size - base
    tensors = []
    for name, info in header.items():
        tensors.append((name, *_tensor_info(name, info, data_len)))
    # the format requires the tensors to tile the data area exactly, in offset order
    pos, prev = 0, None
    for name, _, _, begin, end in sorted(tensors, key=lambda t: (t[3], t[4])):
        if begin < pos:
            raise _Bad(f"tensors {prev!r} and {name!r} overlap (bytes {begin}..{pos})")
        if begin > pos:
            raise _Bad(f"bytes {pos}..{begin} of the data are not part of any tensor")
        pos, prev = end, name
    if pos != data_len:
        raise _Bad(f"{data_len - pos} bytes after the last tensor are not part of any tensor")
    return {name: _frombuffer(buf, dtype, shape, base + begin)
            for name, dtype, shape, begin, _ in tensors}


def _tensor_info(name: str, info, data_len: int):
    """``(dtype, shape, begin, end)`` of a header entry, validated."""
    if not isinstance(info, dict):
        raise _Bad(f"tensor {name!r}: expected a JSON object, got {type(info).__name__}")
    missing = {"dtype", "shape", "data_offsets"} - set(info)
    if missing:
        raise _Bad(f"tensor {name!r}: missing {', '.join(sorted(missing))}")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(code, str) or code not in _ST_DTYPES:
        if isinstance(code, str) and code in _ST_NO_NUMPY:  # (a JSON list is unhashable)
            raise _Bad(f"tensor {name!r}: dtype {code} has no NumPy equivalent")
        raise _Bad(f"tensor {name!r}: unknown dtype {code!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _Bad(f"tensor {name!r}: bad shape {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]):
        raise _Bad(f"tensor {name!r}: bad data_offsets {offsets!r}")
    begin, end = offsets
    if end > data_len:
        raise _Bad(f"tensor {name!r}: data_offsets {offsets} run past the end of the data "
                   f"({data_len} bytes; truncated?)")
    dtype = np.dtype(_ST_DTYPES[code])
    try:
        _check_array(tuple(shape), dtype, "safetensors")
    except _Bad as exc:
        raise _Bad(f"tensor {name!r}: {exc}") from None
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != end - begin:
        raise _Bad(f"tensor {name!r}: shape {shape} of {code} needs {nbytes} bytes, "
                   f"data_offsets span {end - begin}")
    return dtype, tuple(shape), begin, end
