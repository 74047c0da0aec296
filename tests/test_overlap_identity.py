"""Issue 12, item 11: an archive that is the card, or inside it, reached through another path
(a bind mount), is refused like a path overlap: by device and inode up the tree."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from badinput_helpers import cardingest, photos
from cardimage import CardFactory, require, require_samples


@pytest.fixture
def bind() -> Iterator[Callable[[Path, Path], Path]]:
    """``bind(source, target)``: a second path to ``source``; unmounted after the test."""
    require(os.geteuid() == 0, "a bind mount needs root")
    made: list[Path] = []

    def mount(source: Path, target: Path) -> Path:
        target.mkdir(parents=True)
        done = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
        require(done.returncode == 0, f"cannot bind-mount here: {done.stderr!r}")
        made.append(target)
        return target

    yield mount
    for target in reversed(made):
        subprocess.run(["umount", str(target)], check=False)


def _files(card: Path) -> list[str]:
    return sorted(p.relative_to(card).as_posix() for p in card.rglob("*"))


def test_archive_on_the_card_through_a_bind_mount_is_refused(
    fat_card: CardFactory, tmp_path: Path, bind: Callable[[Path, Path], Path]
) -> None:
    require_samples()
    card = fat_card({"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]})
    alias = bind(card, tmp_path / "alias")
    home = tmp_path / "home"
    before = _files(card)
    for archive in (alias / "archive", alias, alias / "DCIM" / "100CANON"):
        run = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
        assert run.code == 2, (archive, run.stderr)
        assert "overlap" in run.stderr
    assert _files(card) == before  # nothing was created on the card


def test_backup_reaching_the_archive_through_a_bind_mount_is_refused(
    tmp_path: Path, bind: Callable[[Path, Path], Path]
) -> None:
    require_samples()
    card = tmp_path / "card" / "DCIM" / "100CANON"
    card.mkdir(parents=True)
    (card / "IMG_0001.JPG").write_bytes(photos(1)[0].read_bytes())
    archive = tmp_path / "archive"
    archive.mkdir()
    alias = bind(archive, tmp_path / "nas")
    run = cardingest(
        "ingest",
        tmp_path / "card",
        "--id",
        "JBX3656",
        "--archive",
        archive,
        "--backup",
        alias / "backup",
        home=tmp_path / "home",
    )
    assert run.code == 2 and "overlap" in run.stderr
    assert list(archive.iterdir()) == []


def test_a_folder_on_the_card_bind_mounted_as_the_archive_is_refused(
    fat_card: CardFactory, tmp_path: Path, bind: Callable[[Path, Path], Path]
) -> None:
    """A folder *inside* the card mounted elsewhere: walking up from there never meets the
    card's own folder, so only the mount table tells that it lies on the card. Before, the
    ingest filed the copies there and the wipe cleared DCIM/, leaving them on the card."""
    require_samples()
    card = fat_card({"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]})
    (card / "ZZ").mkdir()
    alias = bind(card / "ZZ", tmp_path / "archive")
    home = tmp_path / "home"
    before = _files(card)
    for archive in (alias, alias / "photos"):
        run = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
        assert run.code == 2 and "overlap" in run.stderr, (archive, run.stderr)
    wipe = cardingest("wipe", card, "--archive", alias, "--yes", home=home)
    assert wipe.code == 2 and "overlap" in wipe.stderr, wipe.stderr
    assert _files(card) == before


def test_a_backup_on_the_card_of_a_source_given_as_its_folder_is_refused(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    """The source given as the card's DCIM/100CANON, the backup (or archive) at the card's
    top: the whole card counts, not only the folder read. So does another mounted card."""
    require_samples()
    card = fat_card({"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]})
    other = fat_card({"DCIM/100NIKON/DSC_0001.JPG": photos(1)[0]}, label="OTHER")
    home, archive = tmp_path / "home", tmp_path / "archive"
    folder = card / "DCIM" / "100CANON"
    before = _files(card), _files(other)
    run = cardingest(
        "ingest",
        folder,
        "--id",
        "JBX3656",
        "--archive",
        archive,
        "--backup",
        card / "bk",
        home=home,
    )
    assert run.code == 2 and "overlap" in run.stderr, run.stderr
    run = cardingest("ingest", folder, "--id", "JBX3656", "--archive", other / "arch", home=home)
    assert run.code == 2 and f"on the camera card at {other}" in " ".join(run.stderr.split())
    assert (_files(card), _files(other)) == before
    assert not archive.exists()
