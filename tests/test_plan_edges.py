"""Planner edges, each with its expected names written out: unreadable files, the time of a
shot's sidecars, which photo of a RAW+JPEG pair times the shot, base names that must not be
shared, dotted name templates, and the last free suffix."""

from __future__ import annotations

from datetime import datetime

from cardingest.models import ArchivedFile, ArchiveState, MediaFile
from cardingest.plan.idmap import parse_map_text, single_id_map
from cardingest.plan.planner import make_plan

ONE = single_id_map("JBX3656")
T = datetime(2026, 11, 24, 9, 15, 2)
BASE = "JBX3656/JBX3656-20261124-091502"


def photo(path: str, when: datetime = T, **fields: object) -> MediaFile:
    source = "mtime" if path.lower().endswith((".xmp", ".thm")) else "exif:DateTimeOriginal"
    return MediaFile(path, int(fields.pop("size", 100)), when, source, **fields)  # type: ignore[arg-type]


def items(files: list[MediaFile], idmap=ONE, **kwargs: object) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {i.source: i for i in make_plan(files, idmap, **kwargs).items}  # type: ignore[arg-type]


def test_defaults_of_a_plan() -> None:
    plan = make_plan([], ONE)
    assert (plan.source, plan.archive, plan.items, plan.warnings) == ("", "", (), ())


def test_a_file_that_cannot_be_read_is_held_with_its_shot_time() -> None:
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo(
                "DCIM/100CANON/IMG_0001.XMP", datetime(2020, 1, 1), unreadable=True, sidecar=True
            ),
        ]
    )
    held = found["DCIM/100CANON/IMG_0001.XMP"]
    assert (held.action, held.reason) == ("hold", "cannot be read")
    assert (held.time_source, held.captured_raw) == ("exif:DateTimeOriginal", T)


def test_an_empty_sidecar_is_held_with_its_shot_time() -> None:
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/100CANON/IMG_0001.XMP", datetime(2020, 1, 1), size=0, sidecar=True),
        ]
    )
    held = found["DCIM/100CANON/IMG_0001.XMP"]
    assert (held.action, held.reason, held.time_source, held.captured_at) == (
        "hold",
        "empty file (0 bytes)",
        "exif:DateTimeOriginal",
        T,
    )


def test_an_unmapped_shot_holds_its_sidecar_at_the_photo_time() -> None:
    idmap = parse_map_text("files,id\nIMG_0002,JBX3656\n")
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/100CANON/IMG_0001.XMP", datetime(2020, 1, 1), sidecar=True),
            photo("DCIM/100CANON/IMG_0002.JPG"),
        ],
        idmap,
    )
    held = found["DCIM/100CANON/IMG_0001.XMP"]
    assert (held.action, held.reason, held.time_source, held.captured_raw) == (
        "hold",
        "not in the ID map",
        "exif:DateTimeOriginal",
        T,
    )


def test_an_archived_sidecar_is_skipped_at_the_photo_time() -> None:
    state = ArchiveState(
        archived=(
            ArchivedFile("JBX3656", BASE + ".jpg", "a" * 64, 100, "DCIM/100CANON/IMG_0001.JPG",
                         "2026-11-24T09:15:02"),
            ArchivedFile("JBX3656", BASE + ".xmp", "b" * 64, 100, "DCIM/100CANON/IMG_0001.XMP",
                         "2026-11-24T09:15:02"),
        ),
        taken_paths=frozenset({BASE + ".jpg", BASE + ".xmp"}),
    )  # fmt: skip
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/100CANON/IMG_0001.XMP", datetime(2020, 1, 1), sidecar=True),
        ],
        state=state,
    )
    skipped = found["DCIM/100CANON/IMG_0001.XMP"]
    assert (skipped.action, skipped.target, skipped.time_source, skipped.captured_at) == (
        "skip",
        BASE + ".xmp",
        "exif:DateTimeOriginal",
        T,
    )


def test_the_jpeg_times_a_raw_jpeg_pair() -> None:
    """Both have DateTimeOriginal; the JPEG's (09:15:02) names the shot, not the RAW's."""
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.CR2", datetime(2026, 11, 24, 9, 15, 3)),
            photo("DCIM/100CANON/IMG_0001.JPG"),
        ]
    )
    assert found["DCIM/100CANON/IMG_0001.CR2"].target == BASE + ".cr2"
    assert found["DCIM/100CANON/IMG_0001.JPG"].target == BASE + ".jpg"


def test_two_files_of_one_stem_and_extension_get_names_by_path() -> None:
    """IMG_0001.JPEG sorts before IMG_0001.JPG, so it is the first shot."""
    found = items([photo("DCIM/100CANON/IMG_0001.JPG"), photo("DCIM/100CANON/IMG_0001.JPEG")])
    assert found["DCIM/100CANON/IMG_0001.JPEG"].target == BASE + ".jpg"
    assert found["DCIM/100CANON/IMG_0001.JPG"].target == BASE + "-2.jpg"


def test_two_photos_of_one_name_and_different_times_are_held_as_a_map_row_takes_both() -> None:
    """A trial: `IMG_0001.JPG` and `IMG_0001.jpg` (a card copy that keeps case), or `.JPG`
    and `.JPEG`, of two times: a row naming `IMG_0001` (or `IMG_0001.jpg`) gave both to its
    patient, and map-template showed one of them. One without a time of its own cannot show
    it is the other saved twice; two of one time can, and are both filed."""
    later = datetime(2026, 11, 24, 10, 0, 0)
    idmap = parse_map_text("files,id\nIMG_0001.jpg,JBX3656\n")
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/100CANON/IMG_0001.jpg", later),
            photo("DCIM/100CANON/IMG_0002.JPG"),
            MediaFile("DCIM/100CANON/IMG_0002.JPEG", 100, T, "mtime"),
            photo("DCIM/100CANON/IMG_0003.JPG"),
            photo("DCIM/100CANON/IMG_0003.jpeg", datetime(2026, 11, 24, 9, 15, 3)),
        ],
    )
    for name in ("IMG_0001.JPG", "IMG_0001.jpg", "IMG_0002.JPG", "IMG_0002.JPEG"):
        item = found[f"DCIM/100CANON/{name}"]
        assert item.action == "hold" and "a map row naming one would take both" in item.reason
    assert (
        "IMG_0001.JPG (taken 2026-11-24 09:15:02) and IMG_0001.jpg (taken 2026-11-24 "
        "10:00:00) share a name but not a capture time"
        in found["DCIM/100CANON/IMG_0001.jpg"].reason
    )
    assert (
        "IMG_0002.JPEG has no capture time of its own" in found["DCIM/100CANON/IMG_0002.JPG"].reason
    )
    assert [found[f"DCIM/100CANON/IMG_0003.{e}"].action for e in ("JPG", "jpeg")] == ["copy"] * 2
    by_row = items([photo("DCIM/100CANON/IMG_0001.JPG"),
                    photo("DCIM/100CANON/IMG_0001.jpg", later)], idmap)  # fmt: skip
    assert {item.action for item in by_row.values()} == {"hold"}


def test_a_raw_of_another_shot_never_shares_a_base_name() -> None:
    found = items([photo("DCIM/100CANON/IMG_0001.JPG"), photo("DCIM/100CANON/IMG_0002.CR2")])
    assert found["DCIM/100CANON/IMG_0001.JPG"].target == BASE + ".jpg"
    assert found["DCIM/100CANON/IMG_0002.CR2"].target == BASE + "-2.cr2"


def test_the_second_of_a_second_is_2_even_after_an_archived_3() -> None:
    """IMG_0001 was archived as -3 (older photos took the rest then were deleted)."""
    state = ArchiveState(
        archived=(
            ArchivedFile("JBX3656", BASE + "-3.jpg", "a" * 64, 100, "DCIM/100CANON/IMG_0001.JPG",
                         "2026-11-24T09:15:02"),
        ),
        taken_paths=frozenset({BASE + "-3.jpg"}),
    )  # fmt: skip
    found = items(
        [photo("DCIM/100CANON/IMG_0001.JPG"), photo("DCIM/100CANON/IMG_0002.JPG")], state=state
    )
    assert found["DCIM/100CANON/IMG_0001.JPG"].action == "skip"
    assert found["DCIM/100CANON/IMG_0002.JPG"].target == BASE + "-2.jpg"


def archived_once(target: str, source: str, *taken: str) -> ArchiveState:
    """One file of the card archived as ``target``; ``taken``: other names held there."""
    record = ArchivedFile("JBX3656", target, "a" * 64, 100, source, "2026-11-24T09:15:02")
    return ArchiveState(archived=(record,), taken_paths=frozenset({target, *taken}))


def test_a_half_archived_shot_whose_twin_name_is_taken_moves_on() -> None:
    """The RAW went in as -7; another file already holds -7.jpg, so the JPEG gets the first
    free base name instead of landing on (or beside) someone else's file."""
    state = archived_once(BASE + "-7.cr2", "DCIM/100CANON/IMG_0001.CR2", BASE + "-7.jpg")
    found = items(
        [photo("DCIM/100CANON/IMG_0001.CR2"), photo("DCIM/100CANON/IMG_0001.JPG")], state=state
    )
    assert found["DCIM/100CANON/IMG_0001.CR2"].action == "skip"
    assert found["DCIM/100CANON/IMG_0001.JPG"].target == BASE + ".jpg"


def test_a_sidecar_of_an_archived_photo_whose_name_is_taken_stays_on_the_card() -> None:
    """A camera XMP come to the card after its photo was archived, with NAME.xmp held by
    another file (an editor's, copied in by hand): it was filed as NAME-2.xmp, beside no
    photo of that name, and `move` left it under the old patient. It is held now."""
    state = archived_once(BASE + ".jpg", "DCIM/100CANON/IMG_0001.JPG", BASE + ".xmp")
    found = items(
        [photo("DCIM/100CANON/IMG_0001.JPG"), photo("DCIM/100CANON/IMG_0001.XMP", sidecar=True)],
        state=state,
    )
    assert found["DCIM/100CANON/IMG_0001.JPG"].action == "skip"
    xmp = found["DCIM/100CANON/IMG_0001.XMP"]
    assert (xmp.action, xmp.target) == ("hold", None)
    assert xmp.reason == (
        f"its photo is archived as {BASE}.jpg, and the name beside it for this sidecar "
        f"({BASE}.xmp) is held by another file (the catalogue's, or one copied there by "
        "hand): move that one aside, then ingest again"
    )
    free = items(
        [photo("DCIM/100CANON/IMG_0001.JPG"), photo("DCIM/100CANON/IMG_0001.XMP", sidecar=True)],
        state=archived_once(BASE + ".jpg", "DCIM/100CANON/IMG_0001.JPG"),
    )
    assert free["DCIM/100CANON/IMG_0001.XMP"].target == BASE + ".xmp"


def test_dots_in_the_name_template_are_part_of_the_name() -> None:
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/100CANON/IMG_0002.CR2", datetime(2026, 11, 25, 9, 15, 2)),
        ],
        name_template="{id}.{date}",
    )
    assert found["DCIM/100CANON/IMG_0001.JPG"].target == "JBX3656/JBX3656.20261124.jpg"
    assert found["DCIM/100CANON/IMG_0002.CR2"].target == "JBX3656/JBX3656.20261125.cr2"


def _taken(up_to: int) -> frozenset[str]:
    return frozenset({BASE + ".jpg"} | {f"{BASE}-{n}.jpg" for n in range(2, up_to + 1)})


def test_the_last_free_suffix_is_used() -> None:
    state = ArchiveState(taken_paths=_taken(9998))
    found = items([photo("DCIM/100CANON/IMG_0001.JPG")], state=state)
    assert found["DCIM/100CANON/IMG_0001.JPG"].target == BASE + "-9999.jpg"


def test_no_free_suffix_left_holds_the_shot_and_the_next_ones_of_that_name() -> None:
    state = ArchiveState(taken_paths=_taken(9999))
    later = T.replace(minute=T.minute + 1)
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG"),
            photo("DCIM/100CANON/IMG_0002.JPG", subsec="5"),
            photo("DCIM/100CANON/IMG_0003.JPG", later),
        ],
        state=state,
    )
    for held in ("DCIM/100CANON/IMG_0001.JPG", "DCIM/100CANON/IMG_0002.JPG"):
        assert (found[held].action, found[held].target) == ("hold", None)
        assert found[held].reason == (
            "every name up to -9999 is taken for this patient and time: "
            "the name template tells too little apart (add {time})"
        )
    assert found["DCIM/100CANON/IMG_0003.JPG"].action == "copy"


def test_the_sidecar_of_a_photo_that_cannot_be_read_stays_with_it() -> None:
    """A photo the card would not read (held) and its XMP: the XMP was filed alone, named by
    its own file time, beside no photo, and stayed catalogued for good after the photo
    was filed later under its real time (a re-trial)."""
    found = items(
        [
            photo("DCIM/100CANON/IMG_0001.JPG", unreadable=True, warning="cannot be read"),
            photo("DCIM/100CANON/IMG_0001.XMP", sidecar=True),
            photo("DCIM/100CANON/IMG_0002.JPG"),
        ]
    )
    assert found["DCIM/100CANON/IMG_0001.JPG"].action == "hold"
    xmp = found["DCIM/100CANON/IMG_0001.XMP"]
    assert (xmp.action, xmp.target) == ("hold", None)
    assert (
        xmp.reason == "its photo stays on the card (see the photo's reason): a sidecar goes with it"
    )
    assert found["DCIM/100CANON/IMG_0002.JPG"].action == "copy"
