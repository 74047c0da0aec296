"""The mount table read from /proc/self/mounts, without psutil: the same records psutil gives."""

from __future__ import annotations

import os

import pytest
from cardimage import CardFactory

from cardingest.storage.mounts import PROC_MOUNTS, Mount, mounts, parse_mounts

linux_only = pytest.mark.skipif(
    not os.path.exists(PROC_MOUNTS), reason="no /proc/self/mounts (not Linux)"
)


@linux_only
def test_the_table_is_psutils() -> None:
    """Device, mount point, type and options of every mount, in order, as psutil reads them
    (psutil also resolves /dev/root to the root file system's device; we do not need it)."""
    import psutil

    ours = [(m.device, m.mountpoint, m.fstype, m.opts) for m in mounts()]
    theirs = [tuple(p[:4]) for p in psutil.disk_partitions(all=True)]
    assert len(ours) == len(theirs) > 0
    for mine, other in zip(ours, theirs, strict=True):
        if mine[0] in ("/dev/root", "rootfs"):
            assert mine[1:] == other[1:]
        else:
            assert mine == other


def test_escaped_blanks_and_no_device() -> None:
    table = (
        b"none /run/user/1000 tmpfs rw,nosuid 0 0\n"
        b"/dev/sdb1 /media/user/EOS\\040DIGITAL vfat rw,uid=1000 0 0\n"
        b"fusefat /home/a\\134b/tab\\011new\\012line fuse.fusefat rw 0 0\n"
        b"/dev/sdc1 /media/M\xc4\x81ori\\0401 exfat ro 0 0\n"
        b"\n"
        b"broken line\n"
    )
    assert parse_mounts(table) == [
        Mount("", "/run/user/1000", "tmpfs", "rw,nosuid"),
        Mount("/dev/sdb1", "/media/user/EOS DIGITAL", "vfat", "rw,uid=1000"),
        Mount("fusefat", "/home/a\\b/tab\tnew\nline", "fuse.fusefat", "rw"),
        Mount("/dev/sdc1", "/media/Māori 1", "exfat", "ro"),
    ]


@linux_only
def test_a_mount_with_a_space_in_its_path_is_found(fat_card: CardFactory) -> None:
    """A real FUSE card mounted where the path has a blank, as desktops name card folders."""
    mount = fat_card({"DCIM/100CANON/IMG_0001.JPG": b"\xff\xd8\xff\xd9"}, label="EOS DIGITAL")
    assert any(m.mountpoint == str(mount) for m in mounts()), str(mount)
