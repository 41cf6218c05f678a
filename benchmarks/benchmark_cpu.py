"""Benchmarks of :mod:`wasmpose.cpu`: the cost of the configuration calls in a running process.

None of these has a NumPy reference or a peer; they are timed so that a regression shows (an
``opt_level`` block that got slow costs every call made inside it, a ``kernel_variants`` that
re-imports costs every ``show_config``). Their first call in a new process is timed in
``benchmark_import.py``.

``call``
    ``cpu_features`` (cached after the first call), ``kernel_variants``, ``show_config`` (into a
    ``StringIO``), ``opt_level`` (entering and leaving the block), ``set_opt_level`` (a set and
    a restore), ``get_opt_level``, ``serial_kernels`` (entering and leaving the block),
    ``threading_layer`` (once loaded), ``warmup`` (every kernel already loaded: the cost of a
    second ``warmup()``).
"""

from __future__ import annotations

import io

from wasmpose import cpu

from . import common


def _opt_level():
    with cpu.opt_level("serial"):
        pass


def _set_opt_level():
    cpu.set_opt_level(cpu.set_opt_level("serial"))


def _serial_kernels():
    with cpu.serial_kernels():
        pass


CALLS = {
    "cpu_features": cpu.cpu_features,
    "kernel_variants": cpu.kernel_variants,
    "show_config": lambda: cpu.show_config(file=io.StringIO()),
    "opt_level": _opt_level,
    "set_opt_level": _set_opt_level,
    "get_opt_level": cpu.get_opt_level,
    "serial_kernels": _serial_kernels,
    "threading_layer": cpu.threading_layer,
    "warmup": cpu.warmup,
}


class ConfigCalls(common.KernelSuite):
    """One call of a configuration function, everything it needs already loaded."""

    params = [list(CALLS)]
    param_names = ["call"]
    repeat = (5, 50, 1.0)
    # setup's first warmup() compiles every kernel when Numba's cache is cold (minutes on two
    # busy cores); with a warm cache it loads them in seconds
    timeout = 900

    def setup(self, call):
        self._start("wasmpose", ("cpu", call), CALLS[call])

    def time_call(self, call):
        self.fn()
