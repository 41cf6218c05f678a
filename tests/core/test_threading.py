"""The threading layer in a virtual environment: the tbb wheel's library is found and loaded.

pip installs the ``tbb`` wheel's ``libtbb.so.12`` into ``<venv>/lib``, which is not on the
dynamic loader's path, so Numba alone cannot load it there (numba issues 6108 and 7148) and
every venv user silently got OpenMP. These tests build a fresh virtual environment, install the
wheel into it and check that wasmpose runs TBB there without any environment variable.
"""

import importlib.metadata as md
import os
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LAYER_VARS = ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY", "LD_LIBRARY_PATH",
               "LD_PRELOAD")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in _LAYER_VARS}
    env.update(extra)
    return env


def tbb_version():
    try:
        return md.version("tbb")
    except md.PackageNotFoundError:
        pytest.fail("the tbb distribution is not installed: it comes with the test extra "
                    "(pip install -e '.[test]')")


@pytest.fixture(scope="module")
def venv_with_tbb(tmp_path_factory):
    """A new venv holding only the tbb wheel; numpy/numba come from this environment."""
    version = tbb_version()
    venv = tmp_path_factory.mktemp("tbbvenv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--disable-pip-version-check", "--ignore-installed", "--prefix", str(venv),
                        f"tbb=={version}"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # numpy and numba from this environment, after the venv's own site-packages (so the venv's
    # tbb distribution is the one importlib.metadata finds first)
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    with open(os.path.join(purelib, "outer.pth"), "w") as f:
        f.write("\n".join(sorted(outer)) + "\n")
    lib = venv / "lib" / "libtbb.so.12"
    assert lib.exists(), f"the tbb wheel put no libtbb.so.12 in {venv / 'lib'}"
    return venv, python


def run_in_venv(venv_with_tbb, code, **env):
    """Run ``code`` with the venv's Python (cwd in the venv, no threading-layer variables)."""
    venv, python = venv_with_tbb
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300,
                       env=clean_env(**env), cwd=str(venv))
    assert r.returncode == 0, r.stderr
    return r.stdout


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the venv loader rule is Linux's")


@pytest.mark.platform_skip
@linux_only
def test_fresh_venv_gets_tbb_without_any_environment_variable(venv_with_tbb):
    code = ("import numba, wasmpose.cpu as c\n"
            "print(c.threading_layer())\n"
            "print(c._layer_notes.get('tbb', ''))\n")
    out = run_in_venv(venv_with_tbb, code, PYTHONPATH=ROOT)
    venv = venv_with_tbb[0]
    layer, note = out.splitlines()[:2]
    assert layer == "tbb", out
    assert str(venv / "lib") in note, note


@pytest.mark.platform_skip
@linux_only
def test_numba_alone_cannot_load_it_there(venv_with_tbb):
    """The defect this fixes: without wasmpose's preload, Numba falls back to OpenMP."""
    code = ("import numba\n"
            "numba.config.THREADING_LAYER_PRIORITY = ['tbb', 'omp', 'workqueue']\n"
            "from numba.np.ufunc import parallel\n"
            "parallel._launch_threads()\n"
            "print(numba.threading_layer())\n")
    assert run_in_venv(venv_with_tbb, code).strip() in ("omp", "workqueue"), (
        "Numba now finds the venv's libtbb by itself: the preload in wasmpose.cpu may go")


def test_show_config_says_which_layer_runs_and_why_not_the_others():
    code = "import wasmpose; wasmpose.show_config()"
    omp_first = clean_env(NUMBA_THREADING_LAYER_PRIORITY="omp tbb workqueue")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env=omp_first)
    assert r.returncode == 0, r.stderr
    assert "threading layer omp" in r.stdout
    assert "tbb         not tried (omp comes first)" in r.stdout
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env=clean_env())
    assert "threading layer tbb" in r.stdout, r.stdout
    assert "tbb         running (tbb " in r.stdout
