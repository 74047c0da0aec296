"""`archive/permissions` on its own: which files and folders `find_exposed` reports (links
judged by their own mode, the archive not walked again inside a backup root, an entry that
cannot be looked at skipped) and what `tighten` closes, refuses and says, on real files
with real modes; as another account (nobody) where the kernel's answer is the point.
Written for the mutation round on ``archive/permissions`` (docs/testing.md).

Those run in this process with nobody's effective user ID (`effectively`), not in a forked
child (`otheraccount.as_nobody`): mutmut runs a mutant only against the tests it saw reach
the mutated function in this process, and a child's calls are not seen."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cardimage import require
from otheraccount import reachable_folder

from cardingest.archive.permissions import find_exposed, tighten
from cardingest.storage import modes

NOBODY = 65534
GONE = (
    "(a folder on its way is a link now, or it is gone: not followed, nothing outside the "
    "archive is changed)"
)


@pytest.fixture(autouse=True)
def no_archive_group() -> None:
    modes.share_with_group(None)


@contextmanager
def effectively(uid: int) -> Iterator[None]:
    """This process as ``uid`` (user and group) to the kernel's checks, root again after:
    chmod and lstat are judged by the effective IDs."""
    require(os.geteuid() == 0, "needs root to act as another account")
    os.setegid(uid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def _file(path: Path, mode: int, uid: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"photo")
    path.chmod(mode)
    os.chown(path, uid, uid)
    return path


def _folder(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_an_archive_named_by_a_link_is_judged_by_its_folder_and_links_in_it_by_their_own(
    tmp_path: Path,
) -> None:
    """The archive (or a backup root) may be a link to a mounted disk: its folder is what is
    judged. A link inside it is never followed: a link to a file or folder others can read,
    outside the archive, is not the archive's exposure (nor a way to change that file)."""
    real = _folder(tmp_path / "disk" / "archive", 0o755)
    named = tmp_path / "archive"
    named.symlink_to(real)
    outside = _file(tmp_path / "elsewhere" / "open.jpg", 0o644)
    _folder(tmp_path / "elsewhere", 0o755)
    _folder(real / "JBX3656", 0o700)
    (real / "JBX3656" / "link.jpg").symlink_to(outside)
    (real / "JBX3656" / "folder").symlink_to(tmp_path / "elsewhere")
    _file(real / "JBX3656" / "own.jpg", 0o600)

    found = find_exposed(named)
    assert [(item.path, item.mode) for item in found] == [(".", stat.S_IFDIR | 0o755)]
    assert found[0].detail == (
        "folder open to other accounts and group root while no archive_group is set "
        "(mode drwxr-xr-x)"
    )

    backup = tmp_path / "backup"
    backup.symlink_to(tmp_path / "disk")  # a backup root named by a link too
    _folder(tmp_path / "disk", 0o750)
    real.chmod(0o700)
    shown = [item.path for item in find_exposed(named, [backup])]
    assert shown == [str(backup)]


def test_the_archive_inside_a_backup_root_is_not_walked_again(tmp_path: Path) -> None:
    """An archive within a folder also given as elsewhere (a backup root above it) is shown
    once, relative to the archive: its files are not listed a second time by full path."""
    root = _folder(tmp_path / "site", 0o700)
    archive = _folder(root / "clinic" / "archive", 0o700)
    _folder(root / "clinic", 0o700)
    _folder(archive / "JBX3656", 0o700)
    _file(archive / "JBX3656" / "IMG_0001.JPG", 0o644)
    _file(archive / "index.txt", 0o644)
    _file(root / "clinic" / "notes.txt", 0o640)
    shown = [item.path for item in find_exposed(archive, [root])]
    assert shown == ["index.txt", "JBX3656/IMG_0001.JPG", str(root / "clinic" / "notes.txt")]


def test_an_entry_that_cannot_be_looked_at_is_left_and_the_walk_goes_on(tmp_path: Path) -> None:
    """As nobody: a folder it may list but not enter (r without x) names a file whose
    mode cannot be read; that file is left (verify reports the copy itself) and what comes
    after it in the walk is still judged."""
    with reachable_folder("cardingest-exposed-") as top:
        archive = _folder(top / "archive", 0o755)
        _folder(archive / "a", 0o744)
        _file(archive / "a" / "f.jpg", 0o644)
        _folder(archive / "c", 0o755)
        _file(archive / "c" / "g.jpg", 0o644)
        with effectively(NOBODY):
            shown = [item.path for item in find_exposed(archive)]
        assert shown == [".", "a", "c", "c/g.jpg"]
        assert "a/f.jpg" in [item.path for item in find_exposed(archive)]  # root may look


def test_what_is_closed_already_is_not_said_to_be_changed(tmp_path: Path) -> None:
    archive = _folder(tmp_path / "archive", 0o700)
    _file(archive / "JBX3656" / "IMG_0001.JPG", 0o600)
    _folder(archive / "JBX3656", 0o700)
    _file(archive / "JBX3656" / "IMG_0002.JPG", 0o644)
    changed, refused = tighten(archive, [".", "JBX3656", "JBX3656/IMG_0001.JPG"])
    assert (changed, refused) == ([], [])
    assert _mode(archive) == 0o700 and _mode(archive / "JBX3656" / "IMG_0001.JPG") == 0o600
    changed, refused = tighten(archive, ["JBX3656/IMG_0002.JPG"])
    assert (changed, refused) == (["JBX3656/IMG_0002.JPG"], [])
    assert _mode(archive / "JBX3656" / "IMG_0002.JPG") == 0o600


def test_a_link_put_in_an_exposed_files_place_is_left_as_it_is_and_its_target_too(
    tmp_path: Path,
) -> None:
    """Between the check and the fix, an exposed photo became a link to a file others can
    read: neither the link nor the file it leads to is changed, and nothing is said to be."""
    archive = _folder(tmp_path / "archive", 0o700)
    _folder(archive / "JBX3656", 0o700)
    photo = _file(archive / "JBX3656" / "IMG_0001.JPG", 0o644)
    assert [item.path for item in find_exposed(archive)] == ["JBX3656/IMG_0001.JPG"]
    target = _file(tmp_path / "theirs" / "open.txt", 0o644)
    photo.unlink()
    photo.symlink_to(target)
    assert tighten(archive, ["JBX3656/IMG_0001.JPG"]) == ([], [])
    assert _mode(target) == 0o644 and photo.is_symlink()


def test_a_backup_named_through_a_link_is_tightened(tmp_path: Path) -> None:
    """A backup's paths are shown in full (`find_exposed`), here through the link a mounted
    disk is named by: what they name is closed, the link on the way being the backup's."""
    archive = _folder(tmp_path / "archive", 0o700)
    disk = _folder(tmp_path / "disks" / "nas", 0o700)
    photo = _file(disk / "backup" / "JBX3656" / "IMG_0001.JPG", 0o644)
    _folder(disk / "backup" / "JBX3656", 0o750)
    _folder(disk / "backup", 0o700)
    mount = tmp_path / "nas"
    mount.symlink_to(disk)
    shown = [item.path for item in find_exposed(archive, [mount / "backup"])]
    assert shown == [
        str(mount / "backup" / "JBX3656"),
        str(mount / "backup" / "JBX3656" / "IMG_0001.JPG"),
    ]
    assert tighten(archive, shown) == (shown, [])
    assert _mode(photo) == 0o600 and _mode(photo.parent) == 0o700


def test_only_the_owner_or_root_may_close_and_the_message_names_who(tmp_path: Path) -> None:
    """As nobody: what root owns is "only root can", another account's names it (or
    its user ID where it has no name), and what nobody owns is still closed after them."""
    with reachable_folder("cardingest-tighten-") as top:
        archive = _folder(top / "archive", 0o755)
        _file(archive / "root.jpg", 0o644, uid=0)
        _file(archive / "daemon.jpg", 0o644, uid=1)
        _file(archive / "unnamed.jpg", 0o644, uid=54321)
        own = _file(archive / "own.jpg", 0o644, uid=NOBODY)
        items = ["root.jpg", "daemon.jpg", "unnamed.jpg", "own.jpg"]
        with effectively(NOBODY):
            answer = tighten(archive, items)
        assert _mode(own) == 0o600 and _mode(archive / "root.jpg") == 0o644
        assert answer == (
            ["own.jpg"],
            [
                "root.jpg: owned by root, so only root can",
                "daemon.jpg: owned by the account daemon, so only that account or root can",
                "unnamed.jpg: owned by the account with user ID 54321 (no name on this "
                "machine), so only that account or root can",
            ],
        )
        assert tighten(archive, items) == (items[:3], [])  # root may close them


def test_a_path_gone_or_through_a_link_is_refused_saying_why_and_the_rest_closed(
    tmp_path: Path,
) -> None:
    archive = _folder(tmp_path / "archive", 0o700)
    _folder(tmp_path / "elsewhere", 0o755)
    outside = _file(tmp_path / "elsewhere" / "IMG_0001.JPG", 0o644)
    (archive / "JBX3656").symlink_to(tmp_path / "elsewhere")
    photo = _file(archive / "ACA31FM" / "IMG_0002.JPG", 0o644)
    _folder(archive / "ACA31FM", 0o700)
    changed, refused = tighten(
        archive, ["ACA31FM/gone.jpg", "JBX3656/IMG_0001.JPG", "ACA31FM/IMG_0002.JPG"]
    )
    assert changed == ["ACA31FM/IMG_0002.JPG"] and _mode(photo) == 0o600
    assert refused == [
        f"ACA31FM/gone.jpg: No such file or directory {GONE}",
        f"JBX3656/IMG_0001.JPG: Not a directory {GONE}",
    ]
    assert _mode(outside) == 0o644


def test_a_backup_folder_swapped_for_a_link_is_not_followed_by_the_fix(tmp_path: Path) -> None:
    """A backup root every account may write in (exposed itself): between `verify`'s look
    and its fix, another account put a link to a system folder in place of a patient's
    folder. The fix reached the copy from its own folder, links followed, and closed the
    system file; it now goes down from the backup's root with no link followed, and names
    the copy as refused."""
    archive, backup, system = tmp_path / "archive", tmp_path / "backup", tmp_path / "etc"
    (archive / ".cardingest").mkdir(parents=True)
    (backup / "JBX3656").mkdir(parents=True)
    backup.chmod(0o777)
    copy = backup / "JBX3656" / "passwd"
    copy.write_text("a copy\n")
    copy.chmod(0o644)
    system.mkdir()
    (system / "passwd").write_text("root:x:0:0\n")
    (system / "passwd").chmod(0o644)
    found = [item.path for item in find_exposed(archive, [backup])]
    assert str(copy) in found
    (backup / "JBX3656").rename(backup / "moved")
    (backup / "JBX3656").symlink_to(system)
    changed, refused = tighten(archive, [str(copy)], [backup])
    assert stat.S_IMODE((system / "passwd").stat().st_mode) == 0o644
    assert changed == [] and len(refused) == 1 and refused[0].startswith(f"{copy}: ")
    assert "a folder on its way is a link now" in refused[0]
    assert tighten(archive, [str(backup)], [backup]) == ([str(backup)], [])


def test_a_file_swapped_for_a_link_during_the_fix_is_refused_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the fix's look at a file and its chmod another account put a link in its
    place: Python's chmod with no link followed raised ValueError there, which ended
    `verify --fix-permissions` with a traceback and left the rest open. It is refused, the
    link's target untouched, and the next path closed."""
    from cardingest.archive import permissions

    archive = tmp_path / "archive"
    (archive / "JBX3656").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (archive / "JBX3656" / name).write_text(name)
        (archive / "JBX3656" / name).chmod(0o644)
    target = tmp_path / "elsewhere"
    target.write_text("theirs")
    target.chmod(0o644)
    real = permissions.take_access

    def swapped(path: str, chmod: Callable[[int], None]) -> None:
        if path.endswith("a.jpg"):
            (archive / "JBX3656" / "a.jpg").unlink()
            (archive / "JBX3656" / "a.jpg").symlink_to(target)
        real(path, chmod)

    monkeypatch.setattr(permissions, "take_access", swapped)
    changed, refused = tighten(archive, ["JBX3656/a.jpg", "JBX3656/b.jpg"])
    assert changed == ["JBX3656/b.jpg"]
    assert len(refused) == 1 and refused[0].startswith("JBX3656/a.jpg: ")
    assert "a folder on its way is a link now" in refused[0]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_an_immutable_file_is_refused_as_such_not_as_another_owners(tmp_path: Path) -> None:
    """`chattr +i`: root may not change it either. It was "owned by root, so only root can"."""
    require(os.geteuid() == 0, "needs root for chattr +i")
    archive = tmp_path / "archive"
    (archive / "JBX3656").mkdir(parents=True)
    photo = archive / "JBX3656" / "a.jpg"
    photo.write_text("x")
    photo.chmod(0o644)
    made = subprocess.run(["chattr", "+i", photo], capture_output=True, text=True, check=False)
    require(made.returncode == 0, f"chattr +i refused here: {made.stderr.strip()}")
    try:
        changed, refused = tighten(archive, ["JBX3656/a.jpg"])
    finally:
        subprocess.run(["chattr", "-i", photo], check=False)
    assert changed == [] and len(refused) == 1
    assert "it is immutable (`lsattr` shows an i)" in refused[0], refused
