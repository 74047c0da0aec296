"""Writes that survive a crash: folder fsync and atomic replacement of small files."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

TEMP_PREFIX = ".cardingest-tmp-"
"""Every temporary file cardingest writes starts with this; a dead run's are swept away."""
_NO_DIR_FSYNC = frozenset(
    {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF}
)


def fsync_dir(folder: Path) -> None:
    """Make a rename or create in ``folder`` durable, where the platform allows it."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        if os.name == "nt":
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_FSYNC:
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old file or the new, never half.

    Writes a temporary file in the same folder, fsyncs it, renames it over ``path`` and
    fsyncs the folder. The temporary has the ``TEMP_PREFIX`` name, so one left by a process
    killed mid-write (no ``except`` runs) is removed by the next ingest's stale-temp sweep.
    """
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
