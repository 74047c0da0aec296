"""Walk a card (or folder) and yield one record per media file, with its capture time."""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..models import MediaFile
from ..storage.pagecache import prefetch
from .capture import Capture, file_time, read_capture

PHOTO_EXTENSIONS = frozenset(
    [
        "jpg",
        "jpeg",
        "heic",
        "heif",
        "hif",
        "tif",
        "tiff",
        "dng",
        "cr2",
        "cr3",
        "crw",
        "nef",
        "nrw",
        "arw",
        "srf",
        "sr2",
        "orf",
        "rw2",
        "raf",
        "pef",
        "srw",
        "x3f",
        "3fr",
        "rwl",
        "iiq",
        "erf",
        "kdc",
        "dcr",
        "mrw",
        "mos",
    ]
)
SIDECAR_EXTENSIONS = frozenset({"thm", "xmp"})


def is_sidecar(path: str) -> bool:
    """Whether a file name (on a card or in the archive) is a THM or XMP sidecar."""
    return path.rpartition(".")[2].lower() in SIDECAR_EXTENSIONS


NOT_PHOTO_EXTENSIONS = frozenset(
    {"mov", "mp4", "m4v", "avi", "mts", "m2ts", "mpg", "mpeg", "3gp", "mkv", "wmv", "lrv"}
    | {"crm", "braw", "r3d", "wav", "m4a", "mp3", "aac"}
)
"""Videos and sound memos: cameras make them, cardingest does not archive them, so every
preview, ingest and wipe names them instead of passing over them in silence."""
PREFETCH_FILES = 32
HEAD_BYTES = 64 * 1024
"""The scan asks the kernel for the heads of the next files while it parses this one, so a
cold card is read with many requests in flight instead of one at a time (bench/)."""
IGNORED_NAMES = frozenset(
    {"system volume information", "$recycle.bin", ".trashes", ".spotlight-v100", ".fseventsd"}
)


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in IGNORED_NAMES


def _extension(name: str) -> str:
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
    return f"{relpath}: {kind}, not a photo file; not archived or followed, it stays on the card"


def _walk(
    folder: str, relative: str, specials: list[tuple[str, str]] | None = None
) -> Iterator[tuple[os.DirEntry[str], str]]:
    """Files below `folder` in name order, each with its POSIX path relative to the source.

    Symbolic links, FIFOs, devices and sockets are never followed or opened; each is added
    to ``specials`` as (path, what it is), so that it can be named instead of passed over.
    """
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if is_hidden(entry.name):
            continue
        relpath = f"{relative}/{entry.name}" if relative else entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, relpath, specials)
        elif entry.is_file(follow_symlinks=False):
            yield entry, relpath
        elif specials is not None:
            specials.append((relpath, special_kind(entry)))


def _ahead(files: Iterable[tuple[os.DirEntry[str], str]]) -> Iterator[tuple[os.DirEntry[str], str]]:
    """``files`` unchanged, with the head of each one prefetched PREFETCH_FILES files early."""
    window: deque[tuple[os.DirEntry[str], str]] = deque()
    for item in files:
        prefetch(item[0].path, HEAD_BYTES)
        window.append(item)
        if len(window) > PREFETCH_FILES:
            yield window.popleft()
    yield from window


def _media(
    files: Iterable[tuple[os.DirEntry[str], str]], not_photos: list[str] | None
) -> Iterator[tuple[os.DirEntry[str], str]]:
    for entry, relpath in files:
        ext = _extension(entry.name)
        if ext in PHOTO_EXTENSIONS or ext in SIDECAR_EXTENSIONS:
            yield entry, relpath
        elif ext in NOT_PHOTO_EXTENSIONS and not_photos is not None:
            not_photos.append(relpath)


def read_file(path: Path, relpath: str, size: int, mtime: float) -> MediaFile:
    """One media file's record; never raises for a damaged or unreadable file."""
    sidecar = is_sidecar(path.name)
    capture: Capture
    if sidecar:
        capture = Capture(captured=file_time(mtime), source="mtime")
    elif size == 0:
        capture = Capture(
            captured=file_time(mtime),
            source="mtime",
            warning=f"{relpath}: empty file (0 bytes)",
        )
    else:
        try:
            with open(path, "rb") as fh:
                capture = read_capture(fh, mtime, relpath)
        except OSError as exc:
            return MediaFile(
                path=relpath,
                size=size,
                captured=file_time(mtime),
                time_source="mtime",
                warning=f"{relpath}: cannot be read ({exc.strerror or exc})",
                sidecar=sidecar,
                unreadable=True,
            )
        except (OverflowError, ValueError):
            capture = Capture(
                captured=file_time(mtime),
                source="mtime",
                warning=f"{relpath}: unreadable file time; using 1980-01-01",
            )
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
        sidecar=sidecar,
    )


def unreadable_entry(relpath: str, exc: OSError) -> MediaFile:
    """The record of a file that is listed but cannot be examined: held, never copied."""
    return MediaFile(
        path=relpath,
        size=0,
        captured=file_time(0.0),
        time_source="mtime",
        warning=f"{relpath}: listed on the card but cannot be read ({exc.strerror or exc})",
        sidecar=_extension(relpath) in SIDECAR_EXTENSIONS,
        unreadable=True,
    )


def not_photo_warning(relpath: str) -> str:
    return f"{relpath}: a video or sound file, not archived (photos only); it stays on the card"


def scan(
    source: Path,
    *,
    on_file: Callable[[str], None] | None = None,
    not_photos: list[str] | None = None,
    specials: list[tuple[str, str]] | None = None,
) -> Iterator[MediaFile]:
    """Yield a record for every photo and sidecar below `source`, in path order.

    Paths in the records are relative to `source`. Raises OSError only when a folder itself
    cannot be listed (a pulled card); a damaged file yields a record with a warning. Videos
    and sound files met on the way are added to ``not_photos``.
    """
    source = Path(source)
    root = scan_root(source)
    start = root.relative_to(source).as_posix() if root != source else ""
    for entry, relpath in _ahead(_media(_walk(str(root), start, specials), not_photos)):
        if on_file is not None:
            on_file(relpath)
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError as exc:
            # Listed but not found by its name: a damaged directory entry (fusefat shows a
            # FAT short name with code-page bytes, then cannot look that name up). One file.
            yield unreadable_entry(relpath, exc)
            continue
        yield read_file(Path(entry.path), relpath, info.st_size, info.st_mtime)
    if not_photos is not None and root != source:
        not_photos.extend(_videos_beside(source, root))


def _videos_beside(source: Path, root: Path) -> Iterator[str]:
    """Videos on the card outside DCIM/ (AVCHD and XAVC cameras keep them under PRIVATE/)."""
    with os.scandir(source) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if is_hidden(entry.name) or Path(entry.path) == root:
            continue
        if entry.is_dir(follow_symlinks=False):
            found: Iterable[tuple[os.DirEntry[str], str]] = _walk(entry.path, entry.name)
        else:
            found = [(entry, entry.name)]
        yield from (path for e, path in found if _extension(e.name) in NOT_PHOTO_EXTENSIONS)
