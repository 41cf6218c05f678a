"""grayscale: bit-exact with OpenCV on every 8-bit RGB triple, float path within 1e-6."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import layouts
from wasmpose.cpu import opt_level
from wasmpose.image import _kernels, grayscale

cv2 = pytest.importorskip("cv2")

CODES = {
    ("rgb", 3): cv2.COLOR_RGB2GRAY,
    ("bgr", 3): cv2.COLOR_BGR2GRAY,
    ("rgb", 4): cv2.COLOR_RGBA2GRAY,
    ("bgr", 4): cv2.COLOR_BGRA2GRAY,
}


@pytest.fixture(scope="module")
def all_rgb():
    """Every 24-bit colour once: a 4096 x 4096 x 3 uint8 image."""
    v = np.arange(1 << 24, dtype=np.uint32)
    img = np.empty((1 << 24, 3), np.uint8)
    img[:, 0] = v >> 16
    img[:, 1] = (v >> 8) & 255
    img[:, 2] = v & 255
    return img.reshape(4096, 4096, 3)


@pytest.mark.slow
@pytest.mark.parametrize("order,nch", list(CODES))
def test_uint8_all_colours_bit_exact(all_rgb, variant, order, nch):
    img = all_rgb
    if nch == 4:
        alpha = (np.arange(img.shape[0] * img.shape[1]) * 7 % 256).astype(np.uint8)
        img = np.concatenate([img, alpha.reshape(img.shape[:2] + (1,))], axis=-1)
    expected = cv2.cvtColor(img, CODES[order, nch])
    got = grayscale(img, order=order if nch == 3 else order + "a")
    assert got.dtype == np.uint8 and got.shape == img.shape[:2]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("order,nch", list(CODES))
def test_float32_all_colours_within_1e6(all_rgb, variant, order, nch):
    img = all_rgb[::4].astype(np.float32) / np.float32(255)  # 4M colours, every R value
    if nch == 4:
        img = np.concatenate([img, np.full(img.shape[:2] + (1,), 0.5, np.float32)], axis=-1)
    expected = cv2.cvtColor(img, CODES[order, nch])
    got = grayscale(img, order=order)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def test_float64_matches_opencv_float_path_and_formula(variant, rng):
    img = rng.random((64, 80, 3))
    got = grayscale(img)
    assert got.dtype == np.float64
    expected32 = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY)
    np.testing.assert_allclose(got, expected32, rtol=1e-6)
    exact = 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]
    np.testing.assert_allclose(got, exact, rtol=1e-15)


def test_float_extremes(variant):
    img = np.array([[[0, 0, 0], [1, 1, 1], [np.inf, 0, 0], [np.nan, 0, 0], [-1, -1, -1]]],
                   np.float32)
    got = grayscale(img)
    assert got[0, 0] == 0 and abs(got[0, 1] - 1) < 1e-6 and got[0, 2] == np.inf
    assert np.isnan(got[0, 3]) and abs(got[0, 4] + 1) < 1e-6


def test_batch_dimensions(variant, rng):
    img = rng.integers(0, 256, (2, 3, 17, 19, 3), dtype=np.uint8)
    got = grayscale(img)
    assert got.shape == (2, 3, 17, 19)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(got[i, j], cv2.cvtColor(img[i, j], cv2.COLOR_RGB2GRAY))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_layouts_give_the_same_result(variant, rng, dtype):
    img = (rng.random((13, 21, 4)) * 255).astype(dtype)
    expected = grayscale(np.ascontiguousarray(img))
    for name, a in layouts(img).items():
        np.testing.assert_array_equal(grayscale(a), expected, err_msg=name)


def test_out_argument(variant, rng):
    img = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    out = np.empty((10, 12), np.uint8)
    assert grayscale(img, out=out) is out
    np.testing.assert_array_equal(out, cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    # a non-contiguous out is filled too
    big = np.zeros((10, 24), np.uint8)
    res = grayscale(img, out=big[:, ::2])
    np.testing.assert_array_equal(res, out)
    np.testing.assert_array_equal(big[:, ::2], out)
    assert not big[:, 1::2].any()


def test_empty_images(variant):
    for shape in [(0, 5, 3), (5, 0, 3), (0, 4, 4, 3)]:
        got = grayscale(np.zeros(shape, np.uint8))
        assert got.shape == shape[:-1] and got.dtype == np.uint8


@given(
    img=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=3, max_dims=5, min_side=0, max_side=9).map(
            lambda s: s[:-1] + (3,)),
        elements={"allow_nan": False, "allow_infinity": False, "min_value": 0,
                  "max_value": 255},
    ),
    order=st.sampled_from(["rgb", "bgr"]),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_property_every_variant_matches_reference(img, order, data):
    flip = data.draw(st.booleans())
    if flip and img.ndim:
        img = img[..., ::-1, :]
    with opt_level("none"):
        ref = grayscale(np.ascontiguousarray(img), order=order)
    for level in ("serial", "parallel", "full"):
        with opt_level(level):
            got = grayscale(img, order=order)
        if img.dtype == np.uint8:
            np.testing.assert_array_equal(got, ref)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-6)


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad,exc,words", [
    (np.zeros((4, 4, 3), np.int16), TypeError, ["img", "uint8", "int16"]),
    (np.zeros((4, 4, 3), np.float16), TypeError, ["img", "float16"]),
    (np.zeros((4, 3), np.uint8), ValueError, ["img", "(4, 3)"]),
    (np.zeros((4, 4, 2), np.uint8), ValueError, ["img", "channels", "(4, 4, 2)"]),
    (np.zeros((4, 4, 5), np.uint8), ValueError, ["img", "channels"]),
    (None, TypeError, ["img"]),
    ("image", TypeError, ["img", "str"]),
])
def test_bad_img(bad, exc, words):
    with pytest.raises(exc) as info:
        grayscale(bad)
    for w in words:
        assert w in str(info.value)


def test_bad_order():
    img = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match="order.*'hsv'"):
        grayscale(img, order="hsv")
    with pytest.raises(TypeError, match="order"):
        grayscale(img, order=3)


@pytest.mark.parametrize("out,exc,words", [
    (np.empty((2, 3), np.uint8), ValueError, ["out", "shape", "(2, 2)", "(2, 3)"]),
    (np.empty((2, 2), np.float32), ValueError, ["out", "dtype", "uint8", "float32"]),
    ([[0, 0], [0, 0]], TypeError, ["out", "list"]),
])
def test_bad_out(out, exc, words):
    with pytest.raises(exc) as info:
        grayscale(np.zeros((2, 2, 3), np.uint8), out=out)
    for w in words:
        assert w in str(info.value)


def test_readonly_out_rejected_and_untouched():
    out = np.full((2, 2), 7, np.uint8)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out.*read-only"):
        grayscale(np.zeros((2, 2, 3), np.uint8), out=out)
    assert (out == 7).all()


# -- the formulations of the uint8 kernel ------------------------------------------------------
@pytest.mark.skipif(_kernels.GRAY_U8_ISA != "avx2", reason="needs a CPU Numba compiles AVX2 for")
@pytest.mark.parametrize("nch", [3, 4])
@pytest.mark.parametrize("bgr", [False, True])
def test_avx2_blocks_match_the_portable_loop_and_opencv(rng, nch, bgr):
    """Every length around the 32-pixel blocks and the 4 bytes a 3-channel block reads past
    its pixels, slices starting anywhere (unaligned), extremes included."""
    cv2 = pytest.importorskip("cv2")
    code = {(3, False): cv2.COLOR_RGB2GRAY, (3, True): cv2.COLOR_BGR2GRAY,
            (4, False): cv2.COLOR_RGBA2GRAY, (4, True): cv2.COLOR_BGRA2GRAY}[nch, bgr]
    big = rng.integers(0, 256, 4 * 300 * nch, dtype=np.uint8)
    big[: 64 * nch] = 255
    big[64 * nch: 128 * nch] = 0
    for n in [*range(0, 70), 95, 96, 97, 127, 128, 129, 1000]:
        for start in (0, 1, 7):
            src = big[start * nch: (start + n) * nch]
            fast, plain = np.empty(n, np.uint8), np.empty(n, np.uint8)
            _kernels._gray_u8_avx2(src, fast, nch, bgr)
            _kernels._gray_u8_portable(src, plain, nch, bgr)
            assert np.array_equal(fast, plain), (n, start)
            if n:
                want = cv2.cvtColor(np.ascontiguousarray(src).reshape(1, n, nch), code)
                assert np.array_equal(fast, want.reshape(-1)), (n, start)


def test_formulation_is_named_in_show_config(capsys):
    from wasmpose import show_config

    show_config()
    assert f"grayscale uint8 formulation: {_kernels.GRAY_U8_ISA}" in capsys.readouterr().out


def test_portable_formulation_when_numba_targets_no_avx2():
    """A NUMBA_CPU_FEATURES override without AVX2 (portable caches) selects the plain loop:
    the AVX2 blocks would not compile for that target."""
    import os
    import platform
    import subprocess
    import sys

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86 only")
    code = ("import numpy as np\n"
            "from wasmpose.image import _kernels, grayscale\n"
            "img = np.arange(5 * 40 * 3, dtype=np.uint8).reshape(5, 40, 3)\n"
            "w = np.array([9798, 19235, 3735])\n"
            "want = (img.astype(np.int64) @ w + 2**14) >> 15\n"
            "assert np.array_equal(grayscale(img), want)\n"
            "print(_kernels.GRAY_U8_ISA)\n")
    env = dict(os.environ, NUMBA_CPU_NAME="x86-64",
               NUMBA_CPU_FEATURES="+64bit,+cmov,+cx8,+fxsr,+mmx,+sse,+sse2",
               NUMBA_DISABLE_CACHE="1")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["portable"]
