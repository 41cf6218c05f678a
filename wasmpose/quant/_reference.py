"""NumPy reference implementations of :mod:`wasmpose.quant` (the ``OptLevel.NONE`` variants).

Each kernel function has the same signature as its Numba kernel in ``_kernels.py`` and writes the
same result: the compiled variants are tested against these and against PyTorch. This module also
holds the calibration helpers that only exist in NumPy (percentile ranges, the KL-divergence
threshold search).
"""

import numpy as np

_F32 = np.float32


def fma32(x, inv, zp):
    """``x * inv + zp`` rounded once to float32 (an exact fused multiply-add), elementwise.

    ``x * inv`` is exact in float64 (24 + 24 significant bits); the sum is exact as a float64
    pair ``s + err`` (TwoSum), and the only case where rounding ``s`` to float32 differs from
    rounding the exact value is when ``s`` lies exactly halfway between two float32 numbers: then
    the sign of ``err`` decides.
    """
    p = np.asarray(x, np.float64) * np.float64(inv)
    c = np.float64(zp)
    with np.errstate(invalid="ignore", over="ignore"):
        s = p + c
        bb = s - p
        err = (p - (s - bb)) + (c - bb)
        f = s.astype(_F32)
        f64 = f.astype(np.float64)
        toward = np.where(s > f64, _F32(np.inf), _F32(-np.inf))
        g = np.nextafter(f, toward).astype(np.float64)
        mid = (f64 != s) & ((s - f64) == (g - s))
        pick_g = mid & (((g > f64) & (err > 0)) | ((g < f64) & (err < 0)))
        return np.where(pick_g, g, f64).astype(_F32)


def _store(out, t, lo, hi):
    with np.errstate(invalid="ignore"):
        np.copyto(out, np.rint(np.clip(t, lo, hi)).astype(np.int32), casting="unsafe")


# --- quantize ---------------------------------------------------------------------------------
def quantize_tensor(x, out, inv, zp, lo, hi):
    """``out = clamp(rint(fma(x, inv, zp)), lo, hi)``; returns whether ``x`` holds a NaN."""
    nan = bool(np.isnan(x).any())
    _store(out, fma32(x, inv, zp), lo, hi)
    return nan


def quantize_channel(x, out, inv, zp, lo, hi):
    """Per channel on (outer, C, inner): ``rint((x * inv[c]) + zp[c])``, two float32 roundings."""
    nan = bool(np.isnan(x).any())
    with np.errstate(invalid="ignore", over="ignore"):
        t = (x * inv[None, :, None]).astype(_F32) + zp[None, :, None]
    _store(out, t, lo, hi)
    return nan


# --- dequantize -------------------------------------------------------------------------------
def dequantize_tensor(q, out, scale, zp):
    np.multiply((q.astype(np.int32) - zp).astype(_F32), _F32(scale), out=out)


def dequantize_channel(q, out, scale, zp):
    d = (q.astype(np.int32) - zp[None, :, None]).astype(_F32)
    np.multiply(d, scale[None, :, None], out=out)


# --- min/max of the finite values ---------------------------------------------------------------
def minmax(bits):
    x = bits.view(_F32)
    fin = x[np.isfinite(x)]
    if fin.size == 0:
        return _F32(np.inf), _F32(-np.inf)
    return _F32(fin.min()), _F32(fin.max())


def minmax_channel(bits, mn, mx):
    x = bits.view(_F32)
    fin = np.isfinite(x)
    mn[...] = np.where(fin, x, _F32(np.inf)).min(axis=(0, 2), initial=np.inf)
    mx[...] = np.where(fin, x, _F32(-np.inf)).max(axis=(0, 2), initial=-np.inf)


# --- 4-bit packing ------------------------------------------------------------------------------
def pack4(pairs, out, signed):
    b = pairs.view(np.uint8).reshape(-1, 2)
    out[...] = (b[:, 0] & 0x0F) | ((b[:, 1] & 0x0F) << 4)
    v = b.view(np.int8) if signed else b
    lo, hi = (-8, 7) if signed else (0, 15)
    return bool(b.size) and bool(v.min() < lo or v.max() > hi)


def unpack4(packed, pairs, signed):
    b = pairs.view(np.uint8).reshape(-1, 2)
    lo = packed & 0x0F
    hi = packed >> 4
    if signed:
        lo = ((lo ^ 8) - 8) & 0xFF
        hi = ((hi ^ 8) - 8) & 0xFF
    b[:, 0] = lo
    b[:, 1] = hi


# --- calibration helpers (NumPy only) ------------------------------------------------------------
def percentile_range(x, pct, symmetric):
    """The clipping range of the finite values of flat ``x`` as (low, high) float64.

    Symmetric: ``(-t, t)`` with ``t`` the ``pct`` percentile of ``|x|``; affine: the ``100 - pct``
    and ``pct`` percentiles of ``x`` (NumPy's default linear interpolation).
    ``x`` is scratch: it is overwritten (the callers pass a copy of the finite values, so that
    ``np.percentile`` need not make another).
    """
    if symmetric:
        t = float(np.percentile(np.abs(x, out=x), pct, overwrite_input=True))
        return -t, t
    lo, hi = np.percentile(x, [100.0 - pct, pct], overwrite_input=True)
    return float(lo), float(hi)


def smooth_distribution(p, eps=0.0001):
    """ONNX Runtime's ``smooth_distribution``: zeros get ``eps``, non-zeros give it back.

    Returns None when every entry is zero.
    """
    is_zeros = (p == 0).astype(_F32)
    is_nonzeros = (p != 0).astype(_F32)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    hist = p.astype(_F32)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    return hist


def _kl(p, q):
    # scipy.stats.entropy(p, q) on float32 inputs: normalise, rel_entr in float32, sum
    p = p / np.sum(p)
    q = q / np.sum(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (p.astype(np.float64) * np.log(p.astype(np.float64) / q.astype(np.float64)))
    r = np.where(p > 0, r, 0.0).astype(p.dtype)
    return np.sum(r)


def _window_kl(hist, csum, i, num_quantized_bins):
    """KL divergence (float32 value as a float, inf when undefined) of the window of half-width
    ``i`` around the zero bin, as one iteration of ONNX Runtime's ``get_entropy_threshold``."""
    num_bins = hist.size
    zero = num_bins // 2
    total = csum[-1]
    start = zero - i
    end = min(zero + i + 1, num_bins)
    sliced = hist[start:end]
    p = sliced.copy()
    p[0] += csum[start]
    p[-1] += total - csum[end]
    nonzero = (p != 0).astype(np.int64)
    m = sliced.size // num_quantized_bins
    used = num_quantized_bins * m
    qb = sliced[:used].reshape(num_quantized_bins, m).sum(axis=1)
    qb[-1] += sliced[used:].sum()
    norm = nonzero[:used].reshape(num_quantized_bins, m).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(norm != 0, qb / np.maximum(norm, 1), 0.0).astype(np.int64)
    q = np.zeros(p.size, np.int64)
    q[:used] = np.repeat(per, m)
    ps = smooth_distribution(p)
    qs = smooth_distribution(q)
    return np.inf if ps is None or qs is None else float(_F32(_kl(ps, qs)))


def entropy_kl(hists, num_quantized_bins, kl):
    """KL divergence of every candidate window of every histogram (the entropy search's work).

    ``hists`` (C, B) int64 counts, each symmetric around its zero bin ``B // 2``; ``kl`` (C, W)
    float32 receives, for ``W = B // 2 - num_quantized_bins // 2 + 1`` windows of half-width
    ``i = num_quantized_bins // 2 + w``, the divergence of ``get_entropy_threshold`` (inf where
    ONNX Runtime's smoothing gives up). Pick the window with :func:`first_minimum`.
    """
    half = num_quantized_bins // 2
    for c in range(hists.shape[0]):
        hist = hists[c]
        csum = np.concatenate(([0], np.cumsum(hist)))
        for w in range(kl.shape[1]):
            kl[c, w] = _window_kl(hist, csum, half + w, num_quantized_bins)


def first_minimum(kl):
    """Index of the first minimum of each row of ``kl`` (C, W); 0 when a row has none below inf.

    The threshold loop of ``get_entropy_threshold`` keeps a window only when its divergence is
    strictly below the best so far, so NaN never wins and ties go to the first (narrowest) one.
    """
    k = np.where(np.isnan(kl), np.inf, kl)
    return np.argmin(k, axis=1)


def entropy_threshold(hist, edges, num_quantized_bins):
    """TensorRT's KL-divergence threshold search as ONNX Runtime's ``get_entropy_threshold``.

    ``hist`` (B,) int64 counts over ``edges`` (B + 1,), a histogram symmetric around 0.
    Returns the ``(low, high)`` edges of the window with the least KL divergence between the
    clipped distribution ``p`` and its ``num_quantized_bins``-level quantisation ``q`` (first
    minimum on ties). The per-window merging and expansion are vectorised; ``q`` is truncated
    to integers as ONNX Runtime does.
    """
    num_bins = hist.size
    zero = num_bins // 2
    half = num_quantized_bins // 2
    csum = np.concatenate(([0], np.cumsum(hist)))
    best_i, best_kl = half, np.inf
    for i in range(half, zero + 1):
        kl = _window_kl(hist, csum, i, num_quantized_bins)
        if kl < best_kl:
            best_i, best_kl = i, kl
    start = zero - best_i
    end = min(zero + best_i + 1, num_bins)
    return float(edges[start]), float(edges[end])
