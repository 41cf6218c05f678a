"""Numba kernels of :func:`wasmpose.heatmap.refine_landmarks`: a serial and a parallel variant.

They follow MediaPipe's ``RefineLandmarksFromHeatMap`` (``refine_landmarks_from_heatmap_
calculator.cc``) operation by operation, in float32 and in its order: the window's cells row by
row, left to right, summed one after the other. Same signature as
``_reference.refine_landmarks``: ``lm`` ``(B, K, C)`` float32 or float64 landmarks, ``h`` the
float32 heatmaps ``(B, H, W, K)`` (``khw`` false) or ``(B, K, H, W)`` (``khw`` true),
C-contiguous; ``out`` a copy of ``lm`` whose x and y are overwritten where refined.
All helpers live in this module because Numba's cache does not notice edits to other files.
"""

import math

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

_INT_MIN = -(1 << 31)


@njit(**_SERIAL)
def _to_int(f):
    """C++'s ``int i = f`` on x86-64: truncation toward zero; NaN and values out of the int32
    range give INT_MIN (``cvttss2si``'s "integer indefinite")."""
    if f > -2147483649.0 and f < 2147483648.0:
        return int(f)
    return _INT_MIN


@njit(**_SERIAL)
def _confidence(v, act):
    """MediaPipe's ``1.0f / (1.0f + std::exp(-v))`` in float32 (the exp in float64, rounded)."""
    if not act:
        return v
    e = np.float32(math.exp(-np.float64(v)))
    return np.float32(1.0) / (np.float32(1.0) + e)


@njit(**_SERIAL)
def _refine_one(lm, h, b, k, khw, off, minconf, act, out):
    if khw:
        hh, ww = h.shape[2], h.shape[3]
    else:
        hh, ww = h.shape[1], h.shape[2]
    col = _to_int(np.float32(lm[b, k, 0]) * np.float32(ww))
    row = _to_int(np.float32(lm[b, k, 1]) * np.float32(hh))
    if col < 0 or col >= ww or row < 0 or row >= hh:
        return  # outside the map: left as it is
    c0, c1 = max(0, col - off), min(ww, col + off + 1)
    r0, r1 = max(0, row - off), min(hh, row + off + 1)
    total = np.float32(0.0)
    wcol = np.float32(0.0)
    wrow = np.float32(0.0)
    best = np.float32(0.0)
    for r in range(r0, r1):
        for c in range(c0, c1):
            v = h[b, k, r, c] if khw else h[b, r, c, k]
            conf = _confidence(v, act)
            total += conf
            best = conf if best < conf else best  # std::max(best, conf): NaN never wins
            wcol += np.float32(c) * conf
            wrow += np.float32(r) * conf
    if best >= minconf and total > 0:
        out[b, k, 0] = wcol / np.float32(ww) / total
        out[b, k, 1] = wrow / np.float32(hh) / total


@njit(**_SERIAL)
def refine_serial(lm, h, khw, off, minconf, act, out):
    nb, nk = lm.shape[0], lm.shape[1]
    for b in range(nb):
        for k in range(nk):
            _refine_one(lm, h, b, k, khw, off, minconf, act, out)


@njit(**_PARALLEL)
def refine_parallel(lm, h, khw, off, minconf, act, out):
    nb, nk = lm.shape[0], lm.shape[1]
    for i in prange(nb * nk):
        _refine_one(lm, h, i // nk, i % nk, khw, off, minconf, act, out)
