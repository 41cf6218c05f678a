"""NumPy reference implementations of :mod:`wasmpose.keypoints` (the ``OptLevel.NONE`` variants).

Each function has the same signature as its Numba kernel in ``_kernels.py`` and writes the same
result: the compiled variants are tested against these and against the peers (scipy's ``cdist``,
pycocotools' ``computeOks``, mmpose's ``oks_nms``).
"""

import numpy as np

EPS = np.spacing(1.0)


def pairwise(a, bt, out):
    acc = np.zeros(out.shape)
    for d in range(bt.shape[0]):  # scipy's order: coordinates summed one after the other
        diff = a[:, d, None] - bt[d]
        acc += diff * diff
    np.sqrt(acc, out=out)


def keypoint(ax, ay, bx, by, out):
    dx = ax[:, None, :] - bx[None]
    dy = ay[:, None, :] - by[None]
    np.sqrt(dx * dx + dy * dy, out=out)


def _boxed(u):
    """``np.max((0, u))`` elementwise (NaN stays NaN), as pycocotools writes it."""
    return np.where(u <= 0.0, 0.0, u)


def oks(dtx, dty, gx, gy, use, count, boxrule, box, var, aeps, out):
    # (D, G, K) at once, in pycocotools' order of operations
    xd, yd = dtx[:, None, :], dty[:, None, :]
    dx = xd - gx.T[None]
    dy = yd - gy.T[None]
    if boxrule.any():
        x0, x1, y0, y1 = (c[None, :, None] for c in box)
        bdx = _boxed(x0 - xd) + _boxed(xd - x1)
        bdy = _boxed(y0 - yd) + _boxed(yd - y1)
        rule = boxrule[None, :, None]
        dx = np.where(rule, bdx, dx)
        dy = np.where(rule, bdy, dy)
    e = (dx**2 + dy**2) / var / aeps[None, :, None] / 2
    t = np.where(use.T[None], np.exp(-e), 0.0)
    out[...] = t.sum(axis=-1) / count


def oks_mean(ax, ay, a_area, bxt, byt, b_area, var, out):
    dx = bxt.T[None] - ax[:, None, :]
    dy = byt.T[None] - ay[:, None, :]
    den = (a_area[:, None] + b_area[None, :]) / 2 + EPS
    e = (dx**2 + dy**2) / var / den[:, :, None] / 2
    out[...] = np.exp(-e).sum(axis=-1) / var.size


def nms(xt, yt, area, var, thr, keep):
    # mmpose's loop: keep the best remaining pose, drop the rest whose float32 OKS is not <= thr
    x, y = xt.T, yt.T
    order = np.arange(x.shape[0])
    nk = 0
    while order.size:
        a = order[0]
        keep[nk] = a
        nk += 1
        rest = order[1:]
        dx = x[rest] - x[a]
        dy = y[rest] - y[a]
        den = (area[a] + area[rest]) / 2 + EPS
        e = (dx**2 + dy**2) / var / den[:, None] / 2
        ious = (np.exp(-e).sum(axis=-1) / var.size).astype(np.float32).astype(np.float64)
        order = rest[ious <= thr]
    return nk


# --- top-down transforms ----------------------------------------------------------------------
def _third_point(a, b):
    """rtmlib's ``_get_3rd_point`` on float32 ``(N, 2)`` points: ``b`` plus ``a - b`` turned by
    90 degrees, in float32."""
    d = a - b
    return b + np.stack([-d[:, 1], d[:, 0]], axis=1)


def _solve3(p, q):
    """The ``(N, 2, 3)`` affine maps taking the points ``p[:, i]`` to ``q[:, i]`` (``(N, 3, 2)``),
    as ``cv2.getAffineTransform``: the 6 x 6 system ``[x y 1 0 0 0; 0 0 0 x y 1] m = q`` solved
    by OpenCV's ``LUImpl`` (partial pivoting on the first largest pivot, rows combined with
    ``-1 / pivot``, back substitution times the reciprocal), for all N at once. NaN where a
    pivot is below ``DBL_EPSILON * 100`` (OpenCV then returns zeros)."""
    n = p.shape[0]
    a = np.zeros((n, 6, 7))
    a[:, 0::2, 0:2] = p
    a[:, 0::2, 2] = 1.0
    a[:, 1::2, 3:5] = p
    a[:, 1::2, 5] = 1.0
    a[:, :, 6] = q.reshape(n, 6)
    rows = np.arange(n)
    singular = np.zeros(n, bool)
    for i in range(6):
        k = i + np.argmax(np.abs(a[:, i:, i]), axis=1)  # the first largest, as OpenCV's `>`
        singular |= ~(np.abs(a[rows, k, i]) >= 2.220446049250313e-16 * 100)
        ri, rk = a[rows, i].copy(), a[rows, k].copy()
        a[rows, k], a[rows, i] = ri, rk
        d = -1.0 / a[:, i, i]
        for j in range(i + 1, 6):
            alpha = a[:, j, i] * d
            a[:, j, i + 1:] += alpha[:, None] * a[:, i, i + 1:]
        a[:, i, i] = -d
    for i in range(5, -1, -1):
        s = a[:, i, 6].copy()
        for c in range(i + 1, 6):
            s -= a[:, i, c] * a[:, c, 6]
        a[:, i, 6] = s * a[:, i, i]
    out = a[:, :, 6].reshape(n, 2, 3)
    out[singular] = np.nan
    return out


def warp_matrix(center, scale, sn, cs, shift, dst_w, dst_h, inv, out):
    """rtmlib's ``get_warp_matrix`` for N boxes at once (``sn``, ``cs``: sin and cos of the
    rotations, as rtmlib's ``np.sin(np.deg2rad(rot))``)."""
    n = center.shape[0]
    p1 = scale[:, 0] * -0.5
    src_dir = np.stack([-sn * p1, cs * p1], axis=1)
    src = np.zeros((n, 3, 2), np.float32)
    src[:, 0] = center + scale * shift
    src[:, 1] = center + src_dir + scale * shift
    src[:, 2] = _third_point(src[:, 0], src[:, 1])
    dst = np.zeros((n, 3, 2), np.float32)
    dst[:, 0] = [dst_w * 0.5, dst_h * 0.5]
    dst[:, 1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([0.0, dst_w * -0.5])
    dst[:, 2] = _third_point(dst[:, 0], dst[:, 1])
    with np.errstate(all="ignore"):
        out[...] = _solve3(dst, src) if inv else _solve3(src, dst)
    bad = ~(np.isfinite(center).all(axis=1) & np.isfinite(scale).all(axis=1) & np.isfinite(sn)
            & np.isfinite(cs) & (scale[:, 0] != 0) & np.isfinite(out).all(axis=(1, 2)))
    out[bad] = np.nan
    return int(bad.sum())


def center_scale(boxes, padding, ratio, center, scale):
    """rtmlib's ``bbox_xyxy2cs`` and, when ``ratio > 0``, mmpose's ``_fix_aspect_ratio``.
    Returns the count of invalid boxes (non-finite, x2 < x1 or y2 < y1)."""
    x1, y1, x2, y2 = boxes.T
    center[:, 0] = (x1 + x2) * 0.5
    center[:, 1] = (y1 + y2) * 0.5
    w = (x2 - x1) * padding
    h = (y2 - y1) * padding
    if ratio > 0:
        wide = w > h * ratio
        w, h = np.where(wide, w, h * ratio), np.where(wide, w / ratio, h)
    scale[:, 0] = w
    scale[:, 1] = h
    return int((~(np.isfinite(boxes).all(axis=1) & (x2 >= x1) & (y2 >= y1))).sum())


def invert(m, out):
    """``cv2.invertAffineTransform`` of each ``(2, 3)`` matrix of ``m`` (``(N, 2, 3)``).
    Returns the count of matrices with a non-finite entry or a zero determinant."""
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(det != 0, 1.0 / det, 0.0)
    a11, a22 = m[:, 1, 1] * r, m[:, 0, 0] * r
    a12, a21 = -m[:, 0, 1] * r, -m[:, 1, 0] * r
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = a11, a12, a21, a22
    with np.errstate(invalid="ignore"):
        out[:, 0, 2] = -a11 * m[:, 0, 2] - a12 * m[:, 1, 2]
        out[:, 1, 2] = -a21 * m[:, 0, 2] - a22 * m[:, 1, 2]
    return int((~(np.isfinite(m).all(axis=(1, 2)) & (det != 0))).sum())


def transform(p, m, per_row, out):
    """``(x, y) -> M @ (x, y, 1)`` for the points ``p`` ``(R, P, C)`` of row ``i`` with matrix
    ``m[i]`` (``per_row``) or ``m[0]``; only the first two fields are written. Returns the count
    of matrices with a non-finite entry (nothing written then)."""
    bad = int((~np.isfinite(m).all(axis=(1, 2))).sum())
    if bad:
        return bad
    mm = (m if per_row else m[:1])[:, None]  # (R or 1, 1, 2, 3)
    x, y = p[..., 0], p[..., 1]
    out[..., 0] = mm[..., 0, 0] * x + mm[..., 0, 1] * y + mm[..., 0, 2]
    out[..., 1] = mm[..., 1, 0] * x + mm[..., 1, 1] * y + mm[..., 1, 2]
    return 0
