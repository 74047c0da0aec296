"""Refile archived photos under the right patient: ``cardingest move``.

A move takes whole shots (a photo with its RAW twin and camera sidecars share one base name),
with cardingest's keyword sidecar (``NAME.xmp``) and the backup copies, to fresh names under
the target patient, made by the same naming rules as an ingest (``-N`` where a name is taken).

It survives kill -9 through an intent record, ``.cardingest/move-journal.json``, written
(atomically, fsynced) before the first file is touched and naming every old and new path.
Carrying it out is idempotent, step by step:

1. hard-link each old file to its new name (a rename where the file system has no links);
2. refile the catalogue rows (one transaction);
3. rewrite the coreutils manifests of the ingests concerned from their rows;
4. unlink the old names (only where the new name holds the same file), drop empty folders;
5. append one ``move`` audit event (once: a re-run looks for its ``move_id`` first);
6. delete the journal.

The next ``cardingest move`` (the same command, or any other) finds the journal and finishes
it first. Until then every catalogued photo exists under its catalogued path: no step loses a
file (only `verify` may meanwhile see the new names as unexpected).

A journal that is refused (damaged, edited, unlike the catalogue) blocks every later move,
tag and DICOM command; `abandon` (``move --abandon-journal``) takes it out of the way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .archive.audit import AuditLog
from .archive.catalogue import Catalogue, CatalogueRecord, require_catalogue
from .archive.lock import ArchiveLock
from .archive.manifest import (
    manifest_path,
    manifested_ingests,
    read_manifest,
    rewrite_manifests,
)
from .archive.targets import find_record
from .archive.verify import CopyChecker, CopyState, archive_file, second_copy
from .archive.xmp import sidecar_path
from .card.kinds import SIDECAR_EXTENSIONS
from .errors import (
    ArchiveError,
    AuditError,
    CardingestError,
    CatalogueError,
    Interrupted,
    UsageError,
)
from .export import uids
from .models import METADIR, MOVE_JOURNAL_NAME, MovedPhoto
from .plan.naming import DEFAULT_FOLDER_TEMPLATE, DEFAULT_NAME_TEMPLATE, target_path
from .plan.planner import MAX_SUFFIX
from .plan.shots import NameOrder, name_order, subsec_fraction
from .storage import ondisk
from .storage.durable import (
    NO_HARDLINKS,
    atomic_write_bytes,
    fsync_dir,
    remove_empty_folders,
    rename_free,
    writing_to,
)
from .storage.interrupts import held_interrupts
from .storage.links import leaves_root
from .storage.modes import make_dirs
from .storage.positional import read_regular
from .storage.transfer import candidate_names, plain_relpath
from .text import not_utf8_target, some_of


@dataclass(frozen=True)
class FileMove:
    """One catalogued file going to its new name (and its backup copy, if it has one)."""

    patient_from: str
    old: str
    new: str
    sha256: str
    ingest_id: str
    old_backup: str | None = None
    new_backup: str | None = None


@dataclass(frozen=True)
class MoveRequest:
    """What to move: archive paths (or on-disk paths in the archive), or a patient + filters."""

    to: str
    paths: tuple[str, ...] = ()
    from_id: str | None = None
    diagnosis: str | None = None
    since: date | None = None
    until: date | None = None
    again: bool = False
    """Move the photo a path names now, though another was moved from that path to ``to``."""
    typed_at: str = ""
    """When the command was given (UTC, ISO, to the second): ``--from`` refuses photos filed
    after it, by another workstation while the move waited for the archive, unseen."""


@dataclass
class MoveResult:
    move_id: str | None = None
    to: str = ""
    moved: list[FileMove] = field(default_factory=list)
    sidecars: list[tuple[str, str]] = field(default_factory=list)
    already: list[tuple[str, str]] = field(default_factory=list)
    """(path asked for, where an earlier move put it)."""
    resumed: list[str] = field(default_factory=list)
    """The move IDs of interrupted moves this run finished first."""
    from_id: str | None = None
    earlier: list[str] = field(default_factory=list)
    """``--from`` with nothing left to move: the IDs of the earlier moves that moved what it
    asks for to ``to`` already; their files are in ``already``."""
    at_pacs: dict[str, list[str]] = field(default_factory=dict)
    """Moved photos (new path) a PACS holds under another patient ID than the one they go to
    (or an earlier `dicom_uid_root`): by destination."""
    kept: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of the slates ``--from`` matched, left with the patient they name."""


def journal_path(archive: Path) -> Path:
    return Path(archive) / METADIR / MOVE_JOURNAL_NAME


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _base(path: str) -> str:
    folder, _, name = path.rpartition("/")
    stem = name.rpartition(".")[0] or name
    return f"{folder}/{stem}" if folder else stem


def _extension(path: str) -> str:
    name = path.rpartition("/")[2]
    return name.rpartition(".")[2] if "." in name else ""


def _not_the_photo(path: str, state: CopyState) -> str:
    """A copy that is not its record's photo (another patient's in its place, a damaged
    one, a link): moved, it would be filed under the new patient as that photo. One that
    cannot be read is not proven either way: a trial's was called damaged, and the
    ingest the advice named found nothing to repair."""
    if state.status == "unreadable":
        return (
            f"{path}: cannot be read ({state.detail or 'unreadable'}), so it is not moved "
            "(make it readable by this account, or run verify, then move it again)"
        )
    return (
        f"{path}: {state.detail or state.status}, not the archived photo, so it is not moved "
        "(run verify; ingesting its card again puts a damaged copy back)"
    )


def _backup_root(record: CatalogueRecord) -> Path | None:
    """The backup folder of a record's backup copy: its path less the archive path's
    folders. The copy's own name may be the next free one (``NAME-2.EXT``): a backup copy
    made on a later run, where another archive sharing the backup folder had a file at the
    archive copy's name, took it (`repair._first_backup_copy`)."""
    if not record.backup_path:
        return None
    tail = tuple(record.archive_path.split("/"))
    if not _backup_of(Path(record.backup_path).parts, tail, renamed=True):
        raise ArchiveError(
            f"The backup copy {record.backup_path} of {record.archive_path} is not in the "
            "same folders, under the same name, in its backup folder; nothing was moved"
        )
    return _backup_folder(record.backup_path, record.archive_path)


def _backup_folder(backup: str, relpath: str) -> Path:
    """The backup folder holding ``backup``, the backup copy of the archive path ``relpath``:
    its path less the archive path's folders and name (`_backup_of` says whether they are
    its own)."""
    return Path(backup).parents[len(relpath.split("/")) - 1]


# --- choosing what moves and where ---------------------------------------------------------


def _logged_moves(archive: Path) -> Iterator[tuple[dict, dict]]:
    """(move event, its entry) for every file a move in the audit log moved."""
    for event in AuditLog(archive).events():
        if event.get("event") == "move":
            for entry in event.get("moves") or []:
                if isinstance(entry, dict):
                    yield event, entry


def moved_photos(archive: Path, digests: Collection[str]) -> dict[str, tuple[MovedPhoto, ...]]:
    """Every move of each of these contents (sha256, lower case) in the audit log, in order;
    as far as the log can be read (its own commands say why it cannot)."""
    if not digests:
        return {}
    found: dict[str, list[MovedPhoto]] = {}
    with contextlib.suppress(AuditError, OSError):
        for event, entry in _logged_moves(archive):
            digest = str(entry.get("sha256", "")).lower()
            if digest in digests:
                found.setdefault(digest, []).append(
                    MovedPhoto(
                        str(entry.get("from", "")),
                        str(event.get("to", "")),
                        str(event.get("move_id", "")),
                        str(event.get("ts", "")),
                    )
                )
    return {digest: tuple(moves) for digest, moves in found.items()}


def _earlier_moves(archive: Path) -> dict[str, tuple[str, str]]:
    """Old path -> (new path, sha256) of the last move from each path in the audit log (to
    answer a re-run: the sha256 tells the photo moved from a photo that took its name since)."""
    return {
        str(entry.get("old")): (str(entry.get("new")), str(entry.get("sha256", "")).lower())
        for _, entry in _logged_moves(archive)
    }


def _moved_already(
    catalogue: Catalogue, archive: Path, request: MoveRequest, result: MoveResult
) -> str | None:
    """``--from A --to B`` that finds nothing of A to move: done already, when the audit log
    has moves of A's photos to B that are B's now and match the filters (they go into
    ``result``, and None is returned); else the problem, saying why nothing matches."""
    source = str(request.from_id)
    filters = " ".join(
        f"{flag} {value}"
        for flag, value in (
            ("--diagnosis", request.diagnosis),
            ("--since", request.since),
            ("--until", request.until),
        )
        if value is not None
    )
    moved = [  # move ID, to, old path, new path
        (
            str(event.get("move_id")),
            str(event.get("to")),
            str(entry.get("old")),
            str(entry.get("new")),
        )
        for event, entry in _logged_moves(archive)
        if entry.get("from") == source
    ]
    if any(to == request.to for _, to, _, _ in moved):
        now = catalogue.search(
            patient_id=request.to,
            diagnosis=request.diagnosis,
            date_from=request.since,
            date_to=request.until,
        )
        theirs = {record.archive_path for record in now}
        # The last move to each name: photos moved back and forth reach it more than once.
        last = {m[3]: m for m in moved if m[1] == request.to and m[3] in theirs}
        done = sorted(last.values(), key=moved.index)
        if done:
            result.from_id = source
            result.already.extend((old, new) for _, _, old, new in done)
            for move_id, *_ in done:
                if move_id not in result.earlier:
                    result.earlier.append(move_id)
            return None
    where = f" {filters}" if filters else ""
    if result.kept:
        return (
            f"--from {source}: only slates match{where}, and a slate stays with the patient "
            f"it names ({', '.join(path for path, _ in result.kept)}): nothing to move"
        )
    if next(iter(catalogue.records(source)), None) is not None:
        return (
            f"--from {source}: no archived photos match{where} ({source} has archived photos, "
            "none of them within these filters)"
        )
    if moved:
        targets = ", ".join(sorted({to for _, to, _, _ in moved}))
        files = len({old for _, _, old, _ in moved})
        return (
            f"--from {source}: no archived photos match{where}: nothing is archived under "
            f"{source} now; the audit log records {files} file(s) of {source} moved "
            f"to {targets} (`cardingest search --id` lists a patient's photos)"
        )
    return (
        f"--from {source}: no archived photos match: nothing was ever archived under "
        f"{source} in {archive}, nor moved from it. Check the ID "
        f"(`cardingest search --id {source}`) and --archive"
    )


def _select(
    catalogue: Catalogue, archive: Path, request: MoveRequest, result: MoveResult
) -> list[CatalogueRecord]:
    """The records asked for, each widened to its whole shot; problems raise UsageError."""
    chosen: dict[str, CatalogueRecord] = {}
    problems: list[str] = []
    earlier: dict[str, tuple[str, str]] | None = None
    for target in request.paths:
        if (why := not_utf8_target(target)) is not None:
            problems.append(why)
            continue
        record, relpath = find_record(catalogue, target, archive)
        if earlier is None:
            earlier = _earlier_moves(archive)
        new, sha256 = earlier.get(record.archive_path if record else relpath, ("", ""))
        done = catalogue.record(new) if new else None
        if done is not None and sha256 and done.sha256.lower() != sha256:
            done = None  # another photo took that name since: not where this one went
        if record is None:
            if done is not None and done.patient_id == request.to:
                result.already.append((relpath, new))
            elif done is not None:
                problems.append(f"{target}: moved to {done.patient_id} before; it is {new} "
                                "now: give that path")  # fmt: skip
            elif ondisk.is_dir(Path(archive, relpath)) or ondisk.is_dir(Path(target)):
                problems.append(
                    f"{target}: a folder, not an archived photo; to move all of a patient's "
                    "photos give --from ID (with --diagnosis, --since or --until to choose)"
                )
            else:
                problems.append(f"{target}: not an archived photo in {archive}")
            continue
        if (
            done is not None
            and done.patient_id == request.to
            and record.sha256.lower() != (sha256 or done.sha256.lower())
            and not request.again
        ):  # a re-run, after another photo took the name the first one was moved from
            problems.append(
                f"{target}: moved to {request.to} before (it is {new} now); the photo under "
                f"that name now is another one, archived since (taken {record.captured_at}), "
                "so it is not moved by a command that may be the old one run again. If this "
                f"one belongs to {request.to} too, check it and give --again"
            )
            continue
        if record.role == "slate" and record.patient_id != request.to:
            problems.append(_slate_stays(record))
            continue
        chosen[record.archive_path] = record
    if request.from_id is not None:
        found = catalogue.search(
            patient_id=request.from_id,
            diagnosis=request.diagnosis,
            date_from=request.since,
            date_to=request.until,
        )
        typed = request.typed_at
        late = [r.archive_path for r in found if typed and r.archived_at > typed]
        if late:
            problems.append(
                f"--from {request.from_id}: {len(late)} of the photos it matches were filed "
                f"after this move was given (by another workstation, while it waited): "
                f"{some_of(late, 3)}. Check them, then give the move again, which takes them "
                "in, or give the paths to move"
            )
        slates = {r.archive_path for r in found if r.role == "slate" and r.patient_id != request.to}
        result.kept = [(r.archive_path, _slate_stays(r)) for r in found if r.archive_path in slates]
        found = [r for r in found if r.archive_path not in slates]
        if not found and not result.resumed:
            problem = _moved_already(catalogue, archive, request, result)
            if problem:
                problems.append(problem)
        chosen.update((r.archive_path, r) for r in found)
    if problems:
        raise UsageError(
            "Nothing was moved: some targets cannot be moved as given", details=problems
        )
    # Whole shots: every row of the same patient folder with the same base name.
    shots: dict[str, CatalogueRecord] = {}
    for patient_id in sorted({r.patient_id for r in chosen.values()}):
        bases = {_base(p) for p, r in chosen.items() if r.patient_id == patient_id}
        for record in catalogue.records(patient_id):
            if _base(record.archive_path) in bases:
                shots[record.archive_path] = record
    for path, record in chosen.items():
        shots.setdefault(path, record)
    return [shots[path] for path in sorted(shots)]


def _slate_stays(record: CatalogueRecord) -> str:
    """A slate is a photo of the label naming the patient it is filed under: under another
    patient it would show that patient's NHI in their folder (a share with ``--slates``
    sent it in their referral)."""
    return (
        f"{record.archive_path} is the slate of {record.patient_id}, a photo of the label "
        f"that names {record.patient_id}: it stays under {record.patient_id}"
    )


def _shot_order(records: Sequence[CatalogueRecord]) -> tuple[str, float, str, NameOrder, str]:
    """The ingest's order of shots (`plan.shots.same_second_order`), from what the catalogue
    kept of them: capture time, sub-second as a fraction, then the card folder and the
    name's numbers. Not the archive names: ``…-2.jpg`` sorts before ``….jpg``, which would swap the
    names of two shots of one second."""
    first = min(records, key=lambda r: r.source_path)
    folder, _, name = first.source_path.rpartition("/")
    stem = name.rpartition(".")[0] or name
    return (first.captured_at, subsec_fraction(first.subsec), folder, name_order(stem), stem)


class _Names:
    """Fresh names under the target patient: a base name clashes with nothing catalogued or
    on disk (archive or backup), nor with another shot of this move."""

    def __init__(self, taken: Iterable[str], roots: Iterable[Path]) -> None:
        self.bases = {_base(path) for path in taken}
        self.roots = list(roots)

    def _free(self, base: str) -> bool:
        if base in self.bases:
            return False
        folder, _, stem = base.rpartition("/")
        for root in self.roots:
            place = Path(root, *folder.split("/"))
            with contextlib.suppress(OSError):
                for entry in os.scandir(place):
                    if entry.name == stem or entry.name.startswith(stem + "."):
                        return False
        return True

    def claim(
        self,
        folder_template: str,
        name_template: str,
        patient_id: str,
        when: datetime,
    ) -> str:
        for suffix in range(1, MAX_SUFFIX + 1):
            name = target_path(folder_template, name_template, patient_id, when, suffix, "x")
            base = _base(name)
            if self._free(base):
                self.bases.add(base)
                return base
        raise ArchiveError(
            f"No free name for a photo of {patient_id} at {when} up to -{MAX_SUFFIX}"
        )


def plan_move(
    archive: Path,
    catalogue: Catalogue,
    request: MoveRequest,
    result: MoveResult,
    *,
    folder_template: str = DEFAULT_FOLDER_TEMPLATE,
    name_template: str = DEFAULT_NAME_TEMPLATE,
) -> tuple[list[FileMove], list[tuple[str, str]]]:
    """The file moves and the keyword-sidecar moves (absolute paths) for ``request``."""
    records = _select(catalogue, archive, request, result)
    moving = [r for r in records if r.patient_id != request.to]
    for record in records:
        if record.patient_id == request.to:
            result.already.append((record.archive_path, record.archive_path))
    conflicts: list[str] = []
    unreadable = False
    checker = CopyChecker()
    for record in moving:
        # Sidecars (THM, camera XMP) of two shots may well be identical: photos decide.
        photo = _extension(record.archive_path).lower() not in SIDECAR_EXTENSIONS
        there = catalogue.has_sha(request.to, record.sha256) if photo else None
        if there is not None:
            conflicts.append(
                f"{record.archive_path}: the same photo is already archived under "
                f"{request.to} as {there.archive_path}; leave it out of this move"
            )
        if not ondisk.is_file(archive / record.archive_path):
            conflicts.append(f"{record.archive_path}: missing from the archive (run verify)")
        elif not (state := checker.check(archive_file(archive, record), record.size,
                                         record.sha256, archive)).ok:  # fmt: skip
            conflicts.append(_not_the_photo(record.archive_path, state))
            unreadable = unreadable or state.status == "unreadable"
        if record.backup_path and not ondisk.is_file(Path(record.backup_path)):
            conflicts.append(_backup_gone(record))
        elif record.backup_path and not (state := second_copy(checker.check(
                Path(record.backup_path), record.size, record.sha256, _backup_root(record)),
                "backup", Path(record.backup_path), archive_file(archive, record))).ok:  # fmt: skip
            conflicts.append(_not_the_photo(record.backup_path, state))
            unreadable = unreadable or state.status == "unreadable"
    if conflicts:
        error = ArchiveError if unreadable else UsageError  # an I/O failure: exit 1
        raise error("Nothing was moved", details=conflicts)
    backup_roots = {root for r in moving if (root := _backup_root(r)) is not None}
    taken = catalogue.archive_state([request.to]).taken_paths
    names = _Names(taken, [archive, *sorted(backup_roots)])
    shots: dict[str, list[CatalogueRecord]] = {}
    for record in moving:
        shots.setdefault(_base(record.archive_path), []).append(record)
    moves: list[FileMove] = []
    sidecars: list[tuple[str, str]] = []
    catalogued = {r.archive_path for r in records}
    listed: dict[Path, list[str]] = {}  # backup folders' names, for `_named_as_others`
    for _old_base, members in sorted(shots.items(), key=lambda kv: _shot_order(kv[1])):
        first = min(members, key=lambda r: r.archive_path)
        when = datetime.fromisoformat(first.captured_at)
        new_base = names.claim(folder_template, name_template, request.to, when)
        shot_backups = {Path(r.backup_path) for r in members if r.backup_path}
        for record in sorted(members, key=lambda r: r.archive_path):
            ext = _extension(record.archive_path)
            new = f"{new_base}.{ext}" if ext else new_base
            root = _backup_root(record)
            moves.append(
                FileMove(
                    patient_from=record.patient_id,
                    old=record.archive_path,
                    new=new,
                    sha256=record.sha256,
                    ingest_id=record.ingest_id,
                    old_backup=record.backup_path,
                    new_backup=str(Path(root, *new.split("/"))) if root else None,
                )
            )
            if ext.lower() == "xmp":
                continue
            keyword_xmp = sidecar_path(Path(record.archive_path)).as_posix()
            if keyword_xmp in catalogued or catalogue.record(keyword_xmp) is not None:
                continue  # the camera's own XMP: catalogued, it moves as a file of the shot
            new_xmp = sidecar_path(Path(new))
            copies = [(archive, Path(archive, *keyword_xmp.split("/")))]
            if root is not None and record.backup_path:  # beside the backup copy, its name
                beside = sidecar_path(Path(record.backup_path))
                if not _named_as_others(beside, shot_backups, listed):
                    copies.append((root, beside))
            for place, old_path in copies:
                pair = (str(old_path), str(Path(place, *new_xmp.parts)))
                if pair not in sidecars and ondisk.is_file(old_path):  # one per shot, not per file
                    sidecars.append(pair)
    return moves, sidecars


def _named_as_others(sidecar: Path, shot: set[Path], listed: dict[Path, list[str]]) -> bool:
    """Whether a keywords sidecar in the backup is named as a file that is none of the
    shot's backup copies (another archive's, sharing the backup folder, where the shot's
    copies took the next free names, `-2`, and a RAW kept its own: a backup made before a
    shot's copies took one stem, `backupstems`): that sidecar is not only this shot's,
    and stays where it is. ``listed``: each folder's names, read once
    for the whole move."""
    folder = sidecar.parent
    if folder not in listed:
        try:
            listed[folder] = os.listdir(folder)
        except OSError:
            listed[folder] = []
    return any(
        Path(folder, name) not in shot
        for name in listed[folder]
        if name != sidecar.name and name.startswith(sidecar.stem + ".")
    )


# --- carrying it out ----------------------------------------------------------------------


def _journal_data(move_id: str, request: MoveRequest, operator: str, moves: list[FileMove],
                  sidecars: list[tuple[str, str]]) -> dict[str, Any]:  # fmt: skip
    return {
        "move_id": move_id,
        "to": request.to,
        "operator": operator,
        "started": _now(),
        "moves": [m.__dict__ for m in moves],
        "sidecars": [list(pair) for pair in sidecars],
    }


def _write_journal(archive: Path, data: dict[str, Any]) -> None:
    try:
        atomic_write_bytes(journal_path(archive), json.dumps(data, indent=1).encode("utf-8"))
    except OSError as exc:
        raise ArchiveError(f"Cannot write {journal_path(archive)}: {exc.strerror or exc}") from exc


def read_journal(archive: Path) -> dict[str, Any] | None:
    path = journal_path(archive)
    try:
        data = json.loads(journal_bytes(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise JournalRefused(
            archive,
            f"{path} (an interrupted move) cannot be read: {exc}; it names every path the "
            "move touched.",
            "No photo has been removed.",
        ) from exc
    if not isinstance(data, dict) or "moves" not in data:
        raise JournalRefused(archive, f"{path} is not a move journal.")
    wrong = _journal_fault(archive, data)
    if wrong is not None:
        raise JournalRefused(
            archive,
            f"{path} (an interrupted move) is not as cardingest wrote it: {wrong}.",
            "Nothing was changed; no photo has been removed.",
        )
    return data


def journal_bytes(path: Path) -> bytes:
    """A move journal's bytes, read only where it is a regular file: one opened without
    waiting (``O_NONBLOCK``), so a FIFO or a device put at its name (by anyone who may write
    ``.cardingest``) raises `OSError` instead of holding every later move, tag and DICOM
    command, and ``move --abandon-journal``, with the archive's lock, for ever."""
    return read_regular(path, follow=True)


class JournalRefused(ArchiveError):
    """A move journal cardingest will not carry out. The message is ``reason``, what the
    refusal left as it was, and who takes the journal out of the way; ``reason`` alone is
    what `abandon` shows, as it may remove second names itself."""

    def __init__(self, archive: Path, reason: str, left: str = "") -> None:
        super().__init__(" ".join(part for part in (reason, left, abandon_hint(archive)) if part))
        self.reason = reason


def abandon_hint(archive: Path) -> str:
    """What a refused journal's message ends with: who acts, and the one safe command."""
    return (
        "Keep the file; whoever looks after the archive takes it out of the way with "
        f"cardingest move --abandon-journal --archive {shlex.quote(str(archive))}, which "
        "removes only names proven second names of catalogued photos"
    )


def _journal_fault(archive: Path, data: dict[str, Any]) -> str | None:
    """What is wrong with a move journal read back, if anything: it says which files go
    where, and whoever may write the archive's folder may write it too, so a path that
    leaves the archive or its backup, or a photo going to another patient's folder than
    the move's, is refused before any file is touched."""
    # Every journal cardingest writes has all four: one without is edited, and carrying it
    # out stopped on the missing one with a traceback, the abandon then refusing it as one
    # that can be carried out.
    to, moves, sidecars = data.get("to"), data.get("moves"), data.get("sidecars")
    if not isinstance(to, str) or not isinstance(moves, list) or not isinstance(sidecars, list):
        return "its patient, moves or sidecars are missing"
    if not isinstance(data.get("move_id"), str):
        return "its move ID is missing"
    if not to.strip() or to != to.strip() or "/" in to or "\\" in to:
        return f"its patient {to[:80]!r} is no patient ID"
    fields = set(FileMove.__dataclass_fields__)
    roots = {archive.resolve()}
    own: set[tuple[Path, Path]] = set()  # each move's keyword sidecars, old name and new
    for entry in moves:
        if not isinstance(entry, dict) or not {"old", "new"} <= set(entry) <= fields:
            return f"a move entry is not one: {str(entry)[:80]!r}"
        old, new = entry["old"], entry["new"]
        if not all(isinstance(p, str) and plain_relpath(p) for p in (old, new)):
            return f"{str(old)[:80]!r} to {str(new)[:80]!r} leaves the archive"
        if not any(to in part for part in new.split("/")[:-1]):
            return f"{new!r} is not in a folder of {to}, the patient the move is to"
        if (entry.get("old_backup") is None) != (entry.get("new_backup") is None):
            return f"the backup copy of {str(old)[:80]!r} has no name both before and after"
        entry_roots: set[Path] = set()
        for rel, backup in ((old, entry.get("old_backup")), (new, entry.get("new_backup"))):
            if backup is None:
                continue
            tail = tuple(rel.split("/"))
            if not isinstance(backup, str) or not _backup_of(Path(backup).parts, tail, rel == old):
                return f"the backup copy {str(backup)[:80]!r} is not that of {rel!r}"
            entry_roots.add(_backup_folder(backup, rel).resolve())
        if len(entry_roots) > 1:
            return f"the backup copies of {str(old)[:80]!r} are in two backup folders"
        roots |= entry_roots
        own.add(_sidecars_of(Path(archive, *old.split("/")), Path(archive, *new.split("/"))))
        if entry.get("old_backup") is not None and entry.get("new_backup") is not None:
            own.add(_sidecars_of(Path(entry["old_backup"]), Path(entry["new_backup"])))
    for pair in sidecars:
        if not isinstance(pair, list) or len(pair) != 2:
            return f"a sidecar entry is not one: {str(pair)[:80]!r}"
        for name in pair:
            where = Path(str(name)).resolve()
            if where.suffix.lower() != ".xmp" or not any(r in where.parents for r in roots):
                return f"the sidecar {str(name)[:80]!r} is not in the archive or its backup"
        if (Path(str(pair[0])).resolve(), Path(str(pair[1])).resolve()) not in own:
            return (
                f"the sidecar {str(pair[0])[:80]!r} to {str(pair[1])[:80]!r} is not a moved "
                "photo's own, under its new name"
            )
    return None


def _sidecars_of(old: Path, new: Path) -> tuple[Path, Path]:
    """The keyword sidecar of a photo at ``old`` and where it goes with it to ``new``."""
    return sidecar_path(old).resolve(), sidecar_path(new).resolve()


def _backup_of(parts: tuple[str, ...], tail: tuple[str, ...], renamed: bool) -> bool:
    """Whether a backup path's ``parts`` end in an archive path's ``tail``: its folders, and
    its name too, or where it may be ``renamed`` (the backup copy a move takes) a name
    publishing tries for it, ``NAME-2.EXT`` on (`_backup_root`)."""
    if len(parts) <= len(tail) or parts[-len(tail) : -1] != tail[:-1]:
        return False
    return parts[-1] == tail[-1] or (renamed and parts[-1] in candidate_names(tail[-1]))


def _backup_gone(record: CatalogueRecord) -> str:
    """Why a photo whose backup copy is not there cannot move, and what to do."""
    root = _backup_root(record)
    if root is None or not ondisk.is_dir(root / METADIR):
        return (
            f"{record.archive_path}: its backup copy {record.backup_path} is not there (is "
            "the backup drive connected?)"
        )
    return (
        f"{record.archive_path}: its backup copy {record.backup_path} is missing, though the "
        "backup drive is there. Ingest its card again if the card still holds the photo (that "
        "puts the copy back), or copy the archive copy to that path; then move again"
    )


def pending_move_warnings(archive: Path) -> list[str]:
    """A warning for an interrupted move, for `verify`, `preview`, `ingest` and `wipe`: until
    it finishes, its photos are on disk under both names, the old ones "unexpected"."""
    if not ondisk.exists(journal_path(archive)):
        return []
    try:
        data = read_journal(archive)
    except ArchiveError as exc:
        return [str(exc)]
    if data is None:
        return []
    return [
        f"move {data.get('move_id')} of {len(data['moves'])} file(s) to {data.get('to')} was "
        "interrupted: until it finishes, its photos may be under both names (those the "
        "catalogue does not name show as unexpected). The next cardingest move or tag "
        "finishes it first"
    ]


def pending_move_names(archive: Path) -> frozenset[str]:
    """The archive paths an interrupted move is to give its photos, and those it takes them
    from (unlinked already once their rows are refiled): not free for an ingest until the
    move finishes, or the move could not link (or leave) its photo there, and every later
    move and tag would stop on it. Empty for a journal that cannot be read (said by
    `pending_move_warnings`; the move then refuses a name taken meanwhile, nothing lost)."""
    if not ondisk.exists(journal_path(archive)):
        return frozenset()
    try:
        data = read_journal(archive)
    except ArchiveError:
        return frozenset()
    if data is None:
        return frozenset()
    return frozenset(str(entry[key]) for entry in data["moves"] for key in ("old", "new"))


def _same_content(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
        if a.stat().st_size != b.stat().st_size:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                ca, cb = fa.read(1 << 20), fb.read(1 << 20)
                if ca != cb:
                    return False
                if not ca:
                    return True
    except OSError:
        return False


def _refuse_leaving(new: Path, roots: Iterable[Path]) -> None:
    """A new name whose folder, below its archive or backup root, is a symbolic link or
    another mount: the photo would leave the archive (for the card, say). Refused before
    anything is linked; the move can be run again once the folder is a real one."""
    for root in roots:
        if new.is_relative_to(root):
            left = leaves_root(root, new.relative_to(root).parts[:-1])
            if left is not None:
                raise ArchiveError(
                    f"Not moving: {left[0]} {left[1]}, not a folder of {root}. Nothing was "
                    "moved; remove it, then run the same move again to finish."
                )
            return


def link_blocked(old: Path, new: Path) -> str | None:
    """Why ``old``'s file cannot be given the name ``new`` (`_link`), if it cannot."""
    if ondisk.exists(new):
        if ondisk.exists(old) and not _same_content(old, new):
            return f"{new} exists with other content; {old} was not moved"
        return None
    if not ondisk.exists(old):
        return f"{old} is gone and {new} does not exist"
    return None


def _link(old: Path, new: Path) -> None:
    """Give ``old``'s file the name ``new`` too; idempotent; never replaces another file."""
    blocked = link_blocked(old, new)
    if blocked is not None:
        raise ArchiveError(blocked if ondisk.exists(new) else f"{blocked}; run verify")
    if ondisk.exists(new):
        return
    for folder in make_dirs(new.parent):  # the patient's folder, with its mode (storage.modes)
        fsync_dir(folder.parent)
    try:
        os.link(old, new)
    except OSError as exc:
        if exc.errno not in NO_HARDLINKS:
            raise
        try:  # no hard links here: a rename, and the journal still names both
            rename_free(old, new)
        except FileExistsError:
            raise ArchiveError(f"{new} appeared while moving {old}") from None
    fsync_dir(new.parent)


def _unlink_old(old: Path, new: Path) -> None:
    if not ondisk.exists(old):
        return
    if not _same_content(old, new):
        raise ArchiveError(f"{new} does not hold {old}'s file; {old} was kept")
    old.unlink()
    fsync_dir(old.parent)


def _rewrite_manifests(
    catalogue: Catalogue, archive: Path, moves: Sequence[FileMove]
) -> list[Path]:
    ingests: dict[str, set[Path]] = {}
    for m in moves:
        if m.ingest_id:
            roots = ingests.setdefault(m.ingest_id, set())
            if m.new_backup:
                roots.add(_backup_folder(m.new_backup, m.new))
    return rewrite_manifests(catalogue, archive, ingests)


def _pairs(archive: Path, data: dict[str, Any]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Every (old, new) name of a journal's files, and the roots they lie under."""
    moves = [FileMove(**entry) for entry in data["moves"]]
    pairs: list[tuple[Path, Path]] = []
    for move in moves:
        pairs.append((Path(archive, *move.old.split("/")), Path(archive, *move.new.split("/"))))
        if move.old_backup and move.new_backup:
            pairs.append((Path(move.old_backup), Path(move.new_backup)))
    pairs += [(Path(a), Path(b)) for a, b in data["sidecars"]]
    roots = [Path(archive)] + [_backup_folder(m.old_backup, m.old) for m in moves if m.old_backup]
    return pairs, roots


def _undone(
    archive: Path, data: dict[str, Any], pairs: list[tuple[Path, Path]], roots: list[Path]
) -> bool:
    """Take back a move stopped (Ctrl-C, a refusal, a disk error) before its rows were
    refiled: the new names it linked go, the journal too, so no later command carries out
    a move its operator stopped. False, and nothing touched, once the rows are refiled (or
    that cannot be told): the journal then finishes it, as after a kill."""
    try:
        with Catalogue.open(archive, create=False) as catalogue:
            if any(catalogue.record(str(entry["old"])) is None for entry in data["moves"]):
                return False
        for old, new in pairs:
            if ondisk.exists(old) and ondisk.exists(new) and os.path.samefile(old, new):
                new.unlink()
            elif not ondisk.exists(old) and ondisk.exists(new):  # renamed, where no hard links are
                rename_free(new, old)
            else:
                continue
            fsync_dir(new.parent)
            fsync_dir(old.parent)
        remove_empty_folders((new.parent for _old, new in pairs), roots)
        path = journal_path(archive)
        path.unlink()
        fsync_dir(path.parent)
    except Exception:  # the journal stays, and finishes the move later
        return False
    return True


def _undone_error(exc: CardingestError, move_id: str) -> CardingestError:
    """``exc``, said of a move that was taken back: not "run it again to finish"."""
    why = exc.message.split(". Nothing")[0].split("; nothing")[0].rstrip(".")
    kept = [line for line in exc.details if not line.startswith(("Move ", "Nothing"))]
    error = CardingestError(f"{why}. Move {move_id} was undone: nothing was moved.", details=kept)
    error.exit_code = exc.exit_code
    return error


def carry_out(archive: Path, data: dict[str, Any]) -> tuple[list[FileMove], list[tuple[str, str]]]:
    """Steps 1-6 of the module doc for one journal; safe to repeat after a kill at any point."""
    moves = [FileMove(**entry) for entry in data["moves"]]
    sidecars = [(str(a), str(b)) for a, b in data["sidecars"]]
    pairs, roots = _pairs(archive, data)
    for _old, new in pairs:
        _refuse_leaving(new, roots)
    _refuse_unlike_catalogue(archive, data, moves)
    try:
        shared = _shared_backup_copies(archive, moves)
        _carry_out(archive, data, moves, sidecars, pairs, roots, shared)
    except CardingestError as exc:  # the catalogue's server stopped, say, part way
        exc.stopped_midway(
            f"Move {data['move_id']} stopped part way; nothing is lost: its journal "
            f"({journal_path(archive)}) is kept, and the next `cardingest move` finishes it."
        )
        raise
    return moves, sidecars


def _refuse_unlike_catalogue(archive: Path, data: dict[str, Any], moves: list[FileMove]) -> None:
    """ArchiveError unless every file the journal moves is the catalogue's: under its old
    name, of the patient and content the journal says (with that backup copy), or, once
    refiled, under its new one, of the patient the move is to. A journal edited to take
    another patient's photo, or to point a row elsewhere, changes nothing."""
    with Catalogue.open(archive, create=False) as catalogue:
        for move in moves:
            before, after = catalogue.record(move.old), catalogue.record(move.new)
            if before is not None:
                same = (before.patient_id, before.sha256, before.backup_path) == (
                    move.patient_from,
                    move.sha256,
                    move.old_backup,
                )
            elif after is not None:
                same = (after.patient_id, after.sha256, after.backup_path) == (
                    data["to"],
                    move.sha256,
                    move.new_backup,
                )
            else:
                same = False
            if not same:
                raise JournalRefused(
                    archive,
                    f"{journal_path(archive)} (an interrupted move) does not match the "
                    f"catalogue: {move.old} is not, in the catalogue, the photo it says (its "
                    "patient, content or backup copy; the file edited, or the catalogue "
                    "changed since).",
                    "Nothing was changed; no photo has been removed.",
                )


def _carry_out(
    archive: Path,
    data: dict[str, Any],
    moves: list[FileMove],
    sidecars: list[tuple[str, str]],
    pairs: list[tuple[Path, Path]],
    roots: list[Path],
    shared: set[Path],
) -> None:
    try:
        for old, new in pairs:
            _link(old, new)
        with Catalogue.open(archive, create=False) as catalogue:
            catalogue.move_rows([(m.old, m.new, data["to"], m.new_backup) for m in moves])
            _rewrite_manifests(catalogue, archive, moves)
        for old, new in pairs:
            if old not in shared:
                _unlink_old(old, new)
    except OSError as exc:
        raise ArchiveError(
            f"Move {data['move_id']} stopped: {exc.strerror or exc} ({exc.filename}). Nothing "
            "is lost: run the same move again to finish it."
        ) from exc
    remove_empty_folders((old.parent for old, _new in pairs), roots)
    log = AuditLog(archive)
    if not any(
        e.get("event") == "move" and e.get("move_id") == data["move_id"] for e in log.events()
    ):
        log.append(
            "move",
            move_id=data["move_id"],
            operator=data.get("operator", ""),
            to=data["to"],
            moves=[
                {
                    "from": m.patient_from,
                    "old": m.old,
                    "new": m.new,
                    "sha256": m.sha256,
                    "old_backup": m.old_backup,
                    "new_backup": m.new_backup,
                }
                for m in moves
            ],
            sidecars=[{"old": a, "new": b} for a, b in sidecars],
        )
    path = journal_path(archive)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        fsync_dir(path.parent)


def _shared_backup_copies(archive: Path, moves: Sequence[FileMove]) -> set[Path]:
    """The moves' old backup copies that another archive's manifest in the backup lists too.
    Two archives may share a backup folder; a photo ingested into both has one backup file
    there (the second ingest found it identical and kept it, before each shot's backup
    copies took a stem of their own: `backupstems`), which both catalogues name,
    so a move in one must not take it from the other: it stays under its old name too, with
    its keywords sidecar."""
    olds = {Path(m.old_backup): _backup_folder(m.old_backup, m.old) for m in moves if m.old_backup}
    if not olds:
        return set()
    listed = _listed_elsewhere(archive, olds.values())
    shared = {old for old in olds if old in listed}
    # Its keywords sidecar stays with it, and so does every sidecar of the other archives'
    # files (a shot whose backup copies took the next free name, `-2`, beside theirs: its
    # RAW kept its name, so its sidecar's name is their JPEG's sidecar's).
    return shared | {sidecar_path(path) for path in (*shared, *listed)}


BackupLocks = Callable[[set[Path]], contextlib.AbstractContextManager[Any]]


def lock_backups(doing: str) -> BackupLocks:
    """The `BackupLocks` of a command: each backup root's lock, held as ``doing``."""

    @contextlib.contextmanager
    def held(roots: set[Path]) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for root in sorted(roots):
                stack.enter_context(ArchiveLock(root, doing))
            yield

    return held


def _backup_roots(moves: Iterable[FileMove]) -> set[Path]:
    return {_backup_folder(m.old_backup, m.old) for m in moves if m.old_backup}


@contextlib.contextmanager
def _writing(archive: Path, roots: set[Path], backup_locks: BackupLocks | None) -> Any:
    """The backups' locks, and the temporaries of a dead run swept from every root. A
    backup folder that holds no backup (its drive not connected: an empty mount point, or
    nothing there) is refused first: its lock, and a copy's folders, would be made on the
    disk below, and the next `ingest --backup` would take that for the backup."""
    for root in sorted(roots):
        if not ondisk.is_dir(Path(root, METADIR)):
            raise ArchiveError(
                f"The backup folder {root} holds no backup now (no {Path(root, METADIR)}: is "
                "its drive connected?); nothing was changed. The move waits for it: run this "
                "again once the drive is there"
            )
    with contextlib.ExitStack() as stack:
        if backup_locks is not None and roots:
            stack.enter_context(backup_locks(roots))
        for root in [Path(archive), *sorted(roots)]:
            stack.enter_context(writing_to(root))
        yield


def finish_interrupted(
    archive: Path, result: MoveResult | None = None, backup_locks: BackupLocks | None = None
) -> str | None:
    """Finish a move a kill interrupted, if its journal is there; returns its move ID.

    The caller holds the archive lock.
    """
    data = read_journal(archive)
    if data is None:
        return None
    roots = _backup_roots(FileMove(**entry) for entry in data["moves"])
    with _writing(archive, roots, backup_locks):
        carry_out(archive, data)
    if result is not None:
        result.resumed.append(str(data["move_id"]))
    return str(data["move_id"])


def move(
    archive: Path,
    request: MoveRequest,
    *,
    operator: str,
    folder_template: str = DEFAULT_FOLDER_TEMPLATE,
    name_template: str = DEFAULT_NAME_TEMPLATE,
    backup_locks: BackupLocks | None = None,
    uid_root: str | None = None,
) -> MoveResult:
    """Move what ``request`` names to ``request.to``. The caller holds the archive lock.

    An interrupted move is finished first. ``backup_locks`` is called with the backup roots
    involved, before any change there, and must return a context that holds their locks.
    ``uid_root`` (the config's ``dicom_uid_root``) tells which PACS hold a photo under the
    patient it goes to already (`MoveResult.at_pacs` leaves them out: every other holds it
    under another patient, or an earlier root); None: any PACS that holds it at all.
    """
    if not request.paths and request.from_id is None:
        raise UsageError("Say what to move: archive paths, or --from ID (with filters)")
    if request.paths and request.from_id is not None:
        raise UsageError("Give archive paths or --from ID, not both")
    if request.again and not request.paths:
        raise UsageError("--again goes with archive paths: it moves the photo a path names now")
    if request.from_id is None and (request.diagnosis or request.since or request.until):
        raise UsageError("--diagnosis, --since and --until filter --from ID; give --from too")
    if request.from_id is not None and request.from_id == request.to:
        raise UsageError(f"--from and --to are the same ID ({request.to}); nothing to move")
    require_catalogue(archive)  # in SQLite or PostgreSQL, as the archive is bound
    # A torn or changed audit log would refuse the move's event after the files moved.
    AuditLog(archive).require_appendable()
    result = MoveResult(to=request.to)
    finish_interrupted(archive, result, backup_locks)
    try:
        with Catalogue.open(archive, create=False) as catalogue:
            moves, sidecars = plan_move(
                archive,
                catalogue,
                request,
                result,
                folder_template=folder_template,
                name_template=name_template,
            )
            right = (
                {m.old: uids.instance(uid_root, request.to, m.sha256) for m in moves}
                if uid_root is not None
                else None
            )
            at_pacs = catalogue.dicom_destinations([m.old for m in moves], right)
    except CatalogueError as exc:  # the catalogue's server stopped, say, before any change
        if not any(line.startswith("Nothing was") for line in exc.details):
            exc.details.append(
                "Nothing was moved; run the same command again once this is put right."
            )
        raise
    if not moves:
        return result
    move_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + os.urandom(3).hex()
    data = _journal_data(move_id, request, operator, moves, sidecars)
    pairs, roots = _pairs(archive, data)
    for _old, new in pairs:  # refused before the journal, which any later command finishes
        _refuse_leaving(new, roots)
        if ondisk.exists(new) or ondisk.is_symlink(new):
            raise ArchiveError(f"{new} is there already; nothing was moved. Run verify")
    with _writing(archive, _backup_roots(moves), backup_locks):
        _write_journal(archive, data)
        try:
            result.moved, result.sidecars = carry_out(archive, data)
        except BaseException as exc:
            undone, again = False, False
            try:
                with held_interrupts():  # a second Ctrl-C waits for the undo, then comes here
                    undone = _undone(archive, data, pairs, roots)
            except KeyboardInterrupt:
                again = True
            if not undone and isinstance(exc, KeyboardInterrupt):
                raise Interrupted(
                    f"Interrupted after the photos were refiled: move {move_id} stopped part "
                    f"way, its journal ({journal_path(archive)}) is kept, and the next "
                    "cardingest move, tag or dicom command finishes it. Nothing is lost."
                ) from None
            if not undone:
                raise
            if isinstance(exc, KeyboardInterrupt) or again:
                raise Interrupted(
                    "Interrupted before the photos were refiled: the move was undone, and "
                    "nothing was moved."
                ) from None
            if isinstance(exc, CardingestError):
                raise _undone_error(exc, move_id) from exc
            raise
    result.move_id = move_id
    result.at_pacs = {m.new: at_pacs[m.old] for m in result.moved if m.old in at_pacs}
    return result


def _listed_elsewhere(archive: Path, roots: Iterable[Path]) -> set[Path]:
    """The files another archive's manifests list in these backup folders (two archives
    may share one: `_shared_backup_copies`)."""
    if not roots:
        return set()
    with Catalogue.open(archive, create=False) as catalogue:
        ours = {str(ingest["ingest_id"]) for ingest in catalogue.ingests()}
    listed: set[Path] = set()
    for root in set(roots):
        for ingest_id in manifested_ingests(root):
            if ingest_id not in ours:
                with contextlib.suppress(OSError, ValueError):
                    listed.update(root / rel for _sha, rel in read_manifest(
                        manifest_path(root, ingest_id)))  # fmt: skip
    return listed
