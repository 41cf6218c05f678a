"""Numba kernels of :func:`wasmpose.heatmap.decode_simcc`: a serial and a parallel variant.

They take C-contiguous ``(R, Wx)`` and ``(R, Wy)`` float32 stacks of SimCC vectors (R = N * K,
validated by ``wasmpose.heatmap``), the same arrays viewed as int32, the split ratio as float32
and the score rule, and have the signature of ``_reference.decode_simcc``.

The argmax of a row is found in one vectorised pass over order-preserving integer keys of the
float32 bits (a float compare does not vectorise as a reduction without fast-math, which would
lose NaN): per block of :data:`BLOCK` values the maximum key, and the first block holding the
row's maximum; then the first value of that block with that key. A NaN's key lies beyond
every number's (above +inf's, or below -inf's with the sign bit set); a row holding one is
scanned again for its first NaN, which is ``np.argmax``'s answer (and ``np.amax`` is NaN).
``-0.0`` and ``0.0`` have different keys but compare equal: when the maximum is a zero, the
row is scanned again for its first zero of either sign, as ``np.argmax`` finds.
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

# Values per block of the argmax pass (measured: 32 and 64 were fastest for 384..768 bins).
BLOCK = 64
# Rows per parallel task.
ROWS = 32

SCORE_MIN, SCORE_MEAN = 0, 1

_KEY_MIN = np.int32(-(1 << 31))
_KEY_POS_INF = np.int32(0x7F800000)  # key of +inf
_KEY_NEG_INF = np.int32(-0x7F800001)  # key of -inf (bits 0xFF800000)
_LOW31 = np.int32(0x7FFFFFFF)
_SHIFT = np.int32(31)


@njit(inline="always", **_SERIAL)
def _key(b):
    """An int32 whose order is the order of the float32 with bits ``b`` (-0.0 just below 0.0)."""
    return np.int32(b ^ ((b >> _SHIFT) & _LOW31))


@njit(**_SERIAL)
def _row_argmax(vals, bits):
    """``(np.amax(vals), np.argmax(vals))`` of a non-empty float32 row and its int32 view."""
    n = vals.size
    nb = n // BLOCK
    best = _KEY_MIN
    lo = _LOW31
    block = 0
    for b in range(nb):
        base = b * BLOCK
        bmax = _KEY_MIN
        bmin = _LOW31
        for j in range(BLOCK):
            k = _key(bits[base + j])
            bmax = max(bmax, k)
            bmin = min(bmin, k)
        if bmax > best:
            best = bmax
            block = b
        lo = min(lo, bmin)
    at = -1
    for j in range(nb * BLOCK, n):
        k = _key(bits[j])
        lo = min(lo, k)
        if k > best:
            best = k
            at = j
    if best > _KEY_POS_INF or lo < _KEY_NEG_INF:  # a NaN (positive or negative)
        for j in range(n):
            if vals[j] != vals[j]:
                return vals[j], j
    if best == 0 or best == -1:  # the maximum is a zero (keys of 0.0 and -0.0)
        for j in range(n):
            if vals[j] == 0:
                return vals[j], j
    if at < 0:
        base = block * BLOCK
        for j in range(base, base + BLOCK):
            if _key(bits[j]) == best:
                at = j
                break
    return vals[at], at


@njit(**_SERIAL)
def _decode_rows(x, y, xb, yb, ratio, rule, r0, r1, coords, scores):
    half = np.float32(0.5)
    minus = np.float32(-1.0)
    for r in range(r0, r1):
        mx, ix = _row_argmax(x[r], xb[r])
        my, iy = _row_argmax(y[r], yb[r])
        if rule == SCORE_MEAN:
            s = half * (mx + my)
        else:  # mmpose: ``mask = mx > my; mx[mask] = my[mask]`` (NaN in my keeps mx)
            s = my if mx > my else mx
        scores[r] = s
        if s <= 0:
            coords[r, 0] = minus / ratio
            coords[r, 1] = minus / ratio
        else:
            coords[r, 0] = np.float32(ix) / ratio
            coords[r, 1] = np.float32(iy) / ratio


@njit(**_SERIAL)
def decode_simcc_serial(x, y, xb, yb, ratio, rule):
    rows = x.shape[0]
    coords = np.empty((rows, 2), np.float32)
    scores = np.empty(rows, np.float32)
    _decode_rows(x, y, xb, yb, ratio, rule, 0, rows, coords, scores)
    return coords, scores


@njit(**_PARALLEL)
def decode_simcc_parallel(x, y, xb, yb, ratio, rule):
    rows = x.shape[0]
    coords = np.empty((rows, 2), np.float32)
    scores = np.empty(rows, np.float32)
    for t in prange((rows + ROWS - 1) // ROWS):
        _decode_rows(x, y, xb, yb, ratio, rule, t * ROWS, min(rows, (t + 1) * ROWS), coords,
                     scores)
    return coords, scores
