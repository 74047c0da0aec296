"""Shared fixtures: camera samples and real (FUSE-mounted) card images.

Fixtures whose tools or data are missing skip, or fail under ``CARDINGEST_STRICT=1``.
``cardimage`` (next to this file) is importable from tests because pytest puts this folder on
``sys.path`` (the default "prepend" import mode, no ``__init__.py`` here).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cardimage import (
    CardFactory,
    require,
    require_exfat_tools,
    require_fat_tools,
    require_samples,
)
from exifread.core import exif_header
from pgserver import PgServer, require_postgres
from sshfsmount import SshfsMount, require_sshfs


def pytest_configure(config: pytest.Config) -> None:
    """Python's own SIGINT handler, whatever the run inherited: a shell starts a background
    job (``pytest … &``) with SIGINT ignored, and the tests that stop a run with Ctrl-C (in
    this process, or in a child, which inherits it) would then see it ignored, as the
    product rightly does."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _forget_cached_specs() -> None:
    """mutmut tests each mutant in a fork of one test process, which inherits the ID map's
    caches (`idmap.parse_spec`, `idmap._name_digests`) as the unmutated code filled them: a
    mutant of a function they call (`_padded`, `_spec_key`...) never ran for a spec read
    before the fork, and "survived". A forked child starts with them empty."""
    idmap = sys.modules.get("cardingest.plan.idmap")
    if idmap is not None:
        idmap.parse_spec.cache_clear()
        idmap._name_digests.cache_clear()


os.register_at_fork(after_in_child=_forget_cached_specs)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with a HOME of its own, no cardingest settings from the environment,
    and sees only the cards it mounts itself (under its own tmp_path).

    The user's config (an archive, a name template), ``$CARDINGEST_ARCHIVE``, and camera cards
    mounted on the machine (or by another test run) never reach a test. Tests that need
    settings set ``CARDINGEST_CONFIG`` themselves (``test_ids`` does).
    """
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.delenv("CARDINGEST_ARCHIVE", raising=False)
    monkeypatch.delenv("CARDINGEST_CONFIG", raising=False)
    monkeypatch.setenv("CARDINGEST_CARDS_UNDER", str(tmp_path))
    monkeypatch.delenv("CARDINGEST_CATALOGUE", raising=False)


@pytest.fixture(autouse=True)
def fresh_cachestat_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pagecache.cached` builds its probe once per process: each test builds its own (a
    mutant of the probe must not hide behind one built before it), and gets back the state
    the test changed."""
    from cardingest.storage import pagecache

    monkeypatch.setattr(pagecache, "_count", None)
    monkeypatch.setattr(pagecache, "_counting", pagecache._counting)


def hashed(path: Path, new_digest: Callable[[], Any], **options: Any) -> tuple[int, str]:
    """`transfer.hash_from_disk`, with its digest as hex."""
    from cardingest.storage import transfer

    size, digest = transfer.hash_from_disk(path, new_digest, **options)
    return size, digest.hexdigest()


@pytest.fixture
def auckland(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's time zone set to New Zealand's for the test (CI runs in UTC, where a
    local time taken for UTC is no mistake a test can see)."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def test_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config that accepts test-range NHIs (the demo card's ZAC5361, ZAA0067...)."""
    config = tmp_path / "test-ids.toml"
    config.write_text("allow_test_ids = true\n", encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    return config


@pytest.fixture
def sha256_fed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``hashlib.sha256`` made to note the length of every chunk it is fed, in this list:
    how many bytes a command hashed with SHA-256, wherever it did."""
    fed: list[int] = []
    real = hashlib.sha256

    class Counted:
        def __init__(self, data: bytes = b"") -> None:
            self.inner = real()
            if data:
                self.update(data)

        def update(self, data: bytes | memoryview) -> None:
            fed.append(len(data))
            self.inner.update(data)

        def hexdigest(self) -> str:
            return self.inner.hexdigest()

    monkeypatch.setattr(hashlib, "sha256", Counted)
    return fed


@pytest.fixture
def samples_dir() -> Path:
    """The shared samples folder (``real/`` and ``expected-exiftool.tsv`` inside)."""
    return require_samples()


@pytest.fixture
def fat_card(tmp_path: Path) -> Iterator[CardFactory]:
    """``fat_card(files, *, size_mb=64, label="CARD", serial=None, readonly=False) -> Path``.

    Builds a FAT32 image, mounts it with fusefat and returns the mount point; every card is
    unmounted after the test. ``fat_card.handle(mount)`` gives the ``MountedCard``.
    """
    require_fat_tools()
    factory = CardFactory(tmp_path / "cards", "fat32")
    yield factory
    factory.close()


@pytest.fixture
def exfat_card(tmp_path: Path) -> Iterator[CardFactory]:
    """Like ``fat_card`` for exFAT (loop device + exfat-fuse, fstype ``fuseblk``)."""
    require_exfat_tools()
    factory = CardFactory(tmp_path / "cards", "exfat")
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the session (Unix socket in a temporary folder)."""
    server = PgServer(require_postgres())
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.fresh_database()


@pytest.fixture
def share() -> Iterator[Path]:
    """A folder on a real sshfs mount (outside tmp_path: pytest's cleanup must not walk it)."""
    require_sshfs()
    mount = SshfsMount(Path(tempfile.mkdtemp(prefix="cdsshfs-")))
    try:
        yield mount.mount()
    finally:
        mount.close()


def _require_root_tools() -> None:
    missing = [t for t in ("mkfs.ext4", "losetup", "mount", "umount") if shutil.which(t) is None]
    if missing:
        require(False, f"needs {', '.join(missing)} to make a block-device filesystem")
    if os.geteuid() != 0:
        require(False, "needs root to attach a loop device")


@contextlib.contextmanager
def tmpfs_on(folder: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of the test's own mounted on the existing ``folder`` (root only): a second
    real file system, with its own size; unmounted after."""
    require(shutil.which("mount") is not None, "no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    require(done.returncode == 0, f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    """Write ``folder/filler`` until the file system refuses even one more byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    size = 1 << 20
    try:
        while size:
            try:
                os.write(fd, bytes(size))
            except OSError:
                size //= 2
    finally:
        os.close(fd)


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i``: not even root may change ``path`` (root only, a file system with the
    attribute: ext2-4, xfs, btrfs): where a run as root meets a PermissionError."""
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    require(made.returncode == 0, f"cannot make {path} immutable: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


class LoopDisk(NamedTuple):
    mount: Path
    stat: Path
    """/sys/block/loopN/stat: what reached this file system's disk."""
    image: Path
    """The file behind the loop device: its bytes are the disk's."""


@pytest.fixture
def loop_ext4(tmp_path: Path) -> Iterator[LoopDisk]:
    """An ext4 file system of its own on a loop device (root only).

    Whatever the temporary folder is (a tmpfs has no writeback at all) and whatever else the
    machine writes, the loop device's own counters show what reached this file system's
    disk, and its image file is the disk itself.
    """
    with _loop_ext4(tmp_path) as disk:
        yield disk


@pytest.fixture
def loop_ext4_small_blocks(tmp_path: Path) -> Iterator[LoopDisk]:
    """The same with 1 KiB blocks, as mkfs.ext4 makes for a file system under 512 MB."""
    with _loop_ext4(tmp_path, "-b", "1024") as disk:
        yield disk


@contextlib.contextmanager
def _loop_ext4(tmp_path: Path, *options: str) -> Iterator[LoopDisk]:
    _require_root_tools()
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    with open(image, "wb") as fh:
        fh.truncate(96 * 1024 * 1024)
    lazy = "lazy_itable_init=0,lazy_journal_init=0"
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", *options, "-E", lazy, str(image)],
        check=True,
        capture_output=True,
    )
    attached = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True
    )
    if attached.returncode != 0:
        require(False, f"cannot attach a loop device: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        mounted = subprocess.run(["mount", "-t", "ext4", device, str(mount)], capture_output=True)
        if mounted.returncode != 0:
            require(False, f"cannot mount ext4 on {device}: {mounted.stderr.decode().strip()}")
        try:
            yield LoopDisk(mount, Path("/sys/block", Path(device).name, "stat"), image)
        finally:
            subprocess.run(["umount", str(mount)], check=False)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


@pytest.fixture
def field_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The offsets of the fields exifread reads (its ``ExifHeader.s2n``), one per read: what
    the capture tests' bound on its walk (`card.ifdbound`) lets it cost."""
    calls: list[int] = []
    real = exif_header.ExifHeader.s2n

    def counted(
        self: exif_header.ExifHeader, offset: int, length: int, signed: bool = False
    ) -> int:
        calls.append(offset)
        return real(self, offset, length, signed)

    monkeypatch.setattr(exif_header.ExifHeader, "s2n", counted)
    return calls


@pytest.fixture
def resolve_of_313(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Path.resolve()`` as Python 3.13 made it (`os.path.realpath`'s: a loop of symbolic
    links is left as it is, not a RuntimeError), on whichever Python runs the test."""
    resolve = Path.resolve

    def resolved(self: Path, strict: bool = False) -> Path:
        return resolve(self, strict=True) if strict else Path(os.path.realpath(self))

    monkeypatch.setattr(Path, "resolve", resolved)


@pytest.fixture
def pathlib_of_314(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Path.exists()``, ``is_dir()``, ``is_file()`` and ``is_symlink()`` as Python 3.14 made
    them (`os.path`'s: False for *any* OSError, a pulled card's ENOTCONN too), on whichever
    Python runs the test: 3.11 to 3.13 raise that error. `storage/ondisk.py` must answer
    the same under both."""

    def exists(self: Path, *, follow_symlinks: bool = True) -> bool:
        return os.path.exists(self) if follow_symlinks else os.path.lexists(self)

    def is_dir(self: Path, *, follow_symlinks: bool = True) -> bool:
        return (
            os.path.isdir(self)
            if follow_symlinks
            else os.path.isdir(self) and not os.path.islink(self)
        )

    def is_file(self: Path, *, follow_symlinks: bool = True) -> bool:
        return (
            os.path.isfile(self)
            if follow_symlinks
            else os.path.isfile(self) and not os.path.islink(self)
        )

    monkeypatch.setattr(Path, "exists", exists)
    monkeypatch.setattr(Path, "is_dir", is_dir)
    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setattr(Path, "is_symlink", lambda self: os.path.islink(self))
