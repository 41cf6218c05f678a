"""Numba kernels of the affine warps: ``warp_affine`` and the fused ``crop_to_tensor``.

Same signatures and rules as ``_reference.py`` (read the rules there): float64 source
coordinates, rounded to float32 for bilinear weights, float32 fused multiply-adds (LLVM's
``llvm.fma.f32``, correctly rounded on every CPU) and OpenCV's border rules. Kernels take
C-contiguous arrays validated by ``wasmpose.image``.

Every output row is first computed as float32 values (``_row_values``), then stored (warp) or
normalised (crop). Maps without rotation or shear (what rtmlib's and mmpose's crops and
letterboxing use) are separable: where every row of a block has the same float32 x coordinates
and a row the same float32 y coordinate in every column (checked, see ``_x_table``), the
horizontal blend ``fma(ax, p01 - p00, p00)`` of a source row is the same for every output row
that reads it, so it is computed once per source row (two rows cached) and output rows only do
the vertical blend. The arithmetic is the per-pixel rule's, operation for operation, so both
give the same bits. Parallel variants run ``prange`` over blocks of ``ROWS`` rows (and crops).
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

COORD_LIMIT = float(1 << 30)
# (v + MAGIC) - MAGIC rounds a float32 0 <= v < 2**22 half to even (cvRound) without a call.
MAGIC = np.float32(12582912.0)
# Output rows per parallel task.
ROWS = 16


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


def _unaligned_load(bits):
    """An intrinsic ``load(arr, idx)``: the ``bits // 8`` bytes of the uint8 array ``arr`` from
    index ``idx`` as one little-endian unsigned integer (one unaligned load; the caller keeps
    ``idx + bits // 8 <= arr.size``)."""
    result = getattr(types, f"uint{bits}")

    @intrinsic
    def load(typingctx, arr, idx):
        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(bits).as_pointer())
            return builder.load(ptr, align=1)

        return result(arr, idx), codegen

    return load


_load_u64 = _unaligned_load(64)
_load_u32 = _unaligned_load(32)


@njit(inline="always", **_SERIAL)
def _clamp_coord(v):
    if not v >= -COORD_LIMIT:  # also NaN
        return -COORD_LIMIT
    if v > COORD_LIMIT:
        return COORD_LIMIT
    return v


@njit(inline="always", **_SERIAL)
def _split(v, aligned):
    """Source cell and float32 weight of a float64 coordinate (the reference's rule 4)."""
    if aligned:
        fl = np.floor(v)
        return int(fl), np.float32(v - fl)
    f = np.float32(v)
    flf = np.floor(f)
    return int(flf), f - flf


@njit(inline="always", **_SERIAL)
def _tap(src, w, h, cn, iy, ix, c, replicate, bval):
    """Channel ``c`` of source pixel (iy, ix) as float32, outside pixels by the border rule."""
    if replicate:
        iy = min(max(iy, 0), h - 1)
        ix = min(max(ix, 0), w - 1)
    elif iy < 0 or iy >= h or ix < 0 or ix >= w:
        return bval[c]
    return np.float32(src[(iy * w + ix) * cn + c])


@njit(inline="always", **_SERIAL)
def _round_u8(v):
    """cvRound and saturation of a float32 blend of uint8 values (always in [0, 255])."""
    return min(max((v + MAGIC) - MAGIC, np.float32(0)), np.float32(255))


@njit(inline="always", **_SERIAL)
def _pixel(src, h, w, cn, m, y, x, nearest, replicate, bval, quantize, vals):
    """Destination pixel (y, x) by the general rule into ``vals[x*cn:(x+1)*cn]`` (float32)."""
    sxd = _clamp_coord(m[0] * x + (m[1] * y + m[2]))
    syd = _clamp_coord(m[3] * x + (m[4] * y + m[5]))
    o = x * cn
    if nearest:
        ix = int(np.floor(sxd + 0.5))
        iy = int(np.floor(syd + 0.5))
        for c in range(cn):
            vals[o + c] = _tap(src, w, h, cn, iy, ix, c, replicate, bval)
        return
    aligned = m[1] == 0.0 and m[3] == 0.0
    ix, ax = _split(sxd, aligned)
    iy, ay = _split(syd, aligned)
    if not replicate and (ix < -1 or ix > w - 1 or iy < -1 or iy > h - 1):
        for c in range(cn):
            vals[o + c] = bval[c]
        return
    inside = 0 <= ix < w - 1 and 0 <= iy < h - 1
    j = (iy * w + ix) * cn
    j2 = j + w * cn
    for c in range(cn):
        if inside:
            p00 = np.float32(src[j + c])
            p01 = np.float32(src[j + cn + c])
            p10 = np.float32(src[j2 + c])
            p11 = np.float32(src[j2 + cn + c])
        else:
            p00 = _tap(src, w, h, cn, iy, ix, c, replicate, bval)
            p01 = _tap(src, w, h, cn, iy, ix + 1, c, replicate, bval)
            p10 = _tap(src, w, h, cn, iy + 1, ix, c, replicate, bval)
            p11 = _tap(src, w, h, cn, iy + 1, ix + 1, c, replicate, bval)
        top = _fma32(ax, p01 - p00, p00)
        bottom = _fma32(ax, p11 - p10, p10)
        v = _fma32(ay, bottom - top, top)
        vals[o + c] = _round_u8(v) if quantize else v


@njit(**_SERIAL)
def _x_table(m, w, y0, y1, ixs, axs):
    """``ix`` and ``ax`` of every output column, valid for all rows [y0, y1) when the first
    return value is True; then also the columns ``[xlo, xhi)`` whose two source columns are
    inside the image.

    A column's float32 coordinate ``float32(M0*x + (M1*y + M2))`` is monotonic in y (each
    rounding is monotonic), so equal values at y0 and y1 - 1 mean equal values in between: for
    maps without rotation (M1 == 0) or with the 1e-17 residues that rtmlib's float32 matrices
    leave, the table holds for the whole block, bit for bit as the per-pixel rule.
    """
    xlo = ixs.size
    xhi = 0
    aligned = m[1] == 0.0 and m[3] == 0.0
    ya = m[1] * y0 + m[2]
    yb = m[1] * (y1 - 1) + m[2]
    for x in range(ixs.size):
        ix, ax = _split(_clamp_coord(m[0] * x + ya), aligned)
        ix_b, ax_b = _split(_clamp_coord(m[0] * x + yb), aligned)
        if ix != ix_b or ax != ax_b:
            return False, 0, 0
        ixs[x] = ix
        axs[x] = ax
        if 0 <= ix < w - 1:
            xlo = min(xlo, x)
            xhi = x + 1
    return True, xlo, xhi


@njit(**_SERIAL)
def _hpass(src, w, cn, r, ixs, axs, xlo, xhi, buf):
    """Horizontal blends of source row ``r`` for the columns [xlo, xhi) into ``buf``."""
    base = r * w * cn
    if cn == 3:  # spelled out: 3x faster than the loop over channels (measured)
        for x in range(xlo, xhi):
            j = base + ixs[x] * 3
            ax = axs[x]
            o = (x - xlo) * 3
            p0 = np.float32(src[j])
            buf[o] = _fma32(ax, np.float32(src[j + 3]) - p0, p0)
            p0 = np.float32(src[j + 1])
            buf[o + 1] = _fma32(ax, np.float32(src[j + 4]) - p0, p0)
            p0 = np.float32(src[j + 2])
            buf[o + 2] = _fma32(ax, np.float32(src[j + 5]) - p0, p0)
        return
    for x in range(xlo, xhi):
        j = base + ixs[x] * cn
        ax = axs[x]
        o = (x - xlo) * cn
        for c in range(cn):
            p0 = np.float32(src[j + c])
            p1 = np.float32(src[j + cn + c])
            buf[o + c] = _fma32(ax, p1 - p0, p0)


@njit(inline="always", **_SERIAL)
def _uniform_row(m, y, h, w_out):
    """``(iy, ay, uniform)`` of output row ``y``: ``uniform`` when its float32 y coordinate is
    the same in every column (it is monotonic in x: equal at both ends, equal throughout) and
    its two source rows are inside the image."""
    aligned = m[1] == 0.0 and m[3] == 0.0
    by = m[4] * y + m[5]
    iy, ay = _split(_clamp_coord(m[3] * 0 + by), aligned)
    iy_b, ay_b = _split(_clamp_coord(m[3] * (w_out - 1) + by), aligned)
    return iy, ay, 0 <= iy < h - 1 and iy == iy_b and ay == ay_b


@njit(inline="always", **_SERIAL)
def _cache_slots(rows, iy):
    """Which of the two cached horizontal passes hold source rows ``iy`` and ``iy + 1``
    (``rows`` their row numbers): ``(top, bottom, fill_top, fill_bottom)``, ``rows`` updated
    for the slots the caller must fill."""
    t = 0 if rows[0] == iy else (1 if rows[1] == iy else -1)
    b = 0 if rows[0] == iy + 1 else (1 if rows[1] == iy + 1 else -1)
    fill_t = t < 0
    if fill_t:
        t = 1 - b if b >= 0 else 0
        rows[t] = iy
    fill_b = b < 0
    if fill_b:
        b = 1 - t
        rows[b] = iy + 1
    return t, b, fill_t, fill_b


@njit(**_SERIAL)
def _row_values(src, h, w, cn, m, y, nearest, replicate, bval, quantize, vals, sep, ixs, axs,
                xlo, xhi, hb, hrow, scratch):
    """Output row ``y`` as float32 values (rounded when ``quantize``) into ``vals`` (W*cn).

    With ``sep`` (``ixs``/``axs``/``[xlo, xhi)`` from ``_x_table`` valid for this row), rows
    whose y coordinate is the same float32 in every column and inside the image blend two
    cached horizontal passes ``hb[0]``, ``hb[1]`` (their source rows in ``hrow``); every other
    pixel takes the general rule.
    """
    w_out = vals.size // cn
    if sep and xlo < xhi:
        iy, ay, uniform = _uniform_row(m, y, h, w_out)
        if uniform:
            t, b, fill_t, fill_b = _cache_slots(hrow, iy)
            if fill_t:
                _hpass(src, w, cn, iy, ixs, axs, xlo, xhi, hb[t])
            if fill_b:
                _hpass(src, w, cn, iy + 1, ixs, axs, xlo, xhi, hb[b])
            top_row = hb[t]
            bottom_row = hb[b]
            o0 = xlo * cn
            if quantize:  # two loops: no branch in the vectorised body
                for i in range((xhi - xlo) * cn):
                    top = top_row[i]
                    vals[o0 + i] = _round_u8(_fma32(ay, bottom_row[i] - top, top))
            else:
                for i in range((xhi - xlo) * cn):
                    top = top_row[i]
                    vals[o0 + i] = _fma32(ay, bottom_row[i] - top, top)
            for x in range(xlo):
                _pixel(src, h, w, cn, m, y, x, nearest, replicate, bval, quantize, vals)
            for x in range(xhi, w_out):
                _pixel(src, h, w, cn, m, y, x, nearest, replicate, bval, quantize, vals)
            return
    if nearest:
        for x in range(w_out):
            _pixel(src, h, w, cn, m, y, x, nearest, replicate, bval, quantize, vals)
    else:
        _linear_row(src, h, w, cn, m, y, replicate, bval, quantize, vals, scratch)


@njit(inline="always", **_SERIAL)
def _blend_bytes(g0, g1, axb, ayb, vals, c, cn):
    """Channel ``c`` of a row from the packed bytes ``g0`` (row iy) and ``g1`` (row iy + 1) of
    each pixel: rule 4's three fused multiply-adds, rounded."""
    mask = np.uint64(255)
    s0 = np.uint64(8 * c)
    s1 = np.uint64(8 * (c + cn))
    for x in range(axb.size):
        ax = axb[x]
        a = g0[x]
        b = g1[x]
        p00 = np.float32((a >> s0) & mask)
        p10 = np.float32((b >> s0) & mask)
        top = _fma32(ax, np.float32((a >> s1) & mask) - p00, p00)
        bottom = _fma32(ax, np.float32((b >> s1) & mask) - p10, p10)
        vals[x * cn + c] = _round_u8(_fma32(ayb[x], bottom - top, top))


@njit(**_SERIAL)
def _scratch(w_out):
    """Per-row work arrays of ``_linear_row`` (one set per block of rows)."""
    return (np.empty(w_out, np.int64), np.empty(w_out, np.float32), np.empty(w_out, np.float32),
            np.empty(w_out, np.int8), np.empty((2, w_out), np.uint64))


@njit(inline="always", **_SERIAL)
def _row_cells(m0, bx, m3, by, h, w, cn, aligned, jbuf, axb, ayb, okb):
    """Cells (the byte offset of the top-left neighbour, clamped into the image), weights and
    state (0: the 2x2 neighbours inside, 2: all outside, 1: between) of a row's pixels, as
    ``_split(_clamp_coord(...))`` per pixel, written without calls or branches so that LLVM
    vectorises it; returns how many pixels are not inside."""
    lim = COORD_LIMIT
    stride = w * cn
    nbad = 0
    for x in range(jbuf.size):
        sx = m0 * x + bx
        sy = m3 * x + by
        sx = sx if sx >= -lim else -lim  # also NaN
        sy = sy if sy >= -lim else -lim
        sx = sx if sx <= lim else lim
        sy = sy if sy <= lim else lim
        if aligned:
            flx = np.floor(sx)
            fly = np.floor(sy)
            ax = np.float32(sx - flx)
            ay = np.float32(sy - fly)
        else:
            fx = np.float32(sx)
            fy = np.float32(sy)
            flx = np.floor(fx)
            fly = np.floor(fy)
            ax = fx - flx
            ay = fy - fly
        ix = np.int64(flx)
        iy = np.int64(fly)
        ok = (ix >= 0) & (ix < w - 1) & (iy >= 0) & (iy < h - 1)
        away = (ix < -1) | (ix > w - 1) | (iy < -1) | (iy > h - 1)
        okb[x] = np.int8(1) - np.int8(ok) + np.int8(away)  # 0 inside, 2 entirely outside
        nbad += np.int64(1) - np.int64(ok)
        jbuf[x] = min(max(iy, 0), h - 2) * stride + min(max(ix, 0), w - 2) * cn
        axb[x] = ax
        ayb[x] = ay
    return nbad


@njit(**_SERIAL)
def _linear_row(src, h, w, cn, m, y, replicate, bval, quantize, vals, scratch):
    """Row ``y`` by the general bilinear rule.

    8-bit images (``quantize``) in three passes, as OpenCV's vector code: the cells and weights
    of the row; the two source rows' ``2 * cn`` bytes of every pixel with one 8-byte load each
    (``_load_u64``: many independent loads in flight instead of twelve byte loads interleaved
    with arithmetic); the blends per channel over the row. Pixels not entirely inside take
    ``_pixel`` afterwards. float32 images (and more than 4 channels) blend pixel by pixel.
    """
    w_out = vals.size // cn
    bx = m[1] * y + m[2]
    by = m[4] * y + m[5]
    m0 = m[0]
    m3 = m[3]
    stride = w * cn
    aligned = m[1] == 0.0 and m[3] == 0.0
    if not quantize or cn > 4:  # float32 images, or too many channels for one 8-byte load
        for x in range(w_out):
            ix, ax = _split(_clamp_coord(m0 * x + bx), aligned)
            iy, ay = _split(_clamp_coord(m3 * x + by), aligned)
            if 0 <= ix < w - 1 and 0 <= iy < h - 1:
                j = iy * stride + ix * cn
                o = x * cn
                for c in range(cn):
                    p00 = np.float32(src[j + c])
                    p10 = np.float32(src[j + stride + c])
                    top = _fma32(ax, np.float32(src[j + cn + c]) - p00, p00)
                    bottom = _fma32(ax, np.float32(src[j + stride + cn + c]) - p10, p10)
                    v = _fma32(ay, bottom - top, top)
                    vals[o + c] = _round_u8(v) if quantize else v
            else:
                _pixel(src, h, w, cn, m, y, x, False, replicate, bval, quantize, vals)
        return
    jbuf, axb, ayb, okb, g = scratch
    g0 = g[0]
    g1 = g[1]
    if aligned:
        nbad = _row_cells(m0, bx, m3, by, h, w, cn, True, jbuf, axb, ayb, okb)
    else:
        nbad = _row_cells(m0, bx, m3, by, h, w, cn, False, jbuf, axb, ayb, okb)
    n = src.size
    for x in range(w_out):
        j = jbuf[x]
        j2 = j + stride
        if j2 + 8 <= n:
            g0[x] = _load_u64(src, j)
            g1[x] = _load_u64(src, j2)
        else:  # the last pixels of the image: byte by byte, never past its end
            a = np.uint64(0)
            b = np.uint64(0)
            for k in range(2 * cn):
                a |= np.uint64(src[j + k]) << np.uint64(8 * k)
                b |= np.uint64(src[j2 + k]) << np.uint64(8 * k)
            g0[x] = a
            g1[x] = b
    # the channel count as a constant in each branch: stores of stride 3 vectorise, of a
    # run-time stride not
    if cn == 3:
        for c in range(3):
            _blend_bytes(g0, g1, axb, ayb, vals, c, 3)
    elif cn == 4:
        for c in range(4):
            _blend_bytes(g0, g1, axb, ayb, vals, c, 4)
    else:
        for c in range(cn):
            _blend_bytes(g0, g1, axb, ayb, vals, c, cn)
    if nbad:
        for x in range(w_out):
            st = okb[x]
            if st == 2 and not replicate:  # the border value, as _pixel gives it
                for c in range(cn):
                    vals[x * cn + c] = bval[c]
            elif st != 0:
                _pixel(src, h, w, cn, m, y, x, False, replicate, bval, quantize, vals)


@njit(**_SERIAL)
def _warp_block(flat, h, w, cn, m, out, y0, y1, nearest, replicate, bval, quantize):
    """Rows [y0, y1) of the warp into ``out`` (H, W*cn)."""
    w_out = out.shape[1] // cn
    ixs = np.empty(w_out, np.int64)
    axs = np.empty(w_out, np.float32)
    sep, xlo, xhi = _x_table(m, w, y0, y1, ixs, axs)
    sep = sep and not nearest
    hb = np.empty((2, max(xhi - xlo, 0) * cn), np.float32)
    hrow = np.full(2, -2, np.int64)
    vals = np.empty(w_out * cn, np.float32)
    scratch = _scratch(w_out)
    for y in range(y0, y1):
        _row_values(flat, h, w, cn, m, y, nearest, replicate, bval, quantize, vals, sep, ixs,
                    axs, xlo, xhi, hb, hrow, scratch)
        row = out[y]
        for i in range(vals.size):
            row[i] = vals[i]


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
    n = out.shape[0]
    for y0 in range(0, n, ROWS):  # blocks as the parallel variant: same separable checks
        _warp_block(flat, h, w, cn, m, out, y0, min(n, y0 + ROWS), nearest, replicate, b,
                    quantize)


@njit(**_PARALLEL)
def warp_parallel(src, m, dst, nearest, replicate, bval):
    h, w, cn = src.shape
    flat = src.reshape(-1)
    out = dst.reshape(dst.shape[0], -1)
    b = bval.astype(np.float32)
    quantize = _is_u8(dst)
    n = out.shape[0]
    for k in prange((n + ROWS - 1) // ROWS):
        _warp_block(flat, h, w, cn, m, out, k * ROWS, min(n, (k + 1) * ROWS), nearest,
                    replicate, b, quantize)


# --- crop_to_tensor -------------------------------------------------------------------------
# Each crop row: the warp's exact uint8 values (float32 after rounding, constant or replicated
# border, input channel order), then float32(v) * a[c] + b[c] (the to_tensor formula) into
# the batch; a row buffer, no intermediate image.
@njit(**_SERIAL)
def _hpass_planar(src, base, ixs, axs, xlo, xhi, lo, hi, buf):
    """Horizontal blends of the 3-channel source row starting at ``base`` for the columns
    [xlo, xhi) into the planes ``buf[c, :]``: the same operations as ``_hpass``, in two passes
    (two unaligned 4-byte loads per column, then the blends per channel over contiguous
    arrays, which LLVM vectorises)."""
    nx = xhi - xlo
    for i in range(nx):
        j = base + ixs[xlo + i] * 3
        lo[i] = _load_u32(src, j)  # p0 c0, c1, c2, p1 c0
        hi[i] = _load_u32(src, j + 2)  # p0 c2, p1 c0, c1, c2
    mask = np.uint32(255)
    for c in range(3):
        s0 = np.uint32(8 * c)
        s1 = np.uint32(8 * c + 8)
        row = buf[c]
        for i in range(nx):
            p0 = np.float32(np.int32((lo[i] >> s0) & mask))
            p1 = np.float32(np.int32((hi[i] >> s1) & mask))
            row[i] = _fma32(axs[xlo + i], p1 - p0, p0)


@njit(inline="always", **_SERIAL)
def _vblend_normalise(top, bottom, ay, o, step, a, b):
    """``float32(round(fma(ay, bottom - top, top))) * a + b`` into ``o[::step]``."""
    if step == 1:
        for i in range(top.size):
            t = top[i]
            o[i] = _round_u8(_fma32(ay, bottom[i] - t, t)) * a + b
    else:
        for i in range(top.size):
            t = top[i]
            o[i * 3] = _round_u8(_fma32(ay, bottom[i] - t, t)) * a + b


@njit(**_SERIAL)
def _crop_block(flat, h, w, m, out, y0, y1, w_out, a, b, bval_in, perm, planar, replicate):
    hw = out.size // 3
    ixs = np.empty(w_out, np.int64)
    axs = np.empty(w_out, np.float32)
    sep, xlo, xhi = _x_table(m, w, y0, y1, ixs, axs)
    nx = max(xhi - xlo, 0)
    hb = np.empty((2, nx * 3), np.float32)
    hp = np.empty((2, 3, nx), np.float32)  # the planar cache of the fast rows
    lo = np.empty(nx, np.uint32)
    hi = np.empty(nx, np.uint32)
    hrow = np.full(2, -2, np.int64)
    prow = np.full(2, -2, np.int64)
    vals = np.empty(w_out * 3, np.float32)
    scratch = _scratch(w_out)
    p0 = perm[0]  # perm is (0, 1, 2) or (2, 1, 0)
    a0, a1, a2 = a[0], a[1], a[2]
    b0, b1, b2 = b[0], b[1], b[2]
    for y in range(y0, y1):
        base = y * w_out
        if sep and nx > 0:
            # rows whose float32 y is the same in every column and inside the image: cached
            # planar horizontal passes, then the vertical blend and normalisation per plane
            iy, ay, uniform = _uniform_row(m, y, h, w_out)
            if uniform:
                t, bb, fill_t, fill_b = _cache_slots(prow, iy)
                if fill_t:
                    _hpass_planar(flat, iy * w * 3, ixs, axs, xlo, xhi, lo, hi, hp[t])
                if fill_b:
                    _hpass_planar(flat, (iy + 1) * w * 3, ixs, axs, xlo, xhi, lo, hi, hp[bb])
                if planar:
                    o0 = out[base + xlo:base + xhi]
                    o1 = out[hw + base + xlo:hw + base + xhi]
                    o2 = out[2 * hw + base + xlo:2 * hw + base + xhi]
                    step = 1
                else:
                    o0 = out[3 * (base + xlo):3 * (base + xhi)]
                    o1 = out[3 * (base + xlo) + 1:3 * (base + xhi)]
                    o2 = out[3 * (base + xlo) + 2:3 * (base + xhi)]
                    step = 3
                k0 = p0
                k2 = 2 - p0
                _vblend_normalise(hp[t, k0], hp[bb, k0], ay, o0, step, a0, b0)
                _vblend_normalise(hp[t, 1], hp[bb, 1], ay, o1, step, a1, b1)
                _vblend_normalise(hp[t, k2], hp[bb, k2], ay, o2, step, a2, b2)
                if xlo > 0 or xhi < w_out:  # the columns at the frame's edges
                    for x in range(xlo):
                        _pixel(flat, h, w, 3, m, y, x, False, replicate, bval_in, True, vals)
                    for x in range(xhi, w_out):
                        _pixel(flat, h, w, 3, m, y, x, False, replicate, bval_in, True, vals)
                    _normalise_cols(vals, out, base, hw, 0, xlo, p0, a, b, planar)
                    _normalise_cols(vals, out, base, hw, xhi, w_out, p0, a, b, planar)
                continue
        _row_values(flat, h, w, 3, m, y, False, replicate, bval_in, True, vals, sep, ixs, axs,
                    xlo, xhi, hb, hrow, scratch)
        if p0 == 0:
            _normalise_row(vals, out, base, w_out, hw, 0, 2, a0, a1, a2, b0, b1, b2, planar)
        else:
            _normalise_row(vals, out, base, w_out, hw, 2, 0, a0, a1, a2, b0, b1, b2, planar)


@njit(**_SERIAL)
def _normalise_cols(vals, out, base, hw, x0, x1, p0, a, b, planar):
    """Columns [x0, x1) of a row of values into the batch (the general, slow columns)."""
    for x in range(x0, x1):
        for c in range(3):
            v = vals[3 * x + (c if p0 == 0 else 2 - c)] * a[c] + b[c]
            if planar:
                out[c * hw + base + x] = v
            else:
                out[3 * (base + x) + c] = v


@njit(inline="always", **_SERIAL)
def _normalise_row(vals, out, base, w_out, hw, k0, k2, a0, a1, a2, b0, b1, b2, planar):
    """``float32(v) * a[c] + b[c]`` of a row into the batch: output channel 0 from input
    channel ``k0``, 2 from ``k2`` (constants after inlining, so the loops vectorise)."""
    if planar:
        o0 = out[base:base + w_out]
        o1 = out[hw + base:hw + base + w_out]
        o2 = out[2 * hw + base:2 * hw + base + w_out]
        for x in range(w_out):
            j = 3 * x
            o0[x] = vals[j + k0] * a0 + b0
            o1[x] = vals[j + 1] * a1 + b1
            o2[x] = vals[j + k2] * a2 + b2
    else:
        o = out[3 * base:3 * (base + w_out)]
        for x in range(w_out):
            j = 3 * x
            o[j] = vals[j + k0] * a0 + b0
            o[j + 1] = vals[j + 1] * a1 + b1
            o[j + 2] = vals[j + k2] * a2 + b2


@njit(**_SERIAL)
def _input_order(bval, perm):
    """The border value per input channel (``bval`` is given per output channel)."""
    bv = np.empty(3, np.float32)
    for c in range(3):
        bv[perm[c]] = bval[c]
    return bv


@njit(**_SERIAL)
def crop_to_tensor_serial(src, ms, out, h_out, w_out, a, b, bval, perm, planar, replicate):
    """Crops of ``src`` (h, w, 3) uint8 under inverse maps ``ms`` (N, 6) into ``out`` (N, 3*H*W).

    Same arguments as ``_reference.crop_to_tensor``; ``perm`` is (0, 1, 2) or (2, 1, 0).
    """
    h, w, _ = src.shape
    flat = src.reshape(-1)
    bv = _input_order(bval, perm)
    for k in range(ms.shape[0]):
        for y0 in range(0, h_out, ROWS):
            _crop_block(flat, h, w, ms[k], out[k], y0, min(h_out, y0 + ROWS), w_out, a, b, bv,
                        perm, planar, replicate)


@njit(**_PARALLEL)
def crop_to_tensor_parallel(src, ms, out, h_out, w_out, a, b, bval, perm, planar, replicate):
    h, w, _ = src.shape
    flat = src.reshape(-1)
    bv = _input_order(bval, perm)
    nb = (h_out + ROWS - 1) // ROWS
    for t in prange(ms.shape[0] * nb):
        k = t // nb
        y0 = (t - k * nb) * ROWS
        _crop_block(flat, h, w, ms[k], out[k], y0, min(h_out, y0 + ROWS), w_out, a, b, bv, perm,
                    planar, replicate)
