"""Fuzzing wasmpose.image: every public function over hostile arguments."""

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.fuzz._fuzz import (
    FLOATS,
    arrays,
    check,
    fuzz_settings,
    level_strategy,
    names,
    numbers,
)
from wasmpose.image import grayscale, normalize, otsu_threshold, threshold, to_tensor

IMG = ("u1", "f4", "f8", ">f4", ">f8", "u1", "i2", "f2")


def _image_shape(channels=(3, 4)):
    return st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 5),
                     st.sampled_from(channels * 3 + (1, 2, 5))).map(
        lambda s: s[1:] if s[0] == 0 else s)


@fuzz_settings()
@given(img=arrays(IMG, shape=_image_shape()), order=names("rgb", "bgr", "rgba", "bgra"),
       level=level_strategy())
def test_grayscale(img, order, level):
    check(lambda: grayscale(img.value, order=order), big=img.big, level=level)


@fuzz_settings()
@given(x=arrays(("u1", "f4", ">f4", "f8", "i1")), t=numbers(0, 127, 99.5, -1, 255),
       m=numbers(255, 1.0, 0), kind=names("binary", "binary_inv", "trunc", "tozero",
                                        "tozero_inv"), level=level_strategy())
def test_threshold(x, t, m, kind, level):
    check(lambda: threshold(x.value, t, m, kind=kind), big=x.big, level=level)


@fuzz_settings()
@given(g=arrays(("u1", "u1", ">u2", "f4"), shape=st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=9),
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))),
       level=level_strategy())
def test_otsu_threshold(g, level):
    check(lambda: otsu_threshold(g.value), big=g.big, level=level)


@fuzz_settings()
@given(x=arrays(FLOATS[1:] + (">f4", ">f8", "i4")),
       axis=st.one_of(st.none(), st.integers(-5, 5), st.tuples(st.integers(-4, 4)),
                      st.tuples(st.integers(-4, 4), st.integers(-4, 4)),
                      st.sampled_from([1.5, "0", True, (0, None)])),
       eps=numbers(1e-8, 0.0, 1.0), level=level_strategy())
def test_normalize(x, axis, eps, level):
    # float32 results of values near the float32 range may round differently between the
    # reference and the kernels: compared within a few ulps and 1e-6 absolute
    check(lambda: normalize(x.value, axis=axis, eps=eps), big=x.big, level=level, rtol=1e-4,
          atol=1e-5)


_CHANNEL = st.one_of(numbers(0.5, 1.0), st.lists(numbers(0.5, 1.0), min_size=0, max_size=4),
                     arrays(("f4", ">f8", "i2", "c8"), shape=st.sampled_from([(3,), (), (1, 3)]))
                     .map(lambda d: d.value))


@fuzz_settings()
@given(img=arrays(("u1", "u1", "u1", ">u2", "f4"), shape=_image_shape((3,))), mean=_CHANNEL,
       std=_CHANNEL, scale=numbers(1 / 255, 1.0), layout=names("nchw", "nhwc"),
       level=level_strategy())
def test_to_tensor(img, mean, std, scale, layout, level):
    check(lambda: to_tensor(img.value, mean, std, scale=scale, layout=layout), big=img.big,
          level=level, rtol=1e-5, atol=1e-5)
