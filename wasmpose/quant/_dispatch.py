"""The kernels of :mod:`wasmpose.quant` as :mod:`wasmpose.cpu` runs them: one declaration each.

Each :class:`~wasmpose.cpu.Kernel` names its NumPy reference (``_reference.py``), its serial and
parallel Numba variants (``_kernels.py``, ``_kernels_entropy.py``) and the size from which
``OptLevel.FULL`` runs the parallel one; the public functions call these objects with the size
of their work. Thresholds (elements): development estimates on a 2-core machine, not recorded
anywhere (``python -m wasmpose bench --thresholds`` has no input builders for these kernels yet).
"""

from __future__ import annotations

import numpy as np

from wasmpose.cpu import Kernel, register
from wasmpose.quant import _kernels as _nb
from wasmpose.quant import _kernels_entropy as _nbe
from wasmpose.quant import _reference as _ref

_F32 = np.dtype(np.float32)
_I8 = np.dtype(np.int8)
_U8 = np.dtype(np.uint8)


def _warm_quantize(variant):
    f = np.float32
    for dt in (_I8, _U8):
        Q_TENSOR.variant(variant)(np.zeros(8, _F32), np.empty(8, dt), f(1), f(0), f(0), f(1))
        for inner in (1, 2):
            Q_CHANNEL.variant(variant)(np.zeros((1, 2, inner), _F32), np.empty((1, 2, inner), dt),
                                       np.ones(2, _F32), np.zeros(2, _F32), f(0), f(1))


def _warm_dequantize(variant):
    for dt in (_I8, _U8):
        DQ_TENSOR.variant(variant)(np.zeros(8, dt), np.empty(8, _F32), np.float32(1), 0)
        for inner in (1, 2):
            DQ_CHANNEL.variant(variant)(np.zeros((1, 2, inner), dt),
                                        np.empty((1, 2, inner), _F32), np.ones(2, _F32),
                                        np.zeros(2, np.int32))


def _warm_minmax(variant):
    MINMAX.variant(variant)(np.zeros(8, np.int32))
    for inner in (1, 2):
        MINMAX_CHANNEL.variant(variant)(np.zeros((1, 2, inner), np.int32), np.empty(2, _F32),
                                        np.empty(2, _F32))


def _warm_pack(variant):
    for signed in (True, False):
        PACK.variant(variant)(np.zeros(4, np.uint16), np.empty(4, _U8), signed)
        UNPACK.variant(variant)(np.zeros(4, _U8), np.empty(4, np.uint16), signed)


def _warm_entropy(variant):
    ENTROPY.variant(variant)(np.ones((1, 8), np.int64), 2, np.empty((1, 4), _F32))


Q_TENSOR = register(Kernel("quantize", reference=_ref.quantize_tensor,
                           serial=_nb.quantize_tensor_serial,
                           parallel=_nb.quantize_tensor_parallel,
                           parallel_min_size=1 << 18, warmup=_warm_quantize))
Q_CHANNEL = Kernel("quantize[channel]", reference=_ref.quantize_channel,
                   serial=_nb.quantize_channel_serial, parallel=_nb.quantize_channel_parallel,
                   parallel_min_size=1 << 17)
DQ_TENSOR = register(Kernel("dequantize", reference=_ref.dequantize_tensor,
                            serial=_nb.dequantize_tensor_serial,
                            parallel=_nb.dequantize_tensor_parallel,
                            parallel_min_size=1 << 18, warmup=_warm_dequantize))
DQ_CHANNEL = Kernel("dequantize[channel]", reference=_ref.dequantize_channel,
                    serial=_nb.dequantize_channel_serial,
                    parallel=_nb.dequantize_channel_parallel, parallel_min_size=1 << 18)
MINMAX = register(Kernel("calibrate", reference=_ref.minmax, serial=_nb.minmax_serial,
                         parallel=_nb.minmax_parallel, parallel_min_size=1 << 18,
                         warmup=_warm_minmax))
MINMAX_CHANNEL = Kernel("calibrate[channel]", reference=_ref.minmax_channel,
                        serial=_nb.minmax_channel_serial, parallel=_nb.minmax_channel_parallel,
                        parallel_min_size=1 << 18)
PACK = register(Kernel("pack_int4", reference=_ref.pack4, serial=_nb.pack4_serial,
                       parallel=_nb.pack4_parallel, parallel_min_size=1 << 19,
                       warmup=_warm_pack))
ENTROPY = register(Kernel("calibrate[entropy]", reference=_ref.entropy_kl,
                          serial=_nbe.entropy_kl_serial, parallel=_nbe.entropy_kl_parallel,
                          parallel_min_size=1 << 10, warmup=_warm_entropy))
UNPACK = register(Kernel("unpack_int4", reference=_ref.unpack4, serial=_nb.unpack4_serial,
                         parallel=_nb.unpack4_parallel, parallel_min_size=1 << 19))
