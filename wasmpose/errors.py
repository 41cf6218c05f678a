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
    """Base class of wasmpose's own exceptions.

    Catch it to handle every error wasmpose raises on purpose (argument errors excepted: those
    are :class:`TypeError` and :class:`ValueError`).

    Examples
    --------
    >>> from wasmpose.errors import ArenaFullError, QueueFullError, WasmposeError
    >>> issubclass(QueueFullError, WasmposeError), issubclass(ArenaFullError, WasmposeError)
    (True, True)
    """


class QueueFullError(WasmposeError):
    """A batcher's queue is at capacity; the request was not accepted.

    Raised at once by :meth:`~wasmpose.parallel.DynamicBatcher.submit` when
    ``max_queue_size`` requests wait (the request is counted in ``stats().rejected``).

    Examples
    --------
    >>> from wasmpose.parallel import DynamicBatcher
    >>> b = DynamicBatcher(lambda xs: xs, max_batch_size=2, max_queue_size=1,
    ...                    max_wait_ms=60_000)
    >>> first = b.submit(1)       # waits for a second request or the minute to pass
    >>> b.submit(2)
    Traceback (most recent call last):
    ...
    wasmpose.errors.QueueFullError: ...
    >>> b.close(drain=False)
    """


class BatchTimeoutError(WasmposeError, TimeoutError):
    """A request was not answered within its timeout.

    Also a :class:`TimeoutError`. Set by a batcher with ``timeout_ms`` on the request's future.

    Examples
    --------
    >>> import time
    >>> from wasmpose.parallel import DynamicBatcher
    >>> slow = lambda xs: time.sleep(0.5) or xs
    >>> with DynamicBatcher(slow, max_wait_ms=0, timeout_ms=20) as b:
    ...     error = b.submit(1).exception(timeout=10)
    >>> type(error).__name__, isinstance(error, TimeoutError)
    ('BatchTimeoutError', True)
    """


class BatchProcessingError(WasmposeError):
    """``process_batch`` raised or returned a result of the wrong length.

    Every request of that batch (and only those) fails with it; ``__cause__`` is the original
    exception (a ``ValueError`` or ``TypeError`` describing a bad result).

    Examples
    --------
    >>> from wasmpose.parallel import DynamicBatcher
    >>> with DynamicBatcher(lambda xs: [1 / x for x in xs], max_wait_ms=0) as b:
    ...     error = b.submit(0).exception(timeout=10)
    >>> type(error).__name__, type(error.__cause__).__name__
    ('BatchProcessingError', 'ZeroDivisionError')
    """


class ArenaFullError(WasmposeError, MemoryError):
    """An :class:`~wasmpose.memory.Arena` has no room left for an allocation.

    Also a :class:`MemoryError`; the arena is unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from wasmpose.memory import Arena
    >>> Arena(1024).alloc((64, 64), np.float32)
    Traceback (most recent call last):
    ...
    wasmpose.errors.ArenaFullError: ...
    """
