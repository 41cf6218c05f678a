"""find_peaks against the max-pool rule (PyTorch), scikit-image, and the exact edge cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wasmpose
from tests.helpers import layouts
from wasmpose.heatmap import Peaks, find_peaks

LEVELS = ("none", "simd", "parallel", "full")


def smooth_maps(rng, shape, sigma=2.0, dtype=np.float32):
    """Random smooth heatmaps in [0, 1] (a separable Gaussian blur of uniform noise)."""
    x = rng.random(shape)
    r = int(3 * sigma)
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    g /= g.sum()
    for ax in (-1, -2):
        x = np.apply_along_axis(lambda v: np.convolve(v, g, mode="same"), ax, x)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(dtype)


def maxpool_peaks(h, threshold=0.1, window=3, top_k=None):
    """The oracle: ``max_pool2d(h) == h`` with PyTorch (NaN read as -inf), in the contract's
    order (batch, channel, score descending, y, x)."""
    torch = pytest.importorskip("torch")
    h4 = h if h.ndim == 4 else h[None]
    clean = torch.from_numpy(np.where(np.isnan(h4), -np.inf, h4).copy())
    pooled = torch.nn.functional.max_pool2d(clean, window, stride=1, padding=window // 2)
    thr = h.dtype.type(threshold)
    mask = (pooled.numpy() == h4) & (h4 > thr)
    b, c, y, x = np.nonzero(mask)
    s = h4[b, c, y, x]
    o = np.lexsort((x, y, -s, c, b))
    b, c, y, x, s = b[o], c[o], y[o], x[o], s[o]
    if top_k is not None:
        key = b * h4.shape[1] + c
        rank = np.arange(key.size) - np.searchsorted(key, key)
        keep = rank < top_k
        b, c, y, x, s = b[keep], c[keep], y[keep], x[keep], s[keep]
    return b, c, y, x, s


def assert_peaks(p, want):
    assert isinstance(p, Peaks)
    for got, exp, name in zip(p, want, Peaks._fields, strict=True):
        assert got.ndim == 1, name
        np.testing.assert_array_equal(got, exp, err_msg=name)
    for name in ("batch", "channel", "y", "x"):
        assert getattr(p, name).dtype == np.int32, name


@pytest.mark.parametrize("window", [1, 3, 5, 7])
@pytest.mark.parametrize("shape", [(17, 64, 48), (2, 5, 33, 21), (1, 512, 512)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_maxpool(variant, rng, shape, window, dtype):
    h = smooth_maps(rng, shape, dtype=dtype)
    assert_peaks(find_peaks(h, window=window), maxpool_peaks(h, window=window))


@pytest.mark.parametrize("window", [3, 5])
def test_top_k_and_thresholds(variant, rng, window):
    h = smooth_maps(rng, (3, 4, 40, 30), sigma=1.5)
    for thr in (-np.inf, 0.0, 0.35, 0.8):
        for k in (None, 0, 1, 3, 1000):
            got = find_peaks(h, threshold=thr, window=window, top_k=k)
            assert_peaks(got, maxpool_peaks(h, threshold=thr, window=window, top_k=k))


@pytest.mark.parametrize("window", [1, 3, 5])
def test_matches_peak_local_max(rng, window):
    """skimage's peak_local_max with min_distance = window // 2 finds the same peaks on maps
    without plateaus (two strict maxima are never inside each other's window)."""
    feature = pytest.importorskip("skimage.feature")
    h = smooth_maps(rng, (6, 48, 40), sigma=1.5, dtype=np.float64)
    p = find_peaks(h, threshold=0.2, window=window)
    for k in range(h.shape[0]):
        sk = feature.peak_local_max(h[k], min_distance=max(window // 2, 1) if window > 1 else 1,
                                    threshold_abs=0.2, exclude_border=False)
        if window == 1:  # every pixel above the threshold is a window-1 peak
            sk = np.argwhere(h[k] > 0.2)
        mine = np.stack([p.y[p.channel == k], p.x[p.channel == k]], axis=1)
        assert sorted(map(tuple, mine)) == sorted(map(tuple, sk))


def test_plateau_every_pixel_is_a_peak(variant):
    h = np.zeros((1, 8, 9), np.float32)
    h[0, 2:5, 3:6] = 0.7  # a flat 3x3 maximum
    h[0, 7, 0] = 0.4  # corner
    p = find_peaks(h)
    assert len(p.x) == 10
    assert set(zip(p.y[:9].tolist(), p.x[:9].tolist(), strict=True)) == {(y, x) for y in range(2, 5)
                                                            for x in range(3, 6)}
    assert (p.y[:9].tolist(), p.x[:9].tolist()) == ([2, 2, 2, 3, 3, 3, 4, 4, 4],
                                                     [3, 4, 5, 3, 4, 5, 3, 4, 5])
    # a plateau next to a higher pixel is not a peak; the higher pixel is
    h[0, 3, 6] = 0.9
    p = find_peaks(h)
    assert_peaks(p, maxpool_peaks(h))
    assert (0, 3, 6) in set(zip(p.channel.tolist(), p.y.tolist(), p.x.tolist(), strict=True))
    assert (0, 3, 5) not in set(zip(p.channel.tolist(), p.y.tolist(), p.x.tolist(), strict=True))


@pytest.mark.parametrize("window", [3, 5, 7, 9])
def test_borders_and_corners(variant, window):
    h = np.full((2, 9, 11), 0.2, np.float64)
    for c, (y, x) in enumerate([(0, 0), (8, 10)]):
        h[c, y, x] = 0.9
    h[0, 0, 10] = h[0, 8, 0] = h[1, 4, 0] = h[1, 0, 5] = 0.8
    p = find_peaks(h, window=window)
    assert_peaks(p, maxpool_peaks(h, window=window))
    got = set(zip(p.channel.tolist(), p.y.tolist(), p.x.tolist(), strict=True))
    assert {(0, 0, 0), (0, 0, 10), (0, 8, 0), (1, 8, 10), (1, 4, 0), (1, 0, 5)} <= got


def test_window_larger_than_map(variant):
    h = np.array([[[0.3, 0.5], [0.2, 0.5]]], np.float32)
    p = find_peaks(h, window=9)
    assert (p.y.tolist(), p.x.tolist()) == ([0, 1], [1, 1])


def test_nan_pixels(variant, rng):
    h = smooth_maps(rng, (4, 30, 25))
    h[rng.random(h.shape) < 0.1] = np.nan
    h[0, :3, :3] = np.nan
    h[0, 1, 1] = 0.5  # surrounded by NaN: still a peak (NaN neighbours are -inf)
    h[1] = np.nan
    p = find_peaks(h)
    assert_peaks(p, maxpool_peaks(h))
    assert not np.isnan(p.score).any()
    assert (0, 1, 1) in set(zip(p.channel.tolist(), p.y.tolist(), p.x.tolist(), strict=True))
    assert not (p.channel == 1).any()


def test_infinities_and_extremes(variant):
    f = np.finfo(np.float32)
    h = np.full((1, 6, 6), -np.inf, np.float32)
    h[0, 1, 1] = np.inf
    h[0, 4, 4] = f.max
    h[0, 4, 1] = f.min
    p = find_peaks(h, threshold=-np.inf)
    assert (p.y.tolist(), p.x.tolist()) == ([1, 4, 4], [1, 4, 1])
    assert p.score[0] == np.inf
    assert len(find_peaks(h, threshold=np.inf).x) == 0
    assert len(find_peaks(h, threshold=1e300).x) == 0  # rounds to +inf in float32


def test_constant_and_below_threshold(variant):
    h = np.full((2, 5, 4), 0.5, np.float32)
    p = find_peaks(h)
    assert len(p.x) == 40  # every pixel of a constant map above the threshold
    assert_peaks(p, maxpool_peaks(h))
    p = find_peaks(h, threshold=0.5)
    assert len(p.x) == 0
    for name, arr in zip(Peaks._fields, p, strict=True):
        assert arr.shape == (0,) and arr.dtype == (np.float32 if name == "score" else np.int32)


def test_threshold_compared_in_the_maps_dtype(variant):
    """0.1 rounds to 0.100000001 in float32: a pixel of exactly float32(0.1) is not above it,
    as with NumPy (``h > 0.1``) and PyTorch."""
    h = np.zeros((1, 3, 3), np.float32)
    h[0, 1, 1] = np.float32(0.1)
    assert len(find_peaks(h, threshold=0.1).x) == 0
    assert len(find_peaks(h.astype(np.float64), threshold=0.1).x) == 1


def test_top_k_ties_by_y_then_x(variant):
    h = np.zeros((1, 7, 7), np.float64)
    for y, x in [(5, 1), (1, 5), (1, 1), (3, 3)]:
        h[0, y, x] = 0.6
    h[0, 5, 5] = 0.9
    p = find_peaks(h, top_k=3)
    assert list(zip(p.y.tolist(), p.x.tolist(), strict=True)) == [(5, 5), (1, 1), (1, 5)]


def test_batch_and_channel_indices(variant, rng):
    h = smooth_maps(rng, (3, 2, 20, 20))
    p = find_peaks(h)
    assert_peaks(p, maxpool_peaks(h))
    assert set(p.batch.tolist()) == {0, 1, 2} and set(p.channel.tolist()) == {0, 1}
    p3 = find_peaks(h[1])
    assert (p3.batch == 0).all()
    sel = p.batch == 1
    np.testing.assert_array_equal(p3.y, p.y[sel])
    np.testing.assert_array_equal(p3.score, p.score[sel])


@pytest.mark.parametrize("shape", [(0, 5, 5), (3, 0, 5), (3, 5, 0), (0, 2, 4, 4)])
def test_empty(shape):
    p = find_peaks(np.zeros(shape, np.float64))
    assert all(a.shape == (0,) for a in p)
    assert p.score.dtype == np.float64


def test_layouts(rng):
    h = smooth_maps(rng, (5, 24, 20), dtype=np.float64)
    want = find_peaks(h)
    for name, a in layouts(h).items():
        got = find_peaks(a)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), k=st.integers(1, 3), hh=st.integers(1, 40), w=st.integers(1, 40),
       window=st.sampled_from([1, 3, 5, 7]), dtype=st.sampled_from([np.float32, np.float64]),
       levels=st.integers(2, 6), seed=st.integers(0, 2**32 - 1),
       top_k=st.none() | st.integers(0, 4), four_d=st.booleans())
def test_hypothesis_against_maxpool(n, k, hh, w, window, dtype, levels, seed, top_k, four_d):
    """Few distinct levels make plateaus and ties common."""
    rng = np.random.default_rng(seed)
    h = (rng.integers(0, levels, (n, k, hh, w)) / (levels - 1)).astype(dtype)
    if not four_d:
        h = h[0]
    want = maxpool_peaks(h, threshold=0.2, window=window, top_k=top_k)
    for level in LEVELS:
        with wasmpose.opt_level(level):
            assert_peaks(find_peaks(h, threshold=0.2, window=window, top_k=top_k), want)


@pytest.mark.parametrize("h, kwargs, exc, pattern", [
    (np.zeros((4, 4), np.float32), {}, ValueError, "heatmaps: expected a"),
    (np.zeros((1, 1, 1, 4, 4), np.float32), {}, ValueError, "heatmaps: expected a"),
    (np.zeros((1, 4, 4), np.int32), {}, TypeError, "heatmaps: expected dtype"),
    ("maps", {}, TypeError, "heatmaps: expected a numpy array"),
    (None, {"window": 4}, ValueError, "window: expected an odd int >= 1, got 4"),
    (None, {"window": 0}, ValueError, "window: expected an odd int >= 1, got 0"),
    (None, {"window": 3.0}, TypeError, "window: expected an odd int"),
    (None, {"window": True}, TypeError, "window: expected an odd int"),
    (None, {"threshold": np.nan}, ValueError, "threshold: expected a number, got nan"),
    (None, {"threshold": "0.1"}, TypeError, "threshold: expected a real number"),
    (None, {"top_k": -1}, ValueError, "top_k: expected an int >= 0"),
    (None, {"top_k": 2.5}, TypeError, "top_k: expected an int >= 0"),
])
def test_bad_input(h, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        find_peaks(np.zeros((1, 4, 4), np.float32) if h is None else h, **kwargs)


@pytest.mark.parametrize("shape", [(17, 64, 48), (1, 128, 96)])
def test_torch_peer_of_the_benchmarks_finds_the_same_peaks(shape):
    """``wasmpose.tools.peers.torch_peaks``, the max-pool + topk call that the asv suite, the bench
    command and the demo time beside find_peaks, returns the same (score, index) pairs."""
    torch = pytest.importorskip("torch")
    from wasmpose.tools.data import heatmaps
    from wasmpose.tools.peers import torch_peaks

    h = heatmaps(shape)
    values, flat = torch_peaks(torch, h, 0.1, 20)()
    p = find_peaks(h, threshold=0.1, window=3, top_k=20)
    want = sorted(zip(p.score.tolist(), (p.y * h.shape[-1] + p.x).tolist(), strict=True))
    got = sorted(zip(values.numpy().tolist(), flat.numpy().tolist(), strict=True))
    assert len(want) > 0 and got == want
