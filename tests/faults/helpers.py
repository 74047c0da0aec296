"""Plain helpers for the fault suite: the console script, distinct photos, waiting, killing."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cardimage import require
from terminal import operator_signals

from cardingest.storage.durable import TEMP_PREFIX

SEED_ENV = "CARDINGEST_FAULT_SEED"
DEFAULT_SEED = 20261125
PATIENT = "JBX3656"
OTHER_PATIENT = "MCJ1984"
MIB = 1024 * 1024
POLL_SECONDS = 0.005

DATED_SAMPLES: tuple[str, ...] = (
    "11-tests.jpg",
    "22-canon_tags.jpg",
    "32-lens_data.jpeg",
    "33-type_error.jpg",
    "36-memory_error.jpg",
    "45-gps_ifd.jpg",
    "87_OSError.jpg",
    "Canon_40D.jpg",
    "Kodak_CX7530.jpg",
    "Nikon_D70.jpg",
    "Pentax_K10D.jpg",
)
"""Real camera JPEGs under 1 MB with an EXIF DateTimeOriginal: the bases of padded photos."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def console_script() -> str:
    """The ``cardingest`` script installed for this interpreter (not a pyenv shim)."""
    beside = Path(sys.executable).with_name("cardingest")
    exe = str(beside) if beside.is_file() else shutil.which("cardingest")
    require(exe is not None, "the cardingest console script is not installed (pip install .)")
    assert exe is not None
    return exe


@dataclass(frozen=True)
class Cli:
    """Runs the console script with stdin closed and a config folder of its own."""

    exe: str
    env: Mapping[str, str]

    def argv(self, args: tuple[object, ...]) -> list[str]:
        return [self.exe, *(str(arg) for arg in args)]

    def run(self, *args: object, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=dict(self.env),
            timeout=timeout,
            check=False,
        )

    def start(self, *args: object) -> subprocess.Popen[str]:
        """Start in a session of its own, so the whole process group can be killed, and
        with the default Ctrl-C (`terminal.operator_signals`), so SIGINT interrupts it."""
        proc = subprocess.Popen(
            self.argv(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(self.env),
            start_new_session=True,
            preexec_fn=operator_signals,
        )
        STARTED.append(proc)
        return proc


INJECT = Path(__file__).with_name("inject.py")


def injected(cli: Cli, point: str, *args: object) -> subprocess.CompletedProcess[str]:
    """The CLI run through ``inject.py`` with a fault at ``point`` (see its ``POINTS``)."""
    return subprocess.run(
        [sys.executable, str(INJECT), point, *(str(a) for a in args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(cli.env),
        timeout=300,
        check=False,
    )


STARTED: list[subprocess.Popen[str]] = []
"""Processes `Cli.start` began; the suite kills any still running after each test."""


def reap() -> None:
    """Kill (the process groups of) started processes that are still running."""
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            signal_group(proc, signal.SIGKILL)
            proc.communicate()


def cli_env(config_home: Path) -> dict[str, str]:
    """The test's environment minus cardingest settings, with an empty config folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDINGEST_")}
    env["XDG_CONFIG_HOME"] = str(config_home)
    env["COLUMNS"] = "200"
    return env


@dataclass(frozen=True)
class Ended:
    """How a started process ended: ``killed`` when our signal found it still running."""

    killed: bool
    delay: float
    returncode: int
    stdout: str
    stderr: str


def kill_after(proc: subprocess.Popen[str], delay: float, sig: int = signal.SIGKILL) -> Ended:
    """Let ``proc`` run ``delay`` seconds, then signal its whole process group."""
    try:
        out, err = proc.communicate(timeout=max(delay, 0.0))
    except subprocess.TimeoutExpired:
        signal_group(proc, sig)
        out, err = proc.communicate(timeout=120)
    killed = sig == signal.SIGKILL and proc.returncode == -signal.SIGKILL
    return Ended(killed, delay, proc.returncode, out, err)


def kill_when(
    proc: subprocess.Popen[str], ready: Callable[[], bool], extra: float, timeout: float = 120
) -> Ended:
    """Kill ``proc``'s group ``extra`` seconds after ``ready()`` first holds.

    Triggered by what the run has done, not by a clock, so a machine faster or slower than
    the one that calibrated still gets its kill at the intended stage. ``killed`` is False
    when the run ended first.
    """
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not ready():
        if time.monotonic() > deadline:
            signal_group(proc, signal.SIGKILL)
            proc.communicate()
            raise AssertionError(f"the run never got ready for its kill in {timeout} s")
        time.sleep(POLL_SECONDS)
    return kill_after(proc, extra)


def signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> Ended:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"cardingest hung for {timeout} s:\n{err[-2000:]}") from None
    return Ended(False, 0.0, proc.returncode, out, err)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = POLL_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def temps(*roots: Path) -> list[Path]:
    """Temporary (``.cardingest-tmp-*``) files anywhere under the roots."""
    found: list[Path] = []
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            found += [Path(folder, n) for n in files if n.startswith(TEMP_PREFIX)]
    return sorted(found)


def published(archive: Path, patient: str = PATIENT) -> list[Path]:
    folder = archive / patient
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def copy_started(archive: Path, patient: str = PATIENT) -> Callable[[], bool]:
    """True once the first temporary or published photo shows up in the patient folder."""
    folder = archive / patient

    def started() -> bool:
        try:
            return any(True for _ in os.scandir(folder))
        except OSError:
            return False

    return started


def make_photos(
    samples: Path,
    count: int,
    *,
    seed: int,
    min_size: int,
    max_size: int,
    folders: tuple[str, ...] = ("100CANON", "101CANON"),
) -> dict[str, bytes]:
    """``count`` distinct camera photos: a real dated JPEG plus unique bytes after its EOI.

    Photos are spread over the DCF folders in order, numbered IMG_0001 upward; several share
    a base and so a capture second, which exercises the ``-2``, ``-3`` naming.
    """
    bases = [(samples / "real" / name).read_bytes() for name in DATED_SAMPLES]
    rng = random.Random(seed)
    photos: dict[str, bytes] = {}
    per_folder = -(-count // len(folders))
    for number in range(1, count + 1):
        base = bases[(number - 1) % len(bases)]
        size = max(rng.randint(min_size, max_size), len(base) + 64)
        folder = folders[(number - 1) // per_folder]
        photos[f"DCIM/{folder}/IMG_{number:04d}.JPG"] = base + rng.randbytes(size - len(base))
    return photos


def card_size_mb(files: Mapping[str, bytes]) -> int:
    """A FAT32 image big enough for ``files`` (FAT32 needs at least ~33 MiB)."""
    return max(64, int(sum(len(d) for d in files.values()) * 1.15 / MIB) + 48)


def fill(folder: Path, leave: int = MIB) -> Path:
    """Fill the file system holding ``folder`` from another process, all but ``leave`` bytes.

    What is left is too small for any photo but enough for the catalogue, manifest and audit
    lines, so the run can still say which photos failed. Returns the filler file.
    """
    filler = folder / "filler.bin"
    blocks = max(shutil.disk_usage(folder).free - leave, 0) // (64 * 1024)
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={filler}", "bs=64k", f"count={blocks}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    return filler


def keep_full(folder: Path) -> subprocess.Popen[bytes]:
    """Fill the file system holding ``folder`` again and again (stop it with `stop_group`)."""
    loop = (
        f'n=0; while :; do n=$((n+1)); dd if=/dev/zero of="{folder}/fill$n" bs=64k; '
        "sleep 0.01; done"
    )
    return subprocess.Popen(
        ["bash", "-c", loop],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the group and wait until its members are gone, not only its leader: a ``dd``
    still exiting holds its (already unlinked) file open, and with it the disk's space."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(200):
        if not _members(proc.pid):
            return
        time.sleep(0.05)


def _members(group: int) -> list[int]:
    """Processes of ``group`` that still run (zombies have closed their files already)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == group and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def mount_tmpfs(path: Path, size_mb: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def remount(path: Path, mode: str) -> None:
    """``mount -o remount,ro`` or ``rw``."""
    done = subprocess.run(
        ["mount", "-o", f"remount,{mode}", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def flip_byte(path: Path, offset: int) -> None:
    """Invert one byte in place (same size, different content)."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
        handle.flush()
        os.fsync(handle.fileno())
