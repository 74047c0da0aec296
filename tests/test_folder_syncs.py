"""A published photo's folder is fsynced before its catalogue row is committed, once per
batch of rows rather than once per photo (storage/durable.FolderSyncs)."""

from __future__ import annotations

import errno
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clinic_helpers import camera_jpeg, cli

from cardingest.archive.catalogue import Catalogue, CatalogueRecord
from cardingest.ingest import BATCH_FILES
from cardingest.storage import durable, transfer
from cardingest.storage.durable import FolderSyncs

PHOTOS = 2 * BATCH_FILES + 7


def refuse_links(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.EPERM, "Operation not permitted")


def card_of(root: Path, count: int) -> Path:
    first = datetime(2024, 3, 15, 9, 0, 0)
    for n in range(count):
        camera_jpeg(
            root / "DCIM" / "100CANON" / f"IMG_{n + 1:04d}.JPG",
            first + timedelta(seconds=n),
            size=(32, 24),
        )
    return root


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "renamed-without-links"])
def test_rows_are_committed_only_for_photos_whose_folder_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    """Every row the ingest commits names a file that exists and whose folder was fsynced
    after the file got its name; the patient folder is fsynced once per batch, not per photo.
    Also where the copies take their names by a rename that never replaces (`rename_new`:
    FAT and exFAT in Linux's own drivers, played on this disk with every link refused)."""
    if not links:
        monkeypatch.setattr(os, "link", refuse_links)
    card = card_of(tmp_path / "card", PHOTOS)
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    synced: list[Path] = []
    durable_names: set[Path] = set()  # files whose name was in their folder when it was synced
    real_sync = durable.fsync_dir

    def fsync_dir(folder: Path) -> None:
        names = {Path(folder, name) for name in os.listdir(folder)}
        real_sync(folder)
        synced.append(Path(folder))
        durable_names.update(names)

    monkeypatch.setattr(durable, "fsync_dir", fsync_dir)
    monkeypatch.setattr(transfer, "fsync_dir", fsync_dir)
    committed: list[str] = []
    real_add = Catalogue.add

    def add(self: Catalogue, records: list[CatalogueRecord]) -> None:
        for record in records:
            for root, path in ((archive, record.archive_path), (backup, record.backup_path)):
                if path is None:
                    continue
                copy = root / path if root == archive else Path(path)
                assert copy.is_file()
                assert copy in durable_names, f"{copy}: its folder was not synced since"
        committed.extend(record.archive_path for record in records)
        real_add(self, records)

    monkeypatch.setattr(Catalogue, "add", add)
    result = cli(
        "ingest", card, "--id", "JBX3656", "--archive", archive, "--backup", backup, "--json"
    )
    assert result.exit_code == 0, result.output
    assert len(committed) == PHOTOS
    document = json.loads(result.stdout)
    assert document["summary"]["copied"] == PHOTOS
    batches = -(-PHOTOS // BATCH_FILES)
    for folder in (archive / "JBX3656", backup / "JBX3656"):
        # once per batch (plus when the folder was made), never once per photo
        assert 1 <= synced.count(folder) <= batches + 1, (folder, synced.count(folder))
        names = sorted(p.name for p in folder.iterdir())
        assert len(names) == PHOTOS and not any(n.startswith(durable.TEMP_PREFIX) for n in names)


def test_a_folder_sync_that_fails_commits_nothing_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = FolderSyncs()
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    folders.add(second)
    folders.add(first)
    folders.add(first)
    calls: list[Path] = []

    def failing(folder: Path) -> None:
        calls.append(folder)
        if folder == second:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(durable, "fsync_dir", failing)
    with pytest.raises(OSError):
        folders.sync()
    assert calls == [first, second]
    monkeypatch.setattr(durable, "fsync_dir", calls.append)
    folders.sync()
    assert calls == [first, second, second]
    folders.sync()
    assert calls == [first, second, second]


def test_a_photo_published_while_its_folder_is_synced_is_synced_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker may publish into a folder while the batch's sync of that folder runs: the
    name may miss that fsync, so the folder must still be pending for the next batch."""
    folders = FolderSyncs()
    folders.add(tmp_path)
    calls: list[Path] = []

    def publish_during_sync(folder: Path) -> None:
        calls.append(folder)
        if len(calls) == 1:
            folders.add(folder)  # another worker's new name, after this fsync began

    monkeypatch.setattr(durable, "fsync_dir", publish_during_sync)
    folders.sync()
    folders.sync()
    folders.sync()
    assert calls == [tmp_path, tmp_path]


def test_a_folder_that_cannot_be_synced_fails_the_ingest_cleanly_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refuses the fsync of the patient folder at the first batch: exit 1 with the
    folder and the reason, no traceback, no row for a photo whose name was not made durable,
    nothing wiped; the next ingest archives every photo once."""
    card = card_of(tmp_path / "card", PHOTOS)
    archive = tmp_path / "archive"
    real_sync = durable.fsync_dir
    patient = archive / "JBX3656"

    def failing(folder: Path) -> None:
        if Path(folder) == patient:
            raise OSError(5, "Input/output error")
        real_sync(folder)

    monkeypatch.setattr(durable, "fsync_dir", failing)
    failed = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes")
    assert failed.exit_code == 1, failed.output
    assert failed.exception is None or isinstance(failed.exception, SystemExit)
    assert f"cannot make new names in {patient} durable (Input/output error)" in failed.output
    assert "stay on the card" in failed.output
    assert len(list((card / "DCIM" / "100CANON").iterdir())) == PHOTOS

    monkeypatch.setattr(durable, "fsync_dir", real_sync)
    again = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)["summary"]
    assert summary["copied"] + summary["skipped"] == PHOTOS
    with Catalogue.open(archive) as catalogue:
        rows = list(catalogue.records("JBX3656"))
    assert len(rows) == PHOTOS
    assert sorted(p.name for p in patient.iterdir()) == sorted(
        Path(row.archive_path).name for row in rows
    )
