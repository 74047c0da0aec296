"""Page-cache hints are best effort: they never fail, never hang, and do what they say on Linux."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

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


def _dirty_kib() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("Dirty:"):
                return int(line.split()[1])
    raise AssertionError("no Dirty: line in /proc/meminfo")


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only: reads /proc/meminfo")
def test_start_writeback_really_starts_writing(tmp_path: Path) -> None:
    """64 MiB written, then the hint: the dirty pages go to the disk without an fsync.

    The kernel would otherwise keep them dirty for up to 30 seconds (dirty_expire_centisecs).
    """
    path = tmp_path / "photo.bin"
    size = 64 * 1024 * 1024
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        chunk = os.urandom(1024 * 1024)
        for _ in range(size // len(chunk)):
            os.write(fd, chunk)
        before = _dirty_kib()
        pagecache.start_writeback(fd, 0, size)
        for _ in range(100):
            if _dirty_kib() < before - 32 * 1024:
                break
            threading.Event().wait(0.05)
        else:
            pytest.fail(f"dirty pages stayed at {_dirty_kib()} KiB after the hint ({before} KiB)")
    finally:
        os.close(fd)
