"""Numba kernels of :func:`wasmpose.heatmap.decode_simcc`: a serial and a parallel variant.

They take C-contiguous ``(R, Wx)`` and ``(R, Wy)`` float32 stacks of SimCC vectors (R = N * K,
validated by ``wasmpose.heatmap``) with their argmax from ``np.argmax``, the split ratio as
float32 and the score rule, and have the signature of ``_reference.decode_simcc``.

The argmax is NumPy's: its SIMD loop (AVX-512 here) reads a vector about twice as fast as the
best one-pass Numba argmax we wrote (integer keys of the float32 bits, blockwise, 24 us against
13 us for 170 x (384 + 512) values), and it is the definition (first maximum, first NaN). The
kernels gather the two maxima at the argmax, combine them into the score and divide.
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

# Rows per parallel task.
ROWS = 64

SCORE_MIN, SCORE_MEAN = 0, 1


@njit(**_SERIAL)
def _decode_rows(x, y, ax, ay, ratio, rule, r0, r1, coords, scores):
    half = np.float32(0.5)
    minus = np.float32(-1.0)
    for r in range(r0, r1):
        ix, iy = ax[r], ay[r]
        mx, my = x[r, ix], y[r, iy]  # np.amax, but for the sign of a zero maximum
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
def decode_simcc_serial(x, y, ax, ay, ratio, rule):
    rows = x.shape[0]
    coords = np.empty((rows, 2), np.float32)
    scores = np.empty(rows, np.float32)
    _decode_rows(x, y, ax, ay, ratio, rule, 0, rows, coords, scores)
    return coords, scores


@njit(**_PARALLEL)
def decode_simcc_parallel(x, y, ax, ay, ratio, rule):
    rows = x.shape[0]
    coords = np.empty((rows, 2), np.float32)
    scores = np.empty(rows, np.float32)
    for t in prange((rows + ROWS - 1) // ROWS):
        _decode_rows(x, y, ax, ay, ratio, rule, t * ROWS, min(rows, (t + 1) * ROWS), coords,
                     scores)
    return coords, scores
