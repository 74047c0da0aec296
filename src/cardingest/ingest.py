"""Execute a plan: verified copies, catalogue rows, manifests, and the audit event.

A photo counts as archived only when every destination holds a copy proven on disk; only
then does it get a catalogue row. The manifest of an ingest is written from its catalogue
rows, so it always matches them, even for an ingest that was killed (it is rewritten by the
next run).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from .archive.audit import AuditLog
from .archive.backend import location_for
from .archive.backupstems import BackupStems
from .archive.catalogue import Catalogue, CatalogueRecord
from .archive.claims import content_claims, guarded
from .archive.journal import PublishJournal, all_recorded, recover
from .archive.lock import ArchiveLock, sole_writer
from .archive.manifest import write_archive_manifest, write_copies_manifest
from .archive.provenance import recorded_source
from .archive.repair import repair_copies
from .archive.xmp import (
    give_way,
    keywords_of,
    reserved_names,
    write_for_copy,
    write_sidecars,
)
from .card.fattimes import fat_dated
from .card.kinds import is_sidecar
from .card.scan import fingerprint_read, read_again, same_reading
from .errors import ArchiveError, CardingestError, InsufficientSpaceError, Interrupted
from .host import host_name
from .models import METADIR, Card, MediaFile, Plan, PlanItem, Settings
from .plan.naming import format_clock_offset
from .plan.planner import SAME_CONTENT, card_twin
from .prepare import blocked_folders, has_catalogue, photo_of
from .storage import modes, ondisk
from .storage.durable import (
    FolderSyncs,
    fsync_dir,
    remove_stale_temps_in,
    writing_beside,
    writing_to,
)
from .storage.interrupts import held_interrupts
from .storage.transfer import (
    TEMP_PREFIX,
    WORKERS,
    ContentGate,
    Copied,
    Destination,
    TransferResult,
    free_space,
    transfer_many,
)
from .text import some_of

BATCH_FILES = 50
BATCH_SECONDS = 2.0
SPACE_MARGIN = 16 * 1024 * 1024
CATALOGUE_CACHE_KIB = 256
"""SQLite's page cache for the ingest's connection: rows are appended in batches, so a
small cache costs little, where the 2 MiB default grows with the card (issue 16)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one planned file."""

    item: PlanItem
    action: str
    target: str | None
    sha256: str | None = None
    backup_target: str | None = None
    error: str | None = None
    reason: str | None = None


def as_planned(item: PlanItem) -> Outcome:
    """The outcome of an item that needs no copy: just what the plan says (a hold, a skip)."""
    return Outcome(item, item.action, item.target, reason=item.reason)


_MISSING, _AS_PLANNED, _COPIED, _OTHER = 0, 1, 2, 3


class Outcomes(Sequence[Outcome]):
    """The outcome of every plan item, in plan order, held compactly until the end.

    The ``--json`` document and the summary need every outcome after the last copy, so a
    card of 10,000 photos would keep 10,000 `Outcome` objects, each with its SHA-256 as hex
    text. Here a photo copied under its planned name keeps one code byte and its 32-byte
    digest; a file the plan did not copy keeps one byte; anything else (a failure, a skip of
    same content, a backup copy, a repair) keeps its `Outcome`. Reading one builds an
    `Outcome` equal to the one stored.
    """

    def __init__(self, items: Sequence[PlanItem] = (), missing: str = "not copied") -> None:
        self._items = items
        self._codes = bytearray(len(items))
        self._digests = bytearray(32 * len(items))
        self._others: dict[int, Outcome] = {}
        self.missing = missing
        """The error of an item that never got an outcome (the run stopped before it)."""

    def __len__(self) -> int:
        return len(self._items)

    def set(self, index: int, outcome: Outcome) -> None:
        item = self._items[index]
        assert outcome.item is item
        self._others.pop(index, None)
        if outcome == as_planned(item):
            self._codes[index] = _AS_PLANNED
            return
        digest = _digest(outcome.sha256)
        if digest is not None and outcome == Outcome(
            item, "copy", item.target, sha256=outcome.sha256
        ):
            self._codes[index] = _COPIED
            self._digests[32 * index : 32 * index + 32] = digest
            return
        self._codes[index] = _OTHER
        self._others[index] = outcome

    def action(self, index: int) -> str:
        code = self._codes[index]
        if code == _AS_PLANNED:
            return self._items[index].action
        if code == _COPIED:
            return "copy"
        if code == _OTHER:
            return self._others[index].action
        return "failed"

    def unsettled(self) -> int:
        """How many items have no outcome yet."""
        return self._codes.count(_MISSING)

    def actions(self) -> Iterator[str]:
        return (self.action(index) for index in range(len(self)))

    def _get(self, index: int) -> Outcome:
        item = self._items[index]
        code = self._codes[index]
        if code == _AS_PLANNED:
            return as_planned(item)
        if code == _COPIED:
            sha256 = self._digests[32 * index : 32 * index + 32].hex()
            return Outcome(item, "copy", item.target, sha256=sha256)
        if code == _OTHER:
            return self._others[index]
        return Outcome(item, "failed", None, error=self.missing)

    def __getitem__(self, index: int) -> Outcome:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError("Outcomes are read one at a time")
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._get(index)

    def __iter__(self) -> Iterator[Outcome]:
        return (self._get(index) for index in range(len(self)))


def _digest(sha256: str | None) -> bytes | None:
    """The 32 bytes of a lower-case hex SHA-256, or None if it would not read back the same."""
    if sha256 is None or len(sha256) != 64:
        return None
    try:
        digest = bytes.fromhex(sha256)
    except ValueError:
        return None
    return digest if digest.hex() == sha256 else None


@dataclass
class IngestResult:
    ingest_id: str
    plan: Plan
    outcomes: Sequence[Outcome] = field(default_factory=Outcomes)
    bytes_copied: int = 0
    seconds: float = 0.0
    manifest: Path | None = None
    backup_manifest: Path | None = None
    interrupted: bool = False
    stale_temps: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    """Those of ``warnings`` that say what a killed run left and this one recorded first:
    said before the files' lines, whose reasons ("already archived under …") they explain."""

    def count(self, action: str) -> int:
        outcomes = self.outcomes
        if isinstance(outcomes, Outcomes):
            return sum(1 for done in outcomes.actions() if done == action)
        return sum(1 for outcome in outcomes if outcome.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {
            name: self.count(action)
            for name, action in (
                ("copied", "copy"),
                ("skipped", "skip"),
                ("held", "hold"),
                ("failed", "failed"),
            )
        }


def new_ingest_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + os.urandom(3).hex()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_space(plan: Plan, roots: list[Path]) -> None:
    """Refuse before the first byte when a destination cannot hold the copies."""
    needed = plan.bytes_to_copy
    if not needed:
        return
    for root in roots:
        free = free_space(root)
        if free is not None and free < needed + SPACE_MARGIN:
            raise InsufficientSpaceError(
                f"Not enough space in {root}: {needed:,} bytes to copy (+{SPACE_MARGIN:,} "
                f"spare), {free:,} bytes free. Nothing was copied."
            )


def check_folders(plan: Plan, roots: list[Path]) -> None:
    """A file or a link where a patient's folder goes would fail each of that patient's
    photos ("File exists", "is a symbolic link"): one message before the first byte."""
    found = blocked_folders(plan, roots)
    if found:
        raise ArchiveError(
            f"{found[0]}: photos are to be filed in it. Move it aside (or rename it) and run "
            "the command again; nothing was copied.",
            details=found[1:],
        )


def prepare_destination(root: Path) -> None:
    """Create the archive (or backup) root, and prove it writable before anything else."""
    try:
        modes.make_dirs(root / METADIR)
        probe = root / METADIR / f"{TEMP_PREFIX}probe-{os.getpid()}"
        os.close(modes.create(probe, os.O_WRONLY))
        probe.unlink()
    except OSError as exc:
        raise ArchiveError(f"Cannot write to {root}: {exc.strerror or exc}") from None


def recover_dead_runs(catalogue: Catalogue, audit: AuditLog, archive: Path) -> list[str]:
    """Finish what runs that died left, for a run alone on the archive; a warning for each.

    The photos a dead run published without recording them are recorded from its publish
    journal (`journal.recover`), its manifest is written from its rows, and its ingest is
    closed as ``crashed``. Done before planning (`recover_before_planning`): a plan made
    first would not see those photos, and could file them again under another patient.
    `execute` calls it again, for a caller that did not: then it finds nothing left.
    """

    def audited(ingest_id: str, paths: list[str]) -> None:
        audit.append("recover", ingest_id=ingest_id, recorded=paths)

    done, warnings = recover(catalogue, archive, audited)
    complete = {recovered.ingest_id: not recovered.unknown for recovered in done}
    ingests = catalogue.ingests()
    backups = {ingest["ingest_id"]: ingest["backup"] for ingest in ingests}
    repaired: dict[str, list[str]] | None = None
    manifested: set[str] = set()
    for recovered in done:
        warnings += list(recovered.problems)
        if recovered.unknown:
            warnings.append(
                f"ingest {recovered.ingest_id} stopped; {len(recovered.unknown)} file(s) in "
                "the folders it copied into have no catalogue row (a copy changed since, a "
                "name a power cut kept while it lost the journal's line, or a file put there "
                f"by hand): {some_of(recovered.unknown, 3)}. `cardingest verify` lists them; if "
                "they are photos it misfiled, remove them (that loses nothing: a photo "
                "leaves the card only once a recorded copy of it is proven)"
            )
        if recovered.recorded:
            paths = [record.archive_path for record in recovered.recorded]
            own_backup = _reachable(backups.get(recovered.ingest_id))
            _write_manifests(catalogue, recovered.ingest_id, archive, own_backup)
            manifested.add(recovered.ingest_id)
            warnings.append(
                f"ingest {recovered.ingest_id} stopped after it copied {len(paths)} photo(s) "
                "without recording them; they are recorded now, under the IDs and keywords "
                f"it gave them (its map, --id, slates or answers): {some_of(paths, 3)}. If an ID "
                "was wrong, put them right "
                "with `cardingest move`, and their diagnosis, site and consent with "
                "`cardingest tag`"
            )
    for ingest in ingests:
        if ingest.get("status") == "running":
            warnings.append(
                f"ingest {ingest['ingest_id']} (started {ingest.get('started')}) stopped "
                + (
                    "before it finished; every photo it copied is recorded"
                    if complete.get(ingest["ingest_id"])
                    else "before it finished (see above for what it may have left)"
                    if ingest["ingest_id"] in complete
                    else _NAMED_NOTHING
                    if _named_nothing(catalogue, ingest["ingest_id"])
                    else "before it finished, and left no publish journal: a run removes "
                    "its journal once every photo it copied is recorded, so they are, unless "
                    "the run was of a cardingest older than the journal (2026-12) or the "
                    "journal was deleted by hand. Then photos it had copied may lie in the "
                    "archive unknown to the catalogue: `cardingest verify` lists them as "
                    "unexpected; if that map was wrong, remove them (that loses nothing: a "
                    "photo leaves the card only once a recorded copy of it is proven)"
                )
            )
            own_backup = _reachable(ingest["backup"])
            if ingest["ingest_id"] not in manifested:
                _write_manifests(catalogue, ingest["ingest_id"], archive, own_backup)
            if own_backup is not None:
                if repaired is None:  # the log read once, and only for such a run
                    repaired = _repaired_by(audit)
                put_back = repaired.get(ingest["ingest_id"], [])
                write_backed_up_manifests(catalogue, put_back, own_backup)
            catalogue.finish_ingest(
                ingest["ingest_id"],
                finished=_now(),
                counts={},
                bytes_copied=0,
                manifest=str(_manifest_relpath(ingest["ingest_id"])),
                status="crashed",
            )
    for recovered in done:  # last: a kill before this finds the journal again, and its rows
        recovered.path.unlink(missing_ok=True)
    if done:
        fsync_dir(done[0].path.parent)
    return warnings


_NAMED_NOTHING = (
    "before it finished, with no photo recorded and none claimed: it copied none (a run "
    "claims each photo in the catalogue before it names the copy, and keeps the claim until "
    "the photo is recorded; only a cardingest older than 2026-12, which made no claims, "
    "could have left copies the catalogue does not know, and `cardingest verify` would "
    "list them)"
)
"""A dead run with no journal that named nothing (`_named_nothing`): one the catalogue's
server left "running" as it stopped before the first copy (a trial's was warned of as one
whose copies may lie in the archive unknown, to be removed)."""


def _named_nothing(catalogue: Catalogue, ingest_id: str) -> bool:
    """Whether a dead run with no publish journal provably named no photo: no row is its,
    and it claimed no content (PostgreSQL keeps the claims of a run left ``running``
    until it is closed, and a run claims each photo before naming it). SQLite keeps no
    claims: there a journal gone is all that is known, and the warning stays."""
    claimed = catalogue.claimed(ingest_id)
    if not claimed and claimed is not None:
        return next(catalogue.manifest_entries(ingest_id), None) is None
    return False


def _reachable(backup: str | None) -> Path | None:
    """A dead run's backup folder, for its manifests, if it is there now (a backup disk
    away, the NAS offline, is no reason to stop this run: `verify` checks the copies by
    their rows, and the next run given that backup writes the manifests of what it mends)."""
    return Path(backup) if backup and ondisk.is_dir(Path(backup)) else None


def _repaired_by(audit: AuditLog) -> dict[str, list[str]]:
    """For each run, the archive paths whose copies it put back or first made in its backup,
    from its audit events (each comes before its catalogue change)."""
    found: dict[str, list[str]] = {}
    for event in audit.events():
        if event.get("event") == "repair" and event.get("archive_path"):
            found.setdefault(str(event.get("ingest_id")), []).append(str(event["archive_path"]))
    return found


def recover_before_planning(archive: Path) -> list[str]:
    """`recover_dead_runs` for a command about to plan an ingest, under the archive's lock.
    Nothing to do for a new archive, nor beside another desk's live run (PostgreSQL)."""
    if not has_catalogue(archive):
        return []
    with sole_writer(archive) as alone:
        if not alone:
            return []
        with Catalogue.open(archive, create=False) as catalogue:
            return recover_dead_runs(catalogue, AuditLog(archive), archive)


def _manifest_relpath(ingest_id: str) -> Path:
    return Path(METADIR, "manifests", f"{ingest_id}.sha256")


def _write_manifests(
    catalogue: Catalogue, ingest_id: str, archive: Path, backup: Path | None
) -> tuple[Path | None, Path | None]:
    """Manifests (archive, backup) of one ingest from its catalogue rows; None if it copied none."""
    with _manifest_errors(ingest_id):
        manifest = write_archive_manifest(catalogue, archive, ingest_id)
    if manifest is None:
        return None, None
    backup_manifest = (
        None if backup is None else _write_backup_manifest(catalogue, ingest_id, backup)
    )
    return manifest, backup_manifest


def _write_backup_manifest(catalogue: Catalogue, ingest_id: str, backup: Path) -> Path | None:
    """The backup's manifest of one ingest: its rows' copies in ``backup``. None when it has
    none there (a dead run's, or one that made no backup copy)."""
    with _manifest_errors(ingest_id):
        return write_copies_manifest(catalogue, backup, ingest_id)


def write_backed_up_manifests(
    catalogue: Catalogue, archive_paths: Iterable[str], backup: Path
) -> None:
    """Backup copies a later run made or put back (a first backup copy of a photo archived
    with none, a copy a killed run never made) are their own ingest's copies (the rows are
    that ingest's): its manifest in the backup is written again, so that ``sha256sum -c``
    in the backup checks them too."""
    ingest_ids = set()
    for archive_path in archive_paths:
        record = catalogue.record(archive_path)
        if record is not None and record.ingest_id:
            ingest_ids.add(record.ingest_id)
    for ingest_id in sorted(ingest_ids):
        _write_backup_manifest(catalogue, ingest_id, backup)


@contextlib.contextmanager
def _manifest_errors(ingest_id: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:  # a full or failing disk: a message, not a traceback
        raise ArchiveError(
            f"Cannot write the manifest of ingest {ingest_id}: {exc.strerror or exc}",
            details=[
                "Every catalogued photo is verified on disk. Run the ingest again once the "
                "disk can be written (space, permissions): it writes this manifest and copies "
                "whatever did not make it."
            ],
        ) from exc


class _Batcher:
    """Catalogue rows written in batches: one transaction per ~50 files or ~2 seconds.

    The folders the batch's files were published into are fsynced first (``folders``), so a
    row is only ever committed for a file whose name is on the disk; the publish journal
    before them, so its lines are on the disk up to this batch (see `archive.journal`).
    """

    def __init__(
        self,
        catalogue: Catalogue,
        folders: FolderSyncs,
        journal: PublishJournal | None = None,
        locks_held: Callable[[], None] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.folders = folders
        self.journal = journal
        self.locks_held = locks_held
        self.pending: list[CatalogueRecord] = []
        self.last = time.monotonic()

    def add(self, record: CatalogueRecord) -> None:
        self.pending.append(record)
        if len(self.pending) >= BATCH_FILES or time.monotonic() - self.last > BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            try:
                if self.journal is not None:
                    self.journal.sync()
                self.folders.sync()
            except OSError as exc:
                raise ArchiveError(
                    f"cannot make new names in {exc.filename or 'the archive'} durable "
                    f"({exc.strerror or exc}): the last {len(self.pending)} photo(s) copied "
                    "are not recorded and stay on the card; check the disk, then run the "
                    "ingest again"
                ) from exc
            if self.locks_held is not None:
                self.locks_held()  # lost: the rows wait for the next run, from the journal
            self.catalogue.add(self.pending)
            self.pending = []
        self.last = time.monotonic()


def _locks_check(archive: Path) -> Callable[[], None] | None:
    """PostgreSQL: the check that this run still holds its locks (`PgLocks.check`). A
    SQLite archive's lock file is this process's until it ends."""
    if not location_for(archive).postgres:
        return None
    from .archive.pg import held

    locks = held(archive)
    return locks.check if locks is not None else None


def _record(
    item: PlanItem,
    result: TransferResult,
    ingest_id: str,
    settings: Settings,
    card: Card | None,
) -> CatalogueRecord:
    assert result.sha256 is not None
    backup_path = str(result.published[1].path) if len(result.published) > 1 else None
    where = (result.published[0].relpath, backup_path)
    return _row(item, result.sha256, result.size, where, ingest_id, settings, card)


def _row(
    item: PlanItem,
    sha256: str,
    size: int,
    where: tuple[str, str | None],
    ingest_id: str,
    settings: Settings,
    card: Card | None,
) -> CatalogueRecord:
    """The catalogue row of ``item``'s copy at ``where``: its archive path, and its backup
    copy's full path (None without a backup)."""
    assert item.patient_id is not None
    archive_path, backup_path = where
    return CatalogueRecord(
        patient_id=item.patient_id,
        archive_path=archive_path,
        sha256=sha256,
        size=size,
        captured_at=item.captured_at.isoformat(timespec="seconds"),
        captured_raw=item.captured_raw.isoformat(timespec="seconds"),
        time_source=item.time_source,
        subsec=item.subsec,
        utc_offset=item.utc_offset,
        source_path=item.source,
        card_label=card.label if card else None,
        card_serial=card.serial if card else None,
        make=item.make,
        model=item.model,
        ingest_id=ingest_id,
        operator=settings.operator,
        archived_at=_now(),
        diagnosis=item.diagnosis,
        site=item.site,
        consent=item.consent,
        backup_path=backup_path,
        role=item.role,
    )


def _jobs(
    copies: list[PlanItem],
    root: Path,
    destinations: list[Path],
    stop: threading.Event | None = None,
    stems: BackupStems | None = None,
) -> Iterator[tuple[Path, list[Destination], int]]:
    """Each copy's card file, its destinations and its size. The archive copy's name is
    the plan's; a backup copy (the second root) begins at its shot's stem (`BackupStems`)."""
    for item in copies:
        if stop is not None and stop.is_set():
            return
        assert item.target is not None
        first = 1 if stems is None else stems.first(item.target)
        yield (
            root / item.source,
            [
                Destination(dest, item.target, first if n else 1)
                for n, dest in enumerate(destinations)
            ],
            item.size,
        )


def _backup_stems(
    plan: Plan, copies: list[PlanItem], repair_at: Sequence[int], backup: Path, catalogue: Catalogue
) -> BackupStems:
    """The stems the shots' new backup copies take (`backupstems`): of the photos copied
    now and of those archived before that get their first backup copy (or have it put back)."""
    items = chain(copies, (plan.items[index] for index in repair_at))

    def own_copy(target: str) -> str | None:
        record = catalogue.record(target)
        return None if record is None else record.backup_path

    return BackupStems(
        backup,
        (item.target for item in items if item.target),
        lambda: (item.target for item in plan.items if item.target),
        own_copy,
    )


def _places(
    item: PlanItem, archive: Path, backup: Path | None, stems: BackupStems | None
) -> list[tuple[Path, str]]:
    """Where ``item``'s new copies go: the archive's and the backup's relative paths."""
    assert item.target is not None
    places = [(archive, item.target)]
    if backup is not None:
        places.append((backup, stems.relpath(item.target) if stems else item.target))
    return places


def _not_there(folders: Iterable[str], roots: Sequence[Path]) -> list[Path]:
    """The folders (with their parents) the copies go to that do not exist yet, in every
    root: where every photo of a new patient is held or fails, this run removes them again,
    rather than leave an empty patient folder for `verify` to report."""
    missing: set[Path] = set()
    for root in roots:
        for folder in folders:
            parts = [part for part in folder.split("/") if part]
            for depth in range(1, len(parts) + 1):
                path = Path(root, *parts[:depth])
                if not os.path.lexists(path):
                    missing.add(path)
    return sorted(missing, key=lambda path: len(path.parts), reverse=True)


def _remove_if_empty(folders: Sequence[Path]) -> None:
    """``rmdir`` each of ``folders``, deepest first; one that holds anything stays."""
    for folder in folders:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _target_folders(plan: Plan, root: Path) -> set[Path]:
    return {(root / item.target).parent for item in plan.items if item.target is not None}


def execute(
    plan: Plan,
    settings: Settings,
    *,
    card: Card | None,
    map_source: str,
    on_bytes: Callable[[int], None] | None = None,
    on_file: Callable[[Outcome], None] | None = None,
    cancel: threading.Event | None = None,
    stop: threading.Event | None = None,
    workers: int = WORKERS,
) -> IngestResult:
    """Carry out `plan`. The caller holds the archive lock; this takes the backup's.

    Per-file failures are recorded and the rest carry on. KeyboardInterrupt stops between
    chunks: files already verified are catalogued and in the manifest, the rest are not,
    and no temporary file is left under a final name. Setting `stop` stops between files:
    no new file is started, the ones under way finish.

    Each verified photo with keywords gets its XMP sidecar (see `xmp.write_for_copy`)
    before its catalogue row, so a catalogued photo never misses one because of a crash.
    """
    archive = settings.archive
    backup = settings.backup
    roots = [archive] + ([backup] if backup else [])
    ingest_id = new_ingest_id()
    result = IngestResult(ingest_id=ingest_id, plan=plan)
    with contextlib.ExitStack() as destinations:
        solo = contextlib.ExitStack()
        destinations.enter_context(solo)
        alone = solo.enter_context(sole_writer(archive))
        for root in roots:
            prepare_destination(root)
            if root != archive:
                destinations.enter_context(ArchiveLock(root, "ingest (as backup)"))
            if alone or root != archive:
                result.stale_temps += destinations.enter_context(writing_to(root))
            else:  # other workstations write here too: only our patients' folders
                destinations.enter_context(writing_beside(root))
            # a clean mark a version before `writing_beside` put back after another desk
            # was killed left that desk's temporaries (in our patients' folders, swept here)
            result.stale_temps += remove_stale_temps_in(_target_folders(plan, root))
        check_space(plan, roots)
        check_folders(plan, roots)
        started = time.monotonic()
        audit = AuditLog(archive)
        audit.require_appendable()
        claims = destinations.enter_context(content_claims(roots, ingest_id))
        with Catalogue.open(archive, create=True, cache_kib=CATALOGUE_CACHE_KIB) as catalogue:
            if alone:
                result.warnings += recover_dead_runs(catalogue, audit, archive)
            solo.close()
            copy_at = array("l", _positions(plan, repair=False))
            repair_at = array("l", _positions(plan, repair=True))
            copies = [plan.items[index] for index in copy_at]
            # The photos to copy, as the plan counts them (not those it plans as skipped)
            planned = sum(not card_twin(item) for item in copies) + len(repair_at)
            reserved = reserved_names(item.target for item in plan.items)
            stems = None
            if backup is not None:  # under the backup's lock: no other run names files there
                stems = _backup_stems(plan, copies, repair_at, backup, catalogue)
            for item in copies:
                _keywords_give_way(item, _places(item, archive, backup, stems), plan, catalogue)
            folders = {item.target.rpartition("/")[0] for item in copies if item.target}
            # The lock file keeps every other writer out: what this run made, it may take away.
            made = [] if location_for(archive).postgres else _not_there(folders, roots)
            # Before the ingest's record: a run killed in between leaves a journal that
            # names nothing, of an ingest the catalogue does not know (removed by `recover`).
            journal = PublishJournal.start(archive, ingest_id, folders, reserved)
            # From the ingest's record on, a Ctrl-C waits for the try below, whose finally
            # closes the record: none is left "running" with no audit event.
            holding = destinations.enter_context(contextlib.ExitStack())
            holding.enter_context(held_interrupts())
            try:
                catalogue.begin_ingest(
                    ingest_id,
                    started=_now(),
                    operator=settings.operator,
                    host=host_name(),
                    source=recorded_source(plan.source, card),
                    card_label=card.label if card else None,
                    card_serial=card.serial if card else None,
                    archive=str(archive),
                    backup=str(backup) if backup else None,
                    clock_offset=format_clock_offset(plan.clock_offset),
                    map_source=map_source,
                )
            except BaseException as exc:
                journal.close()
                journal.remove()
                _nothing_copied(exc, "closes its record, if the catalogue kept it")
                raise
            destinations.callback(journal.close)  # whatever fails before the copies start

            def note(item: PlanItem, sha256: str) -> None:
                """The journal's line: the row ``item`` gets if it is named as planned."""
                assert item.target is not None
                copy = None
                if backup is not None and stems is not None:
                    copy = str(Path(backup, *stems.relpath(item.target).split("/")))
                where = (item.target, copy)
                journal.note(_row(item, sha256, item.size, where, ingest_id, settings, card))

            try:
                own = _KnownContent(catalogue, copies, Path(plan.source))
            except BaseException as exc:
                _nothing_copied(exc, "closes its record")
                raise
            claiming = guarded(  # PostgreSQL: other desks' photos (see `claims`)
                own, claims, own.item, allow_other_patient=settings.allow_other_patient
            )
            # Outermost: a line is written only for a file about to be named.
            gate: ContentGate | None = _Journaled(claiming or own, own.item, note)
            recheck: _Rechecked | None = _Rechecked(own.item)
            del own, claiming  # let go with ``gate`` and ``recheck``, below
            synced = FolderSyncs()
            batch = _Batcher(catalogue, synced, journal, _locks_check(archive))
            outcomes = Outcomes(plan.items)
            sightings = [  # planned as the copy gate would find them: skipped, seen again
                (item.target, item.source)
                for item in plan.items
                if item.action == "skip" and item.reason == SAME_CONTENT and item.target
            ]
            status = "finished"
            drained = workers_gone = False
            stopped_by: CardingestError | None = None
            closing_failed = False

            settled: set[int] = set()

            def settle(position: int, transferred: TransferResult) -> None:
                """Its row in the batch, its outcome set: all or nothing, as a Ctrl-C waits
                (`held_interrupts`). Once only: the last result handed out is ``late`` too."""
                if position in settled:
                    return
                item = copies[position]
                with held_interrupts():
                    outcome = _settle(item, transferred)
                    if outcome.action == "copy":
                        result.warnings += write_for_copy(item, transferred.published, reserved)
                        batch.add(_record(item, transferred, ingest_id, settings, card))
                        result.bytes_copied += transferred.size
                    elif transferred.duplicate_of is not None:
                        sightings.append((transferred.duplicate_of, item.source))
                    outcomes.set(copy_at[position], outcome)
                    settled.add(position)
                if on_file is not None:
                    on_file(outcome)

            # Finished after an interrupt, beyond the last result taken in (or that one
            # itself): what they published is recorded too (`transfer_many`'s ``unclaimed``).
            late: list[tuple[int, TransferResult]] = []
            results = transfer_many(
                _jobs(copies, Path(plan.source), roots, stop, stems),
                workers=workers,
                on_bytes=on_bytes,
                cancel=cancel,
                content_gate=gate,
                folders=synced,
                unclaimed=lambda position, transferred: late.append((position, transferred)),
                recheck=recheck,
            )
            try:
                holding.close()  # a Ctrl-C held since the record began is raised here
                for index, item in enumerate(plan.items):
                    if item.action != "copy" and not card_twin(item):
                        outcomes.set(index, as_planned(item))
                for position, transferred in enumerate(results):
                    settle(position, transferred)
                # Every copy is settled: let the copy workers go, and with them the content
                # gate (an entry per card file and per archived photo), before the manifest
                # is sorted, where the ingest's memory peaks.
                results.close()
                gate = recheck = None
                for index in repair_at:
                    if stop is not None and stop.is_set():
                        break
                    item = plan.items[index]
                    outcome, problems = _repair(
                        item, catalogue, audit, plan, settings, ingest_id, on_bytes, reserved, stems
                    )
                    result.warnings += problems
                    if outcome.action == "copy":
                        result.bytes_copied += item.size
                    outcomes.set(index, outcome)
                    if on_file is not None:
                        on_file(outcome)
                if stop is not None and stop.is_set() and outcomes.unsettled():
                    result.interrupted = True
                    status = "stopped"
                drained = True  # every result settled: all that was named is in a batch
            except KeyboardInterrupt:
                result.interrupted = True
                status = "interrupted"
                results.close()
                with held_interrupts():
                    for position, transferred in late:
                        if transferred.published:
                            settle(position, transferred)
                workers_gone = True  # not so if a second Ctrl-C cut the close short
            except BaseException as exc:
                status = "failed"
                stopped_by = exc if isinstance(exc, CardingestError) else None
                results.close()  # the copy workers stop before the run's records close
                raise
            finally:
                # Its records close whole: a Ctrl-C here (the first, or a second one) waits
                # for the manifest, the ingest's status and its audit event. After an error
                # (the catalogue's database gone) what cannot be closed is left to the next
                # run, which records it from the journal; the first error is the one said.
                with held_interrupts():
                    try:
                        try:
                            batch.flush()
                        except BaseException:
                            if claims is not None:  # its journal stays: they vouch for its lines
                                claims.keep = True
                            raise
                        finally:
                            journal.close()
                        # After a failure (or a second Ctrl-C while the copy workers stopped) a
                        # file may be named and not recorded: the next ingest records it from the
                        # journal. After a Ctrl-C they all stopped at, each is checked for its row.
                        if drained or (
                            workers_gone
                            and all_recorded(
                                catalogue, archive, journal.path, str(backup) if backup else None
                            )
                        ):
                            journal.remove()
                        elif claims is not None:
                            claims.keep = True  # they vouch for the journal's lines (`recover`)
                        _record_sightings(catalogue, sightings, card, ingest_id)
                        _remove_if_empty(made)
                        if result.interrupted:
                            outcomes.missing = "stopped before it was copied"
                        result.outcomes = outcomes
                        result.warnings += split_shots(outcomes)
                        result.seconds = time.monotonic() - started
                        result.manifest, result.backup_manifest = _write_manifests(
                            catalogue, ingest_id, archive, backup
                        )
                        if backup is not None:
                            repaired = [o.target for o in mended(result.outcomes) if o.target]
                            write_backed_up_manifests(catalogue, repaired, backup)
                        catalogue.finish_ingest(
                            ingest_id,
                            finished=_now(),
                            counts=result.counts,
                            bytes_copied=result.bytes_copied,
                            manifest=str(_manifest_relpath(ingest_id)),
                            status=status,
                        )
                        audit.append(
                            "ingest",
                            ingest_id=ingest_id,
                            status=status,
                            operator=settings.operator,
                            source=recorded_source(plan.source, card),
                            card_label=card.label if card else None,
                            card_serial=card.serial if card else None,
                            archive=str(archive),
                            backup=str(backup) if backup else None,
                            counts=result.counts,
                            bytes=result.bytes_copied,
                            manifest=str(_manifest_relpath(ingest_id)),
                            failed=[o.item.source for o in result.outcomes if o.action == "failed"],
                        )
                    except CardingestError as exc:
                        if stopped_by is None:  # the first error met: a claim that failed
                            stopped_by, closing_failed = exc, True  # held its photo, went on
                    if stopped_by is not None:
                        # With the photos named and never settled (the one whose batch
                        # failed, those the copy workers finished meanwhile): left out, the
                        # count was below what the next run records from the journal.
                        unsettled = _published_unsettled(late, settled)
                        copied = len(unsettled) + sum(
                            1 for outcome in outcomes if outcome.action == "copy"
                        )
                        unrecorded = len(unsettled | {row.archive_path for row in batch.pending})
                        stopped_by.stopped_midway(
                            f"The ingest stopped after {copied} of {planned} photo(s) were "
                            "copied and verified"
                            + (
                                f", {unrecorded} of them not recorded in the catalogue "
                                "yet: the next run records them, from this run's publish "
                                "journal. None is lost"
                                if unrecorded
                                else "; none is lost"
                            )
                            + " and every photo is still on the card. Run the same command "
                            "again once this is put right, to finish."
                        )
                        if closing_failed:
                            raise stopped_by

    if status == "interrupted":
        raise Interrupted(
            f"Interrupted after {result.count('copy')} of {planned} photo(s) "
            "were copied and verified (they are catalogued, and the new ones are in the "
            "manifest). No file is half-written; run the same command again to finish."
        )
    return result


def _nothing_copied(exc: BaseException, record: str) -> None:
    """An error met once the ingest's record began, before any copy (the catalogue's server
    stopped, say): it says so, not only the server's absence."""
    if isinstance(exc, CardingestError) and not any(
        line.startswith("Nothing was") for line in exc.details
    ):
        exc.details.insert(
            0,
            f"Nothing was copied: every photo is still on the card, and the next ingest {record}.",
        )


def _published_unsettled(late: Iterable[tuple[int, TransferResult]], settled: set[int]) -> set[str]:
    """The archive paths of the copies the copy workers published that the run never
    settled (it stopped first): named, in the journal, without a row or an outcome."""
    return {
        transferred.published[0].relpath
        for position, transferred in late
        if position not in settled
        and transferred.ok
        and transferred.published
        and transferred.held is None
        and transferred.duplicate_of is None
    }


def split_shots(outcomes: Sequence[Outcome]) -> list[str]:
    """A warning for each shot whose photos went apart: some filed, some held. The planner
    holds a shot whole; only two desks filing the same shot at once (PostgreSQL, each
    claiming one of its files first) can split it, and then a person must say whose it is."""
    # Two passes, the first keeping only the (few) held shots: an Outcome is made as it is
    # read, and keeping every one at once cost 3 MB at 10,000 photos (bench/memory.py).
    held: dict[str, Outcome] = {}
    for outcome in outcomes:
        if outcome.action == "hold" and not outcome.item.sidecar:
            held.setdefault(outcome.item.timed.path, outcome)
    filed: dict[str, Outcome] = {}
    for outcome in outcomes if held else ():
        primary = outcome.item.timed.path
        if outcome.action == "copy" and not outcome.item.sidecar and primary in held:
            filed.setdefault(primary, outcome)
    return [
        f"{primary}: the photos of this shot went apart: {copy.item.source} was filed as "
        f"{copy.target}, {held[primary].item.source} held ({held[primary].reason}). A shot is "
        "one patient's: check whose, then `cardingest move` the filed one if it is the "
        "other's (its card files stay on the card)"
        for primary, copy in filed.items()
    ]


def _record_sightings(
    catalogue: Catalogue, sightings: list[tuple[str, str]], card: Card | None, ingest_id: str
) -> None:
    """After the last batch, so the archived file each one names has its row already."""
    for archive_path, source in sightings:
        catalogue.add_sighting(
            archive_path,
            source_path=source,
            card_label=card.label if card else None,
            card_serial=card.serial if card else None,
            ingest_id=ingest_id,
        )


def _positions(plan: Plan, *, repair: bool) -> Iterator[int]:
    """Where in the plan its new copies (or its repairs) are, in plan order. A photo planned
    as skipped for the bytes of a photo before it on the card (`card_twin`) goes through
    the copy gate as well: it is skipped once that one is copied, and copied to the same
    name should that one fail."""
    for index, item in enumerate(plan.items):
        if (
            item.repair
            if repair
            else (item.action == "copy" or card_twin(item)) and not item.repair
        ):
            yield index


BACKED_UP = "backed up"
"""How the outcome of a photo archived before with no backup copy, given one now, begins."""
BACKUP_REPAIRED = "repaired: its damaged or missing backup copy was put back from the card"
"""The reason of a photo whose backup copy alone was put back."""


def mended(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """The outcomes of the photos archived before whose copies this run made or put back
    (a backup copy first made included)."""
    return [outcome for outcome in outcomes if outcome.item.repair and outcome.action == "copy"]


def _keywords_give_way(
    item: PlanItem, places: Sequence[tuple[Path, str]], plan: Plan, catalogue: Catalogue
) -> None:
    """Before a camera's XMP is copied (or put back in a backup) to its photo's
    ``NAME.xmp`` (``places``: each root and the XMP's path there): the keywords sidecar
    cardingest wrote there for the photo's catalogued keywords gives way (`xmp.give_way`)."""
    if not (item.sidecar and item.target and item.target.lower().endswith(".xmp")):
        return
    there = [(root, rel) for root, rel in places if os.path.lexists(Path(root, *rel.split("/")))]
    photo = photo_of(plan, item)
    record = catalogue.record(photo) if there and photo else None
    if record is not None:
        for root, rel in there:
            give_way(root, rel, keywords_of(record))


def _repair(
    item: PlanItem,
    catalogue: Catalogue,
    audit: AuditLog,
    plan: Plan,
    settings: Settings,
    ingest_id: str,
    on_bytes: Callable[[int], None] | None,
    reserved: set[str],
    stems: BackupStems | None = None,
) -> tuple[Outcome, list[str]]:
    """Put back the bad copies of the archived photo this card file is (see `repair`), and
    their keywords sidecars, from the catalogue's keywords; the outcome and any problems.
    A first backup copy begins at its shot's stem (``stems``: `BackupStems`).

    The audit event comes before the catalogue's note is cleared, so a kill in between
    leaves the note, and the next ingest finds the copies good and says so in the log.
    """
    assert item.target is not None
    record = catalogue.record(item.target)
    if record is None:
        return Outcome(item, "failed", None, error=f"{item.target} is not in the catalogue"), []
    places = _places(item, settings.archive, settings.backup, stems)
    if settings.backup is not None and record.backup_path:  # put back under its own name
        places[1:] = [(Path(record.backup_path).parent, Path(record.backup_path).name)]
    _keywords_give_way(item, places, plan, catalogue)
    fixed = repair_copies(
        Path(plan.source) / item.source,
        record,
        settings.archive,
        ingest_id=ingest_id,
        backup=settings.backup,
        on_bytes=on_bytes,
        backup_first=1 if stems is None else stems.first(item.target),
    )
    if fixed.ok or fixed.restored or fixed.set_aside:
        audit.append(
            "repair",
            ingest_id=ingest_id,
            operator=settings.operator,
            archive_path=record.archive_path,
            sha256=record.sha256,
            noted=item.reason,
            restored=list(fixed.restored),
            set_aside=list(fixed.set_aside),
            error=fixed.error,
        )
    if not fixed.ok:
        if fixed.restored and fixed.left:
            catalogue.set_problems({record.archive_path: fixed.left})
        return Outcome(item, "failed", None, error=fixed.error), []
    backup_path = record.backup_path
    if not backup_path and settings.backup is not None:
        made = [path for path in fixed.restored if Path(path).is_relative_to(settings.backup)]
        if made:
            backup_path = made[0]
            catalogue.set_backup_copy(record.archive_path, backup_path)
    catalogue.set_problems({record.archive_path: None})
    if not fixed.restored:
        return Outcome(
            item, "skip", item.target, record.sha256, reason="already archived (copies check out)"
        ), []
    keywords = keywords_of(record)
    problems = []
    if keywords and not is_sidecar(record.archive_path):
        restored = [(record.archive_path, Path(path)) for path in fixed.restored]
        problems = write_sidecars(keywords, restored, reserved)
    if backup_path and not record.backup_path:
        reason = f"{BACKED_UP}: archived before with no backup copy; this run made one"
    elif settings.backup is not None and all(
        Path(path).is_relative_to(settings.backup) for path in fixed.restored
    ):
        reason = BACKUP_REPAIRED
    else:
        reason = "repaired: a damaged or missing copy was put back from the card"
    return Outcome(
        item, "copy", item.target, sha256=record.sha256, backup_target=backup_path, reason=reason
    ), problems


class _KnownContent:
    """Which content each patient already has in the archive: the copy workers' gate.

    Seeded from the catalogue. Files claim their content in plan order (the order the card
    is read in); of several files with the same content for one patient (the same photo
    twice on a card), the first in plan order publishes it and the others wait for it and
    become a ``skip`` resting on its copy, whichever worker finishes first. If the first
    fails to publish, the next in line does. So which file is "the copy", and its name,
    never depend on timing.
    """

    def __init__(self, catalogue: Catalogue, copies: list[PlanItem], root: Path) -> None:
        self._cond = threading.Condition()
        self._copies = copies
        # Keyed by the path below the card's root (the plan item's own string where it is
        # the same), not by a second full path per card file.
        self._prefix = str(root / "_")[:-1]
        self._position: dict[str, int] = {}
        for position, item in enumerate(copies):
            below = self._below(root / item.source)
            self._position[item.source if below == item.source else below] = position
        patients = {item.patient_id or "" for item in copies if not item.sidecar}
        state = catalogue.archive_state(patients)
        # Patient -> content -> archive path: one entry per archived photo, and per photo
        # published by this run; the content a 32-byte digest (see `_content`).
        self._paths: dict[str, dict[bytes | str, str]] = {}
        for archived in state.archived:
            self._paths.setdefault(archived.patient_id, {})[_content(archived.sha256)] = (
                archived.archive_path
            )
        self._queues: dict[tuple[str, bytes | str], list[str]] = {}

    def _below(self, source: Path) -> str:
        text = str(source)
        return text[len(self._prefix) :] if text.startswith(self._prefix) else text

    def item(self, source: Path) -> PlanItem | None:
        """The plan item of a card file, by its full path."""
        position = self._position.get(self._below(source))
        return None if position is None else self._copies[position]

    def _patient(self, source: Path) -> str | None:
        """The patient of a card file the gate knows; None for a sidecar (never waits)."""
        item = self.item(source)
        return None if item is None or item.sidecar else item.patient_id or ""

    def claim(self, source: Path, sha256: str) -> None:
        """Sidecars never wait: identical XMPs of two shots each belong beside their photo."""
        patient = self._patient(source)
        if patient is None:
            return
        with self._cond:
            self._queues.setdefault((patient, _content(sha256)), []).append(str(source))

    def enter(self, source: Path, sha256: str) -> str | None:
        patient = self._patient(source)
        if patient is None:
            return None
        content = _content(sha256)
        with self._cond:
            while True:
                existing = self._paths.get(patient, {}).get(content)
                if existing is not None:
                    return existing
                queue = self._queues.get((patient, content))
                if not queue or queue[0] == str(source):
                    return None
                self._cond.wait()

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None:
        patient = self._patient(source)
        if patient is None:
            return
        key = (patient, _content(sha256))
        with self._cond:
            if relpath is not None:
                self._paths.setdefault(patient, {})[key[1]] = relpath
            queue = self._queues.get(key, [])
            if str(source) in queue:
                queue.remove(str(source))
            if not queue:
                self._queues.pop(key, None)
            self._cond.notify_all()


class _Journaled:
    """The content gate the copy workers see: ``inner``'s decision, and for a file let
    through to be named, its line in the publish journal first (``note``)."""

    def __init__(
        self,
        inner: ContentGate,
        item_of: Callable[[Path], PlanItem | None],
        note: Callable[[PlanItem, str], None],
    ) -> None:
        self._inner = inner
        self._item_of = item_of
        self._note = note

    def claim(self, source: Path, sha256: str) -> None:
        self._inner.claim(source, sha256)

    def enter(self, source: Path, sha256: str) -> str | None:
        existing = self._inner.enter(source, sha256)
        item = self._item_of(source)
        if existing is None:
            if item is None:  # never: every job is a plan item; fail closed all the same
                raise OSError(errno.EINVAL, f"{source} is not in the plan")
            self._note(item, sha256)
        return existing

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None:
        self._inner.leave(source, sha256, relpath)


CHANGED_ON_CARD = "changed on the card since it was scanned"


def changed_reason(scanned: MediaFile, copied: MediaFile) -> str:
    """Why a card file whose bytes read for the copy say something else than the scan read
    is held: the name planned for it, and with a map of times its patient, came from the
    scan's reading."""
    detail = ""
    if copied.captured != scanned.captured:
        now, then = (f"{media.captured:%Y-%m-%d %H:%M:%S}" for media in (copied, scanned))
        whence = (
            " by its file time, having no capture time" if copied.time_source == "mtime" else ""
        )
        detail = f" (it now says it was taken {now}{whence}, not {then})"
    elif copied.shown_as != scanned.shown_as:
        detail = " (its bytes are not the photo's shown when the IDs were asked)"
    return (
        f"{CHANGED_ON_CARD}{detail}, so the name and patient planned for it may not be its "
        "own; nothing of it was archived: run again to file it as it is now"
    )


class _Rechecked:
    """The ingest's `transfer.Recheck`: the bytes read of a card file for its copy must give
    the record the scan gave (`scan.same_reading`), else the file stays on the card. The
    plan named it, and with a map of times chose its patient, from the scan's record; a file
    rewritten since (same size or not) is held rather than filed under the old time."""

    def __init__(self, item_of: Callable[[Path], PlanItem | None]) -> None:
        self._item_of = item_of

    def __call__(self, source: Path, copied: Copied, info: os.stat_result) -> str | None:
        item = self._item_of(source)
        if item is None:  # never: every job is a plan item; fail closed all the same
            return f"{source} is not in the plan"
        again = read_again(copied, item.source, info.st_size, info.st_mtime)
        if item.media.shown_as is not None:  # its ID was asked for the photo as shown
            again = replace(again, shown_as=fingerprint_read(copied, info.st_size))
        if again.time_source == "mtime" and again.captured != item.media.captured:
            (again,) = fat_dated(source.parents[again.path.count("/")], (again,))
        return None if same_reading(item.media, again) else changed_reason(item.media, again)


def _content(sha256: str) -> bytes | str:
    """A SHA-256 as a dict key: its 32 bytes (65 bytes of memory, not 113 for the hex text).
    Two keys are equal exactly when the texts are: a text that is not lower-case hex (never
    from hashlib) stays text."""
    return _digest(sha256) or sha256


def _settle(item: PlanItem, transferred: TransferResult) -> Outcome:
    if not transferred.ok:
        return Outcome(item, "failed", None, error=transferred.error)
    if transferred.held is not None:
        return Outcome(item, "hold", None, reason=transferred.held)
    if transferred.duplicate_of is not None:
        return Outcome(
            item,
            "skip",
            transferred.duplicate_of,
            sha256=transferred.sha256,
            reason=(
                item.reason
                if card_twin(item) and transferred.duplicate_of == item.target
                else SAME_CONTENT
            ),
        )
    published = transferred.published
    backup_target = str(published[1].path) if len(published) > 1 else None
    return Outcome(
        item,
        "copy",
        published[0].relpath,
        sha256=transferred.sha256,
        backup_target=backup_target,
    )
