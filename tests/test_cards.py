"""Card detection decided on fake mount records (no real mounts needed)."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from cardingest.card import detect as cards
from cardingest.card.detect import (
    DCF_FOLDER,
    card_from_partition,
    dcim_folder,
    find_cards,
    is_candidate,
    is_dcf_folder,
    is_removable_hint,
    resolve_source,
)
from cardingest.card.volume import parse_boot_sector, read_volume_id
from cardingest.errors import SourceError
from cardingest.storage import mounts as mount_table

sdiskpart = namedtuple("sdiskpart", ["device", "mountpoint", "fstype", "opts"])
usage = namedtuple("usage", ["total", "used", "free"])


def make_card(root: Path, files: dict[str, bytes] | None = None) -> Path:
    """A folder laid out like a card: ``files`` maps relative paths to content."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (files or {"DCIM/100CANON/IMG_0001.JPG": b"jpeg"}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# --- DCF folders -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["100CANON", "100canon", "999_PANA", "101ND750", "123ABCDE", "100_FUJI", "1000000_"]
)
def test_dcf_folder_names(name: str) -> None:
    assert is_dcf_folder(name)


@pytest.mark.parametrize(
    "name",
    [
        "099CANON", "000ABCDE", "100CANO", "100CANON1", "100CAN-N", "100CANON\n", "CANON100",
        "100 CANO", "MISC", "", "100ſANON", "100\u212aANON", "１00CANON",
    ],
)  # fmt: skip
def test_not_dcf_folder_names(name: str) -> None:
    assert not is_dcf_folder(name)


def test_dcf_pattern_is_case_insensitive() -> None:
    assert DCF_FOLDER.pattern == "^[1-9][0-9]{2}[0-9A-Z_]{5}$"
    assert DCF_FOLDER.match("100nikon")


def test_dcim_folder_found(tmp_path: Path) -> None:
    make_card(tmp_path)
    assert dcim_folder(tmp_path) == tmp_path / "DCIM"


def test_dcim_folder_any_case(tmp_path: Path) -> None:
    make_card(tmp_path, {"dcim/100canon/img_0001.jpg": b"x"})
    assert dcim_folder(tmp_path) == tmp_path / "dcim"


def test_dcim_folder_prefers_the_one_with_dcf_folders(tmp_path: Path) -> None:
    make_card(tmp_path, {"DCIM/MISC/x.jpg": b"x", "dcim/100CANON/IMG_0001.JPG": b"x"})
    assert dcim_folder(tmp_path) == tmp_path / "dcim"


@pytest.mark.parametrize(
    "files",
    [
        {"DCIM/MISC/IMG_0001.JPG": b"x"},
        {"DCIM/IMG_0001.JPG": b"x"},
        {"PHOTOS/100CANON/IMG_0001.JPG": b"x"},
        {"DCIM": b"a file, not a folder"},
        {"DCIM/100CANON": b"a file, not a folder"},
        {"sub/DCIM/100CANON/IMG_0001.JPG": b"x"},
    ],
)
def test_no_dcim_folder(tmp_path: Path, files: dict[str, bytes]) -> None:
    make_card(tmp_path, files)
    assert dcim_folder(tmp_path) is None


def test_dcim_folder_of_missing_root(tmp_path: Path) -> None:
    assert dcim_folder(tmp_path / "gone") is None


# --- which mounts are looked at ----------------------------------------------------------

LINUX_VFAT = sdiskpart("/dev/sdb1", "/media/user/EOS_DIGITAL", "vfat", "rw,nosuid,nodev,uid=1000")
LINUX_FUSEFAT = sdiskpart("fusefat", "/home/user/card", "fuse.fusefat", "rw,nosuid,nodev")
LINUX_FUSEBLK = sdiskpart("/dev/sdc1", "/mnt/sdxc", "fuseblk", "rw,nosuid,nodev,allow_other")
LINUX_SNAP = sdiskpart("/dev/loop3", "/snap/core22/1380", "squashfs", "ro,nodev,relatime")
MAC_NIKON = sdiskpart("/dev/disk4s1", "/Volumes/NIKON D750", "msdos", "rw,nosuid,local")
WIN_CARD = sdiskpart("E:\\", "E:\\", "FAT32", "rw,removable")
WIN_EXFAT = sdiskpart("F:\\", "F:\\", "exFAT", "rw,removable")
WIN_SYSTEM = sdiskpart("C:\\", "C:\\", "NTFS", "rw,fixed")
WIN_EMPTY_SLOT = sdiskpart("G:\\", "G:\\", "", "removable")


@pytest.mark.parametrize(
    "partition",
    [
        LINUX_VFAT,
        LINUX_FUSEFAT,
        LINUX_FUSEBLK,
        MAC_NIKON,
        WIN_CARD,
        WIN_EXFAT,
        WIN_SYSTEM,
        sdiskpart("/dev/sdb1", "/run/media/user/CARD", "ext4", "rw"),
        sdiskpart("/dev/sdb1", "/media/CARD", "ext4", "rw"),
        sdiskpart("/dev/sdd1", "/mnt/ntfs", "ntfs3", "rw"),
        sdiskpart("/dev/disk5s1", "/Volumes/Untitled", "exfat", "rw"),
        sdiskpart("/dev/disk1s1", "/", "apfs", "rw,local"),
        sdiskpart("/dev/mmcblk0p1", "/mnt/card", "VFAT", "rw"),
    ],
    ids=lambda p: f"{p.fstype or 'none'}@{p.mountpoint}",
)
def test_candidates(partition: sdiskpart) -> None:
    assert is_candidate(partition)


@pytest.mark.parametrize(
    "partition",
    [
        LINUX_SNAP,
        WIN_EMPTY_SLOT,
        sdiskpart("proc", "/proc", "proc", "rw"),
        sdiskpart("sysfs", "/sys", "sysfs", "rw"),
        sdiskpart("cgroup", "/sys/fs/cgroup/cpu", "cgroup", "rw"),
        sdiskpart("cgroup2", "/sys/fs/cgroup/unified", "cgroup2", "rw"),
        sdiskpart("devpts", "/dev/pts", "devpts", "rw"),
        sdiskpart("tmpfs", "/run/user/1000", "tmpfs", "rw"),
        sdiskpart("overlay", "/var/lib/docker/overlay2/x/merged", "overlay", "rw"),
        sdiskpart("systemd-1", "/media/auto", "autofs", "rw"),
        sdiskpart("/dev/loop7", "/media/user/snapthing", "squashfs", "ro"),
        sdiskpart("snapfuse", "/snap/lxd/123", "fuse.snapfuse", "ro"),
        sdiskpart("/dev/loop2", "/var/lib/snapd/snaps/x", "vfat", "ro"),
        sdiskpart("gvfsd-fuse", "/run/user/1000/gvfs", "fuse.gvfsd-fuse", "rw"),
        sdiskpart("user@host:", "/home/user/remote", "fuse.sshfs", "rw"),
        sdiskpart("/dev/vda", "/", "ext4", "rw"),
        sdiskpart("/dev/sda2", "/media", "ext4", "rw"),
        sdiskpart("devfs", "/dev", "devfs", "rw,local"),
        sdiskpart("map auto_home", "/System/Volumes/Data/home", "autofs", "rw"),
    ],
    ids=lambda p: f"{p.fstype or 'none'}@{p.mountpoint}",
)
def test_not_candidates(partition: sdiskpart) -> None:
    assert not is_candidate(partition)


@pytest.fixture
def fake_sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``/sys/class/block`` with a removable disk sdb (partition sdb1) and a fixed sda."""
    devices = tmp_path / "sys" / "devices"
    block = tmp_path / "sys" / "class" / "block"
    block.mkdir(parents=True)
    for disk, removable in (("sda", "0"), ("sdb", "1"), ("loop0", "0")):
        (devices / disk).mkdir(parents=True)
        (devices / disk / "removable").write_text(f"{removable}\n")
        (block / disk).symlink_to(devices / disk)
        if not disk.startswith("loop"):
            (devices / disk / f"{disk}1").mkdir()
            (devices / disk / f"{disk}1" / "partition").write_text("1\n")
            (block / f"{disk}1").symlink_to(devices / disk / f"{disk}1")
    monkeypatch.setattr(cards, "SYS_CLASS_BLOCK", block)
    return block


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("/dev/sdb1", True),
        ("/dev/sdb", True),
        ("/dev/sda1", False),
        ("/dev/loop0", False),
        ("/dev/sdz1", False),
        ("/dev/mmcblk0p1", True),
        ("/dev/mmcblk0boot0", False),
        ("fusefat", False),
        ("", False),
    ],
)
def test_removable_from_sysfs(fake_sysfs: Path, device: str, expected: bool) -> None:
    assert is_removable_hint(sdiskpart(device, "/mnt/x", "vfat", "rw")) is expected


def test_removable_without_sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cards, "SYS_CLASS_BLOCK", tmp_path / "nothing")
    assert not is_removable_hint(sdiskpart("/dev/sdb1", "/mnt/x", "vfat", "rw"))


@pytest.mark.parametrize(
    ("partition", "expected"),
    [
        (LINUX_VFAT, True),
        (sdiskpart("/dev/sdz1", "/run/media/user/CARD", "vfat", "rw"), True),
        (MAC_NIKON, True),
        (WIN_CARD, True),
        (WIN_EXFAT, True),
        (WIN_SYSTEM, False),
        (sdiskpart("fusefat", "/home/user/card", "fuse.fusefat", "rw"), False),
        (sdiskpart("/dev/disk1s1", "/", "apfs", "rw,local"), False),
        (sdiskpart("/dev/disk1s1", "/Volumes", "apfs", "rw,local"), False),
    ],
    ids=lambda value: value.mountpoint if isinstance(value, tuple) else str(value),
)
def test_removable_hint(fake_sysfs: Path, partition: sdiskpart, expected: bool) -> None:
    assert is_removable_hint(partition) is expected


# --- boot sectors ------------------------------------------------------------------------


def fat32_image(serial: int, boot_label: bytes, root_label: bytes | None = None) -> bytes:
    """A minimal FAT32 volume start: boot sector, then the root directory's first cluster.

    512-byte sectors, 1 sector per cluster, 32 reserved sectors, 2 FATs of 1 sector, root
    directory at cluster 2, so the root directory is at sector 34.
    """
    boot = bytearray(512)
    boot[0:3] = b"\xeb\x58\x90"
    boot[3:11] = b"mkfs.fat"
    struct.pack_into("<HBHB", boot, 0x0B, 512, 1, 32, 2)
    struct.pack_into("<I", boot, 0x24, 1)
    struct.pack_into("<I", boot, 0x2C, 2)
    boot[0x42] = 0x29
    struct.pack_into("<I", boot, 0x43, serial)
    boot[0x47:0x52] = boot_label.ljust(11)
    boot[0x52:0x5A] = b"FAT32   "
    boot[510:512] = b"\x55\xaa"
    root = bytearray(512)
    if root_label is not None:
        root[0:32] = b"\xe5" + b"ELETED LBL" + b"\x08" + bytes(20)
        root[32:64] = b"A\x00b\x00c" + bytes(6) + b"\x0f" + bytes(20)
        root[64:96] = root_label.ljust(11) + b"\x08" + bytes(20)
    return bytes(boot) + bytes(512 * 33) + bytes(root)


def fat16_boot(serial: int, label: bytes, signature: int = 0x29) -> bytes:
    boot = bytearray(512)
    boot[0:3] = b"\xeb\x3c\x90"
    struct.pack_into("<HBHBH", boot, 0x0B, 512, 4, 1, 2, 512)
    struct.pack_into("<H", boot, 0x16, 32)
    boot[0x26] = signature
    struct.pack_into("<I", boot, 0x27, serial)
    boot[0x2B:0x36] = label.ljust(11)
    boot[0x36:0x3E] = b"FAT16   "
    boot[510:512] = b"\x55\xaa"
    return bytes(boot)


def exfat_image(serial: int, label: str | None) -> bytes:
    """Boot sector, then the root directory at sector 4 (heap at 4, root cluster 2)."""
    boot = bytearray(512)
    boot[3:11] = b"EXFAT   "
    struct.pack_into("<I", boot, 0x58, 4)
    struct.pack_into("<I", boot, 0x60, 2)
    struct.pack_into("<I", boot, 0x64, serial)
    boot[0x6C] = 9
    boot[0x6D] = 0
    boot[510:512] = b"\x55\xaa"
    root = bytearray(512)
    root[0:32] = b"\x81" + bytes(31)
    if label is not None:
        encoded = label.encode("utf-16-le")
        root[32:64] = bytes([0x83, len(label)]) + encoded + bytes(30 - len(encoded))
    return bytes(boot) + bytes(512 * 3) + bytes(root)


def test_parse_fat32_boot_sector() -> None:
    volume = parse_boot_sector(fat32_image(0x972CE35C, b"EOS_DIGITAL")[:512])
    assert volume == ("fat32", "972C-E35C", "EOS_DIGITAL")


def test_parse_fat16_boot_sector() -> None:
    assert parse_boot_sector(fat16_boot(0x00AB12CD, b"CANON")) == ("fat", "00AB-12CD", "CANON")


def test_no_name_is_no_label() -> None:
    assert parse_boot_sector(fat16_boot(1, b"NO NAME")) == ("fat", "0000-0001", None)


def test_old_extended_signature_has_serial_but_no_label() -> None:
    assert parse_boot_sector(fat16_boot(1, b"JUNK", signature=0x28)) == ("fat", "0000-0001", None)


def test_parse_exfat_boot_sector() -> None:
    assert parse_boot_sector(exfat_image(0xFF6FA978, "X")[:512]) == ("exfat", "FF6F-A978", None)


@pytest.mark.parametrize(
    "sector",
    [
        b"",
        bytes(512),
        bytes(510) + b"\x55\xaa",
        fat16_boot(1, b"A", signature=0)[:510] + b"\x55\xaa",
        fat16_boot(1, b"A")[:100],
        b"\xeb\x3c\x90" + bytes(507) + b"\x55\xaa",
        b"\x00" + fat16_boot(1, b"A")[1:],
    ],
)
def test_parse_not_a_fat_boot_sector(sector: bytes) -> None:
    assert parse_boot_sector(sector) is None


def test_read_volume_id_prefers_root_directory_label(tmp_path: Path) -> None:
    image = tmp_path / "fat32.img"
    image.write_bytes(fat32_image(0x1234ABCD, b"NO NAME", root_label=b"RENAMED"))
    assert read_volume_id(str(image)) == ("fat32", "1234-ABCD", "RENAMED")


def test_read_volume_id_falls_back_to_boot_label(tmp_path: Path) -> None:
    image = tmp_path / "fat32.img"
    image.write_bytes(fat32_image(0x1234ABCD, b"EOS_DIGITAL"))
    assert read_volume_id(str(image)) == ("fat32", "1234-ABCD", "EOS_DIGITAL")


def test_read_volume_id_exfat_label_from_root_directory(tmp_path: Path) -> None:
    image = tmp_path / "exfat.img"
    image.write_bytes(exfat_image(0xDEADBEEF, "SDXC_Ñ"))
    assert read_volume_id(str(image)) == ("exfat", "DEAD-BEEF", "SDXC_Ñ")
    image.write_bytes(exfat_image(0xDEADBEEF, None))
    assert read_volume_id(str(image)) == ("exfat", "DEAD-BEEF", None)


def test_read_volume_id_of_truncated_image(tmp_path: Path) -> None:
    image = tmp_path / "short.img"
    image.write_bytes(fat32_image(0x1234ABCD, b"EOS_DIGITAL")[:512])
    assert read_volume_id(str(image)) == ("fat32", "1234-ABCD", "EOS_DIGITAL")


@pytest.mark.parametrize("device", ["fusefat", "/dev/null", "/dev/fuse", "/nonexistent", "/", ""])
def test_read_volume_id_of_unreadable_devices(device: str) -> None:
    assert read_volume_id(device) is None


# --- cards from partitions ---------------------------------------------------------------

CARD_FILES = {
    "DCIM/100CANON/IMG_0001.JPG": b"jpeg",
    "DCIM/100CANON/IMG_0002.cr2": b"raw",
    "DCIM/100CANON/IMG_0003.HEIC": b"heic",
    "DCIM/100CANON/IMG_0001.THM": b"thumbnail",
    "DCIM/100CANON/._IMG_0001.JPG": b"apple double",
    "DCIM/100CANON/.hidden.jpg": b"hidden",
    "DCIM/100CANON/notes.txt": b"text",
    "DCIM/100CANON/MVI_0004.MOV": b"video",
    "DCIM/100CANON/noextension": b"?",
    "DCIM/100CANON/sub/IMG_0009.JPG": b"nested",
    "DCIM/101_PANA/P1000001.RW2": b"raw",
    "DCIM/101_PANA/P1000002.jpeg": b"jpeg",
    "DCIM/MISC/IMG_0005.JPG": b"not in a DCF folder",
    "DCIM/IMG_0006.JPG": b"not in a DCF folder",
    "IMG_0007.JPG": b"not under DCIM",
}


def test_card_from_linux_partition(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "EOS_DIGITAL", CARD_FILES)
    card = card_from_partition(sdiskpart("/dev/sdz1", str(mount), "vfat", "rw"))
    assert card is not None
    assert card.mount == str(mount)
    assert (card.fstype, card.device, card.label, card.serial) == (
        "vfat", "/dev/sdz1", "EOS_DIGITAL", None
    )  # fmt: skip
    assert card.photos == 5
    assert card.total_bytes and card.total_bytes > 0
    assert card.free_bytes is not None
    assert card.removable is False


def test_card_from_mac_partition_with_space_in_name(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "NIKON D750", {"DCIM/100ND750/DSC_0001.NEF": b"raw"})
    card = card_from_partition(MAC_NIKON._replace(mountpoint=str(mount)))
    assert card is not None
    assert (card.label, card.fstype, card.photos) == ("NIKON D750", "msdos", 1)


def test_card_reads_serial_and_label_from_device(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "mnt")
    image = tmp_path / "card.img"
    image.write_bytes(fat32_image(0x972CE35C, b"EOS_DIGITAL"))
    card = card_from_partition(sdiskpart(str(image), str(mount), "vfat", "rw"))
    assert card is not None
    assert (card.serial, card.label) == ("972C-E35C", "EOS_DIGITAL")


def test_card_with_empty_dcf_folder_counts_no_photos(tmp_path: Path) -> None:
    mount = tmp_path / "CARD"
    (mount / "DCIM" / "100CANON").mkdir(parents=True)
    card = card_from_partition(sdiskpart("/dev/sdz1", str(mount), "vfat", "rw"))
    assert card is not None
    assert card.photos == 0


@pytest.mark.parametrize("files", [{"PHOTOS/IMG_0001.JPG": b"x"}, {"DCIM/MISC/IMG_0001.JPG": b"x"}])
def test_no_card_without_dcf_folder(tmp_path: Path, files: dict[str, bytes]) -> None:
    mount = make_card(tmp_path / "USB", files)
    assert card_from_partition(sdiskpart("/dev/sdz1", str(mount), "vfat", "rw")) is None


def test_no_card_for_missing_mount(tmp_path: Path) -> None:
    assert card_from_partition(sdiskpart("/dev/sdz1", str(tmp_path / "gone"), "vfat", "rw")) is None
    assert card_from_partition(sdiskpart("/dev/sdz1", "", "vfat", "rw")) is None


def test_usage_errors_and_zero_are_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = make_card(tmp_path / "CARD")
    zero = usage(0, 0, 0)
    monkeypatch.setattr(cards.shutil, "disk_usage", lambda path: zero)
    card = card_from_partition(sdiskpart("fusefat", str(mount), "fuse.fusefat", "rw"))
    assert card is not None
    assert (card.total_bytes, card.free_bytes) == (None, None)

    full_fuse = usage(100, 100, 0)
    monkeypatch.setattr(cards.shutil, "disk_usage", lambda path: full_fuse)
    card = card_from_partition(sdiskpart("fusefat", str(mount), "fuse.fusefat", "rw"))
    assert card is not None
    assert (card.total_bytes, card.free_bytes) == (100, None)

    def broken(path: str) -> object:
        raise OSError(107, "Transport endpoint is not connected")

    monkeypatch.setattr(cards.shutil, "disk_usage", broken)
    card = card_from_partition(sdiskpart("/dev/sdz1", str(mount), "vfat", "rw"))
    assert card is not None
    assert (card.total_bytes, card.free_bytes) == (None, None)


def test_find_cards_across_platform_records(tmp_path: Path) -> None:
    canon = make_card(tmp_path / "EOS_DIGITAL")
    fusefat = make_card(
        tmp_path / "fusefat", {"DCIM/100CANON/A.JPG": b"", "DCIM/100CANON/B.JPG": b""}
    )
    sdxc = make_card(tmp_path / "sdxc", {"dcim/100msdcf/dsc00001.arw": b"raw"})
    nikon = make_card(tmp_path / "NIKON D750", {"DCIM/100ND750/DSC_0001.NEF": b"raw"})
    snap = make_card(tmp_path / "snap")
    usb = make_card(tmp_path / "USB", {"Documents/report.pdf": b"pdf"})
    partitions = [
        LINUX_SNAP._replace(mountpoint=str(snap)),
        LINUX_VFAT._replace(mountpoint=str(canon)),
        LINUX_FUSEFAT._replace(mountpoint=str(fusefat)),
        LINUX_FUSEBLK._replace(mountpoint=str(sdxc)),
        MAC_NIKON._replace(mountpoint=str(nikon)),
        LINUX_VFAT._replace(device="/dev/sdz9", mountpoint=str(usb)),
        LINUX_VFAT._replace(device="/dev/sdz2", mountpoint=str(canon)),
        sdiskpart("proc", "/proc", "proc", "rw"),
        sdiskpart("/dev/vda", str(tmp_path), "ext4", "rw"),
    ]
    found = find_cards(partitions)
    assert [card.mount for card in found] == sorted(
        [str(canon), str(fusefat), str(sdxc), str(nikon)]
    )
    by_mount = {card.mount: card for card in found}
    assert by_mount[str(canon)].device == LINUX_VFAT.device
    assert by_mount[str(fusefat)].fstype == "fuse.fusefat"
    assert by_mount[str(fusefat)].photos == 2
    assert by_mount[str(sdxc)].fstype == "fuseblk"
    assert by_mount[str(sdxc)].photos == 1
    assert by_mount[str(nikon)].label == "NIKON D750"


def test_find_cards_stacked_mount_uses_the_candidate(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "CARD")
    partitions = [
        sdiskpart("systemd-1", str(mount), "autofs", "rw"),
        sdiskpart("/dev/sdz1", str(mount), "vfat", "rw"),
    ]
    assert [card.device for card in find_cards(partitions)] == ["/dev/sdz1"]


def test_find_cards_none(tmp_path: Path) -> None:
    assert find_cards([]) == []
    assert find_cards([WIN_CARD, WIN_SYSTEM, MAC_NIKON, LINUX_VFAT]) == []


def test_find_cards_lists_all_mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = make_card(tmp_path / "CARD")
    monkeypatch.setattr(
        mount_table, "mounts", lambda: [LINUX_FUSEFAT._replace(mountpoint=str(mount))]
    )
    assert [card.mount for card in find_cards()] == [str(mount)]


def test_only_cards_under_the_configured_folder_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$CARDINGEST_CARDS_UNDER (tests set it to their tmp_path): other mounts are not cards."""
    inside = make_card(tmp_path / "cards" / "CARD")
    beside = make_card(tmp_path / "cards-elsewhere" / "CARD")
    outside = make_card(tmp_path.parent / f"{tmp_path.name}-outside" / "CARD")
    mounts = [LINUX_FUSEFAT._replace(mountpoint=str(m)) for m in (outside, beside, inside)]
    monkeypatch.setattr(mount_table, "mounts", lambda: mounts)
    monkeypatch.setenv("CARDINGEST_CARDS_UNDER", str(tmp_path / "cards"))
    assert [card.mount for card in find_cards()] == [str(inside)]
    assert resolve_source(None)[0] == inside
    monkeypatch.setenv("CARDINGEST_CARDS_UNDER", str(inside))
    assert [card.mount for card in find_cards()] == [str(inside)]
    monkeypatch.delenv("CARDINGEST_CARDS_UNDER")
    assert sorted(card.mount for card in find_cards()) == sorted(
        map(str, (inside, beside, outside))
    )


def test_a_cards_under_setting_naming_no_folder_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: $CARDINGEST_CARDS_UNDER mistyped left out every mount, and `cards`, `ingest`
    and `watch` said only "No camera card found" (`watch` waited for good), with the card in."""
    from clinic_helpers import cli

    card = make_card(tmp_path / "media" / "CARD")
    monkeypatch.setattr(
        mount_table, "mounts", lambda: [LINUX_FUSEFAT._replace(mountpoint=str(card))]
    )
    monkeypatch.setenv("CARDINGEST_CARDS_UNDER", str(tmp_path / "meda"))
    said = f"CARDINGEST_CARDS_UNDER is '{tmp_path / 'meda'}', which is not a folder here"
    with pytest.raises(SourceError, match="not a folder here"):
        resolve_source(None)
    listed = cli("cards")
    assert listed.exit_code == 0 and said in " ".join(listed.output.split()), listed.output
    monkeypatch.setenv("CARDINGEST_CARDS_UNDER", str(tmp_path / "media"))
    assert "not a folder" not in cli("cards").output
    assert resolve_source(None)[0] == card


# --- resolve_source ----------------------------------------------------------------------


def test_resolve_given_folder_that_is_not_a_card(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    assert resolve_source(str(folder), partitions=[]) == (folder.resolve(), None)


def test_resolve_given_mount_point_of_a_card(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "EOS_DIGITAL")
    link = tmp_path / "card-link"
    link.symlink_to(mount)
    partitions = [LINUX_VFAT._replace(mountpoint=str(mount))]
    for given in (str(mount), str(link), str(mount) + "/", str(mount / "DCIM" / "..")):
        path, card = resolve_source(given, partitions=partitions)
        assert path == mount.resolve()
        assert card is not None
        assert card.mount == str(mount)


def test_resolve_given_subfolder_of_a_card(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "EOS_DIGITAL")
    partitions = [LINUX_VFAT._replace(mountpoint=str(mount))]
    path, card = resolve_source(str(mount / "DCIM"), partitions=partitions)
    assert (path, card) == ((mount / "DCIM").resolve(), None)


def test_resolve_given_relative_and_home_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_card(tmp_path / "CARD")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_source("CARD", partitions=[])[0] == (tmp_path / "CARD").resolve()
    assert resolve_source("~/CARD", partitions=[])[0] == (tmp_path / "CARD").resolve()


def test_resolve_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-card"
    with pytest.raises(SourceError) as error:
        resolve_source(str(missing), partitions=[])
    assert str(missing) in error.value.message
    assert error.value.exit_code == 2


def test_resolve_file_is_not_a_folder(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(b"jpeg")
    with pytest.raises(SourceError) as error:
        resolve_source(str(photo), partitions=[])
    assert str(photo) in error.value.message
    assert "folder" in error.value.message


def test_resolve_no_card() -> None:
    with pytest.raises(SourceError) as error:
        resolve_source(None, partitions=[])
    assert error.value.message == (
        "No camera card found. Insert a card, or give its folder as the command's SOURCE, "
        "e.g. /media/CARD"
    )


def test_resolve_the_one_card(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "EOS_DIGITAL")
    usb = make_card(tmp_path / "USB", {"notes.txt": b"x"})
    partitions = [
        LINUX_VFAT._replace(mountpoint=str(mount)),
        LINUX_VFAT._replace(mountpoint=str(usb)),
    ]
    path, card = resolve_source(None, partitions=partitions)
    assert path == Path(str(mount))
    assert card is not None
    assert card.mount == str(mount)


def test_resolve_several_cards_lists_them(tmp_path: Path) -> None:
    first = make_card(tmp_path / "A_CARD")
    second = make_card(tmp_path / "B_CARD")
    partitions = [
        LINUX_FUSEFAT._replace(mountpoint=str(second)),
        LINUX_VFAT._replace(mountpoint=str(first)),
    ]
    with pytest.raises(SourceError) as error:
        resolve_source(None, partitions=partitions)
    assert "2 camera cards" in error.value.message
    assert len(error.value.details) == 2
    assert error.value.details[0].startswith(str(first))
    assert error.value.details[1].startswith(str(second))


def test_resolve_none_reads_the_mount_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = make_card(tmp_path / "CARD")
    monkeypatch.setattr(
        mount_table, "mounts", lambda: [LINUX_FUSEBLK._replace(mountpoint=str(mount))]
    )
    path, card = resolve_source(None)
    assert card is not None
    assert (path, card.fstype) == (mount, "fuseblk")
    path, card = resolve_source(str(mount))
    assert card is not None


def test_core_does_not_import_cli_libraries() -> None:
    code = (
        "import sys, cardingest.card.detect; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
