"""Copy, verify, never overwrite: the durable step of an ingest.

Each source file is read once, and its sha256 (the checksum the catalogue keeps) and
XXH3-128 are computed in the same pass. A photo is read whole into memory and then written to
a temporary file in every destination folder, its whole pages with O_DIRECT (HELD_BYTES);
a small file or a video streams, each chunk written as it is read. Each temporary is fsynced,
dropped from the page cache and read back from disk, where XXH3-128 alone (some 30 times
cheaper than a second sha256) proves it holds the bytes read from the card. Only a copy that
matches is published, and publishing never replaces an existing file: a hard link to the
final name (which fails if the name is taken), or, where the filesystem has no hard links, an
exclusive empty placeholder that the verified temporary is then renamed over. Half-written
data only ever lives under ``TEMP_PREFIX`` names, which `durable.writing_to` clears after a
crash. The one exception to "never replace" is `copy_over`, for a repair: the damaged file is
set aside first.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import mmap
import os
import shutil
import stat
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, TypeVar

import xxhash

from ..models import MAX_SUFFIX
from . import modes, pagecache
from .ahead import read_at
from .durable import (
    NO_HARDLINKS,
    TEMP_PREFIX,
    FolderSyncs,
    could_not_remove,
    direct,
    fsync_dir,
    pwrite_all,
    rename_new,
    sync_file,
    write_all,
)
from .identity import nearest_existing
from .links import leaves_root
from .positional import PEEK, ByPosition, read_range

CHUNK = 1024 * 1024
READ_PIECE = 128 * 1024
"""The most a read through the page cache with the kernel's read-ahead asks for at once
(`hash_from_disk`): 128 KiB reads return as their pages come in and let the read-ahead run
on, where 1 MiB reads wait for the whole MiB (the 1 GB card hashed in 1.19 s against 1.46 s
on the bench machine, docs/performance.md)."""
_PAGE = 4096
_DIRECT = getattr(os, "O_DIRECT", 0)
"""Reads that must come from the disk (read-back, `hash_from_disk`) go around the page cache
where the file system allows it (Linux: ext4, xfs, vfat...); elsewhere they drop it first."""
WORKERS = 8
"""Files in flight by default: the card is read by one of them at a time, and the others
fsync, read back and publish earlier files meanwhile. Eight kept the disk busier than four
(bench/, docs/performance.md); each costs one CHUNK buffer, and up to HOLDERS of them a
photo held in memory."""
PREFETCH_BYTES = CHUNK
"""Read ahead of each queued file: all of a small photo, the head of a large one. The kernel's
own read-ahead takes the rest as the file is read, for less CPU: a prefetch hint fills the
page cache in single pages, the read's read-ahead in large folios where the file system has
them (ext4, xfs). Prefetching whole 5 MB photos cost 0.07 CPU-s more per GB
(docs/performance.md)."""

HELD_BYTES = 16 * CHUNK
"""A file of CHUNK to this size (a photo, a RAW) is read whole into memory in its turn at the
card and written after that turn, its whole pages with O_DIRECT: no copy into the page cache,
no writeback, nothing to drop before the read-back, about half the CPU of writing through the
page cache (docs/performance.md). Smaller files, where an O_DIRECT write per file costs more
than it saves, and larger ones (video) stream through the page cache a chunk at a time."""
HOLDERS = 4
"""Files held in memory at once by one `transfer_many`: at most HOLDERS * HELD_BYTES of
buffers, however far the card's reader runs ahead of the disk's writes."""
ROOM = 2 * HOLDERS * HELD_BYTES
"""Free space every destination must have for held photos to be written side by side: all
that can be in flight at once, for an archive and a backup on one disk (`_Room`)."""

_WRITE = os.O_WRONLY | getattr(os, "O_BINARY", 0)
_NOT_A_FILE = frozenset({errno.ELOOP, errno.ENOENT, errno.EISDIR, errno.ENOTDIR})

ByteCallback = Callable[[int], None]
Stopped = Callable[[], bool]


class ContentGate(Protocol):
    """Lets the caller skip content it already holds, without a second read of the card.

    `claim` is called as soon as a file's content is known (its source read and hashed), in
    job order: `transfer_many` reads sources one at a time, in the order of its jobs. `enter`
    is called once the file verified, before publishing: it returns the relative path where
    that content is archived already (then nothing is published: `duplicate_of`), or None,
    and may block while an earlier claimant of the same content publishes it. `leave` follows
    every `claim` exactly once, with the published relpath, or None if this file published
    nothing (a duplicate, or a failure anywhere after its read). `enter` may raise `Held` to
    keep the file out of the archive: nothing is published, and the result carries the reason
    (`TransferResult.held`).

    So the same content twice in one run is archived by the first of its jobs, whichever
    worker happens to finish first: names never depend on timing.
    """

    def claim(self, source: Path, sha256: str) -> None: ...

    def enter(self, source: Path, sha256: str) -> str | None: ...

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None: ...


class Held(Exception):
    """Raised by a `ContentGate`'s ``enter``: this file must stay on the card, for ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Copied(Protocol):
    """The bytes read from the card for one file, as a read-only file (`Recheck`)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int: ...

    def tell(self) -> int: ...


Recheck = Callable[[Path, Copied, os.stat_result], str | None]
"""The caller's look at the very bytes read from a card file, before anything of it is
published: given the source, those bytes (`Copied`, the same bytes that are written, hashed
and read back) and the source's fstat after its last byte was read. It returns None to go on,
or the reason to keep the file out of the archive (the result is then ``held``, as for
`Held`). The ingest derives the file's capture time from them again (`ingest._Rechecked`)."""


@dataclass(frozen=True)
class Destination:
    """Where one copy should go: ``root / relpath`` (relpath uses POSIX separators)."""

    root: Path
    relpath: str
    first: int = 1
    """The first of `candidate_names` publishing tries: 2 begins at ``stem-2.ext`` (a
    shot's backup copies take one free stem together: `backupstems`)."""


@dataclass(frozen=True)
class Published:
    """Where one verified copy really is; ``reused`` means an identical file was already there."""

    root: Path
    relpath: str
    reused: bool

    @property
    def path(self) -> Path:
        return Path(self.root, *self.relpath.split("/"))


@dataclass(frozen=True)
class TransferResult:
    source: Path
    size: int
    sha256: str | None
    published: tuple[Published, ...]
    error: str | None
    duplicate_of: str | None = None
    held: str | None = None
    """Why the content gate kept this verified file from being published (`Held`)."""

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failure(Exception):
    """This file could not be copied; the message is the result's one-line error."""


@dataclass
class _Temp:
    destination: Destination
    folder: Path
    name: str
    path: Path
    fd: int = -1
    consumed: bool = False
    at: int | None = None
    """The folder, opened with no link followed below the root (`modes.open_beneath`): the
    temporary is made, named and removed relative to it, never by a path another account
    could lead elsewhere meanwhile."""

    @property
    def where(self) -> str:
        return f"{self.destination.relpath} to {self.destination.root}"


_local = threading.local()
_dirs_lock = threading.Lock()

_after_seal: Callable[[Path, Path], None] | None = None
"""Fault-injection point for the tests: called with the source and each of its temporaries
after the temporary's fsync and page-cache drop, before it is read back. Always None in the
product."""


class _Turns:
    """Jobs take their turn at reading the card in job order (0, 1, 2, ...).

    A job that ends without reading (refused, cancelled, failed early) still passes its
    turn, so the next one never waits for it. A job waiting for its turn gives up when
    ``stopped()``: the jobs before it may have been dropped and will never come. Passing a
    turn wakes only the job whose turn it now is (one event per waiting job), not every
    waiting worker (for 2,000 small photos: 111k futex calls instead of 256k).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._passed: set[int] = set()
        self._waiting: dict[int, threading.Event] = {}

    @contextlib.contextmanager
    def turn(self, index: int, stopped: Stopped) -> Iterator[None]:
        with self._lock:
            ready = (
                None if self._next == index else self._waiting.setdefault(index, threading.Event())
            )
        if ready is not None:
            while not ready.wait(0.1):
                if stopped():
                    raise _Failure("cancelled while waiting for its turn")
        try:
            yield
        finally:
            self.passed(index)

    def passed(self, index: int) -> None:
        with self._lock:
            if index >= self._next:
                self._passed.add(index)
            while self._next in self._passed:
                self._passed.discard(self._next)
                self._next += 1
            now = self._waiting.pop(self._next, None)
        if now is not None:
            now.set()


class _Room:
    """Who may write now. Photos held in memory write side by side while every destination
    has ROOM free; anything else (a streamed file, a photo for a nearly full disk) writes
    alone. So a file that does not fit on a full disk fails alone, and has removed its
    temporaries before the next file writes a byte. One waiting to write alone goes first.

    Whether there is room is asked when leave is given, under the lock, so no file can
    write alone between the question and the writes it allows."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._sharing = 0
        self._alone = False
        self._queued = 0

    def _wait(self, stopped: Stopped) -> None:
        self._changed.wait(0.1)
        if stopped():
            raise _Failure("cancelled while waiting to write")

    @contextlib.contextmanager
    def writing(self, roomy: Callable[[], bool] | None, stopped: Stopped) -> Iterator[None]:
        """Leave to write: side by side if ``roomy`` is given and says so when it is asked,
        else alone."""
        with self._changed:
            while roomy is not None and (self._alone or self._queued):
                self._wait(stopped)
            shared = roomy is not None and roomy()
            if shared:
                self._sharing += 1
            else:
                self._queued += 1
                try:
                    while self._alone or self._sharing:
                        self._wait(stopped)
                finally:
                    self._queued -= 1
                self._alone = True
        try:
            yield
        finally:
            with self._changed:
                if shared:
                    self._sharing -= 1
                else:
                    self._alone = False
                self._changed.notify_all()


@dataclass(frozen=True)
class _Order:
    """A job's place in `transfer_many`: its turn to read the card, the slots for files held
    in memory until they are written (HOLDERS), and who may write now (`_Room`)."""

    reads: _Turns
    room: _Room
    holders: threading.Semaphore
    pool: _AlignedPool
    index: int


@contextlib.contextmanager
def _slot(slots: threading.Semaphore, stopped: Stopped) -> Iterator[None]:
    while not slots.acquire(timeout=0.1):
        if stopped():
            raise _Failure("cancelled while waiting for memory")
    try:
        yield
    finally:
        slots.release()


def _never() -> bool:
    return False


def _buffer() -> memoryview:
    """One reusable chunk buffer per thread, so memory stays flat however many files pass."""
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(CHUNK))
    return view


class _AlignedPool:
    """Page-aligned buffers (anonymous mmap) for O_DIRECT reads, reused: there are only ever
    as many as were in use at one time, so memory stays flat however many files pass.

    An anonymous mmap is shared with a forked child (``MAP_SHARED``, Python's default): a
    child that read into the buffers it was handed down would read into its parent's, and
    into its siblings' (mutmut's test processes, forked from one that had copied, compared
    each other's reads: read-backs failed, slates were misread). A child starts with none
    (`_forget_in_child`)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: list[memoryview] = []
        self._lock = threading.Lock()

    def _forget_in_child(self) -> None:
        self._free = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def take(self) -> Iterator[memoryview]:
        with self._lock:
            view = self._free.pop() if self._free else None
        if view is None:
            view = memoryview(mmap.mmap(-1, self.size))
        try:
            yield view
        finally:
            with self._lock:
                self._free.append(view)


_aligned = _AlignedPool(CHUNK)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_aligned._forget_in_child)


class _NoDirect(Exception):
    """This file system refuses O_DIRECT reads: read through the page cache instead."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _unlink_quietly(path: Path, at: int | None = None) -> None:
    """Remove a file of ours (``path``'s name in the folder open on ``at``, if given); one
    that cannot be removed (its folder made read-only meanwhile) keeps its root's clean mark
    off (`durable.could_not_remove`), so the next writer sweeps the whole tree for it."""
    try:
        os.unlink(_entry(path, at), dir_fd=at)
    except FileNotFoundError:
        pass
    except OSError:
        could_not_remove(path)


def _entry(path: Path, at: int | None) -> Path | str:
    """How a file of a temporary's folder is named to a call: by its name relative to the
    folder open on ``at``, else by its path."""
    return path if at is None else path.name


def plain_relpath(rel: str) -> bool:
    """A relative POSIX file path that cannot leave its root: no empty, ``.`` or ``..`` part,
    no backslash or NUL, and not one of our temporaries' names."""
    parts = rel.split("/")
    return not (
        not rel
        or "\\" in rel
        or "\0" in rel
        or any(part in ("", ".", "..") for part in parts)
        or parts[-1].startswith(TEMP_PREFIX)
    )


@dataclass(frozen=True)
class _Place:
    """A destination checked once per file (`_resolve`): its folder, the folder's parts
    below the root, and the file's name."""

    destination: Destination
    folder: Path
    parts: tuple[str, ...]
    name: str


def _resolve(destination: Destination) -> _Place:
    """The destination's folder and file name; refuses anything that could leave the root."""
    rel = destination.relpath
    if not plain_relpath(rel):
        raise _Failure(f"refusing destination {rel!r}: not a plain relative file path")
    *parts, name = rel.split("/")
    return _Place(destination, Path(destination.root, *parts), tuple(parts), name)


def ensure_dirs(folder: Path) -> None:
    """Create ``folder`` with its parents, making each new directory entry durable.

    Serialised so that no worker publishes into a folder whose own entry in its parent is not
    yet on disk (another worker may have just created it).
    """
    with _dirs_lock:
        for path in modes.make_dirs(folder):
            fsync_dir(path.parent)


def _open_temp(place: _Place) -> _Temp:
    destination, folder = place.destination, place.folder
    try:
        unmade: OSError | None = None
        try:
            with _dirs_lock:  # as `ensure_dirs`, with no link followed below the root
                for path in modes.make_dirs_beneath(Path(destination.root), place.parts):
                    fsync_dir(path.parent)
        except OSError as exc:  # a link on the way is said as such just below
            unmade = exc
        left = leaves_root(destination.root, place.parts)
        if left is None and unmade is not None:
            raise unmade
        if left is not None:
            raise _Failure(_leaves(destination, f"{left[0]} {left[1]}"))
        at = _open_folder(place)
        try:
            while True:
                path = folder / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
                try:
                    fd = modes.create(path.name, _WRITE, dir_fd=at)
                except FileExistsError:
                    continue
                return _Temp(destination, folder, place.name, path, fd, at=at)
        except BaseException:
            os.close(at)
            raise
    except OSError as exc:
        raise _Failure(f"{_why(exc)} creating {destination.relpath} in {destination.root}") from exc


def _leaves(destination: Destination, what: str) -> str:
    return (
        f"refusing to write {destination.relpath} in {destination.root}: {what}, not a "
        "folder of it (it could lead anywhere, the card included)"
    )


def _open_folder(place: _Place) -> int:
    """The temporary's folder (`modes.open_beneath`); one swapped for a link or a file since
    `leaves_root` looked is refused as that check refuses it."""
    try:
        return modes.open_beneath(place.destination.root, place.parts)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        what = f"a folder on the way to {place.folder} became a link or a file as it was opened"
        raise _Failure(_leaves(place.destination, what)) from exc


class _Digest(Protocol):
    def update(self, data: memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


_D = TypeVar("_D", bound=_Digest)


def _hash_stream(
    read: Callable[[memoryview], int | None],
    stopped: Stopped,
    digest: _Digest | None = None,
) -> tuple[int, str]:
    """(bytes, hex digest) of a stream: sha256 unless another ``digest`` is given."""
    view = _buffer()
    digest = hashlib.sha256() if digest is None else digest
    total = 0
    while True:
        if stopped():
            raise _Failure("cancelled")
        count = read(view)
        if not count:
            return total, digest.hexdigest()
        digest.update(view[:count])
        total += count


@dataclass
class _Read:
    """What one read of a source gave: its size, sha256 and XXH3-128 (for the read-back
    comparison), and its bytes (``held``: whole CHUNKs but the last) unless it streamed."""

    size: int
    sha256: str
    xxh3: str
    held: list[memoryview] | None
    info: os.stat_result
    """The source's fstat after its last byte was read."""
    head: bytes = b""
    tail: bytes = b""
    """A streamed file's first KEPT_HEAD and last KEPT_TAIL bytes (`_copied`)."""


_NOT_YET = os.stat_result((0,) * 10)
"""`_Read.info` until `_read_source` has the source's fstat after its last byte."""


class _CopiedBytes(ByPosition):
    """`Copied`: the bytes of one read of a source, by position: those in ``head`` (the
    first of them) and ``tail`` (the last) at the cost of a slice, the rest through
    ``pread``. A capture reader's reads almost all land in the head, and a JPEG's check
    for its end (`capture.cut_short`) in the tail."""

    __slots__ = ("_head", "_pread", "_size", "_tail", "_tail_at", "error")

    def __init__(
        self, size: int, head: memoryview, pread: Callable[[int, int], bytes], tail: bytes = b""
    ) -> None:
        self._size = size
        self._head = head
        self._tail = tail
        self._tail_at = size - len(tail)
        self._pread = pread
        self._pos = 0
        self.error: OSError | None = None
        """The first read that failed: the capture readers take any error for a damaged
        file, where this one is the archive disk's (`_rechecked`)."""

    def _end(self) -> int:
        return self._size

    def read(self, size: int = -1, /) -> bytes:
        start = self._pos
        end = self._size if size < 0 or start + size > self._size else start + size
        if start >= end:
            return b""
        self._pos = end
        if end <= len(self._head):
            return self._head[start:end].tobytes()
        if start >= self._tail_at:
            return self._tail[start - self._tail_at : end - self._tail_at]
        try:
            return self._pread(start, end - start)
        except OSError as exc:
            self.error = self.error or exc
            raise


def _from_memory(held: list[memoryview], size: int) -> _CopiedBytes:
    """A photo read into memory: its CHUNK-long buffers (the last shorter), in order."""

    def pread(offset: int, length: int) -> bytes:
        parts = []
        while length > 0:
            index, within = divmod(offset, CHUNK)
            part = held[index][within : within + length]
            parts.append(part)
            offset += len(part)
            length -= len(part)
        return b"".join(parts)

    return _CopiedBytes(size, held[0] if held else memoryview(b""), pread)


KEPT_HEAD = 64 * 1024
"""The first bytes of a streamed file kept for `Recheck`: as many as the scan reads at once
(`scan.HEAD_BYTES`), where a capture time almost always is."""
KEPT_TAIL = 4096
"""Its last bytes kept: the end of a JPEG that `capture.cut_short` reads first."""


@contextlib.contextmanager
def _copied(read: _Read, temps: list[_Temp]) -> Iterator[_CopiedBytes]:
    """The bytes ``read`` gave: from memory; for a file that streamed, its first and last
    bytes kept as they passed, and any other from its first temporary, which was written
    from the very buffers that were hashed (opened only if a reader asks for those)."""
    if read.held is not None:
        yield _from_memory(read.held, read.size)
        return
    opened: list[int] = []

    def pread(offset: int, length: int) -> bytes:
        if not opened:
            opened.append(os.open(temps[0].path, os.O_RDONLY | getattr(os, "O_BINARY", 0)))
        return read_range(opened[0], offset, length)

    try:
        yield _CopiedBytes(read.size, memoryview(read.head), pread, read.tail)
    finally:
        for fd in opened:
            os.close(fd)


def _rechecked(source: Path, read: _Read, temps: list[_Temp], recheck: Recheck) -> None:
    """Raises `Held` where ``recheck`` keeps the bytes ``read`` gave out of the archive."""
    try:
        with _copied(read, temps) as copied:
            reason = recheck(source, copied, read.info)
            if copied.error is not None:
                raise copied.error
    except OSError as exc:
        where = "memory" if read.held is not None else temps[0].where
        raise _Failure(f"{_why(exc)} reading what was read of {source} from {where}") from exc
    if reason is not None:
        raise Held(reason)


def _read_source(
    source: Path,
    places: Sequence[_Place],
    temps: list[_Temp],
    expected_size: int | None,
    on_bytes: ByteCallback | None,
    stopped: Stopped,
    buffers: contextlib.ExitStack,
    order: _Order | None,
) -> _Read:
    """Read ``source`` once: into memory (buffers kept by ``buffers``) if it is CHUNK to
    HELD_BYTES long, else writing every chunk to one temp per destination, alone (`_Room`).
    Both digests come from this one read; XXH3-128 is for the read-back comparison."""
    src, info = _open_source(source)
    with src:
        want = info.st_size if expected_size is None else expected_size
        if want > PREFETCH_BYTES:  # the rest was asked for whole (`transfer_many`)
            pagecache.sequential(src.fileno())
        if _DIRECT and CHUNK <= want <= HELD_BYTES:
            if order is None:
                pool = _AlignedPool(CHUNK)
            else:
                buffers.enter_context(_slot(order.holders, stopped))
                pool = order.pool
            read = _read_into_memory(src, source, want, buffers, pool, on_bytes, stopped)
        else:
            with _writing(order, stopped, temps):
                read = _stream(src, source, want, places, temps, on_bytes, stopped)
        read.info = _read_whole(src, source, info)
        return read


def _open_source(source: Path) -> tuple[io.FileIO, os.stat_result]:
    """The card file opened for its copy, if it is a regular file. Not through a symbolic
    link (O_NOFOLLOW), and without waiting (O_NONBLOCK): a link or a named pipe put where the
    scan found a photo must neither bring in a file from elsewhere nor hang the copy where
    no Ctrl-C reaches it."""
    try:
        fd = os.open(source, os.O_RDONLY | _NONBLOCK | _NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Failure(f"{source} is a symbolic link now: not followed") from exc
        raise _Failure(f"{_why(exc)} opening {source}") from exc
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise _Failure(f"{_why(exc)} opening {source}") from exc
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _Failure(f"{os.strerror(errno.EISDIR)} opening {source}")
        raise _Failure(f"{source} is not a regular file")
    return _card_file(fd, source), info


def _card_file(fd: int, source: Path) -> io.FileIO:
    """The opened card file as an unbuffered file, named by its path (tests read it their way)."""
    src = io.FileIO(fd, "rb", closefd=True)
    src.name = str(source)
    return src


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _read_whole(src: io.FileIO, source: Path, opened: os.stat_result) -> os.stat_result:
    """The source's fstat once its last byte is read, if it was not written meanwhile: a
    write moves its modification or change time (where the file system keeps them: fusefat's
    stand still, so the caller's `Recheck` looks at the bytes themselves), and the bytes read
    may then be part old, part new."""
    try:
        now = os.fstat(src.fileno())
    except OSError as exc:
        raise _Failure(f"{_why(exc)} reading {source}") from exc
    if (now.st_mtime_ns, now.st_ctime_ns) != (opened.st_mtime_ns, opened.st_ctime_ns):
        raise _Failure(f"{source} changed while reading: it was written to as it was read")
    return now


def _grew(source: Path, want: int) -> _Failure:
    return _Failure(f"{source} changed while reading: more than the expected {want} bytes")


def _truncated(source: Path, got: int, want: int) -> _Failure:
    return _Failure(
        f"{source} changed or was truncated while reading: got {got} of the expected {want} bytes"
    )


def _read_into_memory(
    src: io.FileIO,
    source: Path,
    want: int,
    buffers: contextlib.ExitStack,
    pool: _AlignedPool,
    on_bytes: ByteCallback | None,
    stopped: Stopped,
) -> _Read:
    """Read the ``want`` bytes of ``src`` into buffers from ``pool`` (kept by ``buffers``),
    every one full but the last, then one byte more, which must not be there."""
    digest = hashlib.sha256()
    check = xxhash.xxh3_128()
    held: list[memoryview] = []
    total = 0
    while total < want:
        if stopped():
            raise _Failure(f"cancelled while copying {source}")
        view = buffers.enter_context(pool.take())[: want - total]
        filled = 0
        while filled < len(view):
            try:
                count = src.readinto(view[filled:])
            except OSError as exc:
                raise _Failure(f"{_why(exc)} reading {source}") from exc
            if not count:
                raise _truncated(source, total + filled, want)
            filled += count
            if on_bytes is not None:
                on_bytes(count)
        total += filled
        digest.update(view)
        check.update(view)
        held.append(view)
    try:
        more = src.read(1)
    except OSError as exc:
        raise _Failure(f"{_why(exc)} reading {source}") from exc
    if more:
        raise _grew(source, want)
    return _Read(total, digest.hexdigest(), check.hexdigest(), held, _NOT_YET)


def _stream(
    src: io.FileIO,
    source: Path,
    want: int,
    places: Sequence[_Place],
    temps: list[_Temp],
    on_bytes: ByteCallback | None,
    stopped: Stopped,
) -> _Read:
    for place in places:
        temps.append(_open_temp(place))
    digest = hashlib.sha256()
    check = xxhash.xxh3_128()
    total = 0
    head = tail = b""
    with _aligned.take() as view:
        while True:
            if stopped():
                raise _Failure(f"cancelled while copying {source}")
            try:
                count = src.readinto(view)
            except OSError as exc:
                raise _Failure(f"{_why(exc)} reading {source}") from exc
            if not count:
                break
            total += count
            if total > want:
                raise _grew(source, want)
            chunk = view[:count]
            digest.update(chunk)
            check.update(chunk)
            if len(head) < KEPT_HEAD:
                head += chunk[: KEPT_HEAD - len(head)]
            tail = (tail + chunk[-KEPT_TAIL:])[-KEPT_TAIL:]
            for temp in temps:
                try:
                    write_all(temp.fd, chunk)
                except OSError as exc:
                    raise _Failure(f"{_why(exc)} writing {temp.where}") from exc
                pagecache.start_writeback(temp.fd, total - count, count)
            if on_bytes is not None:
                on_bytes(count)
    if total != want:
        raise _truncated(source, total, want)
    return _Read(total, digest.hexdigest(), check.hexdigest(), None, _NOT_YET, head, tail)


def _write_held(temp: _Temp, held: list[memoryview], stopped: Stopped) -> None:
    """Write a file held in memory to ``temp``: its whole pages with O_DIRECT where the file
    system takes it, the last page's tail (and everything, where it does not) through the
    page cache."""
    fd = temp.fd
    uncached = direct(fd, True)
    offset = 0
    try:
        for chunk in held:
            if stopped():
                raise _Failure(f"cancelled while writing {temp.where}")
            whole = len(chunk) - len(chunk) % _PAGE if uncached else 0
            if whole:
                try:
                    pwrite_all(fd, chunk[:whole], offset)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    whole = 0
            if whole < len(chunk):
                if uncached:
                    uncached = not direct(fd, False)
                pwrite_all(fd, chunk[whole:], offset + whole)
            offset += len(chunk)
    except OSError as exc:
        raise _Failure(f"{_why(exc)} writing {temp.where}") from exc


def _seal(temp: _Temp) -> None:
    """Make the temp durable and push it out of the page cache so read-back hits the disk."""
    try:
        sync_file(temp.fd)
        pagecache.drop(temp.fd)
        fd, temp.fd = temp.fd, -1
        os.close(fd)
    except OSError as exc:
        raise _Failure(f"{_why(exc)} syncing {temp.where}") from exc


def _verify(temp: _Temp, size: int, xxh3: str, stopped: Stopped) -> None:
    """Read ``temp`` back from the disk: it must be ``size`` bytes with XXH3-128 ``xxh3``,
    the digest of the bytes read from the card."""
    try:
        got_size, digest = hash_from_disk(
            temp.path, xxhash.xxh3_128, follow=False, stopped=stopped, overlap=False, dropped=True
        )
        got = digest.hexdigest()
    except OSError as exc:
        raise _Failure(f"{_why(exc)} reading back {temp.where}") from exc
    except _Failure as failure:
        raise _Failure(f"{failure} while verifying {temp.where}") from None
    if got_size != size or got != xxh3:
        raise _Failure(
            f"verification failed for {temp.where}: read back {got_size} bytes with "
            f"xxh3-128 {got[:16]}…, expected {size} bytes with xxh3-128 {xxh3[:16]}…"
        )


@contextlib.contextmanager
def _writing(
    order: _Order | None,
    stopped: Stopped,
    temps: list[_Temp],
    destinations: Sequence[Destination] = (),
) -> Iterator[None]:
    """Leave to write: side by side for a held photo (``destinations`` given) where every
    destination has ROOM, else alone. A failure removes ``temps`` before the leave is given
    back, so the next file never writes beside a failed one's leftovers."""

    def roomy() -> bool:
        return all((free_space(d.root) or 0) >= ROOM for d in destinations)

    with (
        order.room.writing(roomy if destinations else None, stopped)
        if order
        else contextlib.nullcontext()
    ):
        try:
            yield
        except BaseException:
            _discard(temps)
            raise


class _ReadNow:
    """A read made on the calling thread, answering as `read_at`'s Future does, without the
    lock and condition a Future makes for each read (two a small photo's read-back)."""

    __slots__ = ("count", "error")

    def __init__(self, fd: int, buffer: memoryview, offset: int) -> None:
        self.count, self.error = 0, None
        try:
            self.count = os.preadv(fd, [buffer], offset)
        except OSError as exc:
            self.error = exc

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        return self.count

    def exception(self) -> OSError | None:
        return self.error


def _read_direct(
    fd: int,
    size: int,
    digest: _Digest,
    stopped: Stopped,
    on_bytes: ByteCallback | None,
    overlap: bool,
) -> int:
    """Read ``fd`` (opened O_DIRECT, ``size`` bytes at open) to its end into ``digest``, one
    chunk ahead of it; the bytes read.

    An O_DIRECT read waits for the disk and gets no kernel read-ahead. With ``overlap`` the
    next chunk is already being read (on a helper thread) while this one is hashed: two
    requests in flight instead of one (docs/performance.md has what that bought).
    """

    def span(view: memoryview, offset: int) -> memoryview:
        """As much of ``view`` as the rest of the file needs, in whole pages: the kernel pins
        (and so makes resident) every page of an O_DIRECT read's buffer, so a 5 KB photo
        read into a whole chunk would keep 1 MiB of memory per pooled buffer. At or past the
        recorded end (the read that finds the end, or a file that grew) the whole chunk."""
        rest = size - offset
        return view if rest <= 0 or rest >= len(view) else view[: -(-rest // _PAGE) * _PAGE]

    with contextlib.ExitStack() as buffers:
        views = [buffers.enter_context(_aligned.take()) for _ in range(2 if overlap else 1)]
        total = 0
        turn = 0
        first = span(views[0], 0)
        pending: Future[int] | _ReadNow = (
            read_at(fd, first, 0) if overlap else _ReadNow(fd, first, 0)
        )
        try:
            while True:
                if stopped():
                    raise _Failure("cancelled")
                try:
                    count = pending.result()
                except OSError as exc:
                    if exc.errno == errno.EINVAL and total == 0:
                        raise _NoDirect from exc
                    raise
                if not count:
                    return total
                view = views[turn]
                total += count
                turn = (turn + 1) % len(views)
                if overlap:
                    pending = read_at(fd, span(views[turn], total), total)
                digest.update(view[:count])
                if on_bytes is not None:
                    on_bytes(count)
                if not overlap:
                    pending = _ReadNow(fd, span(view, total), total)
        finally:
            pending.exception()


def hash_from_disk(
    path: Path,
    new_digest: Callable[[], _D],
    *,
    follow: bool = True,
    stopped: Stopped = _never,
    on_bytes: ByteCallback | None = None,
    overlap: bool = True,
    dropped: bool = False,
) -> tuple[int, _D]:
    """(bytes, digest) of ``path`` read from the medium, not from the page cache, into a
    ``new_digest()`` (a fresh one for each read, so a read given up on leaves no trace).

    The file's cached pages are dropped before and after. ``overlap`` (a reader that hashes
    one file at a time: verify, the wipe gate) keeps the disk reading while the CPU hashes:
    where the kernel then says none of the file's pages is left in the cache
    (`pagecache.cached`), a plain read with the kernel's read-ahead, every page of which
    this read fetches from the disk; else an O_DIRECT read with the next chunk read on a
    helper thread. ``overlap`` False (the read-back, whose eight workers keep the disk busy
    and whose XXH3 leaves nothing to overlap) reads O_DIRECT on the calling thread. Where
    the file system refuses O_DIRECT, a plain read after the drop. ``follow`` False refuses
    a symlink. ``on_bytes`` gets each chunk's length. ``dropped``: the caller has just
    dropped the file's pages (the read-back after `_seal`), so an O_DIRECT read, which adds
    none, drops nothing.
    """
    nofollow = 0 if follow else _NOFOLLOW
    if overlap and pagecache.can_count():
        digest = new_digest()
        size = _hash_read_ahead(path, digest, nofollow, stopped, on_bytes)
        if size is not None:
            return size, digest
    digest = new_digest()
    if _DIRECT:
        try:
            fd, info = _open_file(path, _DIRECT | nofollow)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
        else:
            try:
                if not dropped:
                    pagecache.drop(fd)
                size = _read_direct(fd, info.st_size, digest, stopped, on_bytes, overlap)
                return size, digest
            except _NoDirect:
                pass
            finally:
                if not dropped:
                    pagecache.drop(fd)
                os.close(fd)
    with open(_open_file(path, nofollow)[0], "rb", buffering=0) as handle:
        pagecache.drop(handle.fileno())
        size = _hash_stream(_counted(handle, on_bytes, CHUNK), stopped, digest)[0]
        pagecache.drop(handle.fileno())
        return size, digest


def _open_file(path: Path, flags: int) -> tuple[int, os.stat_result]:
    """``path`` opened for reading, with its fstat, if it is a regular file. O_NONBLOCK: a
    FIFO swapped in for a photo must not hang the open; it, a folder or a device is closed
    again and refused."""
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | flags)
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        code = errno.EISDIR if stat.S_ISDIR(info.st_mode) else errno.EINVAL
        raise OSError(code, "not a regular file", str(path))
    return fd, info


class _FromMemory(Exception):
    """A read through the page cache that the cache did not see (`_hash_read_ahead`)."""


def _hash_read_ahead(
    path: Path,
    digest: _Digest,
    nofollow: int,
    stopped: Stopped,
    on_bytes: ByteCallback | None,
) -> int | None:
    """`hash_from_disk` through the page cache into ``digest``, if no page of the file is
    left in it after the drop (`pagecache.cached`): then every page read is fetched from the
    disk, with the kernel's read-ahead working while the CPU hashes. The bytes hashed, or
    None where that cannot be trusted, and the digest is to be thrown away:
    - a page stayed (dirty, or mapped by another program), or the kernel cannot say;
    - the first read left no page in the cache: it was served from somewhere `cached` does
      not look. Nothing is hashed or counted in these two;
    - the file was written while it was read. A page read from the cache may then hold
      bytes that are not on the disk, and never will be if their write-back fails; an
      O_DIRECT read hashes what the disk holds. Either sign sends the read there:
      - a page dirty or being written back at the end of the read, before the last drop;
      - the change time moved since the open's fstat: a write that began after it, even
        one already written back. ext4, xfs and btrfs (Linux 6.13 and later) move it on
        every write once an fstat has looked; f2fs and exfat once per clock tick, vfat
        once per 2 seconds. A mapped page's first store after a write-back moves it; a
        page already dirty at the start is caught by the count after the drop.
      Not seen: a write begun before the open whose pages were written back before the
      end of the read, the only case in which, with that write-back failing, the bytes
      hashed are not the disk's. The bytes read were counted.
    """
    fd, opened = _open_file(path, nofollow)
    with open(fd, "rb", buffering=0) as handle:
        pagecache.drop(fd)
        if pagecache.cached(fd) != 0:
            return None

        def seen() -> None:
            if not pagecache.cached(fd):
                raise _FromMemory

        try:
            size = _hash_stream(_counted(handle, on_bytes, READ_PIECE, seen), stopped, digest)[0]
            written = pagecache.unwritten(fd) != 0
        except _FromMemory:
            return None
        finally:
            pagecache.drop(fd)
        return None if written or os.fstat(fd).st_ctime_ns != opened.st_ctime_ns else size


def _counted(
    handle: io.FileIO,
    on_bytes: ByteCallback | None,
    most: int,
    first: Callable[[], None] | None = None,
) -> Callable[[memoryview], int | None]:
    """``handle``'s reads of at most ``most`` bytes, each count given to ``on_bytes``;
    ``first`` is called after the first read that returns bytes, before it is counted."""
    pending = first

    def read(view: memoryview) -> int | None:
        nonlocal pending
        count = handle.readinto(view[:most])
        if count and pending is not None:
            check = pending
            pending = None
            check()
        if count and on_bytes is not None:
            on_bytes(count)
        return count

    return read


def _identical(path: Path, size: int, sha256: str, at: int | None = None) -> bool:
    """Whether ``path`` is a regular file with this size and sha256 that can stand as the
    copy (`modes.ours_alone`). Symlinks, folders, pipes, another account's file and one with
    a second name never are: the photo then takes the next free name. One that is, is
    kept, as closed to other accounts as a copy made here (`modes.close_open_file`).
    ``at``: the folder, open, that ``path`` is in."""
    try:
        fd = os.open(path, PEEK)
    except OSError as exc:
        if exc.errno in _NOT_A_FILE:
            return False
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return False
        folder = os.fstat(at) if at is not None else os.stat(path.parent)
        if not modes.ours_alone(info, folder.st_uid):
            return False
        with open(fd, "rb", buffering=0, closefd=False) as existing:
            if _hash_stream(existing.readinto, _never) != (size, sha256):
                return False
        modes.close_open_file(fd)
        return True
    finally:
        os.close(fd)


def candidate_names(name: str, first: int = 1) -> Iterator[str]:
    """The names publishing tries for ``name``, in order: it, then ``stem-2.ext``… up to
    ``-MAX_SUFFIX``; from the ``first`` of them on (1: ``name`` itself)."""
    for number in range(max(first, 1), MAX_SUFFIX + 1):
        yield numbered_name(name, number)


def numbered_name(name: str, number: int) -> str:
    """The ``number``-th of `candidate_names` for ``name``: it for 1, else ``stem-N.ext``."""
    if number == 1:
        return name
    pure = PurePosixPath(name)
    return f"{pure.stem}-{number}{pure.suffix}"


def name_number(name: str, candidate: str) -> int | None:
    """Which of `candidate_names` for ``name`` ``candidate`` is (1 for ``name`` itself);
    None for any other name."""
    if candidate == name:
        return 1
    pure = PurePosixPath(name)
    head, tail = f"{pure.stem}-", pure.suffix
    digits = candidate[len(head) : len(candidate) - len(tail)]
    if not (candidate.startswith(head) and candidate.endswith(tail) and digits.isdecimal()):
        return None
    number = int(digits) if digits.isascii() else 0
    if not 2 <= number <= MAX_SUFFIX or numbered_name(name, number) != candidate:
        return None
    return number


def _reuse(final: Path, temp: Path, size: int, sha256: str, at: int | None) -> bool:
    """An identical file already holds the final name: drop ``temp`` and keep that one."""
    if not _identical(final, size, sha256, at):
        return False
    _unlink_quietly(temp, at)
    fsync_dir(final.parent)
    return True


def _publish(
    temp: Path,
    folder: Path,
    name: str,
    size: int,
    sha256: str,
    *,
    hardlinks: bool = True,
    folders: FolderSyncs | None = None,
    at: int | None = None,
    first: int = 1,
) -> tuple[str, bool]:
    """Give the verified ``temp`` its final name in ``folder`` (open on ``at``, if given:
    every name is then made relative to it); returns (name, reused).

    An existing file is never replaced: an identical one is reused (and ``temp`` removed),
    a different one makes us try ``stem-2.ext``, ``stem-3.ext``… Without hard links, ``temp``
    is renamed to its name without replacing (`durable.rename_new`); only where that cannot be
    done either (fusefat) does an empty file take the name first. The caller removes ``temp``
    if this raises. The new name is made durable by an fsync of ``folder`` now, or, with
    ``folders``, by the caller's `FolderSyncs.sync` before it records the file. ``first``:
    the first of `candidate_names` tried (`Destination.first`).
    """
    synced = fsync_dir if folders is None else folders.add
    renames = True
    for candidate in candidate_names(name, first):
        final = folder / candidate
        if hardlinks:
            try:
                os.link(_entry(temp, at), _entry(final, at), src_dir_fd=at, dst_dir_fd=at)
            except FileExistsError:
                if _reuse(final, temp, size, sha256, at):
                    return candidate, True
                continue
            except OSError as exc:
                if exc.errno not in NO_HARDLINKS:
                    raise
                hardlinks = False
            else:
                _unlink_quietly(temp, at)
                synced(folder)
                return candidate, False
        if renames:
            try:
                renamed = rename_new(_entry(temp, at), _entry(final, at), dir_fd=at)
            except FileExistsError:
                if _reuse(final, temp, size, sha256, at):
                    return candidate, True
                continue
            if renamed:
                synced(folder)
                return candidate, False
            renames = False
        try:
            os.close(modes.create(_entry(final, at), _WRITE, dir_fd=at))
        except FileExistsError:
            if _reuse(final, temp, size, sha256, at):
                return candidate, True
            continue
        try:
            os.replace(_entry(temp, at), _entry(final, at), src_dir_fd=at, dst_dir_fd=at)
        except BaseException:
            _unlink_quietly(final, at)
            raise
        synced(folder)
        return candidate, False
    raise OSError(errno.EEXIST, f"no free name up to -{MAX_SUFFIX}")


def _publish_all(
    temps: Sequence[_Temp], size: int, sha256: str, folders: FolderSyncs | None
) -> tuple[Published, ...]:
    """Every verified copy under its name, or none: when one cannot take its name (the
    backup folder made read-only, its disk pulled mid-run) the names the others took are
    given back, so no archive copy is left under a patient's name with no catalogue row
    (a file another run finds there, identical, is left as it was)."""
    published: list[tuple[_Temp, Published]] = []
    try:
        for temp in temps:
            published.append((temp, _publish_temp(temp, size, sha256, folders)))
    except _Failure:
        for temp, done in published:
            if not done.reused:
                _unlink_quietly(done.path, temp.at)
        raise
    return tuple(done for _, done in published)


def _publish_temp(
    temp: _Temp, size: int, sha256: str, folders: FolderSyncs | None = None
) -> Published:
    try:
        name, reused = _publish(
            temp.path,
            temp.folder,
            temp.name,
            size,
            sha256,
            folders=folders,
            at=temp.at,
            first=temp.destination.first,
        )
    except OSError as exc:
        raise _Failure(f"{_why(exc)} publishing {temp.where}") from exc
    temp.consumed = True
    relpath = temp.destination.relpath
    if name != temp.name:
        relpath = "/".join([*relpath.split("/")[:-1], name])
    return Published(temp.destination.root, relpath, reused)


def _put_over(temp: _Temp, set_aside: Callable[[Path], None]) -> Published:
    """Hand the file at the final name to ``set_aside``, then rename the verified temp onto
    that name: a kill leaves the old file or the new one there, plus at most a temp."""
    final = temp.folder / temp.name
    try:
        set_aside(final)
        at = temp.at
        os.replace(_entry(temp.path, at), _entry(final, at), src_dir_fd=at, dst_dir_fd=at)
        fsync_dir(temp.folder)
    except OSError as exc:
        raise _Failure(f"{_why(exc)} putting back {temp.where}") from exc
    temp.consumed = True
    return Published(temp.destination.root, temp.destination.relpath, False)


def _discard(temps: list[_Temp]) -> None:
    """Close and remove every temp not published; empties the list."""
    for temp in temps:
        if temp.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(temp.fd)
            temp.fd = -1
        if not temp.consumed:
            _unlink_quietly(temp.path, temp.at)
        if temp.at is not None:
            os.close(temp.at)
            temp.at = None
    temps.clear()


def _copy(
    source: Path,
    destinations: Sequence[Destination],
    expected_size: int | None,
    on_bytes: ByteCallback | None,
    stopped: Stopped,
    order: _Order | None,
    gate: ContentGate | None = None,
    *,
    set_aside: Callable[[Path], None] | None = None,
    folders: FolderSyncs | None = None,
    recheck: Recheck | None = None,
    must_be: str | None = None,
) -> TransferResult:
    temps: list[_Temp] = []
    size = 0
    sha256: str | None = None
    claimed = False
    xxh3 = ""
    try:
        if not destinations:
            raise _Failure(f"no destination given for {source}")
        places = tuple(_resolve(destination) for destination in destinations)
        if stopped():
            raise _Failure(f"cancelled before copying {source}")
        with contextlib.ExitStack() as buffers:
            with order.reads.turn(order.index, stopped) if order else contextlib.nullcontext():
                # With a recheck, a file whose size is no longer the scan's is read whole as
                # it is now: its size is one of the things the recheck compares, and holds.
                want = expected_size if recheck is None else None
                read = _read_source(source, places, temps, want, on_bytes, stopped, buffers, order)
                size, sha256, xxh3 = read.size, read.sha256, read.xxh3
                if gate is not None:
                    gate.claim(source, sha256)
                    claimed = True
            if recheck is not None:
                _rechecked(source, read, temps, recheck)
            if must_be is not None and sha256 != must_be:
                raise _Failure(f"{source} is not the expected content (sha256 {sha256[:16]}…)")
            if read.held is not None:
                with _writing(order, stopped, temps, destinations):
                    for place in places:
                        temps.append(_open_temp(place))
                        _write_held(temps[-1], read.held, stopped)
        for temp in temps:
            _seal(temp)
        for temp in temps:
            if _after_seal is not None:
                _after_seal(source, temp.path)
            _verify(temp, size, xxh3, stopped)
        if stopped():
            raise _Failure(f"cancelled while copying {source}")
        if set_aside is not None:
            replaced: list[Published] = []
            try:
                for temp in temps:
                    replaced.append(_put_over(temp, set_aside))
            except _Failure as failure:  # those put back before it stay, and are said
                return TransferResult(source, size, sha256, tuple(replaced), str(failure))
            return TransferResult(source, size, sha256, tuple(replaced), None)
        if gate is None:
            new = _publish_all(temps, size, sha256, folders)
            return TransferResult(source, size, sha256, new, None)
        existing = gate.enter(source, sha256)
        if existing is not None:
            return TransferResult(source, size, sha256, (), None, duplicate_of=existing)
        published = _publish_all(temps, size, sha256, folders)
        claimed = False
        gate.leave(source, sha256, published[0].relpath)
        return TransferResult(source, size, sha256, published, None)
    except Held as held:
        return TransferResult(source, size, sha256, (), None, held=held.reason)
    except _Failure as failure:
        return TransferResult(source, size, sha256, (), str(failure))
    except OSError as exc:  # e.g. fstat or close of a source on a card pulled mid-copy
        return TransferResult(source, size, sha256, (), f"{_why(exc)} copying {source}")
    finally:
        if order is not None:
            order.reads.passed(order.index)
        if claimed and gate is not None and sha256 is not None:
            gate.leave(source, sha256, None)
        _discard(temps)


def copy_verified(
    source: Path,
    destinations: Sequence[Destination],
    *,
    expected_size: int | None = None,
    on_bytes: ByteCallback | None = None,
    cancel: threading.Event | None = None,
    content_gate: ContentGate | None = None,
    recheck: Recheck | None = None,
    sha256: str | None = None,
) -> TransferResult:
    """Copy ``source`` to every destination, prove each copy on disk, then publish it.

    ``expected_size`` (the size the scan saw) defaults to the size at open time; reading a
    different number of bytes fails the file. With a ``recheck`` the size at open time is
    read, and the recheck judges a size other than the scan's. ``on_bytes`` receives each
    chunk's length as it is read from the source.

    Failures (any OSError such as ENOSPC or EIO, a vanished or changed source, a read-back
    mismatch, ``cancel`` set) remove this file's temporaries and return a result with
    ``error`` set and ``published`` empty. A destination that was already published when a
    later one failed is left in place rather than rolled back: it is a complete, verified file,
    and a re-run finds it identical and reuses it, so nothing is lost or doubled. The file still
    counts as failed because not every destination holds it. Other exceptions (including
    KeyboardInterrupt) propagate after the temporaries are removed.

    ``content_gate`` lets the caller skip content it already holds elsewhere (see
    `ContentGate`); the card is still read only once. ``recheck`` looks at the bytes read
    before anything is published, and may keep them out of the archive (`Recheck`). With
    ``sha256``, ``source`` must have that content, else nothing is published (a photo
    archived before, copied again).
    """
    stopped = cancel.is_set if cancel is not None else _never
    return _copy(
        Path(source),
        tuple(destinations),
        expected_size,
        on_bytes,
        stopped,
        None,
        content_gate,
        recheck=recheck,
        must_be=sha256,
    )


def copy_over(
    source: Path,
    destinations: Sequence[Destination],
    *,
    sha256: str,
    set_aside: Callable[[Path], None],
    expected_size: int | None = None,
    on_bytes: ByteCallback | None = None,
) -> TransferResult:
    """`copy_verified` for a repair: the one place a verified copy replaces a file.

    ``source`` must have content ``sha256``, else nothing is published. Each destination's
    current file (damaged, or missing) is first passed to ``set_aside``, which must keep it
    (a hard link elsewhere, or a rename); then the verified temporary is renamed onto its name.
    Where putting one back fails, those put back before it are in ``published`` beside the
    ``error``: they hold the verified photo now, and a repair's record must say so.
    """
    return _copy(
        Path(source),
        tuple(destinations),
        expected_size,
        on_bytes,
        _never,
        None,
        set_aside=set_aside,
        must_be=sha256,
    )


def transfer_many(
    jobs: Iterable[tuple[Path, Sequence[Destination], int | None]],
    *,
    workers: int = WORKERS,
    on_bytes: ByteCallback | None = None,
    cancel: threading.Event | None = None,
    content_gate: ContentGate | None = None,
    folders: FolderSyncs | None = None,
    unclaimed: Callable[[int, TransferResult], None] | None = None,
    recheck: Recheck | None = None,
) -> Generator[TransferResult, None, None]:
    """`copy_verified` for each ``(source, destinations, expected_size)``, results in job order.

    Up to ``workers`` files are in flight. Reading the source is done by one worker at a
    time, so the card is read in job order, while writing, fsync, read-back and publishing of
    earlier files overlap with it. The first PREFETCH_BYTES of each queued source are
    prefetched, so the card has read requests in flight while the current file is hashed.
    Photos held in memory (`HELD_BYTES`) are written side by side where the disks have room;
    anything else is written alone (`_Room`), and a file that fails while it is written
    removes its temporaries before the next one writes, so one file that does not fit on a
    full disk does not take the next one down with it. Jobs are pulled lazily and at most
    ``2 * workers`` are queued, so memory does not grow with the number of files.
    ``on_bytes`` is called from worker threads. With ``folders`` the folders a file is
    published into are not fsynced per file: the caller syncs them (`FolderSyncs.sync`)
    before it records any file as archived. ``recheck``: as for `copy_verified`.

    If the consumer stops early or an exception (KeyboardInterrupt) escapes, files not yet
    started are dropped, running ones stop at their next chunk and remove their temporaries,
    and the exception propagates once they have. A later file may have finished before an
    earlier one that was still running: each finished one not yet handed out goes to
    ``unclaimed`` with its position among the jobs, so the caller can record what it
    published. So does the last one handed out, as the stop may have come before the caller
    took it in: a caller that did tells by the position.
    """
    halt = threading.Event()

    def stopped() -> bool:
        return halt.is_set() or (cancel is not None and cancel.is_set())

    if workers <= 1:
        for source, destinations, expected_size in jobs:
            yield _copy(
                Path(source),
                tuple(destinations),
                expected_size,
                on_bytes,
                stopped,
                None,
                content_gate,
                folders=folders,
                recheck=recheck,
            )
        return

    reads, room, holders = _Turns(), _Room(), threading.Semaphore(HOLDERS)
    held = _AlignedPool(CHUNK)  # let go with this run, not kept for the process's life
    pending: deque[tuple[int, Future[TransferResult]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cardingest-copy") as pool:
        try:
            for index, (source, destinations, expected_size) in enumerate(jobs):
                pagecache.prefetch(source, PREFETCH_BYTES)
                job = (
                    index,
                    pool.submit(
                        _copy,
                        Path(source),
                        tuple(destinations),
                        expected_size,
                        on_bytes,
                        stopped,
                        _Order(reads, room, holders, held, index),
                        content_gate,
                        folders=folders,
                        recheck=recheck,
                    ),
                )
                pending.append(job)
                if len(pending) >= 2 * workers:
                    yield from _hand_first(pending)
            while pending:
                yield from _hand_first(pending)
        finally:
            if pending:
                halt.set()
                for _index, future in pending:
                    future.cancel()
                if unclaimed is not None:
                    wait([future for _index, future in pending])
                    for index, future in pending:
                        if not future.cancelled() and future.exception() is None:
                            unclaimed(index, future.result())


def _hand_first(pending: deque[tuple[int, Future[TransferResult]]]) -> Iterator[TransferResult]:
    """The first job's result, taken off the queue only when the next is asked for: a job
    whose wait was interrupted, or whose result was handed out as the interrupt came, is
    still pending, for `transfer_many`'s ``unclaimed``."""
    yield pending[0][1].result()
    pending.popleft()


def free_space(path: Path) -> int | None:
    """Free bytes on the filesystem that holds ``path`` (or would, once created).

    None when unknown: an error, or a FUSE filesystem that reports a size of 0 (fusefat).
    """
    try:
        usage = shutil.disk_usage(nearest_existing(path))
    except OSError:
        return None
    return usage.free if usage.total else None
