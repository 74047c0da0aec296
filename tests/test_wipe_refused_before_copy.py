"""`ingest --wipe`: a wipe that the card would refuse after the copy is refused before it,
exit 2 with nothing copied, and its dry run says the same instead of promising the wipe:
a folder that is no card's root (no DCIM/), a card mounted read-only (the write-protect
switch), a photo folder this account may not change. Each runs the installed command."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from badinput_helpers import NO_OVERRIDE, cardingest, dated_card
from cardimage import CardFactory, require
from exif_bytes import exif_jpeg

MODES = [["--yes"], ["--dry-run"], ["--yes", "--json"]]


def mode_id(mode: list[str]) -> str:
    return "+".join(m.removeprefix("--") for m in mode)


def refused(card: Path, tmp_path: Path, mode: list[str], **options: object) -> str:
    """Run ``ingest CARD --id … --wipe MODE``: exit 2, nothing copied; its stderr."""
    archive = tmp_path / "archive"
    run = cardingest(
        "ingest",
        card,
        "--id",
        "JBX3656",
        "--archive",
        archive,
        "--wipe",
        *mode,
        home=tmp_path / "home",
        **options,  # type: ignore[arg-type]
    )
    assert run.code == 2, run.stderr
    assert not archive.exists()
    assert "the real run then removes" not in run.stderr  # the dry run's promise
    if "--json" in mode:
        assert run.json()["error"]["exit"] == 2
    else:
        assert run.stdout == b""
    return run.stderr


@pytest.mark.parametrize("mode", MODES, ids=mode_id)
def test_a_folder_that_is_no_cards_root_is_refused_before_any_copy(
    tmp_path: Path, mode: list[str]
) -> None:
    folder = tmp_path / "photos"  # the photos straight in it, as copied off a card by hand
    folder.mkdir()
    (folder / "IMG_0001.JPG").write_bytes(exif_jpeg("2026:01:02 10:00:00"))
    said = refused(folder, tmp_path, mode)
    assert f"Not wiping: {folder} has no DCIM folder" in said
    assert "Nothing was copied" in said
    assert "give the card's root" in said and "leave out --wipe" in said
    assert [p.name for p in folder.iterdir()] == ["IMG_0001.JPG"]


@pytest.mark.parametrize("mode", MODES, ids=mode_id)
def test_a_folder_inside_a_cards_dcim_is_refused_so_too(tmp_path: Path, mode: list[str]) -> None:
    card = dated_card(tmp_path / "card")
    said = refused(card / "DCIM" / "100CANON", tmp_path, mode)
    assert "has no DCIM folder" in said and "give the card's root" in said


@pytest.mark.parametrize("mode", MODES, ids=mode_id)
def test_a_dcim_that_is_a_link_is_named_so(tmp_path: Path, mode: list[str]) -> None:
    """Not "has no DCIM folder" alone, when there is one to see: it is a link, never followed."""
    card = dated_card(tmp_path / "card")
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "DCIM").symlink_to(card / "DCIM")
    said = refused(folder, tmp_path, mode)
    assert "has no DCIM folder (DCIM there is a symbolic link, which is not followed)" in said
    assert "give the card's root" in said
    assert sorted(p.name for p in (card / "DCIM" / "100CANON").iterdir())


@pytest.mark.card
@pytest.mark.parametrize("mode", MODES, ids=mode_id)
def test_a_write_protected_card_is_refused_before_any_copy(
    fat_card: CardFactory, tmp_path: Path, mode: list[str]
) -> None:
    files = {f"DCIM/100CANON/IMG_000{n}.JPG": exif_jpeg(f"2026:01:02 10:0{n}:00") for n in (1, 2)}
    card = fat_card(files, readonly=True)
    said = refused(card, tmp_path, mode)
    assert f"Not wiping: the card at {card} is read-only" in said
    assert "Nothing was copied" in said and "leave out --wipe" in said


@pytest.mark.parametrize("mode", MODES, ids=mode_id)
def test_a_photo_folder_this_account_may_not_change_is_refused_before_any_copy(
    tmp_path: Path, mode: list[str]
) -> None:
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    card = dated_card(tmp_path / "card")
    folder = card / "DCIM" / "100CANON"
    folder.chmod(0o555)
    try:
        said = refused(card, tmp_path, mode, prefix=("setpriv", *NO_OVERRIDE))
    finally:
        folder.chmod(0o755)
    assert f"Not wiping: this account may not remove files in {folder}" in said
    assert "Nothing was copied" in said and "leave out --wipe" in said


def test_a_card_the_wipe_can_clear_is_still_ingested_and_wiped(tmp_path: Path) -> None:
    """The checks refuse only what the wipe would: a writable card's root goes through. Its
    dry run without a terminal says that the real run needs --yes (which it refuses before
    any copy without)."""
    card, archive = dated_card(tmp_path / "card"), tmp_path / "archive"
    dry = cardingest(
        "ingest", card, "--id", "JBX3656", "--archive", archive, "--wipe", "--dry-run",
        home=tmp_path / "home", stdin="",
    )  # fmt: skip
    assert dry.code == 0 and "the real run then removes" in dry.stderr, dry.stderr
    assert "no terminal here to ask on: the real run needs --yes" in dry.stderr
    run = cardingest(
        "ingest", card, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes", "--json",
        home=tmp_path / "home",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["wipe"]["summary"]["removed"] == 2
    assert list((card / "DCIM" / "100CANON").iterdir()) == []
