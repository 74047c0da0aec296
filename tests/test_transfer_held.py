"""Photos held in memory between their turn at the card and their O_DIRECT write.

A file of CHUNK to HELD_BYTES is read whole in its turn at the card and written after it:
its whole pages with O_DIRECT, the last page's tail through the page cache. Real files on
the local disk; the writes are watched (which went around the page cache) without being
changed, except where a test stands in for a file system that refuses O_DIRECT.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from factories import make_file

from cardingest.storage import transfer
from cardingest.storage.durable import TEMP_PREFIX
from cardingest.storage.transfer import (
    CHUNK,
    HELD_BYTES,
    Destination,
    copy_verified,
    transfer_many,
)

PAGE = 4096
REL = "JBX3656/JBX3656-20080530-155601.jpg"
Write = tuple[int, int, bool]
"""(offset, length, through O_DIRECT) of one pwrite_all."""


def watch_writes(monkeypatch: pytest.MonkeyPatch) -> list[Write]:
    writes: list[Write] = []
    real = transfer.pwrite_all

    def watched(fd: int, data: memoryview, offset: int) -> None:
        uncached = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)
        writes.append((offset, len(data), uncached))
        real(fd, data, offset)

    monkeypatch.setattr(transfer, "pwrite_all", watched)
    return writes


def no_temps(*roots: Path) -> bool:
    return not [p for root in roots if root.exists() for p in root.rglob(f"{TEMP_PREFIX}*")]


@pytest.mark.parametrize(
    "size",
    [CHUNK, CHUNK + 1, CHUNK + PAGE - 1, CHUNK + PAGE, 3 * CHUNK + 12345, HELD_BYTES],
)
def test_a_held_photo_is_written_in_whole_pages_around_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, size, seed=size)
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    writes = watch_writes(monkeypatch)

    result = copy_verified(source, [Destination(archive, REL), Destination(backup, REL)])

    assert result.ok, result.error
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (archive / REL).read_bytes() == data == (backup / REL).read_bytes()
    tail = size % PAGE
    one_copy: list[Write] = []
    for offset in range(0, size, CHUNK):
        length = min(CHUNK, size - offset)
        whole = length - length % PAGE
        if whole:
            one_copy.append((offset, whole, True))
        if length > whole:
            one_copy.append((offset + whole, length - whole, False))
    assert writes == one_copy * 2
    assert sum(length for _, length, uncached in writes if not uncached) == 2 * tail
    assert no_temps(archive, backup)


@pytest.mark.parametrize("size", [CHUNK - 1, HELD_BYTES + 1])
def test_smaller_and_larger_files_stream_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, size, seed=size)
    writes = watch_writes(monkeypatch)

    result = copy_verified(source, [Destination(tmp_path / "archive", REL)])

    assert result.ok, result.error
    assert (tmp_path / "archive" / REL).read_bytes() == data
    assert writes == []


def test_where_the_file_system_refuses_o_direct_the_held_photo_is_written_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 2 * CHUNK + 5, seed=1)
    monkeypatch.setattr(transfer, "direct", lambda _fd, on: not on)
    writes = watch_writes(monkeypatch)

    result = copy_verified(source, [Destination(tmp_path / "archive", REL)])

    assert result.ok, result.error
    assert (tmp_path / "archive" / REL).read_bytes() == data
    assert writes == [(0, CHUNK, False), (CHUNK, CHUNK, False), (2 * CHUNK, 5, False)]


def test_an_o_direct_write_refused_with_einval_is_written_again_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems take the O_DIRECT flag and then refuse the write itself (EINVAL:
    an alignment larger than a page). The same bytes go through the page cache instead."""
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, CHUNK + 100, seed=2)
    real = transfer.pwrite_all
    refused: list[int] = []

    def refusing(fd: int, data: memoryview, offset: int) -> None:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, data, offset)

    monkeypatch.setattr(transfer, "pwrite_all", refusing)

    result = copy_verified(source, [Destination(tmp_path / "archive", REL)])

    assert result.ok, result.error
    assert refused == [0]
    assert (tmp_path / "archive" / REL).read_bytes() == data
    assert no_temps(tmp_path / "archive")


def test_a_full_disk_during_an_o_direct_write_fails_the_file_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, 3 * CHUNK, seed=3)
    real = transfer.pwrite_all

    def full(fd: int, data: memoryview, offset: int) -> None:
        if offset >= CHUNK:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data, offset)

    monkeypatch.setattr(transfer, "pwrite_all", full)

    result = copy_verified(source, [Destination(tmp_path / "archive", REL)])

    assert not result.ok and result.published == ()
    assert result.error == f"No space left on device writing {REL} to {tmp_path / 'archive'}"
    assert not (tmp_path / "archive" / REL).exists()
    assert no_temps(tmp_path / "archive")


def test_no_more_than_holders_photos_are_held_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first photo's write waits until a second photo is held, then until a third is
    or a second has passed. With HOLDERS 2 no third can be read while two are held, so that
    wait ends by its timeout and two were held at most. Without the limit a third is read."""
    monkeypatch.setattr(transfer, "HOLDERS", 2)
    sources = []
    for number in range(5):
        sources.append(tmp_path / "card" / f"IMG_{number}.JPG")
        make_file(sources[-1], CHUNK + number, seed=number)
    held, most = [0], [0]
    lock, second, third = threading.Lock(), threading.Event(), threading.Event()
    read, write = transfer._read_into_memory, transfer._write_held

    def reading(*args: object, **kwargs: object) -> transfer._Read:
        found = read(*args, **kwargs)  # type: ignore[arg-type]
        with lock:
            held[0] += 1
            most[0] = max(most[0], held[0])
            for count, event in ((2, second), (3, third)):
                if held[0] >= count:
                    event.set()
        return found

    def writing(temp: transfer._Temp, chunks: list[memoryview], stopped: object) -> None:
        if temp.destination.relpath.endswith("0.JPG"):
            assert second.wait(timeout=60)
            third.wait(timeout=1)
        write(temp, chunks, stopped)  # type: ignore[arg-type]
        with lock:
            held[0] -= 1

    monkeypatch.setattr(transfer, "_read_into_memory", reading)
    monkeypatch.setattr(transfer, "_write_held", writing)
    archive = tmp_path / "archive"

    jobs = [(s, [Destination(archive, f"P/{s.name}")], None) for s in sources]
    results = list(transfer_many(jobs, workers=4))

    assert all(r.ok for r in results), [r.error for r in results]
    assert most[0] == 2
    assert [(archive / "P" / s.name).read_bytes() for s in sources] == [
        s.read_bytes() for s in sources
    ]


def overlapping_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait: float
) -> tuple[list[bool], list[bytes]]:
    """Two held photos through `transfer_many`; the first one's write waits (up to ``wait``
    seconds) for the second's to begin. Returns whether it began meanwhile, and the copies."""
    sources = []
    for number in range(2):
        sources.append(tmp_path / "card" / f"IMG_{number}.JPG")
        make_file(sources[-1], CHUNK + 100 * number, seed=number)
    second, overlapped = threading.Event(), []
    write = transfer._write_held

    def writing(temp: transfer._Temp, chunks: list[memoryview], stopped: object) -> None:
        if temp.destination.relpath.endswith("0.JPG"):
            overlapped.append(second.wait(timeout=wait))
        else:
            second.set()
        write(temp, chunks, stopped)  # type: ignore[arg-type]

    monkeypatch.setattr(transfer, "_write_held", writing)
    archive = tmp_path / "archive"
    jobs = [(s, [Destination(archive, f"P/{s.name}")], None) for s in sources]
    assert all(r.ok for r in transfer_many(jobs, workers=2))
    copies = [(archive / "P" / s.name).read_bytes() for s in sources]
    assert copies == [s.read_bytes() for s in sources]
    return overlapped, copies


def test_held_photos_are_written_side_by_side_where_the_disk_has_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlapped, _ = overlapping_writes(tmp_path, monkeypatch, wait=30)
    assert overlapped == [True]


def test_on_a_nearly_full_disk_held_photos_are_written_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Less than ROOM free: a photo that does not fit must fail alone, so the second photo
    does not begin to write while the first is writing (the wait ends by its timeout)."""
    monkeypatch.setattr(transfer, "free_space", lambda _path: transfer.ROOM - 1)
    overlapped, _ = overlapping_writes(tmp_path, monkeypatch, wait=1)
    assert overlapped == [False]


def test_a_photo_that_finished_after_an_earlier_one_is_handed_over_when_the_run_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers. Photo 1 is published while photo 0 waits before its read-back; photo 2
    then waits there too, and photo 3 waits for a worker. The run is cancelled and the
    consumer stops after photo 0's (failed) result. What it never handed out goes to
    ``unclaimed``: photo 1 (published, so an interrupted ingest can catalogue it) and photo 2
    (failed); photo 3 only if it was started."""
    sources = []
    for number in range(4):
        sources.append(tmp_path / "card" / f"IMG_{number}.JPG")
        make_file(sources[-1], CHUNK + number, seed=number)
    archive = tmp_path / "archive"
    go, cancel, second_waits = threading.Event(), threading.Event(), threading.Event()

    def after_seal(source: Path, _temp: Path) -> None:
        if source.name in ("IMG_0.JPG", "IMG_2.JPG"):
            if source.name == "IMG_2.JPG":
                second_waits.set()
            assert go.wait(timeout=60)

    monkeypatch.setattr(transfer, "_after_seal", after_seal)
    unclaimed: list[transfer.TransferResult] = []
    jobs = [(s, [Destination(archive, f"P/{s.name}")], None) for s in sources]
    results = transfer_many(
        jobs, workers=2, cancel=cancel, unclaimed=lambda i, r: unclaimed.append(r)
    )
    first: list[transfer.TransferResult] = []
    consumer = threading.Thread(target=lambda: first.append(next(results)))
    consumer.start()
    assert second_waits.wait(timeout=60)
    cancel.set()
    go.set()
    consumer.join(timeout=60)
    results.close()

    assert [r.ok for r in first] == [False] and "cancelled" in (first[0].error or "")
    handed = {r.source.name: r for r in unclaimed}
    assert [p.relpath for p in handed["IMG_1.JPG"].published] == ["P/IMG_1.JPG"]
    assert handed["IMG_1.JPG"].ok and not handed["IMG_2.JPG"].ok
    # Photo 0, handed out last, is handed over again: the stop may have come before the
    # consumer took it in. Photo 3 may have been started by the worker photo 0 let go, and
    # then cancelled.
    assert handed["IMG_0.JPG"] is first[0]
    assert set(handed) <= {"IMG_0.JPG", "IMG_1.JPG", "IMG_2.JPG", "IMG_3.JPG"}
    assert all("cancelled" in (r.error or "") for r in unclaimed if not r.ok)
    assert sorted(p.name for p in (archive / "P").iterdir()) == ["IMG_1.JPG"]
    assert no_temps(archive)


def test_a_held_photo_that_grows_or_shrinks_while_read_fails(tmp_path: Path) -> None:
    """The size the scan saw is the size read: one byte more or less fails the photo."""
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 2 * CHUNK, seed=4)
    archive = tmp_path / "archive"
    grew = copy_verified(source, [Destination(archive, REL)], expected_size=len(data) - 1)
    shrank = copy_verified(source, [Destination(archive, REL)], expected_size=len(data) + 1)
    assert grew.error == (
        f"{source} changed while reading: more than the expected {len(data) - 1} bytes"
    )
    assert shrank.error == (
        f"{source} changed or was truncated while reading: "
        f"got {len(data)} of the expected {len(data) + 1} bytes"
    )
    assert not (archive / REL).exists() and no_temps(archive)


def open_card_files_as(
    monkeypatch: pytest.MonkeyPatch, kind: type[io.FileIO], paths: list[Path]
) -> None:
    """The copy opens these card files as ``kind`` (a FileIO that reads in its own way)."""
    real = transfer._card_file

    def card_file(fd: int, source: Path) -> io.FileIO:
        if Path(source) not in paths:
            return real(fd, source)
        opened = kind(fd, "rb", closefd=True)
        opened.name = str(source)
        return opened

    monkeypatch.setattr(transfer, "_card_file", card_file)


class ShortReads(io.FileIO):
    """A card file whose reads come back short, as on some FUSE and network file systems."""

    def readinto(self, buffer: Any) -> int | None:
        return super().readinto(memoryview(buffer)[:100_000])


def test_a_held_photo_read_in_short_pieces_is_copied_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 3 * CHUNK + 777, seed=9)
    open_card_files_as(monkeypatch, ShortReads, [source])

    result = copy_verified(source, [Destination(tmp_path / "archive", REL)])

    assert result.ok, result.error
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "archive" / REL).read_bytes() == data


def test_the_card_is_read_one_photo_at_a_time_in_card_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photo 0's read waits (up to a second) for photo 1's read to begin. In turns, photo 1
    begins only after photo 0 is read, so the wait ends by its timeout, and the reads follow
    card order: the card's heads never seek between two files, and content seen twice is
    claimed in card order."""
    sources = []
    for number in range(2):
        sources.append(tmp_path / "card" / f"IMG_{number}.JPG")
        make_file(sources[-1], 2 * CHUNK + number, seed=number)
    second_reads, order, overlapped = threading.Event(), [], []

    class Watched(io.FileIO):
        def readinto(self, buffer: Any) -> int | None:
            name = Path(str(self.name)).name
            if name == "IMG_1.JPG":
                second_reads.set()
            elif not overlapped:
                overlapped.append(second_reads.wait(timeout=1))
            if not order or order[-1] != name:
                order.append(name)
            return super().readinto(buffer)

    open_card_files_as(monkeypatch, Watched, sources)
    archive = tmp_path / "archive"
    jobs = [(s, [Destination(archive, f"P/{s.name}")], None) for s in sources]

    assert all(r.ok for r in transfer_many(jobs, workers=2))
    assert overlapped == [False]
    assert order == ["IMG_0.JPG", "IMG_1.JPG"]
