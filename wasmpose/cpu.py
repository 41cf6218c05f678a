"""CPU features, optimisation level and the kernel registry.

Every public kernel of wasmpose has three variants:

``numpy``
    the plain NumPy reference implementation (``OptLevel.NONE``);
``numba-serial``
    a single-threaded Numba kernel (``OptLevel.SERIAL``);
``numba-parallel``
    a multi-threaded Numba kernel (``OptLevel.PARALLEL``).

At ``OptLevel.FULL`` (the default) a call runs the parallel variant when its work size reaches the
kernel's measured threshold and parallel execution is possible (more than one core, a threading
layer that tolerates the call), and the serial variant otherwise. Threads that must not start
parallel regions of their own (the workers of :mod:`wasmpose.parallel`) enter
:func:`serial_kernels`.

Nothing is compiled at import: Numba compiles a kernel (or loads it from its on-disk cache) on its
first call. :func:`warmup` does that ahead of time for the common signatures.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import enum
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numba

__all__ = [
    "CpuFeatures",
    "cpu_features",
    "OptLevel",
    "get_opt_level",
    "set_opt_level",
    "opt_level",
    "kernel_variants",
    "show_config",
    "warmup",
    "serial_kernels",
    "threading_layer",
]

# ---------------------------------------------------------------------------------------------
# Threading layer. Parallel kernels called from several threads at once abort the process under
# Numba's ``workqueue`` layer, and ``workqueue`` was also 2-5x slower than ``omp`` here. We ask for
# TBB first, then OpenMP, and fall back to ``workqueue`` (where concurrent parallel calls are
# serialised by a lock, see ``Kernel.__call__``). TBB first because a pose pipeline never has the
# cores to itself (camera decode, the model's own threads, other processes): when another thread
# keeps a core busy, an OpenMP region waits for its preempted worker, a time slice each time,
# while TBB's calling thread takes the work over. Measured at load average 5 on 2 cores
# (docs/cpu.md, with the command): grayscale of a 1080p frame at OptLevel.FULL, median of 40
# calls, 16 ms with OpenMP against 0.31 ms with TBB (0.34 ms single-threaded). OpenMP starts a
# region faster on an idle machine (it was 1.5-1.75x faster on 1M-element and 640x480 calls
# there, docs/performance.md), so it stays second. TBB comes with the extra ``wasmpose[tbb]``
# (also in ``[demo]``). A user's own NUMBA_THREADING_LAYER(_PRIORITY) setting wins. This only
# sets configuration; the layer is loaded on the first parallel call.
# ---------------------------------------------------------------------------------------------
if "NUMBA_THREADING_LAYER" not in os.environ and "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
    numba.config.THREADING_LAYER_PRIORITY = ["tbb", "omp", "workqueue"]

_launch_lock = threading.Lock()
_layer: str | None = None  # the loaded layer, once known
_workqueue_lock = threading.Lock()
# why each layer that does not run was not taken: filled when the layer is loaded
_layer_notes: dict[str, str] = {}

# TBB's interface version from which Numba accepts it (Numba's own check: TBB 2021.6)
_TBB_MIN_INTERFACE = 12060


def _tbb_library() -> tuple[str | None, str]:
    """The ``libtbb`` that the ``tbb`` wheel installed, and a note on how it was found.

    pip installs the ``tbb`` wheel's shared library into ``<prefix>/lib``, which is not on the
    dynamic loader's search path in a virtual environment, so Numba's ``CDLL("libtbb.so.12")``
    fails there (numba issues 6108 and 7148) and every venv user silently got OpenMP. The file is
    found through the installed distribution's own file list (``importlib.metadata``), not a
    guessed path.
    """
    import importlib.metadata as md

    names = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}
    name = names.get(sys.platform)
    if name is None:
        return None, f"no TBB library name known for platform {sys.platform!r}"
    try:
        dist = md.distribution("tbb")
    except md.PackageNotFoundError:
        return None, "not installed (pip install 'wasmpose[tbb]')"
    for f in dist.files or ():
        if f.name == name:
            path = os.path.normpath(os.fspath(dist.locate_file(f)))
            if os.path.exists(path):
                return path, f"tbb {dist.version} wheel: {path}"
    return None, f"the tbb {dist.version} distribution lists no {name}"


def _preload_tbb() -> None:
    """Load the tbb wheel's library (global symbols) so that Numba's TBB layer can bind to it.

    Once a library with the soname ``libtbb.so.12`` is loaded, the loader resolves Numba's
    ``CDLL("libtbb.so.12")`` and ``tbbpool``'s dependency to it. Never raises: on failure the
    reason is kept for :func:`show_config` and Numba falls back to the next layer.
    """
    import ctypes

    path, note = _tbb_library()
    if path is None:
        # maybe the system's loader path has one (conda, a system package): let Numba try
        _layer_notes["tbb"] = note
        return
    try:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        version = lib.TBB_runtime_interface_version
        version.restype = ctypes.c_int
        iface = int(version())
    except (OSError, AttributeError) as exc:
        _layer_notes["tbb"] = f"{note} does not load: {exc}"
        return
    if iface < _TBB_MIN_INTERFACE:
        _layer_notes["tbb"] = (f"{note} has interface version {iface}; Numba needs "
                               f"{_TBB_MIN_INTERFACE} or later (TBB 2021.6)")
    else:
        _layer_notes["tbb"] = note


def threading_layer() -> str:
    """Name of Numba's threading layer, loading it if no parallel kernel has run yet.

    wasmpose asks Numba for ``tbb``, then ``omp``, then ``workqueue`` unless
    ``NUMBA_THREADING_LAYER`` or ``NUMBA_THREADING_LAYER_PRIORITY`` is set. Before Numba picks,
    the library of the ``tbb`` wheel is loaded from where pip installed it (a virtual
    environment's ``lib/`` is not on the loader's path); :func:`show_config` says which layer
    runs and why the others do not.

    Returns
    -------
    str
        ``"omp"``, ``"tbb"`` or ``"workqueue"`` (or ``"unavailable"`` if none loads).

    Examples
    --------
    >>> threading_layer() in ("omp", "tbb", "workqueue", "unavailable")
    True
    """
    global _layer
    if _layer is not None:
        return _layer
    with _launch_lock:
        if _layer is None:
            _preload_tbb()
            try:
                from numba.np.ufunc import parallel as _npp

                _npp._launch_threads()
                _layer = numba.threading_layer()
            except Exception as exc:  # noqa: BLE001 - no layer could be loaded: run serial kernels
                _layer_notes["all"] = f"no layer loads: {exc}"
                _layer = "unavailable"
    return _layer


def _layer_report() -> list[tuple[str, str]]:
    """Each layer Numba may pick, in order, with whether it runs or why not (for show_config)."""
    running = threading_layer()
    order = [str(x) for x in numba.config.THREADING_LAYER_PRIORITY]
    forced = str(numba.config.THREADING_LAYER).lower()
    if forced in order:
        order = [forced]
    lines = []
    passed_running = False
    for name in order:
        note = _layer_notes.get(name, "")
        if name == running:
            why = "running" + (f" ({note})" if note else "")
            passed_running = True
        elif passed_running:
            why = f"not tried ({running} comes first)"
        elif name == "tbb":
            why = "did not load: " + (note or "libtbb.so.12 not found")
        else:
            why = "did not load" + (f": {note}" if note else "")
        lines.append((name, why))
    if forced in ("tbb", "omp", "workqueue"):
        lines.append(("(choice)", f"NUMBA_THREADING_LAYER={forced}"))
    return lines


# ---------------------------------------------------------------------------------------------
# CPU features
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CpuFeatures:
    """The host CPU as LLVM sees it.

    Attributes
    ----------
    name : str
        LLVM's name of the CPU (``"znver4"``, ``"skylake-avx512"``, ``"apple-m1"``, ...), or
        ``"unknown"``.
    flags : frozenset of str
        The features the CPU has (``"avx2"``, ``"fma"``, ``"neon"``, ...).
    sse42, avx2, avx512f, fma, neon : bool
        Whether the CPU has that feature (``neon`` also accepts ``"asimd"``).
    vector_bits : int
        Width of the widest vector unit (512, 256, 128 or 0).

    Examples
    --------
    >>> f = CpuFeatures(name="haswell", flags=frozenset({"avx", "avx2", "fma", "sse4.2"}))
    >>> f.avx2, f.avx512f, f.vector_bits
    (True, False, 256)
    """

    name: str
    flags: frozenset

    @property
    def sse42(self) -> bool:
        return "sse4.2" in self.flags

    @property
    def avx2(self) -> bool:
        return "avx2" in self.flags

    @property
    def avx512f(self) -> bool:
        return "avx512f" in self.flags

    @property
    def fma(self) -> bool:
        return "fma" in self.flags

    @property
    def neon(self) -> bool:
        return "neon" in self.flags or "asimd" in self.flags

    @property
    def vector_bits(self) -> int:
        """Width in bits of the widest vector unit the features name (0 if none is known)."""
        if self.avx512f:
            return 512
        if self.avx2 or "avx" in self.flags:
            return 256
        if self.sse42 or "sse2" in self.flags or self.neon:
            return 128
        return 0


_features: CpuFeatures | None = None


def _detect_features() -> CpuFeatures:
    try:
        import llvmlite.binding as llvm

        name = str(llvm.get_host_cpu_name() or "unknown")
        flat = llvm.get_host_cpu_features().flatten()
        flags = frozenset(f[1:] for f in flat.split(",") if f.startswith("+"))
        return CpuFeatures(name=name, flags=flags)
    except Exception:  # noqa: BLE001 - never raise: unknown platforms have no flags
        return CpuFeatures(name="unknown", flags=frozenset())


def cpu_features() -> CpuFeatures:
    """The host CPU's name and features, detected once and cached; never raises.

    Returns
    -------
    CpuFeatures
        The CPU's LLVM name and feature flags (an unknown platform gives no flags).

    Examples
    --------
    >>> f = cpu_features()
    >>> isinstance(f.flags, frozenset) and isinstance(f.avx2, bool)
    True
    """
    global _features
    if _features is None:
        _features = _detect_features()
    return _features


# ---------------------------------------------------------------------------------------------
# Optimisation level
# ---------------------------------------------------------------------------------------------
_SIMD_DEPRECATED = ("OptLevel.SIMD is deprecated and will be removed: use "
                    "OptLevel.SERIAL ('serial'), the same single-threaded compiled kernels")


def _warn_simd(stacklevel: int) -> None:
    import warnings

    warnings.warn(_SIMD_DEPRECATED, DeprecationWarning, stacklevel=stacklevel + 1)


class _OptLevelType(enum.EnumMeta):
    """Makes the deprecated name ``SIMD`` resolve to ``SERIAL`` with a DeprecationWarning.

    ``SIMD`` is not a member (an alias could not warn): attribute and item lookups of that name
    are redirected here, value lookups (``OptLevel("simd")``) in ``OptLevel._missing_``.
    """

    def __getattr__(cls, name):
        if name == "SIMD":
            _warn_simd(2)
            return cls.SERIAL
        return super().__getattr__(name)

    def __getitem__(cls, name):
        if name == "SIMD":
            _warn_simd(2)
            return cls.SERIAL
        return super().__getitem__(name)


class OptLevel(enum.Enum, metaclass=_OptLevelType):
    """Which kernel variants wasmpose runs.

    ``NONE``: NumPy reference implementations. ``SERIAL``: single-threaded compiled kernels.
    ``PARALLEL``: multi-threaded compiled kernels. ``FULL`` (default): compiled kernels,
    multi-threaded above a per-kernel size threshold and serial below it.

    The level is chosen with ``WASMPOSE_OPT_LEVEL=none|serial|parallel|full`` at start,
    :func:`set_opt_level` or the :func:`opt_level` context manager; functions taking a level
    also accept its name, case-insensitive. ``SIMD`` (``"simd"``) is the deprecated name of
    ``SERIAL``: it still works and emits a ``DeprecationWarning``.

    Examples
    --------
    >>> OptLevel["SERIAL"] is OptLevel("serial")
    True
    """

    NONE = "none"
    SERIAL = "serial"
    PARALLEL = "parallel"
    FULL = "full"

    @classmethod
    def _missing_(cls, value):
        if isinstance(value, str) and value.lower() == "simd":
            _warn_simd(4)
            return cls.SERIAL
        return None


def _as_level(level: Any, name: str = "level", stacklevel: int = 3) -> OptLevel:
    if isinstance(level, OptLevel):
        return level
    if isinstance(level, str):
        key = level.strip().upper()
        if key == "SIMD":
            _warn_simd(stacklevel)
            return OptLevel.SERIAL
        try:
            return OptLevel[key]
        except KeyError:
            pass
        raise ValueError(
            f"{name}: expected an OptLevel or one of 'none', 'serial', 'parallel', 'full' "
            f"(case-insensitive), got {level!r}"
        )
    raise TypeError(f"{name}: expected an OptLevel or its name as str, got {type(level).__name__}")


def _initial_level() -> OptLevel:
    value = os.environ.get("WASMPOSE_OPT_LEVEL")
    if not value:
        return OptLevel.FULL
    try:
        return _as_level(value, "WASMPOSE_OPT_LEVEL", stacklevel=4)
    except ValueError as exc:
        import warnings

        warnings.warn(f"{exc}; using FULL", RuntimeWarning, stacklevel=2)
        return OptLevel.FULL


# The level in force is the calling context's own (set by ``opt_level()``), else the process
# default (``WASMPOSE_OPT_LEVEL``, ``set_opt_level``). A ContextVar makes ``with opt_level()``
# private to its thread or asyncio task: two threads interleaving their blocks each restore
# their own value, and neither leaks into the other or into the process default. Reading it is
# one ``ContextVar.get`` on the kernels' hot path (``_registry.Kernel.__call__`` inlines
# ``_context_get() or _default_level``): measured in docs/cpu.md, ~6 ns a call.
_default_level: OptLevel = _initial_level()
_context_level: contextvars.ContextVar[OptLevel | None] = contextvars.ContextVar(
    "wasmpose_opt_level", default=None)
_context_get = _context_level.get
_NONE, _SERIAL, _FULL = OptLevel.NONE, OptLevel.SERIAL, OptLevel.FULL


def _current_level() -> OptLevel:
    """The level in force here (what the kernel registry dispatches on): this context's
    ``opt_level()``, else the process default."""
    return _context_get() or _default_level  # OptLevel members are truthy


class _ThreadState(threading.local):
    serial = False  # class default: reading it never raises (a missing attribute costs ~1 us)


_tls = _ThreadState()


def get_opt_level() -> OptLevel:
    """The optimisation level in force in the calling thread or task.

    That is the level of the innermost :func:`opt_level` block this thread (or asyncio task)
    is in, else the process default set by :func:`set_opt_level` (or
    ``WASMPOSE_OPT_LEVEL``).

    Returns
    -------
    OptLevel

    Examples
    --------
    >>> with opt_level("serial"):
    ...     get_opt_level()
    <OptLevel.SERIAL: 'serial'>
    """
    return _context_get() or _default_level


def set_opt_level(level: OptLevel | str) -> OptLevel:
    """Set the process default optimisation level.

    Every thread and task uses it, except inside their own :func:`opt_level` blocks (which
    take precedence in the thread or task that entered them).

    Parameters
    ----------
    level : OptLevel or str
        The level or its name (``"none"``, ``"serial"``, ``"parallel"``, ``"full"``,
        case-insensitive).

    Returns
    -------
    OptLevel
        The previous process default.

    Raises
    ------
    ValueError
        ``level`` names no level.
    TypeError
        ``level`` is neither an :class:`OptLevel` nor a str.

    Examples
    --------
    >>> previous = set_opt_level("none")
    >>> get_opt_level()
    <OptLevel.NONE: 'none'>
    >>> set_opt_level(previous)
    <OptLevel.NONE: 'none'>
    """
    global _default_level
    new = _as_level(level)
    old, _default_level = _default_level, new
    return old


@contextlib.contextmanager
def opt_level(level: OptLevel | str) -> Iterator[OptLevel]:
    """Context manager: the optimisation level of the calling thread or task within the block.

    The level is a context variable (:mod:`contextvars`): it applies to the thread (or asyncio
    task) that enters the block and is restored on exit whatever other threads do meanwhile;
    the process default (:func:`set_opt_level`) is not changed. Threads started inside the
    block do not inherit it (Python starts threads in an empty context) unless they run in a
    copy of it (``contextvars.copy_context().run``); asyncio tasks created inside it do.

    Parameters
    ----------
    level : OptLevel or str
        As in :func:`set_opt_level`.

    Yields
    ------
    OptLevel
        The level now in force.

    Examples
    --------
    >>> with opt_level("none"):
    ...     get_opt_level()
    <OptLevel.NONE: 'none'>
    """
    new = _as_level(level)
    token = _context_level.set(new)
    try:
        yield new
    finally:
        _context_level.reset(token)


@contextlib.contextmanager
def serial_kernels() -> Iterator[None]:
    """Within this context, the calling thread never starts a parallel kernel.

    Worker threads of a pool use this so that Numba's parallel regions do not nest inside an
    already parallel workload (oversubscription, and aborts under the ``workqueue`` layer).
    Other threads are not affected.

    Examples
    --------
    >>> with opt_level("parallel"), serial_kernels():
    ...     kernel_variants()["grayscale"]
    'numba-serial'
    """
    prev = _tls.serial
    _tls.serial = True
    try:
        yield
    finally:
        _tls.serial = prev


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_PARALLEL_CAPABLE = _cores() > 1 and numba.config.NUMBA_NUM_THREADS > 1


# ---------------------------------------------------------------------------------------------
# Kernel registry: declared in wasmpose/_registry.py (imported at the end of this module, which
# it reads the level and threading state of); the public views of it follow.
# ---------------------------------------------------------------------------------------------
def kernel_variants() -> dict[str, str]:
    """For every public kernel, the variant a call on a large input would use now.

    Values are ``"numpy"``, ``"numba-serial"`` or ``"numba-parallel"``. At ``OptLevel.FULL``,
    inputs smaller than the kernel's threshold run ``"numba-serial"``
    (see :func:`show_config` for the thresholds), and so do calls at the threshold while FULL
    has demoted the kernel there because its parallel variant stopped paying (a busy core;
    :func:`show_config` lists every size class demoted).

    Returns
    -------
    dict of str to str
        Kernel name to variant name, sorted by kernel name.

    Examples
    --------
    >>> with opt_level("serial"):
    ...     kernel_variants()["grayscale"]
    'numba-serial'
    """
    return {name: k.variant_name() for name, k in sorted(_registry.all_kernels().items())}


def show_config(file=None) -> None:
    """Print versions, the CPU, the optimisation level, the threading setup and kernel variants.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> show_config(buf)
    >>> buf.getvalue().splitlines()[0]
    'wasmpose configuration'
    """
    import llvmlite
    import numpy

    from wasmpose._version import __version__

    out = file if file is not None else sys.stdout
    f = cpu_features()
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("wasmpose configuration")
    p(f"  wasmpose        {__version__}")
    p(f"  python          {sys.version.split()[0]}")
    p(f"  numpy           {numpy.__version__}")
    p(f"  numba           {numba.__version__}")
    p(f"  llvmlite        {llvmlite.__version__}")
    p(f"  cpu             {f.name} ({f.vector_bits}-bit vectors)")
    p(f"  cpu flags       {' '.join(sorted(f.flags)) or '(none detected)'}")
    p(f"  opt level       {get_opt_level().name}")
    p(f"  cores           {_cores()}")
    p(f"  threading layer {threading_layer() if _PARALLEL_CAPABLE else 'not used (one core)'}")
    if _PARALLEL_CAPABLE:
        for name, why in _layer_report():
            p(f"    {name:<12}{why}")
    p(f"  numba threads   {numba.get_num_threads()}")
    p("  kernel variants (large inputs; serial below the threshold at FULL; threshold in bytes "
      "of array operands, inputs plus outputs):")
    kernels = _registry.all_kernels()
    width = max(map(len, kernels)) + 2
    for name, k in sorted(kernels.items()):
        limit = ("never at FULL" if k.parallel_min_bytes >= _registry.NEVER
                 else f"{k.parallel_min_bytes:,} bytes")
        line = f"    {name:<{width}}{k.variant_name():<16}threshold {limit}"
        demoted = k.demoted()
        if demoted:  # FULL measured that the parallel variant does not pay now at these sizes
            line += "; FULL demoted to serial from " + ", ".join(
                f"{lo:,} bytes" + ("" if x is None else f" (parallel {x:.2f}x)")
                for lo, x in demoted)
        p(line)
    from wasmpose.image import _kernels as _image_kernels

    p(f"  grayscale uint8 formulation: {_image_kernels.GRAY_U8_ISA} (avx2: LLVM IR blocks of 32 "
      "pixels; portable: the plain loop)")


def warmup() -> float:
    """Compile (or load from Numba's cache) every kernel for its common signatures.

    Both compiled variants (serial and parallel) of every registered kernel and companion are
    called on the small example inputs of their declaration (one per signature the public
    function uses), so that no call of a real-time loop waits for the compiler. Parallel
    variants run one at a time under the ``workqueue`` layer, also while other threads run
    kernels. Numba caches the machine code on disk: later
    processes load it instead of compiling.

    Returns
    -------
    float
        The seconds spent.

    Examples
    --------
    >>> seconds = warmup()
    >>> seconds >= 0.0
    True
    """
    return _registry.warmup()


from wasmpose import _registry  # noqa: E402 - reads this module's level and threading state
from wasmpose._registry import VARIANTS, Companion, Kernel, get_kernel, register  # noqa: E402,F401

