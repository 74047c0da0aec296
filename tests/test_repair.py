"""`repair.repair_copies`: a bad copy is put back under its own name, the bad bytes set aside."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cardingest.archive.catalogue import CatalogueRecord
from cardingest.archive.repair import repair_copies

NAME = "JBX3656/JBX3656-20080530-155601.jpg"
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
