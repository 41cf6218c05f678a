"""Helpers shared by the tests (fixtures live in ``conftest.py`` and use these)."""

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
