"""Interactive ID assignment: photos grouped by time gaps, one patient ID asked per group.

The answers become an ordinary ID map (one row per answered group, its ``files`` naming each
photo by folder and stem), so the planner sees nothing new. Asking and telling are passed in,
so this module needs no terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import InvalidIdError, UsageError
from ..models import IdMap, MapRow, MediaFile
from .idmap import file_spec, folders_alike
from .shots import shutter_time
from .template import group_by_gap, group_span

SOURCE = "interactive"


SAME_AS_BEFORE = "."
"""The one-key answer: the same patient as the group before."""


@dataclass(frozen=True)
class Group:
    number: int
    files: tuple[MediaFile, ...]
    qualify: bool = False
    """Name photos with their folder: the same file name is in more than one folder."""
    clock_offset: timedelta = timedelta(0)
    """Added to the camera's times shown, as `--clock-offset` is to the times a map's
    ``from``/``to`` are compared with (a person may write a map from them)."""

    def describe(self) -> str:
        first, last = self.files[0], self.files[-1]
        span = group_span(self.files, self.clock_offset)

        def name(media: MediaFile) -> str:
            folder = media.folder.rpartition("/")[2]
            return f"{folder}/{media.name}" if self.qualify and folder else media.name

        names = name(first) if first is last else f"{name(first)} … {name(last)}"
        said = f"Group {self.number}: {len(self.files)} photo(s), {span}, {names}"
        undated = [m for m in self.files if not m.sidecar and not shutter_time(m)]
        if not undated:
            return said
        if len(self.files) == 1:  # its time above is its saving's: a trial took it for a shot's
            return f"{said}; it carries no time of taking: the time shown is when it was saved"
        which = ", ".join(name(m) for m in undated[:3]) + (" …" if len(undated) > 3 else "")
        return (
            f"{said}; {len(undated)} of them ({which}) "
            f"{'carries' if len(undated) == 1 else 'carry'} no time of taking, only of "
            "saving: placed in this group by that time, so check on the sheet that "
            f"{'it belongs' if len(undated) == 1 else 'they belong'} here"
        )


def as_shown(files: Sequence[MediaFile]) -> dict[str, tuple[int, datetime, str, str | None]]:
    """`IdMap.asked`: each file as the groups show it (``shown_as`` set), so the plan, made
    from a second read of the card, gives the answers only to the photos they were given for."""
    return {
        media.path: (media.size, media.captured, media.subsec, media.shown_as) for media in files
    }


def make_groups(
    files: Sequence[MediaFile], gap: timedelta, clock_offset: timedelta = timedelta(0)
) -> list[Group]:
    folders: dict[str, set[str]] = {}
    for media in files:
        folders.setdefault(media.name.upper(), set()).add(media.folder)
    qualify = any(len(where) > 1 for where in folders.values())
    return [
        Group(number, tuple(group), qualify, clock_offset)
        for number, group in enumerate(group_by_gap(files, gap), start=1)
    ]


def build_idmap(groups: Sequence[Group], answers: Sequence[str | None]) -> tuple[IdMap, list[str]]:
    """The ID map of the answers (None = leave that group on the card).

    Returns the map and the photos an ID map cannot name (odd file names, or a folder whose
    name another folder on the card has too), which stay on the card. Raises UsageError when
    no group got an ID.
    """
    rows: list[MapRow] = []
    unnamed: list[str] = []
    alike = {f for found in folders_alike(m for g in groups for m in g.files) for f in found}
    for group, answer in zip(groups, answers, strict=True):
        specs = []
        for media in group.files:
            spec = None if media.path.rpartition("/")[0] in alike else file_spec(media)
            if spec is None:
                unnamed.append(media.path)
            else:
                specs.append(spec)
        if specs:  # a group left blank is a blank row: "left blank", not "not in the map"
            files = " ".join(dict.fromkeys(specs))
            rows.append(
                MapRow(
                    line=group.number, patient_id=answer or "", files=files, blank=answer is None
                )
            )
    if all(row.blank for row in rows):
        raise UsageError(
            "No patient ID was given, so there is nothing to copy (photos archived before are "
            "cleared from the card by cardingest wipe)"
        )
    return IdMap(rows=tuple(rows), source=SOURCE), unnamed


GROUP_HELP = (
    "Type the patient ID of every photo in this group; leave it blank to leave the group on "
    f"the card; '{SAME_AS_BEFORE}' gives it the group before's answer. A group holding two "
    "patients' photos cannot be split here: press Ctrl-C (nothing is copied), then set a "
    "shorter gap_minutes in the config, or write a map (cardingest map-template --gap "
    "MINUTES, or a map's from and to times) and ingest with --map."
)
"""Said for ``?`` or ``help`` at the question: a trial's answer ``?`` was checked as an ID."""


def ask_ids(
    groups: Sequence[Group],
    ask: Callable[[str], str],
    tell: Callable[[str], None],
    check: Callable[[str], str],
) -> list[str | None]:
    """One checked ID (or None for blank) per group; an invalid ID is explained and re-asked."""
    answers: list[str | None] = []
    for group in groups:
        tell(group.describe())
        while True:
            hint = ""
            if answers:
                before = answers[-1] or "blank"
                hint = f", {SAME_AS_BEFORE}: same as group {group.number - 1} ({before})"
            raw = ask(f"Patient ID for group {group.number} (blank: leave on the card{hint}): ")
            if not raw.strip():
                answers.append(None)
                break
            if raw.strip() in ("?", "help"):
                tell(GROUP_HELP)
                continue
            if raw.strip() == SAME_AS_BEFORE:
                if not answers:
                    tell("There is no group before this one: type the patient ID.")
                    continue
                answers.append(answers[-1])
                break
            try:
                answers.append(check(raw))
                break
            except InvalidIdError as exc:
                tell(exc.message)
    return answers
