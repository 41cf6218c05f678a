"""tracking: the 1-euro filter against a scalar transcription of the paper, and the pose tracker
on synthetic people walking, crossing, vanishing and coming back."""

import math

import numpy as np
import pytest

from wasmpose.keypoints import COCO_SIGMAS
from wasmpose.tracking import OneEuroFilter, PoseTracker, Track


# ---------------------------------------------------------------------------------------------
# OneEuroFilter
# ---------------------------------------------------------------------------------------------
class _LowPass:
    """The paper's LowPassFilter (Casiez et al. 2012, Algorithm 1), for one scalar."""

    def __init__(self):
        self.first = True
        self.hat_x_prev = None

    def filter(self, x, alpha):
        if self.first:
            self.first = False
            hat_x = x
        else:
            hat_x = alpha * x + (1 - alpha) * self.hat_x_prev
        self.hat_x_prev = hat_x
        return hat_x


class _ScalarOneEuro:
    """The paper's OneEuroFilter for one scalar, with rate = 1 / (t - t_prev)."""

    def __init__(self, mincutoff, beta, dcutoff):
        self.mincutoff, self.beta, self.dcutoff = mincutoff, beta, dcutoff
        self.xfilt, self.dxfilt = _LowPass(), _LowPass()
        self.first = True
        self.t_prev = None

    @staticmethod
    def alpha(rate, cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        te = 1.0 / rate
        return 1.0 / (1.0 + tau / te)

    def filter(self, x, t):
        if self.first:
            self.first = False
            dx = 0.0
            rate = 1.0  # unused: both low-pass filters return their input on the first call
        else:
            rate = 1.0 / (t - self.t_prev)
            dx = (x - self.xfilt.hat_x_prev) * rate
        self.t_prev = t
        edx = self.dxfilt.filter(dx, self.alpha(rate, self.dcutoff))
        cutoff = self.mincutoff + self.beta * abs(edx)
        return self.xfilt.filter(x, self.alpha(rate, cutoff))


@pytest.mark.parametrize("params", [dict(min_cutoff=1.0, beta=0.0, d_cutoff=1.0),
                                    dict(min_cutoff=0.3, beta=0.05, d_cutoff=2.0),
                                    dict(min_cutoff=4.0, beta=1.5, d_cutoff=0.5)])
def test_one_euro_matches_scalar_reference(rng, params):
    shape = (17, 2)
    n = 120
    t = np.cumsum(rng.uniform(0.01, 0.06, n))  # irregular frame times
    signal = np.cumsum(rng.normal(0, 3, (n, *shape)), axis=0) + rng.normal(0, 1, (n, *shape))
    f = OneEuroFilter(**params)
    refs = [_ScalarOneEuro(params["min_cutoff"], params["beta"], params["d_cutoff"])
            for _ in range(34)]
    for i in range(n):
        got = f.filter(signal[i], t[i])
        want = np.array([r.filter(v, t[i]) for r, v in zip(refs, signal[i].ravel(),
                                                             strict=True)]).reshape(shape)
        assert got.shape == shape and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        if i == 0:
            np.testing.assert_array_equal(got, signal[0])
    assert np.abs(got - signal[-1]).max() > 0  # it did filter


def test_one_euro_first_call_reset_and_default_time(rng):
    f = OneEuroFilter(min_cutoff=0.5)
    x = rng.normal(size=(3, 2)).astype(np.float32)
    first = f.filter(x)
    np.testing.assert_array_equal(first, x)
    first[0, 0] = 99.0  # the result is a copy, not the filter's state
    second = f.filter(x + 1)  # t defaults to one unit later
    ref = [_ScalarOneEuro(0.5, 0.0, 1.0) for _ in range(6)]
    want = [[r.filter(float(v), 0.0) for r, v in zip(ref, x.ravel(), strict=True)],
            [r.filter(float(v), 1.0) for r, v in zip(ref, (x + 1).ravel(), strict=True)]]
    np.testing.assert_allclose(second.ravel(), want[1], rtol=1e-12)
    f.reset()
    np.testing.assert_array_equal(f.filter(np.arange(4.0), 10.0), np.arange(4.0))  # new shape
    f.reset()
    assert f.filter(5.0, 11.0).shape == () and float(f.filter(5.0, 12.0)) == 5.0


def test_one_euro_bad_input():
    with pytest.raises(ValueError, match="^min_cutoff:"):
        OneEuroFilter(min_cutoff=0)
    with pytest.raises(ValueError, match="^beta:"):
        OneEuroFilter(beta=-1)
    with pytest.raises(ValueError, match="^d_cutoff:"):
        OneEuroFilter(d_cutoff=float("nan"))
    with pytest.raises(TypeError, match="^min_cutoff:"):
        OneEuroFilter(min_cutoff="1")
    f = OneEuroFilter()
    f.filter(np.zeros((17, 2)), 1.0)
    with pytest.raises(ValueError, match="^x:.*shape"):
        f.filter(np.zeros((16, 2)), 2.0)
    with pytest.raises(ValueError, match="^t:"):
        f.filter(np.zeros((17, 2)), 1.0)
    with pytest.raises(ValueError, match="^x:.*finite"):
        f.filter(np.full((17, 2), np.nan), 3.0)
    with pytest.raises(TypeError, match="^x:"):
        f.filter(np.zeros((17, 2), complex), 3.0)
    with pytest.raises(TypeError, match="^t:"):
        f.filter(np.zeros((17, 2)), "later")


# ---------------------------------------------------------------------------------------------
# PoseTracker
# ---------------------------------------------------------------------------------------------
def _template(rng, height):
    """A 17-keypoint body of the given height, centred on the origin."""
    return rng.uniform([-0.25, -0.5], [0.25, 0.5], (17, 2)) * height


class _Walker:
    def __init__(self, rng, start, velocity, height):
        self.body = _template(rng, height)
        self.start = np.asarray(start, float)
        self.velocity = np.asarray(velocity, float)
        self.area = 0.5 * height * height

    def pose(self, frame, rng):
        return self.start + frame * self.velocity + self.body + rng.normal(0, 1.5, (17, 2))


def _scene(rng):
    return [
        _Walker(rng, (100, 300), (3.0, 0.0), 160),  # walks right ...
        _Walker(rng, (700, 310), (-3.0, 0.0), 120),  # ... and crosses this one walking left
        _Walker(rng, (400, 50), (0.0, 3.0), 140),  # walks down through both paths
        _Walker(rng, (250, 550), (0.0, 0.0), 150),  # stands, hidden for frames 80..99
    ]


def test_people_walking_and_crossing_keep_their_ids(variant, rng):
    people = _scene(rng)
    tracker = PoseTracker(max_age=30)
    seen = {i: set() for i in range(len(people))}
    for frame in range(200):
        present = [i for i in range(len(people)) if not (i == 3 and 80 <= frame < 100)]
        order = rng.permutation(present)  # detections come in any order
        poses = np.stack([people[i].pose(frame, rng) for i in order])
        scores = rng.uniform(0.5, 1.0, len(order))
        areas = np.array([people[i].area for i in order])
        ids = tracker.update(poses, scores, areas)
        assert ids.dtype == np.int64 and ids.shape == (len(order),)
        assert len(set(ids.tolist())) == len(ids)
        for i, tid in zip(order, ids, strict=True):
            seen[i].add(int(tid))
    assert all(len(v) == 1 for v in seen.values()), seen
    assert len({next(iter(v)) for v in seen.values()}) == 4
    assert tracker.frame == 200


def _still(rng, n_frames, gone, max_age):
    """One person standing still, missing during the frames in ``gone``; ids per visible frame."""
    w = _Walker(rng, (300, 300), (0, 0), 150)
    tracker = PoseTracker(max_age=max_age)
    ids = []
    for frame in range(n_frames):
        poses = np.stack([w.pose(frame, rng)]) if frame not in gone else np.zeros((0, 17, 2))
        got = tracker.update(poses, np.ones(len(poses)), np.full(len(poses), w.area))
        ids.extend(got.tolist())
    return ids, tracker


@pytest.mark.parametrize("max_age", [0, 1, 5])
def test_gone_longer_than_max_age_gets_a_new_id(rng, max_age):
    ids, tracker = _still(rng, 20, set(range(5, 5 + max_age)), max_age)
    assert set(ids) == {0}  # gone exactly max_age frames: same id
    ids, tracker = _still(rng, 20, set(range(5, 6 + max_age)), max_age)
    assert ids[:5] == [0] * 5 and set(ids[5:]) == {1}
    assert list(tracker.ids) == [1]
    with pytest.raises(ValueError, match="^track_id:"):
        tracker.track(0)


def test_history_ring_buffer_oldest_first(rng):
    tracker = PoseTracker(history=4)
    w = _Walker(rng, (100, 100), (2, 1), 150)
    poses = [w.pose(f, rng) for f in range(7)]
    for p in poses:
        tracker.update(p[None], [1.0], [w.area])
    tr = tracker.track(0)
    assert isinstance(tr, Track)  # the history is a ring of the last `history` poses
    np.testing.assert_array_equal(tr.history(), np.stack(poses[-4:]))
    assert tr.hits == 7 and tr.first_frame == 0 and tr.last_frame == 6
    np.testing.assert_array_equal(tr.last_pose, poses[-1])


def test_smoothing_per_track_matches_one_euro_filters(rng):
    params = dict(min_cutoff=0.5, beta=0.1, d_cutoff=1.0)
    tracker = PoseTracker(smoothing=OneEuroFilter(**params))
    people = _scene(rng)[:3]
    filters = [OneEuroFilter(**params) for _ in people]
    for frame in range(40):
        t = frame / 30.0
        raw = np.stack([p.pose(frame, rng) for p in people])
        raw3 = np.concatenate([raw, rng.random((3, 17, 1))], axis=-1)  # a score column
        ids = tracker.update(raw3, [1, 1, 1], [p.area for p in people], t=t)
        np.testing.assert_array_equal(ids, [0, 1, 2])
        for i in range(3):
            np.testing.assert_allclose(tracker.last_poses[i, :, :2], filters[i].filter(raw[i], t),
                                       rtol=1e-12)
            np.testing.assert_array_equal(tracker.last_poses[i, :, 2], raw3[i, :, 2])
    np.testing.assert_array_equal(tracker.track(2).history()[-1], tracker.last_poses[2])
    # matching uses the raw pose, the history keeps the smoothed one
    np.testing.assert_array_equal(tracker.track(2).last_pose, raw3[2])
    # a dict of parameters works the same way
    assert PoseTracker(smoothing=params).update(raw3, [1, 1, 1], [1e4] * 3).tolist() == [0, 1, 2]


def test_smoothing_with_tracks_missing_frames_and_irregular_times(rng):
    # the tracker steps every track's filter at once: tracks last seen at different times each
    # get their own time step, new tracks start unfiltered
    params = dict(min_cutoff=1.0, beta=0.05, d_cutoff=2.0)
    tracker = PoseTracker(smoothing=params, max_age=10)
    people = _scene(rng)[:3]
    filters, id_of = {}, {}
    times = np.cumsum(rng.uniform(0.01, 0.08, 30))
    for frame, t in enumerate(times):
        present = [i for i in range(3) if not (i == 1 and 5 <= frame < 9) and
                   not (i == 2 and frame < 12)]
        raw = np.stack([people[i].pose(frame, rng) for i in present])
        ids = tracker.update(raw, np.ones(len(present)), [people[i].area for i in present], t=t)
        for row, (i, tid) in enumerate(zip(present, ids.tolist(), strict=True)):
            assert id_of.setdefault(i, tid) == tid  # a person missing 4 frames keeps its id
            want = filters.setdefault(tid, OneEuroFilter(**params)).filter(raw[row], t)
            np.testing.assert_allclose(tracker.last_poses[row], want, rtol=1e-12)
            np.testing.assert_array_equal(tracker.track(tid).history()[-1], want)
    assert sorted(filters) == [0, 1, 2]


def test_tracker_state_never_aliases_caller_arrays(rng):
    w = _Walker(rng, (100, 100), (1, 0), 150)
    for smoothing in (None, dict(min_cutoff=1.0)):
        tracker = PoseTracker(smoothing=smoothing)
        poses = w.pose(0, rng)[None]
        kept = poses.copy()
        tracker.update(poses, [1.0], [w.area])
        poses += 1000.0  # the caller reuses its buffer
        tracker.last_poses[...] = -1.0  # and scribbles on the returned poses
        np.testing.assert_array_equal(tracker.track(0).last_pose, kept[0])
        np.testing.assert_array_equal(tracker.track(0).history(), kept)
        assert tracker.update(kept + 1.0, [1.0], [w.area]).tolist() == [0]


def test_empty_frames_and_reset(rng):
    tracker = PoseTracker()
    out = tracker.update(np.zeros((0, 17, 2)), [], [])
    assert out.shape == (0,) and out.dtype == np.int64
    w = _Walker(rng, (0, 0), (0, 0), 100)
    assert tracker.update(w.pose(0, rng)[None], [1.0], [w.area]).tolist() == [0]
    tracker.reset()
    assert tracker.frame == 0 and len(tracker.ids) == 0
    # after a reset the pose shape may change
    assert tracker.update(np.ones((1, 17, 3)), [1.0], [1.0]).tolist() == [0]
    assert tracker.last_poses.shape == (1, 17, 3)


def test_other_keypoint_counts_need_sigmas(rng):
    tracker = PoseTracker()
    with pytest.raises(ValueError, match="^sigmas:"):
        tracker.update(np.zeros((1, 5, 2)), [1.0], [1.0])
    tracker = PoseTracker(sigmas=np.full(5, 0.05))
    assert tracker.update(np.zeros((2, 5, 2)) + [[[0, 0]], [[500, 500]]], [1, 1],
                          [100.0, 100.0]).tolist() == [0, 1]


@pytest.mark.parametrize("kwargs,exc,start", [
    (dict(max_age=-1), ValueError, "max_age:"),
    (dict(max_age=1.5), TypeError, "max_age:"),
    (dict(history=0), ValueError, "history:"),
    (dict(oks_threshold=float("nan")), ValueError, "oks_threshold:"),
    (dict(smoothing="fast"), TypeError, "smoothing:"),
    (dict(smoothing=dict(cutoff=1.0)), TypeError, "smoothing:"),
    (dict(smoothing=dict(min_cutoff=-1.0)), ValueError, "min_cutoff:"),
    (dict(sigmas=np.zeros(17)), ValueError, "sigmas:"),
])
def test_tracker_bad_construction(kwargs, exc, start):
    with pytest.raises(exc) as info:
        PoseTracker(**kwargs)
    assert str(info.value).startswith(start), str(info.value)


P = np.zeros((2, 17, 2)) + [[[0, 0]], [[300, 300]]]


@pytest.mark.parametrize("args,exc,start", [
    ((np.zeros((17, 2)), [1.0], [1.0]), ValueError, "poses:"),
    ((np.zeros((2, 17, 4)), [1, 1], [1, 1]), ValueError, "poses:"),
    ((P.astype(complex), [1, 1], [1, 1]), TypeError, "poses:"),
    ((P + np.nan, [1, 1], [1, 1]), ValueError, "poses:"),
    ((P, [1.0], [1, 1]), ValueError, "scores:"),
    ((P, [1.0, np.nan], [1, 1]), ValueError, "scores:"),
    ((P, [1, 1], [1.0, -1.0]), ValueError, "areas:"),
    ((P, [1, 1], [[1.0, 1.0]]), ValueError, "areas:"),
])
def test_update_bad_input(args, exc, start):
    with pytest.raises(exc) as info:
        PoseTracker().update(*args)
    assert str(info.value).startswith(start), str(info.value)


def test_update_shape_and_time_must_stay_consistent():
    tracker = PoseTracker()
    tracker.update(P, [1, 1], [1e4, 1e4], t=1.0)
    with pytest.raises(ValueError, match="^poses:.*earlier"):
        tracker.update(np.zeros((1, 17, 3)), [1], [1e4], t=2.0)
    with pytest.raises(ValueError, match="^t:"):
        tracker.update(P, [1, 1], [1e4, 1e4], t=1.0)
    assert len(COCO_SIGMAS) == 17


def test_track_id_must_be_an_int(rng):
    # issue 13: track(0.7) returned track 0 (int() truncation)
    tracker = PoseTracker()
    tracker.update(rng.uniform(0, 50, (2, 17, 2)), [0.9, 0.8], [2500.0, 2500.0])
    assert tracker.track(np.int64(1)).id == 1
    for bad in (0.7, 1.0, "0", None, True, np.float64(0)):
        with pytest.raises(TypeError, match="^track_id: expected an int"):
            tracker.track(bad)
    with pytest.raises(ValueError, match="^track_id: expected the id of a live track"):
        tracker.track(2)
    with pytest.raises(ValueError, match="^track_id: expected the id of a live track"):
        tracker.track(10**30)


def test_byte_swapped_and_misaligned_inputs(rng):
    # issue 13: '>f4' arrays were refused; results equal the native-endian input's
    frames = [rng.uniform(0, 400, (3, 17, 3)) for _ in range(4)]
    scores, areas = np.array([0.9, 0.8, 0.7]), np.array([900.0, 1600.0, 2500.0])

    def run(conv):
        tracker = PoseTracker(smoothing=dict(min_cutoff=0.5, beta=0.1))
        ids = [tracker.update(conv(f + i), conv(scores), conv(areas)) for i, f in
               enumerate(frames)]
        return ids, tracker.last_poses

    def misaligned(a):
        raw = np.zeros(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
        raw[...] = a
        return raw

    for native, foreign in ((lambda a: a, lambda a: a.astype(">f8")),
                            (lambda a: a.astype("<f4"), lambda a: a.astype(">f4")),
                            (lambda a: a, misaligned)):
        want_ids, want_poses = run(native)
        ids, poses = run(foreign)
        assert all(np.array_equal(a, b) for a, b in zip(ids, want_ids, strict=True))
        np.testing.assert_array_equal(poses, want_poses)
    f = OneEuroFilter(beta=0.5)
    g = OneEuroFilter(beta=0.5)
    for i, x in enumerate(frames):
        np.testing.assert_array_equal(f.filter(x.astype(">f8"), t=i), g.filter(x, t=i))


def test_default_time_step_beyond_float_precision_is_refused():
    # found by tests/fuzz: t=1e154 then t=None stepped to the same time (1e154 + 1 == 1e154)
    # and the filter divided by zero
    f = OneEuroFilter()
    f.filter(np.zeros(2), t=1e154)
    with pytest.raises(ValueError, match="^t: expected a time"):
        f.filter(np.ones(2))
    np.testing.assert_array_equal(f.filter(np.ones(2), t=2e154).shape, (2,))  # still usable
    tracker = PoseTracker()
    p = np.zeros((1, 17, 2))
    tracker.update(p, [1.0], [100.0], t=2.0**53)
    with pytest.raises(ValueError, match="^t: expected a time"):
        tracker.update(p, [1.0], [100.0])


def test_one_euro_speeds_beyond_float64_stay_finite():
    # found by tests/fuzz: finite samples near +-1e308 gave an infinite speed, then
    # 0 * inf = NaN in the cutoff (beta=0) and NaN filtered values
    for beta in (0.0, 0.5):
        f = OneEuroFilter(beta=beta)
        f.filter(np.array([1e308, -1e308, 0.0]), t=0.0)
        for i, x in enumerate(([-1e308, 1e308, 1.0], [1e308, -1e308, 2.0], [0.0, 0.0, 3.0])):
            y = f.filter(np.array(x), t=1e-300 * (i + 1))
            assert np.isfinite(y).all(), (beta, i, y)
    tracker = PoseTracker(smoothing=dict(beta=0.0))
    p = np.zeros((1, 17, 2))
    for i, v in enumerate((1e308, -1e308, 5.0)):
        tracker.update(p + v, [1.0], [100.0], t=float(i))
        assert np.isfinite(tracker.last_poses).all()
