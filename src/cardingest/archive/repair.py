"""Put back archive (or backup) copies that verify or a wipe found damaged or missing.

The wipe keeps such a photo on the card, so ingesting that card again can repair it: the
photo is copied afresh through `transfer.copy_over` (temporary file, fsync, read-back, and it
must be the archived content), and the verified copy is renamed onto the catalogued name. The
catalogue row, the manifests and the names stay as they were. The damaged file is never
deleted: it moves to ``.cardingest/damaged/<ingest id>/`` of its archive (or backup) root.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..models import METADIR
from ..storage.durable import NO_HARDLINKS, fsync_dir, rename_free
from ..storage.transfer import (
    Destination,
    TransferResult,
    copy_over,
    copy_verified,
    ensure_dirs,
)
from .catalogue import CatalogueRecord
from .verify import (
    CopyChecker,
    CopyState,
    Where,
    archive_file,
    mark_change,
    not_repairable,
    record_copies,
    repairable,
    second_copy,
)

DAMAGED = "damaged"


@dataclass(frozen=True)
class Repair:
    """What one repair did: the copies put back, where the bad files went, or why not."""

    archive_path: str
    restored: tuple[str, ...] = ()
    set_aside: tuple[str, ...] = ()
    error: str | None = None
    left: str | None = None
    """The problem mark (`verify.mark_change`) of a copy left as it was that a later run
    can put back (a backup copy outside this run's backup, or one this repair failed to put
    back after it put back another): the catalogue's note, in place of one naming a copy
    this repair put back."""

    @property
    def ok(self) -> bool:
        return self.error is None


class _SetAside:
    """Keeps each bad file under ``<root>/.cardingest/damaged/<ingest id>/``, and the list.

    A hard link, so the bad bytes stay reachable whatever happens next; where the filesystem
    has none, a rename (the verified copy takes the name straight after).
    """

    def __init__(self, roots: dict[Path, Path], ingest_id: str) -> None:
        self.roots = roots
        self.ingest_id = ingest_id
        self.kept: list[str] = []

    def __call__(self, path: Path) -> None:
        root = self.roots[path]
        aside = Path(root, METADIR, DAMAGED, self.ingest_id, path.relative_to(root))
        ensure_dirs(aside.parent)
        try:
            os.link(path, aside)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno not in NO_HARDLINKS:
                raise
            rename_free(path, aside)
        fsync_dir(aside.parent)
        self.kept.append(str(aside))


def _root(path: Path, where: str, archive: Path, backup: Path | None) -> Path | None:
    """The destination root this run holds (locked, swept) that ``path`` lies in, if any."""
    root = archive if where == "archive" else backup
    return root if root is not None and path.is_relative_to(root) else None


def repair_copies(
    source: Path,
    record: CatalogueRecord,
    archive: Path,
    *,
    ingest_id: str,
    backup: Path | None = None,
    on_bytes: Callable[[int], None] | None = None,
    backup_first: int = 1,
) -> Repair:
    """Copy ``source`` again over each of ``record``'s `repairable` copies, and make its
    backup copy in ``backup`` if it was archived with none (from the ``backup_first`` of
    its next free names on: its shot's stem, `backupstems`).

    Nothing is copied when every copy checks out again (the problem was transient). A copy
    that cannot be checked now (unreadable, or its folder is gone), a folder at a copy's name
    (`verify.not_repairable`) and a backup copy outside the ``backup`` root of this run are
    left alone and reported: a repair only writes where this ingest holds the lock.
    ``source`` must still be the archived photo.
    """
    checker = CopyChecker()
    roots: dict[Path, Path] = {}
    bad: list[tuple[Where, Path, CopyState]] = []
    blocked: list[str] = []
    outside: list[tuple[Where, Path, CopyState]] = []
    for where, path, under in record_copies(archive, record):
        state = checker.check(path, record.size, record.sha256, under)
        state = second_copy(state, where, path, archive_file(archive, record))
        if state.ok:
            continue
        root = _root(path, where, archive, backup)
        if not repairable(state, path):
            blocked.append(f"{where} copy {path} {not_repairable(state, path)}")
        elif root is None:
            blocked.append(f"the backup copy {path} is repaired only by an ingest with the "
                           "--backup folder that holds it")  # fmt: skip
            outside.append((where, path, state))
        else:
            roots[path] = root
            bad.append((where, path, state))
    problem = "; ".join(blocked) or None
    repaired = _put_back(source, record, roots, ingest_id, on_bytes, problem)
    if not repaired.ok:
        # Those it did not put back after it put back another: the next run's to repair.
        put = set(repaired.restored)
        still = [copy for copy in bad if put and str(copy[1]) not in put]
        left = mark_change(record.archive_path, still + outside, {}).get(record.archive_path)
        return replace(repaired, left=left)
    if backup is None or record.backup_path:
        return repaired
    first = _first_backup_copy(source, record, backup, on_bytes, backup_first)
    return Repair(
        record.archive_path, (*repaired.restored, *first.restored), repaired.set_aside, first.error
    )


def _put_back(
    source: Path,
    record: CatalogueRecord,
    roots: dict[Path, Path],
    ingest_id: str,
    on_bytes: Callable[[int], None] | None,
    problem: str | None,
) -> Repair:
    """Copy ``source`` over each copy of ``roots`` (path: its root), the bad files set aside."""
    if not roots:
        return Repair(record.archive_path, error=problem)
    set_aside = _SetAside(roots, ingest_id)
    copied = copy_over(
        source,
        [Destination(root, path.relative_to(root).as_posix()) for path, root in roots.items()],
        sha256=record.sha256,
        set_aside=set_aside,
        expected_size=record.size,
        on_bytes=on_bytes,
    )
    kept = tuple(set_aside.kept)
    restored = tuple(str(published.path) for published in copied.published)
    if not copied.ok:
        problem = _not_copied(copied, record)
    if problem and restored:
        problem = f"{problem} (put back: {', '.join(restored)})"
    return Repair(record.archive_path, restored, kept, problem)


def _first_backup_copy(
    source: Path,
    record: CatalogueRecord,
    backup: Path,
    on_bytes: Callable[[int], None] | None,
    first: int = 1,
) -> Repair:
    """The backup copy of a photo archived with none: published like any new copy, never in
    place of a file already there (another archive's, sharing the backup folder), which gets
    the next free name ``-2``; and only if the card file is still the archived photo. It
    begins at the ``first`` of those names: where another file of the backup folder is named
    as the shot's stem, every copy of the shot takes the same next free stem (`backupstems`),
    so the shot's keywords sidecar there is its own."""
    copied = copy_verified(
        source,
        [Destination(backup, record.archive_path, first)],
        expected_size=record.size,
        on_bytes=on_bytes,
        sha256=record.sha256,
    )
    if not copied.ok:
        return Repair(record.archive_path, error=_not_copied(copied, record))
    return Repair(record.archive_path, tuple(str(p.path) for p in copied.published))


def _not_copied(copied: TransferResult, record: CatalogueRecord) -> str:
    if copied.sha256 is not None and copied.sha256 != record.sha256:
        return f"the card file is no longer the photo archived as {record.archive_path}"
    return copied.error or "not copied"
