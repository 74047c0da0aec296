"""The scan opens each card file once, ahead of reading it, and reads it by position.

What the card does between the listing and the open (a FIFO or a link swapped in, a file
gone) is held with its reason, never followed, never waited for; no descriptor outlives the
scan, however it ends.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from exif_bytes import exif_jpeg

from cardingest.card import scan as scan_module
from cardingest.card.capture import TAIL_BYTES
from cardingest.card.scan import HEAD_BYTES, PREFETCH_FILES, read_file, scan
from cardingest.storage import pagecache, positional


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
    assert records[link.name].warning == (
        f"DCIM/100CANON/{link.name}: cannot be read (Too many levels of symbolic links)"
    )
    assert records[link.name].size == len(str(outside))  # the link's own size, not followed
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

    def counting_open(path: str, flags: int, *args: int, **kwargs: int | None) -> int:
        # dir_fd: from Python 3.13 pytest's clean-up of tmp_path (shutil.rmtree) passes one
        # while this is still in place
        opened.append(os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

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


def test_the_head_first_reader_reads_as_a_file_does(tmp_path: Path) -> None:
    """Any sequence of seek, read and tell gives what a plain open file gives, for files
    shorter than, as long as and longer than the head, and past their end."""
    import random

    from cardingest.card.scan import _HeadFirst

    chooser = random.Random(1234)
    for size in (0, 1, 5000, HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 1, 3 * HEAD_BYTES + 7):
        path = tmp_path / f"f{size}"
        path.write_bytes(bytes(chooser.randrange(256) for _ in range(size)))
        fd = os.open(path, os.O_RDONLY)
        try:
            ours = _HeadFirst(fd, size)
            with open(path, "rb") as theirs:
                for _ in range(300):
                    step = chooser.randrange(5)
                    if step == 0:
                        offset = chooser.randrange(size + 100)
                        assert ours.seek(offset) == theirs.seek(offset)
                    elif step == 1:
                        offset = chooser.randrange(-50, 50)
                        if theirs.tell() + offset >= 0:
                            assert ours.seek(offset, os.SEEK_CUR) == theirs.seek(offset, 1)
                    elif step == 2:
                        offset = -chooser.randrange(min(size, 200) + 1)
                        assert ours.seek(offset, os.SEEK_END) == theirs.seek(offset, 2)
                    elif step == 3:
                        count = chooser.choice([0, 1, 2, 16, 4096, HEAD_BYTES, -1])
                        assert ours.read(count) == theirs.read(count), (size, count)
                    assert ours.tell() == theirs.tell()
            with pytest.raises(OSError):
                ours.seek(-1)
            with pytest.raises(ValueError, match="whence"):
                ours.seek(0, 7)
        finally:
            os.close(fd)


def test_records_of_files_that_are_not_read(tmp_path: Path) -> None:
    """An empty photo and a sidecar are dated by their file time without being read; the
    empty one says so, and every record keeps its size and whether it is a sidecar."""
    from cardingest.card.capture import file_time

    folder = tmp_path / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    (folder / "IMG_0001.JPG").write_bytes(exif_jpeg("2026:01:02 03:04:05"))
    (folder / "IMG_0001.THM").write_bytes(b"thumbnail")
    (folder / "IMG_0002.JPG").write_bytes(b"")
    (folder / "IMG_0003.XMP").write_bytes(b"")
    stamp = datetime(2025, 6, 7, 8, 9, 10).timestamp()
    for path in folder.iterdir():
        os.utime(path, (stamp, stamp))
    records = {Path(m.path).name: m for m in scan(tmp_path)}
    photo, thumb = records["IMG_0001.JPG"], records["IMG_0001.THM"]
    empty, xmp = records["IMG_0002.JPG"], records["IMG_0003.XMP"]
    assert (photo.size, photo.sidecar, photo.time_source) == (
        len(exif_jpeg("2026:01:02 03:04:05")),
        False,
        "exif:DateTimeOriginal",
    )
    assert (thumb.size, thumb.sidecar, thumb.time_source, thumb.warning) == (
        9,
        True,
        "mtime",
        None,
    )
    assert thumb.captured == file_time(stamp)
    assert (empty.size, empty.sidecar, empty.time_source) == (0, False, "mtime")
    assert empty.warning == "DCIM/100CANON/IMG_0002.JPG: empty file (0 bytes)"
    assert empty.captured == file_time(stamp)
    assert (xmp.size, xmp.sidecar, xmp.warning) == (0, True, None)
    assert read_file(folder / "IMG_0002.JPG", "IMG_0002.JPG", 0, stamp) == replace(
        empty, path="IMG_0002.JPG", warning="IMG_0002.JPG: empty file (0 bytes)"
    )


def test_a_file_that_fails_to_read_is_held_with_its_size_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card answers the open but not the read (a bad block): that one file is held,
    with its size, its kind and the system's words for why."""
    import errno

    paths = card(tmp_path, 3)
    (tmp_path / "DCIM" / "100CANON" / "IMG_0002.THM").write_bytes(b"thumbnail")
    bad = os.fstat(os.open(paths[1], os.O_RDONLY)).st_ino
    real_pread = os.pread

    def failing(fd: int, size: int, offset: int) -> bytes:
        if os.fstat(fd).st_ino == bad:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", failing)
    records = {Path(m.path).name: m for m in scan(tmp_path)}
    held = records["IMG_0002.JPG"]
    assert held.unreadable and not held.sidecar
    assert held.size == paths[1].stat().st_size
    assert held.warning == "DCIM/100CANON/IMG_0002.JPG: cannot be read (Input/output error)"
    assert not records["IMG_0001.JPG"].unreadable and not records["IMG_0003.JPG"].unreadable
    assert records["IMG_0002.THM"].sidecar and not records["IMG_0002.THM"].unreadable


def test_a_read_past_the_head_that_fails_holds_the_file_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card answers the first read but fails one further on (its tail, read for every
    photo; a truncated FAT file's clusters past its chain, EPERM through fusefat): it was
    "unreadable EXIF (OSError)", named by its file time and planned for copying. A failed
    read is the card's: the file is held, as when the first read fails. A seek that a
    damaged file's own offsets put before its start (EINVAL) stays a damaged file's
    warning."""
    import errno

    [path] = card(tmp_path, 1)
    with path.open("ab") as grown:
        grown.write(bytes(HEAD_BYTES * 2))
    real_pread = os.pread
    failure = errno.EPERM

    def failing(fd: int, size: int, offset: int) -> bytes:
        if offset >= HEAD_BYTES:
            raise OSError(failure, os.strerror(failure))
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", failing)
    [held] = scan(tmp_path)
    assert held.unreadable, held
    assert held.warning == "DCIM/100CANON/IMG_0001.JPG: cannot be read (Operation not permitted)"
    failure = errno.EINVAL
    [read] = scan(tmp_path)
    assert not read.unreadable and read.time_source == "mtime"
    assert read.warning is not None and "unreadable EXIF (OSError)" in read.warning


def test_videos_and_sounds_are_named_not_read(tmp_path: Path) -> None:
    """A clip in DCIM and one under PRIVATE/ (AVCHD) are listed as not photos, in order;
    hidden folders and the DCIM folder itself are not searched twice."""
    card(tmp_path, 1)
    folder = tmp_path / "DCIM" / "100CANON"
    (folder / "MVI_0002.MOV").write_bytes(b"clip")
    (folder / "IMG_0003.WAV").write_bytes(b"memo")
    (folder / "notes.txt").write_bytes(b"text")
    stream = tmp_path / "PRIVATE" / "AVCHD" / "BDMV" / "STREAM"
    stream.mkdir(parents=True)
    (stream / "00000.MTS").write_bytes(b"clip")
    (tmp_path / ".Trashes").mkdir()
    (tmp_path / ".Trashes" / "OLD.MP4").write_bytes(b"clip")
    (tmp_path / "ROOT.MP4").write_bytes(b"clip")
    not_photos: list[str] = []
    records = list(scan(tmp_path, not_photos=not_photos))
    assert [m.path for m in records] == ["DCIM/100CANON/IMG_0001.JPG"]
    assert not_photos == [
        "DCIM/100CANON/IMG_0003.WAV",
        "DCIM/100CANON/MVI_0002.MOV",
        "PRIVATE/AVCHD/BDMV/STREAM/00000.MTS",
        "ROOT.MP4",
    ]


def test_what_is_not_a_file_is_named_by_its_kind_and_never_opened(tmp_path: Path) -> None:
    """A link, a FIFO, a socket and (as root) a device file in DCIM, and a link to a folder:
    each is named with its kind and passed over; none is followed or opened."""
    import socket
    import stat as stat_module

    card(tmp_path, 1)
    folder = tmp_path / "DCIM" / "100CANON"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "IMG_0009.JPG").write_bytes(exif_jpeg("2001:01:01 01:01:01"))
    (folder / "IMG_0002.JPG").symlink_to(outside / "IMG_0009.JPG")
    (folder / "101LINK").symlink_to(outside)
    os.mkfifo(folder / "IMG_0003.JPG")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "IMG_0004.JPG"))
    expected = {
        "DCIM/100CANON/101LINK": "a symbolic link",
        "DCIM/100CANON/IMG_0002.JPG": "a symbolic link",
        "DCIM/100CANON/IMG_0003.JPG": "a named pipe (FIFO)",
        "DCIM/100CANON/IMG_0004.JPG": "a socket",
    }
    try:
        os.mknod(folder / "IMG_0005.JPG", 0o600 | stat_module.S_IFCHR, os.makedev(1, 3))
        expected["DCIM/100CANON/IMG_0005.JPG"] = "a device file"
    except PermissionError:
        pass  # not root: no device file to make
    specials: list[tuple[str, str]] = []
    try:
        records = list(scan(tmp_path, specials=specials))
    finally:
        server.close()
    assert [m.path for m in records] == ["DCIM/100CANON/IMG_0001.JPG"]
    assert dict(specials) == expected
    assert [path for path, _ in specials] == sorted(expected)


def test_a_file_gone_before_its_open_is_one_held_record(tmp_path: Path) -> None:
    from cardingest.card.capture import file_time

    paths = card(tmp_path, PREFETCH_FILES + 3)
    sidecar = paths[-1].with_suffix(".THM")
    sidecar.write_bytes(b"thumbnail")

    def remove(relpath: str) -> None:
        if relpath.endswith("IMG_0001.JPG"):
            paths[-1].unlink()
            sidecar.unlink()

    records = {Path(m.path).name: m for m in scan(tmp_path, on_file=remove)}
    for gone in (paths[-1], sidecar):
        record = records[gone.name]
        assert record.unreadable and record.time_source == "mtime"
        assert (record.size, record.captured) == (0, file_time(0.0))
        assert record.sidecar == (gone == sidecar)
        assert record.warning == (
            f"DCIM/100CANON/{gone.name}: listed on the card but cannot be read "
            "(No such file or directory)"
        )


def test_names_with_more_than_one_dot_and_folders_without_dcim(tmp_path: Path) -> None:
    """A folder of photos without DCIM is read as it is; an extension is what follows the
    last dot; system folders are passed over whatever their case; a missing file keeps the
    size the listing gave it."""
    (tmp_path / "IMG.0001.JPG").write_bytes(exif_jpeg("2026:01:02 03:04:05"))
    (tmp_path / "IMG.0001.XMP").write_bytes(b"<x:xmpmeta/>")
    (tmp_path / "clip.v2.MOV").write_bytes(b"clip")
    hidden = tmp_path / "System Volume Information"
    hidden.mkdir()
    (hidden / "IMG_0009.JPG").write_bytes(exif_jpeg("2001:01:01 01:01:01"))
    not_photos: list[str] = []
    records = {m.path: m for m in scan(tmp_path, not_photos=not_photos)}
    assert sorted(records) == ["IMG.0001.JPG", "IMG.0001.XMP"]
    assert records["IMG.0001.JPG"].time_source == "exif:DateTimeOriginal"
    assert records["IMG.0001.XMP"].sidecar and not records["IMG.0001.JPG"].sidecar
    assert not_photos == ["clip.v2.MOV"]
    gone = read_file(tmp_path / "IMG_0002.JPG", "IMG_0002.JPG", 1234, 0.0)
    assert (gone.unreadable, gone.size) == (True, 1234)
    nul = read_file(tmp_path / "IMG\x000003.JPG", "IMG_0003.JPG", 10, 0.0)
    with pytest.raises(ValueError) as said:  # Python's words: "embedded null byte" until 3.12
        os.open(tmp_path / "IMG\x000003.JPG", os.O_RDONLY)
    assert nul.unreadable and nul.warning == f"IMG_0003.JPG: cannot be read ({said.value})"


def test_the_last_bytes_of_each_long_jpeg_are_asked_for_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cut_short` reads a JPEG's last bytes, so the scan asks for them with the head: a cold
    card then has those reads in flight too. Not for a JPEG the head holds whole, nor for a
    RAW, whose end nothing reads."""
    folder = tmp_path / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    long_jpeg = exif_jpeg("2026:01:02 03:04:05") + bytes(3 * HEAD_BYTES)
    sizes = {"IMG_0001.JPG": len(long_jpeg), "IMG_0002.JPG": None, "IMG_0003.CR2": None}
    (folder / "IMG_0001.JPG").write_bytes(long_jpeg)
    (folder / "IMG_0002.JPG").write_bytes(exif_jpeg("2026:01:02 03:04:06"))
    (folder / "IMG_0003.CR2").write_bytes(bytes(3 * HEAD_BYTES))
    asked: list[tuple[str, int, int]] = []
    real = os.posix_fadvise

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        if advice == os.POSIX_FADV_WILLNEED:
            asked.append((os.path.basename(os.readlink(f"/proc/self/fd/{fd}")), offset, length))
        real(fd, offset, length, advice)

    monkeypatch.setattr(pagecache, "_FADVISE", advise)
    list(scan(tmp_path))
    tails = [(name, offset, length) for name, offset, length in asked if offset > 0]
    assert tails == [("IMG_0001.JPG", sizes["IMG_0001.JPG"] - TAIL_BYTES, TAIL_BYTES)]
    assert {name for name, offset, _ in asked if offset == 0} == set(sizes)
