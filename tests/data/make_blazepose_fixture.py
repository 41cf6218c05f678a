"""Regenerate ``blazepose_astronaut.npz``: BlazePose heatmaps and landmarks on the astronaut.

The model is MediaPipe's pose landmark model, "full" variant, taken from the ``mediapipe==0.10.21``
wheel on PyPI (only the ``.tflite`` member is extracted; mediapipe is not installed) and run with
``ai-edge-litert`` (``pip install wasmpose[demo]``). The model and the wheel are cached outside
the repository, in ``$WASMPOSE_CACHE`` (default ``~/.cache/wasmpose``); never commit them.

Usage::

    python tests/data/make_blazepose_fixture.py            # writes blazepose_astronaut.npz here
    python tests/data/make_blazepose_fixture.py --time 50  # also times 50 inferences

Model I/O (checked by this script, see ``check_io``):

- input ``input_1`` ``[1, 256, 256, 3]`` float32, RGB scaled to ``[0, 1]``;
- ``Identity`` ``[1, 195]``: 39 landmarks x (x, y, z, visibility, presence); x and y in pixels of
  the 256 x 256 input (0 at the left/top edge), visibility and presence as logits (MediaPipe applies
  a sigmoid);
- ``Identity_1`` ``[1, 1]``: pose presence flag, already a probability (MediaPipe thresholds it
  at 0.5);
- ``Identity_2`` ``[1, 256, 256, 1]``: segmentation logits (not stored);
- ``Identity_3`` ``[1, 64, 64, 39]``: heatmap logits at stride 4, channel-last;
- ``Identity_4`` ``[1, 117]``: 39 world landmarks x (x, y, z) (not stored).

Channels 0..32 are the 33 BlazePose landmarks, 33 and 34 the auxiliary points MediaPipe uses for the
next frame's region of interest (body centre between the hips, and a point above the head that sets
the ROI size), 35..38 four more points that MediaPipe discards (they sit on the hands, next to
landmarks 19, 15, 20, 16). The heatmap cell ``(row, col)`` corresponds to the landmark pixel
``(4 * col, 4 * row)``: cell centres at integer heatmap coordinates, as MediaPipe's own
``RefineLandmarksFromHeatmapCalculator`` decodes them (``x = 4 * col``).

Input (deterministic, NumPy only): the 512 x 512 astronaut image, a square box of 768 pixels
(1.5 x the image) whose top edge is the image's top and which is centred horizontally on the person
(x = 190, the middle of the suit's extent 20..360), i.e. ``x0, y0 = -194, 0``; pixels outside the
image are zero (as MediaPipe pads its ROI crops); then exact 3 x 3 block means (integer sums
divided by 9 * 255) down to 256 x 256. The person is then roughly centred as the model expects.

The fixture (``np.savez_compressed``, plain arrays, loads with ``allow_pickle=False``):

- ``crop_box`` int32 ``(4,)``: x0, y0, width, height of the box in astronaut pixels;
- ``heatmap_logits`` float32 ``(39, 64, 64)``: ``Identity_3`` transposed to ``(K, H, W)``;
- ``landmarks`` float32 ``(39, 5)``: ``Identity`` as the model returns it (visibility and presence
  as logits);
- ``pose_flag`` float32 ``()``: ``Identity_1``;
- ``versions`` str ``(n,)``: ``"name==version"`` of what produced it, and the model's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's wasmpose

from wasmpose.tools.models import (  # noqa: E402 - the model code shared with the demo
    INPUT_SIZE,
    MEDIAPIPE,
    MODEL_SHA256,
    check_io,
    crop_resize,
    fetch_model,
    load_interpreter,
    run,
)

CROP_X0, CROP_Y0, CROP_SIZE = -194, 0, 768
FIXTURE = Path(__file__).with_name("blazepose_astronaut.npz")


def make_input() -> np.ndarray:
    """The model input ``(1, 256, 256, 3)`` float32 in [0, 1] (see the module docstring)."""
    from skimage.data import astronaut

    box = crop_resize(astronaut(), CROP_X0, CROP_Y0, CROP_SIZE, INPUT_SIZE)
    return (box / 255.0).astype(np.float32)[None]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURE)
    parser.add_argument("--time", type=int, default=0, metavar="N",
                        help="also time N inferences (1 and 2 threads) and print the median")
    args = parser.parse_args(argv)

    model = fetch_model()
    interpreter = load_interpreter(model)
    outputs = check_io(interpreter)
    x = make_input()
    y = run(interpreter, outputs, x)

    logits = np.ascontiguousarray(y["Identity_3"][0].transpose(2, 0, 1), dtype=np.float32)
    landmarks = y["Identity"].reshape(39, 5).astype(np.float32)
    versions = np.array([
        MEDIAPIPE,
        f"ai-edge-litert=={version('ai-edge-litert')}",
        f"numpy=={np.__version__}",
        f"scikit-image=={version('scikit-image')}",
        f"model-sha256={MODEL_SHA256}",
        f"input-sha256={hashlib.sha256(x.tobytes()).hexdigest()}",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        crop_box=np.array([CROP_X0, CROP_Y0, CROP_SIZE, CROP_SIZE], np.int32),
        heatmap_logits=logits,
        landmarks=landmarks,
        pose_flag=np.float32(y["Identity_1"].item()),
        versions=versions,
    )
    flag = y["Identity_1"].item()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); pose flag {flag:.3f}")

    for threads in (1, 2) if args.time else ():
        timed = load_interpreter(model, threads)
        run(timed, outputs, x)  # warm-up
        times = []
        for _ in range(args.time):
            t0 = time.perf_counter()
            run(timed, outputs, x)
            times.append(time.perf_counter() - t0)
        print(f"inference, {threads} thread(s): median {1e3 * np.median(times):.1f} ms, "
              f"min {1e3 * min(times):.1f} ms over {args.time}")


if __name__ == "__main__":
    main()
