"""Below an archive's root, cardingest follows no symbolic link and enters no other mount.

The root itself may be a link (``/srv/archive`` to a mounted disk) or a mount point. Below
it, a link in place of a copy is not a copy, and a link or a mount (a bind mount, a tmpfs)
in place of a patient's folder can lead anywhere, the card or memory included: a copy
written or checked there may lie on the card it is to replace, and the wipe would then
remove the only one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path


def leaves_root(root: Path, parts: Sequence[str]) -> tuple[Path, str] | None:
    """The first of ``root/parts[0]``, ``root/parts[0]/parts[1]``, ... that is a symbolic
    link or on another file system than ``root``, with what it is. The walk ends at the
    first one that cannot be looked at (missing): there is nothing below it to follow."""
    try:
        device = os.stat(root).st_dev
    except OSError:
        return None
    path = os.fspath(root)
    for part in parts:
        path = os.path.join(path, part)
        try:
            info = os.lstat(path)
        except OSError:
            return None
        if stat.S_ISLNK(info.st_mode):
            return Path(path), "is a symbolic link"
        if info.st_dev != device:
            return Path(path), "is another file system mounted in the archive"
    return None


def blocked(root: Path, parts: Sequence[str], what: str = "archive") -> str | None:
    """What stands in the way of filing below ``root/parts[0]/parts[1]/...``: one of them a
    link or another mount (`leaves_root`), or there but not a folder (a file where a
    patient's folder goes); None if nothing does. ``what``: the root is the "archive" or
    the "backup"."""
    left = leaves_root(root, parts)
    if left is not None:
        return f"{left[0]} {left[1]}, not a folder of the {what}"
    path = Path(root)
    for part in parts:
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return None
        if not stat.S_ISDIR(mode):
            return f"{path} is a file, not a folder"
    return None
