"""Where a fusefat mount reads its volume from.

fusefat names no device in ``/proc/mounts`` (the device field is the word ``fusefat``), so
the volume's label and serial cannot be read from there. The driver's own command line names
the image or device it serves: ``fusefat [-f] [-s] [-o OPTS] SOURCE MOUNTPOINT``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import NamedTuple

_WITH_VALUE = frozenset({"-o"})


def _positional(cmdline: list[str]) -> list[str]:
    args: list[str] = []
    skip = False
    for arg in cmdline[1:]:
        if skip:
            skip = False
        elif arg in _WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            args.append(arg)
    return args


class _Driver(NamedTuple):
    """One running fusefat: its command line, working folder, and open files (fd, path)."""

    pid: str
    cmdline: list[str]
    cwd: str
    open_files: list[tuple[str, str]]


def _fusefat_processes() -> Iterator[_Driver]:
    """Each running fusefat (Linux ``/proc``; fusefat is a Linux driver). Processes that end
    meanwhile or cannot be read are passed over."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                raw = handle.read()
            cmdline = [os.fsdecode(arg) for arg in raw.split(b"\0") if arg]
            if not cmdline or os.path.basename(cmdline[0]) != "fusefat":
                continue
            yield _Driver(pid, cmdline, os.readlink(f"/proc/{pid}/cwd"), _open_files(pid))
        except OSError:
            continue


def _open_files(pid: str) -> list[tuple[str, str]]:
    """The files a process holds open, as (fd, path) (its image, once mounted: the one way to
    find a relative image's folder after fusefat moved to ``/``); none if unreadable."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    found = []
    for fd in fds:
        try:
            found.append((fd, os.readlink(f"/proc/{pid}/fd/{fd}")))
        except OSError:
            continue
    return found


def fusefat_source(mountpoint: str) -> str | None:
    """A path that opens the image or device a running fusefat serves at ``mountpoint``, if
    found: the file the driver holds open (``/proc/PID/fd/N``), so an image renamed or
    replaced at its path since the mount is not read in its place; else its path.

    fusefat moves to ``/`` once mounted, so relative paths are read from where the mount is
    (`_started_in`; a mount point given as ``../x/mnt`` is known by its tail). Another
    fusefat run as ``fusefat other.img mnt`` in another folder then seems to serve it too:
    a driver whose image is there, read from the mount's place, and is the file it holds,
    is the one; else a lone driver that can be; else there is no answer (the label falls
    back to the mount folder's name and the serial is unknown, rather than another card's)."""
    target = os.path.realpath(mountpoint)
    sure: set[str] = set()
    maybe: set[str] = set()
    for driver in _fusefat_processes():
        args = _positional(driver.cmdline)
        if len(args) < 2 or not _serves(args[-1], driver.cwd, target):
            continue
        held = _held_image(driver)
        there = _image_there(args, driver.cwd, target)
        if there is not None and (held is None or _same_file(there, held)):
            sure.add(held or there)
        elif held is not None:
            maybe.add(held)
        elif os.path.isabs(args[-1]):  # surely this mount: its image is held open
            maybe.update(_held_open(args[-2], driver.open_files))
    found = sure or maybe
    return found.pop() if len(found) == 1 else None


def _starts(cwd: str, mount_arg: str, target: str) -> tuple[str | None, ...]:
    """Where a driver may have been started: its working folder, unless that is ``/``, where
    fusefat moves once it runs in the background; then also where its relative mount point
    argument puts it for ``target``. A driver in the foreground (``-f``) still works where
    it was started, and another folder's ``fusefat card.img mnt`` must not seem to serve
    this ``mnt``."""
    return (cwd,) if cwd != "/" else (cwd, _started_in(mount_arg, target))


def _image_there(args: list[str], cwd: str, target: str) -> str | None:
    """The driver's image argument read from where it was started, if a file is there."""
    for start in _starts(cwd, args[-1], target):
        if start is not None and os.path.exists(os.path.join(start, args[-2])):
            return os.path.realpath(os.path.join(start, args[-2]))
    return None


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def _serves(mount_arg: str, cwd: str, target: str) -> bool:
    """Whether a fusefat given ``mount_arg`` (started in ``cwd``, or elsewhere before it
    moved to ``/``) can be the one mounted at ``target``."""
    for start in _starts(cwd, mount_arg, target):
        if start is not None and os.path.realpath(os.path.join(start, mount_arg)) == target:
            return True
    if cwd != "/":
        return False
    rest = _below_ups(mount_arg)
    return rest != os.path.normpath(mount_arg) and bool(rest) and target.endswith(os.sep + rest)


def _below_ups(relative: str) -> str:
    """A relative path without its leading ``..`` parts: ``../f2/m2`` is ``f2/m2``."""
    parts = os.path.normpath(relative).split(os.sep)
    while parts and parts[0] == "..":
        parts.pop(0)
    return os.sep.join(parts)


def _held_image(driver: _Driver) -> str | None:
    """The one image or block device the driver holds open past its standard streams (its
    output may go to a log file), as a path that opens that very file."""
    held = []
    for fd, _path in driver.open_files:
        if not fd.isdigit() or int(fd) < 3:
            continue
        opened = f"/proc/{driver.pid}/fd/{fd}"
        try:
            mode = os.stat(opened).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
            held.append(opened)
    return held[0] if len(held) == 1 else None


def _held_open(source_arg: str, open_files: list[tuple[str, str]]) -> list[str]:
    """The open files that are the relative ``source_arg`` wherever it was started: those
    whose path ends with it (``card.img`` or ``cards/card.img``) and still exist."""
    tail = os.sep + _below_ups(source_arg)
    return [os.path.realpath(p) for _, p in open_files if p.endswith(tail) and os.path.exists(p)]


def _started_in(mount_arg: str, target: str) -> str | None:
    """The folder fusefat was started in, from a relative mount point argument: fusefat
    changes its working folder to ``/`` once mounted, so ``fusefat card.img mnt`` run in
    ``/home/x`` shows ``/`` as its folder and ``mnt`` as its mount point at ``/home/x/mnt``."""
    if os.path.isabs(mount_arg):
        return None
    relative = os.path.normpath(mount_arg)
    if relative.startswith(".."):
        return None
    if relative == ".":
        return target
    tail = os.sep + relative
    return target[: -len(tail)] or os.sep if target.endswith(tail) else None
