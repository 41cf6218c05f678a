"""Every registered kernel and companion, timed on its declared example beside its reference.

Parametrised from the registry (``wasmpose._registry``): a kernel declared in its area appears
here without an edit. ``impl``:

``wasmpose``
    the kernel as the public function calls it at ``OptLevel.FULL`` (the parallel variant from
    its threshold on, the serial one below it);
``wasmpose-serial``
    the single-threaded compiled variant;
``wasmpose-parallel``
    the multi-threaded compiled variant, whatever the size (what ``bench --thresholds`` sweeps);
``numpy``
    the NumPy reference with the same internal signature.

``size`` is the byte budget given to ``example(size)`` (bytes of array operands, inputs plus
outputs, the unit of the thresholds). Only the first (representative) example signature is
timed; the hand-written suites (``benchmark_image`` ...) time the public functions against
their peers.
"""

from __future__ import annotations

from wasmpose import _registry

from . import common

KERNELS = sorted(_registry.all_kernels())
# A cache-resident call and one that streams from memory. Not 16M: the quadratic kernels (OKS
# NMS on 58,000 poses) would take minutes there in NumPy; `bench --thresholds` goes that far.
SIZES = {"64K": 1 << 16, "1M": 1 << 20}

_VARIANT = {"wasmpose-serial": "numba-serial", "wasmpose-parallel": "numba-parallel",
            "numpy": "numpy"}
_EXAMPLES: dict = {}


def _example(kernel: str, size: str) -> tuple:
    """The kernel's first example at ``size``, built once per process (asv re-runs setup)."""
    key = (kernel, size)
    if key not in _EXAMPLES:
        _EXAMPLES[key] = _registry.get_kernel(kernel).examples(SIZES[size])[0]
    return _EXAMPLES[key]


class Kernels(common.KernelSuite):
    """Each kernel's variants on its example (see the module docstring)."""

    params = [KERNELS, ["wasmpose", "wasmpose-serial", "wasmpose-parallel", "numpy"],
              list(SIZES)]
    param_names = ["kernel", "impl", "size"]
    timeout = 300

    def setup(self, kernel, impl, size):
        k = _registry.get_kernel(kernel)
        args = _example(kernel, size)
        nbytes = _registry.operand_bytes(args)
        if impl == "wasmpose":
            fn = lambda: k(nbytes, *args)  # noqa: E731
        else:
            name = _VARIANT[impl]
            fn = lambda: k.run(name, *args)  # noqa: E731
        self.fn = fn
        self._prev_level = common.set_opt_level("full")
        if (kernel, impl, size) not in common.WARMED:
            fn()  # compile or load from Numba's cache: never timed
            common.WARMED.add((kernel, impl, size))

    def time_kernel(self, kernel, impl, size):
        self.fn()
