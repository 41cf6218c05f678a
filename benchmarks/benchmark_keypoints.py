"""Benchmarks of :mod:`wasmpose.keypoints` against NumPy and the peer libraries.

The ``impl`` parameter names what is timed: ``wasmpose`` (``OptLevel.FULL``), ``wasmpose-simd``
(``OptLevel.SIMD``, single-threaded), ``numpy`` (the NumPy reference, ``OptLevel.NONE``) and the
peer: ``pycocotools`` (``COCOeval.computeOks`` on COCO objects built in memory, ``maxDets`` at the
number of detections), ``scipy`` (``scipy.spatial.distance.cdist``; for ``keypoint_distances``
one ``cdist`` per keypoint) and ``mmpose`` (mmpose's ``oks_nms`` and ``oks_iou`` restated in
NumPy: a Python loop over candidates, as mmpose runs it; mmpose itself is not a dependency);
peers are skipped when not installed. Sizes: ``GxD`` ground truths x detections, ``NxM``
points or poses.

The top-down transforms are timed for 1, 10 and 100 people beside ``rtmlib`` (its own functions,
imported when rtmlib is installed with ``pip install rtmlib --no-deps``, skipped otherwise), as
RTMPose's pre- and post-processing calls them, one person at a time: ``get_warp_matrix``
(which solves with ``cv2.getAffineTransform``), ``bbox_xyxy2cs`` and the aspect-ratio fix of
``top_down_affine``, and the keypoint mapping of ``RTMPose.postprocess``
(``kpts / input_size * scale + center - scale / 2``). ``invert_affine`` is timed beside a loop
of ``cv2.invertAffineTransform``.
"""

from __future__ import annotations

import numpy as np

from wasmpose.keypoints import (
    COCO_SIGMAS,
    bbox_to_center_scale,
    get_affine_transform,
    invert_affine,
    keypoint_distances,
    oks,
    oks_nms,
    pairwise_distances,
    transform_points,
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


RTMPOSE_INPUT = (192, 256)
PEOPLE = [1, 10, 100]


def _rtmlib_pre():
    return common.require_peer("rtmlib.tools.pose_estimation.pre_processings")


def _top_down(people):
    """Centres, sizes (aspect fixed to the RTMPose input) and matrices of ``people`` boxes."""
    center, scale = bbox_to_center_scale(common.person_boxes(people),
                                         aspect_ratio=RTMPOSE_INPUT[0] / RTMPOSE_INPUT[1])
    return center, scale, get_affine_transform(center, scale, 0.0, RTMPOSE_INPUT)


class AffineTransform(common.KernelSuite):
    """``get_affine_transform`` of N boxes vs N calls of rtmlib's ``get_warp_matrix``."""

    params = [IMPLS + ["rtmlib"], PEOPLE]
    param_names = ["impl", "people"]

    def setup(self, impl, people):
        center, scale, _ = _top_down(people)
        if impl == "rtmlib":
            warp = _rtmlib_pre().get_warp_matrix

            def fn():
                return [warp(c, s, 0.0, RTMPOSE_INPUT) for c, s in zip(center, scale,
                                                                         strict=True)]
        else:
            fn = lambda: get_affine_transform(center, scale, 0.0, RTMPOSE_INPUT)  # noqa: E731
        self._start(impl, ("affine", impl, people), fn)

    def time_get_affine_transform(self, impl, people):
        self.fn()


class BboxToCenterScale(common.KernelSuite):
    """``bbox_to_center_scale(boxes, padding=1.25, aspect_ratio=192/256)`` vs rtmlib's
    ``bbox_xyxy2cs`` and ``top_down_affine``'s aspect fix, box by box (as RTMPose calls them)."""

    params = [IMPLS + ["rtmlib"], PEOPLE]
    param_names = ["impl", "people"]

    def setup(self, impl, people):
        boxes = common.person_boxes(people)
        ratio = RTMPOSE_INPUT[0] / RTMPOSE_INPUT[1]
        if impl == "rtmlib":
            cs = _rtmlib_pre().bbox_xyxy2cs

            def fn():
                out = []
                for b in boxes:
                    c, s = cs(b, padding=1.25)
                    w, h = np.hsplit(s, [1])
                    out.append((c, np.where(w > h * ratio, np.hstack([w, w / ratio]),
                                            np.hstack([h * ratio, h]))))
                return out
        else:
            fn = lambda: bbox_to_center_scale(boxes, aspect_ratio=ratio)  # noqa: E731
        self._start(impl, ("center_scale", impl, people), fn)

    def time_bbox_to_center_scale(self, impl, people):
        self.fn()


class InvertAffine(common.KernelSuite):
    """``invert_affine`` of N matrices vs N calls of ``cv2.invertAffineTransform``."""

    params = [IMPLS + ["cv2"], PEOPLE]
    param_names = ["impl", "people"]

    def setup(self, impl, people):
        m = _top_down(people)[2]
        if impl == "cv2":
            inv = common.require_peer("cv2").invertAffineTransform
            fn = lambda: [inv(x) for x in m]  # noqa: E731
        else:
            fn = lambda: invert_affine(m)  # noqa: E731
        self._start(impl, ("invert_affine", impl, people), fn)

    def time_invert_affine(self, impl, people):
        self.fn()


class TransformPoints(common.KernelSuite):
    """Keypoints of N people (17 x (x, y, score)) from the crop back to the image:
    ``transform_points(kpts, inverse matrices)`` vs ``RTMPose.postprocess``'s per-person
    ``kpts / input_size * scale + center - scale / 2`` (the same map for unrotated crops)."""

    params = [IMPLS + ["rtmlib"], PEOPLE]
    param_names = ["impl", "people"]

    def setup(self, impl, people):
        center, scale, m = _top_down(people)
        inv = invert_affine(m)
        kpts = np.random.default_rng([common.ARRAY_SEED, people]).uniform(0, 192, (people, 17, 3))
        if impl == "rtmlib":
            size = np.array(RTMPOSE_INPUT)

            def fn():
                return [k[:, :2] / size * s + c - s / 2
                        for k, c, s in zip(kpts, center, scale, strict=True)]
        else:
            fn = lambda: transform_points(kpts, inv)  # noqa: E731
        self._start(impl, ("transform_points", impl, people), fn)

    def time_transform_points(self, impl, people):
        self.fn()
