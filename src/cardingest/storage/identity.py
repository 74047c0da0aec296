"""Whether one folder lies inside another by identity (device and inode), not by its path.

A bind mount, a second mount of the same share or a symlinked parent gives one folder two
paths that no string or ``resolve()`` comparison sees as the same. Walking up from a path and
comparing each folder's ``(st_dev, st_ino)`` with the other folder's does.
"""

from __future__ import annotations

import os
from pathlib import Path


def file_id(path: Path) -> tuple[int, int] | None:
    """``path``'s device and inode (links followed): the same file, whatever path reaches
    it; None if it cannot be looked at."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def same_file(fd: int, path: Path, *, follow_links: bool = True) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (another process may have
    removed or replaced it since); a link at ``path`` is itself compared unless
    ``follow_links``."""
    try:
        on_disk = os.stat(path) if follow_links else os.lstat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its closest existing parent (a new archive)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def inside_by_identity(path: Path, folder: Path) -> bool:
    """Whether ``path`` (or, if it does not exist yet, where it would be made) is ``folder``
    or lies below it, judged by device and inode of every folder up the tree."""
    target = file_id(folder)
    if target is None:
        return False
    current = _nearest_existing(path)
    while True:
        if file_id(current) == target:
            return True
        if current.parent == current:
            return False
        current = current.parent


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it: by path (links resolved), and by
    identity (a bind mount or a second path to the same folder)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return inside_by_identity(path, folder)
    return True
