"""``TopKCompressor``: error-feedback top-k sparsification of gradients (a training-side tool)."""

from __future__ import annotations

import fractions
import math

import numpy as np

from wasmpose import _checks
from wasmpose.quant._common import F32, F64, array, nan_error, real_in, shape_arg


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
        self.ratio = real_in(ratio, "ratio", 0, 1)
        self.residual = None

    def k(self, size):
        """Entries sent for a gradient of ``size`` entries (an int >= 0)."""
        size = _checks.integer(size, "size", minimum=0)
        if size < 2**53:
            return min(size, math.ceil(round(self.ratio * size, 9)))
        return min(size, math.ceil(round(fractions.Fraction(self.ratio) * size, 9)))  # exact

    def reset(self):
        """Drop the residual."""
        self.residual = None

    def compress(self, g):
        """Return ``(indices, values)``: flat C-order int64 indices (ascending) and the values
        of ``g + residual`` there; the rest becomes the residual (same shape and dtype as the
        first gradient)."""
        g = array(g, "g", (F32, F64))
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
            if np.isnan(flat).any():  # nothing is sent: look for NaN everywhere
                raise nan_error("g", g)
            idx = np.empty(0, np.int64)
        elif k == flat.size:
            idx = np.arange(k, dtype=np.int64)
        else:
            idx = np.sort(np.argpartition(np.abs(flat), flat.size - k)[flat.size - k:])
            idx = idx.astype(np.int64, copy=False)
        values = flat[idx]
        # NaN sorts above every magnitude, so a NaN in acc is among the k >= 1 values sent
        if np.isnan(values).any():
            raise nan_error("g", g)
        flat[idx] = 0
        self.residual = acc
        return idx, values

    @staticmethod
    def decompress(indices, values, shape):
        """Dense array of ``shape`` (dtype of ``values``) with ``values`` at flat ``indices``."""
        idx = array(indices, "indices", (np.dtype(np.int64), np.dtype(np.int32),
                                                    np.dtype(np.intp)), min_ndim=1, max_ndim=1)
        val = array(values, "values", (F32, F64), min_ndim=1, max_ndim=1)
        if idx.shape != val.shape:
            raise ValueError(f"values: expected {idx.size} values (one per index), "
                             f"got {val.size}")
        shape = shape_arg(shape, "shape", val.dtype.itemsize)
        n = math.prod(shape)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"indices: expected values in [0, {n - 1}], got "
                             f"[{idx.min()}, {idx.max()}]")
        out = np.zeros(n, val.dtype)
        out[idx] = val
        return out.reshape(shape)
