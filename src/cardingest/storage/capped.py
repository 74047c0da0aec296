"""Reading a small input file (an ID map, a config) with a size cap that holds for anything.

``stat().st_size`` says nothing about ``/dev/zero``, a FIFO or a process substitution
(``--map <(…)``): they report 0 and never end. The cap is applied while reading instead.

Nor is the file waited for: it is opened with O_NONBLOCK, so a named pipe that nothing
writes to (``mkfifo map.csv``) is refused at once rather than blocking ``open`` for ever,
and only then read as usual. A pipe with its writer (``--map <(…)``, ``--map /dev/stdin``)
is read to its end, however long the writer takes.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_CHUNK = 64 * 1024
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # none on Windows, which has no FIFO to wait on

NO_WRITER = (
    "not a regular file but a named pipe (FIFO), and nothing is writing to it; give a "
    "regular file (or start what writes to the pipe first)"
)


def read_capped(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None as soon as it proves longer than ``limit`` bytes.

    Reads at most ``limit + 1`` bytes whatever the file is. Raises OSError as ``open`` does,
    IsADirectoryError for a folder, and OSError (`NO_WRITER`) for a pipe that has no writer
    and nothing in it.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        parts: list[bytes] = []
        if stat.S_ISFIFO(mode):
            parts.append(_first_of_pipe(fd, path, limit + 1))
        if _NONBLOCK:
            os.set_blocking(fd, True)  # from here a pipe's writer is waited for, as before
        total = sum(map(len, parts))
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            total += len(chunk)
        return None
    finally:
        os.close(fd)


def _first_of_pipe(fd: int, path: Path, size: int) -> bytes:
    """What a pipe opened without waiting holds now: nothing yet if its writer is still at
    work (read on, waiting for it, as for any pipe). End of file at once means no writer
    and nothing written (Linux and the BSDs answer so, and a pipe whose writer wrote nothing
    is no map either): `NO_WRITER`."""
    try:
        first = os.read(fd, min(_CHUNK, size))
    except BlockingIOError:
        return b""
    if not first:
        raise OSError(errno.ENXIO, NO_WRITER, str(path))
    return first
