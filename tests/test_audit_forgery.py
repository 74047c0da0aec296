"""A forged tail: the last line edited, then a line chained to the edited one appended, with
``audit.head`` left as it was. The chain alone is consistent; only the head can tell."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cardingest.archive.audit import AuditLog
from cardingest.cli.app import app
from cardingest.errors import EXIT_FAILURE, EXIT_OK, AuditError

runner = CliRunner()


def _line(record: dict[str, object]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def forge_tail(log: AuditLog) -> None:
    """Edit the last line and append a well-formed line chained to the edited one.

    Written by hand (not with AuditLog.append, which refuses), the way someone covering
    their tracks would; ``audit.head`` is not touched.
    """
    lines = log.path.read_bytes().splitlines()
    last = json.loads(lines[-1])
    last["removed"] = ["DCIM/100CANON/IMG_0001.JPG"]
    lines[-1] = _line(last)
    extra = {
        "event": "verify",
        "host": "elsewhere",
        "ts": "2026-11-30T12:00:00.000000Z",
        "seq": len(lines) + 1,
        "prev": hashlib.sha256(lines[-1]).hexdigest(),
    }
    lines.append(_line(extra))
    log.path.write_bytes(b"\n".join(lines) + b"\n")


@pytest.fixture
def forged(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "archive")
    log.append("ingest", operator="nurse1", counts={"copied": 3})
    log.append("ingest", operator="nurse1", counts={"copied": 2})
    log.append("wipe", operator="nurse1", removed=[])
    head = log.head_path.read_bytes()
    forge_tail(log)
    assert log.head_path.read_bytes() == head
    return log


def test_check_names_the_edited_last_line(forged: AuditLog) -> None:
    result = forged.check()
    assert not result.ok
    assert result.events == 4
    assert result.bad_line == 3
    assert result.problem is not None and "line 3 changed" in result.problem


def test_append_refuses_to_chain_onto_a_forged_tail(forged: AuditLog) -> None:
    before = forged.path.read_bytes()
    with pytest.raises(AuditError, match="does not match"):
        forged.append("ingest", operator="nurse2")
    assert forged.path.read_bytes() == before


def test_the_audit_command_reports_it(forged: AuditLog, tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "--archive", str(tmp_path / "archive"), "--json"])
    assert result.exit_code == EXIT_FAILURE
    document = json.loads(result.stdout)
    assert (document["ok"], document["events"], document["bad_line"]) == (False, 4, 3)


def test_an_honest_crash_after_the_line_is_still_accepted(tmp_path: Path) -> None:
    """The case the forgery imitates: a real append that died before updating the head."""
    log = AuditLog(tmp_path / "archive")
    log.append("ingest", operator="nurse1")
    log.append("ingest", operator="nurse1")
    head = log.head_path.read_bytes()
    log.append("wipe", operator="nurse1")
    log.head_path.write_bytes(head)
    assert log.check().ok
    result = runner.invoke(app, ["audit", "--archive", str(tmp_path / "archive"), "--json"])
    assert result.exit_code == EXIT_OK
    assert json.loads(result.stdout)["events"] == 3
