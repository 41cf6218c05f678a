"""Memory: fixed-size histories (and, with issue 5, aligned buffers, pools, arenas, weights).

``RingBuffer`` keeps the last ``capacity`` items of a fixed shape in one preallocated array, so
pushing never allocates.
"""

from __future__ import annotations

from wasmpose.memory._ring import RingBuffer

__all__ = ["RingBuffer"]
