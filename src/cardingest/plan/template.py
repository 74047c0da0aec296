"""A starter ID map for a card: photos grouped by time gaps, the id column left empty."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import timedelta

from ..models import MediaFile
from ..text import printable
from .idmap import parse_spec

_NUMBER = re.compile(r"(\d+)$")


def _dcf_order(media: MediaFile) -> tuple[str, int, str]:
    match = _NUMBER.search(media.stem)
    return (media.folder.upper(), int(match.group(1)) if match else -1, media.stem.upper())


def group_by_gap(files: Sequence[MediaFile], gap: timedelta) -> list[list[MediaFile]]:
    """Photos in card order, split wherever the clock jumps by more than `gap`.

    Walking in DCF order (not time order) keeps every group a contiguous range of file
    numbers, so the ranges written to the map can never overlap.
    """
    photos = sorted((m for m in files if not m.sidecar), key=_dcf_order)
    groups: list[list[MediaFile]] = []
    for media in photos:
        if groups and abs(media.captured - groups[-1][-1].captured) <= gap:
            groups[-1].append(media)
        else:
            groups.append([media])
    return groups


def _spec(group: list[MediaFile], qualify: bool) -> str:
    def name(m: MediaFile) -> str:
        return f"{m.folder.rpartition('/')[2]}/{m.stem}" if qualify else m.stem

    first, last = group[0], group[-1]
    if first is last or any(_NUMBER.search(m.stem) is None for m in group):
        return " ".join(dict.fromkeys(name(m) for m in group))
    return f"{name(first)}-{name(last)}"


def nameable(media: MediaFile) -> bool:
    """Whether an ID map can name this photo: its folder and stem are plain letters, digits
    and ``_``. Anything else (control characters, a leading ``=``, ``+``, ``-`` or ``@`` that a
    spreadsheet would run as a formula) is never written into a ``files`` cell."""
    try:
        parse_spec(f"{media.folder.rpartition('/')[2] or 'X'}/{media.stem}")
    except ValueError:
        return False
    return True


def map_template(files: Sequence[MediaFile], gap: timedelta) -> str:
    """The starter map. A photo whose name a map cannot hold is listed, escaped, on a ``#``
    comment line (ignored when the map is read; a spreadsheet shows it as text)."""
    groups = group_by_gap(files, gap)
    folders = {m.folder for m in files}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["files", "id", "diagnosis", "site", "consent"])
    for group in groups:
        times = sorted(m.captured for m in group)
        writer.writerow(
            [f"# {times[0]:%Y-%m-%d %H:%M:%S} to {times[-1]:%H:%M:%S}: {len(group)} photo(s)"]
        )
        named = [m for m in group if nameable(m)]
        for media in group:
            if not nameable(media):
                writer.writerow(
                    [
                        f"# {printable(media.path)}: a name an ID map cannot hold (shown "
                        "escaped); only a range around its number covers it"
                    ]
                )
        if named:
            writer.writerow([_spec(named, len(folders) > 1), "", "", "", ""])
    return out.getvalue()
