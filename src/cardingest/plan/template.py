"""A starter ID map for a card: photos grouped by time gaps, the id column left empty."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from ..models import MediaFile
from ..text import printable
from .idmap import file_spec, folders_alike, number_prefix, offset_line
from .shots import (
    EARLIEST_PLAUSIBLE,
    NameOrder,
    by_shot,
    dcf_position,
    elapsed,
    name_order,
    primary_photo,
    shot_key,
)

_NUMBER = re.compile(r"(\d+)$", re.ASCII)


def _dcf_order(media: MediaFile) -> tuple[str, NameOrder, str]:
    """Folder, then the name's place in its camera's or phone's order (`shots.name_order`):
    a phone's IMG_20260311_100000 by day, then time, with IMG_20260311_100000_1 (a second
    photo in that second) straight after it.

    Sorting by the name before its last number instead put all the ``_1`` names after the
    day's others, so a group of them came after later patients' groups, and a "same as the
    last group" answer gave them to the wrong patient. Any order that keeps each
    name-before-the-number in number order keeps `_spec`'s ranges from overlapping."""
    return (media.folder.upper(), name_order(media.stem), media.stem.upper())


def group_by_gap(files: Sequence[MediaFile], gap: timedelta) -> list[list[MediaFile]]:
    """Photos in card order, split wherever the clock jumps forward by more than `gap`, or
    back at all (a camera whose clock was reset or changed, or another camera's folder).

    Walking in DCF order (not time order) keeps every group a contiguous range of file
    numbers among names alike up to the number, so the ranges written to the map (`_spec`)
    can never overlap. A shot's files (RAW and JPEG) stay together and take its time
    (`shots.primary_photo`), as the plan does.

    The groups are then put in the order they were taken, as the map's rows and the
    prompt's groups are read: a phone's IMG_ and PXL_ names, or two cameras' folders, put
    a group after a later patient's in card order, and a "same as the group before" answer
    then gave it to that patient. Where the camera numbered its photos (a DCF folder and
    name), its numbers are the order: a group whose clock went back within its folder (a
    clock reset to a factory date such as 2000 or 2019, or set right mid-session), or any
    group dated before `EARLIEST_PLAUSIBLE`, stays after the group before it on the card.
    """
    groups: list[list[MediaFile]] = []
    placed: list[datetime] = []  # each group's place in time, by which they are ordered
    last: MediaFile | None = None
    for shot in by_shot(sorted((m for m in files if not m.sidecar), key=_dcf_order)):
        primary = primary_photo(shot)
        assert primary is not None
        if last is None or not timedelta(0) <= elapsed(last, primary) <= gap:
            numbered = last is not None and _numbered_after(last, primary)
            set_back = placed and (numbered or primary.captured < EARLIEST_PLAUSIBLE)
            groups.append([])
            placed.append(max(placed[-1], primary.captured) if set_back else primary.captured)
        groups[-1].extend(shot)
        last = primary
    order = sorted(range(len(groups)), key=lambda number: (placed[number], number))
    return [groups[number] for number in order]


def _numbered_after(before: MediaFile, after: MediaFile) -> bool:
    """Whether a camera numbered ``after`` after ``before``: both in one DCF folder, with
    DCF names (a phone's folder and names are no such order)."""
    same_folder = before.folder == after.folder
    return same_folder and None not in (dcf_position(before.path), dcf_position(after.path))


def _timed_shots(files: Sequence[MediaFile]) -> list[tuple[list[MediaFile], datetime]]:
    """The files grouped by shot, in order of first appearance, each with its shot's time
    (its `shots.primary_photo`'s)."""
    timed = []
    for shot in by_shot(files):
        primary = primary_photo(shot)
        assert primary is not None
        timed.append((shot, primary.captured))
    return timed


def group_span(group: Sequence[MediaFile], clock_offset: timedelta = timedelta(0)) -> str:
    """When a group's shots were taken (each at its shot's time, as the plan names it, with
    ``clock_offset`` added): the first, and the last if another, with its date if another
    day."""
    times = sorted(when + clock_offset for _, when in _timed_shots(group))
    first, last = times[0], times[-1]
    if last == first:
        return f"{first:%Y-%m-%d %H:%M:%S}"
    end = f"{last:%H:%M:%S}" if last.date() == first.date() else f"{last:%Y-%m-%d %H:%M:%S}"
    return f"{first:%Y-%m-%d %H:%M:%S} to {end}"


def _runs(group: list[MediaFile], qualify: bool) -> list[list[MediaFile]]:
    """The group cut where a range could not go on: another folder, a name that differs
    before its number (IMG_ and _MG_; a phone's next day), as `idmap.parse_spec` requires,
    or a number written with another count of digits, which a range leaves out."""

    def key(media: MediaFile) -> tuple[str, str, int]:
        prefix = number_prefix(media.stem)
        return (media.folder if qualify else "", prefix.upper(), len(media.stem) - len(prefix))

    runs: list[list[MediaFile]] = []
    for media in group:
        if runs and key(runs[-1][-1]) == key(media):
            runs[-1].append(media)
        else:
            runs.append([media])
    return runs


def _spec(group: list[MediaFile], qualify: bool) -> str:
    def name(m: MediaFile) -> str:
        spec = file_spec(m, qualify=qualify)
        assert spec is not None  # the group's photos are `nameable`
        return spec

    specs: list[str] = []
    for run in _runs(group, qualify):
        first, last = run[0], run[-1]
        loose = qualify and not first.folder  # beside folders: a bare range covers theirs too
        if loose or name(first) == name(last) or any(_NUMBER.search(m.stem) is None for m in run):
            specs.extend(name(m) for m in run)
        else:
            specs.append(f"{name(first)}-{name(last)}")
    return " ".join(dict.fromkeys(specs))


def nameable(media: MediaFile) -> bool:
    """Whether an ID map can name this photo (`idmap.file_spec`). Anything else (control
    characters, a leading ``=``, ``+``, ``-`` or ``@`` that a spreadsheet would run as a
    formula) is never written into a ``files`` cell."""
    return file_spec(media) is not None


def map_template(
    files: Sequence[MediaFile], gap: timedelta, clock_offset: timedelta = timedelta(0)
) -> str:
    """The starter map. A photo whose name a map cannot hold is listed, escaped, on a ``#``
    comment line (ignored when the map is read; a spreadsheet shows it as text). Its times
    have ``clock_offset`` added, as `offset_line` says."""
    groups = group_by_gap(files, gap)
    folders = {m.folder for m in files}
    alike = {folder for found in folders_alike(files) for folder in found}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["files", "id", "diagnosis", "site", "consent"])
    if clock_offset:
        writer.writerow([offset_line(clock_offset)])
    for group in groups:
        shots = len({shot_key(media) for media in group})
        writer.writerow([f"# {group_span(group, clock_offset)}: {shots} photo(s)"])
        named = [m for m in group if nameable(m) and m.path.rpartition("/")[0] not in alike]
        named_paths = {m.path for m in named}
        for media in group:
            if not nameable(media):
                writer.writerow(
                    [
                        f"# {printable(media.path)}: a name an ID map cannot hold (only "
                        "letters A-Z, digits and _); give it from and to times, or ingest "
                        "it with --id"
                    ]
                )
            elif media.path not in named_paths:
                writer.writerow(
                    [
                        f"# {printable(media.path)}: another folder on this card has its "
                        "folder's name, and a files cell cannot tell them apart; give it from "
                        "and to times, or ingest its folder as a source of its own"
                    ]
                )
        if named:
            writer.writerow([_spec(named, len(folders) > 1), "", "", "", ""])
    return out.getvalue()
