"""TopKCompressor: exact error feedback, the largest magnitudes, NaN, bad input."""

import math

import numpy as np
import pytest

from wasmpose.quant import TopKCompressor


@pytest.mark.parametrize("ratio", [0.01, 0.07, 0.5, 1.0])
def test_topk_error_feedback_is_exact(rng, ratio):
    tk = TopKCompressor(ratio)
    shape = (13, 17)
    sent = np.zeros(shape)
    total = np.zeros(shape)
    for _ in range(60):
        # dyadic values: every float64 sum here is exact, so equality must hold bit for bit
        g = rng.integers(-2**20, 2**20, shape) / 2.0**10
        idx, val = tk.compress(g)
        assert idx.size == math.ceil(round(ratio * g.size, 9)) and idx.dtype == np.int64
        assert np.all(np.diff(idx) > 0)
        sent += tk.decompress(idx, val, shape)
        total += g
        np.testing.assert_array_equal(sent + tk.residual, total)
    assert TopKCompressor(0.07).k(100) == 7


def test_topk_picks_largest_magnitudes(rng):
    tk = TopKCompressor(0.1)
    g = rng.normal(0, 1, 1000)
    idx, val = tk.compress(g)
    thresh = np.sort(np.abs(g))[-100]
    assert np.all(np.abs(val) >= thresh) and np.all(np.abs(tk.residual) <= thresh)
    with pytest.raises(ValueError, match="g: expected shape"):
        tk.compress(np.zeros(5))
    with pytest.raises(ValueError, match="ratio"):
        TopKCompressor(0)
    with pytest.raises(ValueError, match="indices"):
        tk.decompress(np.array([5]), np.array([1.0]), (3,))
    with pytest.raises(ValueError, match="got 1 NaN"):
        TopKCompressor(0.5).compress(np.array([1.0, np.nan]))


@pytest.mark.parametrize("n_nan", [1, 3, 500])
def test_topk_nan_anywhere_raises_and_keeps_the_residual(rng, n_nan):
    tk = TopKCompressor(0.01)
    tk.compress(rng.normal(0, 1, 1000))
    before = tk.residual.copy()
    g = rng.normal(0, 1, 1000)
    g[rng.choice(1000, n_nan, replace=False)] = np.nan
    with pytest.raises(ValueError, match=f"g: expected no NaN values, got {n_nan} NaN"):
        tk.compress(g)
    np.testing.assert_array_equal(tk.residual, before)
    tk.compress(np.full(1000, -np.inf))  # inf - inf in g + residual is a NaN too
    with pytest.raises(ValueError, match="NaN"):
        tk.compress(np.full(1000, np.inf))


# --- absurd arguments (issue 13) ------------------------------------------------------------------
def test_absurd_arguments():
    with pytest.raises(ValueError, match=r"ratio: expected a value in \(0, 1\], got an int of"):
        TopKCompressor(10**400)  # was OverflowError
    tk = TopKCompressor(0.5)
    assert tk.k(10**30) == 5 * 10**29 and tk.k(10**400) == 5 * 10**399  # exact for any int
    with pytest.raises(ValueError, match="size: expected an int >= 0, got -1"):
        tk.k(-1)
    with pytest.raises(TypeError, match="size: expected an int"):
        tk.k(2.5)
    with pytest.raises(ValueError, match="shape: expected at most .* bytes"):
        TopKCompressor.decompress([0], [1.0], (10**30,))  # was NumPy's unnamed ValueError
    with pytest.raises(ValueError, match="shape: expected at most 64 dimensions"):
        TopKCompressor.decompress([0], [1.0], (1,) * 65)


def test_nan_is_refused_when_nothing_is_sent():
    tk = TopKCompressor(1e-6)  # k = 0 for 5 entries: NaN could hide in the residual
    with pytest.raises(ValueError, match="g: expected no NaN values, got 1 NaN of 5"):
        tk.compress(np.array([1.0, np.nan, 0, 0, 0]))
    assert tk.residual is None


def test_byte_swapped_and_subclassed_gradients():
    g = np.array([[0.1, -3.0], [2.0, 0.5]])
    want = TopKCompressor(0.5).compress(g)
    for h in (g.astype(">f8"), np.asmatrix(g)):
        tk = TopKCompressor(0.5)
        idx, val = tk.compress(h)
        np.testing.assert_array_equal(idx, want[0])
        np.testing.assert_array_equal(val, want[1])
        assert type(tk.residual) is np.ndarray and tk.residual.dtype == np.float64
        out = tk.decompress(idx.astype(">i8"), val.astype(">f8"), (2, 2))
        np.testing.assert_array_equal(out, [[0, -3.0], [2.0, 0]])
