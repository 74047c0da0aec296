"""``cardingest move``: refile archived photos under the right patient (see `cardingest.move`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import EXIT_HELD, EXIT_OK, ConfigError, UsageError
from ..ids import validate_id
from ..models import Settings
from . import documents, output
from .common import diagnosis_filter, handles_errors, lookup_id, parse_range
from .config import load_dicom_settings, load_settings
from .options import ArchiveOpt, CatalogueOpt, JsonOpt
from .output import escape

if TYPE_CHECKING:  # registered with the app at start-up; the move code loads when it runs
    from ..abandon import AbandonResult
    from ..move import MoveResult

MovePathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Archived photos to move (archive-relative paths, or paths in the archive).",
        show_default=False,
    ),
]
MoveToOpt = Annotated[
    str,
    typer.Option(
        "--to", help="The patient ID the photos belong to (required to move).", show_default=False
    ),
]
MoveFromOpt = Annotated[
    str | None,
    typer.Option("--from", help="Move this patient's photos (narrowed by the filters below)."),
]
MoveDiagnosisOpt = Annotated[
    str | None, typer.Option("--diagnosis", help="With --from: only photos with this keyword.")
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="With --from: captured on or after YYYY-MM-DD.")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="With --from: captured on or before YYYY-MM-DD.")
]
AgainOpt = Annotated[
    bool,
    typer.Option(
        "--again",
        help="Move the photo a path names now, though another photo was moved from that "
        "path to --to before (checked: a re-run of that move is refused without it).",
    ),
]

AbandonOpt = Annotated[
    bool,
    typer.Option(
        "--abandon-journal",
        help="Take a refused journal of an interrupted move out of the way (kept in "
        ".cardingest/abandoned-moves), removing only the second names of catalogued photos "
        "it left; anything not proven one is left and listed. Not with --to or paths.",
    ),
]


def print_move_result(result: MoveResult) -> None:
    for move_id in result.resumed:
        output.err.print(f"Finished move {escape(move_id)}, which had been interrupted.")
    for item in result.moved:
        output.out.print(f"{escape(item.old)} → {escape(item.new)}")
    for asked, now in result.already:
        again = f" (now {escape(now)})" if now != asked else ""
        output.out.print(f"[cyan]already under {escape(result.to)}:[/] {escape(asked)}{again}")
    for _path, why in result.kept:
        output.out.print(f"[cyan]not moved:[/] {escape(why)}")
    if result.earlier and not result.moved:
        output.out.print(
            f"[cyan]already moved:[/] {len(result.already)} file(s) of "
            f"{escape(str(result.from_id))} to {escape(result.to)} by move(s) "
            f"{escape(', '.join(result.earlier))}"
        )
    if result.resumed and not result.moved:  # "Moved 0 file(s)" read as if it had not finished
        output.out.print(
            f"Nothing more to move to {escape(result.to)} once the interrupted move "
            f"{escape(', '.join(result.resumed))} was finished"
        )
        return
    backups = sum(1 for item in result.moved if item.new_backup)
    output.out.print(
        f"Moved {len(result.moved)} file(s) to {escape(result.to)}"
        + (f", {backups} backup copy(ies)" if backups else "")
        + (f", {len(result.sidecars)} keyword sidecar(s)" if result.sidecars else "")
        + (
            f"; catalogue, manifests and audit log updated (move {result.move_id})"
            if result.move_id
            else "; nothing to move"
        )
    )
    if result.moved:
        output.out.print(escape(keywords_kept(result.to)))


def print_abandoned(result: AbandonResult) -> None:
    output.err.print(f"The journal was refused: {escape(result.refused)}")
    for path, same in result.removed:
        output.out.print(f"removed: {escape(path)} (a second name of {escape(same)})")
    for path, to in result.restored:
        output.out.print(f"put back: {escape(path)} → {escape(to)}")
    for path, why in result.kept:
        output.out.print(f"[yellow]left in place:[/] {escape(path)}: {escape(why)}")
    for item in result.refiled:
        output.out.print(
            f"[cyan]refiled already:[/] {escape(item['old'])} is {escape(item['new'])} "
            f"({escape(item['patient'])}) in the catalogue"
        )
    for manifest in result.manifests:
        output.out.print(f"manifest written again from the catalogue: {escape(manifest)}")
    output.out.print(
        f"Abandoned move {escape(result.move_id or '(no ID)')}: {len(result.removed)} second "
        f"name(s) removed, {len(result.restored)} file(s) put back, {len(result.kept)} "
        f"left in place; the journal is kept as {escape(result.journal)}. Run cardingest "
        "verify."
    )


def run_abandon(settings: Settings, *, as_json: bool) -> int:
    """``move --abandon-journal``: exit 0, or 3 where something is left for a person."""
    from ..abandon import abandon_journal
    from ..move import lock_backups
    from .session import open_archive

    with open_archive(
        settings.archive, "move --abandon-journal", consequence="so no move journal is there"
    ):
        result = abandon_journal(
            settings.archive,
            operator=settings.operator,
            backup_locks=lock_backups("move --abandon-journal (as backup)"),
        )
    if as_json:
        output.emit_json(documents.abandoned(settings.archive, result))
    else:
        print_abandoned(result)
    return EXIT_HELD if result.kept else EXIT_OK


def finish_pending_move(archive: Path, doing: str) -> None:
    """Finish a move a kill or a lost catalogue interrupted, and say so: its photos are on
    disk under both patients until then, and a tag, send or export must see them under the
    patient they were moved to. The caller holds the archive lock."""
    from ..move import finish_interrupted, lock_backups

    moved = finish_interrupted(archive, backup_locks=lock_backups(f"{doing} (as backup)"))
    if moved is not None:
        output.err.print(f"Finished move {escape(moved)} first, which had been interrupted.")


def keywords_kept(to: str) -> str:
    """Said after every move, on the terminal and in ``--json``'s ``warnings``: a consent of
    the wrong row would let a share go out anonymised."""
    return (
        "They keep their diagnosis, site and consent: if the map that misfiled them gave "
        f"those too, check them (cardingest search --id {to}) and correct them with "
        "cardingest tag."
    )


def _uid_root(settings: Settings) -> str | None:
    """The config's ``dicom_uid_root``, for which PACS hold a moved photo under its old ID;
    None where the config's DICOM settings do not load (a move is no place to refuse them)."""
    try:
        return load_dicom_settings(settings)[0].uid_root
    except ConfigError:
        return None


def warn_at_pacs(result: MoveResult) -> None:
    """On stderr, with --json too: moved photos a PACS holds under another patient."""
    if result.at_pacs:
        places = sorted({where for found in result.at_pacs.values() for where in found})
        output.err.print(
            f"[yellow]warning:[/] {len(result.at_pacs)} of the moved photos were sent to "
            f"{escape(', '.join(places))} before, under another patient ID (the one they were "
            "filed under, or one before) or an earlier dicom_uid_root: those instances stay "
            f"there. `cardingest dicom send {escape(result.to)}` sends them under "
            f"{escape(result.to)}; have the old ones removed at the PACS."
        )


def run_move(
    settings: Settings,
    paths: list[str] | None,
    *,
    to: str,
    from_id: str | None,
    diagnosis: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    again: bool = False,
) -> int:
    from ..move import MoveRequest, lock_backups, move
    from .session import open_archive

    target = validate_id(
        to, settings.id_scheme, pattern=settings.id_pattern, allow_test_ids=settings.allow_test_ids
    )
    first, last = parse_range(since, until, ("--since", "--until"))
    typed_at = datetime.now(UTC).isoformat(timespec="seconds")  # as catalogue rows are dated
    request = MoveRequest(
        to=target,
        paths=tuple(paths or ()),
        from_id=lookup_id(from_id, settings) if from_id is not None else None,
        diagnosis=diagnosis_filter(diagnosis),
        since=first,
        until=last,
        again=again,
        typed_at=typed_at,
    )

    from ..ingest import recover_before_planning

    with open_archive(settings.archive, "move", consequence="nothing to move"):
        # A run killed before it recorded its copies (a wrong map's, often, which is why
        # photos are moved): recorded first, so they can be moved as any others.
        output.print_warnings(recover_before_planning(settings.archive))
        result = move(
            settings.archive,
            request,
            operator=settings.operator,
            folder_template=settings.folder_template,
            name_template=settings.name_template,
            backup_locks=lock_backups("move (as backup)"),
            uid_root=_uid_root(settings),
        )
    if as_json:
        warnings = [keywords_kept(result.to)] if result.moved else []
        output.emit_json(documents.move(settings.archive, result, warnings))
    else:
        print_move_result(result)
    warn_at_pacs(result)
    return EXIT_OK


@handles_errors
def move_command(
    paths: MovePathsArg = None,
    to: MoveToOpt = "",
    from_id: MoveFromOpt = None,
    diagnosis: MoveDiagnosisOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    again: AgainOpt = False,
    abandon_journal: AbandonOpt = False,
    archive: ArchiveOpt = None,
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refile archived photos under the right patient, under fresh names.

    Give archive paths, or --from ID with the filters. Sidecars and backup copies move too;
    the catalogue and manifests follow; the audit log records old and new paths.
    --abandon-journal takes a refused journal of an interrupted move out of the way.
    """
    if abandon_journal:
        if to or paths or from_id or diagnosis or since or until or again:
            raise UsageError(
                "--abandon-journal takes only --archive, --catalogue and --json: it moves "
                "nothing (give no --to, paths, --from or filters)"
            )
        settings = load_settings(archive=archive, catalogue=catalogue)
        raise typer.Exit(run_abandon(settings, as_json=as_json))
    if not to:
        raise UsageError("Say which patient the photos belong to: --to ID")
    settings = load_settings(archive=archive, catalogue=catalogue)
    raise typer.Exit(
        run_move(
            settings,
            paths,
            to=to,
            from_id=from_id,
            diagnosis=diagnosis,
            since=since,
            until=until,
            again=again,
            as_json=as_json,
        )
    )
