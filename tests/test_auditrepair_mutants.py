"""`audit --repair`, each rule of ``archive/auditrepair`` pinned where a mutant changed it
unseen.

Written for the mutation round on ``archive/auditrepair`` (docs/testing.md):
test_audit_repair.py runs the CLI in a subprocess, which mutmut does not count, so no test
reached the module's mutants. Here the module is called in this process on a real audit
log written by `AuditLog.append` (and the demo card's ingest, for `audit --repair` run
in-process), its bytes then torn, edited or its head removed as a power cut or a tidy-up
would leave them.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clinic_helpers import cli

from cardingest.archive.audit import AuditLog
from cardingest.archive.auditrepair import (
    TORN_FOLDER,
    LeftForAPerson,
    TornTail,
    rebuild_missing_head,
    record_rebuilt_head,
    repair_torn_tail,
)
from cardingest.demo import make_demo_card
from cardingest.errors import AuditError

OPERATOR = "nurse-kim"
TORN = b'{"event":"ingest","ingest_id":"20261130T0'


def sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive folder whose audit log holds four events, its head in step."""
    folder = tmp_path / "archive"
    (folder / ".cardingest").mkdir(parents=True)
    log = AuditLog(folder)
    for n in range(4):
        log.append("test", n=n)
    return folder


def log_of(archive: Path) -> AuditLog:
    return AuditLog(archive)


def lines(archive: Path) -> list[bytes]:
    return log_of(archive).path.read_bytes().splitlines(keepends=True)


def head(archive: Path) -> dict:
    return json.loads(log_of(archive).head_path.read_bytes())


def set_head(archive: Path, count: int, last: str) -> None:
    data = json.dumps({"last": last, "lines": count}, sort_keys=True) + "\n"
    log_of(archive).head_path.write_text(data, encoding="utf-8")


def tear(archive: Path, torn: bytes = TORN) -> bytes:
    """The log's bytes before the torn append, which is then written."""
    path = log_of(archive).path
    before = path.read_bytes()
    with path.open("ab") as out:
        out.write(torn)
    return before


def edit_line(archive: Path, index: int) -> None:
    """Change one event's content (its fields, not its chain): line ``index + 1``."""
    found = lines(archive)
    record = json.loads(found[index])
    record["n"] = 99
    found[index] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    log_of(archive).path.write_bytes(b"".join(found))


# repair_torn_tail


def test_a_log_ending_in_a_complete_line_is_left_as_it_is(archive: Path) -> None:
    before, head_before = log_of(archive).path.read_bytes(), head(archive)
    assert repair_torn_tail(archive, operator=OPERATOR) is None
    assert log_of(archive).path.read_bytes() == before and head(archive) == head_before
    assert not (archive / ".cardingest" / TORN_FOLDER).exists()


def test_a_torn_tail_is_set_aside_cut_off_and_recorded(archive: Path) -> None:
    """What a repair leaves: the complete lines as they were, then its event naming the
    torn part, whose bytes are kept under ``.cardingest/torn/`` in a file named by its line,
    the time and its digest, private to the archive's owner."""
    before = tear(archive)
    repaired = repair_torn_tail(archive, operator=OPERATOR)
    digest = sha(TORN)
    assert isinstance(repaired, TornTail)
    assert (repaired.line, repaired.size, repaired.sha256) == (5, len(TORN), digest)
    assert re.fullmatch(
        rf"\.cardingest/torn/audit-line5-\d{{8}}T\d{{6}}Z-{digest[:16]}\.bin", repaired.set_aside
    ), repaired.set_aside
    kept = archive / repaired.set_aside
    assert kept.read_bytes() == TORN
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]
    assert stat.S_IMODE(kept.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(kept.parent.stat().st_mode) & 0o007 == 0
    after = log_of(archive).path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 5
    event = json.loads(after[len(before) :])
    assert {k: event[k] for k in event if k not in ("host", "prev", "seq", "ts")} == {
        "event": "audit-repair",
        "operator": OPERATOR,
        "torn_line": 5,
        "torn_bytes": len(TORN),
        "torn_sha256": digest,
        "set_aside": repaired.set_aside,
    }
    assert log_of(archive).check().ok and head(archive)["lines"] == 5


def test_a_log_that_is_one_torn_line_is_cut_to_nothing_first(tmp_path: Path) -> None:
    """The first append torn: line 1, the whole file set aside, the repair's event line 1."""
    archive = tmp_path / "archive"
    (archive / ".cardingest").mkdir(parents=True)
    log_of(archive).path.write_bytes(TORN)
    repaired = repair_torn_tail(archive, operator=OPERATOR)
    assert repaired is not None and (repaired.line, repaired.size) == (1, len(TORN))
    assert (archive / repaired.set_aside).read_bytes() == TORN
    (line,) = lines(archive)
    assert json.loads(line)["event"] == "audit-repair" and json.loads(line)["seq"] == 1
    assert log_of(archive).check().ok


def test_a_line_edited_before_the_torn_tail_leaves_everything_as_it_was(archive: Path) -> None:
    edit_line(archive, 1)
    before = tear(archive) + TORN
    log = log_of(archive)
    with pytest.raises(LeftForAPerson) as refused:
        repair_torn_tail(archive, operator=OPERATOR)
    assert refused.value.message == (
        f"Not repairing {log.path}: besides the torn last line (line 5), it does not check "
        "out at line 2: line 2 was changed (line 3's prev does not match it)"
    )
    assert refused.value.details == ["A power cut only tears the last line; this needs a person."]
    assert log.path.read_bytes() == before
    assert not (archive / ".cardingest" / TORN_FOLDER).exists()


def test_a_head_that_does_not_check_out_is_named_as_the_head_file(archive: Path) -> None:
    log = log_of(archive)
    log.head_path.write_text("not json\n", encoding="utf-8")
    before = tear(archive) + TORN
    with pytest.raises(LeftForAPerson) as refused:
        repair_torn_tail(archive, operator=OPERATOR)
    said = refused.value.message
    assert said.startswith(
        f"Not repairing {log.path}: besides the torn last line (line 5), it does not check "
        "out at its head file: "
    ), said
    # The head named is the scratch copy's, not the archive's (a fault, docs/testing.md).
    assert re.search(r"/audit\.head is unreadable: Expecting value", said), said
    assert log.path.read_bytes() == before


def test_a_missing_or_unopenable_log_is_an_audit_error(archive: Path) -> None:
    log = log_of(archive)
    log.path.unlink()
    with pytest.raises(AuditError) as missing:
        repair_torn_tail(archive, operator=OPERATOR)
    assert missing.value.message == f"There is no audit log at {log.path}"
    log.path.mkdir()
    with pytest.raises(AuditError) as folder:
        repair_torn_tail(archive, operator=OPERATOR)
    assert folder.value.message == f"Cannot open {log.path}: Is a directory"


def test_a_torn_folder_that_cannot_be_made_cuts_nothing(archive: Path) -> None:
    """The torn bytes are kept before the log is cut: where they cannot be, nothing is cut
    (the OSError said as what could not be repaired)."""
    (archive / ".cardingest" / TORN_FOLDER).write_bytes(b"a file in the folder's place")
    before = tear(archive) + TORN
    log = log_of(archive)
    with pytest.raises(AuditError) as refused:
        repair_torn_tail(archive, operator=OPERATOR)
    assert refused.value.message.startswith(f"Cannot repair {log.path}: "), refused.value
    assert "Errno" not in refused.value.message
    assert log.path.read_bytes() == before


# rebuild_missing_head and record_rebuilt_head


def test_a_head_in_step_or_one_behind_is_not_rebuilt(archive: Path) -> None:
    found = lines(archive)
    assert rebuild_missing_head(archive, operator=OPERATOR) is None
    set_head(archive, 3, sha(found[2].removesuffix(b"\n")))  # a crash before the head
    assert rebuild_missing_head(archive, operator=OPERATOR) is None
    assert head(archive)["lines"] == 3


def test_a_missing_head_is_written_again_from_the_lines(archive: Path) -> None:
    found = lines(archive)
    log_of(archive).head_path.unlink()
    tear(archive)  # only the complete lines count
    assert rebuild_missing_head(archive, operator=OPERATOR) == (4, 0)
    assert head(archive) == {"lines": 4, "last": sha(found[3].removesuffix(b"\n"))}


def test_a_head_two_or_more_behind_matching_its_line_is_written_again(archive: Path) -> None:
    found = lines(archive)
    for lines_then in (2, 1):
        set_head(archive, lines_then, sha(found[lines_then - 1].removesuffix(b"\n")))
        assert rebuild_missing_head(archive, operator=OPERATOR) == (4, 4 - lines_then)
        assert head(archive) == {"lines": 4, "last": sha(found[3].removesuffix(b"\n"))}
    assert log_of(archive).check().ok


@pytest.mark.parametrize(
    ("lines_then", "which"), [(2, 2), (2, 0), (0, 0), (0, 3), (5, 3), (6, 3)], ids=str
)
def test_a_head_that_names_no_line_of_the_log_is_left_for_a_person(
    archive: Path, lines_then: int, which: int
) -> None:
    """Behind, but its digest not the line's it counts to; counting none (whatever its
    digest: the last line's is no line 0); or ahead: not rebuilt (the check names it)."""
    found = lines(archive)
    set_head(archive, lines_then, sha(found[which].removesuffix(b"\n")))
    before = log_of(archive).head_path.read_bytes()
    assert rebuild_missing_head(archive, operator=OPERATOR) is None
    assert log_of(archive).head_path.read_bytes() == before


@pytest.mark.parametrize("the_head", ["missing", "behind"])
def test_a_line_edited_is_never_rebuilt_over(archive: Path, the_head: str) -> None:
    found = lines(archive)
    log = log_of(archive)
    if the_head == "missing":
        log.head_path.unlink()
    else:
        set_head(archive, 1, sha(found[0].removesuffix(b"\n")))
    edit_line(archive, 2)
    before = log.head_path.read_bytes() if the_head == "behind" else None
    with pytest.raises(LeftForAPerson) as refused:
        rebuild_missing_head(archive, operator=OPERATOR)
    assert refused.value.message == (
        f"Not writing audit.head again: {log.path} does not check out at line 3: line 3 "
        "was changed (line 4's prev does not match it)"
    )
    assert refused.value.details == ["An edited or removed line needs a person, not a repair."]
    assert (log.head_path.read_bytes() if before is not None else None) == before
    assert log.head_path.exists() == (the_head == "behind")


def test_no_log_or_no_complete_line_has_no_head_to_write(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (archive / ".cardingest").mkdir(parents=True)
    log = log_of(archive)
    assert rebuild_missing_head(archive, operator=OPERATOR) is None
    for data in (b"", TORN):
        log.path.write_bytes(data)
        assert rebuild_missing_head(archive, operator=OPERATOR) is None
        assert not log.head_path.exists()
    log.path.unlink()
    log.path.mkdir()  # opened (a folder can be, read-only), then not read
    with pytest.raises(AuditError) as refused:
        rebuild_missing_head(archive, operator=OPERATOR)
    assert refused.value.message == f"Cannot repair {log.path}: Is a directory"
    log.path.rmdir()
    (archive / ".cardingest").rmdir()
    (archive / ".cardingest").write_bytes(b"")  # a file where the folder was
    with pytest.raises(AuditError) as unopened:
        rebuild_missing_head(archive, operator=OPERATOR)
    assert unopened.value.message == f"Cannot open {log.path}: Not a directory"


@pytest.mark.parametrize("behind", [0, 3])
def test_the_rebuild_is_recorded_with_what_it_was(archive: Path, behind: int) -> None:
    record_rebuilt_head(archive, 4, behind, operator=OPERATOR)
    event = json.loads(lines(archive)[-1])
    assert {k: event[k] for k in event if k not in ("host", "prev", "seq", "ts")} == {
        "event": "audit-repair",
        "operator": OPERATOR,
        "head_rebuilt": True,
        "lines": 4,
        "note": (
            "audit.head had fallen 3 lines behind the log, whose lines check out (appends "
            "whose head could not be written): written again from the log"
            if behind
            else "audit.head was missing and was written again from the log: lines cut from "
            "the end before this event could no longer be seen"
        ),
    }
    record_rebuilt_head(archive, 5, operator=OPERATOR)
    assert json.loads(lines(archive)[-1])["note"].startswith("audit.head was missing")


def test_audit_repair_in_process_mends_a_missing_head_and_a_torn_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI: head first, then the torn tail, each with its event, and the chain intact."""
    config = tmp_path / "config.toml"
    config.write_text(f'allow_test_ids = true\noperator = "{OPERATOR}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card, map_file = make_demo_card(tmp_path / "demo")
    archive = tmp_path / "archive"
    assert cli("ingest", card, "--map", map_file, "--archive", archive).exit_code == 3
    count = len(lines(archive))
    log_of(archive).head_path.unlink()
    tear(archive)
    done = cli("audit", "--repair", "--archive", archive, "--json")
    assert done.exit_code == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] and document["repaired"]["line"] == count + 1
    found = [json.loads(line) for line in lines(archive)]
    assert [e["event"] for e in found[count:]] == ["audit-repair"] * 2
    assert found[count]["torn_line"] == count + 1  # the torn tail's event first,
    assert found[-1]["head_rebuilt"] and found[-1]["lines"] == count  # then the head's
    assert log_of(archive).check().ok


def test_the_set_aside_file_is_named_by_the_time_in_utc(archive: Path, auckland: None) -> None:
    """The name's time ends in Z: it is UTC, not the machine's zone (New Zealand's here, 12
    or 13 hours ahead), between the seconds read before and after the repair."""
    tear(archive)
    before = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    repaired = repair_torn_tail(archive, operator=OPERATOR)
    after = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert repaired is not None
    stamp = repaired.set_aside.split("-")[2]
    assert before <= stamp <= after, (before, stamp, after)


def test_a_head_that_does_not_check_out_is_named_where_it_is_and_nothing_goes_to_tmp(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repair checked the lines before a torn tail in a copy in the system's temporary
    folder (the log's lines hold patients' IDs), and its refusal named the copy's head, a
    file gone when the user read it. The check is now made in memory and names the log's
    own `audit.head`."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    log_of(archive).head_path.write_text("not json\n", encoding="utf-8")
    tear(archive)
    with pytest.raises(LeftForAPerson) as refused:
        repair_torn_tail(archive, operator=OPERATOR)
    assert str(log_of(archive).head_path) in refused.value.message, refused.value.message
    assert "cardingest-audit-" not in refused.value.message
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("behind", [False, True], ids=["head-missing", "head-behind"])
def test_a_head_rebuilt_whose_tail_cannot_be_mended_is_put_back(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behind: bool
) -> None:
    """`audit --repair` wrote the head again, then failed to set the torn tail aside (here
    `.cardingest/torn` is a file): the head stayed rewritten with no event, and the next
    repair, succeeding, recorded nothing of it. The head is now put back as it was (or
    removed, where there was none), and the repair after the fault records the rebuild."""
    config = tmp_path / "config.toml"
    config.write_text(f'operator = "{OPERATOR}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    head_path = log_of(archive).head_path
    if behind:
        set_head(archive, 2, sha(lines(archive)[1].removesuffix(b"\n")))  # two behind
        before: bytes | None = head_path.read_bytes()
    else:
        head_path.unlink()
        before = None
    tear(archive)
    (archive / ".cardingest" / TORN_FOLDER).write_text("in the way\n")
    failed = cli("audit", "--repair", "--archive", archive)
    assert failed.exit_code == 1, failed.stderr
    assert (head_path.read_bytes() if head_path.exists() else None) == before
    (archive / ".cardingest" / TORN_FOLDER).unlink()
    done = cli("audit", "--repair", "--archive", archive, "--json")
    assert done.exit_code == 0, done.stderr
    events = [json.loads(line) for line in lines(archive)]
    assert events[-1]["event"] == "audit-repair" and events[-1]["head_rebuilt"]
    assert log_of(archive).check().ok
