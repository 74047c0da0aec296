"""`durable.rename_new`: a rename that never replaces a file, the way a finished file takes
its name on a drive without hard links (exFAT and FAT in Linux's own drivers) with no moment
in which that name holds an empty file. Real file systems: this test's own, and FAT32 and
exFAT through fusefat and exfat-fuse, which cannot (this machine has no vfat or exfat
module to mount the kernel's drivers)."""

from __future__ import annotations

import errno
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory

from cardingest.errors import ArchiveError
from cardingest.move import _link
from cardingest.storage import durable
from cardingest.storage.durable import rename_new


def _two_files(folder: Path) -> tuple[Path, Path]:
    src, dst = folder / "new", folder / "taken"
    src.write_bytes(b"the new file")
    dst.write_bytes(b"another file")
    return src, dst


def _renames_once_and_never_replaces(folder: Path) -> None:
    src, dst = _two_files(folder)
    with pytest.raises(FileExistsError):
        rename_new(src, dst)
    assert src.read_bytes() == b"the new file" and dst.read_bytes() == b"another file"
    assert rename_new(src, folder / "free") is True
    assert not src.exists() and (folder / "free").read_bytes() == b"the new file"


def test_a_file_is_renamed_to_a_free_name_and_never_over_another(tmp_path: Path) -> None:
    _renames_once_and_never_replaces(tmp_path)


def test_names_are_taken_relative_to_an_open_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``dir_fd`` both names are the open folder's, whatever the current folder holds."""
    folder, elsewhere = tmp_path / "folder", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    _two_files(folder)
    (elsewhere / "new").write_bytes(b"not this one")
    monkeypatch.chdir(elsewhere)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):
            rename_new("new", "taken", dir_fd=fd)
        assert rename_new("new", "free", dir_fd=fd) is True
    finally:
        os.close(fd)
    assert (folder / "free").read_bytes() == b"the new file"
    assert (elsewhere / "new").read_bytes() == b"not this one"
    assert sorted(os.listdir(elsewhere)) == ["new"]


def test_another_error_is_raised_with_both_names_as_a_rename_gives_them(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        rename_new(tmp_path / "missing", tmp_path / "free")
    assert raised.value.filename == str(tmp_path / "missing")
    assert raised.value.filename2 == str(tmp_path / "free")


def test_a_name_with_a_nul_byte_is_refused_not_cut_short(tmp_path: Path) -> None:
    """C would stop at the NUL and rename ``a`` to ``b``; refused as `os.rename` does."""
    (tmp_path / "a").write_bytes(b"a")
    for src, dst in ((tmp_path / "a\0x", tmp_path / "b"), (tmp_path / "a", tmp_path / "b\0x")):
        with pytest.raises(ValueError):
            rename_new(src, dst)
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_renameat2_is_looked_up_once_whichever_worker_asks_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Copy workers publish at once: each must get the function, none a None that sends
    its photo the older way (an empty file first)."""
    monkeypatch.setattr(durable, "_renameat2", None)
    monkeypatch.setattr(durable, "_renameat2_looked", False)
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    try:
        start = threading.Barrier(8)
        found: list[object] = []

        def ask() -> None:
            start.wait()
            found.append(durable._renameat2_call())

        workers = [threading.Thread(target=ask) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(before)
    assert len(found) == 8 and None not in found and len(set(map(id, found))) == 1


def test_where_there_is_no_renameat2_nothing_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable, "_renameat2_call", lambda: None)
    src, _taken = _two_files(tmp_path)
    assert rename_new(src, tmp_path / "free") is False
    assert sorted(os.listdir(tmp_path)) == ["new", "taken"]


@pytest.mark.parametrize("kind", ["fat32", "exfat"])
def test_through_fuse_drivers_it_cannot_be_done_and_nothing_changes(
    fat_card: CardFactory, exfat_card: CardFactory, kind: str
) -> None:
    """fusefat and exfat-fuse answer EINVAL to the flag: False, so the caller takes the name
    with an empty file first, as before. A name already taken is refused by the kernel
    before the driver is asked: FileExistsError, as anywhere."""
    card = (fat_card if kind == "fat32" else exfat_card)({}, size_mb=64)
    src, dst = _two_files(card)
    assert rename_new(src, card / "free") is False
    with pytest.raises(FileExistsError):
        rename_new(src, dst)
    assert not (card / "free").exists()  # fusefat lists the volume label too
    assert src.read_bytes() == b"the new file" and dst.read_bytes() == b"another file"


@pytest.mark.parametrize("renames", [True, False], ids=["exfat", "fusefat"])
def test_a_move_on_a_drive_without_hard_links_never_renames_over_a_file_that_appeared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames: bool
) -> None:
    """`move` renames a photo where there are no hard links; a file that took the new name
    meanwhile (another desk's) is kept, and the move stops with both named."""
    old, new = tmp_path / "ZAC5361" / "a.jpg", tmp_path / "ZAA0067" / "a.jpg"
    old.parent.mkdir()
    old.write_bytes(b"the photo")

    def no_links_and_one_appears(*_args: Any, **_kwargs: Any) -> None:
        new.write_bytes(b"another desk's photo")
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links_and_one_appears)
    if not renames:
        monkeypatch.setattr(durable, "_renameat2_call", lambda: None)
    with pytest.raises(ArchiveError, match="appeared while moving"):
        _link(old, new)
    assert old.read_bytes() == b"the photo" and new.read_bytes() == b"another desk's photo"


@pytest.mark.parametrize("renames", [True, False], ids=["renameat2", "without"])
def test_rename_free_renames_to_a_free_name_and_refuses_a_taken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames: bool
) -> None:
    """`rename_free` (a move's undo, an abandon, a damaged copy set aside, a journal kept):
    by `rename_new`, or where that cannot be done after a look; a name held by a file or by
    a link to nothing is taken either way, and both are left as they were."""
    if not renames:
        monkeypatch.setattr(durable, "_renameat2_call", lambda: None)
    src, dst = _two_files(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for taken in (dst, tmp_path / "dangling"):
        with pytest.raises(FileExistsError):
            durable.rename_free(src, taken)
    assert dst.read_bytes() == b"another file" and (tmp_path / "dangling").is_symlink()
    durable.rename_free(src, tmp_path / "free")
    assert not src.exists() and (tmp_path / "free").read_bytes() == b"the new file"
