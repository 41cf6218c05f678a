"""Numba kernels of the entropy (KL-divergence) calibration of :mod:`wasmpose.quant`.

``entropy_kl_serial`` and ``entropy_kl_parallel`` compute the divergence of every candidate
window of every histogram, as ``_reference.entropy_kl`` does; ``calibrate(method="entropy")``
then picks the window (``_reference.first_minimum``). Every helper the kernels call lives in this
module because Numba's cache does not notice edits to other files.
"""

import numpy as np
from numba import njit, prange

from wasmpose.quant._kernels import _PARALLEL, _SERIAL

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
