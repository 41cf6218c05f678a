"""QuantParams validation, and the argument checks of quantize/dequantize."""

import numpy as np
import pytest

from wasmpose.quant import QuantParams, dequantize, quantize


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


# --- absurd numbers (issue 13) -------------------------------------------------------------------
def test_params_absurd_numbers():
    # zero points are range-checked before any cast: 1e30 used to show as -9223372036854775808
    with pytest.raises(ValueError, match=r"zero_point: expected values in \[-128, 127\] for int8, "
                                         r"got \[1e\+30\]"):
        QuantParams(1.0, 1e30, "int8")
    with pytest.raises(ValueError, match=r"got \[1e\+20\]"):  # beyond int64: as a float
        QuantParams(1.0, 10**20, "int8")
    with pytest.raises(ValueError, match="scale: expected values within the float range"):
        QuantParams(10**400, 0, "int8")  # was "expected real numbers, got dtype object"
    with pytest.raises(ValueError, match=r"scale: expected finite .* got 1e\+39"):
        QuantParams(1e39, 0, "int8")  # the value as given, not its float32 inf
    with pytest.raises(TypeError, match="scale: expected real numbers, got dtype complex128"):
        QuantParams(1j, 0, "int8")
    p = QuantParams(np.array([0.5, 2.0], ">f8"), np.array([1, -1], ">i8"), "int8", axis=0)
    assert p.scale.dtype == np.float32 and p.zero_point.dtype == np.int32
    np.testing.assert_array_equal(p.zero_point, [1, -1])


def test_zero_d_input_with_per_channel_params():
    pc = QuantParams([1.0], [0], "int8", axis=0)
    with pytest.raises(ValueError, match="params.axis: expected None for a 0-D array"):
        quantize(np.float32(1), pc)
    with pytest.raises(ValueError, match="params.axis: expected None for a 0-D array"):
        dequantize(np.int8(1), pc)
