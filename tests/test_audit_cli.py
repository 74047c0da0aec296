"""`cardingest audit`: the hash chain of a log written by real ingest, wipe and verify runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory
from clinic_helpers import cli

from cardingest.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE


@pytest.fixture
def archive(fat_card: CardFactory, samples_dir: Path, tmp_path: Path) -> Path:
    """An archive whose log holds: ingest, wipe-start, 2 × wipe-remove, wipe, verify."""
    photos = sorted((samples_dir / "real").glob("*.jpg"), key=lambda p: p.stat().st_size)[:2]
    mount = fat_card({f"DCIM/100CANON/IMG_{n:04d}.JPG": p for n, p in enumerate(photos, 1)})
    archive = tmp_path / "archive"
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    assert cli("wipe", mount, "--archive", archive, "--yes").exit_code == EXIT_OK
    assert cli("verify", "--archive", archive).exit_code == EXIT_OK
    return archive


def log_lines(archive: Path) -> list[bytes]:
    return (archive / ".cardingest" / "audit.jsonl").read_bytes().splitlines(keepends=True)


def rewrite(archive: Path, lines: list[bytes]) -> None:
    (archive / ".cardingest" / "audit.jsonl").write_bytes(b"".join(lines))


def audit(archive: Path) -> tuple[int, dict[str, Any], str]:
    document = cli("audit", "--archive", archive, "--json")
    text = cli("audit", "--archive", archive)
    assert document.exit_code == text.exit_code
    return document.exit_code, json.loads(document.stdout), text.stdout


def edit(line: bytes) -> bytes:
    record = json.loads(line)
    record["operator"] = "someone-else"
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def test_intact_log_counts_its_events(archive: Path) -> None:
    code, document, text = audit(archive)

    assert code == EXIT_OK
    events = [json.loads(line)["event"] for line in log_lines(archive)]
    assert events == ["ingest", "wipe-start", "wipe-remove", "wipe-remove", "wipe", "verify"]
    assert (document["ok"], document["events"], document["bad_line"]) == (True, 6, None)
    assert "6 event(s)" in text


def test_no_log_yet(tmp_path: Path) -> None:
    (tmp_path / "empty" / ".cardingest").mkdir(parents=True)
    code, document, _text = audit(tmp_path / "empty")
    assert (code, document["ok"], document["events"]) == (EXIT_OK, True, 0)


def test_a_folder_that_is_no_archive_does_not_pass(tmp_path: Path) -> None:
    """An empty folder, or the card given by mistake, has no log to check: that is said,
    not "0 event(s), chain intact"."""
    (tmp_path / "card" / "DCIM").mkdir(parents=True)
    code, document, _text = audit(tmp_path / "card")
    assert code == EXIT_USAGE
    assert document["error"]["message"] == (
        f"No archive at {tmp_path / 'card'}: it has no .cardingest folder, so no audit log to "
        "check. Is --archive right?"
    )
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Checking the log: `audit`")[1].split("\n## ")[0]
    assert f"is no archive (exit {code})" in " ".join(section.split())


def test_a_mistyped_archive_or_a_deleted_log_fails(archive: Path, tmp_path: Path) -> None:
    code, document, _text = audit(tmp_path / "typo")
    assert code == EXIT_USAGE and "No archive" in document["error"]["message"]
    (archive / ".cardingest" / "audit.jsonl").unlink()
    code, document, text = audit(archive)
    assert code == EXIT_FAILURE and (document["ok"], document["events"]) == (False, 0), document
    assert "is missing, though the catalogue records 1" in document["problem"]
    assert "does not check out: The audit log" in " ".join(text.split())
    # A catalogue that records no ingest that ended (a new archive's first run stopped
    # before its event) says nothing of a log that was never written.
    (tmp_path / "a" / ".cardingest").mkdir(parents=True)
    (tmp_path / "a" / ".cardingest" / "catalogue.sqlite").write_bytes(b"")
    code, document, _text = audit(tmp_path / "a")
    assert code == EXIT_OK and document["events"] == 0, document


@pytest.mark.parametrize(
    ("damage", "line"),
    [
        ("edit line 3", 3),
        ("edit the last line", 6),
        ("delete line 4", 4),
        ("delete the last line", 6),
        ("swap lines 2 and 3", 2),
    ],
)
def test_damaged_log_names_the_line(archive: Path, damage: str, line: int) -> None:
    lines = log_lines(archive)
    if damage == "edit line 3":
        lines[2] = edit(lines[2])
    elif damage == "edit the last line":
        lines[-1] = edit(lines[-1])
    elif damage == "delete line 4":
        del lines[3]
    elif damage == "delete the last line":
        del lines[-1]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    rewrite(archive, lines)

    code, document, text = audit(archive)

    assert code == EXIT_FAILURE
    assert (document["ok"], document["bad_line"]) == (False, line)
    assert document["problem"]
    assert f"at line {line}:" in text
    # A trial: verify (as move and ingest) chained its event onto a log edited before its
    # end, exit 0; it refuses, and the log is left for a person as it is.
    before = log_lines(archive)
    verify = cli("verify", "--archive", archive)
    assert verify.exit_code == EXIT_FAILURE, verify.output
    assert "a person" in " ".join(verify.output.split())
    assert log_lines(archive) == before


def test_a_log_emptied_with_its_head_removed_fails(archive: Path) -> None:
    """The log's lines removed and ``audit.head`` deleted with them: before, "0 event(s),
    chain intact", and the next ingest began a new chain over the lost history."""
    rewrite(archive, [])
    (archive / ".cardingest" / "audit.head").unlink()
    code, document, _text = audit(archive)
    assert code == EXIT_FAILURE, document
    # A trial: an error document, with no `ok` for a script that reads it: the check's own.
    assert (document["ok"], document["bad_line"]) == (False, None), document
    assert "is empty, though the catalogue records 1 ingest(s)" in document["problem"]


def test_a_backup_folder_is_no_archive(tmp_path: Path) -> None:
    (tmp_path / "backup" / ".cardingest" / "manifests").mkdir(parents=True)
    code, document, _text = audit(tmp_path / "backup")
    assert code == EXIT_USAGE, document
    assert "as a backup folder has" in document["error"]["message"]
