"""The rules of `card.truncated` that its mutation round (2026-12-06) found no test pinned.

TIFF-based RAW files are directories of tags pointing at image data; the TIFFs here are
laid out byte by byte (`Tiff`), as cameras lay out theirs: a directory's entries, its
next directory's pointer, sub-directories (DNG's raw image), strips, tiles and a JPEG
preview. The ISO files are the real HEIF sample with boxes appended after its own, as a
second `mdat`, a `free` box or a phone's trailer would be, or cut where a pulled card
would have cut it.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from cardimage import require, samples_real
from PIL import Image

from cardingest.card.truncated import raw_cut_short

BYTE, ASCII, SHORT, LONG = 1, 2, 3, 4
MAKE, STRIP_OFFSETS, STRIP_COUNTS = 0x10F, 0x111, 0x117
TILE_OFFSETS, TILE_COUNTS = 0x144, 0x145
SUB_IFDS, PREVIEW_AT, PREVIEW_SIZE = 0x14A, 0x201, 0x202


class Tiff:
    """A TIFF built piece by piece: each directory and array lands where it is added (so a
    test lays out what its header points at), numbers in the file's byte order."""

    def __init__(self, order: str = "<") -> None:
        self.order = order
        self.data = bytearray(b"II*\x00" if order == "<" else b"MM\x00*") + bytes(4)

    @property
    def end(self) -> int:
        return len(self.data)

    def first(self, at: int) -> None:
        struct.pack_into(self.order + "I", self.data, 4, at)

    def add(self, raw: bytes) -> int:
        at = self.end
        self.data += raw
        return at

    def array(self, kind: int, values: list[int]) -> int:
        code = "H" if kind == SHORT else "I"
        return self.add(struct.pack(self.order + code * len(values), *values))

    def directory(self, entries: list[tuple[int, int, int, int | list[int]]]) -> int:
        """Entries (tag, kind, count, values held inline or the offset of their array);
        the next directory's pointer is 0 until `link`."""
        raw = struct.pack(self.order + "H", len(entries))
        for tag, kind, many, field in sorted(entries):
            if isinstance(field, list):
                code = {BYTE: "B", ASCII: "B", SHORT: "H", LONG: "I"}[kind] * len(field)
                inline = struct.pack(self.order + code, *field).ljust(4, b"\0")
            else:
                inline = struct.pack(self.order + "I", field)
            raw += struct.pack(self.order + "HHI", tag, kind, many) + inline
        return self.add(raw + bytes(4))

    def link(self, directory: int, next_at: int) -> None:
        (count,) = struct.unpack_from(self.order + "H", self.data, directory)
        struct.pack_into(self.order + "I", self.data, directory + 2 + 12 * count, next_at)

    def bytes(self, cut: int = 0) -> io.BytesIO:
        return io.BytesIO(bytes(self.data[: self.end - cut]))


def strips(at: int, size: int) -> list[tuple[int, int, int, int | list[int]]]:
    return [(STRIP_OFFSETS, LONG, 1, [at]), (STRIP_COUNTS, LONG, 1, [size])]


def make() -> tuple[int, int, int, list[int]]:
    return (MAKE, ASCII, 4, list(b"Cam\0"))


class Bounded(io.BytesIO):
    """A file in memory that refuses to be read more than a directory walk can need."""

    def __init__(self, data: bytes, most: int = 2000) -> None:
        super().__init__(data)
        self.left = most

    def read(self, size: int | None = -1, /) -> bytes:
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("read without end")
        return super().read(size)


# --- TIFF: where the walk ends -------------------------------------------------------


def pillow_tiff(tmp_path: Path) -> bytes:
    whole = tmp_path / "IMG_0001.TIF"
    Image.new("RGB", (300, 200), (120, 80, 60)).save(whole, format="TIFF")
    return whole.read_bytes()


def test_a_tiff_one_byte_short_is_cut_short(tmp_path: Path) -> None:
    data = pillow_tiff(tmp_path)
    assert raw_cut_short(io.BytesIO(data)) is None
    assert raw_cut_short(io.BytesIO(data[:-1])) == "image data"


@pytest.mark.parametrize("left", [1, 2, 3], ids=["in-its-count", "in-its-entries", "in-its-link"])
def test_a_tiff_cut_inside_its_first_directory_is_cut_short(left: int) -> None:
    """Cut in the first directory's count, its entries, or its next directory's pointer."""
    tiff = Tiff()
    image = tiff.add(bytes(64))
    tiff.first(tiff.end)
    tiff.directory([make(), *strips(image, 64)])
    whole = bytes(tiff.data)
    assert raw_cut_short(io.BytesIO(whole)) is None
    keep = {1: 8 + 64 + 1, 2: len(whole) - 4 - 12, 3: len(whole) - 3}[left]
    assert raw_cut_short(io.BytesIO(whole[:keep])) == "image directory"


@pytest.mark.parametrize("first", [1000, 0x8000_0000], ids=["past-the-end", "past-2-gib"])
def test_a_tiff_whose_first_directory_lies_past_its_end_is_cut_short(first: int) -> None:
    tiff = Tiff()
    tiff.add(bytes(64))
    tiff.first(first)
    assert raw_cut_short(tiff.bytes()) == "image directory"


def later(tiff: Tiff) -> int:
    """A directory whose one strip goes past the file's end."""
    return tiff.directory(strips(tiff.end + 200, 64))


def test_a_sub_directorys_image_data_past_the_end_is_cut_short() -> None:
    """DNG keeps its raw image in a sub-directory of the first."""
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([(SUB_IFDS, LONG, 1, [0])])
    sub = later(tiff)
    struct.pack_into("<I", tiff.data, first + 2 + 8, sub)
    assert raw_cut_short(tiff.bytes()) == "image data"


def test_the_next_directory_after_a_sub_directory_is_read() -> None:
    """The sub-directory's chain ends (pointer 0) before the first's next directory is
    read: that end does not end the walk. The first directory's entries are then followed
    by the next's at once, so a pointer read at any other place is not the next's."""
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([make(), (SUB_IFDS, LONG, 1, [0])])
    nxt = later(tiff)
    tiff.link(first, nxt)
    sub = tiff.directory([make()])
    struct.pack_into("<I", tiff.data, first + 2 + 12 + 8, sub)
    assert raw_cut_short(tiff.bytes()) == "image data"


@pytest.mark.parametrize(
    "bad", ["next-past-the-end", "next-into-the-last-bytes", "no-entries", "too-many-entries"]
)
def test_a_bad_sub_directory_does_not_end_the_walk(bad: str) -> None:
    """Some cameras write bad pointers: a sub-directory whose next pointer lies past the
    end, or in the file's last bytes where a count is read but its entries would lie past
    the end, or whose count is no directory's, is passed over, and the next directory read.
    (The pointer into the last bytes ended the whole walk: a cut RAW was called whole.)"""
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([make(), (SUB_IFDS, LONG, 1, [0])])
    nxt = later(tiff)
    tiff.link(first, nxt)
    if bad == "next-past-the-end":
        sub = tiff.directory([make()])
        tiff.link(sub, 0x00DE_ADBE)
    elif bad == "next-into-the-last-bytes":
        sub = tiff.directory([make()])
        tiff.link(sub, tiff.add(struct.pack("<H", 5) + bytes(4)))
    else:
        sub = tiff.add(struct.pack("<H", 0 if bad == "no-entries" else 1001) + bytes(16))
    struct.pack_into("<I", tiff.data, first + 2 + 12 + 8, sub)
    assert raw_cut_short(tiff.bytes()) == "image data"


def test_a_later_directorys_bad_pointer_into_the_files_last_bytes_is_not_judged() -> None:
    """The next pointer lands in the last bytes, where a count is read but the entries it
    counts would lie past the end: a bad pointer of a whole photo, not a cut one."""
    tiff = Tiff()
    image = tiff.add(bytes(64))
    tiff.first(tiff.end)
    first = tiff.directory([make(), *strips(image, 64)])
    tiff.link(first, tiff.add(struct.pack("<H", 5) + bytes(4)))
    assert raw_cut_short(tiff.bytes()) is None


def test_a_directory_of_no_entries_is_no_directory_and_its_pointer_is_not_followed() -> None:
    """TIFF has no empty directory: a count of 0 is where a bad pointer landed, and the
    four bytes after it are no pointer to judge by."""
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([make()])
    empty = tiff.add(struct.pack("<HI", 0, 0))
    tiff.link(first, empty)
    struct.pack_into("<I", tiff.data, empty + 2, later(tiff))
    assert raw_cut_short(tiff.bytes()) is None


def test_a_chain_of_directories_of_one_entry_is_read() -> None:
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([make()])
    tiff.link(first, later(tiff))
    assert raw_cut_short(tiff.bytes()) == "image data"


@pytest.mark.parametrize(("count", "said"), [(1000, "image data"), (1001, None)])
def test_a_directory_of_up_to_1000_entries_is_read(count: int, said: str | None) -> None:
    tiff = Tiff()
    tiff.first(8)
    filler = [(0x8000 + n, BYTE, 1, [0]) for n in range(count - 2)]
    tiff.directory([*filler, *strips(10**6, 64)])
    assert raw_cut_short(tiff.bytes()) == said


def test_a_loop_of_directories_is_walked_once() -> None:
    """A next pointer back to an earlier directory (damage) ends the walk, not the reader."""
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([make()])
    second = tiff.directory([make(), (SUB_IFDS, LONG, 1, [first])])
    tiff.link(first, second)
    tiff.link(second, first)
    assert raw_cut_short(Bounded(bytes(tiff.data))) is None


@pytest.mark.parametrize(("chain", "said"), [(32, "image data"), (33, None)])
def test_no_more_than_32_directories_are_walked(chain: int, said: str | None) -> None:
    tiff = Tiff()
    tiff.first(8)
    previous = tiff.directory([make()])
    for _ in range(chain - 2):
        here = tiff.directory([make()])
        tiff.link(previous, here)
        previous = here
    tiff.link(previous, later(tiff))
    assert raw_cut_short(tiff.bytes()) == said


# --- TIFF: the numbers read ----------------------------------------------------------


def test_a_preview_past_the_end_is_said_as_the_preview() -> None:
    tiff = Tiff()
    image = tiff.add(bytes(64))
    tiff.first(tiff.end)
    tiff.directory(
        [
            *strips(image, 64),
            (PREVIEW_AT, LONG, 1, [tiff.end + 100]),
            (PREVIEW_SIZE, LONG, 1, [5000]),
        ]
    )
    assert raw_cut_short(tiff.bytes()) == "preview"


def test_strip_sizes_in_16_bits_are_read_as_unsigned_numbers() -> None:
    """A strip of 40,000 bytes in a SHORT (past 32,767): whole, and cut by one byte."""
    tiff = Tiff()
    tiff.first(8)
    tiff.directory([(STRIP_OFFSETS, LONG, 1, [38]), (STRIP_COUNTS, SHORT, 1, [40_000])])
    tiff.add(bytes(40_000))
    assert raw_cut_short(tiff.bytes()) is None
    assert raw_cut_short(tiff.bytes(cut=1)) == "image data"


def test_a_strip_said_to_start_past_2_gib_is_past_the_end() -> None:
    tiff = Tiff()
    tiff.first(8)
    tiff.directory(strips(0x8000_0000, 64))
    assert raw_cut_short(tiff.bytes()) == "image data"


@pytest.mark.parametrize("where", ["across-the-end", "past-2-gib"])
def test_numbers_stored_past_the_end_are_not_judged_but_the_rest_is(where: str) -> None:
    """Two strips' offsets kept in an array that ends past the file (or starts past 2 GiB):
    not judged; the preview, past the end, still is."""
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory(
        [
            (STRIP_OFFSETS, LONG, 2, 0),
            (STRIP_COUNTS, SHORT, 2, [64, 64]),
            (PREVIEW_AT, LONG, 1, [4000]),
            (PREVIEW_SIZE, LONG, 1, [64]),
        ]
    )
    tiff.add(bytes(4))
    array = tiff.end - 4 if where == "across-the-end" else 0x8000_0000
    struct.pack_into("<I", tiff.data, first + 2 + 8, array)
    assert raw_cut_short(tiff.bytes()) == "preview"


def test_numbers_that_end_at_the_files_last_byte_are_read() -> None:
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([(STRIP_OFFSETS, LONG, 2, 0), (STRIP_COUNTS, SHORT, 2, [64, 64])])
    struct.pack_into("<I", tiff.data, first + 2 + 8, tiff.array(LONG, [8, 200]))
    assert raw_cut_short(tiff.bytes()) == "image data"


def test_a_strip_tag_of_a_type_tiff_does_not_allow_it_is_not_judged() -> None:
    """Strip offsets are SHORT or LONG: BYTE ones (a damaged entry) are not read."""
    tiff = Tiff()
    tiff.first(8)
    tiff.directory([(STRIP_OFFSETS, BYTE, 1, [200]), (STRIP_COUNTS, LONG, 1, [64])])
    assert raw_cut_short(tiff.bytes()) is None


@pytest.mark.parametrize(("tiles", "said"), [(65536, "image data"), (65537, None)])
def test_up_to_65536_tiles_are_read(tiles: int, said: str | None) -> None:
    tiff = Tiff()
    tiff.first(8)
    first = tiff.directory([(TILE_OFFSETS, LONG, tiles, 0), (TILE_COUNTS, LONG, tiles, 0)])
    offsets = tiff.array(LONG, [8] * (tiles - 1) + [10**6])
    counts = tiff.array(LONG, [1] * tiles)
    struct.pack_into("<I", tiff.data, first + 2 + 8, offsets)
    struct.pack_into("<I", tiff.data, first + 2 + 12 + 8, counts)
    assert raw_cut_short(tiff.bytes()) == said


def test_a_pruned_dng_whose_raw_tiles_lie_past_its_end_is_cut_short() -> None:
    """The DNG sample's tiles (in its sub-directory) were cut out to keep it small."""
    sample = samples_real().parent / "raw" / "IMG_1361.dng"
    require(sample.is_file(), f"DNG sample not found at {sample} (set CARDINGEST_SAMPLES)")
    with open(sample, "rb") as fh:
        assert raw_cut_short(fh) == "image data"


# --- ISO boxes (CR3, HEIF) -----------------------------------------------------------


def heif() -> bytes:
    sample = samples_real() / "IMG_5195.HEIC"
    require(sample.is_file(), f"HEIF sample not found at {sample} (set CARDINGEST_SAMPLES)")
    data = sample.read_bytes()
    assert raw_cut_short(io.BytesIO(data)) is None
    return data


def box(name: bytes, size: int, body: bytes = b"") -> bytes:
    return struct.pack(">I4s", size, name) + body


def boxes(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, name) of each top-level box of a whole file."""
    found, at = [], 0
    while at < len(data):
        size, name = struct.unpack_from(">I4s", data, at)
        if size == 1:  # a 64-bit size follows (the sample's own mdat)
            (size,) = struct.unpack_from(">Q", data, at + 8)
        found.append((at, name))
        at += size
    return found


@pytest.mark.samples
def test_a_heif_cut_right_after_a_box_header_is_cut_short() -> None:
    """A second `mdat` (32-bit size) of which the card got the 8-byte header alone."""
    data = heif() + box(b"mdat", 1000)
    assert raw_cut_short(io.BytesIO(data)) == "'mdat' box"


@pytest.mark.samples
@pytest.mark.parametrize("kept", range(8, 16))
def test_a_heif_cut_inside_its_mdats_64_bit_size_is_cut_short(kept: int) -> None:
    """The sample's own `mdat` has a 64-bit size after its 8-byte header: a card that got
    the header and ``kept - 8`` bytes of that size holds a cut photo."""
    data = heif()
    (at,) = [at for at, name in boxes(data) if name == b"mdat"]
    assert struct.unpack_from(">I", data, at) == (1,)
    assert raw_cut_short(io.BytesIO(data[: at + kept])) == "'mdat' box"


@pytest.mark.samples
def test_an_mdat_said_to_hold_over_2_gib_is_read_as_an_unsigned_size() -> None:
    data = heif() + box(b"mdat", 0x8000_0010, bytes(10))
    assert raw_cut_short(io.BytesIO(data)) == "'mdat' box"


@pytest.mark.samples
def test_a_64_bit_box_size_past_2_to_the_63_is_past_the_end() -> None:
    data = heif() + box(b"mdat", 1, struct.pack(">Q", 2**63 + 16))
    assert raw_cut_short(io.BytesIO(data)) == "'mdat' box"


@pytest.mark.samples
@pytest.mark.parametrize(
    "before", [box(b"free", 8), box(b"ab c", 12, bytes(4))], ids=["empty-free", "name-with-space"]
)
def test_boxes_after_an_empty_box_or_a_name_with_a_space_are_judged(before: bytes) -> None:
    """An empty `free` box (8 bytes, its header alone) and a name holding a space are boxes
    like any: the second `mdat` after them, cut, is cut short."""
    data = heif() + before + box(b"mdat", 1000, bytes(10))
    assert raw_cut_short(io.BytesIO(data)) == "'mdat' box"


@pytest.mark.samples
def test_a_trailer_whose_name_is_not_printable_is_not_judged() -> None:
    """A name holding DEL (0x7F) is no box: bytes after the last box are not judged."""
    data = heif() + struct.pack(">I", 0xFFFF_FFF0) + b"ab\x7fc" + bytes(8)
    assert raw_cut_short(io.BytesIO(data)) is None


@pytest.mark.samples
@pytest.mark.parametrize(("count", "said"), [(10_000, "'mdat' box"), (10_001, None)])
def test_no_more_than_10000_top_level_boxes_are_read(count: int, said: str | None) -> None:
    """The `count`th box is a cut `mdat`, after the sample's own and empty `free` boxes."""
    data = heif()
    filler = count - 1 - len(boxes(data))
    data += box(b"free", 8) * filler + box(b"mdat", 1000, bytes(10))
    assert raw_cut_short(io.BytesIO(data)) == said
