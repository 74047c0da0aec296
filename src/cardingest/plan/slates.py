"""Slate assignment: which patient each photo belongs to, from the slates read on the card.

Pure: scan records and the slates read from them (``card.slate``) in, assignments and holds
out; no I/O. Photos are taken in capture order across the whole card. Each slate starts a
group and the photos after it, up to the next slate, belong to its ID. Everything doubtful
is held with its reason (fail closed):

- photos before the first slate: "no slate before this photo";
- a slate that gives no valid ID, or two different ones: it and its whole group;
- a gap longer than ``max_gap`` between a photo and the previous one of its group: that photo
  and the rest of the group ("no new slate after a 47-minute gap");
- a photo whose capture time is not from EXIF (its place in the order is not known);
- a photo with no code taken just before another patient's slate (`RETAKE`, or
  `SLOW_RETAKE` where it is nearer the slate than the photo before it): it may be a first
  try at that slate;
- the slate of a patient seen before, again in the next visit (`_returns_in`): it may be a
  photo of that visit's patient with the earlier one's label in the frame.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ..models import MapRow, MediaFile, SlateRead
from .shots import (
    NameOrder,
    by_shot,
    name_order,
    primary_photo,
    same_second_order,
    shot_of,
    subsec_fraction,
)

DEFAULT_MAX_GAP_MINUTES = 30.0
NO_SLATE = "no slate before this photo"
NO_EXIF_TIME = "no EXIF capture time, so its place among the slates is not known"
NOT_READ = "cannot be read for a slate"
CLOCK_BACK = (
    "the order the camera numbered the photos in (folder, then file) and their capture times "
    "disagree here (its clock was put back, or it wrote to an older folder, or two cameras "
    "share the card), so which slate this photo follows is in doubt; check it and give its "
    "patient with a map or --id"
)
_IMAGE_RANK = {"jpg": 0, "jpeg": 0, "tif": 1, "tiff": 1, "png": 1}


@dataclass(frozen=True)
class Shot:
    """One exposure: its photo files and sidecars (one folder, one stem)."""

    files: tuple[MediaFile, ...]
    primary: MediaFile
    image: MediaFile | None
    """The file read for a barcode (the JPEG of a RAW+JPEG pair), None if none can be."""

    @property
    def when(self) -> datetime:
        return self.primary.captured

    @property
    def order(self) -> tuple[datetime, float, str, NameOrder, str]:
        return (self.primary.captured, *same_second_order(self.primary))


@dataclass(frozen=True)
class SlateGroup:
    """A slate and the photos it assigned (``patient_id`` None when the slate is held)."""

    slate: str
    patient_id: str | None
    photos: tuple[MediaFile, ...]
    """The slate's own shot first, then the photos assigned to its ID, in capture order."""
    reason: str | None = None


@dataclass(frozen=True)
class HeldNote:
    """A warning that counts the files held for one ``reason`` (`held_said`): the planner
    says it again of what its plan does with them (`planner._slate_warnings`)."""

    reason: str
    paths: tuple[str, ...]
    """Card paths of the files held, sorted."""


ARCHIVED_NOT_HELD = "not held, as an earlier ingest of this card archived them"


def held_said(reason: str, held: Sequence[str], archived: Sequence[str] = ()) -> str | None:
    """The warning that ``held`` files are held for ``reason``, and that ``archived`` ones it
    would hold are not (an earlier ingest of this card archived them: skipped, and wiped by
    ``--wipe``); None when there are neither."""
    parts = [f"{len(held)} file(s) held (first: {min(held)})"] if held else []
    if archived:
        parts.append(f"{len(archived)} file(s) {ARCHIVED_NOT_HELD} (first: {min(archived)})")
    return f"{'; '.join(parts)}: {reason}" if parts else None


@dataclass(frozen=True)
class SlateAssignment:
    rows: Mapping[str, MapRow] = field(default_factory=dict)
    """Card path of every assigned file (photos, RAW twins, sidecars) to its patient."""
    holds: Mapping[str, str] = field(default_factory=dict)
    """Card path of every held file to the reason."""
    slate_of: Mapping[str, str] = field(default_factory=dict)
    """Card path to the slate that assigned (or held) it."""
    slates: frozenset[str] = frozenset()
    """Card paths of the slates' own files (role ``slate``)."""
    groups: tuple[SlateGroup, ...] = ()
    warnings: tuple[str, ...] = ()
    held_notes: tuple[HeldNote, ...] = ()
    """The warnings that count held files, each as it was said (`held_said`) in ``warnings``."""


def shots(files: Sequence[MediaFile], readable: Collection[str]) -> list[Shot]:
    """Files grouped by folder and stem, in capture order; sidecars travel with their photo.

    ``readable``: the extensions that can be read for a barcode.
    """
    found = []
    for members in by_shot(files):
        photos = [m for m in members if not m.sidecar]
        if not photos:
            continue  # a sidecar without its photo: the planner holds it
        primary = primary_photo(photos)
        assert primary is not None
        images = [m for m in photos if m.extension in readable]
        image = min(images, key=lambda m: (_IMAGE_RANK.get(m.extension, 2), m.path), default=None)
        found.append(Shot(tuple(sorted(members, key=lambda m: m.path)), primary, image))
    return sorted(found, key=lambda s: s.order)


GAP_HELD = "no new slate after a "
PAUSE_HELD = "the first photo after a pause of "


def _gap_reason(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    return f"{GAP_HELD}{minutes}-minute gap"


def _pause_reason(pause: timedelta, unread: str | None) -> str:
    """Why the first photo after a pause, and the rest of its group, are held: it is no
    slate that could be read, yet it may be one (too blurred for its code to be found), and
    then these photos are the next patient's, not the last slate's."""
    what = "it could not be read as a slate" if unread else "no code was found in it"
    minutes, seconds = divmod(int(pause.total_seconds()), 60)
    took = f"{minutes} minutes" + (f" {seconds} s" if seconds else "")  # 5 min 1 s is > 5 min
    return (
        f"{PAUSE_HELD}{took}, and "
        f"{what}: if it is a slate (blurred, cut off), the photos from here to the next "
        "slate are another patient's, not the last slate's"
    )


def _unread_reason(path: str, unread: str) -> str:
    """Why a photo that could not be looked at for a code, and the rest of its group, are
    held: it may be the next patient's slate. Named by its card path, which two camera
    folders cannot share."""
    return (
        f"{path} ({unread}) {NOT_READ}: if it is a slate, the photos from here to the next "
        "slate are another patient's, not the last slate's"
    )


def _slate_problem(read: SlateRead) -> str | None:
    """Why a slate gives no ID, naming it by its card path (two camera folders can hold
    its file name), as the other reasons do."""
    if len(read.ids) > 1:
        return f"slate {read.path}: two different patient IDs ({', '.join(read.ids)})"
    if read.invalid:
        beside = (
            f" (beside a code holding {read.ids[0]}: the other code may be another patient's "
            "label, or a second code of the same label)"
            if read.ids
            else ""
        )
        return f"slate {read.path}: {'; '.join(dict.fromkeys(read.invalid))}{beside}"
    return None


def assign(
    files: Sequence[MediaFile],
    reads: Mapping[str, SlateRead],
    *,
    max_gap: timedelta = timedelta(minutes=DEFAULT_MAX_GAP_MINUTES),
    readable: Collection[str] = ("jpg", "jpeg", "tif", "tiff", "png"),
    group_gap: timedelta = timedelta(minutes=5),
    context: Sequence[MediaFile] = (),
) -> SlateAssignment:
    """`_assign` of ``files``, held too where the photos this card gave earlier ingests and
    holds no longer (``context``, wiped since; their slates' reads in ``reads``) say
    otherwise. A photo's patient comes from the slates on the card alone; what left it can
    only hold: a card photo filed alone that is held among them, or given another patient
    there, is held (a trial: the slate held as the patient's before the last again was
    filed, and wiped, by the next `ingest --slates --wipe`, its visit gone; and a review: a
    photo after a slate whose photos a map gave their patient went, among them, to the
    patient before). They also explain a photo held with no slate before it on the card
    (`WIPED_SLATE`), and unsay a sign of slates taken after the photos (`MAYBE_SLATES_AFTER`)
    where among them there is none."""
    alone = _assign(files, reads, max_gap, readable, group_gap)
    if not context:
        return alone
    among = _assign([*files, *context], reads, max_gap, readable, group_gap)
    doubt: dict[str, str] = {}
    for path, row in alone.rows.items():
        there = among.rows.get(path)
        if there is not None and there.patient_id == row.patient_id:
            continue
        doubt[path] = among.holds.get(path) or (
            f"on the card it comes after {row.patient_id}'s slate, and among the photos this "
            f"card gave the archive before (not on it now) after {_patient(among, path)}'s: "
            "check it and give its patient with a map or --id"
        )
    for path, why in alone.holds.items():
        if why == NO_SLATE and path in among.rows:
            doubt[path] = WIPED_SLATE
    if MAYBE_SLATES_AFTER in alone.warnings and _explained(alone, among):
        # The photos at the card's start are the rest of a visit whose slate left it, as the
        # run before saw them: it was killed while it wiped (a trial's).
        kept = tuple(warning for warning in alone.warnings if warning != MAYBE_SLATES_AFTER)
        alone = replace(alone, warnings=kept)
    return _held_too(alone, doubt)


def _explained(alone: SlateAssignment, among: SlateAssignment) -> bool:
    """Whether the photos the card gave the archive explain `MAYBE_SLATES_AFTER`'s sign on
    the card: every photo held there at a session's start has a patient among them, and
    among them there is no such sign. A review: a photo held among them too (after a pause)
    explains nothing, and the sign must still be said."""
    at_start = [path for path, why in alone.holds.items() if _at_a_session_start(why)]
    return (
        bool(at_start)
        and all(path in among.rows for path in at_start)
        and MAYBE_SLATES_AFTER not in among.warnings
        and SLATES_AFTER not in among.holds.values()
    )


def _at_a_session_start(why: str) -> bool:
    """A hold `_held_just_before_a_slate` counts as a session's start."""
    return why == NO_SLATE or why.startswith(GAP_HELD)


WIPED_SLATE = (
    f"{NO_SLATE} on the card; the slate before it, and its photos, were archived by an "
    "earlier ingest of this card and are no longer on it: check this photo and give its "
    "patient with a map or --id"
)
"""Why a photo is held that has no slate before it on the card, where one the card gave
the archive before came before it (a trial's clinician, told "no slate before this photo",
had photographed one). Its patient is not said: a slate a map filed as a photo is not
known as one, so the slate the archive shows before it may not be its patient's."""


def _assign(
    files: Sequence[MediaFile],
    reads: Mapping[str, SlateRead],
    max_gap: timedelta,
    readable: Collection[str],
    group_gap: timedelta,
) -> SlateAssignment:
    """Give each photo the ID of the slate before it, or hold it with the reason.

    A photo that cannot be read for a slate (HEIC, a RAW without a preview) may be one: after
    a slate it holds itself and the rest of its group, and a warning names it.

    "Before" is in capture order, which is the order the photos were taken in unless the
    camera's clock was put back (the end of daylight saving, a reset, a correction), or the
    camera wrote to an older folder, or two cameras share the card. So the photos are also
    assigned in the card's own order (folder, then file number), and a photo the two orders
    give to different patients is held (`CLOCK_BACK`): which slate it follows is in doubt.
    On a card whose numbers follow the clock the two orders agree.
    """
    found = shots(files, readable)
    by_time = _with_lone_slates(_assign_in(found, reads, max_gap, group_gap))
    by_card = _assign_in(sorted(found, key=_card_order), reads, max_gap, group_gap)
    if _held_just_before_a_slate(found, reads, by_time.holds):
        if _is_slate(found[-1], reads):  # the slates' own files stay filed: look at them too
            return _last_checks(_all_held(by_time, SLATES_AFTER), found, reads, group_gap)
        by_time = replace(by_time, warnings=(*by_time.warnings, MAYBE_SLATES_AFTER))
    doubt = {
        path
        for path in {*by_time.rows, *by_card.rows}
        if _patient(by_time, path) != _patient(by_card, path)
    }
    if not doubt:
        return _last_checks(by_time, found, reads, group_gap)
    groups = tuple(
        replace(group, photos=tuple(m for m in group.photos if m.path not in doubt))
        for group in by_time.groups
    )
    # Held in the camera's numbering after a slate that cannot be used (one with no capture
    # time sorts anywhere by time): that slate's reason, not that the two orders disagree.
    after_unusable = {
        path
        for path in doubt
        if path in by_card.holds and by_card.slate_of.get(path) in by_card.holds
    }
    reasons = {
        path: by_card.holds[path] if path in after_unusable else CLOCK_BACK for path in doubt
    }
    slate_of = {**by_time.slate_of, **{p: by_card.slate_of[p] for p in after_unusable}}
    disagree = tuple(sorted(path for path, reason in reasons.items() if reason == CLOCK_BACK))
    said = held_said(CLOCK_BACK, disagree)
    held = replace(
        by_time,
        rows={path: row for path, row in by_time.rows.items() if path not in doubt},
        holds={**by_time.holds, **reasons},
        slate_of=slate_of,
        groups=groups,
        warnings=(*by_time.warnings, *([said] if said else [])),
        held_notes=(*by_time.held_notes, *([HeldNote(CLOCK_BACK, disagree)] if said else [])),
    )
    return _last_checks(held, found, reads, group_gap)


def _last_checks(
    assignment: SlateAssignment,
    found: Sequence[Shot],
    reads: Mapping[str, SlateRead],
    group_gap: timedelta,
) -> SlateAssignment:
    """``assignment`` with the photos held whose patient the order of slates alone leaves in
    doubt: a photo taken in the same second as a slate in another folder, the slate of the
    patient before the last again straight after the last one's photo, a first try at a
    slate."""
    assignment = _same_second_held(assignment, found, reads)
    assignment = _retakes_held(assignment, found, reads)
    return _returns_held(assignment, found, reads, group_gap)


def _returns_held(
    assignment: SlateAssignment,
    found: Sequence[Shot],
    reads: Mapping[str, SlateRead],
    group_gap: timedelta,
) -> SlateAssignment:
    """``assignment`` with a slate held, and the photos it gave its patient, where it may be
    a photo of the last patient with an earlier patient's sheet still on the desk
    (`_returns_in`). Looked for in capture order, and where the camera numbered the shots
    otherwise (its clock put back) in that order too, a folder at a time (two cameras write
    two folders): a review's sheet in the first photo after the clock went back an hour came
    before both slates by the time, and was filed under its patient. Where the numbering
    puts a shot with an earlier time after another, the time between is not known, and
    counts as short."""
    doubt = _returns_in(assignment, found, reads, group_gap)
    folders: dict[str, list[Shot]] = {}
    for shot in found:
        folders.setdefault(shot.primary.folder, []).append(shot)
    for shots_in in folders.values():
        numbered = sorted(shots_in, key=_card_order)
        if numbered != shots_in:
            doubt = {**_returns_in(assignment, numbered, reads, group_gap), **doubt}
    return _held_too(assignment, doubt)


Visit = tuple[str | None, str]
"""A visit among the slates: its patient (None: a slate that gives none, or a photo held
as it may be a slate) and the path of the shot that began it."""


def _returns_in(
    assignment: SlateAssignment,
    order: Sequence[Shot],
    reads: Mapping[str, SlateRead],
    group_gap: timedelta,
) -> dict[str, str]:
    """The files to hold, with why, where a slate in ``order`` is the slate of the patient
    before the last (A, B, A), taken within ``group_gap`` of the photo before it
    (`_before`), or at any time straight after the last patient's slate; or, straight after
    that slate, the slate of any patient seen before: a photo of the last patient with an
    earlier one's sheet still on the desk reads as the earlier one's slate (trials: it and
    the photos after it were filed under the patient before; also the first photo after a
    long talk, 5.5-12 minutes after the slate; a day trial's sheet of the patient two
    visits back in the first photo after the slate).

    A slate held so stands among the visits for what comes after it, and the patient before
    it is looked at too: it may be a quick return (the next photos that patient's, the last
    patient's sheet on the desk in them) or that sheet (the next patient's photos with it
    still there). Day trials: with either one alone, 39 and 22 photos were filed under the
    patient of a sheet on the desk. So does a slate that gives no ID, and a photo held as
    it may be a slate (after a pause, one that cannot be read): a visit of a patient not
    known, who may be the last one again (a review: after a slate that was no valid ID, the
    sheet of the patient before it filed the next patient's photos). The same patient's
    slate again straight after one held so is held too (several photos with the sheet in
    them). A patient photographed again after a pause, or after other patients too (A, B,
    C, A) with a photo of C's between, and nothing held between, is not held: when any
    patient seen before counted, a day trial's quick returns held 141 of 861 ordinary
    photos."""
    doubt: dict[str, str] = {}
    seen: list[Visit] = []
    held: dict[str, Visit] = {}  # a slate held here: the earlier visit it repeats
    for index, shot in enumerate(order):
        path = shot.primary.path
        patient = _patient(assignment, path)
        if path in doubt:
            continue
        if patient is None:
            unknown = _is_slate(shot, reads) or _may_be_a_slate(assignment.holds.get(path))
            if unknown and (not seen or seen[-1][0] is not None):
                seen.append((None, path))
            continue
        if not _is_slate(shot, reads):
            continue
        previous = _before(order, index, reads)
        straight_after = previous is not None and _is_slate(previous, reads)
        if seen and seen[-1][0] == patient:  # the same patient's slate again: one visit
            earlier = held.get(seen[-1][1])
        else:
            looked_at = seen[:-1] if straight_after else _before_the_last(seen, held)
            earlier = next((s for s in reversed(looked_at) if s[0] == patient), None)
            seen.append((patient, path))
        if earlier is None or previous is None:
            continue
        taken = shot.when - previous.when
        if taken > group_gap and not straight_after:
            continue  # straight after the last patient's slate, a pause is the usual
        held[seen[-1][1]] = earlier
        other, began = seen[-2]
        visit, whose, theirs = (
            (f"{other}'s visit", other, f"{other}'s")
            if other
            else (f"the visit of the held {began}", "that visit's patient", "theirs")
        )
        why = (
            f"{patient}'s slate again ({earlier[1]} was the last), {_taken(taken)}, in "
            f"{visit}: if {path} is a photo of {whose} with {patient}'s label in the frame, "
            f"the photos from it to the next slate are {theirs}; check them, then give their "
            "patient in a map (map-template --slates writes one) with --no-slates"
        )
        mine = shot.image.path if shot.image is not None else path
        ours = (p for p, slate in assignment.slate_of.items() if slate == mine)
        doubt.update(dict.fromkeys((p for p in ours if p in assignment.rows), why))
    return doubt


def _before_the_last(seen: Sequence[Visit], held: Mapping[str, Visit]) -> list[Visit]:
    """The visits whose patient's sheet may still be on the desk in the last visit's photos:
    the last known patient's before it, one more where the last visit or that one was held
    or its patient is not known (it may be the one before again). A visit of a patient not
    known is passed over, not counted (a review: two of them put the patient before the
    last out of sight, and the sheet's photos were filed under it)."""
    if not seen:
        return []
    wanted = 2 if seen[-1][0] is None or seen[-1][1] in held else 1
    taken: list[Visit] = []
    for visit in reversed(seen[:-1]):
        if visit[0] is None:
            continue
        taken.append(visit)
        if visit[1] in held:
            wanted = 2
        if len(taken) >= wanted:
            break
    return taken[::-1]


def _taken(apart: timedelta) -> str:
    """How long after the photo before it a slate was taken, in words (by their clocks: a
    camera's numbering can put a shot with an earlier time after another)."""
    minutes, seconds = divmod(int(abs(apart).total_seconds()), 60)
    if apart < timedelta(0):
        return f"{minutes} min {seconds} s before the photo numbered before it, by its clock"
    return f"{minutes} min {seconds} s after the photo before it"


def _may_be_a_slate(reason: str | None) -> bool:
    """Whether a photo was held as it may be another patient's slate: the first photo after
    a pause or a long gap, or one that could not be looked at for a code (the rest of their
    groups are held for the same reason)."""
    return reason is not None and (
        reason.startswith((PAUSE_HELD, GAP_HELD)) or f" {NOT_READ}: " in reason
    )


def _tries(found: Sequence[Shot], index: int, reads: Mapping[str, SlateRead]) -> list[Shot]:
    """The shots that may be tries at the slate ``found[index]``: those with no code taken
    less than `RETAKE` before it, none between, the latest first."""
    slate = found[index]
    tries: list[Shot] = []
    for at in range(index - 1, -1, -1):
        shot = found[at]
        if _is_slate(shot, reads) or not timedelta(0) <= _apart(shot, slate) < RETAKE:
            break
        tries.append(shot)
    return tries


def _before(found: Sequence[Shot], index: int, reads: Mapping[str, SlateRead]) -> Shot | None:
    """The shot taken before ``found[index]`` (a slate), tries at it (`_tries`) left out (a
    day trial's return 18 minutes after the last photo was held, counted from its blurred
    first try 4 s before it)."""
    at = index - 1 - len(_tries(found, index, reads))
    return found[at] if at >= 0 else None


def _same_second_held(
    assignment: SlateAssignment, found: Sequence[Shot], reads: Mapping[str, SlateRead]
) -> SlateAssignment:
    """``assignment`` with each photo held that was taken in the same second as a slate and
    is in another folder (a second camera's, mostly): no order, the camera's numbering or
    the time's, tells whether it came before the slate or after it. In one folder the
    numbering does."""
    slates = [shot for shot in found if _is_slate(shot, reads)]
    doubt: dict[str, str] = {}
    for shot in found:
        if shot.primary.path not in assignment.rows or shot in slates:
            continue
        second = shot.when.replace(microsecond=0)
        for slate in slates:
            if slate.when.replace(microsecond=0) == second and (
                slate.primary.folder != shot.primary.folder
            ):
                why = (
                    f"taken in the same second as the slate {slate.primary.path}, in another "
                    "folder (another camera's, or the camera's next): whether before or after "
                    "it cannot be told, so whose photo it is is in doubt; give its patient "
                    "with a map or --id"
                )
                doubt.update(dict.fromkeys((m.path for m in shot.files), why))
                break
    return _held_too(assignment, doubt)


RETAKE = timedelta(seconds=15)
"""A photo in which no code was found, taken this little before a slate, may be a first try
at that slate (taken again once the camera's screen shows it blurred). A day trial's
next patient's sheet photographed 18-29 s after the last patient's photo held that photo
at 30 s (17 of 861 ordinary photos)."""


def _retakes_held(
    assignment: SlateAssignment, found: Sequence[Shot], reads: Mapping[str, SlateRead]
) -> SlateAssignment:
    """``assignment`` with each photo held that was taken less than `RETAKE` before a slate
    (none between) and given another patient than that slate's, or that slate is held: a
    slate that comes out blurred is taken again at once, and the first try, in which no code
    was found, went to the patient before, with the next patient's label on it (a trial).
    The last patient's photo taken that close before the next patient's slate is rare. So
    is a slower try (`SLOW_RETAKE`)."""
    doubt: dict[str, str] = {}
    for index, slate in enumerate(found):
        if not _is_slate(slate, reads) or slate.primary.time_source == "mtime":
            continue
        theirs = _patient(assignment, slate.primary.path)
        slow = _slow_try(found, index, reads)
        for shot in _tries(found, index, reads) or ([slow] if slow else []):
            before = _apart(shot, slate)
            given = _patient(assignment, shot.primary.path)
            if given is None or given == theirs:
                continue
            after = f" and {_taken(_apart(found[index - 2], shot))}" if shot is slow else ""
            why = (
                f"taken {int(before.total_seconds())} s before the slate {slate.primary.path} "
                f"({theirs or 'held'}){after}, and no code was found in it: if it is a first "
                f"try at that slate (blurred, cut off), it shows that patient's label, not a "
                f"photo of {given}; check it and give its patient with a map or --id"
            )
            doubt.update(dict.fromkeys((m.path for m in shot.files), why))
    return _held_too(assignment, doubt)


SLOW_RETAKE = timedelta(seconds=45)
"""A photo in which no code was found, taken from `RETAKE` to this before a slate and at
least twice as long after the photo before it, may be a first try at the slate too: nearer
the slate than the rhythm of the visit before it (a fifth day trial's first tries 34-39 s
before their slates, 1 min 50 s after the last photo, went to the patient before)."""


def _slow_try(found: Sequence[Shot], index: int, reads: Mapping[str, SlateRead]) -> Shot | None:
    """The shot just before the slate ``found[index]``, if it may be a slow first try at it
    (`SLOW_RETAKE`)."""
    if index < 2:
        return None
    shot, slate = found[index - 1], found[index]
    if _is_slate(shot, reads) or shot.primary.time_source == "mtime":
        return None
    apart = _apart(shot, slate)
    if not RETAKE <= apart < SLOW_RETAKE:
        return None
    return shot if _apart(found[index - 2], shot) >= 2 * apart else None


def _apart(shot: Shot, later: Shot) -> timedelta:
    """The time from one shot to a later one, their sub-seconds counted (the capture times
    are whole seconds)."""
    fraction = subsec_fraction(later.primary.subsec) - subsec_fraction(shot.primary.subsec)
    return later.when - shot.when + timedelta(seconds=fraction)


def _held_too(assignment: SlateAssignment, doubt: Mapping[str, str]) -> SlateAssignment:
    """``assignment`` with the files in ``doubt`` held for their reasons, not assigned: a
    group whose slate is held becomes a held group (no patient, the reason) keeping its
    photos, as a slate that gives no ID does; other held photos leave their group."""
    if not doubt:
        return assignment

    def held(group: SlateGroup) -> SlateGroup:
        if group.slate in doubt:
            return replace(group, patient_id=None, reason=doubt[group.slate])
        return replace(group, photos=tuple(m for m in group.photos if m.path not in doubt))

    return replace(
        assignment,
        rows={p: row for p, row in assignment.rows.items() if p not in doubt},
        holds={**assignment.holds, **doubt},
        groups=tuple(held(group) for group in assignment.groups),
    )


SLATES_AFTER = (
    "photos with no slate before them (at the card's start, or after a long gap) were taken "
    "just before a slate, as when each slate was photographed after its patient's photos, "
    "not before: then every group here is the next slate's patient's, so none is filed by "
    "its slates. Check the card (preview --slates --sheet), then ingest with an ID map "
    "(map-template writes one grouped by time, for the IDs to be filled in)"
)


MAYBE_SLATES_AFTER = (
    "photos with no slate before them were taken just before a slate, and a photo ends the "
    "card: if each slate was photographed after its patient's photos, not before, every "
    "group here is the next slate's patient's, and the last photo the one with no slate. "
    "Check the photos (preview --slates --sheet shows each group with its slate); if so, "
    "move them to the right patients (cardingest move), or ingest the card again with an ID "
    "map"
)
"""`SLATES_AFTER`'s shape on a card a photo ends (a stray photo after the last slate, a
forgotten last slate): as often a test shot before the first slate, so it is said, not held."""


def _lone(group: SlateGroup) -> bool:
    """A slate that gave its ID to no photo (the next slate, or the card's end, came first)."""
    return group.patient_id is not None and all(
        shot_of(m.path) == shot_of(group.slate) for m in group.photos
    )


def _held_just_before_a_slate(
    found: Sequence[Shot],
    reads: Mapping[str, SlateRead],
    holds: Mapping[str, str],
) -> bool:
    """Whether the card looks as if its slates were each taken after their patient's
    photos (every photo would go to the patient before its own): photos held for want of a
    slate at a session's start (none before them, or a gap over the slate's limit) were
    taken before a slate of the same day, no photo the slates gave a patient between (an
    earlier day's photos left on the card are no such sign). A photo with no EXIF time
    counts where the camera's numbering puts it right before a slate. A pause within a
    patient's photos is no such sign either. Where a slate (read, valid or not) also ends
    the card, every photo is held (`SLATES_AFTER`); else it is said (`MAYBE_SLATES_AFTER`).

    A correct card can look so (a test shot just before the first slate, or a slate, a long
    talk, then the photos; and a last slate whose patient left unphotographed): its photos
    are held, in doubt. A mix of both ways within minutes is not seen."""
    if not found:
        return False
    waiting: Shot | None = None  # the last photo held at a session's start, none assigned since
    for shot in found:
        if _is_slate(shot, reads):
            if waiting is not None and waiting.when.date() == shot.when.date():
                return True
            waiting = None
        elif shot.primary.time_source != "mtime":
            why = holds.get(shot.primary.path, "")
            waiting = shot if _at_a_session_start(why) else None
    by_number = sorted(found, key=_card_order)
    return any(
        shot.primary.time_source == "mtime"
        and _is_slate(after, reads)
        and (before is None or _at_a_start(before, reads, holds))
        for before, shot, after in zip([None, *by_number], by_number, by_number[1:], strict=False)
    )


def _at_a_start(shot: Shot, reads: Mapping[str, SlateRead], holds: Mapping[str, str]) -> bool:
    """Whether a photo with no time that the camera numbered after ``shot`` stands at a
    session's start too: ``shot`` is no slate, and was held for want of one (or has no time
    itself). One after a slate's photos is that patient's, with its time lost."""
    if _is_slate(shot, reads):
        return False
    why = holds.get(shot.primary.path, "")
    return shot.primary.time_source == "mtime" or _at_a_session_start(why)


def _is_slate(shot: Shot, reads: Mapping[str, SlateRead]) -> bool:
    """Whether a barcode was read in the shot's image (a valid ID or not): `_assign_in`'s
    test for a slate."""
    read = reads.get(shot.image.path) if shot.image is not None else None
    return read is not None and read.unread is None


def _all_held(assignment: SlateAssignment, reason: str) -> SlateAssignment:
    """Every photo the slates gave a patient held with ``reason``; the slates themselves
    (each filed by its own barcode) as they are."""
    photos = {path for path in assignment.rows if path not in assignment.slates}
    said = held_said(reason, sorted(photos))
    return replace(
        assignment,
        rows={p: row for p, row in assignment.rows.items() if p not in photos},
        holds={**assignment.holds, **dict.fromkeys(photos, reason)},
        groups=tuple(
            replace(g, photos=tuple(m for m in g.photos if m.path not in photos))
            for g in assignment.groups
        ),
        warnings=(*assignment.warnings, said) if said else assignment.warnings,
        held_notes=(
            (*assignment.held_notes, HeldNote(reason, tuple(sorted(photos))))
            if said
            else assignment.held_notes
        ),
    )


def _with_lone_slates(assignment: SlateAssignment) -> SlateAssignment:
    """A warning for each slate that gave its ID to no photo (the next slate, or the card's
    end, came first): two slates in a row most often mean a label photographed for the
    wrong patient, then the right one. The slate is still filed: it holds no photo."""
    lone = [group for group in assignment.groups if _lone(group)]
    said = tuple(
        f"slate {group.slate} ({group.patient_id}) is followed by no photo of its own (the "
        "next slate, or the end of the card, comes first): check that its label was not "
        "photographed by mistake before another patient's (the contact sheet shows it)"
        for group in lone
    )
    return replace(assignment, warnings=(*assignment.warnings, *said)) if said else assignment


def _card_order(shot: Shot) -> tuple[str, NameOrder, str]:
    """Where a shot stands in the order its camera numbered it: folder, then its name's
    numbers (`shots.name_order`)."""
    return (shot.primary.folder, name_order(shot.primary.stem), shot.primary.stem)


def _patient(assignment: SlateAssignment, path: str) -> str | None:
    row = assignment.rows.get(path)
    return row.patient_id if row is not None else None


def _assign_in(
    order: Sequence[Shot],
    reads: Mapping[str, SlateRead],
    max_gap: timedelta,
    group_gap: timedelta,
) -> SlateAssignment:
    """`assign`, taking the shots in ``order``."""
    rows: dict[str, MapRow] = {}
    holds: dict[str, str] = {}
    slate_of: dict[str, str] = {}
    slate_files: set[str] = set()
    groups: list[SlateGroup] = []
    warnings: list[str] = []
    row_of: dict[str, MapRow] = {}

    slate: str | None = None
    patient: str | None = None
    held: str | None = None
    members: list[MediaFile] = []
    last: datetime | None = None
    previous: datetime | None = None
    warned: set[str] = set()

    def close() -> None:
        if slate is not None:
            groups.append(SlateGroup(slate, patient, tuple(members), held))

    def warn(shot: Shot, why: str, where: str) -> None:
        if shot.primary.path not in warned:
            warned.add(shot.primary.path)
            warnings.append(f"{shot.primary.path}: {why} {NOT_READ}; {where}")

    def hold(shot: Shot, reason: str) -> None:
        for media in shot.files:
            holds[media.path] = reason
            if slate is not None:
                slate_of[media.path] = slate
        if unread is not None:
            warn(shot, unread, "it is held")

    for shot in order:
        read = reads.get(shot.image.path) if shot.image is not None else None
        unread = read.unread if read is not None else None
        if shot.image is None:
            unread = f"a {shot.primary.extension.upper()} file without a JPEG twin"
        if unread is not None:
            read = None
        pause = shot.when - previous if previous is not None else None
        previous = shot.when
        if read is not None:
            close()
            slate, members, last = read.path, [shot.primary], shot.when
            problem = _slate_problem(read)
            if shot.primary.time_source == "mtime":
                problem = f"slate {read.path}: {NO_EXIF_TIME}"
            patient = None if problem else read.ids[0]
            held = problem
            slate_files.update(m.path for m in shot.files)
            if problem:
                hold(shot, problem)
                continue
            assert patient is not None
            row = row_of.setdefault(patient, MapRow(line=0, patient_id=patient))
            for media in shot.files:
                rows[media.path] = row
                slate_of[media.path] = slate
            continue
        if shot.primary.time_source == "mtime":
            if unread is not None and slate is not None and held is None:
                held = _unread_reason(shot.primary.path, unread)  # for the photos after it
            hold(shot, NO_EXIF_TIME)
            continue
        if slate is None:
            hold(shot, NO_SLATE)
            continue
        if held is None and last is not None and shot.when - last > max_gap:
            held = _gap_reason(shot.when - last)
        elif held is None and len(members) > 1 and pause is not None and pause > group_gap:
            held = _pause_reason(pause, unread)  # a pause after the slate alone is the usual
        elif held is None and unread is not None:
            held = _unread_reason(shot.primary.path, unread)
        last = shot.when
        if held is not None:
            hold(shot, held)
            continue
        assert patient is not None
        members.append(shot.primary)
        for media in shot.files:
            rows[media.path] = row_of[patient]
            slate_of[media.path] = slate
    close()
    return SlateAssignment(
        rows=rows,
        holds=holds,
        slate_of=slate_of,
        slates=frozenset(slate_files),
        groups=tuple(groups),
        warnings=tuple(warnings),
    )
