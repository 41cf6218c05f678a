"""Command line: ``python -m wasmpose {info,demo,bench}``."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wasmpose",
                                     description="wasmpose: fast CPU kernels for pose detection")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print versions, CPU features, threading and kernel variants")
    sub.add_parser("demo", help="run the main pipeline on sample photographs and time it")
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
        from wasmpose import _demo

        return _demo.main()
    from wasmpose import _bench

    if args.thresholds:
        _bench.thresholds()
        return 0
    _bench.run(quick=args.quick, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
