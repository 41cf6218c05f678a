"""NumPy reference implementations of :mod:`wasmpose.image` (the ``OptLevel.NONE`` variants).

Each function has the same signature as its Numba kernel in ``_kernels.py`` and writes the same
result: the compiled variants are tested against these and against the peers.
"""

import numpy as np

from wasmpose.image._kernels import BINARY, BINARY_INV, TOZERO, TRUNC

GRAY_SHIFT = 15


BT601_Q15 = (9798, 19235, 3735)  # OpenCV 5: round(w * 2**15) for R, G, B
BT601 = (0.299, 0.587, 0.114)


def gray_u8(src, dst, nch, bgr):
    px = src.reshape(-1, nch)[:, 2::-1] if bgr else src.reshape(-1, nch)
    acc = sum(px[:, k].astype(np.int32) * np.int32(BT601_Q15[k]) for k in range(3))
    dst[...] = ((acc + (1 << (GRAY_SHIFT - 1))) >> GRAY_SHIFT).astype(np.uint8)


def gray_float(src, dst, nch, bgr):
    px = src.reshape(-1, nch)[:, 2::-1] if bgr else src.reshape(-1, nch)
    w = np.array(BT601, dst.dtype)
    dst[...] = px[:, 0] * w[0] + px[:, 1] * w[1] + px[:, 2] * w[2]


def threshold_u8(src, dst, kind, thresh, maxval):
    _threshold(src, dst, kind, np.uint8(thresh), np.uint8(maxval))


def threshold_f32(src, dst, kind, thresh, maxval):
    with np.errstate(over="ignore"):  # beyond the float32 range: +-inf, as the kernels' cast
        t, m = np.float32(thresh), np.float32(maxval)
    _threshold(src, dst, kind, t, m)


def _threshold(src, dst, kind, t, m):
    # masked copies: NaN fails every comparison, which gives OpenCV's NaN results
    # (binary/binary_inv -> 0, the other kinds keep NaN)
    zero = src.dtype.type(0)
    if kind in (BINARY, BINARY_INV):
        dst.fill(zero)
        np.copyto(dst, m, where=(src > t) if kind == BINARY else (src <= t))
        return
    np.copyto(dst, src)
    if kind == TRUNC:
        np.copyto(dst, t, where=src > t)
    elif kind == TOZERO:
        # float32: t is nextafter(thresh, +inf), as OpenCV's tozero compares
        np.copyto(dst, zero, where=(src < t) if src.dtype.kind == "f" else (src <= t))
    else:
        np.copyto(dst, zero, where=src > t)


def otsu(src):
    hist = np.bincount(src, minlength=256)
    return otsu_from_histogram(hist, src.size)


def otsu_from_histogram(hist, total):
    """OpenCV's ``getThreshVal_Otsu_8u``: the first bin maximising the between-class variance."""
    scale = 1.0 / total
    p = hist.astype(np.float64) * scale
    mu = float(np.dot(np.arange(256, dtype=np.float64), hist.astype(np.float64))) * scale
    eps = float(np.finfo(np.float32).eps)
    mu1 = q1 = max_sigma = max_val = 0.0
    for i in range(256):
        p_i = float(p[i])
        mu1 *= q1
        q1 += p_i
        q2 = 1.0 - q1
        if min(q1, q2) < eps or max(q1, q2) > 1.0 - eps:
            continue
        mu1 = (mu1 + i * p_i) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
        if sigma > max_sigma:
            max_sigma, max_val = sigma, float(i)
    return max_val


def normalize(x, out, eps):
    """Normalise each row of 2-D ``x`` into ``out``: statistics in float64, two passes.

    A row of finite values whose variance overflows float64 (values near 1e154 and beyond) is
    normalised as ``y = x * 2**-e``, with ``2**e`` above its largest magnitude (an exact
    scaling): ``(y - mean(y)) / sqrt(var(y) + eps * 2**-2e)``, the same quantity without the
    overflow. Rows holding inf or NaN give NaN, as IEEE arithmetic does.
    """
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):  # inf/NaN propagate silently, as in the compiled kernels
        # deviations from the first value, as the kernels: a constant row has exactly zero
        # variance (its mean computed directly may differ from its value by an ulp)
        d = x64 - x64[:, :1]
        m = d.mean(axis=1, keepdims=True)
        var = ((d - m) ** 2).mean(axis=1, keepdims=True)
        out[...] = (d - m) / np.sqrt(var + eps)
        amax = np.abs(x64).max(axis=1, initial=0.0)
        redo = np.flatnonzero(~np.isfinite(var[:, 0]) & np.isfinite(amax))
        if redo.size:
            scale = np.ldexp(1.0, -np.frexp(amax[redo])[1])[:, None]
            y = x64[redo] * scale
            my = y.mean(axis=1, keepdims=True)
            vy = ((y - my) ** 2).mean(axis=1, keepdims=True)
            out[redo] = (y - my) / np.sqrt(vy + eps * scale * scale)


def to_tensor(src, out, a, b, planar):
    n = src.shape[0]
    with np.errstate(over="ignore"):  # inf beyond the float32 range, as the kernels
        px = src.reshape(n, -1, 3).astype(np.float32) * a + b  # (N, P, 3), float32 as kernels
    if planar:
        out[...] = px.transpose(0, 2, 1).reshape(n, -1)
    else:
        out[...] = px.reshape(n, -1)
