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
notice edits to other files.
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


# --- entropy (KL-divergence) calibration ---------------------------------------------------------
# The divergence of each candidate window is computed with the float semantics of the NumPy
# reference (``_reference._window_kl``, itself ONNX Runtime's ``get_entropy_threshold``), so that
# the chosen window is the same: counts smoothed in float32, sums with NumPy's pairwise summation
# in float32 (``pairwise_sum`` of numpy/_core/src/umath/loops_utils.h.src: 8 accumulators, halves
# above 128 elements), ``p * log(p / q)`` in float64 rounded to float32. The divergence terms of
# the empty bins of a block share one value (one log per block); the other work is O(window).
_PW_BLOCK = 128
_STACK = 256  # pairwise_sum32's stack: 3 entries per halving (at most 60 for int64 sizes)
_SMOOTH_EPS = 0.0001
_MEMO = 16  # terms of counts and block values below this are memoised per window


@njit(**_SERIAL)
def _pairwise_leaf(a, lo, n):
    if n < 8:
        res = np.float32(0.0)
        for k in range(lo, lo + n):
            res += a[k]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    stop = lo + n - n % 8
    for k in range(lo + 8, stop, 8):
        r0 += a[k]
        r1 += a[k + 1]
        r2 += a[k + 2]
        r3 += a[k + 3]
        r4 += a[k + 4]
        r5 += a[k + 5]
        r6 += a[k + 6]
        r7 += a[k + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for k in range(stop, lo + n):
        res += a[k]
    return res


@njit(**_SERIAL)
def pairwise_sum32(a, lo, n, stack):
    """``np.sum(a[lo:lo + n])`` of float32 ``a``, bit for bit (NumPy's pairwise summation).

    NumPy halves a range above 128 elements (the first half a multiple of 8) and adds the two
    sums; here the recursion runs on ``stack``, float64 (``_STACK``, 3) scratch (a cached
    recursive Numba function crashed when called from another one).
    """
    if n <= _PW_BLOCK:
        return np.float32(0.0) + _pairwise_leaf(a, lo, n)
    # ranges to do in columns 0-1 (size -1: add the two sums on top), finished sums in column 2
    nv = 0
    stack[0, 0] = lo
    stack[0, 1] = n
    top = 1
    while top:
        top -= 1
        s = np.int64(stack[top, 0])
        k = np.int64(stack[top, 1])
        if k < 0:
            nv -= 1
            stack[nv - 1, 2] = np.float32(stack[nv - 1, 2]) + np.float32(stack[nv, 2])
        elif k <= _PW_BLOCK:
            stack[nv, 2] = _pairwise_leaf(a, s, k)
            nv += 1
        else:
            k2 = k // 2
            k2 -= k2 % 8
            stack[top, 1] = -1
            stack[top + 1, 0] = s + k2
            stack[top + 1, 1] = k - k2
            stack[top + 2, 0] = s
            stack[top + 2, 1] = k2
            top += 3
    return np.float32(0.0) + np.float32(stack[0, 2])


@njit(**_SERIAL)
def _kl_term(pn, qn):
    """scipy's ``rel_entr`` of float32 ``pn``, ``qn`` in float64, rounded to float32."""
    if pn > 0:
        p64 = np.float64(pn)
        return np.float32(p64 * np.log(p64 / np.float64(qn)))
    return np.float32(0.0)


@njit(**_SERIAL)
def _smooth_eps(n_zeros, n):
    """``-eps1`` of ``smooth_distribution`` as float32 (``n_zeros`` of ``n`` entries are 0)."""
    return np.float32(-(_SMOOTH_EPS * np.float64(n_zeros) / np.float64(n - n_zeros)))


@njit(**_SERIAL)
def _window_kl(hist, pre, i, qbins, pc, ps, r, memo, seen, stamp, stack):
    """KL divergence of the window of half-width ``i`` (float32; inf when undefined).

    ``pre`` (3, B + 1) int64 from :func:`_prefix`; ``pc`` int64 (2B,), ``ps`` float32 (B + 1,)
    and ``r`` float32 (B,) scratch; ``memo`` float32 and ``seen`` int64
    (``_MEMO ** 2``,) the term cache, valid where ``seen`` equals ``stamp`` (unique for each
    window computed with this scratch); ``stack`` the scratch of :func:`pairwise_sum32`.
    """
    nb = hist.size
    csum = pre[0]
    cnz = pre[1]
    zero = nb // 2
    start = zero - i
    end = min(zero + i + 1, nb)
    n = end - start
    # p: the window's counts with the outliers added to its end bins
    for k in range(n):
        pc[k] = hist[start + k]
    pc[0] += csum[start]
    pc[n - 1] += csum[nb] - csum[end]
    fix0 = np.int64(pc[0] != 0) - np.int64(hist[start] != 0)  # p's non-empty bins vs hist's
    fix1 = np.int64(pc[n - 1] != 0) - np.int64(hist[end - 1] != 0)
    nonzero = cnz[end] - cnz[start] + fix0 + fix1
    if nonzero == 0:
        return np.float32(np.inf)
    eps = np.float32(_SMOOTH_EPS)
    ep = _smooth_eps(n - nonzero, n)
    for k in range(n):
        c = pc[k]
        ps[k] = eps if c == 0 else np.float32(c) + ep
    sp = pairwise_sum32(ps, 0, n, stack)
    # q: each of qbins blocks of m bins gets its sum (of the window without outliers, the rest
    # going to the last block) over its non-empty bins of p, truncated; the rest bins get 0
    m = n // qbins
    used = qbins * m
    qzeros = n - used
    for j in range(qbins):
        s = start + j * m
        nz = cnz[s + m] - cnz[s]
        if j == 0:
            nz += fix0
        if j == qbins - 1:
            if used == n:
                nz += fix1
        qv = 0
        if nz:
            qv = ((csum[end] if j == qbins - 1 else csum[s + m]) - csum[s]) // nz
        pc[nb + j] = qv  # block values after the window's counts (pc holds 2B)
        if qv == 0:
            qzeros += m
    if qzeros == n:
        return np.float32(np.inf)
    eq = _smooth_eps(qzeros, n)
    for j in range(qbins):
        qv = pc[nb + j]
        v = eps if qv == 0 else np.float32(qv) + eq
        for k in range(j * m, j * m + m):
            r[k] = v
    for k in range(used, n):
        r[k] = eps
    sq = pairwise_sum32(r, 0, n, stack)
    # terms: a term depends only on the bin's count and its block's value. Each block is filled
    # with the term of its empty bins, then the non-empty bins (``pre[2]`` lists those of hist)
    # get theirs; terms of small counts and values are memoised for this window.
    pz = eps / sp
    for j in range(qbins + 1):
        s = j * m
        e = s + m if j < qbins else n
        if s >= e:
            continue
        qv = pc[nb + j] if j < qbins else 0
        qn = r[s] / sq
        ps[j] = qn  # ps is free now: it holds the blocks' q
        if qv < _MEMO:
            key = qv * _MEMO
            if seen[key] != stamp:
                seen[key] = stamp
                memo[key] = _kl_term(pz, qn)
            tz = memo[key]
        else:
            tz = _kl_term(pz, qn)
        for k in range(s, e):
            r[k] = tz
    nzi = pre[2]
    first = cnz[start]
    last = cnz[end]
    for t in range(first - fix0, last + fix1):
        if t < first:
            k = 0  # the outliers made p's first bin non-empty
        elif t >= last:
            k = n - 1
        else:
            k = nzi[t] - start
        c = pc[k]
        j = min(k // m, qbins)
        qv = pc[nb + j] if j < qbins else 0
        if qv < _MEMO and c < _MEMO:
            key = qv * _MEMO + c
            if seen[key] != stamp:
                seen[key] = stamp
                memo[key] = _kl_term((np.float32(c) + ep) / sp, ps[j])
            r[k] = memo[key]
        else:
            r[k] = _kl_term((np.float32(c) + ep) / sp, ps[j])
    return pairwise_sum32(r, 0, n, stack)


@njit(**_SERIAL)
def _prefix(hist, pre):
    """``pre[0]``: prefix sums of ``hist``; ``pre[1]``: prefix counts of its non-empty bins;
    ``pre[2]``: the indices of its non-empty bins."""
    pre[0, 0] = 0
    pre[1, 0] = 0
    for k in range(hist.size):
        pre[0, k + 1] = pre[0, k] + hist[k]
        pre[1, k + 1] = pre[1, k] + (hist[k] != 0)
        if hist[k] != 0:
            pre[2, pre[1, k]] = k


@njit(**_SERIAL)
def _kl_scratch(nb):
    """The scratch arrays of one KL search over histograms of ``nb`` bins (see _window_kl)."""
    return (np.empty(2 * nb, np.int64), np.empty(nb + 1, np.float32), np.empty(nb, np.float32),
            np.empty(_MEMO * _MEMO, np.float32), np.zeros(_MEMO * _MEMO, np.int64),
            np.empty((_STACK, 3), np.float64))


@njit(**_SERIAL)
def entropy_kl_serial(hists, qbins, kl):
    """KL divergence of every candidate window of every histogram, as ``_reference.entropy_kl``.

    ``hists`` (C, B) int64, ``kl`` (C, W) float32 with ``W = B // 2 - qbins // 2 + 1``.
    """
    nc, nb = hists.shape
    nw = kl.shape[1]
    half = qbins // 2
    pre = np.empty((3, nb + 1), np.int64)
    pc, ps, r, memo, seen, stack = _kl_scratch(nb)
    for c in range(nc):
        _prefix(hists[c], pre)
        for w in range(nw):
            kl[c, w] = _window_kl(hists[c], pre, half + w, qbins, pc, ps, r, memo, seen,
                                  c * nw + w + 1, stack)


@njit(**_PARALLEL)
def entropy_kl_parallel(hists, qbins, kl):
    nc, nb = hists.shape
    nw = kl.shape[1]
    half = qbins // 2
    pres = np.empty((nc, 3, nb + 1), np.int64)
    for c in prange(nc):
        _prefix(hists[c], pres[c])
    # 64 strided shares of the (channel, window) pairs: each gets narrow and wide windows alike
    # (balanced work) and allocates its scratch once
    nt = nc * nw
    shares = min(nt, 64)
    for b in prange(shares):
        pc, ps, r, memo, seen, stack = _kl_scratch(nb)
        for t in range(b, nt, shares):
            c = t // nw
            w = t - c * nw
            kl[c, w] = _window_kl(hists[c], pres[c], half + w, qbins, pc, ps, r, memo, seen,
                                  t + 1, stack)
