"""The wipe gate: remove from the card only photos proven archived, judged at wipe time.

A photo (a media file or sidecar under ``DCIM/``, as `scan` finds it) is removed only when,
now: its bytes re-read from the card hash to the sha256 of a catalogue record made from this
file; that record's archive copy, and its backup copy when it has one, exist and hold those
very bytes (the size and XXH3-128 of the card's read: `CopyChecker.check_same`); and the
record was made from this card (when the record and the card both know a volume serial they
must match; otherwise the path and hash decide). See `Gate` for identical bytes archived
more than once. Everything else stays on the card with a reason. Nothing outside ``DCIM/``
and no folder is ever removed.

"Wipe" deletes files so the card can be reused. It is not secure erasure: flash cards remap
blocks, so deleted photos can survive on the medium.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from .archive.audit import AuditLog
from .archive.backend import mount_of
from .archive.catalogue import Catalogue, CatalogueRecord, require_catalogue
from .archive.provenance import recorded_source
from .archive.readonly import reading
from .archive.verify import (
    CopyChecker,
    CopyState,
    Fingerprint,
    Where,
    archive_file,
    fingerprint,
    hash_file,
    mark_change,
    record_copies,
    second_copy,
)
from .card.detect import CARD_GONE_ERRNOS
from .card.kinds import is_sidecar
from .card.scan import HIDDEN, not_archived_kind, scan_root
from .card.volume import same_volume
from .errors import CardGoneError, CardingestError, CardWriteError, Interrupted, SourceError
from .models import Card, MediaFile
from .plan.planner import bad_name_reason, captured_key
from .plan.shots import by_shot, primary_photo, shot_of, shutter_time
from .prepare import card_history, scan_source
from .storage.durable import fsync_dir
from .storage.identity import file_id
from .storage.mounts import mounted_read_only

WipeAction = Literal["remove", "keep"]

NOT_ARCHIVED = "not archived (held, failed or never ingested)"


def not_a_photo(path: str) -> str:
    """Why the wipe keeps a file the scan passed over (a video, or a kind it does not know)."""
    return f"{not_archived_kind(path)}: cardingest does not archive it; copy it yourself"


INGEST_AGAIN = (
    "ingest the card again, giving it to the patient it shows by file name or by from and to "
    "times in the ID map, or with --id if all the card's photos are that patient's"
)
CHANGED_SINCE = (
    ": the archive keeps the photo as it was then; to keep the changed one too, ingest the "
    "card again (it is copied as a new photo)"
)
"""A card file edited in place (a rotation or a rating in the camera) after its ingest."""
NOT_A_FILE = "not a photo file; never followed or removed"
NOT_LOOKED_INTO = "never looked into or removed"
_READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


@dataclass(frozen=True)
class WipeItem:
    """The decision for one card file. ``source`` is relative to the card root."""

    source: str
    action: WipeAction
    reason: str
    sha256: str | None = None
    archive_path: str | None = None
    patient_id: str | None = None
    size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    device: int = 0
    inode: int = 0


@dataclass(frozen=True)
class WipePlan:
    source: str
    archive: str
    card: Card | None
    items: tuple[WipeItem, ...]
    warnings: tuple[str, ...] = ()
    """Said before the decisions, and in ``--json``: an ingest that may be running, a card
    the wipe would refuse to change."""

    @property
    def to_remove(self) -> list[WipeItem]:
        return [item for item in self.items if item.action == "remove"]

    @property
    def to_keep(self) -> list[WipeItem]:
        return [item for item in self.items if item.action == "keep"]


@dataclass
class WipeResult:
    """What a wipe did (or, with ``dry_run``, would do); ``items`` hold the final decisions."""

    wipe_id: str
    plan: WipePlan
    items: list[WipeItem] = field(default_factory=list)
    dry_run: bool = False
    declined: bool = False

    @property
    def removed(self) -> list[WipeItem]:
        return [item for item in self.items if item.action == "remove"]

    @property
    def kept(self) -> list[WipeItem]:
        return [item for item in self.items if item.action == "keep"]


def new_wipe_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + os.urandom(3).hex()


def same_card(record: CatalogueRecord, card: Card | None) -> bool:
    """False only when the record and the card both know a serial and they differ."""
    return same_volume(record.card_serial, card.serial if card is not None else None)


def _copy_problem(where: str, name: str, state: CopyState) -> str:
    if state.status == "missing":
        return f"{where} copy {name} is missing"
    if state.status == "unreadable":
        return f"{where} copy {name} cannot be read ({state.detail})"
    return f"{where} copy {name} no longer matches ({state.detail})"


FileId = tuple[int, int]
"""A file's device and inode (`storage.identity.file_id`)."""


@dataclass(frozen=True)
class Verdict:
    action: WipeAction
    reason: str
    record: CatalogueRecord | None = None


def names_file(record: CatalogueRecord, source: str) -> bool:
    """Whether the record was made from this card path.

    Equal paths, or the record's path is a trailing part of it (an ingest whose SOURCE was
    the ``DCIM`` folder or a camera folder rather than the card's root).
    """
    recorded = record.source_path
    return bool(recorded) and (source == recorded or source.endswith("/" + recorded))


class Gate:
    """Decides, for one card file's path and sha256, whether it may leave the card.

    The file must itself have been archived: a record made from this card and this path
    must carry these bytes. A held photo stays even when identical bytes were archived from
    another path (a copied file on the card): nobody said whose photo it is.

    Identical bytes can be archived more than once for one patient (the same photo twice on
    a card). A flipped byte in the archive copy of this file's own record does not keep it on
    the card if another record of the same patient with the same sha256 verifies: the photo
    is then safely archived for that patient and removing it loses nothing. Records of other
    patients never count, so a photo leaves the card only when a verified copy of it is filed
    under the patient it was archived for: under each of them, for a photo this card filed
    for two patients (``--allow-other-patient``), so a copy missing under one is repaired
    from the card first.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        archive: Path,
        card: Card | None,
        checker: CopyChecker,
        backup: Path | None = None,
        asked: Mapping[str, str] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.archive = archive
        self.card = card
        self.checker = checker
        self.backup = backup
        self.asked = asked or {}
        self.marked = catalogue.problems()
        self.marks: dict[str, str | None] = {}
        self.elsewhere: dict[Path, int] = {}
        """Backup folders, other than ``backup``, that hold photos' second copies: each
        photo's count (`elsewhere_warnings`)."""

    def _copies_problem(
        self, record: CatalogueRecord, read: Fingerprint, card_file: FileId | None
    ) -> str | None:
        """The first bad copy of ``record``, if any; a damaged or missing one is also noted
        in ``marks``, for the catalogue, so that ingesting this card again repairs it.

        ``read`` is the card file just read, whose sha256 is the record's: a copy is good
        when it holds those same bytes (`CopyChecker.check_same`), and is not that card file
        itself (``card_file``, its device and inode) reached through a mount or a hard link.
        Where a backup is set (``--backup``, the config), a photo archived with no backup copy
        has one copy, not the two asked for, and stays; so does one that an ingest asked
        to copy to a backup (`backups_asked`) when no backup is set now."""
        if self.backup is not None and not record.backup_path:
            return (
                f"archived with no backup copy, and the backup {self.backup} is set: ingest "
                "this card with it to make one"
            )
        asked = self.asked.get(record.ingest_id)
        if asked is not None and not record.backup_path:
            return (
                f"archived with no backup copy, though an ingest of this card asked for one in "
                f"{asked}: ingest this card with --backup {asked} to make one"
            )
        states: list[tuple[Where, Path, CopyState]] = []
        for where, path, root in record_copies(self.archive, record):
            state = self.checker.check_same(path, read, root)
            state = second_copy(state, where, path, archive_file(self.archive, record))
            if state.ok and card_file is not None and file_id(path) == card_file:
                return f"{where} copy {path.name} is this card file itself (the same file on disk)"
            states.append((where, path, state))
            if not state.ok:
                break
        self.marks.update(mark_change(record.archive_path, states, self.marked))
        where, path, state = states[-1]
        if state.ok:
            if (
                where == "backup"
                and self.backup is not None
                and not _same_folder(root, self.backup)
            ):
                self.elsewhere[root] = self.elsewhere.get(root, 0) + 1
            return None
        name = record.archive_path if where == "archive" else str(path)
        problem = _copy_problem(where, name, state)
        if self.marks.get(record.archive_path, self.marked.get(record.archive_path)):
            again = (
                f"again with --backup {shlex.quote(str(root))}" if where == "backup" else "again"
            )
            problem += (
                f"; ingest this card {again} to repair it (with this photo given to "
                f"{record.patient_id}, whose it is now)"
            )
        elif state.status == "missing" and not os.path.isdir(root):
            problem += (
                f"; the {where} folder {root} is not there: connect its disk (or mount it "
                "again), then run the wipe again"
            )
            if where == "backup" and self.backup is not None and self.backup != root:
                problem += (
                    f"; if that backup is now {self.backup}, run `cardingest catalogue "
                    f"backup-moved {shlex.quote(str(root))} {shlex.quote(str(self.backup))}` "
                    "first"
                )
        return problem

    def _recorded_at(self, source: str) -> list[CatalogueRecord]:
        """Records made from this card path, whatever their bytes.

        A record's path may be a trailing part of ``source`` (see `names_file`), so every
        trailing part is looked up: ``DCIM/100CANON/X.JPG``, ``100CANON/X.JPG``, ``X.JPG``.
        """
        parts = source.split("/")
        tails = ["/".join(parts[start:]) for start in range(len(parts))]
        return [
            record
            for record in self.catalogue.recorded_from(tails)
            if same_card(record, self.card) and names_file(record, source)
        ]

    def _not_own(self, source: str, matches: list[CatalogueRecord], taken: str | None) -> Verdict:
        elsewhere = [r for r in matches if names_file(r, source)]
        if elsewhere:
            serials = ", ".join(sorted({r.card_serial or "?" for r in elsewhere}))
            current = self.card.serial if self.card else None
            return Verdict(
                "keep",
                f"archived from another card (serial {serials}; this card {current})",
                elsewhere[0],
            )
        earlier = self._recorded_at(source)
        if earlier:
            sure = bool(self.card and self.card.serial) and all(r.card_serial for r in earlier)
            why = _other_bytes_reason(earlier, taken, sure)
            if matches:  # another card name's photo copied over this one: a duplicate
                why += f"; identical bytes are archived as {matches[0].archive_path}"
            return Verdict("keep", why, earlier[0])
        if matches:
            return Verdict(
                "keep",
                f"{NOT_ARCHIVED}; identical bytes are archived as {matches[0].archive_path}",
            )
        return Verdict("keep", NOT_ARCHIVED)

    def decide(
        self,
        source: str,
        read: Fingerprint,
        card_file: FileId | None = None,
        taken: str | None = None,
    ) -> Verdict:
        """Remove or keep the card file at ``source`` (``card_file``: its device and inode),
        whose bytes were just ``read``; ``taken``: its shutter time as the catalogue records
        one (`planner.captured_key`), if it has one."""
        matches = self.catalogue.find_by_sha(read.sha256)
        own = [r for r in matches if same_card(r, self.card) and names_file(r, source)]
        if not own:
            return self._not_own(source, matches, taken)
        patients = list(dict.fromkeys(record.patient_id for record in own))
        twins = [r for r in matches if r not in own and r.patient_id in patients]
        proven: list[CatalogueRecord] = []
        for patient in patients:  # a photo filed for two patients: each must have a copy
            first: Verdict | None = None
            for record in (r for r in own + twins if r.patient_id == patient):
                problem = self._copies_problem(record, read, card_file)
                if problem is None:
                    proven.append(record)
                    break
                first = first or Verdict("keep", problem, record)
            else:
                assert first is not None
                return first
        names = " and ".join(record.archive_path for record in proven)
        return Verdict("remove", f"archived as {names}", proven[0])


def _shot_times(files: Iterable[MediaFile]) -> dict[str, str]:
    """Each card file's shot time as an ingest records it (a RAW takes its JPEG's, as the
    planner does), where it is the shutter's."""
    taken: dict[str, str] = {}
    for members in by_shot(files):
        primary = primary_photo(m for m in members if not m.sidecar)
        if primary is not None and shutter_time(primary):
            taken.update((m.path, captured_key(primary)) for m in members)
    return taken


def _other_bytes_reason(earlier: list[CatalogueRecord], taken: str | None, sure: bool) -> str:
    """Why a card file whose bytes differ from those archived from its card name stays.

    The same capture time: the shot was changed in the camera since. Another time: another
    photo, under a name the camera used again, which may be another patient's; the earlier
    record's patient is then not suggested for it. Unless both serials are known (``sure``)
    the earlier record may be another card's, so its name, which holds its patient's ID, is
    not said."""
    same = next((r for r in earlier if r.captured_raw == taken), None)
    if same is not None:
        return f"changed on the card since it was archived as {same.archive_path}{CHANGED_SINCE}"
    record = earlier[0]
    earlier_name = f" as {record.archive_path}" if sure else " (from this card or another)"
    if taken is None:
        return (
            f"not the photo archived from this card name{earlier_name}: changed since, or "
            "another photo under a name the camera used again; not archived. To archive it, "
            f"{INGEST_AGAIN}"
        )
    return (
        f"another photo (taken {taken.replace('T', ' ')}) under a card name archived before"
        f"{earlier_name} (taken {record.captured_raw.replace('T', ' ')}): the camera started "
        f"its numbers again; not archived. To archive it, {INGEST_AGAIN}"
    )


def require_dcim(root: Path) -> None:
    if not has_dcim(root):
        _require_there(root)
        raise SourceError(
            f"{root} {no_dcim(root)}: wipe only removes photos under a card's DCIM/. Give the "
            "card's root (the folder that holds DCIM)"
        )


def has_dcim(root: Path) -> bool:
    """Whether ``root`` is a card's root, which a wipe may clear: its photos are in DCIM/."""
    return scan_root(Path(root)) != Path(root)


def no_dcim(root: Path) -> str:
    """What ``root`` lacks for a wipe, in words: no DCIM folder, or one that is a link (no
    card's is; the scan does not follow it, so the photos behind it were never looked at)."""
    try:
        with os.scandir(root) as entries:
            links = [e.name for e in entries if e.name.lower() == "dcim" and e.is_symlink()]
    except OSError:
        links = []
    if links:
        return f"has no DCIM folder ({links[0]} there is a symbolic link, which is not followed)"
    return "has no DCIM folder"


NOTHING_REMOVABLE = "so nothing can be removed"
"""What a missing catalogue means for a wipe."""


CardRead = tuple[os.stat_result, Fingerprint] | OSError
"""A card file's stat before the read, then what the read found, or why it failed."""

READ_AHEAD = 4
"""Card files hashed ahead of the one being judged, while its archive copies are read."""
CARD_READERS = 2
"""Card files hashed at once: one SHA-256 runs on one core, so two readers use both cores
of a small machine and keep two files' read-ahead going (docs/performance.md)."""


def _read_card(path: Path) -> CardRead:
    try:
        info = os.stat(path)
        read = fingerprint(path)
    except OSError as exc:
        return exc
    return info, read


def _read_ahead(root: Path, sources: Iterable[str]) -> Iterator[tuple[str, CardRead]]:
    """Each card file's `_read_card`, in order: CARD_READERS threads read (and hash) the card
    a few files ahead while the caller reads the archive copies, so the reads overlap."""
    pending: deque[tuple[str, Future[CardRead]]] = deque()
    with ThreadPoolExecutor(CARD_READERS, thread_name_prefix="cardingest-wipe") as pool:
        try:
            for source in sources:
                pending.append((source, pool.submit(_read_card, root / source)))
                if len(pending) > READ_AHEAD:
                    name, future = pending.popleft()
                    yield name, future.result()
            while pending:
                name, future = pending.popleft()
                yield name, future.result()
        finally:
            for _name, future in pending:
                future.cancel()


def _judge(source: str, read: CardRead, gate: Gate, taken: str | None) -> WipeItem:
    bad_name = bad_name_reason(source)
    if bad_name is not None:  # never archived under this name: it cannot have a record
        return WipeItem(source, "keep", f"not archived: {bad_name}")
    if isinstance(read, OSError):
        why = read.strerror or read
        return WipeItem(source, "keep", f"cannot be read from the card ({why})")
    info, found = read
    sha256 = found.sha256
    if found.size != info.st_size:
        why = (
            f"changed on the card while being read, or damaged there: {found.size:,} of its "
            f"{info.st_size:,} bytes read"
        )
        return WipeItem(source, "keep", why, sha256)
    verdict = gate.decide(source, found, (info.st_dev, info.st_ino), taken)
    record = verdict.record
    return WipeItem(
        source=source,
        action=verdict.action,
        reason=verdict.reason,
        sha256=sha256,
        archive_path=record.archive_path if record else None,
        patient_id=record.patient_id if record else None,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        ctime_ns=info.st_ctime_ns,
        device=info.st_dev,
        inode=info.st_ino,
    )


def _same_folder(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return os.path.abspath(one) == os.path.abspath(other)


def elsewhere_warnings(gate: Gate) -> tuple[str, ...]:
    """A warning for each other backup folder whose copies the wipe took as photos' second
    copies, where ``--backup`` (or the config) names another: a trial's wipe given an empty
    new backup folder cleared the card, its only second copies in the old one, which an
    operator trusting the new one might reformat."""
    return tuple(
        f"{count} photo(s) on the card have their backup copies in {root}, not in the backup "
        f"{gate.backup} set now, and the wipe takes those as their second copies: keep "
        f"{root}, or, if that backup was moved to "
        f"{gate.backup}, run `cardingest catalogue backup-moved {shlex.quote(str(root))} "
        f"{shlex.quote(str(gate.backup))}`"
        for root, count in sorted(gate.elsewhere.items())
    )


def backups_asked(ingests: list[dict], card: Card | None, root: Path) -> dict[str, str]:
    """For each ingest (oldest first, `Catalogue.ingests`), the backup folder its photos
    were asked to have a copy in, if any: its own backup; else that of an earlier ingest of
    this card given a backup that did not finish clean (photos failed or held, or it was
    killed or stopped), until an ingest of this card given a backup does; else that of a
    later one.

    A wipe with no backup set takes such a photo's one copy for less than was asked: the
    backup copy failed (the backup full or pulled mid-run), and the card was ingested again
    without ``--backup`` ("the NAS is still offline"), or a later run given the backup could
    not make the copy of a photo archived before it."""
    if not any(ingest["backup"] for ingest in ingests):
        return {}
    this_card = {ingest["ingest_id"] for ingest in card_history(ingests, card, root)[0]}
    asked: dict[str, str] = {}
    unmet: str | None = None
    for ingest in ingests:
        backup = str(ingest["backup"]) if ingest["backup"] else None
        if backup or unmet:
            asked[ingest["ingest_id"]] = backup or str(unmet)
        if backup and ingest["ingest_id"] in this_card:
            counts = ingest["counts"] or {}
            left = counts.get("failed", 0) + counts.get("held", 0)
            unmet = None if ingest["status"] == "finished" and not left else backup
    later: str | None = None
    for ingest in reversed(ingests):
        if later and ingest["ingest_id"] not in asked:
            asked[ingest["ingest_id"]] = later
        if ingest["backup"] and ingest["ingest_id"] in this_card:
            later = str(ingest["backup"])
    return asked


def plan_wipe(
    root: Path,
    card: Card | None,
    archive: Path,
    *,
    backup: Path | None = None,
    on_file: Callable[[str], None] | None = None,
) -> WipePlan:
    """Re-read every photo on the card and decide remove or keep. Changes nothing. With a
    ``backup`` set, a photo must have a backup copy too."""
    root = Path(root)
    require_dcim(root)
    require_catalogue(archive, NOTHING_REMOVABLE)
    not_photos: list[str] = []
    specials: list[tuple[str, str]] = []
    files = scan_source(root, not_photos=not_photos, specials=specials)
    items: list[WipeItem] = []
    with reading(archive) as catalogue:
        asked = backups_asked(catalogue.ingests(), card, root)
        gate = Gate(catalogue, archive, card, CopyChecker(), backup, asked)
        taken = _shot_times(files)
        for source, read in _read_ahead(root, (media.path for media in files)):
            items.append(_judge(source, read, gate, taken.get(source)))
            if on_file is not None:
                on_file(source)
        catalogue.set_problems(gate.marks)
    require_card_still_there(root)  # not a table of files "kept" as unreadable, then the error
    items = _photos_kept_with_their_sidecars(items)
    items += [WipeItem(path, "keep", not_a_photo(path)) for path in not_photos]
    items += [
        WipeItem(path, "keep", f"{kind}: {NOT_LOOKED_INTO if kind == HIDDEN else NOT_A_FILE}")
        for path, kind in specials
    ]
    items.sort(key=lambda item: item.source)
    return WipePlan(
        source=str(root),
        archive=str(archive),
        card=card,
        items=tuple(items),
        warnings=elsewhere_warnings(gate),
    )


def _photos_kept_with_their_sidecars(items: list[WipeItem]) -> list[WipeItem]:
    """A photo stays while a sidecar of its shot stays: removed alone, it would leave the
    sidecar without its photo, which no ingest can file any more (a camera XMP not yet
    archived, after an ingest killed before copying it). Kept, the next ingest files the
    sidecar beside it, and the wipe after removes both."""
    kept = {
        shot_of(item.source): item.source
        for item in items
        if item.action == "keep" and is_sidecar(item.source)
    }
    return [
        replace(
            item,
            action="keep",
            reason=f"its sidecar {kept[shot_of(item.source)]} stays on the card, "
            "not archived: the photo stays with it, so that an ingest files the sidecar",
        )
        if item.action == "remove" and not is_sidecar(item.source) and shot_of(item.source) in kept
        else item
        for item in items
    ]


def keep_held(plan: WipePlan, held: Mapping[str, str]) -> WipePlan:
    """``ingest --wipe``: what the ingest held stays on the card, as it said, even a photo
    archived already (under another patient: the card is the copy a person checks against),
    and so does the rest of its shot (a shot two desks split: which patient is in doubt).
    A held file the wipe keeps anyway is kept for the ingest's reason too, not one of the
    wipe's own (an earlier card's photo of that name, say), which would hide why."""
    if not held:
        return plan
    shots = {shot_of(source): reason for source, reason in held.items()}

    def why(item: WipeItem) -> str | None:
        if item.source in held:
            return f"held by the ingest: {held[item.source]}"
        twin = shots.get(shot_of(item.source)) if item.action == "remove" else None
        return f"its shot's other file was held by the ingest: {twin}" if twin else None

    items = tuple(
        replace(item, action="keep", reason=reason) if (reason := why(item)) is not None else item
        for item in plan.items
    )
    return replace(plan, items=items)


def dry_run_result(plan: WipePlan) -> WipeResult:
    return WipeResult(new_wipe_id(), plan, list(plan.items), dry_run=True)


def declined_result(plan: WipePlan) -> WipeResult:
    """The result when the operator answers no: everything stays."""
    items = [
        replace(item, action="keep", reason=f"not confirmed ({item.reason})")
        if item.action == "remove"
        else item
        for item in plan.items
    ]
    return WipeResult(new_wipe_id(), plan, items, declined=True)


def _in_dcim(source: str) -> bool:
    parts = source.split("/")
    return len(parts) > 1 and parts[0].lower() == "dcim" and ".." not in parts


def _require_there(root: Path) -> None:
    """A card whose driver was killed answers "Transport endpoint is not connected"."""
    try:
        os.stat(root)
    except OSError as exc:
        if exc.errno in CARD_GONE_ERRNOS:
            raise CardGoneError(
                f"The card at {root} is gone ({exc.strerror}): its driver stopped or it was "
                "pulled. Nothing was removed; insert it and run the wipe again."
            ) from None


def require_card_still_there(root: Path) -> None:
    """Refuse before the first deletion, and before a plan read from a card that went is
    reported as files kept: a killed FUSE driver, a lazy unmount, a pulled card leave no
    DCIM folder where the check found one."""
    if not has_dcim(root):
        raise CardGoneError(
            f"The card at {root} was removed (or its driver stopped) while the wipe checked "
            "it: nothing was removed. Insert it and run the wipe again."
        )


READ_ONLY = "is read-only (write-protect switch on, or mounted read-only)"
"""What a card mounted read-only is said to be: no file can be removed from it."""


def refuse_read_only_card(root: Path) -> None:
    """CardWriteError for a card mounted read-only: before its photos are read for the
    check (which would show every one removable first), and again before the first
    deletion."""
    if mounted_read_only(root):
        raise CardWriteError(f"The card at {root} {READ_ONLY}: nothing was removed")


def check_writable(root: Path, items: list[WipeItem]) -> None:
    """Refuse before the first deletion when the card cannot be written."""
    refuse_read_only_card(root)
    folder = unwritable_folder(root, (item.source for item in items))
    if folder is not None:
        raise CardWriteError(
            f"Cannot remove files in {folder}: the card is read-only or not writable "
            "by you; nothing was removed"
        )


def unwritable_folder(root: Path, sources: Iterable[str]) -> Path | None:
    """The first card folder of these card files in which this account may not remove a
    file; None if it may in all of them."""
    for folder in sorted({(root / source).parent for source in sources}):
        if not os.access(folder, os.W_OK):
            return folder
    return None


def _sha256_of(path: Path) -> str | None:
    """The card file's SHA-256 as it reads now (`hash_file`, no link followed); None if it
    cannot be read."""
    try:
        return hash_file(path, follow=False)[1]
    except OSError:
        return None


def _fsync_dirs(folders: set[Path]) -> None:
    for folder in sorted(folders):
        with contextlib.suppress(OSError):
            fsync_dir(folder)


class _Remover:
    """Removes one approved file at a time, its audit event written first.

    Event before removal: a kill between the two leaves an event whose file is still on the
    card (the next wipe removes it), never a file gone without its event. ``same_inodes``
    False: a card file's inode number may change while it stays the same file
    (`TIMES_UNMOVED`), so the number the check saw is not compared.
    """

    def __init__(
        self, result: WipeResult, audit: AuditLog, *, read_again: bool, same_inodes: bool = True
    ) -> None:
        self.result = result
        self.audit = audit
        self.read_again = read_again
        self.same_inodes = same_inodes
        self.root = Path(result.plan.source)
        self.card = result.plan.card
        self.count = 0
        self.folders: set[Path] = set()
        self.failed: WipeItem | None = None
        self.in_hand: WipeItem | None = None

    def remove(self, item: WipeItem) -> WipeItem:
        if not _in_dcim(item.source):
            return replace(item, action="keep", reason="not under DCIM/")
        path = self.root / item.source
        try:
            info = os.stat(path)
        except OSError as exc:
            if not has_dcim(self.root):  # pulled: one error, not a "kept" line per file
                self.failed = replace(item, action="keep", reason="the card went")
                raise self._failure(item, exc) from exc
            return replace(
                item,
                action="keep",
                reason=f"no longer on the card when its turn came ({exc.strerror}): removed by "
                "someone else meanwhile, so nothing was removed here",
            )
        inode = info.st_ino if self.same_inodes else item.inode
        if (info.st_dev, inode, info.st_size, info.st_mtime_ns, info.st_ctime_ns) != (
            item.device,
            item.inode,
            item.size,
            item.mtime_ns,
            item.ctime_ns,
        ):
            return replace(item, action="keep", reason="changed on the card after the check")
        if self.read_again and _sha256_of(path) != item.sha256:
            return replace(item, action="keep", reason="changed on the card after the check")
        self._record(item)
        self.in_hand = item
        try:
            os.unlink(path)
        except OSError as exc:
            self.in_hand = None
            self.failed = replace(
                item, action="keep", reason=f"its removal failed ({exc.strerror or exc})"
            )
            raise self._failure(item, exc) from exc
        self.in_hand = None
        self.count += 1
        self.folders.add(path.parent)
        return item

    def stopped_in_hand(self) -> WipeItem | None:
        """The file whose removal a second Ctrl-C cut into, as the card has it now: removed
        if it is gone from a folder still there (a pulled card's folder is gone too)."""
        item, self.in_hand = self.in_hand, None
        if item is None:
            return None
        path = self.root / item.source
        try:
            os.lstat(path)
        except FileNotFoundError:
            if os.path.isdir(path.parent):
                self.folders.add(path.parent)
                return item
        except OSError:
            pass
        return None

    def _record(self, item: WipeItem) -> None:
        self.audit.append(
            "wipe-remove",
            wipe_id=self.result.wipe_id,
            source=item.source,
            archive_path=item.archive_path,
            sha256=item.sha256,
            id=item.patient_id,
            card_label=self.card.label if self.card else None,
            card_serial=self.card.serial if self.card else None,
        )

    def _failure(self, item: WipeItem, exc: OSError) -> CardWriteError:
        done = f"{self.count} file(s) were removed before this (each in the audit log)"
        if exc.errno in _READ_ONLY:
            message = f"The card at {self.root} is read-only or write-protected"
        else:
            message = f"The card at {self.root} stopped accepting changes (pulled out?)"
        return CardWriteError(
            message, details=[f"could not remove {item.source}: {exc.strerror or exc}", done]
        )


TIMES_UNMOVED = frozenset({"fuse.fusefat", "fuseblk"})
"""Card drivers whose times cannot show a file rewritten in place: fusefat moves neither the
modification nor the change time (measured), and exfat-fuse (``fuseblk``) keeps no change
time of its own, so a modification time put back hides the rewrite. The removal's stat
compare cannot see such a change, so each file is read again before its removal, whatever
was asked. The whole card is checked before the first removal, minutes before the last on
a big card. fusefat also numbers a file anew once the kernel has forgotten it (memory
pressure; drop_caches), so the inode number the check saw is not compared there: the
re-read decides."""


def _sidecars_first(items: Iterable[WipeItem]) -> list[WipeItem]:
    """``items`` in their order, but each shot's sidecars before its photos: a wipe killed
    between them leaves the photo, which the next ingest skips as archived and its wipe
    removes, never a sidecar whose photo is gone (held for good as "sidecar without its
    photo")."""
    listed = list(items)
    first: dict[str, int] = {}
    for index, item in enumerate(listed):
        first.setdefault(shot_of(item.source), index)
    return sorted(listed, key=lambda i: (first[shot_of(i.source)], not is_sidecar(i.source)))


def execute_wipe(
    plan: WipePlan,
    *,
    operator: str,
    stopped: Callable[[], bool] = lambda: False,
    read_again: bool = False,
) -> WipeResult:
    """Remove the approved files. The caller holds the archive lock and has confirmed.

    The audit log gets a ``wipe-start`` event (which also proves it can be written before
    anything is deleted), a ``wipe-remove`` event right before each removal and a ``wipe``
    summary, also when the wipe stops on an error (a file whose removal then failed is in
    the summary's kept list). A file that changed since the check stays.
    ``stopped`` (a first Ctrl-C) is asked between files; a KeyboardInterrupt (a second)
    raised right after an unlink is settled by looking at the card (`stopped_in_hand`).
    ``read_again`` (a person was asked, and may have taken minutes to answer): each file is
    read again right before its removal and must still hold the bytes the check proved
    archived, since a rewrite of the same size moves no time a FAT driver shows.
    """
    result = WipeResult(new_wipe_id(), plan)
    root = Path(plan.source)
    targets = plan.to_remove
    mount = (plan.card.fstype, plan.card.mount) if plan.card else mount_of(root)
    unmoved = mount is not None and mount[0] in TIMES_UNMOVED
    read_again = read_again or unmoved
    require_card_still_there(root)
    if targets:
        check_writable(root, targets)
    audit = AuditLog(Path(plan.archive))
    card = plan.card
    identity = {
        "wipe_id": result.wipe_id,
        "operator": operator,
        "source": recorded_source(plan.source, card),
        "archive": plan.archive,
        "card_label": card.label if card else None,
        "card_serial": card.serial if card else None,
    }
    audit.append("wipe-start", **identity, to_remove=len(targets), to_keep=len(plan.to_keep))
    remover = _Remover(result, audit, read_again=read_again, same_inodes=not unmoved)
    final: dict[str, WipeItem] = {}
    status = "failed"
    failure: CardingestError | None = None
    try:
        for item in _sidecars_first(plan.items):
            if stopped():
                status = "interrupted"
                break
            final[item.source] = remover.remove(item) if item.action == "remove" else item
        else:
            status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
    except CardWriteError:
        raise  # says what was removed itself
    except CardingestError as exc:  # the audit log's database gone, mid-wipe
        failure = exc
        raise
    finally:
        cut = remover.stopped_in_hand()
        if cut is not None:
            final[cut.source] = cut
        _fsync_dirs(remover.folders)
        if remover.failed is not None:
            final[remover.failed.source] = remover.failed
        result.items = [
            final.get(item.source) or replace(item, action="keep", reason="the wipe stopped")
            for item in plan.items
        ]
        if failure is not None:
            failure.stopped_midway(
                f"The wipe stopped after {len(result.removed)} of {len(targets)} file(s) proven "
                "archived were removed from the card; everything else is still on it. Run "
                "`cardingest wipe` on the card again once this is put right, to finish."
            )
        try:
            audit.append(
                "wipe",
                **identity,
                status=status,
                counts={"removed": len(result.removed), "kept": len(result.kept)},
                kept=[{"source": i.source, "reason": i.reason} for i in result.kept],
            )
        except CardingestError:
            if failure is None:
                raise  # else the error that stopped the wipe is the one said
    if status == "interrupted":
        raise Interrupted(
            f"Interrupted after {len(result.removed)} of {len(targets)} file(s) proven archived "
            "were removed from the card; everything else is still on it. Run `cardingest wipe` "
            "on the card to finish (after an ingest --wipe, the same command with the same map "
            "file finishes it too)."
        )
    return result
