"""The kernels of :mod:`wasmpose.quant`: one declaration each (see ``wasmpose/_registry.py``).

Each :class:`~wasmpose.cpu.Kernel` names its NumPy reference (``_reference.py``), its serial and
parallel Numba variants (``_kernels.py``, ``_kernels_entropy.py``), its threshold in bytes of
array operands (inputs plus outputs) from which ``OptLevel.FULL`` runs the parallel one, its
companions (per-channel layouts, the entropy method) and its example inputs; the public functions
call these objects with the bytes of their operands. Thresholds: development estimates in
elements on a 2-core machine, converted to bytes (the comments give them);
``python -m wasmpose bench --thresholds`` measures them now. The examples are weights-like data:
normal values, per-tensor and per-channel, int8 and uint8.
"""

from __future__ import annotations

import numpy as np

from wasmpose._registry import Companion, Kernel, count, register, rng
from wasmpose.quant import _kernels as _nb
from wasmpose.quant import _kernels_entropy as _nbe
from wasmpose.quant import _reference as _ref

_F32 = np.dtype(np.float32)
_I8 = np.dtype(np.int8)
_U8 = np.dtype(np.uint8)


def _weights(n):
    return (rng().standard_normal(n) * 0.05).astype(_F32)


def _example_quantize(nbytes):
    x = _weights(count(nbytes, 5))
    f = np.float32
    inv = f(127) / np.abs(x).max()
    return [(x, np.empty(x.size, dt), inv, f(zp), f(lo), f(hi))
            for dt, zp, lo, hi in ((_I8, 0, -128, 127), (_U8, 128, 0, 255))]


def _example_quantize_channel(nbytes):
    c = 16
    x = _weights(count(nbytes, 5 * c, 1) * c).reshape(1, c, -1)  # (outer, C, inner)
    inv = (np.float32(127) / np.abs(x).max(axis=(0, 2))).astype(_F32)
    f = np.float32
    return [(x, np.empty(x.shape, dt), inv, np.full(c, zp, _F32), f(lo), f(hi))
            for dt, zp, lo, hi in ((_I8, 0, -128, 127), (_U8, 128, 0, 255))]


def _example_dequantize(nbytes):
    n = count(nbytes, 5)
    q = rng().integers(-128, 128, n).astype(_I8)
    return [(q, np.empty(n, _F32), np.float32(0.004), 0),
            (q.view(_U8), np.empty(n, _F32), np.float32(0.004), 128)]


def _example_dequantize_channel(nbytes):
    c = 16
    n = count(nbytes, 5 * c, 1) * c
    q = rng().integers(-128, 128, n).astype(_I8).reshape(1, c, -1)
    scale = np.full(c, 0.004, _F32)
    return [(q, np.empty(q.shape, _F32), scale, np.zeros(c, np.int32)),
            (q.view(_U8), np.empty(q.shape, _F32), scale, np.full(c, 128, np.int32))]


def _example_minmax(nbytes):
    return [(_weights(count(nbytes, 4)).view(np.int32),)]  # float32 bits, as calibrate passes


def _example_minmax_channel(nbytes):
    c = 16
    x = _weights(count(nbytes, 4 * c, 1) * c).reshape(1, c, -1)
    return [(x.view(np.int32), np.empty(c, _F32), np.empty(c, _F32))]


def _example_pack(nbytes):
    m = count(nbytes, 3)  # pairs of int4 values: 2 bytes in, 1 out
    q = rng().integers(-8, 8, 2 * m).astype(_I8)
    return [(q.view(np.uint16), np.empty(m, _U8), True),
            ((q & 15).astype(_U8).view(np.uint16), np.empty(m, _U8), False)]


def _example_unpack(nbytes):
    m = count(nbytes, 3)  # one packed byte in, two values out
    packed = rng().integers(0, 256, m).astype(_U8)
    return [(packed, np.empty(m, np.uint16), True), (packed, np.empty(m, np.uint16), False)]


def _example_entropy(nbytes):
    bins, qbins = 2048, 128  # ONNX Runtime's defaults (num_bins, num_quantized_bins)
    rows = count(nbytes, 8 * bins)
    x = np.abs(rng().standard_normal((rows, 1 << 14)))
    hists = np.stack([np.histogram(r, bins=bins, range=(0, 5))[0] for r in x]).astype(np.int64)
    return [(hists, qbins, np.empty((rows, bins // 2 - qbins // 2 + 1), _F32))]


Q_TENSOR = register(Kernel(
    "quantize", reference=_ref.quantize_tensor, serial=_nb.quantize_tensor_serial,
    parallel=_nb.quantize_tensor_parallel,
    parallel_min_bytes=(1 << 18) * 5,  # 2**18 elements: 4 bytes in, 1 out
    example=_example_quantize,
    companions=(Companion(
        "layout", "per-channel", reference=_ref.quantize_channel,
        serial=_nb.quantize_channel_serial, parallel=_nb.quantize_channel_parallel,
        parallel_min_bytes=(1 << 17) * 5, example=_example_quantize_channel),),
))
Q_CHANNEL = Q_TENSOR.companions["layout=per-channel"]
DQ_TENSOR = register(Kernel(
    "dequantize", reference=_ref.dequantize_tensor, serial=_nb.dequantize_tensor_serial,
    parallel=_nb.dequantize_tensor_parallel,
    parallel_min_bytes=(1 << 18) * 5,  # 2**18 elements: 1 byte in, 4 out
    example=_example_dequantize,
    companions=(Companion(
        "layout", "per-channel", reference=_ref.dequantize_channel,
        serial=_nb.dequantize_channel_serial, parallel=_nb.dequantize_channel_parallel,
        parallel_min_bytes=(1 << 18) * 5, example=_example_dequantize_channel),),
))
DQ_CHANNEL = DQ_TENSOR.companions["layout=per-channel"]
MINMAX = register(Kernel(
    "calibrate", reference=_ref.minmax, serial=_nb.minmax_serial, parallel=_nb.minmax_parallel,
    parallel_min_bytes=(1 << 18) * 4,  # 2**18 float32 elements read
    example=_example_minmax,
    companions=(
        Companion("layout", "per-channel", reference=_ref.minmax_channel,
                  serial=_nb.minmax_channel_serial, parallel=_nb.minmax_channel_parallel,
                  parallel_min_bytes=(1 << 18) * 4, example=_example_minmax_channel),
        # the KL-divergence search of method="entropy", one row of histogram bins per channel
        Companion("method", "entropy", reference=_ref.entropy_kl, serial=_nbe.entropy_kl_serial,
                  parallel=_nbe.entropy_kl_parallel,
                  parallel_min_bytes=(1 << 10) * 8,  # 2**10 int64 histogram bins
                  example=_example_entropy),
    ),
))
MINMAX_CHANNEL = MINMAX.companions["layout=per-channel"]
ENTROPY = MINMAX.companions["method=entropy"]
PACK = register(Kernel(
    "pack_int4", reference=_ref.pack4, serial=_nb.pack4_serial, parallel=_nb.pack4_parallel,
    parallel_min_bytes=(1 << 19) * 3 // 2,  # 2**19 values: 1 byte in, half a byte out
    example=_example_pack,
))
UNPACK = register(Kernel(
    "unpack_int4", reference=_ref.unpack4, serial=_nb.unpack4_serial,
    parallel=_nb.unpack4_parallel,
    parallel_min_bytes=(1 << 19) * 3,  # 2**19 packed bytes in, 2 bytes out each
    example=_example_unpack,
))
