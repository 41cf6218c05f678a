"""Peers of the asv suite that the shipped commands do not call: mmpose's and rtmlib's NMS,
restated, and rtmlib's per-person preprocessing (``rtmlib_preprocess``, timed beside
``crop_to_tensor``).

mmpose is not a dependency (it pins old PyTorch and NumPy), so its ``oks_nms`` and ``oks_iou``
(``mmpose/evaluation/functional/nms.py``) are restated here in plain NumPy, with mmpose's
per-candidate Python loop. ``benchmarks/benchmark_keypoints.py`` times them beside
``oks_nms``; ``tests/keypoints/test_keypoints.py`` uses them as the oracle of the mean-area
OKS and of ``oks_nms`` (one copy for both: asv imports only ``benchmarks/``, so the suite
cannot import from ``tests/``). Not in the wheel.

rtmlib's box ``nms`` (``rtmlib/tools/object_detection/post_processings.py``, rtmlib 0.0.16) is
restated for the same reason: rtmlib requires ``opencv-python`` and ``opencv-contrib-python``,
which would replace the ``opencv-python-headless`` that the tests pin, so it is not a test
dependency. ``benchmarks/benchmark_boxes.py`` checks the restatement against rtmlib itself when
rtmlib is installed (``pip install rtmlib --no-deps``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["mmpose_oks_iou", "mmpose_oks_nms", "rtmlib_nms", "RTMLIB_MEAN", "RTMLIB_STD",
           "person_boxes", "rtmlib_preprocess", "rtmlib_matrices"]


def mmpose_oks_iou(g: np.ndarray, d: np.ndarray, a_g, a_d: np.ndarray,
                   sigmas: np.ndarray) -> np.ndarray:
    """mmpose.evaluation.functional.nms.oks_iou (no vis_thr), restated plainly: the OKS of pose
    ``g`` (K, >=2) with each pose of ``d`` (N, K, >=2), a Python loop over ``d``, in float64
    (mmpose then stores it in a float32 array). The test oracle of the mean-area OKS and the
    asv peer of ``oks_nms``."""
    var = (sigmas * 2) ** 2
    ious = np.zeros(len(d))
    for n in range(len(d)):
        dx = d[n, :, 0] - g[:, 0]
        dy = d[n, :, 1] - g[:, 1]
        e = (dx**2 + dy**2) / var / ((a_g + a_d[n]) / 2 + np.spacing(1)) / 2
        ious[n] = np.sum(np.exp(-e)) / len(e)
    return ious


def mmpose_oks_nms(poses: np.ndarray, scores, areas: np.ndarray, thr: float,
                   sigmas: np.ndarray) -> np.ndarray:
    """mmpose.evaluation.functional.nms.oks_nms (with its oks_iou), restated plainly: the kept
    indices (int64), best score first."""
    order = np.asarray(scores).argsort()[::-1]
    keep = []
    while len(order) > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        ious = mmpose_oks_iou(poses[i], poses[rest], areas[i], areas[rest],
                              sigmas).astype(np.float32)
        order = order[np.where(ious <= thr)[0] + 1]
    return np.array(keep, dtype=np.int64)


def rtmlib_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list:
    """rtmlib's single-class NumPy ``nms``, restated: boxes are measured with ``+ 1`` on widths
    and heights (``(x2 - x1 + 1) * (y2 - y1 + 1)``, intersections likewise, clamped at 0);
    visit by ``scores.argsort()[::-1]`` (ties: the higher index first); keep the first
    remaining box and drop the rest whose IoU with it is not ``<= thr``. Returns the kept
    indices as a list, as rtmlib does."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[rest] - inter)
        order = rest[ovr <= thr]
    return keep


RTMLIB_MEAN = (123.675, 116.28, 103.53)  # rtmlib RTMPose's defaults (pixel units)
RTMLIB_STD = (58.395, 57.12, 57.375)


def person_boxes(n: int, frame_hw: tuple[int, int], seed: int = 20261204) -> np.ndarray:
    """``n`` person-like xyxy boxes (40-300 px wide, 100-600 px tall) inside a frame."""
    rng = np.random.default_rng([seed, n, *frame_hw])
    h, w = frame_hw
    bw = rng.uniform(40, 300, n)
    bh = rng.uniform(100, 600, n)
    x0 = rng.uniform(0, w - bw)
    y0 = rng.uniform(0, h - bh)
    return np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)


def rtmlib_preprocess(pre, frame: np.ndarray, boxes: np.ndarray,
                      input_size: tuple[int, int]) -> Callable[[], np.ndarray]:
    """rtmlib's per-person preprocessing for a batch: for each box, ``bbox_xyxy2cs`` (padding
    1.25), ``top_down_affine`` (``cv2.warpAffine``), float64 ``(img - mean) / std`` and the
    float32 NCHW transpose, as ``rtmlib.RTMPose.preprocess`` + ``inference`` do; ``pre`` is
    ``rtmlib.tools.pose_estimation.pre_processings``."""
    mean = np.array(RTMLIB_MEAN)
    std = np.array(RTMLIB_STD)

    def run():
        batch = []
        for box in boxes:
            center, scale = pre.bbox_xyxy2cs(np.asarray(box), padding=1.25)
            img, _ = pre.top_down_affine(input_size, scale, center, frame)
            img = (img - mean) / std
            batch.append(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
        return np.stack(batch)

    return run


def rtmlib_matrices(pre, boxes: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """The (N, 2, 3) crop matrices ``top_down_affine`` uses for ``boxes`` (rtmlib's
    ``bbox_xyxy2cs``, aspect-ratio fix and ``get_warp_matrix`` with no rotation)."""
    w, h = input_size
    mats = []
    for box in boxes:
        center, scale = pre.bbox_xyxy2cs(np.asarray(box), padding=1.25)
        b_w, b_h = scale
        scale = (np.array([b_w, b_w * h / w]) if b_w > b_h * w / h
                 else np.array([b_h * w / h, b_h]))
        mats.append(pre.get_warp_matrix(center, scale, 0, output_size=(w, h)))
    return np.array(mats, np.float64).reshape(-1, 2, 3)
