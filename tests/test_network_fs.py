"""SQLite refuses an archive on a network file system; ``single_workstation`` allows it with
a rollback journal; PostgreSQL does not care where the archive folder is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from clinic_helpers import demo_card, invoke

from cardingest.archive.backend import network_fstype


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_local_folder_is_not_a_network_file_system(tmp_path: Path) -> None:
    assert network_fstype(tmp_path) is None
    assert network_fstype(tmp_path / "not" / "made" / "yet") is None


def test_sqlite_on_a_network_share_is_refused_with_advice(
    share: Path, tmp_path: Path, test_ids: Path
) -> None:
    assert network_fstype(share) == "fuse.sshfs"
    assert network_fstype(share / "archive" / "deeper") == "fuse.sshfs"
    card, map_file = demo_card(tmp_path)
    before = _tree(share)
    for command in (
        ("ingest", card, "--map", map_file),
        ("preview", card, "--map", map_file),
    ):
        code, _out, err = invoke(*command, "--archive", share / "archive")
        assert code == 2, err
        assert "network file system (fuse.sshfs)" in err and "PostgreSQL" in err
        assert "single_workstation = true" in err
    assert _tree(share) == before, "nothing may be written when refused"


def test_single_workstation_allows_it_with_a_rollback_journal(
    share: Path, tmp_path: Path, test_ids: Path
) -> None:
    test_ids.write_text("allow_test_ids = true\nsingle_workstation = true\n", encoding="utf-8")
    card, map_file = demo_card(tmp_path)
    archive = share / "archive"
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 3, err
    for command in (("verify",), ("search",), ("audit",)):
        code, _out, err = invoke(*command, "--archive", archive)
        assert code == 0, (command, err)
    catalogue = archive / ".cardingest" / "catalogue.sqlite"
    assert not Path(f"{catalogue}-wal").exists()
    conn = sqlite3.connect(catalogue)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()


def test_postgresql_serves_an_archive_on_a_network_share(
    share: Path, tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    card, map_file = demo_card(tmp_path)
    archive = share / "archive"
    code, _out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--catalogue", pg_url
    )
    assert code == 3, err
    code, _out, err = invoke("verify", "--archive", archive, "--catalogue", pg_url)
    assert code == 0, err
    assert not list(archive.rglob("*.sqlite*"))
