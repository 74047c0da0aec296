"""A shot two desks split (PostgreSQL, each claiming one of its files first): the ingest
names it, and `ingest --wipe` keeps the whole shot on the card for a person to sort out.

Which file each desk claims first depends on its workers' timing, so the race itself is not
replayed here; what follows from a split is checked on the outcomes it leaves."""

from __future__ import annotations

from dataclasses import replace

from factories import media

from cardingest.ingest import Outcome, split_shots
from cardingest.plan.idmap import single_id_map
from cardingest.plan.planner import make_plan
from cardingest.wipe import WipeItem, WipePlan, keep_held

JPEG, RAW = "DCIM/100CANON/IMG_0003.JPG", "DCIM/100CANON/IMG_0003.CR2"
OTHER = "DCIM/100CANON/IMG_0004.JPG"
BUSY = (
    "the same photo is being archived under patient GHK1003 (GHK1003/GHK1003-20260310-"
    "110003.cr2) by another ingest right now"
)


def test_a_shot_filed_in_part_is_named() -> None:
    files = [
        media(JPEG, "2026-03-10 11:00:03"),
        media(RAW, "2026-03-10 11:00:03"),
        media(OTHER, "2026-03-10 11:00:09"),
    ]
    plan = make_plan(files, single_id_map("ABC1006"))
    by_source = {item.source: item for item in plan.items}
    outcomes = [
        Outcome(by_source[JPEG], "copy", by_source[JPEG].target),
        Outcome(replace(by_source[RAW], action="hold"), "hold", None, reason=BUSY),
        Outcome(by_source[OTHER], "copy", by_source[OTHER].target),
    ]
    [said] = split_shots(outcomes)
    assert said.startswith(f"{JPEG}: the photos of this shot went apart: {JPEG} was filed as ")
    assert f"{RAW} held ({BUSY})" in said and "cardingest move" in said
    assert split_shots([outcomes[0], outcomes[2]]) == []


def test_ingest_wipe_keeps_the_whole_shot_of_a_held_file() -> None:
    plan = WipePlan(
        source="/media/CARD",
        archive="/srv/archive",
        card=None,
        items=tuple(WipeItem(path, "remove", "archived as …") for path in (JPEG, RAW, OTHER)),
    )
    kept = {item.source: item for item in keep_held(plan, {RAW: BUSY}).items}
    assert kept[RAW].action == kept[JPEG].action == "keep"
    assert kept[JPEG].reason == f"its shot's other file was held by the ingest: {BUSY}"
    assert kept[OTHER].action == "remove"


def test_a_held_file_the_wipe_keeps_anyway_is_kept_for_the_ingests_reason() -> None:
    """A photo the ingest held ("no slate before this photo"), whose card name an earlier
    card's photo was archived under: the wipe kept it for its own long reason about the
    camera's numbers starting again (an outside tester's trial), hiding why it was held."""
    own = "another photo (taken …) under a card name archived before (from this card or another)"
    plan = WipePlan(
        source="/media/CARD",
        archive="/srv/archive",
        card=None,
        items=(WipeItem(OTHER, "keep", own), WipeItem(JPEG, "keep", "cannot be read")),
    )
    kept = {
        item.source: item for item in keep_held(plan, {OTHER: "no slate before this photo"}).items
    }
    assert kept[OTHER] == WipeItem(OTHER, "keep", "held by the ingest: no slate before this photo")
    assert kept[JPEG].reason == "cannot be read"  # not held by the ingest: its own reason
