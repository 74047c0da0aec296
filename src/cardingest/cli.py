"""The command line: parse, call the core, render. Errors become messages and exit codes here."""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from . import __version__, output
from .cards import find_cards, resolve_source
from .config import load_settings
from .demo import make_demo_card
from .errors import EXIT_HELD, EXIT_OK, EXIT_USAGE, CardingestError
from .maptemplate import map_template
from .naming import parse_clock_offset
from .prepare import Prepared, prepare, scan_source

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Verified ingest of clinical photos from camera cards into a per-patient archive.",
)

F = TypeVar("F", bound=Callable[..., Any])

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
JsonOpt = Annotated[
    bool, typer.Option("--json", help="One JSON document on stdout, nothing else.")
]
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
        output.emit_json(
            {"error": {"message": exc.message, "details": exc.details, "exit": exc.exit_code}}
        )
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
            output.err.print("[red]Interrupted.[/] Nothing is left half-written; run again to finish.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cardingest {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """Find the card, read capture times, name photos NHI-date-time, copy, verify, then wipe."""


def run_prepare(
    source: str | None,
    settings: Any,
    *,
    map_file: Path | None,
    patient_id: str | None,
    clock_offset: timedelta,
) -> Prepared:
    with output.progress(True, bytes_mode=False) as bar:
        task = bar.add_task("Reading capture times", total=None) if bar else None

        def tick(_: str) -> None:
            if bar is not None and task is not None:
                bar.advance(task)

        return prepare(
            source,
            settings,
            map_file=map_file,
            patient_id=patient_id,
            clock_offset=clock_offset,
            on_file=tick,
        )


def show_plan(prepared: Prepared, archive_from: str, as_json: bool) -> int:
    plan = prepared.plan
    if as_json:
        output.emit_json(output.plan_dict(plan, prepared.card))
        output.print_warnings(plan.warnings)
    else:
        output.print_plan(plan, prepared.card, archive_from)
    return EXIT_HELD if plan.count("hold") else EXIT_OK


@app.command()
@handles_errors
def cards(as_json: JsonOpt = False) -> None:
    """List mounted camera cards (volumes with a DCIM folder of camera folders)."""
    found = find_cards()
    if as_json:
        output.emit_json({"cards": [output.card_dict(card) for card in found]})
        return
    if not found:
        output.out.print("No camera card found. Insert a card, or give a folder as SOURCE.")
        return
    output.out.print(output.cards_table(found))


@app.command()
@handles_errors
def preview(
    source: SourceArg = None,
    map_file: MapOpt = None,
    patient_id: IdOpt = None,
    archive: ArchiveOpt = None,
    clock_offset: ClockOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show exactly what an ingest would do, file by file. Changes nothing."""
    settings = load_settings(archive=archive)
    prepared = run_prepare(
        source,
        settings,
        map_file=map_file,
        patient_id=patient_id,
        clock_offset=parse_clock_offset(clock_offset),
    )
    raise typer.Exit(show_plan(prepared, settings.archive_from, as_json))


@app.command("map-template")
@handles_errors
def map_template_command(
    source: SourceArg = None,
    gap: Annotated[
        float | None,
        typer.Option("--gap", min=0.01, help="Minutes between photos that start a new patient."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV here instead of stdout.")
    ] = None,
) -> None:
    """Write an ID map CSV for the card, photos grouped by time gaps, ids left to fill in."""
    settings = load_settings()
    root, _card = resolve_source(source)
    files = scan_source(root)
    minutes = gap if gap is not None else settings.gap_minutes
    text = map_template(files, timedelta(minutes=minutes))
    if out_file is None:
        sys.stdout.write(text)
        return
    if out_file.exists():
        raise typer.Exit(_refuse_overwrite(out_file))
    out_file.write_text(text, encoding="utf-8")
    output.err.print(f"Wrote {escape(str(out_file))}: fill in the id column, then --map it.")


def _refuse_overwrite(path: Path) -> int:
    output.err.print(f"[red]error:[/] {escape(str(path))} exists; not overwriting it")
    return EXIT_USAGE


@app.command()
@handles_errors
def demo() -> None:
    """Make a small demo card in a temporary folder and preview it. Needs no card or config."""
    workdir = Path(tempfile.mkdtemp(prefix="cardingest-demo-"))
    card, map_file = make_demo_card(workdir)
    settings = load_settings(archive=workdir / "archive")
    output.out.print(f"Demo card: {escape(str(card))}")
    output.out.print(f"ID map:    {escape(str(map_file))}\n")
    output.out.print(map_file.read_text(encoding="utf-8"))
    prepared = run_prepare(
        str(card), settings, map_file=map_file, patient_id=None, clock_offset=timedelta(0)
    )
    show_plan(prepared, settings.archive_from, False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
