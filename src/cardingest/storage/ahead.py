"""Reads started on helper threads, so the disk works while the CPU hashes.

An O_DIRECT read bypasses the kernel's read-ahead: read, hash, read, hash leaves the disk
idle during every hash and has one request in flight at a time. `read_at` starts the next
chunk's read on a helper thread before the current one is hashed.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

HELPERS = 16
"""Threads shared by every reader: each task is one read, none waits for another, so fewer
threads only mean less overlap, never a deadlock."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _helpers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=HELPERS, thread_name_prefix="cardingest-read")
        return _pool


def _forget_in_child() -> None:
    """A forked child has the pool but none of its threads: it makes its own."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def read_at(fd: int, buffer: memoryview, offset: int) -> Future[int]:
    """``os.preadv(fd, [buffer], offset)`` on a helper thread; the future holds its count."""
    return _helpers().submit(os.preadv, fd, [buffer], offset)
