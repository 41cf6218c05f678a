"""Deterministic inputs of the kernels for ``python -m wasmpose bench`` and the demo, shared
with the asv suite (``benchmarks/common.py`` re-exports them).

The seeds must never change: timings of different commits are only comparable on the same data.
The post-processing inputs are memoised here and shared between callers: treat them as
read-only. The image inputs are not (``python -m wasmpose bench`` frees each case's large arrays
before the next); ``benchmarks/common.py`` memoises them for asv.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["heatmaps", "pose_scene", "points", "pose_crowd", "rgb_image", "rgb_batch",
           "gray_image", "shape_2d", "float_array", "u8_array", "simcc_vectors",
           "landmark_heatmaps", "person_boxes", "box_crowd", "uniform_boxes",
           "detection_clusters", "ssd_output"]

IMAGE_SEED = 20240901
ARRAY_SEED = 20240902
GRAY_SEED = 20240903
BATCH_SEED = 20240904
POSE_SEED = 20240905
POINT_SEED = 20240906
CROWD_SEED = 20240907
HEATMAP_SEED = 20240909
SIMCC_SEED = 20261204
LANDMARK_SEED = 20261205
BOX_SEED = 20261206
BOX_CROWD_SEED = 20240911
SSD_SEED = 20240912


@functools.lru_cache(maxsize=8)
def pose_scene(n_gt: int, n_dt: int, k: int = 17):
    """A COCO-like image: ``n_gt`` people and ``n_dt`` detections, as a detector outputs them.

    Ground truths are spread over a 1000x1000 image with about 30% invisible keypoints and one
    person in ten without any visible keypoint; two detections in three are noisy copies of a
    ground truth, the rest are anywhere.

    Returns
    -------
    dt : ndarray, shape (n_dt, k, 3)
        x, y, score.
    gt : ndarray, shape (n_gt, k, 3)
        x, y, visibility (0, 1, 2).
    areas : ndarray, shape (n_gt,)
    bboxes : ndarray, shape (n_gt, 4)
        x, y, w, h of the keypoints' extent.
    """
    rng = np.random.default_rng([POSE_SEED, n_gt, n_dt, k])
    gt = np.empty((n_gt, k, 3))
    gt[..., :2] = rng.uniform(50, 950, (n_gt, 1, 2)) + rng.normal(0, 40, (n_gt, k, 2))
    gt[..., 2] = rng.choice([0, 1, 2], (n_gt, k), p=[0.3, 0.2, 0.5])
    gt[::10, :, 2] = 0
    dt = np.empty((n_dt, k, 3))
    dt[..., :2] = gt[rng.integers(0, n_gt, n_dt), :, :2] + rng.normal(0, 6, (n_dt, k, 2))
    dt[::3, :, :2] = rng.uniform(0, 1000, (len(dt[::3]), 1, 2)) + rng.normal(
        0, 40, (len(dt[::3]), k, 2))
    dt[..., 2] = rng.random((n_dt, k))
    areas = rng.uniform(2000, 40000, n_gt)
    lo = gt[..., :2].min(axis=1)
    bboxes = np.column_stack([lo, gt[..., :2].max(axis=1) - lo])
    return dt, gt, areas, bboxes


@functools.lru_cache(maxsize=8)
def points(n: int, d: int = 2) -> np.ndarray:
    """``n`` points of dimension ``d`` uniform in [0, 640), C-contiguous float64 ``(n, d)``."""
    return np.random.default_rng([POINT_SEED, n, d]).uniform(0, 640, (n, d))


@functools.lru_cache(maxsize=8)
def pose_crowd(n: int, people: int = 10, k: int = 17):
    """``n`` candidate poses around ``people`` people (duplicates for NMS): poses, scores, areas."""
    rng = np.random.default_rng([CROWD_SEED, n, people, k])
    base = rng.uniform(0, 600, (people, 1, 2)) + rng.normal(0, 40, (people, k, 2))
    who = rng.integers(0, people, n)
    poses = base[who] + rng.normal(0, rng.uniform(0.5, 15, (n, 1, 1)), (n, k, 2))
    return poses, rng.random(n), rng.uniform(2000, 20000, n)


@functools.lru_cache(maxsize=16)
def heatmaps(shape: tuple, dtype: str = "float32", people: int = 3) -> np.ndarray:
    """C-contiguous heatmaps of ``shape`` (..., H, W) as a pose model emits them.

    Each map holds ``people`` Gaussian blobs (sigma 2, peak 0.5 to 1) at random sub-pixel
    positions over uniform noise in [0, 0.05): a few real peaks above the usual 0.1 threshold
    and many noise maxima below it.
    """
    rng = np.random.default_rng([HEATMAP_SEED, *shape, np.dtype(dtype).itemsize])
    *lead, h, w = shape
    maps = rng.random((int(np.prod(lead)), h, w)) * 0.05
    yy = np.arange(h)[:, None]
    xx = np.arange(w)[None, :]
    for m in maps:
        for _ in range(people):
            cy, cx, a = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.5, 1.0)
            gy = np.exp(-((yy - cy) ** 2) / 8.0)
            gx = np.exp(-((xx - cx) ** 2) / 8.0)
            np.maximum(m, a * gy * gx, out=m)
    return maps.reshape(shape).astype(dtype)


def rgb_image(h: int, w: int, dtype: str = "uint8") -> np.ndarray:
    """A C-contiguous (h, w, 3) RGB image: uint8 in [0, 255] or floats in [0, 1).

    Parameters
    ----------
    h, w : int
        Rows and columns.
    dtype : {"uint8", "float32", "float64"}

    Returns
    -------
    ndarray, shape (h, w, 3)
    """
    rng = np.random.default_rng([IMAGE_SEED, h, w])
    if dtype == "uint8":
        return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return rng.random((h, w, 3), dtype=np.dtype(dtype).type)


def rgb_batch(n: int, h: int, w: int) -> np.ndarray:
    """A C-contiguous (n, h, w, 3) batch of uint8 RGB images."""
    rng = np.random.default_rng([BATCH_SEED, n, h, w])
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def gray_image(h: int, w: int) -> np.ndarray:
    """A C-contiguous (h, w) uint8 grayscale image with a bimodal histogram (Otsu's use case).

    Two Gaussian populations (means 70 and 180) clipped to [0, 255].
    """
    rng = np.random.default_rng([GRAY_SEED, h, w])
    fg = rng.random((h, w)) < 0.4
    v = np.where(fg, rng.normal(180.0, 25.0, (h, w)), rng.normal(70.0, 30.0, (h, w)))
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def shape_2d(n: int) -> tuple[int, int]:
    """A near-square (rows, cols) shape with ``rows * cols == n`` for ``n`` a power of two."""
    if n <= 0 or n & (n - 1):
        raise ValueError(f"n: expected a power of two, got {n}")
    cols = 1 << ((n.bit_length() - 1 + 1) // 2)
    return n // cols, cols


def float_array(n: int, dtype: str = "float32") -> np.ndarray:
    """``n`` floats uniform in [0, 255), as a C-contiguous near-square 2-D array.

    ``n`` must be a power of two (the shape is :func:`shape_2d`). Values span the 8-bit range so
    that ``threshold(x, 127)`` splits them roughly in half.
    """
    rng = np.random.default_rng([ARRAY_SEED, n, np.dtype(dtype).itemsize])
    x = rng.random(shape_2d(n), dtype=np.dtype(dtype).type)
    x *= 255
    return x


def u8_array(n: int) -> np.ndarray:
    """``n`` uint8 values uniform in [0, 255], as a C-contiguous near-square 2-D array."""
    rng = np.random.default_rng([ARRAY_SEED, n, 1])
    return rng.integers(0, 256, size=shape_2d(n), dtype=np.uint8)


@functools.lru_cache(maxsize=8)
def simcc_vectors(n: int, k: int, wx: int, wy: int):
    """RTMPose's SimCC output for ``n`` people x ``k`` keypoints: float32 ``(n, k, wx)`` and
    ``(n, k, wy)``, each vector a softmax-like bump (sigma 6 bins) at a random bin over noise."""
    rng = np.random.default_rng([SIMCC_SEED, n, k, wx, wy])
    out = []
    for w in (wx, wy):
        centre = rng.uniform(0, w, (n, k, 1))
        v = np.exp(-0.5 * ((np.arange(w) - centre) / 6.0) ** 2) * rng.uniform(0.2, 1.0, (n, k, 1))
        out.append((v + rng.random((n, k, w)) * 0.01).astype(np.float32))
    return out[0], out[1]


@functools.lru_cache(maxsize=8)
def landmark_heatmaps(n: int, k: int = 39, size: int = 64):
    """BlazePose-like output for ``n`` people: normalised landmarks ``(n, k, 5)`` float32 and
    heatmap logits ``(n, size, size, k)`` float32 (channels last), each a blob near its
    landmark (within 2 cells) over negative logits."""
    rng = np.random.default_rng([LANDMARK_SEED, n, k, size])
    centre = rng.uniform(4, size - 4, (n, k, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    d2 = ((xx - centre[..., 0, None, None]) ** 2 + (yy - centre[..., 1, None, None]) ** 2)
    logits = (8.0 * np.exp(-d2 / 8.0) - 4.0).astype(np.float32)  # (n, k, size, size)
    lm = np.empty((n, k, 5), np.float32)
    lm[..., :2] = (centre + rng.uniform(-2, 2, centre.shape)) / size
    lm[..., 2:] = rng.normal(0, 1, (n, k, 3))
    return lm, np.ascontiguousarray(logits.transpose(0, 2, 3, 1))


@functools.lru_cache(maxsize=8)
def person_boxes(n: int, width: int = 1920, height: int = 1080) -> np.ndarray:
    """``n`` person boxes (x1, y1, x2, y2) float64 in a ``width`` x ``height`` frame, taller than
    wide."""
    rng = np.random.default_rng([BOX_SEED, n, width, height])
    h = rng.uniform(100, 600, n)
    w = h * rng.uniform(0.3, 0.7, n)
    x1 = rng.uniform(0, width - w)
    y1 = rng.uniform(0, height - h)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1)


@functools.lru_cache(maxsize=8)
def box_crowd(n: int, people: int = 20):
    """``n`` candidate boxes around ``people`` people in a 1920x1080 frame, as a detector emits
    them before NMS: each candidate is one person's box with its corners jittered by up to 10%
    of its size, with a random score.

    Returns
    -------
    boxes : ndarray, shape (n, 4), float32
        xyxy pixels.
    scores : ndarray, shape (n,), float32
    """
    rng = np.random.default_rng([BOX_CROWD_SEED, n, people])
    size = rng.uniform(60, 400, (people, 1)) * np.array([[0.5, 1.0]])
    corner = rng.uniform([0, 0], [1920, 1080], (people, 2)) - size / 2
    who = rng.integers(0, people, n)
    jitter = rng.uniform(-0.1, 0.1, (n, 4)) * np.tile(size[who], 2)
    boxes = np.concatenate([corner[who], corner[who] + size[who]], axis=1) + jitter
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    return boxes.astype(np.float32), rng.random(n, dtype=np.float32)


def uniform_boxes(rng: np.random.Generator, n: int, *, extent: float = 100.0,
                  size: tuple = (0.0, 40.0), dtype=np.float64, grid: int | None = None):
    """``n`` valid xyxy boxes drawn from ``rng``: corners uniform in ``[0, extent)``, widths and
    heights uniform in ``size``; with ``grid``, corners and sizes on an integer grid of that
    many cells (exact IoUs, ties), sizes up to ``grid // 2``.

    Returns
    -------
    ndarray, shape (n, 4), ``dtype``
    """
    if grid:
        xy = rng.integers(0, grid, (n, 2))
        wh = rng.integers(0, grid // 2 + 1, (n, 2))
    else:
        xy = rng.uniform(0, extent, (n, 2))
        wh = rng.uniform(size[0], size[1], (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


def detection_clusters(rng: np.random.Generator, n: int, groups: int, k: int = 4,
                       spread: float = 0.01):
    """``n`` detections around ``groups`` people in [0, 1] coordinates, as an SSD detector's
    decoded output looks before weighted NMS: each is one person's box (0.05 to 0.3 a side)
    with its centre moved by N(0, ``spread``), a score in [0.5, 1) and ``k`` keypoints around
    the centre (N(0, 0.05)).

    Returns
    -------
    boxes : ndarray, shape (n, 4), float32
        xyxy.
    scores : ndarray, shape (n,), float32
    keypoints : ndarray, shape (n, k, 2), float32
    """
    who = rng.integers(0, groups, n)
    centre = rng.uniform(0, 1, (groups, 2))[who] + rng.normal(0, spread, (n, 2))
    size = rng.uniform(0.05, 0.3, (groups, 2))[who]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
    kps = (centre[:, None] + rng.normal(0, 0.05, (n, k, 2))).astype(np.float32)
    scores = rng.uniform(0.5, 1.0, n).astype(np.float32)
    return boxes, scores, kps


@functools.lru_cache(maxsize=4)
def ssd_output(people: int = 3, anchors: int = 2254, keypoints: int = 4):
    """Raw output of a BlazePose-like SSD detector (``anchors`` rows, 4 + 2 * ``keypoints``
    values each) for an image with ``people`` people.

    Logits are N(-8, 2) (sigmoid below 0.01) except, per person, 6 anchors of one cell region
    with logits in [0.5, 3] (scores 0.62 to 0.95, above the 0.5 threshold) whose regressors
    describe nearby boxes, as the detector's output on a photograph looks.

    Returns
    -------
    raw_boxes : ndarray, shape (anchors, 4 + 2 * keypoints), float32
    raw_scores : ndarray, shape (anchors, 1), float32
    """
    rng = np.random.default_rng([SSD_SEED, people, anchors, keypoints])
    raw = rng.normal(0, 20, (anchors, 4 + 2 * keypoints))
    raw[:, 2:4] = np.abs(raw[:, 2:4])
    logits = rng.normal(-8, 2, anchors)
    for _ in range(people):
        start = int(rng.integers(0, anchors - 6))
        box = np.concatenate([rng.normal(0, 10, 2), rng.uniform(20, 60, 2),
                              rng.normal(0, 30, 2 * keypoints)])
        raw[start:start + 6] = box + rng.normal(0, 1.5, (6, box.size))
        logits[start:start + 6] = rng.uniform(0.5, 3.0, 6)
    return raw.astype(np.float32), logits.astype(np.float32)[:, None]
