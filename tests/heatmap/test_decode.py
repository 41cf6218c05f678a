"""decode_heatmaps against direct implementations of each published refinement formula."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wasmpose
from tests.helpers import address_space_cap, layouts
from wasmpose.heatmap import _gaussian_kernel, decode_heatmaps

LEVELS = ("none", "serial", "parallel", "full")


def blobs(rng, shape, sigma=2.0, dtype=np.float32, noise=0.02):
    """Gaussian blobs at random sub-pixel centres (what a heatmap head is trained to emit)."""
    *lead, hh, w = shape
    yy, xx = np.mgrid[0:hh, 0:w]
    out = np.empty(shape)
    flat = out.reshape(-1, hh, w)
    for i in range(flat.shape[0]):
        cy, cx = rng.uniform(-1, hh), rng.uniform(-1, w)
        flat[i] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        flat[i] += noise * rng.random((hh, w))
    return out.astype(dtype)


# --- direct, per-keypoint implementations of the published formulas ------------------------
def direct_argmax(hm):
    i = int(np.argmax(hm))
    return i % hm.shape[1], i // hm.shape[1], hm.flat[i]


def direct_shift(hm, x, y):
    hh, w = hm.shape
    fx, fy = float(x), float(y)
    if 1 <= x <= w - 2:
        fx += 0.25 * np.sign(float(hm[y, x + 1]) - float(hm[y, x - 1]))
    if 1 <= y <= hh - 2:
        fy += 0.25 * np.sign(float(hm[y + 1, x]) - float(hm[y - 1, x]))
    return fx, fy


def direct_quadratic(hm, x, y):
    hh, w = hm.shape

    def vertex(a, b, c):
        den = a - 2 * b + c
        return 0.0 if den == 0 else min(max(0.5 * (a - c) / den, -0.5), 0.5)

    fx, fy = float(x), float(y)
    if 1 <= x <= w - 2:
        fx += vertex(float(hm[y, x - 1]), float(hm[y, x]), float(hm[y, x + 1]))
    if 1 <= y <= hh - 2:
        fy += vertex(float(hm[y - 1, x]), float(hm[y, x]), float(hm[y + 1, x]))
    return fx, fy


def direct_dark(hm, x, y, ksize, blur=None):
    """DARK as published in mmpose: blur (zero border), rescale to the max, clamp, log, one
    Newton step with the Hessian inverted by np.linalg.inv."""
    hh, w = hm.shape
    if blur is None:  # float64, 2-D convolution written out
        r = ksize // 2
        g = _gaussian_kernel(ksize)
        k2 = np.outer(g, g)
        p = np.zeros((hh + 2 * r, w + 2 * r))
        p[r:r + hh, r:r + w] = hm
        b = np.array([[np.sum(k2 * p[i:i + ksize, j:j + ksize]) for j in range(w)]
                      for i in range(hh)])
    else:
        b = blur(hm, ksize)
    b = b * (hm.max() / b.max())
    lg = np.log(np.maximum(b, 1e-10))
    fx, fy = float(x), float(y)
    if 1 < x < w - 2 and 1 < y < hh - 2:
        dx = 0.5 * (lg[y, x + 1] - lg[y, x - 1])
        dy = 0.5 * (lg[y + 1, x] - lg[y - 1, x])
        dxx = 0.25 * (lg[y, x + 2] - 2 * lg[y, x] + lg[y, x - 2])
        dxy = 0.25 * (lg[y + 1, x + 1] - lg[y - 1, x + 1] - lg[y + 1, x - 1] + lg[y - 1, x - 1])
        dyy = 0.25 * (lg[y + 2, x] - 2 * lg[y, x] + lg[y - 2, x])
        if dxx * dyy - dxy**2 != 0:
            off = -np.linalg.inv(np.array([[dxx, dxy], [dxy, dyy]])) @ np.array([dx, dy])
            fx += off[0]
            fy += off[1]
    return fx, fy


def direct_decode(h, refine, ksize=11, blur=None):
    lead = h.shape[:-2]
    maps = h.reshape(-1, *h.shape[-2:])
    coords = np.empty((maps.shape[0], 2))
    scores = np.empty(maps.shape[0], h.dtype)
    for i, hm in enumerate(maps):
        x, y, v = direct_argmax(hm)
        scores[i] = v
        if v <= 0:
            coords[i] = -1
            continue
        if refine is None:
            coords[i] = x, y
        elif refine == "shift":
            coords[i] = direct_shift(hm, x, y)
        elif refine == "quadratic":
            coords[i] = direct_quadratic(hm, x, y)
        else:
            coords[i] = direct_dark(hm.astype(np.float64), x, y, ksize, blur)
    return coords.reshape(*lead, 2), scores.reshape(lead)


TOL = {None: 0, "shift": 0, "quadratic": 1e-6, "dark": 1e-4}


@pytest.mark.parametrize("refine", [None, "shift", "quadratic", "dark"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_published_formulas(variant, rng, refine, dtype):
    h = blobs(rng, (3, 17, 24, 20), dtype=dtype)
    coords, scores = decode_heatmaps(h, refine=refine)
    want_c, want_s = direct_decode(h, refine)
    assert coords.shape == (3, 17, 2) and coords.dtype == np.float32
    assert scores.shape == (3, 17) and scores.dtype == dtype
    np.testing.assert_array_equal(scores, want_s)
    np.testing.assert_allclose(coords, want_c.astype(np.float32), rtol=0, atol=TOL[refine])


def test_dark_against_mmpose_with_opencv(rng):
    """mmpose blurs in float32 with cv2.GaussianBlur on a zero-padded map."""
    cv2 = pytest.importorskip("cv2")

    def cv_blur(hm, k):
        r = k // 2
        pad = np.zeros((hm.shape[0] + 2 * r, hm.shape[1] + 2 * r), np.float32)
        pad[r:-r, r:-r] = hm
        return cv2.GaussianBlur(pad, (k, k), 0)[r:-r, r:-r].astype(np.float64)

    h = blobs(rng, (17, 64, 48), sigma=2.0)
    for k in (3, 7, 11, 17):
        coords, _ = decode_heatmaps(h, refine="dark", blur_kernel=k)
        want, _ = direct_decode(h, "dark", k, blur=cv_blur)
        np.testing.assert_allclose(coords, want, atol=2e-3)


@pytest.mark.parametrize("k", range(1, 33, 2))
def test_blur_kernel_is_opencvs(k):
    cv2 = pytest.importorskip("cv2")
    np.testing.assert_allclose(_gaussian_kernel(k), cv2.getGaussianKernel(k, 0).ravel(),
                               rtol=1e-15, atol=1e-17)


def test_argmax_ties_first_in_raster_order(variant):
    h = np.zeros((2, 5, 6), np.float64)
    h[0, 3, 1] = h[0, 1, 4] = h[0, 3, 5] = 0.8
    h[1, 2, 2] = h[1, 2, 0] = 0.5
    coords, scores = decode_heatmaps(h, refine=None)
    np.testing.assert_array_equal(coords, [[4, 1], [0, 2]])
    np.testing.assert_array_equal(scores, [0.8, 0.5])


def test_non_positive_maximum_gives_minus_one(variant):
    h = np.full((3, 4, 4), -0.5, np.float32)
    h[1] = 0.0
    h[2, 1, 2] = 1e-30
    for refine in (None, "shift", "quadratic", "dark"):
        coords, scores = decode_heatmaps(h, refine=refine)
        np.testing.assert_array_equal(coords[:2], -1)
        np.testing.assert_array_equal(scores, np.float32([-0.5, 0.0, 1e-30]))
        assert (coords[2] >= 0).all()


@pytest.mark.parametrize("refine", ["shift", "quadratic", "dark"])
def test_border_pixels(variant, refine):
    """Argmax on and next to every border: refinement only where the formula's neighbours
    exist (shift and quadratic from index 1, which mmpose's shift skips; DARK from 2)."""
    hh, w = 9, 10
    for y, x in [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (hh - 1, w - 1), (hh - 2, w - 2),
                 (hh - 3, w - 3), (4, 0), (0, 5), (4, w - 1), (hh - 1, 5), (4, 5)]:
        yy, xx = np.mgrid[0:hh, 0:w]
        hm = np.exp(-((yy - y - 0.3) ** 2 + (xx - x + 0.2) ** 2) / 3.0)
        hm[y, x] = 1.5  # make (y, x) the argmax
        coords, _ = decode_heatmaps(hm[None], refine=refine)
        want, _ = direct_decode(hm[None], refine)
        np.testing.assert_allclose(coords[0], want[0], atol=TOL[refine], err_msg=str((y, x)))
    # x == 1: refined (mmpose's refine_keypoints would not move it)
    hm = np.zeros((5, 5))
    hm[2, 1], hm[2, 2], hm[2, 0] = 1.0, 0.6, 0.1
    coords, _ = decode_heatmaps(hm[None], refine="shift")
    np.testing.assert_array_equal(coords[0], [1.25, 2.0])


def test_dark_clamp_path(variant):
    """Tiny values make the 1e-10 clamp bite: the whole map is blurred as mmpose does."""
    yy, xx = np.mgrid[0:20, 0:20]
    hm = 1e-9 * np.exp(-((yy - 9.6) ** 2 + (xx - 10.3) ** 2) / 8.0)
    hm[0, 0] = 2e-9  # the max (rescaling) lies elsewhere
    hm[9, 10] = 2.1e-9
    coords, _ = decode_heatmaps(hm[None], refine="dark")
    want, _ = direct_decode(hm[None], "dark")
    np.testing.assert_allclose(coords, want, atol=1e-4)


def test_nan_as_numpy_argmax(variant):
    h = np.ones((2, 3, 3), np.float32)
    h[0, 1, 2] = np.nan
    h[0, 2, 0] = np.nan
    coords, scores = decode_heatmaps(h, refine=None)
    assert np.isnan(scores[0]) and scores[1] == 1
    np.testing.assert_array_equal(coords[0], [2, 1])  # np.argmax: the first NaN


def test_single_and_batch_agree(rng):
    h = blobs(rng, (4, 5, 16, 12))
    c4, s4 = decode_heatmaps(h, refine="dark")
    for n in range(4):
        c3, s3 = decode_heatmaps(h[n], refine="dark")
        np.testing.assert_array_equal(c3, c4[n])
        np.testing.assert_array_equal(s3, s4[n])


def test_layouts(rng):
    h = blobs(rng, (6, 20, 16), dtype=np.float64)
    want = decode_heatmaps(h, refine="quadratic")
    for name, a in layouts(h).items():
        got = decode_heatmaps(a, refine="quadratic")
        np.testing.assert_array_equal(got[0], want[0], err_msg=name)
        np.testing.assert_array_equal(got[1], want[1], err_msg=name)


@pytest.mark.parametrize("shape", [(0, 4, 4), (2, 0, 4, 4)])
def test_empty(shape):
    coords, scores = decode_heatmaps(np.zeros(shape, np.float32))
    assert coords.shape == (*shape[:-2], 2) and scores.shape == shape[:-2]


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 4), hh=st.integers(1, 12), w=st.integers(1, 12),
       refine=st.sampled_from([None, "shift", "quadratic", "dark"]),
       seed=st.integers(0, 2**32 - 1), levels=st.integers(2, 50))
def test_hypothesis_variants_agree(k, hh, w, refine, seed, levels):
    """Random maps with ties and negative values: every variant gives the direct answer."""
    rng = np.random.default_rng(seed)
    h = (rng.integers(0, levels, (k, hh, w)) / (levels - 1) - 0.3).astype(np.float64)
    want_c, want_s = direct_decode(h, refine)
    for level in LEVELS:
        with wasmpose.opt_level(level):
            coords, scores = decode_heatmaps(h, refine=refine)
        np.testing.assert_array_equal(scores, want_s)
        ok = np.isfinite(want_c)
        np.testing.assert_allclose(coords[ok], want_c[ok].astype(np.float32),
                                   atol=max(TOL[refine], 1e-6))


@pytest.mark.parametrize("h, kwargs, exc, pattern", [
    (np.zeros((4, 4), np.float32), {}, ValueError, "heatmaps: expected a"),
    (np.zeros((1, 4, 4), np.uint8), {}, TypeError, "heatmaps: expected dtype"),
    (np.zeros((2, 0, 4), np.float32), {}, ValueError, "heatmaps: expected non-empty"),
    (None, {"refine": "taylor"}, ValueError, "refine: expected None"),
    (None, {"refine": 1}, TypeError, "refine: expected None"),
    (None, {"blur_kernel": 10}, ValueError, "blur_kernel: expected an odd int >= 1, got 10"),
    (None, {"blur_kernel": 11.0}, TypeError, "blur_kernel: expected an odd int"),
])
def test_bad_input(h, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        decode_heatmaps(np.zeros((1, 4, 4), np.float32) if h is None else h, **kwargs)


def test_dark_recovers_subpixel_centres(rng):
    """On clean Gaussian blobs DARK lands within 0.05 px of the true centre; shift within
    0.3 (the quarter-pixel rule), argmax within 0.5."""
    hh, w = 64, 48
    yy, xx = np.mgrid[0:hh, 0:w]
    cy, cx = rng.uniform(8, hh - 8, 17), rng.uniform(8, w - 8, 17)
    h = np.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2) / 8.0)
    true = np.stack([cx, cy], -1)
    for refine, tol in ((None, 0.5 * math.sqrt(2)), ("shift", 0.3 * math.sqrt(2)),
                        ("dark", 0.05)):
        coords, _ = decode_heatmaps(h.astype(np.float32), refine=refine)
        assert np.abs(coords - true).max() <= tol, refine


@pytest.mark.parametrize("refine", [None, "shift", "quadratic"])
def test_blur_kernel_unused_unless_dark_costs_nothing(variant, rng, refine):
    # issue 13: refine=None with blur_kernel=2**31+1 built the unused Gaussian (OOM kill);
    # 2**24+1 cost 384 MiB kept in an lru_cache
    h = blobs(rng, (3, 16, 12), sigma=2.0)
    want = decode_heatmaps(h, refine=refine)
    with address_space_cap(128 << 20):
        for k in (2**24 + 1, 2**31 + 1, 10**400 + 1):
            got = decode_heatmaps(h, refine=refine, blur_kernel=k)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


def test_dark_huge_blur_kernel_is_cut_to_the_map(variant, rng):
    # taps beyond 2 * max(H, W) - 1 only meet the zero padding: the cut kernel (same sigma,
    # its own normalisation) gives the uncut kernel's result up to rounding
    h = blobs(rng, (5, 9, 7), sigma=1.5)
    for k in (19, 21, 41, 101):
        full = np.asarray(_gaussian_kernel(k))
        want, _ = direct_decode(h, "dark", k)
        got, _ = decode_heatmaps(h, refine="dark", blur_kernel=k)
        np.testing.assert_allclose(got, want.astype(np.float32), atol=1e-5)
        assert full.size == k
    decode_heatmaps(h, refine="dark")  # compiled outside the cap
    with address_space_cap(128 << 20):
        for k in (2**24 + 1, 2**31 + 1, 10**400 + 1):
            got, _ = decode_heatmaps(h, refine="dark", blur_kernel=k)
            flat = direct_decode(h, "dark", 17, blur=lambda hm, _k: _box_blur(hm))[0]
            if k > 2**30:  # sigma ~ 1e8 or more: the cut kernel is flat to 1e-15
                np.testing.assert_allclose(got, flat.astype(np.float32), atol=1e-4)
            assert np.isfinite(got).all()


def _box_blur(hm):
    """Zero-padded blur with a flat kernel longer than the map: every pixel gets the sum of
    the pixels within the kernel's reach, which for a long enough kernel is the whole map."""
    return np.full(hm.shape, hm.sum(), np.float64)


def test_byte_swapped_and_misaligned_maps(variant, rng):
    # issue 13: '>f4' arrays were refused; results equal the native-endian input's
    for dt in (np.float32, np.float64):
        h = blobs(rng, (2, 3, 11, 9), sigma=1.5).astype(dt)
        raw = np.zeros(h.nbytes + 1, np.uint8)[1:].view(dt).reshape(h.shape)
        raw[...] = h
        for refine in (None, "shift", "quadratic", "dark"):
            want = decode_heatmaps(h, refine=refine)
            for a in (h.astype(h.dtype.newbyteorder()), raw):
                got = decode_heatmaps(a, refine=refine)
                assert got[1].dtype == dt and got[1].dtype.isnative
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])
