"""The rules of `card.fattimes` that its mutation round (2026-12-06) found no test pinned.

Each test reads a real FAT12, FAT16 or FAT32 image made by mkfs.vfat and filled by mtools, in
the test's process. Where a rule is about a layout mtools does not write by itself (a folder
whose clusters lie at the end of the volume, a long name padded another way, a deleted long
name left before a live entry), the image's own bytes are changed as a camera, another
operating system or damage would leave them, with the FAT's own arithmetic below.
"""

from __future__ import annotations

import os
import struct
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cardimage import MountedCard, build_fat32_image, require_binaries, require_fat_tools

from cardingest.card.fattimes import FatVolume, entry_times, fat_dated, time_unread
from cardingest.models import MediaFile

MTOOLS = ("mkfs.vfat", "mmd", "mcopy", "mdel")
WHEN = datetime(2026, 3, 11, 9, 22, 30)
NOT_FAT = r"^not a FAT boot sector$"


def _tools(*command: str) -> None:
    subprocess.run(
        command, check=True, capture_output=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    )


def new_image(path: Path, size: str, *mkfs: str) -> Path:
    """An empty FAT volume of ``size`` (``truncate -s``) made by ``mkfs.vfat *mkfs``."""
    require_binaries(*MTOOLS)
    _tools("truncate", "-s", size, str(path))
    _tools("mkfs.vfat", *mkfs, str(path))
    return path


def put(image: Path, folder: str, files: dict[str, datetime], scratch: Path) -> None:
    """Copy ``files`` (name: write time, each a different byte) into ``folder`` (made, with
    its parents), in one mcopy, so their entries follow each other in the given order."""
    parts = [part for part in folder.split("/") if part]
    for depth in range(1, len(parts) + 1):
        subprocess.run(
            ["mmd", "-i", str(image), "::/" + "/".join(parts[:depth])],
            capture_output=True,
            env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
            check=False,  # made already
        )
    local = scratch / f"put-{len(list(scratch.glob('put-*')))}"
    local.mkdir()
    names = []
    for number, (name, when) in enumerate(files.items()):
        path = local / name
        path.write_bytes(bytes([number % 256]))
        os.utime(path, (when.timestamp(), when.timestamp()))
        names.append(str(path))
    _tools("mcopy", "-m", "-i", str(image), *names, "::/" + "".join(f"{p}/" for p in parts))


class Fat:
    """The image's bytes, read and changed by the FAT layout's arithmetic."""

    def __init__(self, image: Path) -> None:
        self.image = image
        self.data = bytearray(image.read_bytes())
        sector, per_cluster, reserved, fats, root_entries, total16 = struct.unpack_from(
            "<HBHBHH", self.data, 11
        )
        fat16 = struct.unpack_from("<H", self.data, 22)[0]
        total = total16 or struct.unpack_from("<I", self.data, 32)[0]
        self.fat_size = fat16 or struct.unpack_from("<I", self.data, 36)[0]
        self.sector, self.fats = sector, fats
        self.fat_at = reserved * sector
        self.meta = reserved + fats * self.fat_size + (root_entries * 32 + sector - 1) // sector
        self.per_cluster = per_cluster
        self.data_at = self.meta * sector
        self.cluster = per_cluster * sector
        self.exact_clusters = (total - self.meta) / per_cluster
        self.clusters = int(self.exact_clusters)
        self.bits = 32 if fat16 == 0 else 12 if self.clusters < 4085 else 16
        self.end = {12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}[self.bits]

    def save(self) -> None:
        self.image.write_bytes(bytes(self.data))

    def get(self, n: int) -> int:
        at = self.fat_at
        if self.bits == 32:
            return struct.unpack_from("<I", self.data, at + 4 * n)[0] & 0x0FFFFFFF
        if self.bits == 16:
            return struct.unpack_from("<H", self.data, at + 2 * n)[0]
        pair = struct.unpack_from("<H", self.data, at + n * 3 // 2)[0]
        return pair >> 4 if n & 1 else pair & 0xFFF

    def set(self, n: int, value: int) -> None:
        for copy in range(self.fats):
            at = self.fat_at + copy * self.fat_size * self.sector
            if self.bits == 32:
                struct.pack_into("<I", self.data, at + 4 * n, value)
            elif self.bits == 16:
                struct.pack_into("<H", self.data, at + 2 * n, value)
            else:
                pair = struct.unpack_from("<H", self.data, at + n * 3 // 2)[0]
                pair = (pair & 0x000F) | value << 4 if n & 1 else (pair & 0xF000) | value
                struct.pack_into("<H", self.data, at + n * 3 // 2, pair)

    def offset(self, n: int) -> int:
        return self.data_at + (n - 2) * self.cluster

    def entry(self, short: bytes) -> int:
        """Where the one entry of this 11-byte short name lies."""
        at = self.data.find(short)
        assert at > 0 and self.data.find(short, at + 1) < 0, short
        return at

    def first(self, entry: int) -> int:
        high, low = (
            struct.unpack_from("<H", self.data, entry + 20)[0],
            struct.unpack_from("<H", self.data, entry + 26)[0],
        )
        return (high << 16 | low) if self.bits == 32 else low

    def point(self, entry: int, cluster: int) -> None:
        struct.pack_into("<H", self.data, entry + 26, cluster & 0xFFFF)
        if self.bits == 32:
            struct.pack_into("<H", self.data, entry + 20, cluster >> 16)

    def chain(self, entry: int) -> list[int]:
        found = [self.first(entry)]
        while 2 <= (next_one := self.get(found[-1])) < self.clusters + 2:
            found.append(next_one)
        return found

    def move(self, entry: int, clusters: list[int]) -> None:
        """Move the clusters of the entry's chain to ``clusters``, as a card whose free space
        was scattered leaves a folder: its bytes, its FAT links and its entry."""
        old = self.chain(entry)
        assert len(old) == len(clusters)
        for before, after in zip(old, clusters, strict=True):
            self.data[self.offset(after) : self.offset(after) + self.cluster] = self.data[
                self.offset(before) : self.offset(before) + self.cluster
            ]
        for before in old:
            self.set(before, 0)
        for here, there in zip(clusters, [*clusters[1:], self.end], strict=True):
            self.set(here, there)
        self.point(entry, clusters[0])


def times(count: int) -> dict[str, datetime]:
    """``count`` 8.3 names, each with its own time (two seconds apart, as FAT keeps them)."""
    return {f"IMG_{n:04d}.JPG": WHEN + timedelta(seconds=2 * n) for n in range(1, count + 1)}


def lookup(image: Path, folder: str, files: dict[str, datetime]) -> None:
    """Every one of ``files`` in ``folder`` has its own time."""
    asked = [f"{folder}/{name}" for name in files]
    assert entry_times(str(image), asked) == dict(zip(asked, files.values(), strict=True))


# --- Boot sectors --------------------------------------------------------------------


def change(image: Path, **fields: int) -> None:
    """Overwrite boot sector fields: ``name=value`` with the offsets and sizes below."""
    layout = {
        "sector": (11, "<H"),
        "per_cluster": (13, "<B"),
        "fats": (16, "<B"),
        "total16": (19, "<H"),
        "fat16_size": (22, "<H"),
        "total32": (32, "<I"),
        "fat32_size": (36, "<I"),
    }
    data = bytearray(image.read_bytes())
    for name, value in fields.items():
        at, code = layout[name]
        struct.pack_into(code, data, at, value)
    image.write_bytes(bytes(data))


def opened(image: Path) -> FatVolume:
    fd = os.open(image, os.O_RDONLY)
    try:
        return FatVolume(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "fields",
    [
        {"per_cluster": 0},
        {"fats": 0},
        {"per_cluster": 3},
        {"sector": 256},
        {"fat16_size": 0, "fat32_size": 0},
    ],
    ids=[
        "no-sectors-per-cluster",
        "no-fat",
        "three-sectors-per-cluster",
        "256-byte-sectors",
        "no-fat-size",
    ],
)
def test_a_boot_sector_with_a_field_no_fat_volume_has_is_refused(
    tmp_path: Path, fields: dict[str, int]
) -> None:
    """Each field out of what FAT allows is refused as not FAT (none divides by zero or
    reads a volume laid out by a field that cannot be), so no time is read from it."""
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    put(image, "DCIM", {"IMG_0001.JPG": WHEN}, tmp_path)
    assert entry_times(str(image), ["DCIM/IMG_0001.JPG"]) == {"DCIM/IMG_0001.JPG": WHEN}
    change(image, **fields)
    with pytest.raises(ValueError, match=NOT_FAT):
        entry_times(str(image), ["DCIM/IMG_0001.JPG"])


@pytest.mark.parametrize(
    "mkfs", [("-S", "1024"), ("-S", "2048"), ("-S", "4096", "-s", "2"), ("-f", "1")]
)
def test_sectors_of_1024_to_4096_bytes_and_a_single_fat_are_read(
    tmp_path: Path, mkfs: tuple[str, ...]
) -> None:
    image = new_image(tmp_path / "card.img", "32M", "-F", "16", *mkfs)
    files = times(3)
    put(image, "DCIM/100CANON", files, tmp_path)
    lookup(image, "DCIM/100CANON", files)


def test_a_small_fat12_volume_with_a_one_sector_fat_is_read(tmp_path: Path) -> None:
    image = new_image(tmp_path / "card.img", "160K", "-F", "12")
    assert Fat(image).fat_size == 1
    files = times(3)
    put(image, "DCIM", files, tmp_path)
    lookup(image, "DCIM", files)


def test_a_volume_of_one_cluster_is_read_and_one_of_none_is_refused(tmp_path: Path) -> None:
    """The root folder of FAT12 and FAT16 lies before the clusters: a volume whose sectors
    end after one cluster still holds it; one that ends before any is not FAT."""
    image = new_image(tmp_path / "card.img", "160K", "-F", "12")
    files = times(2)
    put(image, "", files, tmp_path)
    fat = Fat(image)
    change(image, total16=fat.meta + fat.per_cluster)
    assert entry_times(str(image), list(files)) == files
    change(image, total16=fat.meta + fat.per_cluster - 1)
    with pytest.raises(ValueError, match=NOT_FAT):
        entry_times(str(image), list(files))


def test_a_fat32_volume_of_more_than_two_to_the_31_sectors_is_read(tmp_path: Path) -> None:
    """A FAT32 disk over 1 TiB counts its sectors past 2**31: an unsigned number. (The
    image is sparse; the count is raised where the clusters stay fewer than 2**28.)"""
    image = new_image(tmp_path / "card.img", "520M", "-F", "32", "-s", "16")
    files = times(3)
    put(image, "DCIM/100CANON", files, tmp_path)
    change(image, total32=0x9000_0000)
    lookup(image, "DCIM/100CANON", files)


def test_a_fat16_volume_of_more_than_32767_sectors_counted_in_16_bits_is_read(
    tmp_path: Path,
) -> None:
    """A FAT16 card of 16 to 32 MiB counts its sectors in the 16-bit field, past 32767."""
    image = new_image(tmp_path / "card.img", "20M", "-F", "16", "-s", "1")
    assert struct.unpack_from("<H", image.read_bytes(), 19)[0] > 32767
    files = times(3)
    put(image, "DCIM/100CANON", files, tmp_path)
    lookup(image, "DCIM/100CANON", files)


def test_a_volume_of_4085_clusters_is_fat16_as_linux_tells_it(tmp_path: Path) -> None:
    """FAT12 has fewer than 4085 clusters; one of exactly 4085 is FAT16, and its FAT is
    read in 16-bit entries (a folder over several clusters is followed by them)."""
    image = new_image(tmp_path / "card.img", "20M", "-F", "16", "-s", "1")
    files = times(60)
    put(image, "DCIM", files, tmp_path)
    fat = Fat(image)
    assert len(fat.chain(fat.entry(b"DCIM       "))) == 4
    change(image, total16=fat.meta + 4085)
    assert Fat(image).clusters == 4085
    lookup(image, "DCIM", files)


def test_an_image_cut_before_its_folders_says_the_volume_ends_early(tmp_path: Path) -> None:
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    put(image, "DCIM", {"IMG_0001.JPG": WHEN}, tmp_path)
    image.write_bytes(image.read_bytes()[:4096])
    with pytest.raises(ValueError, match=r"^the volume ends early$"):
        entry_times(str(image), ["DCIM/IMG_0001.JPG"])


# --- Cluster chains ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "size", "per_cluster"), [(12, "4M", "2"), (16, "20M", "1"), (32, "64M", "1")]
)
def test_a_folder_whose_clusters_lie_at_the_end_of_the_volume_is_read(
    tmp_path: Path, bits: int, size: str, per_cluster: str
) -> None:
    """A folder of four clusters, moved to the volume's last ones (an even one and an odd
    one between): FAT12's entries packed in 12 bits either way, FAT16's past 32767, FAT32's
    first cluster past 65535 (its entry's high word), the last cluster itself."""
    image = new_image(tmp_path / "card.img", size, "-F", str(bits), "-s", per_cluster)
    fat = Fat(image)
    count = 7 * fat.cluster // 32 // 2 - 2  # three and a half clusters of entries
    files = times(count)
    put(image, "DCIM/100CANON", files, tmp_path)
    fat = Fat(image)
    assert fat.bits == bits
    folder = fat.entry(b"100CANON   ")
    last = fat.clusters + 1
    even = last - 4 if last % 2 == 0 else last - 3
    moved = [last - 9, even, even + 1, last]
    assert len(fat.chain(folder)) == 4 and moved[0] > {12: 2048, 16: 32768, 32: 65535}[bits]
    fat.move(folder, moved)
    fat.save()
    assert Fat(image).chain(folder) == moved
    lookup(image, "DCIM/100CANON", files)


@pytest.mark.parametrize(("bits", "size", "per_cluster"), [(12, "4M", "2"), (16, "20M", "1")])
def test_a_folder_continued_in_the_volumes_first_cluster_is_read(
    tmp_path: Path, bits: int, size: str, per_cluster: str
) -> None:
    """Cluster 2 is the first of FAT12's and FAT16's clusters, free for any chain once the
    file that held it is deleted: a folder that grew into it is followed there."""
    image = new_image(tmp_path / "card.img", size, "-F", str(bits), "-s", per_cluster)
    put(image, "", {"FIRST.BIN": WHEN}, tmp_path)
    files = times(Fat(image).cluster // 32 + 8)  # two clusters of entries
    put(image, "DCIM", files, tmp_path)
    _tools("mdel", "-i", str(image), "::/FIRST.BIN")
    fat = Fat(image)
    folder = fat.entry(b"DCIM       ")
    start, _second = fat.chain(folder)
    assert fat.get(2) == 0 and start != 2
    fat.move(folder, [start, 2])
    fat.save()
    assert Fat(image).chain(folder) == [start, 2]
    lookup(image, "DCIM", files)


def test_a_folder_entry_pointing_past_the_last_cluster_gives_no_time(tmp_path: Path) -> None:
    """Damage: a folder's first cluster one past the volume's last. The volume's last
    cluster number is rounded down (its sectors after the last whole cluster hold none), and
    nothing past it is read: no time, and no error for the other files."""
    image = new_image(tmp_path / "card.img", "4M", "-F", "12", "-s", "4")
    put(image, "DCIM", {"IMG_0001.JPG": WHEN}, tmp_path)
    put(image, "MISC", {"IMG_0002.JPG": WHEN}, tmp_path)
    fat = Fat(image)
    assert fat.exact_clusters != fat.clusters  # sectors left over after the last cluster
    fat.point(fat.entry(b"DCIM       "), fat.clusters + 2)
    fat.save()
    found = entry_times(str(image), ["DCIM/IMG_0001.JPG", "MISC/IMG_0002.JPG"])
    assert found == {"DCIM/IMG_0001.JPG": None, "MISC/IMG_0002.JPG": WHEN}


def test_the_high_word_of_a_fat16_entry_is_not_part_of_its_cluster(tmp_path: Path) -> None:
    """FAT12 and FAT16 have no high word of the first cluster; other systems (OS/2's
    extended attributes) keep other numbers there."""
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    files = times(3)
    put(image, "DCIM/100CANON", files, tmp_path)
    fat = Fat(image)
    struct.pack_into("<H", fat.data, fat.entry(b"DCIM       ") + 20, 0x0001)
    fat.save()
    lookup(image, "DCIM/100CANON", files)


def test_a_file_on_the_way_is_not_read_as_a_folder(tmp_path: Path) -> None:
    """A path through a file (``FAKE.BIN/INNER.JPG``) names nothing, even when the file's
    bytes look like a folder's entries."""
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    inner = bytearray(b"INNER   JPG" + bytes(21))
    inner[11] = 0x20
    struct.pack_into("<HH", inner, 22, 9 << 11 | 22 << 5 | 15, 46 << 9 | 3 << 5 | 11)
    (tmp_path / "FAKE.BIN").write_bytes(bytes(inner))
    _tools("mcopy", "-i", str(image), str(tmp_path / "FAKE.BIN"), "::/FAKE.BIN")
    assert entry_times(str(image), ["FAKE.BIN/INNER.JPG"]) == {"FAKE.BIN/INNER.JPG": None}


# --- Entries -------------------------------------------------------------------------


def test_the_last_entry_of_a_full_folder_is_read_and_a_name_not_there_is_not_found(
    tmp_path: Path,
) -> None:
    """A folder whose one cluster is full has no end mark: its last entry is read, and a
    name not in it is looked for up to that end, not past it."""
    image = new_image(tmp_path / "card.img", "64M", "-F", "32", "-s", "1")
    files = times(14)  # with . and .., sixteen entries: one 512-byte cluster
    put(image, "DCIM", files, tmp_path)
    fat = Fat(image)
    folder = fat.entry(b"DCIM       ")
    (cluster,) = fat.chain(folder)
    assert fat.data[fat.offset(cluster) + 480 : fat.offset(cluster) + 491] == b"IMG_0014JPG"
    lookup(image, "DCIM", files)
    assert entry_times(str(image), ["DCIM/IMG_0015.JPG"]) == {"DCIM/IMG_0015.JPG": None}


def test_a_file_after_a_deleted_one_is_found(tmp_path: Path) -> None:
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    files = times(3)
    put(image, "DCIM", files, tmp_path)
    _tools("mdel", "-i", str(image), "::/DCIM/IMG_0002.JPG")
    found = entry_times(str(image), [f"DCIM/{name}" for name in files])
    assert found == {
        "DCIM/IMG_0001.JPG": files["IMG_0001.JPG"],
        "DCIM/IMG_0002.JPG": None,
        "DCIM/IMG_0003.JPG": files["IMG_0003.JPG"],
    }


def long_name_image(tmp_path: Path) -> tuple[Path, Fat, int]:
    """An image with DCIM/Photo 1.jpg (one long-name entry: 11 letters, a NUL, 0xFFFF),
    DCIM/IMG_0001.JPG after it; and where the long name's entry lies."""
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    put(image, "DCIM", {"Photo 1.jpg": WHEN, "IMG_0001.JPG": WHEN + timedelta(seconds=2)}, tmp_path)
    fat = Fat(image)
    long_entry = fat.entry(b"PHOTO1~1JPG") - 32
    assert fat.data[long_entry + 11] == 0x0F and fat.data[long_entry + 28 : long_entry + 32] == (
        b"\x00\x00\xff\xff"
    )
    return image, fat, long_entry


def test_a_long_name_padded_with_nuls_is_read(tmp_path: Path) -> None:
    """Some writers pad a long name's entry with NULs, not 0xFFFF: the name ends at the
    first NUL."""
    image, fat, long_entry = long_name_image(tmp_path)
    fat.data[long_entry + 30 : long_entry + 32] = b"\x00\x00"
    fat.save()
    assert entry_times(str(image), ["DCIM/Photo 1.jpg"]) == {"DCIM/Photo 1.jpg": WHEN}


def test_a_long_name_padded_with_ffff_and_no_nul_is_read(tmp_path: Path) -> None:
    image, fat, long_entry = long_name_image(tmp_path)
    fat.data[long_entry + 28 : long_entry + 30] = b"\xff\xff"
    fat.save()
    assert entry_times(str(image), ["DCIM/Photo 1.jpg"]) == {"DCIM/Photo 1.jpg": WHEN}


def test_a_long_name_that_is_not_utf16_leaves_the_folders_other_files_readable(
    tmp_path: Path,
) -> None:
    """A long name holding half of a UTF-16 pair (damage, or a writer's bug) is read with
    a replacement character: the files after it are still found, it by its short name."""
    image, fat, long_entry = long_name_image(tmp_path)
    fat.data[long_entry + 1 : long_entry + 3] = b"\x00\xd8"  # a lone high surrogate
    fat.save()
    found = entry_times(str(image), ["DCIM/IMG_0001.JPG", "DCIM/PHOTO1~1.JPG"])
    assert found == {
        "DCIM/IMG_0001.JPG": WHEN + timedelta(seconds=2),
        "DCIM/PHOTO1~1.JPG": WHEN,
    }


def test_a_long_name_marked_deleted_does_not_name_the_entry_after_it(tmp_path: Path) -> None:
    """A deleted long name (0xE5) left before a short entry that took its place is
    another file's name, whatever its checksum."""
    image, fat, long_entry = long_name_image(tmp_path)
    fat.data[long_entry] = 0xE5
    fat.save()
    found = entry_times(str(image), ["DCIM/Photo 1.jpg", "DCIM/PHOTO1~1.JPG"])
    assert found == {"DCIM/Photo 1.jpg": None, "DCIM/PHOTO1~1.JPG": WHEN}


def test_an_entry_without_a_long_name_is_found_by_its_short_name_alone(tmp_path: Path) -> None:
    """An entry with no long name of its own is not found by any other name: XXXX (mutmut's
    filler for an empty string) names the entry called XXXX, not the one before it."""
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    put(image, "DCIM", {"OTHER.JPG": WHEN, "XXXX": WHEN + timedelta(seconds=2)}, tmp_path)
    assert entry_times(str(image), ["DCIM/XXXX"]) == {"DCIM/XXXX": WHEN + timedelta(seconds=2)}


def test_a_short_name_whose_first_byte_is_e5_is_read_from_its_05(tmp_path: Path) -> None:
    """0xE5 marks a deleted entry, so a name starting with that byte (σ in code page 437,
    a lead byte in Shift JIS) is stored starting with 0x05."""
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    put(image, "DCIM", {"IMG_0001.JPG": WHEN}, tmp_path)
    fat = Fat(image)
    fat.data[fat.entry(b"IMG_0001JPG")] = 0x05
    fat.save()
    found = entry_times(str(image), ["DCIM/σMG_0001.JPG", "DCIM/\x05MG_0001.JPG"])
    assert found == {"DCIM/σMG_0001.JPG": WHEN, "DCIM/\x05MG_0001.JPG": None}


def test_a_short_name_with_an_extension_under_three_letters_is_read(tmp_path: Path) -> None:
    image = new_image(tmp_path / "card.img", "32M", "-F", "16")
    put(image, "DCIM", {"IMG_0001.JP": WHEN, "IMG_0002.X": WHEN}, tmp_path)
    found = entry_times(str(image), ["DCIM/IMG_0001.JP", "DCIM/IMG_0002.X"])
    assert found == {"DCIM/IMG_0001.JP": WHEN, "DCIM/IMG_0002.X": WHEN}


# --- Opening the volume, and photos on a fusefat mount -------------------------------


def photo(path: str, captured: datetime) -> MediaFile:
    return MediaFile(path=path, size=1, captured=captured, time_source="mtime")


def test_photos_on_no_fusefat_mount_keep_their_file_times(tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.JPG").write_bytes(b"x")
    files = (photo("IMG_0001.JPG", WHEN),)
    assert fat_dated(tmp_path, files) == files


def test_a_photo_on_a_fusefat_card_whose_volume_cannot_be_read_is_held_with_why(
    tmp_path: Path,
) -> None:
    """Read, a photo's time is its FAT entry's; once the volume under the mount no longer
    reads as FAT, it is held, and the warning names the photo and says why."""
    require_fat_tools()
    local = tmp_path / "IMG_0001.JPG"
    local.write_bytes(b"x")
    os.utime(local, (WHEN.timestamp(), WHEN.timestamp()))
    image = build_fat32_image(tmp_path / "card.img", {"DCIM/IMG_0001.JPG": local})
    with MountedCard(image, readonly=True) as card:
        shown = datetime.fromtimestamp((card / "DCIM/IMG_0001.JPG").stat().st_mtime)
        files = (photo("DCIM/IMG_0001.JPG", shown),)
        (dated,) = fat_dated(card, files)
        assert (dated.captured, dated.unreadable, dated.warning) == (WHEN, False, None)
        change(image, sector=0)
        (held,) = fat_dated(card, files)
    assert held.unreadable
    assert held.warning == time_unread("DCIM/IMG_0001.JPG")
    assert held.warning == (
        "DCIM/IMG_0001.JPG: its capture time would be its file time, which fusefat shows a "
        "month late, and the card's own record of it could not be read; it stays on the card "
        "(mount the card with the kernel's vfat driver, or give it an EXIF time)"
    )
