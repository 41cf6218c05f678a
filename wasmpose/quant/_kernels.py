"""Numba kernels of :mod:`wasmpose.quant`: a serial and a parallel variant of each.

Every kernel takes C-contiguous arrays already validated by ``wasmpose.quant`` and has the same
signature as its NumPy reference in ``_reference.py``. Per-channel kernels see the input as
``(outer, C, inner)``: the channel axis in the middle, everything before it flattened into
``outer`` and everything after it into ``inner``.

Rounding follows PyTorch exactly (see ``docs/quantization.md``):

- per tensor, ``rint(fma(x, 1/scale, zero_point))``: one rounding of ``x * inv + zp`` to float32
  (FBGEMM's AVX2 ``_mm256_fmadd_ps``), done here with LLVM's ``llvm.fma.f32`` intrinsic so the
  result never depends on whether the compiler contracts ``a * b + c``;
- per channel, ``rint((x * inv) + zp)`` with two float32 roundings and no contraction (Numba
  does not contract without ``fastmath``).

Min/max reductions run on order-preserving int32 keys of the float32 bits: integer min/max
reductions vectorise, float ones did not (LLVM needs ``nnan`` to vectorise them, which would also
let it drop the finiteness test). All helpers live in this module because Numba's cache does not
notice edits to other files; the entropy calibration's KL search, which shares no helper with
these kernels, is in ``_kernels_entropy.py``.
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

# Elements per parallel block.
BLOCK = 1 << 16

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

_EXP_MASK = np.int32(0x7F800000)
_ABS_MASK = np.int32(0x7FFFFFFF)
_KEY_HI = np.int32(0x7FFFFFFF)  # sentinel: above every finite key
_KEY_LO = np.int32(-0x80000000)  # sentinel: below every finite key


@intrinsic
def fma32(typingctx, a, b, c):
    """``a * b + c`` in float32 with a single rounding (``llvm.fma.f32``)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f], ir.FunctionType(f, [f, f, f]))
        return builder.call(fn, args)

    return sig, codegen


# --- quantize ---------------------------------------------------------------------------------
@njit(**_SERIAL)
def quantize_tensor_serial(x, out, inv, zp, lo, hi):
    """``out = clamp(rint(fma(x, inv, zp)), lo, hi)``; returns whether ``x`` holds a NaN.

    ``x`` flat float32, ``out`` flat int8 or uint8; ``inv``, ``zp``, ``lo``, ``hi`` float32.
    """
    nan = False
    for i in range(x.size):
        v = x[i]
        nan |= v != v
        t = min(max(fma32(v, inv, zp), lo), hi)
        out[i] = np.int32(np.rint(t))
    return nan


@njit(**_PARALLEL)
def quantize_tensor_parallel(x, out, inv, zp, lo, hi):
    n = x.size
    nb = (n + BLOCK - 1) // BLOCK
    nan = 0
    for b in prange(nb):
        s = b * BLOCK
        e = min(n, s + BLOCK)
        nan += quantize_tensor_serial(x[s:e], out[s:e], inv, zp, lo, hi)
    return nan > 0


@njit(**_SERIAL)
def _quantize_row(x, out, inv, zp, lo, hi):
    nan = False
    for i in range(x.size):
        v = x[i]
        nan |= v != v
        t = min(max((v * inv) + zp, lo), hi)
        out[i] = np.int32(np.rint(t))
    return nan


@njit(**_SERIAL)
def _quantize_lanes(x, out, inv, zp, lo, hi):
    # rows of C values, channel c in lane c (the channel axis is the last one)
    nan = False
    c = inv.size
    for r in range(x.size // c):
        o = r * c
        for j in range(c):
            v = x[o + j]
            nan |= v != v
            t = min(max((v * inv[j]) + zp[j], lo), hi)
            out[o + j] = np.int32(np.rint(t))
    return nan


@njit(**_SERIAL)
def quantize_channel_serial(x, out, inv, zp, lo, hi):
    """Per-channel quantize of ``x`` (outer, C, inner) float32 with ``inv``/``zp`` (C,) float32.

    ``rint((x * inv[c]) + zp[c])`` with two roundings, clamped to [lo, hi]; returns NaN found.
    """
    outer, c, inner = x.shape
    if inner == 1:
        return _quantize_lanes(x.ravel(), out.ravel(), inv, zp, lo, hi)
    nan = False
    for o in range(outer):
        for j in range(c):
            nan |= _quantize_row(x[o, j], out[o, j], inv[j], zp[j], lo, hi)
    return nan


@njit(**_PARALLEL)
def quantize_channel_parallel(x, out, inv, zp, lo, hi):
    outer, c, inner = x.shape
    nan = 0
    if inner == 1:
        rows = max(1, BLOCK // c)
        nb = (outer + rows - 1) // rows
        for b in prange(nb):
            s = b * rows
            e = min(outer, s + rows)
            nan += _quantize_lanes(x[s:e].ravel(), out[s:e].ravel(), inv, zp, lo, hi)
        return nan > 0
    for k in prange(outer * c):
        o = k // c
        j = k - o * c
        nan += _quantize_row(x[o, j], out[o, j], inv[j], zp[j], lo, hi)
    return nan > 0


# --- dequantize -------------------------------------------------------------------------------
@njit(**_SERIAL)
def dequantize_tensor_serial(q, out, scale, zp):
    """``out = float32(q - zp) * scale`` for flat int8/uint8 ``q``, float32 ``scale``."""
    for i in range(q.size):
        out[i] = np.float32(np.int32(q[i]) - zp) * scale


@njit(**_PARALLEL)
def dequantize_tensor_parallel(q, out, scale, zp):
    n = q.size
    nb = (n + BLOCK - 1) // BLOCK
    for b in prange(nb):
        s = b * BLOCK
        e = min(n, s + BLOCK)
        dequantize_tensor_serial(q[s:e], out[s:e], scale, zp)


@njit(**_SERIAL)
def _dequantize_lanes(q, out, scale, zp):
    c = scale.size
    for r in range(q.size // c):
        o = r * c
        for j in range(c):
            out[o + j] = np.float32(np.int32(q[o + j]) - zp[j]) * scale[j]


@njit(**_SERIAL)
def dequantize_channel_serial(q, out, scale, zp):
    """Per-channel dequantize of ``q`` (outer, C, inner) with ``scale`` float32, ``zp`` int32."""
    outer, c, inner = q.shape
    if inner == 1:
        _dequantize_lanes(q.ravel(), out.ravel(), scale, zp)
        return
    for o in range(outer):
        for j in range(c):
            dequantize_tensor_serial(q[o, j], out[o, j], scale[j], zp[j])


@njit(**_PARALLEL)
def dequantize_channel_parallel(q, out, scale, zp):
    outer, c, inner = q.shape
    if inner == 1:
        rows = max(1, BLOCK // c)
        nb = (outer + rows - 1) // rows
        for b in prange(nb):
            s = b * rows
            e = min(outer, s + rows)
            _dequantize_lanes(q[s:e].ravel(), out[s:e].ravel(), scale, zp)
        return
    for k in prange(outer * c):
        o = k // c
        j = k - o * c
        dequantize_tensor_serial(q[o, j], out[o, j], scale[j], zp[j])


# --- min/max of the finite values ---------------------------------------------------------------
@njit(**_SERIAL)
def _key(b):
    # order-preserving int32 key of float32 bits; non-finite values give (lo, hi) sentinels
    finite = (b & _EXP_MASK) != _EXP_MASK
    k = b ^ ((b >> 31) & _ABS_MASK)
    return k if finite else _KEY_HI, k if finite else _KEY_LO


@njit(**_SERIAL)
def _minmax_keys(bits):
    kmin = _KEY_HI
    kmax = _KEY_LO
    for i in range(bits.size):
        a, b = _key(bits[i])
        kmin = min(kmin, a)
        kmax = max(kmax, b)
    return kmin, kmax


@njit(**_SERIAL)
def _from_key(k):
    b = k ^ ((k >> 31) & _ABS_MASK)
    return np.array([b], dtype=np.int32).view(np.float32)[0]


@njit(**_SERIAL)
def minmax_serial(bits):
    """Min and max of the finite float32 values whose bits (int32, flat) are ``bits``.

    Returns ``(min, max)`` as float32, ``(inf, -inf)`` when no value is finite.
    """
    kmin, kmax = _minmax_keys(bits)
    if kmin > kmax:
        return np.float32(np.inf), np.float32(-np.inf)
    return _from_key(kmin), _from_key(kmax)


@njit(**_PARALLEL)
def minmax_parallel(bits):
    n = bits.size
    nb = (n + BLOCK - 1) // BLOCK
    kmins = np.empty(nb, np.int32)
    kmaxs = np.empty(nb, np.int32)
    for b in prange(nb):
        s = b * BLOCK
        e = min(n, s + BLOCK)
        kmins[b], kmaxs[b] = _minmax_keys(bits[s:e])
    kmin = _KEY_HI
    kmax = _KEY_LO
    for b in range(nb):
        kmin = min(kmin, kmins[b])
        kmax = max(kmax, kmaxs[b])
    if kmin > kmax:
        return np.float32(np.inf), np.float32(-np.inf)
    return _from_key(kmin), _from_key(kmax)


@njit(**_SERIAL)
def _minmax_lanes(bits, kmin, kmax):
    c = kmin.size
    for r in range(bits.size // c):
        o = r * c
        for j in range(c):
            a, b = _key(bits[o + j])
            kmin[j] = min(kmin[j], a)
            kmax[j] = max(kmax[j], b)


@njit(**_SERIAL)
def _channel_result(kmin, kmax, mn, mx):
    for j in range(kmin.size):
        if kmin[j] > kmax[j]:
            mn[j] = np.inf
            mx[j] = -np.inf
        else:
            mn[j] = _from_key(kmin[j])
            mx[j] = _from_key(kmax[j])


@njit(**_SERIAL)
def minmax_channel_serial(bits, mn, mx):
    """Per-channel min/max of finite values; ``bits`` (outer, C, inner) int32 views of float32.

    Writes ``mn``, ``mx`` (C,) float32 (``inf``/``-inf`` for channels without finite values).
    """
    outer, c, inner = bits.shape
    kmin = np.full(c, _KEY_HI, np.int32)
    kmax = np.full(c, _KEY_LO, np.int32)
    if inner == 1:
        _minmax_lanes(bits.ravel(), kmin, kmax)
    else:
        for o in range(outer):
            for j in range(c):
                a, b = _minmax_keys(bits[o, j])
                kmin[j] = min(kmin[j], a)
                kmax[j] = max(kmax[j], b)
    _channel_result(kmin, kmax, mn, mx)


@njit(**_PARALLEL)
def minmax_channel_parallel(bits, mn, mx):
    outer, c, inner = bits.shape
    if inner == 1:
        rows = max(1, BLOCK // c)
        nb = (outer + rows - 1) // rows
        kmins = np.full((nb, c), _KEY_HI, np.int32)
        kmaxs = np.full((nb, c), _KEY_LO, np.int32)
        for b in prange(nb):
            s = b * rows
            e = min(outer, s + rows)
            _minmax_lanes(bits[s:e].ravel(), kmins[b], kmaxs[b])
        kmin = np.full(c, _KEY_HI, np.int32)
        kmax = np.full(c, _KEY_LO, np.int32)
        for b in range(nb):
            for j in range(c):
                kmin[j] = min(kmin[j], kmins[b, j])
                kmax[j] = max(kmax[j], kmaxs[b, j])
    else:
        nb = outer * c
        rmin = np.empty(nb, np.int32)
        rmax = np.empty(nb, np.int32)
        for k in prange(nb):
            o = k // c
            rmin[k], rmax[k] = _minmax_keys(bits[o, k - o * c])
        kmin = np.full(c, _KEY_HI, np.int32)
        kmax = np.full(c, _KEY_LO, np.int32)
        for k in range(nb):
            j = k % c
            kmin[j] = min(kmin[j], rmin[k])
            kmax[j] = max(kmax[j], rmax[k])
    _channel_result(kmin, kmax, mn, mx)


# --- 4-bit packing ------------------------------------------------------------------------------
# Pairs are handled as little-endian uint16 words: byte 2k is the low nibble of output byte k.
@njit(**_SERIAL)
def pack4_serial(pairs, out, signed):
    """``out[k] = (q[2k] & 15) | (q[2k+1] << 4)`` with ``pairs`` the uint16 view of ``q``.

    Returns whether a value lies outside the 4-bit range (-8..7 if ``signed``, else 0..15).
    """
    bad = np.uint16(0)
    if signed:
        for k in range(pairs.size):
            w = pairs[k]
            lo = w & np.uint16(0xFF)
            hi = w >> np.uint16(8)
            bad |= ((lo + np.uint16(8)) | (hi + np.uint16(8))) & np.uint16(0xF0)
            out[k] = np.uint8((w & np.uint16(0x0F)) | ((w >> np.uint16(4)) & np.uint16(0xF0)))
    else:
        for k in range(pairs.size):
            w = pairs[k]
            bad |= w & np.uint16(0xF0F0)
            out[k] = np.uint8((w & np.uint16(0x0F)) | ((w >> np.uint16(4)) & np.uint16(0xF0)))
    return bad != 0


@njit(**_PARALLEL)
def pack4_parallel(pairs, out, signed):
    n = pairs.size
    nb = (n + BLOCK - 1) // BLOCK
    bad = 0
    for b in prange(nb):
        s = b * BLOCK
        e = min(n, s + BLOCK)
        bad += pack4_serial(pairs[s:e], out[s:e], signed)
    return bad > 0


@njit(**_SERIAL)
def unpack4_serial(packed, pairs, signed):
    """Inverse of :func:`pack4_serial`: nibbles back to bytes, sign-extended when ``signed``."""
    if signed:
        for k in range(packed.size):
            b = np.int32(packed[k])
            lo = (((b & 15) ^ 8) - 8) & 0xFF
            hi = (((b >> 4) ^ 8) - 8) & 0xFF
            pairs[k] = np.uint16(lo | (hi << 8))
    else:
        for k in range(packed.size):
            b = np.uint16(packed[k])
            pairs[k] = (b & np.uint16(0x0F)) | ((b & np.uint16(0xF0)) << np.uint16(4))


@njit(**_PARALLEL)
def unpack4_parallel(packed, pairs, signed):
    n = packed.size
    nb = (n + BLOCK - 1) // BLOCK
    for b in prange(nb):
        s = b * BLOCK
        e = min(n, s + BLOCK)
        unpack4_serial(packed[s:e], pairs[s:e], signed)
