"""A re-ingest's repair of bad copies, each rule pinned where a mutant changed it unseen.

Written for the mutation round on ``archive/repair`` (docs/testing.md): 26 of 238 mutants
lived through ``test_repair.py``. Here `repair_copies` is called in the test's process on
real copies on disk in ``tmp_path``: an archive whose patient folder is a symbolic link
to another disk, a backup whose ``.cardingest/damaged`` cannot be made, a copy with a
folder in its place, a card file that grew, and the bytes each repair reads counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_repair import NAME, PHOTO, card, damaged, place, record_of

from cardingest.archive.repair import repair_copies

__all__ = ["card"]  # the fixture, used by name


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("behind", ["damaged", "the photo"])
def test_a_copy_reached_through_a_linked_patient_folder_is_no_copy(
    tmp_path: Path, card: Path, behind: str
) -> None:
    """The archive's patient folder is a symbolic link to a folder on another disk (it could
    lead anywhere, the card included), where a file has the copy's name. It is no copy of
    the archive's, whatever it holds: the repair says it cannot be checked now, writes
    nothing through the link and sets nothing aside. Checked without the copy's root (the
    `CopyChecker` mutants), the file behind the link counted: the photo's bytes there
    "checked out" (the ingest would clear the catalogue's note on it), and damaged ones
    were only refused by the transfer's own guard, with its message."""
    archive, elsewhere = tmp_path / "archive", tmp_path / "elsewhere"
    data = damaged(PHOTO) if behind == "damaged" else PHOTO
    outside = place(elsewhere, data)
    (archive / ".cardingest").mkdir(parents=True)
    (archive / "JBX3656").symlink_to(elsewhere / "JBX3656", target_is_directory=True)
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING")
    assert not fixed.ok and fixed.restored == () and fixed.set_aside == ()
    assert fixed.archive_path == NAME
    assert fixed.error == (
        f"archive copy {archive / NAME} cannot be checked now (its folder JBX3656 is a "
        "symbolic link)"
    ), fixed.error
    assert outside.read_bytes() == data
    assert files(elsewhere) == [NAME]
    assert files(archive / ".cardingest") == []


def test_a_file_set_aside_before_a_later_copy_failed_is_still_reported(
    tmp_path: Path, card: Path
) -> None:
    """Both copies damaged; the archive copy is set aside and put back, then the backup's
    cannot be set aside (its ``.cardingest/damaged`` is a file). The repair fails, but what
    it set aside and what it put back are still named, so the ingest's audit event says
    where the bad bytes went and which copy holds the photo again (`ingest` writes the
    event only when the repair is ok, put back or set aside something). Dropped on
    failure, the archive's bad file was kept with no record, and the copy put back was
    said nowhere. The note the catalogue is left with names the backup copy, the one still
    bad, so a run without that backup holds the photo rather than failing it again."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    place(archive, damaged(PHOTO))
    bad = place(backup, damaged(PHOTO))
    (backup / ".cardingest").mkdir()
    (backup / ".cardingest" / "damaged").write_bytes(b"not a folder")
    fixed = repair_copies(card, record_of(PHOTO, backup), archive, ingest_id="ING", backup=backup)
    aside = archive / ".cardingest" / "damaged" / "ING" / NAME
    assert not fixed.ok and fixed.archive_path == NAME
    assert fixed.set_aside == (str(aside),), fixed
    assert fixed.restored == (str(archive / NAME),), fixed
    assert aside.read_bytes() == damaged(PHOTO)
    assert (archive / NAME).read_bytes() == PHOTO
    assert bad.read_bytes() == damaged(PHOTO)
    assert "putting back" in (fixed.error or ""), fixed.error
    assert (fixed.error or "").endswith(f"(put back: {archive / NAME})"), fixed.error
    assert fixed.left == f"backup copy {bad.name} no longer matches", fixed.left


def test_two_copies_that_cannot_be_put_back_are_both_named_apart(
    tmp_path: Path, card: Path
) -> None:
    """A folder stands at the archive copy's name (never set aside whole) and the damaged
    backup copy is in a backup this run was not given: nothing is written, and the one
    message names both, each in its own clause; the catalogue's note is the backup's."""
    archive, backup, other = tmp_path / "archive", tmp_path / "backup", tmp_path / "other"
    (archive / NAME).mkdir(parents=True)
    bad = place(backup, damaged(PHOTO))
    other.mkdir()
    fixed = repair_copies(card, record_of(PHOTO, backup), archive, ingest_id="ING", backup=other)
    assert not fixed.ok and fixed.archive_path == NAME
    assert fixed.restored == () and fixed.set_aside == ()
    assert fixed.error == (
        f"archive copy {archive / NAME} is a folder, not the photo: move that folder aside "
        "by hand, then ingest again; "
        f"the backup copy {bad} is repaired only by an ingest with the --backup folder "
        "that holds it"
    ), fixed.error
    assert fixed.left == "backup copy JBX3656-20080530-155601.jpg no longer matches"
    assert (archive / NAME).is_dir() and bad.read_bytes() == damaged(PHOTO)
    assert list(other.iterdir()) == [] and not (archive / ".cardingest").exists()


def test_a_put_back_beside_a_copy_left_says_both(tmp_path: Path, card: Path) -> None:
    """The archive copy damaged, the backup copy in a backup this run was not given: the
    archive copy is put back and set aside, and the error says which was left and which put
    back; the note left for the catalogue is the backup copy's."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    copy = place(archive, damaged(PHOTO))
    bad = place(backup, damaged(PHOTO))
    fixed = repair_copies(card, record_of(PHOTO, backup), archive, ingest_id="ING")
    aside = archive / ".cardingest" / "damaged" / "ING" / NAME
    assert not fixed.ok and fixed.archive_path == NAME
    assert fixed.restored == (str(copy),) and fixed.set_aside == (str(aside),)
    assert fixed.error == (
        f"the backup copy {bad} is repaired only by an ingest with the --backup folder that "
        f"holds it (put back: {copy})"
    ), fixed.error
    assert fixed.left == "backup copy JBX3656-20080530-155601.jpg no longer matches"


def test_a_first_backup_copy_by_default_takes_the_photos_own_name(
    tmp_path: Path, card: Path
) -> None:
    """Archived with no backup copy, given a backup: with no ``backup_first`` the backup
    copy takes the archive path itself (the first of its free names), not ``-2``; and the
    whole repair is reported under the record's archive path."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    copy = place(archive, damaged(PHOTO))
    backup.mkdir()
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING", backup=backup)
    assert fixed.ok and fixed.archive_path == NAME
    assert fixed.restored == (str(copy), str(backup / NAME))
    assert files(backup) == [NAME] and (backup / NAME).read_bytes() == PHOTO


def test_every_byte_a_repair_reads_is_counted_once(tmp_path: Path, card: Path) -> None:
    """The progress callback gets each byte read from the card: one read to put back the
    damaged archive copy, one for the first backup copy. Not passed on, the bytes bar of a
    re-ingest stood still while the card was read."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    place(archive, damaged(PHOTO))
    backup.mkdir()
    counted: list[int] = []
    fixed = repair_copies(
        card, record_of(PHOTO), archive, ingest_id="ING", backup=backup, on_bytes=counted.append
    )
    assert fixed.ok and len(fixed.restored) == 2
    assert sum(counted) == 2 * len(PHOTO)


@pytest.mark.parametrize("first_copy", [False, True], ids=["put back", "first backup copy"])
def test_a_card_file_that_grew_is_read_only_to_the_archived_size(
    tmp_path: Path, card: Path, first_copy: bool
) -> None:
    """The card file is longer now than the archived photo: the read stops at the archived
    size and says the file changed while it was read, rather than reading it to its end
    first; nothing is written either way."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    copy = place(archive, PHOTO if first_copy else damaged(PHOTO))
    backup.mkdir()
    card.write_bytes(PHOTO + b"grown")
    fixed = repair_copies(card, record_of(PHOTO), archive, ingest_id="ING", backup=backup)
    assert not fixed.ok and fixed.restored == () and fixed.set_aside == ()
    assert fixed.error == (
        f"{card} changed while reading: more than the expected {len(PHOTO)} bytes"
    ), fixed.error
    assert copy.read_bytes() == (PHOTO if first_copy else damaged(PHOTO))
    assert files(backup) == []
