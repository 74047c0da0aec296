"""A mutation round on `prepare` (docs/testing.md, "A mutation round on prepare.py"): each
test here failed on a mutant the other tests let through."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from badinput_helpers import cardingest
from cardimage import CardFactory, require
from clinic_helpers import cli
from exif_bytes import exif_jpeg, timed_card
from test_id_after_map import another_patients_map_ingested
from test_map_use import MAP
from test_map_use import ingest as _ingest

from cardingest.errors import EXIT_HELD, EXIT_OK, EXIT_USAGE
from cardingest.models import MapUse
from cardingest.prepare import first_map_use, with_card_newest


def _details(run: Any) -> list[str]:
    return list(run.json()["error"]["details"])


def _archived_said(details: list[str]) -> list[str]:
    return [d for d in details if re.match(r"line \d+: the archive holds ", d)]


def test_a_row_whose_photos_another_card_gave_is_not_said_to_be_wiped(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    """`archived_already`: card B's map names IMG_0001, which card A (another volume serial)
    gave JBX3656. The row is wrong for card B, and the error does not say its photos were
    archived and wiped from this card: they never were on it."""
    home, archive = tmp_path / "home", tmp_path / "archive"
    name = "DCIM/100CANON/IMG_{:04d}.JPG"
    first = fat_card({name.format(1): exif_jpeg("2024:05:01 10:00:01")}, serial="1111-1111")
    second = fat_card({name.format(2): exif_jpeg("2024:05:01 11:00:01")}, serial="2222-2222")
    idmap = tmp_path / "map.csv"
    idmap.write_text("files,id\nIMG_0001,JBX3656\n", encoding="utf-8")
    done = cardingest("ingest", first, "--map", idmap, "--archive", archive, home=home)
    assert done.code == EXIT_OK, done.stderr
    with closing(sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite")) as conn:
        assert conn.execute("SELECT card_serial FROM files").fetchall() == [("1111-1111",)]
    idmap.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002,ACA31FM\n", encoding="utf-8")
    for serial, card in (("2222-2222", second), ("1111-1111", first)):
        if serial == "1111-1111":  # the same row on card A, its photo gone: said
            (first / name.format(1)).unlink()
        run = cardingest("preview", card, "--map", idmap, "--archive", archive, "--json", home=home)
        assert run.code == EXIT_USAGE, run.stderr
        details = _details(run)
        assert "line 2: files 'IMG_0001' matches no file on the card" in details
        assert len(_archived_said(details)) == (serial == "1111-1111"), details


def test_another_map_for_a_card_whose_rows_were_wiped_is_refused_with_the_latest_date(
    tmp_path: Path,
) -> None:
    """`rows_finished` takes a row as done only for an ingest of this card with this very
    map: another map (a row added) whose row names photos archived and wiped is still wrong
    for the card, exit 2, nothing copied. `archived_already` says the latest date the row's
    photos were archived."""
    home, archive = tmp_path / "home", tmp_path / "archive"
    card = tmp_path / "card"
    folder = timed_card(card, count=3)
    idmap = tmp_path / "map.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0002,JBX3656\n", encoding="utf-8")
    argv = ("--map", idmap, "--archive", archive, "--json")
    wiped = cardingest("ingest", card, *argv, "--wipe", "--yes", home=home)
    assert wiped.code == EXIT_HELD, wiped.stderr  # IMG_0003: no row
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0003.JPG"]
    with closing(sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite")) as conn, conn:
        [(today,)] = conn.execute("SELECT DISTINCT substr(archived_at, 1, 10) FROM files")
        conn.execute(
            "UPDATE files SET archived_at = '2020-01-02T03:04:05+00:00' WHERE archive_path = "
            "(SELECT min(archive_path) FROM files)"
        )
    idmap.write_text("files,id\nIMG_0001-IMG_0002,JBX3656\nIMG_0003,MCJ1984\n", encoding="utf-8")
    for command in ("preview", "ingest"):
        run = cardingest(command, card, *argv, home=home)
        assert run.code == EXIT_USAGE, run.stderr
        assert _archived_said(_details(run)) == [
            "line 2: the archive holds 2 photo(s) of JBX3656 from IMG_0001-IMG_0002 (archived "
            f"{today}): most likely they were wiped from the card after that ingest"
        ]
    assert not (archive / "MCJ1984").exists()
    assert (folder / "IMG_0003.JPG").exists()


def _used_map_cards(tmp_path: Path, *names: str) -> list[Path]:
    """Plain folder cards (three photos each, the same times) under ``tmp_path``."""
    cards = []
    for name in names:
        timed_card(tmp_path / name, count=3)
        cards.append(tmp_path / name)
    return cards


def _warnings_of(*args: str | Path) -> tuple[dict, list[str]]:
    result = cli(*args, "--json")
    assert result.exit_code in (EXIT_OK, EXIT_HELD), result.output
    document = json.loads(result.stdout)
    return document, list(document["warnings"])


def test_a_map_used_for_two_other_cards_names_the_latest_use(tmp_path: Path) -> None:
    """`map_used_before`: the map went with Monday's card and Tuesday's; on Wednesday's the
    warning names Tuesday's ingest, the last use, as "used before" says."""
    monday, tuesday, wednesday = _used_map_cards(tmp_path, "mon", "tue", "wed")
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0003,JBX3656\n", encoding="utf-8")
    archive = ("--map", idmap, "--archive", tmp_path / "a")
    first, _ = _warnings_of("ingest", monday, *archive)
    time.sleep(1.1)  # ingests started in one second are in no known order
    second, _ = _warnings_of("ingest", tuesday, *archive)
    _, said = _warnings_of("preview", wednesday, *archive)
    [used] = [w for w in said if "was used before" in w]
    assert f"for ingest {second['ingest_id']} of " in used, (first["ingest_id"], used)


def test_a_row_of_two_names_one_of_them_in_yesterdays_map_is_named(tmp_path: Path) -> None:
    """`map_used_before`: a row is named when any of its names was in a map used for
    another card (a name added to yesterday's row), not only when all were."""
    yesterday, today = _used_map_cards(tmp_path, "yesterday", "today")
    old = tmp_path / "old.csv"
    old.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0003,MCJ1984\n", encoding="utf-8")
    _warnings_of("ingest", yesterday, "--map", old, "--archive", tmp_path / "a")
    new = tmp_path / "new.csv"
    new.write_text("files,id\nIMG_0003,MCJ1984\nIMG_0001 IMG_0002,JBX3656\n", encoding="utf-8")
    _, said = _warnings_of("preview", today, "--map", new, "--archive", tmp_path / "a")
    [rows] = [w for w in said if "were in the map of" in w]
    assert rows.startswith(f"line(s) 3 of this ID map ({new}) were in the map of ingest "), rows


def test_a_one_row_map_after_another_patients_ingest_is_not_warned_as_id(
    tmp_path: Path,
) -> None:
    """`left_by_another_patients_ingest` warns of `--id`, which files every photo of the
    card under one patient: a map of one row names the photos it gives, and is not warned
    as `--id` is."""
    card, archive, idmap = another_patients_map_ingested(tmp_path)
    idmap.write_text("files,id\nIMG_0003-IMG_0004,JBX3656\n")
    result = cli("preview", card, "--map", idmap, "--archive", archive, "--json")
    assert result.exit_code == EXIT_OK, result.output
    said = json.loads(result.stdout)["warnings"]
    assert not [w for w in said if "were on the card when ingest" in w], said


def test_a_use_dated_only_by_a_later_stopped_run_still_counts() -> None:
    """`first_map_use`: the first run of the map on this card recorded no newest photo
    (before 2026-12) and neither run finished: the later run's record of the newest photo
    on the card dates the map's use, where nothing did."""
    old = _ingest("monday", "2026-11-29T21:00:00+00:00", status="interrupted")
    dated = f"{MAP.recorded} card newest:2026-11-30T09:00:00"
    later = _ingest("tuesday", "2026-11-30T21:00:00+00:00", status="stopped", map_source=dated)
    use = first_map_use(Path("/nonexistent"), [old, later], [], MAP)
    assert use is not None and (use.ingest_id, use.newest) == (
        "tuesday",
        datetime(2026, 11, 30, 9, 0),
    )


def test_another_cards_use_with_a_start_edited_by_hand_is_passed_over() -> None:
    """`first_map_use`: of the other cards' uses, one whose start is no time (a catalogue
    edited by hand) is passed over, and the next one counts."""
    edited = _ingest("sunday", "not a time")
    good = _ingest("monday", "2026-11-29T21:00:00+00:00")
    use = first_map_use(Path("/nonexistent"), [], [edited, good], MAP)
    assert isinstance(use, MapUse) and use.ingest_id == "monday", use


def test_the_newest_photo_taken_since_now_within_a_day_is_the_cards_newest() -> None:
    """`with_card_newest`: a photo dated after ``now`` by less than a day (a camera clock a
    few hours ahead, a time zone) still counts as the newest on the card."""
    from factories import media

    from cardingest.models import Plan, PlanItem, recorded_card_newest

    now = datetime(2026, 12, 1, 12, 0)
    photos = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-12-01 09:30:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-12-01 20:00:00"),
    ]
    items = tuple(PlanItem(photo, "copy", photo.captured, photo) for photo in photos)
    recorded = with_card_newest(MAP, Plan(source="card", archive="a", items=items), now).recorded
    assert recorded_card_newest(recorded) == datetime(2026, 12, 1, 20, 0)


def test_the_first_complete_use_of_a_map_recorded_before_its_newest_is_dated_by_its_photos(
    tmp_path: Path,
) -> None:
    """`first_map_use`: a use recorded before the newest photo on the card was (no
    ``card newest``) is dated by the newest photo the runs up to and with the first complete
    one filed: that run's own photos count."""
    from cardingest.plan.idmap import parse_map
    from cardingest.prepare import _earlier_ingests

    card, archive = tmp_path / "card", tmp_path / "archive"
    timed_card(card, count=3)
    path = tmp_path / "map.csv"
    path.write_text("files,id\nIMG_0001-IMG_0003,JBX3656\n", encoding="utf-8")
    assert cli("ingest", card, "--map", path, "--archive", archive).exit_code == EXIT_OK
    [run] = _earlier_ingests(archive)
    content_only = str(run["map_source"]).split(" card newest:")[0]
    old = {**run, "map_source": content_only}  # as a run before 2026-12 recorded it
    use = first_map_use(archive, [old], [], parse_map(path))
    assert use is not None and (use.ingest_id, use.newest) == (
        run["ingest_id"],
        datetime(2024, 5, 1, 10, 0, 3),
    )


SECOND = "ZAC5361/ZAC5361-20261124-091502-2.jpg"


def test_a_photo_an_interrupted_move_renamed_is_not_put_back_under_its_old_name(
    tmp_path: Path, monkeypatch: Any, test_ids: Path
) -> None:
    """`copies_gone`: on a file system without hard links a move renames each photo to its
    new name before it refiles the rows; stopped between the two, the catalogue names the
    old name, which is not there. An ingest of the card then is no repair: the photo is
    the move's, which the next `move` or `tag` finishes, and nothing is put back under the
    patient it leaves."""
    import errno

    from clinic_helpers import ingest_demo, invoke

    from cardingest import move as moving

    card, archive, _ = ingest_demo(tmp_path)

    def renamed_then_killed(old: Path, new: Path) -> None:
        new.parent.mkdir(parents=True, exist_ok=True)
        os.rename(old, new)
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_link", renamed_then_killed)
        patched.setattr(moving, "_undone", lambda *_args, **_kwargs: False)
        code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    assert code == 1 and not (archive / SECOND).exists(), err
    for command in ("preview", "ingest"):
        code, out, err = invoke(command, card, "--id", "ZAC5361", "--archive", archive, "--json")
        [item] = [i for i in json.loads(out)["items"] if i["source"].endswith("IMG_0002.JPG")]
        assert (item["action"], item["target"]) == ("skip", SECOND), item
    assert not (archive / SECOND).exists()
    assert invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)[0] == EXIT_OK
    assert invoke("verify", "--archive", archive)[0] == EXIT_OK


def test_a_repair_whose_backup_copy_was_changed_names_no_stray(tmp_path: Path) -> None:
    """`strays_in_the_way` passes over repairs: an archive copy gone and its backup copy
    changed since (other bytes, the same name): the repair puts the copy back, and the
    catalogued backup copy is no stray holding its name."""
    card, archive, backup = tmp_path / "card", tmp_path / "archive", tmp_path / "backup"
    timed_card(card, count=2)
    argv = ("--id", "JBX3656", "--archive", archive, "--backup", backup, "--json")
    assert cli("ingest", card, *argv).exit_code == EXIT_OK
    name = "JBX3656/JBX3656-20240501-100001.jpg"
    (archive / name).unlink()
    changed = bytearray((backup / name).read_bytes())
    changed[-3] ^= 1
    (backup / name).write_bytes(bytes(changed))
    for command in ("preview", "ingest"):
        result = cli(command, card, *argv)
        document = json.loads(result.stdout)
        [item] = [i for i in document["items"] if i["source"].endswith("IMG_0001.JPG")]
        assert (item["action"], item["target"]) == ("copy", name), item
        assert not [w for w in document["warnings"] if "files its catalogue" in w]


def test_a_stray_whose_first_mebibyte_is_the_photos_is_still_a_stray(tmp_path: Path) -> None:
    """`_same_bytes` reads the whole file: a file at the planned name of the photo's size
    whose first MiB is the photo's and the rest not is a stray, and the preview takes the
    next free name, as the copy does."""
    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=1)
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    big = exif_jpeg("2024:05:01 10:00:05") + bytes(range(256)) * 8192  # over 2 MiB
    (folder / "IMG_0002.JPG").write_bytes(big)
    stray = archive / "JBX3656" / "JBX3656-20240501-100005.jpg"
    stray.write_bytes(big[:-1] + bytes([big[-1] ^ 1]))
    targets = []
    for command in ("preview", "ingest"):
        result = cli(command, card, "--id", "JBX3656", "--archive", archive, "--json")
        document = json.loads(result.stdout)
        [item] = [i for i in document["items"] if i["source"].endswith("IMG_0002.JPG")]
        targets.append(item["target"])
        assert [w for w in document["warnings"] if f"(such as {stray})" in w], document
    assert targets == ["JBX3656/JBX3656-20240501-100005-2.jpg"] * 2
    assert (archive / targets[0]).read_bytes() == big and stray.read_bytes() != big


def _open_warnings(card: Path, archive: Path) -> list[str]:
    result = cli("preview", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert result.exit_code == EXIT_OK, result.output
    return [" ".join(w.split()) for w in json.loads(result.stdout)["warnings"]]


def test_a_folder_others_can_change_is_said_before_one_they_can_read(tmp_path: Path) -> None:
    """`folders_open_to_others`: the archive readable by every account and the patient's
    folder writable by its group: the warning is of the folder others can change."""
    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=1)
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    (folder / "IMG_0002.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:05"))
    archive.chmod(0o755)
    (archive / "JBX3656").chmod(0o770)
    said = [w for w in _open_warnings(card, archive) if "other accounts" in w]
    assert said == [
        "1 folder(s) the photos are to be filed in can be changed by other accounts "
        f"({archive / 'JBX3656'} can be written by its group): they could remove, rename or "
        "replace the photos in them. Have the account that owns them run `cardingest verify "
        "--fix-permissions`, or give the archive a folder of its own"
    ], said


def test_folders_the_archive_group_reads_are_not_open_to_others(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """`_readers`: with ``archive_group`` set, the folders cardingest made for that group to
    read (2750) are no folders open to other accounts."""
    import grp

    from cardingest.storage import modes

    group = grp.getgrgid(os.getegid()).gr_name
    config = tmp_path / "config.toml"
    config.write_text(f'archive_group = "{group}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=1)
    try:
        assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
        assert archive.stat().st_mode & 0o7777 == 0o2750
        (folder / "IMG_0002.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:05"))
        assert not [w for w in _open_warnings(card, archive) if "other accounts" in w]
    finally:
        modes.share_with_group(None)


def test_root_files_in_the_folder_of_the_account_that_made_the_archive_without_a_word(
    tmp_path: Path,
) -> None:
    """`in_others_folder` trusts, for root, the account that made the archive (as root's
    ingests there keep that account's ownership): its folder holding the archive is no
    other account's."""

    require(os.geteuid() == 0, "needs root: the test gives folders to another account")
    card, clinic = tmp_path / "card", tmp_path / "clinic"
    folder = timed_card(card, count=1)
    clinic.mkdir(mode=0o700)
    archive = clinic / "archive"
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    for current, dirs, files in os.walk(clinic):
        for name in [".", *dirs, *files]:
            os.lchown(Path(current, name), 65534, 65534)
    (folder / "IMG_0002.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:05"))
    said = _open_warnings(card, archive)
    assert not [w for w in said if "belongs to" in w], said


def test_a_backup_left_out_on_purpose_once_is_not_asked_for_again(tmp_path: Path) -> None:
    """`with_backup_check` asks after the last ingest that filed photos: one with a backup,
    then one without (warned), then the next without says nothing more."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    cards = []
    for n in range(3):
        cards.append(tmp_path / f"card{n}")
        folder = cards[-1] / "DCIM" / "100CANON"
        folder.mkdir(parents=True)
        (folder / "IMG_0001.JPG").write_bytes(exif_jpeg(f"2024:05:0{n + 1} 10:00:00"))
    argv = ("--id", "JBX3656", "--archive", archive, "--json")
    asked = "also copied to the backup"

    def warned(*args: str | Path) -> list[str]:
        result = cli(*args, *argv)
        assert result.exit_code == EXIT_OK, result.output
        assert json.loads(result.stdout)["summary"].get("copied", 1) == 1
        return [w for w in json.loads(result.stdout)["warnings"] if asked in w]

    assert warned("ingest", cards[0], "--backup", backup) == []
    time.sleep(1.1)  # ingests started in one second are in no known order
    assert len(warned("ingest", cards[1])) == 1
    assert warned("preview", cards[2]) == []
    assert warned("ingest", cards[2]) == []
