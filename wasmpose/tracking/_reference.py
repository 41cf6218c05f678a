"""NumPy reference of :func:`wasmpose.tracking.smooth_tracks` (the ``OptLevel.NONE`` variant).

Same signature as the Numba kernels in ``_kernels.py``: ``smooth(src, method, window, order,
max_gap, out)`` with ``src`` and ``out`` C-contiguous float64 ``(T, K, C)``, ``method`` 0
(Savitzky-Golay) or 1 (Gaussian), ``window`` odd, ``order < window`` (Savitzky-Golay),
``max_gap`` the longest gap filled (0: none). ``out`` is written. The rules, which this file
states as the specification:

- A point ``(t, k)`` is *missing* when x or y is NaN, or (C = 3) its score is NaN or 0.
- **Gaps**: a run of missing frames of keypoint ``k`` with a present frame on both sides and at
  most ``max_gap`` frames long is filled by linear interpolation between those two frames
  (every channel, the score included, as ``np.interp``); the filled points count as present.
  Runs at the start or the end, and longer runs, stay missing.
- **Segments**: the maximal runs of present frames of a keypoint are smoothed independently,
  (x, y) only, so that nothing is smeared across a gap that stays missing.
- **Savitzky-Golay** (SciPy's ``savgol_filter(x, window, order, mode="interp")``): a segment of
  ``n >= window`` frames gets, at each frame at least ``window // 2`` frames from both ends, the
  value at the centre of the least-squares polynomial of degree ``order`` fitted to the
  ``window`` frames around it; the first (last) ``window // 2`` frames get the values of the
  polynomial fitted to the first (last) ``window`` frames. A segment of ``n < window`` frames
  gets the values of one least-squares polynomial of degree ``min(order, n - 1)`` fitted to all
  its frames (``n <= order + 1``: unchanged), the rule of SciPy's edges applied to the whole
  segment.
- **Gaussian** (SciPy's ``gaussian_filter1d(x, window / 6, mode="nearest", radius=window //
  2)``): weights ``exp(-j**2 / (2 sigma**2))`` for ``j`` in ``-window // 2 .. window // 2``,
  normalised to sum 1; beyond a segment's ends its end values repeat.
- Missing points are copied unchanged; the score channel is never smoothed.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _projection(n, degree):
    """The ``(n, n)`` matrix of the least-squares fit of a polynomial of ``degree`` to ``n``
    equispaced values, evaluated at the same positions (positions scaled to [-1, 1])."""
    half = (n - 1) / 2
    u = (np.arange(n) - half) / (half if half > 0 else 1.0)
    q = np.linalg.qr(np.vander(u, degree + 1, increasing=True))[0]
    return q @ q.T


def _gaussian_weights(window):
    sigma = window / 6.0
    x = np.arange(-(window // 2), window // 2 + 1)
    w = np.exp(-0.5 / (sigma * sigma) * x**2)
    return w / w.sum()


def _segment(x, method, window, order):
    """One segment ``(n, 2)`` of present frames, smoothed along axis 0."""
    n, h = x.shape[0], window // 2
    if method == 1:
        padded = np.pad(x, ((h, h), (0, 0)), mode="edge")
        return sliding_window_view(padded, window, axis=0) @ _gaussian_weights(window)
    if n < window:
        return _projection(n, min(order, n - 1)) @ x
    p = _projection(window, order)
    out = np.empty_like(x)
    out[h:n - h] = sliding_window_view(x, window, axis=0) @ p[h]
    out[:h] = p[:h] @ x[:window]
    out[n - h:] = p[window - h:] @ x[n - window:]
    return out


def _runs(mask):
    """``(start, stop)`` of every run of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    return edges.reshape(-1, 2).tolist()


def smooth(src, method, window, order, max_gap, out):
    """Smooth the tracks ``src`` into ``out`` (rules in the module docstring)."""
    infinite = int(np.isinf(src).sum())
    if infinite:
        return infinite
    t_len, k_len, c = src.shape
    present = ~np.isnan(src[..., :2]).any(axis=-1)
    if c == 3:
        present &= ~np.isnan(src[..., 2]) & (src[..., 2] != 0)
    work = src.copy()
    frames = np.arange(t_len)
    for k in range(k_len):
        ok = present[:, k].copy()
        for a, b in _runs(~ok):
            if a > 0 and b < t_len and b - a <= max_gap:
                for ch in range(c):
                    work[a:b, k, ch] = np.interp(frames[a:b], [a - 1, b],
                                                 work[[a - 1, b], k, ch])
                ok[a:b] = True
        out[:, k] = work[:, k]
        for s, e in _runs(ok):
            out[s:e, k, :2] = _segment(work[s:e, k, :2], method, window, order)
    return 0


EPS = np.spacing(1.0)  # the epsilon mmpose adds to the mean area


def match(poses, areas, tracks, t_areas, var, thr, owner):
    """PoseTracker's matching: ``owner[p]`` = the row of ``tracks`` that pose ``p`` continues,
    or -1. ``poses (P, K, C)``, ``tracks (M, K, C)`` (the last raw pose of each live track,
    oldest first), ``areas (P,)``, ``t_areas (M,)``, ``var (K,)``: mmpose's OKS (``oks_iou``:
    the mean of the two areas) of every pair, then greedily, highest OKS first, pairs with
    OKS ``> thr`` whose pose and track are both free (ties: lower pose, then older track)."""
    owner[:] = -1
    n, m = poses.shape[0], tracks.shape[0]
    if not (n and m):
        return
    dx = tracks[None, :, :, 0] - poses[:, None, :, 0]
    dy = tracks[None, :, :, 1] - poses[:, None, :, 1]
    den = (areas[:, None] + t_areas[None, :]) / 2 + EPS
    e = (dx**2 + dy**2) / var / den[:, :, None] / 2
    flat = (np.exp(-e).sum(axis=-1) / var.size).ravel()
    cand = np.flatnonzero(flat > thr)
    cand = cand[np.argsort(-flat[cand], kind="stable")]
    used = np.zeros(m, bool)
    for c in cand.tolist():
        p, j = divmod(c, m)
        if owner[p] < 0 and not used[j]:
            owner[p] = j
            used[j] = True
