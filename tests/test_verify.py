"""`cardingest verify`: archive (and backup) copies re-hashed against the catalogue."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory, require
from clinic_helpers import cli, ingest_demo, invoke

from cardingest.archive.verify import CopyChecker, hash_file
from cardingest.errors import EXIT_FAILURE, EXIT_HELD, EXIT_OK, EXIT_USAGE


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


def jpegs(samples_dir: Path, count: int) -> list[Path]:
    found = [p for p in (samples_dir / "real").iterdir() if p.suffix.lower() in (".jpg", ".jpeg")]
    return sorted(found, key=lambda p: (p.stat().st_size, p.name))[:count]


def ingest(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path, *extra: str
) -> dict[str, str]:
    """Ingest 4 real photos (2 patients) from a card; card path -> archive path."""
    files = {
        f"DCIM/100CANON/IMG_{n:04d}.JPG": path
        for n, path in enumerate(jpegs(samples_dir, 4), start=1)
    }
    mount = fat_card(files)
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id\nIMG_0001-IMG_0002,JBX3656\nIMG_0003-IMG_0004,MCJ1984\n")
    result = cli("ingest", mount, "--map", map_file, "--archive", archive, "--json", *extra)
    assert result.exit_code == EXIT_OK, result.output
    return {item["source"]: item["target"] for item in json.loads(result.stdout)["items"]}


def verify(archive: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("verify", "--archive", archive, "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


def audit_events(archive: Path, kind: str) -> list[dict[str, Any]]:
    lines = (archive / ".cardingest" / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == kind]


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def kinds(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p["kind"], p["where"], p["path"]) for p in document["problems"]]


def test_clean_archive_verifies(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    ingest(fat_card, samples_dir, archive, tmp_path)

    code, document = verify(archive)
    text = cli("verify", "--archive", archive)

    assert (code, text.exit_code) == (EXIT_OK, EXIT_OK)
    assert document["ok"] is True
    assert document["problems"] == []
    summary = document["summary"]
    assert (summary["records"], summary["copies"], summary["ok"]) == (4, 4, 4)
    assert "all match" in text.stdout
    (event, _second) = audit_events(archive, "verify")
    assert event["ok"] is True
    assert event["counts"]["ok"] == 4


def test_flipped_byte_is_named(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    targets = ingest(fat_card, samples_dir, archive, tmp_path)
    damaged = targets["DCIM/100CANON/IMG_0002.JPG"]
    flip_byte(archive / damaged)

    code, document = verify(archive)
    text = cli("verify", "--archive", archive)

    assert (code, text.exit_code) == (EXIT_FAILURE, EXIT_FAILURE)
    assert kinds(document) == [("changed", "archive", damaged)]
    problem = document["problems"][0]
    assert problem["id"] == "JBX3656"
    assert problem["actual_sha256"] != problem["expected_sha256"]
    assert damaged in text.stdout
    event = audit_events(archive, "verify")[0]
    assert (event["ok"], event["changed"]) == (False, [damaged])


def test_a_copy_replaced_by_another_archived_photo_says_whose(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """A trial: a copy of JBX3656's replaced by one of MCJ1984's photos was "changed: 230349
    bytes, expected 14034", with no sha256, and no word that it is another patient's."""
    targets = sorted(ingest(fat_card, samples_dir, archive, tmp_path).values())
    mine = next(t for t in targets if t.startswith("JBX3656/"))
    theirs = next(t for t in targets if t.startswith("MCJ1984/"))
    (archive / mine).write_bytes((archive / theirs).read_bytes())
    code, document = verify(archive)
    assert code == EXIT_FAILURE
    (problem,) = document["problems"]
    assert (problem["kind"], problem["path"]) == ("changed", mine)
    assert problem["detail"].endswith(f": it holds the bytes of {theirs}, another patient's")
    assert problem["actual_sha256"] == hashlib.sha256((archive / theirs).read_bytes()).hexdigest()


def test_missing_unexpected_and_what_is_not_unexpected(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    targets = ingest(fat_card, samples_dir, archive, tmp_path)
    gone = targets["DCIM/100CANON/IMG_0003.JPG"]
    (archive / gone).unlink()
    kept = Path(targets["DCIM/100CANON/IMG_0001.JPG"])
    (archive / kept.with_suffix(".xmp")).write_text("<x:xmpmeta/>")
    (archive / "JBX3656" / "stray.jpg").write_bytes(b"who put this here")
    (archive / "JBX3656" / "old").mkdir()
    (archive / "JBX3656" / "old" / "copy.jpg").write_bytes(b"and this")
    (archive / ".cardingest" / "notes.txt").write_text("metadata is not checked")
    (archive / "README.txt").write_text("outside the patient folders")

    code, document = verify(archive)

    assert code == EXIT_FAILURE
    found = [k for k in kinds(document) if k[0] != "exposed"]  # see test_permissions.py
    assert sorted(found) == [
        ("missing", "archive", gone),
        ("unexpected", "archive", "JBX3656/old/copy.jpg"),
        ("unexpected", "archive", "JBX3656/stray.jpg"),
        ("unexpected", "archive", "README.txt"),  # the top level too (issue 12, item 6)
    ]
    summary = document["summary"]
    assert (summary["missing"], summary["unexpected"], summary["changed"]) == (1, 3, 0)


def test_id_limits_the_check_to_one_patient(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    targets = ingest(fat_card, samples_dir, archive, tmp_path)
    flip_byte(archive / targets["DCIM/100CANON/IMG_0004.JPG"])

    code, document = verify(archive, "--id", "jbx3656")
    assert code == EXIT_OK
    assert (document["id"], document["summary"]["records"]) == ("JBX3656", 2)

    code, document = verify(archive, "--id", "MCJ1984")
    assert code == EXIT_FAILURE
    assert kinds(document) == [("changed", "archive", targets["DCIM/100CANON/IMG_0004.JPG"])]


def kept_by_the_wipe(mount: Path, archive: Path) -> list[dict[str, Any]]:
    """The items `wipe --yes` keeps on the card, which it must report held (exit 3)."""
    wiped = cli("wipe", mount, "--archive", archive, "--yes", "--json")
    assert wiped.exit_code == EXIT_HELD, wiped.output
    return [i for i in json.loads(wiped.stdout)["items"] if i["action"] == "keep"]


def test_backup_copies_are_verified_and_gate_the_wipe(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    targets = ingest(fat_card, samples_dir, archive, tmp_path, "--backup", str(backup))
    damaged = backup / targets["DCIM/100CANON/IMG_0001.JPG"]
    flip_byte(damaged)

    code, document = verify(archive)

    assert code == EXIT_FAILURE
    assert document["summary"]["copies"] == 8
    assert kinds(document) == [("changed", "backup", str(damaged))]
    mount = fat_card.cards[0].mountpoint
    kept = kept_by_the_wipe(mount, archive)
    assert [i["source"] for i in kept] == ["DCIM/100CANON/IMG_0001.JPG"]
    assert kept[0]["reason"].startswith(f"backup copy {damaged} no longer matches")
    assert (mount / "DCIM/100CANON/IMG_0001.JPG").exists()


def test_a_damaged_archive_copy_keeps_the_photo_on_the_card_though_its_backup_is_good(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """A mutant that let the gate look past a bad archive copy to the good backup wiped the
    photo: every copy must hold the card's bytes, not the last one looked at."""
    backup = tmp_path / "backup"
    targets = ingest(fat_card, samples_dir, archive, tmp_path, "--backup", str(backup))
    damaged = archive / targets["DCIM/100CANON/IMG_0002.JPG"]
    flip_byte(damaged)

    code, document = verify(archive)

    assert code == EXIT_FAILURE
    assert kinds(document) == [("changed", "archive", targets["DCIM/100CANON/IMG_0002.JPG"])]
    mount = fat_card.cards[0].mountpoint
    kept = kept_by_the_wipe(mount, archive)
    assert [i["source"] for i in kept] == ["DCIM/100CANON/IMG_0002.JPG"]
    relative = targets["DCIM/100CANON/IMG_0002.JPG"]
    assert kept[0]["reason"].startswith(f"archive copy {relative} no longer matches")
    assert (mount / "DCIM/100CANON/IMG_0002.JPG").exists()
    assert not (mount / "DCIM/100CANON/IMG_0001.JPG").exists()


def test_a_backup_that_is_the_archive_file_itself_is_no_second_copy(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """A backup copy hard-linked to the archive copy (a deduplicating tool's work) is one
    file on one disk: `verify` says so rather than count two good copies (a mutant that
    left the check out passed every test)."""
    backup = tmp_path / "backup"
    targets = ingest(fat_card, samples_dir, archive, tmp_path, "--backup", str(backup))
    linked = backup / targets["DCIM/100CANON/IMG_0003.JPG"]
    linked.unlink()
    linked.hardlink_to(archive / targets["DCIM/100CANON/IMG_0003.JPG"])

    code, document = verify(archive)

    assert code == EXIT_FAILURE
    assert kinds(document) == [("changed", "backup", str(linked))]
    assert document["summary"]["copies"] == 8


def test_no_catalogue_is_an_error(archive: Path) -> None:
    result = cli("verify", "--archive", archive)
    assert result.exit_code == EXIT_USAGE
    assert "No catalogue" in result.stderr
    assert not archive.exists()


def test_copy_checker_reads_each_copy_once(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"x" * 3_000_000)
    size, digest = 3_000_000, hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert hash_file(path) == (size, digest)
    checker = CopyChecker()

    assert checker.check(path, size, digest).ok
    assert checker.check(path, size, digest).ok
    assert checker.bytes_read == size
    assert checker.check(tmp_path / "gone.jpg", 1, digest).status == "missing"
    assert checker.check(path, size + 1, digest).status == "changed"


def test_a_log_edited_by_hand_does_not_stop_the_photos_being_checked(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """A trial: with one line of the audit log edited, verify refused to check a photo, when
    a tampered log is when IT most needs to know the photos are intact. The photos are
    checked; the verify is not written after the edited line (exit 1, said), nor is any
    change --fix-permissions would make."""
    targets = ingest(fat_card, samples_dir, archive, tmp_path)
    log = archive / ".cardingest" / "audit.jsonl"
    assert verify(archive)[0] == EXIT_OK  # a second line, after the ingest's
    lines = log.read_text().splitlines(keepends=True)
    edited = lines[0].replace('"operator":"', '"operator":"x', 1)
    assert edited != lines[0]
    log.write_text("".join([edited, *lines[1:]]))
    before = log.read_bytes()
    damaged = targets["DCIM/100CANON/IMG_0002.JPG"]
    flip_byte(archive / damaged)

    code, document = verify(archive)
    assert code == EXIT_FAILURE
    assert kinds(document) == [("changed", "archive", damaged)]
    (warning,) = [w for w in document["warnings"] if "not recorded in the audit log" in w]
    assert "does not check out at line 1" in warning, warning
    assert log.read_bytes() == before
    fixing = cli("verify", "--archive", archive, "--fix-permissions")
    assert fixing.exit_code == EXIT_FAILURE and "does not check out" in fixing.stderr
    assert log.read_bytes() == before


def test_a_patient_folder_that_is_another_mount_holds_no_copies(
    tmp_path: Path, test_ids: Path
) -> None:
    """A mutation round's find: a tmpfs mounted in the archive in place of a patient's
    folder, holding the very files, passed for that patient's copies (memory, or the card,
    standing in for the archive). verify calls every copy there unreadable, naming the
    mount; move takes none of them; the wipe refuses the archive."""
    require(os.geteuid() == 0, "mounting a tmpfs in the archive needs root")
    require(shutil.which("mount") is not None, "no mount command")
    card, archive, _ = ingest_demo(tmp_path)
    folder = archive / "ZAC5361"
    names = sorted(p.name for p in folder.iterdir())
    aside = tmp_path / "aside"
    shutil.copytree(folder, aside)
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        before = sorted(conn.execute("SELECT archive_path, patient_id FROM files"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    require(mounted.returncode == 0, f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        for name in names:
            shutil.copy2(aside / name, folder / name)
        code, out, err = invoke("verify", "--archive", archive, "--json")
        assert code == EXIT_FAILURE, out + err
        problems = {
            p["path"]: p for p in json.loads(out)["problems"] if p["path"].startswith("ZAC5361/")
        }
        photos = {f"ZAC5361/{name}" for name in names if name.endswith(".jpg")}
        assert photos and set(problems) == photos, problems
        for problem in problems.values():
            assert problem["kind"] == "unreadable", problem
            assert "its folder ZAC5361 is another file system mounted in the archive" in str(
                problem
            ), problem
        code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067",
                                "--archive", archive)  # fmt: skip
        said = " ".join((out + err).split())
        assert code == EXIT_FAILURE, said
        assert "Nothing was moved" in said and "another file system mounted" in said, said
        code, out, err = invoke("wipe", card, "--dry-run", "--archive", archive)
        said = " ".join((out + err).split())
        assert code == EXIT_USAGE and f"{folder} is another file system mounted inside" in said
        assert sorted(p.name for p in folder.iterdir()) == names
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        assert sorted(conn.execute("SELECT archive_path, patient_id FROM files")) == before
