"""Benchmarks of :mod:`wasmpose.memory`: pool vs ``np.empty``, arena, weight loading, and a
frame loop's memory.

``AcquireTouch``
    ``impl="pool"``: ``BufferPool.acquire`` + first touch (``fill``) + ``release``;
    ``impl="numpy"``: ``np.empty`` + ``fill`` (the array is freed when the call returns).
    The pool's buffer was touched before (setup), which is the point: from 64 MiB up every
    ``np.empty`` is a fresh ``mmap`` whose pages fault in on first touch.
``PairOverhead``
    the pool's cost without touching: ``acquire`` + ``release`` beside ``np.empty`` alone.
``ArenaAlloc``
    ``Arena.alloc`` (+ ``reset``, so the arena never fills) beside ``np.empty`` and a pool pair.
``LoadWeights``
    a 256 MiB ``.safetensors`` file (16 float32 tensors, written in setup to a temporary
    directory): ``load_weights`` memory-mapped, ``load_weights(mmap=False)`` (read into memory)
    and ``safetensors.numpy.load_file`` (the peer, which reads too); time and peak memory.
``AlignedEmpty``
    ``aligned_empty`` (+ ``is_aligned``, the check callers make) beside ``np.empty``.
``PairSpelling``
    ``acquire`` + ``release`` of ``(256,)`` float32 (issue 16's small-call case) with the dtype
    and shape spelled each way users write them.
``PoolCalls``
    ``borrow`` (a ``with`` block) beside the ``acquire``/``release`` pair it wraps,
    ``stats()`` and ``default_pool()``.
``Ring``
    ``RingBuffer.push`` and ``latest(16)`` of a (17, 2) pose and of a 256x256 RGB frame, beside
    the NumPy ways: a history array shifted with ``np.roll``, and a ``collections.deque``
    (``maxlen``) stacked with ``np.stack``.
``FrameLoop``, ``FramePoolHeld``, ``FrameTime``
    ``to_tensor -> normalize -> threshold`` over 1080p frames, outputs from a pool or from
    ``np.empty``: peak RSS (``peakmem_``) and the bytes the pool holds (``track_``) after 1
    and 100 frames, flat: the same after 100 frames as after 1 (``docs/memory.md`` has the
    same check over 1000 frames; 100 keeps the asv run short); and the time of one frame.

``python -m benchmarks.benchmark_memory`` prints the ratios of the issue's targets, measured
in one process with the same code (asv's ``--quick`` takes one sample, too few for ratios);
``python -m benchmarks.benchmark_memory frames [N]`` runs the frame loop N (1000) times and
prints the resident memory along the way.
"""

from __future__ import annotations

import collections
import json
import os
import struct

import numpy as np

from wasmpose.image import normalize, threshold, to_tensor
from wasmpose.memory import (
    Arena,
    BufferPool,
    RingBuffer,
    aligned_empty,
    default_pool,
    is_aligned,
    load_weights,
)
from wasmpose.tools.timing import measure

from . import common

KIB, MIB = 1 << 10, 1 << 20
SIZES = {"1K": KIB, "64K": 64 * KIB, "1M": MIB, "16M": 16 * MIB, "64M": 64 * MIB,
         "256M": 256 * MIB}

# One pool per process and size, touched once: asv calls setup() before every sample.
_POOLS: dict = {}


def _pool(nbytes: int) -> BufferPool:
    pool = _POOLS.get(nbytes)
    if pool is None:
        pool = _POOLS[nbytes] = BufferPool(max_bytes=max(256 * MIB, nbytes))
        a = pool.acquire(nbytes, np.uint8)
        a.fill(0)
        pool.release(a)
    return pool


class AcquireTouch:
    """acquire + first touch + release vs ``np.empty`` + first touch."""

    params = [["pool", "numpy"], list(SIZES)]
    param_names = ["impl", "size"]
    repeat = (10, 50, 4.0)
    timeout = 240

    def setup(self, impl, size):
        self.n = SIZES[size]
        if impl == "pool":
            self.pool = _pool(self.n)

    def time_acquire_touch_release(self, impl, size):
        if impl == "pool":
            a = self.pool.acquire(self.n, np.uint8)
            a.fill(1)
            self.pool.release(a)
        else:
            a = np.empty(self.n, np.uint8)
            a.fill(1)


class PairOverhead:
    """``acquire`` + ``release`` (no touch) vs ``np.empty`` at small sizes."""

    params = [["pool", "numpy"], ["1K", "64K"]]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        self.n = SIZES[size]
        self.pool = _pool(self.n)
        self.acquire, self.release = self.pool.acquire, self.pool.release

    def time_pair(self, impl, size):
        if impl == "pool":
            self.release(self.acquire(self.n, np.uint8))
        else:
            np.empty(self.n, np.uint8)


SPELLINGS = {
    "np.float32": ((256,), np.float32),
    "'float32'": ((256,), "float32"),
    "np.dtype": ((256,), np.dtype("float32")),
    "int shape": (256, np.float32),
}


class PairSpelling:
    """``acquire`` + ``release`` of ``(256,)`` float32, dtype and shape spelled each way."""

    params = [list(SPELLINGS)]
    param_names = ["spelling"]

    def setup(self, spelling):
        self.pool = pool = _pool(256 * 4)
        shape, dtype = SPELLINGS[spelling]
        acquire, release = pool.acquire, pool.release
        self.fn = lambda: release(acquire(shape, dtype))
        self.fn()

    def time_pair(self, spelling):
        self.fn()


class ArenaAlloc:
    """``Arena.alloc((64, 64), float32)`` + ``reset`` beside the alternatives."""

    params = [["arena", "pool", "numpy"]]
    param_names = ["impl"]

    def setup(self, impl):
        self.arena = Arena(MIB)
        self.pool = _pool(64 * 64 * 4)

    def time_alloc(self, impl):
        if impl == "arena":
            self.arena.alloc((64, 64), np.float32)
            self.arena.reset()
        elif impl == "pool":
            self.pool.release(self.pool.acquire((64, 64), np.float32))
        else:
            np.empty((64, 64), np.float32)


class AlignedEmpty:
    """``aligned_empty`` + ``is_aligned`` beside ``np.empty`` (no touch)."""

    params = [["wasmpose", "numpy"], ["1K", "1M", "64M"]]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        self.n = SIZES[size] // 4

    def time_empty(self, impl, size):
        if impl == "wasmpose":
            is_aligned(aligned_empty(self.n, np.float32))
        else:
            np.empty(self.n, np.float32)


class PoolCalls:
    """``borrow`` beside ``acquire`` + ``release`` (a 640x480 float32 buffer), ``stats()`` and
    ``default_pool()`` on a pool that has served a few requests."""

    params = [["borrow", "acquire_release", "stats", "default_pool"]]
    param_names = ["call"]

    def setup(self, call):
        self.pool = pool = _pool(480 * 640 * 4)
        shape = (480, 640)

        def borrow():
            with pool.borrow(shape) as b:
                return b

        self.fn = {
            "borrow": borrow,
            "acquire_release": lambda: pool.release(pool.acquire(shape)),
            "stats": pool.stats,
            "default_pool": default_pool,
        }[call]
        self.fn()

    def time_call(self, call):
        self.fn()


RING_ITEMS = {"17x2": ((17, 2), np.float64), "256x256x3": ((256, 256, 3), np.uint8)}
RING_CAPACITY = 16


class Ring:
    """A history of the last 16 items: push one item, read all 16 oldest first."""

    params = [["wasmpose", "numpy-roll", "deque"], list(RING_ITEMS)]
    param_names = ["impl", "item"]

    def setup(self, impl, item):
        shape, dtype = RING_ITEMS[item]
        self.x = np.ones(shape, dtype)
        if impl == "wasmpose":
            ring = RingBuffer(RING_CAPACITY, shape, dtype)
            self.push, self.latest = ring.push, ring.latest
        elif impl == "numpy-roll":
            hist = np.zeros((RING_CAPACITY, *shape), dtype)

            def push(x):
                hist[:] = np.roll(hist, -1, axis=0)
                hist[-1] = x

            self.push, self.latest = push, hist.copy
        else:
            dq = collections.deque(maxlen=RING_CAPACITY)
            self.push, self.latest = dq.append, lambda: np.stack(dq)
        for _ in range(RING_CAPACITY):
            self.push(self.x)

    def time_push(self, impl, item):
        self.push(self.x)

    def time_latest(self, impl, item):
        self.latest()


# -- weights ------------------------------------------------------------------------------------
_WEIGHTS: dict = {}


def safetensors_file(nbytes: int = 256 * MIB, tensors: int = 16) -> str:
    """A ``.safetensors`` file of ``tensors`` float32 tensors, ``nbytes`` of data in all, in a
    temporary directory removed at exit; written once per process (fixed content)."""
    key = (nbytes, tensors)
    if key not in _WEIGHTS:
        tmp = common.tmpdir()
        per = nbytes // tensors // 4
        header = {f"layer{i:02d}.weight": {"dtype": "F32", "shape": [per // 1024, 1024],
                                           "data_offsets": [i * per * 4, (i + 1) * per * 4]}
                  for i in range(tensors)}
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8)
        path = os.path.join(tmp, "model.safetensors")
        block = common.float_array(per, "float32") if per & (per - 1) == 0 else \
            np.ones(per, np.float32)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            for _ in range(tensors):
                f.write(block.tobytes())
        _WEIGHTS[key] = path
    return _WEIGHTS[key]


class LoadWeights:
    """Loading a 256 MiB safetensors file: mapped, read into memory, and by ``safetensors``."""

    params = [["mmap", "read", "safetensors"]]
    param_names = ["impl"]
    repeat = (5, 20, 4.0)
    timeout = 240

    def setup(self, impl):
        self.path = safetensors_file()
        if impl == "safetensors":
            st = common.require_peer("safetensors.numpy")
            self.fn = lambda: st.load_file(self.path)
        else:
            mm = impl == "mmap"
            self.fn = lambda: load_weights(self.path, mmap=mm)
        # the file is in the page cache for every impl; read in 1 MiB chunks so that the peak
        # memory of setup (which peakmem_load counts too) stays small
        with open(self.path, "rb", buffering=0) as f:
            while f.read(MIB):
                pass

    def time_load(self, impl):
        self.fn()

    def peakmem_load(self, impl):
        self.fn()


# -- a frame loop's memory -----------------------------------------------------------------------
_FRAME_SHAPE = (1, 3, 1080, 1920)


def frame_loop(frames: int, pool: BufferPool | None) -> None:
    """``to_tensor -> normalize -> threshold`` on a 1080p frame, ``frames`` times."""
    img = common.rgb_image(1080, 1920, "uint8")
    for _ in range(frames):
        if pool is None:
            t = to_tensor(img)
            n = normalize(t)
            threshold(n, 0.0, 1.0)
        else:
            t = pool.acquire(_FRAME_SHAPE)
            n = pool.acquire(_FRAME_SHAPE)
            th = pool.acquire(_FRAME_SHAPE)
            to_tensor(img, out=t)
            normalize(t, out=n)
            threshold(n, 0.0, 1.0, out=th)
            pool.release(t)
            pool.release(n)
            pool.release(th)


class FrameLoop:
    """Peak memory of a 1080p frame loop, with and without the pool: flat in ``frames``."""

    params = [["pool", "numpy"], [1, 100]]
    param_names = ["impl", "frames"]
    timeout = 300

    def setup(self, impl, frames):
        self.pool = BufferPool() if impl == "pool" else None
        frame_loop(1, self.pool)  # compile / load the kernels before any measurement

    def peakmem_frame_loop(self, impl, frames):
        frame_loop(frames, self.pool)


class FramePoolHeld:
    """Bytes the pool holds (in use + idle) after a 1080p frame loop: the same for 1 and 100."""

    params = [[1, 100]]
    param_names = ["frames"]
    timeout = 300

    def setup(self, frames):
        self.pool = BufferPool()

    def track_pool_bytes_held(self, frames):
        frame_loop(frames, self.pool)
        s = self.pool.stats()
        return s.in_use_bytes + s.idle_bytes

    track_pool_bytes_held.unit = "bytes"


class FrameTime:
    """One 1080p frame of the loop, outputs from the pool or from ``np.empty``."""

    params = [["pool", "numpy"]]
    param_names = ["impl"]

    def setup(self, impl):
        self.pool = BufferPool() if impl == "pool" else None
        frame_loop(1, self.pool)

    def time_frame(self, impl):
        frame_loop(1, self.pool)


# -- the ratios, measured in one process ----------------------------------------------
def _best(fns, rounds: int = 60, round_time: float = 0.002) -> list[float]:
    """Best per-call time of each of ``fns`` over ``rounds`` short samples of
    :func:`wasmpose.tools.timing.measure` (about ``round_time`` seconds each), the functions
    alternating within each round, so that a busy neighbour on a shared machine slows all of
    them alike and the best round is a clean one."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], measure(fn, min_time=round_time, repeats=1).best)
    return best


def _report() -> None:
    def case(suite, *params, method):
        b = suite()
        b.setup(*params)
        return lambda: getattr(b, method)(*params)

    print("acquire + touch + release vs np.empty + touch")
    for size in SIZES:
        p, e = _best([case(AcquireTouch, impl, size, method="time_acquire_touch_release")
                      for impl in ("pool", "numpy")])
        print(f"  {size:>5}: pool {p * 1e6:10.2f} us  np.empty {e * 1e6:10.2f} us  "
              f"speed-up {e / p:5.2f}x  pool - np.empty {(p - e) * 1e6:+8.2f} us")
    for size in ("1K", "64K"):
        p, e = _best([case(PairOverhead, impl, size, method="time_pair")
                      for impl in ("pool", "numpy")])
        print(f"  pair {size:>4}: acquire+release {p * 1e6:.2f} us, np.empty {e * 1e6:.2f} us, "
              f"overhead {(p - e) * 1e6:.2f} us")
    times = _best([case(PairSpelling, sp, method="time_pair") for sp in SPELLINGS])
    print("  pair (256,) float32: " + ", ".join(
        f"{sp} {t * 1e6:.2f} us" for sp, t in zip(SPELLINGS, times, strict=True)))
    impls = ArenaAlloc.params[0]
    times = _best([case(ArenaAlloc, impl, method="time_alloc") for impl in impls])
    print("  alloc (64, 64) float32: " + ", ".join(
        f"{impl} {t * 1e6:.2f} us" for impl, t in zip(impls, times, strict=True)))
    e, n = _best([case(AlignedEmpty, impl, "1K", method="time_empty")
                  for impl in ("wasmpose", "numpy")])
    print(f"  aligned_empty + is_aligned, 1 KiB: {e * 1e6:.2f} us, np.empty {n * 1e6:.2f} us")
    impls = Ring.params[0]
    for item in RING_ITEMS:
        push = _best([case(Ring, impl, item, method="time_push") for impl in impls])
        print(f"  ring push {item}: " + ", ".join(
            f"{impl} {t * 1e6:.2f} us" for impl, t in zip(impls, push, strict=True)))
    impls = ["mmap", "read"] + (["safetensors"] if common.peer_available("safetensors") else [])
    times = _best([case(LoadWeights, impl, method="time_load") for impl in impls],
                  rounds=7)
    print("load_weights 256 MiB: " + ", ".join(
        f"{impl} {t * 1e3:.3f} ms" for impl, t in zip(impls, times, strict=True))
        + f"; read / mmap = {times[1] / times[0]:.0f}x")


def _frames_report(frames: int = 1000) -> None:
    """Resident memory and time per frame of :func:`frame_loop` over ``frames`` 1080p frames,
    with a pool and without; each in a new process so that they do not share a heap."""
    import subprocess
    import sys

    code = (
        "import resource, time\n"
        "from benchmarks.benchmark_memory import FrameLoop, frame_loop\n"
        "b = FrameLoop(); b.setup({impl!r}, 1)\n"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "marks, t0 = {{}}, time.perf_counter()\n"
        "for i in range(1, {frames} + 1):\n"
        "    frame_loop(1, b.pool)\n"
        "    if i in (1, 10, 100, 500, 1000, {frames}): marks[i] = round(rss(), 1)\n"
        "dt = (time.perf_counter() - t0) / {frames}\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print({impl!r}, 'RSS MiB after frame', marks, f'peak {{peak:.1f}} MiB',\n"
        "      f'{{dt * 1e3:.2f}} ms/frame', b.pool.stats() if b.pool else '')\n"
    )
    for impl in ("pool", "numpy"):
        subprocess.run([sys.executable, "-c", code.format(impl=impl, frames=frames)],
                       check=True)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["frames"]:
        _frames_report(int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
    else:
        _report()
