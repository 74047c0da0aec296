"""The slate rules' survivors of a mutation round (docs/testing.md, "A mutation round on the
slates and interactive assignment"): cards on which a changed line of `plan/slates.py` filed,
held or said otherwise, and went unnoticed. Each test builds its card from scan records and
reads alone (no barcode images), so the round's mutants run in seconds."""

from __future__ import annotations

from datetime import datetime, timedelta

from factories import media
from test_slates import card_path, ok

from cardingest.models import MediaFile, SlateRead
from cardingest.plan.slate_template import slate_map_template
from cardingest.plan.slates import (
    CLOCK_BACK,
    MAYBE_SLATES_AFTER,
    NO_EXIF_TIME,
    NO_SLATE,
    SLATES_AFTER,
    HeldNote,
    SlateAssignment,
    assign,
)

T0 = datetime(2026, 11, 25, 9, 0, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def card(*shots: tuple[int, float]) -> list[MediaFile]:
    """Photos of 100CANON: (file number, seconds after 09:00)."""
    return [media(card_path(n), at(s)) for n, s in shots]


def patients(result: SlateAssignment) -> dict[str, str]:
    return {path: row.patient_id for path, row in result.rows.items()}


def test_a_card_whose_slates_came_after_gives_no_group_a_photo_it_holds() -> None:
    """Slates after their patients' photos: the photos between two slates are held, and no
    group keeps them, or `map-template --slates` would write them in the slate's row, and a
    map made from it file them under that patient (the one the rule says they are not)."""
    files = card(*((n, 60 * n) for n in range(1, 8)))
    reads = {card_path(3): ok(card_path(3), "JBX3656"), card_path(7): ok(card_path(7), "ACA31FM")}
    result = assign(files, reads)
    assert result.holds[card_path(4)] == SLATES_AFTER
    assert [(g.slate, g.patient_id, [m.path for m in g.photos]) for g in result.groups] == [
        (card_path(3), "JBX3656", [card_path(3)]),
        (card_path(7), "ACA31FM", [card_path(7)]),
    ]
    template = slate_map_template(files, result)
    assert [line for line in template.splitlines() if not line.startswith(("#", '"#'))] == [
        "files,id,diagnosis,site,consent"
    ]


def test_a_card_of_photos_and_its_slate_last_says_nothing_of_no_photos() -> None:
    """Slates after the photos where no photo follows a slate: nothing the slates gave is
    held, so no warning of none (a ``None`` among the warnings) and no note of none."""
    result = assign(card((1, 0), (2, 60)), {card_path(2): ok(card_path(2), "JBX3656")})
    assert result.holds == {card_path(1): NO_SLATE}
    assert patients(result) == {card_path(2): "JBX3656"}
    assert result.warnings == (
        f"slate {card_path(2)} (JBX3656) is followed by no photo of its own (the next slate, "
        "or the end of the card, comes first): check that its label was not photographed by "
        "mistake before another patient's (the contact sheet shows it)",
    )
    assert result.held_notes == ()


def test_an_empty_card_or_one_of_sidecars_alone_assigns_nothing() -> None:
    assert assign([], {}) == SlateAssignment()
    xmp = media("DCIM/100CANON/IMG_0001.XMP", at(0))
    assert assign([xmp], {}) == SlateAssignment()


def test_a_sidecar_without_its_photo_leaves_the_photos_after_it_to_their_slate() -> None:
    files = [
        media(card_path(1), at(0)),
        media(card_path(2, ext="XMP"), at(30)),
        media(card_path(3), at(60)),
    ]
    result = assign(files, {card_path(1): ok(card_path(1), "JBX3656")})
    assert patients(result) == {card_path(1): "JBX3656", card_path(3): "JBX3656"}


def test_photos_the_clock_put_back_are_said_and_noted_once_with_their_paths() -> None:
    """The planner says a held count again of what its plan does with the files
    (`HeldNote`): the camera's and the clock's orders disagreeing must be one note naming
    the photos held for it, and said with its reason."""
    files = [
        media(card_path(1), at(0)),
        media(card_path(2), at(60)),
        media(card_path(1, "101CANON"), at(300)),
        media(card_path(2, "101CANON"), at(360)),
        media(card_path(3), at(420)),
    ]
    reads = {
        card_path(1): ok(card_path(1), "JBX3656"),
        card_path(1, "101CANON"): ok(card_path(1, "101CANON"), "ACA31FM"),
    }
    result = assign(files, reads)
    assert result.holds == {card_path(3): CLOCK_BACK}
    assert result.warnings == (f"1 file(s) held (first: {card_path(3)}): {CLOCK_BACK}",)
    assert result.held_notes == (HeldNote(CLOCK_BACK, (card_path(3),)),)


def test_photos_held_for_their_slate_with_no_time_are_no_note_of_the_clock() -> None:
    """The camera's numbering puts photos after a slate with no EXIF time, the clock before
    it: held for that slate, and no note (nor warning) of the clock put back."""
    files = [media(card_path(n), at(60 * n)) for n in range(1, 7)]
    files[3] = media(card_path(4), at(36000), source="mtime")
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(4): ok(card_path(4), "ACA31FM")}
    result = assign(files, reads)
    assert set(result.holds) == {card_path(4), card_path(5), card_path(6)}
    assert result.held_notes == ()
    assert result.warnings == ()


def test_a_return_on_a_card_the_clock_was_put_back_on_is_held() -> None:
    """JBX3656's slate again 2 minutes after ACA31FM's photo, on a card where a photo the
    camera wrote to its older folder is held for the clock: the return is held as on any
    card (the last checks looked at with the pause of a visit, as everywhere)."""
    files = [
        *card((1, 0), (2, 60), (3, 120), (4, 180), (5, 300), (6, 330)),
        media(card_path(1, "101CANON"), at(600)),
        media(card_path(7), at(700)),
    ]
    reads = {
        card_path(1): ok(card_path(1), "JBX3656"),
        card_path(3): ok(card_path(3), "ACA31FM"),
        card_path(5): ok(card_path(5), "JBX3656"),
        card_path(1, "101CANON"): ok(card_path(1, "101CANON"), "MCJ1984"),
    }
    result = assign(files, reads)
    assert result.holds[card_path(7)] == CLOCK_BACK
    assert set(result.holds) == {card_path(5), card_path(6), card_path(7)}
    assert result.holds[card_path(5)].startswith(
        f"JBX3656's slate again ({card_path(1)} was the last), 2 min 0 s after the photo "
        "before it, in ACA31FM's visit"
    )


def test_a_pause_of_exactly_the_group_gap_within_a_visit_holds_nothing() -> None:
    """A pause longer than ``gap_minutes`` holds the first photo after it; one of exactly
    that does not (5 min 1 s is the first said, `_pause_reason`)."""
    files = card((1, 0), (2, 60), (3, 360), (4, 420))
    result = assign(files, {card_path(1): ok(card_path(1), "JBX3656")})
    assert result.holds == {}
    assert set(patients(result).values()) == {"JBX3656"}
    files = card((1, 0), (2, 60), (3, 361), (4, 420))
    assert set(assign(files, {card_path(1): ok(card_path(1), "JBX3656")}).holds) == {
        card_path(3),
        card_path(4),
    }


def test_a_photo_with_no_time_after_a_slate_holds_only_itself() -> None:
    """A photo that reads, with no EXIF time, in a patient's visit: held for its time, and
    no sign that a slate may be in it; the photos after it stay the slate's patient's."""
    files = [*card((1, 0), (2, 60)), media(card_path(3), at(90), source="mtime")]
    files += card((4, 120))
    result = assign(files, {card_path(1): ok(card_path(1), "JBX3656")})
    assert result.holds == {card_path(3): NO_EXIF_TIME}
    assert patients(result) == dict.fromkeys(map(card_path, (1, 2, 4)), "JBX3656")
    assert result.warnings == ()


def test_a_photo_with_no_time_right_after_a_patients_slate_is_no_sign_of_slates_after() -> None:
    """One slate after another with a photo with no time between, in the camera's
    numbering: the photo is the first patient's with its time lost, no sign that the
    slates came after the photos."""
    files = [
        media(card_path(1), at(0)),
        media(card_path(2), at(900), source="mtime"),
        media(card_path(3), at(60)),
        media(card_path(4), at(120)),
    ]
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(3): ok(card_path(3), "ACA31FM")}
    result = assign(files, reads)
    assert MAYBE_SLATES_AFTER not in result.warnings
    assert result.holds == {card_path(2): NO_EXIF_TIME}
    assert patients(result) == {
        card_path(1): "JBX3656",
        card_path(3): "ACA31FM",
        card_path(4): "ACA31FM",
    }


def test_a_photo_with_no_time_between_an_unslated_photo_and_a_slate_is_the_sign_too() -> None:
    """Photos held with no slate before them, then a slate: the sign of slates taken after
    their photos. A photo with no time between (its file time) does not hide it, whether
    it is looked at by the clock or by the camera's numbering."""
    files = [
        media(card_path(1), at(900), source="mtime"),  # numbered first, its file time later
        media(card_path(2), at(0)),
        media(card_path(3), at(1200)),
        media(card_path(4), at(1260)),
    ]
    reads = {card_path(3): ok(card_path(3), "JBX3656")}
    assert MAYBE_SLATES_AFTER in assign(files, reads).warnings
    # By the numbering alone: the photo held a day before, the photo with no time, then
    # the slate.
    files = [
        media(card_path(1), at(-86400)),
        media(card_path(2), at(900), source="mtime"),
        media(card_path(3), at(1200)),
        media(card_path(4), at(1260)),
    ]
    assert MAYBE_SLATES_AFTER in assign(files, reads).warnings


def test_the_sheet_straight_after_a_slate_of_the_visit_a_held_photo_began_is_held() -> None:
    """JBX3656's slate, a HEIC 10 s later (cannot be read: held, it may be a slate), and
    JBX3656's slate again 5 s after it: that may be a photo of the HEIC's patient with
    JBX3656's sheet on the desk, and is held with its photos, counted from the slate before
    the HEIC (a try at the slate, `_tries`, is passed over)."""
    files = [
        media(card_path(1), at(0)),
        media(card_path(2, ext="HEIC"), at(10)),
        media(card_path(3), at(15)),
        media(card_path(4), at(60)),
    ]
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(3): ok(card_path(3), "JBX3656")}
    result = assign(files, reads)
    assert patients(result) == {card_path(1): "JBX3656"}
    assert result.holds[card_path(3)] == (
        f"JBX3656's slate again ({card_path(1)} was the last), 0 min 15 s after the photo "
        f"before it, in the visit of the held {card_path(2, ext='HEIC')}: if {card_path(3)} "
        "is a photo of that visit's patient with JBX3656's label in the frame, the photos "
        "from it to the next slate are theirs; check them, then give their patient in a map "
        "(map-template --slates writes one) with --no-slates"
    )
    assert result.holds[card_path(4)] == result.holds[card_path(3)]


def test_a_patient_three_visits_back_after_a_held_return_is_not_looked_for() -> None:
    """`_before_the_last`: the last known patient's visit before the last, one more where
    that one was held. JBX3656, MCJ1984, ACA31FM, JBX3656 again straight after (held),
    EPT6335, then MCJ1984 within minutes: looked for among ACA31FM and the held JBX3656
    only, and filed."""
    files = card(*((n, 60 * n) for n in range(1, 12)))
    reads = {
        card_path(n): ok(card_path(n), nhi)
        for n, nhi in (
            (1, "JBX3656"),
            (3, "MCJ1984"),
            (5, "ACA31FM"),
            (6, "JBX3656"),
            (8, "EPT6335"),
            (10, "MCJ1984"),
        )
    }
    result = assign(files, reads)
    assert set(result.holds) == {card_path(6), card_path(7)}
    assert patients(result)[card_path(11)] == "MCJ1984"


def test_a_patient_three_visits_back_after_a_photo_held_as_a_slate_is_not_looked_for() -> None:
    """The last visit a photo held as it may be a slate (a HEIC): two known patients' visits
    before it are looked at, not three."""
    files = [
        *card((1, 0), (2, 60), (3, 120), (4, 180), (5, 240), (6, 300)),
        media(card_path(7, ext="HEIC"), at(360)),
        *card((8, 420), (9, 480)),
    ]
    reads = {
        card_path(n): ok(card_path(n), nhi)
        for n, nhi in ((1, "JBX3656"), (3, "MCJ1984"), (5, "ACA31FM"), (8, "JBX3656"))
    }
    result = assign(files, reads)
    assert set(result.holds) == {card_path(7, ext="HEIC")}
    assert patients(result)[card_path(9)] == "JBX3656"


def test_a_return_names_the_last_slate_of_its_patient() -> None:
    """JBX3656's slate, a photo held after a pause (it may be a slate), JBX3656's again (held:
    the HEIC's patient's photo with the sheet in it?), ACA31FM's, then JBX3656's within
    minutes: held, naming the slate of JBX3656 taken last, not the first."""
    files = [
        *card((1, 0), (2, 60), (3, 1000)),
        *card((4, 1060), (5, 1120), (6, 1180), (7, 1240), (8, 1300), (9, 1360)),
    ]
    reads = {
        card_path(n): ok(card_path(n), nhi)
        for n, nhi in ((1, "JBX3656"), (4, "JBX3656"), (6, "ACA31FM"), (8, "JBX3656"))
    }
    result = assign(files, reads)
    assert result.holds[card_path(4)].startswith(
        f"JBX3656's slate again ({card_path(1)} was the last), 1 min 0 s after the photo "
        f"before it, in the visit of the held {card_path(3)}:"
    )
    assert result.holds[card_path(8)].startswith(
        f"JBX3656's slate again ({card_path(4)} was the last), 1 min 0 s after the photo "
        "before it, in ACA31FM's visit:"
    )


def test_the_same_patients_slate_again_after_a_photo_held_for_its_time_is_one_visit() -> None:
    """JBX3656's slate, a photo, a photo with no EXIF time (held for that: no slate can be
    in it unseen), JBX3656's slate again: one visit, nothing more held."""
    files = [
        *card((1, 0), (2, 60)),
        media(card_path(3), at(90), source="mtime"),
        *card((4, 120), (5, 150)),
    ]
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(4): ok(card_path(4), "JBX3656")}
    result = assign(files, reads)
    assert result.holds == {card_path(3): NO_EXIF_TIME}
    assert patients(result) == dict.fromkeys(map(card_path, (1, 2, 4, 5)), "JBX3656")


def test_a_visit_held_after_a_pause_is_named_by_its_first_photo() -> None:
    """Two photos held after a pause (the first may be a slate), then JBX3656's slate again:
    the visit it may be in is named by the photo that began it."""
    files = card((1, 0), (2, 60), (3, 1000), (4, 1030), (5, 1060), (6, 1090))
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(5): ok(card_path(5), "JBX3656")}
    result = assign(files, reads)
    assert result.holds[card_path(5)].startswith(
        f"JBX3656's slate again ({card_path(1)} was the last), 0 min 30 s after the photo "
        f"before it, in the visit of the held {card_path(3)}:"
    )


def test_a_raw_slate_whose_jpeg_was_read_is_held_with_its_photos_as_a_return() -> None:
    """A RAW+JPEG slate whose RAW carries the better time (its primary) is read through its
    JPEG: held as a return, its photos go with it."""
    files = [
        *card((1, 0), (2, 60), (3, 120), (4, 180)),
        media(card_path(5, ext="CR2"), at(240)),
        media(card_path(5), at(240), source="exif:DateTime"),
        *card((6, 270)),
    ]
    reads = {
        card_path(1): ok(card_path(1), "JBX3656"),
        card_path(3): ok(card_path(3), "ACA31FM"),
        card_path(5): ok(card_path(5), "JBX3656"),
    }
    result = assign(files, reads)
    assert set(result.holds) == {card_path(5), card_path(5, ext="CR2"), card_path(6)}


def test_a_sheet_straight_after_a_slate_is_looked_for_among_every_visit_before() -> None:
    """MCJ1984's sheet straight after ACA31FM's slate: a photo of ACA31FM with MCJ1984's
    sheet on the desk, whichever visit MCJ1984's was (the second of the card here)."""
    files = card(*((n, 60 * n) for n in range(1, 9)))
    reads = {
        card_path(n): ok(card_path(n), nhi)
        for n, nhi in ((1, "JBX3656"), (3, "MCJ1984"), (5, "ACA31FM"), (6, "MCJ1984"))
    }
    result = assign(files, reads)
    assert set(result.holds) == set(map(card_path, (6, 7, 8)))


def test_a_slate_in_the_second_of_the_slate_before_it_is_said_to_come_after_it() -> None:
    """JBX3656's slate again in the same second as ACA31FM's, numbered after it: 0 s after
    it, not before it by its clock (said only where the numbering puts a shot with an
    earlier time after another)."""
    files = card((1, 0), (2, 60), (3, 120), (4, 120), (5, 150))
    reads = {
        card_path(1): ok(card_path(1), "JBX3656"),
        card_path(3): ok(card_path(3), "ACA31FM"),
        card_path(4): ok(card_path(4), "JBX3656"),
    }
    why = assign(files, reads).holds[card_path(4)]
    assert why.startswith(
        f"JBX3656's slate again ({card_path(1)} was the last), 0 min 0 s after the photo "
        "before it, in ACA31FM's visit:"
    )


def test_a_return_exactly_the_group_gap_after_the_photo_before_is_held() -> None:
    files = card((1, 0), (2, 60), (3, 120), (4, 180), (5, 480), (6, 540))
    reads = {
        card_path(1): ok(card_path(1), "JBX3656"),
        card_path(3): ok(card_path(3), "ACA31FM"),
        card_path(5): ok(card_path(5), "JBX3656"),
    }
    assert set(assign(files, reads).holds) == {card_path(5), card_path(6)}
    files[4:] = card((5, 481), (6, 540))
    assert assign(files, reads).holds == {}


def test_a_return_is_held_after_one_that_came_after_a_long_pause() -> None:
    """JBX3656, ACA31FM, JBX3656 again after 20 minutes (a patient seen again: filed),
    MCJ1984, then JBX3656 a minute after MCJ1984's photo: held."""
    files = card((1, 0), (2, 60), (3, 120), (4, 180), (5, 1380), (6, 1440))
    files += card((7, 1500), (8, 1560), (9, 1620), (10, 1680))
    reads = {
        card_path(n): ok(card_path(n), nhi)
        for n, nhi in ((1, "JBX3656"), (3, "ACA31FM"), (5, "JBX3656"), (7, "MCJ1984"))
    }
    reads[card_path(9)] = ok(card_path(9), "JBX3656")
    result = assign(files, reads)
    assert set(result.holds) == {card_path(9), card_path(10)}


def test_another_cameras_photo_in_a_slates_second_is_held_saying_why() -> None:
    files = [
        *card((1, 0), (2, 60), (3, 120)),
        media(card_path(1, "101CANON"), at(120)),
        *card((4, 180)),
    ]
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(3): ok(card_path(3), "ACA31FM")}
    result = assign(files, reads)
    assert result.holds == {
        card_path(1, "101CANON"): (
            f"taken in the same second as the slate {card_path(3)}, in another folder "
            "(another camera's, or the camera's next): whether before or after it cannot be "
            "told, so whose photo it is is in doubt; give its patient with a map or --id"
        )
    }


def test_two_cameras_slates_in_one_second_and_a_photo_held_in_it_keep_their_own_way() -> None:
    """Two cameras' slates in the same second are each filed by its own barcode, and a
    photo held with no slate before it in that second keeps that reason."""
    files = [
        media(card_path(1), at(0)),
        media(card_path(1, "101CANON"), at(60)),
        media(card_path(2), at(60)),
        media(card_path(3), at(90)),
        media(card_path(2, "101CANON"), at(95)),
    ]
    reads = {
        card_path(1, "101CANON"): ok(card_path(1, "101CANON"), "JBX3656"),
        card_path(2): ok(card_path(2), "ACA31FM"),
    }
    result = assign(files, reads)
    assert result.holds[card_path(1)] == NO_SLATE
    assert patients(result)[card_path(1, "101CANON")] == "JBX3656"
    assert patients(result)[card_path(2)] == "ACA31FM"


def test_a_slate_of_two_codes_that_are_no_id_names_both() -> None:
    other = "barcode (Code 128, 5 characters) is not a valid NHI"
    bad = "barcode (QR Code, 7 characters) is not a valid NHI"
    files = card((1, 0), (2, 60))
    reads = {card_path(1): SlateRead(card_path(1), invalid=(bad, other, bad))}
    assert assign(files, reads).holds[card_path(1)] == f"slate {card_path(1)}: {bad}; {other}"


def test_an_unreadable_photo_after_a_pause_says_it_could_not_be_read() -> None:
    files = [*card((1, 0), (2, 60)), media(card_path(3, ext="HEIC"), at(1000))]
    result = assign(files, {card_path(1): ok(card_path(1), "JBX3656")})
    assert result.holds[card_path(3, ext="HEIC")] == (
        "the first photo after a pause of 15 minutes 40 s, and it could not be read as a "
        "slate: if it is a slate (blurred, cut off), the photos from here to the next slate "
        "are another patient's, not the last slate's"
    )


def test_a_photo_just_before_a_slate_with_no_time_is_no_first_try_at_it() -> None:
    """A slate with no EXIF time is held; the photo its file time puts 5 s before it is the
    patient before's, not a first try (that slate's place in time is not known)."""
    files = [*card((1, 0), (2, 60)), media(card_path(3), at(65), source="mtime")]
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(3): ok(card_path(3), "ACA31FM")}
    result = assign(files, reads)
    assert set(result.holds) == {card_path(3)}
    assert patients(result) == {card_path(1): "JBX3656", card_path(2): "JBX3656"}


def test_a_first_try_behind_a_held_try_is_held_too() -> None:
    """Two tries at ACA31FM's slate: the later a HEIC (held: it cannot be read), the earlier
    a JPEG with no code found in it. The JPEG is held as a first try too."""
    files = [
        *card((1, 0), (2, 30), (3, 80)),
        media(card_path(4, ext="HEIC"), at(85)),
        *card((5, 90), (6, 120)),
    ]
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(5): ok(card_path(5), "ACA31FM")}
    result = assign(files, reads)
    assert result.holds[card_path(3)].startswith(f"taken 10 s before the slate {card_path(5)}")
    assert patients(result) == {
        card_path(1): "JBX3656",
        card_path(2): "JBX3656",
        card_path(5): "ACA31FM",
        card_path(6): "ACA31FM",
    }


def test_a_label_photographed_for_the_wrong_patient_is_no_first_try_at_the_next() -> None:
    """Two slates 20 s apart (a label photographed by mistake, then the right one), the
    first 2 minutes after the last photo: a slate is no first try (its code was read); it
    is filed, and warned about."""
    files = card((1, 0), (2, 60), (3, 180), (4, 200), (5, 230))
    reads = {
        card_path(1): ok(card_path(1), "JBX3656"),
        card_path(3): ok(card_path(3), "MCJ1984"),
        card_path(4): ok(card_path(4), "ACA31FM"),
    }
    result = assign(files, reads)
    assert result.holds == {}
    assert patients(result)[card_path(3)] == "MCJ1984"


def test_the_slow_try_rules_bounds() -> None:
    """A photo with no code 15 s (`RETAKE`) up to 45 s (`SLOW_RETAKE`) before another
    patient's slate, and at least twice that after the photo before it: held."""

    def held(try_after: float, slate_after: float) -> bool:
        files = card((1, 0), (2, 60), (3, 120))
        files.append(media(card_path(4), at(120 + try_after)))
        slate = 120 + try_after + slate_after
        whole = int(slate)
        subsec = f"{round((slate - whole) * 10)}" if slate != whole else ""
        files += [
            media(card_path(5), at(whole), subsec=subsec),
            media(card_path(6), at(whole + 40)),
        ]
        reads = {
            card_path(1): ok(card_path(1), "JBX3656"),
            card_path(5): ok(card_path(5), "MCJ1984"),
        }
        return card_path(4) in assign(files, reads).holds

    assert held(30, 15)  # exactly RETAKE: a slow try
    assert held(90, 44.9)
    assert not held(90, 45)
    assert held(70, 35)  # exactly twice as long after the photo before
    assert held(80, 35)
    assert not held(69, 35)


def test_a_photo_in_the_same_second_before_a_slate_is_a_first_try() -> None:
    """No sub-seconds: a photo numbered before the slate in its second is a try at it."""
    files = card((1, 0), (2, 60), (3, 120), (4, 120), (5, 150))
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(4): ok(card_path(4), "ACA31FM")}
    result = assign(files, reads)
    assert result.holds[card_path(3)].startswith(f"taken 0 s before the slate {card_path(4)}")


def test_the_order_the_files_are_listed_in_does_not_change_whose_they_are() -> None:
    """Photos of one second taken in the order of their sub-seconds, whatever order the
    scan lists them in."""
    files = [
        media(card_path(1), at(0)),
        media(card_path(2), at(60)),
        media(card_path(3), at(120), subsec="2"),
        media(card_path(4), at(120), subsec="7"),
        media(card_path(5), at(150)),
    ]
    reads = {card_path(1): ok(card_path(1), "JBX3656"), card_path(3): ok(card_path(3), "ACA31FM")}
    listed = assign(files, reads)
    assert patients(listed)[card_path(4)] == "ACA31FM"
    reverse = assign(files[::-1], reads)
    assert patients(reverse) == patients(listed)
    assert reverse.holds == listed.holds
