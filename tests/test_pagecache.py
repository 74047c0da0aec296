"""Page-cache hints are best effort: they never fail, never hang, and do what they say on Linux."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
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


def _require_root_tools() -> None:
    missing = [t for t in ("mkfs.ext4", "losetup", "mount", "umount") if shutil.which(t) is None]
    if missing:
        _skip_or_fail(f"needs {', '.join(missing)} to make a block-device filesystem")
    if os.geteuid() != 0:
        _skip_or_fail("needs root to attach a loop device")


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CARDINGEST_STRICT") == "1":
        pytest.fail(f"{reason} (CARDINGEST_STRICT=1)")
    pytest.skip(reason)


@pytest.fixture
def loop_ext4(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An ext4 filesystem of its own on a loop device: (mount point, /sys/block/loopN/stat).

    Whatever the temporary folder is (a tmpfs has no writeback at all) and whatever else the
    machine writes, the loop device's own counters show what reached this filesystem's disk.
    """
    _require_root_tools()
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    with open(image, "wb") as fh:
        fh.truncate(96 * 1024 * 1024)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(image)],
        check=True,
        capture_output=True,
    )
    attached = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True
    )
    if attached.returncode != 0:
        _skip_or_fail(f"cannot attach a loop device: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        mounted = subprocess.run(["mount", "-t", "ext4", device, str(mount)], capture_output=True)
        if mounted.returncode != 0:
            _skip_or_fail(f"cannot mount ext4 on {device}: {mounted.stderr.decode().strip()}")
        try:
            yield mount, Path("/sys/block", Path(device).name, "stat")
        finally:
            subprocess.run(["umount", str(mount)], check=False)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def _sectors_written(stat: Path) -> int:
    """Field 7 of /sys/block/<dev>/stat: 512-byte sectors written to the device."""
    return int(stat.read_text().split()[6])


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only: /sys/block counters")
def test_start_writeback_really_starts_writing(loop_ext4: tuple[Path, Path]) -> None:
    """16 MiB written, then the hint: they reach the disk without an fsync.

    Without the hint the kernel keeps them dirty for dirty_expire_centisecs (30 s by default;
    16 MiB is far below the background threshold), so the 25 s allowed here is no race: the
    correct code finishes in a fraction of a second, a missing hint never does.
    """
    mount, stat = loop_ext4
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
