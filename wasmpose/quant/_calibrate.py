"""``calibrate``: a range of the data (min/max, percentile or entropy), then torch's formula."""

from __future__ import annotations

import numpy as np

from wasmpose import _checks
from wasmpose.quant import _reference as _ref
from wasmpose.quant._common import (
    DTYPES,
    F32,
    bool_arg,
    contig,
    describe,
    float32,
    norm_axis,
    real_in,
    split3,
)
from wasmpose.quant._dispatch import ENTROPY, MINMAX, MINMAX_CHANNEL
from wasmpose.quant._params import QuantParams, qrange

SCHEMES = ("affine", "symmetric")
METHODS = ("minmax", "percentile", "entropy")
# the KL search is quadratic in the bins: one 100k-value channel took 0.9 s with 8192 bins and
# 22 s with 65536 (2-core machine under load, FULL)
MAX_BINS = 1 << 16
_EPS32 = np.finfo(np.float32).eps
_F32_MAX = np.finfo(np.float32).max


def _wide(fin):
    """Whether the finite float32 values ``fin`` span more than float32 can subtract."""
    if fin.size == 0:
        return False
    with np.errstate(over="ignore"):
        return not np.isfinite(np.float32(fin.max()) - np.float32(fin.min()))


def _clip_range(fin, method, pct, symmetric, bins, qbins):
    """(low, high) of the clipping ``method`` on the finite values ``fin``; (inf, -inf) if none.

    ``fin`` is a scratch copy: the percentile method reorders it."""
    if method == "entropy":
        lo, hi = _entropy_ranges([fin], bins, qbins)
        return lo[0], hi[0]
    if fin.size == 0:
        return np.inf, -np.inf
    if _wide(fin):  # NumPy's float32 interpolation would overflow between the values
        fin = fin.astype(np.float64)
    return _ref.percentile_range(fin, pct, symmetric)


def _entropy_ranges(rows, bins, qbins):
    """(low, high), each (len(rows),) float64, of the entropy method on each array of finite
    values in ``rows``: one KL search over all their histograms; (inf, -inf) for empty rows."""
    lo = np.full(len(rows), np.inf)
    hi = np.full(len(rows), -np.inf)
    full = [j for j, r in enumerate(rows) if r.size]
    hists = np.empty((len(full), bins), np.int64)
    edges = []
    for k, j in enumerate(full):
        r = rows[j]
        mn, mx = r.min(), r.max()
        t = np.float32(max(abs(mn), abs(mx)))
        if t > _F32_MAX / 2:  # the float32 histogram range (2 t wide) would overflow
            r, t = r.astype(np.float64), float(t)
        hists[k], e = np.histogram(r, bins, range=(-t, t))
        edges.append(e)
        lo[j], hi[j] = mn, mx
    kl = np.empty((len(full), bins // 2 - qbins // 2 + 1), F32)
    if full:
        ENTROPY(hists.nbytes + kl.nbytes, hists, qbins, kl)
    zero = bins // 2
    for j, i, e in zip(full, _ref.first_minimum(kl) + qbins // 2, edges, strict=True):
        lo[j] = max(float(e[zero - i]), lo[j])
        hi[j] = min(float(e[min(zero + i + 1, bins)]), hi[j])
    return lo, hi


def tensor_range(x, method, *opts):
    """(low, high) float32 of the finite values of float32 ``x``; (inf, -inf) when empty."""
    if x.size == 0:
        return np.float32(np.inf), np.float32(-np.inf)
    if method == "minmax":
        flat = contig(x).reshape(-1)
        lo, hi = MINMAX(flat.nbytes, flat.view(np.int32))
    else:
        f = x.ravel()
        lo, hi = _clip_range(f[np.isfinite(f)], method, *opts)
    if lo > hi:
        raise ValueError(f"x: expected at least one finite value, got {x.size} non-finite values")
    return np.float32(lo), np.float32(hi)


def channel_range(x, axis, method, *opts):
    """(low, high), each (C,) float32, of the finite values of each channel along ``axis``."""
    c = x.shape[axis]
    if c == 0:
        raise ValueError(f"x: expected at least one channel along axis {axis}, got shape "
                         f"{x.shape}")
    mn = np.full(c, np.inf, F32)
    mx = np.full(c, -np.inf, F32)
    if x.size == 0:
        return mn, mx
    if method == "minmax":
        x3 = contig(x).reshape(split3(x.shape, axis))
        MINMAX_CHANNEL(x3.nbytes + mn.nbytes + mx.nbytes, x3.view(np.int32), mn, mx)
    else:
        rows = [row[np.isfinite(row)] for row in np.moveaxis(x, axis, 0).reshape(c, -1)]
        if method == "entropy":
            mn[...], mx[...] = _entropy_ranges(rows, *opts[-2:])
        else:
            for j, row in enumerate(rows):
                mn[j], mx[j] = _clip_range(row, method, *opts)
    empty = np.flatnonzero(mn > mx)
    if empty.size:
        raise ValueError(f"x: expected finite values in every channel, got none in channel(s) "
                         f"{empty[:8].tolist()}")
    return mn, mx


def qparams(lo, hi, dtype, symmetric, reduce_range, axis, name="x"):
    """Torch's ``_calculate_qparams`` in float32: scale and zero point from the range.

    A range too wide for a float32 scale (torch returns ``scale=inf``, with which nothing can
    be quantised) is a ``ValueError`` about ``name``, the data the range came from.
    """
    qlo, qhi = qrange(dtype, reduce_range)
    sym_zp = DTYPES[dtype][3]
    lo = np.asarray(lo, F32)
    hi = np.asarray(hi, F32)
    if lo.size and np.all(lo == np.inf) and np.all(hi == -np.inf):  # torch: no data seen
        scale = np.ones(lo.shape, F32)
        zp = np.zeros(lo.shape, np.int32)
    else:
        min_neg = np.minimum(lo, np.float32(0))
        max_pos = np.maximum(hi, np.float32(0))
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            if symmetric:
                max_pos = np.maximum(-min_neg, max_pos)
                scale = np.maximum(max_pos / np.float32((qhi - qlo) / 2), _EPS32).astype(F32)
            else:
                scale = np.maximum((max_pos - min_neg) / np.float32(qhi - qlo),
                                   _EPS32).astype(F32)
        bad = ~np.isfinite(scale)  # only the affine span max_pos - min_neg can overflow
        if np.any(bad):
            where = "" if axis is None else f" in channel(s) {np.flatnonzero(bad)[:8].tolist()}"
            k = np.flatnonzero(bad.ravel())[0]
            raise ValueError(
                f"{name}: expected a range of at most {float(_F32_MAX):.7g} (float32's largest "
                f"value) from min(low, 0) to max(high, 0), got [{float(lo.ravel()[k]):.7g}, "
                f"{float(hi.ravel()[k]):.7g}]{where}: its scale overflows float32 (torch "
                f"returns scale=inf)")
        if not symmetric:
            zp = qlo - np.rint(min_neg / scale).astype(np.int64)
            zp = np.clip(zp, qlo, qhi).astype(np.int32)
        else:
            zp = np.full(lo.shape, sym_zp, np.int32)
    if axis is None:
        return QuantParams(scale[()], zp[()], dtype, None, reduce_range)
    return QuantParams(scale, zp, dtype, axis, reduce_range)


def calib_options(dtype, scheme, method, percentile, reduce_range, bins, quantized_bins):
    """The validated options of :func:`calibrate`: ``(dtype, symmetric, reduce_range, opts)``
    with ``opts = (method, percentile, symmetric, bins, quantized_bins)``."""
    dtype = _checks.choice(dtype, "dtype", tuple(DTYPES))
    scheme = _checks.choice(scheme, "scheme", SCHEMES)
    method = _checks.choice(method, "method", METHODS)
    sym = scheme == "symmetric"
    if sym:
        pct = real_in(percentile, "percentile", 0, 100)
    else:  # the range is [100 - p, p]: below 50 it would be upside down
        pct = real_in(percentile, "percentile", 50, 100, lo_open=False)
    bool_arg(reduce_range, "reduce_range")
    if reduce_range and sym and dtype in ("uint8", "uint4"):
        raise ValueError(f"reduce_range: not supported with scheme='symmetric' and {dtype} "
                         f"(torch refuses it too), got reduce_range=True")
    levels = DTYPES[dtype][1] - DTYPES[dtype][0] + 1
    qbins = (levels // 2 if quantized_bins is None
             else _checks.integer(quantized_bins, "quantized_bins", minimum=2))
    if qbins > MAX_BINS:
        raise ValueError(f"quantized_bins: expected an int in [2, {MAX_BINS}], got "
                         f"{describe(qbins)}")
    bins = _checks.integer(bins, "bins")
    if not qbins <= bins <= MAX_BINS:
        raise ValueError(f"bins: expected an int in [{qbins}, {MAX_BINS}] (at least "
                         f"quantized_bins), got {describe(bins)}")
    return dtype, sym, bool(reduce_range), (method, pct, sym, bins, qbins)


def calibrate(x, *, dtype="int8", scheme="affine", axis=None, method="minmax", percentile=99.99,
              reduce_range=False, bins=2048, quantized_bins=None):
    """Scale and zero point for ``x``, per tensor or per channel.

    Every method picks a range ``[low, high]`` of the finite values of ``x`` and turns it into
    parameters with torch's observer formula (in float32): affine ``scale = (max(high, 0) -
    min(low, 0)) / (qmax - qmin)``, ``zero_point = qmin - rint(min(low, 0) / scale)`` clamped;
    symmetric ``scale = max(|low|, |high|) / ((qmax - qmin) / 2)`` with the fixed zero point (0
    signed, 128 uint8, 8 uint4); ``scale`` is at least float32 epsilon.

    Parameters
    ----------
    x : ndarray, float16, float32 or float64, any shape
        Calibration data (computed in float32). Non-finite values are ignored (float64 values
        beyond float32's range are infinities in float32, ignored as well). Byte-swapped
        arrays are accepted; subclasses are used as ``np.asarray`` sees them (an
        ``np.matrix`` as its 2-D array); masked arrays are refused.
    dtype : {"int8", "uint8", "int4", "uint4"}
    scheme : {"affine", "symmetric"}
    axis : int, optional
        Channel axis for per-channel parameters (C = ``x.shape[axis]``, at least 1).
    method : {"minmax", "percentile", "entropy"}
        ``"minmax"``: the full range, identical to ``torch.ao.quantization.MinMaxObserver`` /
        ``PerChannelMinMaxObserver`` with the matching dtype, qscheme and reduce_range.
        ``"percentile"``: the ``percentile`` of ``|x|`` (symmetric) or the ``100 - percentile``
        and ``percentile`` percentiles of ``x`` (affine). ``"entropy"``: the KL-divergence
        threshold search of TensorRT as ONNX Runtime's Entropy calibrator implements it, on a
        histogram of ``bins`` bins over ``[-max|x|, max|x|]`` with ``quantized_bins`` levels.
    percentile : float, default 99.99
        In (0, 100] for the symmetric scheme, in [50, 100] for the affine one (whose range
        ``[100 - percentile, percentile]`` would otherwise be upside down).
    reduce_range : bool, default False
        Calibrate for one bit less (torch's ``reduce_range``).
    bins : int, default 2048
        Histogram bins of the entropy method, from ``quantized_bins`` to 65536 (the search is
        quadratic in them). TensorRT uses 2048; ONNX Runtime's default of 128 with 128
        quantized bins leaves a single candidate, the full range.
    quantized_bins : int, optional
        Quantised levels of the entropy search, at least 2; default half the levels of
        ``dtype`` (128 for 8-bit types, ONNX Runtime's default; 8 for 4-bit types).

    Returns
    -------
    QuantParams
        Scalars for ``axis=None``, arrays of shape (C,) otherwise. Empty ``x`` (or empty
        channels) gives torch's defaults (scale 1, zero point 0).

    Raises
    ------
    ValueError
        ``x`` (or a channel of it) is non-empty without a finite value; ``x`` has no channel
        along ``axis``; the range is too wide for a float32 scale (e.g. ``[-3e38, 3e38]``,
        where torch returns ``scale=inf``); unknown dtype, scheme or method; ``axis`` out of
        range; ``percentile``, ``bins`` or ``quantized_bins`` out of range;
        ``reduce_range=True`` with a symmetric unsigned dtype (torch refuses it too).
    TypeError
        ``x`` is not a float array, or an option has the wrong type.

    Examples
    --------
    >>> import numpy as np
    >>> p = calibrate(np.array([-1.0, 0.0, 2.0], np.float32), dtype="uint8")
    >>> float(p.scale), int(p.zero_point)
    (0.0117647061124444, 85)
    """
    x = float32(x, "x")
    dtype, sym, rr, opts = calib_options(dtype, scheme, method, percentile, reduce_range, bins,
                                         quantized_bins)
    if axis is None:
        lo, hi = tensor_range(x, *opts)
        return qparams(lo, hi, dtype, sym, rr, None)
    ax = norm_axis(axis, x.ndim)
    lo, hi = channel_range(x, ax, *opts)
    return qparams(lo, hi, dtype, sym, rr, ax)
