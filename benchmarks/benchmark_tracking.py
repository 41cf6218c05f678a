"""Benchmarks of :mod:`wasmpose.tracking`: ``PoseTracker.update``, ``Track.history``,
``OneEuroFilter.filter`` and ``smooth_tracks``, one call per sample.

``PoseTrackerUpdate``: ``impl`` is ``wasmpose`` (``OptLevel.FULL``: the compiled matching,
``track_match``) or ``numpy`` (``OptLevel.NONE``: its NumPy reference, the dense OKS
matrix). Each sample feeds the next frame of people walking (:func:`common.walking_people`,
200 frames played forwards then backwards, so that motion stays continuous), so the tracker
always matches live tracks. ``time_history`` reads one track's last 16 poses.

``OneEuro``: ``wasmpose`` is ``OneEuroFilter.filter`` on the whole array (checks included);
``numpy`` the same formula on arrays without any checks; ``python`` the scalar filter of the
1-euro reference code (Casiez et al.), one object per coordinate, as pose code that filters
keypoint by keypoint does.

``SmoothTracks``: ``smooth_tracks`` (``wasmpose``: ``OptLevel.FULL``; ``numpy``: its NumPy
reference, ``OptLevel.NONE``) beside ``scipy`` (``scipy.signal.savgol_filter(x, 9, 2, axis=0,
mode="interp")``, which it equals on gap-free tracks, or ``scipy.ndimage.gaussian_filter1d``)
on recorded tracks: 300 frames of 33 keypoints (BlazePose, 10 s at 30 fps) and 9000 frames of
17 (COCO, 5 minutes), (x, y, score). ``gaps`` tracks have 5% of their points missing (score 0)
and a missing first frame on some keypoints; SciPy has no notion of missing points, so its
``gaps`` case times the same call on the same array.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from wasmpose.tracking import OneEuroFilter, PoseTracker, smooth_tracks

from . import common


class PoseTrackerUpdate(common.KernelSuite):
    """``PoseTracker.update`` with 10, 100 and 300 people per frame, without and with 1-euro
    smoothing."""

    params = [["wasmpose", "numpy"], [10, 100, 300], ["raw", "smoothed"]]
    param_names = ["impl", "people", "smoothing"]

    def setup(self, impl, people, smoothing):
        frames, areas = common.walking_people(people, 200)
        scores = [1.0] * people
        smooth = OneEuroFilter(min_cutoff=1.0, beta=0.01) if smoothing == "smoothed" else None
        self.tracker = PoseTracker(smoothing=smooth)
        self.frame = 0

        def step():
            i = self.frame % 398  # 0..199, then 198..1: a ping-pong over the 200 frames
            self.tracker.update(frames[i if i < 200 else 398 - i], scores, areas)
            self.frame += 1

        self._start(impl, ("tracker", impl, people, smoothing), step)
        # prime with live tracks whose histories are full (16 poses): the first update has
        # none to match (another code path, and the first matching update compiles its
        # kernel), so a timed call never sees either
        for _ in range(16):
            step()

    def time_update(self, impl, people, smoothing):
        self.fn()

    def time_history(self, impl, people, smoothing):
        self.tracker.track(int(self.tracker.ids[0])).history()


def _alpha(te, cutoff):
    r = 2 * math.pi * cutoff * te
    return r / (r + 1)


class _ScalarOneEuro:
    """The 1-euro filter of one scalar, as in the reference code (time step ``te`` fixed)."""

    def __init__(self, x0, min_cutoff, beta, d_cutoff=1.0):
        self.x, self.dx = x0, 0.0
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff

    def __call__(self, x, te):
        a_d = _alpha(te, self.d_cutoff)
        dx = a_d * (x - self.x) / te + (1 - a_d) * self.dx
        a = _alpha(te, self.min_cutoff + self.beta * abs(dx))
        self.x = a * x + (1 - a) * self.x
        self.dx = dx
        return self.x


def _numpy_one_euro(min_cutoff, beta, d_cutoff=1.0):
    """The 1-euro formula on arrays, no checks; returns ``step(x, te)``."""
    state = {}

    def step(x, te):
        if not state:
            state.update(x=x, dx=np.zeros_like(x))
            return x
        a_d = 1 / (1 + 1 / (2 * np.pi * d_cutoff * te))
        dx = a_d * (x - state["x"]) / te + (1 - a_d) * state["dx"]
        a = 1 / (1 + 1 / (2 * np.pi * (min_cutoff + beta * np.abs(dx)) * te))
        state["x"] = a * x + (1 - a) * state["x"]
        state["dx"] = dx
        return state["x"]

    return step


class OneEuro(common.KernelSuite):
    """One ``filter`` step at 30 frames per second of one pose (17, 2) or ten (10, 17, 2)."""

    params = [["wasmpose", "numpy", "python"], ["17x2", "10x17x2"]]
    param_names = ["impl", "shape"]

    def setup(self, impl, shape):
        people = 1 if shape == "17x2" else 10
        poses = common.walking_people(people, 200)[0]
        frames = poses[:, 0] if shape == "17x2" else poses
        te = 1 / 30
        self.frame = 0

        if impl == "wasmpose":
            f = OneEuroFilter(min_cutoff=1.0, beta=0.01)
            call = lambda x, i: f.filter(x, i * te)  # noqa: E731
        elif impl == "numpy":
            step = _numpy_one_euro(1.0, 0.01)
            call = lambda x, i: step(x, te)  # noqa: E731
        else:
            filters = [_ScalarOneEuro(v, 1.0, 0.01) for v in frames[0].ravel().tolist()]

            def call(x, i):
                return [f(v, te) for f, v in zip(filters, x.ravel().tolist(), strict=True)]

        def fn():
            i = self.frame % 398  # ping-pong over the 200 frames, as PoseTrackerUpdate
            self.frame += 1
            return call(frames[i if i < 200 else 398 - i], self.frame)

        fn()  # the first call only stores the sample: never timed
        self._start(impl, ("one_euro", impl, shape), fn)

    def time_filter(self, impl, shape):
        self.fn()


SMOOTH_SEED = 20261204


@functools.lru_cache(maxsize=4)
def _recorded(frames, keypoints, gaps):
    """Recorded tracks ``(frames, keypoints, 3)``: random walks, scores in (0.1, 1)."""
    rng = np.random.default_rng([SMOOTH_SEED, frames, keypoints])
    x = np.cumsum(rng.normal(0, 2, (frames, keypoints, 3)), axis=0) + rng.uniform(
        0, 500, (keypoints, 3))
    x[..., 2] = rng.uniform(0.1, 1.0, (frames, keypoints))
    if gaps:
        x[rng.random((frames, keypoints)) < 0.05, 2] = 0.0
    return x


class SmoothTracks(common.KernelSuite):
    """``smooth_tracks`` beside SciPy's filters on recorded tracks."""

    params = [["wasmpose", "numpy", "scipy"], ["300x33x3", "9000x17x3"], ["savgol", "gaussian"],
              ["clean", "gaps"]]
    param_names = ["impl", "shape", "method", "track"]

    def setup(self, impl, shape, method, track):
        frames, keypoints, _ = (int(v) for v in shape.split("x"))
        x = _recorded(frames, keypoints, track == "gaps")
        if impl == "scipy":
            if method == "savgol":
                signal = common.require_peer("scipy.signal")
                fn = lambda: signal.savgol_filter(x, 9, 2, axis=0, mode="interp")  # noqa: E731
            else:
                ndimage = common.require_peer("scipy.ndimage")
                fn = lambda: ndimage.gaussian_filter1d(x, 1.5, axis=0, mode="nearest",  # noqa: E731
                                                       radius=4)
        else:
            fn = lambda: smooth_tracks(x, method=method, window=9, order=2)  # noqa: E731
        self._start(impl, ("smooth", impl, shape, method, track), fn)

    def time_smooth(self, impl, shape, method, track):
        self.fn()
