"""Every field of every planned item, written out in full.

The dry run prints these items and ingest executes them, and the catalogue, XMP sidecars and
JSON are filled from them, so a field lost or mixed up between files of one shot must fail
a test, not only a wrong target.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cardingest.models import ArchivedFile, ArchiveState, MediaFile, PlanItem
from cardingest.plan.idmap import parse_map_text, single_id_map
from cardingest.plan.planner import make_plan

T = datetime(2026, 11, 24, 9, 15, 2)
T2 = datetime(2026, 11, 24, 9, 20, 0)
OFFSET = timedelta(hours=1, minutes=30)
MAP = parse_map_text(
    "files,id,diagnosis,site,consent\n"
    "100CANON/IMG_0001-100CANON/IMG_0003,JBX3656,melanoma;naevus,left forearm,teaching\n"
    "101CANON/IMG_0003,JBX3656,melanoma;naevus,left forearm,teaching\n"
)


FIELDS = (
    "source", "action", "size", "time_source", "captured_raw", "captured_at", "subsec",
    "utc_offset", "patient_id", "target", "reason", "diagnosis", "site", "consent", "make",
    "model", "warning", "map_line", "sidecar", "repair", "role", "slate",
)  # fmt: skip
"""Everything an item tells its readers (the catalogue, XMP, JSON, the transfer)."""


def seen(item: PlanItem) -> dict[str, object]:
    return {name: getattr(item, name) for name in FIELDS}


def expected(
    source: str,
    action: str,
    size: int,
    time_source: str,
    captured_raw: datetime,
    captured_at: datetime,
    **fields: object,
) -> dict[str, object]:
    defaults: dict[str, object] = {
        "subsec": "", "utc_offset": None, "patient_id": None, "target": None, "reason": None,
        "diagnosis": (), "site": None, "consent": None, "make": None, "model": None,
        "warning": None, "map_line": None, "sidecar": False, "repair": False, "role": "photo",
        "slate": None,
    }  # fmt: skip
    assert set(fields) <= set(defaults), set(fields) - set(defaults)
    values = {
        "source": source,
        "action": action,
        "size": size,
        "time_source": time_source,
        "captured_raw": captured_raw,
        "captured_at": captured_at,
        **defaults,
        **fields,
    }
    return {name: values[name] for name in FIELDS}


def shot_files() -> list[MediaFile]:
    """A JPEG with a RAW twin and an XMP, a photo outside the map, an empty file, an orphan
    sidecar, and a photo with the same stem in another folder."""
    return [
        MediaFile(
            "DCIM/100CANON/IMG_0001.CR2",
            5000,
            datetime(2026, 11, 24, 9, 15, 3),
            "exif:DateTimeDigitized",
            make="Canon",
            model="EOS R5",
        ),
        MediaFile(
            "DCIM/100CANON/IMG_0001.JPG",
            2000,
            T,
            "exif:DateTimeOriginal",
            subsec="25",
            utc_offset="+13:00",
            make="Canon",
            model="EOS R5",
            warning="IMG_0001.JPG: something odd",
        ),
        MediaFile("DCIM/100CANON/img_0001.xmp", 300, datetime(2020, 1, 1), "mtime", sidecar=True),
        MediaFile("DCIM/100CANON/IMG_0002.JPG", 0, T2, "exif:DateTimeOriginal"),
        MediaFile("DCIM/100CANON/IMG_0004.JPG", 1000, T, "mtime"),
        MediaFile(
            "DCIM/100CANON/IMG_0009.THM",
            10,
            datetime(2021, 5, 6, 7, 8, 9),
            "mtime",
            sidecar=True,
        ),
        MediaFile("DCIM/101CANON/IMG_0003.JPG", 1500, T, "exif:DateTimeOriginal", subsec="5"),
    ]


def common(**fields: object) -> dict[str, object]:
    return {
        "patient_id": "JBX3656",
        "diagnosis": ("melanoma", "naevus"),
        "site": "left forearm",
        "consent": "teaching",
        "map_line": 2,
        **fields,
    }


def test_every_field_of_every_item() -> None:
    plan = make_plan(
        shot_files(), MAP, source="/media/CARD", archive="/srv/archive", clock_offset=OFFSET
    )
    at = datetime(2026, 11, 24, 10, 45, 2)
    base = "JBX3656/JBX3656-20261124-104502"
    assert plan.source == "/media/CARD"
    assert plan.archive == "/srv/archive"
    assert plan.clock_offset == OFFSET
    assert plan.warnings == ("IMG_0001.JPG: something odd",)
    assert [seen(item) for item in plan.items] == [
        expected(
            "DCIM/100CANON/IMG_0001.CR2",
            "copy",
            5000,
            "exif:DateTimeOriginal",
            T,
            at,
            subsec="25",
            utc_offset="+13:00",
            target=base + ".cr2",
            make="Canon",
            model="EOS R5",
            **common(),
        ),
        expected(
            "DCIM/100CANON/IMG_0001.JPG",
            "copy",
            2000,
            "exif:DateTimeOriginal",
            T,
            at,
            subsec="25",
            utc_offset="+13:00",
            target=base + ".jpg",
            make="Canon",
            model="EOS R5",
            warning="IMG_0001.JPG: something odd",
            **common(),
        ),
        expected(
            "DCIM/100CANON/IMG_0002.JPG",
            "hold",
            0,
            "exif:DateTimeOriginal",
            T2,
            datetime(2026, 11, 24, 10, 50, 0),
            reason="empty file (0 bytes)",
            **common(),
        ),
        expected(
            "DCIM/100CANON/IMG_0004.JPG",
            "hold",
            1000,
            "mtime",
            T,
            at,
            reason="not in the ID map",
        ),
        expected(
            "DCIM/100CANON/IMG_0009.THM",
            "hold",
            10,
            "mtime",
            datetime(2021, 5, 6, 7, 8, 9),
            datetime(2021, 5, 6, 8, 38, 9),
            reason="sidecar without its photo",
            sidecar=True,
        ),
        expected(
            "DCIM/100CANON/img_0001.xmp",
            "copy",
            300,
            "exif:DateTimeOriginal",
            T,
            at,
            subsec="25",
            utc_offset="+13:00",
            target=base + ".xmp",
            make="Canon",
            model="EOS R5",
            sidecar=True,
            **common(),
        ),
        expected(
            "DCIM/101CANON/IMG_0003.JPG",
            "copy",
            1500,
            "exif:DateTimeOriginal",
            T,
            at,
            subsec="5",
            target=base + "-2.jpg",
            **common(map_line=3),
        ),
    ]


def test_two_orphan_sidecars_are_both_held() -> None:
    files = [
        MediaFile("DCIM/100CANON/IMG_0008.XMP", 1, T, "mtime", sidecar=True),
        MediaFile("DCIM/100CANON/IMG_0009.THM", 1, T, "mtime", sidecar=True),
        MediaFile("DCIM/100CANON/IMG_0001.JPG", 1, T, "exif:DateTimeOriginal"),
    ]
    plan = make_plan(files, single_id_map("JBX3656"))
    actions = {i.source: (i.action, i.reason) for i in plan.items}
    assert actions == {
        "DCIM/100CANON/IMG_0008.XMP": ("hold", "sidecar without its photo"),
        "DCIM/100CANON/IMG_0009.THM": ("hold", "sidecar without its photo"),
        "DCIM/100CANON/IMG_0001.JPG": ("copy", None),
    }


def test_a_skip_keeps_its_archived_name_and_the_next_shot_moves_on() -> None:
    """IMG_0001 is archived (as -2, after an older photo took the plain name); IMG_0003 of
    the same second gets the next free suffix after it, not a gap and not a clash."""
    files = [
        MediaFile("DCIM/100CANON/IMG_0001.JPG", 10, T, "exif:DateTimeOriginal"),
        MediaFile("DCIM/100CANON/IMG_0003.JPG", 30, T, "exif:DateTimeOriginal"),
        MediaFile("DCIM/100CANON/IMG_0002.JPG", 0, T, "exif:DateTimeOriginal"),
    ]
    base = "JBX3656/JBX3656-20261124-091502"
    state = ArchiveState(
        archived=(
            ArchivedFile(
                "JBX3656", base + "-2.jpg", "a" * 64, 10, "DCIM/100CANON/IMG_0001.JPG",
                "2026-11-24T09:15:02",
            ),
        ),
        taken_paths=frozenset({base + ".jpg", base + "-2.jpg"}),
    )  # fmt: skip
    mapped = parse_map_text("files,id,diagnosis\nIMG_0001-IMG_0003,JBX3656,melanoma;naevus\n")
    items = {i.source: i for i in make_plan(files, mapped, state=state).items}
    assert (
        items["DCIM/100CANON/IMG_0001.JPG"].action,
        items["DCIM/100CANON/IMG_0001.JPG"].target,
    ) == (
        "skip",
        base + "-2.jpg",
    )
    assert items["DCIM/100CANON/IMG_0001.JPG"].reason == "already archived"
    assert items["DCIM/100CANON/IMG_0001.JPG"].diagnosis == ("melanoma", "naevus")
    assert items["DCIM/100CANON/IMG_0003.JPG"].target == base + "-3.jpg"
    assert items["DCIM/100CANON/IMG_0002.JPG"].reason == "empty file (0 bytes)"


def test_names_with_dots_and_a_half_archived_shot() -> None:
    """A RAW archived before a stop: its JPEG twin lands beside it, dots in names kept."""
    files = [
        MediaFile("DCIM/100CANON/IMG_0001.x.CR2", 10, T, "exif:DateTimeOriginal"),
        MediaFile("DCIM/100CANON/IMG_0001.x.JPG", 20, T, "exif:DateTimeOriginal"),
    ]
    state = ArchiveState(
        archived=(
            ArchivedFile(
                "JBX3656", "JBX3656/JBX3656-20261124-091502-7.cr2", "a" * 64, 10,
                "DCIM/100CANON/IMG_0001.x.CR2", "2026-11-24T09:15:02",
            ),
        ),
        taken_paths=frozenset({"JBX3656/JBX3656-20261124-091502-7.cr2"}),
    )  # fmt: skip
    items = {i.source: i for i in make_plan(files, single_id_map("JBX3656"), state=state).items}
    assert items["DCIM/100CANON/IMG_0001.x.CR2"].action == "skip"
    assert items["DCIM/100CANON/IMG_0001.x.JPG"].target == "JBX3656/JBX3656-20261124-091502-7.jpg"


def test_every_field_with_a_single_id() -> None:
    """``--id``: no map line, no map fields; a sidecar takes its photo's time and patient."""
    files = [
        MediaFile("DCIM/100CANON/IMG_0001.JPG", 2000, T, "exif:DateTimeOriginal", make="Canon"),
        MediaFile("DCIM/100CANON/IMG_0001.XMP", 300, datetime(2020, 1, 1), "mtime", sidecar=True),
        MediaFile("DCIM/100CANON/IMG_0009.THM", 10, T2, "mtime", sidecar=True),
    ]
    plan = make_plan(files, single_id_map("jbx3656"))
    base = "JBX3656/JBX3656-20261124-091502"
    assert [seen(item) for item in plan.items] == [
        expected(
            "DCIM/100CANON/IMG_0001.JPG",
            "copy",
            2000,
            "exif:DateTimeOriginal",
            T,
            T,
            patient_id="JBX3656",
            target=base + ".jpg",
            make="Canon",
        ),
        expected(
            "DCIM/100CANON/IMG_0001.XMP",
            "copy",
            300,
            "exif:DateTimeOriginal",
            T,
            T,
            patient_id="JBX3656",
            target=base + ".xmp",
            make="Canon",
            sidecar=True,
        ),
        expected(
            "DCIM/100CANON/IMG_0009.THM",
            "hold",
            10,
            "mtime",
            T2,
            T2,
            reason="sidecar without its photo",
            sidecar=True,
        ),
    ]
