"""Engine of ``python -m wasmpose bench``: wasmpose kernels against NumPy and their peers.

:func:`run` times every public kernel of :mod:`wasmpose.image` four ways and prints a table:

``wasmpose``
    the public function at ``OptLevel.FULL`` (the default level: the parallel kernel from the
    kernel's size threshold on, the serial one below it);
``simd``
    the public function at ``OptLevel.SIMD`` (single-threaded compiled kernel);
``numpy``
    the NumPy reference: the public function at ``OptLevel.NONE`` for grayscale, threshold and
    Otsu, the plain NumPy formula for normalize and to_tensor;
``peer``
    the peer library where it imports (OpenCV, PyTorch); skipped otherwise.

:func:`thresholds` measures, for every registered kernel, from which size the parallel variant
beats the serial one: the ``parallel_min_size`` of :class:`wasmpose.cpu.Kernel`.

Nothing heavy is imported with this module: OpenCV and PyTorch are imported on first use, and
only inside :func:`run`.

Timing method: :func:`wasmpose.tools.timing.measure` (samples of >= 20 ms; 5 ms in quick mode),
the timer the demo and the asv suite use too.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import platform
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from wasmpose import cpu
from wasmpose.tools.data import float_array, gray_image, rgb_batch, rgb_image, shape_2d, u8_array
from wasmpose.tools.peers import numpy_to_tensor, opencv_blob, torch_layer_norm
from wasmpose.tools.peers import peer as _peer
from wasmpose.tools.timing import Timing, load_average, measure, ratio, versions
from wasmpose.tools.timing import fmt_ms as _fmt_ms

__all__ = ["run", "thresholds"]

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
    size: int  # units of work as the kernel counts them (pixels or elements)
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


_CASES = (_grayscale_cases, _threshold_cases, _otsu_cases, _normalize_cases, _to_tensor_cases,
          _find_peaks_cases, _decode_cases, _oks_cases, _pairwise_cases, _oks_nms_cases,
          _simcc_cases, _refine_landmarks_cases, _affine_cases)


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


def _kernel_of(name: str, dtype: str) -> cpu.Kernel:
    """The Kernel object a call of public function ``name`` on ``dtype`` runs."""
    registered = cpu.get_kernel(name)
    for k in _companion_kernels(registered):
        tag = k.name[len(name) + 1:-1]  # "grayscale[float]" -> "float"
        if dtype.startswith(tag):
            return k
    return registered


def _companion_kernels(registered: cpu.Kernel) -> list[cpu.Kernel]:
    """Unregistered kernels of the same public function for other dtypes (``name[dtype]``)."""
    found = []
    for mod_name in cpu._KERNEL_MODULES:
        mod = sys.modules.get(mod_name) or importlib.import_module(mod_name)
        for v in vars(mod).values():
            if (isinstance(v, cpu.Kernel) and v.name.startswith(registered.name + "[")
                    and v.name.endswith("]") and v not in found):
                found.append(v)
    return found


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


_HEADER = (f"{'kernel':<19}{'case':<21}{'wasmpose ms':>12}{'simd ms':>10}{'numpy ms':>10}  "
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


def run(quick: bool = False, json_path: str | None = None, file=sys.stdout) -> list[dict]:
    """Time every public kernel (image, heatmap, keypoints) and print a comparison table.

    Parameters
    ----------
    quick : bool, default False
        Time only the two smallest sizes of each kernel, with shorter samples (>= 5 ms instead
        of >= 20 ms) and fewer of them (3 instead of 7).
    json_path : str, optional
        Also write ``{"machine": ..., "versions": ..., "settings": ..., "rows": [...]}`` as JSON
        to this path.
    file : file-like, default sys.stdout
        Where the table goes.

    Returns
    -------
    list of dict
        One row per case, with keys ``kernel``, ``case``, ``size`` (pixels or elements, as the
        kernel counts its work), ``dtype``, ``variant`` (what ``OptLevel.FULL`` ran),
        ``wasmpose_ms``, ``simd_ms``, ``numpy_ms``, ``peer``, ``peer_ms``, ``x_vs_numpy``
        (``numpy_ms / wasmpose_ms``) and ``x_vs_peer`` (``peer_ms / wasmpose_ms``); for
        ``to_tensor`` also ``wasmpose_out_ms`` and ``x_out_vs_peer`` (with ``out=``). Missing
        measurements (peer not installed) are ``None``; ``notes`` lists anything unusual.
        ``wasmpose_best_ms``/``wasmpose_median_ms`` (and ``simd_...``) give the fastest and
        the median sample, to spot erratic timings.

    Notes
    -----
    Ratios above 1 mean wasmpose is faster. Times are per call, in milliseconds.
    """
    min_time, repeats = (_QUICK_MIN_TIME, _QUICK_REPEATS) if quick else (
        _FULL_MIN_TIME, _FULL_REPEATS)
    p = lambda *a: print(*a, file=file, flush=True)  # noqa: E731
    machine = _machine()
    from wasmpose._version import __version__

    p(f"wasmpose {__version__} bench{' (quick)' if quick else ''}: {machine['cpu']}, "
      f"{machine['cores']} cores, threading layer {machine['threading_layer']}, "
      f"{machine['numba_threads']} Numba threads, load average {machine['load_average']}")
    p(f"ms per call: median of the fastest half of {repeats} samples of >= "
      f"{min_time * 1e3:g} ms; wasmpose = OptLevel.FULL, simd = OptLevel.SIMD (one thread); "
      f"x = other time / wasmpose time")
    p(_HEADER)
    p("-" * len(_HEADER))
    rows = []
    for case in _cases(quick):
        notes: list[str] = []
        c = case.build()
        if c.note:
            notes.append(c.note)
        t_full = _timed(c.wasmpose, "full", min_time, repeats, notes, "wasmpose")
        t_simd = _timed(c.wasmpose, "simd", min_time, repeats, notes, "simd")
        t_np = _timed(c.numpy, c.numpy_level, min_time, repeats, notes, "numpy")
        t_out = _timed(c.out, "full", min_time, repeats, notes, "wasmpose out=")
        t_peer = _timed(c.peer, None, min_time, repeats, notes, c.peer_name or "peer")
        kernel = _kernel_of(case.kernel, case.dtype)
        with cpu.opt_level("full"):
            variant = kernel.variant_name(case.size)
        w, s, n, pk, o = _ms(t_full), _ms(t_simd), _ms(t_np), _ms(t_peer), _ms(t_out)
        peer_name = c.peer_name if t_peer is not None else None
        row = {
            "kernel": case.kernel,
            "case": case.name,
            "size": case.size,
            "dtype": case.dtype,
            "variant": variant,
            "wasmpose_ms": w,
            "simd_ms": s,
            "numpy_ms": n,
            "peer": peer_name,
            "peer_ms": pk,
            "x_vs_numpy": ratio(n, w),
            "x_vs_peer": ratio(pk, w),
            "wasmpose_best_ms": None if t_full is None else t_full.best * 1e3,
            "simd_best_ms": None if t_simd is None else t_simd.best * 1e3,
            "wasmpose_median_ms": None if t_full is None else t_full.median * 1e3,
            "simd_median_ms": None if t_simd is None else t_simd.median * 1e3,
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
                         "estimate": "median of the fastest half of the samples"},
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
def _threshold_input(kernel_name: str, size: int) -> Callable[[], Any] | None:
    """A call of the public function that gives kernel ``kernel_name`` ``size`` units of work."""
    from wasmpose import image

    h, w = shape_2d(size)
    if kernel_name == "grayscale":
        img = rgb_image(h, w, "uint8")
        return lambda: image.grayscale(img)
    if kernel_name == "grayscale[float]":
        img = rgb_image(h, w, "float32")
        return lambda: image.grayscale(img)
    if kernel_name == "threshold":
        x = u8_array(size)
        return lambda: image.threshold(x, 127)
    if kernel_name == "threshold[float32]":
        x = float_array(size, "float32")
        return lambda: image.threshold(x, 127)
    if kernel_name == "otsu_threshold":
        g = gray_image(h, w)
        return lambda: image.otsu_threshold(g)
    if kernel_name == "normalize":
        x = float_array(size, "float32")
        return lambda: image.normalize(x)
    if kernel_name == "to_tensor":
        img = rgb_image(h, w, "uint8")
        return lambda: image.to_tensor(img)
    return None


def thresholds(file=sys.stdout, *, quick: bool = False, margin: float = 1.10) -> dict:
    """Measure from which size each kernel's parallel variant beats its serial one.

    For every registered kernel (and its unregistered dtype companions such as
    ``grayscale[float]``), the public function is timed at ``OptLevel.SIMD`` (serial variant)
    and ``OptLevel.PARALLEL`` (parallel variant) on inputs of 2**10 to 2**22 units of work
    (pixels or elements, as the kernel counts them).

    Parameters
    ----------
    file : file-like, default sys.stdout
        Where the report goes.
    quick : bool, default False
        Every other power of two, shorter and fewer samples.
    margin : float, default 1.10
        The parallel variant "wins" when ``serial_time / parallel_time >= margin``.

    Returns
    -------
    dict
        ``{kernel name: {"current": int, "suggested": int or None, "stable_from": int or None,
        "speedup": {size: float}}}``. ``suggested`` is the smallest measured size where the
        parallel variant wins (the value to give ``Kernel.parallel_min_size``; ``None``: it
        never wins); ``stable_from`` the smallest from which it wins at every larger measured
        size too (memory-bound kernels can lose again on the largest inputs).
    """
    p = lambda *a: print(*a, file=file, flush=True)  # noqa: E731
    min_time, repeats = (_QUICK_MIN_TIME, _QUICK_REPEATS) if quick else (0.010, 5)
    exps = range(10, 23, 2 if quick else 1)
    machine = _machine()
    p(f"parallel thresholds: {machine['cpu']}, {machine['cores']} cores, threading layer "
      f"{machine['threading_layer']}, {machine['numba_threads']} Numba threads; parallel wins "
      f"when serial/parallel >= {margin:.2f}")
    if not cpu._PARALLEL_CAPABLE or cpu.threading_layer() == "unavailable":
        p("parallel kernels cannot run here (one core, one Numba thread or no threading layer):"
          " nothing to measure")
        return {}
    kernels = []
    for k in sorted(cpu._all_kernels().values(), key=lambda k: k.name):
        kernels.append(k)
        kernels.extend(_companion_kernels(k))
    result = {}
    for k in kernels:
        if _threshold_input(k.name, 1 << 10) is None:
            p(f"{k.name}: no input builder, skipped")
            continue
        p(f"{k.name} (current parallel_min_size {k.parallel_min_size:,})")
        p(f"  {'size':>10}{'serial ms':>12}{'parallel ms':>13}{'speedup':>10}")
        speedup = {}
        for e in exps:
            size = 1 << e
            fn = _threshold_input(k.name, size)
            with cpu.opt_level("simd"):
                ts = measure(fn, min_time=min_time, repeats=repeats).estimate
            with cpu.opt_level("parallel"):
                tp = measure(fn, min_time=min_time, repeats=repeats).estimate
            speedup[size] = ts / tp
            p(f"  {size:>10,}{ts * 1e3:>12.4f}{tp * 1e3:>13.4f}{ts / tp:>9.2f}x")
            del fn
        wins = [size for size in sorted(speedup) if speedup[size] >= margin]
        suggested = wins[0] if wins else None
        stable = None  # smallest size from which parallel wins at every larger size too
        for size in sorted(speedup, reverse=True):
            if speedup[size] < margin:
                break
            stable = size
        p(f"  suggested parallel_min_size: {_pow2(suggested)}")
        if suggested is not None:
            slower = [size for size in speedup if size > suggested and speedup[size] < 1.0]
            if slower:
                tail = ("it wins at no size onwards" if stable is None else
                        f"it wins at every size from {_pow2(stable)}")
                p(f"  note: parallel slower than serial again at {', '.join(map(_pow2, slower))}"
                  f" (memory-bound); {tail}")
        result[k.name] = {"current": k.parallel_min_size, "suggested": suggested,
                          "stable_from": stable, "speedup": speedup}
    return result


def _pow2(size: int | None) -> str:
    return "never (keep serial)" if size is None else f"2**{size.bit_length() - 1} = {size:,}"
