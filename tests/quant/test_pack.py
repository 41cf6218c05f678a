"""4-bit packing: pack_int4 / unpack_int4 round trips, torch's quint4x2 layout, bad input."""

import numpy as np
import pytest

from wasmpose.quant import pack_int4, unpack_int4


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 1001, (1 << 17) + 3])
def test_pack_round_trip(variant, rng, n):
    for dtype, lo, hi, np_dt in (("int4", -8, 8, np.int8), ("uint4", 0, 16, np.uint8)):
        q = rng.integers(lo, hi, n).astype(np_dt)
        packed = pack_int4(q)
        assert packed.dtype == np.uint8 and packed.shape == ((n + 1) // 2,)
        np.testing.assert_array_equal(unpack_int4(packed, (n,), dtype), q)
        # the layout: element 2k in the low nibble of byte k
        if n >= 2:
            assert packed[0] == (int(q[0]) & 15) | ((int(q[1]) & 15) << 4)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, (1 << 17) + 3])
def test_pack_matches_torch_quint4x2(variant, rng, n):
    # torch's quint4x2 stores element 2k in the low nibble of byte k; int4 packs its
    # two's-complement nibbles, i.e. the uint4 values q & 15
    torch = pytest.importorskip("torch")
    import warnings

    u = rng.integers(0, 16, n).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq = torch.quantize_per_tensor(torch.from_numpy(u.astype(np.float32)), 1.0, 0,
                                       torch.quint4x2)
    want = tq.int_repr().numpy()
    np.testing.assert_array_equal(pack_int4(u), want)
    np.testing.assert_array_equal(unpack_int4(want, (n,), "uint4"), u)
    s = (u.astype(np.int8) ^ 8) - 8  # the int4 values whose nibbles are u
    np.testing.assert_array_equal(pack_int4(s), want)
    np.testing.assert_array_equal(unpack_int4(want, (n,), "int4"), s)


def test_pack_rejects_out_of_range(variant):
    with pytest.raises(ValueError, match=r"q: expected int8 values in \[-8, 7\], got 2 outside"):
        pack_int4(np.array([0, 8, -9, 1], np.int8))
    with pytest.raises(ValueError, match=r"uint8 values in \[0, 15\], got 1 outside"):
        pack_int4(np.array([0, 3, 16], np.uint8))
    with pytest.raises(ValueError, match="packed: expected 2 bytes"):
        unpack_int4(np.zeros(3, np.uint8), (4,))
