"""`prepare.last_map_use`: which earlier ingest of this card with this very map file sets
the time after which a photo is new to the map (`planner._taken_after_reason`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from cardingest.models import IdMap, MapUse
from cardingest.prepare import card_history, last_map_use

MAP = IdMap(rows=(), source="m.csv", recorded="map sha256:" + "ab" * 32)


def ingest(ingest_id: str, started: str, **changes: object) -> dict:
    return {
        "ingest_id": ingest_id,
        "started": started,
        "map_source": MAP.recorded,
        "status": "finished",
        "counts": {"copied": 2, "skipped": 0, "held": 0, "failed": 0},
        "card_serial": None,
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


def test_the_last_finished_run_of_the_map_is_taken_on_this_workstations_clock(
    auckland: None,
) -> None:
    runs = [
        ingest("monday", "2026-11-29T21:00:00+00:00"),
        ingest("tuesday", "2026-11-30T03:00:00+00:00"),
    ]
    assert last_map_use(runs, MAP) == MapUse("tuesday", datetime(2026, 11, 30, 16, 0))


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
def test_a_run_that_did_not_copy_all_it_meant_to_is_passed_over(
    auckland: None, changes: dict
) -> None:
    """Run again, it copies what was left, photos that were on the card with the map: the
    run before it (if any) sets the time."""
    earlier = ingest("monday", "2026-11-29T21:00:00+00:00")
    assert last_map_use(
        [earlier, ingest("tuesday", "2026-11-30T03:00:00+00:00", **changes)], MAP
    ) == (MapUse("monday", datetime(2026, 11, 30, 10, 0)))
    assert last_map_use([ingest("tuesday", "2026-11-30T03:00:00+00:00", **changes)], MAP) is None


def test_another_map_id_or_slates_set_no_time() -> None:
    other = ingest("x", "2026-11-30T03:00:00+00:00", map_source="map sha256:" + "cd" * 32)
    assert last_map_use([other], MAP) is None
    by_id = IdMap(rows=(), source="--id")
    assert (
        last_map_use([ingest("x", "2026-11-30T03:00:00+00:00", map_source="--id")], by_id) is None
    )
    assert last_map_use([ingest("x", "not a time")], MAP) is None


def test_card_history_parts_this_cards_ingests_from_the_others(tmp_path: Path) -> None:
    from cardingest.archive.provenance import recorded_source

    here = recorded_source(str(tmp_path), None)
    mine = ingest("mine", "2026-11-30T03:00:00+00:00", source=here)
    other = ingest("other", "2026-11-30T04:00:00+00:00", source="folder sha256:ffff")
    assert card_history([mine, other], None, tmp_path) == ([mine], [other])
