"""Benchmarks of :mod:`wasmpose.boxes` against NumPy and the peer libraries.

The ``impl`` parameter names what is timed: ``wasmpose`` (``OptLevel.FULL``), ``wasmpose-serial``
(``OptLevel.SERIAL``), ``numpy`` (the NumPy reference, ``OptLevel.NONE``) and the peer:
``rtmlib`` (rtmlib's NumPy ``nms``, which adds 1 to widths: the real one when rtmlib is
installed, else its restatement in ``benchmarks/peers.py``; same code) and ``torch``
(torchvision's ``box_iou`` formula computed with torch: torchvision itself is not installed).
The inputs: ``box_crowd(n)`` (``n`` candidate boxes around 20 people in a 1920x1080 frame, as a
detector emits them before NMS) and ``ssd_output()`` (a BlazePose-like detector output: 2254
anchors, 18 above the 0.5 score threshold in 3 clusters), both from ``wasmpose.tools.data``.

The speed targets of the top-down issue, measured in one process with::

    PYTHONPATH=. python -m benchmarks.ratios benchmark_boxes.Nms --where boxes=2000
    PYTHONPATH=. python -m benchmarks.ratios benchmark_boxes.DetectorPost
"""

from __future__ import annotations

import numpy as np

from wasmpose.boxes import (
    batched_nms,
    box_convert,
    box_iou,
    decode_ssd,
    letterbox_matrix,
    nms,
    ssd_anchors,
    weighted_nms,
)
from wasmpose.tools.data import box_crowd, ssd_output

from . import common
from .peers import rtmlib_nms

IMPLS = ["wasmpose", "wasmpose-serial", "numpy"]


def _rtmlib_nms():
    """rtmlib's own ``nms`` if rtmlib imports, checked against the restatement; else that."""
    post = common.peer_available("rtmlib.tools.object_detection.post_processings")
    if not post:
        return rtmlib_nms
    fn = common.require_peer("rtmlib.tools.object_detection.post_processings").nms
    b, s = box_crowd(300)
    if fn(b, s, 0.5) != rtmlib_nms(b, s, 0.5):
        raise RuntimeError("benchmarks/peers.py rtmlib_nms differs from rtmlib's nms")
    return fn


class Nms(common.KernelSuite):
    """``nms`` (IoU threshold 0.45) of candidate boxes around 20 people vs rtmlib's ``nms``."""

    params = [IMPLS + ["rtmlib"], [300, 2000]]
    param_names = ["impl", "boxes"]

    def setup(self, impl, boxes):
        b, s = box_crowd(boxes)
        if impl == "rtmlib":
            peer = _rtmlib_nms()
            fn = lambda: peer(b, s, 0.45)  # noqa: E731
        else:
            fn = lambda: nms(b, s, 0.45)  # noqa: E731
        self._start(impl, ("nms", impl, boxes), fn)

    def time_nms(self, impl, boxes):
        self.fn()


class BatchedNms(common.KernelSuite):
    """``batched_nms`` of 2000 candidate boxes in 3 classes."""

    params = [IMPLS, [2000]]
    param_names = ["impl", "boxes"]

    def setup(self, impl, boxes):
        b, s = box_crowd(boxes)
        classes = np.arange(boxes) % 3
        fn = lambda: batched_nms(b, s, classes, 0.45)  # noqa: E731
        self._start(impl, ("batched_nms", impl, boxes), fn)

    def time_batched_nms(self, impl, boxes):
        self.fn()


class BoxIou(common.KernelSuite):
    """``box_iou`` of float32 boxes vs torchvision's formula computed with torch."""

    params = [IMPLS + ["torch"], ["100x100", "1000x1000"]]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        n, m = (int(v) for v in size.split("x"))
        a, b = box_crowd(n)[0], box_crowd(m + 1)[0][1:]
        if impl == "torch":
            torch = common.require_peer("torch")
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)

            def fn():
                area1 = (ta[:, 2] - ta[:, 0]) * (ta[:, 3] - ta[:, 1])
                area2 = (tb[:, 2] - tb[:, 0]) * (tb[:, 3] - tb[:, 1])
                lt = torch.max(ta[:, None, :2], tb[:, :2])
                rb = torch.min(ta[:, None, 2:], tb[:, 2:])
                wh = (rb - lt).clamp(min=0)
                inter = wh[:, :, 0] * wh[:, :, 1]
                return inter / (area1[:, None] + area2 - inter)
        else:
            fn = lambda: box_iou(a, b)  # noqa: E731
        self._start(impl, ("box_iou", impl, size), fn)

    def time_box_iou(self, impl, size):
        self.fn()


class WeightedNms(common.KernelSuite):
    """``weighted_nms`` (threshold 0.3, 4 keypoints) of the decoded detector output."""

    params = [IMPLS]
    param_names = ["impl"]

    def setup(self, impl):
        raw, logits = ssd_output()
        b, s, k = decode_ssd(raw, logits, ssd_anchors())
        fn = lambda: weighted_nms(b, s, 0.3, keypoints=k)  # noqa: E731
        self._start(impl, ("weighted_nms", impl), fn)

    def time_weighted_nms(self, impl):
        self.fn()


class DecodeSsd(common.KernelSuite):
    """``decode_ssd`` of a BlazePose-like detector output (2254 anchors), one image or 8."""

    params = [IMPLS, [1, 8]]
    param_names = ["impl", "images"]

    def setup(self, impl, images):
        raw, logits = ssd_output()
        anchors = ssd_anchors()
        if images > 1:
            raw = np.ascontiguousarray(np.broadcast_to(raw, (images, *raw.shape)))
            logits = np.ascontiguousarray(np.broadcast_to(logits, (images, *logits.shape)))
        fn = lambda: decode_ssd(raw, logits, anchors)  # noqa: E731
        self._start(impl, ("decode_ssd", impl, images), fn)

    def time_decode_ssd(self, impl, images):
        self.fn()


class DetectorPost(common.KernelSuite):
    """The person detector's post-processing: ``decode_ssd`` + ``weighted_nms`` (target 0.1 ms)."""

    params = [IMPLS]
    param_names = ["impl"]

    def setup(self, impl):
        raw, logits = ssd_output()
        anchors = ssd_anchors()

        def fn():
            b, s, k = decode_ssd(raw, logits, anchors)
            return weighted_nms(b, s, 0.3, keypoints=k)

        self._start(impl, ("detector_post", impl), fn)

    def time_decode_and_weighted_nms(self, impl):
        self.fn()


class BoxHelpers:
    """The NumPy-only helpers: ``box_convert`` of 2000 boxes, ``ssd_anchors`` (cached after the
    first call), ``letterbox_matrix``."""

    params = [["box_convert", "ssd_anchors", "letterbox_matrix"]]
    param_names = ["call"]

    def setup(self, call):
        b = box_crowd(2000)[0]
        self.fn = {"box_convert": lambda: box_convert(b, "xyxy", "cxcywh"),
                   "ssd_anchors": ssd_anchors,
                   "letterbox_matrix": lambda: letterbox_matrix((1920, 1080), (224, 224))}[call]
        self.fn()

    def time_call(self, call):
        self.fn()
