"""The documentation builds with ``mkdocs build --strict``: no warning of mkdocs, mkdocstrings or
griffe (a broken link, a docstring parameter missing from a signature, a page out of the nav).

CI runs the same command; this test makes ``python -m pytest`` cover it when the ``docs`` extra
is installed (``pip install -e ".[docs]"``).
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

_MISSING = "the docs extra is not installed: pip install 'wasmpose[docs]'"
pytest.importorskip("mkdocs", reason=_MISSING)
pytest.importorskip("mkdocstrings_handlers.python", reason=_MISSING)


def test_mkdocs_build_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner, not a warning
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    log = r.stdout + r.stderr
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert r.returncode == 0 and not warnings, log
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "image" / "index.html").is_file()
