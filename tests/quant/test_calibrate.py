"""calibrate and DynamicQuantizer against torch's observers and ONNX Runtime's calibrator."""

import warnings

import numpy as np
import pytest

from tests.helpers import layouts
from wasmpose.quant import DynamicQuantizer, calibrate, dequantize, quantize, sqnr
from wasmpose.quant import _reference as ref

torch = pytest.importorskip("torch")
obs = pytest.importorskip("torch.ao.quantization")

TD = {"int8": torch.qint8, "uint8": torch.quint8, "int4": torch.qint8, "uint4": torch.quint8}
RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7), "uint4": (0, 15)}
QS = {("affine", False): torch.per_tensor_affine, ("symmetric", False): torch.per_tensor_symmetric,
      ("affine", True): torch.per_channel_affine, ("symmetric", True): torch.per_channel_symmetric}


def torch_observer(dtype, scheme, reduce_range, axis=None, averaging_constant=None):
    kw = dict(dtype=TD[dtype], qscheme=QS[scheme, axis is not None])
    if dtype in ("int4", "uint4"):
        lo, hi = RANGE[dtype]
        kw.update(quant_min=lo // 2 if reduce_range else lo, quant_max=hi // 2 if reduce_range
                  else hi)
    else:
        kw.update(reduce_range=reduce_range)
    if axis is not None:
        kw["ch_axis"] = axis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if averaging_constant is not None:
            cls = (obs.MovingAveragePerChannelMinMaxObserver if axis is not None
                   else obs.MovingAverageMinMaxObserver)
            return cls(averaging_constant=averaging_constant, **kw)
        cls = obs.PerChannelMinMaxObserver if axis is not None else obs.MinMaxObserver
        return cls(**kw)


def expected_zero_point(tzp, dtype, scheme):
    # the API fixes uint4's symmetric zero point at 8; torch's customised range gives (0+15)//2
    if dtype == "uint4" and scheme == "symmetric":
        return np.full_like(tzp, 8)
    return tzp


CASES = [(d, s, r) for d in RANGE for s in ("affine", "symmetric") for r in (False, True)
         if not (s == "symmetric" and r and d in ("uint8", "uint4"))]


def datasets(rng):
    return {
        "normal": rng.normal(0.3, 2.0, (4, 8, 50)).astype(np.float32),
        "positive": rng.uniform(0.5, 3.0, (4, 8, 50)).astype(np.float32),
        "negative": rng.uniform(-7.0, -0.5, (4, 8, 50)).astype(np.float32),
        "constant": np.full((4, 8, 50), 5.0, np.float32),
        "zeros": np.zeros((4, 8, 50), np.float32),
        "tiny": rng.normal(0, 1e-9, (4, 8, 50)).astype(np.float32),
    }


@pytest.mark.parametrize("dtype,scheme,reduce_range", CASES)
def test_minmax_matches_torch_observer(variant, rng, dtype, scheme, reduce_range):
    for name, x in datasets(rng).items():
        o = torch_observer(dtype, scheme, reduce_range)
        o(torch.from_numpy(x))
        ts, tz = o.calculate_qparams()
        p = calibrate(x, dtype=dtype, scheme=scheme, reduce_range=reduce_range)
        assert p.scale.dtype == np.float32 and p.zero_point.dtype == np.int32
        assert p.scale == ts.numpy()[0], name
        assert p.zero_point == expected_zero_point(tz.numpy(), dtype, scheme)[0], name
        assert (p.qmin, p.qmax) == (o.quant_min, o.quant_max)


@pytest.mark.parametrize("dtype,scheme,reduce_range", CASES)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_minmax_per_channel_matches_torch(variant, rng, dtype, scheme, reduce_range, axis):
    x = rng.normal(0, 1, (5, 6, 40)).astype(np.float32) * rng.uniform(0.1, 4, (5, 6, 1)).astype(
        np.float32)
    x[1] = np.abs(x[1])  # a channel-or-slab without negatives
    o = torch_observer(dtype, scheme, reduce_range, axis=axis)
    o(torch.from_numpy(x))
    ts, tz = o.calculate_qparams()
    p = calibrate(x, dtype=dtype, scheme=scheme, axis=axis, reduce_range=reduce_range)
    np.testing.assert_array_equal(p.scale, ts.numpy().astype(np.float32))
    np.testing.assert_array_equal(p.zero_point, expected_zero_point(tz.numpy(), dtype, scheme))
    assert p.axis == axis


def test_minmax_ignores_non_finite_and_layouts(variant, rng):
    x = rng.normal(0, 1, (30, 17)).astype(np.float32)
    want_c = calibrate(x, dtype="int8", axis=1)
    y = x.copy()
    y[3, 4], y[7, 1], y[0, 0] = np.nan, np.inf, -np.inf
    y[3, 5] = x[3, 4] = x[7, 1] = x[0, 0] = 0.0  # same finite values otherwise
    want = calibrate(np.where(np.isfinite(y), y, 0), dtype="uint8")
    assert calibrate(y, dtype="uint8") == want
    for name, a in layouts(x).items():
        assert calibrate(a, dtype="int8", axis=1) == calibrate(x, dtype="int8", axis=1), name
    assert want_c.scale.shape == (17,)


def test_all_non_finite_and_empty(variant):
    with pytest.raises(ValueError, match="x: expected at least one finite value"):
        calibrate(np.array([np.nan, np.inf], np.float32))
    with pytest.raises(ValueError, match=r"channel\(s\) \[1\]"):
        calibrate(np.array([[1.0, 2.0], [np.nan, np.inf]], np.float32), axis=0)
    p = calibrate(np.zeros(0, np.float32))
    assert p.scale == 1.0 and p.zero_point == 0
    p = calibrate(np.zeros((3, 0), np.float32), axis=0, dtype="uint8")
    np.testing.assert_array_equal(p.scale, [1, 1, 1])
    for method in ("percentile", "entropy"):
        with pytest.raises(ValueError, match="finite"):
            calibrate(np.array([np.nan], np.float32), method=method)


def test_minmax_large_parallel_blocks(rng):
    """Blocked parallel reductions agree with NumPy on a multi-block input."""
    from wasmpose.cpu import opt_level

    x = rng.standard_cauchy((1 << 19) + 5).astype(np.float32)
    x[12345] = np.nan
    fin = x[np.isfinite(x)]
    for level in ("none", "simd", "parallel"):
        with opt_level(level):
            lo, hi = calibrate(x, scheme="affine"), calibrate(fin)
            assert lo == hi
            xc = x[: 64 * 8192].reshape(64, 8192)
            got = calibrate(xc, axis=0)
            m = np.where(np.isfinite(xc), xc, np.nan)
            want = calibrate(np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0), axis=0)
            # channels whose only non-finite value is replaced by 0 keep their range
            assert got == want or np.isnan(m).any()
            got_l = calibrate(xc, axis=1)
            assert got_l.scale.shape == (8192,)


@pytest.mark.parametrize("averaging_constant", [None, 0.01, 0.3])
@pytest.mark.parametrize("axis", [None, 1])
@pytest.mark.parametrize("dtype,scheme", [("int8", "affine"), ("uint8", "affine"),
                                          ("int8", "symmetric"), ("uint8", "symmetric")])
def test_dynamic_quantizer_matches_moving_average_observer(rng, averaging_constant, axis,
                                                           dtype, scheme):
    o = torch_observer(dtype, scheme, False, axis=axis, averaging_constant=averaging_constant)
    dq = DynamicQuantizer(dtype=dtype, scheme=scheme, averaging_constant=averaging_constant,
                          axis=axis)
    with pytest.raises(ValueError, match="params: expected at least one observe"):
        dq.params()
    for step in range(12):
        x = (rng.normal(0.1 * step, 1 + step % 3, (16, 6, 5))).astype(np.float32)
        o(torch.from_numpy(x))
        dq.observe(x)
        ts, tz = o.calculate_qparams()
        p = dq.params()
        np.testing.assert_array_equal(np.atleast_1d(p.scale), ts.numpy())
        np.testing.assert_array_equal(np.atleast_1d(p.zero_point), tz.numpy())
    np.testing.assert_array_equal(dq.quantize(x), quantize(x, p))
    dq.observe(np.zeros((0, 6, 5), np.float32))  # skipped, as torch
    assert dq.params() == p
    with pytest.raises(ValueError, match="averaging_constant"):
        DynamicQuantizer(averaging_constant=0)


# --- percentile and entropy --------------------------------------------------------------------
def heavy_tailed(rng, n=200_000):
    x = rng.laplace(0, 1, n).astype(np.float32)
    x[rng.integers(0, n, 20)] *= 60  # a few outliers
    return x


def torch_qparams_from_range(lo, hi, dtype, scheme):
    o = torch_observer(dtype, scheme, False)
    o(torch.tensor([lo, hi], dtype=torch.float32))
    s, z = o.calculate_qparams()
    return np.float32(s.numpy()[0]), int(z.numpy()[0])


@pytest.mark.parametrize("scheme", ["affine", "symmetric"])
def test_percentile_against_numpy(rng, scheme):
    x = heavy_tailed(rng)
    x0 = x.copy()
    p = calibrate(x, method="percentile", percentile=99.9, scheme=scheme, dtype="uint8")
    np.testing.assert_array_equal(x, x0)  # the percentile works on its own copy
    if scheme == "symmetric":
        t = np.float32(np.percentile(np.abs(x), 99.9))
        lo, hi = -t, t
    else:
        lo, hi = np.float32(np.percentile(x, 0.1)), np.float32(np.percentile(x, 99.9))
    s, z = torch_qparams_from_range(lo, hi, "uint8", scheme)
    assert p.scale == s and p.zero_point == z
    pc = calibrate(np.stack([x, 2 * x]), axis=0, method="percentile", percentile=99.9,
                   scheme=scheme, dtype="uint8")
    assert pc.scale[0] == p.scale and pc.zero_point[0] == p.zero_point


def ort_style_entropy(x, bins, qbins):
    """A line-by-line transcription of ONNX Runtime's HistogramCollector (entropy method)."""
    import copy

    from scipy.stats import entropy

    mn, mx = np.nanmin(x), np.nanmax(x)
    threshold = np.array(max(abs(mn), abs(mx)), dtype=x.dtype)
    hist, hist_edges = np.histogram(x, bins, range=(-threshold, threshold))
    num_bins = hist.size
    zero_bin_index = num_bins // 2
    num_half_quantized_bin = qbins // 2
    kl = np.zeros(zero_bin_index - num_half_quantized_bin + 1)
    thresholds = [(0, 0)] * kl.size
    for i in range(num_half_quantized_bin, zero_bin_index + 1, 1):
        start_index = zero_bin_index - i
        end_index = min(zero_bin_index + i + 1, num_bins)
        thresholds[i - num_half_quantized_bin] = (hist_edges[start_index], hist_edges[end_index])
        sliced = copy.deepcopy(hist[start_index:end_index])
        p = sliced.copy()
        p[0] += sum(hist[:start_index])
        p[-1] += sum(hist[end_index:])
        nonzeros = (p != 0).astype(np.int64)
        quantized_bins = np.zeros(qbins, dtype=np.int64)
        num_merged_bins = sliced.size // qbins
        for index in range(qbins):
            start = index * num_merged_bins
            quantized_bins[index] = sum(sliced[start:start + num_merged_bins])
        quantized_bins[-1] += sum(sliced[qbins * num_merged_bins:])
        q = np.zeros(p.size, dtype=np.int64)
        for index in range(qbins):
            start = index * num_merged_bins
            end = start + num_merged_bins
            norm = sum(nonzeros[start:end])
            if norm != 0:
                q[start:end] = quantized_bins[index] / norm
        p = ref.smooth_distribution(p)
        q = ref.smooth_distribution(q)
        kl[i - num_half_quantized_bin] = (np.inf if p is None or q is None else
                                          np.array(entropy(p, q), dtype=x.dtype))
    lo, hi = thresholds[int(np.argmin(kl))]
    return max(float(lo), float(mn)), min(float(hi), float(mx))


@pytest.mark.parametrize("scheme", ["affine", "symmetric"])
def test_entropy_against_reference(rng, scheme):
    pytest.importorskip("scipy")
    x = heavy_tailed(rng, 50_000) + np.float32(0.5)
    lo, hi = ort_style_entropy(x, 512, 128)
    s, z = torch_qparams_from_range(np.float32(lo), np.float32(hi), "int8", scheme)
    p = calibrate(x, method="entropy", bins=512, scheme=scheme)
    assert p.scale == s and p.zero_point == z
    assert hi < x.max() / 2  # the search really clipped


def test_entropy_against_onnxruntime(rng):
    cal = pytest.importorskip("onnxruntime.quantization.calibrate")
    x = heavy_tailed(rng, 50_000)
    col = cal.HistogramCollector("entropy", symmetric=False, num_bins=512, num_quantized_bins=128,
                                 percentile=99.99, scenario="same")
    col.collect({"x": [x]})
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        lo, hi = col.compute_collection_result()["x"][:2]
    s, z = torch_qparams_from_range(np.float32(lo), np.float32(hi), "int8", "affine")
    p = calibrate(x, method="entropy", bins=512)
    assert p.scale == s and p.zero_point == z


@pytest.mark.parametrize("dtype,scheme", [("int8", "symmetric"), ("int4", "symmetric"),
                                          ("int4", "affine")])
def test_clipping_methods_beat_minmax_on_heavy_tails(rng, dtype, scheme):
    # Laplacian weights: heavy tails whose few extreme values waste minmax's range. (With
    # strong outliers carrying much of the energy, int8 clipping can lose: docs/quantization.md.)
    x = rng.laplace(0, 1, 200_000).astype(np.float32)
    err = {}
    for method in ("minmax", "percentile", "entropy"):
        p = calibrate(x, dtype=dtype, scheme=scheme, method=method)
        err[method] = sqnr(x, dequantize(quantize(x, p), p))
    assert err["percentile"] > err["minmax"] and err["entropy"] > err["minmax"], err


def test_bad_options():
    x = np.ones(4, np.float32)
    for kw, exc, msg in (
        (dict(dtype="int16"), ValueError, "dtype: expected one of"),
        (dict(dtype=8), TypeError, "dtype"),
        (dict(scheme="asym"), ValueError, "scheme: expected one of"),
        (dict(method="kl"), ValueError, "method: expected one of"),
        (dict(axis=1), ValueError, r"axis: expected a value in \[-1, 0\], got 1"),
        (dict(axis=1.0), TypeError, "axis: expected an int"),
        (dict(percentile=0), ValueError, "percentile"),
        (dict(percentile=float("nan")), ValueError, "percentile"),
        (dict(reduce_range=1), TypeError, "reduce_range: expected a bool"),
        (dict(dtype="uint8", scheme="symmetric", reduce_range=True), ValueError, "torch refuses"),
        (dict(method="entropy", bins=10), ValueError, "bins"),
    ):
        with pytest.raises(exc, match=msg):
            calibrate(x, **kw)
    with pytest.raises(TypeError, match="x: expected dtype"):
        calibrate(np.ones(3, np.int32))


# --- ranges, percentiles and options at their limits (issue 13) ----------------------------------
def test_percentile_below_50_is_refused_for_affine(rng):
    x = rng.normal(0, 1, 1000).astype(np.float32)
    # was "x: expected at least one finite value, got 1000 non-finite values"
    with pytest.raises(ValueError, match=r"percentile: expected a value in \[50, 100\], got 40"):
        calibrate(x, method="percentile", percentile=40)
    with pytest.raises(ValueError, match=r"percentile: expected a value in \[50, 100\], got an "
                                         r"int of about 401 digits"):
        calibrate(x, method="percentile", percentile=10**400)  # was OverflowError
    # 50 is the median twice; the symmetric scheme takes any percentile of |x|
    med = np.float32(np.percentile(x, 50))
    assert calibrate(x, method="percentile", percentile=50) == calibrate(np.array([med]))
    p = calibrate(x, method="percentile", percentile=40, scheme="symmetric")
    t = np.float32(np.percentile(np.abs(x), 40))
    assert p.scale == np.float32(t / np.float32(127.5))


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_range_too_wide_for_a_float32_scale(method):
    x = np.array([-3e38, 1.0, 3e38] * 10, np.float32)
    # torch's observer returns scale=inf here; the error used to name "scale", not an argument
    o = obs.MinMaxObserver()
    o(torch.from_numpy(x))
    assert np.isinf(o.calculate_qparams()[0].numpy()).all()
    with pytest.raises(ValueError, match=r"x: expected a range of at most 3.402823e\+38 .*got "
                                         r"\[-3e\+38, 3e\+38\]"):
        calibrate(x, method=method, percentile=100)
    with pytest.raises(ValueError, match=r"got \[-3e\+38, 3e\+38\] in channel\(s\) \[1\]"):
        calibrate(np.stack([np.ones(30, np.float32), x]), axis=0, method=method, percentile=100)
    # the symmetric scale never overflows: torch's (finite) parameters
    o = obs.MinMaxObserver(qscheme=torch.per_tensor_symmetric)
    o(torch.from_numpy(x))
    p = calibrate(x, scheme="symmetric", method=method, percentile=100)
    assert p.scale == o.calculate_qparams()[0].numpy()[0]


def test_entropy_histogram_beyond_half_the_float32_range(rng):
    # max|x| > 1.7e38: the float32 histogram range [-t, t] would overflow; it is built in float64
    x = rng.uniform(0, 2e38, 5000).astype(np.float32)
    lo, hi = ref.entropy_threshold(*np.histogram(x.astype(np.float64), 2048,
                                                 range=(-float(x.max()), float(x.max()))), 128)
    p = calibrate(x, method="entropy", scheme="symmetric")
    want = max(abs(np.float32(max(lo, x.min()))), abs(np.float32(min(hi, x.max()))))
    assert p.scale == np.float32(want / np.float32(127.5)) and np.isfinite(p.scale)


def test_empty_channels():
    # (0, 3) along axis 0 has no channel at all: was "scale: expected at least one channel"
    with pytest.raises(ValueError, match=r"x: expected at least one channel along axis 0, got "
                                         r"shape \(0, 3\)"):
        calibrate(np.zeros((0, 3), np.float32), axis=0)
    p = calibrate(np.zeros((0, 3), np.float32), axis=1)  # three empty channels: torch's defaults
    np.testing.assert_array_equal(p.scale, [1, 1, 1])
    with pytest.raises(ValueError, match="axis: expected None for a 0-D array"):
        calibrate(np.float32(1), axis=0)


def test_option_limits():
    x = np.ones(4, np.float32)
    for kw, msg in ((dict(bins=2**40), r"bins: expected an int in \[128, 65536\]"),
                    (dict(bins=10**30), "bins: .*got an int of about 31 digits"),
                    (dict(quantized_bins=10**30), r"quantized_bins: expected an int in \[2, "),
                    (dict(axis=10**30), "axis: .*got an int of about 31 digits")):
        with pytest.raises(ValueError, match=msg):  # bins=2**40 was an 8 TiB MemoryError
            calibrate(x, method="entropy", **kw)
    with pytest.raises(ValueError, match="averaging_constant: .*got an int of about 401"):
        DynamicQuantizer(averaging_constant=10**400)  # was OverflowError


def test_dynamic_quantizer_moving_average_beyond_float32():
    # torch's float32 moving average overflows to -inf when batch - r exceeds float32; the same
    # formula in float64 gives the finite value float32 holds
    dq = DynamicQuantizer(averaging_constant=0.5, scheme="symmetric")
    dq.observe(np.array([1e38, 3e38], np.float32))
    dq.observe(np.array([-3e38, -1e38], np.float32))
    f = [float(np.float32(v)) for v in (1e38, 3e38, -3e38, -1e38)]
    assert dq.min_val == np.float32(f[0] + 0.5 * (f[2] - f[0]))
    assert dq.max_val == np.float32(f[1] + 0.5 * (f[3] - f[1]))
    assert np.isfinite(dq.params().scale)
    dq = DynamicQuantizer()
    dq.observe(np.array([-3e38, 3e38], np.float32))
    with pytest.raises(ValueError, match="observed range: expected a range of at most"):
        dq.params()
