"""What every command shares: option types, error handling, plan preparation and display."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..card.detect import resolve_source
from ..errors import EXIT_HELD, EXIT_INTERRUPTED, EXIT_OK, CardingestError
from ..models import Card, IdMap, Settings
from ..plan.assign import Group
from ..prepare import Prepared, check_separate, load_idmap, prepare
from . import documents, output
from .interactive import ask_idmap
from .output import escape

F = TypeVar("F", bound=Callable[..., Any])
GroupsHook = Callable[[Path, Sequence[Group]], None]

SourceArg = Annotated[
    str | None,
    typer.Argument(
        help="The card's mount point or any folder. Left out: the one camera card found.",
        show_default=False,
    ),
]
MapOpt = Annotated[
    Path | None,
    typer.Option("--map", help="ID map CSV: which photos belong to which patient."),
]
IdOpt = Annotated[str | None, typer.Option("--id", help="Give every photo to this patient ID.")]
ArchiveOpt = Annotated[
    str | None,
    typer.Option(
        "--archive", help="Archive folder (else $CARDINGEST_ARCHIVE, the config file, default)."
    ),
]
CatalogueOpt = Annotated[
    str | None,
    typer.Option(
        "--catalogue",
        help="postgresql:// URL of a shared catalogue (else $CARDINGEST_CATALOGUE, the config;"
        " default: SQLite in the archive).",
        show_default=False,
    ),
]
SlatesOpt = Annotated[
    bool,
    typer.Option(
        "--slates",
        help="Read each group's patient ID from a photographed barcode (a slate) on the card, "
        "instead of --map or --id.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, nothing else.")]
ClockOpt = Annotated[
    str | None,
    typer.Option(
        "--clock-offset",
        help="Correct a wrong camera clock: ±HH:MM[:SS] added to every capture time.",
    ),
]


def fail(exc: CardingestError, as_json: bool) -> typer.Exit:
    output.err.print(f"[red]error:[/] {escape(exc.message)}")
    for detail in exc.details:
        output.err.print(f"  {escape(detail)}")
    if as_json:
        output.emit_json(documents.error(exc))
    return typer.Exit(exc.exit_code)


def handles_errors(command: F) -> F:
    """Turn every CardingestError into its message and exit code, in one place."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except CardingestError as exc:
            raise fail(exc, as_json) from None
        except KeyboardInterrupt:
            output.err.print(
                "[red]Interrupted.[/] Nothing is left half-written; run again to finish."
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def run_prepare(
    source: str | None,
    settings: Settings,
    *,
    map_file: Path | None,
    patient_id: str | None,
    clock_offset: timedelta,
    interactive: bool = False,
    slates: bool = False,
    show_groups: GroupsHook | None = None,
) -> Prepared:
    return scan_and_plan(
        *check_inputs(
            source,
            settings,
            map_file,
            patient_id,
            interactive=interactive,
            slates=slates,
            show_groups=show_groups,
        ),
        settings,
        clock_offset,
    )


def check_inputs(
    source: str | None,
    settings: Settings,
    map_file: Path | None,
    patient_id: str | None,
    *,
    interactive: bool = False,
    slates: bool = False,
    show_groups: GroupsHook | None = None,
) -> tuple[Path, Card | None, IdMap]:
    """The ID map and the source, checked before anything is created (even a lock file).

    ``interactive`` (a terminal, neither --map nor --id) asks for the IDs group by group,
    after ``show_groups`` (the groups' contact sheet).
    """
    idmap = load_idmap(map_file, patient_id, settings, slates=slates) if slates else None
    if settings.slates and map_file is None and patient_id is None:
        interactive = False
    if interactive and map_file is None and patient_id is None and idmap is None:
        root, card = resolve_source(source)
        check_separate(root, settings)
        return root, card, ask_idmap(root, settings, show_groups)
    idmap = idmap or load_idmap(map_file, patient_id, settings)
    root, card = resolve_source(source)
    check_separate(root, settings)
    return root, card, idmap


def scan_and_plan(
    root: Path, card: Card | None, idmap: IdMap, settings: Settings, clock_offset: timedelta
) -> Prepared:
    with output.progress(True, bytes_mode=False) as bar:
        task = bar.add_task("Reading capture times", total=None) if bar else None

        def tick(_: str) -> None:
            if bar is not None and task is not None:
                bar.advance(task)

        return prepare(root, card, settings, idmap, clock_offset=clock_offset, on_file=tick)


def show_plan(prepared: Prepared, archive_from: str, as_json: bool) -> int:
    plan = prepared.plan
    if as_json:
        output.emit_json(documents.plan(plan, prepared.card))
        output.print_warnings(plan.warnings)
    else:
        output.print_plan(plan, prepared.card, archive_from)
    return EXIT_HELD if plan.count("hold") else EXIT_OK
