"""Command line: ``python -m wasmpose {info,demo,bench}`` (the commands are in
:mod:`wasmpose.tools`, apart from the library)."""

from __future__ import annotations

import argparse
import sys


def _frames(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 3:  # each stage's first call is not timed, and OKS starts on the second frame
        raise argparse.ArgumentTypeError(f"expected an int >= 3, got {text!r}")
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wasmpose",
                                     description="wasmpose: fast CPU kernels for pose detection")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print versions, CPU features, threading and kernel variants")
    demo = sub.add_parser("demo", help="run a real pose pipeline (BlazePose) on a short video "
                                       "made from sample photographs and time every stage")
    demo.add_argument("--frames", type=_frames, default=48, metavar="N",
                      help="frames of the video (default 48, at least 3)")
    demo.add_argument("--model", metavar="PATH",
                      help="MediaPipe's pose_landmark_full.tflite (default: fetched once from the "
                           "mediapipe==0.10.21 wheel on PyPI into $WASMPOSE_CACHE)")
    demo.add_argument("--synthetic", action="store_true",
                      help="generated heatmaps and weights instead of the model (offline)")
    demo.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    demo.add_argument("--save-image", metavar="PATH",
                      help="write the last frame with the decoded skeleton as PNG")
    demo.add_argument("--progress", action="store_true",
                      help="show the progress bar even when stderr is not a terminal")
    bench = sub.add_parser("bench", help="time every kernel against NumPy and its peer")
    bench.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    bench.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    bench.add_argument("--thresholds", action="store_true",
                       help="measure where each kernel's parallel variant starts to pay off")
    args = parser.parse_args(argv)

    if args.command == "info":
        from wasmpose.cpu import show_config

        show_config()
        return 0
    if args.command == "demo":
        from wasmpose.tools import demo

        return demo.main(frames=args.frames, model=args.model, synthetic=args.synthetic,
                         json_path=args.json, image_path=args.save_image,
                         progress=args.progress)
    from wasmpose import _bench

    if args.thresholds:
        _bench.thresholds()
        return 0
    _bench.run(quick=args.quick, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
