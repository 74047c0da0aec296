"""Where a fusefat mount reads its volume from.

fusefat names no device in ``/proc/mounts`` (the device field is the word ``fusefat``), so
the volume's label and serial cannot be read from there. The driver's own command line names
the image or device it serves: ``fusefat [-f] [-s] [-o OPTS] SOURCE MOUNTPOINT``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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


def _fusefat_processes() -> Iterator[tuple[list[str], str, list[str]]]:
    """(command line, working folder, open files) of each running fusefat (Linux ``/proc``;
    fusefat is a Linux driver). Processes that end meanwhile or cannot be read are passed
    over."""
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
            yield cmdline, os.readlink(f"/proc/{pid}/cwd"), _open_files(pid)
        except OSError:
            continue


def _open_files(pid: str) -> list[str]:
    """The paths a process holds open (its image, once mounted: the one way to find a
    relative image's folder after fusefat moved to ``/``); none if they cannot be read."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    found = []
    for fd in fds:
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return found


def fusefat_source(mountpoint: str) -> str | None:
    """The image or device file a running fusefat serves at ``mountpoint``, if found.

    Relative paths are read from where the mount is (`_started_in`), so another fusefat run
    as ``fusefat other.img mnt`` in another folder could seem to serve it too: only a file
    that is there counts, and two such candidates are no answer (the label falls back to the
    mount folder's name rather than another card's)."""
    target = os.path.realpath(mountpoint)
    found: set[str] = set()
    for cmdline, cwd, open_files in _fusefat_processes():
        args = _positional(cmdline)
        if len(args) < 2:
            continue
        for start in (cwd, _started_in(args[-1], target)):
            if start is not None and os.path.realpath(os.path.join(start, args[-1])) == target:
                source = os.path.join(start, args[-2])
                if os.path.exists(source):
                    found.add(os.path.realpath(source))
                elif os.path.isabs(args[-1]):  # surely this mount: its image is held open
                    found.update(_held_open(args[-2], open_files))
    return found.pop() if len(found) == 1 else None


def _held_open(source_arg: str, open_files: list[str]) -> list[str]:
    """The open files that are the relative ``source_arg`` wherever it was started: those
    whose path ends with it (``card.img`` or ``cards/card.img``) and still exist."""
    tail = os.sep + os.path.normpath(source_arg)
    return [os.path.realpath(p) for p in open_files if p.endswith(tail) and os.path.exists(p)]


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
