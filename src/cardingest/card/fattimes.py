"""File times read from a FAT volume's own directory entries.

fusefat (0.1a, the one Debian ships) reports every file time a month late: it hands the FAT
month (1-12) to ``mktime`` as if it counted from 0, so 11 March reads 11 April and
31 December the next 31 January, and a 31 January becomes 3 March, as does a 3 February: the
month cannot be taken back off. A photo with no EXIF capture time is named by its file
time, so on such a mount it is read here instead, from the image or device the driver
serves: the entry's last-write date and time (to two seconds), as the camera wrote them.

Read-only and bounded: every offset is checked against the volume, a cluster chain that
loops or leaves the volume ends the walk, and anything that does not parse gives no time.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from ..models import MediaFile
from ..storage.mounts import holding, mounts
from .fusefat import fusefat_source

FUSEFAT = "fuse.fusefat"
_ENTRY = 32
_LFN, _VOLUME, _DIRECTORY = 0x0F, 0x08, 0x10
_MAX_DIRECTORY = 65536 * _ENTRY  # the most entries a FAT directory may hold (2 MiB)
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""FAT's case folding as Linux's vfat applies it: ASCII letters only (``str.upper`` would
make STRAßE.JPG the name of STRASSE.JPG)."""


class FatVolume:
    """One FAT12/16/32 volume in an image or on a device, opened for reading."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        boot = self._read(0, 512)
        sector, per_cluster, reserved, fats, root_entries, total16 = struct.unpack_from(
            "<HBHBHH", boot, 11
        )
        fat16_size, total32, fat32_size, root_cluster = (
            struct.unpack_from("<H", boot, 22)[0],
            struct.unpack_from("<I", boot, 32)[0],
            struct.unpack_from("<I", boot, 36)[0],
            struct.unpack_from("<I", boot, 44)[0],
        )
        if sector not in (512, 1024, 2048, 4096) or per_cluster == 0 or fats == 0:
            raise ValueError("not a FAT boot sector")
        if per_cluster & (per_cluster - 1):
            raise ValueError("not a FAT boot sector")
        fat_size = fat16_size or fat32_size
        total = total16 or total32
        root_sectors = (root_entries * _ENTRY + sector - 1) // sector
        self._fat_at = reserved * sector
        self._root_at = (reserved + fats * fat_size) * sector
        self._root_size = root_sectors * sector
        self._data_at = self._root_at + self._root_size
        self._cluster = per_cluster * sector
        clusters = (total - (reserved + fats * fat_size + root_sectors)) // per_cluster
        if fat_size == 0 or clusters <= 0:
            raise ValueError("not a FAT boot sector")
        self._clusters = clusters
        # As Linux tells them: FAT32 has no 16-bit FAT size; FAT12 fewer than 4085 clusters.
        self._bits = 32 if fat16_size == 0 else 12 if clusters < 4085 else 16
        self._root_cluster = root_cluster if self._bits == 32 else 0
        self._directories: dict[int, bytes] = {}

    def _read(self, offset: int, size: int) -> bytes:
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise ValueError("the volume ends early")
        return data

    def _next(self, cluster: int) -> int | None:
        """The cluster after ``cluster`` in its chain; None at its end or on damage."""
        if self._bits == 32:
            value = struct.unpack("<I", self._read(self._fat_at + 4 * cluster, 4))[0] & 0x0FFFFFFF
        elif self._bits == 16:
            value = struct.unpack("<H", self._read(self._fat_at + 2 * cluster, 2))[0]
        else:
            pair = struct.unpack("<H", self._read(self._fat_at + cluster * 3 // 2, 2))[0]
            value = pair >> 4 if cluster & 1 else pair & 0x0FFF
        return value if 2 <= value < self._clusters + 2 else None

    def _directory(self, cluster: int) -> bytes:
        """A directory's entries: the fixed root of FAT12/16 (cluster 0), or a chain, read
        once per lookup of many paths. No directory holds more than 2 MiB of entries: a
        chain longer (a cross-linked entry pointing into a video) is read no further."""
        if cluster in self._directories:
            return self._directories[cluster]
        if cluster == 0:
            entries = self._read(self._root_at, min(self._root_size, _MAX_DIRECTORY))
        else:
            chunks: list[bytes] = []
            seen: set[int] = set()
            current: int | None = cluster
            most = max(1, _MAX_DIRECTORY // self._cluster)
            while current is not None and current not in seen and len(seen) < most:
                if not 2 <= current < self._clusters + 2:
                    break
                seen.add(current)
                at = self._data_at + (current - 2) * self._cluster
                chunks.append(self._read(at, self._cluster))
                current = self._next(current)
            entries = b"".join(chunks)
        self._directories[cluster] = entries
        return entries

    def entry_time(self, relpath: str) -> datetime | None:
        """The last-write time of the file at ``relpath`` (``/``-separated, from the volume's
        root; letter case ignored, as FAT does), or None if not found or not valid."""
        cluster = self._root_cluster
        parts = [part for part in relpath.split("/") if part]
        for depth, part in enumerate(parts):
            found = _find(self._directory(cluster), part)
            if found is None:
                return None
            attributes, (high, low), stamp = found
            first_cluster = high << 16 | low if self._bits == 32 else low  # FAT12/16: no high
            if depth == len(parts) - 1:
                return None if attributes & _DIRECTORY else stamp
            if not attributes & _DIRECTORY:
                return None
            cluster = first_cluster
        return None


def _find(entries: bytes, name: str) -> tuple[int, tuple[int, int], datetime | None] | None:
    """(attributes, first cluster's high and low words, write time) of ``name`` among a
    directory's entries."""
    wanted = name.translate(_ASCII_UPPER)
    long_parts: dict[int, tuple[int, str]] = {}  # sequence number: (checksum, text)
    for at in range(0, len(entries) - _ENTRY + 1, _ENTRY):
        entry = entries[at : at + _ENTRY]
        first = entry[0]
        if first == 0x00:
            break
        if first == 0xE5:
            long_parts.clear()
            continue
        attributes = entry[11]
        if attributes == _LFN:
            raw = entry[1:11] + entry[14:26] + entry[28:32]
            text = raw.decode("utf-16-le", "replace").split("\0", 1)[0].replace("\uffff", "")
            long_parts[first & 0x1F] = (entry[13], text)
            continue
        if attributes & _VOLUME:
            long_parts.clear()
            continue
        # A long name counts only if it was written for this entry (its checksum of the
        # short name): one left by a tool that renamed the entry without it is another's.
        checksum = _checksum(entry[:11])
        own = long_parts and all(check == checksum for check, _ in long_parts.values())
        long_name = "".join(long_parts[n][1] for n in sorted(long_parts)) if own else ""
        long_parts.clear()
        short = _short_name(entry).translate(_ASCII_UPPER)
        if wanted in (long_name.translate(_ASCII_UPPER), short):
            high, time, date, low = struct.unpack_from("<HHHH", entry, 20)
            return attributes, (high, low), _stamp(date, time)
    return None


def _checksum(short: bytes) -> int:
    """The checksum a long name's entries carry of the 11 bytes of their short name."""
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _short_name(entry: bytes) -> str:
    base = bytearray(entry[0:8])
    if base[0] == 0x05:  # a first byte of 0xE5 is stored as 0x05
        base[0] = 0xE5
    stem = bytes(base).decode("cp437").rstrip()
    extension = entry[8:11].decode("cp437").rstrip()
    return f"{stem}.{extension}" if extension else stem


def _stamp(date: int, time: int) -> datetime | None:
    try:
        return datetime(
            1980 + (date >> 9),
            (date >> 5) & 0x0F,
            date & 0x1F,
            time >> 11,
            (time >> 5) & 0x3F,
            (time & 0x1F) * 2,
        )
    except ValueError:
        return None


def entry_times(volume_path: str, relpaths: list[str]) -> dict[str, datetime | None]:
    """The FAT entry time of each path on the volume at ``volume_path`` (an image, or a
    device), None for one not found; an OSError or ValueError when the volume cannot be
    read or is not FAT."""
    fd = os.open(volume_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        volume = FatVolume(fd)
        return {path: volume.entry_time(path) for path in relpaths}
    finally:
        os.close(fd)


def _fusefat_mounts(paths: Sequence[Path]) -> dict[Path, str]:
    """The fusefat mount point each of ``paths`` lies on, for those on one (a folder given
    as the source may hold a card's mount beside folders of another file system)."""
    try:
        table = mounts()
    except OSError:
        return {}
    found: dict[Path, str] = {}
    for path in paths:
        mount = holding(os.path.realpath(path), table, lambda entry: entry.mountpoint)
        if mount is not None and mount.fstype == FUSEFAT:
            found[path] = mount.mountpoint
    return found


def true_file_times(paths: Sequence[Path]) -> dict[Path, datetime | None]:
    """For each of ``paths`` on a fusefat mount, its time as its FAT entry holds it, or None
    where that cannot be read (the volume not found, not FAT, or the entry not there).
    Paths elsewhere are left out: their file times are right as they are."""
    on_mounts: dict[str, dict[Path, str]] = {}
    for path, mount in _fusefat_mounts(paths).items():
        top = os.path.realpath(mount)
        on_mounts.setdefault(mount, {})[path] = os.path.relpath(os.path.realpath(path), top)
    found: dict[Path, datetime | None] = {}
    for mount, names in on_mounts.items():
        volume = fusefat_source(mount)
        try:
            times = entry_times(volume, sorted(set(names.values()))) if volume else {}
        except (OSError, ValueError):
            times = {}
        found.update((path, times.get(name)) for path, name in names.items())
    return found


def time_unread(relpath: str) -> str:
    """The warning of a file dated by its file time on a fusefat mount whose FAT entry could
    not be read: fusefat's own time for it is a month late, so it is held."""
    return (
        f"{relpath}: its capture time would be its file time, which fusefat shows a month "
        "late, and the card's own record of it could not be read; it stays on the card "
        "(mount the card with the kernel's vfat driver, or give it an EXIF time)"
    )


def fat_dated(root: Path, files: Sequence[MediaFile]) -> tuple[MediaFile, ...]:
    """``files`` (paths relative to ``root``), those of the photos dated by their file time
    that lie on a fusefat mount dated by their FAT entries instead, or held (unreadable,
    with `time_unread`) where those cannot be read. The others as they are."""
    timed = sorted(
        m.path for m in files if m.time_source == "mtime" and not m.sidecar and not m.unreadable
    )
    times = true_file_times([root / path for path in timed]) if timed else {}
    if not times:
        return tuple(files)
    return tuple(
        _redated(media, times[root / media.path]) if root / media.path in times else media
        for media in files
    )


def _redated(media: MediaFile, when: datetime | None) -> MediaFile:
    if when is None:
        return replace(media, unreadable=True, warning=time_unread(media.path))
    return replace(media, captured=when)
