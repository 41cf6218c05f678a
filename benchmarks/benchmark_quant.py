"""Benchmarks of :mod:`wasmpose.quant` against its NumPy reference and PyTorch.

``impl``: ``wasmpose`` (``OptLevel.FULL``), ``wasmpose-simd`` (one thread), ``numpy`` (the
reference, ``OptLevel.NONE``), ``torch`` (``torch.quantize_per_tensor`` / ``_per_channel``,
``Tensor.dequantize``, ``MinMaxObserver`` / ``PerChannelMinMaxObserver`` with its default
threads; skipped when torch is missing).
Data: :func:`common.weights`, Gaussian weights as ``(64, n / 64)``; per-channel cases quantise
along axis 0 (64 channels).
"""

from __future__ import annotations

import warnings

import numpy as np

from wasmpose.quant import (
    QuantParams,
    calibrate,
    dequantize,
    pack_int4,
    quantize,
    unpack_int4,
)

from . import common
from .benchmark_image import SIZES_1D

IMPLS = ["wasmpose", "wasmpose-simd", "numpy", "torch"]
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
    """``calibrate`` with the percentile and entropy methods (1M weights, wasmpose only)."""

    params = [["percentile", "entropy"]]
    param_names = ["method"]
    repeat = (3, 10, 2.0)

    def setup(self, method):
        x = common.weights(SIZES_1D["1M"])
        fn = lambda: calibrate(x, method=method)  # noqa: E731
        self._start("wasmpose", ("calibrate-method", method), fn)

    def time_calibrate(self, method):
        self.fn()


class CalibrateEntropyPerChannel(common.KernelSuite):
    """``calibrate(w, method="entropy", axis=0)`` of a (64, 32, 3, 3) conv weight, bins=2048:
    64 KL threshold searches, compiled vs the NumPy reference loop (no peer: ONNX Runtime's
    calibrator is per tensor and slower than the reference)."""

    params = [["wasmpose", "wasmpose-simd", "numpy"]]
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

    params = [["wasmpose", "wasmpose-simd", "numpy"], SIZES]
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
