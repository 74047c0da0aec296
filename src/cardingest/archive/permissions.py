"""Files and folders of an archive that other accounts can read, and tightening them.

cardingest creates everything private (`storage.modes`); an archive made by an older version
or copied in by hand may not be. ``verify`` reports what accounts other than the owner can
read, write or enter: other accounts, any group that is not the configured ``archive_group``,
a group that may write, and accounts or groups an access control list names
(`modes.too_open_at`), and a folder's default list that names others (`modes.has_acl`).
``verify --fix-permissions`` removes those bits and list entries, and only those (the owner
keeps all, the ``archive_group`` its read access).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..storage import ondisk
from ..storage.modes import (
    ACL_DEFAULT,
    DEFAULT_ACL_OPENS,
    account_name,
    exposure,
    extended_acl,
    has_acl,
    open_beneath,
    open_to_others,
    take_access,
    too_open_at,
)


@dataclass(frozen=True)
class Exposed:
    """One file or folder others can use. ``path`` is relative to the archive (``.`` for the
    archive folder itself) or absolute for a backup copy."""

    path: str
    mode: int
    gid: int
    acl: bool = False
    """It has an access control list beyond its mode (`modes.extended_acl`)."""
    default_acl: bool = False
    """Its default access control list names others (`modes.has_acl`)."""
    bits: int | None = None
    """What it gives others (`modes.too_open_at`); None: as its mode says (`too_open`)."""

    @property
    def detail(self) -> str:
        what = "folder" if stat.S_ISDIR(self.mode) else "file"
        said = exposure(self.mode, self.gid, self.acl, self.bits)
        if self.default_acl:
            said = f"{said}; its {DEFAULT_ACL_OPENS}" if said else f"whose {DEFAULT_ACL_OPENS}"
        plus = "+" if self.acl or self.default_acl else ""
        return f"{what} {said} (mode {stat.filemode(self.mode)}{plus})"


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
    elsewhere = list(elsewhere)
    found: list[Exposed] = []
    places = [(path, path.relative_to(archive).as_posix()) for path in _walk(archive)]
    seen: set[str] = set()
    avoid = _identity(archive)
    for root in elsewhere:
        for path in _walk(root, avoid):
            if str(path) not in seen:
                seen.add(str(path))
                places.append((path, str(path)))
    tops = {archive, *elsewhere}  # an archive on a mounted disk may be named by a link
    for path, shown in places:
        try:
            info = os.stat(path) if path in tops else os.lstat(path)
        except OSError:
            continue  # gone or unreadable: verify reports the copy itself
        if stat.S_ISLNK(info.st_mode):
            continue
        at = os.path.realpath(path) if path in tops else path  # an archive on a mounted disk
        extra, default = too_open_at(at, info), has_acl(at, ACL_DEFAULT)
        if extra or default:
            found.append(
                Exposed(shown, info.st_mode, info.st_gid, extended_acl(at), default, extra)
            )
    return found


def tighten(
    archive: Path, shown: Iterable[str], walked: Iterable[Path] = ()
) -> tuple[list[str], list[str]]:
    """Remove the access `modes.too_open_at` finds from each path (as `find_exposed` shows
    it), and a folder's default list's entries `modes.has_acl` counts.
    A backup's path (absolute) is reached from the folder of ``walked`` (what `find_exposed`
    was given besides the archive) that holds it, with no link followed below that folder:
    another account that may write in a backup must not, by putting a link in place of a
    patient's folder, have root close a system file instead.

    Returns those closed, looked at again after the change (a file system that keeps no
    Unix modes, exFAT, FAT, some shares, takes the ``chmod`` and leaves the file as open as
    it was), and those it could not change, each with why (only its owner or root may
    change its mode; a folder on its way became a link), so the rest are still closed,
    and their change recorded."""
    changed: list[str] = []
    refused: list[str] = []
    tops = sorted({Path(top) for top in walked}, key=lambda top: len(top.parts))
    for item in shown:
        path = Path(item)
        root, parts = _beneath(path, tops) if path.is_absolute() else (archive, path.parts)
        try:
            closed = _tighten_beneath(root, list(parts))
        except _NotOwner as exc:
            owner = "root" if exc.uid == 0 else account_name(exc.uid)
            refused.append(f"{item}: owned by {owner}, so only {_who_may(owner)} can")
            continue
        except OSError as exc:
            why = (
                "it is immutable (`lsattr` shows an i), or its file system refuses the change"
                if exc.errno == errno.EPERM
                else "a folder on its way is a link now, or it is gone: not followed, nothing "
                "outside the archive is changed"
            )
            refused.append(f"{item}: {exc.strerror or exc} ({why})")
            continue
        if closed:
            changed.append(item)
    return changed, refused


def _beneath(path: Path, tops: list[Path]) -> tuple[Path, Sequence[str]]:
    """The folder of ``tops`` (shallowest first: a backup's root before a patient's folder in
    it) holding ``path`` and the way down from it; a path none holds, or a file given alone
    (a lone backup copy), from its own folder."""
    for top in tops:
        if path != top and path.is_relative_to(top):
            return top, path.relative_to(top).parts
        if path == top and ondisk.is_dir(top):
            return top, ()
    return path.parent, (path.name,)


class _NotOwner(Exception):
    """Only the owner (``uid``) or root may change the mode of this file or folder."""

    def __init__(self, uid: int) -> None:
        super().__init__(uid)
        self.uid = uid


def _who_may(owner: str) -> str:
    return "root" if owner == "root" else "that account or root"


def _tighten_beneath(root: Path, parts: list[str]) -> bool:
    """Take `too_open`'s access and the access control lists' entries `has_acl` counts from
    ``root/parts…``, reached one folder at a time with no link followed below ``root`` (a
    folder another account swaps for a link meanwhile is an OSError, never a way to a file
    outside); whether it is closed after. `_NotOwner` where only its owner may change it."""
    fd = open_beneath(root, parts[:-1])
    try:
        name = parts[-1] if parts else "."
        here = f"/proc/self/fd/{fd}/{name}"  # the xattr calls take no dir_fd
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            return False
        if not open_to_others(here, info):
            return False

        def chmod(mode: int) -> None:
            try:
                os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)
            except (ValueError, NotImplementedError):  # Python's word for a link here
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None

        try:
            take_access(here, chmod)
        except PermissionError:
            if info.st_uid == os.geteuid():
                raise  # its owner refused: immutable, or the file system's refusal
            raise _NotOwner(info.st_uid) from None
        after = os.stat(name, dir_fd=fd, follow_symlinks=False)
        return not open_to_others(here, after)
    finally:
        os.close(fd)
