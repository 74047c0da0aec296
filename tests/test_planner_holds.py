"""Every way the planner holds a photo, with every field of the held item written out.

Held photos stay on the card, so what matters is that each is held (never copied under a
guess), with the reason the operator reads, and with the shot's time and the patient row
(or none) it was held under. Expectations are literal, not built from the planner's own
texts. Pure planner calls: no files, no CLI.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from cardingest.models import ArchivedFile, ArchiveState, MapRow, MediaFile, PlanItem
from cardingest.plan.idmap import parse_map_text, single_id_map
from cardingest.plan.planner import make_plan
from cardingest.plan.slates import SlateAssignment

T = datetime(2026, 11, 24, 9, 15, 2)
ONE = single_id_map("JBX3656")
BAD = "DCIM/100CANON/IMG_\udce90001.JPG"
"""A card name that is not valid UTF-8 (a Latin-1 é, read with surrogateescape)."""


def photo(path: str, when: datetime = T, **fields: object) -> MediaFile:
    return MediaFile(path, int(fields.pop("size", 100)), when, "exif:DateTimeOriginal", **fields)  # type: ignore[arg-type]


def plan_of(files: list[MediaFile], idmap=ONE, **kwargs: object) -> dict[str, PlanItem]:  # type: ignore[no-untyped-def]
    return {i.source: i for i in make_plan(files, idmap, **kwargs).items}  # type: ignore[arg-type]


def test_a_name_that_is_not_utf8_is_held_with_its_shot_time_and_patient() -> None:
    raw = photo("DCIM/100CANON/IMG_\udce90001.CR2", T + timedelta(seconds=1))
    found = plan_of([photo(BAD, subsec="25", make="Canon", model="EOS R5"), raw])
    item = found[BAD]
    assert (item.action, item.target, item.patient_id) == ("hold", None, "JBX3656")
    assert item.reason == (
        "the name IMG_\\xe90001.JPG (or its folder's) is not valid UTF-8; "
        "rename it on a computer, then run again"
    )
    assert (item.captured_raw, item.captured_at, item.subsec) == (T, T, "25")
    assert (item.make, item.model, item.role, item.slate) == ("Canon", "EOS R5", "photo", None)
    twin = found["DCIM/100CANON/IMG_\udce90001.CR2"]
    assert (twin.action, twin.target, twin.patient_id) == ("hold", None, "JBX3656")
    assert twin.reason == (
        "the name IMG_\\xe90001.CR2 (or its folder's) is not valid UTF-8; "
        "rename it on a computer, then run again"
    )
    assert (twin.captured_raw, twin.captured_at) == (T, T), "the RAW keeps its JPEG's time"
    assert (twin.make, twin.model) == ("Canon", "EOS R5")


def test_a_bad_name_beside_a_good_one_of_the_same_patient_holds_only_itself() -> None:
    later = T + timedelta(seconds=1)
    found = plan_of([photo(BAD), photo("DCIM/100CANON/IMG_0002.JPG", later)])
    assert found[BAD].action == "hold"
    good = found["DCIM/100CANON/IMG_0002.JPG"]
    assert (good.action, good.target) == ("copy", "JBX3656/JBX3656-20261124-091503.jpg")


def test_a_blank_map_line_holds_its_shots_naming_the_line() -> None:
    idmap = parse_map_text("files,id\nIMG_0001,JBX3656\nIMG_0002 IMG_0003,\n")
    found = plan_of(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/100CANON/IMG_0002.JPG", T + timedelta(minutes=1), subsec="7"),
            photo("DCIM/100CANON/IMG_0003.JPG"),
            photo(BAD.replace("0001", "0003").replace(".JPG", ".CR2")),
        ],
        idmap,
        clock_offset=timedelta(hours=1),
    )
    blank = found["DCIM/100CANON/IMG_0002.JPG"]
    assert (blank.action, blank.target, blank.patient_id, blank.map_line) == (
        "hold",
        None,
        None,
        None,
    )
    assert blank.reason == "left blank (ID map line 3)"
    assert blank.captured_raw == T + timedelta(minutes=1)
    assert blank.captured_at == T + timedelta(minutes=1, hours=1)
    assert blank.subsec == "7"
    assert found["DCIM/100CANON/IMG_0001.JPG"].action == "copy"


def test_a_blank_group_of_the_interactive_prompt_is_named_a_group() -> None:
    idmap = replace(parse_map_text("files,id\nIMG_0001,JBX3656\nIMG_0002,\n"), source="interactive")
    found = plan_of(
        [photo("DCIM/100CANON/IMG_0001.JPG"), photo("DCIM/100CANON/IMG_0002.JPG")], idmap
    )
    assert found["DCIM/100CANON/IMG_0002.JPG"].reason == "left blank (group 3)"


def test_a_bad_name_in_a_blank_group_says_the_name_is_the_problem() -> None:
    idmap = parse_map_text("files,id\nIMG_0002,JBX3656\nIMG_0001,\n")
    bad = "DCIM/100CAN\udce9/IMG_0001.JPG"
    found = plan_of([photo("DCIM/100CANON/IMG_0002.JPG"), photo(bad)], idmap)
    assert found[bad].reason == (
        "the name IMG_0001.JPG (or its folder's) is not valid UTF-8; "
        "rename it on a computer, then run again"
    )


SLATE = "DCIM/100CANON/IMG_0001.JPG"
ROW = MapRow(line=0, patient_id="JBX3656")


def test_slate_holds_give_the_file_its_own_reason_else_its_photo_s_else_no_slate() -> None:
    files = [
        photo(SLATE),
        photo("DCIM/100CANON/IMG_0002.JPG", T + timedelta(seconds=5)),
        photo("DCIM/100CANON/IMG_0002.XMP", T + timedelta(seconds=5), sidecar=True),
        photo("DCIM/100CANON/IMG_0003.JPG", T + timedelta(seconds=9)),
        photo("DCIM/100CANON/IMG_0004.JPG", T + timedelta(seconds=12)),
    ]
    slates = SlateAssignment(
        rows={SLATE: ROW},
        holds={
            "DCIM/100CANON/IMG_0002.JPG": "the slate before it could not be read",
            "DCIM/100CANON/IMG_0003.JPG": "two patient IDs on one slate",
        },
        slate_of={
            SLATE: SLATE,
            "DCIM/100CANON/IMG_0002.JPG": "DCIM/100CANON/IMG_0009.JPG",
            "DCIM/100CANON/IMG_0003.JPG": "DCIM/100CANON/IMG_0008.JPG",
        },
        slates=frozenset({SLATE}),
        warnings=("a slate warning",),
    )
    found = plan_of(files, slates=slates)
    first = found[SLATE]
    assert (first.action, first.target, first.role, first.slate) == (
        "copy",
        "JBX3656/JBX3656-20261124-091502-slate.jpg",
        "slate",
        SLATE,
    )
    photo2, sidecar = found["DCIM/100CANON/IMG_0002.JPG"], found["DCIM/100CANON/IMG_0002.XMP"]
    assert (photo2.action, photo2.patient_id, photo2.reason) == (
        "hold",
        None,
        "the slate before it could not be read",
    )
    assert (photo2.slate, photo2.role) == ("DCIM/100CANON/IMG_0009.JPG", "photo")
    assert (sidecar.action, sidecar.reason) == ("hold", "the slate before it could not be read")
    assert sidecar.captured_at == T + timedelta(seconds=5)
    third = found["DCIM/100CANON/IMG_0003.JPG"]
    assert (third.reason, third.slate) == (
        "two patient IDs on one slate",
        "DCIM/100CANON/IMG_0008.JPG",
    )
    fourth = found["DCIM/100CANON/IMG_0004.JPG"]
    assert (fourth.action, fourth.reason, fourth.slate) == ("hold", "no slate", None)
    assert fourth.captured_at == T + timedelta(seconds=12)


def test_a_sidecar_held_by_its_own_slate_reason_keeps_it() -> None:
    files = [
        photo("DCIM/100CANON/IMG_0002.JPG"),
        photo("DCIM/100CANON/IMG_0002.XMP", sidecar=True),
    ]
    slates = SlateAssignment(
        holds={
            "DCIM/100CANON/IMG_0002.JPG": "photo reason",
            "DCIM/100CANON/IMG_0002.XMP": "sidecar reason",
        }
    )
    found = plan_of(files, slates=slates)
    assert found["DCIM/100CANON/IMG_0002.XMP"].reason == "sidecar reason"
    assert found["DCIM/100CANON/IMG_0002.JPG"].reason == "photo reason"


def test_plan_warnings_are_the_files_then_the_slates() -> None:
    files = [photo("DCIM/100CANON/IMG_0001.JPG", warning="IMG_0001.JPG: no EXIF time")]
    slates = SlateAssignment(rows={"DCIM/100CANON/IMG_0001.JPG": ROW}, warnings=("slate note",))
    plan = make_plan(files, ONE, slates=slates)
    assert plan.warnings == ("IMG_0001.JPG: no EXIF time", "slate note")


def test_slated_copies_held_and_taken_carry_their_slate() -> None:
    files = [photo(SLATE), photo("DCIM/100CANON/IMG_0002.JPG", T + timedelta(seconds=3))]
    slates = SlateAssignment(
        rows={SLATE: ROW, "DCIM/100CANON/IMG_0002.JPG": ROW},
        slate_of={SLATE: SLATE, "DCIM/100CANON/IMG_0002.JPG": SLATE},
        slates=frozenset({SLATE}),
    )
    state = ArchiveState(
        archived=(
            ArchivedFile(
                "JBX3656",
                "JBX3656/JBX3656-20261124-091505.jpg",
                "ab" * 32,
                100,
                "DCIM/100CANON/IMG_0002.JPG",
                "2026-11-24T09:15:05",
            ),
        )
    )
    found = plan_of(files, slates=slates, state=state)
    skipped = found["DCIM/100CANON/IMG_0002.JPG"]
    assert (skipped.action, skipped.target, skipped.slate, skipped.role) == (
        "skip",
        "JBX3656/JBX3656-20261124-091505.jpg",
        SLATE,
        "photo",
    )


def test_a_raw_in_another_folder_with_the_same_number_is_another_shot() -> None:
    found = plan_of(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/101CANON/IMG_0001.CR2", T + timedelta(minutes=3)),
        ]
    )
    assert found["DCIM/100CANON/IMG_0001.JPG"].target == "JBX3656/JBX3656-20261124-091502.jpg"
    raw = found["DCIM/101CANON/IMG_0001.CR2"]
    assert raw.target == "JBX3656/JBX3656-20261124-091802.cr2"
    assert raw.captured_at == T + timedelta(minutes=3)


def _elsewhere(patient: str, sha: str, path: str) -> ArchivedFile:
    return ArchivedFile(patient, path, sha, 100, "DCIM/100CANON/OLD.JPG", "2026-01-01T00:00:00")


def test_content_of_the_same_size_but_other_bytes_is_copied() -> None:
    state = ArchiveState(elsewhere=(_elsewhere("ZZZ0016", "cd" * 32, "ZZZ0016/a.jpg"),))
    found = plan_of([photo("DCIM/100CANON/IMG_0001.JPG", sha256="AB" * 32)], state=state)
    assert found["DCIM/100CANON/IMG_0001.JPG"].action == "copy"


def test_the_other_patient_is_found_past_photos_this_patient_already_has() -> None:
    state = ArchiveState(
        elsewhere=(
            _elsewhere("JBX3656", "aa" * 32, "JBX3656/mine.jpg"),
            _elsewhere("ZZZ0016", "bb" * 32, "ZZZ0016/theirs.jpg"),
        )
    )
    files = [
        photo("DCIM/100CANON/IMG_0001.JPG", sha256="aa" * 32),
        photo("DCIM/100CANON/IMG_0001.CR2", sha256="BB" * 32),
    ]
    found = plan_of(files, state=state)
    for path in ("DCIM/100CANON/IMG_0001.JPG", "DCIM/100CANON/IMG_0001.CR2"):
        item = found[path]
        assert (item.action, item.target, item.patient_id) == ("hold", None, "JBX3656")
        assert item.reason == (
            "the same photo is already archived under patient ZZZ0016 (ZZZ0016/theirs.jpg); "
            "check which patient it belongs to (cardingest move corrects a misfiled photo), "
            "or run again with --allow-other-patient if it is meant for both"
        )


def test_tails_and_bases_in_nested_folders_and_dotted_names() -> None:
    files = [
        photo(SLATE),
        photo("DCIM/100CANON/IMG_0002.JPG"),
        photo("DCIM/100CANON/IMG_0002.CR2"),
    ]
    slates = SlateAssignment(
        rows={SLATE: ROW, "DCIM/100CANON/IMG_0002.JPG": ROW, "DCIM/100CANON/IMG_0002.CR2": ROW},
        slates=frozenset({SLATE}),
    )
    found = plan_of(
        files,
        slates=slates,
        folder_template="{id}/{year}/{month}",
        name_template="{id}.{date}.{time}",
    )
    assert found[SLATE].target == "JBX3656/2026/11/JBX3656.20261124.091502-slate.jpg"
    assert found["DCIM/100CANON/IMG_0002.JPG"].target == (
        "JBX3656/2026/11/JBX3656.20261124.091502.jpg"
    )
    assert found["DCIM/100CANON/IMG_0002.CR2"].target == (
        "JBX3656/2026/11/JBX3656.20261124.091502.cr2"
    )


def test_a_name_listed_twice_holds_its_whole_shot_and_nothing_else() -> None:
    """A damaged folder can list one name twice: which entry is the photo is in doubt, so
    both stay on the card, with the RAW and sidecar of that stem; the next shot is filed."""
    jpeg = photo("DCIM/100CANON/IMG_0001.JPG", size=10)
    files = [
        jpeg,
        photo("DCIM/100CANON/IMG_0001.CR2"),
        replace(jpeg, size=11),
        photo("DCIM/100CANON/img_0001.xmp", sidecar=True),
        photo("DCIM/100CANON/IMG_0002.JPG"),
    ]
    check = "check the card on a computer: its folder may be damaged"
    twice = f"listed twice in its folder, so which entry is the photo is in doubt; {check}"
    beside = f"IMG_0001.JPG, of the same shot, is listed twice in its folder; {check}"
    held = [
        (i.source, i.size, i.patient_id, i.target, i.reason)
        for i in make_plan(files, ONE).items
        if i.action == "hold"
    ]
    assert held == [
        ("DCIM/100CANON/IMG_0001.CR2", 100, None, None, beside),
        ("DCIM/100CANON/IMG_0001.JPG", 10, None, None, twice),
        ("DCIM/100CANON/IMG_0001.JPG", 11, None, None, twice),
        ("DCIM/100CANON/img_0001.xmp", 100, None, None, beside),
    ]
    filed = {i.source: i.target for i in make_plan(files, ONE).items if i.action == "copy"}
    assert filed == {"DCIM/100CANON/IMG_0002.JPG": "JBX3656/JBX3656-20261124-091502.jpg"}


def test_a_lone_photo_listed_twice_is_held_at_its_own_time_and_role() -> None:
    """Two entries of one name and nothing else of the stem; the shot's time moved by the
    clock offset as for any hold; a slate listed twice keeps its role."""
    offset = timedelta(minutes=90)
    slates = SlateAssignment(rows={SLATE: ROW}, slates=frozenset({SLATE}))
    for idmap, kwargs, path, role in (
        (ONE, {}, "DCIM/100CANON/IMG_0005.JPG", "photo"),
        (ONE, {"slates": slates}, SLATE, "slate"),
    ):
        entry = photo(path, size=10)
        items = make_plan([entry, replace(entry, size=12)], idmap, clock_offset=offset, **kwargs)
        assert [
            (i.source, i.size, i.action, i.captured_raw, i.captured_at, i.role, i.patient_id)
            for i in items.items
        ] == [
            (path, 10, "hold", T, T + offset, role, None),
            (path, 12, "hold", T, T + offset, role, None),
        ]
        assert all(i.reason and i.reason.startswith("listed twice") for i in items.items)


WINDOWS = parse_map_text(
    "from,to,id\n2026-11-24 09:00,2026-11-24 09:30,JBX3656\n"
    "2026-11-24 09:31,2026-11-24 10:00,ACA31FM\n"
)


def test_a_time_that_is_not_the_shutters_is_not_placed_by_a_row_of_times() -> None:
    """EXIF DateTime is when the file was last saved, a file time when the card's copy was
    written: a window of times could give the photo to whoever was seen then."""
    saved = replace(photo("DCIM/100CANON/IMG_0002.JPG"), time_source="exif:DateTime")
    touched = replace(photo("DCIM/100CANON/IMG_0003.JPG"), time_source="mtime")
    digitized = replace(photo("DCIM/100CANON/IMG_0004.JPG"), time_source="exif:DateTimeDigitized")
    raw = replace(photo("DCIM/100CANON/IMG_0002.CR2"), time_source="mtime")
    later = photo("DCIM/100CANON/IMG_0005.JPG", T + timedelta(minutes=40))
    files = [photo("DCIM/100CANON/IMG_0001.JPG"), saved, touched, digitized, raw, later]
    found = plan_of(files, WINDOWS)
    assert found["DCIM/100CANON/IMG_0001.JPG"].action == "copy"
    assert found["DCIM/100CANON/IMG_0004.JPG"].action == "copy"
    held = found["DCIM/100CANON/IMG_0002.JPG"]
    assert (held.action, held.target, held.patient_id, held.map_line) == (
        "hold",
        None,
        "JBX3656",
        2,
    )
    assert held.reason == (
        "its time is EXIF DateTime, when the file was last saved, which need not be when it "
        "was taken, so the times of ID map line 2 cannot place it; give it to its patient by "
        "file name in the map"
    )
    assert found["DCIM/100CANON/IMG_0003.JPG"].reason == (
        "its time is the file's modification time, as it has no EXIF capture time, which need "
        "not be when it was taken, so the times of ID map line 2 cannot place it; give it to "
        "its patient by file name in the map"
    )
    assert found["DCIM/100CANON/IMG_0002.CR2"].reason == held.reason, "the shot is held whole"
    by_name = parse_map_text("files,id\nIMG_0001-IMG_0005,JBX3656\n")
    assert {i.action for i in plan_of(files, by_name).values()} == {"copy"}
    assert {i.action for i in plan_of(files).values()} == {"copy"}


def test_a_row_of_times_across_a_clock_change_holds_its_photos() -> None:
    """Daylight saving ends: 02:45 comes twice. A window holding photos of two UTC offsets
    may cover two moments an hour apart, and the map cannot say which it meant."""
    first = photo("DCIM/Camera/PXL_1.jpg", T, utc_offset="+13:00")
    again = photo("DCIM/Camera/PXL_2.jpg", T, utc_offset="+12:00")
    between = photo("DCIM/Camera/PXL_3.jpg", T + timedelta(minutes=40), utc_offset="+12:00")
    found = plan_of([first, again, between], WINDOWS)
    for held in (found["DCIM/Camera/PXL_1.jpg"], found["DCIM/Camera/PXL_2.jpg"]):
        assert (held.action, held.patient_id) == ("hold", "JBX3656")
        assert held.reason == (
            "the photos in the times of ID map line 2 carry the UTC offsets +12:00 and +13:00: "
            "the camera's clock changed within them (daylight saving), so one clock time there "
            "can stand for two moments; give these photos to their patients by file name in "
            "the map"
        )
    assert found["DCIM/Camera/PXL_3.jpg"].action == "copy"
    one_offset = [replace(first, utc_offset="+12:00"), again, replace(between, utc_offset=None)]
    assert {i.action for i in plan_of(one_offset, WINDOWS).values()} == {"copy"}
    assert {i.action for i in plan_of([first, again]).values()} == {"copy"}
