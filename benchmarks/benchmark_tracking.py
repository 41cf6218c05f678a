"""Benchmarks of :mod:`wasmpose.tracking`: one ``PoseTracker.update`` per sample.

``impl``: ``wasmpose`` (``OptLevel.FULL``: the compiled OKS matrix), ``numpy`` (``OptLevel.NONE``:
its NumPy reference). Each sample feeds the next frame of people walking
(:func:`common.walking_people`, 200 frames played forwards then backwards, so that motion stays
continuous), so the tracker always matches live tracks.
"""

from __future__ import annotations

from wasmpose.tracking import OneEuroFilter, PoseTracker

from . import common


class PoseTrackerUpdate(common.KernelSuite):
    """``PoseTracker.update`` with 10 people per frame, without and with 1-euro smoothing."""

    params = [["wasmpose", "numpy"], [10], ["raw", "smoothed"]]
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
        # prime with live tracks: the first update has none to match (another code path, and
        # the first matching update compiles its kernel), so a timed call never sees either
        step()

    def time_update(self, impl, people, smoothing):
        self.fn()
