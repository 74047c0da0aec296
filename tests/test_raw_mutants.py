"""The RAW and HEIF parsers (``card/raw.py``) at the edges their mutants found untested.

Each container is built here, byte by byte, from its documented layout (the builders of
``test_raw_capture.py`` where they fit), and where exiftool is installed it reads the same
bytes first: the expected time is exiftool's, not a copy of our code's. See the "mutation
round on the RAW parsers" in docs/testing.md.
"""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import pytest
from clinic_helpers import exiftool, require_exiftool
from exif_bytes import DATETIME, DTO, EOI, MAKE, POINTER, SOI, app1, build, text
from test_raw_capture import build_mrw

from cardingest.card.capture import read_capture

MTIME = datetime(2026, 1, 2, 3, 4, 6).timestamp()


def ours(path: Path):  # noqa: ANN201 (a Capture)
    with open(path, "rb") as fh:
        return read_capture(fh, MTIME, path.name)


def exiftool_times(path: Path) -> dict[str, str]:
    """Every time tag exiftool reads from ``path``, by ``Group1:Name``."""
    require_exiftool()
    [seen] = exiftool("-a", "-G1", "-time:all", "-Make", "-Model", "-Warning", path)
    return {k: str(v) for k, v in seen.items() if not k.startswith(("System:", "File:"))}


# --- CRW (CIFF) -------------------------------------------------------------------------------


def ciff(entries: list[tuple[int, int, int]], values: bytes = b"", order: str = "<") -> bytes:
    """A CRW whose root heap holds ``values`` then a table of (tag, size, offset) entries."""
    table = struct.pack(order + "H", len(entries)) + b"".join(
        struct.pack(order + "HII", *entry) for entry in entries
    )
    heap = values + table + struct.pack(order + "I", len(values))
    mark = b"II" if order == "<" else b"MM"
    return mark + struct.pack(order + "I", 26) + b"HEAPCCDR" + bytes(12) + heap


CANON_S40 = b"Canon\0Canon PowerShot S40\0"


def test_a_crw_time_stamp_of_zero_is_no_time(tmp_path: Path) -> None:
    """A CRW whose TimeStamp is 0 (a clock never set): exiftool reads its DateTimeOriginal as
    the zero date, no time; it was named 1970-01-01 00:00:00, without a word."""
    path = tmp_path / "CRW_0001.CRW"
    path.write_bytes(ciff([(0x180E | 0x4000, 0, 0), (0x080A, len(CANON_S40), 0)], CANON_S40))
    seen = exiftool_times(path)
    assert seen["CanonRaw:DateTimeOriginal"] == "0000:00:00 00:00:00"
    capture = ours(path)
    assert (capture.source, capture.make) == ("mtime", "Canon")
    assert capture.captured == datetime.fromtimestamp(MTIME)
    assert capture.warning is not None and "'0000:00:00 00:00:00' is not a date" in capture.warning


# --- TIFF blocks inside RAW containers (an MRW's TTW record carries them here) ---------------

A_TIME, B_TIME = b"2021:01:01 01:01:01\0", b"2022:02:02 02:02:02\0"


def mrw_file(tmp_path: Path, block: bytes, name: str = "PICT0001.MRW") -> Path:
    path = tmp_path / name
    path.write_bytes(build_mrw(block))
    return path


def exiftool_original(path: Path) -> str | None:
    """exiftool's DateTimeOriginal as it shows it without ``-a`` (the one that wins)."""
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", path)
    return seen.get("DateTimeOriginal")


def test_a_tag_held_twice_in_one_ifd_reads_as_its_later_entry(tmp_path: Path) -> None:
    """Two DateTimeOriginal entries in one EXIF IFD: exiftool shows the later, and so did the
    JPEG reader for the same block; the RAW reader took the first, another time."""
    block = build("<", [text(MAKE, b"Minolta\0")], [text(DTO, A_TIME), text(DTO, B_TIME)])
    path = mrw_file(tmp_path, block)
    assert exiftool_original(path) == "2022:02:02 02:02:02"
    capture = ours(path)
    assert (f"{capture.captured:%Y:%m:%d %H:%M:%S}", capture.warning) == (
        "2022:02:02 02:02:02",
        None,
    )
    jpeg = tmp_path / "same.jpg"
    jpeg.write_bytes(SOI + app1(block) + EOI)
    assert ours(jpeg).captured == capture.captured


@pytest.mark.parametrize(("order", "kind"), [("<", 3), (">", 3), ("<", 1), (">", 1), (">", 9)])
def test_an_exif_pointer_of_any_integer_type_is_followed(
    tmp_path: Path, order: str, kind: int
) -> None:
    """An EXIF pointer stored as a SHORT, a BYTE or an SLONG rather than a LONG: exiftool
    follows it (and exifread did for a JPEG); the RAW reader passed it over and named the
    photo by IFD0's DateTime, when it was saved, with a warning."""
    block = bytearray(
        build(order, [text(MAKE, b"Minolta\0"), text(DATETIME, B_TIME)], [text(DTO, A_TIME)])
    )
    entry = block.index(struct.pack(order + "H", POINTER))
    target = struct.unpack_from(order + "I", block, entry + 8)[0]
    code = {1: "B", 3: "H", 9: "i"}[kind]
    struct.pack_into(order + "HI", block, entry + 2, kind, 1)
    block[entry + 8 : entry + 12] = struct.pack(order + code, target).ljust(4, b"\0")
    path = mrw_file(tmp_path, bytes(block))
    assert exiftool_original(path) == "2021:01:01 01:01:01"
    capture = ours(path)
    assert (capture.source, capture.warning) == ("exif:DateTimeOriginal", None)
    assert f"{capture.captured:%Y:%m:%d %H:%M:%S}" == "2021:01:01 01:01:01"
