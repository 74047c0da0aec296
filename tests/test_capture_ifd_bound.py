"""IFD entry counts exifread would walk past the end of the data, and directories that would
make it read far more than a camera's file: bounded before exifread is asked.

A trial: Pillow's 16-byte ``seek_too_large.tif`` (a count of 65,535 at byte 8) cost 0.26 s,
``hopper_bigtiff.tif`` 0.23 s, Exiv2's ``issue_1830_poc.tiff`` 0.06 s, against tens of
microseconds for a photo. These tests count the work (exifread's field reads, the reads of
the file), never the time."""

from __future__ import annotations

import io
import struct
from datetime import datetime

from exif_bytes import EOI, SOI, app1, segment

from cardingest.card.capture import read_capture

WHEN = b"2021:03:04 05:06:07\x00"
BOGUS = 0xFFFF


def _tiff_counting_past_its_end(count: int = BOGUS) -> bytes:
    """A little-endian TIFF whose IFD0 claims ``count`` entries but holds two (Make, and
    DateTime, whose value lies before the IFD), the file ending right after them."""
    value_at, ifd0 = 8, 8 + len(WHEN)
    entries = struct.pack("<HHI4s", 0x010F, 2, 4, b"Cam\x00")
    entries += struct.pack("<HHII", 0x0132, 2, len(WHEN), value_at)
    return b"II" + struct.pack("<HI", 42, ifd0) + WHEN + struct.pack("<H", count) + entries


class _CountingFile:
    """A file that counts its reads and the bytes they return."""

    def __init__(self, data: bytes) -> None:
        self._fh = io.BytesIO(data)
        self.reads = 0
        self.bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._fh.read(size)
        self.reads += 1
        self.bytes += len(data)
        return data

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


def _says_it_has_datetime_alone(capture_warning: str | None) -> None:
    assert capture_warning is not None
    assert "no EXIF DateTimeOriginal or DateTimeDigitized; using DateTime" in capture_warning


def test_a_tiff_whose_ifd_count_runs_past_its_end_is_read_without_walking_it(
    field_reads: list[int],
) -> None:
    data = _tiff_counting_past_its_end()
    assert len(data) == 8 + 20 + 2 + 24
    fh = _CountingFile(data)
    capture = read_capture(fh, 0.0, "BOGUS.TIF")
    # The entries the file holds are read as before; the 65,533 it does not hold are not.
    assert (capture.captured, capture.source) == (datetime(2021, 3, 4, 5, 6, 7), "exif:DateTime")
    assert capture.make == "Cam"
    _says_it_has_datetime_alone(capture.warning)
    assert len(field_reads) < 100  # was 131,074: two fields of each of 65,535 entries
    assert fh.reads < 400  # was 131,000 and more


def test_a_jpeg_whose_exif_ifd_count_runs_past_its_segment_is_read_without_walking_it(
    field_reads: list[int],
) -> None:
    block = _tiff_counting_past_its_end()
    jpeg = SOI + app1(block) + segment(0xDA, b"\x00" * 8) + b"\x00" * 16 + EOI
    fh = _CountingFile(jpeg)
    capture = read_capture(fh, 0.0, "BOGUS.JPG")
    assert (capture.captured, capture.source) == (datetime(2021, 3, 4, 5, 6, 7), "exif:DateTime")
    _says_it_has_datetime_alone(capture.warning)
    assert len(field_reads) < 100
    assert fh.reads < 400


def test_exifread_reads_the_same_tags_through_the_cut_count() -> None:
    import exifread

    from cardingest.card.ifdbound import bounded_for_exifread

    def tags(fh: object) -> dict[str, tuple[str, str]]:
        read = exifread.process_file(fh, details=False, extract_thumbnail=False)
        return {key: (str(tag), repr(tag.values)) for key, tag in read.items()}

    data = _tiff_counting_past_its_end(count=0x0800)  # small: exifread walks it all here
    whole = tags(io.BytesIO(data))
    plain = io.BytesIO(data)
    bounded = bounded_for_exifread(plain)
    assert bounded is not plain  # the count is cut
    assert tags(bounded) == whole
    assert "Image DateTime" in whole


def _chained_to_one_large_gps_ifd(links: int, gps_entries: int) -> bytes:
    """IFD0 (DateTime, a GPS pointer) and ``links`` IFDs chained after it, each naming one
    GPS IFD of ``gps_entries`` entries: exifread walks that IFD once per link."""
    order = "<"
    head = 8
    when_at = head
    gps_at = when_at + len(WHEN)
    gps = struct.pack(order + "H", gps_entries)
    gps += b"".join(
        struct.pack(order + "HHI4s", 0x0001, 2, 2, b"N\x00\x00\x00") for _ in range(gps_entries)
    )
    gps += b"\x00\x00\x00\x00"
    first = gps_at + len(gps)
    link_size = 2 + 12 * 2 + 4
    body = b""
    for index in range(links):
        at = first + index * link_size
        following = at + link_size if index + 1 < links else 0
        entries = [struct.pack(order + "HHII", 0x8825, 4, 1, gps_at)]
        entries.append(
            struct.pack(order + "HHII", 0x0132, 2, len(WHEN), when_at)
            if index == 0
            else struct.pack(order + "HHI4s", 0x0131, 2, 2, b"x\x00\x00\x00")
        )
        body += (
            struct.pack(order + "H", 2) + b"".join(entries) + struct.pack(order + "I", following)
        )
    return b"II" + struct.pack(order + "HI", 42, first) + WHEN + gps + body


def test_directories_that_would_cost_exifread_more_than_any_camera_file_are_refused(
    field_reads: list[int],
) -> None:
    data = _chained_to_one_large_gps_ifd(links=40, gps_entries=1000)  # 40,000 entries to walk
    capture = read_capture(_CountingFile(data), 1_600_000_000.0, "CHAINED.TIF")
    assert capture.source == "mtime"
    assert capture.warning is not None
    assert "EXIF directories claim over 16,384 entries and values" in capture.warning
    assert capture.warning.endswith("using the file's modification time")
    assert field_reads == []  # exifread is not asked


def test_a_few_chained_directories_are_read_as_before(field_reads: list[int]) -> None:
    data = _chained_to_one_large_gps_ifd(links=3, gps_entries=10)
    capture = read_capture(_CountingFile(data), 0.0, "CHAINED.TIF")
    assert (capture.captured, capture.source) == (datetime(2021, 3, 4, 5, 6, 7), "exif:DateTime")
    assert field_reads  # exifread read it
