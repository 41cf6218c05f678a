"""The top-down transforms against rtmlib/mmpose and OpenCV.

``get_affine_transform`` against rtmlib's ``get_warp_matrix`` (transcribed in
``tests/oracles.py``; it solves with ``cv2.getAffineTransform``) within 1e-9;
``bbox_to_center_scale`` against ``bbox_xyxy2cs`` and mmpose's ``_fix_aspect_ratio`` exactly;
``invert_affine`` against ``cv2.invertAffineTransform`` exactly. Where rtmlib is installed the
transcriptions are checked against it.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import layouts
from tests.oracles import (
    mmpose_fix_aspect_ratio,
    rtmlib_bbox_xyxy2cs,
    rtmlib_get_warp_matrix,
    rtmlib_module,
)
from wasmpose.cpu import opt_level
from wasmpose.keypoints import (
    bbox_to_center_scale,
    get_affine_transform,
    invert_affine,
    transform_points,
)

cv2 = pytest.importorskip("cv2")

TOL = 1e-9


def _boxes(rng, n, lo=0.0, hi=1920.0):
    xy = np.sort(rng.uniform(lo, hi, (n, 2, 2)), axis=1)
    return np.concatenate([xy[:, 0], xy[:, 1]], axis=1)  # x1, y1 <= x2, y2


def _cases(rng, n):
    center = rng.uniform(-200, 2100, (n, 2))
    scale = rng.uniform(1, 900, (n, 2)) * rng.choice([1, -1], (n, 2), p=[0.9, 0.1])
    rot = rng.choice([0.0, 90.0, -45.0, 180.0, 30.0, 1e-3], n) + rng.uniform(-30, 30, n) * (
        rng.random(n) < 0.5)
    return center, scale, rot


@pytest.mark.parametrize("inv", [False, True])
@pytest.mark.parametrize("output_size", [(192, 256), (288, 384), (256, 256), (48, 64), (7, 3)])
@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.1, -0.25)])
def test_matches_rtmlib_warp_matrix(variant, rng, inv, output_size, shift):
    center, scale, rot = _cases(rng, 64)
    got = get_affine_transform(center, scale, rot, output_size, shift=shift, inv=inv)
    assert got.shape == (64, 2, 3) and got.dtype == np.float64
    for i in range(64):
        want = rtmlib_get_warp_matrix(center[i], scale[i], rot[i], output_size, shift, inv)
        np.testing.assert_allclose(got[i], want, rtol=0, atol=TOL, err_msg=f"case {i}")
        single = get_affine_transform(center[i], scale[i], rot[i], output_size, shift=shift,
                                      inv=inv)
        np.testing.assert_array_equal(single, got[i])


def test_rtmpose_pipeline_boxes(variant, rng):
    """rtmlib's RTMPose preprocessing: bbox_xyxy2cs(padding=1.25), the aspect fix, rot 0."""
    boxes = _boxes(rng, 50)
    center, scale = bbox_to_center_scale(boxes, padding=1.25, aspect_ratio=192 / 256)
    got = get_affine_transform(center, scale, 0.0, (192, 256))
    for i in range(50):
        c, s = rtmlib_bbox_xyxy2cs(boxes[i], padding=1.25)
        s = mmpose_fix_aspect_ratio(s[None], 192 / 256)[0]
        np.testing.assert_array_equal(center[i], c)
        np.testing.assert_array_equal(scale[i], s)
        np.testing.assert_allclose(got[i], rtmlib_get_warp_matrix(c, s, 0, (192, 256)),
                                   rtol=0, atol=TOL)


def test_maps_the_box_onto_the_output(variant):
    m = get_affine_transform([500.0, 300.0], [120.0, 160.0], 0.0, (192, 256))
    corners = np.array([[440.0, 220.0], [560.0, 380.0]])  # the box, 120 x 160
    np.testing.assert_allclose(transform_points(corners, m), [[0, 0], [192, 256]], atol=1e-9)
    m90 = get_affine_transform([0.0, 0.0], [100.0, 100.0], 90.0, (100, 100))
    # rotated by 90 degrees: the point above the centre goes to the left of the output centre
    np.testing.assert_allclose(transform_points(np.array([0.0, -10.0]), m90), [40, 50],
                               atol=1e-9)


def test_inverse_round_trip(variant, rng):
    center, scale, rot = _cases(rng, 32)
    m = get_affine_transform(center, scale, rot, (192, 256))
    mi = get_affine_transform(center, scale, rot, (192, 256), inv=True)
    np.testing.assert_allclose(invert_affine(m), mi, rtol=1e-9, atol=1e-9)
    pts = rng.uniform(0, 256, (32, 17, 2))
    back = transform_points(transform_points(pts, mi), m)
    np.testing.assert_allclose(back, pts, atol=1e-7)


def test_invert_affine_matches_opencv(variant, rng):
    m = rng.normal(0, 10, (200, 2, 3))
    got = invert_affine(m)
    want = np.stack([cv2.invertAffineTransform(x) for x in m])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(invert_affine(m[5]), want[5])
    m32 = m.astype(np.float32)
    np.testing.assert_array_equal(invert_affine(m32),
                                  np.stack([cv2.invertAffineTransform(x.astype(np.float64))
                                            for x in m32]))


def test_bbox_to_center_scale_matches_rtmlib(variant, rng):
    boxes = _boxes(rng, 100)
    boxes[:5, 2] = boxes[:5, 0]  # zero width
    boxes[5:8, 3] = boxes[5:8, 1]  # zero height
    for padding in (1.0, 1.25, 0.5):
        for ratio in (None, 0.75, 1.0, 4 / 3, 0.1):
            center, scale = bbox_to_center_scale(boxes, padding=padding, aspect_ratio=ratio)
            c, s = rtmlib_bbox_xyxy2cs(boxes, padding)
            if ratio is not None:
                s = mmpose_fix_aspect_ratio(s, ratio)
            np.testing.assert_array_equal(center, c)
            np.testing.assert_array_equal(scale, s)
    c1, s1 = bbox_to_center_scale(boxes[3])
    assert c1.shape == (2,) and s1.shape == (2,)
    np.testing.assert_array_equal(c1, rtmlib_bbox_xyxy2cs(boxes[3], 1.25)[0])


def test_transform_points(variant, rng):
    m = rng.normal(0, 3, (4, 2, 3))
    pts = rng.uniform(-50, 50, (4, 17, 3))
    got = transform_points(pts, m)
    want = np.einsum("nij,nkj->nki", m, np.concatenate([pts[..., :2], np.ones((4, 17, 1))], -1))
    np.testing.assert_allclose(got[..., :2], want, rtol=1e-13, atol=1e-12)
    np.testing.assert_array_equal(got[..., 2], pts[..., 2])  # scores untouched
    # one matrix, any leading shape; dtypes
    one = transform_points(pts.reshape(2, 2, 17, 3).astype(np.float32), m[0])
    assert one.dtype == np.float32 and one.shape == (2, 2, 17, 3)
    w0 = np.einsum("ij,...j->...i", m[0],
                   np.concatenate([pts[..., :2].astype(np.float32).astype(np.float64),
                                   np.ones((4, 17, 1))], -1))
    np.testing.assert_array_equal(one.reshape(4, 17, 3)[..., :2], w0.astype(np.float32))
    ints = transform_points(np.array([[1, 2], [3, 4]], np.int32), m[1])
    assert ints.dtype == np.float64
    nan = transform_points(np.array([[np.nan, 1.0]]), m[0])
    assert np.isnan(nan).all()


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_hypothesis_layouts(data):
    n = data.draw(st.integers(0, 6))
    k = data.draw(st.integers(0, 5))
    c = data.draw(st.integers(2, 4))
    finite = st.floats(-1e3, 1e3, allow_nan=False)
    pts = data.draw(hnp.arrays(np.float64, (n, k, c), elements=finite))
    m = data.draw(hnp.arrays(np.float64, (n, 2, 3), elements=finite))
    centers = data.draw(hnp.arrays(np.float64, (n, 2), elements=finite))
    scales = data.draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(1, 500)))
    level = data.draw(st.sampled_from(["none", "serial", "parallel", "full"]))
    with opt_level(level):
        want_t = transform_points(pts, m)
        want_w = get_affine_transform(centers, scales, 0.0, (192, 256))
        for name in layouts(pts):
            np.testing.assert_array_equal(transform_points(layouts(pts)[name], layouts(m)[name]),
                                          want_t)
            np.testing.assert_array_equal(
                get_affine_transform(layouts(centers)[name], layouts(scales)[name], 0.0,
                                     (192, 256)), want_w)
        for i in range(n):
            np.testing.assert_allclose(
                want_w[i], rtmlib_get_warp_matrix(centers[i], scales[i], 0.0, (192, 256)),
                rtol=0, atol=TOL)
            if m[i, 0, 0] * m[i, 1, 1] - m[i, 0, 1] * m[i, 1, 0] != 0:
                np.testing.assert_array_equal(
                    invert_affine(m[i]), cv2.invertAffineTransform(m[i]))
    with opt_level("none"):
        np.testing.assert_array_equal(transform_points(pts, m), want_t)
        np.testing.assert_allclose(get_affine_transform(centers, scales, 0.0, (192, 256)),
                                   want_w, rtol=0, atol=TOL)


def test_empty(variant):
    assert get_affine_transform(np.zeros((0, 2)), np.zeros((0, 2)), 0.0, (4, 4)).shape == (0, 2, 3)
    c, s = bbox_to_center_scale(np.zeros((0, 4)))
    assert c.shape == (0, 2) and s.shape == (0, 2)
    assert invert_affine(np.zeros((0, 2, 3))).shape == (0, 2, 3)
    assert transform_points(np.zeros((0, 17, 2)), np.zeros((0, 2, 3))).shape == (0, 17, 2)
    assert transform_points(np.zeros((3, 0, 2)), np.eye(2, 3)[None].repeat(3, 0)).shape == (3, 0, 2)
    assert transform_points(np.zeros((0, 2)), np.eye(2, 3)).shape == (0, 2)


_C, _S = np.array([10.0, 20.0]), np.array([30.0, 40.0])


@pytest.mark.parametrize("call, exc, match", [
    (lambda: get_affine_transform(_C, [0.0, 40.0], 0.0, (4, 4)), ValueError,
     r"scale: expected a non-zero width, got \[0.0, 40.0\] at index 0"),
    (lambda: get_affine_transform([np.nan, 1.0], _S, 0.0, (4, 4)), ValueError,
     "center: expected finite coordinates, got nan"),
    (lambda: get_affine_transform(_C, [np.inf, 1.0], 0.0, (4, 4)), ValueError,
     "scale: expected finite sizes"),
    (lambda: get_affine_transform(_C, _S, np.nan, (4, 4)), ValueError,
     "rot: expected finite angles"),
    (lambda: get_affine_transform(_C, _S, 0.0, (0, 4)), ValueError,
     r"output_size: expected positive values, got \(0.0, 4.0\)"),
    (lambda: get_affine_transform(_C, _S, 0.0, (4, 4, 4)), ValueError,
     "output_size: expected 2 values"),
    (lambda: get_affine_transform(_C, _S, 0.0, (4, 4), shift=(np.nan, 0)), ValueError,
     "shift: expected finite values"),
    (lambda: get_affine_transform(_C, _S, 0.0, (4, 4), inv=1), TypeError,
     "inv: expected a bool, got int"),
    (lambda: get_affine_transform(np.zeros((3, 2)), np.ones((2, 2)), 0.0, (4, 4)), ValueError,
     r"scale: expected the shape of center \(3, 2\), got shape \(2, 2\)"),
    (lambda: get_affine_transform(np.zeros((3, 2)), np.ones((3, 2)), [0.0, 1.0], (4, 4)),
     ValueError, r"rot: expected a scalar or 3 values, got shape \(2,\)"),
    (lambda: get_affine_transform(_C, _S, [0.0], (4, 4)), ValueError,
     r"rot: expected a scalar, got shape \(1,\)"),
    (lambda: get_affine_transform(np.zeros((3, 3)), np.ones((3, 3)), 0.0, (4, 4)), ValueError,
     "center: expected \\(x, y\\) in the last axis"),
    (lambda: get_affine_transform("ab", _S, 0.0, (4, 4)), TypeError,
     "center: expected a numpy array"),
    (lambda: get_affine_transform(_C.astype(complex), _S, 0.0, (4, 4)), TypeError,
     "center: expected dtype"),
    (lambda: get_affine_transform(_C, [1e-46, 1.0], 0.0, (4, 4)), ValueError,
     "scale: expected a width that float32 can resolve"),
    # found by tests/fuzz: beyond float32's range, named "scale" before
    (lambda: get_affine_transform([1e300, 0.0], _S, 0.0, (4, 4)), ValueError,
     "center, scale, shift: expected a box"),
    (lambda: get_affine_transform(_C, _S, 0.0, (4, 4), shift=(1e308, 0.0)), ValueError,
     "center, scale, shift: expected a box"),
    (lambda: get_affine_transform(_C, _S, 0.0, (1e300, 4)), ValueError,
     "output_size: expected sizes within float32's range"),
    (lambda: get_affine_transform(_C, _S, 0.0, (4, 4), shift=(10**400, 0.1)), ValueError,
     "shift: expected finite values, got ints beyond the float range"),
    (lambda: bbox_to_center_scale([[0.0, 0.0, -1.0, 5.0]]), ValueError,
     r"boxes: expected x2 >= x1 and y2 >= y1 \(xyxy\), got \[0.0, 0.0, -1.0, 5.0\] at index 0"),
    (lambda: bbox_to_center_scale([[0.0, np.nan, 1.0, 5.0]]), ValueError,
     r"boxes: expected finite coordinates, got nan at index \(0, 1\)"),
    (lambda: bbox_to_center_scale([[0.0, 0.0, 1.0]]), ValueError,
     "boxes: expected \\(x1, y1, x2, y2\\) in the last axis"),
    (lambda: bbox_to_center_scale(np.zeros((1, 1, 4))), ValueError, "boxes: expected a"),
    (lambda: bbox_to_center_scale([[0, 0, 1, 1]], padding=0), ValueError,
     "padding: expected a positive number, got 0.0"),
    (lambda: bbox_to_center_scale([[0, 0, 1, 1]], aspect_ratio=-1), ValueError,
     "aspect_ratio: expected a positive number"),
    (lambda: bbox_to_center_scale([[0, 0, 1, 1]], aspect_ratio="wide"), TypeError,
     "aspect_ratio: expected a real number, got str"),
    (lambda: invert_affine([[1.0, 2.0, 0.0], [2.0, 4.0, 1.0]]), ValueError,
     r"matrix: expected an invertible affine matrix, got a singular one \(determinant 0\)"),
    (lambda: invert_affine(np.zeros((3, 2, 3))), ValueError,
     "matrix: expected an invertible affine matrix, got a singular one .* at index 0"),
    (lambda: invert_affine([[1.0, 0.0, np.nan], [0.0, 1.0, 0.0]]), ValueError,
     r"matrix: expected finite entries, got nan at index \(0, 0, 2\)"),
    (lambda: invert_affine(np.eye(3)), ValueError, r"matrix: expected \(2, 3\) affine"),
    (lambda: invert_affine(np.eye(2, 3)[None, None]), ValueError, "matrix: expected a"),
    (lambda: transform_points(np.zeros((3, 1)), np.eye(2, 3)), ValueError,
     "points: expected at least 2 fields"),
    (lambda: transform_points(np.zeros((3, 4, 2)), np.zeros((2, 2, 3))), ValueError,
     r"points: expected 2 in the first axis \(one per matrix\), got shape \(3, 4, 2\)"),
    (lambda: transform_points(np.zeros(2), np.zeros((2, 2, 3))), ValueError,
     "points: expected 2 in the first axis"),
    (lambda: transform_points(np.zeros((3, 2)), np.full((2, 3), np.inf)), ValueError,
     "matrix: expected finite entries"),
    (lambda: transform_points(np.zeros((3, 2), bool), np.eye(2, 3)), TypeError,
     "points: expected dtype"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_transcriptions_match_installed_rtmlib(rng):
    pre = rtmlib_module("pre_processings")
    center, scale, rot = _cases(rng, 40)
    for i in range(40):
        for inv in (False, True):
            args = (center[i], scale[i], rot[i], (192, 256), (0.05, 0.1), inv)
            np.testing.assert_array_equal(rtmlib_get_warp_matrix(*args), pre.get_warp_matrix(*args))
            np.testing.assert_allclose(
                get_affine_transform(*args[:4], shift=args[4], inv=inv),
                pre.get_warp_matrix(*args), rtol=0, atol=TOL)
    boxes = _boxes(rng, 30)
    c, s = pre.bbox_xyxy2cs(boxes, padding=1.25)
    got = bbox_to_center_scale(boxes)
    np.testing.assert_array_equal(got[0], c)
    np.testing.assert_array_equal(got[1], s)
    # top_down_affine's inlined aspect-ratio fix, and its matrix (the warp itself not compared)
    img = np.zeros((8, 8, 3), np.uint8)
    for i in range(5):
        _, fixed = pre.top_down_affine((192, 256), s[i], c[i], img)
        np.testing.assert_array_equal(
            bbox_to_center_scale(boxes[i], aspect_ratio=192 / 256)[1], fixed)
