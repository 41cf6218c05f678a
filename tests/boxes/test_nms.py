"""nms's parallel variant: never chosen at FULL, bounded in memory at PARALLEL."""

import numpy as np

from tests.helpers import address_space_cap
from wasmpose import cpu
from wasmpose.boxes import _kernels as nb
from wasmpose.boxes import nms
from wasmpose.cpu import opt_level
from wasmpose.tools.data import uniform_boxes


def crowd(rng, n):
    boxes = uniform_boxes(rng, n, extent=1000.0, size=(20.0, 80.0), dtype=np.float32)
    return boxes, rng.random(n).astype(np.float32)


def test_full_never_runs_the_all_pairs_variant():
    k = cpu.get_kernel("nms")
    assert k.variant_name(1 << 40) == "numba-serial"
    assert cpu.kernel_variants()["nms"] == "numba-serial"  # what show_config reports too
    with opt_level("parallel"):
        assert cpu.kernel_variants()["nms"] == "numba-parallel"


def test_parallel_variant_beyond_the_pair_limit_runs_the_serial_algorithm(rng):
    n = nb.PAIRS_MAX_BOXES * 4  # an all-pairs bit matrix would take 128 MiB
    boxes, scores = crowd(rng, n)
    with opt_level("serial"):
        want = nms(boxes, scores, 0.5)
    with opt_level("parallel"), address_space_cap(96 << 20):
        got = nms(boxes, scores, 0.5)
    np.testing.assert_array_equal(got, want)


def test_parallel_variant_below_the_limit_agrees(rng):
    boxes, scores = crowd(rng, 3000)
    with opt_level("serial"):
        want = nms(boxes, scores, 0.3)
    with opt_level("parallel"):
        np.testing.assert_array_equal(nms(boxes, scores, 0.3), want)
