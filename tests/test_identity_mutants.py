"""Rules of `storage.identity` that its mutation round (2026-12-06) found no test pinned.

Each test calls the module in the test's process on real folders in ``tmp_path``: links,
real bind mounts and tmpfs mounts of the test's own (root only, unmounted after), and, where
the mount table's answer is the point, ``/proc/self/mountinfo`` as the kernel writes it or a
table in its format (``mounts.PROC_MOUNTINFO`` pointed at a file of the test's).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cardimage import require
from conftest import tmpfs_on

from cardingest.storage import mounts
from cardingest.storage.identity import file_id, inside, inside_by_identity, same_file


@contextlib.contextmanager
def bound(source: Path, at: Path) -> Iterator[Path]:
    """``source`` bind-mounted at the new folder ``at`` (root only): one folder at two
    paths; unmounted after."""
    require(os.geteuid() == 0, "a bind mount needs root")
    at.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "--bind", str(source), str(at)], capture_output=True, text=True, check=False
    )
    require(done.returncode == 0, f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        yield at
    finally:
        subprocess.run(["umount", str(at)], check=False)


def _escaped(path: Path) -> str:
    """A path as the kernel writes it in the mount table."""
    return str(path).replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def test_a_files_id_is_its_device_and_inode_whatever_link_reaches_it(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    (tmp_path / "link").symlink_to(photo)
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    info = os.stat(photo)
    assert file_id(photo) == (info.st_dev, info.st_ino) == file_id(tmp_path / "link")
    assert file_id(tmp_path / "gone") is None
    assert file_id(tmp_path / "dangling") is None


def test_same_file_follows_a_link_at_the_path_only_when_asked(tmp_path: Path) -> None:
    """By default a link at the path counts as the file it names; with
    ``follow_links=False`` the link itself is compared (a durable write's final name)."""
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    link = tmp_path / "link"
    link.symlink_to(photo)
    fd = os.open(photo, os.O_RDONLY)
    try:
        assert same_file(fd, photo)
        assert same_file(fd, link)
        assert same_file(fd, photo, follow_links=False)
        assert not same_file(fd, link, follow_links=False)
    finally:
        os.close(fd)


def test_a_file_replaced_or_removed_since_it_was_opened_is_not_the_same(tmp_path: Path) -> None:
    photo, other = tmp_path / "IMG_0001.JPG", tmp_path / "IMG_0002.JPG"
    photo.write_bytes(b"one")
    other.write_bytes(b"two")
    fd = os.open(photo, os.O_RDONLY)
    try:
        os.replace(other, photo)
        assert not same_file(fd, photo)
        assert not same_file(fd, photo, follow_links=False)
        photo.unlink()
        assert not same_file(fd, photo)
        assert not same_file(fd, photo, follow_links=False)
    finally:
        os.close(fd)


def test_a_path_below_the_folder_is_found_by_walking_up_without_the_mount_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No mountinfo to read (not Linux, /proc not mounted): device and inode up the tree
    still find a path below the folder, through a link too, and one not made yet."""
    monkeypatch.setattr(mounts, "PROC_MOUNTINFO", str(tmp_path / "no-mountinfo"))
    archive = tmp_path / "archive"
    (archive / "JBX3656").mkdir(parents=True)
    (tmp_path / "link").symlink_to(archive)
    assert inside_by_identity(archive / "JBX3656" / "new" / "sheet.pdf", archive)
    assert inside_by_identity(tmp_path / "link" / "JBX3656", archive)
    assert inside_by_identity(archive, archive)
    assert not inside_by_identity(tmp_path / "elsewhere" / "sheet.pdf", archive)
    assert not inside_by_identity(archive / "sheet.pdf", tmp_path / "not-made")


def test_a_folder_inside_the_card_bind_mounted_elsewhere_lies_on_the_card(
    tmp_path: Path,
) -> None:
    """Walking up from a bind mount of a folder inside the card never meets the card's own
    folder: only the mount table's record of where the mount comes from tells. A folder
    whose name begins like the other's (EOS_BO, EOS_BOXES beside EOS_BOX) is not in it."""
    card = tmp_path / "card"
    for folder in ("EOS_BOX/JBX3656", "EOS_BO/sub", "EOS_BOXES"):
        (card / folder).mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(bound(card / "EOS_BOX", tmp_path / "archive"))
        short = stack.enter_context(bound(card / "EOS_BO", tmp_path / "short"))
        longer = stack.enter_context(bound(card / "EOS_BOXES", tmp_path / "longer"))
        assert inside_by_identity(archive, card)
        assert inside_by_identity(archive / "JBX3656" / "new" / "map.csv", card)
        assert inside(archive / "JBX3656", card)
        assert not inside_by_identity(short / "sub", card / "EOS_BOX")
        assert not inside_by_identity(longer, card / "EOS_BOX")
        assert not inside(short / "sub", card / "EOS_BOX")


def test_a_folder_of_a_disk_bind_mounted_elsewhere_lies_in_that_disks_top_folder(
    tmp_path: Path,
) -> None:
    """The top folder of a file system is ``/`` in the mount table: a folder of it
    mounted elsewhere is inside it, and not inside another disk's top folder, where the
    same path exists."""
    disk, other = tmp_path / "disk", tmp_path / "other"
    disk.mkdir()
    other.mkdir()
    with tmpfs_on(disk, 4), tmpfs_on(other, 4):
        (disk / "DCIM").mkdir()
        (other / "DCIM").mkdir()
        with bound(disk / "DCIM", tmp_path / "archive") as archive:
            assert inside_by_identity(archive, disk)
            assert inside_by_identity(archive / "JBX3656", disk)
            assert not inside_by_identity(archive, other)


def test_a_path_the_mount_table_does_not_hold_is_not_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table naming the folder's mount and none that holds the path (a process whose
    table shows only some mounts): not inside, and no error."""
    card = tmp_path / "card"
    card.mkdir()
    table = tmp_path / "mountinfo"
    table.write_text(
        f"36 25 0:41 / {_escaped(card)} rw,relatime shared:1 - tmpfs tmpfs rw,size=4096k\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(mounts, "PROC_MOUNTINFO", str(table))
    assert mounts.locations(tmp_path / "elsewhere", card) == [None, ("0:41", "/")]
    assert not inside_by_identity(tmp_path / "elsewhere", card)


def test_a_folder_not_made_yet_holds_the_paths_below_it(tmp_path: Path) -> None:
    """By path, links resolved: a new archive has no device and inode yet."""
    archive = tmp_path / "archive"
    (tmp_path / "link").symlink_to(archive)
    assert inside(archive / "JBX3656" / "sheet.pdf", archive)
    assert inside(tmp_path / "link" / "sheet.pdf", archive)
    assert not inside(tmp_path / "archived" / "sheet.pdf", archive)
