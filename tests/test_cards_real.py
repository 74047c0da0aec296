"""Card detection on real FUSE mounts: FAT32 through fusefat, exFAT through exfat-fuse."""

from __future__ import annotations

import errno
import gc
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cardimage import (
    CardFactory,
    MountedCard,
    MountedExfatCard,
    build_fat32_image,
    is_mounted,
    require_binaries,
    require_fat_tools,
    samples_real,
)

from cardingest.card import scan as scan_module
from cardingest.card.detect import find_cards, resolve_source
from cardingest.card.volume import read_volume_id
from cardingest.errors import CardReadError
from cardingest.models import Card
from cardingest.prepare import scan_source

pytestmark = pytest.mark.card


def camera_files(samples_dir: Path) -> dict[str, Path | bytes]:
    real = samples_dir / "real"
    return {
        "DCIM/100CANON/IMG_0001.JPG": real / "Canon_40D.jpg",
        "DCIM/100CANON/IMG_0002.JPG": real / "Nikon_D70.jpg",
        "DCIM/100CANON/IMG_0003.HEIC": real / "IMG_5195.HEIC",
        "DCIM/100CANON/IMG_0001.THM": b"thumbnail",
        "DCIM/100CANON/._IMG_0001.JPG": b"apple double",
        "DCIM/101CANON/32-lens_data.jpeg": real / "32-lens_data.jpeg",
        "DCIM/MISC/IMG_0009.JPG": real / "Pentax_K10D.jpg",
        "MISC/readme.txt": b"not a photo",
    }


def listed(mount: Path) -> Card | None:
    """The card ``find_cards()`` lists at ``mount`` (other tests may mount cards too)."""
    for card in find_cards():
        if Path(card.mount) == mount.resolve():
            return card
    return None


def test_fat32_card_found(fat_card: CardFactory, samples_dir: Path) -> None:
    mount = fat_card(camera_files(samples_dir), label="EOS_DIGITAL")
    card = listed(mount)
    assert card is not None
    assert card.fstype == "fuse.fusefat"
    assert card.photos == 4
    assert card.label == "EOS_DIGITAL"
    assert card.free_bytes is None
    path, resolved = resolve_source(str(mount))
    assert path == mount.resolve()
    assert resolved == card


def test_fat32_image_serial_and_label(tmp_path: Path) -> None:
    """What fusefat cannot show (its device is the word "fusefat") is read from the image."""
    require_fat_tools()
    image = build_fat32_image(tmp_path / "card.img", {}, label="EOS_DIGITAL", serial="972c-e35c")
    assert read_volume_id(str(image)) == ("fat32", "972C-E35C", "EOS_DIGITAL")
    if shutil.which("blkid"):
        uuid = blkid(str(image), "UUID")
        assert uuid == "972C-E35C"


def test_fat16_image_serial_and_label(tmp_path: Path) -> None:
    require_binaries("mkfs.vfat")
    image = tmp_path / "fat16.img"
    with open(image, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    subprocess.run(
        ["mkfs.vfat", "-F", "16", "-n", "OLD_CARD", "-i", "0BADF00D", str(image)],
        check=True,
        capture_output=True,
    )
    assert read_volume_id(str(image)) == ("fat", "0BAD-F00D", "OLD_CARD")


def test_exfat_card_found(exfat_card: CardFactory, samples_dir: Path) -> None:
    mount = exfat_card(camera_files(samples_dir), label="SDXC_CARD")
    card = listed(mount)
    assert card is not None
    assert card.fstype == "fuseblk"
    device = exfat_card.handle(mount)
    assert isinstance(device, MountedExfatCard)
    assert card.device == device.device
    assert card.photos == 4
    assert card.label == "SDXC_CARD"
    assert card.serial is not None
    assert card.total_bytes and card.free_bytes and card.free_bytes < card.total_bytes
    if shutil.which("blkid"):
        assert card.serial == blkid(card.device, "UUID")
        assert card.label == blkid(card.device, "LABEL")
    path, resolved = resolve_source(str(mount))
    assert (path, resolved) == (mount.resolve(), card)


def test_exfat_serial_set_at_build(exfat_card: CardFactory) -> None:
    mount = exfat_card({"DCIM/100NIKON/DSC_0001.NEF": b"raw"}, serial="DEAD-BEEF")
    card = listed(mount)
    assert card is not None
    assert card.serial == "DEAD-BEEF"


@pytest.mark.parametrize("files", [{"MISC/IMG_0001.JPG": b"x"}, {"DCIM/MISC/IMG_0001.JPG": b"x"}])
def test_card_without_dcf_folder_not_listed(
    fat_card: CardFactory, files: dict[str, Path | bytes]
) -> None:
    mount = fat_card(files)
    assert is_mounted(mount)
    assert listed(mount) is None
    assert resolve_source(str(mount)) == (mount.resolve(), None)


def test_pulled_card_does_not_break_detection(fat_card: CardFactory) -> None:
    gone = fat_card({"DCIM/100CANON/IMG_0001.JPG": b"jpeg"}, label="PULLED")
    kept = fat_card({"DCIM/100CANON/IMG_0001.JPG": b"jpeg"}, label="KEPT")
    fat_card.handle(gone).pull()
    with pytest.raises(OSError) as error:
        list(gone.iterdir())
    assert error.value.errno == errno.ENOTCONN
    assert listed(gone) is None
    assert listed(kept) is not None


def test_mounted_card_remount_readonly_and_unmount(tmp_path: Path) -> None:
    require_fat_tools()
    image = build_fat32_image(tmp_path / "card.img", {"DCIM/100CANON/IMG_0001.JPG": b"jpeg"})
    card = MountedCard(image, tmp_path / "mnt")
    with card as mount:
        (mount / "DCIM" / "100CANON" / "IMG_0002.JPG").write_bytes(b"written")
        card.remount_readonly()
        assert (mount / "DCIM" / "100CANON" / "IMG_0002.JPG").read_bytes() == b"written"
        with pytest.raises(OSError) as error:
            (mount / "DCIM" / "100CANON" / "IMG_0003.JPG").write_bytes(b"x")
        assert error.value.errno == errno.EROFS
        opened = open(mount / "DCIM" / "100CANON" / "IMG_0001.JPG", "rb")  # noqa: SIM115
        try:
            card.unmount()
            assert not is_mounted(mount)
        finally:
            opened.close()
    assert not is_mounted(tmp_path / "mnt")


def test_samples_are_where_the_docs_say(samples_dir: Path) -> None:
    assert samples_real() == samples_dir / "real"
    assert (samples_dir / "real" / "Canon_40D.jpg").is_file()


def blkid(device: str, tag: str) -> str:
    result = subprocess.run(
        ["blkid", "-p", "-o", "value", "-s", tag, device], capture_output=True, text=True
    )
    return result.stdout.strip()


def test_a_card_mounted_with_relative_paths_shows_its_own_label(tmp_path: Path) -> None:
    """``fusefat card.img mnt`` run in the image's folder, as a person types it: fusefat goes
    to ``/`` once it runs in the background, so its relative paths are read from where the
    mount is. The label is the volume's, not the mount folder's name."""
    require_fat_tools()
    build_fat32_image(
        tmp_path / "card.img", {"DCIM/100NIKON/DSC_0001.JPG": b"jpeg"}, label="NIKON_D750"
    )
    (tmp_path / "mnt").mkdir()
    subprocess.run(["fusefat", "-o", "ro", "card.img", "mnt"], cwd=tmp_path, check=True)
    try:
        card = listed(tmp_path / "mnt")
        assert card is not None and card.label == "NIKON_D750", card
    finally:
        subprocess.run(["fusermount", "-u", str(tmp_path / "mnt")], check=True)


def test_a_card_image_given_relative_to_an_absolute_mount_shows_its_own_label(
    tmp_path: Path,
) -> None:
    """``fusefat card.img /media/CARD`` typed in the image's folder: the mount point says
    nothing of that folder, and fusefat has moved to ``/``; the image it holds open does."""
    require_fat_tools()
    build_fat32_image(
        tmp_path / "card.img", {"DCIM/100MSDCF/DSC00001.JPG": b"jpeg"}, label="SONY_A7"
    )
    mount = tmp_path / "media" / "A"
    mount.mkdir(parents=True)
    subprocess.run(["fusefat", "-o", "ro", "card.img", str(mount)], cwd=tmp_path, check=True)
    try:
        card = listed(mount)
        assert card is not None and card.label == "SONY_A7", card
    finally:
        subprocess.run(["fusermount", "-u", str(mount)], check=True)


def test_another_relative_fusefat_mount_is_not_taken_for_this_one(tmp_path: Path) -> None:
    """Two desks' worth of ``fusefat IMAGE mnt``, typed in two folders: read from this
    mount's place, the other's ``mnt`` is this mount too, but its image is not there. Each
    mount shows its own volume's label (the other one was started first, so it is met first)."""
    other = two_cards(tmp_path, "cam2.img")
    subprocess.run(["fusefat", "-o", "ro", "cam2.img", "mnt"], cwd=other, check=True)
    try:
        each_shows_its_own_label(tmp_path, other)
    finally:
        subprocess.run(["fusermount", "-u", str(other / "mnt")], check=True)


def two_cards(tmp_path: Path, other_image: str) -> Path:
    """``card.img`` (NIKON_D750) in ``tmp_path`` and ``other_image`` (OTHER) in its folder
    ``other``, each with an empty ``mnt`` beside it; returns ``other``."""
    require_fat_tools()
    other = tmp_path / "other"
    other.mkdir()
    build_fat32_image(other / other_image, {"DCIM/100CANON/IMG_0001.JPG": b"x"}, label="OTHER")
    build_fat32_image(
        tmp_path / "card.img", {"DCIM/100NIKON/DSC_0001.JPG": b"jpeg"}, label="NIKON_D750"
    )
    for mount in (other / "mnt", tmp_path / "mnt"):
        mount.mkdir()
    return other


def each_shows_its_own_label(tmp_path: Path, other: Path) -> None:
    """``fusefat card.img mnt`` typed in ``tmp_path`` while ``other``'s card is mounted:
    each mount is listed with its own volume's label."""
    subprocess.run(["fusefat", "-o", "ro", "card.img", "mnt"], cwd=tmp_path, check=True)
    try:
        mine, theirs = listed(tmp_path / "mnt"), listed(other / "mnt")
        assert mine is not None and mine.label == "NIKON_D750", mine
        assert theirs is not None and theirs.label == "OTHER", theirs
    finally:
        subprocess.run(["fusermount", "-u", str(tmp_path / "mnt")], check=True)


def test_a_card_pulled_mid_scan_raises_one_error_and_nothing_unraisable(
    fat_card: CardFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan opens files ahead of the one it reads; a card pulled mid-scan made closing
    those fail too (ENOTCONN), inside a generator being thrown away: Python printed
    "Exception ignored in: <generator object _opened_ahead …>" and a traceback above the
    scan's own error (a trial saw it). The scan's own error is the one said."""

    count = scan_module.PREFETCH_FILES + 8
    mount = fat_card({f"DCIM/100CANON/IMG_{n:04d}.JPG": b"jpeg" for n in range(1, count + 1)})
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    seen: list[str] = []

    def pull_after_the_first(relpath: str) -> None:
        seen.append(relpath)
        if len(seen) == 1:
            fat_card.handle(mount).pull()

    with pytest.raises(CardReadError, match="Is the card still inserted"):
        scan_source(mount, on_file=pull_after_the_first)
    gc.collect()
    assert unraisable == []


def test_a_foreground_fusefat_in_another_folder_is_not_taken_for_this_one(
    tmp_path: Path,
) -> None:
    """``fusefat -f card.img mnt`` in another folder stays in that folder (in the
    foreground it does not move to ``/``): read as if it had, it seemed to serve this
    ``mnt`` too, with a ``card.img`` there, and this card lost its label and serial
    whenever another desk (or test) ran one."""
    other = two_cards(tmp_path, "card.img")
    foreground = subprocess.Popen(
        ["fusefat", "-f", "-o", "ro", "card.img", "mnt"], cwd=other, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(3000):  # until its mount is there, up to half a minute
            if os.path.ismount(other / "mnt"):
                break
            time.sleep(0.01)
        assert os.path.ismount(other / "mnt")
        each_shows_its_own_label(tmp_path, other)
    finally:
        subprocess.run(["fusermount", "-u", str(other / "mnt")], check=False)
        foreground.wait(timeout=30)
