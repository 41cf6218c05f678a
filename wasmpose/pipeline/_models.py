"""The models the pipeline runs: MediaPipe's BlazePose detector and landmark model (ai-edge-litert)
and a user's top-down ONNX model (onnxruntime).

The protocol is small: a model has ``input_size`` ``(w, h)``, the normalisation the pipeline
applies to its crops (``mean``, ``std``, ``scale``: ``(x * scale - mean) / std`` per channel, as
:func:`wasmpose.image.crop_to_tensor`; ``layout`` ``"nhwc"`` or ``"nchw"``) and
``__call__(batch) -> outputs``. A detector returns ``(raw_boxes, raw_scores)`` as an SSD emits
them (decoded with :func:`wasmpose.boxes.decode_ssd`); a landmark model returns a dict with
``"landmarks"`` ``(N, K, C)`` (x, y in the input's pixels, then a score in [0, 1]) and
``"presence"`` ``(N,)``, and may add ``"heatmaps"`` (for
:func:`wasmpose.heatmap.refine_landmarks`) and ``"auxiliary"`` ``(N, 2, 2)`` (the two points
from which MediaPipe's tracking computes the next frame's region). Shape symbols: N crops, A
anchors, K keypoints.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wasmpose import _checks, _fetch

__all__ = ["BlazePoseDetector", "BlazePoseLandmarker", "OnnxPoseModel", "BLAZEPOSE_SIGMAS",
           "LANDMARK_NAMES"]

# the landmark models of the mediapipe==0.10.21 wheel; only "full" has a pinned sha256
_VARIANTS = {
    "full": (_fetch.MODEL_MEMBER, _fetch.MODEL_SHA256),
    "lite": (_fetch.LITE_MODEL_MEMBER, None),
    "heavy": (_fetch.HEAVY_MODEL_MEMBER, None),
}

LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)

# OKS sigmas of the 33 landmarks: each takes the COCO sigma of its COCO keypoint, or of the one
# it sits next to on the same body part (eye corners -> eye, mouth corners -> nose, hand points
# -> wrist, heels and toes -> ankle)
_COCO_OF_LANDMARK = (0, 1, 1, 1, 2, 2, 2, 3, 4, 0, 0, 5, 6, 7, 8, 9, 10, 9, 10, 9, 10, 9, 10,
                     11, 12, 13, 14, 15, 16, 15, 16, 15, 16)
BLAZEPOSE_SIGMAS = np.array([(.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                              .87, .87, .89, .89)[i] / 10 for i in _COCO_OF_LANDMARK])


def _threads(num_threads):
    if num_threads is None:
        from wasmpose.parallel import optimal_thread_count

        return optimal_thread_count()
    return _checks.integer(num_threads, "num_threads", minimum=1)


def _model_path(model_path, member, sha256, what):
    if model_path is not None:
        path = Path(os.fspath(model_path))
        if not path.is_file():
            raise ValueError(f"model_path: expected the path of {what}, got {model_path!r}, "
                             f"which is not a file")
        return path
    return _fetch.fetch_wheel_member(_fetch.MEDIAPIPE, member, sha256=sha256, quiet=True)


def _batch(batch, size, name="batch"):
    x = _checks.as_array(batch, name, (np.dtype(np.float32),), min_ndim=4, max_ndim=4,
                         ndim_text=f"(N, {size[1]}, {size[0]}, 3)")
    if x.shape[1:] != (size[1], size[0], 3):
        raise ValueError(f"{name}: expected shape (N, {size[1]}, {size[0]}, 3), got {x.shape}")
    return np.ascontiguousarray(x)


class _Litert:
    """One ai-edge-litert interpreter per batch size (``resize_tensor_input``), made on first
    use: all the people of a frame go through the model in one call."""

    def __init__(self, path, threads):
        self.path, self.threads = path, threads
        self._by_n = {}
        it = self._get(1)[0]
        self.input_shape = tuple(int(n) for n in it.get_input_details()[0]["shape"])
        self.outputs = {d["name"]: tuple(int(n) for n in d["shape"])
                        for d in it.get_output_details()}

    def _get(self, n):
        entry = self._by_n.get(n)
        if entry is None:
            it = _fetch.load_interpreter(self.path, self.threads)
            index = it.get_input_details()[0]["index"]
            if n != 1:
                it.resize_tensor_input(index, (n, *it.get_input_details()[0]["shape"][1:]))
                it.allocate_tensors()
            outs = {d["name"]: d["index"] for d in it.get_output_details()}
            entry = self._by_n[n] = (it, index, outs)
        return entry

    def __call__(self, x):
        it, index, outs = self._get(x.shape[0])
        it.set_tensor(index, x)
        it.invoke()
        return {name: it.get_tensor(i).copy() for name, i in outs.items()}


_LAYER_ANCHORS = (1568, 392, 294)


def _per_image(raw, n):
    c = raw.shape[-1]
    flat = raw.reshape(-1, c)
    parts, start = [], 0
    for a in _LAYER_ANCHORS:
        parts.append(flat[start:start + n * a].reshape(n, a, c))
        start += n * a
    return np.concatenate(parts, axis=1)


class BlazePoseDetector:
    """MediaPipe's BlazePose person detector (``pose_detection.tflite``), run with ai-edge-litert.

    The model of MediaPipe's ``pose_detection_cpu.pbtxt``: a 224 x 224 RGB input, the frame
    letterboxed into it (``keep_aspect_ratio``, zero border) with values in [-1, 1]
    (``output_tensor_float_range {min: -1 max: 1}``: ``x / 127.5 - 1``); its outputs are the
    regressors ``(N, 2254, 12)`` (box ``x, y, w, h`` then 4 keypoints, in input pixels relative
    to the anchors) and the logits ``(N, 2254, 1)``, which
    :func:`wasmpose.boxes.decode_ssd` decodes with the graph's ``SsdAnchorsCalculator`` anchors
    (:attr:`anchors`). The detection's box is the face; keypoint 0 is the mid-hip, keypoint 1 a
    point whose distance to it is half the body's size.

    Parameters
    ----------
    model_path : path, optional
        A local ``pose_detection.tflite``; by default the ``mediapipe==0.10.21`` wheel's
        (downloaded once with ``pip download --no-deps`` into ``$WASMPOSE_CACHE``, sha256
        checked; mediapipe is never installed).
    num_threads : int, optional
        The interpreter's threads (default: the usable cores).

    Attributes
    ----------
    input_size : (int, int)
        ``(224, 224)``, ``(w, h)``.
    mean, std, scale : float
        127.5, 127.5, 1.0: the input is ``(x - 127.5) / 127.5``.
    layout : str
        ``"nhwc"``.
    anchors : ndarray, shape (2254, 4), float32
        :func:`wasmpose.boxes.ssd_anchors` with the graph's options.

    Raises
    ------
    ImportError
        ai-edge-litert is not installed (the ``demo`` extra).

    Examples
    --------
    >>> import numpy as np
    >>> det = BlazePoseDetector()                       # doctest: +SKIP
    >>> raw_boxes, raw_scores = det(np.zeros((1, 224, 224, 3), np.float32))  # doctest: +SKIP
    >>> raw_boxes.shape, raw_scores.shape               # doctest: +SKIP
    ((1, 2254, 12), (1, 2254, 1))
    """

    input_size = (224, 224)
    mean, std, scale, layout = 127.5, 127.5, 1.0, "nhwc"
    num_keypoints = 4

    def __init__(self, model_path=None, *, num_threads=None):
        from wasmpose.boxes import ssd_anchors

        threads = _threads(num_threads)
        path = _model_path(model_path, _fetch.DETECTOR_MEMBER,
                           _fetch.DETECTOR_SHA256 if model_path is None else None,
                           "pose_detection.tflite")
        self._model = _Litert(path, threads)
        outs = sorted(self._model.outputs.values())
        if self._model.input_shape != (1, 224, 224, 3) or outs != [(1, 2254, 1), (1, 2254, 12)]:
            raise ValueError(f"model_path: expected MediaPipe's pose detector (input (1, 224, "
                             f"224, 3), outputs (1, 2254, 12) and (1, 2254, 1)), got input "
                             f"{self._model.input_shape} and outputs {outs}")
        self.anchors = ssd_anchors()
        self.num_threads = threads

    def __repr__(self):
        return f"BlazePoseDetector({os.fspath(self._model.path)!r}, num_threads={self.num_threads})"

    def __call__(self, batch):
        """Run the detector on ``batch`` ``(N, 224, 224, 3)`` float32 in [-1, 1].

        Returns
        -------
        raw_boxes : ndarray, shape (N, 2254, 12), float32
        raw_scores : ndarray, shape (N, 2254, 1), float32
        """
        x = _batch(batch, self.input_size)
        out = self._model(x)
        by_shape = {v.shape[-1]: v for v in out.values()}
        n = x.shape[0]
        if n == 1:
            return by_shape[12], by_shape[1]
        # resized to N, the model's per-layer reshapes give (1, N * 2254, C) ordered layer by
        # layer (strides 8, 16, 32: 28 x 28 x 2, 14 x 14 x 2, 7 x 7 x 6 anchors), each layer
        # image by image: back to (N, 2254, C)
        return _per_image(by_shape[12], n), _per_image(by_shape[1], n)


class BlazePoseLandmarker:
    """MediaPipe's BlazePose landmark model, run with ai-edge-litert on a batch of crops.

    The model of ``pose_landmark_by_roi_cpu.pbtxt``: a 256 x 256 RGB crop of the person's
    region (rotated square) with values in [0, 1] (``output_tensor_float_range {min: 0 max:
    1}``: ``x / 255``). Its outputs, as ``tensors_to_pose_landmarks_and_segmentation.pbtxt``
    reads them: ``Identity`` ``(1, 195)`` = 39 landmarks x (x, y, z, visibility, presence), x
    and y in input pixels, visibility and presence logits (``SIGMOID`` activations);
    ``Identity_1`` the pose presence (a probability; the graph's ``ThresholdingCalculator``
    compares it with 0.5, the pipeline's ``min_presence``); ``Identity_3`` ``(1, 64, 64, 39)``
    the heatmap logits that ``RefineLandmarksFromHeatmapCalculator`` (kernel 7) refines x and y
    with; landmarks 33 and 34 are the auxiliary points (mid-hip and a point at half the body's
    size) that give the next frame's region. The segmentation (``Identity_2``) and world
    landmarks (``Identity_4``) are not used.

    Every call takes the whole batch at once: the interpreter is resized to N
    (``resize_tensor_input``; one interpreter per batch size, made on first use).

    Parameters
    ----------
    variant : {"full", "lite", "heavy"}, default "full"
        The model of the ``mediapipe==0.10.21`` wheel (``pose_landmark_<variant>.tflite``;
        the sha256 of "full" is pinned).
    model_path : path, optional
        A local ``.tflite`` file instead of the wheel's.
    num_threads : int, optional
        The interpreter's threads (default: the usable cores).

    Attributes
    ----------
    input_size : (int, int)
        ``(256, 256)``.
    mean, std, scale : float
        0.0, 1.0, 1/255.
    layout : str
        ``"nhwc"``.

    Raises
    ------
    ImportError
        ai-edge-litert is not installed (the ``demo`` extra).

    Examples
    --------
    >>> import numpy as np
    >>> lm = BlazePoseLandmarker()                      # doctest: +SKIP
    >>> out = lm(np.zeros((2, 256, 256, 3), np.float32))  # doctest: +SKIP
    >>> out["landmarks"].shape, out["presence"].shape, out["heatmaps"].shape  # doctest: +SKIP
    ((2, 33, 5), (2,), (2, 64, 64, 39))
    """

    input_size = (256, 256)
    mean, std, scale, layout = 0.0, 1.0, 1 / 255, "nhwc"
    num_keypoints = 33

    def __init__(self, variant="full", model_path=None, *, num_threads=None):
        self.variant = _checks.choice(variant, "variant", tuple(_VARIANTS))
        member, sha = _VARIANTS[self.variant]
        threads = _threads(num_threads)
        path = _model_path(model_path, member, sha if model_path is None else None,
                           f"pose_landmark_{self.variant}.tflite")
        self._model = _Litert(path, threads)
        want = {"Identity": (1, 195), "Identity_1": (1, 1), "Identity_3": (1, 64, 64, 39)}
        got = self._model.outputs
        if self._model.input_shape != (1, 256, 256, 3) or any(got.get(k) != v
                                                               for k, v in want.items()):
            raise ValueError(f"model_path: expected a BlazePose landmark model (input (1, 256, "
                             f"256, 3), outputs {want}), got input {self._model.input_shape} "
                             f"and outputs {got}")
        self.num_threads = threads

    def __repr__(self):
        return (f"BlazePoseLandmarker({self.variant!r}, {os.fspath(self._model.path)!r}, "
                f"num_threads={self.num_threads})")

    def __call__(self, batch):
        """Run the model on ``batch`` ``(N, 256, 256, 3)`` float32 in [0, 1].

        Returns
        -------
        dict
            ``"landmarks"`` ``(N, 33, 5)`` float32: x, y (input pixels), z, visibility and
            presence (sigmoid applied); ``"auxiliary"`` ``(N, 2, 5)`` (landmarks 33 and 34, the
            same fields); ``"presence"`` ``(N,)``; ``"heatmaps"`` ``(N, 64, 64, 39)`` logits.
        """
        x = _batch(batch, self.input_size)
        n = x.shape[0]
        if n == 0:
            return {"landmarks": np.zeros((0, 33, 5), np.float32),
                    "auxiliary": np.zeros((0, 2, 5), np.float32),
                    "presence": np.zeros(0, np.float32),
                    "heatmaps": np.zeros((0, 64, 64, 39), np.float32)}
        out = self._model(x)
        raw = out["Identity"].reshape(n, 39, 5)
        with np.errstate(over="ignore"):
            raw[:, :, 3:] = 1.0 / (1.0 + np.exp(-raw[:, :, 3:]))  # MediaPipe's SIGMOID
        return {"landmarks": raw[:, :33], "auxiliary": raw[:, 33:35],
                "presence": out["Identity_1"].reshape(n), "heatmaps": out["Identity_3"],
                "all_landmarks": raw}


class OnnxPoseModel:
    """A top-down pose model of the user's in ONNX (RTMPose and the like), run with onnxruntime.

    The model takes a batch of person crops ``(N, 3, h, w)`` (``layout="nchw"``) or
    ``(N, h, w, 3)`` normalised as ``(x * scale - mean) / std`` (ImageNet's mean and std by
    default, as RTMPose and mmpose models expect) and emits either SimCC vectors (``codec=
    "simcc"``: two outputs ``(N, K, Wx)``, ``(N, K, Wy)``, decoded with
    :func:`wasmpose.heatmap.decode_simcc` at ``split_ratio``) or heatmaps (``codec="heatmap"``:
    one output ``(N, K, H, W)``, decoded with :func:`wasmpose.heatmap.decode_heatmaps` and
    scaled from heatmap cells to input pixels). In the pipeline its regions are axis-aligned
    squares around the keypoints (the BlazePose rules need its auxiliary points).

    Parameters
    ----------
    path : path
        The ``.onnx`` file.
    codec : {"simcc", "heatmap"}
        How to read the outputs.
    input_size : (int, int)
        ``(w, h)`` of the model's input, e.g. ``(192, 256)`` for RTMPose.
    split_ratio : float, default 2.0
        SimCC bins per input pixel.
    mean, std : sequence of 3 floats, optional
        Default ImageNet's (``wasmpose.image.IMAGENET_MEAN``/``IMAGENET_STD``) with
        ``scale=1/255``.
    scale : float, default 1/255
    layout : {"nchw", "nhwc"}, default "nchw"
    num_threads : int, optional
        onnxruntime's intra-op threads (default: the usable cores).

    Raises
    ------
    ImportError
        onnxruntime is not installed.

    Examples
    --------
    >>> import numpy as np, onnx
    >>> from onnx import helper, TensorProto
    >>> # a toy "SimCC model": mean over channels, then two linear read-outs per axis
    >>> g = helper.make_graph(
    ...     [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),  # (N, 8, 8)
    ...      helper.make_node("ReduceMean", ["m"], ["sx"], axes=[1], keepdims=1),  # (N, 1, 8)
    ...      helper.make_node("ReduceMean", ["m"], ["sy0"], axes=[2], keepdims=1),  # (N, 8, 1)
    ...      helper.make_node("Transpose", ["sy0"], ["sy"], perm=[0, 2, 1])],
    ...     "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
    ...     [helper.make_tensor_value_info("sx", TensorProto.FLOAT, ["N", 1, 8]),
    ...      helper.make_tensor_value_info("sy", TensorProto.FLOAT, ["N", 1, 8])])
    >>> m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.onnx"); onnx.save(m, path)
    >>> model = OnnxPoseModel(path, codec="simcc", input_size=(8, 8), split_ratio=1.0,
    ...                       mean=0, std=1, scale=1)
    >>> x = np.zeros((1, 3, 8, 8), np.float32); x[0, :, 5, 2] = 9.0   # a bright pixel
    >>> model(x)["landmarks"].round(2)       # x, y in input pixels, score: the peak 9 / 8
    array([[[2.  , 5.  , 1.12]]], dtype=float32)
    """

    def __init__(self, path, *, codec, input_size, split_ratio=2.0, mean=None, std=None,
                 scale=1 / 255, layout="nchw", num_threads=None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError("OnnxPoseModel runs the model with onnxruntime, which is not "
                              "installed: pip install onnxruntime") from exc
        from wasmpose.image import IMAGENET_MEAN, IMAGENET_STD

        self.codec = _checks.choice(codec, "codec", ("simcc", "heatmap"))
        if (not isinstance(input_size, (tuple, list)) or len(input_size) != 2):
            raise TypeError(f"input_size: expected (w, h), got {input_size!r}")
        self.input_size = tuple(_checks.integer(v, "input_size", minimum=1) for v in input_size)
        self.split_ratio = _checks.real_scalar(split_ratio, "split_ratio", allow_inf=False)
        if not self.split_ratio > 0:
            raise ValueError(f"split_ratio: expected a positive number, got {split_ratio!r}")
        self.mean = IMAGENET_MEAN if mean is None else mean
        self.std = IMAGENET_STD if std is None else std
        self.scale = scale
        self.layout = _checks.choice(layout, "layout", ("nchw", "nhwc"))
        p = Path(os.fspath(path))
        if not p.is_file():
            raise ValueError(f"path: expected an .onnx file, got {path!r}, which is not a file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads(num_threads)
        self._session = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        n_out = len(self._session.get_outputs())
        if n_out != (2 if self.codec == "simcc" else 1) and self.codec == "simcc" or n_out < 1:
            raise ValueError(f"path: expected a model with two outputs (simcc_x, simcc_y) for "
                             f"codec='simcc', got {n_out}")
        self.path = p

    def __repr__(self):
        return (f"OnnxPoseModel({os.fspath(self.path)!r}, codec={self.codec!r}, "
                f"input_size={self.input_size})")

    def __call__(self, batch):
        """Run the model on ``batch`` ``(N, 3, h, w)`` (or ``(N, h, w, 3)``) float32.

        Returns
        -------
        dict
            ``"landmarks"`` ``(N, K, 3)`` float32: x, y in input pixels and the score;
            ``"presence"`` ``(N,)``: the mean keypoint score.
        """
        from wasmpose.heatmap import decode_heatmaps, decode_simcc

        w, h = self.input_size
        shape = (3, h, w) if self.layout == "nchw" else (h, w, 3)
        x = _checks.as_array(batch, "batch", (np.dtype(np.float32),), min_ndim=4, max_ndim=4,
                             ndim_text=f"(N, {', '.join(map(str, shape))})")
        if x.shape[1:] != shape:
            raise ValueError(f"batch: expected shape (N, {', '.join(map(str, shape))}), got "
                             f"{x.shape}")
        outs = self._session.run(None, {self._input: np.ascontiguousarray(x)})
        if self.codec == "simcc":
            coords, scores = decode_simcc(np.asarray(outs[0], np.float32),
                                          np.asarray(outs[1], np.float32),
                                          split_ratio=self.split_ratio)
        else:
            hm = np.asarray(outs[0], np.float32)
            coords, scores = decode_heatmaps(hm)
            coords = coords * np.float32([w / hm.shape[-1], h / hm.shape[-2]])
        lm = np.concatenate([coords, scores[..., None]], -1).astype(np.float32)
        return {"landmarks": lm, "presence": scores.mean(-1).astype(np.float32)}
