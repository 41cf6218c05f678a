"""Following people over frames: the 1-euro filter, a greedy OKS pose tracker, and offline
smoothing of recorded tracks.

:class:`OneEuroFilter` smooths any fixed-shape array over time (Casiez, Roussel and Vogel,
"1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input in Interactive Systems",
CHI 2012). :class:`PoseTracker` gives each pose of a frame a track id by greedy OKS matching
against the last pose of every live track, keeps a short history per track (a ring of the
last poses), and optionally smooths each track with a 1-euro filter.
:func:`smooth_tracks` smooths tracks that are already recorded, zero-phase (Savitzky-Golay or
Gaussian), filling short gaps first.
Shape symbols: P poses in a frame, K keypoints, C = 2 (x, y) or 3 (x, y, score) values each.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from wasmpose import _checks
from wasmpose._registry import Kernel, count, operand_bytes, register, rng
from wasmpose.keypoints import COCO_SIGMAS
from wasmpose.tracking import _kernels as _nb
from wasmpose.tracking import _reference as _ref

__all__ = ["OneEuroFilter", "PoseTracker", "Track", "smooth_tracks"]

_F64 = np.dtype(np.float64)
_FMAX = float(np.finfo(np.float64).max)


def _positive(x, name, *, allow_zero=False):
    v = _checks.real_scalar(x, name, allow_inf=False)
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name}: expected a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number, got {v}")
    return v


def _next_time(t, prev, what):
    """``t`` as a float later than ``prev``; ``None`` is one unit after ``prev`` (0 at first)."""
    if t is None:
        if prev is None:
            return 0.0
        if not prev + 1.0 > prev:  # beyond 2**53 one unit is lost in rounding: no time step
            raise ValueError(f"t: expected a time (None means one unit after the previous "
                             f"{what}'s {prev}, which float64 cannot step), got None")
        return prev + 1.0
    t = _checks.real_scalar(t, "t", allow_inf=False)
    if prev is not None and not t > prev:
        raise ValueError(f"t: expected a time after the previous {what}'s {prev}, got {t}")
    return t


def _one_euro_step(x, x_prev, dx_prev, te, min_cutoff, beta, d_cutoff):
    """One step of the 1-euro filter after its first: ``(x_hat, dx_hat)``.

    ``te`` (the time since the previous step, > 0) broadcasts against ``x``, so that one call
    steps many filters with their own time steps (the tracker's tracks).
    """
    a_d = 1.0 / (1.0 + 1.0 / (2.0 * math.pi * d_cutoff) / te)
    with np.errstate(over="ignore"):
        # speeds beyond float64 (values near 1e308, or tiny time steps) are held at its largest
        # value: an "infinite" speed would give 0 * inf = NaN below; filtered values stay finite
        dx = np.clip((x - x_prev) / te, -_FMAX, _FMAX)
        dx_hat = np.clip(a_d * dx + (1.0 - a_d) * dx_prev, -_FMAX, _FMAX)
        cutoff = min_cutoff + beta * np.abs(dx_hat)
        a = 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff) / te)
        return np.clip(a * x + (1.0 - a) * x_prev, -_FMAX, _FMAX), dx_hat


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
        # astype: a copy, never aliases the caller
        x = _checks.as_array(x, "x", _checks.COORDS).astype(_F64)
        if not np.isfinite(x).all():
            raise ValueError(f"x: expected finite values, got {int((~np.isfinite(x)).sum())} "
                             "non-finite value(s)")
        t = _next_time(t, self._t, "call")
        if self._x is None:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"x: expected shape {self._x.shape} (as the previous calls; "
                             f"reset() to change it), got {x.shape}")
        x_hat, dx_hat = _one_euro_step(x, self._x, self._dx, t - self._t, self.min_cutoff,
                                       self.beta, self.d_cutoff)
        self._x, self._dx, self._t = x_hat, dx_hat, t
        return x_hat.copy()


class Track:
    """One followed person (returned by :meth:`PoseTracker.track`; do not create directly).

    A view of the tracker's state: while the track is live its attributes follow the tracker's
    updates; once the tracker drops it they keep their last values.

    Attributes
    ----------
    id : int
        The track id.
    first_frame, last_frame : int
        The update (counted from 0) where the track started and where it was last matched.
    hits : int
        How many updates matched it.
    last_pose : ndarray, shape (K, C)
        The last pose matched, as given to ``update`` (matching uses it); a copy.
    area, score : float
        The last matched pose's area and score.

    Examples
    --------
    >>> import numpy as np
    >>> tracker = PoseTracker()
    >>> pose = np.random.default_rng(1).uniform(0, 50, (1, 17, 2))
    >>> ids = tracker.update(pose, [0.9], [2500.0])
    >>> t = tracker.track(ids[0])
    >>> t.id, t.first_frame, t.hits, t.history().shape
    (0, 0, 1, (1, 17, 2))
    """

    __slots__ = ("id", "_tracker", "_final", "__weakref__")

    def __init__(self, tracker, track_id):
        self.id = track_id
        self._tracker = tracker
        self._final = None  # the state once dropped: {name: value}

    def _get(self, name):
        if self._final is not None:
            return self._final[name]
        return self._tracker._field(self.id, name)

    first_frame = property(lambda self: self._get("first_frame"))
    last_frame = property(lambda self: self._get("last_frame"))
    hits = property(lambda self: self._get("hits"))
    last_pose = property(lambda self: self._get("last_pose"))
    area = property(lambda self: self._get("area"))
    score = property(lambda self: self._get("score"))

    def history(self) -> np.ndarray:
        """The last poses of this track (smoothed when the tracker smooths), oldest first.

        Returns
        -------
        ndarray, shape (n, K, C), float64
            At most the tracker's ``history`` poses.
        """
        return self._get("history")

    def __repr__(self) -> str:
        return (f"Track(id={self.id}, frames {self.first_frame}..{self.last_frame}, "
                f"hits={self.hits})")


def _example_match(nbytes):
    """A frame of people walking matched against the tracks of the previous frame."""
    n = count(nbytes, 2 * 17 * 2 * 8 + 24, 2)
    r = rng()
    start = r.uniform(0, 40 * math.sqrt(n) + 200, (n, 1, 2))
    body = r.uniform([-25, -50], [25, 50], (n, 17, 2))
    tracks = start + body
    poses = (tracks + r.normal(0, 2, tracks.shape))[r.permutation(n)]
    areas = np.full(n, 5000.0)
    var = _checks.oks_variances(COCO_SIGMAS)
    return [(poses, areas, tracks, areas.copy(), var, 0.3, np.empty(n, np.int64))]


_MATCH = register(Kernel(
    "track_match", reference=_ref.match, serial=_nb.match_serial, parallel=_nb.match_parallel,
    parallel_min_bytes=1 << 20,  # about 1900 poses and as many tracks of 17 (x, y)
    example=_example_match,
))

# per-track arrays of PoseTracker (row i: the i-th live track, oldest first)
_SCALARS = (("_id", np.int64), ("_first", np.int64), ("_last", np.int64), ("_hits", np.int64),
            ("_area", _F64), ("_score", _F64), ("_head", np.int64), ("_count", np.int64),
            ("_st", _F64), ("_shas", np.bool_))


class PoseTracker:
    """Track ids for the poses of a video, by greedy OKS matching frame to frame.

    Each :meth:`update` compares the frame's poses with the last pose of every live track by
    OKS (mmpose's ``oks_iou``: all keypoints, the mean of the two areas) and matches greedily,
    highest OKS first, pairs with OKS ``> oks_threshold`` (ties: lower pose index, then older
    track). Unmatched poses open new tracks with new ids (ids are never reused); a track not
    matched for more than ``max_age`` consecutive updates is dropped, so a person who is gone
    longer than that comes back under a new id.

    The state of all tracks is kept in arrays, one row per live track, and one compiled call
    (``track_match``) does the matching: it skips, without computing their OKS, the pairs whose
    keypoint boxes are too far apart for an OKS above the threshold, so that a frame of a crowd
    costs about as much per person as a frame of a few people.

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
        self.max_age = _checks.integer(max_age, "max_age", minimum=0)
        self.history = _checks.integer(history, "history", minimum=1)
        if isinstance(smoothing, dict):
            try:
                smoothing = OneEuroFilter(**smoothing)
            except TypeError as exc:
                raise TypeError(f"smoothing: expected OneEuroFilter parameters "
                                f"(min_cutoff, beta, d_cutoff), got {smoothing!r}") from exc
        elif not (smoothing is None or isinstance(smoothing, OneEuroFilter)):
            raise TypeError(f"smoothing: expected None, a OneEuroFilter or a dict of its "
                            f"parameters, got {type(smoothing).__name__}")
        self._smoothing = None if smoothing is None else dict(
            min_cutoff=smoothing.min_cutoff, beta=smoothing.beta, d_cutoff=smoothing.d_cutoff)
        self._default_sigmas = sigmas is None
        self._var = _checks.oks_variances(COCO_SIGMAS if sigmas is None else sigmas)
        self.reset()

    def reset(self) -> None:
        """Drop every track and start counting ids and frames from 0 again."""
        self._detach_all()
        self._n = 0  # live tracks: rows 0..n-1 of the state arrays, oldest (lowest id) first
        self._cap = 0
        for name, dt in _SCALARS:
            setattr(self, name, np.empty(0, dt))
        self._pose = self._hist = self._sx = self._sdx = None  # allocated with the shape
        self._views = weakref.WeakValueDictionary()  # Track objects handed out, by id
        self._next_id = 0
        self.frame = 0
        self._t = None
        self._shape = None  # (K, C) of the poses, fixed by the first non-empty update
        self.last_poses = np.empty((0, 0, 2))
        self.last_ids = np.empty(0, np.int64)

    @property
    def ids(self) -> np.ndarray:
        """Ids of the live tracks, oldest first (int64)."""
        return self._id[:self._n].copy()

    def track(self, track_id) -> Track:
        """The live track ``track_id``.

        Parameters
        ----------
        track_id : int
            An id returned by :meth:`update`.

        Returns
        -------
        Track

        Raises
        ------
        TypeError
            ``track_id`` is not an int (a float such as ``0.7`` is refused, not truncated).
        ValueError
            No live track has this id (never opened, or dropped).
        """
        tid = _checks.integer(track_id, "track_id")  # 0.7 is no id (int() would give 0)
        if self._row(tid) < 0:
            raise ValueError(f"track_id: expected the id of a live track "
                             f"(live: {self._id[:self._n].tolist()}), got {track_id!r}")
        view = self._views.get(tid)
        if view is None:
            view = self._views[tid] = Track(self, tid)
        return view

    # -- the state arrays -----------------------------------------------------------------------
    def _row(self, tid) -> int:
        """The row of live track ``tid``, or -1 (ids are increasing along the rows)."""
        n = self._n
        if not n or not (-(2**63) <= tid < 2**63):
            return -1
        r = int(np.searchsorted(self._id[:n], tid))
        return r if r < n and self._id[r] == tid else -1

    def _field(self, tid, name):
        r = self._row(tid)
        if name == "history":
            c, h = int(self._count[r]), self.history
            return self._hist[r, (int(self._head[r]) - c + np.arange(c)) % h]  # a copy
        if name == "last_pose":
            return self._pose[r].copy()
        array, kind = {"first_frame": (self._first, int), "last_frame": (self._last, int),
                       "hits": (self._hits, int), "area": (self._area, float),
                       "score": (self._score, float)}[name]
        return kind(array[r])

    def _detach(self, tids):
        """Freeze the Track objects handed out for ``tids`` (about to be dropped)."""
        for tid in tids:
            view = self._views.pop(tid, None)
            if view is not None:
                view._final = {name: self._field(tid, name) for name in (
                    "first_frame", "last_frame", "hits", "area", "score", "last_pose",
                    "history")}

    def _detach_all(self):
        if getattr(self, "_n", 0):
            self._detach(self._id[:self._n].tolist())

    def _grow(self, need):
        """Room for ``need`` live tracks (doubling)."""
        cap = max(need, 2 * self._cap, 16)
        n = self._n
        for name, dt in _SCALARS:
            new = np.zeros(cap, dt)
            new[:n] = getattr(self, name)[:n]
            setattr(self, name, new)
        k, c = self._shape
        for name, shape in (("_pose", (k, c)), ("_hist", (self.history, k, c)),
                            ("_sx", (k, 2)), ("_sdx", (k, 2))):
            new = np.zeros((cap, *shape))
            old = getattr(self, name)
            if old is not None:
                new[:n] = old[:n]
            setattr(self, name, new)
        self._cap = cap

    def _compact(self, keep):
        """Keep the rows where ``keep`` (bool, ``(n,)``) is True, in order."""
        n = self._n
        m = int(keep.sum())
        for name in [s for s, _ in _SCALARS] + ["_pose", "_hist", "_sx", "_sdx"]:
            a = getattr(self, name)
            a[:m] = a[:n][keep]
        self._n = m

    def _check(self, poses, scores, areas):
        poses = _checks.points(poses, "poses", "(P, K, 2 or 3)", 3, (2, 3))
        n, k = poses.shape[:2]
        if n and k != self._var.size:
            if self._default_sigmas:
                raise ValueError(f"sigmas: required for poses with {k} keypoints "
                                 f"(COCO_SIGMAS are for {self._var.size}), got None")
            raise ValueError(f"poses: expected {self._var.size} keypoints (as sigmas), "
                             f"got shape {poses.shape}")
        if self._shape is not None and n and poses.shape[1:] != self._shape:
            raise ValueError(f"poses: expected poses of shape {self._shape} as in the earlier "
                             f"updates (reset() to change it), got shape {poses.shape}")
        if not np.isfinite(poses).all():
            raise ValueError("poses: expected finite values, got "
                             f"{int((~np.isfinite(poses)).sum())} non-finite value(s)")
        s = _checks.per_item(scores, "scores", n, "pose", allow_inf=False) if n else np.empty(0)
        a = _checks.per_item(areas, "areas", n, "pose") if n else np.empty(0)
        # the tracks copy what they keep: the caller's arrays are only read
        return np.ascontiguousarray(poses), np.ascontiguousarray(s), np.ascontiguousarray(a)

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
        t = _next_time(t, self._t, "update")
        frame = self.frame
        p = poses.shape[0]
        n = self._n
        if p:
            if self._shape is None:
                self._shape = poses.shape[1:]
            owner = np.empty(p, np.int64)
            args = (poses, areas, self._pose[:n] if n else poses[:0], self._area[:n],
                    self._var, self.oks_threshold, owner)
            _MATCH(operand_bytes(args), *args)
            new = np.flatnonzero(owner < 0)
            if new.size:  # new tracks, in pose order: rows n.., ids next_id..
                if n + new.size > self._cap:
                    self._grow(n + new.size)
                rows = np.arange(n, n + new.size)
                owner[new] = rows
                self._id[rows] = np.arange(self._next_id, self._next_id + new.size)
                self._first[rows] = frame
                self._hits[rows] = 0
                self._head[rows] = 0
                self._count[rows] = 0
                self._shas[rows] = False
                self._next_id += new.size
                self._n = n = n + new.size
            shown = poses.copy() if self._smoothing is None else self._smooth(owner, poses, t)
            self._last[owner] = frame
            self._pose[owner] = poses
            self._area[owner] = areas
            self._score[owner] = scores
            self._hits[owner] += 1
            head = self._head[owner]
            self._hist[owner, head] = shown
            self._head[owner] = (head + 1) % self.history
            self._count[owner] = np.minimum(self._count[owner] + 1, self.history)
            ids = self._id[owner]
        else:
            shown = poses.copy()
            ids = np.empty(0, np.int64)
        if n:
            stale = frame - self._last[:n] > self.max_age
            if stale.any():
                if self._views:
                    self._detach(self._id[:n][stale].tolist())
                self._compact(~stale)
        self.frame = frame + 1
        self._t = t
        self.last_poses = shown
        self.last_ids = ids
        return ids

    def _smooth(self, owner, poses, t):
        """``poses`` with (x, y) run through each pose's track's 1-euro filter: one vectorised
        step for every track that has filtered before (state ``x_hat``, ``dx_hat`` and time in
        the tracker's arrays); a track's first pose passes unchanged."""
        out = poses.copy()
        xy = out[:, :, :2]  # filtered in place
        dx = np.zeros(xy.shape)
        had = self._shas[owner]
        if had.any():
            old = np.flatnonzero(had)
            sel = old if old.size < owner.size else slice(None)  # all old: views, no gathers
            rows = owner[old]
            te = t - self._st[rows]
            xy[sel], dx[sel] = _one_euro_step(xy[sel], self._sx[rows], self._sdx[rows],
                                              te[:, None, None], **self._smoothing)
        self._sx[owner] = xy
        self._sdx[owner] = dx
        self._st[owner] = t
        self._shas[owner] = True
        return out


# ---------------------------------------------------------------------------------------------
# smooth_tracks
# ---------------------------------------------------------------------------------------------
_METHODS = ("savgol", "gaussian")
MAX_WINDOW = 65535
MAX_ORDER = 32


def _example_smooth(nbytes):
    """Recorded tracks ``(T, 17, 3)``: with gaps (the per-keypoint path), and gap-free (x, y)
    with the Gaussian (the row path)."""
    t = count(nbytes, 2 * 17 * 3 * 8, 4)
    r = rng()
    walk = np.cumsum(r.normal(0, 2, (t, 17, 3)), axis=0) + r.uniform(0, 500, (17, 3))
    walk[..., 2] = r.uniform(0.1, 1.0, (t, 17))
    gappy = walk.copy()
    gappy[r.random((t, 17)) < 0.05, 2] = 0.0  # 5% missing points
    smooth = np.ascontiguousarray(walk[..., :2])
    return [(gappy, 0, 9, 2, 9, np.empty_like(gappy)),
            (smooth, 1, 9, 2, 9, np.empty_like(smooth))]


_SMOOTH = register(Kernel(
    "smooth_tracks", reference=_ref.smooth, serial=_nb.smooth_serial,
    parallel=_nb.smooth_parallel,
    parallel_min_bytes=1 << 19,  # 512 KiB of tracks in and out: (640, 17, 3) frames
    example=_example_smooth,
))


def smooth_tracks(keypoints, *, method="savgol", window=9, order=2, fill_gaps=True) -> np.ndarray:
    """Offline, zero-phase smoothing of recorded keypoint tracks, filling short gaps first.

    For video that is already recorded, where the causal :class:`OneEuroFilter` lags: each
    keypoint's (x, y) is filtered along time with a symmetric window, so nothing is delayed.
    A compiled kernel (registered as ``smooth_tracks``): a NumPy composition would need a
    Python loop over every gap and segment of every keypoint.

    - **Missing points**: a point is missing when its x or y is NaN or (with a score channel)
      its score is NaN or 0. Missing points are returned unchanged (still marked missing).
    - **Gaps** (``fill_gaps=True``): a gap of at most ``window`` missing frames with a present
      frame on both sides is filled first by linear interpolation between those two frames,
      score included; the filled points come back present, smoothed. Gaps at the start or the
      end of a track, and longer gaps, stay missing.
    - **Segments**: the runs of present frames of each keypoint are smoothed separately, so that
      no value is smeared across a gap that stays missing.
    - ``"savgol"``: equal to ``scipy.signal.savgol_filter(x, window, order, axis=0,
      mode="interp")`` on a segment of at least ``window`` frames (a gap-free track is one
      segment). A segment shorter than ``window`` (a whole track with ``T < window`` too) is
      replaced by one least-squares polynomial of degree ``min(order, n - 1)`` fitted to its
      ``n`` frames, which is SciPy's rule for the ends applied to the whole segment (SciPy
      refuses such input); ``n <= order + 1`` frames are returned unchanged.
    - ``"gaussian"``: a Gaussian of standard deviation ``window / 6`` truncated to the
      ``window`` frames around each frame, equal to ``scipy.ndimage.gaussian_filter1d(x,
      window / 6, axis=0, mode="nearest", radius=window // 2)`` on each segment (its end
      values repeat beyond its ends). ``order`` is not used.
    - The score channel is never smoothed (only filled points get an interpolated score).

    Parameters
    ----------
    keypoints : ndarray, shape (T, K, 2) or (T, K, 3)
        T frames of K keypoints, (x, y) or (x, y, score); float32, float64, int32 or int64.
        Infinite values are refused (NaN marks a missing point).
    method : {"savgol", "gaussian"}, default "savgol"
        The filter.
    window : int, default 9
        Frames of the filter's window: odd (a centred window is what makes it zero-phase),
        from 1 to 65535.
    order : int, default 2
        Degree of the Savitzky-Golay polynomial, ``< window`` and at most 32.
    fill_gaps : bool, default True
        Interpolate gaps of at most ``window`` frames before smoothing; with ``False`` every
        gap splits the track.

    Returns
    -------
    ndarray, shape (T, K, C)
        The smoothed tracks; float32 for float32 input, float64 otherwise.

    Raises
    ------
    TypeError
        ``keypoints`` is not a numeric array, or an option has the wrong type.
    ValueError
        Bad shape, infinite values, an unknown ``method``, an even or out-of-range ``window``,
        ``order >= window`` (Savitzky-Golay) or above 32.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(12.0)
    >>> track = np.stack([t, 2 * t + 1], axis=-1)[:, None, :]   # (T, K, 2): one keypoint
    >>> track[5] = np.nan                                  # one frame missing
    >>> smooth_tracks(track, window=5)[4:7, 0].round(6)    # filled, and a line stays a line
    array([[ 4.,  9.],
           [ 5., 11.],
           [ 6., 13.]])
    >>> smooth_tracks(track, window=5, fill_gaps=False)[5, 0]   # the gap stays missing
    array([nan, nan])
    """
    given = _checks.as_array(keypoints, "keypoints", _checks.COORDS, min_ndim=3, max_ndim=3,
                             ndim_text="(T, K, 2 or 3)")
    kp = _checks.points(given, "keypoints", "(T, K, 2 or 3)", 3, (2, 3))
    out_dtype = np.float32 if given.dtype == np.float32 else np.float64
    method = _checks.choice(method, "method", _METHODS)
    window = _checks.integer(window, "window", minimum=1, odd=True)
    if window > MAX_WINDOW:
        raise ValueError(f"window: expected an odd int from 1 to {MAX_WINDOW}, got {window}")
    order = _checks.integer(order, "order", minimum=0)
    if method == "savgol" and order >= window:
        raise ValueError(f"order: expected an int < window ({window}), got {order}")
    if order > MAX_ORDER:
        raise ValueError(f"order: expected an int <= {MAX_ORDER}, got {order}")
    if not isinstance(fill_gaps, (bool, np.bool_)):
        raise TypeError(f"fill_gaps: expected a bool, got {type(fill_gaps).__name__}")
    src = np.ascontiguousarray(kp)
    out = np.empty_like(src)
    args = (src, int(method == "gaussian"), window, order, window if fill_gaps else 0, out)
    infinite = _SMOOTH(operand_bytes(args), *args)  # the kernel checks, in its first pass
    if infinite:
        raise ValueError(f"keypoints: expected finite values or NaN (NaN marks a missing point), "
                         f"got {infinite} infinite value(s)")
    return out.astype(out_dtype, copy=False)
