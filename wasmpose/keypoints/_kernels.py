"""Numba kernels of :mod:`wasmpose.keypoints`: a serial and a parallel variant of each.

Every kernel takes C-contiguous float64 arrays already validated by ``wasmpose.keypoints`` and
has the same signature as its NumPy reference in ``_reference.py``. Coordinates arrive as
separate x and y planes, ground truths transposed to ``(K, G)``, so that the inner loops run
over contiguous memory and vectorise.

``exp`` is the cost of OKS: Numba calls libm's scalar ``exp`` (about 3.6 ns a call here, no
SVML). :func:`_exp_neg` is a branch-free ``exp(-e)`` over a buffer (Cody-Waite reduction,
degree-13 Taylor polynomial, the power of two built from its bits) that LLVM vectorises: within
one ulp of NumPy's ``exp`` over the whole range, subnormal results and NaN included, about 3x
faster than libm (docs/keypoints.md has the measurement).
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import math

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

# Rows per parallel block (each block allocates its scratch buffers once).
ROWS = 8

# np.spacing(1), the epsilon pycocotools and mmpose add to areas
EPS = 2.220446049250313e-16

# exp(x) = 2**n * exp(r), x = n ln2 + r, |r| <= ln2 / 2; ln2 split so that n * LN2_HI is exact
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_C2, _C3, _C4, _C5 = 1 / 2, 1 / 6, 1 / 24, 1 / 120
_C6, _C7, _C8, _C9 = 1 / 720, 1 / 5040, 1 / 40320, 1 / 362880
_C10, _C11, _C12, _C13 = 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800
_TWO_M54 = 5.551115123125783e-17  # 2**-54: scales results below 2**-1020 into subnormals


@njit(**_SERIAL)
def _exp_neg(e, out, bits):
    """``out[j] = exp(-e[j])`` for ``e[j] >= 0`` (NaN gives NaN); ``bits`` is int64 scratch."""
    scale = bits.view(np.float64)
    for j in range(e.size):
        x = -e[j]
        x = x if x > -745.5 else -745.5  # exp(-745.5) rounds to 0; NaN is restored below
        n = math.floor(x * _LOG2E + 0.5)
        r = (x - n * _LN2_HI) - n * _LN2_LO
        p = _C13 * r + _C12
        p = p * r + _C11
        p = p * r + _C10
        p = p * r + _C9
        p = p * r + _C8
        p = p * r + _C7
        p = p * r + _C6
        p = p * r + _C5
        p = p * r + _C4
        p = p * r + _C3
        p = p * r + _C2
        p = p * r + 1.0
        p = p * r + 1.0
        tiny = n < -1020.0
        bits[j] = (np.int64(n + 54.0 if tiny else n) + 1023) << 52
        out[j] = p * _TWO_M54 if tiny else p
    for j in range(e.size):
        v = out[j] * scale[j]
        out[j] = v if e[j] == e[j] else e[j]


# --- pairwise_distances -----------------------------------------------------------------------
@njit(**_SERIAL)
def _pairwise_row(i, a, bt, out):
    # scipy's order: s = 0; s += (u_d - v_d)**2 for d = 0..D-1; sqrt(s)
    dim, m = bt.shape
    row = out[i]
    if dim == 2:
        a0, a1 = a[i, 0], a[i, 1]
        for j in range(m):
            d0 = a0 - bt[0, j]
            d1 = a1 - bt[1, j]
            row[j] = math.sqrt(d0 * d0 + d1 * d1)
    elif dim == 3:
        a0, a1, a2 = a[i, 0], a[i, 1], a[i, 2]
        for j in range(m):
            d0 = a0 - bt[0, j]
            d1 = a1 - bt[1, j]
            d2 = a2 - bt[2, j]
            row[j] = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    else:
        for j in range(m):
            row[j] = 0.0
        for d in range(dim):
            ad = a[i, d]
            for j in range(m):
                t = ad - bt[d, j]
                row[j] += t * t
        for j in range(m):
            row[j] = math.sqrt(row[j])


@njit(**_SERIAL)
def pairwise_serial(a, bt, out):
    """``out[i, j]`` = Euclidean distance between ``a[i]`` and column ``j`` of ``bt``."""
    for i in range(a.shape[0]):
        _pairwise_row(i, a, bt, out)


@njit(**_PARALLEL)
def pairwise_parallel(a, bt, out):
    for i in prange(a.shape[0]):
        _pairwise_row(i, a, bt, out)


# --- keypoint_distances -----------------------------------------------------------------------
@njit(**_SERIAL)
def _keypoint_row(i, ax, ay, bx, by, out):
    m, k = bx.shape
    for j in range(m):
        for q in range(k):
            dx = ax[i, q] - bx[j, q]
            dy = ay[i, q] - by[j, q]
            out[i, j, q] = math.sqrt(dx * dx + dy * dy)


@njit(**_SERIAL)
def keypoint_serial(ax, ay, bx, by, out):
    """``out[i, j, k]`` = distance between keypoint ``k`` of pose ``i`` of a and pose ``j`` of b."""
    for i in range(ax.shape[0]):
        _keypoint_row(i, ax, ay, bx, by, out)


@njit(**_PARALLEL)
def keypoint_parallel(ax, ay, bx, by, out):
    for i in prange(ax.shape[0]):
        _keypoint_row(i, ax, ay, bx, by, out)


# --- oks (pycocotools' computeOks) ------------------------------------------------------------
@njit(**_SERIAL)
def _oks_rows(lo, hi, dtx, dty, gx, gy, use, count, boxrule, box, var, aeps, out):
    # Rows lo..hi-1 of out. e for every (keypoint, ground truth) of a detection in one flat
    # buffer, in pycocotools' order: (dx**2 + dy**2) / vars / (area + eps) / 2; then exp(-e)
    # over the whole buffer (long vectorised loops even for few ground truths), summed per gt
    # over the keypoints that count.
    k_n, g_n = gx.shape
    e = np.empty(k_n * g_n)
    t = np.empty(k_n * g_n)
    bits = np.empty(k_n * g_n, np.int64)
    s = np.empty(g_n)
    boxed = np.flatnonzero(boxrule)
    x0, x1, y0, y1 = box[0], box[1], box[2], box[3]
    for i in range(lo, hi):
        for k in range(k_n):
            xd = dtx[i, k]
            yd = dty[i, k]
            v = var[k]
            base = k * g_n
            for g in range(g_n):
                dx = xd - gx[k, g]
                dy = yd - gy[k, g]
                e[base + g] = (dx * dx + dy * dy) / v / aeps[g] / 2.0
            for g in boxed:
                # no visible keypoint: distance to the box twice the gt's bbox
                # (np.max((0, u)) keeps NaN: "not u <= 0")
                u = x0[g] - xd
                w = xd - x1[g]
                dx = (u if not u <= 0.0 else 0.0) + (w if not w <= 0.0 else 0.0)
                u = y0[g] - yd
                w = yd - y1[g]
                dy = (u if not u <= 0.0 else 0.0) + (w if not w <= 0.0 else 0.0)
                e[base + g] = (dx * dx + dy * dy) / v / aeps[g] / 2.0
        _exp_neg(e, t, bits)
        for g in range(g_n):
            s[g] = 0.0
        for k in range(k_n):
            base = k * g_n
            for g in range(g_n):
                s[g] += t[base + g] if use[k, g] else 0.0
        for g in range(g_n):
            out[i, g] = s[g] / count[g]


@njit(**_SERIAL)
def oks_serial(dtx, dty, gx, gy, use, count, boxrule, box, var, aeps, out):
    """``out[d, g]`` = pycocotools' OKS of detection ``d`` with ground truth ``g``.

    ``dtx, dty (D, K)``; ``gx, gy, use (K, G)`` (``use``: the keypoints that count);
    ``count (G,)`` how many count; ``boxrule (G,)`` gts without visible keypoints;
    ``box (4, G)`` = x0, x1, y0, y1 of the doubled boxes; ``var (K,)``; ``aeps (G,)`` = area + eps.
    """
    _oks_rows(0, dtx.shape[0], dtx, dty, gx, gy, use, count, boxrule, box, var, aeps, out)


@njit(**_PARALLEL)
def oks_parallel(dtx, dty, gx, gy, use, count, boxrule, box, var, aeps, out):
    n = dtx.shape[0]
    for b in prange((n + ROWS - 1) // ROWS):
        _oks_rows(b * ROWS, min(n, (b + 1) * ROWS), dtx, dty, gx, gy, use, count, boxrule,
                  box, var, aeps, out)


# --- OKS with the mean of the two areas (mmpose's oks_iou), for NMS and tracking ---------------
@njit(**_SERIAL)
def _oks_mean_row(xa, ya, area_a, bxt, byt, b_area, lo, hi, var, e, t, s, bits):
    # s[j] = mmpose's OKS of the pose (xa, ya) (K,) with column lo + j of bxt, byt (K, M), for
    # j < hi - lo: mean_k exp(-(dx**2 + dy**2) / vars / ((a + b_j) / 2 + eps) / 2), in mmpose's
    # order. Every keypoint goes into one flat buffer: one long vectorised exp per row.
    # e, t, bits: scratch of at least K * (hi - lo) values.
    k_n = bxt.shape[0]
    n = hi - lo
    for j in range(n):
        s[j] = (area_a + b_area[lo + j]) / 2.0 + EPS
    for k in range(k_n):
        xk = xa[k]
        yk = ya[k]
        v = var[k]
        base = k * n
        for j in range(n):
            dx = bxt[k, lo + j] - xk
            dy = byt[k, lo + j] - yk
            e[base + j] = (dx * dx + dy * dy) / v / s[j] / 2.0
    m = k_n * n
    _exp_neg(e[:m], t[:m], bits[:m])
    for j in range(n):
        s[j] = 0.0
    for k in range(k_n):
        base = k * n
        for j in range(n):
            s[j] += t[base + j]
    for j in range(n):
        s[j] /= k_n


@njit(**_SERIAL)
def _oks_mean_rows(lo, hi, ax, ay, a_area, bxt, byt, b_area, var, out):
    k_n, m = bxt.shape
    e = np.empty(k_n * m)
    t = np.empty(k_n * m)
    bits = np.empty(k_n * m, np.int64)
    for i in range(lo, hi):
        _oks_mean_row(ax[i], ay[i], a_area[i], bxt, byt, b_area, 0, m, var, e, t, out[i], bits)


@njit(**_SERIAL)
def oks_mean_serial(ax, ay, a_area, bxt, byt, b_area, var, out):
    """``out[i, j]`` = mmpose's OKS of pose ``i`` of a and pose ``j`` of b (mean area).

    ``ax, ay (N, K)``, ``bxt, byt (K, M)`` (transposed), areas ``(N,)`` and ``(M,)``.
    """
    _oks_mean_rows(0, ax.shape[0], ax, ay, a_area, bxt, byt, b_area, var, out)


@njit(**_PARALLEL)
def oks_mean_parallel(ax, ay, a_area, bxt, byt, b_area, var, out):
    n = ax.shape[0]
    for b in prange((n + ROWS - 1) // ROWS):
        _oks_mean_rows(b * ROWS, min(n, (b + 1) * ROWS), ax, ay, a_area, bxt, byt, b_area,
                       var, out)


# --- oks_nms ------------------------------------------------------------------------------------
@njit(**_SERIAL)
def _over(a, lo, hi, xt, yt, area, var, thr, drop, e, t, s, bits):
    # drop[j] = OKS of kept pose a with pose lo + j (all in score order) is not <= thr after
    # rounding to float32 (mmpose stores its OKS in a float32 array and compares it there).
    _oks_mean_row(xt[:, a], yt[:, a], area[a], xt, yt, area, lo, hi, var, e, t, s, bits)
    for j in range(hi - lo):
        drop[j] = not np.float64(np.float32(s[j])) <= thr


@njit(**_SERIAL)
def nms_serial(xt, yt, area, var, thr, keep):
    """Greedy OKS NMS over poses already in descending score order.

    ``xt, yt (K, P)``, ``area (P,)``; ``thr`` is the float32 threshold as a float. Writes the kept
    positions to ``keep`` and returns how many there are. Only the kept poses' rows of the OKS
    matrix are computed.
    """
    p = xt.shape[1]
    alive = np.ones(p, np.bool_)
    drop = np.empty(p, np.bool_)
    e = np.empty(p * xt.shape[0])
    t = np.empty(p * xt.shape[0])
    s = np.empty(p)
    bits = np.empty(p * xt.shape[0], np.int64)
    nk = 0
    for a in range(p):
        if alive[a]:
            keep[nk] = a
            nk += 1
            _over(a, a + 1, p, xt, yt, area, var, thr, drop, e, t, s, bits)
            for j in range(p - a - 1):
                if drop[j]:
                    alive[a + 1 + j] = False
    return nk


@njit(**_PARALLEL)
def nms_parallel(xt, yt, area, var, thr, keep):
    # The whole upper triangle of "OKS above thr" in parallel (rows a and p-1-a together, so
    # that every task has the same work), then the greedy scan over it.
    p = xt.shape[1]
    over = np.zeros((p, p), np.bool_)
    for r in prange((p + 1) // 2):
        e = np.empty(p * xt.shape[0])
        t = np.empty(p * xt.shape[0])
        s = np.empty(p)
        bits = np.empty(p * xt.shape[0], np.int64)
        _over(r, r + 1, p, xt, yt, area, var, thr, over[r, r + 1:], e, t, s, bits)
        q = p - 1 - r
        if q != r:
            _over(q, q + 1, p, xt, yt, area, var, thr, over[q, q + 1:], e, t, s, bits)
    alive = np.ones(p, np.bool_)
    nk = 0
    for a in range(p):
        if alive[a]:
            keep[nk] = a
            nk += 1
            for b in range(a + 1, p):
                if over[a, b]:
                    alive[b] = False
    return nk
