"""The planner: a pure function from scan records, ID map and archive snapshot to actions.

The dry run prints this plan and ingest executes the very same object, so a preview cannot
differ from the real run. No I/O happens here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .idmap import resolve
from .models import ArchivedFile, ArchiveState, IdMap, MapRow, MediaFile, Plan, PlanItem
from .naming import DEFAULT_FOLDER_TEMPLATE, DEFAULT_NAME_TEMPLATE, target_path

_SOURCE_RANK = {
    "exif:DateTimeOriginal": 0,
    "exif:DateTimeDigitized": 1,
    "exif:DateTime": 2,
    "mtime": 3,
}


@dataclass(frozen=True)
class _Shot:
    """The files of one exposure: a photo plus RAW twin and sidecars sharing its stem."""

    key: tuple[str, str]
    files: tuple[MediaFile, ...]
    primary: MediaFile | None

    @property
    def order(self) -> tuple[float, str, int, str]:
        primary = self.primary or self.files[0]
        fraction = float(f"0.{primary.subsec}") if primary.subsec else 0.0
        number = "".join(ch for ch in primary.stem[-4:] if ch.isdigit())
        return (fraction, primary.folder, int(number or 0), primary.stem)


def captured_key(media: MediaFile) -> str:
    """How a capture time is recorded in the catalogue (raw camera time, to the second)."""
    return media.captured.isoformat(timespec="seconds")


def _shots(files: Sequence[MediaFile]) -> list[_Shot]:
    groups: dict[tuple[str, str], list[MediaFile]] = defaultdict(list)
    for media in files:
        groups[(media.folder, media.stem.upper())].append(media)
    shots = []
    for key, members in groups.items():
        photos = [m for m in members if not m.sidecar]
        primary = min(
            photos,
            key=lambda m: (_SOURCE_RANK[m.time_source], m.extension != "jpg", m.path),
            default=None,
        )
        shots.append(_Shot(key, tuple(sorted(members, key=lambda m: m.path)), primary))
    return sorted(shots, key=lambda s: s.key)


def _archived_index(state: ArchiveState) -> dict[tuple[str, str, int, str], ArchivedFile]:
    return {(a.patient_id, a.source_path, a.size, a.captured_raw): a for a in state.archived}


def _item(
    media: MediaFile,
    when: datetime,
    row: MapRow | None,
    action: str,
    *,
    shot_time: MediaFile | None = None,
    target: str | None = None,
    reason: str | None = None,
) -> PlanItem:
    timed = shot_time or media
    return PlanItem(
        source=media.path,
        action=action,  # type: ignore[arg-type]
        size=media.size,
        time_source=timed.time_source,
        captured_raw=timed.captured,
        captured_at=when,
        subsec=timed.subsec,
        utc_offset=timed.utc_offset,
        patient_id=row.patient_id if row else None,
        target=target,
        reason=reason,
        diagnosis=row.diagnosis if row else (),
        site=row.site if row else None,
        consent=row.consent if row else None,
        make=media.make or timed.make,
        model=media.model or timed.model,
        warning=media.warning,
        map_line=row.line if row and row.line else None,
        sidecar=media.sidecar,
    )


def make_plan(
    files: Sequence[MediaFile],
    idmap: IdMap,
    *,
    state: ArchiveState = ArchiveState(),
    source: str = "",
    archive: str = "",
    folder_template: str = DEFAULT_FOLDER_TEMPLATE,
    name_template: str = DEFAULT_NAME_TEMPLATE,
    clock_offset: timedelta = timedelta(0),
) -> Plan:
    """Decide, for every file, copy (with its target), skip (already archived) or hold.

    Raises MapError when the map does not fit the card. Names are deterministic: photos of
    one patient in the same second are ordered by sub-second, then folder and DCF number, and
    the 2nd gets ``-2``; a name already taken in the archive by other content moves on to
    the next free ``-N``.
    """
    assignment = resolve(idmap, files)
    archived = _archived_index(state)
    used = set(state.taken_paths)
    items: dict[str, PlanItem] = {}

    by_name: dict[tuple[str, str], list[_Shot]] = defaultdict(list)
    for shot in _shots(files):
        primary = shot.primary
        row = assignment.get(primary.path) if primary else None
        if primary is None:
            for media in shot.files:
                items[media.path] = _item(
                    media,
                    media.captured + clock_offset,
                    None,
                    "hold",
                    reason="sidecar without its photo",
                )
            continue
        when = primary.captured + clock_offset
        if row is None:
            for media in shot.files:
                items[media.path] = _item(
                    media, when, None, "hold", shot_time=primary, reason="not in the ID map"
                )
            continue
        base = target_path(folder_template, name_template, row.patient_id, when, 1, "")
        by_name[(row.patient_id, base)].append(shot)

    for (patient_id, _base), shots in sorted(by_name.items()):
        next_suffix = 1
        for shot in sorted(shots, key=lambda s: s.order):
            primary = shot.primary
            assert primary is not None
            row = assignment[primary.path]
            when = primary.captured + clock_offset
            pending: list[MediaFile] = []
            for media in shot.files:
                key = (patient_id, media.path, media.size, captured_key(primary))
                done = archived.get(key)
                if media.size == 0:
                    items[media.path] = _item(
                        media,
                        when,
                        row,
                        "hold",
                        shot_time=primary,
                        reason="empty file (0 bytes)",
                    )
                elif done is not None:
                    items[media.path] = _item(
                        media,
                        when,
                        row,
                        "skip",
                        shot_time=primary,
                        target=done.archive_path,
                        reason="already archived",
                    )
                else:
                    pending.append(media)
            if not pending:
                next_suffix += 1
                continue
            suffix = next_suffix
            while True:
                targets = [
                    target_path(
                        folder_template, name_template, patient_id, when, suffix, m.extension
                    )
                    for m in pending
                ]
                if not any(t in used for t in targets) and len(set(targets)) == len(targets):
                    break
                suffix += 1
            next_suffix = suffix + 1
            used.update(targets)
            for media, target in zip(pending, targets, strict=True):
                items[media.path] = _item(
                    media, when, row, "copy", shot_time=primary, target=target
                )

    ordered = tuple(items[path] for path in sorted(items))
    warnings = tuple(m.warning for m in files if m.warning)
    return Plan(
        source=source,
        archive=archive,
        items=ordered,
        clock_offset=clock_offset,
        warnings=warnings,
    )
