"""RAW capture times (CR3, RAF, CRW, MRW; TIFF-based DNG/RW2) against exiftool, and hostile input.

The oracle is ``../shared/samples/raw/expected-exiftool.tsv`` (exiftool's readings of Exiv2's RAW
test files, crafted ones included). Fujifilm RAF, Minolta MRW and Sigma X3F files are built here
from their documented layouts around a JPEG / TIFF block that Pillow writes, and exiftool
confirms it reads the same time from them, so the built files are real ones, not our own echo.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from cardimage import SAMPLES, require, samples_real
from clinic_helpers import exiftool
from PIL import Image

from cardingest.card.capture import Capture, read_capture
from cardingest.card.raw import MAX_READ, READ_BUDGET, read_raw
from cardingest.card.scan import read_file

RAW = SAMPLES / "raw"
MTIME = datetime(2026, 1, 2, 3, 4, 6).timestamp()
SOURCES = ("exif:DateTimeOriginal", "exif:DateTimeDigitized", "exif:DateTime", "mtime")
RAW_SAMPLES = ("Canon-R6-pruned.CR3", "IMG_1361.dng", "exiv2-canon-powershot-s40.crw")
PRUNED = ("IMG_1361.dng",)
"""Samples whose image data was cut out to keep them small, and whose header still points
at it: `exiftool -validate` says "SubIFD:TileOffsets is past end of file", and so the scan
calls them cut short (a card pulled while the photo was written leaves the same)."""


def raw_dir() -> Path:
    require(
        (RAW / "expected-exiftool.tsv").is_file(),
        f"RAW samples not found at {RAW} (set CARDINGEST_SAMPLES)",
    )
    return RAW


def oracle() -> dict[str, dict[str, str]]:
    with open(raw_dir() / "expected-exiftool.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {next(iter(row.values())): row for row in rows}


class CountingFile(io.BytesIO):
    """A file in memory that counts what is read from it and refuses to be read forever."""

    MAX_CALLS = 20_000

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.calls = 0
        self.total = 0
        self.largest = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.calls += 1
        assert self.calls <= self.MAX_CALLS, "the parser keeps reading: a loop"
        data = super().read(size)
        self.total += len(data)
        self.largest = max(self.largest, len(data))
        return data


def capture_of(data: bytes, name: str = "x") -> tuple[Capture, CountingFile]:
    fh = CountingFile(data)
    return read_capture(fh, MTIME, name), fh


def seconds(capture: Capture) -> str:
    return capture.captured.strftime("%Y:%m:%d %H:%M:%S")


# --- the oracle ------------------------------------------------------------------------------


def test_every_raw_sample_matches_exiftool() -> None:
    rows = oracle()
    assert set(RAW_SAMPLES) <= set(rows)
    for name, row in rows.items():
        path = RAW / name
        stat = path.stat()
        record = read_file(path, name, stat.st_size, stat.st_mtime)
        if row["DateTimeOriginal"] == "-":
            assert record.time_source == "mtime", name
            assert record.warning and record.warning.startswith(f"{name}: "), name
            continue
        assert record.captured.strftime("%Y:%m:%d %H:%M:%S") == row["DateTimeOriginal"], name
        assert record.time_source == "exif:DateTimeOriginal", name
        sub, off = row["SubSecTimeOriginal"], row["OffsetTimeOriginal"]
        assert record.subsec == ("" if sub == "-" else sub), name
        assert record.utc_offset == (None if off == "-" else off), name
        if row["Make"] != "-":
            assert record.make == row["Make"], name
            assert record.model == row["Model"], name
        if name in PRUNED:
            assert record.warning and "the file is cut short" in record.warning, name
        elif name in RAW_SAMPLES:
            assert record.warning is None, name


def test_cr3_reads_make_model_and_every_time_tag() -> None:
    with open(raw_dir() / "Canon-R6-pruned.CR3", "rb") as fh:
        found = read_raw(fh)
    assert found is not None and found.format == "CR3" and found.problem is None
    assert found.tags == {
        "Image Make": "Canon",
        "Image Model": "Canon EOS R6",
        "Image DateTime": "2021:05:12 12:21:21",
        "EXIF DateTimeOriginal": "2021:05:12 12:21:21",
        "EXIF DateTimeDigitized": "2021:05:12 12:21:21",
        "EXIF SubSecTime": "92",
        "EXIF SubSecTimeOriginal": "92",
        "EXIF SubSecTimeDigitized": "92",
        "EXIF OffsetTime": "+02:00",
        "EXIF OffsetTimeOriginal": "+02:00",
        "EXIF OffsetTimeDigitized": "+02:00",
    }


def test_crw_make_and_model_as_exiftool_reads_them() -> None:
    with open(raw_dir() / "exiv2-canon-powershot-s40.crw", "rb") as fh:
        found = read_raw(fh)
    assert found is not None and found.format == "CRW" and found.problem is None
    assert found.tags["Image Make"] == "Canon"
    assert found.tags["Image Model"] == "Canon PowerShot S40"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("issue_857_poc.raf", "outside the 5550-byte file"),
        ("issue_1791_new.raf", "not a JPEG"),
        ("issue_1097_poc.crw", "referenced twice"),
        ("issue_843_poc.crw", "outside its heap"),
    ],
)
def test_crafted_files_warn_with_the_reason(name: str, words: str) -> None:
    data = (raw_dir() / name).read_bytes()
    capture, fh = capture_of(data, name)
    assert capture.source == "mtime"
    assert capture.warning is not None
    assert capture.warning.startswith(f"{name}: unreadable {name[-3:].upper()} header (")
    assert words in capture.warning
    assert "using the file's modification time" in capture.warning
    assert fh.total <= len(data)


# --- RAF and MRW built from their documented layouts -----------------------------------------

WHEN = "2024:03:05 10:11:12"


def exif_jpeg(make: str, model: str, *, subsec: str = "45", offset: str = "+13:00") -> bytes:
    """A small real JPEG (Pillow) whose EXIF has IFD0 make/model/date and an EXIF IFD."""
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0132] = "2024:03:05 10:20:00"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = WHEN
    sub[0x9004] = "2024:03:05 10:11:13"
    sub[0x9291] = subsec
    sub[0x9011] = offset
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (180, 110, 90)).save(out, "JPEG", exif=exif, quality=60)
    return out.getvalue()


def tiff_block(make: str, model: str) -> bytes:
    """The TIFF block of ``exif_jpeg``'s APP1 segment (what an MRW's TTW record holds)."""
    data = exif_jpeg(make, model)
    start = data.index(b"Exif\x00\x00") + 6
    (length,) = struct.unpack(">H", data[start - 8 : start - 6])
    return data[start : start - 8 + length]


def build_raf(jpeg: bytes, *, model: bytes = b"X-T4") -> bytes:
    """A RAF: 0x94-byte big-endian header, the JPEG, then a stand-in CFA block.

    Header: "FUJIFILMCCD-RAW " | format "0201" | camera ID (8) | model (32) | RAF version "0100"
    | 20 unknown bytes | JPEG offset, JPEG length | CFA header offset, length | CFA offset,
    length (all u32 big-endian), zero-padded to the JPEG at 0x94.
    """
    jpeg_at = 0x94
    cfa = b"\x00" * 64
    cfa_at = jpeg_at + len(jpeg)
    header = b"FUJIFILMCCD-RAW 0201FF129502" + model.ljust(32, b"\x00") + b"0100"
    header += b"\x00" * 20
    header += struct.pack(">6I", jpeg_at, len(jpeg), cfa_at, 0, cfa_at, len(cfa))
    return header.ljust(jpeg_at, b"\x00") + jpeg + cfa


def build_mrw(tiff: bytes) -> bytes:
    """An MRW: "\\0MRM" + length of the records, then PRD, TTW (the TIFF block), WBG, image data.

    PRD: firmware "21860002", sensor 8x8, image 8x8, 12 bits, 12 bits, 0x59 (unpacked), 4 pad
    bytes, Bayer RGGB; WBG: 4 denominators and 4 u16 gains.
    """
    prd = b"21860002" + struct.pack(">4H3B4xH", 8, 8, 8, 8, 12, 12, 0x59, 1)
    wbg = bytes(4) + struct.pack(">4H", 512, 256, 256, 400)
    records = b"".join(
        kind + struct.pack(">I", len(body)) + body
        for kind, body in ((b"\x00PRD", prd), (b"\x00TTW", tiff), (b"\x00WBG", wbg))
    )
    return b"\x00MRM" + struct.pack(">I", len(records)) + records + bytes(8 * 8 * 2)


def build_x3f(jpeg: bytes) -> bytes:
    """An X3F (version 2.0): header, an IMA2 section holding the JPEG, the directory, pointer.

    Header: "FOVb" | version | unique ID (16) | mark bits | width | height | rotation (u32,
    little-endian). Image section: "SECi" | version 2.0 | type 2 | format 18 (JPEG) | width |
    height | row size, then the JPEG, which starts with its EXIF APP1 segment as a Sigma's
    does. Directory: "SECd" | version | count | (offset, length, kind) per section; the
    file's last 4 bytes give the directory's offset.
    """
    assert jpeg[2:4] == b"\xff\xe0"
    jpeg = jpeg[:2] + jpeg[4 + int.from_bytes(jpeg[4:6], "big") :]  # drop the JFIF APP0
    header = b"FOVb" + struct.pack("<I", 0x00020000) + bytes(16) + struct.pack("<4I", 0, 8, 8, 0)
    image = b"SECi" + struct.pack("<6I", 0x00020000, 2, 18, 8, 8, 0) + jpeg
    directory_at = len(header) + len(image)
    directory = b"SECd" + struct.pack("<II", 0x00020000, 1)
    directory += struct.pack("<II4s", len(header), len(image), b"IMA2")
    return header + image + directory + struct.pack("<I", directory_at)


@pytest.fixture
def raf(tmp_path: Path) -> Path:
    path = tmp_path / "DSCF0001.RAF"
    path.write_bytes(build_raf(exif_jpeg("FUJIFILM", "X-T4")))
    return path


@pytest.fixture
def x3f(tmp_path: Path) -> Path:
    path = tmp_path / "SDIM0001.X3F"
    path.write_bytes(build_x3f(exif_jpeg("SIGMA", "SIGMA DP2 Merrill")))
    return path


@pytest.fixture
def mrw(tmp_path: Path) -> Path:
    path = tmp_path / "PICT0001.MRW"
    path.write_bytes(build_mrw(tiff_block("KONICA MINOLTA", "DYNAX 7D")))
    return path


@pytest.mark.parametrize(
    ("fixture", "make", "model"),
    [
        ("raf", "FUJIFILM", "X-T4"),
        ("mrw", "KONICA MINOLTA", "DYNAX 7D"),
        ("x3f", "SIGMA", "SIGMA DP2 Merrill"),
    ],
)
def test_built_raf_mrw_x3f_read_as_exiftool_reads_them(
    fixture: str, make: str, model: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    stat = path.stat()
    record = read_file(path, path.name, stat.st_size, stat.st_mtime)
    assert (record.time_source, record.warning) == ("exif:DateTimeOriginal", None)
    assert record.captured == datetime(2024, 3, 5, 10, 11, 12)
    assert (record.subsec, record.utc_offset) == ("45", "+13:00")
    assert (record.make, record.model) == (make, model)
    seen = exiftool("-EXIF:all", "-FileType", "-d", "%Y:%m:%d %H:%M:%S", path)[0]
    assert seen["FileType"] == path.suffix[1:]
    assert seen["DateTimeOriginal"] == WHEN
    assert str(seen["SubSecTimeOriginal"]) == record.subsec
    assert seen["OffsetTimeOriginal"] == record.utc_offset
    assert (seen["Make"], seen["Model"]) == (make, model)


def test_raf_only_reads_its_header_blocks(raf: Path) -> None:
    data = raf.read_bytes() + bytes(4 * 1024 * 1024)  # stands in for the raw image data
    capture, fh = capture_of(data)
    assert seconds(capture) == WHEN
    assert fh.total < 4096


# --- HEIF built from ISO/IEC 23008-12 ---------------------------------------------------------


def full_box(kind: bytes, version: int, body: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + body)


def build_heif(
    exif: bytes,
    *,
    brand: bytes = b"heix",
    iloc_version: int = 1,
    in_idat: bool = False,
    split: bool = False,
    wide_ids: bool = False,
    thumbnail_exif: bytes | None = None,
) -> bytes:
    """A HEIF still: ftyp, meta (hdlr, pitm, iinf, iref, iloc, idat?) and mdat.

    Item 1 is the primary image (an ``hvc1`` item whose data is stand-in bytes), item 2 its
    ``Exif`` item: the 4-byte offset to the TIFF header, ``Exif\0\0``, the TIFF block. A
    camera puts it in ``mdat`` and points at it from a base offset (Canon's and Sony's HIF,
    the layout exifread cannot follow); ``in_idat`` keeps it in ``idat`` instead (method 1),
    ``split`` in two extents. ``wide_ids``: version 3 ``infe`` and version 2 ``iloc`` with
    32-bit IDs. ``thumbnail_exif``: another Exif item (3), listed first, that describes a
    thumbnail (item 4), not the primary image.
    """
    id_size = 4 if wide_ids else 2
    payload = struct.pack(">I", 6) + b"Exif\x00\x00" + exif
    items = (
        [(2, payload)]
        if thumbnail_exif is None
        else [(3, struct.pack(">I", 6) + b"Exif\x00\x00" + thumbnail_exif), (2, payload)]
    )
    image = (1, b"\x00" * 32)

    def infe(item: int, kind: bytes) -> bytes:
        version = 3 if wide_ids else 2
        return full_box(
            b"infe", version, item.to_bytes(id_size, "big") + b"\x00\x00" + kind + b"\x00"
        )

    entries = [infe(1, b"hvc1")] + [infe(item, b"Exif") for item, _ in items]
    if thumbnail_exif is not None:
        entries.append(infe(4, b"hvc1"))
    iinf = full_box(b"iinf", 0, struct.pack(">H", len(entries)) + b"".join(entries))
    refs = [(2, 1)] + ([(3, 4)] if thumbnail_exif is not None else [])
    iref = full_box(
        b"iref",
        1 if wide_ids else 0,
        b"".join(
            box(b"cdsc", a.to_bytes(id_size, "big") + b"\x00\x01" + b.to_bytes(id_size, "big"))
            for a, b in refs
        ),
    )
    pitm = full_box(b"pitm", 1 if wide_ids else 0, (1).to_bytes(id_size, "big"))
    hdlr = full_box(b"hdlr", 0, bytes(4) + b"pict" + bytes(12) + b"\x00")
    stored = [image] + items + ([(4, b"\x00" * 16)] if thumbnail_exif is not None else [])
    version = 2 if wide_ids else iloc_version

    def iloc(data_at: int) -> bytes:
        """Every item's extents; item data lie one after another from ``data_at``."""
        body = bytes([0x44, 0x40 if version else 0x00])  # offset, length, base: 4 bytes
        body += len(stored).to_bytes(2 if version < 2 else 4, "big")
        position = 0
        for item, data in stored:
            body += item.to_bytes(2 if version < 2 else 4, "big")
            method = 1 if in_idat and item == 2 else 0
            if version:
                body += struct.pack(">H", method)
            body += b"\x00\x00"  # data reference index
            base = 0 if method else data_at
            if version:
                body += struct.pack(">I", base)
            at = position if version else data_at + position
            if method:
                at = 0
            parts = [(at, len(data))]
            if split and item == 2:
                half = len(data) // 2
                parts = [(at, half), (at + half, len(data) - half)]
            body += struct.pack(">H", len(parts))
            for offset, length in parts:
                body += struct.pack(">II", offset, length)
            if not method:
                position += len(data)
        return full_box(b"iloc", version, body)

    idat = box(b"idat", payload) if in_idat else b""
    ftyp = box(b"ftyp", brand + bytes(4) + b"mif1" + brand)
    mdat_data = b"".join(data for item, data in stored if not (in_idat and item == 2))

    def meta(data_at: int) -> bytes:
        return full_box(b"meta", 0, hdlr + pitm + iinf + iref + iloc(data_at) + idat)

    head = ftyp + meta(0)
    data_at = len(head) + 8  # the meta box's size does not depend on the offsets
    return ftyp + meta(data_at) + box(b"mdat", mdat_data)


HEIF_LAYOUTS = {
    "heix, base offset (Canon, Sony)": {},
    "heic, iloc version 0": {"brand": b"heic", "iloc_version": 0},
    "mif1, in idat": {"brand": b"mif1", "in_idat": True},
    "two extents": {"split": True},
    "32-bit item IDs": {"wide_ids": True},
}


@pytest.mark.parametrize("layout", sorted(HEIF_LAYOUTS))
def test_built_heif_reads_as_exiftool_reads_it(layout: str, tmp_path: Path) -> None:
    """A HEIF's Exif item, wherever its layout puts it, gives the time exiftool reads;
    exifread reads none of the base-offset or heix files (the cameras' own)."""
    path = tmp_path / "IMG_0001.HIF"
    path.write_bytes(build_heif(tiff_block("SONY", "ILCE-7M4"), **HEIF_LAYOUTS[layout]))
    stat = path.stat()
    record = read_file(path, path.name, stat.st_size, stat.st_mtime)
    assert (record.time_source, record.warning) == ("exif:DateTimeOriginal", None)
    assert record.captured == datetime(2024, 3, 5, 10, 11, 12)
    assert (record.subsec, record.utc_offset, record.model) == ("45", "+13:00", "ILCE-7M4")
    seen = exiftool("-EXIF:all", "-Warning", "-d", "%Y:%m:%d %H:%M:%S", path)[0]
    if HEIF_LAYOUTS[layout].get("in_idat"):  # the standard allows it; exiftool 12 reads none
        assert "construction method 1" in seen["Warning"]
        return
    assert seen["DateTimeOriginal"] == WHEN and seen["Model"] == "ILCE-7M4"


def test_a_heif_exif_item_of_a_thumbnail_does_not_name_the_photo() -> None:
    """Two Exif items: the one whose ``cdsc`` reference points at the primary image counts,
    though the thumbnail's comes first."""
    other = tiff_block("SONY", "ILCE-7M4").replace(WHEN.encode(), b"2001:01:01 01:01:01")
    capture, fh = capture_of(build_heif(tiff_block("SONY", "ILCE-7M4"), thumbnail_exif=other))
    assert seconds(capture) == WHEN and capture.warning is None
    assert fh.largest <= MAX_READ


def test_a_date_time_original_in_ifd0_is_the_capture_time(tmp_path: Path) -> None:
    """A few cameras and editors (a Casio QV-R51's TIFF saved by paint.net) put
    DateTimeOriginal in IFD0; exiftool reads it as the DateTimeOriginal, not DateTime."""
    exif = Image.Exif()
    exif[0x0110] = "QV-R51"
    exif[0x0132] = "2024:03:05 18:00:00"
    exif[0x9003] = WHEN
    for kind in ("JPEG", "TIFF"):
        path = tmp_path / f"CIMG0001.{kind.lower()}"
        Image.new("RGB", (16, 16), (180, 110, 90)).save(path, kind, exif=exif)
        stat = path.stat()
        record = read_file(path, path.name, stat.st_size, stat.st_mtime)
        assert (record.time_source, record.warning) == ("exif:DateTimeOriginal", None)
        assert record.captured == datetime(2024, 3, 5, 10, 11, 12)
        assert exiftool("-EXIF:DateTimeOriginal", path)[0]["DateTimeOriginal"] == WHEN


def test_a_video_is_not_taken_for_a_heif() -> None:
    mp4 = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"mdat", bytes(64))
    assert read_raw(CountingFile(mp4)) is None


# --- hostile containers made here ------------------------------------------------------------


def box(kind: bytes, body: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I", 8 + len(body) if size is None else size) + kind + body


def cr3_with(canon_uuid_body: bytes, *, moov_size: int | None = None) -> bytes:
    uuid = box(b"uuid", bytes.fromhex("85c0b687820f11e08111f4ce462b6a48") + canon_uuid_body)
    return box(b"ftyp", b"crx \x00\x00\x00\x01crx isom") + box(b"moov", uuid, moov_size)


def ciff(entries: list[tuple[int, int, int]], values: bytes = b"", order: str = "<") -> bytes:
    """A CRW whose root heap holds ``values`` then a table of (tag, size, offset) entries
    (little-endian unless ``order`` says ``>``)."""
    table = struct.pack(order + "H", len(entries)) + b"".join(
        struct.pack(order + "HII", *entry) for entry in entries
    )
    heap = values + table + struct.pack(order + "I", len(values))
    mark = b"II" if order == "<" else b"MM"
    return mark + struct.pack(order + "I", 26) + b"HEAPCCDR" + bytes(12) + heap


def x3f_raw_only() -> bytes:
    """An X3F whose only image section is raw data (type 3), as an SD9 or SD10 writes."""
    header = b"FOVb" + struct.pack("<I", 0x00020000) + bytes(32)
    image = b"SECi" + struct.pack("<6I", 0x00020000, 3, 6, 2, 2, 4) + bytes(16)
    directory = b"SECd" + struct.pack("<II", 0x00020000, 1)
    directory += struct.pack("<II4s", len(header), len(image), b"IMA2")
    return header + image + directory + struct.pack("<I", len(header) + len(image))


def x3f_directory(count: int, entries: bytes) -> bytes:
    """Just an X3F header, a directory claiming ``count`` sections, and the pointer to it."""
    directory = b"SECd" + struct.pack("<II", 0x00020000, count) + entries
    return b"FOVb" + bytes(4) + directory + struct.pack("<I", 8)


HOSTILE = {
    "cr3 moov past the end": cr3_with(b"", moov_size=0x7FFFFFFF),
    "cr3 64-bit box size": cr3_with(struct.pack(">I4sQ", 1, b"CMT2", 2**63)),
    "cr3 CMT2 of 1 GiB": cr3_with(struct.pack(">I4s", 2**30, b"CMT2")),
    "cr3 box smaller than its header": cr3_with(struct.pack(">I4s", 4, b"CMT1")),
    "cr3 IFD with 65535 entries": cr3_with(box(b"CMT2", b"II*\x00\x08\x00\x00\x00\xff\xff")),
    "cr3 IFD pointing past the block": cr3_with(box(b"CMT1", b"MM\x00*\xff\xff\xff\xf0")),
    "raf JPEG pointing at itself": b"FUJIFILM".ljust(84, b"\x00") + struct.pack(">II", 0, 200),
    "raf APP1 longer than the JPEG": build_raf(b"\xff\xd8\xff\xe1\xff\xf0Exif\x00\x00II*\x00"),
    "raf JPEG without EXIF": build_raf(b"\xff\xd8\xff\xdb\x00\x04\x00\x00\xff\xd9"),
    "crw sub-heap is its own parent": ciff([(0x300A, 32, 0)], bytes(16)),
    "crw empty sub-heap": ciff([(0x300A, 0, 0)], bytes(16)),
    "crw two entries, one sub-heap": ciff([(0x300A, 10, 0), (0x300B, 10, 0)], bytes(16)),
    "crw table past the heap": ciff([])[:-4] + struct.pack("<I", 0xFFFFFFF0),
    "crw table of 65535 entries": ciff([])[:-6] + b"\xff\xff" + struct.pack("<I", 0),
    "crw value past the heap": ciff([(0x180E | 0x1000, 4, 0x7FFFFFF0)]),
    "mrw record past the header": b"\x00MRM" + struct.pack(">I", 8) + b"\x00TTW\xff\xff\xff\xff",
    "mrw header past the file": b"\x00MRM" + struct.pack(">I", 2**31),
    "x3f directory pointer past the end": b"FOVb" + bytes(36) + b"\xff\xff\xff\x7f",
    "x3f directory of 2**32-1 sections": x3f_directory(0xFFFFFFFF, b""),
    "x3f section past the end": x3f_directory(1, struct.pack("<II4s", 0, 2**31, b"IMA2")),
    "x3f without a JPEG (SD9)": x3f_raw_only(),
    "mrw TTW not a TIFF": b"\x00MRM" + struct.pack(">I", 12) + b"\x00TTW\x00\x00\x00\x04XXXX",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_containers_fall_back_with_a_warning(name: str) -> None:
    data = HOSTILE[name]
    capture, fh = capture_of(data, "IMG_0001.RAW")
    assert capture.source == "mtime"
    assert capture.captured == datetime.fromtimestamp(MTIME)
    assert capture.warning is not None and capture.warning.startswith("IMG_0001.RAW: ")
    assert fh.largest <= len(data)
    assert_bounded_raw_read(data)


def test_crw_time_found_before_damage_is_kept_with_a_warning() -> None:
    # Seconds since 1970 in camera local time, as a CRW stores them (UTC arithmetic, no zone).
    stamp = int((datetime(2005, 4, 23, 17, 54, 36) - datetime(1970, 1, 1)).total_seconds())
    entries = [(0x180E | 0x4000, stamp, 0), (0x300A, 10, 0x7FFF)]
    capture, _ = capture_of(ciff(entries, bytes(8)), "IMG_0001.CRW")
    assert seconds(capture) == "2005:04:23 17:54:36"
    assert capture.source == "exif:DateTimeOriginal"
    assert capture.warning is not None and "unreadable CRW header" in capture.warning


# --- truncation and byte flips over every RAW we have ----------------------------------------


def fuzz_inputs() -> dict[str, bytes]:
    files = {name: (raw_dir() / name).read_bytes() for name in RAW_SAMPLES}
    files["built.raf"] = build_raf(exif_jpeg("FUJIFILM", "X-T4"))
    files["built.mrw"] = build_mrw(tiff_block("KONICA MINOLTA", "DYNAX 7D"))
    files["built.x3f"] = build_x3f(exif_jpeg("SIGMA", "SIGMA DP2 Merrill"))
    files["built.hif"] = build_heif(tiff_block("CANON", "EOS R5"))
    files["built-idat.heic"] = build_heif(tiff_block("Apple", "iPhone"), in_idat=True)
    return files


def assert_bounded_raw_read(data: bytes) -> None:
    """The RAW parsers read at most their budget, in reads no larger than MAX_READ."""
    fh = CountingFile(data)
    read_raw(fh)
    assert fh.total <= READ_BUDGET + 16 and fh.largest <= MAX_READ


def prefix_lengths(size: int) -> list[int]:
    """Every length up to 256, every 127th to 48 KiB (where headers live), then 64 more."""
    lengths = set(range(min(size, 256) + 1))
    lengths.update(range(256, min(size, 48 * 1024), 127))
    lengths.update(range(0, size, max(1, size // 64)))
    return sorted(lengths)


def test_every_prefix_of_every_raw_is_safe() -> None:
    for name, data in fuzz_inputs().items():
        whole, _ = capture_of(data, name)
        assert whole.source == "exif:DateTimeOriginal", name
        for length in prefix_lengths(len(data)):
            capture, _ = capture_of(data[:length], name)
            if capture.source == whole.source:
                # A cut file may still hold the whole header: then it is the same time.
                assert capture.captured == whole.captured, (name, length)
            elif capture.source == "mtime" or not name.endswith(".dng"):
                # Otherwise a source gave out, and the warning says so (exifread, which reads
                # the TIFF-based DNG, passes a cut IFD over in silence: the order still holds).
                assert capture.warning, (name, length)
            else:
                assert SOURCES.index(capture.source) > SOURCES.index(whole.source), name
            assert_bounded_raw_read(data[:length])


def test_random_byte_flips_never_raise() -> None:
    rng = random.Random(18)
    for name, data in fuzz_inputs().items():
        header = min(len(data), 40 * 1024)
        for _ in range(150):
            mutant = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                mutant[rng.randrange(header)] = rng.randrange(256)
            capture, _ = capture_of(bytes(mutant), name)
            assert capture.source != "mtime" or capture.warning, name
            assert_bounded_raw_read(bytes(mutant))


# --- end to end: the real CLI over a folder of RAW files -------------------------------------


def preview_json(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``cardingest preview FOLDER --id JBX3656 --json`` run as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDINGEST")}
    env["HOME"] = str(tmp_path / "home")
    env.pop("XDG_CONFIG_HOME", None)
    args = ["preview", str(folder), "--id", "JBX3656", "--archive", str(tmp_path / "a"), "--json"]
    return subprocess.run(
        [sys.executable, "-m", "cardingest.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_preview_json_over_raw_files_matches_exiftool(tmp_path: Path) -> None:
    rows = oracle()
    folder = tmp_path / "card"
    folder.mkdir()
    for name in rows:
        shutil.copyfile(RAW / name, folder / name)
    (folder / "DSCF0001.RAF").write_bytes(build_raf(exif_jpeg("FUJIFILM", "X-T4")))
    (folder / "PICT0001.MRW").write_bytes(build_mrw(tiff_block("KONICA MINOLTA", "DYNAX 7D")))
    (folder / "SDIM0001.X3F").write_bytes(build_x3f(exif_jpeg("SIGMA", "SIGMA DP2 Merrill")))
    done = preview_json(folder, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    items = {item["source"]: item for item in json.loads(done.stdout)["items"]}
    expected = {name: row["DateTimeOriginal"] for name, row in rows.items()}
    expected |= {"DSCF0001.RAF": WHEN, "PICT0001.MRW": WHEN, "SDIM0001.X3F": WHEN}
    assert set(items) == set(expected)
    for name, when in expected.items():
        item = items[name]
        if when == "-":
            assert item["time_source"] == "mtime", name
            assert name in done.stderr, name  # the warning names the file
            continue
        captured = datetime.fromisoformat(item["captured_at"])
        assert captured.strftime("%Y:%m:%d %H:%M:%S") == when, name
        assert item["time_source"] == "exif:DateTimeOriginal", name
        assert item["target"].startswith(f"JBX3656/JBX3656-{captured:%Y%m%d-%H%M%S}"), name


def test_raw_and_jpeg_pair_keeps_one_name(tmp_path: Path) -> None:
    folder = tmp_path / "card"
    folder.mkdir()
    shutil.copyfile(raw_dir() / "Canon-R6-pruned.CR3", folder / "IMG_0001.CR3")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R6"
    exif.get_ifd(0x8769)[0x9003] = "2021:05:12 12:21:21"
    Image.new("RGB", (8, 8)).save(folder / "IMG_0001.JPG", "JPEG", exif=exif)
    done = preview_json(folder, tmp_path)
    assert done.returncode == 0, done.stderr
    targets = sorted(item["target"] for item in json.loads(done.stdout)["items"])
    assert targets == [
        "JBX3656/JBX3656-20210512-122121.cr3",
        "JBX3656/JBX3656-20210512-122121.jpg",
    ]


def test_control_characters_never_reach_make_or_model() -> None:
    capture, _ = capture_of(build_raf(exif_jpeg("FUJI\x1b[2JFILM", "X-T4\r\x07")))
    assert (capture.make, capture.model) == ("FUJI[2JFILM", "X-T4")
    assert seconds(capture) == WHEN


def test_ifd0_time_is_kept_when_the_exif_ifd_is_damaged() -> None:
    date = b"2004:07:01 09:30:00\x00"
    tiff = b"II*\x00" + struct.pack("<IH", 8, 2)
    tiff += struct.pack("<HHII", 0x0132, 2, len(date), 38)
    tiff += struct.pack("<HHII", 0x8769, 4, 1, 0xFFFF)  # the EXIF IFD is outside the block
    tiff += struct.pack("<I", 0) + date
    capture, _ = capture_of(build_mrw(tiff), "PICT0001.MRW")
    assert (seconds(capture), capture.source) == ("2004:07:01 09:30:00", "exif:DateTime")
    assert capture.warning is not None
    assert "unreadable MRW header (MRW TTW: IFD at 65535 is outside the block)" in capture.warning


def test_a_box_name_cannot_put_escapes_into_a_warning() -> None:
    data = cr3_with(struct.pack(">I4s", 2**30, b"\x1b[2J"))
    capture, _ = capture_of(data, "IMG_0001.CR3")
    assert capture.warning is not None and "\x1b" not in capture.warning
    assert "box '?[2J' at byte 56" in capture.warning


@pytest.mark.parametrize("name", ["IMG_1361.dng", "issue_839_poc.rw2"])
def test_tiff_based_raw_stays_with_exifread(name: str) -> None:
    with open(raw_dir() / name, "rb") as fh:
        assert read_raw(fh) is None


def test_a_panasonic_rw2_takes_its_time_from_its_embedded_jpeg_as_exiftool_does(
    tmp_path: Path,
) -> None:
    """A Panasonic RW2 (``IIU``) keeps its full EXIF in the JPEG of IFD0's entry 0x2E
    (JpgFromRaw), which exiftool reads: its DateTimeOriginal, not IFD0's DateTime (when the
    file was saved), nor the file time."""
    import struct

    from clinic_helpers import exiftool, require_exiftool
    from exif_bytes import DATETIME, MAKE, UNDEFINED, build, exif_jpeg, text

    from cardingest.card.capture import read_capture

    embedded = exif_jpeg("2020:01:01 10:00:00")
    block = bytearray(
        build(
            "<",
            [
                text(MAKE, b"Panasonic\0"),
                text(DATETIME, b"2009:09:09 09:09:09\0"),
                (0x2E, UNDEFINED, len(embedded), embedded),
            ],
        )
    )
    block[2:4] = struct.pack("<H", 0x55)  # RW2's own TIFF magic
    path = tmp_path / "P1000001.RW2"
    path.write_bytes(bytes(block))
    require_exiftool()
    [seen] = exiftool("-d", "%Y-%m-%d %H:%M:%S", "-DateTimeOriginal", path)
    with open(path, "rb") as fh:
        capture = read_capture(fh, 0.0, path.name)
    assert f"{capture.captured:%Y-%m-%d %H:%M:%S}" == seen["DateTimeOriginal"]
    assert (capture.source, capture.make, capture.warning) == (
        "exif:DateTimeOriginal",
        "Panasonic",
        None,
    )


@pytest.mark.parametrize("name", ["Canon-R6-pruned.CR3", "IMG_1361.dng"])
def test_a_raw_cut_short_is_said_as_a_jpeg_cut_short_is(tmp_path: Path, name: str) -> None:
    """A trial: a CR3 and a DNG cut short (a card pulled while they were written) were
    archived without a word, and wiped from the card, while the patient could have been
    photographed again. The header's sizes say the file ends early; its time still reads."""
    data = (raw_dir() / name).read_bytes()
    whole = read_file(raw_dir() / name, name, len(data), 0.0)
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) * 2 // 5])
    record = read_file(cut, name, cut.stat().st_size, 0.0)
    assert record.warning and "the file is cut short (its " in record.warning, record
    assert "check the photo" in record.warning
    assert (record.captured, record.time_source) == (whole.captured, whole.time_source)


def test_a_tiff_is_cut_short_only_when_its_strips_go_past_its_end(tmp_path: Path) -> None:
    """Whole, a TIFF (what most RAW files are inside) is not called cut short; cut, it is."""
    from PIL import Image

    whole = tmp_path / "IMG_0001.TIF"
    Image.new("RGB", (300, 200), (120, 80, 60)).save(whole, format="TIFF")
    data = whole.read_bytes()
    record = read_file(whole, whole.name, len(data), 0.0)
    assert "cut short" not in str(record.warning), record
    cut = tmp_path / "IMG_0002.TIF"
    cut.write_bytes(data[: len(data) - 1000])
    record = read_file(cut, cut.name, len(data) - 1000, 0.0)
    assert "cut short (its image data goes past its end" in str(record.warning), record


def test_bytes_after_the_last_box_or_a_bad_later_pointer_are_not_cut_short(
    tmp_path: Path,
) -> None:
    """A review: a HEIF with padding or a phone's trailer after its last box, and a TIFF
    whose next-directory pointer is bad (as some cameras write), were called cut short: a
    warning about good photos teaches people to ignore it."""
    from PIL import Image

    from cardingest.card.truncated import raw_cut_short

    sample = samples_real() / "IMG_5195.HEIC"
    require(sample.is_file(), f"HEIF sample not found at {sample} (set CARDINGEST_SAMPLES)")
    heif = sample.read_bytes()
    for trailer in (b"\xff" * 4096, b"\x00\x00\x01\x0a" + b"SEFH" + bytes(300) + b"SEFT"):
        assert raw_cut_short(io.BytesIO(heif + trailer)) is None, trailer[:8]
    assert raw_cut_short(io.BytesIO(heif[: len(heif) // 2])) == "'mdat' box"
    whole = tmp_path / "IMG_0001.TIF"
    Image.new("RGB", (300, 200), (120, 80, 60)).save(whole, format="TIFF")
    data = bytearray(whole.read_bytes())
    first = int.from_bytes(data[4:8], "little")
    count = int.from_bytes(data[first : first + 2], "little")
    next_at = first + 2 + 12 * count
    data[next_at : next_at + 4] = (0xDEADBEEF).to_bytes(4, "little")
    assert raw_cut_short(io.BytesIO(bytes(data))) is None
    assert raw_cut_short(io.BytesIO(bytes(data[:-1000]))) == "image data"
