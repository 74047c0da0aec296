"""Mutation round on ``card/ifdbound``: what exifread is charged for each structure it walks,
at the edge of `READ_BUDGET`; the view that cuts a count; and directories exifread walks in
ways the bound must follow (or must not), each through exifread itself.

Every file here is built byte by byte (`_tiff`). A structure costs exactly what
`READ_BUDGET`'s definition says: a link of the IFD chain, an entry, or a value exifread reads
one at a time (two for a ratio). Each is put beside ``n`` plain entries so that the block
costs exactly `READ_BUDGET` (read) or one more (refused), in both byte orders."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from clinic_helpers import exiftool, require_exiftool
from exif_bytes import DTD, DTO, EOI, SOI, app1, build, exif_jpeg, segment, text

from cardingest.card.capture import Capture, read_capture
from cardingest.card.ifdbound import READ_BUDGET, ExifTooLarge, bounded_for_exifread

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
DATETIME, GPS, EXIF, INTEROP = 0x0132, 0x8825, 0x8769, 0xA005
WHEN = b"2021:03:04 05:06:07\x00"
Entry = tuple[int, int, int, int | bytes]
"""(tag, type, count, value): an int is the 4-byte value field (an offset), bytes are put
in it as they are."""
PLAIN: Entry = (0x0131, ASCII, 4, b"abc\x00")
"""An entry exifread reads in one go (a short text in the entry): it costs the entry alone."""


def _layout(*counts: int, at: int = 8) -> tuple[list[int], int]:
    """The offsets of IFDs of ``counts`` entries laid one after another from ``at`` (as
    `_tiff` lays them), and where the data after them starts."""
    offsets = []
    for count in counts:
        offsets.append(at)
        at += 2 + 12 * count + 4
    return offsets, at


def _tiff(
    ifds: list[list[Entry]],
    *,
    order: str = "<",
    following: dict[int, int] | None = None,
    data: bytes = b"",
    first: int = 0,
    before: bytes = b"",
) -> bytes:
    """A TIFF block: its header naming ``ifds[first]`` as IFD0, ``before``, the IFDs as
    `_layout` places them from there (IFD ``k``'s next pointer naming IFD ``following[k]``,
    else none), then ``data``."""
    offsets, _ = _layout(*(len(entries) for entries in ifds), at=8 + len(before))
    out = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, offsets[first])
    out += before
    for index, entries in enumerate(ifds):
        out += struct.pack(order + "H", len(entries))
        for tag, kind, count, value in entries:
            field = (
                struct.pack(order + "I", value) if isinstance(value, int) else value.ljust(4, b"\0")
            )
            out += struct.pack(order + "HHI", tag, kind, count) + field
        after = (following or {}).get(index)
        out += struct.pack(order + "I", offsets[after] if after is not None else 0)
    return out + data


Case = Callable[[int, str], bytes]


def _values(kind: int, count: int, tag: int = 0x0102) -> Case:
    """IFD0: ``n`` plain entries and one of ``count`` values of type ``kind``."""

    def case(n: int, order: str) -> bytes:
        _, data_at = _layout(n + 1)
        entry = (tag, kind, count, data_at)
        return _tiff([[PLAIN] * n + [entry]], order=order, data=bytes(8 * count))

    return case


def _plain(n: int, order: str) -> bytes:
    return _tiff([[PLAIN] * n], order=order)


def _chained(n: int, order: str) -> bytes:
    """IFD0 naming an IFD1 of one entry as the next."""
    return _tiff([[PLAIN] * n, [PLAIN]], order=order, following={0: 1})


def _chained_back(n: int, order: str) -> bytes:
    """IFD1 before IFD0 in the file: IFD0's next pointer is the file's last four bytes."""
    return _tiff([[PLAIN], [PLAIN] * n], order=order, following={1: 0}, first=1)


def _chained_to_itself(n: int, order: str) -> bytes:
    """IFD0 naming itself as the next: exifread walks it once."""
    return _tiff([[PLAIN] * n], order=order, following={0: 0})


def _sub_ifd(tag: int, size: int = 30) -> Case:
    """IFD0's pointer (one LONG) to an IFD of ``size`` entries."""

    def case(n: int, order: str) -> bytes:
        (_, sub), _ = _layout(n + 1, size)
        return _tiff([[PLAIN] * n + [(tag, LONG, 1, sub)], [PLAIN] * size], order=order)

    return case


def _in_exif(tag: int, size: int = 30) -> Case:
    """IFD0's pointer to the EXIF IFD, whose one entry points to an IFD of ``size``."""

    def case(n: int, order: str) -> bytes:
        (_, exif, sub), _ = _layout(n + 1, 1, size)
        ifd0 = [PLAIN] * n + [(EXIF, LONG, 1, exif)]
        return _tiff([ifd0, [(tag, LONG, 1, sub)], [PLAIN] * size], order=order)

    return case


def _short_pointer(n: int, order: str, size: int = 30) -> bytes:
    """IFD0's GPS pointer as one SHORT in the entry (its first two bytes in either order)."""
    (sub, _), _ = _layout(size, n + 1)
    pointer = (GPS, SHORT, 1, struct.pack(order + "H", sub))
    return _tiff([[PLAIN] * size, [PLAIN] * n + [pointer]], order=order, first=1)


def _high_short_pointer(n: int, order: str, size: int = 30) -> bytes:
    """IFD0's GPS pointer as one SHORT of 40,008 (past 32,767: unsigned, as exifread reads a
    SHORT), to an IFD after 40,000 bytes of data."""
    (sub, _), _ = _layout(size, n + 1, at=8 + 40_000)
    pointer = (GPS, SHORT, 1, struct.pack(order + "H", sub))
    ifds = [[PLAIN] * size, [PLAIN] * n + [pointer]]
    return _tiff(ifds, order=order, first=1, before=bytes(40_000))


def _byte_pointer(n: int, order: str) -> bytes:
    """IFD0's GPS pointer as one BYTE, to an IFD of three entries (first in the file, so
    its offset fits)."""
    (sub, _), _ = _layout(3, n + 1)
    pointer = (GPS, BYTE, 1, bytes([sub]))
    return _tiff([[PLAIN] * 3, [PLAIN] * n + [pointer]], order=order, first=1)


def _pointer_array(n: int, order: str, size: int = 30) -> bytes:
    """IFD0's GPS pointer as two LONGs in the data: exifread follows the first."""
    (_, sub), data_at = _layout(n + 1, size)
    ifd0 = [PLAIN] * n + [(GPS, LONG, 2, data_at)]
    return _tiff([ifd0, [PLAIN] * size], order=order, data=struct.pack(order + "II", sub, 0))


def _cut_gps(n: int, order: str, size: int = 30) -> bytes:
    """A GPS IFD at the end claiming 65,535 entries, ``size`` of them begun in the data (the
    last cut after seven of its bytes)."""
    (_, sub), _ = _layout(n + 1, size)
    whole = _tiff([[PLAIN] * n + [(GPS, LONG, 1, sub)], [PLAIN] * size], order=order)
    whole = whole[:sub] + struct.pack(order + "H", 0xFFFF) + whole[sub + 2 :]
    return whole[: -4 - 5]


def _pointer(kind: int, count: int, size: int = 30) -> Case:
    """IFD0's GPS pointer of ``count`` values of type ``kind``, its value field the offset
    of an IFD of ``size`` entries: exifread follows only an integer's first value."""

    def case(n: int, order: str) -> bytes:
        (_, sub), _ = _layout(n + 1, size)
        return _tiff([[PLAIN] * n + [(GPS, kind, count, sub)], [PLAIN] * size], order=order)

    return case


def _cut_entry(n: int, order: str) -> bytes:
    """IFD0 claims 65,535 entries; the data ends eight bytes into the last, 999 SHORTs (its
    offset missing, exifread reads them from byte 0)."""
    whole = _tiff([[PLAIN] * n + [(0x0102, SHORT, 999, 0)]], order=order)
    whole = whole[:8] + struct.pack(order + "H", 0xFFFF) + whole[10:]
    return whole[: -4 - 4]


def _looping_back(n: int, order: str) -> bytes:
    """IFD0 naming IFD1 as the next, IFD1 naming IFD0: exifread walks each once."""
    return _tiff([[PLAIN] * n, [PLAIN]], order=order, following={0: 1, 1: 0})


def _array_pointer(kind: int, count: int, size: int = 3) -> Case:
    """IFD0's GPS pointer of ``count`` values of ``kind`` in the data, the first of them the
    offset of an IFD of ``size`` entries (first in the file, so that it fits in a byte)."""

    def case(n: int, order: str) -> bytes:
        (sub, _), data_at = _layout(size, n + 1)
        width = {BYTE: "B", LONG: "I"}[kind]
        values = struct.pack(order + width * count, sub, *[0] * (count - 1))
        ifd0 = [PLAIN] * n + [(GPS, kind, count, data_at)]
        return _tiff([[PLAIN] * size, ifd0], order=order, first=1, data=values)

    return case


def _past_the_end(n: int, order: str) -> bytes:
    """IFD0's GPS pointer to an offset past the end of the data."""
    return _tiff([[PLAIN] * n + [(GPS, LONG, 1, 0x7FFF_0000)]], order=order)


def _ignored_then_values(n: int, order: str) -> bytes:
    """A MakerNote passed over, then 999 SHORTs after it in the same IFD."""
    _, data_at = _layout(n + 2)
    ifd0 = [*[PLAIN] * n, (0x927C, UNDEFINED, 999, data_at), (0x0102, SHORT, 999, data_at)]
    return _tiff([ifd0], order=order, data=bytes(2 * 999))


def _cut_after_count(tag: int, kind: int, count: int) -> Case:
    """IFD0 claims 65,535 entries; the data ends eight bytes into the last (tag, type, count:
    its value field missing, exifread reads it as 0)."""

    def case(n: int, order: str) -> bytes:
        whole = _tiff([[PLAIN] * n + [(tag, kind, count, 0)]], order=order)
        whole = whole[:8] + struct.pack(order + "H", 0xFFFF) + whole[10:]
        return whole[: -4 - 4]

    return case


COSTS: dict[str, tuple[Case, int]] = {
    # name: (the structure beside n plain entries, what it costs besides them)
    "IFD0 alone: one link": (_plain, 1),
    "999 SHORTs: the entry and each value": (_values(SHORT, 999), 2 + 999),
    "999 BYTEs": (_values(BYTE, 999), 2 + 999),
    "999 IFD-type values": (_values(13, 999), 2 + 999),
    "1,000 SHORTs: read at once": (_values(SHORT, 1000), 2),
    "10 RATIONALs: two reads each": (_values(RATIONAL, 10), 2 + 20),
    "10 SRATIONALs": (_values(SRATIONAL, 10), 2 + 20),
    "999 ASCII: one read": (_values(ASCII, 999), 2),
    "MakerNote: passed over": (_values(UNDEFINED, 999, 0x927C), 2),
    "XMP: passed over": (_values(BYTE, 999, 0x02BC), 2),
    "UserComment: passed over": (_values(UNDEFINED, 999, 0x9286), 2),
    "type 0: passed over": (_values(0, 999), 2),
    "type 14: passed over": (_values(14, 999), 2),
    "a chained IFD": (_chained, 1 + 2),
    "a chained IFD before IFD0": (_chained_back, 1 + 2),
    "IFD0 chained to itself": (_chained_to_itself, 1),
    "a GPS IFD": (_sub_ifd(GPS), 3 + 30),
    "an Interoperability IFD": (_sub_ifd(INTEROP), 3 + 30),
    "the EXIF IFD": (_sub_ifd(EXIF), 3 + 30),
    "the EXIF IFD's GPS IFD": (_in_exif(GPS), 3 + 2 + 30),
    "the EXIF IFD's Interoperability IFD": (_in_exif(INTEROP), 3 + 2 + 30),
    "a GPS pointer in a SHORT": (_short_pointer, 3 + 30),
    "a GPS pointer in a BYTE": (_byte_pointer, 3 + 3),
    "a GPS pointer in a SHORT past 32,767": (_high_short_pointer, 3 + 30),
    "a GPS pointer in an array": (_pointer_array, 4 + 30),
    "a GPS IFD cut by the end": (_cut_gps, 3 + 30),
    "a GPS pointer of type IFD": (_pointer(13, 1), 3 + 30),
    "a GPS pointer of no values: not followed": (_pointer(LONG, 0), 2),
    "a GPS pointer in a FLOAT: not followed": (_pointer(11, 1), 3),
    "an entry cut after its count: its values": (_cut_entry, 2 + 999),
    "a MakerNote cut after its count: passed over": (_cut_after_count(0x927C, UNDEFINED, 999), 2),
    "a GPS pointer array cut after its count: read at 0": (_cut_after_count(GPS, LONG, 2), 4),
    "a chain looping back to IFD0": (_looping_back, 1 + 2),
    "a GPS pointer in 5 BYTEs: the first in the data": (_array_pointer(BYTE, 5), 2 + 5 + 3),
    "a GPS pointer in 1,000 LONGs: not followed": (_array_pointer(LONG, 1000), 2),
    "a GPS pointer past the end": (_past_the_end, 3),
    "a MakerNote, then 999 SHORTs": (_ignored_then_values, 3 + 999),
}


def _refused(data: bytes) -> bool:
    try:
        bounded_for_exifread(io.BytesIO(data))
    except ExifTooLarge:
        return True
    return False


@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
@pytest.mark.parametrize("name", list(COSTS))
def test_each_structure_costs_what_exifread_reads_of_it(name: str, order: str) -> None:
    case, cost = COSTS[name]
    n = READ_BUDGET - cost
    assert not _refused(case(n, order))  # exactly the budget
    assert _refused(case(n + 1, order))  # one read more


def _dated(ifd0: list[Entry], others: list[list[Entry]], order: str = "<", **kw: int) -> bytes:
    """IFD0 with DateTime (its value after the IFDs) and ``ifd0``'s entries, then ``others``."""
    _, data_at = _layout(len(ifd0) + 1, *(len(entries) for entries in others))
    dated = [(DATETIME, ASCII, len(WHEN), data_at), *ifd0]
    return _tiff([dated, *others], order=order, data=WHEN, **kw)  # type: ignore[arg-type]


def _read_datetime(data: bytes) -> None:
    capture = read_capture(io.BytesIO(data), 0.0, "IMG.TIF")
    assert (capture.captured, capture.source) == (datetime(2021, 3, 4, 5, 6, 7), "exif:DateTime")


@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
@pytest.mark.parametrize("cut", [0, 1, 11, 12])
def test_a_count_past_the_end_is_shown_cut_to_the_entries_begun(order: str, cut: int) -> None:
    """IFD0 claims 65,535 entries; the data ends ``cut`` bytes into its fourth (0: after the
    third): exifread is shown 3 (or 4) at the count's two bytes, every other read as it is."""
    ifd0 = [PLAIN] * 5
    whole = _tiff([ifd0], order=order)
    whole = whole[:8] + struct.pack(order + "H", 0xFFFF) + whole[10:]
    data = whole[: 8 + 2 + 12 * 3 + cut]
    view = bounded_for_exifread(io.BytesIO(data))
    assert view.tell() == 0
    view.seek(8)
    assert view.read(2) == struct.pack(order + "H", 4 if cut else 3)
    view.seek(8)
    assert view.read(4) == data[8:12]  # not a count's read
    view.seek(10)
    assert view.read(2) == data[10:12]
    assert view.seek(-2, io.SEEK_END) == len(data) - 2
    assert view.read() == data[-2:]


@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
def test_a_block_whose_counts_fit_is_given_back_as_it_is_at_its_start(order: str) -> None:
    fh = io.BytesIO(_dated([], [], order=order))
    fh.seek(5)
    assert bounded_for_exifread(fh) is fh
    assert fh.tell() == 0


def test_a_block_naming_no_ifd0_is_given_back_as_it_is() -> None:
    fh = io.BytesIO(b"II*\x00\x00\x00\x00\x00" + bytes(16))
    assert bounded_for_exifread(fh) is fh
    capture = read_capture(io.BytesIO(fh.getvalue()), 0.0, "EMPTY.TIF")
    assert capture.source == "mtime"
    assert capture.warning == "EMPTY.TIF: no EXIF capture time; using the file's modification time"


def test_the_bound_reads_a_table_at_once_not_entry_by_entry() -> None:
    """A 1,000-entry IFD (12 KB) costs the bound a few reads of the file, not four an entry."""
    counting = _CountingFile(_tiff([[PLAIN] * 1000]))
    assert bounded_for_exifread(counting) is counting
    assert counting.reads < 20


class _CountingFile:
    def __init__(self, data: bytes) -> None:
        self._fh = io.BytesIO(data)
        self.reads = 0

    def read(self, size: int = -1, /) -> bytes:
        self.reads += 1
        return self._fh.read(size)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


def test_a_block_that_is_no_tiff_is_given_back_at_its_start() -> None:
    fh = io.BytesIO(b"\xff\xd8\xff\xe1" + bytes(64))
    fh.seek(7)
    assert bounded_for_exifread(fh) is fh
    assert fh.tell() == 0


@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
def test_exifread_reads_the_same_tags_through_a_cut_gps_ifd(order: str) -> None:
    import exifread

    def tags(fh: object) -> dict[str, tuple[str, str]]:
        read = exifread.process_file(fh, details=False, extract_thumbnail=False)
        return {key: (str(tag), repr(tag.values)) for key, tag in read.items()}

    gps = [(0x0001, ASCII, 2, b"N\x00"), (0x0002, RATIONAL, 3, 8)]
    (_, at), _ = _layout(2, len(gps))
    data = _dated([(GPS, LONG, 1, at)], [gps], order=order)
    data = data[:at] + struct.pack(order + "H", 0x0800) + data[at + 2 : at + 2 + 12 * 2]
    bounded = bounded_for_exifread(io.BytesIO(data))
    assert not isinstance(bounded, io.BytesIO)  # the GPS count is cut
    assert tags(bounded) == tags(io.BytesIO(data))
    assert "GPS GPSLatitudeRef" in tags(bounded)


@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
@pytest.mark.parametrize("tag", [GPS, EXIF], ids=["GPS", "EXIF"])
def test_a_pointer_to_the_header_is_walked_cut_to_the_data(
    tag: int, order: str, field_reads: list[int]
) -> None:
    """An IFD at byte 0 has the byte-order mark as its count (18,761 or 19,789 entries):
    exiftool says "Bad GPS directory" (or ExifIFD) and reads IFD0's DateTime; exifread is
    shown the count cut to the two entries' worth of data there."""
    _read_datetime(_dated([(tag, LONG, 1, 0)], [], order=order))
    assert len(field_reads) < 100  # was 37,000 and more


def test_a_gps_ifd_naming_itself_is_walked_once(field_reads: list[int]) -> None:
    """exifread follows no GPS pointer in a GPS IFD (its tags are GPS tags there)."""
    (_, gps), _ = _layout(2, 2)
    loop = [(0x0001, ASCII, 2, b"N\x00"), (GPS, LONG, 1, gps)]
    _read_datetime(_dated([(GPS, LONG, 1, gps)], [loop]))
    assert len(field_reads) < 100


def _huge(count: int = READ_BUDGET) -> list[Entry]:
    return [PLAIN] * count


def test_the_thumbnail_ifds_exif_pointer_is_not_followed() -> None:
    """exifread walks the EXIF IFD that IFD0 names ("Image ExifOffset"), not one IFD1 names
    ("Thumbnail ExifOffset"): a large IFD only IFD1 names costs nothing."""
    (_, ifd1, big), _ = _layout(1, 1, READ_BUDGET)
    _read_datetime(_dated([], [[(EXIF, LONG, 1, big)], _huge()], following={0: 1}))
    assert ifd1  # the layout: IFD0, IFD1, the large IFD


@pytest.mark.parametrize("large_first", [True, False])
def test_of_two_exif_pointers_in_ifd0_the_last_is_walked(large_first: bool) -> None:
    """exifread keeps the last "Image ExifOffset" it reads; the bound follows that one."""
    (_, small, big), _ = _layout(3, 1, READ_BUDGET)
    first, last = (big, small) if large_first else (small, big)
    data = _dated([(EXIF, LONG, 1, first), (EXIF, LONG, 1, last)], [[PLAIN], _huge()])
    if large_first:
        _read_datetime(data)
    else:
        assert _refused(data)


def test_a_refused_block_says_why_and_takes_the_file_time() -> None:
    data = _dated([], [_huge()], following={0: 1})
    capture = read_capture(io.BytesIO(data), 1_600_000_000.0, "BIG.TIF")
    assert capture.source == "mtime"
    assert capture.warning == (
        "BIG.TIF: EXIF directories claim over 16,384 entries and values (no camera writes "
        "that many): not read; no EXIF capture time; using the file's modification time"
    )


# capture: the Exif segments with no byte order, and the bound's second walk


def _jpeg(tmp_path: Path, *blocks: bytes) -> Path:
    """A JPEG of these Exif segments, its tables after them (the walk stops short of the
    image: exifread would be asked of the whole file if no segment gave a tag)."""
    path = tmp_path / "IMG_0001.JPG"
    tables = segment(0xDB, b"\0" + bytes(64))
    path.write_bytes(SOI + b"".join(app1(block) for block in blocks) + tables + EOI)
    return path


def _capture(path: Path) -> Capture:
    with open(path, "rb") as fh:
        return read_capture(fh, 0.0, path.name)


_TAKEN = b"2024:05:01 10:00:00\x00"
_SAVED = b"2020:01:01 00:00:00\x00"


def _no_byte_order(order: str = ">") -> bytes:
    return (
        b"\xff\xff"
        + build(order, [text(0x0132, _SAVED)], [text(DTO, b"2019:02:02 00:00:00\0")])[2:]
    )


@pytest.mark.parametrize("first", [True, False])
def test_a_segment_with_no_byte_order_beside_a_good_one_gives_the_good_ones_time(
    tmp_path: Path, first: bool
) -> None:
    good = build("<", [text(0x0132, _SAVED)], [text(DTO, _TAKEN)])
    path = _jpeg(tmp_path, *([_no_byte_order(), good] if first else [good, _no_byte_order()]))
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", path)
    assert seen["DateTimeOriginal"] == "2024:05:01 10:00:00"
    capture = _capture(path)
    assert (capture.captured, capture.source) == (
        datetime(2024, 5, 1, 10, 0, 0),
        "exif:DateTimeOriginal",
    )


def test_a_segment_holding_a_jpeg_where_its_tiff_header_should_be_gives_no_time(
    tmp_path: Path,
) -> None:
    """``FF D8`` where ``II`` or ``MM`` should be: exiftool reads no EXIF from the segment;
    exifread, given the block, would read it as the JPEG it starts like, and its time."""
    path = _jpeg(tmp_path, exif_jpeg("2024:05:01 10:00:00"))
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", "-ModifyDate", path)
    assert "DateTimeOriginal" not in seen and "ModifyDate" not in seen, seen
    capture = _capture(path)
    assert capture.source == "mtime", capture
    assert capture.warning is not None and "malformed Exif segment (byte order FF D8" in (
        capture.warning
    )


def _too_large() -> bytes:
    """A TIFF block exifread would read 17 × 1,000 values of (no date in IFD0: the quick
    reader finds nothing, so exifread is asked)."""
    entries = 17
    _, data_at = _layout(entries)
    ifd0: list[Entry] = [(0x0102, SHORT, 999, data_at)] * entries
    return _tiff([ifd0], data=bytes(2 * 999))


@pytest.mark.parametrize("malformed_first", [True, False])
def test_of_two_damaged_segments_the_first_is_said(tmp_path: Path, malformed_first: bool) -> None:
    blocks = [_no_byte_order(), _too_large()]
    path = _jpeg(tmp_path, *(blocks if malformed_first else blocks[::-1]))
    capture = _capture(path)
    assert capture.source == "mtime"
    assert capture.warning is not None
    said = "malformed Exif segment" if malformed_first else "EXIF directories claim over"
    unsaid = "EXIF directories claim over" if malformed_first else "malformed Exif segment"
    assert said in capture.warning and unsaid not in capture.warning, capture.warning


def test_the_second_walk_of_a_block_with_no_date_time_original_is_bounded_too(
    tmp_path: Path, field_reads: list[int]
) -> None:
    """exifread stops at SubSecTimeDigitized and, where it found no DateTimeOriginal before
    it, walks the block again whole: that walk too is shown the GPS IFD's count cut (it
    claims 65,535 entries, one in the data; exiftool: "Bad GPS directory")."""
    taken = b"2024:05:01 10:00:00\x00"
    (_, exif, gps), _ = _layout(3, 2, 1, at=8 + len(_SAVED + taken))
    ifd0: list[Entry] = [
        (0x0132, ASCII, len(_SAVED), 8),
        (EXIF, LONG, 1, exif),
        (GPS, LONG, 1, gps),
    ]
    exif_ifd: list[Entry] = [(DTD, ASCII, len(taken), 8 + len(_SAVED)), (0x9292, ASCII, 3, b"42")]
    gps_ifd: list[Entry] = [(0x0001, ASCII, 2, b"N")]
    data = _tiff([ifd0, exif_ifd, gps_ifd], before=_SAVED + taken)
    data = data[:gps] + struct.pack("<H", 0xFFFF) + data[gps + 2 : -4]  # its next pointer gone
    path = tmp_path / "IMG_0002.TIF"
    path.write_bytes(data)
    require_exiftool()
    [seen] = exiftool("-CreateDate", "-SubSecCreateDate", path)
    assert seen.get("CreateDate") == "2024:05:01 10:00:00", seen
    capture = _capture(path)
    assert (capture.captured, capture.source, capture.subsec) == (
        datetime(2024, 5, 1, 10, 0, 0),
        "exif:DateTimeDigitized",
        "42",
    )
    assert len(field_reads) < 200  # an unbounded second walk: 131,000 and more
