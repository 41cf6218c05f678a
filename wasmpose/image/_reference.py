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


# ---------------------------------------------------------------------------------------------
# Affine warps (``warp_affine``, ``crop_to_tensor``; compiled in ``_warp.py``).
#
# The rules are OpenCV 5.1's ``cv::warpAffine`` as the installed ``cv2`` computes it; they were
# read in OpenCV's sources (``modules/imgproc/src/imgwarp.cpp``, ``warp_kernels.simd.hpp``,
# ``warp_common.vector.hpp``) and then confirmed pixel by pixel against ``cv2`` (OpenCV 5 no
# longer uses 4.x's fixed-point tables, ``INTER_BITS=5`` and ``INTER_REMAP_COEF_BITS=15``, for
# these types):
#
# 1. The matrix maps source to destination pixels, so it is inverted first, in float64, with
#    OpenCV's closed form (``invert_affine`` below): ``D = 1 / (a*e - b*d)``, ...
# 2. For destination pixel ``(x, y)`` the source coordinate is computed in float64,
#    ``sx = M0*x + (M1*y + M2)`` (and ``sy`` likewise).
# 3. ``INTER_NEAREST``: the pixel ``(floor(sy + 0.5), floor(sx + 0.5))`` (ties round up).
# 4. ``INTER_LINEAR``: the coordinate is rounded to float32, ``ix = floor(sx)``, and the weights are
#    the float32 fractions ``ax = sx - ix``, ``ay = sy - iy``; for maps without rotation or shear
#    (inverse with ``M1 == M3 == 0`` exactly) ``ix = floor(sx)`` of the float64 coordinate and the
#    weight is the float64 fraction rounded to float32 (cv2 5.1 computes these maps more precisely:
#    found by experiment, every value of 40 rtmlib person crops then matches with the constant
#    border). The four neighbours are blended in float32 with fused multiply-adds as OpenCV's
#    vector code does (``v_fma``)::
#
#        top = fma(ax, p01 - p00, p00); bottom = fma(ax, p11 - p10, p10)
#        value = fma(ay, bottom - top, top)
#
#    and 8-bit results are rounded half to even (``cvRound``) and saturated.
# 5. Borders: ``BORDER_CONSTANT`` gives the border value to a pixel whose 2x2 neighbourhood lies
#    entirely outside the image (``ix < -1 or ix > w - 1``, likewise for y) and blends the border
#    value in for the neighbours outside when it is partly inside; ``BORDER_REPLICATE`` clamps each
#    neighbour's index to the image. Nearest: outside pixels take the border value or the clamped
#    pixel.
#
# Measured against cv2 5.1 on random rotations, scales, shears and shifts, rule 3 matched every
# pixel and rule 4 about 99.999 % of the channel values (the rest differ by 1 at a value within
# about 1e-4 of a rounding tie: OpenCV's float32 coordinate is sometimes one or two float32 steps
# from the correctly rounded one, and the computation that gives that was not found). Maps
# without rotation matched every value with ``BORDER_CONSTANT``; with ``BORDER_REPLICATE`` cv2
# 5.1 differs from rule 4 on about 0.3 % of their values (ties round up, and more): not
# reproduced.
# ---------------------------------------------------------------------------------------------
# Coordinates are clamped to +-COORD_LIMIT before conversion to integers (far outside any image;
# keeps huge or infinite coordinates well defined).
COORD_LIMIT = float(1 << 30)


def invert_affine(m):
    """OpenCV's inverse of a (2, 3) affine map (``warpAffine`` without ``WARP_INVERSE_MAP``)."""
    a, b, c, d, e, f = (float(v) for v in np.asarray(m, np.float64).ravel())
    det = a * e - b * d
    det = 1.0 / det if det != 0.0 else 0.0
    a2, e2 = e * det, a * det
    b2, d2 = -b * det, -d * det
    c2 = -a2 * c - b2 * f
    f2 = -d2 * c - e2 * f
    return np.array([a2, b2, c2, d2, e2, f2], np.float64)


def fma32(a, b, c):
    """Correctly rounded float32 ``a * b + c`` (as the FMA instruction), in NumPy.

    The float32 product is exact in float64; the sum is rounded once to float64 (its error kept by
    TwoSum), and a result that lands exactly on a float32 midpoint is moved toward that error.
    """
    a = np.asarray(a, np.float32).astype(np.float64)
    b = np.asarray(b, np.float32).astype(np.float64)
    c = np.asarray(c, np.float32).astype(np.float64)
    p = a * b
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)
    r = s.astype(np.float32)
    lo = np.nextafter(r, np.float32(-np.inf))
    hi = np.nextafter(r, np.float32(np.inf))
    r64 = r.astype(np.float64)
    tie = (err != 0) & ((s == (r64 + lo) / 2) | (s == (r64 + hi) / 2))
    up = np.where(s > r64, hi, r)
    down = np.where(s < r64, lo, r)
    return np.where(tie, np.where(err > 0, up, down), r).astype(np.float32)


def _source_coords(m, h_out, w_out, y0=0):
    x = np.arange(w_out, dtype=np.float64)[None, :]
    y = np.arange(y0, y0 + h_out, dtype=np.float64)[:, None]
    sx = m[0] * x + (m[1] * y + m[2])
    sy = m[3] * x + (m[4] * y + m[5])
    return (np.clip(np.nan_to_num(sx, nan=-COORD_LIMIT), -COORD_LIMIT, COORD_LIMIT),
            np.clip(np.nan_to_num(sy, nan=-COORD_LIMIT), -COORD_LIMIT, COORD_LIMIT))


def _aligned(m):
    """A map without rotation or shear (exactly zero off-diagonal terms)."""
    return m[1] == 0.0 and m[3] == 0.0


def _fetch(src, iy, ix, replicate, bval):
    h, w = src.shape[:2]
    v = src[np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)].astype(np.float32)
    if not replicate:
        inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        v = np.where(inside[..., None], v, bval)
    return v


def warp_affine(src, m, dst, nearest, replicate, bval):
    """Warp into ``dst`` (H, W, C) from ``src`` (h, w, C) with the inverse map ``m`` (6,).

    ``bval`` (C,) float64 is the constant border value (already saturated for uint8).
    """
    h_out, w_out, _ = dst.shape
    if h_out == 0 or w_out == 0:
        return
    b = bval.astype(np.float32)
    sx, sy = _source_coords(m, h_out, w_out)
    if nearest:
        ix = np.floor(sx + 0.5).astype(np.int64)
        iy = np.floor(sy + 0.5).astype(np.int64)
        dst[...] = _fetch(src, iy, ix, replicate, b).astype(dst.dtype)
        return
    value = _linear(src, sx, sy, replicate, b, _aligned(m))
    if dst.dtype == np.uint8:
        value = np.clip(np.rint(value), 0, 255)
    dst[...] = value.astype(dst.dtype)


def _split(v, aligned):
    """Source cells and float32 weights of float64 coordinates (rule 4)."""
    if aligned:
        fl = np.floor(v)
        return fl.astype(np.int64), (v - fl).astype(np.float32)
    f = v.astype(np.float32)
    fl = np.floor(f)
    return fl.astype(np.int64), f - fl


def _linear(src, sx, sy, replicate, b, aligned):
    """Bilinear values (float32, ``sx.shape + (C,)``) at float64 coordinates ``sx``, ``sy``."""
    h, w = src.shape[:2]
    ix, ax = _split(sx, aligned)
    iy, ay = _split(sy, aligned)
    ax = ax[..., None]
    ay = ay[..., None]
    p00 = _fetch(src, iy, ix, replicate, b)
    p01 = _fetch(src, iy, ix + 1, replicate, b)
    p10 = _fetch(src, iy + 1, ix, replicate, b)
    p11 = _fetch(src, iy + 1, ix + 1, replicate, b)
    top = fma32(ax, p01 - p00, p00)
    bottom = fma32(ax, p11 - p10, p10)
    value = fma32(ay, bottom - top, top)
    if not replicate:
        outside = (ix < -1) | (ix > w - 1) | (iy < -1) | (iy > h - 1)
        value = np.where(outside[..., None], b, value)
    return value


def crop_to_tensor(src, ms, out, h_out, w_out, a, b, bval, perm, planar, replicate):
    """The crops of ``src`` (h, w, 3) uint8 under the inverse maps ``ms`` (N, 6), normalised.

    ``out`` is (N, 3 * h_out * w_out) float32 holding planes (``planar``) or interleaved pixels;
    the crop's uint8 value ``v`` of output channel ``c`` (input channel ``perm[c]``, border value
    ``bval[c]``, or the edge pixels when ``replicate``) becomes ``float32(v) * a[c] + b[c]``,
    exactly as ``to_tensor`` computes it: the same numbers as ``to_tensor(warp_affine(...))``
    without the intermediate image.
    """
    if h_out == 0 or w_out == 0:
        return
    src_p = src[:, :, perm]
    b_p = bval.astype(np.float32)
    for k in range(ms.shape[0]):
        sx, sy = _source_coords(ms[k], h_out, w_out)
        v = np.clip(np.rint(_linear(src_p, sx, sy, replicate, b_p, _aligned(ms[k]))), 0, 255)
        v = v.astype(np.uint8)
        t = v.astype(np.float32) * a + b
        out[k] = (t.transpose(2, 0, 1) if planar else t).reshape(-1)
