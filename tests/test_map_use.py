"""`prepare.first_complete_uses`: which earlier ingest of this card with this very map file
sets the time after which a photo is new to the map (`planner._taken_after_reason`), and
`planner._new_to_map`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cardingest.models import IdMap, MapUse, recorded_rows
from cardingest.prepare import (
    card_history,
    first_complete_uses,
    first_map_use,
    first_row_uses,
)

MAP = IdMap(rows=(), source="m.csv", recorded="map sha256:" + "ab" * 32)


def ingest(ingest_id: str, started: str, **changes: object) -> dict:
    return {
        "ingest_id": ingest_id,
        "started": started,
        "map_source": MAP.recorded,
        "status": "finished",
        "counts": {"copied": 2, "skipped": 0, "held": 0, "failed": 0},
        "card_serial": None,
        "card_label": None,
        "source": "folder sha256:0123",
        **changes,
    }


def test_the_first_finished_run_of_the_map_is_taken_on_this_workstations_clock(
    auckland: None, tmp_path: Path
) -> None:
    """Not the last: a run that held a new photo started after it was taken, and would let
    the next run file it."""
    runs = [
        ingest("monday", "2026-11-29T21:00:00+00:00"),
        ingest("tuesday", "2026-11-30T03:00:00+00:00"),
    ]
    assert first_complete_uses(runs) == runs[:1]
    same_second = ingest("again", "2026-11-29T21:00:00+00:00")
    assert first_complete_uses([*runs, same_second]) == [runs[0], same_second]
    no_catalogue = tmp_path / "archive"
    assert first_map_use(no_catalogue, runs, [], MAP) == MapUse(
        "monday", datetime(2026, 11, 30, 10, 0)
    )
    assert first_map_use(no_catalogue, [], runs, MAP) == MapUse(
        "monday", datetime(2026, 11, 30, 10, 0), elsewhere="another card"
    )


def test_a_photo_is_new_after_the_newest_on_the_card_by_the_camera_else_after_the_start() -> None:
    """`planner._new_to_map`: the camera's own time against the newest photo on the card at
    the first use, whether the camera's clock runs behind the workstation's or ahead, and
    whatever clock offset either run gave; the time the offset sets right against the start
    of a use with no such photo (another card's)."""
    from factories import media

    from cardingest.plan.planner import _new_to_map

    photo = media("DCIM/100CANON/IMG_0001.JPG", "2026-11-30 15:00:00")
    started = datetime(2026, 11, 30, 16, 0)
    two_hours = photo.captured + timedelta(hours=2)
    assert not _new_to_map(photo, photo.captured, MapUse("x", started))
    assert _new_to_map(photo, two_hours, MapUse("x", started))
    for when in (photo.captured, two_hours):
        assert _new_to_map(photo, when, MapUse("x", started, datetime(2026, 11, 30, 14, 59)))
        assert not _new_to_map(photo, when, MapUse("x", started, datetime(2026, 11, 30, 15, 0)))
    never = media("DCIM/100CANON/IMG_0002.JPG", "2000-01-01 00:00:00")
    assert _new_to_map(never, never.captured, MapUse("x", started, datetime(2030, 1, 1)))


def test_a_photo_numbered_after_the_last_on_the_card_is_new_whatever_its_time() -> None:
    """`planner._new_to_map`: a photo the camera numbered after the last-numbered one on the
    card at the first use (`MapUse.last`: DCF folder, then file number) is new, though dated
    before the newest then (a clock set back since); one numbered up to it, or named as no
    camera numbers, is judged by its time alone."""
    from factories import media

    from cardingest.plan.planner import _new_to_map
    from cardingest.plan.shots import dcf_position

    use = MapUse("x", datetime(2026, 11, 30, 16, 0), datetime(2026, 11, 30, 15, 0), last=(100, 3))
    for path, new in (
        ("DCIM/100CANON/IMG_0003.JPG", False),
        ("DCIM/100CANON/IMG_0004.JPG", True),
        ("DCIM/100canon/img_0004.cr2", True),
        ("DCIM/100CANON/IMG_0002.JPG", False),
        ("DCIM/101CANON/IMG_0001.JPG", True),
        ("DCIM/099CANON/IMG_0009.JPG", False),  # no DCF folder starts at 0
        ("DCIM/Camera/IMG_0009.JPG", False),
        ("IMG_0009.JPG", False),
        ("DCIM/100CANON/IMG_12345.JPG", False),
        ("DCIM/100CANON/IMG_００09.JPG", False),
    ):
        photo = media(path, "2026-11-30 09:30:00")
        assert _new_to_map(photo, photo.captured, use) is new, path
        assert not _new_to_map(photo, photo.captured, replace(use, last=None)), path
    assert dcf_position("DCIM/101_PANA/P1010042.JPG") == (101, 42)


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "interrupted"},
        {"status": "crashed", "counts": {}},
        {"status": "stopped"},
        {"status": "running", "counts": None},
        {"counts": {"copied": 1, "failed": 1}},
    ],
    ids=["interrupted", "crashed", "stopped", "running", "failed"],
)
def test_a_run_that_did_not_copy_all_it_meant_to_is_passed_over(changes: dict) -> None:
    """Run again, it copies what was left, photos that were on the card with the map: the
    first complete run (if any) sets the time."""
    stopped = ingest("monday", "2026-11-29T21:00:00+00:00", **changes)
    later = ingest("tuesday", "2026-11-30T03:00:00+00:00")
    assert first_complete_uses([stopped, later]) == [later]
    assert first_complete_uses([stopped]) == []


def test_another_map_id_or_slates_set_no_time(tmp_path: Path) -> None:
    """`first_row_uses`: only ingests whose map gave the patient the name count; a run
    whose start is no time (edited by hand) is passed over, unless it recorded the card's
    newest photo, which still dates the map; a map given by --id or slates has no names to
    look up."""
    from cardingest.plan.idmap import name_digests, parse_map

    path = tmp_path / "m.csv"
    path.write_text("files,id\nIMG_0001-IMG_0009,JBX3656\n", encoding="utf-8")
    idmap = parse_map(path)
    [(_, digest)] = name_digests(idmap.rows[0])
    other = ingest("x", "2026-11-30T03:00:00+00:00", map_source="map sha256:" + "cd" * 32)
    assert first_row_uses(tmp_path, [other], [], idmap) == {}
    mine = ingest("y", "2026-11-30T03:00:00+00:00", map_source=idmap.recorded)
    assert first_row_uses(tmp_path, [other, mine], [], idmap)[digest].ingest_id == "y"
    assert (
        first_row_uses(tmp_path, [ingest("y", "not a time", map_source=idmap.recorded)], [], idmap)
        == {}
    )
    dated = f"{idmap.recorded} card newest:2026-11-30T09:00:00"
    edited = first_row_uses(tmp_path, [ingest("y", "not a time", map_source=dated)], [], idmap)
    assert edited[digest].newest == edited[digest].started == datetime(2026, 11, 30, 9, 0)
    by_id = IdMap(rows=(), source="--id")
    by_id_run = ingest("x", "2026-11-30T03:00:00+00:00", map_source="--id")
    assert first_row_uses(tmp_path, [by_id_run], [], by_id) == {}


def test_card_history_parts_this_cards_ingests_from_the_others(tmp_path: Path) -> None:
    from cardingest.archive.provenance import recorded_source

    here = recorded_source(str(tmp_path), None)
    mine = ingest("mine", "2026-11-30T03:00:00+00:00", source=here)
    other = ingest("other", "2026-11-30T04:00:00+00:00", source="folder sha256:ffff")
    assert card_history([mine, other], None, tmp_path) == ([mine], [other])


def test_a_map_is_the_same_by_its_content_or_by_its_rows(tmp_path: Path) -> None:
    """`IdMap.same_as`: a record names this map when its content or its rows' meaning is
    the same; one recorded before the rows were (content only) by its content alone."""
    from cardingest.plan.idmap import parse_map

    plain = tmp_path / "plain.csv"
    plain.write_text("files,id\nIMG_0001-IMG_0009,JBX3656\n", encoding="utf-8")
    resaved = tmp_path / "resaved.csv"
    resaved.write_bytes(b"\xef\xbb\xbfid,files,site\r\njbx3656,img_0001-img_0009,arm\r\n")
    other = tmp_path / "other.csv"
    other.write_text("files,id\nIMG_0001-IMG_0010,JBX3656\n", encoding="utf-8")
    first, again, changed = (parse_map(path) for path in (plain, resaved, other))
    content, rows = first.recorded.split(" rows ")
    assert rows.startswith("sha256:") and rows not in content
    assert content.startswith("map sha256:") and again.recorded.startswith("map sha256:")
    assert again.same_as(first.recorded) and first.same_as(again.recorded)
    assert first.same_as(content)  # recorded before the rows were
    assert not again.same_as(content)  # other bytes, and no rows to compare
    assert not changed.same_as(first.recorded) and not first.same_as(changed.recorded)
    assert not IdMap(rows=(), source="--id").same_as(first.recorded)
    assert not first.same_as("--id") and not first.same_as("")


def test_odd_rows_and_a_damaged_record_are_compared_without_an_error(tmp_path: Path) -> None:
    """A files cell of separators only (no names) beside a row of times for the same patient
    sorts like any other row; a map_source that is no text (a catalogue edited by hand) is
    another map."""
    from cardingest.plan.idmap import parse_map

    odd = tmp_path / "odd.csv"
    odd.write_text(
        "files,from,to,id\n;,,,JBX3656\n,2026-11-30 10:00,2026-11-30 10:05,JBX3656\n",
        encoding="utf-8",
    )
    parsed = parse_map(odd)
    assert " rows sha256:" in parsed.recorded and parsed.same_as(parsed.recorded)
    assert not parsed.same_as(b"\x00\xffmap")  # type: ignore[arg-type]
    assert not parsed.same_as(12)  # type: ignore[arg-type]


def test_a_name_is_known_in_another_map_that_gave_it_to_the_patient(tmp_path: Path) -> None:
    """Yesterday's map with a row added, or a name added to a row, still gives yesterday's
    names to their patients (whatever the column order, case, extensions or the order of
    names); the added ones are new. A row of times is never looked up, so it is not listed.
    `first_row_uses` gives each old name yesterday's use, not this very map's, and a record
    from before names were listed counts only as this very map."""
    from cardingest.plan.idmap import name_digests, parse_map

    yesterday = tmp_path / "yesterday.csv"
    yesterday.write_text("files,id\nIMG_0001-IMG_0009,JBX3656\n", encoding="utf-8")
    today = tmp_path / "today.csv"
    today.write_text(
        "id,files,from,to,site\njbx3656,img_0020 img_0001.jpg-img_0009.JPG,,,arm\n"
        "MCJ1984,IMG_0011;img_0010,,,\n"
        "EPT6335,,2026-11-30 10:00,2026-11-30 10:05,\n",
        encoding="utf-8",
    )
    old, new = parse_map(yesterday), parse_map(today)
    [(_, kept)] = name_digests(old.rows[0])
    (_, appended), (_, same) = name_digests(new.rows[0])
    (_, eleven), (_, ten) = name_digests(new.rows[1])
    assert same == kept and len({kept, appended, eleven, ten}) == 4
    assert name_digests(new.rows[2]) == ()
    folder = replace(new.rows[1], files="100CANON/IMG_0011 img_0010.jpg")
    assert [d for _, d in name_digests(folder)] != [eleven, ten]
    assert [d for _, d in name_digests(replace(new.rows[1], files="IMG_0011 IMG_0010"))] == [
        eleven,
        ten,
    ]
    assert name_digests(replace(new.rows[1], patient_id="JBX3656"))[0][1] != eleven
    assert recorded_rows(new.recorded) == {kept, appended, eleven, ten}
    assert not new.same_as(old.recorded)
    content_only = old.recorded.split(" rows ")[0]  # recorded before names were
    before = ingest("sunday", "2026-11-28T21:00:00+00:00", map_source=content_only)
    assert recorded_rows(content_only) == frozenset()
    assert first_row_uses(tmp_path, [], [before], new) == {}
    assert first_row_uses(tmp_path, [], [before], old)[kept].ingest_id == "sunday"
    assert recorded_rows(12) == frozenset() and recorded_rows("row sha256/64:xyz") == frozenset()
    used = ingest("monday", "2026-11-29T21:00:00+00:00", map_source=old.recorded)
    assert first_row_uses(tmp_path, [], [used], new) == {
        kept: MapUse(
            "monday",
            _local(datetime(2026, 11, 29, 21, 0)),
            elsewhere="another card",
            same_map=False,
        )
    }
    again = ingest("tuesday", "2026-11-30T21:00:00+00:00", map_source=new.recorded)
    uses = first_row_uses(tmp_path, [], [used, again], new)
    assert uses[kept].ingest_id == "monday" and not uses[kept].same_map
    assert uses[appended].ingest_id == "tuesday" and uses[appended].same_map
    assert uses[ten].ingest_id == "tuesday"


def _local(utc: datetime) -> datetime:

    return utc.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)


def test_the_newest_photo_on_the_card_is_recorded_with_a_map_file_only() -> None:
    """`with_card_newest`: the newest camera time (before the clock offset) of the plan's
    photos, held ones too, but not a clock never set, nor one more than a day ahead beside
    photos of plausible dates; `recorded_card_newest` reads it back, and reads a damaged
    record as none."""
    from factories import media

    from cardingest.models import Plan, PlanItem, recorded_card_last, recorded_card_newest
    from cardingest.prepare import with_card_newest

    now = datetime(2026, 12, 1, 12, 0)
    times = ["2026-11-30 09:00:00", "2026-12-01 09:30:00", "2000-01-01 00:00:00", "2031-01-01"]
    photos = [media(f"DCIM/100CANON/IMG_{n:04d}.JPG", when) for n, when in enumerate(times)]
    items = tuple(PlanItem(photo, "hold", photo.captured, photo) for photo in photos)
    plan = Plan(source="card", archive="a", items=items)
    recorded = with_card_newest(MAP, plan, now).recorded
    assert recorded == f"{MAP.recorded} card newest:2026-12-01T09:30:00 card last:100-0003"
    assert recorded_card_newest(recorded) == datetime(2026, 12, 1, 9, 30)
    assert recorded_card_last(recorded) == (100, 3)  # the clock never set counts here
    assert with_card_newest(MAP, replace(plan, items=items[2:3]), now) == MAP
    ahead = with_card_newest(MAP, replace(plan, items=items[2:]), now).recorded
    assert " card newest:2031-01-01T00:00:00 " in ahead  # a clock set ahead
    offset = replace(plan, items=items[:2], clock_offset=timedelta(hours=1))
    assert with_card_newest(MAP, offset, now).recorded.endswith(
        " newest:2026-12-01T08:30:00 card last:100-0001"
    )
    phone = media("DCIM/Camera/IMG_20261201_093000.jpg", "2026-12-01 09:30:00")
    alone = replace(plan, items=(PlanItem(phone, "hold", phone.captured, phone),))
    assert with_card_newest(MAP, alone, now).recorded.endswith(" newest:2026-12-01T09:30:00")
    by_id = IdMap(rows=(), source="--id")
    assert with_card_newest(by_id, plan, now) == by_id
    for damaged in (MAP.recorded, "card newest:2026-13-45T99:00:00", 12, None):
        assert recorded_card_newest(damaged) is None
        assert recorded_card_last(damaged) is None
