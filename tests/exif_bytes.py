"""EXIF bytes built by hand for tests: TIFF blocks entry by entry, JPEG segments, and a small
JPEG whose only content is its capture time. Each layout is exactly the one written, so a test
can put a value at the edge a reader's bounds check guards (tests/test_capture_mutants.py) or a
capture time past the first bytes the scan reads (tests/test_scan_opens.py).
"""

from __future__ import annotations

import struct
from pathlib import Path

MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
DTO, DTD, POINTER = 0x9003, 0x9004, 0x8769
ASCII, BYTE, SHORT, LONG, UNDEFINED = 2, 1, 3, 4, 7

# (tag, type, count, value bytes); values of 4 bytes or fewer sit in the entry itself.
Entry = tuple[int, int, int, bytes]


def text(tag: int, value: bytes, kind: int = ASCII) -> Entry:
    return (tag, kind, len(value), value)


def build(order: str, ifd0: list[Entry], exif: list[Entry] | None = None) -> bytes:
    """A TIFF block: header, IFD0 (entries in the order given), the EXIF IFD when ``exif`` is
    given (IFD0 gets a pointer to it, as its last entry), then the values too long to inline."""
    mark = b"II" if order == "<" else b"MM"
    first = list(ifd0) + ([(POINTER, LONG, 1, b"")] if exif is not None else [])
    size0 = 2 + 12 * len(first) + 4
    size1 = 2 + 12 * len(exif) + 4 if exif is not None else 0
    data = bytearray()
    data_at = 8 + size0 + size1

    def ifd(entries: list[Entry]) -> bytes:
        out = struct.pack(order + "H", len(entries))
        for tag, kind, count, value in entries:
            if tag == POINTER:
                out += struct.pack(order + "HHII", tag, kind, count, 8 + size0)
            elif len(value) <= 4:
                out += struct.pack(order + "HHI", tag, kind, count) + value.ljust(4, b"\0")
            else:
                out += struct.pack(order + "HHII", tag, kind, count, data_at + len(data))
                data.extend(value)
        return out + b"\0\0\0\0"

    head = mark + struct.pack(order + "HI", 42, 8)
    return head + ifd(first) + (ifd(exif) if exif is not None else b"") + bytes(data)


def segment(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def app1(block: bytes, magic: bytes = b"Exif\0\0") -> bytes:
    return segment(0xE1, magic + block)


SOI, EOI = b"\xff\xd8", b"\xff\xd9"


def exif_jpeg(when: str, *, padding: int = 0) -> bytes:
    """A JPEG whose APP1 Exif block holds DateTimeOriginal (``YYYY:MM:DD HH:MM:SS``) in its
    EXIF IFD, after at least ``padding`` bytes of APP2 segments."""
    filler = b""
    while len(filler) < padding:
        filler += segment(0xE2, bytes(min(65533, padding - len(filler))))
    block = build("<", [], [text(DTO, when.encode() + b"\0")])
    return SOI + filler + app1(block) + EOI


def timed_card(root: Path, count: int = 3) -> Path:
    """A plain folder card at ``root``: ``count`` of these JPEGs, ``DCIM/100CANON/IMG_0001.JPG``
    on, taken a second apart from 2024-05-01 10:00:01; returns their folder."""
    folder = root / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for n in range(1, count + 1):
        (folder / f"IMG_{n:04d}.JPG").write_bytes(exif_jpeg(f"2024:05:01 10:00:{n:02d}"))
    return folder
