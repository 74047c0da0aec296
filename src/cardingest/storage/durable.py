"""Writes that survive a crash, and the one way cardingest makes anything durable.

``sync_file`` is the primitive every durable write goes through (photo copies, the audit log,
manifests, sidecars, share copies and folder entries): ``fsync``, or ``F_FULLFSYNC`` on macOS,
where plain fsync leaves the data in the drive's cache. On top of it: folder sync, atomic
replacement of small files, exclusive publication of new ones, and the sweep of temporaries a
dead run left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..models import METADIR
from . import modes, ondisk
from .identity import same_file

_WRITE = os.O_WRONLY | getattr(os, "O_BINARY", 0)
TEMP_PREFIX = ".cardingest-tmp-"
"""Every temporary file cardingest writes starts with this; a dead run's are swept away."""
_NO_DIR_FSYNC = frozenset(
    {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF}
)
NO_HARDLINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
"""errno values of ``os.link`` on a filesystem without hard links (FAT, some shares)."""


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_OLDER_WAY = frozenset(
    {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EINTR}
)
"""errno values of renameat2 after which the caller takes the name the older way, an
exclusive create first, which never replaces a file either: the kernel or the driver cannot
(fusefat and exfat-fuse: EINVAL; a kernel before 3.15: ENOSYS), a sandbox refuses the call
(EPERM), or a signal cut it short (EINTR: if it was done, the exclusive create finds it)."""
_looking = threading.Lock()
_renameat2: Callable[[int, bytes, int, bytes, int], int] | None = None
_renameat2_looked = False

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)
"""Only macOS has it."""


def sync_file(fd: int) -> None:
    """Make what was written through ``fd`` reach the medium before returning.

    On macOS ``fsync`` only hands the data to the drive, which may keep it in its cache across
    a power cut; ``F_FULLFSYNC`` asks the drive to flush. Where the file system refuses it
    (some network and FUSE file systems), fsync is the best there is.
    """
    if _FULLFSYNC is not None:  # pragma: no cover - macOS only
        try:
            fcntl.fcntl(fd, _FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename or create in ``folder`` durable, where the platform allows it."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        if os.name == "nt":
            return
        raise
    try:
        sync_file(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_FSYNC:
            raise
    finally:
        os.close(fd)


def rename_new(src: str | Path, dst: str | Path, *, dir_fd: int | None = None) -> bool:
    """Give ``src`` the name ``dst`` in one step that never replaces a file: True once done;
    FileExistsError where ``dst`` is taken (nothing changed); False where it cannot be done
    here (`_OLDER_WAY`; macOS, Windows; nothing changed). Both names are relative to
    ``dir_fd`` when given.

    On a drive without hard links this is how a finished file takes its name with no moment
    in which that name holds an empty file: Linux's own FAT and exFAT drivers rename without
    replacing (the kernel checks the name under the folder's lock); fusefat and exfat-fuse
    cannot.
    """
    old, new = os.fsencode(src), os.fsencode(dst)
    if b"\0" in old or b"\0" in new:
        raise ValueError("embedded null byte")
    call = _renameat2_call()
    if call is None:
        return False
    at = _AT_FDCWD if dir_fd is None else dir_fd
    code = call(at, old, at, new, _RENAME_NOREPLACE)
    if code == 0:
        return True
    if code in _OLDER_WAY:
        return False
    raise OSError(code, os.strerror(code), os.fsdecode(src), None, os.fsdecode(dst))


def rename_free(src: str | Path, dst: str | Path) -> None:
    """Give ``src`` the name ``dst``, never over a file: FileExistsError where ``dst`` is
    taken. `rename_new`, or where that cannot be done a rename after a look, which only a
    file made in between could get past (the caller holds the archive's lock)."""
    if not rename_new(src, dst):
        if ondisk.exists(dst, follow_symlinks=False):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(dst))
        os.rename(src, dst)


def _renameat2_call() -> Callable[[int, bytes, int, bytes, int], int] | None:
    """libc's renameat2, looked up once (by whichever copy worker asks first); None where
    there is none."""
    global _renameat2, _renameat2_looked
    if not _renameat2_looked:
        with _looking:
            if not _renameat2_looked:
                _renameat2 = _libc_renameat2()
                _renameat2_looked = True
    return _renameat2


def _libc_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    """renameat2 of glibc 2.28 or musl 1.1.20 and later, answering 0 once done, else the
    errno; None off Linux, or without ctypes or the function."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        found = ctypes.CDLL(None, use_errno=True).renameat2
    except (ImportError, OSError, AttributeError):
        return None
    found.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    found.restype = ctypes.c_int

    def renameat2(old_at: int, old: bytes, new_at: int, new: bytes, flags: int) -> int:
        return 0 if found(old_at, old, new_at, new, flags) == 0 else ctypes.get_errno()

    return renameat2


def direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``'s writes: whether ``fd`` now has it as asked.

    With it, whole aligned blocks go from the caller's buffer to the disk, around the page
    cache. A file system that cannot do that refuses (False), and nothing has changed.
    """
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or fcntl is None:
        return not on
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | flag if on else flags & ~flag)
    except OSError:
        return False
    return True


def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset``, however many writes it takes."""
    while data:
        written = os.pwrite(fd, data, offset)
        if written <= 0:
            raise OSError(errno.EIO, "write made no progress")
        data, offset = data[written:], offset + written


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` at ``fd``'s position, however many writes it takes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


class FolderSyncs:
    """Folders with new entries not yet made durable, synced together (each once) by
    `sync` before anything is recorded about the files in them.

    One fsync of a folder after a batch of files is as durable as one after each, for every
    file in the batch, and costs a journal commit once instead of per file.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[Path] = set()

    def add(self, folder: Path) -> None:
        with self._lock:
            self._pending.add(folder)

    def sync(self) -> None:
        """fsync every pending folder; one that fails stays pending, and its error is raised.

        The pending set is taken whole before the first fsync: a file published into a
        folder while it is being synced adds that folder again, for the next `sync`.
        """
        with self._lock:
            pending, self._pending = sorted(self._pending), set()
        for done, folder in enumerate(pending):
            try:
                fsync_dir(folder)
            except BaseException as exc:
                with self._lock:
                    self._pending.update(pending[done:])
                if isinstance(exc, OSError) and exc.filename is None:
                    raise OSError(exc.errno, exc.strerror, str(folder)) from exc
                raise


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``data`` (bytes, or chunks of them written in turn) so a crash
    or an error raised by the chunks leaves the old file or the new, never half.

    Writes a temporary file in the same folder, fsyncs it, renames it over ``path`` and
    fsyncs the folder. The temporary has the ``TEMP_PREFIX`` name, so one left by a process
    killed mid-write (no ``except`` runs) is removed by the next ingest's stale-temp sweep.
    """
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = modes.create(tmp, _WRITE)
    try:
        try:
            for chunk in (data,) if isinstance(data, bytes) else data:
                write_all(fd, chunk)
            sync_file(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_new(folder: Path, name: str, data: bytes, *, over_empty: bool = False) -> None:
    """Write ``folder/name`` durably via a temporary file; never replaces an existing file.

    Raises FileExistsError when the name is taken. On a file system without hard links the
    full file is renamed to the name without replacing (`rename_new`), or where that cannot
    be done either (fusefat) the name is reserved by an exclusive create first, then the
    full file renamed onto it. ``over_empty``: an empty file under the name
    (`is_placeholder`, what such a write killed in between leaves) is written over, for a
    caller whose names are its own (a share, a DICOM export).

    The temporary stays locked (``flock``) until it is gone, so `remove_dead_temps_in` tells
    it from one a killed run left, without a lock over the whole folder.
    """
    final = folder / name
    tmp, fd = _locked_temp(folder)
    try:
        try:
            write_all(fd, data)
            sync_file(fd)
        finally:
            if os.name == "nt":  # no flock to keep, and Windows cannot rename an open file
                os.close(fd)
                fd = -1
        if over_empty and is_placeholder(final):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(final)
        try:
            os.link(tmp, final)
        except OSError as exc:
            if exc.errno not in NO_HARDLINKS:
                raise
            if not rename_new(tmp, final):
                os.close(modes.create(final, _WRITE))
                try:
                    os.replace(tmp, final)
                except BaseException:  # no empty file left under the final name
                    with contextlib.suppress(OSError):
                        os.unlink(final)
                    raise
    finally:
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        finally:
            if fd >= 0:
                os.close(fd)
    fsync_dir(folder)


def is_placeholder(path: Path) -> bool:
    """Whether ``path`` is an empty regular file (not a link): what `write_new` leaves under
    its name when killed between its exclusive create and its rename (fusefat, exfat-fuse).
    It holds nothing of what was being written."""
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_size == 0


_TEMP_TRIES = 8
_LOCK_BUSY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


def try_flock(fd: int) -> bool | None:
    """An exclusive flock on ``fd``, not waited for: True when taken, False when another
    open file holds it, None where the platform or file system has no flock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return False if exc.errno in _LOCK_BUSY else None
    return True


def _locked_temp(folder: Path) -> tuple[Path, int]:
    """A new temporary in ``folder``, created and locked (`locked_new`)."""

    def create() -> tuple[Path, int]:
        tmp = folder / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
        return tmp, modes.create(tmp, _WRITE)

    return locked_new(create)


def locked_new(create: Callable[[], tuple[Path, int]]) -> tuple[Path, int]:
    """A file ``create`` makes under a new name, open and ``flock``ed, for a folder that
    `remove_dead_temps_in` or `remove_dead_files` sweeps. A sweep can take the file in the
    instant between its creation and its lock (it then removes it): that one is given up for
    another name. OSError (EBUSY) when every try was taken."""
    for _ in range(_TEMP_TRIES):
        path, fd = create()
        if try_flock(fd) is not False and os.fstat(fd).st_nlink > 0:
            return path, fd
        os.close(fd)
    raise OSError(errno.EBUSY, "each file made was removed at once", str(path.parent))


CLEAN_MARK = "clean"
"""``{root}/.cardingest/clean`` exists while nobody writes to the root and the last writer
finished normally, so no temporary file can be left anywhere in the tree."""


def remove_stale_temps(root: Path) -> list[Path]:
    """Delete leftover ``TEMP_PREFIX*`` files under ``root`` (a crash, kill -9, pulled card).

    Only regular files with that prefix are touched, anywhere under the root including the
    ``.cardingest`` metadata folder; symlinks are not followed. Call it while holding the
    archive lock: a running ingest's temporaries look the same.
    """
    removed: list[Path] = []
    for folder, _dirs, files in os.walk(root):
        removed += _remove_temps(folder, files)
    return sorted(removed)


def remove_stale_temps_in(folders: Iterable[Path]) -> list[Path]:
    """Delete leftover ``TEMP_PREFIX*`` files directly in ``folders`` (not below them).

    For a writer that shares the archive with others (a PostgreSQL catalogue): it may sweep
    only the folders it alone writes to, those of the patients it holds.
    """
    return _swept(folders, _remove_temps)


def remove_dead_temps_in(folders: Iterable[Path]) -> list[Path]:
    """Delete the temporaries of `write_new` directly in ``folders`` that no writer holds.

    For folders outside the archive that runs write without a common lock (``dicom export
    --out``): a writer keeps its temporary locked until it is gone, so one whose lock can be
    taken was left by a run that was killed. Where the file system has no flock nothing is
    removed, since a live writer's temporary cannot be told from a dead one's there.
    """
    return _swept(folders, _dead_ones(TEMP_PREFIX))


def remove_dead_files(folder: Path, prefix: str, suffix: str, *, owner: int) -> list[Path]:
    """Delete the files named ``prefix…suffix`` directly in ``folder`` that user ``owner``
    owns and no live process holds: for files a run keeps `flock`ed while they exist, in a
    folder others write to without a common lock (the temp folder: a run's private temporary
    contact sheet). A file of another user, or one that is not a regular file, is never
    touched; where the file system has no flock nothing is removed."""
    return _swept([folder], _dead_ones(prefix, suffix, owner))


def _dead_ones(
    prefix: str, suffix: str = "", owner: int | None = None
) -> Callable[[Path, list[str]], list[Path]]:
    """A sweep (`_swept`) of the files named ``prefix…suffix`` that `_remove_if_dead` removes."""

    def sweep(folder: Path, names: list[str]) -> list[Path]:
        return [
            Path(folder, name)
            for name in names
            if name.startswith(prefix)
            and name.endswith(suffix)
            and _remove_if_dead(Path(folder, name), owner=owner)
        ]

    return sweep


def _swept(folders: Iterable[Path], sweep: Callable[[Path, list[str]], list[Path]]) -> list[Path]:
    """What ``sweep`` removed in each of ``folders`` (given its names); unreadable ones are
    passed over."""
    removed: list[Path] = []
    for folder in sorted(set(folders)):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        removed += sweep(Path(folder), names)
    return sorted(removed)


def _remove_if_dead(path: Path, *, owner: int | None = None) -> bool:
    """Unlink the temporary ``path`` if it is a regular file whose flock can be taken (and,
    given ``owner``, that user's: checked before it is opened and again once it is)."""
    if fcntl is None:
        return False
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode) or not _owned_by(found, owner):
            return False
        try:  # read-write: NFS gives an exclusive lock only on a file open for writing
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not _owned_by(os.fstat(fd), owner) or try_flock(fd) is not True:
            return False
        if not same_file(fd, path, follow_links=False):
            return False
        os.unlink(path)  # still holding the lock: no writer can have taken this file meanwhile
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _owned_by(found: os.stat_result, owner: int | None) -> bool:
    return owner is None or found.st_uid == owner


def remove_stale_temps_of(path: Path) -> list[Path]:
    """Delete the temporaries `atomic_write_bytes` left beside ``path`` (a killed writer).

    For a file whose writers take turns under a lock: the caller holds it, so no temporary
    of that name is a live writer's.
    """
    prefix = f"{TEMP_PREFIX}{path.name}."
    try:
        names = [name for name in os.listdir(path.parent) if name.startswith(prefix)]
    except OSError:
        return []
    return _remove_temps(path.parent, names)


def _remove_temps(folder: str | Path, names: Iterable[str]) -> list[Path]:
    """Unlink the regular files among ``names`` in ``folder`` that are temporaries."""
    removed: list[Path] = []
    for name in names:
        if not name.startswith(TEMP_PREFIX):
            continue
        path = Path(folder, name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


_LEFT: set[Path] = set()
_LEFT_LOCK = threading.Lock()


def could_not_remove(path: Path) -> None:
    """Note a temporary file this process could not remove: `writing_to` then leaves its
    root unmarked, so the next writer's sweep finds it (a backup folder made read-only
    mid-run, made writable again after)."""
    with _LEFT_LOCK:
        _LEFT.add(Path(path))


def _left_under(root: Path) -> bool:
    """Whether a file noted by `could_not_remove` under ``root`` is still there."""
    with _LEFT_LOCK:
        _LEFT.difference_update([path for path in _LEFT if not os.path.lexists(path)])
        return any(path.is_relative_to(root) for path in _LEFT)


@contextlib.contextmanager
def writing_to(root: Path) -> Iterator[list[Path]]:
    """Write temporaries under ``root`` inside this block; yields the dead runs' ones removed.

    The whole tree is swept only when the clean mark is missing: the last writer was killed,
    lost power or its drive, or the archive predates the mark. Otherwise only the metadata
    folder is, so an archive of years of photos on a network share is not walked at every
    ingest. The mark is removed (durably) before the block runs and put back only when the
    block returns normally; any exception leaves it off, and the next writer sweeps it all.
    The caller holds the archive lock.
    """
    mark = Path(root, METADIR, CLEAN_MARK)
    swept = remove_stale_temps(Path(root, METADIR) if ondisk.exists(mark) else Path(root))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(mark)
        fsync_dir(mark.parent)
    yield swept
    if _left_under(Path(root)) or _others_wrote(Path(root, METADIR)):
        return
    with contextlib.suppress(OSError):  # no mark only costs the next run a full sweep
        os.close(modes.create(mark, _WRITE))
        fsync_dir(mark.parent)


WRITER_MARK = f"{TEMP_PREFIX}writer-"
"""The start of the name of `writing_beside`'s file in a root's metadata folder."""


@contextlib.contextmanager
def writing_beside(root: Path) -> Iterator[None]:
    """Write temporaries under ``root`` beside other writers (the desks of a PostgreSQL
    catalogue), which sweep only their own patients' folders: a file in the metadata folder
    says so while this block runs. The writer that found itself alone at its start (and
    swept the tree, `writing_to`) then puts back no clean mark at its end, so a kill -9 of
    this one, whose temporaries may lie anywhere, leaves the next lone writer a full sweep
    (which removes this file too). Removed when the block ends, unless a temporary it could
    not remove is left (`could_not_remove`)."""
    path = Path(root, METADIR, f"{WRITER_MARK}{os.getpid()}-{os.urandom(4).hex()}")
    os.close(modes.create(path, _WRITE))
    fsync_dir(path.parent)
    try:
        yield
    finally:
        if not _left_under(Path(root)):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _others_wrote(meta: Path) -> bool:
    """Whether another writer's `writing_beside` file is there: it writes still, or was
    killed (its temporaries anywhere)."""
    try:
        return any(name.startswith(WRITER_MARK) for name in os.listdir(meta))
    except OSError:
        return True


def remove_empty_folders(folders: Iterable[Path], roots: Iterable[Path]) -> None:
    """Remove each of ``folders`` and its parents while they are empty, up to (not
    including) the root they lie under: what a move or a held photo left empty. A folder
    not empty (another photo, another desk's) or gone already ends its walk."""
    stop = {Path(root) for root in roots}
    for folder in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        current = folder
        while current not in stop and current.parent != current:
            try:
                current.rmdir()
            except OSError:
                break
            current = current.parent
