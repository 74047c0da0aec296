"""A backup folder that moved (`catalogue backup-moved`), each rule pinned where a mutant of
``archive/relocate`` changed it unseen.

Written for the mutation round on ``archive/relocate`` (docs/testing.md): test_backup_moved.py
runs the CLI in a subprocess, which mutmut does not count, so every mutant but those its
Ctrl-C test reached lived. Here the demo card is ingested with a backup and the backup
folder renamed, all in this process (`clinic_helpers.cli`), on real files and the real
SQLite catalogue; `relocate_backup` and its helpers are called directly where the CLI
hides what they return. A catalogue row is changed with SQL only to make what an ingest
cannot (a second backup folder, a photo with no backup copy, a problem mark).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from clinic_helpers import cli
from conftest import LoopDisk, tmpfs_on

from cardingest.archive.catalogue import Catalogue
from cardingest.archive.relocate import (
    Mismatch,
    Relocation,
    backup_root,
    check_new_place,
    folder,
    recorded_roots,
    relocate_backup,
)
from cardingest.archive.verify import LINKED
from cardingest.demo import make_demo_card
from cardingest.errors import AuditError, CatalogueError, UsageError

OPERATOR = "nurse-kim"


@pytest.fixture
def moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(archive, old, new): the demo card ingested with a backup in ``b1``, then ``b1``
    renamed ``b2`` (a backup disk mounted at another folder)."""
    config = tmp_path / "config.toml"
    config.write_text(f'allow_test_ids = true\noperator = "{OPERATOR}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card, map_file = make_demo_card(tmp_path / "demo")
    archive, old = tmp_path / "archive", tmp_path / "b1"
    done = cli("ingest", card, "--map", map_file, "--archive", archive, "--backup", old)
    assert done.exit_code == 3, done.stderr  # the demo card holds a photo no row covers
    new = old.rename(tmp_path / "b2")
    return archive, old, new


def db(archive: Path) -> sqlite3.Connection:
    return sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite")


def rows(archive: Path) -> list[tuple[str, str | None, str | None, int]]:
    with db(archive) as conn:
        found = conn.execute(
            "SELECT archive_path, backup_path, problem, size FROM files ORDER BY archive_path"
        ).fetchall()
    conn.close()
    return found


def ingest_backups(archive: Path) -> list[str]:
    with db(archive) as conn:
        found = [row[0] for row in conn.execute("SELECT backup FROM ingests")]
    conn.close()
    return found


def sql(archive: Path, statement: str, *params: object) -> None:
    conn = db(archive)
    with conn:
        conn.execute(statement, params)
    conn.close()


def events(archive: Path) -> list[dict]:
    text = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def records(archive: Path) -> list:
    with Catalogue.open(archive, create=False) as catalogue:
        return list(catalogue.records())


def relocate(archive: Path, old: Path, new: Path) -> Relocation:
    return relocate_backup(archive, old, new, operator=OPERATOR)


def test_every_copy_read_then_every_path_and_ingest_rewritten_and_audited(
    moved: tuple[Path, Path, Path],
) -> None:
    """What the catalogue names afterwards, what the run reports and what the audit event
    says: each backup path under ``new`` with the same path below it, the ingest's backup
    folder, each copy's bytes read once (the progress bar's total and its steps), and the
    event's fields."""
    archive, old, new = moved
    before = rows(archive)
    totals: list[int] = []
    steps: list[int] = []
    report = relocate_backup(
        archive, old, new, operator=OPERATOR, on_total=totals.append, on_bytes=steps.append
    )
    size = sum(row[3] for row in before)
    assert report == Relocation(str(old), str(new), 5, 1, size, (), already=0, same_disk=True)
    assert report.moved
    assert totals == [size] and sum(steps) == size
    after = rows(archive)
    assert [(a, b) for a, b, _, _ in after] == [
        (a, str(new / Path(b).relative_to(old))) for a, b, _, _ in before if b is not None
    ]
    assert all(Path(b).is_file() for _, b, _, _ in after if b is not None)
    assert ingest_backups(archive) == [str(new)]
    event = events(archive)[-1]
    assert {k: event[k] for k in event if k not in ("host", "prev", "seq", "ts")} == {
        "event": "backup-moved",
        "operator": OPERATOR,
        "archive": str(archive),
        "old": str(old),
        "new": str(new),
        "photos": 5,
        "ingests": 1,
    }


def test_the_cli_reports_it_in_json_and_again_says_already(
    moved: tuple[Path, Path, Path],
) -> None:
    archive, old, new = moved
    size = sum(row[3] for row in rows(archive))
    done = cli("catalogue", "backup-moved", old, new, "--archive", archive, "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout) == {
        "old": str(old),
        "new": str(new),
        "moved": True,
        "photos": 5,
        "ingests": 1,
        "bytes": size,
        "mismatches": [],
        "already": 0,
        "same_disk": True,
        "config_names_old": False,
    }
    count = len(events(archive))
    again = relocate(archive, old, new)
    assert again == Relocation(str(old), str(new), 0, 0, 0, (), already=5)
    assert again.moved
    assert len(events(archive)) == count  # nothing changed, nothing recorded


def test_a_copy_damaged_or_missing_changes_nothing_and_each_is_named(
    moved: tuple[Path, Path, Path],
) -> None:
    """All or nothing: four copies whole, one damaged, one missing: no path changes, no
    event, and the two are named with their archive path, path, status and detail."""
    archive, old, new = moved
    before, count = rows(archive), len(events(archive))
    damaged = new / "ZAA0067" / "ZAA0067-20261124-094107.jpg"
    damaged.write_bytes(b"\0" + damaged.read_bytes()[1:])
    missing = new / "ZAC5361" / "ZAC5361-20261124-091640.jpg"
    missing.unlink()
    report = relocate(archive, old, new)
    assert not report.moved and report.photos == 5 and report.ingests == 0
    assert report.bytes == sum(r[3] for r in before if not r[0].endswith("091640.jpg"))
    by_path = {m.archive_path: m for m in report.mismatches}
    assert sorted(by_path) == ["ZAA0067/ZAA0067-20261124-094107.jpg",
                               "ZAC5361/ZAC5361-20261124-091640.jpg"]  # fmt: skip
    gone = by_path["ZAC5361/ZAC5361-20261124-091640.jpg"]
    assert gone == Mismatch(gone.archive_path, str(missing), "missing", "not found")
    changed = by_path["ZAA0067/ZAA0067-20261124-094107.jpg"]
    assert (changed.path, changed.status) == (str(damaged), "changed")
    with db(archive) as conn:
        sha256 = dict(conn.execute("SELECT archive_path, sha256 FROM files").fetchall())
    conn.close()
    read = hashlib.sha256(damaged.read_bytes()).hexdigest()
    assert changed.detail == f"sha256 {read}, expected {sha256[changed.archive_path]}"
    assert rows(archive) == before
    assert ingest_backups(archive) == [str(old)]
    assert len(events(archive)) == count


def test_a_hard_link_to_the_archive_copy_is_named_as_no_second_copy(
    moved: tuple[Path, Path, Path],
) -> None:
    archive, old, new = moved
    name = "ZAA0067/ZAA0067-20261124-094107.jpg"
    copy = new / name
    copy.unlink()
    os.link(archive / name, copy)
    report = relocate(archive, old, new)
    assert report.mismatches == (Mismatch(name, str(copy), "changed", LINKED),)
    assert all(b is not None and b.startswith(f"{old}/") for _, b, _, _ in rows(archive))


@pytest.mark.parametrize("count", [5, 2, 1])
def test_no_copy_at_the_new_place_is_refused_as_the_wrong_folder(
    moved: tuple[Path, Path, Path], tmp_path: Path, count: int
) -> None:
    """Every copy missing is a wrong folder, not a damaged backup: refused with the first
    path it looked for, in the singular for one copy. One copy there is not refused so."""
    archive, old, _new = moved
    for name in [row[0] for row in rows(archive)][count:]:  # the first `count` keep theirs
        sql(archive, "UPDATE files SET backup_path = NULL WHERE archive_path = ?", name)
    empty = tmp_path / "empty"
    first_path = empty / rows(archive)[0][0]  # the first by archive path, as read
    first_path.parent.mkdir(parents=True)
    with pytest.raises(UsageError) as refused:
        relocate(archive, old, empty)
    which = (
        f"None of the {count} backup copies recorded in {old} is in {empty}"
        if count > 1
        else f"The backup copy recorded in {old} is not in {empty}"
    )
    assert refused.value.message == (
        f"{which} (the first would be {first_path}): is {empty} the backup folder? Give the "
        "folder that holds the patient folders."
    )
    first_path.write_bytes(b"not the photo")  # one copy there, damaged: no refusal
    report = relocate(archive, old, empty)
    assert [m.status for m in report.mismatches] == ["changed"] + ["missing"] * (count - 1)


def test_only_the_copies_in_old_move_and_their_backup_marks_are_cleared(
    moved: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A photo whose backup copy is in another folder stays there; a photo with none stays
    without. A backup copy's mark is cleared (the copy was just read whole); an archive
    copy's mark is kept."""
    archive, old, new = moved
    names = [row[0] for row in rows(archive)]  # the photo with no EXIF is named by today
    other = tmp_path / "elsewhere" / names[4]
    update = "UPDATE files SET {} = ? WHERE archive_path = ?"
    sql(archive, update.format("backup_path"), str(other), names[4])
    sql(archive, update.format("backup_path"), None, names[1])
    sql(archive, update.format("backup_path"), None, names[2])
    backup_mark = f"backup copy {Path(names[3]).name} is missing"
    archive_mark = f"archive copy {Path(names[0]).name} no longer matches"
    sql(archive, update.format("problem"), backup_mark, names[3])
    sql(archive, update.format("problem"), archive_mark, names[0])
    (new / names[4]).unlink()  # not asked for: its copy is in `other`
    report = relocate(archive, old, new)
    assert report.moved and report.photos == 2, report
    assert {a: (b, p) for a, b, p, _ in rows(archive)} == {
        names[0]: (str(new / names[0]), archive_mark),
        names[1]: (None, None),
        names[2]: (None, None),
        names[3]: (str(new / names[3]), None),
        names[4]: (str(other), None),
    }


def test_roots_are_counted_per_folder_and_a_record_with_no_backup_has_none(
    moved: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    archive, old, _new = moved
    other = tmp_path / "other"
    sql(archive, "UPDATE files SET backup_path = ? || substr(backup_path, ?) "
        "WHERE archive_path LIKE 'ZAA0067/%'", str(other), len(str(old)) + 1)  # fmt: skip
    sql(archive, "UPDATE files SET backup_path = NULL WHERE archive_path LIKE '%-2.jpg'")
    found = records(archive)
    assert [backup_root(r) for r in found] == [other, other, None, old, old]
    assert recorded_roots(found) == {other: 2, old: 2}
    assert recorded_roots([]) == {}


def test_an_old_folder_the_catalogue_does_not_name_is_refused_with_the_ones_it_does(
    moved: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    archive, old, new = moved
    other = tmp_path / "a-other"
    sql(archive, "UPDATE files SET backup_path = ? || substr(backup_path, ?) "
        "WHERE archive_path LIKE 'ZAA0067/ZAA0067-20261124%'", str(other),
        len(str(old)) + 1)  # fmt: skip
    wrong = tmp_path / "b0"
    with pytest.raises(UsageError) as refused:
        relocate(archive, wrong, new)
    assert refused.value.message == (
        f"No backup copy is recorded in {wrong}. The catalogue's backup folders: {other} (1 "
        f"copy), {old} (4 copies). Give one of them as the old folder (as `verify` or the "
        "wipe names it)."
    )
    sql(archive, "UPDATE files SET backup_path = NULL")
    with pytest.raises(UsageError) as none:
        relocate(archive, wrong, new)
    assert none.value.message == (
        f"No photo of this archive has a backup copy recorded: nothing to point at {new}."
    )


def test_an_audit_log_that_cannot_take_the_event_is_asked_before_any_copy_is_read(
    moved: tuple[Path, Path, Path],
) -> None:
    """The log is asked before any copy is read: a torn last line refuses the run."""
    archive, old, new = moved
    before = rows(archive)
    with (archive / ".cardingest" / "audit.jsonl").open("ab") as log:
        log.write(b'{"event": "torn')
    steps: list[int] = []
    with pytest.raises(AuditError, match="audit --repair"):
        relocate_backup(archive, old, new, operator=OPERATOR, on_bytes=steps.append)
    assert steps == [] and rows(archive) == before


def test_new_places_that_cannot_be_the_backup_are_refused(
    moved: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    archive, old, new = moved

    def refusal(place: Path, old_place: Path = old) -> str:
        with pytest.raises(UsageError) as refused:
            check_new_place(archive, old_place, place)
        return refused.value.message

    gone = tmp_path / "gone"
    assert refusal(gone) == (
        f"The new backup folder {gone} is not there: connect the backup disk, and give the "
        "folder that holds its patient folders (and its .cardingest)."
    )
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"")
    assert refusal(a_file).startswith(f"The new backup folder {a_file} is not a folder: ")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(gone)
    assert refusal(dangling).startswith(f"The new backup folder {dangling} is not a folder: ")
    assert refusal(new, new) == (
        f"The old and new backup folders are the same ({new}): nothing to do."
    )
    link = tmp_path / "link"
    link.symlink_to(new, target_is_directory=True)
    assert refusal(link, new) == (
        f"The new backup folder {link} is the old one, {new}, by another path (a symbolic "
        "link or a second mount of it): nothing moved, so nothing to do."
    )
    inside = archive / "ZAA0067"
    for place in (archive, inside, tmp_path):
        assert refusal(place) == (
            f"{place} is the archive {archive}, or a folder in it or around it: the backup "
            "is a second copy on another disk."
        )
    other = tmp_path / "other"
    (other / ".cardingest").mkdir(parents=True)
    (other / ".cardingest" / "audit.jsonl").write_bytes(b"")
    assert refusal(other) == (
        f"The new backup folder {other} is an archive (its .cardingest holds audit.jsonl), "
        "not a backup folder: its copies belong to that archive, and the manifests `verify "
        "--fix-manifests` writes for the backup would go into its metadata, which then makes "
        "its ingests refuse. Give the folder the backup itself was moved or copied to."
    )
    assert refusal(Path("/proc/sys")) == (
        "The backup /proc/sys is on proc (/proc), a view of the running system that holds "
        "no files: give a folder on a disk."
    )
    check_new_place(archive, old, new)  # the real new place passes
    check_new_place(archive, tmp_path / "gone-too", new)  # an old folder that is not there


def test_a_new_place_in_memory_is_refused(moved: tuple[Path, Path, Path], tmp_path: Path) -> None:
    archive, old, _new = moved
    ram = tmp_path / "ram"
    ram.mkdir()
    with tmpfs_on(ram, 4), pytest.raises(UsageError) as refused:
        check_new_place(archive, old, ram)
    assert refused.value.message == (
        f"{ram} is on tmpfs, in memory: a restart loses every copy there."
    )


def test_a_folder_is_made_absolute_and_normal_without_following_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real", target_is_directory=True)
    assert folder("~/backup/../b2/") == home / "b2"
    assert folder(str(tmp_path / "via" / "x" / ".")) == tmp_path / "via" / "x"
    monkeypatch.chdir(tmp_path)
    assert folder(Path("via/./y")) == tmp_path / "via" / "y"
    assert isinstance(folder("~"), Path)


def test_a_patient_folder_at_the_new_place_that_is_a_link_holds_no_copy(
    moved: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Copies are read as copies under ``new``: a patient folder there that is a symbolic
    link holds none, though the files it leads to (on another disk, say the card's) match
    every record. Read through the link, the catalogue was pointed at them."""
    archive, old, new = moved
    before = rows(archive)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    patient = (new / "ZAA0067").rename(elsewhere / "ZAA0067")
    (new / "ZAA0067").symlink_to(patient, target_is_directory=True)
    report = relocate(archive, old, new)
    assert [(m.archive_path, m.status, m.detail) for m in report.mismatches] == [
        (a, "unreadable", "its folder ZAA0067 is a symbolic link")
        for a, _, _, _ in before
        if a.startswith("ZAA0067/")
    ]
    assert rows(archive) == before


def test_a_folder_with_no_catalogue_gets_none_made(tmp_path: Path) -> None:
    """The catalogue is opened as it is, never made: a folder whose ``.cardingest`` holds
    only an empty audit log (no ingest yet) is refused as having no catalogue, and is left
    without one. Made, the run went on to say no photo had a backup copy."""
    archive, old, new = tmp_path / "archive", tmp_path / "b1", tmp_path / "b2"
    (archive / ".cardingest").mkdir(parents=True)
    (archive / ".cardingest" / "audit.jsonl").write_bytes(b"")
    new.mkdir()
    with pytest.raises(CatalogueError) as refused:
        relocate(archive, old, new)
    catalogue = archive / ".cardingest" / "catalogue.sqlite"
    assert refused.value.message == f"No catalogue at {catalogue}"
    assert sorted(p.name for p in (archive / ".cardingest").iterdir()) == ["audit.jsonl"]


def test_a_new_place_on_the_archives_own_disk_is_warned_of_and_another_disk_is_not(
    moved: tuple[Path, Path, Path], loop_ext4: LoopDisk
) -> None:
    """A relocation's find: a backup copied next to the archive was taken without a word,
    and the wipe then cleared cards whose two copies were on one disk. An ingest starting
    such a backup says so; `backup-moved` now does too (stderr, and `same_disk` in JSON).
    On a disk of its own (an ext4 loop device here) nothing is said."""
    archive, old, new = moved
    done = cli("catalogue", "backup-moved", old, new, "--archive", archive, "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["same_disk"] is True
    assert f"{new} is on the same disk as the archive" in " ".join(done.stderr.split())
    elsewhere = loop_ext4.mount / "backup"
    shutil.copytree(new, elsewhere, symlinks=True)
    again = cli("catalogue", "backup-moved", new, elsewhere, "--archive", archive, "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["same_disk"] is False
    assert "same disk" not in again.stderr
