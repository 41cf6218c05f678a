"""wasmpose: fast CPU kernels for real-time pose detection.

The public kernels live in submodules (``wasmpose.image``, ...); the top level re-exports the
configuration functions of :mod:`wasmpose.cpu` and ``__version__``.
"""

from wasmpose._version import __version__
from wasmpose.cpu import (
    OptLevel,
    cpu_features,
    get_opt_level,
    kernel_variants,
    opt_level,
    set_opt_level,
    show_config,
    warmup,
)

__all__ = [
    "__version__",
    "cpu_features",
    "OptLevel",
    "get_opt_level",
    "set_opt_level",
    "opt_level",
    "kernel_variants",
    "show_config",
    "warmup",
]
