"""Hints to the kernel's page cache: read ahead, write behind, forget.

Every hint is best effort. Where ``posix_fadvise`` does not exist (macOS, Windows) or a
filesystem refuses it, nothing happens and the caller works as before, only slower. None of
them is relied on for correctness: fsync proves durability, and a read-back after `drop`
is a read from the disk only where the hint is honoured (see the README's platform notes).
"""

from __future__ import annotations

import contextlib
import os

_FADVISE = getattr(os, "posix_fadvise", None)


def _advise(fd: int, advice: str, offset: int = 0, length: int = 0) -> None:
    if _FADVISE is None:
        return
    with contextlib.suppress(AttributeError, OSError):
        _FADVISE(fd, offset, length, getattr(os, advice))


def drop(fd: int) -> None:
    """Forget the file's clean cached pages, so the next read of them comes from the disk."""
    _advise(fd, "POSIX_FADV_DONTNEED")


def sequential(fd: int) -> None:
    """The file will be read from start to end: a larger read-ahead window."""
    _advise(fd, "POSIX_FADV_SEQUENTIAL")


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing just-written bytes to the disk now, without waiting for them.

    On Linux, POSIX_FADV_DONTNEED on dirty pages queues their writeback, so the disk works
    while the card is still being read and the later fsync only waits for the tail.
    """
    _advise(fd, "POSIX_FADV_DONTNEED", offset, length)


def will_need(fd: int, length: int = 0) -> None:
    """Ask for the file's first ``length`` bytes (0: all of it) to be read in the background."""
    _advise(fd, "POSIX_FADV_WILLNEED", 0, length)


def prefetch(path: str | os.PathLike[str], length: int = 0) -> None:
    """:func:`will_need` for a file not yet open: the copy asks a few files ahead of the one
    it reads, so a card is read with many requests in flight rather than one at a time.
    O_NONBLOCK: a FIFO swapped in for a photo must not hang the open.
    """
    if _FADVISE is None:
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            will_need(fd, length)
        finally:
            os.close(fd)
