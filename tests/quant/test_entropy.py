"""The entropy (KL-divergence) threshold search: compiled kernels against the NumPy reference and
ONNX Runtime's own ``get_entropy_threshold``, window for window and bit for bit."""

import contextlib
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpose import cpu
from wasmpose.quant import _kernels_entropy as nb
from wasmpose.quant import _reference as ref
from wasmpose.quant import calibrate
from wasmpose.quant._calibrate import _entropy_ranges

KERNEL = cpu.get_kernel("calibrate[entropy]")
COMPILED = ("numba-serial", "numba-parallel")


def kl_all(hists, qbins, variant):
    hists = np.ascontiguousarray(hists, np.int64)
    kl = np.full((hists.shape[0], hists.shape[1] // 2 - qbins // 2 + 1), np.nan, np.float32)
    KERNEL.variant(variant)(hists, qbins, kl)
    return kl


def assert_same_bits(a, b):
    np.testing.assert_array_equal(a.view(np.int32), b.view(np.int32))


def histograms(rng, c, bins, kind):
    """(c, bins) int64 histograms of the kinds the search meets."""
    if kind == "dense":  # many values: every bin filled, large counts
        h = rng.poisson(rng.uniform(50, 5000) * np.exp(-np.abs(np.linspace(-4, 4, bins))),
                        (c, bins))
    elif kind == "sparse":  # a 288-value channel of a conv weight in 2048 bins
        h = np.stack([np.histogram(rng.laplace(0, 1, 288), bins)[0] for _ in range(c)])
    elif kind == "spiky":  # a few heavy bins, outliers far out, many empty bins
        h = rng.integers(0, 3, (c, bins)) * (rng.random((c, bins)) < 0.2)
        h[:, bins // 2] += rng.integers(0, 10_000, c)
        h[:, 0] += rng.integers(0, 3, c)
    else:  # "small": counts 0-2, every tie and rounding case of tiny numbers
        h = rng.integers(0, 3, (c, bins))
    return h.astype(np.int64)


# --- NumPy's pairwise summation --------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 3000), lo=st.integers(0, 9), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1e-6, 1.0, 1e4]))
def test_pairwise_sum_is_numpys(n, lo, seed, scale):
    a = (np.random.default_rng(seed).standard_normal(n + lo) * scale).astype(np.float32)
    got = nb.pairwise_sum32(a, lo, n, np.empty((nb._STACK, 3)))
    assert np.float32(got).tobytes() == np.sum(a[lo:]).tobytes()


def test_pairwise_sum_long_and_signed_zero():
    st_ = np.empty((nb._STACK, 3))
    a = np.random.default_rng(0).random(100_003).astype(np.float32)
    assert np.float32(nb.pairwise_sum32(a, 0, a.size, st_)) == np.sum(a)
    z = np.full(20, -0.0, np.float32)
    for n in (0, 3, 20):
        assert np.float32(nb.pairwise_sum32(z, 0, n, st_)).tobytes() == np.sum(z[:n]).tobytes()


# --- every window's divergence, bit for bit -----------------------------------------------------
@pytest.mark.parametrize("kind", ["dense", "sparse", "spiky", "small"])
@pytest.mark.parametrize("bins,qbins", [(2048, 128), (515, 128), (300, 16), (64, 8), (9, 2),
                                        (40, 3)])
def test_kl_of_every_window_matches_reference(rng, kind, bins, qbins):
    c = 2 if bins == 2048 else 3
    h = histograms(rng, c, bins, kind)
    expected = kl_all(h, qbins, "numpy")
    assert np.isfinite(expected).any()
    for variant in COMPILED:
        assert_same_bits(kl_all(h, qbins, variant), expected)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bins=st.integers(4, 400), qbins=st.integers(2, 40),
       kind=st.sampled_from(["dense", "sparse", "spiky", "small"]), c=st.integers(1, 3))
def test_kl_matches_reference_hypothesis(seed, bins, qbins, kind, c):
    qbins = min(qbins, bins)
    h = histograms(np.random.default_rng(seed), c, bins, kind)
    expected = kl_all(h, qbins, "numpy")
    for variant in COMPILED:
        assert_same_bits(kl_all(h, qbins, variant), expected)


def test_undefined_windows_are_inf():
    # everything in the outer bins: q is empty in every window but the full one (ORT's
    # smoothing gives up on an all-zero distribution)
    h = np.zeros((1, 16), np.int64)
    h[0, 0] = h[0, -1] = 5
    for variant in ("numpy", *COMPILED):
        kl = kl_all(h, 4, variant)
        assert np.isinf(kl[0, :-1]).all() and np.isfinite(kl[0, -1])
        assert ref.first_minimum(kl)[0] == kl.shape[1] - 1


# --- the chosen window: first minimum ------------------------------------------------------------
def test_first_minimum():
    kl = np.array([[3, 1, 1, 2], [np.inf] * 4, [np.nan, 2, 2, np.nan]], np.float32)
    np.testing.assert_array_equal(ref.first_minimum(kl), [1, 0, 1])


def test_ties_pick_the_first_window(rng):
    # Mass only in the bins just left of and at the zero bin: while a window's blocks are single
    # bins, q == p, so several windows have a divergence of exactly 0 (and others tie too).
    # The chosen window must be the reference loop's (the first).
    ties = 0
    edges = np.linspace(-1.0, 1.0, 13)
    for _ in range(200):
        h = np.zeros((1, 12), np.int64)
        a = rng.integers(1, 6)
        h[0, 6 - a:7] = rng.integers(0, 4, a + 1)
        h[0] += rng.integers(0, 2, 12) * (rng.random(12) < 0.1)
        kl = kl_all(h, 4, "numba-serial")
        assert_same_bits(kl_all(h, 4, "numba-parallel"), kl)
        best = ref.first_minimum(kl)[0]
        ties += np.count_nonzero(kl[0] == kl[0, best]) > 1
        lo, hi = ref.entropy_threshold(h[0], edges, 4)
        assert (lo, hi) == (edges[6 - 2 - best], edges[min(6 + 2 + best + 1, 12)])
    assert ties > 20


# --- calibrate -----------------------------------------------------------------------------------
def conv_weight(rng, shape=(16, 32, 3, 3)):
    w = rng.laplace(0, 0.05, shape).astype(np.float32)
    w.reshape(shape[0], -1)[:, 0] *= 20  # an outlier per channel
    return w


def reference_range(x, bins, qbins):
    """The clipping range by the reference loop, as calibrate computed it before the kernels."""
    mn, mx = x.min(), x.max()
    t = np.float32(max(abs(mn), abs(mx)))
    hist, edges = np.histogram(x, bins, range=(-t, t))
    lo, hi = ref.entropy_threshold(hist, edges, qbins)
    return max(lo, float(mn)), min(hi, float(mx))


def test_calibrate_per_channel_matches_reference_loop(rng, variant):
    w = conv_weight(rng)
    w[3, 0, 0, 0] = np.nan  # ignored
    w[5] = 0  # one channel of zeros
    for dtype, bins in (("int8", 2048), ("int4", 256)):
        p = calibrate(w, method="entropy", axis=0, dtype=dtype, bins=bins)
        for j in range(w.shape[0]):
            row = w[j].ravel()
            lo, hi = reference_range(row[np.isfinite(row)], bins, 128 if dtype == "int8" else 8)
            e = calibrate(np.array([lo, hi], np.float32), dtype=dtype)  # minmax of the range
            assert (p.scale[j], p.zero_point[j]) == (e.scale, e.zero_point), j


def test_calibrate_per_tensor_matches_reference_loop(rng, variant):
    x = conv_weight(rng, (8, 1000)).ravel()
    for scheme in ("affine", "symmetric"):
        p = calibrate(x, method="entropy", scheme=scheme)
        lo, hi = reference_range(x, 2048, 128)
        e = calibrate(np.array([lo, hi], np.float32), scheme=scheme)
        assert (p.scale, p.zero_point) == (e.scale, e.zero_point)


def test_channel_axis_and_rows(rng):
    w = conv_weight(rng, (4, 6, 50))
    p = calibrate(w, method="entropy", axis=1, bins=512)
    for j in range(6):
        q = calibrate(np.ascontiguousarray(w[:, j]), method="entropy", bins=512)
        assert (p.scale[j], p.zero_point[j]) == (q.scale, q.zero_point)
    lo, hi = _entropy_ranges([np.empty(0, np.float32), w.ravel()], 512, 128)
    assert lo[0] == np.inf and hi[0] == -np.inf and lo[1] < 0 < hi[1]
    with pytest.raises(ValueError, match="channel"):
        calibrate(np.full((2, 3), np.inf, np.float32), method="entropy", axis=0)


# --- ONNX Runtime ---------------------------------------------------------------------------
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000),
       bins_q=st.sampled_from([(128, 128), (256, 128), (300, 16), (64, 8), (33, 4)]),
       shift=st.sampled_from([0.0, 0.5, -2.0]))
def test_search_matches_onnxruntime(seed, n, bins_q, shift):
    cal = pytest.importorskip("onnxruntime.quantization.calibrate")
    bins, qbins = bins_q
    rng = np.random.default_rng(seed)
    x = (rng.laplace(0, 1, n) + shift).astype(np.float32)
    x[rng.integers(0, n, 2)] *= 30
    mn, mx = x.min(), x.max()
    t = np.float32(max(abs(mn), abs(mx)))
    hist, edges = np.histogram(x, bins, range=(-t, t))
    with contextlib.redirect_stdout(io.StringIO()):
        lo, hi = cal.HistogramCollector.get_entropy_threshold(None, (hist, edges, mn, mx, t),
                                                              qbins)
    got = _entropy_ranges([x], bins, qbins)
    assert (got[0][0], got[1][0]) == (float(lo), float(hi))
