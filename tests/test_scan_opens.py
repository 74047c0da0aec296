"""The scan opens each card file once, ahead of reading it, and reads it by position.

What the card does between the listing and the open (a FIFO or a link swapped in, a file
gone) is held with its reason, never followed, never waited for; no descriptor outlives the
scan, however it ends.
"""

from __future__ import annotations

import os
import struct
from datetime import datetime
from pathlib import Path

import pytest

from cardingest.card import scan as scan_module
from cardingest.card.scan import HEAD_BYTES, PREFETCH_FILES, read_file, scan
from cardingest.storage import positional


def exif_jpeg(when: str, *, padding: int = 0) -> bytes:
    """A JPEG whose APP1 Exif block holds DateTimeOriginal, after ``padding`` bytes of APP2s."""
    value = when.encode() + b"\x00"
    exif_ifd = 8 + 2 + 12 + 4
    tiff = b"II*\x00" + struct.pack("<I", 8)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_ifd) + b"\0" * 4
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x9003, 2, len(value), exif_ifd + 18)
    tiff += b"\0" * 4 + value
    app1 = b"Exif\x00\x00" + tiff
    filler = b""
    while len(filler) < padding:
        chunk = b"\0" * min(65533, padding - len(filler))
        filler += b"\xff\xe2" + struct.pack(">H", len(chunk) + 2) + chunk
    return (
        b"\xff\xd8" + filler + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + b"\xff\xd9"
    )


def card(tmp_path: Path, count: int) -> list[Path]:
    folder = tmp_path / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    paths = []
    for n in range(1, count + 1):
        path = folder / f"IMG_{n:04d}.JPG"
        path.write_bytes(exif_jpeg(f"2026:01:02 03:04:{n % 60:02d}"))
        paths.append(path)
    return paths


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_capture_time_beyond_the_first_read_is_found(tmp_path: Path) -> None:
    """Most capture times lie in the file's first HEAD_BYTES; one further in is read too."""
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(exif_jpeg("2026:01:02 03:04:05", padding=HEAD_BYTES + 1000))
    assert path.stat().st_size > HEAD_BYTES + 1000
    record = read_file(path, path.name, path.stat().st_size, path.stat().st_mtime)
    assert (record.captured, record.time_source) == (
        datetime(2026, 1, 2, 3, 4, 5),
        "exif:DateTimeOriginal",
    )


def test_what_is_swapped_in_after_the_listing_is_held_not_followed(tmp_path: Path) -> None:
    """The files PREFETCH_FILES ahead are opened while the first is read: swap some of those
    still unopened for a FIFO and links to a real photo. None may hang the scan or be read;
    each is held, as is one that vanished, and a link removed after its open failed."""
    paths = card(tmp_path, PREFETCH_FILES + 5)  # the first PREFETCH_FILES + 1 open at once
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(exif_jpeg("2001:01:01 01:01:01"))
    fifo, link, gone = paths[-3], paths[-2], paths[-1]
    brief = paths[-4]

    def swap(relpath: str) -> None:
        if relpath.endswith("IMG_0001.JPG"):
            for path in (fifo, link, gone, brief):
                path.unlink()
            os.mkfifo(fifo)
            link.symlink_to(outside)
            brief.symlink_to(outside)
        elif relpath.endswith(brief.name):
            brief.unlink()  # its open failed (a link); now it is gone as well

    records = {Path(m.path).name: m for m in scan(tmp_path, on_file=swap)}
    assert len(records) == len(paths)
    for path in (fifo, link, gone, brief):
        record = records[path.name]
        assert record.unreadable and record.warning, path.name
        assert record.captured != datetime(2001, 1, 1, 1, 1, 1)
    assert "no longer a regular file" in records[fifo.name].warning
    assert "cannot be read" in records[link.name].warning
    assert "listed on the card but cannot be read" in records[gone.name].warning
    assert "listed on the card but cannot be read" in records[brief.name].warning
    readable = [m for m in records.values() if not m.unreadable]
    assert len(readable) == len(paths) - 4
    assert all(m.time_source == "exif:DateTimeOriginal" for m in readable)


@pytest.mark.parametrize("taken", [1, 5, PREFETCH_FILES + 3])
def test_no_descriptor_outlives_the_scan(tmp_path: Path, taken: int) -> None:
    """Whether the scan is read to its end or left after ``taken`` records."""
    paths = card(tmp_path, PREFETCH_FILES + 3)
    before = open_descriptors()
    found = scan(tmp_path)
    records = [next(found) for _ in range(taken)] if taken < len(paths) else list(found)
    assert len(records) == taken
    if taken < len(paths):
        assert len(open_descriptors() - before) >= min(PREFETCH_FILES, len(paths) - taken)
        found.close()
    assert open_descriptors() == before


def test_each_file_is_opened_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = card(tmp_path, 5)
    opened: list[str] = []
    real_open = os.open

    def counting_open(path: str, flags: int, *args: int) -> int:
        opened.append(os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(scan_module.os, "open", counting_open)
    records = list(scan(tmp_path))
    assert [m.time_source for m in records] == ["exif:DateTimeOriginal"] * 5
    assert sorted(opened) == sorted(str(p) for p in paths)


def test_a_progress_callback_that_raises_leaves_no_descriptor_open(tmp_path: Path) -> None:
    """Ctrl-C arrives in the progress callback: the file just handed over is closed too."""
    card(tmp_path, 3)
    before = open_descriptors()

    def interrupted(_relpath: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(scan(tmp_path, on_file=interrupted))
    assert open_descriptors() == before


@pytest.mark.parametrize("without_pread", [False, True])
def test_short_reads_are_not_the_end_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, without_pread: bool
) -> None:
    """A FUSE or network file system may answer a read with fewer bytes than asked before
    the end; Windows has no pread. The capture time 8 KB in, and one past the head, are
    still found."""
    real_read, real_pread = os.read, os.pread
    calls: list[int] = []

    def short_pread(fd: int, size: int, offset: int) -> bytes:
        calls.append(size)
        return real_pread(fd, min(size, 4096), offset)

    def short_read(fd: int, size: int) -> bytes:
        calls.append(size)
        return real_read(fd, min(size, 4096))

    if without_pread:
        monkeypatch.delattr(os, "pread")
        monkeypatch.setattr(os, "read", short_read)
    else:
        monkeypatch.setattr(os, "pread", short_pread)
    for padding in (8000, HEAD_BYTES + 1000):
        path = tmp_path / f"IMG_{padding}.JPG"
        path.write_bytes(exif_jpeg("2026:01:02 03:04:05", padding=padding))
        record = read_file(path, path.name, path.stat().st_size, path.stat().st_mtime)
        assert record.time_source == "exif:DateTimeOriginal", (padding, record.warning)
        assert record.captured == datetime(2026, 1, 2, 3, 4, 5)
    assert calls and max(calls) > 4096
    whole = (tmp_path / "IMG_8000.JPG").read_bytes()
    with open(tmp_path / "IMG_8000.JPG", "rb") as handle:
        assert positional.read_range(handle.fileno(), 0, len(whole) + 100) == whole
        assert positional.read_range(handle.fileno(), 5000, 10) == whole[5000:5010]
