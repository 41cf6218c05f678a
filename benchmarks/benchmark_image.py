"""Benchmarks of :mod:`wasmpose.image` against NumPy and the peer libraries.

One class per kernel. The ``impl`` parameter names what is timed:

``wasmpose``
    the public function at ``OptLevel.FULL`` (the default: parallel above the kernel's
    threshold, serial below it);
``wasmpose-serial``
    the public function at ``OptLevel.SERIAL`` (single-threaded compiled kernel);
``wasmpose-out``
    (``to_tensor`` only) ``OptLevel.FULL`` writing into a preallocated ``out=``;
``numpy``
    the NumPy reference: the public function at ``OptLevel.NONE`` for grayscale, threshold and
    Otsu, the plain NumPy formula for normalize and to_tensor;
``opencv`` / ``torch``
    the peer library; skipped (``NotImplementedError`` in ``setup``) when it is not installed;
``opencv-1thread``
    (``warp_affine`` only) ``cv2.warpAffine`` after ``cv2.setNumThreads(1)``, beside
    ``wasmpose-serial``;
``rtmlib`` / ``opencv+to_tensor``
    (``crop_to_tensor`` only) rtmlib's per-person preprocessing loop, and ``cv2.warpAffine``
    per crop followed by ``wasmpose.image.to_tensor``.

``setup`` calls the timed function once per process and case so that Numba's compilation (or
cache load) is never timed. asv may re-run ``setup`` before every sample, so everything it does
after the first time is memoised and costs microseconds.
"""

from __future__ import annotations

import numpy as np

from wasmpose.image import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    crop_to_tensor,
    grayscale,
    normalize,
    otsu_threshold,
    threshold,
    to_tensor,
    warp_affine,
)
from wasmpose.tools.peers import numpy_to_tensor, opencv_blob, torch_layer_norm

from . import common
from .peers import (
    RTMLIB_MEAN,
    RTMLIB_STD,
    person_boxes,
    rtmlib_matrices,
    rtmlib_preprocess,
)

# Preallocated outputs of the ``out=`` benchmarks, kept per process (a fresh np.empty in every
# setup would put page faults into the timing).
_OUT: dict = {}

SIZES_1D = {"1K": 1 << 10, "1M": 1 << 20, "16M": 1 << 24}


def _hw(size: str) -> tuple[int, int]:
    """``"640x480"`` (width x height, as video sizes are written) -> ``(480, 640)``."""
    w, h = size.split("x")
    return int(h), int(w)


class Grayscale(common.KernelSuite):
    """``grayscale`` vs ``cv2.cvtColor(img, COLOR_RGB2GRAY)``; float32 at 640x480 only.

    ``opencv-1thread`` is OpenCV after ``cv2.setNumThreads(1)``, beside ``wasmpose-serial``.
    """

    params = [
        ["wasmpose", "wasmpose-serial", "numpy", "opencv", "opencv-1thread"],
        ["uint8", "float32"],
        ["256x256", "640x480", "1920x1080", "2048x2048"],
    ]
    param_names = ["impl", "dtype", "size"]

    def setup(self, impl, dtype, size):
        if dtype != "uint8" and size != "640x480":
            raise NotImplementedError("float32 grayscale is timed at 640x480 only")
        img = common.rgb_image(*_hw(size), dtype)
        if impl.startswith("opencv"):
            cv2 = common.require_peer("cv2")
            code = cv2.COLOR_RGB2GRAY
            fn = lambda: cv2.cvtColor(img, code)  # noqa: E731
            if impl == "opencv-1thread":
                self._cv2_threads = (cv2, cv2.getNumThreads())
                cv2.setNumThreads(1)
        else:
            fn = lambda: grayscale(img)  # noqa: E731
        self._start(impl, ("grayscale", impl, dtype, size), fn)

    def time_grayscale(self, impl, dtype, size):
        self.fn()

    def teardown(self, *params):
        super().teardown(*params)
        cv2_threads = getattr(self, "_cv2_threads", None)
        if cv2_threads is not None:
            cv2_threads[0].setNumThreads(cv2_threads[1])
            self._cv2_threads = None


class Threshold(common.KernelSuite):
    """``threshold(x, 127)`` (binary, maxval 255) vs ``cv2.threshold``; square 2-D arrays."""

    params = [
        ["wasmpose", "wasmpose-serial", "numpy", "opencv"],
        ["uint8", "float32"],
        list(SIZES_1D),
    ]
    param_names = ["impl", "dtype", "size"]

    def setup(self, impl, dtype, size):
        n = SIZES_1D[size]
        x = common.u8_array(n) if dtype == "uint8" else common.float_array(n, dtype)
        if impl == "opencv":
            cv2 = common.require_peer("cv2")
            kind = cv2.THRESH_BINARY
            fn = lambda: cv2.threshold(x, 127, 255, kind)  # noqa: E731
        else:
            fn = lambda: threshold(x, 127)  # noqa: E731
        self._start(impl, ("threshold", impl, dtype, size), fn)

    def time_threshold(self, impl, dtype, size):
        self.fn()


class OtsuThreshold(common.KernelSuite):
    """``otsu_threshold`` vs ``cv2.threshold(g, 0, 255, THRESH_BINARY + THRESH_OTSU)``.

    OpenCV also writes the thresholded image; wasmpose only returns the value.
    """

    params = [
        ["wasmpose", "wasmpose-serial", "numpy", "opencv"],
        ["640x480", "1920x1080"],
    ]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        g = common.gray_image(*_hw(size))
        if impl == "opencv":
            cv2 = common.require_peer("cv2")
            kind = cv2.THRESH_BINARY + cv2.THRESH_OTSU
            fn = lambda: cv2.threshold(g, 0, 255, kind)  # noqa: E731
        else:
            fn = lambda: otsu_threshold(g)  # noqa: E731
        self._start(impl, ("otsu", impl, size), fn)

    def time_otsu_threshold(self, impl, size):
        self.fn()


class Normalize(common.KernelSuite):
    """``normalize(x)`` (axis=None) of float32 vs NumPy and ``torch.nn.functional.layer_norm``."""

    params = [
        ["wasmpose", "wasmpose-serial", "numpy", "torch"],
        list(SIZES_1D),
    ]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        x = common.float_array(SIZES_1D[size], "float32")
        if impl == "torch":
            fn = torch_layer_norm(common.require_peer("torch"), x)
        elif impl == "numpy":
            fn = lambda: (x - x.mean()) / x.std()  # noqa: E731
        else:
            fn = lambda: normalize(x)  # noqa: E731
        self._start(impl, ("normalize", impl, size), fn)

    def time_normalize(self, impl, size):
        self.fn()


class ToTensor(common.KernelSuite):
    """``to_tensor`` (ImageNet mean/std, NCHW) vs NumPy and ``cv2.dnn.blobFromImage(s)WithParams``.

    The NumPy formula makes a C-contiguous NCHW array, as the other implementations do.
    The OpenCV blob is checked once against wasmpose (``np.allclose``, atol 1e-5).
    ``peakmem_to_tensor`` is the peak memory of the process after one call (the input and the
    first call's output included): NumPy's float64 temporaries show there.
    """

    params = [
        ["wasmpose", "wasmpose-out", "wasmpose-serial", "numpy", "opencv"],
        ["640x480", "1920x1080", "8x256x256"],
    ]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        if size.count("x") == 2:
            n, w, h = (int(v) for v in size.split("x"))
            img = common.rgb_batch(n, h, w)
        else:
            h, w = _hw(size)
            n, img = 1, common.rgb_image(h, w, "uint8")
        mean = IMAGENET_MEAN.astype(np.float64)
        std = IMAGENET_STD.astype(np.float64)
        if impl == "opencv":
            fn = self._opencv(img, mean, std, size)
        elif impl == "numpy":
            fn = numpy_to_tensor(img, mean, std)
        elif impl == "wasmpose-out":
            out = _OUT.get(size)
            if out is None:
                out = _OUT[size] = np.zeros((n, 3, h, w), np.float32)  # pages touched once
            fn = lambda: to_tensor(img, out=out)  # noqa: E731
        else:
            fn = lambda: to_tensor(img)  # noqa: E731
        self._start(impl, ("to_tensor", impl, size), fn)

    @staticmethod
    def _opencv(img, mean, std, size):
        cv2 = common.require_peer("cv2")
        fn = opencv_blob(cv2, img, mean, std)
        key = ("to_tensor-verify", size)
        if key not in common.WARMED:
            blob, ref = fn(), to_tensor(img)
            if blob.shape != ref.shape:
                raise RuntimeError(f"cv2.dnn blob has shape {blob.shape}, to_tensor {ref.shape}")
            if not np.allclose(blob, ref, rtol=0, atol=1e-5):
                raise RuntimeError(f"cv2.dnn blob differs from to_tensor at {size}: max |diff| "
                                   f"{np.max(np.abs(blob - ref))}")
            common.WARMED.add(key)
        return fn

    def time_to_tensor(self, impl, size):
        self.fn()

    def peakmem_to_tensor(self, impl, size):
        self.fn()


class WarpAffine(common.KernelSuite):
    """``warp_affine`` uint8 RGB, a 1920x1080 frame to 960x540 under a 17-degree rotation with
    scale 0.5 (bilinear, constant border), vs ``cv2.warpAffine`` threaded and at one thread.
    ``numpy`` is the NumPy reference (``OptLevel.NONE``)."""

    params = [["wasmpose", "wasmpose-serial", "numpy", "opencv", "opencv-1thread"]]
    param_names = ["impl"]

    def setup(self, impl):
        import math

        frame = common.rgb_image(1080, 1920, "uint8")
        a = math.radians(17.0)
        c, s = 0.5 * math.cos(a), 0.5 * math.sin(a)
        # about the frame centre, to the centre of the 960x540 output
        m = np.array([[c, s, 480 - c * 960 - s * 540], [-s, c, 270 + s * 960 - c * 540]])
        out = _OUT.setdefault(("warp", impl), np.zeros((540, 960, 3), np.uint8))
        self._threads = None
        if impl.startswith("opencv"):
            cv2 = common.require_peer("cv2")
            if impl == "opencv-1thread":
                self._threads = cv2.getNumThreads()
                cv2.setNumThreads(1)
            fn = lambda: cv2.warpAffine(frame, m, (960, 540), dst=out)  # noqa: E731
        else:
            fn = lambda: warp_affine(frame, m, (960, 540), out=out)  # noqa: E731
        self._start(impl, ("warp_affine", impl), fn)

    def teardown(self, *params):
        if self._threads is not None:
            common.require_peer("cv2").setNumThreads(self._threads)
        super().teardown(*params)

    def time_warp_affine(self, impl):
        self.fn()


class CropToTensor(common.KernelSuite):
    """``crop_to_tensor``: 10 person crops of 192x256 from a 1920x1080 frame (rtmlib's crop
    matrices, NCHW float32, rtmlib's mean/std) vs rtmlib's per-person loop (``rtmlib``, skipped
    when rtmlib is not installed) and ``cv2.warpAffine`` per crop + ``to_tensor``.
    ``numpy`` is the NumPy reference (``OptLevel.NONE``); ``wasmpose-out`` writes into a
    preallocated batch, as a pipeline with a buffer pool does."""

    params = [["wasmpose", "wasmpose-out", "wasmpose-serial", "numpy", "rtmlib",
               "opencv+to_tensor"]]
    param_names = ["impl"]

    def setup(self, impl):
        frame = common.rgb_image(1080, 1920, "uint8")
        pre = common.require_peer("rtmlib.tools.pose_estimation.pre_processings")
        size = (192, 256)
        boxes = person_boxes(10, (1080, 1920))
        mats = rtmlib_matrices(pre, boxes, size)
        mean = np.array(RTMLIB_MEAN) / 255
        std = np.array(RTMLIB_STD) / 255
        out = _OUT.setdefault(("crop", impl), np.zeros((10, 3, 256, 192), np.float32))
        if impl == "rtmlib":
            fn = rtmlib_preprocess(pre, frame, boxes, size)
        elif impl == "opencv+to_tensor":
            cv2 = common.require_peer("cv2")
            fn = lambda: to_tensor(np.stack([cv2.warpAffine(frame, m, size) for m in mats]),  # noqa: E731
                                   mean, std, out=out)
        elif impl == "wasmpose-out":
            fn = lambda: crop_to_tensor(frame, mats, size, mean, std, out=out)  # noqa: E731
        else:
            fn = lambda: crop_to_tensor(frame, mats, size, mean, std)  # noqa: E731
        self._start(impl, ("crop_to_tensor", impl), fn)

    def time_crop_to_tensor(self, impl):
        self.fn()
