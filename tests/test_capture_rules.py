"""Capture-time details written out: the mtime fallback, the year bounds, offsets that are not
offsets, and the warning an operator reads. JPEGs are built here with Pillow's EXIF writer."""

from __future__ import annotations

import io
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from clinic_helpers import exiftool, require_exiftool
from PIL import Image

from cardingest.card.capture import Capture, file_time, parse_exif_date, read_capture

DTO, DTD, OFFSET_TIME_ORIGINAL, SUBSEC_ORIGINAL = 0x9003, 0x9004, 0x9011, 0x9291


def jpeg(ifd0: dict[int, str], exif: dict[int, str]) -> io.BytesIO:
    image = Image.new("RGB", (8, 8))
    data = image.getexif()
    for tag, value in ifd0.items():
        data[tag] = value
    for tag, value in exif.items():
        data.get_ifd(0x8769)[tag] = value
    out = io.BytesIO()
    image.save(out, "JPEG", exif=data.tobytes())
    out.seek(0)
    return out


def test_file_time_is_local_wall_clock_to_the_second(auckland: None) -> None:
    """In a zone other than UTC (a mutant reading the time as UTC passed in CI's UTC)."""
    when = datetime(2024, 3, 1, 10, 11, 12)
    assert file_time(time.mktime(when.timetuple()) + 0.75) == when


@pytest.mark.parametrize("mtime", [1e20, -1e20, float("nan")])
def test_an_absurd_mtime_becomes_1980(mtime: float) -> None:
    assert file_time(mtime) == datetime(1980, 1, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1900:01:01 00:00:00", datetime(1900, 1, 1)),
        ("2999:12:31 23:59:59", datetime(2999, 12, 31, 23, 59, 59)),
        (" 2024:01:02 03:04:05\x00\r\n", datetime(2024, 1, 2, 3, 4, 5)),
        ("\t2024-01-02T03:04:05 ", datetime(2024, 1, 2, 3, 4, 5)),
        ("1899:12:31 23:59:59", None),
        ("3000:01:01 00:00:00", None),
        ("X2024:01:02 03:04:05", None),
        # as exiftool reads them (`exiftool -d %Y%m%d-%H%M%S`): the wall-clock time written
        ("2024:05:01 13:04:00.25", datetime(2024, 5, 1, 13, 4)),
        ("2024:05:01 13:05:00+02:00", datetime(2024, 5, 1, 13, 5)),
        ("2024:05:01 13:06:07Z", datetime(2024, 5, 1, 13, 6, 7)),
        ("2024:05:01 13:07:00.5-09:30", datetime(2024, 5, 1, 13, 7)),
        ("2024:05:01 13:01", datetime(2024, 5, 1, 13, 1)),
        ("2024:05:01 13:01.5", None),
        ("2024:05:01 13:01:00.", None),
        ("2024:05:01 13:01:00+2", None),
        ("2024:05:01 13:01:00 extra", None),
        ("2024:05:01 13", None),
        # unpadded fields, other separators, blanks (exiftool reads these too)
        ("2024:5:1 9:05:07", datetime(2024, 5, 1, 9, 5, 7)),
        ("2024.05.01 10:00:00", datetime(2024, 5, 1, 10)),
        ("2024:05:01   10:00", datetime(2024, 5, 1, 10)),
        ("2024:05:01 100:00:00", None),
        ("2024:005:01 10:00:00", None),
        ("24:05:01 10:00:00", None),
        ("01.05.2024 10:00:00", None),
        ("2024:05:01T 10:00:00", None),
        ("2008:07:31 10:0", None),  # cut short in a truncated file: not ten o'clock
        ("2008:07:31 10:00:0", None),
    ],
)
def test_date_bounds_and_padding(text: str, expected: datetime | None) -> None:
    assert parse_exif_date(text) == expected


@pytest.mark.parametrize(
    "written",
    [
        "2024:05:01 13:04:00.25",
        "2024:05:01 13:05:00+02:00",
        "2024:05:01 13:05:00+0200",
        "2024:05:01 13:05:00 +0200",
        "2024:05:01 13:05:00+02",
        "2024:05:01 13:01",
        "2024:05:01 13:06:07Z",
        "2024:5:1 9:05:07",
        "2024.05.01 10:00:00",
        "2024/05/01 10:00:00",
        "2024:05:01  9:00:00",
    ],
)
def test_a_date_with_a_fraction_zone_or_no_seconds_reads_as_exiftool_reads_it(
    written: str, tmp_path: Path
) -> None:
    """exiftool writes these and names by them (`-d %Y%m%d-%H%M%S`): a camera's or editor's
    DateTimeOriginal with them was taken for no date, and the photo named by its file time."""
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(jpeg({}, {DTO: "2000:01:01 00:00:00"}).getvalue())
    tool = require_exiftool()
    subprocess.run(
        [tool, "-q", "-overwrite_original", f"-DateTimeOriginal#={written}", str(path)],
        check=True,
    )
    [seen] = exiftool("-d", "%Y-%m-%d %H:%M:%S", "-DateTimeOriginal", path)
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert (capture.source, capture.warning) == ("exif:DateTimeOriginal", None)
    assert f"{capture.captured:%Y-%m-%d %H:%M:%S}" == seen["DateTimeOriginal"]


def exif_segment(data: bytes) -> tuple[int, int]:
    """Where the first APP1 segment of a JPEG Pillow wrote starts and ends."""
    at = 2
    while data[at + 1] != 0xE1:
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return at, at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")


def second_exif_segment(first: bytes, second: bytes) -> bytes:
    """``first`` with ``second``'s Exif APP1 segment put in after its own."""
    end = exif_segment(first)[1]
    return first[:end] + second[slice(*exif_segment(second))] + first[end:]


def test_a_second_exif_segment_gives_the_tags_exiftool_shows(tmp_path: Path) -> None:
    """An editor that adds an Exif segment of its own after the camera's: exiftool shows the
    later segment's capture time, and the earlier one's tags the later lacks (the make)."""
    path = tmp_path / "IMG_0001.JPG"
    camera = jpeg({0x010F: "Canon"}, {DTO: "2024:05:01 10:00:00"}).getvalue()
    editor = jpeg({}, {DTO: "2024:05:02 11:30:00"}).getvalue()
    path.write_bytes(second_exif_segment(camera, editor))
    require_exiftool()
    [seen] = exiftool("-d", "%Y-%m-%d %H:%M:%S", "-DateTimeOriginal", "-Make", path)
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert f"{capture.captured:%Y-%m-%d %H:%M:%S}" == seen["DateTimeOriginal"]
    assert capture.make == seen["Make"] == "Canon"
    assert capture.captured == datetime(2024, 5, 2, 11, 30)


def test_a_second_exif_segments_own_make_and_fraction_stand_over_the_first(
    tmp_path: Path,
) -> None:
    """A mutant that let the earlier segment's tags win where both have them passed every
    test (the dates are taken from the later one apart): exiftool shows the later segment's
    make and fraction of a second, which orders the photos of one second."""
    path = tmp_path / "IMG_0002.JPG"
    camera = jpeg({0x010F: "Canon"}, {DTO: "2024:05:01 10:00:00", 0x9291: "900"}).getvalue()
    editor = jpeg({0x010F: "Editor"}, {DTO: "2024:05:02 11:30:00", 0x9291: "100"}).getvalue()
    path.write_bytes(second_exif_segment(camera, editor))
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", "-SubSecTimeOriginal", "-Make", path)
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert (capture.make, capture.subsec) == (seen["Make"], str(seen["SubSecTimeOriginal"]))
    assert (capture.make, capture.subsec) == ("Editor", "100")


def test_a_damaged_second_exif_segment_leaves_the_first_one_read(tmp_path: Path) -> None:
    camera = jpeg({}, {DTO: "2024:05:01 10:00:00"}).getvalue()
    damaged = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\xff\x7f"
    data = second_exif_segment(camera, damaged)
    capture = read_capture(io.BytesIO(data), 0.0, "IMG_0001.JPG")
    assert (capture.captured, capture.warning) == (datetime(2024, 5, 1, 10), None)


def test_no_date_falls_back_to_mtime_and_keeps_make_and_model() -> None:
    mtime = time.mktime(datetime(2023, 5, 6, 7, 8, 9).timetuple())
    capture = read_capture(jpeg({0x010F: "Canon", 0x0110: "EOS R5"}, {}), mtime, "IMG_0001.JPG")
    assert capture == Capture(
        captured=datetime(2023, 5, 6, 7, 8, 9),
        source="mtime",
        make="Canon",
        model="EOS R5",
        warning="IMG_0001.JPG: no EXIF capture time; using the file's modification time",
    )


def test_bad_dates_are_each_named_and_the_one_used_said() -> None:
    fh = jpeg(
        {0x0132: "2022:01:01 00:00:00"},
        {DTO: "0000:00:00 00:00:00", DTD: "2021:13:01 00:00:00"},
    )
    capture = read_capture(fh, 0.0, "IMG_0002.JPG")
    assert capture.source == "exif:DateTime"
    assert capture.captured == datetime(2022, 1, 1)
    assert capture.warning == (
        "IMG_0002.JPG: DateTimeOriginal '0000:00:00 00:00:00' is not a date; "
        "DateTimeDigitized '2021:13:01 00:00:00' is not a date; using DateTime"
        ", when the file was last saved, not always when it was taken"
    )


def test_an_offset_that_is_not_one_is_dropped_and_subseconds_kept() -> None:
    fh = jpeg(
        {}, {DTO: "2024:01:02 03:04:05", OFFSET_TIME_ORIGINAL: "UTC+1", SUBSEC_ORIGINAL: "07"}
    )
    capture = read_capture(fh, 0.0, "IMG_0003.JPG")
    assert (capture.source, capture.subsec, capture.utc_offset) == (
        "exif:DateTimeOriginal",
        "07",
        None,
    )
    fh = jpeg(
        {}, {DTO: "2024:01:02 03:04:05", OFFSET_TIME_ORIGINAL: "-09:30", SUBSEC_ORIGINAL: "x1"}
    )
    capture = read_capture(fh, 0.0, "IMG_0004.JPG")
    assert (capture.subsec, capture.utc_offset) == ("", "-09:30")


def test_subseconds_and_offset_belong_to_datetimeoriginal_only() -> None:
    fh = jpeg(
        {}, {DTD: "2024:01:02 03:04:05", OFFSET_TIME_ORIGINAL: "+13:00", SUBSEC_ORIGINAL: "5"}
    )
    capture = read_capture(fh, 0.0, "IMG_0005.JPG")
    assert (capture.source, capture.subsec, capture.utc_offset) == (
        "exif:DateTimeDigitized",
        "",
        None,
    )


def test_files_on_disk_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0006.JPG"
    path.write_bytes(jpeg({}, {DTO: "2024:01:02 03:04:05"}).getvalue())
    with open(path, "rb") as fh:
        assert read_capture(fh, 0.0, path.name).captured == datetime(2024, 1, 2, 3, 4, 5)


def test_an_exif_ifd_out_of_tag_order_still_gives_its_date_as_exiftool_does(
    tmp_path: Path,
) -> None:
    """SubSecTimeOriginal written before DateTimeOriginal (TIFF asks for tag order), with
    the date stored as UNDEFINED so exifread reads the block: it stopped at the sub-second
    tag and never saw the date; the file was named by its ModifyDate."""
    from exif_bytes import (
        DATETIME,
        EOI,
        SOI,
        UNDEFINED,
        app1,
        build,
        text,
    )

    block = build(
        "<",
        [text(DATETIME, b"2012:12:12 12:12:12\0")],
        [text(0x9291, b"12\0"), text(DTO, b"2020:01:01 10:00:00\0", UNDEFINED)],
    )
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(SOI + app1(block) + EOI)
    require_exiftool()
    [seen] = exiftool("-d", "%Y-%m-%d %H:%M:%S", "-DateTimeOriginal", path)
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert seen["DateTimeOriginal"] == "2020-01-01 10:00:00"
    assert (capture.captured, capture.source) == (
        datetime(2020, 1, 1, 10),
        "exif:DateTimeOriginal",
    )


@pytest.mark.parametrize(
    ("ifd0", "exif", "composite"),
    [
        ({}, {DTD: "2024:03:05 09:00:00", 0x9292: "{}", 0x9012: "+13:00"}, "SubSecCreateDate"),
        ({0x0132: "2024:03:05 09:00:00"}, {0x9290: "{}", 0x9010: "+13:00"}, "SubSecModifyDate"),
    ],
)
def test_the_sub_second_and_offset_are_those_of_the_time_used_as_exiftool_pairs_them(
    tmp_path: Path, ifd0: dict[int, str], exif: dict[int, str], composite: str
) -> None:
    """A trial: two photos of one second timed by DateTimeDigitized, with SubSecTimeDigitized
    90 and 05, were named in card order; exiftool's SubSecCreateDate puts .05 first. Each time
    takes its own sub-second and offset tags (SubSecModifyDate: DateTime with SubSecTime)."""
    require_exiftool()
    order = []
    for subsec in ("90", "05", "5"):
        path = tmp_path / f"{composite}-{subsec}.jpg"
        values = {tag: value.format(subsec) for tag, value in exif.items()}
        path.write_bytes(jpeg(ifd0, values).getvalue())
        [seen] = exiftool("-n", f"-{composite}", path)
        with open(path, "rb") as fh:
            capture = read_capture(fh, 0.0, path.name)
        assert (capture.subsec, capture.utc_offset) == (subsec, "+13:00")
        assert seen[composite] == f"2024:03:05 09:00:00.{subsec}+13:00"
        order.append((float(f"0.{capture.subsec}"), seen[composite]))
    assert [seen for _, seen in sorted(order)] == sorted(seen for _, seen in order)
