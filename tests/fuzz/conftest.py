"""The fuzz package runs under an address-space cap (``RLIMIT_AS``), so that a call that
allocates what its inputs do not justify fails with ``MemoryError`` (a test failure) instead of
exhausting the machine. The cap is set once the kernels are compiled (Numba and LLVM need
address space to compile) and removed when the package is done.

``WASMPOSE_FUZZ=long`` runs the long profile: more examples per function (``_fuzz.LONG``) and the
tests marked ``slow`` here, which are deselected otherwise.
"""

import contextlib
import ctypes
import os

import pytest

from tests.fuzz import _fuzz
from tests.helpers import address_space_cap


def pytest_collection_modifyitems(config, items):
    if _fuzz.LONG:
        return
    here = __file__.rsplit("/", 1)[0]
    long = [it for it in items if str(it.fspath).startswith(here)
            and it.get_closest_marker("slow") is not None]
    if long:
        config.hook.pytest_deselected(items=long)
        items[:] = [it for it in items if it not in long]


@contextlib.contextmanager
def _few_malloc_arenas(n=2):
    """glibc reserves 64 MiB of address space per malloc arena, and makes up to 8 per core as
    threads allocate: a few thread pools would exhaust an address-space cap without using any
    memory. Limit the arenas while the cap is on (``mallopt(M_ARENA_MAX)``; 0 restores glibc's
    default); elsewhere this does nothing."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        yield
        return
    m_arena_max = -8
    mallopt(m_arena_max, n)
    try:
        yield
    finally:
        mallopt(m_arena_max, 0)


@pytest.fixture(scope="package", autouse=True)
def memory_cap():
    """Compile every kernel, then cap the address space at the current size + CAP_BYTES."""
    import wasmpose

    wasmpose.warmup()
    with _few_malloc_arenas(), address_space_cap(_fuzz.CAP_BYTES) as cap:
        yield cap
    if os.environ.get("WASMPOSE_FUZZ_REPORT_VM"):  # how much of the cap was used (VmPeak)
        print(f"\nfuzz: VmPeak {_vm_peak() / 2**20:.0f} MiB, cap {cap / 2**20:.0f} MiB")


def _vm_peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmPeak:"))
