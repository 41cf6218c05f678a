"""Fuzzing wasmpose.heatmap: find_peaks and decode_heatmaps over hostile arguments."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.fuzz._fuzz import (
    Drawn,
    arrays,
    check,
    fuzz_settings,
    ints,
    level_strategy,
    mostly,
    names,
    numbers,
)
from wasmpose.heatmap import decode_heatmaps, decode_simcc, find_peaks, refine_landmarks

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


def _lead():
    return st.sampled_from([(), (), (2,), (1, 2), (0,)])


@fuzz_settings()
@given(lead=st.sampled_from([(), (), (2,), (0,)]), k=st.sampled_from([17, 3, 1, 0]),
       data=st.data(), split_ratio=mostly(st.floats(0.1, 4.0), numbers(2.0, 1.0, 0.5)),
       score=mostly(st.sampled_from(["min", "mean"]), names("min", "mean")),
       level=level_strategy())
def test_decode_simcc(lead, k, data, split_ratio, score, level):
    wx = data.draw(st.sampled_from([8, 1, 0, 5]))
    wy = data.draw(st.sampled_from([6, 1, 0, wx]))
    good, simcc = ("f4", "f4", ">f4"), ("f4", ">f4", "f8", "f2")
    sx = data.draw(mostly(arrays(good, shape=st.just((*lead, k, wx)), odd=0.01),
                          arrays(simcc, shape=SHAPES)))
    sy = data.draw(mostly(arrays(good, shape=st.just((*lead, k, wy)), odd=0.01),
                          arrays(simcc, shape=SHAPES)))
    check(lambda: decode_simcc(sx.value, sy.value, split_ratio=split_ratio, score=score),
          big=sx.big or sy.big, level=level,
          names=("simcc_x", "simcc_y", "split_ratio", "score"))


@fuzz_settings()
@given(lead=_lead(), k=st.sampled_from([5, 1, 0]), c=st.sampled_from([5, 2, 3, 1]),
       hw=st.tuples(st.integers(0, 9), st.integers(0, 9)), data=st.data(),
       kernel_size=mostly(st.integers(1, 11), ints(7, 1, 3, 9, 2**31 + 1)),
       min_confidence=mostly(st.floats(0, 1), numbers(0.5, 0.0, 1.0)),
       sigmoid=mostly(st.booleans(), st.sampled_from([1, None, "yes"])),
       layout=mostly(st.sampled_from(["hwk", "khw"]), names("hwk", "khw")),
       level=level_strategy())
def test_refine_landmarks(lead, k, c, hw, data, kernel_size, min_confidence, sigmoid, layout,
                          level):
    lm_dtypes = ("f4", "f8", ">f4")
    good = arrays(lm_dtypes, shape=st.just((*lead, k, c)), odd=0.01)
    inside = good.map(  # landmarks inside the maps, where they are refined
        lambda d: Drawn(np.abs(np.nan_to_num(d.value, nan=0.5, posinf=0.5, neginf=0.5)) % 1.0,
                        d.big)
        if isinstance(d.value, np.ndarray) and d.value.dtype.kind == "f" and not d.big else d)
    lm = data.draw(mostly(st.one_of(good, inside), arrays(lm_dtypes + ("i4",), shape=SHAPES)))
    maps = (*lead, *hw, k) if layout == "hwk" else (*lead, k, *hw)
    hm = data.draw(mostly(arrays(("f4", "f4", ">f4"), shape=st.just(maps), odd=0.01),
                          arrays(("f4", "f8"), shape=SHAPES)))
    check(lambda: refine_landmarks(lm.value, hm.value, kernel_size=kernel_size,
                                   min_confidence=min_confidence, sigmoid=sigmoid,
                                   layout=layout),
          big=lm.big or hm.big, level=level, rtol=1e-5, atol=1e-6,
          names=("landmarks", "heatmaps", "kernel_size", "min_confidence", "sigmoid",
                 "layout"))
