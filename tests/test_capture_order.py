"""Capture-time fallback order on JPEGs built here with Pillow's EXIF writer.

The shared samples have no JPEG with DateTimeDigitized but no DateTimeOriginal, nor one with
only IFD0 DateTime, so these two are made in the test: DateTimeDigitized must win over IFD0
DateTime (an edit time that photo software rewrites), by both readers (the quick TIFF reader
and exifread), and exiftool, where installed, agrees about what is in the files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from cardimage import require
from PIL import Image

from cardingest.card import capture
from cardingest.card.scan import read_file

DIGITIZED = "2021:03:04 10:11:12"
MODIFIED = "2022:01:01 00:00:00"
IFD0_DATETIME, EXIF_IFD, DATETIME_DIGITIZED = 0x0132, 0x8769, 0x9004


def build_jpeg(path: Path, *, digitized: str | None, modified: str | None) -> Path:
    image = Image.new("RGB", (16, 16), (200, 120, 90))
    exif = image.getexif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 40D"
    if modified is not None:
        exif[IFD0_DATETIME] = modified
    if digitized is not None:
        exif.get_ifd(EXIF_IFD)[DATETIME_DIGITIZED] = digitized
    image.save(path, "JPEG", exif=exif.tobytes())
    return path


@pytest.fixture(params=["quick", "exifread"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "exifread":
        monkeypatch.setattr(capture, "_quick_tags", lambda block: None)
    return str(request.param)


def read(path: Path):  # type: ignore[no-untyped-def]
    return read_file(path, path.name, path.stat().st_size, path.stat().st_mtime)


def test_digitized_wins_over_ifd0_datetime(tmp_path: Path, reader: str) -> None:
    path = build_jpeg(tmp_path / "IMG_0001.JPG", digitized=DIGITIZED, modified=MODIFIED)
    record = read(path)
    assert record.time_source == "exif:DateTimeDigitized"
    assert record.captured == datetime(2021, 3, 4, 10, 11, 12)
    assert record.make == "Canon"
    assert record.warning is None


def test_only_ifd0_datetime(tmp_path: Path, reader: str) -> None:
    path = build_jpeg(tmp_path / "IMG_0002.JPG", digitized=None, modified=MODIFIED)
    record = read(path)
    assert record.time_source == "exif:DateTime"
    assert record.captured == datetime(2022, 1, 1, 0, 0, 0)
    assert record.warning == (  # an edit on a computer leaves only DateTime, its own time
        "IMG_0002.JPG: no EXIF DateTimeOriginal or DateTimeDigitized; using DateTime, when "
        "the file was last saved, not always when it was taken"
    )


def test_a_bad_digitized_falls_back_to_ifd0_datetime_and_says_so(
    tmp_path: Path, reader: str
) -> None:
    path = build_jpeg(tmp_path / "IMG_0003.JPG", digitized="0000:00:00 00:00:00", modified=MODIFIED)
    record = read(path)
    assert record.time_source == "exif:DateTime"
    assert record.captured == datetime(2022, 1, 1, 0, 0, 0)
    assert record.warning == (
        "IMG_0003.JPG: DateTimeDigitized '0000:00:00 00:00:00' is not a date; using DateTime"
        ", when the file was last saved, not always when it was taken"
    )


def test_exiftool_reads_the_built_files_the_same_way(tmp_path: Path) -> None:
    """The oracle: what the files hold, read by another implementation."""
    require(shutil.which("exiftool") is not None, "exiftool (libimage-exiftool-perl) missing")
    both = build_jpeg(tmp_path / "both.jpg", digitized=DIGITIZED, modified=MODIFIED)
    only = build_jpeg(tmp_path / "only.jpg", digitized=None, modified=MODIFIED)
    done = subprocess.run(
        [
            "exiftool",
            "-j",
            "-EXIF:DateTimeOriginal",
            "-EXIF:CreateDate",
            "-EXIF:ModifyDate",
            str(both),
            str(only),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {Path(e["SourceFile"]).name: e for e in json.loads(done.stdout)}
    assert "DateTimeOriginal" not in found["both.jpg"]
    assert found["both.jpg"]["CreateDate"] == DIGITIZED
    assert found["both.jpg"]["ModifyDate"] == MODIFIED
    assert "CreateDate" not in found["only.jpg"]
    assert found["only.jpg"]["ModifyDate"] == MODIFIED
    assert read(both).captured.strftime("%Y:%m:%d %H:%M:%S") == found["both.jpg"]["CreateDate"]
    assert read(only).captured.strftime("%Y:%m:%d %H:%M:%S") == found["only.jpg"]["ModifyDate"]


def test_dto_in_ifd0_and_in_the_exif_ifd_reads_as_exiftool_reads_it(
    tmp_path: Path, reader: str
) -> None:
    """Both IFDs with a DateTimeOriginal, of different times: exiftool shows IFD0's (its
    entry follows the pointer to the EXIF IFD, and the later one read wins); so must we."""
    image = Image.new("RGB", (16, 16), (200, 120, 90))
    exif = image.getexif()
    exif[0x9003] = "2020:01:01 01:01:01"
    exif.get_ifd(EXIF_IFD)[0x9003] = "2021:02:02 02:02:02"
    path = tmp_path / "IMG_0001.JPG"
    image.save(path, "JPEG", exif=exif.tobytes())
    record = read(path)
    assert (record.captured, record.time_source) == (
        datetime(2020, 1, 1, 1, 1, 1),
        "exif:DateTimeOriginal",
    )
    tool = shutil.which("exiftool")
    if tool is not None:
        shown = subprocess.run(
            [tool, "-s3", "-DateTimeOriginal", str(path)], capture_output=True, text=True
        )
        assert shown.stdout.strip() == "2020:01:01 01:01:01"
