"""load_weights: round trips with np.save/np.savez/safetensors, memory maps, malformed files,
and no unpickling ever."""

import json
import mmap
import os
import pickle
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from wasmpose.memory import load_weights

ROOT = Path(__file__).resolve().parents[2]

ARRAYS = {
    "f32": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    "f64": np.linspace(-1, 1, 7),
    "i8": np.array([-128, 0, 127], np.int8),
    "u16": np.arange(10, dtype=np.uint16),
    "i64": np.array([[1 << 40, -5]], np.int64),
    "f16": np.array([0.5, -2.0], np.float16),
    "b": np.array([True, False, True]),
    "empty": np.zeros((0, 3), np.float32),
    "scalar": np.array(3.5, np.float32),
}


def is_mapped(a):
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, mmap.mmap)


def check_same(got, want, *, mapped):
    assert sorted(got) == sorted(want)
    for k, w in want.items():
        g = got[k]
        assert g.shape == w.shape and g.dtype == w.dtype, k
        np.testing.assert_array_equal(g, w)
        if g.size:
            assert g.flags.writeable == (not mapped), k
            assert is_mapped(g) == mapped, k


# -- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("mmap_", [True, False])
def test_npy_round_trip(tmp_path, mmap_):
    extra = {"fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
             "bigendian": np.arange(5, dtype=">i4"),
             "struct": np.array([(1.5, 2), (3.0, 4)], dtype=[("x", "<f4"), ("y", "<i2")])}
    for name, a in {**ARRAYS, **extra}.items():
        np.save(tmp_path / f"{name}.npy", a)
        got = load_weights(tmp_path / f"{name}.npy", mmap=mmap_)
        check_same(got, {name: a}, mapped=mmap_)
    v3 = tmp_path / "v3.npy"
    with open(v3, "wb") as f:  # format 3.0 (utf-8 header), as np.save writes for unicode names
        np.lib.format.write_array(f, ARRAYS["f32"], version=(3, 0))
    check_same(load_weights(str(v3), mmap=mmap_), {"v3": ARRAYS["f32"]}, mapped=mmap_)


@pytest.mark.parametrize("mmap_", [True, False])
def test_npz_round_trip(tmp_path, mmap_):
    np.savez(tmp_path / "a.npz", **ARRAYS)
    check_same(load_weights(tmp_path / "a.npz", mmap=mmap_), ARRAYS, mapped=mmap_)
    np.savez(tmp_path / "pos.npz", ARRAYS["f32"], ARRAYS["f64"])
    got = load_weights(tmp_path / "pos.npz", mmap=mmap_)
    check_same(got, dict(np.load(tmp_path / "pos.npz")), mapped=mmap_)
    np.savez_compressed(tmp_path / "c.npz", **ARRAYS)
    got = load_weights(tmp_path / "c.npz", mmap=mmap_)
    for k, w in ARRAYS.items():  # compressed members cannot be mapped; read-only when mmap
        np.testing.assert_array_equal(got[k], w)
        assert got[k].dtype == w.dtype and not is_mapped(got[k])
        if w.size:
            assert got[k].flags.writeable == (not mmap_)


@pytest.mark.parametrize("mmap_", [True, False])
def test_safetensors_round_trip(tmp_path, mmap_):
    st = pytest.importorskip("safetensors.numpy")
    arrays = dict(ARRAYS, c64=np.array([1 + 2j], np.complex64))
    path = tmp_path / "m.safetensors"
    try:
        st.save_file(arrays, str(path), metadata={"format": "np"})
    except Exception:  # noqa: BLE001 - older safetensors without C64
        del arrays["c64"]
        st.save_file(arrays, str(path), metadata={"format": "np"})
    check_same(load_weights(path, mmap=mmap_), arrays, mapped=mmap_)
    # and back: what load_weights returns, safetensors writes and reads identically
    again = tmp_path / "again.safetensors"
    st.save_file({k: np.ascontiguousarray(v) for k, v in load_weights(path).items()}, str(again))
    ref = st.load_file(str(again))
    check_same(load_weights(again, mmap=mmap_), ref, mapped=mmap_)


def test_maps_share_the_files_pages(tmp_path):
    a = np.arange(1 << 16, dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    got = load_weights(tmp_path / "a.npy")["a"]
    with pytest.raises(ValueError):
        got[0] = 1  # read-only
    offset = (tmp_path / "a.npy").stat().st_size - a.nbytes
    with open(tmp_path / "a.npy", "r+b") as f:  # a write to the file shows through the map
        f.seek(offset + 4 * 1000)
        f.write(np.float32(-7).tobytes())
    assert got[1000] == -7
    # no copy was made: the array's memory is the file's mapping
    assert is_mapped(got)


def test_npz_members_share_the_archive_pages(tmp_path):
    np.savez(tmp_path / "w.npz", x=np.arange(100, dtype=np.int32))
    got = load_weights(tmp_path / "w.npz")["x"]
    raw = (tmp_path / "w.npz").read_bytes()
    pos = raw.index(np.arange(100, dtype=np.int32).tobytes())
    with open(tmp_path / "w.npz", "r+b") as f:
        f.seek(pos + 4 * 50)
        f.write(np.int32(-1).tobytes())
    assert got[50] == -1


# -- never unpickle -----------------------------------------------------------------------------
class Evil:
    """Unpickling this creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_malicious_pickles_never_run(tmp_path):
    marker = tmp_path / "marker"
    evil = np.array([Evil(marker), 1], dtype=object)
    np.save(tmp_path / "evil.npy", evil, allow_pickle=True)
    # the exploit is real: loading with pickle runs it
    np.load(tmp_path / "evil.npy", allow_pickle=True)
    assert marker.exists()
    marker.unlink()

    np.savez(tmp_path / "evil.npz", w=np.zeros(3), evil=evil)
    np.savez_compressed(tmp_path / "evilc.npz", evil=evil)
    raw = pickle.dumps(Evil(marker))
    for suffix in ("npy", "npz", "safetensors"):
        (tmp_path / f"raw.{suffix}").write_bytes(raw)
    names = ["evil.npy", "evil.npz", "evilc.npz", "raw.npy", "raw.npz", "raw.safetensors"]
    for name in names:
        for mmap_ in (True, False):
            with pytest.raises(ValueError, match=name.replace(".", r"\.")):
                load_weights(tmp_path / name, mmap=mmap_)
    assert not marker.exists()


def test_npy_header_with_code_is_not_evaluated(tmp_path):
    marker = tmp_path / "marker"
    header = f"{{'descr': __import__('os').system('touch {marker}'), 'fortran_order': False, " \
             f"'shape': (1,)}}".encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    (tmp_path / "code.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
                                        + header + b"\0" * 8)
    with pytest.raises(ValueError, match=r"code\.npy: malformed \.npy header"):
        load_weights(tmp_path / "code.npy")
    assert not marker.exists()


def test_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"o\.npy: object arrays"):
        load_weights(tmp_path / "o.npy")
    dt = np.dtype([("x", "<f4"), ("o", "O")])
    np.save(tmp_path / "s.npy", np.zeros(2, dt), allow_pickle=True)
    with pytest.raises(ValueError, match=r"s\.npy: object arrays"):
        load_weights(tmp_path / "s.npy")


# -- malformed files ---------------------------------------------------------------------------
def test_every_truncation_is_refused(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {"a": np.arange(6, dtype=np.float32), "b": np.ones((2, 2), np.int16)}
    np.save(tmp_path / "full.npy", arrays["a"])
    np.savez(tmp_path / "full.npz", **arrays)
    st.save_file(arrays, str(tmp_path / "full.safetensors"))
    for suffix in ("npy", "npz", "safetensors"):
        data = (tmp_path / f"full.{suffix}").read_bytes()
        for mmap_ in (True, False):
            assert load_weights(tmp_path / f"full.{suffix}", mmap=mmap_)
        cut = tmp_path / f"cut.{suffix}"
        for n in range(len(data)):
            cut.write_bytes(data[:n])
            with pytest.raises(ValueError, match=r"cut\." + suffix):
                load_weights(cut, mmap=n % 2 == 0)


def safetensors_file(path, header, data=b"", *, raw_header=None):
    """Write a safetensors file by hand: the u64 length, the JSON header, the data."""
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("header, data, raw, problem", [
    (None, b"", b'{"a": ', "not valid JSON"),
    (None, b"", b"\xff\xfe", "not valid JSON"),
    (None, b"", b"[1, 2]", "not a JSON object"),
    (None, b"\0" * 8, b'{"a": ' + json.dumps(F32x2).encode() + b', "a": '
     + json.dumps(F32x2).encode() + b"}", "names 'a' twice"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, b"\0" * 8, None,
     "past the end"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 8, None,
     "past the end"),
    ({"a": F32x2, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8,
     None, "overlap"),
    ({"a": F32x2, "b": F32x2}, b"\0" * 8, None, "overlap"),
    ({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "unknown dtype 'Q7'"),
    ({"a": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "BF16 has no NumPy equivalent"),
    ({"a": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "unknown dtype"),
    ({"a": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "unknown dtype"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "needs 12 bytes"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "bad shape"),
    ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "bad shape"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8, None,
     "bad data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, b"\0" * 8, None,
     "bad data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, None, "missing data_offsets"),
    ({"a": [1, 2]}, b"\0" * 8, None, "expected a JSON object"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, None,
     "not part of any tensor"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, None,
     "not part of any tensor"),
    ({"__metadata__": {"k": 1}}, b"", None, "__metadata__"),
])
def test_malformed_safetensors(tmp_path, header, data, raw, problem):
    path = safetensors_file(tmp_path / "bad.safetensors", header, data, raw_header=raw)
    for mmap_ in (True, False):
        with pytest.raises(ValueError, match=r"bad\.safetensors: .*" + problem.replace(
                ".", r"\.").replace("[", r"\[")):
            load_weights(path, mmap=mmap_)


def test_safetensors_header_length_past_the_end(tmp_path):
    path = tmp_path / "len.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(ValueError, match=r"len\.safetensors: truncated"):
        load_weights(path)


def test_safetensors_edge_cases_that_are_valid(tmp_path):
    path = safetensors_file(tmp_path / "ok.safetensors", {
        "__metadata__": {"format": "pt"},
        "z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]},
        "a": {"dtype": "I16", "shape": [2, 1], "data_offsets": [0, 4]},
        "b": {"dtype": "U8", "shape": [], "data_offsets": [4, 5]},
    }, np.array([7, -3], "<i2").tobytes() + b"\x09")
    got = load_weights(path)
    assert list(got) == ["z", "a", "b"]
    assert got["z"].shape == (0, 3) and got["b"].shape == () and got["b"] == 9
    np.testing.assert_array_equal(got["a"], [[7], [-3]])
    assert load_weights(safetensors_file(tmp_path / "none.safetensors", {})) == {}


def npy_bytes(header: bytes, data: bytes = b"", version=(1, 0)):
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version[0] == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes(version) + size + header + data


@pytest.mark.parametrize("content, problem", [
    (b"PK\x03\x04 not numpy", "bad magic"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", b"\0" * 8,
               version=(9, 0)), "unsupported .npy format version 9.0"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", b"\0" * 8),
     "malformed .npy header"),
    (npy_bytes(b"{'descr': '<f4', 'shape': (2,)}", b"\0" * 8), "malformed .npy header"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}"), "bad shape"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", b"\0" * 8),
     "bad shape"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", b"\0" * 8),
     "bad fortran_order"),
    (npy_bytes(b"{'descr': '<q9', 'fortran_order': False, 'shape': (2,)}", b"\0" * 8),
     "unknown dtype"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", b"\0" * 7),
     "truncated"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", b"\0" * 9),
     "1 unexpected bytes"),
    (npy_bytes(b"{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", b"\0" * 16),
     "object arrays"),
    # issue 13: headers NumPy cannot make an array of (before: NumPy's own unnamed errors)
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (0, %d)}" % 2**63),
     "larger than NumPy's largest array"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (0, %d, 4)}" % 2**61),
     "larger than NumPy's largest array"),
    (npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (%s)}"
               % (b"1, " * 65), b"\0" * 4), "65 dimensions, NumPy allows at most 64"),
    (npy_bytes(b"{'descr': '|V0', 'fortran_order': False, 'shape': (1000000000,)}"),
     "dtype '|V0' has a size of 0 bytes"),
    (npy_bytes(b"{'descr': '(2,)<f4', 'fortran_order': False, 'shape': (3,)}", b"\0" * 24),
     "sub-array dtype"),
])
def test_malformed_npy(tmp_path, content, problem):
    (tmp_path / "bad.npy").write_bytes(content)
    for mmap_ in (True, False):
        with pytest.raises(ValueError, match=r"bad\.npy: .*" + problem.replace(".", r"\.")):
            load_weights(tmp_path / "bad.npy", mmap=mmap_)
    (tmp_path / "bad.npz").unlink(missing_ok=True)
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:  # the same member inside an .npz
        zf.writestr("w.npy", content)
    with pytest.raises(ValueError, match=r"bad\.npz \(member 'w\.npy'\): .*"
                       + problem.replace(".", r"\.")):
        load_weights(tmp_path / "bad.npz")
    with zipfile.ZipFile(tmp_path / "z.npz", "w", zipfile.ZIP_DEFLATED) as zf:  # and deflated
        zf.writestr("w.npy", content)
    for mmap_ in (True, False):
        with pytest.raises(ValueError, match=r"z\.npz \(member 'w\.npy'\): .*"
                           + problem.replace(".", r"\.")):
            load_weights(tmp_path / "z.npz", mmap=mmap_)


def test_safetensors_shape_beyond_numpy(tmp_path):
    # issue 13: a zero-size tensor of shape [0, 2**64] raised NumPy's unnamed ValueError
    for shape in ([0, 2**64], [0, 2**62, 4], [1] * 65):
        path = safetensors_file(tmp_path / "huge.safetensors",
                                {"a": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
        for mmap_ in (True, False):
            with pytest.raises(ValueError, match=r"huge\.safetensors: tensor 'a': malformed"):
                load_weights(path, mmap=mmap_)


def deflated_npz(path, header_npy: bytes, zeros: int):
    """An .npz whose one deflated member is ``header_npy`` followed by ``zeros`` zero bytes
    (a deflate bomb: 1 MiB of zeros deflates to about 1 KiB)."""
    block = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("w.npy", "w") as f:
            f.write(header_npy)
            for _ in range(zeros >> 20):
                f.write(block)
            f.write(bytes(zeros & ((1 << 20) - 1)))
    return path


BOMB_SCRIPT = """
import resource, sys
from wasmpose.memory import load_weights
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_weights(sys.argv[1])
except ValueError as exc:
    print(exc)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_deflated_member_with_a_bad_header_is_not_inflated(tmp_path):
    # issue 13: a 194 KB .npz inflated 381 MiB before the header was checked. The header is
    # now read from the first bytes of the stream: the process's peak memory does not grow.
    header = npy_bytes(b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}")
    path = deflated_npz(tmp_path / "bomb.npz", header, 256 << 20)
    assert path.stat().st_size < 1 << 20
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(path)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    message, grew_mib = out.stdout.strip().splitlines()
    assert "bomb.npz (member 'w.npy'): 268435444 unexpected bytes after the array data" \
        in message
    assert int(grew_mib) < 16


def test_deflated_member_is_never_inflated_past_its_declared_size(tmp_path):
    # a valid header, but the directory claims more bytes than deflate can produce from the
    # compressed size: refused before any allocation
    n = 1 << 20
    header = npy_bytes(b"{'descr': '|u1', 'fortran_order': False, 'shape': (%d,)}" % n)
    path = deflated_npz(tmp_path / "ok.npz", header, n)
    got = load_weights(path)["w"]
    assert got.shape == (n,) and not got.any() and not got.flags.writeable
    data = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("w.npy")
    lie = 2000 * info.compress_size  # deflate expands 1 byte into at most ~1032
    central = data.index(b"PK\x01\x02")  # the directory's entry: uncompressed size at +24
    assert struct.unpack_from("<I", data, central + 24)[0] == info.file_size
    struct.pack_into("<I", data, central + 24, lie)
    (tmp_path / "lie.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"lie\.npz \(member 'w\.npy'\): corrupt archive: "
                       r"\d+ deflated bytes cannot hold"):
        load_weights(tmp_path / "lie.npz")


def test_npz_other_compressions_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "bz.npz", "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("w.npy", npy_bytes(b"{'descr': '|u1', 'fortran_order': False, "
                                       b"'shape': (2,)}", b"\0\0"))
    with pytest.raises(ValueError, match=r"bz\.npz \(member 'w\.npy'\): compression method "
                       r"12 is not supported"):
        load_weights(tmp_path / "bz.npz")


@pytest.mark.parametrize("mmap_", [True, False])
def test_big_endian_arrays_keep_their_values(tmp_path, mmap_):
    # issue 13: byte-swapped arrays load as NumPy loads them: the stored dtype, the same values
    a = np.arange(-6, 6, dtype=">f4").reshape(3, 4)
    b = np.arange(5, dtype=">i8")
    np.savez(tmp_path / "be.npz", a=a, b=b)
    np.savez_compressed(tmp_path / "bec.npz", a=a, b=b)
    for name in ("be.npz", "bec.npz"):
        got = load_weights(tmp_path / name, mmap=mmap_)
        for k, want in (("a", a), ("b", b)):
            assert got[k].dtype == want.dtype
            np.testing.assert_array_equal(got[k], want)
            assert (got[k] * 2).tolist() == (want * 2).tolist()


def test_malformed_npz(tmp_path):
    with zipfile.ZipFile(tmp_path / "txt.npz", "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match=r"txt\.npz \(member 'notes\.txt'\): not a \.npy"):
        load_weights(tmp_path / "txt.npz")
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip archive at all")
    with pytest.raises(ValueError, match=r"junk\.npz: not a valid \.npz"):
        load_weights(tmp_path / "junk.npz")
    np.savez(tmp_path / "ok.npz", w=np.arange(10.0))
    data = bytearray((tmp_path / "ok.npz").read_bytes())
    data[0:4] = b"XXXX"  # the local header the directory points to is gone
    (tmp_path / "hdr.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"hdr\.npz \(member 'w\.npy'\): .*local header"):
        load_weights(tmp_path / "hdr.npz")
    np.savez_compressed(tmp_path / "c.npz", w=np.arange(1000.0))
    data = bytearray((tmp_path / "c.npz").read_bytes())
    data[60:80] = b"\0" * 20  # corrupt the deflate stream
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"crc\.npz \(member 'w\.npy'\)"):
        load_weights(tmp_path / "crc.npz")


def test_bad_paths(tmp_path):
    with pytest.raises(ValueError, match="path: expected a .npy, .npz or .safetensors"):
        load_weights(tmp_path / "model.pt")
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "missing.npy")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.safetensors: truncated"):
        load_weights(tmp_path / "empty.safetensors")
    with open(tmp_path / "UPPER.NPY", "wb") as f:
        np.save(f, np.arange(3))
    assert list(load_weights(tmp_path / "UPPER.NPY")) == ["UPPER"]


def test_files_that_are_not_regular_are_refused_without_blocking(tmp_path):
    # opening a FIFO blocks until a writer comes: refused before it is opened
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)

    def unblock():  # if a regression opens the FIFO, a writer comes after 5 s: no hang
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader: nothing was blocked
            pass

    timer = threading.Timer(5.0, unblock)
    timer.start()
    try:
        with pytest.raises(ValueError, match=r"pipe\.npy: not a regular file"):
            load_weights(fifo)
    finally:
        timer.cancel()
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(ValueError, match=r"dir\.npz: not a regular file"):
        load_weights(tmp_path / "dir.npz")
    (tmp_path / "zero.npy").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=r"zero\.npy: not a regular file"):
        load_weights(tmp_path / "zero.npy", mmap=False)
