from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from cardimage import CardFactory
from clinic_helpers import cli

from cardingest.archive import catalogue as catalogue_module
from cardingest.archive.backend import catalogue_path
from cardingest.archive.catalogue import SCHEMA_VERSION, Catalogue, CatalogueRecord
from cardingest.errors import EXIT_USAGE, CatalogueError
from cardingest.models import METADIR, ArchivedFile


def sha(n: int) -> str:
    return f"{n:064x}"


def rec(
    patient_id: str = "JBX3656",
    when: str = "2008-05-30T15:56:01",
    *,
    n: int = 1,
    path: str | None = None,
    diagnosis: tuple[str, ...] = (),
    **extra: object,
) -> CatalogueRecord:
    stamp = when.replace("-", "").replace(":", "").replace("T", "-")
    return CatalogueRecord(
        patient_id=patient_id,
        archive_path=path or f"{patient_id}/{patient_id}-{stamp}.jpg",
        sha256=sha(n),
        size=1000 + n,
        captured_at=when,
        captured_raw=when,
        time_source="exif:DateTimeOriginal",
        source_path=f"DCIM/100CANON/IMG_{n:04d}.JPG",
        card_label="EOS_DIGITAL",
        card_serial="1234-ABCD",
        make="Canon",
        model="Canon EOS 400D",
        ingest_id="ing-1",
        operator="nurse1",
        archived_at="2024-01-01T00:00:00Z",
        diagnosis=diagnosis,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def cat(tmp_path: Path) -> Catalogue:
    with Catalogue.open(tmp_path) as catalogue:
        yield catalogue


def strip_rowid(record: CatalogueRecord) -> CatalogueRecord:
    return replace(record, rowid=None)


def test_open_creates_wal_catalogue(tmp_path: Path) -> None:
    with Catalogue.open(tmp_path) as cat:
        assert cat.count() == 0
    path = tmp_path / METADIR / "catalogue.sqlite"
    assert path == catalogue_path(tmp_path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_open_without_create_refuses_missing(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="No catalogue at"):
        Catalogue.open(tmp_path, create=False)
    assert not (tmp_path / METADIR).exists()


def test_open_without_create_uses_existing(tmp_path: Path) -> None:
    with Catalogue.open(tmp_path) as cat:
        cat.add([rec()])
    with Catalogue.open(tmp_path, create=False) as cat:
        assert cat.count() == 1


def test_not_a_database_is_a_catalogue_error(tmp_path: Path) -> None:
    path = catalogue_path(tmp_path)
    path.parent.mkdir()
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogueError, match="Cannot open catalogue"):
        Catalogue.open(tmp_path)


def test_add_and_read_back_every_field(cat: Catalogue) -> None:
    record = rec(
        diagnosis=("melanoma", "naevus"),
        site="left forearm",
        consent="teaching",
        subsec="42",
        utc_offset="+12:00",
        backup_path="/backup/JBX3656/JBX3656-20080530-155601.jpg",
    )
    cat.add([record])
    [stored] = list(cat.records())
    assert stored.rowid is not None
    assert strip_rowid(stored) == record
    assert cat.count() == 1


def test_records_stream_in_path_order(cat: Catalogue) -> None:
    records = [rec("MCJ1984", f"2008-05-30T15:56:{s:02d}", n=s) for s in range(40, 0, -1)]
    records += [rec("JBX3656", "2008-05-30T10:00:00", n=100)]
    cat.add(records)
    paths = [r.archive_path for r in cat.records()]
    assert paths == sorted(paths)
    assert len(paths) == 41
    assert [r.patient_id for r in cat.records("JBX3656")] == ["JBX3656"]


def test_records_stream_more_than_one_batch(cat: Catalogue) -> None:
    cat.add([rec(path=f"JBX3656/{i:05d}.jpg", n=i, diagnosis=(f"d{i}",)) for i in range(1200)])
    seen = list(cat.records())
    assert len(seen) == 1200
    assert all(r.diagnosis == (f"d{int(r.archive_path[8:13])}",) for r in seen)


def test_add_is_idempotent(cat: Catalogue) -> None:
    first = rec(diagnosis=("melanoma",))
    cat.add([first])
    cat.add([first])
    cat.add([first, rec("MCJ1984", n=2)])
    cat.add([replace(first, sha256=first.sha256.upper())])
    assert cat.count() == 2
    assert [r.diagnosis for r in cat.records("JBX3656")] == [("melanoma",)]


def test_add_other_content_at_same_path_is_refused_and_rolled_back(cat: Catalogue) -> None:
    cat.add([rec()])
    clash = rec(n=99)
    with pytest.raises(CatalogueError, match="other content"):
        cat.add([rec("MCJ1984", n=2), clash])
    assert cat.count() == 1
    assert cat.has_sha("MCJ1984", sha(2)) is None


def test_add_refuses_unknown_consent(cat: Catalogue) -> None:
    with pytest.raises(CatalogueError, match="consent"):
        cat.add([rec(consent="whatever")])
    assert cat.count() == 0


def test_has_sha_and_find_by_sha(cat: Catalogue) -> None:
    cat.add([rec("JBX3656", n=7), rec("MCJ1984", n=7)])
    found = cat.has_sha("JBX3656", sha(7))
    assert found is not None and found.patient_id == "JBX3656"
    assert cat.has_sha("JBX3656", sha(8)) is None
    assert cat.has_sha("ACA31FM", sha(7)) is None
    assert cat.has_sha("MCJ1984", sha(7).upper()) is not None
    assert {r.patient_id for r in cat.find_by_sha(sha(7))} == {"JBX3656", "MCJ1984"}
    assert cat.find_by_sha(sha(9)) == []


def test_archive_state_only_for_given_ids(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "2008-05-30T15:56:01", n=1),
            rec("JBX3656", "2008-05-30T15:56:02", n=2),
            rec("MCJ1984", "2008-05-30T15:56:03", n=3),
            rec("ACA31FM", n=4, path="JBX3656/odd-one.jpg"),
            rec("JBX36560", n=5),
        ]
    )
    state = cat.archive_state(["JBX3656"])
    assert {a.archive_path for a in state.archived} == {
        "JBX3656/JBX3656-20080530-155601.jpg",
        "JBX3656/JBX3656-20080530-155602.jpg",
    }
    assert all(isinstance(a, ArchivedFile) for a in state.archived)
    assert state.archived[0] == ArchivedFile(
        "JBX3656",
        "JBX3656/JBX3656-20080530-155601.jpg",
        sha(1),
        1001,
        "DCIM/100CANON/IMG_0001.JPG",
        "2008-05-30T15:56:01",
        captured_at="2008-05-30T15:56:01",
    )
    assert state.taken_paths == {
        "JBX3656/JBX3656-20080530-155601.jpg",
        "JBX3656/JBX3656-20080530-155602.jpg",
        "JBX3656/odd-one.jpg",
    }
    assert cat.archive_state([]).archived == ()
    assert cat.archive_state(["ZZZ0000"]).taken_paths == frozenset()


def test_archive_state_many_ids(cat: Catalogue) -> None:
    ids = [f"ID{i:05d}" for i in range(1200)]
    cat.add([rec(pid, n=i) for i, pid in enumerate(ids)])
    state = cat.archive_state(ids[:1100])
    assert len(state.archived) == 1100
    assert len(state.taken_paths) == 1100


def populate(cat: Catalogue) -> None:
    cat.add(
        [
            rec("JBX3656", "2008-05-30T15:56:01", n=1, diagnosis=("Melanoma", "naevus")),
            rec("JBX3656", "2008-06-02T09:00:00", n=2, diagnosis=("psoriasis",)),
            rec("MCJ1984", "2008-05-31T23:59:59", n=3, diagnosis=("melanoma",)),
            rec("MCJ1984", "2008-06-01T00:00:00", n=4),
            rec("ACA31FM", "2009-01-01T12:00:00", n=5, diagnosis=("melanoma in situ",)),
        ]
    )


def ids_of(records: list[CatalogueRecord]) -> list[tuple[str, str]]:
    return [(r.patient_id, r.captured_at) for r in records]


def test_search_by_id(cat: Catalogue) -> None:
    populate(cat)
    assert ids_of(cat.search(patient_id="JBX3656")) == [
        ("JBX3656", "2008-05-30T15:56:01"),
        ("JBX3656", "2008-06-02T09:00:00"),
    ]
    assert cat.search(patient_id="NOPE") == []


def test_search_diagnosis_case_insensitive_exact_keyword(cat: Catalogue) -> None:
    populate(cat)
    found = cat.search(diagnosis="MELANOMA")
    assert ids_of(found) == [("JBX3656", "2008-05-30T15:56:01"), ("MCJ1984", "2008-05-31T23:59:59")]
    assert found[0].diagnosis == ("Melanoma", "naevus")
    assert cat.search(diagnosis="melan") == []
    assert len(cat.search(diagnosis=" melanoma in situ ")) == 1


def test_search_dates_inclusive(cat: Catalogue) -> None:
    populate(cat)
    found = cat.search(date_from=date(2008, 5, 31), date_to=date(2008, 6, 1))
    assert ids_of(found) == [("MCJ1984", "2008-05-31T23:59:59"), ("MCJ1984", "2008-06-01T00:00:00")]
    assert len(cat.search(date_from=date(2008, 6, 2))) == 2
    assert len(cat.search(date_to=date(2008, 5, 30))) == 1


def test_search_filters_combine_with_and(cat: Catalogue) -> None:
    populate(cat)
    assert ids_of(cat.search(patient_id="MCJ1984", diagnosis="melanoma")) == [
        ("MCJ1984", "2008-05-31T23:59:59")
    ]
    assert cat.search(patient_id="MCJ1984", diagnosis="psoriasis") == []
    assert ids_of(cat.search(diagnosis="melanoma", date_from=date(2008, 5, 31))) == [
        ("MCJ1984", "2008-05-31T23:59:59")
    ]
    assert cat.search(diagnosis="melanoma", date_to=date(2008, 5, 29)) == []
    year = {"date_from": date(2008, 1, 1), "date_to": date(2008, 12, 31)}
    assert len(cat.search(patient_id="JBX3656", **year)) == 2
    assert len(cat.search()) == 5
    assert len(cat.search(limit=2)) == 2


def test_update_keywords(cat: Catalogue) -> None:
    populate(cat)
    path = cat.search(patient_id="MCJ1984", diagnosis="melanoma")[0].archive_path
    cat.update_keywords(path, diagnosis=("Basal cell carcinoma",), site="nose", consent="record")
    [updated] = cat.search(diagnosis="basal cell carcinoma")
    assert (updated.archive_path, updated.site, updated.consent) == (path, "nose", "record")
    assert len(cat.search(diagnosis="melanoma")) == 1
    cat.update_keywords(path, diagnosis=None, site=None, consent="publication")
    [again] = cat.search(diagnosis="basal cell carcinoma")
    assert (again.site, again.consent) == ("nose", "publication")
    cat.update_keywords(path, diagnosis=(), site="", consent="")
    [cleared] = [r for r in cat.records("MCJ1984") if r.archive_path == path]
    assert (cleared.diagnosis, cleared.site, cleared.consent) == ((), None, None)
    with pytest.raises(CatalogueError, match="not in the catalogue"):
        cat.update_keywords("nope.jpg", diagnosis=(), site=None, consent=None)
    with pytest.raises(CatalogueError, match="consent"):
        cat.update_keywords(path, diagnosis=None, site=None, consent="secret")


def test_ingests(cat: Catalogue, tmp_path: Path) -> None:
    cat.begin_ingest(
        "20240101T000000Z-ab12",
        started="2024-01-01T00:00:00Z",
        operator="nurse1",
        host="clinic-pc",
        source="/media/EOS_DIGITAL",
        card_label="EOS_DIGITAL",
        card_serial="1234-ABCD",
        archive="/srv/archive",
        backup=None,
        clock_offset="+00:00",
        map_source="map.csv",
    )
    [running] = cat.ingests()
    assert running["status"] == "running" and running["finished"] is None
    cat.finish_ingest(
        "20240101T000000Z-ab12",
        finished="2024-01-01T00:05:00Z",
        counts={"copy": 3, "skip": 1, "hold": 0},
        bytes_copied=12345,
        manifest=".cardingest/manifests/20240101T000000Z-ab12.sha256",
        status="ok",
    )
    [done] = cat.ingests()
    assert done["counts"] == {"copy": 3, "skip": 1, "hold": 0}
    assert (done["bytes_copied"], done["status"], done["operator"]) == (12345, "ok", "nurse1")
    for edited in ("not json", "[1, 2]", "7"):  # by hand: read as a run that never ended
        with closing(sqlite3.connect(catalogue_path(tmp_path))) as db, db:
            db.execute("UPDATE ingests SET counts = ?", (edited,))
        assert cat.ingests()[0]["counts"] is None
    with pytest.raises(CatalogueError, match="already recorded"):
        cat.begin_ingest(
            "20240101T000000Z-ab12",
            started="x",
            operator="o",
            host="h",
            source="s",
            card_label=None,
            card_serial=None,
            archive="a",
            backup=None,
            clock_offset="+00:00",
            map_source="--id",
        )
    with pytest.raises(CatalogueError, match="never begun"):
        cat.finish_ingest(
            "other", finished="x", counts={}, bytes_copied=0, manifest=None, status="failed"
        )


def test_data_survives_reopen(tmp_path: Path) -> None:
    with Catalogue.open(tmp_path) as cat:
        populate(cat)
    with Catalogue.open(tmp_path) as cat:
        assert cat.count() == 5
        assert len(cat.search(diagnosis="melanoma")) == 2


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    with Catalogue.open(tmp_path) as cat:
        cat.add([rec()])
    conn = sqlite3.connect(catalogue_path(tmp_path))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(CatalogueError, match="schema version"):
        Catalogue.open(tmp_path)
    with pytest.raises(CatalogueError, match="Upgrade cardingest"):
        Catalogue.open(tmp_path, create=False)


def test_migration_from_version_0_empty_file(tmp_path: Path) -> None:
    path = catalogue_path(tmp_path)
    path.parent.mkdir()
    path.touch()
    with Catalogue.open(tmp_path, create=False) as cat:
        cat.add([rec(diagnosis=("melanoma",))])
        assert len(cat.search(diagnosis="melanoma")) == 1
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"files", "keywords", "ingests"} <= tables
    finally:
        conn.close()


def test_later_migration_upgrades_older_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Catalogue.open(tmp_path) as cat:
        cat.add([rec()])

    def add_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE files ADD COLUMN lens TEXT")

    monkeypatch.setattr(catalogue_module, "MIGRATIONS", [*catalogue_module.MIGRATIONS, add_column])
    monkeypatch.setattr(catalogue_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Catalogue.open(tmp_path) as cat:
        assert cat.count() == 1
    conn = sqlite3.connect(catalogue_path(tmp_path))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert "lens" in {row[1] for row in conn.execute("PRAGMA table_info(files)")}
    finally:
        conn.close()


def test_failed_migration_leaves_file_at_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Catalogue.open(tmp_path) as cat:
        cat.add([rec()])

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE files ADD COLUMN lens TEXT")
        conn.execute("THIS IS NOT SQL")

    monkeypatch.setattr(catalogue_module, "MIGRATIONS", [*catalogue_module.MIGRATIONS, broken])
    monkeypatch.setattr(catalogue_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(CatalogueError):
        Catalogue.open(tmp_path)
    conn = sqlite3.connect(catalogue_path(tmp_path))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "lens" not in {row[1] for row in conn.execute("PRAGMA table_info(files)")}
    finally:
        conn.close()


def test_no_column_could_hold_personal_details(cat: Catalogue) -> None:
    personal = re.compile(r"name|birth|dob", re.IGNORECASE)
    conn = sqlite3.connect(cat.path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables
        columns = [
            (table, row[1])
            for table in tables
            for row in conn.execute(f"PRAGMA table_info({table})")
        ]
    finally:
        conn.close()
    assert columns
    assert [c for c in columns if personal.search(c[1])] == []
    record_fields = CatalogueRecord.__dataclass_fields__
    assert [f for f in record_fields if personal.search(f)] == []


def test_indexes_exist(cat: Catalogue) -> None:
    conn = sqlite3.connect(cat.path)
    try:
        sql = " ".join(
            r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type='index'") if r[0]
        )
    finally:
        conn.close()
    for fragment in ("files(patient_id", "files(captured_at)", "files(sha256)", "lower(value)"):
        assert fragment in sql


def test_search_by_id_uses_an_index(cat: Catalogue) -> None:
    conn = sqlite3.connect(cat.path)
    try:
        for query, params in (
            ("SELECT * FROM files f WHERE f.patient_id = ?", ("X",)),
            ("SELECT * FROM files f WHERE f.source_path IN (?, ?)", ("a", "b")),
            (
                "SELECT file_id FROM keywords WHERE lower(value) = lower(?) AND kind = 'diagnosis'",
                ("x",),
            ),
        ):
            plan = " ".join(str(r) for r in conn.execute(f"EXPLAIN QUERY PLAN {query}", params))
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    finally:
        conn.close()


def test_records_by_card_path(cat: Catalogue) -> None:
    """The wipe asks this for a card file with no record of its bytes (indexed: see above)."""
    cat.add([rec(n=1), rec(n=2, when="2008-05-30T15:56:02"), rec("ZZZ0016", n=3)])
    found = cat.recorded_from(["DCIM/100CANON/IMG_0002.JPG", "100CANON/IMG_0002.JPG"])
    assert [record.sha256 for record in found] == [sha(2)]
    assert cat.recorded_from([]) == []


def test_a_version_2_catalogue_gains_the_card_path_index(tmp_path: Path) -> None:
    path = catalogue_path(tmp_path)
    path.parent.mkdir()
    with closing(sqlite3.connect(path)) as conn:
        for migration in catalogue_module.MIGRATIONS[:2]:
            migration(conn)
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
    with Catalogue.open(tmp_path, create=False) as cat:
        cat.add([rec(n=7)])
        assert [r.sha256 for r in cat.recorded_from(["IMG_0007.JPG"])] == []
        assert [r.sha256 for r in cat.recorded_from(["DCIM/100CANON/IMG_0007.JPG"])] == [sha(7)]
    with closing(sqlite3.connect(path)) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 4
    assert "files_source" in indexes


def test_copy_problems_are_recorded_cleared_and_kept_from_the_planner_input(
    cat: Catalogue,
) -> None:
    cat.add([rec(n=1), rec(n=2, when="2008-05-30T15:56:02")])
    first, second = (r.archive_path for r in cat.records())
    cat.set_problems({first: "archive copy changed"})
    assert cat.problems() == {first: "archive copy changed"}
    state = {a.archive_path: a.problem for a in cat.archive_state([rec().patient_id]).archived}
    assert state == {first: "archive copy changed", second: None}
    cat.set_problems({first: None, "no/such/path.jpg": "ignored"})
    assert cat.problems() == {}


@pytest.mark.parametrize("patient_id", ["JBX3656", "CLINIC-ABCDEFGHIJK-42"])
def test_a_row_of_the_id_in_another_case_stops_a_look_up_by_the_id(
    tmp_path: Path, patient_id: str
) -> None:
    """Found through the ID's index, each other spelling asked for; an ID of more letters
    than are spelt out (11 here) by a scan of the table: the same error either way."""
    with Catalogue.open(tmp_path) as catalogue:
        catalogue.add([rec(patient_id, n=1), rec(patient_id, "2008-05-30T15:57:01", n=2)])
        catalogue._conn.execute(
            "UPDATE files SET patient_id = ? WHERE sha256 = ?", (patient_id.lower(), sha(2))
        )
        with pytest.raises(CatalogueError) as caught:
            list(catalogue.records(patient_id))
        assert f"patient_id '{patient_id.lower()}'" in caught.value.message
        with pytest.raises(CatalogueError):
            catalogue.search(patient_id=patient_id)
        listed: list[str] = []
        kept = list(catalogue.records(patient_id, on_damaged=lambda bad: listed.append(bad.field)))
        assert len(kept) == 1 and listed == ["patient_id"]


def test_an_archive_on_a_fusefat_mount_is_refused_before_anything_is_written(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    """Trial: an archive on a disk image mounted with fusefat failed with "Catalogue …: disk
    I/O error" alone, after making its folders and an empty catalogue, and the commands after
    it said the same or that the audit log was missing. Every SQLite write there fails, so the
    preview and the ingest refuse it up front (exit 2) with where and what to do, and write
    nothing there."""
    from exif_bytes import timed_card

    timed_card(tmp_path / "card", 2)
    mount = fat_card({}, size_mb=300)
    there = sorted(mount.iterdir())  # the volume label
    for command in ("preview", "ingest"):
        args = (command, tmp_path / "card", "--id", "JBX3656", "--archive", mount / "arch")
        refused = cli(*args)
        assert refused.exit_code == EXIT_USAGE, refused.stdout + refused.stderr
        said = " ".join(refused.stderr.split())
        assert f"The archive {mount / 'arch'} is on a fusefat mount ({mount})" in said, said
        assert "mount -o loop" in said and "Traceback" not in said
        assert sorted(mount.iterdir()) == there
