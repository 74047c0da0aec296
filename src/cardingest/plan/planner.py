"""The planner: a pure function from scan records, ID map and archive snapshot to actions.

The dry run prints this plan and ingest executes the very same object, so a preview cannot
differ from the real run. No I/O happens here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import groupby

from ..card.kinds import is_sidecar
from ..models import (
    MAX_SUFFIX,
    ArchivedFile,
    ArchiveState,
    IdMap,
    MapRow,
    MapUse,
    MediaFile,
    MovedPhoto,
    PatientTally,
    Plan,
    PlanItem,
)
from ..text import printable, undecodable
from .idmap import Rows, name_digests, resolve, spec_covers
from .naming import DEFAULT_FOLDER_TEMPLATE, DEFAULT_NAME_TEMPLATE, base_path, suffixed
from .shots import (
    EARLIEST_PLAUSIBLE,
    NameOrder,
    numbered_position,
    primary_photo,
    same_second_order,
    shot_key,
    shutter_time,
)
from .slates import SlateAssignment, held_said


@dataclass(frozen=True, slots=True)
class _Shot:
    """The files of one exposure: a photo plus RAW twin and sidecars sharing its stem."""

    files: tuple[MediaFile, ...]
    primary: MediaFile | None

    @property
    def order(self) -> tuple[datetime, float, str, NameOrder, str]:
        """Capture time first: a name template without ``{time}`` gives a day's photos
        one name, and their ``-N`` then follow the order they were taken in."""
        first = self.primary or self.files[0]
        return (first.captured, *same_second_order(first))


def _shifted(when: datetime, offset: timedelta) -> datetime:
    """``when`` moved by the clock offset; the same object when there is none (a card of
    10,000 photos would otherwise hold 10,000 copies while it is planned)."""
    return when + offset if offset else when


def captured_key(media: MediaFile) -> str:
    """How a capture time is recorded in the catalogue (raw camera time, to the second)."""
    return media.captured.isoformat(timespec="seconds")


def _split_clashes(members: list[MediaFile]) -> list[list[MediaFile]]:
    """One shot per extension: a second ``.JPG``/``.jpeg`` with the same stem gets its own."""
    if len(members) == 1:  # most shots on most cards: one JPEG
        return [members]
    shots: list[list[MediaFile]] = [[]]
    for media in sorted(members, key=lambda m: m.path):
        home = next((g for g in shots if all(m.extension != media.extension for m in g)), None)
        if home is None:
            home = []
            shots.append(home)
        home.append(media)
    return shots


def _shots(files: Sequence[MediaFile]) -> tuple[list[_Shot], list[tuple[MediaFile, str]]]:
    """The card's shots, in no particular order (`make_plan` names them in the order of their
    names and `same_second_order`, which tells every photo apart), and the files of every
    stem with a path listed twice, with the reason each is held: a damaged folder can list
    one name twice, and which entry is the photo is then in doubt, so its shot stays on the
    card.

    Grouped by a stable sort, not a dict of lists: the keys live only while the card is
    sorted, and the files of one stem keep their card order. A dict held a key, a list and
    an entry per photo while the shots were made, the peak of a 10,000-photo preview.
    """
    shots: list[_Shot] = []
    doubtful: list[tuple[MediaFile, str]] = []
    for _, grouped in groupby(sorted(files, key=shot_key), key=shot_key):
        members = list(grouped)
        if len(members) > 1 and len({m.path for m in members}) < len(members):
            doubtful.extend(_listed_twice(members))
            continue
        shots_of_stem = _split_clashes(members)
        clash = _clash_in_doubt(members) if len(shots_of_stem) > 1 else ""
        if clash:
            doubtful.extend((media, clash) for media in members)
            continue
        for shot in shots_of_stem:
            if len(shot) == 1:  # most shots on most cards: one JPEG
                shots.append(_Shot(tuple(shot), None if shot[0].sidecar else shot[0]))
                continue
            apart = _times_apart(shot)
            if apart:
                doubtful.extend((media, apart) for media in shot)
                continue
            shots.append(_Shot(tuple(shot), primary_photo(m for m in shot if not m.sidecar)))
    return shots, doubtful


def names_in_doubt(files: Sequence[MediaFile]) -> list[str]:
    """A warning per reason the plan holds files whatever a map row says (two photos of one
    name and different times, a name listed twice, a .JPG that is no JPEG): for
    ``map-template``, whose rows name them as photos to fill in."""
    reasons: dict[str, list[str]] = {}
    unlike = ((media, why) for media in files if media.not_as_named and (why := _unusable(media)))
    for media, why in (*_shots(files)[1], *unlike):
        reasons.setdefault(why, []).append(printable(media.path))
    return [f"{', '.join(paths)}: held on the card whatever their row says: {why}"
            for why, paths in reasons.items()]  # fmt: skip


SAME_SHOT_SECONDS = 2
"""How far apart the shutter times of a RAW and its JPEG twin may be and still be one shot
(cameras write the same time in both; a sub-second apart rounds to two seconds at most)."""


def _apart(shot: list[MediaFile]) -> tuple[MediaFile, MediaFile] | None:
    """The first and last of the photos' own shutter times, if they differ by more than
    one shot's."""
    timed = [m for m in shot if not m.sidecar and shutter_time(m)]
    first = min(timed, key=lambda m: m.captured, default=None)
    last = max(timed, key=lambda m: m.captured, default=None)
    if first is None or last is None:
        return None
    if (last.captured - first.captured).total_seconds() <= SAME_SHOT_SECONDS:
        return None
    return first, last


def _taken(media: MediaFile) -> str:
    return f"{printable(media.name)} (taken {media.captured:%Y-%m-%d %H:%M:%S})"


def _times_apart(shot: list[MediaFile]) -> str:
    """Why files of one name are not one shot, or "": their own shutter times differ (a RAW
    copied in beside another photo's JPEG), so neither time can be trusted to be the other's."""
    apart = _apart(shot)
    if apart is None:
        return ""
    return (
        f"{_taken(apart[0])} and {_taken(apart[1])} share a name but not a capture time, so "
        "they are not one shot and which time is whose is in doubt; check them on a computer "
        "and rename one"
    )


def _clash_in_doubt(members: list[MediaFile]) -> str:
    """Why two photos of one stem and kind (``IMG_0001.JPG`` and ``IMG_0001.jpeg``, or
    ``.jpg`` on a card copy that keeps case) are held, or "": a map row names files
    by stem, whatever the case or ``.jpeg``, so it would give both to its patient. Only
    their own shutter times, equal, show they are one photo saved twice; no camera writes
    both, so one was put there."""
    again = " a map row naming one would take both, so whose each is is in doubt; check them "
    again += "on a computer and rename one"
    apart = _apart(members)
    if apart is not None:
        return (
            f"{_taken(apart[0])} and {_taken(apart[1])} share a name but not a capture time:{again}"
        )
    photos = [m for m in members if not m.sidecar]
    untimed = next((m for m in photos if not shutter_time(m)), None)
    if untimed is None or len(photos) < 2:
        return ""
    other = next(m for m in photos if m is not untimed)
    return (
        f"{printable(untimed.name)} and {printable(other.name)} share a name, and "
        f"{printable(untimed.name)} has no capture time of its own to show they are one "
        f"photo:{again}"
    )


def _listed_twice(members: list[MediaFile]) -> Iterator[tuple[MediaFile, str]]:
    """The files of a stem one of whose paths is listed twice, each with why it is held."""
    paths = [m.path for m in members]
    twice = sorted({path for path in paths if paths.count(path) > 1})
    check = "check the card on a computer: its folder may be damaged"
    listed = f"listed twice in its folder, so which entry is the photo is in doubt; {check}"
    named = printable(twice[0].rpartition("/")[2])
    beside = f"{named}, of the same shot, is listed twice in its folder; {check}"
    for media in members:
        yield media, listed if media.path in twice else beside


def _by_name(
    named: list[tuple[str, str, str, _Shot]],
) -> Iterator[tuple[str, str, list[_Shot]]]:
    """(patient, name, shots) for each name the shots would take without a ``-N``: names in
    order, shots of one name in `same_second_order`, then in card order.

    Entries are (patient, name, card path of the shot's first file, shot): the path, unique
    and already held, keeps the sort off the shots and is the card order of the shots of one
    stem (the scan lists a folder in name order; `_split_clashes` keeps it). Emptied
    as it goes: a card of 10,000 photos never holds a second index of its shots while they
    are named.
    """
    named.sort(reverse=True)
    while named:
        patient_id, name, _, shot = named.pop()
        shots = [shot]
        while named and named[-1][:2] == (patient_id, name):
            shots.append(named.pop()[3])
        if len(shots) > 1:
            shots.sort(key=lambda s: s.order)
        yield patient_id, name, shots


def _folder_shared(named: list[tuple[str, str, str, _Shot]]) -> bool:
    """Whether names of two patients share a folder: only a folder template without ``{id}``
    does that (`naming.check_templates` refuses one; the planner does not rely on it)."""
    owners: dict[str, str] = {}
    for patient_id, name, _, _ in named:
        if owners.setdefault(name.rpartition("/")[0], patient_id) != patient_id:
            return True
    return False


NO_FREE_NAME = (
    f"every name up to -{MAX_SUFFIX} is taken for this patient and time: the name template "
    "tells too little apart (add {time})"
)


def bad_name_reason(path: str) -> str | None:
    """Why a card path cannot be archived as it is named, or None.

    A name that is not valid UTF-8 (a damaged card, a folder copied from another system)
    could not be recorded in the catalogue, the manifest or the audit log, so such a file is
    held on the card, with this reason, rather than filed without its record.
    """
    if undecodable(path):
        return (
            f"the name {printable(path.rpartition('/')[2])} (or its folder's) is not valid "
            "UTF-8; rename it on a computer, then run again"
        )
    return None


def _base(path: str) -> str:
    """The path without its extension: photos of one shot share it, and so does its XMP."""
    folder, _, name = path.rpartition("/")
    stem = name.rpartition(".")[0] or name
    return f"{folder}/{stem}" if folder else stem


_ArchivedIndex = dict[tuple[str, str, int, str], list[ArchivedFile]]
"""Archived files by patient, card path, size and capture time: several when cards of
one camera model reused a name (and the second was of other content)."""


def _archived_index(state: ArchiveState) -> _ArchivedIndex:
    index: _ArchivedIndex = {}
    for a in state.archived:
        index.setdefault((a.patient_id, a.source_path, a.size, a.captured_raw), []).append(a)
    return index


def _filed_elsewhere(
    state: ArchiveState,
) -> tuple[dict[str, list[ArchivedFile]], dict[tuple[str, str], ArchivedFile]]:
    """Archived content by sha256, and each (patient, sha256) pair archived, with the first
    file (by archive path) that holds it."""
    by_sha: dict[str, list[ArchivedFile]] = defaultdict(list)
    for archived in state.elsewhere:
        by_sha[archived.sha256.lower()].append(archived)
    owned: dict[tuple[str, str], ArchivedFile] = {}
    for a in sorted((*state.archived, *state.elsewhere), key=lambda a: a.archive_path):
        owned.setdefault((a.patient_id, a.sha256.lower()), a)
    return by_sha, owned


def _sidecars_seen_again(
    pending: list[MediaFile],
    seen_again: list[tuple[MediaFile, ArchivedFile]],
    patient_id: str,
    owned: Mapping[tuple[str, str], ArchivedFile],
) -> list[tuple[MediaFile, ArchivedFile]]:
    """The sidecars of a shot whose photo the patient has from another card path (it is
    ``seen_again``) that are archived beside it, with the same content: skipped with it.
    Elsewhere an identical sidecar (two shots' XMPs often are) is no sign of this one."""
    beside = _base(seen_again[0][1].archive_path)
    found = []
    for media in pending:
        if media.sidecar and media.sha256 is not None:
            same = owned.get((patient_id, media.sha256.lower()))
            if same is not None and _base(same.archive_path) == beside:
                found.append((media, same))
    return found


SAME_CONTENT = "already archived (same content)"
"""The reason of a photo the patient has in the archive from another card path (the card
given as its camera folder last time, a copy of a photo on the card): the ingest records
where it was seen again, as its copy gate does, so the wipe may clear it."""


def _same_content(
    media: MediaFile, patient_id: str, owned: Mapping[tuple[str, str], ArchivedFile]
) -> ArchivedFile | None:
    """The patient's archived file of this card photo's content (hashed by `prepare` where
    the catalogue holds a file of its size), if any: the ingest would skip it."""
    if media.sidecar or media.sha256 is None:
        return None
    return owned.get((patient_id, media.sha256.lower()))


def _archived_as(
    archived: _ArchivedIndex, patient_id: str, media: MediaFile, captured: str
) -> ArchivedFile | None:
    """The patient's archived file from this card path, of this size and capture time, of
    the card file's content (hashed by `prepare` for such a file). Other content (an edit
    saved in the camera, another card's photo of the same name, size and time) is not
    archived: it is planned as any new photo."""
    found = archived.get((patient_id, media.path, media.size, captured), [])
    if media.sha256 is None:
        return found[0] if found else None
    return next((a for a in found if a.sha256.lower() == media.sha256.lower()), None)


def _filed_before(
    shot: _Shot, same_name: Mapping[str, list[ArchivedFile]]
) -> list[tuple[MediaFile, ArchivedFile]] | None:
    """Each file of a shot no row gives a patient (none covers it, or its row is blank) with
    the archived file an earlier ingest of this card made of it: the same card path, size,
    capture time and content (``MediaFile.sha256``), all under one patient (a copy known to
    be damaged or missing is repaired, as for a row's photo). None if any file lacks one:
    then the shot is held as before. A card that is not wiped keeps the photos of earlier
    days; they are archived, not in doubt."""
    primary = shot.primary
    assert primary is not None
    captured = captured_key(primary)
    found: list[tuple[MediaFile, ArchivedFile]] = []
    for media in shot.files:
        if media.sha256 is None or media.unreadable or bad_name_reason(media.path) is not None:
            return None
        match = next(
            (
                a
                for a in same_name.get(media.path, ())
                if a.size == media.size
                and a.captured_raw == captured
                and a.sha256.lower() == media.sha256.lower()
            ),
            None,
        )
        if match is None:
            return None
        found.append((media, match))
    if len({a.patient_id for _media, a in found}) != 1:
        return None
    return found


def _named_before(
    pending: Sequence[MediaFile],
    patient_id: str,
    before: dict[tuple[str, str], list[ArchivedFile]],
    captured: str,
) -> tuple[MediaFile, ArchivedFile] | None:
    """A photo of the shot whose card name (folder and file) another photo archived for the
    same patient had: a camera that started its numbers again (a new day, the card wiped)
    makes yesterday's map fit today's card file for file, so whose photo it is is in doubt.

    Not when one of those photos has the shot's capture time (``captured``): that is this
    shot, changed in the camera since (or another card's of that very second), not a new
    day's photo under an old name. Unless that time is a clock never set
    (`EARLIEST_PLAUSIBLE`), which every photo of such a camera shares.
    """
    unset = captured < EARLIEST_PLAUSIBLE.isoformat()
    for media in pending:
        found = before.get((patient_id, media.path), [])
        if found and (unset or all(a.captured_raw != captured for a in found)):
            return media, found[0]
    return None


def _same_shot_elsewhere(
    pending: Sequence[MediaFile],
    patient_id: str,
    same_name: dict[str, list[ArchivedFile]],
    captured: str,
) -> tuple[MediaFile, ArchivedFile] | None:
    """A photo of the shot whose card name and capture time another patient's archived
    photo has: the same shot, changed in the camera since (its bytes differ, or it would be
    `_other_owner`'s), or on a camera with its clock unset a new photo under an old name."""
    for media in pending:
        for archived in same_name.get(media.path, ()):
            if archived.patient_id != patient_id and archived.captured_raw == captured:
                return media, archived
    return None


def _same_shot_reason(media: MediaFile, found: ArchivedFile) -> str:
    return (
        f"patient {found.patient_id}'s photo {found.archive_path} came from the same card name "
        f"{media.path} with the same capture time ({found.captured_raw.replace('T', ' ')}): "
        "the same shot, changed in the camera since, or a new photo from a camera whose "
        "numbers and clock started again; check which patient it belongs to (cardingest move "
        "corrects a misfiled photo), or run again with --allow-other-patient if it is meant "
        "for both"
    )


def _named_before_reason(media: MediaFile, when: datetime, found: ArchivedFile) -> str:
    """Why a photo a map gives a patient is held: that patient's earlier photo had its name."""
    return (
        f"the map gives this photo (taken {when:%Y-%m-%d %H:%M:%S}) to {found.patient_id}, "
        f"whose photo {found.archive_path} (taken {found.captured_raw.replace('T', ' ')}) came "
        f"from the same card name {media.path}: the camera started its numbers again, so the "
        "map may be an older card's. Check whose photo it is, then give it to its patient by "
        "from and to times in the map (times, unlike names, are this card's own), or ingest "
        "the card with --id if all its photos are that patient's"
    )


def _taken_after(
    row: MapRow, media: MediaFile, when: datetime, uses: Mapping[str, MapUse], source: str
) -> tuple[str, MapUse] | None:
    """A name of the row that covers the photo (`name_digests`), with the first use of a map
    that gave the row's patient that name (`prepare.first_row_uses`), where the photo was
    taken after that use (`_new_to_map`)."""
    if not uses:
        return None
    for spec, digest in name_digests(row):
        use = uses.get(digest)
        if (
            use is not None
            and spec_covers(spec, media.path)
            and _new_to_map(media, when, use, source)
        ):
            return spec, use
    return None


def _new_to_map(media: MediaFile, when: datetime, used: MapUse, source: str = "") -> bool:
    """Taken after the map's first use: after the newest photo on the card then, by the
    camera's own clock (`MapUse.newest`, so a clock offset changed since changes nothing),
    else after that use started, by this workstation's (``when``: the offset sets the
    camera right); for a use on another card, either; or at a time that cannot show it was
    not: a camera clock never set (`EARLIEST_PLAUSIBLE`), as after its battery ran out."""
    if when < EARLIEST_PLAUSIBLE or _numbered_after(media, used, source):
        return True
    if used.newest is not None and _dated_after(media, used.newest):
        return True
    return (used.newest is None or used.elsewhere is not None) and when > used.started


def _dated_after(media: MediaFile, newest: datetime) -> bool:
    return media.captured.replace(microsecond=0) > newest


def _numbered_after(media: MediaFile, used: MapUse, source: str) -> bool:
    """Numbered by the camera after every photo on this card at the map's first use
    (`MapUse.last`): taken since, whatever its clock says."""
    at, last = numbered_position(media.path, source), used.last
    return at is not None and last is not None and (at[0] == 0) == (last[0] == 0) and at > last


def _taken_after_reason(
    media: MediaFile, when: datetime, row: MapRow, name: str, used: MapUse
) -> str:
    """Why a photo a map's file names give a patient is held: it was taken after that very
    map, or a map that gave the patient that very name, was first used, so the name was
    written before the photo existed (`MapUse`). The photo's own time is in its plan item,
    not here: every photo the line holds for one reason gets the same words, so a preview
    says them once (`cli.output.plan_table`)."""
    which = (
        "this very map"
        if used.same_map
        else f"a map that gave {row.patient_id} this very name ({printable(name)})"
    )
    clock = " by the camera's clock" if media.captured != when else ""  # --clock-offset
    if when < EARLIEST_PLAUSIBLE:
        after = (
            "dated by a camera clock never set, so its time cannot show it was on the card "
            f"when {which} was first used for it (ingest {used.ingest_id})"
        )
    elif used.newest and used.last and not _dated_after(media, used.newest):
        folder, number = used.last  # the camera's number says what its clock does not
        numbered = f"folder {folder}, number {number:04d}" if folder else f"number {number:04d}"
        card, it, since = (
            (
                used.elsewhere,
                "that card",
                "the camera's clock was set back since, or this "
                "card is another camera's, whose numbers cannot tell",
            )
            if used.elsewhere
            else ("this card", "it", "the camera's clock was set back since")
        )
        after = (
            f"numbered by the camera after every photo on {card} when {which} was first "
            f"used for {it} (the last then: {numbered}, ingest "
            f"{used.ingest_id}), though not dated{clock} after the newest then "
            f"({used.newest:%Y-%m-%d %H:%M:%S}): {since}"
        )
    elif used.newest is not None and used.elsewhere is None:
        after = (
            f"taken{clock} after every photo on this card when {which} was first used for it "
            f"(the newest taken {used.newest:%Y-%m-%d %H:%M:%S}, ingest {used.ingest_id})"
        )
    elif used.newest is not None and _dated_after(media, used.newest):
        after = (
            f"taken{clock} after every photo on {used.elsewhere} when {which} was first used "
            f"for that card (the newest taken {used.newest:%Y-%m-%d %H:%M:%S}, ingest "
            f"{used.ingest_id})"
        )
    else:
        card = f", for {used.elsewhere}" if used.elsewhere else " for this card"
        after = (
            f"taken after {which} was first used{card} (ingest {used.ingest_id}, started "
            f"{used.started:%Y-%m-%d %H:%M:%S} on this workstation)"
        )
    line = f"its line {row.line}" if used.same_map else f"line {row.line} of this map"
    made = (
        line  # whether the photo came after the map, its time cannot tell
        if when < EARLIEST_PLAUSIBLE
        else f"the {'map was made' if used.same_map else 'name was written'} before the photo "
        f"was taken, so {line}"
    )
    return (
        f"{after}: {made} cannot say whose photo it is. Make a map for the new photos "
        "(cardingest map-template), or narrow that line to the photos it was made for and give "
        "the new ones by from and to times"
    )


def other_patient_reason(patient_id: str, archive_path: str) -> str:
    """Why a photo is held: its bytes are already filed for another patient."""
    return (
        f"the same photo is already archived under patient {patient_id} ({archive_path}); "
        "check which patient it belongs to (cardingest move corrects a misfiled photo), or "
        "run again with --allow-other-patient if it is meant for both"
    )


def _moved_reason(patient_id: str, other: ArchivedFile, moved: MovedPhoto, given: str) -> str:
    """Why a photo the map (``given``: `IdMap.source`) gives ``patient_id`` is held: a move
    took it from that patient (to ``moved.patient_to``; it is ``other`` now, after any moves
    since). The reason does not suggest --allow-other-patient (which skips this check, and
    would file the photo under both)."""
    by = {"--id": "--id", "interactive": "answer at the terminal"}.get(given, "map")
    return (
        f"the same photo was moved from {patient_id} to {moved.patient_to} by cardingest move "
        f"(move {moved.move_id}, {moved.when}) and is archived as {other.archive_path}: the "
        f"{by} still gives it to {patient_id}. Correct the {by}; if the move was wrong, move "
        "the photo back with cardingest move"
    )


def _item(
    media: MediaFile,
    when: datetime,
    row: MapRow | None,
    action: str,
    *,
    shot_time: MediaFile | None = None,
    target: str | None = None,
    reason: str | None = None,
    repair: bool = False,
    slates: SlateAssignment | None = None,
) -> PlanItem:
    return PlanItem(
        media=media,
        action=action,  # type: ignore[arg-type]
        captured_at=when,
        timed=shot_time or media,
        row=row,
        target=target,
        reason=reason,
        repair=repair,
        role="slate" if slates and media.path in slates.slates else "photo",
        slate=slates.slate_of.get(media.path) if slates else None,
    )


def _archived_item(
    media: MediaFile,
    when: datetime,
    row: MapRow,
    primary: MediaFile,
    done: ArchivedFile,
    skipped: str,
    slates: SlateAssignment | None,
) -> PlanItem:
    """The item of a card file archived before as ``done``: skipped (``skipped`` the reason),
    copied again where a copy has a problem this run repairs, held where it cannot."""
    if done.problem is not None and not done.repairable:
        return _item(
            media, when, row, "hold", shot_time=primary, reason=done.problem, slates=slates
        )
    return _item(
        media,
        when,
        row,
        "copy" if done.problem else "skip",
        shot_time=primary,
        target=done.archive_path,
        reason=f"repairs it: {done.problem}" if done.problem else skipped,
        repair=bool(done.problem),
        slates=slates,
    )


def _held(
    files: list[MediaFile],
    when: datetime,
    row: MapRow,
    primary: MediaFile,
    reason: str,
    slates: SlateAssignment | None,
) -> list[PlanItem]:
    """Hold items for the files of a shot that has its patient but cannot be copied."""
    return [
        _item(media, when, row, "hold", shot_time=primary, reason=reason, slates=slates)
        for media in files
    ]


_SAVED_TIME = {
    "exif:DateTime": "EXIF DateTime, when the file was last saved",
    "mtime": "the file's modification time, as it has no EXIF capture time",
}


def _unusable(media: MediaFile) -> str | None:
    """Why a file cannot be archived whoever it belongs to: a patient given to it would not
    change that, so this is its reason before any of the map's."""
    if media.unreadable:
        return "cannot be read"
    if media.not_as_named:
        kind = "JPEG" if media.extension in ("jpg", "jpeg") else f"{media.extension.upper()} file"
        return (
            f"named as a {kind}, but it holds {media.not_as_named}: filed, it would be a "
            f"{kind} that is none; check it on a computer"
        )
    return "empty file (0 bytes)" if media.size == 0 else None


def _time_row_doubt(primary: MediaFile, row: MapRow, clock_changes: dict[int, list[str]]) -> str:
    """Why a row of ``from``/``to`` times cannot place this shot, or "" if it can."""
    if not shutter_time(primary):
        return (
            f"its time is {_SAVED_TIME[primary.time_source]}, which need not be when it was "
            f"taken, so the times of ID map line {row.line} cannot place it; give it to its "
            "patient by file name in the map"
        )
    offsets = clock_changes.get(row.line)
    if offsets:
        return (
            f"the photos in the times of ID map line {row.line} carry the UTC offsets "
            f"{' and '.join(offsets)}: the camera's clock changed within them (daylight "
            "saving), so one clock time there can stand for two moments; give these photos "
            "to their patients by file name in the map"
        )
    return ""


def _clock_changes(files: Iterable[MediaFile], assignment: Rows) -> dict[int, list[str]]:
    """The map lines of times whose photos carry different UTC offsets (EXIF
    OffsetTimeOriginal), by line."""
    found: dict[int, set[str]] = defaultdict(set)
    for media in files:
        row = assignment.get(media.path)
        if row is not None and row.start is not None and media.utc_offset:
            found[row.line].add(media.utc_offset)
    return {line: sorted(offsets) for line, offsets in found.items() if len(offsets) > 1}


def _source(item: PlanItem) -> str:
    return item.source


def _given_on_card(
    files: Iterable[MediaFile], assignment: Rows
) -> dict[str, list[tuple[str, str]]]:
    """The card's hashed photos by sha256: (patient given, card path) of each."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for media in files:
        given = assignment.get(media.path)
        if media.sha256 is not None and not media.sidecar and given and not given.blank:
            found[media.sha256.lower()].append((given.patient_id, media.path))
    return found


def _days_of_one_patient(items: Iterable[PlanItem]) -> tuple[str, ...]:
    """A warning for each patient whose new photos were taken on more than one day: one
    `--id` given to a card not wiped since another patient's day, or a map's ID filled down
    a spreadsheet's rows (a trial's went with no word). Not held: a patient seen on two days
    is no error, and the tool does not guess whose a day's photos are."""
    days: dict[str, Counter[date]] = {}
    for item in items:
        if item.action == "copy" and not item.sidecar and not item.repair and item.patient_id:
            days.setdefault(item.patient_id, Counter())[item.captured_at.date()] += 1
    return tuple(
        f"{patient}'s photos to copy were taken on {len(count)} days ("
        + ", ".join(f"{day}: {n}" for day, n in sorted(count.items()))
        + "): if a day's are another patient's (a card not wiped since, an ID filled down a "
        "map's rows), give each day its own patient before the ingest"
        for patient, count in days.items()
        if len(count) > 1
    )


def _patients(
    items: Sequence[PlanItem], archived: Iterable[ArchivedFile]
) -> tuple[PatientTally, ...]:
    """Each patient given new photos, in card order, with their photos archived before.

    Photos are counted as shots (a RAW and its JPEG are one), slates and sidecars not."""
    shots = new_shots((item, item.target) for item in items if item.action == "copy")
    before: dict[str, dict[str, str]] = {}
    for found in archived:
        base = _base(found.archive_path)
        photo = not is_sidecar(found.archive_path) and not base.endswith(SLATE_TAIL)
        if photo and found.patient_id in shots:
            before.setdefault(found.patient_id, {})[base] = found.captured_at or found.captured_raw
    return tuple(
        PatientTally(
            patient_id=patient,
            to_copy=len(new),
            archived_before=len(times := before.get(patient, {})),
            last_taken=_day(max(times.values())) if times else None,
        )
        for patient, new in shots.items()
    )


def new_shots(done: Iterable[tuple[PlanItem, str | None]]) -> dict[str, set[str]]:
    """Each patient's new photos among ``done`` (an item copied, and its target), as shots:
    a RAW and its JPEG are one; slates, sidecars and repairs are not counted."""
    shots: dict[str, set[str]] = {}
    for item, target in done:
        photo = item.role == "photo" and not item.repair and not item.sidecar
        if photo and target and item.patient_id:
            shots.setdefault(item.patient_id, set()).add(_base(target))
    return shots


def _day(captured: str) -> date | None:
    try:
        return date.fromisoformat(captured[:10])
    except ValueError:
        return None


def card_twin(item: PlanItem) -> bool:
    """A `skip` the ingest's copy gate settles (`_copied_once`): it reads the card file, and
    copies it to the same name only if the first of its bytes was not copied."""
    return item.action == "skip" and item.twin_of is not None


def _copied_once(items: list[PlanItem]) -> tuple[PlanItem, ...]:
    """``items`` (in card order) with each new photo whose bytes (`prepare` hashed such
    photos) a photo before it has, for the same patient, planned as the ingest's copy gate
    does it: a `skip` resting on that first one's copy. Before, the preview showed it as a
    copy to the next ``-N`` name, which the ingest then skipped (a trial's card held a photo
    in two DCF folders)."""
    first: dict[tuple[str, str], PlanItem] = {}
    planned = []
    for item in items:
        key = (
            (item.patient_id or "", item.media.sha256.lower())
            if item.action == "copy" and not item.repair and not item.sidecar
            and item.media.sha256 is not None
            else None
        )  # fmt: skip
        if key is not None and (earlier := first.get(key)) is not None:
            item = replace(
                item,
                action="skip",
                target=earlier.target,
                twin_of=earlier.source,
                reason=f"the same photo as {earlier.source} on this card: it is copied once, as "
                f"{earlier.target}",
            )
        elif key is not None:
            first[key] = item
        planned.append(item)
    return tuple(planned)


def _twin_elsewhere(
    pending: list[MediaFile], patient_id: str, on_card: dict[str, list[tuple[str, str]]]
) -> tuple[str, str] | None:
    """Another card photo with the bytes of one of these, given to another patient."""
    for media in pending:
        if media.sidecar or media.sha256 is None:
            continue
        for other, path in on_card.get(media.sha256.lower(), ()):
            if other != patient_id:
                return other, path
    return None


def _other_owner(
    pending: list[MediaFile],
    patient_id: str,
    by_sha: dict[str, list[ArchivedFile]],
    owned: Mapping[tuple[str, str], ArchivedFile],
) -> ArchivedFile | None:
    """The archived file of another patient with the content of one of these photos."""
    for media in pending:
        if media.sidecar or media.sha256 is None:
            continue
        sha = media.sha256.lower()
        if (patient_id, sha) in owned:
            continue
        for archived in by_sha.get(sha, ()):
            if archived.patient_id != patient_id:
                return archived
    return None


class _Bases:
    """The base names (`_base`) of a set of paths, answered from the paths themselves.

    The paths are the targets the plan keeps anyway (and the archived ones), so a card of
    10,000 photos does not hold a second string per photo for its base name. A path's base
    is the path itself, or the path without ``.{extension}``; so ``base`` is among the
    bases when one of the paths is ``base`` or ``{base}.{ext}`` for one of the extensions
    seen, and has it as its base. A path whose base is neither (a leading ``/``) keeps its
    base string, in ``_other``.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self._paths: set[str] = set()
        self._extensions: set[str] = set()
        self._other: set[str] = set()
        for path in paths:
            self.add(path)

    def add(self, path: str) -> None:
        """Add ``path`` (and so its base)."""
        self._paths.add(path)
        base = _base(path)
        if base == path:
            return
        extension = path.rpartition(".")[2]
        if f"{base}.{extension}" == path:
            self._extensions.add(extension)
        else:
            self._other.add(base)

    def __contains__(self, base: object) -> bool:
        if not isinstance(base, str):
            return False
        if base in self._other:
            return True
        candidates = (base, *(f"{base}.{extension}" for extension in self._extensions))
        return any(path in self._paths and _base(path) == base for path in candidates)


class _Namer:
    """Hands out targets that clash with nothing archived or planned, base names included.

    A base name (the path without extension) belongs to one shot: a later RAW of another
    exposure must not land beside an archived JPEG, nor share its XMP sidecar. ``used`` holds
    the archived targets and those given `beside` them, the only ones a later `beside` can
    meet; every other target has a base of its own, in ``bases``.

    A shot given its name as it is (no ``-N``, no tail) is not added to ``bases`` unless
    ``every_base``. `make_plan` names each patient's shots in the order of their names: every
    candidate for a later name ``C`` of that patient (``C``, ``C-N``, ``C-slate``) starts
    with ``C``, and ``C`` is greater than any name ``B`` named before, so none of them is
    ``B``; within one name the suffix moves past 1 after its first shot. Names of other
    patients lie in other folders unless two patients share one (``every_base`` then). The
    archive's names, ``-N`` names and tailed names are always kept. This holds because every
    target has an extension (the scan lists photos and sidecars only), so a base is its
    target without it. A card of 10,000 new photos then holds no set of their 10,000
    targets; tests/test_plan_names_random.py checks the outcome on random cards.
    """

    def __init__(self, taken: frozenset[str], *, every_base: bool) -> None:
        self.used = set(taken)
        self.bases = _Bases(taken)
        self.every_base = every_base

    @staticmethod
    def _at(base: str, suffix: int, pending: list[MediaFile], tail: str) -> list[str]:
        return [_tailed(suffixed(base, suffix, m.extension), tail) for m in pending]

    def beside(self, archived: list[str], pending: list[MediaFile]) -> list[str] | None:
        """Targets next to a shot's files archived by a run that stopped half-way."""
        if not archived:
            return None
        base = _base(archived[0])
        targets = [suffixed(base, 1, m.extension) for m in pending]
        if any(t in self.used for t in targets):
            return None
        self.used.update(targets)
        return targets

    def next_free(
        self, base: str, pending: list[MediaFile], start: int, tail: str
    ) -> tuple[list[str], int] | None:
        """The first free names from ``base`` and suffix ``start`` on, and that suffix; None
        when every name up to -MAX_SUFFIX is taken (a name template that tells too little
        apart)."""
        for suffix in range(start, MAX_SUFFIX + 1):
            targets = self._at(base, suffix, pending, tail)
            if _base(targets[0]) not in self.bases:
                if self.every_base or suffix > 1 or tail:
                    self.bases.add(targets[0])  # none of its targets is in `used`: no such base
                return targets, suffix
        return None


def _tailed(target: str, tail: str) -> str:
    """``JBX3656/JBX3656-20080530-155601-slate.jpg`` for the tail ``-slate``."""
    if not tail:
        return target
    folder, _, name = target.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    name = f"{stem}{tail}.{extension}" if dot else f"{name}{tail}"
    return f"{folder}/{name}" if folder else name


SLATE_TAIL = "-slate"


ARCHIVED_EARLIER = (
    "already archived by an earlier ingest of this card; this run gives it no patient"
)
"""The reason of a card file no row of this run gives a patient that an earlier ingest of
this card archived (`_filed_before`)."""


NOT_ASKED = "its name cannot be given in an ID map, so it was in no group asked about"


def _made_for_other_photos(
    files: Sequence[MediaFile], assignment: Rows, times_offset: timedelta
) -> set[int]:
    """The lines of rows `map-template` wrote for photos taken at other times than any of
    those they name on this card (`MapRow.made_for`, in the camera's times with
    ``times_offset`` added): a map made for another card of the same file names. A row
    edited to name more photos keeps some of its own, and passes."""
    inside: dict[int, bool] = {}
    for media in files:
        row = None if media.sidecar else assignment.get(media.path)
        if row is None or row.made_for is None:
            continue
        start, end = row.made_for
        taken = media.captured + times_offset
        inside[row.line] = inside.get(row.line, False) or start <= taken <= end
    return {line for line, fits in inside.items() if not fits}


def _made_for_reason(row: MapRow) -> str:
    assert row.made_for is not None
    start, end = row.made_for
    span = f"{start:%Y-%m-%d %H:%M:%S}" + ("" if end == start else f" to {end:%Y-%m-%d %H:%M:%S}")
    return (
        f"line {row.line} of the map was written by map-template for photos taken {span} (its "
        "# line above), and none of the photos it names on this card was taken then: the map "
        "is another card's, or the line was copied from one. Make a map for this card "
        "(cardingest map-template); if the map's rows were moved (sorted in a spreadsheet), "
        "the # line may be another row's: delete it"
    )


def _not_as_shown(
    files: Sequence[MediaFile], asked: Mapping[str, tuple[int, datetime, str, str | None]]
) -> str | None:
    """Why a shot gets none of the answers given at the terminal: a file of it is not as
    its group was shown (`IdMap.asked`): put on the card since, or changed (another card
    put in at the same place while the questions waited, another photo put under its
    name). None when all are as shown."""
    for media in files:
        shown = asked.get(media.path)
        if shown is None:
            return (
                f"{media.path} was not on the card when the groups were shown, so no ID was "
                "asked for it: run again to be asked"
            )
        size, captured, subsec, shown_as = shown
        if (media.size, media.captured, media.subsec) != (size, captured, subsec):
            was = (
                f"shown taken {captured:%Y-%m-%d %H:%M:%S}{'.' + subsec if subsec else ''}, "
                f"{size:,} bytes; now taken {media.captured:%Y-%m-%d %H:%M:%S}"
                f"{'.' + media.subsec if media.subsec else ''}, {media.size:,} bytes"
            )
        elif shown_as is None or media.shown_as is None:
            was = "it could not be read again to compare with the photo shown"
        elif media.shown_as != shown_as:
            was = "its bytes are not the photo's shown, though its size and capture time are"
        else:
            continue
        return (
            f"{media.path} changed on the card while the IDs were asked ({was}): the answers "
            "were for the photo shown; check the card is the one asked about, and run again"
        )
    return None


def _slate_warnings(slates: SlateAssignment, items: Sequence[PlanItem]) -> tuple[str, ...]:
    """The slates' warnings, each that counts held files (`SlateAssignment.held_notes`) said
    again of the plan's ``items``: a file the slates hold that an earlier ingest of this card
    archived is not held but skipped (`_filed_before`) and wiped by ``--wipe``, or copied
    again where its copy is damaged or gone. Before, a trial's `ingest --slates --wipe`,
    after an `ingest --map` of the card, warned "N file(s) held" of photos it then wiped."""
    archived_before = {item.source for item in items if item.action != "hold"}
    notes = {held_said(note.reason, note.paths): note for note in slates.held_notes}
    said: list[str] = []
    for warning in slates.warnings:
        note = notes.get(warning)
        if note is not None:
            held = [path for path in note.paths if path not in archived_before]
            archived = [path for path in note.paths if path in archived_before]
            warning = held_said(note.reason, held, archived) or warning
        said.append(warning)
    return tuple(said)


def make_plan(
    files: Sequence[MediaFile],
    idmap: IdMap,
    *,
    slates: SlateAssignment | None = None,
    slates_read: SlateAssignment | None = None,
    state: ArchiveState = ArchiveState(),
    source: str = "",
    archive: str = "",
    folder_template: str = DEFAULT_FOLDER_TEMPLATE,
    name_template: str = DEFAULT_NAME_TEMPLATE,
    clock_offset: timedelta = timedelta(0),
    allow_other_patient: bool = False,
    assignment: Rows | None = None,
    doubts: Mapping[str, str] | None = None,
) -> Plan:
    """Decide, for every file, copy (with its target), skip (already archived) or hold.

    A shot with a photo whose content (``MediaFile.sha256``, compared with
    ``state.elsewhere``) is archived under another patient, and not under this one, is held
    with that patient's ID in the reason, unless ``allow_other_patient``.

    Raises MapError when the map does not fit the card. Names are deterministic: photos of
    one patient given one name (the same second) are ordered by capture time, sub-second,
    then folder and the name's numbers (`shots.name_order`), and the 2nd gets ``-2``; a
    name already taken in the archive by other content moves on to the next free ``-N``.

    With ``slates`` (``--slates``) the patients come from the slates read on the card instead
    of the map's rows; a slate itself is archived as ``{name}-slate.{ext}``.

    ``assignment``: the rows of the files, when the caller has resolved them already (the
    same `resolve` of these files, map and offset, or the slates' rows).

    ``slates_read``: the slates read beside a map or ``--id`` (``slates = true``): they give
    the slates' own files their role and name, not the patients (``doubts`` holds a shot
    whose slate disagrees with its row).

    ``doubts``: card paths whose patient the card itself puts in doubt, with why (a slate
    naming another patient than the map); their shots are held.
    """
    if assignment is None:
        assignment = (
            dict(slates.rows) if slates is not None else resolve(idmap, files, clock_offset)
        )
    roles = slates if slates is not None else slates_read
    archived = _archived_index(state)
    by_sha, owned = _filed_elsewhere(state)
    same_name: dict[str, list[ArchivedFile]] = defaultdict(list)
    for a in state.same_names:
        same_name[a.source_path].append(a)
    before: dict[tuple[str, str], list[ArchivedFile]] = {}
    map_file = idmap.recorded.startswith("map sha256:")
    if map_file:
        for a in state.archived:
            before.setdefault((a.patient_id, a.source_path), []).append(a)
    on_card = _given_on_card(files, assignment)
    clock_changes = _clock_changes(files, assignment)
    other_cards_rows = _made_for_other_photos(files, assignment, idmap.times_offset or timedelta(0))
    items: list[PlanItem] = []  # no dict by path: each card file is met once

    named: list[tuple[str, str, str, _Shot]] = []
    card_shots, doubtful = _shots(files)
    for media, reason in doubtful:
        when = _shifted(media.captured, clock_offset)
        items.append(_item(media, when, None, "hold", reason=reason, slates=roles))
    for shot in card_shots:
        primary = shot.primary
        row = assignment.get(primary.path) if primary else None
        if primary is None:
            for media in shot.files:
                items.append(
                    _item(
                        media,
                        _shifted(media.captured, clock_offset),
                        None,
                        "hold",
                        reason="sidecar without its photo",
                        slates=roles,
                    )
                )
            continue
        when = _shifted(primary.captured, clock_offset)
        # The card itself puts the shot's patient in doubt: not as asked about, or a slate.
        card_doubt = _not_as_shown(shot.files, idmap.asked) if idmap.asked is not None else None
        if card_doubt is None and doubts:
            card_doubt = next((doubts[m.path] for m in shot.files if m.path in doubts), None)
        if card_doubt is not None:
            items.extend(
                _item(media, when, None, "hold", shot_time=primary, reason=card_doubt, slates=roles)
                for media in shot.files
            )
            continue
        # A blank answer at the prompt said "leave on the card": it does.
        if row is None or (row.blank and idmap.source != "interactive"):
            earlier = _filed_before(shot, same_name)
            if earlier is not None:
                patient = MapRow(line=0, patient_id=earlier[0][1].patient_id)
                items.extend(
                    _archived_item(media, when, patient, primary, done, ARCHIVED_EARLIER, roles)
                    for media, done in earlier
                )
                continue
        if row is not None and row.blank:
            where = "group" if idmap.source == "interactive" else "ID map line"
            for media in shot.files:
                items.append(
                    _item(
                        media,
                        when,
                        None,
                        "hold",
                        shot_time=primary,
                        reason=bad_name_reason(media.path) or f"left blank ({where} {row.line})",
                    )
                )
            continue
        if row is None:
            for media in shot.files:
                reason = NOT_ASKED if idmap.source == "interactive" else "not in the ID map"
                if slates is not None:
                    reason = slates.holds.get(media.path) or slates.holds.get(
                        primary.path, "no slate"
                    )
                items.append(
                    _item(
                        media,
                        when,
                        None,
                        "hold",
                        shot_time=primary,
                        reason=bad_name_reason(media.path) or _unusable(media) or reason,
                        slates=roles,
                    )
                )
            continue
        if row.line in other_cards_rows:
            items.extend(_held(list(shot.files), when, row, primary, _made_for_reason(row), roles))
            continue
        doubt = _time_row_doubt(primary, row, clock_changes) if row.start is not None else ""
        if doubt:
            items.extend(_held(list(shot.files), when, row, primary, doubt, roles))
            continue
        name = base_path(folder_template, name_template, row.patient_id, when)
        named.append((row.patient_id, name, shot.files[0].path, shot))

    del card_shots  # each shot lives on in `named` until it is named
    namer = _Namer(state.taken_paths, every_base=_folder_shared(named))
    for patient_id, base, shots in _by_name(named):
        next_suffix = 1
        for shot in shots:
            primary = shot.primary
            assert primary is not None
            row = assignment[primary.path]
            when = _shifted(primary.captured, clock_offset)
            pending: list[MediaFile] = []
            archived_targets: list[str] = []
            seen_again: list[tuple[MediaFile, ArchivedFile]] = []
            for media in shot.files:
                done = (
                    _archived_as(archived, patient_id, media, captured_key(primary))
                    if archived
                    else None
                )
                bad_name = bad_name_reason(media.path)
                if bad_name is not None:
                    items.append(
                        _item(media, when, row, "hold", shot_time=primary, reason=bad_name)
                    )
                elif unusable := _unusable(media):
                    items.append(
                        _item(
                            media,
                            when,
                            row,
                            "hold",
                            shot_time=primary,
                            reason=unusable,
                            slates=roles,
                        )
                    )
                elif done is not None:
                    archived_targets.append(done.archive_path)
                    items.append(
                        _archived_item(media, when, row, primary, done, "already archived", roles)
                    )
                elif (same := _same_content(media, patient_id, owned)) is not None:
                    archived_targets.append(same.archive_path)
                    seen_again.append((media, same))
                else:
                    pending.append(media)
            if seen_again:  # a few shots of a few cards: the rest pay nothing
                seen_again += _sidecars_seen_again(pending, seen_again, patient_id, owned)
                pending = [m for m in pending if all(m is not again for again, _ in seen_again)]
            if pending and not archived_targets and all(m.sidecar for m in pending):
                # Its photos all held (unreadable, a name that cannot be recorded): a sidecar
                # filed alone would take a time that is not the shot's, beside no photo.
                why = "its photo stays on the card (see the photo's reason): a sidecar goes with it"
                items.extend(_held(pending, when, row, primary, why, roles))
                pending = []
            other = (
                None if allow_other_patient else _other_owner(pending, patient_id, by_sha, owned)
            )
            twin = None if allow_other_patient else _twin_elsewhere(pending, patient_id, on_card)
            shot_elsewhere = (
                None
                if allow_other_patient
                else _same_shot_elsewhere(pending, patient_id, same_name, captured_key(primary))
            )
            reused = (
                _named_before(pending, patient_id, before, captured_key(primary))
                if before and row.start is None  # a row of times names this card's photos
                else None
            )
            held_for: str | None = None
            if other is not None:
                moves = state.moved.get(other.sha256.lower(), ())
                away = [m for m in moves if m.patient_from == patient_id]
                held_for = (
                    _moved_reason(patient_id, other, away[-1], idmap.source)
                    if away
                    else other_patient_reason(other.patient_id, other.archive_path)
                )
            elif shot_elsewhere is not None:
                held_for = _same_shot_reason(shot_elsewhere[0], shot_elsewhere[1])
            elif twin is not None:
                held_for = (
                    f"the same photo as {twin[1]} on this card, which is given to patient "
                    f"{twin[0]}; check which patient it belongs to, or run again with "
                    "--allow-other-patient if it is meant for both"
                )
            elif reused is not None:
                held_for = _named_before_reason(reused[0], when, reused[1])
            elif (
                pending
                and map_file
                and (taken_after := _taken_after(row, primary, when, state.map_used, source))
            ):
                held_for = _taken_after_reason(primary, when, row, *taken_after)
            if held_for is not None:  # with the shot's files archived from elsewhere
                again = [media for media, _ in seen_again]
                items.extend(_held([*again, *pending], when, row, primary, held_for, roles))
                pending, seen_again = [], []
            if seen_again:
                items.extend(
                    _item(media, when, row, "skip", shot_time=primary, target=same.archive_path,
                          reason=SAME_CONTENT, slates=roles)
                    for media, same in seen_again
                )  # fmt: skip
            targets = namer.beside(archived_targets, pending) if pending else None
            if pending and targets is None and archived_targets and all(m.sidecar for m in pending):
                # A sidecar of an archived shot (a camera XMP come to the card since) goes
                # beside its photo or nowhere: under another base no program pairs it with
                # the photo, and a `move` leaves it behind. (A photo of the shot takes the
                # next free base, and its sidecars go with it.)
                beside = _base(archived_targets[0])
                why = (
                    f"its photo is archived as {archived_targets[0]}, and the name beside it "
                    f"for this sidecar ({beside}.{pending[0].extension}) is held by another "
                    "file (the catalogue's, or one copied there by hand): move that one "
                    "aside, then ingest again"
                )
                items.extend(_held(pending, when, row, primary, why, roles))
                continue
            # A slate's name has its own tail: it takes no number from the photos of its
            # second (the first photo after it is NAME, not NAME-2 beside no NAME).
            tail = SLATE_TAIL if roles and primary.path in roles.slates else ""
            if pending and targets is None:
                free = namer.next_free(base, pending, 1 if tail else next_suffix, tail)
                if free is None:
                    items.extend(_held(pending, when, row, primary, NO_FREE_NAME, roles))
                    next_suffix = MAX_SUFFIX + 1
                    continue
                targets, suffix = free
                if not tail:
                    next_suffix = suffix + 1
            elif not tail:
                next_suffix += 1
            for media, target in zip(pending, targets or [], strict=True):
                items.append(
                    _item(media, when, row, "copy", shot_time=primary, target=target, slates=roles)
                )

    del namer  # its base names: freed before the plan's tuple is made
    items.sort(key=_source)
    ordered = _copied_once(items)
    warnings = tuple(m.warning for m in files if m.warning)
    if slates is not None:
        warnings += _slate_warnings(slates, ordered)
    else:
        warnings += _days_of_one_patient(ordered)
    return Plan(
        source=source,
        archive=archive,
        items=ordered,
        clock_offset=clock_offset,
        warnings=warnings,
        patients=_patients(ordered, state.archived),
    )
