"""`prepare.first_complete_uses`: which earlier ingest of this card with this very map file
sets the time after which a photo is new to the map (`planner._taken_after_reason`), and
`MapUse.cutoff`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from cardingest.models import IdMap, MapUse
from cardingest.prepare import card_history, first_complete_uses, first_map_use

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


@pytest.fixture
def auckland(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_first_finished_run_of_the_map_is_taken_on_this_workstations_clock(
    auckland: None, tmp_path: Path
) -> None:
    """Not the last: a run that held a new photo started after it was taken, and would let
    the next run file it."""
    runs = [
        ingest("monday", "2026-11-29T21:00:00+00:00"),
        ingest("tuesday", "2026-11-30T03:00:00+00:00"),
    ]
    assert first_complete_uses(runs, MAP) == runs[:1]
    same_second = ingest("again", "2026-11-29T21:00:00+00:00")
    assert first_complete_uses([*runs, same_second], MAP) == [runs[0], same_second]
    no_catalogue = tmp_path / "archive"
    assert first_map_use(no_catalogue, runs, [], MAP) == MapUse(
        "monday", datetime(2026, 11, 30, 10, 0)
    )
    assert first_map_use(no_catalogue, [], runs, MAP) == MapUse(
        "monday", datetime(2026, 11, 30, 10, 0), elsewhere="another card"
    )


def test_the_cutoff_is_the_newest_photo_filed_else_the_start() -> None:
    """The camera's own clock where the map filed a photo with it, whether it runs behind the
    workstation's (a new photo dated before the ingest started) or ahead (a photo held by
    that ingest, dated after it started, is not new); the start where it filed none."""
    started = datetime(2026, 11, 30, 16, 0)
    assert MapUse("x", started).cutoff == started
    for newest in (datetime(2026, 11, 30, 14, 59), datetime(2026, 11, 30, 17, 0)):
        assert MapUse("x", started, newest).cutoff == newest


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
    assert first_complete_uses([stopped, later], MAP) == [later]
    assert first_complete_uses([stopped], MAP) == []


def test_another_map_id_or_slates_set_no_time() -> None:
    other = ingest("x", "2026-11-30T03:00:00+00:00", map_source="map sha256:" + "cd" * 32)
    assert first_complete_uses([other], MAP) == []
    by_id = IdMap(rows=(), source="--id")
    by_id_run = ingest("x", "2026-11-30T03:00:00+00:00", map_source="--id")
    assert first_complete_uses([by_id_run], by_id) == []
    assert first_complete_uses([ingest("x", "not a time")], MAP) == []


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
