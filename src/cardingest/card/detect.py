"""Which mounted volumes are camera cards.

A card is a mounted volume with a ``DCIM`` folder at its root that holds at least one DCF
folder (``100CANON``, ``101_PANA``...). `storage.mounts` lists the mounts; everything here is
a pure decision on one partition record plus a few guarded looks at the disk, so that one
unreadable or stale mount (a pulled card, a dead FUSE driver) never stops the others from
being listed.
"""

from __future__ import annotations

import errno
import ntpath
import os
import re
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Protocol

from ..errors import CardGoneError, SourceError
from ..models import Card
from ..storage import mounts as mount_table
from ..storage import ondisk
from .fusefat import fusefat_source
from .kinds import PHOTO_EXTENSIONS
from .volume import read_volume_id

DCF_FOLDER: re.Pattern[str] = re.compile(r"^[1-9][0-9]{2}[0-9A-Z_]{5}$", re.IGNORECASE | re.ASCII)

NO_CARD_MESSAGE = (
    "No camera card found. Insert a card, or give its folder as the command's SOURCE, e.g. "
    "/media/CARD"
)

CARD_FSTYPES: frozenset[str] = frozenset(
    {
        "vfat", "msdos", "fat", "fat12", "fat16", "fat32", "exfat",
        "ntfs", "ntfs3", "hfs", "hfsplus", "apfs",
        "fuse", "fuseblk", "fuse.fusefat", "fuse.exfat", "fuse.exfat-fuse", "fuse.ntfs-3g",
    }
)  # fmt: skip
"""Filesystems a camera card (or a card reader's volume) is reported as, lower case.

Linux, macOS and Windows spellings; Windows says ``FAT32``/``exFAT``, macOS ``msdos``.
"""

PSEUDO_FSTYPES: frozenset[str] = frozenset(
    {
        "proc", "sysfs", "devtmpfs", "devpts", "devfs", "tmpfs", "ramfs", "cgroup", "cgroup2",
        "cpuset", "securityfs", "debugfs", "tracefs", "configfs", "pstore", "bpf", "mqueue",
        "hugetlbfs", "fusectl", "binfmt_misc", "autofs", "overlay", "squashfs", "nsfs",
        "efivarfs", "selinuxfs", "rpc_pipefs", "nfsd", "nullfs", "fdesc", "fuse.snapfuse",
        "fuse.gvfsd-fuse", "fuse.portal", "fuse.lxcfs",
    }
)  # fmt: skip

REMOVABLE_ROOTS: tuple[PurePosixPath, ...] = (
    PurePosixPath("/media"),
    PurePosixPath("/run/media"),
    PurePosixPath("/Volumes"),
)
SNAP_ROOTS: tuple[PurePosixPath, ...] = (PurePosixPath("/snap"), PurePosixPath("/var/lib/snapd"))

SYS_CLASS_BLOCK = Path("/sys/class/block")
"""Where Linux lists block devices; a module attribute so tests can point it at a fake tree."""

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]?$")


class Partition(Protocol):
    """The fields of a mount record (`storage.mounts.Mount`, or psutil's) this module reads."""

    @property
    def device(self) -> str: ...
    @property
    def mountpoint(self) -> str: ...
    @property
    def fstype(self) -> str: ...
    @property
    def opts(self) -> str: ...


def is_dcf_folder(name: str) -> bool:
    return DCF_FOLDER.fullmatch(name) is not None


def _subdirs(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if _is_dir(e)]
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _dcf_folders(dcim: Path) -> list[Path]:
    return sorted(Path(e.path) for e in _subdirs(dcim) if is_dcf_folder(e.name))


def dcim_folder(root: Path) -> Path | None:
    """The ``DCIM`` folder at ``root`` (any letter case) if it holds a DCF folder, else None."""
    found = [e for e in _subdirs(root) if e.name.lower() == "dcim"]
    found.sort(key=lambda e: (e.name != "DCIM", e.name))
    for entry in found:
        if _dcf_folders(Path(entry.path)):
            return Path(entry.path)
    return None


def is_photo_name(name: str) -> bool:
    """A visible file whose extension is a camera photo format (case-insensitive)."""
    if name.startswith(".") or "." not in name:
        return False
    return name.rpartition(".")[2].lower() in PHOTO_EXTENSIONS


def count_photos(dcim: Path) -> int:
    """Photos directly inside the DCF folders of ``dcim`` (DCF folders do not nest)."""
    total = 0
    for folder in _dcf_folders(dcim):
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if is_photo_name(entry.name) and entry.is_file():
                            total += 1
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _fstype(partition: Partition) -> str:
    return (partition.fstype or "").lower()


def _under(mountpoint: str, roots: tuple[PurePosixPath, ...]) -> bool:
    path = PurePosixPath(mountpoint)
    return any(path != root and path.is_relative_to(root) for root in roots)


def is_windows_drive(mountpoint: str) -> bool:
    return _WINDOWS_DRIVE.match(mountpoint or "") is not None


def is_candidate(partition: Partition) -> bool:
    """Whether a mount could be a camera card and is worth looking inside.

    Pseudo filesystems and snap loops are dropped; card filesystems and anything mounted where
    desktops put removable media are kept. A Windows drive letter without a filesystem is an
    empty card-reader slot, so it is dropped too.
    """
    fstype = _fstype(partition)
    mountpoint = partition.mountpoint or ""
    if fstype in PSEUDO_FSTYPES or _under(mountpoint, SNAP_ROOTS):
        return False
    if fstype in CARD_FSTYPES:
        return True
    if is_windows_drive(mountpoint):
        return bool(fstype)
    return _under(mountpoint, REMOVABLE_ROOTS)


def _sysfs_removable(device: str) -> bool:
    """Linux: ``removable`` of the disk that holds ``device`` (a partition or a whole disk)."""
    if not device.startswith("/dev/"):
        return False
    try:
        name = os.path.basename(os.path.realpath(device))
        if name.startswith("mmcblk") and "boot" not in name and "rpmb" not in name:
            return True
        node = (SYS_CLASS_BLOCK / name).resolve()
        disk = node.parent if ondisk.exists(node / "partition") else node
        return (disk / "removable").read_text(encoding="ascii").strip() == "1"
    except (OSError, ValueError):
        return False


def is_removable_hint(partition: Partition) -> bool:
    """A hint that the volume is removable media; never required for a card to be listed.

    SD slots on the mmc bus (``mmcblk*``) count as removable even when sysfs says 0, which
    built-in laptop readers often do.
    """
    opts = {opt.strip().lower() for opt in (partition.opts or "").split(",")}
    if "removable" in opts:
        return True
    if _under(partition.mountpoint or "", REMOVABLE_ROOTS):
        return True
    return _sysfs_removable(partition.device or "")


def _usage(mountpoint: str, fstype: str) -> tuple[int | None, int | None]:
    """Total and free bytes; None where FUSE reports nothing useful (0) or the call fails."""
    try:
        usage = shutil.disk_usage(mountpoint)
    except (OSError, ValueError):
        return None, None
    if usage.total <= 0:
        return None, None
    free = usage.free if usage.free > 0 or not fstype.startswith("fuse") else None
    return usage.total, free


def _mount_name(mountpoint: str) -> str | None:
    """The last component of a mount point (``E:`` for a Windows drive root)."""
    if is_windows_drive(mountpoint):
        return mountpoint[:2].upper()
    if _WINDOWS_DRIVE.match(mountpoint[:3]):
        return ntpath.basename(mountpoint.rstrip("\\/")) or None
    return PurePosixPath(mountpoint).name or None


def card_from_partition(partition: Partition) -> Card | None:
    """A ``Card`` for this mount if it has a DCIM folder with a DCF folder, else None.

    The label is the volume's own when its device can be read, else the mount point's name
    (which is what desktops name the mount after anyway).
    """
    mountpoint = partition.mountpoint
    if not mountpoint:
        return None
    mounted = _device_of(mountpoint)
    dcim = dcim_folder(Path(mountpoint))
    if dcim is None or mounted is None:
        return None
    fstype = partition.fstype or ""
    total, free = _usage(mountpoint, fstype.lower())
    volume = read_volume_id(partition.device) if partition.device else None
    if volume is None and fstype.lower().endswith("fusefat"):
        served = fusefat_source(mountpoint)  # fusefat names no device: its image has the volume
        volume = read_volume_id(served) if served else None
    label = volume.label if volume else None
    photos = count_photos(dcim)
    if _device_of(mountpoint) != mounted:
        return None  # unmounted while it was read: some of this is the folder's underneath
    return Card(
        mount=mountpoint,
        fstype=fstype,
        device=partition.device or "",
        label=label or _mount_name(mountpoint),
        serial=volume.serial if volume else None,
        total_bytes=total,
        free_bytes=free,
        photos=photos,
        removable=is_removable_hint(partition),
    )


def _device_of(path: str) -> int | None:
    """The device number of the file system at ``path`` (None if it cannot be read)."""
    try:
        return os.stat(path).st_dev
    except (OSError, ValueError):
        return None


ENV_CARDS_UNDER = "CARDINGEST_CARDS_UNDER"
"""Only mounts at or below this folder count as cards when it is set: a kiosk that must
ignore other drives, and the test suite (a card another program mounted must not matter)."""


def cards_under_missing() -> str | None:
    """What to say when $CARDINGEST_CARDS_UNDER names no folder: every mount is then left
    out, so `watch` waited for good and `cards` said only "No camera card found" (a trial's
    typo). None when it is unset or names a folder (one made when the first card is
    mounted, such as /media/nurse, may come later: it is said, not refused)."""
    under = os.environ.get(ENV_CARDS_UNDER)
    if not under or os.path.isdir(under):
        return None
    return (
        f"{ENV_CARDS_UNDER} is {under!r}, which is not a folder here, and only cards mounted "
        "below it are looked for: check the setting (or unset it to look at every mount)"
    )


def no_card_message() -> str:
    """`NO_CARD_MESSAGE`, with why no mount was looked at when $CARDINGEST_CARDS_UNDER
    names none."""
    missing = cards_under_missing()
    return NO_CARD_MESSAGE if missing is None else f"{NO_CARD_MESSAGE}. {missing}"


def _below(mountpoint: str, folder: str) -> bool:
    mount, root = os.path.normpath(mountpoint), os.path.normpath(folder)
    return mount == root or mount.startswith(root.rstrip(os.sep) + os.sep)


def _partitions() -> list[Partition]:
    """Every mount, FUSE mounts (fusefat, exfat-fuse) included; only those under
    $CARDINGEST_CARDS_UNDER when it is set."""
    try:
        found: list[Partition] = list(mount_table.mounts())
    except (OSError, RuntimeError):
        return []
    under = os.environ.get(ENV_CARDS_UNDER)
    if under:
        return [p for p in found if _below(p.mountpoint, os.path.abspath(under))]
    return found


def find_cards(partitions: Iterable[Partition] | None = None) -> list[Card]:
    """Camera cards among ``partitions`` (default: every mount), sorted by mount point.

    A mount point listed twice (stacked or repeated mounts) is looked at once, at the first
    record that is a candidate.
    """
    seen: set[str] = set()
    cards: list[Card] = []
    for partition in _partitions() if partitions is None else partitions:
        if partition.mountpoint in seen or not is_candidate(partition):
            continue
        seen.add(partition.mountpoint)
        card = card_from_partition(partition)
        if card is not None:
            cards.append(card)
    return sorted(cards, key=lambda card: card.mount)


def _same_path(mountpoint: str, path: Path) -> bool:
    return os.path.normcase(os.path.normpath(mountpoint)) == os.path.normcase(str(path))


def describe(card: Card) -> str:
    label = card.label or "no label"
    return f"{card.mount} ({label}, {card.fstype}, {card.photos} photos)"


def camera_card_holding(path: Path) -> str | None:
    """The mount point of the camera card (a mount that could be a card, with a DCIM
    folder) that ``path`` lies on, by path, by identity or by the mount table; None if none.
    Unlike `find_cards`, nothing is counted or read from the card."""
    from ..storage.identity import inside

    for partition in _partitions():
        mountpoint = partition.mountpoint
        if not mountpoint or not is_candidate(partition):
            continue
        if inside(path, Path(mountpoint)) and dcim_folder(Path(mountpoint)) is not None:
            return mountpoint
    return None


def card_top(root: Path, card: Card | None) -> Path:
    """The card a source lies on: its mount point, or the folder that holds the ``DCIM``
    folder ``root`` is or lies in (a card given as ``DCIM/100CANON``), or ``root`` itself."""
    top = Path(card.mount) if card is not None else root.absolute()
    for folder in (top, *top.parents):
        if folder.name.lower() == "dcim":
            return folder.parent
    return top


def _gone(source: str, exc: OSError) -> CardGoneError:
    return CardGoneError(
        f"The card at {source} is gone ({exc.strerror}): it was pulled or its driver stopped, "
        "so nothing was read from it. Insert it again and run the command again."
    )


def _mount_first(path: Path) -> str:
    """The hint for a SOURCE that is a card's device or an image of one: the photos are read
    from its mounted folder (`cards` lists the cards mounted)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return ""
    if stat.S_ISBLK(mode):
        return " (a disk device: mount it, then give its folder; `cardingest cards` lists them)"
    if path.suffix.lower() in (".img", ".iso", ".dmg", ".bin"):
        return " (a card image? mount it, then give its folder)"
    return ""


CARD_GONE_ERRNOS = frozenset({errno.ENOTCONN, errno.EIO, errno.ENODEV, errno.ENXIO})
"""errno of a card pulled while mounted (a dead FUSE driver: ENOTCONN) or failing."""


def resolve_source(
    source: str | None, *, partitions: Iterable[Partition] | None = None
) -> tuple[Path, Card | None]:
    """The folder to read and, when it is a card's mount point, that card.

    Given a folder, it must exist; it need not be a card (any folder of photos will do), and
    when it is a mount point with a DCIM folder its card is returned even if its filesystem
    type would not have been listed by ``find_cards``. Without a folder, exactly one card
    must be mounted.
    """
    if source is None:
        cards = find_cards(partitions)
        if not cards:
            raise SourceError(no_card_message())
        if len(cards) > 1:
            raise SourceError(
                f"{len(cards)} camera cards found; give the one to use as the command's "
                f"SOURCE, e.g. {cards[0].mount}",
                details=[describe(card) for card in cards],
            )
        return Path(cards[0].mount), cards[0]
    if not source.strip():  # a script's unset variable ("$CARD"): not this folder
        raise SourceError(
            "SOURCE is empty; give the card's mount point or folder (. for this folder), or "
            "leave it out to use the one camera card found"
        )
    path = Path(source).expanduser()
    # os.stat, not Path.exists(): from Python 3.14 that answers False for a pulled card's
    # ENOTCONN; and a loop of links, which Path.resolve() raised for before 3.13, is said here.
    mode: int | None = None
    try:
        mode = os.stat(path).st_mode
        resolved = path.resolve()
    except OSError as exc:
        if exc.errno in CARD_GONE_ERRNOS:  # a pulled FUSE card leaves its mount dead
            raise _gone(source, exc) from None
        if exc.errno == errno.ELOOP:
            raise SourceError(
                f"Source {source} leads round a loop of symbolic links; give a real folder"
            ) from None
        if exc.errno not in ondisk.ABSENT_ERRNOS:
            raise SourceError(f"Cannot read source {source}: {exc.strerror or exc}") from exc
        mode = None  # not there (or gone between the stat and the resolve)
    except ValueError:  # a NUL in the path: no such folder
        mode = None
    if mode is None:
        raise SourceError(f"Source folder not found: {source}")
    if not stat.S_ISDIR(mode):
        raise SourceError(f"Source is not a folder: {source}{_mount_first(path)}")
    try:  # a dead FUSE mount's attributes stay cached for a moment: only a read tells
        with os.scandir(resolved):
            pass
    except OSError as exc:
        if exc.errno in CARD_GONE_ERRNOS:
            raise _gone(source, exc) from None
        raise SourceError(f"Source folder cannot be read: {source}") from None
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise SourceError(f"Source folder cannot be read: {source}")
    for partition in _partitions() if partitions is None else partitions:
        if partition.mountpoint and _same_path(partition.mountpoint, resolved):
            card = card_from_partition(partition)
            if card is not None:
                return resolved, card
    return resolved, None
