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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import ArchiveError
from ..models import METADIR
from ..storage import modes
from ..storage.durable import fsync_dir, sync_file, write_all
from ..storage.transfer import candidate_names
from .catalogue import Catalogue, CatalogueRecord
from .verify import CopyChecker, CopyState, mark_change
from .xmp import Keywords, write_sidecars

FOLDER = "journal"
VERSION = 1


def journal_folder(archive: Path) -> Path:
    return Path(archive, METADIR, FOLDER)


class PublishJournal:
    """One ingest's journal. A copy worker `note`s its photo's row as soon as the photo is
    read from the card, and waits, right before naming it, until the line is `durable`.

    The lines reach the disk through one thread of the journal's own, each sync covering
    every line written before it (group commit): a photo's line is usually on the disk
    before its copy is written and read back, so the wait costs nothing, and two workers'
    lines share a sync.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._changed = threading.Condition()
        self._written = 0
        self._synced = 0
        self._failed: OSError | None = None
        self._syncer = threading.Thread(target=self._sync, name="cardingest-journal", daemon=True)

    @classmethod
    def start(
        cls, archive: Path, ingest_id: str, backup: Path | None, reserved: Iterable[str]
    ) -> PublishJournal:
        """A new journal for ``ingest_id``, its header on the disk: the ingest, its backup
        folder, and the sidecar names its plan fills with the camera's own XMP files (no
        keywords sidecar may go there)."""
        folder = journal_folder(archive)
        path = folder / f"{ingest_id}.jsonl"
        header = {
            "journal": VERSION,
            "ingest_id": ingest_id,
            "backup": str(backup) if backup else None,
            "reserved": sorted(reserved),
        }
        try:
            modes.make_dirs(folder)
            journal = cls(path, modes.create(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise ArchiveError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        try:
            journal._append(header)
            sync_file(journal._fd)
            fsync_dir(folder)
            fsync_dir(folder.parent)
        except OSError as exc:
            os.close(journal._fd)
            journal.remove()
            raise ArchiveError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        journal._syncer.start()
        return journal

    def _append(self, entry: dict[str, object]) -> None:
        write_all(self._fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8"))

    def note(self, record: CatalogueRecord) -> int:
        """Write the line of a photo that may be named ``record.archive_path`` (and, with a
        backup, ``record.backup_path``); its number, for `durable`."""
        line = (json.dumps(asdict(record), separators=(",", ":")) + "\n").encode("utf-8")
        with self._changed:
            self._check()
            try:
                write_all(self._fd, line)
            except OSError as exc:
                self._failed = exc
                self._check()
            self._written += 1
            self._changed.notify_all()
            return self._written

    def durable(self, line: int) -> None:
        """Return once line number ``line`` is on the disk; OSError if it cannot be (then
        its photo must not be named)."""
        with self._changed:
            while self._synced < line:
                self._check()
                self._changed.wait()

    def _check(self) -> None:
        if self._failed is not None:
            exc = self._failed
            why = f"{exc.strerror or exc} writing the publish journal {self.path}, before"
            raise OSError(exc.errno, why)

    def _sync(self) -> None:
        while True:
            with self._changed:
                while self._synced == self._written and self._fd >= 0:
                    self._changed.wait()
                if self._fd < 0:
                    return
                fd, upto = self._fd, self._written
            try:
                sync_file(fd)  # close() waits for this thread before it closes fd
            except OSError as exc:
                with self._changed:
                    self._failed = exc
                    self._changed.notify_all()
                return
            with self._changed:
                self._synced = upto
                self._changed.notify_all()

    def close(self) -> None:
        """No more lines: a copy worker still running (the run failed) names nothing more."""
        with self._changed:
            if self._fd < 0:
                return
            self._failed = self._failed or OSError(errno.ESHUTDOWN, "the ingest has ended")
            fd, self._fd = self._fd, -1
            self._changed.notify_all()
        self._syncer.join()
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
        done.append(Recovered(ingest_id, tuple(adopted), tuple(problems)))
        os.unlink(path)
        fsync_dir(folder)
    return done


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
