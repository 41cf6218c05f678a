"""The records the pipeline yields: one :class:`Pose` per person, one :class:`FrameResult` per
frame. Shape symbols: K keypoints (33 for BlazePose, 17 for COCO models), H x W the frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Pose", "FrameResult"]


@dataclass
class Pose:
    """One person found in a frame.

    Attributes
    ----------
    keypoints : ndarray, shape (K, 3), float32
        ``x, y`` in the frame's pixels (the centre of pixel ``(0, 0)`` is ``(0.5, 0.5)``, as
        MediaPipe's normalised coordinates times the frame size) and a score in [0, 1].
    box : ndarray, shape (4,), float32
        The person's box ``x1, y1, x2, y2`` in pixels.
    score : float
        The person's score in [0, 1] (the landmark model's presence score).
    track_id : int
        The track the pose belongs to over frames; -1 without tracking.

    Examples
    --------
    >>> import numpy as np
    >>> p = Pose(np.zeros((33, 3), np.float32), np.float32([10, 20, 110, 220]), 0.9)
    >>> p.keypoints.shape, p.track_id
    ((33, 3), -1)
    """

    keypoints: np.ndarray
    box: np.ndarray
    score: float
    track_id: int = -1


@dataclass
class FrameResult:
    """The poses of one frame of :meth:`PosePipeline.run`.

    Attributes
    ----------
    index : int
        The frame's position in the source, from 0.
    poses : list of Pose
        Every person found in the frame.
    frame : ndarray, shape (H, W, 3), uint8
        The RGB frame the poses were found in.

    Examples
    --------
    >>> import numpy as np
    >>> r = FrameResult(0, [], np.zeros((480, 640, 3), np.uint8))
    >>> r.index, len(r.poses), r.frame.shape
    (0, 0, (480, 640, 3))
    """

    index: int
    poses: list[Pose] = field(default_factory=list)
    frame: np.ndarray | None = None
