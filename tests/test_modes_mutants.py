"""Tests written in a mutation round by hand on storage/modes.py and storage/durable.py
(docs/testing.md, "A mutation round on file modes and durable writes"), and in the mutmut
round on storage/modes ("A mutation round on storage/modes", the tests after the marker
below): each kills a mutant the rest of the suite let live."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cardimage import require
from clinic_helpers import cli
from conftest import tmpfs_on
from factories import make_file
from test_permissions import another_group, config  # noqa: F401 (a fixture)

from cardingest.demo import make_demo_card
from cardingest.errors import UsageError
from cardingest.storage import durable, modes
from cardingest.storage.transfer import Destination, copy_verified

REL = "JBX3656/JBX3656-20080530-155601.jpg"


def nobodys_archive(tmp_path: Path) -> Path:
    """An archive (its id record) that the account nobody made."""
    archive = tmp_path / "archive"
    (archive / ".cardingest").mkdir(parents=True)
    (archive / ".cardingest" / "archive-id").write_text("0123\n")
    for made in (archive / ".cardingest" / "archive-id", archive / ".cardingest", archive):
        os.chown(made, 65534, 65534)
    return archive


def test_folders_root_makes_in_another_accounts_archive_are_that_accounts(
    tmp_path: Path,
) -> None:
    """Root on an archive the account nobody made (`keep_owner`): every folder it makes
    there, by `mkdir` or `make_dirs_beneath`, is nobody's, so that account keeps the use of
    its archive."""
    require(os.geteuid() == 0, "needs root: only root gives a folder to another account")
    archive = nobodys_archive(tmp_path)
    modes.keep_owner(archive)
    try:
        modes.mkdir(archive / "ZAC5361")
        made = modes.make_dirs_beneath(archive, ["ZAA0067", "2024", "03"])
    finally:
        modes.keep_owner(tmp_path / "not-there")
    assert made == [archive / "ZAA0067", archive / "ZAA0067" / "2024", archive / "ZAA0067/2024/03"]
    for folder in (archive / "ZAC5361", *made):
        status = folder.stat()
        assert (status.st_uid, status.st_gid) == (65534, 65534), folder
        assert stat.S_IMODE(status.st_mode) == 0o700, folder


def test_a_temporary_whose_mode_cannot_be_set_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file `modes.create` made and could not give its mode (an I/O error) is removed with
    the error: no temporary is left behind by `atomic_write_bytes` or `write_new`."""
    folder = tmp_path / "out"
    folder.mkdir()

    def fails(fd: int, mode: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fchmod", fails)
    with pytest.raises(OSError):
        durable.atomic_write_bytes(folder / "manifest.json", b"{}")
    with pytest.raises(OSError):
        durable.write_new(folder, "IMG_0001.dcm", b"DICM")
    assert os.listdir(folder) == []


def test_a_file_that_cannot_be_removed_either_reports_why_its_mode_could_not_be_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the removal of such a file fails too, the error raised is the mode's (what went
    wrong first), not the removal's."""

    def fails(fd: int, mode: int) -> None:
        raise OSError(errno.EIO, "the mode could not be set")

    def cannot_remove(path: Any, *, dir_fd: int | None = None) -> None:
        raise OSError(errno.EROFS, "the removal failed")

    monkeypatch.setattr(os, "fchmod", fails)
    monkeypatch.setattr(os, "unlink", cannot_remove)
    with pytest.raises(OSError, match="the mode could not be set"):
        modes.create(tmp_path / "IMG_0001.tmp", os.O_WRONLY)


@pytest.mark.usefixtures("config")
def test_a_folder_an_access_control_list_lets_read_is_said_so(tmp_path: Path) -> None:
    """`setfacl -m u:nobody:rx` (read, not write) on a patient folder: `verify` names the
    access control list, not the group (whose bits are then the list's mask)."""
    require(shutil.which("setfacl") is not None, "needs setfacl (Debian package acl)")
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    assert cli("ingest", card, "--map", map_file, "--archive", archive).exit_code == 3
    subprocess.run(["setfacl", "-m", "u:nobody:rx", archive / "ZAA0067"], check=True)
    result = cli("verify", "--archive", archive, "--json")
    problems = [p for p in json.loads(result.stdout)["problems"] if p["kind"] == "exposed"]
    assert [p["path"] for p in problems] == ["ZAA0067"], problems
    said = json.dumps(problems)
    assert "open to the accounts or groups its access control list names" in said, said
    assert "writable" not in said and "group " not in said, said


def test_another_accounts_file_is_left_as_it_is(tmp_path: Path) -> None:
    """`close_open_file` closes a file of ours found open, never another account's (even for
    root, which could): `verify` names that one, its owner decides."""
    require(os.geteuid() == 0, "needs root: a file of another account's")
    theirs, ours = tmp_path / "theirs.jpg", tmp_path / "ours.jpg"
    for path in (theirs, ours):
        path.write_bytes(b"photo")
        path.chmod(0o644)
    os.chown(theirs, 65534, 65534)
    for path in (theirs, ours):
        fd = os.open(path, os.O_RDONLY)
        try:
            modes.close_open_file(fd)
        finally:
            os.close(fd)
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o644
    assert stat.S_IMODE(ours.stat().st_mode) == 0o600


def test_a_copy_with_a_second_name_outside_is_not_taken_as_the_copy(tmp_path: Path) -> None:
    """A file with the photo's bytes at its name, hard-linked from outside the archive,
    is not the copy (whoever holds the other name could change it): the photo takes the
    next free name and the linked file is left alone."""
    src = tmp_path / "card" / "DCIM" / "100CANON" / "IMG_0001.JPG"
    make_file(src, 70000)
    archive = tmp_path / "archive"
    assert copy_verified(src, [Destination(archive, REL)]).ok
    os.link(archive / REL, tmp_path / "outside.jpg")
    again = copy_verified(src, [Destination(archive, REL)])
    assert again.ok
    assert not again.published[0].reused
    assert again.published[0].relpath.endswith("-2.jpg")


def test_a_copy_owned_by_its_folders_owner_is_taken_as_the_copy(tmp_path: Path) -> None:
    """On a file system that gives every file its folder's owner (or root on an account's
    archive), a file with the photo's bytes owned by the folder's owner is the copy: it is
    reused, not doubled as ``-2``."""
    require(os.geteuid() == 0, "needs root: files of another account's")
    src = tmp_path / "card" / "DCIM" / "100CANON" / "IMG_0001.JPG"
    make_file(src, 70000)
    archive = tmp_path / "archive"
    assert copy_verified(src, [Destination(archive, REL)]).ok
    for path in (archive / REL, archive / "JBX3656"):
        os.chown(path, 65534, 65534)
    again = copy_verified(src, [Destination(archive, REL)])
    assert again.ok and again.published[0].reused, again
    assert again.published[0].relpath == REL


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """``os.fsync`` made to note (st_dev, st_ino) of what it syncs, in order."""
    real = os.fsync
    done: list[tuple[int, int]] = []

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        real(fd)
        done.append((info.st_dev, info.st_ino))

    monkeypatch.setattr(os, "fsync", fsync)
    return done


def key(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def test_atomic_write_syncs_the_new_file_and_then_its_folder(
    tmp_path: Path, fsynced: list[tuple[int, int]]
) -> None:
    """`atomic_write_bytes`: the new file's bytes reach the disk before it takes the name,
    and the folder after (the rename durable); none of its temporaries is left."""
    target = tmp_path / "manifest.json"
    target.write_bytes(b"old")
    durable.atomic_write_bytes(target, [b"new ", b"bytes"])
    assert target.read_bytes() == b"new bytes"
    assert key(target) in fsynced
    assert fsynced.index(key(target)) < len(fsynced) - 1 - fsynced[::-1].index(key(tmp_path))
    assert os.listdir(tmp_path) == ["manifest.json"]


def test_write_new_syncs_the_new_file_and_then_its_folder(
    tmp_path: Path, fsynced: list[tuple[int, int]]
) -> None:
    """`write_new`: as `atomic_write_bytes`, for a name that must not exist yet."""
    durable.write_new(tmp_path, "IMG_0001.dcm", b"DICM")
    target = tmp_path / "IMG_0001.dcm"
    assert target.read_bytes() == b"DICM"
    assert key(target) in fsynced
    assert fsynced.index(key(target)) < len(fsynced) - 1 - fsynced[::-1].index(key(tmp_path))
    assert os.listdir(tmp_path) == ["IMG_0001.dcm"]
    with pytest.raises(FileExistsError):
        durable.write_new(tmp_path, "IMG_0001.dcm", b"other")
    assert target.read_bytes() == b"DICM"
    assert os.listdir(tmp_path) == ["IMG_0001.dcm"]


def test_the_clean_mark_is_durably_gone_before_anything_is_written(
    tmp_path: Path, fsynced: list[tuple[int, int]]
) -> None:
    """`writing_to` removes the clean mark and syncs its folder before the block writes:
    after a power cut mid-run, a mark still there would spare the temporaries the sweep."""
    meta = tmp_path / ".cardingest"
    meta.mkdir()
    (meta / durable.CLEAN_MARK).touch()
    with durable.writing_to(tmp_path):
        assert not (meta / durable.CLEAN_MARK).exists()
        assert key(meta) in fsynced
    assert (meta / durable.CLEAN_MARK).exists()


def test_an_atomic_write_whose_data_fails_keeps_the_old_file_and_no_temporary(
    tmp_path: Path,
) -> None:
    """Chunks that raise midway: the old file stays whole under its name, and the
    half-written temporary is removed with the error."""
    target = tmp_path / "head"
    target.write_bytes(b"old")

    def chunks() -> Any:
        yield b"half"
        raise OSError(errno.EIO, "read failed")

    with pytest.raises(OSError):
        durable.atomic_write_bytes(target, chunks())
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["head"]


@pytest.mark.parametrize("renames", [True, False], ids=["exfat", "fusefat"])
def test_write_new_without_hard_links_never_replaces_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames: bool
) -> None:
    """On a file system without hard links the name is taken by a rename that never
    replaces (exFAT, FAT in the kernel), or where there is none either (fusefat) by an
    exclusive create before the rename: a file already there is kept, FileExistsError, no
    temporary left."""

    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    if not renames:
        monkeypatch.setattr(durable, "_renameat2_call", lambda: None)
    durable.write_new(tmp_path, "IMG_0001.dcm", b"DICM")
    with pytest.raises(FileExistsError):
        durable.write_new(tmp_path, "IMG_0001.dcm", b"other")
    assert (tmp_path / "IMG_0001.dcm").read_bytes() == b"DICM"
    assert os.listdir(tmp_path) == ["IMG_0001.dcm"]


def test_a_copy_found_open_to_others_is_closed_when_taken(tmp_path: Path) -> None:
    """A file with the photo's bytes at its name, made 0644 (copied there by hand), is taken
    as the copy and closed as one made here (0600)."""
    src = tmp_path / "card" / "DCIM" / "100CANON" / "IMG_0001.JPG"
    make_file(src, 70000)
    archive = tmp_path / "archive"
    assert copy_verified(src, [Destination(archive, REL)]).ok
    (archive / REL).chmod(0o644)
    again = copy_verified(src, [Destination(archive, REL)])
    assert again.ok and again.published[0].reused, again
    assert stat.S_IMODE((archive / REL).stat().st_mode) == 0o600


def map_in_a_folder_of_mine(tmp_path: Path) -> tuple[Path, Callable[[], str]]:
    """The demo card's map moved into a folder of mode 0700, and a preview's warnings with
    it, in one line."""
    card, map_file = make_demo_card(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    given = mine / "map.csv"
    shutil.move(map_file, given)
    preview = ("preview", card, "--map", given, "--archive", tmp_path / "archive", "--json")

    def warnings() -> str:
        return " ".join(" ".join(json.loads(cli(*preview).stdout)["warnings"]).split())

    return given, warnings


@pytest.mark.usefixtures("config")
def test_an_id_map_its_group_can_change_is_warned_of(tmp_path: Path) -> None:
    """A map of mode 0620 (its group may write, no one else read): whoever is in that group
    can file photos under other patients, said as for a map every account may change."""
    given, warnings = map_in_a_folder_of_mine(tmp_path)
    given.chmod(0o620)
    said = warnings()
    assert f"the ID map {given} can be changed by its group (mode 0620)" in said, said
    given.chmod(0o600)
    said = warnings()
    assert "ID map" not in said, said


@pytest.mark.usefixtures("config")
def test_an_id_map_in_a_folder_its_group_can_change_is_warned_of(tmp_path: Path) -> None:
    """A map in a folder of mode 0770 (its group may write, no sticky bit): any account of
    that group could rename the map and put its own in its place."""
    given, warnings = map_in_a_folder_of_mine(tmp_path)
    given.chmod(0o600)
    given.parent.chmod(0o770)
    said = warnings()
    assert f"the ID map {given} is in a folder other accounts can change" in said, said
    given.parent.chmod(0o1770)
    said = warnings()
    assert "ID map" not in said, said


def test_a_dead_file_of_another_account_is_never_removed(tmp_path: Path) -> None:
    """`remove_dead_files` in a folder every account writes in (the temp folder): an
    unlocked file of the right name that another account owns is left; ours is removed."""
    require(os.geteuid() == 0, "needs root: a file of another account's")
    theirs, ours = tmp_path / "sheet-1.html.part", tmp_path / "sheet-2.html.part"
    theirs.write_bytes(b"theirs")
    ours.write_bytes(b"ours")
    os.chown(theirs, 65534, 65534)
    removed = durable.remove_dead_files(tmp_path, "sheet-", ".part", owner=os.geteuid())
    assert removed == [ours]
    assert theirs.read_bytes() == b"theirs"


def test_a_sweep_of_one_files_temporaries_leaves_the_others(tmp_path: Path) -> None:
    """`remove_stale_temps_of(head)` runs under the lock of the head's writers only: the
    temporaries of another file in the same folder (a writer that holds no such lock) are
    left, and so are a folder and a link of the head's temporary name (not regular files)."""
    head = tmp_path / "audit-head"
    prefix = durable.TEMP_PREFIX
    mine = tmp_path / f"{prefix}audit-head.1.ab"
    other = tmp_path / f"{prefix}manifest.json.2.cd"
    longer = tmp_path / f"{prefix}audit-head-old.3.ef"
    for path in (mine, other, longer):
        path.write_bytes(b"x")
    (tmp_path / f"{prefix}audit-head.4.gh").mkdir()
    (tmp_path / f"{prefix}audit-head.5.ij").symlink_to(other)
    assert durable.remove_stale_temps_of(head) == [mine]
    assert (tmp_path / f"{prefix}audit-head.5.ij").is_symlink()
    assert other.exists() and longer.exists()
    assert (tmp_path / f"{prefix}audit-head.4.gh").is_dir()


def test_emptied_folders_are_removed_up_to_the_root_never_the_root(tmp_path: Path) -> None:
    """`remove_empty_folders` after a move: the patient's emptied folders go, the root (an
    archive or backup with nothing else in it) and what is above it stay."""
    root = tmp_path / "backup"
    (root / "ZAC5361" / "2024").mkdir(parents=True)
    durable.remove_empty_folders([root / "ZAC5361" / "2024"], [root])
    assert root.is_dir() and os.listdir(root) == []


def test_a_dead_temporary_swapped_for_a_live_one_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`remove_dead_temps_in` takes a dead run's temporary's lock, then unlinks it by name:
    a file put at that name meanwhile (a live writer's) is not the one it locked, and stays."""
    dead = tmp_path / f"{durable.TEMP_PREFIX}0123456789abcdef"
    dead.write_bytes(b"dead")
    real = durable.try_flock

    def then_swapped(fd: int) -> bool | None:
        taken = real(fd)
        live = tmp_path / "live"
        live.write_bytes(b"live")
        os.replace(live, dead)
        return taken

    monkeypatch.setattr(durable, "try_flock", then_swapped)
    assert durable.remove_dead_temps_in([tmp_path]) == []
    assert dead.read_bytes() == b"live"


def test_no_temporary_is_removed_where_there_is_no_flock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without flock (some network shares): a live writer's temporary cannot
    be told from a dead one's, so none is removed."""
    temp = tmp_path / f"{durable.TEMP_PREFIX}0123456789abcdef"
    temp.write_bytes(b"maybe live")
    monkeypatch.setattr(durable, "try_flock", lambda fd: None)
    assert durable.remove_dead_temps_in([tmp_path]) == []
    assert temp.exists()


def test_write_new_without_hard_links_leaves_no_empty_file_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without hard links `write_new` takes the name with an empty file, then renames the
    written temporary onto it. A rename that fails (an I/O error on a USB drive) left that
    empty file under the final name: the next export took it for a file already there."""

    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    def fails(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(durable, "_renameat2_call", lambda: None)  # nor renameat2 (fusefat)
    monkeypatch.setattr(os, "replace", fails)
    with pytest.raises(OSError):
        durable.write_new(tmp_path, "IMG_0001.dcm", b"DICM")
    assert os.listdir(tmp_path) == []


@pytest.mark.usefixtures("config")
def test_an_empty_folder_made_by_hand_that_its_group_can_read_is_closed(tmp_path: Path) -> None:
    """A new archive's folder made by hand with mode 0750 (its group may list it), with no
    archive_group set: the ingest closes it as cardingest makes its own (0700), as it does
    one every account may read."""
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    archive.mkdir()
    archive.chmod(0o750)
    assert cli("ingest", card, "--map", map_file, "--archive", archive).exit_code == 3
    assert stat.S_IMODE(archive.stat().st_mode) == 0o700


def test_a_temporary_a_sweep_took_before_its_lock_is_given_up(tmp_path: Path) -> None:
    """`locked_new`: a file removed between its creation and its lock (a sweep of dead
    temporaries took it) is given up for another name, never written unseen."""
    made: list[Path] = []

    def create() -> tuple[Path, int]:
        path = tmp_path / f"{durable.TEMP_PREFIX}{len(made)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        made.append(path)
        if len(made) == 1:
            os.unlink(path)  # swept
        return path, fd

    path, fd = durable.locked_new(create)
    os.close(fd)
    assert path == made[1] and path.exists()


def test_a_device_another_account_owns_is_changeable_by_it(tmp_path: Path) -> None:
    """A map given as a character device (a terminal, /dev/stdin) is trusted only when it
    is root's (/dev/null): another account's (its terminal) is that account's to write."""
    require(os.geteuid() == 0, "needs root: mknod, and a device of another account's")
    device = tmp_path / "tty"
    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    assert modes.changeable_by_others(device) is None
    os.chown(device, 65534, 65534)
    assert modes.changeable_by_others(device) == "belongs to the account nobody"


# The mutmut round on storage/modes (2026-12-05, late night).


@pytest.fixture
def no_group() -> Iterator[None]:
    """No archive_group before and after the test, whatever it sets (`share_with_group`)."""
    modes.share_with_group(None)
    try:
        yield
    finally:
        modes.share_with_group(None)


@contextlib.contextmanager
def read_only_tmpfs(folder: Path, mode: int = 0o755) -> Iterator[Path]:
    """A tmpfs of its own on ``folder`` (root only), given ``mode``; `remount_read_only`
    then makes it a disk where even root's chmod is refused (EROFS), unlike a file system
    that keeps no modes (EPERM, which is let pass)."""
    require(os.geteuid() == 0, "needs root: mounts a tmpfs")
    folder.mkdir(exist_ok=True)
    with tmpfs_on(folder, 1) as mount:
        mount.chmod(mode)
        yield mount


def remount_read_only(mount: Path) -> None:
    done = subprocess.run(
        ["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True, check=False
    )
    require(done.returncode == 0, f"cannot remount a tmpfs read-only: {done.stderr.strip()}")


def unnamed_gid() -> int:
    """A group ID with no name on this machine."""
    import grp

    gid = 4_000_000
    while True:
        try:
            grp.getgrgid(gid)
        except KeyError:
            return gid
        gid += 1


def test_an_out_folder_on_a_read_only_disk_is_refused_as_one_not_written_in(
    tmp_path: Path,
) -> None:
    """`refuse_others_folder` on an ``--out`` in a folder of root's own on a read-only disk
    (a write-protected USB stick): access(2) says no even to root, and so does the probe
    folder, made in that folder itself and nowhere else. The command stops before it
    writes anything, with the folder named, not at its first file."""
    with read_only_tmpfs(tmp_path / "stick") as stick:
        remount_read_only(stick)
        out = stick / "export"
        with pytest.raises(UsageError) as refused:
            modes.refuse_others_folder(out, "--out")
    assert str(refused.value) == (
        f"--out {out} (in {stick}): the account root cannot write in {stick} (mode 0755, or "
        "its disk is read-only): give a folder this account can write in"
    )


def test_a_folder_access_says_no_to_but_that_takes_a_folder_is_written_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where access(2) does not know a file system's ACLs (AFS) it may say no to a folder
    this account can write in: the probe folder made and removed there decides, and
    leaves nothing behind. (access(2) is the only thing made to lie here: no AFS to
    mount.)"""
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    modes.refuse_others_folder(out, "--out")
    modes.refuse_others_folder(out / "new", "--out")
    assert os.listdir(out) == []


def test_a_file_or_folder_on_a_read_only_disk_that_cannot_be_closed_is_an_error(
    tmp_path: Path,
) -> None:
    """`make_private` and `close_open_file` on a file open to others on a read-only disk:
    the chmod's EROFS is raised, never taken as a file system without modes (whose EPERM
    passes): the caller then says the file stays open, not that it was closed."""
    with read_only_tmpfs(tmp_path / "disk") as disk:
        photo = disk / "IMG_0001.jpg"
        photo.write_bytes(b"photo")
        photo.chmod(0o644)
        remount_read_only(disk)
        with pytest.raises(OSError) as made:
            modes.make_private(photo)
        assert made.value.errno == errno.EROFS
        fd = os.open(photo, os.O_RDONLY)
        try:
            with pytest.raises(OSError) as closed:
                modes.close_open_file(fd)
        finally:
            os.close(fd)
        assert closed.value.errno == errno.EROFS
        assert stat.S_IMODE(photo.stat().st_mode) == 0o644


@pytest.mark.usefixtures("no_group")
def test_a_folder_that_cannot_be_closed_is_said_open_with_why(tmp_path: Path) -> None:
    """`close_folder` on an empty archive folder of mode 0755 on a read-only disk: the
    warning names who can see into it, its mode before and the system's reason."""
    with read_only_tmpfs(tmp_path / "archive") as archive:
        remount_read_only(archive)
        before = modes.empty_and_open(archive)
        assert before is not None and stat.S_IMODE(before) == 0o755
        said = modes.close_folder(archive, "The archive folder", before)
    group = modes.group_name(os.getegid())
    assert said == (
        f"The archive folder {archive} is open to other accounts and group {group} while no "
        "archive_group is set (mode drwxr-xr-x) and could not be made private: Read-only "
        "file system. Others can list the patients' folders filed in it"
    )


@pytest.mark.usefixtures("no_group")
def test_a_patient_folder_of_an_earlier_export_found_open_is_closed_and_said_so(
    tmp_path: Path,
) -> None:
    """`make_private_subfolder` on a patient's folder an earlier export left with mode 0755
    and a file in it: it is closed to 0700 (its files are this command's own), and the
    warning names it, its mode before and after."""
    folder = tmp_path / "out" / "ZAA0067"
    folder.mkdir(parents=True)
    (folder / "IMG_0001.dcm").write_bytes(b"DICM")
    folder.chmod(0o755)
    said = modes.make_private_subfolder(folder, "The patient's folder")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    group = modes.group_name(folder.stat().st_gid)
    assert said == (
        f"The patient's folder {folder} was open to other accounts and group {group} while "
        "no archive_group is set (mode drwxr-xr-x): made it private (drwx------) before "
        "writing into it, as cardingest makes its own folders; the names in it carry "
        "patients' IDs"
    )
    assert modes.make_private_subfolder(folder, "The patient's folder") is None


def test_an_out_folder_every_account_writes_in_that_holds_files_is_refused_whole(
    tmp_path: Path,
) -> None:
    """`make_private_folder` on an ``--out`` of mode 0777 (no sticky bit) that already holds
    a file: the user's folder, so its mode is left, and the command is refused with why
    and what to give instead."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's\n")
    out.chmod(0o777)
    with pytest.raises(UsageError) as refused:
        modes.make_private_folder(out, "--out")
    assert str(refused.value) == (
        f"--out {out} is a folder every account may write in without the sticky bit /tmp "
        "has (mode drwxrwxrwx): another account could rename what is written there, see its "
        "name (patients' IDs) and put its own in its place. Give a folder only you can "
        "change (or have its owner run chmod +t on it; a USB drive or a network share whose "
        "mount options open it to every account: mount it for yours alone, uid= and "
        "umask=077)"
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o777


def test_a_file_that_cannot_be_created_is_said_so_with_the_systems_reason(
    tmp_path: Path,
) -> None:
    """`cannot_create`: a folder that does not exist is named as missing; a "folder" that
    is a file is not said to be missing, but given the system's own words."""
    missing = tmp_path / "gone" / "map.csv"
    not_a_folder = tmp_path / "notes.txt" / "map.csv"
    (tmp_path / "notes.txt").write_text("a file\n")
    errors: list[OSError] = []
    for path in (missing, not_a_folder):
        with pytest.raises(OSError) as failed:
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        errors.append(failed.value)
    assert str(modes.cannot_create(missing, "--template", errors[0])) == (
        f"--template {missing}: the folder {missing.parent} does not exist; create it first "
        "or give a file in a folder that does"
    )
    assert str(modes.cannot_create(not_a_folder, "--template", errors[1])) == (
        f"--template {not_a_folder}: cannot create it: Not a directory"
    )


def test_the_archive_groups_read_access_is_kept_when_closing(
    tmp_path: Path, no_group: None
) -> None:
    """With archive_group set, `make_private` and `close_open_file` leave that group's read
    and enter bits on a folder and a file of that group (0750, 0640): only what goes
    beyond (others' bits) is taken."""
    gid = os.getegid()
    folder, photo = tmp_path / "ZAA0067", tmp_path / "ZAA0067" / "IMG_0001.jpg"
    folder.mkdir()
    photo.write_bytes(b"photo")
    os.chown(folder, -1, gid)
    os.chown(photo, -1, gid)
    modes.share_with_group(gid)
    folder.chmod(0o750)
    photo.chmod(0o640)
    assert modes.make_private(folder) is None
    fd = os.open(photo, os.O_RDONLY)
    try:
        modes.close_open_file(fd)
    finally:
        os.close(fd)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert stat.S_IMODE(photo.stat().st_mode) == 0o640
    folder.chmod(0o755)
    assert modes.make_private(folder) == (stat.S_IFDIR | 0o755, stat.S_IFDIR | 0o750)


def test_exposure_says_who_can_get_in_for_each_kind_of_access(no_group: None) -> None:
    """`exposure`'s words for each mix of bits, with and without an archive_group and an
    access control list: who can read, who can write, and why the group is not let in."""
    gid = os.getegid()
    name = modes.group_name(gid)
    files, folders = stat.S_IFREG, stat.S_IFDIR
    while_none = " while no archive_group is set"
    assert modes.exposure(files | 0o604, gid) == "open to other accounts"
    assert modes.exposure(files | 0o640, gid) == f"open to group {name}{while_none}"
    assert modes.exposure(files | 0o660, gid) == (
        f"open to group {name}{while_none}, and writable by that group"
    )
    acl = modes.ACL_NAMES
    assert modes.exposure(files | 0o604, gid, acl=True) == "open to other accounts"
    assert modes.exposure(folders | 0o750, gid, acl=True) == f"open to {acl}"
    assert modes.exposure(folders | 0o775, gid, acl=True) == (
        f"open to other accounts and {acl}, and writable by them"
    )
    modes.share_with_group(gid)
    assert modes.exposure(files | 0o620, gid) == f"writable by group {name}"
    other = another_group()
    assert modes.exposure(files | 0o640, other) == (
        f"open to group {modes.group_name(other)}, which is not the archive_group {name}"
    )


def test_an_unnamed_group_is_given_by_number_and_is_no_catch_all() -> None:
    """A group ID with no name here: `group_name` gives its number, `holds_everyone` does
    not guess it holds every account."""
    gid = unnamed_gid()
    assert modes.group_name(gid) == str(gid)
    assert not modes.holds_everyone(gid)


def test_staff_holds_every_account_only_on_macos() -> None:
    """Debian's ``staff`` (gid 50: who may write in /usr/local) is not every account's
    group, as macOS's is: an archive_group of staff there is the clinic's choice."""
    import grp

    require(sys.platform != "darwin", "on macOS staff is every account's group")
    try:
        staff = grp.getgrnam("staff").gr_gid
    except KeyError:
        staff = None
    require(staff is not None, "needs a group named staff")
    assert staff is not None
    assert not modes.holds_everyone(staff)


def test_an_access_control_list_is_looked_for_on_a_link_itself(tmp_path: Path) -> None:
    """`has_acl` on a symbolic link answers for the link, not for where it leads: `verify`
    walks without following links, and names a folder with its ACL at its own path."""
    require(shutil.which("setfacl") is not None, "needs setfacl (Debian package acl)")
    folder, link = tmp_path / "ZAA0067", tmp_path / "link"
    folder.mkdir(mode=0o700)
    link.symlink_to(folder)
    subprocess.run(["setfacl", "-m", "u:nobody:rx", folder], check=True)
    assert modes.has_acl(folder)
    assert not modes.has_acl(link)


def test_roots_files_for_another_account_count_that_account_not_its_group(
    tmp_path: Path,
) -> None:
    """Root on an archive made by an account whose group ID differs from its user ID
    (`keep_owner`): `own_uids` is root and that account's user ID; `ours_alone` takes a
    file of ours in a folder of theirs, and never one of theirs in a folder of root's
    merely because its owner is not this run's."""
    require(os.geteuid() == 0, "needs root: files of another account's")
    archive = nobodys_archive(tmp_path)
    gid = another_group()
    require(gid != 65534, "needs a group other than nobody's")
    for made in (archive / ".cardingest" / "archive-id", archive / ".cardingest", archive):
        os.chown(made, 65534, gid)
    ours, theirs = tmp_path / "ours.jpg", tmp_path / "theirs.jpg"
    ours.write_bytes(b"photo")
    theirs.write_bytes(b"photo")
    os.chown(theirs, 12345, 12345)
    assert modes.ours_alone(os.stat(ours), folder_uid=65534)
    assert not modes.ours_alone(os.stat(theirs), folder_uid=0)
    modes.keep_owner(archive)
    try:
        assert modes.own_uids() == {0, 65534}
    finally:
        modes.keep_owner(tmp_path / "not-there")
    assert modes.own_uids() == {0}


def test_an_out_that_is_a_read_only_disk_itself_is_said_as_it(tmp_path: Path) -> None:
    """The ``--out`` given is the read-only disk's folder itself: the message says "cannot
    write in it", not the folder named twice."""
    with read_only_tmpfs(tmp_path / "stick") as stick:
        remount_read_only(stick)
        with pytest.raises(UsageError) as refused:
            modes.refuse_others_folder(stick, "--out")
    assert str(refused.value) == (
        f"--out {stick}: the account root cannot write in it (mode 0755, or its disk is "
        "read-only): give a folder this account can write in"
    )


def test_an_out_below_a_folder_every_account_may_change_is_refused_by_its_option(
    tmp_path: Path,
) -> None:
    """An ``--out`` below a folder of mode 0777 (no sticky bit): the refusal names the
    option given, the path and that folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    out = shared / "export"
    with pytest.raises(UsageError) as refused:
        modes.refuse_others_folder(out, "--out")
    assert str(refused.value).startswith(
        f"--out {out} is in {shared}, a folder every account may write in without the sticky "
        "bit /tmp has (mode drwxrwxrwx)"
    ), refused.value


def test_an_out_of_another_accounts_is_refused_with_why(tmp_path: Path) -> None:
    """An ``--out`` that is the account nobody's folder, for root: refused with the whole
    reason, whatever mode it has."""
    require(os.geteuid() == 0, "needs root: a folder of another account's")
    out = tmp_path / "theirs"
    out.mkdir(mode=0o700)
    os.chown(out, 65534, 65534)
    with pytest.raises(UsageError) as refused:
        modes.refuse_others_folder(out, "--out")
    assert str(refused.value) == (
        f"--out {out} belongs to the account nobody, who could read the names written there "
        "(patients' IDs) and change or remove the files, whatever their mode: give a folder "
        "of your own"
    )


def test_a_sticky_out_is_refused_only_when_every_account_may_write_in_it(
    tmp_path: Path,
) -> None:
    """An ``--out`` of ours with the sticky bit: refused when every account may write in it
    (1777, as /tmp), with what to give instead; taken when others may only enter (1711),
    as the sticky bit alone opens nothing."""
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o1711)
    modes.refuse_others_folder(out, "--out")
    out.chmod(0o1777)
    with pytest.raises(UsageError) as refused:
        modes.refuse_others_folder(out, "--out")
    assert str(refused.value) == (
        f"--out {out} is a folder every account writes in (as /tmp is), whose mode is not "
        "this command's to change: give a folder of your own (a new one in it will do)"
    )


def test_an_unnamed_group_has_no_other_members() -> None:
    """`other_members` of a group ID with no name here: none, not an error."""
    assert modes.other_members(unnamed_gid(), os.geteuid()) == []


@pytest.mark.usefixtures("no_group")
def test_files_and_folders_made_are_given_the_archive_group(tmp_path: Path) -> None:
    """With an archive_group that is not this account's own group, `create`, `mkdir` and
    `make_dirs_beneath` give it what they make (with no owner to keep): else the clinic's
    group could not read what it was meant to."""
    gid = another_group()
    require(gid != os.getegid(), "needs a group other than this account's own")
    modes.share_with_group(gid)
    fd = modes.create(tmp_path / "IMG_0001.jpg", os.O_WRONLY)
    os.close(fd)
    modes.mkdir(tmp_path / "ZAC5361")
    made = modes.make_dirs_beneath(tmp_path, ["ZAA0067", "2024"])
    for path in (tmp_path / "IMG_0001.jpg", tmp_path / "ZAC5361", *made):
        status = path.stat()
        assert status.st_gid == gid, path
        assert stat.S_IMODE(status.st_mode) in (0o640, 0o2750), path


def test_root_gives_new_folders_the_owners_user_and_group_apart(tmp_path: Path) -> None:
    """Root on an archive of an account whose user and group IDs differ (`keep_owner`): a
    folder it makes there is that account's user's and that account's group's, each in
    its place."""
    require(os.geteuid() == 0, "needs root: only root gives a folder to another account")
    archive = nobodys_archive(tmp_path)
    gid = another_group()
    require(gid != 65534, "needs a group other than nobody's")
    for made in (archive / ".cardingest" / "archive-id", archive / ".cardingest", archive):
        os.chown(made, 65534, gid)
    modes.keep_owner(archive)
    try:
        modes.mkdir(archive / "ZAC5361")
    finally:
        modes.keep_owner(tmp_path / "not-there")
    status = (archive / "ZAC5361").stat()
    assert (status.st_uid, status.st_gid) == (65534, gid)


def test_a_new_folder_is_never_open_even_before_its_mode_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_group: None
) -> None:
    """Under umask 0, each folder `mkdir` and `make_dirs_beneath` make is made 0700 by the
    mkdir itself, before its mode is set on the open folder: never for an instant one
    another account could open (a folder opened then can be listed after its chmod)."""
    seen: dict[str, int] = {}
    finish = modes._finish_folder

    def looked_at(name: Path | str, dir_fd: int | None = None) -> None:
        seen[str(name)] = stat.S_IMODE(os.stat(name, dir_fd=dir_fd).st_mode)
        finish(name, dir_fd)

    monkeypatch.setattr(modes, "_finish_folder", looked_at)
    previous = os.umask(0)
    try:
        modes.mkdir(tmp_path / "ZAC5361")
        modes.make_dirs_beneath(tmp_path, ["ZAA0067", "2024"])
    finally:
        os.umask(previous)
    assert seen == {str(tmp_path / "ZAC5361"): 0o700, "ZAA0067": 0o700, "2024": 0o700}


def test_a_new_folder_swapped_for_a_file_of_roots_never_gives_that_file_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root on an archive another account owns: a new folder swapped for a hard link to a
    file of root's between its making and its chown (no symbolic link, which O_NOFOLLOW
    refuses) is refused by O_DIRECTORY; the file keeps its owner and mode."""
    require(os.geteuid() == 0, "needs root: only root gives a folder to another account")
    archive, victim = nobodys_archive(tmp_path), tmp_path / "secret"
    victim.write_text("root's secret\n")
    victim.chmod(0o600)
    real_mkdir = os.mkdir

    def swapped(path: Any, mode: int = 0o777, **kwargs: Any) -> None:
        real_mkdir(path, mode, **kwargs)
        os.rmdir(path)
        os.link(victim, path)

    modes.keep_owner(archive)
    try:
        monkeypatch.setattr(os, "mkdir", swapped)
        with pytest.raises(NotADirectoryError):
            modes.mkdir(archive / "JBX3656")
    finally:
        monkeypatch.undo()
        modes.keep_owner(tmp_path / "not-there")
    status = victim.stat()
    assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (0, 0, 0o600)


def test_folders_below_the_archive_are_made_there_whatever_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make_dirs_beneath` looks for the folders below the archive given, not below the
    current folder: the same names there do not keep them from being made."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ZAA0067" / "2024").mkdir(parents=True)
    archive = tmp_path / "archive"
    made = modes.make_dirs_beneath(archive, ["ZAA0067", "2024"])
    assert made == [archive, archive / "ZAA0067", archive / "ZAA0067" / "2024"]
    assert (archive / "ZAA0067" / "2024").is_dir()


def test_a_file_where_a_folder_is_to_be_made_is_an_error(tmp_path: Path) -> None:
    """`make_dirs` of a path that is a file: FileExistsError, never taken as made."""
    (tmp_path / "ZAA0067").write_text("not a folder\n")
    with pytest.raises(FileExistsError):
        modes.make_dirs(tmp_path / "ZAA0067")


def test_a_folder_made_meanwhile_by_another_run_is_gone_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make_dirs` where another run makes the outer folder first: that one is gone through
    and the folders inside it still made (and only those this run made are returned)."""
    mkdir = modes.mkdir
    outer = tmp_path / "ZAA0067"

    def raced(path: Path) -> None:
        if path == outer:
            os.mkdir(outer, 0o700)
        mkdir(path)

    monkeypatch.setattr(modes, "mkdir", raced)
    made = modes.make_dirs(outer / "2024" / "03")
    assert made == [outer / "2024", outer / "2024" / "03"]
    assert (outer / "2024" / "03").is_dir()


def test_a_refused_make_dirs_raises_its_own_error_when_a_folder_cannot_be_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make_dirs` with a name too long at its end removes the folders it made, except one
    another process has put a file in meanwhile; the error raised is the name's."""
    mkdir = modes.mkdir
    outer = tmp_path / "ZAA0067"

    def filled(path: Path) -> None:
        mkdir(path)
        if path == outer:
            (outer / "theirs.txt").write_text("another run's\n")

    monkeypatch.setattr(modes, "mkdir", filled)
    with pytest.raises(OSError) as refused:
        modes.make_dirs(outer / "2024" / ("x" * 300))
    assert refused.value.errno == errno.ENAMETOOLONG
    assert os.listdir(outer) == ["theirs.txt"]


def test_other_members_of_a_group_besides_an_unnamed_account() -> None:
    """`other_members` besides a user ID with no name here: the group's members all."""
    import grp

    gid = os.getegid()
    members = modes.other_members(gid, unnamed_gid())
    assert set(grp.getgrgid(gid).gr_mem) <= set(members)


def test_what_may_change_a_file_is_said_by_its_mode_and_folder(tmp_path: Path) -> None:
    """`changeable_by_others`: root's /dev/null is nothing to change; others' execute bit is
    no write; group and every account's write said apart; a folder of a trusted account's
    is trusted; `swappable_in`'s words for a folder its group writes in."""
    assert modes.changeable_by_others(Path("/dev/null")) is None
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    given = mine / "map.csv"
    given.write_text("ZAA0067\n")
    given.chmod(0o601)
    assert modes.changeable_by_others(given) is None
    given.chmod(0o621)
    assert modes.changeable_by_others(given) == "can be changed by its group (mode 0621)"
    given.chmod(0o602)
    assert modes.changeable_by_others(given) == "can be changed by every account (mode 0602)"
    mine.chmod(0o770)
    assert modes.swappable_in(os.stat(mine)) == (
        "may be written by other accounts without the sticky bit (mode drwxrwx---)"
    )


def test_a_file_in_a_trusted_accounts_folder_is_not_said_changeable(tmp_path: Path) -> None:
    """A map of root's in a folder the account nobody owns: changeable by nobody when that
    account is not trusted, not when it is (`trusted` reaches the folder's check too)."""
    require(os.geteuid() == 0, "needs root: a folder of another account's")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    given = theirs / "map.csv"
    given.write_text("ZAA0067\n")
    given.chmod(0o600)
    os.chown(theirs, 65534, 65534)
    assert modes.changeable_by_others(given) is not None
    assert modes.changeable_by_others(given, trusted=[65534]) is None


def test_keep_owner_is_for_root_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An account other than root on an archive another account made: `keep_owner` gives
    nothing away (it could not), and what it makes is its own, as before. (The account is
    played by os.geteuid: the tests run as root.)"""
    archive = nobodys_archive(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    modes.keep_owner(archive)
    try:
        assert modes.own_uids() == {1000}
        fd = modes.create(tmp_path / "IMG_0001.jpg", os.O_WRONLY)
        os.close(fd)
    finally:
        monkeypatch.undo()
        modes.keep_owner(tmp_path / "not-there")


def test_root_keeps_an_owner_by_its_user_not_its_group(tmp_path: Path) -> None:
    """`keep_owner` on an archive of the account nobody's whose group is root's (0): kept,
    as the user is not root; on an archive of root's with another group: nothing is kept,
    and a folder made there is root's, in root's group (never the archive's group)."""
    require(os.geteuid() == 0, "needs root: only root gives a folder to another account")
    archive = nobodys_archive(tmp_path)
    for made in (archive / ".cardingest" / "archive-id", archive / ".cardingest", archive):
        os.chown(made, 65534, 0)
    modes.keep_owner(archive)
    try:
        assert modes.own_uids() == {0, 65534}
        gid = another_group()
        for made in (archive / ".cardingest" / "archive-id", archive / ".cardingest", archive):
            os.chown(made, 0, gid)
        modes.keep_owner(archive)
        assert modes.own_uids() == {0}
        modes.mkdir(archive / "ZAC5361")
    finally:
        modes.keep_owner(tmp_path / "not-there")
    status = (archive / "ZAC5361").stat()
    assert (status.st_uid, status.st_gid) == (0, os.getegid())


def test_an_archives_account_is_known_only_by_a_record_it_made(tmp_path: Path) -> None:
    """`archive_account`: an empty record, or one of another account's in the folder, is no
    sign of whose archive it is."""
    require(os.geteuid() == 0, "needs root: files of another account's")
    archive = nobodys_archive(tmp_path)
    record = archive / ".cardingest" / "archive-id"
    assert modes.archive_account(archive) == (65534, 65534)
    os.chown(record, 0, 0)
    assert modes.archive_account(archive) is None
    record.write_bytes(b"")
    os.chown(record, 65534, 65534)
    assert modes.archive_account(archive) is None


@pytest.mark.usefixtures("no_group")
def test_what_is_made_with_an_archive_group_stays_this_accounts(tmp_path: Path) -> None:
    """With an archive_group and no owner to keep, a file made is this account's: only its
    group is given."""
    gid = another_group()
    modes.share_with_group(gid)
    fd = modes.create(tmp_path / "IMG_0001.jpg", os.O_WRONLY)
    os.close(fd)
    status = (tmp_path / "IMG_0001.jpg").stat()
    assert (status.st_uid, status.st_gid) == (os.geteuid(), gid)


def test_a_new_file_is_never_open_even_before_its_mode_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_group: None
) -> None:
    """Under umask 0, a file `create` makes is 0600 from its open on, before its mode is
    set on it: never for an instant one another account could open."""
    seen: list[int] = []
    created = modes.created_file

    def looked_at(fd: int, path: Path | str) -> None:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        created(fd, path)

    monkeypatch.setattr(modes, "created_file", looked_at)
    previous = os.umask(0)
    try:
        os.close(modes.create(tmp_path / "IMG_0001.jpg", os.O_WRONLY))
    finally:
        os.umask(previous)
    assert seen == [0o600]


def test_a_file_made_beneath_a_folder_whose_mode_cannot_be_set_is_removed_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`create` relative to a folder's descriptor (`open_beneath`): a file whose mode could
    not be set is removed from that folder, not looked for in the current one."""
    folder = tmp_path / "ZAA0067"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)

    def fails(fd: int, mode: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    fd = modes.open_beneath(tmp_path, ["ZAA0067"])
    try:
        monkeypatch.setattr(os, "fchmod", fails)
        with pytest.raises(OSError):
            modes.create("IMG_0001.tmp", os.O_WRONLY, dir_fd=fd)
    finally:
        os.close(fd)
    assert os.listdir(folder) == []


def test_a_path_through_a_loop_of_links_is_no_error_for_open_to_swaps(tmp_path: Path) -> None:
    """`open_to_swaps` of a path through a loop of links: looked at as given (the loop is
    refused where it is opened), not an error."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert modes.open_to_swaps(tmp_path / "a" / "out") is None


def test_an_empty_folder_found_open_is_closable_unless_its_mode_is_the_archive_groups(
    tmp_path: Path, no_group: None
) -> None:
    """`empty_and_open`: a new disk's root holding only lost+found and open to others is
    still empty; a folder of the archive_group's own with 0750 is as cardingest makes it,
    nothing to close."""
    disk = tmp_path / "disk"
    (disk / "lost+found").mkdir(parents=True)
    disk.chmod(0o755)
    assert modes.empty_and_open(disk) == stat.S_IFDIR | 0o755
    gid = os.getegid()
    modes.share_with_group(gid)
    disk.chmod(0o750)
    assert modes.empty_and_open(disk) is None


def test_a_link_another_account_made_on_the_way_is_refused_with_why(tmp_path: Path) -> None:
    """`refuse_others_links`: a symbolic link the account nobody made, on the way to an
    ``--out``: refused, word for word."""
    require(os.geteuid() == 0, "needs root: a link of another account's")
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    out = link / "export"
    with pytest.raises(UsageError) as refused:
        modes.refuse_others_links(out, "--out", {0})
    assert str(refused.value) == (
        f"--out {out} leads through {link}, a symbolic link the account nobody made: it "
        "decides where the files go. Give a folder of your own"
    )


def test_an_account_other_than_root_trusts_roots_links_and_folders_and_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For an account other than root (the usual case: the tests run as root, so the
    account nobody is played by os.geteuid), root's links and folders and the account's
    own files are trusted: an ``--out`` through root's link, in root's folder or new in a
    colleague's; a map of its own or root's; its own empty folder reached by root's link
    is one to close."""
    require(os.geteuid() == 0, "needs root: files of other accounts'")
    me = 65534
    target, link = tmp_path / "target", tmp_path / "link"
    target.mkdir(mode=0o755)
    link.symlink_to(target)
    roots_map = target / "map.csv"
    roots_map.write_text("ZAA0067\n")
    roots_map.chmod(0o600)
    colleague = tmp_path / "colleague"
    colleague.mkdir(mode=0o755)
    os.chown(colleague, 12345, 12345)
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    my_map = mine / "map.csv"
    my_map.write_text("ZAA0067\n")
    my_map.chmod(0o600)
    new, new_link = tmp_path / "new", tmp_path / "new-link"
    new.mkdir()
    new.chmod(0o755)
    new_link.symlink_to(new)
    for path in (mine, my_map, new):
        os.chown(path, me, me)
    monkeypatch.setattr(os, "geteuid", lambda: me)
    modes.refuse_others_folder(link / "export", "--out")
    modes.refuse_others_folder(target, "--out")
    modes.refuse_others_folder(colleague / "export", "--out")
    assert modes.changeable_by_others(my_map) is None
    assert modes.changeable_by_others(roots_map) is None
    assert modes.empty_and_open(new_link) == stat.S_IFDIR | 0o755


def test_an_account_other_than_root_is_told_whose_folder_it_cannot_write_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account nobody (played by os.geteuid) given an ``--out`` in root's folder on a
    read-only disk: the refusal names root as that folder's owner."""
    with read_only_tmpfs(tmp_path / "stick") as stick:
        remount_read_only(stick)
        out = stick / "export"
        monkeypatch.setattr(os, "geteuid", lambda: 65534)
        with pytest.raises(UsageError) as refused:
            modes.refuse_others_folder(out, "--out")
        monkeypatch.undo()
    assert str(refused.value) == (
        f"--out {out} (in {stick}): the account nobody cannot write in {stick} (it belongs "
        "to the account root, mode 0755, or its disk is read-only): give a folder this "
        "account can write in"
    )
