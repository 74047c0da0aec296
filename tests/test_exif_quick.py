"""The quick TIFF reader against exifread: the same answers, or a hand-over to exifread."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import exifread
import pytest

from cardingest.card import capture
from cardingest.card.capture import STOP_TAG, _exif_blocks, _quick_tags, _text, read_capture

KEYS = (
    "Image Make",
    "Image Model",
    "Image DateTime",
    "EXIF DateTimeOriginal",
    "EXIF DateTimeDigitized",
    "EXIF SubSecTimeOriginal",
    "EXIF OffsetTimeOriginal",
)


def exifread_tags(block: bytes) -> dict:
    return exifread.process_file(
        io.BytesIO(block), details=False, extract_thumbnail=False, stop_tag=STOP_TAG
    )


def sample_blocks(samples_dir: Path) -> list[tuple[str, bytes]]:
    blocks = []
    for path in sorted((samples_dir / "real").iterdir()):
        with open(path, "rb") as fh:
            blocks += [(path.name, block) for block in _exif_blocks(fh)]
    return blocks


Entry = tuple[int, int, bytes]


def tiff(order: str, ifd0: list[Entry], exif: list[Entry]) -> bytes:
    """A TIFF block: IFD0 (with a pointer to the EXIF IFD when ``exif``), values after it.

    Entries are (tag, type, value bytes); values of 4 bytes or fewer are stored inline.
    """
    mark = b"II" if order == "<" else b"MM"
    entries0 = sorted(list(ifd0) + ([(0x8769, 4, b"")] if exif else []))
    exif = sorted(exif)
    size0 = 2 + 12 * len(entries0) + 4
    size1 = 2 + 12 * len(exif) + 4
    data = bytearray()
    data_start = 8 + size0 + size1

    def ifd(entries: list[Entry], exif_at: int) -> bytes:
        out = struct.pack(order + "H", len(entries))
        for tag, kind, value in entries:
            if tag == 0x8769:
                out += struct.pack(order + "HHII", tag, kind, 1, exif_at)
            elif len(value) <= 4:
                out += struct.pack(order + "HHI", tag, kind, len(value)) + value.ljust(4, b"\0")
            else:
                out += struct.pack(order + "HHII", tag, kind, len(value), data_start + len(data))
                data.extend(value)
        return out + b"\0\0\0\0"

    first = ifd(entries0, 8 + size0)
    second = ifd(exif, 0) if exif else b""
    return mark + struct.pack(order + "HI", 42, 8) + first + second + bytes(data)


@pytest.mark.parametrize("order", ["<", ">"])
def test_reads_both_byte_orders_and_inline_values(order: str) -> None:
    block = tiff(
        order,
        [(0x010F, 2, b"Ab\0"), (0x0110, 2, b"Model X\0")],
        [(0x9003, 2, b"2021:03:04 05:06:07\0"), (0x9291, 2, b"42\0"), (0x9011, 2, b"+13:00\0")],
    )
    tags = _quick_tags(block)
    assert tags == {
        "Image Make": "Ab",
        "Image Model": "Model X",
        "EXIF DateTimeOriginal": "2021:03:04 05:06:07",
        "EXIF SubSecTimeOriginal": "42",
        "EXIF OffsetTimeOriginal": "+13:00",
    }
    reference = exifread_tags(block)
    assert {key: _text(tags, key) for key in KEYS} == {key: _text(reference, key) for key in KEYS}


@pytest.mark.parametrize(
    "why, block",
    [
        ("a date stored as UNDEFINED", tiff("<", [], [(0x9003, 7, b"2021:03:04 05:06:07\0")])),
        ("a value past the block", tiff("<", [(0x010F, 2, b"Canon\0")], [])[:-3]),
        ("not TIFF", b"XX*\0\x08\0\0\0" + bytes(16)),
        ("an IFD past the block", b"II*\0\xff\0\0\0"),
        ("bytes that are not UTF-8", tiff(">", [(0x0110, 2, b"\xff\xfe model\0")], [])),
        ("a too short block", b"II*\0"),
    ],
)
def test_anything_unusual_goes_to_exifread(why: str, block: bytes) -> None:
    assert _quick_tags(block) is None, why


def test_a_date_only_exifread_can_read_still_counts() -> None:
    """An UNDEFINED-typed DateTimeOriginal: the quick reader hands over, exifread reads it."""
    block = tiff("<", [(0x010F, 2, b"Canon\0")], [(0x9003, 7, b"2021:03:04 05:06:07\0")])
    jpeg = (
        b"\xff\xd8\xff\xe1" + struct.pack(">H", len(block) + 8) + b"Exif\0\0" + block + b"\xff\xd9"
    )
    result = read_capture(io.BytesIO(jpeg), 0.0, "undefined.jpg")
    assert result.source == "exif:DateTimeOriginal"
    assert result.captured.isoformat() == "2021-03-04T05:06:07"


def test_most_real_samples_take_the_quick_path_and_agree(samples_dir: Path) -> None:
    blocks = sample_blocks(samples_dir)
    quick = 0
    for name, block in blocks:
        tags = _quick_tags(block)
        if tags is None:
            continue
        quick += 1
        reference = exifread_tags(block)
        for key in KEYS:
            assert _text(tags, key) == _text(reference, key), (name, key)
    assert quick >= len(blocks) - 2, "the quick path should take nearly every camera's block"


def test_damaged_blocks_it_accepts_read_the_same_as_exifread(samples_dir: Path) -> None:
    """Seeded byte flips in the header and IFDs of real blocks: 3,000 of them."""
    blocks = [(name, block) for name, block in sample_blocks(samples_dir) if _quick_tags(block)]
    rng = random.Random(20261125)
    accepted = 0
    for _ in range(3000):
        name, original = rng.choice(blocks)
        block = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            block[rng.randrange(min(len(block), 600))] = rng.randrange(256)
        tags = _quick_tags(bytes(block))
        if not tags:
            continue
        accepted += 1
        reference = exifread_tags(bytes(block))
        for key in KEYS:
            assert _text(tags, key) == _text(reference, key), (name, key, bytes(block[:64]))
    assert accepted > 1000


def test_camera_names_are_shared_between_photos(samples_dir: Path) -> None:
    data = (samples_dir / "real" / "Canon_40D.jpg").read_bytes()
    first = read_capture(io.BytesIO(data), 0.0, "a.jpg")
    second = read_capture(io.BytesIO(bytes(data)), 0.0, "b.jpg")
    assert first.model is not None and first.model is second.model
    assert capture._interned(None) is None
