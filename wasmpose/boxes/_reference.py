"""NumPy reference implementations of :mod:`wasmpose.boxes` (the ``OptLevel.NONE`` variants).

Each kernel function has the same signature as its Numba kernel in ``_kernels.py`` and writes
the same result; the arguments arrive validated (C-contiguous, the documented dtypes, no NaN
where the public function forbids it). The rules are stated here with their source, so that this
file reads as the specification.

torchvision (``torchvision/ops/boxes.py`` and its CPU ``nms`` kernel, as documented): boxes are
``(x1, y1, x2, y2)``; ``area = (x2 - x1) * (y2 - y1)``; the intersection's width and height are
``min(x2) - max(x1)`` and ``min(y2) - max(y1)`` clamped at 0; ``IoU = inter / (area_a + area_b -
inter)``, all in the boxes' dtype. Greedy NMS visits the boxes by descending score (a stable
sort: ties keep the lower index first) and drops every later box whose IoU with a kept box is
``> iou_threshold``. One deliberate difference: when the union is 0 (two boxes of zero area)
torchvision divides 0 by 0 (NaN); here the IoU is 0. For NMS both mean "not suppressed".

MediaPipe (``mediapipe/calculators/util/non_max_suppression_calculator.cc``,
``mediapipe/framework/deps/rectangle.h``, ``mediapipe/framework/formats/location.cc``): a
detection's box is stored as ``(xmin, ymin, width, height)`` with ``width = xmax - xmin``; its
rectangle is ``[xmin, xmin + width] x [ymin, ymin + height]``, all float32. IoU
(``INTERSECTION_OVER_UNION``) is 0 unless the rectangles intersect (boundary included; a
rectangle with ``min > max`` is empty), else ``inter / (area1 + area2 - inter)`` when that
denominator is ``> 0``, else 0. The WEIGHTED algorithm: sort by descending score; repeat: take
the best remaining detection; its candidates are the remaining detections (itself included)
whose IoU with it is ``> threshold``, in score order; output the candidates' score-weighted mean
box (corners ``xmin``, ``ymin``, ``xmin + width``, ``ymin + height`` accumulated in float32,
``width = mean xmax - mean xmin``) and keypoints, with the best detection's score; remove the
candidates; stop when an iteration removes nothing (the best detection is not its own
candidate: zero area, or a threshold >= 1) after outputting it unchanged.
"""

import numpy as np

# ---------------------------------------------------------------------------------------------
# box_iou (torchvision's box_iou, 0 where the union is 0)
# ---------------------------------------------------------------------------------------------


def box_iou(a, b, out):
    """``out[i, j]`` = IoU of ``a[i]`` and ``b[j]``, computed in the boxes' dtype."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0)
    union = np.where(overlap, (area_a[:, None] + area_b[None, :]) - inter, 1)
    out[...] = np.where(overlap, inter / union, 0)


# ---------------------------------------------------------------------------------------------
# nms and batched_nms (torchvision's greedy NMS; suppression within a class only)
# ---------------------------------------------------------------------------------------------


def nms(boxes, scores, classes, thr, keep):
    """Greedy NMS of ``boxes`` (n, 4) by ``scores``; a box suppresses only boxes of its class.

    ``thr`` is a scalar of the boxes' dtype (the largest not above the user's threshold, so that
    comparing in that dtype is comparing in double, as torchvision does). Writes the kept
    indices, best first, into ``keep`` and returns how many there are; or, if a box has a NaN
    or infinite coordinate or ``x2 < x1`` or ``y2 < y1``, returns ``-1 - (its index)``.
    """
    bad = ~(np.isfinite(boxes).all(axis=1) & (boxes[:, 2] >= boxes[:, 0])
            & (boxes[:, 3] >= boxes[:, 1]))
    if bad.any():
        return -1 - int(np.argmax(bad))
    order = np.argsort(-scores, kind="stable")  # descending; ties: lower index first
    b = boxes[order]
    cls = classes[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    n = b.shape[0]
    suppressed = np.zeros(n, bool)
    nk = 0
    for i in range(n):
        if suppressed[i]:
            continue
        keep[nk] = order[i]
        nk += 1
        rest = b[i + 1:]
        w = np.minimum(b[i, 2], rest[:, 2]) - np.maximum(b[i, 0], rest[:, 0])
        h = np.minimum(b[i, 3], rest[:, 3]) - np.maximum(b[i, 1], rest[:, 1])
        overlap = (w > 0) & (h > 0)
        inter = np.where(overlap, w * h, 0)
        union = np.where(overlap, (area[i] + area[i + 1:]) - inter, 1)
        iou = np.where(overlap, inter / union, 0)
        suppressed[i + 1:] |= (iou > thr) & (cls[i + 1:] == cls[i])
    return nk


# ---------------------------------------------------------------------------------------------
# weighted_nms (MediaPipe's NonMaxSuppressionCalculator, algorithm WEIGHTED, float32)
# ---------------------------------------------------------------------------------------------


def _mediapipe_iou(x1, y1, x2, y2, i):
    """IoU (float32) of every rectangle with rectangle ``i``, as MediaPipe's
    ``OverlapSimilarity(INTERSECTION_OVER_UNION, rect, rect_i)``."""
    intersects = ~((x1 > x2) | (y1 > y2) | (x1[i] > x2[i]) | (y1[i] > y2[i])
                   | (x2[i] < x1) | (x2 < x1[i]) | (y2[i] < y1) | (y2 < y1[i]))
    inter = ((np.minimum(x2, x2[i]) - np.maximum(x1, x1[i]))
             * (np.minimum(y2, y2[i]) - np.maximum(y1, y1[i])))
    norm = ((x2 - x1) * (y2 - y1) + (x2[i] - x1[i]) * (y2[i] - y1[i])) - inter
    ok = intersects & (norm > 0)
    return np.where(ok, inter / np.where(ok, norm, np.float32(1)), np.float32(0))


def weighted_nms(boxes, scores, keypoints, thr, out_boxes, out_scores, out_kp):
    """MediaPipe's WEIGHTED NMS of float32 ``boxes`` (n, 4) xyxy, ``scores`` (n,), ``keypoints``
    (n, K, 2); writes the m output detections to the ``out_*`` arrays and returns m."""
    order = np.argsort(-scores, kind="stable")
    x1 = boxes[:, 0]
    y1 = boxes[:, 1]
    x2 = x1 + (boxes[:, 2] - x1)  # MediaPipe's rectangle: xmin + width, width = xmax - xmin
    y2 = y1 + (boxes[:, 3] - y1)
    thr32 = np.float32(thr)
    m = 0
    remaining = order
    while remaining.size:
        top = remaining[0]
        iou = _mediapipe_iou(x1[remaining], y1[remaining], x2[remaining], y2[remaining], 0)
        cand = remaining[iou > thr32]
        rest = remaining[~(iou > thr32)]
        if cand.size:
            # float32 running sums in candidate (score) order, as MediaPipe accumulates them
            total = np.float32(0)
            acc = np.zeros(4, np.float32)
            kp = np.zeros(keypoints.shape[1:], np.float32)
            for c in cand:
                s = scores[c]
                total = np.float32(total + s)
                acc += np.array([x1[c], y1[c], x2[c], y2[c]], np.float32) * s
                kp += keypoints[c] * s
            xmin = acc[0] / total
            ymin = acc[1] / total
            width = acc[2] / total - xmin
            height = acc[3] / total - ymin
            out_kp[m] = kp / total
            out_boxes[m] = (xmin, ymin, xmin + width, ymin + height)
        else:  # the detection unchanged: its rectangle [xmin, xmin + width] x ...
            out_boxes[m] = (x1[top], y1[top], x2[top], y2[top])
            out_kp[m] = keypoints[top]
        out_scores[m] = scores[top]
        m += 1
        if rest.size == remaining.size:
            break
        remaining = rest
    return m


# ---------------------------------------------------------------------------------------------
# decode_ssd (MediaPipe's TensorsToDetectionsCalculator::DecodeBoxes and score filter, float32)
# ---------------------------------------------------------------------------------------------


def decode_ssd(raw, raw_scores, anchors, params, out_boxes, out_scores, out_kp, counts):
    """Decode ``raw`` (N, A, 4 + 2K) float32 with ``anchors`` (A, 4) (cx, cy, w, h).

    ``params`` is float32 ``(x_scale, y_scale, score_clip, min_score, clip?)``. For each image,
    the kept detections go, in anchor order, to the first ``counts[n]`` rows of the ``out_*``
    arrays (N, A, ...).
    """
    xs, ys, clip, min_score, do_clip = params
    axc, ayc, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    k = out_kp.shape[2]
    for n in range(raw.shape[0]):
        r = raw[n]
        s = raw_scores[n]
        if do_clip:
            s = np.where(s < -clip, -clip, s)
            s = np.where(s > clip, clip, s)
        with np.errstate(over="ignore"):  # exp(100) is inf in float32: the score is 0
            s = np.float32(1) / (np.float32(1) + np.exp(-s))
        xc = r[:, 0] / xs * aw + axc
        yc = r[:, 1] / ys * ah + ayc
        w = r[:, 2] / xs * aw
        h = r[:, 3] / ys * ah
        xmin = xc - w / np.float32(2)
        ymin = yc - h / np.float32(2)
        xmax = xc + w / np.float32(2)
        ymax = yc + h / np.float32(2)
        # MediaPipe drops scores < min_score (a NaN score never becomes the class maximum) and
        # boxes whose width or height is negative or NaN
        keep = (s >= min_score) & (xmax - xmin >= 0) & (ymax - ymin >= 0)
        idx = np.flatnonzero(keep)
        c = idx.size
        counts[n] = c
        out_boxes[n, :c] = np.stack([xmin, ymin, xmax, ymax], axis=1)[idx]
        out_scores[n, :c] = s[idx]
        for q in range(k):
            out_kp[n, :c, q, 0] = (r[idx, 4 + 2 * q] / xs * aw[idx] + axc[idx])
            out_kp[n, :c, q, 1] = (r[idx, 5 + 2 * q] / ys * ah[idx] + ayc[idx])


# ---------------------------------------------------------------------------------------------
# ssd_anchors (MediaPipe's SsdAnchorsCalculator, the non-multiscale path, float32)
# ---------------------------------------------------------------------------------------------


def _layer_scale(min_scale, max_scale, i, n):
    """MediaPipe's ``CalculateScale``: the mean of the two for one stride, else a linear ramp
    ``min + (max - min) * i / (n - 1)`` evaluated in double and stored as float."""
    lo, hi = np.float32(min_scale), np.float32(max_scale)
    if n == 1:
        return np.float32((lo + hi) * np.float32(0.5))
    return np.float32(float(lo) + float(np.float32(hi - lo)) * 1.0 * i / (n - 1.0))


def ssd_anchors(input_w, input_h, strides, min_scale, max_scale, offset_x, offset_y,
                aspect_ratios, interpolated_ratio, reduce_lowest, fixed_size):
    """MediaPipe's anchors ``(A, 4)`` float32 (cx, cy, w, h), in its order.

    Consecutive layers with the same stride share one grid: per cell, the anchors of all those
    layers in turn; per layer, one anchor per aspect ratio at the layer's scale, plus (if
    ``interpolated_ratio > 0``) one of that ratio at ``sqrt(scale * next_scale)`` (next scale 1
    for the last layer); the lowest layer with ``reduce_lowest`` has instead the ratios
    (1, 2, 0.5) at scales (0.1, scale, scale). The grid of stride s is
    ``ceil(input / s)`` cells each way; the centre of cell (y, x) is
    ``((x + offset_x) / width_cells, (y + offset_y) / height_cells)``; with ``fixed_size`` every
    anchor is 1 x 1, else ``w = scale * sqrt(ratio)``, ``h = scale / sqrt(ratio)``.
    """
    f32 = np.float32
    n = len(strides)
    out = []
    layer = 0
    while layer < n:
        ratios, scales = [], []
        last = layer
        while last < n and strides[last] == strides[layer]:
            scale = _layer_scale(min_scale, max_scale, last, n)
            if last == 0 and reduce_lowest:
                ratios += [f32(1.0), f32(2.0), f32(0.5)]
                scales += [f32(0.1), scale, scale]
            else:
                for r in aspect_ratios:
                    ratios.append(f32(r))
                    scales.append(scale)
                if interpolated_ratio > 0:
                    nxt = f32(1.0) if last == n - 1 else _layer_scale(min_scale, max_scale,
                                                                       last + 1, n)
                    scales.append(np.sqrt(f32(scale * nxt)))
                    ratios.append(f32(interpolated_ratio))
            last += 1
        root = np.sqrt(np.array(ratios, f32))
        heights = np.array(scales, f32) / root
        widths = np.array(scales, f32) * root
        stride = strides[layer]
        rows = int(np.ceil(f32(input_h) / f32(stride)))
        cols = int(np.ceil(f32(input_w) / f32(stride)))
        cx = (np.arange(cols, dtype=f32) + f32(offset_x)) / f32(cols)
        cy = (np.arange(rows, dtype=f32) + f32(offset_y)) / f32(rows)
        k = len(ratios)
        grid = np.empty((rows, cols, k, 4), f32)
        grid[..., 0] = cx[None, :, None]
        grid[..., 1] = cy[:, None, None]
        grid[..., 2] = 1.0 if fixed_size else widths
        grid[..., 3] = 1.0 if fixed_size else heights
        out.append(grid.reshape(-1, 4))
        layer = last
    return np.concatenate(out) if out else np.zeros((0, 4), f32)
