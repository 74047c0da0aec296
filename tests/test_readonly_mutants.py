"""`archive/readonly` on its own: when the archive counts as writable (a read-only mount,
another account's folders, a catalogue or metadata folder this account may not write),
when its disk counts as full and when SQLite could fault there (real tmpfs and ext4 file
systems of the test's own, filled to the byte), and the private copy of a catalogue with a
hot write-ahead log. Root's checks as another account run as nobody (`as_nobody`).
Written for the mutation round on ``archive/readonly`` (docs/testing.md)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cardimage import require
from conftest import LoopDisk, fill, tmpfs_on
from otheraccount import NOBODY, as_nobody, reachable_folder

from cardingest.archive.backend import catalogue_path
from cardingest.archive.catalogue import Catalogue
from cardingest.archive.readonly import (
    FULL_BELOW,
    disk_full,
    private_copy,
    reading,
    sqlite_could_fault,
    writable,
)
from cardingest.errors import CatalogueError

HOT_WAL = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint = 0")
db.execute("CREATE TABLE probe (said TEXT)")
db.execute("INSERT INTO probe VALUES ('only in the WAL')")
os._exit(0)  # like kill -9: no checkpoint, the table lives only in the WAL
"""


def _catalogue(archive: Path, hot: bool = False) -> Path:
    """A real, empty catalogue at ``archive`` (and a table only its hot WAL holds)."""
    archive.mkdir(parents=True, exist_ok=True)
    Catalogue.open(archive).close()
    database = catalogue_path(archive)
    if hot:
        subprocess.run([sys.executable, "-c", HOT_WAL, str(database)], check=True)
        assert database.with_name(database.name + "-wal").stat().st_size > 0
    return database


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def _opened(catalogue: Catalogue) -> Path:
    """The file SQLite has open as the catalogue's database."""
    return Path(catalogue._conn.execute("PRAGMA database_list").fetchone()[2])


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder private copies are made in, this test's alone."""
    folder = tmp_path / "tmp"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def readonly_view(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/ro``, where ``tmp_path/archive`` is bound read-only once the test calls
    ``bind``; unmounted after."""
    require(os.geteuid() == 0, "a read-only bind mount needs root")
    target = tmp_path / "ro"
    target.mkdir()
    yield target
    if f" {target} " in Path("/proc/mounts").read_text():
        subprocess.run(["umount", str(target)], check=False)


def _bind_readonly(source: Path, target: Path) -> None:
    try:
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        require(False, f"cannot make a read-only bind mount here: {exc}")


def test_a_new_archive_folder_is_writable_and_has_room(tmp_path: Path) -> None:
    """Before an archive has its ``.cardingest`` (the first ingest), its own folder is what
    is judged: writable, not full; and with the folder but no catalogue yet, writable."""
    archive = tmp_path / "archive"
    archive.mkdir()
    assert writable(archive) is True
    assert disk_full(archive) is False and sqlite_could_fault(archive) is False
    (archive / ".cardingest").mkdir()
    assert writable(archive) is True


def test_what_this_account_may_not_write_is_not_writable(tmp_path: Path) -> None:
    """Run as nobody, in archives of its own: a ``.cardingest`` it may not write (whoever
    owns the catalogue, and the archive folder above), or a catalogue it may not write, is
    not writable; its own throughout is."""
    with reachable_folder("cardingest-writable-") as top:
        cases = {}
        for name, meta_owner, database_owner in (
            ("meta-root", 0, NOBODY),
            ("meta-root-no-catalogue", 0, None),
            ("catalogue-root", NOBODY, 0),
            ("own", NOBODY, NOBODY),
        ):
            archive = top / name
            meta = archive / ".cardingest"
            meta.mkdir(parents=True)
            archive.chmod(0o755)
            meta.chmod(0o755)
            os.chown(archive, NOBODY, NOBODY)
            os.chown(meta, meta_owner, meta_owner)
            if database_owner is not None:
                database = catalogue_path(archive)
                database.write_bytes(b"")
                database.chmod(0o644)
                os.chown(database, database_owner, database_owner)
            cases[name] = archive
        answer = as_nobody(lambda: {name: writable(archive) for name, archive in cases.items()})
        # root may write them all (and is seen reaching `writable` here by mutmut, which
        # does not see the forked child's calls): os.access asks of the real user ID
        assert all(writable(archive) for archive in cases.values())
    assert answer == (
        "ok",
        {"meta-root": False, "meta-root-no-catalogue": False, "catalogue-root": False, "own": True},
    )


def test_a_read_only_archive_is_read_from_a_private_copy_that_holds_its_hot_wal(
    tmp_path: Path, readonly_view: Path, own_tmp: Path
) -> None:
    """On a read-only mount root may not write either: not writable; the catalogue is read
    from a copy (with the table only the WAL holds), said to be the archive's own, and the
    copy is gone after. Nothing in the archive changes: no -shm, no replay."""
    archive = tmp_path / "archive"
    _catalogue(archive, hot=True)
    assert writable(archive) is True
    _bind_readonly(archive, readonly_view)
    before = _tree(archive)
    assert writable(readonly_view) is False
    with reading(readonly_view) as catalogue:
        assert catalogue.path == catalogue_path(readonly_view)
        assert _opened(catalogue).is_relative_to(own_tmp)
        rows = catalogue._conn.execute("SELECT said FROM probe").fetchall()
        assert rows == [("only in the WAL",)]
    assert os.listdir(own_tmp) == []
    subprocess.run(["umount", str(readonly_view)], check=True)
    assert _tree(archive) == before


def test_a_writable_archive_is_read_in_place(tmp_path: Path, own_tmp: Path) -> None:
    archive = tmp_path / "archive"
    database = _catalogue(archive)
    with reading(archive) as catalogue:
        assert catalogue.path == database
        assert _opened(catalogue) == database.resolve()
    assert os.listdir(own_tmp) == []


def test_the_private_copy_holds_the_catalogue_and_its_wal_and_goes_after(
    tmp_path: Path, own_tmp: Path
) -> None:
    archive = tmp_path / "archive"
    database = _catalogue(archive, hot=True)
    before = _tree(archive)
    with private_copy(archive) as folder:
        assert folder.parent == own_tmp
        copy = catalogue_path(folder)
        assert copy.read_bytes() == database.read_bytes()
        wal = database.with_name(database.name + "-wal")
        assert copy.with_name(copy.name + "-wal").read_bytes() == wal.read_bytes()
        seen = sqlite3.connect(copy)
        try:
            assert seen.execute("SELECT said FROM probe").fetchall() == [("only in the WAL",)]
        finally:
            seen.close()
    assert not folder.exists() and os.listdir(own_tmp) == []
    assert _tree(archive) == before


def test_a_private_copy_of_no_catalogue_or_of_one_that_cannot_be_read_says_so(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "none"
    (archive / ".cardingest").mkdir(parents=True)
    with pytest.raises(CatalogueError) as raised, private_copy(archive):
        pass
    assert str(raised.value) == f"No catalogue at {catalogue_path(archive)}"
    with reachable_folder("cardingest-copy-") as top:
        closed = top / "closed"
        database = _catalogue(closed)
        for folder in (closed, closed / ".cardingest"):
            folder.chmod(0o755)
        database.chmod(0o600)  # root's alone

        def copy() -> None:
            with private_copy(closed):
                pass

        answer = as_nobody(copy)
    assert answer == (
        "raised",
        "CatalogueError",
        f"Cannot read catalogue {database}: Permission denied",
    )


def test_exactly_full_below_free_is_not_full_and_a_page_less_is(tmp_path: Path) -> None:
    """A tmpfs of exactly FULL_BELOW bytes (4 KiB pages, as large as a memory page): empty,
    it is not full; a page used, it is. SQLite cannot fault there (no holes in a page)."""
    archive = tmp_path / "archive"
    archive.mkdir()
    assert FULL_BELOW == 1 << 20
    with tmpfs_on(archive, 1):
        (archive / ".cardingest").mkdir()
        found = os.statvfs(archive)
        require(found.f_bavail * found.f_frsize == FULL_BELOW, f"tmpfs gave {found}")
        assert disk_full(archive) is False and sqlite_could_fault(archive) is False
        (archive / ".cardingest" / "page").write_bytes(bytes(found.f_frsize))
        assert disk_full(archive) is True and sqlite_could_fault(archive) is False


def test_the_disk_judged_is_the_one_holding_cardingest_or_else_the_archive(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    meta = archive / ".cardingest"
    meta.mkdir(parents=True)
    with tmpfs_on(meta, 1):  # the metadata on a disk of its own, full
        fill(meta)
        assert disk_full(archive) is True
    assert disk_full(archive) is False
    new = tmp_path / "new"
    new.mkdir()
    with tmpfs_on(new, 1):  # an archive not made yet, on a full disk
        fill(new)
        assert disk_full(new) is True


def test_sqlite_could_fault_on_a_nearly_full_disk_of_small_blocks(
    loop_ext4_small_blocks: LoopDisk,
) -> None:
    archive = loop_ext4_small_blocks.mount / "archive"
    (archive / ".cardingest").mkdir(parents=True)
    assert sqlite_could_fault(archive) is False
    fill(loop_ext4_small_blocks.mount)
    assert disk_full(archive) is True and sqlite_could_fault(archive) is True
    (loop_ext4_small_blocks.mount / "filler").unlink()
    assert sqlite_could_fault(archive) is False


def test_a_full_archive_disk_is_read_from_a_private_copy(tmp_path: Path, own_tmp: Path) -> None:
    """Writable, but SQLite cannot open its -shm and -wal on a disk with no room: read from
    a copy, said to be the archive's catalogue, which is left as it was."""
    archive = tmp_path / "archive"
    archive.mkdir()
    with tmpfs_on(archive, 1):
        database = _catalogue(archive)
        fill(archive)
        before = _tree(archive)
        assert writable(archive) is True and disk_full(archive) is True
        with reading(archive) as catalogue:
            assert catalogue.path == database
            assert _opened(catalogue).is_relative_to(own_tmp)
        assert os.listdir(own_tmp) == []
        assert _tree(archive) == before


HOT_JOURNAL = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = DELETE")
db.execute("CREATE TABLE files (patient_id TEXT, pad TEXT)")
db.execute("BEGIN")
db.executemany("INSERT INTO files VALUES ('JBX3656', ?)", [("x" * 500,)] * 3000)
db.execute("COMMIT")
db.execute("PRAGMA cache_size = 5")  # the changed pages spill into the database file
db.execute("BEGIN")
db.execute("UPDATE files SET patient_id = 'ACA31FM'")  # a move, killed before its commit
os._exit(0)
"""


def test_a_hot_rollback_journal_is_copied_so_an_uncommitted_move_is_rolled_back(
    tmp_path: Path, own_tmp: Path
) -> None:
    """A catalogue in rollback-journal mode (`single_workstation`) whose run was killed
    mid-transaction has changed pages in the database file and the old ones in its
    `-journal`. Copied without the journal, the copy read the uncommitted rows as
    committed: 3000 photos under the other patient. With it, SQLite rolls them back."""
    archive = tmp_path / "archive"
    (archive / ".cardingest").mkdir(parents=True)
    database = catalogue_path(archive)
    subprocess.run([sys.executable, "-c", HOT_JOURNAL, str(database)], check=True)
    assert database.with_name(database.name + "-journal").stat().st_size > 0
    with private_copy(archive) as folder:
        copy = sqlite3.connect(catalogue_path(folder))
        try:
            rows = copy.execute("SELECT patient_id, count(*) FROM files GROUP BY 1").fetchall()
        finally:
            copy.close()
    assert rows == [("JBX3656", 3000)]
