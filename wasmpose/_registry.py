"""The kernel registry: one declaration per kernel, everything else derived from it.

A kernel is declared once, in its area's ``__init__.py``, beside the public function that calls
it::

    _GRAY_U8 = register(Kernel(
        "grayscale",
        reference=_ref.gray_u8, serial=_nb.gray_u8_serial, parallel=_nb.gray_u8_parallel,
        parallel_min_bytes=(1 << 16) * 4,  # 2**16 RGB pixels, 3 bytes in and 1 out each
        example=_example_gray_u8,
        companions=(Companion("dtype", "float", ...),),
    ))

The declaration states:

``name``
    the public function the kernel computes (a companion's name adds ``[kind=value]``);
``reference``, ``serial``, ``parallel``
    its three variants (``OptLevel.NONE``, ``OptLevel.SERIAL``, ``OptLevel.PARALLEL``), all
    with the same internal signature: the arguments the public function passes after checking
    them;
``parallel_min_bytes``
    the threshold from which ``OptLevel.FULL`` runs the parallel variant, in **bytes of the
    call's array operands, inputs plus outputs** (the sum of ``.nbytes`` of every ndarray
    argument of the variant; scalars and arrays the kernel allocates and returns do not count).
    One unit for every kernel: the threshold of a memory-bound kernel is then about the same
    whatever the dtype, and a reader compares kernels directly. The size a public function
    passes with each call is that sum (``tests/core/test_registry.py`` checks it for every
    kernel). Where the work grows faster than the operands (OKS NMS: P**2 K pairs on P K
    coordinates), the declaration says which problem size its byte threshold is;
``example(nbytes)``
    a list of argument tuples of the internal signature, realistic data of about ``nbytes``
    bytes of operands, one tuple per signature the public function uses (dtypes, channel
    counts, layouts): the first is the representative one. Warm-up calls every variant on the
    examples at a small size; ``python -m wasmpose bench``, ``bench --thresholds`` and the asv
    suite ``benchmarks/benchmark_kernels.py`` time them at realistic sizes;
``companions``
    the other kernels of the same public function, each typed by what distinguishes it:
    ``dtype`` (``grayscale[dtype=float]``), ``layout`` (``quantize[layout=per-channel]``),
    ``method`` (``calibrate[method=entropy]``) or ``formula`` (``oks[formula=mean-area]``).
    A companion is a :class:`Kernel` of its own (variants, threshold, example), registered with
    its parent and listed by ``kernel_variants()`` and ``show_config()``.

From the declarations come :func:`warmup`, the bench command's kernel table and threshold
sweep, the registry-driven asv suite and the coverage tests: adding a kernel to an existing area
touches that area's files only; a new area adds its module to :data:`KERNEL_MODULES`.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import wasmpose.cpu as _cpu

__all__ = [
    "VARIANTS",
    "NEVER",
    "COMPANION_KINDS",
    "KERNEL_MODULES",
    "WARMUP_BYTES",
    "Kernel",
    "Companion",
    "Chooser",
    "ADAPTIVE",
    "register",
    "all_kernels",
    "get_kernel",
    "operand_bytes",
    "recording",
    "warmup",
]

# ``parallel_min_bytes=NEVER``: FULL never runs the parallel variant (it does not pay at any size
# measured); OptLevel.PARALLEL still runs it.
NEVER = 1 << 62

VARIANTS = ("numpy", "numba-serial", "numba-parallel")
COMPANION_KINDS = ("dtype", "layout", "method", "formula")

# Modules that declare kernels; imported on demand by all_kernels() (and so by warmup(),
# kernel_variants(), show_config() and the bench command). A new area adds one line here.
KERNEL_MODULES = (
    "wasmpose.image",
    "wasmpose.heatmap",
    "wasmpose.keypoints",
    "wasmpose.quant",
    "wasmpose.boxes",
    "wasmpose.tracking",
)

# Size of the examples warm-up compiles on: signatures do not depend on sizes, and small inputs
# keep warmup() short.
WARMUP_BYTES = 4096

Example = Callable[[int], Sequence[tuple]]


def operand_bytes(args: Sequence[Any]) -> int:
    """The threshold unit of a call: the bytes of its ndarray arguments (inputs and outputs).

    Examples
    --------
    >>> operand_bytes((np.zeros(8, np.float32), np.zeros(8, np.uint8), 3, True))
    40
    """
    return sum(a.nbytes for a in args if isinstance(a, np.ndarray))


# ---------------------------------------------------------------------------------------------
# FULL's per-call choice above the threshold: parallel while it pays, serial when it stops paying
# ---------------------------------------------------------------------------------------------
# Whether FULL times its calls above the threshold and demotes a kernel to serial when the
# parallel variant stops paying (docs/cpu.md, "FULL beside a busy core"). WASMPOSE_FULL_ADAPTIVE=0
# at start gives the static threshold alone (what `bench --busy` compares against).
ADAPTIVE = os.environ.get("WASMPOSE_FULL_ADAPTIVE", "1").strip() != "0"

# Size classes of a kernel's choice: the threshold's power-of-two octave, the next ones, the
# last one open (by the bit length of the call's bytes).
_OCTAVES = 6


class Chooser:
    """The choice FULL makes above a kernel's threshold, for one octave of call sizes.

    Both variants compute the same bits (``tests/core/test_registry.py`` checks it for every
    kernel), so the choice changes only the speed. ``pick()`` says which variant the next call
    runs; the caller times it and passes the seconds per operand byte to ``record()``. Two
    estimates (exponential averages of seconds per byte, each sample clipped at ``CLIP`` times
    the estimate so that one stall moves it by a bounded amount) decide:

    - in **parallel** mode, every ``SAMPLE_EVERY``-th call runs the serial variant to keep its
      estimate fresh; the kernel is demoted to serial as soon as one parallel call takes more
      than ``SPIKE`` times the serial estimate (a stalled region: a preempted worker), or when
      the parallel estimate is no longer ``KEEP`` times faster than the serial one;
    - in **serial** mode, one call in ``interval`` probes the parallel variant; it is promoted
      back when the probe is ``ENTER`` times faster than the serial estimate. A failed probe,
      and a demotion that comes less than ``interval`` calls after a promotion, double
      ``interval`` (from ``MIN_INTERVAL`` up to ``MAX_INTERVAL``); a probe slower than
      ``SPIKE`` times the serial estimate sets it at once to ``MAX_INTERVAL`` or, if longer,
      ``PROBE_SHARE`` times the probe's slow-down, so that probes of a parallel variant that
      never pays cost at most 1/16 of the time. Under lasting load the probes are rarer than 1
      call in 100, so they stay out of the p99; a demotion after a long good stretch starts
      again from ``MIN_INTERVAL``.

    A new chooser is in parallel mode (what the threshold says) and alternates the variants
    until it has an estimate of each, ignoring each variant's first call (compilation, first
    touch of memory). No allocation, no lock: threads that share a kernel may lose an update to
    a counter or an estimate, never a result.

    Examples
    --------
    >>> c = Chooser()
    >>> for _ in range(6):                     # serial 1.0 ns/byte, parallel 0.6 ns/byte
    ...     par = c.pick()
    ...     c.record(par, 0.6e-9 if par else 1.0e-9)
    >>> c.parallel
    True
    >>> c.record(True, 5.0e-9)                 # one parallel call stalls: serial from now on
    >>> c.parallel
    False
    """

    __slots__ = ("parallel", "countdown", "interval", "streak", "par", "ser", "par_seen",
                 "ser_seen", "n_par", "n_ser", "demotions")

    SAMPLE_EVERY = 32   # parallel mode: one serial call in this many
    MIN_INTERVAL = 16   # serial mode: one parallel probe in this many calls, at first...
    MAX_INTERVAL = 256  # ...doubling up to this under lasting load
    ALPHA = 0.25        # weight of a new sample in the estimate of the variant that runs
    ALPHA_SAMPLE = 0.5  # weight of a sample of the other variant (there are few of them)
    CLIP = 4.0          # a sample counts at most this many times the estimate
    SPIKE = 2.0         # a parallel call this many times the serial estimate: demote at once
    KEEP = 1.05         # parallel stays while its estimate is this many times faster...
    ENTER = 1.20        # ...and comes back when a probe is this many times faster
    PROBE_SHARE = 16    # a stalled probe x times slower than serial: the next one in 16 x calls

    def __init__(self) -> None:
        self.parallel = True
        self.countdown = 1  # the first call runs the mode's variant, the second the other one
        self.interval = self.MIN_INTERVAL
        self.streak = 0
        self.par = self.ser = 0.0  # seconds per byte; 0.0 while unknown
        self.par_seen = self.ser_seen = 0
        self.n_par = self.n_ser = self.demotions = 0

    def pick(self) -> bool:
        """Whether the next call runs the parallel variant."""
        c = self.countdown
        self.countdown = c - 1
        return self.parallel if c > 0 else not self.parallel

    def record(self, parallel: bool, cost: float) -> None:
        """The call ``pick()`` chose took ``cost`` seconds per operand byte."""
        other = parallel is not self.parallel  # a sample or a probe of the other variant
        alpha = self.ALPHA_SAMPLE if other else self.ALPHA
        if parallel:
            self.n_par += 1
            self.par_seen += 1
            est = self.par
            if self.par_seen > 1:
                self.par = cost if est == 0.0 else est + alpha * (min(cost, self.CLIP * est) - est)
        else:
            self.n_ser += 1
            self.ser_seen += 1
            est = self.ser
            if self.ser_seen > 1:
                self.ser = cost if est == 0.0 else est + alpha * (min(cost, self.CLIP * est) - est)
        par, ser = self.par, self.ser
        if par == 0.0 or ser == 0.0:  # still learning: alternate the variants
            if other:
                self.countdown = 1
            return
        if self.parallel:
            self.streak += 1
            if parallel and not other and cost > self.SPIKE * ser or par * self.KEEP > ser:
                self._demote()
            elif other:
                self.countdown = self.SAMPLE_EVERY - 1
        elif other:  # a probe of the parallel variant
            if cost * self.ENTER <= ser:
                self.parallel = True
                self.par = cost
                self.streak = 0
                self.countdown = self.SAMPLE_EVERY - 1
            elif cost > self.SPIKE * ser:  # a stalled probe, or a parallel variant that
                # never pays: probes so rare that they cost at most 1/PROBE_SHARE of the time
                self.interval = max(self.MAX_INTERVAL,
                                    min(int(cost / ser * self.PROBE_SHARE), 1 << 24))
                self.countdown = self.interval - 1
            else:
                self.interval = min(2 * self.interval, self.MAX_INTERVAL)
                self.countdown = self.interval - 1

    def _demote(self) -> None:
        if self.streak < self.interval:
            self.interval = min(2 * self.interval, self.MAX_INTERVAL)
        else:
            self.interval = self.MIN_INTERVAL
        self.parallel = False
        self.demotions += 1
        self.countdown = self.interval - 1

    def speedup(self) -> float | None:
        """Serial estimate over parallel estimate (None while either is unknown)."""
        return self.ser / self.par if self.par > 0.0 and self.ser > 0.0 else None



class Kernel:
    """One kernel: its public name, its three variants, threshold, example and companions.

    Parameters
    ----------
    name : str
        Name of the public function (without brackets: companions get theirs from their kind).
    reference, serial, parallel : callable
        The NumPy reference and the single- and multi-threaded compiled variants, all with the
        same internal signature.
    parallel_min_bytes : int
        Bytes of array operands (inputs plus outputs) from which ``OptLevel.FULL`` runs the
        parallel variant.
    example : callable
        ``example(nbytes)`` returns a list of argument tuples (see the module docstring).
    companions : sequence of Companion, optional
        Kernels of the same public function for another dtype, layout, method or formula.

    Calling a kernel, ``kernel(nbytes, *args)``, runs the variant chosen for a call with
    ``nbytes`` bytes of operands at the current optimisation level, in this thread.
    """

    __slots__ = ("name", "reference", "serial", "parallel", "parallel_min_bytes", "example",
                 "companions", "parent", "kind", "value", "choosers")

    def __init__(
        self,
        name: str,
        *,
        reference: Callable,
        serial: Callable,
        parallel: Callable,
        parallel_min_bytes: int,
        example: Example,
        companions: Sequence[Companion] = (),
    ) -> None:
        if "[" in name:
            raise ValueError(f"name: expected a public function's name, got {name!r} (a "
                             "companion is declared with Companion(kind, value, ...))")
        self.name = name
        self.reference = reference
        self.serial = serial
        self.parallel = parallel
        self.parallel_min_bytes = int(parallel_min_bytes)
        self.example = example
        # FULL's choice above the threshold, per octave of sizes from it (the last one open)
        self.choosers = tuple(Chooser() for _ in range(_OCTAVES))
        self.parent: Kernel | None = None
        self.kind: str | None = None
        self.value: str | None = None
        self.companions: dict[str, Kernel] = {}
        for c in companions:
            if not isinstance(c, Companion):
                raise TypeError(f"companions: expected Companion objects, got {type(c).__name__}")
            key = f"{c.kind}={c.value}"
            if key in self.companions:
                raise ValueError(f"companions: {key} declared twice for {name}")
            c.name = f"{name}[{key}]"
            c.parent = self
            self.companions[key] = c

    # -- dispatch (the hot path) --------------------------------------------------------------
    def __call__(self, nbytes: int, *args: Any) -> Any:
        # small inputs at FULL run the serial kernel at once (~0.1 us of overhead)
        # the level read: this context's opt_level(), else the process default (cpu.py)
        if (_cpu._context_get() or _cpu._default_level) is _FULL:
            if nbytes < self.parallel_min_bytes:
                return self.serial(*args)
            if ADAPTIVE and _cpu._layer in _TIMED_LAYERS and not _cpu._tls.serial:
                # above the threshold: the variant that pays now, timed (calls of tens of us
                # and more; the bookkeeping costs under 1 us)
                b = int(nbytes).bit_length() - self.parallel_min_bytes.bit_length()
                chooser = self.choosers[b if b < _OCTAVES else _OCTAVES - 1]
                c = chooser.countdown
                if c > _UNTIMED and not chooser.parallel:
                    # settled on serial: untimed until the calls before the next probe
                    chooser.countdown = c - 1
                    chooser.n_ser += 1
                    return self.serial(*args)
                par = chooser.pick()
                t0 = _clock()
                result = (self.parallel if par else self.serial)(*args)
                chooser.record(par, (_clock() - t0) / nbytes)
                return result
        fn = self.select(nbytes)
        if fn is self.parallel and _cpu._layer == "workqueue":
            # workqueue is not thread-safe: one parallel region at a time, others run serially.
            if not _cpu._workqueue_lock.acquire(blocking=False):
                return self.serial(*args)
            try:
                return fn(*args)
            finally:
                _cpu._workqueue_lock.release()
        return fn(*args)

    def select(self, nbytes: int) -> Callable:
        """The variant a call with ``nbytes`` bytes of operands would run now, in this thread."""
        level = _cpu._current_level()
        if level is _FULL and nbytes < self.parallel_min_bytes:
            return self.serial
        if level is _NONE:
            return self.reference
        if level is _SERIAL or not _cpu._PARALLEL_CAPABLE or _cpu._tls.serial:
            return self.serial
        if _cpu._layer is None:
            _cpu.threading_layer()
        if _cpu._layer == "unavailable":
            return self.serial
        if (level is _FULL and ADAPTIVE and _cpu._layer in _TIMED_LAYERS
                and not self.chooser(nbytes).parallel):
            return self.serial  # demoted: the parallel variant stopped paying at this size
        return self.parallel

    def chooser(self, nbytes: int) -> Chooser:
        """The :class:`Chooser` of FULL's calls of ``nbytes`` bytes (at or above the threshold)."""
        b = max(0, int(nbytes).bit_length() - self.parallel_min_bytes.bit_length())
        return self.choosers[min(b, _OCTAVES - 1)]

    def dispatch_counts(self) -> tuple[int, int]:
        """``(parallel, serial)``: FULL's timed calls above the threshold so far, by variant."""
        return (sum(c.n_par for c in self.choosers), sum(c.n_ser for c in self.choosers))

    def demoted(self) -> list[tuple[int, float | None]]:
        """The size classes where FULL runs the serial variant now: ``(from bytes, measured
        parallel speed-up)`` for each (empty at other levels, with adaptation off, or when none
        is demoted)."""
        if not ADAPTIVE or _cpu._current_level() is not _FULL:
            return []
        thr = self.parallel_min_bytes
        return [(max(thr, 1 << (thr.bit_length() + i - 1)), c.speedup())
                for i, c in enumerate(self.choosers) if not c.parallel]

    # -- introspection ------------------------------------------------------------------------
    def variant_name(self, nbytes: int | None = None) -> str:
        """``"numpy"``, ``"numba-serial"`` or ``"numba-parallel"``: what ``select`` picks
        (for a call at the threshold when ``nbytes`` is None)."""
        if nbytes is None:  # a kernel FULL never threads is named by a call below NEVER
            nbytes = self.parallel_min_bytes - (self.parallel_min_bytes >= NEVER)
        fn = self.select(nbytes)
        if fn is self.reference:
            return "numpy"
        return "numba-parallel" if fn is self.parallel else "numba-serial"

    def variant(self, name: str) -> Callable:
        """The variant function called ``name`` (one of ``VARIANTS``)."""
        if name == "numpy":
            return self.reference
        if name == "numba-serial":
            return self.serial
        if name == "numba-parallel":
            return self.parallel
        raise ValueError(f"variant: expected one of {VARIANTS}, got {name!r}")

    def run(self, name: str, *args: Any) -> Any:
        """Call variant ``name`` directly, whatever the level: the parallel one only when it can
        run here (else the serial one) and, under the ``workqueue`` layer, holding the lock that
        keeps two parallel regions from running at once (it waits for its turn)."""
        if name == "numba-parallel":
            if not _cpu._PARALLEL_CAPABLE or _cpu.threading_layer() == "unavailable":
                return self.serial(*args)
            if _cpu._layer == "workqueue":
                with _cpu._workqueue_lock:
                    return self.parallel(*args)
        return self.variant(name)(*args)

    def examples(self, nbytes: int) -> list[tuple]:
        """``example(nbytes)`` as a list (the first tuple is the representative signature)."""
        return list(self.example(int(nbytes)))

    def warmup(self, parallel: bool = True) -> None:
        """Compile (or load from cache) both compiled variants for every example signature."""
        for args in self.examples(WARMUP_BYTES):
            self.run("numba-serial", *args)
        if parallel and _cpu._PARALLEL_CAPABLE and _cpu.threading_layer() != "unavailable":
            for args in self.examples(WARMUP_BYTES):
                self.run("numba-parallel", *args)

    def family(self) -> list[Kernel]:
        """This kernel and its companions."""
        return [self, *self.companions.values()]

    def __repr__(self) -> str:
        return f"<Kernel {self.name!r}: {self.variant_name()}>"


class Companion(Kernel):
    """A kernel of the same public function for another dtype, layout, method or formula.

    Parameters
    ----------
    kind : {"dtype", "layout", "method", "formula"}
        What distinguishes it from its parent.
    value : str
        The dtype, layout, method or formula it handles (``"float"``, ``"per-channel"``,
        ``"entropy"``, ``"mean-area"``).
    reference, serial, parallel, parallel_min_bytes, example
        As for :class:`Kernel`.

    Its name is ``parent[kind=value]``, given when the parent is declared.
    """

    __slots__ = ()

    def __init__(self, kind: str, value: str, *, reference: Callable, serial: Callable,
                 parallel: Callable, parallel_min_bytes: int, example: Example) -> None:
        if kind not in COMPANION_KINDS:
            raise ValueError(f"kind: expected one of {COMPANION_KINDS}, got {kind!r}")
        if not isinstance(value, str) or not value or any(ch in value for ch in "[]=,"):
            raise ValueError(f"value: expected a short name without '[]=,', got {value!r}")
        super().__init__("companion", reference=reference, serial=serial, parallel=parallel,
                         parallel_min_bytes=parallel_min_bytes, example=example)
        self.kind = kind
        self.value = value


_KERNELS: dict[str, Kernel] = {}


def register(kernel: Kernel) -> Kernel:
    """Add a kernel and its companions to the registry (done by its area at import)."""
    if isinstance(kernel, Companion):
        raise TypeError(f"register: {kernel.name} is a companion; register its parent")
    for k in kernel.family():
        if k.name in _KERNELS and _KERNELS[k.name] is not k:
            raise ValueError(f"register: a kernel named {k.name!r} is already registered")
        _KERNELS[k.name] = k
    return kernel


def all_kernels() -> dict[str, Kernel]:
    """Every registered kernel and companion, by name (importing the kernel modules first)."""
    for mod in KERNEL_MODULES:
        if mod not in sys.modules:
            importlib.import_module(mod)
    return _KERNELS


def get_kernel(name: str) -> Kernel:
    """The registered kernel (or companion, ``"grayscale[dtype=float]"``) called ``name``."""
    kernels = all_kernels()
    try:
        return kernels[name]
    except KeyError:
        raise ValueError(f"name: expected one of {sorted(kernels)}, got {name!r}") from None


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[Kernel, int, int]]]:
    """Within the block, every kernel call is appended to the yielded list as
    ``(kernel, nbytes passed, operand_bytes(args))``.

    For tools and tests only (the bench command's variant column, the unit check): it replaces
    ``Kernel.__call__`` for every thread while it lasts.
    """
    calls: list[tuple[Kernel, int, int]] = []
    original = Kernel.__call__

    def spy(self: Kernel, nbytes: int, *args: Any) -> Any:
        calls.append((self, nbytes, operand_bytes(args)))
        return original(self, nbytes, *args)

    Kernel.__call__ = spy  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        Kernel.__call__ = original  # type: ignore[method-assign]


def warmup() -> float:
    """Compile both compiled variants of every kernel and companion on its examples.

    Returns the seconds spent. See :func:`wasmpose.cpu.warmup`.
    """
    t0 = time.perf_counter()
    for k in all_kernels().values():
        k.warmup()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# Helpers for example builders: sizes from a byte budget, fixed-seed data.
# ---------------------------------------------------------------------------------------------
EXAMPLE_SEED = 20261204


def rng() -> np.random.Generator:
    """A generator with the examples' fixed seed (every call starts the same sequence)."""
    return np.random.default_rng(EXAMPLE_SEED)


def count(nbytes: int, per_item: int, minimum: int = 1) -> int:
    """How many items of ``per_item`` bytes fit ``nbytes`` (at least ``minimum``)."""
    return max(int(minimum), int(nbytes) // max(1, int(per_item)))


def side(nbytes: int, per_pair: float, per_item: float) -> int:
    """The ``n`` (at least 1) for which ``per_pair * n**2 + per_item * n`` is about ``nbytes``:
    the number of poses of a kernel with an ``(n, n)`` output and ``(n, ...)`` inputs."""
    n = (-per_item + math.sqrt(per_item * per_item + 4 * per_pair * nbytes)) / (2 * per_pair)
    return max(1, int(n))


def shape_hw(nbytes: int, per_pixel: int) -> tuple[int, int]:
    """A 4:3 image shape ``(H, W)`` of about ``nbytes / per_pixel`` pixels (at least 2x2)."""
    px = count(nbytes, per_pixel, 4)
    h = max(2, int(math.sqrt(px * 3 / 4)))
    return h, max(2, px // h)


_NONE, _SERIAL, _FULL = _cpu.OptLevel.NONE, _cpu.OptLevel.SERIAL, _cpu.OptLevel.FULL
_TIMED_LAYERS = ("tbb", "omp")  # workqueue keeps its lock (one parallel region at a time)
# Demoted to serial, only the calls this close to the next probe are timed (they refresh the
# serial estimate the probe is compared with); the others cost one comparison more than below
# the threshold.
_UNTIMED = 8
_clock = time.perf_counter
