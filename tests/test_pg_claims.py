"""Two desks, the same photos, two patients, at once (PostgreSQL): one patient gets them.

The planner's "already archived under another patient" hold sees committed rows only; two
ingests that plan before either records a row would both file the photos. At the moment of
publishing, each photo claims its content in the database (``archive/claims.py``): the
second desk holds what the first has filed or is filing. Each scenario pauses a real
cardingest process at a chosen code point (``pg_inject.py``) and lets it go on by writing a
line to its stdin: no sleeps, no timing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_helpers import Desk, card_files, check_archive, json_out, write_folder

PATIENT_A, PATIENT_B = "JBX3656", "MCJ1984"


def _paused(desk: Desk, *args: object, point: str) -> subprocess.Popen[str]:
    """A desk's ingest, stopped at ``point`` until `_go` lets it on."""
    proc = desk.start(*args, point=point)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.strip() == "HOOK-REACHED", line + proc.stderr.read()
    return proc


def _go(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _rows(url: str, archive: Path, table: str = "files") -> list[tuple[Any, ...]]:
    archive_id = (archive / ".cardingest" / "archive-id").read_text().strip()
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(f'SELECT * FROM "a_{archive_id}".{table}').fetchall()  # type: ignore[arg-type]


def _busy_desk(tmp_path: Path, url: str, archive: Path) -> tuple[Desk, Path, subprocess.Popen[str]]:
    """Desk C, its card, and its ingest paused before copying: while it waits, no other
    ingest has the archive to itself (none recovers a journal)."""
    desk_c = Desk.make(tmp_path / "desk-c", "nurse-c", url, archive)
    card_c = write_folder(
        tmp_path / "card-c", card_files(1, start=datetime(2026, 10, 1, 9), seed=33)
    )
    paused = _paused(
        desk_c, "ingest", card_c, "--id", "EPT6335", "--json", point="wait-before-copying"
    )
    return desk_c, card_c, paused


def _card_unchanged(card: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        assert hashlib.sha256((card / rel).read_bytes()).digest() == hashlib.sha256(data).digest()


def _setup(tmp_path: Path, url: str, count: int = 4) -> tuple[Path, dict, Path, Path, Desk, Desk]:
    """The same photos on two cards (one card read at two desks), and two desks."""
    archive = tmp_path / "archive"
    files = card_files(count, start=datetime(2026, 11, 20, 9), seed=21)
    card_a = write_folder(tmp_path / "card-a", files)
    card_b = write_folder(tmp_path / "card-b", files)
    desk_a = Desk.make(tmp_path / "desk-a", "nurse-a", url, archive)
    desk_b = Desk.make(tmp_path / "desk-b", "nurse-b", url, archive)
    first = desk_a.run("ingest", write_folder(tmp_path / "older", card_files(1, start=datetime(
        2026, 11, 1, 9), seed=20)), "--id", "EPT6335")  # fmt: skip
    assert first.returncode == 0, first.stderr  # the archive exists: both desks just use it
    return archive, files, card_a, card_b, desk_a, desk_b


def test_a_photo_being_filed_by_another_desk_is_held_not_filed_twice(
    tmp_path: Path, pg_url: str
) -> None:
    """Desk A has published every photo but recorded none; desk B, the same photos for
    another patient, plans them as new (no row to see) and holds each at publishing."""
    archive, files, card_a, card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    a = _paused(
        desk_a, "ingest", card_a, "--id", PATIENT_A, "--json", point="wait-before-recording"
    )
    try:
        assert len(list((archive / PATIENT_A).iterdir())) == len(files), "A has published"
        assert [r for r in _rows(pg_url, archive) if r[1] == PATIENT_A] == [], "none recorded"
        preview = json_out(desk_b.run("preview", card_b, "--id", PATIENT_B, "--json"))
        assert {i["action"] for i in preview["items"]} == {"copy"}, "the plan cannot see them"
        b = desk_b.run("ingest", card_b, "--id", PATIENT_B, "--json")
        assert b.returncode == 3, b.stderr
        assert "Traceback" not in b.stderr
        items = json.loads(b.stdout)["items"]
        assert {i["action"] for i in items} == {"hold"}
        for item in items:
            assert item["target"] is None
            assert f"being archived under patient {PATIENT_A} (" in item["reason"], item
            assert "--allow-other-patient" in item["reason"] and "nurse-a on " in item["reason"]
        shown = desk_b.run("ingest", card_b, "--id", PATIENT_B)
        assert shown.returncode == 3 and f"under patient {PATIENT_A}" in shown.stdout
    finally:
        code, out, err = _go(a)
    assert code == 0, err
    assert {i["action"] for i in json.loads(out)["items"]} == {"copy"}
    findings = check_archive(archive, pg_url, {PATIENT_A: files})
    assert findings.lost == [] and findings.doubled == [] and findings.wrong_patient == []
    assert findings.stray == [] and findings.rows == findings.files == len(files) + 1
    assert not (archive / PATIENT_B).exists()
    _card_unchanged(card_b, files)
    assert _rows(pg_url, archive, "content_claims") == [], "claims end with their ingest"
    assert desk_b.run("verify").returncode == 0
    # Once A has recorded them, B's plan holds them as before.
    again = json_out(desk_b.run("ingest", card_b, "--id", PATIENT_B, "--json"))
    assert all(f"already archived under patient {PATIENT_A}" in i["reason"] for i in again["items"])


def test_two_desks_that_both_planned_first_file_the_photos_under_one_patient(
    tmp_path: Path, pg_url: str
) -> None:
    """Both plan before either copies; A finishes, then B publishes: B holds every photo,
    naming A's patient and file as the planner would."""
    archive, files, card_a, card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    a = _paused(desk_a, "ingest", card_a, "--id", PATIENT_A, "--json", point="wait-before-copying")
    try:
        b = _paused(
            desk_b, "ingest", card_b, "--id", PATIENT_B, "--json", point="wait-before-copying"
        )
        try:
            code_a, out_a, err_a = _go(a)
            assert code_a == 0, err_a
        finally:
            code_b, out_b, err_b = _go(b)
    finally:
        if a.poll() is None:
            _go(a)
    assert code_b == 3, err_b
    assert "Traceback" not in err_b
    filed = {i["source"]: i["target"] for i in json.loads(out_a)["items"]}
    for item in json.loads(out_b)["items"]:
        assert item["action"] == "hold" and item["target"] is None
        assert item["reason"].startswith(
            f"the same photo is already archived under patient {PATIENT_A} "
            f"({filed[item['source']]})"
        ), item
    findings = check_archive(archive, pg_url, {PATIENT_A: files})
    assert findings.lost == [] and findings.doubled == [] and findings.wrong_patient == []
    assert findings.stray == [] and findings.rows == findings.files == len(files) + 1
    assert not (archive / PATIENT_B).exists()
    _card_unchanged(card_b, files)


def test_allow_other_patient_files_both_while_the_other_desk_is_filing(
    tmp_path: Path, pg_url: str
) -> None:
    archive, files, card_a, card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    a = _paused(
        desk_a, "ingest", card_a, "--id", PATIENT_A, "--json", point="wait-before-recording"
    )
    try:
        b = desk_b.run("ingest", card_b, "--id", PATIENT_B, "--allow-other-patient", "--json")
    finally:
        code, _out, err = _go(a)
    assert b.returncode == 0, b.stderr
    assert {i["action"] for i in json.loads(b.stdout)["items"]} == {"copy"}
    assert code == 0, err
    findings = check_archive(archive, pg_url, {PATIENT_A: files, PATIENT_B: files})
    assert findings.lost == [] and findings.doubled == [] and findings.wrong_patient == []
    assert findings.rows == findings.files == 2 * len(files) + 1


def test_the_claims_of_a_desk_that_died_do_not_hold_anything(tmp_path: Path, pg_url: str) -> None:
    """kill -9 after A published (and claimed) a photo: its claim is dead with it. What A
    published is recorded from its publish journal by B's ingest (alone on the archive), for
    A's patient, so B holds exactly that and files the rest."""
    archive, files, card_a, card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    killed = desk_a.run("ingest", card_a, "--id", PATIENT_A, point="die-after-first-copy")
    assert killed.returncode == -9, killed.stderr
    assert _rows(pg_url, archive, "content_claims"), "the dead desk left its claims"
    published = sorted(p.name for p in (archive / PATIENT_A).glob("*.jpg"))
    assert published
    b = desk_b.run("ingest", card_b, "--id", PATIENT_B, "--json")
    assert b.returncode == 3, b.stderr
    items = json.loads(b.stdout)["items"]
    held = [i for i in items if i["action"] == "hold"]
    assert len(held) == len(published), items
    assert all(f"already archived under patient {PATIENT_A}" in i["reason"] for i in held)
    assert {i["action"] for i in items} == {"copy", "hold"}
    assert _rows(pg_url, archive, "content_claims") == []
    filed = {i["source"]: files[i["source"]] for i in items if i["action"] == "copy"}
    recorded = {i["source"]: files[i["source"]] for i in held}
    findings = check_archive(archive, pg_url, {PATIENT_A: recorded, PATIENT_B: filed})
    assert findings.lost == [] and findings.doubled == [] and findings.stray == []
    assert findings.wrong_patient == [] and findings.rows == findings.files


@pytest.mark.parametrize("upgrader", ["owner", "superuser"])
def test_an_archive_made_before_claims_gets_its_table_from_the_owner_and_desks_wait_for_it(
    tmp_path: Path, pg_server: Any, pg_url: str, upgrader: str
) -> None:
    """Schema version 1 (no ``content_claims``): a desk's role cannot add the table, so its
    ingest is refused before anything is copied, saying what to run; any command with the
    owner's URL upgrades the archive, and the desk goes on. A superuser's URL makes the
    table as the owner too, so the owner's default privileges reach the desks."""
    database = pg_url.split("@/")[1].split("?")[0]
    owner, desk_role = f"own_{database}", f"desk_{database}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for statement in (
            f"CREATE ROLE {owner} LOGIN",
            f"CREATE ROLE {desk_role} LOGIN",
            f"GRANT CONNECT, CREATE ON DATABASE {database} TO {owner}",
            f"GRANT CONNECT ON DATABASE {database} TO {desk_role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT USAGE ON SCHEMAS TO {desk_role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT SELECT, INSERT, UPDATE, DELETE"
            f" ON TABLES TO {desk_role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT USAGE ON SEQUENCES TO {desk_role}",
        ):
            conn.execute(statement)  # type: ignore[arg-type]
    owner_url = pg_server.url(database, user=owner)
    desk_url = pg_server.url(database, user=desk_role)
    archive = tmp_path / "archive"
    owner_desk = Desk.make(tmp_path / "owner", "it", owner_url, archive)
    first = owner_desk.run(
        "ingest", write_folder(tmp_path / "c0", card_files(1, start=datetime(2026, 1, 1), seed=1)),
        "--id", PATIENT_A,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    archive_id = (archive / ".cardingest" / "archive-id").read_text().strip()
    with psycopg.connect(owner_url, autocommit=True) as conn:  # as cardingest 1 left it
        conn.execute(f'DROP TABLE "a_{archive_id}".content_claims')  # type: ignore[arg-type]
        conn.execute("UPDATE cardingest.archives SET schema_version = 1")
    desk = Desk.make(tmp_path / "desk", "nurse", desk_url, archive)
    files = card_files(2, start=datetime(2026, 2, 1), seed=2)
    card = write_folder(tmp_path / "c1", files)
    refused = desk.run("ingest", card, "--id", PATIENT_B)
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "has no table of photos being filed" in refused.stderr
    assert "cardingest audit --archive" in refused.stderr
    assert not (archive / PATIENT_B).exists()
    assert desk.run("search", "--json").returncode == 0, "reading needs no new table"
    upgrading = (
        owner_desk if upgrader == "owner" else Desk.make(tmp_path / "su", "it", pg_url, archive)
    )
    assert upgrading.run("audit").returncode == 0
    with psycopg.connect(owner_url, autocommit=True) as conn:
        version = conn.execute("SELECT schema_version FROM cardingest.archives").fetchone()
    assert version == (2,)
    done = desk.run("ingest", card, "--id", PATIENT_B)
    assert done.returncode == 0, done.stderr
    findings = check_archive(archive, pg_url, {PATIENT_B: files})
    assert findings.lost == [] and findings.doubled == []


class _Claims:
    """The database's part, in memory: content -> its patient."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.held: list[str] = []
        self.claimed: list[tuple[str, str]] = []

    def claim(self, sha256: str, patient_id: str, archive_path: str, *, check: bool) -> str | None:
        self.claimed.append((sha256, patient_id))
        other = self.owners.get(sha256)
        return f"under patient {other}" if check and other and other != patient_id else None


class _Inner:
    """The ingest's own gate: this patient already has ``known``."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known

    def claim(self, source: Path, sha256: str) -> None: ...

    def enter(self, source: Path, sha256: str) -> str | None:
        return self.known.get(sha256)

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None: ...


def test_the_gate_holds_the_rest_of_a_held_shot_and_claims_only_what_it_publishes() -> None:
    from dataclasses import replace

    import pytest
    from factories import media

    from cardingest.archive.claims import ClaimingGate, guarded
    from cardingest.models import IdMap, MapRow
    from cardingest.plan.planner import make_plan
    from cardingest.storage.transfer import Held

    files = [
        media("DCIM/100CANON/IMG_0001.JPG"),
        media("DCIM/100CANON/IMG_0001.CR2"),
        media("DCIM/100CANON/IMG_0001.XMP"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:20:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 09:25:00"),
    ]
    plan = make_plan(
        [replace(f, size=1000 + n) for n, f in enumerate(files)],
        IdMap(rows=(MapRow(line=0, patient_id=PATIENT_B, everything=True),)),
    )
    root = Path("/card")
    copies = [i for i in plan.items if i.action == "copy"]
    claims = _Claims({"jpg1": PATIENT_A, "cr2-1": PATIENT_A})
    item_of = {root / item.source: item for item in copies}.get
    gate = ClaimingGate(_Inner({"jpg3": f"{PATIENT_B}/x.jpg"}), claims, item_of, check=True)  # type: ignore[arg-type]
    with pytest.raises(Held, match=PATIENT_A):
        gate.enter(root / "DCIM/100CANON/IMG_0001.JPG", "jpg1")
    for rest, sha in (("IMG_0001.CR2", "cr2-x"), ("IMG_0001.XMP", "xmp")):
        with pytest.raises(Held, match=PATIENT_A):  # its shot is held: not even claimed
            gate.enter(root / "DCIM/100CANON" / rest, sha)
    assert gate.enter(root / "DCIM/100CANON/IMG_0002.JPG", "jpg2") is None
    assert gate.enter(root / "DCIM/100CANON/IMG_0003.JPG", "jpg3") == f"{PATIENT_B}/x.jpg"
    assert claims.claimed == [("jpg1", PATIENT_B), ("jpg2", PATIENT_B)], "a skip claims nothing"
    assert len(claims.held) == 3
    allowed = guarded(_Inner({}), claims, item_of, allow_other_patient=True)  # type: ignore[arg-type]
    assert allowed is not None
    assert allowed.enter(root / "DCIM/100CANON/IMG_0001.JPG", "jpg1") is None
    inner = _Inner({})
    assert guarded(inner, None, item_of, allow_other_patient=False) is inner, "SQLite"


def test_a_dead_desks_unrecorded_photos_stay_held_until_it_is_recovered(
    tmp_path: Path, pg_url: str
) -> None:
    """A killed after naming a photo; desk C is busy, so no ingest is alone to record A's
    journal. A's claims still hold that photo for A's patient (B holds it, naming the
    stopped ingest), so the recovery that comes later files it under one patient only."""
    archive, _files, card_a, card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    desk_c, card_c, c = _busy_desk(tmp_path, pg_url, archive)
    try:
        killed = desk_a.run("ingest", card_a, "--id", PATIENT_A, point="die-after-first-copy")
        assert killed.returncode == -9, killed.stderr
        named = sorted(p.name for p in (archive / PATIENT_A).glob("*.jpg"))
        assert named, "A named a photo before it died"
        b = desk_b.run("ingest", card_b, "--id", PATIENT_B, "--json")
        assert b.returncode == 3, b.stderr
        held = [i for i in json_out(b)["items"] if i["action"] == "hold"]
        assert len(held) == len(named), held
        assert all(
            f"had copied the same photo for patient {PATIENT_A}" in i["reason"] for i in held
        )
    finally:
        code, _out, err = _go(c)
    assert code == 0, err
    again = desk_c.run("ingest", card_c, "--id", "EPT6335", "--json")  # alone: recovers A
    assert again.returncode == 0, again.stderr
    patients: dict[str, set[str]] = {}
    for row in _rows(pg_url, archive):
        patients.setdefault(row[3], set()).add(row[1])
    assert all(len(who) == 1 for who in patients.values()), patients
    assert _rows(pg_url, archive, "content_claims") == []


def test_a_journal_line_the_dead_desk_never_claimed_is_not_recorded(
    tmp_path: Path, pg_url: str
) -> None:
    """Someone who may write the archive's share, not the database, adds a line to a dead
    desk's journal for a file of theirs under another patient (a copy of a real photo, its
    true SHA-256): the recovery records the dead desk's own lines, which its claims vouch
    for, and passes over that one, saying so; verify names the file as unexpected."""
    archive, _files, card_a, card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    killed = desk_a.run("ingest", card_a, "--id", PATIENT_A, point="die-after-first-copy")
    assert killed.returncode == -9, killed.stderr
    [journal] = (archive / ".cardingest" / "journal").glob("*.jsonl")
    lines = journal.read_text().splitlines()
    genuine = json.loads(lines[1])
    forged_path = f"{PATIENT_B}/{PATIENT_B}-20261120-090000.jpg"
    (archive / PATIENT_B).mkdir()
    (archive / forged_path).write_bytes((archive / genuine["archive_path"]).read_bytes())
    forged = dict(genuine, patient_id=PATIENT_B, archive_path=forged_path)
    # A sidecar's name beside the dead desk's own photo, with a photo's bytes in it: no
    # claim is for those bytes there.
    beside = genuine["archive_path"].rpartition(".")[0] + ".thm"
    (archive / beside).write_bytes(b"another patient's photo")
    other = hashlib.sha256(b"another patient's photo").hexdigest()
    sidecar = dict(genuine, archive_path=beside, sha256=other, size=23,
                   source_path=genuine["source_path"].rpartition(".")[0] + ".THM")  # fmt: skip
    journal.write_text("\n".join([*lines, json.dumps(forged), json.dumps(sidecar)]) + "\n")
    b = desk_b.run("ingest", card_b, "--id", PATIENT_A, "--json")
    assert b.returncode == 0, b.stderr
    warnings = json_out(b)["warnings"]
    assert any("2 line(s)" in w and "never claimed" in w for w in warnings), warnings
    recorded = {row[2]: row[1] for row in _rows(pg_url, archive)}
    assert recorded[genuine["archive_path"]] == PATIENT_A
    assert forged_path not in recorded and PATIENT_B not in recorded.values()
    assert beside not in recorded
    verify = desk_b.run("verify", "--json")
    assert verify.returncode == 1, verify.stderr
    problems = json_out(verify)["problems"]
    assert sorted(p["path"] for p in problems if p["kind"] == "unexpected") == sorted(
        [forged_path, beside]
    )


def test_an_interrupted_desks_claims_last_as_long_as_its_journal(
    tmp_path: Path, pg_url: str
) -> None:
    """A run stopped with a photo named and not recorded (a second Ctrl-C can leave it so)
    keeps the journal, and the claims that vouch for its lines stay with it while desk C
    is busy (no ingest is alone on the archive to recover the journal): another desk's
    ingest keeps them. The ingest that recovers the journal lets them go. A Ctrl-C after
    which every named photo is recorded removes its journal, and its claims go with it."""
    archive, _files, card_a, _card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    _desk_c, card_c, c = _busy_desk(tmp_path, pg_url, archive)
    try:
        whole = desk_b.run(
            "ingest",
            write_folder(tmp_path / "card-e", card_files(2, start=datetime(2026, 8, 1), seed=35)),
            "--id", PATIENT_B, point="interrupt-after-first-copy",
        )  # fmt: skip
        assert whole.returncode == 130, whole.stderr
        assert not list((archive / ".cardingest" / "journal").glob("*.jsonl"))
        assert _rows(pg_url, archive, "content_claims") == []
        stopped = desk_a.run(
            "ingest", card_a, "--id", PATIENT_A, point="interrupt-before-first-row"
        )
        assert stopped.returncode == 130, stopped.stderr
        assert list((archive / ".cardingest" / "journal").glob("*.jsonl"))
        claims = _rows(pg_url, archive, "content_claims")
        assert claims and {row[1] for row in claims} == {PATIENT_A}
        beside = desk_b.run(
            "ingest",
            write_folder(tmp_path / "card-d", card_files(1, start=datetime(2026, 9, 1), seed=34)),
            "--id", PATIENT_B, "--json",
        )  # fmt: skip
        assert beside.returncode == 0, beside.stderr
        assert _rows(pg_url, archive, "content_claims") == claims
    finally:
        code, _out, err = _go(c)
    assert code == 0, err
    assert not list((archive / ".cardingest" / "journal").glob("*.jsonl"))  # C recovered it
    alone = desk_b.run("ingest", card_c, "--id", "EPT6335", "--json")
    assert alone.returncode == 0, alone.stderr
    assert _rows(pg_url, archive, "content_claims") == []


_CUT_CLAIMS = """
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    cut = conn.execute(
        "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name LIKE 'cardingest claims %'"
    ).fetchall()
assert cut == [(True,)], cut
"""
"""A hook that ends the one claims session in the test's database, as a DBA's
``pg_terminate_backend``, a server restart or a dropped network would; it returns once the
session's backend is gone (bounded: at most 60 s), so no later claim can find it."""


def test_a_photo_whose_claim_the_database_could_not_make_is_held(
    tmp_path: Path, pg_url: str
) -> None:
    """The claims' session ends once the first photo is published: no later photo can be
    checked against the other desks, so each is held, saying the check could not be made,
    and none is filed under the patient. A claim that failed let the photo through (no
    other desk's filing was looked at), so another desk could file it under a second
    patient at the same time. Run again, the ingest files them."""
    archive, files, card_a, _card_b, desk_a, _desk_b = _setup(tmp_path, pg_url, count=3)
    hook = [sys.executable, "-c", _CUT_CLAIMS, pg_url]
    cut = desk_a.run(
        "ingest", card_a, "--id", PATIENT_A, "--json", point="run-after-first-copy-alone",
        extra={"CARDINGEST_TEST_HOOK": json.dumps(hook)},
    )  # fmt: skip
    assert cut.returncode == 3, cut.stderr
    assert "Traceback" not in cut.stderr
    items = {i["source"]: i for i in json_out(cut)["items"]}
    first, *rest = sorted(files)
    assert items[first]["action"] == "copy", items
    for source in rest:
        item = items[source]
        assert item["action"] == "hold" and item["target"] is None, item
        assert item["reason"].startswith(
            "could not make sure no other desk is filing the same photo under another "
            "patient: the catalogue database "
        ), item
        assert item["reason"].endswith("; run the ingest again"), item
    recorded = [row[2] for row in _rows(pg_url, archive) if row[1] == PATIENT_A]
    assert recorded == [items[first]["target"]], "nothing held is filed under the patient"
    findings = check_archive(archive, pg_url, {PATIENT_A: {first: files[first]}})
    assert findings.lost == [] and findings.doubled == [] and findings.stray == []
    assert findings.rows == findings.files == 2
    again = desk_a.run("ingest", card_a, "--id", PATIENT_A, "--json")
    assert again.returncode == 0, again.stderr
    findings = check_archive(archive, pg_url, {PATIENT_A: files})
    assert findings.lost == [] and findings.doubled == [] and findings.wrong_patient == []
    assert findings.stray == [] and findings.rows == findings.files == len(files) + 1
    assert _rows(pg_url, archive, "content_claims") == []


@pytest.mark.parametrize(
    ("status", "journal", "kept"),
    [
        ("running", True, True),  # killed: its journal names photos that may have no row
        ("running", False, True),  # killed, its journal deleted by hand: still in doubt
        ("interrupted", True, True),  # stopped with a photo named and not recorded
        ("finished", False, False),  # killed after it closed: all it named is recorded
    ],
)
def test_a_dead_ingests_claims_go_only_once_nothing_it_named_can_lack_its_row(
    tmp_path: Path, pg_url: str, status: str, journal: bool, kept: bool
) -> None:
    """A dead ingest's claims vouch for what it may have named without recording it: while
    the catalogue still has it ``running``, or its publish journal is there, another
    ingest keeps them, both when it starts (it sweeps the dead ingests' claims) and when a
    photo it publishes meets one, and holds that photo for the dead ingest's patient.
    Dropped, the photo lies in the archive for one patient with no row, and this desk
    files it under a second one."""
    from cardingest.archive.journal import journal_path
    from cardingest.archive.pgclaims import ContentClaims

    archive = tmp_path / "archive"
    desk = Desk.make(tmp_path / "desk", "nurse-a", pg_url, archive)
    older = write_folder(tmp_path / "card", card_files(1, start=datetime(2026, 11, 1), seed=20))
    assert desk.run("ingest", older, "--id", "EPT6335").returncode == 0
    archive_id = (archive / ".cardingest" / "archive-id").read_text().strip()
    dead_id = "20261202T090000Z-dead01"
    sha256 = hashlib.sha256(b"a photo the dead ingest named").hexdigest()
    earlier = ContentClaims(pg_url, archive, "20261202T085900Z-live01")  # swept before
    try:
        dead = ContentClaims(pg_url, archive, dead_id)
        with psycopg.connect(pg_url, autocommit=True) as conn:  # as `begin_ingest` writes it
            conn.execute(
                f'INSERT INTO "a_{archive_id}".ingests (ingest_id, started, operator, host,'  # type: ignore[arg-type]
                " source, archive, clock_offset, map_source, status)"
                " VALUES (%s, '2026-12-02T09:00:00Z', 'nurse-d', 'desk-d', '/media/card',"
                " %s, '+00:00', '--id', 'running')",
                (dead_id, str(archive)),
            )
        assert dead.claim(sha256, PATIENT_A, f"{PATIENT_A}/x.jpg", check=True) is None
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                f'UPDATE "a_{archive_id}".ingests SET status = %s WHERE ingest_id = %s',  # type: ignore[arg-type]
                (status, dead_id),
            )
        dead.keep = True  # then it dies: its session ends, its claims stay in the table
        dead.close()
        if journal:
            journal_path(archive, dead_id).write_text("", encoding="utf-8")
        later = ContentClaims(pg_url, archive, "20261202T091000Z-live02")  # sweeps at start
        later.close()
        left = [row[0] for row in _rows(pg_url, archive, "content_claims")]
        assert (sha256 in left) is kept, (status, journal, left)
        reason = earlier.claim(sha256, PATIENT_B, f"{PATIENT_B}/x.jpg", check=True)
    finally:
        earlier.close()
    if kept:
        assert reason is not None and reason.startswith(
            f"an ingest that stopped ({dead_id}, nurse-d on desk-d) had copied the same photo "
            f"for patient {PATIENT_A} ({PATIENT_A}/x.jpg)"
        ), reason
    else:
        assert reason is None


def test_move_corrects_a_misfiled_card_with_postgresql(tmp_path: Path, pg_url: str) -> None:
    """`move` is what every hold message points to: it works on a PostgreSQL archive too
    (it looked for a SQLite file and said nothing was archived)."""
    archive, files, card_a, _card_b, desk_a, desk_b = _setup(tmp_path, pg_url)
    filed = desk_a.run("ingest", card_a, "--id", PATIENT_A, "--json")
    assert filed.returncode == 0, filed.stderr
    moved = desk_b.run("move", "--from", PATIENT_A, "--to", PATIENT_B, "--json")
    assert moved.returncode == 0, moved.stderr
    assert len(json_out(moved)["moved"]) == len(files)
    findings = check_archive(archive, pg_url, {PATIENT_B: files})
    assert findings.lost == [] and findings.wrong_patient == [] and findings.stray == []
    again = desk_b.run("move", "--from", PATIENT_A, "--to", PATIENT_B, "--json")
    assert again.returncode == 0 and json_out(again)["moved"] == [], again.stderr
    assert desk_b.run("verify").returncode == 0


@contextlib.contextmanager
def async_server() -> Iterator[Any]:
    """A PostgreSQL server of the test's own that commits asynchronously (as a DBA may set
    it for speed) and whose WAL writer waits 10 s: what is committed that way and not yet
    written is lost for certain when it stops at once (`pg_ctl stop -m immediate`)."""
    from pgserver import PgServer, require_postgres

    server = PgServer(
        require_postgres(), options="-c wal_writer_delay=10000 -c synchronous_commit=off"
    )
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_a_claim_is_on_disk_before_its_photo_is_named(tmp_path: Path) -> None:
    """A claim outlives a run that died (it vouches for the run's journal lines), so it
    must survive a crash of the server too. The claims' session committed asynchronously:
    a server stopped at once lost the claims of photos already named, and another desk
    filed them under another patient (a trial saw 7 of 400). Every cardingest connection
    now commits synchronously, whatever the server's or the role's setting."""
    from cardingest.archive.pgclaims import ContentClaims

    with async_server() as server:
        url = server.fresh_database()
        archive = tmp_path / "archive"
        desk = Desk.make(tmp_path / "desk", "nurse-a", url, archive)
        older = card_files(1, start=datetime(2026, 11, 1, 9), seed=20)
        made = desk.run("ingest", write_folder(tmp_path / "card", older), "--id", "EPT6335")
        assert made.returncode == 0, made.stderr
        claims = ContentClaims(url, archive, "20261202T090000Z-dead01")
        sha256 = hashlib.sha256(b"a photo being named").hexdigest()
        assert claims.claim(sha256, PATIENT_A, f"{PATIENT_A}/x.jpg", check=True) is None
        server.stop("immediate")
        server.start_again()
        assert sha256 in [row[0] for row in _rows(url, archive, "content_claims")]


def test_an_ingests_rows_are_on_disk_before_its_journal_goes(tmp_path: Path) -> None:
    """A run removes its publish journal once its rows are committed. Committed
    asynchronously (the role's setting), a server crash right after lost the last batch of
    rows with the journal already gone: the photos lay in the archive unrecorded, their
    claims were let go, and another desk filed 50 of 400 under a second patient (a trial).
    The catalogue's connection, like every cardingest connection, commits synchronously."""
    from cardingest.archive.pg import connect

    with async_server() as server:
        url = server.fresh_database()
        conn = connect(url)
        conn.execute("CREATE TABLE rows_before_the_journal (n int)")
        conn.execute("INSERT INTO rows_before_the_journal VALUES (1), (2), (3)")
        server.stop("immediate")
        conn.close()
        server.start_again()
        with psycopg.connect(url, autocommit=True) as again:
            count = again.execute("SELECT count(*) FROM rows_before_the_journal").fetchone()
        assert count == (3,)
