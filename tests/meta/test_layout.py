"""The library does not depend on its tooling: importing wasmpose and every area leaves
``wasmpose.tools`` (the commands' timer, peers, model fetching, demo) unimported."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import wasmpose

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {"wasmpose.__main__", "wasmpose._bench"}  # the command line and the bench engine


def _library_modules():
    return sorted(m.name for m in pkgutil.walk_packages(wasmpose.__path__, "wasmpose.")
                  if not m.name.startswith("wasmpose.tools") and m.name not in COMMANDS)


def test_library_modules_do_not_import_the_tools():
    modules = _library_modules()
    assert "wasmpose.image" in modules and "wasmpose.quant" in modules
    code = (f"import importlib, sys\n"
            f"for name in {modules!r}:\n"
            f"    importlib.import_module(name)\n"
            f"print(sorted(m for m in sys.modules if m.startswith('wasmpose.tools')))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout
