"""The model wrappers: BlazePose through ai-edge-litert (batched calls equal single calls, the
detector's batched output order), and ``OnnxPoseModel`` on small ONNX models that the tests
build with the ``onnx`` package (no download), checked against ``decode_simcc`` and
``decode_heatmaps`` on the model's own outputs computed with NumPy."""

import numpy as np
import pytest

from wasmpose._fetch import FetchError
from wasmpose.heatmap import decode_heatmaps, decode_simcc


@pytest.fixture(scope="module")
def blazepose():
    pytest.importorskip("ai_edge_litert.interpreter")
    from wasmpose.pipeline import BlazePoseDetector, BlazePoseLandmarker

    try:
        return BlazePoseDetector(num_threads=1), BlazePoseLandmarker(num_threads=1)
    except FetchError as exc:
        pytest.skip(f"cannot fetch the mediapipe wheel here: {exc}")


def test_detector_batch_equals_single_calls(blazepose):
    det, _ = blazepose
    x = np.random.default_rng(0).uniform(-1, 1, (3, 224, 224, 3)).astype(np.float32)
    boxes, scores = det(x)
    assert boxes.shape == (3, 2254, 12) and scores.shape == (3, 2254, 1)
    for i in range(3):
        b1, s1 = det(x[i:i + 1])
        np.testing.assert_allclose(boxes[i], b1[0], rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(scores[i], s1[0], rtol=1e-5, atol=1e-4)


def test_landmarker_batch_equals_single_calls(blazepose):
    _, lm = blazepose
    x = np.random.default_rng(1).uniform(0, 1, (2, 256, 256, 3)).astype(np.float32)
    out = lm(x)
    assert out["landmarks"].shape == (2, 33, 5) and out["auxiliary"].shape == (2, 2, 5)
    assert out["presence"].shape == (2,) and out["heatmaps"].shape == (2, 64, 64, 39)
    assert ((out["landmarks"][..., 3:] >= 0) & (out["landmarks"][..., 3:] <= 1)).all()
    for i in range(2):
        one = lm(x[i:i + 1])
        for key in ("landmarks", "presence", "heatmaps"):
            np.testing.assert_allclose(out[key][i], one[key][0], rtol=1e-4, atol=1e-3)
    empty = lm(np.zeros((0, 256, 256, 3), np.float32))
    assert empty["landmarks"].shape == (0, 33, 5)


@pytest.mark.parametrize("batch, error", [
    (np.zeros((1, 224, 224, 3), np.float64), TypeError),
    (np.zeros((224, 224, 3), np.float32), ValueError),
    (np.zeros((1, 256, 256, 3), np.float32), ValueError),
])
def test_detector_bad_batch(blazepose, batch, error):
    with pytest.raises(error, match="batch"):
        blazepose[0](batch)


def test_bad_model_arguments(tmp_path):
    pytest.importorskip("ai_edge_litert.interpreter")
    from wasmpose.pipeline import BlazePoseDetector, BlazePoseLandmarker

    with pytest.raises(ValueError, match="variant"):
        BlazePoseLandmarker("huge")
    with pytest.raises(ValueError, match="model_path"):
        BlazePoseDetector(tmp_path / "missing.tflite")
    with pytest.raises(ValueError, match="num_threads"):
        BlazePoseDetector(num_threads=0)


def test_missing_runtime_names_the_extra(monkeypatch):
    import builtins

    from wasmpose import _fetch

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("ai_edge_litert"):
            raise ImportError("no ai_edge_litert")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"wasmpose\[demo\]"):
        _fetch.load_interpreter("model.tflite")


# ---------------------------------------------------------------------------------------------
# OnnxPoseModel on models built here
# ---------------------------------------------------------------------------------------------
def _weights(k, seed=0):
    return np.random.default_rng(seed).normal(size=(k, 3)).astype(np.float32)


def _simcc_model(path, k=5, h=32, w=24, split=2):
    """x (N, 3, h, w) -> per keypoint a channel mix f (N, K, h, w), upsampled by ``split`` on
    both axes; simcc_x = max over rows, simcc_y = max over columns."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    wts = _weights(k)
    nodes = [
        helper.make_node("Einsum", ["x", "w"], ["f"], equation="nchw,kc->nkhw"),
        helper.make_node("Resize", ["f", "", "scales"], ["u"], mode="nearest"),
        helper.make_node("ReduceMax", ["u"], ["sx"], axes=[2], keepdims=0),
        helper.make_node("ReduceMax", ["u"], ["sy"], axes=[3], keepdims=0),
    ]
    g = helper.make_graph(
        nodes, "simcc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("sx", TensorProto.FLOAT, ["N", k, w * split]),
         helper.make_tensor_value_info("sy", TensorProto.FLOAT, ["N", k, h * split])],
        [helper.make_tensor("w", TensorProto.FLOAT, wts.shape, wts.ravel()),
         helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, split, split])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)

    def reference(x):
        f = np.einsum("nchw,kc->nkhw", x, wts)
        u = f.repeat(split, axis=2).repeat(split, axis=3)
        return u.max(axis=2), u.max(axis=3)

    return reference


def _heatmap_model(path, k=4, h=32, w=24):
    """x (N, 3, h, w) -> heatmaps (N, K, h / 4, w / 4): a channel mix then 4 x 4 average pool."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    wts = _weights(k, 1)
    nodes = [
        helper.make_node("Einsum", ["x", "w"], ["f"], equation="nchw,kc->nkhw"),
        helper.make_node("AveragePool", ["f"], ["hm"], kernel_shape=[4, 4], strides=[4, 4]),
    ]
    g = helper.make_graph(
        nodes, "heat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("hm", TensorProto.FLOAT, ["N", k, h // 4, w // 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, wts.shape, wts.ravel())])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)

    def reference(x):
        f = np.einsum("nchw,kc->nkhw", x, wts)
        n, kk = f.shape[:2]
        return f.reshape(n, kk, h // 4, 4, w // 4, 4).mean(axis=(3, 5))

    return reference


def test_onnx_simcc_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from wasmpose.pipeline import OnnxPoseModel

    path = tmp_path / "simcc.onnx"
    reference = _simcc_model(path)
    model = OnnxPoseModel(path, codec="simcc", input_size=(24, 32), num_threads=1)
    assert model.input_size == (24, 32) and model.layout == "nchw"
    x = np.random.default_rng(2).normal(size=(3, 3, 32, 24)).astype(np.float32)
    out = model(x)
    sx, sy = reference(x)
    coords, scores = decode_simcc(sx.astype(np.float32), sy.astype(np.float32), split_ratio=2.0)
    np.testing.assert_allclose(out["landmarks"][..., :2], coords, atol=1e-6)
    np.testing.assert_allclose(out["landmarks"][..., 2], scores, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["presence"], scores.mean(-1), rtol=1e-4, atol=1e-4)


def test_onnx_heatmap_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from wasmpose.pipeline import OnnxPoseModel

    path = tmp_path / "heat.onnx"
    reference = _heatmap_model(path)
    model = OnnxPoseModel(path, codec="heatmap", input_size=(24, 32), num_threads=1)
    x = np.random.default_rng(3).normal(size=(2, 3, 32, 24)).astype(np.float32)
    out = model(x)
    coords, scores = decode_heatmaps(reference(x).astype(np.float32))
    found = coords[..., 0] >= 0
    np.testing.assert_allclose(out["landmarks"][..., :2][found], (coords * 4)[found], atol=1e-5)
    np.testing.assert_allclose(out["landmarks"][..., 2], scores, rtol=1e-4, atol=1e-5)


def test_onnx_model_in_the_pipeline(tmp_path, blazepose):
    """A 17-keypoint ONNX model behind the BlazePose detector: poses of 17 keypoints, regions
    from the keypoints' box, ids from COCO's OKS sigmas."""
    pytest.importorskip("onnxruntime")
    from skimage.data import astronaut

    from wasmpose.pipeline import OnnxPoseModel, PosePipeline

    path = tmp_path / "simcc17.onnx"
    _simcc_model(path, k=17, h=64, w=64)
    model = OnnxPoseModel(path, codec="simcc", input_size=(64, 64), num_threads=1)
    pipe = PosePipeline(blazepose[0], model, tiles=(1,), min_presence=0.0)
    results = list(pipe.run([astronaut()] * 2))
    assert [len(r.poses) for r in results] == [1, 1]
    pose = results[1].poses[0]
    assert pose.keypoints.shape == (17, 3) and pose.track_id == 0
    assert pipe.stats()["detections"] == 1  # the second frame's region came from tracking


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(codec="dark", input_size=(24, 32)), ValueError, "codec"),
    (dict(codec="simcc", input_size=24), TypeError, "input_size"),
    (dict(codec="simcc", input_size=(24, 0)), ValueError, "input_size"),
    (dict(codec="simcc", input_size=(24, 32), split_ratio=0), ValueError, "split_ratio"),
    (dict(codec="heatmap", input_size=(24, 32), layout="chw"), ValueError, "layout"),
])
def test_onnx_bad_arguments(tmp_path, kwargs, error, match):
    pytest.importorskip("onnxruntime")
    from wasmpose.pipeline import OnnxPoseModel

    path = tmp_path / "simcc.onnx"
    _simcc_model(path)
    with pytest.raises(error, match=match):
        OnnxPoseModel(path, **kwargs)


def test_onnx_missing_file_and_bad_batch(tmp_path):
    pytest.importorskip("onnxruntime")
    from wasmpose.pipeline import OnnxPoseModel

    with pytest.raises(ValueError, match="path"):
        OnnxPoseModel(tmp_path / "none.onnx", codec="simcc", input_size=(24, 32))
    path = tmp_path / "simcc.onnx"
    _simcc_model(path)
    model = OnnxPoseModel(path, codec="simcc", input_size=(24, 32))
    with pytest.raises(ValueError, match="batch"):
        model(np.zeros((1, 3, 24, 32), np.float32))
    with pytest.raises(TypeError, match="batch"):
        model(np.zeros((1, 3, 32, 24), np.float64))
