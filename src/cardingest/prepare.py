"""Everything before the first byte is copied: source, ID map, scan, archive snapshot, plan.

`preview` and `ingest` (dry run or not) both call `prepare`, so they share one planner run.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .archive.backend import (
    archive_records,
    catalogue_path,
    check_sqlite_place,
    location_for,
    modeless_fstype,
    refuse_emptied,
    refuse_lost,
    refuse_unknown_ingests,
    require_folder,
    require_readable,
)
from .archive.readonly import reading
from .card.fattimes import fat_dated
from .card.kinds import is_sidecar
from .card.scan import (
    VIDEO,
    extension,
    fingerprint,
    not_archived_kind,
    not_photo_warning,
    scan,
    special_warning,
)
from .card.volume import same_volume
from .errors import CardChangedError, CardingestError, CardReadError, UsageError
from .models import (
    ARCHIVE_ID_NAME,
    METADIR,
    MOVE_JOURNAL_NAME,
    ArchivedFile,
    ArchiveState,
    Card,
    IdMap,
    MapRow,
    MapUse,
    MediaFile,
    MovedPhoto,
    Plan,
    PlanItem,
    Settings,
    SlateRead,
    recorded_card_last,
    recorded_card_newest,
    recorded_rows,
)
from .plan.idmap import (
    BadRowsError,
    Rows,
    UnfitMapError,
    name_digests,
    parse_map,
    resolve,
    single_id_map,
    spec_covers,
    split_specs,
)
from .plan.naming import format_clock_offset
from .plan.planner import captured_key, make_plan
from .plan.shots import (
    EARLIEST_PLAUSIBLE,
    TIME_SOURCE_RANK,
    numbered_position,
    shot_key,
    shot_of,
)
from .plan.slates import SlateAssignment, assign, shots
from .storage import ondisk
from .storage.identity import inside, nearest_existing
from .storage.links import blocked
from .storage.modes import (
    ACL_NAMES,
    account_name,
    archive_account,
    changeable_by_others,
    empty_and_open,
    exposure,
    extended_acl,
    group_name,
    open_to_swaps,
    other_members,
    ours_alone,
    refuse_others_links,
    too_open,
    too_open_at,
)
from .storage.positional import open_regular
from .text import printable, some_of, undecodable

if TYPE_CHECKING:  # the slate reader (threads, Pillow, zxing-cpp) loads for --slates only
    from .archive.catalogue import CatalogueRecord
    from .card.slate import SlateOptions

SLATES_SOURCE = "slates"


@dataclass(frozen=True)
class Prepared:
    root: Path
    card: Card | None
    idmap: IdMap
    plan: Plan
    slates: SlateAssignment | None = None


def load_idmap(
    map_file: Path | None,
    patient_id: str | None,
    settings: Settings,
    *,
    slates: bool = False,
) -> IdMap:
    """The ID map of ``--map`` or ``--id``; with ``--slates`` (or ``slates = true`` and neither
    flag) an empty map marked ``slates``: the card's slates give the IDs."""
    if slates and (map_file is not None or patient_id is not None):
        raise UsageError("--slates reads the patient IDs from the card: give no --map or --id")
    if slates or (settings.slates and map_file is None and patient_id is None):
        return IdMap(rows=(), source=SLATES_SOURCE, recorded=SLATES_SOURCE, slates=True)
    if map_file is not None and patient_id is not None:
        raise UsageError("Give --map FILE or --id ID, not both")
    if map_file is None and patient_id is None:
        raise UsageError(
            "Say whose photos these are: --map FILE (see 'cardingest map-template') "
            "or --id ID for a card of one patient"
        )
    if map_file is not None and str(map_file) == "-":
        raise UsageError(
            "--map - : an ID map is read from a file, not from standard input; save it and "
            "give its path"
        )
    options = {
        "scheme": settings.id_scheme,
        "pattern": settings.id_pattern,
        "allow_test_ids": settings.allow_test_ids,
    }
    if map_file is not None:
        return parse_map(map_file, **options)  # type: ignore[arg-type]
    assert patient_id is not None
    return single_id_map(patient_id, **options)  # type: ignore[arg-type]


def scan_source(
    root: Path,
    on_file: Callable[[str], None] | None = None,
    not_photos: list[str] | None = None,
    specials: list[tuple[str, str]] | None = None,
) -> tuple[MediaFile, ...]:
    try:
        files = tuple(scan(root, on_file=on_file, not_photos=not_photos, specials=specials))
    except OSError as exc:
        raise CardReadError(
            f"Cannot read {root}: {exc.strerror or exc}. Is the card still inserted?"
        ) from None
    files = fat_dated(root, files)
    return files if not_photos is None else _with_videos(files, not_photos)


def fingerprinted(root: Path, files: tuple[MediaFile, ...]) -> tuple[MediaFile, ...]:
    """``files`` with ``shown_as`` set: for photos whose IDs are asked at the terminal, as
    shown and again for the plan."""
    return tuple(replace(media, shown_as=fingerprint(root / media.path)) for media in files)


def _with_videos(files: tuple[MediaFile, ...], not_photos: list[str]) -> tuple[MediaFile, ...]:
    """A video's THM thumbnail (Canon's MVI_0001.THM beside MVI_0001.MOV, a GoPro's) stays
    on the card with its video, named with it, not held as a sidecar without its photo."""
    videos = {shot_of(path) for path in not_photos if not_archived_kind(path) == VIDEO}
    if not videos:
        return files
    photos = {shot_of(media.path) for media in files if not media.sidecar}
    thumbnails: dict[str, list[str]] = {}
    for media in files:
        key = shot_of(media.path)
        if media.extension == "thm" and key in videos and key not in photos:
            thumbnails.setdefault(key, []).append(media.path)
    if not thumbnails:
        return files
    named = list(not_photos)
    not_photos.clear()
    for path in named:  # each thumbnail right after its video
        not_photos.append(path)
        if not_archived_kind(path) == VIDEO:
            not_photos.extend(thumbnails.pop(shot_of(path), ()))
    moved = set(not_photos)
    return tuple(media for media in files if media.path not in moved)


def with_card_problems(error: BadRowsError, source: str | None) -> BadRowsError:
    """``error`` with what the map's files specs fail to match on the card, so one run lists
    every problem of the map; as it is when the card cannot be found or read (its own error
    comes once the map is right)."""
    from .card.detect import resolve_source

    try:
        root, _ = resolve_source(source)
        files = scan_source(root)
    except CardingestError:
        return error
    return error.with_card(files)


def has_catalogue(archive: Path) -> bool:
    """Whether the archive has a catalogue yet: its SQLite file, or, when the settings name a
    PostgreSQL database, its tie to it (``.cardingest/archive-id``) or manifests of ingests
    (its tie lost: opening it says so, `pg.refuse_lost_id`)."""
    if ondisk.exists(catalogue_path(archive)):
        return True
    if not location_for(archive).postgres:
        return False
    from .archive.manifest import manifested_ingests  # only for a PostgreSQL archive

    return ondisk.exists(archive / METADIR / ARCHIVE_ID_NAME) or bool(manifested_ingests(archive))


def not_archived_named(
    unmatched: Sequence[tuple[MapRow, str | None]],
    others: Sequence[str],
    specials: Sequence[tuple[str, str]],
) -> list[tuple[int, str]]:
    """For each map row that matches no photo, the files of the card it names all the same
    (its line, and what to say): a video, a link, a photo outside DCIM/, which cardingest
    does not archive. Without this the row was "no file on the card", and the hint said its
    photos may have been wiped."""
    said: list[tuple[int, str]] = []
    kinds = [(path, not_archived_kind(path)) for path in others] + list(specials)
    for row, spec in unmatched:
        if spec is None:
            continue
        for path, kind in kinds:
            try:
                covered = spec_covers(spec, path)
            except ValueError:
                continue
            if covered:
                said.append(
                    (
                        row.line,
                        f"line {row.line}: {spec} names {printable(path)}, {kind}, which "
                        "cardingest does not archive; leave it out of the map",
                    )
                )
    return said


def new_archive(archive: Path) -> bool:
    """Whether ``archive`` has no catalogue yet, for saying so; False where that cannot be
    looked at (another account's records: opening the archive says why)."""
    try:
        return not has_catalogue(archive)
    except OSError:
        return False


def archived_already(
    archive: Path, card: Card | None, unmatched: Sequence[tuple[MapRow, str | None]]
) -> list[str]:
    """For each map row that matches no photo of the card, what the catalogue holds of its
    patient from those card files (or that time): the photos of an earlier ingest, wiped
    from the card since. A catalogue of another card (by its volume serial) does not count.
    Best effort: an archive that cannot be read says nothing here (the ingest says why)."""
    said: list[str] = []
    try:
        if not has_catalogue(archive):
            return said
        with reading(archive) as catalogue:
            for row, spec in unmatched:
                if row.blank:
                    continue
                found = [
                    record
                    for record in catalogue.records(row.patient_id)
                    if record.role == "photo"
                    and same_volume(record.card_serial, card.serial if card else None)
                    and _named_by(row, spec, record)
                ]
                if not found:
                    continue
                which = spec if spec is not None else f"between {row.start} and {row.end}"
                last = max(record.archived_at for record in found)[:10]
                said.append(
                    f"line {row.line}: the archive holds {len(found)} photo(s) of "
                    f"{row.patient_id} from {which} (archived {last}): most likely they "
                    "were wiped from the card after that ingest"
                )
    except (CardingestError, OSError):
        return []
    return said


def rows_finished(
    archive: Path,
    this_card: Sequence[dict],
    idmap: IdMap,
    unmatched: Sequence[tuple[MapRow, str | None]],
) -> tuple[IdMap | None, list[str]]:
    """The same ingest run again, after its wipe was stopped: the map without its rows (or
    files cells' parts) that match no photo because an ingest of ``this_card``
    (`card_history`) with this very map (`IdMap.same_as`) archived their photos, which
    are no longer on the card, and a line saying so for each. ``(None, [])`` unless every
    row that matched nothing is such; then the map is wrong for this card as before."""
    runs = {i["ingest_id"] for i in this_card if idmap.same_as(i["map_source"])}
    if not idmap.recorded.startswith("map sha256:") or not runs:
        return None, []
    done: dict[int, set[str | None]] = {}
    said: list[str] = []
    try:
        with reading(archive) as catalogue:
            filed = [
                record
                for run in sorted(runs)
                for record in catalogue.records(ingest_id=run)
                if record.role == "photo"
            ]
    except (CardingestError, OSError):
        return None, []
    for row, spec in unmatched:
        found = [r for r in filed if _named_by(row, spec, r)] if not row.blank else []
        moved = sum(r.patient_id != row.patient_id for r in found)
        if len(found) == moved:  # none still under the row's patient: not taken as done
            return None, []
        done.setdefault(row.line, set()).add(spec)
        which = spec if spec is not None else f"between {row.start} and {row.end}"
        said.append(
            f"line {row.line}: the photos of {which} are no longer on the card; "
            f"{len(found)} of them {'was' if len(found) == 1 else 'were'} archived "
            f"for {row.patient_id} by ingest {found[0].ingest_id} with this map"
            + (f" ({moved} since moved to another patient)" if moved else "")
            + ", so that part of the map is done"
        )
    rows = []
    for row in idmap.rows:
        if row.line not in done:
            rows.append(row)
        elif row.files is not None:
            left = [spec for spec in split_specs(row.files) if spec not in done[row.line]]
            if left:
                rows.append(replace(row, files=" ".join(left)))
    return replace(idmap, rows=tuple(rows)), said


def _ingest_read_this_card(ingest: dict, serial: str | None, here: str) -> bool:
    """Whether an earlier ingest read this card: by volume serial where both are known, else
    by the source it recorded."""
    if ingest["card_serial"] is not None and serial is not None:
        return same_volume(ingest["card_serial"], serial)
    return bool(ingest["source"] == here)


def _named_by(row: MapRow, spec: str | None, record: CatalogueRecord) -> bool:
    if spec is not None:
        return spec_covers(spec, record.source_path)
    try:
        when = datetime.fromisoformat(record.captured_at).replace(tzinfo=None)
    except ValueError:
        return False
    return row.start is not None and row.end is not None and row.start <= when <= row.end


def copies_gone(
    state: ArchiveState, files: Sequence[MediaFile], archive: Path, backup: Path | None
) -> ArchiveState:
    """``state`` with a problem noted for each archived photo of these card files (of the
    map's patients, and those earlier ingests of this card filed) whose archive or backup
    copy is not there, where `verify` would note it (its folder there, or
    its root): the plan then repairs it, as after a verify. Only a file's presence is looked
    at (no reading), and only for photos on this card. With a ``backup``, a photo archived
    with no backup copy at all is noted too: the repair makes its backup copy, since
    ``--backup`` asks for two copies before ``--wipe`` clears the card. A backup copy that
    lies outside this run's ``backup`` (none given) cannot be put back: its photo is held."""
    on_card = {media.path for media in files}
    if not any(a.source_path in on_card for a in (*state.archived, *state.same_names)):
        return state
    from .archive.verify import (  # an archive with photos of this card
        CopyState,
        marked_how,
        marks_backup,
        repairable,
    )

    def gone(found: ArchivedFile) -> ArchivedFile:
        if found.archive_path in state.moving:  # an interrupted move's: repaired once it ends
            return found
        if backup is not None and not found.backup_path:
            return replace(
                found, problem=f"archived with no backup copy; this run makes one in {backup}"
            )
        copies = [("archive", Path(archive, *found.archive_path.split("/")))]
        if found.backup_path:
            copies.append(("backup", Path(found.backup_path)))
        for where, path in copies:
            if os.path.lexists(path) or not repairable(CopyState("missing"), path):
                continue
            if where == "archive" or (backup is not None and path.is_relative_to(backup)):
                return replace(found, problem=f"{where} copy {path.name} is missing")
            return _held_for_backup(found, "is missing")
        return found

    def elsewhere(found: ArchivedFile) -> ArchivedFile:
        if not found.backup_path or not marks_backup(found.problem or ""):
            return found
        if backup is not None and Path(found.backup_path).is_relative_to(backup):
            return found
        return _held_for_backup(found, marked_how(found.problem or ""))

    def noted(found: tuple[ArchivedFile, ...]) -> tuple[ArchivedFile, ...]:
        return tuple(
            (gone(a) if a.problem is None else elsewhere(a)) if a.source_path in on_card else a
            for a in found
        )

    return replace(state, archived=noted(state.archived), same_names=noted(state.same_names))


def _held_for_backup(found: ArchivedFile, how: str) -> ArchivedFile:
    """``found``, held: its backup copy (``how``: is missing, no longer matches) lies outside
    this run's backup. The message names the backup folder where the copy's path shows it
    (it ends in the archive path, as every backup copy but a ``-2`` beside another's)."""
    path = Path(found.backup_path or "")
    parts = found.archive_path.split("/")
    root = f" {path.parents[len(parts) - 1]}" if path.parts[-len(parts) :] == tuple(parts) else ""
    return replace(
        found,
        problem=f"its backup copy {path} {how}: it stays on the card until an ingest given that "
        f"backup folder (--backup{root}) copies it again",
        repairable=False,
    )


def archive_state(archive: Path, idmap: IdMap) -> ArchiveState:
    """What the archive already holds for the map's patients; empty for a new archive. The
    names an interrupted move holds count as taken (`move.pending_move_names`)."""
    location = location_for(archive)
    if location.postgres:
        if not has_catalogue(archive):
            return ArchiveState()  # a new archive: the ingest ties it to the database
    elif not ondisk.exists(catalogue_path(archive)):
        refuse_lost(archive)
        check_sqlite_place(archive, single_workstation=location.single_workstation)
        return ArchiveState()
    with reading(archive) as catalogue:
        ingests = catalogue.ingests()
        if not catalogue.has_files():
            refuse_emptied(archive, ingests)
        refuse_unknown_ingests(archive, ingests)
        state = catalogue.archive_state({row.patient_id for row in idmap.rows if not row.blank})
    if not ondisk.exists(archive / METADIR / MOVE_JOURNAL_NAME):
        return state
    from .move import pending_move_names

    moving = pending_move_names(archive)
    return replace(state, taken_paths=state.taken_paths | moving, moving=moving)


def slate_options(settings: Settings) -> SlateOptions:
    from .card.slate import SlateOptions

    return SlateOptions(
        scheme=settings.id_scheme,
        pattern=settings.id_pattern,
        allow_test_ids=settings.allow_test_ids,
        slate_pattern=settings.slate_pattern,
    )


def find_slates(
    root: Path,
    files: tuple[MediaFile, ...],
    settings: Settings,
    on_file: Callable[[str], None] | None = None,
    card: Card | None = None,
) -> SlateAssignment:
    """Read each photo's barcodes (once) and assign the photos to the slates' patients,
    held too where the photos this card gave the archive before and holds no longer
    (`archived_context`) leave a photo's patient in doubt."""
    from .card.slate import READABLE, read_slates

    images = [shot.image for shot in shots(files, READABLE) if shot.image is not None]
    try:
        reads = read_slates(root, images, slate_options(settings), on_file=on_file)
    except OSError as exc:
        raise CardReadError(
            f"Cannot read {root}: {exc.strerror or exc}. Is the card still inserted?"
        ) from None
    context, slates, damaged = archived_context(settings.archive, card, root, files, READABLE)
    found = assign(
        files,
        {**reads, **slates},
        max_gap=timedelta(minutes=settings.slate_max_gap),
        readable=READABLE,
        group_gap=timedelta(minutes=settings.gap_minutes),
        context=context,
    )
    if not damaged:
        return found
    said = (
        f"{damaged} record(s) of photos this card gave the archive before are damaged and were "
        "left out where the slates were looked at among them (a photo held for what came "
        "before it may not be): run cardingest verify, and check the held photos"
    )
    return replace(found, warnings=(*found.warnings, said))


def archived_context(
    archive: Path,
    card: Card | None,
    root: Path,
    files: Sequence[MediaFile],
    readable: Collection[str],
) -> tuple[tuple[MediaFile, ...], dict[str, SlateRead], int]:
    """The photos this card gave the archive's ingests (`_card_runs`) and holds no longer,
    of the days its photos are of and the days either side (a visit across midnight), as
    the scan would list them, the reads of the slates among them (their recorded patient),
    and how many of their records were passed over as damaged: what came before a held
    photo, so that a wipe of the rest of the card does not leave it looking like a plain
    visit. A record of a path the card holds now is of that file where its time and size
    are the file's, else of a shot whose name the camera gave again. None where the
    catalogue cannot be read (the ingest then stops on it itself)."""
    near = {
        m.captured.date() + timedelta(days=step)
        for m in files
        if m.time_source != "mtime"
        for step in (-1, 0, 1)
    }
    runs = _card_runs(_earlier_ingests(archive), card, root) if near else []
    if not runs:
        return (), {}, 0
    on_card: dict[str, set[tuple[datetime, int]]] = {}
    for media in files:
        for tail in _tails(media.path):
            on_card.setdefault(tail, set()).add((media.captured, media.size))
    found: dict[str, MediaFile] = {}
    slates: dict[str, SlateRead] = {}
    damaged = 0

    def passed_over(_row: object) -> None:
        nonlocal damaged
        damaged += 1

    try:
        with reading(archive) as catalogue:
            for run, base in runs:
                for record in catalogue.records(ingest_id=run["ingest_id"], on_damaged=passed_over):
                    path = _from_root(base, record.source_path)
                    if not path or is_sidecar(path) or extension(path) not in readable:
                        continue
                    captured = _camera_time(record.captured_raw)
                    if captured is None or record.time_source not in TIME_SOURCE_RANK:
                        damaged += 1  # a time or time source cardingest never writes
                        continue
                    if record.time_source == "mtime" or captured.date() not in near:
                        continue
                    shot = (captured, record.size)
                    if any(shot in on_card.get(tail, ()) for tail in _tails(path)):
                        continue  # still on the card
                    if path in on_card or path in found:  # the name given again
                        stem, dot, ext = path.rpartition(".")
                        path = f"{stem}~{len(found)}{dot}{ext}"
                    found[path] = MediaFile(
                        path=path,
                        size=record.size,
                        captured=captured,
                        time_source=record.time_source,  # type: ignore[arg-type]
                        subsec=record.subsec,
                    )
                    if record.role == "slate":
                        slates[path] = SlateRead(path=path, ids=(record.patient_id,))
    except (CardingestError, OSError):
        return (), {}, 0  # the ingest stops on an archive it cannot read; a preview says so
    return tuple(found.values()), slates, damaged


def _card_runs(
    ingests: Sequence[dict], card: Card | None, root: Path
) -> list[tuple[dict, tuple[str, str]]]:
    """The ingests that read the card ``root`` is or lies on, whichever of its folders each
    was given (its top, its ``DCIM``, a camera folder), with that folder and ``root``, each
    relative to the card's top: a review's first ingest given the card and the second its
    ``DCIM`` folder (a plain folder, known by a digest of its path) were taken for two
    sources."""
    from .archive.provenance import recorded_folder, recorded_source
    from .card.detect import card_top, dcim_folder, resolve_source

    top, on = card_top(root, card), card
    if card is None and top != root:
        with suppress(CardingestError, OSError):
            top, on = resolve_source(str(top))

    def below_top(folder: Path) -> str:
        return "" if folder == top else folder.relative_to(top).as_posix()

    dcim = dcim_folder(top)
    inside_dcim: list[Path] = []
    with suppress(OSError):
        inside_dcim = [p for p in dcim.iterdir() if ondisk.is_dir(p)] if dcim is not None else []
    folders = {
        recorded_folder(str(folder)): below_top(folder)
        for folder in (top, *([dcim] if dcim else []), *inside_dcim)
    }
    now = below_top(root) if root.is_relative_to(top) else ""
    serial, source = (on.serial if on else None), recorded_source(str(top), on)
    found = []
    for ingest in ingests:
        if _ingest_read_this_card(ingest, serial, source):
            found.append((ingest, ("", now)))
        elif ingest["source"] in folders:
            found.append((ingest, (folders[ingest["source"]], now)))
    return found


def _from_root(bases: tuple[str, str], path: str) -> str:
    """A recorded card path (relative to the folder its ingest was given) relative to the
    folder given now, both folders relative to the card's top; "" if it lies outside it."""
    given, now = bases
    full = f"{given}/{path}" if given and path else path
    if not now:
        return full
    return full[len(now) + 1 :] if full.startswith(now + "/") else ""


def _camera_time(text: str) -> datetime | None:
    """A record's camera time as the scan gives a card file's; None if it is no such time
    (a damaged row: the ones cardingest writes are local times with no offset)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is None else None


def _tails(path: str) -> Iterator[str]:
    """``path`` and each shorter path it ends in (``DCIM/100CANON/IMG_0001.JPG``,
    ``100CANON/IMG_0001.JPG``, ``IMG_0001.JPG``): an ingest given the camera folder as its
    SOURCE recorded the shorter one (`wipe.names_file`)."""
    while path:
        yield path
        path = path.partition("/")[2]


def slates_against(
    files: Sequence[MediaFile], rows: Rows, slates: SlateAssignment
) -> dict[str, str]:
    """With ``slates = true`` in the config and a map or ``--id`` given: each card photo
    whose slate (read all the same) names another patient than the map or ID gives it, or
    is a slate that cannot be used (an ID that fails its check, two IDs), with why. The card
    says one patient, or that a new one starts, and the operator another: it stays on the
    card."""
    doubts: dict[str, str] = {}
    for media in files:
        path = media.path
        slate = None if media.sidecar else slates.slate_of.get(path)
        given = rows.get(path) if slate is not None else None
        if slate is None or given is None or given.blank:
            continue
        by_slate = slates.rows.get(path)
        if by_slate is not None and given.patient_id == by_slate.patient_id:
            continue
        bad = slates.holds.get(slate) if slate in slates.slates else None
        if by_slate is None and bad is None:
            continue  # held under --slates for a pause or a gap: the operator's ID stands
        what = "is the slate" if path == slate else f"comes after the slate {slate}"
        says = (
            f"of {by_slate.patient_id}" if by_slate is not None else f"that cannot be used ({bad})"
        )
        operator = "--id" if given.line == 0 else f"map (line {given.line})"
        named = "--id" if given.line == 0 else "map"
        right = (
            f"if it is right, run again with --slates or {'an ID' if given.line == 0 else 'a map'}"
            " that agrees; if it is wrong, with --no-slates"
            if by_slate is not None
            else f"if the {named} is right about these photos, run again with --no-slates"
        )
        doubts[path] = (
            f"it {what} {says}, and the {operator} gives it to {given.patient_id}: the card "
            f"and the {named} disagree about whose photo it is. Check the slate: {right}"
        )
    return doubts


_HASH_CHUNK = 1024 * 1024


def _sha256(path: Path) -> str:
    import hashlib  # OpenSSL starts (2-3 ms) only when a photo is hashed

    digest = hashlib.sha256()
    fd = open_regular(path)
    try:
        while chunk := os.read(fd, _HASH_CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def names_archived(
    archive: Path, files: Sequence[MediaFile], this_card: Sequence[dict]
) -> tuple[ArchivedFile, ...]:
    """The catalogue's files, of any patient, from one of these card paths, archived by one
    of ``this_card``'s ingests (`card_history`): a shot changed in the camera is on the card
    it was taken on, where another card's photo of the same name and second is not that
    shot."""
    paths = [media.path for media in files if not undecodable(media.path)]
    runs = {ingest["ingest_id"] for ingest in this_card}
    if not paths or not runs:
        return ()
    with reading(archive) as catalogue:
        found = catalogue.archived_from_names(paths)
    return tuple(a for a in found if a.ingest_id in runs)


def content_elsewhere(
    root: Path,
    archive: Path,
    files: tuple[MediaFile, ...],
    assignment: Rows,
    archived: Sequence[ArchivedFile] = (),
    on_file: Callable[[str], None] | None = None,
) -> tuple[tuple[MediaFile, ...], tuple[ArchivedFile, ...]]:
    """Hash the card photos whose size matches a file archived under another patient, or
    whose size and capture time match one of the row's own patient (from another card
    path), and the sidecars whose size matches one of the row's patient.

    Card photos whose size and capture time match a card photo given to another patient
    are hashed too (the same bytes twice on one card; fixed-size RAW files of two patients
    are not all read), and so is every card file (sidecars too) whose card path and size
    match one of ``archived`` (the map's patients' files, and those earlier ingests of this
    card made, whoever's): the planner calls it archived only if its content is the same
    (not a photo changed in the camera since, or another card's photo of the same name,
    size and time). Returns the files (those candidates with
    their `sha256`, or marked unreadable when they cannot be read, so they are held: a
    patient in doubt fails closed) and the catalogue's files of those sizes, for the planner
    to compare. Equal content has equal size, so no other photo needs reading; a card of new
    photos costs one query. ``assignment`` is each card path's row (from the ID map or the
    slates), as the planner will see it. ``on_file`` is called after each file hashed.
    """
    by_name = {(a.source_path, a.size) for a in archived}
    photos = [m for m in files if not m.sidecar and m.size > 0 and not m.unreadable]
    sidecars = [m for m in files if m.sidecar and m.size > 0 and not m.unreadable]
    found: list[ArchivedFile] = []
    if has_catalogue(archive):
        with reading(archive) as catalogue:
            found = list(catalogue.archived_with_sizes({m.size for m in (*photos, *sidecars)}))
    owners: dict[int, set[str]] = {}
    for other in found:
        owners.setdefault(other.size, set()).add(other.patient_id)
    # The row's own patient's files of a size, and of a size and capture time: a photo they
    # have from another card path is skipped by the ingest's copy gate, and the plan says so
    # (`planner.SAME_CONTENT`), with its sidecar archived beside it.
    own = {(a.patient_id, a.size, a.captured_raw) for a in found}
    own_sizes = {(a.patient_id, a.size) for a in found}
    # The same bytes twice on one card: the same size and capture time. Given to two
    # patients, held; to one, the planner plans the second as the ingest's gate skips it.
    twins: Counter[tuple[tuple[int, datetime | None, str], str]] = Counter()
    for media in photos:
        given = assignment.get(media.path)
        if given is not None and not given.blank:
            twins[_twin_key(media), given.patient_id] += 1
    given_twins: dict[tuple[int, datetime | None, str], set[str]] = {}
    for key, patient in twins:
        given_twins.setdefault(key, set()).add(patient)
    wanted = [m for m in files if (m.path, m.size) in by_name and not m.unreadable]
    for media in photos:
        row = assignment.get(media.path)
        if row is None or (media.path, media.size) in by_name:
            continue
        key = _twin_key(media)
        others = owners.get(media.size, set()) | given_twins.get(key, set())
        if (
            others - {row.patient_id}
            or twins[key, row.patient_id] > 1
            or (row.patient_id, media.size, captured_key(media)) in own
        ):
            wanted.append(media)
    if sidecars and own_sizes:  # a sidecar has no row of its own: its photo's
        rows_of_shots = {shot_key(m): row for m in photos if (row := assignment.get(m.path))}
        for media in sidecars:
            row = rows_of_shots.get(shot_key(media))
            if row is None or (media.path, media.size) in by_name:
                continue
            if (row.patient_id, media.size) in own_sizes:
                wanted.append(media)
    hashed: dict[str, MediaFile] = {}
    for media in wanted:
        try:
            hashed[media.path] = replace(media, sha256=_sha256(root / media.path))
        except OSError:
            hashed[media.path] = replace(media, unreadable=True)
        if on_file is not None:
            on_file(media.path)
    return tuple(hashed.get(m.path, m) for m in files), tuple(found)


def _twin_key(media: MediaFile) -> tuple[int, datetime | None, str]:
    """Equal for two copies of one photo; for two photos, only by a rare chance (fixed-size
    RAW files of one second), which the sha256 then settles. A photo dated by its file time
    (no EXIF date) is keyed by its size alone: two copies of it need not share that time."""
    if media.time_source == "mtime":
        return media.size, None, ""
    return media.size, media.captured, media.subsec


def _moved(
    archive: Path, files: Sequence[MediaFile], elsewhere: Sequence[ArchivedFile], rows: Rows
) -> dict[str, tuple[MovedPhoto, ...]]:
    """`ArchiveState.moved` for the card's photos whose content is filed under another
    patient than their row gives them: the audit log is read only when there is one (not
    for a card of photos archived before under their own patient)."""
    owners: dict[str, set[str]] = {}
    for archived in elsewhere:
        owners.setdefault(archived.sha256.lower(), set()).add(archived.patient_id)
    found = set()
    for media in files:
        digest = None if media.sidecar or not media.sha256 else media.sha256.lower()
        row = rows.get(media.path) if digest else None
        if digest and row and not row.blank and owners.get(digest, set()) - {row.patient_id}:
            found.add(digest)
    if not found:
        return {}
    from .move import moved_photos

    return moved_photos(archive, found)


def prepare(
    root: Path,
    card: Card | None,
    settings: Settings,
    idmap: IdMap,
    *,
    clock_offset: timedelta = timedelta(0),
    on_file: Callable[[str], None] | None = None,
) -> Prepared:
    others: list[str] = []
    specials: list[tuple[str, str]] = []
    files = scan_source(root, on_file, others, specials)
    if idmap.asked is not None:
        files = fingerprinted(root, files)
    slates = None
    if idmap.slates:
        slates = find_slates(root, files, settings, on_file, card)
        rows = {row.patient_id: row for row in slates.rows.values()}
        idmap = replace(idmap, rows=tuple(rows[key] for key in sorted(rows)))
    finished: list[str] = []
    try:
        assignment = (
            dict(slates.rows) if slates is not None else resolve(idmap, files, clock_offset)
        )
    except UnfitMapError as exc:
        if idmap.asked is not None:  # the answers at the terminal name photos gone since
            gone = ", ".join(f"group {row.line}: {spec}" for row, spec in exc.unmatched)
            raise CardChangedError(
                f"Photos the IDs were asked for are no longer on {root} ({gone}): the card "
                "changed while the IDs were asked, so nothing was copied."
            ) from None
        mine = card_history(_earlier_ingests(settings.archive), card, root)[0]
        rest, finished = rows_finished(settings.archive, mine, idmap, exc.unmatched)
        try:
            if rest is None:
                raise exc
            assignment, idmap = resolve(rest, files, clock_offset), rest
        except UnfitMapError:
            said = archived_already(settings.archive, card, exc.unmatched)
            kept_out = not_archived_named(exc.unmatched, others, specials)
            explained = {line for line, _ in kept_out}
            raise exc.with_archived([*(why for _, why in kept_out), *said], explained) from None
    require_folder(settings.archive)  # before the archive is read: one message, not a traceback
    require_readable(settings.archive)
    read = None  # with slates = true beside a map or --id: read all the same, to check it
    if settings.slates and slates is None:
        read = find_slates(root, files, settings, on_file, card)
    doubts = slates_against(files, assignment, read) if read is not None else {}
    state = archive_state(settings.archive, idmap)
    this_card, other_cards = card_history(_earlier_ingests(settings.archive), card, root)
    same_names = names_archived(settings.archive, files, this_card)
    files, elsewhere = content_elsewhere(
        root, settings.archive, files, assignment, (*state.archived, *same_names), on_file
    )
    state = replace(
        state,
        elsewhere=elsewhere,
        same_names=same_names,
        map_used=first_row_uses(settings.archive, this_card, other_cards, idmap),
        moved=_moved(settings.archive, files, elsewhere, assignment),
    )
    state = copies_gone(state, files, settings.archive, settings.backup)
    roots = [settings.archive, *([settings.backup] if settings.backup else [])]
    strays: dict[str, Path] = {}
    for _pass in range(_STRAY_PASSES):  # each names at least one more stray (few are there)
        plan = make_plan(
            files,
            idmap,
            slates=slates,
            slates_read=read,
            state=replace(state, taken_paths=state.taken_paths | set(strays)),
            allow_other_patient=settings.allow_other_patient,
            source=str(root),
            archive=str(settings.archive),
            folder_template=settings.folder_template,
            name_template=settings.name_template,
            clock_offset=clock_offset,
            assignment=assignment,
            doubts=doubts,
        )
        found = {k: v for k, v in strays_in_the_way(plan, roots).items() if k not in strays}
        if not found:
            break
        strays.update(found)
    if strays:
        plan = replace(plan, warnings=(*plan.warnings, _strays_warning(strays)))
    giving_way = keywords_sidecars_giving_way(plan, roots)
    if giving_way:
        gave_way = (
            f"{len(giving_way)} keywords sidecar(s) cardingest wrote (such as "
            f"{printable(str(giving_way[0]))}) give way to the camera's own XMP of the same "
            "photo, come to the card since the photo was archived: the keywords stay in the "
            "catalogue (search, share, tag), as for a photo archived with its camera's XMP"
        )
        plan = replace(plan, warnings=(*plan.warnings, gave_way))
    for note in (
        *(in_others_folder(what, root, settings.archive) for what, root in _named(settings)),
        map_open_to_others(idmap, settings.archive),
        map_used_before(other_cards, idmap),
        offset_changed(plan, this_card, same_names),
        left_by_another_patients_ingest(settings.archive, this_card, idmap, plan),
    ):
        if note:
            plan = replace(plan, warnings=(*plan.warnings, note))
    plan = replace(plan, warnings=(*plan.warnings, *finished))
    stand_in_the_way = (
        f"{why}: photos are to be filed in it, so the ingest will copy nothing until it is "
        "moved aside"
        for why in blocked_folders(plan, roots)
    )
    plan = replace(plan, warnings=(*plan.warnings, *stand_in_the_way))
    open_folders = folders_open_to_others(plan, roots)
    if open_folders:
        plan = replace(plan, warnings=(*plan.warnings, open_folders))
    odd_clock = clock_warning(files, clock_offset, datetime.now())
    if odd_clock:
        plan = replace(plan, warnings=(*plan.warnings, odd_clock))
    if abs(clock_offset) > timedelta(days=1):
        far = (
            f"--clock-offset {format_clock_offset(clock_offset)} moves every photo's time by "
            f"more than a day ({abs(clock_offset)}), and its name and date with it: check it "
            "(+01:00 is one hour)"
        )
        plan = replace(plan, warnings=(*plan.warnings, far))
    if others:
        plan = replace(plan, warnings=(*plan.warnings, *map(not_photo_warning, others)))
    if specials:
        named = (special_warning(path, kind) for path, kind in specials)
        plan = replace(plan, warnings=(*plan.warnings, *named))
    pending = unrecorded_warnings(settings.archive)
    if pending:
        plan = replace(plan, warnings=(*plan.warnings, *pending))
    idmap = with_card_newest(idmap, plan, datetime.now())
    return Prepared(root=root, card=card, idmap=idmap, plan=plan, slates=slates)


def map_open_to_others(idmap: IdMap, archive: Path) -> str | None:
    """A warning when another account can change the ID map file (`modes.changeable_by_others`):
    it says whose photo is whose; else when every account on this computer, or another
    account of its group (not the ``archive_group``), can read it: it holds patients' IDs,
    and diagnoses. `map-template --out` writes it ``0600``; a
    spreadsheet saves it again with the umask's mode, often ``0644``. For root, a map of
    the archive's own account is trusted, as its folders are (`_trusted_owners`)."""
    if not idmap.recorded.startswith("map sha256:"):
        return None  # --id, --slates, answers at the terminal
    path = Path(idmap.source)
    real = Path(os.path.realpath(path))  # /dev/stdin: the file it was given
    shown = printable(str(real))
    changed = changeable_by_others(path, _trusted_owners(archive))
    if changed is not None:
        return (
            f"the ID map {shown} {changed}: it says whose photo is whose, so whoever can "
            f"change it can file photos under other patients. Make it yours alone (chown, "
            f"chmod 600 {shown}) in a folder only you can change"
        )
    try:
        status = os.stat(path)
        folders = [os.stat(folder) for folder in real.parents]
    except OSError:
        return None
    mode, gid = status.st_mode, status.st_gid
    if not stat.S_ISREG(mode):
        return None
    remedy = f"it holds patients' IDs; chmod 600 {shown}, or keep it in a folder of your own"
    # A folder on the way that does not let them in (a home of 0700) keeps them out.
    if mode & stat.S_IROTH and all(f.st_mode & stat.S_IXOTH for f in folders):
        return (
            f"the ID map {shown} can be read by every account on this computer (mode "
            f"{stat.S_IMODE(mode):04o}): {remedy}"
        )
    if not too_open(mode, gid) & stat.S_IRGRP:
        return None  # not by its group, or its group is the archive_group
    members = other_members(gid, status.st_uid)
    if not members or not all(
        f.st_mode & stat.S_IXOTH or (f.st_mode & stat.S_IXGRP and f.st_gid == gid) for f in folders
    ):
        return None
    return (
        f"the ID map {shown} can be read by group {group_name(gid)} (the account(s) "
        f"{some_of(members)}; "
        f"mode {stat.S_IMODE(mode):04o}): {remedy}"
    )


def _copy_folders(plan: Plan) -> set[str]:
    """The folders (relative to the archive or backup) the plan's copies go into."""
    return {i.target.rpartition("/")[0] for i in plan.items if i.action == "copy" and i.target}


_STRAY_PASSES = 20
"""Plans made at most, each moving the photos off the strays the one before met: past that
(a folder of strays named one after another), the copy still never overwrites one, but
takes its own next name."""


def strays_in_the_way(plan: Plan, roots: Sequence[Path]) -> dict[str, Path]:
    """The plan's new names, each with the file found there, that a file the catalogue does
    not hold already has in the archive or backup (copied there by hand, say), with other
    bytes than the photo's: the name is taken, and the plan moves on to the next free one,
    in the preview as in the ingest (whose copies would otherwise take ``-2`` each on its
    own, apart from the photo's RAW and sidecars, and the backup's). A file holding the
    photo's own bytes (a run of a version without a journal, killed before its catalogue
    row) is the photo: the copy finds it identical and keeps it."""
    listed: dict[tuple[Path, str], tuple[Path, set[str]]] = {}
    found: dict[str, Path] = {}
    for item in plan.items:
        if item.action != "copy" or item.repair or not item.target:
            continue
        folder, _, name = item.target.rpartition("/")
        for root in roots:
            if (root, folder) not in listed:
                where = Path(root, *folder.split("/")) if folder else Path(root)
                try:
                    listed[root, folder] = where, set(os.listdir(where))
                except OSError:
                    listed[root, folder] = where, set()  # not there yet, or `blocked_folders`
            where, names = listed[root, folder]
            if name not in names:
                continue
            try:
                other = os.stat(where / name, follow_symlinks=False)
            except OSError:
                continue
            if not _may_be_the_copy(other, where) or not (
                _same_bytes(where / name, Path(plan.source, item.source), other.st_size, item.size)
                or (item.sidecar and _keywords_sidecar(where / name, plan, item))
            ):
                found.setdefault(item.target, where / name)
    return found


def _may_be_the_copy(found: os.stat_result, folder: Path) -> bool:
    """Whether a file at a planned name could stand as the copy, as the copy itself judges
    (`transfer._identical`): a regular file `modes.ours_alone` takes."""
    if not stat.S_ISREG(found.st_mode):
        return False
    try:
        return ours_alone(found, os.stat(folder).st_uid)
    except OSError:
        return False


def _keywords_sidecar(path: Path, plan: Plan, item: PlanItem) -> bool:
    """Whether ``path`` is the keywords sidecar cardingest wrote for the catalogued keywords
    of the photo ``item`` (a camera sidecar) goes with: it gives way to the camera's file
    (`xmp.give_way`), so the name is not taken. One edited since is another file."""
    from .archive.xmp import MAX_SIDECAR, as_written, keywords_of

    photo = photo_of(plan, item)
    try:
        with reading(Path(plan.archive)) as catalogue:
            record = catalogue.record(photo) if photo else None
        if record is None:
            return False
        with open(open_regular(path), "rb") as handle:
            data = handle.read(MAX_SIDECAR)
    except (CardingestError, OSError):
        return False
    return as_written(data, keywords_of(record))


def photo_of(plan: Plan, item: PlanItem) -> str | None:
    """The archive name of the photo the sidecar ``item`` goes with, as the plan has it."""
    return next(
        (i.target for i in plan.items if i.media is item.timed and not i.sidecar and i.target),
        None,
    )


def keywords_sidecars_giving_way(plan: Plan, roots: Sequence[Path]) -> list[Path]:
    """The keywords sidecars cardingest wrote where the plan copies a camera's XMP (one come
    to the card after its photo was archived with keywords): the ingest removes each before
    the copy (`xmp.give_way`)."""
    found = []
    for item in plan.items:
        if item.action == "copy" and item.sidecar and item.target:
            for root in roots:
                path = Path(root, *item.target.split("/"))
                if (
                    ondisk.is_file(path)
                    and not ondisk.is_symlink(path)
                    and _keywords_sidecar(path, plan, item)
                ):
                    found.append(path)
    return found


def _same_bytes(there: Path, card_file: Path, size: int, card_size: int) -> bool:
    """Whether a file at a planned name holds the card file's bytes (read only when the
    sizes agree, which a stray's rarely does); one that cannot be read is not taken for it."""
    if size != card_size:
        return False
    try:
        with (
            open(open_regular(there), "rb") as one,
            open(open_regular(card_file), "rb") as other,
        ):
            while True:
                chunk = one.read(1 << 20)
                if chunk != other.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def _strays_warning(strays: dict[str, Path]) -> str:
    return (
        f"{len(strays)} name(s) the photos would take are held in the archive or backup by "
        f"files its catalogue does not hold (such as {printable(str(strays[min(strays)]))}), "
        "so those photos take the next free names (a sidecar of a photo archived before "
        "stays on the card instead: its reason says so); `cardingest verify` lists those in "
        "the archive"
    )


def blocked_folders(plan: Plan, roots: Sequence[Path]) -> list[str]:
    """What stands where the plan's copies go, once each: a file, a link or another mount in
    place of a patient's folder (`storage.links.blocked`); ``roots``: the archive, then the
    backup if any."""
    folders = _copy_folders(plan)
    found = []
    for n, root in enumerate(roots):
        for folder in sorted(folders - {""}):
            why = blocked(root, folder.split("/"), "backup" if n else "archive")
            if why is not None:
                found.append(why)
    return found


def folders_open_to_others(plan: Plan, roots: Sequence[Path]) -> str | None:
    """A warning when a folder the plan's copies go into (the archive or backup itself, a
    patient's folder) is there already and can be changed by other accounts (they could
    remove, rename or swap the photos filed in it) or, else, read by them (its names are
    patients' IDs). Folders cardingest makes are ``0700``; one made before, or by hand, is
    left as it is (`verify` calls it exposed)."""
    if not hasattr(os, "geteuid"):
        return None
    folders = _copy_folders(plan)
    changed: list[tuple[Path, str]] = []
    read: list[tuple[Path, str]] = []
    trusted = _trusted_owners(Path(plan.archive))
    for root in roots:
        places = set() if _to_be_closed(Path(root), trusted) else {Path(root)}
        for folder in folders - {""}:
            parts = folder.split("/")
            places.update(Path(root, *parts[: n + 1]) for n in range(len(parts)))
        for place in sorted(places):
            try:
                status = os.lstat(place)
            except OSError:
                continue  # not there yet: made 0700
            if stat.S_ISLNK(status.st_mode):
                continue  # its own mode (0777) says nothing: `blocked_folders` names the link
            why = _writers(place, status, trusted)
            if why is not None:
                changed.append((place, why))
            elif (readers := _readers(place, status)) is not None:
                read.append((place, readers))
    found = changed or read
    if not found:
        return None
    place, why = found[0]
    fstype = modeless_fstype(place)
    remedy = (
        f"Its file system ({fstype}) keeps no Unix modes, so no chmod or `verify "
        "--fix-permissions` can close it: mount it for this account alone (uid=, gid=, "
        "umask=077), or give the archive a folder of its own"
        if fstype
        else "Have the account that owns them run `cardingest verify --fix-permissions`, or "
        "give the archive a folder of its own"
    )
    if changed:
        return (
            f"{len(found)} folder(s) the photos are to be filed in can be changed by other "
            f"accounts ({printable(str(place))} {why}): they could remove, rename or replace "
            f"the photos in them. {remedy}"
        )
    return (
        f"{len(found)} folder(s) the photos are to be filed in can be read by other accounts "
        f"({printable(str(place))} is {why}): they can see the patients' IDs its names "
        f"carry, and open any photo in it whose own mode lets them. {remedy}"
    )


def _to_be_closed(root: Path, trusted: set[int]) -> bool:
    """An archive or backup folder of a trusted account's that holds nothing yet, on a
    file system with Unix modes: the ingest closes it before its first copy
    (`modes.empty_and_open`), and says so (or that it could not)."""
    with suppress(OSError):
        return (
            empty_and_open(root) is not None
            and os.stat(root).st_uid in trusted
            and modeless_fstype(root) is None
        )
    return False


def _named(settings: Settings) -> list[tuple[str, Path]]:
    backup = [("backup", settings.backup)] if settings.backup is not None else []
    return [("archive", settings.archive), *backup]


def in_others_folder(what: str, root: Path, archive: Path) -> str | None:
    """A warning when the archive (or backup) folder is, or is to be made, in a folder of an
    account other than this one, root and (for root) the archive's own: a trial's other
    account renamed root's new archive aside and put a link to its own folder in its place,
    and the next ingest filed there as "a new archive". So is one below a folder every
    account may write in without the sticky bit (`modes.open_to_swaps`), whoever owns it."""
    if not hasattr(os, "geteuid"):
        return None
    swappable = open_to_swaps(root)
    if swappable is not None:
        folder, status = swappable
        return (
            f"the {what} folder {printable(str(root))} is in {printable(str(folder))}, which "
            f"every account may write in without the sticky bit /tmp has (mode "
            f"{stat.filemode(status.st_mode)}): any of them could rename the {what} and put "
            "another folder, or a link to one of theirs, in its place, and the next ingests "
            f"would file the patients' photos there. Give the {what} a folder whose parents "
            "only you (or root) can change, or have its owner run chmod +t on it (a drive "
            "whose mount options open it to every account: mount it for yours alone)"
        )
    place = root.parent
    while not ondisk.exists(place) and place.parent != place:
        place = place.parent
    with suppress(OSError):
        owner = os.stat(place).st_uid
        if owner not in _trusted_owners(archive):
            return (
                f"the {what} folder {printable(str(root))} is in {printable(str(place))}, "
                f"which belongs to {account_name(owner)}: they could rename it and put "
                f"another folder, or a link to one of theirs, in its place, and the next "
                f"ingests would file the patients' photos there. Give the {what} a folder of "
                "your own"
            )
    return None


def refuse_others_links_to(archive: Path, backup: Path | None) -> None:
    """Refuse an archive or backup reached through a symbolic link of an account other than
    this one and root: a trial's link to a folder every account writes in was taken, not
    closed (the check of open folders passes over links) and not warned of, and that account
    could list the patients' folders and swap them. Not the archive's own account either:
    that is read through the link, so a link to an archive its maker built passed."""
    if not hasattr(os, "geteuid"):
        return
    for what, root in (("archive", archive), ("backup", backup)):
        if root is not None:
            refuse_others_links(root, f"The {what} folder", {os.geteuid(), 0})


def _trusted_owners(archive: Path) -> set[int]:
    """Whose folders a run may file photos in without a word: this account's and root's;
    for root, also the account that made the archive (`modes.archive_account`:
    `modes.keep_owner` gives that account what root files there, as the clinic's own)."""
    me = os.geteuid()
    if me != 0:
        return {me, 0}
    made = archive_account(archive)
    return {0} if made is None else {0, made[0]}


def _writers(place: Path, status: os.stat_result, trusted: set[int]) -> str | None:
    """Who other than ``trusted`` can change the folder at ``place`` (``status``: its
    lstat), in words; None for nobody."""
    if status.st_uid not in trusted:
        return f"belongs to {account_name(status.st_uid)}"
    if status.st_mode & 0o002:
        return "can be written by every account"
    if too_open_at(place, status) & stat.S_IWGRP:
        return (
            f"can be written by {ACL_NAMES}"
            if extended_acl(place)
            else "can be written by its group"
        )
    return None


def _readers(place: Path, status: os.stat_result) -> str | None:
    """Who other than its owner (and the ``archive_group``) can list or enter the folder at
    ``place`` (``status``: its lstat), in words (`modes.exposure`); None for nobody."""
    extra = too_open_at(place, status) if stat.S_ISDIR(status.st_mode) else 0
    if not extra:
        return None
    return exposure(status.st_mode, status.st_gid, extended_acl(place), extra)


def _earlier_ingests(archive: Path) -> list[dict]:
    """The archive's ingests, oldest first; none for a new archive, or one that cannot be
    read (best effort: the warnings below are not worth an error)."""
    if not has_catalogue(archive):
        return []
    try:
        with reading(archive) as catalogue:
            return catalogue.ingests()
    except (CardingestError, OSError):
        return []


def _last_that_filed(archive: Path, ingests: list[dict]) -> dict | None:
    """The last of ``ingests`` that filed photos: by its counts, or, for a run with none
    (killed, and closed as ``crashed`` by the next, or running still), by its catalogued
    photos. An empty card's run says nothing."""
    uncounted = []
    for ingest in reversed(ingests):
        counts = ingest["counts"] or {}
        if counts.get("copied"):
            break
        if "copied" not in counts:
            uncounted.append(ingest)
    else:
        ingest = None
    if uncounted:
        try:
            with reading(archive) as catalogue:
                for run in uncounted:  # newest first, each newer than ``ingest``
                    if catalogue.newest_photo(run["ingest_id"]) is not None:
                        return run
        except (CardingestError, OSError):
            pass
    return ingest


def with_backup_check(prepared: Prepared, backup: Path | None) -> Prepared:
    """For an ingest and its preview: a warning when the last ingest made
    a backup copy and this one will make none. A ``--backup`` forgotten on the command line
    leaves the new photos with one copy, which ``--wipe`` then takes as enough. And one when
    ``backup`` holds no backup yet (`_new_backup`)."""
    if backup is not None:
        _refuse_archive_as_backup(backup)
        with suppress(OSError):
            if ondisk.is_dir(backup / METADIR):
                return prepared
    ingests = _earlier_ingests(Path(prepared.plan.archive))
    if backup is not None:
        _refuse_backup_gone(backup, ingests)
        said = _new_backup(backup, Path(prepared.plan.archive))
        plan = replace(prepared.plan, warnings=(*prepared.plan.warnings, said))
        return replace(prepared, plan=plan)
    last = _last_that_filed(Path(prepared.plan.archive), ingests)
    if last is None or not last["backup"]:
        return prepared
    said = (
        f"the last ingest into this archive ({last['ingest_id']}) also copied to the backup "
        f"{printable(str(last['backup']))}, and this one makes no backup copy: set backup in "
        "the config (or give ingest --backup) unless one copy is meant"
    )
    plan = replace(prepared.plan, warnings=(*prepared.plan.warnings, said))
    return replace(prepared, plan=plan)


def _refuse_archive_as_backup(backup: Path) -> None:
    """Refuse a backup folder that is an archive itself: a trial's copies there made that
    archive's next ingests refuse ("does not know 1 of the ingests whose manifests the
    archive holds") and its `verify` call them strays, to be removed. (Two archives may
    share one backup folder: its lock and manifests keep them apart.)"""
    records = archive_records(backup)
    if records:
        raise UsageError(
            f"The backup folder {printable(str(backup))} is an archive (its {METADIR} holds "
            f"{records[0]}): a backup holds copies of archives' photos and their manifests "
            "only, and that archive would take these for strays. Give the backup a folder "
            "of its own"
        )


def _refuse_backup_gone(backup: Path, ingests: Sequence[dict]) -> None:
    """Refuse a backup folder that holds no backup, where an earlier ingest into this
    archive made backup copies: its disk is not mounted (the copies would go to its empty
    mount point, and a wipe clear the card of photos whose backup nobody will find), or
    it was emptied; as `wipe` refuses a backup folder that is not there."""
    here = os.path.realpath(backup)
    made = [
        i
        for i in ingests
        if i["backup"]
        and os.path.realpath(i["backup"]) == here
        and (i["counts"] or {}).get("copied")  # an ingest that copied nothing made none
    ]
    if not made:
        return
    last = made[-1]
    raise UsageError(
        f"The backup folder {printable(str(backup))} holds no backup now, though ingest "
        f"{last['ingest_id']} of {str(last['started'])[:10]} made backup copies there: is its "
        "disk mounted? Nothing was copied. If that backup is gone for good and a new one is "
        f"to start in that folder, make {printable(str(backup / METADIR))} first."
    )


def _new_backup(backup: Path, archive: Path) -> str:
    """The warning for a backup folder that holds no backup yet: this ingest starts one
    there. A backup disk not mounted looks just so (its empty mount point, on the system
    disk), as does a mistyped path; the archive's new-archive line has no such line for the
    backup."""
    where = ""
    disk, archive_disk = _device_of(backup), _device_of(archive)
    if disk is not None and disk == archive_disk:
        where = ", on the same disk as the archive: that disk's loss would take both copies"
    return (
        f"the backup folder {printable(str(backup))} holds no backup yet, so this ingest "
        f"starts one there{where}. If a backup was made before, its disk is not mounted or "
        "the path is mistyped: stop and check"
    )


def _device_of(path: Path) -> int | None:
    """The file system ``path`` is on, or would be once made (its nearest folder there)."""
    try:
        return os.stat(nearest_existing(path)).st_dev
    except OSError:
        return None


def card_history(
    ingests: Sequence[dict], card: Card | None, root: Path
) -> tuple[list[dict], list[dict]]:
    """The archive's ingests (`_earlier_ingests`) that read this card, and the others."""
    from .archive.provenance import recorded_source

    here, serial = recorded_source(str(root), card), card.serial if card else None
    this_card: list[dict] = []
    others: list[dict] = []
    for ingest in ingests:
        (this_card if _ingest_read_this_card(ingest, serial, here) else others).append(ingest)
    return this_card, others


def map_used_before(other_cards: Sequence[dict], idmap: IdMap) -> str | None:
    """A warning when this very map (`IdMap.same_as`), or a map that gave a patient a name
    one of its rows gives them (`name_digests`), was used for an ingest of another card:
    yesterday's map fits a card whose camera started its numbers again just as well, and
    would file the new photos under yesterday's patients."""
    if not idmap.recorded.startswith("map sha256:"):
        return None
    for ingest in reversed(other_cards):
        was = printable(ingest["card_label"] or "another source")
        when = f"ingest {ingest['ingest_id']} of {str(ingest['started'])[:10]} from {was}"
        if idmap.same_as(ingest["map_source"]):
            return (
                f"this ID map ({printable(idmap.source)}) was used before, for {when}: a map "
                "fits any card with the same file names, and would file its photos under "
                "that map's patients. Check that it was made for this card"
            )
        listed = recorded_rows(ingest["map_source"])
        lines = [
            str(row.line)
            for row in idmap.rows
            if any(digest in listed for _, digest in name_digests(row))
        ]
        if lines:
            return (
                f"line(s) {', '.join(lines)} of this ID map ({printable(idmap.source)}) were "
                f"in the map of {when}: a row of names fits any card with the same file "
                "names, and would file its photos under that row's patient. Check that those "
                "rows were made for this card"
            )
    return None


def offset_changed(
    plan: Plan, this_card: Sequence[dict], same_names: Sequence[ArchivedFile]
) -> str | None:
    """A warning when photos of this card archived before were named with another clock
    offset than this run's: a corrected ``--clock-offset`` renames nothing already filed, so
    their names keep the times the earlier offset gave them."""
    now = format_clock_offset(plan.clock_offset)
    offsets = {ingest["ingest_id"]: ingest for ingest in this_card}
    by_path = {a.archive_path: a.ingest_id for a in same_names}
    kept = [
        (item.target, offsets[by_path[item.target]])
        for item in plan.items
        if item.action == "skip"
        and item.target in by_path
        and by_path[item.target] in offsets
        and offsets[by_path[item.target]]["clock_offset"] != now
    ]
    if not kept:
        return None
    first, ingest = kept[0]
    return (
        f"{len(kept)} photo(s) on the card were archived before with clock offset "
        f"{ingest['clock_offset']} (ingest {ingest['ingest_id']}; first: {first}), and keep "
        f"the names and times that offset gave them; this run's {now} applies only to the "
        "photos it files"
    )


def first_row_uses(
    archive: Path, this_card: Sequence[dict], other_cards: Sequence[dict], idmap: IdMap
) -> dict[str, MapUse]:
    """For each name (a file or a range) a row of the map gives its patient, by its digest
    (`name_digests`): when a map that gave that patient that very name (`_holding`: this
    very map, or yesterday's with a row added, taken away or a name added to a row) was
    used before (`first_map_use`)."""
    if not idmap.recorded.startswith("map sha256:"):
        return {}
    mine, theirs = _holding(this_card, idmap), _holding(other_cards, idmap)
    found: dict[tuple[tuple[int, ...], ...], MapUse | None] = {}
    uses: dict[str, MapUse] = {}
    for digest in {digest for row in idmap.rows for _, digest in name_digests(row)}:
        held, elsewhere = mine(digest), theirs(digest)
        key = tuple(tuple(map(id, runs)) for runs in (held, elsewhere))
        if key not in found:
            found[key] = first_map_use(archive, held, elsewhere, idmap)
        use = found[key]
        if use is not None:
            uses[digest] = use
    return uses


def _holding(ingests: Sequence[dict], idmap: IdMap) -> Callable[[str], list[dict]]:
    """Which of ``ingests`` had a map giving a patient a name, by their digest, in their
    order: this very map (`IdMap.same_as`), or one whose record lists the digest
    (`recorded_rows`). Each record is read once, not once for each name of the map."""
    same = [n for n, ingest in enumerate(ingests) if idmap.same_as(ingest["map_source"])]
    listed: dict[str, list[int]] = {}
    for n, ingest in enumerate(ingests):
        for digest in recorded_rows(ingest["map_source"]):
            listed.setdefault(digest, []).append(n)
    return lambda digest: [ingests[n] for n in sorted({*same, *listed.get(digest, ())})]


def first_map_use(
    archive: Path, this_card: Sequence[dict], other_cards: Sequence[dict], idmap: IdMap
) -> MapUse | None:
    """When a map giving a patient a name was first used, given the ingests with such a map
    (oldest first). On this card: the first of them, with the newest photo on the card
    then (`recorded_card_newest`), whether it finished or not: a run stopped or failed
    leaves photos that were on the card then, and its run again files them. Where that
    first one was recorded before 2026-12 (no such time): the first complete use
    (`first_complete_uses`), with the newest photo filed by the runs up to it. Else the
    first use on another card (a card formatted since has a new serial), by its start and
    the newest photo on that card then."""
    if this_card:
        # Of runs started in one second, which came first is unknown.
        together = [i for i in this_card if i["started"] == this_card[0]["started"]]
        dated = _dated_use(together, idmap)
        if dated is not None:
            return dated
        mine = first_complete_uses(this_card)
        if mine:
            began = str(mine[0]["started"])
            runs = [i for i in this_card if i["started"] <= began]
            filed = _newest_filed(archive, runs)
            return MapUse(
                filed[1] if filed else str(mine[0]["ingest_id"]),
                _wall_clock(began),
                filed[0] if filed else None,
                same_map=idmap.same_as(mine[0]["map_source"]),
            )
        later = next((i for i in this_card if recorded_card_newest(i["map_source"])), None)
        if later is not None:
            return _dated_use([later], idmap)
    for ingest in other_cards:
        try:
            started = _wall_clock(str(ingest["started"]))
        except ValueError:  # a catalogue edited by hand
            continue
        label = ingest["card_label"]
        return MapUse(
            str(ingest["ingest_id"]),
            started,
            recorded_card_newest(ingest["map_source"]),
            elsewhere=printable(label) if label else "another card",
            same_map=idmap.same_as(ingest["map_source"]),
            last=recorded_card_last(ingest["map_source"]),
        )
    return None


def _dated_use(ingests: Sequence[dict], idmap: IdMap) -> MapUse | None:
    """Of ``ingests`` that recorded the newest photo on the card (`recorded_card_newest`),
    the one with the earliest such photo, as a use of the map, with the lowest last number
    any of them recorded (`recorded_card_last`: of runs started in one second, which came
    first is unknown, and a later one may have seen only photos taken since); None if none
    recorded a photo."""
    stamped = [
        (t, n) for n, i in enumerate(ingests) if (t := recorded_card_newest(i["map_source"]))
    ]
    if not stamped:
        return None
    newest, at = min(stamped)
    first = ingests[at]
    numbered = [n for i in ingests if (n := recorded_card_last(i["map_source"]))]
    return MapUse(
        str(first["ingest_id"]),
        _start_or(first, newest),
        newest,
        same_map=idmap.same_as(first["map_source"]),
        last=min(numbered, default=None),
    )


def _start_or(ingest: dict, stand_in: datetime) -> datetime:
    """An ingest's start on this workstation's clock, or ``stand_in`` where the catalogue's
    record of it was edited by hand and is no time: the use still counts."""
    try:
        return _wall_clock(str(ingest["started"]))
    except ValueError:
        return stand_in


def with_card_newest(idmap: IdMap, plan: Plan, now: datetime) -> IdMap:
    """The map as the ingest records it: with the camera time (before any clock offset, so
    a run with another offset compares alike) of the newest photo on the card
    (`recorded_card_newest`), and the DCF number of the last-numbered one
    (`recorded_card_last`), so a later run knows which photos the map was made for even
    when this one stops or fails a copy, or the camera's clock was set back since. A photo
    dated before `EARLIEST_PLAUSIBLE` cannot say so, nor, beside photos of plausible dates,
    one more than a day after ``now`` (a stray date would let every photo after it
    through); a card whose every photo is dated ahead has a camera clock set ahead, and its
    newest counts."""
    if not idmap.recorded.startswith("map sha256:"):
        return idmap
    latest = now + timedelta(days=1)
    dated = [i.captured_at for i in plan.items if i.captured_at >= EARLIEST_PLAUSIBLE]
    times = [when for when in dated if when <= latest] or dated
    if not times:
        return idmap
    newest = max(times) - plan.clock_offset
    recorded = f"{idmap.recorded} card newest:{newest:%Y-%m-%dT%H:%M:%S}"
    numbered = _numbered(plan)
    if numbered:
        recorded += " card last:{:03d}-{:04d}".format(*max(numbered))
    return replace(idmap, recorded=recorded)


def _numbered(plan: Plan) -> list[tuple[int, int]]:
    """The camera numbers of the plan's files (`numbered_position`). Of those out of a DCF
    folder (folder 0), where names of several prefixes (cameras) lie, the lowest of each
    prefix's last: another camera's higher numbers (DSC00100 beside IMG_0003) would hide
    the photos the first takes since (one of the other's photos may be held too)."""
    loose: dict[str, int] = {}
    found: list[tuple[int, int]] = []
    for item in plan.items:
        at = numbered_position(item.source, plan.source)
        if at is not None and at[0] == 0:
            prefix = item.source.rpartition("/")[2][:4].upper()
            loose[prefix] = max(loose.get(prefix, 0), at[1])
        elif at is not None:
            found.append(at)
    return [*found, *([(0, min(loose.values()))] if loose else [])]


def _wall_clock(started: str) -> datetime:
    """An ingest's start (UTC, as recorded) on this workstation's clock, naive."""
    return datetime.fromisoformat(started).astimezone().replace(tzinfo=None)


def _newest_filed(archive: Path, runs: Sequence[dict]) -> tuple[datetime, str] | None:
    """The capture time of the newest photo these ingests filed, and the ingest's ID."""
    found = _newest_filed_by_each(archive, runs)
    return max(found) if found else None


def _newest_filed_by_each(
    archive: Path, runs: Sequence[dict], other_than: str | None = None
) -> list[tuple[datetime, str]]:
    """The capture time (naive) of the newest photo each of these ingests filed (with
    ``other_than``: under another patient), with the ingest's ID; none for a run that
    filed none, and none at all when the catalogue cannot be read."""
    found: list[tuple[datetime, str]] = []
    try:
        with reading(archive) as catalogue:
            for ingest in runs:
                taken = catalogue.newest_photo(str(ingest["ingest_id"]), other_than)
                with suppress(ValueError):
                    if taken:
                        at = datetime.fromisoformat(taken).replace(tzinfo=None)
                        found.append((at, str(ingest["ingest_id"])))
    except (CardingestError, OSError):
        return []
    return found


def left_by_another_patients_ingest(
    archive: Path, this_card: Sequence[dict], idmap: IdMap, plan: Plan
) -> str | None:
    """With ``--id``, a warning for the photos it files that were on the card when an
    earlier ingest of it filed photos under another patient, and that ingest did not file:
    its map or slates held them, or their copies failed. The card then holds more than one
    patient's photos, and ``--id`` files every one under one. "On the card then": taken by
    the newest photo on the card at that ingest (`recorded_card_newest`, a map's), or by
    the newest it filed under the other patient. That patient is not named: a card with
    no serial is known by its path only."""
    if len(idmap.rows) != 1 or not idmap.rows[0].everything or not this_card:
        return None
    patient = idmap.rows[0].patient_id
    filed = _newest_filed_by_each(archive, this_card, other_than=patient)
    if not filed:
        return None
    on_card = {str(i["ingest_id"]): recorded_card_newest(i["map_source"]) for i in this_card}
    newest, ingest_id = max((max(at, on_card[run] or at), run) for at, run in filed)
    before = [i for i in plan.items if i.action == "copy" and i.captured_raw <= newest]
    if not before:
        return None
    return (
        f"{len(before)} photo(s) to be filed under {patient} were on the card when ingest "
        f"{ingest_id} filed photos of it under another patient: "
        f"--id files every photo of the card under {patient}. Check in the contact sheet "
        "(--sheet) that these are that patient's, or give them by an ID map"
    )


def first_complete_uses(ingests: Sequence[dict]) -> list[dict]:
    """The first of ``ingests`` (of one card, each with a map giving a patient a name; oldest
    first) that ended with every photo it meant to copy copied, and any other such run
    started in the same second: the card held then every photo the name was written for. One that
    stopped or failed is passed over, so its run again (which copies what was left) holds
    nothing; a later one does not count, or a run that held a new photo would set the time
    after it, and the next run would file it."""
    found: list[dict] = []
    for ingest in ingests:
        if ingest["status"] != "finished":
            continue
        if (ingest["counts"] or {}).get("failed"):
            continue
        try:
            started = datetime.fromisoformat(str(ingest["started"]))
        except ValueError:
            continue
        if started.tzinfo is None or (found and ingest["started"] != found[0]["started"]):
            continue
        found.append(ingest)
    return found


def clock_warning(files: Sequence[MediaFile], clock_offset: timedelta, now: datetime) -> str | None:
    """One warning for the photos dated before `EARLIEST_PLAUSIBLE` or more than a day after
    ``now`` (camera time, after the clock offset): their names would carry that date. Empty
    and unreadable files, held and never named, are left out."""
    latest = now + timedelta(days=1)
    odd = sorted(
        (media.captured + clock_offset, media.path)
        for media in files
        if not media.sidecar
        and media.size > 0
        and not media.unreadable
        and not EARLIEST_PLAUSIBLE <= media.captured + clock_offset <= latest
    )
    if not odd:
        return None
    (first, path), (last, _) = odd[0], odd[-1]

    def span(shift: timedelta) -> str:
        start, end = first - shift, last - shift
        return f"{start:%Y-%m-%d %H:%M:%S}" + (
            f" to {end:%Y-%m-%d %H:%M:%S}" if end != start else ""
        )

    dated = span(timedelta(0))
    if clock_offset:  # the groups a person is asked about show the camera's own times
        dated += f" with the clock offset ({span(clock_offset)} by the camera's clock)"
    return (
        f"{len(odd)} photo(s) dated {dated} (first: {printable(path)}): before "
        f"{EARLIEST_PLAUSIBLE:%Y-%m-%d} or in the future, so the camera's clock looks unset "
        "or wrong, and their names carry that date. Check the camera's clock; --clock-offset "
        "corrects a known error"
    )


def unrecorded_warnings(archive: Path) -> list[str]:
    """`journal.pending_warnings` and `move.pending_move_warnings` (an interrupted move's
    photos are under both names: the names the ingest finds taken are its), loading their
    modules only for an archive with a catalogue, or a move's journal."""
    if not has_catalogue(archive):
        return []
    from .archive.journal import pending_warnings

    said = pending_warnings(archive)
    if ondisk.exists(archive / METADIR / MOVE_JOURNAL_NAME):
        from .move import pending_move_warnings

        said += pending_move_warnings(archive)
    return said


def check_separate(root: Path, settings: Settings) -> None:
    """The card, the archive and the backup must be three separate places.

    A backup inside the archive (or the same folder) would "verify" the very same file twice.
    The card counts whole, given as its DCIM or a folder in it too, and so does every other
    mounted camera card: a copy on a card is no copy once the card is formatted.
    """
    from .card.detect import camera_card_holding, card_top

    top = card_top(root, None)
    places = [("source" if top == root else "card", top), ("archive", settings.archive)]
    if settings.backup is not None:
        places.append(("backup", settings.backup))
    for name, path in places:  # it is recorded in the catalogue and the audit log
        if undecodable(str(path)):
            raise UsageError(
                f"The {name} path {printable(str(path))} is not valid UTF-8; use a folder "
                "(or mount point) with a plain name"
            )
    for n, (name, path) in enumerate(places):
        for other_name, other in places[n + 1 :]:
            if inside(path, other) or inside(other, path):
                raise UsageError(
                    f"The {name} {path} and the {other_name} {other} overlap; "
                    "each must be a separate folder"
                )
    for name, path in places[1:]:
        mount = camera_card_holding(path)
        if mount is not None:
            raise UsageError(
                f"The {name} {path} is on the camera card at {mount}; keep it where the clinic "
                "keeps its records: a copy on a card goes when the card is formatted"
            )
