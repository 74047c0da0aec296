"""Records that cross module boundaries. Plain frozen dataclasses, no behaviour beyond views."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

TimeSource = Literal["exif:DateTimeOriginal", "exif:DateTimeDigitized", "exif:DateTime", "mtime"]
Action = Literal["copy", "skip", "hold"]
Role = Literal["photo", "slate"]
Consent = Literal["record", "teaching", "publication"]
CONSENT_LEVELS: tuple[str, ...] = ("record", "teaching", "publication")
METADIR = ".cardingest"
"""The archive's own folder: catalogue, manifests, audit log, lock."""
ARCHIVE_ID_NAME = "archive-id"
"""In ``.cardingest/``: the id that ties an archive to its PostgreSQL catalogue."""
CATALOGUE_NAME = "catalogue.sqlite"
"""In ``.cardingest/``: the SQLite catalogue."""
MOVE_JOURNAL_NAME = "move-journal.json"
"""In ``.cardingest/``: the journal of a move under way (`move`)."""
MANIFEST_DIR = "manifests"
"""In ``.cardingest/``: one ``sha256sum`` manifest per ingest (`archive.manifest`)."""
MAX_SUFFIX = 9999
"""The highest same-second or name-clash suffix (``-2`` ... ``-9999``) before giving up."""


@dataclass(frozen=True)
class Card:
    """A mounted volume with a DCIM folder of DCF folders."""

    mount: str
    fstype: str
    device: str
    label: str | None = None
    serial: str | None = None
    total_bytes: int | None = None
    free_bytes: int | None = None
    photos: int = 0
    removable: bool = False


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One file found under DCIM/, with its capture time and where that came from.

    `path` is POSIX-style and relative to the scanned source root. `captured` is the camera's
    local wall-clock time, to the second, before any clock offset; `subsec` keeps the
    sub-second digits as the camera wrote them (for ordering), `utc_offset` the EXIF
    OffsetTimeOriginal when present.
    """

    path: str
    size: int
    captured: datetime
    time_source: TimeSource
    subsec: str = ""
    utc_offset: str | None = None
    make: str | None = None
    model: str | None = None
    warning: str | None = None
    sidecar: bool = False
    unreadable: bool = False
    sha256: str | None = None
    """Set by `prepare` only where the catalogue holds content of this size under another
    patient, so the planner can hold a photo already filed for someone else."""
    not_as_named: str | None = None
    """What a file named as a JPEG, RAW or HEIF photo holds instead
    (`card.kinds.not_as_named`): it is held."""
    shown_as: str | None = None
    """Set by `prepare` only for photos whose IDs were asked at the terminal: its
    `card.scan.fingerprint`, to tell another photo under its name from the one shown."""

    @property
    def folder(self) -> str:
        """The parent folder path (relative), e.g. ``DCIM/100CANON``."""
        return self.path.rpartition("/")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def stem(self) -> str:
        name = self.name
        return name.rpartition(".")[0] or name

    @property
    def extension(self) -> str:
        """Lower-case extension without the dot; ``jpeg`` becomes ``jpg``."""
        _, dot, ext = self.name.rpartition(".")
        ext = ext.lower() if dot else ""
        return "jpg" if ext == "jpeg" else ext


@dataclass(frozen=True, slots=True)
class MapRow:
    """One patient group of an ID map (or the single group of ``--id``)."""

    line: int
    patient_id: str
    files: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    diagnosis: tuple[str, ...] = ()
    site: str | None = None
    consent: str | None = None
    everything: bool = False
    blank: bool = False
    """A row whose id was left empty: its photos stay on the card (``patient_id`` is "")."""
    made_for: tuple[datetime, datetime] | None = None
    """When the photos were taken that `map-template` wrote this row for, as its ``#`` line
    above the row says (the camera's times with `IdMap.times_offset` added): a card none of
    whose photos of the row was taken then is another card."""


_MAP_DIGEST = re.compile(r"\b(?:map|rows) sha256:[0-9a-f]{64}\b")
"""The digests of a recorded map (`IdMap.recorded`): its content's, and its rows'."""
_ROW_DIGESTS = re.compile(r"\brow sha256/64:([0-9a-f]{16}(?:,[0-9a-f]{16})*)\b")
"""The digests of the names a recorded map gives its patients (`idmap.name_digests`)."""


@dataclass(frozen=True)
class IdMap:
    """The rows, where they came from (for messages) and what may be recorded of that.

    `recorded` goes into the catalogue and audit log: a digest of a map file's content, not
    its path, since clinics may name map files after patients.
    """

    rows: tuple[MapRow, ...]
    source: str = "--id"
    recorded: str = ""
    slates: bool = False
    """The patients come from slate photos on the card (``--slates``), not from these rows."""
    times_offset: timedelta | None = None
    """The clock offset the times on its `map-template` ``#`` lines were written with (their
    ``# times … --clock-offset …`` line, else none); None for a map with no such lines."""
    asked: Mapping[str, tuple[int, datetime, str, str | None]] | None = None
    """Answers at the terminal: each card file as its group was shown (size, capture time,
    sub-seconds, its ``shown_as`` digest of head and tail), by path. The card is read again
    for the plan; a file that is not as it was shown (another card at the same place, a file
    changed) gets no answer."""

    @property
    def provenance(self) -> str:
        return self.recorded or self.source

    def same_as(self, recorded: str) -> bool:
        """Whether an ingest's recorded map (``map_source``) is this very map: the same
        content, or the same rows (`idmap._meaning`; recorded since 2026-12, so an older
        record is compared by content only)."""
        mine = _MAP_DIGEST.findall(self.recorded)
        if not mine or not isinstance(recorded, str):  # a catalogue edited by hand
            return False
        return not set(mine).isdisjoint(_MAP_DIGEST.findall(recorded))


_CARD_NEWEST = re.compile(r"\bcard newest:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\b")
"""The capture time of the newest photo on the card when an ingest used the map."""


def recorded_card_newest(recorded: object) -> datetime | None:
    """The camera time (before any clock offset) of the newest photo on the card
    when an ingest began with this recorded map (``map_source``): the map was made for the
    photos up to it (recorded since 2026-12; None for an older record)."""
    found = _CARD_NEWEST.search(recorded) if isinstance(recorded, str) else None
    if found is None:
        return None
    try:
        return datetime.fromisoformat(found.group(1))
    except ValueError:
        return None


_CARD_LAST = re.compile(r"\bcard last:(\d{3})-(\d{4})\b")
"""The DCF folder and file number of the last-numbered photo on the card when an ingest
used the map."""


def recorded_card_last(recorded: object) -> tuple[int, int] | None:
    """The DCF folder and file number (`plan.shots.dcf_position`) of the last-numbered photo
    on the card when an ingest began with this recorded map (``map_source``): a photo
    numbered after it was taken since, whatever the camera's clock said (recorded since
    2026-12; None for an older record or a card of no such names)."""
    found = _CARD_LAST.search(recorded) if isinstance(recorded, str) else None
    return (int(found.group(1)), int(found.group(2))) if found else None


def recorded_rows(recorded: object) -> frozenset[str]:
    """The name digests (`idmap.name_digests`) an ingest's recorded map (``map_source``) lists
    (recorded since 2026-12; an older record has none, and holds a row only when it is
    this very map, `IdMap.same_as`)."""
    if not isinstance(recorded, str):
        return frozenset()
    return frozenset(
        digest for found in _ROW_DIGESTS.findall(recorded) for digest in found.split(",")
    )


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    """What the catalogue knows of one archived file, as the planner needs it."""

    patient_id: str
    archive_path: str
    sha256: str
    size: int
    source_path: str
    captured_raw: str
    problem: str | None = None
    """Set when verify or wipe found one of its copies damaged or missing: copy it again."""
    backup_path: str | None = None
    ingest_id: str = ""
    repairable: bool = True
    """False when this run cannot put the copy of ``problem`` back: a backup copy, and the
    run was not given the backup folder that holds it. The photo then stays on the card."""
    captured_at: str = ""
    """The capture time after the clock offset of its ingest (as its name has it): what a
    person is shown; ``captured_raw`` is what the camera recorded, for matching."""


@dataclass(frozen=True)
class ArchiveState:
    """A snapshot of the archive for the planner: what is archived, which names are taken."""

    archived: tuple[ArchivedFile, ...] = ()
    taken_paths: frozenset[str] = frozenset()
    elsewhere: tuple[ArchivedFile, ...] = ()
    """Archived files, of any patient, as large as a card file: their sha256 is compared with
    the card file's, so content already filed under another patient is held."""
    same_names: tuple[ArchivedFile, ...] = ()
    """Archived files, of any patient, from one of the card's file names: the same shot (card
    name and capture time) filed under another patient puts a photo's patient in doubt, even
    once it was changed in the camera."""
    map_used: Mapping[str, MapUse] = field(default_factory=dict)
    """Each name (a file or a range) a row of the map gives its patient, by its digest
    (`idmap.name_digests`), that a map used before gave that patient too
    (`prepare.first_row_uses`): the first ingest with such a map, `MapUse`."""
    moving: frozenset[str] = frozenset()
    """The archive paths an interrupted move's journal names (`move.pending_move_names`):
    taken, and no copy of them repaired, until the move finishes (`prepare.copies_gone`)."""
    moved: Mapping[str, tuple[MovedPhoto, ...]] = field(default_factory=dict)
    """Every `cardingest move` of archived content, by sha256, read from the audit log
    for the card's photos found under another patient (`elsewhere`): a photo moved from the
    patient a map gives it to again is that map's mistake, not a photo of two patients."""


@dataclass(frozen=True, slots=True)
class MovedPhoto:
    """One move of a photo in the audit log."""

    patient_from: str
    patient_to: str
    move_id: str
    when: str


@dataclass(frozen=True)
class MapUse:
    """The first ingest with the map in hand: a photo taken after the newest photo on this
    card then (the camera's own clock, whether it runs ahead of the workstation's or
    behind), or after that ingest started when it was of another card, was not on the card
    when the map was made, so the map's names cannot say whose it is."""

    ingest_id: str
    started: datetime
    """The ingest's start on this workstation's wall clock (naive, like capture times)."""
    newest: datetime | None = None
    """The camera time (before any clock offset) of the newest photo on this card at that
    ingest (`recorded_card_newest`; for one recorded before 2026-12, of the newest it and the
    runs before it filed), compared with a photo's camera time. For a use on another card,
    the newest on that card: a photo of the same camera taken after it is new to the map
    even where the camera's clock runs hours behind this workstation's."""
    elsewhere: str | None = None
    """The other card's label (or "another card") when the map was used on another card."""
    same_map: bool = True
    """That ingest's map was this very map (`IdMap.same_as`), not another that held the row."""
    last: tuple[int, int] | None = None
    """The DCF folder and file number of the last-numbered photo on this card at that ingest
    (`recorded_card_last`): a photo numbered after it is new to the map even where the
    camera's clock was set back since (the end of daylight saving, a fast clock put right).
    For a use on another card, the last on that card: a camera numbering on across cards
    numbers the photos taken since after it (another camera's photos may be held too)."""


@dataclass(frozen=True, slots=True)
class PlanItem:
    """What happens to one card file, and why.

    It keeps the scan's record of the file (``media``), of the photo whose time the file
    takes (``timed``: the shot's photo for a RAW twin or sidecar, else ``media``) and the ID map
    row that names its patient, rather than copies of their fields: a plan of 10,000 photos
    holds each value once (bench/memory.py). The views below read through them.
    """

    media: MediaFile
    action: Action
    captured_at: datetime
    timed: MediaFile
    row: MapRow | None = None
    target: str | None = None
    reason: str | None = None
    repair: bool = False
    """A ``copy`` that puts back a damaged or missing copy of the archived ``target``."""
    role: Role = "photo"
    """``slate``: the photographed barcode that gave this group its patient ID."""
    slate: str | None = None
    """With ``--slates``: the card path of the slate that assigned (or held) this file."""
    twin_of: str | None = None
    """For a ``skip``: the card path of the photo before it, of the same patient, with these
    bytes. The ingest copies that one and settles this one by its copy gate."""

    @property
    def source(self) -> str:
        return self.media.path

    @property
    def size(self) -> int:
        return self.media.size

    @property
    def sidecar(self) -> bool:
        return self.media.sidecar

    @property
    def warning(self) -> str | None:
        return self.media.warning

    @property
    def time_source(self) -> TimeSource:
        return self.timed.time_source

    @property
    def captured_raw(self) -> datetime:
        """The camera's time, before any clock offset."""
        return self.timed.captured

    @property
    def subsec(self) -> str:
        return self.timed.subsec

    @property
    def utc_offset(self) -> str | None:
        return self.timed.utc_offset

    @property
    def make(self) -> str | None:
        return self.media.make or self.timed.make

    @property
    def model(self) -> str | None:
        return self.media.model or self.timed.model

    @property
    def patient_id(self) -> str | None:
        return self.row.patient_id if self.row else None

    @property
    def diagnosis(self) -> tuple[str, ...]:
        return self.row.diagnosis if self.row else ()

    @property
    def site(self) -> str | None:
        return self.row.site if self.row else None

    @property
    def consent(self) -> str | None:
        return self.row.consent if self.row else None

    @property
    def map_line(self) -> int | None:
        """The ID map line that names the patient; None for ``--id`` (line 0) and slates."""
        return self.row.line if self.row and self.row.line else None


@dataclass(frozen=True, slots=True)
class SlateRead:
    """What the barcodes of one photo say, without their payloads.

    ``ids`` are the distinct valid patient IDs read; ``invalid`` describes each barcode that
    gave none by its symbology and length only (a payload may hold a name or birth date).
    """

    path: str
    ids: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    unread: str | None = None
    """Why no image could be looked at (a RAW without a usable preview): not a slate."""


@dataclass(frozen=True, slots=True)
class PatientTally:
    """One patient's new photos in a plan, beside what the archive held for them before.

    A valid ID of the wrong patient passes every check of the ID itself; a patient seen for
    years shown as new to the archive (or a new one shown with photos) is what gives it away.
    """

    patient_id: str
    to_copy: int
    archived_before: int
    last_taken: date | None = None
    """The newest capture date among the photos archived before."""


@dataclass(frozen=True)
class Plan:
    source: str
    archive: str
    items: tuple[PlanItem, ...]
    clock_offset: timedelta = timedelta(0)
    warnings: tuple[str, ...] = ()
    patients: tuple[PatientTally, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for item in self.items if item.action == action)

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(item.action for item in self.items)
        return {action: tally.get(action, 0) for action in ("copy", "skip", "hold")}

    @property
    def bytes_to_copy(self) -> int:
        return sum(item.size for item in self.items if item.action == "copy")


@dataclass(frozen=True)
class Settings:
    """Resolved settings: flag, then environment, then config file, then default."""

    archive: Path
    archive_from: str
    backup: Path | None = None
    id_scheme: str = "nhi"
    id_pattern: str | None = None
    allow_test_ids: bool = False
    folder_template: str = "{id}"
    name_template: str = "{id}-{date}-{time}"
    gap_minutes: float = 5.0
    operator: str = "unknown"
    config_file: Path | None = None
    archive_group: str | None = None
    slates: bool = False
    slate_pattern: str | None = None
    slate_max_gap: float = 30.0
    extra: dict[str, object] = field(default_factory=dict)
    allow_other_patient: bool = False
    """Per run (`--allow-other-patient`), never from the config: archive content that is
    already filed under another patient instead of holding it."""
    catalogue: str | None = None
    single_workstation: bool = False
