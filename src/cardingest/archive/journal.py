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

Anyone who may write the archive may edit a journal: every line is checked before anything
it names is read (`_row`), and nothing outside the archive and the ingest's backup folder
(from the catalogue, not the journal) is read or written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path

from ..card.kinds import is_sidecar
from ..errors import ArchiveError
from ..models import METADIR
from ..storage import modes
from ..storage.durable import fsync_dir, sync_file, write_all
from ..storage.links import leaves_root
from ..storage.transfer import TEMP_PREFIX, candidate_names, name_number, plain_relpath
from ..text import some_of
from .catalogue import Catalogue, CatalogueRecord
from .verify import CopyChecker, CopyState, mark_change
from .xmp import keywords_of, write_sidecars

FOLDER = "journal"
VERSION = 1
_FIELDS = tuple(field.name for field in fields(CatalogueRecord))
"""A line's keys: `dataclasses.asdict` would copy every value first, at 4 times the cost."""


def journal_folder(archive: Path) -> Path:
    return Path(archive, METADIR, FOLDER)


def journal_path(archive: Path, ingest_id: str) -> Path:
    return journal_folder(archive) / f"{ingest_id}.jsonl"


class PublishJournal:
    """One ingest's journal. A copy worker `note`s its photo's row right before it names
    the photo's verified copy.

    A kill -9 keeps what was written: the kernel holds it. The lines reach the disk with
    each batch of rows (`sync`, before the batch's folders are synced), not one by one: a
    sync before every name cost 10 % of the time of an ingest of small photos (issue 16).
    So a power cut can lose the lines of the photos named since the last batch while their
    names survive; `recover` then names those files (in the folders the journal's header
    lists, with no row) instead of saying every copied photo is recorded.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()
        self._closed_by: OSError | None = None
        """Why it takes no more lines, when a torn line could not be taken back."""

    @classmethod
    def start(
        cls,
        archive: Path,
        ingest_id: str,
        folders: Iterable[str],
        reserved: Iterable[str],
    ) -> PublishJournal:
        """A new journal for ``ingest_id``, its header on the disk: the ingest, the archive
        folders its plan names photos in, and the sidecar names its plan fills with the
        camera's own XMP files (no keywords sidecar may go there)."""
        path = journal_path(archive, ingest_id)
        folder = path.parent
        header = {
            "journal": VERSION,
            "ingest_id": ingest_id,
            "folders": sorted(folders),
            "reserved": sorted(reserved),
        }
        left = leaves_root(archive, [METADIR, FOLDER])
        if left is not None:
            raise ArchiveError(f"Cannot write {path}: {left[0]} {left[1]}")
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
        """Append one line whole, or none: a write the disk cut short (full) is taken back,
        or the journal takes no more lines if even that fails, so a later line never joins
        the torn part, unreadable, while its photo is named."""
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                raise self._closed_by or OSError(errno.ESHUTDOWN, "the ingest has ended")
            before = os.fstat(self._fd).st_size
            try:
                write_all(self._fd, line)
            except OSError as exc:
                try:
                    os.ftruncate(self._fd, before)
                except OSError:
                    fd, self._fd = self._fd, -1
                    self._closed_by = OSError(
                        exc.errno, f"{exc.strerror or exc}, and its torn line stays"
                    )
                    with contextlib.suppress(OSError):
                        os.close(fd)
                raise

    def note(self, record: CatalogueRecord) -> None:
        """The line of a photo that may be named ``record.archive_path`` (and, with a backup,
        ``record.backup_path``). OSError if it cannot be written: then the photo is not."""
        try:
            self._write({name: getattr(record, name) for name in _FIELDS})
        except OSError as exc:
            why = (
                f"{exc.strerror or exc} writing the publish journal {self.path}: the verified "
                "copy was not named (nothing was left half-written), after"
            )
            raise OSError(exc.errno, why) from exc

    def sync(self) -> None:
        """Put the lines written so far on the disk (OSError if the disk refuses)."""
        with self._lock:
            if self._fd >= 0:
                sync_file(self._fd)

    def close(self) -> None:
        """No more lines: a copy worker still running (the run failed) that has not written
        its line yet names nothing."""
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
    """What `recover` did with one dead run's journal (``path``, removed by the caller once
    the run's ingest record is closed)."""

    ingest_id: str
    path: Path
    recorded: tuple[CatalogueRecord, ...]
    problems: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    """Files in the folders it named photos in with no row (see `unlisted`)."""


_TEXT = frozenset(
    {"patient_id", "archive_path", "sha256", "captured_at", "captured_raw", "time_source",
     "subsec", "source_path", "ingest_id", "operator", "archived_at", "role"}
)  # fmt: skip
_OTHER = frozenset({"size", "diagnosis", "rowid"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_LONGEST = 1 << 20
"""Bytes in a line: a row is under 2 KiB, with keywords and long paths a few."""


def below_archive(relpath: object) -> bool:
    """A path of a photo in the archive: a plain relative path (`transfer.plain_relpath`,
    as publishing requires), not in ``.cardingest``. A journal is a file anyone who may
    write the archive can edit: none of its paths may lead anywhere else."""
    return isinstance(relpath, str) and plain_relpath(relpath) and relpath.split("/")[0] != METADIR


def _row(entry: object, ingest_id: str, backup: str | None) -> CatalogueRecord | None:
    """The row a line gives, if every field has its kind, its paths lie in the archive (and
    the ingest's backup folder), and it is the journal's own ingest's; else None."""
    if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
        return None
    values = dict(entry, rowid=None)
    for name, value in values.items():
        text = isinstance(value, str)
        if not text and (name in _TEXT or (name not in _OTHER and value is not None)):
            return None  # a text field, or one that may also be None
    size, diagnosis = values["size"], values["diagnosis"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    if not isinstance(diagnosis, list) or not all(isinstance(d, str) for d in diagnosis):
        return None
    values["diagnosis"] = tuple(diagnosis)
    if values["ingest_id"] != ingest_id or not _SHA256.fullmatch(values["sha256"]):
        return None
    if not below_archive(values["archive_path"]):
        return None
    if is_sidecar(values["archive_path"]) != is_sidecar(values["source_path"]):
        return None  # a photo's bytes under a sidecar's name, or the other way round
    copy = values["backup_path"]
    if (copy is None) != (backup is None):
        return None
    if copy is not None and _backup_number(copy, backup or "", values["archive_path"]) is None:
        return None  # the backup copy's planned path: the backup folder and the same relpath
    try:
        for name in ("captured_at", "captured_raw", "archived_at"):
            datetime.fromisoformat(values[name])
    except ValueError:
        return None
    return CatalogueRecord(**values)


def _backup_number(copy: str, backup: str, archive_path: str) -> int | None:
    """Which of the archive path's `candidate_names` the planned backup copy ``copy`` is
    (1: the same name; 2 for ``NAME-2.EXT``: its shot's stem, `backupstems`), in the same
    folders of the ingest's ``backup``; None for any other path."""
    *folders, name = archive_path.split("/")
    named = Path(copy).name
    number = name_number(name, named)
    if number is None or copy != str(Path(backup, *folders, named)):
        return None
    return number


def _copy_named(
    root: Path,
    relpath: str,
    record: CatalogueRecord,
    checker: CopyChecker,
    catalogue: Catalogue | None,
    taken: set[str],
    first: int = 1,
    cleared: list[str] | None = None,
    gone: Collection[str] = (),
) -> tuple[str | None, bool]:
    """Where publishing put ``record``'s content for ``relpath`` under ``root``, and whether
    a row has it already: the first of the names it tries that holds the content. Names
    with another file's row, or ``taken`` by an earlier line, are passed over unread; with
    ``catalogue`` None (a backup) every other name is read. No link or other mount below
    ``root`` is followed (`CopyChecker`). ``first``: the first of those names the run
    tried (a backup copy's shot's stem, `backupstems`). With ``cleared``, when no name
    holds the content, the last empty file passed over is a kill's placeholder
    (`_placeholder_removed`): it is removed and added there. So it is where a later name
    holds the content under another ingest's row (another desk filed the same photo there
    from its own card, finding the name taken by the placeholder: the dead run never went
    past it). One where a later name holds the dead run's own copy is not: publishing
    passed it over as taken (a placeholder whose line a power cut lost, another photo's of
    the same name, or one put there by hand). ``gone``: the placeholders this recovery
    removed, names publishing found taken: no end of the names."""
    folder, _, name = relpath.rpartition("/")
    empty: str | None = None
    for candidate in candidate_names(name, first):
        below = f"{folder}/{candidate}" if folder else candidate
        path = Path(root, *below.split("/"))
        if not os.path.lexists(path):
            if str(path) in gone:
                continue
            break
        if below in taken:
            continue
        row = catalogue.record(below) if catalogue is not None else None
        if row is not None:
            if row.sha256 == record.sha256 and row.patient_id == record.patient_id:
                if row.ingest_id != record.ingest_id:  # not the dead run's copy
                    _clear(root, empty, cleared)
                return below, True
            continue
        if checker.check(path, record.size, record.sha256, root).ok:
            return below, False
        if cleared is not None and _empty_file(path):
            empty = below
    _clear(root, empty, cleared)
    return None, False


def _clear(root: Path, empty: str | None, cleared: list[str] | None) -> None:
    """Remove the placeholder ``empty`` (`_placeholder_removed`), and add it to ``cleared``."""
    if cleared is not None and empty is not None:
        removed = _placeholder_removed(root, empty)
        if removed is not None:
            cleared.append(str(removed))


def _removed(paths: list[str]) -> str:
    return f"removed {some_of(paths, 3)} (an empty file holds nothing of a photo)"


def _empty_file(path: Path) -> bool:
    """Whether ``path`` is an empty regular file (not a link to one)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and not info.st_size


def _placeholder_removed(root: Path, below: str) -> Path | None:
    """Remove ``root/below`` if it is an empty file, reached through no link or other mount;
    its path if it was removed.

    Where the file system has no hard links (exFAT, FAT, some shares) publishing takes a
    name with an empty file, then renames the verified copy onto it (`transfer._publish`);
    a run killed in between left the empty file under the photo's name. It is no copy of
    anything: no photo is archived empty (the planner holds empty files)."""
    parts = below.split("/")
    if leaves_root(root, parts) is not None:
        return None
    path = Path(root, *parts)
    if not _empty_file(path):
        return None
    try:
        os.unlink(path)
    except OSError:
        return None
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)
    return path


def _backed_up(
    record: CatalogueRecord,
    backup: Path | None,
    planned: str,
    checker: CopyChecker,
    taken: set[str],
    cleared: list[str],
    gone: Collection[str],
) -> tuple[CatalogueRecord, dict[str, str | None]]:
    """``record`` with its backup copy where publishing put it, and the problem mark a
    backup copy that never got its name needs (the next ingest of the card repairs it)."""
    if record.backup_path is None or backup is None:
        return record, {}
    first = _backup_number(record.backup_path, str(backup), planned) or 1
    found, _ = _copy_named(backup, planned, record, checker, None, taken, first, cleared, gone)
    if found is not None:
        taken.add(found)
        return replace(record, backup_path=str(Path(backup, *found.split("/")))), {}
    path = Path(record.backup_path)
    missing = CopyState("missing", detail="not found")
    return record, mark_change(record.archive_path, [("backup", path, missing)], {})


class _NotAJournal(Exception):
    """A file in the journal folder that cannot be read as one: named, left for a person."""


_JOURNAL_NAME = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\.jsonl")
"""A journal's name: its ingest's ID (`ingest.new_ingest_id`)."""


def _lines(path: Path) -> Iterator[bytes]:
    """The journal's lines, read as they come (a huge file costs no memory), from a regular
    file reached without a link; a line longer than any row makes it no journal."""
    try:
        fd = os.open(path, _READ)
    except OSError as exc:
        raise _NotAJournal(exc.strerror or str(exc)) from exc
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)  # open() of a folder's fd would raise
    except OSError as exc:
        os.close(fd)
        raise _NotAJournal(exc.strerror or str(exc)) from exc
    if not regular:
        os.close(fd)
        raise _NotAJournal("not a regular file")
    with open(fd, "rb") as handle:
        try:
            while line := handle.readline(_LONGEST + 1):
                if len(line) > _LONGEST:
                    raise _NotAJournal(f"a line longer than {_LONGEST} bytes")
                yield line
        except OSError as exc:
            raise _NotAJournal(exc.strerror or str(exc)) from exc


def _parsed(line: bytes | None) -> object:
    """A line's JSON, or None; nesting too deep for the parser is no row either."""
    try:
        return json.loads(line or b"")
    except (ValueError, RecursionError):
        return None


def _header(line: bytes | None) -> tuple[str, list[str], set[str]]:
    """The ingest, the folders and the reserved sidecar names a journal's first line gives."""
    header = _parsed(line)
    fields = header if isinstance(header, dict) and header.get("journal") == VERSION else {}
    ingest_id, folders, reserved = (fields.get(k) for k in ("ingest_id", "folders", "reserved"))
    if not (
        isinstance(ingest_id, str)
        and isinstance(folders, list)
        and isinstance(reserved, list)
        and all(isinstance(r, str) for r in reserved)
    ):
        raise _NotAJournal("its first line is not a publish journal's")
    return ingest_id, [f for f in folders if f == "" or below_archive(f)], set(reserved)


def recover(
    catalogue: Catalogue,
    archive: Path,
    audited: Callable[[str, list[str]], None],
) -> tuple[list[Recovered], list[str]]:
    """Record what each journal in ``archive`` names and finds published under no row; the
    journals done with, and a warning for each file there that is not one.

    Only for a run alone on the archive (a live run's journal looks the same). ``audited``
    is told each ingest's newly recorded paths before they are: a kill in between leaves
    an event for rows that the next run then writes, never rows with no event.
    """
    folder = journal_folder(archive)
    left = leaves_root(archive, [METADIR, FOLDER])
    if left is not None:
        return [], [f"{left[0]} {left[1]}: no publish journal there is read"]
    try:
        paths = sorted(p for p in folder.iterdir() if p.name.endswith(".jsonl"))
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    except OSError as exc:
        return [], [f"Cannot read the publish journals in {folder}: {exc.strerror or exc}"]
    ingests = {ingest["ingest_id"]: ingest for ingest in catalogue.ingests()}
    done: list[Recovered] = []
    warnings: list[str] = []
    gone: set[str] = set()  # placeholders removed, for the journals read after
    for path in paths:
        try:
            done.append(_recover_one(catalogue, archive, path, ingests, audited, gone))
        except _NotAJournal as exc:
            warnings.append(
                f"{path} is not a publish journal this cardingest can read ({exc}): nothing in "
                "it was recorded. Move it out of that folder once you have looked at it"
            )
    return done, warnings


def _recover_one(
    catalogue: Catalogue,
    archive: Path,
    path: Path,
    ingests: dict[str, dict],
    audited: Callable[[str, list[str]], None],
    gone: set[str],
) -> Recovered:
    lines = _lines(path)
    first = next(lines, None)
    if (first is None or not first.endswith(b"\n")) and _JOURNAL_NAME.fullmatch(path.name):
        # A run killed as it wrote its header (before its ingest began): it named nothing.
        ingest_id = path.name.removesuffix(".jsonl")
        if ingest_id not in ingests:
            return Recovered(ingest_id, path, ())
    ingest_id, folders, reserved = _header(first)
    ingest = ingests.get(ingest_id)
    if ingest is None:
        if next(lines, None) is None:  # a run killed before its ingest began named nothing
            return Recovered(ingest_id, path, ())
        raise _NotAJournal(f"it names ingest {ingest_id}, which the catalogue does not know")
    backup = ingest.get("backup")
    vouched = _claims_check(catalogue.claimed(ingest_id))
    checker = CopyChecker()
    adopted: list[CatalogueRecord] = []
    marks: dict[str, str | None] = {}
    invalid = unclaimed = 0
    taken: set[str] = set()  # archive paths, then backup ones: one file answers one line
    backed: set[str] = set()
    cleared: list[str] = []  # placeholders a kill left in the archive
    cleared_backup: list[str] = []
    for line in lines:
        record = _row(_parsed(line), ingest_id, backup)
        if record is None:
            invalid += 1
            continue
        if not vouched(record):
            unclaimed += 1
            continue
        found, recorded = _copy_named(
            archive,
            record.archive_path,
            record,
            checker,
            catalogue,
            taken,
            cleared=cleared,
            gone=gone,
        )
        if found is None or recorded:
            continue
        taken.add(found)
        placed, mark = _backed_up(
            replace(record, archive_path=found),
            Path(backup) if backup else None,
            record.archive_path,
            checker,
            backed,
            cleared_backup,
            gone,
        )
        adopted.append(placed)
        marks.update(mark)
    gone.update(cleared, cleared_backup)
    problems = _sidecars(archive, adopted, reserved)
    if cleared:
        problems.append(
            f"ingest {ingest_id} was stopped as it named {len(cleared)} photo(s) on a drive "
            f"without hard links, which left an empty file under each name: {_removed(cleared)}"
            ". It recorded none of those photos, so they are still on their card: its next "
            "ingest copies each one not archived since"
        )
    if cleared_backup:
        problems.append(
            f"ingest {ingest_id} was stopped as it named {len(cleared_backup)} backup "
            "copy(ies) on a drive without hard links, which left an empty file under each "
            f"name: {_removed(cleared_backup)}. Their photos are recorded with the backup copy "
            "missing: the card's next ingest makes it again"
        )
    if invalid:
        problems.append(
            f"{invalid} line(s) of {path} are not rows of its ingest (a line a kill cut short, "
            "or an edit) and were passed over"
        )
    if unclaimed:
        problems.append(
            f"{unclaimed} line(s) of {path} name a photo its ingest never claimed in the "
            "catalogue database (an edit of the journal?) and were passed over"
        )
    if adopted:
        audited(ingest_id, [record.archive_path for record in adopted])
        catalogue.add(adopted)
    if marks:
        catalogue.set_problems(marks)
    unknown = unlisted(catalogue, archive, folders)
    return Recovered(ingest_id, path, tuple(adopted), tuple(problems), tuple(unknown))


def all_recorded(catalogue: Catalogue, archive: Path, path: Path, backup: str | None) -> bool:
    """Whether every photo the journal at ``path`` names has its row: for the run that
    wrote it, once its copy workers have all stopped (a Ctrl-C), so its journal can go like
    a finished run's, and no later command says the run may still be going. A line this
    cannot read, a named copy with no row, or a file with no row in a folder it named
    photos in (a copy changed since: `unlisted`) says no: the journal stays for `recover`,
    which names them."""
    checker = CopyChecker()
    try:
        lines = _lines(path)
        ingest_id, folders, _reserved = _header(next(lines, None))
        for line in lines:
            record = _row(_parsed(line), ingest_id, backup)
            if record is None:
                return False
            found, recorded = _copy_named(
                archive, record.archive_path, record, checker, catalogue, set()
            )
            if found is not None and not recorded:
                return False
    except _NotAJournal:
        return False
    return not unlisted(catalogue, archive, folders)


def _claims_check(
    claimed: set[tuple[str, str, str]] | None,
) -> Callable[[CatalogueRecord], bool]:
    """Whether a line's file is one its ingest claimed (`claims`): with PostgreSQL each
    photo and sidecar is claimed, with its content, for its patient and planned name, in the
    database right before its line is written. So someone who may write the archive's share
    but not the database cannot have a file of theirs recorded under any patient through a
    journal line. None (SQLite: whoever may edit the journal may edit the catalogue next to
    it) vouches for every line."""
    if claimed is None:
        return lambda record: True
    return lambda record: (record.sha256, record.patient_id, record.archive_path) in claimed


def unlisted(catalogue: Catalogue, archive: Path, folders: Iterable[str]) -> list[str]:
    """Files in ``folders`` with no row: what a power cut can leave (a name that reached the
    disk, its line not), a journaled copy changed since, or a file put there by hand.
    Keywords sidecars are passed over: the ingest writes them after the name, with no line.
    A folder reached through a link or another mount is not looked into."""
    found = []
    for folder in sorted(folders):
        parts = folder.split("/") if folder else []
        if leaves_root(archive, parts) is not None:
            continue
        try:
            entries = sorted(os.scandir(Path(archive, *parts)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            relpath = f"{folder}/{entry.name}" if folder else entry.name
            if (
                entry.is_file(follow_symlinks=False)
                and not entry.name.startswith(TEMP_PREFIX)
                and not entry.name.lower().endswith(".xmp")
                and catalogue.record(relpath) is None
            ):
                found.append(relpath)
    return found


def _sidecars(archive: Path, records: list[CatalogueRecord], reserved: set[str]) -> list[str]:
    """Keywords sidecars the dead run may not have written, before the rows (as an ingest)."""
    problems = []
    for record in records:
        keywords = keywords_of(record)
        if record.archive_path.lower().endswith(".xmp") or not keywords:
            continue
        copies = [(record.archive_path, Path(archive, *record.archive_path.split("/")))]
        if record.backup_path is not None and os.path.lexists(record.backup_path):
            copies.append((record.archive_path, Path(record.backup_path)))
        problems += write_sidecars(keywords, copies, reserved)
    return problems


def journals(archive: Path) -> Iterator[str]:
    """The ingests whose journal lies in ``archive`` (read-only: for the dry run's warning)."""
    if leaves_root(archive, [METADIR, FOLDER]) is not None:
        return
    with contextlib.suppress(OSError):
        for path in sorted(journal_folder(archive).iterdir()):
            if path.name.endswith(".jsonl"):
                with contextlib.suppress(_NotAJournal):
                    yield _header(next(_lines(path), None))[0]


def pending_warnings(archive: Path) -> list[str]:
    """A warning for each journal in ``archive``, for a command that does not recover it
    (`preview`, `verify`, and an ingest beside another desk's): a live run's looks the same."""
    return [
        f"ingest {ingest_id} is running, or it stopped before it recorded the photos it had "
        "copied: if it stopped, the next ingest that has the archive to itself records them, "
        "before it plans, under the IDs it gave them; until then the catalogue does not "
        "know them (and a plan shown now may hold them then)"
        for ingest_id in journals(archive)
    ]
