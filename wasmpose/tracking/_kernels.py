"""Numba kernels of :func:`wasmpose.tracking.smooth_tracks`: a serial and a parallel variant.

Same signature and result as the NumPy reference in ``_reference.py`` (whose docstring states
the rules): ``smooth(src, method, window, order, max_gap, out)``, float64 ``(T, K, C)`` arrays.

Two paths. When at least half the keypoints are present in every frame after the gaps are
filled (the usual recorded track), the whole ``(T, K * C)`` array is filtered row by row as one
segment, the inner loop running over the contiguous ``K * C`` values of a frame (the score
column is filtered too and then overwritten: cheaper than skipping it); the parallel variant
splits the frames into blocks. Every other keypoint's (x, y) is then gathered into a ``(T, 2)``
buffer and its segments filtered one by one (overwriting what the row pass wrote there); the
parallel variant splits the keypoints.

Savitzky-Golay fits use an orthonormal polynomial basis built by the Stieltjes (Arnoldi)
recurrence with full reorthogonalisation on positions scaled to [-1, 1], so that a fit of any
degree is as accurate as SciPy's ``polyfit``; the interior weights are the basis' projection
evaluated at the window's centre. All helpers live in this module because Numba's cache does
not notice edits to other files.
"""

import math

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

GAUSSIAN = 1  # method codes: 0 Savitzky-Golay, 1 Gaussian
ROWS = 256  # frames per parallel block of the gap-free path
_NARROW = 4  # up to this many columns, _rows sums each value in a register


@njit(**_SERIAL)
def _basis(n, degree):
    """``(n, degree + 1)`` orthonormal columns spanning the polynomials of ``degree`` on ``n``
    equispaced positions (scaled to [-1, 1])."""
    q = np.empty((n, degree + 1))
    half = (n - 1) / 2.0
    scale = half if half > 0 else 1.0
    inv = 1.0 / math.sqrt(n)
    for i in range(n):
        q[i, 0] = inv
    for j in range(1, degree + 1):
        for i in range(n):
            q[i, j] = q[i, j - 1] * ((i - half) / scale)
        for _ in range(2):  # twice is enough (Giraud et al.: "twice is enough" for CGS2)
            for m in range(j):
                dot = 0.0
                for i in range(n):
                    dot += q[i, m] * q[i, j]
                for i in range(n):
                    q[i, j] -= dot * q[i, m]
        nrm = 0.0
        for i in range(n):
            nrm += q[i, j] * q[i, j]
        nrm = 1.0 / math.sqrt(nrm)
        for i in range(n):
            q[i, j] *= nrm
    return q


@njit(**_SERIAL)
def _weights(method, window, order, frames):
    """The interior weights ``(window,)`` and, for Savitzky-Golay, the basis of a full window
    (both empty when no segment can be that long)."""
    h = window // 2
    if method == GAUSSIAN:
        w = np.empty(window)
        sigma = window / 6.0
        c = -0.5 / (sigma * sigma)
        tot = 0.0
        for j in range(window):
            x = float(j - h)
            w[j] = math.exp(c * (x * x))
            tot += w[j]
        for j in range(window):
            w[j] /= tot
        return w, np.empty((0, 0))
    if window > frames:
        return np.empty(0), np.empty((0, 0))
    q = _basis(window, order)
    w = np.empty(window)
    for j in range(window):
        acc = 0.0
        for p in range(order + 1):
            acc += q[h, p] * q[j, p]
        w[j] = acc
    return w, q


@njit(**_SERIAL)
def _project(a, b, s, e, r0, r1, q):
    """Rows ``r0:r1`` of ``b``: the least-squares fit (basis ``q``) of rows ``s:e`` of ``a``."""
    ncol = a.shape[1]
    p = q.shape[1]
    coef = np.zeros((p, ncol))
    for j in range(e - s):
        for m in range(p):
            qj = q[j, m]
            for c in range(ncol):
                coef[m, c] += qj * a[s + j, c]
    for t in range(r0, r1):
        i = t - s
        for c in range(ncol):
            b[t, c] = 0.0
        for m in range(p):
            qi = q[i, m]
            for c in range(ncol):
                b[t, c] += qi * coef[m, c]


@njit(**_SERIAL)
def _rows(a, b, s, e, r0, r1, method, order, weights, q):
    """Rows ``r0:r1`` (within ``s:e``) of ``b``: the segment ``s:e`` of ``a`` smoothed."""
    ncol = a.shape[1]
    n = e - s
    w = weights.shape[0]
    h = w // 2
    if method == GAUSSIAN:
        for t in range(r0, r1):
            if ncol <= _NARROW:  # one keypoint's (x, y): sums in registers
                for c in range(ncol):
                    acc = 0.0
                    for j in range(w):
                        acc += weights[j] * a[min(max(t - h + j, s), e - 1), c]
                    b[t, c] = acc
                continue
            for c in range(ncol):  # whole frames: vectorised over the contiguous values
                b[t, c] = 0.0
            for j in range(w):
                i = min(max(t - h + j, s), e - 1)
                wj = weights[j]
                for c in range(ncol):
                    b[t, c] += wj * a[i, c]
        return
    if n < w or w == 0:  # short segment: one fit over all of it
        degree = min(order, n - 1)
        if degree == n - 1:
            for t in range(r0, r1):
                for c in range(ncol):
                    b[t, c] = a[t, c]
        else:
            _project(a, b, s, e, r0, r1, _basis(n, degree))
        return
    if r0 < s + h:
        _project(a, b, s, s + w, r0, min(r1, s + h), q)
    for t in range(max(r0, s + h), min(r1, e - h)):
        if ncol <= _NARROW:
            for c in range(ncol):
                acc = 0.0
                for j in range(w):
                    acc += weights[j] * a[t - h + j, c]
                b[t, c] = acc
            continue
        for c in range(ncol):
            b[t, c] = 0.0
        for j in range(w):
            wj = weights[j]
            for c in range(ncol):
                b[t, c] += wj * a[t - h + j, c]
    if r1 > e - h:
        _project(a, b, e - w, e, max(r0, e - h), r1, q)


@njit(**_SERIAL)
def _mark(src, ok, r0, r1):
    """Mark the present points of frames ``r0:r1`` in ``ok``: ``(missing, infinite)`` counts
    (branch-free: ``v - v`` is NaN for NaN and infinities, ``v == v`` is False for NaN)."""
    kps = src.shape[1]
    scored = src.shape[2] == 3
    missing = 0
    infinite = 0
    for t in range(r0, r1):
        for k in range(kps):
            x = src[t, k, 0]
            y = src[t, k, 1]
            present = (x == x) & (y == y)
            infinite += ((x - x != 0.0) & (x == x)) + ((y - y != 0.0) & (y == y))
            if scored:
                v = src[t, k, 2]
                present &= (v == v) & (v != 0.0)
                infinite += (v - v != 0.0) & (v == v)
            ok[t, k] = present
            missing += not present
    return missing, infinite


@njit(**_SERIAL)
def _fill(work, ok, k, max_gap):
    """Fill keypoint ``k``'s gaps of at most ``max_gap`` frames in ``work`` (marking them in
    ``ok``); whether every frame is present afterwards."""
    frames, _, channels = work.shape
    complete = True
    last = -1
    t = 0
    while t < frames:
        if ok[t, k]:
            last = t
            t += 1
            continue
        g = t
        while g < frames and not ok[g, k]:
            g += 1
        if last >= 0 and g < frames and g - t <= max_gap:
            for c in range(channels):
                va = work[last, k, c]
                slope = (work[g, k, c] - va) / (g - last)
                for i in range(t, g):
                    work[i, k, c] = slope * (i - last) + va
            for i in range(t, g):
                ok[i, k] = True
        else:
            complete = False
        t = g
    return complete


@njit(**_SERIAL)
def _filled(src, ok, missing, max_gap, complete):
    """``src``, or a copy with the short gaps filled when points are missing (``complete[k]``:
    keypoint ``k`` is present in every frame afterwards). Serial, also in the parallel variant:
    neighbouring keypoints share cache lines."""
    if not missing:
        return src
    work = src.copy()
    for k in range(src.shape[1]):
        complete[k] = _fill(work, ok, k, max_gap)
    return work


@njit(**_SERIAL)
def _keypoint(work, ok, out, k, method, order, weights, q):
    """Keypoint ``k`` segment by segment: (x, y) smoothed, the rest copied."""
    frames, _, channels = work.shape
    a = np.empty((frames, 2))
    b = np.empty((frames, 2))
    for t in range(frames):
        a[t, 0] = work[t, k, 0]
        a[t, 1] = work[t, k, 1]
        for c in range(channels):
            out[t, k, c] = work[t, k, c]
    t = 0
    while t < frames:
        if not ok[t, k]:
            t += 1
            continue
        e = t
        while e < frames and ok[e, k]:
            e += 1
        _rows(a, b, t, e, t, e, method, order, weights, q)
        for i in range(t, e):
            out[i, k, 0] = b[i, 0]
            out[i, k, 1] = b[i, 1]
        t = e


@njit(**_SERIAL)
def _scores(work, out, r0, r1):
    if work.shape[2] == 3:
        for t in range(r0, r1):
            for k in range(work.shape[1]):
                out[t, k, 2] = work[t, k, 2]


@njit(**_SERIAL)
def _all_rows(work, out, r0, r1, method, order, weights, q):
    frames, kps, channels = work.shape
    a = work.reshape(frames, kps * channels)
    b = out.reshape(frames, kps * channels)
    _rows(a, b, 0, frames, r0, r1, method, order, weights, q)
    _scores(work, out, r0, r1)


@njit(**_SERIAL)
def smooth_serial(src, method, window, order, max_gap, out):
    frames, kps, _ = src.shape
    ok = np.empty((frames, kps), np.bool_)
    missing, infinite = _mark(src, ok, 0, frames)
    if infinite:
        return infinite
    weights, q = _weights(method, window, order, frames)
    complete = np.ones(kps, np.bool_)
    work = _filled(src, ok, missing, max_gap, complete)
    whole = complete.sum()
    if 2 * whole >= kps:  # mostly complete keypoints: every column at once, then the others
        _all_rows(work, out, 0, frames, method, order, weights, q)
    for k in range(kps):
        if not (complete[k] and 2 * whole >= kps):
            _keypoint(work, ok, out, k, method, order, weights, q)
    return 0


@njit(**_PARALLEL)
def smooth_parallel(src, method, window, order, max_gap, out):
    frames, kps, _ = src.shape
    ok = np.empty((frames, kps), np.bool_)
    blocks = (frames + ROWS - 1) // ROWS
    counts = np.zeros((blocks, 2), np.int64)
    for blk in prange(blocks):
        counts[blk, 0], counts[blk, 1] = _mark(src, ok, blk * ROWS, min(frames, blk * ROWS + ROWS))
    infinite = counts[:, 1].sum()
    if infinite:
        return infinite
    weights, q = _weights(method, window, order, frames)
    complete = np.ones(kps, np.bool_)
    work = _filled(src, ok, counts[:, 0].sum(), max_gap, complete)
    whole = complete.sum()
    rows = 2 * whole >= kps
    if rows:
        for blk in prange(blocks):
            _all_rows(work, out, blk * ROWS, min(frames, blk * ROWS + ROWS), method, order,
                      weights, q)
    for k in prange(kps):
        if not (complete[k] and rows):
            _keypoint(work, ok, out, k, method, order, weights, q)
    return 0


# --- PoseTracker's matching -------------------------------------------------------------------
# np.spacing(1), the epsilon mmpose adds to the mean area (as wasmpose.keypoints' OKS)
EPS = 2.220446049250313e-16
MATCH_ROWS = 16  # poses per parallel block


@njit(**_SERIAL)
def _boxes(p, out):
    """``out[i] = (min x, min y, max x, max y)`` of the keypoints of pose ``i``."""
    for i in range(p.shape[0]):
        x0 = x1 = p[i, 0, 0]
        y0 = y1 = p[i, 0, 1]
        for k in range(1, p.shape[1]):
            x0 = min(x0, p[i, k, 0])
            x1 = max(x1, p[i, k, 0])
            y0 = min(y0, p[i, k, 1])
            y1 = max(y1, p[i, k, 1])
        out[i, 0] = x0
        out[i, 1] = y0
        out[i, 2] = x1
        out[i, 3] = y1


@njit(**_SERIAL)
def _match_row(i, poses, areas, tracks, t_areas, var, thr, limit, pbox, tbox, idx, val, base):
    """The candidates of pose ``i`` (OKS ``> thr``) into ``idx[base:]``, ``val[base:]`` (flat
    index ``i * M + j`` and OKS) in track order; their number. ``idx`` may be empty: count only.

    A track whose box is farther from the pose's box than ``limit`` allows is skipped without
    its OKS: every keypoint distance is at least the boxes' distance ``D``, so the OKS is at
    most ``exp(-D**2 / (2 max(var) s))``, below ``thr`` when ``D**2 > limit * s``. The sum over
    the keypoints stops as soon as the terms left (each at most 1) cannot lift it above
    ``thr * K``. Both only drop pairs whose OKS is ``<= thr``, which matching ignores."""
    m, kn = tracks.shape[0], tracks.shape[1]
    # the sum of the K terms (each <= 1) must exceed thr * K; the margin covers its rounding
    need = thr * kn * (1.0 - 1e-9) - 1e-9
    count = 0
    for j in range(m):
        s = (areas[i] + t_areas[j]) / 2.0 + EPS
        gx = max(0.0, pbox[i, 0] - tbox[j, 2], tbox[j, 0] - pbox[i, 2])
        gy = max(0.0, pbox[i, 1] - tbox[j, 3], tbox[j, 1] - pbox[i, 3])
        if gx * gx + gy * gy > limit * s:
            continue
        acc = 0.0  # mmpose's oks_iou, in wasmpose.keypoints' order of operations
        k = 0
        while k < kn:
            dx = tracks[j, k, 0] - poses[i, k, 0]
            dy = tracks[j, k, 1] - poses[i, k, 1]
            acc += math.exp(-((dx * dx + dy * dy) / var[k] / s / 2.0))
            k += 1
            if acc + (kn - k) < need:  # even terms of 1 for the rest stay below thr
                break
        if k == kn and acc / kn > thr:
            oks = acc / kn
            if idx.size:
                idx[base + count] = i * m + j
                val[base + count] = oks
            count += 1
    return count


@njit(**_SERIAL)
def _gate(var, thr):
    """``limit`` of :func:`_match_row`: ``2 max(var) (-ln thr + 1e-9)``, the 1e-9 a margin far
    above rounding; no gating (inf) when ``thr <= 0``, where every pair is a candidate."""
    if not thr > 0.0:
        return np.inf
    return 2.0 * var.max() * (-math.log(thr) + 1e-9)


@njit(**_SERIAL)
def _unmatched(owner, m):
    """Mark every pose unmatched; whether there is nothing to match."""
    owner[:] = -1
    return owner.size == 0 or m == 0


@njit(**_SERIAL)
def _prepare(poses, tracks, var, thr):
    """The keypoint boxes of the poses and of the tracks, and the gate's ``limit``."""
    pbox = np.empty((poses.shape[0], 4))
    tbox = np.empty((tracks.shape[0], 4))
    _boxes(poses, pbox)
    _boxes(tracks, tbox)
    return pbox, tbox, _gate(var, thr)


@njit(**_SERIAL)
def _greedy(idx, val, n, m, owner):
    """Pairs by descending OKS (stable: ties keep the flat order, pose then track)."""
    order = np.argsort(-val[:n], kind="mergesort")
    used = np.zeros(m, np.bool_)
    for c in order:
        p = idx[c] // m
        j = idx[c] % m
        if owner[p] < 0 and not used[j]:
            owner[p] = j
            used[j] = True


@njit(**_SERIAL)
def match_serial(poses, areas, tracks, t_areas, var, thr, owner):
    """``owner[p]``: the track (row of ``tracks``) pose ``p`` continues, or -1; greedy OKS."""
    n, m = poses.shape[0], tracks.shape[0]
    if _unmatched(owner, m):
        return
    pbox, tbox, limit = _prepare(poses, tracks, var, thr)
    cap = 4 * n + 16
    idx = np.empty(cap, np.int64)
    val = np.empty(cap)
    total = 0
    for i in range(n):
        if cap - total < m:  # room for a whole row
            cap = max(2 * cap, total + m)
            idx2 = np.empty(cap, np.int64)
            val2 = np.empty(cap)
            idx2[:total] = idx[:total]
            val2[:total] = val[:total]
            idx, val = idx2, val2
        total += _match_row(i, poses, areas, tracks, t_areas, var, thr, limit, pbox, tbox, idx,
                            val, total)
    _greedy(idx, val, total, m, owner)


@njit(**_PARALLEL)
def match_parallel(poses, areas, tracks, t_areas, var, thr, owner):
    n, m = poses.shape[0], tracks.shape[0]
    if _unmatched(owner, m):
        return
    pbox, tbox, limit = _prepare(poses, tracks, var, thr)
    counts = np.zeros(n + 1, np.int64)
    none_i = np.empty(0, np.int64)
    none_v = np.empty(0)
    for i in prange(n):  # count, then write at each row's offset
        counts[i + 1] = _match_row(i, poses, areas, tracks, t_areas, var, thr, limit, pbox, tbox,
                                   none_i, none_v, 0)
    for i in range(n):
        counts[i + 1] += counts[i]
    idx = np.empty(max(1, counts[n]), np.int64)
    val = np.empty(max(1, counts[n]))
    for i in prange(n):
        _match_row(i, poses, areas, tracks, t_areas, var, thr, limit, pbox, tbox, idx, val,
                   counts[i])
    _greedy(idx, val, counts[n], m, owner)
