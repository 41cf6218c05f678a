"""smooth_tracks against SciPy itself: ``savgol_filter(mode="interp")`` and ``gaussian_filter1d``
(``mode="nearest"``, ``radius=window // 2``) on gap-free tracks and on every segment of gappy
ones; gap filling against ``np.interp``; every variant."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from tests.helpers import VARIANT_LEVELS
from wasmpose.cpu import opt_level
from wasmpose.tracking import smooth_tracks


def _tracks(rng, shape, scores=True):
    """Random-walk keypoints (T, K, C); the score channel uniform in (0.1, 1)."""
    x = np.cumsum(rng.normal(0, 3, shape), axis=0) + rng.uniform(0, 500, shape[1:])
    if shape[2] == 3 and scores:
        x[..., 2] = rng.uniform(0.1, 1.0, shape[:2])
    return x


def _close(got, want, scale):
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * max(1.0, scale))


def _scipy(x, method, window, order):
    """SciPy's filter of ``x`` (n, ...) along axis 0."""
    if method == "savgol":
        return savgol_filter(x, window, order, axis=0, mode="interp")
    return gaussian_filter1d(x, window / 6, axis=0, mode="nearest", radius=window // 2)


def _short_fit(x, order):
    """The rule for a segment shorter than the window: one least-squares polynomial (Legendre
    basis on positions scaled to [-1, 1], well conditioned at any degree)."""
    n = x.shape[0]
    u = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    leg = np.polynomial.legendre
    coef = leg.legfit(u, x.reshape(n, -1), min(order, n - 1))
    return leg.legval(u, coef).T.reshape(x.shape)


def _exact_fit(y, degree):
    """The least-squares polynomial of ``degree`` through the values ``y`` at 0, 1, ...,
    evaluated there, in exact rational arithmetic (normal equations, Gauss-Jordan)."""
    n, m = len(y), degree + 1
    ys = [Fraction(float(v)) for v in y]
    a = [[Fraction(sum(t ** (i + j) for t in range(n))) for j in range(m)] +
         [sum(Fraction(t) ** i * ys[t] for t in range(n))] for i in range(m)]
    for c in range(m):
        p = next(r for r in range(c, m) if a[r][c] != 0)
        a[c], a[p] = a[p], a[c]
        a[c] = [v / a[c][c] for v in a[c]]
        for r in range(m):
            if r != c and a[r][c] != 0:
                a[r] = [vr - a[r][c] * vc for vr, vc in zip(a[r], a[c], strict=True)]
    coef = [a[i][m] for i in range(m)]
    return np.array([float(sum(c * Fraction(t) ** i for i, c in enumerate(coef)))
                     for t in range(n)])


@pytest.mark.parametrize("shape", [(300, 33, 3), (120, 17, 2), (9, 1, 2), (1000, 5, 3)])
@pytest.mark.parametrize("window,order", [(9, 2), (1, 0), (3, 2), (5, 0), (11, 4), (31, 3),
                                          (15, 6)])
def test_savgol_equals_scipy_on_gap_free_tracks(variant, rng, shape, window, order):
    x = _tracks(rng, shape)
    got = smooth_tracks(x, window=window, order=order)
    assert got.shape == x.shape and got.dtype == np.float64
    want = (_scipy(x[..., :2], "savgol", window, order) if window <= shape[0]
            else _short_fit(x[..., :2], order))  # SciPy refuses T < window
    _close(got[..., :2], want, np.abs(x).max())
    np.testing.assert_array_equal(got[..., 2:], x[..., 2:])  # scores are not smoothed


@pytest.mark.parametrize("shape", [(300, 33, 3), (40, 17, 2), (3, 2, 3), (1, 1, 2)])
@pytest.mark.parametrize("window", [1, 3, 9, 15, 41])
def test_gaussian_equals_scipy_on_gap_free_tracks(variant, rng, shape, window):
    x = _tracks(rng, shape)
    got = smooth_tracks(x, method="gaussian", window=window)
    _close(got[..., :2], _scipy(x[..., :2], "gaussian", window, 0), np.abs(x).max())
    np.testing.assert_array_equal(got[..., 2:], x[..., 2:])


@settings(max_examples=60, deadline=None)
@given(t=st.integers(1, 40), k=st.integers(1, 4), c=st.sampled_from([2, 3]),
       half=st.integers(0, 7), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_property_every_variant_equals_scipy(t, k, c, half, data, seed):
    window = 2 * half + 1
    order = data.draw(st.integers(0, min(window - 1, 6)))  # SciPy's accurate range (below)
    method = data.draw(st.sampled_from(["savgol", "gaussian"]))
    dtype = data.draw(st.sampled_from([np.float64, np.float32, np.int64]))
    x = _tracks(np.random.default_rng(seed), (t, k, c)).astype(dtype)
    if c == 3 and dtype == np.int64:
        x[..., 2] = 1  # scores of 0.1 .. 1 truncate to 0: missing points
    xf = x.astype(np.float64)
    if method == "gaussian":
        want = _scipy(xf[..., :2], method, window, order)
    elif window <= t:
        want = _scipy(xf[..., :2], method, window, order)
    else:  # T < window: one polynomial over the whole track (SciPy refuses)
        want = _short_fit(xf[..., :2], order)
    for level in VARIANT_LEVELS.values():
        with opt_level(level):
            got = smooth_tracks(x, method=method, window=window, order=order)
        assert got.dtype == (np.float32 if dtype == np.float32 else np.float64)
        if dtype == np.float32:
            np.testing.assert_allclose(got[..., :2], want, rtol=1e-5, atol=1e-3)
        else:
            _close(got[..., :2], want, np.abs(xf).max())
        np.testing.assert_array_equal(got[..., 2:], x[..., 2:])


@pytest.mark.parametrize("window,order", [(21, 20), (31, 12), (41, 16)])
def test_high_orders_against_exact_rational_fits(variant, rng, window, order):
    # SciPy's edges (polyfit on positions 0..window-1) lose precision at high orders: 277 px
    # off at (41, 16) on values of a few hundred; the fit here is exact to 1e-12 relative
    x = _tracks(rng, (window + 12, 1, 2))
    got = smooth_tracks(x, window=window, order=order)
    h = window // 2
    for c in range(2):
        head = _exact_fit(x[:window, 0, c], order)
        tail = _exact_fit(x[-window:, 0, c], order)
        _close(got[:h, 0, c], head[:h], np.abs(x).max())
        _close(got[-h:, 0, c], tail[-h:], np.abs(x).max())
        for t in (h, h + 5, window + 12 - h - 1):  # interior frames: the centre of a fit
            _close(got[t, 0, c], _exact_fit(x[t - h:t + h + 1, 0, c], order)[h],
                   np.abs(x).max())
    if order == window - 1:
        _close(got, x, np.abs(x).max())  # as many coefficients as frames: unchanged


@pytest.mark.parametrize("n,order", [(1, 2), (2, 2), (3, 2), (4, 2), (7, 2), (8, 3), (5, 0)])
def test_track_shorter_than_the_window_is_one_polynomial_fit(variant, rng, n, order):
    x = _tracks(rng, (n, 3, 2))
    got = smooth_tracks(x, window=9, order=order)
    _close(got, _short_fit(x, order), np.abs(x).max())
    if n <= order + 1:
        _close(got, x, np.abs(x).max())  # as many frames as coefficients: unchanged


def _segments(mask):
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return edges.reshape(-1, 2).tolist()


@pytest.mark.parametrize("method", ["savgol", "gaussian"])
@pytest.mark.parametrize("fill_gaps", [True, False])
@pytest.mark.parametrize("marker", ["nan", "score"])
def test_gaps_against_interp_and_scipy_per_segment(variant, rng, method, fill_gaps, marker):
    window, order = 7, 2
    t_len = 120
    x = _tracks(rng, (t_len, 2, 3))
    gaps = {0: [(0, 3), (20, 21), (40, 47), (60, 68), (100, 104), (117, 120)],  # 7 filled, 8 not
            1: [(50, 51), (90, 92)]}
    missing = np.zeros((t_len, 2), bool)
    for k, runs in gaps.items():
        for a, b in runs:
            missing[a:b, k] = True
    given = x.copy()
    if marker == "nan":
        given[missing, :2] = np.nan
    else:
        given[missing, 2] = 0.0
        given[missing, :2] = -5.0  # whatever a detector leaves in a missing point
    got = smooth_tracks(given, method=method, window=window, order=order, fill_gaps=fill_gaps)
    for k in range(2):
        filled = given[:, k].copy()
        present = ~missing[:, k]
        if fill_gaps:
            for a, b in gaps[k]:
                if a > 0 and b < t_len and b - a <= window:
                    for ch in range(3):
                        filled[a:b, ch] = np.interp(np.arange(a, b), [a - 1, b],
                                                    given[[a - 1, b], k, ch])
                    present[a:b] = True
        # missing points come back unchanged, still marked missing
        np.testing.assert_array_equal(got[~present, k], given[~present, k])
        # the score channel: the given scores, interpolated in filled gaps only
        np.testing.assert_array_equal(got[present, k, 2], filled[present, 2])
        for s, e in _segments(present):
            seg = filled[s:e, :2]
            want = (_scipy(seg, method, window, order) if method == "gaussian" or e - s >= window
                    else _short_fit(seg, order))
            _close(got[s:e, k, :2], want, np.abs(x).max())
    # the 7-frame gap is filled (= window), the 8-frame one is not, nor the ends
    assert (not np.isnan(got[40:47, 0, 0]).any()) == (fill_gaps or marker == "score")
    assert (got[60:68, 0, 2] == 0).all() or marker == "nan"


def test_nothing_crosses_a_long_gap(rng):
    # a jump of 1000 px across a long gap: neither side sees the other
    x = np.zeros((60, 1, 2))
    x[:30] = 10.0
    x[30:40] = np.nan
    x[40:] = 1010.0
    for method in ("savgol", "gaussian"):
        got = smooth_tracks(x, method=method, window=9)
        np.testing.assert_allclose(got[:30], 10.0)
        np.testing.assert_allclose(got[40:], 1010.0)
        assert np.isnan(got[30:40]).all()


def test_linear_motion_is_kept_exactly_through_a_filled_gap():
    t = np.arange(50.0)
    x = np.stack([3 * t + 1, -2 * t + 7, np.full(50, 0.9)], axis=-1)[:, None, :]
    x[20:25, 0, 2] = 0.0
    for method, order in (("savgol", 1), ("savgol", 3)):
        got = smooth_tracks(x, method=method, window=9, order=order)
        np.testing.assert_allclose(got[:, 0, :2], x[:, 0, :2] * 0 + np.stack(
            [3 * t + 1, -2 * t + 7], axis=-1), atol=1e-9)
        np.testing.assert_allclose(got[20:25, 0, 2], 0.9)


def test_float32_in_float32_out_and_never_the_callers_memory(rng):
    x = _tracks(rng, (50, 4, 3)).astype(np.float32)
    kept = x.copy()
    got = smooth_tracks(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(x, kept)
    got64 = smooth_tracks(x.astype(np.float64))
    np.testing.assert_allclose(got, got64, rtol=1e-6, atol=1e-4)
    # strided and byte-swapped views give the contiguous input's result
    np.testing.assert_array_equal(smooth_tracks(x.astype(">f4")).astype(np.float32), got)
    big = np.concatenate([x, x], axis=0)[::2]
    np.testing.assert_array_equal(smooth_tracks(big), smooth_tracks(big.copy()))


def test_empty_inputs():
    for shape in ((0, 17, 3), (10, 0, 2), (0, 0, 2)):
        got = smooth_tracks(np.zeros(shape))
        assert got.shape == shape
    assert np.isnan(smooth_tracks(np.full((20, 2, 2), np.nan))).all()


@pytest.mark.parametrize("kwargs,exc,start", [
    (dict(window=8), ValueError, "window: expected an odd int"),
    (dict(window=0), ValueError, "window: expected an odd int"),
    (dict(window=-3), ValueError, "window: expected an odd int"),
    (dict(window=65537), ValueError, "window: expected an odd int from 1 to 65535"),
    (dict(window=9.0), TypeError, "window:"),
    (dict(window=True), TypeError, "window:"),
    (dict(order=9), ValueError, "order: expected an int < window (9), got 9"),
    (dict(order=12, window=9), ValueError, "order: expected an int < window"),
    (dict(order=-1), ValueError, "order:"),
    (dict(order=33, window=101), ValueError, "order: expected an int <= 32"),
    (dict(order=2.0), TypeError, "order:"),
    (dict(method="median"), ValueError, "method:"),
    (dict(method=None), TypeError, "method:"),
    (dict(fill_gaps=1), TypeError, "fill_gaps:"),
    (dict(fill_gaps="yes"), TypeError, "fill_gaps:"),
])
def test_bad_options(kwargs, exc, start):
    with pytest.raises(exc) as info:
        smooth_tracks(np.zeros((20, 2, 2)), **kwargs)
    assert str(info.value).startswith(start), str(info.value)


def test_order_is_not_checked_against_the_window_for_the_gaussian():
    x = np.arange(40.0).reshape(20, 1, 2)
    np.testing.assert_allclose(smooth_tracks(x, method="gaussian", window=3, order=5)[5:15],
                               x[5:15])


@pytest.mark.parametrize("bad,exc,start", [
    (np.zeros((20, 2)), ValueError, "keypoints: expected a (T, K, 2 or 3) array"),
    (np.zeros((20, 2, 4)), ValueError, "keypoints: expected 2 or 3 values"),
    (np.zeros((20, 2, 2), complex), TypeError, "keypoints: expected dtype"),
    (np.zeros((20, 2, 2), bool), TypeError, "keypoints: expected dtype"),
    ("tracks", TypeError, "keypoints:"),
    (None, TypeError, "keypoints:"),
])
def test_bad_keypoints(bad, exc, start):
    with pytest.raises(exc) as info:
        smooth_tracks(bad)
    assert str(info.value).startswith(start), str(info.value)


@pytest.mark.parametrize("level", list(VARIANT_LEVELS.values()))
def test_infinite_values_are_refused(level):
    x = np.zeros((30, 3, 3)) + 1.0
    x[4, 1, 0] = np.inf
    x[7, 2, 2] = -np.inf
    x[9, 0, 1] = np.nan  # NaN is a missing point, not an error
    with opt_level(level), pytest.raises(ValueError, match=r"^keypoints: expected finite values "
                                                          r"or NaN .* got 2 infinite"):
        smooth_tracks(x)


def test_large_tracks_use_every_variant_alike(rng):
    # above the parallel threshold, with gaps (the per-keypoint path) and without (row blocks)
    x = _tracks(rng, (3000, 17, 3))
    gappy = x.copy()
    gappy[rng.random((3000, 17)) < 0.02, 2] = 0.0
    gappy[0, 3, 2] = 0.0  # a leading gap: stays missing, so not every keypoint is complete
    for data in (x, gappy):
        with opt_level("none"):
            want = smooth_tracks(data)
        for level in ("serial", "parallel", "full"):
            with opt_level(level):
                _close(smooth_tracks(data), want, np.abs(x).max())
    _close(smooth_tracks(x)[..., :2], _scipy(x[..., :2], "savgol", 9, 2), np.abs(x).max())
