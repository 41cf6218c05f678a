"""Fuzzing wasmpose.quant. Defects of issue 13 this suite reproduces (fixed on main by the quant
helper) are kept as regression cases at the end (``KNOWN``)."""

import io
import os
import tempfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz._fuzz import (
    arrays,
    check,
    fuzz_settings,
    ints,
    level_strategy,
    mutated,
    names,
    numbers,
    outcome,
)
from wasmpose.quant import (
    DynamicQuantizer,
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

FLOATS = ("f4", "f8", "f2", ">f4", "f4", "i4")
QDTYPES = ("int8", "uint8", "int4", "uint4")
_OPTIONS = {
    "dtype": names(*QDTYPES), "scheme": names("affine", "symmetric"),
    "axis": st.one_of(st.none(), ints(0, 1, -1, 5)),
    "method": names("minmax", "percentile", "entropy"),
    "percentile": numbers(99.99, 50.0, 100.0, 0.0), "reduce_range": st.sampled_from(
        [False, True, 1, "yes"]), "bins": ints(2048, 16, 1, 2**40),
    "quantized_bins": st.one_of(st.none(), ints(128, 8, 1, 2**40)),
}


@fuzz_settings()
@given(x=arrays(FLOATS, max_side=6), opts=st.fixed_dictionaries({}, optional=_OPTIONS),
       level=level_strategy())
def test_calibrate(x, opts, level):
    check(lambda: calibrate(x.value, **opts), big=x.big, level=level)


@st.composite
def params(draw):
    dtype = draw(st.sampled_from(QDTYPES))
    axis = draw(st.sampled_from([None, None, 0, 1]))
    c = draw(st.integers(1, 3))
    big = False
    if axis is None:
        scale = draw(numbers(0.1, 1.0, 1e-3))
        zp = draw(st.one_of(ints(0, 3, -128, 255), numbers(0)))
    else:
        scale, zp = (draw(arrays(dt, shape=(c,))) for dt in (("f4", "f8", ">f4"),
                                                             ("i4", "i8", ">i4", "f4")))
        big = scale.big or zp.big
        scale, zp = scale.value, zp.value
    kind, p = outcome(lambda: QuantParams(scale, zp, dtype, axis), big=big)
    return p if kind == "ok" else None


@fuzz_settings()
@given(x=arrays(FLOATS, max_side=4), p=params(), level=level_strategy())
def test_quantize_and_dequantize(x, p, level):
    if p is None:
        return
    q = check(lambda: quantize(x.value, p), big=x.big, level=level)
    if q[0] == "ok":
        check(lambda: dequantize(q[1], p), level=level)
    qq = arrays(("i1", "u1", ">i2", "f4"), max_side=4)
    del qq  # dequantize of arbitrary arrays is drawn below


@fuzz_settings()
@given(q=arrays(("i1", "u1", "i2", "f4"), max_side=4), p=params(), level=level_strategy())
def test_dequantize(q, p, level):
    if p is not None:
        check(lambda: dequantize(q.value, p), big=q.big, level=level)


@fuzz_settings()
@given(q=arrays(("i1", "u1", "i2", "f4"), max_side=5), level=level_strategy(),
       shape=st.one_of(st.none(), st.lists(ints(2, 3), max_size=3).map(tuple)),
       dtype=names("int4", "uint4"))
def test_pack_and_unpack_int4(q, level, shape, dtype):
    packed = check(lambda: pack_int4(q.value), big=q.big, level=level)
    if packed[0] == "ok" and shape is None:
        shape = np.shape(q.value)
    if packed[0] == "ok":
        check(lambda: unpack_int4(packed[1], shape, dtype), level=level)


@fuzz_settings()
@given(a=arrays(FLOATS, max_side=5), b=arrays(FLOATS, max_side=5))
def test_mse_and_sqnr(a, b):
    for fn in (mse, sqnr):
        outcome(lambda: fn(a.value, b.value), big=a.big or b.big)  # noqa: B023


@fuzz_settings()
@given(ratio=numbers(0.1, 0.5, 1.0), g=arrays(FLOATS, max_side=6), data=st.data())
def test_topk_compressor(ratio, g, data):
    kind, c = outcome(lambda: TopKCompressor(ratio))
    if kind == "error":
        return
    kind, r = outcome(lambda: c.compress(g.value), big=g.big)
    if kind == "ok":
        idx, vals = r[:2] if isinstance(r, tuple) else (r, None)
        shape = data.draw(st.one_of(st.just(np.shape(g.value)), st.lists(ints(2), max_size=3)))
        dims = [d for d in shape if isinstance(d, int) and not isinstance(d, bool)]
        big = g.big or (dims and max(dims) > 2**20)  # a dense output that large may not fit
        outcome(lambda: TopKCompressor.decompress(idx, vals, shape), big=big)


@fuzz_settings()
@given(opts=st.fixed_dictionaries({}, optional=dict(
    _OPTIONS, averaging_constant=st.one_of(st.none(), numbers(0.01, 1.0)))),
    xs=st.lists(arrays(FLOATS, max_side=4), min_size=1, max_size=3))
def test_dynamic_quantizer(opts, xs):
    kind, dq = outcome(lambda: DynamicQuantizer(**opts))
    if kind == "error":
        return
    for x in xs:
        outcome(lambda: dq.observe(x.value), big=x.big)  # noqa: B023
        outcome(lambda: dq.params())
        outcome(lambda: dq.quantize(x.value), big=x.big)  # noqa: B023


def _npz_bytes(**arrays_):
    buf = io.BytesIO()
    np.savez(buf, **arrays_)
    return buf.getvalue()


@fuzz_settings(short=60)
@given(x=arrays(FLOATS, max_side=4), dtype=st.sampled_from(QDTYPES), data=st.data())
def test_quantized_tensor_roundtrip_and_crafted_files(x, dtype, data):
    kind, qt = outcome(lambda: QuantizedTensor.from_float(x.value, dtype=dtype), big=x.big)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.npz")
        if kind == "ok":
            qt.save(path)
            with open(path, "rb") as f:
                raw = f.read()
        else:
            raw = _npz_bytes(data=np.zeros(3, np.int8))
        content = data.draw(mutated(raw))
        with open(path, "wb") as f:
            f.write(content)
        kind, back = outcome(lambda: QuantizedTensor.load(path))
        if kind == "ok" and content == raw and qt is not None:
            np.testing.assert_array_equal(back.dequantize(), qt.dequantize())


# --- issue 13 defects reproduced here (fixed on main by the quant helper): regressions ------
def _qt_load_npy():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "plain.npy")
        np.save(path, np.zeros(3))
        try:
            QuantizedTensor.load(path)
        except ValueError as exc:
            assert path in str(exc), exc
            return
        raise AssertionError("loaded")


KNOWN = {
    "QuantizedTensor.load(plain .npy): TypeError about context managers": _qt_load_npy,
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_found_quant_defects_stay_fixed(name):
    KNOWN[name]()
