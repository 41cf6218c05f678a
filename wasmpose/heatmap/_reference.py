"""NumPy reference implementations of :mod:`wasmpose.heatmap` (the ``OptLevel.NONE`` variants).

Same signatures as the Numba kernels in ``_kernels.py``: ``h`` is a C-contiguous ``(C, H, W)``
stack of maps (C = N * K).
"""

import numpy as np

# The refinement codes are the kernels' (compiled into Numba's cache there): one definition.
from wasmpose.heatmap._kernels import REFINE_DARK, REFINE_QUADRATIC, REFINE_SHIFT


def _window_max(a, r, axis):
    """Max over a ``2r+1`` window along ``axis``, cells outside ignored (padded with -inf)."""
    if r == 0:
        return a.copy()
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    p = np.pad(a, pad, constant_values=-np.inf)
    n = a.shape[axis]
    out = np.take(p, np.arange(0, n), axis=axis)
    for d in range(1, 2 * r + 1):
        np.maximum(out, np.take(p, np.arange(d, d + n), axis=axis), out=out)
    return out


def find_peaks(h, k_per_image, thr, window, top_k):
    """The max-pool rule with NumPy: ``(h == maxpool(h)) & (h > thr)``, NaN read as -inf."""
    r = window // 2
    clean = np.where(np.isnan(h), -np.inf, h)
    pooled = _window_max(_window_max(clean, r, 2), r, 1)
    ci, ys, xs = np.nonzero((h == pooled) & (h > thr))
    sc = h[ci, ys, xs]
    order = np.lexsort((xs, ys, -sc, ci))
    ci, ys, xs, sc = ci[order], ys[order], xs[order], sc[order]
    if top_k >= 0:
        rank = np.arange(ci.size) - np.searchsorted(ci, ci, side="left")
        keep = rank < top_k
        ci, ys, xs, sc = ci[keep], ys[keep], xs[keep], sc[keep]
    return ((ci // k_per_image).astype(np.int32), (ci % k_per_image).astype(np.int32),
            ys.astype(np.int32), xs.astype(np.int32), sc)


def _blur(h, g):
    """Zero-padded separable convolution of every map of ``h`` with ``g``, in float64."""
    r = g.size // 2
    c, hh, w = h.shape
    p = np.zeros((c, hh, w + 2 * r))
    p[:, :, r:r + w] = h
    rows = sum(g[j] * p[:, :, j:j + w] for j in range(g.size))
    p = np.zeros((c, hh + 2 * r, w))
    p[:, r:r + hh] = rows
    return sum(g[i] * p[:, i:i + hh] for i in range(g.size))


def decode(h, am, refine, g):
    """Score and refined (x, y) of every map at its flat argmax ``am`` (from ``np.argmax``)."""
    c, hh, w = h.shape
    ys, xs = np.divmod(am, w)
    m = np.arange(c)
    v = h.reshape(c, -1)[m, am]
    fx = xs.astype(np.float64)
    fy = ys.astype(np.float64)
    hf = h.astype(np.float64)
    valid = ~(v <= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if refine in (REFINE_SHIFT, REFINE_QUADRATIC):
            okx = valid & (xs >= 1) & (xs <= w - 2)
            oky = valid & (ys >= 1) & (ys <= hh - 2)
            xl = hf[m, ys, np.clip(xs - 1, 0, w - 1)]
            xr = hf[m, ys, np.clip(xs + 1, 0, w - 1)]
            yu = hf[m, np.clip(ys - 1, 0, hh - 1), xs]
            yd = hf[m, np.clip(ys + 1, 0, hh - 1), xs]
            if refine == REFINE_SHIFT:
                ox = 0.25 * np.sign(xr - xl)
                oy = 0.25 * np.sign(yd - yu)
            else:
                c0 = hf[m, ys, xs]
                dx = xl - 2.0 * c0 + xr
                dy = yu - 2.0 * c0 + yd
                ox = np.clip(np.where(dx == 0, 0.0, 0.5 * (xl - xr) / dx), -0.5, 0.5)
                oy = np.clip(np.where(dy == 0, 0.0, 0.5 * (yu - yd) / dy), -0.5, 0.5)
            fx = np.where(okx, fx + ox, fx)
            fy = np.where(oky, fy + oy, fy)
        elif refine == REFINE_DARK and c:  # c == 0: no max to rescale by
            ok = valid & (xs >= 2) & (xs <= w - 3) & (ys >= 2) & (ys <= hh - 3)
            b = _blur(hf, g)
            b *= (hf.reshape(c, -1).max(axis=1) / b.reshape(c, -1).max(axis=1))[:, None, None]
            lg = np.log(np.maximum(b, 1e-10))

            def at(dy, dx):
                return lg[m, np.clip(ys + dy, 0, hh - 1), np.clip(xs + dx, 0, w - 1)]

            dx = 0.5 * (at(0, 1) - at(0, -1))
            dy = 0.5 * (at(1, 0) - at(-1, 0))
            dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
            dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
            dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
            det = dxx * dyy - dxy * dxy
            ok &= det != 0
            ox = -(dyy * dx - dxy * dy) / det
            oy = -(dxx * dy - dxy * dx) / det
            fx = np.where(ok, fx + ox, fx)
            fy = np.where(ok, fy + oy, fy)
    coords = np.stack([fx, fy], axis=-1).astype(np.float32)
    coords[~valid] = -1.0
    return coords, v.copy()


# --- decode_simcc -----------------------------------------------------------------------------
def decode_simcc(x, y, ax, ay, ratio, rule):
    """rtmlib's ``get_simcc_maximum`` and its division by the split ratio, for ``(R, W)`` rows.

    ``np.argmax``/``np.amax`` on each axis; the score is the mmpose rule
    ``np.where(mx > my, my, mx)`` (rule 0, rtmlib before 0.0.10) or ``0.5 * (mx + my)`` (rule
    1, rtmlib from 0.0.10); where the score is ``<= 0`` both locations are -1 before the
    division. ``ax``, ``ay`` (the kernels' argmax, computed by the caller) are not used: the
    reference takes its own, as rtmlib.
    """
    from wasmpose.heatmap._simcc import SCORE_MEAN

    locs = np.stack((np.argmax(x, axis=1), np.argmax(y, axis=1)), axis=-1).astype(np.float32)
    mx, my = np.amax(x, axis=1), np.amax(y, axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        scores = np.float32(0.5) * (mx + my) if rule == SCORE_MEAN else np.where(mx > my, my, mx)
    locs[scores <= 0] = -1
    return locs / ratio, scores


# --- refine_landmarks -------------------------------------------------------------------------
def _sigmoid32(v):
    """``1.0f / (1.0f + expf(-v))`` in float32 (the exp in float64, rounded to float32)."""
    with np.errstate(over="ignore"):
        e = np.exp(-v.astype(np.float64)).astype(np.float32)
    return np.float32(1.0) / (np.float32(1.0) + e)


def _cell(f):
    """C++ ``int(f)`` on x86-64: truncation toward zero, INT_MIN for NaN and out of range."""
    ok = (f > -2147483649.0) & (f < 2147483648.0)
    return int(np.trunc(f)) if ok else -(1 << 31)


def refine_landmarks(lm, h, khw, off, minconf, act, out):
    """MediaPipe's ``RefineLandmarksFromHeatMap``, landmark by landmark, in NumPy.

    For each landmark: its cell ``(int(y * H), int(x * W))`` (float32 products, truncated);
    nothing changes if the cell is outside the map. The window is the cells within ``off`` of
    it, clipped to the map. ``conf`` is the sigmoid of the heatmap there (``act``), or the
    heatmap itself. If the window's largest confidence (NaN ignored, at least 0) is
    ``>= minconf`` and the sum of confidences is ``> 0``, x becomes
    ``sum(col * conf) / W / sum(conf)`` and y ``sum(row * conf) / H / sum(conf)``. Sums are
    float32, taken one cell after the other row by row (``np.cumsum``'s order), as MediaPipe.
    """
    hm = h if khw else np.moveaxis(h, 3, 1)  # (B, K, H, W)
    hh, ww = hm.shape[2:]
    for b in range(lm.shape[0]):
        for k in range(lm.shape[1]):
            col = _cell(np.float32(lm[b, k, 0]) * np.float32(ww))
            row = _cell(np.float32(lm[b, k, 1]) * np.float32(hh))
            if col < 0 or col >= ww or row < 0 or row >= hh:
                continue
            r0, c0 = max(0, row - off), max(0, col - off)
            win = hm[b, k, r0:row + off + 1, c0:col + off + 1]
            conf = (_sigmoid32(win) if act else win).ravel()
            rows, cols = np.indices(win.shape, dtype=np.float32)
            rows, cols = (rows + np.float32(r0)).ravel(), (cols + np.float32(c0)).ravel()
            total = np.cumsum(conf, dtype=np.float32)[-1]
            best = max(np.float32(0.0), np.max(np.where(np.isnan(conf), 0, conf)))
            if best >= minconf and total > 0:
                out[b, k, 0] = np.cumsum(cols * conf, dtype=np.float32)[-1] / np.float32(ww) / total
                out[b, k, 1] = np.cumsum(rows * conf, dtype=np.float32)[-1] / np.float32(hh) / total
