"""``python -m wasmpose demo``: the synthetic run, its JSON and picture, its failures, and the run
on the real BlazePose model (skipped without ai-edge-litert, or when the model cannot be fetched).
"""

import contextlib
import io
import json
import sys

import numpy as np
import pytest

from wasmpose.__main__ import main
from wasmpose.tools import demo, models

FRAMES = 3
STAGES = ("to_tensor", "sigmoid", "decode_heatmaps", "find_peaks", "oks", "track")
FACE = range(11)  # landmarks 0..10: the keypoints the model sees best on the astronaut
MAX_FACE_ERROR_CELLS = 2.0  # observed over 48 frames: 1.6 cells (6.35 px)


def _run_cli(argv, err=None):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err or sys.stderr):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    paths = {"json": tmp / "demo.json", "png": tmp / "skeleton.png"}
    err = io.StringIO()
    code, text = _run_cli(["demo", "--synthetic", "--frames", str(FRAMES), "--progress",
                           "--json", str(paths["json"]), "--save-image", str(paths["png"])], err)
    paths["stderr"] = err.getvalue()
    return code, text, paths


def test_synthetic_run_reports_every_stage_and_the_pool(synthetic):
    code, text, _ = synthetic
    assert code == 0
    for stage in STAGES:
        assert f"\n{stage} " in text, stage
    assert "inference        (skipped: --synthetic" in text
    assert "buffer pool:" in text and "hit rate" in text
    assert "kernel variants:" in text and "decode_heatmaps=" in text
    assert "CPU " in text and "opt level" in text
    assert "int8" in text and "int4" in text and "generated kernels" in text
    assert f"track ids over the {FRAMES} frames: [0] (the same id all along)" in text


def test_progress_bar_goes_to_stderr(synthetic):
    pytest.importorskip("tqdm")
    _, text, paths = synthetic
    assert "frames:" in paths["stderr"] and f" 0/{FRAMES} " in paths["stderr"]
    assert "frame/s]" not in text
    assert "Warning" not in paths["stderr"]


def _positive(v):
    return isinstance(v, (int, float)) and v > 0 and np.isfinite(v)


def test_json_holds_every_figure(synthetic):
    _, _, paths = synthetic
    r = json.loads(paths["json"].read_text())
    assert r["mode"] == "synthetic" and r["frames"] == FRAMES
    for stage in STAGES:
        row = r["stages"][stage]
        assert _positive(row["wasmpose_ms"]) and _positive(row["first_frame_ms"]), stage
        assert row["frames_timed"] == FRAMES - (2 if stage == "oks" else 1)
        if stage != "sigmoid":  # the one NumPy-only step
            assert _positive(row["simd_ms"]) and _positive(row["numpy_ms"]), stage
            assert _positive(row["x_vs_numpy"]), stage
    assert r["stages"]["inference"]["wasmpose_ms"] is None  # no model: nothing timed
    peers = {"to_tensor": "cv2", "find_peaks": "torch", "oks": "pycocotools"}
    for stage, module in peers.items():
        row = r["stages"][stage]
        try:
            __import__(module)
        except ImportError:
            assert row["peer_ms"] is None
            continue
        assert row["peer"] and _positive(row["peer_ms"]) and _positive(row["x_vs_peer"]), stage
    assert all(_positive(v) for k, v in r["pipeline_ms"].items() if k != "inference_ms")
    assert r["track_ids"] == [0] * FRAMES
    assert len(r["per_frame"]) == FRAMES
    q = r["quantization"]
    assert q["tensors"] > 0 and q["values"] > 0
    for dtype in ("int8", "int4"):
        b = q["bits"][dtype]
        for key in ("sqnr_db", "quantize_ms", "simd_ms", "numpy_ms", "x_vs_numpy", "bytes"):
            assert _positive(b[key]), (dtype, key)
        assert len(b["largest"]) == 3
    assert q["bits"]["int8"]["sqnr_db"] > q["bits"]["int4"]["sqnr_db"] + 15  # ~6 dB a bit
    pool = r["pool"]
    assert pool["hits"] >= 2 * FRAMES - 2 and _positive(pool["peak_bytes"])
    assert _positive(pool["bytes_saved"]) and pool["in_use_bytes"] == 0
    assert r["cpu"]["name"] and set(r["cpu"]["features"]) >= {"avx2", "neon"}
    assert r["kernel_variants"]["decode_heatmaps"].startswith(("numba", "numpy"))
    e = r["landmark_error_px"]
    assert e["median_well_seen"] < 1.0  # generated blobs sit on the landmarks


def _read_png(path):
    """The PNG decoded by Pillow (through scikit-image), another codec than the writer's
    (OpenCV's); by OpenCV where Pillow is missing."""
    try:
        from skimage.io import imread
    except ImportError:
        cv2 = pytest.importorskip("cv2")
        bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert bgr is not None, "OpenCV cannot decode the PNG"
        return bgr[..., ::-1]
    return imread(path)


def test_saved_image_is_a_png_with_the_skeleton(synthetic):
    _, _, paths = synthetic
    img = _read_png(paths["png"])
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    r = json.loads(paths["json"].read_text())
    kp = np.rint(r["per_frame"][-1]["keypoints_px"]).astype(int)
    inside = (kp >= 0).all(axis=1) & (kp < 256).all(axis=1)
    assert inside.sum() >= 20
    # every keypoint inside the frame is a red dot, and both sides' limbs are drawn
    assert (img[kp[inside, 1], kp[inside, 0]] == demo._POINT).all()
    for colour in (demo._LEFT, demo._RIGHT):
        assert (img == colour).all(axis=2).sum() > 50


def test_png_writer_round_trips(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    demo.write_png(tmp_path / "x.png", rgb)
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(_read_png(tmp_path / "x.png"), rgb)  # RGB, not BGR
    with pytest.raises(ValueError, match=r"rgb: expected \(H, W, 3\) uint8, got shape \(7, 5\)"):
        demo.write_png(tmp_path / "y.png", rgb[..., 0])


def test_save_image_without_opencv_fails_before_the_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo, "peer", lambda name: None)
    monkeypatch.setattr(demo, "_video", None)  # the run must not start
    code, text = _run_cli(["demo", "--synthetic", "--frames", "3", "--save-image",
                           str(tmp_path / "x.png")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and text == ""
    assert err.startswith("wasmpose demo: --save-image: the picture is written with OpenCV")
    assert 'pip install "wasmpose[demo]"' in err
    assert not (tmp_path / "x.png").exists()


def test_save_image_into_a_missing_directory_fails_before_the_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo, "_video", None)
    path = tmp_path / "nowhere" / "x.png"
    code, _ = _run_cli(["demo", "--synthetic", "--frames", "3", "--save-image", str(path)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "--save-image: expected a file in an existing directory" in err
    assert repr(str(path)) in err


def test_crop_resize_area_path_matches_the_block_mean():
    image = np.random.default_rng(1).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    block = models.crop_resize(image, -6, 3, 48, 16)  # 3 x 3 blocks: exact integer path
    area = models.crop_resize(image, -6, 3, 48, 17)  # not a multiple: area weights
    assert block.shape == (16, 16, 3) and area.shape == (17, 17, 3)
    a = models._area_weights(48, 16)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    box = np.zeros((48, 48, 3))
    box[:47, 6:46] = image[3:50, 0:40]  # rows 50.. and columns 46.. are outside: zero
    np.testing.assert_allclose(np.einsum("ij,jkc,lk->ilc", a, box, a), block, atol=1e-9)
    np.testing.assert_allclose(area.mean(), block.mean(), rtol=1e-12)  # both keep the mean


@pytest.mark.parametrize("frames", ["2", "x"])
def test_frames_must_be_at_least_three(frames, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--frames", frames])
    assert exc.value.code == 2
    assert f"argument --frames: expected an int >= 3, got '{frames}'" in capsys.readouterr().err


def test_missing_extra_exits_2_and_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    code, text = _run_cli(["demo", "--frames", "3"])
    raw = capsys.readouterr().err
    err = " ".join(raw.split())
    assert code == 2 and text == ""
    assert err.startswith("wasmpose demo: the BlazePose model runs with ai-edge-litert")
    assert 'pip install "wasmpose[demo]"' in err and "--synthetic" in err
    assert "\n\n" not in raw.strip()  # one paragraph


@pytest.fixture
def litert():
    return pytest.importorskip("ai_edge_litert.interpreter")


def test_no_network_exits_2_and_names_the_offline_ways(litert, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WASMPOSE_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip download fails as without network
    code, _ = _run_cli(["demo", "--frames", "3"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "could not fetch the BlazePose model" in err and "mediapipe==0.10.21" in err
    assert "--model PATH" in err and "--synthetic" in err
    assert not list(tmp_path.rglob("*.tflite"))


@pytest.mark.parametrize("kind", ["missing", "not a model"])
def test_bad_model_path_is_a_clear_error(litert, kind, tmp_path, capsys):
    path = tmp_path / "pose.tflite"
    if kind == "not a model":
        path.write_bytes(b"this is not a flatbuffer" * 10)
    code, _ = _run_cli(["demo", "--frames", "3", "--model", str(path)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and err.startswith("wasmpose demo: --model:")
    assert repr(str(path)) in err
    assert ("not a file" if kind == "missing" else "is not a TFLite model") in err


@pytest.fixture(scope="module")
def model_path():
    pytest.importorskip("ai_edge_litert.interpreter")
    try:
        return models.fetch_model(quiet=True)
    except models.FetchError as exc:
        pytest.skip(f"the BlazePose model cannot be fetched here: {exc}")


def test_real_model_keeps_one_track_and_decodes_on_the_landmarks(model_path, tmp_path):
    buf = io.StringIO()
    r = demo.run(frames=6, model=str(model_path), file=buf, json_path=tmp_path / "r.json")
    assert r["mode"] == "model" and r["model"]["sha256"] == models.MODEL_SHA256
    assert r["track_ids"] == [r["track_ids"][0]] * 6, r["track_ids"]
    assert _positive(r["stages"]["inference"]["wasmpose_ms"])
    for f in r["per_frame"]:
        face = [j for j in f["well_seen"] if j in FACE]
        assert len(face) >= 8, f["well_seen"]
        err = np.array(f["landmark_error_px"])[face] / models.HEATMAP_STRIDE
        assert err.max() <= MAX_FACE_ERROR_CELLS, (f["frame"], err)
    q = r["quantization"]
    assert q["counts"]["kernels"] == q["tensors"] == 96
    assert 30 < q["bits"]["int8"]["sqnr_db"] < 50 and 10 < q["bits"]["int4"]["sqnr_db"] < 25
    if q["bits"]["int8"]["torch_ms"] is not None:
        assert q["bits"]["int8"]["bit_exact_with_torch"] is True
    text = buf.getvalue()
    assert "BlazePose full" in text and "inference" in text and "frames/s" in text
    assert json.loads((tmp_path / "r.json").read_text())["track_ids"] == r["track_ids"]
