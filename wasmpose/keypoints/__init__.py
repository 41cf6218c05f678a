"""Comparing poses: point distances, Object Keypoint Similarity (OKS) and pose NMS.

Each public function validates its arguments here, then runs one variant of its kernel
(``_reference.py`` holds the NumPy versions, ``_kernels.py`` the compiled ones) as chosen by
:mod:`wasmpose.cpu`. Shape symbols: N, M points or poses, D coordinates, K keypoints,
G ground truths, P poses. Coordinates may be float32, float64, int32 or int64 in any memory
layout; everything is computed in float64.
"""

from __future__ import annotations

import numpy as np

from wasmpose import _checks
from wasmpose.cpu import Kernel, register
from wasmpose.keypoints import _kernels as _nb
from wasmpose.keypoints import _reference as _ref

__all__ = [
    "COCO_KEYPOINTS",
    "COCO_SIGMAS",
    "pairwise_distances",
    "keypoint_distances",
    "oks",
    "oks_nms",
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
_COORDS = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64))


# ---------------------------------------------------------------------------------------------
# Registry. Sizes are output elements (times K where each element sums K keypoints). Distances
# are memory-bound (one sqrt per 8 bytes written): threads only pay off on large outputs; OKS
# costs ~2 ns per keypoint pair (exp); on a 2-core machine shared with other busy processes
# threads only won from ~100k pairs. The parallel NMS computes the whole OKS triangle (the
# serial one only the kept poses' rows), so it is only chosen for thousands of poses.
# ---------------------------------------------------------------------------------------------
def _warm_pairwise(variant):
    for d in (2, 3, 4):
        _PAIRWISE.variant(variant)(np.zeros((2, d)), np.zeros((d, 3)), np.empty((2, 3)))


def _warm_keypoint(variant):
    z = np.zeros((2, 17))
    _KEYPOINT.variant(variant)(z, z, z, z, np.empty((2, 2, 17)))


def _warm_oks(variant):
    z = np.zeros((17, 2))
    _OKS.variant(variant)(np.zeros((2, 17)), np.zeros((2, 17)), z, z, np.ones((17, 2), bool),
                          np.full(2, 17.0), np.zeros(2, bool), np.zeros((4, 2)),
                          np.ones(17), np.ones(2), np.empty((2, 2)))
    _OKS_MEAN.variant(variant)(np.zeros((2, 17)), np.zeros((2, 17)), np.ones(2), z, z,
                               np.ones(2), np.ones(17), np.empty((2, 2)))


def _warm_nms(variant):
    z = np.zeros((17, 3))
    _NMS.variant(variant)(z, z, np.ones(3), np.ones(17), 0.9, np.empty(3, np.int64))


_PAIRWISE = register(Kernel("pairwise_distances", reference=_ref.pairwise,
                            serial=_nb.pairwise_serial, parallel=_nb.pairwise_parallel,
                            parallel_min_size=1 << 21, warmup=_warm_pairwise))
_KEYPOINT = register(Kernel("keypoint_distances", reference=_ref.keypoint,
                            serial=_nb.keypoint_serial, parallel=_nb.keypoint_parallel,
                            parallel_min_size=1 << 19, warmup=_warm_keypoint))
_OKS = register(Kernel("oks", reference=_ref.oks, serial=_nb.oks_serial,
                       parallel=_nb.oks_parallel, parallel_min_size=1 << 17, warmup=_warm_oks))
# the mean-area OKS matrix (mmpose's oks_iou) used by PoseTracker; warmed up with "oks"
_OKS_MEAN = Kernel("oks[mean area]", reference=_ref.oks_mean, serial=_nb.oks_mean_serial,
                   parallel=_nb.oks_mean_parallel, parallel_min_size=1 << 17)
_NMS = register(Kernel("oks_nms", reference=_ref.nms, serial=_nb.nms_serial,
                       parallel=_nb.nms_parallel, parallel_min_size=1 << 24, warmup=_warm_nms))


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def _points(x, name, ndim_text, ndim, last=None):
    """``x`` as a float64 array of rank ``ndim`` whose last axis is one of ``last``."""
    x = _checks.as_array(x, name, _COORDS, min_ndim=ndim, max_ndim=ndim, ndim_text=ndim_text)
    if last is not None and x.shape[-1] not in last:
        want = " or ".join(str(c) for c in last)
        raise ValueError(f"{name}: expected {want} values per keypoint in the last axis "
                         f"{ndim_text}, got shape {x.shape}")
    return x.astype(_F64, copy=False)


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


def _per_item(x, name, n, what, *, allow_inf=True):
    """``x`` as a float64 ``(n,)`` array of non-negative values (NaN rejected)."""
    x = _checks.as_array(x, name, _COORDS, min_ndim=1, max_ndim=1, ndim_text="1-D")
    if x.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values (one per {what}), got shape {x.shape}")
    x = x.astype(_F64, copy=False)
    bad = ~(x >= 0) if allow_inf else ~((x >= 0) & np.isfinite(x))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "non-negative" if allow_inf else "finite non-negative"
        raise ValueError(f"{name}: expected {need} values, got {x[i]} at index {i}")
    return x


def _variances(sigmas, k=None):
    """pycocotools' ``vars = (sigmas * 2) ** 2`` (for ``k`` keypoints, when given)."""
    s = _checks.as_array(sigmas, "sigmas", _COORDS, min_ndim=1, max_ndim=1, ndim_text="1-D")
    if k is not None and s.shape[0] != k:
        raise ValueError(f"sigmas: expected {k} values (one per keypoint of the poses), "
                         f"got shape {s.shape}")
    s = s.astype(_F64, copy=False)
    if s.shape[0] == 0:
        raise ValueError("sigmas: expected at least one keypoint, got shape (0,)")
    if not (np.isfinite(s) & (s > 0)).all():
        raise ValueError(f"sigmas: expected positive finite values, got {s}")
    with np.errstate(over="ignore", under="ignore"):
        var = np.ascontiguousarray((s * 2) ** 2)
    if not (np.isfinite(var) & (var > 0)).all():  # sigmas beyond ~1e153 or below ~1e-162
        raise ValueError(f"sigmas: expected values whose (2 * sigma)**2 is a positive finite "
                         f"float64, got {s}")
    return var


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
    a = _points(a, "a", "(N, D)", 2)
    b = _points(b, "b", "(M, D)", 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"b: expected {a.shape[1]} coordinates per point (as a), "
                         f"got shape {b.shape}")
    out = np.empty((a.shape[0], b.shape[0]))
    if out.size:
        _PAIRWISE(out.size, np.ascontiguousarray(a), np.ascontiguousarray(b.T), out)
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
    a = _points(a, "a", "(N, K, 2)", 3, (2,))
    b = _points(b, "b", "(M, K, 2)", 3, (2,))
    _same_k(a, b, "a", "b")
    out = np.empty((a.shape[0], b.shape[0], a.shape[1]))
    if out.size:
        _KEYPOINT(out.size, *_planes(a), *_planes(b), out)
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
    dt = _points(dt, "dt", "(D, K, 2 or 3)", 3, (2, 3))
    gt = _points(gt, "gt", "(G, K, 3)", 3, (3,))
    _same_k(dt, gt, "dt", "gt")
    n_gt, k = gt.shape[:2]
    var = _variances(sigmas, k)
    area = _per_item(gt_areas, "gt_areas", n_gt, "ground truth")
    vis = gt[..., 2] > 0
    nvis = vis.sum(axis=1)
    boxrule = nvis == 0
    box = np.zeros((4, n_gt))
    if gt_bboxes is not None:
        bb = _points(gt_bboxes, "gt_bboxes", "(G, 4)", 2, (4,))
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
        _OKS(out.size * k, *_planes(dt), *_planes_t(gt), use, count, boxrule, box, var,
             area + _ref.EPS, out)
    return out


def _oks_mean_area(a, a_area, b, b_area, var):
    """mmpose's OKS (mean of the two areas) of every pose of ``a`` with every pose of ``b``.

    Internal (validated float64 inputs): ``a (N, K, >=2)``, ``b (M, K, >=2)`` -> ``(N, M)``.
    """
    out = np.empty((a.shape[0], b.shape[0]))
    if out.size:
        bx, by = _planes_t(b)
        _OKS_MEAN(out.size * a.shape[1], *_planes(a), a_area, bx, by, b_area, var, out)
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
    poses = _points(poses, "poses", "(P, K, 2 or 3)", 3, (2, 3))
    n, k = poses.shape[:2]
    s = _checks.as_array(scores, "scores", _COORDS, min_ndim=1, max_ndim=1, ndim_text="1-D")
    if s.shape[0] != n:
        raise ValueError(f"scores: expected {n} values (one per pose), got shape {s.shape}")
    s = s.astype(_F64, copy=False)
    if np.isnan(s).any():
        raise ValueError(f"scores: expected no NaN, got {int(np.isnan(s).sum())} NaN value(s)")
    area = _per_item(areas, "areas", n, "pose")
    thr = _checks.real_scalar(threshold, "threshold")
    var = _variances(sigmas, k)
    if n == 0:
        return np.empty(0, np.int64)
    order = np.argsort(s)[::-1]  # mmpose's order, ties included
    keep = np.empty(n, np.int64)
    with np.errstate(over="ignore"):  # beyond the float32 range: +-inf, as mmpose's compare
        thr32 = float(np.float32(thr))
    nk = _NMS(n * n * k // 2, *_planes_t(poses[order]), np.ascontiguousarray(area[order]), var,
              thr32, keep)
    return order[keep[:nk]].astype(np.int64)
