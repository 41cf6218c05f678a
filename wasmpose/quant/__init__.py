"""Quantisation to int8/uint8/int4/uint4: calibration, quantize/dequantize, quantised tensors.

The integers are PyTorch's: :func:`quantize` is bit-exact with ``torch.quantize_per_tensor`` and
``torch.quantize_per_channel`` (``.int_repr()``), :func:`dequantize` with ``.dequantize()``, and
:func:`calibrate` with ``method="minmax"`` gives the scale and zero point of torch's
``MinMaxObserver`` / ``PerChannelMinMaxObserver``. Percentile and entropy (KL divergence, as ONNX
Runtime's Entropy calibrator) calibration clip outliers. :class:`QuantizedTensor` stores 4-bit
values packed two a byte and saves to ``.npz`` without pickle.

Each function validates its arguments here, then runs one variant of its kernel (``_reference.py``
holds the NumPy versions, ``_kernels.py`` the compiled ones) as chosen by :mod:`wasmpose.cpu`.
Shape symbols: C channels (the length of the per-channel ``axis``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import numbers
import sys
import zipfile

import numpy as np

from wasmpose import _checks
from wasmpose._registry import Companion, Kernel, count, register, rng
from wasmpose.quant import _kernels as _nb
from wasmpose.quant import _reference as _ref

__all__ = [
    "QuantParams",
    "calibrate",
    "quantize",
    "dequantize",
    "QuantizedTensor",
    "DynamicQuantizer",
    "mse",
    "sqnr",
    "TopKCompressor",
    "pack_int4",
    "unpack_int4",
]

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_I8 = np.dtype(np.int8)
_U8 = np.dtype(np.uint8)
_FLOATS = (_F16, _F32, _F64)

# dtype -> (full range, storage dtype, zero point of the symmetric scheme)
_DTYPES = {
    "int8": (-128, 127, _I8, 0),
    "uint8": (0, 255, _U8, 128),
    "int4": (-8, 7, _I8, 0),
    "uint4": (0, 15, _U8, 8),
}
_PACKED = ("int4", "uint4")  # stored two a byte by QuantizedTensor
_SCHEMES = ("affine", "symmetric")
_METHODS = ("minmax", "percentile", "entropy")
_EPS32 = np.finfo(np.float32).eps
_LITTLE = sys.byteorder == "little"


# ---------------------------------------------------------------------------------------------
# Kernels: one declaration each (see wasmpose/_registry.py). Thresholds are bytes of array
# operands, converted from development estimates in elements on a 2-core machine (the comments
# give them); `python -m wasmpose bench --thresholds` measures them now. The examples are
# weights-like data: normal values, per-tensor and per-channel, int8 and uint8.
# ---------------------------------------------------------------------------------------------
def _weights(n):
    return (rng().standard_normal(n) * 0.05).astype(_F32)


def _example_quantize(nbytes):
    x = _weights(count(nbytes, 5))
    f = np.float32
    inv = f(127) / np.abs(x).max()
    return [(x, np.empty(x.size, dt), inv, f(zp), f(lo), f(hi))
            for dt, zp, lo, hi in ((_I8, 0, -128, 127), (_U8, 128, 0, 255))]


def _example_quantize_channel(nbytes):
    c = 16
    x = _weights(count(nbytes, 5 * c, 1) * c).reshape(1, c, -1)  # (outer, C, inner)
    inv = (np.float32(127) / np.abs(x).max(axis=(0, 2))).astype(_F32)
    f = np.float32
    return [(x, np.empty(x.shape, dt), inv, np.full(c, zp, _F32), f(lo), f(hi))
            for dt, zp, lo, hi in ((_I8, 0, -128, 127), (_U8, 128, 0, 255))]


def _example_dequantize(nbytes):
    n = count(nbytes, 5)
    q = rng().integers(-128, 128, n).astype(_I8)
    return [(q, np.empty(n, _F32), np.float32(0.004), 0),
            (q.view(_U8), np.empty(n, _F32), np.float32(0.004), 128)]


def _example_dequantize_channel(nbytes):
    c = 16
    n = count(nbytes, 5 * c, 1) * c
    q = rng().integers(-128, 128, n).astype(_I8).reshape(1, c, -1)
    scale = np.full(c, 0.004, _F32)
    return [(q, np.empty(q.shape, _F32), scale, np.zeros(c, np.int32)),
            (q.view(_U8), np.empty(q.shape, _F32), scale, np.full(c, 128, np.int32))]


def _example_minmax(nbytes):
    return [(_weights(count(nbytes, 4)).view(np.int32),)]  # float32 bits, as calibrate passes


def _example_minmax_channel(nbytes):
    c = 16
    x = _weights(count(nbytes, 4 * c, 1) * c).reshape(1, c, -1)
    return [(x.view(np.int32), np.empty(c, _F32), np.empty(c, _F32))]


def _example_pack(nbytes):
    m = count(nbytes, 3)  # pairs of int4 values: 2 bytes in, 1 out
    q = rng().integers(-8, 8, 2 * m).astype(_I8)
    return [(q.view(np.uint16), np.empty(m, _U8), True),
            ((q & 15).astype(_U8).view(np.uint16), np.empty(m, _U8), False)]


def _example_unpack(nbytes):
    m = count(nbytes, 3)  # one packed byte in, two values out
    packed = rng().integers(0, 256, m).astype(_U8)
    return [(packed, np.empty(m, np.uint16), True), (packed, np.empty(m, np.uint16), False)]


def _example_entropy(nbytes):
    bins, qbins = 2048, 128  # ONNX Runtime's defaults (num_bins, num_quantized_bins)
    rows = count(nbytes, 8 * bins)
    x = np.abs(rng().standard_normal((rows, 1 << 14)))
    hists = np.stack([np.histogram(r, bins=bins, range=(0, 5))[0] for r in x]).astype(np.int64)
    return [(hists, qbins, np.empty((rows, bins // 2 - qbins // 2 + 1), _F32))]


_Q_TENSOR = register(Kernel(
    "quantize", reference=_ref.quantize_tensor, serial=_nb.quantize_tensor_serial,
    parallel=_nb.quantize_tensor_parallel,
    parallel_min_bytes=(1 << 18) * 5,  # 2**18 elements: 4 bytes in, 1 out
    example=_example_quantize,
    companions=(Companion(
        "layout", "per-channel", reference=_ref.quantize_channel,
        serial=_nb.quantize_channel_serial, parallel=_nb.quantize_channel_parallel,
        parallel_min_bytes=(1 << 17) * 5, example=_example_quantize_channel),),
))
_Q_CHANNEL = _Q_TENSOR.companions["layout=per-channel"]
_DQ_TENSOR = register(Kernel(
    "dequantize", reference=_ref.dequantize_tensor, serial=_nb.dequantize_tensor_serial,
    parallel=_nb.dequantize_tensor_parallel,
    parallel_min_bytes=(1 << 18) * 5,  # 2**18 elements: 1 byte in, 4 out
    example=_example_dequantize,
    companions=(Companion(
        "layout", "per-channel", reference=_ref.dequantize_channel,
        serial=_nb.dequantize_channel_serial, parallel=_nb.dequantize_channel_parallel,
        parallel_min_bytes=(1 << 18) * 5, example=_example_dequantize_channel),),
))
_DQ_CHANNEL = _DQ_TENSOR.companions["layout=per-channel"]
_MINMAX = register(Kernel(
    "calibrate", reference=_ref.minmax, serial=_nb.minmax_serial, parallel=_nb.minmax_parallel,
    parallel_min_bytes=(1 << 18) * 4,  # 2**18 float32 elements read
    example=_example_minmax,
    companions=(
        Companion("layout", "per-channel", reference=_ref.minmax_channel,
                  serial=_nb.minmax_channel_serial, parallel=_nb.minmax_channel_parallel,
                  parallel_min_bytes=(1 << 18) * 4, example=_example_minmax_channel),
        # the KL-divergence search of method="entropy", one row of histogram bins per channel
        Companion("method", "entropy", reference=_ref.entropy_kl, serial=_nb.entropy_kl_serial,
                  parallel=_nb.entropy_kl_parallel,
                  parallel_min_bytes=(1 << 10) * 8,  # 2**10 int64 histogram bins
                  example=_example_entropy),
    ),
))
_MINMAX_CHANNEL = _MINMAX.companions["layout=per-channel"]
_ENTROPY = _MINMAX.companions["method=entropy"]
_PACK = register(Kernel(
    "pack_int4", reference=_ref.pack4, serial=_nb.pack4_serial, parallel=_nb.pack4_parallel,
    parallel_min_bytes=(1 << 19) * 3 // 2,  # 2**19 values: 1 byte in, half a byte out
    example=_example_pack,
))
_UNPACK = register(Kernel(
    "unpack_int4", reference=_ref.unpack4, serial=_nb.unpack4_serial,
    parallel=_nb.unpack4_parallel,
    parallel_min_bytes=(1 << 19) * 3,  # 2**19 packed bytes in, 2 bytes out each
    example=_example_unpack,
))


# ---------------------------------------------------------------------------------------------
# QuantParams
# ---------------------------------------------------------------------------------------------
def _bool_arg(v, name):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(v).__name__}")
    return bool(v)


def _qrange(dtype, reduce_range):
    """(qmin, qmax) of ``dtype``, halved as torch does with ``reduce_range``."""
    lo, hi = _DTYPES[dtype][:2]
    return (lo // 2, hi // 2) if reduce_range else (lo, hi)


def _readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _check_scale(scale):
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        bad = ~((scale > 0) & np.isfinite(scale) & np.isfinite(np.float32(1) / scale))
    if np.any(bad):
        shown = scale[bad].ravel()[:4].tolist() if scale.ndim else float(scale)
        raise ValueError(f"scale: expected finite values > 0 with a finite float32 reciprocal, "
                         f"got {shown}")


@dataclasses.dataclass(frozen=True, eq=False)
class QuantParams:
    """Scale and zero point of an affine quantisation ``q = clamp(rint(x / scale) + zero_point)``.

    Parameters
    ----------
    scale : float or array_like, shape (C,)
        Step size(s), stored as float32; each must be > 0 with a finite float32 reciprocal.
    zero_point : int or array_like of int, shape (C,)
        The integer(s) that represent 0.0, stored as int32, within the range of ``dtype``.
    dtype : {"int8", "uint8", "int4", "uint4"}
        Quantised type: int8 -128..127, uint8 0..255, int4 -8..7, uint4 0..15.
    axis : int, optional
        Channel axis of per-channel parameters (then ``scale`` and ``zero_point`` are 1-D of
        one length C); ``None`` for per-tensor parameters (scalars).
    reduce_range : bool, default False
        Whether calibration used torch's reduced range (one bit less); only ``qmin``/``qmax``
        depend on it: :func:`quantize` clamps to the full range of ``dtype``, as torch does.

    Attributes
    ----------
    qmin, qmax : int
        The calibration range: the dtype's range, halved with ``reduce_range`` as torch
        (int8 -64..63, uint8 0..127, int4 -4..3, uint4 0..7).
    nbytes : int
        Bytes of ``scale`` and ``zero_point``.

    Examples
    --------
    >>> p = QuantParams(0.5, 3, "int8")
    >>> float(p.scale), int(p.zero_point), p.qmin, p.qmax
    (0.5, 3, -128, 127)
    """

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: str
    axis: int | None = None
    reduce_range: bool = False

    def __post_init__(self):
        dtype = _checks.choice(self.dtype, "dtype", tuple(_DTYPES))
        lo, hi = _DTYPES[dtype][:2]
        _bool_arg(self.reduce_range, "reduce_range")
        axis = None if self.axis is None else _checks.integer(self.axis, "axis")
        scale = np.asarray(self.scale)
        zp = np.asarray(self.zero_point)
        if scale.dtype.kind not in "iuf" or scale.dtype == np.bool_:
            raise TypeError(f"scale: expected real numbers, got dtype {scale.dtype}")
        if zp.dtype.kind not in "iu" or zp.dtype == np.bool_:
            if zp.dtype.kind == "f" and np.all(np.isfinite(zp)) and np.all(zp == np.round(zp)):
                zp = zp.astype(np.int64)
            else:
                raise TypeError(f"zero_point: expected integers, got dtype {zp.dtype}")
        want = 0 if axis is None else 1
        for name, a in (("scale", scale), ("zero_point", zp)):
            if a.ndim != want:
                kind = "a scalar (per-tensor, axis=None)" if want == 0 else \
                    "a 1-D array (per-channel, axis given)"
                raise ValueError(f"{name}: expected {kind}, got shape {a.shape}")
        if axis is not None:
            if scale.shape != zp.shape:
                raise ValueError(f"zero_point: expected {scale.shape[0]} values (one per scale), "
                                 f"got {zp.shape[0]}")
            if scale.size == 0:
                raise ValueError("scale: expected at least one channel, got 0")
        s32 = scale.astype(np.float32)
        _check_scale(s32)
        if np.any(zp < lo) or np.any(zp > hi):
            raise ValueError(f"zero_point: expected values in [{lo}, {hi}] for {dtype}, got "
                             f"{zp.ravel()[(zp.ravel() < lo) | (zp.ravel() > hi)][:4].tolist()}")
        set_ = object.__setattr__
        set_(self, "dtype", dtype)
        set_(self, "axis", axis)
        set_(self, "reduce_range", bool(self.reduce_range))
        set_(self, "scale", s32[()] if axis is None else _readonly(s32))
        set_(self, "zero_point", np.int32(zp[()]) if axis is None else
             _readonly(zp.astype(np.int32)))

    @property
    def qmin(self) -> int:
        return _qrange(self.dtype, self.reduce_range)[0]

    @property
    def qmax(self) -> int:
        return _qrange(self.dtype, self.reduce_range)[1]

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def nbytes(self) -> int:
        return int(np.asarray(self.scale).nbytes + np.asarray(self.zero_point).nbytes)

    def __eq__(self, other):
        if not isinstance(other, QuantParams):
            return NotImplemented
        return (self.dtype == other.dtype and self.axis == other.axis
                and self.reduce_range == other.reduce_range
                and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))

    __hash__ = None


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _float32(x, name):
    x = _checks.as_array(x, name, _FLOATS)
    return x if x.dtype == _F32 else x.astype(_F32)


def _norm_axis(axis, ndim, name="axis"):
    a = _checks.integer(axis, name)
    if not -ndim <= a < ndim:
        raise ValueError(f"{name}: expected a value in [{-ndim}, {ndim - 1}], got {axis}")
    return a % ndim


def _split3(shape, axis):
    """(outer, C, inner) of ``shape`` around ``axis``."""
    return (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))


def _contig(x):
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def _nan_error(name, x):
    n = int(np.count_nonzero(np.isnan(x)))
    return ValueError(f"{name}: expected no NaN values, got {n} NaN of {x.size}")


# ---------------------------------------------------------------------------------------------
# calibrate
# ---------------------------------------------------------------------------------------------
def _clip_range(fin, method, pct, symmetric, bins, qbins):
    """(low, high) of the clipping ``method`` on the finite values ``fin``; (inf, -inf) if none.

    ``fin`` is a scratch copy: the percentile method reorders it."""
    if method == "entropy":
        lo, hi = _entropy_ranges([fin], bins, qbins)
        return lo[0], hi[0]
    if fin.size == 0:
        return np.inf, -np.inf
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
        mn, mx = rows[j].min(), rows[j].max()
        t = np.float32(max(abs(mn), abs(mx)))
        hists[k], e = np.histogram(rows[j], bins, range=(-t, t))
        edges.append(e)
        lo[j], hi[j] = mn, mx
    kl = np.empty((len(full), bins // 2 - qbins // 2 + 1), _F32)
    if full:
        _ENTROPY(hists.nbytes + kl.nbytes, hists, qbins, kl)
    zero = bins // 2
    for j, i, e in zip(full, _ref.first_minimum(kl) + qbins // 2, edges, strict=True):
        lo[j] = max(float(e[zero - i]), lo[j])
        hi[j] = min(float(e[min(zero + i + 1, bins)]), hi[j])
    return lo, hi


def _tensor_range(x, method, *opts):
    """(low, high) float32 of the finite values of float32 ``x``; (inf, -inf) when empty."""
    if x.size == 0:
        return np.float32(np.inf), np.float32(-np.inf)
    if method == "minmax":
        flat = _contig(x).reshape(-1)
        lo, hi = _MINMAX(flat.nbytes, flat.view(np.int32))
    else:
        f = x.ravel()
        lo, hi = _clip_range(f[np.isfinite(f)], method, *opts)
    if lo > hi:
        raise ValueError(f"x: expected at least one finite value, got {x.size} non-finite values")
    return np.float32(lo), np.float32(hi)


def _channel_range(x, axis, method, *opts):
    """(low, high), each (C,) float32, of the finite values of each channel along ``axis``."""
    c = x.shape[axis]
    mn = np.full(c, np.inf, _F32)
    mx = np.full(c, -np.inf, _F32)
    if x.size == 0:
        return mn, mx
    if method == "minmax":
        x3 = _contig(x).reshape(_split3(x.shape, axis))
        _MINMAX_CHANNEL(x3.nbytes + mn.nbytes + mx.nbytes, x3.view(np.int32), mn, mx)
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


def _qparams(lo, hi, dtype, symmetric, reduce_range, axis):
    """Torch's ``_calculate_qparams`` in float32: scale and zero point from the range."""
    qlo, qhi = _qrange(dtype, reduce_range)
    sym_zp = _DTYPES[dtype][3]
    lo = np.asarray(lo, _F32)
    hi = np.asarray(hi, _F32)
    if lo.size and np.all(lo == np.inf) and np.all(hi == -np.inf):  # torch: no data seen
        scale = np.ones(lo.shape, _F32)
        zp = np.zeros(lo.shape, np.int32)
    else:
        min_neg = np.minimum(lo, np.float32(0))
        max_pos = np.maximum(hi, np.float32(0))
        if symmetric:
            max_pos = np.maximum(-min_neg, max_pos)
            scale = np.maximum(max_pos / np.float32((qhi - qlo) / 2), _EPS32).astype(_F32)
            zp = np.full(lo.shape, sym_zp, np.int32)
        else:
            scale = np.maximum((max_pos - min_neg) / np.float32(qhi - qlo), _EPS32).astype(_F32)
            zp = qlo - np.rint(min_neg / scale).astype(np.int64)
            zp = np.clip(zp, qlo, qhi).astype(np.int32)
    if axis is None:
        return QuantParams(scale[()], zp[()], dtype, None, reduce_range)
    return QuantParams(scale, zp, dtype, axis, reduce_range)


def _calib_options(dtype, scheme, method, percentile, reduce_range, bins, quantized_bins):
    dtype = _checks.choice(dtype, "dtype", tuple(_DTYPES))
    scheme = _checks.choice(scheme, "scheme", _SCHEMES)
    method = _checks.choice(method, "method", _METHODS)
    pct = _checks.real_scalar(percentile, "percentile", allow_inf=False)
    if not 0 < pct <= 100:
        raise ValueError(f"percentile: expected a value in (0, 100], got {pct}")
    _bool_arg(reduce_range, "reduce_range")
    if reduce_range and scheme == "symmetric" and dtype in ("uint8", "uint4"):
        raise ValueError(f"reduce_range: not supported with scheme='symmetric' and {dtype} "
                         f"(torch refuses it too), got reduce_range=True")
    bins = _checks.integer(bins, "bins")
    levels = _DTYPES[dtype][1] - _DTYPES[dtype][0] + 1
    qbins = (levels // 2 if quantized_bins is None
             else _checks.integer(quantized_bins, "quantized_bins", minimum=2))
    if bins < qbins:
        raise ValueError(f"bins: expected an int >= quantized_bins ({qbins}), got {bins}")
    sym = scheme == "symmetric"
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
        Calibration data (computed in float32). Non-finite values are ignored.
    dtype : {"int8", "uint8", "int4", "uint4"}
    scheme : {"affine", "symmetric"}
    axis : int, optional
        Channel axis for per-channel parameters (C = ``x.shape[axis]``).
    method : {"minmax", "percentile", "entropy"}
        ``"minmax"``: the full range, identical to ``torch.ao.quantization.MinMaxObserver`` /
        ``PerChannelMinMaxObserver`` with the matching dtype, qscheme and reduce_range.
        ``"percentile"``: the ``percentile`` of ``|x|`` (symmetric) or the ``100 - percentile``
        and ``percentile`` percentiles of ``x`` (affine). ``"entropy"``: the KL-divergence
        threshold search of TensorRT as ONNX Runtime's Entropy calibrator implements it, on a
        histogram of ``bins`` bins over ``[-max|x|, max|x|]`` with ``quantized_bins`` levels.
    percentile : float, default 99.99
    reduce_range : bool, default False
        Calibrate for one bit less (torch's ``reduce_range``).
    bins : int, default 2048
        Histogram bins of the entropy method (TensorRT's 2048; ONNX Runtime's default of 128
        with 128 quantized bins leaves a single candidate, the full range).
    quantized_bins : int, optional
        Quantised levels of the entropy search; default half the levels of ``dtype`` (128 for
        8-bit types, ONNX Runtime's default; 8 for 4-bit types).

    Returns
    -------
    QuantParams
        Scalars for ``axis=None``, arrays of shape (C,) otherwise. Empty ``x`` gives torch's
        defaults (scale 1, zero point 0).

    Raises
    ------
    ValueError
        ``x`` (or a channel of it) is non-empty without a finite value; unknown dtype, scheme
        or method; ``axis`` out of range; ``percentile`` outside (0, 100];
        ``reduce_range=True`` with a symmetric unsigned dtype (torch refuses it too).

    Examples
    --------
    >>> import numpy as np
    >>> p = calibrate(np.array([-1.0, 0.0, 2.0], np.float32), dtype="uint8")
    >>> float(p.scale), int(p.zero_point)
    (0.0117647061124444, 85)
    """
    x = _float32(x, "x")
    dtype, sym, rr, opts = _calib_options(dtype, scheme, method, percentile, reduce_range, bins,
                                          quantized_bins)
    if axis is None:
        lo, hi = _tensor_range(x, *opts)
        return _qparams(lo, hi, dtype, sym, rr, None)
    ax = _norm_axis(axis, x.ndim)
    lo, hi = _channel_range(x, ax, *opts)
    return _qparams(lo, hi, dtype, sym, rr, ax)


# ---------------------------------------------------------------------------------------------
# quantize / dequantize
# ---------------------------------------------------------------------------------------------
def _check_params(params):
    if not isinstance(params, QuantParams):
        raise TypeError(f"params: expected a QuantParams, got {type(params).__name__}")
    return params


def _channel_axis(params, shape, name):
    ax = _norm_axis(params.axis, len(shape), "params.axis")
    if shape[ax] != params.scale.size:
        raise ValueError(f"{name}: expected {params.scale.size} channels (params) along axis "
                         f"{params.axis}, got shape {shape}")
    return ax


def quantize(x, params):
    """Quantise ``x`` with ``params``: bit-exact with PyTorch's integers.

    Per tensor: ``clamp(rint(fma(x, 1/scale, zero_point)))`` as ``torch.quantize_per_tensor``
    (``1/scale`` in float32, the multiply-add fused, rounding half to even). Per channel:
    ``clamp(rint((x * (1/scale[c])) + zero_point[c]))`` with two roundings, as
    ``torch.quantize_per_channel``. The clamp is to the full range of ``params.dtype``.

    Parameters
    ----------
    x : ndarray, float16, float32 or float64, any shape
        Values (converted to float32 first); infinities clamp.
    params : QuantParams

    Returns
    -------
    ndarray, shape of ``x``, int8 (int8, int4) or uint8 (uint8, uint4)
        4-bit values come back unpacked, one a byte (see :func:`pack_int4`).

    Raises
    ------
    ValueError
        ``x`` holds NaN (the message gives how many), or per-channel ``params`` do not match
        ``x.shape[params.axis]``.

    Examples
    --------
    >>> import numpy as np
    >>> quantize(np.array([-1.0, 0.25, 0.75, 100.0], np.float32), QuantParams(0.5, 0, "int8"))
    array([ -2,   0,   2, 127], dtype=int8)
    """
    x = _float32(x, "x")
    p = _check_params(params)
    lo, hi, store, _ = _DTYPES[p.dtype]
    out = np.empty(x.shape, store)
    if x.size == 0:
        return out
    flo, fhi = np.float32(lo), np.float32(hi)
    xc = _contig(x)
    inv = np.float32(1) / p.scale
    if p.axis is None:
        nan = _Q_TENSOR(xc.nbytes + out.nbytes, xc.reshape(-1), out.reshape(-1), inv,
                        np.float32(p.zero_point), flo, fhi)
    else:
        shape3 = _split3(x.shape, _channel_axis(p, x.shape, "x"))
        nan = _Q_CHANNEL(xc.nbytes + out.nbytes + inv.nbytes * 2, xc.reshape(shape3),
                         out.reshape(shape3), inv, p.zero_point.astype(_F32), flo, fhi)
    if nan:
        raise _nan_error("x", x)
    return out


def dequantize(q, params):
    """``(q - zero_point) * scale`` in float32, identical to torch's ``dequantize()``.

    Parameters
    ----------
    q : ndarray, int8 (for int8/int4 params) or uint8 (uint8/uint4), any shape
        Unpacked quantised values.
    params : QuantParams

    Returns
    -------
    ndarray, float32, shape of ``q``

    Examples
    --------
    >>> import numpy as np
    >>> dequantize(np.array([-2, 0, 3], np.int8), QuantParams(0.5, 1, "int8"))
    array([-1.5, -0.5,  1. ], dtype=float32)
    """
    p = _check_params(params)
    store = _DTYPES[p.dtype][2]
    q = _checks.as_array(q, "q", (store,))
    out = np.empty(q.shape, _F32)
    if q.size == 0:
        return out
    qc = _contig(q)
    if p.axis is None:
        _DQ_TENSOR(qc.nbytes + out.nbytes, qc.reshape(-1), out.reshape(-1), p.scale,
                   int(p.zero_point))
    else:
        shape3 = _split3(q.shape, _channel_axis(p, q.shape, "q"))
        _DQ_CHANNEL(qc.nbytes + out.nbytes + p.scale.nbytes + p.zero_point.nbytes,
                    qc.reshape(shape3), out.reshape(shape3), p.scale, p.zero_point)
    return out


# ---------------------------------------------------------------------------------------------
# 4-bit packing
# ---------------------------------------------------------------------------------------------
def _pairs(flat, even):
    v = flat[:even].view(np.uint16 if _LITTLE else np.dtype("<u2"))
    return v if _LITTLE else v.astype(np.uint16)


def pack_int4(q):
    """Pack 4-bit values two a byte: element ``2k`` in the low nibble of byte ``k``.

    Parameters
    ----------
    q : ndarray, int8 (values -8..7, two's-complement nibbles) or uint8 (values 0..15), any shape
        Flattened in C order; an odd count leaves the last high nibble 0.

    Returns
    -------
    ndarray, uint8, shape (ceil(q.size / 2),)

    Raises
    ------
    ValueError
        A value lies outside the 4-bit range of its dtype.

    Examples
    --------
    >>> import numpy as np
    >>> pack_int4(np.array([1, -1, 7], np.int8))
    array([241,   7], dtype=uint8)
    """
    q = _checks.as_array(q, "q", (_I8, _U8))
    signed = q.dtype == _I8
    flat = _contig(q).reshape(-1)
    n = flat.size
    out = np.empty((n + 1) // 2, _U8)
    even = n - n % 2
    bad = False
    if even:
        bad = _PACK(even * 3 // 2, _pairs(flat, even), out[: even // 2], signed)
    if n % 2:
        v = int(flat[-1])
        bad = bad or not ((-8 <= v <= 7) if signed else (0 <= v <= 15))
        out[-1] = v & 0x0F
    if bad:
        lo, hi = (-8, 7) if signed else (0, 15)
        n_bad = int(np.count_nonzero((flat < lo) | (flat > hi)))
        raise ValueError(f"q: expected {q.dtype} values in [{lo}, {hi}], got {n_bad} outside")
    return out


def unpack_int4(packed, shape, dtype="int4"):
    """Inverse of :func:`pack_int4`.

    Parameters
    ----------
    packed : ndarray, uint8, shape (ceil(prod(shape) / 2),)
    shape : tuple of int
        Shape of the unpacked result.
    dtype : {"int4", "uint4"}
        ``"int4"`` sign-extends each nibble into int8, ``"uint4"`` gives uint8 0..15.

    Returns
    -------
    ndarray, int8 or uint8, shape ``shape``

    Examples
    --------
    >>> import numpy as np
    >>> unpack_int4(np.array([241, 7], np.uint8), (3,))
    array([ 1, -1,  7], dtype=int8)
    """
    packed = _checks.as_array(packed, "packed", (_U8,), min_ndim=1, max_ndim=1)
    dtype = _checks.choice(dtype, "dtype", _PACKED)
    shape = _shape_arg(shape, "shape")
    n = math.prod(shape)
    if packed.size != (n + 1) // 2:
        raise ValueError(f"packed: expected {(n + 1) // 2} bytes for shape {shape}, "
                         f"got {packed.size}")
    signed = dtype == "int4"
    out = np.empty(n + n % 2, _I8 if signed else _U8)
    if n:
        src = _contig(packed)
        if _LITTLE:
            _UNPACK(src.nbytes * 3, src, out.view(np.uint16), signed)
        else:
            _ref.unpack4(src, out.view(np.dtype("<u2")), signed)
    return out[:n].reshape(shape)


def _shape_arg(shape, name):
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(_checks.integer(s, name) for s in shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: expected non-negative sizes, got {dims}")
    return dims


# ---------------------------------------------------------------------------------------------
# QuantizedTensor
# ---------------------------------------------------------------------------------------------
_FORMAT = "wasmpose.quant.QuantizedTensor/1"
_FIELDS = ("format", "data", "scale", "zero_point", "dtype", "axis", "reduce_range", "shape",
           "float_dtype")


def _digest(arrays):
    h = hashlib.sha256()
    for name in _FIELDS:
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype.str).encode())
        h.update(repr(a.shape).encode())
        h.update(a)  # its buffer: the bytes of a.tobytes() without copying them
    return np.frombuffer(h.digest(), np.uint8)


class QuantizedTensor:
    """A quantised array: the integers (4-bit ones packed two a byte), the parameters, the shape.

    Parameters
    ----------
    data : ndarray
        int8/uint8 values of shape ``shape`` for 8-bit dtypes; packed uint8 bytes,
        shape (ceil(prod(shape) / 2),), for 4-bit dtypes (see :func:`pack_int4`).
    params : QuantParams
    shape : tuple of int
        Shape of the original (and dequantised) array.
    float_dtype : str, default "float32"
        Dtype of the original array (for :attr:`compression_ratio`).

    Attributes
    ----------
    nbytes : int
        Bytes of ``data`` plus the parameters.
    compression_ratio : float
        Bytes of the original float array / :attr:`nbytes`.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.linspace(-1, 1, 1000, dtype=np.float32)
    >>> qt = QuantizedTensor.from_float(w, dtype="int4")
    >>> qt.data.nbytes, round(qt.compression_ratio, 2)
    (500, 7.87)
    >>> float(np.abs(qt.dequantize() - w).max()) < 0.07
    True
    """

    __slots__ = ("data", "params", "shape", "float_dtype")

    def __init__(self, data, params, shape, *, float_dtype="float32"):
        p = _check_params(params)
        shape = _shape_arg(shape, "shape")
        fd = np.dtype(float_dtype)
        if fd not in _FLOATS:
            raise ValueError(f"float_dtype: expected float16, float32 or float64, got {fd}")
        n = math.prod(shape)
        if p.dtype in _PACKED:
            data = _checks.as_array(data, "data", (_U8,), min_ndim=1, max_ndim=1)
            if data.size != (n + 1) // 2:
                raise ValueError(f"data: expected {(n + 1) // 2} packed bytes for shape {shape}, "
                                 f"got {data.size}")
        else:
            data = _checks.as_array(data, "data", (_DTYPES[p.dtype][2],))
            if data.shape != shape:
                raise ValueError(f"data: expected shape {shape}, got {data.shape}")
        if p.axis is not None:
            _channel_axis(p, shape, "shape")
        self.data = data
        self.params = p
        self.shape = shape
        self.float_dtype = fd.name

    @classmethod
    def from_float(cls, x, *, dtype="int8", scheme="affine", axis=None, method="minmax",
                   **calibrate_options):
        """Calibrate (see :func:`calibrate`, which takes ``calibrate_options``) and quantise."""
        x = _checks.as_array(x, "x", _FLOATS)
        x32 = _float32(x, "x")  # converted once for both calls
        params = calibrate(x32, dtype=dtype, scheme=scheme, axis=axis, method=method,
                           **calibrate_options)
        q = quantize(x32, params)
        data = pack_int4(q) if params.dtype in _PACKED else q
        return cls(data, params, x.shape, float_dtype=x.dtype.name)

    def unpacked(self):
        """The quantised integers, unpacked, shape :attr:`shape` (int8 or uint8)."""
        if self.params.dtype in _PACKED:
            return unpack_int4(self.data, self.shape, self.params.dtype)
        return self.data

    def dequantize(self):
        """The float32 approximation of the original array, shape :attr:`shape`."""
        return dequantize(self.unpacked(), self.params)

    @property
    def dtype(self) -> str:
        return self.params.dtype

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes) + self.params.nbytes

    @property
    def compression_ratio(self) -> float:
        return math.prod(self.shape) * np.dtype(self.float_dtype).itemsize / self.nbytes

    def __repr__(self):
        kind = "per-channel" if self.params.per_channel else "per-tensor"
        return (f"QuantizedTensor(shape={self.shape}, dtype={self.params.dtype!r}, {kind}, "
                f"nbytes={self.nbytes})")

    def _arrays(self):
        p = self.params
        return {
            "format": np.array(_FORMAT),
            "data": np.asarray(self.data, order="C"),  # keeps 0-d (ascontiguousarray does not)
            "scale": np.asarray(p.scale, _F32),
            "zero_point": np.asarray(p.zero_point, np.int32),
            "dtype": np.array(p.dtype),
            "axis": np.array([] if p.axis is None else [p.axis], np.int64),
            "reduce_range": np.array(p.reduce_range),
            "shape": np.array(self.shape, np.int64),
            "float_dtype": np.array(self.float_dtype),
        }

    def save(self, path):
        """Write to ``path`` (a path or a binary file object) as an uncompressed ``.npz``.

        The file holds plain arrays only (no pickled objects) and a SHA-256 digest of them, so
        that :meth:`load` detects truncated or altered files.
        """
        arrays = self._arrays()
        arrays["sha256"] = _digest(arrays)
        if hasattr(path, "write"):
            np.savez(path, **arrays)
            return
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`; never unpickles.

        Raises
        ------
        ValueError
            The file is truncated, not a ``.npz`` of this format, or its content does not match
            its digest.
        """
        where = getattr(path, "name", path)
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in (*_FIELDS, "sha256") if k not in z.files]
                if missing:
                    raise ValueError(f"missing arrays {missing}")
                arrays = {k: z[k] for k in (*_FIELDS, "sha256")}
        except ValueError as exc:
            raise ValueError(f"path: {where!s} is not a QuantizedTensor file ({exc})") from exc
        except (OSError, EOFError, zipfile.BadZipFile, KeyError, io.UnsupportedOperation) as exc:
            raise ValueError(f"path: {where!s} is not a readable .npz file "
                             f"({type(exc).__name__}: {exc})") from exc
        try:
            if arrays["format"].dtype.kind != "U" or str(arrays["format"]) != _FORMAT:
                raise ValueError(f"unknown format {arrays['format']!r}")
            digest = arrays.pop("sha256")
            if digest.dtype != _U8 or not np.array_equal(digest, _digest(arrays)):
                raise ValueError("content does not match its SHA-256 digest (altered file)")
            axis = arrays["axis"]
            params = QuantParams(arrays["scale"], arrays["zero_point"], str(arrays["dtype"]),
                                 int(axis[0]) if axis.size else None,
                                 bool(arrays["reduce_range"]))
            return cls(arrays["data"], params, tuple(int(s) for s in arrays["shape"]),
                       float_dtype=str(arrays["float_dtype"]))
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"path: {where!s} holds an invalid QuantizedTensor ({exc})") from exc


# ---------------------------------------------------------------------------------------------
# DynamicQuantizer
# ---------------------------------------------------------------------------------------------
class DynamicQuantizer:
    """Streaming calibration: running (or moving-average) range over batches, then quantize.

    ``observe(x)`` computes the batch's range with ``method`` (as :func:`calibrate`) and merges
    it: without ``averaging_constant`` the running min and max (torch's ``MinMaxObserver``),
    with it ``r = r + c * (r_batch - r)`` in float32 from the second batch on (torch's
    ``MovingAverageMinMaxObserver`` / ``MovingAveragePerChannelMinMaxObserver``).

    Parameters
    ----------
    dtype, scheme, method
        As in :func:`calibrate`.
    averaging_constant : float in (0, 1], optional
    axis : int, optional
        Channel axis for per-channel parameters; every batch must have the same number of
        channels along it.
    percentile, reduce_range, bins, quantized_bins : optional
        As in :func:`calibrate`.

    Examples
    --------
    >>> import numpy as np
    >>> dq = DynamicQuantizer(dtype="uint8")
    >>> dq.observe(np.array([-1.0, 1.0], np.float32))
    >>> dq.observe(np.array([0.0, 3.0], np.float32))
    >>> bool(dq.params().scale == np.float32(4) / np.float32(255))
    True
    """

    def __init__(self, *, dtype="int8", scheme="affine", method="minmax", averaging_constant=None,
                 axis=None, percentile=99.99, reduce_range=False, bins=2048,
                 quantized_bins=None):
        self._dtype, self._sym, self._rr, self._opts = _calib_options(
            dtype, scheme, method, percentile, reduce_range, bins, quantized_bins)
        if averaging_constant is not None:
            c = _checks.real_scalar(averaging_constant, "averaging_constant", allow_inf=False)
            if not 0 < c <= 1:
                raise ValueError(f"averaging_constant: expected a value in (0, 1], got {c}")
            averaging_constant = c
        self.averaging_constant = averaging_constant
        self.axis = None if axis is None else _checks.integer(axis, "axis")
        self.min_val = None
        self.max_val = None

    def reset(self):
        """Forget every batch observed so far."""
        self.min_val = self.max_val = None

    def observe(self, x):
        """Update the range with the batch ``x`` (float, any shape); empty batches are skipped."""
        x = _float32(x, "x")
        if x.size == 0:
            return
        if self.axis is None:
            lo, hi = _tensor_range(x, *self._opts)
        else:
            ax = _norm_axis(self.axis, x.ndim)
            if self.min_val is not None and x.shape[ax] != self.min_val.size:
                raise ValueError(f"x: expected {self.min_val.size} channels along axis "
                                 f"{self.axis}, got shape {x.shape}")
            lo, hi = _channel_range(x, ax, *self._opts)
        lo = np.asarray(lo, _F32)
        hi = np.asarray(hi, _F32)
        if self.min_val is None:
            self.min_val, self.max_val = lo, hi
        elif self.averaging_constant is None:
            self.min_val = np.minimum(self.min_val, lo)
            self.max_val = np.maximum(self.max_val, hi)
        else:
            c = np.float32(self.averaging_constant)
            self.min_val = (self.min_val + c * (lo - self.min_val)).astype(_F32)
            self.max_val = (self.max_val + c * (hi - self.max_val)).astype(_F32)

    def params(self):
        """The :class:`QuantParams` of the range seen so far.

        Raises
        ------
        ValueError
            Nothing was observed yet.
        """
        if self.min_val is None:
            raise ValueError("params: expected at least one observe() call before params(), "
                             "got none")
        return _qparams(self.min_val, self.max_val, self._dtype, self._sym, self._rr, self.axis)

    def quantize(self, x):
        """:func:`quantize` ``x`` with :meth:`params`."""
        return quantize(x, self.params())


# ---------------------------------------------------------------------------------------------
# error metrics
# ---------------------------------------------------------------------------------------------
def _squared_error(reference, approx):
    """``reference`` as an array and ``(reference - approx) ** 2`` in float64, after the checks.

    The subtraction converts to float64 as it goes (no float64 copies of the inputs) and the
    square is taken in place: one new array instead of four.
    """
    a = np.asarray(reference)
    b = np.asarray(approx)
    for name, v in (("reference", a), ("approx", b)):
        if v.dtype.kind not in "iuf" or v.dtype == np.bool_:
            raise TypeError(f"{name}: expected a real numeric array, got dtype {v.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"approx: expected shape {a.shape} (the reference's), got {b.shape}")
    d = np.subtract(a, b, dtype=np.float64)
    return a, np.square(d, out=d if d.ndim else None)  # 0-d inputs give a scalar


def mse(reference, approx):
    """Mean squared error, accumulated in float64 (0.0 for empty arrays).

    Parameters
    ----------
    reference, approx : array_like, any shape (the same for both), integer or float
        The exact values and their approximation (e.g. ``dequantize(quantize(x, p), p)``).

    Returns
    -------
    float
        ``mean((reference - approx) ** 2)``.

    Raises
    ------
    ValueError
        The shapes differ.
    TypeError
        An input is not a real numeric array.

    Examples
    --------
    >>> mse([1.0, 2.0], [1.0, 4.0])
    2.0
    """
    _, err = _squared_error(reference, approx)
    return float(np.mean(err)) if err.size else 0.0


def sqnr(reference, approx):
    """Signal-to-quantisation-noise ratio in dB: ``10 log10(sum(ref^2) / sum((ref - approx)^2))``.

    ``inf`` when the arrays are identical. Accumulated in float64.

    Parameters
    ----------
    reference, approx : array_like, any shape (the same for both), integer or float
        The exact values and their approximation.

    Returns
    -------
    float
        The ratio in dB; ``inf`` without noise, ``-inf`` for an all-zero reference with noise.

    Raises
    ------
    ValueError
        The shapes differ.
    TypeError
        An input is not a real numeric array.

    Examples
    --------
    >>> round(sqnr([1.0, 2.0], [1.0, 2.1]), 3)
    26.99
    """
    a, err = _squared_error(reference, approx)
    noise = float(np.sum(err))
    if noise == 0:
        return math.inf
    signal = float(np.sum(np.square(a, dtype=np.float64)))
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


# ---------------------------------------------------------------------------------------------
# TopKCompressor
# ---------------------------------------------------------------------------------------------
class TopKCompressor:
    """Error-feedback top-k sparsification of gradients.

    ``compress(g)`` adds the residual of earlier calls to ``g``, sends the
    ``k = ceil(ratio * g.size)`` entries of largest magnitude and keeps the rest as the new
    residual, so that over any number of steps the values sent plus the residual equal the sum
    of all gradients.

    Parameters
    ----------
    ratio : float in (0, 1]
        Fraction of entries sent (``ratio * size`` is rounded to 9 decimals before the ceiling,
        so that ``0.07 * 100`` sends 7).

    Examples
    --------
    >>> import numpy as np
    >>> tk = TopKCompressor(0.5)
    >>> idx, val = tk.compress(np.array([0.1, -3.0, 2.0, 0.5]))
    >>> idx, val
    (array([1, 2]), array([-3.,  2.]))
    >>> tk.residual
    array([0.1, 0. , 0. , 0.5])
    >>> tk.decompress(idx, val, (4,))
    array([ 0., -3.,  2.,  0.])
    """

    def __init__(self, ratio):
        r = _checks.real_scalar(ratio, "ratio", allow_inf=False)
        if not 0 < r <= 1:
            raise ValueError(f"ratio: expected a value in (0, 1], got {r}")
        self.ratio = r
        self.residual = None

    def k(self, size):
        """Entries sent for a gradient of ``size`` entries."""
        return min(size, math.ceil(round(self.ratio * size, 9)))

    def reset(self):
        """Drop the residual."""
        self.residual = None

    def compress(self, g):
        """Return ``(indices, values)``: flat C-order int64 indices (ascending) and the values
        of ``g + residual`` there; the rest becomes the residual (same shape and dtype as the
        first gradient)."""
        g = _checks.as_array(g, "g", (_F32, _F64))
        if self.residual is None:
            acc = g.astype(g.dtype, order="C", copy=True)
        else:
            if g.shape != self.residual.shape:
                raise ValueError(f"g: expected shape {self.residual.shape} (the first "
                                 f"gradient's), got {g.shape}")
            with np.errstate(invalid="ignore"):  # inf - inf: the NaN check below raises
                acc = self.residual + g
            acc = acc.astype(self.residual.dtype, copy=False)
        flat = acc.reshape(-1)
        k = self.k(flat.size)
        if k == 0:
            idx = np.empty(0, np.int64)
        elif k == flat.size:
            idx = np.arange(k, dtype=np.int64)
        else:
            idx = np.sort(np.argpartition(np.abs(flat), flat.size - k)[flat.size - k:])
            idx = idx.astype(np.int64, copy=False)
        values = flat[idx]
        # NaN sorts above every magnitude, so a NaN in acc is among the k >= 1 values sent
        if np.isnan(values).any():
            raise _nan_error("g", g)
        flat[idx] = 0
        self.residual = acc
        return idx, values

    @staticmethod
    def decompress(indices, values, shape):
        """Dense array of ``shape`` (dtype of ``values``) with ``values`` at flat ``indices``."""
        shape = _shape_arg(shape, "shape")
        idx = _checks.as_array(indices, "indices", (np.dtype(np.int64), np.dtype(np.int32),
                                                    np.dtype(np.intp)), min_ndim=1, max_ndim=1)
        val = _checks.as_array(values, "values", (_F32, _F64), min_ndim=1, max_ndim=1)
        if idx.shape != val.shape:
            raise ValueError(f"values: expected {idx.size} values (one per index), "
                             f"got {val.size}")
        n = math.prod(shape)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"indices: expected values in [0, {n - 1}], got "
                             f"[{idx.min()}, {idx.max()}]")
        out = np.zeros(n, val.dtype)
        out[idx] = val
        return out.reshape(shape)
