"""MediaPipe's own speed figures, and the fixed 640 x 480 frames they are measured on.

What the bench and the demo print as "MediaPipe's figures" beside wasmpose's: the time per
frame of MediaPipe's legacy pose solution (``mp.solutions.pose.Pose(model_complexity=1)``,
BlazePose "full", the models :mod:`wasmpose.tools.models` takes out of the
``mediapipe==0.10.21`` wheel), in tracking mode (``static_image_mode=False``: the detector runs
only when the person is lost) and with detection on every frame (``static_image_mode=True``).

``mediapipe==0.10.21`` pins NumPy < 2 and wasmpose needs NumPy 2, so MediaPipe lives in a
virtual environment of its own, outside the project's::

    python3.11 -m venv /work/mpvenv
    /work/mpvenv/bin/pip install mediapipe==0.10.21 "scikit-image<0.25"

This module therefore needs only the standard library and NumPy (1.x or 2.x) at import, and
runs as a script in that environment: :func:`measure_in_venv` starts
``VENV_PYTHON wasmpose/tools/mediapipe_ref.py --frames FRAMES.npy`` and reads the JSON it
prints. The committed figures, ``mediapipe_figures.json`` next to this file (:func:`figures`),
come from ``tests/data/mediapipe_timing.py``, which says how they were measured.

The frames (:func:`pan_frames`): scikit-image's astronaut seen by a camera that pans and zooms,
made with integer NumPy operations only (nearest-neighbour sampling at a rational zoom, a
constant canvas around the photograph), so both environments make the very same bytes.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["FIGURES", "FRAME_SIZE", "pan_recipes", "pan_frame", "pan_frames", "cpu_model",
           "time_mediapipe", "measure_here", "figures", "measure_in_venv"]

FIGURES = Path(__file__).with_name("mediapipe_figures.json")
FRAME_SIZE = (640, 480)  # width, height of the pan frames
_ZOOM_DEN = 16
_PERSON_X = 190  # the astronaut's centre column (her suit spans columns 20..360)


def pan_recipes(n: int) -> list[dict]:
    """The camera's ``n`` positions, as recipes for :func:`pan_frame`.

    The zoom goes from 3/4 to 5/4 of the photograph's size (``zoom = [num, 16]``, ``num`` from
    12 to 20) while the person's centre moves from column 200 to column 440 of the
    640 x 480 frame; the photograph's top edge stays 16 rows below the frame's top (scaled).

    Examples
    --------
    >>> pan_recipes(2)[0]
    {'source': 'astronaut', 'size': [640, 480], 'zoom': [12, 16], 'offset': [-58, -12], 'fill': 0}
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    out = []
    for i in range(int(n)):
        t = i / (n - 1) if n > 1 else 0.0
        num = int(round(12 + 8 * t))
        centre = 200 + 240 * t
        x0 = int(round(_PERSON_X * num / _ZOOM_DEN - centre))
        y0 = int(round(-16 * num / _ZOOM_DEN))
        out.append({"source": "astronaut", "size": list(FRAME_SIZE), "zoom": [num, _ZOOM_DEN],
                    "offset": [x0, y0], "fill": 0})
    return out


def pan_frame(image: np.ndarray, recipe: dict) -> np.ndarray:
    """The frame of ``recipe`` (:func:`pan_recipes`) cut out of ``image`` with integer operations.

    Frame pixel ``(r, c)`` is ``image[(r + y0) * den // num, (c + x0) * den // num]`` where that
    index is inside the image, ``fill`` elsewhere (``zoom = [num, den]``, ``offset = [x0, y0]``).

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
    recipe : dict
        ``size`` ``[width, height]``, ``zoom``, ``offset`` and ``fill`` as above.

    Returns
    -------
    ndarray, shape (height, width, 3), uint8

    Examples
    --------
    >>> img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    >>> f = pan_frame(img, {"size": [6, 5], "zoom": [2, 1], "offset": [-1, 0], "fill": 9})
    >>> f.shape, int(f[0, 0, 0]), bool((f[0, 1] == img[0, 0]).all())
    ((5, 6, 3), 9, True)
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"image: expected a (H, W, C) uint8 array, got {image.dtype} "
                         f"{image.shape}")
    width, height = (int(v) for v in recipe["size"])
    num, den = (int(v) for v in recipe["zoom"])
    x0, y0 = (int(v) for v in recipe["offset"])
    if width < 1 or height < 1 or num < 1 or den < 1:
        raise ValueError(f"recipe: size and zoom must be positive, got {recipe!r}")
    rows = (np.arange(height, dtype=np.int64) + y0) * den // num
    cols = (np.arange(width, dtype=np.int64) + x0) * den // num
    row_ok = (rows >= 0) & (rows < image.shape[0])
    col_ok = (cols >= 0) & (cols < image.shape[1])
    frame = np.full((height, width, image.shape[2]), int(recipe["fill"]), np.uint8)
    frame[np.ix_(row_ok, col_ok)] = image[np.ix_(rows[row_ok], cols[col_ok])]
    return frame


def pan_frames(n: int, image: np.ndarray | None = None) -> np.ndarray:
    """The ``n`` frames of :func:`pan_recipes` over ``image`` (default: scikit-image's
    astronaut).

    Returns
    -------
    ndarray, shape (n, 480, 640, 3), uint8

    Examples
    --------
    >>> frames = pan_frames(3)
    >>> frames.shape, frames.dtype.name
    ((3, 480, 640, 3), 'uint8')
    """
    if image is None:
        from skimage.data import astronaut

        image = astronaut()
    return np.stack([pan_frame(image, r) for r in pan_recipes(n)])


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`).

    Examples
    --------
    >>> isinstance(cpu_model(), str)
    True
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def time_mediapipe(frames: np.ndarray, *, static_image_mode: bool, passes: int = 3,
                   warmup: int = 10) -> dict:
    """Milliseconds per frame of ``mp.solutions.pose.Pose(model_complexity=1)`` on ``frames``.

    Runs only where ``mediapipe`` is installed (its own environment). The frames go through one
    ``Pose`` object ``passes`` times, forward then backward then forward (the camera never
    jumps, so tracking mode keeps tracking); the first ``warmup`` calls are not counted. Each
    call of ``process`` is timed alone with :func:`time.perf_counter`.

    Returns
    -------
    dict
        ``median_ms``, ``mean_ms``, ``p90_ms``, ``frames_timed``, ``found`` (the fraction of
        timed frames with a pose), ``static_image_mode``, ``warmup``, ``passes``.

    Examples
    --------
    In MediaPipe's environment::

        time_mediapipe(pan_frames(30), static_image_mode=False)["median_ms"]
    """
    import mediapipe as mp

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise ValueError(f"frames: expected (N, H, W, 3) uint8 RGB frames, got {frames.dtype} "
                         f"{frames.shape}")
    order = []
    for p in range(passes):
        order.extend(range(len(frames)) if p % 2 == 0 else range(len(frames) - 1, -1, -1))
    times, found = [], 0
    with mp.solutions.pose.Pose(static_image_mode=static_image_mode, model_complexity=1) as pose:
        for j, i in enumerate(order):
            frame = np.ascontiguousarray(frames[i])
            t0 = time.perf_counter()
            result = pose.process(frame)
            dt = time.perf_counter() - t0
            if j >= warmup:
                times.append(dt * 1e3)
                found += result.pose_landmarks is not None
    if not times:
        raise ValueError(f"frames: {len(order)} calls leave nothing to time after the "
                         f"{warmup} warm-up calls")
    times.sort()
    return {"static_image_mode": static_image_mode,
            "median_ms": round(statistics.median(times), 3),
            "mean_ms": round(statistics.fmean(times), 3),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 3),
            "frames_timed": len(times), "found": round(found / len(times), 3),
            "warmup": warmup, "passes": passes}


def measure_here(frames: np.ndarray, *, passes: int = 3, warmup: int = 10) -> dict:
    """Both modes of :func:`time_mediapipe` on ``frames``, with the date, the command, the
    machine and the versions: what ``mediapipe_figures.json`` holds. Runs where ``mediapipe``
    is installed.

    Examples
    --------
    In MediaPipe's environment::

        measure_here(pan_frames(60))["modes"]["tracking"]["median_ms"]
    """
    from datetime import datetime, timezone

    import mediapipe as mp

    frames = np.asarray(frames)
    load_before = _load_average()
    modes = {name: time_mediapipe(frames, static_image_mode=static, passes=passes,
                                  warmup=warmup)
             for name, static in (("tracking", False), ("detect_every_frame", True))}
    return {"mediapipe": mp.__version__, "solution": "mp.solutions.pose.Pose(model_complexity=1)",
            "frames": {"count": int(len(frames)), "size": [int(frames.shape[2]),
                                                            int(frames.shape[1])]},
            "modes": modes, "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": _load_average(),
            "python": platform.python_version(), "numpy": np.__version__,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join([Path(sys.executable).as_posix(), *sys.argv])}


def figures(path: str | os.PathLike | None = None) -> dict:
    """MediaPipe's committed figures (``mediapipe_figures.json`` shipped with the tools).

    Returns
    -------
    dict
        ``date``, ``command``, ``mediapipe``, ``cpu``, ``modes`` (``tracking`` and
        ``detect_every_frame``, each with ``median_ms``), load averages, frames.

    Examples
    --------
    >>> f = figures()
    >>> sorted(f["modes"])
    ['detect_every_frame', 'tracking']
    >>> f["modes"]["tracking"]["median_ms"] > 0
    True
    """
    with open(FIGURES if path is None else path) as fh:
        return json.load(fh)


def measure_in_venv(venv_python: str | os.PathLike, frames: np.ndarray | int = 60, *,
                    passes: int = 3, warmup: int = 10, timeout: float = 900.0) -> dict | None:
    """MediaPipe's figures measured now, by ``venv_python`` (a Python with mediapipe), on
    ``frames``; ``None`` when that Python does not exist.

    Parameters
    ----------
    venv_python : path
        The MediaPipe environment's interpreter (``/work/mpvenv/bin/python``).
    frames : ndarray, shape (N, H, W, 3), uint8, or int
        The frames to time, or a number of :func:`pan_frames` (made in that environment).
    passes, warmup : int
        As :func:`time_mediapipe`.
    timeout : float
        Seconds before the measurement is abandoned (``subprocess.TimeoutExpired``).

    Returns
    -------
    dict or None
        As :func:`figures` (``command`` is the command run, ``date`` now in UTC).

    Raises
    ------
    RuntimeError
        The script failed in that environment (mediapipe missing there, ...); the message ends
        with its last lines of stderr.

    Examples
    --------
    >>> measure_in_venv("/nonexistent/bin/python") is None
    True
    """
    python = Path(venv_python)
    if not python.is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(python), str(Path(__file__).resolve()), "--passes", str(int(passes)),
               "--warmup", str(int(warmup))]
        if isinstance(frames, int | np.integer) and not isinstance(frames, bool):
            cmd += ["--pan", str(int(frames))]
        else:
            frames = np.asarray(frames)
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f"frames: expected (N, H, W, 3) uint8 RGB frames or a count, "
                                 f"got {frames.dtype} {frames.shape}")
            np.save(Path(tmp) / "frames.npy", frames)
            cmd += ["--frames", str(Path(tmp) / "frames.npy")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=tmp, env={**os.environ, "GLOG_minloglevel": "2"})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with code {done.returncode}: "
                           f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main(argv: list[str] | None = None) -> int:
    """In MediaPipe's environment: time both modes, print the figures as one JSON line."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--frames", help="a .npy file of (N, H, W, 3) uint8 RGB frames")
    what.add_argument("--pan", type=int, default=60, help="or this many pan frames (60)")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    frames = np.load(args.frames) if args.frames else pan_frames(args.pan)
    print(json.dumps(measure_here(frames, passes=args.passes, warmup=args.warmup)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
