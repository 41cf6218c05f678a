"""Numba kernels of :mod:`wasmpose.boxes`: a serial and a parallel variant of each.

Every kernel takes C-contiguous arrays already validated by ``wasmpose.boxes`` and has the same
signature as its NumPy reference in ``_reference.py`` (which states the rules and their
sources). Float32 boxes are computed in float32 throughout, with the operations in the peers'
order (torchvision's for IoU and NMS, MediaPipe's for the detector), so results are identical
to the last bit; float constants are written as ``np.float32(...)`` where a float64 literal
would promote the arithmetic.

Greedy NMS is sequential in the kept boxes. The serial kernel sorts the boxes by score into
contiguous coordinate planes and, for each kept box, sweeps the later ones in a branch-free
loop that LLVM vectorises. The parallel kernel computes the whole upper triangle of the
"suppresses" relation as a bit matrix (rows in parallel), then sweeps it serially (as
torchvision's CUDA kernel does): it does n^2 / 2 IoUs whatever the number of kept boxes, so it
only pays when many boxes survive. MediaPipe's weighted NMS works on the few detections above
the score threshold (tens): it has no parallel formulation worth a thread start, and its
"parallel" variant is the serial kernel. The SSD decoder is parallel over images.
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import math

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

# Rows of the NMS bit matrix per parallel block.
ROWS = 32


# --- box_iou ----------------------------------------------------------------------------------
@njit(**_SERIAL)
def _iou_row(i, a, bx1, by1, bx2, by2, area_b, out):
    ax1, ay1, ax2, ay2 = a[i, 0], a[i, 1], a[i, 2], a[i, 3]
    area_a = (ax2 - ax1) * (ay2 - ay1)
    row = out[i]
    for j in range(bx1.shape[0]):  # branch-free over contiguous planes: vectorised
        w = min(ax2, bx2[j]) - max(ax1, bx1[j])
        h = min(ay2, by2[j]) - max(ay1, by1[j])
        inter = w * h
        iou = inter / ((area_a + area_b[j]) - inter)
        row[j] = iou if (w > 0) & (h > 0) else 0


@njit(**_SERIAL)
def _planes(b):
    """The columns of boxes ``b`` (M, 4) as contiguous arrays, and the areas."""
    m = b.shape[0]
    x1 = np.empty(m, b.dtype)
    y1 = np.empty(m, b.dtype)
    x2 = np.empty(m, b.dtype)
    y2 = np.empty(m, b.dtype)
    area = np.empty(m, b.dtype)
    for j in range(m):
        x1[j] = b[j, 0]
        y1[j] = b[j, 1]
        x2[j] = b[j, 2]
        y2[j] = b[j, 3]
        area[j] = (x2[j] - x1[j]) * (y2[j] - y1[j])
    return x1, y1, x2, y2, area


@njit(**_SERIAL)
def _first_bad(x1, y1, x2, y2):
    """Index of the first box with a NaN or infinite coordinate or x2 < x1 or y2 < y1, or -1
    (over contiguous planes: the common all-valid case is one vectorised reduction)."""
    ok = True
    for i in range(x1.shape[0]):
        # x - x == 0 is False exactly for NaN and infinities
        ok &= (x2[i] >= x1[i]) & (y2[i] >= y1[i]) & (x1[i] - x1[i] == 0) \
            & (y1[i] - y1[i] == 0) & (x2[i] - x2[i] == 0) & (y2[i] - y2[i] == 0)
    if ok:
        return -1
    for i in range(x1.shape[0]):
        if not ((x2[i] >= x1[i]) & (y2[i] >= y1[i]) & (x1[i] - x1[i] == 0)
                & (y1[i] - y1[i] == 0) & (x2[i] - x2[i] == 0) & (y2[i] - y2[i] == 0)):
            return i
    return -1


@njit(**_SERIAL)
def box_iou_serial(a, b, out):
    bx1, by1, bx2, by2, area_b = _planes(b)
    for i in range(a.shape[0]):
        _iou_row(i, a, bx1, by1, bx2, by2, area_b, out)


@njit(**_PARALLEL)
def box_iou_parallel(a, b, out):
    bx1, by1, bx2, by2, area_b = _planes(b)
    for i in prange(a.shape[0]):
        _iou_row(i, a, bx1, by1, bx2, by2, area_b, out)


# --- nms, batched_nms -------------------------------------------------------------------------
@njit(**_SERIAL)
def _sorted_planes(boxes, scores, classes):
    """Stable descending order of ``scores`` and the boxes' planes, areas and classes in it."""
    n = boxes.shape[0]
    order = np.argsort(-scores, kind="mergesort")
    x1 = np.empty(n, boxes.dtype)
    y1 = np.empty(n, boxes.dtype)
    x2 = np.empty(n, boxes.dtype)
    y2 = np.empty(n, boxes.dtype)
    area = np.empty(n, boxes.dtype)
    cls = np.empty(n, np.int64)
    for i in range(n):
        o = order[i]
        x1[i] = boxes[o, 0]
        y1[i] = boxes[o, 1]
        x2[i] = boxes[o, 2]
        y2[i] = boxes[o, 3]
        area[i] = (x2[i] - x1[i]) * (y2[i] - y1[i])
        cls[i] = classes[o]
    return order, x1, y1, x2, y2, area, cls


@njit(**_SERIAL)
def _score_keys(scores):
    """int64 keys ordered as the float64 ``scores`` (no NaN, no -0.0)."""
    bits = scores.view(np.int64)
    key = np.empty(bits.shape[0], np.int64)
    for i in range(bits.shape[0]):
        b = bits[i]
        key[i] = b if b >= 0 else b ^ np.int64(0x7FFFFFFFFFFFFFFF)
    return key


@njit(**_SERIAL)
def nms_serial(boxes, scores, classes, thr, keep):
    # No sort. The next box greedy NMS keeps is the alive box of highest score (the lowest index
    # among equal scores, as a stable sort visits them): the maximum of integer score keys over
    # the alive boxes, then the first box holding it. Each round runs one branch-free
    # (vectorised) pass: the kept box's IoU with every box, marking the suppressed ones dead
    # and taking the maximum key of the survivors (12% faster than a separate pass). Tried and
    # slower on 2000 boxes around 20 people (20 kept): sorting first and sweeping the later
    # boxes per kept box as torchvision's CPU loop does (5x slower),
    # compacting the survivors every round (2x), block maxima of the keys (1.7x), the first
    # maximum searched in vectorised chunks of 64 (1.3x), bucketing the boxes by x1 to test
    # only nearby ones (its set-up cost more than it saved).
    n = boxes.shape[0]
    x1, y1, x2, y2, area = _planes(boxes)
    bad = _first_bad(x1, y1, x2, y2)
    if bad >= 0:  # checked here, where the planes are contiguous: -1 - the first bad box
        return -1 - bad
    key = _score_keys(scores)
    low = np.int64(-9223372036854775807 - 1)  # never a real key (that would be a NaN score)
    dead = np.zeros(n, np.uint8)
    mk = low
    for j in range(n):
        mk = max(mk, key[j])
    nk = 0
    while mk != low:
        best = 0
        for j in range(n):
            if key[j] == mk and dead[j] == 0:
                best = j
                break
        keep[nk] = best
        nk += 1
        dead[best] = 1
        ax1, ay1, ax2, ay2, ai = x1[best], y1[best], x2[best], y2[best], area[best]
        ci = classes[best]
        mk = low
        for j in range(n):  # branch-free: vectorised, the next maximum key in the same pass
            w = min(ax2, x2[j]) - max(ax1, x1[j])
            h = min(ay2, y2[j]) - max(ay1, y1[j])
            inter = w * h
            iou = inter / ((ai + area[j]) - inter)
            hit = (w > 0) & (h > 0) & (iou > thr) & (classes[j] == ci)
            d = dead[j] | np.uint8(hit)
            dead[j] = d
            mk = max(mk, low if d else key[j])
    return nk


@njit(**_SERIAL)
def first_bad_box(b):
    """Index of the first box of ``b`` (n, 4) with a NaN or infinite coordinate or x2 < x1 or
    y2 < y1, or -1."""
    x1, y1, x2, y2, _ = _planes(b)
    return _first_bad(x1, y1, x2, y2)


# The parallel NMS computes every pair's IoU into an n x n bit matrix (n**2 / 8 bytes), where
# the serial kernel only compares the boxes still alive with each kept box. Beyond this many
# boxes the matrix is too large to be worth it (8192 boxes: 8 MiB) and the serial algorithm
# runs instead, so no call allocates without bound.
PAIRS_MAX_BOXES = 8192


@njit(**_PARALLEL)
def nms_parallel(boxes, scores, classes, thr, keep):
    if boxes.shape[0] > PAIRS_MAX_BOXES:
        return nms_serial(boxes, scores, classes, thr, keep)
    px1, py1, px2, py2, _ = _planes(boxes)
    bad = _first_bad(px1, py1, px2, py2)
    if bad >= 0:
        return -1 - bad
    order, x1, y1, x2, y2, area, cls = _sorted_planes(boxes, scores, classes)
    n = order.shape[0]
    words = (n + 63) // 64
    mask = np.zeros((n, words), np.uint64)
    for blk in prange((n + ROWS - 1) // ROWS):
        hits = np.empty(n, np.bool_)
        for i in range(blk * ROWS, min(n, (blk + 1) * ROWS)):
            ax1, ay1, ax2, ay2, ai, ci = x1[i], y1[i], x2[i], y2[i], area[i], cls[i]
            for j in range(i + 1, n):
                w = min(ax2, x2[j]) - max(ax1, x1[j])
                h = min(ay2, y2[j]) - max(ay1, y1[j])
                inter = w * h
                iou = inter / ((ai + area[j]) - inter)
                hits[j] = (w > 0) & (h > 0) & (iou > thr) & (cls[j] == ci)
            for j in range(i + 1, n):
                if hits[j]:
                    mask[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    removed = np.zeros(words, np.uint64)
    nk = 0
    for i in range(n):
        if (removed[i >> 6] >> np.uint64(i & 63)) & np.uint64(1):
            continue
        keep[nk] = order[i]
        nk += 1
        for w in range(i >> 6, words):
            removed[w] |= mask[i, w]
    return nk


# --- weighted_nms (MediaPipe, float32) ----------------------------------------------------------
@njit(**_SERIAL)
def _mp_iou(j, t, x1, y1, x2, y2):
    """MediaPipe's IoU of rectangle ``j`` (rect1) with rectangle ``t`` (rect2), float32."""
    if (x1[j] > x2[j]) | (y1[j] > y2[j]) | (x1[t] > x2[t]) | (y1[t] > y2[t]) \
            | (x2[t] < x1[j]) | (x2[j] < x1[t]) | (y2[t] < y1[j]) | (y2[j] < y1[t]):
        return np.float32(0)
    inter = (min(x2[j], x2[t]) - max(x1[j], x1[t])) * (min(y2[j], y2[t]) - max(y1[j], y1[t]))
    norm = ((x2[j] - x1[j]) * (y2[j] - y1[j]) + (x2[t] - x1[t]) * (y2[t] - y1[t])) - inter
    if norm > 0:
        return inter / norm
    return np.float32(0)


@njit(**_SERIAL)
def weighted_nms_serial(boxes, scores, keypoints, thr, out_boxes, out_scores, out_kp):
    n = boxes.shape[0]
    nkp = keypoints.shape[1]
    order = np.argsort(-scores, kind="mergesort")
    x1 = np.empty(n, np.float32)
    y1 = np.empty(n, np.float32)
    x2 = np.empty(n, np.float32)
    y2 = np.empty(n, np.float32)
    for i in range(n):
        x1[i] = boxes[i, 0]
        y1[i] = boxes[i, 1]
        x2[i] = boxes[i, 0] + (boxes[i, 2] - boxes[i, 0])  # xmin + width
        y2[i] = boxes[i, 1] + (boxes[i, 3] - boxes[i, 1])
    remaining = order.copy()
    cand = np.empty(n, np.int64)
    rest = np.empty(n, np.int64)
    r = n
    m = 0
    while r > 0:
        t = remaining[0]
        nc = 0
        nr = 0
        for q in range(r):
            j = remaining[q]
            if _mp_iou(j, t, x1, y1, x2, y2) > thr:
                cand[nc] = j
                nc += 1
            else:
                rest[nr] = j
                nr += 1
        if nc > 0:
            total = np.float32(0)
            wx1 = np.float32(0)
            wy1 = np.float32(0)
            wx2 = np.float32(0)
            wy2 = np.float32(0)
            for k in range(nkp):
                out_kp[m, k, 0] = 0
                out_kp[m, k, 1] = 0
            for q in range(nc):
                c = cand[q]
                s = scores[c]
                total += s
                wx1 += x1[c] * s
                wy1 += y1[c] * s
                wx2 += x2[c] * s
                wy2 += y2[c] * s
                for k in range(nkp):
                    out_kp[m, k, 0] += keypoints[c, k, 0] * s
                    out_kp[m, k, 1] += keypoints[c, k, 1] * s
            xmin = wx1 / total
            ymin = wy1 / total
            width = wx2 / total - xmin
            height = wy2 / total - ymin
            out_boxes[m, 0] = xmin
            out_boxes[m, 1] = ymin
            out_boxes[m, 2] = xmin + width
            out_boxes[m, 3] = ymin + height
            for k in range(nkp):
                out_kp[m, k, 0] /= total
                out_kp[m, k, 1] /= total
        else:
            out_boxes[m, 0] = x1[t]
            out_boxes[m, 1] = y1[t]
            out_boxes[m, 2] = x2[t]
            out_boxes[m, 3] = y2[t]
            for k in range(nkp):
                out_kp[m, k, 0] = keypoints[t, k, 0]
                out_kp[m, k, 1] = keypoints[t, k, 1]
        out_scores[m] = scores[t]
        m += 1
        if nr == r:
            break
        for q in range(nr):
            remaining[q] = rest[q]
        r = nr
    return m


@njit(**_SERIAL)
def weighted_nms_parallel(boxes, scores, keypoints, thr, out_boxes, out_scores, out_kp):
    """The serial kernel: tens of detections leave nothing to share between threads."""
    return weighted_nms_serial(boxes, scores, keypoints, thr, out_boxes, out_scores, out_kp)


# --- decode_ssd (MediaPipe, float32) -----------------------------------------------------------
@njit(**_SERIAL)
def _decode_image(n, raw, raw_scores, anchors, params, out_boxes, out_scores, out_kp, counts):
    xs, ys, clip, min_score, do_clip = params[0], params[1], params[2], params[3], params[4]
    one = np.float32(1)
    two = np.float32(2)
    nkp = out_kp.shape[2]
    c = 0
    for a in range(raw.shape[1]):
        s = raw_scores[n, a]
        if do_clip != 0:
            s = -clip if s < -clip else s
            s = clip if s > clip else s
        s = one / (one + math.exp(-s))
        if not s >= min_score:
            continue
        axc, ayc, aw, ah = anchors[a, 0], anchors[a, 1], anchors[a, 2], anchors[a, 3]
        xc = raw[n, a, 0] / xs * aw + axc
        yc = raw[n, a, 1] / ys * ah + ayc
        w = raw[n, a, 2] / xs * aw
        h = raw[n, a, 3] / ys * ah
        xmin = xc - w / two
        ymin = yc - h / two
        xmax = xc + w / two
        ymax = yc + h / two
        if not ((xmax - xmin >= 0) & (ymax - ymin >= 0)):
            continue
        out_boxes[n, c, 0] = xmin
        out_boxes[n, c, 1] = ymin
        out_boxes[n, c, 2] = xmax
        out_boxes[n, c, 3] = ymax
        out_scores[n, c] = s
        for k in range(nkp):
            out_kp[n, c, k, 0] = raw[n, a, 4 + 2 * k] / xs * aw + axc
            out_kp[n, c, k, 1] = raw[n, a, 5 + 2 * k] / ys * ah + ayc
        c += 1
    counts[n] = c


@njit(**_SERIAL)
def decode_ssd_serial(raw, raw_scores, anchors, params, out_boxes, out_scores, out_kp, counts):
    for n in range(raw.shape[0]):
        _decode_image(n, raw, raw_scores, anchors, params, out_boxes, out_scores, out_kp, counts)


@njit(**_PARALLEL)
def decode_ssd_parallel(raw, raw_scores, anchors, params, out_boxes, out_scores, out_kp, counts):
    for n in prange(raw.shape[0]):
        _decode_image(n, raw, raw_scores, anchors, params, out_boxes, out_scores, out_kp, counts)
