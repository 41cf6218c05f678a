"""Benchmarks of :mod:`wasmpose.keypoints` against NumPy and the peer libraries.

The ``impl`` parameter names what is timed: ``wasmpose`` (``OptLevel.FULL``), ``wasmpose-simd``
(``OptLevel.SIMD``, single-threaded), ``numpy`` (the NumPy reference, ``OptLevel.NONE``) and the
peer: ``pycocotools`` (``COCOeval.computeOks`` on COCO objects built in memory, ``maxDets`` at the
number of detections), ``scipy`` (``scipy.spatial.distance.cdist``; for ``keypoint_distances``
one ``cdist`` per keypoint) and ``mmpose`` (mmpose's ``oks_nms`` and ``oks_iou`` restated in
NumPy: a Python loop over candidates, as mmpose runs it; mmpose itself is not a dependency);
peers are skipped when not installed. Sizes: ``GxD`` ground truths x detections, ``NxM``
points or poses.
"""

from __future__ import annotations

import numpy as np

from wasmpose.keypoints import (
    COCO_SIGMAS,
    keypoint_distances,
    oks,
    oks_nms,
    pairwise_distances,
)
from wasmpose.tools.peers import coco_oks

from . import common
from .peers import mmpose_oks_nms

IMPLS = ["wasmpose", "wasmpose-simd", "numpy"]


def _sizes(size: str) -> tuple[int, int]:
    n, m = size.split("x")
    return int(n), int(m)


class Oks(common.KernelSuite):
    """``oks(dt, gt, areas, gt_bboxes=...)`` vs ``COCOeval.computeOks`` (same (D, G) matrix)."""

    params = [IMPLS + ["pycocotools"], ["20x100", "100x1000"]]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        n_gt, n_dt = _sizes(size)
        dt, gt, areas, bboxes = common.pose_scene(n_gt, n_dt)
        if impl == "pycocotools":
            fn = coco_oks(dt, gt, areas, bboxes)
            if fn is None:
                raise NotImplementedError("pycocotools is not installed")
        else:
            fn = lambda: oks(dt, gt, areas, gt_bboxes=bboxes)  # noqa: E731
        self._start(impl, ("oks", impl, size), fn)

    def time_oks(self, impl, size):
        self.fn()


class PairwiseDistances(common.KernelSuite):
    """``pairwise_distances`` of float64 2-D points vs ``scipy.spatial.distance.cdist``."""

    params = [IMPLS + ["scipy"], ["100x100", "1000x1000"]]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        n, m = _sizes(size)
        a, b = common.points(n), common.points(m + 1)[1:]
        if impl == "scipy":
            cdist = common.require_peer("scipy.spatial.distance").cdist
            fn = lambda: cdist(a, b)  # noqa: E731
        else:
            fn = lambda: pairwise_distances(a, b)  # noqa: E731
        self._start(impl, ("pairwise", impl, size), fn)

    def time_pairwise_distances(self, impl, size):
        self.fn()


class KeypointDistances(common.KernelSuite):
    """``keypoint_distances`` of (N, 17, 2) and (M, 17, 2) poses vs 17 ``cdist`` calls."""

    params = [IMPLS + ["scipy"], ["20x100", "100x100"]]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        n, m = _sizes(size)
        dt, gt = common.pose_scene(n, m)[:2]
        a, b = gt[..., :2], dt[..., :2]
        if impl == "scipy":
            cdist = common.require_peer("scipy.spatial.distance").cdist
            a_k = [np.ascontiguousarray(a[:, k]) for k in range(a.shape[1])]
            b_k = [np.ascontiguousarray(b[:, k]) for k in range(b.shape[1])]
            fn = lambda: np.stack([cdist(p, q) for p, q in zip(a_k, b_k, strict=True)],  # noqa: E731
                                  axis=-1)
        else:
            fn = lambda: keypoint_distances(a, b)  # noqa: E731
        self._start(impl, ("keypoint_distances", impl, size), fn)

    def time_keypoint_distances(self, impl, size):
        self.fn()


class OksNms(common.KernelSuite):
    """``oks_nms`` (threshold 0.9) of 100 and 1000 candidate poses around 10 people."""

    params = [IMPLS + ["mmpose"], [100, 1000]]
    param_names = ["impl", "poses"]

    def setup(self, impl, poses):
        p, s, a = common.pose_crowd(poses)
        if impl == "mmpose":
            if poses > 100:
                raise NotImplementedError("mmpose's per-candidate loop takes seconds at 1000")
            key = ("oks_nms-verify", poses)
            if key not in common.WARMED:
                got, want = mmpose_oks_nms(p, s, a, 0.9, COCO_SIGMAS), oks_nms(p, s, a)
                if not np.array_equal(got, want):
                    raise RuntimeError(f"mmpose-style oks_nms kept {got.tolist()}, "
                                       f"oks_nms {want.tolist()}")
                common.WARMED.add(key)
            fn = lambda: mmpose_oks_nms(p, s, a, 0.9, COCO_SIGMAS)  # noqa: E731
        else:
            fn = lambda: oks_nms(p, s, a)  # noqa: E731
        self._start(impl, ("oks_nms", impl, poses), fn)

    def time_oks_nms(self, impl, poses):
        self.fn()
