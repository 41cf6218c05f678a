"""``QuantParams``: the scale and zero point of an affine quantisation, validated once."""

from __future__ import annotations

import dataclasses

import numpy as np

from wasmpose import _checks
from wasmpose.quant._common import DTYPES, F32, bool_arg, norm_axis


def qrange(dtype, reduce_range):
    """(qmin, qmax) of ``dtype``, halved as torch does with ``reduce_range``."""
    lo, hi = DTYPES[dtype][:2]
    return (lo // 2, hi // 2) if reduce_range else (lo, hi)


def _readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _real_values(a, name):
    """``a`` (from ``np.asarray``) as an array of real numbers (int, uint or float).

    Python ints beyond int64 make object arrays: they are converted to float64 (where they are
    out of every valid range) or, past the largest float, refused with a ``ValueError``.
    """
    if a.dtype == object:
        try:
            a = a.astype(np.float64)
        except OverflowError:
            raise ValueError(f"{name}: expected values within the float range, got an int too "
                             f"large for a float") from None
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected real numbers, got dtype object") from None
    if a.dtype.kind not in "iuf" or a.dtype == np.bool_:
        raise TypeError(f"{name}: expected real numbers, got dtype {a.dtype}")
    return a


def _check_scale(scale, s32):
    """``ValueError`` unless every float32 ``s32`` (``scale`` converted) is > 0, finite, and has a
    finite float32 reciprocal; the message shows the values as given."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        bad = ~((s32 > 0) & np.isfinite(s32) & np.isfinite(np.float32(1) / s32))
    if np.any(bad):
        shown = scale[bad].ravel()[:4].tolist() if scale.ndim else scale[()].item()
        raise ValueError(f"scale: expected finite values > 0 with a finite float32 reciprocal "
                         f"(float32 values in [3.0e-39, 3.4e38]), got {shown}")


def _zero_points(zp, lo, hi, dtype):
    """Integer (or integral float) zero points ``zp`` as int64, each within ``[lo, hi]``."""
    flat = zp.ravel()
    out = (flat < lo) | (flat > hi)
    if np.any(out):  # checked before any cast: 1e30 must not wrap into the range
        shown = [int(v) if zp.dtype.kind in "iu" else float(v) for v in flat[out][:4]]
        raise ValueError(f"zero_point: expected values in [{lo}, {hi}] for {dtype}, got {shown}")
    return zp.astype(np.int64)


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
        dtype = _checks.choice(self.dtype, "dtype", tuple(DTYPES))
        lo, hi = DTYPES[dtype][:2]
        bool_arg(self.reduce_range, "reduce_range")
        axis = None if self.axis is None else _checks.integer(self.axis, "axis")
        scale = _real_values(np.asarray(self.scale), "scale")
        zp = _real_values(np.asarray(self.zero_point), "zero_point")
        if zp.dtype.kind == "f" and not (np.all(np.isfinite(zp)) and np.all(zp == np.round(zp))):
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
        with np.errstate(over="ignore"):  # too large for float32: refused just below
            s32 = scale.astype(F32)
        _check_scale(scale, s32)
        zp = _zero_points(zp, lo, hi, dtype)
        set_ = object.__setattr__
        set_(self, "dtype", dtype)
        set_(self, "axis", axis)
        set_(self, "reduce_range", bool(self.reduce_range))
        set_(self, "scale", s32[()] if axis is None else _readonly(s32))
        set_(self, "zero_point", np.int32(zp[()]) if axis is None else
             _readonly(zp.astype(np.int32)))

    @property
    def qmin(self) -> int:
        return qrange(self.dtype, self.reduce_range)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.dtype, self.reduce_range)[1]

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


def check_params(params):
    if not isinstance(params, QuantParams):
        raise TypeError(f"params: expected a QuantParams, got {type(params).__name__}")
    return params


def channel_axis(params, shape, name):
    """The channel axis of per-channel ``params`` in an array of ``shape``, checked."""
    ax = norm_axis(params.axis, len(shape), "params.axis")
    if shape[ax] != params.scale.size:
        raise ValueError(f"{name}: expected {params.scale.size} channels (params) along axis "
                         f"{params.axis}, got shape {shape}")
    return ax
