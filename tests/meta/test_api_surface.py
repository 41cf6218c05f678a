"""The public surface is checked in: removing or renaming a name fails here first."""

import importlib

import pytest

SURFACE = {
    "wasmpose": ["__version__", "cpu_features", "OptLevel", "get_opt_level", "set_opt_level",
                 "opt_level", "kernel_variants", "show_config", "warmup"],
    "wasmpose.cpu": ["CpuFeatures", "cpu_features", "OptLevel", "get_opt_level", "set_opt_level",
                     "opt_level", "kernel_variants", "show_config", "warmup", "serial_kernels",
                     "threading_layer"],
    "wasmpose.image": ["grayscale", "threshold", "otsu_threshold", "normalize", "to_tensor",
                       "warp_affine", "crop_to_tensor", "IMAGENET_MEAN", "IMAGENET_STD"],
    "wasmpose.heatmap": ["find_peaks", "Peaks", "decode_heatmaps", "decode_simcc",
                         "refine_landmarks"],
    "wasmpose.keypoints": ["COCO_KEYPOINTS", "COCO_SIGMAS", "pairwise_distances",
                           "keypoint_distances", "oks", "oks_nms", "get_affine_transform",
                           "bbox_to_center_scale", "invert_affine", "transform_points"],
    "wasmpose.boxes": ["box_convert", "box_iou", "nms", "batched_nms", "weighted_nms",
                       "ssd_anchors", "decode_ssd", "letterbox_matrix"],
    "wasmpose.memory": ["aligned_empty", "is_aligned", "BufferPool", "PoolStats", "default_pool",
                        "Arena", "ArenaFullError", "RingBuffer", "load_weights"],
    "wasmpose.tracking": ["OneEuroFilter", "PoseTracker", "Track", "smooth_tracks"],
    "wasmpose.pipeline": ["PosePipeline", "Pose", "FrameResult", "BlazePoseDetector",
                          "BlazePoseLandmarker", "OnnxPoseModel"],
    "wasmpose.parallel": ["optimal_thread_count", "set_thread_count", "parallel_map", "Pipeline",
                          "DynamicBatcher", "AdaptiveBatcher", "BatchStats", "BatchExecutor",
                          "WasmposeError", "QueueFullError", "BatchTimeoutError",
                          "BatchProcessingError"],
    "wasmpose.quant": ["QuantParams", "calibrate", "quantize", "dequantize", "QuantizedTensor",
                       "DynamicQuantizer", "mse", "sqnr", "TopKCompressor", "pack_int4",
                       "unpack_int4"],
    "wasmpose.errors": ["WasmposeError", "QueueFullError", "BatchTimeoutError",
                        "BatchProcessingError", "ArenaFullError"],
}


@pytest.mark.parametrize("module", list(SURFACE))
def test_public_names(module):
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(SURFACE[module])
    for name in SURFACE[module]:
        assert hasattr(mod, name), name


def test_imagenet_constants():
    import numpy as np

    from wasmpose.image import IMAGENET_MEAN, IMAGENET_STD

    assert IMAGENET_MEAN.dtype == np.float32 and IMAGENET_STD.dtype == np.float32
    np.testing.assert_array_equal(IMAGENET_MEAN, np.float32([0.485, 0.456, 0.406]))
    np.testing.assert_array_equal(IMAGENET_STD, np.float32([0.229, 0.224, 0.225]))
    assert not IMAGENET_MEAN.flags.writeable


def test_errors_hierarchy():
    from wasmpose import errors

    assert issubclass(errors.ArenaFullError, MemoryError)
    for name in ("QueueFullError", "BatchTimeoutError", "BatchProcessingError", "ArenaFullError"):
        assert issubclass(getattr(errors, name), errors.WasmposeError)
