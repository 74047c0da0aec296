"""Tests written in the mutmut round on storage/durable.py (docs/testing.md, "A mutation
round on storage/durable"): each kills a mutant the rest of the suite let live. Real files
and folders in tmp_path; a fault the disk cannot be made to give (a short write, an fsync
error, a file system without flock) is put in by patching the one call that gives it."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cardimage import require, require_binaries
from otheraccount import NOBODY, as_nobody, reachable_folder
from test_modes_mutants import fsynced, key  # noqa: F401 (fsynced: a fixture)

from cardingest.storage import durable
from cardingest.storage.durable import FolderSyncs

TEMP = durable.TEMP_PREFIX


def _short(real: Any, most: int) -> Any:
    """``real`` (os.write or os.pwrite) that writes at most ``most`` bytes a call, as a
    write interrupted by a signal or a network file system may."""

    def short(fd: int, data: Any, *rest: Any) -> int:
        return int(real(fd, memoryview(data)[:most], *rest))

    return short


def test_short_writes_are_carried_on_until_every_byte_is_where_it_belongs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`write_all` and `pwrite_all` given 7 bytes a call: each goes on from where the last
    write stopped, at the right offset, so the file holds the data whole and in order (a
    photo copy written at a wrong offset would be a corrupt copy)."""
    data = bytes(range(256)) * 4
    monkeypatch.setattr(os, "write", _short(os.write, 7))
    monkeypatch.setattr(os, "pwrite", _short(os.pwrite, 7))
    path = tmp_path / "copy"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        durable.write_all(fd, b"head")
        durable.pwrite_all(fd, memoryview(data), 4)
        durable.pwrite_all(fd, memoryview(b"tail"), 4 + len(data))
    finally:
        os.close(fd)
    assert path.read_bytes() == b"head" + data + b"tail"


@pytest.mark.parametrize("positioned", [False, True], ids=["write_all", "pwrite_all"])
def test_a_write_that_makes_no_progress_is_an_io_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, positioned: bool
) -> None:
    """A write that returns 0 (a full or failing device that reports no error) is raised
    as EIO "write made no progress" at once, not tried forever: the copy fails with a
    reason the user can read."""
    calls: list[int] = []

    def nothing(*args: Any) -> int:
        calls.append(1)
        if len(calls) > 3:
            raise AssertionError("a write that made no progress was tried again")
        return 0

    monkeypatch.setattr(os, "pwrite" if positioned else "write", nothing)
    fd = os.open(tmp_path / "copy", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as raised:
            if positioned:
                durable.pwrite_all(fd, memoryview(b"photo"), 0)
            else:
                durable.write_all(fd, b"photo")
    finally:
        os.close(fd)
    assert (raised.value.errno, raised.value.strerror) == (errno.EIO, "write made no progress")
    assert calls == [1]


def test_a_folder_gone_or_turned_into_a_file_is_never_counted_as_synced(tmp_path: Path) -> None:
    """`FolderSyncs.sync` of a folder that cannot be opened as one (removed, or a file put
    in its place) raises, and the folder stays pending: nothing may be recorded about
    photos whose names were never made durable. The next sync, once it is back, succeeds."""
    gone, file = tmp_path / "ZAC5361", tmp_path / "ZAA0067"
    file.write_bytes(b"not a folder")
    for folder, error in ((gone, FileNotFoundError), (file, NotADirectoryError)):
        folders = FolderSyncs()
        folders.add(folder)
        with pytest.raises(error):
            durable.fsync_dir(folder)
        with pytest.raises(error) as raised:
            folders.sync()
        assert raised.value.filename == str(folder)
        if folder == file:
            file.unlink()
        folder.mkdir()
        folders.sync()
        assert folders._pending == set()


@pytest.fixture
def folder_fsync_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """``os.fsync`` of a folder raises the errno put in the list (files sync as ever)."""
    real = os.fsync
    raised: list[int] = []

    def fsync(fd: int) -> None:
        if raised and os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(raised[0], os.strerror(raised[0]))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    yield raised


def test_an_io_error_syncing_a_folder_is_raised_naming_it(
    tmp_path: Path, folder_fsync_fails: list[int]
) -> None:
    """A folder whose fsync fails with EIO: the error is raised with its errno and the
    folder's name (not swallowed as a file system without folder sync), and the folder is
    kept for the next sync."""
    folder_fsync_fails.append(errno.EIO)
    folders = FolderSyncs()
    folders.add(tmp_path)
    with pytest.raises(OSError) as raised:
        folders.sync()
    assert (raised.value.errno, raised.value.filename) == (errno.EIO, str(tmp_path))
    assert folders._pending == {tmp_path}
    folder_fsync_fails.clear()
    folders.sync()
    assert folders._pending == set()


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP, errno.EBADF])
def test_a_file_system_that_cannot_sync_folders_is_no_error(
    tmp_path: Path, folder_fsync_fails: list[int], code: int
) -> None:
    """Where a folder cannot be fsynced at all (some network and FUSE file systems say
    EINVAL or ENOTSUP), `fsync_dir` returns: there is nothing more durable to be had."""
    folder_fsync_fails.append(code)
    durable.fsync_dir(tmp_path)
    durable.write_new(tmp_path, "IMG_0001.dcm", b"DICM")
    assert (tmp_path / "IMG_0001.dcm").read_bytes() == b"DICM"


def test_an_interrupt_while_folders_are_synced_keeps_them_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during `FolderSyncs.sync`: the KeyboardInterrupt itself reaches the caller
    (which stops the ingest cleanly) and every folder not yet synced stays pending."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    folders = FolderSyncs()
    folders.add(first)
    folders.add(second)
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        folders.sync()
    assert folders._pending == {first, second}


def test_a_file_made_and_swept_at_every_try_is_ebusy_naming_the_folder(tmp_path: Path) -> None:
    """`locked_new` whose every new file is gone before its lock (a sweep each time) gives
    up with EBUSY, its reason and the folder, for the user's message."""
    made: list[Path] = []

    def create() -> tuple[Path, int]:
        path = tmp_path / f"{TEMP}{len(made)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        made.append(path)
        os.unlink(path)
        return path, fd

    with pytest.raises(OSError) as raised:
        durable.locked_new(create)
    assert (raised.value.errno, raised.value.strerror, raised.value.filename) == (
        errno.EBUSY,
        "each file made was removed at once",
        str(tmp_path),
    )
    assert len(made) == 8 and os.listdir(tmp_path) == []


def test_where_there_is_no_flock_files_are_still_written_and_none_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system whose flock fails with ENOLCK (NFS without its lock daemon): that is
    "no flock", not "held by another", so `write_new` still writes its file (it does not
    give up every temporary as taken), and the sweep removes nothing it cannot tell apart."""
    left = tmp_path / f"{TEMP}0123456789abcdef"
    left.write_bytes(b"maybe live")

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    durable.write_new(tmp_path, "IMG_0001.dcm", b"DICM")
    assert durable.remove_dead_temps_in([tmp_path]) == []
    assert sorted(os.listdir(tmp_path)) == sorted(["IMG_0001.dcm", left.name])


def test_write_new_keeps_its_temporary_locked_until_it_has_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run's sweep of dead temporaries in the instant before `write_new` links its
    written temporary to the final name finds it locked and leaves it: the export is not
    failed by a sweep, and the file is written whole."""
    real = os.link
    swept: list[list[Path]] = []

    def sweep_first(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        swept.append(durable.remove_dead_temps_in([tmp_path]))
        real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", sweep_first)
    durable.write_new(tmp_path, "IMG_0001.dcm", b"DICM")
    assert swept == [[]]
    assert os.listdir(tmp_path) == ["IMG_0001.dcm"]
    assert (tmp_path / "IMG_0001.dcm").read_bytes() == b"DICM"


def test_write_new_without_hard_links_reports_the_renames_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without hard links, a rename that fails after the drive lost the empty placeholder
    too: the placeholder's removal finds nothing, and the rename's I/O error is what is
    raised (the user's message), with no file under the final name."""

    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    def lost(src: Any, dst: Any) -> None:
        os.unlink(dst)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(durable, "_renameat2_call", lambda: None)  # nor renameat2 (fusefat)
    monkeypatch.setattr(os, "replace", lost)
    with pytest.raises(OSError) as raised:
        durable.write_new(tmp_path, "IMG_0001.dcm", b"DICM")
    assert raised.value.errno == errno.EIO
    assert os.listdir(tmp_path) == []


def test_an_immutable_dead_temporary_is_left_and_not_said_to_be_removed(tmp_path: Path) -> None:
    """A dead temporary that cannot be opened for writing (here immutable: `chattr +i`;
    for a user, a read-only file) is opened read-only to take its lock; its removal then
    fails, so it is not counted as removed, and the sweep goes on without an error."""
    require(os.geteuid() == 0, "needs root: chattr +i")
    require_binaries("chattr")
    stuck = tmp_path / f"{TEMP}0123456789abcdef"
    stuck.write_bytes(b"dead")
    if subprocess.run(["chattr", "+i", stuck], check=False).returncode:
        require(False, "this file system has no immutable files")
    try:
        assert durable.remove_dead_temps_in([tmp_path]) == []
        assert stuck.read_bytes() == b"dead"
    finally:
        subprocess.run(["chattr", "-i", stuck], check=True)


def test_a_dead_temporary_another_sweep_took_first_is_not_reported_as_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two exports sweeping one out folder: a dead temporary the other run removed between
    this run's listing and its look at the file is not counted as removed by this one."""
    dead = tmp_path / f"{TEMP}0123456789abcdef"
    dead.write_bytes(b"dead")
    real = os.lstat

    def other_run_first(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if Path(path) == dead and dead.exists():
            os.unlink(dead)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", other_run_first)
    assert durable.remove_dead_temps_in([tmp_path]) == []
    assert os.listdir(tmp_path) == []


def test_a_pipe_with_a_dead_temporarys_name_is_left(tmp_path: Path) -> None:
    """Only regular files are dead temporaries: a named pipe (or any other special file)
    of that name, made by someone else in an out folder, is not opened or removed."""
    pipe = tmp_path / f"{TEMP}0123456789abcdef"
    os.mkfifo(pipe)
    assert durable.remove_dead_temps_in([tmp_path]) == []
    assert os.listdir(tmp_path) == [pipe.name]


def test_a_temporary_that_cannot_be_removed_does_not_end_the_sweep(tmp_path: Path) -> None:
    """`remove_stale_temps` after a crash, in a folder where some temporaries cannot be
    removed (immutable here): every other one is still removed, whatever the order the
    folder lists them in (a mutant stopping at the first failure lives only if the folder
    lists every removable one first: 1 in 924 here)."""
    require(os.geteuid() == 0, "needs root: chattr +i")
    require_binaries("chattr")
    stuck = [tmp_path / f"{TEMP}stuck{n}" for n in range(6)]
    temps = [tmp_path / f"{TEMP}{n:016x}" for n in range(6)]
    for path in stuck + temps:
        path.write_bytes(b"half")
    if subprocess.run(["chattr", "+i", *stuck], check=False).returncode:
        require(False, "this file system has no immutable files")
    try:
        assert durable.remove_stale_temps(tmp_path) == sorted(temps)
        assert sorted(os.listdir(tmp_path)) == sorted(path.name for path in stuck)
    finally:
        subprocess.run(["chattr", "-i", *stuck], check=True)


def test_a_dead_temporary_swapped_for_a_link_to_itself_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep compares the file it locked with the name itself, not with where a link
    at that name leads: a symbolic link put there meanwhile (even to the locked file) is
    not the dead temporary, and is not removed."""
    dead = tmp_path / f"{TEMP}0123456789abcdef"
    dead.write_bytes(b"dead")
    kept = tmp_path / "kept"
    real = durable.try_flock

    def then_linked(fd: int) -> bool | None:
        taken = real(fd)
        os.link(dead, kept)
        os.unlink(dead)
        dead.symlink_to(kept)
        return taken

    monkeypatch.setattr(durable, "try_flock", then_linked)
    assert durable.remove_dead_temps_in([tmp_path]) == []
    assert dead.is_symlink() and dead.read_bytes() == b"dead"


def test_a_dead_temporary_swapped_for_another_accounts_file_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`remove_dead_files` in a folder every account writes in: a file of ours at the first
    look, replaced by another account's before it is opened, is checked again once open
    and left (never another user's file removed)."""
    require(os.geteuid() == 0, "needs root: a file of another account's")
    ours = tmp_path / "sheet-1.html.part"
    ours.write_bytes(b"ours")
    theirs = tmp_path / "theirs"
    theirs.write_bytes(b"theirs")
    os.chown(theirs, 65534, 65534)
    real = os.lstat

    def then_swapped(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        found = real(path, *args, **kwargs)
        if Path(path) == ours and theirs.exists():
            os.replace(theirs, ours)
        return found

    monkeypatch.setattr(os, "lstat", then_swapped)
    assert durable.remove_dead_files(tmp_path, "sheet-", ".part", owner=os.geteuid()) == []
    assert ours.read_bytes() == b"theirs"


def test_every_folder_is_swept_past_one_that_cannot_be_read(tmp_path: Path) -> None:
    """`remove_dead_temps_in` over several folders (an export's, per patient): one gone
    does not end the sweep, and the dead temporaries of every other folder are removed and
    all reported."""
    found = []
    for name in ("b", "c"):
        (tmp_path / name).mkdir()
        found.append(tmp_path / name / f"{TEMP}0123456789abcdef")
        found[-1].write_bytes(b"dead")
    folders = [tmp_path / "a-gone", tmp_path / "b", tmp_path / "c"]
    assert durable.remove_dead_temps_in(folders) == found
    assert not any(path.exists() for path in found)


def test_the_stale_sweep_looks_at_every_name_in_a_folder(tmp_path: Path) -> None:
    """`remove_stale_temps` after a crash: every temporary in a folder is removed whatever
    the folder's order of names, past photos and past links of a temporary's name (which
    it leaves). The mutants that stop at the first other name are caught unless the
    folder happens to list every temporary first (1 in several thousand here)."""
    folder = tmp_path / "ZAC5361"
    folder.mkdir()
    photos = [folder / f"ZAC5361-2024010{n}-120000.jpg" for n in range(6)]
    temps = [folder / f"{TEMP}{n:016x}" for n in range(6)]
    links = [folder / f"{TEMP}link{n}" for n in range(6)]
    for photo, temp, link in zip(photos, temps, links, strict=True):
        photo.write_bytes(b"photo")
        temp.write_bytes(b"half")
        link.symlink_to(photo)
    assert durable.remove_stale_temps(tmp_path) == sorted(temps)
    assert all(photo.read_bytes() == b"photo" for photo in photos)
    assert all(link.is_symlink() for link in links)


def test_every_emptied_folder_is_removed_past_one_that_still_holds_a_photo(
    tmp_path: Path,
) -> None:
    """`remove_empty_folders` after a move: a folder that still holds a photo ends its own
    walk only; an emptied folder of another patient is still removed."""
    root = tmp_path / "archive"
    kept = root / "ZAC5361" / "2024" / "01"
    kept.mkdir(parents=True)
    (kept / "ZAC5361-20240101-120000.jpg").write_bytes(b"photo")
    (root / "ZAA0067").mkdir()
    durable.remove_empty_folders([kept, root / "ZAA0067"], [root])
    assert sorted(os.listdir(root)) == ["ZAC5361"]
    assert os.listdir(kept) == ["ZAC5361-20240101-120000.jpg"]


def writer_files(root: Path) -> list[str]:
    return [n for n in os.listdir(root / ".cardingest") if n.startswith(durable.WRITER_MARK)]


def test_a_desk_writing_beside_others_says_so_durably_before_it_writes(
    tmp_path: Path,
    fsynced: list[tuple[int, int]],  # noqa: F811 (the fixture imported above)
) -> None:
    """`writing_beside`'s file is synced into the metadata folder before the block writes:
    after a power cut mid-run, it must still be there to keep the next lone writer from
    putting back a clean mark over this desk's temporaries."""
    (tmp_path / ".cardingest").mkdir()
    with durable.writing_beside(tmp_path):
        assert len(writer_files(tmp_path)) == 1
        assert key(tmp_path / ".cardingest") in fsynced
    assert writer_files(tmp_path) == []


def test_a_desk_that_left_a_temporary_it_could_not_remove_keeps_its_file(tmp_path: Path) -> None:
    """A temporary this desk could not remove (`could_not_remove`) is still under the root
    when its block ends: its `writing_beside` file stays, so no writer puts back a clean
    mark, and the next lone writer's full sweep finds the temporary."""
    (tmp_path / ".cardingest").mkdir()
    stuck = tmp_path / "ZAC5361" / f"{TEMP}0123456789abcdef"
    stuck.parent.mkdir()
    stuck.write_bytes(b"half")
    try:
        with durable.writing_beside(tmp_path):
            durable.could_not_remove(stuck)
        assert len(writer_files(tmp_path)) == 1
    finally:
        stuck.unlink()  # no longer there: forgotten by the next look
    with durable.writing_beside(tmp_path):
        pass
    assert len(writer_files(tmp_path)) == 1  # the first one's, for the next full sweep


def test_a_desk_whose_block_fails_takes_its_file_away(tmp_path: Path) -> None:
    """An ingest beside others that ends with an error (not a kill) removes its
    `writing_beside` file as a normal end does: the next writers may put back the clean
    mark, and none is made to sweep the whole archive for nothing."""
    (tmp_path / ".cardingest").mkdir()
    with pytest.raises(RuntimeError), durable.writing_beside(tmp_path):
        raise RuntimeError("the card was pulled")
    assert writer_files(tmp_path) == []


def test_a_metadata_folder_this_account_cannot_list_counts_as_another_writers() -> None:
    """`_others_wrote`, run as nobody on its own `.cardingest` it may write in but not list
    (0300): it cannot see whether another writer's mark is there, so it says there may be
    one, and no clean mark is written over a writer it could not see (root can list
    every folder: the round on durable left this mutant for want of another account)."""
    with reachable_folder("durable-") as root:
        meta = root / ".cardingest"
        meta.mkdir()
        os.chown(meta, NOBODY, NOBODY)
        meta.chmod(0o300)
        assert as_nobody(lambda: durable._others_wrote(meta)) == ("ok", True)
        meta.chmod(0o700)
        assert as_nobody(lambda: durable._others_wrote(meta)) == ("ok", False)
