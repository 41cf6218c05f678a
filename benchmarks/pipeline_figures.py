"""The figures of docs/pipeline.md: ``PosePipeline`` in ms a frame beside MediaPipe's.

    PYTHONPATH=. python -m benchmarks.pipeline_figures [--frames 60] [--threads 1 2]
        [--mediapipe /work/mpvenv/bin/python]

On the 640 x 480 pan frames of MediaPipe's committed figures
(``wasmpose.tools.mediapipe_ref.pan_frames``) and the 4-person frame
(``benchmark_pipeline.four_people``): MediaPipe's own ms a frame measured first in its own
environment when ``--mediapipe`` names its Python (else the committed figures); then, for each
interpreter thread count,
the median ms a frame of ``process`` in tracking mode and with detection on every frame
(``tracking=False``, MediaPipe's whole-frame detection ``tiles=(1,)`` and the default tiles),
split into the models' time and wasmpose's own (``stats()``); then wasmpose's own CPU time
with the models replayed (``benchmark_pipeline.PipelineCpu``); then the landmark model on 4
crops in one batched call against 4 calls; then ``run`` (frames read in their own thread)
against a loop of ``process``. The configurations are timed alternately, frame by frame, in one
process (the machine is shared: the load average is printed).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

import numpy as np

from benchmarks.benchmark_pipeline import _models, _Replay, four_people
from wasmpose.pipeline import PosePipeline
from wasmpose.tools import mediapipe_ref

MEDIAPIPE_MS = {"tracking": 19.6, "detect": 34.7}  # issue 15, mp.solutions.pose, 2 cores


@functools.cache
def pan_frames():
    return mediapipe_ref.pan_frames(60)


def _configs(det, lm):
    return {
        "tracking, 1 person": (PosePipeline(det, lm), pan_frames()),
        "detect every frame, tiles (1,)": (
            PosePipeline(det, lm, tracking=False, smoothing=False, tiles=(1,)), pan_frames()),
        "detect every frame, tiles (1, 2)": (
            PosePipeline(det, lm, tracking=False, smoothing=False), pan_frames()),
        "tracking, 4 people": (PosePipeline(det, lm), [four_people()] * len(pan_frames())),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--mediapipe", default=None, help="the Python of MediaPipe's venv")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    if args.mediapipe:
        got = mediapipe_ref.measure_in_venv(args.mediapipe, pan_frames(), passes=1)
        if got is not None:
            MEDIAPIPE_MS["tracking"] = got["modes"]["tracking"]["median_ms"]
            MEDIAPIPE_MS["detect"] = got["modes"]["detect_every_frame"]["median_ms"]
            print(f"MediaPipe measured now (load {os.getloadavg()[0]:.2f}): tracking "
                  f"{MEDIAPIPE_MS['tracking']:.1f} ms, detection every frame "
                  f"{MEDIAPIPE_MS['detect']:.1f} ms a frame")
    for threads in args.threads:
        det, lm = _models(threads)
        configs = _configs(det, lm)
        times = {name: [] for name in configs}
        for pipe, frames in configs.values():  # warm up: compile, first detection
            for i in range(3):
                pipe.process(frames[i])
            pipe.reset()
        for i in range(args.frames):
            for name, (pipe, frames) in configs.items():
                t0 = time.perf_counter()
                pipe.process(frames[i % len(frames)])
                times[name].append(time.perf_counter() - t0)
        print(f"\ninterpreter threads {threads} (load {os.getloadavg()[0]:.2f})")
        print(f"{'configuration':36s} {'ms/frame':>9s} {'models':>8s} {'wasmpose':>9s} "
              f"{'people':>7s} {'MediaPipe':>10s}")
        for name, (pipe, _) in configs.items():
            st = pipe.stats()
            mp = MEDIAPIPE_MS["tracking" if name.startswith("tracking, 1") else "detect"]
            mp_txt = f"{mp:.1f}" if "1 person" in name or "(1,)" in name else "-"
            print(f"{name:36s} {statistics.median(times[name]) * 1e3:9.2f} "
                  f"{st['models_ms']:8.2f} {st['wasmpose_ms']:9.2f} "
                  f"{st['people'] / max(st['frames'], 1):7.2f} {mp_txt:>10s}")
    # wasmpose's own CPU time, models replayed
    det, lm = _models(1)
    print("\nwasmpose's own CPU time per frame (models replayed), median of 200 calls")
    for people, frame in (("1", pan_frames()[0]), ("4", four_people())):
        for mode in ("tracking", "detect"):
            pipe = PosePipeline(_Replay(det), _Replay(lm), tracking=mode == "tracking",
                                smoothing=mode == "tracking",
                                tiles=(1,) if people == "1" else (1, 2))
            for _ in range(5):
                pipe.process(frame)
            ts = []
            for _ in range(200):
                t0 = time.perf_counter()
                poses = pipe.process(frame)
                ts.append(time.perf_counter() - t0)
            print(f"  {mode:9s} {len(poses)} people: {statistics.median(ts) * 1e3:.3f} ms "
                  f"(target {1 + 0.2 * len(poses):.1f} ms)")
    # batching the landmark model
    for threads in args.threads:
        det, lm = _models(threads)
        x = np.random.default_rng(0).uniform(0, 1, (4, 256, 256, 3)).astype(np.float32)
        lm(x)
        lm(x[:1])
        one, batch, calls = [], [], []
        for _ in range(10):
            t0 = time.perf_counter()
            lm(x[:1])
            t1 = time.perf_counter()
            lm(x)
            t2 = time.perf_counter()
            for i in range(4):
                lm(x[i:i + 1])
            t3 = time.perf_counter()
            one.append(t1 - t0)
            batch.append(t2 - t1)
            calls.append(t3 - t2)
        print(f"\nlandmark model, {threads} threads: 1 crop {statistics.median(one) * 1e3:.1f} "
              f"ms, 4 crops batched {statistics.median(batch) * 1e3:.1f} ms, 4 calls "
              f"{statistics.median(calls) * 1e3:.1f} ms")
    # run (reading in its own thread) against a loop of process
    det, lm = _models(args.threads[-1])

    def slow_frames():
        for f in pan_frames():
            time.sleep(0.005)  # a 5 ms decode, as a 640 x 480 video frame with OpenCV
            yield f

    for name in ("process loop", "run"):
        pipe = PosePipeline(det, lm)
        t0 = time.perf_counter()
        if name == "run":
            n = sum(1 for _ in pipe.run(slow_frames()))
        else:
            n = sum(1 for f in slow_frames() if pipe.process(f) is not None)
        print(f"{name:13s}: {(time.perf_counter() - t0) * 1e3 / n:.2f} ms/frame with a 5 ms "
              f"decode per frame")


if __name__ == "__main__":
    main()
