"""Quantisation to int8/uint8/int4/uint4: calibration, quantize/dequantize, quantised tensors.

The integers are PyTorch's: :func:`quantize` is bit-exact with ``torch.quantize_per_tensor`` and
``torch.quantize_per_channel`` (``.int_repr()``), :func:`dequantize` with ``.dequantize()``, and
:func:`calibrate` with ``method="minmax"`` gives the scale and zero point of torch's
``MinMaxObserver`` / ``PerChannelMinMaxObserver``. Percentile and entropy (KL divergence, as ONNX
Runtime's Entropy calibrator) calibration clip outliers. :class:`QuantizedTensor` stores 4-bit
values packed two a byte and saves to ``.npz`` without pickle.

Array arguments are taken as ``np.asarray`` sees them (an ``np.matrix`` as its 2-D array);
byte-swapped arrays (``'>f4'``) are converted to the native byte order; masked arrays are refused
(their mask would be ignored).

The modules, one concern each: ``_params`` (:class:`QuantParams`), ``_calibrate``
(:func:`calibrate`), ``_quantize`` (:func:`quantize`, :func:`dequantize`, 4-bit packing),
``_tensor`` (:class:`QuantizedTensor` and its file format), ``_dynamic``
(:class:`DynamicQuantizer`), ``_metrics`` (:func:`mse`, :func:`sqnr`), ``_topk``
(:class:`TopKCompressor`, a training-side tool). Each public function validates its arguments,
then runs one variant of its kernel as chosen by :mod:`wasmpose.cpu`: ``_dispatch`` declares the
kernels, ``_reference`` holds the NumPy versions, ``_kernels`` and ``_kernels_entropy`` the
compiled ones. Shape symbols: C channels (the length of the per-channel ``axis``).
"""

from __future__ import annotations

from wasmpose.quant._calibrate import calibrate
from wasmpose.quant._dynamic import DynamicQuantizer
from wasmpose.quant._metrics import mse, sqnr
from wasmpose.quant._params import QuantParams
from wasmpose.quant._quantize import dequantize, pack_int4, quantize, unpack_int4
from wasmpose.quant._tensor import QuantizedTensor
from wasmpose.quant._topk import TopKCompressor

__all__ = [
    "QuantParams",
    "calibrate",
    "quantize",
    "dequantize",
    "QuantizedTensor",
    "DynamicQuantizer",
    "mse",
    "sqnr",
    "TopKCompressor",
    "pack_int4",
    "unpack_int4",
]
