"""normalize against torch.nn.functional.layer_norm and a float64 computation;
to_tensor against the float64 formula (and cv2.dnn's blob where installed)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import layouts
from wasmpose.cpu import opt_level
from wasmpose.image import IMAGENET_MEAN, IMAGENET_STD, normalize, to_tensor
from wasmpose.tools.peers import opencv_blob


def normalize64(x, axis=None, eps=1e-8):
    x = x.astype(np.float64)
    axes = tuple(range(x.ndim)) if axis is None else axis
    m = x.mean(axis=axes, keepdims=True)
    v = ((x - m) ** 2).mean(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


@pytest.mark.parametrize("n", [1, 2, 1000, 1 << 20, (1 << 20) + 3])
def test_normalize_all_axes_float32_within_1e6_of_float64(variant, rng, n):
    x = (rng.standard_normal(n) * 3 + 100).astype(np.float32)
    got = normalize(x)
    assert got.dtype == np.float32
    assert np.abs(got - normalize64(x)).max() <= 1e-6


def test_normalize_16m_elements_blocked_accumulation(rng):
    x = (rng.standard_normal(1 << 24) * 0.5 + 1000).astype(np.float32)
    for level in ("simd", "full"):
        with opt_level(level):
            assert np.abs(normalize(x) - normalize64(x)).max() <= 1e-6


@pytest.mark.parametrize("shape,axis", [
    ((4, 10, 16), -1), ((4, 10, 16), (-2, -1)), ((2, 3, 8, 8), (1, 2, 3)), ((3, 1000), -1),
    ((64, 4096), -1), ((2, 70000), -1),
])
def test_normalize_matches_torch_layer_norm(variant, rng, shape, axis):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(np.float32) * 5 + 2
    axes = axis if isinstance(axis, tuple) else (axis,)
    norm_shape = tuple(shape[a] for a in axes)
    expected = torch.nn.functional.layer_norm(torch.from_numpy(x), norm_shape, eps=1e-5).numpy()
    got = normalize(x, axis=axis, eps=1e-5)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("axis", [0, 1, 2, (0, 2), (0, 1, 2), None, -3])
def test_normalize_any_axes_float64(variant, rng, axis):
    x = rng.standard_normal((5, 6, 7))
    np.testing.assert_allclose(normalize(x, axis=axis), normalize64(x, axis), rtol=1e-12,
                               atol=1e-12)


def test_normalize_constant_nan_inf_and_empty(variant):
    assert (normalize(np.full(100, 3.0, np.float32)) == 0).all()
    assert np.isnan(normalize(np.array([1.0, np.nan, 2.0]))).all()
    assert np.isnan(normalize(np.array([1.0, np.inf, 2.0], np.float32))).any()
    assert normalize(np.zeros((0, 4)), axis=-1).shape == (0, 4)
    assert normalize(np.float64(5.0) * np.ones(())).shape == ()
    # eps=0 on constant input divides 0 by 0, as the formula does
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(normalize(np.ones(4), eps=0.0)).all()


def test_normalize_layouts_and_out(variant, rng):
    x = rng.standard_normal((9, 11, 5)).astype(np.float32)
    expected = normalize(np.ascontiguousarray(x), axis=(0, 1))
    for name, a in layouts(x).items():
        np.testing.assert_allclose(normalize(a, axis=(0, 1)), expected, rtol=1e-6, atol=1e-7,
                                   err_msg=name)
    out = np.empty_like(x)
    assert normalize(x, axis=(0, 1), out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    y = x.copy()
    normalize(y, out=y)  # in place
    np.testing.assert_allclose(y, normalize(x), rtol=1e-6, atol=1e-7)


@given(
    x=hnp.arrays(st.sampled_from([np.float32, np.float64]),
                 hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=9),
                 elements=st.floats(-1e3, 1e3, width=32)),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_normalize_property_variants_agree(x, data):
    axis = data.draw(st.sampled_from([None, -1, 0, tuple(range(x.ndim))]))
    with opt_level("none"):
        ref = normalize(x, axis=axis)
    for level in ("simd", "parallel", "full"):
        with opt_level(level):
            np.testing.assert_allclose(normalize(x[::-1], axis=axis), ref[::-1], rtol=1e-5,
                                       atol=1e-5)


@pytest.mark.parametrize("kwargs,exc,words", [
    ({"x": np.zeros(3, np.uint8)}, TypeError, ["x", "float32", "uint8"]),
    ({"x": np.zeros(3), "axis": 1}, ValueError, ["axis", "[-1, 0]", "1"]),
    ({"x": np.zeros((3, 3)), "axis": (0, 0)}, ValueError, ["axis", "distinct"]),
    ({"x": np.zeros(3), "axis": 0.5}, TypeError, ["axis"]),
    ({"x": np.zeros(3), "eps": -1}, ValueError, ["eps", ">= 0"]),
    ({"x": np.zeros(3), "eps": float("nan")}, ValueError, ["eps"]),
    ({"x": np.zeros(3), "out": np.zeros(3, np.float32)}, ValueError, ["out", "dtype"]),
])
def test_normalize_bad_input(kwargs, exc, words):
    with pytest.raises(exc) as info:
        normalize(**kwargs)
    for w in words:
        assert w in str(info.value)


# --- to_tensor ------------------------------------------------------------------------------
def to_tensor64(img, mean, std, scale=1 / 255, layout="nchw"):
    img = img[None] if img.ndim == 3 else img
    t = (img.astype(np.float64) * scale - np.asarray(mean, np.float64)) / np.asarray(std,
                                                                                    np.float64)
    return t.transpose(0, 3, 1, 2) if layout == "nchw" else t


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_to_tensor_every_value_within_1e6(variant, layout):
    img = np.stack(list(np.meshgrid(np.arange(256), np.arange(256), indexing="ij")) +
                   [np.arange(256)[::-1, None] * np.ones(256, int)], -1).astype(np.uint8)
    for mean, std, scale in [(IMAGENET_MEAN, IMAGENET_STD, 1 / 255), ((0, 0, 0), (1, 1, 1), 1.0),
                             ((127.5,) * 3, (127.5,) * 3, 1.0), (0.5, 0.25, 1 / 255)]:
        got = to_tensor(img, mean, std, scale=scale, layout=layout)
        expected = to_tensor64(img, mean, std, scale, layout)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-6 * max(1.0, np.abs(expected).max() / 4)


def test_to_tensor_batches_layouts_and_out(variant, rng):
    imgs = rng.integers(0, 256, (3, 17, 23, 3), dtype=np.uint8)
    expected = to_tensor64(imgs, IMAGENET_MEAN, IMAGENET_STD)
    got = to_tensor(imgs)
    assert got.shape == (3, 3, 17, 23)
    assert np.abs(got - expected).max() <= 1e-6
    for name, a in layouts(imgs).items():
        np.testing.assert_array_equal(to_tensor(a), got, err_msg=name)
    out = np.empty((3, 17, 23, 3), np.float32)
    assert to_tensor(imgs, layout="nhwc", out=out) is out
    np.testing.assert_array_equal(out, got.transpose(0, 2, 3, 1))
    single = to_tensor(imgs[1])
    assert single.shape == (1, 3, 17, 23)
    np.testing.assert_array_equal(single[0], got[1])
    assert to_tensor(np.zeros((0, 4, 4, 3), np.uint8)).shape == (0, 3, 4, 4)
    assert to_tensor(np.zeros((4, 0, 3), np.uint8)).shape == (1, 3, 4, 0)


def test_to_tensor_matches_opencv_blob(rng):
    cv2 = pytest.importorskip("cv2")
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    blob = opencv_blob(cv2, img, IMAGENET_MEAN, IMAGENET_STD)()
    np.testing.assert_allclose(to_tensor(img), blob, atol=1e-5)


@pytest.mark.parametrize("args,kwargs,exc,words", [
    ((np.zeros((4, 4, 3), np.float32),), {}, TypeError, ["img", "uint8", "float32"]),
    ((np.zeros((4, 4), np.uint8),), {}, ValueError, ["img", "(H, W, 3)", "(4, 4)"]),
    ((np.zeros((4, 4, 4), np.uint8),), {}, ValueError, ["img", "3 channels"]),
    ((np.zeros((4, 4, 3), np.uint8), (0, 0)), {}, ValueError, ["mean", "3 values"]),
    ((np.zeros((4, 4, 3), np.uint8), 0, (1, 0, 1)), {}, ValueError, ["std", "non-zero"]),
    ((np.zeros((4, 4, 3), np.uint8), 0, (1, np.nan, 1)), {}, ValueError, ["std", "finite"]),
    ((np.zeros((4, 4, 3), np.uint8),), {"layout": "chw"}, ValueError, ["layout", "'chw'"]),
    ((np.zeros((4, 4, 3), np.uint8),), {"scale": "x"}, TypeError, ["scale"]),
    ((np.zeros((4, 4, 3), np.uint8),), {"out": np.zeros((1, 4, 4, 3), np.float32)},
     ValueError, ["out", "(1, 3, 4, 4)"]),
    ((np.zeros((4, 4, 3), np.uint8),), {"out": np.zeros((1, 3, 4, 4))}, ValueError,
     ["out", "float32", "float64"]),
])
def test_to_tensor_bad_input(args, kwargs, exc, words):
    with pytest.raises(exc) as info:
        to_tensor(*args, **kwargs)
    for w in words:
        assert w in str(info.value)
