"""Regions of interest: MediaPipe's rotated square person regions, and the detector's tiles.

A region is a row ``(cx, cy, size, rotation)``: its centre and side in frame pixels and its
rotation in radians (MediaPipe's ``NormalizedRect`` times the frame size; the regions are
square in pixels). Shape symbols: R regions, K keypoints.

The rules, from MediaPipe's graphs and calculators:

- ``pose_detection_to_roi.pbtxt`` and ``pose_landmarks_to_roi.pbtxt``:
  ``AlignmentPointsRectsCalculator`` with ``rotation_vector_start_keypoint_index: 0``,
  ``rotation_vector_end_keypoint_index: 1``, ``rotation_vector_target_angle_degrees: 90``: the
  centre is point 0 (the mid-hip), the side ``2 * |p1 - p0|`` (float32), the rotation
  ``NormalizeRadians(pi / 2 - atan2(-(y1 - y0), x1 - x0))`` (into [-pi, pi)); then
  ``RectTransformationCalculator`` with ``scale_x: 1.25``, ``scale_y: 1.25``,
  ``square_long: true`` (no shift): the side times 1.25. For a detection the points are its
  keypoints 0 and 1; for tracking, the auxiliary landmarks 33 and 34 of the previous frame.
- ``ImageToTensorCalculator`` (OpenCV converter): ``cv::boxPoints`` of the rotated rectangle
  mapped onto the output's corners ``(0, 0)`` .. ``(256, 256)``; the inverse map, which
  ``LandmarkProjectionCalculator`` applies to the model's normalised landmarks, is
  ``p = c + R(rotation) * size * (q / 256 - 0.5)``. :func:`crop_matrices` returns both.
"""

from __future__ import annotations

import math

import numpy as np

from wasmpose.keypoints import invert_affine

__all__ = ["regions_from_points", "crop_matrices", "region_boxes", "tiles", "tile_matrices"]

ROI_SCALE = 1.25  # RectTransformationCalculator scale_x, scale_y
TARGET_ANGLE = math.pi / 2  # rotation_vector_target_angle_degrees: 90


def regions_from_points(p0, p1, *, scale=ROI_SCALE):
    """Regions ``(R, 4)`` from the alignment points ``p0``, ``p1`` ``(R, 2)`` in pixels.

    ``AlignmentPointsRectsCalculator`` then ``RectTransformationCalculator`` (see the module's
    docstring), in float32 as MediaPipe computes them.
    """
    p0 = np.asarray(p0, np.float32).reshape(-1, 2)
    p1 = np.asarray(p1, np.float32).reshape(-1, 2)
    d = p1 - p0
    size = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) * np.float32(2.0)
    angle = np.float32(TARGET_ANGLE) - np.arctan2(-d[:, 1], d[:, 0])
    angle = angle - np.float32(2 * math.pi) * np.floor((angle + np.float32(math.pi))
                                                      / np.float32(2 * math.pi))
    out = np.empty((len(p0), 4), np.float64)
    out[:, :2] = p0
    out[:, 2] = size * np.float32(scale)
    out[:, 3] = angle
    return out


def crop_matrices(regions, out_size):
    """``(matrices, inverses)``, both ``(R, 2, 3)``: frame -> crop and crop -> frame pixels.

    The crop is ``out_size`` x ``out_size``; the region's corners map onto the crop's corners
    (``ImageToTensorCalculator``), so crop pixel ``q`` is frame point
    ``c + R(rotation) * (size / out_size) * (q - out_size / 2)``.
    """
    r = np.asarray(regions, np.float64).reshape(-1, 4)
    s = r[:, 2] / out_size
    cos, sin = np.cos(r[:, 3]) * s, np.sin(r[:, 3]) * s
    half = out_size / 2.0
    inv = np.empty((len(r), 2, 3))
    inv[:, 0, 0], inv[:, 0, 1] = cos, -sin
    inv[:, 1, 0], inv[:, 1, 1] = sin, cos
    inv[:, 0, 2] = r[:, 0] - (cos - sin) * half
    inv[:, 1, 2] = r[:, 1] - (sin + cos) * half
    fwd = invert_affine(inv) if len(r) else inv.copy()
    return fwd, inv


def region_boxes(regions):
    """The axis-aligned boxes ``(R, 4)`` xyxy that hold the rotated square regions."""
    r = np.asarray(regions, np.float64).reshape(-1, 4)
    half = 0.5 * r[:, 2] * (np.abs(np.cos(r[:, 3])) + np.abs(np.sin(r[:, 3])))
    return np.stack([r[:, 0] - half, r[:, 1] - half, r[:, 0] + half, r[:, 1] + half], -1)


def tiles(width, height, scales):
    """Square tiles ``(T, 4)`` ``(x0, y0, side, side)`` covering a ``width`` x ``height`` frame.

    Scale 1 is the whole frame (one tile, letterboxed by the detector); a scale ``s > 1`` is a
    grid of squares of side ``max(w, h) / s`` (at most the shorter side), overlapping by at
    least a third of a side, so that a person cut by one tile's edge is whole in a neighbour.
    """
    out = []
    long_side = max(width, height)
    for s in scales:
        if s <= 1:
            out.append((0.0, 0.0, float(width), float(height)))
            continue
        side = min(long_side / s, float(min(width, height)))
        for y0 in _starts(height, side):
            for x0 in _starts(width, side):
                out.append((x0, y0, side, side))
    return np.array(out, np.float64).reshape(-1, 4)


def _starts(length, side):
    if side >= length:
        return [0.0]
    n = max(2, math.ceil((length - side) / (side * 2 / 3)) + 1)  # step <= 2/3 side
    return list(np.linspace(0.0, length - side, n))


def tile_matrices(tiles_xywh, dst_size, letterbox):
    """``(matrices, inverses)`` ``(T, 2, 3)``: frame -> detector input, and back, per tile.

    ``letterbox(src_size, dst_size) -> (matrix, inverse)`` is
    :func:`wasmpose.boxes.letterbox_matrix` (MediaPipe's ``keep_aspect_ratio``).
    """
    t = np.asarray(tiles_xywh, np.float64).reshape(-1, 4)
    fwd = np.empty((len(t), 2, 3))
    inv = np.empty((len(t), 2, 3))
    for i, (x0, y0, w, h) in enumerate(t):
        m, mi = letterbox((max(1, round(w)), max(1, round(h))), dst_size)
        fwd[i] = m
        fwd[i, :, 2] = m[:, 2] - m[:, :2] @ (x0, y0)
        inv[i] = mi
        inv[i, :, 2] = mi[:, 2] + (x0, y0)
    return fwd, inv
