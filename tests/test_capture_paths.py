"""Which reader answers, and with what: a well-formed JPEG never needs exifread; exifread is
called the way the design says (no details, no thumbnail, stop after SubSecTimeOriginal);
text stored as bytes and JPEG fill bytes are read right."""

from __future__ import annotations

import io
import struct
from datetime import datetime
from typing import Any

import exifread
import pytest
from PIL import Image
from test_exif_quick import tiff

from cardingest.card.capture import read_capture


def pillow_jpeg(**exif: str) -> io.BytesIO:
    image = Image.new("RGB", (8, 8))
    data = image.getexif()
    data[0x010F] = "Canon"
    for name, value in exif.items():
        data.get_ifd(0x8769)[{"dto": 0x9003, "sub": 0x9291}[name]] = value
    out = io.BytesIO()
    image.save(out, "JPEG", exif=data.tobytes())
    out.seek(0)
    return out


def wrap(block: bytes, *, fill: int = 0) -> io.BytesIO:
    """A minimal JPEG: SOI, ``fill`` 0xFF fill bytes, the Exif APP1 segment, EOI."""
    payload = b"Exif\0\0" + block
    segment = b"\xff" * fill + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return io.BytesIO(b"\xff\xd8" + segment + b"\xff\xd9")


@pytest.fixture
def exifread_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    real = exifread.process_file

    def spy(fh: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(fh, **kwargs)

    monkeypatch.setattr(exifread, "process_file", spy)  # capture imports it lazily
    return calls


def test_a_well_formed_jpeg_never_needs_exifread(exifread_calls: list[dict[str, Any]]) -> None:
    got = read_capture(pillow_jpeg(dto="2024:01:02 03:04:05", sub="5"), 0.0, "a.jpg")
    assert (got.captured, got.subsec, got.make) == (datetime(2024, 1, 2, 3, 4, 5), "5", "Canon")
    for order in "<>":
        block = tiff(order, [(0x010F, 2, b"Nikon\0")], [(0x9003, 2, b"2021:03:04 05:06:07\0")])
        assert read_capture(wrap(block), 0.0, "b.jpg").captured == datetime(2021, 3, 4, 5, 6, 7)
    assert exifread_calls == []


def test_exifread_is_asked_for_little(exifread_calls: list[dict[str, Any]]) -> None:
    block = tiff("<", [], [(0x9003, 7, b"2021:03:04 05:06:07\0")])  # UNDEFINED: not quick
    got = read_capture(wrap(block), 0.0, "c.jpg")
    assert (got.source, got.captured) == ("exif:DateTimeOriginal", datetime(2021, 3, 4, 5, 6, 7))
    assert exifread_calls == [
        {"details": False, "extract_thumbnail": False, "stop_tag": "SubSecTimeDigitized"}
    ]
    exifread_calls.clear()
    read_capture(io.BytesIO(b"not a photo at all" * 10), 0.0, "d.jpg")
    assert exifread_calls == [
        {"details": False, "extract_thumbnail": False, "stop_tag": "SubSecTimeDigitized"}
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"2021:03:04 05:06:07\0", datetime(2021, 3, 4, 5, 6, 7)),
        (b"2021:03:04 05:06:07\0garbage\0", datetime(2021, 3, 4, 5, 6, 7)),
        (b"2021:03:04 05:06:07", datetime(2021, 3, 4, 5, 6, 7)),
    ],
)
def test_a_date_stored_as_bytes_is_read_up_to_its_nul(value: bytes, expected: datetime) -> None:
    block = tiff("<", [(0x010F, 7, b"Ca\xefon\0")], [(0x9003, 7, value)])
    got = read_capture(wrap(block), 0.0, "e.jpg")
    assert (got.source, got.captured, got.warning) == ("exif:DateTimeOriginal", expected, None)
    assert got.make == "Ca\u00efon"  # bytes are Latin-1, not UTF-8


@pytest.mark.parametrize("fill", [1, 2, 5])
def test_fill_bytes_before_a_marker_are_skipped(fill: int) -> None:
    block = tiff(">", [], [(0x9003, 2, b"2022:02:03 04:05:06\0")])
    got = read_capture(wrap(block, fill=fill), 0.0, "f.jpg")
    assert (got.source, got.captured) == ("exif:DateTimeOriginal", datetime(2022, 2, 3, 4, 5, 6))
