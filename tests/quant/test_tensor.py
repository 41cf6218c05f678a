"""QuantizedTensor: from_float, sizes, save/load without pickle, damaged and crafted files."""

import contextlib
import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpose.quant import QuantizedTensor, calibrate, dequantize, quantize


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=4), st.data(),
       st.sampled_from(["int4", "uint4"]), st.sampled_from(["affine", "symmetric"]))
def test_quantized_tensor_every_axis(dims, data, dtype, scheme):
    rng = np.random.default_rng(sum(dims))
    x = rng.normal(0, 1, dims).astype(np.float32)
    axis = data.draw(st.sampled_from([None, *range(len(dims))]))
    qt = QuantizedTensor.from_float(x, dtype=dtype, scheme=scheme, axis=axis)
    p = calibrate(x, dtype=dtype, scheme=scheme, axis=axis)
    assert qt.params == p
    np.testing.assert_array_equal(qt.unpacked(), quantize(x, p))
    np.testing.assert_array_equal(qt.dequantize(), dequantize(quantize(x, p), p))
    assert qt.data.nbytes == (x.size + 1) // 2


def test_quantized_tensor_sizes():
    x = np.ones((64, 100), np.float32)
    for dtype, ratio in (("int8", 4 * 6400 / (6400 + 8)), ("int4", 4 * 6400 / (3200 + 8))):
        qt = QuantizedTensor.from_float(x, dtype=dtype)
        assert qt.nbytes == qt.data.nbytes + 8
        assert qt.compression_ratio == pytest.approx(ratio)
    qt = QuantizedTensor.from_float(x.astype(np.float64), dtype="uint4", axis=0)
    assert qt.compression_ratio == pytest.approx(8 * 6400 / (3200 + 64 * 8))
    assert "per-channel" in repr(qt)


# --- save / load ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint4"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_save_load_round_trip(tmp_path, rng, dtype, axis):
    x = rng.normal(0, 1, (5, 9)).astype(np.float32)
    qt = QuantizedTensor.from_float(x, dtype=dtype, axis=axis, reduce_range=True)
    path = tmp_path / "w.npz"
    qt.save(path)
    back = QuantizedTensor.load(path)
    assert back.params == qt.params and back.shape == qt.shape
    assert back.params.reduce_range is True
    np.testing.assert_array_equal(back.data, qt.data)
    np.testing.assert_array_equal(back.dequantize(), qt.dequantize())
    with zipfile.ZipFile(path) as z:  # plain arrays only: everything loads without pickle
        for name in z.namelist():
            with z.open(name) as f:
                np.lib.format.read_array(f, allow_pickle=False)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (1,)])
@pytest.mark.parametrize("dtype", ["int8", "uint4"])
def test_save_load_scalar_and_empty(shape, dtype):
    qt = QuantizedTensor.from_float(np.full(shape, 0.5, np.float32), dtype=dtype)
    buf = io.BytesIO()
    qt.save(buf)
    buf.seek(0)
    back = QuantizedTensor.load(buf)
    assert back.shape == shape and back.params == qt.params
    np.testing.assert_array_equal(back.dequantize(), qt.dequantize())


def _saved(qt):
    buf = io.BytesIO()
    qt.save(buf)
    return buf.getvalue()


def test_truncated_or_tampered_files_raise(tmp_path, rng):
    qt = QuantizedTensor.from_float(rng.normal(0, 1, 400).astype(np.float32), dtype="int8")
    raw = _saved(qt)
    path = tmp_path / "t.npz"
    for cut in (0, 10, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="t.npz"):
            QuantizedTensor.load(path)
    # alter one stored integer, rewriting a valid archive
    with np.load(io.BytesIO(raw)) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["data"] = arrays["data"].copy()
    arrays["data"][17] ^= 1
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="digest"):
        QuantizedTensor.load(path)
    # flip a byte inside the raw file
    bad = bytearray(raw)
    bad[len(raw) // 3] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(ValueError):
        QuantizedTensor.load(path)
    # a missing array, a foreign file
    del arrays["scale"]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="missing arrays"):
        QuantizedTensor.load(path)
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="t.npz is not a"):
        QuantizedTensor.load(path)


def test_load_never_unpickles(tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled!",))

    path = tmp_path / "evil.npz"
    with open(path, "wb") as f:
        np.savez(f, format=np.array([Boom()], dtype=object), data=np.zeros(2, np.int8))
    with pytest.raises(ValueError, match="evil.npz"):
        QuantizedTensor.load(path)


# --- crafted and foreign files (issue 13) ---------------------------------------------------------
def _arrays(qt):
    with np.load(io.BytesIO(_saved(qt))) as z:
        return {k: z[k] for k in z.files}


def _npy(header, payload=b""):
    """A .npy member of version 1.0 with the header dict ``header`` (a str) and ``payload``."""
    text = header.encode("latin1")
    pad = -(10 + len(text) + 1) % 64
    return b"\x93NUMPY\x01\x00" + (len(text) + pad + 1).to_bytes(2, "little") + text + \
        b" " * pad + b"\n" + payload


def _zip(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, raw in members.items():
            z.writestr(name + ".npy", raw)
    return buf.getvalue()


def _members(qt):
    out = {}
    for k, a in _arrays(qt).items():
        f = io.BytesIO()
        np.save(f, a)
        out[k] = f.getvalue()
    return out


def test_load_plain_npy_is_a_value_error(tmp_path):
    # was TypeError: 'numpy.ndarray' object does not support the context manager protocol
    path = tmp_path / "plain.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="plain.npy is not a readable .npz"):
        QuantizedTensor.load(path)


def test_load_crafted_header_allocates_nothing(tmp_path):
    # a 2.5 KB .npz whose data member declares a 3.6 TiB array: was a MemoryError
    members = _members(QuantizedTensor.from_float(np.ones(8, np.float32)))
    members["data"] = _npy("{'descr': '|i1', 'fortran_order': False, 'shape': (4000000000000,), }",
                           b"\0" * 8)
    raw = _zip(members)
    assert len(raw) < 3000
    path = tmp_path / "crafted.npz"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=r"crafted.npz is not a QuantizedTensor file .*'data' "
                                         r"declares shape \(4000000000000,\)"):
        QuantizedTensor.load(path)


@pytest.mark.parametrize("field,header,why", [
    ("data", "{'descr': '|V0', 'fortran_order': False, 'shape': (8,), }", "dtype '|V0'"),
    ("data", "{'descr': '|O', 'fortran_order': False, 'shape': (8,), }", "dtype '|O'"),
    ("data", "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", "dtype '<f8'"),
    ("data", "{'descr': '|i1', 'fortran_order': False, 'shape': (-8,), }", r"shape \(-8,\)"),
    ("data", "{'descr': '|i1', 'fortran_order': False, 'shape': (" + "0, " * 65 + "), }",
     "65 dimensions"),
    ("data", "{'descr': '|i1', 'fortran_order': False, 'shape': (" + str(2**63) + ", 0), }",
     "larger than NumPy's largest array"),
    ("data", "{'descr': '|i1', 'fortran_order': False, 'shape': (9,), }", "9 bytes"),
    ("scale", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", "shape"),
    ("format", "{'descr': '<U4000000000', 'fortran_order': False, 'shape': (), }", "dtype"),
    ("shape", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), 'x': 1}", "keys"),
    ("shape", "not a dict", "header"),
    ("shape", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,", "TokenError"),  # unbalanced
    ("shape", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), } + ((((", "header"),
])
def test_load_crafted_headers_name_the_file(tmp_path, field, header, why):
    members = _members(QuantizedTensor.from_float(np.ones(8, np.float32)))
    members[field] = _npy(header, b"" if "0, 0" in header else b"\0" * 8)
    path = tmp_path / "bad.npz"
    path.write_bytes(_zip(members))
    with pytest.raises(ValueError, match=f"bad.npz .*{why}"):
        QuantizedTensor.load(path)


def test_load_deflate_bomb_refused(tmp_path):
    # a deflated member whose declared size is more than deflate can make of its bytes
    members = _members(QuantizedTensor.from_float(np.ones(8, np.float32)))
    raw = bytearray(_zip(members, zipfile.ZIP_DEFLATED))
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        info = z.getinfo("data.npy")
    # rewrite the uncompressed size of data.npy in its central directory entry
    cd = bytes(raw).index(b"data.npy", bytes(raw).index(b"PK\x01\x02")) - 46
    assert raw[cd:cd + 4] == b"PK\x01\x02"
    raw[cd + 24:cd + 28] = (info.compress_size * 2000).to_bytes(4, "little")
    path = tmp_path / "bomb.npz"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="bomb.npz .*more than deflate makes"):
        QuantizedTensor.load(path)


def test_load_compressed_and_byte_swapped_files(tmp_path):
    from wasmpose.quant._tensor import _digest

    qt = QuantizedTensor.from_float(np.linspace(-2, 3, 40, dtype=np.float32).reshape(8, 5),
                                    dtype="uint4", axis=0)
    arrays = _arrays(qt)
    del arrays["sha256"]
    # written by a big-endian machine: every multi-byte field in '>' order, digest over them
    big = {k: a.astype(a.dtype.newbyteorder(">")) if a.dtype.itemsize > 1 else a
           for k, a in arrays.items()}
    big["sha256"] = _digest(big)
    small = {**arrays, "sha256": _digest(arrays)}
    for name, writer, arrs in (("be.npz", np.savez, big), ("z.npz", np.savez_compressed, small)):
        path = tmp_path / name
        writer(path, **arrs)
        back = QuantizedTensor.load(path)
        assert back.params == qt.params and back.shape == qt.shape
        np.testing.assert_array_equal(back.dequantize(), qt.dequantize())
        assert back.params.scale.dtype.isnative
    # other zip compressions are refused by name
    path = tmp_path / "bz.npz"
    path.write_bytes(_zip(_members(qt), zipfile.ZIP_BZIP2))
    with pytest.raises(ValueError, match="bz.npz .*compressed with method 12"):
        QuantizedTensor.load(path)


def test_float_dtype_argument():
    p = calibrate(np.ones(2, np.float32))
    q = np.zeros(2, np.int8)
    with pytest.raises(ValueError, match="float_dtype: expected float16, float32 or float64, "
                                         "got 'abc'"):
        QuantizedTensor(q, p, (2,), float_dtype="abc")
    with pytest.raises(ValueError, match="float_dtype"):
        QuantizedTensor(q, p, (2,), float_dtype="int8")
    assert QuantizedTensor(q, p, (2,), float_dtype=">f8").float_dtype == "float64"


def test_path_argument(tmp_path):
    qt = QuantizedTensor.from_float(np.ones(3, np.float32))
    # an int is not a path: open() would take it for a file descriptor (1 is stdout)
    for bad in (1, None, 2.5, ["w.npz"]):
        with pytest.raises(TypeError, match="path: expected a path or a binary file object"):
            qt.save(bad)
        with pytest.raises(TypeError, match="path: expected a path or a binary file object"):
            QuantizedTensor.load(bad)
    path = tmp_path / "w.npz"
    qt.save(bytes(path))  # bytes paths, as open() takes them
    assert QuantizedTensor.load(bytes(path)).params == qt.params
    with pytest.raises(ValueError, match="missing.npz is not a readable"):
        QuantizedTensor.load(tmp_path / "missing.npz")


@contextlib.contextmanager
def _address_space_cap(extra):
    """Cap this process's address space at its current size + ``extra`` bytes (Linux), so that a
    blow-up is a MemoryError here rather than a dead machine."""
    resource = pytest.importorskip("resource")
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzzed_files_load_or_raise_value_error(data):
    # mutations of the archive's bytes (mostly caught by zip's CRC) or of one member's .npy
    # bytes in a rebuilt, CRC-valid archive (reaching the header checks)
    qt = QuantizedTensor.from_float(np.linspace(-1, 1, 50, dtype=np.float32), dtype="int4",
                                    axis=0)
    members = _members(qt)
    field = data.draw(st.sampled_from([None, *members]))
    raw = bytearray(_saved(qt) if field is None else members[field])
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set":  # sizes and counts: 0xff bytes make them huge
            raw[i:i + 4] = data.draw(st.sampled_from([b"\xff\xff\xff\xff", b"\0\0\0\0",
                                                      b"\xff\xff\xff\x7f", b"99999"]))
        elif kind == "cut":
            del raw[i:]
            if not raw:
                raw += b"P"
        else:
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=8)
                                 | st.text("0123456789(),'<>|iufbUV:{} ", min_size=1,
                                           max_size=8).map(str.encode))
    if field is not None:
        compression = data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
        raw = _zip({**members, field: bytes(raw)}, compression)
    with _address_space_cap(256 << 20):
        try:
            back = QuantizedTensor.load(io.BytesIO(bytes(raw)))
        except ValueError:
            return
    # only a change the digest cannot see (zip metadata, header padding) may load, unchanged
    assert back.params == qt.params
    np.testing.assert_array_equal(back.data, qt.data)
