"""Fuzzing wasmpose.keypoints: distances, OKS and OKS-NMS over hostile arguments."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz._fuzz import Drawn, arrays, check, fuzz_settings, level_strategy, mostly, numbers
from wasmpose.keypoints import (
    COCO_SIGMAS,
    bbox_to_center_scale,
    get_affine_transform,
    invert_affine,
    keypoint_distances,
    oks,
    oks_nms,
    pairwise_distances,
    transform_points,
)

COORDS = ("f8", "f4", "i4", "i8", ">f8", ">i4", "f8", "u1")


def _shape(*dims):
    """Shapes built from ``dims`` (ints or strategies), sometimes of another rank."""
    exact = st.tuples(*[d if isinstance(d, st.SearchStrategy) else st.just(d) for d in dims])
    other = st.lists(st.integers(0, 4), max_size=4).map(tuple)
    return st.integers(0, 9).flatmap(lambda i: other if i == 9 else exact)


K = st.sampled_from([17, 17, 3, 1, 0])
N = st.integers(0, 4)


@fuzz_settings()
@given(a=arrays(COORDS, shape=_shape(N, st.integers(0, 4))),
       b=arrays(COORDS, shape=_shape(N, st.integers(0, 4))), level=level_strategy())
def test_pairwise_distances(a, b, level):
    check(lambda: pairwise_distances(a.value, b.value), big=a.big or b.big, level=level,
          rtol=1e-9, atol=1e-300)


@fuzz_settings()
@given(k=K, data=st.data(), level=level_strategy())
def test_keypoint_distances(k, data, level):
    a = data.draw(arrays(COORDS, shape=_shape(N, k, 2)))
    b = data.draw(arrays(COORDS, shape=_shape(N, k, 2)))
    check(lambda: keypoint_distances(a.value, b.value), big=a.big or b.big, level=level,
          rtol=1e-9, atol=1e-300)


def _sigmas(k):
    return st.one_of(st.just(COCO_SIGMAS), arrays(COORDS, shape=_shape(k)).map(lambda d: d.value),
                     numbers(0.5))


@fuzz_settings()
@given(k=K, g=N, data=st.data(), level=level_strategy())
def test_oks(k, g, data, level):
    dt = data.draw(arrays(COORDS, shape=_shape(N, k, st.sampled_from([2, 3]))))
    gt = data.draw(arrays(COORDS, shape=_shape(g, k, 3)))
    areas = data.draw(arrays(COORDS, shape=_shape(g)))
    boxes = data.draw(st.one_of(st.none(), arrays(COORDS, shape=_shape(g, 4))))
    sigmas = data.draw(_sigmas(k))
    big = dt.big or gt.big or areas.big or (boxes is not None and boxes.big)
    check(lambda: oks(dt.value, gt.value, areas.value,
                      gt_bboxes=None if boxes is None else boxes.value, sigmas=sigmas),
          big=big, level=level, rtol=1e-9, atol=1e-12)


@fuzz_settings()
@given(k=K, n=N, data=st.data(), threshold=numbers(0.9, 0.5, 0.0, 1.0), level=level_strategy())
def test_oks_nms(k, n, data, threshold, level):
    poses = data.draw(arrays(COORDS, shape=_shape(n, k, st.sampled_from([2, 3]))))
    scores = data.draw(arrays(COORDS, shape=_shape(n)))
    areas = data.draw(arrays(COORDS, shape=_shape(n)))
    sigmas = data.draw(_sigmas(k))
    check(lambda: oks_nms(poses.value, scores.value, areas.value, threshold=threshold,
                          sigmas=sigmas),
          big=poses.big or scores.big or areas.big, level=level)


# --- top-down transforms ----------------------------------------------------------------------
def _hostile(good, dtypes=COORDS, shape=None):
    """A :class:`Drawn`: ``good`` (plain values) most of the time, else an array of any dtype,
    shape and layout."""
    return mostly(good.map(Drawn), arrays(dtypes, shape=shape))


_XY = st.tuples(st.floats(-500, 2000), st.floats(-500, 2000)).map(list)
_SIZE = st.tuples(st.floats(1, 800), st.floats(1, 800)).map(list)
_SPECIAL = st.sampled_from([0.0, -0.0, 1e-300, 1e300, 3.5e38, np.nan, np.inf, -np.inf, 1e-45])


def _rows(item, n):
    """``n`` rows of ``item``, sometimes with one hostile value."""
    return st.tuples(st.lists(item, min_size=n, max_size=n), st.integers(0, 5), _SPECIAL).map(
        lambda t: _spoil(np.array(t[0], float).reshape(n, -1) if n else
                         np.zeros((0, 2)), t[1], t[2]))


def _spoil(a, where, value):
    if a.size and where < a.size:  # where == 5 .. : unchanged
        a.reshape(-1)[where % a.size] = value
    return a


@fuzz_settings()
@given(n=N, single=st.booleans(), data=st.data(),
       rot=mostly(st.floats(-180, 180), numbers(0.0, 90.0, -30.0)),
       output_size=mostly(st.sampled_from([(192, 256), (256, 256), (1, 1)]),
                          st.one_of(st.tuples(numbers(192), numbers(256)),
                                    st.sampled_from([(0, 256), 256, None, "ab", (1, 2, 3)]))),
       shift=mostly(st.just((0.0, 0.0)), st.one_of(st.tuples(numbers(0.0), numbers(0.1)),
                                                   st.sampled_from([0.0, None, (1e308, 0)]))),
       inv=mostly(st.booleans(), st.sampled_from([1, None])), level=level_strategy())
def test_get_affine_transform(n, single, data, rot, output_size, shift, inv, level):
    center = data.draw(_hostile(_rows(_XY, 1).map(lambda a: a[0]) if single else _rows(_XY, n)))
    scale = data.draw(_hostile(_rows(_SIZE, 1).map(lambda a: a[0]) if single
                               else _rows(_SIZE, n)))
    if not single and data.draw(st.booleans()):
        rot = data.draw(_hostile(_rows(st.floats(-180, 180), n).map(lambda a: a[:, 0])))
    rot = rot if isinstance(rot, Drawn) else Drawn(rot)
    check(lambda: get_affine_transform(center.value, scale.value, rot.value, output_size,
                                       shift=shift, inv=inv),
          big=center.big or scale.big or rot.big, level=level, rtol=1e-9, atol=1e-9,
          names=("center", "scale", "rot", "output_size", "shift", "inv"))


_BOX = st.tuples(st.floats(-100, 1000), st.floats(-100, 1000), st.floats(0, 500),
                 st.floats(0, 500)).map(lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]])


@fuzz_settings()
@given(n=N, single=st.booleans(), data=st.data(),
       padding=mostly(st.floats(0.5, 2.0), numbers(1.25, 1.0)),
       aspect_ratio=mostly(st.sampled_from([None, 0.75, 1.0]), numbers(0.75, 1.0)),
       level=level_strategy())
def test_bbox_to_center_scale(n, single, data, padding, aspect_ratio, level):
    boxes = data.draw(_hostile(_rows(_BOX, 1).map(lambda a: a[0]) if single else _rows(_BOX, n)))
    check(lambda: bbox_to_center_scale(boxes.value, padding=padding, aspect_ratio=aspect_ratio),
          big=boxes.big, level=level, rtol=1e-12, names=("boxes", "padding", "aspect_ratio"))


_AFFINE = st.tuples(st.floats(-4, 4), st.floats(-4, 4), st.floats(-500, 500), st.floats(-4, 4),
                    st.floats(-4, 4), st.floats(-500, 500)).map(lambda v: [v[:3], v[3:]])
_SINGULAR = st.sampled_from([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], [[1.0, 2.0, 0.0],
                             [2.0, 4.0, 0.0]], [[1e-300, 0.0, 0.0], [0.0, 1e-300, 0.0]],
                             [[1e300, 0.0, 0.0], [0.0, 1e300, 0.0]],
                             [[1e200, 1e200, 0.0], [1e200, 1e200, 0.0]]])


def _affines(single, n):
    one = st.one_of(_AFFINE, _AFFINE, _SINGULAR)
    good = one if single else st.lists(one, min_size=n, max_size=n).map(
        lambda ms: np.array(ms, float).reshape(n, 2, 3))
    spoiled = good.flatmap(lambda m: st.tuples(st.integers(0, 9), _SPECIAL).map(
        lambda t: _spoil(np.array(m, float), t[0], t[1])))
    return _hostile(st.one_of(good, good, spoiled), shape=st.sampled_from(
        [(2, 3), (n, 2, 3), (3, 2), (2, 2), (1, 2, 3), (0, 2, 3), ()]))


@fuzz_settings()
@given(n=N, single=st.booleans(), data=st.data(), level=level_strategy())
def test_invert_affine(n, single, data, level):
    m = data.draw(_affines(single, n))
    check(lambda: invert_affine(m.value), big=m.big, level=level, rtol=1e-12, names=("matrix",))


@fuzz_settings()
@given(n=st.integers(1, 4), single=st.booleans(), k=st.sampled_from([17, 1, 0]),
       c=st.sampled_from([2, 3, 1]), data=st.data(), level=level_strategy())
def test_transform_points(n, single, k, c, data, level):
    m = data.draw(_affines(single, n))
    points = data.draw(mostly(arrays(("f8", "f4", "i4", ">f8"), shape=st.just((n, k, c)),
                                     odd=0.01),
                              arrays(COORDS, shape=_shape(n, k, c))))
    check(lambda: transform_points(points.value, m.value), big=points.big or m.big, level=level,
          rtol=1e-6, atol=1e-9, names=("points", "matrix"))
