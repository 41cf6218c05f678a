"""``PosePipeline`` on real photographs with MediaPipe's real models.

The models come from the ``mediapipe==0.10.21`` wheel and the photographs from scikit-image and
the ``ultralytics`` wheel (fetched once into ``$WASMPOSE_CACHE`` as tests/boxes/test_detector.py
does; a failed download skips, which fails under ``CI=true``). Skeletons are checked by their
geometry (head above shoulders above hips, left and right on their sides, keypoints inside the
person's region), and the people of collages by their positions (one per tile, no duplicates).
"""

import numpy as np
import pytest

from wasmpose._fetch import FetchError, fetch_wheel_member
from wasmpose.pipeline import FrameResult, Pose, PosePipeline

ULTRALYTICS = "ultralytics==8.4.190"  # as tests/boxes/test_detector.py
PHOTOS = {
    "bus.jpg": "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63",
    "zidane.jpg": "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
}
NOSE, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 0, 11, 12, 23, 24


def _photo(name):
    cv2 = pytest.importorskip("cv2")
    try:
        path = fetch_wheel_member(ULTRALYTICS, f"ultralytics/assets/{name}",
                                  sha256=PHOTOS[name], quiet=True)
    except FetchError as exc:
        pytest.skip(f"cannot fetch {name} here: {exc}")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _astronaut():
    return pytest.importorskip("skimage.data").astronaut()


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("ai_edge_litert.interpreter")
    from wasmpose.pipeline import BlazePoseDetector, BlazePoseLandmarker

    try:
        return BlazePoseDetector(num_threads=1), BlazePoseLandmarker(num_threads=1)
    except FetchError as exc:
        pytest.skip(f"cannot fetch the mediapipe wheel here: {exc}")


def _upright(pose, image_shape=None):
    """The geometry of a standing or sitting person seen from the front or back."""
    kp = pose.keypoints
    assert kp.shape == (33, 3) and kp.dtype == np.float32 and np.isfinite(kp).all()
    shoulders_y = kp[[L_SHOULDER, R_SHOULDER], 1].mean()
    hips_y = kp[[L_HIP, R_HIP], 1].mean()
    width = abs(kp[L_SHOULDER, 0] - kp[R_SHOULDER, 0])
    assert kp[NOSE, 1] < shoulders_y < hips_y  # head, shoulders, hips from top to bottom
    assert hips_y - shoulders_y > 0.5 * width  # a torso, not a collapsed blob
    x1, y1, x2, y2 = pose.box
    assert x1 <= kp[:, 0].min() and kp[:, 0].max() <= x2 and y1 <= kp[:, 1].min()
    assert 0.0 <= pose.score <= 1.0 and (0 <= kp[:, 2]).all() and (kp[:, 2] <= 1).all()
    if image_shape is not None:  # the well-seen upper body is inside the frame
        h, w = image_shape[:2]
        upper = kp[[NOSE, L_SHOULDER, R_SHOULDER]]
        assert (upper[:, 0] > -0.02 * w).all() and (upper[:, 0] < 1.02 * w).all()
        assert (upper[:, 1] > -0.02 * h).all() and (upper[:, 1] < 1.02 * h).all()


def test_astronaut_one_person(models, variant):
    image = _astronaut()
    pipe = PosePipeline(*models, tiles=(1,))
    poses = pipe.process(image)
    assert len(poses) == 1
    [pose] = poses
    assert isinstance(pose, Pose) and pose.track_id == 0 and pose.score > 0.7
    _upright(pose, image.shape)
    # her face is where the detector puts it (tests/boxes/test_detector.py: box (159, 133) to
    # (261, 236)), her shoulders below it on both sides
    nose = pose.keypoints[NOSE, :2]
    assert 159 < nose[0] < 261 and 100 < nose[1] < 236
    assert pose.keypoints[R_SHOULDER, 0] < nose[0] < pose.keypoints[L_SHOULDER, 0]


def test_tracking_carries_the_region_and_the_id(models):
    image = _astronaut()
    pipe = PosePipeline(*models, tiles=(1,))
    results = list(pipe.run([image] * 4))
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert all(isinstance(r, FrameResult) and r.frame is not None for r in results)
    assert [[p.track_id for p in r.poses] for r in results] == [[0]] * 4
    stats = pipe.stats()
    assert stats["frames"] == 4 and stats["people"] == 4
    assert stats["detections"] == 1  # MediaPipe's tracking mode: the detector ran once
    assert stats["landmarker"]["calls"] == 4 and stats["detector"]["calls"] == 1
    # a still frame: the well-seen landmarks (face and shoulders) stay within a few pixels
    # (the region moves a little as the auxiliary points settle; her legs are out of the
    # frame, guessed, and move more)
    a, b = results[1].poses[0].keypoints[:13], results[3].poses[0].keypoints[:13]
    assert np.median(np.abs(a[:, :2] - b[:, :2])) < 3.0


def test_detection_every_frame_without_tracking(models):
    image = _astronaut()
    pipe = PosePipeline(*models, tracking=False, smoothing=False, tiles=(1,))
    results = list(pipe.run([image] * 2))
    assert [[p.track_id for p in r.poses] for r in results] == [[-1], [-1]]
    assert pipe.stats()["detections"] == 2
    # the same frame gives the same pose without tracking
    np.testing.assert_array_equal(results[0].poses[0].keypoints, results[1].poses[0].keypoints)


def test_empty_frame_has_nobody(models):
    pipe = PosePipeline(*models)
    assert pipe.process(np.zeros((480, 640, 3), np.uint8)) == []
    assert pipe.process(np.full((48, 64, 3), 255, np.uint8)) == []
    assert pipe.stats()["detections"] == 2  # nobody tracked: the detector runs again


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(max_people=0), ValueError, "max_people"),
    (dict(max_people=1.5), TypeError, "max_people"),
    (dict(min_detection_score=1.5), ValueError, "min_detection_score"),
    (dict(min_presence=-0.1), ValueError, "min_presence"),
    (dict(min_presence="high"), TypeError, "min_presence"),
    (dict(detect_every=0), ValueError, "detect_every"),
    (dict(tracking=1), TypeError, "tracking"),
    (dict(smoothing=None), TypeError, "smoothing"),
    (dict(tiles=()), ValueError, "tiles"),
    (dict(tiles=(0.5,)), ValueError, "tiles"),
    (dict(tiles=3), TypeError, "tiles"),
    (dict(border="reflect"), ValueError, "border"),
    (dict(tile_score=2), ValueError, "tile_score"),
    (dict(detector=object()), TypeError, "detector"),
    (dict(landmarker="full"), TypeError, "landmarker"),
])
def test_bad_arguments(models, kwargs, error, match):
    args = dict(detector=models[0], landmarker=models[1])
    args.update(kwargs)
    with pytest.raises(error, match=match):
        PosePipeline(**args)


@pytest.mark.parametrize("frame, error", [
    (np.zeros((48, 64), np.uint8), ValueError),
    (np.zeros((48, 64, 4), np.uint8), ValueError),
    (np.zeros((48, 64, 3), np.float32), TypeError),
    (np.zeros((0, 64, 3), np.uint8), ValueError),
    ("frame.png", TypeError),
])
def test_bad_frames(models, frame, error):
    pipe = PosePipeline(*models)
    with pytest.raises(error, match="frame"):
        pipe.process(frame)


def test_bad_sources(models):
    pipe = PosePipeline(*models)
    with pytest.raises(TypeError, match="source"):
        list(pipe.run(3.5))
    with pytest.raises((TypeError, ValueError), match="source"):
        list(pipe.run([np.zeros((4, 4), np.uint8)]))


def _collage(rows, cols):
    a = _astronaut()
    return np.concatenate([np.concatenate([a] * cols, axis=1)] * rows, axis=0)


@pytest.mark.parametrize("rows, cols", [(2, 2), (1, 3), (3, 3)])
def test_collages_every_astronaut_once(models, rows, cols, variant):
    """Each 512 x 512 tile of the collage holds one astronaut: one pose per tile, no more."""
    image = _collage(rows, cols)
    pipe = PosePipeline(*models, max_people=rows * cols + 2)
    poses = pipe.process(image)
    cells = sorted((int(p.keypoints[NOSE, 1] // 512), int(p.keypoints[NOSE, 0] // 512))
                   for p in poses)
    assert cells == [(r, c) for r in range(rows) for c in range(cols)]
    for p in poses:
        _upright(p, image.shape)
        # her nose where it is in the single photograph (about (220, 128)), in its own tile
        r, c = p.keypoints[NOSE, 1] // 512, p.keypoints[NOSE, 0] // 512
        assert np.hypot(p.keypoints[NOSE, 0] - 512 * c - 220,
                        p.keypoints[NOSE, 1] - 512 * r - 128) < 25
    assert len({p.track_id for p in poses}) == len(poses)


def test_collage_without_tiles_is_mediapipe_rule(models):
    """The whole-frame detection alone (MediaPipe's rule) finds fewer: the reason for tiles."""
    poses = PosePipeline(*models, max_people=9, tiles=(1,)).process(_collage(3, 3))
    assert len(poses) < 9


def test_zidane_both_men(models, variant):
    image = _photo("zidane.jpg")
    poses = PosePipeline(*models).process(image)
    assert len(poses) == 2
    noses = sorted(p.keypoints[NOSE, 0] for p in poses)
    # the man leaning forward left of the centre, the standing man on the right
    assert 450 < noses[0] < 700 and 900 < noses[1] < 1100
    for p in poses:
        kp = p.keypoints
        assert kp[NOSE, 1] < kp[[L_HIP, R_HIP], 1].mean()  # the head above the hips
        assert kp[[L_SHOULDER, R_SHOULDER], 1].mean() < kp[[L_HIP, R_HIP], 1].mean()


def test_bus_the_two_men_in_front(models, variant):
    """bus.jpg has 4 people: the two men in front of the bus are found; the two cut by the
    frame's left and right edges (faces cut or turned away) are not (the target of issue 15
    is 3 of 4: not met, see docs/pipeline.md)."""
    image = _photo("bus.jpg")
    poses = PosePipeline(*models).process(image)
    assert len(poses) == 2
    for p in poses:
        _upright(p, image.shape)
        # standing people: the ankles are far below the shoulders
        assert p.keypoints[27:29, 1].mean() - p.keypoints[[11, 12], 1].mean() > 250
    noses = sorted(p.keypoints[NOSE, 0] for p in poses)
    assert 100 < noses[0] < 200 and 250 < noses[1] < 350


# pan frame 4: with the landmark crop's border replicated (MediaPipe's rule, the default) a
# tile candidate in a part of her (a pose of presence 0.95 whose box, about 115 x 170 px,
# overlaps hers; its points lie 30-400 px from hers, so OKS does not merge them) passes the
# second landmark pass (stable region, upright) and is kept as a second person; with
# border="zero" it is not
_PAN_GAPS = {4: "a tile candidate in a part of her is confirmed as a second person with the "
                "replicated border"}


@pytest.mark.parametrize("index", [
    pytest.param(i, marks=pytest.mark.xfail(strict=True, reason=_PAN_GAPS[i]))
    if i in _PAN_GAPS else i for i in range(6)])
def test_one_person_on_the_pan_frames(models, index):
    """The single-person frames of the MediaPipe oracle: one pose each with the default tiles
    (no duplicate of the person from a tile, no person found in a part of her), and the same
    pose as MediaPipe's own whole-frame rule (``tiles=(1,)``), since her detection on the
    whole frame is the one that counts."""
    from wasmpose.tools.mediapipe_ref import pan_frames

    for frame in pan_frames(6)[index:index + 1]:
        default = PosePipeline(*models).process(frame)
        single = PosePipeline(*models, tiles=(1,)).process(frame)
        assert len(default) == len(single) == 1
        np.testing.assert_allclose(default[0].keypoints, single[0].keypoints, atol=1e-3)
        _upright(default[0], frame.shape)


def test_replicated_border_matches_mediapipe_on_every_oracle_frame(models, variant):
    """With MediaPipe's border rule for the landmark crop (``border="replicate"``) the
    pipeline's landmarks are within issue 15's 1.5% of MediaPipe's on every frame of the
    oracle (the measure of tests/pipeline/test_oracle.py: its frames, well-seen keypoints and
    box height), with the default tiles."""
    from tests.pipeline.test_oracle import FOUND, TOLERANCE, _frame, distances

    for entry in FOUND:
        poses = PosePipeline(*models, max_people=1, tracking=False, smoothing=False,
                             border="replicate").process(_frame(entry))
        assert len(poses) == 1
        rel = distances(entry, poses[0].keypoints)[0]
        assert rel <= TOLERANCE, f"{entry['name']}: {rel:.2%}"


def test_detect_every_runs_the_detector_on_schedule(models):
    image = _astronaut()
    pipe = PosePipeline(*models, tiles=(1,), detect_every=2)
    results = list(pipe.run([image] * 5))
    assert pipe.stats()["detections"] == 3  # frames 0, 2 and 4
    # the person found again by the detector is the tracked one: same id, no duplicate
    assert [[p.track_id for p in r.poses] for r in results] == [[0]] * 5


def test_run_with_a_progress_bar(models, capsys):
    pytest.importorskip("tqdm")
    pipe = PosePipeline(*models, tiles=(1,))
    results = list(pipe.run(iter([_astronaut()] * 2), progress=True))
    assert len(results) == 2
    assert "frames" in capsys.readouterr().err


def test_reset_forgets_people_and_stats(models):
    pipe = PosePipeline(*models, tiles=(1,))
    pipe.process(_astronaut())
    pipe.reset()
    assert pipe.stats()["frames"] == 0
    [pose] = pipe.process(_astronaut())
    assert pose.track_id == 0 and pipe.stats()["detections"] == 1
