"""``python -m wasmpose demo``: the image kernels on real photographs, timed against NumPy and
OpenCV.

Until the pose demo lands, the main job is the preprocessing half of a pose pipeline on
scikit-image's sample photographs (a synthetic frame when scikit-image is not installed):
grayscale -> Otsu threshold -> threshold -> normalize, and to_tensor on the colour frame.
"""

from __future__ import annotations

import sys

import numpy as np

from wasmpose import cpu, memory
from wasmpose._bench import measure
from wasmpose._peers import opencv_blob


def _frames():
    try:
        from skimage import data
    except ImportError:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:480, 0:640]
        base = ((np.sin(xx / 37.0) + np.cos(yy / 23.0)) * 60 + 128).astype(np.uint8)
        img = np.stack([base, base[::-1], (base // 2 + 64)], -1)
        img = np.clip(img + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
        return {"synthetic 640x480": img}, ("scikit-image is not installed: using a synthetic "
                                            "frame (pip install 'wasmpose[demo]')")
    return {"astronaut 512x512": data.astronaut(), "coffee 400x600": data.coffee(),
            "rocket 427x640": data.rocket()}, None


def _stages(frame, cv2, tensor):
    """(name, wasmpose call, OpenCV call or None) per pipeline stage; ``tensor`` is the
    pooled (1, 3, H, W) float32 buffer to_tensor writes into."""
    from wasmpose import image

    gray = image.grayscale(frame)
    t = image.otsu_threshold(gray)
    stages = [
        ("grayscale", lambda: image.grayscale(frame),
         cv2 and (lambda: cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))),
        ("otsu_threshold", lambda: image.otsu_threshold(gray),
         cv2 and (lambda: cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU))),
        ("threshold", lambda: image.threshold(gray, t),
         cv2 and (lambda: cv2.threshold(gray, t, 255, cv2.THRESH_BINARY))),
        ("normalize", lambda: image.normalize(gray.astype(np.float32)), None),
        ("to_tensor", lambda: image.to_tensor(frame, out=tensor), None),
    ]
    if cv2 is not None:
        stages[-1] = ("to_tensor", stages[-1][1],
                      opencv_blob(cv2, frame, image.IMAGENET_MEAN, image.IMAGENET_STD))
    return stages


def main(argv=None, file=None) -> int:
    out = file or sys.stdout
    try:
        import cv2
    except ImportError:
        cv2 = None
    frames, note = _frames()
    if note:
        print(note, file=out)
    if cv2 is None:
        print("OpenCV is not installed: peer timings skipped (pip install 'wasmpose[demo]')",
              file=out)
    print(f"CPU {cpu.cpu_features().name}, opt level {cpu.get_opt_level().name}, "
          f"threading layer {cpu.threading_layer()}", file=out)
    print(f"compiling / loading kernels from cache: {cpu.warmup():.2f} s", file=out)
    head = f"{'frame':<20}{'stage':<16}{'wasmpose':>11}{'numpy':>11}{'x numpy':>9}"
    head += f"{'opencv':>11}{'x opencv':>10}"
    print(head, file=out)
    print("-" * len(head), file=out)
    pool = memory.default_pool()
    for fname, frame in frames.items():
        h, w = frame.shape[:2]
        with pool.borrow((1, 3, h, w), np.float32) as tensor:
            _frame_rows(fname, _stages(frame, cv2, tensor), out)
    st = pool.stats()
    print(f"buffer pool: {st.hits} hits, {st.misses} misses, peak {st.peak_bytes / 2**20:.1f} MiB",
          file=out)
    print("kernel variants:", ", ".join(f"{k}={v}" for k, v in cpu.kernel_variants().items()),
          file=out)
    return 0


def _frame_rows(fname, stages, out):
    for stage, ours, peer in stages:
        t_ours = measure(ours, min_time=0.01, repeats=3).estimate
        with cpu.opt_level("none"):
            t_ref = measure(ours, min_time=0.01, repeats=3).estimate
        line = f"{fname:<20}{stage:<16}{t_ours * 1e3:>9.3f}ms{t_ref * 1e3:>9.3f}ms"
        line += f"{t_ref / t_ours:>8.1f}x"
        if peer:
            t_peer = measure(peer, min_time=0.01, repeats=3).estimate
            line += f"{t_peer * 1e3:>9.3f}ms{t_peer / t_ours:>9.1f}x"
        else:
            line += f"{'-':>11}{'-':>10}"
        print(line, file=out)
