"""`cardingest audit --repair`: set aside a torn last line of the audit log, and write a
missing head again.

A power cut (or a full disk) during an append can leave the log ending in part of a line.
Every writer then refuses to chain onto it, so ingest, wipe, verify and tag stop for good.
The repair keeps the evidence and the chain: the torn bytes are moved to
``.cardingest/torn/`` (a file named by their digest), the log is cut back to its last complete
line, and a ``audit-repair`` event records the torn part's sha256 and length. It repairs only
a torn tail: if the complete lines before it do not check out (an edit, a removed line), it
changes nothing and says so, because that is not what a power cut does.

A missing ``audit.head`` (deleted by a tidy-up or a restore that skipped it) also stops every
writer. Where every line checks out, the repair writes it again from the log and records
that it did (``head_rebuilt``): lines cut from the end before then can no longer be seen, so
the event says when the head was rebuilt, for whoever reads the log later.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import AuditError
from ..storage import modes, ondisk
from ..storage.durable import atomic_write_bytes, fsync_dir, sync_file, write_new
from ..storage.positional import read_range
from .audit import AuditLog, _Head, _locked, _sha

TORN_FOLDER = "torn"


class LeftForAPerson(AuditError):
    """The log does not check out before what a repair may mend (an edited or removed line):
    nothing was changed, and `AuditLog.check` names the line."""


@dataclass(frozen=True)
class TornTail:
    """What the repair set aside (``None`` fields when there was nothing to repair)."""

    line: int
    size: int
    sha256: str
    set_aside: str
    """Path of the kept bytes, relative to the archive."""


def repair_torn_tail(archive: Path, *, operator: str) -> TornTail | None:
    """Set aside a torn last line; None when the log ends in a complete line.

    The caller holds the archive lock. Raises AuditError when the log is missing, cannot be
    written, or is damaged in a way a torn append does not explain.
    """
    log = AuditLog(archive)
    try:
        fd = os.open(log.path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise AuditError(f"There is no audit log at {log.path}") from None
    except OSError as exc:
        raise AuditError(f"Cannot open {log.path}: {exc.strerror or exc}") from exc
    try:
        with _locked(fd):
            size = os.fstat(fd).st_size
            data = read_range(fd, 0, size)
            cut = data.rfind(b"\n") + 1
            torn = data[cut:]
            if not torn:
                return None
            line = data.count(b"\n") + 1
            # In memory: a copy in a temporary folder put patients' IDs there, and its
            # refusal named the copy's head where the log's own is meant.
            before = log.check_lines(data[:cut].splitlines(keepends=True))
            if not before.ok:
                where = f"line {before.bad_line}" if before.bad_line else "its head file"
                raise LeftForAPerson(
                    f"Not repairing {log.path}: besides the torn last line (line {line}), it "
                    f"does not check out at {where}: {before.problem}",
                    details=["A power cut only tears the last line; this needs a person."],
                )
            digest = hashlib.sha256(torn).hexdigest()
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            folder = log.folder / TORN_FOLDER
            for made in modes.make_dirs(folder):
                fsync_dir(made.parent)
            aside = folder / f"audit-line{line}-{stamp}-{digest[:16]}.bin"
            write_new(folder, aside.name, torn)
            os.ftruncate(fd, cut)
            sync_file(fd)
    except OSError as exc:
        raise AuditError(f"Cannot repair {log.path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    relative = aside.relative_to(archive).as_posix()
    log.append(
        "audit-repair",
        operator=operator,
        torn_line=line,
        torn_bytes=len(torn),
        torn_sha256=digest,
        set_aside=relative,
    )
    return TornTail(line=line, size=len(torn), sha256=digest, set_aside=relative)


def rebuild_missing_head(archive: Path, *, operator: str) -> tuple[int, int] | None:
    """Write ``audit.head`` again from the log's complete lines when they check out and it is
    missing, or has fallen behind them (it names a line of the chain, and lines complete
    and chained follow it: appends whose heads could not be written, as a full disk did
    before 2026-12); the number of lines and how many the head was behind (0: missing),
    or None when there was nothing to rebuild. A head ahead of the log, or naming a line
    the log does not have, shows lines cut or changed: left for a person. The caller holds
    the archive lock, and records the rebuild (`record_rebuilt_head`) once the log can be
    appended to (after `repair_torn_tail`)."""
    log = AuditLog(archive)
    if log.in_database:
        return None
    head = log._read_head() if ondisk.exists(log.head_path) else None
    try:
        fd = os.open(log.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"Cannot open {log.path}: {exc.strerror or exc}") from exc
    try:
        with _locked(fd):
            data = read_range(fd, 0, os.fstat(fd).st_size)
            lines = data[: data.rfind(b"\n") + 1].splitlines(keepends=True)
            count, problem, last, _prev = log._walk(lines)
            if head is not None and not _behind(head, lines, count):
                return None
            if problem is not None:
                raise LeftForAPerson(
                    f"Not writing {log.head_path.name} again: {log.path} does not check out "
                    f"at line {problem[0]}: {problem[1]}",
                    details=["An edited or removed line needs a person, not a repair."],
                )
            if count == 0:
                return None
            log._write_head(count, last)
    except OSError as exc:
        raise AuditError(f"Cannot repair {log.path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return count, 0 if head is None else count - head.lines


def _behind(head: _Head, lines: list[bytes], count: int) -> bool:
    """Whether the head names a line of the log more than one before its end (one behind is
    what a crash between a line and its head leaves, and the next append accepts)."""
    if not 0 < head.lines < count - 1:
        return False
    return _sha(lines[head.lines - 1].removesuffix(b"\n")) == head.last


def repair_log(archive: Path, *, operator: str) -> tuple[tuple[int, int] | None, TornTail | None]:
    """``audit --repair``: `rebuild_missing_head`, then `repair_torn_tail`, then the
    rebuild's record (`record_rebuilt_head`), which can only be appended once the tail is
    mended. A head rebuilt whose tail then could not be mended is put back as it was (or
    removed, where there was none), so no head is ever written again without its event.
    The caller holds the archive lock."""
    log = AuditLog(archive)
    try:
        before: bytes | None = log.head_path.read_bytes()
    except FileNotFoundError:
        before = None
    except OSError as exc:
        raise AuditError(f"Cannot read {log.head_path}: {exc.strerror or exc}") from exc
    head = rebuild_missing_head(archive, operator=operator)
    try:
        torn = repair_torn_tail(archive, operator=operator)
    except BaseException:
        if head is not None:
            with contextlib.suppress(OSError):  # the error to tell is the tail's
                if before is None:
                    log.head_path.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(log.head_path, before)
        raise
    if head is not None:
        record_rebuilt_head(archive, *head, operator=operator)
    return head, torn


def record_rebuilt_head(archive: Path, lines: int, behind: int = 0, *, operator: str) -> None:
    note = (
        f"audit.head had fallen {behind} lines behind the log, whose lines check out (appends "
        "whose head could not be written): written again from the log"
        if behind
        else "audit.head was missing and was written again from the log: lines cut from "
        "the end before this event could no longer be seen"
    )
    AuditLog(archive).append(
        "audit-repair", operator=operator, head_rebuilt=True, lines=lines, note=note
    )
