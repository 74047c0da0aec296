"""The questions ingest asks a person at a terminal: the patient ID of each group of photos
(when no map or ID was given), whether to go ahead with the plan, and Ctrl-C between files."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from ..errors import EXIT_HELD, Interrupted, UsageError
from ..ids import validate_id
from ..models import IdMap, Settings
from ..text import printable
from . import output
from .output import escape

if TYPE_CHECKING:
    from ..plan.assign import Group
    from ..prepare import Prepared


def can_assign(map_file: Path | None, patient_id: str | None, as_json: bool) -> bool:
    """Interactive assignment: no map and no ID, a person at a terminal, no --json."""
    return map_file is None and patient_id is None and not as_json and sys.stdin.isatty()


def _ask(prompt: str) -> str:
    try:
        return output.err.input(prompt)
    except EOFError:
        raise KeyboardInterrupt from None


def ask_yes(question: str) -> bool:
    """``question [y/N]:`` on stderr; yes only for y or yes. Not Click's confirm, which
    writes its prompt's last space to stdout (a trial found it before a ``--json``
    document). End of input raises EOFError."""
    while True:
        answer = output.err.input(f"{question} [y/N]: ", markup=False, emoji=False).strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            return False
        output.err.print("Answer y or n.")


def ask_idmap(
    root: Path,
    settings: Settings,
    show_groups: Callable[[Path, Sequence[Group], timedelta], None] | None = None,
    clock_offset: timedelta = timedelta(0),
) -> IdMap:
    """Show the card's photos grouped by time gaps and ask for each group's patient ID.

    ``show_groups`` (the contact sheet of the groups) runs before the first question. A
    camera clock that looks wrong once ``clock_offset`` is added is said before it too.
    """
    from ..plan.assign import as_shown, ask_ids, build_idmap, make_groups
    from ..prepare import clock_warning, fingerprinted, scan_source
    from .documents import offset_text

    files = fingerprinted(root, scan_source(root))
    groups = make_groups(files, timedelta(minutes=settings.gap_minutes), clock_offset)
    if not groups:
        raise UsageError(f"No photos found in {root}")
    output.err.print(
        f"{sum(len(g.files) for g in groups)} photo(s) in {len(groups)} group(s) "
        f"(a new group after a gap of more than {settings.gap_minutes:g} minutes)"
        + (
            f"; times are the camera's with {offset_text(clock_offset)} added."
            if clock_offset
            else "."
        )
    )
    odd_clock = clock_warning(files, clock_offset, datetime.now())
    if odd_clock is not None:  # before the questions, not with the plan after them
        output.print_warnings([odd_clock])
    if show_groups is not None:
        show_groups(root, groups, clock_offset)

    def check(raw: str) -> str:
        return validate_id(
            raw,
            settings.id_scheme,
            pattern=settings.id_pattern,
            allow_test_ids=settings.allow_test_ids,
        )

    answers = ask_ids(
        groups,
        _ask,
        lambda text: output.err.print(escape(text)),
        check,
    )
    idmap, unnamed = build_idmap(groups, answers)
    idmap = replace(idmap, asked=as_shown(files))
    for path in unnamed:
        output.err.print(
            f"[yellow]warning:[/] {escape(path)} cannot be named in an ID map (an odd name, "
            "or its folder's name is another folder's too); it stays on the card: ingest it "
            "with --id, or with a map's from and to times"
        )
    return idmap


def confirm_plan(prepared: Prepared, archive_from: str) -> None:
    """Show the plan and ask to go ahead; a no ends the command with nothing copied."""
    output.print_plan(prepared.plan, prepared.card, archive_from)
    copies = prepared.plan.count("copy")
    if not copies:
        return
    question = (
        f"Copy {copies} file(s) ({output.human_bytes(prepared.plan.bytes_to_copy)}) "
        f"into {printable(prepared.plan.archive)}?"
    )
    try:
        agreed = ask_yes(question)
    except EOFError:
        agreed = False
    except KeyboardInterrupt:  # a stop, as everywhere else: 130, not a no's 3
        raise Interrupted(
            "Interrupted: nothing was copied; the photos are still on the card."
        ) from None
    if not agreed:  # the photos stay on the card, as when the wipe's question gets a no
        output.err.print("Nothing was copied; the photos are still on the card.")
        raise typer.Exit(EXIT_HELD)


@contextmanager
def stop_between_files(
    notice: str | None = "Stopping after the photos being copied now",
) -> Iterator[threading.Event]:
    """The first Ctrl-C lets the files under way finish (and says ``notice``), the second
    stops now. A SIGINT ignored when the command began (a background job's) stays ignored;
    SIGTERM and SIGHUP, routed here (`signals.as_ctrl_c`), still stop."""
    stop = threading.Event()
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if ignored and signum == signal.SIGINT:
            return
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if notice is not None:
            output.err.print(f"[yellow]{notice}[/] (Ctrl-C again to stop at once)")

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
