"""Rules of `storage.mounts` that its mutation round (2026-12-06) found no test pinned.

Each test calls the module in the test's process: on the real mount table with tmpfs and
bind mounts of the test's own (root only, unmounted after), a read-only bind mount, and,
where a file's contents are the point, ``/proc/self/mounts`` or ``/etc/fstab`` text in the
real format in a file of the test's (``PROC_MOUNTS``, ``FSTAB``, ``PROC_MOUNTINFO``
pointed at it): escaped blanks, comment lines, lines without their last fields.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cardimage import require
from conftest import tmpfs_on
from test_identity_mutants import bound

from cardingest.storage import mounts
from cardingest.storage.mounts import Mount, locations, mounted_below, mounted_read_only


def _device(path: Path) -> str:
    """``major:minor`` of the file system ``path`` is on, as mountinfo writes it."""
    dev = os.stat(path).st_dev
    return f"{os.major(dev)}:{os.minor(dev)}"


def _fstab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    fstab = tmp_path / "fstab"
    fstab.write_text(text, encoding="utf-8")
    monkeypatch.setattr(mounts, "FSTAB", str(fstab))


def test_without_the_table_file_psutil_lists_every_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no /proc/self/mounts (macOS, Windows) psutil lists the mounts: all
    of them, virtual file systems too, each record's four fields as psutil gives them."""
    import psutil

    monkeypatch.setattr(mounts, "PROC_MOUNTS", str(tmp_path / "no-such-table"))
    theirs = [Mount(p.device, p.mountpoint, p.fstype, p.opts) for p in psutil.disk_partitions(True)]
    assert mounts.mounts() == theirs
    assert len(theirs) > len(psutil.disk_partitions(False))


def test_the_table_is_read_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "mounts"
    table.write_bytes(
        b"/dev/sda1 / ext4 rw,relatime 0 0\n"
        b"/dev/sdb1 /media/clinic/EOS\\040DIGITAL vfat rw,nosuid,uid=1000 0 0\n"
    )
    monkeypatch.setattr(mounts, "PROC_MOUNTS", str(table))
    assert mounts.mounts() == [
        Mount("/dev/sda1", "/", "ext4", "rw,relatime"),
        Mount("/dev/sdb1", "/media/clinic/EOS DIGITAL", "vfat", "rw,nosuid,uid=1000"),
    ]


def test_a_path_that_is_gone_is_not_on_a_read_only_mount(tmp_path: Path) -> None:
    assert mounted_read_only(tmp_path / "gone") is False
    assert mounted_read_only(tmp_path) is False
    require(os.geteuid() == 0, "a read-only bind mount needs root")
    (tmp_path / "archive").mkdir()
    with bound(tmp_path / "archive", tmp_path / "view") as view:
        done = subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=False)
        require(done.returncode == 0, "cannot make the bind mount read-only")
        assert mounted_read_only(view) is True
        assert mounted_read_only(view / "gone") is False
        assert mounted_read_only(tmp_path / "archive") is False


def test_commented_fstab_lines_name_no_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``#`` starts a comment, after blanks too and with no blank after it; only the
    live line counts."""
    nas = tmp_path / "mnt" / "nas"
    nas.mkdir(parents=True)
    commented = (
        f"#/dev/sdz1 {nas} ext4 defaults 0 2\n"
        f"   # /dev/sdz2 {nas} ext4 defaults 0 2\n"
        f"\t#//nas/photos {nas} cifs credentials=/root/c 0 0\n"
    )
    _fstab(tmp_path, monkeypatch, commented)
    assert mounts.not_mounted(nas / "archive") is None
    _fstab(tmp_path, monkeypatch, commented + f"//nas/photos {nas} cifs credentials=/root/c 0 0\n")
    assert mounts.not_mounted(nas / "archive") == str(nas)


def test_an_fstab_line_without_its_dump_and_pass_fields_after_blank_lines_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fstab's fifth and sixth fields may be left out, and blank lines are common."""
    nas = tmp_path / "mnt" / "nas"
    nas.mkdir(parents=True)
    _fstab(tmp_path, monkeypatch, f"\n\n//nas/photos {nas} cifs credentials=/root/c\n\n")
    assert mounts.not_mounted(nas / "archive" / "JBX3656") == str(nas)


def test_an_indented_fstab_line_is_read_by_its_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blanks before a line's first field, as some fstabs align their columns."""
    nas = tmp_path / "mnt" / "nas"
    nas.mkdir(parents=True)
    _fstab(
        tmp_path,
        monkeypatch,
        "/dev/sda1  /  ext4  defaults  0 1\n"
        f"    //nas/photos  {nas}  cifs  credentials=/root/c  0 0\n",
    )
    assert mounts.not_mounted(nas / "archive") == str(nas)


def test_a_swap_line_or_one_naming_no_absolute_folder_is_no_mount_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``none`` (swap) or a relative folder is not where anything is mounted, whatever the
    current folder; nor is a folder a swap line names."""
    monkeypatch.chdir(tmp_path)
    for folder in ("none", "mnt/nas", "swap"):
        (tmp_path / folder).mkdir(parents=True)
    _fstab(
        tmp_path,
        monkeypatch,
        "/dev/sdz5 none swap sw 0 0\n"
        "/dev/sdz6 mnt/nas ext4 defaults 0 2\n"
        f"/dev/sdz7 {tmp_path / 'swap'} swap sw 0 0\n",
    )
    for folder in ("none", "mnt/nas", "swap"):
        assert mounts.not_mounted(tmp_path / folder / "archive") is None, folder


def test_every_mount_is_below_the_root_folder(tmp_path: Path) -> None:
    ram = tmp_path / "ram"
    ram.mkdir()
    with tmpfs_on(ram, 4):
        assert str(ram) in mounted_below("/")
        assert mounted_below(tmp_path) == [str(ram)]


def test_a_bind_mounted_folder_is_located_at_its_place_in_its_file_system(
    tmp_path: Path,
) -> None:
    """The device and the path from the file system's own top, through a bind mount of
    one of its folders; blanks in the mount point and the mount's root, as the kernel
    escapes them (``\\040``), read back."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with tmpfs_on(disk, 4):
        (disk / "DCIM" / "100 CANON").mkdir(parents=True)
        (disk / "DCIM" / "100 CANON" / "IMG_0001.JPG").write_bytes(b"\xff\xd8\xff\xd9")
        with bound(disk / "DCIM", tmp_path / "card view") as view:
            (tmp_path / "link").symlink_to(view / "100 CANON")
            device = _device(disk)
            assert locations(
                view / "100 CANON" / "IMG_0001.JPG",
                view,
                disk,
                disk / "DCIM",
                tmp_path / "link" / "new.csv",
            ) == [
                (device, "/DCIM/100 CANON/IMG_0001.JPG"),
                (device, "/DCIM"),
                (device, "/"),
                (device, "/DCIM"),
                (device, "/DCIM/100 CANON/new.csv"),
            ]


def test_of_two_file_systems_mounted_at_one_folder_the_last_is_located(tmp_path: Path) -> None:
    """The one in view: the later mount hides the earlier."""
    ram = tmp_path / "ram"
    ram.mkdir()
    with tmpfs_on(ram, 4):
        below = _device(ram)
        with tmpfs_on(ram, 4):
            assert _device(ram) != below
            assert locations(ram / "new") == [(_device(ram), "/new")]


def test_a_path_only_the_root_mount_holds_is_located_from_the_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table in mountinfo's format (optional fields, the `` - `` separator): a path
    below no other mount point is on the root file system, at its own path."""
    table = tmp_path / "mountinfo"
    table.write_bytes(
        b"1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        b"40 1 8:17 / /media/EOS\\040DIGITAL rw,nosuid,nodev shared:50 master:2 - vfat"
        b" /dev/sdb1 rw,uid=1000\n"
    )
    monkeypatch.setattr(mounts, "PROC_MOUNTINFO", str(table))
    where = Path(os.path.realpath(tmp_path)) / "archive"
    assert locations(where, "/media/EOS DIGITAL/DCIM") == [
        ("8:1", str(where)),
        ("8:17", "/DCIM"),
    ]
    monkeypatch.setattr(mounts, "PROC_MOUNTINFO", str(tmp_path / "none"))
    assert locations(where, "/") == [None, None]


def test_an_fstab_line_without_its_options_field_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fstab's options may be left out (`mount` and `findmnt` read `/dev/sdz9 /mnt/nas
    ext4` with the defaults): the disk's empty mount point is still found. A line of two
    fields is no mount (`findmnt` calls it a parse error)."""
    nas = tmp_path / "nas"
    nas.mkdir()
    _fstab(tmp_path, monkeypatch, f"/dev/zzz9 {nas} ext4\n/dev/zzz8 {tmp_path / 'two'}\n")
    assert mounts.not_mounted(nas / "archive") == str(nas)
    (tmp_path / "two").mkdir()
    assert mounts.not_mounted(tmp_path / "two" / "archive") is None


def test_of_the_mount_points_holding_a_path_the_last_mounted_is_in_view() -> None:
    """Mounted at ``/a/b``, then at ``/a`` (which hides ``/a/b``), then at ``/a/b`` again:
    each time the last of those holding the path is the one in view, however deep."""
    table = ["/", "/a/b", "/a"]
    assert mounts.holding("/a/b/c", table, str) == "/a"
    assert mounts.holding("/a/b/c", [*table, "/a/b"], str) == "/a/b"
    assert mounts.holding("/a/c", ["/", "/a", "/a/b"], str) == "/a"
    assert mounts.holding("/z", table, str) == "/"


def test_a_mount_hidden_by_a_later_one_above_it_is_not_taken_for_the_one_in_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something mounted at ``x/y``, then the card's DCIM bind-mounted over ``x``: the path
    ``x/y/archive`` is on the card, not on the hidden tmpfs. An ingest into it was filed on
    the card ("1 copied and verified"); it is refused as inside the card."""
    from clinic_helpers import cli
    from exif_bytes import timed_card

    card, hidden = tmp_path / "card", tmp_path / "x" / "y"
    card.mkdir()
    hidden.mkdir(parents=True)
    with tmpfs_on(card, 16), tmpfs_on(hidden, 16):
        timed_card(card)
        (card / "DCIM" / "y").mkdir()
        over = subprocess.run(["mount", "--bind", card / "DCIM", tmp_path / "x"], check=False)
        require(over.returncode == 0, "cannot bind-mount here")
        try:
            archive = tmp_path / "x" / "y" / "archive"
            found = locations(archive, card)
            assert found == [(_device(card), "/DCIM/y/archive"), (_device(card), "/")]
            from cardingest.storage.identity import inside

            assert inside(archive, card)
            config = tmp_path / "config.toml"
            config.write_text("allow_test_ids = true\n", encoding="utf-8")
            monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
            result = cli("ingest", card, "--id", "ZAC5361", "--archive", archive)
            assert result.exit_code == 2, result.stdout + result.stderr
            assert not (card / "DCIM" / "y" / "archive").exists()
        finally:
            subprocess.run(["umount", "-l", tmp_path / "x"], check=False)


def test_the_mount_the_kernel_reaches_a_path_by_is_asked_before_the_tables_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mnt_id`` in /proc/self/fdinfo names the mount a path is reached by, whatever the
    table's order says (a mount moved since, `mount --move`): a decoy line at the same
    point after the real one, which the table's order would take, is passed over."""
    folder = tmp_path / "disk"
    folder.mkdir()
    with tmpfs_on(folder, 8):
        lines = Path(mounts.PROC_MOUNTINFO).read_bytes().splitlines()
        (real,) = [line for line in lines if line.split()[4] == os.fsencode(folder)]
        decoy = b"99999 1 0:999 / " + os.fsencode(folder) + b" rw - tmpfs decoy rw"
        table = tmp_path / "mountinfo"
        table.write_bytes(b"\n".join([*lines, decoy]) + b"\n")
        monkeypatch.setattr(mounts, "PROC_MOUNTINFO", str(table))
        device = os.fsdecode(real.split()[2])
        assert locations(folder / "not" / "made", folder) == [
            (device, "/not/made"),
            (device, "/"),
        ]
        monkeypatch.setattr(mounts, "PROC_FDINFO", str(tmp_path / "no-fdinfo"))
        assert locations(folder) == [("0:999", "/")]  # the table alone: the decoy
