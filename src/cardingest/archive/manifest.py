"""Per-ingest checksum manifests that GNU ``sha256sum -c`` reads with no cardingest installed.

``{archive}/.cardingest/manifests/{ingest_id}.sha256`` holds one ``<sha256>  <relpath>`` line
per file, paths relative to the archive root, so that::

    cd ARCHIVE && sha256sum -c .cardingest/manifests/ID.sha256

checks every copy of that ingest.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Protocol

from ..models import MANIFEST_DIR, METADIR
from ..storage import modes
from ..storage.durable import atomic_write_bytes
from ..storage.positional import read_regular

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_INGEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LINES_PER_WRITE = 512

_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)", re.DOTALL)


def manifest_path(archive: Path, ingest_id: str) -> Path:
    if not _INGEST_ID.fullmatch(ingest_id):
        raise ValueError(f"Ingest ID {ingest_id!r} cannot name a manifest file")
    return Path(archive) / METADIR / MANIFEST_DIR / f"{ingest_id}.sha256"


def manifested_ingests(archive: Path) -> list[str]:
    """The ingests whose manifests the archive holds, by ID (none if it cannot be read). A
    name no ingest has is left out: macOS's ``._…`` beside each file on an exFAT or SMB
    drive, a sync tool's ``… (conflicted copy).sha256``."""
    folder = Path(archive) / METADIR / MANIFEST_DIR
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        return []
    found = (name.removesuffix(".sha256") for name in names if name.endswith(".sha256"))
    return [ingest for ingest in found if _INGEST_ID.fullmatch(ingest)]


def _check_relpath(relpath: str) -> None:
    if not relpath or relpath.startswith("/") or "\0" in relpath:
        raise ValueError(f"Manifest path {relpath!r} is not a relative path")
    if "\r" in relpath:
        raise ValueError(
            f"Manifest path {relpath!r} has a carriage return, which coreutils releases"
            " escape differently"
        )
    if any(part in ("", ".", "..") for part in relpath.split("/")):
        raise ValueError(f"Manifest path {relpath!r} has an empty, '.' or '..' part")


def format_line(sha256: str, relpath: str) -> str:
    """One manifest line, escaped the way coreutils escapes it when needed."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"{sha256!r} is not a sha256 hex digest")
    _check_relpath(relpath)
    if "\\" in relpath or "\n" in relpath:
        escaped = relpath.replace("\\", "\\\\").replace("\n", "\\n")
        return f"\\{sha256.lower()}  {escaped}\n"
    return f"{sha256.lower()}  {relpath}\n"


def write_manifest(archive: Path, ingest_id: str, entries: Iterable[tuple[str, str]]) -> Path:
    """Write the manifest of one ingest atomically and return its path.

    ``entries`` are ``(sha256, relpath)`` with POSIX paths relative to the archive root;
    lines are sorted by path. A path with a backslash or a newline is written the way GNU
    coreutils writes it (the line starts with a backslash, and the path has ``\\\\`` and
    ``\\n`` escapes), so ``sha256sum -c`` still checks it. Refused with ``ValueError``:
    absolute paths, ``.``/``..``/empty parts, NUL, and carriage returns (coreutils before 9
    and after disagree on those). The same path twice with different digests is refused too.
    An empty ``entries`` still writes an (empty) file, which ``sha256sum -c`` rejects, so
    callers with nothing copied should not write one.
    """
    target = manifest_path(archive, ingest_id)
    # One string per line to sort, "path NUL digest" (a path has no NUL), not a tuple of two:
    # sorted, these come in the order of (path, digest) pairs, at about half the memory.
    rows: list[str] = []
    for sha256, relpath in entries:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"{sha256!r} is not a sha256 hex digest (for {relpath!r})")
        _check_relpath(relpath)
        rows.append(f"{relpath}\0{sha256}")
    rows.sort()
    for row, next_row in pairwise(rows):
        relpath, _, sha256 = row.partition("\0")
        next_path, _, next_sha = next_row.partition("\0")
        if relpath == next_path and sha256.lower() != next_sha.lower():
            raise ValueError(f"{relpath!r} appears twice with different digests")
    modes.make_dirs(target.parent)
    atomic_write_bytes(target, _encoded(rows))
    return target


def _encoded(rows: list[str]) -> Iterator[bytes]:
    """The manifest's bytes a few hundred lines at a time (sorted ``rows``, each path once):
    a manifest of 10,000 photos is never held whole in memory."""
    lines: list[str] = []
    previous = None
    for row in rows:
        relpath, _, sha256 = row.partition("\0")
        if relpath != previous:
            lines.append(format_line(sha256, relpath))
            previous = relpath
        if len(lines) == _LINES_PER_WRITE:
            yield "".join(lines).encode("utf-8", "surrogateescape")
            lines.clear()
    yield "".join(lines).encode("utf-8", "surrogateescape")


def _unescape(text: str, line_no: int) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        code = next(chars, "")
        if code == "\\":
            out.append("\\")
        elif code == "n":
            out.append("\n")
        elif code == "r":
            out.append("\r")
        else:
            raise ValueError(f"line {line_no}: bad escape \\{code} in the path")
    return "".join(out)


def _read_regular(path: Path | str) -> bytes:
    """The manifest's bytes, following no link and waiting on nothing: a FIFO named like a
    manifest hung `verify` (and `move`) for good, and a symbolic link was read wherever it
    led, outside the archive too. Either is an OSError (unreadable)."""
    try:
        return read_regular(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "a symbolic link, not a manifest file", str(path)) from exc
        raise


def read_manifest(path: Path | str) -> list[tuple[str, str]]:
    """Parse a coreutils checksum file into ``(sha256, relpath)`` pairs, in file order.

    Accepts the text (``"  "``) and binary (``" *"``) separators and coreutils' escaped lines;
    a line that is neither raises ``ValueError`` naming its line number.
    """
    data = _read_regular(path)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    entries: list[tuple[str, str]] = []
    for line_no, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", "surrogateescape")
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{path}: line {line_no} is not a sha256sum line")
        relpath = _unescape(match.group(2), line_no) if escaped else match.group(2)
        entries.append((match.group(1).lower(), relpath))
    return entries


class _Rows(Protocol):
    def manifest_entries(self, ingest_id: str) -> Iterator[tuple[str, str, str | None]]: ...


def rewrite_manifests(
    catalogue: _Rows, archive: Path, ingests: Mapping[str, Iterable[Path]]
) -> list[Path]:
    """Write the manifests of these ingests (ID -> the backup folders they have copies in)
    again from their catalogue rows, in the archive and in those folders; the paths written.
    A folder (or an archive) that holds no copy of the ingest gets none."""
    written: list[Path] = []
    for ingest_id in sorted(ingests):
        manifest = write_archive_manifest(catalogue, archive, ingest_id)
        if manifest is None:
            continue
        written.append(manifest)
        for root in sorted(set(ingests[ingest_id])):
            copies = write_copies_manifest(catalogue, root, ingest_id)
            if copies is not None:
                written.append(copies)
    return written


def write_archive_manifest(catalogue: _Rows, archive: Path, ingest_id: str) -> Path | None:
    """The archive's manifest of one ingest, from its rows (streamed); None, and nothing
    written, where it has none."""
    if next(catalogue.manifest_entries(ingest_id), None) is None:
        return None
    rows = catalogue.manifest_entries(ingest_id)
    return write_manifest(archive, ingest_id, ((sha256, path) for sha256, path, _ in rows))


def write_copies_manifest(catalogue: _Rows, root: Path, ingest_id: str) -> Path | None:
    """The manifest, in the backup folder ``root``, of one ingest's copies there, from its
    rows; None, and nothing written, where it has none there (a dead run's, or one that
    made no backup copy)."""
    copies = [
        (sha256, Path(copy).relative_to(root).as_posix())
        for sha256, _path, copy in catalogue.manifest_entries(ingest_id)
        if copy and Path(copy).is_relative_to(root)
    ]
    return write_manifest(root, ingest_id, copies) if copies else None
