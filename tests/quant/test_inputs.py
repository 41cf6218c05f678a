"""Hostile array arguments over every array-taking public function of wasmpose.quant.

Byte-swapped (``'>f4'``), misaligned and ``np.matrix`` inputs give exactly the result of the
plain native array (NumPy's own rule: ``np.asarray`` semantics); masked arrays are refused with a
``TypeError`` naming the argument, since their mask would be ignored (issue 13).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import layouts
from wasmpose.quant import (
    DynamicQuantizer,
    QuantizedTensor,
    QuantParams,
    calibrate,
    dequantize,
    pack_int4,
    quantize,
    unpack_int4,
)

P8 = QuantParams(0.05, 3, "int8")
PC = QuantParams([0.05, 0.1, 0.02], [0, 1, -2], "int8", axis=1)


def _observed(x):
    dq = DynamicQuantizer(axis=1)
    dq.observe(x)
    return dq.params()


# name -> (argument name, function of the array, the native array)
CASES = {
    "calibrate": ("x", lambda a: calibrate(a), np.linspace(-2, 3, 12, dtype=np.float32)),
    "calibrate[axis]": ("x", lambda a: calibrate(a, axis=1, method="entropy"),
                        np.linspace(-2, 3, 12, dtype=np.float32).reshape(4, 3)),
    "quantize": ("x", lambda a: quantize(a, P8), np.linspace(-2, 3, 12, dtype=np.float32)),
    "quantize[channel]": ("x", lambda a: quantize(a, PC),
                          np.linspace(-2, 3, 12).reshape(4, 3)),
    "dequantize": ("q", lambda a: dequantize(a, PC), np.arange(-6, 6, dtype=np.int8)
                   .reshape(4, 3)),
    "pack_int4": ("q", pack_int4, np.arange(-8, 8, dtype=np.int8).reshape(4, 4)),
    "unpack_int4": ("packed", lambda a: unpack_int4(a, (4, 4)), np.arange(8, dtype=np.uint8)),
    "from_float": ("x", lambda a: QuantizedTensor.from_float(a, dtype="int4").unpacked(),
                   np.linspace(-2, 3, 12, dtype=np.float16).reshape(3, 4)),
    "QuantizedTensor": ("data", lambda a: QuantizedTensor(a, P8, (3, 4)).dequantize(),
                        np.arange(12, dtype=np.int8).reshape(3, 4)),
    "DynamicQuantizer.observe": ("x", _observed, np.linspace(-2, 3, 12).reshape(4, 3)),
}


def _same(got, want):
    if isinstance(want, QuantParams):
        assert got == want
    else:
        assert type(got) is np.ndarray and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def _misaligned(a):
    raw = np.zeros(a.nbytes + 1, np.uint8)[1:]
    m = raw.view(a.dtype).reshape(a.shape) if a.dtype.itemsize == 1 else \
        np.frombuffer(raw.data, a.dtype, a.size).reshape(a.shape)
    m[...] = a
    return m


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_byte_swapped_misaligned_and_matrix(variant, case):
    name, fn, a = CASES[case]
    want = fn(a)
    inputs = {"byte-swapped": a.astype(a.dtype.newbyteorder(">" if a.dtype.isnative and
                                                             np.little_endian else "<")),
              "misaligned": _misaligned(a), **layouts(a)}
    if a.ndim == 2:
        inputs["matrix"] = np.asmatrix(a)
    for kind, b in inputs.items():
        if kind == "byte-swapped" and a.dtype.itemsize > 1:
            assert not b.dtype.isnative
        try:
            _same(fn(b), want)
        except AssertionError as exc:
            raise AssertionError(f"{case}, {kind} input: {exc}") from None


@pytest.mark.parametrize("case", list(CASES))
def test_masked_arrays_are_refused(case):
    name, fn, a = CASES[case]
    with pytest.raises(TypeError, match=f"{name}: expected a numpy array, got a masked array"):
        fn(np.ma.array(a, mask=np.zeros(a.shape, bool)))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
       dtype=st.sampled_from(["<f2", ">f2", "<f4", ">f4", "<f8", ">f8"]),
       seed=st.integers(0, 2**32 - 1))
def test_hypothesis_byte_orders(shape, dtype, seed):
    x = np.random.default_rng(seed).normal(0, 2, shape).astype(dtype)
    native = x.astype(x.dtype.newbyteorder("="))
    for scheme in ("affine", "symmetric"):
        p = calibrate(x, scheme=scheme, dtype="uint4")
        assert p == calibrate(native, scheme=scheme, dtype="uint4")
        np.testing.assert_array_equal(quantize(x, p), quantize(native, p))
