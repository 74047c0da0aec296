"""`verify` compares the coreutils manifests with the catalogue: they are the archive's proof
without cardingest (``sha256sum -c``), and a manifest that leaves a catalogued copy out, lists
it with another digest, or lists a file the catalogue does not have no longer proves it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clinic_helpers import camera_jpeg, cli
from test_verify_mutants import (
    A1,
    A2,
    B1,
    MAP,
    SHOTS,
    Shot,
    events,
    ingest,
    make_card,
    shots,
    verify_json,
)

from cardingest.archive.manifest import (
    manifest_path,
    manifested_ingests,
    rewrite_manifests,
    write_archive_manifest,
    write_copies_manifest,
)
from cardingest.archive.readonly import reading
from cardingest.archive.verify import MANIFEST_LINES_LISTED

Archived = tuple[Path, Path, dict[str, Shot]]


@pytest.fixture
def archived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Archived]:
    """A card of three photos (two patients) ingested with a backup, files made private."""
    (tmp_path / "config.toml").write_text('operator = "nurse-kim"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(tmp_path / "config.toml"))
    previous = os.umask(0o077)
    try:
        card = make_card(tmp_path / "card", list(SHOTS))
        archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
        backup.parent.mkdir()
        ingest(card, archive, MAP, "--backup", backup)
        yield archive, backup, shots(card)
    finally:
        os.umask(previous)


def manifest(root: Path) -> Path:
    (ingest_id,) = manifested_ingests(root)
    return root / ".cardingest" / "manifests" / f"{ingest_id}.sha256"


def problems(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (p["where"], p["path"], p["detail"])
        for p in document["problems"]
        if p["kind"] == "manifest"
    )


def sha256sum_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sha256sum", "--strict", "-c", manifest(root)], cwd=root,
                          capture_output=True, text=True)  # fmt: skip


def test_manifests_as_written_agree(
    archived: Archived,
) -> None:
    archive, backup, _shot = archived
    code, document = verify_json(archive)
    assert code == 0 and document["summary"]["manifest"] == 0, document
    for root in (archive, backup):
        assert sha256sum_check(root).returncode == 0


def test_a_manifest_edited_by_hand_is_listed_line_by_line(
    archived: Archived,
) -> None:
    archive, backup, shot = archived
    own, theirs = manifest(archive), manifest(backup)
    shown = own.relative_to(archive).as_posix()
    lines = own.read_text().splitlines()
    kept = [line for line in lines if not line.endswith(A1)]  # a copy left out
    kept = [line.replace(shot[A2].sha, "0" * 64) for line in kept]  # another digest
    kept.append(f"{shot[B1].sha}  JBX3656/JBX3656-20240102-030407.jpg")  # no such copy
    own.write_text("\n".join(kept) + "\n")
    theirs.unlink()  # the backup's manifest gone

    code, document = verify_json(archive)

    assert code == 1
    assert problems(document) == sorted([
        ("archive", A1, f"catalogued, not in {shown}"),
        ("archive", A2, f"in {shown} with sha256 {'0' * 16}…, catalogued {shot[A2].sha[:16]}…"),
        ("archive", "JBX3656/JBX3656-20240102-030407.jpg",
         f"in {shown}, but the catalogue has no such copy of ingest {own.stem}"),
        ("backup", str(theirs), f"missing: ingest {own.stem} has 3 catalogued copy(ies) here"),
    ])  # fmt: skip
    assert document["summary"]["manifest"] == 4
    assert sha256sum_check(archive).returncode != 0  # what the problems say, coreutils says
    code, document = verify_json(archive, "--id", "MCJ1984")
    assert code == 1
    assert problems(document) == [  # the ingest's copies of the patient checked, not its 3
        ("backup", str(theirs), f"missing: ingest {own.stem} has 1 of the patient's catalogued "
         "copy(ies) here"),
    ]  # fmt: skip


def test_one_patients_verify_looks_at_that_patients_lines_only(
    archived: Archived,
) -> None:
    archive, _backup, _shot = archived
    own = manifest(archive)
    shown = own.relative_to(archive).as_posix()
    lines = own.read_text().splitlines()
    own.write_text("\n".join(line for line in lines if not line.endswith(B1)) + "\n")

    code, document = verify_json(archive, "--id", "JBX3656")
    assert code == 0 and problems(document) == [], document
    code, document = verify_json(archive, "--id", "MCJ1984")
    assert code == 1 and problems(document) == [("archive", B1, f"catalogued, not in {shown}")]
    code, document = verify_json(archive)
    assert code == 1 and problems(document) == [("archive", B1, f"catalogued, not in {shown}")]


@pytest.mark.parametrize("where", ["a line twice", "a line cardingest cannot read"])
def test_a_manifest_that_is_not_as_written_is_said(archived: Archived, where: str) -> None:
    archive, _backup, _shot = archived
    own = manifest(archive)
    shown = own.relative_to(archive).as_posix()
    lines = own.read_text().splitlines()
    if where == "a line twice":
        own.write_text("\n".join([*lines, lines[0]]) + "\n")
        expected = [("archive", lines[0].split("  ", 1)[1], f"listed twice in {shown}")]
    else:
        own.write_text("\n".join([*lines, "not a checksum line"]) + "\n")
        expected = [("archive", shown, f"cannot be read: {own}: line 4 is not a sha256sum line")]
    code, document = verify_json(archive)
    assert code == 1 and problems(document) == expected, document


def test_fix_manifests_writes_them_again_from_the_catalogue(archived: Archived) -> None:
    """`verify --fix-manifests` writes the manifests found wrong again from the catalogue
    (in the archive and the backup folder), audited; `sha256sum -c` then holds in both."""
    archive, backup, _shot = archived
    own, theirs = manifest(archive), manifest(backup)
    written = {root: manifest(root).read_bytes() for root in (archive, backup)}
    own.write_text("\n".join(own.read_text().splitlines()[1:]) + "\n")
    theirs.unlink()

    code, document = verify_json(archive, "--fix-manifests")

    assert code == 0 and document["ok"] and problems(document) == [], document
    assert document["manifests"] == [own.relative_to(archive).as_posix(), str(theirs)]
    for root in (archive, backup):
        assert manifest(root).read_bytes() == written[root]
        assert sha256sum_check(root).returncode == 0
        assert manifest(root).stat().st_mode & 0o077 == 0
    (event,) = events(archive, "manifests")
    assert event["written"] == document["manifests"] and event["operator"] == "nurse-kim"
    (checked,) = events(archive, "verify")
    assert checked["ok"] and checked["manifest"] == []
    code, document = verify_json(archive, "--fix-manifests")  # nothing to write
    assert code == 0 and document["manifests"] == [] and len(events(archive, "manifests")) == 1


def test_the_terminal_says_what_to_run(archived: Archived) -> None:
    archive, _backup, _shot = archived
    own = manifest(archive)
    own.write_text("\n".join(own.read_text().splitlines()[1:]) + "\n")
    result = cli("verify", "--archive", archive)
    said = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "1 manifest line(s) not as catalogued" in said, said
    assert "`cardingest verify --fix-manifests` writes it again from the catalogue" in said, said
    result = cli("verify", "--archive", archive, "--fix-manifests")
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and f"Wrote {own.relative_to(archive)} again" in said, said
    assert "all match" in said, said


def test_a_line_for_another_ingests_copy_is_said(tmp_path: Path, archived: Archived) -> None:
    """A line in one ingest's manifest for a copy the catalogue files under another ingest
    (with a digest that is not its) fails `sha256sum -c`: verify says so too."""
    archive, _backup, shot = archived
    own = manifest(archive)
    second_ingest(tmp_path, archive)
    other = OTHER
    shown = own.relative_to(archive).as_posix()
    own.write_text(own.read_text() + f"{shot[A1].sha}  {other}\n")
    checked = subprocess.run(["sha256sum", "--strict", "-c", own], cwd=archive,
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode != 0, checked.stdout

    code, document = verify_json(archive)

    detail = f"in {shown}, but the catalogue has no such copy of ingest {own.stem}"
    assert code == 1 and problems(document) == [("archive", other, detail)], document


OTHER = "MCJ1984/MCJ1984-20240203-101113.jpg"
"""The one photo of `second_ingest`."""


def second_ingest(tmp_path: Path, archive: Path, *extra: str | Path) -> str:
    """A second ingest of one photo of MCJ1984 (`OTHER`) into ``archive``; its ingest ID."""
    before = set(manifested_ingests(archive))
    card = make_card(tmp_path / "card2", ["IMG_0001.JPG"])
    (card / "DCIM" / "100CANON" / "IMG_0001.JPG").unlink()
    when = SHOTS["IMG_0003.JPG"][0].replace(second=13)
    camera_jpeg(card / "DCIM" / "100CANON" / "IMG_0009.JPG", when, size=(64, 48))
    ingest(card, archive, "files,id\nIMG_0009,MCJ1984\n", *extra)
    (ingest_id,) = set(manifested_ingests(archive)) - before
    return ingest_id


def manifest_of(root: Path, ingest_id: str) -> Path:
    return root / ".cardingest" / "manifests" / f"{ingest_id}.sha256"


@pytest.mark.parametrize(
    "wrong", ["a line twice", "a line cardingest cannot read", "another digest", "a stray line"]
)
def test_fix_manifests_puts_right_each_kind_of_wrong_line(archived: Archived, wrong: str) -> None:
    """Each problem names the ingest whose manifest `--fix-manifests` then writes again: a
    problem filed under no ingest left its manifest as it was, and verify failing after."""
    archive, _backup, shot = archived
    own = manifest(archive)
    written = own.read_bytes()
    lines = own.read_text().splitlines()
    if wrong == "a line twice":
        lines.append(lines[0])
    elif wrong == "a line cardingest cannot read":
        lines.append("not a checksum line")
    elif wrong == "another digest":
        lines = [line.replace(shot[A2].sha, "0" * 64) for line in lines]
    else:
        lines.append(f"{shot[B1].sha}  JBX3656/JBX3656-20240102-030407.jpg")
    own.write_text("\n".join(lines) + "\n")

    code, document = verify_json(archive, "--fix-manifests")

    assert code == 0 and document["ok"] and problems(document) == [], document
    assert document["manifests"] == [own.relative_to(archive).as_posix()]
    assert own.read_bytes() == written
    assert sha256sum_check(archive).returncode == 0


def test_one_patients_verify_counts_a_stray_line_inside_that_patients_folders_only(
    archived: Archived,
) -> None:
    """With ``--id``, a line the catalogue does not have counts where it names the patient's
    folder or a path inside it, and not in a folder whose name only starts with the ID."""
    archive, _backup, shot = archived
    own = manifest(archive)
    shown = own.relative_to(archive).as_posix()
    inside, folder, beside = "JBX3656/JBX3656-20240102-030407.jpg", "JBX3656", "JBX36560/a.jpg"
    stray = [f"{shot[B1].sha}  {path}" for path in (inside, folder, beside)]
    own.write_text(own.read_text() + "\n".join(stray) + "\n")
    detail = f"in {shown}, but the catalogue has no such copy of ingest {own.stem}"

    code, document = verify_json(archive)
    assert code == 1
    assert problems(document) == sorted(("archive", p, detail) for p in (inside, folder, beside))
    code, document = verify_json(archive, "--id", "JBX3656")
    assert code == 1
    assert problems(document) == sorted(("archive", p, detail) for p in (inside, folder))
    code, document = verify_json(archive, "--id", "MCJ1984")
    assert code == 0 and problems(document) == [], document


def test_one_patients_verify_says_a_line_listed_twice_only_in_that_patients_folders(
    archived: Archived,
) -> None:
    """A line listed twice for another patient's photo is that patient's problem: with
    ``--id`` it was said in every patient's check (exit 1, the other's file named)."""
    archive, _backup, _shot = archived
    own = manifest(archive)
    shown = own.relative_to(archive).as_posix()
    lines = own.read_text().splitlines()
    own.write_text("\n".join([*lines, *(line for line in lines if line.endswith(B1))]) + "\n")
    expected = [("archive", B1, f"listed twice in {shown}")]

    for extra in ((), ("--id", "MCJ1984")):
        code, document = verify_json(archive, *extra)
        assert code == 1 and problems(document) == expected, (extra, document)
    code, document = verify_json(archive, "--id", "JBX3656")
    assert code == 0 and problems(document) == [], document


def test_one_patients_verify_reads_the_manifests_of_ingests_without_its_photos(
    tmp_path: Path, archived: Archived
) -> None:
    """An ingest with none of the patient's photos still has its manifest read with ``--id``:
    a line there for a file in the patient's folders is a line the catalogue does not have
    (it crashed verify where that ingest was given no list of copies)."""
    archive, _backup, shot = archived
    other = second_ingest(tmp_path, archive)
    theirs = manifest_of(archive, other)
    shown = theirs.relative_to(archive).as_posix()
    code, document = verify_json(archive, "--id", "JBX3656")
    assert code == 0 and problems(document) == [], document
    theirs.write_text(theirs.read_text() + f"{shot[A1].sha}  {A1}\n")

    code, document = verify_json(archive, "--id", "JBX3656")

    detail = f"in {shown}, but the catalogue has no such copy of ingest {other}"
    assert code == 1 and problems(document) == [("archive", A1, detail)], document


def test_a_running_ingests_manifests_are_left_out_and_the_others_still_read(
    tmp_path: Path, archived: Archived
) -> None:
    """An ingest still running (or stopped until the next run's recovery) has its manifests
    left out, and only its: the backup's manifest of the other ingest is still compared."""
    archive, backup, _shot = archived
    own, theirs = manifest(archive), manifest(backup)
    other = second_ingest(tmp_path, archive)
    manifest_of(archive, other).unlink()  # not yet written: the run is not done
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        conn.execute("UPDATE ingests SET status = 'running' WHERE ingest_id = ?", (other,))
    conn.close()
    theirs.write_text("\n".join(theirs.read_text().splitlines()[1:]) + "\n")
    first = own.read_text().splitlines()[0].split("  ", 1)[1]

    code, document = verify_json(archive)

    expected = [("backup", str(backup / first), f"catalogued, not in {theirs}")]
    assert code == 1 and problems(document) == expected, document


def test_a_backup_not_connected_is_no_manifest_problem_and_the_next_backup_is_read(
    tmp_path: Path, archived: Archived
) -> None:
    """A backup folder that is not there is said as such, not as missing manifests; the
    manifests in another backup folder (an ingest's after it) are still compared."""
    archive, backup, _shot = archived
    other_backup = tmp_path / "zbackup"
    other = second_ingest(tmp_path, archive, "--backup", other_backup)
    theirs = manifest_of(other_backup, other)
    shown = str(theirs)
    theirs.write_text(theirs.read_text().replace(OTHER, "MCJ1984/renamed.jpg"))
    backup.rename(tmp_path / "unplugged")

    code, document = verify_json(archive)

    assert code == 1 and any(str(backup) in warning for warning in document["warnings"]), document
    detail = f"in {shown}, but the catalogue has no such copy of ingest {other}"
    assert problems(document) == sorted([
        ("backup", str(other_backup / OTHER), f"catalogued, not in {shown}"),
        ("backup", str(other_backup / "MCJ1984/renamed.jpg"), detail),
    ]), document  # fmt: skip


def test_fix_manifests_leaves_said_a_manifest_it_cannot_write_from_the_catalogue(
    tmp_path: Path, archived: Archived
) -> None:
    """A backup folder holding the manifest of an ingest with no copy there (copied in by
    hand, or by a sync of two backups): `--fix-manifests` writes no manifest there, so its
    lines are still wrong and still said (exit 1); before, every manifest problem went off
    the report once any manifest was written, "all match", and the next verify said it
    again. The manifest is left as it is, and what could be written is."""
    archive, backup, _shot = archived
    own = manifest(archive)
    other = second_ingest(tmp_path, archive)
    copied = manifest_of(backup, other)
    copied.write_bytes(manifest_of(archive, other).read_bytes())
    detail = f"in {copied}, but the catalogue has no such copy of ingest {other}"
    expected = [("backup", str(backup / OTHER), detail)]
    own.write_text("\n".join(own.read_text().splitlines()[1:]) + "\n")  # this one can be

    code, document = verify_json(archive, "--fix-manifests")

    assert code == 1 and not document["ok"] and problems(document) == expected, document
    assert own.relative_to(archive).as_posix() in document["manifests"]
    (said,) = [w for w in document["warnings"] if w.startswith(f"{copied} disagrees")]
    assert "holds no copy of that ingest in its folder, so --fix-manifests wrote nothing" in said
    assert copied.read_bytes() == manifest_of(archive, other).read_bytes()
    (checked,) = events(archive, "verify")
    assert not checked["ok"] and len(checked["manifest"]) == 1, checked
    code, document = verify_json(archive)
    assert code == 1 and problems(document) == expected, document


def test_a_damaged_records_copies_are_not_manifest_problems(archived: Archived) -> None:
    """A catalogue row edited by hand is listed as invalid, once: its manifest lines, in the
    archive's manifest and the backup's, are not said again as lines of no catalogued copy
    (and `--fix-manifests`, which writes from the rows, could not make them go)."""
    archive, _backup, _shot = archived
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        conn.execute("UPDATE files SET size = -7 WHERE archive_path = ?", (A1,))
    conn.close()

    code, document = verify_json(archive)

    assert code == 1
    kinds = sorted((p["kind"], p["path"]) for p in document["problems"])
    assert kinds == [("invalid", A1)], document


@pytest.mark.parametrize(
    ("column", "value"), [("sha256", "not a digest"), ("archive_path", "../outside.jpg")]
)
def test_a_damaged_records_lines_are_known_by_its_path_or_by_its_content(
    archived: Archived, column: str, value: str
) -> None:
    """A row whose digest was edited still has its manifest lines known by its path, and one
    whose path was edited by its photo's digest: neither is said again as a line of no
    catalogued copy (in the archive's manifest or the backup's)."""
    archive, _backup, _shot = archived
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        conn.execute(f"UPDATE files SET {column} = ? WHERE archive_path = ?", (value, A1))
    conn.close()

    code, document = verify_json(archive)

    assert code == 1 and problems(document) == [], document
    shown = A1 if column == "sha256" else value
    assert [p["path"] for p in document["problems"] if p["kind"] == "invalid"] == [shown]


def test_a_digest_in_capitals_is_the_same_digest(archived: Archived) -> None:
    """`sha256sum -c` reads a digest's hex digits in either case (another tool's manifest, or
    one edited by hand), and so does verify: such a line is as catalogued."""
    archive, _backup, _shot = archived
    own = manifest(archive)
    first, *rest = own.read_text().splitlines()
    digest, path = first.split("  ", 1)
    own.write_text("\n".join([f"{digest.upper()}  {path}", *rest]) + "\n")
    assert sha256sum_check(archive).returncode == 0

    code, document = verify_json(archive)

    assert code == 0 and problems(document) == [], document


def test_a_fifo_or_a_link_named_as_a_manifest_is_unreadable_not_waited_on_or_followed(
    tmp_path: Path, archived: Archived
) -> None:
    """A trial: a FIFO named as a manifest hung `verify` (and `--fix-manifests`) for good,
    and a manifest that was a symbolic link was read wherever it led, outside the archive
    too. Each is said as unreadable, and `--fix-manifests` puts a file in its place without
    writing through the link."""
    archive, backup, _shot = archived
    own, theirs = manifest(archive), manifest(backup)
    written = {root: manifest(root).read_bytes() for root in (archive, backup)}
    own.unlink()
    os.mkfifo(own)
    outside = tmp_path / "elsewhere.sha256"
    outside.write_bytes(written[backup])
    theirs.unlink()
    theirs.symlink_to(outside)
    shown = own.relative_to(archive).as_posix()
    run = ["verify", "--archive", str(archive), "--json"]
    try:
        code, document = verify_subprocess(run)
    except subprocess.TimeoutExpired:
        pytest.fail("verify waited on a FIFO named as a manifest")
    found = problems(document)
    assert code == 1 and [p[:2] for p in found] == [("archive", shown), ("backup", str(theirs))]
    assert all(p[2].startswith("cannot be read:") for p in found), found
    assert "a symbolic link" in found[1][2], found

    code, document = verify_subprocess([*run, "--fix-manifests"])
    assert code == 0 and document["ok"], document
    for root in (archive, backup):
        assert not manifest(root).is_symlink() and manifest(root).is_file()
        assert manifest(root).read_bytes() == written[root]
    assert outside.read_bytes() == written[backup]


def test_rewrite_writes_each_ingest_with_rows_in_the_folders_holding_its_copies(
    tmp_path: Path, archived: Archived
) -> None:
    """An ingest with no rows (sorted first) writes nothing and stops no other; a folder that
    holds none of an ingest's copies gets no manifest (not an empty one, which `sha256sum -c`
    rejects); the others are written as the ingest wrote them."""
    archive, backup, _shot = archived
    own, theirs = manifest(archive), manifest(backup)
    ingest_id = own.stem
    written = {path: path.read_bytes() for path in (own, theirs)}
    own.unlink()
    theirs.unlink()
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    with reading(archive) as catalogue:
        assert write_archive_manifest(catalogue, archive, "0-no-rows") is None
        assert write_copies_manifest(catalogue, elsewhere, ingest_id) is None
        done = rewrite_manifests(
            catalogue, archive, {"0-no-rows": {backup}, ingest_id: [elsewhere, backup, backup]}
        )
    assert done == [own, theirs]
    assert {path: path.read_bytes() for path in done} == written
    assert not manifest_path(elsewhere, ingest_id).exists()
    assert not (elsewhere / ".cardingest").exists()
    assert not manifest_path(archive, "0-no-rows").exists()
    assert not manifest_path(backup, "0-no-rows").exists()


def verify_subprocess(args: list[str]) -> tuple[int, dict[str, Any]]:
    cardingest = str(Path(sys.executable).with_name("cardingest"))
    done = subprocess.run([cardingest, *args], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_manifest_of_many_stray_lines_is_listed_in_part_and_counted(
    archived: Archived,
) -> None:
    """Past MANIFEST_LINES_LISTED lines of one manifest, one more problem counts the rest (and
    the audit's `verify` event holds no more): a manifest of a million lines written by hand
    cost gigabytes when each was a problem. `--fix-manifests` still writes it again."""
    archive, _backup, shot = archived
    own = manifest(archive)
    shown = own.relative_to(archive).as_posix()
    written = own.read_bytes()
    stray = [
        f"{shot[B1].sha}  JBX3656/stray-{n:04d}.jpg" for n in range(MANIFEST_LINES_LISTED + 150)
    ]
    own.write_text(written.decode() + "\n".join(stray) + "\n")

    code, document = verify_json(archive)

    assert code == 1
    found = problems(document)
    assert len(found) == MANIFEST_LINES_LISTED + 1
    assert document["summary"]["manifest"] == len(stray)  # lines, not problems
    assert (
        "archive",
        shown,
        "150 more line(s) disagree with the catalogue, not listed one by one",
    ) in found
    (checked,) = events(archive, "verify")
    assert len(checked["manifest"]) == MANIFEST_LINES_LISTED + 1
    said = " ".join(cli("verify", "--archive", archive).output.split())
    assert f"{len(stray)} manifest line(s) not as catalogued" in said, said
    code, document = verify_json(archive, "--fix-manifests")
    assert code == 0 and document["manifests"] == [shown] and own.read_bytes() == written


def test_the_terminal_says_what_fix_manifests_could_not_write(
    tmp_path: Path, archived: Archived
) -> None:
    """After `--fix-manifests`, a manifest still wrong is one it could not write: the
    terminal says what it is and what to do (a warning, on stderr), not to run
    `--fix-manifests` again."""
    archive, backup, _shot = archived
    other = second_ingest(tmp_path, archive)
    copied = manifest_of(backup, other)
    copied.write_bytes(manifest_of(archive, other).read_bytes())

    result = cli("verify", "--archive", archive, "--fix-manifests")

    said = " ".join(result.output.split())
    assert result.exit_code == 1, said
    assert f"{copied} disagrees with the catalogue" in said, said
    assert "look at it, and remove it if it is such a copy" in said, said
    assert "writes it again from the catalogue" not in said, said
