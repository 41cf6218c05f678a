"""``wasmpose.tools.mediapipe_ref``: the committed MediaPipe figures, the pan frames they are
measured on, and measuring them in another environment (here with a stand-in ``mediapipe``
package: MediaPipe itself pins NumPy < 2 and is never installed in the project's environment;
``tests/data/mediapipe_timing.py`` runs the real one)."""

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpose.tools import mediapipe_ref, models


def test_committed_figures_say_what_where_and_when():
    f = mediapipe_ref.figures()
    assert f["mediapipe"] == models.MEDIAPIPE.split("==")[1]
    assert f["solution"] == "mp.solutions.pose.Pose(model_complexity=1)"
    assert f["frames"]["size"] == list(mediapipe_ref.FRAME_SIZE) and f["frames"]["count"] > 0
    tracking, every = f["modes"]["tracking"], f["modes"]["detect_every_frame"]
    assert tracking["static_image_mode"] is False and every["static_image_mode"] is True
    for mode in (tracking, every):
        assert 0 < mode["median_ms"] <= mode["p90_ms"] and mode["frames_timed"] > 0
        assert mode["found"] == 1.0  # the person was there on every timed frame
    # tracking skips the detector on most frames: it must be the faster mode
    assert tracking["median_ms"] < every["median_ms"]
    assert f["cpu"] and f["cpu_count"] >= 1 and len(f["load_average_before"]) == 3
    assert f["date"].endswith("UTC") and "mediapipe_timing.py" in f["command"]


def test_figures_reads_another_file(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"modes": {}}))
    assert mediapipe_ref.figures(path) == {"modes": {}}


def _pan_reference(image, recipe):
    """Frame pixel by pixel, as pan_frame's docstring states the rule."""
    width, height = recipe["size"]
    num, den = recipe["zoom"]
    x0, y0 = recipe["offset"]
    out = np.empty((height, width, image.shape[2]), np.uint8)
    for r in range(height):
        for c in range(width):
            sr, sc = (r + y0) * den // num, (c + x0) * den // num
            inside = 0 <= sr < image.shape[0] and 0 <= sc < image.shape[1]
            out[r, c] = image[sr, sc] if inside else recipe["fill"]
    return out


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), width=st.integers(1, 12),
       height=st.integers(1, 12), num=st.integers(1, 5), den=st.integers(1, 5),
       x0=st.integers(-15, 15), y0=st.integers(-15, 15), fill=st.integers(0, 255))
def test_pan_frame_is_the_stated_rule(h, w, width, height, num, den, x0, y0, fill):
    image = np.random.default_rng([h, w]).integers(0, 256, (h, w, 3), dtype=np.uint8)
    recipe = {"size": [width, height], "zoom": [num, den], "offset": [x0, y0], "fill": fill}
    np.testing.assert_array_equal(mediapipe_ref.pan_frame(image, recipe),
                                  _pan_reference(image, recipe))


def test_pan_frames_follow_the_person():
    recipes = mediapipe_ref.pan_recipes(6)
    assert [r["zoom"] for r in recipes] == [[12, 16], [14, 16], [15, 16], [17, 16], [18, 16],
                                            [20, 16]]
    frames = mediapipe_ref.pan_frames(6)
    assert frames.shape == (6, 480, 640, 3) and frames.dtype == np.uint8
    from skimage.data import astronaut

    image = astronaut()
    for frame, recipe in zip(frames, recipes, strict=True):
        num, den = recipe["zoom"]
        x0, y0 = recipe["offset"]
        # the photograph's pixel (row 100, col 190) lands where the zoom and offset put it
        r, c = -(-100 * num // den) - y0, -(-190 * num // den) - x0
        np.testing.assert_array_equal(frame[r, c], image[100, 190])
        assert (frame[:, :max(0, -x0 - 1)] == 0).all()  # the canvas left of the photograph
    # the person's centre moves right across the frames
    assert np.all(np.diff([-r["offset"][0] + 190 * r["zoom"][0] / 16 for r in recipes]) > 0)


@pytest.mark.parametrize("n", [0, -1, 2.0, True, "3"])
def test_pan_recipes_rejects_bad_counts(n):
    with pytest.raises(ValueError, match="n: expected a positive int"):
        mediapipe_ref.pan_recipes(n)


def test_pan_frame_rejects_bad_input():
    recipe = mediapipe_ref.pan_recipes(1)[0]
    with pytest.raises(ValueError, match="image: expected a .H, W, C. uint8 array, got float32"):
        mediapipe_ref.pan_frame(np.zeros((4, 4, 3), np.float32), recipe)
    with pytest.raises(ValueError, match="recipe: size and zoom must be positive"):
        mediapipe_ref.pan_frame(np.zeros((4, 4, 3), np.uint8), {**recipe, "zoom": [0, 16]})


_FAKE_MEDIAPIPE = '''
"""A stand-in for mediapipe: Pose.process sleeps a little and finds a person."""
import time
from types import SimpleNamespace

__version__ = "0.0.fake"
CALLS = []


class Pose:
    def __init__(self, static_image_mode=False, model_complexity=1):
        self.static = static_image_mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def process(self, frame):
        assert frame.shape == (8, 10, 3) and frame.dtype.name == "uint8"
        time.sleep(0.004 if self.static else 0.001)
        return SimpleNamespace(pose_landmarks=object() if frame[0, 0, 0] else None)


solutions = SimpleNamespace(pose=SimpleNamespace(Pose=Pose))
'''


@pytest.fixture
def fake_mediapipe(tmp_path, monkeypatch):
    (tmp_path / "mediapipe.py").write_text(textwrap.dedent(_FAKE_MEDIAPIPE))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def test_measure_in_venv_runs_the_script_in_that_python(fake_mediapipe):
    frames = np.zeros((5, 8, 10, 3), np.uint8)
    frames[1:, 0, 0, 0] = 1  # a "person" in all but the first frame
    got = mediapipe_ref.measure_in_venv(sys.executable, frames, passes=2, warmup=1)
    assert got["mediapipe"] == "0.0.fake" and got["frames"] == {"count": 5, "size": [10, 8]}
    tracking, every = got["modes"]["tracking"], got["modes"]["detect_every_frame"]
    # order forward then backward: 0 1 2 3 4 4 3 2 1 0, the first not timed; 0 comes back once
    assert tracking["frames_timed"] == every["frames_timed"] == 9
    assert tracking["found"] == every["found"] == round(8 / 9, 3)
    assert 1 <= tracking["median_ms"] < every["median_ms"]
    assert every["median_ms"] >= 4
    assert "mediapipe_ref.py" in got["command"] and got["date"].endswith("UTC")


def test_measure_in_venv_without_that_python():
    assert mediapipe_ref.measure_in_venv(Path("/nonexistent/python")) is None


def test_measure_in_venv_says_why_it_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # no mediapipe there, nor here
    (tmp_path / "mediapipe.py").write_text("raise ImportError('no mediapipe in this one')\n")
    with pytest.raises(RuntimeError, match="no mediapipe in this one"):
        mediapipe_ref.measure_in_venv(sys.executable, np.zeros((2, 8, 10, 3), np.uint8))


@pytest.mark.parametrize("frames", [np.zeros((2, 8, 10), np.uint8),
                                    np.zeros((2, 8, 10, 3), np.float32)])
def test_measure_in_venv_rejects_bad_frames(frames):
    with pytest.raises(ValueError, match=r"frames: expected \(N, H, W, 3\) uint8"):
        mediapipe_ref.measure_in_venv(sys.executable, frames)
