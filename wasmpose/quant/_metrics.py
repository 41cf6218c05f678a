"""Error metrics of a quantisation: ``mse`` and ``sqnr``, accumulated in float64.

Both compare element by element: an element equal in both arrays (infinities included) has no
error, a NaN in either array makes the result NaN, and any other pair contributes
``(reference - approx) ** 2``.
"""

from __future__ import annotations

import math

import numpy as np

from wasmpose.quant._common import refuse_masked


def _real_array(x, name):
    """``x`` as a real numeric array (a masked array is refused: its mask would be ignored)."""
    refuse_masked(x, name)
    v = np.asarray(x)
    if v.dtype == object and v.size and all(type(e) is int for e in v.flat):
        try:  # Python ints beyond int64
            v = v.astype(np.float64)
        except OverflowError:
            raise ValueError(f"{name}: expected values within the float range, got an int too "
                             f"large for a float") from None
    if v.dtype.kind not in "iuf" or v.dtype == np.bool_:
        raise TypeError(f"{name}: expected a real numeric array, got dtype {v.dtype}")
    return v


def _squared_error(reference, approx):
    """``reference``, ``approx`` as arrays and ``(reference - approx) ** 2`` in float64 (a new
    array, or a float for 0-d inputs), after the checks.

    The subtraction converts to float64 as it goes (no float64 copies of the inputs) and the
    square is taken in place: one new array instead of four. Equal infinities give NaN here;
    :func:`_total` sets them to 0 when the sum shows a NaN.
    """
    a = _real_array(reference, "reference")
    b = _real_array(approx, "approx")
    if a.shape != b.shape:
        raise ValueError(f"approx: expected shape {a.shape} (the reference's), got {b.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.subtract(a, b, dtype=np.float64)
        return a, b, np.square(d, out=d if d.ndim else None)  # 0-d inputs give a scalar


def _total(a, b, err, reduce):
    """``reduce(err)`` as a float, with the errors of equal infinities set to 0 first."""
    total = float(reduce(err))
    if math.isnan(total):  # inf - inf of equal infinities, or a NaN input
        err = np.where(a == b, 0.0, err)
        total = float(reduce(err))
    return total


def mse(reference, approx):
    """Mean squared error, accumulated in float64 (0.0 for empty arrays).

    Parameters
    ----------
    reference, approx : array_like, any shape (the same for both), integer or float
        The exact values and their approximation (e.g. ``dequantize(quantize(x, p), p)``).

    Returns
    -------
    float
        ``mean((reference - approx) ** 2)``, where elements equal in both arrays (equal
        infinities too) count 0: identical arrays give 0.0. NaN when either array holds a NaN;
        ``inf`` when an element differs by an infinity or the squares overflow float64.

    Raises
    ------
    ValueError
        The shapes differ, or an input holds a Python int too large for a float.
    TypeError
        An input is not a real numeric array (masked arrays are refused).

    Examples
    --------
    >>> mse([1.0, 2.0], [1.0, 4.0])
    2.0
    >>> mse([1.0, float("inf")], [1.0, float("inf")])
    0.0
    """
    a, b, err = _squared_error(reference, approx)
    return _total(a, b, err, np.mean) if err.size else 0.0


def _decibels(signal, noise):
    ratio = signal / noise if noise else math.inf  # inf / inf is NaN: undefined
    if ratio == 0:
        return -math.inf
    return ratio if math.isinf(ratio) or math.isnan(ratio) else 10.0 * math.log10(ratio)


def sqnr(reference, approx):
    """Signal-to-quantisation-noise ratio in dB: ``10 log10(sum(ref^2) / sum((ref - approx)^2))``.

    ``inf`` when the arrays are identical (equal infinities included), NaN when either holds a
    NaN. Accumulated in float64; finite inputs whose squares overflow or underflow float64
    (beyond about 1e154 or below 1e-162) are scaled by their largest magnitude first, so the
    ratio stays the true one.

    Parameters
    ----------
    reference, approx : array_like, any shape (the same for both), integer or float
        The exact values and their approximation.

    Returns
    -------
    float
        The ratio in dB; ``inf`` without noise, ``-inf`` for an all-zero reference with noise
        (or finite signal against infinite noise), NaN for NaN inputs or an infinite
        reference against infinite noise (``sqnr([inf], [1])``).

    Raises
    ------
    ValueError
        The shapes differ, or an input holds a Python int too large for a float.
    TypeError
        An input is not a real numeric array (masked arrays are refused).

    Examples
    --------
    >>> round(sqnr([1.0, 2.0], [1.0, 2.1]), 3)
    26.99
    >>> sqnr([1.0, float("inf")], [1.0, float("inf")])
    inf
    """
    a, b, err = _squared_error(reference, approx)
    noise = _total(a, b, err, np.sum)
    if math.isnan(noise):
        return math.nan
    if noise == 0 and np.array_equal(a, b):
        return math.inf
    with np.errstate(over="ignore"):
        signal = float(np.sum(np.square(a, dtype=np.float64)))
    if noise == 0 or signal == 0 or math.isinf(noise) or math.isinf(signal):
        a64 = np.asarray(a, np.float64)
        b64 = np.asarray(b, np.float64)
        if np.isfinite(a64).all() and np.isfinite(b64).all():  # over- or underflow: rescale
            m = max(float(np.max(np.abs(a64), initial=0)), float(np.max(np.abs(b64), initial=0)))
            signal = float(np.sum(np.square(a64 / m)))
            noise = float(np.sum(np.square(a64 / m - b64 / m)))
    return _decibels(signal, noise)
