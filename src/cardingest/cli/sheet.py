"""``--sheet FILE.html``: the contact sheet of a plan, an ingest or the interactive groups.

Thin: builds the sheet from what the command already has (the Plan, the ingest outcomes, the
time-gap groups) and hands it to ``review``; messages go to stderr, so ``--json`` still prints
one document and nothing else on stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import MediaFile, Settings
from ..review.contact import SheetFile, SheetSlot, write_sheet
from . import output
from .output import escape

if TYPE_CHECKING:  # review.sheet loads when a sheet is made: every preview imports this module
    from ..ingest import IngestResult
    from ..prepare import Prepared
    from ..review.sheet import Naming, Sheet


def _naming(settings: Settings) -> Naming:
    from ..review.sheet import Naming

    return Naming(settings.folder_template, settings.name_template)


def _write(target: SheetFile, sheet: Sheet, root: Path, *, interim: bool = False) -> None:
    count = sum(len(s.photos) for s in sheet.sections)
    with output.progress(True, bytes_mode=False) as bar:
        task = bar.add_task("Making thumbnails", total=count) if bar else None

        def tick(_: Path) -> None:
            if bar is not None and task is not None:
                bar.advance(task)

        write_sheet(target, sheet, root, on_done=tick, interim=interim)


def write_plan_sheet(target: SheetFile, prepared: Prepared, settings: Settings) -> None:
    """The sheet of what preview (or ingest --dry-run) would do."""
    from ..review.sheet import plan_sheet

    sheet = plan_sheet(
        prepared.plan,
        title="Contact sheet: preview (nothing copied yet)",
        naming=_naming(settings),
        facts=[("Map", prepared.idmap.source)],
    )
    _write(target, sheet, prepared.root)
    output.err.print(f"Contact sheet of the plan: {escape(str(target.path))}")


def write_ingest_sheet(
    target: SheetFile, prepared: Prepared, result: IngestResult, settings: Settings
) -> None:
    """The sheet of what the ingest did: final actions, failures and held photos."""
    from ..review.sheet import Final, plan_sheet

    finals = [Final(o.item, o.action, o.target, o.error or o.reason) for o in result.outcomes]
    sheet = plan_sheet(
        result.plan,
        title=f"Contact sheet: ingest {result.ingest_id}",
        finals=finals,
        naming=_naming(settings),
        facts=[("Map", prepared.idmap.source), ("Ingest", result.ingest_id)],
        notice="Stopped before the end: photos not reached are listed as held."
        if result.interrupted
        else "",
    )
    _write(target, sheet, prepared.root)
    output.err.print(f"Contact sheet of the ingest: {escape(str(target.path))}")


def write_groups_sheet(
    target: SheetFile,
    root: Path,
    groups: Sequence[Sequence[MediaFile]],
    *,
    title: str,
    gap_minutes: float,
    clock_offset: timedelta = timedelta(0),
    interim: bool = False,
) -> None:
    """``interim``: the groups asked about, which the plan's or the ingest's sheet replaces
    (removed if the command ends before that); map-template's groups are its sheet."""
    from ..plan.naming import format_clock_offset
    from ..review.sheet import groups_sheet

    offset = format_clock_offset(clock_offset)
    sheet = groups_sheet(
        groups,
        title=title,
        source=str(root),
        facts=[
            ("Grouping", f"a new group after more than {gap_minutes:g} minutes"),
            *([("Clock offset", f"{offset} added to camera times")] if clock_offset else []),
        ],
        clock_offset=clock_offset,
    )
    _write(target, sheet, root, interim=interim)


def groups_writer(
    slot: SheetSlot, gap_minutes: float
) -> Callable[[Path, Sequence, timedelta], None]:
    """For interactive assignment: write the groups' sheet before the first question."""

    def show(root: Path, groups: Sequence, clock_offset: timedelta) -> None:
        target = slot.for_groups(root)
        write_groups_sheet(
            target,
            root,
            [g.files for g in groups],
            title="Contact sheet: groups to assign (group numbers match the questions)",
            gap_minutes=gap_minutes,
            clock_offset=clock_offset,
            interim=True,
        )
        where = "temporary file, removed when this command ends" if target.temporary else "--sheet"
        output.err.print(
            f"Contact sheet of these groups ({where}): open it in a browser to see them:\n"
            f"  {escape(target.path.resolve().as_uri())}"
        )

    return show
