"""CLI side of the clinic workflow: search, tag, share and watch.

The commands themselves are declared in ``cli.py``; this module parses their values, calls
the core and renders the results.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..archive.audit import AuditLog
from ..archive.catalogue import CatalogueRecord, require_catalogue
from ..archive.readonly import reading
from ..card.detect import cards_under_missing
from ..card.kinds import is_sidecar
from ..card.watch import Watcher, watch
from ..clinic.jpeg import SIZES
from ..clinic.share import (
    ShareItem,
    ShareResult,
    capture_order,
    execute_share,
    plan_share,
    record_share,
    record_share_start,
)
from ..clinic.tag import Change, TagResult, parse_change, tag
from ..errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CardChangedError,
    CardGoneError,
    CardingestError,
    Interrupted,
    MapError,
    OutputError,
    UsageError,
)
from ..models import Card, Settings
from ..plan.idmap import require_offset
from ..prepare import load_idmap
from . import documents, output
from .common import diagnosis_filter, lookup_id, parse_range, refuse_on_card
from .interactive import can_assign
from .output import escape
from .session import open_archive

if TYPE_CHECKING:
    from rich.table import Table


def search_table(records: list[CatalogueRecord]) -> Table:
    from rich.table import Table  # lazily: --help does not pay for it

    table = Table(header_style="bold")
    for column in ("ID", "captured", "archive path", "diagnosis", "site", "consent"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(
            escape(record.patient_id),
            record.captured_at.replace("T", " "),
            escape(record.archive_path),
            escape("; ".join(record.diagnosis)) or "-",
            escape(record.site or "") or "-",
            record.consent or "-",
        )
    return table


def run_search(
    settings: Settings,
    *,
    raw_id: str | None,
    diagnosis: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
    slates: bool = False,
) -> int:
    """Photos (not sidecars) matching every filter given, in capture order; slates only
    with ``slates``."""
    patient_id = lookup_id(raw_id, settings) if raw_id is not None else None
    date_from, date_to = parse_range(start, end)
    diagnosis = diagnosis_filter(diagnosis)
    require_catalogue(settings.archive)
    with reading(settings.archive) as catalogue:
        found = catalogue.search(
            patient_id=patient_id, diagnosis=diagnosis, date_from=date_from, date_to=date_to
        )
    records = sorted(
        (r for r in found if not is_sidecar(r.archive_path) and (slates or r.role != "slate")),
        key=capture_order,
    )
    if as_json:
        output.emit_json(documents.search(settings.archive, records))
        return EXIT_OK
    if records:
        output.out.print(search_table(records))
    output.out.print(f"{len(records)} photo(s) in {escape(str(settings.archive))}")
    return EXIT_OK


def _keywords_line(diagnosis: tuple[str, ...], site: str | None, consent: str | None) -> str:
    parts = ["; ".join(diagnosis) or "-", f"site {site or '-'}", f"consent {consent or '-'}"]
    return escape(", ".join(parts))


def print_tag_result(result: TagResult) -> None:
    for change in result.changed:
        old, new = change.old, change.new
        output.out.print(
            f"{escape(change.path)}: {_keywords_line(old.diagnosis, old.site, old.consent)} "
            f"→ {_keywords_line(new.diagnosis, new.site, new.consent)}"
        )
    for path in result.kept:
        output.err.print(
            f"[yellow]kept:[/] {escape(path)} is not cardingest's (a camera's or an editor's "
            "XMP); its keywords are in the catalogue only"
        )
    for problem in result.problems:
        output.err.print(f"[red]sidecar not written:[/] {escape(problem)}")
    sidecars = ", ".join(f"{count} {what}" for what, count in sorted(result.sidecars.items()))
    output.out.print(
        f"{len(result.changed)} file(s) retagged, {len(result.unchanged)} already so"
        + (f"; sidecars: {sidecars}" if sidecars else "")
    )


def run_tag(
    settings: Settings,
    targets: list[str],
    *,
    diagnosis: str | None,
    site: str | None,
    consent: str | None,
    remove: bool,
) -> int:
    from .move import finish_pending_move

    change: Change = parse_change(
        diagnosis,
        site,
        consent,
        remove,
        scheme=settings.id_scheme,
        allow_test_ids=settings.allow_test_ids,
    )
    with open_archive(settings.archive, "tag"):
        # Sidecars must not be rewritten under new names an interrupted move still checks.
        finish_pending_move(settings.archive, "tag")
        result = tag(
            settings.archive,
            targets,
            change,
            check_id=lambda raw: lookup_id(raw, settings),
            operator=settings.operator,
        )
    print_tag_result(result)
    warn_site_at_pacs(settings.archive, result)
    return EXIT_FAILURE if result.problems else EXIT_OK


def warn_site_at_pacs(archive: Path, result: TagResult) -> None:
    """A site changed on photos a PACS holds: the PACS keeps the site it was sent (a photo
    goes under one instance UID, and a PACS keeps the first it stored), so a corrected side
    would never reach it without a word."""
    resited = [change.path for change in result.changed if change.old.site != change.new.site]
    if not resited:
        return
    with reading(archive) as catalogue:
        held = catalogue.dicom_destinations(resited)
    if held:
        places = sorted({where for found in held.values() for where in found})
        output.err.print(
            f"[yellow]warning:[/] {len(held)} of these photos were sent to "
            f"{escape(', '.join(places))} before, with the site they had then; the PACS keeps "
            "that (sending again, even with --force, goes under the same instance UID, which a "
            "PACS keeps as first stored). Have the site corrected at the PACS."
        )


def _report_item(item: ShareItem, status: str, why: str | None, *, as_json: bool) -> None:
    if status == "written":
        if not as_json:
            output.out.print(f"{escape(item.record.archive_path)} → {escape(item.name)}")
    elif status == "skipped":
        output.err.print(
            f"[yellow]skipped:[/] {escape(item.record.archive_path)}: {escape(why or '')}"
        )
    else:
        output.err.print(f"[red]failed:[/] {escape(item.record.archive_path)}: {escape(why or '')}")


def share_exit_code(result: ShareResult) -> int:
    """1 when a copy failed or nothing could be shared; 0 otherwise (skips are reported)."""
    return EXIT_FAILURE if result.failed or not result.written else EXIT_OK


def run_share(
    settings: Settings,
    raw_id: str,
    *,
    size: str,
    start: str | None,
    end: str | None,
    out_dir: Path | None,
    anonymous: bool,
    slates: bool = False,
    as_json: bool = False,
) -> int:
    if size not in SIZES:
        raise UsageError(f"--size {size!r} is not one of {', '.join(SIZES)}")
    patient_id = lookup_id(raw_id, settings)
    date_from, date_to = parse_range(start, end)
    refuse_on_card(out_dir or Path.cwd(), "--out")  # the default folder goes in the current one
    plan = plan_share(
        settings.archive,
        patient_id,
        size=size,
        date_from=date_from,
        date_to=date_to,
        out_dir=out_dir,
        anonymous=anonymous,
        slates=slates,
        backup=settings.backup,
    )
    AuditLog(settings.archive).require_appendable()  # its reason, before any copy is written
    result = execute_share(
        plan,
        functools.partial(_report_item, as_json=as_json),
        lambda warning: output.print_warnings([warning]),
        functools.partial(record_share_start, plan, settings.operator),
    )
    record_share(result, settings.operator)
    if as_json and not result.interrupted:
        output.emit_json(documents.share(result))
    label = f"token {plan.label}" if anonymous else plan.patient_id
    (output.err if as_json else output.out).print(
        f"Shared {len(result.written)} of {len(plan.items)} photo(s) of {escape(label)} "
        f"({size}) in {escape(str(plan.out_dir))}"
        + (f"; {len(result.skipped)} skipped" if result.skipped else "")
        + (f"; [red]{len(result.failed)} failed[/]" if result.failed else "")
    )
    if result.interrupted:
        raise Interrupted(
            f"Interrupted after {len(result.written)} of {len(plan.items)} photo(s) were shared "
            f"in {plan.out_dir}; none is half-written, and the share is in the audit log. To "
            "share them all, remove that folder or give another --out, and run it again."
        )
    return share_exit_code(result)


def check_watch_inputs(
    map_file: Path | None,
    patient_id: str | None,
    interactive: bool,
    settings: Settings,
    *,
    slates: bool = False,
    once: bool,
) -> bool:
    """Check the flags before waiting for a card; returns whether to ask for IDs.

    ``--id`` and ``--map`` name the patients of one card: without ``--once`` every card
    inserted after it, the next patient's too, would be filed under them.
    """
    if slates or (settings.slates and map_file is None and patient_id is None):
        if interactive:
            raise UsageError("Give one of --slates, --interactive, --map FILE or --id ID")
        load_idmap(map_file, patient_id, settings, slates=True)
        return False
    if interactive and (map_file is not None or patient_id is not None):
        raise UsageError("Give one of --map FILE, --id ID or --interactive")
    if interactive or can_assign(map_file, patient_id, False):
        if not sys.stdin.isatty():
            raise UsageError(
                "--interactive needs a terminal; pass --slates, or --map FILE or --id ID with "
                "--once"
            )
        return True
    if map_file is None and patient_id is None:
        raise UsageError(
            "Say how watch learns whose photos each card holds: --interactive (asked at a "
            "terminal, card by card), --slates (a photographed barcode on each card), or "
            "--map FILE or --id ID with --once, for one card"
        )
    idmap = load_idmap(map_file, patient_id, settings)  # its own faults, as ingest says them
    try:  # watch adds no clock offset: a map whose from/to times need one, said now
        require_offset(idmap, timedelta(0))
    except MapError as exc:
        raise MapError(
            exc.message,
            details=[
                "watch takes no --clock-offset: ingest the card with cardingest ingest "
                "--map FILE --clock-offset …, or write the map again with map-template and "
                "no --clock-offset",
                *exc.details[1:],
            ],
        ) from None
    if not once and (map_file is not None or patient_id is not None):
        given = "--id" if patient_id is not None else "--map"
        raise UsageError(
            f"{given} names the patients of one card, so watch takes it with --once only: "
            "every card inserted after it would be filed under them too. Add --once, or watch "
            "with --slates or --interactive to take card after card"
        )
    return False


def _notify(event: str, card: Card) -> None:
    name = escape(card.label or card.mount)
    if event == "card":
        output.out.print(f"[bold]Card {name}[/] at {escape(card.mount)}")
    elif event == "remove":
        output.out.print(f"Done with {name}: remove the card; waiting for the next one.")
    elif event == "failed":
        output.out.print(
            f"[red]Not done with {name}[/]: see the error above; the photos not archived are "
            "still on it. Put that right, then take the card out and insert it again (watch "
            "takes a card when it is inserted); waiting for the next one."
        )
    elif event == "removed":
        output.out.print(f"Card {name} removed.")
    elif event == "changed":
        output.out.print(f"Nothing was copied from {name}: asking about the card now there.")
    elif event == "gone":
        output.out.print(
            f"Card {name} was removed before its photos were copied: nothing was copied from "
            "it. Insert it again to ingest it; waiting for the next card."
        )


def _handle_safely(handle: Callable[[Card], int], card: Card) -> int:
    try:
        return handle(card)
    except Interrupted as exc:
        output.err.print(escape(exc.message))
        raise KeyboardInterrupt from None
    except OutputError:
        raise  # nobody can be told of the next card: stop watching
    except CardGoneError:
        raise  # nothing was read: `watch` waits for it again
    except CardChangedError as exc:
        output.err.print(f"[red]error:[/] {escape(exc.message)}")
        raise  # nothing was copied: `watch` asks about the card now there
    except CardingestError as exc:
        output.err.print(f"[red]error:[/] {escape(exc.message)}")
        for detail in exc.details:
            output.err.print(f"  {escape(detail)}")
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code


def run_watch(
    handle: Callable[[Card], int], *, interval: float, once: bool, alone: str | None = None
) -> int:
    """Ingest each card as it is inserted until Ctrl-C (or the first card with ``once``).

    ``handle`` ingests one card and returns its exit code; it raises KeyboardInterrupt
    when the operator stopped the copy. ``alone``: the option (``--id``, ``--map``) that
    names one card's patients, when it does: two cards in at once are then refused.
    """
    busy = threading.Event()

    def guarded(card: Card) -> int:
        busy.set()  # left set by a Ctrl-C, which stops the card's ingest
        try:
            code = _handle_safely(handle, card)
        except (CardGoneError, CardChangedError):
            busy.clear()
            raise
        busy.clear()
        return code

    watcher = Watcher(interval=interval, notify=_notify, alone=alone)
    output.out.print(f"Watching for camera cards every {interval:g} s; Ctrl-C to stop.")
    missing = cards_under_missing()
    if missing is not None:
        output.err.print(f"warning: {escape(missing)}")
    try:
        return watch(guarded, watcher, once=once)
    except KeyboardInterrupt:
        if busy.is_set():
            output.out.print(  # watch ends here: a card put in again is not looked at
                "Stopped while handling a card: nothing is half-written. Start watch again "
                "with the card in (or run cardingest ingest on it) to finish."
            )
            return EXIT_INTERRUPTED
        output.out.print("Stopped watching for cards.")
        return EXIT_OK
