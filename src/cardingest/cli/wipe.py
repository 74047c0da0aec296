"""CLI side of the wipe: confirmation, the decision table, and `ingest --wipe`."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..archive.audit import AuditLog
from ..errors import (
    EXIT_HELD,
    EXIT_OK,
    CardingestError,
    ConfirmationRequired,
    Interrupted,
    OutputError,
    UsageError,
    combined_exit,
)
from ..models import Card, Settings
from ..storage import ondisk
from ..text import printable
from ..wipe import (
    NOTHING_REMOVABLE,
    READ_ONLY,
    WipeItem,
    WipePlan,
    WipeResult,
    declined_result,
    dry_run_result,
    execute_wipe,
    has_dcim,
    keep_held,
    no_dcim,
    plan_wipe,
    refuse_read_only_card,
    require_dcim,
    unwritable_folder,
)
from . import documents, output, streams
from .interactive import ask_yes, stop_between_files
from .output import escape
from .session import open_archive

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..ingest import IngestResult  # the ingest's modules, only for `ingest --wipe`
    from ..prepare import Prepared

_STYLE = {"remove": "green", "keep": "yellow"}


def can_ask() -> bool:
    """Whether there is a terminal to ask for confirmation on."""
    return sys.stdin.isatty()


def require_disk_archive(archive: Path, backup: Path | None = None) -> None:
    """Refuse up front an archive (or a backup) in memory (tmpfs, ramfs), or with another
    file system mounted inside it: a restart loses the copies, or they may lie on the card.
    A backup in memory leaves the card's photos with one copy on a disk, not the two that
    ``--backup`` asks for."""
    from ..archive.backend import memory_fstype, require_one_file_system

    require_one_file_system(archive)
    for what, root in (("archive", archive), ("backup", backup)):
        kind = memory_fstype(root) if root is not None else None
        if kind is not None:
            raise UsageError(
                f"Not removing anything from the card: the {what} {root} is on {kind}, in "
                f"memory, and a restart loses every copy there. Copy to a disk, then wipe."
            )


def refuse_wipe_before_copy(root: Path) -> None:
    """`ingest --wipe` (its dry run too): refuse now, before anything is read or copied, what
    the wipe would refuse only after the copy: a folder that is not a card's root, a card
    mounted read-only (its write-protect switch)."""
    from ..storage.mounts import mounted_read_only

    if not has_dcim(root):
        raise UsageError(
            f"Not wiping: {root} {no_dcim(root)}, so it is not a camera card's root, and "
            "--wipe removes photos only from a card's DCIM/. Nothing was copied. To clear the "
            "card, give the card's root (the folder that holds DCIM); to copy from this "
            "folder, leave out --wipe"
        )
    if mounted_read_only(root):
        raise UsageError(
            f"Not wiping: the card at {root} {READ_ONLY}, so nothing could be removed from it. "
            "Nothing was copied. Slide the card's switch off and insert it again, or leave out "
            "--wipe"
        )


def refuse_unwritable_folders(prepared: Prepared) -> None:
    """The same once the plan is made, before its first copy: a card folder holding photos
    the wipe would remove (to copy, or archived already) that this account may not change,
    such as a card mounted for another account."""
    wiped = (item.source for item in prepared.plan.items if item.action != "hold")
    folder = unwritable_folder(prepared.root, wiped)
    if folder is not None:
        raise UsageError(
            f"Not wiping: this account may not remove files in {folder} (the card is "
            "mounted for another account, or the folder is read-only). Nothing was copied. "
            "Run as the account the card is mounted for, or leave out --wipe"
        )


def require_backup_folder(backup: Path | None) -> None:
    """A backup given to the wipe (``--backup``, the config) that is not there is a typo or
    a disk not mounted: said, rather than a wipe judged by copies recorded elsewhere."""
    from ..storage.identity import nearest_existing

    if backup is not None and not ondisk.is_dir(backup):
        above = nearest_existing(backup)
        what = (
            "is not a folder"
            if os.path.lexists(backup)
            else f"is not there ({above} is a file)"
            if not ondisk.is_dir(above)
            else "is not there (is its disk mounted, and is --backup, or backup in the config, "
            "right?)"
        )
        raise UsageError(
            f"The backup folder {printable(str(backup))} {what}: the wipe asks for each "
            "photo's backup copy. Nothing was removed."
        )


def require_confirmation(yes: bool) -> None:
    """Refuse up front, before anything is read or copied, when nobody can say yes."""
    if not yes and not can_ask():
        raise ConfirmationRequired(
            "Not removing anything from the card: there is no terminal to ask for "
            "confirmation. Add --yes to remove the proven-archived photos from a script."
        )


def wipe_table(items: list[WipeItem]) -> Table:
    from rich.table import Table  # lazily: --help does not pay for it

    table = Table(header_style="bold")
    table.add_column("card file", overflow="fold")
    table.add_column("action")
    table.add_column("why", overflow="fold")
    for item in items:
        style = _STYLE.get(item.action, "white")
        table.add_row(escape(item.source), f"[{style}]{item.action}[/]", escape(item.reason))
    return table


def exit_code(result: WipeResult) -> int:
    return EXIT_HELD if result.kept else EXIT_OK


def _show_plan(plan: WipePlan, archive_from: str, console: Console) -> None:
    where = f"card {plan.card.label or plan.card.mount}" if plan.card else "folder"
    console.print(f"Source:  {escape(plan.source)} ({escape(where)})")
    console.print(f"Archive: {escape(plan.archive)} (from {escape(archive_from)})")
    if plan.items:
        console.print(wipe_table(list(plan.items)))
    console.print(
        f"{len(plan.items)} photo, video or sound file(s): "
        f"[green]{len(plan.to_remove)} proven archived, to remove[/], "
        f"[yellow]{len(plan.to_keep)} to keep[/]"
    )


def _check(root: Path, card: Card | None, archive: Path, backup: Path | None) -> WipePlan:
    with output.progress(True, bytes_mode=False) as bar:
        task = bar.add_task("Re-reading card and archive", total=None) if bar else None

        def tick(_: str) -> None:
            if bar is not None and task is not None:
                bar.advance(task)

        return plan_wipe(root, card, archive, backup=backup, on_file=tick)


def _confirmed(plan: WipePlan, yes: bool) -> bool:
    if yes or not plan.to_remove:
        return True
    try:
        return ask_yes(
            f"Remove {len(plan.to_remove)} file(s) from {printable(plan.source)}? "
            "(deleted so the card can be reused; not a secure erase)"
        )
    except EOFError:  # end of input at the question, as Ctrl-C there
        raise KeyboardInterrupt from None


@contextlib.contextmanager
def _nothing_removed_yet() -> Iterator[None]:
    """Ctrl-C, or standard output failing, before the first removal: say that the card is
    as it was."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(
            "Interrupted before anything was removed: the card is as it was. Run the same "
            "command again to finish."
        ) from None
    except OutputError as exc:
        raise OutputError(f"{exc.message}: nothing was removed from the card") from None


def wipe_report_lost(exc: OutputError, result: WipeResult) -> OutputError:
    """Standard output failed as the result of a wipe was reported: what the wipe did."""
    if result.dry_run or result.declined or not result.removed:
        return OutputError(f"{exc.message}: nothing was removed from the card")
    return OutputError(
        f"{exc.message}: the wipe removed {len(result.removed)} file(s) from the card, each "
        "recorded in the archive's audit log"
    )


def run_wipe(
    root: Path,
    card: Card | None,
    settings: Settings,
    *,
    yes: bool,
    dry_run: bool,
    as_json: bool,
    held: Mapping[str, str] | None = None,
) -> WipeResult:
    """Check every photo, show the decisions, confirm, remove; the caller renders the result.
    ``held``: card paths an ingest just held, with why (kept whatever the gate finds)."""
    from ..prepare import check_separate, unrecorded_warnings

    archive = settings.archive
    console = output.err if as_json else output.out
    require_dcim(root)
    check_separate(root, settings)  # an archive on the card (a bind mount of a folder on it)
    require_disk_archive(archive, settings.backup)
    require_backup_folder(settings.backup)
    if dry_run:
        with _nothing_removed_yet():
            plan = keep_held(_check(root, card, archive, settings.backup), held or {})
        from ..storage.mounts import mounted_read_only

        said = unrecorded_warnings(archive)
        if mounted_read_only(root):
            refused = "the wipe itself would refuse, and remove nothing"
            said.append(f"the card at {root} {READ_ONLY}: {refused}")
        plan = replace(plan, warnings=(*plan.warnings, *said))
        output.print_warnings(plan.warnings)
        if not as_json:
            _show_plan(plan, settings.archive_from, console)
        return dry_run_result(plan)
    require_confirmation(yes)
    refuse_read_only_card(root)
    with open_archive(archive, "wipe", consequence=NOTHING_REMOVABLE):
        AuditLog(archive).require_appendable()  # a torn log: refuse before re-reading the card
        with _nothing_removed_yet():
            plan = keep_held(_check(root, card, archive, settings.backup), held or {})
            plan = replace(plan, warnings=(*plan.warnings, *unrecorded_warnings(archive)))
            output.print_warnings(plan.warnings)
            if not as_json or not yes:
                _show_plan(plan, settings.archive_from, console)
            if not _confirmed(plan, yes):
                return declined_result(plan)  # print_wipe_result says nothing was removed
            streams.require_stdout()  # the caller must be able to learn what is removed
        with stop_between_files(notice=None) as stop:  # a removal and its audit event
            return execute_wipe(
                plan, operator=settings.operator, stopped=stop.is_set, read_again=not yes
            )


def print_wipe_result(result: WipeResult) -> None:
    if result.dry_run:
        output.out.print(
            f"Dry run: {len(result.removed)} file(s) would be removed, "
            f"{len(result.kept)} kept. Nothing was changed."
        )
        return
    if result.declined:
        output.out.print(f"Nothing was removed; {len(result.kept)} file(s) stay on the card.")
        return
    late = [
        item
        for item, planned in zip(result.items, result.plan.items, strict=True)
        if item.action != planned.action
    ]
    for item in late:
        output.out.print(f"[yellow]kept:[/] {escape(item.source)} ({escape(item.reason)})")
    output.out.print(
        f"[green]Removed {len(result.removed)} file(s)[/] from the card; "
        f"[yellow]kept {len(result.kept)}[/]."
    )


def wipe_after_ingest(
    result: IngestResult,
    root: Path,
    card: Card | None,
    settings: Settings,
    *,
    code: int,
    yes: bool,
    document: dict[str, Any] | None,
) -> int:
    """`ingest --wipe`: wipe only after an ingest without failures; returns the exit code."""
    failed = result.count("failed")
    if failed or result.interrupted:
        why = f"{failed} file(s) failed (see above)" if failed else "the ingest was stopped"
        message = f"Not wiping: {why}; the card was left as it is."
        output.err.print(f"[red]{escape(message)}[/]")
        if document is not None:
            document["wipe"] = documents.wipe_skipped(message)
        return code
    held = {
        o.item.source: o.reason or o.item.reason or ""
        for o in result.outcomes
        if o.action == "hold"
    }
    try:
        wiped = run_wipe(
            root, card, settings, yes=yes, dry_run=False, as_json=document is not None, held=held
        )
    except OutputError:
        raise  # no document can reach the caller: the ingest says what was done
    except CardingestError as exc:
        when = "to finish" if isinstance(exc, Interrupted) else "once this is put right"
        exc.stopped_midway(
            f"The ingest copied and verified {result.counts['copied']} photo(s) into the "
            "archive before the wipe; what the wipe did not remove is still on the card: run "
            f"`cardingest wipe` on it {when}."
        )
        if document is None:
            raise
        output.err.print(f"[red]error:[/] {escape(exc.message)}")
        document["wipe"] = documents.wipe_error(exc)
        return exc.exit_code
    if document is not None:
        document["wipe"] = documents.wipe(wiped)
    else:
        try:
            print_wipe_result(wiped)
        except OutputError as exc:
            raise wipe_report_lost(exc, wiped) from None
    return combined_exit(code, exit_code(wiped))
