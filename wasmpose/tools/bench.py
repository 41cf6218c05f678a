"""Engine of ``python -m wasmpose bench``: wasmpose kernels against NumPy and their peers.

:func:`run` prints two tables. The first comes from the kernel registry: every registered
kernel and companion on its declared example (``Kernel.example``) at 64 KiB and 1 MiB of array
operands, timed at ``OptLevel.FULL``, as its serial and parallel variants, and as its NumPy
reference. The second times the public functions against their peers:

``wasmpose``
    the public function at ``OptLevel.FULL`` (the default level: the parallel kernel from the
    kernel's size threshold on, the serial one below it);
``serial``
    the public function at ``OptLevel.SERIAL`` (single-threaded compiled kernel);
``numpy``
    the NumPy reference: the public function at ``OptLevel.NONE``, or the plain NumPy formula
    for normalize and to_tensor;
``peer``
    the peer library where it imports (OpenCV, PyTorch, pycocotools, scipy); skipped otherwise.

:func:`thresholds` measures, for every registered kernel and companion, from which size (bytes
of array operands, the unit of ``Kernel.parallel_min_bytes``) its parallel variant beats its
serial one, on its declared example.

Nothing heavy is imported with this module: OpenCV and PyTorch are imported on first use, and
only inside :func:`run`.

Timing method: :func:`wasmpose.tools.timing.measure` (samples of >= 20 ms; 5 ms in quick mode),
the timer the demo and the asv suite use too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from wasmpose import cpu
from wasmpose.tools.data import float_array, gray_image, rgb_batch, rgb_image, u8_array
from wasmpose.tools.peers import numpy_to_tensor, opencv_blob, torch_layer_norm
from wasmpose.tools.peers import peer as _peer
from wasmpose.tools.timing import Timing, load_average, measure, ratio, versions
from wasmpose.tools.timing import fmt_ms as _fmt_ms

__all__ = ["run", "kernel_rows", "thresholds"]

_FULL_MIN_TIME, _FULL_REPEATS = 0.020, 7
_QUICK_MIN_TIME, _QUICK_REPEATS = 0.005, 3


# ---------------------------------------------------------------------------------------------
# Inputs (wasmpose.tools.data, fixed seeds) and peers (imported lazily)
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Callables:
    wasmpose: Callable[[], Any]
    numpy: Callable[[], Any]
    numpy_level: str | None = None  # "none" when ``numpy`` is the public function at NONE
    peer_name: str | None = None
    peer: Callable[[], Any] | None = None
    out: Callable[[], Any] | None = None  # wasmpose writing into a preallocated out=
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class _Case:
    kernel: str
    name: str
    size: int  # units of work as the case counts them (pixels or elements): orders the cases
    dtype: str
    build: Callable[[], _Callables]


def _wh(w: int, h: int) -> str:
    return f"{w}x{h}"


def _grayscale_cases() -> Iterator[_Case]:
    from wasmpose.image import grayscale

    def build(h, w, dtype):
        img = rgb_image(h, w, dtype)
        cv2 = _peer("cv2")
        peer = None
        if cv2 is not None:
            code = cv2.COLOR_RGB2GRAY
            peer = lambda: cv2.cvtColor(img, code)  # noqa: E731
        call = lambda: grayscale(img)  # noqa: E731
        return _Callables(call, call, "none", "cv2.cvtColor", peer)

    for dtype, (w, h) in (("uint8", (256, 256)), ("uint8", (640, 480)),
                          ("float32", (640, 480)), ("uint8", (1920, 1080)),
                          ("uint8", (2048, 2048))):
        yield _Case("grayscale", f"{_wh(w, h)} {dtype}", h * w, dtype,
                    lambda h=h, w=w, dtype=dtype: build(h, w, dtype))


_SIZES_1D = (("1K", 1 << 10), ("1M", 1 << 20), ("16M", 1 << 24))


def _threshold_cases() -> Iterator[_Case]:
    from wasmpose.image import threshold

    def build(n, dtype):
        x = u8_array(n) if dtype == "uint8" else float_array(n, dtype)
        cv2 = _peer("cv2")
        peer = None
        if cv2 is not None:
            kind = cv2.THRESH_BINARY
            peer = lambda: cv2.threshold(x, 127, 255, kind)  # noqa: E731
        call = lambda: threshold(x, 127)  # noqa: E731
        return _Callables(call, call, "none", "cv2.threshold", peer)

    for label, n in _SIZES_1D:
        for dtype in ("uint8", "float32"):
            yield _Case("threshold", f"{label} {dtype}", n, dtype,
                        lambda n=n, dtype=dtype: build(n, dtype))


def _otsu_cases() -> Iterator[_Case]:
    from wasmpose.image import otsu_threshold

    def build(h, w):
        g = gray_image(h, w)
        cv2 = _peer("cv2")
        peer = None
        if cv2 is not None:
            kind = cv2.THRESH_BINARY + cv2.THRESH_OTSU
            peer = lambda: cv2.threshold(g, 0, 255, kind)  # noqa: E731
        call = lambda: otsu_threshold(g)  # noqa: E731
        return _Callables(call, call, "none", "cv2.threshold(OTSU)", peer,
                          note="the OpenCV call also writes the binary image")

    for w, h in ((640, 480), (1920, 1080)):
        yield _Case("otsu_threshold", _wh(w, h), h * w, "uint8",
                    lambda h=h, w=w: build(h, w))


def _normalize_cases() -> Iterator[_Case]:
    from wasmpose.image import normalize

    def build(n):
        x = float_array(n, "float32")
        torch = _peer("torch")
        peer = None if torch is None else torch_layer_norm(torch, x)
        return _Callables(lambda: normalize(x), lambda: (x - x.mean()) / x.std(), None,
                          "torch layer_norm", peer)

    for label, n in _SIZES_1D:
        yield _Case("normalize", f"{label} float32", n, "float32", lambda n=n: build(n))


def _to_tensor_cases() -> Iterator[_Case]:
    from wasmpose.image import IMAGENET_MEAN, IMAGENET_STD, to_tensor

    mean = IMAGENET_MEAN.astype(np.float64)
    std = IMAGENET_STD.astype(np.float64)

    def build(n, h, w):
        img = rgb_image(h, w) if n == 0 else rgb_batch(n, h, w)
        out = np.zeros((max(n, 1), 3, h, w), np.float32)  # pages touched once, here
        c = _Callables(lambda: to_tensor(img), numpy_to_tensor(img, mean, std), None,
                       "cv2.dnn blob", out=lambda: to_tensor(img, out=out))
        cv2 = _peer("cv2")
        if cv2 is not None:
            peer = opencv_blob(cv2, img, mean, std)
            blob, ref = peer(), to_tensor(img)
            if blob.shape == ref.shape and np.allclose(blob, ref, rtol=0, atol=1e-5):
                c.peer = peer
            else:
                c.note = "cv2.dnn blob does not match to_tensor (atol 1e-5): peer not timed"
        return c

    for n, w, h in ((0, 640, 480), (8, 256, 256), (0, 1920, 1080)):
        name = _wh(w, h) if n == 0 else f"{n}x{_wh(w, h)}"
        yield _Case("to_tensor", name, max(n, 1) * h * w, "uint8",
                    lambda n=n, h=h, w=w: build(n, h, w))


def _find_peaks_cases() -> Iterator[_Case]:
    from wasmpose.heatmap import find_peaks
    from wasmpose.tools.data import heatmaps
    from wasmpose.tools.peers import torch_peaks

    def build(shape):
        h = heatmaps(shape)
        torch = _peer("torch")
        peer = None if torch is None else torch_peaks(torch, h, 0.1, 20)
        call = lambda: find_peaks(h, threshold=0.1, top_k=20)  # noqa: E731
        return _Callables(call, call, "none", "torch max_pool2d+topk", peer)

    for shape in ((17, 64, 48), (17, 128, 96), (1, 512, 512)):
        yield _Case("find_peaks", "x".join(map(str, shape)), math.prod(shape), "float32",
                    lambda shape=shape: build(shape))


def _decode_cases() -> Iterator[_Case]:
    from wasmpose.heatmap import decode_heatmaps
    from wasmpose.tools.data import heatmaps

    def build(shape, refine):
        h = heatmaps(shape)
        call = lambda: decode_heatmaps(h, refine=refine)  # noqa: E731
        return _Callables(call, call, "none")

    for shape in ((17, 64, 48), (8, 17, 64, 48)):
        for refine in ("shift", "dark"):
            yield _Case("decode_heatmaps", f"{'x'.join(map(str, shape))} {refine}",
                        math.prod(shape), "float32",
                        lambda shape=shape, refine=refine: build(shape, refine))


def _oks_cases() -> Iterator[_Case]:
    from wasmpose.keypoints import oks
    from wasmpose.tools.data import pose_scene
    from wasmpose.tools.peers import coco_oks

    def build(n_gt, n_dt):
        dt, gt, areas, bboxes = pose_scene(n_gt, n_dt)
        call = lambda: oks(dt, gt, areas, gt_bboxes=bboxes)  # noqa: E731
        return _Callables(call, call, "none", "pycocotools", coco_oks(dt, gt, areas, bboxes))

    for n_gt, n_dt in ((20, 100), (100, 1000)):
        yield _Case("oks", f"{n_gt}x{n_dt}", n_gt * n_dt * 17, "float64",
                    lambda n_gt=n_gt, n_dt=n_dt: build(n_gt, n_dt))


def _pairwise_cases() -> Iterator[_Case]:
    from wasmpose.keypoints import pairwise_distances
    from wasmpose.tools.data import points

    def build(n):
        a, b = points(n), points(n + 1)[1:]
        spatial = _peer("scipy.spatial.distance")
        peer = None if spatial is None else (lambda: spatial.cdist(a, b))
        call = lambda: pairwise_distances(a, b)  # noqa: E731
        return _Callables(call, call, "none", "scipy cdist", peer)

    for n in (100, 1000):
        yield _Case("pairwise_distances", f"{n}x{n} float64", n * n, "float64",
                    lambda n=n: build(n))


def _oks_nms_cases() -> Iterator[_Case]:
    from wasmpose.keypoints import oks_nms
    from wasmpose.tools.data import pose_crowd

    def build(n):
        poses, scores, areas = pose_crowd(n)
        call = lambda: oks_nms(poses, scores, areas)  # noqa: E731
        return _Callables(call, call, "none")

    for n in (100, 1000):
        yield _Case("oks_nms", f"{n} poses", n * n * 17, "float64", lambda n=n: build(n))


def _simcc_cases() -> Iterator[_Case]:
    from wasmpose.heatmap import decode_simcc
    from wasmpose.tools.data import simcc_vectors

    def build(wx, wy):
        x, y = simcc_vectors(10, 17, wx, wy)
        post = _peer("rtmlib.tools.pose_estimation.post_processings")
        peer = None
        if post is not None:
            def peer():
                locs, vals = post.get_simcc_maximum(x, y)
                return locs / 2.0, vals
        call = lambda: decode_simcc(x, y, score="mean")  # noqa: E731
        return _Callables(call, call, "none", "rtmlib get_simcc_maximum", peer)

    for wx, wy in ((384, 512), (576, 768)):
        yield _Case("decode_simcc", f"10x17 {wx}+{wy} bins", 170 * (wx + wy), "float32",
                    lambda wx=wx, wy=wy: build(wx, wy))


def _refine_landmarks_cases() -> Iterator[_Case]:
    from wasmpose.heatmap import refine_landmarks
    from wasmpose.tools.data import landmark_heatmaps

    def build(n):
        lm, hm = landmark_heatmaps(n)
        call = lambda: refine_landmarks(lm, hm)  # noqa: E731
        return _Callables(call, call, "none")

    for n in (1, 10):
        yield _Case("refine_landmarks", f"{n}x39 64x64", n * 39 * 49, "float32",
                    lambda n=n: build(n))


def _affine_cases() -> Iterator[_Case]:
    from wasmpose.keypoints import bbox_to_center_scale, get_affine_transform
    from wasmpose.tools.data import person_boxes

    def build(n):
        center, scale = bbox_to_center_scale(person_boxes(n), aspect_ratio=0.75)
        pre = _peer("rtmlib.tools.pose_estimation.pre_processings")
        peer = None
        if pre is not None:
            peer = lambda: [pre.get_warp_matrix(c, s, 0.0, (192, 256))  # noqa: E731
                            for c, s in zip(center, scale, strict=True)]
        call = lambda: get_affine_transform(center, scale, 0.0, (192, 256))  # noqa: E731
        return _Callables(call, call, "none", "rtmlib get_warp_matrix", peer)

    for n in (1, 10):
        yield _Case("get_affine_transform", f"{n} boxes", n, "float64", lambda n=n: build(n))


def _nms_cases() -> Iterator[_Case]:
    from wasmpose.boxes import nms
    from wasmpose.tools.data import box_crowd

    def build(n):
        boxes, scores = box_crowd(n)
        post = _peer("rtmlib.tools.object_detection.post_processings")
        peer = None if post is None else (lambda: post.nms(boxes, scores, 0.45))
        call = lambda: nms(boxes, scores, 0.45)  # noqa: E731
        return _Callables(call, call, "none", "rtmlib nms (+1 widths)", peer)

    for n in (300, 2000):
        yield _Case("nms", f"{n} boxes", n * n, "float32", lambda n=n: build(n))


def _detector_cases() -> Iterator[_Case]:
    from wasmpose.boxes import decode_ssd, ssd_anchors, weighted_nms
    from wasmpose.tools.data import ssd_output

    def build():
        raw, logits = ssd_output()
        anchors = ssd_anchors()

        def call():
            b, s, k = decode_ssd(raw, logits, anchors)
            return weighted_nms(b, s, 0.3, keypoints=k)

        return _Callables(call, call, "none", note="decode_ssd + weighted_nms")

    yield _Case("decode_ssd", "2254 anchors + wnms", 2254, "float32", build)


_CASES = (_grayscale_cases, _threshold_cases, _otsu_cases, _normalize_cases, _to_tensor_cases,
          _find_peaks_cases, _decode_cases, _oks_cases, _pairwise_cases, _oks_nms_cases,
          _simcc_cases, _refine_landmarks_cases, _affine_cases, _nms_cases,
          _detector_cases)


def _cases(quick: bool) -> list[_Case]:
    """All cases; with ``quick``, those of the two smallest sizes of each kernel."""
    selected = []
    for make in _CASES:
        cases = list(make())
        if quick:
            sizes = sorted({c.size for c in cases})[:2]
            cases = [c for c in cases if c.size in sizes]
        selected.extend(cases)
    return selected


# ---------------------------------------------------------------------------------------------
# Environment description
# ---------------------------------------------------------------------------------------------
def _machine() -> dict:
    f = cpu.cpu_features()
    layer = cpu.threading_layer() if cpu._PARALLEL_CAPABLE else "not used (one core)"
    import numba

    return {
        "cpu": f.name,
        "flags": sorted(f.flags),
        "vector_bits": f.vector_bits,
        "cores": cpu._cores(),
        "numba_threads": numba.get_num_threads(),
        "threading_layer": layer,
        "platform": platform.platform(),
        "load_average": load_average(),
    }


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------
def _ms(t: Timing | None) -> float | None:
    return None if t is None else t.estimate * 1e3


def _fmt_x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _fmt_bytes(n: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} B"


_HEADER = (f"{'kernel':<19}{'case':<21}{'wasmpose ms':>12}{'serial ms':>10}{'numpy ms':>10}  "
           f"{'peer':<20}{'peer ms':>9}{'x vs numpy':>12}{'x vs peer':>11}")


def _line(kernel, case, w, s, n, peer, p, xn, xp) -> str:
    return (f"{kernel:<19}{case:<21}{_fmt_ms(w):>12}{_fmt_ms(s):>10}{_fmt_ms(n):>10}  "
            f"{peer or '-':<20}{_fmt_ms(p):>9}{_fmt_x(xn):>12}{_fmt_x(xp):>11}")


def _timed(fn: Callable[[], Any] | None, level: str | None, min_time: float, repeats: int,
           errors: list, what: str) -> Timing | None:
    if fn is None:
        return None
    try:
        if level is None:
            return measure(fn, min_time=min_time, repeats=repeats)
        with cpu.opt_level(level):
            return measure(fn, min_time=min_time, repeats=repeats)
    except Exception as exc:  # noqa: BLE001 - a failing peer must not stop the run
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
        return None


# Byte budgets of the kernel table (the examples' operands): a cache-resident call and one that
# streams from memory. Larger sizes are for `bench --thresholds`: the quadratic kernels
# (OKS NMS, distances) take seconds there in NumPy.
_KERNEL_SIZES = (1 << 16, 1 << 20)

_KHEADER = (f"{'kernel':<32}{'operands':>10}  {'FULL runs':<16}{'wasmpose ms':>12}"
            f"{'serial ms':>10}{'parallel ms':>12}{'numpy ms':>10}{'x vs numpy':>12}")


def _variant_calls(k, args: tuple, nbytes: int) -> dict:
    """``impl -> (callable, opt level or None)`` for a kernel on one example."""
    return {"wasmpose": (lambda: k(nbytes, *args), "full"),
            "serial": (lambda: k.run("numba-serial", *args), None),
            "parallel": (lambda: k.run("numba-parallel", *args), None),
            "numpy": (lambda: k.run("numpy", *args), None)}


def kernel_rows(quick: bool = False, file=sys.stdout, *, min_time: float | None = None,
                repeats: int | None = None, names: list[str] | None = None) -> list[dict]:
    """Time every registered kernel and companion on its example; print one line per case.

    Parameters
    ----------
    quick : bool, default False
        Only the 64 KiB examples, shorter samples.
    file : file-like
        Where the lines go.
    min_time, repeats : optional
        Override the sampling (as :func:`measure`).
    names : list of str, optional
        Only these kernels (default: all registered ones).

    Returns
    -------
    list of dict
        Keys ``kernel``, ``bytes`` (of the example's array operands), ``variant`` (what
        ``OptLevel.FULL`` runs), ``wasmpose_ms``, ``serial_ms``, ``parallel_ms``, ``numpy_ms``,
        ``x_vs_numpy`` and ``notes``.
    """
    from wasmpose import _registry

    d_min, d_rep = (_QUICK_MIN_TIME, _QUICK_REPEATS) if quick else (_FULL_MIN_TIME,
                                                                     _FULL_REPEATS)
    min_time = d_min if min_time is None else min_time
    repeats = d_rep if repeats is None else repeats
    p = lambda *a: print(*a, file=file, flush=True)  # noqa: E731
    kernels = _registry.all_kernels()
    rows = []
    p(_KHEADER)
    p("-" * len(_KHEADER))
    for name in sorted(kernels) if names is None else names:
        k = kernels[name]
        for size in _KERNEL_SIZES[:1] if quick else _KERNEL_SIZES:
            args = k.examples(size)[0]
            nbytes = _registry.operand_bytes(args)
            notes: list[str] = []
            t = {impl: _timed(fn, level, min_time, repeats, notes, impl)
                 for impl, (fn, level) in _variant_calls(k, args, nbytes).items()}
            with cpu.opt_level("full"):
                variant = k.variant_name(nbytes)
            ms = {impl: _ms(v) for impl, v in t.items()}
            row = {"kernel": name, "bytes": nbytes, "variant": variant,
                   **{f"{impl}_ms": v for impl, v in ms.items()},
                   "x_vs_numpy": ratio(ms["numpy"], ms["wasmpose"]), "notes": notes}
            rows.append(row)
            p(f"{name:<32}{_fmt_bytes(nbytes):>10}  {variant:<16}{_fmt_ms(ms['wasmpose']):>12}"
              f"{_fmt_ms(ms['serial']):>10}{_fmt_ms(ms['parallel']):>12}"
              f"{_fmt_ms(ms['numpy']):>10}{_fmt_x(row['x_vs_numpy']):>12}")
            for note in notes:
                p(f"{'':<15}note: {note}")
            del args
    return rows


def run(quick: bool = False, json_path: str | None = None, file=sys.stdout) -> list[dict]:
    """Time every kernel (registry table) and every public kernel against its peer.

    Parameters
    ----------
    quick : bool, default False
        Only the 64 KiB kernel examples and the two smallest sizes of each peer case, with
        shorter samples (>= 5 ms instead of >= 20 ms) and fewer of them (3 instead of 7).
    json_path : str, optional
        Also write ``{"machine": ..., "versions": ..., "settings": ..., "kernels": [...],
        "rows": [...]}`` as JSON to this path.
    file : file-like, default sys.stdout
        Where the tables go.

    Returns
    -------
    list of dict
        One row per peer case, with keys ``kernel`` (the registered kernel or companion the
        call ran), ``case``, ``size`` (bytes of the kernel's array operands), ``dtype``,
        ``variant`` (what ``OptLevel.FULL`` ran), ``wasmpose_ms``, ``serial_ms``, ``numpy_ms``,
        ``peer``, ``peer_ms``, ``x_vs_numpy`` (``numpy_ms / wasmpose_ms``) and ``x_vs_peer``
        (``peer_ms / wasmpose_ms``); for ``to_tensor`` also ``wasmpose_out_ms`` and
        ``x_out_vs_peer`` (with ``out=``). Missing measurements (peer not installed) are
        ``None``; ``notes`` lists anything unusual. ``wasmpose_best_ms``/``wasmpose_median_ms``
        (and ``serial_...``) give the fastest and the median sample, to spot erratic timings.
        The kernel table's rows (see :func:`kernel_rows`) go to the JSON file only.

    Notes
    -----
    Ratios above 1 mean wasmpose is faster. Times are per call, in milliseconds.
    """
    from wasmpose import _registry

    min_time, repeats = (_QUICK_MIN_TIME, _QUICK_REPEATS) if quick else (
        _FULL_MIN_TIME, _FULL_REPEATS)
    p = lambda *a: print(*a, file=file, flush=True)  # noqa: E731
    machine = _machine()
    from wasmpose._version import __version__

    p(f"wasmpose {__version__} bench{' (quick)' if quick else ''}: {machine['cpu']}, "
      f"{machine['cores']} cores, threading layer {machine['threading_layer']}, "
      f"{machine['numba_threads']} Numba threads, load average {machine['load_average']}")
    p(f"ms per call: median of the fastest half of {repeats} samples of >= "
      f"{min_time * 1e3:g} ms; x = other time / wasmpose time")
    p("")
    p("Kernels on their declared examples (operands: bytes of array inputs plus outputs; "
      "wasmpose = OptLevel.FULL, serial and parallel = the compiled variants, numpy = the "
      "reference)")
    kernels = kernel_rows(quick, file, min_time=min_time, repeats=repeats)
    p("")
    p("Public functions against their peers (wasmpose = OptLevel.FULL, serial = "
      "OptLevel.SERIAL, one thread)")
    p(_HEADER)
    p("-" * len(_HEADER))
    rows = []
    for case in _cases(quick):
        notes: list[str] = []
        c = case.build()
        if c.note:
            notes.append(c.note)
        with cpu.opt_level("full"), _registry.recording() as calls:
            c.wasmpose()  # which kernel runs, with how many bytes: the variant column
        kernel, nbytes = (calls[-1][0], calls[-1][1]) if calls else (None, None)
        t_full = _timed(c.wasmpose, "full", min_time, repeats, notes, "wasmpose")
        t_serial = _timed(c.wasmpose, "serial", min_time, repeats, notes, "serial")
        t_np = _timed(c.numpy, c.numpy_level, min_time, repeats, notes, "numpy")
        t_out = _timed(c.out, "full", min_time, repeats, notes, "wasmpose out=")
        t_peer = _timed(c.peer, None, min_time, repeats, notes, c.peer_name or "peer")
        with cpu.opt_level("full"):
            variant = None if kernel is None else kernel.variant_name(nbytes)
        w, s, n, pk, o = _ms(t_full), _ms(t_serial), _ms(t_np), _ms(t_peer), _ms(t_out)
        peer_name = c.peer_name if t_peer is not None else None
        row = {
            "kernel": case.kernel if kernel is None else kernel.name,
            "case": case.name,
            "size": nbytes,
            "dtype": case.dtype,
            "variant": variant,
            "wasmpose_ms": w,
            "serial_ms": s,
            "numpy_ms": n,
            "peer": peer_name,
            "peer_ms": pk,
            "x_vs_numpy": ratio(n, w),
            "x_vs_peer": ratio(pk, w),
            "wasmpose_best_ms": None if t_full is None else t_full.best * 1e3,
            "serial_best_ms": None if t_serial is None else t_serial.best * 1e3,
            "wasmpose_median_ms": None if t_full is None else t_full.median * 1e3,
            "serial_median_ms": None if t_serial is None else t_serial.median * 1e3,
            "notes": notes,
        }
        if c.out is not None:
            row["wasmpose_out_ms"] = o
            row["x_out_vs_peer"] = ratio(pk, o)
        rows.append(row)
        p(_line(case.kernel, case.name, w, s, n, peer_name, pk, row["x_vs_numpy"],
                row["x_vs_peer"]))
        if c.out is not None:
            p(_line("", case.name + " out=", o, None, None, None, None, ratio(n, o),
                    row["x_out_vs_peer"]))
        for note in notes:
            p(f"{'':<15}note: {note}")
        del c  # free this case's inputs before building the next
    if json_path is not None:
        doc = {
            "machine": machine,
            "versions": versions(),
            "settings": {"quick": quick, "min_time_s": min_time, "repeats": repeats,
                         "estimate": "median of the fastest half of the samples",
                         "size_unit": "bytes of the kernel's array operands (inputs + outputs)"},
            "kernels": kernels,
            "rows": rows,
        }
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        p(f"wrote {os.fspath(json_path)}")
    return rows


# ---------------------------------------------------------------------------------------------
# thresholds
# ---------------------------------------------------------------------------------------------
# A sweep stops growing a kernel's example once one serial call takes this long: the quadratic
# kernels would take minutes at 16 MiB, long past any threshold.
_SWEEP_MAX_CALL = 0.25


def thresholds(file=sys.stdout, *, quick: bool = False, margin: float = 1.10,
               names: list[str] | None = None, exps: range | None = None) -> dict:
    """Measure from which size each kernel's parallel variant beats its serial one.

    For every registered kernel and companion, its serial and parallel variants are timed
    directly on its declared example at 2**12 to 2**24 bytes of array operands (the unit of
    ``Kernel.parallel_min_bytes``), stopping early once a serial call takes 0.25 s.

    Parameters
    ----------
    file : file-like, default sys.stdout
        Where the report goes.
    quick : bool, default False
        Every other power of two, shorter and fewer samples.
    margin : float, default 1.10
        The parallel variant "wins" when ``serial_time / parallel_time >= margin``.
    names : list of str, optional
        Only these kernels (default: every registered kernel and companion).
    exps : range, optional
        The powers of two of the sizes (default ``range(12, 25)``, every other in quick mode).

    Returns
    -------
    dict
        ``{kernel name: {"current": int, "suggested": int or None, "stable_from": int or None,
        "speedup": {bytes: float}}}``. ``suggested`` is the smallest measured size where the
        parallel variant wins (the value to give ``parallel_min_bytes``; ``None``: it never
        wins); ``stable_from`` the smallest from which it wins at every larger measured size
        too (memory-bound kernels can lose again on the largest inputs).
    """
    from wasmpose import _registry

    p = lambda *a: print(*a, file=file, flush=True)  # noqa: E731
    min_time, repeats = (_QUICK_MIN_TIME, _QUICK_REPEATS) if quick else (0.010, 5)
    if exps is None:
        exps = range(12, 25, 2 if quick else 1)
    machine = _machine()
    p(f"parallel thresholds: {machine['cpu']}, {machine['cores']} cores, threading layer "
      f"{machine['threading_layer']}, {machine['numba_threads']} Numba threads; parallel wins "
      f"when serial/parallel >= {margin:.2f}; sizes in bytes of array operands")
    if not cpu._PARALLEL_CAPABLE or cpu.threading_layer() == "unavailable":
        p("parallel kernels cannot run here (one core, one Numba thread or no threading layer):"
          " nothing to measure")
        return {}
    kernels = _registry.all_kernels()
    result = {}
    for name in sorted(kernels) if names is None else names:
        k = kernels[name]
        p(f"{name} (current parallel_min_bytes {k.parallel_min_bytes:,})")
        p(f"  {'bytes':>12}{'serial ms':>12}{'parallel ms':>13}{'speedup':>10}")
        speedup = {}
        for e in exps:
            args = k.examples(1 << e)[0]
            size = _registry.operand_bytes(args)
            if size in speedup:  # the example's smallest size is above 2**e
                continue
            calls = _variant_calls(k, args, size)
            ts = measure(calls["serial"][0], min_time=min_time, repeats=repeats).estimate
            tp = measure(calls["parallel"][0], min_time=min_time, repeats=repeats).estimate
            speedup[size] = ts / tp
            p(f"  {size:>12,}{ts * 1e3:>12.4f}{tp * 1e3:>13.4f}{ts / tp:>9.2f}x")
            del args, calls
            if ts > _SWEEP_MAX_CALL:
                p(f"  (larger sizes skipped: a serial call takes {ts:.2f} s)")
                break
        wins = [size for size in sorted(speedup) if speedup[size] >= margin]
        suggested = wins[0] if wins else None
        stable = None  # smallest size from which parallel wins at every larger size too
        for size in sorted(speedup, reverse=True):
            if speedup[size] < margin:
                break
            stable = size
        p(f"  suggested parallel_min_bytes: {_fmt_size(suggested)}")
        if suggested is not None:
            slower = [size for size in speedup if size > suggested and speedup[size] < 1.0]
            if slower:
                tail = ("it wins at no size onwards" if stable is None else
                        f"it wins at every size from {_fmt_size(stable)}")
                p(f"  note: parallel slower than serial again at "
                  f"{', '.join(map(_fmt_size, slower))} (memory-bound); {tail}")
        result[name] = {"current": k.parallel_min_bytes, "suggested": suggested,
                        "stable_from": stable, "speedup": speedup}
    return result


def _fmt_size(size: int | None) -> str:
    return "never (keep serial)" if size is None else f"{size:,} bytes"
