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
