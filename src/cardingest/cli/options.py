"""The option and argument types of the commands, kept apart from the code that runs them.

Typer reads each command's signature when the app is built (``--help`` and every run), so
these must import without the core: a module here loads only Typer and the standard library.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer


def finite(value: float | None) -> float | None:
    """Refuses nan, which Click's range check lets through (every comparison with it is
    false), and infinity."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


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
    bool | None,
    typer.Option(
        "--slates/--no-slates",
        help="Read each group's patient ID from a photographed barcode (a slate) on the card, "
        "instead of --map or --id. --no-slates: leave the slates unread, though the config "
        "says slates = true (a map or --id is then not checked against them).",
        show_default=False,
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
SheetOpt = Annotated[
    Path | None,
    typer.Option(
        "--sheet",
        dir_okay=False,
        help="Also write a contact sheet of the photos here (one HTML file, thumbnails "
        "inside; mode 0600; an existing file is never written over). It shows patient IDs "
        "and photos: do not leave it in a shared, synced or public folder.",
    ),
]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="Only photos taken on or after this day (YYYY-MM-DD).")
]
ToOpt = Annotated[
    str | None, typer.Option("--to", help="Only photos taken on or before this day (YYYY-MM-DD).")
]
DiagnosisFilterOpt = Annotated[
    str | None,
    typer.Option("--diagnosis", help="Only photos with this diagnosis keyword (any case)."),
]
SearchIdOpt = Annotated[str | None, typer.Option("--id", help="Only this patient's photos.")]
TargetsArg = Annotated[
    list[str],
    typer.Argument(
        help="A patient ID (all their photos) or archived photo paths.", show_default=False
    ),
]
DiagnosisOpt = Annotated[
    str | None,
    typer.Option("--diagnosis", help="Diagnosis keyword(s), separated by ';'."),
]
SiteOpt = Annotated[
    str | None, typer.Option("--site", help="Body site (replaces it; '' clears it).")
]
ConsentOpt = Annotated[
    str | None,
    typer.Option("--consent", help="record, teaching or publication (replaces it; '' clears it)."),
]
RemoveOpt = Annotated[
    bool, typer.Option("--remove", help="Remove the --diagnosis keyword(s) instead of adding.")
]
ShareIdArg = Annotated[str, typer.Argument(help="The patient ID whose photos to share.")]
SizeOpt = Annotated[
    str,
    typer.Option(
        "--size",
        help="small (fits 320×320), medium (640×480), large (2016×1512) or original.",
    ),
]
OutOpt = Annotated[
    str | None,
    typer.Option("--out", help="Folder for the copies (default ./share-ID-YYYYMMDD)."),
]
AnonymousOpt = Annotated[
    bool,
    typer.Option(
        "--anonymous",
        help="Name the copies with a random token instead of the ID (needs teaching or "
        "publication consent for every photo).",
    ),
]
InteractiveOpt = Annotated[
    bool,
    typer.Option("--interactive", help="Ask for each card's patient IDs, group by group."),
]
IntervalOpt = Annotated[
    float,
    typer.Option(
        "--interval",
        min=0.05,
        max=3600,
        callback=finite,
        help="Seconds between looks for a card (up to an hour).",
    ),
]
OnceOpt = Annotated[bool, typer.Option("--once", help="Exit after the first card.")]
