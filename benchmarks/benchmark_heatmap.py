"""Benchmarks of :mod:`wasmpose.heatmap` against NumPy and the peer libraries.

``impl``: ``wasmpose`` (``OptLevel.FULL``), ``wasmpose-simd`` (one thread), ``numpy`` (the NumPy
reference, ``OptLevel.NONE``), and the peers:

``torch``
    the max-pool path of CenterNet and mmpose: ``max_pool2d`` + compare + ``topk``;
``skimage``
    ``skimage.feature.peak_local_max`` per channel (``min_distance=1``, no border exclusion);
``scipy``
    ``scipy.ndimage.maximum_filter`` + compare + ``nonzero`` (the rule only, unsorted).

Every implementation finds the 3x3 peaks above 0.1, at most 20 per channel, on heatmaps from
:func:`common.heatmaps` (three people per channel over low noise).
"""

from __future__ import annotations

from wasmpose._peers import torch_peaks
from wasmpose.heatmap import decode_heatmaps, find_peaks

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


class DecodeHeatmaps(common.KernelSuite):
    """``decode_heatmaps`` for a single image (17 channels) and a batch of 8."""

    params = [
        ["wasmpose", "wasmpose-simd", "numpy"],
        ["none", "shift", "quadratic", "dark"],
        ["17x64x48", "8x17x64x48"],
    ]
    param_names = ["impl", "refine", "shape"]

    def setup(self, impl, refine, shape):
        dims = tuple(int(v) for v in shape.split("x"))
        h = common.heatmaps(dims)
        r = None if refine == "none" else refine
        self._start(impl, ("decode", impl, refine, shape),
                    lambda: decode_heatmaps(h, refine=r))

    def time_decode_heatmaps(self, impl, refine, shape):
        self.fn()
