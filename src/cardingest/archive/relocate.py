"""A backup folder that moved: the catalogue pointed at its new place once every copy there
is proven.

The catalogue keeps each backup copy's full path. A backup drive mounted at another folder
(`/media/nurse/BACKUP` after a relabel, a share mounted elsewhere, a backup copied to a new
disk) leaves every record naming the old place: `verify` finds the copies missing and the
wipe keeps every photo ("the backup folder … is not there"). `relocate_backup` reads each
copy at the new place against its record and, only when all of them hold their photo,
rewrites their paths in one transaction; otherwise it changes nothing and names what does
not match.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..models import METADIR
from ..storage import identity, ondisk
from ..storage.interrupts import held_interrupts
from .audit import AuditLog
from .backend import archive_records, check_destination_root, memory_fstype
from .catalogue import Catalogue, CatalogueRecord
from .verify import CopyChecker, archive_file, marks_backup, record_copies, second_copy


@dataclass(frozen=True)
class Mismatch:
    """A recorded backup copy that is not whole at the new place."""

    archive_path: str
    path: str
    status: str
    detail: str


@dataclass(frozen=True)
class Relocation:
    """What `relocate_backup` found; ``moved`` when the catalogue now names ``new``."""

    old: str
    new: str
    photos: int
    ingests: int
    bytes: int
    mismatches: tuple[Mismatch, ...]
    already: int = 0
    """With nothing recorded in ``old``: the copies the catalogue names in ``new`` already."""
    same_disk: bool = False
    """``new`` is on the archive's own disk: that disk's loss would take both copies, and a
    wipe would clear cards on their strength (said, as an ingest starting such a backup
    does)."""

    @property
    def moved(self) -> bool:
        return not self.mismatches


def folder(raw: Path | str) -> Path:
    """A folder as given, made absolute and normal without following links: the catalogue
    names backup copies by the path they were written through."""
    return Path(os.path.normpath(os.path.abspath(os.path.expanduser(raw))))


def backup_root(record: CatalogueRecord) -> Path | None:
    """The backup folder of a record's backup copy, if it has one."""
    copies = record_copies(Path("/"), record)
    return copies[1][2] if len(copies) > 1 else None


def recorded_roots(records: Iterable[CatalogueRecord]) -> dict[Path, int]:
    """Each backup folder the catalogue names, with its number of copies."""
    roots: dict[Path, int] = {}
    for record in records:
        root = backup_root(record)
        if root is not None:
            roots[root] = roots.get(root, 0) + 1
    return roots


def check_new_place(archive: Path, old: Path, new: Path) -> None:
    """Refuse (exit 2) a new place that cannot be the backup: not a folder, the old one, the
    archive or a folder in or around it, another archive, memory, or a drive not mounted."""
    if not ondisk.is_dir(new):
        what = "is not a folder" if os.path.lexists(new) else "is not there"
        raise UsageError(
            f"The new backup folder {new} {what}: connect the backup disk, and give the folder "
            "that holds its patient folders (and its .cardingest)."
        )
    if new == old:
        raise UsageError(f"The old and new backup folders are the same ({new}): nothing to do.")
    with contextlib.suppress(OSError):
        if os.path.samefile(new, old):  # a link to it, or another path to the same folder
            raise UsageError(
                f"The new backup folder {new} is the old one, {old}, by another path (a "
                "symbolic link or a second mount of it): nothing moved, so nothing to do."
            )
    if identity.inside(new, archive) or identity.inside(archive, new):
        raise UsageError(
            f"{new} is the archive {archive}, or a folder in it or around it: the backup is a "
            "second copy on another disk."
        )
    records = archive_records(new)
    if records:  # a trial: another archive (or a copy of this one) was taken, exit 0
        raise UsageError(
            f"The new backup folder {new} is an archive (its {METADIR} holds {records[0]}), "
            "not a backup folder: its copies belong to that archive, and the manifests "
            "`verify --fix-manifests` writes for the backup would go into its metadata, "
            "which then makes its ingests refuse. Give the folder the backup itself was "
            "moved or copied to."
        )
    kind = memory_fstype(new)
    if kind is not None:
        raise UsageError(f"{new} is on {kind}, in memory: a restart loses every copy there.")
    check_destination_root(new, "backup")


def relocate_backup(
    archive: Path,
    old: Path,
    new: Path,
    *,
    operator: str,
    on_total: Callable[[int], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Relocation:
    """Point the catalogue's backup copies under ``old`` at the same paths under ``new``,
    once each copy there has been read and holds its record's sha256 (and is not the archive
    copy itself). All or nothing: a copy missing or damaged at ``new`` leaves the catalogue
    as it was. The caller holds the archive lock and ``new``'s."""
    check_new_place(archive, old, new)
    AuditLog(archive).require_appendable()  # before any copy is read: the change is audited
    checker = CopyChecker(on_bytes)
    with Catalogue.open(archive, create=False) as catalogue:
        records = list(catalogue.records())
        roots = recorded_roots(records)
        if old not in roots and new in roots:  # run again, or another desk did it
            return Relocation(str(old), str(new), 0, 0, 0, (), already=roots[new])
        if old not in roots:
            raise UsageError(_not_recorded(old, new, roots))
        moving = [record for record in records if backup_root(record) == old]
        if on_total is not None:
            on_total(sum(record.size for record in moving))
        marked = catalogue.problems()
        changes: list[tuple[str | None, str, str]] = []
        mismatches: list[Mismatch] = []
        for record in moving:
            path = Path(new, Path(str(record.backup_path)).relative_to(old))
            state = checker.check(path, record.size, record.sha256, new)
            state = second_copy(state, "backup", path, archive_file(archive, record))
            if not state.ok:
                mismatches.append(
                    Mismatch(record.archive_path, str(path), state.status, state.detail or "")
                )
            problem = marked.get(record.archive_path)
            if problem is not None and marks_backup(problem):
                problem = None  # the copy just read is whole
            changes.append((problem, str(path), record.archive_path))
        if len(mismatches) == len(moving) and all(m.status == "missing" for m in mismatches):
            which = (
                f"None of the {len(moving)} backup copies recorded in {old} is in {new}"
                if len(moving) > 1
                else f"The backup copy recorded in {old} is not in {new}"
            )
            raise UsageError(
                f"{which} (the first would be "
                f"{mismatches[0].path}): is {new} the backup folder? Give the folder that holds "
                "the patient folders."
            )
        ingests = 0
        if not mismatches:
            with held_interrupts():  # the change and its event together, whatever Ctrl-C does
                ingests = catalogue.move_backup(changes, str(old), str(new))
                AuditLog(archive).append(
                    "backup-moved",
                    operator=operator,
                    archive=str(archive),
                    old=str(old),
                    new=str(new),
                    photos=len(changes),
                    ingests=ingests,
                )
    return Relocation(
        old=str(old),
        new=str(new),
        photos=len(moving),
        ingests=ingests,
        bytes=checker.bytes_read,
        mismatches=tuple(mismatches),
        same_disk=_same_disk(archive, new),
    )


def _same_disk(archive: Path, new: Path) -> bool:
    try:
        return os.stat(archive).st_dev == os.stat(new).st_dev
    except OSError:
        return False


def _not_recorded(old: Path, new: Path, roots: dict[Path, int]) -> str:
    if not roots:
        return f"No photo of this archive has a backup copy recorded: nothing to point at {new}."
    known = ", ".join(f"{root} ({count} cop{'y' if count == 1 else 'ies'})" for root, count in
                      sorted(roots.items()))  # fmt: skip
    return (
        f"No backup copy is recorded in {old}. The catalogue's backup folders: {known}. Give "
        "one of them as the old folder (as `verify` or the wipe names it)."
    )
