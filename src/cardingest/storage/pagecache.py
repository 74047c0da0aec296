"""Hints to the kernel's page cache: read ahead, write behind, forget.

Every hint is best effort. Where ``posix_fadvise`` does not exist (macOS, Windows) or a
filesystem refuses it, nothing happens and the caller works as before, only slower. None of
them is relied on for correctness: fsync proves durability, and a read-back after `drop`
is a read from the disk only where the hint is honoured (see the README's platform notes).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable

_FADVISE = getattr(os, "posix_fadvise", None)
_ADVICE = {
    name: getattr(os, name)
    for name in (
        "POSIX_FADV_DONTNEED",
        "POSIX_FADV_SEQUENTIAL",
        "POSIX_FADV_WILLNEED",
    )
    if hasattr(os, name)
}


def _advise(fd: int, advice: str, offset: int = 0, length: int = 0) -> None:
    code = _ADVICE.get(advice)
    if _FADVISE is None or code is None:
        return
    with contextlib.suppress(OSError):
        _FADVISE(fd, offset, length, code)


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


def will_need_tail(fd: int, size: int, length: int, *, beyond: int = 0) -> None:
    """Ask for the last ``length`` bytes of the file (``size`` bytes long) to be read in the
    background, if it is longer than ``beyond`` (bytes already asked for from its start)."""
    if size > beyond:
        _advise(fd, "POSIX_FADV_WILLNEED", max(0, size - length), length)


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


_CACHESTAT = 451
"""cachestat(2)'s number on the architectures in _GENERIC (new system calls share one number
there; alpha and mips add an offset)."""
_GENERIC = frozenset(
    {"x86_64", "i686", "i386", "aarch64", "armv7l", "riscv64", "ppc64le", "s390x", "loongarch64"}
)
_OWN_CACHE = frozenset(
    {
        0xEF53,  # ext2, ext3, ext4
        0x58465342,  # xfs
        0x9123683E,  # btrfs
        0xF2F52010,  # f2fs
        0x4D44,  # vfat, msdos
        0x2011BAB0,  # exfat
    }
)
"""File systems (statfs f_type) whose reads of a file are served from that file's own page
cache or from the disk. Elsewhere a read can come from a cache that cachestat does not count:
overlayfs (the lower file's), FUSE passthrough, NFS and CIFS with fscache, ZFS's ARC."""

_count: Callable[[int], tuple[int, int] | None] | None = None
_counting = sys.platform.startswith("linux") and os.uname().machine in _GENERIC


def can_count() -> bool:
    """Whether `cached` may answer: False once the kernel has said it has no cachestat."""
    return _counting


def cached(fd: int) -> int | None:
    """How many of the file's pages a read could get from memory rather than the disk: its
    pages in the page cache (cachestat(2), Linux 6.5 and later) on a file system in
    _OWN_CACHE. None where that cannot be said: another file system, an older kernel, or a
    refusal (the kernel answers only the file's owner and those who may write it).

    Unlike the hints above, this one is relied on: 0 straight after `drop` means every page
    a read then gets comes from the disk (`transfer.hash_from_disk`). Anything but 0 sends
    the caller back to O_DIRECT.
    """
    counts = _counts(fd)
    return None if counts is None else counts[0]


def unwritten(fd: int) -> int | None:
    """Of the file's cached pages, how many hold bytes not yet written to the disk: dirty,
    or being written. None where `cached` is None."""
    counts = _counts(fd)
    return None if counts is None else counts[1]


def _counts(fd: int) -> tuple[int, int] | None:
    global _count, _counting
    if not _counting:
        return None
    if _count is None:
        _count = _cachestat()
        if _count is None:
            _counting = False
            return None
    return _count(fd)


def _cachestat() -> Callable[[int], tuple[int, int] | None] | None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall, fstatfs = libc.syscall, libc.fstatfs
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
    fstatfs.restype = ctypes.c_int

    class Range(ctypes.Structure):
        _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]  # len 0: to the end

    class Stat(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_uint64)
            for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
        ]

    def own_cache(fd: int) -> bool:
        info = ctypes.create_string_buffer(256)  # struct statfs: f_type (a long) comes first
        if fstatfs(fd, info) != 0:
            return False
        return (ctypes.c_long.from_buffer(info).value & 0xFFFFFFFF) in _OWN_CACHE

    def count(fd: int) -> tuple[int, int] | None:
        global _counting
        if not own_cache(fd):
            return None
        whole, stat = Range(0, 0), Stat()
        number, handle = ctypes.c_long(_CACHESTAT), ctypes.c_uint(fd)
        if syscall(number, handle, ctypes.byref(whole), ctypes.byref(stat), ctypes.c_uint(0)):
            if ctypes.get_errno() == errno.ENOSYS:
                _counting = False
            return None
        return int(stat.cache), int(stat.dirty) + int(stat.writeback)

    return count
