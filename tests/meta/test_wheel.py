"""The wheel holds the library and its commands (``wasmpose/``), nothing of ``tests/`` or
``benchmarks/``: no test oracle, no benchmark data, no module importing either.

The wheel is built from a copy of the checkout's files (those git tracks or would track), with
the build tools already installed (``pip wheel --no-deps --no-build-isolation``): a few
seconds, no network, and the checkout stays clean.
"""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the only data files shipped: MediaPipe's measured figures, which the tools print
DATA_FILES = ["wasmpose/tools/mediapipe_figures.json"]
IMPORTS_TESTS = re.compile(r"^\s*(?:from|import)\s+(?:tests|benchmarks)\b", re.MULTILINE)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the project's files")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout
    src = tmp_path_factory.mktemp("src")
    copied = 0
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if path.is_file():  # tracked files deleted in the work tree are listed too
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
            copied += 1
    assert (src / "tests").is_dir() and (src / "benchmarks").is_dir()  # in the build's reach
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "--disable-pip-version-check", "--quiet",
                           "-w", str(out), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = list(out.glob("wasmpose-*.whl"))
    assert len(wheels) == 1, wheels
    return zipfile.ZipFile(wheels[0])


def test_wheel_holds_only_the_package_and_its_metadata(wheel):
    names = wheel.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    dist_info = [t for t in tops if t.endswith(".dist-info")]
    assert len(dist_info) == 1 and tops == {"wasmpose", *dist_info}, sorted(tops)
    assert not [n for n in names if re.search(r"(^|/)(tests|benchmarks)/", n)]
    top_level = wheel.read(f"{dist_info[0]}/top_level.txt").decode().split()
    assert top_level == ["wasmpose"]


def test_wheel_holds_the_library_and_the_commands(wheel):
    names = set(wheel.namelist())
    for module in ("__init__", "__main__", "cpu", "image/__init__", "tools/__init__",
                   "tools/timing", "tools/demo", "tools/models", "tools/peers", "tools/data",
                   "tools/mediapipe_ref"):
        assert f"wasmpose/{module}.py" in names, module
    for data in DATA_FILES:
        assert data in names, data


def test_wheel_has_no_oracle_and_no_benchmark_data(wheel):
    files = [n for n in wheel.namelist() if not n.split("/", 1)[0].endswith(".dist-info")]
    assert [n for n in files if not n.endswith(".py")] == DATA_FILES  # no other data file
    for name in files:
        text = wheel.read(name).decode()
        assert not IMPORTS_TESTS.search(text), f"{name} imports tests/ or benchmarks/"
        assert "def mmpose_" not in text, f"{name}: a test oracle (mmpose transcription)"
    assert not [n for n in files if Path(n).stem in ("oracles", "conftest", "helpers", "common")
                or Path(n).name.startswith(("test_", "benchmark_"))]
