"""quantize/dequantize against PyTorch: bit-exact integers, identical floats, in every variant."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import layouts
from wasmpose.quant import QuantParams, dequantize, quantize
from wasmpose.quant import _reference as ref

torch = pytest.importorskip("torch")
warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

TORCH_DTYPE = {"int8": torch.qint8, "uint8": torch.quint8}
ZERO_POINTS = {"int8": (0, -128, 127, 5, -3, 77), "uint8": (0, 128, 255, 7, 131, 1)}
SCALES = (0.1, 0.0137, 1 / 3, 0.7, 2.5e-3, 17.0)


def torch_per_tensor(x, scale, zp, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.quantize_per_tensor(torch.from_numpy(np.ascontiguousarray(x)), float(scale),
                                      int(zp), TORCH_DTYPE[dtype])
    return q.int_repr().numpy(), q


def torch_per_channel(x, scales, zps, axis, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.quantize_per_channel(
            torch.from_numpy(np.ascontiguousarray(x)),
            torch.from_numpy(np.asarray(scales, np.float64)),
            torch.from_numpy(np.asarray(zps, np.int64)), axis, TORCH_DTYPE[dtype])
    return q.int_repr().numpy(), q


def tie_data(rng, n, scale, zp, lo, hi):
    """Values exactly halfway between two quantisation steps (as float32), plus a margin."""
    k = rng.integers(lo - zp - 3, hi - zp + 3, n)
    return ((k + 0.5) * np.float32(scale)).astype(np.float32)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_per_tensor_bit_exact(variant, rng, dtype):
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    for scale in SCALES:
        s = np.float32(scale)
        for zp in ZERO_POINTS[dtype]:
            p = QuantParams(s, zp, dtype)
            # odd sizes exercise torch's vector tails, ties the fused multiply-add
            for x in (tie_data(rng, 20011, s, zp, lo, hi),
                      rng.normal(0, 60 * s, 10007).astype(np.float32),
                      rng.uniform(-300 * s, 300 * s, 333).astype(np.float32)):
                want, tq = torch_per_tensor(x, s, zp, dtype)
                got = quantize(x, p)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want, err_msg=f"{scale} {zp}")
                np.testing.assert_array_equal(dequantize(got, p), tq.dequantize().numpy())


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_per_channel_bit_exact(variant, rng, dtype, axis):
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    shape = [6, 7, 33]
    c = shape[axis]
    scales = rng.choice(np.float32(SCALES), c).astype(np.float32)
    zps = rng.choice(ZERO_POINTS[dtype], c)
    p = QuantParams(scales, zps, dtype, axis=axis)
    # ties: each element halfway between two steps of its own channel
    k = rng.integers(lo - 3, hi + 3, shape)
    bshape = [1, 1, 1]
    bshape[axis] = c
    x = ((k - zps.reshape(bshape) + 0.5) * scales.reshape(bshape)).astype(np.float32)
    for data in (x, rng.normal(0, 40, shape).astype(np.float32) * scales.reshape(bshape)):
        want, tq = torch_per_channel(data, scales, zps, axis % 3, dtype)
        got = quantize(data, p)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(dequantize(got, p), tq.dequantize().numpy())


def test_fused_vs_unfused_differ_on_ties(rng):
    """The two torch paths really round differently: the per-tensor/per-channel split matters."""
    s, zp = np.float32(0.1), 127
    x = tie_data(rng, 50000, s, zp, -128, 127)
    pt = quantize(x, QuantParams(s, zp, "int8"))
    pc = quantize(x[None], QuantParams([s], [zp], "int8", axis=0))[0]
    assert np.count_nonzero(pt != pc) > 1000
    np.testing.assert_array_equal(pt, torch_per_tensor(x, s, zp, "int8")[0])
    np.testing.assert_array_equal(pc, torch_per_channel(x[None], [s], [zp], 0, "int8")[0][0])


def test_reference_fma_is_exact(rng):
    """The NumPy fused multiply-add agrees with exact rational arithmetic."""
    from fractions import Fraction

    x = np.concatenate([tie_data(rng, 300, 0.1, 5, -128, 127),
                        rng.normal(0, 1e3, 300).astype(np.float32)])
    inv = np.float32(1) / np.float32(0.1)
    got = ref.fma32(x, inv, np.float32(5))
    for xi, g in zip(x, got, strict=True):
        exact = Fraction(float(xi)) * Fraction(float(inv)) + 5
        # the float32 nearest to the exact value (ties to even), via float64 candidates
        c = np.float32(float(exact))
        cands = [np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))]
        dist = [abs(Fraction(float(v)) - exact) for v in cands]
        best = min(dist)
        ok = [v for v, d in zip(cands, dist, strict=True) if d == best]
        if len(ok) > 1:
            ok = [v for v in ok if (np.float32(v).view(np.int32) & 1) == 0]
        assert g == ok[0], (xi, g, ok)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint4"])
def test_infinities_clamp_and_zero(variant, dtype):
    lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7), "uint4": (0, 15)}[dtype]
    zp = (lo + hi + 1) // 2
    x = np.array([np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0], np.float32)
    q = quantize(x, QuantParams(1e-3, zp, dtype))
    np.testing.assert_array_equal(q, [hi, lo, hi, lo, zp, zp])


def test_four_bit_matches_clamped_torch(variant, rng):
    x = rng.normal(0, 1, 4001).astype(np.float32)
    for dtype, tdt, zp in (("int4", "int8", -2), ("uint4", "uint8", 8)):
        got = quantize(x, QuantParams(0.2, zp, dtype))
        lo, hi = (-8, 7) if dtype == "int4" else (0, 15)
        np.testing.assert_array_equal(got, np.clip(torch_per_tensor(x, 0.2, zp, tdt)[0], lo, hi))


def test_nan_raises_with_count(variant):
    x = np.array([1.0, np.nan, 2.0, np.nan, np.nan], np.float32)
    with pytest.raises(ValueError, match="x: expected no NaN values, got 3 NaN of 5"):
        quantize(x, QuantParams(0.1, 0, "int8"))
    with pytest.raises(ValueError, match="got 3 NaN"):
        quantize(x[None], QuantParams([0.1], [0], "int8", axis=0))


def test_empty(variant):
    for shape in ((0,), (3, 0)):
        x = np.zeros(shape, np.float32)
        q = quantize(x, QuantParams(0.1, 0, "int8"))
        assert q.shape == shape and q.dtype == np.int8
        assert dequantize(q, QuantParams(0.1, 0, "int8")).shape == shape
    q = quantize(np.zeros((3, 0), np.float32), QuantParams([1.0] * 3, [0] * 3, "uint8", axis=0))
    assert q.shape == (3, 0) and q.dtype == np.uint8


def test_layouts_and_float64(variant, rng):
    x = rng.normal(0, 1, (9, 14)).astype(np.float32)
    p = QuantParams(0.02, 3, "int8")
    pc = QuantParams(np.linspace(0.01, 0.05, 14), np.arange(14) - 7, "int8", axis=1)
    want, want_c = quantize(x, p), quantize(x, pc)
    for name, a in layouts(x).items():
        np.testing.assert_array_equal(quantize(a, p), want, err_msg=name)
        np.testing.assert_array_equal(quantize(a, pc), want_c, err_msg=name)
    np.testing.assert_array_equal(quantize(x.astype(np.float64), p), want)
    for name, a in layouts(want).items():
        np.testing.assert_array_equal(dequantize(a, p), dequantize(want, p), err_msg=name)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=4), st.data())
def test_hypothesis_shapes(dims, data):
    rng = np.random.default_rng(len(dims))
    x = rng.normal(0, 3, dims).astype(np.float32)
    axis = data.draw(st.integers(0, len(dims) - 1))
    c = dims[axis]
    scales = rng.uniform(0.01, 0.1, c).astype(np.float32)
    zps = rng.integers(-128, 128, c)
    got = quantize(x, QuantParams(scales, zps, "int8", axis=axis))
    np.testing.assert_array_equal(got, torch_per_channel(x, scales, zps, axis, "int8")[0])
    zp = int(zps[0])
    got = quantize(x, QuantParams(scales[0], zp, "int8"))
    np.testing.assert_array_equal(got, torch_per_tensor(x, scales[0], zp, "int8")[0])


def test_variants_agree_on_large_input(rng):
    """Parallel blocks and the serial loop give the same integers (and the reference too)."""
    from wasmpose.cpu import opt_level

    x = rng.normal(0, 1, (1 << 18) + 77).astype(np.float32)
    p = QuantParams(0.01, -5, "int8")
    x2 = x[: 64 * 4097].reshape(64, 4097)
    pc = QuantParams(np.full(64, 0.01, np.float32), np.arange(64) - 32, "int8", axis=0)
    pl = QuantParams(np.full(4097, 0.02, np.float32), np.arange(4097) % 200 - 100, "int8", axis=1)
    res = {}
    for level in ("none", "serial", "parallel"):
        with opt_level(level):
            res[level] = (quantize(x, p), quantize(x2, pc), quantize(x2, pl))
    for level in ("serial", "parallel"):
        for a, b in zip(res["none"], res[level], strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(res["serial"][0], torch_per_tensor(x, 0.01, -5, "int8")[0])
