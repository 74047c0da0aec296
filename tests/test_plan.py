from __future__ import annotations

from datetime import timedelta

import pytest
from factories import media

from cardingest.errors import ConfigError, UsageError
from cardingest.models import ArchivedFile, ArchiveState
from cardingest.plan.idmap import parse_map_text, single_id_map
from cardingest.plan.naming import check_templates, parse_clock_offset
from cardingest.plan.planner import make_plan

ONE = single_id_map("JBX3656")


def targets(plan) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {item.source: item.target for item in plan.items}


def test_default_names() -> None:
    plan = make_plan([media("DCIM/100CANON/IMG_0001.JPEG", "2008-05-30 15:56:01")], ONE)
    (item,) = plan.items
    assert item.action == "copy"
    assert item.target == "JBX3656/JBX3656-20080530-155601.jpg"


def test_same_second_ordered_by_subsec_then_number() -> None:
    files = [
        media("DCIM/100CANON/IMG_0003.JPG", subsec="10"),
        media("DCIM/100CANON/IMG_0001.JPG", subsec="50"),
        media("DCIM/100CANON/IMG_0002.JPG", subsec="50"),
    ]
    names = targets(make_plan(files, ONE))
    assert names["DCIM/100CANON/IMG_0003.JPG"] == "JBX3656/JBX3656-20261124-091502.jpg"
    assert names["DCIM/100CANON/IMG_0001.JPG"] == "JBX3656/JBX3656-20261124-091502-2.jpg"
    assert names["DCIM/100CANON/IMG_0002.JPG"] == "JBX3656/JBX3656-20261124-091502-3.jpg"
    assert targets(make_plan(list(reversed(files)), ONE)) == names


def test_raw_jpeg_pair_and_sidecar_share_a_base_name() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.CR2"),
        media("DCIM/100CANON/IMG_0001.JPG"),
        media("DCIM/100CANON/IMG_0001.XMP", "2020-01-01 00:00:00", source="mtime"),
        media("DCIM/100CANON/IMG_0002.JPG"),
    ]
    names = targets(make_plan(files, ONE))
    base = "JBX3656/JBX3656-20261124-091502"
    assert names["DCIM/100CANON/IMG_0001.CR2"] == base + ".cr2"
    assert names["DCIM/100CANON/IMG_0001.JPG"] == base + ".jpg"
    assert names["DCIM/100CANON/IMG_0001.XMP"] == base + ".xmp"
    assert names["DCIM/100CANON/IMG_0002.JPG"] == base + "-2.jpg"


def test_holds_unmapped_empty_and_orphan_sidecars() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.JPG"),
        media("DCIM/100CANON/IMG_0002.JPG"),
        media("DCIM/100CANON/IMG_0003.JPG", size=0),
        media("DCIM/100CANON/IMG_0009.THM"),
    ]
    idmap = parse_map_text("files,id\nIMG_0001 IMG_0003,JBX3656\n")
    reasons = {item.source: (item.action, item.reason) for item in make_plan(files, idmap).items}
    assert reasons["DCIM/100CANON/IMG_0001.JPG"] == ("copy", None)
    assert reasons["DCIM/100CANON/IMG_0002.JPG"] == ("hold", "not in the ID map")
    assert reasons["DCIM/100CANON/IMG_0003.JPG"] == ("hold", "empty file (0 bytes)")
    assert reasons["DCIM/100CANON/IMG_0009.THM"] == ("hold", "sidecar without its photo")


def test_an_empty_file_no_row_covers_is_held_as_empty_not_as_unmapped() -> None:
    """A row for it would not get it archived: the reason says what would."""
    files = [media("DCIM/100CANON/IMG_0001.JPG"), media("DCIM/100CANON/IMG_0002.JPG", size=0)]
    idmap = parse_map_text("files,id\nIMG_0001,JBX3656\n")
    reasons = {item.source: (item.action, item.reason) for item in make_plan(files, idmap).items}
    assert reasons["DCIM/100CANON/IMG_0002.JPG"] == ("hold", "empty file (0 bytes)")


def test_already_archived_is_skipped_and_taken_names_move_on() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", size=10),
        media("DCIM/100CANON/IMG_0002.JPG", size=20),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 10:00:00", size=30),
    ]
    state = ArchiveState(
        archived=(
            ArchivedFile(
                "JBX3656",
                "JBX3656/JBX3656-20261124-091502.jpg",
                "a" * 64,
                10,
                "DCIM/100CANON/IMG_0001.JPG",
                "2026-11-24T09:15:02",
            ),
            ArchivedFile(
                "JBX3656",
                "JBX3656/JBX3656-20261124-100000.jpg",
                "b" * 64,
                99,
                "DCIM/999OTHER/IMG_0500.JPG",
                "2026-11-24T10:00:00",
            ),
        ),
        taken_paths=frozenset(
            {"JBX3656/JBX3656-20261124-091502.jpg", "JBX3656/JBX3656-20261124-100000.jpg"}
        ),
    )
    plan = make_plan(files, ONE, state=state)
    by_source = {item.source: item for item in plan.items}
    assert by_source["DCIM/100CANON/IMG_0001.JPG"].action == "skip"
    assert by_source["DCIM/100CANON/IMG_0002.JPG"].target == "JBX3656/JBX3656-20261124-091502-2.jpg"
    assert by_source["DCIM/100CANON/IMG_0003.JPG"].target == "JBX3656/JBX3656-20261124-100000-2.jpg"
    assert plan.counts == {"copy": 2, "skip": 1, "hold": 0}


def test_clock_offset_moves_names_and_keeps_raw_time() -> None:
    offset = parse_clock_offset("-01:00:30")
    (item,) = make_plan([media("DCIM/100CANON/IMG_0001.JPG")], ONE, clock_offset=offset).items
    assert item.target == "JBX3656/JBX3656-20261124-081432.jpg"
    assert item.captured_raw.isoformat() == "2026-11-24T09:15:02"
    assert parse_clock_offset("+13:00") == timedelta(hours=13)
    for bad in ("13:00x", "+1:75", "soon"):
        with pytest.raises(UsageError):
            parse_clock_offset(bad)


def test_templates() -> None:
    plan = make_plan(
        [media("DCIM/100CANON/IMG_0001.JPG")],
        ONE,
        folder_template="{id}/{year}",
        name_template="{date}_{time}_{id}",
    )
    assert plan.items[0].target == "JBX3656/2026/20261124_091502_JBX3656.jpg"
    for folder, name in (
        ("{year}", "{id}"),
        ("{id}", "{nope}"),
        ("../{id}", "{id}"),
        ("{id}", "a/{id}"),
    ):
        with pytest.raises(ConfigError):
            check_templates(folder, name)


def test_same_stem_and_extension_twice_never_hangs() -> None:
    files = [media("DCIM/100CANON/IMG_0001.JPG"), media("DCIM/100CANON/IMG_0001.JPEG")]
    names = targets(make_plan(files, ONE))
    assert sorted(names.values()) == [
        "JBX3656/JBX3656-20261124-091502-2.jpg",
        "JBX3656/JBX3656-20261124-091502.jpg",
    ]


def test_another_exposure_never_joins_an_archived_base_name() -> None:
    state = ArchiveState(
        archived=(
            ArchivedFile("JBX3656", "JBX3656/JBX3656-20261124-091502.jpg", "a" * 64, 10,
                         "DCIM/100CANON/IMG_0001.JPG", "2026-11-24T09:15:02"),
        ),
        taken_paths=frozenset({"JBX3656/JBX3656-20261124-091502.jpg"}),
    )  # fmt: skip
    plan = make_plan([media("DCIM/100CANON/IMG_0002.CR2")], ONE, state=state)
    assert plan.items[0].target == "JBX3656/JBX3656-20261124-091502-2.cr2"


def test_half_archived_shot_resumes_beside_its_twin() -> None:
    files = [media("DCIM/100CANON/IMG_0001.JPG", size=10), media("DCIM/100CANON/IMG_0001.CR2")]
    state = ArchiveState(
        archived=(
            ArchivedFile("JBX3656", "JBX3656/JBX3656-20261124-091502.jpg", "a" * 64, 10,
                         "DCIM/100CANON/IMG_0001.JPG", "2026-11-24T09:15:02"),
        ),
        taken_paths=frozenset({"JBX3656/JBX3656-20261124-091502.jpg"}),
    )  # fmt: skip
    names = targets(make_plan(files, ONE, state=state))
    assert names["DCIM/100CANON/IMG_0001.CR2"] == "JBX3656/JBX3656-20261124-091502.cr2"


def test_time_windows_use_the_corrected_clock() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2024-05-01 09:10:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2024-05-01 10:10:00"),
    ]
    idmap = parse_map_text(
        "from,to,id\n2024-05-01 10:00,2024-05-01 10:59,JBX3656\n"
        "2024-05-01 11:00,2024-05-01 11:59,MCJ1984\n"
    )
    plan = make_plan(files, idmap, clock_offset=parse_clock_offset("+01:00"))
    owners = {item.source: item.patient_id for item in plan.items}
    assert owners == {
        "DCIM/100CANON/IMG_0001.JPG": "JBX3656",
        "DCIM/100CANON/IMG_0002.JPG": "MCJ1984",
    }


def test_a_photo_whose_copy_is_damaged_is_copied_again_under_its_name() -> None:
    """verify or wipe noted the problem; the card still has the photo, so it is repaired."""
    files = [media("DCIM/100CANON/IMG_0001.JPG", size=10), media("DCIM/100CANON/IMG_0002.JPG")]
    state = ArchiveState(
        archived=(
            ArchivedFile("JBX3656", "JBX3656/JBX3656-20261124-091502.jpg", "a" * 64, 10,
                         "DCIM/100CANON/IMG_0001.JPG", "2026-11-24T09:15:02",
                         "archive copy JBX3656-20261124-091502.jpg no longer matches"),
        ),
        taken_paths=frozenset({"JBX3656/JBX3656-20261124-091502.jpg"}),
    )  # fmt: skip
    plan = make_plan(files, ONE, state=state)
    repaired, other = plan.items
    assert (repaired.action, repaired.repair) == ("copy", True)
    assert repaired.target == "JBX3656/JBX3656-20261124-091502.jpg"
    assert repaired.reason == f"repairs it: {state.archived[0].problem}"
    assert (other.action, other.repair, other.target) == (
        "copy", False, "JBX3656/JBX3656-20261124-091502-2.jpg"
    )  # fmt: skip
    assert plan.bytes_to_copy == repaired.size + other.size


def test_a_raw_and_a_jpeg_of_one_name_but_not_one_time_are_held() -> None:
    """A RAW copied in beside another photo's JPEG: one name, two shutter times. Taking the
    JPEG's time for the RAW (and its patient, by that time) would be a guess; a second apart
    is one shot, as cameras write them."""
    files = [
        media("DCIM/100CANON/IMG_9998.CR3", "2021-05-12 12:21:21"),
        media("DCIM/100CANON/IMG_9998.JPG", "2026-03-10 10:00:00"),
        media("DCIM/100CANON/IMG_9999.CR3", "2026-03-10 10:01:00"),
        media("DCIM/100CANON/IMG_9999.JPG", "2026-03-10 10:01:01"),
    ]
    items = {item.source: item for item in make_plan(files, ONE).items}
    reason = (
        "IMG_9998.CR3 (taken 2021-05-12 12:21:21) and IMG_9998.JPG (taken 2026-03-10 10:00:00) "
        "share a name but not a capture time, so they are not one shot and which time is whose "
        "is in doubt; check them on a computer and rename one"
    )
    for held in ("DCIM/100CANON/IMG_9998.CR3", "DCIM/100CANON/IMG_9998.JPG"):
        assert (items[held].action, items[held].reason) == ("hold", reason)
    assert items["DCIM/100CANON/IMG_9999.CR3"].target == "JBX3656/JBX3656-20260310-100101.cr3"
    assert items["DCIM/100CANON/IMG_9999.JPG"].action == "copy"
