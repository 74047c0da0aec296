"""The mount table: each mounted file system's device, mount point, type and options.

On Linux it is read from ``/proc/self/mounts``, where psutil reads it too: importing psutil
and what it brings (socket, platform, ipaddress) cost about 20 ms, a tenth of a preview of
3,000 photos. Elsewhere (macOS, Windows) psutil lists the mounts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

PROC_MOUNTS = "/proc/self/mounts"
PROC_MOUNTINFO = "/proc/self/mountinfo"
_ESCAPED = re.compile(rb"\\([0-3][0-7]{2})")
_Entry = TypeVar("_Entry")


@dataclass(frozen=True, slots=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    opts: str


def mounted_read_only(path: os.PathLike[str] | str) -> bool:
    """Whether ``path`` lies on a file system mounted read-only (a write-protected card or
    drive, a read-only bind mount): no account may write there, root included. False where
    it cannot be told (no ``statvfs``, or the path gone)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def mounts() -> list[Mount]:
    """Every mount, in the table's order. Raises OSError when the table cannot be read."""
    try:
        with open(PROC_MOUNTS, "rb") as handle:
            table = handle.read()
    except FileNotFoundError:
        return _from_psutil()
    return parse_mounts(table)


def mounted_below(root: os.PathLike[str] | str) -> list[str]:
    """The mount points strictly inside ``root`` (after its links are resolved): a bind
    mount, a tmpfs or another disk in place of one of its folders. Empty if the table
    cannot be read."""
    inside = os.path.realpath(root).rstrip(os.sep) + os.sep
    try:
        table = mounts()
    except OSError:
        return []
    return [mount.mountpoint for mount in table if mount.mountpoint.startswith(inside)]


FSTAB = "/etc/fstab"


def not_mounted(path: os.PathLike[str] | str) -> str | None:
    """The folder on the way to ``path`` (links resolved) where ``/etc/fstab`` mounts a file
    system, with none mounted there now: a NAS or USB disk not mounted, whose empty mount
    point lies on the system disk, where a new archive or backup would go unnoticed. The
    walk up from ``path`` ends at the first folder something is mounted at (a disk in a
    folder below another fstab line's, unmounted, ``/mnt/nas`` under ``/mnt``, is there).
    None where either table cannot be read."""
    try:
        with open(FSTAB, "rb") as handle:
            lines = [line for line in handle.read().splitlines() if line.lstrip()[:1] != b"#"]
        now = {mount.mountpoint for mount in mounts()}
    except OSError:
        return None
    listed = {
        os.path.realpath(mount.mountpoint)  # `/mnt` a link to `/var/mnt`; `//srv` is `/srv`
        for mount in parse_mounts(b"\n".join(lines), least=3)  # fstab's options may be left out
        if mount.mountpoint.startswith("/") and mount.fstype != "swap"
    }
    probe = os.path.realpath(path)
    while True:
        if probe in now:
            return None
        if probe in listed:
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent


def locations(*paths: os.PathLike[str] | str) -> list[tuple[str, str] | None]:
    """Where each path (links resolved) lies in its file system, whatever mount reaches it:
    the file system's device (``major:minor``) and the path from that file system's own root.
    A bind mount of a folder shows that folder's place here, where its inode up the tree
    does not. The mount is the one the kernel reaches the path by (`_mount_id`), where it
    can say; else the one `holding` finds in the table. None where it cannot be told (no
    ``/proc/self/mountinfo``); the table is read once for all of them."""
    try:
        with open(PROC_MOUNTINFO, "rb") as handle:
            table = handle.read()
    except OSError:
        return [None for _ in paths]
    mounts: list[tuple[str, str, str]] = []  # mount point, device, root
    by_id: dict[bytes, tuple[str, str, str]] = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 5:
            mount = (_unescaped(fields[4]), os.fsdecode(fields[2]), _unescaped(fields[3]))
            mounts.append(mount)
            by_id[fields[0]] = mount
    return [_located(os.path.realpath(path), mounts, by_id) for path in paths]


def holding(real: str, table: Sequence[_Entry], point: Callable[[_Entry], str]) -> _Entry | None:
    """The entry of ``table`` (in the table's order) whose mount point, ``point(entry)``,
    holds the resolved path ``real`` and is in view: the last of those in the table. The
    kernel adds each mount at the table's end, and one mounted at a folder holding an
    earlier mount point, or at that point itself, hides the earlier one (a bind mount over
    ``/mnt/x`` hides what was mounted at ``/mnt/x/y``), so the deepest is not always it."""
    found: _Entry | None = None
    for entry in table:
        if _holds(point(entry), real):
            found = entry
    return found


def _holds(mountpoint: str, real: str) -> bool:
    return real == mountpoint or real.startswith(mountpoint.rstrip(os.sep) + os.sep)


PROC_FDINFO = "/proc/self/fdinfo"


def _mount_id(real: str) -> bytes | None:
    """The id (as mountinfo's first field writes it) of the mount the kernel reaches
    ``real``, or the nearest folder above it that exists, by: ``mnt_id`` of a descriptor of
    it in ``/proc/self/fdinfo``. None where it cannot be told."""
    probe = real
    while True:
        try:
            fd = os.open(probe, getattr(os, "O_PATH", os.O_RDONLY) | os.O_CLOEXEC)
            break
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(probe)
            if parent == probe:
                return None
            probe = parent
        except OSError:
            return None
    try:
        with open(f"{PROC_FDINFO}/{fd}", "rb") as handle:
            for line in handle:
                if line.startswith(b"mnt_id:"):
                    return line.split()[1]
    except (OSError, IndexError):
        return None
    finally:
        os.close(fd)
    return None


def _located(
    real: str,
    mounts: list[tuple[str, str, str]],
    by_id: dict[bytes, tuple[str, str, str]] | None = None,
) -> tuple[str, str] | None:
    seen = by_id.get(_mount_id(real) or b"") if by_id else None
    if seen is not None and _holds(seen[0], real):
        found: tuple[str, str, str] | None = seen
    else:
        found = holding(real, mounts, lambda mount: mount[0])
    if found is None:
        return None
    mountpoint, device, root = found
    below = os.path.relpath(real, mountpoint)
    return device, os.path.normpath(os.path.join(root, below) if below != "." else root)


def parse_mounts(table: bytes, least: int = 4) -> list[Mount]:
    """The lines of a ``/proc/self/mounts``: fields split at blanks, in which the kernel
    writes a space, tab, newline or backslash as ``\\040``, ``\\011``, ``\\012``, ``\\134``;
    device ``none`` is no device, as psutil has it. Lines of fewer than ``least`` fields are
    passed over; an options field left out (fstab allows it) is ``defaults``."""
    found: list[Mount] = []
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < least:
            continue
        fields = [*fields[:3], *(fields[3:4] or [b"defaults"])]
        device, mountpoint, fstype, opts = (_unescaped(field) for field in fields)
        found.append(Mount("" if device == "none" else device, mountpoint, fstype, opts))
    return found


def _unescaped(field: bytes) -> str:
    return os.fsdecode(_ESCAPED.sub(lambda octal: bytes([int(octal[1], 8)]), field))


def _from_psutil() -> list[Mount]:  # pragma: no cover - systems without /proc
    import psutil

    return [Mount(p.device, p.mountpoint, p.fstype, p.opts) for p in psutil.disk_partitions(True)]
