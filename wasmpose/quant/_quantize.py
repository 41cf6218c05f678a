"""``quantize`` / ``dequantize`` (bit-exact with PyTorch) and the 4-bit packing of integers."""

from __future__ import annotations

import math

import numpy as np

from wasmpose import _checks
from wasmpose.quant import _reference as _ref
from wasmpose.quant._common import (
    DTYPES,
    F32,
    I8,
    LITTLE,
    PACKED,
    U8,
    array,
    contig,
    float32,
    nan_error,
    shape_arg,
    split3,
)
from wasmpose.quant._dispatch import DQ_CHANNEL, DQ_TENSOR, PACK, Q_CHANNEL, Q_TENSOR, UNPACK
from wasmpose.quant._params import channel_axis, check_params


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
    >>> from wasmpose.quant import QuantParams, quantize
    >>> quantize(np.array([-1.0, 0.25, 0.75, 100.0], np.float32), QuantParams(0.5, 0, "int8"))
    array([ -2,   0,   2, 127], dtype=int8)
    """
    x = float32(x, "x")
    p = check_params(params)
    lo, hi, store, _ = DTYPES[p.dtype]
    out = np.empty(x.shape, store)
    if x.size == 0:
        return out
    flo, fhi = np.float32(lo), np.float32(hi)
    xc = contig(x)
    inv = np.float32(1) / p.scale
    if p.axis is None:
        nan = Q_TENSOR(xc.nbytes + out.nbytes, xc.reshape(-1), out.reshape(-1), inv,
                        np.float32(p.zero_point), flo, fhi)
    else:
        shape3 = split3(x.shape, channel_axis(p, x.shape, "x"))
        nan = Q_CHANNEL(xc.nbytes + out.nbytes + inv.nbytes * 2, xc.reshape(shape3),
                         out.reshape(shape3), inv, p.zero_point.astype(F32), flo, fhi)
    if nan:
        raise nan_error("x", x)
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
    >>> from wasmpose.quant import QuantParams, dequantize
    >>> dequantize(np.array([-2, 0, 3], np.int8), QuantParams(0.5, 1, "int8"))
    array([-1.5, -0.5,  1. ], dtype=float32)
    """
    p = check_params(params)
    store = DTYPES[p.dtype][2]
    q = array(q, "q", (store,))
    out = np.empty(q.shape, F32)
    if q.size == 0:
        return out
    qc = contig(q)
    if p.axis is None:
        DQ_TENSOR(qc.nbytes + out.nbytes, qc.reshape(-1), out.reshape(-1), p.scale,
                  int(p.zero_point))
    else:
        shape3 = split3(q.shape, channel_axis(p, q.shape, "q"))
        DQ_CHANNEL(qc.nbytes + out.nbytes + p.scale.nbytes + p.zero_point.nbytes,
                   qc.reshape(shape3), out.reshape(shape3), p.scale, p.zero_point)
    return out


# --- 4-bit packing ----------------------------------------------------------------------------
def _pairs(flat, even):
    v = flat[:even].view(np.uint16 if LITTLE else np.dtype("<u2"))
    return v if LITTLE else v.astype(np.uint16)


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
    q = array(q, "q", (I8, U8))
    signed = q.dtype == I8
    flat = contig(q).reshape(-1)
    n = flat.size
    out = np.empty((n + 1) // 2, U8)
    even = n - n % 2
    bad = False
    if even:
        bad = PACK(even * 3 // 2, _pairs(flat, even), out[: even // 2], signed)
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
    packed = array(packed, "packed", (U8,), min_ndim=1, max_ndim=1)
    dtype = _checks.choice(dtype, "dtype", PACKED)
    shape = shape_arg(shape, "shape")
    n = math.prod(shape)
    if packed.size != (n + 1) // 2:
        raise ValueError(f"packed: expected {(n + 1) // 2} bytes for shape {shape}, "
                         f"got {packed.size}")
    signed = dtype == "int4"
    out = np.empty(n + n % 2, I8 if signed else U8)
    if n:
        src = contig(packed)
        if LITTLE:
            UNPACK(src.nbytes * 3, src, out.view(np.uint16), signed)
        else:
            _ref.unpack4(src, out.view(np.dtype("<u2")), signed)
    return out[:n].reshape(shape)
