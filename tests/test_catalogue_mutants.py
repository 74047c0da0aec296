"""The catalogue's less-travelled paths, each checked against values written out by hand.

Written for the mutation run of ``archive/catalogue`` (issue 20, docs/testing.md): every
test here failed on at least one mutant that the older tests let through. Real SQLite files
made by the real code, a real sshfs mount for the network refusal, and a real PostgreSQL
server (Unix socket only) for an archive moved there by ``cardingest catalogue migrate``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from clinic_helpers import invoke

from cardingest.archive import backend
from cardingest.archive import catalogue as catalogue_module
from cardingest.archive.backend import (
    CatalogueLocation,
    bind,
    catalogue_path,
    check_not_migrated,
    check_sqlite_place,
    migrated_to,
    refuse_network,
)
from cardingest.archive.catalogue import Catalogue, CatalogueRecord, require_catalogue
from cardingest.errors import CatalogueError, ConfigError
from cardingest.models import ArchivedFile


@pytest.fixture(autouse=True)
def unbound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Archive bindings (``backend.bind``) made by a test stay in that test."""
    monkeypatch.setattr(backend, "_BOUND", {})


def digest(text: str) -> str:
    """A real sha256 (with letters in it, so upper and lower case differ)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rec(
    patient_id: str = "JBX3656",
    name: str = "JBX3656-20080530-155601.jpg",
    *,
    content: str = "photo 1",
    size: int = 1001,
    source: str = "DCIM/100CANON/IMG_0001.JPG",
    **extra: object,
) -> CatalogueRecord:
    fields: dict[str, object] = {
        "patient_id": patient_id,
        "archive_path": f"{patient_id}/{name}",
        "sha256": digest(content),
        "size": size,
        "captured_at": "2008-05-30T15:56:01",
        "captured_raw": "2008-05-30T15:56:01",
        "time_source": "exif:DateTimeOriginal",
        "source_path": source,
        "card_label": "EOS_DIGITAL",
        "card_serial": "1234-ABCD",
        "ingest_id": "ing-1",
        "operator": "nurse1",
    }
    fields.update(extra)
    return CatalogueRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def cat(tmp_path: Path) -> Iterator[Catalogue]:
    with Catalogue.open(tmp_path / "archive") as catalogue:
        yield catalogue


def rows(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


# --- where a SQLite catalogue may live -------------------------------------------------


def test_a_catalogue_on_a_network_share_is_refused_with_both_ways_out(share: Path) -> None:
    archive = share / "archive"
    expected = (
        f"The archive {archive} is on a network file system (fuse.sshfs); a SQLite catalogue"
        " there can be corrupted when more than one machine writes to it."
    )
    advice = [
        "Several workstations: keep the catalogue in PostgreSQL (catalogue ="
        ' "postgresql://…" in the config, or --catalogue URL; see "Several workstations"'
        " in the README).",
        "Only ever one machine writing there: set single_workstation = true in the config.",
    ]
    for refuse in (
        lambda: refuse_network(archive),
        lambda: check_sqlite_place(archive, single_workstation=False),
        lambda: Catalogue.open(archive),
    ):
        with pytest.raises(ConfigError) as caught:
            refuse()
        assert (caught.value.message, caught.value.details) == (expected, advice)
    assert not archive.exists(), "nothing may be written when refused"
    check_sqlite_place(archive, single_workstation=True)
    assert not archive.exists()


def test_single_workstation_opens_it_with_a_rollback_journal(share: Path) -> None:
    archive = share / "archive"
    bind(archive, CatalogueLocation(single_workstation=True))
    with Catalogue.open(archive) as cat:
        cat.add([rec()])
    assert rows(catalogue_path(archive), "PRAGMA journal_mode") == [("delete",)]
    with Catalogue.open(archive, create=False) as cat:
        assert [r.archive_path for r in cat.records()] == ["JBX3656/JBX3656-20080530-155601.jpg"]


def test_a_local_archive_is_not_refused(tmp_path: Path) -> None:
    refuse_network(tmp_path)
    check_sqlite_place(tmp_path / "archive", single_workstation=False)


# --- an archive whose catalogue is in PostgreSQL ----------------------------------------


def test_an_archive_tied_to_postgresql_without_its_url_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (archive / ".cardingest").mkdir(parents=True)
    (archive / ".cardingest" / "archive-id").write_text(
        "0123456789abcdef0123456789abcdef\n", encoding="ascii"
    )
    expected = f"The catalogue of {archive} is in PostgreSQL, and no --catalogue URL was given"
    details = [
        'Give --catalogue URL, set $CARDINGEST_CATALOGUE, or put catalogue = "…" in the config'
        ' (see "Several workstations" in the README).'
    ]
    for check in (
        lambda: check_not_migrated(archive),
        lambda: check_sqlite_place(archive, single_workstation=True),
        lambda: require_catalogue(archive, "so nothing can be removed"),
        lambda: Catalogue.open(archive),
    ):
        with pytest.raises(ConfigError) as caught:
            check()
        assert (caught.value.message, caught.value.details) == (expected, details)
    assert not catalogue_path(archive).exists()


def test_an_archive_id_next_to_a_sqlite_catalogue_is_not_refused_here(tmp_path: Path) -> None:
    """Half-migrated (the id written, the mark not yet): `pg.tie` deals with it, not this."""
    archive = tmp_path / "archive"
    with Catalogue.open(archive) as cat:
        cat.add([rec()])
    (archive / ".cardingest" / "archive-id").write_text(
        "0123456789abcdef0123456789abcdef\n", encoding="ascii"
    )
    check_not_migrated(archive)
    require_catalogue(archive)
    assert migrated_to(archive) is None


def test_no_catalogue_names_the_file_and_what_it_means(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    path = archive / ".cardingest" / "catalogue.sqlite"
    with pytest.raises(CatalogueError) as caught:
        require_catalogue(archive, "so nothing can be removed")
    assert caught.value.message == (
        f"No catalogue at {path}: nothing is archived in {archive}, so nothing can be removed."
        " Is --archive right?"
    )
    with pytest.raises(CatalogueError) as caught:
        require_catalogue(archive)
    assert caught.value.message == (
        f"No catalogue at {path}: nothing is archived in {archive}. Is --archive right?"
    )
    assert not archive.exists()
    with Catalogue.open(archive):
        pass
    require_catalogue(archive, "so nothing can be removed")


def test_migrated_to_reads_only_a_real_mark(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    assert migrated_to(archive) is None, "no file"
    with Catalogue.open(archive) as cat:
        cat.add([rec()])
    assert migrated_to(archive) is None, "a catalogue never moved"
    path = catalogue_path(archive)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE migrated_to (url TEXT, archive_id TEXT, at TEXT)")
        conn.commit()
    assert migrated_to(archive) is None, "the table, but no row in it"
    path.write_bytes(b"not a database at all, " * 200)
    assert migrated_to(archive) is None, "unreadable: not taken for a move"


@pytest.fixture
def moved(
    tmp_path: Path, pg_url: str, test_ids: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """A SQLite archive moved to PostgreSQL by the real ``catalogue migrate`` command, as a
    later command with no ``--catalogue`` finds it (the command's own binding forgotten)."""
    archive = tmp_path / "archive"
    with Catalogue.open(archive) as cat:
        cat.add([rec()])
    code, _out, err = invoke("catalogue", "migrate", "--to", pg_url, "--archive", archive)
    assert code == 0, err
    monkeypatch.setattr(backend, "_BOUND", {})
    return archive, pg_url


def test_a_migrated_archive_points_to_its_database(moved: tuple[Path, str]) -> None:
    archive, url = moved
    assert migrated_to(archive) == url
    expected = f"The catalogue of {archive} has moved to PostgreSQL: {url}"
    user, _, host = url.removeprefix("postgresql://").partition("@")
    assert user and host, url  # the owner's URL, as migrate was given it
    details = [
        f"Use --catalogue postgresql://DESK_ROLE@{host} with the desks' role and its password "
        f'(not {user}, which migrated the catalogue and owns its tables: see "Several '
        'workstations" in the README), set $CARDINGEST_CATALOGUE, or put catalogue = "…" '
        "in the config."
    ]
    for check in (
        lambda: check_not_migrated(archive),
        lambda: check_sqlite_place(archive, single_workstation=True),
        lambda: require_catalogue(archive),
        lambda: Catalogue.open(archive),
        lambda: Catalogue.open(archive, create=False),
    ):
        with pytest.raises(ConfigError) as caught:
            check()
        assert (caught.value.message, caught.value.details) == (expected, details)
    with Catalogue.open_sqlite(archive, create=False, migrating=True) as cat:
        assert cat.count() == 1, "the migration itself still reads the old file"


def test_require_catalogue_asks_postgresql_when_the_archive_is_bound_there(
    tmp_path: Path, pg_url: str, moved: tuple[Path, str]
) -> None:
    empty = tmp_path / "empty"
    bind(empty, CatalogueLocation(url=pg_url))
    with pytest.raises(CatalogueError) as caught:
        require_catalogue(empty, "so nothing can be removed")
    assert caught.value.message == (
        f"No catalogue for {empty} in {pg_url}: nothing is archived there, so nothing can be"
        " removed. Is --archive right?"
    )
    archive, url = moved
    bind(archive, CatalogueLocation(url=url))
    require_catalogue(archive, "so nothing can be removed")
    with Catalogue.open(archive, create=False) as cat:
        assert [r.archive_path for r in cat.records()] == ["JBX3656/JBX3656-20080530-155601.jpg"]
    with pytest.raises(CatalogueError, match="nothing is archived there"):
        Catalogue.open(empty, create=False)
    assert not (empty / ".cardingest" / "archive-id").exists()
    with Catalogue.open(empty) as cat:
        assert cat.count() == 0
        cat.add([rec(content="new")])
    assert (empty / ".cardingest" / "archive-id").is_file()
    assert not catalogue_path(empty).exists(), "no SQLite file for a PostgreSQL archive"
    with Catalogue.open(empty, create=False) as cat:
        assert [r.sha256 for r in cat.records()] == [digest("new")]


# --- opening -----------------------------------------------------------------------------


def test_a_new_catalogue_is_durable_and_private(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Catalogue.open(archive) as cat:
        conn = cat._conn.conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,), "FULL"
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.isolation_level is None, "each write is its own explicit transaction"
    path = catalogue_path(archive)
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, "no access for group or others"
    with Catalogue.open(archive, create=False) as cat:
        conn = cat._conn.conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.isolation_level is None
        cat.add([rec()])
        assert cat.count() == 1


def test_opening_a_missing_catalogue_without_create_names_it(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with pytest.raises(CatalogueError) as caught:
        Catalogue.open(archive, create=False)
    assert caught.value.message == f"No catalogue at {catalogue_path(archive)}"


def test_a_catalogue_that_cannot_leave_wal_mode_now_says_why(tmp_path: Path) -> None:
    """Another program reads the WAL catalogue: it cannot switch to a rollback journal."""
    archive = tmp_path / "archive"
    with Catalogue.open(archive) as cat:
        cat.add([rec()])
    with closing(sqlite3.connect(catalogue_path(archive))) as other:
        other.execute("BEGIN")
        other.execute("SELECT count(*) FROM files").fetchone()
        with pytest.raises(CatalogueError) as caught:
            Catalogue.open_sqlite(archive, wal=False)
        other.execute("COMMIT")
    assert caught.value.message.startswith(
        f"Cannot open catalogue {catalogue_path(archive)}: database is locked: another "
        "program kept the catalogue locked for writing"
    )
    assert rows(catalogue_path(archive), "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_a_damaged_catalogue_file_says_to_restore_it(tmp_path: Path, damage: str) -> None:
    """A trial: random bytes or a cut file in catalogue.sqlite said only "file is not a
    database" or "malformed", where a file gone or empty says to restore it."""
    archive = tmp_path / "archive"
    with Catalogue.open(archive) as cat:
        cat.add([rec()])
    path = catalogue_path(archive)
    data = path.read_bytes()
    path.write_bytes(os.urandom(len(data)) if damage == "garbage" else data[: len(data) // 3])
    for leftover in path.parent.glob("catalogue.sqlite-*"):
        leftover.unlink()
    with pytest.raises(CatalogueError) as caught, Catalogue.open(archive) as cat:
        cat.add([rec(name="JBX3656-20240301-100001.jpg", content="photo 2")])
    assert "the catalogue file is damaged. Restore catalogue.sqlite" in caught.value.message


def test_an_unreadable_folder_is_a_catalogue_error(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / ".cardingest").write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        Catalogue.open(archive)
    assert caught.value.message.startswith(f"Cannot open catalogue {catalogue_path(archive)}: ")


# --- migrations ---------------------------------------------------------------------------


def old_catalogue(archive: Path, version: int) -> Path:
    """A catalogue file as cardingest made it at schema ``version``."""
    path = catalogue_path(archive)
    path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(path)) as conn:
        for migration in catalogue_module.MIGRATIONS[:version]:
            migration(conn)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
    return path


def test_a_version_5_photo_is_a_photo_after_the_upgrade(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    path = old_catalogue(archive, 5)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "INSERT INTO files (patient_id, archive_path, sha256, size, captured_at,"
            " captured_raw, time_source) VALUES ('JBX3656', 'JBX3656/a.jpg', ?, 5,"
            " '2008-05-30T15:56:01', '2008-05-30T15:56:01', 'mtime')",
            (digest("a"),),
        )
        conn.commit()
    with Catalogue.open(archive) as cat:
        [record] = cat.records()
        assert record.role == "photo"
        assert role_paths(cat, "photo") == {"JBX3656/a.jpg"}
        assert role_paths(cat, "slate") == set()
    assert rows(path, "PRAGMA user_version") == [(6,)]


def test_every_table_and_index_of_the_current_schema(cat: Catalogue) -> None:
    path = Path(cat.path)
    found = rows(path, "SELECT type, name, tbl_name FROM sqlite_master WHERE sql IS NOT NULL")
    assert sorted(found) == sorted(
        [
            ("table", "files", "files"),
            ("table", "keywords", "keywords"),
            ("table", "ingests", "ingests"),
            ("table", "sightings", "sightings"),
            ("table", "dicom_sends", "dicom_sends"),
            ("index", "files_patient", "files"),
            ("index", "files_captured", "files"),
            ("index", "files_sha256", "files"),
            ("index", "keywords_value", "keywords"),
            ("index", "sightings_file", "sightings"),
            ("index", "files_ingest", "files"),
            ("index", "files_source", "files"),
            ("index", "dicom_sends_file", "dicom_sends"),
        ]
    )
    columns = {row[1]: row[2:] for row in rows(path, "PRAGMA table_info(files)")}
    assert columns["problem"] == ("TEXT", 0, None, 0)
    assert columns["role"] == ("TEXT", 1, "'photo'", 0)
    assert rows(path, "PRAGMA user_version") == [(6,)]


def test_a_migration_another_process_finished_meanwhile_is_not_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two programs open a version-5 file at once: the second finds version 6 inside its
    exclusive transaction and must not add the column a second time."""
    archive = tmp_path / "archive"
    path = old_catalogue(archive, 5)
    real = catalogue_module._migrate

    def racing(conn: sqlite3.Connection, where: Path) -> None:
        with closing(sqlite3.connect(path)) as first:  # the other program, done first
            catalogue_module.MIGRATIONS[5](first)
            first.execute("PRAGMA user_version = 6")
            first.commit()
        real(conn, where)

    monkeypatch.setattr(catalogue_module, "_migrate", racing)
    with Catalogue.open(archive) as cat:
        cat.add([rec(role="slate")])
        assert role_paths(cat, "slate") == {"JBX3656/JBX3656-20080530-155601.jpg"}
    assert rows(path, "PRAGMA user_version") == [(6,)]


# --- writing and reading records ----------------------------------------------------------


def test_content_is_kept_in_lower_case_hex(cat: Catalogue) -> None:
    shouted = rec(sha256=digest("photo 1").upper())
    cat.add([shouted])
    [stored] = cat.records()
    assert stored.sha256 == digest("photo 1")
    assert rows(Path(cat.path), "SELECT sha256 FROM files") == [(digest("photo 1"),)]
    cat.add([shouted])  # the same file again: a resumed ingest, not a clash
    cat.add([rec()])
    assert cat.count() == 1
    assert cat.has_sha("JBX3656", digest("photo 1").upper()) == stored
    assert cat.find_by_sha(digest("photo 1").upper()) == [stored]


def test_other_content_at_a_catalogued_path_names_what_is_there(cat: Catalogue) -> None:
    cat.add([rec()])
    with pytest.raises(CatalogueError) as caught:
        cat.add([rec(content="another photo")])
    assert caught.value.message == (
        "JBX3656/JBX3656-20080530-155601.jpg is already catalogued with other content"
        f" (sha256 {digest('photo 1')}, ID JBX3656)"
    )
    with pytest.raises(CatalogueError, match="already catalogued with other content"):
        cat.add([rec(patient_id="MCJ1984", archive_path="JBX3656/JBX3656-20080530-155601.jpg")])


def test_an_unknown_consent_lists_the_known_ones(cat: Catalogue) -> None:
    with pytest.raises(CatalogueError) as caught:
        cat.add([rec(consent="public")])
    assert caught.value.message == (
        "Unknown consent 'public': expected one of record, teaching, publication"
    )
    cat.add([rec(consent="")])
    assert [r.consent for r in cat.records()] == [None]


def test_keywords_are_trimmed_and_each_kept_once_in_order(cat: Catalogue) -> None:
    cat.add([rec(diagnosis=("naevus", " melanoma ", "", "naevus", "  ", "melanoma"))])
    [stored] = cat.records()
    assert stored.diagnosis == ("naevus", "melanoma")
    cat.update_keywords(
        stored.archive_path, diagnosis=("bcc", "bcc ", " ", "scc"), site=None, consent=None
    )
    assert [r.diagnosis for r in cat.records()] == [("bcc", "scc")]
    assert rows(Path(cat.path), "SELECT position, value FROM keywords ORDER BY position") == [
        (0, "bcc"),
        (1, "scc"),
    ]


def test_a_record_carries_its_own_row_id(cat: Catalogue) -> None:
    cat.add([rec(), rec("MCJ1984", "MCJ1984-20080530-155602.jpg", content="photo 2")])
    stored = {r.archive_path: r.rowid for r in cat.records()}
    in_file = dict(rows(Path(cat.path), "SELECT archive_path, id FROM files"))
    assert stored == in_file
    assert sorted(stored.values()) == [1, 2]
    assert cat.record("MCJ1984/MCJ1984-20080530-155602.jpg") == next(
        r for r in cat.records() if r.patient_id == "MCJ1984"
    )
    assert cat.record("MCJ1984/missing.jpg") is None


def test_opening_defaults_create_a_wal_catalogue_and_refuse_a_moved_one(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Catalogue.open_sqlite(archive) as cat:  # create and WAL unless told otherwise
        cat.add([rec()])
    assert rows(catalogue_path(archive), "PRAGMA journal_mode") == [("wal",)]
    local = tmp_path / "single"
    bind(local, CatalogueLocation(single_workstation=True))
    with Catalogue.open(local) as cat:
        cat.add([rec()])
    assert rows(catalogue_path(local), "PRAGMA journal_mode") == [("delete",)]
    with Catalogue.open(local, create=False) as cat:
        assert cat.count() == 1
    assert rows(catalogue_path(local), "PRAGMA journal_mode") == [("delete",)]


def test_a_newer_schema_names_the_file_and_both_versions(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    path = old_catalogue(archive, 6)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 9")
        conn.commit()
    with pytest.raises(CatalogueError) as caught:
        Catalogue.open(archive)
    assert caught.value.message == (
        f"Catalogue {path} has schema version 9; this cardingest knows up to 6."
        " Upgrade cardingest to use this archive."
    )


# --- the same bytes seen again on a card: sightings -----------------------------------------


def test_a_sighting_is_found_with_its_own_card_path_and_planned_as_archived(
    cat: Catalogue,
) -> None:
    first = rec()
    cat.add([first, rec("MCJ1984", "MCJ1984-1.jpg", content="other", size=77)])
    cat.add_sighting(
        first.archive_path,
        source_path="DCIM/101CANON/IMG_0100.JPG",
        card_label="SPARE",
        card_serial="9999-0000",
        ingest_id="ing-2",
    )
    [own, seen] = cat.find_by_sha(digest("photo 1"))
    assert own.source_path == "DCIM/100CANON/IMG_0001.JPG"
    assert (seen.source_path, seen.card_label, seen.card_serial, seen.ingest_id) == (
        "DCIM/101CANON/IMG_0100.JPG",
        "SPARE",
        "9999-0000",
        "ing-2",
    )
    assert (seen.archive_path, seen.patient_id, seen.sha256, seen.rowid) == (
        own.archive_path,
        "JBX3656",
        digest("photo 1"),
        own.rowid,
    )
    assert [r.archive_path for r in cat.find_by_sha(digest("other"))] == ["MCJ1984/MCJ1984-1.jpg"]
    state = cat.archive_state(["JBX3656"])
    assert sorted(state.archived, key=lambda a: a.source_path) == [
        ArchivedFile(
            "JBX3656",
            "JBX3656/JBX3656-20080530-155601.jpg",
            digest("photo 1"),
            1001,
            "DCIM/100CANON/IMG_0001.JPG",
            "2008-05-30T15:56:01",
            captured_at="2008-05-30T15:56:01",
        ),
        ArchivedFile(
            "JBX3656",
            "JBX3656/JBX3656-20080530-155601.jpg",
            digest("photo 1"),
            1001,
            "DCIM/101CANON/IMG_0100.JPG",
            "2008-05-30T15:56:01",
            captured_at="2008-05-30T15:56:01",
        ),
    ]
    assert state.taken_paths == {"JBX3656/JBX3656-20080530-155601.jpg"}


def test_a_sighting_is_recorded_once_per_card_and_path(cat: Catalogue) -> None:
    first = rec()
    cat.add([first])
    for serial in ("9999-0000", "9999-0000", None, None, "1111-2222"):
        cat.add_sighting(
            first.archive_path,
            source_path="DCIM/101CANON/IMG_0100.JPG",
            card_label="SPARE",
            card_serial=serial,
            ingest_id="ing-2",
        )
    cat.add_sighting(
        first.archive_path,
        source_path="DCIM/101CANON/IMG_0101.JPG",
        card_label=None,
        card_serial="9999-0000",
        ingest_id="ing-3",
    )
    found = rows(
        Path(cat.path),
        "SELECT file_id, source_path, card_label, card_serial, ingest_id FROM sightings"
        " ORDER BY id",
    )
    assert found == [
        (1, "DCIM/101CANON/IMG_0100.JPG", "SPARE", "9999-0000", "ing-2"),
        (1, "DCIM/101CANON/IMG_0100.JPG", "SPARE", None, "ing-2"),
        (1, "DCIM/101CANON/IMG_0100.JPG", "SPARE", "1111-2222", "ing-2"),
        (1, "DCIM/101CANON/IMG_0101.JPG", None, "9999-0000", "ing-3"),
    ]
    with pytest.raises(CatalogueError) as caught:
        cat.add_sighting(
            "JBX3656/not-archived.jpg",
            source_path="DCIM/101CANON/IMG_0102.JPG",
            card_label=None,
            card_serial=None,
            ingest_id="ing-3",
        )
    assert caught.value.message == "JBX3656/not-archived.jpg is not in the catalogue"
    assert len(rows(Path(cat.path), "SELECT id FROM sightings")) == 4


# --- candidates by size, refiling, manifests, roles, DICOM sends -------------------------------


def test_files_of_given_sizes_are_the_candidates_of_any_patient(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "b.jpg", content="b", size=10),
            rec("MCJ1984", "a.jpg", content="a", size=10),
            rec("ACA31FM", "c.jpg", content="c", size=20, source="DCIM/100CANON/IMG_0003.JPG"),
            rec("ACA31FM", "d.jpg", content="d", size=30),
        ]
    )
    cat.set_problems({"ACA31FM/c.jpg": "archive copy is missing"})
    found = cat.archived_with_sizes([20, 10, 10, 40])
    assert {a.ingest_id for a in found} == {"ing-1"}
    found = [replace(a, ingest_id="") for a in found]
    assert found == [
        ArchivedFile(
            "ACA31FM",
            "ACA31FM/c.jpg",
            digest("c"),
            20,
            "DCIM/100CANON/IMG_0003.JPG",
            "2008-05-30T15:56:01",
            "archive copy is missing",
            captured_at="2008-05-30T15:56:01",
        ),
        ArchivedFile(
            "JBX3656",
            "JBX3656/b.jpg",
            digest("b"),
            10,
            "DCIM/100CANON/IMG_0001.JPG",
            "2008-05-30T15:56:01",
            captured_at="2008-05-30T15:56:01",
        ),
        ArchivedFile(
            "MCJ1984",
            "MCJ1984/a.jpg",
            digest("a"),
            10,
            "DCIM/100CANON/IMG_0001.JPG",
            "2008-05-30T15:56:01",
            captured_at="2008-05-30T15:56:01",
        ),
    ]
    assert cat.archived_with_sizes([]) == []
    assert cat.archived_with_sizes([5]) == []


def test_more_sizes_than_one_query_may_hold(cat: Catalogue) -> None:
    cat.add([rec("JBX3656", f"{n:04d}.jpg", content=str(n), size=n) for n in range(1, 1202)])
    found = cat.archived_with_sizes(range(1, 1202))
    assert [a.size for a in found] == list(range(1, 1202))


def test_moving_rows_refiles_them_all_or_none(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "one.jpg", content="1"),
            rec("JBX3656", "two.jpg", content="2"),
            rec("MCJ1984", "three.jpg", content="3"),
        ]
    )
    moved = cat.move_rows(
        [
            ("JBX3656/one.jpg", "ACA31FM/one.jpg", "ACA31FM", "/backup/ACA31FM/one.jpg"),
            ("JBX3656/two.jpg", "ACA31FM/two.jpg", "ACA31FM", None),
        ]
    )
    assert moved == 2
    after = {r.archive_path: (r.patient_id, r.backup_path) for r in cat.records()}
    assert after == {
        "ACA31FM/one.jpg": ("ACA31FM", "/backup/ACA31FM/one.jpg"),
        "ACA31FM/two.jpg": ("ACA31FM", None),
        "MCJ1984/three.jpg": ("MCJ1984", None),
    }
    # Interrupted and run again: rows already at their new place are left alone, and the
    # rows after them in the batch still move.
    assert cat.move_rows([("JBX3656/one.jpg", "ACA31FM/one.jpg", "ACA31FM", None)]) == 0
    assert (
        cat.move_rows(
            [
                ("JBX3656/two.jpg", "ACA31FM/two.jpg", "ACA31FM", None),
                ("MCJ1984/three.jpg", "MCJ1984/three-moved.jpg", "MCJ1984", None),
            ]
        )
        == 1
    )
    assert cat.move_rows([("MCJ1984/three.jpg", "MCJ1984/three-moved.jpg", "MCJ1984", None)]) == 0
    cat.move_rows([("MCJ1984/three-moved.jpg", "MCJ1984/three.jpg", "MCJ1984", None)])
    assert cat.record("ACA31FM/one.jpg").backup_path == "/backup/ACA31FM/one.jpg"  # type: ignore[union-attr]
    # A new path that another patient's file holds: refused, and nothing of the batch done.
    with pytest.raises(CatalogueError) as caught:
        cat.move_rows(
            [
                ("ACA31FM/two.jpg", "JBX3656/two.jpg", "JBX3656", None),
                ("ACA31FM/one.jpg", "MCJ1984/three.jpg", "ACA31FM", None),
            ]
        )
    assert caught.value.message == "MCJ1984/three.jpg is already catalogued for another file"
    # The new path taken by this patient while the old row is still there: another file too.
    with pytest.raises(CatalogueError) as caught:
        cat.move_rows([("ACA31FM/two.jpg", "ACA31FM/one.jpg", "ACA31FM", None)])
    assert caught.value.message == "ACA31FM/one.jpg is already catalogued for another file"
    with pytest.raises(CatalogueError) as caught:
        cat.move_rows([("JBX3656/gone.jpg", "ACA31FM/gone.jpg", "ACA31FM", None)])
    assert caught.value.message == "JBX3656/gone.jpg is not in the catalogue"
    assert {r.archive_path: (r.patient_id, r.backup_path) for r in cat.records()} == after


def test_manifest_entries_are_one_ingests_files(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "a.jpg", content="a", backup_path="/backup/JBX3656/a.jpg"),
            rec("JBX3656", "b.jpg", content="b", ingest_id="ing-2"),
            rec("MCJ1984", "c.jpg", content="c"),
        ]
    )
    assert sorted(cat.manifest_entries("ing-1"), key=lambda entry: entry[1]) == [
        (digest("a"), "JBX3656/a.jpg", "/backup/JBX3656/a.jpg"),
        (digest("c"), "MCJ1984/c.jpg", None),
    ]
    assert list(cat.manifest_entries("ing-2")) == [(digest("b"), "JBX3656/b.jpg", None)]
    assert list(cat.manifest_entries("ing-9")) == []


def role_paths(cat: Catalogue, role: str) -> set[str]:
    return {record.archive_path for record in cat.records() if record.role == role}


def test_roles_and_pacs_sends_are_kept_per_file(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "slate.jpg", content="s", role="slate"),
            rec("JBX3656", "a.jpg", content="a"),
            rec("JBX3656", "b.jpg", content="b"),
        ]
    )
    assert role_paths(cat, "slate") == {"JBX3656/slate.jpg"}
    assert role_paths(cat, "photo") == {"JBX3656/a.jpg", "JBX3656/b.jpg"}
    for path, uid, where in (
        ("JBX3656/b.jpg", "1.2.3.2", "pacs-a"),
        ("JBX3656/a.jpg", "1.2.3.1", "pacs-a"),
        ("JBX3656/a.jpg", "1.2.3.9", "pacs-b"),
    ):
        cat.record_dicom_send(
            path,
            destination=where,
            sop_instance_uid=uid,
            sent_at="2026-11-30T10:00:00Z",
            frame_sha256=digest("frame " + uid),
            transform="resize:1024",
            confirmed_by="c-find",
        )
    assert cat.dicom_sent("pacs-a") == {"JBX3656/b.jpg": "1.2.3.2", "JBX3656/a.jpg": "1.2.3.1"}
    assert list(cat.dicom_sent("pacs-a")) == ["JBX3656/b.jpg", "JBX3656/a.jpg"], "send order"
    assert cat.dicom_sent("pacs-b") == {"JBX3656/a.jpg": "1.2.3.9"}
    assert cat.dicom_sent("pacs-c") == {}
    assert rows(
        Path(cat.path),
        "SELECT file_id, destination, sop_instance_uid, sent_at, frame_sha256, transform,"
        " confirmed_by FROM dicom_sends WHERE sop_instance_uid = '1.2.3.9'",
    ) == [
        (
            2,
            "pacs-b",
            "1.2.3.9",
            "2026-11-30T10:00:00Z",
            digest("frame 1.2.3.9"),
            "resize:1024",
            "c-find",
        )
    ]
    with pytest.raises(CatalogueError, match=r"JBX3656/c\.jpg is not in the catalogue"):
        cat.record_dicom_send(
            "JBX3656/c.jpg",
            destination="pacs-a",
            sop_instance_uid="1.2.3.3",
            sent_at="x",
            frame_sha256="y",
            transform=None,
            confirmed_by="c-find",
        )


# --- search, counts, ingests ----------------------------------------------------------------


def test_a_search_limit_keeps_the_filters_and_order(cat: Catalogue) -> None:
    cat.add(
        [
            rec("MCJ1984", "m1.jpg", content="m1", captured_at="2008-01-01T00:00:00"),
            rec("JBX3656", "j2.jpg", content="j2", captured_at="2008-03-01T00:00:00"),
            rec("JBX3656", "j1.jpg", content="j1", captured_at="2008-02-01T00:00:00"),
        ]
    )
    assert [r.archive_path for r in cat.search(patient_id="JBX3656", limit=1)] == ["JBX3656/j1.jpg"]
    assert [r.archive_path for r in cat.search(limit=2)] == ["MCJ1984/m1.jpg", "JBX3656/j1.jpg"]
    assert cat.search(limit=0) == []
    assert cat.search(limit=-3) == []


def test_records_of_one_ingest_and_one_patient(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "a.jpg", content="a"),
            rec("JBX3656", "b.jpg", content="b", ingest_id="ing-2"),
            rec("MCJ1984", "c.jpg", content="c", ingest_id="ing-2"),
        ]
    )
    assert [r.archive_path for r in cat.records(ingest_id="ing-2")] == [
        "JBX3656/b.jpg",
        "MCJ1984/c.jpg",
    ]
    assert [r.archive_path for r in cat.records("JBX3656", ingest_id="ing-2")] == ["JBX3656/b.jpg"]
    assert [r.archive_path for r in cat.records("JBX3656")] == ["JBX3656/a.jpg", "JBX3656/b.jpg"]


def test_an_ingest_keeps_its_counts_as_sorted_json(cat: Catalogue) -> None:
    cat.begin_ingest(
        "ing-1",
        started="2026-11-30T10:00:00Z",
        operator="nurse1",
        host="desk-1",
        source="/media/CARD",
        card_label="CARD",
        card_serial=None,
        archive="/srv/archive",
        backup="/srv/backup",
        clock_offset="+00:00",
        map_source="map.csv",
    )
    cat.finish_ingest(
        "ing-1",
        finished="2026-11-30T10:05:00Z",
        counts={"skip": 1, "copy": 3, "hold": 2},
        bytes_copied=3000,
        manifest="m.sha256",
        status="finished",
    )
    assert rows(Path(cat.path), "SELECT counts, status, backup FROM ingests") == [
        ('{"copy": 3, "hold": 2, "skip": 1}', "finished", "/srv/backup")
    ]
    [entry] = cat.ingests()
    assert entry["counts"] == {"copy": 3, "hold": 2, "skip": 1}
    assert (entry["host"], entry["backup"], entry["card_serial"]) == (
        "desk-1",
        "/srv/backup",
        None,
    )


def test_files_from_given_card_names_are_those_of_any_patient(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "b.jpg", content="b", size=10, source="DCIM/100CANON/IMG_0003.JPG"),
            rec("MCJ1984", "a.jpg", content="a", size=10, source="DCIM/100CANON/IMG_0003.JPG"),
            rec("ACA31FM", "c.jpg", content="c", size=20, source="DCIM/100CANON/IMG_0004.JPG"),
        ]
    )
    found = cat.archived_from_names(["DCIM/100CANON/IMG_0003.JPG", "DCIM/100CANON/IMG_0009.JPG"])
    assert [(a.patient_id, a.ingest_id) for a in found] == [
        ("JBX3656", "ing-1"),
        ("MCJ1984", "ing-1"),
    ]
