"""Exceptions raised by wasmpose.

Every error wasmpose raises on purpose derives from :class:`WasmposeError`, except input
validation, which raises the built-in :class:`TypeError` / :class:`ValueError` so that callers
can rely on the usual Python conventions.
"""

__all__ = [
    "WasmposeError",
    "QueueFullError",
    "BatchTimeoutError",
    "BatchProcessingError",
    "ArenaFullError",
]


class WasmposeError(Exception):
    """Base class of wasmpose's own exceptions."""


class QueueFullError(WasmposeError):
    """A batcher's queue is at capacity; the request was not accepted."""


class BatchTimeoutError(WasmposeError, TimeoutError):
    """A request was not answered within its timeout."""


class BatchProcessingError(WasmposeError):
    """``process_batch`` raised or returned a result of the wrong length."""


class ArenaFullError(WasmposeError, MemoryError):
    """An :class:`~wasmpose.memory.Arena` has no room left for an allocation."""
