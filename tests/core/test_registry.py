"""The kernel registry: every declaration is complete, its examples run, its unit is honest."""

import numpy as np
import pytest

from wasmpose import _registry, kernel_variants, show_config
from wasmpose._registry import Companion, Kernel, operand_bytes

KERNELS = _registry.all_kernels()
NAMES = sorted(KERNELS)


def _copy(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _arrays(result, args):
    """What a variant produced: its return value and every array argument (outputs included)."""
    res = result if isinstance(result, tuple) else (result,)
    return [np.asarray(r) for r in res if r is not None] + [a for a in args
                                                            if isinstance(a, np.ndarray)]


def test_every_kernel_is_declared_completely():
    assert {"grayscale", "threshold", "oks", "quantize", "calibrate", "unpack_int4"} <= set(NAMES)
    for name, k in KERNELS.items():
        assert callable(k.reference) and callable(k.serial) and callable(k.parallel), name
        assert k.parallel_min_bytes > 0, name
        assert k.reference.__module__.endswith("._reference"), name
        area = k.reference.__module__.rsplit(".", 1)[0]
        for fn in (k.serial, k.parallel):  # Numba dispatchers of the same area
            assert hasattr(fn, "signatures") and fn.py_func.__module__.startswith(area), name


def test_companions_are_typed_registered_and_listed():
    variants = kernel_variants()
    buf = __import__("io").StringIO()
    show_config(buf)
    companions = [k for k in KERNELS.values() if k.parent is not None]
    assert {k.name for k in companions} >= {
        "grayscale[dtype=float]", "threshold[dtype=float32]", "quantize[layout=per-channel]",
        "dequantize[layout=per-channel]", "calibrate[layout=per-channel]",
        "calibrate[method=entropy]", "oks[formula=mean-area]"}
    for k in companions:
        assert k.kind in _registry.COMPANION_KINDS
        assert k.name == f"{k.parent.name}[{k.kind}={k.value}]"
        assert KERNELS[k.parent.name] is k.parent
        assert k.name in variants and k.name in buf.getvalue()
    for name in NAMES:  # no bracket naming outside the typed companions
        assert "[" not in name or KERNELS[name].parent is not None, name


def test_declaration_errors_name_the_argument():
    k = KERNELS["grayscale"]
    parts = dict(reference=k.reference, serial=k.serial, parallel=k.parallel,
                 parallel_min_bytes=1, example=k.example)
    with pytest.raises(ValueError, match="kind"):
        Companion("size", "big", **parts)
    with pytest.raises(ValueError, match="value"):
        Companion("dtype", "a=b", **parts)
    with pytest.raises(ValueError, match="name"):
        Kernel("grayscale[float]", **parts)
    with pytest.raises(TypeError, match="register"):
        _registry.register(k.companions["dtype=float"])
    with pytest.raises(ValueError, match="already registered"):
        _registry.register(Kernel("grayscale", **parts))
    with pytest.raises(ValueError, match="name"):
        _registry.get_kernel("grayscale[float]")


@pytest.mark.parametrize("name", NAMES)
def test_examples_are_about_the_size_asked(name):
    k = KERNELS[name]
    for nbytes in (1 << 16, 1 << 20):
        cases = k.examples(nbytes)
        assert cases and all(isinstance(c, tuple) for c in cases), name
        got = operand_bytes(cases[0])
        assert nbytes / 2 <= got <= nbytes * 1.25, (name, nbytes, got)


@pytest.mark.parametrize("name", NAMES)
def test_every_variant_agrees_with_the_reference_on_the_examples(name):
    k = KERNELS[name]
    for args in k.examples(1 << 14):
        ref_args = _copy(args)
        expected = _arrays(k.run("numpy", *ref_args), ref_args)
        for variant in ("numba-serial", "numba-parallel"):
            got_args = _copy(args)
            got = _arrays(k.run(variant, *got_args), got_args)
            assert len(got) == len(expected)
            for g, e in zip(got, expected, strict=True):
                if e.dtype.kind == "f":
                    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=name)
                else:
                    np.testing.assert_array_equal(g, e, err_msg=f"{name} {variant}")


def _public_calls():
    """One call of every public function per kernel and companion it dispatches to."""
    from wasmpose import boxes, heatmap, image, keypoints, quant, tracking
    from wasmpose._checks import oks_variances

    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    x = rng.standard_normal((16, 64)).astype(np.float32)
    poses = rng.uniform(0, 100, (6, 17, 2))
    gt = np.concatenate([poses, np.full((6, 17, 1), 2.0)], axis=2)
    h = rng.random((17, 16, 12)).astype(np.float32)
    params = quant.calibrate(x)
    per_channel = quant.calibrate(x, axis=0)
    q = quant.quantize(x, params)
    packed = quant.pack_int4(np.clip(q, -8, 7).astype(np.int8))
    tracker = tracking.PoseTracker()
    bx = np.concatenate([poses[:, 0], poses[:, 0] + 20.0], axis=1).astype(np.float32)
    return [
        lambda: image.grayscale(img),
        lambda: image.grayscale(img.astype(np.float32), order="bgr"),
        lambda: image.threshold(img, 100),
        lambda: image.threshold(x, 0.5, 1.0, kind="tozero"),
        lambda: image.otsu_threshold(img[..., 0]),
        lambda: image.normalize(x, axis=-1),
        lambda: image.normalize(x, axis=0),
        lambda: image.to_tensor(img),
        lambda: image.warp_affine(img, [[0.9, 0.3, 2.0], [-0.3, 0.9, 5.0]], (40, 30)),
        lambda: image.warp_affine(img.astype(np.float32), [[0.9, 0.3, 2], [-0.3, 0.9, 5]],
                                  (40, 30)),
        lambda: image.warp_affine(img, [[2.0, 0, 1], [0, 2.0, 1]], (40, 30),
                                  interpolation="nearest"),
        lambda: image.crop_to_tensor(img, np.tile([[[1.0, 0, -4], [0, 1.0, -6]]], (3, 1, 1)),
                                     (12, 16)),
        lambda: heatmap.find_peaks(h, top_k=3),
        lambda: heatmap.decode_heatmaps(h, refine="dark"),
        lambda: keypoints.pairwise_distances(poses[0], poses[1]),
        lambda: keypoints.keypoint_distances(poses, poses[:3]),
        lambda: keypoints.oks(poses, gt, np.full(6, 900.0)),
        lambda: keypoints.oks_nms(gt, np.arange(6.0), np.full(6, 900.0)),
        lambda: [tracker.update(poses, np.ones(6), np.full(6, 900.0)) for _ in range(2)],
        lambda: tracking.smooth_tracks(rng.uniform(0, 100, (20, 17, 3))),
        # PoseTracker matched with this companion until it got its own kernel (track_match);
        # it stays as the oracle of tracking's tests (their transcription of the first tracker)
        lambda: keypoints.oks_mean_area(poses, np.full(6, 900.0), poses[:3], np.full(3, 900.0),
                                        oks_variances(keypoints.COCO_SIGMAS)),
        lambda: quant.calibrate(x, axis=0),
        lambda: quant.calibrate(x, method="entropy"),
        lambda: quant.quantize(x, per_channel),
        lambda: quant.dequantize(q, params),
        lambda: quant.dequantize(quant.quantize(x, per_channel), per_channel),
        lambda: quant.unpack_int4(packed, x.shape),
        lambda: heatmap.decode_simcc(rng.random((2, 17, 384), np.float32),
                                     rng.random((2, 17, 512), np.float32)),
        lambda: heatmap.refine_landmarks(rng.random((39, 5)).astype(np.float32),
                                         rng.random((16, 16, 39)).astype(np.float32)),
        lambda: keypoints.get_affine_transform(poses[:, 0], poses[:, 1] + 50.0, 10.0,
                                               (192, 256)),
        lambda: keypoints.bbox_to_center_scale([[10.0, 20.0, 50.0, 140.0]]),
        lambda: keypoints.invert_affine([[2.0, 0.0, 10.0], [0.0, 4.0, -8.0]]),
        lambda: keypoints.transform_points(poses, np.tile([[1.0, 0, 5], [0, 1.0, 3]], (6, 1, 1))),
        lambda: boxes.box_iou(bx, bx[:3].astype(np.float64)),
        lambda: boxes.nms(bx, np.arange(6.0), 0.5),
        lambda: boxes.batched_nms(bx, np.arange(6, dtype=np.float32), np.arange(6) % 2, 0.5),
        lambda: boxes.weighted_nms(bx, np.arange(1.0, 7.0), 0.3, keypoints=poses[:, :4]),
        lambda: boxes.decode_ssd(rng.normal(0, 1, (2, 2254, 12)).astype(np.float32),
                                 rng.normal(0, 1, (2, 2254, 1)), boxes.ssd_anchors()),
    ]


def test_public_functions_pass_the_bytes_of_their_operands(variant):
    """The size every public function passes is the threshold unit: bytes of array operands."""
    with _registry.recording() as calls:
        for call in _public_calls():
            call()
    seen = set()
    for kernel, passed, actual in calls:
        assert passed == actual, f"{kernel.name}: passed {passed} bytes, operands are {actual}"
        seen.add(kernel.name)
    assert seen == set(NAMES), sorted(set(NAMES) - seen)


def test_bench_command_times_every_kernel_and_sweeps_every_threshold():
    """``python -m wasmpose bench`` and ``bench --thresholds`` are derived from the registry."""
    import io

    from wasmpose import cpu
    from wasmpose.tools import bench

    buf = io.StringIO()
    rows = bench.kernel_rows(quick=True, file=buf, min_time=1e-4, repeats=1)
    assert sorted(r["kernel"] for r in rows) == NAMES
    for r in rows:
        assert all(r[f"{impl}_ms"] > 0 for impl in ("wasmpose", "serial", "parallel", "numpy")), r
        assert r["variant"] in _registry.VARIANTS and 1 << 15 <= r["bytes"] <= 1 << 17, r
    swept = bench.thresholds(file=buf, exps=range(12, 13))
    if cpu._PARALLEL_CAPABLE and cpu.threading_layer() != "unavailable":
        assert sorted(swept) == NAMES
        assert all(len(v["speedup"]) == 1 for v in swept.values())
