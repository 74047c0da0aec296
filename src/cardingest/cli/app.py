"""The command line: parse, call the core, render. Errors become messages and exit codes here."""

from __future__ import annotations

import contextlib
import copy
import errno
import itertools
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from typer.models import CommandInfo

from .. import __version__
from ..archive.backend import refuse_inside_archive
from ..errors import (
    EXIT_FAILURE,
    EXIT_HELD,
    EXIT_OK,
    EXIT_USAGE,
    Interrupted,
    OutputError,
    SheetError,
    UsageError,
)
from ..ids import validate_id
from ..models import METADIR, Card, Settings
from ..plan.naming import parse_clock_offset
from ..review.contact import sheet_files
from ..storage import modes, ondisk
from ..text import unset_path
from . import common, documents, json_asked, output, streams
from .catalogue import catalogue_app
from .common import (
    GroupsHook,
    check_inputs,
    handles_errors,
    refuse_misplaced_file,
    refuse_on_card,
    run_prepare,
    scan_card,
    show_plan,
    slates_setting,
    swapped_during,
)
from .config import ENV_CONFIG, load_settings
from .dicom import dicom_app, require_pacs, send_after_ingest
from .interactive import can_assign, confirm_plan, stop_between_files
from .move import move_command
from .options import (
    AnonymousOpt,
    ArchiveOpt,
    CatalogueOpt,
    ClockOpt,
    ConsentOpt,
    DiagnosisFilterOpt,
    DiagnosisOpt,
    FromOpt,
    IdOpt,
    InteractiveOpt,
    IntervalOpt,
    JsonOpt,
    MapOpt,
    OnceOpt,
    OutOpt,
    RemoveOpt,
    SearchIdOpt,
    ShareIdArg,
    SheetOpt,
    SiteOpt,
    SizeOpt,
    SlatesOpt,
    SourceArg,
    TargetsArg,
    ToOpt,
    finite,
)
from .output import escape
from .sheet import (
    groups_writer,
    write_groups_sheet,
    write_ingest_sheet,
    write_plan_sheet,
)

# A command imports the core only it uses in its body: `preview`, `cards` and --help start
# without ingest, wipe, verify, the clinic commands, the lock or SQLite (tests/test_layout.py).
if TYPE_CHECKING:
    from ..ingest import IngestResult
    from ..prepare import Prepared

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Verified ingest of clinical photos from camera cards into a per-patient archive.",
)
app.add_typer(catalogue_app, name="catalogue")

app.add_typer(dicom_app, name="dicom")


def version_callback(value: bool) -> None:
    if value:
        streams.write_out(f"cardingest {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """Find the card, read capture times, name photos NHI-date-time, copy, verify, then wipe."""


@app.command()
@handles_errors
def cards(as_json: JsonOpt = False) -> None:
    """List mounted camera cards (volumes with a DCIM folder of camera folders)."""
    from ..card.detect import cards_under_missing, find_cards

    found = find_cards()
    if as_json:
        output.emit_json(documents.cards(found))
        return
    if not found:
        missing = cards_under_missing()
        output.out.print(
            "No camera card found. Insert a card, or give a folder as SOURCE."
            + (f" {missing}" if missing else "")
        )
        return
    output.out.print(output.cards_table(found))


AllowOtherOpt = Annotated[
    bool,
    typer.Option(
        "--allow-other-patient",
        help="For this run, also archive photos whose content is already filed under another "
        "patient (held otherwise).",
    ),
]

PreviewBackupOpt = Annotated[
    str | None,
    typer.Option(
        "--backup",
        help="The backup the ingest would also copy to (else backup in the config): its "
        "checks and warnings as the ingest's.",
    ),
]


@app.command()
@handles_errors
def preview(
    source: SourceArg = None,
    map_file: MapOpt = None,
    patient_id: IdOpt = None,
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
    backup: PreviewBackupOpt = None,
    clock_offset: ClockOpt = None,
    as_json: JsonOpt = False,
    slates: SlatesOpt = None,
    sheet: SheetOpt = None,
    allow_other_patient: AllowOtherOpt = False,
) -> None:
    """Show exactly what an ingest would do, file by file. Changes nothing."""
    settings, slates = slates_setting(
        replace(
            load_settings(archive=archive, catalogue=catalogue, backup=backup),
            allow_other_patient=allow_other_patient,
        ),
        slates,
    )
    offset = parse_clock_offset(clock_offset)
    refuse_misplaced_file(sheet, "--sheet", settings, source)
    with sheet_files(sheet) as slot:
        prepared = run_prepare(
            source,
            settings,
            map_file=map_file,
            patient_id=patient_id,
            clock_offset=offset,
            interactive=can_assign(map_file, patient_id, as_json) and not slates,
            slates=slates,
            show_groups=groups_writer(slot, settings.gap_minutes),
        )
        prepared = with_destinations_checked(prepared, settings)
        code = show_plan(prepared, settings.archive_from, as_json)
        if slot.requested is not None:
            write_plan_sheet(slot.requested, prepared, settings)
    raise typer.Exit(code)


@app.command("map-template")
@handles_errors
def map_template_command(
    source: SourceArg = None,
    gap: Annotated[
        float | None,
        typer.Option(
            "--gap",
            min=0.01,
            max=10080,
            callback=finite,
            help="Minutes between photos that start a new patient (up to a week; default "
            "gap_minutes in the config, else 5).",
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV here instead of stdout.")
    ] = None,
    slates: Annotated[
        bool,
        typer.Option(
            "--slates",
            help="Group the photos by the slates on the card and fill in the id column from "
            "them, for a person to confirm before ingesting with --map.",
        ),
    ] = False,
    sheet: SheetOpt = None,
    clock_offset: ClockOpt = None,
) -> None:
    """Write an ID map CSV for the card, photos grouped by time gaps, ids left to fill in."""
    from ..card.detect import resolve_source
    from ..plan.planner import names_in_doubt
    from ..plan.slate_template import slate_map_template
    from ..plan.template import group_by_gap, map_template
    from ..prepare import clock_warning, find_slates, scan_source

    settings = load_settings()
    offset = parse_clock_offset(clock_offset)
    root, card = resolve_source(source)
    if slates and gap is not None:
        raise UsageError("--slates groups the photos by their slates: give no --gap")
    if slates and sheet is not None:
        raise UsageError(
            "--sheet shows time-gap groups; for the slate groups use preview --slates --sheet"
        )
    refuse_misplaced_file(sheet, "--sheet", settings, str(root))  # the archive configured
    refuse_misplaced_file(out_file, "--out", settings, str(root))
    with sheet_files(sheet) as slot:
        files = scan_source(root)
        minutes = gap if gap is not None else settings.gap_minutes
        slate_warnings: tuple[str, ...] = ()
        if slates:
            found = find_slates(root, files, settings, card=card)
            text, slate_warnings = slate_map_template(files, found, offset), found.warnings
        else:
            text = map_template(files, timedelta(minutes=minutes), offset)
        # Before the rows: a file held whatever its row says (its time unreadable, on a
        # fusefat card a month out), what the slates say of the card (a slate with no photo
        # of its own, slates taken after the photos), and a clock that puts groups where
        # they are not expected.
        said = [m.warning for m in files if m.unreadable and m.warning]
        said += [*names_in_doubt(files), *slate_warnings]
        odd_clock = None if slates else clock_warning(files, offset, datetime.now())
        output.print_warnings([*said, *([odd_clock] if odd_clock else [])])
        write_template(text, out_file, filled=slates)
        if not files:  # the CSV is its header alone: said on stderr, the CSV stays clean
            output.err.print(
                "No photos found (they are read from the source's DCIM/ folder, or from the "
                "folder itself when it has none): the map has no rows to fill in."
            )
        if slot.requested is not None:
            write_groups_sheet(
                slot.requested,
                root,
                group_by_gap(files, timedelta(minutes=minutes)),
                title="Contact sheet: map template groups (in the order of the CSV rows)",
                gap_minutes=minutes,
                clock_offset=offset,
            )
            output.err.print(f"Contact sheet of the groups: {escape(str(sheet))}")


def write_template(text: str, out_file: Path | None, *, filled: bool = False) -> None:
    """``filled``: the slates gave the ids; a person checks them rather than fills them in."""
    if out_file is None:
        streams.write_out(text)
        return
    if unset_path(out_file):
        raise UsageError("--out is empty (or names this folder); give the CSV file to write")
    try:
        with os.fdopen(modes.create(out_file, os.O_WRONLY), "w", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        folder = modes.folder_given(out_file, "--out", "map.csv")
        raise folder or UsageError(f"{out_file} exists; not overwriting it") from None
    except OSError as exc:
        raise modes.cannot_create(out_file, "--out", exc) from None
    todo = "check the ids the slates gave" if filled else "fill in the id column"
    output.err.print(f"Wrote {escape(str(out_file))}: {todo}, then --map it.")


BackupOpt = Annotated[
    str | None,
    typer.Option("--backup", help="Also make a second verified copy here (e.g. a NAS)."),
]


WipeBackupOpt = Annotated[
    str | None,
    typer.Option(
        "--backup",
        help="Remove only photos with a verified copy here too (else backup in the config).",
    ),
]


def ingest_exit_code(result: IngestResult) -> int:
    if result.count("failed"):
        return EXIT_FAILURE
    return EXIT_HELD if result.count("hold") else EXIT_OK


def run_execute(
    prepared: Prepared, settings: Settings, stop: threading.Event | None = None
) -> IngestResult:
    from ..ingest import execute
    from ..plan.planner import card_twin

    plan = prepared.plan
    twins = [item for item in plan.items if card_twin(item)]  # read too, then skipped
    files = plan.count("copy") + len(twins)
    total = plan.bytes_to_copy + sum(item.size for item in twins)
    with output.progress(True, bytes_mode=True) as bar:
        task = bar.add_task(copying_label(0, files), total=total) if bar else None
        lock = threading.Lock()
        finished = 0

        def on_bytes(count: int) -> None:
            if bar is not None and task is not None:
                with lock:
                    bar.advance(task, count)

        def on_file(_outcome: object) -> None:
            nonlocal finished
            finished += 1
            if bar is not None and task is not None:
                with lock:
                    bar.update(task, description=copying_label(finished, files))

        return execute(
            plan,
            settings,
            card=prepared.card,
            map_source=prepared.idmap.provenance,
            on_bytes=on_bytes,
            on_file=on_file,
            stop=stop,
        )


def copying_label(finished: int, files: int) -> str:
    """The ingest bar's label. The bar itself follows the bytes read from the card, which
    run ahead of the writes and read-backs: the count says how many photos are finished
    (verified and filed, or failed), so a full bar with work still going is not mistaken
    for the end."""
    return f"Copying and verifying: {finished} of {files} finished"


def locked_ingest(
    source: str | None,
    settings: Settings,
    *,
    map_file: Path | None,
    patient_id: str | None,
    offset: timedelta,
    as_json: bool,
    interactive: bool = False,
    graceful: bool = False,
    slates: bool = False,
    show_groups: GroupsHook | None = None,
    wipe: bool = False,
    card_expected: bool = False,
) -> tuple[Prepared, IngestResult]:
    """Plan and copy under the archive lock, so no other ingest changes what the plan saw.

    ``interactive`` asks for the IDs, then shows the plan and asks to go ahead; ``graceful``
    makes the first Ctrl-C stop between files; ``wipe``: a wipe follows, and what it would
    refuse about the plan's card folders is refused before the first copy;
    ``card_expected``: ``source`` is a card ``watch`` found (`check_inputs`).
    """
    from ..archive.lock import removed_if_left_empty
    from ..ingest import recover_before_planning
    from ..prepare import new_archive, with_backup_check
    from .session import open_archive

    root, card, idmap = check_inputs(
        source,
        settings,
        map_file,
        patient_id,
        interactive=interactive,
        slates=slates,
        show_groups=show_groups,
        card_expected=card_expected,
        clock_offset=offset,
    )
    check_destination_roots(settings)
    warn_in_memory(settings.archive, settings.backup)
    new = new_archive(settings.archive)
    roots = (("The archive folder", settings.archive), ("The backup folder", settings.backup))
    to_close = [  # closed once the plan is checked, before the first copy
        (what, root, mode)
        for what, root in roots
        if root is not None and (mode := modes.empty_and_open(root)) is not None
    ]
    with (
        removed_if_left_empty(settings.archive),
        open_archive(
            settings.archive,
            "ingest",
            creates=True,
            patients={row.patient_id for row in idmap.rows},
        ),
    ):
        recovered = recover_before_planning(settings.archive)
        prepared = with_backup_check(
            scan_card(root, card, idmap, settings, offset, card_expected=card_expected),
            settings.backup,
        )
        if wipe:
            from .wipe import refuse_unwritable_folders

            refuse_unwritable_folders(prepared)
        if interactive:
            confirm_plan(prepared, settings.archive_from)
        elif not as_json:
            try:
                output.out.print(
                    output.archive_line(str(settings.archive), settings.archive_from, new)
                )
            except OutputError as exc:
                raise OutputError(f"{exc.message}: stopped before copying any photo") from None
        closed = [
            said for what, root, mode in to_close if (said := modes.close_folder(root, what, mode))
        ]
        with stop_between_files() if graceful else contextlib.nullcontext() as stop:
            result = run_execute(prepared, settings, stop)
        # The ingest finishes what the recovery before planning left (nothing, or the same
        # journals it could not read): said once.
        result.warnings[:] = [
            *closed,
            *recovered,
            *(w for w in result.warnings if w not in recovered),
        ]
        result.recovered[:] = recovered
        return prepared, result


def check_destination_roots(settings: Settings) -> None:
    """The archive's and backup's drives are there (`backend.check_destination_root`), and
    no other account's link leads to them (`prepare.refuse_others_links_to`)."""
    from ..archive.backend import check_destination_root
    from ..prepare import refuse_others_links_to

    refuse_others_links_to(settings.archive, settings.backup)
    check_destination_root(settings.archive)
    if settings.backup is not None:
        check_destination_root(settings.backup, "backup")


def with_destinations_checked(prepared: Prepared, settings: Settings) -> Prepared:
    """The plan of the preview and the dry run, refused and warned about as the ingest's:
    the drives are there, one in memory is warned about, and the backup is the one earlier
    ingests made, or a new one is said (`prepare.with_backup_check`)."""
    from ..prepare import with_backup_check

    check_destination_roots(settings)
    warn_in_memory(settings.archive, settings.backup)
    return with_backup_check(prepared, settings.backup)


def warn_in_memory(archive: Path, backup: Path | None) -> None:
    from ..archive.backend import memory_fstype

    wiped = ", and no photo archived there is wiped from the card"
    for what, root, more in (("archive", archive, wiped), ("backup", backup, "")):
        kind = memory_fstype(root) if root is not None else None
        if kind is not None:
            output.err.print(
                f"[yellow]warning:[/] the {what} {escape(str(root))} is on {kind}, in memory: "
                f"a restart loses every copy there{more}"
            )


def card_removed(result: IngestResult) -> bool:
    """Whether photos failed because the card went (pulled, unmounted, the folder removed),
    rather than one by one: the card's folder can no longer be listed, or is empty, or a
    photo failed as a pulled FUSE card fails (the card may be back by now: a trial's was
    inserted again before the report, which then listed every photo left behind)."""
    failed = [o.error or "" for o in result.outcomes if o.action == "failed"]
    if not failed:
        return False
    if any(_PULLED in error for error in failed):
        return True
    try:  # a pulled FUSE card answers ENOTCONN (its files' cached attributes may still answer
        # lstat for a second); an unmounted one is an empty folder
        with os.scandir(result.plan.source) as entries:
            return next(entries, None) is None
    except OSError:
        return True


_PULLED = os.strerror(errno.ENOTCONN)
"""How a photo fails whose FUSE card was pulled: its driver is gone ("Transport endpoint is
not connected"). Not EIO: a bad block fails one photo, and the card is still in."""


def said_card_removed(result: IngestResult) -> bool:
    """One message on stderr when the card went mid-copy (with ``--json`` too), not one line
    per photo left behind; whether it was said."""
    if not card_removed(result):
        return False
    planned = sum(1 for item in result.plan.items if item.action == "copy")
    output.err.print(
        f"[red]The card was removed after {result.counts['copied']} of {planned} photo(s) "
        f"were copied and verified; insert it and run the same command again to finish.[/]"
    )
    return True


def copied_shots(result: IngestResult) -> dict[str, int]:
    """The new photos each patient was given, copied (`planner.new_shots`)."""
    from ..plan.planner import new_shots

    copied = ((o.item, o.target) for o in result.outcomes if o.action == "copy")
    return {patient: len(shots) for patient, shots in new_shots(copied).items()}


def print_result(result: IngestResult) -> None:
    from ..ingest import BACKED_UP, BACKUP_REPAIRED, mended

    counts = result.counts
    failed = [o for o in result.outcomes if o.action == "failed"]
    held = [o for o in result.outcomes if o.action == "hold"]
    if said_card_removed(result):
        failed = []
    output.print_warnings(result.recovered)
    for line in output.failed_lines([(o.item.source, o.error or "") for o in failed]):
        output.err.print(line)
    backed_up = 0
    for outcome in mended(result.outcomes):
        if (outcome.reason or "").startswith(BACKED_UP):
            backed_up += 1
            continue
        copy = outcome.target or ""
        if outcome.reason == BACKUP_REPAIRED:
            copy = f"the backup copy {outcome.backup_target or copy}"
        output.out.print(
            f"[green]repaired:[/] {escape(copy)} (copied again from {escape(outcome.item.source)})"
        )
    if backed_up:
        output.out.print(
            f"[green]backed up:[/] {backed_up} photo(s) archived before with no backup copy "
            "now have one in the backup"
        )
    lines = output.held_lines([(o.item.source, o.reason or o.item.reason or "") for o in held])
    for line, _ in lines[:50]:
        output.out.print(line)
    if len(lines) > 50:
        output.out.print(f"[yellow]… and {sum(n for _, n in lines[50:])} more held[/]")
    if not result.plan.items:
        output.print_no_photos()
    output.print_patients(result.plan, copied_shots(result))
    # Warnings, then the manifest, then the summary: the summary is the last line printed.
    output.print_warnings(
        [*result.plan.warnings, *(w for w in result.warnings if w not in result.recovered)]
    )
    if result.stale_temps:
        output.err.print(
            f"Removed {len(result.stale_temps)} temporary file(s) left by an interrupted run."
        )
    if result.manifest:
        output.out.print(f"Manifest: {escape(str(result.manifest))}")
    output.out.print(
        f"Ingest {result.ingest_id}: [green]{counts['copied']} copied and verified[/] "
        + (f"({backed_up} of them backup copies only, " if backed_up else "(")
        + f"{output.human_bytes(result.bytes_copied)} in {result.seconds:.1f} s), "
        f"[cyan]{counts['skipped']} already archived[/], "
        f"[yellow]{counts['held']} held[/], "
        + (f"[red]{counts['failed']} failed[/]" if counts["failed"] else "0 failed")
    )


def say_not_done_in_dry_run(*, wipe: bool, send: bool, yes: bool = False) -> None:
    """What ``--wipe`` and ``--send`` would do after the real run; a dry run does neither.
    Without a terminal and ``--yes`` the real run would refuse the wipe: that is said too."""
    if wipe:
        from .wipe import can_ask

        said = (
            "Dry run: nothing was removed from the card. With --wipe, the real run then removes "
            "the photos it proves archived (to copy, and already archived); held photos stay."
        )
        if not yes and not can_ask():
            said += (
                " There is no terminal here to ask on: the real run needs --yes, or it refuses "
                "before copying anything."
            )
        output.err.print(said)
    if send:
        output.err.print(
            "Dry run: nothing was sent. With --send, the real run then sends these patients' "
            "JPEG photos to the PACS."
        )


@app.command()
@handles_errors
def ingest(
    source: SourceArg = None,
    map_file: MapOpt = None,
    patient_id: IdOpt = None,
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
    backup: BackupOpt = None,
    clock_offset: ClockOpt = None,
    wipe: Annotated[
        bool, typer.Option("--wipe", help="Then remove from the card what is proven archived.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before wiping.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan (as preview does); change nothing.")
    ] = False,
    send: Annotated[
        bool,
        typer.Option(
            "--send", help="Then send these patients' JPEG photos to the PACS ([pacs] in config)."
        ),
    ] = False,
    as_json: JsonOpt = False,
    slates: SlatesOpt = None,
    sheet: SheetOpt = None,
    allow_other_patient: AllowOtherOpt = False,
) -> None:
    """Copy photos into the archive under ID-date-time names, each proven on disk."""
    if yes and not wipe:
        raise UsageError("--yes only answers the wipe's question: add --wipe, or leave out --yes")
    settings, slates = slates_setting(
        replace(
            load_settings(archive=archive, catalogue=catalogue, backup=backup),
            allow_other_patient=allow_other_patient,
        ),
        slates,
    )
    offset = parse_clock_offset(clock_offset)
    if send:  # a dry run too: it must not promise a send the real run refuses
        require_pacs(settings)
    if wipe:  # what the wipe would refuse after the copy is refused before anything is read
        from ..card.detect import resolve_source
        from .wipe import refuse_wipe_before_copy, require_confirmation, require_disk_archive

        if not dry_run:
            require_confirmation(yes)
        require_disk_archive(settings.archive, settings.backup)
        refuse_wipe_before_copy(resolve_source(source)[0])
    interactive = can_assign(map_file, patient_id, as_json) and not slates
    refuse_misplaced_file(sheet, "--sheet", settings, source)
    with sheet_files(sheet) as slot:
        show_groups = groups_writer(slot, settings.gap_minutes)
        if dry_run:
            prepared = run_prepare(
                source,
                settings,
                map_file=map_file,
                patient_id=patient_id,
                clock_offset=offset,
                interactive=interactive,
                slates=slates,
                show_groups=show_groups,
            )
            prepared = with_destinations_checked(prepared, settings)
            if wipe:
                from .wipe import refuse_unwritable_folders

                refuse_unwritable_folders(prepared)
            code = show_plan(prepared, settings.archive_from, as_json)
            if slot.requested is not None:
                write_plan_sheet(slot.requested, prepared, settings)
            say_not_done_in_dry_run(wipe=wipe, send=send, yes=yes)
            raise typer.Exit(code)
        prepared, result = locked_ingest(
            source,
            settings,
            map_file=map_file,
            patient_id=patient_id,
            offset=offset,
            as_json=as_json,
            interactive=interactive,
            slates=slates,
            show_groups=show_groups,
            wipe=wipe,
        )
        sheet_failed = None
        if slot.requested is not None:
            try:
                write_ingest_sheet(slot.requested, prepared, result, settings)
            except SheetError as exc:  # the photos are filed: report it, do not hide them
                sheet_failed = exc.message
    raise typer.Exit(
        report_then_follow(
            prepared,
            result,
            settings,
            as_json=as_json,
            sheet_failed=sheet_failed,
            send=send,
            wipe=wipe,
            yes=yes,
        )
    )


def report_then_follow(
    prepared: Prepared,
    result: IngestResult,
    settings: Settings,
    *,
    as_json: bool,
    sheet_failed: str | None,
    send: bool,
    wipe: bool,
    yes: bool,
) -> int:
    """After the copy: the report, then the send and the wipe asked for, each only while the
    caller can still be told of it; returns the exit code. Standard output failing on the
    way is an OutputError saying what was done (`report_lost`); nothing after it is done."""
    document = documents.ingest(result, prepared.card) if as_json else None
    code = EXIT_FAILURE if sheet_failed is not None else ingest_exit_code(result)
    swapped = swapped_during(prepared.root, prepared.card, result)
    step = "report"
    try:
        try:
            if document is None:
                print_result(result)
            else:
                said_card_removed(result)  # the document lists each photo; a person reads stderr
        finally:
            if sheet_failed is not None:
                output.err.print(f"[red]error:[/] {escape(sheet_failed)}")
        if swapped is not None:  # nothing more is done with the card now in
            more = " Nothing was sent or wiped." if send or wipe else ""
            output.err.print(f"[red]error:[/] {escape(swapped.message + more)}")
            if document is not None:
                document.update(documents.error(swapped))
            code, send, wipe = swapped.exit_code, False, False
        if send or wipe:
            streams.require_stdout()
        if send:
            step = "send"
            code = send_after_ingest(
                result, settings, code=code, as_json=as_json, document=document
            )
        if wipe:
            from .wipe import wipe_after_ingest

            step = "wipe"
            root, card = prepared.root, prepared.card
            code = wipe_after_ingest(
                result, root, card, settings, code=code, yes=yes, document=document
            )
        if document is not None:
            step = "document"
            output.emit_json(document)
    except OutputError as exc:
        raise OutputError(report_lost(exc.message, result, step, send=send, wipe=wipe)) from None
    except KeyboardInterrupt:
        if step not in ("report", "document"):
            raise  # the send and the wipe say how far they got
        said = report_lost(
            "Interrupted after the ingest had finished", result, step, send=send, wipe=wipe,
            again="run the same command again to finish",
        )  # fmt: skip
        raise Interrupted(said) from None
    if document is not None:
        output.print_warnings(result.plan.warnings)
    return code


def report_lost(
    message: str,
    result: IngestResult,
    step: str,
    *,
    send: bool,
    wipe: bool,
    again: str = "run the same command again, with its output going where it can be written",
) -> str:
    """What standard output failing (or a Ctrl-C) at ``step`` of an ingest, after its copy,
    leaves: the photos copied stay archived, and nothing after the step is done
    (`OutputError`); ``again`` says how to do the rest."""
    if step == "document":
        ran = ["the ingest", *(["the send"] if send else []), *(["the wipe"] if wipe else [])]
        return (
            f"{message}: the JSON document is lost; {' and '.join(ran)} it reports ran, and "
            f"the archive's audit log records what {'each' if len(ran) > 1 else 'it'} did"
        )
    copied = f"{result.counts['copied']} photo(s) were copied and verified into the archive"
    said = [message, copied]
    if step == "report" and send:
        said.append("nothing was sent to the PACS")
    if step == "send":
        said.append("the send to the PACS stopped where the audit log says")
    if step in ("report", "send") and wipe:
        said.append("not wiping the card")
    if step in ("report", "send") and (send or wipe):
        said.append(again)
    return "; ".join(said)


@app.command("wipe")
@handles_errors
def wipe_command(
    source: SourceArg = None,
    archive: ArchiveOpt = None,
    backup: WipeBackupOpt = None,
    catalogue: CatalogueOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before removing.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the decision for each file; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove from the card the photos proven archived now; keep everything else.

    Deletes files so the card can be reused; it is not a secure erase.
    """
    from ..card.detect import resolve_source
    from .wipe import exit_code as wipe_exit_code
    from .wipe import print_wipe_result, run_wipe, wipe_report_lost

    settings = load_settings(archive=archive, backup=backup, catalogue=catalogue)
    root, card = resolve_source(source)
    result = run_wipe(root, card, settings, yes=yes, dry_run=dry_run, as_json=as_json)
    try:
        if as_json:
            output.emit_json(documents.wipe(result))
        else:
            print_wipe_result(result)
    except OutputError as exc:
        raise wipe_report_lost(exc, result) from None
    raise typer.Exit(wipe_exit_code(result))


ArchivedSlatesOpt = Annotated[
    bool,
    typer.Option("--slates", help="Include the slates (photos of the patient's label)."),
]
VerifyIdOpt = Annotated[
    str | None,
    typer.Option("--id", help="Only this patient: their copies and what lies in their folders."),
]


@app.command()
@handles_errors
def verify(
    archive: ArchiveOpt = None,
    patient_id: VerifyIdOpt = None,
    fix_permissions: Annotated[
        bool,
        typer.Option(
            "--fix-permissions",
            help="Take other accounts' access away from what they can read (audited).",
        ),
    ] = False,
    fix_sidecars: Annotated[
        bool,
        typer.Option(
            "--fix-sidecars",
            help="Write keywords sidecars that are missing or out of date again, from the "
            "catalogue (audited).",
        ),
    ] = False,
    fix_manifests: Annotated[
        bool,
        typer.Option(
            "--fix-manifests",
            help="Write the coreutils manifests that disagree with the catalogue again, from "
            "it (audited).",
        ),
    ] = False,
    as_json: JsonOpt = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Re-hash archived (and backup) copies against the catalogue; list what does not match,
    keywords sidecars and manifests that disagree with it, and what other accounts on this
    machine can read."""
    from .verify import run_verify

    settings = load_settings(archive=archive, catalogue=catalogue)
    raise typer.Exit(
        run_verify(
            settings,
            patient_id,
            as_json,
            fix_permissions=fix_permissions,
            fix_sidecars=fix_sidecars,
            fix_manifests=fix_manifests,
        )
    )


@app.command()
@handles_errors
def audit(
    archive: ArchiveOpt = None,
    as_json: JsonOpt = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Set aside a torn last line (a write cut by a power cut), recorded in the log.",
        ),
    ] = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Check the audit log's hash chain; name the first line that does not match."""
    from .verify import run_audit

    raise typer.Exit(
        run_audit(load_settings(archive=archive, catalogue=catalogue), as_json, repair)
    )


@app.command()
@handles_errors
def search(
    patient_id: SearchIdOpt = None,
    diagnosis: DiagnosisFilterOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
    slates: ArchivedSlatesOpt = False,
) -> None:
    """Find archived photos by patient ID, diagnosis keyword and capture date."""
    from .clinic import run_search

    settings = load_settings(archive=archive, catalogue=catalogue)
    raise typer.Exit(
        run_search(
            settings,
            raw_id=patient_id,
            diagnosis=diagnosis,
            start=date_from,
            end=date_to,
            as_json=as_json,
            slates=slates,
        )
    )


@app.command()
@handles_errors
def tag(
    targets: TargetsArg,
    diagnosis: DiagnosisOpt = None,
    site: SiteOpt = None,
    consent: ConsentOpt = None,
    remove: RemoveOpt = False,
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Add (or --remove) diagnosis keywords, or set site and consent, of archived photos.

    Updates the catalogue and the photos' XMP sidecars; the audit log records the change.
    """
    from .clinic import run_tag

    settings = load_settings(archive=archive, catalogue=catalogue)
    raise typer.Exit(
        run_tag(settings, targets, diagnosis=diagnosis, site=site, consent=consent, remove=remove)
    )


@app.command()
@handles_errors
def share(
    patient_id: ShareIdArg,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    size: SizeOpt = "medium",
    out_dir: OutOpt = None,
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
    anonymous: AnonymousOpt = False,
    slates: ArchivedSlatesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy a patient's photos for a referral: resized, upright, without GPS or camera details.

    The archive is not changed; the share is recorded in the audit log.
    """
    from .clinic import run_share

    settings = load_settings(archive=archive, catalogue=catalogue)
    if out_dir is not None and not out_dir.strip():  # a script's unset variable: not "here"
        raise UsageError("--out is empty; give the folder for the copies")
    raise typer.Exit(
        run_share(
            settings,
            patient_id,
            size=size,
            start=date_from,
            end=date_to,
            out_dir=Path(out_dir) if out_dir is not None else None,
            anonymous=anonymous,
            slates=slates,
            as_json=as_json,
        )
    )


@app.command()
@handles_errors
def watch(
    map_file: MapOpt = None,
    patient_id: IdOpt = None,
    interactive: InteractiveOpt = False,
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
    interval: IntervalOpt = 2.0,
    once: OnceOpt = False,
    slates: SlatesOpt = None,
) -> None:
    """Wait for camera cards and ingest each one as it is inserted, until Ctrl-C."""
    from .clinic import check_watch_inputs, run_watch

    settings, slates = slates_setting(load_settings(archive=archive, catalogue=catalogue), slates)
    ask = check_watch_inputs(map_file, patient_id, interactive, settings, slates=slates, once=once)
    check_destination_roots(settings)  # now, not once a card is in and its slates are read
    from ..archive.backend import refuse_gone_since

    roots = [("archive", settings.archive)]
    if settings.backup is not None:
        roots.append(("backup", settings.backup))
    known = {root for _, root in roots if ondisk.is_dir(root / METADIR)}

    def ingest_card(card: Card) -> int:
        for what, root in roots:
            if root in known:
                refuse_gone_since(root, what)
        try:
            return _ingest_card(card)
        finally:
            known.update(root for _, root in roots if ondisk.is_dir(root / METADIR))

    def _ingest_card(card: Card) -> int:
        with sheet_files(None) as slot:
            prepared, result = locked_ingest(
                card.mount,
                settings,
                map_file=map_file,
                patient_id=patient_id,
                offset=timedelta(0),
                as_json=False,
                interactive=ask,
                graceful=True,
                slates=slates,
                show_groups=groups_writer(slot, settings.gap_minutes),
                card_expected=True,
            )
        try:
            print_result(result)
        except OutputError as exc:
            lost = report_lost(exc.message, result, "report", send=False, wipe=False)
            raise OutputError(lost) from None
        if result.interrupted:
            raise KeyboardInterrupt
        swapped = swapped_during(prepared.root, prepared.card, result)
        if swapped is not None:
            output.err.print(f"[red]error:[/] {escape(swapped.message)}")
            return swapped.exit_code
        return ingest_exit_code(result)

    named = "--id" if patient_id is not None else "--map" if map_file is not None else None
    if ask or slates:  # patients asked card by card, or read off slates
        named = None
    raise typer.Exit(run_watch(ingest_card, interval=interval, once=once, alone=named))


@app.command("slate")
@handles_errors
def slate_command(
    patient_id: Annotated[
        str, typer.Argument(help="The patient ID to print (checked like any ID).")
    ],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="PNG or PDF file to write (default ./slate-ID.png)."),
    ] = None,
) -> None:
    """Make a printable slate: the ID as four QR codes, a Code 128 and in large type, nothing else.

    One QR code stays whole when an edge or a corner of the slate is out of the frame.
    Photograph it before a patient's lesion photos and ingest with --slates.
    """
    settings = load_settings()
    checked = validate_id(
        patient_id,
        settings.id_scheme,
        pattern=settings.id_pattern,
        allow_test_ids=settings.allow_test_ids,
    )
    from ..clinic.slate_sheet import write_sheet  # Pillow, for this command only

    target = out_file or Path(f"slate-{checked}.png")
    refuse_on_card(target, "--out")
    refuse_inside_archive(target, "--out", settings.archive, settings.backup)
    modes.refuse_swappable(target, "--out" if out_file else "The slate")
    written = write_sheet(checked, target)
    output.err.print(f"Wrote {escape(str(written))}: print it at 100% and photograph it first.")


@app.command()
@handles_errors
def demo() -> None:
    """Make a demo card in a temporary folder, preview it, then ingest it.

    The archive is a temporary folder, and no config, environment setting or PostgreSQL
    catalogue is used: the demo's test-range patients never reach a clinic's archive.
    """
    import tempfile

    from ..demo import make_demo_card

    workdir = Path(tempfile.mkdtemp(prefix="cardingest-demo-"))
    card, map_file = make_demo_card(workdir)
    empty = workdir / "config.toml"
    empty.write_text("", encoding="utf-8")
    settings = replace(
        load_settings(archive=workdir / "archive", environ={ENV_CONFIG: str(empty)}),
        allow_test_ids=True,
    )
    output.out.print(f"Demo card: {escape(str(card))}")
    output.out.print(f"ID map:    {escape(str(map_file))}\n")
    for line in map_file.read_text(encoding="utf-8").splitlines():
        output.out.print(escape(line))
    output.out.print()
    output.out.print("[bold]1. Preview[/] (cardingest preview CARD --map MAP)")
    prepared = run_prepare(
        str(card), settings, map_file=map_file, patient_id=None, clock_offset=timedelta(0)
    )
    show_plan(prepared, settings.archive_from, False)
    output.out.print("\n[bold]2. Ingest[/] (cardingest ingest CARD --map MAP)")
    _prepared, result = locked_ingest(
        str(card),
        settings,
        map_file=map_file,
        patient_id=None,
        offset=timedelta(0),
        as_json=False,
    )
    print_result(result)
    output.out.print(
        f"\nLook in {escape(str(settings.archive))}: one folder per patient; "
        f"then try: cd {escape(str(settings.archive))} && sha256sum -c "
        f"{escape(str(result.manifest.relative_to(settings.archive)) if result.manifest else '')}"
    )


app.command("move")(move_command)


def _name(command: CommandInfo) -> str | None:
    if command.name:
        return command.name
    return typer.main.get_command_name(command.callback.__name__) if command.callback else None


def only(name: str) -> typer.Typer | None:
    """The app with its one command or group ``name``, or None if it has none by that name.

    Typer builds the options of every command on each run (some 15 ms for 37 commands);
    a run uses one. Help, parsing and errors of that command are the same as in `app`
    (tests/test_docs.py compares them).
    """
    commands = [c for c in app.registered_commands if _name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return None
    narrowed = copy.copy(app)
    narrowed.registered_commands = commands
    narrowed.registered_groups = groups
    return narrowed


ONCE_ONLY = frozenset(
    {"--id", "--to", "--from", "--map", "--archive", "--backup", "--catalogue", "--out",
     "--clock-offset", "--since", "--until", "--diagnosis", "--site", "--consent"}
)  # fmt: skip
"""Options whose second use would silently replace the first (`--id A --id B` filing every
photo under B): given twice, they are an error."""


def repeated_option(args: Sequence[str]) -> str | None:
    """The first of `ONCE_ONLY` given twice in ``args`` (before a ``--``), if any."""
    seen: set[str] = set()
    for arg in args:
        if arg == "--":
            break
        name = arg.partition("=")[0]
        if name in ONCE_ONLY:
            if name in seen:
                return name
            seen.add(name)
    return None


def takes_json(command: typer.Typer, args: Sequence[str]) -> bool:
    """Whether the command ``args`` run has a ``--json`` option, read from its signature
    without building it. Given to one without (``map-template CARD --json > map.csv``),
    ``--json`` is an unknown option said on stderr alone: stdout may be a file the shell
    made for that command's own output."""
    from typer.models import OptionInfo
    from typer.utils import get_params_from_function

    group = command
    for word in args:
        inner = next((g.typer_instance for g in group.registered_groups if g.name == word), None)
        if inner is not None:
            group = inner
            continue
        found = next((c for c in group.registered_commands if _name(c) == word), None)
        if found is None or found.callback is None:
            return False
        return any(
            isinstance(param.default, OptionInfo) and "--json" in (param.default.param_decls or ())
            for param in get_params_from_function(found.callback).values()
        )
    return False


def swallowed_option(command: typer.Typer, args: Sequence[str]) -> UsageError | None:
    """An option of the command run whose value is missing, so the next option would be
    taken for it (what `common.refuse_option_as_value` refuses after parsing).

    Found before Click parses: a word the swallowed option leaves (`ingest card --id
    --archive A0`) would make Click fail first with "unexpected extra argument (A0)", which
    names the wrong thing. Only a run with two `--` words in a row builds the command to
    look (about 1 ms).
    """
    words = list(args[: args.index("--")] if "--" in args else args)
    pairs = [
        (word, after)
        for word, after in itertools.pairwise(words)
        if word.startswith("--") and "=" not in word and after.startswith("--")
    ]
    if not pairs:
        return None
    found = typer.main.get_command(command)
    while words and words[0] in getattr(found, "commands", {}):
        found = found.commands[words.pop(0)]  # type: ignore[attr-defined]
    names = common.option_names(found.params) | {"--help"}  # Click adds it to every command
    for word, after in pairs:
        if any(common.takes_value(p) and word in p.opts for p in found.params):
            return common.option_as_value(word, after, names)
    return None


def _refuse(error: UsageError, as_json: bool) -> NoReturn:
    output.err.print(f"[red]error:[/] {escape(error.message)}")
    if as_json:
        output.emit_json(documents.error(error))
    sys.exit(EXIT_USAGE)


def main() -> None:
    refused = streams.standard_streams()
    if refused is not None:
        output.err.print(f"[red]error:[/] {escape(refused.message)}")
        sys.exit(refused.exit_code)
    try:
        run_command()
    except OutputError as exc:  # raised where no command handles it: --version, a refusal's JSON
        output.err.print(f"[red]error:[/] {escape(exc.message)}")
        sys.exit(exc.exit_code)


def run_command() -> None:
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    command = only(first) or app
    as_json = json_asked(sys.argv[1:]) and takes_json(command, sys.argv[1:])
    twice = repeated_option(sys.argv[1:])
    if twice is not None:
        _refuse(UsageError(f"{twice} is given twice; give it once (the last would win)"), as_json)
    swallowed = swallowed_option(command, sys.argv[1:])
    if swallowed is not None:
        _refuse(swallowed, as_json)
    if not as_json:
        command()
        return
    # A script asked for JSON: an option or argument Click itself refuses (unknown, unreadable,
    # missing) is the same one document on stdout as any other error, not stdout left empty.
    try:
        code = command(standalone_mode=False)
    except Exception as exc:  # Click's own, vendored by newer Typer: known by class name
        kinds = {kind.__name__ for kind in type(exc).__mro__}
        if "UsageError" in kinds:
            exc.show()  # type: ignore[attr-defined]
            output.emit_json(documents.error(UsageError(exc.format_message())))  # type: ignore[attr-defined]
            sys.exit(EXIT_USAGE)
        if "Abort" in kinds:
            output.err.print("Aborted.")
            sys.exit(EXIT_FAILURE)
        raise
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
