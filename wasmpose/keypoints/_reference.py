"""NumPy reference implementations of :mod:`wasmpose.keypoints` (the ``OptLevel.NONE`` variants).

Each function has the same signature as its Numba kernel in ``_kernels.py`` and writes the same
result: the compiled variants are tested against these and against the peers (scipy's ``cdist``,
pycocotools' ``computeOks``, mmpose's ``oks_nms``).
"""

import numpy as np

EPS = np.spacing(1.0)
# Coordinates near the float64 range overflow to inf (and inf - inf gives NaN) silently, as in
# the compiled kernels: no RuntimeWarning from the reference only.
_quiet = np.errstate(over="ignore", invalid="ignore")


@_quiet
def pairwise(a, bt, out):
    acc = np.zeros(out.shape)
    for d in range(bt.shape[0]):  # scipy's order: coordinates summed one after the other
        diff = a[:, d, None] - bt[d]
        acc += diff * diff
    np.sqrt(acc, out=out)


@_quiet
def keypoint(ax, ay, bx, by, out):
    dx = ax[:, None, :] - bx[None]
    dy = ay[:, None, :] - by[None]
    np.sqrt(dx * dx + dy * dy, out=out)


def _boxed(u):
    """``np.max((0, u))`` elementwise (NaN stays NaN), as pycocotools writes it."""
    return np.where(u <= 0.0, 0.0, u)


@_quiet
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


@_quiet
def oks_mean(ax, ay, a_area, bxt, byt, b_area, var, out):
    dx = bxt.T[None] - ax[:, None, :]
    dy = byt.T[None] - ay[:, None, :]
    den = (a_area[:, None] + b_area[None, :]) / 2 + EPS
    e = (dx**2 + dy**2) / var / den[:, :, None] / 2
    out[...] = np.exp(-e).sum(axis=-1) / var.size


@_quiet
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
