"""Patient data private on disk: what cardingest creates is closed to other accounts whatever
the umask, open to `archive_group` when one is set, and `verify` finds what is not."""

from __future__ import annotations

import contextlib
import grp
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from badinput_helpers import cardingest
from cardimage import CardFactory, require
from clinic_helpers import cli
from exif_bytes import exif_jpeg, timed_card

from cardingest.demo import make_demo_card
from cardingest.storage import modes


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
        modes.share_with_group(None)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("allow_test_ids = true\n", encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(path))
    return path


def everything(*roots: Path) -> Iterator[tuple[Path, int]]:
    for root in roots:
        yield root, os.lstat(root).st_mode
        for current, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                path = Path(current, name)
                yield path, os.lstat(path).st_mode


def ingest_demo(tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    card, map_file = make_demo_card(tmp_path)
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    backup.parent.mkdir(exist_ok=True)
    result = cli(
        "ingest", card, "--map", map_file, "--archive", archive, "--backup", backup, *extra
    )
    assert result.exit_code == 3, result.stderr
    return archive, backup


def test_nothing_created_is_open_to_others_under_umask_022(
    tmp_path: Path, umask: None, config: Path
) -> None:
    archive, backup = ingest_demo(tmp_path)
    share = tmp_path / "referral"
    assert cli("share", "ZAC5361", "--archive", archive, "--out", share).exit_code == 0
    template = tmp_path / "map.csv"
    card = tmp_path / "DEMO_CARD"
    assert cli("map-template", card, "--out", template).exit_code == 0
    dicom = tmp_path / "dicom"
    assert cli("dicom", "export", "--out", dicom, "--archive", archive).exit_code == 0
    assert cli("verify", "--archive", archive).exit_code == 0

    seen = dict(everything(archive, backup, share, template, dicom))
    assert len(seen) > 20
    open_to_others = {str(p): stat.filemode(m) for p, m in seen.items() if m & 0o007}
    assert not open_to_others
    for path, mode in seen.items():  # the account's primary group may hold other people
        if stat.S_ISDIR(mode):
            assert stat.S_IMODE(mode) == 0o700, path
        else:
            assert stat.S_IMODE(mode) == 0o600, path
    catalogue = archive / ".cardingest" / "catalogue.sqlite"
    assert stat.S_IMODE(catalogue.stat().st_mode) == 0o600
    for journal in archive.glob(".cardingest/catalogue.sqlite-*"):
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600, journal


def test_archive_group_can_read_and_no_one_else(tmp_path: Path, umask: None, config: Path) -> None:
    os.umask(0o077)  # a strict umask must not shut the group out either
    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    archive, backup = ingest_demo(tmp_path)
    for path, mode in everything(archive, backup):
        assert os.lstat(path).st_gid == os.getegid(), path
        assert not mode & 0o007, path
        if stat.S_ISDIR(mode):
            assert stat.S_IMODE(mode) == 0o2750, (path, oct(mode))
        else:
            assert stat.S_IMODE(mode) == 0o640, (path, oct(mode))


def test_unknown_archive_group_is_exit_2(tmp_path: Path, config: Path) -> None:
    config.write_text('archive_group = "no-such-group-here"\n', encoding="utf-8")
    result = cli("verify", "--archive", tmp_path / "archive")
    assert result.exit_code == 2
    assert "archive_group 'no-such-group-here' is not a group" in result.stderr


def test_verify_names_what_others_can_read_and_fix_permissions_closes_it(
    tmp_path: Path, umask: None, config: Path
) -> None:
    archive, _ = ingest_demo(tmp_path)
    photo = next((archive / "ZAC5361").glob("*.jpg"))
    photo.chmod(0o644)
    (archive / "ZAA0067").chmod(0o755)
    catalogue = archive / ".cardingest" / "catalogue.sqlite"
    catalogue.chmod(0o666)

    result = cli("verify", "--archive", archive, "--json")
    assert result.exit_code == 1
    exposed = {p["path"] for p in json.loads(result.stdout)["problems"] if p["kind"] == "exposed"}
    relative = photo.relative_to(archive).as_posix()
    assert exposed == {relative, "ZAA0067", ".cardingest/catalogue.sqlite"}
    text = cli("verify", "--archive", archive)
    assert "--fix-permissions" in text.stdout and relative in text.stdout

    fixed = cli("verify", "--archive", archive, "--fix-permissions", "--json")
    assert fixed.exit_code == 0, fixed.stdout
    assert sorted(json.loads(fixed.stdout)["tightened"]) == sorted(exposed)
    # No archive_group: the account's primary group may hold every account, so it loses
    # its access too; the owner keeps theirs.
    assert stat.S_IMODE(photo.stat().st_mode) == 0o600
    assert stat.S_IMODE(catalogue.stat().st_mode) == 0o600
    assert cli("verify", "--archive", archive).exit_code == 0
    events = [json.loads(line) for line in (archive / ".cardingest" / "audit.jsonl").open()]
    assert [sorted(e["tightened"]) for e in events if e["event"] == "permissions"] == [
        sorted(exposed)
    ]


def test_an_existing_loose_folder_is_reported_not_silently_changed(
    tmp_path: Path, umask: None, config: Path
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir(mode=0o700)
    (archive / "ZAC5361").mkdir()
    (archive / "ZAC5361").chmod(0o755)
    ingest_demo(tmp_path)
    assert stat.S_IMODE((archive / "ZAC5361").stat().st_mode) == 0o755
    result = cli("verify", "--archive", archive, "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(p["kind"], p["path"]) for p in problems] == [("exposed", "ZAC5361")]


def test_a_patient_folder_others_can_write_is_warned_about(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """A patient's folder made by hand (or by another account) that every account can write:
    the photos filed in it could be removed or swapped by anyone. Before, the ingest filed
    into it without a word; `verify` only found it afterwards."""
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    archive.mkdir(mode=0o700)
    (archive / "ZAC5361").mkdir()
    (archive / "ZAC5361").chmod(0o777)
    result = cli("preview", card, "--map", map_file, "--archive", archive, "--json")
    said = " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
    assert (
        f"1 folder(s) the photos are to be filed in can be changed by other accounts "
        f"({archive / 'ZAC5361'} can be written by every account)"
    ) in said, said
    (archive / "ZAC5361").chmod(0o700)
    result = cli("preview", card, "--map", map_file, "--archive", archive, "--json")
    assert "other accounts" not in " ".join(json.loads(result.stdout)["warnings"])


def test_root_keeps_the_archive_its_owners(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sudo cardingest verify` (or tag, or an ingest) on the clinic account's archive: what
    it writes or rewrites (the audit head, sidecars, folders, copies) stays that account's,
    so the account can go on using its archive."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the test gives the archive to another account")
    monkeypatch.setattr(modes, "_owner", None, raising=False)  # put back after the test
    archive, backup = ingest_demo(tmp_path)
    clinic = (54321, 54321)
    for root in (archive, backup):
        for path, _mode in everything(root):
            os.lchown(path, *clinic)
    assert cli("verify", "--archive", archive).exit_code == 0
    assert cli("tag", "ZAC5361", "--diagnosis", "melanoma", "--archive", archive).exit_code == 0
    card, map_file = make_demo_card(tmp_path / "again")
    again = cli("ingest", card, "--map", map_file, "--archive", archive, "--backup", backup)
    assert again.exit_code == 3, again.stderr
    owners = {
        path: (os.lstat(path).st_uid, os.lstat(path).st_gid)
        for root in (archive, backup)
        for path, _mode in everything(root)
    }
    assert {owner for owner in owners.values()} == {clinic}, [
        path for path, owner in owners.items() if owner != clinic
    ]


def another_group() -> int:
    """A group other than this account's own that a file here can be given."""
    mine = os.getegid()
    if os.geteuid() == 0:
        return next(group.gr_gid for group in grp.getgrall() if group.gr_gid != mine)
    others = [gid for gid in os.getgroups() if gid != mine]
    if not others:
        pytest.skip("needs a second group this account belongs to (or root)")
    return others[0]


def open_to_group(root: Path, gid: int | None = None) -> None:
    """``chmod -R g+rX root`` (and ``chgrp -R`` with ``gid``)."""
    for path, mode in everything(root):
        if gid is not None:
            os.lchown(path, -1, gid)
        extra = stat.S_IRGRP | (stat.S_IXGRP if stat.S_ISDIR(mode) else 0)
        os.chmod(path, stat.S_IMODE(mode) | extra)


def exposed_paths(result_stdout: str) -> dict[str, str]:
    return {
        p["path"]: p["detail"]
        for p in json.loads(result_stdout)["problems"]
        if p["kind"] == "exposed"
    }


def test_group_access_is_exposure_without_archive_group(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """`chmod -R g+rX ARCHIVE`: the account's group (a shared `users`) may hold everyone."""
    archive, _ = ingest_demo(tmp_path)
    open_to_group(archive)
    result = cli("verify", "--archive", archive, "--json")
    assert result.exit_code == 1, result.stdout
    exposed = exposed_paths(result.stdout)
    every = {
        "." if path == archive else path.relative_to(archive).as_posix()
        for path, _mode in everything(archive)
    }
    assert set(exposed) == every
    group = grp.getgrgid(os.getegid()).gr_name
    photo = next(p for p in exposed if p.endswith(".jpg"))
    assert f"group {group}" in exposed[photo] and "archive_group" in exposed[photo]

    fixed = cli("verify", "--archive", archive, "--fix-permissions")
    assert fixed.exit_code == 0, fixed.stdout
    for path, mode in everything(archive):
        assert stat.S_IMODE(mode) == (0o700 if stat.S_ISDIR(mode) else 0o600), path


def test_archive_group_may_read_but_not_write_and_no_other_group_may_read(
    tmp_path: Path, umask: None, config: Path
) -> None:
    mine = os.getegid()
    group = grp.getgrgid(mine).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    archive, _ = ingest_demo(tmp_path)
    assert cli("verify", "--archive", archive).exit_code == 0  # 0640 and 2750, as made

    photo = next((archive / "ZAC5361").glob("*.jpg"))
    photo.chmod(0o660)  # the clinic's group could change or delete the photo
    other = another_group()
    folder = archive / "ZAA0067"
    open_to_group(folder, other)  # a group that is not the archive_group
    result = cli("verify", "--archive", archive, "--json")
    assert result.exit_code == 1
    exposed = exposed_paths(result.stdout)
    inside = {path.relative_to(archive).as_posix() for path, _mode in everything(folder)}
    assert set(exposed) == {photo.relative_to(archive).as_posix(), *inside}
    assert "writable by group" in exposed[photo.relative_to(archive).as_posix()]

    fixed = cli("verify", "--archive", archive, "--fix-permissions")
    assert fixed.exit_code == 0, fixed.stdout
    assert stat.S_IMODE(photo.stat().st_mode) == 0o640  # the archive_group still reads it
    for path, mode in everything(folder):  # the other group reads nothing
        assert not stat.S_IMODE(mode) & 0o077, (path, oct(mode))


def test_the_backup_is_checked_whole_and_fix_permissions_closes_it(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """`chmod -R o+rX BACKUP`: its folders, sidecars and manifests hold patient IDs and
    keywords as the photos do."""
    archive, backup = ingest_demo(tmp_path)
    for path, mode in everything(backup):
        os.chmod(
            path, stat.S_IMODE(mode) | stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
        )
    result = cli("verify", "--archive", archive, "--json")
    assert result.exit_code == 1, result.stdout
    exposed = exposed_paths(result.stdout)
    every = {str(path) for path, _mode in everything(backup)}
    assert any(path.endswith(".xmp") for path in every)
    assert any("/.cardingest/manifests/" in path for path in every)
    assert set(exposed) == every
    wheres = {p["where"] for p in json.loads(result.stdout)["problems"] if p["kind"] == "exposed"}
    assert wheres == {"backup"}

    fixed = cli("verify", "--archive", archive, "--fix-permissions", "--json")
    assert fixed.exit_code == 0, fixed.stdout
    assert set(json.loads(fixed.stdout)["tightened"]) == every
    for path, mode in everything(backup):
        assert stat.S_IMODE(mode) == (0o700 if stat.S_ISDIR(mode) else 0o600), path


def test_fix_permissions_on_a_file_system_without_modes_says_so(
    tmp_path: Path, config: Path, exfat_card: CardFactory
) -> None:
    """exFAT keeps no Unix modes: ``chmod`` succeeds and changes nothing. ``--fix-permissions``
    said it had closed every file, and the next ``verify`` found them all open again; now it
    counts only what it closed, says why the rest stay open, and exits 1."""
    drive = exfat_card({"README.TXT": b"an exFAT drive\n"}, label="DRIVE")
    card, map_file = make_demo_card(tmp_path)
    archive = drive / "archive"
    assert cli("ingest", card, "--map", map_file, "--archive", archive).exit_code == 3
    found = cli("verify", "--archive", archive, "--json")
    exposed = [p for p in json.loads(found.stdout)["problems"] if p["kind"] == "exposed"]
    assert found.exit_code == 1 and exposed, found.stdout
    fixed = cli("verify", "--archive", archive, "--fix-permissions", "--json")
    assert fixed.exit_code == 1, fixed.stdout
    document = json.loads(fixed.stdout)
    assert document["tightened"] == []
    assert any("still open to other accounts" in w for w in document["warnings"])
    assert "still open to other accounts" in " ".join(fixed.stderr.split())
    assert "exFAT" in fixed.stderr
    text = cli("verify", "--archive", archive, "--fix-permissions")
    assert text.exit_code == 1 and "--fix-permissions` takes" not in text.stdout


def test_fix_permissions_names_the_owner_of_what_it_may_not_change_and_closes_the_rest(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """A photo another account owns (copied in by a colleague's login): only its owner or
    root may change its mode. The error said only "Operation not permitted", and what was
    closed before it went unrecorded. Now the rest are closed and recorded, the one left is
    named with its owner, and the report is kept (it was an error document in its place)."""
    from badinput_helpers import NO_OVERRIDE, cardingest

    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    archive, _ = ingest_demo(tmp_path)
    theirs = next((archive / "ZAC5361").glob("*.jpg"))
    theirs.chmod(0o644)
    os.chown(theirs, 65534, 65534)  # nobody
    (archive / "ZAA0067").chmod(0o755)
    ran = cardingest(
        "verify", "--archive", archive, "--fix-permissions", "--json",
        home=tmp_path / "home", prefix=("setpriv", *NO_OVERRIDE),
    )  # fmt: skip
    assert ran.code == 1, ran.stderr
    document = json.loads(ran.stdout)  # the report, not an error in its place
    said = " ".join(document["warnings"])
    relative = theirs.relative_to(archive).as_posix()
    assert f"{relative}: owned by the account nobody, so only that account or root can" in said
    assert "did not keep the change" not in said  # their file system is not the reason
    assert document["tightened"] == ["ZAA0067"]
    assert [p["path"] for p in document["problems"] if p["kind"] == "exposed"] == [relative]
    assert stat.S_IMODE((archive / "ZAA0067").stat().st_mode) == 0o700
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o644
    events = [json.loads(line) for line in (archive / ".cardingest" / "audit.jsonl").open()]
    assert [e["tightened"] for e in events if e["event"] == "permissions"] == [["ZAA0067"]]


def test_a_folder_opened_by_an_access_control_list_is_said_so(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """`setfacl -m u:nobody:rwx` on a patient's folder: its mode's group bits become the
    list's mask, and it was called writable by its group, which sent the reader to the
    wrong place. Both `verify` and `preview` now name the access control list, and
    `--fix-permissions` closes it: the list's entry for nobody is gone, not only masked."""

    require(shutil.which("setfacl") is not None, "needs setfacl (Debian package acl)")
    archive, _ = ingest_demo(tmp_path)
    folder = archive / "ZAA0067"
    subprocess.run(["setfacl", "-m", "u:nobody:rwx", folder], check=True)
    result = cli("verify", "--archive", archive, "--json")
    problems = [p for p in json.loads(result.stdout)["problems"] if p["kind"] == "exposed"]
    assert [p["path"] for p in problems] == ["ZAA0067"], problems
    said = json.dumps(problems)
    assert "access control list names (getfacl shows them), and writable by them" in said
    assert "group" not in said.replace("groups its", ""), said
    card = tmp_path / "more"
    timed_card(card)
    preview = cli("preview", card, "--id", "ZAA0067", "--archive", archive, "--json")
    warned = " ".join(json.loads(preview.stdout)["warnings"])
    assert "ZAA0067 can be written by the accounts or groups its access control list" in warned
    assert cli("verify", "--archive", archive, "--fix-permissions").exit_code == 0
    masked = subprocess.run(["getfacl", "-p", folder], capture_output=True, text=True).stdout
    assert "user:nobody" not in masked and "mask::" not in masked, masked


@pytest.mark.parametrize("target", ["file", "folder"])
def test_root_never_gives_the_target_of_a_link_swapped_in_for_a_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """Root on an archive another account owns gives what it makes to that account
    (`modes.keep_owner`). That account swapped a new patient folder for a link to a file
    of root's between the folder's making and its chown, and the file became theirs. With a
    link to a folder of root's: O_DIRECTORY alone refuses a link to a file, not one to a
    folder; O_NOFOLLOW is what keeps root's folder root's (a mutation round's)."""

    require(os.geteuid() == 0, "needs root: only root gives a folder to another account")
    archive, victim = tmp_path / "archive", tmp_path / "shadow"
    (archive / ".cardingest").mkdir(parents=True)
    (archive / ".cardingest" / "archive-id").write_text("0123\n")
    for made in (archive / ".cardingest" / "archive-id", archive / ".cardingest", archive):
        os.chown(made, 65534, 65534)  # nobody's archive
    if target == "file":
        victim.write_text("root's secret\n")
    else:
        victim.mkdir()
    mode = 0o600 if target == "file" else 0o755
    victim.chmod(mode)
    real_mkdir = os.mkdir

    def swapped(path: Any, mode: int = 0o777, **kwargs: Any) -> None:
        real_mkdir(path, mode, **kwargs)
        os.rename(path, f"{path}.aside")
        os.symlink(victim, path)

    modes.keep_owner(archive)
    try:
        monkeypatch.setattr(os, "mkdir", swapped)
        with pytest.raises(OSError):
            modes.mkdir(archive / "JBX3656")
    finally:
        monkeypatch.undo()
        modes.keep_owner(tmp_path / "not-there")
    status = victim.stat()
    assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (0, 0, mode)


def test_root_never_gives_a_new_archive_to_the_account_whose_folder_it_is_in(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root gives what it files in an archive another account made to that account (as its
    own archive's). It took the folder's owner for the archive's, so a folder another
    account made, with no archive in it yet, got every photo, the catalogue and the log;
    the ingest (which makes `.cardingest` before its checks) did not even warn, as its
    preview did. The archive's account is the owner of its `.cardingest` and the records in
    it now (an empty `.cardingest` made there beforehand is no archive): root's new archive
    is root's, and both warn of the folder another account can change."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the test gives the folder to another account")
    monkeypatch.setattr(modes, "_owner", None, raising=False)
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    archive.mkdir(mode=0o700)
    (archive / ".cardingest").mkdir(mode=0o700)  # an empty one: no archive's records
    for made in (archive / ".cardingest", archive):
        os.chown(made, 65534, 65534)  # nobody's folder
    warned = f"({archive} belongs to the account nobody): they could remove, rename or replace"
    result = cli("preview", card, "--map", map_file, "--archive", archive, "--json")
    assert warned in " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
    result = cli("ingest", card, "--map", map_file, "--archive", archive, "--json")
    assert result.exit_code == 3, result.stderr
    assert warned in " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
    made = [path for path, _mode in everything(archive) if path.parent != tmp_path]
    made.remove(archive / ".cardingest")
    assert made and {os.lstat(path).st_uid for path in made} == {0}, made
    assert cli("verify", "--archive", archive).exit_code == 0
    assert {os.lstat(path).st_uid for path, _mode in everything(archive)} == {0, 65534}
    os.chown(archive, 0, 0)
    os.chown(archive / ".cardingest", 0, 0)
    result = cli("preview", card, "--map", map_file, "--archive", archive, "--json")
    assert "other accounts" not in " ".join(json.loads(result.stdout)["warnings"])


def test_a_folder_others_can_read_is_warned_of(tmp_path: Path, config: Path) -> None:
    """A trial: a patient's folder (and the photos in it) opened to every account by hand
    got no word from preview or ingest, only from verify: their names are patients' IDs."""
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    assert cli("ingest", card, "--map", map_file, "--archive", archive).exit_code == 3
    folder = archive / "ZAC5361"
    folder.chmod(0o755)
    again = tmp_path / "again"
    (again / "DCIM" / "100CANON").mkdir(parents=True)
    (again / "DCIM" / "100CANON" / "IMG_0001.JPG").write_bytes(exif_jpeg("2026:11:05 09:00:00"))
    preview = ("preview", again, "--id", "ZAC5361", "--archive", archive, "--json")
    result = cli(*preview)
    said = " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
    assert (
        f"1 folder(s) the photos are to be filed in can be read by other accounts ({folder} is "
        "open to other accounts"
    ) in said, said
    folder.chmod(0o700)
    result = cli(*preview)
    assert "other accounts" not in " ".join(json.loads(result.stdout)["warnings"])


def test_an_empty_folder_the_ingest_closes_is_not_counted_as_open(
    tmp_path: Path, config: Path, umask: None
) -> None:
    """A trial: an archive folder holding a README and a new, empty backup folder, both
    0755: "2 folder(s) … can be read by other accounts" named one, advised `verify
    --fix-permissions` for both, and the ingest then closed the empty one itself. Only the
    folders that stay open are counted; the ingest says what it closed."""
    card, map_file = make_demo_card(tmp_path)
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    archive.mkdir(mode=0o755)
    (archive / "README.txt").write_text("the clinic's archive\n")
    backup.mkdir(mode=0o755)
    argv = ("--map", map_file, "--archive", archive, "--backup", backup, "--json")
    said = " ".join(" ".join(json.loads(cli("preview", card, *argv).stdout)["warnings"]).split())
    assert (
        f"1 folder(s) the photos are to be filed in can be read by other accounts ({archive} is"
    ) in said, said
    ingest = cli("ingest", card, *argv)
    warned = " ".join(" ".join(json.loads(ingest.stdout)["warnings"]).split())
    assert "1 folder(s) the photos are to be filed in can be read" in warned, warned
    assert f"The backup folder {backup} was open" in warned
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    assert stat.S_IMODE(archive.stat().st_mode) == 0o755  # holds the clinic's own file


def test_a_folder_that_cannot_be_closed_is_said_to_stay_open(tmp_path: Path) -> None:
    """The preview leaves an empty archive or backup folder the ingest closes out of its
    warning, so a close that fails (root on a share that maps it to nobody; here an
    immutable folder, whose mode not even root may change) must say so, not pass silently."""
    require(os.geteuid() == 0 and shutil.which("chattr") is not None, "needs root and chattr")
    folder = tmp_path / "backup"
    folder.mkdir(mode=0o755)
    before = modes.empty_and_open(folder)
    assert before is not None
    subprocess.run(["chattr", "+i", folder], check=True)
    try:
        said = modes.close_folder(folder, "The backup folder", before)
    finally:
        subprocess.run(["chattr", "-i", folder], check=True)
    assert said is not None and said.startswith(
        f"The backup folder {folder} was open to other accounts"
    ), said
    assert "(mode drwxr-xr-x), and it stays so: its file system keeps no Unix modes" in said
    assert said.endswith("or would not change them")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_fix_permissions_never_follows_a_folder_swapped_for_a_link(tmp_path: Path) -> None:
    """verify found ``EVIL/victim`` open to others; the account that owns the archive then
    swapped ``EVIL`` for a link to a folder of root's, and root's `--fix-permissions`
    changed the mode of root's file there (an outside tester's report: a race won in 2 of 6
    tries). The folders below the archive are opened with no link followed."""
    from cardingest.archive.permissions import tighten

    archive, elsewhere = tmp_path / "archive", tmp_path / "roots"
    (archive / "EVIL").mkdir(parents=True)
    (archive / "EVIL" / "victim").write_text("theirs\n")
    elsewhere.mkdir()
    victim = elsewhere / "victim"
    victim.write_text("root's\n")
    victim.chmod(0o644)
    (archive / "EVIL").rename(archive / "EVIL.aside")
    (archive / "EVIL").symlink_to(elsewhere)
    changed, refused = tighten(archive, ["EVIL/victim"])
    assert changed == [] and refused[0].startswith("EVIL/victim: "), refused
    assert "a folder on its way is a link now" in refused[0]
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_new_folders_below_the_archive_never_go_through_a_link(tmp_path: Path) -> None:
    """With ``folder_template = "{id}/{year}"``, the account that owns the archive swapped
    the patient's folder for a link while root ingested: root made ``2008`` in the link's
    target, outside the archive, and gave it to that account (an outside tester won 4 of
    20). The folders below the archive are made one at a time with no link followed."""
    archive, elsewhere = tmp_path / "archive", tmp_path / "roots"
    archive.mkdir()
    elsewhere.mkdir()
    (archive / "JBX3656").symlink_to(elsewhere)
    with pytest.raises(OSError):
        modes.make_dirs_beneath(archive, ["JBX3656", "2008"])
    assert list(elsewhere.iterdir()) == []
    made = modes.make_dirs_beneath(archive, ["MCJ1984", "2008"])
    assert made == [archive / "MCJ1984", archive / "MCJ1984" / "2008"]
    assert stat.S_IMODE((archive / "MCJ1984" / "2008").stat().st_mode) == 0o700


def test_an_ingest_makes_no_folder_through_a_patient_folder_swapped_for_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race through the real ingest: the patient's folder, made and given its
    mode, is swapped for a link just before its year's folder is made; that must not
    appear at the link's target."""
    from exif_bytes import timed_card

    config = tmp_path / "config.toml"
    config.write_text('folder_template = "{id}/{year}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card, archive, elsewhere = tmp_path / "card", tmp_path / "archive", tmp_path / "roots"
    timed_card(card, count=1)
    elsewhere.mkdir()
    real_mkdir = os.mkdir

    made_there: list[bool] = []

    def swapped(path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        year = os.path.basename(os.fspath(path)) == "2024"
        if year:  # the year's folder, next
            (archive / "JBX3656").rename(archive / "JBX3656.aside")
            (archive / "JBX3656").symlink_to(elsewhere)
        real_mkdir(path, mode, dir_fd=dir_fd)
        if year:  # the run's clean-up of empty folders it made would hide it later
            made_there.append((elsewhere / "2024").exists())

    monkeypatch.setattr(os, "mkdir", swapped)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert made_there == [False] and list(elsewhere.iterdir()) == []


def test_a_copy_is_made_and_named_in_no_folder_swapped_for_a_link_after_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patient's folder checked (no link on the way), the account that owns the
    archive swapped it for a link before the copy's temporary was made: root made the
    temporary, and named the photo, at the link's target, given to that account. The
    temporary is now made, named and removed in the folder opened with no link followed."""
    from exif_bytes import exif_jpeg, timed_card

    from cardingest.storage import transfer

    card, archive, elsewhere = tmp_path / "card", tmp_path / "archive", tmp_path / "roots"
    folder = timed_card(card, count=2)
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == 0
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:03"))
    elsewhere.mkdir()
    real = transfer.leaves_root

    def swapped_after(root: Any, parts: Any) -> Any:
        found = real(root, parts)
        if list(parts) == ["JBX3656"] and not (archive / "JBX3656").is_symlink():
            (archive / "JBX3656").rename(archive / "JBX3656.aside")
            (archive / "JBX3656").symlink_to(elsewhere)
        return found

    monkeypatch.setattr(transfer, "leaves_root", swapped_after)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert list(elsewhere.iterdir()) == []
    said = " ".join(result.stdout.split())
    assert "became a link or a file as it was opened" in said, said
    assert (card / "DCIM" / "100CANON" / "IMG_0003.JPG").exists()


def test_a_folder_made_by_hand_for_a_new_archive_is_closed_as_cardingest_makes_its_own(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """With archive_group set, the empty 0755 folder was closed to 0700, shutting the
    clinic's group out of an archive whose patients' folders are 2750 (a re-trial); and
    root left one another account owns open to every account. It gets the mode cardingest
    gives its own folders: 2750 and the group; and root closes another account's too (the
    files it makes there are that account's)."""
    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    archive = tmp_path / "archive"
    archive.mkdir(mode=0o755)
    card, map_file = make_demo_card(tmp_path)
    result = cli("ingest", card, "--map", map_file, "--archive", archive, "--json")
    assert result.exit_code == 3, result.stderr
    assert stat.S_IMODE(archive.stat().st_mode) == 0o2750
    assert "made it private (drwxr-s---)" in " ".join(json.loads(result.stdout)["warnings"])
    assert cli("verify", "--archive", archive).exit_code == 0
    if os.geteuid() != 0:
        return
    config.write_text("allow_test_ids = true\n", encoding="utf-8")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    result = cli("ingest", card, "--map", map_file, "--archive", theirs, "--json")
    assert result.exit_code == 3, result.stderr
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o700 and theirs.stat().st_uid == 65534


def test_archive_group_with_a_backup_on_a_drive_without_owners_is_archived(
    tmp_path: Path, umask: None, config: Path, exfat_card: CardFactory
) -> None:
    """archive_group set, the backup on an exFAT USB drive (which keeps no owners or modes:
    its mount options decide): giving the first file the group failed ("Cannot write to …:
    Operation not permitted"), exit 1, where the preview had said all was well. It is taken
    as a chmod there is: the mount options decide, and the ingest goes on."""
    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    drive = exfat_card({"README.TXT": b"a USB drive\n"}, label="USB")
    card, map_file = make_demo_card(tmp_path)
    archive, backup = tmp_path / "archive", drive / "clinic-backup"
    result = cli("ingest", card, "--map", map_file, "--archive", archive, "--backup", backup)
    assert result.exit_code == 3, result.output  # the demo holds one photo
    assert len(list(backup.glob("*/*.jpg"))) == len(list(archive.glob("*/*.jpg"))) > 0
    # Its folders stay open as the mount made them: the warning's remedy was `verify
    # --fix-permissions`, which no chmod there can carry out.
    result = cli("preview", card, "--map", map_file, "--archive", archive, "--backup", backup,
                 "--json")  # fmt: skip
    warned = " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
    assert "can be changed by other accounts" in warned, warned
    assert "keeps no Unix modes, so no chmod or `verify --fix-permissions` can close it" in warned
    checked = cli("verify", "--archive", archive)
    said = " ".join(checked.stdout.split())
    assert checked.exit_code == 1 and "no chmod can: its mount options decide" in said, said


def test_an_archive_group_every_account_is_in_is_warned_of(config: Path, tmp_path: Path) -> None:
    """A leak trial: as root, archive_group may be any group, and `users`, which every
    account is meant to be in, was taken without a word: every account could read every
    photo filed. A group of some is the group's purpose, and not guessed at."""
    require(os.geteuid() == 0, "needs root: only root may name a group it is not in")
    card, map_file = make_demo_card(tmp_path)
    preview = ("preview", card, "--map", map_file, "--archive", tmp_path / "archive")

    def said(group: str) -> str:
        config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
        result = cli(*preview)
        assert result.exit_code == 3, result.output
        return " ".join(result.stderr.split())

    assert (
        f"config file {config}: archive_group 'users' is a group every account is in: each "
        "of them can read every photo filed from now on"
    ) in said("users")
    assert "archive_group" not in said("nogroup")


@contextlib.contextmanager
def map_in_shared_folder(mode: int) -> Iterator[tuple[Path, Path, tuple[Any, ...]]]:
    """The demo card and its map (of ``mode``) in a folder of /tmp others may enter (pytest's
    own is 0700); yields the folder, the map and the preview's argv with --json."""
    shared = Path(tempfile.mkdtemp(prefix="cardingest-map-", dir="/tmp"))
    try:
        shared.chmod(0o755)
        card, map_file = make_demo_card(shared)
        map_file.chmod(mode)
        yield (
            shared,
            map_file,
            ("preview", card, "--map", map_file, "--archive", shared / "archive", "--json"),
        )
    finally:
        shutil.rmtree(shared)


def test_an_id_map_another_account_of_its_group_can_read_is_warned_of(config: Path) -> None:
    """A review: a map of mode 0640 whose group holds other accounts (a shared `users` or
    `staff` group) was read without a word, as only the bits for every account were looked
    at. A group of the map's owner alone (Debian's own group per account) is no one else;
    the archive_group is meant to read patients' files."""
    require(os.geteuid() == 0, "needs root: only root gives a file to another account's group")
    theirs = grp.getgrnam("nogroup").gr_gid  # the account nobody's own group
    with map_in_shared_folder(0o640) as (_shared, map_file, preview):

        def warned() -> str:
            return " ".join(" ".join(json.loads(cli(*preview).stdout)["warnings"]).split())

        os.chown(map_file, 0, theirs)
        said = warned()
        assert f"the ID map {map_file} can be read by group nogroup (the account(s) " in said
        assert "nobody" in said.partition("nogroup")[2] and "mode 0640" in said, said
        assert f"chmod 600 {map_file}" in said
        os.chown(map_file, 0, 0)  # root's own group: no other account in it
        assert "ID map" not in warned()
        os.chown(map_file, 0, theirs)
        config.write_text('allow_test_ids = true\narchive_group = "nogroup"\n', encoding="utf-8")
        assert "ID map" not in warned()


def test_an_id_map_others_can_read_or_change_is_warned_of(config: Path) -> None:
    """A trial: a map saved again by a spreadsheet with the umask's mode (0644), in a folder
    others may enter, was read without a word (the config file's password gets one); so
    was one another account could change, or swap for its own, as the config file is."""
    with map_in_shared_folder(0o644) as (shared, map_file, preview):
        said = " ".join(" ".join(json.loads(cli(*preview).stdout)["warnings"]).split())
        assert (
            f"the ID map {map_file} can be read by every account on this computer (mode 0644): "
            f"it holds patients' IDs; chmod 600 {map_file}"
        ) in said, said
        given = cardingest(  # --map /dev/stdin: the file named, not /dev/stdin
            *preview[:3],
            "/dev/stdin",
            *preview[4:],
            home=shared / "home",
            env={"CARDINGEST_CONFIG": str(config)},
            prefix=("sh", "-c", f'exec "$0" "$@" < {map_file}'),
        )
        assert f"the ID map {map_file} can be read by every account" in " ".join(
            " ".join(json.loads(given.stdout)["warnings"]).split()
        ), given.stderr
        map_file.chmod(0o600)
        assert "ID map" not in " ".join(json.loads(cli(*preview).stdout)["warnings"])
        map_file.chmod(0o644)
        shared.chmod(0o700)  # no other account gets to it
        assert "ID map" not in " ".join(json.loads(cli(*preview).stdout)["warnings"])
        if os.geteuid() == 0:  # a map another account can change or swap
            os.chown(map_file, 65534, 65534)
            said = " ".join(" ".join(json.loads(cli(*preview).stdout)["warnings"]).split())
            assert (
                f"the ID map {map_file} belongs to the account nobody: it says whose photo is "
                "whose, so whoever can change it can file photos under other patients"
            ) in said, said
            os.chown(map_file, 0, 0)
            os.chown(shared, 65534, 65534)
            said = " ".join(" ".join(json.loads(cli(*preview).stdout)["warnings"]).split())
            assert f"the ID map {map_file} is in a folder other accounts can change" in said


def test_an_id_map_below_a_folder_every_account_may_change_is_warned_of(
    tmp_path: Path, config: Path
) -> None:
    """A second reader's find: a map of `0600` in a folder of `0700`, inside a `0777`
    exchange folder, passed without a word, while a contact sheet beside it was refused:
    any account could rename the `0700` folder and put one holding its own map in its
    place, and the photos go where that map says."""
    card, map_file = make_demo_card(tmp_path)
    mine = tmp_path / "exchange" / "mine"
    mine.mkdir(parents=True, mode=0o700)
    (tmp_path / "exchange").chmod(0o777)
    given = mine / "map.csv"
    shutil.move(map_file, given)
    given.chmod(0o600)
    preview = ("preview", card, "--map", given, "--archive", tmp_path / "archive", "--json")
    said = " ".join(" ".join(json.loads(cli(*preview).stdout)["warnings"]).split())
    assert f"the ID map {given} is in a folder other accounts can change" in said, said
    (tmp_path / "exchange").chmod(0o1777)
    said = " ".join(" ".join(json.loads(cli(*preview).stdout)["warnings"]).split())
    assert "ID map" not in said, said


def test_an_archive_or_backup_through_another_accounts_link_is_refused(
    tmp_path: Path, config: Path
) -> None:
    """A trial: a link another account made to a folder every account writes in, given as
    the archive (or the backup), was taken with no word, and the folder left 0777: the check
    of open folders passes over links. That account could list the patients' folders and
    swap them. Refused now, exit 2, as `share --out` refuses it; root's own link is taken."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the test gives a link to another account")
    card, map_file = make_demo_card(tmp_path)
    shared = tmp_path / "theirs"
    shared.mkdir()
    shared.chmod(0o777)
    link = tmp_path / "link"
    link.symlink_to(shared)
    os.lchown(link, 65534, 65534)
    said = f"leads through {link}, a symbolic link the account nobody made"
    for command, where in (
        ("preview", ("--archive", link)),
        ("ingest", ("--archive", link)),
        ("ingest", ("--archive", tmp_path / "a", "--backup", link / "backup")),
    ):
        result = cli(command, card, "--map", map_file, *where, "--json")
        assert result.exit_code == 2, (command, where, result.stderr)
        assert said in " ".join(result.stderr.split()), result.stderr
    assert list(shared.iterdir()) == [] and stat.S_IMODE(shared.stat().st_mode) == 0o777
    fake = tmp_path / "their-archive"  # a review: an archive of theirs made the link trusted
    (fake / ".cardingest").mkdir(parents=True)
    (fake / ".cardingest" / "catalogue.sqlite").write_bytes(b"x")
    for made in (fake / ".cardingest" / "catalogue.sqlite", fake / ".cardingest", fake):
        os.chown(made, 65534, 65534)
    to_fake = tmp_path / "to-their-archive"
    to_fake.symlink_to(fake)
    os.lchown(to_fake, 65534, 65534)
    result = cli("preview", card, "--map", map_file, "--archive", to_fake, "--json")
    assert result.exit_code == 2 and f"leads through {to_fake}" in " ".join(
        result.stderr.split()
    ), result.stderr
    os.lchown(link, 0, 0)
    result = cli("ingest", card, "--map", map_file, "--archive", link, "--json")
    assert result.exit_code == 3, result.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700


def test_an_archive_in_another_accounts_folder_is_warned_of(tmp_path: Path, config: Path) -> None:
    """A trial: root made a new archive in a folder another account owns, with no word; that
    account renamed it aside and put a link to its own folder in its place, and the next
    ingest filed there as "a new archive". Warned of now, for the archive and the backup;
    an archive in a folder of root's is not."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the test gives a folder to another account")
    card, map_file = make_demo_card(tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    archive, backup = theirs / "archive", theirs / "backup"
    said = (
        f"the archive folder {archive} is in {theirs}, which belongs to the account nobody: "
        "they could rename it"
    )
    for command in ("preview", "ingest"):
        result = cli(command, card, "--map", map_file, "--archive", archive,
                     "--backup", backup, "--json")  # fmt: skip
        warnings = " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
        assert said in warnings, warnings
        assert f"the backup folder {backup} is in {theirs}" in warnings, warnings
    mine = tmp_path / "mine"
    result = cli("preview", card, "--map", map_file, "--archive", mine, "--json")
    assert "which belongs to" not in " ".join(json.loads(result.stdout)["warnings"])


def test_an_archive_below_a_folder_every_account_may_change_is_warned_of(
    tmp_path: Path, config: Path
) -> None:
    """A trial: an archive made in the user's own `0777` exchange folder, with no word;
    another account renamed it aside and made a folder of its own in its place, and the
    next ingest filed there as "a new archive". Warned of now, for the archive and the
    backup, even a level below; the sticky bit (`/tmp`'s) lets nobody rename what is not
    theirs, and is no warning."""
    card, map_file = make_demo_card(tmp_path)
    exchange = tmp_path / "exchange"
    (exchange / "nas").mkdir(parents=True)
    exchange.chmod(0o777)
    archive, backup = exchange / "archive", exchange / "nas" / "backup"
    said = (
        f"the archive folder {archive} is in {exchange}, which every account may write in "
        "without the sticky bit /tmp has (mode drwxrwxrwx): any of them could rename the "
        "archive"
    )
    for command in ("preview", "ingest"):
        result = cli(command, card, "--map", map_file, "--archive", archive,
                     "--backup", backup, "--json")  # fmt: skip
        assert result.exit_code in (0, 3), result.stderr
        warnings = " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
        assert said in warnings, warnings
        assert f"the backup folder {backup} is in {exchange}, which every account" in warnings
    exchange.chmod(0o1777)
    result = cli("preview", card, "--map", map_file, "--archive", archive, "--json")
    assert "without the sticky bit" not in " ".join(json.loads(result.stdout)["warnings"])


def test_outputs_below_a_folder_every_account_may_change_are_refused(
    tmp_path: Path, config: Path
) -> None:
    """A trial: in the user's own `0777` exchange folder another account renamed a new
    referral folder aside and put its own in its place, and `share` copied the photos into
    it, exit 0; a map, a slate or a contact sheet there could be swapped for one naming
    another patient. Every `--out` and `--sheet` below such a folder is refused, exit 2,
    nothing written; one with the sticky bit is taken."""
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    assert cli("ingest", card, "--map", map_file, "--archive", archive).exit_code in (0, 3)
    exchange = tmp_path / "exchange"
    (exchange / "deeper").mkdir(parents=True)
    exchange.chmod(0o777)
    runs = {
        "map-template": ("map-template", card, "--out", exchange / "map.csv"),
        "slate": ("slate", "ZAC5361", "--out", exchange / "deeper" / "slate.png"),
        "preview --sheet": ("preview", card, "--map", map_file, "--archive", archive,
                            "--sheet", exchange / "sheet.html"),
        "share": ("share", "ZAC5361", "--archive", archive, "--out", exchange / "ref"),
        "dicom export": ("dicom", "export", "--archive", archive, "--out",
                         exchange / "deeper" / "cd"),
    }  # fmt: skip
    for what, args in runs.items():
        result = cli(*args)
        said = " ".join(result.stderr.split())
        assert result.exit_code == 2, (what, said)
        assert f"is in {exchange}, a folder every account may write in without the sticky" in (
            said
        ), (what, said)
    assert sorted(p.name for p in exchange.rglob("*")) == ["deeper"]
    exchange.chmod(0o1777)
    result = cli("slate", "ZAC5361", "--out", exchange / "deeper" / "slate.png")
    assert result.exit_code == 0, result.stderr
    result = cli("share", "ZAC5361", "--archive", archive, "--out", exchange / "ref")
    assert result.exit_code == 0, result.stderr


def test_a_folder_open_to_swaps_is_found_at_any_level(tmp_path: Path) -> None:
    """`modes.open_to_swaps` looks at every folder above the path, through links as the
    writes go, and passes over a sticky one and one only its group may write in (a
    clinic's shared folder: its members are the ones it is shared with)."""
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    assert modes.open_to_swaps(top / "a" / "b" / "new" / "file") is None
    (top / "a").chmod(0o777)
    assert modes.open_to_swaps(top / "a" / "b" / "new" / "file") == (top / "a", os.stat(top / "a"))
    assert modes.open_to_swaps(top / "a") is None  # the folder itself is judged by its caller
    (tmp_path / "link").symlink_to(top / "a" / "b")
    assert modes.open_to_swaps(tmp_path / "link" / "file") == (top / "a", os.stat(top / "a"))
    (top / "a").chmod(0o1777)
    assert modes.open_to_swaps(top / "a" / "b" / "file") is None
    (top / "a").chmod(0o770)
    assert modes.open_to_swaps(top / "a" / "b" / "file") is None


def _facl(*args: str | Path) -> str:
    require(shutil.which("setfacl") is not None, "needs setfacl (Debian package acl)")
    subprocess.run(["setfacl", *map(str, args)], check=True)
    return subprocess.run(
        ["getfacl", "-p", str(args[-1])], capture_output=True, text=True, check=True
    ).stdout


def _nobody_reads(path: Path) -> tuple[object, ...]:
    from otheraccount import as_nobody

    return as_nobody(lambda: path.read_bytes()[:2])


def test_an_access_control_list_naming_an_account_is_exposure_even_with_an_archive_group(
    umask: None, config: Path
) -> None:
    """With an archive_group, 0640 photos in 2750 folders are as cardingest makes them, and
    `verify` called them private though `setfacl -R -m u:nobody:rX` let nobody read every
    photo: the mode's group bits are the list's mask, which nobody's entry gets too. Now
    each is exposed, and `--fix-permissions` removes nobody's entries, the archive_group
    keeping its read."""
    from otheraccount import reachable_folder

    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    with reachable_folder("acl-") as folder:
        archive, _ = ingest_demo(folder)
        photo = next((archive / "ZAC5361").glob("*.jpg"))
        assert cli("verify", "--archive", archive).exit_code == 0
        _facl("-R", "-m", "u:nobody:rX", archive)
        assert _nobody_reads(photo) == ("ok", b"\xff\xd8")  # the leak is real
        result = cli("verify", "--archive", archive, "--json")
        assert result.exit_code == 1
        exposed = exposed_paths(result.stdout)
        shown = photo.relative_to(archive).as_posix()
        assert {".", "ZAC5361", shown} <= set(exposed), exposed
        assert exposed[shown] == (
            "file open to the accounts or groups its access control list names (getfacl shows "
            "them) (mode -rw-r-----+)"
        )
        fixed = cli("verify", "--archive", archive, "--fix-permissions")
        assert fixed.exit_code == 0, fixed.stdout
        assert _nobody_reads(photo)[:2] == ("raised", "PermissionError")
        assert stat.S_IMODE(photo.stat().st_mode) == 0o640  # the archive_group still reads it
        assert stat.S_IMODE(photo.parent.stat().st_mode) == 0o2750
        for path, _mode in everything(archive):
            assert modes.acl_entries(path) == [], path
        assert cli("verify", "--archive", archive).exit_code == 0


def test_an_entry_for_the_archive_group_is_no_exposure(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """A list naming the archive_group itself (`setfacl -m g:GROUP:r`) gives it no more than
    the archive_group may have: not exposed, and `--fix-permissions` leaves it."""
    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    archive, _ = ingest_demo(tmp_path)
    photo = next((archive / "ZAC5361").glob("*.jpg"))
    listed = _facl("-m", f"g:{group}:r", photo)
    assert f"group:{group}:r--" in listed
    assert not modes.has_acl(photo) and modes.acl_entries(photo)
    assert cli("verify", "--archive", archive).exit_code == 0
    _facl("-m", "u:nobody:r", photo)
    assert modes.has_acl(photo)
    assert cli("verify", "--archive", archive, "--fix-permissions").exit_code == 0
    after = subprocess.run(["getfacl", "-p", photo], capture_output=True, text=True).stdout
    assert f"group:{group}:r--" in after and "nobody" not in after, after


def test_a_default_access_control_list_is_closed_before_the_first_photo_inherits_it(
    umask: None, config: Path
) -> None:
    """`setfacl -d -m u:nobody:rX` on the archive folder: with an archive_group every folder
    and photo made in it inherited nobody's entry, masked by 2750 and 0640 to read. An
    empty archive folder is closed before the first copy, the default list included; one
    that holds photos is reported by `verify` (what is filed in it from now on), and
    `--fix-permissions` removes the default entries."""
    from otheraccount import reachable_folder

    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    with reachable_folder("acl-") as folder:
        archive = folder / "archive"
        archive.mkdir()
        archive.chmod(0o755)
        _facl("-d", "-m", "u:nobody:rX", archive)
        card, map_file = make_demo_card(folder)
        result = cli("ingest", card, "--map", map_file, "--archive", archive, "--json")
        assert result.exit_code == 3, result.stderr
        said = " ".join(json.loads(result.stdout)["warnings"])
        assert "a folder whose default access control list" not in said
        assert f"The archive folder {archive} was open to " in said, said
        photo = next((archive / "ZAC5361").glob("*.jpg"))
        assert modes.acl_entries(photo) == []
        assert modes.acl_entries(archive, modes.ACL_DEFAULT) == []  # nothing named left: gone
        assert _nobody_reads(photo)[:2] == ("raised", "PermissionError")

        _facl("-d", "-m", "u:nobody:rX", archive / "ZAC5361")
        exposed = exposed_paths(cli("verify", "--archive", archive, "--json").stdout)
        assert exposed == {
            "ZAC5361": "folder whose default access control list opens what other programs "
            "put in it to the accounts or groups it names (getfacl shows them) (mode "
            "drwxr-s---+)"
        }
        more = folder / "more"
        timed_card(more)
        preview = cli("preview", more, "--id", "ZAC5361", "--archive", archive, "--json")
        warned = " ".join(json.loads(preview.stdout)["warnings"])
        assert "default access control list" not in warned  # what it files drops them
        before = set((archive / "ZAC5361").iterdir())
        assert cli("ingest", more, "--id", "ZAC5361", "--archive", archive).exit_code == 0
        made = set((archive / "ZAC5361").iterdir()) - before  # none with nobody's entry
        assert made and all(modes.acl_entries(path) == [] for path in made)
        assert all(_nobody_reads(path)[:2] == ("raised", "PermissionError") for path in made)
        assert cli("verify", "--archive", archive, "--fix-permissions").exit_code == 0
        assert not modes.has_acl(archive / "ZAC5361", modes.ACL_DEFAULT)
        assert cli("verify", "--archive", archive).exit_code == 0


def test_without_an_archive_group_a_default_list_lets_no_one_in_and_is_not_reported(
    umask: None, config: Path
) -> None:
    """Without an archive_group cardingest makes 0600 files and 0700 folders, whose masks
    let no inherited entry in: nobody reads nothing, and nothing is reported."""
    from otheraccount import reachable_folder

    with reachable_folder("acl-") as folder:
        archive, _ = ingest_demo(folder)
        _facl("-m", "u:nobody:rx", archive)
        _facl("-m", "u:nobody:rx", archive / "ZAC5361")
        _facl("-d", "-m", "u:nobody:rX", archive / "ZAC5361")
        _facl("-m", "m::---", archive)
        _facl("-m", "m::---", archive / "ZAC5361")
        result = cli("verify", "--archive", archive, "--json")
        assert exposed_paths(result.stdout) == {}, result.stdout


def test_a_share_closes_the_access_control_lists_of_an_empty_out_folder(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """`share --out` into an empty folder whose lists name nobody: with an archive_group its
    2750 mode let nobody list the patient's photos through the list; they are taken off,
    and said so, before the first copy."""
    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    archive, _ = ingest_demo(tmp_path)
    out = tmp_path / "referral"
    out.mkdir(mode=0o750)
    _facl("-m", "u:nobody:rx", out)
    _facl("-d", "-m", "u:nobody:rX", out)
    result = cli("share", "ZAC5361", "--archive", archive, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert f"--out {out} was open to the accounts or groups its access control list" in (
        result.stderr + result.stdout
    )
    for path, _mode in everything(out):
        assert not modes.has_acl(path) and not modes.has_acl(path, modes.ACL_DEFAULT), path


def test_an_archive_given_as_a_link_has_its_folders_lists_read_where_it_leads(
    umask: None, config: Path
) -> None:
    """`--archive LINK` to a folder whose list names nobody (an archive on a mounted disk):
    the list was read from the link, which has none, so an empty archive was not closed,
    nothing was said, and `verify` said "all match" while nobody listed the patients."""
    from otheraccount import as_nobody, reachable_folder

    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    with reachable_folder("acl-") as folder:
        real, link = folder / "disk", folder / "archive"
        real.mkdir(mode=0o750)
        os.chown(real, -1, os.getegid())
        _facl("-m", "u:nobody:rx", real)
        link.symlink_to(real)
        card, map_file = make_demo_card(folder)
        result = cli("ingest", card, "--map", map_file, "--archive", link, "--json")
        assert result.exit_code == 3, result.stderr
        said = " ".join(json.loads(result.stdout)["warnings"])
        assert f"The archive folder {link} was open to the accounts or groups" in said, said
        assert as_nobody(lambda: os.listdir(real))[:2] == ("raised", "PermissionError")
        _facl("-m", "u:nobody:rx", real)
        exposed = exposed_paths(cli("verify", "--archive", link, "--json").stdout)
        assert list(exposed) == ["."], exposed
        assert cli("verify", "--archive", link, "--fix-permissions").exit_code == 0
        assert as_nobody(lambda: os.listdir(real))[:2] == ("raised", "PermissionError")


def test_the_catalogues_own_files_inherit_nothing_from_a_default_list_on_its_folder(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """SQLite makes the catalogue's `-wal` and `-shm` itself, so they took `.cardingest`'s
    default list (`setfacl -d -m u:nobody:r`), and nobody read patients' IDs out of them
    during an ingest. The list is closed before SQLite opens the catalogue."""
    from cardingest.archive.catalogue import Catalogue

    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    archive, _ = ingest_demo(tmp_path)
    meta = archive / ".cardingest"
    _facl("-d", "-m", "u:nobody:r", meta)
    modes.share_with_group(os.getegid())
    with Catalogue.open(archive) as catalogue:
        catalogue.ingests()
        logs = [meta / "catalogue.sqlite-wal", meta / "catalogue.sqlite-shm"]
        assert all(path.exists() for path in logs)
        assert [modes.acl_entries(path) for path in logs] == [[], []]
    assert modes.acl_entries(meta, modes.ACL_DEFAULT) == []


def test_an_entry_giving_the_archive_group_read_on_a_file_of_another_group_is_kept(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """A photo whose owning group is not the archive_group, closed to it (`g::---`), with the
    archive_group named (`g:GROUP:r`): the mode's group bits are the mask, the archive_group's
    read. It was called open to the owning group, and the fix lowered the mask, taking the
    archive_group's read away. Now it is no exposure; with the owning group given read too,
    the fix takes that alone."""
    group = grp.getgrgid(os.getegid()).gr_name
    config.write_text(f'allow_test_ids = true\narchive_group = "{group}"\n', encoding="utf-8")
    archive, _ = ingest_demo(tmp_path)
    photo = next((archive / "ZAC5361").glob("*.jpg"))
    os.chown(photo, -1, another_group())
    _facl("-m", f"g::---,g:{group}:r", photo)
    assert cli("verify", "--archive", archive).exit_code == 0
    _facl("-m", "g::r", photo)
    exposed = exposed_paths(cli("verify", "--archive", archive, "--json").stdout)
    assert list(exposed) == [photo.relative_to(archive).as_posix()], exposed
    assert cli("verify", "--archive", archive, "--fix-permissions").exit_code == 0
    listed = subprocess.run(["getfacl", "-p", photo], capture_output=True, text=True).stdout
    assert f"group:{group}:r--" in listed and "group::---" in listed, listed
    assert cli("verify", "--archive", archive).exit_code == 0


def test_an_entry_naming_the_owner_is_not_group_write(
    tmp_path: Path, umask: None, config: Path
) -> None:
    """`setfacl -m u:OWNER:rwx` on a patient's folder makes the mask rwx, so its mode shows
    group write though only the owner may write: no "can be written by its group"."""
    archive, _ = ingest_demo(tmp_path)
    owner = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    _facl("-m", f"u:{owner}:rwx", archive / "ZAC5361")
    assert stat.S_IMODE((archive / "ZAC5361").stat().st_mode) & 0o070 == 0o070
    card = tmp_path / "more"
    timed_card(card)
    preview = cli("preview", card, "--id", "ZAC5361", "--archive", archive, "--json")
    warned = " ".join(json.loads(preview.stdout)["warnings"])
    assert "can be written" not in warned and "can be read by other" not in warned, warned
    assert cli("verify", "--archive", archive).exit_code == 0


@pytest.mark.parametrize(
    ("entries", "closed"),
    [
        pytest.param(  # nobody dropped; the archive_group named keeps read, not write
            [(1, 7, -1), (2, 7, 65534), (4, 5, -1), (8, 7, "G"), (16, 7, -1), (32, 0, -1)],
            [(1, 7, -1), (4, 5, -1), (8, 5, "G"), (16, 5, -1), (32, 0, -1)],
            id="stranger-and-archive-group",
        ),
        pytest.param(  # nothing named left: the mask goes, the owning group within it
            [(1, 6, -1), (2, 4, 65534), (4, 5, -1), (16, 4, -1), (32, 0, -1)],
            [(1, 6, -1), (4, 4, -1), (32, 0, -1)],
            id="mask-dropped",
        ),
        pytest.param(  # the owner named keeps all; a group other than G nothing
            [(1, 7, -1), (2, 7, "OWNER"), (4, 5, -1), (8, 4, 65534), (16, 7, -1), (32, 0, -1)],
            [(1, 7, -1), (2, 7, "OWNER"), (4, 5, -1), (16, 7, -1), (32, 0, -1)],
            id="owner-named",
        ),
    ],
)
def test_closing_a_list_takes_only_what_is_too_open(
    umask: None, entries: list[tuple[int, int, Any]], closed: list[tuple[int, int, Any]]
) -> None:
    """`_closed_entries` on lists in the kernel's form (tag, permissions, id): the owning
    group is the archive_group G; the owner's id is OWNER."""
    gid, owner = os.getegid(), os.geteuid()
    modes.share_with_group(gid)
    ids = {-1: 0xFFFFFFFF, "G": gid, "OWNER": owner}

    def real(rows: list[tuple[int, int, Any]]) -> list[tuple[int, int, int]]:
        return sorted((tag, perm, ids.get(ident, ident)) for tag, perm, ident in rows)

    assert sorted(modes._closed_entries(real(entries), owner, gid)) == real(closed)
