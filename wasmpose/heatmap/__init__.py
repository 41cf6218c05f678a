"""Heatmap post-processing: peak finding and keypoint decoding.

Each public function validates its arguments here, then runs one variant of its kernel
(``_reference.py`` holds the NumPy versions, ``_kernels.py`` the compiled ones) as chosen by
:mod:`wasmpose.cpu`. Shape symbols: N images, K keypoint channels, H rows, W columns.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from wasmpose import _checks
from wasmpose.cpu import Kernel, register
from wasmpose.heatmap import _kernels as _nb
from wasmpose.heatmap import _reference as _ref

__all__ = ["find_peaks", "Peaks", "decode_heatmaps"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F32, _F64)
_NO_BLUR = np.ones(1)  # the blur argument of the kernels when ``refine`` is not "dark"
_NO_BLUR.flags.writeable = False
_REFINE = {None: _nb.REFINE_NONE, "shift": _nb.REFINE_SHIFT,
           "quadratic": _nb.REFINE_QUADRATIC, "dark": _nb.REFINE_DARK}


class Peaks(NamedTuple):
    """Peaks found by :func:`find_peaks`, one entry per peak.

    Ordered by batch, then channel, then score descending; equal scores by y, then x.
    A named tuple of five arrays of the same shape ``(P,)``, P the number of peaks.

    Attributes
    ----------
    batch : ndarray, shape (P,), int32
        Image index (all zeros for a single ``(K, H, W)`` input).
    channel : ndarray, shape (P,), int32
        Keypoint channel.
    y, x : ndarray, shape (P,), int32
        Row and column of the peak.
    score : ndarray, shape (P,)
        The heatmap value, in the heatmaps' dtype.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.zeros((2, 5, 5), np.float32)
    >>> h[1, 2, 3] = 0.9
    >>> p = find_peaks(h)
    >>> p.channel.tolist(), p.y.tolist(), p.x.tolist(), p.score.dtype
    ([1], [2], [3], dtype('float32'))
    """

    batch: np.ndarray  #: int32, image index (all zeros for a single (K, H, W) input)
    channel: np.ndarray  #: int32, keypoint channel
    y: np.ndarray  #: int32, row
    x: np.ndarray  #: int32, column
    score: np.ndarray  #: the heatmap value, dtype of the heatmaps


# ---------------------------------------------------------------------------------------------
# Registry. Thresholds (pixels) measured on a 2-core machine with benchmarks/benchmark_heatmap.
# ---------------------------------------------------------------------------------------------
def _warm_peaks(variant):
    for dt in _FLOATS:
        _PEAKS.variant(variant)(np.zeros((1, 4, 4), dt), 1, dt.type(0.1), 3, -1)


def _warm_decode(variant):
    g = _gaussian_kernel(11)  # no cut: DARK needs maps of 5 x 5 or more
    for dt in _FLOATS:  # one compilation per dtype: ``refine`` is a runtime int
        _DECODE.variant(variant)(np.ones((1, 8, 8), dt), np.zeros(1, np.intp), _nb.REFINE_DARK, g)


_PEAKS = register(Kernel("find_peaks", reference=_ref.find_peaks,
                         serial=_nb.find_peaks_serial, parallel=_nb.find_peaks_parallel,
                         parallel_min_size=1 << 19, warmup=_warm_peaks))
_DECODE = register(Kernel("decode_heatmaps", reference=_ref.decode, serial=_nb.decode_serial,
                          parallel=_nb.decode_parallel, parallel_min_size=1 << 20,
                          warmup=_warm_decode))


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def _heatmaps(heatmaps) -> np.ndarray:
    return _checks.as_array(heatmaps, "heatmaps", _FLOATS, min_ndim=3, max_ndim=4,
                            ndim_text="(K, H, W) or (N, K, H, W)")


@functools.lru_cache(maxsize=16)
def _gaussian_kernel(ksize: int, taps: int | None = None) -> np.ndarray:
    """The 1-D Gaussian of ``cv2.getGaussianKernel(ksize, 0)`` (float64, read-only, computed
    once per size), as mmpose blurs; cut to its central ``taps`` (odd) when ``taps < ksize``.

    The cut kernel keeps the sigma of ``ksize`` and is normalised over its own taps (the full
    one would be allocated for that). Callers cut only taps that never meet the map.
    """
    taps = ksize if taps is None else min(ksize, taps)
    fixed = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
             7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
             9: [4 / 256, 13 / 256, 30 / 256, 51 / 256, 60 / 256, 51 / 256, 30 / 256, 13 / 256,
                 4 / 256]}
    if ksize in fixed:  # OpenCV's table of small kernels
        g = np.array(fixed[ksize])
        g = g[(ksize - taps) // 2:(ksize + taps) // 2]
    else:
        # sigma of an absurd ksize (> 2**1000) is infinite in float: a flat kernel, as its
        # real sigma gives on any map that fits in memory
        half = min((ksize - 1) // 2, 1 << 1000)
        sigma = 0.3 * (half - 1) + 0.8
        x = np.arange(taps) - (taps - 1) / 2
        g = np.exp(-(x * x) / (2 * sigma * sigma))
        g /= g.sum()
    g.flags.writeable = False
    return g


def _dark_blur(ksize: int, hh: int, w: int) -> np.ndarray:
    """DARK's Gaussian for maps of ``hh`` x ``w``: taps farther than ``max(hh, w) - 1`` from the
    centre only ever meet the zero padding, so at most ``2 * max(hh, w) - 1`` taps are built."""
    return _gaussian_kernel(ksize, 2 * max(hh, w) - 1)


# ---------------------------------------------------------------------------------------------
# find_peaks
# ---------------------------------------------------------------------------------------------
def find_peaks(heatmaps, *, threshold=0.1, window=3, top_k=None) -> Peaks:
    """Local maxima of heatmaps: the ``max_pool2d(h, window, 1, window // 2) == h`` rule.

    Parameters
    ----------
    heatmaps : ndarray, shape (K, H, W) or (N, K, H, W), float32 or float64
        One map per keypoint channel (and image).
    threshold : float, default 0.1
        A peak's value must be ``> threshold``. The comparison is made in the dtype of
        ``heatmaps`` (the threshold is rounded to it first), as NumPy and PyTorch compare.
    window : odd int >= 1, default 3
        Side of the square neighbourhood; cells outside the map are ignored (so a window
        larger than ``2 * max(H, W) - 1`` acts as that one: the map's global maxima).
    top_k : int >= 0, optional
        Keep only the best ``top_k`` peaks per (image, channel).

    Returns
    -------
    Peaks
        ``(batch, channel, y, x, score)``: a pixel is a peak iff its value is above the
        threshold and equals the maximum of its neighbourhood, so every pixel of a flat
        maximum is a peak. NaN pixels are never peaks and count as ``-inf`` neighbours.
        Ordered by batch, channel, score descending, then y and x.

    Raises
    ------
    TypeError
        ``heatmaps`` is not float32/float64, or an argument has the wrong type.
    ValueError
        ``heatmaps`` is not 3-D or 4-D, ``window`` is not odd and >= 1, ``threshold`` is NaN,
        or ``top_k`` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.heatmap import find_peaks
    >>> h = np.zeros((1, 5, 5), np.float32)
    >>> h[0, 1, 1], h[0, 3, 4] = 0.9, 0.5
    >>> p = find_peaks(h)
    >>> p.y, p.x, p.score
    (array([1, 3], dtype=int32), array([1, 4], dtype=int32), array([0.9, 0.5], dtype=float32))
    """
    h = _heatmaps(heatmaps)
    thr = _checks.real_scalar(threshold, "threshold")
    window = _checks.integer(window, "window", minimum=1, odd=True)
    k = _checks.integer(top_k, "top_k", minimum=0, allow_none=True)
    kk, hh, w = h.shape[-3:]
    # a channel has at most H * W peaks, and cells farther than the map's size are outside it:
    # clipping both changes no result and keeps the kernels' ints and scratch bounded
    k = -1 if k is None else min(k, hh * w)
    window = min(window, 2 * max(hh, w, 1) - 1)
    with np.errstate(over="ignore"):
        thr_t = h.dtype.type(thr)
    if h.size == 0:
        e = np.empty(0, np.int32)
        return Peaks(e, e.copy(), e.copy(), e.copy(), np.empty(0, h.dtype))
    maps = np.ascontiguousarray(h).reshape(-1, hh, w)
    return Peaks(*_PEAKS(h.size, maps, kk, thr_t, window, k))


# ---------------------------------------------------------------------------------------------
# decode_heatmaps
# ---------------------------------------------------------------------------------------------
def decode_heatmaps(heatmaps, *, refine="shift", blur_kernel=11):
    """Keypoint coordinates from heatmaps: the argmax of each channel, refined to sub-pixel.

    Parameters
    ----------
    heatmaps : ndarray, shape (K, H, W) or (N, K, H, W), float32 or float64
    refine : {None, "shift", "quadratic", "dark"}, default "shift"
        ``None``: the argmax pixel. ``"shift"``: a quarter pixel toward the higher neighbour on
        each axis where both neighbours exist (``1 <= x <= W-2``, likewise for y), as mmpose's
        ``refine_keypoints`` (which skips ``x == 1``, and x on row 0, y on column 0).
        ``"quadratic"``: the vertex of the parabola through the argmax and its two
        neighbours on each axis, offset clamped to +-0.5. ``"dark"``: DARK (Zhang et al.
        2020) as mmpose's ``refine_keypoints_dark``: Gaussian blur of size ``blur_kernel``
        (zero padding, ``cv2.getGaussianKernel`` weights, rescaled to the original maximum),
        log, one Newton step, for argmax pixels at least 2 from every border.
    blur_kernel : odd int >= 1, default 11
        Gaussian size for ``"dark"`` (11 suits heatmaps trained with sigma 2, 17 sigma 3);
        ignored by the other refinements. Any size is accepted: a kernel larger than
        ``2 * max(H, W) - 1`` is cut to that many central taps (same sigma), since the others
        only meet the zero padding. The cut kernel is normalised over its own taps, which the
        rescaling to the original maximum cancels: the result equals the uncut kernel's up to
        rounding.

    Returns
    -------
    coords : ndarray, shape (..., K, 2), float32
        (x, y) in heatmap pixels (pixel centres at integers). ``-1`` for channels whose
        maximum is ``<= 0``.
    scores : ndarray, shape (..., K), dtype of ``heatmaps``
        The maximum of each channel. The argmax is the first in raster order, as
        ``np.argmax``, which also means a channel holding NaN reports its first NaN.

    Raises
    ------
    TypeError
        ``heatmaps`` is not float32/float64, or an argument has the wrong type.
    ValueError
        ``heatmaps`` is not 3-D/4-D or has empty maps (H or W zero) while K > 0,
        ``refine`` is unknown, ``blur_kernel`` is not odd and >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.heatmap import decode_heatmaps
    >>> h = np.zeros((2, 4, 5), np.float32)
    >>> h[0, 2, 1], h[0, 2, 2] = 1.0, 0.5
    >>> coords, scores = decode_heatmaps(h)
    >>> coords
    array([[ 1.25,  2.  ],
           [-1.  , -1.  ]], dtype=float32)
    >>> scores
    array([1., 0.], dtype=float32)
    """
    h = _heatmaps(heatmaps)
    if refine is not None and not isinstance(refine, str):
        raise TypeError(f"refine: expected None, 'shift', 'quadratic' or 'dark', "
                        f"got {type(refine).__name__}")
    if refine not in _REFINE:
        raise ValueError(f"refine: expected None, 'shift', 'quadratic' or 'dark', got {refine!r}")
    code = _REFINE[refine]
    ksize = _checks.integer(blur_kernel, "blur_kernel", minimum=1, odd=True)
    lead = h.shape[:-2]
    hh, w = h.shape[-2:]
    nmaps = math.prod(lead)
    if nmaps == 0:
        return np.empty((*lead, 2), np.float32), np.empty(lead, h.dtype)
    if hh == 0 or w == 0:
        raise ValueError(f"heatmaps: expected non-empty maps (H, W > 0), got shape {h.shape}")
    maps = np.ascontiguousarray(h).reshape(nmaps, hh, w)
    am = np.argmax(maps.reshape(nmaps, -1), axis=1)
    g = _dark_blur(ksize, hh, w) if code == _nb.REFINE_DARK else _NO_BLUR
    coords, scores = _DECODE(h.size, maps, am, code, g)
    return coords.reshape(*lead, 2), scores.reshape(lead)
