"""The archive's catalogue: one SQLite row per archived file, plus the ingest runs.

Lives at ``{archive}/.cardingest/catalogue.sqlite``. ``PRAGMA user_version`` is the schema
version; ``MIGRATIONS[n]`` upgrades a file from version ``n`` to ``n + 1``, so a newer
cardingest upgrades an older catalogue in place and an older cardingest refuses a newer one.

No personal details are stored: patient IDs, never names or birth dates.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from ..errors import CatalogueError, InsufficientSpaceError, NoArchiveError
from ..ids import SAFE_ID
from ..models import CONSENT_LEVELS, METADIR, ArchivedFile, ArchiveState
from ..storage import modes, ondisk
from ..storage.transfer import plain_relpath
from ..text import keyword_text
from .backend import (
    PRIVILEGE_DENIED,
    catalogue_lost,
    catalogue_path,
    check_not_migrated,
    location_for,
    refuse_fusefat,
    refuse_lost,
    refuse_network,
    role_denied,
)
from .readonly import FULL_BELOW, sqlite_could_fault

_SQL_VARS = 500
"""Parameters per ``IN (...)`` chunk, well under SQLite's limit."""

_FETCH = 500


@dataclass(frozen=True)
class CatalogueRecord:
    """One archived file.

    ``archive_path`` is POSIX and relative to the archive root; ``captured_at`` is ISO 8601
    camera local time after the clock offset, ``captured_raw`` the same before it.
    ``backup_path`` is the absolute path of the verified backup copy, if one was made.
    """

    patient_id: str
    archive_path: str
    sha256: str
    size: int
    captured_at: str
    captured_raw: str
    time_source: str
    subsec: str = ""
    utc_offset: str | None = None
    source_path: str = ""
    card_label: str | None = None
    card_serial: str | None = None
    make: str | None = None
    model: str | None = None
    ingest_id: str = ""
    operator: str = ""
    archived_at: str = ""
    diagnosis: tuple[str, ...] = ()
    site: str | None = None
    consent: str | None = None
    backup_path: str | None = None
    role: str = "photo"
    """``slate``: the photographed barcode that gave the patient ID (``--slates``)."""
    rowid: int | None = None


ROLES = ("photo", "slate")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _text(value: object) -> str | None:
    return None if isinstance(value, str) else "is not text"


def _text_or_none(value: object) -> str | None:
    return None if value is None or isinstance(value, str) else "is not text"


def _archive_path(value: object) -> str | None:
    """A photo's path in the archive, as publishing requires (and the publish journal's): it
    cannot lead out of the archive, nor into its own records."""
    good = isinstance(value, str) and plain_relpath(value) and value.split("/")[0] != METADIR
    return None if good else "is not the path of a photo inside the archive"


def _patient_id(value: object) -> str | None:
    """An ID as `ids.validate_id` gives it: a safe folder name, capital letters (a row in
    lower case would drop out of every look-up by ID, which upper-cases what it is given)."""
    if not isinstance(value, str) or SAFE_ID.fullmatch(value) is None:
        return "is not a patient ID (1-64 letters, digits, '-' or '_')"
    return None if value == value.upper() else "is not a patient ID as entered (capitals)"


def _filed_under(archive_path: str, patient_id: str) -> str | None:
    """A photo's path names a file in a folder of its patient: every folder template holds
    ``{id}`` (`naming.check_templates`), and nothing else in it looks like another ID (an ID
    of letters and digits, the same letters-and-digits shape: ``MCJ1984/JBX3656/…`` and
    ``MCJ1984JBX3656/…`` are in MCJ1984's folder). A path edited to a folder's name, or
    into another patient's folder, would have a repair put the photo there, and a wipe take
    it for archived."""
    folder = archive_path.rpartition("/")[0]
    if patient_id not in folder:
        return f"is not a file in a folder of patient {patient_id} (the row's patient_id)"
    rest = folder.replace(patient_id, "/")  # the ID itself, run together with another or not
    other = next(iter(_shaped_like(patient_id).findall(rest)), None)
    if other is not None:
        return (
            f"lies in a folder named after another ID ({other}), not only patient "
            f"{patient_id}'s (the row's patient_id)"
        )
    return None


@functools.lru_cache(maxsize=256)
def _shaped_like(patient_id: str) -> re.Pattern[str]:
    """Words of ``patient_id``'s shape (a letter for a letter, a digit for a digit); for an
    ID of digits alone none (a date in a folder name has that shape too)."""
    if not (any(c.isalpha() for c in patient_id) and any(c.isdigit() for c in patient_id)):
        return re.compile(r"(?!)")
    shape = "".join(
        "[A-Za-z]" if c.isalpha() else r"\d" if c.isdigit() else re.escape(c) for c in patient_id
    )
    return re.compile(rf"(?<![^\W_]){shape}(?![^\W_])")


def _sha256(value: object) -> str | None:
    good = isinstance(value, str) and _SHA256.fullmatch(value) is not None
    return None if good else "is not a SHA-256 (64 hexadecimal digits)"


def _size(value: object) -> str | None:
    good = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if good else "is not a size in bytes"


def _time(value: object) -> str | None:
    if not isinstance(value, str):
        return "is not text"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return "is not a date and time (YYYY-MM-DDTHH:MM:SS)"
    return None


def _backup_path(value: object) -> str | None:
    """None, or a backup copy's path: a full one (in this system's form), no ``.`` or ``..``.
    (A repair writes only below the run's own --backup, and verify looks through a backup
    folder only where an ingest made its ``.cardingest``.)"""
    if value is None:
        return None
    if not isinstance(value, str):
        return "is not text"
    parts = value.replace(os.altsep or os.sep, os.sep).split(os.sep)
    if not os.path.isabs(value) or "\0" in value or any(p in (".", "..") for p in parts):
        return "is not the full path of a backup copy"
    return None


def _role(value: object) -> str | None:
    return None if value in ROLES else f"is not one of {', '.join(ROLES)}"


def _keywords(value: object) -> str | None:
    if not isinstance(value, tuple) or not all(isinstance(word, str) for word in value):
        return "holds a keyword that is not text"
    return next(filter(None, (_controlled(word) for word in value)), None)


def _keyword_or_none(value: object) -> str | None:
    return _text_or_none(value) or (_controlled(value) if isinstance(value, str) else None)


def _controlled(word: str) -> str | None:
    """A keyword with a control character (an escape sequence, a line break): no version of
    cardingest has let one in, from a map or `tag`."""
    found = next((char for char in word if ord(char) < 32), None)
    return None if found is None else f"holds a control character ({found!r})"


_CHECKS: dict[str, Callable[[object], str | None]] = {
    "patient_id": _patient_id,
    "archive_path": _archive_path,
    "sha256": _sha256,
    "size": _size,
    "captured_at": _time,
    "captured_raw": _time,
    **dict.fromkeys(
        ("time_source", "subsec", "source_path", "ingest_id", "operator", "archived_at"), _text
    ),
    **dict.fromkeys(("utc_offset", "card_label", "card_serial", "make", "model"), _text_or_none),
    **dict.fromkeys(("site", "consent"), _keyword_or_none),
    "problem": _text_or_none,
    "diagnosis": _keywords,
    "backup_path": _backup_path,
    "role": _role,
}
"""Why a value is none cardingest writes in a field of a file's row (None if it is one)."""


@dataclass(frozen=True)
class DamagedRecord:
    """A catalogue row with a value cardingest never writes in a field: edited by hand (with
    sqlite3 or psql) or damaged. Used, it could crash a command or lead a file operation out
    of the archive, so no command uses it (`CatalogueError`) and ``verify`` lists it."""

    rowid: int
    archive_path: str | None
    """The row's archive path, if it is a path in the archive."""
    patient_id: str | None
    field: str
    value: object
    why: str
    stored_path: object = None
    """The row's archive path as it stands, whatever it is."""
    table: str = "files"
    """``sightings`` for a card path the file was seen at again (its ``rowid`` that row's)."""
    content: tuple[str, int] | None = None
    """The row's SHA-256 and size, where both are good: which file in the archive is its
    photo (`verify` names it, rather than call it a stray)."""
    backup_path: str | None = None
    """The row's backup copy, where that field is good: its line in a backup's manifest is
    no stray line (`verify` lists the row once, as invalid)."""

    @property
    def shown_path(self) -> str:
        """The row's archive path as it stands, for a listing."""
        stored = self.stored_path
        return stored if isinstance(stored, str) else _shown(stored)

    @property
    def detail(self) -> str:
        return f"catalogue row {self.rowid}: {self.field} {_shown(self.value)} {self.why}"

    def error(self, catalogue: Path | str) -> CatalogueError:
        row = f"row {self.rowid}" if self.table == "files" else f"{self.table} row {self.rowid}"
        what = "the record" if self.table == "files" else "a sighting on a card"
        of = f"{what} of {self.archive_path} ({row})" if self.archive_path else f"{what} in {row}"
        listed = "; `cardingest verify` lists every such record" if self.table == "files" else ""
        return CatalogueError(
            f"Catalogue {catalogue}: {of} has {self.field} "
            f"{_shown(self.value)}, which {self.why}: cardingest never writes that, so the "
            "catalogue was edited by hand or is damaged. Stopped before that record was used. "
            "Put the value back (from a backup of the catalogue) or ask whoever looks after "
            f"the archive{listed}."
        )


_SPELLED = 10
"""Letters in an ID up to which its other cases are looked up one by one (2**10 - 1)."""


def _other_cases(patient_id: str) -> list[str] | None:
    """Every other spelling of ``patient_id`` in upper and lower case letters; None for an
    ID of more than `_SPELLED` letters."""
    letters = [at for at, char in enumerate(patient_id) if char.isalpha()]
    if len(letters) > _SPELLED:
        return None
    spellings = []
    for mask in range(1, 1 << len(letters)):
        chars = list(patient_id)
        for bit, at in enumerate(letters):
            if mask >> bit & 1:
                chars[at] = chars[at].swapcase()
        spellings.append("".join(chars))
    return spellings


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def damaged(values: Mapping[str, object], rowid: int, table: str = "files") -> DamagedRecord | None:
    """The first field of a file's row (``values``, by column name: any of them; a sighting's
    with ``table`` ``sightings``) that holds a value cardingest never writes (`_CHECKS`);
    None when none does."""
    path, patient = values.get("archive_path"), values.get("patient_id")
    patient_ok = _patient_id(patient) is None
    for name, value in values.items():
        check = _CHECKS.get(name)
        why = None if check is None else check(value)
        if why is None and name == "archive_path" and patient_ok:
            why = _filed_under(str(value), str(patient))
        if why is None:
            continue
        sha256, size, backup = values.get("sha256"), values.get("size"), values.get("backup_path")
        content = (
            (sha256.lower(), size)
            if isinstance(sha256, str)
            and _sha256(sha256) is None
            and isinstance(size, int)
            and _size(size) is None
            else None
        )
        return DamagedRecord(
            rowid,
            path if isinstance(path, str) and _archive_path(path) is None else None,
            patient if isinstance(patient, str) and patient_ok else None,
            name,
            value,
            why,
            path,
            table,
            content,
            backup if isinstance(backup, str) and _backup_path(backup) is None else None,
        )
    return None


_ARCHIVED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ArchivedFile))

_DERIVED = ("diagnosis", "rowid")
_FILE_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(CatalogueRecord) if f.name not in _DERIVED
)
"""Columns of ``files``, in the order of the record's fields."""

_RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CatalogueRecord))
_DIAGNOSIS_AT = _RECORD_FIELDS.index("diagnosis")

_INGEST_COLUMNS: tuple[str, ...] = (
    "ingest_id",
    "started",
    "finished",
    "operator",
    "host",
    "source",
    "card_label",
    "card_serial",
    "archive",
    "backup",
    "clock_offset",
    "map_source",
    "counts",
    "bytes_copied",
    "manifest",
    "status",
)


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE files (
            id           INTEGER PRIMARY KEY,
            patient_id   TEXT    NOT NULL,
            archive_path TEXT    NOT NULL UNIQUE,
            sha256       TEXT    NOT NULL,
            size         INTEGER NOT NULL,
            captured_at  TEXT    NOT NULL,
            captured_raw TEXT    NOT NULL,
            time_source  TEXT    NOT NULL,
            subsec       TEXT    NOT NULL DEFAULT '',
            utc_offset   TEXT,
            source_path  TEXT    NOT NULL DEFAULT '',
            card_label   TEXT,
            card_serial  TEXT,
            make         TEXT,
            model        TEXT,
            ingest_id    TEXT    NOT NULL DEFAULT '',
            operator     TEXT    NOT NULL DEFAULT '',
            archived_at  TEXT    NOT NULL DEFAULT '',
            site         TEXT,
            consent      TEXT,
            backup_path  TEXT
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE keywords (
            file_id  INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            kind     TEXT    NOT NULL,
            position INTEGER NOT NULL,
            value    TEXT    NOT NULL,
            PRIMARY KEY (file_id, kind, position)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        """
        CREATE TABLE ingests (
            ingest_id    TEXT PRIMARY KEY,
            started      TEXT NOT NULL,
            finished     TEXT,
            operator     TEXT NOT NULL,
            host         TEXT NOT NULL,
            source       TEXT NOT NULL,
            card_label   TEXT,
            card_serial  TEXT,
            archive      TEXT NOT NULL,
            backup       TEXT,
            clock_offset TEXT NOT NULL,
            map_source   TEXT NOT NULL,
            counts       TEXT,
            bytes_copied INTEGER,
            manifest     TEXT,
            status       TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX files_patient ON files(patient_id, captured_at)")
    conn.execute("CREATE INDEX files_captured ON files(captured_at)")
    conn.execute("CREATE INDEX files_sha256 ON files(sha256)")
    conn.execute("CREATE INDEX keywords_value ON keywords(lower(value), kind)")


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Sightings (card files whose content was already archived), and files by ingest."""
    conn.execute(
        """
        CREATE TABLE sightings (
            id          INTEGER PRIMARY KEY,
            file_id     INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            source_path TEXT    NOT NULL,
            card_label  TEXT,
            card_serial TEXT,
            ingest_id   TEXT    NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX sightings_file ON sightings(file_id)")
    conn.execute("CREATE INDEX files_ingest ON files(ingest_id)")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Files by card path: the wipe looks up a card file that has no record of its bytes."""
    conn.execute("CREATE INDEX files_source ON files(source_path)")


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """A damaged or missing copy found by verify or wipe, until an ingest repairs it."""
    conn.execute("ALTER TABLE files ADD COLUMN problem TEXT")


def _migrate_4_to_5(conn: sqlite3.Connection) -> None:
    """Photos sent to a PACS: where, when, as which DICOM instance (confirmed by the PACS)."""
    conn.execute(
        """
        CREATE TABLE dicom_sends (
            id                INTEGER PRIMARY KEY,
            file_id           INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            destination       TEXT    NOT NULL,
            sop_instance_uid  TEXT    NOT NULL,
            sent_at           TEXT    NOT NULL,
            frame_sha256      TEXT    NOT NULL,
            transform         TEXT,
            confirmed_by      TEXT    NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX dicom_sends_file ON dicom_sends(file_id, destination)")


def _migrate_5_to_6(conn: sqlite3.Connection) -> None:
    """The role of an archived file: ``photo``, or ``slate`` (the barcode photo of a group)."""
    conn.execute("ALTER TABLE files ADD COLUMN role TEXT NOT NULL DEFAULT 'photo'")


def _counts(text: object) -> dict | None:
    """An ingest's recorded counts; a record that is no JSON object (edited by hand) is
    read as none, as of a run that never ended."""
    try:
        counts = json.loads(text) if isinstance(text, str | bytes) and text else None
    except ValueError:
        return None
    return counts if isinstance(counts, dict) else None


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
    _migrate_3_to_4,
    _migrate_4_to_5,
    _migrate_5_to_6,
]
SCHEMA_VERSION = len(MIGRATIONS)


_ADVICE = (
    (
        ("readonly database",),  # SQLite's words for a file it may not write
        "this account may not write the catalogue file (or the folder it is in). Run as the "
        "account that owns the archive, or ask whoever looks after it to give this one write "
        "access; nothing was changed",
    ),
    (
        ("database is locked", "database is busy"),
        "another program kept the catalogue locked for writing for 30 seconds (a sqlite3 "
        "shell or a browser of the database left open, a backup tool, or cardingest on "
        "another machine, whose lock this one cannot see). Close it and run the command "
        "again",
    ),
    (
        ("file is not a database", "malformed"),
        "the catalogue file is damaged. Restore catalogue.sqlite (with its -wal file, if "
        "one was saved) from the archive's backup and run the command again; the photos "
        "and their manifests are not changed",
    ),
)


def explained(reason: str) -> str:
    """SQLite's reason, with what it means for the archive and what to do where it is one
    a user can act on (a trial met a bare "database is locked" and "file is not a
    database")."""
    for words, advice in _ADVICE:
        if any(word in reason for word in words):
            return f"{reason}: {advice}"
    return reason


def require_catalogue(archive: Path, consequence: str = "") -> None:
    """Refuse an archive without a catalogue: most often a wrong ``--archive``.

    ``consequence`` says what that means for the command at hand, e.g. "so nothing can be
    removed". A PostgreSQL-bound archive must be tied to its database (see ``pg``).
    """
    location = location_for(archive)
    if location.postgres:
        from .pg import require_tied

        assert location.url is not None
        require_tied(location.url, archive, consequence)
        return
    check_not_migrated(archive)
    refuse_lost(archive)
    if not ondisk.is_file(catalogue_path(archive)):
        then = f", {consequence}" if consequence else ""
        raise NoArchiveError(
            f"No catalogue at {catalogue_path(archive)}: nothing is archived in {archive}{then}. "
            "Is --archive right?"
        )


_INSERT_DIAGNOSIS = (
    "INSERT INTO keywords (file_id, kind, position, value) VALUES (?, 'diagnosis', ?, ?)"
)


def _keyword_rows(file_id: int, keywords: Sequence[str]) -> list[tuple[int, int, str]]:
    return [(file_id, n, value) for n, value in enumerate(keywords)]


def _clean_keywords(values: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        text = value.strip()
        if text and text not in seen:
            seen.append(text)
    return tuple(seen)


def _clean_consent(consent: str | None) -> str | None:
    if consent is None or consent == "":
        return None
    if consent not in CONSENT_LEVELS:
        raise CatalogueError(
            f"Unknown consent {consent!r}: expected one of {', '.join(CONSENT_LEVELS)}"
        )
    return consent


def _chunks(items: Sequence[Any], size: int = _SQL_VARS) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlConnection(Protocol):
    """What the catalogue needs of a database: SQLite's ``?`` placeholders, both backends.

    :class:`SqliteConnection` wraps sqlite3; ``pg.PgConnection`` translates for psycopg.
    """

    errors: tuple[type[Exception], ...]
    integrity_errors: tuple[type[Exception], ...]
    claims: bool
    """Whether the database keeps running ingests' content claims (PostgreSQL, `claims`)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``column`` equal to any of ``values``: (condition, parameters) per query to run."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...

    def lost(self) -> bool:
        """Whether the connection is gone (a PostgreSQL server stopped, or that ended the
        session, or the network): an error then is the server's absence, not the SQL's."""
        ...


class SqliteConnection:
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    claims = False

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        for chunk in _chunks(values):
            yield f"{column} IN ({','.join('?' * len(chunk))})", list(chunk)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def lost(self) -> bool:
        return False

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        _rollback(self.conn)

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self.conn.execute("PRAGMA busy_timeout = 200")
            self.conn.execute("PRAGMA analysis_limit = 400")
            self.conn.execute("PRAGMA optimize")
        self.conn.close()


class Catalogue:
    """An open catalogue. Use as a context manager, or call :meth:`close`.

    Writes commit per call. Do not write through the same object while iterating
    :meth:`records`. ``path`` names it in messages: the SQLite file, or the PostgreSQL URL
    (without its password) and the archive's schema.
    """

    def __init__(self, conn: SqlConnection, path: Path | str) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, archive: Path, *, create: bool = True, cache_kib: int | None = None) -> Catalogue:
        """The archive's catalogue, in SQLite or in PostgreSQL as the archive is bound.

        ``cache_kib`` bounds SQLite's page cache for this connection (its default is 2 MiB,
        which a long ingest fills); PostgreSQL keeps its cache in the server.
        """
        location = location_for(archive)
        if location.postgres:
            from .pg import open_catalogue

            assert location.url is not None
            return open_catalogue(location.url, archive, create=create)
        return cls.open_sqlite(
            archive, create=create, wal=not location.single_workstation, cache_kib=cache_kib
        )

    @classmethod
    def open_sqlite(
        cls,
        archive: Path,
        *,
        create: bool = True,
        wal: bool = True,
        migrating: bool = False,
        cache_kib: int | None = None,
    ) -> Catalogue:
        path = catalogue_path(archive)
        modes.close_default_acl(path.parent)  # SQLite makes its -wal and -shm itself
        if not migrating:
            check_not_migrated(archive)
            refuse_lost(archive)
        refuse_fusefat(archive)
        if wal:
            refuse_network(archive)
            if sqlite_could_fault(archive):
                raise InsufficientSpaceError(
                    f"The disk holding {archive} is nearly full, and its small blocks would let "
                    "SQLite crash writing the catalogue there. Free at least "
                    f"{FULL_BELOW // 1024:,} KiB on it and run the command again; nothing was "
                    "changed."
                )
        if not create and not ondisk.is_file(path):
            raise CatalogueError(f"No catalogue at {path}")
        try:
            if create:
                modes.make_dirs(path.parent)
                with suppress(FileExistsError):  # SQLite gives its -wal and -shm the same mode
                    os.close(modes.create(path, os.O_WRONLY))
                conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            else:
                conn = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=rw",
                    timeout=30,
                    isolation_level=None,
                    uri=True,
                )
        except (OSError, sqlite3.Error) as exc:
            raise CatalogueError(f"Cannot open catalogue {path}: {explained(str(exc))}") from exc
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, path)
            wanted = "wal" if wal else "delete"
            mode = conn.execute(f"PRAGMA journal_mode = {wanted.upper()}").fetchone()[0]
            if str(mode).lower() != wanted:
                raise CatalogueError(
                    f"Catalogue {path} could not switch to {wanted.upper()} mode ({mode})"
                )
            conn.execute("PRAGMA synchronous = FULL")
            if cache_kib is not None:
                conn.execute(f"PRAGMA cache_size = {-int(cache_kib)}")
        except sqlite3.Error as exc:
            conn.close()
            raise CatalogueError(f"Cannot open catalogue {path}: {explained(str(exc))}") from exc
        except CatalogueError:
            conn.close()
            raise
        return cls(SqliteConnection(conn), path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._conn.errors as exc:
            if getattr(exc, "sqlstate", None) == PRIVILEGE_DENIED:  # PostgreSQL's role
                reason = str(exc).strip().splitlines()[0]
                raise role_denied(
                    str(self.path), getattr(self._conn, "role", None), reason
                ) from None
            reason = str(exc).strip().split("\n")[0] or type(exc).__name__  # not its CONTEXT
            if self._conn.lost():
                raise catalogue_lost(str(self.path), reason) from None
            if isinstance(exc, sqlite3.Error):  # PostgreSQL's words mean other things
                reason = explained(reason)
            raise CatalogueError(f"Catalogue {self.path}: {reason}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[SqlConnection]:
        with self._errors():
            self._conn.begin()
            try:
                yield self._conn
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise

    def archive_state(self, patient_ids: Iterable[str]) -> ArchiveState:
        """What the planner needs for these patients only.

        Sightings (the same content found again at another card path) count as archived
        from that path too, so a re-run plans them as ``skip``, as the ingest would.

        ``taken_paths`` holds every archive path recorded for these IDs, and every recorded
        path under a folder named after one of them (a superset is safe: it only avoids names).
        """
        ids = sorted(set(patient_ids))
        archived: list[ArchivedFile] = []
        taken: set[str] = set()
        with self._errors():
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    "SELECT id, patient_id, archive_path, sha256, size, source_path,"
                    " captured_raw, problem, backup_path, captured_at"
                    f" FROM files WHERE patient_id IN ({marks})"
                    " ORDER BY archive_path",
                    chunk,
                )
                for row in rows:
                    archived.append(self._archived(row))
                    taken.add(row[2])
                seen = self._conn.execute(
                    "SELECT f.id, f.patient_id, f.archive_path, f.sha256, f.size, s.source_path,"
                    " f.captured_raw, f.problem, f.backup_path, f.captured_at, s.id"
                    " FROM sightings s JOIN files f ON f.id = s.file_id"
                    f" WHERE f.patient_id IN ({marks})",
                    chunk,
                )
                for row in seen:
                    self._check_sighting(row[-1], row[2], source_path=row[5])
                    archived.append(self._archived(row[:-1]))
            for patient_id in ids:
                rows = self._conn.execute(
                    "SELECT archive_path FROM files WHERE archive_path >= ? AND archive_path < ?",
                    (patient_id + "/", patient_id + "0"),
                )
                taken.update(row[0] for row in rows)
        return ArchiveState(archived=tuple(archived), taken_paths=frozenset(taken))

    def archived_with_sizes(self, sizes: Iterable[int]) -> list[ArchivedFile]:
        """Every archived file (any patient) of one of these sizes: the candidates for
        "this content is already filed", which only the sha256 then decides."""
        return self._archived_where("size", sizes)

    def archived_from_names(self, paths: Iterable[str]) -> list[ArchivedFile]:
        """Every archived file (any patient) that came from one of these card paths."""
        return self._archived_where("source_path", paths)

    def _archived_where(self, column: str, values: Iterable[Any]) -> list[ArchivedFile]:
        wanted = sorted(set(values))
        found: list[ArchivedFile] = []
        with self._errors():
            for chunk in _chunks(wanted):
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    "SELECT id, patient_id, archive_path, sha256, size, source_path, captured_raw,"
                    " problem, backup_path, ingest_id, captured_at"
                    f" FROM files WHERE {column} IN ({marks})"
                    " ORDER BY archive_path",
                    chunk,
                )
                found.extend(self._archived(row) for row in rows)
        return found

    def _check_sighting(self, rowid: int, archive_path: object, **values: object) -> None:
        """A sighting row's own values (`damaged`); `CatalogueError` naming that row, and the
        file's ``archive_path`` if it is a good one, if one is bad."""
        bad = damaged(values, rowid, "sightings")
        if bad is not None:
            good = isinstance(archive_path, str) and _archive_path(archive_path) is None
            named = str(archive_path) if good else None
            raise replace(bad, archive_path=named, stored_path=archive_path).error(self.path)

    def _archived(self, row: Sequence[Any]) -> ArchivedFile:
        """A planner's view of a file row (its id first, its ``captured_at`` last); a
        damaged one (`damaged`) raises `CatalogueError`, as for records."""
        values: dict[str, Any] = dict(zip(_ARCHIVED_FIELDS, row[1:-1], strict=False))
        values["captured_at"] = row[-1]
        bad = damaged(values, row[0])
        if bad is not None:
            raise bad.error(self.path)
        return ArchivedFile(**values)

    def move_rows(self, changes: Sequence[tuple[str, str, str, str | None]]) -> int:
        """Refile rows, all or none: ``(old path, new path, new patient ID, new backup path)``.

        A row already at its new path is left alone, so a move that was interrupted can run
        again; a new path catalogued for another file raises :class:`CatalogueError`.
        Returns the number of rows changed.
        """
        changed = 0
        with self._transaction() as conn:
            for old, new, patient_id, backup_path in changes:
                there = conn.execute(
                    "SELECT patient_id FROM files WHERE archive_path = ?", (new,)
                ).fetchone()
                if there is not None:
                    if (
                        there[0] != patient_id
                        or conn.execute(
                            "SELECT 1 FROM files WHERE archive_path = ?", (old,)
                        ).fetchone()
                    ):
                        raise CatalogueError(f"{new} is already catalogued for another file")
                    continue
                cursor = conn.execute(
                    "UPDATE files SET patient_id = ?, archive_path = ?, backup_path = ?"
                    " WHERE archive_path = ?",
                    (patient_id, new, backup_path, old),
                )
                if cursor.rowcount != 1:
                    raise CatalogueError(f"{old} is not in the catalogue")
                changed += 1
        return changed

    def begin_ingest(
        self,
        ingest_id: str,
        *,
        started: str,
        operator: str,
        host: str,
        source: str,
        card_label: str | None,
        card_serial: str | None,
        archive: str,
        backup: str | None,
        clock_offset: str,
        map_source: str,
    ) -> None:
        with self._transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO ingests (ingest_id, started, operator, host, source, card_label,"
                    " card_serial, archive, backup, clock_offset, map_source, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
                    (
                        ingest_id,
                        started,
                        operator,
                        host,
                        source,
                        card_label,
                        card_serial,
                        archive,
                        backup,
                        clock_offset,
                        map_source,
                    ),
                )
            except conn.integrity_errors as exc:
                raise CatalogueError(f"Ingest {ingest_id} is already recorded") from exc

    def add(self, records: Sequence[CatalogueRecord]) -> None:
        """Record archived files, all or none.

        Adding a path again with the same sha256 and ID is a no-op, so a resumed ingest can
        repeat itself; the same path with other content raises :class:`CatalogueError`.
        """
        columns = ", ".join(_FILE_COLUMNS)
        marks = ", ".join("?" * len(_FILE_COLUMNS))
        insert = (
            f"INSERT INTO files ({columns}) VALUES ({marks})"
            " ON CONFLICT(archive_path) DO NOTHING RETURNING id"
        )
        with self._transaction() as conn:
            for record in records:
                values = [getattr(record, column) for column in _FILE_COLUMNS]
                values[_FILE_COLUMNS.index("consent")] = _clean_consent(record.consent)
                values[_FILE_COLUMNS.index("site")] = record.site or None
                values[_FILE_COLUMNS.index("sha256")] = record.sha256.lower()
                row = conn.execute(insert, values).fetchone()
                if row is None:
                    existing = conn.execute(
                        "SELECT patient_id, sha256 FROM files WHERE archive_path = ?",
                        (record.archive_path,),
                    ).fetchone()
                    if tuple(existing) != (record.patient_id, record.sha256.lower()):
                        raise CatalogueError(
                            f"{record.archive_path} is already catalogued with other content"
                            f" (sha256 {existing[1]}, ID {existing[0]})"
                        )
                    continue
                keywords = _clean_keywords(record.diagnosis)
                if keywords:
                    conn.executemany(_INSERT_DIAGNOSIS, _keyword_rows(row[0], keywords))

    @staticmethod
    def _write_diagnosis(conn: SqlConnection, file_id: int, values: Iterable[str]) -> None:
        conn.execute("DELETE FROM keywords WHERE file_id = ? AND kind = 'diagnosis'", (file_id,))
        conn.executemany(_INSERT_DIAGNOSIS, _keyword_rows(file_id, _clean_keywords(values)))

    def finish_ingest(
        self,
        ingest_id: str,
        *,
        finished: str,
        counts: Mapping[str, int],
        bytes_copied: int,
        manifest: str | None,
        status: str,
    ) -> None:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE ingests SET finished = ?, counts = ?, bytes_copied = ?, manifest = ?,"
                " status = ? WHERE ingest_id = ?",
                (
                    finished,
                    json.dumps(dict(counts), sort_keys=True),
                    bytes_copied,
                    manifest,
                    status,
                    ingest_id,
                ),
            )
            if cursor.rowcount != 1:
                raise CatalogueError(f"Ingest {ingest_id} was never begun in this catalogue")

    def recorded_from(self, source_paths: Sequence[str]) -> list[CatalogueRecord]:
        """Records whose card path is one of ``source_paths`` (any content, any card)."""
        if not source_paths:
            return []
        marks = ",".join("?" * len(source_paths))
        return self._select(
            f"WHERE f.source_path IN ({marks}) ORDER BY f.archive_path", tuple(source_paths)
        )

    def find_by_sha(self, sha256: str) -> list[CatalogueRecord]:
        """Records with this content, then one per sighting of it on a card.

        A sighting's record is the archived file's record seen from the card path where the
        same bytes were found again, so the wipe gate can prove that file archived too.
        """
        records = self._select("WHERE f.sha256 = ? ORDER BY f.archive_path", (sha256.lower(),))
        by_id = {record.rowid: record for record in records}
        if not by_id:
            return records
        with self._errors():
            sightings = self._conn.execute(
                "SELECT id, file_id, source_path, card_label, card_serial, ingest_id"
                f" FROM sightings WHERE file_id IN ({','.join('?' * len(by_id))}) ORDER BY id",
                list(by_id),
            ).fetchall()
        for sighting, file_id, source_path, label, serial, ingest_id in sightings:
            self._check_sighting(
                sighting,
                by_id[file_id].archive_path,
                source_path=source_path,
                card_label=label,
                card_serial=serial,
                ingest_id=ingest_id,
            )
            records.append(
                replace(
                    by_id[file_id],
                    source_path=source_path,
                    card_label=label,
                    card_serial=serial,
                    ingest_id=ingest_id,
                )
            )
        return records

    def add_sighting(
        self,
        archive_path: str,
        *,
        source_path: str,
        card_label: str | None,
        card_serial: str | None,
        ingest_id: str,
    ) -> None:
        """Record that the card file at `source_path` holds the content of `archive_path`."""
        with self._transaction() as conn:
            file_id = _file_id(conn, archive_path)
            known = conn.execute(
                "SELECT 1 FROM sightings WHERE file_id = ? AND source_path = ?"
                " AND card_serial IS ?",
                (file_id, source_path, card_serial),
            ).fetchone()
            if known is None:
                conn.execute(
                    "INSERT INTO sightings (file_id, source_path, card_label, card_serial,"
                    " ingest_id) VALUES (?, ?, ?, ?, ?)",
                    (file_id, source_path, card_label, card_serial, ingest_id),
                )

    def has_sha(self, patient_id: str, sha256: str) -> CatalogueRecord | None:
        found = self._select(
            "WHERE f.sha256 = ? AND f.patient_id = ? ORDER BY f.archive_path LIMIT 1",
            (sha256.lower(), patient_id),
        )
        return found[0] if found else None

    def set_problems(self, problems: dict[str, str | None]) -> None:
        """Record (or, with None, clear) a copy problem per archive path."""
        if not problems:
            return
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE files SET problem = ? WHERE archive_path = ?",
                [(problem, path) for path, problem in problems.items()],
            )

    def set_backup_copy(self, archive_path: str, backup_path: str) -> None:
        """Record the backup copy made for a photo archived with none."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE files SET backup_path = ? WHERE archive_path = ? AND backup_path IS NULL",
                (backup_path, archive_path),
            )

    def move_backup(
        self, changes: Sequence[tuple[str | None, str, str]], old: str, new: str
    ) -> int:
        """Point backup copies at a new backup folder, all or none: ``(problem, new backup
        path, archive path)`` per photo, and each ingest that named ``old`` as its backup
        names ``new``. Returns the number of ingests changed."""
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE files SET problem = ?, backup_path = ? WHERE archive_path = ?", changes
            )
            cursor = conn.execute("UPDATE ingests SET backup = ? WHERE backup = ?", (new, old))
            return int(cursor.rowcount or 0)

    def problems(self) -> dict[str, str]:
        """Every recorded copy problem, by archive path."""
        with self._errors():
            rows = self._conn.execute(
                "SELECT archive_path, problem FROM files WHERE problem IS NOT NULL"
            ).fetchall()
        return dict(rows)

    def record(self, archive_path: str) -> CatalogueRecord | None:
        """The record of one archive path (POSIX, relative to the archive root), if any."""
        found = self._select("WHERE f.archive_path = ?", (archive_path,))
        return found[0] if found else None

    def records(
        self,
        patient_id: str | None = None,
        *,
        ingest_id: str | None = None,
        on_damaged: Callable[[DamagedRecord], None] | None = None,
    ) -> Iterator[CatalogueRecord]:
        """Stream records (of one patient, of one ingest) by archive path, a batch at a time.

        A damaged row (`damaged`) raises `CatalogueError`, or with ``on_damaged`` is handed
        to it and left out (``verify`` lists them and checks the rest)."""
        conditions = [
            (column, value)
            for column, value in (("f.patient_id", patient_id), ("f.ingest_id", ingest_id))
            if value is not None
        ]
        if patient_id is not None:
            self._other_case(patient_id, on_damaged)
        where = " AND ".join(f"{column} = ?" for column, _ in conditions)
        params = tuple(value for _, value in conditions)
        where = (f"WHERE {where} " if where else "") + "ORDER BY f.archive_path"
        for rows in self._batches(self._query(where), params):
            with self._errors():
                batch = self._hydrate(rows, on_damaged)
            yield from batch

    def newest_photo(self, ingest_id: str, other_than: str | None = None) -> str | None:
        """The latest camera time (``captured_raw``, before any clock offset) of the photos
        one ingest filed; with ``other_than``, of those it filed under another patient."""
        sql = "SELECT max(captured_raw) FROM files WHERE ingest_id = ? AND role = 'photo'"
        params: tuple[str, ...] = (ingest_id,)
        if other_than is not None:
            sql, params = f"{sql} AND patient_id <> ?", (ingest_id, other_than)
        with self._errors():
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def manifest_entries(self, ingest_id: str) -> Iterator[tuple[str, str, str | None]]:
        """(sha256, archive path, backup path) of each file of one ingest, streamed."""
        sql = "SELECT sha256, archive_path, backup_path FROM files WHERE ingest_id = ?"
        for rows in self._batches(sql, (ingest_id,)):
            yield from ((row[0], row[1], row[2]) for row in rows)

    def _batches(self, sql: str, params: tuple[Any, ...]) -> Iterator[list[Any]]:
        """The rows of a query, _FETCH at a time, so memory does not grow with the archive."""
        with self._errors():
            cursor = self._conn.execute(sql, params)
        try:
            while True:
                with self._errors():
                    rows = cursor.fetchmany(_FETCH)
                if not rows:
                    return
                yield rows
        finally:
            cursor.close()

    def search(
        self,
        *,
        patient_id: str | None = None,
        diagnosis: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int | None = None,
    ) -> list[CatalogueRecord]:
        """Records matching every filter given, ordered by capture time then path.

        ``diagnosis`` matches one whole keyword, case-insensitively in any script
        (`_spellings`). Dates are inclusive and compare the day of ``captured_at``; a
        ``date_to`` of 9999-12-31 (``date.max``, which has no next day) leaves out no photo.
        """
        clauses: list[str] = []
        params: list[object] = []
        if patient_id is not None:
            self._other_case(patient_id)
            clauses.append("f.patient_id = ?")
            params.append(patient_id)
        if diagnosis is not None:
            given = diagnosis.strip()
            if given.isascii():
                same, values = "lower({value}) = lower(?)", [given]
            else:
                values = self._spellings(given) or [given]
                same = "{value} IN (" + ", ".join("?" * len(values)) + ")"
            # With an ID the few rows of that patient are checked one by one; without, the
            # keyword index yields the matching files.
            if patient_id is not None:
                clauses.append(
                    "EXISTS (SELECT 1 FROM keywords k WHERE k.file_id = f.id"
                    f" AND {same.format(value='k.value')} AND k.kind = 'diagnosis')"
                )
            else:
                clauses.append(
                    "f.id IN (SELECT file_id FROM keywords"
                    f" WHERE {same.format(value='value')} AND kind = 'diagnosis')"
                )
            params.extend(values)
        if date_from is not None:
            clauses.append("f.captured_at >= ?")
            params.append(date_from.isoformat())
        if date_to is not None and date_to < date.max:
            clauses.append("f.captured_at < ?")
            params.append((date_to + timedelta(days=1)).isoformat())
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        where += " ORDER BY f.captured_at, f.archive_path"
        if limit is not None:
            where += " LIMIT ?"
            params.append(max(0, limit))
        return self._select(where, params)

    def _spellings(self, keyword: str) -> list[str]:
        """The diagnoses recorded that are ``keyword`` but for case: SQLite's ``lower`` (and
        PostgreSQL's, in a C locale) changes ASCII letters only, so MÉLANOME would not find
        mélanome. Asked only for a keyword beyond ASCII."""
        wanted = keyword_text(keyword).casefold()
        with self._errors():
            rows = self._conn.execute(
                "SELECT DISTINCT value FROM keywords WHERE kind = 'diagnosis'"
            ).fetchall()
        # Composed alike too: a keyword kept before values were (NFC) is found all the same.
        return [value for (value,) in rows if keyword_text(str(value)).casefold() == wanted]

    def update_keywords(
        self,
        archive_path: str,
        *,
        diagnosis: tuple[str, ...] | None,
        site: str | None,
        consent: str | None,
    ) -> None:
        """Change a record's keywords. ``None`` leaves a field as it is; ``()`` or ``''`` clear."""
        self.retag([(archive_path, diagnosis, site, consent)])

    def retag(
        self, changes: Sequence[tuple[str, tuple[str, ...] | None, str | None, str | None]]
    ) -> None:
        """`update_keywords` of several records, all or none: ``(archive path, diagnosis,
        site, consent)`` each. A consent changed on some photos only, by a run stopped part
        way, would let a share treat the rest by the other consent."""
        with self._transaction() as conn:
            for archive_path, diagnosis, site, consent in changes:
                file_id = _file_id(conn, archive_path)
                if site is not None:
                    conn.execute("UPDATE files SET site = ? WHERE id = ?", (site or None, file_id))
                if consent is not None:
                    conn.execute(
                        "UPDATE files SET consent = ? WHERE id = ?",
                        (_clean_consent(consent), file_id),
                    )
                if diagnosis is not None:
                    self._write_diagnosis(conn, file_id, diagnosis)

    def record_dicom_send(
        self,
        archive_path: str,
        *,
        destination: str,
        sop_instance_uid: str,
        sent_at: str,
        frame_sha256: str,
        transform: str | None,
        confirmed_by: str,
    ) -> None:
        """Record that the PACS at ``destination`` confirmed it holds this photo's instance."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO dicom_sends (file_id, destination, sop_instance_uid, sent_at,"
                " frame_sha256, transform, confirmed_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _file_id(conn, archive_path),
                    destination,
                    sop_instance_uid,
                    sent_at,
                    frame_sha256,
                    transform,
                    confirmed_by,
                ),
            )

    def dicom_sent(self, destination: str) -> dict[str, str]:
        """SOP Instance UID by archive path of every photo confirmed at ``destination``, by
        its last record there: one with no UID (`record_dicom_missing`) unconfirms it."""
        with self._errors():
            rows = self._conn.execute(
                "SELECT f.archive_path, d.sop_instance_uid FROM dicom_sends d"
                " JOIN files f ON f.id = d.file_id WHERE d.destination = ? ORDER BY d.id",
                (destination,),
            ).fetchall()
        last = {row[0]: row[1] for row in rows}
        return {path: uid for path, uid in last.items() if uid}

    def dicom_destinations(
        self, archive_paths: Sequence[str], right: Mapping[str, str] | None = None
    ) -> dict[str, list[str]]:
        """The PACS destinations that hold each of these photos, by their last record there
        (one with no instance UID says the PACS does not); with ``right`` (a path's instance
        UID under the patient it is right for), not those whose last record is that one."""
        last: dict[tuple[str, str], str] = {}
        with self._errors():
            for condition, params in self._conn.any_of("f.archive_path", archive_paths):
                rows = self._conn.execute(
                    "SELECT f.archive_path, d.destination, d.sop_instance_uid FROM dicom_sends d"
                    f" JOIN files f ON f.id = d.file_id WHERE {condition} ORDER BY d.id",
                    params,
                ).fetchall()
                last.update(((path, where), uid) for path, where, uid in rows)
        held: dict[str, list[str]] = {}
        for (path, where), uid in sorted(last.items()):
            if uid and (right is None or right.get(path) != uid):
                held.setdefault(path, []).append(where)
        return held

    def record_dicom_missing(
        self, archive_path: str, *, destination: str, checked_at: str, why: str
    ) -> None:
        """Record that the PACS at ``destination`` does not hold this photo now (a query did
        not find it): a row with no instance UID, so the next send sends it again. Rows are
        only added, so the history of what was confirmed when stays."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO dicom_sends (file_id, destination, sop_instance_uid, sent_at,"
                " frame_sha256, transform, confirmed_by) VALUES (?, ?, '', ?, '', NULL, ?)",
                (_file_id(conn, archive_path), destination, checked_at, f"not found: {why}"),
            )

    def has_files(self) -> bool:
        with self._errors():
            return self._conn.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None

    def count(self) -> int:
        with self._errors():
            return int(self._conn.execute("SELECT count(*) FROM files").fetchone()[0])

    def claimed(self, ingest_id: str) -> set[tuple[str, str, str]] | None:
        """The content claims ``ingest_id`` made, as (sha256, patient ID, archive path);
        None where the database keeps none (SQLite); none at all in a schema older than
        its table."""
        if not self._conn.claims:
            return None
        with self._errors():
            there = self._conn.execute("SELECT to_regclass('content_claims') IS NOT NULL")
            if not there.fetchone()[0]:
                return set()
            rows = self._conn.execute(
                "SELECT sha256, patient_id, archive_path FROM content_claims WHERE ingest_id = ?",
                (ingest_id,),
            ).fetchall()
        return {(str(sha256), str(patient), str(path)) for sha256, patient, path in rows}

    def ingests(self) -> list[dict]:
        """Every ingest run, oldest first; ``counts`` decoded to a dict."""
        with self._errors():
            rows = self._conn.execute(
                f"SELECT {', '.join(_INGEST_COLUMNS)} FROM ingests ORDER BY started, ingest_id"
            ).fetchall()
        result = []
        for row in rows:
            entry = dict(zip(_INGEST_COLUMNS, row, strict=True))
            entry["counts"] = _counts(entry["counts"])
            result.append(entry)
        return result

    @staticmethod
    def _query(tail: str) -> str:
        return f"SELECT f.id, {', '.join('f.' + c for c in _FILE_COLUMNS)} FROM files f {tail}"

    def _other_case(
        self, patient_id: str, on_damaged: Callable[[DamagedRecord], None] | None = None
    ) -> None:
        """Rows of ``patient_id`` edited to another case (``jbx3656``), which a look-up by
        the ID passes by, acting on the rest as if they were all: each is damaged
        (`_patient_id`), raised or handed to ``on_damaged``. Found by the ID index, each
        spelling asked for; an ID of more than `_SPELLED` letters scans the table."""
        spellings = _other_cases(patient_id)
        if spellings is None:
            where = [("upper(f.patient_id) = ? AND f.patient_id <> ?", [patient_id, patient_id])]
        else:
            where = list(self._conn.any_of("f.patient_id", spellings))
        for condition, params in where:
            with self._errors():
                rows = self._conn.execute(self._query(f"WHERE {condition}"), params).fetchall()
                self._hydrate(rows, on_damaged)

    def _select(self, tail: str, params: Sequence[object]) -> list[CatalogueRecord]:
        with self._errors():
            rows = self._conn.execute(self._query(tail), params).fetchall()
            return self._hydrate(rows)

    def _hydrate(
        self,
        rows: Sequence[Sequence[Any]],
        on_damaged: Callable[[DamagedRecord], None] | None = None,
    ) -> list[CatalogueRecord]:
        """Turn file rows into records, fetching their keywords in as few queries as possible.

        A row with a value cardingest never writes (`damaged`) raises `CatalogueError`,
        naming it, or with ``on_damaged`` is handed to it and left out."""
        keywords: dict[int, list[str]] = {}
        ids = [row[0] for row in rows]
        for condition, params in self._conn.any_of("file_id", ids):
            for file_id, value in self._conn.execute(
                f"SELECT file_id, value FROM keywords WHERE kind = 'diagnosis'"
                f" AND {condition} ORDER BY file_id, position",
                params,
            ):
                keywords.setdefault(file_id, []).append(value)
        cut = _DIAGNOSIS_AT + 1
        records: list[CatalogueRecord] = []
        for row in rows:
            diagnosis = tuple(keywords.get(row[0], ()))
            values: tuple[Any, ...] = (*row[1:cut], diagnosis, *row[cut:], row[0])
            bad = damaged(dict(zip(_RECORD_FIELDS, values, strict=True)), row[0])
            if bad is None:
                records.append(CatalogueRecord(*values))
            elif on_damaged is None:
                raise bad.error(self.path)
            else:
                on_damaged(bad)
        return records


def _file_id(conn: SqlConnection, archive_path: str) -> int:
    row = conn.execute("SELECT id FROM files WHERE archive_path = ?", (archive_path,)).fetchone()
    if row is None:
        raise CatalogueError(f"{archive_path} is not in the catalogue")
    return int(row[0])


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file up to ``SCHEMA_VERSION``, one migration per transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise CatalogueError(
            f"Catalogue {path} has schema version {version}; this cardingest knows up to"
            f" {SCHEMA_VERSION}. Upgrade cardingest to use this archive."
        )
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current == version:
                MIGRATIONS[version](conn)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        version = conn.execute("PRAGMA user_version").fetchone()[0]
