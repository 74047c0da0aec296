"""Whether one folder lies inside another by identity (device and inode), not by its path.

A bind mount, a second mount of the same share or a symlinked parent gives one folder two
paths that no string or ``resolve()`` comparison sees as the same. Walking up from a path and
comparing each folder's ``(st_dev, st_ino)`` with the other folder's does, except where a
folder *inside* the other is bind-mounted elsewhere: walking up from there never meets it.
The mount table's record of where each mount comes from in its file system
(`mounts.locations`) covers that.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import ondisk
from .mounts import locations


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


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its closest existing parent (a new archive)."""
    current = Path(os.path.abspath(path))
    while not ondisk.exists(current) and current.parent != current:
        current = current.parent
    return current


def inside_by_identity(path: Path, folder: Path) -> bool:
    """Whether ``path`` (or, if it does not exist yet, where it would be made) is ``folder``
    or lies below it, judged by device and inode of every folder up the tree."""
    target = file_id(folder)
    if target is None:
        return False
    current = start = nearest_existing(path)
    while True:
        if file_id(current) == target:
            return True
        if current.parent == current:
            return _inside_by_location(start, folder)
        current = current.parent


def _inside_by_location(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` in their file system, by the mount table."""
    here, there = locations(path, folder)
    if here is None or there is None or here[0] != there[0]:
        return False
    return here[1] == there[1] or here[1].startswith(there[1].rstrip("/") + "/")


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it: by path (links resolved), and by
    identity (a bind mount or a second path to the same folder)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return inside_by_identity(path, folder)
    return True
