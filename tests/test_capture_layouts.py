"""Layouts a camera or its software may write that exiftool reads a capture time from, and
that once gave the file's modification time, another tag, or a false "cut short": each is
built here and read by exiftool (the oracle) and by cardingest alike."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from clinic_helpers import exiftool, require_exiftool
from exif_bytes import (
    DATETIME,
    DTD,
    DTO,
    EOI,
    MAKE,
    MODEL,
    SOI,
    UNDEFINED,
    app1,
    build,
    segment,
    text,
)

from cardingest.card.capture import read_capture

SAVED = b"2024:06:01 12:00:00\0"
TAKEN = b"2024:05:01 10:00:00\0"
NO_SECONDS = b"2024:05:01 10:00".ljust(20, b"\0")
"""A date without seconds in the usual 20 bytes, the rest NULs: padding, not a cut."""
JFIF = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"


def read_both(path: Path) -> tuple[str, str]:
    """(exiftool's DateTimeOriginal, else its CreateDate; ours), as ``YYYY-MM-DD HH:MM:SS``."""
    require_exiftool()
    [seen] = exiftool("-d", "%Y-%m-%d %H:%M:%S", "-DateTimeOriginal", "-CreateDate", path)
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert capture.source != "mtime", capture
    return seen.get("DateTimeOriginal") or seen["CreateDate"], f"{capture.captured:%F %T}"


TIMED = build("<", [text(MAKE, b"Canon\0"), text(DATETIME, SAVED)], [text(DTO, TAKEN)])


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("two_stray_nuls.jpg", SOI + segment(0xE0, JFIF) + b"\0\0" + app1(TIMED) + EOI),
        ("jfif_two_short.jpg", SOI + b"\xff\xe0\x00\x0e" + JFIF + app1(TIMED) + EOI),
    ],
)
def test_stray_bytes_before_the_exif_segment_are_passed_over(
    tmp_path: Path, name: str, data: bytes
) -> None:
    """Bytes that are no marker where a segment ends (two NULs after the JFIF header, or a
    JFIF header whose length leaves two of its bytes out): exiftool skips them to the next
    marker and reads the Exif segment after; the walk stopped there."""
    path = tmp_path / name
    path.write_bytes(data)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2


HIDDEN = segment(0xE2, b"XX" + app1(TIMED))
"""An application segment holding, as its data, an Exif segment: none of the file's own."""
SAVED_ONLY = app1(build("<", [text(MAKE, b"Canon\0"), text(DATETIME, b"2019:09:09 09:09:09\0")]))


@pytest.mark.parametrize(
    ("name", "data", "read"),
    [
        (
            "null_marker.jpg",
            SOI + segment(0xE0, JFIF) + b"\0\xff\0\0\x06" + HIDDEN + SAVED_ONLY + EOI,
            "2019-09-09",
        ),
        (
            "soi_marker.jpg",
            SOI + segment(0xE0, JFIF) + b"\0\xff\xd8\0\x06" + HIDDEN + SAVED_ONLY + EOI,
            "2019-09-09",
        ),
        ("null_then_bytes.jpg", SOI + b"\0\xff\0\x12\x34" + app1(TIMED) + EOI, "2024-05-01"),
        ("soi_again.jpg", SOI + b"\0\xff\xd8" + app1(TIMED) + EOI, "2024-05-01"),
    ],
)
def test_markers_with_no_length_are_walked_as_exiftool_walks_them(
    tmp_path: Path, name: str, data: bytes, read: str
) -> None:
    """A stray byte, then ``FF 00`` or ``FF D8``: two bytes after such a marker were taken
    for its length, which jumped into an application segment and read the Exif segment it
    holds as data (a date exiftool does not read), or past the photo's own."""
    path = tmp_path / name
    path.write_bytes(data)
    require_exiftool()
    [seen] = exiftool("-d", "%Y-%m-%d", "-DateTimeOriginal", "-ModifyDate", path)
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert seen.get("DateTimeOriginal", seen["ModifyDate"]) == read
    assert f"{capture.captured:%F}" == read, capture
    expected = "exif:DateTime" if read == "2019-09-09" else "exif:DateTimeOriginal"
    assert capture.source == expected


def test_a_create_date_in_ifd0_with_no_exif_ifd(tmp_path: Path) -> None:
    """DateTimeDigitized (exiftool's CreateDate) in IFD0, as DateTimeOriginal already was:
    IFD0's DateTime (when the file was saved) was taken instead."""
    path = tmp_path / "ifd0_create.jpg"
    block = build("<", [text(MAKE, b"Canon\0"), text(DATETIME, SAVED), text(DTD, TAKEN)])
    path.write_bytes(SOI + app1(block) + EOI)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("DSC_0001.NEF", build("<", [text(MAKE, b"NIKON\0"), text(DATETIME, SAVED)], [
            text(DTO, NO_SECONDS), text(DTD, NO_SECONDS)])),
        ("latin1_model.jpg", SOI + app1(build("<", [text(MODEL, b"Cam\xe9ra\0"), text(
            DATETIME, SAVED)], [text(DTO, NO_SECONDS)])) + EOI),
        # padded with blanks (a mutant that took only NULs for padding passed every test)
        ("DSC_0003.NEF", build("<", [text(MAKE, b"NIKON\0"), text(DATETIME, SAVED)], [
            text(DTO, b"2024:05:01 10:00".ljust(19) + b"\0")])),
        # a TIFF block under Olympus's magic number: it was no TIFF block to the padding's
        # check, and the photo was named by when it was saved
        ("P5010001.ORF", b"IIRO" + build("<", [text(MAKE, b"OLYMPUS\0"), text(
            DATETIME, SAVED)], [text(DTO, NO_SECONDS)])[4:]),
        ("P1000001.RW2", b"IIU\0" + build("<", [text(MAKE, b"Panasonic\0"), text(
            DATETIME, SAVED)], [text(DTO, NO_SECONDS)])[4:]),  # and Panasonic's
    ],
)  # fmt: skip
def test_a_date_without_seconds_padded_with_nuls_is_no_cut(
    tmp_path: Path, name: str, data: bytes
) -> None:
    """A date with no seconds whose entry holds 20 bytes, the rest NULs, read by exifread
    (a TIFF-based RAW, or a JPEG the quick reader leaves to it): it was called "cut short
    (the file ends in it)" and IFD0's DateTime taken. exiftool reads the minute."""
    path = tmp_path / name
    path.write_bytes(data)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2
    with open(path, "rb") as fh:
        assert read_capture(fh, 0.0, name).warning is None


def test_the_same_date_cut_by_the_files_end_is_still_cut(tmp_path: Path) -> None:
    path = tmp_path / "DSC_0002.NEF"
    whole = build("<", [text(MAKE, b"NIKON\0"), text(DATETIME, SAVED)], [text(DTO, NO_SECONDS)])
    path.write_bytes(whole[: whole.index(NO_SECONDS) + 16])
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert capture.source == "exif:DateTime", capture
    assert "is cut short (the file ends in it)" in str(capture.warning)


@pytest.mark.parametrize("shift", [4, 10], ids=["exif-header-no-offset", "bare-tiff"])
def test_a_heif_exif_item_without_its_offset_field(
    samples_dir: Path, tmp_path: Path, shift: int
) -> None:
    """An Exif item of a HEIF that starts at ``Exif\\0\\0`` or at the TIFF header itself,
    with no 4-byte offset before it (Nokia's conformance file C034.heic; exiftool reads
    it, warning "Missing Exif header size"): it was unreadable. The sample's Exif extent
    (its ``iloc`` offset at byte 2991, length after it) is moved on by ``shift`` bytes."""
    data = bytearray((samples_dir / "real" / "IMG_5195.HEIC").read_bytes())
    offset, length = struct.unpack_from(">II", data, 2991)
    assert (offset, length) == (3031, 2468)  # the sample as it is
    struct.pack_into(">II", data, 2991, offset + shift, length - shift)
    path = tmp_path / "IMG_5195.HEIC"
    path.write_bytes(bytes(data))
    assert read_both(path) == ("2021-04-11 15:47:53",) * 2


def test_stray_bytes_far_past_the_head_are_passed_over_too(tmp_path: Path) -> None:
    """200,000 NULs after the JFIF header: exiftool reads the Exif segment after them (the
    first version looked 4 KiB ahead)."""
    path = tmp_path / "many_stray.jpg"
    path.write_bytes(SOI + segment(0xE0, JFIF) + bytes(200_000) + app1(TIMED) + EOI)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2


@pytest.mark.parametrize("many", [70, 300])
def test_an_exif_segment_after_many_others_and_the_tables_is_read(
    tmp_path: Path, many: int
) -> None:
    """A trial: an Exif segment after 70 APP2 segments (a FlashPix or ICC profile split in
    pieces) and the quantisation and frame headers was missed: the walk gave up after 64
    segments, and exifread does not look past the tables. exiftool reads it."""
    tables = segment(0xDB, bytes(65)) + segment(0xC0, b"\x08\x00\x10\x00\x10\x01\x01\x11\x00")
    pieces = b"".join(segment(0xE2, b"FPXR\0" + bytes(40)) for _ in range(many))
    path = tmp_path / "crowded.jpg"
    path.write_bytes(SOI + segment(0xE0, JFIF) + pieces + tables + app1(TIMED) + EOI)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2


def test_a_date_stored_as_bytes_after_a_nul_is_read_as_exiftool_reads_it(tmp_path: Path) -> None:
    """A trial: DateTimeOriginal stored as UNDEFINED with a NUL before the date was called
    blank, and the photo took DateTimeDigitized's later second. exiftool reads the date."""
    block = build(
        "<",
        [text(MAKE, b"Canon\0")],
        [text(DTO, b"\0" + TAKEN, UNDEFINED), text(DTD, b"2024:05:01 10:00:30\0")],
    )
    path = tmp_path / "nul_first.jpg"
    path.write_bytes(SOI + app1(block) + EOI)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2


def test_a_warning_names_ifd0s_date_apart_from_the_exif_ifds(tmp_path: Path) -> None:
    """A trial: "DateTimeOriginal '0000:00:00 00:00:00' is not a date; using
    DateTimeOriginal", the first IFD0's, the second the EXIF IFD's, read as a contradiction."""
    zeros = b"0000:00:00 00:00:00\0"
    block = build("<", [text(MAKE, b"Canon\0"), text(DTO, zeros)], [text(DTO, TAKEN)])
    path = tmp_path / "ifd0_zeros.jpg"
    path.write_bytes(SOI + app1(block) + EOI)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2
    with open(path, "rb") as fh:
        warning = read_capture(fh, 0.0, path.name).warning
    assert warning == (
        "ifd0_zeros.jpg: IFD0 DateTimeOriginal '0000:00:00 00:00:00' is not a date; "
        "using DateTimeOriginal"
    )


def test_an_exif_segment_after_the_start_of_scan_is_not_read(tmp_path: Path) -> None:
    """An Exif segment after the image data begins (FF DA): exiftool reads none there, and
    exifread, asked when our walk found none before, read it."""
    path = tmp_path / "sos_first.jpg"
    path.write_bytes(SOI + segment(0xE0, JFIF) + b"\xff\xda\x00\x02" + app1(TIMED) + EOI)
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", "-ModifyDate", path)
    assert "DateTimeOriginal" not in seen and "ModifyDate" not in seen, seen
    with open(path, "rb") as fh:
        assert read_capture(fh, 0.0, path.name).source == "mtime"


def test_a_damaged_heif_whose_time_exifread_still_finds_is_warned(
    samples_dir: Path, tmp_path: Path
) -> None:
    """The first ``infe`` box's size broken: our reader stops (exiftool reads no EXIF and
    warns), exifread's own HEIF walk still finds a date, and the damage went unsaid. The
    photo keeps that date (the card's bytes are archived as they are) with the warning."""
    data = bytearray((samples_dir / "real" / "IMG_5195.HEIC").read_bytes())
    data[128:132] = b"\xff" * 4
    path = tmp_path / "IMG_5195.HEIC"
    path.write_bytes(bytes(data))
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert capture.warning is not None and "HEIF" in capture.warning, capture
    assert capture.warning.endswith("using DateTimeOriginal"), capture.warning


@pytest.mark.parametrize("digit", ["\u0665", "\uff15"])
def test_a_date_in_another_scripts_digits_is_no_date(tmp_path: Path, digit: str) -> None:
    """exiftool reads no date there; Python's \\d took any script's digits, and the photo
    was filed under a second nobody wrote (a trial)."""
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(
        SOI + app1(build("<", [], [text(DTO, f"2024:05:01 10:00:0{digit}".encode() + b"\0")])) + EOI
    )
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert capture.source == "mtime" and capture.warning is not None, capture


def test_a_later_exif_segments_date_wins_wherever_its_ifd(tmp_path: Path) -> None:
    """Two Exif segments: the first with the date in IFD0, the later in the EXIF IFD. The
    later one is read last, so exiftool shows it; the first's IFD0 entry won here (a trial)."""
    first = build("<", [text(DTO, b"2031:01:01 01:01:01\0")], [])
    later = build("<", [], [text(DTO, b"2030:01:01 01:01:01\0")])
    path = tmp_path / "IMG_0002.JPG"
    path.write_bytes(SOI + app1(first) + app1(later) + EOI)
    seen, ours = read_both(path)
    assert seen == ours == "2030-01-01 01:01:01"


@pytest.mark.parametrize(
    ("name", "magic"),
    [
        ("upper.jpg", b"EXIF\0\0"),
        ("lower.jpg", b"exif\0\0"),
        ("garbage_before.jpg", b"\0\0Exif\0\0"),
        ("four_before.jpg", b"ABCDExif\0\0"),
    ],
)
def test_an_exif_header_exiftool_accepts_with_a_warning_gives_its_time(
    tmp_path: Path, name: str, magic: bytes
) -> None:
    """A trial: ``EXIF\\0\\0``, ``exif\\0\\0`` or bytes before ``Exif\\0\\0`` (exiftool:
    "Incorrect EXIF segment identifier", "Unknown garbage at start of EXIF segment") gave
    the file's time; exiftool reads the date."""
    path = tmp_path / name
    path.write_bytes(SOI + app1(TIMED, magic) + EOI)
    assert read_both(path) == ("2024-05-01 10:00:00",) * 2


def test_an_app1_that_is_no_exif_segment_gives_no_time(tmp_path: Path) -> None:
    """Five bytes before ``Exif\\0`` is none for exiftool, nor is ``Exif`` without its NUL."""
    for magic in (b"ABCDEExif\0\0", b"Exif"):
        path = tmp_path / "none.jpg"
        path.write_bytes(SOI + app1(TIMED, magic) + EOI)
        require_exiftool()
        assert exiftool("-DateTimeOriginal", path) == [{"SourceFile": str(path)}]
        with open(path, "rb") as fh:
            assert read_capture(fh, 0.0, path.name).source == "mtime"


def test_an_exif_segment_with_no_byte_order_gives_no_time(tmp_path: Path) -> None:
    """A trial (Pillow's ``invalid-exif.jpg``, an editor's file): ``FF FF`` where the TIFF
    header's ``II`` or ``MM`` should be. exiftool reads no EXIF from it ("Malformed APP1 EXIF
    segment"); exifread, asked of the whole file when the segment gave nothing, read it as
    big-endian and filed the photo by its DateTime. Now it takes its file time, and says why."""
    block = b"\xff\xff" + build(">", [text(DATETIME, SAVED)], [text(DTO, TAKEN)])[2:]
    tables = segment(0xDB, b"\0" + bytes(64))  # the walk stops here, short of the image
    path = tmp_path / "IMG_0003.JPG"
    path.write_bytes(SOI + segment(0xE0, JFIF) + app1(block) + tables + EOI)
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", "-ModifyDate", path)
    assert "DateTimeOriginal" not in seen and "ModifyDate" not in seen, seen
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert capture.source == "mtime", capture
    assert capture.warning is not None and "malformed Exif segment" in capture.warning
