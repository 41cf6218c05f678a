"""``python -m wasmpose bench --busy``: its table, its load modes, its bounds (no timed claims)."""

import io
import json

import pytest

from wasmpose.tools import bench

KEYS = {"kernel", "bytes", "mode", "full_median_ms", "full_p99_ms", "serial_median_ms",
        "serial_p99_ms", "median_x", "p99_x", "full_parallel_share", "calls", "rule_ok"}


def test_busy_times_full_and_serial_quiet_and_beside_a_spinning_process(tmp_path, monkeypatch):
    spinners = []
    real = bench._spinner

    def spinner(seconds):
        proc = real(seconds)
        spinners.append(proc)
        return proc

    monkeypatch.setattr(bench, "_spinner", spinner)
    buf = io.StringIO()
    path = tmp_path / "busy.json"
    rows = bench.busy(buf, modes=("quiet", "spin"), names=["grayscale", "threshold"], calls=6,
                      budget=0.5, json_path=str(path))
    # 1 MiB and the threshold of each kernel, in each mode
    assert len(rows) == 8 and {r["mode"] for r in rows} == {"quiet", "spin"}
    for r in rows:
        assert set(r) == KEYS
        assert 1 <= r["calls"] <= 6
        assert 0 < r["full_median_ms"] <= r["full_p99_ms"]
        assert 0 < r["serial_median_ms"] <= r["serial_p99_ms"]
        assert (r["rule_ok"] is None) == (r["mode"] == "quiet")
    from wasmpose import _registry

    thr = _registry.get_kernel("grayscale").parallel_min_bytes
    sizes = sorted(r["bytes"] for r in rows if r["kernel"] == "grayscale" and r["mode"] == "spin")
    assert sizes[0] >= thr and abs(sizes[1] - (1 << 20)) < (1 << 18)
    # the spinning process was started for the spin mode only, and is gone
    assert len(spinners) == 1 and spinners[0].poll() is not None
    text = buf.getvalue()
    assert "quiet" in text and "spin" in text and "load average" in text
    assert "rule holds in" in text
    doc = json.loads(path.read_text())
    assert doc["settings"]["calls"] == 6 and len(doc["rows"]) == 8


def test_busy_without_the_model_says_so_and_skips_that_mode(monkeypatch):
    from wasmpose.tools import models

    def no_model(*a, **kw):
        raise models.FetchError("no network here")

    monkeypatch.setattr(models, "fetch_model", no_model)
    buf = io.StringIO()
    rows = bench.busy(buf, modes=("model",), names=["grayscale"], calls=2, budget=0.1)
    assert rows == []
    assert "mode model skipped" in buf.getvalue() and "no network here" in buf.getvalue()


def test_busy_beside_the_model_runs_it_in_a_thread():
    pytest.importorskip("ai_edge_litert")
    from wasmpose.tools import models

    if models.cached_model() is None:
        pytest.skip("the BlazePose model is not in the cache (python -m wasmpose demo fetches it)")
    started = []
    real = bench._ModelThread.__enter__

    def enter(self):
        started.append(self)
        return real(self)

    bench._ModelThread.__enter__ = enter
    try:
        rows = bench.busy(io.StringIO(), modes=("model",), names=["threshold"], calls=4,
                          budget=0.5, quick=True)
    finally:
        bench._ModelThread.__enter__ = real
    assert [r["mode"] for r in rows] == ["model"]
    assert len(started) == 1 and started[0].invokes >= 1
    assert not started[0]._thread.is_alive()


def test_busy_rejects_unknown_modes():
    with pytest.raises(ValueError, match="modes"):
        bench.busy(io.StringIO(), modes=("quiet", "storm"))
