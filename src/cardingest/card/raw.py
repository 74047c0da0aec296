"""Capture-time tags from containers that are not TIFF files: CR3, RAF, CRW, MRW, X3F, HEIF.

TIFF-based RAW files (CR2, NEF, DNG, RW2, IIQ, ARW, ...) are read by exifread in ``capture``;
the formats here wrap their EXIF in something exifread does not walk:

- **CR3** (Canon, ISO base media file): the ``moov`` box holds Canon's ``uuid`` box, whose
  ``CMT1`` box is a TIFF block with IFD0 and ``CMT2`` a TIFF block whose first IFD is the EXIF
  IFD.
- **RAF** (Fujifilm): the big-endian header gives, at byte 84, the offset and length of an
  embedded JPEG; its ``Exif`` APP1 segment is an ordinary TIFF block.
- **CRW** (Canon CIFF): heaps of 10-byte entries; the table offset is the last 4 bytes of each
  heap. Tag 0x180E (TimeStamp) holds the capture time as seconds since 1970 in camera local
  time (what exiftool calls ``CanonRaw:DateTimeOriginal``), tag 0x080A make and model.
- **MRW** (Minolta): ``\\0MRM`` and a list of records; the ``\\0TTW`` record is a TIFF block.
- **HEIF** (HEIC of phones, HIF of Canon and Sony cameras; any ``ftyp`` with a HEIF brand): the
  ``meta`` box lists items (``iinf``) and where each lies (``iloc``: extents in the file from a
  base offset, or in ``idat``); the ``Exif`` item describing the primary image (``iref``
  ``cdsc`` to ``pitm``) starts with the offset of its TIFF block.
- **X3F** (Sigma): the last 4 bytes point to a ``SECd`` directory of sections; the ``IMA2``
  section that holds a JPEG starting with its ``Exif`` APP1 segment carries the EXIF (every
  model but the SD9 and SD10). exiftool reads no other (an ``IMAG`` section is a preview).
  The ``PROP`` section's ``TIME`` is not used: without a real file to check it against, a
  file without the JPEG falls back with a warning rather than risk a wrong time.

Every parser is pure byte parsing over ``_Reader``, which refuses any read that is negative,
past the end of the file, larger than ``MAX_READ`` or beyond a total budget, so a crafted file
can neither make us allocate much nor read much. Every loop has a fixed bound, every offset is
checked, and nothing (heap, IFD, box) is followed twice. Only header blocks are read, never
image data. ``read_raw`` never raises for a bad file: it returns what it found and a problem.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .kinds import TIFF_STARTS

MAX_READ = 512 * 1024
"""The largest single block read (a CR3 ``CMT`` box, a JPEG APP1 segment, an MRW record)."""
READ_BUDGET = 2 * 1024 * 1024
"""All bytes one file may make us read, whatever it claims."""
MAX_BOXES = 64
"""Boxes, records or JPEG segments looked at in one container level."""
MAX_IFD_ENTRIES = 1024
MAX_HEAP_DEPTH = 8
MAX_HEAP_ENTRIES = 4096
"""CIFF entries looked at in one file, over all heaps."""


_APP1_EXIF = re.compile(rb"(.{0,4})exif\x00", re.IGNORECASE | re.DOTALL)


def app1_exif(payload: bytes) -> bytes | None:
    """The TIFF block of a JPEG APP1 segment, or None if it holds no EXIF.

    As exiftool finds one: ``Exif\\0\\0``, also ``EXIF`` or ``exif`` and up to four bytes
    before it ("Incorrect EXIF segment identifier", "Unknown garbage at start of EXIF
    segment"); a single NUL after it (some Kodak cameras) is read as well."""
    found = _APP1_EXIF.match(payload)
    if found is None:
        return None
    start = found.end()
    return payload[start + 1 :] if payload[start : start + 1] == b"\x00" else payload[start:]


IFD0_TAGS = {
    0x010F: "Image Make",
    0x0110: "Image Model",
    0x0132: "Image DateTime",
    0x9003: "Image DateTimeOriginal",  # a few cameras and editors put it in IFD0
    0x9004: "Image DateTimeDigitized",  # likewise (exiftool's IFD0:CreateDate)
}
"""The tags read here and by `capture`'s quick JPEG reader, by their exifread names."""
EXIF_TAGS = {
    0x9003: "EXIF DateTimeOriginal",
    0x9004: "EXIF DateTimeDigitized",
    0x9010: "EXIF OffsetTime",
    0x9011: "EXIF OffsetTimeOriginal",
    0x9012: "EXIF OffsetTimeDigitized",
    0x9290: "EXIF SubSecTime",
    0x9291: "EXIF SubSecTimeOriginal",
    0x9292: "EXIF SubSecTimeDigitized",
}
_EXIF_POINTER = 0x8769
_TEXT_TYPES = (1, 2, 7)  # BYTE, ASCII, UNDEFINED: cameras store dates as any of them
_POINTER_TYPES = {1: "B", 3: "H", 4: "I", 9: "I", 13: "I"}
"""The EXIF pointer's types, with their struct codes: exiftool follows it as a BYTE, SHORT,
SLONG as well as a LONG or IFD (exifread too, so a JPEG's was read): any integer."""
_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
_CIFF_TIMESTAMP = 0x180E
_CIFF_MAKEMODEL = 0x080A
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SeekableFile(Protocol):
    """What the capture readers need of a file: an open file, or the scan's `_HeadFirst`."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


class _Malformed(Exception):
    """Internal: the container is not what its header claims; the message says where."""


@dataclass(frozen=True)
class RawTags:
    """What one container (a RAW, a HEIF) gave: tags by capture's names, and why it stopped,
    if it did."""

    format: str
    tags: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


class _Reader:
    """Bounded random access to a file: every read is checked against the file and a budget."""

    def __init__(self, fh: SeekableFile) -> None:
        self._fh = fh
        self.size = fh.seek(0, io.SEEK_END)
        self._budget = READ_BUDGET

    def at(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise _Malformed(f"{what} at byte {offset} ({length} bytes) is past the end")
        if length > MAX_READ:
            raise _Malformed(f"{what} at byte {offset} claims {length} bytes")
        self._budget -= length
        if self._budget < 0:
            raise _Malformed("more header data than any camera writes")
        self._fh.seek(offset)
        data = self._fh.read(length)
        if len(data) != length:
            raise _Malformed(f"{what} at byte {offset} is cut short")
        return data


def _text(raw: bytes) -> str | None:
    """A tag's text up to its first NUL, without control characters; None if empty.

    UTF-8 where it is, else latin-1, so no byte can fail; a crafted make or model cannot put
    terminal escapes into what preview prints.
    """
    raw = raw.split(b"\x00", 1)[0]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    return text or None


def _label(kind: bytes) -> str:
    """A box, record or section name for a warning, with anything unprintable as ``?``."""
    return "".join(ch if ch.isprintable() else "?" for ch in kind.decode("latin-1"))


# --- TIFF blocks (CR3 CMT1/CMT2, RAF's JPEG, MRW's TTW) --------------------------------------


def _tiff_header(block: bytes, what: str) -> tuple[str, int]:
    if len(block) < 8 or block[:2] not in (b"II", b"MM"):
        raise _Malformed(f"{what} is not a TIFF block")
    order = "<" if block[:2] == b"II" else ">"
    magic, first = struct.unpack_from(order + "HI", block, 2)
    if magic != 42:
        raise _Malformed(f"{what} is not a TIFF block")
    return order, first


def _ifd(
    block: bytes, order: str, offset: int, wanted: dict[int, str], tags: dict[str, str], what: str
) -> int:
    """Put the ``wanted`` text tags of the IFD at ``offset`` into ``tags``; the EXIF pointer.

    An entry that is odd (wrong type, value outside the block) is passed over, as exiftool
    does; an IFD whose table itself is outside the block is malformed. A tag the IFD holds
    twice is read as its later entry, as exiftool (and the JPEG reader) read it.
    """
    if offset < 8 or offset + 2 > len(block):
        raise _Malformed(f"{what}: IFD at {offset} is outside the block")
    (count,) = struct.unpack_from(order + "H", block, offset)
    if count > MAX_IFD_ENTRIES or offset + 2 + 12 * count > len(block):
        raise _Malformed(f"{what}: IFD at {offset} runs past the block")
    pointer = 0
    for entry in range(offset + 2, offset + 2 + 12 * count, 12):
        tag, kind, length, value = struct.unpack_from(order + "HHII", block, entry)
        if tag == _EXIF_POINTER:
            if kind in _POINTER_TYPES and length == 1:
                (pointer,) = struct.unpack_from(order + _POINTER_TYPES[kind], block, entry + 8)
            continue
        name = wanted.get(tag)
        if name is None or kind not in _TEXT_TYPES:
            continue
        start = entry + 8 if length <= 4 else value
        if length > 0 and start + length <= len(block):
            text = _text(block[start : start + length])
            if text is not None:
                tags[name] = text
    return pointer


def _tiff_tags(block: bytes, what: str, tags: dict[str, str], *, exif_first: bool = False) -> None:
    """Capture tags of a TIFF block into ``tags``: IFD0, then the EXIF IFD it points to.

    ``exif_first``: the block's first IFD is itself the EXIF IFD (CR3's ``CMT2``). Tags
    found before a damaged IFD are kept.
    """
    order, first = _tiff_header(block, what)
    if exif_first:
        _ifd(block, order, first, EXIF_TAGS, tags, what)
        return
    pointer = _ifd(block, order, first, IFD0_TAGS, tags, what)
    if pointer and pointer != first:
        _ifd(block, order, pointer, EXIF_TAGS, tags, what)


# --- CR3 --------------------------------------------------------------------------------------


def _boxes(
    reader: _Reader, start: int, end: int, what: str, *, limit: int = MAX_BOXES
) -> Iterator[tuple[bytes, int, int]]:
    """ISO-BMFF boxes between ``start`` and ``end``: (type, payload start, payload end)."""
    position = start
    for _ in range(limit):
        if end - position < 8:
            return
        size, kind = struct.unpack(">I4s", reader.at(position, 8, f"{what} box header"))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", reader.at(position + 8, 8, f"{what} box size"))
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            name = _label(kind)
            raise _Malformed(f"{what} box '{name}' at byte {position} runs past its parent")
        yield kind, position + header, position + size
        position += size


def _cr3(reader: _Reader, tags: dict[str, str]) -> None:
    moov = next((box for box in _boxes(reader, 0, reader.size, "CR3") if box[0] == b"moov"), None)
    if moov is None:
        raise _Malformed("CR3 has no 'moov' box")
    for kind, start, end in _boxes(reader, moov[1], moov[2], "CR3 moov"):
        if kind != b"uuid" or end - start < 16:
            continue
        if reader.at(start, 16, "CR3 uuid") != _CANON_UUID:
            continue
        for name, body, stop in _boxes(reader, start + 16, end, "CR3 Canon uuid"):
            if name == b"CMT1":
                _tiff_tags(reader.at(body, stop - body, "CR3 CMT1"), "CR3 CMT1", tags)
            elif name == b"CMT2":
                block = reader.at(body, stop - body, "CR3 CMT2")
                _tiff_tags(block, "CR3 CMT2", tags, exif_first=True)
                return  # CMT3 (maker notes), CMT4 (GPS) and the thumbnail are not needed
        return
    raise _Malformed("CR3 has no Canon metadata box")


# --- RAF --------------------------------------------------------------------------------------


def _jpeg_exif(reader: _Reader, start: int, end: int, what: str) -> bytes:
    """The TIFF block of the ``Exif`` APP1 segment of the JPEG between ``start`` and ``end``."""
    if reader.at(start, 2, what) != b"\xff\xd8":
        raise _Malformed(f"{what} at byte {start} is not a JPEG")
    position = start + 2
    for _ in range(MAX_BOXES):
        if end - position < 4:
            break
        marker, length = struct.unpack(">HH", reader.at(position, 4, f"{what} segment"))
        if marker >> 8 != 0xFF or marker in (0xFFD9, 0xFFDA) or length < 2:
            break
        if position + 2 + length > end:
            raise _Malformed(f"{what} segment at byte {position} runs past the JPEG")
        if marker == 0xFFE1 and length >= 8:
            payload = reader.at(position + 4, length - 2, f"{what} APP1")
            block = app1_exif(payload)
            if block is not None:
                return block
        position += 2 + length
    raise _Malformed(f"{what} has no EXIF segment")


def _raf(reader: _Reader, tags: dict[str, str]) -> None:
    header = reader.at(0, 0x5C, "RAF header")
    jpeg_at, jpeg_length = struct.unpack_from(">II", header, 84)
    if jpeg_at < 0x5C or jpeg_length < 4 or jpeg_at + jpeg_length > reader.size:
        raise _Malformed(
            f"RAF header points its JPEG to byte {jpeg_at} ({jpeg_length} bytes), "
            f"outside the {reader.size}-byte file"
        )
    block = _jpeg_exif(reader, jpeg_at, jpeg_at + jpeg_length, "RAF JPEG")
    _tiff_tags(block, "RAF JPEG EXIF", tags)


# --- CRW (CIFF) -------------------------------------------------------------------------------


class _Ciff:
    """Walks CIFF heaps once each, depth- and entry-bounded, collecting time and make/model."""

    def __init__(self, reader: _Reader, order: str, tags: dict[str, str]) -> None:
        self.reader = reader
        self.order = order
        self.seen: set[int] = set()
        self.entries = 0
        self.tags = tags

    def heap(self, start: int, end: int, depth: int) -> None:
        if depth > MAX_HEAP_DEPTH:
            raise _Malformed("CRW heaps nest too deep")
        if end - start < 6:
            raise _Malformed(f"CRW heap at byte {start} is too small")
        (table,) = struct.unpack(self.order + "I", self.reader.at(end - 4, 4, "CRW heap end"))
        table += start
        if table in self.seen:
            raise _Malformed(f"CRW heap table at byte {table} is referenced twice")
        self.seen.add(table)
        if table + 2 > end - 4:
            raise _Malformed(f"CRW heap table at byte {table} is outside its heap")
        (count,) = struct.unpack(self.order + "H", self.reader.at(table, 2, "CRW heap table"))
        self.entries += count
        if self.entries > MAX_HEAP_ENTRIES or table + 2 + 10 * count > end:
            raise _Malformed(f"CRW heap table at byte {table} claims {count} entries")
        raw = self.reader.at(table + 2, 10 * count, "CRW heap table")
        for index in range(count):
            tag, size, offset = struct.unpack_from(self.order + "HII", raw, 10 * index)
            if tag & 0x8000:
                raise _Malformed(f"CRW entry {index} of the heap table at byte {table} is bad")
            kind = (tag >> 8) & 0x38
            in_entry = bool(tag & 0x4000)
            ident = tag & 0x3FFF
            if kind in (0x28, 0x30) and not in_entry:
                child = start + offset
                if not (start <= child and child + size <= end and size < end - start):
                    raise _Malformed(f"CRW sub-heap at byte {child} is outside its heap")
                self.heap(child, child + size, depth + 1)
            elif ident in (_CIFF_TIMESTAMP, _CIFF_MAKEMODEL):
                if in_entry:
                    value = raw[10 * index + 2 : 10 * index + 10]
                else:
                    where = start + offset
                    if where + size > end:
                        raise _Malformed(f"CRW value at byte {where} is outside its heap")
                    value = self.reader.at(where, min(size, 256), "CRW value")
                self.value(ident, value)

    def value(self, ident: int, value: bytes) -> None:
        if ident == _CIFF_TIMESTAMP and len(value) >= 4:
            (seconds,) = struct.unpack_from(self.order + "I", value)
            # 0 is exiftool's zero date (ConvertUnixTime), no time: never 1970-01-01 00:00:00.
            when = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y:%m:%d %H:%M:%S")
            when = when if seconds else "0000:00:00 00:00:00"
            self.tags.setdefault("EXIF DateTimeOriginal", when)
        elif ident == _CIFF_MAKEMODEL:
            # exiftool's layout: make in the first 6 bytes ("Canon\0"), the model after them.
            for key, text in (("Image Make", _text(value[:6])), ("Image Model", _text(value[6:]))):
                if text is not None:
                    self.tags.setdefault(key, text)


def _crw(reader: _Reader, tags: dict[str, str]) -> None:
    header = reader.at(0, 14, "CRW header")
    order = "<" if header[:2] == b"II" else ">"
    (length,) = struct.unpack_from(order + "I", header, 2)
    if length < 14 or length >= reader.size:
        raise _Malformed(f"CRW header length {length} does not fit the {reader.size}-byte file")
    _Ciff(reader, order, tags).heap(length, reader.size, 0)


# --- MRW --------------------------------------------------------------------------------------


def _mrw(reader: _Reader, tags: dict[str, str]) -> None:
    (length,) = struct.unpack(">I", reader.at(4, 4, "MRW header"))
    end = 8 + length
    if end > reader.size:
        raise _Malformed(f"MRW header claims {length} bytes of records in a smaller file")
    position = 8
    for _ in range(MAX_BOXES):
        if end - position < 8:
            break
        kind, size = struct.unpack(">4sI", reader.at(position, 8, "MRW record"))
        if position + 8 + size > end:
            name = _label(kind.strip(b"\x00"))
            raise _Malformed(f"MRW record '{name}' at byte {position} runs past the header")
        if kind == b"\x00TTW":
            _tiff_tags(reader.at(position + 8, size, "MRW TTW"), "MRW TTW", tags)
            return
        position += 8 + size
    raise _Malformed("MRW has no TTW record")


# --- X3F -------------------------------------------------------------------------------------

_X3F_JPEG = b"SECi\x00\x00\x02\x00\x02\x00\x00\x00\x12\x00\x00\x00"
"""An X3F image section holding a JPEG: version 2.0, type 2, format 18 (exiftool's test)."""
_X3F_IMAGE_HEADER = 28
_X3F_MAX_SECTIONS = 32


def _x3f(reader: _Reader, tags: dict[str, str]) -> None:
    (directory,) = struct.unpack("<I", reader.at(reader.size - 4, 4, "X3F directory pointer"))
    head = reader.at(directory, 12, "X3F directory")
    magic, _, count = struct.unpack("<4sII", head)
    if magic != b"SECd":
        raise _Malformed(f"X3F directory pointer leads to byte {directory}, not a directory")
    if count > _X3F_MAX_SECTIONS:
        raise _Malformed(f"X3F directory at byte {directory} claims {count} sections")
    table = reader.at(directory + 12, 12 * count, "X3F directory")
    for index in range(count):
        offset, length, kind = struct.unpack_from("<II4s", table, 12 * index)
        if kind != b"IMA2" or length <= _X3F_IMAGE_HEADER + 4:
            continue
        if offset + length > reader.size:
            raise _Malformed(f"X3F section '{_label(kind)}' at byte {offset} runs past the end")
        if reader.at(offset, len(_X3F_JPEG), "X3F image section") != _X3F_JPEG:
            continue
        start = offset + _X3F_IMAGE_HEADER
        if reader.at(start, 4, "X3F JPEG") != b"\xff\xd8\xff\xe1":
            continue  # exiftool reads EXIF only where it is the JPEG's first segment
        block = _jpeg_exif(reader, start, offset + length, "X3F JPEG")
        _tiff_tags(block, "X3F JPEG EXIF", tags)
        return
    raise _Malformed("X3F has no JPEG with EXIF (SD9 and SD10 files have none)")


# --- HEIF (HEIC, HIF) -------------------------------------------------------------------------

_HEIF_BRANDS = frozenset(
    {b"mif1", b"msf1", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"avif", b"avis"}
)
MAX_HEIF_ITEMS = 4096
"""Items looked at in a HEIF ``iinf`` or ``iloc`` (a burst holds a few hundred)."""


def _heif_brands(reader: _Reader) -> bool:
    """Whether the ``ftyp`` box names a HEIF brand, as major or compatible brand (``heix`` for
    Canon's and Sony's 10-bit HIF, ``heic`` for phones, ``mif1`` for any still image)."""
    size = struct.unpack(">I", reader.at(0, 4, "HEIF ftyp"))[0] if reader.size >= 16 else 0
    if size < 16 or size > 1024 or size > reader.size:
        return False
    body = reader.at(8, size - 8, "HEIF ftyp")
    brands = [body[0:4]] + [body[i : i + 4] for i in range(8, len(body) - 3, 4)]
    return any(brand in _HEIF_BRANDS for brand in brands)


class _Fields:
    """Big-endian fields read one after another from a box's payload."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._at = 0
        self._what = what

    def take(self, size: int) -> int:
        """An unsigned field of ``size`` bytes (0, 1, 2, 4 or 8; 0 is the value 0)."""
        if size not in (0, 1, 2, 4, 8):
            raise _Malformed(f"{self._what}: a field of {size} bytes")
        if self._at + size > len(self._data):
            raise _Malformed(f"{self._what} is cut short")
        value = int.from_bytes(self._data[self._at : self._at + size], "big")
        self._at += size
        return value

    def rest(self) -> bytes:
        return self._data[self._at :]


def _heif_items(reader: _Reader, start: int, end: int) -> dict[int, bytes]:
    """``iinf``: the type of each item, by item ID (version 2 and 3 ``infe`` entries)."""
    fields = _Fields(reader.at(start, min(end - start, 4 + 4), "HEIF iinf"), "HEIF iinf")
    version = fields.take(4) >> 24
    fields.take(2 if version == 0 else 4)  # the entry count: the boxes themselves count
    first = start + (6 if version == 0 else 8)
    types: dict[int, bytes] = {}
    for kind, body, stop in _boxes(reader, first, end, "HEIF iinf", limit=MAX_HEIF_ITEMS):
        if kind != b"infe" or stop - body < 12:
            continue
        entry = _Fields(reader.at(body, min(stop - body, 16), "HEIF infe"), "HEIF infe")
        infe_version = entry.take(4) >> 24
        if infe_version < 2:
            continue  # no item types before version 2
        item = entry.take(2 if infe_version == 2 else 4)
        entry.take(2)  # protection index
        types[item] = entry.rest()[:4]
    return types


def _heif_locations(
    reader: _Reader, start: int, end: int
) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """``iloc``: each item's construction method and extents (absolute offset, length) for
    method 0 (in the file), offsets into ``idat`` for method 1."""
    fields = _Fields(reader.at(start, end - start, "HEIF iloc"), "HEIF iloc")
    version = fields.take(4) >> 24
    sizes = fields.take(1)
    offset_size, length_size = sizes >> 4, sizes & 15
    sizes = fields.take(1)
    base_size, index_size = sizes >> 4, (sizes & 15 if version in (1, 2) else 0)
    count = fields.take(2 if version < 2 else 4)
    if count > MAX_HEIF_ITEMS:
        raise _Malformed(f"HEIF iloc claims {count} items")
    found: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    for _ in range(count):
        item = fields.take(2 if version < 2 else 4)
        method = fields.take(2) & 15 if version in (1, 2) else 0
        fields.take(2)  # data reference index: 0, this file
        base = fields.take(base_size)
        extents = []
        for _ in range(fields.take(2)):
            fields.take(index_size)
            offset, length = fields.take(offset_size), fields.take(length_size)
            extents.append((base + offset, length))
        found[item] = (method, extents)
    return found


def _heif_described(reader: _Reader, start: int, end: int) -> dict[int, list[int]]:
    """``iref``'s ``cdsc`` references: the items each metadata item describes."""
    fields = _Fields(reader.at(start, 4, "HEIF iref"), "HEIF iref")
    wide = fields.take(4) >> 24 != 0
    described: dict[int, list[int]] = {}
    for kind, body, stop in _boxes(reader, start + 4, end, "HEIF iref", limit=MAX_HEIF_ITEMS):
        if kind != b"cdsc":
            continue
        ref = _Fields(reader.at(body, stop - body, "HEIF cdsc"), "HEIF cdsc")
        source = ref.take(4 if wide else 2)
        described[source] = [ref.take(4 if wide else 2) for _ in range(ref.take(2))]
    return described


def _heif(reader: _Reader, tags: dict[str, str]) -> None:
    """The ``Exif`` item of the primary image (``pitm``), or the first one, read through
    ``iinf`` (item types), ``iloc`` (where each item is: in the file, from a base offset
    onwards, or in ``idat``) and ``iref`` (which image an Exif item describes)."""
    meta = next((box for box in _boxes(reader, 0, reader.size, "HEIF") if box[0] == b"meta"), None)
    if meta is None:
        raise _Malformed("HEIF has no 'meta' box")
    boxes = {
        kind: (body, stop) for kind, body, stop in _boxes(reader, meta[1] + 4, meta[2], "HEIF meta")
    }
    if b"iinf" not in boxes or b"iloc" not in boxes:
        raise _Malformed("HEIF has no item list")
    types = _heif_items(reader, *boxes[b"iinf"])
    exif = sorted(item for item, kind in types.items() if kind == b"Exif")
    if not exif:
        raise _Malformed("HEIF has no Exif item")
    if b"pitm" in boxes and b"iref" in boxes:
        body, stop = boxes[b"pitm"]
        pitm = _Fields(reader.at(body, min(stop - body, 8), "HEIF pitm"), "HEIF pitm")
        primary = pitm.take(2 if pitm.take(4) >> 24 == 0 else 4)
        described = _heif_described(reader, *boxes[b"iref"])
        exif.sort(key=lambda item: primary not in described.get(item, ()))
    method, extents = _heif_locations(reader, *boxes[b"iloc"]).get(exif[0], (0, []))
    base = 0
    if method == 1:
        if b"idat" not in boxes:
            raise _Malformed("HEIF Exif item is in an 'idat' box the file lacks")
        base = boxes[b"idat"][0]
    elif method != 0:
        raise _Malformed(f"HEIF Exif item is stored by construction method {method}")
    if not extents or sum(length for _, length in extents) > MAX_READ:
        raise _Malformed("HEIF Exif item has no place in the file, or claims too much")
    data = b"".join(reader.at(base + at, length, "HEIF Exif item") for at, length in extents)
    if len(data) < 4:
        raise _Malformed("HEIF Exif item is cut short")
    if data[:4] in TIFF_STARTS:
        skip = 0  # no offset field and no "Exif\0\0": exiftool reads it ("Missing Exif header")
    elif data.startswith(b"Exif\x00\x00"):
        skip = 6  # no offset field ("Missing Exif header size")
    else:
        skip = 4 + int.from_bytes(data[:4], "big")  # to the TIFF header, past "Exif\0\0"
    _tiff_tags(data[skip:], "HEIF Exif item", tags)


# --- dispatch ---------------------------------------------------------------------------------


def _format(head: bytes) -> tuple[str, Callable[[_Reader, dict[str, str]], None]] | None:
    if head[4:8] == b"ftyp" and head[8:12] == b"crx ":
        return "CR3", _cr3
    if head[4:8] == b"ftyp":
        return "HEIF", _heif  # a video's ftyp too: `read_raw` asks for a HEIF brand
    if head.startswith(b"FUJIFILM"):
        return "RAF", _raf
    if head[:2] in (b"II", b"MM") and head[6:14] == b"HEAPCCDR":
        return "CRW", _crw
    if head.startswith(b"\x00MRM"):
        return "MRW", _mrw
    if head.startswith(b"FOVb"):
        return "X3F", _x3f
    return None


def read_raw(fh: SeekableFile) -> RawTags | None:
    """The capture tags of a CR3, RAF, CRW, MRW or X3F file; None for any other kind of file.

    Recognises the container by its first bytes, not its name. Never raises for a damaged
    file: whatever could not be read is named in ``problem`` (tags found before it are kept).
    """
    fh.seek(0)
    found = _format(fh.read(16))
    if found is None:
        return None
    name, parse = found
    tags: dict[str, str] = {}
    try:
        reader = _Reader(fh)
        if name == "HEIF" and not _heif_brands(reader):
            return None
        parse(reader, tags)
    except (_Malformed, struct.error, OverflowError, ValueError) as exc:
        detail = str(exc) or type(exc).__name__
        return RawTags(name, tags, problem=f"unreadable {name} header ({detail})")
    return RawTags(name, tags)
