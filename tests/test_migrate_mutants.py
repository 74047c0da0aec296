"""Moving a SQLite catalogue into PostgreSQL, each step checked against values written out.

Written for the mutation round on ``archive/migrate`` (docs/testing.md): every test here
failed on at least one mutant that the older tests let through. The module's own tests run
``catalogue migrate`` in a subprocess (test_pg_catalogue's main migration test), which
mutmut never counts; these call ``migrate`` in the test's process, on real archives made by
the real CLI, against a real PostgreSQL server (Unix socket only).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from clinic_helpers import demo_card, invoke
from conftest import immutable

from cardingest.archive import backend
from cardingest.archive.audit import GENESIS, AuditLog
from cardingest.archive.backend import (
    CatalogueLocation,
    bind,
    catalogue_path,
    denied,
    migration_mark,
    redact,
)
from cardingest.archive.catalogue import Catalogue
from cardingest.archive.migrate import MIGRATE_EVENT, TABLES, MigrateReport, migrate
from cardingest.archive.pg import read_archive_id, schema_of
from cardingest.errors import ArchiveError, CatalogueError, ConfigError
from cardingest.host import host_name


@pytest.fixture(autouse=True)
def unbound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Archive bindings (``backend.bind``) made by a test stay in that test."""
    monkeypatch.setattr(backend, "_BOUND", {})


def sqlite_archive(tmp_path: Path) -> Path:
    """The demo card ingested into a SQLite archive by the real CLI, then one photo seen
    again on another card and sent to a PACS: rows in every table, and audit events."""
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 3, err
    with Catalogue.open(archive) as cat:
        first = next(iter(cat.records()))
        cat.add_sighting(
            first.archive_path,
            source_path="DCIM/101CANON/IMG_0101.JPG",
            card_label="OTHER",
            card_serial="9999-0000",
            ingest_id=first.ingest_id,
        )
        cat.record_dicom_send(
            first.archive_path,
            destination="PACS@host:104",
            sop_instance_uid="1.2.826.0.1.3680043.10.1",
            sent_at="2026-12-05T10:00:00Z",
            frame_sha256=hashlib.sha256(b"frame").hexdigest(),
            transform=None,
            confirmed_by="c-find",
        )
    return archive


def sqlite_rows(archive: Path) -> dict[str, list[tuple[Any, ...]]]:
    with closing(sqlite3.connect(catalogue_path(archive))) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in TABLES
        }


def columns(archive: Path, table: str) -> str:
    with closing(sqlite3.connect(catalogue_path(archive))) as conn:
        return ", ".join(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))


def pg_rows(url: str, archive: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in PostgreSQL, in the SQLite file's column order."""
    schema = schema_of(str(read_archive_id(archive)))
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            table: [
                tuple(row)
                for row in conn.execute(
                    f'SELECT {columns(archive, table)} FROM "{schema}".{table} ORDER BY {order}'
                )
            ]
            for table, order in TABLES
        }


def pg_audit(url: str, archive: Path) -> list[tuple[int, str, str]]:
    """(seq, line, sha256) of each of the archive's audit events in PostgreSQL."""
    with psycopg.connect(url, autocommit=True) as conn:
        return [
            (int(seq), str(line), str(sha))
            for seq, line, sha in conn.execute(
                "SELECT seq, line, sha256 FROM cardingest.audit WHERE archive_id = %s ORDER BY seq",
                (read_archive_id(archive),),
            )
        ]


def jsonl(archive: Path) -> list[str]:
    path = AuditLog(archive).path
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seen_on_a_third_card(archive: Path) -> None:
    """A sighting more in SQLite: its first photo seen again on another card."""
    with Catalogue.open(archive) as cat:
        seen = next(iter(cat.records()))
        cat.add_sighting(
            seen.archive_path,
            source_path="DCIM/102CANON/IMG_0202.JPG",
            card_label="THIRD",
            card_serial="1111-2222",
            ingest_id=seen.ingest_id,
        )


def unmark(archive: Path) -> None:
    """The SQLite file as a run killed after its copy, before its mark, leaves it; the
    archive's SQLite catalogue is the one to use again (this process's binding forgotten)."""
    with closing(sqlite3.connect(catalogue_path(archive))) as conn:
        conn.execute("DROP TABLE migrated_to")
        conn.commit()
    backend._BOUND.clear()
    bind(archive, CatalogueLocation())


def test_every_row_and_audit_line_is_copied_as_it_was_and_the_event_says_what_moved(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """The report, the rows of every table (ids kept), the audit lines to the byte with
    their digests, the migrate event's every field, the head, and the mark, written out."""
    archive = sqlite_archive(tmp_path)
    rows, lines = sqlite_rows(archive), jsonl(archive)
    counts = {table: len(found) for table, found in rows.items()}
    assert all(counts.values()) and len(lines) >= 1, (counts, lines)
    before = datetime.now(UTC)
    report = migrate(archive, pg_url)
    after = datetime.now(UTC)
    archive_id = str(read_archive_id(archive))
    assert report == MigrateReport(
        archive=str(archive),
        to=redact(pg_url),
        archive_id=archive_id,
        counts=counts,
        audit_events=len(lines) + 1,
        copied=True,
    )
    assert pg_rows(pg_url, archive) == rows
    stored = pg_audit(pg_url, archive)
    assert [(seq, line) for seq, line, _sha in stored[:-1]] == list(enumerate(lines, start=1))
    assert [digest for _seq, line, digest in stored] == [sha(line) for _s, line, _d in stored]
    seq, line, digest = stored[-1]
    event = json.loads(line)
    assert seq == len(lines) + 1
    assert set(event) == {"archive_id", "counts", "ts", "event", "host", "prev", "seq"}
    assert (event["event"], event["archive_id"], event["counts"]) == (
        MIGRATE_EVENT,
        archive_id,
        counts,
    )
    assert (event["host"], event["prev"], event["seq"]) == (host_name(), sha(lines[-1]), seq)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["ts"]), event["ts"]
    assert before <= datetime.fromisoformat(event["ts"]) <= after
    with psycopg.connect(pg_url, autocommit=True) as conn:
        head = conn.execute(
            "SELECT audit_lines, audit_last FROM cardingest.archives WHERE archive_id = %s",
            (archive_id,),
        ).fetchall()
    assert head == [(len(lines) + 1, digest)]
    with closing(sqlite3.connect(catalogue_path(archive))) as conn:
        [(url, marked_id, at)] = conn.execute("SELECT * FROM migrated_to").fetchall()
    assert (url, marked_id) == (redact(pg_url), archive_id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", at), at
    assert before.replace(microsecond=0) <= datetime.fromisoformat(at) <= after


def test_after_a_migration_each_table_numbers_its_next_row_after_its_last(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """The id sequences are moved on past the copied ids (1 for a table with no rows): a
    sequence left at 1 would make the next photo's row clash with the first photo's."""
    archive = sqlite_archive(tmp_path)
    with closing(sqlite3.connect(catalogue_path(archive))) as conn:
        conn.execute("DELETE FROM dicom_sends")
        conn.commit()
        last = {
            t: conn.execute(f"SELECT max(id) FROM {t}").fetchone()[0]
            for t in ("files", "sightings")
        }
    migrate(archive, pg_url)
    schema = schema_of(str(read_archive_id(archive)))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        following = {
            table: conn.execute(
                f"SELECT nextval(pg_get_serial_sequence('\"{schema}\".{table}', 'id'))"
            ).fetchone()[0]
            for table in ("files", "sightings", "dicom_sends")
        }
    assert following == {
        "files": last["files"] + 1,
        "sightings": last["sightings"] + 1,
        "dicom_sends": 1,
    }


def test_a_catalogue_without_an_audit_log_gets_the_migrate_event_as_its_first(
    tmp_path: Path, pg_url: str
) -> None:
    """No audit.jsonl (a catalogue written only through the library): the migrate event is
    event 1, chained to the genesis value, and the chain checks out."""
    archive = tmp_path / "archive"
    with Catalogue.open(archive):
        pass
    assert not AuditLog(archive).path.exists()
    report = migrate(archive, pg_url)
    assert (report.audit_events, report.counts) == (1, dict.fromkeys(dict(TABLES), 0))
    [(seq, line, digest)] = pg_audit(pg_url, archive)
    event = json.loads(line)
    assert (seq, event["seq"], event["prev"], digest) == (1, 1, GENESIS, sha(line))


def test_a_second_run_copies_nothing_and_another_database_is_refused(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """Run again with the same URL: "already moved", the same counts and events, nothing
    copied twice. With another URL: refused, naming where it went. A chain changed in
    PostgreSQL since is named when the run looks again."""
    archive = sqlite_archive(tmp_path)
    first = migrate(archive, pg_url)
    stored = pg_audit(pg_url, archive)
    again = migrate(archive, pg_url)
    assert again == MigrateReport(
        archive=str(archive),
        to=redact(pg_url),
        archive_id=first.archive_id,
        counts=first.counts,
        audit_events=first.audit_events,
        copied=False,
    )
    assert pg_audit(pg_url, archive) == stored
    other = pg_url + "_other"
    with pytest.raises(ConfigError) as caught:
        migrate(archive, other)
    assert caught.value.message == (
        f"The catalogue of {archive} was already migrated to {redact(pg_url)}"
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE cardingest.audit SET line = replace(line, '\"seq\":1', '\"seq\":1 ')"
            " WHERE archive_id = %s AND seq = 1",
            (first.archive_id,),
        )
    with pytest.raises(CatalogueError) as failed:
        migrate(archive, pg_url)
    assert failed.value.message == (
        f"The audit chain in {redact(pg_url)} does not check out:"
        " line 1 was changed (line 2's prev does not match it)"
    )


def test_a_copy_left_unmarked_and_written_since_is_replaced_once(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """A run killed after its copy, before its mark; SQLite written since (a tag, a
    sighting): the next run finds the copy stale and replaces it, every row and line once,
    with one migrate event, and marks the file."""
    archive = sqlite_archive(tmp_path)
    migrate(archive, pg_url)
    unmark(archive)
    code, _out, err = invoke("tag", "ZAC5361", "--diagnosis", "lentigo", "--archive", archive)
    assert code == 0, err
    seen_on_a_third_card(archive)
    rows, lines = sqlite_rows(archive), jsonl(archive)
    report = migrate(archive, pg_url)
    assert report.copied and report.counts == {t: len(r) for t, r in rows.items()}
    assert report.audit_events == len(lines) + 1
    assert pg_rows(pg_url, archive) == rows
    stored = pg_audit(pg_url, archive)
    assert [line for _seq, line, _sha in stored[:-1]] == lines
    assert [json.loads(line)["event"] for _s, line, _d in stored].count(MIGRATE_EVENT) == 1
    assert json.loads(stored[-1][1])["counts"] == report.counts
    assert migration_mark(archive) == (redact(pg_url), report.archive_id)


def test_a_copy_that_still_differs_is_named_by_table_and_side_and_left_unmarked(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """Something in PostgreSQL drops a row as it is copied (here a trigger): the run stops
    at the first table that differs, says how many rows each side holds, and leaves the
    SQLite file unmarked, so SQLite stays the catalogue."""
    archive = sqlite_archive(tmp_path)
    migrate(archive, pg_url)
    unmark(archive)
    seen_on_a_third_card(archive)
    in_sqlite = len(sqlite_rows(archive)["sightings"])
    schema = schema_of(str(read_archive_id(archive)))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION public.drop_third() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN IF NEW.card_label = 'THIRD' THEN RETURN NULL; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            f'CREATE TRIGGER drop_third BEFORE INSERT ON "{schema}".sightings'
            " FOR EACH ROW EXECUTE FUNCTION public.drop_third()"
        )
    with pytest.raises(CatalogueError) as caught:
        migrate(archive, pg_url)
    assert caught.value.message == (
        f"The sightings rows in {redact(pg_url)} differ from the SQLite catalogue"
        f" ({in_sqlite - 1} rows there, {in_sqlite} in SQLite); the SQLite file is left unmarked"
    )
    assert caught.value.details == [
        "Nothing in the archive was changed. Was something written to this"
        " archive's PostgreSQL catalogue meanwhile?"
    ]
    assert migration_mark(archive) is None


def test_an_audit_log_that_does_not_check_out_moves_nothing(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """A changed line in audit.jsonl: refused with the check's own finding, no row and no
    event in PostgreSQL, the file unmarked; put right, the next run moves everything."""
    archive = sqlite_archive(tmp_path)
    log = AuditLog(archive).path
    good = log.read_bytes()
    log.write_bytes(good.replace(b'"seq":1', b'"seq":1 ', 1))
    problem = AuditLog(archive).check().problem
    assert problem
    with pytest.raises(CatalogueError) as caught:
        migrate(archive, pg_url)
    assert caught.value.message == (
        f"The audit log {log} does not check out ({problem}); nothing was moved"
    )
    assert caught.value.details == [
        "Run cardingest audit to see where, and restore it from a backup."
    ]
    assert pg_audit(pg_url, archive) == []
    assert all(not found for found in pg_rows(pg_url, archive).values())
    assert migration_mark(archive) is None
    log.write_bytes(good)
    assert migrate(archive, pg_url).copied


def test_a_catalogue_this_account_may_not_write_is_refused_before_anything_is_copied(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """The file is marked at the end: one that cannot be written (``chattr +i``, which
    even root meets) is refused first; the database is not touched, no id is written."""
    archive = sqlite_archive(tmp_path)
    path = catalogue_path(archive)
    with immutable(path), pytest.raises(ArchiveError) as caught:
        migrate(archive, pg_url)
    assert caught.value.message == denied(path, "write")
    assert caught.value.details == [
        "The migration marks this file as moved when it is done; nothing was copied."
    ]
    assert read_archive_id(archive) is None
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('cardingest.archives')").fetchone() == (None,)


def test_an_archive_without_a_sqlite_catalogue_is_nothing_to_migrate(
    tmp_path: Path, pg_url: str
) -> None:
    archive = tmp_path / "archive"
    with pytest.raises(ConfigError) as caught:
        migrate(archive, pg_url)
    assert caught.value.message == (
        f"No SQLite catalogue at {catalogue_path(archive)}: nothing to migrate. Is --archive right?"
    )
    assert not archive.exists()


def test_a_copy_left_unmarked_whose_audit_log_grew_since_is_replaced(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """Killed before its mark, then only an audit event written (no row changed): the rows
    compare equal, the audit lines do not, so the copy is replaced. Kept, PostgreSQL would
    lack that event, and its chain, checked only against itself, would still check out."""
    archive = sqlite_archive(tmp_path)
    migrate(archive, pg_url)
    unmark(archive)
    AuditLog(archive).append("verify", ok=True, photos=5)
    lines = jsonl(archive)
    report = migrate(archive, pg_url)
    assert report.copied and report.audit_events == len(lines) + 1
    stored = pg_audit(pg_url, archive)
    assert [line for _seq, line, _sha in stored[:-1]] == lines
    assert json.loads(stored[-1][1])["event"] == MIGRATE_EVENT


def test_a_row_postgresql_refuses_stops_the_move_with_nothing_copied(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """A size SQLite kept as text (its columns take any type) is refused by PostgreSQL's
    bigint: the run stops naming the database and the reason; the transaction leaves no
    row and no event there, and the SQLite file unmarked."""
    archive = sqlite_archive(tmp_path)
    with closing(sqlite3.connect(catalogue_path(archive))) as conn:
        conn.execute("UPDATE files SET size = 'big' WHERE id = (SELECT max(id) FROM files)")
        conn.commit()
    with pytest.raises(CatalogueError) as caught:
        migrate(archive, pg_url)
    assert caught.value.message.startswith(
        f'Migration to {redact(pg_url)} stopped: invalid input syntax for type bigint: "big"'
    ), caught.value.message
    assert pg_audit(pg_url, archive) == []
    assert all(not found for found in pg_rows(pg_url, archive).values())
    assert migration_mark(archive) is None


def test_a_role_that_may_not_make_the_tables_is_told_to_use_the_owners_url(
    tmp_path: Path, pg_url: str, pg_server: Any, test_ids: Path
) -> None:
    """A role with no right to create in the database: a usage error (exit 2) naming the
    server's refusal, without the password, and the way out; nothing is marked."""
    archive = sqlite_archive(tmp_path)
    database = pg_url.partition("@/")[2].partition("?")[0]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'visitor'").fetchone():
            conn.execute("CREATE ROLE visitor LOGIN")
    visitor = pg_server.url(database, user="visitor")
    with pytest.raises(ConfigError) as caught:
        migrate(archive, visitor)
    assert caught.value.message == (
        f"Migration to {redact(visitor)} stopped: permission denied for database {database}"
    )
    assert caught.value.details == [
        "The role in the URL may not make the archive's tables: migrate with the owner's URL"
        ' (the role that owns the schema, "Setting up the database" in README.md), then give'
        " the desks theirs. Nothing was moved."
    ]
    assert migration_mark(archive) is None


def test_a_copy_left_unmarked_with_a_row_changed_since_is_replaced(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """Killed before its mark, then one row changed in SQLite and none added: the counts
    agree, the checksum over the rows does not, so the copy is replaced with the row as
    SQLite holds it now. The counts reported are the rows', not one more or less."""
    archive = sqlite_archive(tmp_path)
    migrate(archive, pg_url)
    unmark(archive)
    with closing(sqlite3.connect(catalogue_path(archive))) as conn:
        conn.execute("UPDATE sightings SET card_label = 'RELABELLED'")
        conn.commit()
    rows = sqlite_rows(archive)
    report = migrate(archive, pg_url)
    assert report.copied and report.counts == {t: len(r) for t, r in rows.items()}
    assert pg_rows(pg_url, archive) == rows


def test_a_copy_left_unmarked_and_unchanged_is_kept_and_the_file_marked(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """Killed before its mark, nothing written since: the copy is checked and kept (the
    report says so: ``copied`` is False, not merely falsy), and the file is marked."""
    archive = sqlite_archive(tmp_path)
    migrate(archive, pg_url)
    stored = pg_audit(pg_url, archive)
    unmark(archive)
    report = migrate(archive, pg_url)
    assert report.copied is False
    assert pg_audit(pg_url, archive) == stored
    assert migration_mark(archive) == (redact(pg_url), report.archive_id)


def test_a_moved_archive_that_lost_its_id_is_refused_without_a_second_catalogue(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """Moved, then ``.cardingest/archive-id`` lost: run again, the move is refused with the
    id to put back, before a new id (and an empty catalogue that knows none of the
    archive's photos) is made."""
    archive = sqlite_archive(tmp_path)
    moved = migrate(archive, pg_url)
    id_file = archive / ".cardingest" / "archive-id"
    id_file.unlink()
    backend._BOUND.clear()
    with pytest.raises(CatalogueError) as caught:
        migrate(archive, pg_url)
    assert f"its SQLite catalogue was moved to {redact(pg_url)}" in caught.value.message
    assert caught.value.details == [
        f"The database {redact(pg_url)} holds this archive's catalogue under id"
        f" {moved.archive_id}: put it back with: echo {moved.archive_id} > {id_file}"
    ]
    assert not id_file.exists()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT archive_id FROM cardingest.archives").fetchall() == [
            (moved.archive_id,)
        ]
