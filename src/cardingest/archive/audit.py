"""Append-only, hash-chained JSON-lines audit log: ``{archive}/.cardingest/audit.jsonl``.

Each line is one JSON object with ``ts`` (UTC), ``event``, ``host``, ``seq`` (its 1-based line
number) and ``prev``: the sha256 of the previous line's exact bytes (``GENESIS`` for the first).
Editing, deleting or reordering a line breaks the chain at or after it; ``seq`` tells a changed
line from removed or reordered ones. The chain cannot see the last line being edited or lines
cut from the end, so ``audit.head`` records the line count and the last line's sha256.

This detects accidents and casual edits. It is not a signature: someone who rewrites the
whole log and its head can forge a consistent one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AuditError
from ..host import host_name
from ..storage import modes, ondisk
from ..storage.durable import atomic_write_bytes, remove_stale_temps_of, sync_file
from ..storage.mounts import mounted_read_only
from ..storage.positional import read_range
from ..text import json_safe, json_safe_value, undecodable
from .backend import audit_log_path, denied, location_for

if TYPE_CHECKING:
    from .pg import PgAudit

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

GENESIS = "0" * 64
RESERVED = frozenset({"ts", "event", "host", "prev", "seq"})

_TAIL_BLOCK = 8192


REPAIR_COMMAND = "cardingest audit --repair"
FOR_A_PERSON = (
    "Nothing is written after it, as chaining onto it would hide the change. 'cardingest "
    "audit' names the first line that does not check out: keep a copy of the log, have a "
    "person put that line back as it was (or remove a line added to the end), then run the "
    "command again"
)
"""What to do about a log that a repair cannot mend: only a torn last line is set aside."""
_FULL = (
    "The archive's disk is full: free some space on it and run the command again; the log "
    "is as it was before."
)


@dataclass(frozen=True)
class AuditCheck:
    """Result of :meth:`AuditLog.check`. ``events`` counts the log's lines."""

    ok: bool
    events: int
    bad_line: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class _Head:
    lines: int
    last: str
    seen: tuple[int, ...] | None = None
    """The log's `_signature` just after the append that wrote this head; None in a head
    written before 2026-12 or by a repair."""


def _signature(fd: int) -> tuple[int, ...]:
    """What changes whenever anything writes the log (its inode, size, modification and
    change times; the change time cannot be set back): the same as the head's, nothing
    but cardingest's own appends touched it, and the lines before its end need no new walk
    (an edit that also rewrites the head passes, as it passes the chain's end; `check`
    walks every line)."""
    st = os.fstat(fd)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _dumps(record: dict[str, object]) -> str:
    """One line; a name that is not valid UTF-8 is written with its bytes as ``\\xNN``."""
    text = json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    if undecodable(text):
        text = json.dumps(
            json_safe_value(record),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=lambda value: json_safe(str(value)),
        )
    return text


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return
    import msvcrt  # pragma: no cover - Windows

    while True:  # pragma: no cover - Windows
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            break
        except OSError:
            continue
    try:  # pragma: no cover - Windows
        yield
    finally:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _last_line(fd: int) -> tuple[bytes | None, bool]:
    """The file's last line without its newline (None if empty), and whether it ended in one."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None, True
    complete = read_range(fd, size - 1, 1) == b"\n"
    pos = size - 1 if complete else size
    chunks: list[bytes] = []
    while pos > 0:
        start = max(0, pos - _TAIL_BLOCK)
        block = read_range(fd, start, pos - start)
        cut = block.rfind(b"\n")
        if cut != -1:
            chunks.append(block[cut + 1 :])
            break
        chunks.append(block)
        pos = start
    return b"".join(reversed(chunks)), complete


def _line(event: str, fields: dict[str, object], count: int, prev: str) -> bytes:
    """The exact bytes of event ``count + 1`` (no newline), chained onto ``prev``."""
    record: dict[str, object] = {
        **fields,
        "ts": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "event": event,
        "host": host_name(),
        "prev": prev,
        "seq": count + 1,
    }
    return _dumps(record).encode("utf-8")


def _why(folder: Path) -> str:
    """Why a folder cannot be written: a read-only mount, or its permissions."""
    if mounted_read_only(folder):
        return "it is on a read-only file system (a write-protected drive or mount)"
    return "this account may not write there"


class _Denied(AuditError):
    """A file of the log this account may not read: no finding about the chain."""


class AuditLog:
    """The archive's audit log: the JSONL file, or rows in PostgreSQL when the archive's
    catalogue is there (see ``pg.PgAudit``); the lines and the chain are the same."""

    def __init__(self, archive: Path) -> None:
        self.path = audit_log_path(archive)
        self.folder = self.path.parent
        self.head_path = self.folder / "audit.head"
        self._head_temps_swept = False
        self._walked: tuple[int, ...] | None = None  # the signature of the log last walked
        location = location_for(archive)
        self._pg: PgAudit | None = None
        if location.url is not None:
            from .pg import PgAudit

            self._pg = PgAudit(location.url, Path(archive))

    @property
    def where(self) -> str:
        """Where the log is kept, for messages: its file, or the database and archive id."""
        return self._pg.where() if self._pg is not None else str(self.path)

    @property
    def in_database(self) -> bool:
        return self._pg is not None

    def _read_head(self) -> _Head | None:
        try:
            data = json.loads(self.head_path.read_bytes())
            seen = data.get("seen")
            head = _Head(
                lines=data["lines"],
                last=data["last"],
                seen=tuple(seen) if isinstance(seen, list) else None,
            )
        except FileNotFoundError:
            return None
        except PermissionError:
            raise _Denied(denied(self.head_path)) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"{self.head_path} is unreadable: {exc}") from exc
        if not isinstance(head.lines, int) or not isinstance(head.last, str):
            raise AuditError(f"{self.head_path} is unreadable")
        return head

    def _write_head(self, lines: int, last: str, seen: tuple[int, ...] | None = None) -> None:
        """Called holding the log's lock, under which a head temporary is a dead writer's."""
        if not self._head_temps_swept:
            remove_stale_temps_of(self.head_path)
            self._head_temps_swept = True
        fields: dict[str, object] = {"last": last, "lines": lines}
        if seen is not None:
            fields["seen"] = list(seen)
        data = json.dumps(fields, sort_keys=True) + "\n"
        atomic_write_bytes(self.head_path, data.encode())

    def _tail_state(self, fd: int) -> tuple[int, str]:
        """Line count and last line's sha256, after checking the tail agrees with the head.

        Refuses to append after a changed or cut tail: chaining onto it would hide the change.
        An append that crashed after its line but before the head update is accepted.
        """
        last, complete = _last_line(fd)
        head = self._read_head()
        if last is None:
            if head is not None and head.lines != 0:
                raise AuditError(
                    f"{self.path} is empty but {self.head_path.name} records {head.lines}"
                    " lines; run a check before writing"
                )
            return 0, GENESIS
        if not complete:
            raise AuditError(
                f"{self.path} ends in an incomplete line (a write cut short, e.g. by a power "
                f"cut); run '{REPAIR_COMMAND}' to set it aside, then try again"
            )
        try:
            record = json.loads(last)
            seq, prev = record["seq"], record["prev"]
        except (ValueError, KeyError, TypeError) as exc:
            raise self._not_an_event() from exc
        if not isinstance(seq, int) or not isinstance(prev, str):
            raise self._not_an_event()
        digest = _sha(last)
        if head is None:
            if (seq, prev) == (1, GENESIS):
                return seq, digest  # the first append crashed before it wrote the head
            raise AuditError(
                f"{self.head_path} is missing; 'cardingest audit' checks the log, and "
                f"'{REPAIR_COMMAND}' writes it again if every line checks out"
            )
        if (head.lines, head.last) == (seq, digest) or (head.lines, head.last) == (seq - 1, prev):
            self._require_whole(fd, head)
            return seq, digest
        raise AuditError(
            f"The end of {self.path} does not match {self.head_path.name}: a line changed, "
            f"added or removed since the last event was written. {FOR_A_PERSON}"
        )

    def _require_whole(self, fd: int, head: _Head) -> None:
        """Refuse a log edited before its end (a line changed, removed or moved in an
        editor), which its end and head alone do not show. The whole chain is walked only
        when something other than an append of cardingest's wrote the log since its head."""
        signature = _signature(fd)
        if signature in (head.seen, self._walked):
            return
        with open(os.dup(fd), "rb") as handle:
            handle.seek(0)
            _count, problem, _last, _prev = self._walk(handle)
        if problem is not None:
            raise AuditError(
                f"{self.path} does not check out at line {problem[0]}: {problem[1]}. {FOR_A_PERSON}"
            )
        self._walked = signature

    def _not_an_event(self) -> AuditError:
        return AuditError(
            f"The last line of {self.path} is not an audit event (a line added by hand or by "
            f"another program). {FOR_A_PERSON}"
        )

    def require_appendable(self) -> None:
        """Raise AuditError now if an append would be refused (a torn or changed end, a log or
        folder this account or the mount will not let it write), so a command fails before it
        changes or writes anything rather than after, unable to record it."""
        if self._pg is None and ondisk.is_dir(self.folder) and not os.access(self.folder, os.W_OK):
            raise AuditError(f"Cannot write the audit log in {self.folder}: {_why(self.folder)}")
        try:
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return
        except PermissionError:
            raise AuditError(denied(self.path, "write")) from None
        except OSError as exc:
            raise AuditError(f"Cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            with _locked(fd):
                self._tail_state(fd)
        finally:
            os.close(fd)

    def append(self, event: str, **fields: object) -> dict:
        """Write one event durably and return it as written.

        ``fields`` must not use the reserved keys; values that JSON cannot hold are written
        as ``str()``.
        """
        clash = RESERVED.intersection(fields)
        if clash:
            raise ValueError(f"Reserved audit field(s): {', '.join(sorted(clash))}")
        if self._pg is not None:
            return json.loads(
                self._pg.append(lambda count, prev: _line(event, fields, count, prev))
            )
        try:
            modes.make_dirs(self.folder)
            flags = (
                os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
            )
            try:
                fd = modes.create(self.path, flags)
            except FileExistsError:
                fd = os.open(self.path, flags)
        except PermissionError as exc:
            raise AuditError(denied(exc.filename or self.path, "write")) from None
        except OSError as exc:
            raise AuditError(f"Cannot open {self.path}: {exc}") from exc
        try:
            with _locked(fd):
                count, prev = self._tail_state(fd)
                line = _line(event, fields, count, prev)
                before = os.fstat(fd).st_size
                try:
                    written = os.write(fd, line + b"\n")
                    if written != len(line) + 1:
                        raise AuditError(
                            f"Short write to {self.path} ({written} of {len(line) + 1} bytes)"
                        )
                    sync_file(fd)
                    self._write_head(count + 1, _sha(line), _signature(fd))
                except BaseException:
                    self._take_back(fd, before, count + 1, _sha(line))
                    raise
        except PermissionError as exc:  # the head file, beside the log, most likely
            raise AuditError(denied(exc.filename or self.head_path, "write")) from None
        except OSError as exc:
            where = exc.filename or self.path
            raise AuditError(
                f"Cannot write {where}: {exc.strerror or exc}; the event was not recorded",
                details=[_FULL if exc.errno == errno.ENOSPC else "Nothing was changed."],
            ) from exc
        finally:
            os.close(fd)
        return json.loads(line)

    def _take_back(self, fd: int, before: int, lines: int, last: str) -> None:
        """An append that failed after its line was written, before its head was (a disk
        full in between): the line is cut off again, so log and head agree as before. A
        head written all the same (an error after its rename) keeps the line. Left as it
        is if even that fails: one line ahead of the head is what a crash leaves, and the
        next append accepts it."""
        with contextlib.suppress(OSError, AuditError):
            head = self._read_head()
            if head is not None and (head.lines, head.last) == (lines, last):
                return
            os.ftruncate(fd, before)
            sync_file(fd)

    def check(self) -> AuditCheck:
        """Walk the chain and compare the end with ``audit.head``; report the first problem."""
        if self._pg is not None:
            return self.check_database(self._pg)
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            handle = None
        except PermissionError:  # no finding about the chain: a message, as for any reader
            raise AuditError(denied(self.path)) from None
        except OSError as exc:
            return AuditCheck(False, 0, None, f"Cannot read {self.path}: {exc}")
        if handle is None:
            return self.check_lines(())
        with handle:
            return self.check_lines(handle)

    def check_lines(self, lines: Iterable[bytes]) -> AuditCheck:
        """The check of a chain of ``lines`` (the log's, or its complete lines before a torn
        tail) and of ``audit.head`` against its end."""
        count, problem, last_digest, prev_of_last = self._walk(lines)
        if problem is None:
            problem = self._check_head(count, last_digest, prev_of_last)
        if problem is None:
            return AuditCheck(True, count)
        return AuditCheck(False, count, problem[0], problem[1])

    def _walk(self, lines: Iterable[bytes]) -> tuple[int, tuple[int | None, str] | None, str, str]:
        """(lines, first problem, last line's sha256, last line's prev) of a chain."""
        problem: tuple[int | None, str] | None = None
        expected = last_digest = prev_of_last = GENESIS
        count = 0
        for raw in lines:
            count += 1
            if problem is not None:
                continue
            problem = self._check_line(raw, count, expected)
            line = raw.removesuffix(b"\n")
            expected = last_digest = _sha(line)
            if problem is None:
                prev_of_last = json.loads(line)["prev"]
        return count, problem, last_digest, prev_of_last

    def check_database(self, pg: PgAudit) -> AuditCheck:
        """The chain in PostgreSQL, and its end against the head kept with the archive's row."""
        count, problem, last_digest, _prev = self._walk(pg.lines())
        if problem is None:
            lines, last = pg.head()
            if lines > count:
                problem = (
                    count + 1,
                    f"events removed from the end: {lines} recorded, {count} left",
                )
            elif lines < count:
                problem = (lines + 1, f"{count - lines} event(s) after the recorded head")
            elif count and last != last_digest:
                problem = (count, f"last event changed (event {count})")
        if problem is None:
            return AuditCheck(True, count)
        return AuditCheck(False, count, problem[0], problem[1])

    @staticmethod
    def _check_line(raw: bytes, n: int, expected: str) -> tuple[int | None, str] | None:
        if not raw.endswith(b"\n"):
            return n, (
                f"line {n} is incomplete (no newline): the log was cut; if it is the last "
                "line and audit.head does not count it yet (a power cut while it was "
                f"written), '{REPAIR_COMMAND}' sets it aside; else the log needs a person"
            )
        if not raw.strip():
            return n, f"line {n} is blank: an editor or another program added it"
        try:
            record = json.loads(raw[:-1])
        except ValueError:
            return n, f"line {n} is not valid JSON"
        if not isinstance(record, dict) or not isinstance(record.get("prev"), str):
            return n, f"line {n} is not an audit event (no prev)"
        seq = record.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return n, f"line {n} is not an audit event (no seq)"
        if seq > n:
            missing = f"event {n}" if seq == n + 1 else f"events {n}-{seq - 1}"
            return n, f"line {n} holds event {seq}: {missing} removed or moved from here"
        if seq < n:
            return n, f"line {n} holds event {seq}, which belongs earlier: lines reordered"
        if record["prev"] != expected:
            if n == 1:
                return 1, "line 1 was changed (its prev is not the genesis value)"
            return n - 1, f"line {n - 1} was changed (line {n}'s prev does not match it)"
        return None

    def _check_head(
        self, count: int, last_digest: str, prev_of_last: str
    ) -> tuple[int | None, str] | None:
        try:
            head = self._read_head()
        except _Denied:
            raise
        except AuditError as exc:
            return None, exc.message
        if head is None:
            if count == 0 or (count == 1 and prev_of_last == GENESIS):
                return None  # empty, or the first append crashed before writing the head
            return None, (
                f"{self.head_path.name} is missing; '{REPAIR_COMMAND}' writes it again from "
                "the log if every line checks out"
            )
        if head.lines > count:
            return count + 1, (
                f"lines removed from the end: {self.head_path.name} records {head.lines}"
                f" lines, the log has {count}"
            )
        if head.lines == count:
            if head.last != last_digest:
                return count, f"last line changed (line {count})"
            return None
        if head.lines == count - 1:
            if head.last == prev_of_last:
                return None  # an append crashed after its line, before the head
            return count - 1, (
                f"line {count - 1} changed after {self.head_path.name} recorded it"
                f" (line {count} was chained to the changed line)"
            )
        return head.lines + 1, (
            f"{self.head_path.name} records {head.lines} lines but the log has {count}"
        )

    def events(self) -> Iterator[dict]:
        """Each event in order; a line that is not JSON raises :class:`AuditError`."""
        if self._pg is not None:
            for n, raw in enumerate(self._pg.lines(), start=1):
                try:
                    yield json.loads(raw)
                except ValueError as exc:
                    raise AuditError(f"{self.where}: event {n} is not valid JSON") from exc
            return
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        except PermissionError:
            raise AuditError(denied(self.path)) from None
        except OSError as exc:
            raise AuditError(f"Cannot read {self.path}: {exc}") from exc
        with handle:
            for n, raw in enumerate(handle, start=1):
                try:
                    yield json.loads(raw)
                except ValueError as exc:
                    raise AuditError(f"{self.path}: line {n} is not valid JSON") from exc
