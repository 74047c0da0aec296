"""Opening a file that may have been swapped, and reading its bytes at an offset, whole.

A single ``pread`` may return fewer bytes than asked before the end of the file (FUSE file
systems with ``direct_io``, network mounts); Windows has no ``pread`` at all.
"""

from __future__ import annotations

import errno
import os
import stat

PEEK = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)
"""Open flags for reading whatever holds a name now, without waiting or following it: a
FIFO put there would block a plain open until a writer came, and a link is not followed.
(Python opens every descriptor close-on-exec.)"""


def open_regular(path: str | os.PathLike[str], *, follow: bool = False) -> int:
    """A descriptor of ``path`` opened with `PEEK`, if it is a regular file; a FIFO, folder,
    device or link put there since the scan is an OSError, never a wait. ``follow``: a
    symbolic link is followed to the regular file it names."""
    fd = os.open(path, PEEK & ~getattr(os, "O_NOFOLLOW", 0) if follow else PEEK)
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
    return fd


def read_regular(path: str | os.PathLike[str], *, follow: bool = False) -> bytes:
    """The bytes of the regular file at ``path`` (`open_regular`), whole: what names it
    cannot hang the reader (a FIFO) or lead it to anything but a file."""
    fd = open_regular(path, follow=follow)
    try:
        parts: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
    finally:
        os.close(fd)
    return b"".join(parts)


def read_range(fd: int, offset: int, size: int) -> bytes:
    """``size`` bytes of ``fd`` from ``offset``, fewer only where the file ends."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = _read_once(fd, offset + got, size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_once(fd: int, offset: int, size: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, size)  # pragma: no cover - Windows


class ByPosition:
    """``tell`` and ``seek`` of a read-only file-like object whose ``read`` reads at
    ``_pos``; a subclass gives ``_end``, the size a seek from the end counts from."""

    __slots__ = ("_pos",)
    _pos: int

    def _end(self) -> int:
        raise NotImplementedError

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._end() + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = pos
        return pos
