"""``map-template --slates``: the ID map the slates give, for a person to confirm.

One row per slate group with the ``id`` filled in, each photo named by folder and stem (capture
order need not follow file numbers, so no ranges), and a ``# slate …`` comment line above it.
Held groups and held photos appear only in comments, so ``--map`` holds them too. The slate
itself is left out of the row: filed through a map it would be an ordinary photo, and a
wristband photo often shows the patient's name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import timedelta

from ..models import MediaFile
from .idmap import file_spec, offset_line
from .slates import SlateAssignment


def _comment(text: str) -> list[str]:
    """A ``#`` comment row, ``text`` as it is: a cell with a comma is quoted, and the map
    reads a row whose one cell starts with '#' as a comment, quoted or not (as
    `template.map_template`'s are). Its commas were once made semicolons, so a reason did
    not read as preview and ingest say it, nor a card path with a comma as it is."""
    return [f"# {text}"]


def slate_map_template(
    files: Sequence[MediaFile], slates: SlateAssignment, clock_offset: timedelta = timedelta(0)
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["files", "id", "diagnosis", "site", "consent"])
    if clock_offset:
        writer.writerow([offset_line(clock_offset)])
    for group in slates.groups:
        photos = group.photos[1:]
        if group.patient_id is None:
            reason = (group.reason or "").removeprefix(f"slate {group.slate}: ")
            writer.writerow(_comment(f"slate {group.slate}: held ({reason})"))
            continue
        times = sorted(m.captured + clock_offset for m in group.photos)
        writer.writerow(
            _comment(
                f"slate {group.slate}: {group.patient_id}; {len(photos)} photo(s) "
                f"{times[0]:%Y-%m-%d %H:%M:%S} to {times[-1]:%H:%M:%S}"
            )
        )
        specs = [file_spec(m) for m in photos]
        for media, spec in zip(photos, specs, strict=True):
            if spec is None:
                writer.writerow(_comment(f"{media.path} cannot be named in a map; it is held"))
        named = [spec for spec in specs if spec is not None]
        if named:
            writer.writerow([" ".join(named), group.patient_id, "", "", ""])
    held = sorted(
        (path, reason)
        for path, reason in slates.holds.items()
        if path not in slates.slates and not any(path == g.slate for g in slates.groups)
    )
    by_reason: dict[str, list[str]] = {}
    for path, reason in held:
        by_reason.setdefault(reason, []).append(path)
    for reason, paths in by_reason.items():
        writer.writerow(_comment(f"held ({reason}): {' '.join(paths)}"))
    return out.getvalue()
