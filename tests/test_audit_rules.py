"""The audit log's smaller promises, each written out: where it lives, the head's exact bytes,
file mode, refusals with their messages, and the exact words of every chain problem."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from cardingest.archive.audit import AuditLog
from cardingest.archive.provenance import recorded_source
from cardingest.errors import AuditError
from cardingest.models import Card

MISSING_HEAD = (
    "audit.head is missing; 'cardingest audit --repair' writes it again from the log if every "
    "line checks out"
)


def lines_of(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def test_where_the_log_and_head_live_and_what_the_head_holds(tmp_path: Path) -> None:
    archive = tmp_path / "new" / "archive"  # parents are created
    old = os.umask(0o022)
    try:
        AuditLog(archive).append("ingest", operator="nurse1")
    finally:
        os.umask(old)
    path = archive / ".cardingest" / "audit.jsonl"
    head = archive / ".cardingest" / "audit.head"
    line = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # private whatever the umask
    digest = hashlib.sha256(line.rstrip(b"\n")).hexdigest()
    st = path.stat()
    seen = f"[{st.st_ino}, {st.st_size}, {st.st_mtime_ns}, {st.st_ctime_ns}]"
    assert head.read_bytes() == (
        b'{"last": "' + digest.encode() + b'", "lines": 1, "seen": ' + seen.encode() + b"}\n"
    )


def test_reserved_fields_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as error:
        AuditLog(tmp_path).append("ingest", seq=3, prev="x", note="fine")
    assert str(error.value) == "Reserved audit field(s): prev, seq"


def test_a_first_append_that_died_before_its_head_is_taken_up(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("ingest")
    log.head_path.unlink()
    log.append("wipe")
    assert (log.check().ok, log.check().events) == (True, 2)


def test_an_emptied_one_line_log_is_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("ingest")
    log.path.write_bytes(b"")
    with pytest.raises(AuditError) as error:
        log.append("ingest")
    assert error.value.message == (
        f"{log.path} is empty but audit.head records 1 lines; run a check before writing"
    )


def test_empty_log_with_a_zero_head_checks_out(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.folder.mkdir(parents=True)
    log.path.write_bytes(b"")
    log.head_path.write_text(json.dumps({"last": "0" * 64, "lines": 0}))
    assert log.check().ok
    log.append("ingest")
    assert log.check().events == 1


NOT_AN_EVENT = (
    "The last line of {path} is not an audit event (a line added by hand or by another "
    "program). Nothing is written after it, as chaining onto it would hide the change. "
    "'cardingest audit' names the first line that does not check out: keep a copy of the log, "
    "have a person put that line back as it was (or remove a line added to the end), then run "
    "the command again"
)
"""Trial: the message said what was wrong and nothing of what to do."""


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (
            b'{"seq": 1',
            "{path} ends in an incomplete line (a write cut short, e.g. by a power cut); "
            "run 'cardingest audit --repair' to set it aside, then try again",
        ),
        (b"[1]\n", NOT_AN_EVENT),
        (b'{"seq": 1, "prev": 5}\n', NOT_AN_EVENT),
        (b'{"seq": "1", "prev": "x"}\n', NOT_AN_EVENT),
    ],
)
def test_append_refuses_a_tail_that_is_not_an_event(
    tmp_path: Path, tail: bytes, message: str
) -> None:
    log = AuditLog(tmp_path)
    log.folder.mkdir(parents=True)
    log.path.write_bytes(tail)
    with pytest.raises(AuditError) as error:
        log.append("ingest")
    assert error.value.message == message.format(path=log.path)


def test_unreadable_head_is_named(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("ingest")
    log.head_path.write_text('{"lines": 1, "last": 5}')
    with pytest.raises(AuditError) as error:
        log.append("ingest")
    assert error.value.message == f"{log.head_path} is unreadable"
    result = log.check()
    assert (result.ok, result.bad_line, result.problem) == (
        False,
        None,
        f"{log.head_path} is unreadable",
    )
    log.head_path.write_text("{")
    assert (log.check().problem or "").startswith(f"{log.head_path} is unreadable: ")


def test_a_log_that_cannot_be_opened(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.path.mkdir(parents=True)  # a folder where the log should be
    result = log.check()
    assert (result.ok, result.events, result.bad_line) == (False, 0, None)
    assert (result.problem or "").startswith(f"Cannot read {log.path}: ")
    with pytest.raises(AuditError) as error:
        log.append("ingest")
    assert error.value.message.startswith(f"Cannot open {log.path}: ")


def _log_with(tmp_path: Path, count: int) -> AuditLog:
    log = AuditLog(tmp_path)
    for n in range(count):
        log.append("ingest", n=n)
    return log


@pytest.mark.parametrize(
    ("drop", "bad_line", "problem"),
    [
        ([1], 2, "line 2 holds event 3: event 2 removed or moved from here"),
        ([1, 2], 2, "line 2 holds event 4: events 2-3 removed or moved from here"),
        ([0], 1, "line 1 holds event 2: event 1 removed or moved from here"),
    ],
)
def test_removed_lines_are_worded_exactly(
    tmp_path: Path, drop: list[int], bad_line: int, problem: str
) -> None:
    log = _log_with(tmp_path, 5)
    lines = lines_of(log)
    log.path.write_bytes(b"".join(line for n, line in enumerate(lines) if n not in drop))
    result = log.check()
    assert (result.ok, result.bad_line, result.problem) == (False, bad_line, problem)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"[1]\n", "line 2 is not an audit event (no prev)"),
        (b'{"prev": 5, "seq": 2}\n', "line 2 is not an audit event (no prev)"),
        (b'{"prev": "x", "seq": true}\n', "line 2 is not an audit event (no seq)"),
        (b'{"prev": "x", "seq": "2"}\n', "line 2 is not an audit event (no seq)"),
        (b'{"prev": "x"}\n', "line 2 is not an audit event (no seq)"),
        (b"{nope\n", "line 2 is not valid JSON"),
        (b"\n", "line 2 is blank: an editor or another program added it"),  # trial
        (b" \r\n", "line 2 is blank: an editor or another program added it"),
        (
            b'{"prev": "x", "seq": 1}\n',
            "line 2 holds event 1, which belongs earlier: lines reordered",
        ),
    ],
)
def test_line_problems_are_worded_exactly(tmp_path: Path, line: bytes, problem: str) -> None:
    log = _log_with(tmp_path, 3)
    lines = lines_of(log)
    lines[1] = line
    log.path.write_bytes(b"".join(lines))
    result = log.check()
    assert (result.ok, result.events, result.bad_line, result.problem) == (False, 3, 2, problem)


def test_head_problems_are_worded_exactly(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    log.path.write_bytes(b"".join(lines_of(log)[:1]))
    result = log.check()
    assert (result.bad_line, result.problem) == (
        2,
        "lines removed from the end: audit.head records 3 lines, the log has 1",
    )
    log = _log_with(tmp_path / "b", 2)
    head = log.head_path.read_bytes()
    log.append("ingest")
    log.append("ingest")
    log.head_path.write_bytes(head)
    result = log.check()
    assert (result.bad_line, result.problem) == (3, "audit.head records 2 lines but the log has 4")
    log.head_path.unlink()
    assert log.check().problem == MISSING_HEAD


def test_a_one_line_log_whose_head_was_never_written_checks_out(tmp_path: Path) -> None:
    """The very first append died between its line and its head: nothing is wrong."""
    log = AuditLog(tmp_path)
    log.append("ingest")
    log.head_path.unlink()
    result = log.check()
    assert (result.ok, result.events, result.problem) == (True, 1, None)
    log.append("ingest")
    log.head_path.unlink()
    assert log.check().problem == MISSING_HEAD


def test_a_changed_genesis_is_worded_exactly(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 2)
    lines = lines_of(log)
    lines[0] = lines[0].replace(b"0" * 64, b"1" * 64)
    log.path.write_bytes(b"".join(lines))
    result = log.check()
    assert (result.bad_line, result.problem) == (
        1,
        "line 1 was changed (its prev is not the genesis value)",
    )


def test_events_of_an_unreadable_log_say_so(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.path.mkdir(parents=True)
    with pytest.raises(AuditError) as error:
        list(log.events())
    assert error.value.message.startswith(f"Cannot read {log.path}: ")


def test_what_is_kept_of_the_source() -> None:
    """A card's mount point is kept; a plain folder only as the first 16 hex of its sha256."""
    card = Card(mount="/media/EOS_DIGITAL", fstype="vfat", device="/dev/sdb1")
    assert recorded_source("/media/EOS_DIGITAL", card) == "/media/EOS_DIGITAL"
    folder = "/home/nurse/Smith, Jane/photos"
    digest = hashlib.sha256(folder.encode()).hexdigest()
    assert recorded_source(folder, None) == f"folder sha256:{digest[:16]}"
    assert "Smith" not in recorded_source(folder, None)
