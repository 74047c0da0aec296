"""Read a photo's capture time from EXIF, strictly, falling back step by step.

Order: EXIF DateTimeOriginal (+SubSecTimeOriginal, OffsetTimeOriginal; in IFD0 where a camera
put it there, as exiftool reads it too) -> DateTimeDigitized (+SubSecTimeDigitized,
OffsetTimeDigitized; likewise) -> IFD0 DateTime (+SubSecTime, OffsetTime) -> the file's
modification time as the mount reports it. A file that cannot be parsed never
raises here: it falls back and says why in `warning`.

For JPEG we find the ``Exif`` APP1 segment ourselves: it is faster (no scanning of the image
data) and copes with files that carry an XMP APP1 before the EXIF one, which exifread's own
JPEG walker gives up on. The few tags we need are then read straight from that TIFF block
when it is well formed (plain ASCII values inside the block), several times faster than
exifread; anything unusual goes to exifread, as do TIFF-based RAW files (CR2, NEF, DNG, ...).
CR3, RAF, CRW, MRW, X3F and HEIF, whose EXIF sits in containers exifread does not walk (or,
for HEIF, only under some brands and layouts), are read by ``raw`` from their header blocks;
a damaged container falls back with a warning like any other file (a HEIF to exifread first).
"""

from __future__ import annotations

import errno
import io
import re
import struct
import sys
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import ModuleType
from typing import TypeGuard

from ..models import TimeSource
from .ifdbound import ExifTooLarge, bounded_for_exifread
from .kinds import RAW_TIFF_STARTS
from .raw import EXIF_TAGS, IFD0_TAGS, SeekableFile, app1_exif, read_raw
from .truncated import CUT_SHORT as RAW_CUT_SHORT
from .truncated import raw_cut_short

_DATE = re.compile(
    r"^(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})(?:T| +)(\d{1,2}):(\d{2})"
    r"(?::(\d{2})(?:\.\d{1,9})?)?(?: ?(?:Z|[+-]\d{2}(?::?\d{2})?))?$",
    re.ASCII,  # another script's digits make no date (exiftool reads none)
)
"""An EXIF date, also with a fraction of a second, a zone, or no seconds after it, and with
a month, day or hour of one digit (``2024:5:1 9:05:07``), ``.``, ``-`` or ``/`` between the
date's fields, or several blanks before the time, as some cameras and editors write it and
exiftool reads it (the wall-clock time as written). Minutes and seconds keep two digits:
``10:0`` is a value cut short (a truncated file), not ten o'clock."""
_SUBSEC = re.compile(r"^\d{1,9}$", re.ASCII)
_OFFSET = re.compile(r"^[+-](\d{2}):(\d{2})$", re.ASCII)
_MAX_SEGMENTS = 1024
"""Segments walked before the image data: exiftool walks them all. A trial's Exif segment
came after 70 (a FlashPix stream in pieces); an ICC profile alone may take 255."""
STOP_TAG = "SubSecTimeDigitized"

_EXIF_POINTER = 0x8769
_ASCII = 2
_POINTER_TYPES = (4, 13)

_TAGS: tuple[tuple[str, TimeSource], ...] = (
    # IFD0's before the EXIF IFD's, as exiftool shows them when both are there: IFD0's entry
    # (0x9003) comes after its pointer to the EXIF IFD (0x8769), and the later one read wins.
    ("Image DateTimeOriginal", "exif:DateTimeOriginal"),
    ("EXIF DateTimeOriginal", "exif:DateTimeOriginal"),
    ("Image DateTimeDigitized", "exif:DateTimeDigitized"),
    ("EXIF DateTimeDigitized", "exif:DateTimeDigitized"),
    ("Image DateTime", "exif:DateTime"),
)


_FRACTION_OF = {
    "exif:DateTimeOriginal": ("EXIF SubSecTimeOriginal", "EXIF OffsetTimeOriginal"),
    "exif:DateTimeDigitized": ("EXIF SubSecTimeDigitized", "EXIF OffsetTimeDigitized"),
    "exif:DateTime": ("EXIF SubSecTime", "EXIF OffsetTime"),
}
"""The sub-second and UTC offset tags that go with each time, as exiftool pairs them
(SubSecDateTimeOriginal, SubSecCreateDate, SubSecModifyDate): two photos of one second
timed by DateTimeDigitized alone were otherwise named in card order, not the order taken."""


def _label(key: str) -> str:
    """A `_TAGS` key as a message names it: IFD0's DateTimeOriginal and DateTimeDigitized as
    such, since the EXIF IFD's may be read after it (a trial's "… '0000:00:00 00:00:00' is
    not a date; using DateTimeOriginal" read as a contradiction)."""
    place, tag = key.split()
    return f"IFD0 {tag}" if place == "Image" and tag != "DateTime" else tag


@dataclass(frozen=True)
class Capture:
    captured: datetime
    source: TimeSource
    subsec: str = ""
    utc_offset: str | None = None
    make: str | None = None
    model: str | None = None
    warning: str | None = None


def file_time(mtime: float) -> datetime:
    """The file's modification time as local wall-clock time; 1980-01-01 if it is absurd."""
    try:
        return datetime.fromtimestamp(mtime).replace(microsecond=0)
    except (OverflowError, OSError, ValueError):
        return datetime(1980, 1, 1)


def parse_exif_date(text: str) -> datetime | None:
    """A strict EXIF date: ``YYYY:MM:DD HH:MM:SS`` naming a real moment, else None.

    Zeros, blanks, NULs, hour 24 and the like are not dates. A fraction of a second or a
    zone after the seconds is left out (the name is the camera's wall-clock time, as
    exiftool's ``-d`` gives it); with no seconds, the minute's start, as exiftool reads it.
    """
    match = _DATE.match(text.strip(" \x00\t\r\n"))
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
    if not 1900 <= year <= 2999:
        return None
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _cut_at_the_minute(tag: object, text: str) -> bool:
    """Whether a date with no seconds (``2020:12:29 14:24``) is one cut short by the file's
    end, which exifread reads up to there: its entry holds more bytes than the text and its
    NUL (exiftool then reads no value). A camera that writes no seconds declares just
    those. The quick reader (`_read_ifd`) gives plain text, only for values wholly there."""
    length = getattr(tag, "field_length", None)
    match = _DATE.match(text)
    return (
        isinstance(length, int)
        and match is not None
        and match.group(6) is None
        and (length > len(text.encode("utf-8")) + 1)
    )


_BYTE, _UNDEFINED = 1, 7
_BYTE_TYPES = frozenset({_BYTE, _UNDEFINED})
"""TIFF types whose list of values is text's bytes; SHORT or LONG numbers are no text, as
exiftool shows them (``50 48 50 49 …``): no date."""


def _is_byte_list(values: object) -> TypeGuard[list[int]]:
    """A text tag stored as UNDEFINED or BYTE, which exifread gives as a list of ints."""
    return (
        isinstance(values, list)
        and len(values) > 1
        and all(isinstance(value, int) and 0 <= value <= 255 for value in values)
    )


def _text(tags: dict, key: str) -> str | None:
    tag = tags.get(key)
    if tag is None:
        return None
    values = getattr(tag, "values", None)
    if isinstance(tag, str):
        raw = tag
    elif isinstance(values, bytes | bytearray):
        raw = bytes(values).decode("latin-1")
    elif (
        isinstance(values, list)
        and getattr(tag, "field_type", _BYTE) in _BYTE_TYPES
        and _is_byte_list(values)
    ):
        raw = bytes(values).lstrip(b"\x00").split(b"\x00", 1)[0].decode("latin-1")
    elif isinstance(values, str):
        raw = values
    else:
        raw = str(getattr(tag, "printable", "") or "")
    cleaned = raw.replace("\x00", "").strip()
    return cleaned or None


def _interned(text: str | None) -> str | None:
    """One string per camera model, not one per photo: a 10,000-photo card has few cameras."""
    return sys.intern(text) if text is not None else None


def _exif_blocks(fh: SeekableFile) -> list[bytes]:
    """The TIFF blocks of a JPEG's ``Exif`` APP1 segments before its image data, in order
    (almost always one; none for a file that is no JPEG or carries no EXIF). After the first,
    the walk goes on only through the application segments that follow it (where an
    editor's second one is), not to the tables and frame header: those cost the scan a read
    past the head it has, for every photo."""
    return _walk_segments(fh)[0]


def _walk_segments(fh: SeekableFile) -> tuple[list[bytes], bool]:
    """`_exif_blocks`, and whether the walk reached the image data (start of scan) or the
    end of the image: then a JPEG with no Exif segment before it has none that exiftool
    reads, and exifread, which may find one further on, is not asked."""
    blocks: list[bytes] = []
    fh.seek(0)
    if fh.read(2) != b"\xff\xd8":
        return blocks, False
    for _ in range(_MAX_SEGMENTS):
        marker = fh.read(2)
        if len(marker) == 2 and marker[0] != 0xFF:
            marker = _past_stray_bytes(fh, len(marker))
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:
            marker = marker[1:] + fh.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            break
        code = marker[1]
        if code in (0xD9, 0xDA):
            return blocks, True
        if blocks and not (0xE0 <= code <= 0xEF or code == 0xFE):
            break  # past the first EXIF, only the application segments beside it are read
        if code in _NO_LENGTH:
            continue
        head = fh.read(2)
        if len(head) < 2:
            break
        length = int.from_bytes(head, "big")
        if length < 2:
            break
        if code == 0xE1:
            block = app1_exif(fh.read(length - 2))
            if block is not None:
                blocks.append(block)
        else:
            fh.seek(length - 2, io.SEEK_CUR)
    return blocks, False


_MAX_STRAY = 16 * 1024 * 1024
_STRAY_READ = 64 * 1024
_NO_LENGTH = frozenset({0x00, 0x01, *range(0xD0, 0xD9)})
"""Markers with no length after them (a NULL, TEM, the restarts, SOI), as exiftool walks
them: a length read after one would jump into the middle of a segment, to an Exif segment
an application segment only holds as data."""


def _past_stray_bytes(fh: SeekableFile, read: int) -> bytes:
    """The next marker after bytes that are none, where a segment ends (a JFIF header whose
    length leaves two of its bytes out, two NULs after it): exiftool passes over them to
    the next FF ("Skipped unknown 2 bytes after JPEG APP0 segment"), here up to `_MAX_STRAY`."""
    start = fh.tell() - read
    fh.seek(start)
    for offset in range(0, _MAX_STRAY, _STRAY_READ):
        chunk = fh.read(_STRAY_READ)
        found = chunk.find(b"\xff")
        if found >= 0:
            fh.seek(start + offset + found)
            return fh.read(2)
        if len(chunk) < _STRAY_READ:
            break
    return b""


def _read_ifd(
    block: bytes, order: str, offset: int, wanted: dict[int, str], tags: dict
) -> int | None:
    """Put the ``wanted`` ASCII tags of the IFD at ``offset`` into ``tags``.

    Returns the EXIF IFD pointer (0 if there is none), or None when anything is not plainly
    well formed, so the caller lets exifread decide.
    """
    if offset < 8 or offset + 2 > len(block):
        return None
    (count,) = struct.unpack_from(order + "H", block, offset)
    if offset + 2 + 12 * count > len(block):
        return None
    pointer = 0
    for entry in range(offset + 2, offset + 2 + 12 * count, 12):
        tag, kind, length, value = struct.unpack_from(order + "HHII", block, entry)
        if tag == _EXIF_POINTER:
            if kind not in _POINTER_TYPES or length != 1:
                return None
            pointer = value
            continue
        name = wanted.get(tag)
        if name is None:
            continue
        if kind != _ASCII:
            return None
        start = entry + 8 if length <= 4 else value
        if start + length > len(block):
            return None
        try:
            tags[name] = block[start : start + length].split(b"\x00", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return pointer


def _quick_tags(block: bytes) -> dict[str, str] | None:
    """The tags we use, read from a well-formed TIFF block; None to let exifread decide."""
    if len(block) < 8 or block[:2] not in (b"II", b"MM"):
        return None
    order = "<" if block[:2] == b"II" else ">"
    magic, first = struct.unpack_from(order + "HI", block, 2)
    if magic != 42:
        return None
    tags: dict[str, str] = {}
    pointer = _read_ifd(block, order, first, IFD0_TAGS, tags)
    if pointer is None:
        return None
    if pointer and _read_ifd(block, order, pointer, EXIF_TAGS, tags) is None:
        return None
    return tags


@cache
def _exifread() -> ModuleType:
    """exifread (and logging), imported when a file first needs it, its log silenced."""
    import logging

    import exifread

    logging.getLogger("exifread").setLevel(logging.CRITICAL + 1)
    return exifread


def _read_tags(fh: SeekableFile) -> dict:
    """The quick reader's tags, else exifread's (imported only when a file needs it).

    A JPEG with two ``Exif`` segments (one an editor added) has its tags read from each,
    a later segment's value of a tag taking the place of an earlier one's, as exiftool
    shows them: the capture time is the one exiftool reads."""
    tags, damaged, reached_image = _segment_tags(fh)
    if tags:
        return tags
    if damaged is not None:
        raise damaged
    if reached_image:
        return {}
    fh.seek(0)
    return _with_jpg_from_raw(fh, _exifread_tags(fh))


_JPG_FROM_RAW = "Image Tag 0x002E"
"""Panasonic RW2/RWL's IFD0 entry holding a JPEG with the file's full EXIF (exiftool reads
the capture time from it): its IFD0 holds none of its own."""
_JPG_HEAD = 256 * 1024
"""Enough of that JPEG for its EXIF segment (at its start, under 64 KiB)."""


def _with_jpg_from_raw(fh: SeekableFile, tags: dict) -> dict:
    """``tags`` of a TIFF-based RAW, with those of its embedded JPEG (`_JPG_FROM_RAW`) over
    them when it has one and they hold no DateTimeOriginal, as exiftool shows them."""
    embedded = tags.get(_JPG_FROM_RAW)
    offset = getattr(embedded, "field_offset", None)
    length = getattr(embedded, "field_length", None)
    if "EXIF DateTimeOriginal" in tags or not isinstance(offset, int) or not length:
        return tags
    fh.seek(offset)
    head = fh.read(min(int(length), _JPG_HEAD))
    if not head.startswith(b"\xff\xd8"):
        return tags
    inner = _segment_tags(io.BytesIO(head))[0]  # damaged: the file's own tags stand
    return {**tags, **inner}


def _segment_tags(fh: SeekableFile) -> tuple[dict, Exception | None, bool]:
    """The tags of a JPEG's Exif segments, a later one's over an earlier one's, the first
    error met (exifread raises anything on a damaged block), and whether the walk reached
    the image (`_walk_segments`)."""
    tags: dict = {}
    damaged: Exception | None = None
    blocks, reached_image = _walk_segments(fh)
    for block in blocks:
        if block[:2] not in _BYTE_ORDERS:
            damaged = damaged or MalformedExif(block[:2])
            continue  # exiftool reads nothing from it; exifread's whole-file walk guessed
        try:
            read = _quick_tags(block) or _exifread_tags(io.BytesIO(block))
        except Exception as exc:
            damaged = damaged or exc
            continue
        for source in {source for key, source in _TAGS if key in (read or {})}:
            for key, same in _TAGS:  # read last: it stands, whichever IFD held the earlier
                if same == source:
                    tags.pop(key, None)
        tags.update(read or {})
    return tags, damaged, reached_image


_BYTE_ORDERS = (b"II", b"MM")


class MalformedExif(ValueError):
    """An Exif segment whose TIFF header names no byte order (``II`` or ``MM``): exiftool
    reads no tag from it ("Malformed APP1 EXIF segment"). exifread, asked of the whole file
    when the segment gave nothing, read it in big-endian order and took its DateTime (a
    trial: Pillow's ``invalid-exif.jpg``, ``FF FF`` there)."""

    def __init__(self, order: bytes) -> None:
        super().__init__(
            f"malformed Exif segment (byte order {order.hex(' ').upper()}, not II or MM: exiftool "
            "reads no EXIF from it)"
        )


def _exifread_tags(fh: SeekableFile) -> dict:
    """exifread's tags, read up to `STOP_TAG`, which a well-formed EXIF IFD (its entries in
    tag order, as TIFF asks) has after every date; an IFD out of order that put it before
    DateTimeOriginal is read again whole (exiftool reads every entry, in any order).

    A TIFF block (every caller's ``fh`` is at its start) is given to exifread through
    `bounded_for_exifread`: IFD entry counts that run past the end of the data are cut to the
    entries there (exifread walked all 65,535 a count may claim, a quarter of a second), and
    a block that would cost exifread more reads than any camera's is refused."""
    start = fh.tell()
    bounded = bounded_for_exifread(fh) if start == 0 else fh
    tags = _exifread().process_file(
        bounded, details=False, extract_thumbnail=False, stop_tag=STOP_TAG
    )
    if f"EXIF {STOP_TAG}" in tags and "EXIF DateTimeOriginal" not in tags:
        bounded.seek(start)
        tags = _exifread().process_file(bounded, details=False, extract_thumbnail=False)
    return _padded_dates(fh, start, tags)


def _padded_dates(fh: SeekableFile, start: int, tags: dict) -> dict:
    """``tags`` with each date that has no seconds but whose entry holds more bytes (which
    `_cut_at_the_minute` takes for a value cut short by the file's end) given as plain text
    where those bytes are all there and the rest is padding (NULs, blanks: exiftool reads
    ``2024:05:01 10:00`` from them). Only where the TIFF block starts at ``start`` (a RAW
    file, an ORF or RW2 under its maker's magic number, a JPEG's Exif segment), where
    exifread's offsets count from."""
    fh.seek(start)
    if fh.read(4) not in RAW_TIFF_STARTS:
        return tags
    for key, _source in _TAGS:
        tag = tags.get(key)
        text = _text(tags, key)
        if text is None or not _cut_at_the_minute(tag, text):
            continue
        offset, length = getattr(tag, "field_offset", None), getattr(tag, "field_length", None)
        if not isinstance(offset, int) or not isinstance(length, int):
            continue
        fh.seek(start + offset)
        held = fh.read(length)
        shown = text.encode("utf-8")
        if (
            len(held) == length
            and held.startswith(shown)
            and not held[len(shown) :].strip(b"\x00 ")
        ):
            tags = {**tags, key: text}
    return tags


_EOI = b"\xff\xd9"
TAIL_BYTES = 4096
"""The end of a JPEG that `cut_short` reads first (and the scan asks for ahead)."""
_PADDING = b"\x00\xff"
_MOST_READ = 64 * 1024 * 1024
_NOT_IN_SCANS = re.compile(rb"\xff[^\x00\xff\xd0-\xd7\xc4\xcc\xda-\xdd\xe0-\xef\xfe]")
"""An FF pair that cannot lie between the start of a JPEG's image data and its end marker:
image data stuffs an FF as FF 00 and holds restart markers, and a progressive JPEG's later
scans bring their own tables, headers and comments. Anything else comes after the image."""
CUT_SHORT = (
    "the JPEG is cut short (it ends before its end-of-image marker: written while the card "
    "was pulled or the battery ran out?); it is copied as it is: check the photo"
)


def cut_short(fh: SeekableFile) -> bool:
    """Whether a JPEG ends inside its image: no end-of-image marker (FF D9) after the start
    of its image data, or no image data at all.

    The file is read backwards from its end, a page first and then in pieces that double,
    until an end marker is found (the image ended), or the start of the image data (it was
    cut short). Padding (00 and FF bytes: space a camera reserved) is passed over, and the
    first bytes before it that cannot be image data (a pair `_NOT_IN_SCANS`: a phone's
    motion video, an appended file) end the search at once. So a whole photo costs its last
    page, and only one that looks cut short is read further. Image data never holds FF D9,
    so the EXIF thumbnail's own marker, which lies before it, never counts. A file whose
    last _MOST_READ bytes hold no marker is not called cut short."""
    fh.seek(0)
    if fh.read(2) != b"\xff\xd8":
        return False
    end = fh.seek(0, io.SEEK_END)
    if end >= 4:
        fh.seek(end - 2)
        if fh.read(2) == _EOI:
            return False
    start = _image_data(fh)
    if start is None or start < 0:
        return start is not None
    pos, judged = end, False
    while pos > start:
        if end - pos >= _MOST_READ:
            return False
        low = max(start, pos - max(TAIL_BYTES, end - pos))
        fh.seek(low)
        piece = fh.read(min(pos + 1, end) - low)  # one byte more: a marker across two pieces
        if _EOI in piece:
            return False
        if not judged and (body := piece.rstrip(_PADDING)):
            if _NOT_IN_SCANS.search(body):
                return False
            judged = True
        pos = low
    return True


def _image_data(fh: SeekableFile) -> int | None:
    """Where a JPEG's image data starts (after its first SOS header); -1 if the file ends
    among its headers, or only padding follows where a marker should be (the clusters the
    camera had reserved, never written: they read as zeros); None where they cannot be
    walked."""
    fh.seek(2)
    for _ in range(_MAX_SEGMENTS * 4):
        marker = fh.read(2)
        while len(marker) == 2 and marker == b"\xff\xff":
            marker = marker[1:] + fh.read(1)
        if len(marker) < 2:
            return -1
        if marker[0] != 0xFF or marker[1] == 0xD9:
            return -1 if _padding_to_the_end(fh, marker) else None
        if 0xD0 <= marker[1] <= 0xD7 or marker[1] == 0x01:
            continue
        head = fh.read(2)
        if len(head) < 2:
            return -1
        length = int.from_bytes(head, "big")
        if length < 2:
            return -1 if _padding_to_the_end(fh, head) else None
        here = fh.seek(length - 2, io.SEEK_CUR)
        if marker[1] == 0xDA:
            return here
    return None


def _padding_to_the_end(fh: SeekableFile, read: bytes) -> bool:
    """Whether ``read`` and the rest of the file are padding alone (read up to the first
    byte that is not, or `_MOST_READ`)."""
    if read.strip(_PADDING):
        return False
    done = 0
    while done < _MOST_READ and (piece := fh.read(TAIL_BYTES)):
        if piece.strip(_PADDING):
            return False
        done += len(piece)
    return done < _MOST_READ


def read_capture(fh: SeekableFile, mtime: float, name: str) -> Capture:
    """Capture time of the open file `fh`; `name` is used in warnings only. What its bytes
    hold, however damaged, is a warning; a read of them that fails raises OSError (a seek
    its own offsets put before its start, EINVAL, is the bytes', a warning)."""
    problems: list[str] = []
    tags: dict
    try:
        container = read_raw(fh)
        if container is None:
            if cut_short(fh):
                problems.append(CUT_SHORT)
            elif past := raw_cut_short(fh):
                problems.append(RAW_CUT_SHORT.format(what=past))
            tags = _read_tags(fh)
        else:
            if container.format in ("CR3", "HEIF") and (past := raw_cut_short(fh)):
                problems.append(RAW_CUT_SHORT.format(what=past))
            tags = container.tags
            if container.problem and container.format == "HEIF" and not tags:
                tags = _read_tags(fh)  # exifread's HEIF walker, as before our own reader
            if container.problem:  # a time exifread then finds in a damaged HEIF is said
                problems.append(container.problem)
    except Exception as exc:  # exifread raises anything on damaged files
        if isinstance(exc, OSError) and exc.errno != errno.EINVAL:
            raise  # the card failed to read, not the file's bytes to parse: it is held
        tags = {}
        said = str(exc) if isinstance(exc, MalformedExif | ExifTooLarge) else None
        problems.append(said or f"unreadable EXIF ({type(exc).__name__})")
    make = _interned(_text(tags, "Image Make"))
    model = _interned(_text(tags, "Image Model"))
    for index, (key, source) in enumerate(_TAGS):
        raw = _text(tags, key)
        if raw is None:
            if key in tags and not any(
                later == source and _text(tags, other) for other, later in _TAGS[index + 1 :]
            ):
                problems.append(f"{_label(key)} is blank")
            continue
        when = parse_exif_date(raw)
        if when is None:
            problems.append(f"{_label(key)} {raw!r} is not a date")
            continue
        if _cut_at_the_minute(tags.get(key), raw):
            problems.append(f"{_label(key)} {raw!r} is cut short (the file ends in it)")
            continue
        subsec_tag, offset_tag = _FRACTION_OF[source]
        subsec, offset = _text(tags, subsec_tag), _text(tags, offset_tag)
        warning = None
        if source == "exif:DateTime" and not problems:
            problems.append("no EXIF DateTimeOriginal or DateTimeDigitized")
        if problems:
            warning = f"{name}: {'; '.join(problems)}; using {_label(key)}"
        if source == "exif:DateTime":
            warning = f"{warning}, when the file was last saved, not always when it was taken"
        return Capture(
            captured=when,
            source=source,
            subsec=subsec if subsec and _SUBSEC.match(subsec) else "",
            utc_offset=offset if offset and _OFFSET.match(offset) else None,
            make=make,
            model=model,
            warning=warning,
        )
    problems.append("no EXIF capture time")
    return Capture(
        captured=file_time(mtime),
        source="mtime",
        make=make,
        model=model,
        warning=f"{name}: {'; '.join(problems)}; using the file's modification time",
    )
