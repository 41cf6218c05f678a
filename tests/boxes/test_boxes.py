"""boxes: box_convert, box_iou, nms and batched_nms against torchvision's rules (its documented
formulas, computed with torch in the boxes' dtype: torchvision itself must not be installed here),
nms against rtmlib's NumPy nms (which adds 1 to widths), weighted_nms / decode_ssd / ssd_anchors
against scalar transcriptions of MediaPipe's calculators, letterbox_matrix against its formula.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmarks.peers import rtmlib_nms
from tests.helpers import layouts
from tests.oracles import rtmlib_module
from wasmpose import kernel_variants
from wasmpose.boxes import (
    batched_nms,
    box_convert,
    box_iou,
    decode_ssd,
    letterbox_matrix,
    nms,
    ssd_anchors,
    weighted_nms,
)
from wasmpose.tools.data import box_crowd, detection_clusters, ssd_output, uniform_boxes

F32 = np.float32


# ---------------------------------------------------------------------------------------------
# oracles
# ---------------------------------------------------------------------------------------------
def tv_box_iou(a, b):
    """torchvision.ops.box_iou's formula (``_box_inter_union``), with torch, in the dtype."""
    torch = pytest.importorskip("torch")
    a, b = torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(b))
    area1 = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area2 = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[:, :2])
    rb = torch.min(a[:, None, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return (inter / union).numpy()


def tv_nms(boxes, scores, thr, classes=None):
    """torchvision's CPU nms loop: stable descending sort, IoU in the dtype, compared in double
    (``ovr > iou_threshold``); per class when ``classes`` is given (its vanilla batched path)."""
    torch = pytest.importorskip("torch")
    b = torch.from_numpy(np.ascontiguousarray(boxes))
    s = torch.from_numpy(np.ascontiguousarray(scores, np.float64))
    order = torch.sort(s, stable=True, descending=True).indices.tolist()
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    suppressed = set()
    keep = []
    for pos, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[pos + 1:]:
            if classes is not None and classes[j] != classes[i]:
                continue
            w = (torch.min(b[i, 2], b[j, 2]) - torch.max(b[i, 0], b[j, 0])).clamp(min=0)
            h = (torch.min(b[i, 3], b[j, 3]) - torch.max(b[i, 1], b[j, 1])).clamp(min=0)
            inter = w * h
            ovr = inter / (area[i] + area[j] - inter)
            if ovr.double().item() > thr:  # NaN (0 / 0) is not > thr
                suppressed.add(j)
    return np.array(keep, np.int64)


def mp_weighted_nms(boxes, scores, thr, keypoints):
    """MediaPipe's WeightedNonMaxSuppression, one detection at a time, float32 scalars."""
    boxes = np.asarray(boxes, F32)
    x1, y1 = boxes[:, 0], boxes[:, 1]
    wd, ht = boxes[:, 2] - x1, boxes[:, 3] - y1  # the detection stores xmin, width
    xm, ym = x1 + wd, y1 + ht  # its rectangle's max corner

    def iou(r, t):  # OverlapSimilarity(INTERSECTION_OVER_UNION, rect r, rect t)
        if (x1[r] > xm[r] or y1[r] > ym[r] or x1[t] > xm[t] or y1[t] > ym[t] or xm[t] < x1[r]
                or xm[r] < x1[t] or ym[t] < y1[r] or ym[r] < y1[t]):
            return F32(0)
        inter = ((min(xm[r], xm[t]) - max(x1[r], x1[t])) * (min(ym[r], ym[t]) - max(y1[r], y1[t])))
        norm = ((xm[r] - x1[r]) * (ym[r] - y1[r]) + (xm[t] - x1[t]) * (ym[t] - y1[t])) - inter
        return inter / norm if norm > 0 else F32(0)

    remaining = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    out = []
    while remaining:
        t = remaining[0]
        cand = [j for j in remaining if iou(j, t) > F32(thr)]
        rest = [j for j in remaining if not iou(j, t) > F32(thr)]
        if cand:
            tot, a, b, c, d = F32(0), F32(0), F32(0), F32(0), F32(0)
            kp = np.zeros(keypoints.shape[1:], F32)
            for j in cand:
                s = F32(scores[j])
                tot, a, b = F32(tot + s), F32(a + x1[j] * s), F32(b + y1[j] * s)
                c, d = F32(c + xm[j] * s), F32(d + ym[j] * s)
                kp = (kp + keypoints[j] * s).astype(F32)
            xmin, ymin = F32(a / tot), F32(b / tot)
            w, h = F32(c / tot) - xmin, F32(d / tot) - ymin
            out.append(([xmin, ymin, xmin + w, ymin + h], scores[t], kp / tot))
        else:
            out.append(([x1[t], y1[t], xm[t], ym[t]], scores[t], keypoints[t]))
        if len(rest) == len(remaining):
            break
        remaining = rest
    n, k = len(out), keypoints.shape[1]
    return (np.array([o[0] for o in out], F32).reshape(n, 4),
            np.array([o[1] for o in out], F32), np.array([o[2] for o in out], F32)
            .reshape(n, k, 2))


def mp_decode(raw, logits, anchors, scale=224.0, clip=100.0, min_score=0.5):
    """TensorsToDetectionsCalculator (CPU, one class, XYWH, linear sizes), float32 scalars."""
    boxes, scores, kps = [], [], []
    s_ = F32(scale)
    for i in range(raw.shape[0]):
        z = F32(logits[i])
        z = F32(-clip) if z < F32(-clip) else z
        z = F32(clip) if z > F32(clip) else z
        with np.errstate(over="ignore"):
            score = F32(1) / (F32(1) + F32(math.exp(-float(z))) if -z < 88 else F32(np.inf))
        if not score >= F32(min_score):
            continue
        acx, acy, aw, ah = (F32(v) for v in anchors[i])
        r = raw[i].astype(F32)
        xc, yc = r[0] / s_ * aw + acx, r[1] / s_ * ah + acy
        w, h = r[2] / s_ * aw, r[3] / s_ * ah
        box = [xc - w / F32(2), yc - h / F32(2), xc + w / F32(2), yc + h / F32(2)]
        if not (box[2] - box[0] >= 0 and box[3] - box[1] >= 0):
            continue
        boxes.append(box)
        scores.append(score)
        kps.append([[r[4 + 2 * q] / s_ * aw + acx, r[5 + 2 * q] / s_ * ah + acy]
                    for q in range((raw.shape[1] - 4) // 2)])
    k = (raw.shape[1] - 4) // 2
    return (np.array(boxes, F32).reshape(-1, 4), np.array(scores, F32),
            np.array(kps, F32).reshape(-1, k, 2))


def random_boxes(rng, n, dtype=np.float64, grid=None):
    """``n`` valid xyxy boxes; with ``grid``, corners on an integer grid (exact IoUs, ties)."""
    return uniform_boxes(rng, n, dtype=dtype, grid=grid)


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------
def test_kernels_registered():
    names = set(kernel_variants())
    assert {"box_iou", "nms", "weighted_nms", "decode_ssd"} <= names


# ---------------------------------------------------------------------------------------------
# box_convert
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_convert_formulas(rng, dtype):
    xyxy = random_boxes(rng, 50, dtype)
    x1, y1, x2, y2 = xyxy.T
    two = dtype(2)
    xywh = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    cxcywh = np.stack([(x1 + x2) / two, (y1 + y2) / two, x2 - x1, y2 - y1], axis=1)
    np.testing.assert_array_equal(box_convert(xyxy, "xyxy", "xywh"), xywh)
    np.testing.assert_array_equal(box_convert(xyxy, "xyxy", "cxcywh"), cxcywh)
    np.testing.assert_array_equal(box_convert(xyxy, "xyxy", "xyxy"), xyxy)
    half = dtype(0.5)
    cx, cy, w, h = cxcywh.T
    np.testing.assert_array_equal(box_convert(cxcywh, "cxcywh", "xyxy"),
                                  np.stack([cx - half * w, cy - half * h, cx + half * w,
                                            cy + half * h], axis=1))
    np.testing.assert_array_equal(box_convert(xywh, "XYWH", "xyxy"),
                                  np.stack([x1, y1, x1 + (x2 - x1), y1 + (y2 - y1)], axis=1))
    # xywh <-> cxcywh go through xyxy, as torchvision
    np.testing.assert_array_equal(box_convert(xywh, "xywh", "cxcywh"),
                                  box_convert(box_convert(xywh, "xywh", "xyxy"), "xyxy",
                                              "cxcywh"))
    for fmt in ("xywh", "cxcywh"):
        back = box_convert(box_convert(xyxy, "xyxy", fmt), fmt, "xyxy")
        np.testing.assert_allclose(back, xyxy, rtol=1e-6 if dtype is np.float32 else 1e-12,
                                   atol=1e-4 if dtype is np.float32 else 1e-12)


def test_box_convert_shapes_layouts(rng):
    b = random_boxes(rng, 24).reshape(2, 3, 4, 4)
    want = box_convert(np.ascontiguousarray(b), "xyxy", "cxcywh")
    assert want.shape == b.shape and want.dtype == b.dtype
    for lay in layouts(b).values():
        got = box_convert(lay, "xyxy", "cxcywh")
        np.testing.assert_array_equal(got, want)
        assert got.flags.c_contiguous and got.flags.writeable
    assert box_convert(np.zeros((0, 4)), "xyxy", "xywh").shape == (0, 4)
    c = np.ones((1, 4))
    assert box_convert(c, "xyxy", "xyxy") is not c


# ---------------------------------------------------------------------------------------------
# box_iou
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_iou_matches_torchvision(variant, rng, dtype):
    a = random_boxes(rng, 70, dtype)
    b = random_boxes(rng, 90, dtype)
    b[:10] = a[:10]
    a[10, 2] = a[10, 0]  # zero width
    got = box_iou(a, b)
    want = tv_box_iou(a, b)
    assert got.dtype == dtype and got.shape == (70, 90)
    np.testing.assert_array_equal(got, np.nan_to_num(want, nan=0.0))
    np.testing.assert_array_equal(np.diag(got[:10, :10]), 1)


def test_box_iou_large_matches_torchvision(variant, rng):
    a = random_boxes(rng, 600, np.float32, grid=60)
    b = random_boxes(rng, 500, np.float32, grid=60)
    np.testing.assert_array_equal(box_iou(a, b), np.nan_to_num(tv_box_iou(a, b), nan=0.0))


def test_box_iou_zero_area(variant):
    z = np.array([[5.0, 5.0, 5.0, 9.0], [1.0, 1.0, 1.0, 1.0]])
    big = np.array([[0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_array_equal(box_iou(z, z), np.zeros((2, 2)))  # torchvision: NaN
    np.testing.assert_array_equal(box_iou(z, big), np.zeros((2, 1)))
    assert np.isnan(tv_box_iou(z, z)).all()


def test_box_iou_mixed_dtypes_and_empty(variant, rng):
    a = random_boxes(rng, 5, np.float32)
    b = random_boxes(rng, 4, np.float64)
    got = box_iou(a, b)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.nan_to_num(tv_box_iou(a.astype(np.float64), b)))
    assert box_iou(np.zeros((0, 4), F32), b.astype(F32)).shape == (0, 4)
    assert box_iou(a, np.zeros((0, 4), F32)).dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 12), m=st.integers(0, 12), dtype=st.sampled_from([np.float32,
                                                                          np.float64]),
       data=st.data())
def test_box_iou_shapes_dtypes_layouts(n, m, dtype, data):
    xy = st.integers(0, 20)
    a = data.draw(hnp.arrays(np.int64, (n, 4), elements=xy)).astype(dtype)
    b = data.draw(hnp.arrays(np.int64, (m, 4), elements=xy)).astype(dtype)
    a[:, 2:] += a[:, :2]
    b[:, 2:] += b[:, :2]
    want = np.nan_to_num(tv_box_iou(a, b), nan=0.0) if n and m else np.zeros((n, m), dtype)
    for la in layouts(a).values():
        got = box_iou(la, layouts(b)["negative"])
        assert got.shape == (n, m) and got.dtype == dtype
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------
# nms, batched_nms
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.45, 0.7, 1.0])
@pytest.mark.parametrize("n", [1, 20, 300, 2000])
def test_nms_matches_torchvision_on_crowds(variant, n, thr):
    boxes, scores = box_crowd(n)
    got = nms(boxes, scores, thr)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, tv_nms(boxes, scores, thr) if n <= 300 else
                                  _nms_numpy(boxes, scores, thr))


def _nms_numpy(boxes, scores, thr):
    """The NumPy reference variant (itself checked against tv_nms on smaller crowds)."""
    from wasmpose.cpu import opt_level

    with opt_level("none"):
        return nms(boxes, scores, thr)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_grid_boxes_ties_and_exact_ious(variant, rng, dtype):
    # integer corners: many equal scores, exact IoUs such as 1/2 and 1/3, zero-area boxes
    for _ in range(5):
        boxes = random_boxes(rng, 120, dtype, grid=12)
        scores = rng.integers(0, 5, 120).astype(dtype)
        for thr in (0.0, 1 / 3, 0.5, 0.6):
            np.testing.assert_array_equal(nms(boxes, scores, thr), tv_nms(boxes, scores, thr))


def test_nms_hand_cases(variant):
    # ties: equal scores keep the lower index first
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], F32)
    np.testing.assert_array_equal(nms(b, np.ones(3, F32), 0.5), [0])
    np.testing.assert_array_equal(nms(b, np.array([1, 2, 2], F32), 0.5), [1])
    # IoU exactly 0.5: kept at threshold 0.5 (strictly greater suppresses), dropped below
    h = np.array([[0, 0, 2, 1], [0, 0, 1, 1]], F32)
    assert box_iou(h, h)[0, 1] == 0.5
    np.testing.assert_array_equal(nms(h, np.array([0.9, 0.8]), 0.5), [0, 1])
    np.testing.assert_array_equal(nms(h, np.array([0.9, 0.8]), 0.4999999), [0])
    # IoU 1/3 in float32 (0.33333334) is above the double 1/3: suppressed, as torchvision
    t = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], F32)
    np.testing.assert_array_equal(nms(t, np.array([0.9, 0.8]), 1 / 3), [0])
    np.testing.assert_array_equal(nms(t.astype(np.float64), np.array([0.9, 0.8]), 1 / 3),
                                  [0, 1])
    np.testing.assert_array_equal(tv_nms(t, np.array([0.9, 0.8]), 1 / 3), [0])
    # zero-area boxes: never suppress, never suppressed
    z = np.array([[0, 0, 10, 10], [5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 0]], F32)
    np.testing.assert_array_equal(nms(z, np.array([1, 4, 3, 2], F32), 0.0), [1, 2, 3, 0])
    # touching boxes do not overlap
    touch = np.array([[0, 0, 1, 1], [1, 0, 2, 1]], F32)
    np.testing.assert_array_equal(nms(touch, np.array([1, 2], F32), 0.0), [1, 0])
    # infinite scores sort as numbers
    np.testing.assert_array_equal(nms(touch, np.array([-np.inf, np.inf]), 0.0), [1, 0])
    # -0.0 and 0.0 are equal scores: index order
    np.testing.assert_array_equal(nms(touch, np.array([-0.0, 0.0]), 0.0), [0, 1])
    # empty
    e = nms(np.zeros((0, 4), F32), np.zeros(0, F32), 0.5)
    assert e.shape == (0,) and e.dtype == np.int64


def test_nms_matches_rtmlib_with_widths_plus_one(variant, rng):
    """rtmlib's NumPy nms (its own code, from the pinned wheel: rtmlib is not a test dependency)
    measures a box (x1, y1, x2, y2) as torchvision measures (x1, y1, x2 + 1, y2 + 1); with
    distinct scores the kept sets agree exactly then. The benchmarks' restatement of it
    (benchmarks/peers.py) keeps the same boxes."""
    post = rtmlib_module("post_processings", package="object_detection")
    for n in (50, 400):
        boxes, scores = box_crowd(n)
        boxes = boxes.astype(np.float64)
        for thr in (0.3, 0.65):
            want = np.array(post.nms(boxes, scores.astype(np.float64), thr), np.int64)
            np.testing.assert_array_equal(nms(boxes + [0, 0, 1, 1], scores, thr), want)
            np.testing.assert_array_equal(rtmlib_nms(boxes, scores, thr), want)
            b32 = boxes.astype(F32)
            assert rtmlib_nms(b32, scores, thr) == post.nms(b32, scores, thr)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), dtype=st.sampled_from([np.float32, np.float64]),
       sdtype=st.sampled_from([np.float32, np.float64]), thr=st.sampled_from([0.0, 0.25, 0.5,
                                                                              0.7, 1.0]),
       seed=st.integers(0, 2**32 - 1))
def test_nms_shapes_dtypes_layouts(n, dtype, sdtype, thr, seed):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, n, dtype, grid=10)
    scores = rng.integers(0, 4, n).astype(sdtype)
    want = tv_nms(boxes, scores, thr) if n else np.zeros(0, np.int64)
    for lb in layouts(boxes).values():
        for ls in (layouts(scores)["negative"], layouts(scores)["readonly"]):
            np.testing.assert_array_equal(nms(lb, ls, thr), want)


def test_batched_nms_matches_per_class(variant, rng):
    for n in (1, 30, 400):
        boxes, scores = box_crowd(n)
        classes = rng.integers(-2, 3, n).astype(np.int32)
        got = batched_nms(boxes, scores, classes, 0.5)
        want = tv_nms(boxes, scores, 0.5, classes)
        np.testing.assert_array_equal(got, want)
        # the union of per-class nms results, by descending score
        union = np.concatenate([np.flatnonzero(classes == c)[nms(boxes[classes == c],
                                                                   scores[classes == c], 0.5)]
                                for c in np.unique(classes)])
        np.testing.assert_array_equal(np.sort(got), np.sort(union))
    same = np.array([[0, 0, 10, 10]] * 3, F32)
    np.testing.assert_array_equal(batched_nms(same, np.array([3, 2, 1], F32),
                                              np.array([7, 7, 2**40]), 0.5), [0, 2])
    np.testing.assert_array_equal(batched_nms(same, np.ones(3, F32), np.zeros(3, np.uint8),
                                              0.5), [0])


def test_nms_parallel_variant_large(rng):
    """The bit-matrix formulation (the parallel variant) on inputs above its threshold size."""
    from wasmpose.cpu import opt_level

    boxes, scores = box_crowd(3000)
    with opt_level("parallel"):
        got = nms(boxes, scores, 0.5)
    with opt_level("serial"):
        np.testing.assert_array_equal(got, nms(boxes, scores, 0.5))


# ---------------------------------------------------------------------------------------------
# weighted_nms
# ---------------------------------------------------------------------------------------------
def _clusters(rng, n, k=4):
    return detection_clusters(rng, n, 5, k, spread=0.02)


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.6, 1.0])
def test_weighted_nms_matches_mediapipe(variant, rng, thr):
    for n in (1, 2, 17, 120):
        boxes, scores, kps = _clusters(rng, n)
        got = weighted_nms(boxes, scores, thr, keypoints=kps)
        want = mp_weighted_nms(boxes, scores, thr, kps)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.float32
            np.testing.assert_array_equal(g, w)
        if thr == 1.0:  # no box is its own candidate: the best one, unchanged, and stop
            assert len(got[1]) == 1


def test_weighted_nms_hand_cases(variant):
    b = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], F32)
    kp = np.array([[[1, 1]], [[3, 3]], [[7, 7]]], F32)
    boxes, scores, kps = weighted_nms(b, np.array([0.75, 0.25, 0.5], F32), 0.3, keypoints=kp)
    np.testing.assert_array_equal(boxes, [[0.5, 0, 10.5, 10], [50, 50, 60, 60]])
    np.testing.assert_array_equal(scores, [0.75, 0.5])
    np.testing.assert_array_equal(kps, [[[1.5, 1.5]], [[7, 7]]])
    # no keypoints -> None; empty input
    assert weighted_nms(b, np.ones(3, F32))[2] is None
    e = weighted_nms(np.zeros((0, 4)), np.zeros(0), keypoints=np.zeros((0, 4, 2)))
    assert [x.shape for x in e] == [(0, 4), (0,), (0, 4, 2)]
    # a zero-area best box is not its own candidate: output as is, and MediaPipe stops there
    z = np.array([[5, 5, 5, 5], [0, 0, 10, 10], [20, 20, 30, 30]], F32)
    boxes, scores, _ = weighted_nms(z, np.array([0.9, 0.8, 0.7], F32), 0.3)
    np.testing.assert_array_equal(boxes, [[5, 5, 5, 5]])
    # float64 input is computed in float32
    b64 = weighted_nms(b.astype(np.float64), np.array([0.75, 0.25, 0.5]), 0.3)
    assert b64[0].dtype == np.float32


def test_weighted_nms_layouts(rng):
    boxes, scores, kps = _clusters(rng, 40)
    want = weighted_nms(boxes, scores, 0.3, keypoints=kps)
    for lb in layouts(boxes).values():
        got = weighted_nms(lb, layouts(scores)["negative"], 0.3,
                           keypoints=layouts(kps)["strided"])
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


# ---------------------------------------------------------------------------------------------
# ssd_anchors
# ---------------------------------------------------------------------------------------------
def test_ssd_anchors_blazepose():
    a = ssd_anchors()
    assert a.shape == (2254, 4) and a.dtype == np.float32 and a.flags.writeable
    # stride 8: 28 x 28 cells, 2 anchors each (ratio 1 and the interpolated one), then stride
    # 16: 14 x 14 x 2, then the three stride-32 layers merged: 7 x 7 x 6
    want = []
    for cells, per in ((28, 2), (14, 2), (7, 6)):
        for y in range(cells):
            for x in range(cells):
                want += [[(F32(x) + F32(0.5)) / F32(cells), (F32(y) + F32(0.5)) / F32(cells),
                          1, 1]] * per
    np.testing.assert_array_equal(a, np.array(want, F32))
    a[0] = 7  # a copy: the cached anchors are not changed
    assert ssd_anchors()[0, 0] != 7


def test_ssd_anchors_other_mediapipe_graphs():
    # SSD MobileNet (the calculator's own usage example, num_boxes 1917 in the decoder's)
    a = ssd_anchors(input_size=(300, 300), strides=(16, 32, 64, 128, 256, 512), min_scale=0.2,
                    max_scale=0.95, aspect_ratios=(1.0, 2.0, 0.5, 3.0, 0.3333),
                    reduce_boxes_in_lowest_layer=True, fixed_anchor_size=False)
    assert a.shape == (1917, 4)
    # lowest layer (19 x 19 cells): ratios 1, 2, 0.5 at scales 0.1, 0.2, 0.2
    r2 = np.sqrt(F32(2))
    np.testing.assert_array_equal(a[:3, 2:], np.array([[0.1, 0.1], [F32(0.2) * r2,
                                                       F32(0.2) / r2], [F32(0.2) / r2,
                                                                        F32(0.2) * r2]], F32))
    assert a[0, 0] == F32(0.5) / F32(19)
    # second layer (10 x 10): scale 0.2 + 0.75 / 5 = 0.35, ratios then the interpolated one
    s1 = F32(0.2 + float(F32(0.95) - F32(0.2)) / 5.0)
    s2 = F32(0.2 + float(F32(0.95) - F32(0.2)) * 2 / 5.0)
    layer1 = a[19 * 19 * 3: 19 * 19 * 3 + 6]
    np.testing.assert_array_equal(layer1[0, 2:], [s1, s1])
    np.testing.assert_array_equal(layer1[5, 2:], [np.sqrt(F32(s1 * s2))] * 2)
    # the short-range face detector: 128 x 128, strides 8, 16, 16, 16 -> 896 anchors
    assert ssd_anchors(input_size=(128, 128), strides=(8, 16, 16, 16), min_scale=0.1484375,
                       max_scale=0.75).shape == (896, 4)
    # one layer: the mean scale; no interpolated anchor
    one = ssd_anchors(input_size=(64, 32), strides=(16,), interpolated_scale_aspect_ratio=0.0,
                      fixed_anchor_size=False)
    assert one.shape == (4 * 2, 4)
    np.testing.assert_array_equal(one[:, 2], F32((F32(0.1484375) + F32(0.75)) * F32(0.5)))
    np.testing.assert_array_equal(one[:4, 0], (np.arange(4, dtype=F32) + F32(0.5)) / F32(4))


# ---------------------------------------------------------------------------------------------
# decode_ssd
# ---------------------------------------------------------------------------------------------
def test_decode_ssd_matches_mediapipe(variant):
    raw, logits = ssd_output(3)
    anchors = ssd_anchors()
    got = decode_ssd(raw, logits, anchors)
    want = mp_decode(raw, logits[:, 0], anchors)
    assert [g.shape for g in got] == [w.shape for w in want] and len(got[1]) == 18
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=2e-7, atol=0)  # expf: within an ulp
    np.testing.assert_array_equal(got[2], want[2])


def test_decode_ssd_options_and_drops(variant, rng):
    anchors = rng.uniform(0, 1, (50, 4)).astype(F32)
    raw = rng.normal(0, 30, (50, 8)).astype(F32)
    logits = rng.normal(0, 3, 50).astype(F32)
    raw[0, 2] = -5  # negative width: dropped
    raw[1, 1] = np.nan  # NaN centre: the height is NaN, dropped
    logits[2] = np.nan  # NaN score: dropped
    logits[3] = 1000.0  # clipped to 100
    raw[3, 2:4] = np.abs(raw[3, 2:4])
    raw[4, 4] = np.nan  # a NaN keypoint is kept, as in MediaPipe
    raw[4, 2:4] = np.abs(raw[4, 2:4])
    logits[4] = 5
    for ms in (0.0, 0.3, 0.9):
        got = decode_ssd(raw, logits[:, None], anchors, scale=(100.0, 100.0), num_keypoints=2,
                         min_score=ms)
        want = mp_decode(raw, logits, anchors, scale=100.0, min_score=ms)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=2e-7)
        np.testing.assert_array_equal(got[2], want[2])
        assert not np.isnan(got[0]).any()
    got = decode_ssd(raw, logits, anchors, scale=(100.0, 100.0), num_keypoints=2, min_score=0.0)
    assert got[1][np.flatnonzero(np.isnan(got[2][:, 0, 0]))[0]] > 0.99
    # no clipping: a logit of -1000 gives a score of 0 either way
    nc = decode_ssd(raw, logits, anchors, scale=(100.0, 100.0), num_keypoints=2, min_score=0,
                    score_clip=None)
    np.testing.assert_array_equal(nc[0], got[0])


def test_decode_ssd_batched_and_empty(variant):
    raw, logits = ssd_output(3)
    anchors = ssd_anchors()
    one = decode_ssd(raw, logits, anchors)
    batch = decode_ssd(np.stack([raw, raw[::-1]]), np.stack([logits[:, 0], logits[::-1, 0]]),
                       anchors)
    assert isinstance(batch, list) and len(batch) == 2
    for g, w in zip(batch[0], one, strict=True):
        np.testing.assert_array_equal(g, w)
    m = decode_ssd(raw[None], logits[None], anchors)  # the model's (1, A, 12), (1, A, 1)
    assert len(m) == 1 and len(m[0][1]) == 18
    none = decode_ssd(raw, np.full(2254, -50.0, F32), anchors)
    assert [x.shape for x in none] == [(0, 4), (0,), (0, 4, 2)]
    assert decode_ssd(np.zeros((0, 2254, 12)), np.zeros((0, 2254)), anchors) == []
    z = decode_ssd(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)), num_keypoints=0)
    assert [x.shape for x in z] == [(0, 4), (0,), (0, 0, 2)]


def test_decode_then_weighted_nms_layouts(rng):
    raw, logits = ssd_output(3)
    anchors = ssd_anchors()
    want = weighted_nms(*decode_ssd(raw, logits, anchors)[:2], 0.3)
    for lr in layouts(raw).values():
        b, s, _ = decode_ssd(lr, layouts(logits)["fortran"], layouts(anchors)["negative"])
        for g, w in zip(weighted_nms(b, s, 0.3)[:2], want[:2], strict=True):
            np.testing.assert_array_equal(g, w)


# ---------------------------------------------------------------------------------------------
# letterbox_matrix
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("src", [(640, 480), (480, 640), (224, 224), (1920, 1080), (1, 999)])
@pytest.mark.parametrize("dst", [(224, 224), (256, 192)])
def test_letterbox_matrix(src, dst):
    m, inv = letterbox_matrix(src, dst)
    s = min(dst[0] / src[0], dst[1] / src[1])
    np.testing.assert_allclose(m, [[s, 0, (dst[0] - s * src[0]) / 2],
                                   [0, s, (dst[1] - s * src[1]) / 2]], rtol=0, atol=1e-12)
    # the image's corners land inside the destination, centred, touching two opposite sides
    corners = np.array([[0, 0, 1], [src[0], src[1], 1]], float) @ m.T
    assert np.isclose(corners[0], dst - corners[1]).all()
    assert np.isclose(corners[0], 0).any() and (corners[0] >= -1e-9).all()
    # MediaPipe's letterbox padding (fractions of the tensor) removed from normalised outputs
    pad_x, pad_y = corners[0] / dst
    pts = np.random.default_rng(0).uniform(0, 1, (10, 2))
    mp = (pts - [pad_x, pad_y]) / (1 - 2 * np.array([pad_x, pad_y])) * src
    np.testing.assert_allclose(np.c_[pts * dst, np.ones(10)] @ inv.T, mp, atol=1e-9)
    np.testing.assert_allclose(np.vstack([m, [0, 0, 1]]) @ np.vstack([inv, [0, 0, 1]]),
                               np.eye(3), atol=1e-12)
    m0, _ = letterbox_matrix(src, dst, center=False)
    np.testing.assert_array_equal(m0[:, 2], [0, 0])


def test_letterbox_matches_warp(rng):
    cv2 = pytest.importorskip("cv2")
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    m, _ = letterbox_matrix((64, 48), (32, 32))
    out = cv2.warpAffine(img, m, (32, 32))
    np.testing.assert_array_equal(out[:4], 0)  # padding rows above and below
    np.testing.assert_array_equal(out[-4:], 0)
    np.testing.assert_allclose(out[4:-4].mean(), cv2.resize(img, (32, 24),
                                                            interpolation=cv2.INTER_AREA).mean(),
                               rtol=0.05)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
_B = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], F32)
_S = np.array([0.9, 0.8], F32)
_A = ssd_anchors()
_RAW, _LOGITS = ssd_output(3)

BAD = [
    (lambda: box_convert(np.zeros((3, 5)), "xyxy", "xywh"), ValueError, "boxes"),
    (lambda: box_convert(np.zeros((3, 4), np.int32), "xyxy", "xywh"), TypeError, "boxes"),
    (lambda: box_convert(np.zeros((3, 4)), "xyxy", "yolo"), ValueError, "out_fmt"),
    (lambda: box_convert(np.zeros((3, 4)), None, "xywh"), TypeError, "in_fmt"),
    (lambda: box_convert(np.float64(1), "xyxy", "xywh"), ValueError, "boxes"),
    (lambda: box_iou(np.array([[0, 0, np.nan, 1.0]]), _B), ValueError, "a: expected finite"),
    (lambda: box_iou(_B, np.array([[0, 0, np.inf, 1.0]])), ValueError, "b: expected finite"),
    (lambda: box_iou(_B, np.array([[2, 0, 1, 1.0]])), ValueError, "x1 <= x2"),
    (lambda: box_iou(_B, np.zeros((2, 4, 1))), ValueError, "b: expected"),
    (lambda: box_iou(_B, "boxes"), TypeError, "b"),
    (lambda: box_iou(_B.astype(np.float16), _B), TypeError, "a: expected dtype"),
    (lambda: nms(_B, _S, 1.5), ValueError, "iou_threshold: expected a number in [0, 1]"),
    (lambda: nms(_B, _S, -0.1), ValueError, "iou_threshold"),
    (lambda: nms(_B, _S, float("nan")), ValueError, "iou_threshold"),
    (lambda: nms(_B, _S, "0.5"), TypeError, "iou_threshold"),
    (lambda: nms(_B, np.array([0.9, np.nan], F32), 0.5), ValueError, "scores: expected no NaN"),
    (lambda: nms(_B, _S[:1], 0.5), ValueError, "scores: expected 2 scores"),
    (lambda: nms(_B, _S.astype(np.int32), 0.5), TypeError, "scores"),
    (lambda: nms(_B[:, :3], _S, 0.5), ValueError, "boxes"),
    (lambda: nms(np.array([[0, 0, 1, -1.0]]), [1.0], 0.5), ValueError, "y1 <= y2"),
    (lambda: nms(np.array([[np.nan, 0, 1, 1.0]]), [1.0], 0.5), ValueError, "boxes"),
    (lambda: batched_nms(_B, _S, np.array([0.0, 1.0]), 0.5), TypeError, "classes"),
    (lambda: batched_nms(_B, _S, np.array([0]), 0.5), ValueError, "classes"),
    (lambda: batched_nms(_B, _S, None, 0.5), TypeError, "classes"),
    (lambda: weighted_nms(_B, np.array([0.9, 0.0], F32)), ValueError, "scores: expected finite"),
    (lambda: weighted_nms(_B, np.array([0.9, np.inf])), ValueError, "scores"),
    (lambda: weighted_nms(_B, np.array([0.9, 1e300])), ValueError, "scores"),
    (lambda: weighted_nms(_B, _S, keypoints=np.zeros((2, 4, 3))), ValueError, "keypoints"),
    (lambda: weighted_nms(_B, _S, keypoints=np.zeros((3, 4, 2))), ValueError, "keypoints"),
    (lambda: weighted_nms(_B, _S, 2.0), ValueError, "iou_threshold"),
    (lambda: weighted_nms(np.array([[0, 0, -1, 1.0]]), [1.0]), ValueError, "boxes"),
    (lambda: ssd_anchors(strides=()), ValueError, "strides"),
    (lambda: ssd_anchors(strides=(8, 0)), ValueError, "strides"),
    (lambda: ssd_anchors(strides=(8.0,)), TypeError, "strides"),
    (lambda: ssd_anchors(input_size=(224,)), TypeError, "input_size"),
    (lambda: ssd_anchors(input_size=(0, 224)), ValueError, "input_size"),
    (lambda: ssd_anchors(min_scale=0.0), ValueError, "min_scale"),
    (lambda: ssd_anchors(aspect_ratios=(1.0, -2.0)), ValueError, "aspect_ratios"),
    (lambda: ssd_anchors(fixed_anchor_size=1), TypeError, "fixed_anchor_size"),
    # found by tests/fuzz: an unbounded allocation, float32 overflow, an unnamed TypeError
    (lambda: ssd_anchors(input_size=(10**5, 10**5), strides=(1,)), ValueError,
     "input_size, strides: expected at most 4194304 anchors"),
    (lambda: ssd_anchors(input_size=(2**31, 224)), ValueError, "input_size"),
    (lambda: ssd_anchors(min_scale=1e300, fixed_anchor_size=False), ValueError, "min_scale"),
    (lambda: ssd_anchors(aspect_ratios=(1e-300,), fixed_anchor_size=False), ValueError,
     "aspect_ratios"),
    (lambda: ssd_anchors(anchor_offset=(1e300, 0.5)), ValueError, "anchor_offset"),
    (lambda: ssd_anchors(anchor_offset=3), TypeError, "anchor_offset"),
    (lambda: decode_ssd(_RAW[:, :10], _LOGITS, _A), ValueError, "raw_boxes: expected 12"),
    (lambda: decode_ssd(_RAW, _LOGITS[:-1], _A), ValueError, "raw_scores"),
    (lambda: decode_ssd(_RAW, _LOGITS[None], _A), ValueError, "raw_scores"),
    (lambda: decode_ssd(_RAW, _LOGITS, _A[:-1]), ValueError, "anchors"),
    (lambda: decode_ssd(_RAW, _LOGITS, np.full_like(_A, np.nan)), ValueError, "anchors"),
    (lambda: decode_ssd(_RAW.astype(np.int32), _LOGITS, _A), TypeError, "raw_boxes"),
    (lambda: decode_ssd(_RAW[0], _LOGITS, _A), ValueError, "raw_boxes"),
    (lambda: decode_ssd(_RAW, _LOGITS, _A, min_score=1.5), ValueError, "min_score"),
    (lambda: decode_ssd(_RAW, _LOGITS, _A, score_clip=0.0), ValueError, "score_clip"),
    (lambda: decode_ssd(_RAW, _LOGITS, _A, scale=(224.0, 0.0)), ValueError, "scale"),
    (lambda: decode_ssd(_RAW, _LOGITS, _A, scale=224.0), TypeError, "scale"),
    (lambda: decode_ssd(_RAW, _LOGITS, _A, num_keypoints=-1), ValueError, "num_keypoints"),
    (lambda: letterbox_matrix((640, 0), (224, 224)), ValueError, "src_size"),
    (lambda: letterbox_matrix((640.5, 480), (224, 224)), TypeError, "src_size"),
    (lambda: letterbox_matrix((640, 480), (224, 224), center="yes"), TypeError, "center"),
    (lambda: letterbox_matrix((10**400, 480), (224, 224)), ValueError, "src_size"),
    (lambda: letterbox_matrix((640, 480), (224, 2**31)), ValueError, "dst_size"),
]


@pytest.mark.parametrize("call, exc, words", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input(variant, call, exc, words):
    with pytest.raises(exc, match=words.replace("[", r"\[").replace("]", r"\]")):
        call()
