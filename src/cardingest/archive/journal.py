"""The publish journal: the photos an ingest is about to give their final names.

An ingest gives a verified copy its final name before it writes the copy's catalogue row:
rows go in batches (`ingest._Batcher`). A run killed in between leaves verified copies
under the names its ID map gave them, unknown to the catalogue. Had that map been wrong and
the next run's been right, they would stay in the wrong patient's folder, where no command
(`move` works from the catalogue) would find them.

So before each name is made, the ingest appends the photo's catalogue row-to-be, with the
SHA-256 read from the card, to ``.cardingest/journal/INGEST.jsonl``, and removes the journal
once every photo it published is recorded. The next ingest that has the archive to itself
(`recover`) records each journaled photo whose copy holds that content, under the journaled
name or the ``-2``, ``-3``… name publishing took, and has no row yet: in the dead run's
ingest, for the patient that run's map gave. A wrong map's photos are then held by the
"already archived under another patient" check, as after any finished ingest with a wrong
map, and `cardingest move` puts them right.

Each line reaches the disk before its name is made (`PublishJournal.publishing`), so a power
cut cannot keep the name and lose the line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import ArchiveError
from ..models import METADIR
from ..storage import modes
from ..storage.durable import fsync_dir, sync_file, write_all
from ..storage.transfer import TEMP_PREFIX, candidate_names
from .catalogue import Catalogue, CatalogueRecord
from .verify import CopyChecker, CopyState, mark_change
from .xmp import Keywords, write_sidecars

FOLDER = "journal"
VERSION = 1
_FIELDS = tuple(field.name for field in fields(CatalogueRecord))
"""A line's keys: `dataclasses.asdict` would copy every value first, at 4 times the cost."""


def journal_folder(archive: Path) -> Path:
    return Path(archive, METADIR, FOLDER)


class PublishJournal:
    """One ingest's journal. A copy worker `note`s its photo's row right before it names
    the photo's verified copy.

    A kill -9 keeps what was written: the kernel holds it. The lines reach the disk with
    each batch of rows (`sync`, before the batch's folders are synced), not one by one: a
    sync before every name cost 10 % of the time of an ingest of small photos (issue 16).
    So a power cut can lose the lines of the photos named since the last batch while their
    names survive; `recover` then names those files (in the folders the journal's header
    lists, with no row and no line) instead of saying every copied photo is recorded.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()

    @classmethod
    def start(
        cls,
        archive: Path,
        ingest_id: str,
        backup: Path | None,
        folders: Iterable[str],
        reserved: Iterable[str],
    ) -> PublishJournal:
        """A new journal for ``ingest_id``, its header on the disk: the ingest, its backup
        folder, the archive folders its plan names photos in, and the sidecar names its plan
        fills with the camera's own XMP files (no keywords sidecar may go there)."""
        folder = journal_folder(archive)
        path = folder / f"{ingest_id}.jsonl"
        header = {
            "journal": VERSION,
            "ingest_id": ingest_id,
            "backup": str(backup) if backup else None,
            "folders": sorted(folders),
            "reserved": sorted(reserved),
        }
        try:
            modes.make_dirs(folder)
            journal = cls(path, modes.create(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise ArchiveError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        try:
            journal._write(header)
            sync_file(journal._fd)
            fsync_dir(folder)
            fsync_dir(folder.parent)
        except OSError as exc:
            journal.close()
            journal.remove()
            raise ArchiveError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        return journal

    def _write(self, entry: dict[str, object]) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                raise OSError(errno.ESHUTDOWN, "the ingest has ended")
            write_all(self._fd, line)

    def note(self, record: CatalogueRecord) -> None:
        """The line of a photo that may be named ``record.archive_path`` (and, with a backup,
        ``record.backup_path``). OSError if it cannot be written: then the photo is not."""
        try:
            self._write({name: getattr(record, name) for name in _FIELDS})
        except OSError as exc:
            why = f"{exc.strerror or exc} writing the publish journal {self.path}, before"
            raise OSError(exc.errno, why) from exc

    def sync(self) -> None:
        """Put the lines written so far on the disk (OSError if the disk refuses)."""
        with self._lock:
            if self._fd >= 0:
                sync_file(self._fd)

    def close(self) -> None:
        """No more lines: a copy worker still running (the run failed) names nothing more."""
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def remove(self) -> None:
        """Once every photo it names is recorded."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What `recover` recorded from one dead run's journal, and what it could not write."""

    ingest_id: str
    recorded: tuple[CatalogueRecord, ...]
    problems: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    """Files in the folders it named photos in with no row and no line (see `unlisted`)."""


def _read(path: Path) -> tuple[dict, list[CatalogueRecord]]:
    """The header and the rows-to-be; a line a kill cut short, or not a row, is passed over."""
    entries = []
    for line in path.read_bytes().split(b"\n"):
        with contextlib.suppress(ValueError):
            entries.append(json.loads(line))
    if not entries or not isinstance(entries[0], dict) or entries[0].get("journal") != VERSION:
        return {}, []
    records = []
    for entry in entries[1:]:
        if not isinstance(entry, dict):
            continue
        try:
            entry.update(diagnosis=tuple(entry.get("diagnosis") or ()), rowid=None)
            records.append(CatalogueRecord(**entry))
        except TypeError:
            continue
    return entries[0], records


def _copy_named(
    root: Path,
    relpath: str,
    record: CatalogueRecord,
    checker: CopyChecker,
    catalogue: Catalogue | None,
) -> tuple[str | None, bool]:
    """Where publishing put ``record``'s content for ``relpath`` under ``root``, and whether
    a row has it already: the first of the names it tries that holds the content. Names
    with another file's row are passed over unread; with ``catalogue`` None (a backup) every
    name is read."""
    folder, _, name = relpath.rpartition("/")
    for candidate in candidate_names(name):
        below = f"{folder}/{candidate}" if folder else candidate
        path = Path(root, *below.split("/"))
        if not os.path.lexists(path):
            return None, False
        row = catalogue.record(below) if catalogue is not None else None
        if row is not None:
            if row.sha256 == record.sha256 and row.patient_id == record.patient_id:
                return below, True
            continue
        if checker.check(path, record.size, record.sha256, root).ok:
            return below, False
    return None, False


def _backed_up(
    record: CatalogueRecord, backup: Path | None, planned: str, checker: CopyChecker
) -> tuple[CatalogueRecord, dict[str, str | None]]:
    """``record`` with its backup copy where publishing put it, and the problem mark a
    backup copy that never got its name needs (the next ingest of the card repairs it)."""
    if record.backup_path is None or backup is None:
        return record, {}
    found, _ = _copy_named(backup, planned, record, checker, None)
    if found is not None:
        return replace(record, backup_path=str(Path(backup, *found.split("/")))), {}
    path = Path(record.backup_path)
    missing = CopyState("missing", detail="not found")
    return record, mark_change(record.archive_path, [("backup", path, missing)], {})


def recover(catalogue: Catalogue, archive: Path) -> list[Recovered]:
    """Record what each journal in ``archive`` names and finds published under no row, then
    remove the journal. Only for a run alone on the archive: a live run's journal looks the
    same. A journal that is not one (another program's file) is left alone."""
    folder = journal_folder(archive)
    try:
        paths = sorted(p for p in folder.iterdir() if p.name.endswith(".jsonl"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    done = []
    for path in paths:
        header, records = _read(path)
        ingest_id = header.get("ingest_id")
        if not isinstance(ingest_id, str):
            continue
        backup = Path(header["backup"]) if isinstance(header.get("backup"), str) else None
        checker = CopyChecker()
        adopted: list[CatalogueRecord] = []
        marks: dict[str, str | None] = {}
        for record in records:
            if record.ingest_id != ingest_id:
                continue
            found, recorded = _copy_named(archive, record.archive_path, record, checker, catalogue)
            if found is None or recorded:
                continue
            placed, mark = _backed_up(
                replace(record, archive_path=found), backup, record.archive_path, checker
            )
            adopted.append(placed)
            marks.update(mark)
        problems = _sidecars(archive, adopted, set(header.get("reserved") or ()))
        catalogue.add(adopted)
        if marks:
            catalogue.set_problems(marks)
        unknown = unlisted(catalogue, archive, header.get("folders") or (), records)
        done.append(Recovered(ingest_id, tuple(adopted), tuple(problems), tuple(unknown)))
        os.unlink(path)
        fsync_dir(folder)
    return done


def unlisted(
    catalogue: Catalogue, archive: Path, folders: Iterable[object], records: list[CatalogueRecord]
) -> list[str]:
    """Files in ``folders`` with no row that no line names: what a power cut can leave (a
    name that reached the disk, its line not), or a file put there by hand. Keywords
    sidecars are passed over: the ingest writes them after the name, with no line."""
    named = {record.archive_path for record in records}
    found = []
    for folder in sorted(f for f in folders if isinstance(f, str)):
        below = Path(archive, *folder.split("/")) if folder else Path(archive)
        try:
            entries = sorted(os.scandir(below), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            relpath = f"{folder}/{entry.name}" if folder else entry.name
            if (
                entry.is_file(follow_symlinks=False)
                and not entry.name.startswith(TEMP_PREFIX)
                and not entry.name.lower().endswith(".xmp")
                and relpath not in named
                and catalogue.record(relpath) is None
            ):
                found.append(relpath)
    return found


def _sidecars(archive: Path, records: list[CatalogueRecord], reserved: set[str]) -> list[str]:
    """Keywords sidecars the dead run may not have written, before the rows (as an ingest)."""
    problems = []
    for record in records:
        keywords = Keywords(record.diagnosis, record.site, record.consent)
        if record.archive_path.lower().endswith(".xmp") or not keywords:
            continue
        copies = [(record.archive_path, Path(archive, *record.archive_path.split("/")))]
        if record.backup_path is not None and os.path.lexists(record.backup_path):
            copies.append((record.archive_path, Path(record.backup_path)))
        problems += write_sidecars(keywords, copies, reserved)
    return problems


def journals(archive: Path) -> Iterator[str]:
    """The ingests whose journal lies in ``archive`` (read-only: for the dry run's warning)."""
    with contextlib.suppress(OSError):
        for path in sorted(journal_folder(archive).iterdir()):
            if path.name.endswith(".jsonl"):
                yield path.name.removesuffix(".jsonl")
