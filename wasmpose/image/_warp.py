"""Numba kernels of the affine warps: ``warp_affine`` and the fused ``crop_to_tensor``.

Same signatures and rules as ``_warp_reference.py`` (read the rules there): float64 source
coordinates, rounded to float32 for bilinear weights, float32 fused multiply-adds (LLVM's
``llvm.fma.f32``, correctly rounded on every CPU) and OpenCV's border rules. Kernels take
C-contiguous arrays validated by ``wasmpose.image``. The coordinate of each pixel is computed from
the row's float64 offset (``M1*y + M2``) plus ``M0*x``, as the reference does, so that every
variant gives the same bits. Parallel variants run ``prange`` over rows (and crops).
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

COORD_LIMIT = float(1 << 30)


@intrinsic
def _fma32(typingctx, a, b, c):
    """float32 ``a * b + c`` with one rounding (``llvm.fma.f32``)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32], ir.FunctionType(f32, [f32] * 3))
        return builder.call(fn, args)

    return sig, codegen


def _is_u8(arr):
    """Whether ``arr`` is uint8 (a compile-time constant inside kernels)."""
    return arr.dtype == np.uint8


@overload(_is_u8)
def _is_u8_typed(arr):
    value = arr.dtype == types.uint8
    return lambda arr: value


@njit(inline="always", **_SERIAL)
def _clamp_coord(v):
    if not v >= -COORD_LIMIT:  # also NaN
        return -COORD_LIMIT
    if v > COORD_LIMIT:
        return COORD_LIMIT
    return v


@njit(inline="always", **_SERIAL)
def _tap(src, w, h, cn, iy, ix, c, replicate, bval):
    """Channel ``c`` of source pixel (iy, ix) as float32, outside pixels by the border rule."""
    if replicate:
        iy = min(max(iy, 0), h - 1)
        ix = min(max(ix, 0), w - 1)
    elif iy < 0 or iy >= h or ix < 0 or ix >= w:
        return bval[c]
    return np.float32(src[(iy * w + ix) * cn + c])


@njit(**_SERIAL)
def _warp_row(src, h, w, cn, m, dst, y, nearest, replicate, bval, quantize):
    """Destination row ``y`` (flat, W*cn) of the warp of flat ``src`` (h*w*cn)."""
    w_out = dst.size // cn
    bx = m[1] * y + m[2]
    by = m[4] * y + m[5]
    for x in range(w_out):
        sxd = _clamp_coord(m[0] * x + bx)
        syd = _clamp_coord(m[3] * x + by)
        o = x * cn
        if nearest:
            ix = int(np.floor(sxd + 0.5))
            iy = int(np.floor(syd + 0.5))
            for c in range(cn):
                dst[o + c] = _tap(src, w, h, cn, iy, ix, c, replicate, bval)
            continue
        fx = np.float32(sxd)
        fy = np.float32(syd)
        flx = np.floor(fx)
        fly = np.floor(fy)
        ix = int(flx)
        iy = int(fly)
        ax = fx - flx
        ay = fy - fly
        if 0 <= ix < w - 1 and 0 <= iy < h - 1:
            j = (iy * w + ix) * cn
            j2 = j + w * cn
            for c in range(cn):
                p00 = np.float32(src[j + c])
                p01 = np.float32(src[j + cn + c])
                p10 = np.float32(src[j2 + c])
                p11 = np.float32(src[j2 + cn + c])
                top = _fma32(ax, p01 - p00, p00)
                bottom = _fma32(ax, p11 - p10, p10)
                v = _fma32(ay, bottom - top, top)
                if quantize:
                    v = min(max(np.rint(v), np.float32(0)), np.float32(255))
                dst[o + c] = v
        elif not replicate and (ix < -1 or ix > w - 1 or iy < -1 or iy > h - 1):
            for c in range(cn):
                dst[o + c] = bval[c]
        else:
            for c in range(cn):
                p00 = _tap(src, w, h, cn, iy, ix, c, replicate, bval)
                p01 = _tap(src, w, h, cn, iy, ix + 1, c, replicate, bval)
                p10 = _tap(src, w, h, cn, iy + 1, ix, c, replicate, bval)
                p11 = _tap(src, w, h, cn, iy + 1, ix + 1, c, replicate, bval)
                top = _fma32(ax, p01 - p00, p00)
                bottom = _fma32(ax, p11 - p10, p10)
                v = _fma32(ay, bottom - top, top)
                if quantize:
                    v = min(max(np.rint(v), np.float32(0)), np.float32(255))
                dst[o + c] = v


@njit(**_SERIAL)
def warp_serial(src, m, dst, nearest, replicate, bval):
    """``src`` (h, w, C) -> ``dst`` (H, W, C) under the inverse map ``m`` (6,) float64.

    ``bval`` (C,) float64 is the border value (already saturated for uint8 images).
    """
    h, w, cn = src.shape
    flat = src.reshape(-1)
    out = dst.reshape(dst.shape[0], -1)
    b = bval.astype(np.float32)
    quantize = _is_u8(dst)
    for y in range(dst.shape[0]):
        _warp_row(flat, h, w, cn, m, out[y], y, nearest, replicate, b, quantize)


@njit(**_PARALLEL)
def warp_parallel(src, m, dst, nearest, replicate, bval):
    h, w, cn = src.shape
    flat = src.reshape(-1)
    out = dst.reshape(dst.shape[0], -1)
    b = bval.astype(np.float32)
    quantize = _is_u8(dst)
    for y in prange(dst.shape[0]):
        _warp_row(flat, h, w, cn, m, out[y], y, nearest, replicate, b, quantize)


# --- crop_to_tensor -------------------------------------------------------------------------
# One output row of one crop: the bilinear uint8 value of each channel (the warp's exact
# integer, constant border) goes straight to float32 * a[c] + b[c], the to_tensor formula, with
# no intermediate image.
@njit(**_SERIAL)
def _crop_row(src, h, w, m, out, y, w_out, hw, a, b, bval, perm, planar):
    bx = m[1] * y + m[2]
    by = m[4] * y + m[5]
    p0 = perm[0]
    p1 = perm[1]
    p2 = perm[2]
    base = y * w_out
    v = np.empty(3, np.float32)
    for x in range(w_out):
        fx = np.float32(_clamp_coord(m[0] * x + bx))
        fy = np.float32(_clamp_coord(m[3] * x + by))
        flx = np.floor(fx)
        fly = np.floor(fy)
        ix = int(flx)
        iy = int(fly)
        ax = fx - flx
        ay = fy - fly
        if 0 <= ix < w - 1 and 0 <= iy < h - 1:
            j = (iy * w + ix) * 3
            j2 = j + w * 3
            for c in range(3):
                pc = p0 if c == 0 else (p1 if c == 1 else p2)
                q00 = np.float32(src[j + pc])
                q01 = np.float32(src[j + 3 + pc])
                q10 = np.float32(src[j2 + pc])
                q11 = np.float32(src[j2 + 3 + pc])
                top = _fma32(ax, q01 - q00, q00)
                bottom = _fma32(ax, q11 - q10, q10)
                v[c] = np.rint(_fma32(ay, bottom - top, top))
        elif ix < -1 or ix > w - 1 or iy < -1 or iy > h - 1:
            for c in range(3):
                v[c] = bval[c]
        else:
            for c in range(3):
                pc = p0 if c == 0 else (p1 if c == 1 else p2)
                q00 = _crop_tap(src, w, h, iy, ix, pc, bval[c])
                q01 = _crop_tap(src, w, h, iy, ix + 1, pc, bval[c])
                q10 = _crop_tap(src, w, h, iy + 1, ix, pc, bval[c])
                q11 = _crop_tap(src, w, h, iy + 1, ix + 1, pc, bval[c])
                top = _fma32(ax, q01 - q00, q00)
                bottom = _fma32(ax, q11 - q10, q10)
                v[c] = np.rint(_fma32(ay, bottom - top, top))
        for c in range(3):
            t = min(max(v[c], np.float32(0)), np.float32(255)) * a[c] + b[c]
            if planar:
                out[c * hw + base + x] = t
            else:
                out[(base + x) * 3 + c] = t


@njit(inline="always", **_SERIAL)
def _crop_tap(src, w, h, iy, ix, pc, bv):
    if iy < 0 or iy >= h or ix < 0 or ix >= w:
        return bv
    return np.float32(src[(iy * w + ix) * 3 + pc])


@njit(**_SERIAL)
def crop_to_tensor_serial(src, ms, out, h_out, w_out, a, b, bval, perm, planar):
    """Crops of ``src`` (h, w, 3) uint8 under inverse maps ``ms`` (N, 6) into ``out`` (N, 3*H*W).

    Same arguments as ``_warp_reference.crop_to_tensor``.
    """
    h, w, _ = src.shape
    flat = src.reshape(-1)
    bv = bval.astype(np.float32)
    hw = h_out * w_out
    for k in range(ms.shape[0]):
        for y in range(h_out):
            _crop_row(flat, h, w, ms[k], out[k], y, w_out, hw, a, b, bv, perm, planar)


@njit(**_PARALLEL)
def crop_to_tensor_parallel(src, ms, out, h_out, w_out, a, b, bval, perm, planar):
    h, w, _ = src.shape
    flat = src.reshape(-1)
    bv = bval.astype(np.float32)
    hw = h_out * w_out
    n = ms.shape[0]
    for t in prange(n * h_out):
        k = t // h_out
        y = t - k * h_out
        _crop_row(flat, h, w, ms[k], out[k], y, w_out, hw, a, b, bv, perm, planar)
