"""Fuzzing wasmpose.image: every public function over hostile arguments."""

import math

import numpy as np
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
from wasmpose.image import (
    crop_to_tensor,
    grayscale,
    normalize,
    otsu_threshold,
    threshold,
    to_tensor,
    warp_affine,
)

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


# --- top-down warps ---------------------------------------------------------------------------
def _stack(ms):
    """Drawn matrices as one (N, 2, 3) float array when all are plain floats, else as drawn."""
    flat = [v for m in ms for row in m for v in row]
    if all(type(v) is float for v in flat):
        return np.array(flat, float).reshape(-1, 2, 3)
    return ms


def _matrix(batched=False):
    """Affine maps: ordinary (scale, rotation, shift), singular, tiny, huge, NaN, or anything."""
    def similarity(v):  # scale, angle (radians), shift x, shift y
        c, s = v[0] * math.cos(v[1]), v[0] * math.sin(v[1])
        return [[c, -s, v[2]], [s, c, v[3]]]

    m = st.one_of(
        st.tuples(st.floats(0.1, 5), st.floats(-4, 4), st.floats(-20, 20),
                  st.floats(-20, 20)).map(similarity),
        st.tuples(st.floats(0.1, 5), st.floats(-4, 4), st.floats(-20, 20),
                  st.floats(-20, 20)).map(similarity),
        st.tuples(numbers(1.0, 0.5, 2.0), numbers(0.0, 0.3), numbers(0.0, -1.5, 2.0),
                  numbers(0.0, -0.3), numbers(1.0, 0.5, 2.0), numbers(0.0, 1.5)).map(
            lambda v: [list(v[:3]), list(v[3:])]))
    singular = st.sampled_from([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], [[1.0, 2.0, 0.0],
                                [2.0, 4.0, 0.0]], [[1e-300, 0.0, 0.0], [0.0, 1e-300, 0.0]],
                                [[1e300, 0.0, 0.0], [0.0, 1e300, 0.0]],
                                [[1e-10, 0.0, 1e10], [0.0, 1e-10, 0.0]]])
    one = st.one_of(m, m, singular)
    if batched:
        good = st.lists(one, min_size=0, max_size=3).map(_stack)
    else:
        good = one
    other = arrays(("f8", "f4", "i4", ">f8", "c8"), shape=st.sampled_from(
        [(2, 3), (1, 2, 3), (3, 2), (0, 2, 3), (2, 2, 3), (6,), ()])).map(lambda d: d.value)
    return st.one_of(good, good, good, other, st.sampled_from([None, "m", 1.0]))


_GOOD_LAYOUTS = ("c", "c", "fortran", "reversed", "strided", "swapped", "misaligned", "readonly")


def _frames(dtypes, channels):
    """Mostly valid frames (1 to 12 pixels a side, in odd layouts), sometimes anything."""
    good = arrays(dtypes, shape=st.tuples(st.integers(1, 12), st.integers(1, 12),
                                          st.sampled_from(channels)), layouts=_GOOD_LAYOUTS,
                  odd=0.02)
    bad = arrays(dtypes + ("f8", "i2"), shape=_image_shape(channels))
    return st.integers(0, 5).flatmap(lambda i: bad if i == 0 else good)


_DSIZE = st.one_of(st.tuples(st.integers(0, 9), st.integers(0, 9)),
                   st.tuples(st.integers(0, 9), st.integers(0, 9)),
                   st.sampled_from([(2**20 + 1, 1), (2**16, 2**16), (-1, 3), (3.0, 3), (3,),
                                    "ab", None, (10**400, 1), (True, 2)]))


@fuzz_settings()
@given(img=_frames(("u1", "f4", ">f4"), (3, 1, 4)),
       matrix=_matrix(), dsize=_DSIZE, interpolation=names("linear", "nearest"),
       border=names("constant", "replicate"),
       border_value=st.one_of(numbers(0, 255, 127.5), st.lists(numbers(0, 255), max_size=5)),
       level=level_strategy())
def test_warp_affine(img, matrix, dsize, interpolation, border, border_value, level):
    check(lambda: warp_affine(img.value, matrix, dsize, interpolation=interpolation,
                              border=border, border_value=border_value), big=img.big,
          level=level, rtol=1e-5, atol=1e-4,
          names=("img", "matrix", "dsize", "interpolation", "border", "border_value", "out"))


@fuzz_settings()
@given(img=_frames(("u1",), (3,)),
       matrices=_matrix(batched=True), dsize=_DSIZE, mean=_CHANNEL, std=_CHANNEL,
       scale=numbers(1 / 255, 1.0), layout=names("nchw", "nhwc"), order=names("rgb", "bgr"),
       border_value=st.one_of(numbers(0, 255), st.lists(numbers(0, 255), max_size=4)),
       level=level_strategy())
def test_crop_to_tensor(img, matrices, dsize, mean, std, scale, layout, order, border_value,
                        level):
    check(lambda: crop_to_tensor(img.value, matrices, dsize, mean, std, scale=scale,
                                 layout=layout, order=order, border_value=border_value),
          big=img.big, level=level, rtol=1e-5, atol=1e-5,
          names=("img", "matrices", "dsize", "mean", "std", "scale", "layout", "order",
                 "border_value", "out"))
