"""One ingest or wipe at a time per archive.

The lock is ``{archive}/.cardingest/lock``, created exclusively and holding JSON
``{pid, host, started, purpose}``. While it is held the owner also keeps an ``flock`` on it,
so a crash (kill -9, power loss of a client, a closed laptop) releases it at once: a lock
file whose flock can be taken has no living owner and is taken over. Where flock is not
available (Windows, filesystems that refuse it) the recorded pid decides: a lock from this
host whose process is gone (or whose pid now belongs to a younger process) is stale.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ArchiveError, ArchiveLockedError, InsufficientSpaceError
from ..host import host_name
from ..models import METADIR
from ..storage import modes, ondisk
from ..storage.durable import try_flock, write_all
from ..storage.identity import same_file
from .backend import denied, location_for, not_ours, refuse_links

LOCK_NAME = "lock"
WAIT_SECONDS = 3.0
_YOUNG_SECONDS = 2.0
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _read_info(fd: int) -> dict[str, Any] | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 65536)
        info = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _write_info(fd: int, info: dict[str, Any], path: Path) -> None:
    """The lock file's content; a disk that refuses it is a message, not a traceback."""
    data = (json.dumps(info, sort_keys=True) + "\n").encode("utf-8")
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        write_all(fd, data)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientSpaceError(
                f"Cannot write the lock file {path}: the disk is full. Free some space on it "
                "and run the command again; nothing was changed"
            ) from None
        raise ArchiveError(f"Cannot write the lock file {path}: {exc.strerror or exc}") from None


def _age(fd: int) -> float:
    return time.time() - os.fstat(fd).st_mtime


def _owner_gone(info: dict[str, Any] | None) -> bool:
    """Judge by pid alone (no flock): only a lock recorded on this host can be judged."""
    if info is None or info.get("host") != host_name():
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return False
    import psutil  # lazily: only a stale-looking lock needs it

    if not psutil.pid_exists(pid):
        return True
    try:
        started = datetime.fromisoformat(str(info.get("started"))).timestamp()
        return psutil.Process(pid).create_time() > started + 1
    except (ValueError, TypeError, OverflowError, psutil.Error):
        return False


class ArchiveLock:
    """Context manager holding the archive's lock; ``took_over_from`` is a stale lock's JSON.

    ``took_over_from`` is None when the lock was free, else the replaced lock's contents
    (``{}`` if it could not be read), so the CLI can say whose stale lock it replaced.
    """

    def __init__(self, archive_root: Path, purpose: str) -> None:
        self.archive_root = Path(archive_root)
        self.purpose = purpose
        self.path = self.archive_root / METADIR / LOCK_NAME
        self.took_over_from: dict[str, Any] | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": host_name(),
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            "purpose": self.purpose,
        }

    def _locked(self, info: dict[str, Any] | None, *, unverifiable: bool = False) -> None:
        info = info or {}
        message = (
            f"Another cardingest (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
            f"{info.get('purpose', '?')} since {info.get('started', '?')}) "
            f"is using {self.archive_root}"
        )
        details = [f"lock file: {self.path}", "Run the same command again once it has finished."]
        if unverifiable:
            details.append(
                "It cannot be checked from here; if that cardingest is surely not running, "
                "delete the lock file and try again."
            )
        raise ArchiveLockedError(message, details=details)

    def acquire(self) -> ArchiveLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        try:
            modes.make_dirs(self.path.parent)
        except PermissionError:
            raise ArchiveError(denied(self.path.parent, "create")) from None
        except OSError as exc:
            raise ArchiveError(f"Cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        refuse_links(self.archive_root)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                fd = modes.create(self.path, os.O_RDWR)
            except FileExistsError:
                if self._take_over_if_stale(last_try=time.monotonic() > deadline):
                    return self
                time.sleep(0.05)
                continue
            except FileNotFoundError:  # a refused run removed the empty folder meanwhile
                if time.monotonic() > deadline:
                    raise ArchiveError(f"Cannot create {self.path}: its folder vanished") from None
                modes.make_dirs(self.path.parent)
                continue
            except PermissionError:
                raise ArchiveError(denied(self.path, "create the lock file")) from None
            except OSError as exc:
                raise ArchiveError(f"Cannot create {self.path}: {exc.strerror or exc}") from exc
            return self._claim_new(fd, deadline)

    def _claim_new(self, fd: int, deadline: float) -> ArchiveLock:
        try:
            while try_flock(fd) is False:
                if time.monotonic() > deadline:
                    self._locked(_read_info(fd))
                time.sleep(0.02)
            _write_info(fd, self._info(), self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                if same_file(fd, self.path) and not _read_info(fd):
                    os.unlink(self.path)
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _take_over_if_stale(self, *, last_try: bool) -> bool:
        """Take an existing lock file if its owner is gone; False means look again shortly."""
        try:
            fd = os.open(self.path, os.O_RDWR | _NOFOLLOW | _NONBLOCK)
        except FileNotFoundError:
            return False
        except PermissionError:
            raise ArchiveError(denied(self.path, "open the lock file")) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ArchiveError(not_ours(self.path)) from None
            raise ArchiveError(f"Cannot open {self.path}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ArchiveError(not_ours(self.path))
        taken = False
        try:
            flocked = try_flock(fd)
            info = _read_info(fd)
            if flocked is False:
                if info is None and not last_try:
                    return False
                self._locked(info)
            if info is None and _age(fd) < _YOUNG_SECONDS and not last_try:
                return False
            if flocked is None and not _owner_gone(info):
                if info is None and not last_try:
                    return False
                self._locked(info, unverifiable=True)
            if not same_file(fd, self.path):
                return False
            _write_info(fd, self._info(), self.path)
            taken = True
        finally:
            if not taken:
                os.close(fd)
        self._fd = fd
        self.took_over_from = info if info is not None else {}
        return True

    def release(self) -> None:
        """Remove the lock file; on POSIX while still holding it, so no newcomer's lock is
        the one removed. Windows cannot delete an open file, so there it closes first."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if os.name == "nt":
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            return
        try:
            if same_file(fd, self.path):
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> ArchiveLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


@contextlib.contextmanager
def removed_if_left_empty(archive_root: Path) -> Iterator[None]:
    """On an error, remove the folders the block created for ``archive_root`` if still empty.

    Taking the lock creates ``{archive}/.cardingest`` (and the archive's missing parents); an
    ingest refused after that (the ID map does not fit the card) must not leave an empty
    archive behind, nor an empty ``.cardingest`` in an archive folder that was empty. Only
    empty folders that did not exist before are removed.
    """
    created: list[Path] = []
    probe = Path(archive_root) / METADIR
    while not ondisk.exists(probe) and probe.parent != probe:
        created.append(probe)
        probe = probe.parent
    try:
        yield
    except BaseException:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
        raise


@contextlib.contextmanager
def sole_writer(archive_root: Path) -> Iterator[bool]:
    """Inside: True if no other command works on the archive (nor can start to).

    With the lock file that is always so. With a PostgreSQL catalogue several ingests share
    the archive; then only a run that finds itself alone may sweep the whole tree for a dead
    run's temporary files or close a dead run's ingest record.
    """
    if not location_for(archive_root).postgres:
        yield True
        return
    from .pg import held

    locks = held(archive_root)
    if locks is None:
        yield False
        return
    with locks.alone() as alone:
        yield alone
