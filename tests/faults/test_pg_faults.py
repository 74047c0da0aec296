"""Scenarios 15-17: the catalogue in PostgreSQL when the database or a workstation fails.

A real server (``initdb`` + ``pg_ctl`` on a Unix socket, see ``tests/pgserver.py``); the real
CLI as separate processes, one per workstation, each with its own config; faults at chosen
code points through ``tests/pg_inject.py`` (kill -9 of the process, the server stopped).
The check (``pg_helpers.check_archive``) reads the archive folder and the database directly,
not through cardingest's code.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pg_helpers import Desk, Findings, card_files, check_archive, json_out, write_folder
from pgserver import PgServer, require_postgres

from .conftest import Figures


def _record(figures: Figures, findings: Findings) -> None:
    figures.checks += 1
    figures.lost += len(findings.lost)
    figures.doubled += len(findings.doubled)
    figures.mislabelled += len(findings.wrong_patient)
    figures.stray += len(findings.stray)
    assert findings.lost == [] and findings.doubled == [] and findings.wrong_patient == []
    assert findings.stray == [] and findings.rows == findings.files


@pytest.mark.fault(15, "PostgreSQL unreachable at start: exit 1, nothing copied")
def test_an_unreachable_database_copies_nothing(tmp_path: Path, figures: Figures) -> None:
    files = card_files(3, start=datetime(2026, 11, 8, 9), seed=11)
    card = write_folder(tmp_path / "card", files)
    archive = tmp_path / "archive"
    nowhere = tmp_path / "no-server"
    nowhere.mkdir()
    url = f"postgresql://nobody@/cardingest?host={nowhere}&connect_timeout=2"
    desk = Desk.make(tmp_path / "desk", "nurse-1", url, archive)
    for command in (("ingest", card, "--id", "JBX3656", "--json"), ("verify", "--json")):
        done = desk.run(*command)
        assert done.returncode == 1, done.stderr
        assert "Cannot reach the catalogue database" in done.stderr
        assert "Traceback" not in done.stderr
        assert json.loads(done.stdout)["error"]["exit"] == 1
    figures.checks += 1
    assert not archive.exists(), "nothing may be created when the catalogue is unreachable"
    assert sorted(p.name for p in card.rglob("*.JPG")) == sorted(Path(k).name for k in files)


@pytest.mark.fault(16, "PostgreSQL stopped mid-ingest, started again, re-run")
def test_the_server_stopped_mid_ingest_loses_nothing_and_the_rerun_finishes(
    tmp_path: Path, figures: Figures
) -> None:
    server = PgServer(require_postgres())  # a server of its own: this test stops it
    server.start()
    try:
        url = server.fresh_database()
        archive = tmp_path / "archive"
        desk = Desk.make(tmp_path / "desk", "nurse-1", url, archive)
        files = card_files(10, start=datetime(2026, 11, 6, 9), seed=8)
        card = write_folder(tmp_path / "card", files)
        stop = server._as_owner(
            str(server.bindir / "pg_ctl"), "-D", str(server.data), "-m", "fast", "-w", "stop"
        )
        broken = desk.run(
            "ingest",
            card,
            "--id",
            "JBX3656",
            point="run-after-first-copy",
            extra={"CARDINGEST_TEST_HOOK": json.dumps(stop)},
        )
        assert broken.returncode == 1, broken.stderr
        assert "Traceback" not in broken.stderr
        assert list((archive / "JBX3656").iterdir()), "the server stopped after a copy"
        server.start_again()
        rerun = desk.run("ingest", card, "--id", "JBX3656")
        assert rerun.returncode == 0, rerun.stderr
        findings = check_archive(archive, url, {"JBX3656": files})
        _record(figures, findings)
        assert findings.rows == 10
        assert desk.run("verify").returncode == 0
        assert json_out(desk.run("audit", "--json"))["ok"]
    finally:
        server.close()


@pytest.mark.fault(17, "a workstation killed (kill -9) mid-ingest while another ingests")
def test_a_workstation_killed_mid_ingest_frees_its_lock_and_the_rerun_finishes(
    tmp_path: Path, pg_url: str, figures: Figures
) -> None:
    archive = tmp_path / "archive"
    desk_1 = Desk.make(tmp_path / "desk1", "nurse-1", pg_url, archive)
    desk_2 = Desk.make(tmp_path / "desk2", "nurse-2", pg_url, archive)
    files_a = card_files(8, start=datetime(2026, 11, 4, 9), seed=4)
    files_b = card_files(8, start=datetime(2026, 11, 5, 9), seed=5)
    card_a = write_folder(tmp_path / "a", files_a)
    card_b = write_folder(tmp_path / "b", files_b)
    other = desk_2.start("ingest", card_b, "--id", "MCJ1984", point="wait-after-first-copy")
    try:
        assert other.stderr is not None
        assert other.stderr.readline().strip() == "HOOK-REACHED"
        killed = desk_1.run("ingest", card_a, "--id", "JBX3656", point="die-after-first-copy")
        assert killed.returncode == -9, killed.stderr
        figures.killed("mid-copy")
        assert list((archive / "JBX3656").iterdir()), "the kill came after a copy"
        # The killed desk's patient lock is gone: the same patient goes again at once, while
        # the other desk is still in the middle of its ingest.
        again = desk_1.run("ingest", card_a, "--id", "JBX3656")
        assert again.returncode == 0, again.stderr
        assert other.stdin is not None
        other.stdin.write("\n")
        other.stdin.flush()
        _out, err = other.communicate(timeout=120)
        assert other.returncode == 0, err
    finally:
        if other.poll() is None:
            other.kill()
            other.communicate()
    # The desk that started alone put back no clean mark: the killed desk's file in
    # .cardingest says it wrote beside it (its temporaries anywhere), so the next lone run
    # sweeps the whole tree, that file too.
    assert not (archive / ".cardingest" / "clean").exists()
    assert desk_1.run("ingest", card_a, "--id", "JBX3656").returncode == 0
    assert (archive / ".cardingest" / "clean").exists()
    findings = check_archive(archive, pg_url, {"JBX3656": files_a, "MCJ1984": files_b})
    _record(figures, findings)
    assert findings.rows == 16
    assert desk_1.run("verify").returncode == 0
    assert json_out(desk_1.run("audit", "--json"))["ok"]
