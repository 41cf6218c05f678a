"""Comparing poses (point distances, OKS, pose NMS) and the top-down coordinate transforms.

Each public function validates its arguments here, then runs one variant of its kernel
(``_reference.py`` holds the NumPy versions, ``_kernels.py`` the compiled ones) as chosen by
:mod:`wasmpose.cpu`. Shape symbols: N, M points or poses, D coordinates, K keypoints,
G ground truths, P poses. Coordinates may be float32, float64, int32 or int64 in any memory
layout; everything is computed in float64.
"""

from __future__ import annotations

import math

import numpy as np

from wasmpose import _checks
from wasmpose._registry import Companion, Kernel, count, operand_bytes, register, rng, side
from wasmpose.keypoints import _affine as _af
from wasmpose.keypoints import _kernels as _nb
from wasmpose.keypoints import _reference as _ref

__all__ = [
    "COCO_KEYPOINTS",
    "COCO_SIGMAS",
    "pairwise_distances",
    "keypoint_distances",
    "oks",
    "oks_nms",
    "get_affine_transform",
    "bbox_to_center_scale",
    "invert_affine",
    "transform_points",
]

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
"""The 17 COCO keypoint names, in the order of the K axis of COCO poses."""

# exactly pycocotools' Params.kpt_oks_sigmas (same literals, same division)
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                        .87, .87, .89, .89]) / 10.0
"""Per-keypoint OKS constants of COCO (pycocotools' ``sigmas``): read-only float64, shape (17,)."""
COCO_SIGMAS.flags.writeable = False

_F64 = np.dtype(np.float64)


# ---------------------------------------------------------------------------------------------
# Kernels: one declaration each (see wasmpose/_registry.py); thresholds in bytes of array
# operands. Distances are memory-bound (one sqrt per 8 bytes written): threads only pay off on
# large outputs. OKS costs ~2 ns per keypoint pair (exp); on a 2-core machine shared with other
# busy processes threads only won from ~100k pairs. The parallel NMS computes the whole OKS
# triangle (the serial one only the kept poses' rows), so it is only chosen for thousands of
# poses. The examples are crowds of 17-keypoint poses (float64, as the public functions pass).
# ---------------------------------------------------------------------------------------------
_K = 17


def _crowd(n, spread=50.0):
    """``n`` poses ``(n, 17, 2)`` around a few centres, and their areas ``(n,)``."""
    r = rng()
    centres = r.uniform(0, 640, (max(1, n // 4), 1, 2))
    poses = centres[r.integers(0, len(centres), n)] + r.normal(0, spread, (n, _K, 2))
    return poses, r.uniform(500, 5000, n)


def _example_pairwise(nbytes):
    n = max(2, side(nbytes, 8, 32))  # out (n, n) and 2-D points
    a, _ = _crowd(2 * n)
    pts = a.reshape(-1, 2)
    return [(np.ascontiguousarray(pts[:n]), np.ascontiguousarray(pts[n:2 * n].T),
             np.empty((n, n)))]


def _example_keypoint(nbytes):
    n = side(nbytes, 8 * _K, 32 * _K)
    a, _ = _crowd(2 * n)
    return [(*_planes(a[:n]), *_planes(a[n:]), np.empty((n, n, _K)))]


def _example_oks(nbytes):
    # D = 5 G detections: out (D, G) 40 G**2 bytes, poses and per-truth arrays 1810 G
    g = side(nbytes, 40, 1810)
    gt, area = _crowd(g)
    dt = np.concatenate([gt + rng().normal(0, 2.0, gt.shape) for _ in range(5)])
    use, var = np.ones((_K, g), bool), _checks.oks_variances(COCO_SIGMAS)
    return [(*_planes(dt), *_planes_t(gt), use, np.full(g, float(_K)), np.zeros(g, bool),
             np.zeros((4, g)), var, area + _ref.EPS, np.empty((5 * g, g)))]


def _example_oks_mean(nbytes):
    n = side(nbytes, 8, 32 * _K + 16)
    a, area = _crowd(2 * n)
    var = _checks.oks_variances(COCO_SIGMAS)
    return [(*_planes(a[:n]), area[:n], *_planes_t(a[n:]), area[n:], var, np.empty((n, n)))]


def _example_nms(nbytes):
    p = count(nbytes, 16 * _K + 16, 2)
    poses, area = _crowd(p, spread=5.0)  # many duplicates, as a detector gives
    var = _checks.oks_variances(COCO_SIGMAS)
    return [(*_planes_t(poses), area, var, 0.9, np.empty(p, np.int64))]


_PAIRWISE = register(Kernel(
    "pairwise_distances", reference=_ref.pairwise, serial=_nb.pairwise_serial,
    parallel=_nb.pairwise_parallel,
    parallel_min_bytes=(1 << 21) * 8,  # 2**21 float64 distances written
    example=_example_pairwise,
))
_KEYPOINT = register(Kernel(
    "keypoint_distances", reference=_ref.keypoint, serial=_nb.keypoint_serial,
    parallel=_nb.keypoint_parallel,
    parallel_min_bytes=(1 << 19) * 8,  # 2**19 float64 distances written
    example=_example_keypoint,
))
_OKS = register(Kernel(
    "oks", reference=_ref.oks, serial=_nb.oks_serial, parallel=_nb.oks_parallel,
    parallel_min_bytes=1 << 17,  # 88 x 88 poses of 17 keypoints: 2**17 keypoint pairs
    example=_example_oks,
    # the mean-area OKS matrix (mmpose's oks_iou) that PoseTracker matches with
    companions=(Companion(
        "formula", "mean-area", reference=_ref.oks_mean, serial=_nb.oks_mean_serial,
        parallel=_nb.oks_mean_parallel, parallel_min_bytes=1 << 17, example=_example_oks_mean),),
))
_OKS_MEAN = _OKS.companions["formula=mean-area"]
_NMS = register(Kernel(
    "oks_nms", reference=_ref.nms, serial=_nb.nms_serial, parallel=_nb.nms_parallel,
    # 1405 poses of 17 keypoints (P**2 K / 2 = 2**24 OKS pairs), 16 K + 16 bytes each
    parallel_min_bytes=1405 * (16 * _K + 16),
    example=_example_nms,
))


def _boxes(n):
    """``n`` person boxes of a 640x480 frame: centres ``(n, 2)`` and sizes ``(n, 2)``."""
    r = rng()
    return r.uniform((0, 0), (640, 480), (n, 2)), r.uniform((40, 80), (200, 400), (n, 2))


def _example_warp(nbytes):
    # per box: centre, size (16 bytes each), sin and cos (8 each), the 2x3 matrix out (48)
    n = count(nbytes, 96)
    c, sz = _boxes(n)
    rad = np.deg2rad(rng().uniform(-30, 30, n))
    return [(c, sz, np.sin(rad), np.cos(rad), np.zeros(2), 192.0, 256.0, inv,
             np.empty((n, 2, 3))) for inv in (False, True)]


def _example_center_scale(nbytes):
    n = count(nbytes, 64)  # an xyxy box in (32 bytes), its centre and scale out (16 each)
    c, sz = _boxes(n)
    xyxy = np.ascontiguousarray(np.concatenate([c - sz / 2, c + sz / 2], axis=1))
    return [(xyxy, 1.25, 0.75, np.empty((n, 2)), np.empty((n, 2)))]


def _example_invert(nbytes):
    n = count(nbytes, 96)  # a 2x3 matrix in and out
    c, sz = _boxes(n)
    m = np.empty((n, 2, 3))
    _af.warp_matrix_serial(c, sz, np.zeros(n), np.ones(n), np.zeros(2), 192.0, 256.0, False, m)
    return [(m, np.empty_like(m))]


def _example_transform(nbytes):
    # 17 keypoints of each person mapped back by its own matrix (x, y and x, y, score)
    cases = []
    for ch in (2, 3):
        n = count(nbytes, 2 * 8 * _K * ch + 48)
        m = _example_invert(96 * n)[0][0]
        pts = rng().uniform(0, 256, (n, _K, ch))
        cases.append((pts, m, True, pts.copy()))
        cases.append((pts[:1], m[:1], False, pts[:1].copy()))  # one matrix for every point
    return cases


# Thresholds from `python -m wasmpose bench --thresholds --quick` under TBB (2 cores, load
# average 1.8-3.3; docs/cpu.md): the matrices and the center/scale boxes gain 1.7-2.5x from
# 2**18 bytes (get_affine_transform) and 2**16 bytes (the others) at every larger size;
# transform_points, memory-bound, keeps its old threshold (no clear win measured).
_WARP = register(Kernel(
    "get_affine_transform", reference=_ref.warp_matrix, serial=_af.warp_matrix_serial,
    parallel=_af.warp_matrix_parallel,
    parallel_min_bytes=1 << 18,  # 2,730 boxes: 1.72x (0.88x at 2**16 bytes)
    example=_example_warp,
))
_CENTER_SCALE = register(Kernel(
    "bbox_to_center_scale", reference=_ref.center_scale, serial=_af.center_scale_serial,
    parallel=_af.center_scale_parallel,
    parallel_min_bytes=1 << 16,  # 1,024 boxes: 2.24x (1.60x at 2**14 bytes)
    example=_example_center_scale,
))
_INVERT = register(Kernel(
    "invert_affine", reference=_ref.invert, serial=_af.invert_serial,
    parallel=_af.invert_parallel,
    parallel_min_bytes=1 << 16,  # 682 matrices: 3.74x (1.27x at 2**14 bytes)
    example=_example_invert,
))
_TRANSFORM = register(Kernel(
    "transform_points", reference=_ref.transform, serial=_af.transform_serial,
    parallel=_af.transform_parallel,
    parallel_min_bytes=(1 << 20) * 32,  # 2-D float64 points in and out
    example=_example_transform,
))


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def _planes(p):
    """x and y of poses ``(N, K, C)`` as C-contiguous ``(N, K)`` float64 arrays."""
    return np.ascontiguousarray(p[..., 0]), np.ascontiguousarray(p[..., 1])


def _planes_t(p):
    """x and y of poses ``(N, K, C)`` as C-contiguous ``(K, N)`` float64 arrays (one copy)."""
    return np.ascontiguousarray(p[..., 0].T), np.ascontiguousarray(p[..., 1].T)


def _same_k(a, b, name_a, name_b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_b}: expected {a.shape[1]} keypoints (as {name_a}), "
                         f"got shape {b.shape}")


# ---------------------------------------------------------------------------------------------
# distances
# ---------------------------------------------------------------------------------------------
def pairwise_distances(a, b):
    """Euclidean distance between every point of ``a`` and every point of ``b``.

    Parameters
    ----------
    a : ndarray, shape (N, D)
    b : ndarray, shape (M, D)
        Points; float32, float64, int32 or int64, computed in float64.

    Returns
    -------
    ndarray, shape (N, M), float64
        ``out[i, j] = sqrt(sum_d (a[i, d] - b[j, d]) ** 2)``, summed in the order
        ``scipy.spatial.distance.cdist(a, b)`` sums (the same values to the last bit or two).
        No Gram-matrix shortcut: close points keep their full precision.

    Raises
    ------
    TypeError
        An input is not a numeric array of the accepted dtypes.
    ValueError
        An input is not 2-D, or ``a`` and ``b`` have a different D.

    Examples
    --------
    >>> from wasmpose.keypoints import pairwise_distances
    >>> pairwise_distances([[0.0, 0.0], [1.0, 1.0]], [[3.0, 4.0]])
    array([[5.        ],
           [3.60555128]])
    """
    a = _checks.points(a, "a", "(N, D)", 2)
    b = _checks.points(b, "b", "(M, D)", 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"b: expected {a.shape[1]} coordinates per point (as a), "
                         f"got shape {b.shape}")
    out = np.empty((a.shape[0], b.shape[0]))
    if out.size:
        ac, bt = np.ascontiguousarray(a), np.ascontiguousarray(b.T)
        _PAIRWISE(ac.nbytes + bt.nbytes + out.nbytes, ac, bt, out)
    return out


def keypoint_distances(a, b):
    """Per-keypoint Euclidean distance between every pose of ``a`` and every pose of ``b``.

    Parameters
    ----------
    a : ndarray, shape (N, K, 2)
    b : ndarray, shape (M, K, 2)
        Poses as (x, y) per keypoint; float32, float64, int32 or int64.

    Returns
    -------
    ndarray, shape (N, M, K), float64
        ``out[i, j, k] = sqrt((a[i, k, 0] - b[j, k, 0]) ** 2 + (a[i, k, 1] - b[j, k, 1]) ** 2)``.

    Raises
    ------
    TypeError
        An input is not a numeric array of the accepted dtypes.
    ValueError
        An input is not 3-D with 2 values in its last axis, or ``a`` and ``b`` have a
        different K.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.keypoints import keypoint_distances
    >>> a = np.array([[[0, 0], [1, 1]]])
    >>> keypoint_distances(a, a + [3, 4])
    array([[[5., 5.]]])
    """
    a = _checks.points(a, "a", "(N, K, 2)", 3, (2,))
    b = _checks.points(b, "b", "(M, K, 2)", 3, (2,))
    _same_k(a, b, "a", "b")
    out = np.empty((a.shape[0], b.shape[0], a.shape[1]))
    if out.size:
        # the x and y planes of float64 (N, K, 2) poses hold as many bytes as the poses
        _KEYPOINT(a.nbytes + b.nbytes + out.nbytes, *_planes(a), *_planes(b), out)
    return out


# ---------------------------------------------------------------------------------------------
# OKS
# ---------------------------------------------------------------------------------------------
def oks(dt, gt, gt_areas, *, gt_bboxes=None, sigmas=COCO_SIGMAS):
    """Object Keypoint Similarity of every detection with every ground truth, as COCO scores it.

    Exactly ``pycocotools.cocoeval.COCOeval.computeOks``: for a ground truth with visible
    keypoints (visibility ``> 0``),
    ``mean over visible k of exp(-(dx**2 + dy**2) / (2 sigma_k)**2 / (area + eps) / 2)``
    with ``eps = np.spacing(1)``; for a ground truth without any visible keypoint, ``dx`` and
    ``dy`` are each detected keypoint's distance to the box twice the size of the ground truth's
    bbox (``[x - w, x + 2 w] x [y - h, y + 2 h]``, zero inside it) and the mean runs over all K.
    The operations run in pycocotools' order (within 1e-12 of it; ``exp`` and the order of the
    final sum may differ in the last bit).

    Parameters
    ----------
    dt : ndarray, shape (D, K, 2) or (D, K, 3)
        Detected poses (x, y[, score]); a third column is ignored.
    gt : ndarray, shape (G, K, 3)
        Ground-truth poses (x, y, visibility); keypoints with visibility ``<= 0`` do not count.
    gt_areas : ndarray, shape (G,)
        Ground-truth areas (COCO's segment area), ``>= 0``; 0 is allowed (the eps keeps the
        division finite).
    gt_bboxes : ndarray, shape (G, 4), optional
        Ground-truth boxes as (x, y, w, h). Required when a ground truth has no visible keypoint.
    sigmas : ndarray, shape (K,), default COCO_SIGMAS
        Per-keypoint OKS sigmas, positive.

    Returns
    -------
    ndarray, shape (D, G), float64
        Rows are detections, as in ``computeOks`` (whose detections are sorted by descending
        score first; here they stay in the order given).

    Raises
    ------
    TypeError
        An array is not float32, float64, int32 or int64.
    ValueError
        Wrong rank or last axis, K differing between ``dt``, ``gt`` and ``sigmas``, areas
        negative or NaN, boxes of the wrong shape or with negative or NaN sizes, sigmas not
        positive, or ``gt_bboxes`` missing while a ground truth has no visible keypoint.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.keypoints import oks
    >>> gt = np.zeros((1, 17, 3)); gt[..., 2] = 2
    >>> oks(gt[:, :, :2], gt, [100.0])
    array([[1.]])
    >>> round(float(oks(gt[:, :, :2] + 1.0, gt, [100.0])[0, 0]), 4)
    0.4967
    """
    dt = _checks.points(dt, "dt", "(D, K, 2 or 3)", 3, (2, 3))
    gt = _checks.points(gt, "gt", "(G, K, 3)", 3, (3,))
    _same_k(dt, gt, "dt", "gt")
    n_gt, k = gt.shape[:2]
    var = _checks.oks_variances(sigmas, k)
    area = _checks.per_item(gt_areas, "gt_areas", n_gt, "ground truth")
    vis = gt[..., 2] > 0
    nvis = vis.sum(axis=1)
    boxrule = nvis == 0
    box = np.zeros((4, n_gt))
    if gt_bboxes is not None:
        bb = _checks.points(gt_bboxes, "gt_bboxes", "(G, 4)", 2, (4,))
        if bb.shape[0] != n_gt:
            raise ValueError(f"gt_bboxes: expected {n_gt} boxes (one per ground truth), "
                             f"got shape {bb.shape}")
        bad = ~(bb[:, 2:] >= 0).all(axis=1) | np.isnan(bb).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError("gt_bboxes: expected (x, y, w, h) boxes with w, h >= 0 and no NaN, "
                             f"got {bb[i]} at index {i}")
        # pycocotools: x0 = x - w; x1 = x + w * 2; y0 = y - h; y1 = y + h * 2
        box[0] = bb[:, 0] - bb[:, 2]
        box[1] = bb[:, 0] + bb[:, 2] * 2
        box[2] = bb[:, 1] - bb[:, 3]
        box[3] = bb[:, 1] + bb[:, 3] * 2
    elif boxrule.any():
        first = np.flatnonzero(boxrule)
        raise ValueError(f"gt_bboxes: required because {first.size} ground truth(s) have no "
                         f"visible keypoint (first: gt[{first[0]}]), where OKS is measured to "
                         "the box twice their bbox; got None")
    out = np.empty((dt.shape[0], n_gt))
    if out.size:
        use = np.ascontiguousarray((vis | boxrule[:, None]).T)
        count = np.where(boxrule, k, nvis).astype(_F64)
        args = (*_planes(dt), *_planes_t(gt), use, count, boxrule, box, var, area + _ref.EPS, out)
        _OKS(operand_bytes(args), *args)
    return out


def oks_mean_area(a, a_area, b, b_area, var):
    """mmpose's OKS (mean of the two areas) of every pose of ``a`` with every pose of ``b``.

    For :mod:`wasmpose.tracking` (not in ``__all__``): inputs already validated by
    :mod:`wasmpose._checks`, float64 ``a (N, K, >=2)``, ``a_area (N,)``, ``b (M, K, >=2)``,
    ``b_area (M,)``, ``var (K,)`` (:func:`wasmpose._checks.oks_variances`) -> ``(N, M)``.
    """
    out = np.empty((a.shape[0], b.shape[0]))
    if out.size:
        bx, by = _planes_t(b)
        args = (*_planes(a), a_area, bx, by, b_area, var, out)
        _OKS_MEAN(operand_bytes(args), *args)
    return out


def oks_nms(poses, scores, areas, *, threshold=0.9, sigmas=COCO_SIGMAS):
    """Greedy pose non-maximum suppression by OKS, as mmpose's ``oks_nms``.

    Poses are visited in descending score order; each one not yet dropped is kept and drops
    every later pose whose OKS with it exceeds ``threshold``. The OKS is mmpose's ``oks_iou``:
    over all K keypoints, with the mean of the two poses' areas,
    ``mean_k exp(-(dx**2 + dy**2) / (2 sigma_k)**2 / ((a_i + a_j) / 2 + eps) / 2)``.
    As in mmpose the OKS is rounded to float32 and compared with the float32 threshold, ties in
    score are visited in the order of ``np.argsort(scores)[::-1]``, and a NaN OKS drops the pose.

    Parameters
    ----------
    poses : ndarray, shape (P, K, 2) or (P, K, 3)
        Poses (x, y[, score]); a third column is ignored.
    scores : ndarray, shape (P,)
        Pose scores, no NaN.
    areas : ndarray, shape (P,)
        Pose areas (e.g. of their boxes), ``>= 0``.
    threshold : float, default 0.9
        Poses with OKS ``> threshold`` to a kept pose are dropped.
    sigmas : ndarray, shape (K,), default COCO_SIGMAS

    Returns
    -------
    ndarray, shape (n_kept,), int64
        Indices of the kept poses, in descending score order.

    Raises
    ------
    TypeError
        An array is not float32, float64, int32 or int64, or ``threshold`` is not a number.
    ValueError
        Wrong rank or lengths, K differing from ``sigmas``, negative or NaN areas, NaN scores
        or threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.keypoints import oks_nms
    >>> p = np.zeros((3, 17, 2)); p[2] += 100.0        # poses 0 and 1 coincide
    >>> oks_nms(p, [0.5, 0.9, 0.7], [400.0, 400.0, 400.0])
    array([1, 2])
    """
    poses = _checks.points(poses, "poses", "(P, K, 2 or 3)", 3, (2, 3))
    n, k = poses.shape[:2]
    s = _checks.as_array(scores, "scores", _checks.COORDS, min_ndim=1, max_ndim=1, ndim_text="1-D")
    if s.shape[0] != n:
        raise ValueError(f"scores: expected {n} values (one per pose), got shape {s.shape}")
    s = s.astype(_F64, copy=False)
    if np.isnan(s).any():
        raise ValueError(f"scores: expected no NaN, got {int(np.isnan(s).sum())} NaN value(s)")
    area = _checks.per_item(areas, "areas", n, "pose")
    thr = _checks.real_scalar(threshold, "threshold")
    var = _checks.oks_variances(sigmas, k)
    if n == 0:
        return np.empty(0, np.int64)
    order = np.argsort(s)[::-1]  # mmpose's order, ties included
    keep = np.empty(n, np.int64)
    with np.errstate(over="ignore"):  # beyond the float32 range: +-inf, as mmpose's compare
        thr32 = float(np.float32(thr))
    xt, yt = _planes_t(poses[order])
    nk = _NMS(2 * xt.nbytes + 2 * keep.nbytes + var.nbytes, xt, yt,
              np.ascontiguousarray(area[order]), var, thr32, keep)
    return order[keep[:nk]].astype(np.int64)


# ---------------------------------------------------------------------------------------------
# top-down transforms
# ---------------------------------------------------------------------------------------------
def _finite(x, name, what):
    """Raise ``ValueError`` naming the first NaN or infinite value of ``x``, if any."""
    bad = ~np.isfinite(x)
    if bad.any():
        i = np.argwhere(bad)[0]
        at = tuple(int(v) for v in i) if x.ndim > 1 else int(i[0])
        raise ValueError(f"{name}: expected finite {what}, got {x[tuple(i)]} at index {at}")
    return x


def _f64(x, name, min_ndim, max_ndim, ndim_text):
    """``x`` as a float64 array (validated dtype and rank; a no-op for float64 arrays)."""
    a = _checks.as_array(x, name, _checks.COORDS, min_ndim=min_ndim, max_ndim=max_ndim,
                         ndim_text=ndim_text)
    return a if a.dtype == _F64 else a.astype(_F64)


def _pair(x, name, *, positive=False):
    """A pair of finite numbers (``output_size``, ``shift``) as two Python floats."""
    if type(x) in (tuple, list) and len(x) == 2 and all(
            type(v) in (int, float) for v in x):  # the usual call: a tuple of numbers
        try:
            a, b = float(x[0]), float(x[1])
        except OverflowError:  # an int beyond the float range (10**400)
            raise ValueError(f"{name}: expected finite values, got ints beyond the float "
                             f"range") from None
        if math.isfinite(a) and math.isfinite(b) and (not positive or (a > 0 and b > 0)):
            return a, b
    arr = _f64(x, name, 1, 1, "(2,)")
    if arr.shape != (2,):
        raise ValueError(f"{name}: expected 2 values, got shape {arr.shape}")
    _finite(arr, name, "values")
    if positive and not (arr > 0).all():
        raise ValueError(f"{name}: expected positive values, got {tuple(arr.tolist())}")
    return float(arr[0]), float(arr[1])


def _sin_cos(rot, n):
    """NumPy's sin and cos of ``np.deg2rad(rot)``, as rtmlib computes them, ``(n,)`` each."""
    if type(rot) in (int, float) and rot == 0:
        return np.zeros(n), np.ones(n)
    r = _f64(rot, "rot", 0, 1, "scalar or (N,)")
    rad = np.deg2rad(r)
    sn, cs = np.sin(rad), np.cos(rad)
    if r.ndim == 0:
        return np.full(n, sn), np.full(n, cs)
    return np.ascontiguousarray(sn), np.ascontiguousarray(cs)


def get_affine_transform(center, scale, rot, output_size, *, shift=(0.0, 0.0), inv=False):
    """The affine matrix that warps a box of the image onto the model's input (top-down crop).

    Exactly rtmlib's and mmpose's ``get_warp_matrix(center, scale, rot, output_size, shift,
    inv)``: three points of the box (its centre, the middle of its top edge turned by ``rot``,
    and that direction turned by a further 90 degrees), rounded to float32 as they store them,
    mapped onto the same three points of the output, and the 2 x 3 system solved in float64
    as ``cv2.getAffineTransform`` does (within 1e-9 of it).

    Parameters
    ----------
    center : array_like, shape (2,) or (N, 2)
        Box centre (x, y) in image pixels.
    scale : array_like, shape (2,) or (N, 2)
        Box size (w, h) in pixels. Only ``w`` sets the zoom (``output_size`` sets the aspect
        ratio, so fix it first: ``bbox_to_center_scale(..., aspect_ratio=)``); ``h`` enters
        through ``shift``. ``w`` must not be 0.
    rot : float or array_like, shape (N,)
        Rotation in degrees (counter-clockwise in the image as displayed, as mmpose).
    output_size : (int, int)
        (width, height) of the model input.
    shift : (float, float), default (0.0, 0.0)
        Shift of the box centre as a fraction of ``scale``.
    inv : bool, default False
        Return the inverse map (model input to image), solved from the same points.

    Returns
    -------
    ndarray, shape (2, 3) or (N, 2, 3), float64
        For ``cv2.warpAffine``/``warp_affine`` (image to model input), or its inverse.

    Raises
    ------
    TypeError
        An argument is not numeric.
    ValueError
        Shapes do not match, a value is NaN or infinite, a width is 0 (or too small or too
        large beside the centre for float32 to resolve), ``output_size`` is not positive, or
        a box or the output size is beyond float32's range (rtmlib's points are float32).

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.keypoints import get_affine_transform
    >>> m = get_affine_transform([100.0, 200.0], [50.0, 80.0], 0.0, (192, 256))
    >>> m.round(6) + 0.0  # (+ 0.0 turns -0.0 into 0.0)
    array([[   3.84,    0.  , -288.  ],
           [   0.  ,    3.84, -640.  ]])
    >>> m @ [100.0, 200.0, 1.0]  # the box centre lands on the input's centre
    array([ 96., 128.])
    """
    c = _f64(center, "center", 1, 2, "(2,) or (N, 2)")
    single = c.ndim == 1
    if c.shape[-1] != 2:
        raise ValueError(f"center: expected (x, y) in the last axis, got shape {c.shape}")
    c = c.reshape(-1, 2)
    n = c.shape[0]
    sz = _f64(scale, "scale", 1, 2, "(2,) or (N, 2)")
    want = (2,) if single else (n, 2)
    if sz.shape != want:
        raise ValueError(f"scale: expected the shape of center {want}, got shape {sz.shape}")
    sz = sz.reshape(-1, 2)
    if type(rot) not in (int, float) and np.ndim(rot) == 1 and (
            single or np.shape(rot)[0] != n):
        raise ValueError(f"rot: expected a scalar{'' if single else f' or {n} values'}, "
                         f"got shape {np.shape(rot)}")
    sn, cs = _sin_cos(rot, n)
    dst_w, dst_h = _pair(output_size, "output_size", positive=True)
    sh = np.array(_pair(shift, "shift"))
    if not isinstance(inv, (bool, np.bool_)):
        raise TypeError(f"inv: expected a bool, got {type(inv).__name__}")
    out = np.empty((n, 2, 3))
    # operands: centre, size (16 bytes a box each), sin, cos (8), shift (16), out (48)
    if n and _WARP(96 * n + 16, np.ascontiguousarray(c), np.ascontiguousarray(sz), sn, cs, sh,
                   dst_w, dst_h, bool(inv), out):
        _finite(c, "center", "coordinates")  # raise, naming the first bad row
        _finite(sz, "scale", "sizes")
        _finite(np.broadcast_to(np.asarray(rot, _F64), (n,)), "rot", "angles")
        zero = sz[:, 0] == 0
        if zero.any():
            raise ValueError(f"scale: expected a non-zero width, got {sz[zero][0].tolist()} "
                             f"at index {int(np.argmax(zero))}")
        # rtmlib stores the three points of each box and of the output in float32
        f32_max = float(np.finfo(np.float32).max)
        if max(dst_w, dst_h) > f32_max:
            raise ValueError(f"output_size: expected sizes within float32's range, got "
                             f"{(dst_w, dst_h)}")
        with np.errstate(all="ignore"):
            centre = c + sz * sh
            reach = np.abs(centre) + np.abs(sz[:, :1]) * 0.5
        far = ~(reach <= f32_max).all(axis=1)
        if far.any():
            i = int(np.argmax(far))
            raise ValueError(f"center, scale, shift: expected a box (center + scale * shift, "
                             f"and half its width around it) within float32's range, got "
                             f"center {c[i].tolist()}, scale {sz[i].tolist()} at index {i} and "
                             f"shift {sh.tolist()}")
        i = int(np.flatnonzero(~np.isfinite(out).all(axis=(1, 2)))[0])
        raise ValueError(f"scale: expected a width that float32 can resolve, got "
                         f"{sz[i, 0]} at index {i} (singular transform)")
    return out[0] if single else out


def bbox_to_center_scale(boxes, *, padding=1.25, aspect_ratio=None):
    """Centre and size of boxes, padded, and optionally widened to the model's aspect ratio.

    rtmlib's ``bbox_xyxy2cs(boxes, padding)`` followed, when ``aspect_ratio`` is given, by
    mmpose's ``TopdownAffine._fix_aspect_ratio`` (rtmlib's ``top_down_affine`` does the
    same): the box grows along one axis until ``w / h == aspect_ratio``.

    Parameters
    ----------
    boxes : array_like, shape (N, 4) or (4,)
        (x1, y1, x2, y2) in pixels, ``x2 >= x1`` and ``y2 >= y1``; computed in float64 (rtmlib
        computes in the boxes' dtype, so float32 boxes differ from it by float32 rounding).
    padding : float > 0, default 1.25
        Factor on the width and height (rtmlib's RTMPose uses 1.25).
    aspect_ratio : float > 0, optional
        Model input width over height (``192 / 256`` for RTMPose-m):
        ``w, h = (w, w / r) if w > h * r else (h * r, h)``.

    Returns
    -------
    center : ndarray, shape (N, 2) or (2,), float64
        ``((x1 + x2) / 2, (y1 + y2) / 2)``.
    scale : ndarray, shape (N, 2) or (2,), float64
        ``((x2 - x1) * padding, (y2 - y1) * padding)``, then the aspect-ratio fix.

    Raises
    ------
    TypeError
        ``boxes`` is not numeric, or an argument has the wrong type.
    ValueError
        Wrong shape, NaN or infinite coordinates, ``x2 < x1`` or ``y2 < y1``, ``padding`` or
        ``aspect_ratio`` not a positive finite number.

    Examples
    --------
    >>> from wasmpose.keypoints import bbox_to_center_scale
    >>> center, scale = bbox_to_center_scale([[10.0, 20.0, 50.0, 140.0]], aspect_ratio=0.75)
    >>> center, scale
    (array([[30., 80.]]), array([[112.5, 150. ]]))
    """
    b = _f64(boxes, "boxes", 1, 2, "(4,) or (N, 4)")
    single = b.ndim == 1
    if b.shape[-1] != 4:
        raise ValueError(f"boxes: expected (x1, y1, x2, y2) in the last axis, got shape "
                         f"{b.shape}")
    b = np.ascontiguousarray(b.reshape(-1, 4))
    pad = _checks.real_scalar(padding, "padding", allow_inf=False)
    if not pad > 0:
        raise ValueError(f"padding: expected a positive number, got {pad}")
    ratio = 0.0
    if aspect_ratio is not None:
        ratio = _checks.real_scalar(aspect_ratio, "aspect_ratio", allow_inf=False)
        if not ratio > 0:
            raise ValueError(f"aspect_ratio: expected a positive number, got {ratio}")
    n = b.shape[0]
    center = np.empty((n, 2))
    scale = np.empty((n, 2))
    if n and _CENTER_SCALE(64 * n, b, pad, ratio, center, scale):
        _finite(b, "boxes", "coordinates")
        neg = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
        i = int(np.argmax(neg))
        raise ValueError(f"boxes: expected x2 >= x1 and y2 >= y1 (xyxy), got "
                         f"{b[i].tolist()} at index {i}")
    return (center[0], scale[0]) if single else (center, scale)


def _matrices(matrix, name="matrix"):
    m = _f64(matrix, name, 2, 3, "(2, 3) or (N, 2, 3)")
    if m.shape[-2:] != (2, 3):
        raise ValueError(f"{name}: expected (2, 3) affine matrices, got shape {m.shape}")
    return m.ndim == 2, np.ascontiguousarray(m.reshape(-1, 2, 3))


def invert_affine(matrix):
    """The inverse of affine maps: model-input coordinates back to the image.

    The same as ``cv2.invertAffineTransform`` (its reciprocal of the determinant times the
    adjugate), for one matrix or a batch.

    Parameters
    ----------
    matrix : array_like, shape (2, 3) or (N, 2, 3)
        Affine maps ``(x, y) -> M @ (x, y, 1)``, finite.

    Returns
    -------
    ndarray, shape (2, 3) or (N, 2, 3), float64
        The inverse maps.

    Raises
    ------
    TypeError
        ``matrix`` is not numeric.
    ValueError
        Wrong shape, NaN or infinite entries, or a singular matrix (its 2 x 2 part has
        determinant 0; OpenCV would return zeros).

    Examples
    --------
    >>> from wasmpose.keypoints import invert_affine
    >>> invert_affine([[2.0, 0.0, 10.0], [0.0, 4.0, -8.0]]) + 0.0
    array([[ 0.5 ,  0.  , -5.  ],
           [ 0.  ,  0.25,  2.  ]])
    """
    single, m = _matrices(matrix)
    out = np.empty_like(m)
    if len(m) and _INVERT(96 * len(m), m, out):
        _finite(m, "matrix", "entries")
        det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
        i = int(np.argmax(det == 0))
        at = "" if single else f" at index {i}"
        raise ValueError(f"matrix: expected an invertible affine matrix, got a singular one "
                         f"(determinant 0){at}: {m[i].tolist()}")
    return out[0] if single else out


def transform_points(points, matrix):
    """Points mapped through affine matrices: keypoints from a crop back to the image.

    Parameters
    ----------
    points : array_like, shape (..., C) or (N, ..., C), C >= 2
        Points with (x, y) in the first two fields of the last axis (further fields, such as
        scores, are copied). With one matrix, any leading shape; with N matrices, the first
        axis is N (one matrix per person).
    matrix : array_like, shape (2, 3) or (N, 2, 3)
        ``(x, y) -> (m00 x + m01 y + m02, m10 x + m11 y + m12)``, finite.

    Returns
    -------
    ndarray, shape of ``points``
        float32 or float64 as ``points`` (computed in float64), float64 for integer points.
        NaN points stay NaN.

    Raises
    ------
    TypeError
        An input is not numeric.
    ValueError
        Wrong shapes (fewer than 2 fields, N differing), non-finite matrix entries.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.keypoints import get_affine_transform, invert_affine, transform_points
    >>> m = get_affine_transform([100.0, 200.0], [50.0, 80.0], 0.0, (192, 256))
    >>> crop = np.array([[96.0, 128.0, 0.9], [0.0, 0.0, 0.5]])  # (x, y, score) in the crop
    >>> transform_points(crop, invert_affine(m))
    array([[100.        , 200.        ,   0.9       ],
           [ 75.        , 166.66666667,   0.5       ]])
    """
    p = _checks.as_array(points, "points", _checks.COORDS, min_ndim=1)
    single, m = _matrices(matrix)
    if p.shape[-1] < 2:
        raise ValueError(f"points: expected at least 2 fields (x, y) in the last axis, got "
                         f"shape {p.shape}")
    dtype = p.dtype if p.dtype.kind == "f" else _F64
    if single:
        rows = p.reshape(1, math.prod(p.shape[:-1]), p.shape[-1])
    else:
        if p.ndim < 2 or p.shape[0] != len(m):
            raise ValueError(f"points: expected {len(m)} in the first axis (one per matrix), "
                             f"got shape {p.shape}")
        rows = p.reshape(len(m), math.prod(p.shape[1:-1]), p.shape[-1])
    rows = np.ascontiguousarray(rows, dtype=_F64)
    out = rows.copy()
    if len(m) and _TRANSFORM(2 * rows.nbytes + m.nbytes, rows, m, not single, out):
        _finite(m, "matrix", "entries")
    return out.reshape(p.shape).astype(dtype, copy=False)
