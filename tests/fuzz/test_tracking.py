"""Fuzzing wasmpose.tracking: OneEuroFilter and PoseTracker over hostile arguments and
sequences of calls. No variants to compare: the property is "a result or TypeError/ValueError",
and a refused call leaves the object usable."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz._fuzz import arrays, fuzz_settings, ints, numbers, outcome
from wasmpose.tracking import OneEuroFilter, PoseTracker

COORDS = ("f8", "f4", "i4", ">f8", "f8", "f8", "u1")


@fuzz_settings()
@given(params=st.fixed_dictionaries({}, optional={"min_cutoff": numbers(1.0, 0.5),
                                                  "beta": numbers(0.0, 0.1),
                                                  "d_cutoff": numbers(1.0)}),
       data=st.data())
def test_one_euro_filter(params, data):
    kind, f = outcome(lambda: OneEuroFilter(**params))
    if kind == "error":
        return
    shape = data.draw(st.sampled_from([(), (3,), (2, 2)]))
    for _ in range(data.draw(st.integers(1, 5))):
        x = data.draw(arrays(COORDS, shape=st.one_of(st.just(shape), st.just((4,)))))
        t = data.draw(st.one_of(st.none(), numbers(1.0, 2.0, 3.0)))
        kind, y = outcome(lambda: f.filter(x.value, t), big=x.big)  # noqa: B023
        if kind == "ok":
            assert y.dtype == np.float64 and np.isfinite(y).all()


_P = st.sampled_from([0, 1, 2, 3])


@fuzz_settings()
@given(params=st.fixed_dictionaries({}, optional={
    "oks_threshold": numbers(0.3, 0.0, 1.0), "max_age": ints(30, 0, 1, 10**30),
    "history": ints(16, 1, 2, 10**30), "sigmas": arrays(COORDS, shape=st.sampled_from(
        [(17,), (3,), (0,)])),
    "smoothing": st.one_of(st.none(), st.just({"beta": 0.1}), st.just({"bad": 1}),
                           st.just(OneEuroFilter()), st.just("fast"))}),
    data=st.data())
def test_pose_tracker(params, data):
    sigmas = params.pop("sigmas", None)
    if sigmas is not None:
        params["sigmas"] = sigmas.value
    kind, tracker = outcome(lambda: PoseTracker(**params), big=sigmas is not None and sigmas.big)
    if kind == "error":
        return
    k = data.draw(st.sampled_from([17, 3]))
    for _ in range(data.draw(st.integers(1, 4))):
        n = data.draw(_P)
        poses = data.draw(arrays(COORDS, shape=st.sampled_from([(n, k, 2), (n, k, 3), (n, 2)])))
        scores = data.draw(arrays(COORDS, shape=st.sampled_from([(n,), (n + 1,)])))
        areas = data.draw(arrays(COORDS, shape=st.sampled_from([(n,), ()])))
        t = data.draw(st.one_of(st.none(), numbers(1.0, 5.0)))
        kind, ids = outcome(lambda: tracker.update(poses.value, scores.value,  # noqa: B023
                                                   areas.value, t),  # noqa: B023
                            big=poses.big or scores.big or areas.big)
        if kind == "ok":
            assert ids.dtype == np.int64 and ids.shape == (np.asarray(poses.value).shape[0],)
            assert set(ids.tolist()) <= set(tracker.ids.tolist())
        tid = data.draw(st.one_of(ints(0, 1), numbers(0.7)))
        outcome(lambda: tracker.track(tid))  # noqa: B023
