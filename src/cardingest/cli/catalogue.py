"""``cardingest catalogue …``: moving an archive's catalogue to PostgreSQL."""

from __future__ import annotations

from typing import Annotated

import typer

from ..archive.backend import (
    CatalogueLocation,
    bind,
    catalogue_path,
    check_url,
    require_readable,
)
from ..errors import UsageError
from . import documents, output
from .common import handles_errors
from .config import load_settings, warn_passwords
from .options import ArchiveOpt, JsonOpt
from .output import escape

catalogue_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Where the archive's catalogue lives: move it from SQLite to PostgreSQL.",
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
    if not catalogue_path(settings.archive).is_file():
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
