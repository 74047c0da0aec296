"""A card that is not wiped keeps the photos of earlier days. Today's map (from
`map-template`, where they are blank rows, or written by hand without them) gives them no
patient, and they were held "not in the ID map" or "left blank" every day (exit 3), so
`ingest --wipe` never cleared them. A photo an earlier ingest of this card archived (same
card path, size, capture time and bytes, under one patient) is now a `skip`; a photo that
differs in any of these is held as before."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from exif_bytes import exif_jpeg
from factories import media
from typer.testing import CliRunner

from cardingest.cli import app as cli_app
from cardingest.errors import EXIT_HELD, EXIT_OK
from cardingest.models import ArchivedFile, ArchiveState
from cardingest.plan.idmap import parse_map_text
from cardingest.plan.planner import ARCHIVED_EARLIER, make_plan

YESTERDAY = ["2026:03:16 09:00:00", "2026:03:16 09:00:10", "2026:03:16 09:01:00"]
TODAY = ["2026:03:17 10:00:00", "2026:03:17 10:00:10"]


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDINGEST_CONFIG", os.devnull)


def shoot(card: Path, times: list[str], first: int) -> None:
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True, exist_ok=True)
    for number, when in enumerate(times, start=first):
        (folder / f"IMG_{number:04d}.JPG").write_bytes(exif_jpeg(when, padding=64))


def run(*argv: str) -> tuple[int, dict]:
    ran = CliRunner().invoke(cli_app.app, [*argv, "--json"])
    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.output
    return ran.exit_code, json.loads(ran.stdout)


def yesterday_archived(tmp_path: Path) -> tuple[Path, Path]:
    card, archive = tmp_path / "card", tmp_path / "archive"
    shoot(card, YESTERDAY, 1)
    code, _ = run("ingest", str(card), "--id", "JBX3656", "--archive", str(archive))
    assert code == EXIT_OK
    shoot(card, TODAY, 4)
    return card, archive


@pytest.mark.parametrize(
    "rows",
    [
        "IMG_0004-IMG_0005,MCJ1984\n",  # written by hand, yesterday's photos left out
        "IMG_0001-IMG_0003,\nIMG_0004-IMG_0005,MCJ1984\n",  # map-template's blank row kept
    ],
    ids=["left-out", "blank-row"],
)
def test_photos_archived_from_this_card_before_are_skipped_and_wiped(
    tmp_path: Path, rows: str
) -> None:
    card, archive = yesterday_archived(tmp_path)
    id_map = tmp_path / "today.csv"
    id_map.write_text("files,id\n" + rows)
    argv = [str(card), "--map", str(id_map), "--archive", str(archive)]
    code, preview = run("preview", *argv)
    assert code == EXIT_OK, preview
    actions = {
        item["source"]: (item["action"], item["id"], item["reason"]) for item in preview["items"]
    }
    for number in (1, 2, 3):
        action, patient, reason = actions[f"DCIM/100CANON/IMG_000{number}.JPG"]
        assert (action, patient, reason) == ("skip", "JBX3656", ARCHIVED_EARLIER)
    assert actions["DCIM/100CANON/IMG_0004.JPG"][:2] == ("copy", "MCJ1984")

    code, done = run("ingest", *argv, "--wipe", "--yes")
    assert code == EXIT_OK, done
    assert list((card / "DCIM" / "100CANON").iterdir()) == []
    assert len(list((archive / "JBX3656").iterdir())) == 3
    assert len(list((archive / "MCJ1984").iterdir())) == 2


def test_a_photo_changed_since_or_from_another_card_stays_held(tmp_path: Path) -> None:
    """Other bytes of the same size, name and time (a rating saved in the camera) are not
    archived; nor is the same photo on another card (a copy of this one elsewhere): an
    earlier ingest of that card did not file it, so whose photo it is stays open."""
    card, archive = yesterday_archived(tmp_path)
    changed = card / "DCIM" / "100CANON" / "IMG_0002.JPG"
    data = bytearray(changed.read_bytes())
    data[10] ^= 0xFF  # inside the padding segment: the same size and capture time
    changed.write_bytes(bytes(data))
    id_map = tmp_path / "today.csv"
    id_map.write_text("files,id\nIMG_0004-IMG_0005,MCJ1984\n")
    code, preview = run("preview", str(card), "--map", str(id_map), "--archive", str(archive))
    assert code == EXIT_HELD
    actions = {item["source"]: (item["action"], item["reason"]) for item in preview["items"]}
    assert actions["DCIM/100CANON/IMG_0001.JPG"] == ("skip", ARCHIVED_EARLIER)
    assert actions["DCIM/100CANON/IMG_0002.JPG"] == ("hold", "not in the ID map")

    other = tmp_path / "copy-of-card"
    shutil.copytree(card, other)
    code, preview = run("preview", str(other), "--map", str(id_map), "--archive", str(archive))
    assert code == EXIT_HELD
    held = {item["source"] for item in preview["items"] if item["action"] == "hold"}
    assert {"DCIM/100CANON/IMG_0001.JPG", "DCIM/100CANON/IMG_0003.JPG"} <= held


def archived(path: str, patient: str, sha: str, *, name: str = "", problem: str | None = None):  # type: ignore[no-untyped-def]
    return ArchivedFile(
        patient,
        f"{patient}/{name or patient + '-20261124-091502.jpg'}",
        sha,
        1000,
        path,
        "2026-11-24T09:15:02",
        problem=problem,
    )


def test_the_planner_skips_a_shot_only_when_every_file_is_proven_under_one_patient() -> None:
    jpeg, raw = "DCIM/100CANON/IMG_0001.JPG", "DCIM/100CANON/IMG_0001.CR2"
    files = [replace(media(jpeg), sha256="a" * 64), replace(media(raw), sha256="b" * 64)]
    none = parse_map_text("files,id\nIMG_0002,MCJ1984\n")
    files.append(media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 10:00:00"))

    def actions(*same_names: ArchivedFile) -> set[tuple[str, str]]:
        plan = make_plan(files, none, state=ArchiveState(same_names=same_names))
        return {(i.action, i.reason or "") for i in plan.items if i.source in (jpeg, raw)}

    both = (archived(jpeg, "JBX3656", "a" * 64), archived(raw, "JBX3656", "b" * 64, name="x.cr2"))
    assert actions(*both) == {("skip", ARCHIVED_EARLIER)}
    held = {("hold", "not in the ID map")}
    assert actions(both[0]) == held  # the RAW is not archived: the shot is held whole
    assert actions(both[0], replace(both[1], patient_id="ACA31FM")) == held  # two patients
    assert actions(both[0], replace(both[1], sha256="c" * 64)) == held  # other bytes
    assert actions(both[0], replace(both[1], captured_raw="2026-11-24T09:15:03")) == held
    missing = replace(both[1], problem="archive copy x.cr2 is missing")
    assert actions(both[0], missing) == {
        ("skip", ARCHIVED_EARLIER),
        ("copy", "repairs it: archive copy x.cr2 is missing"),
    }
    unhashed = [replace(f, sha256=None) if f.path == raw else f for f in files]
    plan = make_plan(unhashed, none, state=ArchiveState(same_names=both))
    assert {i.action for i in plan.items if i.source in (jpeg, raw)} == {"hold"}


def test_a_missing_copy_or_backup_copy_is_made_before_the_wipe(tmp_path: Path) -> None:
    """An archive copy deleted since, or ``--backup`` asked for today and not by the earlier
    ingest: the photo is copied again (a repair), so ``ingest --backup --wipe`` clears the
    card with both copies there, as for a photo its row gives."""
    card, archive = yesterday_archived(tmp_path)
    (archive / "JBX3656" / "JBX3656-20260316-090010.jpg").unlink()
    id_map = tmp_path / "today.csv"
    id_map.write_text("files,id\nIMG_0004-IMG_0005,MCJ1984\n")
    backup = tmp_path / "backup"
    backup.mkdir()
    argv = [str(card), "--map", str(id_map), "--archive", str(archive), "--backup", str(backup)]
    code, done = run("ingest", *argv, "--wipe", "--yes")
    assert code == EXIT_OK, done
    assert list((card / "DCIM" / "100CANON").iterdir()) == []
    for root in (archive, backup):
        assert len(list((root / "JBX3656").iterdir())) == 3, root
    actions = {i["source"]: i["action"] for i in done["items"]}
    assert set(actions.values()) == {"copy"}  # three repairs, two new photos


def test_a_blank_answer_at_the_prompt_leaves_an_archived_photo_on_the_card() -> None:
    """The prompt says "blank: leave on the card"; under --wipe an archived photo answered
    blank was removed. A blank answer holds it, as it says; a map's blank row does not."""
    from cardingest.plan.assign import build_idmap, make_groups

    jpeg = "DCIM/100CANON/IMG_0001.JPG"
    files = [
        replace(media(jpeg), sha256="a" * 64),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 10:00:00"),
    ]
    same = ArchiveState(same_names=(archived(jpeg, "JBX3656", "a" * 64),))
    asked, _ = build_idmap(make_groups(files, timedelta(minutes=5)), [None, "MCJ1984"])
    items = {i.source: i for i in make_plan(files, asked, state=same).items}
    assert (items[jpeg].action, items[jpeg].reason) == ("hold", "left blank (group 1)")
    mapped = parse_map_text("files,id\nIMG_0001,\nIMG_0002,MCJ1984\n")
    items = {i.source: i for i in make_plan(files, mapped, state=same).items}
    assert (items[jpeg].action, items[jpeg].reason) == ("skip", ARCHIVED_EARLIER)


def test_an_all_blank_map_on_a_card_of_archived_photos_points_to_wipe(tmp_path: Path) -> None:
    """`map-template` of a card holding only archived photos, saved as it is: a map with no
    ID is refused (exit 2), and said "a row left blank leaves its photos on the card" only;
    `cardingest wipe` is what clears such a card."""
    card, archive = tmp_path / "card", tmp_path / "archive"
    shoot(card, YESTERDAY, 1)
    code, _ = run("ingest", str(card), "--id", "JBX3656", "--archive", str(archive))
    assert code == EXIT_OK
    id_map = tmp_path / "blank.csv"
    id_map.write_text("files,id\nIMG_0001-IMG_0003,\n")
    ran = CliRunner().invoke(
        cli_app.app, ["ingest", str(card), "--map", str(id_map), "--archive", str(archive)]
    )
    assert ran.exit_code == 2
    assert "cardingest wipe clears it" in " ".join(ran.stderr.split())
