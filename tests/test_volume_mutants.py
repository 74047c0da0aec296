"""Rules of `card.volume` that its mutation round (2026-12-06) found no test pinned.

The volumes are images written byte by byte as a formatter lays them out (the boot sector,
the FATs, the root directory where the boot sector says it is), so each rule is met by the
layout that shows it; one exFAT image is made by ``mkfs.exfat`` itself. Each is read with
`read_volume_id` from a real file, as a card's device is.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from cardimage import require_binaries
from test_cards import fat16_boot, fat32_image

from cardingest.card.volume import parse_boot_sector, read_volume_id, same_volume

SERIAL = 0x1234ABCD


def entry(name: bytes, attributes: int) -> bytes:
    """A 32-byte FAT directory entry: an 8.3 name (or a label) and its attribute byte."""
    return name.ljust(11) + bytes([attributes]) + bytes(20)


DELETED = b"\xe5" + entry(b"OLD_FILEJPG", 0x20)[1:]
READ_ONLY_FILE = entry(b"AUTORUN INF", 0x21)
LONG_NAME = b"A\x00b\x00c" + bytes(6) + b"\x0f" + bytes(20)


def fat16_volume(tmp_path: Path, root: list[bytes], *, root_entries: int = 512) -> Path:
    """A FAT16 volume (boot label ``BOOTLABEL``): 512-byte sectors, 1 reserved sector, 2 FATs
    of 32 sectors, ``root_entries`` entries of root directory holding ``root``, and a first
    data cluster after it that starts with what looks like a label entry, ``STRAYLABEL``."""
    boot = bytearray(fat16_boot(SERIAL, b"BOOTLABEL"))
    struct.pack_into("<H", boot, 0x11, root_entries)
    directory = b"".join(root).ljust(root_entries * 32, b"\0")
    assert len(directory) == root_entries * 32
    fats = bytes((1 + 2 * 32) * 512 - len(boot))
    data = entry(b"STRAYLABEL", 0x08).ljust(2048, b"\0")
    image = tmp_path / "fat16.img"
    image.write_bytes(bytes(boot) + fats + directory + data)
    return image


def label_of(image: Path) -> str | None:
    volume = read_volume_id(str(image))
    assert volume is not None and volume.serial == "1234-ABCD"
    return volume.label


# --- where the root directory is and how far it goes ----------------------------------------


def test_a_fat16_label_is_read_where_the_boot_sector_puts_the_root_directory(
    tmp_path: Path,
) -> None:
    """After the reserved sector and both FATs, past a read-only file, a deleted entry and a
    long name: the label entry there, not the boot sector's."""
    root = [READ_ONLY_FILE, DELETED, LONG_NAME, entry(b"ROOTLABEL", 0x28)]
    assert label_of(fat16_volume(tmp_path, root)) == "ROOTLABEL"


def test_a_label_entry_with_its_read_only_bit_is_still_the_label(tmp_path: Path) -> None:
    assert label_of(fat16_volume(tmp_path, [entry(b"ROOTLABEL", 0x09)])) == "ROOTLABEL"


def test_a_label_in_the_last_entry_of_a_full_root_directory_is_found(tmp_path: Path) -> None:
    root = [DELETED] * 31 + [entry(b"ROOTLABEL", 0x08)]
    assert label_of(fat16_volume(tmp_path, root, root_entries=32)) == "ROOTLABEL"


def test_the_root_directory_is_read_to_its_end_and_no_further(tmp_path: Path) -> None:
    """A full root directory with no label: what follows it (a file's data that happens to
    look like a label entry) is not read as one, and the boot sector's label stands."""
    assert label_of(fat16_volume(tmp_path, [DELETED] * 32, root_entries=32)) == "BOOTLABEL"


def test_entries_after_the_end_of_the_root_directory_are_not_read(tmp_path: Path) -> None:
    """A label left beyond the end marker (an empty entry) is stale: the boot label stands."""
    root = [READ_ONLY_FILE, bytes(32), entry(b"STALELABEL", 0x08)]
    assert label_of(fat16_volume(tmp_path, root)) == "BOOTLABEL"


def test_a_fat32_root_directory_past_its_first_cluster_is_found(tmp_path: Path) -> None:
    """The root directory may start at any cluster (3 here, of 2 sectors each); its place
    is the data area's start plus the clusters before it."""
    boot = bytearray(fat32_image(SERIAL, b"BOOTLABEL")[:512])
    boot[0x0D] = 2
    struct.pack_into("<I", boot, 0x2C, 3)
    data_start = (32 + 2 * 1) * 512
    root = data_start + (3 - 2) * 1024
    image = tmp_path / "fat32.img"
    image.write_bytes(bytes(boot).ljust(root, b"\0") + entry(b"ROOTLABEL", 0x08).ljust(1024, b"\0"))
    assert label_of(image) == "ROOTLABEL"


def test_a_fat32_volume_with_a_large_reserved_area_has_its_label_read(tmp_path: Path) -> None:
    """40,000 reserved sectors (more than a signed 16-bit number holds): the root directory
    lies after them, about 20 MB in."""
    boot = bytearray(fat32_image(SERIAL, b"BOOTLABEL")[:512])
    struct.pack_into("<H", boot, 0x0E, 40000)
    image = tmp_path / "fat32.img"
    with open(image, "wb") as out:
        out.write(boot)
        out.seek((40000 + 2 * 1) * 512)
        out.write(entry(b"ROOTLABEL", 0x08).ljust(512, b"\0"))
    assert label_of(image) == "ROOTLABEL"


def test_the_label_of_an_exfat_volume_made_by_mkfs_exfat(tmp_path: Path) -> None:
    """mkfs.exfat puts the root directory past cluster 2, in clusters of several sectors."""
    require_binaries("mkfs.exfat")
    image = tmp_path / "exfat.img"
    with open(image, "wb") as out:
        out.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.exfat", "-L", "EOS_DIGITAL", str(image)], check=True, capture_output=True)
    volume = read_volume_id(str(image))
    assert volume is not None
    assert (volume.kind, volume.label) == ("exfat", "EOS_DIGITAL")
    with open(image, "rb") as handle:
        sector = handle.read(512)
    assert struct.unpack_from("<I", sector, 0x60)[0] != 2 and sector[0x6D] != 1  # the point


def exfat_volume(tmp_path: Path, label_entry: bytes) -> Path:
    """An exFAT volume whose root directory (at sector 4) holds ``label_entry``."""
    boot = bytearray(512)
    boot[3:11] = b"EXFAT   "
    struct.pack_into("<I", boot, 0x58, 4)  # the cluster heap at sector 4
    struct.pack_into("<I", boot, 0x60, 2)  # the root directory in its first cluster
    struct.pack_into("<I", boot, 0x64, SERIAL)
    boot[0x6C] = 9
    boot[510:512] = b"\x55\xaa"
    root = (b"\x81" + bytes(31) + label_entry.ljust(32, b"\0")).ljust(512, b"\0")
    image = tmp_path / "exfat.img"
    image.write_bytes(bytes(boot) + bytes(512 * 3) + root)
    return image


def test_an_exfat_label_is_at_most_eleven_characters(tmp_path: Path) -> None:
    image = exfat_volume(tmp_path, bytes([0x83, 12]) + "ABCDEFGHIJKL".encode("utf-16-le"))
    assert label_of(image) == "ABCDEFGHIJK"


def test_an_exfat_label_that_is_not_utf16_is_read_with_a_replacement(tmp_path: Path) -> None:
    """A lone surrogate (a half-written or corrupt label) is shown as U+FFFD; the volume's
    serial is still read."""
    image = exfat_volume(tmp_path, bytes([0x83, 3]) + b"\x00\xd8" + "EO".encode("utf-16-le"))
    assert label_of(image) == "\ufffdEO"


# --- the boot sector -------------------------------------------------------------------------


def test_a_boot_sector_without_its_signature_is_no_volume() -> None:
    sector = fat16_boot(SERIAL, b"CANON")[:510] + b"\0\0"
    assert parse_boot_sector(sector) is None


def test_a_boot_sector_read_as_part_of_a_larger_block_is_parsed() -> None:
    block = fat16_boot(SERIAL, b"CANON") + bytes(3584)
    assert parse_boot_sector(block) == ("fat", "1234-ABCD", "CANON")


def test_a_boot_sector_starting_with_a_near_jump_is_parsed() -> None:
    sector = b"\xe9" + fat16_boot(SERIAL, b"CANON")[1:]
    assert parse_boot_sector(sector) == ("fat", "1234-ABCD", "CANON")


@pytest.mark.parametrize("size", [512, 1024, 2048, 4096])
def test_every_sector_size_a_card_uses_is_parsed(size: int) -> None:
    sector = bytearray(fat16_boot(SERIAL, b"CANON"))
    struct.pack_into("<H", sector, 0x0B, size)
    assert parse_boot_sector(bytes(sector)) == ("fat", "1234-ABCD", "CANON")


@pytest.mark.parametrize(
    ("offset", "value"),
    [(0x0B, 500), (0x0D, 0), (0x0D, 3), (0x0D, 6)],
    ids=["bytes-per-sector-500", "no-sectors-per-cluster", "3-sectors", "6-sectors"],
)
def test_a_boot_sector_with_an_impossible_geometry_is_no_volume(offset: int, value: int) -> None:
    sector = bytearray(fat16_boot(SERIAL, b"CANON"))
    if offset == 0x0B:
        struct.pack_into("<H", sector, offset, value)
    else:
        sector[offset] = value
    assert parse_boot_sector(bytes(sector)) is None


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (b"EOS\0\0\0\0\0\0\0\0", "EOS"),
        (b"EOS_BOX", "EOS_BOX"),
        (b"CAM\x82RA", "CAM\u00e9RA"),
    ],
    ids=["nul-padded", "ends-in-x", "code-page-437"],
)
def test_a_boot_sector_label_is_read_as_dos_wrote_it(raw: bytes, label: str) -> None:
    assert parse_boot_sector(fat16_boot(SERIAL, raw)) == ("fat", "1234-ABCD", label)


# --- the same card -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "current", "same"),
    [
        ("1234-ABCD", "1234abcd", True),
        ("1234-ABCD", "12:34:AB:CD", True),
        (" 1234-abcd ", "1234ABCD", True),
        ("1234-ABCD", "1234-ABCE", False),
        ("1234-ABCD", "1234ABCE", False),
        (None, "1234-ABCD", True),
        ("1234-ABCD", None, True),
        ("", "1234-ABCD", True),
    ],
)
def test_a_card_is_another_only_when_both_serials_are_known_and_differ(
    recorded: str | None, current: str | None, same: bool
) -> None:
    assert same_volume(recorded, current) is same


def test_a_volume_file_that_is_a_folder_or_gone_has_no_id(tmp_path: Path) -> None:
    assert read_volume_id(str(tmp_path)) is None
    assert read_volume_id(os.fspath(tmp_path / "gone.img")) is None
