"""Helpers shared by the tests (fixtures live in ``conftest.py`` and use these)."""

import contextlib

import numpy as np

from wasmpose.cpu import OptLevel

# Each variant forced through the optimisation level, so the public function's own dispatch runs.
VARIANT_LEVELS = {
    "numpy": OptLevel.NONE,
    "numba-serial": OptLevel.SERIAL,
    "numba-parallel": OptLevel.PARALLEL,
    "full": OptLevel.FULL,
}


def layouts(a):
    """The same logical array in several memory layouts: C, Fortran, strided, negative strides,
    read-only. Every kernel must give the same result on all of them."""
    out = {"c": np.ascontiguousarray(a), "fortran": np.asfortranarray(a)}
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    sl = tuple(slice(None, None, 2) for _ in a.shape)
    big[sl] = a
    out["strided"] = big[sl]
    flipped = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
    out["negative"] = flipped[(slice(None, None, -1),) * a.ndim]
    ro = np.array(a)
    ro.flags.writeable = False
    out["readonly"] = ro
    return out


def _vm_size() -> int:
    """Bytes of address space this process has mapped now (Linux ``VmSize``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")


@contextlib.contextmanager
def address_space_cap(extra_bytes: int):
    """Within the block, the process may map at most ``extra_bytes`` more address space
    (``RLIMIT_AS`` soft limit; the hard limit is untouched so the old one is restored on exit).
    An allocation beyond the cap raises ``MemoryError`` instead of exhausting the machine.
    Linux only (``/proc/self/status``); elsewhere the block runs without a cap."""
    import resource

    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = _vm_size() + int(extra_bytes)
    except (OSError, ValueError):
        yield None
        return
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_threads(work, args_list):
    """Run ``work(*args)`` in one thread per tuple of ``args_list``, all at once; return the
    exceptions they raised (an empty list when every thread finished cleanly)."""
    import threading

    errors = []

    def guarded(*args):
        try:
            work(*args)
        except Exception as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
