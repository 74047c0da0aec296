"""`hash_from_disk` through the page cache (issue 16, eighth round).

Verify and the wipe gate read a file with the kernel's read-ahead only where, straight after
the drop, the kernel says no page of it is left in the cache (`pagecache.cached`): every page
the read then gets is fetched from the disk. A page that stays (mapped by another program,
or dirty) sends the read to O_DIRECT, so what is hashed is still the disk's bytes. The last
test makes the disk differ from a mapped page, on a loop-mounted ext4 whose image file is
the disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cardimage import (
    MountedCard,
    build_fat32_image,
    require,
    require_fat_tools,
    require_fuse,
)
from conftest import LoopDisk, hashed
from test_pagecache import on_disk, require_cachestat

from cardingest.storage import pagecache, transfer
from cardingest.storage.transfer import CHUNK

FIBMAP = 1
"""ioctl: the disk block that holds a file's block (root only)."""


def dropped(path: Path, data: bytes) -> None:
    fd = on_disk(path, data)
    try:
        if pagecache.cached(fd) != 0:
            require(False, f"{path.parent}'s file system keeps pages after a drop (tmpfs?)")
    finally:
        os.close(fd)


def direct_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The files `hash_from_disk` reads O_DIRECT, by descriptor, as it reads them."""
    seen: list[int] = []
    real = transfer._read_direct

    def spy(fd: int, *args: Any) -> int:
        seen.append(fd)
        return real(fd, *args)

    monkeypatch.setattr(transfer, "_read_direct", spy)
    return seen


@pytest.mark.parametrize("size", [0, 1, transfer.READ_PIECE, 3 * CHUNK + 5])
def test_a_file_out_of_the_cache_is_read_with_the_read_ahead_and_dropped_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    require_cachestat()
    data = os.urandom(size)
    path = tmp_path / "photo.jpg"
    dropped(path, data)
    direct = direct_reads(monkeypatch)
    pieces: list[int] = []
    got = hashed(path, hashlib.sha256, on_bytes=pieces.append)
    assert got == (size, hashlib.sha256(data).hexdigest())
    assert direct == []
    assert sum(pieces) == size
    assert all(0 < piece <= transfer.READ_PIECE for piece in pieces)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert pagecache.cached(fd) == 0
    finally:
        os.close(fd)


def test_a_page_another_program_holds_mapped_sends_the_read_to_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_cachestat()
    data = os.urandom(2 * CHUNK + 3)
    path = tmp_path / "photo.jpg"
    dropped(path, data)
    direct = direct_reads(monkeypatch)
    fd = os.open(path, os.O_RDONLY)
    try:
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as mapped:
            assert mapped[:] == data
            got = hashed(path, hashlib.sha256)
    finally:
        os.close(fd)
    assert got == (len(data), hashlib.sha256(data).hexdigest())
    assert len(direct) == 1


@pytest.mark.parametrize("settled", [False, True], ids=["dirty", "written-back"])
@pytest.mark.parametrize("how", ["write", "mapping"])
def test_a_write_into_the_file_while_it_is_read_sends_the_read_to_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, settled: bool
) -> None:
    """Another program writes into the copy while the gate reads it, even the bytes it
    already holds: a written page read from the cache may never reach the disk (a failing
    write-back), so the file is read again O_DIRECT, which hashes what the disk holds. Its
    pages still dirty at the end of the read, or already written back (``settled``: then
    only the moved change time tells)."""
    require_cachestat()
    data = os.urandom(2 * CHUNK + 3)
    path = tmp_path / "photo.jpg"
    dropped(path, data)
    direct = direct_reads(monkeypatch)

    def write() -> None:
        written_into(path, CHUNK, data[CHUNK : CHUNK + 10], how, settled)

    calls = after_the_first_read(monkeypatch, write)
    got = hashed(path, hashlib.sha256)
    assert calls
    assert got == (len(data), hashlib.sha256(data).hexdigest())
    assert len(direct) == 1


def after_the_first_read(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]) -> list[int]:
    """``then`` called at `_hash_read_ahead`'s check after its first read (the second call
    of `pagecache.cached`), with most of the file still to read; the calls so far."""
    real = pagecache.cached
    calls: list[int] = []

    def cached(fd: int) -> int | None:
        calls.append(fd)
        if len(calls) == 2:
            then()
        return real(fd)

    monkeypatch.setattr(pagecache, "cached", cached)
    return calls


def written_into(path: Path, offset: int, data: bytes, how: str, settled: bool) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        if how == "write":
            os.pwrite(fd, data, offset)
            if settled:
                os.fsync(fd)
        else:
            with mmap.mmap(fd, 0) as mapped:
                mapped[offset : offset + len(data)] = data
                if settled:
                    mapped.flush()
        if settled:
            assert pagecache.unwritten(fd) == 0
    finally:
        os.close(fd)


def test_a_write_begun_before_the_open_and_ending_in_the_read_sends_it_to_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write moves the change time when it begins, before it copies its bytes. One that
    began before the open and copies them while the file is read leaves the change time as
    the open saw it: its pages, dirty at the end of the read, must send it to O_DIRECT.
    The write waits here on its source, a page of a file on a FUSE card whose driver is
    stopped until the first read is done. (Were something to write the whole machine's
    dirty pages back in the two milliseconds left of the read, the plain read would be
    right to stand, and this test would fail.)"""
    require_cachestat()
    require_fuse()
    require_fat_tools()
    data = os.urandom(4 * CHUNK)
    offset, length = 3 * CHUNK, 16 * 4096
    path = tmp_path / "photo.jpg"
    dropped(path, data)
    image = build_fat32_image(tmp_path / "source.img", {"SRC.BIN": data[offset : offset + length]})
    direct = direct_reads(monkeypatch)
    card = MountedCard(image)
    with card as mount:
        assert card.process is not None
        driver = card.process.pid
        source_fd = os.open(mount / "SRC.BIN", os.O_RDONLY)
        target = os.open(path, os.O_WRONLY)
        try:
            before = os.fstat(target).st_ctime_ns
            os.kill(driver, signal.SIGSTOP)
            try:
                with mmap.mmap(source_fd, length, prot=mmap.PROT_READ) as source:
                    writer = threading.Thread(target=os.pwrite, args=(target, source, offset))
                    writer.start()
                    assert waited(lambda: os.fstat(target).st_ctime_ns != before), "no write"

                    def let_the_write_finish() -> None:
                        os.kill(driver, signal.SIGCONT)
                        writer.join(60)
                        assert not writer.is_alive()

                    calls = after_the_first_read(monkeypatch, let_the_write_finish)
                    got = hashed(path, hashlib.sha256)
            finally:
                os.kill(driver, signal.SIGCONT)
        finally:
            os.close(target)
            os.close(source_fd)
    assert len(calls) >= 2
    assert got == (len(data), hashlib.sha256(data).hexdigest())
    assert len(direct) == 1


def waited(condition: Callable[[], bool], seconds: float = 60) -> bool:
    """Whether ``condition`` came true within ``seconds`` (a bound for a stuck test, not a
    timing the test relies on)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_without_cachestat_the_read_is_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel before 6.5 cannot say what is cached: every read goes around the cache."""
    data = os.urandom(CHUNK + 1)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    monkeypatch.setattr(pagecache, "can_count", lambda: False)
    direct = direct_reads(monkeypatch)
    assert hashed(path, hashlib.sha256) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    if transfer._DIRECT:
        assert len(direct) == 1


def test_what_is_hashed_is_the_disk_even_under_a_mapped_page_that_differs(
    loop_ext4: LoopDisk,
) -> None:
    """A program holds the photo mapped while its bytes on the disk change (a failing disk,
    a stray write): the cache keeps the old bytes, and a read through it would hash them.
    `hash_from_disk` must hash what the disk holds."""
    require_cachestat()
    path = loop_ext4.mount / "photo.jpg"
    before = os.urandom(64 * 1024)
    after = bytes(byte ^ 0xFF for byte in before)
    path.write_bytes(before)
    got = hashed_over_a_changed_disk(path, path, loop_ext4)
    assert got == (len(after), hashlib.sha256(after).hexdigest())


@pytest.mark.parametrize("known", [False, True], ids=["as-is", "overlay-taken-for-own-cache"])
def test_on_overlayfs_what_is_hashed_is_the_disk_under_a_mapped_lower_page(
    loop_ext4: LoopDisk, monkeypatch: pytest.MonkeyPatch, known: bool
) -> None:
    """Overlayfs passes reads and drops down to the real file, whose mapped page survives
    the drop, while cachestat looks at the overlay file's own cache, always empty: a plain
    read would hash the mapped page. Not a file system whose reads come from the file's own
    cache, so the read is O_DIRECT; and were it taken for one (``known``), the first read,
    which leaves nothing in the cache cachestat counts, sends it there too."""
    require_cachestat()
    if known:
        monkeypatch.setattr(pagecache, "_OWN_CACHE", pagecache._OWN_CACHE | {OVERLAYFS})
    lower, upper, work, merged = (loop_ext4.mount / name for name in ("l", "u", "w", "o"))
    for folder in (lower, upper, work, merged):
        folder.mkdir()
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    mounted = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], capture_output=True
    )
    require(mounted.returncode == 0, f"cannot mount overlayfs: {mounted.stderr.decode().strip()}")
    try:
        before = os.urandom(64 * 1024)
        after = bytes(byte ^ 0xFF for byte in before)
        (merged / "photo.jpg").write_bytes(before)
        if not known:
            fd = os.open(merged / "photo.jpg", os.O_RDONLY)
            try:
                assert pagecache.cached(fd) is None
            finally:
                os.close(fd)
        got = hashed_over_a_changed_disk(upper / "photo.jpg", merged / "photo.jpg", loop_ext4)
    finally:
        subprocess.run(["umount", str(merged)], check=False)
    assert got == (len(after), hashlib.sha256(after).hexdigest())


OVERLAYFS = 0x794C7630


def hashed_over_a_changed_disk(real: Path, read: Path, disk: LoopDisk) -> tuple[int, str]:
    """`hash_from_disk` of ``read`` while ``real`` (the file on the loop disk that holds its
    bytes) is mapped and its blocks on the disk have every bit flipped."""
    block = os.statvfs(disk.mount).f_bsize
    fd = os.open(real, os.O_RDONLY)
    try:
        before = os.pread(fd, os.fstat(fd).st_size, 0)
        os.fsync(fd)
        where = [
            struct.unpack("i", fcntl.ioctl(fd, FIBMAP, struct.pack("i", n)))[0] * block
            for n in range(len(before) // block)
        ]
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as mapped:
            assert mapped[:] == before
            with open(disk.image, "r+b") as image:
                for n, offset in enumerate(where):
                    image.seek(offset)
                    image.write(bytes(byte ^ 0xFF for byte in before[n * block : (n + 1) * block]))
                image.flush()
                os.fsync(image.fileno())
            assert os.pread(fd, len(before), 0) == before  # the cache still holds them
            return hashed(read, hashlib.sha256)
    finally:
        os.close(fd)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("read_ahead", [True, False], ids=["read-ahead", "o-direct"])
def test_a_fifo_a_folder_or_a_device_is_refused_at_once_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_ahead: bool
) -> None:
    """A card file swapped for a FIFO must not hang the wipe gate (an open of a FIFO waits for
    a writer), nor a link to /dev/zero feed it for ever; a folder must not leak the
    descriptor opened to look at it."""
    require(Path("/proc/self/fd").is_dir(), "counts descriptors in /proc/self/fd")
    if not read_ahead:
        monkeypatch.setattr(pagecache, "can_count", lambda: False)
    os.mkfifo(tmp_path / "fifo.jpg")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    results: dict[str, BaseException | tuple[int, str]] = {}

    def hash_each() -> None:
        for name in ("fifo.jpg", "folder.jpg", "zero.jpg"):
            try:
                results[name] = hashed(tmp_path / name, hashlib.sha256)
            except OSError as exc:
                results[name] = exc

    before = open_descriptors()
    worker = threading.Thread(target=hash_each, daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # let the stuck open go before failing
        os.close(os.open(tmp_path / "fifo.jpg", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("hash_from_disk is stuck on a FIFO or a device")
    assert open_descriptors() == before
    for name in ("fifo.jpg", "folder.jpg", "zero.jpg"):
        refused = results[name]
        assert isinstance(refused, OSError), name
        assert refused.filename == str(tmp_path / name)
    assert isinstance(results["folder.jpg"], IsADirectoryError)
    assert results["fifo.jpg"].strerror == "not a regular file"  # type: ignore[union-attr]
