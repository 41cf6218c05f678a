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
"""

from __future__ import annotations

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


def _python(code: str, cache_dir: str | None = None) -> None:
    """Run ``python -c code`` in a new process; raise with its stderr if it fails."""
    env = None
    if cache_dir is not None:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
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


class FirstCall:
    """Import ``wasmpose.image`` and call ``grayscale`` once, in a new process."""

    params = [["warm", "cold"], ["small", "1080p"]]
    param_names = ["cache", "image"]
    number = 1
    repeat = (3, 5, 20.0)
    warmup_time = 0.0
    timeout = 180

    def setup(self, cache, image):
        self._cold_dirs = []
        if cache == "warm" and image not in _WARMED:
            _python(_FIRST_CALL[image], _WARM_CACHE)  # compiles into the cache if it is cold
            _WARMED.add(image)

    def teardown(self, cache, image):
        for d in self._cold_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._cold_dirs = []

    def time_first_call(self, cache, image):
        if cache == "warm":
            _python(_FIRST_CALL[image], _WARM_CACHE)
        else:
            d = tempfile.mkdtemp(prefix="wasmpose-numba-cold-")
            self._cold_dirs.append(d)
            _python(_FIRST_CALL[image], d)


class WarmupAll:
    """``wasmpose.warmup()`` in a new process with a warm cache: loads every cached kernel,
    serial and parallel, for all common signatures."""

    number = 1
    repeat = (3, 5, 20.0)
    warmup_time = 0.0
    timeout = 180

    def setup(self):
        if "warmup" not in _WARMED:
            _python("import wasmpose; wasmpose.warmup()", _WARM_CACHE)
            _WARMED.add("warmup")

    def time_warmup(self):
        _python("import wasmpose; wasmpose.warmup()", _WARM_CACHE)
