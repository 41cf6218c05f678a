"""PoseTracker against a straightforward transcription of its first algorithm (one Python object
and one RingBuffer per track, the dense OKS matrix of ``wasmpose.keypoints.oks_mean_area``,
greedy matching in Python), on random multi-frame scenes where people appear, move, vanish and
come back: the same ids, poses, histories and track attributes, frame by frame."""

import numpy as np
import pytest

from wasmpose._checks import oks_variances
from wasmpose.keypoints import COCO_SIGMAS, oks_mean_area
from wasmpose.memory import RingBuffer
from wasmpose.tracking import PoseTracker
from wasmpose.tracking import _one_euro_step as one_euro_step


class _OldTrack:
    def __init__(self, tid, frame, shape, history):
        self.id, self.first_frame, self.last_frame, self.hits = tid, frame, frame, 0
        self.last_pose, self.area, self.score = None, 0.0, 0.0
        self.ring = RingBuffer(history, shape, np.float64)
        self.state, self.t = None, None


class _OldTracker:
    """The tracker as first written (wasmpose 2026-11), minus the argument checks."""

    def __init__(self, oks_threshold=0.3, max_age=30, history=16, smoothing=None, sigmas=None):
        self.thr, self.max_age, self.history = oks_threshold, max_age, history
        self.smoothing = smoothing
        self.var = oks_variances(COCO_SIGMAS if sigmas is None else sigmas)
        self.tracks, self.next_id, self.frame = {}, 0, 0

    def update(self, poses, scores, areas, t):
        poses = np.array(poses, np.float64)
        frame, n = self.frame, poses.shape[0]
        live = list(self.tracks.values())
        owner = [None] * n
        if n and live:
            sim = oks_mean_area(poses, areas, np.stack([tr.last_pose for tr in live]),
                                np.array([tr.area for tr in live]), self.var)
            flat = sim.ravel()
            cand = np.flatnonzero(flat > self.thr)
            cand = cand[np.argsort(-flat[cand], kind="stable")]
            used = [False] * len(live)
            for c in cand.tolist():
                p, j = divmod(c, len(live))
                if owner[p] is None and not used[j]:
                    owner[p], used[j] = live[j], True
        for p in range(n):
            if owner[p] is None:
                owner[p] = self.tracks[self.next_id] = _OldTrack(self.next_id, frame,
                                                                 poses.shape[1:], self.history)
                self.next_id += 1
        shown = poses.copy()
        if self.smoothing is not None:
            xy = shown[:, :, :2]
            state = np.zeros((n, 2, *xy.shape[1:]))
            old = [p for p, tr in enumerate(owner) if tr.state is not None]
            if old:
                sel = old if len(old) < n else slice(None)
                prev = np.stack([owner[p].state for p in old])
                te = t - np.array([owner[p].t for p in old])
                xy[sel], state[sel, 1] = one_euro_step(xy[sel], prev[:, 0], prev[:, 1],
                                                       te[:, None, None], **self.smoothing)
            state[:, 0] = xy
            for tr, s in zip(owner, state, strict=True):
                tr.state, tr.t = s, t
        for tr, pose, pose_shown, area, score in zip(owner, poses, shown, areas, scores,
                                                     strict=True):
            tr.last_frame, tr.last_pose, tr.area, tr.score = frame, pose, area, score
            tr.hits += 1
            tr.ring.push(pose_shown)
        for tid in [tid for tid, tr in self.tracks.items()
                    if frame - tr.last_frame > self.max_age]:
            del self.tracks[tid]
        self.frame += 1
        return np.array([tr.id for tr in owner], np.int64), shown


def _scene(rng, frames, people, channels):
    """Frames of poses: people walk (some fast, some crossing), enter late, leave for a while,
    and come back; detections are shuffled each frame."""
    heights = rng.uniform(60, 200, people)
    bodies = rng.uniform([-0.25, -0.5], [0.25, 0.5], (people, 17, 2)) * heights[:, None, None]
    start = rng.uniform(0, 600, (people, 1, 2))
    velocity = rng.normal(0, 4, (people, 1, 2))
    enter = rng.integers(0, frames // 2, people) * (rng.random(people) < 0.4)
    away = [set(range(a, a + d)) for a, d in zip(rng.integers(0, frames, people).tolist(),
                                                   rng.integers(0, 12, people).tolist(),
                                                   strict=True)]
    out = []
    for f in range(frames):
        here = [i for i in range(people) if f >= enter[i] and f not in away[i]]
        here = rng.permutation(np.array(here, dtype=np.int64))
        poses = start[here] + f * velocity[here] + bodies[here] + rng.normal(
            0, rng.uniform(0.5, 8.0), (len(here), 17, 2))
        if channels == 3:
            poses = np.concatenate([poses, rng.random((len(here), 17, 1))], axis=-1)
        scores = rng.uniform(0.2, 1.0, len(here))
        areas = (0.5 * heights[here] ** 2) * rng.uniform(0.8, 1.2, len(here))
        out.append((poses, scores, areas))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_same_as_the_first_algorithm(variant, seed):
    rng = np.random.default_rng([20261204, seed])
    frames, people = 60, int(rng.integers(2, 60))
    kw = dict(oks_threshold=float(rng.choice([0.3, 0.1, 0.6, 0.0, -0.5, 0.95])),
              max_age=int(rng.integers(0, 8)), history=int(rng.integers(1, 6)))
    smoothing = [None, dict(min_cutoff=0.7, beta=0.05, d_cutoff=1.0)][seed % 2]
    new = PoseTracker(smoothing=smoothing, **kw)
    old = _OldTracker(smoothing=smoothing, **kw)
    times = np.cumsum(rng.uniform(0.01, 0.06, frames))
    matched = 0
    for f, (poses, scores, areas) in enumerate(_scene(rng, frames, people, 2 + seed % 2)):
        before = old.next_id
        ids = new.update(poses, scores, areas, t=times[f])
        want, shown = old.update(poses, scores, areas, times[f])
        np.testing.assert_array_equal(ids, want, err_msg=f"frame {f}")
        np.testing.assert_array_equal(new.last_poses, shown)
        assert new.ids.tolist() == list(old.tracks)
        for tid, tr in old.tracks.items():
            got = new.track(tid)
            assert (got.first_frame, got.last_frame, got.hits) == (tr.first_frame,
                                                                    tr.last_frame, tr.hits)
            assert (got.area, got.score) == (float(tr.area), float(tr.score))
            np.testing.assert_array_equal(got.last_pose, tr.last_pose)
            np.testing.assert_array_equal(got.history(), tr.ring.latest())
        matched += int((want < before).sum())
    assert new.frame == frames and old.next_id == new._next_id
    assert matched > 0 or kw["oks_threshold"] >= 0.95  # the scenes do continue tracks


def test_a_crowd_same_as_the_first_algorithm():
    # 250 people packed in 600 x 600 px: many overlapping boxes, the gate does little
    rng = np.random.default_rng(99)
    new, old = PoseTracker(), _OldTracker()
    for f, (poses, scores, areas) in enumerate(_scene(rng, 20, 250, 2)):
        ids = new.update(poses, scores, areas, t=float(f))
        np.testing.assert_array_equal(ids, old.update(poses, scores, areas, float(f))[0])


def test_a_track_held_by_the_caller_keeps_its_last_state_when_dropped(rng):
    tracker = PoseTracker(max_age=1, history=3)
    pose = rng.uniform(0, 100, (1, 17, 2))
    for i in range(4):
        tracker.update(pose + i, [0.5 + i / 10], [900.0])
    held = tracker.track(0)
    history = held.history()
    for _ in range(3):
        tracker.update(np.zeros((0, 17, 2)), [], [])
    assert len(tracker.ids) == 0
    with pytest.raises(ValueError, match="^track_id:"):
        tracker.track(0)
    assert (held.first_frame, held.last_frame, held.hits, held.score) == (0, 3, 4, 0.8)
    np.testing.assert_array_equal(held.history(), history)
    np.testing.assert_array_equal(held.last_pose, pose[0] + 3)
    assert repr(held) == "Track(id=0, frames 0..3, hits=4)"
