"""``DynamicQuantizer``: calibration over a stream of batches (torch's observers), then quantize."""

from __future__ import annotations

import numpy as np

from wasmpose import _checks
from wasmpose.quant._calibrate import calib_options, channel_range, qparams, tensor_range
from wasmpose.quant._common import F32, float32, norm_axis, real_in
from wasmpose.quant._quantize import quantize


def _moving_average(r, batch, c):
    """``r + c * (batch - r)`` in float32 as torch's moving-average observers compute it.

    Where float32 overflows on the way (``batch - r`` beyond 3.4e38, where torch gets an
    infinite range) the same formula is evaluated in float64, whose result float32 can hold.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = (r + np.float32(c) * (batch - r)).astype(F32)
    bad = ~np.isfinite(out)
    if np.any(bad):
        r64 = np.asarray(r, np.float64)
        exact = (r64 + c * (np.asarray(batch, np.float64) - r64)).astype(F32)
        out = np.where(bad, exact, out).astype(F32)
    return out


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
        self._dtype, self._sym, self._rr, self._opts = calib_options(
            dtype, scheme, method, percentile, reduce_range, bins, quantized_bins)
        if averaging_constant is not None:
            averaging_constant = real_in(averaging_constant, "averaging_constant", 0, 1)
        self.averaging_constant = averaging_constant
        self.axis = None if axis is None else _checks.integer(axis, "axis")
        self.min_val = None
        self.max_val = None

    def reset(self):
        """Forget every batch observed so far."""
        self.min_val = self.max_val = None

    def observe(self, x):
        """Update the range with the batch ``x`` (float, any shape); empty batches are skipped."""
        x = float32(x, "x")
        if x.size == 0:
            return
        if self.axis is None:
            lo, hi = tensor_range(x, *self._opts)
        else:
            ax = norm_axis(self.axis, x.ndim)
            if self.min_val is not None and x.shape[ax] != self.min_val.size:
                raise ValueError(f"x: expected {self.min_val.size} channels along axis "
                                 f"{self.axis}, got shape {x.shape}")
            lo, hi = channel_range(x, ax, *self._opts)
        lo = np.asarray(lo, F32)
        hi = np.asarray(hi, F32)
        if self.min_val is None:
            self.min_val, self.max_val = lo, hi
        elif self.averaging_constant is None:
            self.min_val = np.minimum(self.min_val, lo)
            self.max_val = np.maximum(self.max_val, hi)
        else:
            self.min_val = _moving_average(self.min_val, lo, self.averaging_constant)
            self.max_val = _moving_average(self.max_val, hi, self.averaging_constant)

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
        return qparams(self.min_val, self.max_val, self._dtype, self._sym, self._rr, self.axis,
                       "observed range")

    def quantize(self, x):
        """:func:`quantize` ``x`` with :meth:`params`."""
        return quantize(x, self.params())
