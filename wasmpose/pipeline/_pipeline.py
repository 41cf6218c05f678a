"""``PosePipeline``: MediaPipe's BlazePose graph for several people, on wasmpose's kernels.

Shape symbols: N people (regions) in a frame, K keypoints (33), H x W the frame, T detector
tiles.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np

from wasmpose import _checks
from wasmpose.boxes import box_iou, decode_ssd, letterbox_matrix, nms, weighted_nms
from wasmpose.heatmap import refine_landmarks
from wasmpose.image import crop_to_tensor
from wasmpose.keypoints import oks_nms, transform_points
from wasmpose.pipeline._models import BLAZEPOSE_SIGMAS, BlazePoseDetector, BlazePoseLandmarker
from wasmpose.pipeline._regions import (
    crop_matrices,
    region_boxes,
    regions_from_points,
    tile_matrices,
    tiles,
)
from wasmpose.pipeline._types import FrameResult, Pose
from wasmpose.tracking import OneEuroFilter, PoseTracker

__all__ = ["PosePipeline"]

_U8 = np.dtype(np.uint8)
_DETECTOR_NMS = 0.3  # NonMaxSuppressionCalculator min_suppression_threshold (WEIGHTED)
_REGION_NMS = 0.5  # two candidate regions overlapping more than this are one person
_POSE_NMS = 0.5  # OKS above which two poses of a frame are the same person
_STABLE_IOU = 0.6  # a new person's region and the one its landmarks give must overlap this much
_CANDIDATES = 3  # new regions tried per person wanted (max_people), best detections first
# pose_landmark_filtering.pbtxt: LandmarksSmoothingCalculator one_euro_filter options
_LANDMARK_FILTER = dict(min_cutoff=0.05, beta=80.0, d_cutoff=1.0)
_AUX_FILTER = dict(min_cutoff=0.01, beta=10.0, d_cutoff=1.0)
_VISIBILITY_ALPHA = 0.1  # VisibilitySmoothingCalculator low_pass_filter alpha
_DEFAULT_FPS = 30.0  # MediaPipe's Python solutions step their timestamps by 1/30 s
_STAGES = ("detect_crop", "detector", "detect_decode", "landmark_crop", "landmarker",
           "landmark_decode", "track", "smooth")


class _Track:
    """What the pipeline keeps for one person between frames."""

    __slots__ = ("region", "filter", "aux_filter", "visibility", "scale")

    def __init__(self):
        self.region = None
        self.filter = OneEuroFilter(**_LANDMARK_FILTER)
        self.aux_filter = OneEuroFilter(**_AUX_FILTER)
        self.visibility = None
        self.scale = None


class PosePipeline:
    """Every person's BlazePose skeleton in a video, tracked and smoothed: MediaPipe's pose graph
    rebuilt on wasmpose's kernels for several people at once.

    Per frame (MediaPipe's graph files named in brackets):

    1. **Detection** (``pose_detection_cpu.pbtxt``), on the first frame, when a person was lost
       on the previous frame, every ``detect_every`` frames, or on every frame without
       ``tracking``: the frame letterboxed to 224 x 224 in [-1, 1] (``crop_to_tensor`` with
       ``letterbox_matrix``); with ``tiles`` also overlapping square tiles at several scales,
       all in one batched detector call; ``decode_ssd`` (score ``>= min_detection_score``) and
       ``weighted_nms`` at 0.3 per tile, then mapped to the frame (``transform_points``) and
       merged across tiles with ``weighted_nms``.
    2. **Regions** (``pose_detection_to_roi.pbtxt``): centre keypoint 0, side ``2 * |k1 - k0|
       * 1.25``, rotation ``pi/2 - atan2(-(y1 - y0), x1 - x0)``. Candidate regions that overlap
       a tracked person's or a better candidate's (IoU of their boxes ``> 0.5``, ``nms``) are
       dropped; at most ``max_people`` regions are kept, tracked ones first.
    3. **Landmarks** (``pose_landmark_by_roi_cpu.pbtxt``): the N rotated 256 x 256 crops in [0,
       1] by one ``crop_to_tensor`` call, then the landmark model once on the whole batch;
       ``refine_landmarks`` on the heatmaps (kernel 7, ``RefineLandmarksFromHeatmapCalculator``);
       landmarks back to the frame with the inverse crop matrices (``transform_points``, the
       ``LandmarkProjectionCalculator``). A person whose presence is ``< min_presence``
       (``ThresholdingCalculator``) is lost. Poses of the same person (OKS ``> 0.5`` with a
       better one, ``oks_nms``) are dropped.
    4. **Tracking**: ``PoseTracker`` gives ids (greedy OKS matching with the 33 landmarks' OKS
       sigmas); **smoothing** (``pose_landmark_filtering.pbtxt``): per track, a
       ``OneEuroFilter`` on the landmarks (``min_cutoff`` 0.05, ``beta`` 80, ``d_cutoff`` 1) and
       on the auxiliary landmarks (0.01, 10, 1), with MediaPipe's value scaling (the speed in
       object sizes per second: ``beta`` divided by the region's side before the 1.25 scale),
       visibility low-passed with alpha 0.1. Timestamps: the source's frames per second, else
       30 (as MediaPipe's Python solutions).
    5. **Next regions** (``pose_landmarks_to_roi.pbtxt``): from the (smoothed) auxiliary
       landmarks 33 and 34 by the rule of step 2.

    Parameters
    ----------
    detector : model, optional
        Default :class:`BlazePoseDetector` (fetched once from the ``mediapipe==0.10.21`` wheel).
    landmarker : model, optional
        Default :class:`BlazePoseLandmarker` ("full"). Another model (:class:`OnnxPoseModel`)
        gets axis-aligned square regions around its keypoints instead of step 5's rule, and no
        heatmap refinement.
    max_people : int >= 1, default 5
        People followed at once.
    min_detection_score : float in [0, 1], default 0.5
        MediaPipe's ``min_detection_confidence``.
    min_presence : float in [0, 1], default 0.5
        MediaPipe's ``min_tracking_confidence``: the pose presence under which a person is lost.
    detect_every : int >= 1, optional
        Run the detector every this many frames even when everyone is tracked (to find people
        who enter); by default only when someone is lost or nobody is tracked (MediaPipe's
        rule).
    tracking : bool, default True
        Carry regions from frame to frame and give track ids; without, the detector runs on
        every frame and ``track_id`` is -1.
    smoothing : bool, default True
        MediaPipe's landmark smoothing (needs ``tracking``).
    tiles : sequence of float, default (1, 2)
        Detector scales: 1 is the whole frame; ``s > 1`` adds overlapping square tiles of side
        ``max(H, W) / s`` (see ``docs/pipeline.md``: the BlazePose detector misses small
        people on a whole frame). ``(1,)`` is MediaPipe's single whole-frame detection.
    tile_score : float in [0, 1], default 0.3
        With tiles, the detection score kept (on the tiles and the whole frame; the lower of
        it and ``min_detection_score``): detections are then only candidates, which the
        landmark model's presence, a second landmark pass and the duplicate checks confirm or
        reject. Without tiles (``tiles=(1,)``), ``min_detection_score`` as MediaPipe.
    border : {"replicate", "zero"}, default "replicate"
        The landmark crop's border outside the frame. MediaPipe replicates the edge pixels
        (``ImageToTensorCalculator``'s default, ``BORDER_REPLICATE``), and so does
        ``"replicate"`` (its landmarks are within 1.1% of MediaPipe's on every oracle frame);
        ``"zero"`` pads with black, whose guesses for the parts of a person outside the frame
        differ (up to 3.1% on the pan frames). Either way one fused ``crop_to_tensor`` call
        crops everyone.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.data import astronaut                   # doctest: +SKIP
    >>> pipe = PosePipeline()                                # doctest: +SKIP
    >>> [pose] = pipe.process(astronaut())                   # doctest: +SKIP
    >>> pose.keypoints.shape, pose.track_id                  # doctest: +SKIP
    ((33, 3), 0)
    >>> frames = [astronaut()] * 3                           # doctest: +SKIP
    >>> [len(r.poses) for r in pipe.run(frames)]             # doctest: +SKIP
    [1, 1, 1]
    """

    def __init__(self, detector=None, landmarker=None, *, max_people=5, min_detection_score=0.5,
                 min_presence=0.5, detect_every=None, tracking=True, smoothing=True,
                 tiles=(1, 2), tile_score=0.3, border="replicate"):
        self.max_people = _checks.integer(max_people, "max_people", minimum=1)
        self.min_detection_score = _unit(min_detection_score, "min_detection_score")
        self.min_presence = _unit(min_presence, "min_presence")
        self.detect_every = (None if detect_every is None
                             else _checks.integer(detect_every, "detect_every", minimum=1))
        self.tracking = _flag(tracking, "tracking")
        self.smoothing = _flag(smoothing, "smoothing")
        self.tiles = _scales(tiles)
        self.tile_score = _unit(tile_score, "tile_score")
        self.border = _checks.choice(border, "border", ("replicate", "zero"))
        for model, name in ((detector, "detector"), (landmarker, "landmarker")):
            if model is not None and not (callable(model) and hasattr(model, "input_size")):
                raise TypeError(f"{name}: expected a model (a callable with input_size), got "
                                f"{type(model).__name__}")
        self.detector = BlazePoseDetector() if detector is None else detector
        self.landmarker = BlazePoseLandmarker() if landmarker is None else landmarker
        self._anchors = getattr(self.detector, "anchors", None)
        if self._anchors is None:
            from wasmpose.boxes import ssd_anchors

            self._anchors = ssd_anchors()
        self.reset()

    def __repr__(self):
        return (f"PosePipeline({self.detector!r}, {self.landmarker!r}, max_people="
                f"{self.max_people}, tracking={self.tracking}, smoothing={self.smoothing})")

    def reset(self):
        """Forget every person and the statistics: the next frame starts afresh."""
        self._tracker = None  # made on the first poses, with the OKS sigmas of their K
        self._tracks = {}  # track id -> _Track
        self._frame = 0
        self._detect_next = True
        self._times = {s: [0, 0.0] for s in _STAGES}
        self._people = 0
        self._detections = 0
        self._fps = None

    # -----------------------------------------------------------------------------------------
    def stats(self):
        """Time per stage since the last :meth:`reset`.

        Returns
        -------
        dict
            ``{stage: {"calls": int, "total_ms": float, "mean_ms": float}}`` for the stages
            ``detect_crop``, ``detector``, ``detect_decode``, ``landmark_crop``,
            ``landmarker``, ``landmark_decode``, ``track``, ``smooth``; plus ``"frames"``
            (frames processed), ``"people"`` (poses returned in all), ``"detections"`` (frames
            the detector ran on), ``"models_ms"`` and ``"wasmpose_ms"`` (the mean time per
            frame in the two models, and in everything else).

        Examples
        --------
        Two stand-in models (the protocol: ``input_size``, the input's normalisation and
        ``__call__``): a detector that finds nobody, a landmark model that is never called.

        >>> import numpy as np
        >>> class NoOne:
        ...     input_size, mean, std, scale, layout = (224, 224), 127.5, 127.5, 1.0, "nhwc"
        ...     def __call__(self, batch):
        ...         n = len(batch)
        ...         return (np.zeros((n, 2254, 12), np.float32),
        ...                 np.full((n, 2254, 1), -9.0, np.float32))
        >>> class Unused:
        ...     input_size, mean, std, scale, layout = (256, 256), 0.0, 1.0, 1 / 255, "nhwc"
        ...     def __call__(self, batch):
        ...         n = len(batch)
        ...         return {"landmarks": np.zeros((n, 33, 3), np.float32),
        ...                 "presence": np.zeros(n, np.float32)}
        >>> pipe = PosePipeline(NoOne(), Unused())
        >>> pipe.process(np.zeros((48, 64, 3), np.uint8))
        []
        >>> s = pipe.stats()
        >>> s["frames"], s["detections"], s["detector"]["calls"]
        (1, 1, 1)
        """
        out = {s: {"calls": c, "total_ms": t * 1e3, "mean_ms": t * 1e3 / c if c else 0.0}
               for s, (c, t) in self._times.items()}
        frames = self._frame
        models = sum(self._times[s][1] for s in ("detector", "landmarker"))
        total = sum(t for _, t in self._times.values())
        out.update(frames=frames, people=self._people, detections=self._detections,
                   models_ms=models * 1e3 / frames if frames else 0.0,
                   wasmpose_ms=(total - models) * 1e3 / frames if frames else 0.0)
        return out

    def _timed(self, stage, t0):
        t1 = time.perf_counter()
        rec = self._times[stage]
        rec[0] += 1
        rec[1] += t1 - t0
        return t1

    # -----------------------------------------------------------------------------------------
    def process(self, frame, *, timestamp=None):
        """The poses of one frame (the next of a video when ``tracking``).

        Parameters
        ----------
        frame : ndarray, shape (H, W, 3), uint8
            An RGB frame.
        timestamp : float, optional
            Its time in seconds (for smoothing); by default the previous one plus one frame at
            the source's frame rate (30 per second unless :meth:`run` knows it).

        Returns
        -------
        list of Pose
            One per person, best presence first; ``keypoints`` ``(33, 3)`` (x, y in frame
            pixels, visibility).

        Raises
        ------
        TypeError, ValueError
            ``frame`` is not an ``(H, W, 3)`` uint8 array.
        """
        img = _checks.as_array(frame, "frame", (_U8,), min_ndim=3, max_ndim=3,
                               ndim_text="(H, W, 3)")
        if img.shape[2] != 3 or img.size == 0:
            raise ValueError(f"frame: expected a non-empty RGB image (H, W, 3), got shape "
                             f"{img.shape}")
        index = self._frame
        if timestamp is None:
            timestamp = index / (self._fps or _DEFAULT_FPS)
        self._frame += 1
        tracked_ids = [tid for tid, tr in self._tracks.items() if tr.region is not None]
        regions = [self._tracks[tid].region for tid in tracked_ids]
        detect = (not self.tracking or self._detect_next or not regions
                  or (self.detect_every is not None and index % self.detect_every == 0))
        self._detect_next = False
        n_tracked = len(regions)
        sure = np.ones(n_tracked, bool)
        if detect:
            found = self._detect(img)
            if len(found[1]):
                new, new_sure = self._new_regions(found, np.asarray(regions).reshape(-1, 4))
                cap = _CANDIDATES * self.max_people
                regions = regions + list(new[:cap])
                sure = np.concatenate([sure, new_sure[:cap]])
        regions = np.asarray(regions, np.float64).reshape(-1, 4)
        poses, aux, presence = self._landmarks(img, regions)
        if aux is not None and not sure.all():
            # a candidate's region comes from a tile's detection or a weak one (often of a
            # part of a person): run the model again on the region its landmarks give, as the
            # next frame would, so that duplicates converge on one region and partial views
            # are judged on a whole-person crop
            again = np.flatnonzero(~sure & (presence >= self.min_presence))
            if len(again):
                r2 = regions_from_points(aux[again, 0], aux[again, 1])
                p2, a2, s2 = self._landmarks(img, r2)
                # a person's landmarks give back (about) the region they were found in; a
                # partial view or a pattern that the model took for a person drifts away
                r3 = regions_from_points(a2[:, 0], a2[:, 1])
                iou = np.diag(box_iou(region_boxes(r2), region_boxes(r3))) if len(r2) else []
                # and a candidate of the tiles stands within 90 degrees of upright (the model
                # also "finds" upside-down people in parts of a person)
                ok = (np.asarray(iou) > _STABLE_IOU) & (np.abs(r3[:, 3]) <= np.pi / 2)
                s2 = np.where(ok, s2, np.float32(0))
                poses[again], aux[again], presence[again] = p2, a2, s2
        rows = np.flatnonzero(presence >= self.min_presence)
        poses = self._finish(poses[rows], rows, None if aux is None else aux[rows],
                             presence[rows], n_tracked, timestamp)
        self._people += len(poses)
        return poses

    # -----------------------------------------------------------------------------------------
    def _detect(self, img):
        """Candidate regions ``(n, 4)`` from the detector on the whole frame and its tiles,
        with their scores ``(n,)``, best first."""
        self._detections += 1
        t0 = time.perf_counter()
        h, w = img.shape[:2]
        size = tuple(self.detector.input_size)
        t = tiles(w, h, self.tiles)
        fwd, inv = tile_matrices(t, size, letterbox_matrix)
        x = crop_to_tensor(img, fwd, size, mean=self.detector.mean, std=self.detector.std,
                           scale=self.detector.scale, layout=self.detector.layout)
        t0 = self._timed("detect_crop", t0)
        raw_boxes, raw_scores = self.detector(x)
        t0 = self._timed("detector", t0)
        decoded = decode_ssd(raw_boxes, raw_scores, self._anchors, scale=tuple(map(float, size)),
                             num_keypoints=getattr(self.detector, "num_keypoints", 4),
                             min_score=(self.min_detection_score if len(t) == 1
                                        else min(self.min_detection_score, self.tile_score)))
        pts, scores, sure = [], [], []
        for i, (b, s, k) in enumerate(decoded):
            # MediaPipe's own detections: the whole frame at min_detection_score, merged by
            # weighted NMS among themselves; the weaker ones of the whole frame and those of
            # the tiles are candidates
            whole = t[i, 0] <= 0 and t[i, 1] <= 0 and t[i, 2] >= w and t[i, 3] >= h
            strong = s >= self.min_detection_score if whole else np.zeros(len(s), bool)
            for part in (strong, ~strong):
                if not part.any():
                    continue
                bp, sp, kp = weighted_nms(b[part], s[part], _DETECTOR_NMS, keypoints=k[part])
                p = np.concatenate([bp.reshape(-1, 2, 2), kp], axis=1) * np.float32(size[0])
                pts.append(transform_points(p, inv[i]))
                scores.append(sp)
                sure.append(np.full(len(sp), part is strong))
        if not pts:
            self._timed("detect_decode", t0)
            return np.zeros((0, 4)), np.zeros(0, np.float32), np.zeros(0, bool)
        pts, scores, sure = np.concatenate(pts), np.concatenate(scores), np.concatenate(sure)
        if len(t) > 1:
            # the same person seen in several tiles: one detection, MediaPipe's own first
            keep = nms(pts[:, :2].reshape(-1, 4).astype(np.float32), scores + sure,
                       _DETECTOR_NMS)
            pts, scores, sure = pts[keep], scores[keep], sure[keep]
        regions = regions_from_points(pts[:, 2], pts[:, 3])
        self._timed("detect_decode", t0)
        return regions, scores, sure

    def _new_regions(self, found, tracked):
        """The detected regions that are nobody tracked, one per person, best first (the sure
        ones, MediaPipe's own detections, before the candidates of the tiles)."""
        regions, scores, sure = found
        boxes = region_boxes(regions).astype(np.float32)
        keep = nms(boxes, scores + sure, _REGION_NMS)
        regions, boxes, sure = regions[keep], boxes[keep], sure[keep]
        if len(tracked) and len(regions):
            iou = box_iou(boxes, region_boxes(tracked).astype(np.float32))
            free = (iou <= _REGION_NMS).all(axis=1)
            regions, sure = regions[free], sure[free]
        return regions, sure

    def _landmarks(self, img, regions):
        """For each region: its pose ``(R, K, C)`` in frame pixels (x, y, then the model's
        other fields), its auxiliary points ``(R, 2, 2)`` (None for models without them) and
        its presence ``(R,)``."""
        t0 = time.perf_counter()
        lm_model = self.landmarker
        size = tuple(lm_model.input_size)
        fwd, inv = crop_matrices(regions, size[0]) if size[0] == size[1] else _bad_size(size)
        x = crop_to_tensor(img, fwd, size, mean=lm_model.mean, std=lm_model.std,
                           scale=lm_model.scale, layout=lm_model.layout,
                           border="replicate" if self.border == "replicate" else "constant")
        t0 = self._timed("landmark_crop", t0)
        out = lm_model(x)
        t0 = self._timed("landmarker", t0)
        presence = np.asarray(out["presence"], np.float32).reshape(-1)
        k = out["landmarks"].shape[1]
        lm = out.get("all_landmarks", out["landmarks"])
        heat = out.get("heatmaps")
        if heat is not None and len(regions):
            # RefineLandmarksFromHeatmapCalculator works on normalised landmarks
            norm = lm.copy()
            norm[..., :2] /= np.float32(size[0])
            lm = refine_landmarks(norm, heat, kernel_size=7)
            lm[..., :2] *= np.float32(size[0])
        pts = transform_points(lm, inv) if len(regions) else lm
        aux = pts[:, k:k + 2, :2] if pts.shape[1] >= k + 2 else None
        self._timed("landmark_decode", t0)
        return pts[:, :k], aux, presence

    def _finish(self, poses, rows, aux, presence, n_tracked, timestamp):
        """Duplicates dropped, ids, smoothing, the next frame's regions; the Pose records."""
        t0 = time.perf_counter()
        if (rows < n_tracked).sum() < n_tracked or len(rows) == 0:
            self._detect_next = True  # someone was lost: MediaPipe detects on the next frame
        k = getattr(self.landmarker, "num_keypoints", None) or poses.shape[1] or 33
        if len(rows) > 1:
            keep = self._distinct(poses, presence)
            poses, rows, presence = poses[keep], rows[keep], presence[keep]
            aux = aux[keep] if aux is not None else None
        if len(rows) > self.max_people:  # the tracked first, then the best new
            poses, rows, presence = (poses[:self.max_people], rows[:self.max_people],
                                     presence[:self.max_people])
            aux = aux[:self.max_people] if aux is not None else None
        xy = poses[..., :2] if len(rows) else np.zeros((0, k, 2))
        boxes = (np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
                 if len(rows) else np.zeros((0, 4)))
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        if not self.tracking:
            self._timed("track", t0)
            return [Pose(_keypoints(p), b.astype(np.float32), float(s))
                    for p, b, s in zip(poses, boxes, presence, strict=True)]
        if self._tracker is None:
            self._tracker = PoseTracker(sigmas=_sigmas(xy.shape[1]))
        ids = self._tracker.update(xy, presence, areas, t=timestamp)
        t0 = self._timed("track", t0)
        live = {tid: self._tracks[tid] for tid in self._tracker.ids.tolist()
                if tid in self._tracks}
        for tr in live.values():
            tr.region = None  # unmatched this frame: carried no further
        out = []
        if aux is not None:
            # the object scale of MediaPipe's smoothing: the region's side before the 1.25
            # scale (OBJECT_SCALE_ROI: AlignmentPointsRectsCalculator on the auxiliary points)
            d = aux[:, 1] - aux[:, 0]
            scales = (2.0 * np.hypot(d[:, 0], d[:, 1])).tolist()
            aux = aux.copy()
        smooth = self.smoothing
        trs = []
        for j, tid in enumerate(ids.tolist()):
            tr = live.get(tid) or _Track()
            live[tid] = tr
            trs.append(tr)
            pose = poses[j]
            if aux is not None and scales[j] > 0:
                if smooth:
                    tr.filter.beta = _LANDMARK_FILTER["beta"] / scales[j]
                    pose = pose.copy()
                    pose[:, :2] = tr.filter.filter(pose[:, :2], timestamp)
                    vis = pose[:, 3]
                    if tr.visibility is not None:
                        vis = _VISIBILITY_ALPHA * vis + (1 - _VISIBILITY_ALPHA) * tr.visibility
                    tr.visibility = pose[:, 3] = vis
                # MediaPipe smooths the auxiliary points whatever the option
                tr.aux_filter.beta = _AUX_FILTER["beta"] / scales[j]
                aux[j] = tr.aux_filter.filter(aux[j], timestamp)
            elif aux is None:
                tr.region = _square_region(pose[:, :2], pose[:, 2])
            out.append(Pose(_keypoints(pose), boxes[j].astype(np.float32), float(presence[j]),
                            int(tid)))
        if aux is not None and len(trs):
            for tr, region in zip(trs, regions_from_points(aux[:, 0], aux[:, 1]), strict=True):
                tr.region = region
        self._tracks = live
        self._timed("smooth", t0)
        return out

    def _distinct(self, poses, presence):
        """Rows of the poses kept, one per person, in their order (the tracked, then the
        detections by rank). A pose is dropped when an earlier one is the same person: by
        OKS ``> 0.5`` over the upper body (the points that a crop of a person cut by the
        frame's edge still sees), with the area of the whole pose's box as OKS's scale; or,
        for BlazePose, when its face (the mean of landmarks 0 to 10) lies inside the box of
        an earlier pose's head and shoulders (landmarks 0 to 12)."""
        k = poses.shape[1]
        upper = slice(0, 15 if k == 33 else (7 if k == 17 else k))
        span = poses[:, :, :2].max(axis=1) - poses[:, :, :2].min(axis=1)
        areas = np.maximum(span[:, 0] * span[:, 1], 1.0)
        rank = np.arange(len(poses), 0, -1, dtype=np.float64)  # earlier rows first
        keep = np.sort(oks_nms(poses[:, upper, :2], rank, areas, threshold=_POSE_NMS,
                               sigmas=_sigmas(k)[upper]))
        if k != 33 or len(keep) < 2:
            return keep
        face = poses[keep, :11, :2].mean(axis=1)
        head = poses[keep, :13, :2]
        lo, hi = head.min(axis=1), head.max(axis=1)
        inside = ((face[:, None] >= lo[None]) & (face[:, None] <= hi[None])).all(axis=-1)
        out = []
        for i in range(len(keep)):
            if not any(inside[i, j] for j in out):
                out.append(i)
        return keep[out]

    # -----------------------------------------------------------------------------------------
    def run(self, source, *, progress=False) -> Iterator[FrameResult]:
        """The poses of every frame of ``source``, in order.

        Parameters
        ----------
        source : path, int or iterable of ndarray
            A video file, a camera index, an image file, a folder of images (read by
            ``wasmpose.pipeline._io.open_source``), or an iterable of RGB uint8 ``(H, W, 3)``
            frames. Frames are read (and decoded) in a thread of their own while the models
            run (``wasmpose.parallel.Pipeline``).
        progress : bool, default False
            Show a progress bar (frames, frames per second, people).

        Yields
        ------
        FrameResult
            ``index``, ``poses`` and the ``frame``.

        Examples
        --------
        >>> import numpy as np
        >>> pipe = PosePipeline()                                       # doctest: +SKIP
        >>> frames = np.zeros((2, 480, 640, 3), np.uint8)               # doctest: +SKIP
        >>> [(r.index, len(r.poses)) for r in pipe.run(frames)]         # doctest: +SKIP
        [(0, 0), (1, 0)]
        """
        from wasmpose.parallel import Pipeline
        from wasmpose.parallel._threads import progress_bar

        frames, fps, count, close = _open(source)
        self._fps = fps
        bar = progress_bar(progress, count, "frames", "frame")
        stage = Pipeline(_check_frame, queue_size=2)
        try:
            for index, img in enumerate(stage.run(frames)):
                poses = self.process(img)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(people=len(poses), refresh=False)
                yield FrameResult(index, poses, img)
        finally:
            if bar is not None:
                bar.close()
            close()


def _check_frame(frame):
    img = _checks.as_array(frame, "source", (_U8,), min_ndim=3, max_ndim=3,
                           ndim_text="frames (H, W, 3)")
    if img.shape[2] != 3:
        raise ValueError(f"source: expected RGB frames (H, W, 3), got shape {img.shape}")
    return img


def _open(source):
    """``(frames, fps, count, close)`` for any source ``run`` takes."""
    if isinstance(source, np.ndarray) and source.ndim == 3:
        source = [source]
    if isinstance(source, (str, bytes, int)) or hasattr(source, "__fspath__"):
        try:
            from wasmpose.pipeline._io import open_source
        except ImportError:
            raise TypeError(f"source: reading files and cameras needs wasmpose.pipeline._io "
                            f"(not in this build); pass an iterable of frames, got "
                            f"{source!r}") from None
        src = open_source(source)
        frames = src.__enter__()
        return frames, getattr(src, "fps", None), getattr(src, "count", None), \
            lambda: src.__exit__(None, None, None)
    if not isinstance(source, Iterable):
        raise TypeError(f"source: expected a path, a camera index or an iterable of frames, "
                        f"got {type(source).__name__}")
    count = len(source) if hasattr(source, "__len__") else None
    return source, None, count, lambda: None


def _keypoints(pose):
    """``(K, 3)`` float32: x, y and the visibility (BlazePose's field 3) or the score."""
    score = pose[:, 3] if pose.shape[1] >= 5 else pose[:, 2]
    return np.concatenate([pose[:, :2], score[:, None]], axis=1).astype(np.float32)


def _sigmas(k):
    if k == 33:
        return BLAZEPOSE_SIGMAS
    from wasmpose.keypoints import COCO_SIGMAS

    return COCO_SIGMAS if k == 17 else np.full(k, 0.05)


def _square_region(xy, score, min_score=0.3):
    """An axis-aligned square region around the keypoints (models without auxiliary points)."""
    good = xy[score >= min_score] if (score >= min_score).sum() >= 2 else xy
    lo, hi = good.min(axis=0), good.max(axis=0)
    c = (lo + hi) / 2
    return np.array([c[0], c[1], max(hi - lo) * 1.25, 0.0])


def _bad_size(size):
    raise ValueError(f"landmarker: expected a square input_size, got {size}")


def _unit(x, name):
    v = _checks.real_scalar(x, name)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1], got {x!r}")
    return v


def _flag(x, name):
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(x).__name__}")
    return bool(x)


def _scales(x):
    try:
        vals = tuple(x)
    except TypeError:
        raise TypeError(f"tiles: expected a sequence of scales (numbers >= 1), got "
                        f"{type(x).__name__}") from None
    out = tuple(_checks.real_scalar(v, "tiles", allow_inf=False) for v in vals)
    if not out or any(v < 1 for v in out):
        raise ValueError(f"tiles: expected one or more scales >= 1, got {x!r}")
    return out
