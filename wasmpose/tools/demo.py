"""``python -m wasmpose demo``: a real pose pipeline, end to end, timed stage by stage.

The video: scikit-image's astronaut photograph seen through a simulated camera that pans from
left to right and zooms in a little (a square crop box sliding over the photograph, zeros
outside it, area-resampled to 256 x 256 in NumPy), ``frames`` frames long.

Per frame:

1. ``to_tensor(frame, mean=0, std=1, layout="nhwc", out=...)`` into a buffer borrowed from
   ``memory.default_pool()``: the model's input, RGB in [0, 1];
2. the BlazePose "full" landmark model (MediaPipe, run with ``ai-edge-litert``), whose
   stride-4 heatmap logits ``(64, 64, 39)`` become heatmaps ``(39, 64, 64)`` (sigmoid, NumPy);
3. ``decode_heatmaps(refine="dark")`` and ``find_peaks`` on the 33 landmark channels; the
   keypoints are ``4 x`` the heatmap coordinates in frame pixels;
4. ``keypoints.oks`` between this frame's pose and the previous one, and
   ``tracking.PoseTracker.update`` with OKS sigmas for the 33 BlazePose landmarks (COCO's,
   mapped: see ``wasmpose.tools.models.oks_sigmas``) and the area of the keypoints' box.

Each wasmpose stage is timed as the pipeline calls it (the current opt level), then again at
``OptLevel.SIMD`` (one thread) and ``OptLevel.NONE`` (the NumPy reference), and its peer where
that is installed (OpenCV ``blobFromImage``, PyTorch ``max_pool2d``, pycocotools
``computeOks``); the table shows the median over the frames after each stage's first call.
Finally the model's own convolution kernels are quantised per channel to int8 and int4 with
``wasmpose.quant`` (SQNR, and the time of ``quantize`` against its NumPy reference and
``torch.quantize_per_channel``).

``synthetic=True`` replaces the model by generated heatmaps (Gaussian blobs on the landmarks of
a BlazePose pose that follows the camera, over noise) and its weights by generated kernels:
everything else runs unchanged, with no model and no network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

from wasmpose import cpu, memory
from wasmpose.tools import models
from wasmpose.tools.peers import peer
from wasmpose.tools.timing import fmt_ms, gc_paused, load_average, measure, ratio, versions

__all__ = ["main", "run", "DEFAULT_FRAMES", "DemoUnavailable"]

DEFAULT_FRAMES = 48
_SIZE = models.INPUT_SIZE
_STRIDE = models.HEATMAP_STRIDE
_K = models.LANDMARKS
_CHANNELS = 39
_HM = _SIZE // _STRIDE
_INSTALL = 'pip install "wasmpose[demo]"'
_SEED_WEIGHTS = 20240910  # generated weights of the synthetic run: never change
_PEAK_THRESHOLD = 0.5  # find_peaks on sigmoid heatmaps
_PEAK_TOP_K = 4
_WELL_SEEN = 0.9  # regressed visibility and presence (sigmoid) of a "well-seen" landmark
_WELL_PEAK = 0.85  # heatmap maximum of a "well-seen" landmark (as tests/heatmap/test_blazepose)

# The 33 landmarks of the astronaut as the model finds them on the fixture's crop (box x0, y0 =
# -194, 0, size 768, i.e. 3 astronaut pixels per input pixel; tests/data/blazepose_astronaut.npz),
# rounded, in input pixels. The synthetic run's pose.
_FIXTURE_BOX = (-194, 0, 768)
_FIXTURE_POSE = np.array([
    [142, 40], [147, 34], [150, 34], [154, 35], [137, 32], [133, 31], [130, 31], [157, 40],
    [122, 34], [146, 50], [133, 47], [160, 69], [106, 62], [163, 100], [93, 88], [158, 113],
    [95, 107], [158, 119], [93, 115], [156, 115], [98, 112], [153, 114], [100, 110], [145, 119],
    [115, 118], [156, 111], [103, 112], [145, 145], [108, 149], [139, 153], [112, 157],
    [150, 157], [108, 164]], np.float64)


class DemoUnavailable(RuntimeError):
    """The demo cannot run here (a missing package, no network, a bad ``--model``); the message
    says what to do. ``python -m wasmpose demo`` prints it and exits with code 2."""


# ---------------------------------------------------------------------------------------------
# The video
# ---------------------------------------------------------------------------------------------
def _camera(n: int) -> list[tuple[int, int, int]]:
    """Crop boxes (x0, y0, size) in astronaut pixels: a pan of 192 pixels from left to right
    (eased in and out) while the box shrinks from 768 to 672 pixels (zoom in), its top edge on
    the photograph's top edge and its centre starting 96 pixels left of the person's.

    The whole movement takes ``DEFAULT_FRAMES`` frames or ``n``, whichever is more: shorter
    videos show its beginning, so the camera never moves faster than in the default video."""
    boxes = []
    for i in range(n):
        t = 0.5 - 0.5 * np.cos(np.pi * i / max(n - 1, DEFAULT_FRAMES - 1))
        size = int(round(768 - 96 * t))
        boxes.append((int(round(190 - size / 2 - 96 + 192 * t)), 0, size))
    return boxes


def _photograph(synthetic: bool) -> tuple[np.ndarray, str]:
    try:
        from skimage.data import astronaut
    except ImportError:
        if not synthetic:
            raise DemoUnavailable(
                f"the demo's video is made from scikit-image's sample photographs, and "
                f"scikit-image is not installed: {_INSTALL} (or pip install scikit-image)."
            ) from None
        yy, xx = np.mgrid[0:512, 0:512]
        base = ((np.sin(xx / 37.0) + np.cos(yy / 23.0)) * 60 + 128).astype(np.uint8)
        return (np.stack([base, base[::-1], base // 2 + 64], -1),
                "a generated 512x512 picture (scikit-image is not installed)")
    return astronaut(), "scikit-image's astronaut (512x512)"


def _video(n: int, synthetic: bool):
    """``n`` frames (n, 256, 256, 3) uint8, their crop boxes, and what the photograph is."""
    image, what = _photograph(synthetic)
    boxes = _camera(n)
    frames = np.empty((n, _SIZE, _SIZE, 3), np.uint8)
    for frame, (x0, y0, size) in zip(frames, boxes, strict=True):
        np.rint(models.crop_resize(image, x0, y0, size, _SIZE), out=frame, casting="unsafe")
    return frames, boxes, what


# ---------------------------------------------------------------------------------------------
# Where the heatmaps come from: the model, or generated
# ---------------------------------------------------------------------------------------------
class _ModelSource:
    synthetic = False

    def __init__(self, model: str | None):
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            raise DemoUnavailable(
                f"the BlazePose model runs with ai-edge-litert, which is not installed: "
                f"{_INSTALL} (or pip install ai-edge-litert). `python -m wasmpose demo "
                f"--synthetic` runs the same pipeline on generated heatmaps without it."
            ) from None
        if model is None:
            if models.cached_model() is None:
                print(f"fetching the BlazePose model once: {models.MODEL_MEMBER} out of the "
                      f"{models.MEDIAPIPE} wheel (36 MB on Linux x86-64, pip download --no-deps "
                      f"into {models.cache_dir() / 'wheels'} unless it is there already; "
                      f"mediapipe is not installed)", file=sys.stderr, flush=True)
            try:
                path = models.fetch_model()
            except (models.FetchError, OSError) as exc:
                raise DemoUnavailable(
                    f"could not fetch the BlazePose model ({models.MODEL_MEMBER} from the "
                    f"{models.MEDIAPIPE} wheel on PyPI, downloaded once into "
                    f"{models.cache_dir()}; mediapipe itself is not installed): {exc}. "
                    f"Offline, pass a copy of pose_landmark_full.tflite with --model PATH, "
                    f"or run `python -m wasmpose demo --synthetic` (no model)."
                ) from None
        else:
            path = Path(model)
            if not path.is_file():
                raise DemoUnavailable(f"--model: expected the path of pose_landmark_full.tflite, "
                                      f"got {model!r}, which is not a file")
        from wasmpose.parallel import optimal_thread_count

        self.path = path
        self.threads = optimal_thread_count()
        try:
            self.interpreter = models.load_interpreter(path, self.threads)
        except (ValueError, RuntimeError) as exc:
            raise DemoUnavailable(f"--model: {os.fspath(path)!r} is not a TFLite model that "
                                  f"ai-edge-litert can load ({exc})") from None
        try:
            self.outputs = models.check_io(self.interpreter)
        except ValueError as exc:
            raise DemoUnavailable(f"--model: {os.fspath(path)!r} is not MediaPipe's "
                                  f"pose_landmark_full.tflite: {exc}") from None
        self.sha256 = models.file_sha256(path)
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.name = f"BlazePose full ({path.name}, ai-edge-litert, {self.threads} threads)"

    def infer(self, x: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Heatmap logits (1, 64, 64, 39) (the interpreter's buffer) and landmarks (39, 5)."""
        it = self.interpreter
        it.set_tensor(self.input_index, x)
        it.invoke()
        return (it.get_tensor(self.outputs["Identity_3"]),
                it.get_tensor(self.outputs["Identity"]).reshape(_CHANNELS, 5))

    def weights(self):
        kernels, counts = models.weight_tensors(self.interpreter)
        note = (f"the model's {counts['kernels']} convolution kernels (float16 in the file); "
                f"{counts['biases']} biases left in float (TFLite keeps them in int32), "
                f"{counts['unreadable']} tensors not readable through the interpreter (the "
                f"activations)")
        return kernels, counts, note

    def describe(self) -> dict:
        return {"path": os.fspath(self.path), "sha256": self.sha256,
                "expected_sha256": models.MODEL_SHA256, "threads": self.threads}


class _SyntheticSource:
    """Generated heatmap logits: a Gaussian blob (sigma 2 cells, peak 0.95) on each landmark of
    the astronaut's pose as the camera sees it, over the noise of
    ``wasmpose.tools.data.heatmaps``."""

    synthetic = True
    name = "generated heatmaps (--synthetic: no model)"

    def __init__(self, boxes):
        from wasmpose.tools.data import heatmaps

        fx0, fy0, fsize = _FIXTURE_BOX
        pose = np.array([fx0, fy0]) + _FIXTURE_POSE * (fsize / _SIZE)  # astronaut pixels
        self.poses = [(pose - (x0, y0)) * (_SIZE / size) for x0, y0, size in boxes]
        self.noise = heatmaps((_CHANNELS, _HM, _HM), people=0)  # shared: read only
        self.landmarks = np.zeros((_CHANNELS, 5), np.float32)
        self.landmarks[:, 3:] = 10.0  # visibility and presence logits: well seen
        self.logits = np.empty((1, _HM, _HM, _CHANNELS), np.float32)

    def infer(self, x: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        cells = self.poses[i] / _STRIDE
        yy = np.arange(_HM)[:, None, None]
        xx = np.arange(_HM)[None, :, None]
        blobs = 0.95 * np.exp(-((xx - cells[:, 0]) ** 2 + (yy - cells[:, 1]) ** 2) / 8.0)
        h = self.noise.transpose(1, 2, 0).copy()
        np.maximum(h[..., :_K], blobs, out=h[..., :_K])
        np.clip(h, 1e-6, 1 - 1e-6, out=h)
        self.logits[0] = np.log(h / (1 - h))
        self.landmarks[:_K, :2] = self.poses[i]
        return self.logits, self.landmarks

    def weights(self):
        """Generated kernels of the model's largest shapes: normal values with per-channel
        scales spread over two decades and a few outliers, as trained weights have."""
        rng = np.random.default_rng(_SEED_WEIGHTS)
        shapes = [(288, 1, 1, 864), (864, 1, 1, 144), (288, 1, 1, 288), (1, 5, 5, 288),
                  (144, 1, 1, 288), (1, 3, 3, 864)]
        kernels = {}
        for i, shape in enumerate(shapes):
            axis = models.channel_axis(shape)
            scale_shape = [1] * 4
            scale_shape[axis] = shape[axis]
            scale = 10 ** rng.uniform(-2, 0, scale_shape)
            w = rng.standard_normal(shape) * scale
            w.flat[rng.integers(0, w.size, w.size // 1000)] *= 6.0
            kernels[f"generated_{i}_{'x'.join(map(str, shape))}"] = w.astype(np.float32)
        counts = dict(kernels=len(kernels), biases=0, other_constants=0, unreadable=0)
        return kernels, counts, "generated kernels (--synthetic: not the model's weights)"

    def describe(self) -> dict:
        return {"path": None, "sha256": None, "synthetic": True}


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Stage:
    """Per-frame seconds of one stage: wasmpose as the pipeline runs it (the current opt level,
    FULL by default), its single-threaded compiled variant (``OptLevel.SIMD``), its NumPy
    reference (``OptLevel.NONE``) and its peer."""

    name: str
    peer_name: str | None
    note: str | None
    ours: list = dataclasses.field(default_factory=list)
    simd: list = dataclasses.field(default_factory=list)
    numpy: list = dataclasses.field(default_factory=list)
    peer: list = dataclasses.field(default_factory=list)
    first_ms: float | None = None  # the first call: compilation or cache load

    def add(self, ours, simd=None, ref=None, peer=None, *, warm=None):
        """Record one frame's times. Of the first frame only the first call is kept, apart:
        ``warm``, the untimed warm-up call where there is one, else ``ours`` (compilation or
        cache load; SIMD and NONE compile in that frame too)."""
        if self.first_ms is None:
            self.first_ms = (ours if warm is None else warm) * 1e3
            return
        for times, t in ((self.ours, ours), (self.simd, simd), (self.numpy, ref),
                         (self.peer, peer)):
            if t is not None:
                times.append(t)

    def time(self, fn, peer=None):
        """Call ``fn`` at the current level (its result is returned), then at SIMD and NONE,
        then ``peer``; record the four times. One warm-up call first brings the inputs into
        the caches, so that no variant pays for being the first after the model; it is
        timed only on the first frame (``first_frame_ms``)."""
        warm = _clock(fn)[1]
        r, t = _clock(fn)
        self.add(t, _clock(fn, "simd")[1], _clock(fn, "none")[1],
                 None if peer is None else _clock(peer)[1], warm=warm)
        return r

    def row(self) -> dict:
        med = lambda v: statistics.median(v) * 1e3 if v else None  # noqa: E731
        w, s, n, p = med(self.ours), med(self.simd), med(self.numpy), med(self.peer)
        return {"wasmpose_ms": w, "simd_ms": s, "numpy_ms": n,
                "peer": self.peer_name if p else None,
                "peer_ms": p, "x_vs_numpy": ratio(n, w), "x_vs_peer": ratio(p, w),
                "first_frame_ms": self.first_ms, "frames_timed": len(self.ours),
                "note": self.note}


def _clock(fn, level=None):
    """``(fn(), seconds)`` of one call at opt level ``level`` (default: the current one), the
    garbage collector off as in :func:`wasmpose.tools.timing.measure`."""
    if level is not None:
        with cpu.opt_level(level):
            return _clock(fn)
    with gc_paused():
        t0 = time.perf_counter()
        r = fn()
        return r, time.perf_counter() - t0


def _sigmoid_chw(logits: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` (C, H, W) = sigmoid of ``logits`` (1, H, W, C)."""
    np.copyto(out, logits[0].transpose(2, 0, 1))
    np.negative(out, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------
class _Pipeline:
    """The per-frame pipeline, its stage timers and its trackers."""

    def __init__(self, source, cv2, torch):
        self.source, self.cv2, self.torch = source, cv2, torch
        self.sigmas = models.oks_sigmas()
        self.pool = memory.default_pool()
        stages = [
            _Stage("to_tensor", cv2 and "cv2.dnn.blobFromImage",
                   "mean=0, std=1, nhwc, into a pooled buffer"),
            _Stage("inference", None, "skipped (--synthetic): generated heatmaps"
                   if source.synthetic else "ai-edge-litert"),
            _Stage("sigmoid", None, "NumPy: logits (64, 64, 39) -> heatmaps (39, 64, 64)"),
            _Stage("decode_heatmaps", None, 'refine="dark", the 33 landmark channels'),
            _Stage("find_peaks", torch and "torch max_pool2d+topk",
                   f"threshold {_PEAK_THRESHOLD}, top_k {_PEAK_TOP_K}"),
            _Stage("oks", "pycocotools computeOks",
                   "this frame's pose vs the previous one, 33 BlazePose sigmas"),
            _Stage("track", None, "PoseTracker.update"),
        ]
        self.stages = {s.name: s for s in stages}
        from wasmpose.tracking import PoseTracker

        self.trackers = {level: PoseTracker(sigmas=self.sigmas)
                         for level in ("warm", "ours", "simd", "none")}
        self.prev = None  # the previous frame's pose, area and box
        self.notes: list[str] = []
        self.keypoints = None

    def step(self, i: int, frame: np.ndarray, box) -> dict:
        """Run frame ``i`` through every stage; the frame's figures."""
        from wasmpose import heatmap, image
        from wasmpose.tools.peers import opencv_blob, torch_peaks

        st, cv2, torch = self.stages, self.cv2, self.torch
        with self.pool.borrow((1, _SIZE, _SIZE, 3), np.float32) as x:
            blob = cv2 and opencv_blob(cv2, frame, (0, 0, 0), (1, 1, 1), layout="nhwc")
            st["to_tensor"].time(lambda: image.to_tensor(
                frame, (0, 0, 0), (1, 1, 1), layout="nhwc", out=x), blob)
            if i == 0 and blob is not None and not np.allclose(blob(), x, rtol=0, atol=1e-6):
                self.notes.append("cv2.dnn blob differs from to_tensor (atol 1e-6)")
            (logits, landmarks), t = _clock(lambda: self.source.infer(x, i))
            if not self.source.synthetic:
                st["inference"].add(t)
        with self.pool.borrow((_CHANNELS, _HM, _HM), np.float32) as hm:
            _, t = _clock(lambda: _sigmoid_chw(logits, hm))
            st["sigmoid"].add(t)
            maps = hm[:_K]
            coords, scores = st["decode_heatmaps"].time(
                lambda: heatmap.decode_heatmaps(maps, refine="dark"))
            peaks = st["find_peaks"].time(
                lambda: heatmap.find_peaks(maps, threshold=_PEAK_THRESHOLD, top_k=_PEAK_TOP_K),
                torch and torch_peaks(torch, maps, _PEAK_THRESHOLD, _PEAK_TOP_K))

        kp = coords.astype(np.float64) * _STRIDE  # heatmap cells -> frame pixels
        lo, hi = kp.min(axis=0), kp.max(axis=0)
        area, score = float(np.prod(hi - lo)), float(scores.mean())
        pose = kp[None]
        oks_value = None if self.prev is None else self._oks(i, pose)
        self.prev = (pose, area, np.concatenate([lo, hi - lo]))
        ids = self._track(i, pose, score, area)
        self.keypoints = kp

        lm = landmarks[:_K].astype(np.float64)
        error = np.hypot(*(kp - lm[:, :2]).T)
        well = ((_sigmoid(lm[:, 3]) >= _WELL_SEEN) & (_sigmoid(lm[:, 4]) >= _WELL_SEEN)
                & (scores >= _WELL_PEAK))  # scores: each channel's maximum
        return {
            "frame": i, "box": list(box), "track_id": int(ids[0]),
            "score": score, "area": area, "oks_previous": oks_value,
            "peaks": len(peaks.score),
            "keypoints_px": np.round(kp, 2).tolist(),
            "landmark_error_px": np.round(error, 3).tolist(),
            "well_seen": np.flatnonzero(well).tolist(),
        }

    def _oks(self, i, pose) -> float:
        from wasmpose import keypoints
        from wasmpose.tools.peers import coco_oks

        prev_pose, prev_area, prev_box = self.prev
        gt = np.concatenate([prev_pose, np.full((1, _K, 1), 2.0)], axis=2)
        args = (pose, gt, np.array([prev_area]))
        bbox = np.array([prev_box])
        coco = coco_oks(*args, bbox, self.sigmas)
        value = self.stages["oks"].time(
            lambda: keypoints.oks(*args, gt_bboxes=bbox, sigmas=self.sigmas), coco)
        if coco is not None and not np.allclose(coco(), value, rtol=0, atol=1e-9):
            self.notes.append(f"frame {i}: pycocotools OKS {coco().item()} != {value.item()}")
        return float(value.item())

    def _track(self, i, pose, score, area) -> np.ndarray:
        """Update the trackers of the three levels (same poses; they must agree) after a
        scratch tracker's untimed warm-up call, as ``_Stage.time`` does."""
        def update(level):
            return self.trackers[level].update(pose, [score], [area])

        warm = _clock(lambda: update("warm"))[1]
        ids, t = _clock(lambda: update("ours"))
        simd_ids, ts = _clock(lambda: update("simd"), "simd")
        ref_ids, tr = _clock(lambda: update("none"), "none")
        if not (np.array_equal(ids, ref_ids) and np.array_equal(ids, simd_ids)):
            self.notes.append(f"frame {i}: track ids {ids} (wasmpose) != {ref_ids} (reference)")
        self.stages["track"].add(t, ts, tr, warm=warm)
        return ids


def run(*, frames: int = DEFAULT_FRAMES, model: str | None = None, synthetic: bool = False,
        json_path: str | None = None, image_path: str | None = None, progress: bool = False,
        file=None) -> dict:
    """Run the demo and print its report; returns the figures (what ``json_path`` gets).

    Raises
    ------
    DemoUnavailable
        A package or the model is missing, or ``model`` is not the BlazePose landmark model.
    """
    out = sys.stdout if file is None else file
    p = lambda *a: print(*a, file=out, flush=True)  # noqa: E731
    if not isinstance(frames, int) or frames < 3:  # OKS is timed from the third frame on
        raise ValueError(f"frames: expected an int >= 3, got {frames!r}")
    from wasmpose._version import __version__

    if image_path is not None:
        _check_image_path(image_path)
    video, boxes, what = _video(frames, synthetic)
    source = _SyntheticSource(boxes) if synthetic else _ModelSource(model)
    cv2, torch = peer("cv2"), peer("torch")
    p(f"wasmpose {__version__} demo: {frames} frames of {what} with a camera pan, 256x256")
    p(f"heatmaps from {source.name}")
    pipeline = _Pipeline(source, cv2, torch)
    per_frame = [pipeline.step(i, video[i], boxes[i])
                 for i in _progress(range(frames), progress or sys.stderr.isatty())]

    weights, counts, weights_note = source.weights()
    quant_report = _quantize_weights(weights, torch)
    quant_report.update(counts=counts, source=weights_note)

    f = cpu.cpu_features()
    report = {
        "wasmpose": __version__,
        "mode": "synthetic" if synthetic else "model",
        "frames": frames,
        "video": what,
        "heatmaps": source.name,
        "model": source.describe(),
        "stages": {name: s.row() for name, s in pipeline.stages.items()},
        "track_ids": [r["track_id"] for r in per_frame],
        "landmark_error_px": _error_summary(per_frame),
        "quantization": quant_report,
        "pool": dataclasses.asdict(pipeline.pool.stats()),
        "cpu": {"name": f.name, "vector_bits": f.vector_bits,
                "features": {k: bool(getattr(f, k))
                             for k in ("sse42", "avx2", "avx512f", "fma", "neon")},
                "opt_level": cpu.get_opt_level().name,
                "threading_layer": cpu.threading_layer(),
                "load_average": load_average()},
        "kernel_variants": cpu.kernel_variants(),
        "versions": versions(),
        "notes": pipeline.notes,
        "per_frame": per_frame,
    }
    report["pipeline_ms"] = _pipeline_totals(report["stages"])
    report["notes"].extend(_busy_note(report))
    missing = [name for name, module in (("OpenCV", cv2), ("PyTorch", torch),
                                         ("pycocotools", peer("pycocotools")))
               if module is None]
    if missing:
        report["notes"].append(f"not installed, so not compared: {', '.join(missing)}")
    _print_report(report, p)
    if image_path is not None:
        write_png(image_path, draw_skeleton(video[-1], pipeline.keypoints))
        p(f"wrote {os.fspath(image_path)}: the last frame with the decoded skeleton")
    if json_path is not None:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1, default=_json_default)
            fh.write("\n")
        p(f"wrote {os.fspath(json_path)}")
    return report


def _progress(frames, show: bool):
    """``frames`` wrapped in a tqdm bar on stderr when asked for and tqdm is installed."""
    if not show:
        return frames
    try:
        from tqdm import tqdm
    except ImportError:
        return frames
    return tqdm(frames, desc="frames", unit="frame", file=sys.stderr, leave=False)


def _pipeline_totals(rows: dict) -> dict:
    """Per-frame sums of the stage medians: wasmpose, NumPy reference, model."""
    def total(key):  # stages without a variant (the NumPy sigmoid) count their one time
        return sum(r[key] if r[key] is not None else r["wasmpose_ms"]
                   for name, r in rows.items() if name != "inference")

    ours, simd, ref = total("wasmpose_ms"), total("simd_ms"), total("numpy_ms")
    return {"wasmpose_ms": ours, "simd_ms": simd, "numpy_ms": ref,
            "x_vs_numpy": ratio(ref, ours), "inference_ms": rows["inference"]["wasmpose_ms"]}


def _busy_note(report: dict) -> list[str]:
    """A note when the level's multi-threaded variants lose to the one-thread ones."""
    slow = [name for name, r in report["stages"].items()
            if r["simd_ms"] is not None and r["wasmpose_ms"] > 2 * r["simd_ms"]]
    slow += [f"quantize {d}" for d, b in report["quantization"]["bits"].items()
             if b["quantize_ms"] > 2 * b["simd_ms"]]
    if not slow or report["cpu"]["opt_level"] == "SIMD":
        return []
    return [f"{', '.join(slow)}: OptLevel.{report['cpu']['opt_level']} took more than twice "
            f"the time of the one-thread kernels (OptLevel.SIMD): at these sizes it runs their "
            f"multi-threaded variants, which wait for busy cores here (load average "
            f"{report['cpu']['load_average']} on {cpu._cores()} cores). "
            f"WASMPOSE_OPT_LEVEL=simd python -m wasmpose demo runs one-thread kernels."]


def _error_summary(per_frame: list) -> dict:
    """Median distance (frame pixels) between decoded keypoints and the regressed landmarks."""
    well = [e for r in per_frame for j, e in enumerate(r["landmark_error_px"])
            if j in r["well_seen"]]
    every = [e for r in per_frame for e in r["landmark_error_px"]]
    return {"median_well_seen": statistics.median(well) if well else None,
            "max_well_seen": max(well) if well else None,
            "median_all": statistics.median(every),
            "well_seen_per_frame": statistics.median(len(r["well_seen"]) for r in per_frame)}


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------------------------------------
# Quantisation of the weights
# ---------------------------------------------------------------------------------------------
def _quantize_weights(weights: dict, torch) -> dict:
    """Per-channel symmetric int8 and int4 of every kernel: SQNR and the time of ``quantize``."""
    from wasmpose import quant

    items = [(name, w, models.channel_axis(w.shape)) for name, w in weights.items()]
    largest = {name for name, w, _ in sorted(items, key=lambda it: -it[1].size)[:3]}
    signal = sum(float(np.dot(w.ravel(), w.ravel().astype(np.float64))) for _, w, _ in items)
    result = {"tensors": len(items), "values": sum(w.size for _, w, _ in items),
              "scheme": "symmetric, per channel (axis 0; axis 3 for depthwise kernels)",
              "bits": {}}
    for dtype, bits in (("int8", 8), ("int4", 4)):
        params = [quant.calibrate(w, dtype=dtype, scheme="symmetric", axis=ax)
                  for _, w, ax in items]
        qs = [quant.quantize(w, pr) for (_, w, _), pr in zip(items, params, strict=True)]
        noise, per_tensor = 0.0, {}
        for (name, w, _), q, pr in zip(items, qs, params, strict=True):
            d = quant.dequantize(q, pr)
            noise += float(np.sum((w.astype(np.float64) - d) ** 2))
            if name in largest:
                per_tensor[name] = {"shape": list(w.shape), "sqnr_db": quant.sqnr(w, d)}

        def quantize_all(items=items, params=params):
            return [quant.quantize(w, pr) for (_, w, _), pr in zip(items, params, strict=True)]

        t = measure(quantize_all, min_time=0.02, repeats=3).estimate
        with cpu.opt_level("simd"):
            ts = measure(quantize_all, min_time=0.02, repeats=3).estimate
        with cpu.opt_level("none"):
            tr = measure(quantize_all, min_time=0.02, repeats=3).estimate
        tp, exact = None, None
        if torch is not None and dtype == "int8":
            args = [(torch.from_numpy(w), torch.from_numpy(pr.scale.astype(np.float64)),
                     torch.from_numpy(pr.zero_point.astype(np.int64)), ax)
                    for (_, w, ax), pr in zip(items, params, strict=True)]

            def torch_all(args=args):
                return [torch.quantize_per_channel(w, s, z, ax, torch.qint8)
                        for w, s, z, ax in args]

            with warnings.catch_warnings():  # torch 2.13 deprecates its quantized tensors
                warnings.simplefilter("ignore", UserWarning)
                exact = all(np.array_equal(tq.int_repr().numpy(), q)
                            for tq, q in zip(torch_all(), qs, strict=True))
                tp = measure(torch_all, min_time=0.02, repeats=3).estimate
        scale_bytes = sum(pr.scale.nbytes for pr in params)
        result["bits"][dtype] = {
            "sqnr_db": 10 * np.log10(signal / noise) if noise > 0 else float("inf"),
            "largest": per_tensor,
            "quantize_ms": t * 1e3, "simd_ms": ts * 1e3, "numpy_ms": tr * 1e3,
            "torch_ms": None if tp is None else tp * 1e3,
            "x_vs_numpy": tr / t, "x_vs_torch": None if tp is None else tp / t,
            "bit_exact_with_torch": exact,
            "bytes": result["values"] * bits // 8 + scale_bytes,
        }
    result["float32_bytes"] = result["values"] * 4
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def _x(v) -> str:
    return "-" if v is None else f"{v:.1f}x"


def _print_report(r: dict, p) -> None:
    head = (f"{'stage':<17}{'wasmpose ms':>12}{'simd ms':>9}{'numpy ms':>10}{'x numpy':>9}  "
            f"{'peer':<24}{'peer ms':>9}{'x peer':>8}")
    c = r["cpu"]
    p("")
    p(f"time per frame, median over the frames after each stage's first (which compiles or "
      f"loads the kernels). wasmpose = OptLevel.{c['opt_level']}, simd = OptLevel.SIMD (one "
      f"thread), numpy = OptLevel.NONE (the NumPy reference); x = other / wasmpose; load average "
      f"{c['load_average']}")
    p(head)
    p("-" * len(head))
    for name, s in r["stages"].items():
        if name == "inference":
            if s["wasmpose_ms"] is None:
                p(f"{'inference':<17}{'(skipped: --synthetic, generated heatmaps)':>40}")
            else:
                p(f"{'inference':<17}{fmt_ms(s['wasmpose_ms']):>12}{'':>28}  "
                  f"{'(ai-edge-litert, the model)':<24}")
            continue
        p(f"{name:<17}{fmt_ms(s['wasmpose_ms']):>12}{fmt_ms(s['simd_ms']):>9}"
          f"{fmt_ms(s['numpy_ms']):>10}"
          f"{_x(s['x_vs_numpy']):>9}  {s['peer'] or '-':<24}{fmt_ms(s['peer_ms']):>9}"
          f"{_x(s['x_vs_peer']):>8}")
    t = r["pipeline_ms"]
    p("-" * len(head))
    p(f"{'wasmpose stages':<17}{fmt_ms(t['wasmpose_ms']):>12}{fmt_ms(t['simd_ms']):>9}"
      f"{fmt_ms(t['numpy_ms']):>10}"
      f"{_x(t['x_vs_numpy']):>9}")
    if t["inference_ms"]:
        total = t["inference_ms"] + t["wasmpose_ms"]
        p(f"per frame with the model: {fmt_ms(total)} ms ({1e3 / total:.0f} frames/s), "
          f"of which wasmpose's stages {100 * t['wasmpose_ms'] / total:.1f}%")
    ids = r["track_ids"]
    p("")
    p(f"track ids over the {len(ids)} frames: {sorted(set(ids))} "
      f"({'the same id all along' if len(set(ids)) == 1 else 'the id changed'})")
    oks = [f["oks_previous"] for f in r["per_frame"] if f["oks_previous"] is not None]
    p(f"OKS between consecutive frames: min {min(oks):.3f}, median {statistics.median(oks):.3f}")
    e = r["landmark_error_px"]
    p(f"decoded keypoints vs the model's regressed landmarks: median {e['median_well_seen']:.2f} "
      f"px on the well-seen ones ({e['well_seen_per_frame']:g} a frame; max "
      f"{e['max_well_seen']:.2f}), {e['median_all']:.2f} px over all 33 (1 heatmap cell = "
      f"{_STRIDE} px)" if e["median_well_seen"] is not None else
      f"decoded keypoints vs the regressed landmarks: median {e['median_all']:.2f} px")
    q = r["quantization"]
    p("")
    p(f"quantisation of {q['source']}: {q['tensors']} tensors, {q['values'] / 1e6:.2f} M values, "
      f"{q['scheme']}")
    qh = (f"{'dtype':<7}{'SQNR dB':>9}{'quantize ms':>13}{'simd ms':>9}{'numpy ms':>10}"
          f"{'x numpy':>9}"
          f"{'torch ms':>10}{'x torch':>9}  {'bit-exact':<10}{'MB':>6}")
    p(qh)
    p("-" * len(qh))
    for dtype, b in q["bits"].items():
        exact = {None: "-", True: "yes", False: "NO"}[b["bit_exact_with_torch"]]
        p(f"{dtype:<7}{b['sqnr_db']:>9.1f}{fmt_ms(b['quantize_ms']):>13}{fmt_ms(b['simd_ms']):>9}"
          f"{fmt_ms(b['numpy_ms']):>10}"
          f"{_x(b['x_vs_numpy']):>9}{fmt_ms(b['torch_ms']):>10}{_x(b['x_vs_torch']):>9}  "
          f"{exact:<10}{b['bytes'] / 1e6:>6.2f}")
    p(f"(float32: {q['float32_bytes'] / 1e6:.2f} MB; torch.quantize_per_channel has no int4)")
    for name in q["bits"]["int8"]["largest"]:
        s8 = q["bits"]["int8"]["largest"][name]
        s4 = q["bits"]["int4"]["largest"][name]["sqnr_db"]
        shape = "x".join(map(str, s8["shape"]))
        p(f"  {name[-40:]:<40} {shape:>14}: int8 {s8['sqnr_db']:.1f} dB, int4 {s4:.1f} dB")
    pool = r["pool"]
    p("")
    p(f"buffer pool: {pool['hits']} hits, {pool['misses']} misses (hit rate "
      f"{100 * pool['hit_rate']:.0f}%), {pool['bytes_saved'] / 2**20:.1f} MiB not allocated, "
      f"peak {pool['peak_bytes'] / 2**20:.2f} MiB, in use {pool['in_use_bytes']} bytes")
    feats = ", ".join(k for k, v in c["features"].items() if v) or "none detected"
    p(f"CPU {c['name']} ({c['vector_bits']}-bit vectors; {feats}), opt level {c['opt_level']}, "
      f"threading layer {c['threading_layer']}")
    p("kernel variants: " + ", ".join(f"{k}={v}" for k, v in r["kernel_variants"].items()))
    for note in r["notes"]:
        p(f"note: {note}")


# ---------------------------------------------------------------------------------------------
# Skeleton picture
# ---------------------------------------------------------------------------------------------
_LEFT, _RIGHT, _CENTRE, _POINT = (255, 138, 0), (0, 217, 231), (255, 255, 255), (255, 0, 64)


def _side(j: int) -> tuple:
    if j <= 10:  # face
        return _CENTRE
    return _LEFT if j % 2 else _RIGHT  # odd landmarks are the left side's (11 left shoulder)


def draw_skeleton(frame: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3) uint8 with the BlazePose skeleton of ``keypoints``
    (33, 2) (x, y in pixels) drawn: MediaPipe's connections 2 pixels wide, left limbs orange,
    right limbs cyan, the face white, keypoints red. Points outside the frame are clipped."""
    img = np.array(frame, np.uint8, copy=True)
    h, w = img.shape[:2]
    offsets = (0, 1)
    for a, b in models.CONNECTIONS:
        p0, p1 = keypoints[a], keypoints[b]
        n = int(np.ceil(np.abs(p1 - p0).max())) + 1
        t = np.linspace(0.0, 1.0, n)[:, None]
        pts = np.rint(p0 + t * (p1 - p0)).astype(np.int64)
        colour = _side(b) if _side(a) == _side(b) else _CENTRE
        for dy in offsets:
            for dx in offsets:
                _paint(img, pts[:, 1] + dy, pts[:, 0] + dx, colour, h, w)
    pts = np.rint(keypoints).astype(np.int64)
    for dy in range(-1, 2):
        for dx in range(-1, 2):
            _paint(img, pts[:, 1] + dy, pts[:, 0] + dx, _POINT, h, w)
    return img


def _paint(img, ys, xs, colour, h, w):
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    img[ys[inside], xs[inside]] = colour


def _check_image_path(path) -> None:
    """Fail before the run, not after it, when ``--save-image`` cannot be written."""
    if peer("cv2") is None:
        raise DemoUnavailable(f"--save-image: the picture is written with OpenCV, which is not "
                              f"installed: {_INSTALL} (or pip install opencv-python-headless)")
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise DemoUnavailable(f"--save-image: expected a file in an existing directory, got "
                              f"{os.fspath(path)!r} ({os.fspath(parent)!r} does not exist)")


def write_png(path, rgb: np.ndarray) -> None:
    """Write ``rgb`` (H, W, 3) uint8 as a PNG file, encoded by OpenCV (``cv2.imencode``)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb: expected (H, W, 3) uint8, got shape {rgb.shape} {rgb.dtype}")
    cv2 = peer("cv2")
    if cv2 is None:
        raise DemoUnavailable(f"writing a PNG needs OpenCV, which is not installed: {_INSTALL} "
                              f"(or pip install opencv-python-headless)")
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV is BGR
    if not ok:
        raise RuntimeError(f"cv2.imencode could not encode an image of shape {rgb.shape}")
    Path(path).write_bytes(png.tobytes())


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def main(*, frames: int = DEFAULT_FRAMES, model: str | None = None, synthetic: bool = False,
         json_path: str | None = None, image_path: str | None = None, progress: bool = False,
         file=None) -> int:
    """``python -m wasmpose demo``: :func:`run`, or exit code 2 with what to do when it cannot
    run here (printed to stderr as one paragraph)."""
    try:
        run(frames=frames, model=model, synthetic=synthetic, json_path=json_path,
            image_path=image_path, progress=progress, file=file)
    except DemoUnavailable as exc:
        print(textwrap.fill(f"wasmpose demo: {exc}", width=100, break_long_words=False,
                            break_on_hyphens=False), file=sys.stderr)
        return 2
    return 0
