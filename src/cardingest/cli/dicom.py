"""CLI side of DICOM: ``cardingest dicom export`` and ``cardingest dicom send``.

Parses the flags, calls ``export/``, renders the result. pydicom and pynetdicom are imported
only when one of these commands runs, so every other command starts as quickly as before.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..archive.backend import refuse_inside_archive
from ..errors import (
    EXIT_FAILURE,
    EXIT_HELD,
    EXIT_OK,
    ArchiveError,
    ConfigError,
    UsageError,
    combined_exit,
)
from ..models import Settings
from ..storage import ondisk
from . import documents, output
from .common import handles_errors, lookup_id, parse_range, refuse_on_card
from .config import load_dicom_settings, load_settings
from .options import ArchiveOpt, CatalogueOpt, FromOpt, JsonOpt, ToOpt
from .output import escape

if TYPE_CHECKING:
    from ..archive.catalogue import Catalogue
    from ..export.photos import Instance, LeftOut, Selection
    from ..export.run import DicomResult, Done
    from ..ingest import IngestResult

dicom_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="DICOM for the hospital PACS: export archived JPEG photos as files, or send them.",
)

DicomIdArg = Annotated[
    str | None,
    typer.Argument(
        metavar="ID", help="Only this patient's photos (else every patient's).", show_default=False
    ),
]
DicomOutOpt = Annotated[
    str | None,
    typer.Option("--out", help="Folder for the .dcm files (default ./dicom-YYYYMMDD)."),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Send again photos this PACS already confirmed.")
]


def _select(
    catalogue: Catalogue,
    patient_ids: Sequence[str | None],
    date_from: date | None,
    date_to: date | None,
) -> Selection:
    from ..export.photos import select_photos

    return select_photos(catalogue, patient_ids=patient_ids, date_from=date_from, date_to=date_to)


def _check_any(selection: Selection, patient_id: str | None, dated: bool) -> None:
    """Nothing matching an ID or dates given is input to fix (exit 2), as for `share`: an
    export then made an empty folder and said it wrote 0 files, exit 0."""
    if selection.photos or selection.left_out:
        return
    if patient_id and not dated:
        raise UsageError(f"No photos of {patient_id} are archived: is the ID or --archive right?")
    if patient_id or dated:
        whose = f" of {patient_id}" if patient_id else ""
        raise UsageError(f"No archived photos{whose} match the dates given (--from, --to)")
    output.err.print("No archived photos match.")


def _out_folder(given: str | None) -> Path:
    """Where the DICOM files go: ``--out``, which must name a folder (an empty one would
    be the current folder, as a forgotten variable in a script gives), or a new one here."""
    if given is None:
        return Path(f"dicom-{date.today():%Y%m%d}").absolute()
    if not given.strip():
        raise UsageError("--out is empty; give the folder for the DICOM files")
    out = Path(given).expanduser().absolute()
    if ondisk.exists(out) and not ondisk.is_dir(out):
        raise UsageError(f"--out {out} is not a folder; give a folder for the DICOM files")
    return out


def exit_code(result: DicomResult) -> int:
    if result.stopped or result.failed:
        return EXIT_FAILURE
    return EXIT_HELD if result.left_out else EXIT_OK


def _print_problems(result: DicomResult) -> None:
    for done in result.notes:
        output.err.print(f"[yellow]note:[/] {escape(done.archive_path)}: {escape(done.note or '')}")
    for item in result.left_out:
        output.err.print(f"[yellow]left out:[/] {escape(item.archive_path)}: {escape(item.reason)}")
    for item in result.failed:
        output.err.print(f"[red]failed:[/] {escape(item.archive_path)}: {escape(item.reason)}")


# --- export -----------------------------------------------------------------------------


def run_export(
    settings: Settings,
    raw_id: str | None,
    *,
    start: str | None,
    end: str | None,
    out_dir: str | None,
    as_json: bool,
) -> int:
    from ..archive.audit import AuditLog
    from ..archive.catalogue import Catalogue, require_catalogue
    from ..export.photos import Builder
    from ..export.run import export_files, not_theirs
    from ..move import journal_path
    from ..storage.modes import make_private_folder
    from .move import finish_pending_move
    from .session import open_archive

    options, _pacs = load_dicom_settings(settings)
    patient_id = lookup_id(raw_id, settings) if raw_id else None
    date_from, date_to = parse_range(start, end)
    out = _out_folder(out_dir)
    refuse_on_card(out, "--out")
    refuse_inside_archive(out, "--out", settings.archive, settings.backup)
    require_catalogue(settings.archive)
    AuditLog(settings.archive).require_appendable()  # each export is recorded: check first
    if ondisk.exists(journal_path(settings.archive)):  # a stopped move: its photos' patient first
        with open_archive(settings.archive, "dicom export"):
            finish_pending_move(settings.archive, "dicom export")
    with Catalogue.open(settings.archive, create=False) as catalogue:
        selection = _select(catalogue, [patient_id], date_from, date_to)
        _check_any(selection, patient_id, bool(date_from or date_to))
        try:
            closed = make_private_folder(out, "--out")
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise  # the name to fix: exit 2, as any name too long
            raise ArchiveError(f"Cannot create {out}: {exc.strerror or exc}") from None
        if closed is not None:
            output.print_warnings([closed])
        builder = Builder(settings.archive, catalogue, options)
        with output.progress(not as_json, bytes_mode=False) as bar:
            task = bar.add_task("Writing DICOM files", total=len(selection.photos)) if bar else None

            def tick(_item: Instance | LeftOut) -> None:
                if bar is not None and task is not None:
                    bar.advance(task)

            result = export_files(
                settings.archive,
                builder,
                selection,
                out,
                operator=settings.operator,
                on_item=tick,
            )
        strays = not_theirs(catalogue, out, {patient_id} if patient_id else set())
    output.print_warnings(
        result.warnings
        + [
            f"{path} is no photo of {path.parent.name} now (moved to another patient since it "
            "was exported here): take it out before the folder goes on a CD or stick"
            for path in strays
        ]
    )
    if as_json:
        output.emit_json(documents.dicom_export(settings.archive, out, result, strays))
    _print_problems(result)
    if not as_json:
        output.out.print(
            f"Wrote {len(result.done)} DICOM file(s) in {escape(str(out))}"
            + (f"; {len(result.already)} already there, unchanged" if result.already else "")
            + (f"; [yellow]{len(result.left_out)} left out[/]" if result.left_out else "")
            + (f"; [red]{len(result.failed)} failed[/]" if result.failed else "")
        )
    # A file to take out before the CD is burnt: not "all done" for a script.
    return combined_exit(exit_code(result), EXIT_HELD if strays else EXIT_OK)


# --- send -------------------------------------------------------------------------------


def send(
    settings: Settings,
    patient_ids: Sequence[str | None],
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    force: bool = False,
    as_json: bool = False,
    check_empty: bool = False,
) -> DicomResult:
    """Send the matching photos to the configured PACS under the archive lock."""
    from ..archive.catalogue import Catalogue
    from ..export.pacs import client_for
    from ..export.photos import Builder
    from ..export.run import send_photos
    from .move import finish_pending_move
    from .session import open_archive

    options, pacs = load_dicom_settings(settings)
    if pacs is None:
        where = settings.config_file or "the config file"
        raise ConfigError(
            f"No [pacs] table in {where}: set host, port and ae_title (see config.example.toml)"
        )
    with open_archive(settings.archive, "dicom send"):
        # Photos a stopped move refiles go out under the patient they were moved to.
        finish_pending_move(settings.archive, "dicom send")
        with Catalogue.open(settings.archive, create=False) as catalogue:
            selection = _select(catalogue, patient_ids, date_from, date_to)
            if check_empty:
                _check_any(selection, patient_ids[0], bool(date_from or date_to))
            builder = Builder(settings.archive, catalogue, options)
            with output.progress(not as_json, bytes_mode=False) as bar:
                task = (
                    bar.add_task(f"Sending to {pacs.destination}", total=len(selection.photos))
                    if bar
                    else None
                )

                def tick(_item: Done | LeftOut) -> None:
                    if bar is not None and task is not None:
                        bar.advance(task)

                return send_photos(
                    settings.archive,
                    catalogue,
                    builder,
                    selection,
                    pacs,
                    client_for(pacs),
                    force=force,
                    operator=settings.operator,
                    on_item=tick,
                )


def print_send(result: DicomResult) -> None:
    say_send_problems(result)
    output.out.print(
        f"Sent to {escape(result.destination or '')}: [green]{len(result.done)} confirmed[/]"
        + (f", {len(result.already)} sent before" if result.already else "")
        + (f", [yellow]{len(result.left_out)} left out[/]" if result.left_out else "")
        + (f", [red]{len(result.failed)} failed[/]" if result.failed else "")
        + (f", [red]{len(result.not_sent)} not sent[/]" if result.not_sent else "")
    )


def say_send_problems(result: DicomResult) -> None:
    """On stderr, with ``--json`` too: a script's log shows why its exit code is not 0."""
    _print_problems(result)
    if result.stopped:
        output.err.print(f"[red]error:[/] {escape(result.stopped)}")
        output.err.print(
            f"{len(result.not_sent)} photo(s) not confirmed stay unsent; run"
            f" `{escape(result.again)}` again {escape(result.retry)}."
        )


def run_send(
    settings: Settings,
    raw_id: str | None,
    *,
    start: str | None,
    end: str | None,
    force: bool,
    as_json: bool,
) -> int:
    patient_id = lookup_id(raw_id, settings) if raw_id else None
    date_from, date_to = parse_range(start, end)
    result = send(
        settings,
        [patient_id],
        date_from=date_from,
        date_to=date_to,
        force=force,
        as_json=as_json,
        check_empty=True,
    )
    if as_json:
        output.emit_json({"archive": str(settings.archive), **documents.dicom_send(result)})
        say_send_problems(result)
    else:
        print_send(result)
    return exit_code(result)


@dicom_app.command("export")
@handles_errors
def export_command(
    patient_id: DicomIdArg = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    out_dir: DicomOutOpt = None,
    archive: ArchiveOpt = None,
    as_json: JsonOpt = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Write one DICOM file (VL Photographic Image, JPEG Baseline) per archived JPEG photo.

    Files go to OUT/ID/NAME.dcm; an identical file already there is left as it is, another
    file is never overwritten. HEIC and RAW photos are left out (exit 3).
    """
    settings = load_settings(archive=archive, catalogue=catalogue)
    raise typer.Exit(
        run_export(
            settings, patient_id, start=date_from, end=date_to, out_dir=out_dir, as_json=as_json
        )
    )


@dicom_app.command("send")
@handles_errors
def send_command(
    patient_id: DicomIdArg = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    force: ForceOpt = False,
    archive: ArchiveOpt = None,
    as_json: JsonOpt = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Send archived JPEG photos to the PACS in the config's [pacs] table.

    With no ID and no dates: every patient's photos not yet sent. A photo counts as sent
    once the PACS stored it and a query finds it there; photos sent before are skipped
    (--force sends them again). PACS down or refusing: exit 1, and a re-run sends what was
    not confirmed. HEIC and RAW photos are left out (exit 3).
    """
    settings = load_settings(archive=archive, catalogue=catalogue)
    raise typer.Exit(
        run_send(settings, patient_id, start=date_from, end=date_to, force=force, as_json=as_json)
    )


# --- ingest --send ----------------------------------------------------------------------


def require_pacs(settings: Settings) -> None:
    """Before an ``ingest --send`` copies anything: the [pacs] config must be there and valid."""
    _options, pacs = load_dicom_settings(settings)
    if pacs is None:
        where = settings.config_file or "the config file"
        raise ConfigError(f"--send needs a [pacs] table in {where} (see config.example.toml)")


def send_after_ingest(
    result: IngestResult,
    settings: Settings,
    *,
    code: int,
    as_json: bool,
    document: dict[str, Any] | None,
) -> int:
    """Send the JPEG photos of the patients of a clean ingest (no failed copy) not yet sent.

    Returns the combined exit code: 1 if the ingest or the send failed, else the larger.
    """
    if result.count("failed") or result.interrupted:
        message = "Not sending to the PACS: some photos failed to copy; ingest again first."
        output.err.print(f"[yellow]{message}[/]")
        if document is not None:
            document["dicom_send"] = {"skipped": message}
        return code
    ids = sorted(
        {
            outcome.item.patient_id
            for outcome in result.outcomes
            if outcome.action in ("copy", "skip") and outcome.item.patient_id
        }
    )
    if not ids:
        if document is not None:
            document["dicom_send"] = {"skipped": "no archived photos in this ingest"}
        return code
    sent = send(settings, ids, as_json=as_json)
    if document is not None:
        document["dicom_send"] = documents.dicom_send(sent)
        say_send_problems(sent)
    else:
        print_send(sent)
    return combined_exit(code, exit_code(sent))
