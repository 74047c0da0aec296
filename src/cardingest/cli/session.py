"""One way into an archive for every command that changes it (borg's ``with_repository``).

``open_archive`` requires the catalogue (unless the command creates the archive), takes the
archive lock, and reports a stale lock it took over in the same words for every command.

With a PostgreSQL catalogue the lock is a set of advisory locks in the database instead of
the lock file: ``patients`` (an ingest) holds the archive shared and those patients
exclusively, so ingests of different patients run side by side; without ``patients`` the
command holds the whole archive. Either way the archive's tie to its database is checked
first, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..archive.backend import check_sqlite_place, location_for, refuse_links
from ..archive.catalogue import require_catalogue
from ..archive.lock import ArchiveLock
from . import output
from .output import escape


def _waiting(message: str) -> None:
    output.err.print(escape(message))


@contextmanager
def open_archive(
    archive: Path,
    purpose: str,
    *,
    creates: bool = False,
    consequence: str = "",
    patients: Iterable[str] | None = None,
    migrating: bool = False,
) -> Iterator[object]:
    """Hold ``archive``'s lock for ``purpose`` (the word other runs see in the lock file).

    ``creates``: the command may make a new archive (ingest), so no catalogue is needed yet.
    ``consequence``: what a missing catalogue means for this command, for its message.
    ``patients``: the only patients the command writes (PostgreSQL: lock only those).
    ``migrating``: ``catalogue migrate`` reads a SQLite catalogue wherever it is, even one
    already marked as moved (a re-run), under its lock file.
    """
    refuse_links(archive)  # before the catalogue is opened: SQLite makes files beside it
    location = location_for(archive)
    if location.url is not None:
        from ..archive.pg import locked

        if not creates:
            require_catalogue(archive, consequence)
        with locked(
            location.url,
            archive,
            purpose,
            create=creates,
            patients=patients,
            on_wait=_waiting,
        ) as held:
            yield held
        return
    if not migrating:
        if not creates:
            require_catalogue(archive, consequence)
        check_sqlite_place(archive, single_workstation=location.single_workstation)
    with ArchiveLock(archive, purpose) as lock:
        stale = lock.took_over_from
        if stale is not None:
            output.err.print(
                f"Took over a stale lock left by pid {escape(str(stale.get('pid', '?')))} "
                f"on {escape(str(stale.get('host', '?')))}."
            )
        yield lock
