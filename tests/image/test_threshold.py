"""threshold and otsu_threshold: bit-exact with cv2.threshold."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import layouts
from wasmpose.cpu import opt_level
from wasmpose.image import otsu_threshold, threshold

cv2 = pytest.importorskip("cv2")

KINDS = {
    "binary": cv2.THRESH_BINARY,
    "binary_inv": cv2.THRESH_BINARY_INV,
    "trunc": cv2.THRESH_TRUNC,
    "tozero": cv2.THRESH_TOZERO,
    "tozero_inv": cv2.THRESH_TOZERO_INV,
}
U8_THRESHOLDS = [-1e9, -5, -0.5, 0, 0.5, 1, 99.5, 127, 127.999, 200.25, 254, 254.5, 255, 255.5,
                 300, 1e9, float("inf"), float("-inf")]
U8_MAXVALS = [255, 0, 1, 100, 100.5, 101.5, 254.5, 255.49, 300, -3]


@pytest.fixture(scope="module")
def u8_image():
    return np.arange(256 * 3, dtype=np.uint16).astype(np.uint8).reshape(24, 32)


@pytest.mark.parametrize("kind", list(KINDS))
def test_uint8_every_value_every_threshold(variant, u8_image, kind):
    for t in U8_THRESHOLDS:
        for m in U8_MAXVALS:
            if np.isinf(t):
                continue  # cvFloor(inf) is undefined in OpenCV; checked separately below
            expected = cv2.threshold(u8_image, t, m, KINDS[kind])[1]
            got = threshold(u8_image, t, m, kind=kind)
            np.testing.assert_array_equal(got, expected, err_msg=f"thresh={t} maxval={m}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_uint8_infinite_thresholds_behave_as_the_extremes(variant, u8_image, kind):
    np.testing.assert_array_equal(threshold(u8_image, np.inf, kind=kind),
                                  cv2.threshold(u8_image, 1e9, 255, KINDS[kind])[1])
    np.testing.assert_array_equal(threshold(u8_image, -np.inf, kind=kind),
                                  cv2.threshold(u8_image, -1e9, 255, KINDS[kind])[1])


F32_SPECIALS = np.array([0, -0.0, 1e-45, -1e-45, 0.1, 0.5, 1, 127, 127.5, 255, 1e30, -1e30,
                         np.inf, -np.inf, np.nan, 3.4028235e38], np.float32)


# wasmpose's own rule for NaN pixels, one per kind: binary and binary_inv give 0 (a NaN fails
# every comparison), trunc, tozero and tozero_inv keep the NaN. OpenCV agrees on every kind but
# trunc, where its answer is not stable: OpenCV 5.1 computes trunc as min(x, thresh) with SIMD
# min instructions whose NaN rule depends on the operand order, so the same build writes the
# threshold or keeps the NaN depending on the CPU's dispatched path (AVX2 vs AVX-512), on
# cv2.setUseOptimized and on whether the NaN sits in the vectorised body or the scalar tail
# (test_opencv_trunc_nan_is_not_stable shows it). wasmpose keeps the NaN, as np.minimum does.
NAN_RESULT = {"binary": 0.0, "binary_inv": 0.0, "trunc": np.nan, "tozero": np.nan,
              "tozero_inv": np.nan}


def opencv_where_stable(x, t, m, kind):
    """cv2.threshold's result, with wasmpose's NaN rule where OpenCV's is not stable (trunc)."""
    expected = cv2.threshold(x, t, m, KINDS[kind])[1].reshape(x.shape)
    if kind == "trunc":
        expected = np.where(np.isnan(x), np.float32(np.nan), expected)
    return expected


@pytest.mark.parametrize("kind", list(KINDS))
def test_float32_random_specials_and_fractional_thresholds(variant, rng, kind):
    x = np.concatenate([rng.normal(0, 100, 5000).astype(np.float32), F32_SPECIALS,
                        np.nextafter(np.float32(0.1), np.float32(1)) * np.ones(3, np.float32)])
    for t in [0.0, 0.1, -0.5, 127.5, 1e-40, 1e30, np.inf, -np.inf, 3.4e38]:
        for m in [255, 1.0, 0.1, -2.5, 1e38, np.inf]:
            expected = opencv_where_stable(x, t, m, kind)
            got = threshold(x, t, m, kind=kind)
            np.testing.assert_array_equal(got, expected, err_msg=f"thresh={t} maxval={m}")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("n", [1, 7, 8, 16, 33, 1000])
def test_float32_nan_rule_at_every_position(variant, kind, n):
    """wasmpose's NaN rule holds wherever the NaN sits (vector body or tail), every kind."""
    base = np.linspace(-5, 5, n, dtype=np.float32)
    for pos in sorted({0, n // 2, n - 1}):
        x = base.copy()
        x[pos] = np.nan
        got = threshold(x, 0.5, 3.0, kind=kind)
        want = NAN_RESULT[kind]
        if np.isnan(want):
            assert np.isnan(got[pos]), (kind, n, pos, got[pos])
        else:
            assert got[pos] == want, (kind, n, pos, got[pos])
        others = np.delete(np.arange(n), pos)
        np.testing.assert_array_equal(got[others], opencv_where_stable(x, 0.5, 3.0, kind)[others])


def test_opencv_trunc_nan_is_not_stable():
    """Why trunc's NaN is wasmpose's own rule: OpenCV's answer changes with its code path.

    With its optimised paths off, OpenCV writes the threshold over a NaN pixel; with them on it
    keeps the NaN on some CPUs and writes the threshold on others. If a future OpenCV settles on
    one answer for every path, this test fails and says so: then compare trunc's NaN with it.
    """
    x = np.arange(100, dtype=np.float32)
    x[::3] = np.nan
    answers = set()
    optimized = cv2.useOptimized()
    try:
        for flag in (True, False):
            cv2.setUseOptimized(flag)
            r = cv2.threshold(x, 2.5, 255, cv2.THRESH_TRUNC)[1].reshape(-1)[::3]
            answers.update("nan" if np.isnan(v) else "thresh" if v == 2.5 else repr(v)
                           for v in r)
    finally:
        cv2.setUseOptimized(optimized)
    assert answers == {"nan", "thresh"}, (
        f"OpenCV {cv2.__version__} now gives {sorted(answers)} for NaN under THRESH_TRUNC on "
        "every path: revisit NAN_RESULT['trunc'] and opencv_where_stable")


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("n", [1, 7, 1000, 1 << 20])
def test_sizes_and_variants_agree(variant, rng, dtype, n):
    x = (rng.random(n) * 255).astype(dtype)
    for kind, code in KINDS.items():
        np.testing.assert_array_equal(threshold(x, 100.5, 200, kind=kind),
                                      cv2.threshold(x, 100.5, 200, code)[1].reshape(-1))


def test_any_shape_and_layout(variant, rng):
    x = rng.integers(0, 256, (3, 5, 7, 2), dtype=np.uint8)
    expected = threshold(np.ascontiguousarray(x), 50, kind="tozero")
    for name, a in layouts(x).items():
        np.testing.assert_array_equal(threshold(a, 50, kind="tozero"), expected, err_msg=name)
    assert threshold(np.uint8(9) * np.ones((), np.uint8), 5).shape == ()
    assert threshold(np.zeros((0, 3), np.float32), 1).shape == (0, 3)


def test_out_and_in_place(variant, rng):
    x = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    expected = cv2.threshold(x, 90, 255, cv2.THRESH_BINARY)[1]
    out = np.empty_like(x)
    assert threshold(x, 90, out=out) is out
    np.testing.assert_array_equal(out, expected)
    y = x.copy()
    assert threshold(y, 90, out=y) is y  # in place
    np.testing.assert_array_equal(y, expected)


@given(
    x=hnp.arrays(st.sampled_from([np.uint8, np.float32]),
                 hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=8),
                 elements={"min_value": 0, "max_value": 255, "allow_nan": False}),
    t=st.floats(-10, 270, allow_nan=False),
    m=st.floats(0, 255),
    kind=st.sampled_from(list(KINDS)),
)
@settings(max_examples=80, deadline=None)
def test_property_variants_match_reference(x, t, m, kind):
    with opt_level("none"):
        ref = threshold(x, t, m, kind=kind)
    for level in ("serial", "parallel", "full"):
        with opt_level(level):
            np.testing.assert_array_equal(threshold(x[::-1], t, m, kind=kind), ref[::-1])


@pytest.mark.parametrize("args,kwargs,exc,words", [
    ((np.zeros(3, np.int32), 1), {}, TypeError, ["x", "uint8", "int32"]),
    ((np.zeros(3, np.float64), 1), {}, TypeError, ["x", "float32", "float64"]),
    ((np.zeros(3, np.uint8), "1"), {}, TypeError, ["thresh"]),
    ((np.zeros(3, np.uint8), float("nan")), {}, ValueError, ["thresh", "nan"]),
    ((np.zeros(3, np.uint8), 1, float("nan")), {}, ValueError, ["maxval", "nan"]),
    ((np.zeros(3, np.float32), 10**400), {}, ValueError, ["thresh", "float range"]),
    ((np.zeros(3, np.uint8), -10**400), {}, ValueError, ["thresh", "float range"]),
    ((np.zeros(3, np.uint8), 1, 10**400), {}, ValueError, ["maxval", "float range"]),
    ((np.zeros(3, np.float32), 1, -10**400), {}, ValueError, ["maxval", "float range"]),
    ((np.zeros(3, np.uint8), 1), {"kind": "otsu"}, ValueError, ["kind", "'otsu'"]),
    ((np.zeros(3, np.uint8), 1), {"kind": 0}, TypeError, ["kind"]),
    ((np.zeros(3, np.uint8), 1), {"out": np.zeros(4, np.uint8)}, ValueError, ["out", "shape"]),
    ((np.zeros(3, np.uint8), 1), {"out": np.zeros(3, np.float32)}, ValueError, ["out", "dtype"]),
])
def test_bad_input(args, kwargs, exc, words):
    with pytest.raises(exc) as info:
        threshold(*args, **kwargs)
    for w in words:
        assert w in str(info.value)


# --- Otsu -----------------------------------------------------------------------------------
def _photographs():
    data = pytest.importorskip("skimage.data")
    imgs = {name: getattr(data, name)() for name in
            ("camera", "coins", "moon", "page", "text", "clock", "grass", "brick", "gravel")}
    for name in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field"):
        imgs[name] = cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2GRAY)
    return imgs


@pytest.fixture(scope="module")
def photographs():
    return _photographs()


def test_otsu_on_photographs(variant, photographs):
    for name, g in photographs.items():
        expected, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        assert otsu_threshold(g) == expected, name
        assert otsu_threshold(np.asfortranarray(g)[::-1]) == expected, name


def test_otsu_edge_cases(variant, rng):
    cases = {
        "constant": np.full((7, 9), 42, np.uint8),
        "two values": np.array([[0, 255] * 8], np.uint8),
        "single pixel": np.array([[5]], np.uint8),
        "random": rng.integers(0, 256, (300, 301), dtype=np.uint8),
        "large": rng.integers(0, 256, (1100, 1000), dtype=np.uint8),
        "skewed": np.concatenate([np.zeros(10000), np.full(3, 255)]).astype(np.uint8)[None],
    }
    for name, g in cases.items():
        expected, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        assert otsu_threshold(g) == expected, name


def test_otsu_bad_input():
    with pytest.raises(TypeError, match="gray.*uint8.*float32"):
        otsu_threshold(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"gray.*\(H, W\).*\(3, 3, 3\)"):
        otsu_threshold(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="gray.*non-empty"):
        otsu_threshold(np.zeros((0, 3), np.uint8))


@pytest.mark.parametrize("maxval", [float("inf"), float("-inf"), 1e300, -1e300, 2**70, 255.5])
def test_uint8_infinite_and_huge_maxval_saturate_as_opencv(variant, u8_image, maxval, kind):
    # issue 13: threshold(uint8, maxval=inf) raised where OpenCV saturates to 255 (-inf: 0)
    expected = cv2.threshold(u8_image, 99.5, maxval, KINDS[kind])[1]
    np.testing.assert_array_equal(threshold(u8_image, 99.5, maxval, kind=kind), expected)


@pytest.fixture(params=list(KINDS))
def kind(request):
    return request.param


def test_byte_swapped_and_misaligned_float32(variant, rng, kind):
    # issue 13: '>f4' arrays were refused; results equal the native-endian input's
    x = rng.normal(0, 2, 1001).astype(np.float32)
    x[::7] = np.nan
    want = threshold(x, 0.25, 3.0, kind=kind)
    swapped = x.astype(x.dtype.newbyteorder())
    raw = np.zeros(x.nbytes + 1, np.uint8)
    misaligned = raw[1:].view(np.float32)
    misaligned[...] = x
    assert not misaligned.flags.aligned
    for a in (swapped, misaligned, swapped[::-1][::-1]):
        got = threshold(a, 0.25, 3.0, kind=kind)
        assert got.dtype == np.float32 and got.dtype.isnative
        np.testing.assert_array_equal(got, want)


def _three_level_images(rng, n):
    """Symmetric 3-level images (equal end counts, equally spaced levels): Otsu's two best
    thresholds tie exactly."""
    for _ in range(n):
        a, c = int(rng.integers(0, 86)), int(rng.integers(1, 86))
        m, k = (int(v) for v in rng.integers(1, 5, 2))
        yield np.repeat(np.array([a, a + c, a + 2 * c], np.uint8), [m, k, m])[None]


def test_otsu_ties_follow_opencvs_own_rule_not_ipp(variant, rng):
    # issue 13: on exact ties OpenCV's default (IPP) path answers differently from its own C++
    # rule; wasmpose follows the C++ rule (documented in otsu_threshold's Notes)
    optimized = cv2.useOptimized()
    differs = 0
    try:
        for g in _three_level_images(rng, 400):
            cv2.setUseOptimized(False)
            plain = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0]
            cv2.setUseOptimized(True)
            ipp = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0]
            assert otsu_threshold(g) == plain
            # IPP only ever picks the other of the two tied thresholds
            assert ipp in (plain, float(g.min()), float(np.median(g)))
            differs += ipp != plain
    finally:
        cv2.setUseOptimized(optimized)
    if cv2.ipp.useIPP():  # x86 wheels: the difference the Notes document still exists
        assert differs
