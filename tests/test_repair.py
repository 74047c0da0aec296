"""`repair.repair_copies`: a bad copy is put back under its own name, the bad bytes set aside."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from badinput_helpers import three_photo_card
from cardimage import require_samples
from typer.testing import CliRunner

from cardingest.archive.audit import AuditLog
from cardingest.archive.catalogue import CatalogueRecord
from cardingest.archive.repair import repair_copies
from cardingest.cli.app import app

NAME = "JBX3656/JBX3656-20080530-155601.jpg"
runner = CliRunner()
PHOTO = b"\xff\xd8" + bytes(range(256)) * 800 + b"\xff\xd9"


def record_of(data: bytes, backup: Path | None = None) -> CatalogueRecord:
    return CatalogueRecord(
        patient_id="JBX3656",
        archive_path=NAME,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        captured_at="2008-05-30T15:56:01",
        captured_raw="2008-05-30T15:56:01",
        time_source="exif:DateTimeOriginal",
        source_path="DCIM/100CANON/IMG_0001.JPG",
        backup_path=str(backup / NAME) if backup else None,
    )


def place(root: Path, data: bytes) -> Path:
    path = root / NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def card(tmp_path: Path) -> Path:
    path = tmp_path / "card" / "IMG_0001.JPG"
    path.parent.mkdir()
    path.write_bytes(PHOTO)
    return path


def damaged(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]


def test_a_damaged_copy_is_put_back_and_set_aside(tmp_path: Path, card: Path) -> None:
    archive = tmp_path / "archive"
    copy = place(archive, damaged(PHOTO))
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING")
    assert fixed.ok and fixed.restored == (str(copy),)
    assert copy.read_bytes() == PHOTO
    aside = archive / ".cardingest" / "damaged" / "ING" / NAME
    assert fixed.set_aside == (str(aside),) and aside.read_bytes() == damaged(PHOTO)
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]


def test_a_missing_backup_copy_is_copied_again(tmp_path: Path, card: Path) -> None:
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    place(archive, PHOTO)
    (backup / "JBX3656").mkdir(parents=True)
    fixed = repair_copies(card, record_of(PHOTO, backup), archive, ingest_id="I", backup=backup)
    assert fixed.ok and fixed.restored == (str(backup / NAME),) and fixed.set_aside == ()
    assert (backup / NAME).read_bytes() == PHOTO


def test_copies_that_check_out_again_are_left_alone(tmp_path: Path, card: Path) -> None:
    archive = tmp_path / "archive"
    copy = place(archive, PHOTO)
    before = copy.stat()
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING")
    assert fixed.ok and fixed.restored == () and fixed.set_aside == ()
    assert copy.stat().st_ino == before.st_ino
    assert not (archive / ".cardingest").exists()


def test_other_bytes_on_the_card_are_never_filed_under_the_name(tmp_path: Path, card: Path) -> None:
    archive = tmp_path / "archive"
    copy = place(archive, damaged(PHOTO))
    card.write_bytes(damaged(damaged(PHOTO)[::-1]))
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING")
    assert not fixed.ok and "no longer the photo archived" in (fixed.error or "")
    assert copy.read_bytes() == damaged(PHOTO)
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]


def test_an_unreadable_card_file_is_an_error_not_a_crash(tmp_path: Path, card: Path) -> None:
    archive = tmp_path / "archive"
    place(archive, damaged(PHOTO))
    card.unlink()
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING")
    assert not fixed.ok and str(card) in (fixed.error or "")


@pytest.mark.card
def test_repair_on_a_fat_archive_without_hard_links(fat_card, card: Path) -> None:  # type: ignore[no-untyped-def]
    """fusefat has no hard links: the damaged copy is renamed aside, then the name refilled."""
    archive = fat_card({}, size_mb=32)
    copy = place(archive, damaged(PHOTO))
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING")
    assert fixed.ok, fixed.error
    assert copy.read_bytes() == PHOTO
    aside = archive / ".cardingest" / "damaged" / "ING" / NAME
    assert aside.read_bytes() == damaged(PHOTO)
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]


def test_a_backup_copy_outside_this_runs_backup_is_never_written(
    tmp_path: Path, card: Path
) -> None:
    """The backup drive is not connected (or not given): the archive copy is put back, the
    backup's path is not created on whatever disk happens to be there, and it is said why."""
    archive, offline = tmp_path / "archive", tmp_path / "mnt" / "backup"
    copy = place(archive, damaged(PHOTO))
    fixed = repair_copies(card, record_of(PHOTO, offline), archive, ingest_id="ING")
    assert not fixed.ok and "cannot be checked now" in (fixed.error or "")
    assert fixed.restored == (str(copy),) and copy.read_bytes() == PHOTO
    assert not (tmp_path / "mnt").exists()

    place(offline, damaged(PHOTO))
    fixed = repair_copies(card, record_of(PHOTO, offline), archive, ingest_id="ING2")
    assert not fixed.ok and "--backup folder that holds it" in (fixed.error or "")
    assert (offline / NAME).read_bytes() == damaged(PHOTO)
    fixed = repair_copies(card, record_of(PHOTO, offline), archive, ingest_id="I3", backup=offline)
    assert fixed.ok and fixed.restored == (str(offline / NAME),)
    assert (offline / NAME).read_bytes() == PHOTO


def ingested_with_backup(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Three real photos ingested for JBX3656 with a backup; the archive, the backup, and
    the command line that ingests the card again."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    ingest = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive)]
    ingest += ["--backup", str(backup), "--json"]
    assert runner.invoke(app, ingest).exit_code == 0
    return archive, backup, ingest


def test_a_repaired_copy_gets_back_its_keywords_sidecar_from_the_catalogue(
    tmp_path: Path,
) -> None:
    """A backup copy gone with its sidecar: the ingest that puts the photo back writes the
    sidecar again with the keywords the catalogue holds (set by ``tag`` after the first
    ingest), not with none or the map's."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    tagged = ["tag", "JBX3656", "--diagnosis", "melanoma", "--site", "back"]
    assert runner.invoke(app, [*tagged, "--archive", str(archive)]).exit_code == 0
    photo = sorted((backup / "JBX3656").glob("*.jpg"))[0]
    sidecar = photo.with_suffix(".xmp")
    assert b"melanoma" in sidecar.read_bytes()
    photo.unlink()
    sidecar.unlink()
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 1
    result = runner.invoke(app, ingest)
    assert result.exit_code == 0, result.output
    [repaired] = [i for i in json.loads(result.stdout)["items"] if i["action"] == "copy"]
    assert repaired["reason"].startswith("repaired"), repaired
    assert photo.read_bytes() == (archive / "JBX3656" / photo.name).read_bytes()
    assert sidecar.read_bytes() == (archive / "JBX3656" / sidecar.name).read_bytes()
    assert b"melanoma" in sidecar.read_bytes() and b"back" in sidecar.read_bytes()


def test_a_patient_folder_removed_from_the_backup_is_put_back(tmp_path: Path) -> None:
    """The backup drive is there (its ``.cardingest`` is) but a patient's folder was removed:
    verify marks its copies, the wipe keeps the card's photos and says to ingest again, and
    that ingest puts the folder and the copies back. Before, a folder gone was taken for a
    drive not connected, and the card could never be wiped."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    kept = {p.name: p.read_bytes() for p in (backup / "JBX3656").iterdir()}
    shutil.rmtree(backup / "JBX3656")
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 1
    wipe = runner.invoke(app, ["wipe", ingest[1], "--archive", str(archive), "--dry-run"])
    assert wipe.exit_code == 3, wipe.output  # photos kept on the card
    wiped = json.loads(
        runner.invoke(
            app, ["wipe", ingest[1], "--archive", str(archive), "--dry-run", "--json"]
        ).stdout
    )
    assert all(
        f"ingest this card again with --backup {backup} to repair it" in i["reason"]
        for i in wiped["items"]
    ), wiped
    result = runner.invoke(app, ingest)
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["items"]
    assert [i["reason"].split(":")[0] for i in items] == ["repaired"] * 3
    assert {p.name: p.read_bytes() for p in (backup / "JBX3656").iterdir()} == kept
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 0


def test_an_ingest_puts_back_a_copy_gone_without_a_verify_first(tmp_path: Path) -> None:
    """A backup copy deleted (here its whole patient folder) and the card ingested again
    with --backup: the ingest sees the copy is not there and puts it back; before, it said
    "already archived" until a verify or a wipe had noted the gap."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    kept = {p.name: p.read_bytes() for p in (backup / "JBX3656").iterdir()}
    shutil.rmtree(backup / "JBX3656")
    preview = runner.invoke(app, ["ingest", *ingest[1:], "--dry-run"])
    assert preview.exit_code == 0, preview.output
    planned = json.loads(preview.stdout)["items"]
    assert all(i["repair"] and "backup copy" in i["reason"] for i in planned), planned
    result = runner.invoke(app, ingest)
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in (backup / "JBX3656").iterdir()} == kept
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 0


def test_a_backup_copy_gone_stays_on_the_card_until_an_ingest_with_the_backup(
    tmp_path: Path,
) -> None:
    """A backup copy deleted, and the card ingested with ``--wipe`` but no ``--backup``: that
    photo is held on the card with what to do (exit 3), in the dry run as in the ingest, and
    the other photos, both copies whole, are wiped. Before, it failed (exit 1) and nothing was
    wiped. The ingest with the backup then puts the copy back and says it was the backup copy,
    not the archive's."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    card = Path(ingest[1])
    photo = sorted((backup / "JBX3656").glob("*.jpg"))[0]
    photo.unlink()
    plain = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive)]
    preview = runner.invoke(app, [*plain, "--dry-run", "--json"])
    assert preview.exit_code == 3, preview.output
    [held] = [i for i in json.loads(preview.stdout)["items"] if i["action"] == "hold"]
    assert f"its backup copy {photo} is missing" in held["reason"], held
    assert "--backup" in held["reason"]
    on_card = sorted(p.name for p in card.rglob("*.JPG"))
    result = runner.invoke(app, [*plain, "--wipe", "--yes", "--json"])
    assert result.exit_code == 3, result.output
    items = json.loads(result.stdout)["items"]
    assert [i["action"] for i in items].count("hold") == 1, items
    assert sorted(p.name for p in card.rglob("*.JPG")) == [held["source"].split("/")[-1]]
    assert len(on_card) == 3
    again = runner.invoke(app, [a for a in ingest if a != "--json"])
    assert again.exit_code == 0, again.output
    assert f"repaired: the backup copy {photo} (copied again" in " ".join(again.output.split())
    assert photo.read_bytes() == (archive / "JBX3656" / photo.name).read_bytes()
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 0


def test_a_backup_copy_a_verify_found_changed_stays_until_an_ingest_with_the_backup(
    tmp_path: Path,
) -> None:
    """A backup copy overwritten, which `verify` notes; the card ingested without
    ``--backup``: the photo is held with what to do (exit 3), in the dry run as in the
    ingest, and the wipe says to ingest with that backup. Before (trial), the dry run
    planned a repair and the ingest failed it (exit 1); the wipe said only "ingest again"."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    card = Path(ingest[1])
    photo = sorted((backup / "JBX3656").glob("*.jpg"))[0]
    photo.write_bytes(b"not the photo")
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 1
    wipe = runner.invoke(app, ["wipe", str(card), "--archive", str(archive), "--dry-run", "--json"])
    assert wipe.exit_code == 3, wipe.output
    [kept] = [i for i in json.loads(wipe.stdout)["items"] if i["action"] == "keep"]
    assert f"ingest this card again with --backup {backup} to repair it" in kept["reason"]
    plain = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive), "--json"]
    for dry_run in (["--dry-run"], []):
        result = runner.invoke(app, [*plain, *dry_run])
        assert result.exit_code == 3, result.output
        [held] = [i for i in json.loads(result.stdout)["items"] if i["action"] != "skip"]
        assert held["action"] == "hold", held
        assert held["reason"] == (
            f"its backup copy {photo} no longer matches: it stays on the card until an ingest "
            f"given that backup folder (--backup {backup}) copies it again"
        )
    again = runner.invoke(app, [a for a in ingest if a != "--json"])
    assert again.exit_code == 0, again.output
    assert photo.read_bytes() == (archive / "JBX3656" / photo.name).read_bytes()


def test_both_copies_damaged_the_run_without_the_backup_notes_the_backup_copy(
    tmp_path: Path,
) -> None:
    """Both copies overwritten, which `verify` notes (naming the archive copy); an ingest
    without ``--backup`` puts the archive copy back and fails the photo for its backup copy.
    The note then names the backup copy, so the next run holds the photo (exit 3) and its
    ``--wipe`` clears the others. Before (trial), the note still named the archive copy put
    back: every later run planned a repair, failed it (exit 1) and wiped nothing."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    card = Path(ingest[1])
    photo = sorted((backup / "JBX3656").glob("*.jpg"))[0]
    photo.write_bytes(b"not the photo")
    (archive / "JBX3656" / photo.name).write_bytes(b"not the photo either")
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 1
    plain = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive), "--json"]
    first = runner.invoke(app, [*plain, "--wipe", "--yes"])
    assert first.exit_code == 1, first.output
    said = json.loads(first.stdout)["wipe"]["skipped"]
    assert said == "Not wiping: 1 file(s) failed (see above); the card was left as it is."
    assert len(list(card.rglob("*.JPG"))) == 3
    assert (archive / "JBX3656" / photo.name).read_bytes() != b"not the photo either"
    again = runner.invoke(app, [*plain, "--wipe", "--yes"])
    assert again.exit_code == 3, again.output
    [held] = [i for i in json.loads(again.stdout)["items"] if i["action"] == "hold"]
    assert held["reason"].startswith(f"its backup copy {photo} no longer matches"), held
    assert [p.name for p in card.rglob("*.JPG")] == [held["source"].split("/")[-1]]
    assert runner.invoke(app, [a for a in ingest if a != "--json"]).exit_code == 0
    assert photo.read_bytes() == (archive / "JBX3656" / photo.name).read_bytes()


def test_a_repair_that_fails_at_the_backup_copy_says_what_it_put_back_and_notes_the_backup(
    tmp_path: Path,
) -> None:
    """Both copies overwritten and noted; the run given the backup puts the archive copy
    back, then cannot set the backup's bad copy aside (its ``.cardingest/damaged`` is a
    file). The photo fails (exit 1), but its reason and the ``repair`` event name the copy
    put back, and the note then names the backup copy: the next run without the backup
    holds the photo (exit 3), and one with the backup, mended, puts it back. Before, the
    event listed nothing restored and the note still named the archive copy, so the run
    without the backup failed the photo again (exit 1)."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    card = Path(ingest[1])
    photo = sorted((backup / "JBX3656").glob("*.jpg"))[0]
    copy = archive / "JBX3656" / photo.name
    photo.write_bytes(b"not the photo")
    copy.write_bytes(b"not the photo either")
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 1
    (backup / ".cardingest" / "damaged").write_bytes(b"in the way")
    first = runner.invoke(app, ingest)
    assert first.exit_code == 1, first.output
    [failed] = [i for i in json.loads(first.stdout)["items"] if i["action"] == "failed"]
    assert failed["reason"].endswith(f"(put back: {copy})"), failed
    [event] = [e for e in AuditLog(archive).events() if e["event"] == "repair"]
    assert event["restored"] == [str(copy)] and len(event["set_aside"]) == 1, event
    assert Path(event["set_aside"][0]).read_bytes() == b"not the photo either"
    assert copy.read_bytes() != b"not the photo either"
    plain = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive), "--json"]
    held = runner.invoke(app, plain)
    assert held.exit_code == 3, held.output
    [item] = [i for i in json.loads(held.stdout)["items"] if i["action"] == "hold"]
    assert item["reason"].startswith(f"its backup copy {photo} no longer matches"), item
    (backup / ".cardingest" / "damaged").unlink()
    assert runner.invoke(app, ingest).exit_code == 0
    assert photo.read_bytes() == copy.read_bytes()
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 0


def test_a_wipe_with_the_backup_drive_away_says_to_connect_it(tmp_path: Path) -> None:
    """The backup folder itself is gone (its drive not connected): the wipe keeps every
    photo and says which folder is not there and what to do; before (trial), it said only
    that each backup copy was missing."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    backup.rename(tmp_path / "away")
    wipe = runner.invoke(app, ["wipe", ingest[1], "--archive", str(archive), "--dry-run", "--json"])
    assert wipe.exit_code == 3, wipe.output
    items = json.loads(wipe.stdout)["items"]
    assert len(items) == 3 and all(i["action"] == "keep" for i in items), items
    assert all(
        i["reason"].endswith(
            f"is missing; the backup folder {backup} is not there: connect its disk (or mount "
            "it again), then run the wipe again"
        )
        for i in items
    ), items


def test_a_wipe_given_a_backup_that_is_no_folder_says_which(tmp_path: Path) -> None:
    """``wipe --backup`` naming a file, or nothing: exit 2, and which of the two it is."""
    archive, _, ingest = ingested_with_backup(tmp_path)
    (tmp_path / "file").write_bytes(b"")
    for given, what in (
        (tmp_path / "file", "is not a folder"),
        (tmp_path / "file" / "sub", f"is not there ({tmp_path / 'file'} is a file)"),
        (tmp_path / "none", "is not there (is its disk mounted"),
    ):
        args = ["wipe", ingest[1], "--archive", str(archive), "--backup", str(given), "--yes"]
        wipe = runner.invoke(app, args)
        assert wipe.exit_code == 2, wipe.output
        assert f"The backup folder {given} {what}" in " ".join(wipe.stderr.split())
    assert len(list(Path(ingest[1]).rglob("*.JPG"))) == 3


def test_a_backup_given_later_gets_a_copy_before_the_wipe(tmp_path: Path) -> None:
    """Ingested without a backup, then again with ``--backup`` and ``--wipe``: every photo
    gets its backup copy (read back like any copy, recorded in its row) before the wipe
    removes it. Before, the photos were "already archived", the backup stayed empty and the
    wipe cleared the card of photos with one copy."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    first = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive), "--json"]
    assert runner.invoke(app, first).exit_code == 0
    originals = {p.name: p.read_bytes() for p in (archive / "JBX3656").iterdir()}
    again = [*first, "--backup", str(backup), "--wipe", "--yes"]
    planned = json.loads(runner.invoke(app, [*again, "--dry-run"]).stdout)["items"]
    assert [i["action"] for i in planned] == ["copy"] * 3, planned
    assert all(i["repair"] and "no backup copy" in i["reason"] for i in planned), planned
    result = runner.invoke(app, again)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [i["reason"].split(":")[0] for i in document["items"]] == ["backed up"] * 3
    assert document["wipe"]["summary"] == {"removed": 3, "kept": 0}, document["wipe"]
    assert {p.name: p.read_bytes() for p in (backup / "JBX3656").iterdir()} == originals
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 0
    [manifest] = (backup / ".cardingest" / "manifests").iterdir()  # the first ingest's
    checked = subprocess.run(["sha256sum", "-c", manifest], cwd=backup, capture_output=True)
    assert checked.returncode == 0 and checked.stdout.count(b": OK") == 3, checked
    human = runner.invoke(app, ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive)])
    assert human.exit_code == 0  # nothing left on the card


def test_a_backup_given_later_is_said_once(tmp_path: Path) -> None:
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    first = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive)]
    assert runner.invoke(app, first).exit_code == 0
    result = runner.invoke(app, [*first, "--backup", str(backup)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "backed up: 3 photo(s) archived before with no backup copy now have one" in said
    assert "3 copied and verified (3 of them backup copies only, " in said
    assert "repaired" not in said


def test_a_backup_given_later_never_moves_a_file_already_in_the_backup(tmp_path: Path) -> None:
    """Two archives share a backup folder; the second's photo, archived first with no backup,
    has the very name the first's backup copy has. Its backup copy takes the next free
    name; the first archive's copy stays where it is, untouched. Before, it was moved aside
    into the backup's damaged/ folder, and the first archive's verify found it changed."""
    from exif_bytes import exif_jpeg

    backup = tmp_path / "shared-backup"
    cards, archives = [], []
    for n in range(2):
        card = tmp_path / f"card{n}" / "DCIM" / "100CANON"
        card.mkdir(parents=True)
        (card / "IMG_0001.JPG").write_bytes(exif_jpeg("2024:07:01 10:00:00") + bytes([n]) * 9)
        cards.append(card.parent.parent)
        archives.append(tmp_path / f"archive{n}")
    first = ["ingest", str(cards[0]), "--id", "JBX3656", "--archive", str(archives[0])]
    assert runner.invoke(app, [*first, "--backup", str(backup)]).exit_code == 0
    name = "JBX3656/JBX3656-20240701-100000.jpg"
    theirs = (backup / name).read_bytes()
    second = ["ingest", str(cards[1]), "--id", "JBX3656", "--archive", str(archives[1])]
    assert runner.invoke(app, second).exit_code == 0
    result = runner.invoke(app, [*second, "--backup", str(backup), "--wipe", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert (backup / name).read_bytes() == theirs
    assert (backup / name.replace(".jpg", "-2.jpg")).read_bytes() == (
        archives[1] / name
    ).read_bytes()
    assert not (backup / ".cardingest" / "damaged").exists()
    for archive in archives:
        checked = runner.invoke(app, ["verify", "--archive", str(archive)])
        assert checked.exit_code == 0, checked.output


def shared_backup_archives(tmp_path: Path, *, raw: bool = False) -> tuple[Path, list[Path]]:
    """Two archives sharing one backup folder, each with a photo of JBX3656 taken at the
    same second (a map gives each its own diagnosis, so each has a keywords sidecar); the
    second's archived first with no backup, so its backup copy, made on its second run, finds
    the first's at its name and takes the next free one, `-2`. ``raw``: the second's shot is a
    RAW+JPEG pair, whose RAW keeps its name there. Returns the backup and the archives."""
    from exif_bytes import DTO, build, exif_jpeg, text

    backup = tmp_path / "shared-backup"
    archives = []
    for n in range(2):
        card = tmp_path / f"card{n}" / "DCIM" / "100CANON"
        card.mkdir(parents=True)
        (card / "IMG_0001.JPG").write_bytes(exif_jpeg("2024:07:01 10:00:00") + bytes([n]) * 9)
        if raw and n == 1:
            dng = build("<", [], [text(DTO, b"2024:07:01 10:00:00\0")]) + b"\1" * 20
            (card / "IMG_0001.DNG").write_bytes(dng)
        id_map = tmp_path / f"map{n}.csv"
        id_map.write_text(f"files,id,diagnosis\nIMG_0001,JBX3656,{('melanoma', 'bcc')[n]}\n")
        id_map.chmod(0o600)
        archive = tmp_path / f"archive{n}"
        archives.append(archive)
        ingest = ["ingest", str(card.parent.parent), "--map", str(id_map), "--archive",
                  str(archive)]  # fmt: skip
        if n == 1:
            assert runner.invoke(app, ingest).exit_code == 0
        assert runner.invoke(app, [*ingest, "--backup", str(backup)]).exit_code == 0
    return backup, archives


def moved_to_mcj1984(archive: Path) -> None:
    moved = runner.invoke(
        app, ["move", "JBX3656/JBX3656-20240701-100000.jpg", "--to", "MCJ1984",
              "--archive", str(archive)],
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output


def test_a_backup_copy_under_the_next_free_name_moves_with_its_photo(tmp_path: Path) -> None:
    """A mutation round's find: the second archive's backup copy took the next free name
    (`-2`, the test above), and `cardingest move` of that photo then refused it ("not under
    the same name in its backup folder"): a photo filed under the wrong patient could not be
    refiled. It moves now, with its backup copy and that copy's keywords sidecar, to the
    archive copy's new name; the first archive's file at the old name stays as it is."""
    backup, archives = shared_backup_archives(tmp_path)
    name = "JBX3656/JBX3656-20240701-100000.jpg"
    theirs = (backup / name).read_bytes(), (backup / name).with_suffix(".xmp").read_bytes()
    renamed = backup / name.replace(".jpg", "-2.jpg")
    assert renamed.read_bytes() == (archives[1] / name).read_bytes()
    assert renamed.with_suffix(".xmp").exists()
    moved_to_mcj1984(archives[1])
    new = "MCJ1984/MCJ1984-20240701-100000.jpg"
    assert (backup / new).read_bytes() == (archives[1] / new).read_bytes()
    assert not renamed.exists() and not renamed.with_suffix(".xmp").exists()
    assert "bcc" in (backup / new).with_suffix(".xmp").read_text()
    assert ((backup / name).read_bytes(), (backup / name).with_suffix(".xmp").read_bytes()) == (
        theirs
    )
    for archive in archives:
        checked = runner.invoke(app, ["verify", "--archive", str(archive)])
        assert checked.exit_code == 0, checked.output


def named_file_by_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backup copies named file by file, each from its own name on, as before a shot's
    copies took one free stem together (2026-12-05): backups made then still hold shots
    whose RAW kept its name beside another archive's sidecar."""
    from cardingest.archive.backupstems import BackupStems

    monkeypatch.setattr(BackupStems, "first", lambda self, target: 1)


def test_a_move_leaves_the_other_archives_sidecar_a_raw_of_the_shot_is_named_as(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second reader's find: in a shared backup folder the second archive's RAW+JPEG shot
    got its backup copies later, the RAW under its own name and the JPEG under `-2` beside
    the first archive's JPEG; the RAW's keywords sidecar name is that JPEG's sidecar's, and
    a move of the shot took it into the new patient's folder (the first archive's verify
    then found its sidecar missing). It stays; the shot's own `-2` sidecar moves. (Such a
    backup was made before a shot's copies took one stem: `named_file_by_file`.)"""
    named_file_by_file(monkeypatch)
    backup, archives = shared_backup_archives(tmp_path, raw=True)
    monkeypatch.undo()
    stem = backup / "JBX3656" / "JBX3656-20240701-100000"
    assert stem.with_suffix(".dng").exists() and Path(f"{stem}-2.jpg").exists()
    theirs = stem.with_suffix(".xmp")
    kept = theirs.read_bytes()
    moved_to_mcj1984(archives[1])
    assert theirs.read_bytes() == kept and stem.with_suffix(".jpg").exists()
    assert not Path(f"{stem}-2.jpg").exists() and not Path(f"{stem}-2.xmp").exists()
    new = backup / "MCJ1984" / "MCJ1984-20240701-100000"
    assert new.with_suffix(".dng").exists() and new.with_suffix(".jpg").exists()
    assert "bcc" in new.with_suffix(".xmp").read_text()
    checked = runner.invoke(app, ["verify", "--archive", str(archives[1])])
    assert checked.exit_code == 0, checked.output


SHOT = "JBX3656/JBX3656-20240701-100000"


def shot_card(tmp_path: Path, n: int, kinds: tuple[str, ...], diagnosis: str) -> list[str]:
    """The ingest arguments of card ``n``: one shot of JBX3656 at 2024-07-01 10:00:00 of
    ``kinds`` (``jpg``, ``dng``), its own bytes, and a map giving it ``diagnosis``."""
    from exif_bytes import DTO, build, exif_jpeg, text

    card = tmp_path / f"card{n}" / "DCIM" / "100CANON"
    card.mkdir(parents=True)
    if "jpg" in kinds:
        (card / "IMG_0001.JPG").write_bytes(exif_jpeg("2024:07:01 10:00:00") + bytes([n]) * 9)
    if "dng" in kinds:
        dng = build("<", [], [text(DTO, b"2024:07:01 10:00:00\0")]) + bytes([n + 1]) * 20
        (card / "IMG_0001.DNG").write_bytes(dng)
    id_map = tmp_path / f"map{n}.csv"
    id_map.write_text(f"files,id,diagnosis\nIMG_0001,JBX3656,{diagnosis}\n")
    id_map.chmod(0o600)
    return ["ingest", str(card.parent.parent), "--map", str(id_map)]


def backup_stems(backup: Path, archive: Path) -> set[str]:
    """The stems (``folder/stem``) of the backup's copies of ``archive``'s photos (found by
    their bytes, each an archive copy's own, under its extension)."""
    stems = set()
    for photo in (archive / "JBX3656").iterdir():
        if photo.suffix != ".xmp":
            (copy,) = [
                there
                for there in (backup / "JBX3656").glob(f"*{photo.suffix}")
                if there.read_bytes() == photo.read_bytes()
            ]
            stems.add(copy.relative_to(backup).with_suffix("").as_posix())
    return stems


def both_verify_clean(archives: list[Path]) -> None:
    for archive in archives:
        checked = runner.invoke(app, ["verify", "--archive", str(archive)])
        assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize(
    ("first", "second"),
    [(("dng",), ("jpg",)), (("jpg",), ("dng",))],
    ids=["jpeg-beside-a-raw", "raw-beside-a-jpeg"],
)
def test_a_shots_copies_in_a_shared_backup_take_one_free_stem_with_its_own_sidecar(
    tmp_path: Path, first: tuple[str, ...], second: tuple[str, ...]
) -> None:
    """Two archives share a backup folder, and each ingests (with the backup) a shot of
    JBX3656 taken in the same second, with its own keywords: the first's a RAW, the
    second's a JPEG (or the other way round). No file name clashes (the plan moves a shot
    whose name is taken there on to `-2`, archive copy and all), so the second's copy kept
    its name; its keywords sidecar, named after the stem, was the first archive's: written
    over by the second's ingest (and `tag`), and the first's verify called it not as
    catalogued. Now a shot whose stem any file there is named as takes the next free stem,
    all its backup copies together: each sidecar is its own."""
    backup = tmp_path / "shared-backup"
    archives = [tmp_path / "archive0", tmp_path / "archive1"]
    for n, kinds in enumerate((first, second)):
        ingest = shot_card(tmp_path, n, kinds, ("melanoma", "bcc")[n])
        done = runner.invoke(app, [*ingest, "--archive", str(archives[n]), "--backup", str(backup)])
        assert done.exit_code == 0, done.output
    both_verify_clean(archives)
    assert backup_stems(backup, archives[0]) == {SHOT}
    assert backup_stems(backup, archives[1]) == {f"{SHOT}-2"}  # one stem, the shot's own
    assert "melanoma" in (backup / f"{SHOT}.xmp").read_text()
    assert "bcc" in (backup / f"{SHOT}-2.xmp").read_text()
    tagged = runner.invoke(
        app, ["tag", "JBX3656", "--diagnosis", "naevus", "--archive", str(archives[1])]
    )
    assert tagged.exit_code == 0, tagged.output
    assert "naevus" in (backup / f"{SHOT}-2.xmp").read_text()
    assert "naevus" not in (backup / f"{SHOT}.xmp").read_text()
    both_verify_clean(archives)


def test_a_shots_backup_copies_made_later_take_one_free_stem_with_its_own_sidecar(
    tmp_path: Path,
) -> None:
    """The same for a backup given later (`repair._first_backup_copy`): the second archive's
    RAW+JPEG shot, archived with no backup, gets both its backup copies under `-2` beside
    the first archive's JPEG (the RAW kept its name there, and its sidecar was the first's)."""
    backup, archives = shared_backup_archives(tmp_path, raw=True)
    assert backup_stems(backup, archives[0]) == {SHOT}
    assert backup_stems(backup, archives[1]) == {f"{SHOT}-2"}
    assert not (backup / f"{SHOT}.dng").exists()
    assert "melanoma" in (backup / f"{SHOT}.xmp").read_text()
    assert "bcc" in (backup / f"{SHOT}-2.xmp").read_text()
    both_verify_clean(archives)


def test_a_backup_hard_linked_to_the_archive_copy_is_no_second_copy(tmp_path: Path) -> None:
    """A deduplicating tool (rdfind, jdupes) on a disk holding both folders turns the backup
    copy into a hard link to the archive copy: one file, so one disk failure loses both.
    verify calls it changed, the wipe keeps the photo, and the next ingest of the card
    writes the backup a copy of its own."""
    archive, backup, ingest = ingested_with_backup(tmp_path)
    photo = sorted((archive / "JBX3656").glob("*.jpg"))[0]
    linked = backup / "JBX3656" / photo.name
    linked.unlink()
    os.link(photo, linked)
    checked = runner.invoke(app, ["verify", "--archive", str(archive), "--json"])
    assert checked.exit_code == 1
    [problem] = json.loads(checked.stdout)["problems"]
    assert (problem["kind"], problem["where"]) == ("changed", "backup")
    assert "hard link" in problem["detail"], problem
    wipe = runner.invoke(app, ["wipe", ingest[1], "--archive", str(archive), "--dry-run"])
    assert wipe.exit_code == 3 and "hard link" in " ".join(wipe.output.split()), wipe.output
    assert runner.invoke(app, ingest).exit_code == 0
    assert os.stat(linked).st_ino != os.stat(photo).st_ino
    assert linked.read_bytes() == photo.read_bytes()
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 0


def test_a_wipe_with_a_backup_set_keeps_photos_with_no_backup_copy(tmp_path: Path) -> None:
    """The config names a backup; photos archived before it did have no backup copy. The
    wipe keeps them, saying to ingest the card with the backup (which makes the copies);
    then it removes them."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    ingest = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive)]
    assert runner.invoke(app, ingest).exit_code == 0
    check = ["wipe", str(card), "--archive", str(archive), "--dry-run", "--backup", str(backup)]
    missing = runner.invoke(app, [*check, "--json"])  # a typo, or its disk not mounted
    assert missing.exit_code == 2, missing.output
    assert "is not there" in json.loads(missing.stdout)["error"]["message"]
    backup.mkdir()
    given = runner.invoke(app, [*check, "--json"])
    assert json.loads(given.stdout)["summary"] == {"removed": 0, "kept": 3}, given.output
    config = tmp_path / "config.toml"
    config.write_text(f'backup = "{backup}"\n', encoding="utf-8")
    env = {"CARDINGEST_CONFIG": str(config)}
    wipe = ["wipe", str(card), "--archive", str(archive), "--yes", "--json"]
    kept = runner.invoke(app, wipe, env=env)
    assert kept.exit_code == 3, kept.output
    document = json.loads(kept.stdout)
    assert document["summary"] == {"removed": 0, "kept": 3}
    assert all("archived with no backup copy" in i["reason"] for i in document["items"])
    assert runner.invoke(app, ingest, env=env).exit_code == 0
    removed = runner.invoke(app, wipe, env=env)
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["summary"] == {"removed": 3, "kept": 0}


def test_a_backup_path_with_dot_dot_is_recorded_as_the_folder_it_reaches(tmp_path: Path) -> None:
    """``--backup ../backup`` (or ``backup = "/srv/x/../backup"``): the rows held the path with
    ``..`` in it, which every later command took for a catalogue edited by hand."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    (tmp_path / "x").mkdir()
    archive, backup = tmp_path / "archive", tmp_path / "x" / ".." / "backup"
    ingest = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive)]
    result = runner.invoke(app, [*ingest, "--backup", str(backup), "--json"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 0
    wipe = ["wipe", str(card), "--archive", str(archive), "--yes", "--json"]
    removed = runner.invoke(app, wipe)
    assert json.loads(removed.stdout)["summary"] == {"removed": 3, "kept": 0}, removed.output
    assert sorted(p.name for p in (tmp_path / "backup" / "JBX3656").glob("*.jpg"))


def test_a_first_backup_copy_is_never_made_of_a_card_file_that_changed(
    tmp_path: Path, card: Path
) -> None:
    """A mutation round's find: archived with no backup copy, the photo gets its first one
    from the card when an ingest is given ``--backup``; the card file changed since (same
    size, other bytes) is no longer the photo, so nothing is written in the backup: else
    another photo would be this patient's backup copy of it."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    copy = place(archive, PHOTO)
    backup.mkdir()
    card.write_bytes(damaged(PHOTO))
    assert len(card.read_bytes()) == len(PHOTO)
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING", backup=backup)
    assert not fixed.ok, fixed
    assert f"no longer the photo archived as {NAME}" in (fixed.error or ""), fixed.error
    assert fixed.restored == ()
    assert [p for p in backup.rglob("*") if p.is_file()] == []
    assert copy.read_bytes() == PHOTO


def test_a_damaged_backup_copy_in_another_backup_than_this_runs_is_left_and_said(
    tmp_path: Path, card: Path
) -> None:
    """A mutation round's find: a damaged backup copy in backup B1, met by an ingest given
    ``--backup B2``, is not B2's to repair: it is left as it is, and said so (it crashed
    with a ValueError, B1 not being under B2)."""
    archive, first, second = tmp_path / "archive", tmp_path / "b1", tmp_path / "b2"
    place(archive, PHOTO)
    bad = place(first, damaged(PHOTO))
    second.mkdir()
    fixed = repair_copies(card, record_of(PHOTO, first), archive, ingest_id="ING", backup=second)
    assert not fixed.ok
    assert (
        f"the backup copy {bad} is repaired only by an ingest with the --backup folder that "
        "holds it" in (fixed.error or "")
    ), fixed.error
    assert bad.read_bytes() == damaged(PHOTO)
    assert sorted(p.relative_to(first).as_posix() for p in first.rglob("*")) == [
        "JBX3656",
        NAME,
    ]
    assert list(second.iterdir()) == []


def test_an_ingest_with_another_backup_puts_back_the_archive_copy_and_says_which_backup(
    tmp_path: Path,
) -> None:
    """End to end: both copies damaged (verify notes them), and the card ingested again with
    ``--backup B2``, not the B1 the damaged backup copy is in. The archive copy is put back;
    the photo fails, saying the backup copy is B1's to repair (no traceback), and B1's
    copy is left as it is, nothing of it written in B2."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive, first, second = tmp_path / "archive", tmp_path / "b1", tmp_path / "b2"
    ingest = ["ingest", str(card), "--id", "JBX3656", "--archive", str(archive)]
    assert runner.invoke(app, [*ingest, "--backup", str(first)]).exit_code == 0
    bad = sorted((first / "JBX3656").glob("*.jpg"))[0]
    copy = archive / "JBX3656" / bad.name
    good = copy.read_bytes()
    bad.write_bytes(damaged(good))
    copy.write_bytes(damaged(damaged(good)[::-1]))
    assert runner.invoke(app, ["verify", "--archive", str(archive)]).exit_code == 1
    result = runner.invoke(app, [*ingest, "--backup", str(second)])
    said = " ".join(result.output.split())
    assert result.exit_code == 1, said
    assert not isinstance(result.exception, ValueError) and "Traceback" not in said, said
    assert (
        f"the backup copy {bad} is repaired only by an ingest with the --backup folder that "
        "holds it" in said
    ), said
    assert copy.read_bytes() == good
    assert bad.read_bytes() == damaged(good)
    assert not (second / "JBX3656").exists()


def add_raw(tmp_path: Path, n: int) -> None:
    """A RAW of card ``n``'s shot (the same second), put on the card after its ingest."""
    from exif_bytes import DTO, build, text

    dng = build("<", [], [text(DTO, b"2024:07:01 10:00:00\0")]) + bytes([n + 1]) * 20
    (tmp_path / f"card{n}" / "DCIM" / "100CANON" / "IMG_0001.DNG").write_bytes(dng)


def test_a_raw_added_to_a_shot_backed_up_before_takes_the_shots_stem(tmp_path: Path) -> None:
    """A mutation round's find (mutant S2: the shot's own backup copies taken for
    another's): the shot's JPEG and sidecar have their backup copies under its stem; its
    RAW, ingested later, joins them there, not `-2` beside its own JPEG."""
    backup, archive = tmp_path / "backup", tmp_path / "archive0"
    ingest = [*shot_card(tmp_path, 0, ("jpg",), "melanoma"), "--archive", str(archive)]
    assert runner.invoke(app, [*ingest, "--backup", str(backup)]).exit_code == 0
    add_raw(tmp_path, 0)
    done = runner.invoke(app, [*ingest, "--backup", str(backup)])
    assert done.exit_code == 0, done.output
    assert (archive / f"{SHOT}.dng").is_file()
    assert backup_stems(backup, archive) == {SHOT}
    assert not list((backup / "JBX3656").glob("*-2.*"))
    both_verify_clean([archive])


def test_a_shots_copy_in_another_backup_is_not_its_own_in_this_one(tmp_path: Path) -> None:
    """A mutation round's find (mutant S3: a backup copy in any folder taken as the shot's
    own): the shot's JPEG was backed up to another folder; its RAW, ingested later with a
    shared backup where the other archive's shot of that second has its JPEG and sidecar,
    takes `-2`: those names there are not this shot's copies, and that sidecar is not
    written over."""
    backup, older = tmp_path / "shared-backup", tmp_path / "older-backup"
    archives = [tmp_path / "archive0", tmp_path / "archive1"]
    mine = [*shot_card(tmp_path, 0, ("jpg",), "melanoma"), "--archive", str(archives[0])]
    theirs = [*shot_card(tmp_path, 1, ("jpg",), "bcc"), "--archive", str(archives[1])]
    assert runner.invoke(app, [*mine, "--backup", str(older)]).exit_code == 0
    assert runner.invoke(app, [*theirs, "--backup", str(backup)]).exit_code == 0
    sidecar = (backup / f"{SHOT}.xmp").read_bytes()
    add_raw(tmp_path, 0)
    done = runner.invoke(app, [*mine, "--backup", str(backup)])
    assert done.exit_code in (0, 3), done.output
    assert (backup / f"{SHOT}.xmp").read_bytes() == sidecar
    assert not (backup / f"{SHOT}.dng").exists() and (backup / f"{SHOT}-2.dng").is_file()
    assert "melanoma" in (backup / f"{SHOT}-2.xmp").read_text()


def test_a_shot_never_takes_the_stem_another_shot_of_the_run_is_named_as(tmp_path: Path) -> None:
    """The first archive's shot holds the stem in the shared backup; the second's card has
    two shots in that second (`NAME` and `NAME-2` in its archive). The first goes on to
    `-3`: `-2` is the other shot's own name, whose copies and keywords sidecar it would
    share (which shot's copy is published first is the copy workers' timing: the choice
    itself is checked below)."""
    from exif_bytes import exif_jpeg

    backup = tmp_path / "shared-backup"
    archives = [tmp_path / "archive0", tmp_path / "archive1"]
    first = shot_card(tmp_path, 0, ("jpg",), "melanoma")
    done = runner.invoke(app, [*first, "--archive", str(archives[0]), "--backup", str(backup)])
    assert done.exit_code == 0, done.output
    second = shot_card(tmp_path, 1, ("jpg",), "bcc")
    later = exif_jpeg("2024:07:01 10:00:00") + b"\7" * 9
    (tmp_path / "card1" / "DCIM" / "100CANON" / "IMG_0002.JPG").write_bytes(later)
    (tmp_path / "map1.csv").write_text(
        "files,id,diagnosis\nIMG_0001,JBX3656,bcc\nIMG_0002,JBX3656,naevus\n"
    )
    done = runner.invoke(app, [*second, "--archive", str(archives[1]), "--backup", str(backup)])
    assert done.exit_code == 0, done.output
    assert (archives[1] / f"{SHOT}-2.jpg").is_file()
    assert backup_stems(backup, archives[1]) == {f"{SHOT}-3", f"{SHOT}-2"}
    both_verify_clean(archives)


def test_a_file_named_as_the_stem_in_other_case_on_a_fat_backup_is_passed_by(
    tmp_path: Path,
    fat_card,  # type: ignore[no-untyped-def]
) -> None:
    """A mutation round's find (mutant S20: stems compared in their case): on a FAT backup
    drive ``jbx3656-….xmp`` is the entry ``JBX3656-….xmp`` is. A shot whose stem a file
    there is named as, in any case, takes the next free stem; that file is not written
    over by the shot's keywords sidecar."""
    backup = fat_card({}, size_mb=32) / "backup"
    (backup / "JBX3656").mkdir(parents=True)
    stranger = backup / "JBX3656" / "jbx3656-20240701-100000.xmp"
    stranger.write_bytes(b"another tool's sidecar")
    archive = tmp_path / "archive0"
    ingest = [*shot_card(tmp_path, 0, ("jpg",), "melanoma"), "--archive", str(archive)]
    done = runner.invoke(app, [*ingest, "--backup", str(backup)])
    assert done.exit_code == 0, done.output
    assert stranger.read_bytes() == b"another tool's sidecar"
    assert backup_stems(backup, archive) == {f"{SHOT}-2"}


def test_a_shots_free_stem_is_never_another_planned_shots_name(tmp_path: Path) -> None:
    """A mutation round's find (mutant S5: the other shots' names not looked at): a RAW+JPEG
    shot whose stem is taken in the backup goes on to `-3` where `-2` is another shot of the
    run. Taking `-2`, the two shots' copies met under one name: each copy published first
    kept it, the other moved on by itself, and a shot's JPEG and RAW went apart, one
    keywords sidecar for two shots."""
    from cardingest.archive.backupstems import BackupStems

    backup = tmp_path / "backup"
    (backup / "JBX3656").mkdir(parents=True)
    (backup / f"{SHOT}.jpg").write_bytes(b"another archive's")
    targets = [f"{SHOT}.jpg", f"{SHOT}.dng", f"{SHOT}-2.jpg", f"{SHOT}-2.dng"]
    stems = BackupStems(backup, targets, lambda: targets, lambda _target: None)
    assert [stems.relpath(target) for target in targets] == [
        f"{SHOT}-3.jpg",
        f"{SHOT}-3.dng",
        f"{SHOT}-2.jpg",
        f"{SHOT}-2.dng",
    ]
