"""Issue 12, item 8: a torn last line of the audit log (a power cut mid-append) is set aside
by `cardingest audit --repair`; until then every writer refuses before changing anything and
names that command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from badinput_helpers import cardingest, folder_card, photos
from cardimage import require_samples

TORN = b'{"event":"ingest","ingest_id":"20261130T0'


@pytest.fixture
def archived(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(home, card, archive) after one ingest of one photo, then a torn append."""
    require_samples()
    first, second = photos(2)
    card = folder_card(tmp_path / "card", {b"DCIM/100CANON/IMG_0001.JPG": first})
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    folder_card(card, {b"DCIM/100CANON/IMG_0002.JPG": second})
    with open(archive / ".cardingest" / "audit.jsonl", "ab") as log:
        log.write(TORN)
    return home, card, archive


def test_every_writer_refuses_first_and_names_the_repair(
    archived: tuple[Path, Path, Path],
) -> None:
    home, card, archive = archived
    for args in (
        ("ingest", card, "--id", "JBX3656"),
        ("verify",),
        ("tag", "JBX3656", "--diagnosis", "melanoma"),
        ("wipe", card, "--yes"),
        ("share", "JBX3656", "--out", card.parent / "shared"),
        ("audit",),
    ):
        run = cardingest(*args, "--archive", archive, home=home)
        assert run.code == 1, (args, run.stderr)
        assert "cardingest audit --repair" in run.stderr + run.text, args
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == [
        "JBX3656-20080530-155601.jpg"
    ]  # the refused ingest copied nothing; the refused tag wrote no sidecar
    assert (card / "DCIM/100CANON/IMG_0001.JPG").exists()  # the refused wipe removed nothing
    assert not (card.parent / "shared").exists()


def test_repair_sets_the_tail_aside_and_keeps_the_chain(
    archived: tuple[Path, Path, Path],
) -> None:
    home, card, archive = archived
    log = archive / ".cardingest" / "audit.jsonl"
    lines_before = log.read_bytes().count(b"\n")
    run = cardingest("audit", "--repair", "--archive", archive, "--json", home=home)
    assert run.code == 0, run.stderr
    document = run.json()
    assert document["ok"] is True and document["events"] == lines_before + 1
    repaired = document["repaired"]
    digest = hashlib.sha256(TORN).hexdigest()
    assert (repaired["size"], repaired["sha256"], repaired["line"]) == (
        len(TORN),
        digest,
        lines_before + 1,
    )
    assert (archive / repaired["set_aside"]).read_bytes() == TORN
    event = json.loads(log.read_bytes().splitlines()[-1])
    assert event["event"] == "audit-repair"
    assert (event["torn_bytes"], event["torn_sha256"]) == (len(TORN), digest)

    again = cardingest("audit", "--repair", "--archive", archive, home=home)
    assert again.code == 0 and "nothing to repair" in again.stderr
    ingest = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
    assert ingest.code == 0, ingest.stderr
    assert cardingest("verify", "--archive", archive, home=home).code == 0
    assert cardingest("audit", "--archive", archive, home=home).code == 0


def test_repair_refuses_a_log_edited_before_the_tail(archived: tuple[Path, Path, Path]) -> None:
    home, _card, archive = archived
    log = archive / ".cardingest" / "audit.jsonl"
    data = log.read_bytes()
    edited = data.replace(b'"operator":"', b'"operator":"X', 1)
    assert edited != data
    log.write_bytes(edited)
    run = cardingest("audit", "--repair", "--archive", archive, home=home)
    assert run.code == 1 and "Not repairing" in run.stderr
    assert log.read_bytes() == edited
    assert not (archive / ".cardingest" / "torn").exists()


def test_a_missing_head_is_written_again_when_every_line_checks_out(tmp_path: Path) -> None:
    """`audit.head` deleted (a tidy-up): every writer refuses and names the repair, which
    writes it again from the log and records that it did; the log then checks out and
    takes events. A log edited too is left for a person."""
    require_samples()
    [photo] = photos(1)
    card = folder_card(tmp_path / "card", {b"DCIM/100CANON/IMG_0001.JPG": photo})
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    assert cardingest("verify", "--archive", archive, home=home).code == 0
    log, head = archive / ".cardingest" / "audit.jsonl", archive / ".cardingest" / "audit.head"
    lines = log.read_bytes().count(b"\n")
    head.unlink()
    for args in (("verify",), ("tag", "JBX3656", "--diagnosis", "melanoma"), ("audit",)):
        run = cardingest(*args, "--archive", archive, home=home)
        assert run.code == 1 and "audit.head is missing" in run.stderr + run.text, args
        assert "cardingest audit --repair" in run.stderr + run.text, args
    edited = log.read_bytes()
    first, rest = edited.split(b"\n", 1)
    log.write_bytes(first.replace(b'"event":"ingest"', b'"event":"ingest "') + b"\n" + rest)
    refused = cardingest("audit", "--repair", "--archive", archive, home=home)
    assert refused.code == 1 and "needs a person" in refused.stderr, refused.stderr
    assert "nothing to repair" not in refused.stderr
    assert not head.exists()
    refused = cardingest("audit", "--repair", "--archive", archive, "--json", home=home)
    assert refused.code == 1 and "needs a person" in refused.stderr, refused.stderr
    document = json.loads(refused.text)  # the check's own document, naming the line
    assert (document["ok"], document["bad_line"], document["head_rebuilt"]) == (False, 1, None)
    assert not head.exists()
    log.write_bytes(edited)
    run = cardingest("audit", "--repair", "--archive", archive, "--json", home=home)
    assert run.code == 0, run.stderr
    document = json.loads(run.text)
    assert (document["ok"], document["head_rebuilt"], document["repaired"]) == (True, lines, None)
    [event] = [json.loads(x) for x in log.read_bytes().splitlines()[lines:]]
    assert (event["event"], event["head_rebuilt"], event["lines"]) == ("audit-repair", True, lines)
    assert (
        cardingest("tag", "JBX3656", "--diagnosis", "bcc", "--archive", archive, home=home).code
        == 0
    )
    assert cardingest("audit", "--archive", archive, home=home).code == 0


def test_repair_of_a_log_edited_with_no_torn_tail_says_it_needs_a_person(
    archived: tuple[Path, Path, Path],
) -> None:
    """Not "nothing to repair": the check that follows fails, and says where."""
    home, _card, archive = archived
    log = archive / ".cardingest" / "audit.jsonl"
    data = log.read_bytes().removesuffix(TORN)
    log.write_bytes(data.replace(b'"operator":"', b'"operator":"X', 1))
    run = cardingest("audit", "--repair", "--archive", archive, home=home)
    assert run.code == 1, run.stderr
    assert "Not repaired: an edited or removed line needs a person" in run.stderr
    assert "nothing to repair" not in run.stderr and "does not check out at line 1" in run.text


def test_a_head_fallen_behind_lines_that_check_out_is_written_again(tmp_path: Path) -> None:
    """Appends whose head could not be written (a full disk, before 2026-12): the log two
    lines ahead of audit.head, every command refused for good. `audit --repair` writes the
    head again when the head names a line of the log and every line checks out; a head
    ahead of the log (lines cut from the end) is left for a person."""
    require_samples()
    card = folder_card(tmp_path / "card", {b"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]})
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    meta = archive / ".cardingest"
    head_then = (meta / "audit.head").read_bytes()
    for _ in range(2):
        assert cardingest("verify", "--archive", archive, home=home).code == 0
    (meta / "audit.head").write_bytes(head_then)
    refused = cardingest("wipe", card, "--archive", archive, "--yes", home=home)
    assert refused.code == 1 and (card / "DCIM/100CANON/IMG_0001.JPG").exists()
    repaired = cardingest("audit", "--archive", archive, "--repair", home=home)
    assert repaired.code == 0, repaired.stderr
    assert "Wrote audit.head, 2 lines behind, again from the log's" in repaired.text
    events = [json.loads(line) for line in (meta / "audit.jsonl").read_bytes().splitlines()]
    assert events[-1]["event"] == "audit-repair" and "2 lines behind" in events[-1]["note"]
    assert cardingest("wipe", card, "--archive", archive, "--yes", home=home).code == 0
    assert cardingest("audit", "--archive", archive, home=home).code == 0
    # Ahead: the log's last two lines cut off. Not a lag: a person looks.
    log = (meta / "audit.jsonl").read_bytes().splitlines(keepends=True)
    (meta / "audit.jsonl").write_bytes(b"".join(log[:-2]))
    cut = cardingest("audit", "--archive", archive, "--repair", home=home)
    assert cut.code == 1 and "lines removed from the end" in cut.text + cut.stderr
