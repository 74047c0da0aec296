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
import struct
from pathlib import Path
from typing import Any

import pytest
from cardimage import require
from conftest import LoopDisk
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

    def spy(fd: int, *args: Any) -> tuple[int, str]:
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
    got = transfer.hash_from_disk(path, hashlib.sha256(), on_bytes=pieces.append)
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
            got = transfer.hash_from_disk(path, hashlib.sha256())
    finally:
        os.close(fd)
    assert got == (len(data), hashlib.sha256(data).hexdigest())
    assert len(direct) == 1


def test_without_cachestat_the_read_is_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel before 6.5 cannot say what is cached: every read goes around the cache."""
    data = os.urandom(CHUNK + 1)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    monkeypatch.setattr(pagecache, "can_count", lambda: False)
    direct = direct_reads(monkeypatch)
    assert transfer.hash_from_disk(path, hashlib.sha256()) == (
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
    block = os.statvfs(loop_ext4.mount).f_bsize
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        where = [
            struct.unpack("i", fcntl.ioctl(fd, FIBMAP, struct.pack("i", n)))[0] * block
            for n in range(len(before) // block)
        ]
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as mapped:
            assert mapped[:] == before
            with open(loop_ext4.image, "r+b") as disk:
                for n, offset in enumerate(where):
                    disk.seek(offset)
                    disk.write(after[n * block : (n + 1) * block])
                disk.flush()
                os.fsync(disk.fileno())
            assert os.pread(fd, len(before), 0) == before  # the cache still holds them
            got = transfer.hash_from_disk(path, hashlib.sha256())
    finally:
        os.close(fd)
    assert got == (len(after), hashlib.sha256(after).hexdigest())
