"""MediaPipe's region rules (``wasmpose/pipeline/_regions.py``) against the formulas of its
calculators, written out here independently, and the crop maps against OpenCV's
``getPerspectiveTransform`` of ``cv::boxPoints``, as MediaPipe's ``ImageToTensorCalculator``
builds them."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpose.boxes import letterbox_matrix
from wasmpose.keypoints import transform_points
from wasmpose.pipeline._regions import (
    crop_matrices,
    region_boxes,
    regions_from_points,
    tile_matrices,
    tiles,
)


def _mediapipe_region(p0, p1, image_w, image_h):
    """AlignmentPointsRectsCalculator + ComputeRotation + RectTransformationCalculator (scale
    1.25, square_long), in normalised coordinates as MediaPipe, then back to pixels."""
    xc, yc = p0[0] / image_w * image_w, p0[1] / image_h * image_h
    xs, ys = p1[0], p1[1]
    box = math.sqrt((xs - xc) ** 2 + (ys - yc) ** 2) * 2.0
    w, h = box / image_w, box / image_h
    rot = math.pi / 2 - math.atan2(-(ys - yc), xs - xc)
    rot = rot - 2 * math.pi * math.floor((rot + math.pi) / (2 * math.pi))
    long_side = max(w * image_w, h * image_h)
    w, h = long_side / image_w * 1.25, long_side / image_h * 1.25
    return xc, yc, w * image_w, rot


@settings(max_examples=200, deadline=None)
@given(st.floats(-500, 1500), st.floats(-500, 1500), st.floats(-400, 400),
       st.floats(-400, 400))
def test_regions_follow_mediapipe(x0, y0, dx, dy):
    if math.hypot(dx, dy) < 1e-3:
        return
    got = regions_from_points([[x0, y0]], [[x0 + dx, y0 + dy]])[0]
    # MediaPipe computes in float32: the oracle starts from the float32 points (a 1e-3 px step
    # at x = 1500 is mostly rounding there, which moves the angle by far more than 1e-5)
    p0 = [float(v) for v in np.float32([x0, y0])]
    p1 = [float(v) for v in np.float32([x0 + dx, y0 + dy])]
    want = _mediapipe_region(p0, p1, 640, 480)
    np.testing.assert_allclose(got[:3], want[:3], rtol=1e-5, atol=1e-3)
    # the same angle modulo 2 pi, in [-pi, pi]; MediaPipe computes in float32, so the points'
    # rounding (relative 6e-8 of the coordinates) moves the angle by that over their distance
    tol = 1e-5 + 1e-7 * (abs(x0) + abs(y0) + 800) / math.hypot(dx, dy)
    assert abs(math.remainder(got[3] - want[3], 2 * math.pi)) < tol
    assert -math.pi - 1e-6 <= got[3] <= math.pi + 1e-6


def test_upright_person_has_rotation_zero():
    # the scale point straight above the hips: an upright person
    r = regions_from_points([[100.0, 300.0]], [[100.0, 200.0]])[0]
    np.testing.assert_allclose(r, [100.0, 300.0, 250.0, 0.0], atol=1e-6)
    # lying with the head to the right: the calculator rotates the region by +pi/2
    r = regions_from_points([[100.0, 300.0]], [[200.0, 300.0]])[0]
    assert r[3] == pytest.approx(math.pi / 2)


@pytest.mark.parametrize("rot", [0.0, 0.4, -1.2, math.pi / 2, 3.0])
def test_crop_matrices_are_mediapipes_box_points_map(rot):
    cv2 = pytest.importorskip("cv2")
    cx, cy, size = 321.5, 240.25, 180.0
    fwd, inv = crop_matrices(np.array([[cx, cy, size, rot]]), 256)
    pts = cv2.boxPoints(((cx, cy), (size, size), rot * 180 / math.pi))
    dst = np.float32([[0, 256], [0, 0], [256, 0], [256, 256]])
    persp = cv2.getPerspectiveTransform(pts.astype(np.float32), dst)
    np.testing.assert_allclose(persp[2], [0, 0, 1], atol=1e-6)  # a rectangle: affine
    np.testing.assert_allclose(fwd[0], persp[:2], atol=2e-4)
    # the inverse brings the crop's corners back onto the box's corners
    back = transform_points(dst.astype(np.float64), inv[0])
    np.testing.assert_allclose(back, pts, atol=2e-3)


def test_crop_matrices_of_no_region():
    fwd, inv = crop_matrices(np.zeros((0, 4)), 256)
    assert fwd.shape == inv.shape == (0, 2, 3)


def test_region_boxes_hold_the_rotated_square():
    r = np.array([[50.0, 60.0, 20.0, 0.0], [50.0, 60.0, 20.0, math.pi / 4]])
    b = region_boxes(r)
    np.testing.assert_allclose(b[0], [40, 50, 60, 70])
    half = 10 * math.sqrt(2)
    np.testing.assert_allclose(b[1], [50 - half, 60 - half, 50 + half, 60 + half])


@pytest.mark.parametrize("w, h", [(640, 480), (810, 1080), (1280, 720), (512, 512), (64, 900)])
def test_tiles_cover_the_frame_with_overlap(w, h):
    t = tiles(w, h, (1, 2))
    np.testing.assert_array_equal(t[0], [0, 0, w, h])  # scale 1: the whole frame
    grid = t[1:]
    side = min(max(w, h) / 2, min(w, h))
    np.testing.assert_allclose(grid[:, 2:], side)
    assert (grid[:, :2] >= 0).all() and (grid[:, 0] + side <= w + 1e-9).all()
    assert (grid[:, 1] + side <= h + 1e-9).all()
    # every pixel is in some tile, and neighbours overlap by at least a third of a side
    for axis, length in ((0, w), (1, h)):
        starts = np.unique(grid[:, axis])
        assert starts[0] == 0 and starts[-1] + side == pytest.approx(length)
        if len(starts) > 1:
            assert (np.diff(starts) <= side * 2 / 3 + 1e-9).all()


def test_tile_matrices_are_the_letterbox_of_each_tile():
    t = np.array([[0.0, 0.0, 640.0, 480.0], [100.0, 50.0, 320.0, 320.0]])
    fwd, inv = tile_matrices(t, (224, 224), letterbox_matrix)
    m, mi = letterbox_matrix((640, 480), (224, 224))
    np.testing.assert_allclose(fwd[0], m)
    np.testing.assert_allclose(inv[0], mi)
    # a tile's top-left corner goes to the input's (0, 0), and back
    corner = transform_points(np.array([[100.0, 50.0]]), fwd[1])
    np.testing.assert_allclose(corner, [[0.0, 0.0]], atol=1e-9)
    np.testing.assert_allclose(transform_points(corner, inv[1]), [[100.0, 50.0]], atol=1e-9)
