"""4-bit packing, QuantizedTensor (save/load without pickle), metrics, TopKCompressor, bad input."""

import io
import math
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpose.quant import (
    QuantizedTensor,
    QuantParams,
    TopKCompressor,
    calibrate,
    dequantize,
    mse,
    pack_int4,
    quantize,
    sqnr,
    unpack_int4,
)


# --- packing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 1001, (1 << 17) + 3])
def test_pack_round_trip(variant, rng, n):
    for dtype, lo, hi, np_dt in (("int4", -8, 8, np.int8), ("uint4", 0, 16, np.uint8)):
        q = rng.integers(lo, hi, n).astype(np_dt)
        packed = pack_int4(q)
        assert packed.dtype == np.uint8 and packed.shape == ((n + 1) // 2,)
        np.testing.assert_array_equal(unpack_int4(packed, (n,), dtype), q)
        # the layout: element 2k in the low nibble of byte k
        if n >= 2:
            assert packed[0] == (int(q[0]) & 15) | ((int(q[1]) & 15) << 4)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, (1 << 17) + 3])
def test_pack_matches_torch_quint4x2(variant, rng, n):
    # torch's quint4x2 stores element 2k in the low nibble of byte k; int4 packs its
    # two's-complement nibbles, i.e. the uint4 values q & 15
    torch = pytest.importorskip("torch")
    import warnings

    u = rng.integers(0, 16, n).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq = torch.quantize_per_tensor(torch.from_numpy(u.astype(np.float32)), 1.0, 0,
                                       torch.quint4x2)
    want = tq.int_repr().numpy()
    np.testing.assert_array_equal(pack_int4(u), want)
    np.testing.assert_array_equal(unpack_int4(want, (n,), "uint4"), u)
    s = (u.astype(np.int8) ^ 8) - 8  # the int4 values whose nibbles are u
    np.testing.assert_array_equal(pack_int4(s), want)
    np.testing.assert_array_equal(unpack_int4(want, (n,), "int4"), s)


def test_pack_rejects_out_of_range(variant):
    with pytest.raises(ValueError, match=r"q: expected int8 values in \[-8, 7\], got 2 outside"):
        pack_int4(np.array([0, 8, -9, 1], np.int8))
    with pytest.raises(ValueError, match=r"uint8 values in \[0, 15\], got 1 outside"):
        pack_int4(np.array([0, 3, 16], np.uint8))
    with pytest.raises(ValueError, match="packed: expected 2 bytes"):
        unpack_int4(np.zeros(3, np.uint8), (4,))


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


# --- metrics -------------------------------------------------------------------------------------
def test_mse_sqnr(rng):
    x = rng.normal(0, 1, 1000)
    y = x + rng.normal(0, 0.01, 1000)
    assert mse(x, y) == pytest.approx(np.mean((x - y) ** 2), rel=1e-12)
    assert sqnr(x, y) == pytest.approx(10 * math.log10(np.sum(x**2) / np.sum((x - y) ** 2)))
    assert sqnr(x, x) == math.inf and mse(x, x) == 0.0
    assert sqnr(np.zeros(3), np.ones(3)) == -math.inf
    assert mse(np.zeros(0), np.zeros(0)) == 0.0
    with pytest.raises(ValueError, match="approx: expected shape"):
        mse(x, y[:5])
    with pytest.raises(TypeError, match="reference"):
        sqnr(np.array(["a"]), np.array(["b"]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_mse_sqnr_equal_the_float64_formulas(rng, dtype):
    # bit for bit with the formulas on float64 copies, whatever the layout (also 0-d)
    x = (rng.normal(0, 50, (37, 41))).astype(dtype)
    y = (x + 1 + np.abs(rng.normal(0, 2, x.shape))).astype(dtype)  # differs everywhere
    pairs = ((x, y), (np.asfortranarray(x), y), (x[::-2, ::2], y[::2, ::2]), (x[0, 0], y[0, 0]))
    for a, b in pairs:
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        noise = np.sum(np.square(a64 - b64))
        assert mse(a, b) == float(np.mean(np.square(a64 - b64)))
        assert sqnr(a, b) == 10 * math.log10(float(np.sum(np.square(a64))) / float(noise))


# --- TopKCompressor ------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.01, 0.07, 0.5, 1.0])
def test_topk_error_feedback_is_exact(rng, ratio):
    tk = TopKCompressor(ratio)
    shape = (13, 17)
    sent = np.zeros(shape)
    total = np.zeros(shape)
    for _ in range(60):
        # dyadic values: every float64 sum here is exact, so equality must hold bit for bit
        g = rng.integers(-2**20, 2**20, shape) / 2.0**10
        idx, val = tk.compress(g)
        assert idx.size == math.ceil(round(ratio * g.size, 9)) and idx.dtype == np.int64
        assert np.all(np.diff(idx) > 0)
        sent += tk.decompress(idx, val, shape)
        total += g
        np.testing.assert_array_equal(sent + tk.residual, total)
    assert TopKCompressor(0.07).k(100) == 7


def test_topk_picks_largest_magnitudes(rng):
    tk = TopKCompressor(0.1)
    g = rng.normal(0, 1, 1000)
    idx, val = tk.compress(g)
    thresh = np.sort(np.abs(g))[-100]
    assert np.all(np.abs(val) >= thresh) and np.all(np.abs(tk.residual) <= thresh)
    with pytest.raises(ValueError, match="g: expected shape"):
        tk.compress(np.zeros(5))
    with pytest.raises(ValueError, match="ratio"):
        TopKCompressor(0)
    with pytest.raises(ValueError, match="indices"):
        tk.decompress(np.array([5]), np.array([1.0]), (3,))
    with pytest.raises(ValueError, match="got 1 NaN"):
        TopKCompressor(0.5).compress(np.array([1.0, np.nan]))


@pytest.mark.parametrize("n_nan", [1, 3, 500])
def test_topk_nan_anywhere_raises_and_keeps_the_residual(rng, n_nan):
    tk = TopKCompressor(0.01)
    tk.compress(rng.normal(0, 1, 1000))
    before = tk.residual.copy()
    g = rng.normal(0, 1, 1000)
    g[rng.choice(1000, n_nan, replace=False)] = np.nan
    with pytest.raises(ValueError, match=f"g: expected no NaN values, got {n_nan} NaN"):
        tk.compress(g)
    np.testing.assert_array_equal(tk.residual, before)
    tk.compress(np.full(1000, -np.inf))  # inf - inf in g + residual is a NaN too
    with pytest.raises(ValueError, match="NaN"):
        tk.compress(np.full(1000, np.inf))


# --- QuantParams and bad input -------------------------------------------------------------------
def test_quant_params_validation():
    p = QuantParams(np.float64(0.1), 3, "INT8")
    assert p.dtype == "int8" and p.scale.dtype == np.float32 and p.zero_point.dtype == np.int32
    assert (QuantParams(1.0, 0, "uint4", reduce_range=True).qmax,
            QuantParams(1.0, 0, "int4", reduce_range=True).qmin) == (7, -4)
    cases = [
        (dict(scale=0.0, zero_point=0, dtype="int8"), ValueError, "scale: expected finite"),
        (dict(scale=-1.0, zero_point=0, dtype="int8"), ValueError, "scale"),
        (dict(scale=np.inf, zero_point=0, dtype="int8"), ValueError, "scale"),
        (dict(scale=1e-39, zero_point=0, dtype="int8"), ValueError, "reciprocal"),
        (dict(scale=1.0, zero_point=128, dtype="int8"), ValueError,
         r"zero_point: expected values in \[-128, 127\]"),
        (dict(scale=1.0, zero_point=16, dtype="uint4"), ValueError, "zero_point"),
        (dict(scale=1.0, zero_point=0, dtype="int16"), ValueError, "dtype: expected one of"),
        (dict(scale=1.0, zero_point=0.5, dtype="int8"), TypeError, "zero_point"),
        (dict(scale=[1.0, 2.0], zero_point=[0], dtype="int8", axis=0), ValueError,
         "zero_point: expected 2 values"),
        (dict(scale=[1.0], zero_point=0, dtype="int8", axis=0), ValueError, "1-D"),
        (dict(scale=[1.0], zero_point=[0], dtype="int8"), ValueError, "scalar"),
        (dict(scale=1.0, zero_point=0, dtype="int8", axis="0"), TypeError, "axis"),
    ]
    for kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            QuantParams(**kw)
    with pytest.raises(AttributeError):  # dataclasses.FrozenInstanceError
        p.scale = 2


def test_quantize_bad_input():
    x = np.ones((3, 4), np.float32)
    pc = QuantParams([1.0, 2.0, 3.0], [0, 0, 0], "int8", axis=1)
    with pytest.raises(ValueError, match=r"x: expected 3 channels \(params\) along axis 1"):
        quantize(x, pc)
    with pytest.raises(ValueError, match=r"params.axis: expected a value in \[-1, 0\]"):
        quantize(np.ones(3, np.float32), QuantParams([1.0], [0], "int8", axis=1))
    with pytest.raises(TypeError, match="params: expected a QuantParams"):
        quantize(x, (1.0, 0))
    with pytest.raises(TypeError, match="x: expected dtype"):
        quantize(np.ones(3, np.int32), QuantParams(1.0, 0, "int8"))
    with pytest.raises(TypeError, match="q: expected dtype uint8"):
        dequantize(np.ones(3, np.int8), QuantParams(1.0, 0, "uint8"))
    with pytest.raises(ValueError, match="q: expected 3 channels"):
        dequantize(np.ones((3, 4), np.int8), pc)
