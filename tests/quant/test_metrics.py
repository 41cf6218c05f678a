"""mse and sqnr: the float64 formulas, and their rules for infinities, NaN and extreme values."""

import math

import numpy as np
import pytest

from wasmpose.quant import mse, sqnr


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


# --- NaN, infinities and extreme values (issue 13) ----------------------------------------------
INF = math.inf


@pytest.mark.parametrize("ref,approx,want_mse,want_sqnr", [
    ([1, math.nan], [1, 2], math.nan, math.nan),  # sqnr was -inf while mse was nan
    ([1, 2], [1, math.nan], math.nan, math.nan),
    ([math.nan], [math.nan], math.nan, math.nan),  # NaN equals nothing, itself included
    ([INF], [INF], 0.0, INF),  # identical arrays: sqnr was nan
    ([1, -INF], [1, -INF], 0.0, INF),
    ([1, INF], [2, INF], 0.5, INF),  # infinite signal, finite noise
    ([INF], [1], INF, math.nan),  # infinite signal and noise: undefined
    ([1], [INF], INF, -INF),  # was a ValueError (math domain error)
    ([INF], [-INF], INF, math.nan),
    ([0, 0], [0, 0], 0.0, INF),
    ([0, 0], [0, 1], 0.5, -INF),
])
def test_infinities_and_nan(ref, approx, want_mse, want_sqnr):
    for r, a in ((ref, approx), (np.asarray(ref, np.float32), np.asarray(approx, np.float32))):
        got = mse(r, a), sqnr(r, a)
        assert got == pytest.approx((want_mse, want_sqnr), nan_ok=True)


def test_sqnr_is_scale_invariant_beyond_float64_squares(rng):
    # squares of 1e200 overflow float64 and squares of 1e-200 underflow: sqnr scales first
    x = rng.uniform(0.5, 2, 100)
    y = x + rng.normal(0, 1e-3, 100)
    want = sqnr(x, y)
    for k in (-1000, -600, 600, 1000):
        s = 2.0**k  # exact scaling
        assert sqnr(x * s, y * s) == pytest.approx(want, rel=1e-12)
    assert sqnr([1e200], [-1e200]) == pytest.approx(10 * math.log10(1 / 4))
    assert sqnr([1e-200], [2e-200]) == 0.0  # the squares underflow to 0: was inf
    assert sqnr([0.0], [1e-200]) == -INF
    assert mse([1e200], [-1e200]) == INF  # 4e400 rounds to inf in float64


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_python_ints_and_hostile_arrays():
    assert mse([10**30], [0]) == float(10**30) ** 2  # ints beyond int64: converted
    with pytest.raises(ValueError, match="reference: expected values within the float range"):
        sqnr([10**400], [1])
    with pytest.raises(ValueError, match="approx: expected values within the float range"):
        mse([1], [-(10**400)])
    with pytest.raises(TypeError, match="approx: expected a real numeric array, got dtype object"):
        mse([1], [None])
    with pytest.raises(TypeError, match="reference: expected a numpy array, got a masked array"):
        mse(np.ma.array([1.0, 2.0], mask=[0, 1]), [1.0, 2.0])
    x = np.arange(6.0).reshape(2, 3)
    y = x + 0.5
    for a, b in ((np.matrix(x), y), (x.astype(">f8"), y.astype(">f4"))):
        assert mse(a, b) == mse(x, y) and sqnr(a, b) == sqnr(x, y)
