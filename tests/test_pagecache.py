"""Page-cache hints are best effort: they never fail, never hang, and do what they say on Linux."""

from __future__ import annotations

import mmap
import os
import platform
import re
import sys
import threading
from pathlib import Path

import pytest
from cardimage import require
from conftest import LoopDisk

from cardingest.storage import pagecache


def test_prefetch_of_a_fifo_does_not_hang(tmp_path: Path) -> None:
    """A FIFO swapped in for a photo would block a plain open for reading forever."""
    fifo = tmp_path / "IMG_0001.JPG"
    os.mkfifo(fifo)
    worker = threading.Thread(target=pagecache.prefetch, args=(fifo,), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()


@pytest.mark.parametrize("name", ["missing.jpg", "."])
def test_prefetch_of_a_missing_file_or_a_folder_is_quiet(tmp_path: Path, name: str) -> None:
    pagecache.prefetch(tmp_path / name, 65536)


def test_hints_on_a_pipe_are_quiet() -> None:
    read_end, write_end = os.pipe()
    try:
        for fd in (read_end, write_end):
            pagecache.drop(fd)
            pagecache.sequential(fd)
            pagecache.start_writeback(fd, 0, 4096)
    finally:
        os.close(read_end)
        os.close(write_end)


def _sectors_written(stat: Path) -> int:
    """Field 7 of /sys/block/<dev>/stat: 512-byte sectors written to the device."""
    return int(stat.read_text().split()[6])


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only: /sys/block counters")
def test_start_writeback_really_starts_writing(loop_ext4: LoopDisk) -> None:
    """16 MiB written, then the hint: they reach the disk without an fsync.

    Without the hint the kernel keeps them dirty for dirty_expire_centisecs (30 s by default;
    16 MiB is far below the background threshold), so the 25 s allowed here is no race: the
    correct code finishes in a fraction of a second, a missing hint never does.
    """
    mount, stat = loop_ext4.mount, loop_ext4.stat
    size = 16 * 1024 * 1024
    path = mount / "photo.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        chunk = os.urandom(1024 * 1024)
        before = _sectors_written(stat)
        for _ in range(size // len(chunk)):
            os.write(fd, chunk)
        pagecache.start_writeback(fd, 0, size)
        for _ in range(250):
            if _sectors_written(stat) - before >= size // 512:
                break
            threading.Event().wait(0.1)
        else:
            written = (_sectors_written(stat) - before) * 512
            pytest.fail(f"only {written} of {size} bytes reached the disk after the hint")
    finally:
        os.close(fd)


def require_cachestat() -> None:
    """Skip before Linux 6.5 (no cachestat) or where the tests' own file system is not one
    `cached` answers for; on a kernel that has it, the probe itself must work."""
    release = tuple(int(part) for part in re.findall(r"\d+", platform.release())[:2])
    require(
        sys.platform == "linux" and release >= (6, 5) and pagecache.can_count(),
        "cachestat(2) needs Linux 6.5 or later",
    )
    fd = os.open(__file__, os.O_RDONLY)
    try:
        count = pagecache.cached(fd)
    finally:
        os.close(fd)
    assert pagecache.can_count(), "Linux 6.5 or later, and cached() could not ask cachestat"
    require(count is not None, f"cached() does not answer for {__file__}'s file system")


def on_disk(path: Path, data: bytes) -> int:
    """``path`` written with ``data`` and fsynced, its pages dropped; an open descriptor."""
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    pagecache.drop(fd)
    return fd


def test_cached_counts_the_pages_a_read_brings_and_a_drop_takes(tmp_path: Path) -> None:
    require_cachestat()
    fd = on_disk(tmp_path / "photo.jpg", os.urandom(64 * 4096))
    try:
        if pagecache.cached(fd) != 0:
            require(False, f"{tmp_path}'s file system keeps pages after a drop (tmpfs?)")
        os.pread(fd, 4096, 0)
        assert (pagecache.cached(fd) or 0) >= 1
        pagecache.drop(fd)
        assert pagecache.cached(fd) == 0
    finally:
        os.close(fd)


def test_a_mapped_page_stays_after_a_drop_and_is_counted(tmp_path: Path) -> None:
    """What another program holds mapped the kernel does not drop: `cached` must see it,
    wherever in the file it is (here one page in the middle)."""
    require_cachestat()
    fd = on_disk(tmp_path / "photo.jpg", os.urandom(16 * 4096))
    try:
        with mmap.mmap(fd, 4096, prot=mmap.PROT_READ, offset=9 * 4096) as mapped:
            assert len(mapped[:]) == 4096  # the page read through the map
            pagecache.drop(fd)
            assert (pagecache.cached(fd) or 0) >= 1
    finally:
        os.close(fd)


def test_a_kernel_without_cachestat_says_nothing_and_is_asked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A system call number the kernel does not have answers ENOSYS, as cachestat does
    before Linux 6.5: no count, and no more asking."""
    require_cachestat()
    monkeypatch.setattr(pagecache, "_CACHESTAT", 100_000)
    monkeypatch.setattr(pagecache, "_count", None)
    monkeypatch.setattr(pagecache, "_counting", True)
    fd = on_disk(tmp_path / "photo.jpg", b"x" * 4096)
    try:
        assert pagecache.cached(fd) is None
        assert not pagecache.can_count()
        assert pagecache.cached(fd) is None
    finally:
        os.close(fd)
