"""A value edited by hand in the catalogue (``sqlite3 catalogue.sqlite "UPDATE files SET …"``)
is an error that names the catalogue, the photo's row and the field (exit 1, nothing written),
never a traceback; ``verify`` lists each such record and checks the rest.

Archives are the demo card ingested by the real CLI; the catalogue is edited with sqlite3.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from clinic_helpers import demo_card, ingest_demo, invoke, tree
from test_move import snapshot

FIRST = "ZAC5361/ZAC5361-20261124-091502.jpg"
OTHER = "ZAA0067/ZAA0067-20261124-094107.jpg"


@pytest.fixture(autouse=True)
def demo_ids(test_ids: Path) -> Path:
    """The demo card's test-range NHIs are accepted (conftest's ``test_ids``)."""
    return test_ids


def edit(archive: Path, column: str, value: object, path: str = FIRST) -> int:
    """Set ``column`` of ``path``'s row by hand; returns the row's id."""
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        (rowid,) = conn.execute("SELECT id FROM files WHERE archive_path = ?", (path,)).fetchone()
        conn.execute(f"UPDATE files SET {column} = ? WHERE id = ?", (value, rowid))
    conn.close()
    return int(rowid)


DAMAGE = [
    ("captured_at", "garbage"),
    ("size", "abc"),
    ("sha256", "not a checksum"),
    ("archive_path", "/etc/passwd"),
    ("archive_path", "../x"),
    ("backup_path", "../backup/ZAC5361/ZAC5361-20261124-091502.jpg"),
    ("card_label", b"\xff"),  # a BLOB, where text belongs
    ("archive_path", "ZAC5361"),  # the patient's folder, not a photo in it
    ("archive_path", "ZAA0067/ZAC5361/ZAC5361-20261124-091502.jpg"),  # in another's folder
]
"""(column, value) edits every command below meets; `MORE` are met by `search` alone."""

MORE = [
    ("size", -1),
    ("size", 1.5),
    ("captured_raw", "2026-11-24 9am"),
    ("archive_path", ".cardingest/catalogue.sqlite"),
    ("archive_path", "ZAC5361//x.jpg"),
    ("backup_path", "relative/ZAC5361/ZAC5361-20261124-091502.jpg"),
    ("backup_path", "/nas/../ZAC5361/ZAC5361-20261124-091502.jpg"),
    ("role", "unknown"),
    ("source_path", b"IMG_0001.JPG"),
    ("subsec", b"5"),
    ("utc_offset", b"+13:00"),
    ("archive_path", "ZAA0067/ZAC5361-20261124-091502.jpg"),  # another patient's folder
    ("archive_path", "ZAA0067-ZAC5361/ZAC5361-20261124-091502.jpg"),
    ("archive_path", "ZAC5361ZAA0067/ZAC5361-20261124-091502.jpg"),  # run together
    ("archive_path", "ZAC5361/ZAA0067/ZAC5361-20261124-091502.jpg"),
    ("site", "left arm\x1b[31m"),  # an escape sequence: no map or tag lets one in
    ("consent", "record\n"),
]

COMMANDS = {
    "share": ["share", "ZAC5361", "--out", "{tmp}/referral"],
    "move": ["move", "--from", "ZAC5361", "--to", "ZAA0067"],
    "tag": ["tag", "ZAC5361", "--diagnosis", "melanoma"],
    "search": ["search", "--id", "ZAC5361"],
    "dicom": ["dicom", "export", "--out", "{tmp}/dicom"],
}


def cases() -> list[tuple[str, str, object]]:
    every = [(command, column, value) for command in COMMANDS for column, value in DAMAGE]
    return every + [("search", column, value) for column, value in MORE]


@pytest.mark.parametrize(("command", "column", "value"), cases(), ids=repr)
def test_a_value_edited_by_hand_is_a_clear_error_and_nothing_is_written(
    tmp_path: Path, command: str, column: str, value: object
) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    rowid = edit(archive, column, value)
    before = snapshot(archive)
    args = [arg.format(tmp=tmp_path) for arg in COMMANDS[command]]

    code, stdout, err = invoke(*args, "--archive", archive)

    said = " ".join(err.split())
    assert code == 1, (stdout, err)
    assert "Traceback" not in err
    catalogue = archive / ".cardingest" / "catalogue.sqlite"
    assert f"Catalogue {catalogue}" in said
    assert f"row {rowid}" in said and column in said, said
    assert snapshot(archive) == before
    assert not (archive / ".cardingest" / "move-journal.json").exists()
    assert not (tmp_path / "referral").exists() and not (tmp_path / "dicom").exists()


def test_a_diagnosis_keyword_edited_to_hold_a_control_character_is_invalid(
    tmp_path: Path,
) -> None:
    """A trial set one to ``x\\x1b[31m`` with sqlite3, and ``verify`` said nothing."""
    _card, archive, _ = ingest_demo(tmp_path)
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        (file_id,) = conn.execute(
            "SELECT file_id FROM keywords WHERE kind = 'diagnosis' LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE keywords SET value = ? WHERE file_id = ? AND kind = 'diagnosis'",
            ("x\x1b[31m", file_id),
        )
    conn.close()
    code, out, _ = invoke("verify", "--archive", archive, "--json")
    assert code == 1
    problems = json.loads(out)["problems"]
    [invalid] = [p for p in problems if p["kind"] == "invalid"]
    detail = invalid["detail"]
    assert f"row {file_id}" in detail and "diagnosis" in detail, invalid
    assert "control character ('\\x1b')" in detail, invalid


@pytest.mark.parametrize("value", ["../ZAA0067", "", "ZAC5361/..", b"ZAC5361", "zac5361"])
def test_a_patient_id_that_could_form_a_path_is_a_clear_error(
    tmp_path: Path, value: object
) -> None:
    """dicom export files each photo under OUT/ID: ``../ZAA0067`` would leave OUT. An ID in
    lower case would drop out of every look-up by ID (each upper-cases what it is given)."""
    _card, archive, _ = ingest_demo(tmp_path)
    rowid = edit(archive, "patient_id", value)
    for args in (["search"], ["dicom", "export", "--out", str(tmp_path / "dicom")]):
        code, _, err = invoke(*args, "--archive", archive)
        said = " ".join(err.split())
        assert code == 1 and f"row {rowid}" in said and "patient_id" in said, said
    assert not (tmp_path / "dicom").exists() and not (tmp_path / "ZAA0067").exists()


@pytest.mark.parametrize("value", ["/etc/passwd", "../x"])
def test_a_path_out_of_the_archive_leaves_no_move_journal_behind(
    tmp_path: Path, value: str
) -> None:
    """The tester's case: a move that died on such a row left a journal that blocked every
    later tag and move. Nothing is started now; the other patient's photos can be tagged and
    moved, and the row's own patient's once it is put back."""
    _card, archive, _ = ingest_demo(tmp_path)
    edit(archive, "archive_path", value)
    code, _, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive)
    assert code == 1 and "archive_path" in err
    assert invoke("tag", "ZAA0067", "--diagnosis", "psoriasis", "--archive", archive)[0] == 0
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        conn.execute("UPDATE files SET archive_path = ? WHERE archive_path = ?", (FIRST, value))
    conn.close()
    code, _, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err


def test_verify_lists_a_damaged_record_and_checks_the_rest(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    size_row = edit(archive, "size", "abc")
    path_row = edit(archive, "archive_path", "../x", path=OTHER)

    code, stdout, err = invoke("verify", "--archive", archive, "--json")

    assert code == 1, err
    document = json.loads(stdout)
    invalid = [p for p in document["problems"] if p["kind"] == "invalid"]
    assert [(p["path"], p["where"]) for p in invalid] == [
        ("../x", "catalogue"),
        (FIRST, "catalogue"),
    ]
    assert f"row {path_row}" in invalid[0]["detail"] and "archive_path" in invalid[0]["detail"]
    assert f"row {size_row}" in invalid[1]["detail"] and "size 'abc'" in invalid[1]["detail"]
    # The other records' copies are checked, and all match; the photo the "../x" row named
    # (and its keywords sidecar) is no catalogued file now, and the one with the damaged size
    # is not reported twice.
    others = {(p["kind"], p["path"]) for p in document["problems"] if p["kind"] != "invalid"}
    assert others == {("unexpected", OTHER), ("unexpected", OTHER.replace(".jpg", ".xmp"))}
    # ... and they are named as what they are, so that no one tidies the photo away.
    details = {p["path"]: p["detail"] for p in document["problems"] if p["kind"] != "invalid"}
    assert details[OTHER] == (
        f"the photo of catalogue row {path_row}, whose record is damaged (see invalid): put "
        "that record right; do not remove this file"
    )
    assert details[OTHER.replace(".jpg", ".xmp")] == f"the keywords sidecar of {details[OTHER]}"
    assert document["summary"]["invalid"] == 2
    assert document["summary"]["records"] == 5 and document["summary"]["ok"] == 3
    events = [json.loads(line) for line in (archive / ".cardingest" / "audit.jsonl").open()]
    assert events[-1]["event"] == "verify" and events[-1]["invalid"] == ["../x", FIRST]

    code, stdout, _ = invoke("verify", "--archive", archive, "--id", "ZAC5361", "--json")
    assert code == 1
    assert [p["path"] for p in json.loads(stdout)["problems"]] == [FIRST]
    code, stdout, _ = invoke("verify", "--archive", archive)
    assert code == 1 and "invalid" in stdout and "Traceback" not in stdout


def test_the_same_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """Rows are read into records in one place for both backends; PostgreSQL's typed columns
    still take a bad time or a path out of the archive."""
    import psycopg

    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    catalogue = ("--archive", archive, "--catalogue", pg_url)
    code, _, err = invoke("ingest", card, "--map", map_file, *catalogue)
    assert code == 3, err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        (schema,) = conn.execute("SELECT schema_name FROM cardingest.archives").fetchone()
        files = f'"{schema}".files'
        conn.execute(
            f"UPDATE {files} SET captured_at = 'garbage' WHERE archive_path = %s", (FIRST,)
        )
        conn.execute(f"UPDATE {files} SET archive_path = '../x' WHERE archive_path = %s", (OTHER,))
    for args in (
        ("share", "ZAC5361", "--out", tmp_path / "referral"),
        ("move", "--from", "ZAA0067", "--to", "ZAC5361"),
    ):
        code, _, err = invoke(*args, *catalogue)
        said = " ".join(err.split())
        assert code == 1 and "Traceback" not in err, err
        assert "captured_at 'garbage'" in said or "archive_path '../x'" in said, said
    assert not (tmp_path / "referral").exists()
    code, stdout, _ = invoke("verify", *catalogue, "--json")
    assert code == 1
    invalid = [p["path"] for p in json.loads(stdout)["problems"] if p["kind"] == "invalid"]
    assert invalid == ["../x", FIRST]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {files} SET patient_id = 'zaa0067' WHERE patient_id = 'ZAA0067'")
    code, _, err = invoke("search", "--id", "ZAA0067", *catalogue)
    assert code == 1 and "patient_id 'zaa0067'" in " ".join(err.split()), err


def test_a_sighting_edited_by_hand_is_named_as_one(tmp_path: Path) -> None:
    """The same bytes found again at another card path are a row of ``sightings``: the wipe
    gate and the planner read it, and it is named as that row, not as the photo's."""
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    assert invoke("ingest", card, "--map", map_file, "--archive", archive)[0] == 3
    folder = next((card / "DCIM").iterdir())
    (folder / "IMG_0007.JPG").write_bytes((folder / "IMG_0001.JPG").read_bytes())
    again = tmp_path / "again.csv"
    again.write_text("files,id\nIMG_0007,ZAC5361\n", encoding="utf-8")
    code, _, err = invoke("ingest", card, "--map", again, "--archive", archive)
    assert code == 3, err
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        (rowid,) = conn.execute("SELECT id FROM sightings").fetchone()
        conn.execute("UPDATE sightings SET source_path = x'ff'")
    conn.close()
    before = tree(card)
    for args in (
        ("wipe", card, "--yes"),
        ("preview", card, "--map", again),
    ):
        code, _, err = invoke(*args, "--archive", archive)
        said = " ".join(err.split())
        assert code == 1 and "Traceback" not in err, err
        assert f"a sighting on a card of {FIRST} (sightings row {rowid}) has source_path" in said
    assert tree(card) == before


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("ZAC5361", "is not a file in a folder of patient ZAC5361"),
        ("ZAA0067/ZAC5361/ZAC5361-20261124-091502.jpg", "named after another ID (ZAA0067)"),
        ("ZAA0067ZAC5361/ZAC5361-20261124-091502.jpg", "named after another ID (ZAA0067)"),
    ],
)
def test_a_path_edited_to_a_folder_or_into_another_patients_moves_and_wipes_nothing(
    tmp_path: Path, value: str, why: str
) -> None:
    """The testers' cases: ``archive_path`` set to ``ZAC5361`` (the next ingest of the card
    took the folder for a damaged copy and moved the patient's whole folder to
    ``.cardingest/damaged/``), or into ``ZAA0067/ZAC5361/`` (the ingest "repaired" the photo
    into the other patient's folder, and the wipe took it for archived). Now the record is
    refused by both and nothing is touched."""
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    code, _, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 3, err
    rowid = edit(archive, "archive_path", value)
    (archive / "ZAA0067" / "ZAC5361").mkdir()
    before, on_card = snapshot(archive), tree(card)

    for args in (("ingest", card, "--map", map_file), ("wipe", card, "--yes")):
        code, _, err = invoke(*args, "--archive", archive)
        said = " ".join(err.split())
        assert code == 1, err
        assert f"row {rowid}" in said and why in said, said
    assert snapshot(archive) == before and tree(card) == on_card
    assert not (archive / ".cardingest" / "damaged").exists()


def test_a_folder_at_a_photos_name_is_never_set_aside(tmp_path: Path) -> None:
    """A record that names a folder inside the patient's (``ZAC5361/2026``, as a
    ``{id}/{year}`` layout has): verify reports it changed, and no ingest moves the folder
    and what is in it to ``.cardingest/damaged/`` to put the photo back."""
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    assert invoke("ingest", card, "--map", map_file, "--archive", archive)[0] == 3
    inside = archive / "ZAC5361" / "2026" / "notes.txt"
    inside.parent.mkdir()
    inside.write_text("kept", encoding="utf-8")
    edit(archive, "archive_path", "ZAC5361/2026")

    code, stdout, _ = invoke("verify", "--archive", archive, "--json")
    assert code == 1
    problems = {(p["kind"], p["path"]): p["detail"] for p in json.loads(stdout)["problems"]}
    assert problems[("changed", "ZAC5361/2026")] == "not a regular file"
    code, _, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 3, err
    assert inside.read_text(encoding="utf-8") == "kept"
    assert not (archive / ".cardingest" / "damaged").exists()


def test_verify_of_one_patient_takes_no_folder_from_a_damaged_record(tmp_path: Path) -> None:
    """A record of ZAC5361's edited into ZAA0067's folder: ``verify --id ZAC5361`` lists it
    and names ZAC5361's photo as its own, and ZAA0067's catalogued photos are not strays."""
    _card, archive, _ = ingest_demo(tmp_path)
    rowid = edit(archive, "archive_path", "ZAA0067/ZAC5361-20261124-091502.jpg")

    code, stdout, _ = invoke("verify", "--archive", archive, "--id", "ZAC5361", "--json")

    assert code == 1
    problems = [(p["kind"], p["path"]) for p in json.loads(stdout)["problems"]]
    assert problems == [
        ("invalid", "ZAA0067/ZAC5361-20261124-091502.jpg"),
        ("unexpected", FIRST),
        ("unexpected", FIRST.replace(".jpg", ".xmp")),
    ]
    detail = json.loads(stdout)["problems"][1]["detail"]
    assert detail.startswith(f"the photo of catalogue row {rowid}, whose record is damaged")
    code, stdout, _ = invoke("verify", "--archive", archive, "--id", "ZAA0067", "--json")
    assert code == 0, stdout


@pytest.mark.parametrize(
    "args",
    [
        ["search", "--id", "ZAC5361"],
        ["tag", "ZAC5361", "--diagnosis", "melanoma"],
        ["move", "--from", "ZAC5361", "--to", "ZAA0067"],
        ["share", "ZAC5361", "--out", "{tmp}/referral"],
    ],
    ids=lambda args: args[0],
)
def test_an_id_edited_to_lower_case_stops_the_commands_of_that_patient(
    tmp_path: Path, args: list[str]
) -> None:
    """The tester's case: ``patient_id = 'zac5361'`` on one row. A look-up by ID (which
    upper-cases what it is given) passed that row by, and tagged, moved or shared the rest
    as if they were all the patient's photos."""
    _card, archive, _ = ingest_demo(tmp_path)
    rowid = edit(archive, "patient_id", "zac5361")
    before = snapshot(archive)

    code, _, err = invoke(*[a.format(tmp=tmp_path) for a in args], "--archive", archive)

    said = " ".join(err.split())
    assert code == 1, err
    assert f"row {rowid}" in said and "patient_id 'zac5361'" in said, said
    assert snapshot(archive) == before and not (tmp_path / "referral").exists()


def test_verify_of_one_patient_lists_a_row_of_theirs_in_lower_case(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    rowid = edit(archive, "patient_id", "zac5361")
    code, stdout, _ = invoke("verify", "--archive", archive, "--id", "ZAC5361", "--json")
    assert code == 1
    problems = json.loads(stdout)["problems"]
    assert [(p["kind"], p["path"]) for p in problems] == [("invalid", FIRST)]
    assert f"row {rowid}" in problems[0]["detail"]
