"""keypoints: distances against scipy's cdist, OKS against pycocotools' computeOks, pose NMS
against a plain reimplementation of mmpose's oks_nms."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmarks.peers import mmpose_oks_iou, mmpose_oks_nms  # also the asv peer of oks_nms
from tests.helpers import layouts
from wasmpose.cpu import opt_level
from wasmpose.keypoints import (
    COCO_KEYPOINTS,
    COCO_SIGMAS,
    keypoint_distances,
    oks,
    oks_nms,
    pairwise_distances,
)
from wasmpose.tools.peers import coco_oks


# ---------------------------------------------------------------------------------------------
# constants
# ---------------------------------------------------------------------------------------------
def test_coco_constants():
    assert len(COCO_KEYPOINTS) == 17 and COCO_KEYPOINTS[0] == "nose"
    assert COCO_KEYPOINTS[-1] == "right_ankle"
    assert COCO_SIGMAS.dtype == np.float64 and COCO_SIGMAS.shape == (17,)
    assert not COCO_SIGMAS.flags.writeable
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    np.testing.assert_array_equal(COCO_SIGMAS,
                                  cocoeval.Params(iouType="keypoints").kpt_oks_sigmas)


# ---------------------------------------------------------------------------------------------
# pairwise_distances, keypoint_distances
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [1, 2, 3, 5, 17])
def test_pairwise_matches_cdist(variant, rng, dim):
    distance = pytest.importorskip("scipy.spatial.distance")
    a = rng.normal(0, 100, (37, dim))
    b = rng.normal(0, 100, (53, dim))
    b[:5] = a[:5]  # zero distances
    b[5:10] = a[5:10] + 1e-9  # close points, where a Gram-matrix formula loses all digits
    got = pairwise_distances(a, b)
    want = distance.cdist(a, b)
    assert got.dtype == np.float64 and got.shape == (37, 53)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)


def test_pairwise_large_parallel_matches_cdist(variant, rng):
    distance = pytest.importorskip("scipy.spatial.distance")
    a = rng.uniform(0, 640, (300, 2)).astype(np.float32)
    b = rng.uniform(0, 640, (400, 2)).astype(np.float32)
    np.testing.assert_allclose(pairwise_distances(a, b), distance.cdist(a, b), rtol=1e-9, atol=0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 9), m=st.integers(0, 9), dim=st.integers(0, 4),
       dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64]), data=st.data())
def test_pairwise_shapes_dtypes_layouts(n, m, dim, dtype, data):
    distance = pytest.importorskip("scipy.spatial.distance")
    elems = st.integers(-1000, 1000) if np.dtype(dtype).kind == "i" else st.floats(-1e3, 1e3)
    a = data.draw(hnp.arrays(dtype, (n, dim), elements=elems))
    b = data.draw(hnp.arrays(dtype, (m, dim), elements=elems))
    want = distance.cdist(a.astype(np.float64).reshape(n, dim), b.astype(np.float64)
                          .reshape(m, dim)) if n and m else np.zeros((n, m))
    for la in layouts(a).values():
        for lb in (layouts(b)["negative"], layouts(b)["fortran"]):
            got = pairwise_distances(la, lb)
            assert got.shape == (n, m) and got.dtype == np.float64
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)


def _keypoint_distances_numpy(a, b):
    d = a[:, None].astype(np.float64) - b[None].astype(np.float64)
    return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2)


def test_keypoint_distances(variant, rng):
    a = rng.normal(0, 50, (7, 17, 2))
    b = rng.normal(0, 50, (5, 17, 2))
    got = keypoint_distances(a, b)
    assert got.shape == (7, 5, 17) and got.dtype == np.float64
    np.testing.assert_allclose(got, _keypoint_distances_numpy(a, b), rtol=1e-14, atol=0)
    big_a = rng.normal(0, 50, (60, 17, 2)).astype(np.float32)
    big_b = rng.normal(0, 50, (80, 17, 2)).astype(np.float32)
    np.testing.assert_allclose(keypoint_distances(big_a, big_b),
                               _keypoint_distances_numpy(big_a, big_b), rtol=1e-14, atol=0)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 6), m=st.integers(0, 6), k=st.integers(0, 20), data=st.data())
def test_keypoint_distances_shapes_layouts(n, m, k, data):
    a = data.draw(hnp.arrays(np.float64, (n, k, 2), elements=st.floats(-1e3, 1e3)))
    b = data.draw(hnp.arrays(np.float64, (m, k, 2), elements=st.floats(-1e3, 1e3)))
    want = _keypoint_distances_numpy(a, b)
    for la in layouts(a).values():
        got = keypoint_distances(la, layouts(b)["strided"])
        assert got.shape == (n, m, k)
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------------------------
# oks against pycocotools
# ---------------------------------------------------------------------------------------------
def _compute_oks(dt, gt, areas, bboxes, sigmas=COCO_SIGMAS):
    """pycocotools' COCOeval.computeOks on COCO objects built in memory."""
    call = coco_oks(dt, gt, areas, bboxes, sigmas)
    if call is None:
        pytest.skip("pycocotools is not installed")
    return call()


def _scene(rng, n_gt, n_dt, k=17, *, spread=60.0):
    """Ground truths with partly invisible keypoints and detections near some of them."""
    centres = rng.uniform(100, 900, (n_gt, 1, 2))
    gt = np.empty((n_gt, k, 3))
    gt[..., :2] = centres + rng.normal(0, spread, (n_gt, k, 2))
    gt[..., 2] = rng.choice([0, 1, 2], (n_gt, k), p=[0.3, 0.2, 0.5])
    near = rng.integers(0, n_gt, n_dt)
    dt = gt[near, :, :2] + rng.normal(0, 8, (n_dt, k, 2))
    dt[::3] = rng.uniform(0, 1000, (len(dt[::3]), 1, 2)) + rng.normal(0, 40, (len(dt[::3]), k, 2))
    areas = rng.uniform(500, 40000, n_gt)
    xy0 = gt[..., :2].min(axis=1)
    bboxes = np.column_stack([xy0, gt[..., :2].max(axis=1) - xy0])
    return dt, gt, areas, bboxes


def test_vectorised_exp_within_one_ulp_of_numpy(rng):
    # the kernels' own exp(-e) (the cost of OKS), over its whole range: normal results,
    # subnormal ones, underflow to 0, inf and NaN
    from wasmpose.keypoints._kernels import _exp_neg

    edges = [0.0, 5e-324, 1e-300, 1e-17, 0.5, np.log(2), 700, 708.39, 708.4, 709, 744.4, 745.0,
             745.13, 745.14, 745.5, 746, 1e300, np.inf, np.nan]
    e = np.concatenate([edges, rng.uniform(0, 50, 4000), rng.uniform(700, 746, 4000),
                        10 ** rng.uniform(-20, 2.9, 4000)])
    got = np.empty_like(e)
    _exp_neg(e, got, np.empty(e.size, np.int64))
    want = np.exp(-e)
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    assert (np.abs(got - want)[~nan] <= np.spacing(want[~nan])).all()
    assert (got[want == 0] == 0).all() and (got[(want > 0) & (want < 2.3e-308)] > 0).all()


def test_oks_matches_pycocotools(variant, rng):
    dt, gt, areas, bboxes = _scene(rng, 12, 40)
    gt[3, :, 2] = 0  # no visible keypoint: the bbox rule
    gt[7, :, 2] = 0
    dt[5, :, :2] = bboxes[3, :2] + bboxes[3, 2:] / 2  # inside the doubled box: zero distance
    gt[4, :, 2] = 0
    gt[4, 2, 2] = 1  # a single visible keypoint
    dt[6] = gt[4, :, :2]
    want = _compute_oks(dt, gt, areas, bboxes)
    got = oks(dt, gt, areas, gt_bboxes=bboxes)
    assert got.shape == (40, 12) and got.dtype == np.float64
    assert (want > 0.5).sum() > 10  # the scene has real matches
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_oks_tiny_and_zero_areas(variant, rng):
    dt, gt, areas, bboxes = _scene(rng, 8, 20)
    areas[:] = [0.0, 1e-300, 5e-324, 1e-16, 2e-16, 1e-3, 0.5, 1e300]
    dt[:4] = gt[:4, :, :2]  # exact hits: the only non-zero OKS with a zero area
    dt[4, :8] = gt[1, :8, :2]
    dt[8] = gt[5, :, :2] + 1e-9
    gt[6, :, 2] = 0  # bbox rule with a tiny area
    want = _compute_oks(dt, gt, areas, bboxes)
    got = oks(dt, gt, areas, gt_bboxes=bboxes)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got[0, 0] == want[0, 0] == 1.0


def test_oks_dense_scene_all_near(variant, rng):
    # every detection near every ground truth: exp works on its whole range
    gt = np.empty((20, 17, 3))
    gt[..., :2] = rng.normal(500, 20, (20, 17, 2))
    gt[..., 2] = 2
    dt = rng.normal(500, 20, (60, 17, 2))
    areas = rng.uniform(10, 5000, 20)
    xy0 = gt[..., :2].min(axis=1)
    bboxes = np.column_stack([xy0, gt[..., :2].max(axis=1) - xy0])
    want = _compute_oks(dt, gt, areas, bboxes)
    np.testing.assert_allclose(oks(dt, gt, areas, gt_bboxes=bboxes), want, rtol=1e-12,
                               atol=1e-12)


def test_oks_other_keypoint_counts_and_sigmas(variant, rng):
    sig = rng.uniform(0.02, 0.2, 5)
    dt, gt, areas, bboxes = _scene(rng, 6, 15, k=5)
    want = _compute_oks(dt, gt, areas, bboxes, sigmas=sig)
    np.testing.assert_allclose(oks(dt, gt, areas, gt_bboxes=bboxes, sigmas=sig), want,
                               rtol=1e-12, atol=1e-12)


def test_oks_dtypes_layouts_and_score_column(rng):
    dt, gt, areas, bboxes = _scene(rng, 5, 9)
    want = oks(dt, gt, areas, gt_bboxes=bboxes)
    dt3 = np.concatenate([dt, rng.random((9, 17, 1))], axis=-1)
    for d in layouts(dt3).values():
        for g in layouts(gt).values():
            np.testing.assert_array_equal(oks(d, g, areas, gt_bboxes=bboxes), want)
    r = np.rint
    np.testing.assert_allclose(oks(r(dt).astype(np.int32), r(gt).astype(np.int64), areas,
                                   gt_bboxes=bboxes),
                               oks(r(dt), r(gt), areas, gt_bboxes=bboxes), rtol=0, atol=0)


def test_oks_nan_coordinates_propagate_like_pycocotools(rng):
    dt, gt, areas, bboxes = _scene(rng, 3, 4)
    gt[..., 2] = 2
    gt[0, 0, 2] = 0
    gt[0, 0, :2] = np.nan  # invisible NaN keypoint: ignored
    dt[1, 3, 0] = np.nan  # NaN detection: NaN OKS
    got = oks(dt, gt, areas, gt_bboxes=bboxes)
    want = _compute_oks(dt, gt, areas, bboxes)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isnan(got[1]).all() and np.isfinite(got[0]).all()


@pytest.mark.parametrize("n_dt,n_gt", [(0, 3), (3, 0), (0, 0)])
def test_oks_empty(variant, n_dt, n_gt):
    got = oks(np.zeros((n_dt, 17, 2)), np.ones((n_gt, 17, 3)), np.zeros(n_gt))
    assert got.shape == (n_dt, n_gt) and got.dtype == np.float64


def test_oks_large_parallel_matches_reference(rng):
    dt, gt, areas, bboxes = _scene(rng, 50, 300)
    gt[::7, :, 2] = 0
    with opt_level("none"):
        want = oks(dt, gt, areas, gt_bboxes=bboxes)
    for level in ("simd", "parallel", "full"):
        with opt_level(level):
            np.testing.assert_allclose(oks(dt, gt, areas, gt_bboxes=bboxes), want, rtol=1e-13,
                                       atol=1e-15)


# ---------------------------------------------------------------------------------------------
# oks_nms against mmpose's algorithm
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,m", [(10, 10), (1, 40), (37, 3), (0, 4), (4, 0)])
def test_mean_area_oks_matches_mmpose_oks_iou(variant, rng, n, m):
    # the OKS matrix PoseTracker matches with (internal, not exported)
    from wasmpose.keypoints import _oks_mean_area, _variances

    poses, _, areas = _crowd(rng, 4, 13)  # 52 poses of 4 people: near and far pairs
    areas[::5] = 0.0
    a, a_area = poses[:n], areas[:n]
    b = np.concatenate([poses[n:n + m], rng.random((m, 17, 1))], -1)  # a score column: ignored
    b_area = areas[n:n + m]
    got = _oks_mean_area(a, a_area, b, b_area, _variances(COCO_SIGMAS, 17))
    assert got.shape == (n, m) and got.dtype == np.float64
    want = np.array([mmpose_oks_iou(p, b, pa, b_area, COCO_SIGMAS)
                     for p, pa in zip(a, a_area, strict=True)])
    np.testing.assert_allclose(got, want.reshape(n, m), rtol=1e-13, atol=1e-15)
    if got.size:
        assert (got > 0.5).any() and (got < 0.1).any()  # near and far pairs


def _crowd(rng, n_people, copies, k=17):
    base = rng.uniform(0, 600, (n_people, 1, 2)) + rng.normal(0, 40, (n_people, k, 2))
    who = rng.integers(0, n_people, n_people * copies)
    poses = base[who] + rng.normal(0, rng.uniform(0.05, 15, (len(who), 1, 1)), (len(who), k, 2))
    scores = rng.random(len(who))
    areas = rng.uniform(2000, 20000, len(who))
    return poses, scores, areas


@pytest.mark.parametrize("thr", [0.3, 0.5, 0.9, 0.99])
def test_oks_nms_matches_mmpose(variant, rng, thr):
    poses, scores, areas = _crowd(rng, 12, 9)
    want = mmpose_oks_nms(poses, scores, areas, thr, COCO_SIGMAS)
    got = oks_nms(poses, scores, areas, threshold=thr)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert 12 <= len(got) < len(poses)


def test_oks_nms_ties_zero_areas_and_score_column(variant, rng):
    poses, scores, areas = _crowd(rng, 5, 6)
    scores = np.round(scores * 3) / 3  # many equal scores
    areas[::4] = 0.0
    poses[7] = poses[3]  # identical poses
    poses3 = np.concatenate([poses, rng.random(poses.shape[:2] + (1,))], -1)
    want = mmpose_oks_nms(poses, scores, areas, 0.6, COCO_SIGMAS)
    np.testing.assert_array_equal(oks_nms(poses3, scores, areas, threshold=0.6), want)


def test_oks_nms_float32_rounding_of_the_threshold_comparison():
    # mmpose stores OKS in float32: an OKS just above 0.9 in float64 that rounds to
    # float32(0.9) keeps the pose; one that rounds above drops it
    sig = np.full(17, 0.1)
    var = (sig * 2) ** 2
    area = 1000.0
    den = (area + area) / 2 + np.spacing(1)
    thr32 = np.float64(np.float32(0.9))
    outcomes = set()
    for target in (thr32 + 1e-10, np.nextafter(0.9, 1.0), thr32 + 5e-8, thr32 - 1e-9):
        dx = np.sqrt(-np.log(target) * var[0] * den * 2)
        poses = np.zeros((2, 17, 2))
        poses[1, :, 0] = dx  # every keypoint moved by dx: OKS = exp(-e) = target
        want = mmpose_oks_nms(poses, [1.0, 0.5], np.array([area, area]), 0.9, sig)
        np.testing.assert_array_equal(oks_nms(poses, [1.0, 0.5], [area, area], sigmas=sig), want)
        value = np.exp(-(dx**2) / var / den / 2).sum() / 17
        outcomes.add((bool(value > 0.9), len(want)))
    assert (True, 2) in outcomes  # float64 says "above 0.9", float32 keeps it
    assert (True, 1) in outcomes


def test_oks_nms_empty_and_single(variant):
    assert oks_nms(np.zeros((0, 17, 2)), [], []).shape == (0,)
    np.testing.assert_array_equal(oks_nms(np.zeros((1, 17, 2)), [0.3], [10.0]), [0])


def test_oks_nms_large_parallel(rng):
    poses, scores, areas = _crowd(rng, 40, 12)
    want = mmpose_oks_nms(poses, scores, areas, 0.5, COCO_SIGMAS)
    for level in ("none", "simd", "parallel", "full"):
        with opt_level(level):
            np.testing.assert_array_equal(oks_nms(poses, scores, areas, threshold=0.5), want)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
P17 = np.zeros((2, 17, 2))
G17 = np.ones((2, 17, 3))
A2 = np.ones(2)


@pytest.mark.parametrize("call,exc,start", [
    (lambda: pairwise_distances(np.zeros(3), np.zeros((2, 3))), ValueError, "a:"),
    (lambda: pairwise_distances(np.zeros((2, 3)), np.zeros((2, 2, 3))), ValueError, "b:"),
    (lambda: pairwise_distances(np.zeros((2, 3)), np.zeros((2, 2))), ValueError, "b:"),
    (lambda: pairwise_distances(np.zeros((2, 3), complex), np.zeros((2, 3))), TypeError, "a:"),
    (lambda: pairwise_distances(None, np.zeros((2, 3))), TypeError, "a:"),
    (lambda: keypoint_distances(np.zeros((2, 17)), P17), ValueError, "a:"),
    (lambda: keypoint_distances(P17, np.zeros((2, 17, 3))), ValueError, "b:"),
    (lambda: keypoint_distances(P17, np.zeros((2, 16, 2))), ValueError, "b:"),
    (lambda: keypoint_distances(P17, np.zeros((2, 17, 2), np.uint8)), TypeError, "b:"),
    (lambda: oks(np.zeros((17, 2)), G17, A2), ValueError, "dt:"),
    (lambda: oks(np.zeros((2, 17, 4)), G17, A2), ValueError, "dt:"),
    (lambda: oks(P17, np.ones((2, 17, 2)), A2), ValueError, "gt:"),
    (lambda: oks(P17, np.ones((2, 16, 3)), A2), ValueError, "gt:"),
    (lambda: oks(P17, G17, A2, sigmas=np.ones(16)), ValueError, "sigmas:"),
    (lambda: oks(P17, G17, A2, sigmas=np.ones((17, 1))), ValueError, "sigmas:"),
    (lambda: oks(P17, G17, A2, sigmas=np.r_[0.0, np.ones(16)]), ValueError, "sigmas:"),
    (lambda: oks(P17, G17, np.array([1.0, -1.0])), ValueError, "gt_areas:"),
    (lambda: oks(P17, G17, np.array([1.0, np.nan])), ValueError, "gt_areas:"),
    (lambda: oks(P17, G17, np.ones(3)), ValueError, "gt_areas:"),
    (lambda: oks(P17, G17, np.ones((2, 1))), ValueError, "gt_areas:"),
    (lambda: oks(P17, G17, "big"), TypeError, "gt_areas:"),
    (lambda: oks(P17, np.zeros((2, 17, 3)), A2), ValueError, "gt_bboxes:"),
    (lambda: oks(P17, G17, A2, gt_bboxes=np.ones((3, 4))), ValueError, "gt_bboxes:"),
    (lambda: oks(P17, G17, A2, gt_bboxes=np.ones((2, 3))), ValueError, "gt_bboxes:"),
    (lambda: oks(P17, G17, A2, gt_bboxes=np.array([[0, 0, -1, 1], [0, 0, 1, 1.0]])),
     ValueError, "gt_bboxes:"),
    (lambda: oks_nms(np.zeros((2, 17)), [1, 2], A2), ValueError, "poses:"),
    (lambda: oks_nms(P17, [1.0], A2), ValueError, "scores:"),
    (lambda: oks_nms(P17, [1.0, np.nan], A2), ValueError, "scores:"),
    (lambda: oks_nms(P17, [1.0, 2.0], [1.0, -2.0]), ValueError, "areas:"),
    (lambda: oks_nms(P17, [1.0, 2.0], A2, sigmas=np.ones(5)), ValueError, "sigmas:"),
    (lambda: oks_nms(P17, [1.0, 2.0], A2, threshold=np.nan), ValueError, "threshold:"),
    (lambda: oks_nms(P17, [1.0, 2.0], A2, threshold="0.5"), TypeError, "threshold:"),
])
def test_bad_input(call, exc, start):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value).startswith(start), str(info.value)


def test_missing_bboxes_message_names_the_ground_truth():
    gt = np.ones((3, 17, 3))
    gt[1, :, 2] = 0
    with pytest.raises(ValueError, match=r"gt_bboxes: required .*gt\[1\].*got None"):
        oks(P17, gt, np.ones(3))
    # with boxes the same call works; boxes are optional when every gt has a visible keypoint
    assert oks(P17, gt, np.ones(3), gt_bboxes=np.ones((3, 4))).shape == (2, 3)
    assert oks(P17, np.ones((3, 17, 3)), np.ones(3)).shape == (2, 3)
