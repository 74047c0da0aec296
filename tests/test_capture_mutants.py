"""Capture-time reading where the mutation run of ``card/capture`` found no test (issue 20).

JPEG and TIFF bytes are built by hand, byte by byte (``exif_bytes``), so each layout is exactly
the one named: segments the JPEG walker must skip or stop at, IFDs that end where the quick TIFF
reader's bounds are, and tags of the types exifread hands over as bytes, byte lists and numbers.
Where the quick reader gives up, the real exifread answers; expected values are written out.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime

import pytest
from exif_bytes import (
    ASCII,
    BYTE,
    DATETIME,
    DTD,
    DTO,
    EOI,
    LONG,
    MAKE,
    MODEL,
    POINTER,
    SHORT,
    SOI,
    UNDEFINED,
    Entry,
    app1,
    build,
    segment,
    text,
)

from cardingest.card.capture import CUT_SHORT, Capture, _exif_blocks, _quick_tags, read_capture

WHEN = datetime(2021, 3, 4, 5, 6, 7)
DATE = b"2021:03:04 05:06:07\0"
# The quick reader reads this one itself; the other has its date stored as UNDEFINED, which
# the quick reader hands to exifread (run on the block the JPEG walker found).
QUICK = build("<", [text(MAKE, b"Canon\0")], [text(DTO, DATE)])
SLOW = build("<", [text(MAKE, b"Canon\0")], [text(DTO, DATE, UNDEFINED)])


# -- the JPEG walker -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "before"),
    [
        ("a restart marker RST0 (no length)", b"\xff\xd0"),
        ("a restart marker RST7 (no length)", b"\xff\xd7"),
        ("a TEM marker (no length)", b"\xff\x01"),
        ("an empty APP0 segment (length 2)", b"\xff\xe0\x00\x02"),
        ("a quantisation table", segment(0xDB, bytes(range(65)))),
        ("fill bytes", b"\xff\xff\xff"),
    ],
)
@pytest.mark.parametrize("block", [QUICK, SLOW], ids=["quick", "exifread"])
def test_the_exif_segment_is_found_after(why: str, before: bytes, block: bytes) -> None:
    """exifread's own JPEG walker gives up on each of these layouts: only our walker finds the
    date, so a walker that stops early would file the photo by its modification time."""
    jpeg = SOI + before + app1(block) + EOI
    assert _exif_blocks(io.BytesIO(jpeg)) == [block], why
    got = read_capture(io.BytesIO(jpeg), 0.0, "IMG_0001.JPG")
    assert (got.source, got.captured, got.make, got.warning) == (
        "exif:DateTimeOriginal",
        WHEN,
        "Canon",
        None,
    ), why


@pytest.mark.parametrize("block", [QUICK, SLOW], ids=["quick", "exifread"])
def test_an_exif_header_with_one_nul_is_read(block: bytes) -> None:
    """``Exif\\0`` without its second NUL (some writers): the TIFF block starts right after."""
    jpeg = SOI + app1(block, magic=b"Exif\0") + EOI
    assert _exif_blocks(io.BytesIO(jpeg)) == [block]
    got = read_capture(io.BytesIO(jpeg), 0.0, "IMG_0002.JPG")
    assert (got.source, got.captured, got.make) == ("exif:DateTimeOriginal", WHEN, "Canon")


@pytest.mark.parametrize(
    ("why", "jpeg"),
    [
        ("after the end of the image", SOI + EOI + b"\x00\x02" + app1(QUICK)),
        ("after the start of the scan", SOI + b"\xff\xda\x00\x02" + app1(QUICK) + EOI),
        ("in a segment with a length below 2", SOI + b"\xff\xe0\x00\x01" + app1(QUICK) + EOI),
        ("in a file that ends after SOI", SOI),
        ("in a file that ends inside a marker", SOI + b"\xff"),
        ("in a file that ends inside a length", SOI + b"\xff\xe0\x00"),
    ],
)
def test_no_exif_segment_is_taken_from(why: str, jpeg: bytes) -> None:
    """The walker reads only the header segments, and only while they are well formed."""
    assert _exif_blocks(io.BytesIO(jpeg)) == [], why


@pytest.mark.parametrize(
    "jpeg",
    [SOI + b"\x00" + app1(QUICK) + EOI, SOI + b"\x00\xff" + app1(QUICK) + EOI],
    ids=["after a byte that is not a marker", "after a stray byte before fill"],
)
def test_stray_bytes_before_a_marker_are_passed_over_as_exiftool_does(jpeg: bytes) -> None:
    """exiftool reads the Exif segment after them (tests/test_capture_layouts.py)."""
    assert _exif_blocks(io.BytesIO(jpeg)) == [QUICK]


def test_stray_bytes_are_looked_past_only_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read a piece at a time (here 16 bytes), up to the limit (here 64), whatever lies
    between: the marker at either edge of a piece is found."""
    from cardingest.card import capture

    monkeypatch.setattr(capture, "_STRAY_READ", 16)
    monkeypatch.setattr(capture, "_MAX_STRAY", 64)
    for stray in (2, 15, 16, 17, 31, 32, 63):  # the marker's FF that many bytes on
        near = SOI + bytes(stray) + app1(QUICK) + EOI
        assert _exif_blocks(io.BytesIO(near)) == [QUICK], stray
    far = SOI + bytes(64) + app1(QUICK) + EOI
    assert _exif_blocks(io.BytesIO(far)) == []


def test_a_jpeg_cut_off_after_its_start_falls_back_with_a_warning() -> None:
    """Our walker finds nothing; exifread, given the whole file, raises: a warning, no crash."""
    got = read_capture(io.BytesIO(SOI), 0.0, "IMG_0003.JPG")
    assert (got.source, got.warning) == (
        "mtime",
        f"IMG_0003.JPG: {CUT_SHORT}; unreadable EXIF (IndexError); no EXIF capture time; "
        "using the file's modification time",
    )


# -- the quick TIFF reader -------------------------------------------------------------------


def test_ifd0_alone_is_read_quickly() -> None:
    """No EXIF IFD at all (only IFD0 DateTime): still a well-formed block."""
    for order in "<>":
        block = build(order, [text(MAKE, b"Nikon\0"), text(DATETIME, DATE)])
        assert _quick_tags(block) == {
            "Image Make": "Nikon",
            "Image DateTime": "2021:03:04 05:06:07",
        }, order


def test_entries_after_the_exif_pointer_are_read_too() -> None:
    """IFD0 entries out of tag order: the pointer first, then Make and Model."""
    ifd0 = [text(MAKE, b"Sony\0"), text(MODEL, b"A7\0")]
    block = build("<", ifd0, [text(DTO, DATE)])
    count = struct.unpack_from("<H", block, 8)[0]
    entries = [block[10 + 12 * i : 22 + 12 * i] for i in range(count)]
    assert struct.unpack_from("<H", entries[-1])[0] == POINTER
    swapped = block[:10] + entries[-1] + b"".join(entries[:-1]) + block[10 + 12 * count :]
    assert _quick_tags(swapped) == {
        "Image Make": "Sony",
        "Image Model": "A7",
        "EXIF DateTimeOriginal": "2021:03:04 05:06:07",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"Abc\0", "Abc"), (b"Sony\0", "Sony"), (b"Leica\0", "Leica"), (b"Olympus\0", "Olympus")],
)
def test_values_of_four_bytes_are_inline_and_longer_ones_are_not(
    value: bytes, expected: str
) -> None:
    for order in "<>":
        block = build(order, [text(MAKE, value)], [text(DTO, DATE)])
        assert _quick_tags(block) == {
            "Image Make": expected,
            "EXIF DateTimeOriginal": "2021:03:04 05:06:07",
        }, order


def test_a_block_that_ends_right_after_its_last_entry_is_read() -> None:
    """IFD0 with one inline entry and nothing after it, not even the next-IFD offset: the
    entries all lie inside the block, so the quick reader reads them and reads no further."""
    block = b"II*\0" + struct.pack("<IH", 8, 1) + struct.pack("<HHI4s", MAKE, ASCII, 4, b"Abc\0")
    assert len(block) == 8 + 2 + 12
    assert _quick_tags(block) == {"Image Make": "Abc"}


def test_an_exif_ifd_with_no_entries_at_the_very_end_is_read() -> None:
    """The EXIF IFD is its 2-byte count (0) as the block's last bytes."""
    make = struct.pack("<HHI4s", MAKE, ASCII, 4, b"Abc\0")
    pointer = struct.pack("<HHII", POINTER, LONG, 1, 8 + 2 + 24 + 4)
    block = b"II*\0" + struct.pack("<IH", 8, 2) + make + pointer + bytes(4) + struct.pack("<H", 0)
    assert _quick_tags(block) == {"Image Make": "Abc"}


@pytest.mark.parametrize(
    ("why", "block"),
    [
        ("IFD0 at the block's last byte", b"II*\0" + struct.pack("<I", 12) + b"\0\0\0\0\0"),
        ("IFD0 just past the end", b"II*\0" + struct.pack("<I", 13) + b"\0\0\0\0\0"),
        (
            "IFD0 claims one more entry than the block holds",
            b"II*\0" + struct.pack("<IH", 8, 2) + struct.pack("<HHI4s", MAKE, ASCII, 4, b"Abc\0"),
        ),
        (
            "the EXIF IFD claims one entry it does not have",
            b"II*\0"
            + struct.pack("<IH", 8, 1)
            + struct.pack("<HHII", POINTER, LONG, 1, 22)
            + struct.pack("<H", 1)
            + bytes(8),
        ),
    ],
)
def test_an_ifd_past_the_block_is_handed_over_not_raised(why: str, block: bytes) -> None:
    assert _quick_tags(block) is None, why


# -- what exifread hands over: bytes, byte lists, numbers ------------------------------------


def read(block: bytes, name: str = "IMG_0004.JPG") -> Capture:
    return read_capture(io.BytesIO(SOI + app1(block) + EOI), 0.0, name)


def test_a_make_that_is_not_utf8_is_read_as_latin1() -> None:
    """An ASCII-typed make with a Latin-1 byte: the quick reader hands over, exifread gives
    bytes, and the make is the Latin-1 text."""
    got = read(build("<", [text(MAKE, b"Ca\xefon\0")], [text(DTO, DATE)]))
    assert (got.make, got.source, got.captured) == ("Ca\u00efon", "exif:DateTimeOriginal", WHEN)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ((MODEL, BYTE, 2, b"AB"), "AB"),
        ((MODEL, BYTE, 3, b"A\xff\0"), "A\u00ff"),
        ((MODEL, UNDEFINED, 6, b"EOS\0R5"), "EOS"),
        ((MODEL, BYTE, 1, b"A"), "65"),  # one byte is a number, not text
        ((MODEL, SHORT, 1, struct.pack("<H", 300)), "300"),
        ((MODEL, SHORT, 2, struct.pack("<HH", 65, 256)), "[65, 256]"),
        ((MODEL, LONG, 1, struct.pack("<I", 70000)), "70000"),
    ],
)
def test_models_of_other_types(model: Entry, expected: str) -> None:
    got = read(build("<", [text(MAKE, b"Canon\0"), model], [text(DTO, DATE)]))
    assert (got.model, got.make, got.captured, got.warning) == (expected, "Canon", WHEN, None)


@pytest.mark.parametrize(
    ("dto", "shown"),
    [
        ((DTO, LONG, 1, struct.pack("<I", 70000)), "'70000'"),
        ((DTO, SHORT, 2, struct.pack("<HH", 65, 256)), "'[65, 256]'"),
    ],
)
def test_a_date_stored_as_numbers_is_not_a_date_and_says_so(dto: Entry, shown: str) -> None:
    got = read(build("<", [text(MAKE, b"Canon\0")], [dto, text(DTD, b"2020:01:02 03:04:05\0")]))
    assert (got.source, got.captured) == ("exif:DateTimeDigitized", datetime(2020, 1, 2, 3, 4, 5))
    assert (
        got.warning
        == f"IMG_0004.JPG: DateTimeOriginal {shown} is not a date; using DateTimeDigitized"
    )


def test_every_reason_is_in_the_warning_when_no_date_is_left() -> None:
    got = read(
        build(
            "<",
            [text(DATETIME, b"0000:00:00 00:00:00\0")],
            [text(DTO, b"2021:02:30 10:00:00\0"), text(DTD, b"        \0", UNDEFINED)],
        )
    )
    assert got.source == "mtime"
    assert got.warning == (
        "IMG_0004.JPG: DateTimeOriginal '2021:02:30 10:00:00' is not a date; "
        "DateTimeDigitized is blank; DateTime '0000:00:00 00:00:00' is not a date; "
        "no EXIF capture time; using the file's modification time"
    )


@pytest.mark.parametrize("blank", [b" " * 19 + b"\0", b"\0" * 20, b""])  # b"": count 0
def test_a_blank_date_is_said_as_the_readme_promises(blank: bytes) -> None:
    """A DateTimeOriginal of blanks or NULs (exiftool shows it empty) fell through to
    DateTimeDigitized with no warning; one with a valid twin later in the order (IFD0's
    blank, the EXIF IFD's there) is no reason to warn."""
    entry = text(DTO, blank) if blank else (DTO, ASCII, 0, b"")
    got = read(build("<", [text(MAKE, b"Canon\0")], [entry, text(DTD, b"2020:01:02 03:04:05\0")]))
    assert (got.source, got.captured) == ("exif:DateTimeDigitized", datetime(2020, 1, 2, 3, 4, 5))
    assert got.warning == "IMG_0004.JPG: DateTimeOriginal is blank; using DateTimeDigitized"
    twin = read(build("<", [text(DTO, b" " * 19 + b"\0")], [text(DTO, DATE)]))
    assert (twin.source, twin.captured, twin.warning) == ("exif:DateTimeOriginal", WHEN, None)


def test_a_date_stored_as_twenty_small_numbers_is_no_text() -> None:
    """SHORT values that happen to be a date's character codes: exiftool shows the numbers
    (``50 48 50 49 …``), no date; they were read as the text."""
    codes = b"".join(struct.pack("<H", c) for c in b"2021:02:02 02:02:02\0")
    got = read(build("<", [], [(DTO, SHORT, 20, codes), text(DTD, b"2020:01:02 03:04:05\0")]))
    assert (got.source, got.captured) == ("exif:DateTimeDigitized", datetime(2020, 1, 2, 3, 4, 5))
    assert got.warning is not None and "DateTimeOriginal '" in got.warning
    assert got.warning.endswith("is not a date; using DateTimeDigitized")


def test_a_block_exifread_cannot_parse_is_named_in_the_warning() -> None:
    """An EXIF pointer with a count of 0: the quick reader hands over, exifread raises
    IndexError on it; the photo falls back to its file time and the warning says why."""
    make = struct.pack("<HHI4s", MAKE, ASCII, 4, b"Abc\0")
    pointer = struct.pack("<HHII", POINTER, LONG, 0, 38)
    block = b"II*\0" + struct.pack("<IH", 8, 2) + make + pointer + bytes(4 + 16)
    got = read(block, "IMG_0005.JPG")
    assert (got.source, got.make) == ("mtime", None)
    assert got.warning == (
        "IMG_0005.JPG: unreadable EXIF (IndexError); no EXIF capture time; "
        "using the file's modification time"
    )
