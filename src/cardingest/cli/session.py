"""One way into an archive for every command that changes it (borg's ``with_repository``).

``open_archive`` requires the catalogue (unless the command creates the archive), takes the
archive lock, and reports a stale lock it took over in the same words for every command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..archive.catalogue import require_catalogue
from ..archive.lock import ArchiveLock
from . import output
from .output import escape


@contextmanager
def open_archive(
    archive: Path, purpose: str, *, creates: bool = False, consequence: str = ""
) -> Iterator[ArchiveLock]:
    """Hold ``archive``'s lock for ``purpose`` (the word other runs see in the lock file).

    ``creates``: the command may make a new archive (ingest), so no catalogue is needed yet.
    ``consequence``: what a missing catalogue means for this command, for its message.
    """
    if not creates:
        require_catalogue(archive, consequence)
    with ArchiveLock(archive, purpose) as lock:
        stale = lock.took_over_from
        if stale is not None:
            output.err.print(
                f"Took over a stale lock left by pid {escape(str(stale.get('pid', '?')))} "
                f"on {escape(str(stale.get('host', '?')))}."
            )
        yield lock
