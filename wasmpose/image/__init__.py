"""Image preprocessing kernels: grayscale, threshold, Otsu, normalisation, image-to-tensor,
affine warps and the fused multi-crop ``crop_to_tensor``.

Each public function validates its arguments here, then runs one variant of its kernel
(``_reference.py`` holds the NumPy versions, ``_kernels.py`` the compiled ones) as chosen by
:mod:`wasmpose.cpu`. Shape symbols: N images, H rows, W columns, C channels.
"""

from __future__ import annotations

import math

import numpy as np

from wasmpose import _checks
from wasmpose._registry import Companion, Kernel, count, register, rng, shape_hw
from wasmpose.image import _kernels as _nb
from wasmpose.image import _reference as _ref
from wasmpose.image import _warp as _wk
from wasmpose.image._kernels import BINARY, BINARY_INV, TOZERO, TOZERO_INV, TRUNC

__all__ = [
    "grayscale",
    "threshold",
    "otsu_threshold",
    "normalize",
    "to_tensor",
    "warp_affine",
    "crop_to_tensor",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
"""ImageNet channel means (R, G, B) of pixels scaled to [0, 1]: read-only float32, shape (3,)."""
IMAGENET_MEAN.flags.writeable = False
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
"""ImageNet channel standard deviations (R, G, B): read-only float32, shape (3,)."""
IMAGENET_STD.flags.writeable = False

_U8 = np.dtype(np.uint8)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_BIG = 1 << 1000


# ---------------------------------------------------------------------------------------------
# Kernels: one declaration each (see wasmpose/_registry.py). Thresholds are bytes of array
# operands (inputs plus outputs), measured with `python -m wasmpose bench --thresholds` on a
# 2-core machine in the units of work the comments give.
# ---------------------------------------------------------------------------------------------
def _example_gray(dtypes):
    def example(nbytes):
        cases = []
        for dt in dtypes:
            for nch in (3, 4):
                h, w = shape_hw(nbytes, (nch + 1) * dt.itemsize)
                src = rng().integers(0, 256, h * w * nch, dtype=np.uint8)
                src = src if dt == _U8 else (src / dt.type(255)).astype(dt)
                cases.append((src, np.empty(h * w, dt), nch, False))
        return cases
    return example


def _example_threshold(dt, t, m):
    def example(nbytes):
        def data(shape):
            x = rng().integers(0, 256, shape, dtype=np.uint8).astype(dt)
            return x if dt == _U8 else x / dt.type(255)

        per = 2 * dt.itemsize
        h, w = shape_hw(nbytes, per)
        hc, wc = shape_hw(nbytes, 3 * per)
        # flat arrays, (H, W) images and (H, W, C) ones: one compilation per rank
        shapes = (count(nbytes, per), (h, w), (hc, wc, 3))
        return [(x, np.empty_like(x), BINARY, t, m) for x in map(data, shapes)]
    return example


def _example_otsu(nbytes):
    h, w = shape_hw(nbytes, 1)
    return [(rng().integers(0, 256, h * w, dtype=np.uint8),)]


def _example_normalize(nbytes):
    cases = []
    for dt in (_F32, _F64):
        n = count(nbytes, 2 * dt.itemsize, 2)
        x = rng().standard_normal(n).astype(dt)
        cases.append((x.reshape(1, n), np.empty((1, n), dt), 1e-8))  # axis=None
        rows = max(1, n // 64)  # axis=-1 over rows of 64 (a layer norm)
        cases.append((x[: rows * 64].reshape(rows, 64), np.empty((rows, 64), dt), 1e-8))
    return cases


def _example_to_tensor(nbytes):
    h, w = shape_hw(nbytes, 15)
    src = rng().integers(0, 256, (1, h * w * 3), dtype=np.uint8)
    a = (1 / 255 / IMAGENET_STD).astype(np.float32)
    b = (-IMAGENET_MEAN / IMAGENET_STD).astype(np.float32)
    return [(src, np.empty((1, h * w * 3), _F32), a, b, True),
            (src, np.empty((1, h * w * 3), _F32), a, b, False)]


def _warp_case(nbytes, dt, cn):
    """A frame, the inverse of a rotation by 17 degrees at scale 0.9 about its centre and an
    output of the frame's size: about ``nbytes`` bytes of operands in all."""
    h, w = shape_hw(nbytes, 2 * cn * dt.itemsize)
    src = rng().integers(0, 256, (h, w, cn), dtype=np.uint8)
    src = src if dt == _U8 else (src / np.float32(255)).astype(dt)
    t = math.radians(17.0)
    c, s = 0.9 * math.cos(t), 0.9 * math.sin(t)
    matrix = np.array([[c, s, w / 2 - c * w / 2 - s * h / 2],
                       [-s, c, h / 2 + s * w / 2 - c * h / 2]])
    return src, _ref.invert_affine(matrix), np.empty((h, w, cn), dt)


def _example_warp(dt):
    def example(nbytes):
        # 3 channels first (the representative frame), then 1 and 4; constant and replicate
        return [(*_warp_case(nbytes, dt, cn), False, replicate, np.zeros(cn))
                for cn in (3, 1, 4) for replicate in (False, True)]
    return example


def _example_warp_nearest(nbytes):
    return [(*_warp_case(nbytes, dt, cn), True, replicate, np.zeros(cn))
            for dt in (_U8, _F32) for cn in (3, 1, 4) for replicate in (False, True)]


def _example_crop(nbytes):
    """A frame of about half the bytes and four 3:4 person crops (scale 0.8 to 1.2, a small
    rotation on one) of the other half, in both layouts."""
    h, w = shape_hw(nbytes // 2, 3)
    frame = rng().integers(0, 256, (h, w, 3), dtype=np.uint8)
    n = 4
    ch = max(2, int(math.sqrt(nbytes / 2 / n / 12 * 4 / 3)))
    cw = max(2, ch * 3 // 4)
    mats = []
    for k, (sc, rot) in enumerate(((1.0, 0.0), (0.8, 0.0), (1.2, 0.0), (1.0, 0.1))):
        c, s = sc * math.cos(rot), sc * math.sin(rot)
        cx, cy = w * (k + 1) / (n + 1), h / 2
        mats.append([[c, s, cw / 2 - c * cx - s * cy], [-s, c, ch / 2 + s * cx - c * cy]])
    inv = np.stack([_ref.invert_affine(np.array(mm)) for mm in mats])
    a = (1 / 255 / IMAGENET_STD).astype(np.float32)
    b = (-IMAGENET_MEAN / IMAGENET_STD).astype(np.float32)
    return [(frame, inv, np.empty((n, 3 * ch * cw), _F32), ch, cw, a, b, np.zeros(3),
             np.array(perm, np.int64), planar, replicate)
            for perm, planar, replicate in (((0, 1, 2), True, False), ((2, 1, 0), False, True))]


_GRAY_U8 = register(Kernel(
    "grayscale", reference=_ref.gray_u8, serial=_nb.gray_u8_serial,
    parallel=_nb.gray_u8_parallel,
    parallel_min_bytes=(1 << 16) * 4,  # 2**16 RGB pixels: 3 bytes in, 1 out
    example=_example_gray((_U8,)),
    companions=(Companion(
        "dtype", "float", reference=_ref.gray_float, serial=_nb.gray_float_serial,
        parallel=_nb.gray_float_parallel,
        parallel_min_bytes=(1 << 16) * 16,  # 2**16 float32 RGB pixels: 12 bytes in, 4 out
        example=_example_gray((_F32, _F64))),),
))
_GRAY_FLOAT = _GRAY_U8.companions["dtype=float"]
_THRESH_U8 = register(Kernel(
    "threshold", reference=_ref.threshold_u8, serial=_nb.threshold_u8_serial,
    parallel=_nb.threshold_u8_parallel,
    parallel_min_bytes=(1 << 20) * 2,  # 2**20 elements: 1 byte in, 1 out
    example=_example_threshold(_U8, 127, 255),
    companions=(Companion(
        "dtype", "float32", reference=_ref.threshold_f32, serial=_nb.threshold_f32_serial,
        parallel=_nb.threshold_f32_parallel,
        parallel_min_bytes=(1 << 18) * 8,  # 2**18 elements: 4 bytes in, 4 out
        example=_example_threshold(_F32, 0.5, 1.0)),),
))
_THRESH_F32 = _THRESH_U8.companions["dtype=float32"]
_OTSU = register(Kernel(
    "otsu_threshold", reference=_ref.otsu, serial=_nb.otsu_serial, parallel=_nb.otsu_parallel,
    parallel_min_bytes=1 << 18,  # 2**18 pixels of 1 byte (the histogram is allocated inside)
    example=_example_otsu,
))
_NORMALIZE = register(Kernel(
    "normalize", reference=_ref.normalize, serial=_nb.normalize_serial,
    parallel=_nb.normalize_parallel,
    parallel_min_bytes=(1 << 16) * 8,  # 2**16 float32 elements: 4 bytes in, 4 out
    example=_example_normalize,
))
_TO_TENSOR = register(Kernel(
    "to_tensor", reference=_ref.to_tensor, serial=_nb.to_tensor_serial,
    parallel=_nb.to_tensor_parallel,
    parallel_min_bytes=(1 << 15) * 15,  # 2**15 pixels: 3 bytes in, 12 out
    example=_example_to_tensor,
))
_WARP = register(Kernel(
    "warp_affine", reference=_ref.warp_affine, serial=_wk.warp_serial,
    parallel=_wk.warp_parallel,
    parallel_min_bytes=1 << 17,  # 2**14 RGB pixels in and out (a 160x100 rotated crop)
    example=_example_warp(_U8),
    companions=(
        Companion("dtype", "float32", reference=_ref.warp_affine, serial=_wk.warp_serial,
                  parallel=_wk.warp_parallel,
                  parallel_min_bytes=1 << 18,  # 2**13 float32 RGB pixels in and out
                  example=_example_warp(_F32)),
        Companion("method", "nearest", reference=_ref.warp_affine, serial=_wk.warp_serial,
                  parallel=_wk.warp_parallel,
                  parallel_min_bytes=1 << 18,  # 2**15 RGB pixels in and out
                  example=_example_warp_nearest),
    ),
))
_WARP_F32 = _WARP.companions["dtype=float32"]
_WARP_NEAREST = _WARP.companions["method=nearest"]
_CROP = register(Kernel(
    "crop_to_tensor", reference=_ref.crop_to_tensor, serial=_wk.crop_to_tensor_serial,
    parallel=_wk.crop_to_tensor_parallel,
    parallel_min_bytes=1 << 18,  # a 120x160 frame and four 48x64 crops (float32)
    example=_example_crop,
))


# ---------------------------------------------------------------------------------------------
# grayscale
# ---------------------------------------------------------------------------------------------
_ORDERS = {"rgb": False, "bgr": True, "rgba": False, "bgra": True}  # -> is BGR


def grayscale(img, *, order="rgb", out=None):
    """ITU-R BT.601 luma of RGB(A) or BGR(A) images.

    Parameters
    ----------
    img : ndarray, shape (..., H, W, 3) or (..., H, W, 4), uint8, float32 or float64
        Colour images; any leading batch dimensions; a fourth (alpha) channel is ignored.
    order : {"rgb", "bgr"}
        Channel order of ``img`` (``"rgba"``/``"bgra"`` are accepted as aliases).
    out : ndarray, shape (..., H, W), same dtype as ``img``, optional
        Where to write the result.

    Returns
    -------
    ndarray, shape (..., H, W), dtype of ``img``
        uint8: bit-exact with ``cv2.cvtColor`` (``COLOR_RGB2GRAY``, ``COLOR_BGR2GRAY``,
        ``COLOR_RGBA2GRAY``, ``COLOR_BGRA2GRAY``), i.e. OpenCV 5's 15-bit fixed point
        ``(9798 R + 19235 G + 3735 B + 2**14) >> 15``. Floats: ``0.299 R + 0.587 G + 0.114 B``.

    Raises
    ------
    TypeError
        ``img`` is not uint8/float32/float64, or ``order`` is not a string.
    ValueError
        ``img`` has fewer than 3 dimensions or not 3/4 channels, ``order`` is unknown, or
        ``out`` has the wrong shape or dtype or is read-only.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.image import grayscale
    >>> grayscale(np.array([[[255, 0, 0], [0, 255, 0]]], dtype=np.uint8))
    array([[ 76, 150]], dtype=uint8)
    """
    img = _checks.as_array(img, "img", (_U8, _F32, _F64), min_ndim=3,
                           ndim_text="(..., H, W, 3 or 4)")
    nch = img.shape[-1]
    if nch not in (3, 4):
        raise ValueError(f"img: expected 3 or 4 channels in the last axis, got shape {img.shape}")
    bgr = _ORDERS[_checks.choice(order, "order", tuple(_ORDERS))]
    shape = img.shape[:-1]
    dst, copy_back = _checks.output_buffer(out, "out", shape, img.dtype, (img,))
    if dst.size:
        src = np.ascontiguousarray(img).reshape(-1)
        kernel = _GRAY_U8 if img.dtype == _U8 else _GRAY_FLOAT
        kernel(dst.nbytes * (nch + 1), src, dst.reshape(-1), nch, bgr)
    if copy_back:
        out[...] = dst
        return out
    return dst


# ---------------------------------------------------------------------------------------------
# threshold
# ---------------------------------------------------------------------------------------------
_KINDS = {"binary": BINARY, "binary_inv": BINARY_INV, "trunc": TRUNC, "tozero": TOZERO,
          "tozero_inv": TOZERO_INV}


def threshold(x, thresh, maxval=255, *, kind="binary", out=None):
    """Fixed-level threshold, bit-exact with ``cv2.threshold`` for the same arguments.

    Parameters
    ----------
    x : ndarray, any shape, uint8 or float32
    thresh : float
        The threshold. For uint8 it is floored to an integer, as OpenCV does.
    maxval : float, default 255
        Value given to pixels that pass (``binary``) or fail (``binary_inv``) the test. For
        uint8 it is rounded half to even and saturated to [0, 255] (``inf`` gives 255,
        ``-inf`` 0, as OpenCV).
    kind : {"binary", "binary_inv", "trunc", "tozero", "tozero_inv"}
        ``binary``: ``maxval if x > thresh else 0``; ``binary_inv``: the opposite;
        ``trunc``: ``min(x, thresh)``; ``tozero``: ``x if x > thresh else 0``;
        ``tozero_inv``: ``0 if x > thresh else x``. NaN pixels give 0 for ``binary`` and
        ``binary_inv`` and stay NaN for the other kinds. OpenCV agrees except for ``trunc``,
        where its answer depends on its code path (CPU dispatch, ``cv2.setUseOptimized``, the
        NaN's position in the array): wasmpose keeps the NaN, as ``np.minimum``. Float32 ``tozero``
        keeps ``+inf`` pixels when ``thresh`` is ``+inf`` (OpenCV compares
        ``x < nextafter(thresh, +inf)``).
    out : ndarray, shape and dtype of ``x``, optional

    Returns
    -------
    ndarray, shape and dtype of ``x``

    Raises
    ------
    TypeError
        ``x`` is not uint8/float32, or ``thresh``/``maxval`` are not real numbers.
    ValueError
        ``thresh`` or ``maxval`` is NaN (OpenCV gives 255 for a NaN uint8 ``maxval``), an
        int beyond the float range, ``kind`` is unknown, or ``out`` is unsuitable.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.image import threshold
    >>> threshold(np.array([10, 100, 200], np.uint8), 99.5)
    array([  0, 255, 255], dtype=uint8)
    """
    # fast paths keep the whole call near 1 us on small arrays (cv2.threshold: ~0.9 us)
    if type(x) is not np.ndarray or (x.dtype is not _U8 and x.dtype is not _F32):
        x = _checks.as_array(x, "x", (_U8, _F32))
    is_u8 = x.dtype == _U8
    # ints beyond +-2**1000 go through real_scalar, which refuses those beyond the float range
    t = thresh if type(thresh) is float or (type(thresh) is int and -_BIG < thresh < _BIG) \
        else _checks.real_scalar(thresh, "thresh")
    m = maxval if type(maxval) is int and -_BIG < maxval < _BIG \
        else _checks.real_scalar(maxval, "maxval")
    if t != t or m != m:
        _checks.real_scalar(t, "thresh")  # raises the NaN error
        _checks.real_scalar(m, "maxval")
    code = _KINDS.get(kind)
    if code is None:
        code = _KINDS[_checks.choice(kind, "kind", tuple(_KINDS))]
    if out is None:
        dst, copy_back = np.empty_like(x, order="C"), False
    else:
        dst, copy_back = _checks.output_buffer(out, "out", x.shape, x.dtype, (x,))
    n = x.size
    if n:
        src = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        flat = dst  # the kernels flatten C-contiguous arrays themselves
        if is_u8:
            it = -1 if t < 0 else (255 if t >= 255 else math.floor(t))
            im = 255 if m >= 255 else (0 if m < 0 else round(m))
            if code == TRUNC:
                im = max(it, 0)
            if it < 0 or it >= 255:
                _threshold_u8_saturated(src, flat, code, it, im)
            else:
                _THRESH_U8(2 * n, src, flat, code, it, im)
        else:
            if code == TOZERO:  # OpenCV's tozero: "x < nextafter(thresh, +inf) ? 0 : x"
                with np.errstate(over="ignore"):
                    t = float(np.nextafter(np.float32(t), np.float32(np.inf)))
            _THRESH_F32(8 * n, src, flat, code, float(t), float(m))
    if copy_back:
        out[...] = dst
        return out
    return dst


def _threshold_u8_saturated(src, dst, code, it, im):
    """OpenCV's shortcut for thresholds outside [0, 254]: a constant fill or a copy."""
    if it >= 255:
        # nothing passes: binary -> 0, binary_inv -> maxval, tozero -> 0, trunc/tozero_inv copy
        if code in (TRUNC, TOZERO_INV):
            dst[...] = src
        else:
            dst.fill(im if code == BINARY_INV else 0)
    else:
        # everything passes: binary -> maxval, binary_inv/trunc/tozero_inv -> 0, tozero copy
        if code == TOZERO:
            dst[...] = src
        else:
            dst.fill(im if code == BINARY else 0)


def otsu_threshold(gray):
    """Otsu's threshold of an 8-bit image, as ``cv2.threshold(..., THRESH_OTSU)`` returns it.

    Parameters
    ----------
    gray : ndarray, shape (H, W), uint8
        A non-empty grayscale image.

    Returns
    -------
    float
        The threshold (an integer value in [0, 255]) that maximises the between-class variance;
        0.0 for a constant image, as OpenCV.

    Notes
    -----
    This is OpenCV's own C++ rule (``getThreshVal_Otsu_8u``): the first bin reaching the
    largest variance, which ``cv2.threshold`` runs with ``cv2.setUseOptimized(False)`` and in
    builds without Intel IPP (e.g. on ARM). The default x86 wheels run IPP's Otsu instead,
    which agrees except where two thresholds give exactly the same variance (symmetric
    histograms such as three equally spaced levels with equal end counts): there IPP's answer
    follows its own rounding and may be the other threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.image import otsu_threshold
    >>> otsu_threshold(np.array([[10, 10, 200, 200]], np.uint8))
    10.0
    """
    gray = _checks.as_array(gray, "gray", (_U8,), min_ndim=2, max_ndim=2, ndim_text="(H, W)")
    if gray.size == 0:
        raise ValueError(f"gray: expected a non-empty image, got shape {gray.shape}")
    src = np.ascontiguousarray(gray).reshape(-1)
    return float(_OTSU(src.nbytes, src))


# ---------------------------------------------------------------------------------------------
# normalize
# ---------------------------------------------------------------------------------------------
def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    axes = []
    for a in items:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis: expected None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"axis: expected values in [{-ndim}, {ndim - 1}], got {axis!r}")
        axes.append(int(a) % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis: expected distinct axes, got {axis!r}")
    return tuple(sorted(axes))


def normalize(x, *, axis=None, eps=1e-8, out=None):
    """Standardise ``x``: ``(x - mean) / sqrt(var + eps)`` with population variance.

    Statistics are accumulated in float64 whatever the input dtype; the result is rounded once
    to the dtype of ``x``.

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64
    axis : None, int or tuple of int
        Axes the statistics are taken over (keepdims semantics); ``None``: all of them.
        ``axis=-1`` matches ``torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)``.
    eps : float, default 1e-8
        Added to the variance; must be finite and >= 0.

    Notes
    -----
    Rows (the values sharing one set of statistics) of finite values whose variance overflows
    float64, such as ``[1e300, -1e300, 1]``, are computed on ``x * 2**-e`` (an exact scaling
    by a power of two above their largest magnitude) with ``eps * 2**-2e``: the same formula
    without the overflow, ``[1.2247, -1.2247, 8.2e-301]`` here, at every optimisation level
    (PyTorch's ``layer_norm`` gives zeros, NumPy's formula NaN). Rows holding inf or NaN give NaN.
    out : ndarray, shape and dtype of ``x``, optional

    Returns
    -------
    ndarray, shape and dtype of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.image import normalize
    >>> normalize(np.array([1.0, 2.0, 3.0]), eps=0.0)
    array([-1.22474487,  0.        ,  1.22474487])
    """
    x = _checks.as_array(x, "x", (_F32, _F64))
    e = _checks.real_scalar(eps, "eps", allow_inf=False)
    if e < 0:
        raise ValueError(f"eps: expected a value >= 0, got {e}")
    axes = _normalize_axes(axis, x.ndim)
    dst, copy_back = _checks.output_buffer(out, "out", x.shape, x.dtype, (x,))
    if x.size == 0:
        return out if out is not None else dst
    keep = tuple(i for i in range(x.ndim) if i not in axes)
    perm = keep + axes
    inner = math.prod(x.shape[i] for i in axes)
    rows = x.size // inner
    if perm == tuple(range(x.ndim)):
        src = np.ascontiguousarray(x).reshape(rows, inner)
        _NORMALIZE(2 * dst.nbytes, src, dst.reshape(rows, inner), e)
    else:
        xt = np.ascontiguousarray(x.transpose(perm))
        tmp = np.empty_like(xt)
        _NORMALIZE(2 * tmp.nbytes, xt.reshape(rows, inner), tmp.reshape(rows, inner), e)
        dst[...] = tmp.transpose(np.argsort(perm))
    if copy_back:
        out[...] = dst
        return out
    return dst


# ---------------------------------------------------------------------------------------------
# to_tensor
# ---------------------------------------------------------------------------------------------
def _channel_vector(v, name):
    """``v`` (a real number or 3 of them) as a float64 ``(3,)`` array of finite values."""
    if isinstance(v, (str, bytes, dict)) or v is None:
        raise TypeError(f"{name}: expected a real number or 3 of them, got {type(v).__name__}")
    if isinstance(v, np.ndarray):
        arr = v
    else:
        try:
            arr = np.asarray(v)
        except (TypeError, ValueError) as exc:  # ragged sequences
            raise TypeError(f"{name}: expected a real number or 3 of them, got {v!r}") from exc
    if arr.dtype.kind not in "iuf" and not (arr.dtype.kind == "O" and arr.size and all(
            isinstance(e, (int, float, np.integer, np.floating)) and not isinstance(e, bool)
            for e in arr.flat)):
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if arr.shape not in ((), (3,)):
        raise ValueError(f"{name}: expected 3 values (one per channel), got shape {arr.shape}")
    vals = [_checks.real_scalar(e, name, allow_nan=True) for e in arr.reshape(-1).tolist()]
    out = np.broadcast_to(np.array(vals, np.float64), (3,)).copy()
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: expected finite values, got {out.tolist()}")
    return out


def to_tensor(img, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, scale=1 / 255, layout="nchw",
              out=None):
    """Fused image-to-tensor: ``(img * scale - mean[c]) / std[c]`` as float32.

    Parameters
    ----------
    img : ndarray, shape (H, W, 3) or (N, H, W, 3), uint8
    mean, std : sequence of 3 floats (or a scalar for all channels)
        Per-channel mean and standard deviation, in the units of ``img * scale``.
        ``std`` must be non-zero, and ``scale / std`` and ``mean / std`` within the float32
        range.
    scale : float, default 1/255
    layout : {"nchw", "nhwc"}
    out : ndarray, float32, shape (N, 3, H, W) or (N, H, W, 3), optional

    Returns
    -------
    ndarray, float32, shape (N, 3, H, W) for ``"nchw"`` or (N, H, W, 3) for ``"nhwc"``
        A single image gives N = 1. Computed in float32 as ``x * (scale / std) + (-mean / std)``
        (both factors rounded to float32 once): within 1e-6 of the formula computed in float64
        for results of magnitude up to 4 (ImageNet statistics give at most 2.7), and within
        four half-ulps of the result beyond.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.image import to_tensor
    >>> to_tensor(np.full((1, 2, 3), 255, np.uint8), mean=0.5, std=0.5).shape
    (1, 3, 1, 2)
    """
    img = _checks.as_array(img, "img", (_U8,), min_ndim=3, max_ndim=4,
                           ndim_text="(H, W, 3) or (N, H, W, 3)")
    if img.shape[-1] != 3:
        raise ValueError(f"img: expected 3 channels in the last axis, got shape {img.shape}")
    layout = _checks.choice(layout, "layout", ("nchw", "nhwc"))
    m = _channel_vector(mean, "mean")
    s = _channel_vector(std, "std")
    if np.any(s == 0):
        raise ValueError(f"std: expected non-zero values, got {s.tolist()}")
    sc = _checks.real_scalar(scale, "scale", allow_inf=False)
    with np.errstate(over="ignore"):
        a = (sc / s).astype(np.float32)
        b = (-m / s).astype(np.float32)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"scale, mean, std: expected scale / std and mean / std within the "
                         f"float32 range (3.4e38), got scale={sc}, mean={m.tolist()}, "
                         f"std={s.tolist()}")
    if img.ndim == 3:
        img = img[None]
    n, h, w, _ = img.shape
    shape = (n, 3, h, w) if layout == "nchw" else (n, h, w, 3)
    dst, copy_back = _checks.output_buffer(out, "out", shape, _F32, (img,))
    if dst.size:
        src = np.ascontiguousarray(img).reshape(n, h * w * 3)
        _TO_TENSOR(src.nbytes + dst.nbytes + 24, src, dst.reshape(n, h * w * 3), a, b,
                   layout == "nchw")
    if copy_back:
        out[...] = dst
        return out
    return dst


# ---------------------------------------------------------------------------------------------
# warp_affine, crop_to_tensor
# ---------------------------------------------------------------------------------------------
_INTERPOLATIONS = ("linear", "nearest")
_BORDERS = ("constant", "replicate")
# Bound on the output: each side at most 2**20 pixels and at most 2**31 elements (2 GiB of
# uint8), so that a wrong dsize is an error instead of a huge allocation.
_MAX_SIDE = 1 << 20
_MAX_ELEMENTS = 1 << 31


def _dsize(dsize, channels):
    if isinstance(dsize, (str, bytes)) or not hasattr(dsize, "__len__") or len(dsize) != 2:
        raise TypeError(f"dsize: expected (width, height) as two ints, got {dsize!r}")
    w = _checks.integer(dsize[0], "dsize[0] (width)", minimum=0)
    h = _checks.integer(dsize[1], "dsize[1] (height)", minimum=0)
    if w > _MAX_SIDE or h > _MAX_SIDE or w * h * channels > _MAX_ELEMENTS:
        raise ValueError(f"dsize: expected at most {_MAX_SIDE} pixels a side and "
                         f"{_MAX_ELEMENTS} output elements, got {(w, h)} with {channels} "
                         f"channel(s)")
    return w, h


def _inverse_map(matrix, name):
    """OpenCV's inverse of a validated (2, 3) matrix as (6,) float64; singular -> ValueError."""
    m = np.asarray(matrix, dtype=np.float64)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name}: expected finite values, got {m.tolist()}")
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    inv = _ref.invert_affine(m)
    if det == 0.0 or not np.all(np.isfinite(inv)):
        raise ValueError(f"{name}: expected an invertible affine map, got a singular matrix "
                         f"{m.tolist()} (determinant {det})")
    return inv


def _as_matrices(matrix, name, batched):
    if not isinstance(matrix, np.ndarray):
        try:
            matrix = np.asarray(matrix)
        except Exception as exc:  # noqa: BLE001
            raise TypeError(f"{name}: expected a numpy array, got {type(matrix).__name__}") from exc
    if matrix.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected a real (float64) array, got dtype {matrix.dtype}")
    want = (2, 3) if not batched else None
    if (not batched and matrix.shape != want) or (batched and (
            matrix.ndim != 3 or matrix.shape[1:] != (2, 3))):
        raise ValueError(f"{name}: expected shape {'(N, 2, 3)' if batched else '(2, 3)'}, "
                         f"got {matrix.shape}")
    return matrix


def _border_vector(border_value, channels, name="border_value"):
    """The border value as ``channels`` float64 values (a scalar applies to every channel)."""
    if isinstance(border_value, (str, bytes)) or border_value is None:
        raise TypeError(f"{name}: expected a real number or a sequence of them, "
                        f"got {type(border_value).__name__}")
    arr = np.asarray(border_value)
    if arr.dtype.kind not in "iuf" or arr.ndim > 1:
        raise TypeError(f"{name}: expected a real number or a sequence of them, "
                        f"got {border_value!r}")
    arr = arr.astype(np.float64)
    if arr.ndim == 0:
        arr = np.full(channels, float(arr))
    elif arr.size < channels or arr.size > 4:
        raise ValueError(f"{name}: expected a scalar or {channels} to 4 values, got {arr.size}")
    arr = arr[:channels]
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name}: expected numbers, got {arr.tolist()}")
    return arr


def _saturate_u8(v):
    """OpenCV's ``saturate_cast<uchar>(double)``: round half to even, then clip to [0, 255]."""
    return np.clip(np.rint(v), 0, 255)


def warp_affine(img, matrix, dsize, *, interpolation="linear", border="constant",
                border_value=0, out=None):
    """Affine warp of an image, as ``cv2.warpAffine``.

    Parameters
    ----------
    img : ndarray, shape (H, W) or (H, W, C), uint8 or float32
        The source image, C channels (any number; 1, 3 and 4 are tested against OpenCV).
    matrix : array_like, shape (2, 3)
        Maps source pixel coordinates to destination ones (as ``cv2.warpAffine`` without
        ``WARP_INVERSE_MAP``); it is inverted with OpenCV's closed form.
    dsize : (int, int)
        ``(width, height)`` of the result; a zero gives an empty result.
    interpolation : {"linear", "nearest"}
    border : {"constant", "replicate"}
    border_value : float or sequence of C floats, default 0
        Value of the pixels outside ``img`` for ``border="constant"``. A scalar applies to every
        channel (``cv2`` from Python would use it for the first channel only and 0 for the
        others; pass a sequence to ``cv2`` to compare). Saturated to [0, 255] for uint8.
    out : ndarray, shape (height, width[, C]), dtype of ``img``, optional

    Returns
    -------
    ndarray, shape (height, width) or (height, width, C), dtype of ``img``
        ``dst(x, y) = img(M'(x, y))`` with ``M'`` the inverse of ``matrix``. The rules are
        OpenCV 5.1's, confirmed against ``cv2`` (see ``wasmpose/image/_reference.py``):
        source coordinates in float64; nearest takes ``floor(coordinate + 0.5)``; bilinear
        takes float32 weights (the coordinate rounded to float32, or for maps without rotation
        or shear the float64 fraction rounded to float32) and blends the four neighbours with
        float32 fused multiply-adds, rounding uint8 results half to even. ``"constant"`` blends
        the border value into pixels that are partly outside the image and gives it to pixels
        entirely outside; ``"replicate"`` clamps each neighbour to the image.

    Raises
    ------
    TypeError
        ``img`` is not uint8/float32, ``matrix`` is not real, ``dsize`` is not two ints.
    ValueError
        ``img`` is empty or not 2-D/3-D, ``matrix`` is not (2, 3), not finite or singular,
        ``dsize`` is negative or larger than 2**20 a side or 2**31 elements, an option is
        unknown, or ``out`` is unsuitable.

    Notes
    -----
    Measured against ``cv2.warpAffine`` 5.1: nearest equal on every pixel; uint8 bilinear
    equal on every value for maps without rotation with the constant border and wherever the
    coordinates are exact in float32, and on about 99.999 % of the values for random rotations,
    scales and shears (the others one level apart at a value within ~1e-4 of a rounding tie:
    OpenCV's float32 coordinate is occasionally one or two float32 steps from the correctly
    rounded one, a computation not identified). Known difference: maps without rotation with
    ``border="replicate"`` differ on about 0.3 % of the values by one level. float32 images:
    within 1e-4 for values in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.image import warp_affine
    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> warp_affine(img, [[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]], (3, 2))  # shift left by 1
    array([[1, 2, 3],
           [5, 6, 7]], dtype=uint8)
    """
    img = _checks.as_array(img, "img", (_U8, _F32), min_ndim=2, max_ndim=3,
                           ndim_text="(H, W) or (H, W, C)")
    if img.size == 0:
        raise ValueError(f"img: expected a non-empty image, got shape {img.shape}")
    src = img if img.ndim == 3 else img[:, :, None]
    cn = src.shape[2]
    m = _inverse_map(_as_matrices(matrix, "matrix", False), "matrix")
    w, h = _dsize(dsize, cn)
    nearest = _checks.choice(interpolation, "interpolation", _INTERPOLATIONS) == "nearest"
    replicate = _checks.choice(border, "border", _BORDERS) == "replicate"
    bval = _border_vector(border_value, cn)
    if img.dtype == _U8:
        bval = _saturate_u8(bval)
    shape = (h, w) if img.ndim == 2 else (h, w, cn)
    dst, copy_back = _checks.output_buffer(out, "out", shape, img.dtype, (img,))
    if dst.size:
        kernel = _WARP_NEAREST if nearest else (_WARP if img.dtype == _U8 else _WARP_F32)
        src = np.ascontiguousarray(src)
        kernel(src.nbytes + 48 + dst.nbytes + bval.nbytes, src, m, dst.reshape(h, w, cn),
               nearest, replicate, bval)
    if copy_back:
        out[...] = dst
        return out
    return dst


def crop_to_tensor(img, matrices, dsize, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, scale=1 / 255,
                   layout="nchw", order="rgb", border="constant", border_value=0, out=None):
    """The N affine crops of one frame, warped and normalised into one float32 batch.

    Parameters
    ----------
    img : ndarray, shape (H, W, 3), uint8
        The frame.
    matrices : array_like, shape (N, 2, 3)
        One source-to-crop affine map per crop (as for :func:`warp_affine`), e.g. from
        ``wasmpose.keypoints.get_affine_transform``.
    dsize : (int, int)
        ``(w, h)`` of every crop.
    mean, std : sequence of 3 floats (or a scalar)
        As :func:`to_tensor`, per output channel.
    scale : float, default 1/255
    layout : {"nchw", "nhwc"}
    order : {"rgb", "bgr"}
        ``"bgr"`` reverses the channels of ``img`` (a BGR frame gives an RGB batch).
    border : {"constant", "replicate"}, default "constant"
        As :func:`warp_affine`: ``"constant"`` fills pixels outside the frame with
        ``border_value``; ``"replicate"`` repeats the frame's edge pixels
        (``cv2.BORDER_REPLICATE``, the border of MediaPipe's ``ImageToTensorCalculator``).
    border_value : float or sequence of 3 floats, default 0
        Value outside the frame with ``border="constant"``, per output channel (after
        ``order``), saturated to [0, 255].
    out : ndarray, float32, shape (N, 3, h, w) or (N, h, w, 3), optional
        E.g. a buffer from :class:`wasmpose.memory.BufferPool`; the call then allocates nothing.

    Returns
    -------
    ndarray, float32, shape (N, 3, h, w) for ``"nchw"`` or (N, h, w, 3) for ``"nhwc"``
        Equal to ``to_tensor(np.stack([warp_affine(src, m, dsize, border=border,
        border_value=border_value) for m in matrices]), mean, std, scale=scale,
        layout=layout)`` with ``src`` the frame in ``order`` (bilinear): each crop pixel is
        OpenCV's uint8 bilinear value, normalised by the same float32 formula as
        :func:`to_tensor`, in one pass without the intermediate images. ``N = 0`` gives an
        empty batch.

    Raises
    ------
    TypeError, ValueError
        As :func:`warp_affine` and :func:`to_tensor` for the corresponding arguments; any
        matrix singular or not finite is a ``ValueError`` naming its index.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.image import crop_to_tensor
    >>> frame = np.full((8, 8, 3), 255, np.uint8)
    >>> crops = crop_to_tensor(frame, np.array([[[1.0, 0, 0], [0, 1.0, 0]]] * 2), (4, 2),
    ...                        mean=0.5, std=0.5)
    >>> crops.shape, float(crops[0, 0, 0, 0])
    ((2, 3, 2, 4), 1.0)
    """
    img = _checks.as_array(img, "img", (_U8,), min_ndim=3, max_ndim=3, ndim_text="(H, W, 3)")
    if img.shape[2] != 3:
        raise ValueError(f"img: expected 3 channels in the last axis, got shape {img.shape}")
    if img.size == 0:
        raise ValueError(f"img: expected a non-empty image, got shape {img.shape}")
    mats = _as_matrices(matrices, "matrices", True)
    inv = np.empty((mats.shape[0], 6), np.float64)
    for k in range(mats.shape[0]):
        inv[k] = _inverse_map(mats[k], f"matrices[{k}]")
    w, h = _dsize(dsize, 3 * max(1, mats.shape[0]))
    layout = _checks.choice(layout, "layout", ("nchw", "nhwc"))
    bgr = _checks.choice(order, "order", ("rgb", "bgr")) == "bgr"
    replicate = _checks.choice(border, "border", ("constant", "replicate")) == "replicate"
    m = _channel_vector(mean, "mean")
    s = _channel_vector(std, "std")
    if np.any(s == 0):
        raise ValueError(f"std: expected non-zero values, got {s.tolist()}")
    sc = _checks.real_scalar(scale, "scale", allow_inf=False)
    bval = _saturate_u8(_border_vector(border_value, 3))
    n = mats.shape[0]
    shape = (n, 3, h, w) if layout == "nchw" else (n, h, w, 3)
    dst, copy_back = _checks.output_buffer(out, "out", shape, _F32, (img,))
    if dst.size:
        a = (sc / s).astype(np.float32)
        b = (-m / s).astype(np.float32)
        perm = np.array([2, 1, 0] if bgr else [0, 1, 2], np.int64)
        img = np.ascontiguousarray(img)
        _CROP(img.nbytes + inv.nbytes + dst.nbytes + 72, img, inv,
              dst.reshape(n, -1), h, w, a, b, bval, perm, layout == "nchw", replicate)
    if copy_back:
        out[...] = dst
        return out
    return dst
