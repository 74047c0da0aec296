"""Issue 12, item 12: symbolic links, FIFOs and device files under DCIM/ are never followed
or opened, get a warning in preview and ingest, and are counted as kept by the wipe."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from badinput_helpers import cardingest, folder_card, photos
from cardimage import require, require_samples
from factories import media

from cardingest.models import ArchivedFile, MediaFile
from cardingest.prepare import content_elsewhere

SPECIALS = {
    "DCIM/100CANON/IMG_0002.JPG": "a symbolic link",
    "DCIM/100CANON/IMG_0003.JPG": "a named pipe (FIFO)",
    "DCIM/100CANON/IMG_0004.JPG": "a device file",
    "DCIM/101LINK": "a symbolic link",
}


@pytest.fixture
def card(tmp_path: Path) -> Path:
    require_samples()
    first, second = photos(2)
    card = folder_card(tmp_path / "card", {b"DCIM/100CANON/IMG_0001.JPG": first})
    outside = folder_card(tmp_path / "elsewhere", {b"IMG_0005.JPG": second})
    folder = card / "DCIM" / "100CANON"
    (folder / "IMG_0002.JPG").symlink_to(second)  # would be archived if it were followed
    os.mkfifo(folder / "IMG_0003.JPG")  # would block a reader forever
    try:
        os.mknod(folder / "IMG_0004.JPG", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        require(False, "mknod (a device file on the test card) needs root")
    (card / "DCIM" / "101LINK").symlink_to(outside, target_is_directory=True)
    return card


def _warned(warnings: list[str]) -> dict[str, str]:
    found = {}
    for warning in warnings:
        path, _, rest = warning.partition(": ")
        if path in SPECIALS:
            found[path] = rest.partition(",")[0]
    return found


def test_specials_are_named_in_preview_ingest_and_wipe(card: Path, tmp_path: Path) -> None:
    home, archive = tmp_path / "home", tmp_path / "archive"
    preview = cardingest(
        "preview", card, "--id", "JBX3656", "--archive", archive, "--json", home=home
    )
    assert preview.code == 0, preview.stderr
    document = preview.json()
    assert [item["source"] for item in document["items"]] == ["DCIM/100CANON/IMG_0001.JPG"]
    assert _warned(document["warnings"]) == SPECIALS

    ingest = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
    assert ingest.code == 0, ingest.stderr
    for path, kind in SPECIALS.items():
        assert f"{path}: {kind}" in ingest.stderr
    assert [p.name for p in (archive / "JBX3656").iterdir()] == ["JBX3656-20080530-155601.jpg"]

    wipe = cardingest("wipe", card, "--archive", archive, "--yes", "--json", home=home)
    assert wipe.code == 3, wipe.stderr
    result = wipe.json()
    assert result["summary"] == {"removed": 1, "kept": len(SPECIALS)}
    kept = {item["source"]: item["reason"] for item in result["items"] if item["action"] == "keep"}
    assert {path: reason.partition(":")[0] for path, reason in kept.items()} == SPECIALS
    for path in SPECIALS:
        assert os.path.lexists(card / path)
    assert (tmp_path / "elsewhere" / "IMG_0005.JPG").exists()  # a link's target is not touched


@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
def test_an_archived_name_swapped_for_a_special_file_is_held_not_waited_on(
    kind: str, tmp_path: Path
) -> None:
    """A card file named and sized as an archived photo is hashed before the plan calls it
    archived; a FIFO put there since the scan would block a plain open for ever."""
    root = tmp_path / "card"
    path = "DCIM/100CANON/IMG_0001.JPG"
    where = root / path
    where.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(where)
    elif kind == "folder":
        where.mkdir()
    else:
        (tmp_path / "photo").write_bytes(b"x" * 10)
        where.symlink_to(tmp_path / "photo")
    archived = ArchivedFile("JBX3656", "JBX3656/a.jpg", "0" * 64, 10, path, "2026-11-24T09:15:02")
    found: list[tuple[MediaFile, ...]] = []

    def plan_inputs() -> None:
        files = (media(path, size=10),)
        found.append(content_elsewhere(root, tmp_path / "archive", files, {}, [archived])[0])

    worker = threading.Thread(target=plan_inputs, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the hash waited on the FIFO"
    [[held]] = found
    assert held.unreadable and held.sha256 is None
