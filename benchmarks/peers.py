"""Peers of the asv suite that the shipped commands do not call: mmpose's NMS, restated.

mmpose is not a dependency (it pins old PyTorch and NumPy), so its ``oks_nms`` and ``oks_iou``
(``mmpose/evaluation/functional/nms.py``) are restated here in plain NumPy, with mmpose's
per-candidate Python loop. ``benchmarks/benchmark_keypoints.py`` times them beside
``oks_nms``; ``tests/keypoints/test_keypoints.py`` uses them as the oracle of the mean-area
OKS and of ``oks_nms`` (one copy for both: asv imports only ``benchmarks/``, so the suite
cannot import from ``tests/``). Not in the wheel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mmpose_oks_iou", "mmpose_oks_nms"]


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

