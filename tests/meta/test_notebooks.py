"""The notebooks in ``notebooks/``: each one runs without error, and each committed file carries
its outputs (so it reads well on GitHub without running).

Running them needs the ``notebooks`` extra (matplotlib, nbclient, nbformat, ipykernel); without
it those tests are skipped. They execute in memory (the committed files are not rewritten), with
``notebooks/`` as the working directory and this checkout first on the kernel's ``PYTHONPATH``,
so they test this checkout's wasmpose.
"""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = ["01_kernels_tour", "02_pose_decoding", "03_quantization", "04_batching",
            "05_top_down"]
CELL_TIMEOUT = 300  # seconds per cell: generous for a cold Numba cache on a busy machine
MAX_BYTES = 1_000_000


def _ids(path):
    return path.stem


def test_every_notebook_is_here():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_with_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code, "no code cells"
    counts = [cell["execution_count"] for cell in code]
    not_run = [i for i, count in enumerate(counts) if count is None]
    assert not not_run, f"code cells not executed: {not_run}"
    assert counts == list(range(1, len(code) + 1)), f"not run top to bottom in one kernel: {counts}"
    errors = [out for cell in code for out in cell["outputs"] if out["output_type"] == "error"]
    assert not errors, errors[0]["ename"] + ": " + errors[0]["evalue"]
    images = [out for cell in code for out in cell["outputs"]
              if "image/png" in out.get("data", {})]
    assert images, "no figures"
    assert path.stat().st_size < MAX_BYTES, f"{path.stat().st_size} bytes"
    assert str(ROOT) not in path.read_text(encoding="utf-8"), "the outputs show a local path"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_runs_without_error(path, monkeypatch):
    for name in ("nbformat", "nbclient", "ipykernel", "matplotlib"):
        pytest.importorskip(name, reason=f"{name} missing: pip install -e '.[notebooks]'")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    client.execute()  # raises CellExecutionError naming the cell and the exception
