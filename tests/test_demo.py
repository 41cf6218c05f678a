"""``python -m wasmpose demo`` runs end to end and reports every stage."""

import io

from wasmpose import _demo


def test_demo_runs_and_reports_every_stage():
    buf = io.StringIO()
    assert _demo.main([], file=buf) == 0
    text = buf.getvalue()
    for stage in ("grayscale", "otsu_threshold", "threshold", "normalize", "to_tensor"):
        assert stage in text
    assert "buffer pool:" in text and "kernel variants:" in text
