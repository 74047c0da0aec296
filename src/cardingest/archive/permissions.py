"""Files and folders of an archive that other accounts can read, and tightening them.

cardingest creates everything private (`storage.modes`); an archive made by an older version
or copied in by hand may not be. ``verify`` reports what accounts other than the owner can
read, write or enter: other accounts, any group that is not the configured ``archive_group``,
and a group that may write (`modes.too_open`); ``verify --fix-permissions`` removes those
bits, and only those (the owner keeps all, the ``archive_group`` its read access).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..storage.modes import account_name, exposure, has_acl, too_open


@dataclass(frozen=True)
class Exposed:
    """One file or folder others can use. ``path`` is relative to the archive (``.`` for the
    archive folder itself) or absolute for a backup copy."""

    path: str
    mode: int
    gid: int
    acl: bool = False
    """It has an access control list (`modes.has_acl`)."""

    @property
    def detail(self) -> str:
        what = "folder" if stat.S_ISDIR(self.mode) else "file"
        said = exposure(self.mode, self.gid, self.acl)
        return f"{what} {said} (mode {stat.filemode(self.mode)}{'+' if self.acl else ''})"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _walk(top: Path, avoid: tuple[int, int] | None = None) -> Iterator[Path]:
    """``top`` and everything under it, no link followed, leaving out the folder ``avoid``
    (device, inode) and what it holds."""
    yield top
    for current, dirs, files in os.walk(top):
        dirs.sort()
        if avoid is not None:
            dirs[:] = [name for name in dirs if _identity(Path(current, name)) != avoid]
        for name in [*dirs, *sorted(files)]:
            yield Path(current, name)


def find_exposed(archive: Path, elsewhere: Iterable[Path] = ()) -> list[Exposed]:
    """Everything under ``archive`` (metadata included), and everything under each path of
    ``elsewhere`` (a backup's root, a patient's folder in it, a backup copy), that an account
    other than its owner (and the ``archive_group``'s reading) can read, write or enter.
    Symbolic links are judged by their own mode, never followed; the archive is not looked
    through again inside another root."""
    found: list[Exposed] = []
    places = [(path, path.relative_to(archive).as_posix()) for path in _walk(archive)]
    seen: set[str] = set()
    avoid = _identity(archive)
    for root in elsewhere:
        for path in _walk(root, avoid):
            if str(path) not in seen:
                seen.add(str(path))
                places.append((path, str(path)))
    for path, shown in places:
        try:
            info = os.lstat(path)
        except OSError:
            continue  # gone or unreadable: verify reports the copy itself
        if not stat.S_ISLNK(info.st_mode) and too_open(info.st_mode, info.st_gid):
            found.append(Exposed(shown, info.st_mode, info.st_gid, has_acl(path)))
    return found


def tighten(archive: Path, shown: Iterable[str]) -> tuple[list[str], list[str]]:
    """Remove the access `modes.too_open` finds from each path (as `find_exposed` shows it).

    Returns those closed, looked at again after the change (a file system that keeps no
    Unix modes, exFAT, FAT, some shares, takes the ``chmod`` and leaves the file as open as
    it was), and those refused for want of permission, each with why: only its owner (or
    root) may change its mode, so the rest are still closed, and their change recorded.
    Raises OSError on any other failure."""
    changed: list[str] = []
    refused: list[str] = []
    for item in shown:
        path = Path(item) if os.path.isabs(item) else archive / item
        info = os.lstat(path)
        extra = too_open(info.st_mode, info.st_gid)
        if stat.S_ISLNK(info.st_mode) or not extra:
            continue
        try:
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~extra, follow_symlinks=False)
        except PermissionError:
            owner = account_name(info.st_uid)
            refused.append(f"{item}: owned by {owner}, so only that account or root can")
            continue
        after = os.lstat(path)
        if not too_open(after.st_mode, after.st_gid):
            changed.append(item)
    return changed, refused
