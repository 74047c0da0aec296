"""A bound on the work exifread does on a TIFF block, checked before exifread is asked.

exifread walks every entry an IFD's count claims, up to 65,535, with a seek and a read for
each of its fields, also where the count runs past the end of the data: there every read
comes back empty, and the entry gives exifread nothing. Pillow's 16-byte
``seek_too_large.tif`` (a count of 65,535 at byte 8) cost a quarter of a second that way,
against tens of microseconds for a photo. exifread also walks each IFD as often as one is
named: a chain of small IFDs each naming one large GPS IFD costs that IFD's entries once per
link, and an array of under 1,000 values is read one value at a time.

`bounded_for_exifread` walks the directories exifread will walk (IFD0 and the chain after
it, the EXIF IFD that IFD0 names, the GPS and Interoperability IFDs any of these name),
reading their tables only, and

- shows exifread an IFD whose table runs past the end of the data with the count of the
  entries that start before the end: the others gave exifread nothing (every read of them
  came back empty), and the next-IFD pointer after the last is still past the end (none), so
  the tags exifread reads are the same ones;
- refuses the block (`ExifTooLarge`) when the entries and the array values exifread would
  read come to more than `READ_BUDGET`: tens of times what a camera's file holds.

exiftool reads no entry of an IFD whose table runs past the end ("Bad IFD0 directory"); the
entries there are read as before, so no time read before changes."""

from __future__ import annotations

import io
import struct
from typing import Literal

from .raw import SeekableFile

READ_BUDGET = 16_384
"""Entries, links and array values exifread may read in one TIFF block. A camera's file needs
a few hundred, and no file of a 332-block corpus of camera files and parsers' test and crash
files needed over 4,200 (once counts are cut to the data); exifread reads them at about
250,000 a second, so a refused file has cost a few tens of milliseconds at most."""

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
"""exifread's field types and their sizes; an entry of any other type is passed over."""
_INTEGERS = frozenset({1, 3, 4, 6, 7, 8, 9, 13})
_SIGNED = frozenset({6, 8, 9})
_ASCII = 2
_RATIOS = frozenset({5, 10})
_IGNORED = frozenset({0x02BC, 0x927C, 0x9286})
"""Tags exifread passes over without reading their values (XMP, MakerNote, UserComment)."""
_SUB_IFDS = frozenset({0x8825, 0xA005})
"""GPS and Interoperability IFD pointers, which exifread follows wherever its EXIF tag table
is in use (IFD0, the IFDs chained after it, the EXIF IFD)."""
_EXIF_POINTER = 0x8769
_PER_VALUE_LIMIT = 1000
"""exifread reads the values of an entry with fewer than this many one at a time."""


class ExifTooLarge(ValueError):
    """A TIFF block whose IFDs would make exifread read more than `READ_BUDGET` entries,
    links and values: crafted (or damaged) to cost time; no camera writes that much."""

    def __init__(self) -> None:
        super().__init__(
            f"EXIF directories claim over {READ_BUDGET:,} entries and values (no camera "
            "writes that many): not read"
        )


class _Walk:
    """exifread's walk of one TIFF block, its reads counted, every field read as exifread's
    ``s2n`` reads it (0 where the data ends before the field does)."""

    def __init__(self, fh: SeekableFile, size: int, order: str) -> None:
        self._fh = fh
        self._size = size
        self._byteorder: Literal["little", "big"] = "little" if order == "<" else "big"
        self._entry = struct.Struct(order + "HHII")
        self.reads = 0
        self.clipped: dict[int, int] = {}

    def _charge(self, reads: int) -> None:
        self.reads += reads
        if self.reads > READ_BUDGET:
            raise ExifTooLarge()

    def field(self, offset: int, length: int, signed: bool = False) -> int:
        if offset < 0 or offset + length > self._size:
            return 0
        self._fh.seek(offset)
        data = self._fh.read(length)
        if len(data) != length:
            return 0
        return int.from_bytes(data, self._byteorder, signed=signed)

    def held(self, ifd: int) -> int:
        """How many of the IFD's entries start before the end of the data; the count shown
        to exifread is cut to them where it claims more."""
        count = self.field(ifd, 2)
        if ifd + 2 + 12 * count <= self._size:
            return count
        held = max(0, -(-(self._size - ifd - 2) // 12))
        if held < count:
            self.clipped[ifd] = held
        return held

    def chain(self) -> list[int]:
        """IFD0 and the IFDs chained after it, as exifread's ``list_ifd`` finds them."""
        ifds: list[int] = []
        seen: set[int] = set()
        ifd = self.field(4, 4)
        while ifd and ifd not in seen:
            self._charge(1)
            seen.add(ifd)
            ifds.append(ifd)
            following = self.field(ifd + 2 + 12 * self.field(ifd, 2), 4)
            ifd = 0 if following == ifd else following
        return ifds

    def dump(self, ifd: int, *, follows: bool) -> int | None:
        """Count the reads exifread's ``dump_ifd`` makes of the IFD at ``ifd``, following the
        GPS and Interoperability pointers as it does where ``follows``; the EXIF IFD pointer
        exifread takes from it (the last entry's, where there are two), if any."""
        held = self.held(ifd)
        self._charge(held)
        self._fh.seek(ifd + 2)
        table = self._fh.read(12 * held)  # the table in one read, not four reads an entry
        exif: int | None = None
        for index in range(held):
            entry = ifd + 2 + 12 * index
            if 12 * index + 12 <= len(table):
                tag, kind, count, pointer = self._entry.unpack_from(table, 12 * index)
            else:  # the last entry, cut by the end: each field as exifread reads it
                tag, kind = self.field(entry, 2), self.field(entry + 2, 2)
                count, pointer = self.field(entry + 4, 4), self.field(entry + 8, 4)
            if tag in _IGNORED or kind not in _TYPE_SIZES:
                continue
            size = _TYPE_SIZES[kind]
            if kind != _ASCII and count < _PER_VALUE_LIMIT:
                self._charge(count * (2 if kind in _RATIOS else 1))
            wanted = tag == _EXIF_POINTER or (follows and tag in _SUB_IFDS)
            if not wanted or kind not in _INTEGERS or not 0 < count < _PER_VALUE_LIMIT:
                continue  # no first value exifread could follow as an offset
            where = entry + 8 if count * size <= 4 else pointer
            first = self.field(where, size, signed=kind in _SIGNED)
            if tag == _EXIF_POINTER:
                exif = first
            elif first >= 0:
                self.dump(first, follows=False)
        return exif


def bounded_for_exifread(fh: SeekableFile) -> SeekableFile:
    """``fh``, a TIFF block at its start (a TIFF-based file, a JPEG's Exif segment), as
    exifread may be given it: itself, or a view that shows the IFDs that run past the end
    cut to the entries there. Raises `ExifTooLarge` for a block that would cost exifread
    more than `READ_BUDGET` reads. The position is left at the start."""
    size = fh.seek(0, io.SEEK_END)
    fh.seek(0)
    head = fh.read(2)
    if head not in (b"II", b"MM"):
        fh.seek(0)
        return fh  # not a TIFF block at byte 0: exifread finds its own way in
    walk = _Walk(fh, size, "<" if head == b"II" else ">")
    exif_ifd: int | None = None
    for position, ifd in enumerate(walk.chain()):
        found = walk.dump(ifd, follows=True)
        if position == 0:
            exif_ifd = found  # exifread's "Image ExifOffset": IFD0's alone
    if exif_ifd is not None and exif_ifd >= 0:
        walk.dump(exif_ifd, follows=True)
    fh.seek(0)
    if not walk.clipped:
        return fh
    order: Literal["little", "big"] = "little" if head == b"II" else "big"
    counts = {ifd: held.to_bytes(2, order) for ifd, held in walk.clipped.items()}
    return _ClippedCounts(fh, counts)


class _ClippedCounts:
    """``fh`` with the 2-byte entry count of each IFD in ``counts`` read as the count there
    (exifread reads a count as 2 bytes at the IFD's offset); every other read as it is."""

    def __init__(self, fh: SeekableFile, counts: dict[int, bytes]) -> None:
        self._fh = fh
        self._counts = counts

    def read(self, size: int = -1, /) -> bytes:
        at = self._fh.tell()
        data = self._fh.read(size)
        if size == 2 and len(data) == 2 and at in self._counts:
            return self._counts[at]
        return data

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()
