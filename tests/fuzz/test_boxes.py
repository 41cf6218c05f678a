"""Fuzzing wasmpose.boxes: every public function over hostile arguments (NaN, infinite and huge
coordinates, negative sizes, empty inputs, wrong dtypes, odd layouts, absurd options)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz._fuzz import (
    ABSURD,
    Drawn,
    arrays,
    check,
    fuzz_settings,
    ints,
    level_strategy,
    names,
    numbers,
)
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
from wasmpose.tools.data import box_crowd, ssd_output

BOXES = ("f4", "f8", ">f4", "f8", "f4", "i4", "f2")
SCORES = ("f4", "f8", ">f8", "f4", "i8")
N = st.integers(0, 6)
FORMATS = ("xyxy", "xywh", "cxcywh")


def _shape(*dims):
    """Shapes built from ``dims`` (ints or strategies), sometimes of another rank."""
    exact = st.tuples(*[d if isinstance(d, st.SearchStrategy) else st.just(d) for d in dims])
    other = st.lists(st.integers(0, 5), max_size=4).map(tuple)
    return st.integers(0, 9).flatmap(lambda i: other if i == 9 else exact)


@st.composite
def _boxes(draw, n):
    """Valid boxes (a crowd from the bench data, or random corners) half of the time, else any
    array: NaN, infinities, x2 < x1, huge values, other shapes and dtypes."""
    if draw(st.booleans()):
        b = box_crowd(max(n, 1))[0][:n].astype(draw(st.sampled_from(["f4", "f8"])))
        if n and draw(st.booleans()):  # one hostile coordinate
            b = b.copy()
            b[draw(st.integers(0, n - 1)), draw(st.integers(0, 3))] = draw(
                st.sampled_from([np.nan, np.inf, -np.inf, -1e30, 3.4e38, 1e300, 0.0]))
        return Drawn(b)
    return draw(arrays(BOXES, shape=_shape(n, 4)))


def _pairs(*likely):
    return st.one_of(st.tuples(ints(*likely), ints(*likely)), st.sampled_from(
        [(224,), (224, 224, 3), "ab", 224, None, (224.0, 224), [0, 224], (2**31, 2**31),
         (10**400, 1), np.array([224, 224])]))


@fuzz_settings()
@given(b=arrays(BOXES, shape=st.one_of(_shape(N, 4), _shape(N, N, 4))),
       fin=names(*FORMATS), fout=names(*FORMATS), level=level_strategy())
def test_box_convert(b, fin, fout, level):
    check(lambda: box_convert(b.value, fin, fout), big=b.big, level=level,
          names=("boxes", "in_fmt", "out_fmt"))


@fuzz_settings()
@given(n=N, m=N, data=st.data(), level=level_strategy())
def test_box_iou(n, m, data, level):
    a, b = data.draw(_boxes(n)), data.draw(_boxes(m))
    check(lambda: box_iou(a.value, b.value), big=a.big or b.big, level=level,
          names=("a:", "b:"))


@fuzz_settings()
@given(n=N, data=st.data(), thr=numbers(0.5, 0.0, 1.0, 0.45), level=level_strategy())
def test_nms(n, data, thr, level):
    boxes = data.draw(_boxes(n))
    scores = data.draw(arrays(SCORES, shape=_shape(n)))
    check(lambda: nms(boxes.value, scores.value, thr), big=boxes.big or scores.big,
          level=level, names=("boxes", "scores", "iou_threshold"))


@fuzz_settings()
@given(n=N, data=st.data(), thr=numbers(0.5, 0.0, 1.0), level=level_strategy())
def test_batched_nms(n, data, thr, level):
    boxes = data.draw(_boxes(n))
    scores = data.draw(arrays(SCORES, shape=_shape(n)))
    classes = data.draw(st.one_of(arrays(("i8", "i4", "u1", "f4", ">i8", "u8"), shape=_shape(n)),
                                  st.sampled_from(ABSURD).map(Drawn)))
    check(lambda: batched_nms(boxes.value, scores.value, classes.value, thr),
          big=boxes.big or scores.big or getattr(classes, 'big', False), level=level,
          names=("boxes", "scores", "classes", "iou_threshold"))


@fuzz_settings()
@given(n=N, k=st.sampled_from([4, 0, 1]), data=st.data(), thr=numbers(0.3, 0.0, 1.0),
       level=level_strategy())
def test_weighted_nms(n, k, data, thr, level):
    boxes = data.draw(_boxes(n))
    scores = data.draw(arrays(SCORES, shape=_shape(n)))
    kps = data.draw(st.one_of(st.just(Drawn(None)), arrays(("f4", "f8", ">f4", "i4"),
                                                           shape=_shape(n, k, 2))))
    check(lambda: weighted_nms(boxes.value, scores.value, thr, keypoints=kps.value),
          big=boxes.big or scores.big or kps.big, level=level,
          names=("boxes", "scores", "keypoints", "iou_threshold"))


_STRIDES = st.one_of(st.just((8, 16, 32, 32, 32)), st.lists(ints(8, 16, 32, 1), max_size=6),
                     st.sampled_from([8, "8", None, (8.0,), np.array([8, 16])]))
_RATIOS = st.one_of(st.just((1.0,)), st.lists(numbers(1.0, 2.0, 0.5), max_size=3),
                    st.sampled_from([1.0, "1", None]))


@fuzz_settings(short=100)
@given(size=_pairs(224, 128, 1), strides=_STRIDES, lo=numbers(0.1484375, 0.1),
       hi=numbers(0.75, 1.0), offset=st.one_of(st.tuples(numbers(0.5), numbers(0.5)),
                                                st.sampled_from([0.5, None, (0.5,), "ab"])),
       ratios=_RATIOS, interp=numbers(1.0, 0.0, -1.0), reduce=st.sampled_from([False, True, 1]),
       fixed=st.sampled_from([True, False, None]))
def test_ssd_anchors(size, strides, lo, hi, offset, ratios, interp, reduce, fixed):
    # no kernel: the NumPy rule (cached) at every level; the property is the errors
    check(lambda: ssd_anchors(input_size=size, strides=strides, min_scale=lo, max_scale=hi,
                              anchor_offset=offset, aspect_ratios=ratios,
                              interpolated_scale_aspect_ratio=interp,
                              reduce_boxes_in_lowest_layer=reduce, fixed_anchor_size=fixed),
          names=("input_size", "strides", "min_scale", "max_scale", "anchor_offset",
                 "aspect_ratios", "interpolated_scale_aspect_ratio",
                 "reduce_boxes_in_lowest_layer", "fixed_anchor_size"))


_RAW, _LOGITS = ssd_output(2, 64)
_ANCHORS = np.resize(ssd_anchors(), (64, 4))


@st.composite
def _detector_output(draw):
    """A BlazePose-like output of 64 anchors (sometimes batched, sometimes with hostile
    values), or any arrays."""
    if draw(st.integers(0, 3)) == 0:
        raw = draw(arrays(("f4", "f8", "i4", ">f4"), shape=_shape(st.integers(0, 3), 64, 12)))
        logits = draw(arrays(("f4", "f8"), shape=_shape(st.integers(0, 3), 64)))
        anchors = draw(arrays(("f4", "f8"), shape=_shape(64, 4)))
        return raw.value, logits.value, anchors.value
    raw, logits, anchors = _RAW.copy(), _LOGITS.copy(), _ANCHORS.copy()
    for target in draw(st.lists(st.sampled_from(["raw", "logits", "anchors"]), max_size=3)):
        a = {"raw": raw, "logits": logits, "anchors": anchors}[target]
        flat = a.reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(
            [np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -5.0, 3.4e38]))
    if draw(st.booleans()):  # a batch of images
        b = draw(st.integers(0, 3))
        raw, logits = np.broadcast_to(raw, (b, *raw.shape)), np.broadcast_to(logits, (b, 64, 1))
    return raw, logits, anchors


@fuzz_settings()
@given(out=_detector_output(), scale=st.one_of(st.just((224.0, 224.0)), _pairs(224, 1)),
       k=ints(4, 0, 2), clip=st.one_of(st.none(), numbers(100.0, 1.0, 0.0)),
       min_score=numbers(0.5, 0.0, 1.0, 0.2), level=level_strategy())
def test_decode_ssd(out, scale, k, clip, min_score, level):
    raw, logits, anchors = out
    check(lambda: decode_ssd(raw, logits, anchors, scale=scale, num_keypoints=k,
                             score_clip=clip, min_score=min_score), level=level,
          names=("raw_boxes", "raw_scores", "anchors", "scale", "num_keypoints", "score_clip",
                 "min_score"))


@fuzz_settings()
@given(src=_pairs(640, 810, 1, 1080), dst=_pairs(224, 1, 256),
       center=st.sampled_from([True, False, 1, None, "yes"]))
def test_letterbox_matrix(src, dst, center):
    ref = check(lambda: letterbox_matrix(src, dst, center=center),
                names=("src_size", "dst_size", "center"))
    if ref[0] == "ok":  # the two maps are inverse of each other, and the image fits
        m, inv = ref[1]
        assert np.isfinite(m).all() and np.isfinite(inv).all()
        corner = m @ [src[0], src[1], 1.0]
        assert (corner <= np.array(dst) * (1 + 1e-9)).all()
