"""Benchmarks of :mod:`wasmpose.pipeline`: ``PosePipeline.process`` per frame, with MediaPipe's
models and without them.

The video: 640 x 480 frames of a camera pan over scikit-image's astronaut (the frame a crop of
the photograph scaled to 640 x 480, moving right by 4 pixels a frame), as the MediaPipe figures
of issue 15 (19.6 ms a frame in tracking mode, 34.7 ms with detection on every frame); the
4-person frame is a 2 x 2 collage of the astronaut at 640 x 480.

``PipelineFrames``: one ``process`` call per sample with the real models (ai-edge-litert,
``threads`` interpreter threads): ``mode`` ``tracking`` (MediaPipe's video mode: the detector
runs once, then the regions come from the landmarks) or ``detect`` (detection on every frame,
``tracking=False``). ``PipelineCpu``: the same calls with the models replaced by replays of their
recorded outputs, so the time is wasmpose's own CPU work per frame (crops, decoding, NMS,
refinement, projection, tracking, smoothing): the issue's target is 1 ms + 0.2 ms per person.
``Models``: the two models alone, the landmark model at batch 1 and 4 (``resize_tensor_input``)
beside 4 calls at batch 1.

The models come from the ``mediapipe==0.10.21`` wheel (fetched once into ``$WASMPOSE_CACHE``);
without it or ai-edge-litert the suites are skipped (``NotImplementedError`` in ``setup``).
"""

from __future__ import annotations

import functools

import numpy as np

_W, _H = 640, 480


@functools.cache
def _astronaut():
    from skimage.data import astronaut

    return astronaut()


@functools.cache
def pan_frames(n=32):
    """``n`` 640 x 480 frames of a pan over the astronaut (read-only)."""
    from wasmpose.image import warp_affine

    img = _astronaut()
    frames = np.empty((n, _H, _W, 3), np.uint8)
    for i in range(n):
        # a 512 x 384 window sliding right over the photograph, scaled by 1.25
        m = np.array([[1.25, 0.0, -1.25 * (4 * i - 64)], [0.0, 1.25, 0.0]])
        warp_affine(img, m, (_W, _H), out=frames[i])
    frames.flags.writeable = False
    return frames


@functools.cache
def four_people():
    """A 640 x 480 frame of four astronauts, each the photograph scaled to 240 x 240, in a
    2 x 2 grid with 40 pixels of grey around (read-only)."""
    from wasmpose.image import warp_affine

    img = _astronaut()
    frame = np.full((_H, _W, 3), 128, np.uint8)
    s = 240 / 512
    for x0, y0 in ((40, 0), (360, 0), (40, 240), (360, 240)):
        m = np.array([[s, 0.0, 0.0], [0.0, s, 0.0]])
        frame[y0:y0 + 240, x0:x0 + 240] = warp_affine(img, m, (240, 240))
    frame.flags.writeable = False
    return frame


@functools.cache
def _models(threads):
    try:
        import ai_edge_litert.interpreter  # noqa: F401

        from wasmpose.pipeline import BlazePoseDetector, BlazePoseLandmarker

        return BlazePoseDetector(num_threads=threads), BlazePoseLandmarker(num_threads=threads)
    except Exception as exc:  # no runtime, no network: asv skips the suite
        raise NotImplementedError(f"MediaPipe's models are not available: {exc}") from None


class _Replay:
    """A model that returns outputs recorded from the real one, for any batch of the same N."""

    def __init__(self, model):
        self.model = model
        self.input_size, self.mean, self.std = model.input_size, model.mean, model.std
        self.scale, self.layout = model.scale, model.layout
        self.num_keypoints = getattr(model, "num_keypoints", None)
        self.anchors = getattr(model, "anchors", None)
        self.memo = {}

    def __call__(self, batch):
        n = batch.shape[0]
        if n not in self.memo:
            self.memo[n] = self.model(batch)
        out = self.memo[n]
        return {k: v.copy() for k, v in out.items()} if isinstance(out, dict) else \
            tuple(v.copy() for v in out)


def _pipeline(mode, detector, landmarker):
    from wasmpose.pipeline import PosePipeline

    return PosePipeline(detector, landmarker, tracking=mode == "tracking",
                        smoothing=mode == "tracking", tiles=(1,))


class PipelineFrames:
    """``PosePipeline.process`` on the next pan frame (1 person) or the 4-person frame."""

    params = [["tracking", "detect"], ["1", "4"], [1, 2]]
    param_names = ["mode", "people", "threads"]
    repeat = (5, 40, 10.0)
    warmup_time = 0.0
    timeout = 300

    def setup(self, mode, people, threads):
        det, lm = _models(threads)
        self.frames = pan_frames() if people == "1" else [four_people()] * 32
        self.pipe = _pipeline(mode, det, lm)
        if people == "4":
            self.pipe.tiles = (1, 2)  # the collage's people are small: tiles find them
        self.i = 0
        for _ in range(3):
            self._step()

    def _step(self):
        self.pipe.process(self.frames[self.i % len(self.frames)])
        self.i += 1

    def time_process(self, mode, people, threads):
        self._step()

    def track_wasmpose_ms(self, mode, people, threads):
        """wasmpose's own time per frame (everything but the two models), in ms, over the
        next 8 frames."""
        def own(st):
            return st["wasmpose_ms"] * st["frames"]

        before = own(self.pipe.stats())
        for _ in range(8):
            self._step()
        return (own(self.pipe.stats()) - before) / 8

    track_wasmpose_ms.unit = "ms"


class PipelineCpu:
    """``PosePipeline.process`` with replayed models: wasmpose's CPU time per frame."""

    params = [["tracking", "detect"], ["1", "4"]]
    param_names = ["mode", "people"]
    repeat = (10, 100, 5.0)
    warmup_time = 0.0
    timeout = 300

    def setup(self, mode, people):
        det, lm = _models(1)
        frame = pan_frames()[0] if people == "1" else four_people()
        self.frame = frame
        self.pipe = _pipeline(mode, _Replay(det), _Replay(lm))
        if people == "4":
            self.pipe.tiles = (1, 2)
        for _ in range(3):
            self.pipe.process(frame)

    def time_process(self, mode, people):
        self.pipe.process(self.frame)


class Models:
    """The models alone: the detector, and the landmark model on 1 and 4 crops."""

    params = [["detector", "landmarks_1", "landmarks_4_batched", "landmarks_4_calls"], [1, 2]]
    param_names = ["call", "threads"]
    repeat = (5, 30, 10.0)
    warmup_time = 0.0
    timeout = 300

    def setup(self, call, threads):
        det, lm = _models(threads)
        rng = np.random.default_rng(0)
        if call == "detector":
            x = rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
            self.fn = lambda: det(x)
        elif call == "landmarks_4_calls":
            x = rng.uniform(0, 1, (4, 256, 256, 3)).astype(np.float32)
            self.fn = lambda: [lm(x[i:i + 1]) for i in range(4)]
        else:
            n = 1 if call == "landmarks_1" else 4
            x = rng.uniform(0, 1, (n, 256, 256, 3)).astype(np.float32)
            self.fn = lambda: lm(x)
        self.fn()

    def time_call(self, call, threads):
        self.fn()


class OnnxModel:
    """``OnnxPoseModel`` on a small SimCC model built with ``onnx`` (no download): the cost of
    onnxruntime's call and ``decode_simcc`` around a trivial network, 4 crops of 256 x 192."""

    repeat = (10, 100, 5.0)
    timeout = 120

    def setup(self):
        import os
        import tempfile

        try:
            from onnx import TensorProto, helper, save
        except ImportError:
            raise NotImplementedError("onnx is not installed") from None
        from wasmpose.pipeline import OnnxPoseModel

        k = 17
        w = np.random.default_rng(0).normal(size=(k, 3)).astype(np.float32)
        g = helper.make_graph(
            [helper.make_node("Einsum", ["x", "w"], ["f"], equation="nchw,kc->nkhw"),
             helper.make_node("ReduceMax", ["f"], ["sx"], axes=[2], keepdims=0),
             helper.make_node("ReduceMax", ["f"], ["sy"], axes=[3], keepdims=0)],
            "simcc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 256, 192])],
            [helper.make_tensor_value_info("sx", TensorProto.FLOAT, ["N", k, 192]),
             helper.make_tensor_value_info("sy", TensorProto.FLOAT, ["N", k, 256])],
            [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel())])
        path = os.path.join(tempfile.mkdtemp(), "simcc.onnx")
        save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        self.model = OnnxPoseModel(path, codec="simcc", input_size=(192, 256), split_ratio=1.0,
                                   num_threads=1)
        self.x = np.random.default_rng(1).normal(size=(4, 3, 256, 192)).astype(np.float32)
        self.model(self.x)

    def time_call(self):
        self.model(self.x)
