"""Following people over frames: the 1-euro filter and a greedy OKS pose tracker.

:class:`OneEuroFilter` smooths any fixed-shape array over time (Casiez, Roussel and Vogel,
"1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input in Interactive Systems",
CHI 2012). :class:`PoseTracker` gives each pose of a frame a track id by greedy OKS matching
against the last pose of every live track, keeps a short history per track in a
:class:`wasmpose.memory.RingBuffer`, and optionally smooths each track with a 1-euro filter.
Shape symbols: P poses in a frame, K keypoints, C = 2 (x, y) or 3 (x, y, score) values each.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from wasmpose import _checks
from wasmpose.keypoints import COCO_SIGMAS, _oks_mean_area, _per_item, _points, _variances
from wasmpose.memory import RingBuffer

__all__ = ["OneEuroFilter", "PoseTracker", "Track"]

_F64 = np.dtype(np.float64)
_NUMERIC = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64))


def _positive(x, name, *, allow_zero=False):
    v = _checks.real_scalar(x, name, allow_inf=False)
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name}: expected a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number, got {v}")
    return v


def _count(x, name, minimum):
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(x).__name__}")
    if x < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {x}")
    return int(x)


class OneEuroFilter:
    """The 1-euro filter, vectorised over an array of any fixed shape.

    Each element is an adaptive low-pass filter whose cutoff rises with the element's speed:
    ``cutoff = min_cutoff + beta * |dx_hat|``, where ``dx_hat`` is the speed low-passed at
    ``d_cutoff``; with ``alpha(fc) = 1 / (1 + tau / te)``, ``tau = 1 / (2 pi fc)`` and ``te`` the
    time since the previous call, ``x_hat = alpha x + (1 - alpha) x_hat_prev``.

    Parameters
    ----------
    min_cutoff : float, default 1.0
        Cutoff frequency (Hz when ``t`` is in seconds) at zero speed: lower means smoother.
    beta : float, default 0.0
        Speed coefficient: higher means less lag on fast motion.
    d_cutoff : float, default 1.0
        Cutoff frequency of the speed estimate.

    Examples
    --------
    >>> import numpy as np
    >>> f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    >>> f.filter(np.array([0.0, 10.0]), 0.0)      # the first call returns x unchanged
    array([ 0., 10.])
    >>> f.filter(np.array([1.0, 10.0]), 1 / 30).round(4)   # then it lags behind the jump
    array([ 0.1732, 10.    ])
    """

    __slots__ = ("min_cutoff", "beta", "d_cutoff", "_x", "_dx", "_t")

    def __init__(self, min_cutoff=1.0, beta=0.0, d_cutoff=1.0):
        self.min_cutoff = _positive(min_cutoff, "min_cutoff")
        self.beta = _positive(beta, "beta", allow_zero=True)
        self.d_cutoff = _positive(d_cutoff, "d_cutoff")
        self.reset()

    def __repr__(self) -> str:
        return (f"OneEuroFilter(min_cutoff={self.min_cutoff}, beta={self.beta}, "
                f"d_cutoff={self.d_cutoff})")

    def reset(self) -> None:
        """Forget the past: the next call starts afresh (and may use another shape)."""
        self._x = None  # filtered value
        self._dx = None  # filtered speed
        self._t = None

    def filter(self, x, t=None) -> np.ndarray:
        """Filter the next sample ``x`` taken at time ``t``.

        Parameters
        ----------
        x : array_like, float32, float64, int32 or int64
            The sample; its shape must stay the same between resets. Finite values only.
        t : float, optional
            Its time, later than the previous call's; ``None`` means one time unit after the
            previous call (0 on the first call).

        Returns
        -------
        ndarray, shape of ``x``, float64
            The filtered sample (``x`` itself, as float64, on the first call).

        Raises
        ------
        TypeError
            ``x`` is not numeric, or ``t`` is not a real number.
        ValueError
            ``x`` changed shape or has non-finite values, or ``t`` does not increase.
        """
        x = _checks.as_array(x, "x", _NUMERIC).astype(_F64)  # a copy: never aliases the caller
        if not np.isfinite(x).all():
            raise ValueError(f"x: expected finite values, got {int((~np.isfinite(x)).sum())} "
                             "non-finite value(s)")
        if t is None:
            t = 0.0 if self._t is None else self._t + 1.0
        else:
            t = _checks.real_scalar(t, "t", allow_inf=False)
        if self._x is None:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"x: expected shape {self._x.shape} (as the previous calls; "
                             f"reset() to change it), got {x.shape}")
        te = t - self._t
        if not te > 0:
            raise ValueError(f"t: expected a time after the previous call's {self._t}, got {t}")
        a_d = 1.0 / (1.0 + 1.0 / (2.0 * math.pi * self.d_cutoff) / te)
        dx = (x - self._x) / te
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
        a = 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff) / te)
        x_hat = a * x + (1.0 - a) * self._x
        self._x, self._dx, self._t = x_hat, dx_hat, t
        return x_hat.copy()


class Track:
    """One followed person (returned by :meth:`PoseTracker.track`; do not create directly).

    Attributes
    ----------
    id : int
        The track id.
    first_frame, last_frame : int
        The update (counted from 0) where the track started and where it was last matched.
    hits : int
        How many updates matched it.
    last_pose : ndarray, shape (K, C)
        The last pose matched, as given to ``update`` (matching uses it).
    area, score : float
        The last matched pose's area and score.
    """

    __slots__ = ("id", "first_frame", "last_frame", "hits", "last_pose", "area", "score",
                 "_history", "_filter")

    def __init__(self, track_id, frame, pose, area, score, history, smoothing):
        self.id = track_id
        self.first_frame = self.last_frame = frame
        self.hits = 0
        self._history = RingBuffer(history, pose.shape, _F64)
        self._filter = None if smoothing is None else OneEuroFilter(**smoothing)
        self.last_pose, self.area, self.score = pose, area, score

    def _observe(self, frame, pose, area, score, t):
        """Record a matched pose; returns it smoothed when the tracker smooths."""
        self.last_frame, self.last_pose, self.area, self.score = frame, pose, area, score
        self.hits += 1
        out = pose
        if self._filter is not None:
            out = pose.copy()
            out[:, :2] = self._filter.filter(pose[:, :2], t)
        self._history.push(out)
        return out

    def history(self) -> np.ndarray:
        """The last poses of this track (smoothed when the tracker smooths), oldest first.

        Returns
        -------
        ndarray, shape (n, K, C), float64
            At most the tracker's ``history`` poses.
        """
        return self._history.latest()

    def __repr__(self) -> str:
        return (f"Track(id={self.id}, frames {self.first_frame}..{self.last_frame}, "
                f"hits={self.hits})")


class PoseTracker:
    """Track ids for the poses of a video, by greedy OKS matching frame to frame.

    Each :meth:`update` compares the frame's poses with the last pose of every live track by
    OKS (mmpose's ``oks_iou``: all keypoints, the mean of the two areas) and matches greedily,
    highest OKS first, pairs with OKS ``> oks_threshold`` (ties: lower pose index, then older
    track). Unmatched poses open new tracks with new ids (ids are never reused); a track not
    matched for more than ``max_age`` consecutive updates is dropped, so a person who is gone
    longer than that comes back under a new id.

    Parameters
    ----------
    oks_threshold : float, default 0.3
        Minimum OKS (exclusive) to continue a track.
    max_age : int, default 30
        Updates a track survives without a match.
    history : int, default 16
        Poses kept per track (see :meth:`Track.history`).
    smoothing : OneEuroFilter or dict, optional
        Smooth the (x, y) of each track with a 1-euro filter of these parameters (a filter
        instance is used as a template, a dict holds ``min_cutoff``, ``beta``, ``d_cutoff``).
        Matching always uses the raw poses.
    sigmas : ndarray, shape (K,), optional
        OKS sigmas; by default ``COCO_SIGMAS``, which requires K = 17.

    Attributes
    ----------
    last_poses : ndarray, shape (P, K, C), float64
        The poses of the last update in input order, smoothed per track when ``smoothing`` is
        set.
    last_ids : ndarray, shape (P,), int64
        The ids the last update returned.
    frame : int
        Number of updates so far.

    Examples
    --------
    >>> import numpy as np
    >>> tracker = PoseTracker()
    >>> a = np.random.default_rng(0).uniform(0, 50, (17, 2))
    >>> tracker.update(np.stack([a, a + 300]), [0.9, 0.8], [2500.0, 2500.0])
    array([0, 1])
    >>> tracker.update(np.stack([a + 301, a + 1]), [0.9, 0.8], [2500.0, 2500.0])
    array([1, 0])
    >>> tracker.track(1).history().shape
    (2, 17, 2)
    """

    def __init__(self, *, oks_threshold=0.3, max_age=30, history=16, smoothing=None,
                 sigmas=None):
        self.oks_threshold = _checks.real_scalar(oks_threshold, "oks_threshold")
        self.max_age = _count(max_age, "max_age", 0)
        self.history = _count(history, "history", 1)
        if smoothing is None or isinstance(smoothing, dict):
            params = None if smoothing is None else dict(smoothing)
            if params is not None:
                try:
                    OneEuroFilter(**params)
                except TypeError as exc:
                    raise TypeError(f"smoothing: expected OneEuroFilter parameters "
                                    f"(min_cutoff, beta, d_cutoff), got {smoothing!r}") from exc
        elif isinstance(smoothing, OneEuroFilter):
            params = dict(min_cutoff=smoothing.min_cutoff, beta=smoothing.beta,
                          d_cutoff=smoothing.d_cutoff)
        else:
            raise TypeError(f"smoothing: expected None, a OneEuroFilter or a dict of its "
                            f"parameters, got {type(smoothing).__name__}")
        self._smoothing = params
        self._sigmas = None if sigmas is None else np.array(sigmas)
        if self._sigmas is not None:
            _variances(self._sigmas, self._sigmas.shape[0] if self._sigmas.ndim == 1 else -1)
        self.reset()

    def reset(self) -> None:
        """Drop every track and start counting ids and frames from 0 again."""
        self._tracks: dict[int, Track] = {}
        self._next_id = 0
        self.frame = 0
        self._t = None
        self._shape = None  # (K, C) of the poses, fixed by the first non-empty update
        self._var = None
        self.last_poses = np.empty((0, 0, 2))
        self.last_ids = np.empty(0, np.int64)

    @property
    def ids(self) -> np.ndarray:
        """Ids of the live tracks, oldest first (int64)."""
        return np.fromiter(self._tracks, np.int64, len(self._tracks))

    def track(self, track_id) -> Track:
        """The live track ``track_id``.

        Raises
        ------
        ValueError
            No live track has this id (never opened, or dropped).
        """
        try:
            return self._tracks[int(track_id)]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"track_id: expected the id of a live track "
                             f"(live: {list(self._tracks)}), got {track_id!r}") from None

    def _check(self, poses, scores, areas):
        poses = _points(poses, "poses", "(P, K, 2 or 3)", 3, (2, 3))
        n = poses.shape[0]
        if self._shape is not None and n and poses.shape[1:] != self._shape:
            raise ValueError(f"poses: expected poses of shape {self._shape} as in the earlier "
                             f"updates (reset() to change it), got shape {poses.shape}")
        if not np.isfinite(poses).all():
            raise ValueError("poses: expected finite values, got "
                             f"{int((~np.isfinite(poses)).sum())} non-finite value(s)")
        s = _per_item(scores, "scores", n, "pose", allow_inf=False) if n else np.empty(0)
        a = _per_item(areas, "areas", n, "pose") if n else np.empty(0)
        if n and self._var is None:
            k = poses.shape[1]
            if self._sigmas is None and k != COCO_SIGMAS.size:
                raise ValueError(f"sigmas: required for poses with {k} keypoints "
                                 "(COCO_SIGMAS are for 17), got None")
            self._var = _variances(COCO_SIGMAS if self._sigmas is None else self._sigmas, k)
            self._shape = poses.shape[1:]
        return poses, s, a

    def update(self, poses, scores, areas, t=None) -> np.ndarray:
        """Assign track ids to this frame's poses.

        Parameters
        ----------
        poses : ndarray, shape (P, K, 2) or (P, K, 3)
            The frame's poses (x, y[, score]); P may be 0. K and C stay fixed between resets.
        scores : ndarray, shape (P,)
            Pose scores (kept on the tracks), finite and non-negative.
        areas : ndarray, shape (P,)
            Pose areas (e.g. of their boxes), ``>= 0``.
        t : float, optional
            The frame's time, later than the previous update's (used by smoothing); ``None``
            means one unit after the previous update (so frames count 0, 1, 2, ... by default).

        Returns
        -------
        ndarray, shape (P,), int64
            The track id of each pose.

        Raises
        ------
        TypeError, ValueError
            Bad shapes, dtypes, non-finite poses, negative areas, or a K without sigmas.
        """
        poses, scores, areas = self._check(poses, scores, areas)
        frame = self.frame
        if t is None:
            t = 0.0 if self._t is None else self._t + 1.0
        else:
            t = _checks.real_scalar(t, "t", allow_inf=False)
        if self._t is not None and not t > self._t:
            raise ValueError(f"t: expected a time after the previous update's {self._t}, got {t}")
        n = poses.shape[0]
        ids = np.full(n, -1, np.int64)
        live = list(self._tracks.values())
        if n and live:
            last = np.stack([tr.last_pose for tr in live])
            sim = _oks_mean_area(poses, areas, last, np.array([tr.area for tr in live]),
                                 self._var)
            flat = sim.ravel()
            cand = np.flatnonzero(flat > self.oks_threshold)
            cand = cand[np.argsort(-flat[cand], kind="stable")]  # ties: pose, then track order
            used = np.zeros(len(live), bool)
            for c in cand:
                p, j = divmod(int(c), len(live))
                if ids[p] < 0 and not used[j]:
                    ids[p] = live[j].id
                    used[j] = True
        out = np.empty_like(poses)
        for p in range(n):
            if ids[p] < 0:
                ids[p] = self._next_id
                self._tracks[self._next_id] = Track(self._next_id, frame, poses[p],
                                                    float(areas[p]), float(scores[p]),
                                                    self.history, self._smoothing)
                self._next_id += 1
            out[p] = self._tracks[int(ids[p])]._observe(frame, poses[p].copy(), float(areas[p]),
                                                        float(scores[p]), t)
        stale = [tid for tid, tr in self._tracks.items() if frame - tr.last_frame > self.max_age]
        for tid in stale:
            del self._tracks[tid]
        self.frame = frame + 1
        self._t = t
        self.last_poses = out
        self.last_ids = ids
        return ids
