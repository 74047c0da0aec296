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

from clinic_helpers import exiftool, require_exiftool

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
