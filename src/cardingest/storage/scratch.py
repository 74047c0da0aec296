"""Private scratch folders in the system's temporary folder, for copies of patient records.

A read-only archive's catalogue is read from a copy, and a torn audit log is checked in
one: patient IDs, card paths and diagnoses, on the system disk rather than in the archive
(which may be encrypted). Each folder is the owner's alone (``mkdtemp``: 0700) and named
after its process, so a run that was killed (kill -9, a power cut) leaves it behind only
until the next run sweeps it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..host import host_name
from .modes import swappable_in


def _host() -> str:
    """This machine's name, as it may stand in a folder name (a shared temporary folder, on
    NFS say, is swept only of this machine's dead runs: another's pids mean nothing here)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", host_name()) or "host"


def private_parent() -> str:
    """The temporary folder, once it is seen that no other account can take a folder made
    in it: it is this account's or root's, and one others may write in has the sticky bit
    (``/tmp``). Otherwise the folder's owner, or anyone who may write there, could rename
    the new folder and put one of theirs at its name, into which the catalogue's copy would
    then be written (a trial's TMPDIR, another account's and open, did so).
    UsageError (exit 2) if not."""
    from ..errors import UsageError

    root = os.path.realpath(tempfile.gettempdir())
    if os.name != "posix":
        return root
    for folder in (root, *map(str, Path(root).parents)):  # a folder above could swap it too
        try:
            info = os.stat(folder)
        except OSError as exc:
            raise UsageError(
                f"The temporary folder {root} (TMPDIR) cannot be used: {exc.strerror or exc}"
            ) from None
        why = swappable_in(info)
        if why is None:
            continue
        where = "" if folder == root else f": the folder {folder} above it"
        raise UsageError(
            f"The temporary folder {root} (TMPDIR){where} {why}: a copy of the patient "
            "records made there could be taken by another account. Set TMPDIR to a folder "
            "of this account's own (or leave it unset for /tmp); nothing was changed"
        )
    return root


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A new folder ``{prefix}{host}-{pid}-…`` in the temporary folder (`private_parent`),
    removed on the way out; first, this machine's of this prefix whose process is gone are
    removed."""
    parent = private_parent()
    sweep(prefix)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{_host()}-{os.getpid()}-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(prefix: str) -> list[Path]:
    """Remove this account's ``{prefix}{host}-{pid}-…`` folders of this machine whose
    process is gone."""
    import psutil  # lazily, as the archive lock does: only a read-only archive sweeps

    named = re.compile(rf"{re.escape(prefix)}{re.escape(_host())}-(\d{{1,9}})-")
    swept: list[Path] = []
    root = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            found = named.match(entry.name)
            if found is None or not entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                    continue
                if psutil.pid_exists(int(found.group(1))):
                    continue
                shutil.rmtree(entry.path)
                swept.append(Path(entry.path))
    return swept
