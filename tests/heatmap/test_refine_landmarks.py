"""refine_landmarks: MediaPipe's RefineLandmarksFromHeatmapCalculator.

Two oracles. ``_rule`` below is the rule of the docstring written plainly in float64 NumPy (no
transcription of MediaPipe's loop and none of its float32 order): every variant must agree with
it within float32 rounding. And the real BlazePose landmark model: on the astronaut fixture
(``tests/data/blazepose_astronaut.npz``, see ``test_blazepose.py``) the refined landmarks must
stay close to the model's own regressed ones and move only where the rule allows.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import layouts
from wasmpose.cpu import opt_level
from wasmpose.heatmap import refine_landmarks

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "blazepose_astronaut.npz"


def _rule(lm, hm, kernel_size=7, min_confidence=0.5, sigmoid=True):
    """The documented rule in float64, landmark by landmark. ``lm`` (..., K, C), ``hm``
    (..., H, W, K)."""
    lm = np.asarray(lm)
    out = lm.astype(np.float64)
    hh, ww = hm.shape[-3:-1]
    r = (kernel_size - 1) // 2
    if out.size == 0 or hm.size == 0:
        return out
    flat_lm = out.reshape(-1, *lm.shape[-2:])
    flat_hm = np.asarray(hm, np.float64).reshape(-1, hh, ww, lm.shape[-2])
    for b in range(flat_lm.shape[0]):
        for k in range(lm.shape[-2]):
            x, y = flat_lm[b, k, :2]
            fx, fy = np.float32(x) * np.float32(ww), np.float32(y) * np.float32(hh)
            if not (np.isfinite(fx) and np.isfinite(fy)):
                continue
            col, row = int(np.trunc(fx)), int(np.trunc(fy))
            if not (0 <= col < ww and 0 <= row < hh):
                continue
            rows = np.arange(max(0, row - r), min(hh, row + r + 1))
            cols = np.arange(max(0, col - r), min(ww, col + r + 1))
            v = flat_hm[b][np.ix_(rows, cols)][..., k]
            if sigmoid:  # MediaPipe's float: 1.0f / (1.0f + exp(-v)), the exp rounded to float
                e = np.exp(-v).astype(np.float32)
                conf = (np.float32(1) / (np.float32(1) + e)).astype(np.float64)
            else:
                conf = v
            best = max(0.0, np.nanmax(conf)) if not np.isnan(conf).all() else 0.0
            total = conf.sum()
            if best >= np.float32(min_confidence) and total > 0:
                flat_lm[b, k, 0] = (conf.sum(axis=0) * cols).sum() / ww / total
                flat_lm[b, k, 1] = (conf.sum(axis=1) * rows).sum() / hh / total
    return out


def _scene(rng, b, k, h=16, w=12):
    """Heatmap logits with a blob per landmark and landmarks near the blobs (some far off)."""
    yy, xx = np.mgrid[0:h, 0:w]
    cy = rng.uniform(0, h, (b, k))
    cx = rng.uniform(0, w, (b, k))
    d2 = (yy[None, None] - cy[..., None, None]) ** 2 + (xx[None, None] - cx[..., None, None]) ** 2
    logits = (6.0 * np.exp(-d2 / 6.0) - 3.0 + rng.normal(0, 0.5, d2.shape)).astype(np.float32)
    hm = np.ascontiguousarray(np.moveaxis(logits, 1, -1))  # (B, H, W, K)
    lm = np.stack([(cx + rng.normal(0, 1.5, cx.shape)) / w,
                   (cy + rng.normal(0, 1.5, cy.shape)) / h,
                   rng.normal(0, 1, cx.shape)], axis=-1).astype(np.float32)
    return lm, hm


def test_matches_rule(variant, rng):
    lm, hm = _scene(rng, 4, 39)
    got = refine_landmarks(lm, hm)
    np.testing.assert_allclose(got, _rule(lm, hm), rtol=0, atol=2e-6)
    assert (got[..., :2] != lm[..., :2]).any(axis=-1).sum() > 40  # it does refine
    np.testing.assert_array_equal(got[..., 2], lm[..., 2])  # z untouched


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 5, 6, 7, 9, 31])
@pytest.mark.parametrize("min_confidence", [0.0, 0.5, 0.9, 2.0])
def test_options(variant, rng, kernel_size, min_confidence):
    lm, hm = _scene(rng, 2, 9)
    got = refine_landmarks(lm, hm, kernel_size=kernel_size, min_confidence=min_confidence)
    np.testing.assert_allclose(got, _rule(lm, hm, kernel_size, min_confidence), atol=2e-6)
    if min_confidence > 1:  # a sigmoid never reaches it: nothing moves
        np.testing.assert_array_equal(got, lm)


def test_even_kernel_acts_as_the_odd_size_below(variant, rng):
    lm, hm = _scene(rng, 2, 9)
    np.testing.assert_array_equal(refine_landmarks(lm, hm, kernel_size=6),
                                  refine_landmarks(lm, hm, kernel_size=5))


def test_without_sigmoid(variant, rng):
    lm, hm = _scene(rng, 2, 9)
    prob = (1 / (1 + np.exp(-hm.astype(np.float64)))).astype(np.float32)
    got = refine_landmarks(lm, prob, sigmoid=False)
    np.testing.assert_allclose(got, _rule(lm, prob, sigmoid=False), atol=2e-6)
    np.testing.assert_allclose(got, refine_landmarks(lm, hm), atol=2e-6)


def test_layouts_agree(variant, rng):
    lm, hm = _scene(rng, 3, 5)
    want = refine_landmarks(lm, hm)
    khw = np.moveaxis(hm, -1, -3)  # (B, K, H, W), a strided view
    np.testing.assert_array_equal(refine_landmarks(lm, khw, layout="khw"), want)
    np.testing.assert_array_equal(refine_landmarks(lm, np.ascontiguousarray(khw),
                                                   layout="KHW"), want)


def test_batched_equals_single_and_dtypes(variant, rng):
    lm, hm = _scene(rng, 3, 5)
    batch = refine_landmarks(lm, hm)
    for i in range(3):
        np.testing.assert_array_equal(refine_landmarks(lm[i], hm[i]), batch[i])
    nested = refine_landmarks(lm.reshape(1, 3, 5, 3), hm.reshape(1, 3, *hm.shape[1:]))
    np.testing.assert_array_equal(nested[0], batch)
    lm64 = lm.astype(np.float64)
    got64 = refine_landmarks(lm64, hm)
    assert got64.dtype == np.float64
    np.testing.assert_array_equal(got64, batch.astype(np.float64))  # computed in float32


def test_borders_and_outside(variant):
    h = np.full((8, 10, 6), -20.0, np.float32)  # (H, W, K)
    h[0, 0, 0] = h[0, 1, 0] = 20.0  # top-left corner: a clipped window
    h[7, 9, 1] = 20.0  # bottom-right corner
    h[:, :, 2:] = 20.0
    lm = np.array([
        [0.05, 0.05],  # cell (0, 0): refined on the clipped window -> x = 0.5 / 10
        [0.95, 0.95],  # cell (7, 9)
        [1.0, 0.5],  # col == W: outside, unchanged
        [-0.2, 0.5],  # col < 0: unchanged
        [-0.05, 0.5],  # x * W = -0.5 truncates to col 0: inside, refined (C++ int())
        [0.5, 1.01],  # row == H: outside (MediaPipe's fixed bounds check), unchanged
    ], np.float32)
    got = refine_landmarks(lm, h, kernel_size=3)
    np.testing.assert_allclose(got, _rule(lm, h, 3), atol=2e-6)
    np.testing.assert_allclose(got[0], [0.5 / 10, 0.0], atol=1e-6)
    np.testing.assert_allclose(got[1], [0.9, 7 / 8], atol=1e-6)
    np.testing.assert_array_equal(got[2:4], lm[2:4])
    np.testing.assert_array_equal(got[5], lm[5])
    assert got[4, 0] == np.float32(np.float32(0 + 1) / 2 / 10 / 1)  # cols 0, 1: mean 0.5


def test_min_confidence_is_inclusive(variant):
    h = np.zeros((5, 5, 1), np.float32)  # sigmoid(0) = 0.5 everywhere
    lm = np.array([[0.5, 0.5]], np.float32)  # cell (2, 2): a full 3x3 window
    np.testing.assert_allclose(refine_landmarks(lm, h, kernel_size=3, min_confidence=0.5),
                               [[2 / 5, 2 / 5]], atol=1e-7)
    lm2 = np.array([[0.45, 0.45]], np.float32)  # still cell (2, 2): moves to its centre
    np.testing.assert_allclose(refine_landmarks(lm2, h, kernel_size=3), [[0.4, 0.4]], atol=1e-7)
    np.testing.assert_array_equal(refine_landmarks(lm2, h, min_confidence=0.5001), lm2)


def test_nan(variant):
    h = np.zeros((6, 6, 3), np.float32)
    h[2, 2, 1] = np.nan  # a NaN cell: the sum is NaN, not > 0: unchanged
    lm = np.array([[np.nan, 0.5, 1.0], [0.4, 0.4, 1.0], [0.5, np.nan, 1.0]], np.float32)
    got = refine_landmarks(lm, h)
    np.testing.assert_array_equal(got, lm)
    h[2, 2, 1] = 0.0
    assert not np.array_equal(refine_landmarks(lm, h)[1], lm[1])


def test_huge_and_infinite_landmarks_are_outside(variant):
    h = np.full((4, 4, 3), 5.0, np.float32)
    lm = np.array([[1e30, 0.5], [0.5, -np.inf], [3e9, 3e9]], np.float32)
    np.testing.assert_array_equal(refine_landmarks(lm, h), lm)


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_hypothesis_shapes_and_layouts(data):
    lead = data.draw(st.sampled_from([(), (1,), (3,), (2, 2), (0,)]))
    k = data.draw(st.integers(0, 5))
    c = data.draw(st.integers(2, 5))
    hh, ww = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    lm = data.draw(hnp.arrays(np.float32, (*lead, k, c),
                              elements=st.floats(-0.25, 1.25, width=32)))
    hm = data.draw(hnp.arrays(np.float32, (*lead, hh, ww, k),
                              elements=st.floats(-8, 8, width=32)))
    ksize = data.draw(st.integers(1, 9))
    level = data.draw(st.sampled_from(["none", "simd", "parallel", "full"]))
    with opt_level(level):
        want = refine_landmarks(lm, hm, kernel_size=ksize)
        assert want.shape == lm.shape and want.dtype == lm.dtype
        np.testing.assert_allclose(want, _rule(lm, hm, ksize), atol=2e-6)
        for name, a in layouts(lm).items():
            for hname, b in layouts(hm).items():
                got = refine_landmarks(a, b, kernel_size=ksize)
                np.testing.assert_array_equal(got, want, err_msg=f"{name}, {hname}")
    with opt_level("none"):
        np.testing.assert_array_equal(refine_landmarks(lm, hm, kernel_size=ksize), want)


def test_empty(variant):
    for lm_shape, hm_shape in [((0, 2), (4, 4, 0)), ((0, 3, 2), (0, 4, 4, 3)),
                               ((2, 2), (0, 4, 2)), ((2, 2), (4, 0, 2))]:
        lm = np.ones(lm_shape, np.float32) * 0.5
        got = refine_landmarks(lm, np.zeros(hm_shape, np.float32))
        assert got.shape == lm.shape
        np.testing.assert_array_equal(got, lm)


def test_returns_a_new_array(variant, rng):
    lm, hm = _scene(rng, 1, 4)
    before = lm.copy()
    out = refine_landmarks(lm, hm)
    assert not np.shares_memory(out, lm)
    np.testing.assert_array_equal(lm, before)


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((np.zeros((3, 2), np.int32), np.zeros((4, 4, 3), np.float32)), {}, TypeError,
     "landmarks: expected dtype float32 or float64, got int32"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 3))), {}, TypeError,
     "heatmaps: expected dtype float32, got float64"),
    ((np.zeros(3, np.float32), np.zeros((4, 4, 3), np.float32)), {}, ValueError,
     "landmarks: expected a"),
    ((np.zeros((3, 1), np.float32), np.zeros((4, 4, 3), np.float32)), {}, ValueError,
     "landmarks: expected at least 2 fields"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 3), np.float32)), {}, ValueError,
     "heatmaps: expected a"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 5), np.float32)), {}, ValueError,
     r"heatmaps: expected 3 maps \(one per landmark\) in the last map axis"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 3), np.float32)), {"layout": "khw"},
     ValueError, "heatmaps: expected 3 maps .* in the first map axis"),
    ((np.zeros((2, 3, 2), np.float32), np.zeros((3, 4, 4, 3), np.float32)), {}, ValueError,
     r"heatmaps: expected the leading shape \(2,\) of landmarks"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 3), np.float32)), {"kernel_size": 0},
     ValueError, "kernel_size: expected an int >= 1, got 0"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 3), np.float32)), {"kernel_size": 3.0},
     TypeError, "kernel_size: expected an int >= 1, got float"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 3), np.float32)),
     {"min_confidence": float("nan")}, ValueError, "min_confidence: expected a number"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 3), np.float32)), {"sigmoid": 1},
     TypeError, "sigmoid: expected a bool, got int"),
    ((np.zeros((3, 2), np.float32), np.zeros((4, 4, 3), np.float32)), {"layout": "nhwc"},
     ValueError, "layout: expected one of"),
    ((None, np.zeros((4, 4, 3), np.float32)), {}, TypeError, "landmarks: expected a numpy"),
])
def test_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        refine_landmarks(*args, **kwargs)


# --- the real model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blazepose():
    with np.load(FIXTURE, allow_pickle=False) as f:
        logits = f["heatmap_logits"]  # (39, 64, 64)
        raw = f["landmarks"]  # (39, 5): x, y, z in input pixels (256), visibility, presence
    lm = raw.copy()
    lm[:, :3] /= 256.0  # MediaPipe's TensorsToLandmarks: normalised by the 256 x 256 input
    return {"hwk": np.ascontiguousarray(logits.transpose(1, 2, 0)), "khw": logits, "lm": lm}


def test_blazepose_refinement(variant, blazepose):
    """On the real model output: moved only where the rule allows, by less than a window."""
    lm, hwk = blazepose["lm"], blazepose["hwk"]
    got = refine_landmarks(lm, hwk)  # the pose graph's options: kernel 7, min confidence 0.5
    np.testing.assert_allclose(got, _rule(lm, hwk), atol=2e-6)
    np.testing.assert_array_equal(refine_landmarks(lm, blazepose["khw"], layout="khw"), got)
    np.testing.assert_array_equal(got[:, 2:], lm[:, 2:])  # z, visibility, presence

    moved = (got[:, :2] != lm[:, :2]).any(axis=1)
    cell = np.trunc(lm[:, :2] * 64).astype(int)
    peak = np.array([1 / (1 + np.exp(-hwk[max(0, r - 3):r + 4, max(0, c - 3):c + 4, k].max()))
                     for k, (c, r) in enumerate(cell)])
    np.testing.assert_array_equal(moved, peak >= 0.5)
    # on this image 16 landmarks move: the face (0..10), shoulders, left elbow, left hip and
    # the auxiliary point 34; the lower body is outside the photograph
    assert moved[:11].all() and moved.sum() >= 14, np.flatnonzero(moved)

    # a weighted mean of a 7 x 7 window can move a point by up to 3.5 cells; on real heatmaps
    # the regression and the heatmap agree: measured at most 1.12 cells (4.5 input pixels)
    shift_cells = np.abs(got[:, :2] - lm[:, :2]) * 64
    assert shift_cells.max() <= 1.5, shift_cells.max()
    assert ((got[:, :2] >= 0) & (got[:, :2] <= 1)).all()


def test_blazepose_refined_close_to_regressed(blazepose):
    """Where the model sees a landmark well (regressed visibility and presence >= 0.9, as
    test_blazepose.py selects), the refined position stays within 1.5 heatmap cells (6 input
    pixels) of the regressed one, and on average within one cell."""
    lm, hwk = blazepose["lm"], blazepose["hwk"]
    got = refine_landmarks(lm, hwk)
    sig = 1 / (1 + np.exp(-lm[:, 3:5].astype(np.float64)))
    well = np.flatnonzero((sig >= 0.9).all(axis=1)[:33])
    assert len(well) >= 8
    err = np.abs(got[well, :2] - lm[well, :2]).max(axis=1) * 64  # heatmap cells
    assert err.max() <= 1.5, dict(zip(well.tolist(), err.round(2).tolist(), strict=True))
    assert err.mean() <= 1.0, err.mean()


def test_confidence_is_compared_in_float32_as_mediapipe(variant):
    """sigmoid(-6e-8) is 0.49999998 in float64 but exactly 0.5 in MediaPipe's float: it passes
    min_confidence=0.5 (found by hypothesis against a float64 statement of the rule)."""
    hm = np.full((1, 1, 1), -5.9604645e-08, np.float32)
    lm = np.array([[0.5, 0.0]], np.float32)
    np.testing.assert_array_equal(refine_landmarks(lm, hm, kernel_size=2), [[0.0, 0.0]])
