"""Walk a card (or folder) and yield one record per media file, with its capture time."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from ..models import MediaFile
from ..storage.pagecache import will_need, will_need_tail
from ..storage.positional import PEEK, ByPosition, read_range
from .capture import TAIL_BYTES, Capture, file_time, read_capture
from .kinds import PHOTO_EXTENSIONS, SIDECAR_EXTENSIONS, is_sidecar, not_as_named
from .raw import SeekableFile

NOT_PHOTO_EXTENSIONS = frozenset(
    {"mov", "mp4", "m4v", "avi", "mts", "m2ts", "mpg", "mpeg", "3gp", "mkv", "wmv", "lrv"}
    | {"crm", "braw", "r3d", "wav", "m4a", "mp3", "aac", "nev", "360", "insv", "osv", "mxf"}
)
"""Videos and sound memos: cameras make them, cardingest does not archive them, so every
preview, ingest and wipe names them instead of passing over them in silence."""
HOUSEKEEPING_EXTENSIONS = frozenset(
    {"ctg", "dat", "bin", "inf", "idx", "ini", "cfg", "xml", "txt", "log", "db", "lrf"}
    | {"aae", "ndf", "nksc", "srt"}  # Apple edits, Nikon dust-off and NX Studio, DJI subtitles
)
"""The cameras' own files under DCIM/ (Canon's CTG catalogues, Nikon's NC_FLLST.DAT, ...):
passed over. Any other file there that is not a photo, a sidecar, a video or a sound file
is named like a video (`not_photo_warning`): it may be a photo of a kind cardingest does
not know (PNG, JPEG XL), and nobody should format the card believing it archived."""
PREFETCH_FILES = 32
HEAD_BYTES = 64 * 1024
"""The scan asks the kernel for the heads of the next files while it parses this one, so a
cold card is read with many requests in flight instead of one at a time (bench/)."""
_TAIL_READ = frozenset({"jpg", "jpeg", "mpo"})
"""JPEGs' last bytes are asked for too: `capture.cut_short` reads them to see the image's end
(2,000 real photos, cold: a preview took 0.61-0.71 s without the hint, 0.42-0.46 s with it)."""
IGNORED_NAMES = frozenset(
    {"system volume information", "$recycle.bin", ".trashes", ".spotlight-v100", ".fseventsd"}
    | {".temporaryitems", ".apdisk", ".documentrevisions-v100", ".trash"}
)


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in IGNORED_NAMES


def passed_over(name: str) -> bool:
    """What an operating system leaves on any drive it touches: macOS's .DS_Store, and the
    recycle bins and indexes (`IGNORED_NAMES`); macOS's ``._`` copies of a file's metadata
    (``._IMG_0001.JPG``: no photo, though it ends in .JPG) too, by their bytes, in `_walk`.
    Any other name starting with a dot is named (`HIDDEN`), not passed over: a photo hidden
    on the card would otherwise be lost when the card is formatted after a clean wipe."""
    if name[:1] not in _LITTER_STARTS:  # a camera's name: asked once per file on the card
        return False
    lowered = name.lower()
    # .Trash-1000: a Linux desktop's bin on a removable drive
    return lowered == ".ds_store" or lowered in IGNORED_NAMES or lowered.startswith(".trash-")


_LITTER_STARTS = frozenset(".$sS")


APPLE_DOUBLE = b"\x00\x05\x16\x07"
"""How macOS's ``._`` files start: one whose bytes do not (a photo renamed so) is named."""


def _apple_double(entry: os.DirEntry[str]) -> bool:
    """Whether a ``._`` entry is macOS's metadata file, by its first bytes."""
    if not entry.name.startswith("._") or not entry.is_file(follow_symlinks=False):
        return False
    try:
        with open(entry.path, "rb") as fh:
            return fh.read(4) == APPLE_DOUBLE
    except OSError:
        return False


HIDDEN = "hidden (its name starts with a dot)"


def extension(name: str) -> str:
    """A file name's (or card path's) extension, lower case, without the dot; "" if none."""
    return name.rpartition(".")[2].lower() if "." in name else ""


def scan_root(source: Path) -> Path:
    """Where photos live: the DCIM folder (any case) if there is one, else the folder itself."""
    try:
        with os.scandir(source) as entries:
            for entry in entries:
                if entry.name.lower() == "dcim" and entry.is_dir(follow_symlinks=False):
                    return Path(entry.path)
    except OSError:
        pass
    return source


def special_kind(entry: os.DirEntry[str]) -> str:
    """What a folder entry that is neither a folder nor a regular file is, in words."""
    if entry.is_symlink():
        return "a symbolic link"
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:
        return "an entry that cannot be examined"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "a device file"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def special_warning(relpath: str, kind: str) -> str:
    if kind == HIDDEN:
        return (
            f"{relpath}: {kind}, not archived or looked into (no camera names a file so: "
            "someone or something else put it there); it stays on the card"
        )
    return f"{relpath}: {kind}, not a photo file; not archived or followed, it stays on the card"


def _walk(
    folder: str, relative: str, specials: list[tuple[str, str]] | None = None
) -> Iterator[tuple[os.DirEntry[str], str]]:
    """Files below `folder` in name order, each with its POSIX path relative to the source.

    Symbolic links, FIFOs, devices and sockets are never followed or opened; each is added
    to ``specials`` as (path, what it is), so that it can be named instead of passed over.
    """
    stack = [_listed(folder, relative)]  # one per open folder: no recursion, however deep
    while stack:
        for entry, relpath in stack[-1]:
            if entry.name.startswith("."):
                if specials is not None and not _apple_double(entry):
                    specials.append((relpath, HIDDEN))
                continue
            if entry.is_dir(follow_symlinks=False):
                try:
                    stack.append(_listed(entry.path, relpath))
                except OSError as exc:
                    if exc.errno != errno.ENAMETOOLONG:
                        raise
                    if specials is not None:
                        specials.append((relpath, TOO_DEEP))
                    continue
                break
            if entry.is_file(follow_symlinks=False):
                yield entry, relpath
            elif specials is not None:
                specials.append((relpath, special_kind(entry)))
        else:
            stack.pop()


TOO_DEEP = "a folder nested too deep to be read (its path is over the system's 4,096 bytes)"


def _listed(folder: str, relative: str) -> Iterator[tuple[os.DirEntry[str], str]]:
    """A folder's entries but those `passed_over`, in name order, with their relative
    paths; listed at once (an OSError here, not when the first is asked for)."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    return (
        (entry, f"{relative}/{entry.name}" if relative else entry.name)
        for entry in entries
        if not passed_over(entry.name)
    )


_Opened = tuple[os.DirEntry[str], str, "int | OSError", "os.stat_result | OSError"]


def _opened_ahead(files: Iterable[tuple[os.DirEntry[str], str]]) -> Iterator[_Opened]:
    """Each file with its open descriptor (or why it would not open) and what ``fstat``
    said of it (or its error, raised when the file's turn comes), opened PREFETCH_FILES
    files early with a hint to read its head, so a cold card is read with many requests in
    flight. The caller closes each descriptor it is given; those never given are closed here.
    """
    window: deque[_Opened] = deque()
    try:
        for entry, relpath in files:
            opened: int | OSError
            info: os.stat_result | OSError
            try:
                opened = os.open(entry.path, PEEK)
            except OSError as exc:
                opened = info = exc
            else:
                try:
                    info = os.fstat(opened)
                except OSError as exc:
                    info = exc
                will_need(opened, HEAD_BYTES)
                if isinstance(info, os.stat_result) and extension(entry.name) in _TAIL_READ:
                    will_need_tail(opened, info.st_size, TAIL_BYTES, beyond=HEAD_BYTES)
            window.append((entry, relpath, opened, info))
            if len(window) > PREFETCH_FILES:
                yield window.popleft()
        while window:
            yield window.popleft()
    finally:
        for _, _, opened, _ in window:
            if isinstance(opened, int):
                with contextlib.suppress(OSError):  # a pulled card: its error is said already
                    os.close(opened)


def _media(
    files: Iterable[tuple[os.DirEntry[str], str]], not_photos: list[str] | None
) -> Iterator[tuple[os.DirEntry[str], str]]:
    for entry, relpath in files:
        ext = extension(entry.name)
        if ext in PHOTO_EXTENSIONS or ext in SIDECAR_EXTENSIONS:
            yield entry, relpath
        elif ext not in HOUSEKEEPING_EXTENSIONS and not_photos is not None:
            not_photos.append(relpath)


def read_file(path: Path, relpath: str, size: int, mtime: float) -> MediaFile:
    """One media file's record; never raises for a damaged or unreadable file."""
    if _without_reading(path.name, size):
        return _record_unread(relpath, size, mtime)
    try:
        fd = os.open(path, PEEK)
    except OSError as exc:
        return _unreadable(relpath, size, mtime, exc)
    except ValueError as exc:  # a NUL in the path: no file has that name
        return _unreadable(relpath, size, mtime, OSError(errno.EINVAL, str(exc)))
    try:
        return _read_open(fd, relpath, size, mtime)
    finally:
        os.close(fd)


def fingerprint(path: Path) -> str | None:
    """A digest of a file's size, its first `HEAD_BYTES` and last `TAIL_BYTES` (None where
    it cannot be read): another photo put under the name, with the same size and capture
    time (two RAW files of one camera in one second), differs there. Not a full hash:
    asking for the IDs should not wait for the whole card to be read; the head is the one
    the scan read, and a JPEG's tail the one it asked for ahead."""
    try:
        fd = os.open(path, PEEK)
    except (OSError, ValueError):
        return None
    try:
        return _fingerprint(lambda at, n: read_range(fd, at, n), os.fstat(fd).st_size)
    except OSError:
        return None
    finally:
        os.close(fd)


def fingerprint_read(fh: SeekableFile, size: int) -> str:
    """`fingerprint` of the bytes of ``fh`` (the ingest's copy of a card file), of ``size``."""

    def read_at(offset: int, count: int) -> bytes:
        fh.seek(offset)
        return fh.read(count)

    return _fingerprint(read_at, size)


def _fingerprint(read_at: Callable[[int, int], bytes], size: int) -> str:
    import hashlib

    digest = hashlib.sha256(str(size).encode())
    digest.update(read_at(0, HEAD_BYTES))
    digest.update(read_at(max(0, size - TAIL_BYTES), TAIL_BYTES))
    return digest.hexdigest()


def _without_reading(name: str, size: int) -> bool:
    """Sidecars and empty files are dated by their file time: nothing in them to read."""
    return size == 0 or is_sidecar(name)


def _record_unread(relpath: str, size: int, mtime: float) -> MediaFile:
    warning = None if size or is_sidecar(relpath) else f"{relpath}: empty file (0 bytes)"
    return _record(
        relpath, size, Capture(captured=file_time(mtime), source="mtime", warning=warning)
    )


def _read_open(fd: int, relpath: str, size: int, mtime: float) -> MediaFile:
    """The record of an open file. `read_capture` turns whatever a damaged file raises into
    a warning, and `file_time` an absurd file time into 1980-01-01; a read that fails is the
    card's, and holds the file."""
    try:
        head = _HeadFirst(fd, size)
        record = _record(relpath, size, read_capture(head, mtime, relpath))
    except OSError as exc:
        return _unreadable(relpath, size, mtime, exc)
    return _as_named(record, head.first_bytes())


def read_again(fh: SeekableFile, relpath: str, size: int, mtime: float) -> MediaFile:
    """The record the scan would make of a file with these bytes (``fh``: the ingest's copy
    of them, `transfer.Copied`), this size and modification time; see `same_reading`."""
    if _without_reading(relpath, size):
        return _record_unread(relpath, size, mtime)
    try:
        fh.seek(0)
        first = fh.read(_KIND_BYTES)
        fh.seek(0)
        record = _record(relpath, size, read_capture(fh, mtime, relpath))
    except OSError as exc:
        return _unreadable(relpath, size, mtime, exc)
    return _as_named(record, first)


_KIND_BYTES = 16
"""Enough of a file's start to tell a JPEG from what else a file named so may hold."""


def _as_named(record: MediaFile, first: bytes) -> MediaFile:
    """``record``, marked when its bytes are not what its name says (`kinds.not_as_named`)."""
    if first.startswith(b"\xff\xd8") and record.extension in ("jpg", "jpeg"):
        return record  # most files of most cards
    instead = not_as_named(record.path, first)
    return record if instead is None else replace(record, not_as_named=instead)


def same_reading(scanned: MediaFile, again: MediaFile) -> bool:
    """Whether two records of one file say the same of it: every field the scan reads (its
    size, capture time and where that came from, camera and warning; what decides its name,
    and with a map of times its patient, and where set its ``shown_as``), not the ``sha256``
    `prepare` may add."""
    return replace(scanned, sha256=None) == replace(again, sha256=None)


def _record(relpath: str, size: int, capture: Capture) -> MediaFile:
    return MediaFile(
        path=relpath,
        size=size,
        captured=capture.captured,
        time_source=capture.source,
        subsec=capture.subsec,
        utc_offset=capture.utc_offset,
        make=capture.make,
        model=capture.model,
        warning=capture.warning,
        sidecar=is_sidecar(relpath),
    )


def _unreadable(relpath: str, size: int, mtime: float, exc: OSError) -> MediaFile:
    return MediaFile(
        path=relpath,
        size=size,
        captured=file_time(mtime),
        time_source="mtime",
        warning=f"{relpath}: cannot be read ({exc.strerror or exc})",
        sidecar=is_sidecar(relpath),
        unreadable=True,
    )


class _HeadFirst(ByPosition):
    """An open file read by position: its first HEAD_BYTES in one read, the rest on demand.

    A capture time almost always lies in the head, so most files cost one read and no seek;
    a file no longer than the head is all there. Its end is its size at open (no system
    call per seek from the end): a photo does not change while the scan reads it, and the
    copy reads its bytes again (`read_again`).
    """

    __slots__ = ("_fd", "_head", "_size", "_whole")

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        self._head = read_range(fd, 0, min(size, HEAD_BYTES))
        self._whole = len(self._head) == size
        self._pos = 0

    def _end(self) -> int:
        return self._size

    def first_bytes(self) -> bytes:
        return self._head[:_KIND_BYTES]

    def read(self, size: int = -1, /) -> bytes:
        start = self._pos
        if size < 0:
            size = max(0, self._size - start)
        head = self._head
        if start + size <= len(head) or self._whole:
            data = head[start : start + size]
        else:
            data = read_range(self._fd, start, size)
        self._pos = start + len(data)
        return data


def _record_of(
    entry: os.DirEntry[str],
    relpath: str,
    opened: int | OSError,
    info: os.stat_result | OSError,
) -> MediaFile:
    """The record of a file opened by `_opened_ahead`, or of why it would not open.

    Raises OSError where the card stops answering (a pulled card), as listing it would.
    """
    if isinstance(opened, int):
        if isinstance(info, OSError):
            raise info
        return _read_entry(opened, relpath, info)
    if not isinstance(opened, FileNotFoundError):
        try:
            listed = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            return _unreadable(relpath, listed.st_size, listed.st_mtime, opened)
    # Listed but not found by its name: a damaged directory entry (fusefat shows a FAT short
    # name with code-page bytes, then cannot look that name up), or a file removed since the
    # listing. One file, held.
    return unreadable_entry(relpath, opened)


def _read_entry(fd: int, relpath: str, info: os.stat_result) -> MediaFile:
    if not stat.S_ISREG(info.st_mode):
        return unreadable_entry(relpath, OSError("no longer a regular file"))
    if _without_reading(relpath, info.st_size):
        return _record_unread(relpath, info.st_size, info.st_mtime)
    return _read_open(fd, relpath, info.st_size, info.st_mtime)


def unreadable_entry(relpath: str, exc: OSError) -> MediaFile:
    """The record of a file that is listed but cannot be examined: held, never copied."""
    return MediaFile(
        path=relpath,
        size=0,
        captured=file_time(0.0),
        time_source="mtime",
        warning=f"{relpath}: listed on the card but cannot be read ({exc.strerror or exc})",
        sidecar=extension(relpath) in SIDECAR_EXTENSIONS,
        unreadable=True,
    )


VIDEO = "a video or sound file"
THUMBNAIL = "a video's thumbnail"
"""What `not_archived_kind` calls the files a video camera makes: a THM beside its video
(or in Sony's THMBNL folder) goes with it, on the card."""


OUTSIDE_DCIM = "a photo outside DCIM/"


def not_photo_warning(relpath: str) -> str:
    """The warning for a file the scan passes over. Only a photo outside DCIM/ is said to be
    passed over for where it lies: a card without DCIM/ is scanned whole, and a trial's
    fusefat card showed its volume label as an empty file "only photos under DCIM/" were
    said to be archived from, beside the photos archived from its root."""
    kind = not_archived_kind(relpath)
    if kind == THUMBNAIL:
        return f"{relpath}: {kind}, not archived; it stays on the card with its video"
    why = "only photos under DCIM/ are" if kind == OUTSIDE_DCIM else "only photos are"
    return f"{relpath}: {kind}, not archived ({why}); it stays on the card"


_NOT_ARCHIVED_BESIDE = NOT_PHOTO_EXTENSIONS | PHOTO_EXTENSIONS | SIDECAR_EXTENSIONS


def not_archived_kind(relpath: str) -> str:
    """What a file the scan passes over is, in words: a video or sound file, a photo outside
    DCIM/ (the scan only meets photos there), or a file of a kind cardingest does not know
    (which may be a photo all the same)."""
    ext = extension(relpath)
    if ext in NOT_PHOTO_EXTENSIONS:
        return VIDEO
    if ext == "thm" or "/THMBNL/" in f"/{relpath.upper()}":  # Sony's PRIVATE/M4ROOT
        return THUMBNAIL
    if ext in PHOTO_EXTENSIONS or ext in SIDECAR_EXTENSIONS:
        return OUTSIDE_DCIM
    return "not a kind of photo cardingest knows"


def scan(
    source: Path,
    *,
    on_file: Callable[[str], None] | None = None,
    not_photos: list[str] | None = None,
    specials: list[tuple[str, str]] | None = None,
) -> Iterator[MediaFile]:
    """Yield a record for every photo and sidecar below `source`, in path order.

    Paths in the records are relative to `source`. Raises OSError only when the card stops
    answering (a folder cannot be listed, an open file cannot be examined: a pulled card); a
    damaged file yields a record with a warning. Videos and sound files met on the way are
    added to ``not_photos``.
    """
    source = Path(source)
    root = scan_root(source)
    start = root.relative_to(source).as_posix() if root != source else ""
    for entry, relpath, opened, info in _opened_ahead(
        _media(_walk(str(root), start, specials), not_photos)
    ):
        try:
            if on_file is not None:
                on_file(relpath)
            record = _record_of(entry, relpath, opened, info)
        finally:
            if isinstance(opened, int):
                os.close(opened)
        yield record
    if not_photos is not None and root != source:
        not_photos.extend(_beside(source, root))


def _beside(source: Path, root: Path) -> Iterator[str]:
    """Videos and photos on the card outside DCIM/: AVCHD and XAVC cameras keep their videos
    under PRIVATE/, and a photo put at the card's top by hand would otherwise go unmentioned
    until the card is formatted."""
    with os.scandir(source) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if is_hidden(entry.name) or Path(entry.path) == root:
            continue
        if entry.is_dir(follow_symlinks=False):
            found: Iterable[tuple[os.DirEntry[str], str]] = _walk(entry.path, entry.name)
        else:
            found = [(entry, entry.name)]
        yield from (path for e, path in found if extension(e.name) in _NOT_ARCHIVED_BESIDE)
