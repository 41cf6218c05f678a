"""decode_simcc against rtmlib's get_simcc_maximum and its split-ratio division.

The oracle is the transcription in ``tests/oracles.py`` (rtmlib 0.0.16's ``"mean"`` score, and
the ``"min"`` score of mmpose and rtmlib up to 0.0.9); where rtmlib is installed, the
transcription is checked against it. Every comparison is exact (``assert_array_equal``, which
counts NaN equal to NaN).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import layouts
from tests.oracles import rtmlib_decode_simcc, rtmlib_get_simcc_maximum, rtmlib_module
from wasmpose.cpu import opt_level
from wasmpose.heatmap import decode_simcc

SCORES = ["min", "mean"]


def _oracle(x, y, split_ratio=2.0, score="min"):
    single = x.ndim == 2
    c, s = rtmlib_decode_simcc(x[None] if single else x, y[None] if single else y,
                               split_ratio, score=score)
    return (c[0], s[0]) if single else (c, s)


def _check(x, y, split_ratio=2.0, score="min"):
    coords, scores = decode_simcc(x, y, split_ratio=split_ratio, score=score)
    want_c, want_s = _oracle(np.asarray(x), np.asarray(y), split_ratio, score)
    assert coords.dtype == np.float32 and scores.dtype == np.float32
    assert coords.shape == want_c.shape and scores.shape == want_s.shape
    np.testing.assert_array_equal(coords, want_c)
    np.testing.assert_array_equal(scores, want_s)
    return coords, scores


def _simcc(rng, n, k, w, peak=True):
    """RTMPose-like vectors: a Gaussian bump per keypoint over low noise (float32)."""
    x = rng.normal(0.0, 0.02, (n, k, w)).astype(np.float32)
    if peak:
        centre = rng.uniform(0, w, (n, k, 1))
        x += np.exp(-0.5 * ((np.arange(w) - centre) / 4.0) ** 2).astype(np.float32)
    return x


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("wx, wy", [(384, 512), (576, 768), (1, 1), (63, 65), (64, 128),
                                    (200, 7)])
def test_matches_rtmlib(variant, rng, score, wx, wy):
    x, y = _simcc(rng, 10, 17, wx), _simcc(rng, 10, 17, wy)
    x[0, :3] *= -1  # negative maxima: score <= 0, coords -1 / split_ratio
    y[1, 2] = 0.0
    _check(x, y, score=score)
    _check(x[3], y[3], score=score)  # (K, W): one person


@pytest.mark.parametrize("ratio", [1.0, 2.0, 1.5, 3.0, 0.3, 2.5])
def test_split_ratio_divides_in_float32(variant, rng, ratio):
    x, y = _simcc(rng, 3, 17, 300), _simcc(rng, 3, 17, 301)
    coords, _ = _check(x, y, split_ratio=ratio)
    assert (coords[coords >= 0] * np.float32(ratio) <= 301).all()


def test_plateaus_ties_and_signed_zeros(variant):
    # every tie resolves to the first index, as np.argmax; -0.0 and 0.0 tie
    w = 150
    x = np.zeros((6, w), np.float32)
    x[1, [3, 70, 140]] = 0.5  # ties across blocks
    x[2] = 1.0  # a plateau: index 0
    x[3, :] = -0.0
    x[3, 100] = 0.0  # -0.0 == 0.0: index 0 (score 0: coords -1 anyway)
    x[4, 149] = 2.0  # the maximum in the last (partial) block
    x[5, 0] = 2.0
    y = np.full((6, 10), 0.25, np.float32)
    for score in SCORES:
        coords, scores = _check(x, y, score=score)
    assert coords[1, 0] == 1.5 and coords[2, 0] == 0.0 and coords[4, 0] == 74.5


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_infinities(variant):
    x = np.zeros((4, 70), np.float32)
    x[0, 65] = np.inf
    x[1] = -np.inf
    x[2, [5, 66]] = np.inf
    x[3] = np.float32(3.4e38)
    y = np.ones((4, 9), np.float32)
    y[3] = np.float32(3.4e38)  # the mean overflows float32 to inf, as rtmlib's
    for score in SCORES:
        _check(x, y, score=score)


@pytest.mark.parametrize("where", [0, 1, 63, 64, 65, 199])
def test_nan_rows_follow_argmax(variant, where):
    x = np.linspace(0, 1, 200, dtype=np.float32)[None].repeat(4, 0)
    x[0, where] = np.nan
    x[1, where] = -np.nan  # sign bit set: its order key sits below -inf
    x[2, [where, 150]] = np.nan
    y = np.ones((4, 5), np.float32)
    y[3, 2] = np.nan  # NaN in y only: "min" keeps x's maximum (mmpose's mask), "mean" is NaN
    for score in SCORES:
        coords, scores = _check(x, y, score=score)
        assert coords[0, 0] == np.float32(where) / 2
    assert not np.isnan(decode_simcc(x, y, score="min")[1][3])
    assert np.isnan(decode_simcc(x, y, score="mean")[1][3])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_hypothesis_shapes_values_layouts(data):
    lead = data.draw(st.sampled_from([(), (0,), (1,), (3,), (2, 5), (0, 4), (3, 0)]))
    lead = lead if len(lead) else (data.draw(st.integers(0, 6)),)
    wx = data.draw(st.integers(1, 150))
    wy = data.draw(st.integers(1, 150))
    # few distinct values: ties, zeros of both signs, negatives, infinities, NaN
    values = st.sampled_from([0.0, -0.0, 0.5, 1.0, -1.0, 0.25, np.inf, -np.inf, np.nan, 3e38])
    x = data.draw(hnp.arrays(np.float32, (*lead, wx), elements=values))
    y = data.draw(hnp.arrays(np.float32, (*lead, wy), elements=values))
    score = data.draw(st.sampled_from(SCORES))
    ratio = data.draw(st.sampled_from([2.0, 1.0, 1.5]))
    level = data.draw(st.sampled_from(["none", "simd", "parallel", "full"]))
    if 0 in lead:
        coords, scores = decode_simcc(x, y, split_ratio=ratio, score=score)
        assert coords.shape == (*lead, 2) and scores.shape == lead
        return
    with opt_level(level):
        want = decode_simcc(x, y, split_ratio=ratio, score=score)
        _check(x, y, ratio, score)
        for lx, ly in zip(layouts(x).values(), layouts(y).values(), strict=True):
            got = decode_simcc(lx, ly, split_ratio=ratio, score=score)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


def test_batched_equals_single(variant, rng):
    x, y = _simcc(rng, 4, 17, 96), _simcc(rng, 4, 17, 128)
    coords, scores = decode_simcc(x, y)
    for i in range(4):
        c, s = decode_simcc(x[i], y[i])
        np.testing.assert_array_equal(c, coords[i])
        np.testing.assert_array_equal(s, scores[i])


def test_empty(variant):
    for lead in [(0,), (0, 17), (3, 0)]:
        coords, scores = decode_simcc(np.zeros((*lead, 8), np.float32),
                                      np.zeros((*lead, 6), np.float32))
        assert coords.shape == (*lead, 2) and scores.shape == lead
        assert coords.dtype == np.float32 and scores.dtype == np.float32
    with pytest.raises(ValueError, match="simcc_x, simcc_y: expected non-empty vectors"):
        decode_simcc(np.zeros((2, 0), np.float32), np.zeros((2, 4), np.float32))


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((np.zeros((2, 4)), np.zeros((2, 4), np.float32)), {}, TypeError,
     "simcc_x: expected dtype float32, got float64"),
    ((np.zeros((2, 4), np.float32), np.zeros((2, 4), np.int32)), {}, TypeError,
     "simcc_y: expected dtype float32, got int32"),
    ((np.zeros(4, np.float32), np.zeros(4, np.float32)), {}, ValueError,
     r"simcc_x: expected a \(K, W\) or \(N, K, W\) array, got shape \(4,\)"),
    ((np.zeros((1, 2, 3, 4), np.float32), np.zeros((2, 4), np.float32)), {}, ValueError,
     "simcc_x: expected a"),
    ((np.zeros((2, 4), np.float32), np.zeros((3, 4), np.float32)), {}, ValueError,
     r"simcc_y: expected the leading shape \(2,\) of simcc_x"),
    ((np.zeros((2, 2, 4), np.float32), np.zeros((2, 4), np.float32)), {}, ValueError,
     "simcc_y: expected the leading shape"),
    ((None, np.zeros((2, 4), np.float32)), {}, TypeError, "simcc_x: expected a numpy array"),
    ((np.zeros((2, 4), np.float32),) * 2, {"split_ratio": 0.0}, ValueError,
     "split_ratio: expected a positive number, got 0.0"),
    ((np.zeros((2, 4), np.float32),) * 2, {"split_ratio": -2}, ValueError,
     "split_ratio: expected a positive number"),
    ((np.zeros((2, 4), np.float32),) * 2, {"split_ratio": float("nan")}, ValueError,
     "split_ratio: expected a number, got nan"),
    ((np.zeros((2, 4), np.float32),) * 2, {"split_ratio": float("inf")}, ValueError,
     "split_ratio: expected a finite number"),
    ((np.zeros((2, 4), np.float32),) * 2, {"split_ratio": "2"}, TypeError,
     "split_ratio: expected a real number, got str"),
    ((np.zeros((2, 4), np.float32),) * 2, {"score": "max"}, ValueError,
     "score: expected 'min' or 'mean', got 'max'"),
    ((np.zeros((2, 4), np.float32),) * 2, {"score": None}, TypeError,
     "score: expected 'min' or 'mean', got NoneType"),
])
def test_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        decode_simcc(*args, **kwargs)


def test_transcription_matches_installed_rtmlib(rng):
    post = rtmlib_module("post_processings")
    x, y = _simcc(rng, 5, 17, 192), _simcc(rng, 5, 17, 256)
    x[0, :4] *= -1
    x[1, 1, 7] = np.nan
    want = post.get_simcc_maximum(x.copy(), y.copy())
    got = rtmlib_get_simcc_maximum(x.copy(), y.copy(), score="mean")
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    coords, scores = decode_simcc(x, y, score="mean")
    np.testing.assert_array_equal(coords, want[0] / 2.0)
    np.testing.assert_array_equal(scores, want[1])
