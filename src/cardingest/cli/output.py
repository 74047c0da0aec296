"""Rendering for the CLI: the JSON writer, Rich tables and progress bars. Only the CLI imports
this; the documents themselves are built in `documents`."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..models import Card, Plan
from ..text import json_safe, json_safe_value, printable, undecodable
from . import streams

if TYPE_CHECKING:  # imported where used: --help and --json runs do not pay for them
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table


class _FirstUse:
    """A Rich console made when first used, so that runs which print only JSON (and
    ``--help``) never import Rich (about a tenth of a command's import time). It writes
    through `streams`: stdout that fails is an OutputError, stderr that fails is dropped."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def get(self) -> Console:
        """The console itself: for Rich objects that take one (a progress bar)."""
        if self._console is None:
            from rich.console import Console

            file = streams.stderr if self._stderr else streams.stdout
            console = Console(stderr=self._stderr, soft_wrap=True, emoji=False, file=file)  # type: ignore[arg-type]
            if not self._stderr and not console.is_terminal:
                console = Console(soft_wrap=True, width=160, emoji=False, file=file)  # type: ignore[arg-type]
            self._console = console
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


_out, _err = _FirstUse(stderr=False), _FirstUse(stderr=True)
out = cast("Console", _out)
err = cast("Console", _err)


_plain_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def escape(text: str) -> str:
    """Untrusted text (a card file name, a map cell, a path) for a Rich console: markup
    escaped, and control characters, escape sequences and undecodable bytes shown as
    ``\\xNN`` so they cannot act on the terminal. Use it for every such string printed."""
    from rich.markup import escape as markup_escape

    return markup_escape(printable(text))


def _encode(value: Any) -> str:
    """JSON text that is valid UTF-8 even when a file name is not (its bytes become \\xNN)."""
    text = _plain_encode(value)
    if not undecodable(text):
        return text
    return json.dumps(
        json_safe_value(value), ensure_ascii=False, default=lambda o: json_safe(str(o))
    )


def emit_json(document: dict[str, Any]) -> None:
    """One compact line: the C encoder is several times faster than indented output, and
    scripts do not care (pipe through `python -m json.tool` to read it).

    A top-level value that is an iterator (the items of a plan) is encoded one element at a
    time, so a document for 10,000 photos is never held in memory whole; it is written in
    pieces of about _JSON_PIECE characters, not one write per element (stdout may be
    unbuffered: ``PYTHONUNBUFFERED``, ``python -u``).
    """
    global _cut_short
    parts: list[str] = []
    size = 0

    def write(text: str) -> None:
        nonlocal size
        global _cut_short
        parts.append(text)
        size += len(text)
        if size >= _JSON_PIECE:
            _cut_short = True  # until the last piece is out
            streams.stdout.write("".join(parts))
            parts.clear()
            size = 0

    write("{")
    for number, (key, value) in enumerate(document.items()):
        write(f"{', ' if number else ''}{_encode(key)}: ")
        if isinstance(value, Iterator):
            write("[")
            for index, element in enumerate(value):
                write(f"{', ' if index else ''}{_encode(element)}")
            write("]")
        else:
            write(_encode(value))
    streams.write_out("".join(parts) + "}\n")
    _cut_short = False


_JSON_PIECE = 64 * 1024
_cut_short = False


def document_cut_short() -> bool:
    """Whether a JSON document was stopped part-written (a Ctrl-C between its pieces): no
    error document may follow it on stdout, which would then hold two. Asked once."""
    global _cut_short
    cut, _cut_short = _cut_short, False
    return cut


_STYLE = {"copy": "green", "skip": "cyan", "hold": "yellow", "failed": "red"}


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


NOTE_AFTER = 60
"""A reason longer than this is printed once under the plan's table, numbered, and each
photo it is given for points to it: 150 photos held for one reason are one paragraph, not
150."""


def plan_table(plan: Plan) -> tuple[Table, dict[str, list[str]]]:
    """The plan as a table, and its long reasons (`NOTE_AFTER`) in the order of their
    numbers, each with the photos it is given for."""
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    table.add_column("source", overflow="fold")
    table.add_column("captured")
    table.add_column("time from")
    table.add_column("target", overflow="fold")
    table.add_column("action")
    notes: dict[str, list[str]] = {}
    numbers: dict[str, int] = {}
    for item in plan.items:
        reason = item.reason or ""
        if len(reason) > NOTE_AFTER:
            notes.setdefault(reason, []).append(item.source)
            note = f" (note {numbers.setdefault(reason, len(numbers) + 1)})"
        else:
            note = f" ({reason})" if reason else ""
        table.add_row(
            escape(item.source),
            item.captured_at.strftime("%Y-%m-%d %H:%M:%S"),
            item.time_source.removeprefix("exif:"),
            escape(item.target or "-"),
            f"[{_STYLE.get(item.action, 'white')}]{item.action}[/]{escape(note)}",
        )
    return table, notes


def print_notes(notes: dict[str, list[str]]) -> None:
    """The long reasons of `plan_table`, each once, with the files it is given for."""
    for number, (reason, sources) in enumerate(notes.items(), start=1):
        out.print(f"[bold]note {number}[/] ({_files(sources)}): {escape(reason)}")


def _files(sources: Sequence[str]) -> str:
    """How many files, and which: all of them when they are few, else the first and last."""
    which = ", ".join(sources) if len(sources) <= 3 else f"{sources[0]} … {sources[-1]}"
    return f"{len(sources)} file(s): {escape(which)}" if len(sources) > 1 else escape(which)


def held_lines(held: Sequence[tuple[str, str]]) -> list[tuple[str, int]]:
    """A line for each file held on the card, given as (source, reason), and how many files
    it tells of: the files a long reason (`NOTE_AFTER`) is given for share one line, where
    the first of them stands."""
    lines: list[tuple[str, list[str]]] = []
    shared: dict[str, list[str]] = {}
    for source, reason in held:
        if reason in shared:
            shared[reason].append(source)
            continue
        lines.append((reason, [source]))
        if len(reason) > NOTE_AFTER:
            shared[reason] = lines[-1][1]
    return [
        (f"[yellow]held on the card:[/] {_files(sources)} ({escape(reason)})", len(sources))
        for reason, sources in lines
    ]


def failed_lines(failed: Sequence[tuple[str, str]]) -> list[str]:
    """A line for each failed copy, given as (source, error); the files one error is given
    for (the same words, whatever file they name: a disk full mid-run fails every photo
    after it alike) share one line, with the first one's error."""
    by_error: dict[str, list[tuple[str, str]]] = {}
    for source, error in failed:
        kind = _ERROR_KIND.match(error)
        by_error.setdefault(kind.group(0) if kind else error, []).append((source, error))
    return [
        f"[red]failed:[/] {_files([s for s, _ in group])}: {escape(group[0][1])}"
        for group in by_error.values()
    ]


_ERROR_KIND = re.compile(r".+? (?:creating|writing|reading|opening) ")
"""The words of a copy's error before the file they name (`storage.transfer`)."""


def archive_line(archive: str, archive_from: str, new: bool) -> str:
    """Where the photos go; a new archive said so, since a mistyped folder would make one."""
    line = f"Archive: {escape(archive)} (from {escape(archive_from)})"
    return f"{line}: [yellow]a new archive[/], none there before" if new else line


def print_plan(plan: Plan, card: Card | None, archive_from: str) -> None:
    from ..prepare import new_archive

    where = f"card {card.label or card.mount}" if card else "folder"
    out.print(f"Source:  {escape(plan.source)} ({escape(where)})")
    out.print(archive_line(plan.archive, archive_from, new_archive(Path(plan.archive))))
    if plan.clock_offset:
        from .documents import offset_text

        out.print(f"Clock offset: {offset_text(plan.clock_offset)} added to camera times")
    if plan.items:
        table, notes = plan_table(plan)
        out.print(table)
        print_notes(notes)
    else:
        print_no_photos()
    print_slates(plan)
    print_patients(plan)
    print_warnings(plan.warnings)  # before the summary, which stays the last line
    counts = plan.counts
    out.print(
        f"{len(plan.items)} file(s): [green]{counts['copy']} to copy[/] "
        f"({human_bytes(plan.bytes_to_copy)}), [cyan]{counts['skip']} already archived[/], "
        f"[yellow]{counts['hold']} held on the card[/]"
    )


def print_no_photos() -> None:
    out.print(
        "[yellow]No photos found[/] (they are read from the source's DCIM/ folder, or from "
        "the folder itself when it has none): nothing to archive."
    )


def print_slates(plan: Plan) -> None:
    """Where slates were read: one line per slate, its ID and how many photos it took."""
    slates = [item for item in plan.items if item.role == "slate" and item.slate == item.source]
    for slate in slates:
        group = [
            item
            for item in plan.items
            if item.slate == slate.source and item.role == "photo" and not item.sidecar
        ]
        taken = sum(1 for item in group if item.action != "hold")
        if slate.patient_id:
            text = f"[bold]{escape(slate.patient_id)}[/]: {taken} photo(s)"
        else:
            text = f"[yellow]held[/] ({escape(slate.reason or '')})"
        held = len(group) - taken
        if slate.patient_id and held:
            text += f", [yellow]{held} held[/]"
        out.print(f"Slate {escape(slate.source)}: {text}")


def print_patients(plan: Plan, copied: Mapping[str, int] | None = None) -> None:
    """Each patient given new photos, with what the archive held for them before: a valid ID
    of another patient shows as a returning patient new to the archive, or the reverse.
    ``copied``: after an ingest, the photos each patient was given (those copied)."""
    tallies = [t for t in plan.patients if copied is None or copied.get(t.patient_id)]
    if not tallies:
        return
    out.print("Patients (check each is the patient photographed):")
    width = max(len(tally.patient_id) for tally in tallies)
    for tally in tallies:
        before = (
            f"{tally.archived_before} archived before"
            + (f", the last taken {tally.last_taken}" if tally.last_taken else "")
            if tally.archived_before
            else "[bold]new to this archive[/]"
        )
        done = (
            f"{tally.to_copy} photo(s) to copy"
            if copied is None
            else (f"{copied[tally.patient_id]} photo(s) copied")
        )
        out.print(f"  {escape(tally.patient_id):<{width}}  {done}; {before}")


def print_warnings(warnings: tuple[str, ...] | list[str], limit: int = 20) -> None:
    """At most ``limit`` warnings on stderr: in colour on a terminal, else as plain lines
    (a script's log), which also keeps Rich out of ``--json`` runs."""
    more = f"… and {len(warnings) - limit} more warnings" if len(warnings) > limit else ""
    if not sys.stderr.isatty():
        lines = [f"warning: {printable(warning)}\n" for warning in list(warnings)[:limit]]
        streams.write_err("".join(lines) + (f"{more}\n" if more else ""))
        return
    for warning in list(warnings)[:limit]:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if more:
        err.print(f"[yellow]{more}[/]")


def cards_table(cards: list[Card]) -> Table:
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("mount", "label", "file system", "size", "free", "photos", "removable"):
        table.add_column(column)
    for card in cards:
        table.add_row(
            escape(card.mount),
            escape(card.label or "-"),
            escape(card.fstype),
            human_bytes(card.total_bytes) if card.total_bytes else "-",
            human_bytes(card.free_bytes) if card.free_bytes is not None else "-",
            str(card.photos),
            "yes" if card.removable else "-",
        )
    return table


@contextmanager
def progress(enabled: bool, *, bytes_mode: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; None (quiet) otherwise."""
    if not enabled or not sys.stderr.isatty() or not err.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    if bytes_mode:
        columns += [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    else:
        columns += [MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=_err.get(), transient=True) as bar:
        yield bar
