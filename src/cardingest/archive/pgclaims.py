"""The SQL of `claims`: one ingest's claims on content in the catalogue database."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg

from ..errors import ConfigError
from ..plan.planner import other_patient_reason
from .backend import redact, role_denied, scrubbed
from .journal import journal_path
from .pg import _connect_tied, _unreachable, connection_lost, lock_key

_CONFLICTS = """
SELECT patient_id, archive_path, NULL, NULL, NULL FROM files
 WHERE sha256 = %(sha256)s AND patient_id <> %(patient)s
UNION ALL
SELECT c.patient_id, c.archive_path, c.ingest_id, i.operator, i.host
  FROM content_claims c LEFT JOIN ingests i ON i.ingest_id = c.ingest_id
 WHERE c.sha256 = %(sha256)s AND c.patient_id <> %(patient)s AND c.ingest_id <> %(ingest)s
"""

_CLAIM = """
INSERT INTO content_claims (sha256, patient_id, ingest_id, archive_path)
VALUES (%(sha256)s, %(patient)s, %(ingest)s, %(path)s)
ON CONFLICT (sha256, ingest_id) DO NOTHING
"""


def _ingest_key(archive_id: str, ingest_id: str) -> int:
    """Held by a running ingest's claims connection: taken by anyone else, it is dead."""
    return lock_key(archive_id, "ingest\0" + ingest_id)


def claimed_reason(patient_id: str, archive_path: str, ingest_id: str, by: str) -> str:
    """Why a photo is held: another desk's running ingest is filing it for another patient."""
    return (
        f"the same photo is being archived under patient {patient_id} ({archive_path}) by "
        f"another ingest right now ({ingest_id}{by}); check which patient it belongs to "
        "(cardingest move corrects a misfiled photo), or run again with "
        "--allow-other-patient if it is meant for both"
    )


def stopped_reason(patient_id: str, archive_path: str, ingest_id: str, by: str) -> str:
    """Why a photo is held: an ingest that stopped before it recorded it filed it for
    another patient; the next ingest alone on the archive records it from its journal."""
    return (
        f"an ingest that stopped ({ingest_id}{by}) had copied the same photo for patient "
        f"{patient_id} ({archive_path}) without recording it; the next ingest that has the "
        "archive to itself records it. Check which patient it belongs to (cardingest move "
        "corrects a misfiled photo), or run again with --allow-other-patient if it is meant "
        "for both"
    )


class ContentClaims:
    """One ingest's claims: a connection of its own (the copy workers use it, one at a time,
    while the catalogue's connection may be in the middle of a batch)."""

    def __init__(self, url: str, archive: Path, ingest_id: str) -> None:
        self.url = url
        self.archive = archive
        self.ingest_id = ingest_id
        self.keep = False
        """Set when the run leaves its publish journal: the claims stay with it (`close`)."""
        self._mutex = threading.Lock()
        self.held: list[str] = []
        """The planned archive paths of the photos held (for `claims.content_claims`)."""
        self._conn, found = _connect_tied(url, archive, create=True, purpose="claims")
        self.archive_id = found.archive_id
        try:
            self._check_table(archive)
            self._conn.execute(
                "SELECT pg_advisory_lock(%s)", (_ingest_key(self.archive_id, ingest_id),)
            )
            self._sweep()
        except psycopg.Error as exc:
            self._conn.close()
            raise _unreachable(url, exc) from None
        except BaseException:
            self._conn.close()
            raise

    def _check_table(self, archive: Path) -> None:
        row = self._conn.execute(
            "SELECT to_regclass('content_claims') IS NOT NULL,"
            " has_table_privilege(to_regclass('content_claims'), 'INSERT')"
            " AND has_table_privilege(to_regclass('content_claims'), 'DELETE')"
        ).fetchone()
        if row is not None and row[0] and not row[1]:  # there, but not for this role
            raise role_denied(
                redact(self.url),
                self._conn.info.user,
                "permission denied for table content_claims",
            )
        if row is None or not row[0]:
            raise ConfigError(
                f"The catalogue of {archive} in {redact(self.url)} has no table of photos being "
                "filed (it predates this cardingest, which needs one to keep two desks from "
                "filing one photo under two patients), or this role may not write it",
                details=[
                    "Nothing was copied. Run one command on this archive with the owner's URL, "
                    f"which adds it: cardingest audit --archive {archive} --catalogue OWNER-URL",
                ],
            )

    def _sweep(self) -> None:
        """Remove the claims of ingests that died (their advisory lock can be taken)."""
        with self._conn.transaction():
            found = self._conn.execute("SELECT DISTINCT ingest_id FROM content_claims").fetchall()
            for (ingest_id,) in found:
                self._forget_if_dead(str(ingest_id))

    def _alive(self, ingest_id: str) -> bool:
        """Inside a transaction: whether ``ingest_id``'s desk still holds its claims' lock."""
        if ingest_id == self.ingest_id:
            return True
        got = self._conn.execute(
            "SELECT pg_try_advisory_xact_lock(%s)", (_ingest_key(self.archive_id, ingest_id),)
        ).fetchone()
        return not (got and got[0])

    def _unrecovered(self, ingest_id: str) -> bool:
        """A dead ingest still ``running`` in the catalogue, or whose publish journal is
        there: what it named may have no row yet (the next ingest alone on the archive
        records it from the journal, which its claims vouch for), so its claims still hold
        those photos for its patient."""
        row = self._conn.execute(
            "SELECT status FROM ingests WHERE ingest_id = %s", (ingest_id,)
        ).fetchone()
        if row is not None and row[0] == "running":
            return True
        return row is not None and os.path.lexists(journal_path(self.archive, ingest_id))

    def _forget_if_dead(self, ingest_id: str) -> bool:
        """Inside a transaction: True (and its claims deleted) if ``ingest_id``'s claims
        count for nothing any more: its desk is gone, and its ingest is closed."""
        if self._alive(ingest_id) or self._unrecovered(ingest_id):
            return False
        self._conn.execute("DELETE FROM content_claims WHERE ingest_id = %s", (ingest_id,))
        return True

    def claim(self, sha256: str, patient_id: str, archive_path: str, *, check: bool) -> str | None:
        """Claim ``sha256`` for ``patient_id``; with ``check``, first the reason it must be
        held instead (filed or being filed under another patient), if there is one.

        One round trip in the common case (pipelined: lock, look, claim), one more to commit.
        A database error holds the photo too: a patient in doubt fails closed.
        """
        params = {
            "sha256": sha256,
            "patient": patient_id,
            "ingest": self.ingest_id,
            "path": archive_path,
        }
        key = lock_key(self.archive_id, "content\0" + sha256)
        reason: str | None = None
        with self._mutex:
            try:
                with self._conn.pipeline(), self._conn.transaction():
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                    found = self._conn.execute(_CONFLICTS, params) if check else None
                    self._conn.execute(_CLAIM, params)
                    if found is not None:
                        reason = self._reason(found.fetchall())
                        if reason is not None:
                            raise psycopg.Rollback()
            except psycopg.Error as exc:
                return (
                    "could not make sure no other desk is filing the same photo under another "
                    f"patient: {self._lost(exc)}; run the ingest again"
                )
        return reason

    def _reason(self, rows: Sequence[tuple[Any, ...]]) -> str | None:
        """The first conflict that counts: a row, or a claim of a running ingest."""
        for patient, path, ingest_id, operator, host in sorted(rows, key=lambda r: r[2] or ""):
            if ingest_id is None:
                return other_patient_reason(str(patient), str(path))
            by = f", {operator} on {host}" if operator and host else ""
            if self._alive(str(ingest_id)):
                return claimed_reason(str(patient), str(path), str(ingest_id), by)
            if self._unrecovered(str(ingest_id)):
                return stopped_reason(str(patient), str(path), str(ingest_id), by)
            self._conn.execute("DELETE FROM content_claims WHERE ingest_id = %s", (ingest_id,))
        return None

    def _lost(self, exc: Exception) -> str:
        text = str(exc).strip()
        reason = scrubbed(text.splitlines()[0] if text else type(exc).__name__, self.url)
        if connection_lost(self._conn):
            return f"the catalogue database {redact(self.url)} stopped answering ({reason})"
        return f"the catalogue database {redact(self.url)}: {reason}"

    def close(self) -> None:
        """The ingest's rows are committed by now: its claims have done their work, unless
        it leaves a journal (`keep`), whose lines they vouch for."""
        with self._mutex, suppress(psycopg.Error):
            if not self.keep:
                self._conn.execute(
                    "DELETE FROM content_claims WHERE ingest_id = %s", (self.ingest_id,)
                )
        self._conn.close()
