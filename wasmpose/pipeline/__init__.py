"""A multi-person pose pipeline on video, built on wasmpose's kernels (work in progress: issue 15).

So far: the records it yields, :class:`Pose` and :class:`FrameResult`.
"""

from wasmpose.pipeline._types import FrameResult, Pose

__all__ = ["Pose", "FrameResult"]
