"""Benchmarks of :mod:`wasmpose.heatmap` against NumPy and the peer libraries.

``impl``: ``wasmpose`` (``OptLevel.FULL``), ``wasmpose-simd`` (one thread), ``numpy`` (the NumPy
reference, ``OptLevel.NONE``), and the peers:

``torch``
    the max-pool path of CenterNet and mmpose: ``max_pool2d`` + compare + ``topk``;
``skimage``
    ``skimage.feature.peak_local_max`` per channel (``min_distance=1``, no border exclusion);
``scipy``
    ``scipy.ndimage.maximum_filter`` + compare + ``nonzero`` (the rule only, unsorted);
``mmpose``
    (``decode_heatmaps``) mmpose's ``get_heatmap_maximum`` with ``refine_keypoints`` (shift) or
    ``refine_keypoints_dark`` (its blur by ``cv2.GaussianBlur``), restated in NumPy as mmpose
    runs them, image by image with Python loops over keypoints; mmpose itself is not a
    dependency. It has no quadratic refinement.
``rtmlib``
    (``decode_simcc``) rtmlib's own ``get_simcc_maximum`` followed by RTMPose.postprocess's
    ``locs / simcc_split_ratio``, imported from rtmlib when it is installed
    (``pip install rtmlib --no-deps``), skipped otherwise. ``refine_landmarks`` has no peer
    that runs outside MediaPipe's C++ graph: it is timed beside its NumPy reference only.

Every implementation finds the 3x3 peaks above 0.1, at most 20 per channel, on heatmaps from
:func:`common.heatmaps` (three people per channel over low noise).
"""

from __future__ import annotations

import itertools

import numpy as np

from wasmpose.heatmap import decode_heatmaps, decode_simcc, find_peaks, refine_landmarks
from wasmpose.tools.peers import torch_peaks

from . import common

SHAPES = {"17x64x48": (17, 64, 48), "17x128x96": (17, 128, 96), "1x512x512": (1, 512, 512)}
TOP_K = 20
THRESHOLD = 0.1


class FindPeaks(common.KernelSuite):
    """``find_peaks(h, threshold=0.1, window=3, top_k=20)`` beside the peers' ways."""

    params = [
        ["wasmpose", "wasmpose-simd", "numpy", "torch", "skimage", "scipy"],
        list(SHAPES),
    ]
    param_names = ["impl", "shape"]

    def setup(self, impl, shape):
        h = common.heatmaps(SHAPES[shape])
        if impl == "torch":
            fn = torch_peaks(common.require_peer("torch"), h, THRESHOLD, TOP_K)
        elif impl == "skimage":
            feature = common.require_peer("skimage.feature")

            def fn():
                return [feature.peak_local_max(m, min_distance=1, threshold_abs=THRESHOLD,
                                               exclude_border=False, num_peaks=TOP_K)
                        for m in h]
        elif impl == "scipy":
            ndimage = common.require_peer("scipy.ndimage")

            def fn():
                pooled = ndimage.maximum_filter(h, size=(1, 3, 3), mode="constant",
                                                cval=-float("inf"))
                return ((pooled == h) & (h > THRESHOLD)).nonzero()
        else:
            def fn():
                return find_peaks(h, threshold=THRESHOLD, window=3, top_k=TOP_K)
        self._start(impl, ("find_peaks", impl, shape), fn)

    def time_find_peaks(self, impl, shape):
        self.fn()


def _mmpose_maximum(heatmaps):
    """mmpose ``get_heatmap_maximum`` of (K, H, W): (x, y) float32 locations and values."""
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1)
    y, x = np.unravel_index(np.argmax(flat, axis=1), shape=(h, w))
    locs = np.stack((x, y), axis=-1).astype(np.float32)
    vals = np.amax(flat, axis=1)
    locs[vals <= 0.0] = -1
    return locs, vals


def _mmpose_shift(keypoints, heatmaps):
    """mmpose ``refine_keypoints``: a quarter pixel toward the higher neighbour."""
    n, k = keypoints.shape[:2]
    h, w = heatmaps.shape[1:]
    for i, j in itertools.product(range(n), range(k)):
        x, y = keypoints[i, j, :2].astype(int)
        dx = heatmaps[j, y, x + 1] - heatmaps[j, y, x - 1] if 1 < x < w - 1 and 0 < y < h else 0.0
        dy = heatmaps[j, y + 1, x] - heatmaps[j, y - 1, x] if 1 < y < h - 1 and 0 < x < w else 0.0
        keypoints[i, j] += np.sign([dx, dy], dtype=np.float32) * 0.25
    return keypoints


def _mmpose_dark(cv2, keypoints, heatmaps, blur_kernel_size=11):
    """mmpose ``refine_keypoints_dark``: blur (``gaussian_blur``), log, one Newton step."""
    n, k = keypoints.shape[:2]
    h, w = heatmaps.shape[1:]
    border = (blur_kernel_size - 1) // 2
    heatmaps = heatmaps.copy()
    for j in range(k):
        origin_max = np.max(heatmaps[j])
        dr = np.zeros((h + 2 * border, w + 2 * border), dtype=np.float32)
        dr[border:-border, border:-border] = heatmaps[j]
        dr = cv2.GaussianBlur(dr, (blur_kernel_size, blur_kernel_size), 0)
        heatmaps[j] = dr[border:-border, border:-border]
        heatmaps[j] *= origin_max / np.max(heatmaps[j])
    np.maximum(heatmaps, 1e-10, heatmaps)
    np.log(heatmaps, heatmaps)
    for i, j in itertools.product(range(n), range(k)):
        x, y = keypoints[i, j, :2].astype(int)
        if 1 < x < w - 2 and 1 < y < h - 2:
            m = heatmaps[j]
            dx = 0.5 * (m[y, x + 1] - m[y, x - 1])
            dy = 0.5 * (m[y + 1, x] - m[y - 1, x])
            dxx = 0.25 * (m[y, x + 2] - 2 * m[y, x] + m[y, x - 2])
            dxy = 0.25 * (m[y + 1, x + 1] - m[y - 1, x + 1] - m[y + 1, x - 1] + m[y - 1, x - 1])
            dyy = 0.25 * (m[y + 2, x] - 2 * m[y, x] + m[y - 2, x])
            if dxx * dyy - dxy**2 != 0:
                hessian = np.array([[dxx, dxy], [dxy, dyy]])
                offset = -np.linalg.inv(hessian) @ np.array([[dx], [dy]])
                keypoints[i, j, :2] += np.squeeze(np.array(offset.T), axis=0)
    return keypoints


def mmpose_decode(heatmaps, refine, cv2=None):
    """mmpose's heatmap decoding of (K, H, W) or (N, K, H, W), one image at a time."""
    images = heatmaps if heatmaps.ndim == 4 else heatmaps[None]
    out = []
    for hm in images:
        locs, vals = _mmpose_maximum(hm)
        kpts = locs[None]
        if refine == "shift":
            kpts = _mmpose_shift(kpts, hm)
        elif refine == "dark":
            kpts = _mmpose_dark(cv2, kpts, hm)
        out.append((kpts[0], vals))
    return out


def _verify_mmpose(h, refine, got):
    """Raise unless mmpose's decoding ``got`` is ``decode_heatmaps(h, refine=refine)``: equal
    scores and coordinates, except where the contracts differ (shift: mmpose does not move an
    argmax with x or y at 1, nor y when x is 0 or x when y is 0; dark: mmpose blurs in
    float32, within 2e-3 px)."""
    coords, scores = decode_heatmaps(h, refine=refine)
    want = np.stack([c for c, _ in got]).reshape(coords.shape)
    if not np.array_equal(np.stack([v for _, v in got]).reshape(scores.shape), scores):
        raise RuntimeError("mmpose-style decoding: scores differ from decode_heatmaps")
    same = np.ones(scores.shape, bool)
    if refine == "shift":
        argmax = decode_heatmaps(h, refine=None)[0]
        same = ~((argmax == 0) | (argmax == 1)).any(axis=-1)
    err = np.abs(want - coords)[same].max(initial=0.0)
    if err > (2e-3 if refine == "dark" else 0.0):
        raise RuntimeError(f"mmpose-style decoding ({refine}): max |diff| {err} px from "
                           f"decode_heatmaps")


class DecodeHeatmaps(common.KernelSuite):
    """``decode_heatmaps`` for a single image (17 channels) and a batch of 8."""

    params = [
        ["wasmpose", "wasmpose-simd", "numpy", "mmpose"],
        ["none", "shift", "quadratic", "dark"],
        ["17x64x48", "8x17x64x48"],
    ]
    param_names = ["impl", "refine", "shape"]

    def setup(self, impl, refine, shape):
        dims = tuple(int(v) for v in shape.split("x"))
        h = common.heatmaps(dims)
        r = None if refine == "none" else refine
        if impl == "mmpose":
            if refine == "quadratic":
                raise NotImplementedError("mmpose has no quadratic refinement")
            cv2 = common.require_peer("cv2") if refine == "dark" else None
            fn = lambda: mmpose_decode(h, refine, cv2)  # noqa: E731
            key = ("decode-verify", refine, shape)
            if key not in common.WARMED:
                _verify_mmpose(h, r, fn())
                common.WARMED.add(key)
        else:
            fn = lambda: decode_heatmaps(h, refine=r)  # noqa: E731
        self._start(impl, ("decode", impl, refine, shape), fn)

    def time_decode_heatmaps(self, impl, refine, shape):
        self.fn()


# RTMPose's SimCC lengths (split ratio 2): 192x256 input (body-m) and 288x384 (body-l, wholebody)
SIMCC_BINS = {"384x512": (384, 512), "576x768": (576, 768)}


class DecodeSimcc(common.KernelSuite):
    """``decode_simcc`` of 10 people x 17 keypoints (score="mean", rtmlib's current rule) vs
    rtmlib's ``get_simcc_maximum`` and its division by the split ratio."""

    params = [["wasmpose", "wasmpose-simd", "numpy", "rtmlib"], list(SIMCC_BINS)]
    param_names = ["impl", "bins"]

    def setup(self, impl, bins):
        x, y = common.simcc_vectors(10, 17, *SIMCC_BINS[bins])
        if impl == "rtmlib":
            post = common.require_peer("rtmlib.tools.pose_estimation.post_processings")

            def fn():
                locs, vals = post.get_simcc_maximum(x, y)
                return locs / 2.0, vals

            key = ("simcc-verify", bins)
            if key not in common.WARMED:
                got, want = decode_simcc(x, y, score="mean"), fn()
                if not (np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])):
                    raise RuntimeError("rtmlib's get_simcc_maximum differs from decode_simcc")
                common.WARMED.add(key)
        else:
            fn = lambda: decode_simcc(x, y, score="mean")  # noqa: E731
        self._start(impl, ("simcc", impl, bins), fn)

    def time_decode_simcc(self, impl, bins):
        self.fn()


class RefineLandmarks(common.KernelSuite):
    """``refine_landmarks`` on BlazePose-shaped output (39 landmarks, 64 x 64 heatmap logits,
    kernel 7) for 1 and 10 people."""

    params = [["wasmpose", "wasmpose-simd", "numpy"], [1, 10]]
    param_names = ["impl", "people"]

    def setup(self, impl, people):
        lm, hm = common.landmark_heatmaps(people)
        fn = lambda: refine_landmarks(lm, hm)  # noqa: E731
        self._start(impl, ("refine_landmarks", impl, people), fn)

    def time_refine_landmarks(self, impl, people):
        self.fn()
