"""The asv suite covers the public API: every public name of ``SURFACE`` has a benchmark.

``COVERAGE`` maps each public name to the benchmarks that time it, as ``module.Class.method``
(optionally ``[param=value]``: the case of a parameterised suite). ``NOT_TIMED`` lists the names
that are not code to time (constants, exception classes, the version string), each with why. A
new public name that is in neither fails ``test_every_public_name_is_covered``: add its
benchmark to ``benchmarks/`` and its entry here. Nothing is timed: the test only imports the
benchmark modules and looks the benchmarks up.
"""

import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:  # benchmarks/ is a package at the repository's root, not installed
    sys.path.insert(0, ROOT)

import benchmarks  # noqa: E402
from tests.meta.test_api_surface import SURFACE  # noqa: E402

# public name -> benchmarks that time it (the first must be a ``time_`` benchmark)
COVERAGE = {
    # wasmpose.cpu (and the top level)
    "cpu_features": ["benchmark_cpu.ConfigCalls.time_call[call=cpu_features]",
                     "benchmark_import.FirstCallArea.time_first_call[call=cpu_features]"],
    "CpuFeatures": ["benchmark_cpu.ConfigCalls.time_call[call=cpu_features]"],
    "OptLevel": ["benchmark_cpu.ConfigCalls.time_call[call=opt_level]"],
    "get_opt_level": ["benchmark_cpu.ConfigCalls.time_call[call=get_opt_level]"],
    "set_opt_level": ["benchmark_cpu.ConfigCalls.time_call[call=set_opt_level]"],
    "opt_level": ["benchmark_cpu.ConfigCalls.time_call[call=opt_level]"],
    "kernel_variants": ["benchmark_cpu.ConfigCalls.time_call[call=kernel_variants]"],
    "show_config": ["benchmark_cpu.ConfigCalls.time_call[call=show_config]"],
    "warmup": ["benchmark_cpu.ConfigCalls.time_call[call=warmup]",
               "benchmark_import.WarmupAll.time_warmup"],
    "serial_kernels": ["benchmark_cpu.ConfigCalls.time_call[call=serial_kernels]"],
    "threading_layer": ["benchmark_cpu.ConfigCalls.time_call[call=threading_layer]"],
    # wasmpose.image
    "grayscale": ["benchmark_image.Grayscale.time_grayscale",
                  "benchmark_import.FirstCall.time_first_call"],
    "threshold": ["benchmark_image.Threshold.time_threshold"],
    "otsu_threshold": ["benchmark_image.OtsuThreshold.time_otsu_threshold"],
    "normalize": ["benchmark_image.Normalize.time_normalize"],
    "to_tensor": ["benchmark_image.ToTensor.time_to_tensor",
                  "benchmark_image.ToTensor.peakmem_to_tensor"],
    "warp_affine": ["benchmark_image.WarpAffine.time_warp_affine"],
    "crop_to_tensor": ["benchmark_image.CropToTensor.time_crop_to_tensor"],
    # wasmpose.heatmap
    "find_peaks": ["benchmark_heatmap.FindPeaks.time_find_peaks",
                   "benchmark_import.FirstCallArea.time_first_call[call=find_peaks]"],
    "Peaks": ["benchmark_heatmap.FindPeaks.time_find_peaks"],
    "decode_heatmaps": ["benchmark_heatmap.DecodeHeatmaps.time_decode_heatmaps",
                        "benchmark_import.FirstCallArea.time_first_call[call=decode_heatmaps]"],
    "decode_simcc": ["benchmark_heatmap.DecodeSimcc.time_decode_simcc",
                     "benchmark_heatmap.DecodeSimcc.time_decode_simcc[impl=rtmlib]"],
    "refine_landmarks": ["benchmark_heatmap.RefineLandmarks.time_refine_landmarks"],
    # wasmpose.keypoints
    "get_affine_transform": ["benchmark_keypoints.AffineTransform.time_get_affine_transform",
                             "benchmark_keypoints.AffineTransform.time_get_affine_transform"
                             "[impl=rtmlib]"],
    "bbox_to_center_scale": ["benchmark_keypoints.BboxToCenterScale.time_bbox_to_center_scale"],
    "invert_affine": ["benchmark_keypoints.InvertAffine.time_invert_affine"],
    "transform_points": ["benchmark_keypoints.TransformPoints.time_transform_points"],
    "pairwise_distances": ["benchmark_keypoints.PairwiseDistances.time_pairwise_distances"],
    "keypoint_distances": ["benchmark_keypoints.KeypointDistances.time_keypoint_distances"],
    "oks": ["benchmark_keypoints.Oks.time_oks",
            "benchmark_import.FirstCallArea.time_first_call[call=oks]"],
    "oks_nms": ["benchmark_keypoints.OksNms.time_oks_nms",
                "benchmark_import.FirstCallArea.time_first_call[call=oks_nms]"],
    # wasmpose.boxes
    "box_convert": ["benchmark_boxes.BoxHelpers.time_call[call=box_convert]"],
    "box_iou": ["benchmark_boxes.BoxIou.time_box_iou"],
    "nms": ["benchmark_boxes.Nms.time_nms"],
    "batched_nms": ["benchmark_boxes.BatchedNms.time_batched_nms"],
    "weighted_nms": ["benchmark_boxes.WeightedNms.time_weighted_nms",
                     "benchmark_boxes.DetectorPost.time_decode_and_weighted_nms"],
    "ssd_anchors": ["benchmark_boxes.BoxHelpers.time_call[call=ssd_anchors]"],
    "decode_ssd": ["benchmark_boxes.DecodeSsd.time_decode_ssd",
                   "benchmark_boxes.DetectorPost.time_decode_and_weighted_nms"],
    "letterbox_matrix": ["benchmark_boxes.BoxHelpers.time_call[call=letterbox_matrix]"],
    # wasmpose.memory
    "aligned_empty": ["benchmark_memory.AlignedEmpty.time_empty"],
    "is_aligned": ["benchmark_memory.AlignedEmpty.time_empty"],
    "BufferPool": ["benchmark_memory.AcquireTouch.time_acquire_touch_release",
                   "benchmark_memory.PairOverhead.time_pair",
                   "benchmark_memory.PairSpelling.time_pair",
                   "benchmark_memory.PoolCalls.time_call[call=borrow]",
                   "benchmark_memory.FrameLoop.peakmem_frame_loop",
                   "benchmark_import.FirstCallArea.time_first_call[call=BufferPool.acquire]"],
    "PoolStats": ["benchmark_memory.PoolCalls.time_call[call=stats]",
                  "benchmark_memory.FramePoolHeld.track_pool_bytes_held"],
    "default_pool": ["benchmark_memory.PoolCalls.time_call[call=default_pool]"],
    "Arena": ["benchmark_memory.ArenaAlloc.time_alloc[impl=arena]"],
    "RingBuffer": ["benchmark_memory.Ring.time_push[impl=wasmpose]",
                   "benchmark_memory.Ring.time_latest[impl=wasmpose]"],
    "load_weights": ["benchmark_memory.LoadWeights.time_load",
                     "benchmark_memory.LoadWeights.peakmem_load"],
    # wasmpose.pipeline
    "PosePipeline": ["benchmark_pipeline.PipelineFrames.time_process",
                     "benchmark_pipeline.PipelineCpu.time_process"],
    "BlazePoseDetector": ["benchmark_pipeline.Models.time_call[call=detector]"],
    "BlazePoseLandmarker": ["benchmark_pipeline.Models.time_call[call=landmarks_4_batched]"],
    "OnnxPoseModel": ["benchmark_pipeline.OnnxModel.time_call"],
    # wasmpose.tracking
    "OneEuroFilter": ["benchmark_tracking.OneEuro.time_filter",
                      "benchmark_tracking.PoseTrackerUpdate.time_update[smoothing=smoothed]"],
    "PoseTracker": ["benchmark_tracking.PoseTrackerUpdate.time_update",
                    "benchmark_import.FirstCallArea.time_first_call[call=PoseTracker.update]"],
    "Track": ["benchmark_tracking.PoseTrackerUpdate.time_history"],
    "smooth_tracks": ["benchmark_tracking.SmoothTracks.time_smooth",
                      "benchmark_kernels.Kernels.time_kernel[kernel=smooth_tracks]"],
    # wasmpose.parallel
    "optimal_thread_count": ["benchmark_parallel.ThreadCount.time_call[call=optimal_thread_count]"],
    "set_thread_count": ["benchmark_parallel.ThreadCount.time_call[call=set_thread_count]"],
    "parallel_map": ["benchmark_parallel.ParallelMap.time_grayscale_64_frames",
                     "benchmark_parallel.ParallelMap.track_speedup",
                     "benchmark_import.FirstCallArea.time_first_call[call=parallel_map]"],
    "Pipeline": ["benchmark_parallel.PipelineThreeStages.time_pipeline",
                 "benchmark_parallel.PipelineThreeStages.track_time_over_slowest_stage"],
    "DynamicBatcher": ["benchmark_parallel.DynamicBatcherThroughput.time_40k_requests",
                       "benchmark_parallel.DynamicBatcherLatency.track_p99_over_max_wait_ms",
                       "benchmark_parallel.AdaptiveBatcherRun.time_2000_requests"
                       "[impl=dynamic-64]"],
    "AdaptiveBatcher": ["benchmark_parallel.AdaptiveBatcherRun.time_2000_requests"
                        "[impl=adaptive]",
                        "benchmark_parallel.AdaptiveBatcherRun.track_mean_batch_size"],
    "BatchStats": ["benchmark_parallel.AdaptiveBatcherRun.time_2000_requests",
                   "benchmark_parallel.AdaptiveBatcherRun.track_p95_latency_ms"],
    "BatchExecutor": ["benchmark_parallel.ExecutorMap.time_grayscale_64_frames[impl=threads]",
                      "benchmark_parallel.ExecutorMap.time_grayscale_64_frames[impl=dask]",
                      "benchmark_parallel.ExecutorTaskOverhead.track_per_task_us"],
    # wasmpose.quant
    "QuantParams": ["benchmark_quant.CalibrateMinMax.time_calibrate"],
    "calibrate": ["benchmark_quant.CalibrateMinMax.time_calibrate",
                  "benchmark_quant.CalibrateMinMaxPerChannel.time_calibrate",
                  "benchmark_quant.CalibrateMethods.time_calibrate[method=entropy]",
                  "benchmark_quant.CalibrateMethods.time_calibrate[method=percentile]",
                  "benchmark_import.FirstCallArea.time_first_call[call=calibrate]"],
    # companions: kernels of a public function for another dtype, layout, method or formula
    "calibrate[method=entropy]": ["benchmark_kernels.Kernels.time_kernel"
                                  "[kernel=calibrate[method=entropy]]",
                                  "benchmark_quant.CalibrateEntropyPerChannel.time_calibrate"],
    "calibrate[layout=per-channel]": ["benchmark_kernels.Kernels.time_kernel"
                                      "[kernel=calibrate[layout=per-channel]]",
                                      "benchmark_quant.CalibrateMinMaxPerChannel.time_calibrate"],
    "quantize[layout=per-channel]": ["benchmark_kernels.Kernels.time_kernel"
                                     "[kernel=quantize[layout=per-channel]]",
                                     "benchmark_quant.QuantizePerChannel.time_quantize"],
    "dequantize[layout=per-channel]": ["benchmark_kernels.Kernels.time_kernel"
                                       "[kernel=dequantize[layout=per-channel]]",
                                       "benchmark_quant.DequantizePerChannel.time_dequantize"],
    "grayscale[dtype=float]": ["benchmark_kernels.Kernels.time_kernel"
                               "[kernel=grayscale[dtype=float]]",
                               "benchmark_image.Grayscale.time_grayscale[dtype=float32]"],
    "threshold[dtype=float32]": ["benchmark_kernels.Kernels.time_kernel"
                                 "[kernel=threshold[dtype=float32]]",
                                 "benchmark_image.Threshold.time_threshold[dtype=float32]"],
    "warp_affine[dtype=float32]": ["benchmark_kernels.Kernels.time_kernel"
                                   "[kernel=warp_affine[dtype=float32]]"],
    "warp_affine[method=nearest]": ["benchmark_kernels.Kernels.time_kernel"
                                    "[kernel=warp_affine[method=nearest]]"],
    "oks[formula=mean-area]": ["benchmark_kernels.Kernels.time_kernel"
                               "[kernel=oks[formula=mean-area]]"],
    "track_match": ["benchmark_kernels.Kernels.time_kernel[kernel=track_match]",
                    "benchmark_tracking.PoseTrackerUpdate.time_update"],
    "quantize": ["benchmark_quant.QuantizePerTensor.time_quantize",
                 "benchmark_quant.QuantizePerChannel.time_quantize",
                 "benchmark_quant.QuantizePerTensor.peakmem_quantize[size=16M]",
                 "benchmark_import.FirstCallArea.time_first_call[call=quantize]"],
    "dequantize": ["benchmark_quant.Dequantize.time_dequantize",
                   "benchmark_quant.DequantizePerChannel.time_dequantize"],
    "QuantizedTensor": ["benchmark_quant.QuantizedTensorOps.time_from_float",
                        "benchmark_quant.QuantizedTensorOps.time_dequantize",
                        "benchmark_quant.QuantizedTensorOps.time_save",
                        "benchmark_quant.QuantizedTensorOps.time_load"],
    "DynamicQuantizer": ["benchmark_quant.DynamicQuantizerObserve.time_observe"],
    "mse": ["benchmark_quant.ErrorMetrics.time_metric[metric=mse]"],
    "sqnr": ["benchmark_quant.ErrorMetrics.time_metric[metric=sqnr]"],
    "TopKCompressor": ["benchmark_quant.TopK.time_compress"],
    "pack_int4": ["benchmark_quant.Int4Packing.time_pack"],
    "unpack_int4": ["benchmark_quant.Int4Packing.time_unpack"],
}

# public names that are not code to time, and why
NOT_TIMED = {
    "__version__": "a string",
    "IMAGENET_MEAN": "a constant (to_tensor's default, timed there)",
    "IMAGENET_STD": "a constant (to_tensor's default, timed there)",
    "COCO_KEYPOINTS": "a constant (names)",
    "COCO_SIGMAS": "a constant (oks's default, timed there)",
    "WasmposeError": "an exception class",
    "QueueFullError": "an exception class",
    "BatchTimeoutError": "an exception class",
    "BatchProcessingError": "an exception class",
    "ArenaFullError": "an exception class",
    "Pose": "a record (dataclass) the pipeline yields",
    "FrameResult": "a record (dataclass) the pipeline yields",
}

# the ``impl`` values a kernel's suite must offer: wasmpose and its NumPy reference beside it
KERNEL_IMPLS = {"wasmpose", "numpy"}

_ID = re.compile(r"^(\w+)\.(\w+)\.(\w+)(?:\[(\w+)=([^\]\[]+(?:\[[^\]]*\])?)\])?$")
_PREFIXES = ("time_", "peakmem_", "track_", "mem_")


def _modules():
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__))
    return {n: importlib.import_module(f"benchmarks.{n}") for n in names}


def _lookup(bench_id, modules):
    """The (class, method name) of ``bench_id``; fails the test with the reason if it is wrong."""
    m = _ID.match(bench_id)
    assert m, f"{bench_id!r}: expected 'module.Class.method' or 'module.Class.method[param=value]'"
    mod, cls_name, meth, pname, pvalue = m.groups()
    assert mod in modules, f"{bench_id}: no module benchmarks/{mod}.py"
    cls = getattr(modules[mod], cls_name, None)
    assert isinstance(cls, type), f"{bench_id}: no class {cls_name} in benchmarks/{mod}.py"
    assert meth.startswith(_PREFIXES) and callable(getattr(cls, meth, None)), \
        f"{bench_id}: no benchmark method {meth} in {cls_name}"
    if pname is not None:
        names = list(getattr(cls, "param_names", []))
        assert pname in names, f"{bench_id}: {cls_name} has no parameter {pname!r} ({names})"
        values = [str(v) for v in cls.params[names.index(pname)]]
        assert pvalue in values, f"{bench_id}: {pname}={pvalue!r} is not one of {values}"
    return cls, meth


def test_every_benchmark_module_imports():
    modules = _modules()
    assert {"benchmark_image", "benchmark_import", "benchmark_cpu"} <= set(modules)
    for name, mod in modules.items():
        if name.startswith("benchmark_"):
            assert mod.__doc__, f"benchmarks/{name}.py: expected a module docstring"


def test_every_public_name_is_covered():
    public = {name for names in SURFACE.values() for name in names}
    missing = sorted(public - set(COVERAGE) - set(NOT_TIMED))
    assert not missing, (f"public names without a benchmark: {missing}; add one to "
                         "benchmarks/ and its entry to COVERAGE in tests/meta/test_asv_suite.py")
    from wasmpose import kernel_variants

    kernels = set(kernel_variants())  # registered kernels are timed too, public names or not
    stale = sorted((set(COVERAGE) | set(NOT_TIMED)) - public - kernels)
    assert not stale, f"entries for names that are not public (any more): {stale}"
    assert not set(COVERAGE) & set(NOT_TIMED)


@pytest.mark.parametrize("name", sorted(COVERAGE))
def test_coverage_entries_exist(name):
    modules = _modules()
    ids = COVERAGE[name]
    assert ids and ids[0].split(".")[2].startswith("time_"), \
        f"{name}: the first benchmark must be a time_ benchmark, got {ids}"
    for bench_id in ids:
        _lookup(bench_id, modules)


def test_kernels_are_timed_beside_their_numpy_reference():
    """Every registered kernel's suite has ``impl`` values ``wasmpose`` and ``numpy``."""
    from wasmpose import kernel_variants

    modules = _modules()
    for kernel in kernel_variants():
        assert kernel in COVERAGE, f"kernel {kernel} has no COVERAGE entry"
        cls, _ = _lookup(COVERAGE[kernel][0], modules)
        names = list(getattr(cls, "param_names", []))
        assert "impl" in names, f"{kernel}: {cls.__name__} has no impl parameter"
        impls = set(cls.params[names.index("impl")])
        assert KERNEL_IMPLS <= impls, f"{kernel}: {cls.__name__} impls {sorted(impls)}"


def test_the_registry_suite_times_every_registered_kernel():
    from wasmpose import kernel_variants

    suite = _modules()["benchmark_kernels"]
    assert suite.KERNELS == sorted(kernel_variants())
    assert suite.Kernels.params[0] == suite.KERNELS
