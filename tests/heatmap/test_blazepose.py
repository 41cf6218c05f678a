"""decode_heatmaps on a real model's output: BlazePose (MediaPipe pose landmark "full").

The fixture holds the model's heatmap logits and its own regressed landmarks on scikit-image's
astronaut (see ``data/make_blazepose_fixture.py``, which regenerates it and documents the model's
I/O). The heatmaps are a stride-4 auxiliary output of the same network, so decoding them must land
on the regressed landmark, within one heatmap cell (on each axis: the landmark lies in the decoded
point's 3 x 3 cell neighbourhood), wherever the model sees the keypoint well.

Conventions, checked below from the data rather than assumed:

- heatmap cell ``(row, col)`` is centred on the landmark pixel ``(4 * col, 4 * row)`` of the
  256 x 256 input (cell centres at integer heatmap coordinates; this is also how MediaPipe's
  ``RefineLandmarksFromHeatmapCalculator`` maps cells back to landmarks), so a landmark ``(x, y)``
  is compared with the decoded point at ``(x / 4, y / 4)``;
- channels 0..32 are the 33 landmarks, 33..38 auxiliary points (ROI centre and size, hand points)
  whose visibility the model does not predict; only 0..32 are compared.

"Sees well": regressed visibility and presence (sigmoid of the stored logits) >= 0.9, and the
heatmap itself confident, peak sigmoid >= 0.85. On this image that selects the 11 face keypoints
(0..10): the shoulders (peaks 0.68, 0.79, decoded 0.9 to 1.7 cells away) and the hips, which lie
inside the suit and which the regression calls visible but the heatmap does not (peaks 0.51, 0.42),
are left out.
The worst selected keypoint is 3 (left eye, outer) with ``refine="quadratic"``: 0.99 cell.
"""

from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "blazepose_astronaut.npz"
STRIDE = 4
LANDMARKS = 33
MIN_VISIBILITY = MIN_PRESENCE = 0.9
MIN_PEAK = 0.85
MIN_WELL_SEEN = 8
REFINES = [None, "shift", "quadratic", "dark"]


def _sigmoid(x):
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


@pytest.fixture(scope="module")
def blazepose():
    with np.load(FIXTURE, allow_pickle=False) as f:
        data = {name: f[name] for name in f.files}
    heatmaps = _sigmoid(data["heatmap_logits"])
    landmarks = data["landmarks"]
    peak = heatmaps.reshape(len(heatmaps), -1).max(axis=1)
    well = (
        (_sigmoid(landmarks[:, 3]) >= MIN_VISIBILITY)
        & (_sigmoid(landmarks[:, 4]) >= MIN_PRESENCE)
        & (peak >= MIN_PEAK)
    )
    well[LANDMARKS:] = False
    return {
        "heatmaps": heatmaps,
        "target": landmarks[:, :2] / STRIDE,
        "well": np.flatnonzero(well),
        **data,
    }


@pytest.fixture(scope="module")
def heatmap():
    return pytest.importorskip("wasmpose.heatmap")


def test_fixture_layout(blazepose):
    assert blazepose["heatmap_logits"].shape == (39, 64, 64)
    assert blazepose["heatmap_logits"].dtype == np.float32
    assert blazepose["landmarks"].shape == (39, 5)
    assert blazepose["pose_flag"] > 0.5
    assert "mediapipe==0.10.21" in blazepose["versions"].tolist()
    assert np.isfinite(blazepose["heatmap_logits"]).all()
    assert len(blazepose["well"]) >= MIN_WELL_SEEN, blazepose["well"]


def test_cell_centres_are_integer_heatmap_coordinates(blazepose):
    """The mean offset of the landmarks from their argmax cell is near 0, not near +0.5."""
    h = blazepose["heatmaps"]
    well = blazepose["well"]
    flat = h[well].reshape(len(well), -1).argmax(axis=1)
    argmax = np.stack([flat % h.shape[2], flat // h.shape[2]], axis=1)
    offset = (blazepose["target"][well] - argmax).mean(axis=0)
    assert np.all(np.abs(offset) < np.abs(offset - 0.5)), offset


@pytest.mark.parametrize("refine", REFINES)
def test_decode_agrees_with_regressed_landmarks(blazepose, heatmap, refine):
    h = blazepose["heatmaps"]
    coords, scores = heatmap.decode_heatmaps(h, refine=refine)
    assert coords.shape == (39, 2) and coords.dtype == np.float32
    assert scores.shape == (39,)
    np.testing.assert_array_equal(scores, h.reshape(39, -1).max(axis=1))

    well = blazepose["well"]
    error = np.abs(coords[well] - blazepose["target"][well]).max(axis=1)
    report = {int(k): round(float(e), 2) for k, e in zip(well, error, strict=True)}
    assert np.all(error <= 1.0), f"refine={refine}: per-keypoint error in cells {report}"
