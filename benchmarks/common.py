"""Shared helpers of the wasmpose benchmark suite: fixed-seed data and peer detection.

Every generator is deterministic: the same arguments give the same array in every process and
on every machine, so that timings of different commits see identical inputs. Generated arrays
are memoised per process (asv re-runs ``setup()`` before each sample) and shared between
callers: benchmarks must treat them as read-only.

Importing this module prints nothing and imports neither OpenCV nor PyTorch.
"""

from __future__ import annotations

import functools

import numpy as np

from wasmpose import get_opt_level, set_opt_level
from wasmpose.tools import data as _data
from wasmpose.tools.data import (
    heatmaps,
    landmark_heatmaps,
    person_boxes,
    points,
    pose_crowd,
    pose_scene,
    simcc_vectors,
)
from wasmpose.tools.peers import peer

__all__ = [
    "IMAGE_SEED",
    "ARRAY_SEED",
    "rgb_image",
    "rgb_batch",
    "float_array",
    "u8_array",
    "gray_image",
    "shape_2d",
    "heatmaps",
    "weights",
    "peer_available",
    "require_peer",
    "KernelSuite",
    "pose_scene",
    "points",
    "pose_crowd",
    "walking_people",
    "simcc_vectors",
    "landmark_heatmaps",
    "person_boxes",
]

# The seeds must never change: results of different commits are only comparable when they time
# the same data. Add new generators with new seeds; only ever append.
IMAGE_SEED = _data.IMAGE_SEED
ARRAY_SEED = _data.ARRAY_SEED
WEIGHTS_SEED = 20240910

# The image generators of wasmpose.tools.data (the bench command's too), memoised for asv
# (which re-runs setup() per sample).
rgb_image = functools.lru_cache(maxsize=16)(_data.rgb_image)
rgb_batch = functools.lru_cache(maxsize=8)(_data.rgb_batch)
gray_image = functools.lru_cache(maxsize=8)(_data.gray_image)
float_array = functools.lru_cache(maxsize=16)(_data.float_array)
u8_array = functools.lru_cache(maxsize=16)(_data.u8_array)
shape_2d = _data.shape_2d


# Cases already warmed up (compiled, or verified against the peer) in this process.
WARMED: set = set()

# The opt level each ``impl`` parameter runs at; peers keep the current one.
LEVEL = {"wasmpose": "full", "wasmpose-out": "full", "wasmpose-simd": "simd", "numpy": "none"}


class KernelSuite:
    """Common attributes and set-up of the per-kernel suites."""

    # Each sample is one call (setup hooks make asv time calls one by one); many samples are
    # cheap for small cases and `repeat`'s time budget stops the large ones early.
    repeat = (10, 100, 2.0)
    warmup_time = 0.05
    timeout = 180

    def _start(self, impl, key, fn):
        """Set the opt level for ``impl``, remember ``fn`` and call it once per process."""
        self.fn = fn
        self._prev_level = set_opt_level(LEVEL.get(impl, get_opt_level()))
        if key not in WARMED:
            fn()  # compile or load from Numba's cache: never timed
            WARMED.add(key)

    def teardown(self, *params):
        prev = getattr(self, "_prev_level", None)
        if prev is not None:
            set_opt_level(prev)
            self._prev_level = None


def peer_available(name: str) -> bool:
    """Whether the peer library ``name`` (``"cv2"``, ``"torch"``, ...) imports in this process.

    The import is attempted once (lazily, on the first call) and its outcome cached.
    """
    return peer(name) is not None


def require_peer(name: str):
    """The peer module ``name``, or ``NotImplementedError`` (asv's "skip") if it is missing."""
    module = peer(name)
    if module is None:
        raise NotImplementedError(f"{name} is not installed")
    return module


WALK_SEED = 20240908


@functools.lru_cache(maxsize=4)
def walking_people(people: int, frames: int, k: int = 17):
    """``people`` people walking in straight lines for ``frames`` frames (shuffled each frame).

    Returns
    -------
    poses : ndarray, shape (frames, people, k, 2)
    areas : ndarray, shape (people,)
    """
    rng = np.random.default_rng([WALK_SEED, people, frames, k])
    heights = rng.uniform(100, 200, people)
    bodies = rng.uniform([-0.25, -0.5], [0.25, 0.5], (people, k, 2)) * heights[:, None, None]
    start = rng.uniform(100, 900, (people, 1, 2))
    velocity = rng.uniform(-3, 3, (people, 1, 2))
    f = np.arange(frames)[:, None, None, None]
    poses = start + f * velocity + bodies + rng.normal(0, 1.5, (frames, people, k, 2))
    return poses, 0.5 * heights**2


@functools.lru_cache(maxsize=8)
def weights(n: int, channels: int = 64) -> np.ndarray:
    """``n`` float32 Gaussian weights (std 0.05) as a C-contiguous ``(channels, n // channels)``
    array, the layout of a convolution's or linear layer's weights with the output channel first.
    """
    rng = np.random.default_rng([WEIGHTS_SEED, n, channels])
    x = rng.standard_normal((channels, n // channels), dtype=np.float32)
    x *= np.float32(0.05)
    return x


@functools.cache
def tmpdir() -> str:
    """A per-process temporary directory for benchmark files, removed at exit."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="wasmpose-asv-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path

