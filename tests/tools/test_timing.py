"""``wasmpose.tools.timing``: the one timer of the bench command, the demo and the asv suite."""

import gc
import sys
import time

import pytest

from wasmpose.tools import timing


def test_measure_calibrates_the_loop_count_and_orders_its_figures():
    calls = []
    t = timing.measure(lambda: calls.append(1), min_time=0.002, repeats=5)
    assert t.samples == 5 and t.loops > 1
    # one untimed warm-up call, then the calibration samples, then the repeats
    assert len(calls) > 1 + t.loops * 5
    assert 0 < t.best <= t.estimate <= t.median


def test_measure_of_a_slow_call_takes_one_call_a_sample():
    t = timing.measure(lambda: time.sleep(0.003), min_time=0.002, repeats=3)
    assert t.loops == 1 and t.samples == 3
    assert t.best >= 0.003


def test_measure_runs_with_the_garbage_collector_off():
    seen = []
    timing.measure(lambda: seen.append(gc.isenabled()), min_time=0.0005, repeats=2)
    assert seen[0] is gc.isenabled()  # the warm-up call is outside the timed loops
    assert not any(seen[1:])


def test_gc_paused_restores_the_previous_state():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), timing.gc_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with timing.gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: stays off
    finally:
        gc.enable()


@pytest.mark.parametrize(("ms", "text"), [
    (None, "-"), (0.0, "0.0000"), (0.99994, "0.9999"), (1.0, "1.000"), (99.9994, "99.999"),
    (100.0, "100.0"), (12345.67, "12345.7"),
])
def test_fmt_ms_boundaries(ms, text):
    assert timing.fmt_ms(ms) == text


def test_ratio_is_none_when_undefined():
    assert timing.ratio(1.0, 4.0) == 0.25
    for num, den in ((None, 1.0), (1.0, None), (1.0, 0.0), (1.0, -1.0)):
        assert timing.ratio(num, den) is None


def test_versions_name_the_library_and_the_imported_peers(monkeypatch):
    import numba
    import numpy as np

    import wasmpose

    v = timing.versions()
    assert v["wasmpose"] == wasmpose.__version__
    assert v["numpy"] == np.__version__ and v["numba"] == numba.__version__
    monkeypatch.delitem(sys.modules, "cv2", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    v = timing.versions()
    assert "opencv" not in v and "torch" not in v  # never imported to find out

    class FakeCv2:
        __version__ = "9.9.9"

        @staticmethod
        def getNumThreads():
            return 3

    monkeypatch.setitem(sys.modules, "cv2", FakeCv2)
    v = timing.versions()
    assert v["opencv"] == "9.9.9" and v["opencv_threads"] == 3
