"""The catalogue in PostgreSQL: every command the same on both backends, the archive tied to
its database, the audit chain and its append-only role, migration, and several workstations.

A real server (``initdb`` + ``pg_ctl``, Unix socket only) is started once per session by the
``pg_server`` fixture; each test gets a database of its own (``pg_url``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from clinic_helpers import demo_card, invoke
from pg_helpers import Desk, card_files, check_archive, json_out, write_folder
from pgserver import PgServer, require_postgres

from cardingest.archive.pg import lock_key

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")

VOLATILE = ("ingest_id", "archived_at", "operator")


def _stable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in records]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` with its size and mtime: "nothing was written"."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def _run_commands(tmp: Path, archive: Path, *catalogue: str) -> dict[str, Any]:
    """The same work through the CLI: ingest, re-ingest, tag, search, verify, wipe, audit."""
    card, map_file = demo_card(tmp)
    for path in card.rglob("*"):  # the photo without EXIF is dated by its mtime
        os.utime(path, (1_700_000_000, 1_700_000_000))
    results: dict[str, Any] = {}
    code, out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--json", *catalogue
    )
    assert code == 3, err
    results["ingest"] = sorted(
        (i["source"], i["action"], i["target"]) for i in json.loads(out)["items"]
    )
    code, out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--json", *catalogue
    )
    assert code == 3, err
    results["again"] = sorted((i["source"], i["action"]) for i in json.loads(out)["items"])
    code, out, err = invoke(
        "preview", card, "--map", map_file, "--archive", archive, "--json", *catalogue
    )
    assert code == 3, err
    results["preview"] = sorted(
        (i["source"], i["action"], i["target"]) for i in json.loads(out)["items"]
    )
    assert {a for _s, a, _t in results["preview"]} == {"skip", "hold"}
    code, out, err = invoke(
        "preview", card, "--id", "ZAA0067", "--archive", archive, "--json", *catalogue
    )
    assert code == 3, err
    results["under another patient"] = sorted(
        (i["source"], i["action"], i["reason"]) for i in json.loads(out)["items"]
    )
    assert any("already archived under patient ZAC5361" in (r or "") for *_, r in (
        results["under another patient"]
    )), "photos filed for ZAC5361 are held, not filed again for ZAA0067"  # fmt: skip
    for diagnosis in ("bcc", "mélanome"):
        code, out, err = invoke(
            "tag", "ZAC5361", "--diagnosis", diagnosis, "--archive", archive, *catalogue
        )
        assert code == 0, err
    for query in (
        ("--id", "ZAC5361"),
        ("--diagnosis", "BCC"),
        ("--diagnosis", "MÉLANOME"),
        ("--from", "2026-11-24"),
    ):
        code, out, err = invoke("search", *query, "--archive", archive, "--json", *catalogue)
        assert code == 0, err
        results[f"search {query}"] = _stable(json.loads(out)["results"])
    share = tmp / "share"
    code, _out, err = invoke(
        "share", "ZAC5361", "--size", "small", "--out", share, "--archive", archive, *catalogue
    )
    assert code == 0, err
    results["share"] = sorted(p.name for p in share.iterdir())
    dicom = tmp / "dicom"
    code, _out, err = invoke(
        "dicom", "export", "ZAC5361", "--out", dicom, "--archive", archive, *catalogue
    )
    assert code == 0, err
    results["dicom export"] = sorted(str(p.relative_to(dicom)) for p in dicom.rglob("*.dcm"))
    code, out, err = invoke("verify", "--archive", archive, "--json", *catalogue)
    assert code == 0, err
    document = json.loads(out)
    document.pop("archive", None)
    results["verify"] = document
    code, out, err = invoke("wipe", card, "--archive", archive, "--yes", "--json", *catalogue)
    assert code in (0, 3), err
    results["wipe"] = sorted((i["source"], i["action"]) for i in json.loads(out)["items"])
    results["card after wipe"] = sorted(str(p.relative_to(card)) for p in card.rglob("*"))
    code, out, err = invoke("audit", "--archive", archive, "--json", *catalogue)
    assert code == 0, err
    audit = json.loads(out)
    results["audit"] = (audit["ok"], audit["events"])
    return results


def test_every_command_gives_the_same_results_on_both(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    on_sqlite = _run_commands(tmp_path / "a", tmp_path / "a" / "archive")
    archive = tmp_path / "b" / "archive"
    on_postgres = _run_commands(tmp_path / "b", archive, "--catalogue", pg_url)
    assert on_postgres == on_sqlite
    assert on_sqlite["search ('--diagnosis', 'BCC')"], "the comparison must compare something"
    assert on_sqlite["search ('--diagnosis', 'MÉLANOME')"], "case is folded beyond ASCII"
    assert not list(archive.rglob("*.sqlite*")), "no SQLite file in a PostgreSQL archive"
    assert (archive / ".cardingest" / "archive-id").is_file()


def test_the_environment_and_the_config_name_the_catalogue_too(
    tmp_path: Path, pg_url: str, test_ids: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    monkeypatch.setenv("CARDINGEST_CATALOGUE", pg_url)
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 3, err
    monkeypatch.delenv("CARDINGEST_CATALOGUE")
    test_ids.write_text(f'allow_test_ids = true\ncatalogue = "{pg_url}"\n', encoding="utf-8")
    code, out, err = invoke("search", "--archive", archive, "--json")
    assert code == 0, err
    assert len(json.loads(out)["results"]) == 5
    test_ids.write_text('allow_test_ids = true\ncatalogue = "mysql://x"\n', encoding="utf-8")
    code, _out, err = invoke("search", "--archive", archive)
    assert code == 2 and "postgresql://" in err


def test_an_archive_is_refused_by_another_database_before_anything_is_written(
    tmp_path: Path, pg_server: Any, test_ids: Path
) -> None:
    first, second = pg_server.fresh_database(), pg_server.fresh_database()
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    code, _out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--catalogue", first
    )
    assert code == 3, err
    before = _tree(archive)
    for command in (
        ("ingest", card, "--map", map_file),
        ("verify",),
        ("search",),
        ("audit",),
        ("wipe", card, "--yes"),
        ("tag", "ZAC5361", "--diagnosis", "x"),
    ):
        code, _out, err = invoke(*command, "--archive", archive, "--catalogue", second)
        assert code == 2, (command, err)
        assert "not known to the catalogue database" in err, err
    with psycopg.connect(second, autocommit=True) as conn:
        untouched = conn.execute("SELECT to_regclass('cardingest.archives')").fetchone()
    assert untouched == (None,), "nothing may be written to the wrong database either"
    # Without any catalogue URL, SQLite is refused too: the rows are in PostgreSQL.
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 2 and "is in PostgreSQL" in err, err
    code, _out, err = invoke("search", "--archive", archive)
    assert code == 2, err
    assert _tree(archive) == before
    # A SQLite archive is not silently taken over by a database either.
    sqlite_archive = tmp_path / "sqlite-archive"
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", sqlite_archive)
    assert code == 3, err
    before = _tree(sqlite_archive)
    code, _out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", sqlite_archive, "--catalogue", first
    )
    assert code == 2 and "catalogue migrate" in err, err
    assert _tree(sqlite_archive) == before


def test_an_archive_that_lost_its_id_file_is_refused_with_the_id_to_put_back(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """`.cardingest/archive-id` deleted (a restore that skipped dot files, a tidy-up): a new
    id would start an empty catalogue, so the same card would be filed again, under another
    patient's ID. Every command refuses (exit 1) and names the id the database holds this
    archive's ingests under; put back, the archive works as before. The same for an archive
    whose SQLite catalogue was moved to the database (no loop between the two advices)."""
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    catalogue = ("--catalogue", pg_url)
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", archive, *catalogue)
    assert code == 3, err
    id_file = archive / ".cardingest" / "archive-id"
    archive_id = id_file.read_text().strip()
    id_file.unlink()
    before = _tree(archive)
    for command in (
        ("ingest", card, "--id", "MCJ1984"),
        ("preview", card, "--id", "MCJ1984"),
        ("search",),
        ("verify",),
        ("tag", "ZAC5361", "--diagnosis", "x"),
        ("wipe", card, "--yes"),
    ):
        code, _out, err = invoke(*command, "--archive", archive, *catalogue)
        assert code == 1, (command, err)
        assert "lost .cardingest/archive-id" in err and f"echo {archive_id} >" in err, err
    assert _tree(archive) == before
    with psycopg.connect(pg_url, autocommit=True) as conn:
        [(archives,)] = conn.execute("SELECT count(*) FROM cardingest.archives").fetchall()
    assert archives == 1, "no second, empty catalogue"
    id_file.write_text(f"{archive_id}\n", encoding="ascii")
    code, out, err = invoke(
        "ingest", card, "--id", "MCJ1984", "--archive", archive, "--json", *catalogue
    )
    assert code == 3, err
    held = [i for i in json.loads(out)["items"] if i["action"] == "hold"]
    assert held and all("already archived under patient" in i["reason"] for i in held), held
    copied = [i["source"] for i in json.loads(out)["items"] if i["action"] == "copy"]
    assert copied == ["DCIM/100DEMO_/IMG_0006.JPG"]  # the one the map left on the card

    migrated = tmp_path / "migrated"
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", migrated)
    assert code == 3, err
    code, _out, err = invoke("catalogue", "migrate", "--to", pg_url, "--archive", migrated)
    assert code == 0, err
    moved_id = (migrated / ".cardingest" / "archive-id").read_text().strip()
    (migrated / ".cardingest" / "archive-id").unlink()
    for command in (("search",), ("catalogue", "migrate", "--to", pg_url)):
        code, _out, err = invoke(
            *command, "--archive", migrated, *catalogue[: 2 * (len(command) == 1)]
        )
        assert code == 1, (command, err)
        assert f"echo {moved_id} >" in err, err


def _two_archives(tmp_path: Path, pg_url: str) -> tuple[Path, Path, Path]:
    """The demo card ingested into archives one (ZAC5361) and two (ZAA0067) of one
    database: the card and the two archives."""
    card, _map_file = demo_card(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    for archive, patient in ((one, "ZAC5361"), (two, "ZAA0067")):
        code, _out, err = invoke(
            "ingest", card, "--id", patient, "--archive", archive, "--catalogue", pg_url
        )
        assert code == 0, err
    return card, one, two


def test_one_database_serves_several_archives_without_mixing(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    _card, one, two = _two_archives(tmp_path, pg_url)
    for archive, patient in ((one, "ZAC5361"), (two, "ZAA0067")):
        code, out, err = invoke("search", "--archive", archive, "--json", "--catalogue", pg_url)
        assert code == 0, err
        found = {r["patient_id"] for r in json.loads(out)["results"]}
        assert found == {patient}
        code, out, err = invoke("audit", "--archive", archive, "--json", "--catalogue", pg_url)
        assert code == 0 and json.loads(out)["events"] == 1, err


def test_an_archive_id_file_naming_another_archive_of_the_database_is_refused(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    """Archive two's `.cardingest/archive-id` overwritten with archive one's (copied by hand
    when setting a folder up): its next photos would be catalogued among one's, and its own
    catalogue not asked which patient a card's photo is filed under. Every command refuses
    (exit 1), names the id its manifests' ingests are recorded under, and writes nothing."""
    card, one, two = _two_archives(tmp_path, pg_url)
    two_id = (two / ".cardingest" / "archive-id").read_text().strip()
    shutil.copy(one / ".cardingest" / "archive-id", two / ".cardingest" / "archive-id")
    before, on_card = _tree(two), _tree(card)
    for command in (
        ("ingest", card, "--id", "MCJ1984"),
        ("preview", card, "--id", "MCJ1984"),
        ("search",),
        ("verify",),
        ("wipe", card, "--yes"),
    ):
        code, _out, err = invoke(*command, "--archive", two, "--catalogue", pg_url)
        assert code == 1, (command, err)
        assert "names another archive" in err and f"echo {two_id} >" in err, err
        assert "Traceback" not in err
    assert _tree(two) == before and _tree(card) == on_card
    (two / ".cardingest" / "archive-id").write_text(f"{two_id}\n", encoding="ascii")
    code, out, err = invoke("search", "--archive", two, "--json", "--catalogue", pg_url)
    assert code == 0 and {r["patient_id"] for r in json.loads(out)["results"]} == {"ZAA0067"}
    code, _out, err = invoke("search", "--archive", one, "--catalogue", pg_url)
    assert code == 0, "archive one, whose id it is, is not refused"


def test_a_copy_of_the_database_that_does_not_know_the_archives_last_ingests_is_refused(
    tmp_path: Path, pg_server: PgServer, pg_url: str, test_ids: Path
) -> None:
    """A trial: a second desk's --catalogue named a copy of the database (a restore, a
    staging copy) made before an ingest of a card; the desk filed the same card under
    another patient, wiped it, and neither database said a word. The archive's manifests
    record an ingest that copy does not know: every preview and ingest with it refuses
    (exit 1) and writes nothing; the archive's own database goes on."""
    archive = tmp_path / "archive"
    first = write_folder(tmp_path / "first", card_files(2, start=datetime(2026, 11, 5, 9), seed=1))
    code, _out, err = invoke(
        "ingest", first, "--id", "ZAC5361", "--archive", archive, "--catalogue", pg_url
    )
    assert code == 0, err
    database = pg_url.split("@/")[1].split("?")[0]
    stale = f"{database}_copy"
    pg_server.admin(f'CREATE DATABASE "{stale}" TEMPLATE "{database}"')
    card = write_folder(tmp_path / "card", card_files(3, start=datetime(2026, 11, 6, 9), seed=2))
    code, _out, err = invoke(
        "ingest", card, "--id", "ZAA0067", "--archive", archive, "--catalogue", pg_url
    )
    assert code == 0, err
    before, on_card = _tree(archive), _tree(card)
    stale_url = ("--archive", archive, "--catalogue", pg_server.url(stale))
    for command in (("preview", card), ("ingest", card, "--wipe", "--yes")):
        code, out, err = invoke(*command, "--id", "MCJ1984", *stale_url)
        said = " ".join(err.split())
        assert code == 1 and out == "", (command, err)
        assert "does not know 1 of the ingests whose manifests the archive holds" in said, said
        assert "Traceback" not in err
    assert _tree(archive) == before and _tree(card) == on_card
    code, out, err = invoke(
        "preview", card, "--id", "MCJ1984", "--archive", archive, "--catalogue", pg_url, "--json"
    )
    assert code == 3 and {i["action"] for i in json.loads(out)["items"]} == {"hold"}, err


def test_the_audit_chain_in_postgresql_finds_a_changed_or_removed_event(
    tmp_path: Path, pg_url: str, test_ids: Path
) -> None:
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    for _ in range(3):
        code, _out, err = invoke(
            "ingest", card, "--map", map_file, "--archive", archive, "--catalogue", pg_url
        )
        assert code == 3, err
    code, out, err = invoke("audit", "--archive", archive, "--json", "--catalogue", pg_url)
    assert code == 0 and json.loads(out)["events"] == 3, err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            'UPDATE cardingest.audit SET line = replace(line, \'"status":"finished"\','
            ' \'"status":"Finished"\') WHERE seq = 2'
        )
    code, out, err = invoke("audit", "--archive", archive, "--json", "--catalogue", pg_url)
    document = json.loads(out)
    assert code == 1 and document["bad_line"] == 2, document
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            'UPDATE cardingest.audit SET line = replace(line, \'"status":"Finished"\','
            ' \'"status":"finished"\') WHERE seq = 2'
        )
        conn.execute("DELETE FROM cardingest.audit WHERE seq = 3")
    code, out, err = invoke("audit", "--archive", archive, "--json", "--catalogue", pg_url)
    document = json.loads(out)
    assert code == 1 and "removed from the end" in document["problem"], document


def _readme_sql(marker: str = "roles") -> str:
    match = re.search(rf"<!-- {marker} -->\s*```sql\n(.*?)```", README, re.S)
    assert match, f"README.md has no block <!-- {marker} --> then ```sql"
    return match.group(1)


def test_the_readme_roles_make_the_audit_log_append_only(
    tmp_path: Path, pg_server: Any, pg_url: str, test_ids: Path
) -> None:
    """The README's SQL, run as written: the desks' role ingests, but cannot change history."""
    database = pg_url.split("@/")[1].split("?")[0]
    sql = _readme_sql().replace("clinic_photos", database).replace("'change-me'", "'pw1'")
    sql = sql.replace("'change-me-too'", "'pw2'")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for statement in [s.strip() for s in sql.split(";") if s.strip()]:
            conn.execute(statement)  # type: ignore[arg-type]
    owner_url = pg_server.url(database, user="cardingest_owner")
    desk_url = pg_server.url(database, user="cardingest_desk")
    card, _map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    code, _out, err = invoke(
        "ingest", card, "--id", "ZAC5361", "--archive", archive, "--catalogue", owner_url
    )
    assert code == 0, err
    other = tmp_path / "other"
    write_folder(other, card_files(2, start=datetime(2026, 11, 25, 10), seed=5))
    code, _out, err = invoke(
        "ingest", other, "--id", "ZAA0067", "--archive", archive, "--catalogue", desk_url
    )
    assert code == 0, err
    for command in (("verify",), ("tag", "ZAA0067", "--diagnosis", "bcc"), ("audit",)):
        code, _out, err = invoke(*command, "--archive", archive, "--catalogue", desk_url)
        assert code == 0, (command, err)
    with psycopg.connect(desk_url, autocommit=True) as conn:
        for statement in (
            "UPDATE cardingest.audit SET line = line",
            "DELETE FROM cardingest.audit",
            "TRUNCATE cardingest.audit",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)  # type: ignore[arg-type]
    # The share not mounted: the desk finds an empty folder where the archive should be.
    # The message said the role's privileges were set up wrong (ALTER DEFAULT PRIVILEGES).
    unmounted = tmp_path / "share"
    unmounted.mkdir()
    code, out, err = invoke("ingest", other, "--id", "ZAA0067", "--archive", unmounted,
                            "--catalogue", desk_url, "--json")  # fmt: skip
    assert code == 2, err
    said = json.loads(out)["error"]
    assert said["message"].startswith(f"{unmounted} holds no archive"), said
    assert "the database role cardingest_desk may not" in said["message"]
    assert "check that it is mounted" in said["details"][0]
    assert "pw2" not in err and not list(unmounted.iterdir())
    # A trial: a SQLite archive migrated with the desk's URL was exit 1 "permission denied".
    local = tmp_path / "local-archive"
    code, _out, err = invoke("ingest", other, "--id", "ZAA0067", "--archive", local)
    assert code == 0, err
    code, _out, err = invoke("catalogue", "migrate", "--to", desk_url, "--archive", local)
    said_text = " ".join(err.split())
    assert code == 2 and "migrate with the owner's URL" in said_text, said_text
    assert "pw2" not in err


def test_two_ingests_of_one_patient_take_turns_and_other_patients_go_side_by_side(
    tmp_path: Path, pg_url: str
) -> None:
    """The test holds patient A's lock itself (as another desk would); B's card goes through,
    A's ingest waits, saying so, and copies nothing until the lock is let go."""
    archive = tmp_path / "archive"
    desk = Desk.make(tmp_path / "desk", "nurse-1", pg_url, archive)
    first = write_folder(tmp_path / "first", card_files(2, start=datetime(2026, 11, 1, 9), seed=1))
    result = desk.run("ingest", first, "--id", "JBX3656")
    assert result.returncode == 0, result.stderr
    archive_id = (archive / ".cardingest" / "archive-id").read_text().strip()
    card_a = write_folder(tmp_path / "a", card_files(3, start=datetime(2026, 11, 2, 9), seed=2))
    card_b = write_folder(tmp_path / "b", card_files(3, start=datetime(2026, 11, 3, 9), seed=3))
    with psycopg.connect(pg_url, autocommit=True) as other_desk:
        other_desk.execute(
            "SELECT pg_advisory_lock(%s)", (lock_key(archive_id, "patient\0JBX3656"),)
        )
        waiting = desk.start("ingest", card_a, "--id", "JBX3656")
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        assert "Waiting for another workstation working on patient JBX3656" in line, line
        side = desk.run("ingest", card_b, "--id", "MCJ1984")
        assert side.returncode == 0, side.stderr
        assert len(list((archive / "MCJ1984").iterdir())) == 3
        assert len(list((archive / "JBX3656").iterdir())) == 2, "A must not copy yet"
        assert waiting.poll() is None
    _out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert len(list((archive / "JBX3656").iterdir())) == 5


def test_three_workstations_ingest_three_cards_into_one_archive_at_once(
    tmp_path: Path, pg_url: str, fat_card: Any
) -> None:
    """Done when: three processes, own config and operator, three FAT32 cards, at once."""
    archive = tmp_path / "archive"
    patients = ("JBX3656", "MCJ1984", "EPT6335")
    cards: dict[str, dict[str, bytes]] = {}
    procs = []
    for n, patient in enumerate(patients):
        files = card_files(12, start=datetime(2026, 11, 10 + n, 9), seed=10 + n)
        cards[patient] = files
        mount = fat_card(files, label=f"CARD{n}", serial=f"1234-00{n}0")
        desk = Desk.make(tmp_path / f"desk{n}", f"nurse-{n}", pg_url, archive)
        procs.append((desk, desk.start("ingest", mount, "--id", patient, "--json")))
    for _desk, proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err + out
        assert {i["action"] for i in json.loads(out)["items"]} == {"copy"}
    findings = check_archive(archive, pg_url, cards)
    assert findings.lost == [] and findings.doubled == [] and findings.wrong_patient == []
    assert findings.stray == [] and findings.rows == findings.files == 36
    desk = procs[0][0]
    assert desk.run("verify").returncode == 0
    audit = json_out(desk.run("audit", "--json"))
    assert audit["ok"] and audit["events"] == 4  # three ingests and the verify
    found = json_out(desk.run("search", "--json"))["results"]
    assert len(found) == 36
    assert {r["operator"] for r in found} == {"nurse-0", "nurse-1", "nurse-2"}
    assert not [p for p in archive.rglob("*") if "sqlite" in p.name]


def test_migrate_moves_a_sqlite_archive_and_every_command_answers_the_same(
    tmp_path: Path, pg_url: str
) -> None:
    archive = tmp_path / "archive"
    desk = Desk.make(tmp_path / "desk", "nurse-1", pg_url, archive)
    sqlite_env = {"CARDINGEST_CONFIG": str(tmp_path / "sqlite.toml")}
    (tmp_path / "sqlite.toml").write_text(f'archive = "{archive}"\n', encoding="utf-8")
    cards = {
        "JBX3656": card_files(150, start=datetime(2026, 10, 1, 9), seed=6),
        "MCJ1984": card_files(150, start=datetime(2026, 10, 2, 9), seed=7),
    }
    roots = {}
    for patient, files in cards.items():
        roots[patient] = write_folder(tmp_path / patient, files)
        done = desk.run("ingest", roots[patient], "--id", patient, extra=sqlite_env)
        assert done.returncode == 0, done.stderr
    assert desk.run("tag", "MCJ1984", "--diagnosis", "melanoma", extra=sqlite_env).returncode == 0

    def answers(extra: dict) -> dict:
        return {
            "search": _stable(json_out(desk.run("search", "--json", extra=extra))["results"]),
            "melanoma": len(
                json_out(desk.run("search", "--diagnosis", "melanoma", "--json", extra=extra))[
                    "results"
                ]
            ),
            "verify": {
                k: v
                for k, v in json_out(desk.run("verify", "--json", extra=extra)).items()
                if k != "archive"
            },
        }

    before = answers(sqlite_env)
    assert len(before["search"]) == 300 and before["melanoma"] == 150
    events_before = json_out(desk.run("audit", "--json", extra=sqlite_env))["events"]
    # Interrupted inside its transaction: nothing there; re-run: everything, once.
    killed = desk.run("catalogue", "migrate", "--to", pg_url, point="die-in-migrate-copy")
    assert killed.returncode == -9, killed.stderr
    killed = desk.run("catalogue", "migrate", "--to", pg_url, point="die-before-migrate-mark")
    assert killed.returncode == -9, killed.stderr
    assert desk.run("search", extra=sqlite_env).returncode == 0, "not marked: SQLite still works"
    moved = desk.run("catalogue", "migrate", "--to", pg_url, "--json")
    assert moved.returncode == 0, moved.stderr
    document = json.loads(moved.stdout)
    assert document["counts"]["files"] == 300 and document["copied"] is False
    assert document["audit_events"] == events_before + 1
    after = answers({})
    assert after["search"] == before["search"] and after["melanoma"] == before["melanoma"]
    assert after["verify"] == before["verify"] and before["verify"]["ok"]
    refused = desk.run("search", extra=sqlite_env)
    assert refused.returncode == 2 and "has moved to PostgreSQL" in refused.stderr
    wiped = desk.run("wipe", roots["JBX3656"], "--yes", "--json")
    assert wiped.returncode == 0, wiped.stderr
    assert not list(roots["JBX3656"].rglob("*.JPG"))
    assert json_out(desk.run("audit", "--json"))["ok"]
    findings = check_archive(archive, pg_url, cards)
    assert findings.lost == [] and findings.doubled == [] and findings.rows == 300


def test_a_password_given_as_a_query_setting_is_never_shown_or_stored(
    tmp_path: Path, pg_url: str
) -> None:
    """libpq also takes the password as ``?password=``: masked like ``user:password@`` in
    messages and JSON, and never written into the archive (the migration marker included).
    The test server trusts every local connection, so the password is given and unused."""
    secret = "SeCrEt3qp"
    url = f"{pg_url}&password={secret}&sslmode=disable"
    archive = tmp_path / "archive"
    desk = Desk.make(tmp_path / "desk", "nurse-1", url, archive)
    sqlite_env = {"CARDINGEST_CONFIG": str(tmp_path / "sqlite.toml")}
    (tmp_path / "sqlite.toml").write_text(f'archive = "{archive}"\n', encoding="utf-8")
    card = write_folder(tmp_path / "card", card_files(2, start=datetime(2026, 11, 9, 9), seed=11))
    assert desk.run("ingest", card, "--id", "JBX3656", extra=sqlite_env).returncode == 0
    runs = [desk.run("catalogue", "migrate", "--to", url, "--json")]
    moved = json_out(runs[0])
    assert moved["to"].endswith("&password=***&sslmode=disable"), moved["to"]
    runs.append(desk.run("catalogue", "migrate", "--to", url))  # again: "Already moved"
    assert runs[-1].returncode == 0 and "Already moved" in runs[-1].stdout, runs[-1].stderr
    runs.append(desk.run("audit", "--json"))
    assert json_out(runs[-1])["log"].startswith(pg_url + "&password=***")
    runs.append(desk.run("search", extra=sqlite_env))
    assert runs[-1].returncode == 2 and "has moved to PostgreSQL" in runs[-1].stderr
    assert "&password=***&sslmode=disable" in runs[-1].stderr
    runs.append(desk.run("verify", "--json"))
    runs.append(desk.run("search", "--catalogue", url.replace(pg_url, pg_url + "_none")))
    assert runs[-1].returncode == 1 and "password=***" in runs[-1].stderr, runs[-1].stderr
    for done in runs:
        assert secret not in done.stdout + done.stderr
    for path in archive.rglob("*"):
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as marked:
        assert marked.execute("SELECT url FROM migrated_to").fetchone() == (
            pg_url + "&password=***&sslmode=disable",
        )


def test_copying_a_card_twice_from_two_desks_gives_the_same_names(
    tmp_path: Path, pg_url: str
) -> None:
    """Names stay deterministic: the second desk finds everything archived (skip)."""
    archive = tmp_path / "archive"
    files = card_files(5, start=datetime(2026, 11, 7, 9), seed=9)
    card = write_folder(tmp_path / "card", files)
    names = []
    for n in range(2):
        desk = Desk.make(tmp_path / f"desk{n}", f"nurse-{n}", pg_url, archive)
        items = json_out(desk.run("ingest", card, "--id", "JBX3656", "--json"))["items"]
        names.append(sorted((i["source"], i["target"], i["action"]) for i in items))
    assert [t for _s, t, _a in names[0]] == [t for _s, t, _a in names[1]]
    assert {a for _s, _t, a in names[1]} == {"skip"}
    shutil.rmtree(card)


def test_default_privileges_set_in_the_wrong_database_are_a_permissions_message(
    tmp_path: Path, pg_server: Any, pg_url: str, test_ids: Path
) -> None:
    """The README's roles, with its ALTER DEFAULT PRIVILEGES run while connected to
    ``postgres`` instead of the archive's database (the mistake the README warns about):
    the desk's role may not use the schema the owner made. Its commands say it is the
    database role's permissions and point to "Setting up the database" (exit 2, as other
    config errors), not psycopg's bare "permission denied for schema"."""
    database = pg_url.split("@/")[1].split("?")[0]
    owner, desk = f"{database}_owner", f"{database}_desk"  # roles are server-wide
    sql = _readme_sql().replace("clinic_photos", database).replace("'change-me'", "'pw1'")
    sql = sql.replace("'change-me-too'", "'pw2'")
    sql = sql.replace("cardingest_owner", owner).replace("cardingest_desk", desk)
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    with (
        psycopg.connect(pg_url, autocommit=True) as right,
        psycopg.connect(pg_server.url("postgres"), autocommit=True) as wrong,
    ):
        for statement in statements:
            where = wrong if statement.startswith("ALTER DEFAULT PRIVILEGES") else right
            where.execute(statement)  # type: ignore[arg-type]
    card, _map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    owner_url, desk_url = pg_server.url(database, user=owner), pg_server.url(database, user=desk)
    code, _out, err = invoke("ingest", card, "--id", "ZAC5361", "--archive", archive,
                             "--catalogue", owner_url)  # fmt: skip
    assert code == 0, err
    for command in (
        ("verify",),
        ("search", "--id", "ZAC5361"),
        ("ingest", card, "--id", "ZAC5361"),
    ):
        code, out, err = invoke(*command, "--archive", archive, "--catalogue", desk_url, "--json")
        assert code == 2, (command, err)
        assert f"The database role {desk} may not use the archive's tables" in err, err
        assert "Setting up the database" in err and "ALTER DEFAULT PRIVILEGES" in err
        assert "pw2" not in err
        assert json.loads(out)["error"]["exit"] == 2
    # The README's way out: the default privileges where they belong, and its grants for
    # the archive made meanwhile. Then the desk works, and still cannot change history.
    archive_id = (archive / ".cardingest" / "archive-id").read_text().strip()
    repair = _readme_sql("roles-repair").replace("a_ARCHIVEID", f"a_{archive_id}")
    with psycopg.connect(pg_url, autocommit=True) as right:
        for statement in statements + [s.strip() for s in repair.split(";") if s.strip()]:
            if not statement.startswith("CREATE ROLE"):
                statement = statement.replace("cardingest_desk", desk)
                right.execute(statement.replace("cardingest_owner", owner))  # type: ignore[arg-type]
    for command in (("verify",), ("search", "--id", "ZAC5361"), ("audit",)):
        code, _out, err = invoke(*command, "--archive", archive, "--catalogue", desk_url)
        assert code == 0, (command, err)
    with (
        psycopg.connect(desk_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM cardingest.audit")


def test_a_refused_login_or_a_wrong_url_setting_is_for_the_user_to_fix(
    pg_server: Any, tmp_path: Path
) -> None:
    """A wrong or missing password (the server asks for one: scram-sha-256 in pg_hba.conf), a user
    pg_hba.conf rejects, a user or a database the server does not have, and a setting libpq
    refuses (``sslmode=bogus``) are the URL's (or the server's set-up) to correct: exit 2,
    saying so, the password never shown. The right password works."""
    role = f"pwdesk{os.getpid()}"
    kept_out = f"outdesk{os.getpid()}"
    pg_server.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'right-horse'")
    pg_server.admin(f"CREATE ROLE {kept_out} LOGIN")
    name = pg_server.fresh_database().split("@/")[1].split("?")[0]
    pg_server.admin(f'ALTER DATABASE "{name}" OWNER TO {role}')
    hba = pg_server.data / "pg_hba.conf"
    hba.write_text(
        f"local all {role} scram-sha-256\nlocal all {kept_out} reject\n" + hba.read_text()
    )
    pg_server.admin("SELECT pg_reload_conf()")
    url = pg_server.url(name, user=role)
    right = url.replace(f"{role}@", f"{role}:right-horse@")
    card, _map = demo_card(tmp_path)
    archive = tmp_path / "archive"
    ingest = ("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    code, _out, err = invoke(*ingest, "--catalogue", right)
    assert code == 0, err
    files = sorted(archive.rglob("*"))
    for wrong, says in (
        (url.replace(f"{role}@", f"{role}:wrong-horse@"), "refused the login"),
        (url, "refused the login"),  # no password given (a ~/.pgpass libpq passed over)
        (right + "&sslmode=bogus", "is not right"),
        (pg_server.url(name, user=kept_out), "refused the login"),
        (pg_server.url(name, user=f"nobody{os.getpid()}"), "refused the login"),
        (right.replace(f"/{name}?", f"/{name}x?"), "is not right"),
    ):
        for command in (ingest, ("search", "--archive", archive, "--json")):
            code, out, err = invoke(*command, "--catalogue", wrong)
            assert code == 2, err
            assert says in err and "horse" not in err + out, err
            assert json.loads(out)["error"]["exit"] == 2
    assert sorted(archive.rglob("*")) == files


def test_a_backup_given_later_is_recorded_in_postgresql_too(tmp_path: Path, pg_url: str) -> None:
    """`Catalogue.set_backup_copy` on PostgreSQL: the photos archived with no backup get
    their backup copies, the rows name them, and the wipe then removes the card's photos."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    card = write_folder(tmp_path / "card", card_files(3, start=datetime(2026, 11, 7, 9), seed=4))
    desk = Desk.make(tmp_path / "desk", "nurse", pg_url, archive)
    assert json_out(desk.run("ingest", card, "--id", "JBX3656", "--json"))["summary"]["copied"] == 3
    again = json_out(desk.run("ingest", card, "--id", "JBX3656", "--backup", backup, "--json"))
    assert [i["reason"].split(":")[0] for i in again["items"]] == ["backed up"] * 3
    verified = json_out(desk.run("verify", "--json"))
    assert verified["ok"] and verified["summary"]["copies"] == 6, verified
    wipe = json_out(desk.run("wipe", card, "--yes", "--json"))
    assert wipe["summary"] == {"removed": 3, "kept": 0}


def test_a_desk_over_tcp_asks_the_server_to_probe_it_so_its_locks_free_if_it_vanishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trial: a desk that lost its network (no word to the server) kept its advisory locks
    for the server's default two hours, and every other desk waited. Each session asks the
    server to probe it after a minute (a real server on 127.0.0.1, where the settings
    count; over a Unix socket they read as 0)."""
    from cardingest.archive.pg import KEEPALIVES, USER_TIMEOUT_MS, connect

    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PGPORT", str(port))  # its socket file's name too, for pg_isready
    server = PgServer(require_postgres(), options=f"-c listen_addresses=127.0.0.1 -p {port}")
    try:
        server.start()
        with connect(f"postgresql://{server.dbuser}@127.0.0.1:{port}/postgres") as conn:
            wanted = [*KEEPALIVES, ("tcp_user_timeout", USER_TIMEOUT_MS)]
            found = conn.execute(
                "SELECT name, setting::int FROM pg_settings WHERE name = ANY(%s)",
                ([name for name, _ in wanted],),
            ).fetchall()
        assert sorted(found) == sorted(wanted)
    finally:
        server.close()


def test_an_ingest_whose_lock_connection_the_server_ends_stops_before_recording(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: the server ended the connection holding an ingest's locks mid-copy (an
    administrator, a role's idle_session_timeout, a proxy), and the ingest went on to exit
    0 while another desk took the locks and "recovered" its journal. It stops at its next
    record (exit 1), says why, and the next run records what it left from the journal."""
    import cardingest.ingest as ingest_module

    archive = tmp_path / "archive"
    card = write_folder(tmp_path / "card", card_files(3, start=datetime(2026, 11, 9, 9), seed=9))
    catalogue = ("--catalogue", pg_url)
    add = ingest_module._Batcher.add
    ended: list[int] = []

    def add_after_ending_the_locks(self: Any, record: Any) -> None:
        if not ended:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                ended.extend(
                    row[0]
                    for row in admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name LIKE %s",
                        (f"cardingest ingest % pid {os.getpid()}",),
                    )
                )
        add(self, record)

    monkeypatch.setattr(ingest_module._Batcher, "add", add_after_ending_the_locks)
    code, out, err = invoke(
        "ingest", card, "--id", "JBX3656", "--archive", archive, "--json", *catalogue
    )
    said = " ".join(err.split())
    assert ended == [True], "the lock connection was found and ended"
    assert code == 1, said
    assert "stopped answering the session that held this workstation's locks" in said
    assert "another workstation may now be working" not in said  # the run lost its session
    assert json.loads(out)["error"]["exit"] == 1
    # Its journal stays, and its content claims with it (a second reader found them
    # deleted): until the next run records its copies, they keep another desk from filing
    # the same photos under another patient.
    from cardingest.archive.pg import schema_of

    archive_id = (archive / ".cardingest" / "archive-id").read_text().strip()
    with psycopg.connect(pg_url, autocommit=True) as admin:
        [(claimed,)] = admin.execute(
            f'SELECT count(*) FROM "{schema_of(archive_id)}".content_claims'
        ).fetchall()
    assert claimed == 3
    monkeypatch.setattr(ingest_module._Batcher, "add", add)
    code, out, err = invoke(
        "ingest", card, "--id", "JBX3656", "--archive", archive, "--json", *catalogue
    )
    assert code == 0, err
    code, out, err = invoke("verify", "--archive", archive, "--json", *catalogue)
    assert code == 0 and json.loads(out)["summary"]["copies"] == 3, out
    assert len(list((archive / "JBX3656").iterdir())) == 3


def test_a_roles_idle_session_timeout_does_not_reach_cardingests_sessions(pg_url: str) -> None:
    """A trial: ``ALTER ROLE … SET idle_session_timeout = '3s'`` ended the connection of an
    ingest waiting for another desk, or holding its locks while a card was read ("Cannot
    reach the catalogue database"). Each session turns it off for itself."""
    from cardingest.archive.pg import connect

    with psycopg.connect(pg_url, autocommit=True) as admin:
        if admin.info.server_version < 140000:
            pytest.skip("idle_session_timeout is PostgreSQL 14's")
        database = admin.info.dbname
        admin.execute(f"ALTER DATABASE \"{database}\" SET idle_session_timeout = '3s'")
    with connect(pg_url) as conn:
        [(setting,)] = conn.execute("SHOW idle_session_timeout").fetchall()
    assert setting == "0"


def test_a_move_whose_catalogue_connection_ends_while_it_plans_says_nothing_moved(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, test_ids: Path
) -> None:
    """A trial: the server stopped while a move read the catalogue, and the move said only
    the driver's "server closed the connection unexpectedly". It says that nothing was
    moved and to run it again; run again, it moves them."""
    import cardingest.move as move_module

    archive = tmp_path / "archive"
    card = write_folder(tmp_path / "card", card_files(2, start=datetime(2026, 11, 9, 9), seed=5))
    catalogue = ("--catalogue", pg_url)
    code, _out, err = invoke("ingest", card, "--id", "JBX3656", "--archive", archive, *catalogue)
    assert code == 0, err
    plan = move_module.plan_move

    def plan_after_the_connection_ends(*args: Any, **kwargs: Any) -> Any:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE %s",
                (f"cardingest catalogue % pid {os.getpid()}",),
            )
        return plan(*args, **kwargs)

    monkeypatch.setattr(move_module, "plan_move", plan_after_the_connection_ends)
    moving = ("move", "--from", "JBX3656", "--to", "MCJ1984", "--archive", archive, *catalogue)
    code, _out, err = invoke(*moving)
    said = " ".join(err.split())
    assert code == 1, said
    assert "Nothing was moved; run the same command again" in said
    assert len(list((archive / "JBX3656").iterdir())) == 2
    monkeypatch.setattr(move_module, "plan_move", plan)
    code, _out, err = invoke(*moving)
    assert code == 0, err
    assert len(list((archive / "MCJ1984").iterdir())) == 2
