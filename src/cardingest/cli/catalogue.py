"""``cardingest catalogue …``: moving an archive's catalogue to PostgreSQL, and pointing it
at a backup folder that moved."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..archive.backend import (
    CatalogueLocation,
    bind,
    catalogue_path,
    check_url,
    require_readable,
)
from ..errors import EXIT_FAILURE, UsageError
from ..models import METADIR, Settings
from ..storage import ondisk
from . import documents, output
from .common import handles_errors
from .config import load_settings, warn_passwords
from .options import ArchiveOpt, CatalogueOpt, JsonOpt
from .output import escape

if TYPE_CHECKING:
    from ..archive.relocate import Relocation

catalogue_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="The archive's catalogue: move it from SQLite to PostgreSQL, or point it at a "
    "backup folder that moved.",
)


@catalogue_app.command("migrate")
@handles_errors
def migrate_command(
    to: Annotated[
        str,
        typer.Option("--to", help="postgresql:// URL of the database to move the catalogue to."),
    ],
    archive: ArchiveOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy the SQLite catalogue and audit log into PostgreSQL, check them, mark the file.

    Safe to run again after an interruption: it finishes without copying anything twice.
    """
    from ..archive.migrate import migrate  # loaded by this command only, as is the lock
    from .session import open_archive

    warn_passwords(to, {}, None, "--to")
    url = check_url(to, "--to")
    settings = load_settings(archive=archive)
    # The SQLite side, under its lock file; it may sit on a network share: that is why it moves.
    bind(settings.archive, CatalogueLocation())
    require_readable(settings.archive)  # another account's records: one message
    if not ondisk.is_file(catalogue_path(settings.archive)):
        raise UsageError(
            f"No SQLite catalogue at {catalogue_path(settings.archive)}: nothing to migrate."
            " Is --archive right?"
        )
    with open_archive(settings.archive, "catalogue migrate", migrating=True):
        report = migrate(settings.archive, url)
    if as_json:
        output.emit_json(documents.migrate(report))
        return
    counts = report.counts
    output.out.print(
        f"{'Moved' if report.copied else 'Already moved'}: {counts['files']} photo record(s),"
        f" {counts['ingests']} ingest(s), {counts['sightings']} sighting(s) and"
        f" {report.audit_events} audit event(s) of {escape(report.archive)} to"
        f" {escape(report.to)} (archive id {report.archive_id})."
    )
    output.out.print(
        "Checked: row counts, a SHA-256 over every row, and the audit chain. The SQLite file"
        " stays in .cardingest/, marked as migrated. From now on give --catalogue URL, set"
        ' $CARDINGEST_CATALOGUE, or put catalogue = "…" in the config.'
    )


@catalogue_app.command("backup-moved")
@handles_errors
def backup_moved_command(
    old: Annotated[
        str,
        typer.Argument(
            metavar="OLD", help="The backup folder the catalogue names (as verify and wipe say)."
        ),
    ],
    new: Annotated[str, typer.Argument(metavar="NEW", help="Where that backup folder is now.")],
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Point the catalogue's backup copies at the folder the backup is in now, once every
    copy there is read back and matches.

    All or nothing: a copy missing or damaged there changes nothing (exit 1).
    """
    from ..archive.relocate import folder

    settings = load_settings(archive=archive, catalogue=catalogue)
    old_root, new_root = folder(old), folder(new)
    report = _relocate(settings, old_root, new_root)
    stale = settings.backup is not None and folder(settings.backup) == old_root
    if as_json:
        output.emit_json(documents.backup_moved(report, stale))
    else:
        _say_backup_moved(report)
    if report.same_disk and report.moved:
        output.err.print(
            f"[yellow]warning:[/] {escape(report.new)} is on the same disk as the archive: that "
            "disk's loss would take both copies, and a wipe clears cards on their strength. "
            "Put the backup on another disk."
        )
    if stale and report.moved:
        output.err.print(
            f"[yellow]warning:[/] the config still sets backup = {escape(report.old)}: set it "
            f"to {escape(report.new)}, or give --backup {escape(report.new)}."
        )
    if not report.moved:
        raise typer.Exit(EXIT_FAILURE)


def _say_backup_moved(report: Relocation) -> None:
    if report.already:
        output.out.print(
            f"The catalogue names {escape(report.new)} for its {report.already} backup "
            f"cop{'y' if report.already == 1 else 'ies'} already, and none in "
            f"{escape(report.old)}: nothing to do."
        )
        return
    if not report.moved:
        output.out.print(
            f"[red]Not changed:[/] {len(report.mismatches)} of the {report.photos} backup "
            f"copies recorded in {escape(report.old)} do not match in {escape(report.new)}:"
        )
        for mismatch in report.mismatches[:20]:
            output.out.print(
                f"  {escape(mismatch.path)}: {mismatch.status}"
                + (f" ({escape(mismatch.detail)})" if mismatch.detail else "")
            )
        if len(report.mismatches) > 20:
            output.out.print(f"  … and {len(report.mismatches) - 20} more (--json lists all)")
        output.out.print(
            "Put them right there (copy each from the old backup disk, or from the archive: "
            "both hold the same bytes, as `cardingest verify` shows), then run this again. "
            "The catalogue still names the old folder."
        )
        return
    output.out.print(
        f"Checked {report.photos} backup cop{'y' if report.photos == 1 else 'ies'} in "
        f"{escape(report.new)}: [green]all match[/]. The catalogue names them there now (was "
        f"{escape(report.old)}); recorded in the audit log."
    )


def _relocate(settings: Settings, old: Path, new: Path) -> Relocation:
    """`relocate_backup` under the archive's lock and NEW's, with a progress bar. A
    ``.cardingest`` the lock made in a NEW that proved not to be the backup is taken away."""
    from ..archive.relocate import check_new_place, relocate_backup
    from ..move import journal_path, lock_backups
    from .session import open_archive

    check_new_place(settings.archive, old, new)  # before a lock is made in NEW
    made = not ondisk.exists(new / METADIR)
    moved = False
    try:
        with contextlib.ExitStack() as held:
            held.enter_context(
                open_archive(settings.archive, "backup-moved", consequence="no backup copy to move")
            )
            if ondisk.exists(journal_path(settings.archive)):
                raise UsageError(
                    "An interrupted move is waiting to be finished, and its journal names "
                    "backup copies by their old paths: connect the backup disk where it was "
                    "(OLD), run any `cardingest move` or `tag` (each finishes it first), then "
                    "run backup-moved. Nothing was changed."
                )
            held.enter_context(lock_backups("backup-moved (as backup)")({new}))
            bar = held.enter_context(output.progress(True, bytes_mode=True))
            task = bar.add_task("Reading the backup copies", total=None) if bar else None

            def on_total(total: int) -> None:
                if bar is not None and task is not None:
                    bar.update(task, total=total)

            def on_bytes(count: int) -> None:
                if bar is not None and task is not None:
                    bar.advance(task, count)

            report = relocate_backup(
                settings.archive,
                old,
                new,
                operator=settings.operator,
                on_total=on_total,
                on_bytes=on_bytes,
            )
            moved = report.moved and not report.already
    finally:
        if made and not moved:
            with contextlib.suppress(OSError):  # only if empty: the lock's own folder
                (new / METADIR).rmdir()
    return report
