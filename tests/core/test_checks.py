"""The shared argument checks: types, ranges and messages that name the argument."""

import numpy as np
import pytest

from wasmpose._checks import integer


@pytest.mark.parametrize("x, kw, want", [
    (3, {}, 3), (np.int64(5), dict(minimum=1, odd=True), 5), (0, dict(minimum=0), 0),
    (None, dict(allow_none=True), None),
])
def test_integer_accepts(x, kw, want):
    got = integer(x, "n", **kw)
    assert got == want and (got is None or type(got) is int)


@pytest.mark.parametrize("x, kw, exc, msg", [
    (True, {}, TypeError, "n: expected an int, got bool"),
    (2.0, dict(minimum=1), TypeError, "n: expected an int >= 1, got float"),
    (None, {}, TypeError, "n: expected an int, got NoneType"),
    (0, dict(minimum=1), ValueError, "n: expected an int >= 1, got 0"),
    (4, dict(minimum=1, odd=True), ValueError, "n: expected an odd int >= 1, got 4"),
    (-1, dict(minimum=0, allow_none=True), ValueError, "n: expected an int >= 0 or None, got -1"),
])
def test_integer_rejects(x, kw, exc, msg):
    with pytest.raises(exc, match=f"^{msg}$"):
        integer(x, "n", **kw)
