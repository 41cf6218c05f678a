"""Heatmap post-processing: peak finding, keypoint decoding, SimCC and landmark refinement.

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
from wasmpose.heatmap import _landmarks as _lm
from wasmpose.heatmap import _reference as _ref
from wasmpose.heatmap import _simcc as _sc

__all__ = ["find_peaks", "Peaks", "decode_heatmaps", "decode_simcc", "refine_landmarks"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F32, _F64)
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
    g = _gaussian_kernel(11)
    for dt in _FLOATS:  # one compilation per dtype: ``refine`` is a runtime int
        _DECODE.variant(variant)(np.ones((1, 8, 8), dt), np.zeros(1, np.intp), _nb.REFINE_DARK, g)


_PEAKS = register(Kernel("find_peaks", reference=_ref.find_peaks,
                         serial=_nb.find_peaks_serial, parallel=_nb.find_peaks_parallel,
                         parallel_min_size=1 << 19, warmup=_warm_peaks))
_DECODE = register(Kernel("decode_heatmaps", reference=_ref.decode, serial=_nb.decode_serial,
                          parallel=_nb.decode_parallel, parallel_min_size=1 << 20,
                          warmup=_warm_decode))


def _warm_simcc(variant):
    x = np.zeros((1, 4), np.float32)
    am = np.zeros(1, np.intp)
    _SIMCC.variant(variant)(x, x, am, am, np.float32(2.0), _sc.SCORE_MIN)


def _warm_refine(variant):
    out = np.zeros((1, 1, 2), np.float32)
    for dt in _FLOATS:
        lm = np.zeros((1, 1, 2), dt)
        for khw in (False, True):
            _REFINE_LM.variant(variant)(lm, np.zeros((1, 1, 1, 1), np.float32), khw, 3,
                                        np.float32(0.5), True, out.astype(dt))


# SimCC: size = keypoints (rows); the kernel only gathers two values per row after NumPy's
# argmax, so threads never pay for a frame's worth of people. Landmark
# refinement: size = landmarks * window cells (one exp each): a BlazePose person (39 x 49)
# takes ~19 us serial; at that load the parallel variant never won (0.88x-1.07x for 1 to 40
# people), as no core was free; the threshold (17 people) is a guess for an idle machine.
_SIMCC = register(Kernel("decode_simcc", reference=_ref.decode_simcc,
                         serial=_sc.decode_simcc_serial, parallel=_sc.decode_simcc_parallel,
                         parallel_min_size=1 << 18, warmup=_warm_simcc))
_REFINE_LM = register(Kernel("refine_landmarks", reference=_ref.refine_landmarks,
                             serial=_lm.refine_serial, parallel=_lm.refine_parallel,
                             parallel_min_size=1 << 15, warmup=_warm_refine))


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def _heatmaps(heatmaps) -> np.ndarray:
    return _checks.as_array(heatmaps, "heatmaps", _FLOATS, min_ndim=3, max_ndim=4,
                            ndim_text="(K, H, W) or (N, K, H, W)")


@functools.lru_cache(maxsize=16)
def _gaussian_kernel(ksize: int) -> np.ndarray:
    """The 1-D Gaussian of ``cv2.getGaussianKernel(ksize, 0)`` (float64, read-only, computed
    once per size), as mmpose blurs."""
    fixed = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
             7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
             9: [4 / 256, 13 / 256, 30 / 256, 51 / 256, 60 / 256, 51 / 256, 30 / 256, 13 / 256,
                 4 / 256]}
    if ksize in fixed:  # OpenCV's table of small kernels
        g = np.array(fixed[ksize])
    else:
        sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
        x = np.arange(ksize) - (ksize - 1) / 2
        g = np.exp(-(x * x) / (2 * sigma * sigma))
        g /= g.sum()
    g.flags.writeable = False
    return g


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
        Side of the square neighbourhood; cells outside the map are ignored.
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
    k = -1 if k is None else k
    kk, hh, w = h.shape[-3:]
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
        Gaussian size for ``"dark"`` (11 suits heatmaps trained with sigma 2, 17 sigma 3).

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
    coords, scores = _DECODE(h.size, maps, am, code, _gaussian_kernel(ksize))
    return coords.reshape(*lead, 2), scores.reshape(lead)


# ---------------------------------------------------------------------------------------------
# decode_simcc
# ---------------------------------------------------------------------------------------------
_SCORE_RULES = {"min": _sc.SCORE_MIN, "mean": _sc.SCORE_MEAN}


def _simcc_array(x, name):
    return _checks.as_array(x, name, (_F32,), min_ndim=2, max_ndim=3,
                            ndim_text="(K, W) or (N, K, W)")


def decode_simcc(simcc_x, simcc_y, *, split_ratio=2.0, score="min"):
    """Keypoints from SimCC vectors (RTMPose): the argmax on each axis over the split ratio.

    Exactly rtmlib's ``get_simcc_maximum`` followed by its ``locs / simcc_split_ratio``.

    Parameters
    ----------
    simcc_x : ndarray, shape (K, Wx) or (N, K, Wx), float32
        The x-axis classification vectors of K keypoints (of N people), as RTMPose emits them.
    simcc_y : ndarray, shape (K, Wy) or (N, K, Wy), float32
        The y-axis vectors, same leading shape as ``simcc_x``.
    split_ratio : float > 0, default 2.0
        Bins per input pixel (RTMPose's ``simcc_split_ratio``).
    score : {"min", "mean"}, default "min"
        How the two axis maxima make the keypoint score. ``"min"``: the smaller one, exactly
        mmpose's ``mask = mx > my; mx[mask] = my[mask]`` (so a NaN maximum of y keeps x's),
        as in mmpose and rtmlib up to 0.0.9. ``"mean"``: ``0.5 * (mx + my)`` in float32, what
        rtmlib's ``get_simcc_maximum`` computes from 0.0.10 on (0.0.16 included).

    Returns
    -------
    coords : ndarray, shape (..., K, 2), float32
        (x, y) in pixels of the model's input crop: the first argmax of each axis (as
        ``np.argmax``) divided by ``split_ratio`` in float32, as rtmlib divides. Where the
        score is ``<= 0`` both are ``-1 / split_ratio`` (rtmlib sets -1 before dividing).
        A row holding NaN has its first NaN as argmax, as ``np.argmax``.
    scores : ndarray, shape (..., K), float32
        The score of each keypoint (NaN where the rule meets a NaN maximum).

    Raises
    ------
    TypeError
        An array is not float32, or an argument has the wrong type.
    ValueError
        The arrays are not 2-D or 3-D, their leading shapes differ, a vector is empty while
        K > 0, ``split_ratio`` is not a finite positive number, ``score`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.heatmap import decode_simcc
    >>> sx = np.zeros((2, 8), np.float32)
    >>> sy = np.zeros((2, 6), np.float32)
    >>> sx[0, 5], sy[0, 3], sy[0, 4] = 0.9, 0.7, 0.7  # keypoint 1 scores 0: not found
    >>> coords, scores = decode_simcc(sx, sy)
    >>> coords
    array([[ 2.5,  1.5],
           [-0.5, -0.5]], dtype=float32)
    >>> scores
    array([0.7, 0. ], dtype=float32)
    """
    x = _simcc_array(simcc_x, "simcc_x")
    y = _simcc_array(simcc_y, "simcc_y")
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(f"simcc_y: expected the leading shape {x.shape[:-1]} of simcc_x "
                         f"(one vector per keypoint), got shape {y.shape}")
    ratio = _checks.real_scalar(split_ratio, "split_ratio", allow_inf=False)
    if not ratio > 0:
        raise ValueError(f"split_ratio: expected a positive number, got {ratio}")
    if not isinstance(score, str):
        raise TypeError(f"score: expected 'min' or 'mean', got {type(score).__name__}")
    if score not in _SCORE_RULES:
        raise ValueError(f"score: expected 'min' or 'mean', got {score!r}")
    lead = x.shape[:-1]
    rows = math.prod(lead)
    if rows == 0:
        return np.empty((*lead, 2), np.float32), np.empty(lead, np.float32)
    wx, wy = x.shape[-1], y.shape[-1]
    if wx == 0 or wy == 0:
        raise ValueError(f"simcc_x, simcc_y: expected non-empty vectors, got shapes {x.shape} "
                         f"and {y.shape}")
    x = np.ascontiguousarray(x).reshape(rows, wx)
    y = np.ascontiguousarray(y).reshape(rows, wy)
    # NumPy's argmax is the definition and its SIMD loop the fastest pass (see _simcc.py)
    ax, ay = np.argmax(x, axis=1), np.argmax(y, axis=1)
    coords, scores = _SIMCC(rows, x, y, ax, ay, np.float32(ratio), _SCORE_RULES[score])
    return coords.reshape(*lead, 2), scores.reshape(lead)


# ---------------------------------------------------------------------------------------------
# refine_landmarks
# ---------------------------------------------------------------------------------------------
_LAYOUTS = ("hwk", "khw")


def refine_landmarks(landmarks, heatmaps, *, kernel_size=7, min_confidence=0.5, sigmoid=True,
                     layout="hwk"):
    """Landmarks refined on their heatmaps: MediaPipe's ``RefineLandmarksFromHeatmapCalculator``.

    The BlazePose landmark model regresses its landmarks and also emits one heatmap per
    landmark (64 x 64 x 39 logits); MediaPipe's pose graph moves each landmark to the
    confidence-weighted mean cell of a window of its heatmap. The rule, for each landmark:

    1. its cell: ``col = int(x * W)``, ``row = int(y * H)`` (float32 products, truncated
       toward zero as C++ converts). If the cell is outside the map (``col < 0``,
       ``col >= W``, ``row < 0`` or ``row >= H``; NaN counts as outside), nothing changes.
    2. the window: the cells within ``(kernel_size - 1) // 2`` of it on each axis, clipped to
       the map (a landmark at a border gets a smaller window, as if padded with zeros).
    3. ``conf``: the sigmoid ``1 / (1 + exp(-v))`` of each window cell ``v`` (``sigmoid=True``:
       the model emits logits), or ``v`` itself.
    4. if the window's largest ``conf`` (at least 0; NaN never counts) is ``>= min_confidence``
       and the sum of ``conf`` is ``> 0`` (NaN is not): ``x = sum(col * conf) / W / sum(conf)``
       and ``y = sum(row * conf) / H / sum(conf)``. Otherwise the landmark is unchanged.

    Only x and y (the first two fields) ever change; z, visibility, presence and any other
    field are copied. Cell ``col`` maps back to ``x = col / W``: cell centres sit at integer
    multiples of the stride (for BlazePose, cell ``(row, col)`` is input pixel
    ``(4 * col, 4 * row)``). Arithmetic is float32 in MediaPipe's order (cells row by row,
    summed one after the other); the exp is taken in float64 and rounded, so a confidence can
    differ from MediaPipe's ``expf`` by one float32 ulp. MediaPipe's options
    ``refine_presence``/``refine_visibility`` (off in the pose graph) are not offered.
    Older MediaPipe sources compared ``col`` with H instead of ``row`` (a typo since fixed);
    this follows the fixed rule.

    Parameters
    ----------
    landmarks : ndarray, shape (..., K, C), C >= 2, float32 or float64
        x, y (then z, visibility, ...) of K landmarks, x and y normalised to [0, 1] over the
        heatmap (as MediaPipe's ``NORM_LANDMARKS``: pixels of the model input over its size).
    heatmaps : ndarray, shape (..., H, W, K) or (..., K, H, W), float32
        One map per landmark, channels last (``layout="hwk"``, as the model emits them) or
        first (``layout="khw"``); the same leading shape as ``landmarks``.
    kernel_size : int >= 1, default 7
        Window side (the pose graph sets 7; MediaPipe's option default is 9). An even size
        acts as the odd size below it, as MediaPipe's ``(kernel_size - 1) / 2``.
    min_confidence : float, default 0.5
        MediaPipe's ``min_confidence_to_refine``, compared in float32.
    sigmoid : bool, default True
        Apply the sigmoid to the heatmaps (MediaPipe always does; pass False for heatmaps
        that are already probabilities).
    layout : {"hwk", "khw"}, default "hwk"
        Axis order of ``heatmaps``.

    Returns
    -------
    ndarray, shape (..., K, C)
        A new array, dtype of ``landmarks``, refined where the rule allows.

    Raises
    ------
    TypeError
        ``landmarks`` is not float32/float64, ``heatmaps`` not float32, or an argument has
        the wrong type.
    ValueError
        Ranks or shapes do not match (leading shape, K, fewer than 2 fields),
        ``kernel_size < 1``, ``min_confidence`` is NaN, ``layout`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.heatmap import refine_landmarks
    >>> logits = np.full((8, 8, 1), -30.0, np.float32)  # (H, W, K): one landmark
    >>> logits[3, 4:6, 0] = 30.0  # two confident cells: (row 3, col 4) and (row 3, col 5)
    >>> lm = np.array([[0.5, 0.375, -0.1]], np.float32)  # x, y, z: cell (3, 4)
    >>> refine_landmarks(lm, logits, kernel_size=3)  # x: mean col 4.5 / 8
    array([[ 0.5625,  0.375 , -0.1   ]], dtype=float32)
    """
    lm = _checks.as_array(landmarks, "landmarks", _FLOATS, min_ndim=2,
                          ndim_text="(..., K, C) with C >= 2")
    hm = _checks.as_array(heatmaps, "heatmaps", (_F32,), min_ndim=3,
                          ndim_text="(..., H, W, K) or (..., K, H, W)")
    layout = _checks.choice(layout, "layout", _LAYOUTS)
    if lm.shape[-1] < 2:
        raise ValueError(f"landmarks: expected at least 2 fields (x, y) in the last axis, "
                         f"got shape {lm.shape}")
    if lm.shape[:-2] != hm.shape[:-3]:
        raise ValueError(f"heatmaps: expected the leading shape {lm.shape[:-2]} of landmarks "
                         f"before its 3 map axes, got shape {hm.shape}")
    khw = layout == "khw"
    k_maps = hm.shape[-3] if khw else hm.shape[-1]
    if k_maps != lm.shape[-2]:
        axis = "first" if khw else "last"
        raise ValueError(f"heatmaps: expected {lm.shape[-2]} maps (one per landmark) in the "
                         f"{axis} map axis (layout={layout!r}), got shape {hm.shape}")
    ksize = _checks.integer(kernel_size, "kernel_size", minimum=1)
    minconf = _checks.real_scalar(min_confidence, "min_confidence")
    if not isinstance(sigmoid, (bool, np.bool_)):
        raise TypeError(f"sigmoid: expected a bool, got {type(sigmoid).__name__}")
    k, c = lm.shape[-2:]
    nb = math.prod(lm.shape[:-2])
    out = np.array(lm, order="C")
    if nb * k == 0 or hm.size == 0:
        return out
    flat = out.reshape(nb, k, c)
    maps = np.ascontiguousarray(hm).reshape(nb, *hm.shape[-3:])
    with np.errstate(over="ignore"):
        minconf32 = np.float32(minconf)
    window = min(ksize, 2 * max(maps.shape[1:]) + 1)
    _REFINE_LM(nb * k * window * window, flat, maps, khw, (ksize - 1) // 2, minconf32,
               bool(sigmoid), flat)
    return out
