"""Capture times against exiftool's readings of real camera files (the oracle)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest

from cardingest.card.capture import parse_exif_date, read_capture
from cardingest.card.scan import read_file, scan

ORDER = (
    ("DateTimeOriginal", "exif:DateTimeOriginal"),
    ("DateTimeDigitized", "exif:DateTimeDigitized"),
    ("ModifyDate", "exif:DateTime"),
)


def expected(samples: Path) -> dict[str, dict[str, str]]:
    with open(samples / "expected-exiftool.tsv", encoding="utf-8") as fh:
        return {row["file"]: row for row in csv.DictReader(fh, delimiter="\t")}


def test_every_sample_matches_exiftool(samples_dir: Path) -> None:
    oracle = expected(samples_dir)
    real = samples_dir / "real"
    assert len(oracle) >= 20
    for name, row in oracle.items():
        path = real / name
        stat = path.stat()
        record = read_file(path, name, stat.st_size, stat.st_mtime)
        want = next(((row[tag], src) for tag, src in ORDER if row[tag] != "-"), None)
        if want is None:
            assert record.time_source == "mtime", name
            assert record.warning, name
            continue
        assert record.captured.strftime("%Y:%m:%d %H:%M:%S") == want[0], name
        assert record.time_source == want[1], name
        if want[1] == "exif:DateTimeOriginal":
            sub = row["SubSecTimeOriginal"]
            assert record.subsec == ("" if sub == "-" else sub), name
            off = row["OffsetTimeOriginal"]
            assert record.utc_offset == (None if off == "-" else off), name
        if row["Make"] != "-":
            assert record.make == row["Make"].strip(), name


@pytest.mark.parametrize(
    "text",
    [
        "0000:00:00 00:00:00",
        "    :  :     :  :  ",
        "",
        "\x00" * 19,
        "2008:05:30 24:00:00",
        "2008:13:01 10:00:00",
        "2008:02:30 10:00:00",
        "2008:05:30",
        "garbage",
    ],
)
def test_strict_dates_refuse_non_dates(text: str) -> None:
    assert parse_exif_date(text) is None


def test_strict_dates_accept_padded_real_dates() -> None:
    assert parse_exif_date("2008:05:30 15:56:01\x00") == datetime(2008, 5, 30, 15, 56, 1)


def test_damaged_bytes_fall_back_with_warning(samples_dir: Path) -> None:
    data = (samples_dir / "real" / "Canon_40D.jpg").read_bytes()
    for cut in (0, 3, 20, 100, 400, 2000):
        capture = read_capture(io.BytesIO(data[:cut]), 0.0, f"cut{cut}")
        assert capture.source in ("mtime", "exif:DateTime", "exif:DateTimeOriginal")
        if capture.source == "mtime":
            assert capture.warning and f"cut{cut}" in capture.warning


def test_zero_date_falls_back_to_next_tag(tmp_path: Path) -> None:
    from PIL import ExifTags, Image

    exif = Image.Exif()
    exif[ExifTags.Base.DateTime] = "2020:01:02 03:04:05"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "0000:00:00 00:00:00"
    path = tmp_path / "IMG_0001.JPG"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    stat = path.stat()
    record = read_file(path, "IMG_0001.JPG", stat.st_size, stat.st_mtime)
    assert record.time_source == "exif:DateTime"
    assert record.captured == datetime(2020, 1, 2, 3, 4, 5)
    assert record.warning and "not a date" in record.warning


def test_scan_skips_hidden_and_non_media(tmp_path: Path) -> None:
    folder = tmp_path / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for name in ("IMG_0001.JPG", "._IMG_0001.JPG", "INDEX.CTG", "IMG_0001.THM", "clip.MOV"):
        (folder / name).write_bytes(b"x")
    (tmp_path / "DCIM" / ".Trashes").mkdir()
    (tmp_path / "DCIM" / ".Trashes" / "IMG_0009.JPG").write_bytes(b"x")
    (tmp_path / "notes.jpg").write_bytes(b"x")
    paths = [m.path for m in scan(tmp_path)]
    assert paths == ["DCIM/100CANON/IMG_0001.JPG", "DCIM/100CANON/IMG_0001.THM"]


def test_an_unreadable_file_is_held_not_fatal(tmp_path: Path) -> None:
    from cardingest.plan.idmap import single_id_map
    from cardingest.plan.planner import make_plan

    vanished = read_file(tmp_path / "IMG_0002.JPG", "DCIM/100CANON/IMG_0002.JPG", 100, 0.0)
    assert vanished.unreadable and vanished.warning and "cannot be read" in vanished.warning
    (item,) = make_plan([vanished], single_id_map("JBX3656")).items
    assert (item.action, item.reason) == ("hold", "cannot be read")
