"""CLI side of `verify` and `audit`: progress, tables, documents and exit codes."""

from __future__ import annotations

import contextlib
import shlex
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..archive.audit import AuditCheck, AuditLog
from ..archive.auditrepair import LeftForAPerson, TornTail, repair_log
from ..archive.backend import catalogue_path, check_not_migrated
from ..archive.catalogue import require_catalogue
from ..archive.journal import pending_warnings
from ..archive.manifest import MANIFEST_DIR
from ..archive.readonly import reading, writable
from ..archive.verify import (
    ProblemKind,
    VerifyReport,
    record_verify,
    total_bytes,
    unwritten_manifests,
    verify_archive,
)
from ..archive.verify import fix_manifests as rewrite_manifests
from ..archive.verify import fix_permissions as tighten_exposed
from ..archive.verify import fix_sidecars as rewrite_sidecars
from ..errors import (
    EXIT_FAILURE,
    EXIT_OK,
    ArchiveError,
    AuditError,
    InsufficientSpaceError,
    NoArchiveError,
)
from ..ids import validate_id
from ..models import METADIR, Settings
from ..move import pending_move_warnings
from ..storage import ondisk
from . import documents, output
from .common import say_error
from .output import escape
from .session import open_archive

if TYPE_CHECKING:
    from rich.table import Table


def _patient(raw: str | None, settings: Settings) -> str | None:
    if raw is None:
        return None
    return validate_id(raw, settings.id_scheme, pattern=settings.id_pattern, allow_test_ids=True)


def _measure(archive: Path, patient_id: str | None) -> VerifyReport:
    total = total_bytes(archive, patient_id)
    with output.progress(True, bytes_mode=True) as bar:
        task = bar.add_task("Verifying", total=total) if bar else None
        lock = threading.Lock()

        def on_bytes(count: int) -> None:
            if bar is not None and task is not None:
                with lock:
                    bar.advance(task, count)

        return verify_archive(archive, patient_id=patient_id, on_bytes=on_bytes)


def problems_table(report: VerifyReport) -> Table:
    from rich.table import Table  # lazily: --help does not pay for it

    table = Table(header_style="bold")
    for column in ("problem", "copy", "path", "detail"):
        table.add_column(column, overflow="fold")
    for problem in report.problems:
        table.add_row(
            f"[red]{problem.kind}[/]",
            problem.where,
            escape(problem.path),
            escape(problem.detail or ""),
        )
    return table


def _modeless_places(report: VerifyReport) -> str | None:
    """The first exposed copy that lies on a file system without Unix modes, in words."""
    from ..archive.backend import modeless_fstype

    for problem in report.problems:
        if problem.kind != "exposed":
            continue
        path = Path(problem.path)
        place = path if path.is_absolute() else Path(report.archive, path)
        fstype = modeless_fstype(place)
        if fstype:
            return f"{escape(str(place))}'s drive ({fstype})"
    return None


def print_report(
    report: VerifyReport,
    *,
    fixing: bool = False,
    unlocked: str | None = None,
    manifests_written: bool = False,
) -> None:
    """``unlocked``: why the archive could not be written (read-only, a full disk), so
    nothing found was noted in its catalogue. ``manifests_written``: `--fix-manifests` was
    given, so a manifest still wrong is one it could not write (said as a warning)."""
    scope = f" of {report.patient_id}" if report.patient_id else ""
    copies = "copy" if report.copies == 1 else "copies"
    checked = (
        f"Checked {report.copies} {copies} of {report.records} catalogued file(s){scope} "
        f"in {escape(report.archive)}"
    )
    if report.ok:
        output.out.print(f"{checked}: [green]all match[/].")
        return
    output.out.print(problems_table(report))
    counts = report.counts
    output.out.print(
        f"{checked}: [red]{len(report.problems)} problem(s)[/]: {counts['missing']} missing, "
        f"{counts['changed']} changed, {counts['unreadable']} unreadable, "
        f"{counts['unexpected']} unexpected, {counts['exposed']} open to other accounts or groups, "
        f"{counts['keywords']} keywords sidecar(s) not as catalogued"
        + (f", {counts['invalid']} catalogue record(s) invalid" if counts["invalid"] else "")
        + (
            f", {counts['manifest']:,} manifest line(s) not as catalogued"
            if counts["manifest"]
            else ""
        )
        + "."
    )
    if counts["invalid"]:
        output.out.print(
            "A catalogue record listed as invalid holds a value cardingest never writes (edited "
            "by hand, or damaged): its copies cannot be checked, and commands that meet it stop. "
            "Put the value back from a backup of the catalogue, or ask whoever looks after the "
            "archive."
        )
    if (counts["missing"] or counts["changed"]) and unlocked is not None:
        output.out.print(
            f"This archive {unlocked}, so what was found was not noted in its catalogue. An "
            "ingest of the card puts back a missing copy, but a changed one only once verify "
            "has noted it: run verify again once the archive can be written, then ingest the "
            "card again."
        )
    elif counts["missing"] or counts["changed"]:
        output.out.print(
            "A changed copy, or a missing one whose folder is there, is noted in the "
            "catalogue: while its card still holds the photo, ingesting that card again puts "
            "the copy back (the bad file is kept in .cardingest/damaged/)."
        )
    if counts["exposed"] and not fixing:  # --fix-permissions given: the warning says why
        output.out.print(
            "Other accounts on this machine, or a group other than the archive_group, can read "
            "(or change) what is listed as exposed: `cardingest verify --fix-permissions` "
            "takes their access away"
            + (
                f" where the file system keeps Unix modes; on {modeless} (exFAT, FAT) no chmod "
                "can: its mount options decide (uid=, gid=, umask=077)."
                if (modeless := _modeless_places(report))
                else "."
            )
        )
    if counts["keywords"]:
        output.out.print(
            "A keywords sidecar (what digiKam and exiftool read) disagrees with the catalogue: "
            "`cardingest verify --fix-sidecars` writes it again from the catalogue."
        )
    if counts["manifest"] and not manifests_written:
        output.out.print(
            "A coreutils manifest (.cardingest/manifests/, what `sha256sum -c` checks the "
            "archive with, without cardingest) disagrees with the catalogue, which every copy "
            "was just checked against: `cardingest verify --fix-manifests` writes it again "
            "from the catalogue."
        )


def _not_written(manifest: Path) -> str:
    """What to do about a manifest `--fix-manifests` found wrong and could not write."""
    return (
        f"{manifest} disagrees with the catalogue, which holds no copy of that ingest in its "
        "folder, so --fix-manifests wrote nothing there (copied in by hand, or by a sync of "
        "two backups?). `sha256sum -c` fails on it while it is there: look at it, and remove "
        "it if it is such a copy."
    )


def absent_backup(root: str) -> str:
    """What to do about a backup folder the catalogue names that is not there."""
    return (
        f"The backup folder {root} is not there, so its copies are listed as missing: connect "
        "its disk (or mount it again). If it is now at another folder, `cardingest catalogue "
        f"backup-moved {shlex.quote(root)} NEW_FOLDER` points the catalogue there once every "
        "copy there matches."
    )


def _settled(report: VerifyReport, kind: ProblemKind, paths: list[str]) -> None:
    """Take the problems of ``kind`` at ``paths``, put right by a ``--fix-…``, off the report."""
    fixed = set(paths)
    report.problems = [p for p in report.problems if not (p.kind == kind and p.path in fixed)]


def run_verify(
    settings: Settings,
    raw_id: str | None,
    as_json: bool,
    *,
    fix_permissions: bool = False,
    fix_sidecars: bool = False,
    fix_manifests: bool = False,
) -> int:
    archive = settings.archive
    patient_id = _patient(raw_id, settings)
    tightened: list[str] | None = None
    refused: list[str] = []
    rewritten: list[str] | None = None
    manifests: list[str] | None = None
    unlocked = None if writable(archive) else "is read-only"  # a write-protected drive
    unrecorded: AuditError | None = None
    fixing = fix_permissions or fix_sidecars or fix_manifests
    with contextlib.ExitStack() as held:
        if unlocked is None:
            try:
                held.enter_context(open_archive(archive, "verify"))
            except InsufficientSpaceError:  # when a check is needed most
                unlocked = "is on a full disk (its lock file cannot be written)"
        if unlocked is not None:
            require_catalogue(archive)
            if fixing:
                raise ArchiveError(f"{archive} {unlocked}: nothing in it can be changed")
            report = _measure(archive, patient_id)
            pending = pending_warnings(archive) + pending_move_warnings(archive)
            output.err.print(
                f"{escape(str(archive))} {unlocked}: checked without the archive lock, and "
                "this verify is not recorded in its audit log."
            )
        else:
            try:
                AuditLog(archive).require_appendable()
            except AuditError as exc:
                if fixing:  # each change is logged, or not made
                    raise
                unrecorded = exc  # a log edited by hand: the photos are checked all the same
            report = _measure(archive, patient_id)
            # Under the lock: a journal seen is a dead run's.
            pending = pending_warnings(archive) + pending_move_warnings(archive)
            if fix_permissions:
                try:
                    tightened, refused = tighten_exposed(archive, report, settings.operator)
                except OSError as exc:
                    raise ArchiveError(f"Cannot change permissions: {exc}") from None
                _settled(report, "exposed", tightened)
            if fix_sidecars:
                try:
                    rewritten = rewrite_sidecars(archive, report, settings.operator)
                except OSError as exc:
                    raise ArchiveError(f"Cannot write a keywords sidecar: {exc}") from None
                _settled(report, "keywords", rewritten)
            if fix_manifests:
                try:
                    manifests = rewrite_manifests(archive, report, settings.operator)
                except (OSError, ValueError) as exc:
                    raise ArchiveError(f"Cannot write a manifest: {exc}") from None
                pending += [_not_written(path) for path in unwritten_manifests(report)]
            try:
                if unrecorded is None:
                    record_verify(archive, report, settings.operator)
            except AuditError as exc:  # a full disk, when a check is needed most: say both
                unrecorded = exc
    # A dead ingest's journaled copies are "unexpected" until the next ingest records them.
    pending += [absent_backup(root) for root in report.absent_backups]
    if refused:
        pending.append(
            f"{len(refused)} file(s) or folder(s) could not be changed, so they stay open: "
            + "; ".join(refused)
            + ". Run verify --fix-permissions as their owner or root."
        )
    unkept = len(report.paths("exposed")) - len(refused)
    if fix_permissions and unkept > 0:
        pending.append(
            f"{unkept} file(s) and folder(s) are still open to other "
            "accounts: their file system did not keep the change (exFAT, FAT and some network "
            "shares keep no Unix permissions). Keep the archive on a file system that does "
            "(ext4, XFS, APFS), or mount this one so that only this account can use it (uid= "
            "and umask=077)."
        )
    if unrecorded is not None:
        pending.append(
            f"This verify is not recorded in the audit log: {unrecorded.message}"
            + "".join(f" {detail}" for detail in unrecorded.details)
        )
    output.print_warnings(pending)
    if as_json:
        output.emit_json(documents.verify(report, tightened, pending, rewritten, manifests))
    else:
        if tightened:
            output.out.print(
                f"Took other accounts' access away from {len(tightened)} file(s) and folder(s)."
            )
        if rewritten:
            output.out.print(
                f"Wrote {len(rewritten)} keywords sidecar(s) again from the catalogue."
            )
        for manifest in manifests or []:
            output.out.print(f"Wrote {escape(manifest)} again from the catalogue.")
        print_report(
            report, fixing=fix_permissions, unlocked=unlocked, manifests_written=fix_manifests
        )
    return EXIT_OK if report.ok and unrecorded is None else EXIT_FAILURE


def _repair(settings: Settings, as_json: bool) -> tuple[TornTail | None, int | None, bool]:
    """What ``audit --repair`` mended: the torn tail set aside, the lines the head was
    written again from, and whether the log was left for a person (said on stderr: the
    check that follows reports it, its line, and with ``--json`` the usual document)."""
    with open_archive(settings.archive, "audit --repair", creates=True):
        try:
            head, torn = repair_log(settings.archive, operator=settings.operator)
        except LeftForAPerson as exc:
            say_error(exc)
            return None, None, True
    lines = head[0] if head is not None else None
    if as_json:
        return torn, lines, False
    if head is not None:
        was = f"audit.head, {head[1]} lines behind," if head[1] else "the missing audit.head"
        output.out.print(
            f"Wrote {was} again from the log's {head[0]} line(s), which check out; recorded "
            "in an audit-repair event."
        )
    if torn is not None:
        output.out.print(
            f"Set aside the torn last line {torn.line} ({torn.size} bytes, sha256 "
            f"{torn.sha256}) as {escape(torn.set_aside)}; recorded in an audit-repair event."
        )
    return torn, lines, False


NO_EVENT = ("running", "crashed")
"""An ingest's status when it wrote no audit event: stopped (kill -9, a full disk) before
its end, and closed by the next run's recovery, or not yet."""


def events_lost(archive: Path, where: str, state: str = "is empty") -> str | None:
    """Why an empty or missing log (its lines removed, and its head with them) is no intact
    chain, when the catalogue records ingests that ended: each wrote an event. One stopped
    before its end (`NO_EVENT`) wrote none, and says nothing of the log."""
    from ..prepare import has_catalogue

    if not has_catalogue(archive):
        return None
    with reading(archive) as catalogue:
        ended = sum(i.get("status") not in NO_EVENT for i in catalogue.ingests())
    if not ended:
        return None
    return (
        f"The audit log {where} {state}, though the catalogue records {ended} ingest(s) "
        "that ended, each of which wrote an event: its lines were removed (or never "
        "written, if the disk was full or the database lost as such a run ended)"
    )


def run_audit(settings: Settings, as_json: bool, repair: bool = False) -> int:
    log = AuditLog(settings.archive)
    if not ondisk.is_dir(settings.archive):
        raise NoArchiveError(f"No archive at {settings.archive}. Is --archive right?")
    if log.in_database:
        require_catalogue(settings.archive)
    else:
        check_not_migrated(settings.archive)
        if not ondisk.is_dir(settings.archive / METADIR):
            raise NoArchiveError(
                f"No archive at {settings.archive}: it has no {METADIR} folder, so no audit "
                "log to check. Is --archive right?"
            )
        catalogued = ondisk.exists(catalogue_path(settings.archive))
        if not ondisk.exists(log.path) and catalogued:
            lost = events_lost(settings.archive, str(log.path), "is missing")
            if lost is not None:  # nothing a repair could write again
                return _report(log, AuditCheck(False, 0, None, lost), as_json, repair)
        if not catalogued and ondisk.is_dir(settings.archive / METADIR / MANIFEST_DIR):
            raise NoArchiveError(
                f"No archive at {settings.archive}: it has manifests but no catalogue, as a "
                "backup folder has. Give the archive with --archive"
            )
    mended = repair and not log.in_database
    torn, head, refused = _repair(settings, as_json) if mended else (None, None, False)
    check = log.check()
    if check.ok and not check.events:
        lost = events_lost(settings.archive, log.where)
        check = check if lost is None else AuditCheck(False, 0, None, lost)
    if mended and torn is None and head is None and not refused and not as_json:
        output.err.print(
            "The audit log ends in a complete line: nothing to repair."
            if check.ok
            else "Not repaired: an edited or removed line needs a person, not a repair."
        )
    return _report(log, check, as_json, repair, torn=torn, head=head)


def _report(
    log: AuditLog,
    check: AuditCheck,
    as_json: bool,
    repair: bool,
    *,
    torn: TornTail | None = None,
    head: int | None = None,
) -> int:
    """The check's finding, in words or as the JSON document (a trial: a log lost whole was
    an error document, with no ``ok`` for a script to read); exit 1 where it fails."""
    if as_json:
        output.emit_json(documents.audit(log.where, check, repair=repair, torn=torn, head=head))
    elif check.ok:
        output.out.print(
            f"Audit log {escape(log.where)}: {check.events} event(s), [green]chain intact[/]."
        )
    else:
        where = (
            f" at line {check.bad_line}"
            if check.bad_line is not None
            else ""
            if not check.events
            else " at its head file"
        )
        output.out.print(
            f"[red]Audit log {escape(log.where)} does not check out{where}:[/] "
            f"{escape(check.problem or '')}"
        )
    return EXIT_OK if check.ok else EXIT_FAILURE
