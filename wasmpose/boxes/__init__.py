"""Boxes for the detector side of a top-down pipeline: conversion, IoU, NMS, SSD decoding.

Boxes are in pixels (or in [0, 1] of the detector input, for the SSD decoder) and ``xyxy``
(x1, y1, x2, y2) unless said otherwise. Two peers define the results:

- torchvision for ``box_convert``, ``box_iou``, ``nms`` and ``batched_nms``
  (``torchvision.ops``): the same formulas in the boxes' own dtype, so float32 results are those
  of torchvision to the last bit; the one difference is stated in :func:`box_iou`.
- MediaPipe for ``ssd_anchors``, ``decode_ssd`` and ``weighted_nms``: its
  ``SsdAnchorsCalculator``, ``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator``
  (``algorithm: WEIGHTED``) with the options of the BlazePose person detector
  (``mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt``), in float32 as MediaPipe
  computes them. ``letterbox_matrix`` is the mapping of its ``ImageToTensorCalculator`` with
  ``keep_aspect_ratio: true``.

Each kernel validates its arguments here, then runs one variant (``_reference.py`` holds the
NumPy versions and states the rules with their sources, ``_kernels.py`` the compiled ones) as
chosen by :mod:`wasmpose.cpu`. Shape symbols: N, M boxes (or images, for batched SSD output),
A anchors, K keypoints.

Bad boxes: ``box_iou``, ``nms``, ``batched_nms`` and ``weighted_nms`` reject NaN or infinite
coordinates and boxes with ``x2 < x1`` or ``y2 < y1`` (``ValueError`` naming the first one);
boxes of zero width or height are valid and overlap nothing. ``decode_ssd`` takes a model's raw
output as it comes and drops what MediaPipe drops (NaN scores, boxes of negative or NaN size).
"""

from __future__ import annotations

import functools

import numpy as np

from wasmpose import _checks
from wasmpose._registry import NEVER, Kernel, count, operand_bytes, register, rng, side
from wasmpose.boxes import _kernels as _nb
from wasmpose.boxes import _reference as _ref

__all__ = [
    "box_convert",
    "box_iou",
    "nms",
    "batched_nms",
    "weighted_nms",
    "ssd_anchors",
    "decode_ssd",
    "letterbox_matrix",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_F32 = np.dtype(np.float32)
_INTS = tuple(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                    np.uint32))
_FORMATS = ("xyxy", "xywh", "cxcywh")


# ---------------------------------------------------------------------------------------------
# Kernels: one declaration each (see wasmpose/_registry.py); thresholds in bytes of array
# operands. Greedy NMS sweeps (kept boxes) x n pairs serially; its parallel variant always
# computes the n^2 / 2 pairs of a bit matrix, so it is only chosen for very large n. MediaPipe's
# weighted NMS has tens of detections: never parallel. The SSD decoder is parallel over images.
# The examples: boxes around people as a detector emits them before NMS (float32 and float64),
# BlazePose-like detector outputs.
# ---------------------------------------------------------------------------------------------
_NMS_BOX_BYTES = 16 + 8 + 8 + 8  # float32 box, float64 score, int64 class, int64 kept index
_DET_BYTES = 16 + 4 + 32 + 16 + 4 + 32  # a detection with 4 keypoints, in and out (float32)
_ANCHOR_BYTES = 48 + 4 + 16 + 4 + 32  # raw row, logit, and the three outputs (float32)


def _example_iou(nbytes):
    from wasmpose.tools.data import box_crowd

    n = side(nbytes, 4, 32)  # (n, n) float32 out, two (n, 4) inputs
    a, b = box_crowd(n)[0], box_crowd(n + 1)[0][1:]
    return [(a, b, np.empty((n, n), _F32)),
            (a.astype(np.float64), b.astype(np.float64), np.empty((n, n)))]


def _example_nms(nbytes):
    from wasmpose.tools.data import box_crowd

    n = count(nbytes, _NMS_BOX_BYTES, 2)
    b, s = box_crowd(n)
    s64 = s.astype(np.float64)
    classes = np.arange(n, dtype=np.int64) % 3
    return [(b, s64, np.zeros(n, np.int64), np.float32(0.45), np.empty(n, np.int64)),
            (b.astype(np.float64), s64, classes, 0.45, np.empty(n, np.int64))]


def _example_weighted(nbytes):
    from wasmpose.tools.data import detection_clusters

    n = count(nbytes, _DET_BYTES, 1)
    boxes, scores, kps = detection_clusters(rng(), n, max(1, n // 6))
    return [(boxes, scores, kps, np.float32(0.3), np.empty((n, 4), _F32), np.empty(n, _F32),
             np.empty((n, 4, 2), _F32))]


def _example_decode(nbytes):
    from wasmpose.tools.data import ssd_output

    full = 2254
    if nbytes < 2 * full * (_ANCHOR_BYTES + 16):  # one image of fewer anchors
        images, a = 1, max(16, count(nbytes - 28, _ANCHOR_BYTES + 16))
    else:  # BlazePose's 2254 anchors, a batch of images
        images, a = count(nbytes - full * 16 - 20, full * _ANCHOR_BYTES + 8), full
    raw, logits = ssd_output(3, a)
    anchors = np.resize(ssd_anchors(), (a, 4))
    params = np.array([224.0, 224.0, 100.0, 0.5, 1.0], _F32)
    return [(np.ascontiguousarray(np.broadcast_to(raw, (images, a, 12))),
             np.ascontiguousarray(np.broadcast_to(logits[:, 0], (images, a))), anchors, params,
             np.empty((images, a, 4), _F32), np.empty((images, a), _F32),
             np.empty((images, a, 4, 2), _F32), np.zeros(images, np.int64))]


_IOU = register(Kernel(
    "box_iou", reference=_ref.box_iou, serial=_nb.box_iou_serial,
    parallel=_nb.box_iou_parallel,
    parallel_min_bytes=(1 << 18) * 4,  # 512 x 512 float32 IoUs written
    example=_example_iou,
))
_NMS = register(Kernel(
    "nms", reference=_ref.nms, serial=_nb.nms_serial, parallel=_nb.nms_parallel,
    # never at FULL: the parallel variant computes all n**2 pairs where the serial one stops
    # at the boxes still alive; measured 250-2,500x slower than serial on its overlapping
    # examples at every size (python -m wasmpose bench --busy, docs/cpu.md), it pays only when
    # almost nothing is suppressed. OptLevel.PARALLEL still runs it (up to
    # _kernels.PAIRS_MAX_BOXES boxes, the serial algorithm above).
    parallel_min_bytes=NEVER,
    example=_example_nms,
))
_WEIGHTED = register(Kernel(
    "weighted_nms", reference=_ref.weighted_nms, serial=_nb.weighted_nms_serial,
    parallel=_nb.weighted_nms_parallel,
    parallel_min_bytes=NEVER,  # never: its "parallel" variant is the serial kernel
    example=_example_weighted,
))
_DECODE = register(Kernel(
    "decode_ssd", reference=_ref.decode_ssd, serial=_nb.decode_ssd_serial,
    parallel=_nb.decode_ssd_parallel,
    parallel_min_bytes=8 * 2254 * _ANCHOR_BYTES,  # a batch of 8 BlazePose images
    example=_example_decode,
))


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def _boxes(x, name, n_name="N", dtype=None, *, check=True):
    """``x`` as a C-contiguous ``(n, 4)`` float array of valid xyxy boxes (finite, x1 <= x2,
    y1 <= y2), cast to ``dtype`` when given. With ``check=False`` the values are left to the
    kernel (the NMS kernels check them where they are contiguous): see :func:`_bad_box`."""
    x = _checks.as_array(x, name, _FLOATS, min_ndim=2, max_ndim=2, ndim_text=f"({n_name}, 4)")
    if x.shape[1] != 4:
        raise ValueError(f"{name}: expected a ({n_name}, 4) array of (x1, y1, x2, y2) boxes, "
                         f"got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype)
    if check and x.shape[0]:
        i = _nb.first_bad_box(x)
        if i >= 0:
            _bad_box(x, name, i)
    return x


def _bad_box(x, name, i):
    bad = ~(np.isfinite(x).all(axis=1) & (x[:, 2] >= x[:, 0]) & (x[:, 3] >= x[:, 1]))
    raise ValueError(f"{name}: expected finite (x1, y1, x2, y2) boxes with x1 <= x2 and "
                     f"y1 <= y2, got {x[i].tolist()} at index {i} ({int(bad.sum())} bad box(es))")


def _scores(x, name, n, *, positive=False):
    x = _checks.as_array(x, name, _FLOATS, min_ndim=1, max_ndim=1, ndim_text="1-D (N,)")
    if x.shape[0] != n:
        raise ValueError(f"{name}: expected {n} scores (one per box), got shape {x.shape}")
    bad = ~(x > 0) | np.isinf(x) if positive else np.isnan(x)
    if bad.any():
        i = int(np.argmax(bad))
        want = "finite positive scores (the weights of the means)" if positive else "no NaN"
        raise ValueError(f"{name}: expected {want}, got {x[i]} at index {i}")
    return np.ascontiguousarray(x)


def _threshold(x, name="iou_threshold"):
    v = _checks.real_scalar(x, name)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1], got {v}")
    return v


_MAX_SIZE = 2**31 - 1  # image and model input sides (OpenCV's int sizes)
_MAX_ANCHORS = 1 << 22  # ssd_anchors: 64 MiB of float32 (A, 4); BlazePose has 2254 anchors


def _pair(x, name, *, integer, minimum):
    """A pair (w, h) of positive numbers (ints when ``integer``, at most ``_MAX_SIZE``)."""
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__") or len(x) != 2:
        raise TypeError(f"{name}: expected a pair (width, height), got {x!r}")
    if integer:
        vals = tuple(_checks.integer(v, name, minimum=minimum) for v in x)
        if max(vals) > _MAX_SIZE:
            raise ValueError(f"{name}: expected sizes of at most {_MAX_SIZE} pixels, got "
                             f"{max(vals)}")
    else:
        vals = tuple(_checks.real_scalar(v, name, allow_inf=False) for v in x)
        if min(vals) < minimum or min(vals) <= 0:
            raise ValueError(f"{name}: expected positive values, got {x!r}")
    return vals


# ---------------------------------------------------------------------------------------------
# box_convert, box_iou
# ---------------------------------------------------------------------------------------------
def box_convert(boxes, in_fmt, out_fmt):
    """Convert boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``, as torchvision does.

    ``xyxy`` is (x1, y1, x2, y2), ``xywh`` (x1, y1, width, height), ``cxcywh`` (centre x,
    centre y, width, height). The formulas are those of ``torchvision.ops.box_convert``, in
    the boxes' dtype: ``x2 = x + w``; ``w = x2 - x1``; ``cx = (x1 + x2) / 2``;
    ``x1 = cx - 0.5 * w``, ``x2 = cx + 0.5 * w``; ``xywh`` and ``cxcywh`` convert through
    ``xyxy``. Values are not checked (a negative width converts like any other number; NaN
    stays NaN).

    Parameters
    ----------
    boxes : ndarray, shape (..., 4)
        float32 or float64, any layout.
    in_fmt, out_fmt : {"xyxy", "xywh", "cxcywh"}

    Returns
    -------
    ndarray, shape (..., 4)
        A new C-contiguous array of the input's dtype (a copy when the formats are equal).

    Raises
    ------
    TypeError
        ``boxes`` is not a float32 or float64 array, or a format is not a string.
    ValueError
        The last axis is not 4 long, or a format is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.boxes import box_convert
    >>> box_convert(np.array([[10.0, 20.0, 30.0, 60.0]]), "xyxy", "cxcywh")
    array([[20., 40., 20., 40.]])
    """
    b = _checks.as_array(boxes, "boxes", _FLOATS, min_ndim=1, ndim_text="(..., 4)")
    if b.shape[-1] != 4:
        raise ValueError(f"boxes: expected 4 values in the last axis (..., 4), got shape "
                         f"{b.shape}")
    fin = _checks.choice(in_fmt, "in_fmt", _FORMATS)
    fout = _checks.choice(out_fmt, "out_fmt", _FORMATS)
    a, c, p, q = (b[..., i] for i in range(4))
    half = b.dtype.type(0.5)
    if fin == "xywh":
        a, c, p, q = a, c, a + p, c + q
    elif fin == "cxcywh":
        a, c, p, q = a - half * p, c - half * q, a + half * p, c + half * q
    if fout == "xywh":
        a, c, p, q = a, c, p - a, q - c
    elif fout == "cxcywh":
        a, c, p, q = (a + p) / 2, (c + q) / 2, p - a, q - c
    out = np.empty(b.shape, b.dtype)
    out[..., 0], out[..., 1], out[..., 2], out[..., 3] = a, c, p, q
    return out


def box_iou(a, b):
    """Intersection over union of every box of ``a`` with every box of ``b``.

    ``torchvision.ops.box_iou``'s formula in the boxes' dtype:
    ``inter = clamp(min(x2) - max(x1), 0) * clamp(min(y2) - max(y1), 0)``,
    ``iou = inter / (area_a + area_b - inter)`` with ``area = (x2 - x1) * (y2 - y1)``; float32
    results equal torchvision's float32 results. One difference: where the union is 0 (two
    boxes of zero area) torchvision returns NaN (0 / 0), this returns 0, so that a box of zero
    area has IoU 0 with everything.

    Parameters
    ----------
    a : ndarray, shape (N, 4)
    b : ndarray, shape (M, 4)
        xyxy boxes, float32 or float64 (mixed: computed in float64), finite, ``x1 <= x2``,
        ``y1 <= y2``.

    Returns
    -------
    ndarray, shape (N, M)
        float32 if both inputs are float32, else float64.

    Raises
    ------
    TypeError
        An input is not a float32 or float64 array.
    ValueError
        Wrong shape, or a box with NaN or infinite coordinates or a negative width or height.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.boxes import box_iou
    >>> a = np.array([[0.0, 0.0, 2.0, 2.0]])
    >>> box_iou(a, np.array([[1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 4.0, 2.0]]))
    array([[0.14285714, 0.        ]])
    """
    a = _checks.as_array(a, "a", _FLOATS)
    b = _checks.as_array(b, "b", _FLOATS)
    dt = np.result_type(a.dtype, b.dtype)
    a = _boxes(a, "a", "N", dt)
    b = _boxes(b, "b", "M", dt)
    out = np.empty((a.shape[0], b.shape[0]), dt)
    if out.size:
        _IOU(a.nbytes + b.nbytes + out.nbytes, a, b, out)
    return out


# ---------------------------------------------------------------------------------------------
# nms, batched_nms
# ---------------------------------------------------------------------------------------------
def _greedy(boxes, scores, classes, iou_threshold):
    b = _boxes(boxes, "boxes", check=False)  # the kernel checks the values
    s = _scores(scores, "scores", b.shape[0])
    thr = _threshold(iou_threshold)
    n = b.shape[0]
    if classes is None:
        cls = np.zeros(n, np.int64)
    else:
        c = _checks.as_array(classes, "classes", _INTS + (np.dtype(np.int64),), min_ndim=1,
                             max_ndim=1, ndim_text="1-D (N,)")
        if c.shape[0] != n:
            raise ValueError(f"classes: expected {n} class ids (one per box), got shape "
                             f"{c.shape}")
        cls = np.ascontiguousarray(c, np.int64)
    keep = np.empty(n, np.int64)
    if n == 0:
        return keep
    # torchvision compares the IoU (boxes' dtype) with the threshold in double: the same as
    # comparing with the largest value of the boxes' dtype not above the threshold
    t = b.dtype.type(thr)
    if float(t) > thr:  # (a float32 compared with a Python float is compared in float32)
        t = np.nextafter(t, b.dtype.type(-1))
    # float64 scores, -0.0 made 0.0 (the kernels order scores by their bits)
    s64 = np.add(s, 0.0, dtype=np.float64)
    nk = _NMS(b.nbytes + s64.nbytes + cls.nbytes + keep.nbytes, b, s64, cls, t, keep)
    if nk < 0:
        _bad_box(b, "boxes", -1 - nk)
    return keep[:nk].copy()


def nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``.

    Boxes are visited by descending score (ties: the lower index first); each box not yet
    suppressed is kept and suppresses every later box whose IoU with it (as :func:`box_iou`, in
    the boxes' dtype, no ``+ 1`` on widths) is ``> iou_threshold``. A box whose IoU equals the
    threshold exactly is kept. Boxes of zero area suppress nothing and are never suppressed.

    Parameters
    ----------
    boxes : ndarray, shape (N, 4)
        xyxy boxes, float32 or float64, finite, ``x1 <= x2``, ``y1 <= y2``.
    scores : ndarray, shape (N,)
        float32 or float64, no NaN (infinities sort as numbers).
    iou_threshold : float
        In [0, 1].

    Returns
    -------
    ndarray, shape (n_kept,), int64
        Indices of the kept boxes, by descending score.

    Raises
    ------
    TypeError
        An input has the wrong dtype, or the threshold is not a real number.
    ValueError
        Wrong shapes, invalid boxes, NaN scores, or a threshold outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.boxes import nms
    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    >>> nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.5)
    array([0, 2])
    """
    return _greedy(boxes, scores, None, iou_threshold)


def batched_nms(boxes, scores, classes, iou_threshold):
    """Non-maximum suppression within each class, as ``torchvision.ops.batched_nms``.

    Exactly :func:`nms` except that a box suppresses only boxes of its own class: the union of
    per-class :func:`nms` results, by descending score (ties: the lower index first).
    torchvision's own CPU path for small inputs offsets each class's boxes by
    ``class * (max coordinate + 1)`` and runs one ``nms``; in float32 that offset can round the
    coordinates and change an IoU in its last bits; this computes the per-class IoUs on the
    boxes as given (torchvision's other, per-class path).

    Parameters
    ----------
    boxes : ndarray, shape (N, 4)
        xyxy boxes, float32 or float64, finite, ``x1 <= x2``, ``y1 <= y2``.
    scores : ndarray, shape (N,)
        float32 or float64, no NaN.
    classes : ndarray, shape (N,)
        Integer class ids (any integer dtype, any values).
    iou_threshold : float
        In [0, 1].

    Returns
    -------
    ndarray, shape (n_kept,), int64
        Indices of the kept boxes, by descending score.

    Raises
    ------
    TypeError
        An input has the wrong dtype, or the threshold is not a real number.
    ValueError
        Wrong shapes, invalid boxes, NaN scores, or a threshold outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.boxes import batched_nms
    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11]], np.float32)
    >>> batched_nms(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 1]), 0.5)
    array([0, 2])
    """
    if classes is None:
        raise TypeError("classes: expected an integer array of shape (N,), got None")
    return _greedy(boxes, scores, classes, iou_threshold)


# ---------------------------------------------------------------------------------------------
# weighted_nms
# ---------------------------------------------------------------------------------------------
def weighted_nms(boxes, scores, iou_threshold=0.3, *, keypoints=None):
    """MediaPipe's weighted non-maximum suppression (``NonMaxSuppressionCalculator``,
    ``algorithm: WEIGHTED``, ``overlap_type: INTERSECTION_OVER_UNION``).

    Repeatedly: take the best remaining detection (descending score; ties: the lower index
    first, where MediaPipe's unstable sort leaves the order unspecified); gather every remaining
    detection, itself included, whose IoU with it is ``> iou_threshold``; output their
    score-weighted mean box and keypoints with the best detection's score; remove them. As in
    MediaPipe, everything is float32, the weighted sums run in score order, the mean box is
    stored as ``(xmin, ymin, width, height)`` and returned as ``(xmin, ymin, xmin + width,
    ymin + height)``; and when the best detection is not its own candidate (a box of zero area,
    or ``iou_threshold == 1``) it is output unchanged and the loop stops there, since that
    iteration removed nothing. The BlazePose detector graph uses ``iou_threshold = 0.3``.

    Parameters
    ----------
    boxes : ndarray, shape (N, 4)
        xyxy boxes (float32 or float64, computed in float32), finite, ``x1 <= x2``, ``y1 <= y2``.
    scores : ndarray, shape (N,)
        Finite positive scores (the weights), float32 or float64.
    iou_threshold : float, default 0.3
        In [0, 1], compared in float32 as MediaPipe does.
    keypoints : ndarray, shape (N, K, 2), optional
        Keypoints (x, y) of each detection, float32 or float64; averaged with the same weights.

    Returns
    -------
    boxes : ndarray, shape (M, 4), float32
    scores : ndarray, shape (M,), float32
        By descending score.
    keypoints : ndarray, shape (M, K, 2), float32, or None
        None when ``keypoints`` was not given.

    Raises
    ------
    TypeError
        An input has the wrong dtype, or the threshold is not a real number.
    ValueError
        Wrong shapes, invalid boxes, scores that are not finite and positive, or a threshold
        outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.boxes import weighted_nms
    >>> boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    >>> b, s, _ = weighted_nms(boxes, np.array([0.75, 0.25, 0.5], np.float32), 0.3)
    >>> b
    array([[ 0.5,  0. , 10.5, 10. ],
           [50. , 50. , 60. , 60. ]], dtype=float32)
    >>> s
    array([0.75, 0.5 ], dtype=float32)
    """
    b = _boxes(boxes, "boxes", dtype=_F32)
    n = b.shape[0]
    s = _scores(scores, "scores", n, positive=True)
    if s.dtype != _F32 and (s > np.finfo(_F32).max).any():
        raise ValueError("scores: expected finite positive scores, got values beyond float32's "
                         "range")
    s = s.astype(_F32, copy=False)
    thr = np.float32(_threshold(iou_threshold))
    if keypoints is None:
        kp = np.zeros((n, 0, 2), _F32)
    else:
        kp = _checks.as_array(keypoints, "keypoints", _FLOATS, min_ndim=3, max_ndim=3,
                              ndim_text="(N, K, 2)")
        if kp.shape[0] != n or kp.shape[2] != 2:
            raise ValueError(f"keypoints: expected shape ({n}, K, 2) (one row per box), got "
                             f"{kp.shape}")
        kp = np.ascontiguousarray(kp, _F32)
    out_b = np.empty((n, 4), _F32)
    out_s = np.empty(n, _F32)
    out_k = np.empty((n, kp.shape[1], 2), _F32)
    args = (b, s, kp, thr, out_b, out_s, out_k)
    m = _WEIGHTED(operand_bytes(args), *args) if n else 0
    return out_b[:m].copy(), out_s[:m].copy(), (None if keypoints is None else out_k[:m].copy())


# ---------------------------------------------------------------------------------------------
# ssd_anchors, decode_ssd
# ---------------------------------------------------------------------------------------------
def _anchor_count(w, h, strides, ratios, interpolated, reduce_lowest):
    """How many anchors ``_ref.ssd_anchors`` makes: per run of equal strides, its grid's cells
    times the anchors its layers put in each cell."""
    total, layer = 0, 0
    while layer < len(strides):
        last, per_cell = layer, 0
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 3 if last == 0 and reduce_lowest else ratios + interpolated
            last += 1
        total += -(-w // strides[layer]) * -(-h // strides[layer]) * per_cell
        layer = last
    return total


@functools.lru_cache(maxsize=16)
def _anchors_cached(*args):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        a = _ref.ssd_anchors(*args)
    if not np.isfinite(a).all():  # a scale, offset or ratio beyond float32's range
        raise ValueError("min_scale, max_scale, anchor_offset, aspect_ratios, "
                         "interpolated_scale_aspect_ratio: expected values whose anchors are "
                         "finite in float32, got anchors with infinite or NaN coordinates")
    a.flags.writeable = False
    return a


def ssd_anchors(*, input_size=(224, 224), strides=(8, 16, 32, 32, 32), min_scale=0.1484375,
                max_scale=0.75, anchor_offset=(0.5, 0.5), aspect_ratios=(1.0,),
                interpolated_scale_aspect_ratio=1.0, reduce_boxes_in_lowest_layer=False,
                fixed_anchor_size=True):
    """The anchors of an SSD detector, identical to MediaPipe's ``SsdAnchorsCalculator``.

    MediaPipe's rules (the calculator's non-multiscale path, anchors computed in float32):
    consecutive layers with the same stride share one grid of ``ceil(input / stride)`` cells
    each way; each cell holds, for each of those layers in turn, one anchor per aspect ratio at
    the layer's scale ``min_scale + (max_scale - min_scale) * layer / (layers - 1)``, plus, if
    ``interpolated_scale_aspect_ratio > 0``, one anchor of that ratio at
    ``sqrt(scale * next_scale)`` (``next_scale = 1`` for the last layer); with
    ``reduce_boxes_in_lowest_layer`` the first layer has instead the ratios (1, 2, 0.5) at the
    scales (0.1, scale, scale). Anchors go row by row, cell by cell. The centre of cell
    ``(y, x)`` is ``((x + offset_x) / cells_x, (y + offset_y) / cells_y)``; the size is 1 x 1
    with ``fixed_anchor_size`` (the decoder then scales by the raw sizes alone), else
    ``scale * sqrt(ratio)`` wide and ``scale / sqrt(ratio)`` high.

    The defaults are the BlazePose person detector's options
    (``mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt``): 224 x 224 input, strides
    8, 16, 32, 32, 32, two anchors per layer and cell, 2254 anchors.

    Parameters
    ----------
    input_size : (int, int), default (224, 224)
        The model input's (width, height) in pixels.
    strides : sequence of int, default (8, 16, 32, 32, 32)
        One stride per layer (positive).
    min_scale, max_scale : float
        The scales of the first and last layer.
    anchor_offset : (float, float), default (0.5, 0.5)
        (x, y) offset of an anchor's centre in its cell, in cells.
    aspect_ratios : sequence of float, default (1.0,)
        Width / height ratios (positive).
    interpolated_scale_aspect_ratio : float, default 1.0
        The ratio of the extra anchor per layer; ``<= 0`` adds none.
    reduce_boxes_in_lowest_layer : bool, default False
    fixed_anchor_size : bool, default True

    Returns
    -------
    ndarray, shape (A, 4), float32
        (cx, cy, w, h) per anchor, in [0, 1] of the input (a new array).

    Raises
    ------
    TypeError
        An option has the wrong type.
    ValueError
        A size, stride, scale or ratio is not positive, no stride is given, a size exceeds
        2**31 - 1, the options would make more than 2**22 anchors, or an anchor would not be
        finite in float32 (a scale, offset or ratio beyond its range).

    Examples
    --------
    >>> from wasmpose.boxes import ssd_anchors
    >>> a = ssd_anchors()
    >>> a.shape
    (2254, 4)
    >>> a[:3]
    array([[0.01785714, 0.01785714, 1.        , 1.        ],
           [0.01785714, 0.01785714, 1.        , 1.        ],
           [0.05357143, 0.01785714, 1.        , 1.        ]], dtype=float32)
    """
    w, h = _pair(input_size, "input_size", integer=True, minimum=1)
    if isinstance(strides, (str, bytes)) or not hasattr(strides, "__iter__"):
        raise TypeError(f"strides: expected a sequence of ints, got {type(strides).__name__}")
    st = tuple(_checks.integer(s, "strides", minimum=1) for s in strides)
    if not st:
        raise ValueError("strides: expected at least one stride, got none")
    lo = _checks.real_scalar(min_scale, "min_scale", allow_inf=False)
    hi = _checks.real_scalar(max_scale, "max_scale", allow_inf=False)
    if lo <= 0 or hi <= 0:
        raise ValueError(f"min_scale, max_scale: expected positive scales, got {lo}, {hi}")
    if (isinstance(anchor_offset, (str, bytes)) or not hasattr(anchor_offset, "__len__")
            or len(anchor_offset) != 2):
        raise TypeError(f"anchor_offset: expected a pair (x, y), got {anchor_offset!r}")
    ox, oy = (_checks.real_scalar(v, "anchor_offset", allow_inf=False) for v in anchor_offset)
    if isinstance(aspect_ratios, (str, bytes)) or not hasattr(aspect_ratios, "__iter__"):
        raise TypeError(f"aspect_ratios: expected a sequence of numbers, got "
                        f"{type(aspect_ratios).__name__}")
    ratios = tuple(_checks.real_scalar(r, "aspect_ratios", allow_inf=False) for r in aspect_ratios)
    if any(r <= 0 for r in ratios):
        raise ValueError(f"aspect_ratios: expected positive ratios, got {ratios}")
    interp = _checks.real_scalar(interpolated_scale_aspect_ratio,
                                 "interpolated_scale_aspect_ratio", allow_inf=False)
    for flag, name in ((reduce_boxes_in_lowest_layer, "reduce_boxes_in_lowest_layer"),
                       (fixed_anchor_size, "fixed_anchor_size")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name}: expected a bool, got {type(flag).__name__}")
    # the anchors' count before allocating them: a huge input or stride 1 would ask for more
    # memory than any detector has anchors
    count = _anchor_count(w, h, st, len(ratios), interp > 0, bool(reduce_boxes_in_lowest_layer))
    if count > _MAX_ANCHORS:
        raise ValueError(f"input_size, strides: expected at most {_MAX_ANCHORS} anchors, got "
                         f"{count} (input {w} x {h}, strides {st})")
    return _anchors_cached(w, h, st, lo, hi, ox, oy, ratios, interp,
                           bool(reduce_boxes_in_lowest_layer), bool(fixed_anchor_size)).copy()


def decode_ssd(raw_boxes, raw_scores, anchors, *, scale=(224.0, 224.0), num_keypoints=4,
               score_clip=100.0, min_score=0.5):
    """Decode an SSD detector's raw output as MediaPipe's ``TensorsToDetectionsCalculator``.

    The options are those of the BlazePose person detector's graph: one class,
    ``reverse_output_order: true`` (raw rows ``(x, y, w, h, kx0, ky0, kx1, ky1, ...)``), box
    coordinates at offset 0 and keypoints at offset 4, linear box sizes
    (``apply_exponential_on_box_size: false``), ``sigmoid_score: true``. In float32, in
    MediaPipe's order of operations, for anchor ``(acx, acy, aw, ah)``:
    ``cx = x / scale_x * aw + acx``, ``cy = y / scale_y * ah + acy``, ``w = w / scale_x * aw``,
    ``h = h / scale_y * ah``, box ``(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)``,
    keypoints like the centres; score ``1 / (1 + exp(-clip(raw, -score_clip, score_clip)))``.
    Dropped, as MediaPipe drops them: scores ``< min_score`` (and NaN scores) and boxes whose
    width or height is negative or NaN. The rest are kept in anchor order, ready for
    :func:`weighted_nms`. (The graph file sets ``min_score_thresh: 0.2``; 0.5 is the default
    detection confidence of MediaPipe's pose solutions and tasks.)

    Parameters
    ----------
    raw_boxes : ndarray, shape (A, 4 + 2 * K) or (N, A, 4 + 2 * K)
        The regressors, as the model emits them (float32 or float64, computed in float32). The
        BlazePose detector's output ``(1, 2254, 12)`` is a batch of one.
    raw_scores : ndarray, shape (A,) or (A, 1), or (N, A) or (N, A, 1) with batched boxes
        The classifier logits.
    anchors : ndarray, shape (A, 4)
        (cx, cy, w, h) per anchor, as :func:`ssd_anchors` returns them; finite.
    scale : (float, float), default (224.0, 224.0)
        MediaPipe's ``(x_scale, y_scale)``; ``w_scale`` and ``h_scale`` are the same.
    num_keypoints : int, default 4
        K, the keypoints per detection (``raw_boxes`` has ``4 + 2 * K`` columns).
    score_clip : float or None, default 100.0
        ``score_clipping_thresh`` (positive), or None for no clipping.
    min_score : float, default 0.5
        In [0, 1], compared in float32.

    Returns
    -------
    boxes : ndarray, shape (n, 4), float32
        xyxy in [0, 1] of the detector input (a box may reach beyond it).
    scores : ndarray, shape (n,), float32
    keypoints : ndarray, shape (n, K, 2), float32
        (x, y) in [0, 1] of the detector input.

    For batched input, a list of N such tuples.

    Raises
    ------
    TypeError
        An input has the wrong dtype, or an option the wrong type.
    ValueError
        Shapes that do not agree, anchors with NaN, or options out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.boxes import decode_ssd, ssd_anchors
    >>> anchors = ssd_anchors()
    >>> raw = np.zeros((2254, 12), np.float32)
    >>> raw[812, :4] = (0.0, 0.0, 44.8, 89.6)       # a 0.2 x 0.4 box on anchor 812
    >>> logits = np.full(2254, -5.0, np.float32); logits[812] = 2.0
    >>> boxes, scores, kps = decode_ssd(raw, logits, anchors)
    >>> anchors[812, :2]
    array([0.51785713, 0.51785713], dtype=float32)
    >>> boxes.round(4)
    array([[0.4179, 0.3179, 0.6179, 0.7179]], dtype=float32)
    >>> scores.round(4), kps.shape
    (array([0.8808], dtype=float32), (1, 4, 2))
    """
    rb = _checks.as_array(raw_boxes, "raw_boxes", _FLOATS, min_ndim=2, max_ndim=3,
                          ndim_text="(A, C) or (N, A, C)")
    batched = rb.ndim == 3
    k = _checks.integer(num_keypoints, "num_keypoints", minimum=0)
    if rb.shape[-1] != 4 + 2 * k:
        raise ValueError(f"raw_boxes: expected {4 + 2 * k} values per anchor (4 + 2 * "
                         f"num_keypoints) in the last axis, got shape {rb.shape}")
    raw = rb if batched else rb[None]
    nimg, na = raw.shape[:2]
    rs = _checks.as_array(raw_scores, "raw_scores", _FLOATS, min_ndim=1, max_ndim=3)
    want = ((nimg, na), (nimg, na, 1)) if batched else ((na,), (na, 1))
    if rs.shape not in want:
        raise ValueError(f"raw_scores: expected shape {want[0]} or {want[1]} (as raw_boxes "
                         f"{rb.shape}), got {rs.shape}")
    rs = rs.reshape(nimg, na)
    an = _checks.as_array(anchors, "anchors", _FLOATS, min_ndim=2, max_ndim=2,
                          ndim_text="(A, 4)")
    if an.shape != (na, 4):
        raise ValueError(f"anchors: expected shape ({na}, 4) (one per row of raw_boxes), got "
                         f"{an.shape}")
    if not np.isfinite(an).all():
        raise ValueError("anchors: expected finite values, got NaN or infinity")
    sx, sy = _pair(scale, "scale", integer=False, minimum=0)
    if score_clip is None:
        clip, do_clip = 0.0, 0.0
    else:
        clip = _checks.real_scalar(score_clip, "score_clip")
        if not clip > 0:
            raise ValueError(f"score_clip: expected a positive number or None, got {clip}")
        do_clip = 1.0
    ms = _checks.real_scalar(min_score, "min_score")
    if not 0.0 <= ms <= 1.0:
        raise ValueError(f"min_score: expected a number in [0, 1], got {ms}")
    params = np.array([sx, sy, clip, ms, do_clip], _F32)
    raw = np.ascontiguousarray(raw, _F32)
    rs = np.ascontiguousarray(rs, _F32)
    an = np.ascontiguousarray(an, _F32)
    out_b = np.empty((nimg, na, 4), _F32)
    out_s = np.empty((nimg, na), _F32)
    out_k = np.empty((nimg, na, k, 2), _F32)
    counts = np.zeros(nimg, np.int64)
    if nimg and na:
        args = (raw, rs, an, params, out_b, out_s, out_k, counts)
        _DECODE(operand_bytes(args), *args)
    res = [(out_b[i, :c].copy(), out_s[i, :c].copy(), out_k[i, :c].copy())
           for i, c in enumerate(counts.tolist())]
    return res if batched else res[0]


# ---------------------------------------------------------------------------------------------
# letterbox_matrix
# ---------------------------------------------------------------------------------------------
def letterbox_matrix(src_size, dst_size, *, center=True):
    """The affine maps of an aspect-preserving resize with padding (a letterbox).

    The image of ``src_size`` is scaled by ``s = min(dst_w / src_w, dst_h / src_h)`` and, with
    ``center``, centred: ``x' = s * x + (dst_w - s * src_w) / 2`` (likewise y); without, placed
    at the top-left corner. This is the mapping of MediaPipe's ``ImageToTensorCalculator`` with
    ``keep_aspect_ratio: true`` (its region of interest, the whole image, padded to the
    tensor's aspect ratio and mapped corner to corner onto the tensor), and that of
    ultralytics' ``LetterBox`` up to its rounding of the scaled size and padding to whole
    pixels. Use ``matrix`` with ``warp_affine`` (or ``cv2.warpAffine``) and ``inverse`` to bring
    detector coordinates (pixels of the detector input: multiply ``decode_ssd``'s [0, 1]
    output by ``dst_size``) back to the image.

    Parameters
    ----------
    src_size : (int, int)
        The image's (width, height) in pixels.
    dst_size : (int, int)
        The detector input's (width, height).
    center : bool, default True
        Centre the image (padding on both sides) or put it at the top-left corner.

    Returns
    -------
    matrix : ndarray, shape (2, 3), float64
        Image pixels to detector-input pixels.
    inverse : ndarray, shape (2, 3), float64
        Detector-input pixels to image pixels.

    Raises
    ------
    TypeError
        A size is not a pair of ints, or ``center`` is not a bool.
    ValueError
        A size is not positive or exceeds 2**31 - 1.

    Examples
    --------
    >>> from wasmpose.boxes import letterbox_matrix
    >>> m, inv = letterbox_matrix((640, 480), (224, 224))
    >>> m
    array([[ 0.35,  0.  ,  0.  ],
           [ 0.  ,  0.35, 28.  ]])
    >>> inv @ [112.0, 112.0, 1.0]
    array([320., 240.])
    """
    sw, sh = _pair(src_size, "src_size", integer=True, minimum=1)
    dw, dh = _pair(dst_size, "dst_size", integer=True, minimum=1)
    if not isinstance(center, (bool, np.bool_)):
        raise TypeError(f"center: expected a bool, got {type(center).__name__}")
    s = min(dw / sw, dh / sh)
    tx, ty = ((dw - s * sw) / 2, (dh - s * sh) / 2) if center else (0.0, 0.0)
    matrix = np.array([[s, 0.0, tx], [0.0, s, ty]])
    inverse = np.array([[1 / s, 0.0, -tx / s], [0.0, 1 / s, -ty / s]])
    return matrix, inverse
