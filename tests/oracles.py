"""Peers' functions transcribed for the tests, where the peer itself is not a test dependency.

Each section names the peer, its version and the file the functions come from. They are kept as
the peer writes them (same operations, same order, same dtypes), only reformatted, so that they
can stand in for the peer; where the peer is installed, a test checks the transcription against it.
"""

from __future__ import annotations

import numpy as np

# =============================================================================================
# rtmlib 0.0.16 (https://pypi.org/project/rtmlib/0.0.16/), also mmpose 1.x
#   rtmlib/tools/pose_estimation/post_processings.py: get_simcc_maximum
#   rtmlib/tools/pose_estimation/pre_processings.py: bbox_xyxy2cs, _rotate_point,
#       _get_3rd_point, get_warp_matrix, and the aspect-ratio fix inlined in top_down_affine
#   (mmpose's TopdownAffine._fix_aspect_ratio is the same expression)
# rtmlib is not a test dependency: with its dependencies it installs opencv-python and
# opencv-contrib-python over the opencv-python-headless the tests use. When it is installed
# (pip install rtmlib --no-deps), tests/heatmap/test_simcc.py and tests/keypoints/test_affine.py
# check these transcriptions against it.
# =============================================================================================


def rtmlib_get_simcc_maximum(simcc_x, simcc_y, *, score="mean"):
    """rtmlib's ``get_simcc_maximum`` for ``(N, K, W)`` input.

    ``score="mean"``: rtmlib 0.0.10 to 0.0.16 (``vals = 0.5 * (max_val_x + max_val_y)``).
    ``score="min"``: rtmlib up to 0.0.9 and mmpose (``mask = max_val_x > max_val_y;
    max_val_x[mask] = max_val_y[mask]``).
    """
    n, k, _ = simcc_x.shape
    simcc_x = simcc_x.reshape(n * k, -1)
    simcc_y = simcc_y.reshape(n * k, -1)
    x_locs = np.argmax(simcc_x, axis=1)
    y_locs = np.argmax(simcc_y, axis=1)
    locs = np.stack((x_locs, y_locs), axis=-1).astype(np.float32)
    max_val_x = np.amax(simcc_x, axis=1)
    max_val_y = np.amax(simcc_y, axis=1)
    if score == "mean":
        vals = 0.5 * (max_val_x + max_val_y)
    else:
        mask = max_val_x > max_val_y
        max_val_x[mask] = max_val_y[mask]
        vals = max_val_x
    locs[vals <= 0.0] = -1
    return locs.reshape(n, k, 2), vals.reshape(n, k)


def rtmlib_decode_simcc(simcc_x, simcc_y, split_ratio=2.0, *, score="mean"):
    """RTMPose.postprocess's decoding: ``get_simcc_maximum`` then ``locs / simcc_split_ratio``."""
    locs, vals = rtmlib_get_simcc_maximum(simcc_x, simcc_y, score=score)
    return locs / split_ratio, vals


def rtmlib_bbox_xyxy2cs(bbox, padding=1.0):
    """rtmlib's ``bbox_xyxy2cs``."""
    dim = bbox.ndim
    if dim == 1:
        bbox = bbox[None, :]
    x1, y1, x2, y2 = np.hsplit(bbox, [1, 2, 3])
    center = np.hstack([x1 + x2, y1 + y2]) * 0.5
    scale = np.hstack([x2 - x1, y2 - y1]) * padding
    if dim == 1:
        center = center[0]
        scale = scale[0]
    return center, scale


def mmpose_fix_aspect_ratio(bbox_scale, aspect_ratio):
    """mmpose's ``TopdownAffine._fix_aspect_ratio`` (rtmlib's ``top_down_affine`` inlines it)."""
    w, h = np.hsplit(bbox_scale, [1])
    return np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]),
                    np.hstack([h * aspect_ratio, h]))


def _rotate_point(pt, angle_rad):
    sn, cs = np.sin(angle_rad), np.cos(angle_rad)
    rot_mat = np.array([[cs, -sn], [sn, cs]])
    return rot_mat @ pt


def _get_3rd_point(a, b):
    direction = a - b
    return b + np.r_[-direction[1], direction[0]]


def rtmlib_get_warp_matrix(center, scale, rot, output_size, shift=(0.0, 0.0), inv=False):
    """rtmlib's ``get_warp_matrix`` (imports OpenCV: ``cv2.getAffineTransform`` solves it)."""
    import cv2

    shift = np.array(shift)
    src_w = scale[0]
    dst_w = output_size[0]
    dst_h = output_size[1]
    rot_rad = np.deg2rad(rot)
    src_dir = _rotate_point(np.array([0.0, src_w * -0.5]), rot_rad)
    dst_dir = np.array([0.0, dst_w * -0.5])
    src = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center + scale * shift
    src[1, :] = center + src_dir + scale * shift
    src[2, :] = _get_3rd_point(src[0, :], src[1, :])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    dst[2, :] = _get_3rd_point(dst[0, :], dst[1, :])
    if inv:
        return cv2.getAffineTransform(np.float32(dst), np.float32(src))
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


RTMLIB = "rtmlib==0.0.16"


def rtmlib_module(name, package="pose_estimation"):
    """rtmlib's own module ``rtmlib.tools.<package>.<name>`` (``"post_processings"``,
    ``"pre_processings"``; ``package="object_detection"`` for the detector's ``nms``), from the
    rtmlib wheel itself.

    rtmlib is not installed by the test extra (its dependencies would put ``opencv-python`` and
    ``opencv-contrib-python`` over ``opencv-python-headless``). Both modules import only NumPy
    and OpenCV, so the file is taken from the pinned wheel (``pip download --no-deps``, cached
    like the demo's model) and loaded on its own; an installed rtmlib of the pinned version is
    used as it is. Skips the calling test when the wheel cannot be fetched.
    """
    import importlib
    import importlib.metadata as md
    import importlib.util

    try:
        if md.version("rtmlib") == RTMLIB.split("==")[1]:
            return importlib.import_module(f"rtmlib.tools.{package}.{name}")
    except md.PackageNotFoundError:
        pass
    import pytest

    from wasmpose.tools.models import FetchError, fetch_wheel_member

    try:
        path = fetch_wheel_member(RTMLIB, f"rtmlib/tools/{package}/{name}.py", quiet=True)
    except FetchError as exc:  # no registry here: a skip (a failure under CI=true)
        pytest.skip(f"the {RTMLIB} wheel cannot be fetched: {exc}")
    spec = importlib.util.spec_from_file_location(f"_rtmlib_{package}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
