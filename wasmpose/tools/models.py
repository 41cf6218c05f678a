"""Files out of wheels on PyPI, and the BlazePose landmark model of ``python -m wasmpose demo``.

:func:`fetch_wheel_member` gives the path of one file (a model, a sample image) inside a pinned
wheel: the wheel is downloaded once with ``python -m pip download NAME==VERSION --no-deps
--only-binary=:all:`` into ``$WASMPOSE_CACHE/wheels`` (default ``~/.cache/wasmpose``), never
installed (mediapipe pins an old NumPy; ultralytics pulls in PyTorch), and the member is
extracted with :mod:`zipfile` into ``$WASMPOSE_CACHE/members/NAME-VERSION/MEMBER``, its sha256
checked when one is given. pip's own settings apply (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``,
``PIP_NO_INDEX``, a proxy), so an offline machine can point it at a directory of wheels.

The BlazePose part: MediaPipe's pose landmark model ("full" variant, the ``.tflite`` member of
the ``mediapipe==0.10.21`` wheel), cropping its input out of a photograph, running it with
``ai-edge-litert`` and reading its weights. ``tests/data/make_blazepose_fixture.py`` documents
the model's I/O.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wasmpose._fetch import (  # noqa: F401  (re-exported: the library's own fetching)
    DETECTOR_MEMBER,
    DETECTOR_SHA256,
    MEDIAPIPE,
    MODEL_MEMBER,
    MODEL_SHA256,
    FetchError,
    cache_dir,
    cached_member,
    fetch_wheel_member,
    file_sha256,
    load_interpreter,
)

__all__ = [
    # any file of a pinned wheel
    "FetchError", "cache_dir", "file_sha256", "fetch_wheel_member", "cached_member",
    # MediaPipe's models
    "MEDIAPIPE", "MODEL_MEMBER", "MODEL_SHA256", "DETECTOR_MEMBER", "DETECTOR_SHA256",
    "fetch_mediapipe", "fetch_model", "cached_model",
    # the BlazePose landmark model
    "INPUT_SIZE", "HEATMAP_STRIDE", "LANDMARKS", "LANDMARK_NAMES", "CONNECTIONS", "oks_sigmas",
    "load_interpreter", "check_io", "run", "crop_resize", "weight_tensors", "channel_axis",
]

INPUT_SIZE = 256
HEATMAP_STRIDE = 4  # heatmap cell (row, col) is the input pixel (4 * col, 4 * row)
LANDMARKS = 33  # heatmap channels 0..32; 33..38 are auxiliary points

LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)

# MediaPipe's POSE_CONNECTIONS (mediapipe/python/solutions/pose_connections.py)
CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
    (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20),
    (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)

# OKS sigmas for the 33 landmarks, mapped from COCO_SIGMAS: each landmark takes the sigma of its
# COCO keypoint, or of the COCO keypoint it sits next to on the same body part (eye corners ->
# eye, mouth corners -> nose, hand points -> wrist, heels and toes -> ankle).
_COCO_OF_LANDMARK = (0, 1, 1, 1, 2, 2, 2, 3, 4, 0, 0, 5, 6, 7, 8, 9, 10, 9, 10, 9, 10, 9, 10,
                     11, 12, 13, 14, 15, 16, 15, 16, 15, 16)


def oks_sigmas() -> np.ndarray:
    """OKS sigmas of the 33 BlazePose landmarks, ``COCO_SIGMAS`` mapped as described above."""
    from wasmpose.keypoints import COCO_SIGMAS

    return np.asarray(COCO_SIGMAS, np.float64)[list(_COCO_OF_LANDMARK)]


def fetch_mediapipe(member: str, *, sha256: str | None = None, cache: Path | None = None,
                    quiet: bool = False) -> Path:
    """Path of ``member`` of the ``mediapipe==0.10.21`` wheel (``MODEL_MEMBER``,
    ``DETECTOR_MEMBER``, ...): :func:`fetch_wheel_member` of :data:`MEDIAPIPE`."""
    return fetch_wheel_member(MEDIAPIPE, member, sha256=sha256, cache=cache, quiet=quiet)


def cached_model(cache: Path | None = None) -> Path | None:
    """The cached landmark model if it is there with the right sha256, else ``None``."""
    return cached_member(MEDIAPIPE, MODEL_MEMBER, sha256=MODEL_SHA256, cache=cache)


def fetch_model(cache: Path | None = None, *, quiet: bool = False) -> Path:
    """Path of the cached BlazePose "full" landmark model (``pose_landmark_full.tflite``),
    downloaded and checked once (:func:`fetch_wheel_member`; :class:`FetchError` if not)."""
    return fetch_mediapipe(MODEL_MEMBER, sha256=MODEL_SHA256, cache=cache, quiet=quiet)


_OUTPUTS = {
    "Identity": (1, 195),
    "Identity_1": (1, 1),
    "Identity_2": (1, 256, 256, 1),
    "Identity_3": (1, 64, 64, 39),
    "Identity_4": (1, 117),
}


def check_io(interpreter) -> dict[str, int]:
    """Output tensor indices by name, after checking the model's I/O is the BlazePose one.

    Raises
    ------
    ValueError
        The inputs or outputs are not those of the BlazePose "full" landmark model.
    """
    inputs = interpreter.get_input_details()
    got_in = [(d["name"], tuple(d["shape"]), np.dtype(d["dtype"]).name) for d in inputs]
    if got_in != [("input_1", (1, INPUT_SIZE, INPUT_SIZE, 3), "float32")]:
        raise ValueError(f"expected one float32 input 'input_1' of shape (1, 256, 256, 3), got "
                         f"{got_in}")
    outs = {d["name"]: d for d in interpreter.get_output_details()}
    got = {name: tuple(int(n) for n in d["shape"]) for name, d in outs.items()}
    if got != _OUTPUTS:
        raise ValueError(f"expected the outputs {_OUTPUTS}, got {got}")
    return {name: d["index"] for name, d in outs.items()}


def run(interpreter, outputs: dict[str, int], x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the model on ``x`` (1, 256, 256, 3) float32; copies of every output by name."""
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return {name: interpreter.get_tensor(index).copy() for name, index in outputs.items()}


def crop_resize(image: np.ndarray, x0: int, y0: int, size: int,
                out_size: int = INPUT_SIZE) -> np.ndarray:
    """The square box ``(x0, y0, size, size)`` of ``image`` (H, W, C), area-resampled to
    ``(out_size, out_size, C)`` float64 in the image's units; pixels outside it are zero, as
    MediaPipe pads its region-of-interest crops.

    When ``size`` is a multiple of ``out_size`` the result is the exact block mean (integer
    sums divided by the block's pixel count); otherwise each output pixel averages the source
    pixels it covers, weighted by the covered fraction (separable area resampling).
    """
    h, w, c = image.shape
    box = np.zeros((size, size, c), np.int64)
    ys, ye = max(y0, 0), min(y0 + size, h)
    xs, xe = max(x0, 0), min(x0 + size, w)
    if ys < ye and xs < xe:
        box[ys - y0: ye - y0, xs - x0: xe - x0] = image[ys:ye, xs:xe]
    if size % out_size == 0:
        f = size // out_size
        return box.reshape(out_size, f, out_size, f, c).sum(axis=(1, 3)) / (f * f)
    a = _area_weights(size, out_size)
    return np.einsum("ij,jkc,lk->ilc", a, box.astype(np.float64), a, optimize=True)


def _area_weights(size: int, out_size: int) -> np.ndarray:
    """(out_size, size) matrix: row i averages the source interval [i, i + 1) * size/out_size."""
    edges = np.arange(out_size + 1) * (size / out_size)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None)
    return overlap / (size / out_size)


def weight_tensors(interpreter) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The model's convolution kernels as float32 arrays, and what else was found.

    The model stores its weights as float16 constants (dequantized to float32 at load time);
    the kernels are the 4-D ones, (O, kh, kw, I) for convolutions and (1, kh, kw, C) for
    depthwise convolutions. Returns ``(kernels by name, counts)`` with counts of
    ``"kernels"``, ``"biases"`` (1-D float constants, not quantised: TFLite keeps biases in
    int32 at the product scale), ``"other_constants"`` and ``"unreadable"`` (tensors whose data
    the interpreter does not expose: the activations, allocated by the delegate).
    """
    io = {d["index"] for d in interpreter.get_input_details() + interpreter.get_output_details()}
    kernels: dict[str, np.ndarray] = {}
    counts = dict(kernels=0, biases=0, other_constants=0, unreadable=0)
    for d in interpreter.get_tensor_details():
        if d["index"] in io:
            continue
        try:
            a = interpreter.get_tensor(d["index"])
        except ValueError:
            counts["unreadable"] += 1
            continue
        if a.dtype.kind == "f" and a.ndim == 4 and a.size > 1:
            kernels[d["name"]] = np.ascontiguousarray(a, np.float32)
            counts["kernels"] += 1
        elif a.dtype.kind == "f" and a.ndim == 1:
            counts["biases"] += 1
        else:
            counts["other_constants"] += 1
    return kernels, counts


def channel_axis(shape: tuple) -> int:
    """The per-channel axis TFLite quantises a kernel along: 0 (output channels) for
    convolutions, 3 for depthwise kernels (1, kh, kw, C)."""
    return 3 if len(shape) == 4 and shape[0] == 1 else 0
