"""Fuzzing wasmpose.heatmap: find_peaks and decode_heatmaps over hostile arguments."""

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.fuzz._fuzz import arrays, check, fuzz_settings, ints, level_strategy, names, numbers
from wasmpose.heatmap import decode_heatmaps, find_peaks

MAPS = ("f4", "f8", ">f4", ">f8", "f4", "f2", "i4")
SHAPES = st.one_of(hnp.array_shapes(min_dims=3, max_dims=4, min_side=0, max_side=7),
                   hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=3),
                   hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=3))


@fuzz_settings()
@given(h=arrays(MAPS, shape=SHAPES), threshold=numbers(0.1, 0.0, -1.0),
       window=ints(3, 1, 5, 7, 2**21 + 1), top_k=st.one_of(st.none(), ints(1, 2, 10**30)),
       level=level_strategy())
def test_find_peaks(h, threshold, window, top_k, level):
    check(lambda: find_peaks(h.value, threshold=threshold, window=window, top_k=top_k),
          big=h.big, level=level)


@fuzz_settings()
@given(h=arrays(MAPS, shape=SHAPES), refine=names("shift", "quadratic", "dark", None),
       blur_kernel=ints(11, 3, 1, 17, 2**31 + 1, 10**400 + 1), level=level_strategy())
def test_decode_heatmaps(h, refine, blur_kernel, level):
    # coordinates are float32; DARK's sums may differ in the last bits between the variants
    check(lambda: decode_heatmaps(h.value, refine=refine, blur_kernel=blur_kernel), big=h.big,
          level=level, rtol=1e-4, atol=1e-4)
