"""Move an archive's SQLite catalogue and JSONL audit log into PostgreSQL.

Everything is copied in one PostgreSQL transaction (rows keep their ids, the audit lines keep
their exact bytes, and a ``catalogue-migrate`` event is chained after them), so an interrupted
run leaves either nothing or everything there. Then both sides are compared: row counts and a
SHA-256 over every row of every table, the audit lines one by one, and the chain in
PostgreSQL checked end to end. Only then is the SQLite file marked as migrated (a
``migrated_to`` table naming the URL without its password), after which any command that
would use it names the new URL instead. A re-run after an interruption finds the rows already
there, checks them and finishes; it never copies twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArchiveError, CatalogueError, ConfigError
from ..host import host_name
from ..storage import ondisk
from .audit import GENESIS, AuditLog, _dumps
from .backend import (
    MIGRATED_TABLE,
    PRIVILEGE_DENIED,
    CatalogueLocation,
    bind,
    catalogue_path,
    denied,
    migration_mark,
    redact,
    scrubbed,
)

if TYPE_CHECKING:  # psycopg loads only when a PostgreSQL catalogue is used (start-up time)
    import psycopg

    from .pg import Tie

TABLES: tuple[tuple[str, str], ...] = (
    ("files", "id"),
    ("keywords", "file_id, kind, position"),
    ("ingests", "ingest_id"),
    ("sightings", "id"),
    ("dicom_sends", "id"),
)
"""The catalogue's tables and the order their rows are compared in."""

MIGRATE_EVENT = "catalogue-migrate"


@dataclass(frozen=True)
class MigrateReport:
    archive: str
    to: str
    archive_id: str
    counts: dict[str, int]
    audit_events: int
    copied: bool
    """False when a former run had copied everything already."""


def _columns(sqlite: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in sqlite.execute(f"PRAGMA table_info({table})")]


def _digest(rows: Iterable[Sequence[Any]]) -> tuple[int, str]:
    digest = hashlib.sha256()
    n = 0
    for row in rows:
        n += 1
        digest.update(json.dumps(list(row), default=str).encode("utf-8") + b"\n")
    return n, digest.hexdigest()


def _audit_lines(archive: Path) -> list[bytes]:
    """The JSONL log's lines (without newlines), after checking its chain."""
    log = AuditLog(archive)
    check = log.check()
    if not check.ok:
        raise CatalogueError(
            f"The audit log {log.path} does not check out ({check.problem}); nothing was moved",
            details=["Run cardingest audit to see where, and restore it from a backup."],
        )
    if not ondisk.exists(log.path):
        return []
    return [line.removesuffix(b"\n") for line in log.path.read_bytes().splitlines(keepends=True)]


def _migrate_line(prev: str, seq: int, archive_id: str, counts: dict[str, int]) -> bytes:
    record: dict[str, object] = {
        "archive_id": archive_id,
        "counts": counts,
        "ts": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "event": MIGRATE_EVENT,
        "host": host_name(),
        "prev": prev,
        "seq": seq,
    }
    return _dumps(record).encode("utf-8")


def _target_empty(pg: psycopg.Connection[Any], found: Tie) -> bool:
    for table, _order in TABLES:
        row = pg.execute(f'SELECT EXISTS (SELECT 1 FROM "{found.schema}".{table})').fetchone()
        if row and row[0]:
            return False
    row = pg.execute(
        "SELECT EXISTS (SELECT 1 FROM cardingest.audit WHERE archive_id = %s)",
        (found.archive_id,),
    ).fetchone()
    return not (row and row[0])


def _copy(
    sqlite: sqlite3.Connection,
    pg: psycopg.Connection[Any],
    found: Tie,
    lines: list[bytes],
    counts: dict[str, int],
    *,
    stale: bool = False,
) -> None:
    """Everything in one transaction: all rows, the audit lines, the migrate event, the head.

    ``stale``: the target holds an earlier, interrupted copy that no longer matches (the
    SQLite catalogue was written since); it is replaced in the same transaction. Nothing else
    can have written there: PostgreSQL is refused for an archive until its move is marked.
    """
    from .pg import lock_key

    with pg.transaction():
        pg.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(found.archive_id, "audit"),))
        if stale:
            for table, _order in reversed(TABLES):
                pg.execute(f'DELETE FROM "{found.schema}".{table}')
            pg.execute("DELETE FROM cardingest.audit WHERE archive_id = %s", (found.archive_id,))
        for table, order in TABLES:
            columns = _columns(sqlite, table)
            names = ", ".join(columns)
            marks = ", ".join(["%s"] * len(columns))
            rows = sqlite.execute(f"SELECT {names} FROM {table} ORDER BY {order}")
            with pg.cursor() as cursor:
                while batch := rows.fetchmany(1000):
                    cursor.executemany(
                        f'INSERT INTO "{found.schema}".{table} ({names}) VALUES ({marks})',
                        [list(row) for row in batch],
                    )
            if "id" in columns:
                pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{found.schema}\".{table}', 'id'),"
                    f' coalesce((SELECT max(id) FROM "{found.schema}".{table}), 0) + 1, false)'
                )
        prev = GENESIS
        for seq, line in enumerate(lines, start=1):
            prev_digest = hashlib.sha256(line).hexdigest()
            pg.execute(
                "INSERT INTO cardingest.audit (archive_id, seq, line, sha256)"
                " VALUES (%s, %s, %s, %s)",
                (found.archive_id, seq, line.decode("utf-8"), prev_digest),
            )
            prev = prev_digest
        event = _migrate_line(prev, len(lines) + 1, found.archive_id, counts)
        digest = hashlib.sha256(event).hexdigest()
        pg.execute(
            "INSERT INTO cardingest.audit (archive_id, seq, line, sha256) VALUES (%s, %s, %s, %s)",
            (found.archive_id, len(lines) + 1, event.decode("utf-8"), digest),
        )
        pg.execute(
            "UPDATE cardingest.archives SET audit_lines = %s, audit_last = %s"
            " WHERE archive_id = %s",
            (len(lines) + 1, digest, found.archive_id),
        )


def _compare(
    sqlite: sqlite3.Connection, pg: psycopg.Connection[Any], found: Tie, lines: list[bytes]
) -> dict[str, int]:
    """Counts and checksums of every table, and the audit lines, or a CatalogueError."""
    counts: dict[str, int] = {}
    for table, order in TABLES:
        names = ", ".join(_columns(sqlite, table))
        source = _digest(sqlite.execute(f"SELECT {names} FROM {table} ORDER BY {order}"))
        target = _digest(
            pg.execute(f'SELECT {names} FROM "{found.schema}".{table} ORDER BY {order}')
        )
        if source != target:
            raise CatalogueError(
                f"The {table} rows in {redact(found.url)} differ from the SQLite catalogue"
                f" ({target[0]} rows there, {source[0]} in SQLite); the SQLite file is left"
                " unmarked",
                details=[
                    "Nothing in the archive was changed. Was something written to this"
                    " archive's PostgreSQL catalogue meanwhile?"
                ],
            )
        counts[table] = source[0]
    stored = [
        str(row[0]).encode("utf-8")
        for row in pg.execute(
            "SELECT line FROM cardingest.audit WHERE archive_id = %s ORDER BY seq",
            (found.archive_id,),
        )
    ]
    if stored[: len(lines)] != lines or len(stored) != len(lines) + 1:
        raise CatalogueError(
            f"The audit events in {redact(found.url)} differ from the archive's audit.jsonl;"
            " the SQLite file is left unmarked"
        )
    if json.loads(stored[-1]).get("event") != MIGRATE_EVENT:
        raise CatalogueError("The last audit event in PostgreSQL is not the migration's")
    return counts


def _already(archive: Path, url: str, found: Tie, pg: psycopg.Connection[Any]) -> MigrateReport:
    from .pg import PgAudit

    counts = {}
    for table, _order in TABLES:
        row = pg.execute(f'SELECT count(*) FROM "{found.schema}".{table}').fetchone()
        counts[table] = int(row[0]) if row else 0
    check = AuditLog(archive).check_database(PgAudit(url, archive))
    if not check.ok:
        raise CatalogueError(
            f"The audit chain in {redact(url)} does not check out: {check.problem}"
        )
    bind(archive, CatalogueLocation(url=url))
    return MigrateReport(
        archive=str(archive),
        to=redact(url),
        archive_id=found.archive_id,
        counts=counts,
        audit_events=check.events,
        copied=False,
    )


def _counts(sqlite: sqlite3.Connection) -> dict[str, int]:
    return {
        table: int(sqlite.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        for table, _order in TABLES
    }


def _mark(archive: Path, url: str, archive_id: str) -> None:
    path = catalogue_path(archive)
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATED_TABLE}"
                " (url TEXT NOT NULL, archive_id TEXT NOT NULL, at TEXT NOT NULL)"
            )
            conn.execute(f"DELETE FROM {MIGRATED_TABLE}")
            conn.execute(
                f"INSERT INTO {MIGRATED_TABLE} VALUES (?, ?, ?)",
                (redact(url), archive_id, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CatalogueError(f"Cannot mark {path} as migrated: {exc}") from exc


def _require_writable(path: Path) -> None:
    """The SQLite file is marked as migrated at the end: one this account may not write is
    refused now, before anything is copied, not after."""
    try:
        with path.open("r+b"):
            pass
    except PermissionError:
        raise ArchiveError(
            denied(path, "write"),
            details=["The migration marks this file as moved when it is done; nothing was copied."],
        ) from None
    except OSError as exc:
        raise CatalogueError(f"Cannot open {path}: {exc.strerror or exc}") from exc


def migrate(archive: Path, url: str) -> MigrateReport:
    """Move ``archive``'s SQLite catalogue and audit log to ``url``. The caller holds the
    archive's lock file, so no SQLite writer runs meanwhile."""
    import psycopg

    from .pg import PgAudit, Tie, connect, read_archive_id, refuse_lost_id, register, tie

    archive = Path(archive)
    path = catalogue_path(archive)
    if not ondisk.is_file(path):
        raise ConfigError(f"No SQLite catalogue at {path}: nothing to migrate. Is --archive right?")
    bind(archive, CatalogueLocation())  # read the SQLite side, wherever the config points
    mark = migration_mark(archive)
    done = mark[0] if mark else None
    if done is not None and done != redact(url):
        raise ConfigError(f"The catalogue of {archive} was already migrated to {done}")
    if done is None:
        _require_writable(path)
    try:
        sqlite = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise CatalogueError(f"Cannot open {path}: {exc}") from exc
    pg = connect(url, "migrate")
    try:
        had_id = read_archive_id(archive) is not None
        if had_id:
            found = tie(pg, url, archive, create=False, migrating=True)
        else:
            if done is not None:  # moved before, and the id lost since
                refuse_lost_id(pg, url, archive, mark)
            found = register(pg, archive)
            found = Tie(url, found.archive_id, found.schema)
        lines = _audit_lines(archive)
        copied = False
        if done is not None:  # moved before: PostgreSQL is the catalogue now, maybe changed
            return _already(archive, url, found, pg)
        if _target_empty(pg, found):
            _copy(sqlite, pg, found, lines, _counts(sqlite))
            copied = True
        try:
            counts = _compare(sqlite, pg, found, lines)
        except CatalogueError:
            if copied or done is not None:
                raise
            _copy(sqlite, pg, found, lines, _counts(sqlite), stale=True)
            copied = True
            counts = _compare(sqlite, pg, found, lines)
    except (sqlite3.Error, psycopg.Error) as exc:
        if getattr(exc, "sqlstate", None) == PRIVILEGE_DENIED:  # a desk's role, say
            raise ConfigError(
                f"Migration to {redact(url)} stopped: {scrubbed(str(exc).splitlines()[0], url)}",
                details=[
                    "The role in the URL may not make the archive's tables: migrate with the "
                    'owner\'s URL (the role that owns the schema, "Setting up the database" in '
                    "README.md), then give the desks theirs. Nothing was moved."
                ],
            ) from exc
        raise CatalogueError(f"Migration to {redact(url)} stopped: {exc}") from exc
    finally:
        sqlite.close()
        pg.close()
    check = AuditLog(archive).check_database(PgAudit(url, archive, migrating=True))
    if not check.ok:
        raise CatalogueError(
            f"The audit chain in {redact(url)} does not check out after the copy: {check.problem}"
        )
    _mark(archive, url, found.archive_id)
    bind(archive, CatalogueLocation(url=url))
    return MigrateReport(
        archive=str(archive),
        to=redact(url),
        archive_id=found.archive_id,
        counts=counts,
        audit_events=check.events,
        copied=copied,
    )
