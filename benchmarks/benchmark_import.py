"""Import time and first-call time of wasmpose, each in a new Python process.

As scikit-image's ``benchmark_import_time.py``: every sample starts a fresh interpreter, so the
timings include interpreter start-up (``time_import_python`` gives that baseline).

First-call benchmarks run ``grayscale`` once in a new process:

``warm``
    Numba's on-disk cache (``NUMBA_CACHE_DIR``) already holds the kernels: the first call only
    loads them. The cache directory is fixed per user, so it stays warm between runs.
``cold``
    ``NUMBA_CACHE_DIR`` is a fresh empty directory for every call: the kernel is compiled (and
    written to the cache), as on a user's very first call after installing.

A small image runs the serial kernel; a 1080p image, above the parallel threshold, runs the
parallel one (whose cache load is slower, numba issue 8085).

``FirstCallArea`` does the same for the first call of each area's main entry point on a small
input (serial kernels): ``find_peaks``, ``decode_heatmaps``, ``oks``, ``oks_nms``, ``quantize``,
``calibrate``, ``PoseTracker.update``, ``BufferPool.acquire`` (no kernel: the cache does not
matter), ``parallel_map`` (of grayscale on 4 small images) and ``cpu_features`` (CPU
detection, no kernel). ``cold`` compiles every kernel the call reaches.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

# A fixed cache directory for the "warm" benchmarks: reused between runs (Numba's own index
# invalidates entries of edited sources), never the package's __pycache__.
_WARM_CACHE = os.path.join(tempfile.gettempdir(),
                           f"wasmpose-asv-numba-cache-{getattr(os, 'getuid', lambda: 0)()}")
_WARMED: set = set()

_FIRST_CALL = {
    "small": ("import numpy as np; from wasmpose.image import grayscale; "
              "grayscale(np.zeros((32, 32, 3), np.uint8))"),
    "1080p": ("import numpy as np; from wasmpose.image import grayscale; "
              "grayscale(np.zeros((1080, 1920, 3), np.uint8))"),
}


def _source_root() -> str:
    """The directory holding the ``wasmpose`` this process imports (found, not imported)."""
    spec = importlib.util.find_spec("wasmpose")
    return os.path.dirname(os.path.dirname(spec.origin))


def _python(code: str, cache_dir: str | None = None) -> None:
    """Run ``python -c code`` in a new process; raise with its stderr if it fails.

    The child imports the same wasmpose as this process (its source root first on
    ``PYTHONPATH``: asv runs benchmarks without the caller's ``PYTHONPATH``).
    """
    path = os.pathsep.join(p for p in (_source_root(), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    proc = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise RuntimeError(f"python -c {code!r} failed ({proc.returncode}):\n{proc.stderr}")


class ImportTime:
    """``python -c "import ..."`` in a new process."""

    number = 1
    repeat = (3, 10, 10.0)
    warmup_time = 0.0
    timeout = 120

    def time_import_python(self):
        _python("pass")

    def time_import_numba(self):
        _python("import numba")

    def time_import_wasmpose(self):
        _python("import wasmpose")

    def time_import_wasmpose_image(self):
        _python("import wasmpose.image")


class ImportArea:
    """``python -c "import wasmpose.<area>"`` in a new process, for every public module."""

    params = [["cpu", "image", "heatmap", "keypoints", "tracking", "memory", "parallel",
               "quant"]]
    param_names = ["module"]
    number = 1
    repeat = (1, 10, 10.0)
    warmup_time = 0.0
    timeout = 120

    def time_import(self, module):
        _python(f"import wasmpose.{module}")


class FirstCall:
    """Import ``wasmpose.image`` and call ``grayscale`` once, in a new process."""

    params = [["warm", "cold"], ["small", "1080p"]]
    param_names = ["cache", "image"]
    number = 1
    repeat = (3, 5, 20.0)
    warmup_time = 0.0
    timeout = 180

    @staticmethod
    def _code(case):
        return _FIRST_CALL[case]

    def setup(self, cache, case):
        self.code = self._code(case)
        if cache == "warm" and self.code not in _WARMED:
            _python(self.code, _WARM_CACHE)  # compiles into the cache if it is cold
            _WARMED.add(self.code)

    def time_first_call(self, cache, case):
        if cache == "warm":
            _python(self.code, _WARM_CACHE)
        else:
            d = tempfile.mkdtemp(prefix="wasmpose-numba-cold-")
            try:
                _python(self.code, d)
            finally:
                shutil.rmtree(d, ignore_errors=True)


_AREA_CALL = {
    "find_peaks": ("from wasmpose.heatmap import find_peaks; "
                   "find_peaks(np.zeros((17, 64, 48), np.float32))"),
    "decode_heatmaps": ("from wasmpose.heatmap import decode_heatmaps; "
                        "decode_heatmaps(np.zeros((17, 64, 48), np.float32))"),
    "oks": ("from wasmpose.keypoints import oks; "
            "oks(np.ones((5, 17, 3)), np.ones((3, 17, 3)), np.ones(3))"),
    "oks_nms": ("from wasmpose.keypoints import oks_nms; "
                "oks_nms(np.ones((5, 17, 2)), np.ones(5), np.ones(5))"),
    "quantize": ("from wasmpose.quant import calibrate, quantize; "
                 "x = np.ones(1000, np.float32); quantize(x, calibrate(x))"),
    "calibrate": ("from wasmpose.quant import calibrate; "
                  "calibrate(np.ones(1000, np.float32))"),
    "PoseTracker.update": ("from wasmpose.tracking import PoseTracker; t = PoseTracker(); "
                           "p = np.ones((2, 17, 2)); t.update(p, [1, 1], [1e3, 1e3]); "
                           "t.update(p, [1, 1], [1e3, 1e3])"),
    "BufferPool.acquire": ("from wasmpose.memory import default_pool; "
                           "default_pool().acquire((480, 640, 3), np.uint8)"),
    "parallel_map": ("from wasmpose.image import grayscale; "
                     "from wasmpose.parallel import parallel_map; "
                     "parallel_map(grayscale, [np.zeros((32, 32, 3), np.uint8)] * 4)"),
    "cpu_features": "import wasmpose; wasmpose.cpu_features()",
}


_NO_KERNEL = {"BufferPool.acquire", "cpu_features"}


class FirstCallArea(FirstCall):
    """Import an area and call its main entry point once on a small input, in a new process."""

    params = [["warm", "cold"], list(_AREA_CALL)]
    param_names = ["cache", "call"]
    repeat = (1, 3, 20.0)

    @staticmethod
    def _code(case):
        return "import numpy as np; " + _AREA_CALL[case]

    def setup(self, cache, case):
        if cache == "cold" and case in _NO_KERNEL:
            raise NotImplementedError(f"{case} runs no kernel: the Numba cache does not matter")
        super().setup(cache, case)


class WarmupAll:
    """``wasmpose.warmup()`` in a new process with a warm cache: loads every cached kernel,
    serial and parallel, for all common signatures."""

    number = 1
    repeat = (3, 5, 20.0)
    warmup_time = 0.0
    timeout = 600  # setup fills the cache directory: every kernel compiles on a fresh machine

    def setup(self):
        if "warmup" not in _WARMED:
            _python("import wasmpose; wasmpose.warmup()", _WARM_CACHE)
            _WARMED.add("warmup")

    def time_warmup(self):
        _python("import wasmpose; wasmpose.warmup()", _WARM_CACHE)
