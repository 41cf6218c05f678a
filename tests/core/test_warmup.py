"""warmup() is derived from the declarations: it leaves nothing to compile, for every kernel."""

import os
import subprocess
import sys
import textwrap

import pytest

from wasmpose import cpu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_py(code, timeout=900, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **env})


NO_COMPILE_AFTER_WARMUP = """
import wasmpose
from wasmpose import _registry

def state(k):
    return {v: (len(f.signatures), f.stats.cache_hits, f.stats.cache_misses)
            for v, f in (("numba-serial", k.serial), ("numba-parallel", k.parallel))}

wasmpose.warmup()
kernels = _registry.all_kernels()
before = {name: state(k) for name, k in kernels.items()}
assert all(s[0] for st in before.values() for s in st.values()), before
changed = []
for name, k in kernels.items():
    for size in (1 << 10, 1 << 14, 1 << 18):
        for args in k.examples(size):
            for v in ("numba-serial", "numba-parallel"):
                k.run(v, *args)
    if state(k) != before[name]:
        changed.append((name, before[name], state(k)))
assert not changed, changed
print(len(kernels))
"""


@pytest.mark.skipif(not cpu._PARALLEL_CAPABLE, reason="parallel variants need two cores")
def test_after_warmup_no_kernel_or_companion_compiles_on_its_examples():
    r = run_py(NO_COMPILE_AFTER_WARMUP)
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout) >= 23


def test_warmup_beside_a_running_parallel_kernel_under_workqueue_does_not_abort():
    """Issue 13: warmup() called parallel variants around the workqueue lock (SIGABRT)."""
    code = """
    import threading, numpy as np, wasmpose
    from wasmpose.image import grayscale
    wasmpose.set_opt_level("parallel")
    img = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    ref = grayscale(img)
    stop = threading.Event()
    def spin():
        while not stop.is_set():
            assert (grayscale(img) == ref).all()
    t = threading.Thread(target=spin)
    t.start()
    try:
        for _ in range(3):
            wasmpose.warmup()
    finally:
        stop.set()
        t.join()
    print(wasmpose.cpu.threading_layer())
    """
    r = run_py(code, NUMBA_THREADING_LAYER="workqueue")
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert r.stdout.strip() in ("workqueue", "unavailable")
