"""`verify` written out in full where the mutation run of ``archive/verify`` found no test
(issue 20): every field of every problem, the audit events it writes, the problem marks it
leaves in the catalogue, its byte counts, strays in every place an archive can hold one, and a
copy this process may not read.

Archives are made by the real CLI from a card folder of JPEGs with known capture times, so
every archive path below is a literal; sizes and checksums come from ``hashlib`` over the
card's own files. The unreadable copy is read by ``nodac.py``: the real CLI in a process
without root's right to read any file.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cardimage import require
from clinic_helpers import camera_jpeg, cli

from cardingest.archive.readonly import reading
from cardingest.archive.verify import total_bytes, verify_archive

NODAC = Path(__file__).with_name("nodac.py")
OPERATOR = "nurse-kim"
A1 = "JBX3656/JBX3656-20240102-030405.jpg"
A2 = "JBX3656/JBX3656-20240102-030406.jpg"
B1 = "MCJ1984/MCJ1984-20240203-101112.jpg"
SHOTS = {  # card file -> (capture time, colour, archive path)
    "IMG_0001.JPG": (datetime(2024, 1, 2, 3, 4, 5), (200, 10, 10), A1),
    "IMG_0002.JPG": (datetime(2024, 1, 2, 3, 4, 6), (10, 200, 10), A2),
    "IMG_0003.JPG": (datetime(2024, 2, 3, 10, 11, 12), (10, 10, 200), B1),
}
MAP = "files,id\nIMG_0001-IMG_0002,JBX3656\nIMG_0003,MCJ1984\n"


class Shot:
    def __init__(self, card_file: Path) -> None:
        data = card_file.read_bytes()
        self.size = len(data)
        self.sha = hashlib.sha256(data).hexdigest()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'operator = "{OPERATOR}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(path))
    return path


def make_card(root: Path, names: list[str]) -> Path:
    for name in names:
        when, colour, _ = SHOTS[name]
        camera_jpeg(root / "DCIM" / "100CANON" / name, when, size=(64, 48), colour=colour)
    return root


def ingest(card: Path, archive: Path, map_text: str, *extra: str | Path) -> dict[str, Any]:
    map_file = card.parent / f"{card.name}-map.csv"
    map_file.write_text(map_text, encoding="utf-8")
    result = cli("ingest", card, "--map", map_file, "--archive", archive, "--json", *extra)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def shots(card: Path) -> dict[str, Shot]:
    """Archive path -> size and sha256 of the card file it was copied from."""
    return {path: Shot(card / "DCIM" / "100CANON" / name) for name, (_, _, path) in SHOTS.items()}


def verify_json(archive: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("verify", "--archive", archive, "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


def events(archive: Path, kind: str) -> list[dict[str, Any]]:
    """The audit log's events of one kind, without the fields every event has."""
    lines = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    found = [json.loads(line) for line in lines]
    for event in found:
        assert {"ts", "prev", "seq", "host"} <= set(event)
    return [
        {k: v for k, v in e.items() if k not in ("ts", "prev", "seq", "host")}
        for e in found
        if e["event"] == kind
    ]


@pytest.fixture
def private_umask() -> Iterator[None]:
    """Files the test makes are private (0600), like the archive's own: only those the test
    opens up on purpose are "exposed"."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def key(problem: dict[str, Any]) -> tuple[str, str, str]:
    return (problem["kind"], problem["where"], problem["path"])


@pytest.fixture
def archive_with_backup(
    tmp_path: Path, config: Path, private_umask: None
) -> tuple[Path, Path, dict[str, Shot]]:
    card = make_card(tmp_path / "card", list(SHOTS))
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    backup.parent.mkdir()
    document = ingest(card, archive, MAP, "--backup", backup)
    assert sorted(item["target"] for item in document["items"]) == [A1, A2, B1]
    return archive, backup, shots(card)


def test_every_problem_of_a_whole_archive_in_full(
    archive_with_backup: tuple[Path, Path, dict[str, Shot]],
) -> None:
    archive, backup, shot = archive_with_backup
    (archive / A1).unlink()  # missing from a folder that is there
    flip_byte(archive / A2)  # changed, same size
    (backup / B1).write_bytes((backup / B1).read_bytes()[:100])  # changed size
    (backup / A1).chmod(0o644)  # a backup copy others can read
    group = grp.getgrgid((backup / A1).stat().st_gid).gr_name
    (archive / "JBX3656" / "notes.txt").write_text("stray")  # beside catalogued photos
    (archive / "JBX3656" / "JBX3656-20240102-030405.jpg.xmp").write_text("a photo's sidecar")
    (archive / "JBX3656" / "JBX3656-20240102-030406.XMP").write_text("a sidecar, upper case")
    (archive / "JBX3656" / ".cardingest-tmp-123").write_text("a copy in progress")
    (archive / "A-notes.txt").write_text("a file at the top, sorted before the folders")
    (archive / "holiday.jpg").write_text("a file at the top")
    (archive / ".cardingest-tmp-9").write_text("a temporary at the top")
    (archive / "ACA31FM").mkdir()  # a folder never catalogued, with a file
    (archive / "ACA31FM" / "x.jpg").write_text("filed by hand")
    (archive / "EMPTY").mkdir()
    (archive / "lost+found").mkdir()
    (archive / "System Volume Information").mkdir()
    (archive / "$RECYCLE.BIN").mkdir()
    (archive / "zz-link").symlink_to(archive / "EMPTY")  # a link is not entered

    code, document = verify_json(archive)

    assert code == 1
    assert document["archive"] == str(archive)
    assert document["id"] is None
    assert document["ok"] is False
    a1, a2, b1 = shot[A1], shot[A2], shot[B1]
    changed_a2 = hashlib.sha256((archive / A2).read_bytes()).hexdigest()
    assert a2.sha != changed_a2
    expected = [
        {
            "kind": "missing",
            "path": A1,
            "where": "archive",
            "id": "JBX3656",
            "expected_sha256": a1.sha,
            "actual_sha256": None,
            "detail": "not found",
        },
        {
            "kind": "changed",
            "path": A2,
            "where": "archive",
            "id": "JBX3656",
            "expected_sha256": a2.sha,
            "actual_sha256": changed_a2,
            "detail": f"sha256 {changed_a2}, expected {a2.sha}",
        },
        {
            "kind": "changed",
            "path": str(backup / B1),
            "where": "backup",
            "id": "MCJ1984",
            "expected_sha256": b1.sha,
            "actual_sha256": hashlib.sha256((backup / B1).read_bytes()).hexdigest(),
            "detail": f"100 bytes, expected {b1.size}",
        },
        {
            "kind": "unexpected",
            "path": "A-notes.txt",
            "where": "archive",
            "id": None,
            "expected_sha256": None,
            "actual_sha256": None,
            "detail": "a file at the archive's top level",
        },
        {
            "kind": "unexpected",
            "path": "ACA31FM/x.jpg",
            "where": "archive",
            "id": None,
            "expected_sha256": None,
            "actual_sha256": None,
            "detail": "in a folder with no catalogued photo",
        },
        {
            "kind": "unexpected",
            "path": "EMPTY/",
            "where": "archive",
            "id": None,
            "expected_sha256": None,
            "actual_sha256": None,
            "detail": "an empty folder, not catalogued",
        },
        {
            "kind": "unexpected",
            "path": "JBX3656/notes.txt",
            "where": "archive",
            "id": None,
            "expected_sha256": None,
            "actual_sha256": None,
            "detail": "not in the catalogue",
        },
        {
            "kind": "unexpected",
            "path": "holiday.jpg",
            "where": "archive",
            "id": None,
            "expected_sha256": None,
            "actual_sha256": None,
            "detail": "a file at the archive's top level",
        },
        {
            "kind": "unexpected",
            "path": "zz-link",
            "where": "archive",
            "id": None,
            "expected_sha256": None,
            "actual_sha256": None,
            "detail": "a symbolic link at the archive's top level",
        },
        {
            "kind": "exposed",
            "path": str(backup / A1),
            "where": "backup",
            "id": None,
            "expected_sha256": None,
            "actual_sha256": None,
            "detail": f"file open to other accounts and group {group} while no archive_group"
            " is set (mode -rw-r--r--)",
        },
    ]
    assert sorted(document["problems"], key=key) == sorted(expected, key=key)
    # Read in full: the archive copies of A2 and B1, the backup copies of A1 and A2 (the
    # missing copy and the one of the wrong size are not read).
    read = a2.size + b1.size + a1.size + a2.size
    assert document["summary"] == {
        "records": 3,
        "copies": 6,
        "ok": 3,
        "missing": 1,
        "changed": 2,
        "unreadable": 0,
        "unexpected": 6,
        "exposed": 1,
        "keywords": 0,
        "invalid": 0,
        "manifest": 0,
        "bytes": read,
    }
    (event,) = events(archive, "verify")
    assert event == {
        "event": "verify",
        "operator": OPERATOR,
        "archive": str(archive),
        "id": None,
        "ok": False,
        "counts": {
            "records": 3,
            "copies": 6,
            "ok": 3,
            "missing": 1,
            "changed": 2,
            "unreadable": 0,
            "unexpected": 6,
            "exposed": 1,
            "keywords": 0,
            "invalid": 0,
            "manifest": 0,
        },
        "missing": [A1],
        "changed": [A2, str(backup / B1)],
        "unreadable": [],
        "unexpected": [
            "A-notes.txt",
            "ACA31FM/x.jpg",
            "EMPTY/",
            "JBX3656/notes.txt",
            "holiday.jpg",
            "zz-link",
        ],
        "exposed": [str(backup / A1)],
        "keywords": [],
        "invalid": [],
        "manifest": [],
    }
    with reading(archive) as catalogue:
        assert catalogue.problems() == {
            A1: "archive copy JBX3656-20240102-030405.jpg is missing",
            A2: "archive copy JBX3656-20240102-030406.jpg no longer matches",
            B1: "backup copy MCJ1984-20240203-101112.jpg no longer matches",
        }


def test_one_patients_check_walks_that_patients_folders_only(
    tmp_path: Path, config: Path, private_umask: None
) -> None:
    """Two ingests of JBX3656, the second with a nested folder template: the patient's photos
    sit in ``JBX3656/`` and ``JBX3656/2024/``. ``verify --id`` walks the whole patient folder
    (a ``.cardingest`` inside it too), sidecars and temporaries aside, and never another
    patient's folder; test_verify_id.py compares it with the whole archive's check."""
    archive = tmp_path / "archive"
    first = "files,id\nIMG_0001,JBX3656\nIMG_0003,MCJ1984\n"
    ingest(make_card(tmp_path / "card1", ["IMG_0001.JPG", "IMG_0003.JPG"]), archive, first)
    config.write_text(
        f'operator = "{OPERATOR}"\nfolder_template = "{{id}}/{{year}}"\n', encoding="utf-8"
    )
    ingest(make_card(tmp_path / "card2", ["IMG_0002.JPG"]), archive, "files,id\nIMG_0002,JBX3656\n")
    nested = "JBX3656/2024/JBX3656-20240102-030406.jpg"
    assert (archive / nested).is_file()
    patient = archive / "JBX3656"
    (patient / "notes.txt").write_text("stray")
    (patient / "JBX3656-20240102-030405.XMP").write_text("sidecar, stem, upper case")
    (patient / "JBX3656-20240102-030405.jpg.xmp").write_text("sidecar, whole name")
    (patient / "JBX3656-20240102-030405.JPG.XMP").write_text("sidecar, whole name, upper")
    (patient / ".cardingest-tmp-77").write_text("a copy in progress")
    (patient / "2024" / "stray.jpg").write_text("beside the nested photo")
    (patient / "2024" / "JBX3656-20240102-030406.xmp").write_text("nested sidecar")
    (patient / "old" / "deeper").mkdir(parents=True)
    (patient / "old" / "deeper" / "x.jpg").write_text("two folders down")
    (patient / "old" / ".cardingest").mkdir()
    (patient / "old" / ".cardingest" / "y.jpg").write_text("not the archive's metadata")
    (archive / "MCJ1984" / "other.txt").write_text("another patient's stray")
    (archive / "top.txt").write_text("at the top")

    code, document = verify_json(archive, "--id", "JBX3656")

    assert code == 1
    assert document["id"] == "JBX3656"
    no_photo = "in a folder with no catalogued photo"
    assert [(p["kind"], p["path"], p["where"], p["detail"]) for p in document["problems"]] == [
        ("unexpected", "JBX3656/notes.txt", "archive", "not in the catalogue"),
        ("unexpected", "JBX3656/2024/stray.jpg", "archive", "not in the catalogue"),
        ("unexpected", "JBX3656/old/.cardingest/y.jpg", "archive", no_photo),
        ("unexpected", "JBX3656/old/deeper/x.jpg", "archive", no_photo),
    ]
    assert document["summary"]["records"] == 2
    (event,) = events(archive, "verify")
    assert (event["id"], event["ok"], event["unexpected"]) == (
        "JBX3656",
        False,
        [
            "JBX3656/notes.txt",
            "JBX3656/2024/stray.jpg",
            "JBX3656/old/.cardingest/y.jpg",
            "JBX3656/old/deeper/x.jpg",
        ],
    )
    # The whole archive: folders that hold catalogued photos (at any depth) are told apart
    # from folders that do not.
    code, document = verify_json(archive)
    found = [(p["path"], p["detail"]) for p in document["problems"] if p["kind"] == "unexpected"]
    assert found == [
        ("JBX3656/notes.txt", "not in the catalogue"),
        ("JBX3656/2024/stray.jpg", "not in the catalogue"),
        # Only the archive's own .cardingest is metadata: one deeper down is looked into.
        ("JBX3656/old/.cardingest/y.jpg", "in a folder with no catalogued photo"),
        ("JBX3656/old/deeper/x.jpg", "in a folder with no catalogued photo"),
        ("MCJ1984/other.txt", "not in the catalogue"),
        ("top.txt", "a file at the archive's top level"),
    ]
    (archive / "planted").symlink_to("/etc")  # another account's link: named as one
    code, document = verify_json(archive)
    found = [(p["path"], p["detail"]) for p in document["problems"] if p["kind"] == "unexpected"]
    assert ("planted", "a symbolic link at the archive's top level") in found


def test_a_patient_folder_whose_photos_are_all_gone_is_not_a_stray_folder(
    archive_with_backup: tuple[Path, Path, dict[str, Shot]],
) -> None:
    archive, _, _ = archive_with_backup
    for photo in (archive / "JBX3656").iterdir():
        photo.unlink()
    code, document = verify_json(archive)
    assert code == 1
    assert [(p["kind"], p["path"]) for p in document["problems"]] == [
        ("missing", A1),
        ("missing", A2),
    ]


def test_a_sidecar_of_a_name_with_two_dots(
    tmp_path: Path, config: Path, private_umask: None
) -> None:
    """``name.v2.jpg``'s sidecar is ``name.v2.xmp``, not ``name.xmp``."""
    config.write_text(
        f'operator = "{OPERATOR}"\nname_template = "{{id}}.{{date}}.{{time}}"\n',
        encoding="utf-8",
    )
    archive = tmp_path / "archive"
    ingest(make_card(tmp_path / "card", ["IMG_0001.JPG"]), archive, "files,id\nIMG_0001,JBX3656\n")
    photo = archive / "JBX3656" / "JBX3656.20240102.030405.jpg"
    assert photo.is_file()
    (archive / "JBX3656" / "JBX3656.xmp").write_text("not this photo's")
    code, document = verify_json(archive)
    assert code == 1
    assert [(p["kind"], p["path"]) for p in document["problems"]] == [
        ("unexpected", "JBX3656/JBX3656.xmp")
    ]


def test_bytes_to_read_and_bytes_read(
    archive_with_backup: tuple[Path, Path, dict[str, Shot]],
) -> None:
    archive, _, shot = archive_with_backup
    a1, a2, b1 = shot[A1].size, shot[A2].size, shot[B1].size
    assert total_bytes(archive) == 2 * (a1 + a2 + b1)
    assert total_bytes(archive, "JBX3656") == 2 * (a1 + a2)
    assert isinstance(total_bytes(archive), int)
    chunks: list[int] = []
    report = verify_archive(archive, patient_id="MCJ1984", on_bytes=chunks.append)
    assert report.ok and (report.records, report.copies, report.ok_copies) == (1, 2, 2)
    assert report.archive == str(archive)
    assert sum(chunks) == report.bytes_read == 2 * b1
    assert all(isinstance(chunk, int) and chunk > 0 for chunk in chunks)


def test_fix_permissions_closes_what_was_exposed_and_records_it(
    archive_with_backup: tuple[Path, Path, dict[str, Shot]],
) -> None:
    archive, backup, _ = archive_with_backup
    (archive / A2).chmod(0o644)
    (archive / "MCJ1984").chmod(0o755)
    (backup / B1).chmod(0o604)

    result = cli("verify", "--archive", archive, "--fix-permissions", "--json")

    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["tightened"] == ["MCJ1984", A2, str(backup / B1)]
    assert document["problems"] == []
    # No archive_group: the account's own group (it may hold every account) loses its access.
    assert stat.S_IMODE((archive / A2).stat().st_mode) == 0o600
    assert stat.S_IMODE((archive / "MCJ1984").stat().st_mode) == 0o700
    assert stat.S_IMODE((backup / B1).stat().st_mode) == 0o600
    assert events(archive, "permissions") == [
        {
            "event": "permissions",
            "operator": OPERATOR,
            "archive": str(archive),
            "tightened": ["MCJ1984", A2, str(backup / B1)],
        }
    ]
    (event,) = events(archive, "verify")
    assert (event["ok"], event["exposed"]) == (True, [])
    # Nothing left to close: no second permissions event.
    assert cli("verify", "--archive", archive, "--fix-permissions").exit_code == 0
    assert len(events(archive, "permissions")) == 1


def verify_as_a_process_that_cannot_read(archive: Path, unreadable: Path) -> tuple[int, str]:
    """``verify --archive ARCHIVE --json`` run by ``nodac.py`` (next to this file): a process
    that has given up the right to read files whose mode says no, as every account but root
    lacks it: (exit code, stdout). Skips (fails under CARDINGEST_STRICT=1) where it cannot."""
    command = [sys.executable, str(NODAC), str(unreadable)]
    done = subprocess.run(
        [*command, "verify", "--archive", str(archive), "--json"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr.decode(errors="replace"), done.stderr
    require(done.returncode != 71, "cannot drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH here")
    require(done.returncode != 72, "a mode-000 file stays readable here (other capabilities?)")
    return done.returncode, done.stdout.decode("utf-8")


def test_a_copy_that_cannot_be_read_is_unreadable_with_the_reason(
    archive_with_backup: tuple[Path, Path, dict[str, Shot]],
) -> None:
    """One archive copy whose mode is 000 (stat works, opening it does not) and a patient
    folder that cannot be entered (stat itself fails): both 'unreadable', with the system's
    reason; neither is marked for repair, and the audit event lists both."""
    archive, backup, shot = archive_with_backup
    (archive / A2).chmod(0o000)
    (archive / "MCJ1984").chmod(0o000)
    try:
        code, stdout = verify_as_a_process_that_cannot_read(archive, archive / A2)
    finally:
        (archive / A2).chmod(0o600)
        (archive / "MCJ1984").chmod(0o700)
    document = json.loads(stdout)
    assert code == 1
    assert document["problems"] == [
        {
            "kind": "unreadable",
            "path": A2,
            "where": "archive",
            "id": "JBX3656",
            "expected_sha256": shot[A2].sha,
            "actual_sha256": None,
            "detail": "Permission denied",
        },
        {
            "kind": "unreadable",
            "path": B1,
            "where": "archive",
            "id": "MCJ1984",
            "expected_sha256": shot[B1].sha,
            "actual_sha256": None,
            "detail": "Permission denied",
        },
    ]
    assert document["summary"]["bytes"] == 2 * shot[A1].size + shot[A2].size + shot[B1].size
    (event,) = events(archive, "verify")
    assert (event["ok"], event["unreadable"], event["missing"], event["changed"]) == (
        False,
        [A2, B1],
        [],
        [],
    )
    with reading(archive) as catalogue:
        assert catalogue.problems() == {}
    # Readable again (and checked in this process too): every copy is as it was.
    code, document = verify_json(archive)
    assert (code, document["problems"], document["summary"]["ok"]) == (0, [], 6)
    assert (backup / A2).is_file()
