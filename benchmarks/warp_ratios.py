"""Speed ratios of warp_affine and crop_to_tensor against their peers, in one process.

Run from the repository root: ``python -m benchmarks.warp_ratios``. Each contender is called
in alternation (``rounds`` times, after one warm-up call each) and the median is reported; the
ratio is peer median / wasmpose median (above 1: wasmpose is faster).

Cases (issue 14): ``warp_affine`` uint8 1920x1080x3 -> 960x540 with a rotation against
``cv2.warpAffine`` (threaded, then both single-threaded: ``cv2.setNumThreads(1)`` against
``OptLevel.SERIAL``); ``crop_to_tensor`` of 10 crops 192x256 from a 1080p frame against rtmlib's
per-person preprocessing (``bbox_xyxy2cs`` + ``top_down_affine`` + float64 ``(img - mean) / std``
+ transpose to float32, as ``rtmlib.RTMPose`` does) and against ``cv2.warpAffine`` per crop
followed by ``wasmpose.image.to_tensor``.
"""

import statistics
import time

import cv2
import numpy as np

from benchmarks.peers import (
    RTMLIB_MEAN,
    RTMLIB_STD,
    person_boxes,
    rtmlib_matrices,
    rtmlib_preprocess,
)
from wasmpose.cpu import opt_level
from wasmpose.image import crop_to_tensor, to_tensor, warp_affine


def _median_times(fns, rounds):
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(rounds=30):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    m = cv2.getRotationMatrix2D((960, 540), 17.0, 0.5)
    m[:, 2] -= (480, 270)
    out = np.empty((540, 960, 3), np.uint8)
    threads = cv2.getNumThreads()
    t = _median_times({
        "cv2": lambda: cv2.warpAffine(frame, m, (960, 540), dst=out),
        "wasmpose": lambda: warp_affine(frame, m, (960, 540), out=out),
    }, rounds)
    print(f"warp_affine 1080p->960x540 rot: cv2 {t['cv2'] * 1e3:.3f} ms, wasmpose "
          f"{t['wasmpose'] * 1e3:.3f} ms, ratio {t['cv2'] / t['wasmpose']:.2f}x")
    cv2.setNumThreads(1)
    with opt_level("serial"):
        t = _median_times({
            "cv2": lambda: cv2.warpAffine(frame, m, (960, 540), dst=out),
            "wasmpose": lambda: warp_affine(frame, m, (960, 540), out=out),
        }, rounds)
    cv2.setNumThreads(threads)
    print(f"warp_affine one thread:           cv2 {t['cv2'] * 1e3:.3f} ms, wasmpose "
          f"{t['wasmpose'] * 1e3:.3f} ms, ratio {t['cv2'] / t['wasmpose']:.2f}x")

    from rtmlib.tools.pose_estimation import pre_processings as pre

    size = (192, 256)
    boxes = person_boxes(10, (1080, 1920))
    rtmlib_loop = rtmlib_preprocess(pre, frame, boxes, size)
    mats = rtmlib_matrices(pre, boxes, size)
    mean = np.array(RTMLIB_MEAN)
    std = np.array(RTMLIB_STD)
    batch = np.empty((10, 3, 256, 192), np.float32)
    ref = rtmlib_loop()
    got = crop_to_tensor(frame, mats, size, mean / 255, std / 255)
    print(f"crop_to_tensor vs rtmlib loop: max |diff| {np.abs(ref - got).max():.2e}")
    t = _median_times({
        "rtmlib": rtmlib_loop,
        "cv2+to_tensor": lambda: to_tensor(np.stack(
            [cv2.warpAffine(frame, mm, size) for mm in mats]), out=batch),
        "wasmpose": lambda: crop_to_tensor(frame, mats, size, out=batch),
    }, rounds)
    print(f"crop_to_tensor 10 x 192x256 from 1080p: rtmlib {t['rtmlib'] * 1e3:.3f} ms, "
          f"cv2 warps + to_tensor {t['cv2+to_tensor'] * 1e3:.3f} ms, wasmpose "
          f"{t['wasmpose'] * 1e3:.3f} ms; ratios {t['rtmlib'] / t['wasmpose']:.1f}x and "
          f"{t['cv2+to_tensor'] / t['wasmpose']:.2f}x")


if __name__ == "__main__":
    main()
