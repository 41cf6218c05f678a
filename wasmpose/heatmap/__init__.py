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
from wasmpose._registry import Kernel, count, register, rng, shape_hw
from wasmpose.heatmap import _kernels as _nb
from wasmpose.heatmap import _landmarks as _lm
from wasmpose.heatmap import _reference as _ref
from wasmpose.heatmap import _simcc as _sc

__all__ = ["find_peaks", "Peaks", "decode_heatmaps", "decode_simcc", "refine_landmarks"]

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
# Kernels: one declaration each (see wasmpose/_registry.py). Thresholds are bytes of array
# operands, measured on a 2-core machine with benchmarks/benchmark_heatmap (in pixels as the
# comments give).
# ---------------------------------------------------------------------------------------------
def _blobs(nbytes, dt, k=17, hw=None):
    """Heatmaps of about ``nbytes`` in all, a Gaussian blob each on faint noise: ``k`` maps
    as large as fits, or with ``hw`` as many ``(H, W)`` maps as fit."""
    if hw is None:
        h, w = shape_hw(nbytes // k, dt.itemsize)
    else:
        (h, w), k = hw, count(nbytes, hw[0] * hw[1] * dt.itemsize)
    r = rng()
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = r.uniform(0, h, (k, 1, 1)), r.uniform(0, w, (k, 1, 1))
    maps = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0) + 0.05 * r.random((k, h, w))
    return maps.astype(dt)


def _example_peaks(nbytes):
    # (maps, channels per image, threshold, window, top_k or ALL_PEAKS)
    return [(_blobs(nbytes, dt), 17, dt.type(0.1), 3, 20) for dt in _FLOATS]


def _example_decode(nbytes):
    # decoding reads a few pixels around each map's argmax: its work grows with the number of
    # maps (a batch of 17-keypoint heatmaps of 64x48, RTMPose/SimpleBaseline's size), not with
    # their size
    cases = []
    for dt in _FLOATS:
        maps = _blobs(nbytes, dt, hw=(64, 48))
        am = np.argmax(maps.reshape(len(maps), -1), axis=1)
        cases.append((maps, am, _nb.REFINE_DARK, _gaussian_kernel(11)))
    return cases


_PEAKS = register(Kernel(
    "find_peaks", reference=_ref.find_peaks, serial=_nb.find_peaks_serial,
    parallel=_nb.find_peaks_parallel,
    parallel_min_bytes=(1 << 19) * 4,  # 2**19 float32 pixels read (the peaks are returned)
    example=_example_peaks,
))
_DECODE = register(Kernel(
    "decode_heatmaps", reference=_ref.decode, serial=_nb.decode_serial,
    parallel=_nb.decode_parallel,
    parallel_min_bytes=(1 << 20) * 4,  # 2**20 float32 pixels read
    example=_example_decode,
))


def _example_simcc(nbytes):
    # RTMPose-m's SimCC head at 192x256 input and split ratio 2: 384 x-bins, 512 y-bins per
    # keypoint, 17 keypoints a person; the argmax is NumPy's, done by the public function
    bins_x, bins_y = 384, 512
    rows = count(nbytes, 4 * (bins_x + bins_y) + 16)
    r = rng()
    x = r.random((rows, bins_x), dtype=np.float32)
    y = r.random((rows, bins_y), dtype=np.float32)
    ax, ay = np.argmax(x, axis=1), np.argmax(y, axis=1)
    return [(x, y, ax, ay, np.float32(2.0), _sc.SCORE_MIN)]


def _example_refine(nbytes):
    # BlazePose's landmark refinement: 39 landmarks (x, y, z, visibility, presence) and 39
    # heatmaps of 64x64 per person, as many people as fit; both layouts, both landmark dtypes
    k, c, hw = 39, 5, 64
    people = count(nbytes, 4 * k * hw * hw + 2 * 4 * k * c)
    if people == 1:  # below one person: smaller maps (warm-up sizes)
        hw = max(4, min(hw, int(math.sqrt(max(0, nbytes - 2 * 4 * k * c) / (4 * k)))))
    r = rng()
    hwk = (r.standard_normal((people, hw, hw, k)) * 4).astype(np.float32)
    khw = np.ascontiguousarray(hwk.transpose(0, 3, 1, 2))
    cases = []
    for dt in _FLOATS:
        for maps, is_khw in ((hwk, False), (khw, True)):
            lm = r.random((people, k, c)).astype(dt)
            cases.append((lm, maps, is_khw, 3, np.float32(0.5), True, lm.copy()))
    return cases


# SimCC: the kernel only gathers two values per row after NumPy's argmax, so threads never pay
# for a frame's worth of people: 2**18 keypoint rows of 384 + 512 float32 bins. Landmark
# refinement: one exp per landmark and window cell; a BlazePose person (39 landmarks, a 7x7
# window) takes ~19 us serial; at that load the parallel variant never won (0.88x-1.07x for 1 to
# 40 people), as no core was free; the threshold (17 people of 39 64x64 float32 maps and their
# landmarks, in and out) is a guess for an idle machine.
_SIMCC = register(Kernel(
    "decode_simcc", reference=_ref.decode_simcc, serial=_sc.decode_simcc_serial,
    parallel=_sc.decode_simcc_parallel,
    parallel_min_bytes=(1 << 18) * (4 * (384 + 512) + 16),
    example=_example_simcc,
))
_REFINE_LM = register(Kernel(
    "refine_landmarks", reference=_ref.refine_landmarks, serial=_lm.refine_serial,
    parallel=_lm.refine_parallel,
    parallel_min_bytes=17 * (4 * 39 * 64 * 64 + 2 * 4 * 39 * 5),
    example=_example_refine,
))


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
    k = _nb.ALL_PEAKS if k is None else min(k, hh * w)
    window = min(window, 2 * max(hh, w, 1) - 1)
    with np.errstate(over="ignore"):
        thr_t = h.dtype.type(thr)
    if h.size == 0:
        e = np.empty(0, np.int32)
        return Peaks(e, e.copy(), e.copy(), e.copy(), np.empty(0, h.dtype))
    maps = np.ascontiguousarray(h).reshape(-1, hh, w)
    return Peaks(*_PEAKS(maps.nbytes, maps, kk, thr_t, window, k))


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
    coords, scores = _DECODE(maps.nbytes + am.nbytes + g.nbytes, maps, am, code, g)
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
    coords, scores = _SIMCC(x.nbytes + y.nbytes + ax.nbytes + ay.nbytes, x, y, ax, ay,
                            np.float32(ratio), _SCORE_RULES[score])
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
    _REFINE_LM(2 * flat.nbytes + maps.nbytes, flat, maps, khw, (ksize - 1) // 2, minconf32,
               bool(sigmoid), flat)
    return out
