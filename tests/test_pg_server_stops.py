"""The catalogue's PostgreSQL server stopping mid-ingest (`pg_ctl stop -m immediate`, or its
sessions ended by `pg_terminate_backend`): what the ingest says, and what the next says.

A two-desk trial (docs/testing.md, 2026-12-05) lost nothing and misfiled nothing, but at
some moments the message was the driver's bare line, one blamed another workstation where
the run itself had lost its session, a run that had copied nothing was warned of next time
as one whose copies may lie in the archive unknown, and a run counted fewer copies than the
next run recorded from its journal. Each scenario stops a real cardingest process at a
chosen code point (``pg_inject.py``) with a real server.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from pg_helpers import Desk, card_files, check_archive, json_out, write_folder
from pgserver import PgServer, require_postgres
from psycopg import sql as pgsql

PATIENT = "JBX3656"
ADVICE = "Check that the catalogue's server is running and that this workstation reaches it"


@pytest.fixture(scope="module")
def own_server() -> Iterator[PgServer]:
    """A server these tests may stop (the session's serves the other tests meanwhile)."""
    server = PgServer(require_postgres())
    try:
        server.start()
        yield server
    finally:
        server.close()


def _stop_hook(server: PgServer) -> dict[str, str]:
    stop = server._as_owner(
        str(server.bindir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "-w", "-s", "stop"
    )
    return {"CARDINGEST_TEST_HOOK": json.dumps(stop)}


def _stopped_at(
    own_server: PgServer, desk: Desk, card: Path, point: str
) -> subprocess.CompletedProcess[str]:
    """``ingest --json`` of ``card`` with the server stopped (``-m immediate``) at the fault
    ``point``, and started again whatever happened."""
    try:
        return desk.run(
            "ingest", card, "--id", PATIENT, "--json", point=point, extra=_stop_hook(own_server)
        )
    finally:
        own_server.start_again()


def _ended_at(
    desk: Desk, card: Path, url: str, point: str, sessions: str
) -> subprocess.CompletedProcess[str]:
    """``ingest --json`` of ``card`` with its ``sessions`` ended at the fault ``point``
    (`_ending`), the server running on."""
    return desk.run(
        "ingest", card, "--id", PATIENT, "--json", point=point, extra=_ending(url, sessions)
    )


def _ending(url: str, sessions: str) -> dict[str, str]:
    """A hook that ends the test database's cardingest sessions named ``sessions``
    (``catalogue``, ``ingest``: the locks), as an administrator's pg_terminate_backend."""
    code = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as conn:\n"
        "    cut = conn.execute(\n"
        "        'SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity'\n"
        "        ' WHERE datname = current_database() AND application_name LIKE %s',\n"
        "        (sys.argv[2],),\n"
        "    ).fetchall()\n"
        "assert cut == [(True,)], cut\n"
    )
    hook = [sys.executable, "-c", code, url, f"cardingest {sessions} %"]
    return {"CARDINGEST_TEST_HOOK": json.dumps(hook)}


def _setup(tmp_path: Path, url: str, count: int) -> tuple[Path, dict, Path, Desk]:
    archive = tmp_path / "archive"
    files = card_files(count, start=datetime(2026, 11, 20, 9), seed=41)
    card = write_folder(tmp_path / "card", files)
    desk = Desk.make(tmp_path / "desk", "nurse-a", url, archive)
    older = write_folder(tmp_path / "older", card_files(1, start=datetime(2026, 11, 1), seed=40))
    first = desk.run("ingest", older, "--id", "EPT6335")
    assert first.returncode == 0, first.stderr  # the archive and its catalogue exist
    return archive, files, card, desk


def _said(result: subprocess.CompletedProcess[str]) -> tuple[str, list[str]]:
    assert "Traceback" not in result.stderr, result.stderr
    error = json_out(result)["error"]
    assert error["exit"] == 1, error
    return error["message"], error["details"]


def _finishes(desk: Desk, archive: Path, url: str, card: Path, files: dict) -> dict:
    again = desk.run("ingest", card, "--id", PATIENT, "--json")
    assert again.returncode == 0, again.stderr
    findings = check_archive(archive, url, {PATIENT: files})
    assert findings.lost == [] and findings.doubled == [] and findings.stray == []
    assert findings.rows == findings.files == len(files) + 1
    return json_out(again)


def test_a_server_stopped_once_the_ingest_began_says_so_and_that_nothing_was_copied(
    tmp_path: Path, own_server: PgServer
) -> None:
    """Stopped after the ingest's record began, before the first copy: the error was the
    driver's line ("Catalogue …: consuming input failed: server closed the connection
    unexpectedly") and nothing else. It names the server, says it stopped answering, that
    nothing was copied, and what to do."""
    url = own_server.fresh_database()
    archive, files, card, desk = _setup(tmp_path, url, count=3)
    stopped = _stopped_at(own_server, desk, card, "run-after-ingest-begun")
    assert stopped.returncode == 1, stopped.stderr
    message, details = _said(stopped)
    assert message.startswith("The catalogue server postgresql://"), message
    assert "stopped answering (" in message and "the server was stopped or restarted" in message
    assert details[0].startswith("Nothing was copied: every photo is still on the card"), details
    assert any(line.startswith(ADVICE) for line in details), details
    assert not (archive / PATIENT).exists()
    _finishes(desk, archive, url, card, files)


def test_a_server_stopped_mid_copy_is_said_without_blaming_another_workstation(
    tmp_path: Path, own_server: PgServer
) -> None:
    """Stopped once the first photo is copied: the ingest stops at its next batch, as the
    session that held its locks is gone. It said "another workstation may now be working
    on the same patients", where the run itself had lost its session; it says the server
    stopped answering that session, and what to do."""
    url = own_server.fresh_database()
    archive, files, card, desk = _setup(tmp_path, url, count=3)
    stopped = _stopped_at(own_server, desk, card, "run-after-first-copy-alone")
    assert stopped.returncode == 1, stopped.stderr
    message, details = _said(stopped)
    assert "another workstation" not in " ".join([message, *details]), message
    assert "stopped answering the session that held this workstation's locks" in message
    assert details[0].startswith("The ingest stopped after 1 of 3 photo(s) were copied"), details
    assert "1 of them not recorded in the catalogue yet" in details[0], details
    assert any(line.startswith(ADVICE) for line in details), details
    _finishes(desk, archive, url, card, files)


def test_an_ingest_whose_locks_session_is_ended_says_it_lost_it(
    tmp_path: Path, pg_url: str
) -> None:
    """The same for the locks' session ended by an administrator (pg_terminate_backend)
    while the server runs on: what is known is that this run lost its session."""
    archive, files, card, desk = _setup(tmp_path, pg_url, count=3)
    ended = _ended_at(desk, card, pg_url, "run-after-first-copy-alone", "ingest")
    assert ended.returncode == 1, ended.stderr
    message, details = _said(ended)
    assert "another workstation" not in message, message
    assert "stopped answering the session that held this workstation's locks" in message
    assert "terminating connection due to administrator command" in message
    assert any(line.startswith(ADVICE) for line in details), details
    _finishes(desk, archive, pg_url, card, files)


def test_an_ingest_whose_catalogue_session_is_ended_counts_every_copy_it_published(
    tmp_path: Path, pg_url: str
) -> None:
    """The catalogue's session ended after the first copy: the run fails at its first
    batch of rows. It said "stopped after 49 of 60 photo(s) were copied", and the next run
    then recorded 58 from its journal: the photo whose batch failed, and those the copy
    workers had published meanwhile, were left out. It counts every photo named in the
    archive, and says how many of them the next run records; the driver's line is the
    server's stopping, with advice."""
    archive, files, card, desk = _setup(tmp_path, pg_url, count=60)
    ended = _ended_at(desk, card, pg_url, "run-after-first-copy", "catalogue")
    assert ended.returncode == 1, ended.stderr
    message, details = _said(ended)
    copied = re.match(r"The ingest stopped after (\d+) of 60 photo\(s\) were copied", details[0])
    assert copied is not None, details
    on_disk = len(list((archive / PATIENT).iterdir()))
    assert int(copied[1]) == on_disk, (details[0], on_disk)
    found = re.match(
        r"The ingest stopped after \d+ of 60 photo\(s\) were copied and verified, (\d+) of "
        r"them not recorded in the catalogue yet: the next run records them",
        details[0],
    )
    assert found is not None, details
    unrecorded = int(found[1])
    assert message.startswith("The catalogue server postgresql://"), message
    assert "stopped answering (terminating connection due to administrator command)" in message
    assert any(line.startswith(ADVICE) for line in details), details
    document = _finishes(desk, archive, pg_url, card, files)
    [recovered] = [w for w in document["warnings"] if "without recording them" in w]
    assert f"stopped after it copied {unrecorded} photo(s) without recording them" in recovered
    assert document["summary"]["copied"] == 60 - on_disk


def test_a_run_the_server_left_running_before_any_copy_is_not_said_to_have_left_copies(
    tmp_path: Path, own_server: PgServer
) -> None:
    """The server stopped as the ingest's record was committed: the record stays
    ``running``, the run removes its journal (it never began, as far as it knows), nothing
    is copied. The next ingest warned of a run that "left no publish journal" whose photos
    may lie in the archive unknown, to remove if the map was wrong. No row and no content
    claim is the run's: it named no photo, and the warning says so."""
    url = own_server.fresh_database()
    archive, files, card, desk = _setup(tmp_path, url, count=3)
    stopped = _stopped_at(own_server, desk, card, "lose-ingest-begun")
    assert stopped.returncode == 1, stopped.stderr
    assert not list((archive / ".cardingest" / "journal").glob("*.jsonl"))
    document = _finishes(desk, archive, url, card, files)
    [said] = [w for w in document["warnings"] if "stopped before it finished" in w]
    assert "with no photo recorded and none claimed: it copied none" in said, said
    assert "left no publish journal" not in said and "remove" not in said, said
    _message, details = _said(stopped)
    assert details[0].startswith("Nothing was copied: every photo is still on the card"), details


def test_a_run_killed_as_it_closed_is_not_said_to_have_copied_none(
    tmp_path: Path, own_server: PgServer
) -> None:
    """A mutation round's find (mutant P3: no claim taken for no copy): killed as it closed
    its record, a run has its rows committed and its journal removed; a cardingest older
    than the content claims made none. It copied every photo: the next run says they are
    recorded, never that it copied none (no claim proves that only with no row either)."""
    url = own_server.fresh_database()  # its claims all this run's
    archive, files, card, desk = _setup(tmp_path, url, count=3)
    killed = desk.run("ingest", card, "--id", PATIENT, "--json", point="die-as-it-closes")
    assert killed.returncode == -9, killed.stderr
    assert not list((archive / ".cardingest" / "journal").glob("*.jsonl"))
    with psycopg.connect(url, autocommit=True) as conn:  # as a cardingest made before claims
        schemas = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'content_claims'"
        ).fetchall()
        delete = "DELETE FROM {}.content_claims"
        cut = [
            conn.execute(pgsql.SQL(delete).format(pgsql.Identifier(s))).rowcount for (s,) in schemas
        ]
    assert sum(cut) == 3, cut
    document = _finishes(desk, archive, url, card, files)
    [said] = [w for w in document["warnings"] if "stopped before it finished" in w]
    assert "left no publish journal" in said and "copied none" not in said, said


def test_an_ingest_whose_claims_session_is_ended_says_the_server_stopped_answering(
    tmp_path: Path, pg_url: str
) -> None:
    """A mutation round's find (mutant P11): the content claims' session ended after the
    first copy (the catalogue's own still there): a claim then fails with the driver's line
    only. Each photo held for it says the server stopped answering."""
    archive, files, card, desk = _setup(tmp_path, pg_url, count=60)
    ended = _ended_at(desk, card, pg_url, "run-after-first-copy", "claims")
    assert ended.returncode != 0 and "Traceback" not in ended.stderr, ended.stderr
    said = " ".join((ended.stdout + ended.stderr).split())
    items = json_out(ended)["items"]
    held = [item for item in items if "catalogue database" in (item.get("reason") or "")]
    assert held, said  # the photos whose claim failed, on the card for the next run
    for item in held:
        assert re.search(
            r"the catalogue database postgresql://\S+ stopped answering \(", item["reason"]
        ), item
    _finishes(desk, archive, pg_url, card, files)
