"""Numba kernels of the top-down coordinate transforms of :mod:`wasmpose.keypoints`.

``get_affine_transform`` (rtmlib's and mmpose's ``get_warp_matrix``), ``bbox_to_center_scale``
(``bbox_xyxy2cs`` and ``_fix_aspect_ratio``), ``invert_affine`` and ``transform_points``, a
serial and a parallel variant of each, with the signatures of their NumPy references in
``_reference.py``. Arrays arrive C-contiguous float64, validated by ``wasmpose.keypoints``.
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

_F32 = np.float32


# OpenCV's hal::LU64f gives up on a pivot below this (DBL_EPSILON * 100)
LU_EPS = 2.220446049250313e-16 * 100


@njit(**_SERIAL)
def _solve3(p, q, a, out):
    """The affine map taking the three points ``p[i]`` to ``q[i]`` (``(3, 2)`` float64 holding
    float32 values) into ``out`` ``(2, 3)``, as ``cv2.getAffineTransform``: its 6 x 6 system
    solved by OpenCV's ``LUImpl`` (partial pivoting, first largest pivot, rows combined with
    ``-1 / pivot``, back substitution times the stored reciprocal), operation for operation.
    ``a`` is ``(6, 7)`` scratch (the system and its right-hand side). NaN for a pivot below
    ``LU_EPS`` (OpenCV returns zeros there)."""
    m = 6
    for i in range(3):
        r = 2 * i
        for j in range(7):
            a[r, j] = 0.0
            a[r + 1, j] = 0.0
        a[r, 0] = a[r + 1, 3] = p[i, 0]
        a[r, 1] = a[r + 1, 4] = p[i, 1]
        a[r, 2] = a[r + 1, 5] = 1.0
        a[r, 6] = q[i, 0]
        a[r + 1, 6] = q[i, 1]
    for i in range(m):
        k = i
        for j in range(i + 1, m):
            if abs(a[j, i]) > abs(a[k, i]):
                k = j
        if not abs(a[k, i]) >= LU_EPS:
            for j in range(6):
                out[j // 3, j % 3] = np.nan
            return
        if k != i:
            for j in range(i, 7):
                a[i, j], a[k, j] = a[k, j], a[i, j]
        d = -1.0 / a[i, i]
        for j in range(i + 1, m):
            alpha = a[j, i] * d
            for c in range(i + 1, 7):
                a[j, c] += alpha * a[i, c]
        a[i, i] = -d
    for i in range(m - 1, -1, -1):
        s = a[i, 6]
        for c in range(i + 1, m):
            s -= a[i, c] * a[c, 6]
        a[i, 6] = s * a[i, i]
    for j in range(6):
        out[j // 3, j % 3] = a[j, 6]


@njit(**_SERIAL)
def _third(pts):
    """rtmlib's ``_get_3rd_point`` in float32: ``b + (-(a - b)[1], (a - b)[0])``."""
    ax, ay, bx, by = _F32(pts[0, 0]), _F32(pts[0, 1]), _F32(pts[1, 0]), _F32(pts[1, 1])
    dx = ax - bx
    dy = ay - by
    pts[2, 0] = bx + -dy
    pts[2, 1] = by + dx


@njit(**_SERIAL)
def _finite(v):
    return abs(v) < np.inf


@njit(**_SERIAL)
def _warp_one(i, center, scale, sn, cs, shift, inv, src, dst, a, out):
    """Row ``i``; returns 1 if its input is invalid (non-finite, zero width) or its system
    singular, else 0 (the public function then raises, naming the row)."""
    ok = (_finite(center[i, 0]) and _finite(center[i, 1]) and _finite(scale[i, 0])
          and _finite(scale[i, 1]) and _finite(sn[i]) and _finite(cs[i]) and scale[i, 0] != 0)
    if not ok:
        for j in range(6):
            out[i, j // 3, j % 3] = np.nan
        return 1
    # src_dir = [[cs, -sn], [sn, cs]] @ [0, -w / 2]: the products with 0 are exact zeros
    p1 = scale[i, 0] * -0.5
    sdx, sdy = -sn[i] * p1, cs[i] * p1
    ox = center[i, 0] + scale[i, 0] * shift[0]
    oy = center[i, 1] + scale[i, 1] * shift[1]
    src[0, 0], src[0, 1] = _F32(ox), _F32(oy)
    src[1, 0] = _F32(center[i, 0] + sdx + scale[i, 0] * shift[0])
    src[1, 1] = _F32(center[i, 1] + sdy + scale[i, 1] * shift[1])
    _third(src)
    if inv:
        _solve3(dst, src, a, out[i])
    else:
        _solve3(src, dst, a, out[i])
    return 0 if _finite(out[i, 0, 0]) else 1


@njit(**_SERIAL)
def _dst_points(dst_w, dst_h):
    dst = np.empty((3, 2))
    dst[0, 0], dst[0, 1] = _F32(dst_w * 0.5), _F32(dst_h * 0.5)
    dst[1, 0], dst[1, 1] = _F32(dst_w * 0.5 + 0.0), _F32(dst_h * 0.5 + dst_w * -0.5)
    _third(dst)
    return dst


@njit(**_SERIAL)
def warp_matrix_serial(center, scale, sn, cs, shift, dst_w, dst_h, inv, out):
    dst = _dst_points(dst_w, dst_h)
    src = np.empty((3, 2))
    a = np.empty((6, 7))
    bad = 0
    for i in range(center.shape[0]):
        bad += _warp_one(i, center, scale, sn, cs, shift, inv, src, dst, a, out)
    return bad


@njit(**_PARALLEL)
def warp_matrix_parallel(center, scale, sn, cs, shift, dst_w, dst_h, inv, out):
    dst = _dst_points(dst_w, dst_h)
    n = center.shape[0]
    nt = (n + 63) // 64
    bad = 0
    for t in prange(nt):
        src = np.empty((3, 2))
        a = np.empty((6, 7))
        for i in range(t * 64, min(n, (t + 1) * 64)):
            bad += _warp_one(i, center, scale, sn, cs, shift, inv, src, dst, a, out)
    return bad


# --- bbox_to_center_scale ---------------------------------------------------------------------
@njit(**_SERIAL)
def _cs_one(i, boxes, padding, ratio, center, scale):
    """Row ``i``; returns 1 for a non-finite box or one with x2 < x1 or y2 < y1, else 0."""
    x1, y1, x2, y2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
    if not (_finite(x1) and _finite(y1) and _finite(x2) and _finite(y2)
            and x2 >= x1 and y2 >= y1):
        return 1
    center[i, 0] = (x1 + x2) * 0.5
    center[i, 1] = (y1 + y2) * 0.5
    w = (x2 - x1) * padding
    h = (y2 - y1) * padding
    if ratio > 0:  # mmpose's _fix_aspect_ratio: np.where(w > h * r, (w, w / r), (h * r, h))
        if w > h * ratio:
            h = w / ratio
        else:
            w = h * ratio
    scale[i, 0] = w
    scale[i, 1] = h
    return 0


@njit(**_SERIAL)
def center_scale_serial(boxes, padding, ratio, center, scale):
    bad = 0
    for i in range(boxes.shape[0]):
        bad += _cs_one(i, boxes, padding, ratio, center, scale)
    return bad


@njit(**_PARALLEL)
def center_scale_parallel(boxes, padding, ratio, center, scale):
    bad = 0
    for i in prange(boxes.shape[0]):
        bad += _cs_one(i, boxes, padding, ratio, center, scale)
    return bad


# --- invert_affine ----------------------------------------------------------------------------
@njit(**_SERIAL)
def _invert_one(m, out):
    """cv2.invertAffineTransform: D = 1 / (a e - b d), then the adjugate times D. Returns 1 for
    a non-finite entry or a zero determinant, else 0."""
    for j in range(6):
        if not _finite(m[j // 3, j % 3]):
            return 1
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    if det == 0:
        return 1
    r = 1.0 / det
    a11, a22 = m[1, 1] * r, m[0, 0] * r
    a12, a21 = -m[0, 1] * r, -m[1, 0] * r
    out[0, 0], out[0, 1], out[1, 0], out[1, 1] = a11, a12, a21, a22
    out[0, 2] = -a11 * m[0, 2] - a12 * m[1, 2]
    out[1, 2] = -a21 * m[0, 2] - a22 * m[1, 2]
    return 0


@njit(**_SERIAL)
def invert_serial(m, out):
    bad = 0
    for i in range(m.shape[0]):
        bad += _invert_one(m[i], out[i])
    return bad


@njit(**_PARALLEL)
def invert_parallel(m, out):
    bad = 0
    for i in prange(m.shape[0]):
        bad += _invert_one(m[i], out[i])
    return bad


# --- transform_points -------------------------------------------------------------------------
@njit(**_SERIAL)
def _transform_rows(p, m, per_row, r0, r1, out):
    for i in range(r0, r1):
        mm = m[i if per_row else 0]
        for j in range(p.shape[1]):
            x, y = p[i, j, 0], p[i, j, 1]
            out[i, j, 0] = mm[0, 0] * x + mm[0, 1] * y + mm[0, 2]
            out[i, j, 1] = mm[1, 0] * x + mm[1, 1] * y + mm[1, 2]


@njit(**_SERIAL)
def _non_finite(m):
    """How many of the ``(2, 3)`` matrices of ``m`` hold a NaN or an infinity."""
    bad = 0
    for i in range(m.shape[0]):
        for j in range(6):
            if not _finite(m[i, j // 3, j % 3]):
                bad += 1
                break
    return bad


@njit(**_SERIAL)
def transform_serial(p, m, per_row, out):
    """``per_row``: row ``i`` of ``p`` uses matrix ``i``, else all use matrix 0. Returns the
    count of matrices with a non-finite entry (nothing is written then)."""
    bad = _non_finite(m)
    if bad == 0:
        _transform_rows(p, m, per_row, 0, p.shape[0], out)
    return bad


@njit(**_PARALLEL)
def transform_parallel(p, m, per_row, out):
    bad = _non_finite(m)
    if bad == 0:
        n = p.shape[0]
        for t in prange((n + 15) // 16):
            _transform_rows(p, m, per_row, t * 16, min(n, (t + 1) * 16), out)
    return bad
