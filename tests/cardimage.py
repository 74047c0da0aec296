"""Real camera-card images for tests: FAT32 through fusefat, exFAT through exfat-fuse.

Build an image with ``build_fat32_image`` / ``build_exfat_image`` and mount it with
``MountedCard`` / ``MountedExfatCard`` (context managers), or use the ``fat_card`` and
``exfat_card`` fixtures from ``conftest.py``, which do both and clean up.

Known quirks (they are the real drivers' behaviour, not this helper's):

- fusefat shows file times one month late, reports 0 free space, shows the volume label as a
  file in the root folder and ignores the lower-case flags of 8.3 names (``img_0001.jpg``
  written by mcopy is listed as ``IMG_0001.JPG``). Read times through the mount.
- fusefat's ``/proc/mounts`` device is the word ``fusefat``, so no serial can be read from it;
  exfat-fuse mounts a loop device (fstype ``fuseblk``), which can be read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType

import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get("CARDINGEST_SAMPLES") or REPO_ROOT.parent / "shared" / "samples")

FAT_TOOLS: tuple[str, ...] = ("mkfs.vfat", "mmd", "mcopy", "fusefat", "fusermount")
EXFAT_TOOLS: tuple[str, ...] = ("mkfs.exfat", "losetup", "mount.exfat-fuse", "fusermount")

CardFiles = Mapping[str, Path | bytes]
"""Card paths (``DCIM/100CANON/IMG_0001.JPG``) to a file to copy or the bytes to write.

A key ending in ``/`` makes an empty folder.
"""

_MIB = 1024 * 1024


class CardImageError(RuntimeError):
    """A tool that builds or mounts a card image failed; the message carries its output."""


def samples_real() -> Path:
    return SAMPLES / "real"


def strict() -> bool:
    return os.environ.get("CARDINGEST_STRICT") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip the test unless ``condition``; with ``CARDINGEST_STRICT=1`` fail instead (CI)."""
    if condition:
        return
    if strict():
        pytest.fail(reason)
    pytest.skip(reason)


def missing_binaries(*names: str) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def require_binaries(*names: str) -> None:
    missing = missing_binaries(*names)
    require(not missing, f"missing programs: {', '.join(missing)}")


def require_fuse() -> None:
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing (FUSE is not available)")
    require(os.access("/dev/fuse", os.R_OK | os.W_OK), "/dev/fuse is not readable and writable")


def require_fat_tools() -> None:
    """Everything a fusefat FAT32 card needs (dosfstools, mtools, fusefat, FUSE)."""
    require_binaries(*FAT_TOOLS)
    require_fuse()


def require_exfat_tools() -> None:
    """Everything an exFAT card needs (exfatprogs, exfat-fuse, loop devices, root)."""
    require_binaries(*EXFAT_TOOLS)
    require_fuse()
    require(os.geteuid() == 0, "exFAT card images need root (losetup)")
    require(os.path.exists("/dev/loop-control"), "/dev/loop-control is missing (no loop devices)")


def require_samples() -> Path:
    real = samples_real()
    require(real.is_dir(), f"camera samples not found at {real} (set CARDINGEST_SAMPLES)")
    return SAMPLES


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        check=False,
    )
    if result.returncode != 0:
        raise CardImageError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def _blank_image(path: Path, size_mb: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size_mb * _MIB)


def _serial_hex(serial: str) -> str:
    """``1234-ABCD`` or ``1234abcd`` as 8 hex digits."""
    digits = serial.replace("-", "").upper()
    if len(digits) != 8 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError(f"a volume serial is 8 hex digits, e.g. 1234-ABCD, not {serial!r}")
    return digits


def _card_path(key: str) -> PurePosixPath:
    path = PurePosixPath(key.strip("/"))
    if not path.parts or ".." in path.parts:
        raise ValueError(f"not a card path: {key!r}")
    return path


def build_fat32_image(
    path: Path,
    files: CardFiles,
    size_mb: int = 64,
    label: str = "CARD",
    *,
    serial: str | None = None,
) -> Path:
    """A FAT32 image at ``path`` (``mkfs.vfat -F 32``) holding ``files``, copied with mtools.

    Copies keep the source file's mtime (``mcopy -m``); FAT stores it to 2 seconds. FAT32
    needs at least ~33 MiB.
    """
    _blank_image(path, size_mb)
    command = ["mkfs.vfat", "-F", "32", "-n", label]
    if serial:
        command += ["-i", _serial_hex(serial)]
    _run([*command, str(path)])
    made: set[PurePosixPath] = set()

    def make_dirs(folder: PurePosixPath) -> None:
        for parent in [*reversed(folder.parents), folder]:
            if parent.parts and parent not in made:
                _run(["mmd", "-i", str(path), f"::/{parent}"])
                made.add(parent)

    with tempfile.TemporaryDirectory(prefix="cardimage-") as scratch:
        for number, (key, content) in enumerate(files.items()):
            target = _card_path(key)
            if key.endswith("/"):
                make_dirs(target)
                continue
            make_dirs(target.parent)
            source = content
            if isinstance(content, bytes):
                source = Path(scratch) / f"file{number}"
                source.write_bytes(content)
            _run(["mcopy", "-i", str(path), "-m", "-D", "o", str(source), f"::/{target}"])
    return path


def build_exfat_image(
    path: Path,
    files: CardFiles,
    size_mb: int = 64,
    label: str = "CARD",
    *,
    serial: str | None = None,
) -> Path:
    """An exFAT image at ``path`` (``mkfs.exfat``) holding ``files``.

    Files go in through a temporary exfat-fuse mount of a loop device (there is no mtools for
    exFAT); copies keep the source file's mtime. Needs root.
    """
    _blank_image(path, size_mb)
    _run(["mkfs.exfat", "-L", label, str(path)])
    if serial:
        _run(["tune.exfat", "-I", f"0x{_serial_hex(serial)}", str(path)])
    mountpoint = path.parent / f".{path.name}.build"
    with MountedExfatCard(path, mountpoint) as root:
        for key, content in files.items():
            target = root / _card_path(key)
            if key.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                shutil.copy2(content, target)
    mountpoint.rmdir()
    return path


def _unescape_mount_field(field: str) -> str:
    """``/proc/mounts`` writes space, tab, newline and backslash as octal escapes."""
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, plain)
    return field


def mounts() -> list[tuple[str, str, str]]:
    """(device, mount point, fstype) of every mount, from ``/proc/mounts``."""
    rows = []
    with open("/proc/mounts", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) >= 3:
                device, mountpoint = (_unescape_mount_field(field) for field in fields[:2])
                rows.append((device, mountpoint, fields[2]))
    return rows


def is_mounted(mountpoint: Path) -> bool:
    """Whether anything is mounted at ``mountpoint`` (never touches the mount itself)."""
    target = os.path.realpath(mountpoint)
    return any(mount == target for _, mount, _ in mounts())


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class FuseCard:
    """Shared life cycle of a FUSE-mounted card image; subclasses start and find the driver."""

    fstype = ""

    def __init__(
        self,
        image: Path,
        mountpoint: Path | None = None,
        *,
        readonly: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.image = Path(image)
        self.mountpoint = Path(mountpoint or self.image.with_name(self.image.name + ".mnt"))
        self.readonly = readonly
        self.timeout = timeout
        self.log = self.image.with_name(self.image.name + ".mount.log")
        self._lingering: list[int] = []

    @property
    def mounted(self) -> bool:
        return is_mounted(self.mountpoint)

    def mount(self) -> Path:
        """Mount the image; returns the mount point once ``/proc/mounts`` lists it."""
        if self.mounted:
            raise CardImageError(f"{self.mountpoint} is already mounted")
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._start()
        if not _wait(lambda: self.mounted or self._died(), self.timeout) or not self.mounted:
            output = self.log.read_text(errors="replace") if self.log.exists() else ""
            self._kill_driver()
            self._stop()
            raise CardImageError(f"{self.image} did not mount at {self.mountpoint}:\n{output}")
        return self.mountpoint

    def unmount(self, *, lazy: bool = False) -> None:
        """``fusermount -u``, retried for up to 3 s while busy, then ``fusermount -uz``.

        After a lazy unmount (files still open) the driver keeps serving those files and is
        reaped by the next ``unmount()`` or context exit. Safe to call when not mounted, and
        after ``pull()``.
        """
        if self.mounted and not lazy:
            _wait(lambda: self._fusermount("-u") or not self.mounted, min(self.timeout, 3.0))
        detached = False
        if self.mounted:
            self._fusermount("-uz")
            _wait(lambda: not self.mounted, self.timeout)
            detached = True
        if self.mounted:
            raise CardImageError(f"could not unmount {self.mountpoint}")
        if detached:
            self._let_go()
        else:
            self._stop()

    def remount(self, *, readonly: bool) -> Path:
        self.unmount()
        self.readonly = readonly
        return self.mount()

    def remount_readonly(self) -> Path:
        """Unmount and mount again read-only (a write-protected or failing card)."""
        return self.remount(readonly=True)

    def pull(self) -> None:
        """Kill the driver with SIGKILL, as if the card were pulled: I/O then fails (ENOTCONN).

        The dead mount stays until ``unmount()`` (or the context exit) removes it.
        """
        self._kill_driver()

    def __enter__(self) -> Path:
        return self.mount()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.unmount()

    def _fusermount(self, flag: str) -> bool:
        result = subprocess.run(
            ["fusermount", flag, str(self.mountpoint)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def _start(self) -> None:
        raise NotImplementedError

    def _driver_pid(self) -> int | None:
        raise NotImplementedError

    def _died(self) -> bool:
        return self._driver_pid() is None

    def _kill_driver(self) -> None:
        pid = self._driver_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_for_exit([pid])

    def _wait_for_exit(self, pids: list[int]) -> None:
        """Wait for drivers to exit (so all they wrote is in the image); kill the stuck."""
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess, ChildProcessError):
                process = psutil.Process(pid)
                try:
                    process.wait(self.timeout)
                except psutil.TimeoutExpired:
                    process.kill()
                    process.wait(self.timeout)

    def _let_go(self) -> None:
        """Forget the current driver without waiting for it (lazy unmount)."""
        pid = self._driver_pid()
        if pid is not None:
            self._lingering.append(pid)

    def _stop(self) -> None:
        """Wait for the current and any lingering drivers to exit."""
        pid = self._driver_pid()
        self._wait_for_exit([*([pid] if pid is not None else []), *self._lingering])
        self._lingering.clear()


class MountedCard(FuseCard):
    """A FAT32 image mounted with fusefat: read-write (``-o rw+``) unless ``readonly``.

    fusefat runs in the foreground (``-f``, single-threaded ``-s``) as a child process, so
    that unmounting can wait for it to finish writing and ``pull()`` can kill it. Its
    chatter goes to ``<image>.mount.log``.
    """

    fstype = "fuse.fusefat"

    def __init__(
        self,
        image: Path,
        mountpoint: Path | None = None,
        *,
        readonly: bool = False,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(image, mountpoint, readonly=readonly, timeout=timeout)
        self.process: subprocess.Popen[bytes] | None = None
        self._processes: list[subprocess.Popen[bytes]] = []

    def _start(self) -> None:
        mode = "ro" if self.readonly else "rw+"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["fusefat", "-f", "-s", "-o", mode, str(self.image), str(self.mountpoint)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._processes.append(self.process)

    def _driver_pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        return None

    def _kill_driver(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _let_go(self) -> None:
        self.process = None

    def _stop(self) -> None:
        for process in self._processes:
            try:
                process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        self.process = None


class MountedExfatCard(FuseCard):
    """An exFAT image on a loop device (``losetup -f --show``) mounted with exfat-fuse.

    It shows up as fstype ``fuseblk`` with the loop device as its device. Unmounting also
    detaches the loop device. Needs root.
    """

    fstype = "fuseblk"

    def __init__(
        self,
        image: Path,
        mountpoint: Path | None = None,
        *,
        readonly: bool = False,
        private: bool = False,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(image, mountpoint, readonly=readonly, timeout=timeout)
        self.device: str | None = None
        self.private = private
        """Mounted ``umask=077``, as a desktop mounts a USB drive for its user alone."""

    def _start(self) -> None:
        self.device = _run(["losetup", "-f", "--show", str(self.image)]).stdout.strip()
        command = ["mount.exfat-fuse"]
        options = ["ro"] if self.readonly else []
        if self.private:
            options.append("umask=077")
        if options:
            command += ["-o", ",".join(options)]
        with open(self.log, "ab") as log:
            subprocess.run(
                [*command, self.device, str(self.mountpoint)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )

    def _died(self) -> bool:
        return not self.mounted

    def _driver_pid(self) -> int | None:
        """exfat-fuse detaches from us: find it by its device and mount point arguments."""
        if self.device is None:
            return None
        mountpoints = {str(self.mountpoint), os.path.realpath(self.mountpoint)}
        for process in psutil.process_iter(["cmdline"]):
            cmdline = process.info.get("cmdline") or []
            if self.device in cmdline and mountpoints.intersection(cmdline):
                return int(process.pid)
        return None

    def _detach(self) -> None:
        """``losetup -d``; a device still held open is freed by the kernel when closed."""
        if self.device is not None:
            subprocess.run(["losetup", "-d", self.device], capture_output=True, check=False)
            self.device = None

    def _let_go(self) -> None:
        super()._let_go()
        self._detach()

    def _stop(self) -> None:
        super()._stop()
        self._detach()


def fuse_mounts_under(root: Path) -> list[str]:
    """Mount points below ``root`` still mounted (to check that tests cleaned up)."""
    base = os.path.realpath(root)
    return [mount for _, mount, _ in mounts() if mount == base or mount.startswith(base + "/")]


class CardFactory:
    """Builds and mounts card images under ``tmp_path``; ``close()`` unmounts them all.

    ``factory(files)`` returns the mount point; ``factory.handle(mount)`` gives the
    ``MountedCard`` (for ``remount_readonly()``, ``unmount()``, ``pull()``). The mount
    point's folder name is the label, as a desktop would name it.
    """

    def __init__(self, root: Path, kind: str) -> None:
        if kind not in ("fat32", "exfat"):
            raise ValueError(kind)
        self.root = root
        self.kind = kind
        self.cards: list[FuseCard] = []

    def __call__(
        self,
        files: CardFiles,
        *,
        size_mb: int = 64,
        label: str = "CARD",
        serial: str | None = None,
        readonly: bool = False,
        private: bool = False,
    ) -> Path:
        """``private``: an exFAT image mounted for this account alone (`MountedExfatCard`)."""
        number = len(self.cards)
        folder = self.root / f"{self.kind}-card{number}"
        image = folder / "card.img"
        card: FuseCard
        if self.kind == "fat32":
            build_fat32_image(image, files, size_mb, label, serial=serial)
            card = MountedCard(image, folder / "media" / label, readonly=readonly)
        else:
            build_exfat_image(image, files, size_mb, label, serial=serial)
            card = MountedExfatCard(
                image, folder / "media" / label, readonly=readonly, private=private
            )
        self.cards.append(card)
        return card.mount()

    def handle(self, mount: Path) -> FuseCard:
        for card in self.cards:
            if card.mountpoint == Path(mount):
                return card
        raise KeyError(mount)

    def close(self) -> None:
        errors = []
        for card in reversed(self.cards):
            try:
                card.unmount()
            except CardImageError as exc:
                errors.append(str(exc))
        if errors:
            raise CardImageError("; ".join(errors))
