"""Measure MediaPipe's own speed on this machine, write ``wasmpose/tools/mediapipe_figures.json``:
the figures that ``python -m wasmpose demo`` and ``bench`` print beside wasmpose's.

Runs in MediaPipe's virtual environment (``mediapipe==0.10.21`` pins NumPy < 2), never the
project's; from the checkout's root::

    python3.11 -m venv /work/mpvenv
    /work/mpvenv/bin/pip install mediapipe==0.10.21 "scikit-image<0.25"
    /work/mpvenv/bin/python tests/data/mediapipe_timing.py [--frames 60] [--passes 3]

What is timed (``wasmpose.tools.mediapipe_ref.time_mediapipe``): ``Pose.process`` of the legacy
solution ``mp.solutions.pose.Pose(model_complexity=1)`` (BlazePose "full"), once in tracking
mode (``static_image_mode=False``: regions from the previous frame's landmarks, the detector
only when the person is lost, landmark smoothing on, as MediaPipe's default) and once with
detection on every frame (``static_image_mode=True``), on the 640 x 480 frames of a camera pan
and zoom over scikit-image's astronaut (``mediapipe_ref.pan_frames(60)``), played forward,
backward and forward again (180 calls, no jump for the tracker), the first 10 calls not counted:
the median, mean and 90th percentile of 170 single-call times, with the CPU model and the load
average before and after. The machine is shared: compare figures taken in the same run
(``mediapipe_ref.measure_in_venv`` does it from the bench), or say the load average.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_mediapipe_oracle import ROOT, _tool  # noqa: E402 - this directory's helper

OUT = ROOT / "wasmpose" / "tools" / "mediapipe_figures.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="pan frames (60)")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    ref = _tool("mediapipe_ref")
    figures = ref.measure_here(ref.pan_frames(args.frames), passes=args.passes,
                               warmup=args.warmup)
    figures["frames"]["what"] = (f"mediapipe_ref.pan_frames({args.frames}): 640x480 pan and "
                                 f"zoom over scikit-image's astronaut, one person")
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    modes = figures["modes"]
    print(f"tracking {modes['tracking']['median_ms']} ms/frame, detection every frame "
          f"{modes['detect_every_frame']['median_ms']} ms/frame; load average "
          f"{figures['load_average_before']} -> {figures['load_average_after']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
