"""Whether a path is there, with a failing disk said so rather than taken for "not there".

``Path.exists()``, ``is_dir()``, ``is_file()`` and ``is_symlink()`` answered False on Python
3.11 to 3.13 only when the path was missing (ENOENT, ENOTDIR, EBADF, ELOOP) and raised every
other OSError: the EIO or ENOTCONN of a pulled card (a dead FUSE mount) or of an unplugged
archive drive. From Python 3.14 they are ``os.path.exists()`` and the like, which answer
False for *any* OSError, so a pulled card would be "not found" and an archive whose disk
failed could look new, a photo on it gone. These functions keep the 3.11 answer on every
Python: False for a path that is not there, the OSError for one that cannot be looked at.
``src`` calls them in place of the ``Path`` methods (`tests/test_ondisk.py` checks that no
``Path`` method is left). ``os.path``'s own functions, which never raised, are left as they
are where a failure may be taken as absence.
"""

from __future__ import annotations

import errno
import os
import stat

ABSENT_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})
"""errno of a path that is not there (pathlib's own list before Python 3.14)."""


def _mode(path: str | os.PathLike[str], *, follow_symlinks: bool) -> int | None:
    """The file's mode, or None when it is not there; any other OSError is raised."""
    try:
        return os.stat(path, follow_symlinks=follow_symlinks).st_mode
    except OSError as exc:
        if exc.errno in ABSENT_ERRNOS:
            return None
        raise
    except ValueError:  # a NUL in the path, or one the file system cannot encode
        return None


def exists(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> bool:
    """``Path.exists()`` as on Python 3.11: an EIO or ENOTCONN is raised, not False."""
    return _mode(path, follow_symlinks=follow_symlinks) is not None


def is_dir(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> bool:
    """``Path.is_dir()`` as on Python 3.11: an EIO or ENOTCONN is raised, not False."""
    mode = _mode(path, follow_symlinks=follow_symlinks)
    return mode is not None and stat.S_ISDIR(mode)


def is_file(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> bool:
    """``Path.is_file()`` as on Python 3.11: an EIO or ENOTCONN is raised, not False."""
    mode = _mode(path, follow_symlinks=follow_symlinks)
    return mode is not None and stat.S_ISREG(mode)


def is_symlink(path: str | os.PathLike[str]) -> bool:
    """``Path.is_symlink()`` as on Python 3.11: an EIO or ENOTCONN is raised, not False."""
    mode = _mode(path, follow_symlinks=False)
    return mode is not None and stat.S_ISLNK(mode)
