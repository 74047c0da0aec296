"""What a FAT or exFAT volume says about itself: serial number and label, read from its boot
sector and root directory (as Windows and blkid show them), for the card's identity."""

from __future__ import annotations

import os
import stat
import struct
from typing import NamedTuple

_ROOT_DIR_READ_LIMIT = 256 * 1024


class VolumeId(NamedTuple):
    """What a FAT or exFAT volume says about itself (boot sector and root directory)."""

    kind: str
    serial: str | None
    label: str | None


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<H", data, offset)[0])


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _format_serial(value: int) -> str:
    return f"{value >> 16:04X}-{value & 0xFFFF:04X}"


def _serial_key(serial: str) -> str:
    return serial.replace("-", "").replace(":", "").strip().upper()


def same_volume(recorded: str | None, current: str | None) -> bool:
    """False only when both volume serials are known and differ (``1234-ABCD`` is
    ``1234abcd``): a catalogue record of another card."""
    if recorded and current:
        return _serial_key(recorded) == _serial_key(current)
    return True


def _fat_label(raw: bytes) -> str | None:
    text = raw.decode("cp437", errors="replace").rstrip(" \x00")
    return None if not text or text == "NO NAME" else text


def parse_boot_sector(sector: bytes) -> VolumeId | None:
    """Serial and boot-sector label of a FAT12/16, FAT32 or exFAT volume; None if neither.

    exFAT keeps its label only in the root directory, so its label here is always None.
    """
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return None
    if sector[3:11] == b"EXFAT   ":
        return VolumeId("exfat", _format_serial(_u32(sector, 0x64)), None)
    if sector[0] not in (0xEB, 0xE9):
        return None
    bytes_per_sector = _u16(sector, 0x0B)
    sectors_per_cluster = sector[0x0D]
    if bytes_per_sector not in (512, 1024, 2048, 4096) or sectors_per_cluster == 0:
        return None
    if sectors_per_cluster & (sectors_per_cluster - 1):
        return None
    if _u16(sector, 0x16) == 0:
        kind, signature_at, serial_at, label_at = "fat32", 0x42, 0x43, 0x47
    else:
        kind, signature_at, serial_at, label_at = "fat", 0x26, 0x27, 0x2B
    signature = sector[signature_at]
    if signature not in (0x28, 0x29):
        return None
    label = _fat_label(sector[label_at : label_at + 11]) if signature == 0x29 else None
    return VolumeId(kind, _format_serial(_u32(sector, serial_at)), label)


def _root_dir_span(sector: bytes, kind: str) -> tuple[int, int]:
    """Byte offset and length of the start of the root directory."""
    if kind == "exfat":
        bytes_per_sector = 1 << sector[0x6C]
        cluster = bytes_per_sector << sector[0x6D]
        heap = _u32(sector, 0x58) * bytes_per_sector
        return heap + (_u32(sector, 0x60) - 2) * cluster, cluster
    bytes_per_sector = _u16(sector, 0x0B)
    reserved = _u16(sector, 0x0E)
    fats = sector[0x10]
    if kind == "fat32":
        data_start = (reserved + fats * _u32(sector, 0x24)) * bytes_per_sector
        cluster = bytes_per_sector * sector[0x0D]
        return data_start + (_u32(sector, 0x2C) - 2) * cluster, cluster
    return (reserved + fats * _u16(sector, 0x16)) * bytes_per_sector, _u16(sector, 0x11) * 32


def _root_dir_label(entries: bytes, kind: str) -> str | None:
    """The volume label entry of a root directory (what Windows and blkid show)."""
    for offset in range(0, len(entries) - 31, 32):
        entry = entries[offset : offset + 32]
        if entry[0] == 0x00:
            break
        if kind == "exfat":
            if entry[0] == 0x83:
                length = min(entry[1], 11)
                text = entry[2 : 2 + 2 * length].decode("utf-16-le", errors="replace")
                return text or None
            continue
        attributes = entry[11]
        if entry[0] == 0xE5 or attributes & 0x0F == 0x0F:
            continue
        if attributes & 0x08 and not attributes & 0x10:
            return _fat_label(entry[:11])
    return None


def read_volume_id(device: str) -> VolumeId | None:
    """Serial and label of the FAT/exFAT volume on ``device``, if it is a readable path.

    Only block devices and regular files (images) are opened: FUSE mounts name ``/dev/fuse``
    or a word like ``fusefat`` as their device, and reading a character device can block.
    The root directory's label entry wins over the boot sector's, as on Windows and in blkid.
    """
    try:
        mode = os.stat(device).st_mode
        if not (stat.S_ISBLK(mode) or stat.S_ISREG(mode)):
            return None
        with open(device, "rb") as handle:
            sector = handle.read(512)
            volume = parse_boot_sector(sector)
            if volume is None:
                return None
            start, length = _root_dir_span(sector, volume.kind)
            if start > 0 and length > 0:
                handle.seek(start)
                label = _root_dir_label(handle.read(min(length, _ROOT_DIR_READ_LIMIT)), volume.kind)
                if label is not None:
                    return volume._replace(label=label)
            return volume
    except (OSError, ValueError, struct.error, IndexError):
        return None
