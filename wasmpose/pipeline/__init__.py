"""A multi-person pose pipeline on video, built on wasmpose's kernels (issue 15).

:class:`PosePipeline` runs MediaPipe's BlazePose graph (person detector, rotated regions,
landmark model, heatmap refinement, tracking, smoothing) for several people at once, on
:mod:`wasmpose.image`, :mod:`wasmpose.boxes`, :mod:`wasmpose.heatmap`,
:mod:`wasmpose.keypoints` and :mod:`wasmpose.tracking`. The models follow a small protocol
(``input_size``, ``__call__(batch) -> outputs``): :class:`BlazePoseDetector`,
:class:`BlazePoseLandmarker`, :class:`OnnxPoseModel`. It yields :class:`Pose` and
:class:`FrameResult` records. See ``docs/pipeline.md``.
"""

from wasmpose.pipeline._models import BlazePoseDetector, BlazePoseLandmarker, OnnxPoseModel
from wasmpose.pipeline._pipeline import PosePipeline
from wasmpose.pipeline._types import FrameResult, Pose

__all__ = ["PosePipeline", "Pose", "FrameResult", "BlazePoseDetector", "BlazePoseLandmarker",
           "OnnxPoseModel"]
