"""Fuzzing wasmpose.keypoints: distances, OKS and OKS-NMS over hostile arguments."""

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz._fuzz import arrays, check, fuzz_settings, level_strategy, numbers
from wasmpose.keypoints import COCO_SIGMAS, keypoint_distances, oks, oks_nms, pairwise_distances

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
