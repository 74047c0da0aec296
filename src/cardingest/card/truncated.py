"""Whether a TIFF-based RAW (CR2, NEF, ARW, DNG, ORF, RW2, ...) or an ISO file (CR3, HEIF)
ends before what its own header says it holds: written while the card was pulled.

`capture.cut_short` does this for a JPEG. A RAW cut short was archived with no word, and
wiped from the card, while the patient could still have been photographed again (a trial).
Only what the header states is compared with the file's size: image data (strips, tiles,
the preview) or a top-level box past the end, or a first directory the file does not hold.
A later directory's pointer, numbers that lie past the end, and bytes after the last box
(padding, a phone's trailer) are not judged: a warning about a good photo of a camera not
seen would teach people to ignore the warning. A CR3 or HEIF costs a read of each top-level
box's header (two or three, outside the head the scan reads).
"""

from __future__ import annotations

import io
import struct

from .kinds import RAW_TIFF_STARTS
from .raw import SeekableFile

CUT_SHORT = (
    "the file is cut short (its {what} goes past its end: written while the card was pulled "
    "or the battery ran out?); it is copied as it is: check the photo"
)
_TIFF_MAGIC = {magic: "<" if magic.startswith(b"II") else ">" for magic in RAW_TIFF_STARTS}
_STRIPS = ((0x111, 0x117), (0x144, 0x145))
"""(offsets, byte counts) tag pairs: strips and tiles."""
_THUMBNAIL = (0x201, 0x202)
_SUB_IFDS = 0x14A
_SIZES = {3: 2, 4: 4, 13: 4}
_READ = frozenset({*(tag for pair in (*_STRIPS, _THUMBNAIL) for tag in pair), _SUB_IFDS})
_MOST_IFDS = 32
_MOST_ENTRIES = 1000
_MOST_VALUES = 1 << 16


def raw_cut_short(fh: SeekableFile) -> str | None:
    """What of a TIFF-based or ISO file lies past its end, or None (whole, or another kind)."""
    fh.seek(0)
    head = fh.read(12)
    end = fh.seek(0, io.SEEK_END)
    try:
        if head[:4] in _TIFF_MAGIC:
            return _tiff_past(fh, _TIFF_MAGIC[head[:4]], head, end)
        if head[4:8] == b"ftyp":
            return _boxes_past(fh, end)
    except struct.error:
        return None
    return None


def _tiff_past(fh: SeekableFile, order: str, head: bytes, end: int) -> str | None:
    first = struct.unpack(order + "I", head[4:8])[0]
    queue = [first]
    seen: set[int] = set()
    while queue and len(seen) < _MOST_IFDS:
        at = queue.pop()
        if at in seen or at < 8:
            continue
        seen.add(at)
        if at + 2 > end:
            if at == first:
                return "image directory"
            continue  # a later directory's pointer: some cameras write bad ones
        fh.seek(at)
        (count,) = struct.unpack(order + "H", fh.read(2))
        if not 0 < count <= _MOST_ENTRIES:
            continue
        block = fh.read(12 * count + 4)
        if len(block) < 12 * count + 4:
            if at == first:
                return "image directory"
            continue  # a later pointer into the last bytes: the others are still judged
        values: dict[int, list[int]] = {}
        for n in range(count):
            tag, kind, many, inline = struct.unpack(order + "HHI4s", block[12 * n : 12 * n + 12])
            if tag in _READ and kind in _SIZES and 0 < many <= _MOST_VALUES:
                read = _values(fh, order, kind, many, inline, end)
                if read is not None:  # numbers past the end: not judged
                    values[tag] = read
        next_at = struct.unpack(order + "I", block[-4:])[0]
        queue.extend([next_at, *values.get(_SUB_IFDS, [])])
        for offsets, counts in (*_STRIPS, _THUMBNAIL):
            starts, lengths = values.get(offsets, []), values.get(counts, [])
            if len(starts) == len(lengths) and any(
                s + n > end for s, n in zip(starts, lengths, strict=True) if n
            ):
                return "image data" if offsets != _THUMBNAIL[0] else "preview"
    return None


def _values(
    fh: SeekableFile, order: str, kind: int, many: int, inline: bytes, end: int
) -> list[int] | None:
    """An entry's numbers; None where they lie past the file's end."""
    size = _SIZES[kind]
    code = order + ("H" if size == 2 else "I") * many
    if size * many <= 4:
        return list(struct.unpack(code, inline[: size * many]))
    (at,) = struct.unpack(order + "I", inline)
    if at + size * many > end:
        return None
    fh.seek(at)
    return list(struct.unpack(code, fh.read(size * many)))


def _boxes_past(fh: SeekableFile, end: int) -> str | None:
    """The top-level box (`mdat`, the image data, most often) that goes past the end."""
    at = 0
    for _ in range(10_000):
        if at >= end:
            return None
        fh.seek(at)
        header = fh.read(16)
        if len(header) < 8:
            return None  # bytes after the last box: not judged
        size, name = struct.unpack(">I4s", header[:8])
        if not all(32 <= c < 127 for c in name):
            return None  # bytes after the last box (padding, a phone's trailer): not judged
        if size == 1:  # a 64-bit size follows
            if len(header) < 16:
                return f"'{name.decode('ascii').strip()}' box"
            size = struct.unpack(">Q", header[8:16])[0]
        elif size == 0:
            return None  # to the end of the file
        if size < 8:
            return None
        if at + size > end:
            return f"'{name.decode('ascii').strip()}' box"
        at += size
    return None
