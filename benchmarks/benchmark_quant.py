"""Benchmarks of :mod:`wasmpose.quant` against its NumPy reference and PyTorch.

``impl``: ``wasmpose`` (``OptLevel.FULL``), ``wasmpose-serial`` (one thread), ``numpy`` (the
reference, ``OptLevel.NONE``, unless a suite says otherwise), ``torch``
(``torch.quantize_per_tensor`` / ``_per_channel``, ``Tensor.dequantize``, ``MinMaxObserver`` /
``PerChannelMinMaxObserver`` with its default threads; skipped when torch is missing).
Data: :func:`common.weights`, Gaussian weights as ``(64, n / 64)``; per-channel cases quantise
along axis 0 (64 channels).

The components built on the kernels have their own suites: ``QuantizedTensorOps``
(``from_float``, ``dequantize``, ``save``, ``load``), ``DynamicQuantizerObserve``,
``ErrorMetrics`` (``mse``, ``sqnr``) and ``TopK`` (``TopKCompressor.compress``).
``peakmem_quantize`` is the peak memory of one ``quantize`` (16M weights are 64 MiB).
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from wasmpose.quant import (
    DynamicQuantizer,
    QuantizedTensor,
    QuantParams,
    TopKCompressor,
    calibrate,
    dequantize,
    mse,
    pack_int4,
    quantize,
    sqnr,
    unpack_int4,
)

from . import common
from .benchmark_image import SIZES_1D

IMPLS = ["wasmpose", "wasmpose-serial", "numpy", "torch"]
SIZES = ["1M", "16M"]


def _torch_quantized(torch, t, p):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if p.axis is None:
            return torch.quantize_per_tensor(t, float(p.scale), int(p.zero_point), torch.qint8)
        return torch.quantize_per_channel(t, torch.from_numpy(p.scale.astype(np.float64)),
                                          torch.from_numpy(p.zero_point.astype(np.int64)),
                                          p.axis, torch.qint8)


class _WeightsSuite(common.KernelSuite):
    """One int8 function on :func:`common.weights`, per tensor or (``per_channel``) along axis 0.

    Subclasses return the timed callable from ``_wasmpose(x, axis)`` and ``_torch(torch, x,
    axis)``; ``axis`` is ``None`` per tensor.
    """

    params = [IMPLS, SIZES]
    param_names = ["impl", "size"]
    per_channel = False

    def setup(self, impl, size):
        x = common.weights(SIZES_1D[size])
        axis = 0 if self.per_channel else None
        if impl == "torch":
            fn = self._torch(common.require_peer("torch"), x, axis)
        else:
            fn = self._wasmpose(x, axis)
        self._start(impl, (type(self).__name__, impl, size), fn)


class _Quantize(_WeightsSuite):
    def _wasmpose(self, x, axis):
        p = calibrate(x, axis=axis)
        return lambda: quantize(x, p)

    def _torch(self, torch, x, axis):
        p = calibrate(x, axis=axis)
        t = torch.from_numpy(x)
        return lambda: _torch_quantized(torch, t, p)

    def time_quantize(self, impl, size):
        self.fn()

    def peakmem_quantize(self, impl, size):
        self.fn()


class QuantizePerTensor(_Quantize):
    """``quantize`` with per-tensor int8 params vs ``torch.quantize_per_tensor``."""


class QuantizePerChannel(_Quantize):
    """``quantize`` with 64 per-channel int8 params vs ``torch.quantize_per_channel``."""

    per_channel = True


class Dequantize(_WeightsSuite):
    """``dequantize`` of per-tensor int8 vs ``Tensor.dequantize()``."""

    def _wasmpose(self, x, axis):
        p = calibrate(x, axis=axis)
        q = quantize(x, p)
        return lambda: dequantize(q, p)

    def _torch(self, torch, x, axis):
        return _torch_quantized(torch, torch.from_numpy(x), calibrate(x, axis=axis)).dequantize

    def time_dequantize(self, impl, size):
        self.fn()


class DequantizePerChannel(Dequantize):
    """``dequantize`` of 64-channel int8 vs ``Tensor.dequantize()`` of ``quantize_per_channel``."""

    per_channel = True


class CalibrateMinMax(_WeightsSuite):
    """``calibrate(x)`` (minmax, affine int8) vs ``MinMaxObserver`` forward + calculate_qparams."""

    def _wasmpose(self, x, axis):
        return lambda: calibrate(x, axis=axis)

    def _torch(self, torch, x, axis):
        from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

        obs = (MinMaxObserver(dtype=torch.qint8) if axis is None
               else PerChannelMinMaxObserver(ch_axis=axis, dtype=torch.qint8))
        t = torch.from_numpy(x)

        def fn():
            obs.reset_min_max_vals()
            obs(t)
            return obs.calculate_qparams()

        return fn

    def time_calibrate(self, impl, size):
        self.fn()


class CalibrateMinMaxPerChannel(CalibrateMinMax):
    """``calibrate(x, axis=0)`` (64 channels) vs ``PerChannelMinMaxObserver(ch_axis=0)``."""

    per_channel = True


class CalibrateMethods(common.KernelSuite):
    """``calibrate`` with the percentile and entropy methods (1M weights, affine int8).

    Both are NumPy code in wasmpose (no kernel). ``numpy`` is the plain formulation of the
    percentile method, ``np.percentile(x, [0.01, 99.99])`` (the entropy method has no simpler
    NumPy form: skipped); ``onnxruntime`` is ONNX Runtime's ``HistogramCollector`` (collect +
    compute, 2048 bins, 128 quantised bins, as wasmpose's defaults).
    """

    params = [["wasmpose", "numpy", "onnxruntime"], ["percentile", "entropy"]]
    param_names = ["impl", "method"]
    repeat = (3, 10, 2.0)

    def setup(self, impl, method):
        x = common.weights(SIZES_1D["1M"])
        if impl == "numpy":
            if method != "percentile":
                raise NotImplementedError("no plain NumPy formulation of the entropy method")
            fn = lambda: np.percentile(x, [0.01, 99.99])  # noqa: E731
        elif impl == "onnxruntime":
            fn = self._onnxruntime(common.require_peer("onnxruntime.quantization.calibrate"),
                                   x, method)
        else:
            fn = lambda: calibrate(x, method=method)  # noqa: E731
        self._start(impl, ("calibrate-method", impl, method), fn)

    @staticmethod
    def _onnxruntime(cal, x, method):
        import contextlib
        import io

        def fn():
            col = cal.HistogramCollector(method, symmetric=False, num_bins=2048,
                                         num_quantized_bins=128, percentile=99.99,
                                         scenario="same")
            with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
                col.collect({"x": [x]})
                return col.compute_collection_result()["x"]

        return fn

    def time_calibrate(self, impl, method):
        self.fn()


class CalibrateEntropyPerChannel(common.KernelSuite):
    """``calibrate(w, method="entropy", axis=0)`` of a (64, 32, 3, 3) conv weight, bins=2048:
    64 KL threshold searches, compiled vs the NumPy reference loop (no peer: ONNX Runtime's
    calibrator is per tensor and slower than the reference)."""

    params = [["wasmpose", "wasmpose-serial", "numpy"]]
    param_names = ["impl"]
    repeat = (2, 10, 4.0)
    timeout = 300

    def setup(self, impl):
        w = common.weights(64 * 32 * 9).reshape(64, 32, 3, 3)
        fn = lambda: calibrate(w, method="entropy", axis=0)  # noqa: E731
        self._start(impl, ("calibrate-entropy-channel", impl), fn)

    def time_calibrate(self, impl):
        self.fn()


class Int4Packing(common.KernelSuite):
    """``pack_int4`` / ``unpack_int4`` of int4 values stored one a byte (throughput = size/time)."""

    params = [["wasmpose", "wasmpose-serial", "numpy"], SIZES]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        n = SIZES_1D[size]
        x = common.weights(n)
        q = quantize(x, QuantParams(0.02, 0, "int4"))
        packed = pack_int4(q)
        self.pack = lambda: pack_int4(q)
        self.unpack = lambda: unpack_int4(packed, q.shape, "int4")
        self._start(impl, ("int4", impl, size), lambda: (self.pack(), self.unpack()))

    def time_pack(self, impl, size):
        self.pack()

    def time_unpack(self, impl, size):
        self.unpack()


class QuantizedTensorOps(common.KernelSuite):
    """``QuantizedTensor`` of 16M weights (64 MiB float32), per-tensor affine int8 or int4.

    ``from_float`` (calibrate + quantize + pack), ``dequantize`` (unpack + dequantize),
    ``save`` / ``load`` (``.npz`` without pickle). ``numpy`` runs the same at ``OptLevel.NONE``.
    ``torch``: ``MinMaxObserver`` + ``quantize_per_tensor`` (``qint8`` or the packed
    ``quint4x2``), ``Tensor.dequantize()``, ``torch.save`` / ``torch.load`` of the quantised
    tensor.
    """

    params = [["wasmpose", "numpy", "torch"], ["int8", "int4"]]
    param_names = ["impl", "dtype"]
    repeat = (3, 20, 2.0)

    def setup(self, impl, dtype):
        x = common.weights(SIZES_1D["16M"])
        path = os.path.join(common.tmpdir(), f"{impl}-{dtype}")
        if impl == "torch":
            self._torch(common.require_peer("torch"), x, dtype, path + ".pt")
        else:
            qt = QuantizedTensor.from_float(x, dtype=dtype)
            qt.save(path + ".npz")
            self.ops = {
                "from_float": lambda: QuantizedTensor.from_float(x, dtype=dtype),
                "dequantize": qt.dequantize,
                "save": lambda: qt.save(path + ".npz"),
                "load": lambda: QuantizedTensor.load(path + ".npz"),
            }
        # compile or load the kernels: from_float and dequantize reach them all
        self._start(impl, ("qtensor", impl, dtype),
                    lambda: (self.ops["from_float"](), self.ops["dequantize"]()))

    def _torch(self, torch, x, dtype, path):
        from torch.ao.quantization import MinMaxObserver

        t = torch.from_numpy(x)
        qdtype = torch.qint8 if dtype == "int8" else torch.quint4x2

        def from_float():
            obs = MinMaxObserver(dtype=torch.qint8 if dtype == "int8" else torch.quint8,
                                 quant_min=None if dtype == "int8" else 0,
                                 quant_max=None if dtype == "int8" else 15)
            obs(t)
            scale, zp = obs.calculate_qparams()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.quantize_per_tensor(t, float(scale), int(zp), qdtype)

        q = from_float()
        torch.save(q, path)
        self.ops = {
            "from_float": from_float,
            "dequantize": q.dequantize,
            "save": lambda: torch.save(q, path),
            "load": lambda: torch.load(path),
        }

    def time_from_float(self, impl, dtype):
        self.ops["from_float"]()

    def time_dequantize(self, impl, dtype):
        self.ops["dequantize"]()

    def time_save(self, impl, dtype):
        self.ops["save"]()

    def time_load(self, impl, dtype):
        self.ops["load"]()


class DynamicQuantizerObserve(common.KernelSuite):
    """``DynamicQuantizer.observe`` of a 1M-value batch: running min/max, or moving average
    (constant 0.01), vs ``MinMaxObserver`` / ``MovingAverageMinMaxObserver`` forward."""

    params = [["wasmpose", "wasmpose-serial", "numpy", "torch"], ["minmax", "moving-average"]]
    param_names = ["impl", "averaging"]

    def setup(self, impl, averaging):
        x = common.weights(SIZES_1D["1M"])
        c = 0.01 if averaging == "moving-average" else None
        if impl == "torch":
            torch = common.require_peer("torch")
            from torch.ao import quantization as tq

            obs = (tq.MinMaxObserver(dtype=torch.qint8) if c is None
                   else tq.MovingAverageMinMaxObserver(averaging_constant=c, dtype=torch.qint8))
            t = torch.from_numpy(x)
            fn = lambda: obs(t)  # noqa: E731
        else:
            dq = DynamicQuantizer(averaging_constant=c)
            fn = lambda: dq.observe(x)  # noqa: E731
        self._start(impl, ("dynamic", impl, averaging), fn)

    def time_observe(self, impl, averaging):
        self.fn()


class ErrorMetrics(common.KernelSuite):
    """``mse`` and ``sqnr`` of weights against their int8 round trip.

    ``numpy``: the formulas in float64, as wasmpose accumulates (``a, b`` converted from
    float32, ``np.mean(np.square(a - b))``, ``10 log10(sum(a^2) / sum((a - b)^2))``);
    ``skimage``: ``skimage.metrics.mean_squared_error`` (mse only; it computes float32 inputs
    in float32).
    """

    params = [["wasmpose", "numpy", "skimage"], ["mse", "sqnr"], SIZES]
    param_names = ["impl", "metric", "size"]

    def setup(self, impl, metric, size):
        x = common.weights(SIZES_1D[size])
        p = calibrate(x)
        y = dequantize(quantize(x, p), p)
        if impl == "skimage":
            if metric != "mse":
                raise NotImplementedError("skimage has no SQNR")
            fn = lambda: common.require_peer("skimage.metrics").mean_squared_error(x, y)  # noqa: E731
        elif impl == "numpy":
            f64 = np.float64
            if metric == "mse":
                fn = lambda: float(np.mean(np.square(x.astype(f64) - y.astype(f64))))  # noqa: E731
            else:
                def fn():
                    a, b = x.astype(f64), y.astype(f64)
                    return 10 * math.log10(np.sum(a * a) / np.sum(np.square(a - b)))
        else:
            f = mse if metric == "mse" else sqnr
            fn = lambda: f(x, y)  # noqa: E731
        self._start(impl, ("metric", impl, metric, size), fn)

    def time_metric(self, impl, metric, size):
        self.fn()


class TopK(common.KernelSuite):
    """``TopKCompressor(0.01).compress`` of a gradient (error feedback on, residual held).

    ``numpy``: the same step written plainly (residual add, ``argpartition`` of ``|acc|``,
    gather, zero); ``torch``: the same with ``torch.topk`` (indices unsorted).
    """

    params = [["wasmpose", "numpy", "torch"], SIZES]
    param_names = ["impl", "size"]
    ratio = 0.01

    def setup(self, impl, size):
        g = common.weights(SIZES_1D[size]).ravel()
        k = math.ceil(self.ratio * g.size)
        if impl == "torch":
            torch = common.require_peer("torch")
            tg, res = torch.from_numpy(g), torch.zeros(g.size)

            def fn():
                acc = res.add_(tg)
                idx = acc.abs().topk(k, sorted=False).indices
                values = acc[idx].clone()
                acc[idx] = 0
                return idx, values
        elif impl == "numpy":
            res = np.zeros_like(g)

            def fn():
                acc = np.add(res, g, out=res)
                idx = np.argpartition(np.abs(acc), acc.size - k)[acc.size - k:]
                values = acc[idx]
                acc[idx] = 0
                return idx, values
        else:
            tk = TopKCompressor(self.ratio)
            fn = lambda: tk.compress(g)  # noqa: E731
        self._start(impl, ("topk", impl, size), fn)

    def time_compress(self, impl, size):
        self.fn()
